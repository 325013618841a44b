//! Distributed traces across the bus: the context a request frame carries, and the
//! spans nodes record and report.
//!
//! A trace starts where a request enters the cluster (an API request on the HTTP front);
//! every bus request made on its behalf carries a [`TraceContext`] (the trace, and the
//! span that made the request), and the node that serves it records a [`SpanRecord`]
//! whose parent is that span. Raft's replication does not run on the request's behalf
//! (openraft replicates and applies on its own tasks), so a write's commit span names
//! the log index it committed at, and each replica reports when it appended that index
//! to its log and when it applied it ([`RaftRecord`]); a reader joins them into the
//! trace by the index.

/// A request's place in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, bincode::Encode, bincode::Decode)]
pub struct TraceContext {
    /// The trace (random, never 0).
    pub trace_id: u128,
    /// The span that sent the request: the parent of the span that serves it.
    pub span_id: u64,
}

impl TraceContext {
    /// A new trace started by a client: a random trace id, and no span of its own (what
    /// serves the request records the trace's first span).
    #[cfg(feature = "net")]
    pub fn client_root() -> TraceContext {
        TraceContext {
            trace_id: (u128::from(rand::random::<u64>() | 1) << 64)
                | u128::from(rand::random::<u64>()),
            span_id: 0,
        }
    }

    /// The trace id as 32 lower-case hex digits (W3C trace-context's form).
    pub fn trace_hex(&self) -> String {
        trace_hex(self.trace_id)
    }
}

/// A trace id as 32 lower-case hex digits.
pub fn trace_hex(id: u128) -> String {
    format!("{id:032x}")
}

/// Reads a trace id written by [`trace_hex`].
pub fn parse_trace_id(text: &str) -> Option<u128> {
    let text = text.trim();
    (text.len() == 32)
        .then(|| u128::from_str_radix(text, 16).ok())
        .flatten()
        .filter(|id| *id != 0)
}

/// One finished span, as the node that recorded it reports it.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct SpanRecord {
    /// The trace.
    pub trace_id: u128,
    /// This span.
    pub span_id: u64,
    /// The span it serves (0: the trace's root).
    pub parent_id: u64,
    /// The node that recorded it.
    pub node: String,
    /// What it did, e.g. `POST /api/v1/namespaces/default/pods` or `store Txn`.
    pub name: String,
    /// Its outcome or other detail, e.g. `201` or `raft index 42`.
    pub detail: String,
    /// When it started, in microseconds since the Unix epoch (the recording node's clock).
    pub start_micros: u64,
    /// How long it took, in microseconds.
    pub duration_micros: u64,
    /// The Raft log index it committed at (a store write on the leader), if any.
    pub raft_index: Option<u64>,
}

/// A step a replica takes for each Raft log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, bincode::Encode, bincode::Decode)]
pub enum RaftStep {
    /// Wrote the entry to its log and synced it (on a follower, this starts when the
    /// leader's entries have arrived, so it also shows the replication delay).
    Append,
    /// Applied the committed entry to its state machine.
    Apply,
}

impl RaftStep {
    /// How traces name it: `append` or `apply`.
    pub fn as_str(self) -> &'static str {
        match self {
            RaftStep::Append => "append",
            RaftStep::Apply => "apply",
        }
    }
}

/// When a replica took one [`RaftStep`] for one Raft log index.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct RaftRecord {
    /// The replica's node.
    pub node: String,
    /// The step.
    pub step: RaftStep,
    /// The log index.
    pub index: u64,
    /// When the step started, in microseconds since the Unix epoch.
    pub start_micros: u64,
    /// How long it took, in microseconds.
    pub duration_micros: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_read_back() {
        for id in [1u128, 0xdead_beef, u128::MAX] {
            assert_eq!(parse_trace_id(&trace_hex(id)), Some(id));
        }
        for bad in ["", "0", &"0".repeat(32), &"g".repeat(32), &"1".repeat(33)] {
            assert_eq!(parse_trace_id(bad), None, "{bad:?}");
        }
    }
}
