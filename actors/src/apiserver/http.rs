//! The REST front of the API server: actix-web over TLS, bearer-token authentication,
//! Kubernetes paths, verbs, content types and `Status` errors.
//!
//! Paths: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>` (discovery,
//! legacy and aggregated), `/openapi/v3[/...]`, `/healthz`, and the resource paths
//! `/api/v1/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]` and the same under
//! `/apis/<group>/<version>`. Lists and gets honour `Accept: ...;as=Table` (what
//! `kubectl get` asks for). `?watch=true` streams newline-delimited events.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures::StreamExt as _;
use rudder_protocol::resources::{Status, Time};
use serde_json::{json, Value};

use super::core::{self as api, ApiCore, ApiError, ListOptions, WriteOptions};
use super::registry::{self, ResourceInfo};
use super::{discovery, openapi, table};

/// Largest request body accepted (Kubernetes' limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// What every request handler shares.
pub struct ApiState {
    /// The operations.
    pub core: ApiCore,
    /// The bearer token every request must present.
    pub token: String,
    /// `host:port` clients reach the server at, for discovery.
    pub address: String,
}

fn status_response(s: &Status) -> HttpResponse {
    let code = StatusCode::from_u16(s.code.clamp(100, 599) as u16)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).json(s)
}

fn error(e: ApiError) -> HttpResponse {
    status_response(&e)
}

fn not_found_path(path: &str) -> HttpResponse {
    status_response(&Status::failure(
        404,
        "NotFound",
        format!("the server could not find the requested resource ({path})"),
    ))
}

fn authorized(req: &HttpRequest, token: &str) -> bool {
    let Some(h) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(given) = h.strip_prefix("Bearer ").map(str::trim) else {
        return false;
    };
    // Constant-time comparison: the token is a secret.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn query(req: &HttpRequest) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn wants_table(req: &HttpRequest) -> Option<table::IncludeObject> {
    let accept = req.headers().get("accept").and_then(|v| v.to_str().ok())?;
    if !accept.contains("as=Table") {
        return None;
    }
    Some(
        query(req)
            .iter()
            .find(|(k, _)| k == "includeObject")
            .and_then(|(_, v)| table::IncludeObject::parse(v))
            .unwrap_or(table::IncludeObject::Metadata),
    )
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY {
        return Err(Box::new(Status::failure(
            413,
            "RequestEntityTooLarge",
            "request entity too large",
        )));
    }
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(Status::failure(
            400,
            "BadRequest",
            format!("the body of the request could not be decoded: {e}"),
        ))
    })
}

/// A successful answer: 200 or 201.
enum Answer {
    Ok(Value),
    Created(Value),
}

/// The single entry point: authentication, then routing by path.
pub async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Arc<ApiState>>,
) -> HttpResponse {
    let path = req.path().trim_end_matches('/').to_owned();
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return HttpResponse::Ok().content_type("text/plain").body("ok");
    }
    if !authorized(&req, &state.token) {
        return status_response(&Status::failure(401, "Unauthorized", "Unauthorized"));
    }
    if body.len() > MAX_BODY {
        return status_response(&Status::failure(
            413,
            "RequestEntityTooLarge",
            "request entity too large",
        ));
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let aggregated = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=APIGroupDiscoveryList"));
    match segs.as_slice() {
        ["version"] => HttpResponse::Ok().json(discovery::version("", "")),
        ["api"] if aggregated => HttpResponse::Ok()
            .content_type(discovery::AGGREGATED_DISCOVERY_CONTENT_TYPE)
            .body(discovery::aggregated_discovery(true).to_string()),
        ["apis"] if aggregated => HttpResponse::Ok()
            .content_type(discovery::AGGREGATED_DISCOVERY_CONTENT_TYPE)
            .body(discovery::aggregated_discovery(false).to_string()),
        ["api"] => HttpResponse::Ok().json(discovery::api_versions(&state.address)),
        ["apis"] => HttpResponse::Ok().json(discovery::api_group_list()),
        ["api", "v1"] => match discovery::api_resource_list("", "v1") {
            Some(v) => HttpResponse::Ok().json(v),
            None => not_found_path(&path),
        },
        ["apis", group] => match discovery::api_group(group) {
            Some(v) => HttpResponse::Ok().json(v),
            None => not_found_path(&path),
        },
        ["apis", group, version] => match discovery::api_resource_list(group, version) {
            Some(v) => HttpResponse::Ok().json(v),
            None => not_found_path(&path),
        },
        ["openapi", "v3"] => HttpResponse::Ok().json(openapi::index()),
        ["openapi", "v3", rest @ ..] => match openapi::document_at(&rest.join("/")) {
            Some(v) => HttpResponse::Ok().json(v),
            None => not_found_path(&path),
        },
        ["api", "v1", rest @ ..] => resource(&req, &body, &state, "", "v1", rest).await,
        ["apis", group, version, rest @ ..] => {
            resource(&req, &body, &state, group, version, rest).await
        }
        _ => not_found_path(&path),
    }
}

/// What a resource path names.
struct Target<'a> {
    info: &'static ResourceInfo,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
    watch_prefix: bool,
}

fn parse_target<'a>(group: &str, version: &str, rest: &[&'a str]) -> Option<Target<'a>> {
    let (watch_prefix, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let lookup = |plural: &str| registry::resource(group, version, plural);
    let t = |info, namespace, name, sub| {
        Some(Target {
            info,
            namespace,
            name,
            sub,
            watch_prefix,
        })
    };
    match rest {
        [plural] => t(lookup(plural)?, None, None, None),
        ["namespaces", ns, plural] if lookup(plural).is_some_and(|i| i.namespaced) => {
            t(lookup(plural)?, Some(*ns), None, None)
        }
        ["namespaces", ns, plural, name] => t(lookup(plural)?, Some(*ns), Some(*name), None),
        ["namespaces", ns, plural, name, sub] => {
            t(lookup(plural)?, Some(*ns), Some(*name), Some(*sub))
        }
        [plural, name] => t(lookup(plural)?, None, Some(*name), None),
        [plural, name, sub] => t(lookup(plural)?, None, Some(*name), Some(*sub)),
        _ => None,
    }
}

async fn resource(
    req: &HttpRequest,
    body: &Bytes,
    state: &ApiState,
    group: &str,
    version: &str,
    rest: &[&str],
) -> HttpResponse {
    let Some(t) = parse_target(group, version, rest) else {
        return not_found_path(req.path());
    };
    let core = &state.core;
    let info = t.info;
    if info.namespaced && t.name.is_some() && t.namespace.is_none() {
        return not_found_path(req.path());
    }
    let ns = if info.namespaced { t.namespace } else { None };
    let q = query(req);
    let method = req.method().as_str();
    if let Some(sub) = t.sub {
        if info.subresource(sub).is_none() {
            return not_found_path(req.path());
        }
    }
    let name = t.name.unwrap_or_default();
    if method == "GET" && info.kind == "Pod" && t.sub == Some("log") {
        if let Some(ns) = ns {
            return log_response(state, ns, name, &q).await;
        }
    }
    let watch = t.watch_prefix || param(&q, "watch").is_some_and(|w| w == "true" || w == "1");
    if method == "GET" && t.name.is_none() && t.sub.is_none() && watch {
        return watch_response(req, state, info, ns, &q);
    }
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let writes_object = matches!(method, "POST" | "PUT" | "PATCH")
        && matches!(t.sub, None | Some("status"))
        && !(method == "POST" && t.name.is_some());
    // A written object's body is parsed once, here, for validation and the handler.
    let (mut warnings, parsed) = if writes_object {
        let value = match json_body(body) {
            Ok(v) => v,
            Err(e) => return error(e),
        };
        match field_validation(&q, info, &value, ct) {
            Ok(w) => (w, Some(value)),
            Err(e) => return error(e),
        }
    } else {
        (Vec::new(), None)
    };
    let call = Call {
        req,
        body,
        core,
        info,
        ns,
        name,
        q: &q,
        content_type: ct,
        parsed,
        warnings: &mut warnings,
    };
    let mut response = match dispatch(method, t.name.is_some(), t.sub, call).await {
        Ok(Answer::Ok(v)) => HttpResponse::Ok().json(v),
        Ok(Answer::Created(v)) => HttpResponse::Created().json(v),
        Err(e) => return error(e),
    };
    for w in warnings {
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&w) {
            response
                .headers_mut()
                .append(actix_web::http::header::WARNING, v);
        }
    }
    response
}

/// Kubernetes' `fieldValidation` for a body that writes an object of `kind`: fields the
/// object model does not have are an error under `Strict`, a `Warning` header under
/// `Warn` (the default) and nothing under `Ignore`. Patches are not checked here: the
/// core checks the object a patch produces (so patch directives never count), and
/// [`dispatch`] answers a mode Kubernetes does not know. Returns the warning header
/// values.
fn field_validation(
    q: &[(String, String)],
    info: &ResourceInfo,
    value: &Value,
    content_type: &str,
) -> Result<Vec<String>, ApiError> {
    let mode = api::FieldValidation::parse(param(q, "fieldValidation").unwrap_or_default());
    let Some(mode) = mode.filter(|m| *m != api::FieldValidation::Ignore) else {
        return Ok(Vec::new());
    };
    if is_patch(content_type) {
        return Ok(Vec::new());
    }
    let kind = info.kind;
    let unknown = registry::unknown_fields(kind, value);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if mode == api::FieldValidation::Strict {
        let fields: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(Box::new(Status::failure(
            400,
            "BadRequest",
            format!(
                "{kind} in version \"{}\" cannot be handled as a {kind}: strict decoding error: {}",
                info.version,
                fields.join(", ")
            ),
        )));
    }
    Ok(api::unknown_field_warnings(&unknown))
}

/// Whether a content type is one of the patch formats (`application/*-patch+json`).
fn is_patch(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.ends_with("patch+json") || media.ends_with("patch+yaml")
}

/// One resource request, parsed.
struct Call<'a> {
    req: &'a HttpRequest,
    body: &'a Bytes,
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    ns: Option<&'a str>,
    name: &'a str,
    q: &'a [(String, String)],
    content_type: &'a str,
    /// The body, already parsed (writes of an object).
    parsed: Option<Value>,
    /// Where the handler puts `Warning` header values.
    warnings: &'a mut Vec<String>,
}

/// The write options of a request: `dryRun` (from the query and, for deletes, the
/// DeleteOptions body) and `fieldValidation`, refused as Kubernetes refuses them.
fn write_options(
    method: &str,
    q: &[(String, String)],
    delete_options: Option<&Value>,
) -> Result<WriteOptions, ApiError> {
    let options_kind = match method {
        "POST" => "CreateOptions",
        "PUT" => "UpdateOptions",
        "PATCH" => "PatchOptions",
        _ => "DeleteOptions",
    };
    let mut dry_run: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "dryRun")
        .map(|(_, v)| v.as_str())
        .collect();
    if let Some(o) = delete_options {
        dry_run.extend(api::delete_dry_run(o));
    }
    WriteOptions::parse(options_kind, &dry_run, param(q, "fieldValidation"))
}

async fn dispatch(
    method: &str,
    named: bool,
    sub: Option<&str>,
    c: Call<'_>,
) -> Result<Answer, ApiError> {
    let Call {
        req,
        body,
        core,
        info,
        ns,
        name,
        q,
        content_type,
        parsed,
        warnings,
    } = c;
    let mut parsed = parsed;
    let mut value = || parsed.take().map_or_else(|| json_body(body), Ok);
    let table_of = |items: &[Value], meta: Value| {
        wants_table(req).map(|include| table::table(info.kind, items, include, meta, Time::now()))
    };
    let writes = || write_options(method, q, None);
    let mut patched = |w: api::Written| {
        warnings.extend(w.warnings);
        w.object
    };
    Ok(match (method, named, sub) {
        ("GET", false, None) => {
            let (items, rev, cont) = core.list(info, ns, &list_options(q)).await?;
            let meta = match cont {
                Some(c) => json!({"resourceVersion": rev.to_string(), "continue": c}),
                None => json!({"resourceVersion": rev.to_string()}),
            };
            match table_of(&items, meta.clone()) {
                Some(t) => Answer::Ok(t),
                None => Answer::Ok(json!({
                    "kind": info.list_kind(), "apiVersion": info.api_version(),
                    "metadata": meta, "items": items,
                })),
            }
        }
        ("POST", false, None) => {
            let opts = writes()?;
            Answer::Created(core.create(info, ns, value()?, opts).await?)
        }
        ("GET", true, None) => {
            let obj = core.get(info, ns, name).await?;
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or_default();
            match table_of(std::slice::from_ref(&obj), json!({"resourceVersion": rv})) {
                Some(t) => Answer::Ok(t),
                None => Answer::Ok(obj),
            }
        }
        ("PUT", true, None | Some("status")) => {
            let opts = writes()?;
            let status_only = sub.is_some();
            Answer::Ok(
                core.update(info, ns, name, value()?, status_only, opts)
                    .await?,
            )
        }
        ("PATCH", true, None | Some("status")) => {
            let opts = writes()?;
            let status_only = sub.is_some();
            let written = core
                .patch(info, ns, name, content_type, &value()?, status_only, opts)
                .await?;
            Answer::Ok(patched(written))
        }
        ("DELETE", true, None) => {
            let options = delete_options(q, body)?;
            let opts = write_options(method, q, Some(&options))?;
            Answer::Ok(core.delete(info, ns, name, &options, opts).await?)
        }
        ("DELETE", false, None) => {
            // deletecollection: every object the selectors match, one by one.
            let options = delete_options(q, body)?;
            let opts = write_options(method, q, Some(&options))?;
            let deleted = core
                .delete_collection(info, ns, &list_options(q), &options, opts)
                .await?;
            Answer::Ok(json!({
                "kind": info.list_kind(), "apiVersion": info.api_version(),
                "metadata": {}, "items": deleted,
            }))
        }
        ("GET", true, Some("status")) => Answer::Ok(core.get(info, ns, name).await?),
        ("GET", true, Some("scale")) => Answer::Ok(core.get_scale(info, ns, name).await?),
        ("PUT", true, Some("scale")) => {
            let opts = writes()?;
            Answer::Ok(
                core.put_scale(info, ns, name, &json_body(body)?, opts)
                    .await?,
            )
        }
        ("PATCH", true, Some("scale")) => {
            let opts = writes()?;
            let written = core
                .patch_scale(info, ns, name, content_type, &json_body(body)?, opts)
                .await?;
            Answer::Ok(patched(written))
        }
        ("POST", true, Some("binding")) => {
            let opts = writes()?;
            Answer::Created(core.bind(info, ns, name, &json_body(body)?, opts).await?)
        }
        _ => {
            return Err(Box::new(Status::failure(
                405,
                "MethodNotAllowed",
                format!("{method} is not supported on {}", req.path()),
            )))
        }
    })
}

/// DeleteOptions from the body, with the query's `gracePeriodSeconds` and
/// `propagationPolicy` on top.
fn delete_options(q: &[(String, String)], body: &Bytes) -> Result<Value, ApiError> {
    let mut opts = json_body(body)?;
    for key in ["gracePeriodSeconds", "propagationPolicy"] {
        if let Some(v) = param(q, key) {
            opts[key] = v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(v));
        }
    }
    Ok(opts)
}

fn list_options(q: &[(String, String)]) -> ListOptions {
    ListOptions {
        label_selector: param(q, "labelSelector").map(str::to_owned),
        field_selector: param(q, "fieldSelector").map(str::to_owned),
        limit: param(q, "limit").and_then(|l| l.parse().ok()).unwrap_or(0),
        continue_token: param(q, "continue").map(str::to_owned),
        resource_version: param(q, "resourceVersion").map(str::to_owned),
        bookmarks: param(q, "allowWatchBookmarks").is_some_and(|b| b == "true"),
        timeout_seconds: param(q, "timeoutSeconds").and_then(|t| t.parse().ok()),
    }
}

fn event_line(kind: &str, object: Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Streams watch events: from `resourceVersion` if given (and not "0"), else the
/// current state as ADDED events first; 410 Gone (as an ERROR event) when too old.
fn watch_response(
    req: &HttpRequest,
    state: &ApiState,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    q: &[(String, String)],
) -> HttpResponse {
    let opts = list_options(q);
    let filter = match super::core::Filter::new(info, &opts) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let table_mode = wants_table(req);
    let core = state.core.clone();
    let ns = ns.map(str::to_owned);
    let timeout = Duration::from_secs(opts.timeout_seconds.unwrap_or(1800).clamp(1, 3600));
    let start_rv = opts
        .resource_version
        .clone()
        .filter(|rv| !rv.is_empty() && rv != "0")
        .and_then(|rv| rv.parse::<u64>().ok());
    let bookmarks = opts.bookmarks;
    let render = move |kind: &str, obj: Value| -> Bytes {
        match table_mode {
            Some(include) if kind != "ERROR" && kind != "BOOKMARK" => event_line(
                kind,
                table::table(info.kind, &[obj], include, json!({}), Time::now()),
            ),
            _ => event_line(kind, obj),
        }
    };
    let stream = async_stream(core, info, ns, start_rv, filter, timeout, bookmarks, render);
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Transfer-Encoding", "chunked"))
        .streaming(stream)
}

#[allow(clippy::too_many_arguments)]
fn async_stream(
    core: ApiCore,
    info: &'static ResourceInfo,
    ns: Option<String>,
    start_rv: Option<u64>,
    filter: super::core::Filter,
    timeout: Duration,
    bookmarks: bool,
    render: impl Fn(&str, Value) -> Bytes + 'static,
) -> impl futures::Stream<Item = Result<Bytes, actix_web::Error>> {
    enum Phase {
        Start,
        Watching(u64),
        Done,
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let state = (Phase::Start, core, ns, filter, render);
    futures::stream::unfold(state, move |(phase, core, ns, filter, render)| async move {
        let mut out: Vec<u8> = Vec::new();
        let next = match phase {
            Phase::Done => return None,
            Phase::Start => match start_rv {
                Some(rv) => Phase::Watching(rv),
                None => {
                    let opts = ListOptions::default();
                    match core.list(info, ns.as_deref(), &opts).await {
                        Ok((items, rev, _)) => {
                            for obj in items.into_iter().filter(|o| filter.matches(o)) {
                                out.extend_from_slice(&render("ADDED", obj));
                            }
                            Phase::Watching(rev)
                        }
                        Err(e) => {
                            out.extend_from_slice(&render("ERROR", serde_json::to_value(&*e).unwrap_or_default()));
                            Phase::Done
                        }
                    }
                }
            },
            Phase::Watching(after) => {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return None;
                }
                let wait = (deadline - now).min(Duration::from_secs(5));
                match core.watch_poll(info, ns.as_deref(), after, wait, &filter).await {
                    Ok((events, rev)) => {
                        let any = !events.is_empty();
                        for ev in events {
                            out.extend_from_slice(&render(ev.kind, ev.object));
                        }
                        if bookmarks && !any {
                            let bm = json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": {"resourceVersion": rev.to_string()}});
                            out.extend_from_slice(&render("BOOKMARK", bm));
                        }
                        Phase::Watching(rev.max(after))
                    }
                    Err(e) => {
                        out.extend_from_slice(&render("ERROR", serde_json::to_value(&*e).unwrap_or_default()));
                        Phase::Done
                    }
                }
            }
        };
        Some((Ok(Bytes::from(out)), (next, core, ns, filter, render)))
    })
    .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
}

/// `GET .../pods/<name>/log`: asks the kubelet of the pod's node for the log in chunks
/// (`KubeletRequest::Logs`) and streams it as plain text; with `follow=true` it keeps
/// polling from the last offset while the container runs.
async fn log_response(
    state: &ApiState,
    ns: &str,
    name: &str,
    q: &[(String, String)],
) -> HttpResponse {
    use rudder_protocol::messages::kubelet::{KubeletReply, KubeletRequest, LogRequest};
    let core = state.core.clone();
    let Some(pods) = super::registry::resource("", "v1", "pods") else {
        return not_found_path("pods");
    };
    let pod = match core.get(pods, Some(ns), name).await {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if node.is_empty() {
        let s = Status::failure(
            400,
            "BadRequest",
            format!("pod {name} is not bound to a node yet"),
        );
        return status_response(&s);
    }
    let flag = |k: &str| param(q, k).is_some_and(|v| v == "true" || v == "1");
    let num = |k: &str| param(q, k).and_then(|v| v.parse::<i64>().ok());
    let follow = flag("follow");
    let base = LogRequest {
        namespace: ns.to_owned(),
        pod: name.to_owned(),
        container: param(q, "container").unwrap_or_default().to_owned(),
        previous: flag("previous"),
        timestamps: flag("timestamps"),
        tail_lines: num("tailLines"),
        since_seconds: num("sinceSeconds"),
        offset: 0,
        max_bytes: 64 * 1024,
    };
    let to = rudder_protocol::ActorRef::new(node.as_str(), crate::kubelet::NAME);
    let bus = core.bus().clone();
    let ask = move |req: LogRequest| {
        let (bus, to) = (bus.clone(), to.clone());
        async move {
            bus.call(to, KubeletRequest::Logs(req), Duration::from_secs(10))
                .await
                .map_err(|e| (503u16, e.to_string()))
                .and_then(|r| match r {
                    KubeletReply::Logs {
                        chunk,
                        next_offset,
                        running,
                    } => Ok((chunk, next_offset, running)),
                    KubeletReply::Error { code, message } => Err((code, message)),
                })
        }
    };
    // The first chunk decides the status code; the rest streams.
    let (first, next, running) = match ask(base.clone()).await {
        Ok(r) => r,
        Err((code, message)) => {
            let reason = match code {
                400 => "BadRequest",
                404 => "NotFound",
                _ => "ServiceUnavailable",
            };
            return status_response(&Status::failure(i32::from(code), reason, message));
        }
    };
    let state0 = (Some(first), base, next, running);
    let stream = futures::stream::unfold(state0, move |(pending, mut req, offset, running)| {
        let ask = ask.clone();
        async move {
            if let Some(chunk) = pending {
                return Some((
                    Ok::<Bytes, actix_web::Error>(Bytes::from(chunk)),
                    (None, req, offset, running),
                ));
            }
            loop {
                req.offset = offset;
                req.tail_lines = None;
                req.since_seconds = None;
                match ask(req.clone()).await {
                    Ok((chunk, next, still)) if !chunk.is_empty() => {
                        return Some((Ok(Bytes::from(chunk)), (None, req, next, still)));
                    }
                    Ok((_, _, still)) if follow && still => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    _ => return None,
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/plain")
        .insert_header(("Transfer-Encoding", "chunked"))
        .streaming(stream)
}

/// Starts the HTTPS server on `listen`; returns the bound address.
pub fn serve(
    state: Arc<ApiState>,
    listen: &str,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let data = web::Data::new(state);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY + 1))
            .default_service(web::to(handle))
    })
    .workers(2)
    .disable_signals()
    .bind_rustls_0_23(listen, (*tls).clone())?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("no address bound"))?;
    Ok((server.run(), addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths() {
        type Want = Option<(
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        )>;
        let cases: Vec<(&str, &[&str], Want)> = vec![
            (
                "cluster list",
                &["nodes"],
                Some(("nodes", None, None, None)),
            ),
            (
                "all-namespace list",
                &["pods"],
                Some(("pods", None, None, None)),
            ),
            (
                "namespaced list",
                &["namespaces", "default", "pods"],
                Some(("pods", Some("default"), None, None)),
            ),
            (
                "namespace status",
                &["namespaces", "x", "status"],
                Some(("namespaces", None, Some("x"), Some("status"))),
            ),
            (
                "namespaced item",
                &["namespaces", "d", "pods", "p"],
                Some(("pods", Some("d"), Some("p"), None)),
            ),
            (
                "subresource",
                &["namespaces", "d", "pods", "p", "binding"],
                Some(("pods", Some("d"), Some("p"), Some("binding"))),
            ),
            ("unknown plural", &["widgets"], None),
        ];
        for (name, segs, want) in cases {
            let got =
                parse_target("", "v1", segs).map(|t| (t.info.plural, t.namespace, t.name, t.sub));
            assert_eq!(got, want, "{name}");
        }
        let t = parse_target("apps", "v1", &["watch", "namespaces", "d", "deployments"])
            .expect("watch path");
        assert!(t.watch_prefix);
    }
}
