//! The live dashboard, served by the API server under `/dashboard/`: the nodes and their
//! actors (state, restarts, message rates, mailboxes), the Raft group, workloads, pods,
//! a live event stream, and chaos controls (kill an actor, partition a node, heal it).
//!
//! What it owns: three files embedded in the binary (`index.html`, `app.js`,
//! `style.css`: no asset from anywhere else, no build step) and four small endpoints:
//! - `GET /dashboard/api/stream`: Server-Sent Events, the page's one live connection
//!   (browsers allow six per HTTP/1.1 host, so the watches are merged here, not opened
//!   one by one): `reset` first, then `watch` events (`{resource, type, object}`) from
//!   watches of nodes, pods, deployments, statefulsets, daemonsets and events, each
//!   opened exactly as `GET <plural>?watch=true` by the same caller (so RBAC decides what
//!   the page sees; a refused one becomes a `denied` event), and a `cluster` event every
//!   second ([`cluster::snapshot`]: actors, faults, Raft, over the bus). The stream ends
//!   after [`STREAM_WINDOW`] or when a watch ends; `EventSource` reconnects and the page
//!   starts over from `reset`.
//! - `GET /dashboard/api/cluster`: one snapshot, as JSON.
//! - `POST /dashboard/api/kill` `{node, actor}`, `POST /dashboard/api/partition`
//!   `{node, seconds}`, `POST /dashboard/api/heal` `{node}`: what `rudderctl kill`,
//!   `rudderctl chaos partition` and `rudderctl chaos clear` send to the node's `chaos`
//!   actor. The page asks for confirmation before killing or partitioning.
//!
//! Authentication is the API's: a bearer token in `Authorization` (curl, scripts), or,
//! since a browser cannot add that header when it opens a page, the same token given
//! once as `/dashboard/?token=...`: the answer is a redirect to `/dashboard/` that keeps
//! it in a cookie (`HttpOnly`, `Secure`, `SameSite=Strict`, `Path=/dashboard`), so it
//! leaves the address bar and history, scripts on the page never see it, and it is
//! sent to nothing but the dashboard. The cookie is accepted under `/dashboard/` only,
//! checked like a bearer token on every request; a cookie-authenticated action (any
//! method but GET) must also carry the `X-Rudder-Dashboard` header, which a cross-site
//! form cannot send and a cross-origin script cannot without a CORS preflight this
//! server never grants. `/dashboard/logout` drops the cookie.
//!
//! Authorization: every dashboard path is a non-resource URL (as `/metrics` is), checked
//! by RBAC with the HTTP verb (`get` to look, `post` for the chaos controls), then each
//! watch of the stream as the resource request it stands for. `system:masters` may do
//! everything; a role granting `nonResourceURLs: ["/dashboard", "/dashboard/*"]` with
//! `get` shows the page, and `post` on `/dashboard/api/*` allows the chaos controls.
//! The same paths and verbs decide what `rudderctl` may do on the bus when it connects
//! with a user's certificate ([`super::bus_clients`]), so one role grants both.

mod cluster;

use std::time::Duration;

use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures::stream::{self, LocalBoxStream, StreamExt as _};
use rudder_protocol::messages::chaos::{
    ChaosReply, ChaosRequest, Direction, FaultAction, FaultRule, NEVER_KILLED,
};
use rudder_protocol::names::actors::CHAOS;
use rudder_protocol::resources::Status;
use rudder_protocol::{ActorRef, NodeName};
use serde_json::{json, Value};

use super::core::{ApiEvent, ListOptions};
use super::http::{self, ApiState};
use super::registry;
use super::request::UserInfo;

/// The cookie that keeps the dashboard's token.
pub const COOKIE: &str = "rudder-dashboard-token";
/// The header a cookie-authenticated action must carry.
pub const ACTION_HEADER: &str = "x-rudder-dashboard";
/// How long one live stream lasts before the page reconnects (and relists).
pub const STREAM_WINDOW: Duration = Duration::from_secs(600);
/// How often the stream sends a cluster snapshot.
const TICK: Duration = Duration::from_secs(1);
/// How long a chaos action may take.
const CHAOS_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest partition the page can ask for.
const MAX_PARTITION: Duration = Duration::from_secs(600);

/// The resources the live stream watches: `(group, version, plural)`.
const WATCHED: &[(&str, &str, &str)] = &[
    ("", "v1", "nodes"),
    ("", "v1", "pods"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "daemonsets"),
    ("", "v1", "events"),
];

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Whether a path (split into segments) is the dashboard's.
pub fn is_dashboard(segs: &[&str]) -> bool {
    segs.first() == Some(&"dashboard")
}

/// The outcome of authenticating a dashboard request that has no bearer token.
pub enum Authn {
    /// The caller, from the cookie.
    User(UserInfo),
    /// An answer to send as is (the login redirect, a refused action).
    Answer(HttpResponse),
    /// No credential, or one not accepted.
    Anonymous,
}

fn query_token(req: &HttpRequest) -> Option<String> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()?
        .into_inner()
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn cookie_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Whether a token can be a cookie's value as is (RFC 6265 `cookie-octet`s): JWTs and
/// the admin token can; a token-file entry with other characters must use the header.
fn cookie_safe(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// Authenticates a dashboard request without a bearer token: from `?token=` (answered
/// by the login redirect) or from the cookie.
pub async fn authenticate(req: &HttpRequest, state: &ApiState) -> Authn {
    if let Some(token) = query_token(req) {
        if http::authenticate_token(&token, state).await.is_none() {
            return Authn::Anonymous;
        }
        if !cookie_safe(&token) {
            return Authn::Answer(refused(
                400,
                "BadRequest",
                "this token cannot be kept in a cookie: send it in an Authorization header",
            ));
        }
        return Authn::Answer(login(&token));
    }
    let Some(token) = cookie_token(req) else {
        return Authn::Anonymous;
    };
    let Some(user) = http::authenticate_token(token, state).await else {
        return Authn::Anonymous;
    };
    let reads = *req.method() == Method::GET || *req.method() == Method::HEAD;
    if !reads && !req.headers().contains_key(ACTION_HEADER) {
        return Authn::Answer(refused(
            403,
            "Forbidden",
            "a dashboard action authenticated by its cookie must carry the X-Rudder-Dashboard header",
        ));
    }
    Authn::User(user)
}

fn refused(code: i32, reason: &str, message: &str) -> HttpResponse {
    http::status_response(&Status::failure(code, reason, message))
}

/// `303` to the page, keeping the token in the dashboard's cookie.
fn login(token: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", "/dashboard/"))
        .insert_header((
            "Set-Cookie",
            format!("{COOKIE}={token}; Path=/dashboard; HttpOnly; Secure; SameSite=Strict"),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish()
}

/// Headers every dashboard answer carries: nothing cached, no framing (the chaos
/// buttons must not be clickable through someone else's page), scripts and styles only
/// from rudderd itself.
fn secured(mut r: HttpResponse) -> HttpResponse {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let headers = [
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    ];
    for (k, v) in headers {
        r.headers_mut()
            .insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    r
}

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).body(body)
}

/// Serves `/dashboard/<rest>` to an authenticated and authorized caller.
pub async fn serve(
    req: &HttpRequest,
    body: &Bytes,
    state: &ApiState,
    user: &UserInfo,
    rest: &[&str],
) -> HttpResponse {
    let get = *req.method() == Method::GET;
    let post = *req.method() == Method::POST;
    let response = match rest {
        [] | ["index.html"] if get => asset(INDEX_HTML, "text/html; charset=utf-8"),
        ["app.js"] if get => asset(APP_JS, "text/javascript; charset=utf-8"),
        ["style.css"] if get => asset(STYLE_CSS, "text/css; charset=utf-8"),
        ["logout"] if get => HttpResponse::Ok()
            .insert_header((
                "Set-Cookie",
                format!("{COOKIE}=; Path=/dashboard; Max-Age=0; HttpOnly; Secure; SameSite=Strict"),
            ))
            .content_type("text/plain; charset=utf-8")
            .body("signed out of the dashboard\n"),
        ["api", "cluster"] if get => json_ok(&cluster::snapshot(state.core.bus()).await),
        ["api", "stream"] if get => live(state, user).await,
        ["api", "kill"] if post => kill(state, body).await,
        ["api", "partition"] if post => partition(state, body).await,
        ["api", "heal"] if post => heal(state, body).await,
        []
        | ["index.html" | "app.js" | "style.css" | "logout"]
        | ["api", "cluster" | "stream" | "kill" | "partition" | "heal"] => refused(
            405,
            "MethodNotAllowed",
            &format!("{} is not supported here", req.method()),
        ),
        _ => refused(
            404,
            "NotFound",
            &format!(
                "the server could not find the requested resource ({})",
                req.path()
            ),
        ),
    };
    secured(response)
}

fn json_ok(v: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(v.to_string())
}

/// One Server-Sent Event; `data` is JSON, which `serde_json` writes on one line.
fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// An object as the page needs it: without its managed fields and last-applied
/// configuration, which are most of its size and never shown.
fn slim(mut object: Value) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    object
}

/// `GET /dashboard/api/stream`: the page's live connection (see the module doc).
async fn live(state: &ApiState, user: &UserInfo) -> HttpResponse {
    let mut parts: Vec<LocalBoxStream<'static, Option<Bytes>>> = Vec::new();
    let mut opening = Vec::from(&b"retry: 2000\n\n"[..]);
    opening.extend_from_slice(&sse(
        "reset",
        &json!({ "servedBy": state.core.bus().node().as_str() }),
    ));
    for &(group, version, plural) in WATCHED {
        let Some(info) = registry::resource(group, version, plural) else {
            continue;
        };
        let opts = ListOptions {
            timeout_seconds: Some(STREAM_WINDOW.as_secs()),
            ..ListOptions::default()
        };
        let render = move |e: ApiEvent| {
            sse(
                "watch",
                &json!({ "resource": plural, "type": e.kind, "object": slim(e.object) }),
            )
        };
        match http::watch_as(state, user, info, opts, render).await {
            // A watch that ends (its window, an error) ends the stream: the page
            // reconnects and relists rather than show one resource frozen.
            Ok(s) => parts.push(
                s.map(Result::ok)
                    .chain(stream::once(futures::future::ready(None)))
                    .boxed_local(),
            ),
            Err(e) => opening.extend_from_slice(&sse(
                "denied",
                &json!({ "resource": plural, "message": e.message }),
            )),
        }
    }
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let bus = state.core.bus().clone();
    parts.push(
        stream::unfold((bus, every), |(bus, mut every)| async move {
            every.tick().await;
            let snapshot = cluster::snapshot(&bus).await;
            Some((Some(sse("cluster", &snapshot)), (bus, every)))
        })
        .boxed_local(),
    );
    let body = stream::once(futures::future::ready(Some(Bytes::from(opening))))
        .chain(stream::select_all(parts))
        .scan((), |_, chunk| futures::future::ready(chunk))
        .take_until(tokio::time::sleep(STREAM_WINDOW))
        .map(Ok::<Bytes, actix_web::Error>);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// A refusal to send as is (boxed: a response is large).
type Refused = Box<HttpResponse>;

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Refused> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(refused(
            400,
            "BadRequest",
            &format!("the body is not the JSON this action takes: {e}"),
        ))
    })
}

async fn chaos(state: &ApiState, node: &str, req: ChaosRequest) -> Result<ChaosReply, Refused> {
    if node.is_empty() {
        return Err(Box::new(refused(400, "BadRequest", "name a node")));
    }
    state
        .core
        .bus()
        .call(
            ActorRef::new(NodeName::new(node), CHAOS),
            req,
            CHAOS_TIMEOUT,
        )
        .await
        .map_err(|e| {
            Box::new(refused(
                503,
                "ServiceUnavailable",
                &format!("node {node}'s chaos actor did not answer: {e}"),
            ))
        })
}

fn unexpected(reply: &ChaosReply) -> HttpResponse {
    refused(
        500,
        "InternalError",
        &format!("unexpected reply from the chaos actor: {reply:?}"),
    )
}

/// `POST /dashboard/api/kill` `{node, actor}`: `rudderctl kill ACTOR --node NODE`.
async fn kill(state: &ApiState, body: &Bytes) -> HttpResponse {
    #[derive(serde::Deserialize)]
    struct Kill {
        node: String,
        actor: String,
    }
    let k: Kill = match parse(body) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    if NEVER_KILLED.contains(&k.actor.as_str()) {
        return refused(
            400,
            "BadRequest",
            &format!(
                "{} is never killed from the dashboard: without it the node cannot be reached",
                k.actor
            ),
        );
    }
    let req = ChaosRequest::KillActor {
        name: k.actor.clone(),
    };
    match chaos(state, &k.node, req).await {
        Ok(ChaosReply::Killed { name, restarts }) => {
            tracing::info!(node = %k.node, actor = %name, "dashboard: actor killed");
            json_ok(&json!({ "node": k.node, "actor": name, "restartsBefore": restarts }))
        }
        Ok(ChaosReply::NoSuchActor { name }) => refused(
            404,
            "NotFound",
            &format!("no actor {name} on node {}", k.node),
        ),
        Ok(other) => unexpected(&other),
        Err(r) => *r,
    }
}

/// `POST /dashboard/api/partition` `{node, seconds}`: `rudderctl chaos partition NODE
/// --for SECONDS` (every peer, both ways; requests to `chaos` and `bus` still pass, so
/// it can be healed).
async fn partition(state: &ApiState, body: &Bytes) -> HttpResponse {
    #[derive(serde::Deserialize)]
    struct Partition {
        node: String,
        seconds: u64,
    }
    let p: Partition = match parse(body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if p.seconds == 0 || p.seconds > MAX_PARTITION.as_secs() {
        return refused(
            400,
            "BadRequest",
            &format!("seconds must be between 1 and {}", MAX_PARTITION.as_secs()),
        );
    }
    let rule = FaultRule {
        peers: Vec::new(),
        direction: Direction::Both,
        action: FaultAction::Drop { per_mille: 1000 },
        duration_ms: p.seconds * 1000,
    };
    match chaos(state, &p.node, ChaosRequest::SetFault(rule)).await {
        Ok(ChaosReply::FaultSet { id }) => {
            tracing::info!(node = %p.node, seconds = p.seconds, "dashboard: node partitioned");
            json_ok(&json!({ "node": p.node, "fault": id, "seconds": p.seconds }))
        }
        Ok(other) => unexpected(&other),
        Err(r) => *r,
    }
}

/// `POST /dashboard/api/heal` `{node}`: `rudderctl chaos clear --node NODE`.
async fn heal(state: &ApiState, body: &Bytes) -> HttpResponse {
    #[derive(serde::Deserialize)]
    struct Heal {
        node: String,
    }
    let h: Heal = match parse(body) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    match chaos(state, &h.node, ChaosRequest::ClearFaults).await {
        Ok(ChaosReply::FaultsCleared { count }) => {
            tracing::info!(node = %h.node, count, "dashboard: fault rules cleared");
            json_ok(&json!({ "node": h.node, "cleared": count }))
        }
        Ok(other) => unexpected(&other),
        Err(r) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values() {
        let cases = [
            ("admin token", "0123abcdef", true),
            ("jwt", "eyJhbGciOi.eyJzdWIi.c2ln-_", true),
            ("semicolon", "a;b", false),
            ("space", "a b", false),
            ("quote", "a\"b", false),
            ("non-ascii", "é", false),
        ];
        for (name, token, want) in cases {
            assert_eq!(cookie_safe(token), want, "{name}");
        }
    }

    #[test]
    fn cookies_and_queries() {
        let req = actix_web::test::TestRequest::get()
            .uri("/dashboard/?a=1&token=abc")
            .insert_header(("cookie", format!("x=1; {COOKIE}=tok; y=2")))
            .to_http_request();
        assert_eq!(query_token(&req).as_deref(), Some("abc"));
        assert_eq!(cookie_token(&req), Some("tok"));
        let bare = actix_web::test::TestRequest::get()
            .uri("/dashboard/?token=")
            .to_http_request();
        assert_eq!(query_token(&bare), None);
        assert_eq!(cookie_token(&bare), None);
    }

    #[test]
    fn slim_drops_bulk() {
        let o = json!({"metadata": {"name": "a", "managedFields": [1],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "k": "v"}}});
        assert_eq!(
            slim(o),
            json!({"metadata": {"name": "a", "annotations": {"k": "v"}}})
        );
    }

    #[test]
    fn every_watched_resource_is_served() {
        for (group, version, plural) in WATCHED {
            assert!(
                registry::resource(group, version, plural).is_some(),
                "{plural}"
            );
        }
    }
}
