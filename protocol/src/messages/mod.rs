//! Per-actor protocols and the envelope that carries them.
//!
//! Each actor's protocol is a closed request enum and a closed reply enum in its own
//! module; [`Request`] and [`Reply`] are closed unions of them, so a new message is a
//! compile error until every handler deals with it. [`Protocol`] ties a request type to
//! its reply type for typed calls (`client.call(to, ChaosRequest::ListActors)`).

pub mod api;
pub mod bus;
pub mod chaos;
pub mod echo;
pub mod kubelet;
pub mod store;

use crate::actor::{ActorRef, NodeName};

/// Any request an actor can receive over the bus.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum Request {
    /// To a control-plane node's `apiserver` actor. (Boxed, as are the other large
    /// requests and replies: every request is moved through several futures on its way
    /// and `Frame` holds one inline, so the small ones should not pay for the largest.)
    Api(Box<api::ApiRequest>),
    /// To a node's `bus`: membership queries.
    Bus(bus::BusRequest),
    /// To a node's `chaos` actor.
    Chaos(chaos::ChaosRequest),
    /// To a node's `echo` actor (reachability and benchmarks).
    Echo(echo::EchoRequest),
    /// To a worker node's `kubelet` actor.
    Kubelet(Box<kubelet::KubeletRequest>),
    /// To a control-plane node's `store` actor.
    Store(Box<store::StoreRequest>),
}

/// Any reply an actor can send back.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum Reply {
    /// From an `apiserver` actor.
    Api(api::ApiReply),
    /// From a node's `bus`.
    Bus(bus::BusReply),
    /// From a `chaos` actor.
    Chaos(chaos::ChaosReply),
    /// From an `echo` actor.
    Echo(echo::EchoReply),
    /// From a `kubelet` actor.
    Kubelet(kubelet::KubeletReply),
    /// From a `store` actor.
    Store(Box<store::StoreReply>),
}

/// What opens a byte stream to an actor (see [`crate::stream`]): the typed first
/// message, after which the stream carries bytes both ways.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum StreamOpen {
    /// To a node's `echo` actor (tests and benchmarks).
    Echo(echo::EchoStream),
    /// To a worker node's `kubelet` actor: exec and attach.
    Kubelet(kubelet::KubeletStream),
    /// To a control-plane node's `apiserver` actor: exec, attach and port-forward for
    /// bus clients.
    Api(kubelet::ApiStream),
}

impl StreamOpen {
    /// The protocol's name, for error messages.
    pub fn protocol(&self) -> &'static str {
        match self {
            StreamOpen::Echo(_) => "echo",
            StreamOpen::Kubelet(_) => "kubelet",
            StreamOpen::Api(_) => "api",
        }
    }
}

impl Request {
    /// The operation, for traces: the request's variant (`Txn`, `List`, ...).
    pub fn operation(&self) -> &'static str {
        use api::ApiRequest as A;
        use store::StoreRequest as S;
        match self {
            Request::Api(a) => {
                let mut a = &**a;
                while let A::As { request, .. } = a {
                    a = request;
                }
                match a {
                    A::Get { .. } => "Get",
                    A::List { .. } => "List",
                    A::Create { .. } => "Create",
                    A::Update { .. } => "Update",
                    A::Patch { .. } => "Patch",
                    A::Delete { .. } => "Delete",
                    A::Bind { .. } => "Bind",
                    A::WatchPoll { .. } => "WatchPoll",
                    A::Evict { .. } => "Evict",
                    A::CreateSubresource { .. } => "CreateSubresource",
                    A::UpdateSubresource { .. } => "UpdateSubresource",
                    A::As { .. } => "As",
                }
            }
            Request::Store(s) => match &**s {
                S::Get { .. } => "Get",
                S::Range { .. } => "Range",
                S::Put { .. } => "Put",
                S::Delete { .. } => "Delete",
                S::Txn(_) => "Txn",
                S::WatchPoll { .. } => "WatchPoll",
                S::Status => "Status",
                S::Digest => "Digest",
                S::Join { .. } => "Join",
                S::Remove { .. } => "Remove",
                S::RaftAppend(_) => "RaftAppend",
                S::RaftVote(_) => "RaftVote",
                S::RaftSnapshot(_) => "RaftSnapshot",
            },
            other => other.protocol(),
        }
    }

    /// The protocol's name, for error messages.
    pub fn protocol(&self) -> &'static str {
        match self {
            Request::Api(_) => "api",
            Request::Bus(_) => "bus",
            Request::Chaos(_) => "chaos",
            Request::Echo(_) => "echo",
            Request::Kubelet(_) => "kubelet",
            Request::Store(_) => "store",
        }
    }
}

/// Why a request got no reply from its actor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, bincode::Encode, bincode::Decode)]
pub enum BusError {
    /// The target node has no actor of that name (or it is not running right now).
    #[error("no actor {actor} is registered")]
    NoSuchActor {
        /// The address that was asked for.
        actor: ActorRef,
    },
    /// The target node is not known or not reachable from here.
    #[error("node {node} is unreachable: {reason}")]
    Unreachable {
        /// The node that could not be reached.
        node: NodeName,
        /// What went wrong.
        reason: String,
    },
    /// The deadline passed before a reply arrived.
    #[error("request to {actor} timed out after {after_ms} ms")]
    Timeout {
        /// The address that was asked.
        actor: ActorRef,
        /// How long the caller waited.
        after_ms: u64,
    },
    /// The link carrying the request dropped before the reply came back.
    #[error("link to {node} dropped with the request in flight")]
    LinkDropped {
        /// The peer at the far end of the dropped link.
        node: NodeName,
    },
    /// The actor stopped (was killed or crashed) while handling the request.
    #[error("actor {actor} stopped before replying")]
    ActorStopped {
        /// The actor that stopped.
        actor: ActorRef,
    },
    /// The actor exists but speaks another protocol.
    #[error("actor {actor} does not speak the {protocol} protocol")]
    WrongProtocol {
        /// The address that was asked.
        actor: ActorRef,
        /// The protocol of the request.
        protocol: String,
    },
    /// A reply of the wrong kind came back (a bug or a version mismatch).
    #[error("unexpected reply from {actor}")]
    UnexpectedReply {
        /// The actor that replied.
        actor: ActorRef,
    },
    /// A byte stream was cancelled: its other end went away or reset it.
    #[error("stream reset: {reason}")]
    StreamReset {
        /// Why.
        reason: String,
    },
    /// The actor refused or failed the request.
    #[error("{actor} failed the request: {message}")]
    Failed {
        /// The actor that failed.
        actor: ActorRef,
        /// Its explanation.
        message: String,
    },
    /// The sender may not send this request (a client acting as a user RBAC does not
    /// allow it to).
    #[error("{message}")]
    Forbidden {
        /// Kubernetes' forbidden message (`forbidden: User "alice" cannot ...`).
        message: String,
    },
}

/// Ties a request type to its reply type, for typed calls over the bus.
pub trait Protocol: Sized {
    /// The reply type for this request type.
    type Reply;

    /// Wraps the request in the envelope.
    fn into_request(self) -> Request;

    /// Unwraps the matching reply, or reports an unexpected one.
    fn from_reply(reply: Reply, from: &ActorRef) -> Result<Self::Reply, BusError>;
}

macro_rules! protocol {
    ($req:ty, $reply:ty, $variant:ident) => {
        impl Protocol for $req {
            type Reply = $reply;

            fn into_request(self) -> Request {
                Request::$variant(self.into())
            }

            fn from_reply(reply: Reply, from: &ActorRef) -> Result<$reply, BusError> {
                match reply {
                    Reply::$variant(r) => Ok(Unbox::unbox(r)),
                    #[allow(unreachable_patterns)]
                    _ => Err(BusError::UnexpectedReply {
                        actor: from.clone(),
                    }),
                }
            }
        }
    };
}

/// A reply variant's content, boxed or not (`into_request` boxes with `Into`).
trait Unbox<T> {
    fn unbox(self) -> T;
}

impl<T> Unbox<T> for T {
    fn unbox(self) -> T {
        self
    }
}

impl<T> Unbox<T> for Box<T> {
    fn unbox(self) -> T {
        *self
    }
}

protocol!(api::ApiRequest, api::ApiReply, Api);
protocol!(bus::BusRequest, bus::BusReply, Bus);
protocol!(chaos::ChaosRequest, chaos::ChaosReply, Chaos);
protocol!(echo::EchoRequest, echo::EchoReply, Echo);
protocol!(kubelet::KubeletRequest, kubelet::KubeletReply, Kubelet);
protocol!(store::StoreRequest, store::StoreReply, Store);
