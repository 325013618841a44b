//! `pods/exec` and `pods/attach` over WebSocket: what kubectl 1.37 and client libraries
//! speak (`v5.channel.k8s.io`, `v4.channel.k8s.io`).
//!
//! The request has passed authentication and `ApiCore::handle` (verb `create`/`get` on
//! the subresource) in the HTTP front before it gets here. Then, before the upgrade, as
//! Kubernetes does: the pod must exist (404), the container must be one of the pod's
//! (400 `container X is not valid for pod Y`), the pod must not have completed and
//! must be bound, the command and at least one stream must be given, and the client must
//! offer a subprotocol this server speaks (400 naming what it supports; over plain
//! SPDY, `403` when no `X-Stream-Protocol-Version` offered is served, as Kubernetes).
//! A plain `Upgrade: SPDY/3.1` request (marked by [`super::upgrade`]) is served by
//! [`super::spdy_exec`] once the session started.
//!
//! The server then opens a bus stream to the `kubelet` of the pod's node
//! (`KubeletStream::Exec`/`Attach`) and waits for its first message: a refusal (the
//! container is not running) becomes the HTTP answer; `Ready` upgrades the connection
//! and relays. WebSocket binary messages and bus chunks have the same shape (channel
//! byte, then data), so the relay copies them across: stdin, resize and (v5) close to
//! the kubelet; stdout, stderr and the final `Status` on channel 3 to the client, then
//! a normal close. A broken stream (the kubelet killed, the link down) ends the session
//! with a `Status` failure on channel 3: the client exits with an error, never hangs.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use rudder_protocol::messages::kubelet::{channel, ExecRequest, ExecStart, KubeletStream};
use rudder_protocol::messages::StreamOpen;
use rudder_protocol::resources::Status;
use rudder_protocol::stream::{StreamReader, StreamWriter, MAX_CHUNK};
use serde_json::{json, Value};

use super::core::ApiCore;

/// The subprotocols served, preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// How long the kubelet may take to take the stream and start the session.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest WebSocket frame accepted from the client.
const MAX_CLIENT_FRAME: usize = 1024 * 1024;

/// The request's body, kept aside by the upgrade route for the WebSocket.
pub struct UpgradePayload(pub std::cell::RefCell<Option<actix_web::web::Payload>>);

/// Which connect subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pods/exec`.
    Exec,
    /// `pods/attach`.
    Attach,
}

impl Kind {
    /// The subresource of `sub`, if it is one of these.
    pub fn of(sub: &str) -> Option<Kind> {
        match sub {
            "exec" => Some(Kind::Exec),
            "attach" => Some(Kind::Attach),
            _ => None,
        }
    }
}

/// A Kubernetes `Status` failure as the HTTP answer.
pub(super) fn failure(code: u16, reason: &str, message: impl Into<String>) -> HttpResponse {
    let s = Status::failure(i32::from(code), reason, message);
    let mut body = serde_json::to_vec(&s).unwrap_or_default();
    body.push(b'\n');
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST))
        .content_type("application/json")
        .body(body)
}

fn bad_request(message: impl Into<String>) -> HttpResponse {
    failure(400, "BadRequest", message)
}

fn flag(q: &[(String, String)], k: &str) -> bool {
    q.iter()
        .any(|(key, v)| key == k && (v == "true" || v == "1"))
}

/// The subprotocol to speak, from the client's offer.
pub fn choose_protocol(offered: &str) -> Option<&'static str> {
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    PROTOCOLS.into_iter().find(|p| offered.contains(p))
}

/// Serves an upgrade request for `pods/<name>/exec` or `attach` (see the module docs).
pub async fn serve(
    req: &HttpRequest,
    core: &ApiCore,
    pod: Value,
    ns: &str,
    name: &str,
    kind: Kind,
    q: &[(String, String)],
) -> HttpResponse {
    let upgrade = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let spdy = super::upgrade::is_spdy(req);
    if upgrade != "websocket" {
        return bad_request(format!(
            "upgrade to {upgrade:?} is not supported: this server speaks WebSocket ({}) and SPDY/3.1",
            PROTOCOLS.join(", ")
        ));
    }
    let offered = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let chosen = if spdy {
        let offered: Vec<String> = req
            .headers()
            .get_all("x-stream-protocol-version")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
            .collect();
        match super::spdy_exec::choose(&offered) {
            Some(p) => Some(p),
            None => {
                return failure(
                    403,
                    "Forbidden",
                    format!(
                        "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {:?}",
                        super::spdy_exec::PROTOCOLS
                    ),
                )
            }
        }
    } else {
        choose_protocol(&offered)
    };
    let Some(protocol) = chosen else {
        return bad_request(format!(
            "requested protocol(s) are not supported: [{}]; supports [{}]",
            offered
                .split(',')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" "),
            PROTOCOLS.join(" ")
        ));
    };
    let exec = match exec_request(&pod, ns, name, kind, q) {
        Ok(e) => e,
        Err(message) => return bad_request(message),
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if node.is_empty() {
        return bad_request(format!("pod {name} does not have a host assigned"));
    }
    let exec_copy = exec.clone();
    let open = StreamOpen::Kubelet(match kind {
        Kind::Exec => KubeletStream::Exec(exec),
        Kind::Attach => KubeletStream::Attach(exec),
    });
    let to = rudder_protocol::ActorRef::new(node, crate::kubelet::NAME);
    let (writer, mut reader) = match core.bus().open_stream(to, open, START_TIMEOUT).await {
        Ok(halves) => halves,
        Err(e) => return failure(500, "InternalError", format!("error dialing backend: {e}")),
    };
    let first = match tokio::time::timeout(START_TIMEOUT, reader.recv()).await {
        Ok(Ok(Some(bytes))) => rudder_protocol::codec::decode::<ExecStart>(&bytes).ok(),
        _ => None,
    };
    match first {
        Some(ExecStart::Ready) => {}
        Some(ExecStart::Refused { code, message }) => {
            let reason = match code {
                404 => "NotFound",
                400 => "BadRequest",
                503 => "ServiceUnavailable",
                _ => "InternalError",
            };
            return failure(code, reason, message);
        }
        None => {
            return failure(
                500,
                "InternalError",
                "the kubelet did not start the session",
            )
        }
    }
    let payload = req
        .extensions()
        .get::<UpgradePayload>()
        .and_then(|p| p.0.borrow_mut().take());
    let Some(payload) = payload else {
        return failure(500, "InternalError", "the connection cannot be upgraded");
    };
    if spdy {
        let (to_client, from_client, response) = super::tunnel::raw(
            payload,
            super::upgrade::SPDY_UPGRADE,
            &[("X-Stream-Protocol-Version", protocol)],
        );
        actix_web::rt::spawn(super::spdy_exec::session(
            exec_copy,
            writer,
            reader,
            from_client,
            to_client,
        ));
        return response;
    }
    let (mut response, session, messages) = match actix_ws::handle(req, payload) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("unable to upgrade connection: {e}")),
    };
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(protocol) {
        response
            .headers_mut()
            .insert(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    let messages = messages.max_frame_size(MAX_CLIENT_FRAME);
    actix_web::rt::spawn(relay(session, messages, writer, reader));
    response
}

/// The kubelet's request from the query, checked against the pod; the message of a
/// `400 Bad Request` otherwise.
pub(super) fn exec_request(
    pod: &Value,
    ns: &str,
    name: &str,
    kind: Kind,
    q: &[(String, String)],
) -> Result<ExecRequest, String> {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if matches!(phase, "Succeeded" | "Failed") {
        let what = match kind {
            Kind::Exec => "exec into",
            Kind::Attach => "attach to",
        };
        return Err(format!(
            "cannot {what} a container in a completed pod; current phase is {phase}"
        ));
    }
    let names = |field: &str| -> Vec<String> {
        pod.pointer(field)
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("/spec/containers");
    let mut known = containers.clone();
    known.extend(names("/spec/initContainers"));
    let container = q
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone())
        .filter(|c| !c.is_empty());
    let container = match container {
        Some(c) if known.contains(&c) => c,
        Some(c) => return Err(format!("container {c} is not valid for pod {name}")),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            ))
        }
    };
    let command: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let r = ExecRequest {
        namespace: ns.to_owned(),
        pod: name.to_owned(),
        container,
        command,
        stdin: flag(q, "stdin"),
        stdout: flag(q, "stdout"),
        stderr: flag(q, "stderr"),
        tty: flag(q, "tty"),
    };
    if kind == Kind::Exec && r.command.is_empty() {
        return Err("you must specify at least one command for the container".into());
    }
    if !(r.stdin || r.stdout || r.stderr) {
        return Err("you must specify at least 1 of stdin, stdout, stderr".into());
    }
    if r.tty && r.stderr {
        // As Kubernetes: a terminal has one output stream.
        return Ok(ExecRequest { stderr: false, ..r });
    }
    Ok(r)
}

/// Copies between the WebSocket and the bus stream until the session ends.
async fn relay(
    mut session: actix_ws::Session,
    mut messages: actix_ws::MessageStream,
    mut writer: StreamWriter,
    mut reader: StreamReader,
) {
    loop {
        tokio::select! {
            chunk = reader.recv() => match chunk {
                Ok(Some(chunk)) => {
                    if session.binary(chunk).await.is_err() {
                        break;
                    }
                }
                Ok(None) => {
                    let _ = session.close(Some(actix_ws::CloseCode::Normal.into())).await;
                    return;
                }
                Err(e) => {
                    let mut msg = vec![channel::ERROR];
                    msg.extend_from_slice(&broken_status(&e.to_string()));
                    let _ = session.binary(msg).await;
                    tracing::warn!(error = %e, "exec stream to the kubelet broke");
                    let reason = actix_ws::CloseReason {
                        code: actix_ws::CloseCode::Error,
                        description: Some(e.to_string()),
                    };
                    let _ = session.close(Some(reason)).await;
                    return;
                }
            },
            msg = messages.recv() => match msg {
                Some(Ok(actix_ws::Message::Binary(data))) => {
                    if forward(&mut writer, &data).await.is_err() {
                        break;
                    }
                }
                Some(Ok(actix_ws::Message::Ping(p))) => {
                    if session.pong(&p).await.is_err() {
                        break;
                    }
                }
                // The client went away: the session ends with it.
                Some(Ok(actix_ws::Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // Dropping the halves unfinished resets the stream: the kubelet drops the session.
    drop((writer, reader));
    let _ = session.close(None).await;
}

/// One client message to the kubelet, split to the stream's chunk size with its channel
/// byte on every piece.
async fn forward(writer: &mut StreamWriter, data: &[u8]) -> Result<(), rudder_protocol::BusError> {
    let Some((&ch, body)) = data.split_first() else {
        return Ok(());
    };
    if body.len() < MAX_CHUNK {
        return writer.send_chunk(data.to_vec()).await;
    }
    for piece in body.chunks(MAX_CHUNK - 1) {
        let mut msg = Vec::with_capacity(piece.len() + 1);
        msg.push(ch);
        msg.extend_from_slice(piece);
        writer.send_chunk(msg).await?;
    }
    Ok(())
}

/// The `Status` sent when the stream to the kubelet broke mid-session.
pub(super) fn broken_status(why: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("error: the session to the container ended: {why}"),
        "reason": "InternalError",
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_choice() {
        let cases = [
            (
                "kubectl 1.37",
                "v5.channel.k8s.io, v4.channel.k8s.io",
                Some("v5.channel.k8s.io"),
            ),
            ("v4 only", "v4.channel.k8s.io", Some("v4.channel.k8s.io")),
            ("old", "channel.k8s.io, base64.channel.k8s.io", None),
            ("none", "", None),
        ];
        for (name, offered, want) in cases {
            assert_eq!(choose_protocol(offered), want, "{name}");
        }
    }
}
