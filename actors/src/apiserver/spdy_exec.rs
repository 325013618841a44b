//! `pods/exec` and `pods/attach` over plain SPDY/3.1 (`X-Stream-Protocol-Version:
//! v4.channel.k8s.io`): what clients before WebSockets speak, and kubectl with
//! `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`.
//!
//! [`super::exec`] checks the request, starts the session on the kubelet and upgrades
//! the connection ([`super::upgrade`] lets it through actix); this module maps SPDY's
//! streams onto the kubelet's channel messages (the same as WebSocket's
//! `channel.k8s.io`). The client opens one stream per channel, each with a
//! `streamType` header: `error`, and as the query asked `stdin`, `stdout`, `stderr` (not
//! with a terminal) and `resize` (with one). Every stream gets its SYN_REPLY at once.
//! Output is held back (in the bus stream's window) until all the streams the query
//! announced are open, for at most [`STREAM_WAIT`]; stdin flows from the start.
//!
//! - stdin's data goes to channel 0, and its FIN closes the command's stdin (the
//!   kubelet's `CLOSE` message);
//! - the resize stream carries JSON sizes one after another (client-go writes each
//!   followed by a newline): each becomes one resize message;
//! - stdout and stderr come back on their streams; the final `Status` on the error
//!   stream; then every stream is finished and the connection ends. A broken bus stream
//!   (the kubelet went away) becomes a failure `Status` on the error stream, so the
//!   client exits with an error instead of waiting.

use std::time::Duration;

use bytes::Bytes;
use rudder_protocol::messages::kubelet::{channel, ExecRequest};
use rudder_protocol::stream::{StreamReader, StreamWriter, MAX_CHUNK};
use tokio::sync::mpsc;

use super::spdy::{self, Codec, Frame};
use super::tunnel::{self, Out};

/// The remote-command protocols served over SPDY, preferred first.
pub const PROTOCOLS: [&str; 1] = ["v4.channel.k8s.io"];

/// How long the client may take to open the streams its query announced.
pub const STREAM_WAIT: Duration = Duration::from_secs(30);

/// Largest pending resize message (a size is a few dozen bytes).
const MAX_RESIZE: usize = 4096;

/// The protocol to speak from the client's `X-Stream-Protocol-Version` values.
pub fn choose(offered: &[String]) -> Option<&'static str> {
    PROTOCOLS
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p))
}

/// Which stream carries which channel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Streams {
    error: Option<u32>,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
}

impl Streams {
    /// Records a stream by its type; false for an unknown type.
    fn add(&mut self, kind: &str, id: u32) -> bool {
        let slot = match kind {
            "error" => &mut self.error,
            "stdin" => &mut self.stdin,
            "stdout" => &mut self.stdout,
            "stderr" => &mut self.stderr,
            "resize" => &mut self.resize,
            _ => return false,
        };
        *slot = Some(id);
        true
    }

    /// True once every stream `req` announced is open.
    fn complete(&self, req: &ExecRequest) -> bool {
        self.error.is_some()
            && (!req.stdin || self.stdin.is_some())
            && (!req.stdout || self.stdout.is_some())
            && (!req.stderr || req.tty || self.stderr.is_some())
            && (!req.tty || self.resize.is_some())
    }

    /// The streams this side writes to (finished at the end).
    fn outputs(&self) -> impl Iterator<Item = u32> {
        [self.stdout, self.stderr, self.error].into_iter().flatten()
    }
}

/// Complete JSON sizes from the resize stream's bytes so far (newline-separated);
/// what remains stays in `buf`.
fn resizes(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(end) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=end).collect();
        let line = line.trim_ascii();
        if !line.is_empty() {
            out.push(line.to_vec());
        }
    }
    out
}

/// Runs an exec or attach session over SPDY to its end (see the module docs).
pub async fn session(
    req: ExecRequest,
    mut writer: StreamWriter,
    mut reader: StreamReader,
    mut from_client: mpsc::Receiver<Bytes>,
    to_client: mpsc::Sender<Out>,
) {
    let (frames, flushed) = tunnel::spdy_writer(to_client.clone());
    let mut codec = Codec::new();
    let mut streams = Streams::default();
    let mut resize_buf = Vec::new();
    let mut stdin_open = true;
    let deadline = tokio::time::Instant::now() + STREAM_WAIT;
    let mut failure: Option<String> = None;
    // What the kubelet sent before the streams were there, by channel.
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut ended = false;
    // The kubelet ended the session before the client opened all its streams.
    let mut kubelet_done = false;
    loop {
        let ready = streams.complete(&req);
        if ready && kubelet_done {
            for m in held.drain(..) {
                send_output(&frames, &streams, m).await;
            }
            break;
        }
        tokio::select! {
            bytes = from_client.recv() => {
                let Some(bytes) = bytes else { break };
                codec.feed(&bytes);
                loop {
                    let frame = match codec.next_frame() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    };
                    match frame {
                        Frame::SynStream { stream, headers, .. } => {
                            let kind = spdy::header(&headers, "streamtype").unwrap_or_default();
                            if streams.add(kind, stream) {
                                let _ = frames.send(Frame::SynReply { stream, fin: false, headers: Vec::new() }).await;
                            } else {
                                let _ = frames.send(Frame::RstStream { stream, status: spdy::RST_REFUSED_STREAM }).await;
                            }
                        }
                        Frame::Data { stream, fin, data } => {
                            if Some(stream) == streams.stdin && stdin_open {
                                for piece in data.chunks(MAX_CHUNK - 1) {
                                    let mut m = Vec::with_capacity(piece.len() + 1);
                                    m.push(channel::STDIN);
                                    m.extend_from_slice(piece);
                                    if writer.send_chunk(m).await.is_err() {
                                        break;
                                    }
                                }
                                if fin {
                                    stdin_open = false;
                                    let _ = writer.send_chunk(vec![channel::CLOSE, channel::STDIN]).await;
                                }
                            } else if Some(stream) == streams.resize {
                                resize_buf.extend_from_slice(&data);
                                for size in resizes(&mut resize_buf) {
                                    let mut m = vec![channel::RESIZE];
                                    m.extend_from_slice(&size);
                                    let _ = writer.send_chunk(m).await;
                                }
                                if resize_buf.len() > MAX_RESIZE {
                                    resize_buf.clear();
                                }
                            }
                        }
                        Frame::RstStream { stream, .. }
                            if Some(stream) == streams.stdin && stdin_open =>
                        {
                            stdin_open = false;
                            let _ = writer.send_chunk(vec![channel::CLOSE, channel::STDIN]).await;
                        }
                        Frame::Ping { id } => {
                            let _ = frames.send(Frame::Ping { id }).await;
                        }
                        Frame::GoAway { .. } => {
                            ended = true;
                            break;
                        }
                        _ => {}
                    }
                }
                if failure.is_some() || ended {
                    break;
                }
            }
            chunk = reader.recv(), if !kubelet_done && (ready || held.len() < 64) => match chunk {
                Ok(Some(msg)) => {
                    if ready {
                        for m in held.drain(..) {
                            send_output(&frames, &streams, m).await;
                        }
                        send_output(&frames, &streams, msg).await;
                    } else {
                        held.push(msg);
                    }
                }
                Ok(None) => {
                    // Flushed (and the session ended) once the client's streams are there.
                    kubelet_done = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "exec stream to the kubelet broke");
                    if let Some(error) = streams.error {
                        let body = super::exec::broken_status(&e.to_string());
                        let _ = frames.send(Frame::Data { stream: error, fin: false, data: body }).await;
                    }
                    break;
                }
            },
            () = tokio::time::sleep_until(deadline), if !ready => {
                failure = Some(format!(
                    "timed out waiting for the client's streams after {}s",
                    STREAM_WAIT.as_secs()
                ));
                break;
            }
        }
    }
    for stream in streams.outputs() {
        let _ = frames
            .send(Frame::Data {
                stream,
                fin: true,
                data: Vec::new(),
            })
            .await;
    }
    if let Some(why) = &failure {
        tracing::debug!(%why, "SPDY exec session failed");
    }
    drop(frames);
    let _ = tokio::time::timeout(tunnel::FLUSH_WAIT, flushed).await;
    // Dropping the halves unfinished resets the stream: the kubelet ends the session.
    drop((writer, reader));
    let _ = to_client.send(Out::Close(failure)).await;
}

/// One kubelet message to its stream (channel byte first); a channel without a stream
/// (stderr with a terminal) is dropped.
async fn send_output(frames: &mpsc::Sender<Frame>, streams: &Streams, msg: Vec<u8>) {
    let Some((&ch, body)) = msg.split_first() else {
        return;
    };
    let stream = match ch {
        channel::STDOUT => streams.stdout,
        channel::STDERR => streams.stderr,
        channel::ERROR => streams.error,
        _ => None,
    };
    let Some(stream) = stream else { return };
    for piece in body.chunks(spdy::MAX_DATA) {
        let _ = frames
            .send(Frame::Data {
                stream,
                fin: false,
                data: piece.to_vec(),
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_complete_as_the_query_announced() {
        let req = |stdin, stdout, stderr, tty| ExecRequest {
            stdin,
            stdout,
            stderr,
            tty,
            ..Default::default()
        };
        let mut s = Streams::default();
        assert!(
            !s.complete(&req(false, true, true, false)),
            "no error stream"
        );
        s.add("error", 1);
        s.add("stdout", 3);
        assert!(
            !s.complete(&req(false, true, true, false)),
            "stderr missing"
        );
        s.add("stderr", 5);
        assert!(s.complete(&req(false, true, true, false)));
        assert!(!s.complete(&req(true, true, false, false)), "stdin missing");
        // A terminal has no stderr but a resize stream.
        let mut t = Streams::default();
        t.add("error", 1);
        t.add("stdin", 3);
        t.add("stdout", 5);
        assert!(!t.complete(&req(true, true, true, true)));
        t.add("resize", 7);
        assert!(t.complete(&req(true, true, true, true)));
        assert!(!t.add("bogus", 9));
    }

    #[test]
    fn resize_messages_split_on_newlines() {
        let mut buf = b"{\"Width\":80,\"Height\":24}\n{\"Width\":1".to_vec();
        assert_eq!(
            resizes(&mut buf),
            vec![b"{\"Width\":80,\"Height\":24}".to_vec()]
        );
        buf.extend_from_slice(b"00,\"Height\":30}\n");
        assert_eq!(
            resizes(&mut buf),
            vec![b"{\"Width\":100,\"Height\":30}".to_vec()]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn protocol_choice() {
        let offered = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            choose(&offered(&["v4.channel.k8s.io", "v3.channel.k8s.io"])),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(choose(&offered(&["channel.k8s.io"])), None);
    }
}
