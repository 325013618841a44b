//! The `chaos` actor's protocol: list this node's actors, stop one.
//!
//! Every node runs a `chaos` actor. It answers for the actors of its own node only; a
//! cluster-wide view is one request per node.

/// Requests to a node's `chaos` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum ChaosRequest {
    /// List every supervised actor on this node.
    ListActors,
    /// Stop the named actor; its supervisor restarts it.
    KillActor {
        /// The actor's name on this node, e.g. `echo`.
        name: String,
    },
}

/// Replies from a node's `chaos` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum ChaosReply {
    /// The node's actors, sorted by name.
    Actors(Vec<ActorInfo>),
    /// The actor was told to stop; `restarts` is its count before this kill.
    Killed {
        /// The actor that was stopped.
        name: String,
        /// Its restart count at the time of the kill.
        restarts: u32,
    },
    /// No supervised actor of that name runs here.
    NoSuchActor {
        /// The name that was asked for.
        name: String,
    },
}

/// What a supervisor knows about one of its actors.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ActorInfo {
    /// The node the actor runs on.
    pub node: String,
    /// The actor's name.
    pub name: String,
    /// Whether it runs now.
    pub state: ActorState,
    /// How many times its supervisor restarted it.
    pub restarts: u32,
    /// Milliseconds since its current incarnation started (0 unless running).
    pub uptime_ms: u64,
}

/// The life state of a supervised actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum ActorState {
    /// Started and accepting messages.
    Running,
    /// Stopped; its supervisor will start it again after a back-off.
    Restarting,
    /// Stopped for good (node shutting down).
    Stopped,
}

impl ActorState {
    /// Upper-case name as printed by `rudderctl actors`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorState::Running => "Running",
            ActorState::Restarting => "Restarting",
            ActorState::Stopped => "Stopped",
        }
    }
}
