//! Frames over TCP: reading and writing them, the authenticated handshake, and [`Link`],
//! the request/reply machinery one connection runs. The node's bus and the Rust client
//! both stand on this module, so there is one implementation of the wire.
//!
//! A [`Link`] owns three tasks: a reader (decodes frames, completes pending requests,
//! serves incoming requests through an [`Inbound`] itself, with no task per request, up
//! to a concurrency limit), a writer (drains a bounded queue of encoded frames,
//! coalescing small ones into one write) and a ticker (heartbeats, idle timeout). Every
//! request carries a correlation id and a timeout; when the link closes, every pending
//! request fails at once with [`BusError::LinkDropped`]. The queue is bounded, so a slow
//! peer slows its senders instead of growing memory.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use crate::actor::{ActorRef, Role};
use crate::codec::{self, CodecError, MAX_FRAME_LEN};
use crate::frame::{
    CertificateProof, Challenge, ClientUser, Frame, Hello, NodeIdentity, Peer, Proof,
    SignatureKind, MAGIC, NONCE_LEN, PROTOCOL_VERSION, STREAM_DATA_TAG,
};
use crate::messages::{BusError, Reply, Request, StreamOpen};
use crate::stream::{self, Outlet, Shared, StreamReader, StreamWriter};
use crate::trace::TraceContext;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer announced a frame larger than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A zero-length frame (no version byte).
    #[error("empty frame")]
    Empty,
    /// The frame header names a protocol version this build does not speak.
    #[error("unsupported protocol version {got} (this node speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion {
        /// The version in the header.
        got: u8,
    },
    /// The body is not a valid frame.
    #[error("malformed frame: {0}")]
    Codec(#[from] CodecError),
}

/// Largest frame accepted before the peer is authenticated.
const HANDSHAKE_MAX_FRAME: usize = 64 * 1024;

/// Appends one frame (header and body) to `buf`.
pub fn encode_frame(frame: &Frame, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0, PROTOCOL_VERSION]);
    if let Err(e) = codec::encode_into(frame, buf) {
        buf.truncate(start);
        return Err(e);
    }
    let len = buf.len() - start - 4;
    if len > MAX_FRAME_LEN {
        buf.truncate(start);
        return Err(CodecError::TooLarge(len));
    }
    // Cannot truncate: len <= MAX_FRAME_LEN < u32::MAX.
    buf[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Decodes one frame from a complete body (version byte first), as read off the wire.
pub fn decode_frame_body(body: &[u8]) -> Result<Frame, FrameError> {
    let (&version, rest) = body.split_first().ok_or(FrameError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion { got: version });
    }
    Ok(codec::decode(rest)?)
}

/// Bytes a [`FrameReader`] buffers: frames up to this size are decoded in place.
const READ_BUF: usize = 64 * 1024;

/// Most bytes before the payload of a [`Frame::StreamData`] (version byte, variant, id,
/// flag and the payload's length, varints at their longest).
const STREAM_HEAD_MAX: usize = 32;

/// How far a [`FrameReader`] reads ahead right after a large frame: just the next
/// frame's length and head. Stream data tends to follow stream data, and reading no
/// further leaves its payload in the socket to be read straight into its own buffer.
const READ_AHEAD_AFTER_LARGE: usize = 4 + STREAM_HEAD_MAX;

/// Reads frames off a byte stream, enforcing the size limit before allocating.
///
/// Frames up to [`READ_BUF`] bytes are decoded straight out of its buffer. The payload
/// of a larger [`Frame::StreamData`] is read from the stream into the payload's own
/// buffer (its head is parsed by hand, see [`encode_stream_data_head`]), so that the
/// bytes of a stream are copied once, by the kernel; any other large frame is read
/// whole, then decoded.
pub struct FrameReader<R> {
    inner: R,
    buf: Box<[u8]>,
    /// The buffered bytes not yet handed out are `buf[start..end]`.
    start: usize,
    end: usize,
    max: usize,
    last_len: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a stream; frames larger than `max` bytes are refused.
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            buf: vec![0u8; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            max: max.min(MAX_FRAME_LEN),
            last_len: 0,
        }
    }

    /// Bytes of the last frame read, its length prefix included.
    pub fn last_len(&self) -> usize {
        self.last_len
    }

    /// Changes the size limit (after the handshake, to the link's own).
    pub fn set_max(&mut self, max: usize) {
        self.max = max.min(MAX_FRAME_LEN);
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads until at least `n` (at most [`READ_BUF`]) bytes are buffered, reading at
    /// most `ahead` bytes past the start of what is buffered when that is more; `false`
    /// when the stream ended first.
    async fn fill(&mut self, n: usize, ahead: usize) -> std::io::Result<bool> {
        if self.buffered() >= n {
            return Ok(true);
        }
        if self.start + n > READ_BUF {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.buffered() < n {
            let limit = (self.start + n.max(ahead)).min(READ_BUF);
            let got = self.inner.read(&mut self.buf[self.end..limit]).await?;
            if got == 0 {
                return Ok(false);
            }
            self.end += got;
        }
        Ok(true)
    }

    /// Moves what is buffered (up to `want` bytes in all) into `into`, then reads the
    /// rest of `want` from the stream straight into it.
    async fn read_into(&mut self, into: &mut Vec<u8>, want: usize) -> std::io::Result<()> {
        into.reserve_exact(want.saturating_sub(into.len()));
        let take = self.buffered().min(want.saturating_sub(into.len()));
        into.extend_from_slice(&self.buf[self.start..self.start + take]);
        self.consume(take);
        while into.len() < want {
            let left = (want - into.len()) as u64;
            if (&mut self.inner).take(left).read_buf(into).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    /// The next frame, or `None` on a clean end of stream between frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, FrameError> {
        let ahead = if self.last_len > READ_BUF {
            READ_AHEAD_AFTER_LARGE
        } else {
            READ_BUF
        };
        if !self.fill(4, ahead).await? {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.buf[self.start..self.start + 4]);
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        self.consume(4);
        self.last_len = len + 4;
        let eof = || FrameError::Io(std::io::ErrorKind::UnexpectedEof.into());
        if len <= READ_BUF {
            if !self.fill(len, READ_BUF).await? {
                return Err(eof());
            }
            let frame = decode_frame_body(&self.buf[self.start..self.start + len]);
            self.consume(len);
            return frame.map(Some);
        }
        if !self.fill(STREAM_HEAD_MAX, 0).await? {
            return Err(eof());
        }
        let head = parse_stream_data_head(&self.buf[self.start..self.end])
            .filter(|h| h.head_len + h.data_len == len);
        if let Some(h) = head {
            self.consume(h.head_len);
            let mut data = Vec::new();
            self.read_into(&mut data, h.data_len).await?;
            return Ok(Some(Frame::StreamData {
                id: h.id,
                from_opener: h.from_opener,
                data,
            }));
        }
        let mut body = Vec::new();
        self.read_into(&mut body, len).await?;
        decode_frame_body(&body).map(Some)
    }
}

/// What [`parse_stream_data_head`] found.
#[derive(Debug, PartialEq)]
struct StreamDataHead {
    id: u64,
    from_opener: bool,
    data_len: usize,
    /// Bytes of the body before the payload, the version byte included.
    head_len: usize,
}

/// The head of a [`Frame::StreamData`] at the start of a frame body (version byte
/// first), or `None` when the body starts with anything else (or is cut short).
fn parse_stream_data_head(body: &[u8]) -> Option<StreamDataHead> {
    let (&version, _) = body.split_first()?;
    if version != PROTOCOL_VERSION {
        return None;
    }
    let mut at = 1;
    let (tag, n) = codec::decode_prefix::<u32>(body.get(at..)?).ok()?;
    if tag != STREAM_DATA_TAG {
        return None;
    }
    at += n;
    let (id, n) = codec::decode_prefix::<u64>(body.get(at..)?).ok()?;
    at += n;
    let (from_opener, n) = codec::decode_prefix::<bool>(body.get(at..)?).ok()?;
    at += n;
    let (data_len, n) = codec::decode_prefix::<u64>(body.get(at..)?).ok()?;
    at += n;
    Some(StreamDataHead {
        id,
        from_opener,
        data_len: usize::try_from(data_len).ok()?,
        head_len: at,
    })
}

/// Appends the wire bytes of a [`Frame::StreamData`] that carries `data_len` bytes, up
/// to its payload: length prefix, version byte, and the frame's encoding up to the
/// data. Followed by the payload, they are byte for byte what [`encode_frame`] writes
/// for the frame, without copying the payload.
pub fn encode_stream_data_head(
    id: u64,
    from_opener: bool,
    data_len: usize,
    buf: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0, PROTOCOL_VERSION]);
    let fields = (|| {
        codec::encode_into(&STREAM_DATA_TAG, buf)?;
        codec::encode_into(&id, buf)?;
        codec::encode_into(&from_opener, buf)?;
        codec::encode_into(&(data_len as u64), buf)
    })();
    if let Err(e) = fields {
        buf.truncate(start);
        return Err(e);
    }
    let len = buf.len() - start - 4 + data_len;
    if len > MAX_FRAME_LEN {
        buf.truncate(start);
        return Err(CodecError::TooLarge(len));
    }
    // Cannot truncate: len <= MAX_FRAME_LEN < u32::MAX.
    buf[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> Result<(), FrameError> {
    let mut buf = Vec::new();
    encode_frame(frame, &mut buf)?;
    w.write_all(&buf).await?;
    Ok(())
}

/// What one side needs to run the handshake.
#[derive(Clone)]
pub struct Credentials {
    /// The cluster both sides must belong to.
    pub cluster_id: String,
    /// What it proves with (never sent).
    pub secret: Secret,
}

/// The secret a handshake proves knowledge of.
///
/// Control-plane nodes and administrators' clients hold the cluster token. A worker may
/// hold only its **node key** instead ([`node_key`]: derived from the token and the
/// node's name, so every token holder can compute it and nobody can go from it back to
/// the token or to another node's key). A link between a worker and a control-plane
/// node is proved with the worker's node key, a link between two control-plane nodes
/// with the token ([`link_key`]): so a node that holds only `w-1`'s key can join only
/// as `w-1`, only as a worker, and only to nodes that hold the token.
#[derive(Clone)]
pub enum Secret {
    /// The shared cluster token.
    Token(Arc<[u8]>),
    /// This node's own node key (a worker's).
    NodeKey(Arc<[u8]>),
}

impl Credentials {
    /// Credentials with the cluster token.
    pub fn token(cluster_id: impl Into<String>, token: impl Into<Arc<[u8]>>) -> Self {
        Credentials {
            cluster_id: cluster_id.into(),
            secret: Secret::Token(token.into()),
        }
    }

    /// A worker's credentials with only its node key.
    pub fn node_key(cluster_id: impl Into<String>, key: impl Into<Arc<[u8]>>) -> Self {
        Credentials {
            cluster_id: cluster_id.into(),
            secret: Secret::NodeKey(key.into()),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = match self.secret {
            Secret::Token(_) => "<cluster token>",
            Secret::NodeKey(_) => "<node key>",
        };
        f.debug_struct("Credentials")
            .field("cluster_id", &self.cluster_id)
            .field("secret", &secret)
            .finish()
    }
}

/// Length of a node key.
pub const NODE_KEY_LEN: usize = 32;

/// The node key of node `node` in cluster `cluster_id`: HMAC-SHA256 keyed by the cluster
/// token over a label, the cluster id and the name (see [`Secret`]).
pub fn node_key(token: &[u8], cluster_id: &str, node: &str) -> [u8; NODE_KEY_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(token).expect("hmac takes any key length");
    for part in [
        b"rudder-node-key-v1".as_slice(),
        cluster_id.as_bytes(),
        node.as_bytes(),
    ] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    let mut key = [0u8; NODE_KEY_LEN];
    key.copy_from_slice(&mac.finalize().into_bytes());
    key
}

/// A node key as its file holds it: lower-case hex.
pub fn format_node_key(key: &[u8; NODE_KEY_LEN]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a node key from its file's text ([`format_node_key`], surrounding whitespace
/// ignored).
pub fn parse_node_key(text: &str) -> Result<[u8; NODE_KEY_LEN], String> {
    let text = text.trim();
    let bad = || {
        format!(
            "a node key is {} hex digits (from `rudderctl node-key NODE`), not {} characters",
            NODE_KEY_LEN * 2,
            text.len()
        )
    };
    if text.len() != NODE_KEY_LEN * 2 || !text.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; NODE_KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// Who a node link's key belongs to (see [`Secret`]): the token between two
/// control-plane nodes, else the node key of the side that is not one (the dialer's
/// when neither is: such links are refused after the handshake anyway).
fn link_key_owner<'a>(dialer: &'a NodeIdentity, acceptor: &'a NodeIdentity) -> Option<&'a str> {
    let cp = |n: &NodeIdentity| n.roles.contains(&Role::ControlPlane);
    match (cp(dialer), cp(acceptor)) {
        (true, true) => None,
        (false, _) => Some(dialer.name.as_str()),
        (true, false) => Some(acceptor.name.as_str()),
    }
}

/// The key that proves a link between `dialer` and `acceptor`, as the side named `me`
/// computes it from its credentials; `Err` when it cannot (it holds only its own node
/// key and the link needs the token or another node's key).
pub fn link_key(
    creds: &Credentials,
    me: &str,
    dialer: &NodeIdentity,
    acceptor: &NodeIdentity,
) -> Result<Vec<u8>, String> {
    let owner = link_key_owner(dialer, acceptor);
    match (&creds.secret, owner) {
        (Secret::Token(token), None) => Ok(token.to_vec()),
        (Secret::Token(token), Some(node)) => Ok(node_key(token, &creds.cluster_id, node).to_vec()),
        (Secret::NodeKey(key), Some(node)) if node == me => Ok(key.to_vec()),
        (Secret::NodeKey(_), None) => Err(format!(
            "node {me} holds only its node key, and a link between control-plane nodes is \
             proved with the cluster token"
        )),
        (Secret::NodeKey(_), Some(node)) => Err(format!(
            "node {me} holds only its node key, and the link is proved with node {node}'s \
             (a worker links to control-plane nodes only)"
        )),
    }
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Reading or writing a frame failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer closed the connection mid-handshake.
    #[error("peer closed the connection during the handshake")]
    Closed,
    /// The handshake took longer than allowed.
    #[error("handshake timed out")]
    Timeout,
    /// The peer sent something that is not the next handshake step.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer belongs to another cluster, speaks another version or failed the proof.
    #[error("refused: {0}")]
    Refused(String),
}

type HmacSha256 = Hmac<Sha256>;

/// The handshake transcript, length-prefixed parts: what a token proof MACs and a
/// certificate proof signs. `role` keeps the three kinds of proof apart.
fn transcript(
    role: &[u8],
    cluster_id: &str,
    dialer: &str,
    acceptor: &str,
    dialer_nonce: &[u8; NONCE_LEN],
    acceptor_nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for part in [
        b"rudder-bus-v1".as_slice(),
        role,
        cluster_id.as_bytes(),
        dialer.as_bytes(),
        acceptor.as_bytes(),
        dialer_nonce,
        acceptor_nonce,
    ] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn proof(
    key: &[u8],
    cluster_id: &str,
    role: &[u8],
    dialer: &str,
    acceptor: &str,
    dialer_nonce: &[u8; NONCE_LEN],
    acceptor_nonce: &[u8; NONCE_LEN],
) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    mac.update(&transcript(
        role,
        cluster_id,
        dialer,
        acceptor,
        dialer_nonce,
        acceptor_nonce,
    ));
    mac
}

/// The key a client's link is proved with: the cluster token.
fn client_key(creds: &Credentials) -> Result<Vec<u8>, String> {
    match &creds.secret {
        Secret::Token(token) => Ok(token.to_vec()),
        Secret::NodeKey(_) => Err("a node key proves a worker node, not a client".into()),
    }
}

/// The role under which a certificate client signs the transcript.
const CERTIFICATE_ROLE: &[u8] = b"client-certificate";
/// The role under which a node signs the transcript for a certificate client.
const NODE_CERTIFICATE_ROLE: &[u8] = b"node-certificate";

/// Signs a handshake transcript with a client certificate's private key (the Rust
/// client implements it; the bus never holds a user's key).
pub trait TranscriptSigner: Send + Sync {
    /// The scheme of the signatures.
    fn kind(&self) -> SignatureKind;
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String>;
}

/// Checks a node's [`Frame::NodeCertificate`] on a certificate client: the chain
/// against the cluster's CA, for server auth and naming `node`, and the signature of
/// `transcript` against it (the Rust client implements it with the CA of its config).
pub trait NodeCertificateCheck: Send + Sync {
    /// Why `proof` does not prove that this is node `node` of the cluster, if it does not.
    fn check(&self, node: &str, proof: &CertificateProof, transcript: &[u8]) -> Result<(), String>;
}

/// What a client needs to authenticate with a certificate instead of the cluster token.
#[derive(Clone)]
pub struct CertificateCredentials {
    /// The cluster the client wants to reach.
    pub cluster_id: String,
    /// Its certificate first, then any intermediates (DER).
    pub chain: Vec<Vec<u8>>,
    /// Signs with the certificate's key.
    pub signer: Arc<dyn TranscriptSigner>,
    /// Checks that the node dialled is one of the cluster's.
    pub node_check: Arc<dyn NodeCertificateCheck>,
}

impl std::fmt::Debug for CertificateCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCredentials")
            .field("cluster_id", &self.cluster_id)
            .field("chain", &self.chain.len())
            .field("kind", &self.signer.kind())
            .finish()
    }
}

/// Checks a [`CertificateProof`] on the acceptor: the chain against the cluster's client
/// CA, the signature of `transcript` against the certificate; the user it stands for,
/// or why not. Nodes that serve the API have one; it also proves the node to the client.
pub trait CertificateCheck: Send + Sync {
    /// Checks one proof.
    fn check(
        &self,
        proof: CertificateProof,
        transcript: Vec<u8>,
    ) -> BoxFuture<Result<ClientUser, String>>;
    /// This node's proof for a certificate client: its bus certificate chain and its
    /// signature of `transcript` (see [`NodeCertificateCheck`]).
    fn prove(&self, transcript: Vec<u8>) -> BoxFuture<Result<CertificateProof, String>>;
}

fn nonce() -> [u8; NONCE_LEN] {
    rand::random()
}

async fn next_handshake_frame<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
) -> Result<Frame, HandshakeError> {
    match reader.next().await? {
        Some(Frame::Refused { reason }) => Err(HandshakeError::Refused(reason)),
        Some(f) => Ok(f),
        None => Err(HandshakeError::Closed),
    }
}

/// A connection that passed the handshake, split into its frame reader (which may
/// already hold bytes the peer sent right after the handshake) and its write half.
pub struct Established {
    /// The authenticated peer.
    pub peer: Peer,
    /// The user a client authenticated as with a certificate (`None`: a node, or a
    /// client that proved the cluster token).
    pub user: Option<ClientUser>,
    /// Frames from the peer.
    pub reader: FrameReader<OwnedReadHalf>,
    /// Bytes to the peer.
    pub writer: OwnedWriteHalf,
}

fn proof_bytes(mac: HmacSha256) -> [u8; NONCE_LEN] {
    let mut p = [0u8; NONCE_LEN];
    p.copy_from_slice(&mac.finalize().into_bytes());
    p
}

/// Runs the dialer's side of the handshake on a fresh connection.
pub async fn dial_handshake(
    stream: TcpStream,
    me: Peer,
    creds: &Credentials,
    timeout: Duration,
) -> Result<Established, HandshakeError> {
    tokio::time::timeout(timeout, dial_inner(stream, me, creds))
        .await
        .map_err(|_| HandshakeError::Timeout)?
}

/// Sends `Hello` and reads the acceptor's `Challenge`.
async fn hello_challenge(
    reader: &mut FrameReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
    cluster_id: &str,
    me: Peer,
    nonce: [u8; NONCE_LEN],
) -> Result<Challenge, HandshakeError> {
    write_frame(
        wr,
        &Frame::Hello(Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            cluster_id: cluster_id.to_owned(),
            peer: me,
            nonce,
        }),
    )
    .await?;
    match next_handshake_frame(reader).await? {
        Frame::Challenge(c) if c.magic == MAGIC => Ok(c),
        Frame::Challenge(_) => Err(HandshakeError::Protocol("bad magic".into())),
        other => Err(HandshakeError::Protocol(format!(
            "expected Challenge, got {}",
            frame_name(&other)
        ))),
    }
}

/// Reads the acceptor's `Welcome`; its proof.
async fn welcome(
    reader: &mut FrameReader<OwnedReadHalf>,
) -> Result<[u8; NONCE_LEN], HandshakeError> {
    match next_handshake_frame(reader).await? {
        Frame::Welcome { proof } => Ok(proof),
        other => Err(HandshakeError::Protocol(format!(
            "expected Welcome, got {}",
            frame_name(&other)
        ))),
    }
}

async fn dial_inner(
    stream: TcpStream,
    me: Peer,
    creds: &Credentials,
) -> Result<Established, HandshakeError> {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd, HANDSHAKE_MAX_FRAME);
    let my_nonce = nonce();
    let my_label = me.label().to_owned();
    let my_identity = match &me {
        Peer::Node(id) => Some(id.clone()),
        Peer::Client { .. } => None,
    };
    let challenge = hello_challenge(&mut reader, &mut wr, &creds.cluster_id, me, my_nonce).await?;
    let acceptor = challenge.node.name.as_str().to_owned();
    let key = match &my_identity {
        Some(id) => link_key(creds, id.name.as_str(), id, &challenge.node),
        None => client_key(creds),
    }
    .map_err(HandshakeError::Protocol)?;
    let mine = proof(
        &key,
        &creds.cluster_id,
        b"dialer",
        &my_label,
        &acceptor,
        &my_nonce,
        &challenge.nonce,
    );
    write_frame(
        &mut wr,
        &Frame::Proof(Proof {
            proof: proof_bytes(mine),
        }),
    )
    .await?;
    let theirs = welcome(&mut reader).await?;
    proof(
        &key,
        &creds.cluster_id,
        b"acceptor",
        &my_label,
        &acceptor,
        &my_nonce,
        &challenge.nonce,
    )
    .verify_slice(&theirs)
    .map_err(|_| {
        HandshakeError::Refused(format!(
            "node {acceptor} failed to prove the cluster's secret"
        ))
    })?;
    Ok(Established {
        peer: Peer::Node(challenge.node),
        user: None,
        reader,
        writer: wr,
    })
}

/// Runs a certificate client's side of the handshake on a fresh connection: the link
/// acts as the certificate's user.
pub async fn dial_certificate_handshake(
    stream: TcpStream,
    label: String,
    creds: &CertificateCredentials,
    timeout: Duration,
) -> Result<Established, HandshakeError> {
    tokio::time::timeout(timeout, dial_certificate_inner(stream, label, creds))
        .await
        .map_err(|_| HandshakeError::Timeout)?
}

async fn dial_certificate_inner(
    stream: TcpStream,
    label: String,
    creds: &CertificateCredentials,
) -> Result<Established, HandshakeError> {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd, HANDSHAKE_MAX_FRAME);
    let my_nonce = nonce();
    let me = Peer::Client {
        label: label.clone(),
    };
    let challenge = hello_challenge(&mut reader, &mut wr, &creds.cluster_id, me, my_nonce).await?;
    let message = transcript(
        CERTIFICATE_ROLE,
        &creds.cluster_id,
        &label,
        challenge.node.name.as_str(),
        &my_nonce,
        &challenge.nonce,
    );
    let signature = creds
        .signer
        .sign(&message)
        .map_err(|e| HandshakeError::Protocol(format!("signing the handshake: {e}")))?;
    write_frame(
        &mut wr,
        &Frame::CertificateProof(CertificateProof {
            chain: creds.chain.clone(),
            kind: creds.signer.kind(),
            signature,
        }),
    )
    .await?;
    let acceptor = challenge.node.name.as_str();
    let node_proof = match next_handshake_frame(&mut reader).await? {
        Frame::NodeCertificate(p) => p,
        Frame::Welcome { .. } => {
            return Err(HandshakeError::Refused(format!(
                "node {acceptor} did not prove itself with a certificate (a node older than \
                 this client?)"
            )))
        }
        other => {
            return Err(HandshakeError::Protocol(format!(
                "expected NodeCertificate, got {}",
                frame_name(&other)
            )))
        }
    };
    let message = transcript(
        NODE_CERTIFICATE_ROLE,
        &creds.cluster_id,
        &label,
        acceptor,
        &my_nonce,
        &challenge.nonce,
    );
    creds
        .node_check
        .check(acceptor, &node_proof, &message)
        .map_err(|e| {
            HandshakeError::Refused(format!("node {acceptor} failed to prove itself: {e}"))
        })?;
    Ok(Established {
        peer: Peer::Node(challenge.node),
        user: None,
        reader,
        writer: wr,
    })
}

/// Runs the acceptor's side of the handshake on an incoming connection.
///
/// On any failure a `Refused` frame is sent when possible and the connection is dropped;
/// the caller logs the error.
///
/// `certs` checks the proofs of clients that authenticate with a certificate; without
/// it they are refused.
pub async fn accept_handshake(
    stream: TcpStream,
    me: NodeIdentity,
    creds: &Credentials,
    certs: Option<Arc<dyn CertificateCheck>>,
    timeout: Duration,
) -> Result<Established, HandshakeError> {
    tokio::time::timeout(timeout, accept_inner(stream, me, creds, certs))
        .await
        .map_err(|_| HandshakeError::Timeout)?
}

async fn refuse<W: AsyncWrite + Unpin>(w: &mut W, reason: String) -> HandshakeError {
    let _ = write_frame(
        w,
        &Frame::Refused {
            reason: reason.clone(),
        },
    )
    .await;
    let _ = w.shutdown().await;
    HandshakeError::Refused(reason)
}

async fn accept_inner(
    stream: TcpStream,
    me: NodeIdentity,
    creds: &Credentials,
    certs: Option<Arc<dyn CertificateCheck>>,
) -> Result<Established, HandshakeError> {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd, HANDSHAKE_MAX_FRAME);
    let hello = match reader.next().await? {
        Some(Frame::Hello(h)) => h,
        Some(other) => {
            let reason = format!("expected Hello, got {}", frame_name(&other));
            return Err(refuse(&mut wr, reason).await);
        }
        None => return Err(HandshakeError::Closed),
    };
    if hello.magic != MAGIC {
        return Err(refuse(&mut wr, "bad magic".into()).await);
    }
    if hello.version != PROTOCOL_VERSION {
        let reason = format!(
            "protocol version {} not supported (this node speaks {PROTOCOL_VERSION})",
            hello.version
        );
        return Err(refuse(&mut wr, reason).await);
    }
    if hello.cluster_id != creds.cluster_id {
        let reason = format!(
            "cluster id {:?} does not match this node's {:?}",
            hello.cluster_id, creds.cluster_id
        );
        return Err(refuse(&mut wr, reason).await);
    }
    let dialer = hello.peer.label().to_owned();
    let my_nonce = nonce();
    let my_name = me.name.as_str().to_owned();
    let me_identity = me.clone();
    write_frame(
        &mut wr,
        &Frame::Challenge(Challenge {
            magic: MAGIC,
            node: me,
            nonce: my_nonce,
        }),
    )
    .await?;
    let theirs = match reader.next().await? {
        Some(Frame::Proof(p)) => p.proof,
        Some(Frame::CertificateProof(p)) => {
            let (user, certs) = match (&hello.peer, certs) {
                (Peer::Client { .. }, Some(certs)) => {
                    let message = transcript(
                        CERTIFICATE_ROLE,
                        &creds.cluster_id,
                        &dialer,
                        &my_name,
                        &hello.nonce,
                        &my_nonce,
                    );
                    match certs.check(p, message).await {
                        Ok(user) => (user, certs),
                        Err(e) => {
                            let reason = format!("client certificate refused: {e}");
                            return Err(refuse(&mut wr, reason).await);
                        }
                    }
                }
                (Peer::Client { .. }, None) => {
                    let reason = format!(
                        "node {my_name} serves no API and takes no client certificates: \
                         connect to a control-plane node"
                    );
                    return Err(refuse(&mut wr, reason).await);
                }
                (Peer::Node(_), _) => {
                    let reason = "a node proves the cluster token, not a certificate".into();
                    return Err(refuse(&mut wr, reason).await);
                }
            };
            // The client holds no token: the node proves itself with its certificate.
            let message = transcript(
                NODE_CERTIFICATE_ROLE,
                &creds.cluster_id,
                &dialer,
                &my_name,
                &hello.nonce,
                &my_nonce,
            );
            let proof = match certs.prove(message).await {
                Ok(proof) => proof,
                Err(e) => {
                    let reason = format!("node {my_name} cannot prove itself: {e}");
                    return Err(refuse(&mut wr, reason).await);
                }
            };
            write_frame(&mut wr, &Frame::NodeCertificate(proof)).await?;
            return Ok(Established {
                peer: hello.peer,
                user: Some(user),
                reader,
                writer: wr,
            });
        }
        Some(other) => {
            let reason = format!("expected Proof, got {}", frame_name(&other));
            return Err(refuse(&mut wr, reason).await);
        }
        None => return Err(HandshakeError::Closed),
    };
    let key = match &hello.peer {
        Peer::Node(id) => link_key(creds, &my_name, id, &me_identity),
        Peer::Client { .. } => client_key(creds).map_err(|_| {
            format!(
                "node {my_name} holds only its node key and cannot check a client's token: \
                 connect to a control-plane node"
            )
        }),
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => return Err(refuse(&mut wr, e).await),
    };
    if proof(
        &key,
        &creds.cluster_id,
        b"dialer",
        &dialer,
        &my_name,
        &hello.nonce,
        &my_nonce,
    )
    .verify_slice(&theirs)
    .is_err()
    {
        let reason = match &hello.peer {
            Peer::Node(id) if !id.roles.contains(&Role::ControlPlane) => {
                format!("wrong cluster token or node key for worker {}", id.name)
            }
            _ => "wrong cluster token".into(),
        };
        return Err(refuse(&mut wr, reason).await);
    }
    let mine = proof(
        &key,
        &creds.cluster_id,
        b"acceptor",
        &dialer,
        &my_name,
        &hello.nonce,
        &my_nonce,
    );
    write_frame(
        &mut wr,
        &Frame::Welcome {
            proof: proof_bytes(mine),
        },
    )
    .await?;
    Ok(Established {
        peer: hello.peer,
        user: None,
        reader,
        writer: wr,
    })
}

fn frame_name(f: &Frame) -> &'static str {
    match f {
        Frame::Hello(_) => "Hello",
        Frame::Challenge(_) => "Challenge",
        Frame::Proof(_) => "Proof",
        Frame::Welcome { .. } => "Welcome",
        Frame::Refused { .. } => "Refused",
        Frame::Request { .. } => "Request",
        Frame::Reply { .. } => "Reply",
        Frame::Heartbeat => "Heartbeat",
        Frame::Gossip { .. } => "Gossip",
        Frame::StreamOpen { .. } => "StreamOpen",
        Frame::StreamData { .. } => "StreamData",
        Frame::StreamCredit { .. } => "StreamCredit",
        Frame::StreamEnd { .. } => "StreamEnd",
        Frame::StreamReset { .. } => "StreamReset",
        Frame::CertificateProof(_) => "CertificateProof",
        Frame::NodeCertificate(_) => "NodeCertificate",
    }
}

/// A boxed future, as returned by [`Inbound::request`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An [`Inbound`] that serves nothing: for a link that only sends requests (a client,
/// a test's stand-in node). Requests get [`BusError::WrongProtocol`], other frames are
/// dropped, streams refused.
pub struct Refuse;

impl Inbound for Refuse {
    fn request(
        &self,
        to: ActorRef,
        body: Request,
        _: Duration,
        _: Option<TraceContext>,
    ) -> BoxFuture<Result<Reply, BusError>> {
        Box::pin(async move {
            Err(BusError::WrongProtocol {
                actor: to,
                protocol: body.protocol().into(),
            })
        })
    }

    fn frame(&self, _: &Link, _: Frame) {}
}

/// What a link does with what its peer sends, besides replies to its own requests.
pub trait Inbound: Send + Sync + 'static {
    /// Serve a request from the peer (part of `trace`, if any); the reply is written
    /// back by the link.
    fn request(
        &self,
        to: ActorRef,
        body: Request,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> BoxFuture<Result<Reply, BusError>>;

    /// A frame that is neither a request, a reply nor a heartbeat (e.g. gossip).
    fn frame(&self, link: &Link, frame: Frame);

    /// The peer opened a stream to `to`: hand the halves to the actor, or drop them
    /// (which resets the stream). The link sends the acceptance (its first credit)
    /// when `accept` is called with the halves' end; the default refuses every stream.
    fn stream(&self, to: ActorRef, open: StreamOpen, accept: StreamAccept) {
        let _ = (to, open);
        accept.refuse(BusError::StreamReset {
            reason: "this peer accepts no streams".into(),
        });
    }
}

/// A stream the peer opened, waiting for its actor: [`StreamAccept::accept`] gives the
/// halves and tells the peer; [`StreamAccept::refuse`] (or dropping it) resets it.
pub struct StreamAccept {
    link: Link,
    id: u64,
    shared: Option<Arc<Shared>>,
}

impl StreamAccept {
    /// The halves of the accepting end; the peer learns of the acceptance by the first
    /// credit, sent now.
    pub fn accept(mut self) -> (StreamWriter, StreamReader) {
        // Present until accept or refuse consumes self.
        let shared = self.shared.take().unwrap_or_else(|| Shared::new(0, 0));
        let (link, id, window) = (self.link.clone(), self.id, shared.window());
        tokio::spawn(async move {
            let _ = link
                .send(&Frame::StreamCredit {
                    id,
                    from_opener: false,
                    bytes: window,
                })
                .await;
        });
        stream::halves(shared)
    }

    /// Refuses the stream with `error`.
    pub fn refuse(mut self, error: BusError) {
        if let Some(shared) = self.shared.take() {
            shared.fail(error.clone());
            LinkOutlet {
                link: self.link.clone(),
                id: self.id,
                opener: false,
            }
            .reset(error);
        }
    }
}

impl Drop for StreamAccept {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let e = BusError::StreamReset {
                reason: "nobody took the stream".into(),
            };
            shared.fail(e.clone());
            LinkOutlet {
                link: self.link.clone(),
                id: self.id,
                opener: false,
            }
            .reset(e);
        }
    }
}

/// An end's way to its peer over a link.
struct LinkOutlet {
    link: Link,
    id: u64,
    /// This end opened the stream.
    opener: bool,
}

impl Outlet for LinkOutlet {
    fn data(&self, data: Vec<u8>) -> BoxFuture<Result<(), BusError>> {
        let (link, id, opener) = (self.link.clone(), self.id, self.opener);
        Box::pin(async move { link.send_stream_data(id, opener, data).await })
    }

    fn credit(&self, bytes: u32) -> BoxFuture<Result<(), BusError>> {
        let frame = Frame::StreamCredit {
            id: self.id,
            from_opener: self.opener,
            bytes,
        };
        let link = self.link.clone();
        Box::pin(async move { link.send(&frame).await })
    }

    fn end(&self) -> BoxFuture<Result<(), BusError>> {
        let frame = Frame::StreamEnd {
            id: self.id,
            from_opener: self.opener,
        };
        let link = self.link.clone();
        Box::pin(async move { link.send(&frame).await })
    }

    fn reset(&self, error: BusError) {
        self.link.forget_stream(self.id, self.opener);
        let frame = Frame::StreamReset {
            id: self.id,
            from_opener: self.opener,
            error,
        };
        let link = self.link.clone();
        // Best effort and never blocking (called from `Drop`): on a full queue a task
        // waits for room; outside a runtime the link is going away anyway.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let _ = link.send(&frame).await;
                });
            }
            Err(_) => {
                let mut buf = Vec::new();
                if encode_frame(&frame, &mut buf).is_ok() {
                    let _ = link.inner.tx.try_send(buf.into());
                }
            }
        }
    }

    fn done(&self) {
        self.link.forget_stream(self.id, self.opener);
    }
}

/// Tuning of a link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// How often a heartbeat is sent.
    pub heartbeat: Duration,
    /// Close the link when nothing was heard for this long.
    pub idle_timeout: Duration,
    /// Frames queued for writing before senders wait.
    pub queue: usize,
    /// Requests from the peer served at once before the reader stops reading.
    pub max_inbound: usize,
    /// Largest frame accepted from the peer.
    pub max_frame: usize,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(5),
            queue: 1024,
            max_inbound: 1024,
            max_frame: MAX_FRAME_LEN,
        }
    }
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Reply, BusError>>>>;

/// A frame queued for a link's writer: its encoded bytes and, for stream data, the
/// payload that follows them on the wire, written from its own buffer rather than
/// copied (see [`encode_stream_data_head`]).
struct Outgoing {
    head: Vec<u8>,
    payload: Vec<u8>,
}

impl From<Vec<u8>> for Outgoing {
    fn from(head: Vec<u8>) -> Self {
        Outgoing {
            head,
            payload: Vec::new(),
        }
    }
}

/// Bytes the writer gathers before it writes.
const WRITE_BATCH: usize = 256 * 1024;

/// Frames the reader takes in a row before it lets the node's other tasks run: the
/// actors serving what it read, and the writer sending their replies, start on the first
/// of a burst while the rest is still being read, so both ends of a busy link work at
/// once instead of taking turns with whole bursts. Measured with `bench-bus` at 64 in
/// flight: 4 frames 228k requests/s, 8 327k, 16 363-374k, 32 278k, never yielding 217k.
const READ_YIELD_FRAMES: usize = 16;

/// First capacity of an encoded request or reply: most fit, so most encode without
/// growing their buffer.
const REPLY_BUF: usize = 256;

/// A payload at least this large is written from its own buffer; smaller ones are
/// copied into the writer's batch with the frames around them.
const GATHER_MIN: usize = 16 * 1024;

/// Most payloads written from their own buffers in one write.
const GATHER_MAX: usize = 32;

struct LinkInner {
    peer: Peer,
    tx: mpsc::Sender<Outgoing>,
    pending: Pending,
    next_id: AtomicU64,
    closed: watch::Sender<bool>,
    is_closed: AtomicBool,
    started: Instant,
    /// When [`Link::silent_for`] last found `heard` set (ms since `started`): what was
    /// heard is timed at the ticker's resolution, not with a clock read per frame.
    last_heard_ms: AtomicU64,
    /// Set by the reader for every frame, cleared by [`Link::silent_for`].
    heard: AtomicBool,
    /// Open streams by (id, this end opened it).
    streams: Mutex<HashMap<(u64, bool), Arc<Shared>>>,
    next_stream: AtomicU64,
    stats: Arc<crate::stats::LinkStats>,
}

/// One open, authenticated connection and its request/reply state. Cheap to clone.
#[derive(Clone)]
pub struct Link {
    inner: Arc<LinkInner>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("peer", &self.inner.peer.label())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Link {
    /// Starts the link's tasks on the current tokio runtime.
    pub fn spawn(est: Established, inbound: Arc<dyn Inbound>, opts: LinkOptions) -> Link {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let (closed, _) = watch::channel(false);
        let link = Link {
            inner: Arc::new(LinkInner {
                peer: est.peer,
                tx,
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                closed,
                is_closed: AtomicBool::new(false),
                started: Instant::now(),
                last_heard_ms: AtomicU64::new(0),
                heard: AtomicBool::new(false),
                streams: Mutex::new(HashMap::new()),
                next_stream: AtomicU64::new(1),
                stats: Arc::default(),
            }),
        };
        let mut reader = est.reader;
        reader.set_max(opts.max_frame);
        tokio::spawn(link.clone().write_loop(est.writer, rx));
        tokio::spawn(link.clone().read_loop(reader, inbound, opts.clone()));
        tokio::spawn(link.clone().tick_loop(opts));
        link
    }

    /// True when both handles are the same link.
    pub fn same(&self, other: &Link) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &Peer {
        &self.inner.peer
    }

    /// True once the link is down; it never comes back (a new link is made instead).
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed.load(Ordering::Acquire)
    }

    /// Resolves when the link is down.
    pub async fn closed(&self) {
        let mut rx = self.inner.closed.subscribe();
        // The sender lives in `self`, so `wait_for` only ends when the flag turns true.
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Closes the link and fails every pending request.
    pub fn close(&self) {
        if self.inner.is_closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.closed.send_replace(true);
        let node = crate::actor::NodeName::new(self.inner.peer.label());
        let pending: Vec<_> = match self.inner.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(poisoned) => poisoned.into_inner().drain().collect(),
        };
        for (_, waiter) in pending {
            let _ = waiter.send(Err(BusError::LinkDropped { node: node.clone() }));
        }
        let streams: Vec<_> = self.streams().drain().map(|(_, s)| s).collect();
        for s in streams {
            s.fail(BusError::LinkDropped { node: node.clone() });
        }
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, bool), Arc<Shared>>> {
        match self.inner.streams.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn forget_stream(&self, id: u64, opener: bool) {
        self.streams().remove(&(id, opener));
    }

    /// Streams open on this link.
    pub fn stream_count(&self) -> usize {
        self.streams().len()
    }

    /// Requests sent on this link and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending().len()
    }

    /// What this link carried so far.
    pub fn stats(&self) -> &Arc<crate::stats::LinkStats> {
        &self.inner.stats
    }

    /// Opens a byte stream to `to` through the peer, waiting up to `timeout` for the
    /// actor to accept it.
    pub async fn open_stream(
        &self,
        to: ActorRef,
        open: StreamOpen,
        window: u32,
        timeout: Duration,
    ) -> Result<(StreamWriter, StreamReader), BusError> {
        let id = self.inner.next_stream.fetch_add(1, Ordering::Relaxed);
        let shared = Shared::new(window, 0);
        shared.set_outlet(Arc::new(LinkOutlet {
            link: self.clone(),
            id,
            opener: true,
        }));
        self.streams().insert((id, true), shared.clone());
        if self.is_closed() {
            self.forget_stream(id, true);
            return Err(self.dropped());
        }
        // From here the halves own the stream: dropping them (a timeout) resets it.
        let halves = stream::halves(shared.clone());
        let frame = Frame::StreamOpen {
            id,
            to: to.clone(),
            window: shared.window(),
            open,
        };
        let opened = tokio::time::timeout(timeout, async {
            self.send(&frame).await?;
            shared.accepted().await
        })
        .await;
        match opened {
            Ok(Ok(())) => Ok(halves),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(BusError::Timeout {
                actor: to,
                after_ms: timeout.as_millis() as u64,
            }),
        }
    }

    /// Routes a stream frame from the peer to its end.
    fn stream_frame(&self, frame: Frame, inbound: &Arc<dyn Inbound>) {
        let lookup = |id: u64, from_opener: bool| self.streams().get(&(id, !from_opener)).cloned();
        match frame {
            Frame::StreamOpen {
                id,
                to,
                window,
                open,
            } => {
                let shared = Shared::new(stream::DEFAULT_WINDOW, window);
                shared.set_outlet(Arc::new(LinkOutlet {
                    link: self.clone(),
                    id,
                    opener: false,
                }));
                self.streams().insert((id, false), shared.clone());
                let accept = StreamAccept {
                    link: self.clone(),
                    id,
                    shared: Some(shared),
                };
                inbound.stream(to, open, accept);
            }
            Frame::StreamData {
                id,
                from_opener,
                data,
            } => match lookup(id, from_opener) {
                Some(s) => s.on_data(data),
                None => self.unknown_stream(id, from_opener),
            },
            Frame::StreamCredit {
                id,
                from_opener,
                bytes,
            } => {
                if let Some(s) = lookup(id, from_opener) {
                    s.on_credit(bytes);
                }
            }
            Frame::StreamEnd { id, from_opener } => {
                if let Some(s) = lookup(id, from_opener) {
                    s.on_end();
                }
            }
            Frame::StreamReset {
                id,
                from_opener,
                error,
            } => {
                let removed = self.streams().remove(&(id, !from_opener));
                if let Some(s) = removed {
                    s.fail(error);
                }
            }
            _ => {}
        }
    }

    /// Data for a stream this end no longer has: tell the peer to stop.
    fn unknown_stream(&self, id: u64, from_opener: bool) {
        LinkOutlet {
            link: self.clone(),
            id,
            opener: !from_opener,
        }
        .reset(BusError::StreamReset {
            reason: "no such stream".into(),
        });
    }

    /// How long nothing was heard from the peer. A frame is timed when this is next
    /// called (the ticker does every heartbeat), so the figure is low by at most a
    /// heartbeat period.
    pub fn silent_for(&self) -> Duration {
        let now = self.inner.started.elapsed().as_millis() as u64;
        if self.inner.heard.swap(false, Ordering::Relaxed) {
            self.inner.last_heard_ms.fetch_max(now, Ordering::Relaxed);
        }
        Duration::from_millis(now.saturating_sub(self.inner.last_heard_ms.load(Ordering::Relaxed)))
    }

    fn pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Result<Reply, BusError>>>> {
        match self.inner.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn dropped(&self) -> BusError {
        BusError::LinkDropped {
            node: crate::actor::NodeName::new(self.inner.peer.label()),
        }
    }

    /// Queues an encoded frame, waiting while the queue is full.
    async fn enqueue(&self, frame: impl Into<Outgoing>) -> Result<(), BusError> {
        if self.is_closed() {
            return Err(self.dropped());
        }
        self.inner
            .tx
            .send(frame.into())
            .await
            .map_err(|_| self.dropped())
    }

    fn unencodable(&self, e: CodecError) -> BusError {
        BusError::Unreachable {
            node: crate::actor::NodeName::new(self.inner.peer.label()),
            reason: format!("cannot encode frame: {e}"),
        }
    }

    /// Sends a frame that expects no answer (gossip).
    pub async fn send(&self, frame: &Frame) -> Result<(), BusError> {
        let mut buf = Vec::new();
        encode_frame(frame, &mut buf).map_err(|e| self.unencodable(e))?;
        self.enqueue(buf).await
    }

    /// Sends a stream's data: the same bytes as `send(&Frame::StreamData { .. })`,
    /// with the payload handed to the writer as it is instead of encoded into a copy.
    async fn send_stream_data(
        &self,
        id: u64,
        from_opener: bool,
        data: Vec<u8>,
    ) -> Result<(), BusError> {
        let mut head = Vec::with_capacity(STREAM_HEAD_MAX + 4);
        encode_stream_data_head(id, from_opener, data.len(), &mut head)
            .map_err(|e| self.unencodable(e))?;
        self.enqueue(Outgoing {
            head,
            payload: data,
        })
        .await
    }

    /// Sends a request to `to` through the peer and waits up to `timeout` for the reply.
    pub async fn request(
        &self,
        to: ActorRef,
        body: Request,
        timeout: Duration,
    ) -> Result<Reply, BusError> {
        self.request_traced(to, body, timeout, None).await
    }

    /// [`Link::request`] as part of a trace: the frame carries `trace`.
    pub async fn request_traced(
        &self,
        to: ActorRef,
        body: Request,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> Result<Reply, BusError> {
        let sent = Instant::now();
        let deadline = tokio::time::Instant::from_std(sent) + timeout;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut buf = Vec::with_capacity(REPLY_BUF);
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let frame = Frame::Request {
            id,
            to: to.clone(),
            timeout_ms,
            trace,
            body,
        };
        encode_frame(&frame, &mut buf).map_err(|e| BusError::Failed {
            actor: to.clone(),
            message: format!("cannot encode request: {e}"),
        })?;
        drop(frame);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, tx);
        if self.is_closed() {
            self.pending().remove(&id);
            return Err(self.dropped());
        }
        let outcome = tokio::time::timeout_at(deadline, async {
            self.enqueue(buf).await?;
            rx.await.map_err(|_| self.dropped())?
        })
        .await;
        match outcome {
            Ok(r) => {
                if r.is_ok() {
                    self.inner.stats.round_trips.observe(sent.elapsed());
                }
                r
            }
            Err(_) => {
                self.pending().remove(&id);
                Err(BusError::Timeout {
                    actor: to,
                    after_ms: timeout.as_millis() as u64,
                })
            }
        }
    }

    /// Writes what is queued, gathering the frames waiting into one write: small ones
    /// copied into a batch, large payloads from their own buffers.
    async fn write_loop(self, mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>) {
        let mut closed = self.inner.closed.subscribe();
        // One wait for the whole loop: a fresh one per batch would register and
        // unregister a waiter each time.
        let mut closed = std::pin::pin!(closed.wait_for(|c| *c));
        let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
        // Payloads written from their own buffers, each after `batch[..offset]`.
        let mut gathered: Vec<(usize, Vec<u8>)> = Vec::new();
        loop {
            let first = tokio::select! {
                m = rx.recv() => match m { Some(m) => m, None => break },
                _ = &mut closed => break,
            };
            batch.clear();
            gathered.clear();
            let mut total = 0;
            let mut next = Some(first);
            while let Some(m) = next.take() {
                let n = m.head.len() + m.payload.len();
                self.inner.stats.sent(n);
                total += n;
                batch.extend_from_slice(&m.head);
                if m.payload.len() >= GATHER_MIN {
                    gathered.push((batch.len(), m.payload));
                } else {
                    batch.extend_from_slice(&m.payload);
                }
                if total < WRITE_BATCH && gathered.len() < GATHER_MAX {
                    next = rx.try_recv().ok();
                }
            }
            if let Err(e) = write_gathered(&mut wr, &batch, &gathered).await {
                tracing::debug!(peer = self.inner.peer.label(), error = %e, "link write failed");
                break;
            }
            // The payloads go back to the allocator now, not when the next frame comes.
            gathered.clear();
            if batch.capacity() > 1024 * 1024 {
                batch = Vec::with_capacity(64 * 1024);
            }
        }
        let _ = wr.shutdown().await;
        self.close();
    }

    async fn read_loop(
        self,
        reader: FrameReader<OwnedReadHalf>,
        inbound: Arc<dyn Inbound>,
        opts: LinkOptions,
    ) {
        let mut closed = self.inner.closed.subscribe();
        // One wait for the whole loop, as in the writer.
        let mut closed = std::pin::pin!(closed.wait_for(|c| *c));
        let max_inbound = opts.max_inbound.max(1);
        // The frames, as a stream that keeps a partly read frame across the `select!`
        // below (a `next()` future dropped mid-frame would lose its bytes).
        let frames = futures::stream::unfold(reader, |mut reader| async move {
            let frame = reader.next().await;
            let len = reader.last_len();
            Some(((frame, len), reader))
        });
        let mut frames = std::pin::pin!(frames);
        // The peer's requests being served, driven by this task: no task spawned per
        // request. While `max_inbound` are, the reader stops reading (backpressure).
        let mut serving = FuturesUnordered::new();
        let mut unyielded = 0;
        loop {
            if unyielded >= READ_YIELD_FRAMES {
                unyielded = 0;
                tokio::task::yield_now().await;
            }
            let (frame, len) = tokio::select! {
                biased;
                _ = &mut closed => break,
                Some(()) = serving.next(), if !serving.is_empty() => continue,
                next = frames.next(), if serving.len() < max_inbound => match next {
                    Some(next) => next,
                    None => break,
                },
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => {
                    tracing::debug!(peer = self.inner.peer.label(), "link closed by peer");
                    break;
                }
                Err(e) => {
                    tracing::warn!(peer = self.inner.peer.label(), error = %e, "closing link");
                    break;
                }
            };
            unyielded += 1;
            self.inner.heard.store(true, Ordering::Relaxed);
            self.inner.stats.received(len);
            match frame {
                Frame::Reply { id, result } => {
                    if let Some(waiter) = self.pending().remove(&id) {
                        let _ = waiter.send(result);
                    }
                }
                Frame::Request {
                    id,
                    to,
                    timeout_ms,
                    trace,
                    body,
                } => {
                    let fut = inbound.request(
                        to.clone(),
                        body,
                        Duration::from_millis(timeout_ms.into()),
                        trace,
                    );
                    serving.push(self.clone().serve(id, to, fut));
                }
                Frame::Heartbeat => {}
                Frame::Hello(_)
                | Frame::Challenge(_)
                | Frame::Proof(_)
                | Frame::CertificateProof(_)
                | Frame::NodeCertificate(_)
                | Frame::Welcome { .. }
                | Frame::Refused { .. } => {
                    tracing::warn!(
                        peer = self.inner.peer.label(),
                        "handshake frame on an open link; closing"
                    );
                    break;
                }
                other @ Frame::Gossip { .. } => inbound.frame(&self, other),
                other @ (Frame::StreamOpen { .. }
                | Frame::StreamData { .. }
                | Frame::StreamCredit { .. }
                | Frame::StreamEnd { .. }
                | Frame::StreamReset { .. }) => self.stream_frame(other, &inbound),
            }
        }
        self.close();
    }

    /// Serves one request of the peer: waits for `reply`, then queues the reply frame.
    async fn serve(self, id: u64, to: ActorRef, reply: BoxFuture<Result<Reply, BusError>>) {
        let result = reply.await;
        let mut buf = Vec::with_capacity(REPLY_BUF);
        if let Err(e) = encode_frame(&Frame::Reply { id, result }, &mut buf) {
            buf.clear();
            let result = Err(BusError::Failed {
                actor: to,
                message: format!("reply could not be encoded: {e}"),
            });
            if encode_frame(&Frame::Reply { id, result }, &mut buf).is_err() {
                return;
            }
        }
        let _ = self.enqueue(buf).await;
    }

    async fn tick_loop(self, opts: LinkOptions) {
        let mut heartbeat = Vec::new();
        // A heartbeat always encodes.
        if encode_frame(&Frame::Heartbeat, &mut heartbeat).is_err() {
            return;
        }
        let mut closed = self.inner.closed.subscribe();
        let mut tick = tokio::time::interval(opts.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closed.wait_for(|c| *c) => return,
            }
            if self.silent_for() > opts.idle_timeout {
                tracing::warn!(
                    peer = self.inner.peer.label(),
                    "link idle past timeout; closing"
                );
                self.close();
                return;
            }
            // A full queue means traffic is flowing; the heartbeat is not needed then.
            let _ = self.inner.tx.try_send(heartbeat.clone().into());
        }
    }
}

/// Writes `batch` with each gathered payload spliced in at its offset, in as few writes
/// as the socket allows.
async fn write_gathered<W: AsyncWrite + Unpin>(
    w: &mut W,
    batch: &[u8],
    gathered: &[(usize, Vec<u8>)],
) -> std::io::Result<()> {
    if gathered.is_empty() {
        return w.write_all(batch).await;
    }
    let mut slices = Vec::with_capacity(2 * gathered.len() + 1);
    let mut at = 0;
    for (offset, payload) in gathered {
        if *offset > at {
            slices.push(std::io::IoSlice::new(&batch[at..*offset]));
        }
        slices.push(std::io::IoSlice::new(payload));
        at = *offset;
    }
    if batch.len() > at {
        slices.push(std::io::IoSlice::new(&batch[at..]));
    }
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = w.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        std::io::IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut buf = Vec::new();
        encode_frame(&Frame::Heartbeat, &mut buf).expect("encode");
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        assert_eq!(len, buf.len() - 4);
        assert_eq!(
            decode_frame_body(&buf[4..]).expect("decode"),
            Frame::Heartbeat
        );
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut buf = Vec::new();
        encode_frame(&Frame::Heartbeat, &mut buf).expect("encode");
        buf[4] = PROTOCOL_VERSION + 1;
        assert!(matches!(
            decode_frame_body(&buf[4..]),
            Err(FrameError::UnsupportedVersion { .. })
        ));
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_before_reading() {
        let bytes = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        let mut reader = FrameReader::new(&bytes[..], MAX_FRAME_LEN);
        assert!(matches!(
            reader.next().await,
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let mut buf = Vec::new();
        encode_frame(&Frame::Gossip { members: vec![] }, &mut buf).expect("encode");
        buf.truncate(buf.len() - 1);
        let mut reader = FrameReader::new(&buf[..], MAX_FRAME_LEN);
        assert!(reader.next().await.is_err());
    }

    fn stream_data(id: u64, from_opener: bool, len: usize) -> Frame {
        Frame::StreamData {
            id,
            from_opener,
            data: (0..len).map(|i| (i % 251) as u8).collect(),
        }
    }

    #[test]
    fn stream_data_head_is_the_derived_encoding() {
        // Lengths and ids around the varint boundaries (251, 2^16, 2^32).
        let cases: [(&str, u64, bool, usize); 8] = [
            ("empty", 1, true, 0),
            ("one byte", 1, false, 1),
            ("last one-byte length", 7, true, 250),
            ("first three-byte length", 7, true, 251),
            ("a full chunk", 250, false, crate::stream::MAX_CHUNK),
            ("three-byte id", 251, true, 65_536),
            ("five-byte id", 1 << 16, false, 300_000),
            ("nine-byte id", u64::MAX, true, 3),
        ];
        for (name, id, opener, len) in cases {
            let frame = stream_data(id, opener, len);
            let mut want = Vec::new();
            encode_frame(&frame, &mut want).expect("encode");
            let mut got = Vec::new();
            encode_stream_data_head(id, opener, len, &mut got).expect("head");
            let head_len = got.len() - 4;
            let Frame::StreamData { data, .. } = &frame else {
                unreachable!()
            };
            got.extend_from_slice(data);
            assert_eq!(got, want, "{name}");
            assert_eq!(
                parse_stream_data_head(&want[4..]),
                Some(StreamDataHead {
                    id,
                    from_opener: opener,
                    data_len: len,
                    head_len,
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn other_frames_have_no_stream_data_head() {
        let mut buf = Vec::new();
        encode_frame(
            &Frame::StreamCredit {
                id: 1,
                from_opener: true,
                bytes: 5,
            },
            &mut buf,
        )
        .expect("encode");
        assert_eq!(parse_stream_data_head(&buf[4..]), None);
        // A flag that is not a bool.
        let mut buf = Vec::new();
        encode_frame(&stream_data(1, true, 3), &mut buf).expect("encode");
        buf[7] = 2;
        assert_eq!(parse_stream_data_head(&buf[4..]), None);
    }

    #[test]
    fn an_oversized_stream_data_head_is_refused() {
        let mut buf = Vec::new();
        assert!(matches!(
            encode_stream_data_head(1, true, MAX_FRAME_LEN, &mut buf),
            Err(CodecError::TooLarge(_))
        ));
        assert!(buf.is_empty());
    }

    /// Reads every frame of `bytes`, fed through a pipe in pieces of `piece` bytes.
    async fn read_through_pipe(bytes: Vec<u8>, piece: usize) -> Vec<Result<Frame, String>> {
        let (mut tx, rx) = tokio::io::duplex(piece);
        let writer = tokio::spawn(async move {
            for p in bytes.chunks(piece) {
                if tx.write_all(p).await.is_err() {
                    return;
                }
            }
        });
        let mut reader = FrameReader::new(rx, MAX_FRAME_LEN);
        let mut out = Vec::new();
        loop {
            match reader.next().await {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        drop(reader);
        let _ = writer.await;
        out
    }

    #[tokio::test]
    async fn large_and_small_frames_read_back_in_order() {
        let frames = vec![
            Frame::Heartbeat,
            stream_data(1, true, 200_000),
            Frame::Gossip { members: vec![] },
            stream_data(2, false, READ_BUF + 1),
            stream_data(3, true, 10),
            // A large frame that is not stream data goes the general way.
            Frame::Request {
                id: 9,
                to: ActorRef::new("n", "echo"),
                timeout_ms: 5,
                trace: None,
                body: Request::Echo(crate::messages::echo::EchoRequest::Ping {
                    payload: vec![3; 100_000],
                }),
            },
            stream_data(u64::MAX, false, crate::stream::MAX_CHUNK),
            stream_data(4, true, crate::stream::MAX_CHUNK),
            Frame::Heartbeat,
        ];
        let mut bytes = Vec::new();
        for f in &frames {
            encode_frame(f, &mut bytes).expect("encode");
        }
        for piece in [1000, 7, 64 * 1024, 300_000] {
            let got = read_through_pipe(bytes.clone(), piece).await;
            let want: Vec<Result<Frame, String>> = frames.iter().cloned().map(Ok).collect();
            assert!(got == want, "pieces of {piece}: {} frames", got.len());
        }
    }

    #[tokio::test]
    async fn a_large_frame_that_lies_about_its_data_is_an_error() {
        let mut bytes = Vec::new();
        encode_frame(&stream_data(1, true, 100_000), &mut bytes).expect("encode");
        // One byte more in the frame than the data's length says: trailing bytes.
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) + 1;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        bytes.push(0);
        let got = read_through_pipe(bytes.clone(), 4096).await;
        assert!(matches!(got.as_slice(), [Err(_)]), "{got:?}");
        // Cut short.
        bytes.truncate(50_000);
        let got = read_through_pipe(bytes, 4096).await;
        assert!(matches!(got.as_slice(), [Err(_)]), "{got:?}");
    }

    /// A case of [`gathered_payloads_are_written_in_place`]: its name, the batch, the
    /// payloads spliced in at their offsets, and the bytes written.
    type Gathered<'a> = (&'a str, &'a [u8], Vec<(usize, Vec<u8>)>, &'a [u8]);

    #[tokio::test]
    async fn gathered_payloads_are_written_in_place() {
        let cases: [Gathered; 4] = [
            ("none", b"abc", vec![], b"abc"),
            ("middle", b"aaabbb", vec![(3, b"XY".to_vec())], b"aaaXYbbb"),
            (
                "both ends",
                b"ab",
                vec![(0, b"X".to_vec()), (2, b"Y".to_vec())],
                b"XabY",
            ),
            (
                "two at one offset",
                b"ab",
                vec![(1, b"X".to_vec()), (1, b"Y".to_vec())],
                b"aXYb",
            ),
        ];
        for (name, batch, gathered, want) in cases {
            let mut out: Vec<u8> = Vec::new();
            write_gathered(&mut out, batch, &gathered)
                .await
                .expect("write");
            assert_eq!(out, want, "{name}");
        }
    }

    #[test]
    fn proofs_differ_by_role_and_key() {
        let n1 = [1u8; NONCE_LEN];
        let n2 = [2u8; NONCE_LEN];
        let p = |key: &[u8], role: &[u8]| {
            proof(key, "c", role, "x", "y", &n1, &n2)
                .finalize()
                .into_bytes()
        };
        assert_ne!(p(b"t1", b"dialer"), p(b"t1", b"acceptor"));
        assert_ne!(p(b"t1", b"dialer"), p(b"t2", b"dialer"));
    }

    fn node(name: &str, roles: &[Role]) -> NodeIdentity {
        NodeIdentity {
            name: crate::NodeName::new(name),
            address: format!("{name}:1"),
            roles: roles.to_vec(),
            incarnation: 1,
        }
    }

    #[test]
    fn node_keys_read_back_as_written() {
        let k = node_key(b"token", "c", "w-1");
        assert_eq!(
            parse_node_key(&format!(" {}\n", format_node_key(&k))),
            Ok(k)
        );
        for bad in [
            "",
            "abc",
            &"zz".repeat(32),
            &"ab".repeat(33),
            &"é".repeat(32),
        ] {
            assert!(parse_node_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn node_keys_are_per_node_and_per_cluster() {
        let k = node_key(b"token", "c", "w-1");
        assert_ne!(k, node_key(b"token", "c", "w-2"));
        assert_ne!(k, node_key(b"token", "c2", "w-1"));
        assert_ne!(k, node_key(b"other", "c", "w-1"));
        // Length-prefixed parts: moving a byte between cluster id and name changes it.
        assert_ne!(node_key(b"t", "ab", "c"), node_key(b"t", "a", "bc"));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn both_ends_of_a_link_agree_on_its_key_or_cannot_prove_it() {
        use Role::{ControlPlane as C, Worker as W};
        let token = Credentials::token("c", &b"token"[..]);
        let key_of = |n: &str| Credentials::node_key("c", node_key(b"token", "c", n).to_vec());
        let (cp1, cp2, w1, w2) = (
            node("cp-1", &[C]),
            node("cp-2", &[C, W]),
            node("w-1", &[W]),
            node("w-2", &[W]),
        );
        // Two control-plane nodes: the token.
        let k = link_key(&token, "cp-1", &cp1, &cp2).unwrap();
        assert_eq!(k, b"token".to_vec());
        // A worker holding its key and a token holder, in either direction: its key.
        let want = node_key(b"token", "c", "w-1").to_vec();
        for (dialer, acceptor) in [(&w1, &cp1), (&cp1, &w1)] {
            assert_eq!(link_key(&token, "cp-1", dialer, acceptor).unwrap(), want);
            assert_eq!(
                link_key(&key_of("w-1"), "w-1", dialer, acceptor).unwrap(),
                want
            );
        }
        // A worker holding a token computes the same key.
        assert_eq!(link_key(&token, "w-1", &w1, &cp1).unwrap(), want);
        // What a node with only its key cannot prove: to be a control-plane node, or a
        // link to another worker. (Another node's name it can claim, with a key that is
        // not that node's: the acceptor refuses it.)
        let w1_key = key_of("w-1");
        let as_cp = node("w-1", &[C, W]);
        let err = link_key(&w1_key, "w-1", &as_cp, &cp1).unwrap_err();
        assert!(err.contains("cluster token"), "{err}");
        // Between two workers the key is the dialer's: the accepting worker lacks it.
        assert!(link_key(&key_of("w-2"), "w-2", &w1, &w2).is_err());
        assert!(link_key(&w1_key, "w-1", &w2, &w1).is_err());
        // Clients prove the token; a node key is no client's.
        assert!(client_key(&token).is_ok());
        assert!(client_key(&w1_key).is_err());
    }
}
