//! Byte transports for the streaming subresources, so that a session (SPDY for
//! port-forward and exec, channels for port-forward) is written once over two channels
//! whatever carries it: what the client sent (a receiver of byte chunks, closed when the
//! client goes away) and what to send it ([`Out`]).
//!
//! - [`websocket`]: the payloads of a WebSocket's binary messages (fragments included:
//!   boundaries mean nothing to a byte stream); pings are answered here.
//! - [`raw`]: an upgraded connection's own bytes (plain `Upgrade: SPDY/3.1`, see
//!   [`super::upgrade`]): the request payload in, a streaming `101` body out.
//! - [`spdy_writer`]: encodes SPDY frames in order (header compression is one context
//!   per connection) and batches those already queued into one write.

use actix_web::HttpResponse;
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc;

use super::spdy::{self, Codec, Frame};

/// Chunks queued towards the client before senders wait.
pub const OUT_QUEUE: usize = 64;

/// Chunks queued from the client before its reader waits.
pub const IN_QUEUE: usize = 16;

/// Something for the client.
#[derive(Debug)]
pub enum Out {
    /// Bytes (one binary message on a WebSocket).
    Binary(Vec<u8>),
    /// The session is over; on a WebSocket, the close reason when it failed.
    Close(Option<String>),
}

/// The two channels of a WebSocket session (see the module docs).
pub fn websocket(
    mut session: actix_ws::Session,
    mut messages: actix_ws::MessageStream,
) -> (mpsc::Sender<Out>, mpsc::Receiver<Bytes>) {
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(OUT_QUEUE);
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(IN_QUEUE);
    let mut pong = session.clone();
    actix_web::rt::spawn(async move {
        while let Some(msg) = messages.recv().await {
            use actix_ws::{Item, Message as M};
            let data = match msg {
                Ok(M::Binary(b)) => b,
                Ok(M::Continuation(Item::FirstBinary(b) | Item::Continue(b) | Item::Last(b))) => b,
                Ok(M::Ping(p)) => {
                    if pong.pong(&p).await.is_err() {
                        break;
                    }
                    continue;
                }
                Ok(M::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            if in_tx.send(data).await.is_err() {
                break;
            }
        }
    });
    actix_web::rt::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                Out::Binary(b) => {
                    if session.binary(b).await.is_err() {
                        return;
                    }
                }
                Out::Close(why) => {
                    let reason = match why {
                        Some(d) => actix_ws::CloseReason {
                            code: actix_ws::CloseCode::Error,
                            description: Some(d),
                        },
                        None => actix_ws::CloseCode::Normal.into(),
                    };
                    let _ = session.close(Some(reason)).await;
                    return;
                }
            }
        }
        let _ = session
            .close(Some(actix_ws::CloseCode::Normal.into()))
            .await;
    });
    (out_tx, in_rx)
}

/// The two channels of a raw upgraded connection, and the `101 Switching Protocols`
/// answer (to `upgrade`, with `headers`) whose body carries what is sent.
pub fn raw(
    mut payload: actix_web::web::Payload,
    upgrade: &str,
    headers: &[(&str, &str)],
) -> (mpsc::Sender<Out>, mpsc::Receiver<Bytes>, HttpResponse) {
    let (out_tx, out_rx) = mpsc::channel::<Out>(OUT_QUEUE);
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(IN_QUEUE);
    actix_web::rt::spawn(async move {
        while let Some(Ok(chunk)) = payload.next().await {
            if in_tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    let body = futures::stream::unfold(out_rx, |mut rx| async move {
        match rx.recv().await {
            Some(Out::Binary(b)) => Some((Ok::<_, actix_web::Error>(Bytes::from(b)), rx)),
            // The end of the body ends the connection.
            Some(Out::Close(_)) | None => None,
        }
    });
    let mut response = HttpResponse::SwitchingProtocols();
    response.upgrade(upgrade.to_owned());
    for (k, v) in headers {
        response.insert_header((*k, *v));
    }
    (out_tx, in_rx, response.streaming(body))
}

/// A sender of SPDY frames to the client (see the module docs); a frame that cannot be
/// encoded ends the session. The handle finishes once every sender is dropped and the
/// frames sent are with the client's writer: a session awaits it before it closes the
/// connection, or its last frames (an exit status) could be overtaken by the close.
pub fn spdy_writer(
    to_client: mpsc::Sender<Out>,
) -> (mpsc::Sender<Frame>, actix_web::rt::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Frame>(OUT_QUEUE);
    let flushed = actix_web::rt::spawn(async move {
        let mut codec = Codec::new();
        while let Some(first) = rx.recv().await {
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(f) = next.take() {
                match codec.encode(&f) {
                    Ok(b) => batch.extend(b),
                    Err(e) => {
                        tracing::warn!(error = %e, "a SPDY frame could not be encoded");
                        let _ = to_client.send(Out::Close(Some(e.to_string()))).await;
                        return;
                    }
                }
                if batch.len() < spdy::MAX_DATA {
                    next = rx.try_recv().ok();
                }
            }
            if to_client.send(Out::Binary(batch)).await.is_err() {
                return;
            }
        }
    });
    (tx, flushed)
}

/// How long a closing session waits for its frames to reach the client's writer.
pub const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
