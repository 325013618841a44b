//! The REST front of the API server: actix-web over TLS, bearer-token authentication,
//! Kubernetes paths, verbs, content types and `Status` errors.
//!
//! Paths: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>` (discovery,
//! legacy and aggregated), `/openapi/v3[/...]`, `/healthz`, and the resource paths
//! `/api/v1/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]` and the same under
//! `/apis/<group>/<version>`. Lists and gets honour `Accept: ...;as=Table` (what
//! `kubectl get` asks for). `?watch=true` streams newline-delimited events under
//! Kubernetes' rules for streaming lists and bookmarks ([`super::watch`]).
//! `/debug/watchers` counts the watches being served ([`super::watchers`]); `/metrics`
//! serves the node's metrics ([`crate::telemetry`]).
//!
//! Bodies are JSON, YAML or protobuf, and answers are protobuf when the client prefers it
//! ([`super::media`]); a protobuf watch is a stream of length-prefixed frames.
//!
//! Every request gets an answer: JSON bodies end with a newline as kube-apiserver writes
//! them; a request that asks to switch protocols (`Upgrade: websocket`, SPDY) is answered
//! without waiting for a body (its body is the rest of the connection); the connect
//! subresources answer `404` for a missing object; `pods/x/exec` and `attach` upgrade to
//! a WebSocket relayed to the kubelet ([`super::exec`]), `portforward` too
//! ([`super::portforward`]); the others (`proxy`, `services/x/proxy`, `nodes/x/proxy`)
//! answer `400` until they are streamed.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use futures::StreamExt as _;
use rudder_protocol::resources::{Status, Time};
use serde_json::{json, Value};

use super::core::{self as api, ApiCore, ApiError, ApiEvent, ApiResult, ListOptions, WriteOptions};
use super::media::{self, Encoding};
use super::rbac::rules::{Check, Target as AuthzTarget};
use super::registry::{self, ResourceInfo};
use super::request::{list_meta, list_object, Operation, Outcome, Request, UserInfo, Verb};
use super::watch::{self, Step, WatchStream};
use super::{discovery, openapi, protobuf, table};

pub use super::media::MAX_BODY;

/// What every request handler shares.
pub struct ApiState {
    /// The operations.
    pub core: ApiCore,
    /// The bootstrap admin's bearer token (`system:masters`).
    pub token: String,
    /// The users of the static token file, if one is configured.
    pub tokens: super::authn_tokens::TokenFile,
    /// `host:port` clients reach the server at, for discovery.
    pub address: String,
    /// Whether a request without credentials is served as `system:anonymous`
    /// (`[apiserver] anonymous_auth`) rather than refused.
    pub anonymous: bool,
}

/// A JSON body as kube-apiserver writes one (Go's `json.Encoder`): the document, then a
/// newline. Every JSON answer (objects, lists, discovery, `Status` errors) goes through
/// here.
fn json_response(code: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    HttpResponse::build(code)
        .content_type("application/json")
        .body(bytes)
}

/// `200 OK` with a JSON body.
fn ok_json(body: &impl serde::Serialize) -> HttpResponse {
    json_response(StatusCode::OK, body)
}

/// The HTTP status of a `Status` object's code (500 for one HTTP has no name for).
fn http_status(s: &Status) -> StatusCode {
    StatusCode::from_u16(s.code.clamp(100, 599) as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) fn status_response(s: &Status) -> HttpResponse {
    with_retry_after(json_response(http_status(s), s), s)
}

/// A `Retry-After` header when the status suggests a delay, as Kubernetes writes one
/// (client-go waits and retries a 429 or 5xx that carries it).
fn with_retry_after(mut response: HttpResponse, s: &Status) -> HttpResponse {
    let after = s.details.as_ref().map_or(0, |d| d.retry_after_seconds);
    if after > 0 {
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&after.to_string()) {
            response
                .headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
    }
    response
}

fn error(e: ApiError) -> HttpResponse {
    status_response(&e)
}

/// An answer in the negotiated encoding: protobuf when the client prefers it and the
/// object has a protobuf form, JSON otherwise (clients decode by `Content-Type`).
fn respond(code: StatusCode, body: &Value, encoding: Encoding) -> HttpResponse {
    if encoding == Encoding::Protobuf {
        match protobuf::encode_object(body) {
            Ok(bytes) => {
                return HttpResponse::build(code)
                    .content_type(protobuf::MEDIA_TYPE)
                    .body(bytes)
            }
            Err(e)
                if protobuf::encodable(
                    body.get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    body.get("kind").and_then(Value::as_str).unwrap_or_default(),
                ) =>
            {
                tracing::warn!(error = %e, "answering in JSON: the object does not fit its protobuf message");
            }
            Err(_) => {}
        }
    }
    json_response(code, body)
}

/// A `Status` error in the negotiated encoding.
fn error_as(e: ApiError, encoding: Encoding) -> HttpResponse {
    match serde_json::to_value(&*e) {
        Ok(v) => with_retry_after(respond(http_status(&e), &v, encoding), &e),
        Err(_) => status_response(&e),
    }
}

fn not_found_path(path: &str) -> HttpResponse {
    status_response(&Status::failure(
        404,
        "NotFound",
        format!("the server could not find the requested resource ({path})"),
    ))
}

/// The bearer token of a request, if it carries one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The caller of a request: the user of its connection's client certificate
/// ([`super::certificates`]), else the one its bearer token names (the bootstrap admin,
/// a user of the static token file, or a service account, [`super::authn`]). `None`
/// when neither is accepted: a refused certificate falls through to the token, as
/// Kubernetes' union of authenticators does. A request that presents neither is
/// `system:anonymous` when the server admits anonymous requests.
async fn authenticate(req: &HttpRequest, state: &ApiState) -> Option<UserInfo> {
    let certs = req.conn_data::<super::certificates::PeerCertificates>();
    if let Some(certs) = certs {
        match state.core.authenticate_certificate(&certs.0).await {
            Ok(user) => return Some(user),
            Err(why) => tracing::debug!(%why, "client certificate refused"),
        }
    }
    match bearer(req) {
        Some(token) => authenticate_token(token, state).await,
        None if state.anonymous && certs.is_none() => Some(UserInfo::anonymous()),
        None => None,
    }
}

/// The caller a bearer token names (see [`authenticate`]), however it was presented.
pub(super) async fn authenticate_token(given: &str, state: &ApiState) -> Option<UserInfo> {
    if let Some(u) = state.tokens.user(given) {
        return Some(u.user.clone());
    }
    state.core.authenticate_bearer(given, &state.token).await
}

/// Whether a path (as split into segments) names resources, which the one request path
/// authorizes; every other path is a non-resource URL, authorized here.
fn is_resource_path(segs: &[&str]) -> bool {
    matches!(segs, ["api", "v1", _, ..] | ["apis", _, _, _, ..])
}

fn query(req: &HttpRequest) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn accept_of(req: &HttpRequest) -> Option<&str> {
    req.headers().get("accept").and_then(|v| v.to_str().ok())
}

fn wants_table(req: &HttpRequest) -> Option<table::IncludeObject> {
    let accept = accept_of(req)?;
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
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let user = if bearer(&req).is_none() && super::dashboard::is_dashboard(&segs) {
        // A browser cannot send a bearer token when it opens a page: the dashboard also
        // takes it once from `?token=` and then from its cookie.
        match super::dashboard::authenticate(&req, &state).await {
            super::dashboard::Authn::User(u) => Some(u),
            super::dashboard::Authn::Answer(r) => return r,
            super::dashboard::Authn::Anonymous => None,
        }
    } else {
        authenticate(&req, &state).await
    };
    let Some(user) = user else {
        return status_response(&Status::failure(401, "Unauthorized", "Unauthorized"));
    };
    // `kubectl --as`: the caller acts as another user when allowed to impersonate it.
    let (user, impersonator) = match super::rbac::impersonation::from_headers(req.headers()) {
        Ok(None) => (user, None),
        Ok(Some(asked)) => {
            match super::rbac::impersonation::impersonate(&state.core, &user, asked).await {
                Ok(acting) => (acting, Some(user)),
                Err(e) => return error(e),
            }
        }
        Err(e) => return error(e),
    };
    if body.len() > MAX_BODY {
        return status_response(&Status::failure(
            413,
            "RequestEntityTooLarge",
            "request entity too large",
        ));
    }
    let source = super::audit::Source {
        request_uri: req.uri().to_string(),
        source_ips: req
            .peer_addr()
            .map(|a| vec![a.ip().to_string()])
            .unwrap_or_default(),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        impersonator,
    };
    let received = rudder_protocol::resources::MicroTime::now();
    if is_resource_path(&segs) {
        // Audited by the one request path, which reads the connection from here.
        return super::audit::SOURCE
            .scope(source, route(&req, &body, &state, &user, &path))
            .await;
    }
    let verb = req.method().as_str().to_lowercase();
    let check = Check {
        user: &user,
        verb: &verb,
        target: AuthzTarget::NonResource { path: req.path() },
    };
    let response = match state.core.authorize(&check).await {
        Ok(()) => route(&req, &body, &state, &user, &path).await,
        Err(e) => error(e),
    };
    if let Some(log) = state.core.audit_log() {
        log.record(super::audit::Entry {
            user: &user,
            verb: &verb,
            object: None,
            source,
            received,
            code: i32::from(response.status().as_u16()),
            request: None,
            response: None,
            annotations: Default::default(),
        });
    }
    response
}

/// Routing by path, once the caller is known.
async fn route(
    req: &HttpRequest,
    body: &Bytes,
    state: &ApiState,
    user: &UserInfo,
    path: &str,
) -> HttpResponse {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let aggregated = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=APIGroupDiscoveryList"));
    let aggregated_response = |doc: Value| {
        let mut r = ok_json(&doc);
        r.headers_mut().insert(
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderValue::from_static(
                discovery::AGGREGATED_DISCOVERY_CONTENT_TYPE,
            ),
        );
        r
    };
    match segs.as_slice() {
        ["version"] => ok_json(&discovery::version("", "")),
        ["api"] if aggregated => aggregated_response(discovery::aggregated_discovery(true)),
        ["apis"] if aggregated => aggregated_response(discovery::aggregated_discovery(false)),
        ["api"] => ok_json(&discovery::api_versions(&state.address)),
        ["apis"] => ok_json(&discovery::api_group_list()),
        ["api", "v1"] => match discovery::api_resource_list("", "v1") {
            Some(v) => ok_json(&v),
            None => not_found_path(path),
        },
        ["apis", group] => match discovery::api_group(group) {
            Some(v) => ok_json(&v),
            None => not_found_path(path),
        },
        ["apis", group, version] => match discovery::api_resource_list(group, version) {
            Some(v) => ok_json(&v),
            None => not_found_path(path),
        },
        ["debug", "watchers"] => ok_json(&state.core.watchers.to_json()),
        // The dashboard ([`super::dashboard`]), authorized above as non-resource URLs.
        ["dashboard", rest @ ..] => super::dashboard::serve(req, body, state, user, rest).await,
        // The node's metrics ([`crate::telemetry`]), authorized above as a non-resource URL.
        ["metrics"] if req.method() == actix_web::http::Method::GET => {
            let accept = req
                .headers()
                .get(actix_web::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let (content_type, body) = crate::telemetry::exposition(accept);
            HttpResponse::Ok().content_type(content_type).body(body)
        }
        [".well-known", "openid-configuration"] => ok_json(&super::satoken::discovery(&format!(
            "https://{}",
            state.address
        ))),
        ["openid", "v1", "jwks"] => match state.core.signing_key().await {
            Ok(key) => {
                let mut r = ok_json(&key.jwks());
                r.headers_mut().insert(
                    actix_web::http::header::CONTENT_TYPE,
                    actix_web::http::header::HeaderValue::from_static("application/jwk-set+json"),
                );
                r
            }
            Err(e) => error(e),
        },
        ["openapi", "v3"] => ok_json(&openapi::index()),
        ["openapi", "v3", rest @ ..] => match openapi::document_at(&rest.join("/")) {
            Some(v) => ok_json(&v),
            None => match openapi::custom_document_at(&rest.join("/")) {
                Some(v) => ok_json(&v),
                None => not_found_path(path),
            },
        },
        ["api", "v1", rest @ ..] => resource(req, body, state, user, "", "v1", rest).await,
        ["apis", "metrics.k8s.io", version, rest @ ..] => {
            metrics_response(req, state, user, version, rest).await
        }
        ["apis", group @ ("authorization.k8s.io" | "authentication.k8s.io"), "v1", rest @ ..]
            if req.method() == actix_web::http::Method::POST =>
        {
            review_response(req, body, state, user, group, rest).await
        }
        ["apis", group, version, rest @ ..] => {
            resource(req, body, state, user, group, version, rest).await
        }
        _ => not_found_path(path),
    }
}

/// `GET /apis/metrics.k8s.io/<version>/...`: computed on request (see
/// [`super::metrics`]); every other verb is 405, as metrics-server answers.
async fn metrics_response(
    req: &HttpRequest,
    state: &ApiState,
    user: &UserInfo,
    version: &str,
    rest: &[&str],
) -> HttpResponse {
    let Some(target) = super::metrics::parse(version, rest) else {
        return not_found_path(req.path());
    };
    let encoding = media::response_encoding(accept_of(req));
    let check = Check {
        user,
        verb: if target.name.is_some() { "get" } else { "list" },
        target: AuthzTarget::Resource {
            group: target.info.group,
            resource: target.info.plural,
            subresource: None,
            namespace: target.namespace,
            name: target.name,
        },
    };
    if let Err(e) = state.core.authorize(&check).await {
        return error_as(e, encoding);
    }
    let q = query(req);
    if req.method().as_str() != "GET" || watch::flag(&q, "watch") == Some(true) {
        return error_as(
            super::core::fail(
                405,
                "MethodNotAllowed",
                format!(
                    "{} is not supported on {}.metrics.k8s.io: only get and list",
                    req.method(),
                    target.info.plural
                ),
            ),
            encoding,
        );
    }
    let value = match super::metrics::serve(&state.core, &target, &list_options(&q)).await {
        Ok(v) => v,
        Err(e) => return error_as(e, encoding),
    };
    if let Some(include) = wants_table(req) {
        let (items, meta) = match value.get("items").and_then(Value::as_array) {
            Some(items) => (items.clone(), value["metadata"].clone()),
            None => (vec![value.clone()], json!({})),
        };
        let t = table::table(target.info.kind, &items, include, meta, Time::now());
        return json_response(StatusCode::OK, &t);
    }
    respond(StatusCode::OK, &value, encoding)
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
        // A proxy subresource carries the path to proxy to after it.
        ["namespaces", ns, plural, name, sub @ PROXY, _, ..] => {
            t(lookup(plural)?, Some(*ns), Some(*name), Some(*sub))
        }
        [plural, name, sub @ PROXY, _, ..] => t(lookup(plural)?, None, Some(*name), Some(*sub)),
        _ => None,
    }
}

/// `POST` of an access review or SelfSubjectReview ([`super::rbac::review`]): answered,
/// never stored.
async fn review_response(
    req: &HttpRequest,
    body: &Bytes,
    state: &ApiState,
    user: &UserInfo,
    group: &str,
    rest: &[&str],
) -> HttpResponse {
    let encoding = media::response_encoding(accept_of(req));
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let value = match media::decode_body(body, ct) {
        Ok(v) => v,
        Err(e) => return error_as(e, encoding),
    };
    match super::rbac::review::serve(&state.core, user, group, rest, value).await {
        None => not_found_path(req.path()),
        Some(Ok(v)) => respond(StatusCode::CREATED, &v, encoding),
        Some(Err(e)) => error_as(e, encoding),
    }
}

async fn resource(
    req: &HttpRequest,
    body: &Bytes,
    state: &ApiState,
    user: &UserInfo,
    group: &str,
    version: &str,
    rest: &[&str],
) -> HttpResponse {
    let Some(t) = parse_target(group, version, rest) else {
        return not_found_path(req.path());
    };
    let core = &state.core;
    let info = t.info;
    let encoding =
        media::response_encoding(req.headers().get("accept").and_then(|v| v.to_str().ok()));
    let error = |e: ApiError| error_as(e, encoding);
    if info.namespaced && t.name.is_some() && t.namespace.is_none() {
        return not_found_path(req.path());
    }
    let ns = if info.namespaced { t.namespace } else { None };
    let q = query(req);
    let method = req.method().as_str();
    let name = t.name.unwrap_or_default();
    // The caller, as authenticated above.
    let request = |op: Operation| Request {
        user: user.clone(),
        resource: info,
        subresource: t.sub.map(str::to_owned),
        namespace: ns.map(str::to_owned),
        name: t.name.map(str::to_owned),
        op,
    };
    let stream = |verb: Verb| async move { core.handle(request(Operation::Stream(verb))).await };
    if let Some(sub) = t.sub.filter(|sub| is_connect(info, sub)) {
        let verb = if method == "GET" {
            Verb::Get
        } else {
            Verb::Create
        };
        if let Err(e) = stream(verb).await {
            return error(e);
        }
        return connect_response(req, state, info, ns, name, sub).await;
    }
    if let Some(sub) = t.sub {
        if info.subresource(sub).is_none() {
            // With details naming the object, as Kubernetes answers (kubectl debug reads
            // `details.name` from this 404).
            return error(super::core::fail_for(
                404,
                "NotFound",
                info,
                name,
                format!(
                    "the server could not find the requested resource ({}/{sub})",
                    info.plural
                ),
            ));
        }
    }
    if method == "GET" && is_log(info, t.sub) {
        if let Some(ns) = ns {
            if let Err(e) = stream(Verb::Get).await {
                return error(e);
            }
            return log_response(state, ns, name, &q).await;
        }
    }
    let watching = t.watch_prefix || watch::flag(&q, "watch") == Some(true);
    if method == "GET" && t.sub.is_none() && (watching || t.name.is_none()) {
        // Kubernetes decodes (and refuses) list options before anything else.
        if let Err(e) = watch::check_query(&q) {
            return error(e);
        }
        if watching {
            if is_upgrade(req) {
                return status_response(&Status::failure(
                    400,
                    "BadRequest",
                    "watching over a WebSocket is not supported; watch over HTTP instead",
                ));
            }
            if let Err(e) = stream(Verb::Watch).await {
                return error(e);
            }
            return watch_response(req, state, info, ns, t.name, &q, encoding);
        }
    }
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let writes_object = matches!(method, "POST" | "PUT" | "PATCH")
        && matches!(
            t.sub,
            None | Some("status" | "ephemeralcontainers" | "approval")
        )
        && !(method == "POST" && t.name.is_some());
    // A written object's body is parsed once, here, for validation and the handler.
    let (mut warnings, parsed) = if writes_object {
        let mut value = match media::decode_body(body, ct) {
            Ok(v) => v,
            Err(e) => return error(e),
        };
        if media::is_protobuf(ct) {
            registry::drop_unknown_zeros_in(info, &mut value);
        }
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
        q: &q,
        content_type: ct,
        parsed,
    };
    let answer = match operation(method, t.name.is_some(), t.sub, call) {
        Ok(op) => {
            let (answer, admission_warnings) = core.handle_noted(request(op)).await;
            warnings.extend(admission_warnings);
            answer
        }
        Err(e) => Err(e),
    };
    let mut response = match answer {
        Ok(outcome) => match render(req, info, t.sub, outcome, &mut warnings) {
            Answer::Ok(v) => respond(StatusCode::OK, &v, encoding),
            Answer::Created(v) => respond(StatusCode::CREATED, &v, encoding),
        },
        // Warnings go with errors too, as Kubernetes sends them.
        Err(e) => error(e),
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
/// `Warn` (the default) and nothing under `Ignore`. (A protobuf body has had its unset
/// fields removed first: see [`registry::drop_unknown_zeros`].) Patches are not checked here: the
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
    let unknown = super::apply::model_unknown_fields_in(info, value);
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
    q: &'a [(String, String)],
    content_type: &'a str,
    /// The body, already parsed (writes of an object).
    parsed: Option<Value>,
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
    WriteOptions::parse(options_kind, &dry_run, param(q, "fieldValidation"))?.with_manager(
        options_kind,
        param(q, "fieldManager"),
        param(q, "force"),
    )
}

/// The operation an HTTP request asks for (the one request path serves it), or `405`.
fn operation(method: &str, named: bool, sub: Option<&str>, c: Call<'_>) -> ApiResult<Operation> {
    let Call {
        req,
        body,
        q,
        content_type,
        parsed,
    } = c;
    let body_value = || media::decode_body(body, content_type);
    let value = || parsed.map_or_else(body_value, Ok);
    let writes = || write_options(method, q, None);
    Ok(match (method, named, sub) {
        ("GET", false, None) => Operation::List(list_options(q)),
        ("GET", true, None | Some("status" | "scale" | "ephemeralcontainers" | "approval")) => {
            Operation::Get
        }
        ("POST", false, None) => Operation::Create {
            opts: writes()?,
            body: value()?,
        },
        ("POST", true, Some("binding" | "eviction" | "token")) => Operation::Create {
            opts: writes()?,
            body: body_value()?,
        },
        ("PUT", true, None | Some("status" | "scale" | "ephemeralcontainers" | "approval")) => {
            Operation::Update {
                opts: writes()?,
                body: value()?,
            }
        }
        ("PATCH", true, None | Some("status" | "scale" | "ephemeralcontainers" | "approval")) => {
            Operation::Patch {
                opts: writes()?,
                content_type: content_type.to_owned(),
                patch: value()?,
            }
        }
        ("DELETE", true, None) => {
            let options = delete_options(q, body_value()?)?;
            let opts = write_options(method, q, Some(&options))?;
            Operation::Delete { options, opts }
        }
        ("DELETE", false, None) => {
            // deletecollection: every object the selectors match, one by one.
            let options = delete_options(q, body_value()?)?;
            let opts = write_options(method, q, Some(&options))?;
            Operation::DeleteCollection {
                list: list_options(q),
                options,
                opts,
            }
        }
        _ => {
            return Err(Box::new(Status::failure(
                405,
                "MethodNotAllowed",
                format!("{method} is not supported on {}", req.path()),
            )));
        }
    })
}

/// The answer to an HTTP request: lists and gets as a Table or as metadata when the
/// client asked for that; the `Warning`s of a patch go to `warnings`.
fn render(
    req: &HttpRequest,
    info: &'static ResourceInfo,
    sub: Option<&str>,
    outcome: Outcome,
    warnings: &mut Vec<String>,
) -> Answer {
    let metadata_only = media::wants_metadata(accept_of(req));
    let table_of = |items: &[Value], meta: Value| {
        wants_table(req).map(|include| table::table(info.kind, items, include, meta, Time::now()))
    };
    match outcome {
        Outcome::List {
            items,
            revision,
            continue_token,
        } => {
            let meta = list_meta(revision, continue_token.as_deref());
            match table_of(&items, meta.clone()) {
                Some(t) => Answer::Ok(t),
                None if metadata_only => Answer::Ok(media::partial_metadata_list(meta, &items)),
                None => Answer::Ok(list_object(info, items, meta)),
            }
        }
        Outcome::Object(obj) if sub.is_none() && req.method() == actix_web::http::Method::GET => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or_default();
            match table_of(std::slice::from_ref(&obj), json!({"resourceVersion": rv})) {
                Some(t) => Answer::Ok(t),
                None if metadata_only => Answer::Ok(media::partial_metadata(&obj)),
                None => Answer::Ok(obj),
            }
        }
        Outcome::Object(obj) => Answer::Ok(obj),
        Outcome::Created(obj) => Answer::Created(obj),
        Outcome::Patched {
            object,
            warnings: w,
        } => {
            warnings.extend(w);
            Answer::Ok(object)
        }
        Outcome::Deleted(items) => Answer::Ok(list_object(info, items, json!({}))),
        Outcome::Events(..) | Outcome::Admitted => Answer::Ok(json!({})),
    }
}

/// DeleteOptions from the body, with the query's `gracePeriodSeconds` and
/// `propagationPolicy` on top.
fn delete_options(q: &[(String, String)], body: Value) -> Result<Value, ApiError> {
    let mut opts = body;
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
        resource_version_match: param(q, "resourceVersionMatch").map(str::to_owned),
        send_initial_events: watch::flag(q, "sendInitialEvents"),
        bookmarks: watch::flag(q, "allowWatchBookmarks") == Some(true),
        timeout_seconds: param(q, "timeoutSeconds").and_then(|t| t.parse().ok()),
    }
}

/// True for a request that asks to switch protocols (`Upgrade: websocket`, SPDY, or a
/// `CONNECT`). Such a request is answered without reading a body: for a WebSocket
/// upgrade or a `CONNECT`, actix hands the rest of the connection over as the body, which
/// the client only sends once it has an answer.
fn is_upgrade(req: &HttpRequest) -> bool {
    asks_upgrade(req.head())
}

fn asks_upgrade(head: &actix_web::dev::RequestHead) -> bool {
    head.headers()
        .contains_key(actix_web::http::header::UPGRADE)
        || head.method == actix_web::http::Method::CONNECT
}

/// The subresource that carries the path to proxy to after it.
const PROXY: &str = "proxy";

/// Kubernetes' "connect" subresources: byte streams to a container or a port, and
/// proxies. Rudder does not stream them yet; each still gets an immediate answer.
const CONNECT_SUBRESOURCES: &[(&str, &[&str])] = &[
    ("pods", &["exec", "attach", "portforward", PROXY]),
    ("services", &[PROXY]),
    ("nodes", &[PROXY]),
];

/// `pods/<name>/log`.
fn is_log(info: &ResourceInfo, sub: Option<&str>) -> bool {
    sub == Some("log") && info.subresource("log").is_some()
}

fn is_connect(info: &ResourceInfo, sub: &str) -> bool {
    info.group.is_empty()
        && CONNECT_SUBRESOURCES
            .iter()
            .any(|(plural, subs)| *plural == info.plural && subs.contains(&sub))
}

/// A connect subresource (`pods/x/exec`, `services/x/proxy`, ...): `404` when the object
/// does not exist; for exec, attach and port-forward without an upgrade, Kubernetes'
/// `400 Upgrade request required`; otherwise `400` saying that streams are not supported
/// yet. Never silence: clients that asked to upgrade would wait for their own timeout.
async fn connect_response(
    req: &HttpRequest,
    state: &ApiState,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: &str,
    sub: &str,
) -> HttpResponse {
    let streams = sub != PROXY;
    if streams && !matches!(req.method().as_str(), "GET" | "POST") {
        return status_response(&Status::failure(
            405,
            "MethodNotAllowed",
            format!("{} is not supported on {}", req.method(), req.path()),
        ));
    }
    let object = match state.core.get(info, ns, name).await {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    if let (Some(kind), Some(ns), true) = (
        super::exec::Kind::of(sub).filter(|_| info.plural == "pods"),
        ns,
        is_upgrade(req),
    ) {
        return super::exec::serve(req, &state.core, object, ns, name, kind, &query(req)).await;
    }
    if let (true, Some(ns), true) = (
        info.plural == "pods" && sub == "portforward",
        ns,
        is_upgrade(req),
    ) {
        return super::portforward::serve(req, &state.core, object, ns, name, &query(req)).await;
    }
    let message = if streams && !is_upgrade(req) {
        "Upgrade request required".to_owned()
    } else {
        format!(
            "{}/{sub} is not supported yet: this server does not stream to {} (asked for {} {name:?})",
            info.plural,
            if streams { "containers" } else { "proxied endpoints" },
            info.singular,
        )
    };
    status_response(&Status::failure(400, "BadRequest", message))
}

/// One watch event on the wire: a JSON line; the object as a one-row Table when the
/// client asked for Table output (ERROR and BOOKMARK objects stay as they are). Every
/// event of every watch is written through here.
fn render_event(
    info: &'static ResourceInfo,
    table_mode: Option<table::IncludeObject>,
    event: ApiEvent,
) -> Bytes {
    let object = match table_mode {
        Some(include) if event.kind != "ERROR" && event.kind != "BOOKMARK" => {
            table::table(info.kind, &[event.object], include, json!({}), Time::now())
        }
        _ => event.object,
    };
    let mut line =
        serde_json::to_vec(&json!({"type": event.kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// One watch event as a protobuf frame. An object that does not fit its message (a bug)
/// becomes an ERROR event, which every client handles by re-listing.
fn render_frame(event: ApiEvent) -> Bytes {
    match protobuf::watch_frame(event.kind, &event.object) {
        Ok(frame) => Bytes::from(frame),
        Err(e) => {
            tracing::warn!(error = %e, "a watch event has no protobuf form");
            let status = Status::failure(500, "InternalError", format!("encoding the event: {e}"));
            let object = serde_json::to_value(&status).unwrap_or_default();
            Bytes::from(protobuf::watch_frame("ERROR", &object).unwrap_or_default())
        }
    }
}

/// Streams a watch, as Kubernetes does (see [`watch`] for the rules): the initial
/// events and their end bookmark when asked for, then the changes, with periodic
/// bookmarks when allowed, until `timeoutSeconds`. A watch of one named object is a watch
/// of the collection with a `metadata.name` field selector, as in Kubernetes.
fn watch_response(
    req: &HttpRequest,
    state: &ApiState,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: Option<&str>,
    q: &[(String, String)],
    encoding: Encoding,
) -> HttpResponse {
    let error = |e: ApiError| error_as(e, encoding);
    let mut opts = list_options(q);
    if let Some(name) = name {
        let by_name = format!("metadata.name={name}");
        opts.field_selector = Some(match opts.field_selector.as_deref() {
            Some(f) if !f.is_empty() => format!("{by_name},{f}"),
            _ => by_name,
        });
    }
    let start = match watch::watch_start(&opts) {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let filter = match super::core::Filter::new(info, &opts) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let table_mode = wants_table(req);
    let metadata_only = table_mode.is_none() && media::wants_metadata(accept_of(req));
    let framed = table_mode.is_none()
        && encoding == Encoding::Protobuf
        && protobuf::encodable(&info.api_version(), info.kind);
    let now = tokio::time::Instant::now();
    let stream = WatchStream::new(
        start,
        opts.bookmarks,
        now,
        now + watch::watch_timeout(&opts),
        watch::BOOKMARK_INTERVAL,
        info.kind,
        info.api_version(),
    );
    let body = event_stream(
        state.core.clone(),
        info,
        ns.map(str::to_owned),
        opts,
        filter,
        stream,
        move |mut event| {
            if metadata_only && event.kind != "ERROR" {
                event.object = media::partial_metadata(&event.object);
            }
            match framed {
                true => render_frame(event),
                false => render_event(info, table_mode, event),
            }
        },
    );
    HttpResponse::Ok()
        .content_type(match framed {
            true => protobuf::WATCH_MEDIA_TYPE,
            false => "application/json",
        })
        .insert_header(("Transfer-Encoding", "chunked"))
        .streaming(body)
}

/// A watch of every `info` object (all namespaces) as `user` gets it from
/// `GET <plural>?watch=true` with `opts`: authorized and served as that request is, each
/// event rendered by `render`. The dashboard's live stream merges a few of these.
pub(super) async fn watch_as(
    state: &ApiState,
    user: &UserInfo,
    info: &'static ResourceInfo,
    opts: ListOptions,
    render: impl Fn(ApiEvent) -> Bytes + 'static,
) -> ApiResult<impl futures::Stream<Item = Result<Bytes, actix_web::Error>>> {
    state
        .core
        .handle(Request {
            user: user.clone(),
            resource: info,
            subresource: None,
            namespace: None,
            name: None,
            op: Operation::Stream(Verb::Watch),
        })
        .await?;
    let start = watch::watch_start(&opts)?;
    let filter = super::core::Filter::new(info, &opts)?;
    let now = tokio::time::Instant::now();
    let stream = WatchStream::new(
        start,
        opts.bookmarks,
        now,
        now + watch::watch_timeout(&opts),
        watch::BOOKMARK_INTERVAL,
        info.kind,
        info.api_version(),
    );
    Ok(event_stream(
        state.core.clone(),
        info,
        None,
        opts,
        filter,
        stream,
        render,
    ))
}

/// Drives a [`WatchStream`]: does the reads its steps ask for and yields what it says to
/// send, one chunk per step.
fn event_stream(
    core: ApiCore,
    info: &'static ResourceInfo,
    ns: Option<String>,
    opts: ListOptions,
    filter: super::core::Filter,
    watch: WatchStream,
    render: impl Fn(ApiEvent) -> Bytes + 'static,
) -> impl futures::Stream<Item = Result<Bytes, actix_web::Error>> {
    let converts = super::versions::converts(info);
    let state = (core, ns, opts, filter, watch, render);
    futures::stream::unfold(state, move |state| async move {
        let (core, ns, opts, filter, mut watch, render) = state;
        let events = match watch.step(tokio::time::Instant::now()) {
            Step::End => return None,
            Step::List(read) => match core.list(info, ns.as_deref(), &read.options(&opts)).await {
                Ok((items, revision, _)) => watch.listed(items, revision),
                Err(e) => watch.failed(&e),
            },
            Step::Resolve(from) => match core.watch_start_revision(info, from).await {
                Ok(revision) => {
                    watch.started(revision);
                    Vec::new()
                }
                Err(e) => watch.failed(&e),
            },
            Step::Poll { after, wait } => {
                match core
                    .watch_poll(info, ns.as_deref(), after, wait, &filter)
                    .await
                {
                    Ok((events, revision)) => {
                        watch.changed(events, revision, tokio::time::Instant::now())
                    }
                    Err(e) => watch.failed(&e),
                }
            }
        };
        let mut chunk = Vec::new();
        for mut event in events {
            if converts {
                super::versions::serve_as(info, &mut event.object);
            }
            chunk.extend_from_slice(&render(event));
        }
        let state = (core, ns, opts, filter, watch, render);
        Some((Ok(Bytes::from(chunk)), state))
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
                    other => Err((500, format!("unexpected kubelet reply {other:?}"))),
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

/// A request that asks to switch protocols: routed as any other, with no body; the
/// connection (its payload) is kept for the WebSocket of `pods/exec` and `attach`.
async fn handle_upgrade(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<Arc<ApiState>>,
) -> HttpResponse {
    req.extensions_mut()
        .insert(super::exec::UpgradePayload(std::cell::RefCell::new(Some(
            payload,
        ))));
    handle(req, Bytes::new(), state).await
}

/// Starts the HTTPS server on `listen`; returns the bound address.
///
/// HTTP/1.1 over rustls, two workers. Each decrypted connection passes through
/// [`super::upgrade::Sniff`], so that a plain `Upgrade: SPDY/3.1` request (exec and
/// port-forward of clients before WebSockets) gets its connection streamed as a WebSocket
/// upgrade's would be; hence actix-server and actix-http's HTTP/1 service are put
/// together here rather than through `HttpServer`, which takes no connection wrapper.
pub fn serve(
    state: Arc<ApiState>,
    listen: &str,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    use actix_service::{map_config, ServiceFactoryExt as _};
    let data = web::Data::new(state);
    let listener = bind_listener(listen)?;
    let addr = listener.local_addr()?;
    let mut tls = (*tls).clone();
    if tls.alpn_protocols.is_empty() {
        tls.alpn_protocols.push(b"http/1.1".to_vec());
    }
    let server = actix_server::Server::build()
        .workers(2)
        .disable_signals()
        // Watches are open-ended: a graceful stop that waited for them (actix's default,
        // 30 s) would hold the node's shutdown. Requests in flight get a few seconds.
        .shutdown_timeout(3)
        .listen("rudder-api", listener, move || {
            let data = data.clone();
            let app = actix_web::App::new()
                .app_data(data)
                .app_data(web::PayloadConfig::new(MAX_BODY + 1))
                // An upgrade request's body is the rest of its connection: never wait
                // for it.
                .route(
                    "/{tail:.*}",
                    web::route()
                        .guard(actix_web::guard::fn_guard(|ctx| asks_upgrade(ctx.head())))
                        .to(handle_upgrade),
                )
                .default_service(web::to(handle));
            // The application's view of the connection: HTTPS on this address. (actix-web
            // offers no other public constructor for it outside its own server.)
            let app = map_config(app, move |_| {
                actix_web::dev::AppConfig::__priv_test_new(true, addr.to_string(), addr)
            });
            let h1 = actix_http::HttpService::build()
                // The client's certificates, for authentication of each request.
                .on_connect_ext(
                    |io: &super::upgrade::Sniff<
                        actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>,
                    >,
                     ext: &mut actix_http::Extensions| {
                        if let Some(certs) = io.get_ref().get_ref().1.peer_certificates() {
                            ext.insert(super::certificates::PeerCertificates(std::sync::Arc::new(
                                certs.iter().map(|c| c.clone().into_owned()).collect(),
                            )));
                        }
                    },
                )
                .h1(app)
                .map_err(|e| tracing::debug!(error = ?e, "HTTP connection failed"));
            actix_tls::accept::rustls_0_23::Acceptor::new(tls.clone())
                .map_init_err(|_| ())
                .map_err(|e| tracing::debug!(error = ?e, "TLS handshake failed"))
                .map(
                    |io: actix_tls::accept::rustls_0_23::TlsStream<
                        actix_web::rt::net::TcpStream,
                    >| {
                        let peer = io.get_ref().0.peer_addr().ok();
                        (super::upgrade::Sniff::new(io), peer)
                    },
                )
                .and_then(h1)
        })?
        .run();
    Ok((server, addr))
}

/// A listening socket on `listen` that can be bound again at once after a restart
/// (`SO_REUSEADDR`, as actix and most servers set it).
fn bind_listener(listen: &str) -> std::io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs as _;
    let mut last = None;
    for addr in listen.to_socket_addrs()? {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        match socket.bind(&addr.into()).and_then(|()| socket.listen(1024)) {
            Ok(()) => {
                socket.set_nonblocking(true)?;
                return Ok(socket.into());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("no address for {listen}"))))
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
            (
                "pod proxy with a path",
                &["namespaces", "d", "pods", "p", "proxy", "a", "b"],
                Some(("pods", Some("d"), Some("p"), Some("proxy"))),
            ),
            (
                "node proxy with a path",
                &["nodes", "n1", "proxy", "metrics"],
                Some(("nodes", None, Some("n1"), Some("proxy"))),
            ),
            (
                "only a proxy takes a path",
                &["namespaces", "d", "pods", "p", "exec", "x"],
                None,
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

    #[test]
    fn connect_subresources() {
        let r = |g: &str, p: &str| registry::resource(g, "v1", p).expect("served");
        let cases = [
            ("pod exec", r("", "pods"), "exec", true),
            ("pod attach", r("", "pods"), "attach", true),
            ("pod port-forward", r("", "pods"), "portforward", true),
            ("pod proxy", r("", "pods"), "proxy", true),
            ("service proxy", r("", "services"), "proxy", true),
            ("node proxy", r("", "nodes"), "proxy", true),
            ("pod status is no stream", r("", "pods"), "status", false),
            (
                "service exec does not exist",
                r("", "services"),
                "exec",
                false,
            ),
            (
                "deployments have none",
                r("apps", "deployments"),
                "proxy",
                false,
            ),
        ];
        for (name, info, sub, want) in cases {
            assert_eq!(is_connect(info, sub), want, "{name}");
        }
    }

    #[test]
    fn watch_events_are_lines() {
        let pods = registry::resource("", "v1", "pods").expect("pods");
        let pod = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}});
        let line = render_event(
            pods,
            None,
            ApiEvent {
                kind: "ADDED",
                object: pod.clone(),
            },
        );
        assert!(line.ends_with(b"}\n"));
        let v: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(v, json!({"type": "ADDED", "object": pod}));
        // As a Table row when asked; bookmarks stay bookmarks.
        let table = table::IncludeObject::Metadata;
        let row = render_event(
            pods,
            Some(table),
            ApiEvent {
                kind: "MODIFIED",
                object: pod,
            },
        );
        let v: Value = serde_json::from_slice(&row).expect("json");
        assert_eq!(v["object"]["kind"], "Table");
        let bm = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "5"}});
        let line = render_event(
            pods,
            Some(table),
            ApiEvent {
                kind: "BOOKMARK",
                object: bm.clone(),
            },
        );
        let v: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(v["object"], bm);
    }
}
