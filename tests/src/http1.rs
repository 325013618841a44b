//! A minimal HTTP/1.1 keep-alive client, for benchmarks that talk to plain-HTTP JSON
//! services on loopback (etcd's gateway in `bench-store` and the footprint benchmarks).

use anyhow::{bail, ensure, Context as _};
use tokio::io::BufReader;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Largest response body accepted (a bound, not a tuning knob).
const MAX_HTTP_BODY: usize = 16 << 20;

/// One HTTP/1.1 connection, reopened after an error, a cancelled request or a
/// `Connection: close` (the stream is taken out for each request and only put back
/// when the request completed cleanly).
pub struct HttpConn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
    line: String,
}

impl HttpConn {
    /// Connects to `addr`.
    pub async fn connect(addr: &str) -> anyhow::Result<HttpConn> {
        Ok(HttpConn {
            addr: addr.to_owned(),
            stream: Some(Self::dial(addr).await?),
            line: String::new(),
        })
    }

    async fn dial(addr: &str) -> anyhow::Result<BufReader<TcpStream>> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        s.set_nodelay(true)?;
        Ok(BufReader::with_capacity(16 * 1024, s))
    }

    /// `GET path`: the status and body.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        self.request("GET", path, None).await
    }

    /// `POST path` with a JSON body: the status and body.
    pub async fn post(&mut self, path: &str, body: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        self.request("POST", path, Some(body)).await
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut stream = match self.stream.take() {
            Some(s) => s,
            None => Self::dial(&self.addr).await?,
        };
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(b) = body {
            req.push_str("Content-Type: application/json\r\n");
            req.push_str(&format!("Content-Length: {}\r\n\r\n", b.len()));
            req.push_str(b);
        } else {
            req.push_str("\r\n");
        }
        let outcome = async {
            stream.get_mut().write_all(req.as_bytes()).await?;
            read_response(&mut stream, &mut self.line).await
        }
        .await;
        match outcome {
            Ok(resp) => {
                if !resp.close {
                    self.stream = Some(stream);
                }
                Ok((resp.status, resp.body))
            }
            Err(e) => Err(e.context(format!("{method} {path} on {}", self.addr))),
        }
    }
}

struct Response {
    status: u16,
    body: Vec<u8>,
    /// The server will close the connection (or already did).
    close: bool,
}

/// Reads one HTTP/1.1 response: status line, headers, and a body delimited by
/// `Content-Length`, chunked encoding, or the end of the connection.
async fn read_response<R: AsyncBufRead + Unpin>(
    r: &mut R,
    line: &mut String,
) -> anyhow::Result<Response> {
    async fn next_line<R: AsyncBufRead + Unpin>(
        r: &mut R,
        line: &mut String,
    ) -> anyhow::Result<()> {
        line.clear();
        let n = r.read_line(line).await?;
        ensure!(n > 0, "connection closed mid-response");
        ensure!(line.len() <= 64 * 1024, "header line too long");
        Ok(())
    }

    next_line(r, line).await?;
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    ensure!(
        version.starts_with("HTTP/1."),
        "not an HTTP/1 response: {:?}",
        line.trim_end()
    );
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {:?}", line.trim_end()))?;
    let mut close = version == "HTTP/1.0";
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        next_line(r, line).await?;
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            bail!("bad header line {h:?}");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .with_context(|| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            next_line(r, line).await?;
            let size = line.trim_end().split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .with_context(|| format!("bad chunk size {size:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    next_line(r, line).await?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            ensure!(
                body.len() + size <= MAX_HTTP_BODY,
                "response body too large"
            );
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).await?;
            ensure!(&crlf == b"\r\n", "chunk not followed by CRLF");
        }
    } else if let Some(len) = length {
        ensure!(len <= MAX_HTTP_BODY, "response body too large");
        body.resize(len, 0);
        r.read_exact(&mut body).await?;
    } else if !(status < 200 || status == 204 || status == 304) {
        // No length: the body runs to the end of the connection.
        (&mut *r)
            .take(MAX_HTTP_BODY as u64)
            .read_to_end(&mut body)
            .await?;
        close = true;
    }
    Ok(Response {
        status,
        body,
        close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http_responses_parse() -> anyhow::Result<()> {
        let mut line = String::new();
        let cases: &[(&str, &[u8], u16, &str, bool)] = &[
            (
                "content-length, keep-alive",
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                200,
                "{}",
                false,
            ),
            (
                "chunked with trailer",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
                200,
                "abcde",
                false,
            ),
            (
                "connection close",
                b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy",
                503,
                "busy",
                true,
            ),
            (
                "body to end of stream",
                b"HTTP/1.1 200 OK\r\n\r\nrest",
                200,
                "rest",
                true,
            ),
        ];
        for (name, wire, status, body, close) in cases {
            let mut r: &[u8] = wire;
            let resp = read_response(&mut r, &mut line).await?;
            assert_eq!(resp.status, *status, "{name}");
            assert_eq!(String::from_utf8_lossy(&resp.body), *body, "{name}");
            assert_eq!(resp.close, *close, "{name}");
        }
        let mut truncated: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab";
        assert!(read_response(&mut truncated, &mut line).await.is_err());
        Ok(())
    }
}
