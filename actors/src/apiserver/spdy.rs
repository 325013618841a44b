//! A small SPDY/3.1 frame codec: what Kubernetes' streaming protocols (port-forward, and
//! exec over SPDY) carry, whether on a plain `Upgrade: SPDY/3.1` connection or tunnelled
//! in WebSocket binary messages (kubectl 1.31+'s `SPDY/3.1+portforward.k8s.io`).
//!
//! The rules the code keeps:
//!
//! - **Frames.** Control frames (`C` bit set, version 3): SYN_STREAM, SYN_REPLY,
//!   RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE; any other control type is
//!   decoded as [`Frame::Unknown`] and ignored, as the specification asks. Data frames
//!   carry a stream id, the FIN flag and their bytes. Lengths are 24 bits; a control frame
//!   longer than [`MAX_CONTROL`] is refused (it could only be a header bomb).
//! - **Header blocks.** Name/value blocks are compressed with zlib, preset with the
//!   SPDY/3 dictionary ([`dictionary`]), in one compression context per direction for the
//!   whole connection, each block ending with a sync flush; a decompressed block larger
//!   than [`MAX_HEADER_BLOCK`] is refused. Header names are lowercase; a value with
//!   several values joins them with NUL.
//! - **Incremental.** [`Codec::feed`] takes bytes as they arrive (message boundaries mean
//!   nothing); [`Codec::next_frame`] returns a frame once all of it is there.
//!
//! Not here: sessions (which stream ids mean what, replies, pings): see
//! [`super::portforward`].

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Largest control frame accepted (compressed header blocks are small).
pub const MAX_CONTROL: usize = 64 * 1024;

/// Largest header block once decompressed.
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// Largest data frame this side writes (the length field allows 16 MiB).
pub const MAX_DATA: usize = 64 * 1024;

/// SYN_STREAM/SYN_REPLY/HEADERS/data flag: the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;
/// SYN_STREAM flag: the receiver may not send on the stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// RST_STREAM status: protocol error.
pub const RST_PROTOCOL_ERROR: u32 = 1;
/// RST_STREAM status: the stream was refused.
pub const RST_REFUSED_STREAM: u32 = 3;
/// RST_STREAM status: cancelled.
pub const RST_CANCEL: u32 = 5;

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// A header block: lowercase names, values in order.
pub type Headers = Vec<(String, String)>;

/// The value of header `name` in `headers`, if present.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One SPDY/3.1 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Bytes on a stream.
    Data {
        /// The stream.
        stream: u32,
        /// The sender's last frame on it.
        fin: bool,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Opens a stream.
    SynStream {
        /// The new stream's id (odd from the client).
        stream: u32,
        /// The stream it belongs to (0: none).
        associated: u32,
        /// Priority, 0 (highest) to 7.
        priority: u8,
        /// `FLAG_FIN` and `FLAG_UNIDIRECTIONAL`.
        flags: u8,
        /// Its headers.
        headers: Headers,
    },
    /// Accepts a stream.
    SynReply {
        /// The stream.
        stream: u32,
        /// The sender's last frame on it.
        fin: bool,
        /// Headers.
        headers: Headers,
    },
    /// Ends a stream abnormally.
    RstStream {
        /// The stream.
        stream: u32,
        /// Why (`RST_*`).
        status: u32,
    },
    /// Connection settings: `(flags, id, value)`.
    Settings {
        /// The entries.
        entries: Vec<(u8, u32, u32)>,
    },
    /// A round trip: the receiver echoes the peer's ids.
    Ping {
        /// The ping's id.
        id: u32,
    },
    /// The sender stops opening streams.
    GoAway {
        /// The last stream the sender processed.
        last_good: u32,
        /// Why.
        status: u32,
    },
    /// More headers on a stream.
    Headers {
        /// The stream.
        stream: u32,
        /// The sender's last frame on it.
        fin: bool,
        /// The headers.
        headers: Headers,
    },
    /// Flow-control credit (SPDY/3.1's per-stream and, on stream 0, session window).
    WindowUpdate {
        /// The stream (0: the session).
        stream: u32,
        /// Bytes added to the window.
        delta: u32,
    },
    /// A control frame of a type this codec does not know; ignored.
    Unknown {
        /// Its type.
        kind: u16,
    },
}

/// What is wrong with the bytes received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    /// A frame whose fields do not add up.
    #[error("malformed SPDY frame: {0}")]
    Malformed(String),
    /// A frame or header block past the limits.
    #[error("SPDY frame too large: {0}")]
    TooLarge(String),
    /// The header block does not decompress (or compress).
    #[error("SPDY header compression: {0}")]
    Compression(String),
}

/// The SPDY/3 header compression dictionary: the common header names and values as
/// length-prefixed words, then a run of common tokens (SPDY/3 section 2.6.10.1).
pub fn dictionary() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const STATUS_CODES: &str = "100101201202205206300302303304305306307\
        402405406407408409410411412413414415416417502504505";
    const REASONS: &[&str] = &[
        "203 Non-Authoritative Information",
        "204 No Content",
        "301 Moved Permanently",
        "400 Bad Request",
        "401 Unauthorized",
        "403 Forbidden",
        "404 Not Found",
        "500 Internal Server Error",
        "501 Not Implemented",
        "503 Service Unavailable",
    ];
    const DATES: &str = "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 \
        Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT";
    const VALUES: &str = "chunked,text/html,image/png,image/jpg,image/gif,\
        application/xml,application/xhtml+xml,text/plain,text/javascript,\
        publicprivatemax-age=gzip,deflate,sdch\
        charset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    let mut d = Vec::with_capacity(1424);
    for w in WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(STATUS_CODES.as_bytes());
    for r in REASONS {
        d.extend_from_slice(r.as_bytes());
    }
    d.extend_from_slice(DATES.as_bytes());
    d.extend_from_slice(VALUES.as_bytes());
    d
}

/// One connection's SPDY framing: bytes in, frames out, and frames to bytes, with the
/// connection's two header compression contexts.
pub struct Codec {
    buf: Vec<u8>,
    inflate: Decompress,
    deflate: Compress,
    deflate_started: bool,
    dictionary: Vec<u8>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new()
    }
}

fn malformed(what: impl Into<String>) -> SpdyError {
    SpdyError::Malformed(what.into())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, SpdyError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| malformed("frame shorter than its fields"))
}

impl Codec {
    /// A codec at the start of a connection.
    pub fn new() -> Codec {
        Codec {
            buf: Vec::new(),
            inflate: Decompress::new(true),
            deflate: Compress::new(Compression::default(), true),
            deflate_started: false,
            dictionary: dictionary(),
        }
    }

    /// Bytes received from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame received, `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let head = u32_at(&self.buf, 0)?;
        let flags = self.buf[4];
        let len = (u32_at(&self.buf, 4)? & 0x00ff_ffff) as usize;
        let control = head & 0x8000_0000 != 0;
        if control && len > MAX_CONTROL {
            return Err(SpdyError::TooLarge(format!(
                "control frame of {len} bytes (at most {MAX_CONTROL})"
            )));
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let body: Vec<u8> = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        if !control {
            return Ok(Some(Frame::Data {
                stream: head & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: body,
            }));
        }
        let version = ((head >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = (head & 0xffff) as u16;
        let fin = flags & FLAG_FIN != 0;
        let id = |at| u32_at(&body, at).map(|v| v & 0x7fff_ffff);
        let frame = match kind {
            SYN_STREAM => {
                if body.len() < 10 {
                    return Err(malformed("SYN_STREAM shorter than 10 bytes"));
                }
                Frame::SynStream {
                    stream: id(0)?,
                    associated: id(4)?,
                    priority: body[8] >> 5,
                    flags,
                    headers: self.inflate_headers(&body[10..])?,
                }
            }
            SYN_REPLY => Frame::SynReply {
                stream: id(0)?,
                fin,
                headers: self.inflate_headers(body.get(4..).unwrap_or_default())?,
            },
            HEADERS => Frame::Headers {
                stream: id(0)?,
                fin,
                headers: self.inflate_headers(body.get(4..).unwrap_or_default())?,
            },
            RST_STREAM => Frame::RstStream {
                stream: id(0)?,
                status: u32_at(&body, 4)?,
            },
            SETTINGS => {
                let n = u32_at(&body, 0)? as usize;
                if body.len() != 4 + n.saturating_mul(8) {
                    return Err(malformed(format!("SETTINGS of {n} entries in {len} bytes")));
                }
                let entries = (0..n)
                    .map(|i| {
                        let at = 4 + i * 8;
                        let w = u32_at(&body, at)?;
                        Ok(((w >> 24) as u8, w & 0x00ff_ffff, u32_at(&body, at + 4)?))
                    })
                    .collect::<Result<_, SpdyError>>()?;
                Frame::Settings { entries }
            }
            PING => Frame::Ping {
                id: u32_at(&body, 0)?,
            },
            GOAWAY => Frame::GoAway {
                last_good: id(0)?,
                // SPDY/3 added the status; tolerate the older 4-byte body.
                status: u32_at(&body, 4).unwrap_or(0),
            },
            WINDOW_UPDATE => Frame::WindowUpdate {
                stream: id(0)?,
                delta: id(4)?,
            },
            kind => Frame::Unknown { kind },
        };
        Ok(Some(frame))
    }

    /// Decompresses and parses one name/value block.
    fn inflate_headers(&mut self, compressed: &[u8]) -> Result<Headers, SpdyError> {
        let mut out: Vec<u8> = Vec::with_capacity(compressed.len() * 4 + 64);
        let mut input = compressed;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            let before_in = self.inflate.total_in();
            let before_out = self.inflate.total_out();
            match self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
            {
                Ok(status) => {
                    let used = (self.inflate.total_in() - before_in) as usize;
                    input = &input[used..];
                    let produced = self.inflate.total_out() - before_out;
                    if out.len() > MAX_HEADER_BLOCK {
                        return Err(SpdyError::TooLarge(format!(
                            "header block of more than {MAX_HEADER_BLOCK} bytes"
                        )));
                    }
                    if status == Status::StreamEnd {
                        return Err(SpdyError::Compression(
                            "the peer ended its header compression stream".into(),
                        ));
                    }
                    // Done once the input is used up and the output did not fill.
                    if input.is_empty() && (produced == 0 || out.len() < out.capacity()) {
                        break;
                    }
                    if used == 0 && produced == 0 && !input.is_empty() {
                        return Err(SpdyError::Compression("no progress".into()));
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(want) => {
                        let used = (self.inflate.total_in() - before_in) as usize;
                        input = &input[used..];
                        let have = self.inflate.set_dictionary(&self.dictionary).map_err(|e| {
                            SpdyError::Compression(format!(
                                "the peer's dictionary ({want:#010x}) is not SPDY/3's: {e}"
                            ))
                        })?;
                        if have != want {
                            return Err(SpdyError::Compression(format!(
                                "the peer's dictionary {want:#010x} is not SPDY/3's {have:#010x}"
                            )));
                        }
                    }
                    None => return Err(SpdyError::Compression(e.to_string())),
                },
            }
        }
        parse_headers(&out)
    }

    /// Compresses one name/value block in this connection's context.
    fn deflate_headers(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        if !self.deflate_started {
            self.deflate
                .set_dictionary(&self.dictionary)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            self.deflate_started = true;
        }
        let raw = serialize_headers(headers);
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            out.reserve(raw.len() + 64);
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            let used = (self.deflate.total_in() - before) as usize;
            input = &input[used..];
            // A sync flush is complete when it left room in the output.
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Appends the bytes of `frame` to `out` (see [`Codec::encode`]). A data frame
    /// longer than [`MAX_DATA`] goes out as several, the FIN on the last; its bytes are
    /// copied once, into `out`.
    pub fn encode_into(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<(), SpdyError> {
        let Frame::Data { stream, fin, data } = frame else {
            out.extend(self.encode(frame)?);
            return Ok(());
        };
        out.reserve(data.len() + 8 * data.len().div_ceil(MAX_DATA));
        for (range, fin) in data_pieces(data.len(), *fin) {
            data_head(*stream, fin, range.len(), out);
            out.extend_from_slice(&data[range]);
        }
        Ok(())
    }

    /// The bytes of `frame`, compressing its headers in this connection's context (so
    /// frames must go out in the order they were encoded).
    pub fn encode(&mut self, frame: &Frame) -> Result<Vec<u8>, SpdyError> {
        let control = |kind: u16, flags: u8, body: &[u8]| -> Result<Vec<u8>, SpdyError> {
            if body.len() > 0x00ff_ffff {
                return Err(SpdyError::TooLarge(format!("{} bytes", body.len())));
            }
            let mut out = Vec::with_capacity(8 + body.len());
            out.extend_from_slice(
                &(0x8000_0000u32 | u32::from(VERSION) << 16 | u32::from(kind)).to_be_bytes(),
            );
            out.extend_from_slice(&((u32::from(flags) << 24) | body.len() as u32).to_be_bytes());
            out.extend_from_slice(body);
            Ok(out)
        };
        let fin_flag = |fin: bool| if fin { FLAG_FIN } else { 0 };
        match frame {
            Frame::Data { stream, fin, data } => {
                if data.len() > 0x00ff_ffff {
                    return Err(SpdyError::TooLarge(format!("{} bytes", data.len())));
                }
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
                out.extend_from_slice(
                    &((u32::from(fin_flag(*fin)) << 24) | data.len() as u32).to_be_bytes(),
                );
                out.extend_from_slice(data);
                Ok(out)
            }
            Frame::SynStream {
                stream,
                associated,
                priority,
                flags,
                headers,
            } => {
                let mut body = Vec::new();
                body.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
                body.extend_from_slice(&(associated & 0x7fff_ffff).to_be_bytes());
                body.push((priority & 0x7) << 5);
                body.push(0);
                body.extend(self.deflate_headers(headers)?);
                control(SYN_STREAM, *flags, &body)
            }
            Frame::SynReply {
                stream,
                fin,
                headers,
            }
            | Frame::Headers {
                stream,
                fin,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                let mut body = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend(self.deflate_headers(headers)?);
                control(kind, fin_flag(*fin), &body)
            }
            Frame::RstStream { stream, status } => {
                let mut body = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(RST_STREAM, 0, &body)
            }
            Frame::Settings { entries } => {
                let mut body = (entries.len() as u32).to_be_bytes().to_vec();
                for (flags, id, value) in entries {
                    body.extend_from_slice(
                        &((u32::from(*flags) << 24) | (id & 0x00ff_ffff)).to_be_bytes(),
                    );
                    body.extend_from_slice(&value.to_be_bytes());
                }
                control(SETTINGS, 0, &body)
            }
            Frame::Ping { id } => control(PING, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                let mut body = (last_good & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(GOAWAY, 0, &body)
            }
            Frame::WindowUpdate { stream, delta } => {
                let mut body = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                control(WINDOW_UPDATE, 0, &body)
            }
            Frame::Unknown { kind } => Err(malformed(format!("cannot encode control type {kind}"))),
        }
    }
}

/// Appends the head of a data frame on `stream` that carries `len` bytes (at most
/// [`MAX_DATA`]): what precedes its payload on the wire.
pub fn data_head(stream: u32, fin: bool, len: usize, out: &mut Vec<u8>) {
    let flags = if fin { FLAG_FIN } else { 0 };
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    // Cannot truncate: `len` is at most MAX_DATA, well under the 24 bits of the field.
    out.extend_from_slice(&((u32::from(flags) << 24) | (len as u32 & 0x00ff_ffff)).to_be_bytes());
}

/// How `len` bytes of data go out as frames of at most [`MAX_DATA`]: each frame's range
/// and FIN flag (`fin` on the last). No data is one empty frame.
pub fn data_pieces(len: usize, fin: bool) -> Vec<(std::ops::Range<usize>, bool)> {
    let n = len.div_ceil(MAX_DATA).max(1);
    (0..n)
        .map(|i| {
            let range = (i * MAX_DATA).min(len)..((i + 1) * MAX_DATA).min(len);
            (range, fin && i + 1 == n)
        })
        .collect()
}

/// A name/value block's plain bytes: a count, then length-prefixed names and values.
fn serialize_headers(headers: &Headers) -> Vec<u8> {
    let mut out = (headers.len() as u32).to_be_bytes().to_vec();
    for (n, v) in headers {
        let n = n.to_ascii_lowercase();
        out.extend_from_slice(&(n.len() as u32).to_be_bytes());
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

fn parse_headers(b: &[u8]) -> Result<Headers, SpdyError> {
    let n = u32_at(b, 0)? as usize;
    let mut at = 4;
    let text = |at: &mut usize| -> Result<String, SpdyError> {
        let len = u32_at(b, *at)? as usize;
        let s = b
            .get(*at + 4..*at + 4 + len)
            .ok_or_else(|| malformed("header block shorter than its lengths"))?;
        *at += 4 + len;
        String::from_utf8(s.to_vec()).map_err(|_| malformed("a header is not UTF-8"))
    };
    // Each pair takes at least 8 bytes: a count past that is a lie.
    if n > b.len() / 8 {
        return Err(malformed(format!(
            "{n} headers in a block of {} bytes",
            b.len()
        )));
    }
    let mut headers = Vec::with_capacity(n);
    for _ in 0..n {
        let name = text(&mut at)?.to_ascii_lowercase();
        let value = text(&mut at)?;
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn dictionary_is_spdy3s() {
        let d = dictionary();
        // The specification's dictionary: 1423 bytes, starting with the length-prefixed
        // "options" and ending with the token run.
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"utf-,*,enq=0."));
    }

    #[test]
    fn frames_round_trip_in_one_connection() {
        let frames = vec![
            (
                "syn_stream",
                Frame::SynStream {
                    stream: 1,
                    associated: 0,
                    priority: 0,
                    flags: 0,
                    headers: h(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
                },
            ),
            (
                "second syn_stream (shared context)",
                Frame::SynStream {
                    stream: 3,
                    associated: 0,
                    priority: 2,
                    flags: FLAG_FIN,
                    headers: h(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
                },
            ),
            (
                "syn_reply",
                Frame::SynReply {
                    stream: 1,
                    fin: false,
                    headers: Vec::new(),
                },
            ),
            (
                "data",
                Frame::Data {
                    stream: 3,
                    fin: false,
                    data: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                },
            ),
            (
                "empty fin",
                Frame::Data {
                    stream: 3,
                    fin: true,
                    data: Vec::new(),
                },
            ),
            (
                "rst",
                Frame::RstStream {
                    stream: 5,
                    status: RST_CANCEL,
                },
            ),
            (
                "settings",
                Frame::Settings {
                    entries: vec![(0, 7, 65536), (1, 4, 100)],
                },
            ),
            ("ping", Frame::Ping { id: 7 }),
            (
                "goaway",
                Frame::GoAway {
                    last_good: 9,
                    status: 0,
                },
            ),
            (
                "headers",
                Frame::Headers {
                    stream: 3,
                    fin: true,
                    headers: h(&[("x", "a\0b")]),
                },
            ),
            (
                "window_update",
                Frame::WindowUpdate {
                    stream: 0,
                    delta: 1 << 20,
                },
            ),
        ];
        let (mut tx, mut rx) = (Codec::new(), Codec::new());
        let mut wire = Vec::new();
        for (_, f) in &frames {
            wire.extend(tx.encode(f).expect("encodes"));
        }
        // Delivered a few bytes at a time: frames come out whole, in order.
        let mut got = Vec::new();
        for piece in wire.chunks(5) {
            rx.feed(piece);
            while let Some(f) = rx.next_frame().expect("decodes") {
                got.push(f);
            }
        }
        assert_eq!(got.len(), frames.len());
        for ((name, want), got) in frames.iter().zip(got) {
            assert_eq!(&got, want, "{name}");
        }
    }

    /// A case of [`long_data_goes_out_as_frames_of_at_most_max_data`]: its name, the
    /// payload's length, FIN, and each frame's (length, FIN).
    type Split<'a> = (&'a str, usize, bool, Vec<(usize, bool)>);

    #[test]
    fn long_data_goes_out_as_frames_of_at_most_max_data() {
        let cases: [Split; 4] = [
            ("empty fin", 0, true, vec![(0, true)]),
            (
                "exactly one frame",
                MAX_DATA,
                false,
                vec![(MAX_DATA, false)],
            ),
            (
                "a bus chunk, fin on the last",
                2 * MAX_DATA + 1,
                true,
                vec![(MAX_DATA, false), (MAX_DATA, false), (1, true)],
            ),
            (
                "one byte over",
                MAX_DATA + 1,
                false,
                vec![(MAX_DATA, false), (1, false)],
            ),
        ];
        for (name, len, fin, want) in cases {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut out = Vec::new();
            Codec::new()
                .encode_into(
                    &Frame::Data {
                        stream: 3,
                        fin,
                        data: data.clone(),
                    },
                    &mut out,
                )
                .expect("encode");
            let mut rx = Codec::new();
            rx.feed(&out);
            let mut got = Vec::new();
            let mut joined = Vec::new();
            while let Some(f) = rx.next_frame().expect("decode") {
                let Frame::Data { stream, fin, data } = f else {
                    panic!("{name}: not data: {f:?}");
                };
                assert_eq!(stream, 3, "{name}");
                got.push((data.len(), fin));
                joined.extend(data);
            }
            assert_eq!(got, want, "{name}");
            assert_eq!(joined, data, "{name}");
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        type Case = (&'static str, Vec<u8>, fn(&SpdyError) -> bool);
        let cases: Vec<Case> = vec![
            (
                "spdy/2",
                vec![0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1],
                |e| matches!(e, SpdyError::Version(2)),
            ),
            (
                "huge control frame",
                vec![0x80, 0x03, 0x00, 0x01, 0, 0x10, 0, 0],
                |e| matches!(e, SpdyError::TooLarge(_)),
            ),
            (
                "short syn_stream",
                vec![0x80, 0x03, 0x00, 0x01, 0, 0, 0, 4, 0, 0, 0, 1],
                |e| matches!(e, SpdyError::Malformed(_)),
            ),
            (
                "header block that is not zlib",
                vec![
                    0x80, 0x03, 0x00, 0x02, 0, 0, 0, 8, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef,
                ],
                |e| matches!(e, SpdyError::Compression(_)),
            ),
            (
                "settings count past the frame",
                vec![0x80, 0x03, 0x00, 0x04, 0, 0, 0, 4, 0, 0, 0, 9],
                |e| matches!(e, SpdyError::Malformed(_)),
            ),
        ];
        for (name, bytes, want) in cases {
            let mut c = Codec::new();
            c.feed(&bytes);
            let e = c.next_frame().expect_err(name);
            assert!(want(&e), "{name}: {e:?}");
        }
    }

    #[test]
    fn a_header_bomb_is_refused() {
        // Headers that compress well past the decompressed limit.
        let big = "a".repeat(MAX_HEADER_BLOCK + 1);
        let mut tx = Codec::new();
        let wire = tx
            .encode(&Frame::SynReply {
                stream: 1,
                fin: false,
                headers: h(&[("x", &big)]),
            })
            .expect("encodes");
        assert!(wire.len() < MAX_CONTROL, "compressed to {}", wire.len());
        let mut rx = Codec::new();
        rx.feed(&wire);
        assert!(matches!(rx.next_frame(), Err(SpdyError::TooLarge(_))));
    }

    #[test]
    fn an_unknown_control_type_is_skipped() {
        let mut c = Codec::new();
        c.feed(&[0x80, 0x03, 0x00, 0x05, 0, 0, 0, 2, 1, 2]);
        c.feed(&[0x80, 0x03, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]);
        assert_eq!(
            c.next_frame().expect("ok"),
            Some(Frame::Unknown { kind: 5 })
        );
        assert_eq!(c.next_frame().expect("ok"), Some(Frame::Ping { id: 1 }));
        assert_eq!(c.next_frame().expect("ok"), None);
    }
}
