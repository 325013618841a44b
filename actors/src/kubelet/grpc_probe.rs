//! The gRPC probe: one call of the standard health service,
//! `grpc.health.v1.Health/Check`, over cleartext HTTP/2 (prior knowledge), written out
//! by hand since a probe needs a single unary call and no crate for HTTP/2 is in the
//! build.
//!
//! The client sends the connection preface, an empty SETTINGS frame, one HEADERS frame
//! (HPACK literals without Huffman coding, which every decoder reads) and one DATA frame
//! with the `HealthCheckRequest { service }` message, then reads frames until its stream
//! ends: SETTINGS are acknowledged, PINGs answered, DATA collected; headers are not
//! decoded (no HPACK table is kept), so an answer without a message (a Trailers-Only
//! error such as an unknown service) is a failure. `status: SERVING` (1) is healthy,
//! anything else is not, with Kubernetes' messages.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The HTTP/2 client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frame types.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
/// Flags.
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// The one stream a probe opens.
const STREAM: u32 = 1;
/// The most a response may hold before the probe gives up on it.
const MAX_RESPONSE: usize = 64 * 1024;
/// `HealthCheckResponse.ServingStatus` names.
const STATUS_NAMES: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// One HTTP/2 frame header plus payload, as bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// An HPACK "literal header field without indexing, new name", no Huffman coding.
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// The header block of the health check call to `authority`.
pub fn request_headers(authority: &str) -> Vec<u8> {
    let mut block = Vec::new();
    hpack_literal(&mut block, ":method", "POST");
    hpack_literal(&mut block, ":scheme", "http");
    hpack_literal(&mut block, ":path", "/grpc.health.v1.Health/Check");
    hpack_literal(&mut block, ":authority", authority);
    hpack_literal(&mut block, "content-type", "application/grpc");
    hpack_literal(&mut block, "te", "trailers");
    hpack_literal(&mut block, "user-agent", "rudder-probe/1");
    block
}

/// A gRPC length-prefixed message holding `HealthCheckRequest { service }`.
pub fn request_message(service: &str) -> Vec<u8> {
    let mut proto = Vec::new();
    if !service.is_empty() {
        proto.push(0x0a); // field 1, length-delimited
        let mut len = Vec::new();
        varint(&mut len, service.len() as u64);
        proto.extend_from_slice(&len);
        proto.extend_from_slice(service.as_bytes());
    }
    grpc_message(&proto)
}

/// `payload` with gRPC's message prefix (not compressed, length).
pub fn grpc_message(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The `status` field of a `HealthCheckResponse` in the gRPC message `data` (0 when
/// absent, as protobuf defaults it); `None` when `data` is not such a message.
pub fn response_status(data: &[u8]) -> Option<u64> {
    if data.len() < 5 || data[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let mut msg = data.get(5..5 + len)?;
    let mut status = 0;
    while let Some((&key, rest)) = msg.split_first() {
        let (value, rest) = read_varint(rest)?;
        match key {
            0x08 => status = value,
            // Skip other varint fields; anything else is not understood.
            k if k & 0x7 == 0 => {}
            _ => return None,
        }
        msg = rest;
    }
    Some(status)
}

fn read_varint(mut data: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = data.split_first()?;
        data = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value, data));
        }
    }
    None
}

async fn read_frame(stream: &mut TcpStream) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    if len > MAX_RESPONSE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "HTTP/2 frame too large",
        ));
    }
    let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok((head[3], head[4], id, payload))
}

/// Why a call ended without a message.
enum CallError {
    Io(std::io::Error),
    Refused(String),
}

impl From<std::io::Error> for CallError {
    fn from(e: std::io::Error) -> Self {
        CallError::Io(e)
    }
}

/// Calls `Check` for `service` at `addr`; the DATA of the response stream.
async fn call(
    stream: &mut TcpStream,
    authority: &str,
    service: &str,
) -> Result<Vec<u8>, CallError> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(
        HEADERS,
        END_HEADERS,
        STREAM,
        &request_headers(authority),
    ));
    out.extend(frame(DATA, END_STREAM, STREAM, &request_message(service)));
    stream.write_all(&out).await?;
    let mut data = Vec::new();
    loop {
        let (kind, flags, id, payload) = read_frame(stream).await?;
        match kind {
            SETTINGS if flags & ACK == 0 => stream.write_all(&frame(SETTINGS, ACK, 0, &[])).await?,
            PING if flags & ACK == 0 => stream.write_all(&frame(PING, ACK, 0, &payload)).await?,
            GOAWAY => {
                return Err(CallError::Refused(
                    "the server closed the connection".into(),
                ))
            }
            RST_STREAM if id == STREAM => {
                return Err(CallError::Refused("the server reset the stream".into()))
            }
            DATA if id == STREAM => {
                // Padded frames carry their pad length first.
                let body = if flags & 0x8 != 0 {
                    let pad = *payload.first().unwrap_or(&0) as usize;
                    payload
                        .get(1..payload.len().saturating_sub(pad))
                        .unwrap_or(&[])
                } else {
                    &payload[..]
                };
                data.extend_from_slice(body);
                if data.len() > MAX_RESPONSE {
                    return Err(CallError::Refused("response too large".into()));
                }
                if flags & END_STREAM != 0 {
                    return Ok(data);
                }
            }
            HEADERS if id == STREAM && flags & END_STREAM != 0 => return Ok(data),
            _ => {}
        }
    }
}

/// One gRPC health check of `service` at `host:port` within `timeout` (see the module
/// docs).
pub async fn check(host: &str, port: u16, service: &str, timeout: Duration) -> Result<(), String> {
    let addr = format!("{host}:{port}");
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(format!(
                "failed to connect service \"{addr}\" within {}s: {e}",
                timeout.as_secs()
            ))
        }
        Err(_) => {
            return Err(format!(
                "failed to connect service \"{addr}\" within {}s: context deadline exceeded",
                timeout.as_secs()
            ))
        }
    };
    let data = match tokio::time::timeout(timeout, call(&mut stream, &addr, service)).await {
        Ok(Ok(d)) => d,
        Ok(Err(CallError::Io(e))) => return Err(format!("health rpc failed: {e}")),
        Ok(Err(CallError::Refused(why))) => return Err(format!("health rpc failed: {why}")),
        Err(_) => {
            return Err(format!(
                "timeout: health rpc did not complete within {}s",
                timeout.as_secs()
            ))
        }
    };
    match response_status(&data) {
        Some(1) => Ok(()),
        Some(s) => Err(format!(
            "service unhealthy (responded with \"{}\")",
            STATUS_NAMES.get(s as usize).copied().unwrap_or("UNKNOWN")
        )),
        None => Err(format!(
            "health rpc failed: no HealthCheckResponse (is service {service:?} known to the \
             server?)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(request_message(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            request_message("db"),
            vec![0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        let cases: [(&str, Vec<u8>, Option<u64>); 4] = [
            ("serving", grpc_message(&[0x08, 1]), Some(1)),
            ("not serving", grpc_message(&[0x08, 2]), Some(2)),
            ("default is unknown", grpc_message(&[]), Some(0)),
            ("garbage", vec![1, 2, 3], None),
        ];
        for (name, data, want) in cases {
            assert_eq!(response_status(&data), want, "{name}");
        }
    }

    #[test]
    fn hpack_integers() {
        let mut out = Vec::new();
        hpack_int(&mut out, 0, 7, 10);
        assert_eq!(out, [10]);
        out.clear();
        // RFC 7541 C.1.2: 1337 with a 5-bit prefix.
        hpack_int(&mut out, 0, 5, 1337);
        assert_eq!(out, [31, 154, 10]);
    }

    #[test]
    fn frames() {
        assert_eq!(
            frame(PING, ACK, 0, &[1; 8])[..9],
            [0, 0, 8, PING, ACK, 0, 0, 0, 0]
        );
    }
}
