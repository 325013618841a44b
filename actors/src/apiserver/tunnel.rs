//! Byte transports for the streaming subresources, so that a session (SPDY for
//! port-forward and exec, channels for port-forward) is written once over two channels
//! whatever carries it: what the client sent (a receiver of byte chunks, closed when the
//! client goes away) and what to send it ([`Out`]).
//!
//! - [`websocket`]: the payloads of a WebSocket's binary messages (fragments included:
//!   boundaries mean nothing to a byte stream); pings are answered here. What is sent
//!   is framed here too, so that a message's payload reaches the HTTP writer as it is.
//! - [`raw`]: an upgraded connection's own bytes (plain `Upgrade: SPDY/3.1`, see
//!   [`super::upgrade`]): the request payload in, a streaming `101` body out.
//! - [`spdy_writer`]: encodes SPDY frames in order (header compression is one context
//!   per connection) and batches those already queued into one write.

use std::collections::VecDeque;

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
    /// One binary message made of these parts in order, written without joining them
    /// (so that a large payload is not copied on its way).
    Parts(Vec<Bytes>),
    /// The session is over; on a WebSocket, the close reason when it failed.
    Close(Option<String>),
}

/// WebSocket opcodes (RFC 6455, 5.2) of the frames this server writes.
const WS_BINARY: u8 = 0x2;
const WS_CLOSE: u8 = 0x8;
const WS_PONG: u8 = 0xA;

/// Most payload bytes of a WebSocket control frame (RFC 6455, 5.5).
const WS_MAX_CONTROL: usize = 125;

/// The head of an unmasked, final WebSocket frame (server to client) with `opcode` and
/// `len` bytes of payload (RFC 6455, 5.2).
fn ws_head(opcode: u8, len: usize) -> Vec<u8> {
    let mut head = Vec::with_capacity(10);
    head.push(0x80 | opcode);
    match len {
        0..=125 => head.push(len as u8),
        126..=0xffff => {
            head.push(126);
            head.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            head.push(127);
            head.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    head
}

/// A whole control frame; a payload longer than a control frame may carry is cut.
fn ws_control(opcode: u8, payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(WS_MAX_CONTROL)];
    let mut frame = ws_head(opcode, payload.len());
    frame.extend_from_slice(payload);
    Bytes::from(frame)
}

/// A close frame: normal, or an error with `why` (cut to fit, on a character boundary).
fn ws_close(why: Option<&str>) -> Bytes {
    let (code, mut reason) = match why {
        Some(why) => (actix_ws::CloseCode::Error, why),
        None => (actix_ws::CloseCode::Normal, ""),
    };
    while reason.len() > WS_MAX_CONTROL - 2 {
        let mut end = WS_MAX_CONTROL - 2;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason = &reason[..end];
    }
    let mut payload = u16::from(code).to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    ws_control(WS_CLOSE, &payload)
}

/// The parts that carry bytes: an empty chunk would end an HTTP body.
fn non_empty(parts: Vec<Bytes>) -> VecDeque<Bytes> {
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// What the body of a WebSocket answer has yet to send.
struct WsBody {
    /// The session's messages.
    out: mpsc::Receiver<Out>,
    /// Pongs from the reader, until it ends.
    pongs: Option<mpsc::Receiver<Bytes>>,
    /// The rest of the message whose head went out last.
    parts: VecDeque<Bytes>,
    /// The close frame went out.
    closed: bool,
}

impl WsBody {
    /// The next chunk of the body, `None` after the close frame.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(p) = self.parts.pop_front() {
            return Some(p);
        }
        if self.closed {
            return None;
        }
        loop {
            let out = match self.pongs.as_mut() {
                Some(pongs) => tokio::select! {
                    out = self.out.recv() => out,
                    ping = pongs.recv() => {
                        match ping {
                            Some(p) => return Some(ws_control(WS_PONG, &p)),
                            None => self.pongs = None,
                        }
                        continue;
                    }
                },
                None => self.out.recv().await,
            };
            return Some(match out {
                Some(Out::Binary(b)) => {
                    let head = Bytes::from(ws_head(WS_BINARY, b.len()));
                    self.parts = non_empty(vec![Bytes::from(b)]);
                    head
                }
                Some(Out::Parts(parts)) => {
                    let len = parts.iter().map(Bytes::len).sum();
                    self.parts = non_empty(parts);
                    Bytes::from(ws_head(WS_BINARY, len))
                }
                Some(Out::Close(why)) => {
                    self.closed = true;
                    ws_close(why.as_deref())
                }
                // The session ended without a word: a normal close.
                None => {
                    self.closed = true;
                    ws_close(None)
                }
            });
        }
    }
}

/// The two channels of a WebSocket session (see the module docs) and the answer to
/// send: `response` is `actix_ws::handle`'s `101`, whose body becomes the frames written
/// here. A binary message goes out as its head, then its payload as it is: the HTTP
/// writer copies it once, into its buffer (a WebSocket encoder would copy it before
/// that once more). Pings are answered here.
pub fn websocket(
    response: HttpResponse,
    mut messages: actix_ws::MessageStream,
) -> (mpsc::Sender<Out>, mpsc::Receiver<Bytes>, HttpResponse) {
    let (out_tx, out_rx) = mpsc::channel::<Out>(OUT_QUEUE);
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(IN_QUEUE);
    let (pong_tx, pong_rx) = mpsc::channel::<Bytes>(IN_QUEUE);
    actix_web::rt::spawn(async move {
        while let Some(msg) = messages.recv().await {
            use actix_ws::{Item, Message as M};
            let data = match msg {
                Ok(M::Binary(b)) => b,
                Ok(M::Continuation(Item::FirstBinary(b) | Item::Continue(b) | Item::Last(b))) => b,
                Ok(M::Ping(p)) => {
                    if pong_tx.send(p).await.is_err() {
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
    let body = WsBody {
        out: out_rx,
        pongs: Some(pong_rx),
        parts: VecDeque::new(),
        closed: false,
    };
    let body = futures::stream::unfold(body, |mut body| async move {
        let chunk = body.next().await?;
        Some((Ok::<_, actix_web::Error>(chunk), body))
    });
    let response = response
        .set_body(actix_web::body::BodyStream::new(body))
        .map_into_boxed_body();
    (out_tx, in_rx, response)
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
    // The state: the channel, and the parts of a message still to write.
    let body = futures::stream::unfold(
        (out_rx, VecDeque::new()),
        |(mut rx, mut parts)| async move {
            loop {
                if let Some(p) = parts.pop_front() {
                    return Some((Ok::<_, actix_web::Error>(p), (rx, parts)));
                }
                parts = match rx.recv().await {
                    Some(Out::Binary(b)) => non_empty(vec![Bytes::from(b)]),
                    Some(Out::Parts(p)) => non_empty(p),
                    // The end of the body ends the connection.
                    Some(Out::Close(_)) | None => return None,
                };
            }
        },
    );
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
///
/// Frames queued together go out as one message. The payload of a large data frame is
/// not copied into it: the message is made of parts, and the payload is one of them.
pub fn spdy_writer(
    to_client: mpsc::Sender<Out>,
) -> (mpsc::Sender<Frame>, actix_web::rt::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Frame>(OUT_QUEUE);
    let flushed = actix_web::rt::spawn(async move {
        let mut codec = Codec::new();
        while let Some(first) = rx.recv().await {
            // Whole parts, then the bytes encoded since the last of them.
            let mut parts: Vec<Bytes> = Vec::new();
            let mut batch: Vec<u8> = Vec::new();
            let mut total = 0;
            let mut next = Some(first);
            while let Some(f) = next.take() {
                let before = batch.len();
                match f {
                    Frame::Data { stream, fin, data } if data.len() >= SPLICE_MIN => {
                        total += data.len();
                        let data = Bytes::from(data);
                        for (range, fin) in spdy::data_pieces(data.len(), fin) {
                            spdy::data_head(stream, fin, range.len(), &mut batch);
                            parts.push(Bytes::from(std::mem::take(&mut batch)));
                            parts.push(data.slice(range));
                        }
                    }
                    other => {
                        if let Err(e) = codec.encode_into(&other, &mut batch) {
                            tracing::warn!(error = %e, "a SPDY frame could not be encoded");
                            let _ = to_client.send(Out::Close(Some(e.to_string()))).await;
                            return;
                        }
                        total += batch.len() - before;
                    }
                }
                if total < spdy::MAX_DATA {
                    next = rx.try_recv().ok();
                }
            }
            let out = if parts.is_empty() {
                Out::Binary(batch)
            } else {
                if !batch.is_empty() {
                    parts.push(Bytes::from(batch));
                }
                Out::Parts(parts)
            };
            if to_client.send(out).await.is_err() {
                return;
            }
        }
    });
    (tx, flushed)
}

/// A data frame's payload at least this large is sent as a part of its own rather than
/// copied into the message with the frames around it.
const SPLICE_MIN: usize = 16 * 1024;

/// How long a closing session waits for its frames to reach the client's writer.
pub const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_heads_by_length() {
        // RFC 6455, 5.7: a 256-byte and a 64 KiB binary message, unmasked.
        let cases: [(&str, usize, &[u8]); 5] = [
            ("empty", 0, &[0x82, 0x00]),
            ("last short length", 125, &[0x82, 125]),
            ("256 bytes", 256, &[0x82, 0x7E, 0x01, 0x00]),
            ("last 16-bit length", 65_535, &[0x82, 0x7E, 0xFF, 0xFF]),
            (
                "64 KiB",
                65_536,
                &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00],
            ),
        ];
        for (name, len, want) in cases {
            assert_eq!(ws_head(WS_BINARY, len), want, "{name}");
        }
    }

    #[test]
    fn close_frames_fit_a_control_frame() {
        assert_eq!(&ws_close(None)[..], &[0x88, 0x02, 0x03, 0xE8]);
        let long = "é".repeat(100);
        let frame = ws_close(Some(&long));
        assert_eq!(frame[0], 0x88);
        let len = usize::from(frame[1]);
        assert!(len <= WS_MAX_CONTROL, "{len}");
        assert_eq!(&frame[2..4], &1011u16.to_be_bytes());
        assert!(
            std::str::from_utf8(&frame[4..]).is_ok(),
            "cut on a boundary"
        );
    }
}
