//! Bus frames: what one length-delimited unit on a link carries.
//!
//! On the wire a frame is `u32` big-endian length, then one version byte
//! ([`PROTOCOL_VERSION`]), then the [`codec`](crate::codec) encoding of a [`Frame`]. The
//! length counts the version byte and the body and may not exceed
//! [`MAX_FRAME_LEN`](crate::codec::MAX_FRAME_LEN); a reader checks it before it
//! allocates anything.
//!
//! A connection opens with the handshake: the dialer sends [`Hello`] (magic, version,
//! cluster id, who it is, a fresh nonce); the acceptor answers [`Challenge`] (who it is,
//! its own nonce); the dialer answers [`Proof`] that it knows the link's key; the
//! acceptor checks it and sends [`Frame::Welcome`] with its own proof, or
//! [`Frame::Refused`] and closes. The key is the cluster token between two control-plane
//! nodes (and for a client), and the worker's node key between a worker and a
//! control-plane node ([`crate::net::link_key`]), so a worker given only its node key can
//! join as itself and nothing else. Proofs are HMAC-SHA256 over both nonces, the cluster id
//! and both names: the secret itself never crosses the wire, a recorded handshake cannot be
//! replayed, and the acceptor proves nothing to a dialer that has not proved itself first
//! (so an unauthenticated dialer collects no HMACs to guess the token from offline).
//!
//! A client with a user's certificate instead of the cluster token answers the
//! challenge with [`Frame::CertificateProof`]: its certificate chain and a signature, by
//! the certificate's key, over the same handshake transcript (both nonces, the cluster
//! id and both names). The acceptor checks the chain against the cluster's client CA and
//! the signature against the certificate, and the link then acts as that user (CN) in
//! its groups (O), never as a node or the administrator. No secret crosses the wire and
//! a recorded handshake cannot be replayed. Such a client holds no token to check a
//! `Welcome` with, so the acceptor answers it with [`Frame::NodeCertificate`] instead:
//! its bus certificate (issued by the same client CA, for server auth only, naming the
//! node; a user's certificate request can get neither) and its signature of the
//! transcript under a role of its own. The client checks both against the CA in its
//! config, so a certificate client talks only to a node of its cluster, as kubectl
//! checks the API server's certificate.

use crate::actor::{ActorRef, NodeName, Role};
use crate::messages::bus::MemberInfo;
use crate::messages::{BusError, Reply, Request, StreamOpen};
use crate::trace::TraceContext;

/// Bytes that open every [`Hello`] and [`Challenge`].
pub const MAGIC: [u8; 4] = *b"RDDR";

/// The bus protocol version carried in every frame header. Version 2: a link between a
/// worker and a control-plane node is proved with the worker's node key
/// ([`crate::net::link_key`]), not the cluster token; request frames carry a trace
/// context. Version 3: a trace reports each replica's log appends beside its applies.
pub const PROTOCOL_VERSION: u8 = 3;

/// Length of handshake nonces and proofs.
pub const NONCE_LEN: usize = 32;

/// The codec's variant index of [`Frame::StreamData`] (its place in the enum). The bus
/// writes and reads the head of that frame by hand, so that a stream's payload is never
/// copied into or out of an encoding; `net`'s tests check the bytes against the derive.
pub const STREAM_DATA_TAG: u32 = 10;

/// One unit on a link.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum Frame {
    /// Handshake step 1, dialer to acceptor.
    Hello(Hello),
    /// Handshake step 2, acceptor to dialer.
    Challenge(Challenge),
    /// Handshake step 3, dialer to acceptor.
    Proof(Proof),
    /// Handshake step 4, acceptor to dialer: the link is open.
    Welcome {
        /// The acceptor's proof of the token.
        proof: [u8; NONCE_LEN],
    },
    /// Handshake refused; the sender closes the connection after this frame.
    Refused {
        /// Why, for the peer's log.
        reason: String,
    },
    /// A request for an actor; answered by a [`Frame::Reply`] with the same id.
    Request {
        /// Correlation id, unique per link and direction.
        id: u64,
        /// The target actor; a node forwards requests for other nodes.
        to: ActorRef,
        /// Milliseconds the caller still waits; past it nobody wants the answer.
        timeout_ms: u32,
        /// The trace the request is part of, if any (see [`crate::trace`]).
        trace: Option<TraceContext>,
        /// The request itself.
        body: Request,
    },
    /// The answer to the request with the same id.
    Reply {
        /// Correlation id of the request.
        id: u64,
        /// The actor's reply or why there is none.
        result: Result<Reply, BusError>,
    },
    /// Liveness; sent when a link is otherwise quiet.
    Heartbeat,
    /// Membership as the sender sees it.
    Gossip {
        /// Members known to the sender.
        members: Vec<MemberInfo>,
    },
    /// Opens a byte stream to an actor (see [`crate::stream`]); the acceptor answers
    /// with [`Frame::StreamCredit`] (accepted) or [`Frame::StreamReset`].
    StreamOpen {
        /// Stream id, unique per link among the streams the sender opened.
        id: u64,
        /// The actor the stream is for (on the receiving node).
        to: ActorRef,
        /// The opener's receive window: the acceptor's first credit.
        window: u32,
        /// The typed open message.
        open: StreamOpen,
    },
    /// A chunk of a stream's data.
    StreamData {
        /// The stream id (the opener's).
        id: u64,
        /// The sender opened the stream (so the receiver looks among the ones it accepted).
        from_opener: bool,
        /// The bytes.
        data: Vec<u8>,
    },
    /// More credit for the receiver of this frame to send on the stream.
    StreamCredit {
        /// The stream id (the opener's).
        id: u64,
        /// The sender opened the stream.
        from_opener: bool,
        /// Bytes granted.
        bytes: u32,
    },
    /// The sender's direction of the stream ended (half-close).
    StreamEnd {
        /// The stream id (the opener's).
        id: u64,
        /// The sender opened the stream.
        from_opener: bool,
    },
    /// The stream is cancelled, both directions.
    StreamReset {
        /// The stream id (the opener's).
        id: u64,
        /// The sender opened the stream.
        from_opener: bool,
        /// Why.
        error: BusError,
    },
    /// Handshake step 3 of a client with a user certificate, dialer to acceptor, in
    /// place of [`Frame::Proof`].
    CertificateProof(CertificateProof),
    /// Handshake step 4 to a client with a user certificate, acceptor to dialer, in
    /// place of [`Frame::Welcome`]: the node's bus certificate chain and its signature of
    /// the transcript (see the module docs).
    NodeCertificate(CertificateProof),
}

/// Who is at the end of a connection.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Peer {
    /// A `rudderd` node.
    Node(NodeIdentity),
    /// A client program (`rudderctl`, a user's program); it only sends requests.
    Client {
        /// A free-form label for logs.
        label: String,
    },
}

impl Peer {
    /// The node name, or the client label, for logs.
    pub fn label(&self) -> &str {
        match self {
            Peer::Node(id) => id.name.as_str(),
            Peer::Client { label } => label,
        }
    }
}

/// What a node says about itself in the handshake.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct NodeIdentity {
    /// Node name.
    pub name: NodeName,
    /// The bus address it listens on (so others can dial it).
    pub address: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Changes on each process start.
    pub incarnation: u64,
}

/// Handshake step 1.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Hello {
    /// Must be [`MAGIC`].
    pub magic: [u8; 4],
    /// The dialer's protocol version.
    pub version: u8,
    /// The cluster the dialer wants to join.
    pub cluster_id: String,
    /// The dialer.
    pub peer: Peer,
    /// Fresh random bytes.
    pub nonce: [u8; NONCE_LEN],
}

/// Handshake step 2.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Challenge {
    /// Must be [`MAGIC`].
    pub magic: [u8; 4],
    /// The acceptor.
    pub node: NodeIdentity,
    /// Fresh random bytes.
    pub nonce: [u8; NONCE_LEN],
}

/// Handshake step 3.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Proof {
    /// The dialer's proof of the token.
    pub proof: [u8; NONCE_LEN],
}

/// Handshake step 3 of a client that authenticates with a certificate, and step 4 of
/// the node answering it.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct CertificateProof {
    /// The signer's certificate first, then any intermediates (DER).
    pub chain: Vec<Vec<u8>>,
    /// The signature scheme of `signature` (see [`SignatureKind`]).
    pub kind: SignatureKind,
    /// The signature of the handshake transcript by the certificate's key.
    pub signature: Vec<u8>,
}

/// How a [`CertificateProof`] is signed: the schemes TLS 1.3 allows for the key types
/// client certificates have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum SignatureKind {
    /// ECDSA on P-256 with SHA-256 (ASN.1 DER signature).
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384 (ASN.1 DER signature).
    EcdsaP384Sha384,
    /// Ed25519.
    Ed25519,
    /// RSA-PSS with SHA-256.
    RsaPssSha256,
}

/// The user a link authenticated with a certificate acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUser {
    /// The user name (the certificate's common name).
    pub name: String,
    /// The groups (its organizations, and `system:authenticated`).
    pub groups: Vec<String>,
    /// When the certificate expires (Unix seconds): past it the link's requests are
    /// refused, as a request over HTTPS with the certificate would be.
    pub not_after: Option<i64>,
}
