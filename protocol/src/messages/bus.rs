//! The bus's own protocol, answered by every node under the name `bus`.
//!
//! It reports the node's view of cluster membership, and the trace spans the node
//! recorded.

use crate::actor::{NodeName, Role};
use crate::trace::{RaftRecord, SpanRecord};

/// Requests to a node's `bus`.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum BusRequest {
    /// This node's view of every member, itself included.
    Members,
    /// The slowest traces this node started among its recent ones (their root spans,
    /// slowest first).
    SlowestTraces {
        /// At most this many.
        limit: u32,
    },
    /// The spans this node recorded for a trace, and when its replica appended and
    /// applied the Raft log indexes asked for (a trace's writes commit at indexes its
    /// spans name).
    Trace {
        /// The trace.
        trace_id: u128,
        /// Log indexes whose steps on this node's replica to report.
        indexes: Vec<u64>,
    },
}

/// Replies from a node's `bus`.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum BusReply {
    /// Members sorted by name.
    Members(Vec<MemberInfo>),
    /// Spans (root spans for [`BusRequest::SlowestTraces`]).
    Spans(Vec<SpanRecord>),
    /// A trace's spans on this node, and its replica's steps for the indexes asked for.
    Trace {
        /// The spans.
        spans: Vec<SpanRecord>,
        /// The appends and applies this node remembers.
        raft: Vec<RaftRecord>,
    },
}

/// One member as seen by the answering node.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct MemberInfo {
    /// The member's node name.
    pub name: NodeName,
    /// The bus address it listens on.
    pub address: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Liveness as seen from here.
    pub state: MemberState,
    /// Changes each time the member's process starts; a higher one replaces a lower one.
    pub incarnation: u64,
    /// Milliseconds since the answering node last heard from it, directly or by gossip.
    pub last_seen_ms: u64,
    /// True when the answering node holds a live link to it.
    pub linked: bool,
}

/// Liveness of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum MemberState {
    /// Heard from within the suspect timeout.
    Alive,
    /// Silent past the suspect timeout.
    Suspect,
    /// Silent past the dead timeout.
    Dead,
}

impl MemberState {
    /// Name as printed by `rudderctl`.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Alive => "Alive",
            MemberState::Suspect => "Suspect",
            MemberState::Dead => "Dead",
        }
    }
}
