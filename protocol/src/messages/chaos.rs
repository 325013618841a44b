//! The `chaos` actor's protocol: list this node's actors, stop one or all matching a
//! pattern, kill the node's process, and set or clear network faults on the node's bus.
//!
//! Every node runs a `chaos` actor. It answers for the actors of its own node only; a
//! cluster-wide view is one request per node. Fault rules ([`FaultRule`]) are held by the
//! node's bus, so they survive restarts of `chaos` itself and expire on their own.

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
    /// Stop every actor whose name matches the glob `pattern` (`*` and `?`), except
    /// `bus` and `chaos`; their supervisors restart them.
    KillMatching {
        /// A glob over actor names, e.g. `controller-*`.
        pattern: String,
    },
    /// Kill this node's whole process as `kill -9` would, right after replying.
    KillProcess,
    /// Add a fault rule to this node's bus.
    SetFault(FaultRule),
    /// Remove every fault rule of this node's bus.
    ClearFaults,
    /// The fault rules in force on this node's bus.
    ListFaults,
}

/// Which traffic of a node's bus a [`FaultRule`] affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Direction {
    /// Requests this node sends to the peer.
    Outbound,
    /// Requests (and gossip) this node receives from the peer.
    Inbound,
    /// Both: with `Drop` at 1000 per mille this cuts the node off from the peer.
    Both,
}

impl Direction {
    /// Lower-case name, as `rudderctl chaos` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "out",
            Direction::Inbound => "in",
            Direction::Both => "both",
        }
    }

    /// Whether traffic going `way` is covered.
    pub fn covers(self, way: Direction) -> bool {
        self == Direction::Both || self == way
    }
}

/// What a [`FaultRule`] does to a matching message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum FaultAction {
    /// Hold the message this long before passing it on.
    Delay {
        /// Milliseconds.
        ms: u32,
    },
    /// Lose the message with this probability (per mille; 1000 drops all). A lost
    /// request makes its sender wait out its timeout, as a lost packet would.
    Drop {
        /// Probability in thousandths.
        per_mille: u16,
    },
}

/// A fault injected into one node's bus traffic with some peers, for a while.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct FaultRule {
    /// The peer nodes whose traffic is affected (empty: every peer).
    pub peers: Vec<String>,
    /// Which way.
    pub direction: Direction,
    /// Delay or drop.
    pub action: FaultAction,
    /// How long the rule stays in force.
    pub duration_ms: u64,
}

/// A fault rule in force.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ActiveFault {
    /// Its id on this node.
    pub id: u64,
    /// The rule.
    pub rule: FaultRule,
    /// Milliseconds until it expires.
    pub remaining_ms: u64,
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
    /// Answer to `KillMatching`: the actors stopped (with their restart counts before),
    /// sorted by name; empty if none matched.
    KilledMatching(Vec<(String, u32)>),
    /// Answer to `KillProcess`: the process dies right after this reply.
    ProcessKilling {
        /// The node.
        node: String,
        /// Its process id.
        pid: u32,
    },
    /// Answer to `SetFault`: the rule's id.
    FaultSet {
        /// The id.
        id: u64,
    },
    /// Answer to `ClearFaults`: how many rules were removed.
    FaultsCleared {
        /// The number removed.
        count: u32,
    },
    /// Answer to `ListFaults`.
    Faults(Vec<ActiveFault>),
}

/// Actors that pattern kills and schedules never touch: without them the node could not
/// be reached to undo anything.
pub const NEVER_KILLED: &[&str] = &[crate::names::actors::BUS, crate::names::actors::CHAOS];

/// Glob match over names: `*` matches any run of characters, `?` any one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic two-pointer matcher with backtracking to the last star: linear enough for
    // actor names, no recursion.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
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
    /// Requests the bus delivered to it since the node started (all incarnations).
    pub messages: u64,
    /// Requests delivered and not yet answered.
    pub mailbox: u64,
    /// Microseconds spent from delivery to reply, summed over its requests.
    pub busy_us: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("exact", "scheduler", "scheduler", true),
            ("exact other", "scheduler", "store", false),
            ("star suffix", "controller-*", "controller-deployment", true),
            ("star suffix empty", "controller-*", "controller-", true),
            ("star no match", "controller-*", "kubelet", false),
            ("star middle", "c*t", "chaos-cat", true),
            ("question", "cp-?", "cp-1", true),
            ("question too short", "cp-?", "cp-", false),
            ("all", "*", "anything", true),
            ("two stars", "*ont*ler*", "controller-x", true),
            ("backtrack", "*ab", "aab", true),
            ("trailing", "a*", "b", false),
        ];
        for (name, pattern, input, want) in cases {
            assert_eq!(glob_match(pattern, input), want, "{name}");
        }
    }

    #[test]
    fn directions() {
        assert!(Direction::Both.covers(Direction::Inbound));
        assert!(Direction::Outbound.covers(Direction::Outbound));
        assert!(!Direction::Outbound.covers(Direction::Inbound));
    }
}
