//! Plain SPDY/3.1 upgrades through actix: the HTTP front only hands over the rest of a
//! connection (as the request's payload) for `Upgrade: websocket` requests. For a
//! `Upgrade: SPDY/3.1` request, Kubernetes' streaming protocol before WebSockets, the
//! rest of the connection would instead be parsed as the next HTTP request.
//!
//! [`Sniff`] wraps each accepted (decrypted) connection and looks at its first request
//! head only: when it asks for `Upgrade: SPDY/3.1`, the header is rewritten to
//! `Upgrade: websocket` with [`SPDY_MARK`]`: SPDY/3.1` beside it, so that actix streams
//! the connection to the handler, which answers `101 Switching Protocols` to SPDY
//! ([`is_spdy`]) and speaks SPDY on the payload and a streaming body. A client-sent
//! [`SPDY_MARK`] header is removed, so only the rewrite can set it. Later requests on a
//! kept-alive connection pass untouched: SPDY clients (client-go) dial a connection of
//! their own for the upgrade.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The header that marks a rewritten SPDY upgrade.
pub const SPDY_MARK: &str = "x-rudder-upgrade";

/// The upgrade token of SPDY/3.1.
pub const SPDY_UPGRADE: &str = "SPDY/3.1";

/// Largest request head looked at; a longer one passes as it is.
const MAX_HEAD: usize = 64 * 1024;

/// True for a request the rewrite marked as a plain SPDY/3.1 upgrade.
pub fn is_spdy(req: &actix_web::HttpRequest) -> bool {
    req.headers()
        .get(SPDY_MARK)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(SPDY_UPGRADE))
}

enum State {
    /// Collecting the first request head.
    Head(Vec<u8>),
    /// Handing out the (rewritten) head and what came with it.
    Replay(Vec<u8>, usize),
    /// Everything else passes through.
    Pass,
}

/// A connection whose first request head is rewritten for SPDY upgrades.
pub struct Sniff<T> {
    inner: T,
    state: State,
}

impl<T> Sniff<T> {
    /// Wraps a fresh connection.
    pub fn new(inner: T) -> Sniff<T> {
        Sniff {
            inner,
            state: State::Head(Vec::new()),
        }
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The request head with a SPDY upgrade turned into a marked WebSocket one (see the
/// module docs); any other head comes back as it was.
pub fn rewrite(head: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(head) else {
        return head.to_vec();
    };
    let name_is = |line: &str, name: &str| {
        line.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
    };
    let value = |line: &str| {
        line.split_once(':')
            .map_or("", |(_, v)| v.trim())
            .to_owned()
    };
    let spdy = text
        .split("\r\n")
        .any(|l| name_is(l, "upgrade") && value(l).eq_ignore_ascii_case(SPDY_UPGRADE));
    let marked = text.split("\r\n").any(|l| name_is(l, SPDY_MARK));
    if !spdy && !marked {
        return head.to_vec();
    }
    let mut kept: Vec<String> = Vec::new();
    for line in text.split("\r\n") {
        if name_is(line, SPDY_MARK) {
            continue;
        }
        if spdy && name_is(line, "upgrade") {
            kept.push("Upgrade: websocket".to_owned());
            kept.push(format!("{SPDY_MARK}: {SPDY_UPGRADE}"));
        } else {
            kept.push(line.to_owned());
        }
    }
    kept.join("\r\n").into_bytes()
}

impl<T: AsyncRead + Unpin> AsyncRead for Sniff<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Pass => return Pin::new(&mut this.inner).poll_read(cx, buf),
                State::Replay(data, pos) => {
                    let n = buf.remaining().min(data.len() - *pos);
                    buf.put_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    if *pos >= data.len() {
                        this.state = State::Pass;
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Head(acc) => {
                    let mut tmp = [0u8; 4096];
                    let mut rb = ReadBuf::new(&mut tmp);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                    let got = rb.filled();
                    if got.is_empty() {
                        // The end of the connection: hand out what there is, then the end.
                        let acc = std::mem::take(acc);
                        this.state = if acc.is_empty() {
                            State::Pass
                        } else {
                            State::Replay(acc, 0)
                        };
                        if matches!(this.state, State::Pass) {
                            return Poll::Ready(Ok(()));
                        }
                        continue;
                    }
                    acc.extend_from_slice(got);
                    if let Some(end) = find(acc, b"\r\n\r\n") {
                        let mut data = rewrite(&acc[..end]);
                        data.extend_from_slice(&acc[end..]);
                        this.state = State::Replay(data, 0);
                    } else if acc.len() > MAX_HEAD {
                        let acc = std::mem::take(acc);
                        this.state = State::Replay(acc, 0);
                    }
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sniff<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[test]
    fn heads_are_rewritten_only_for_spdy() {
        let cases: [(&str, &str, &str); 4] = [
            (
                "spdy upgrade",
                "POST /x HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io",
                "POST /x HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nx-rudder-upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io",
            ),
            (
                "websocket stays",
                "GET /x HTTP/1.1\r\nUpgrade: websocket",
                "GET /x HTTP/1.1\r\nUpgrade: websocket",
            ),
            (
                "a forged mark is removed",
                "GET /x HTTP/1.1\r\nUpgrade: websocket\r\nX-Rudder-Upgrade: SPDY/3.1",
                "GET /x HTTP/1.1\r\nUpgrade: websocket",
            ),
            ("plain", "GET / HTTP/1.1\r\nHost: a", "GET / HTTP/1.1\r\nHost: a"),
        ];
        for (name, head, want) in cases {
            assert_eq!(
                String::from_utf8(rewrite(head.as_bytes())).expect("utf-8"),
                want,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn the_first_head_is_rewritten_and_the_rest_passes() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut sniff = Sniff::new(server);
        let sent = b"POST /p HTTP/1.1\r\nUpgrade: SPDY/3.1\r\n\r\n\x80\x03\x00\x06rest".to_vec();
        let writer = tokio::spawn(async move {
            // In small pieces, as a network delivers them.
            for piece in sent.chunks(7) {
                client.write_all(piece).await.expect("write");
            }
            client
        });
        let mut got = Vec::new();
        let want = b"POST /p HTTP/1.1\r\nUpgrade: websocket\r\nx-rudder-upgrade: SPDY/3.1\r\n\r\n\x80\x03\x00\x06rest";
        while got.len() < want.len() {
            let mut buf = [0u8; 16];
            let n = sniff.read(&mut buf).await.expect("read");
            assert!(n > 0, "ended early: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, want.to_vec());
        drop(writer.await.expect("writer"));
        let mut rest = Vec::new();
        sniff.read_to_end(&mut rest).await.expect("end");
        assert!(rest.is_empty());
    }
}
