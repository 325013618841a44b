//! The `store` actor's protocol: a replicated key-value store in the spirit of etcd v3,
//! and the Raft RPCs its replicas exchange.
//!
//! Data model: keys are strings (`/registry/pods/default/web-1`), values bytes. Every
//! write transaction gets the next cluster-wide **revision**; each key records the
//! revision that created it, the revision of its last change and a per-key version.
//! Writes are transactions ([`Txn`]: compare, then one list of operations or the other);
//! [`StoreRequest::Put`] and [`StoreRequest::Delete`] are the common shapes of it, with
//! expectations that fail with a distinct error ([`StoreError::Conflict`],
//! [`StoreError::NotFound`], [`StoreError::AlreadyExists`]).
//!
//! Reads are linearizable unless [`Consistency::Serializable`] is asked for (a local read
//! of this replica's applied state, possibly stale). Watches are long polls:
//! [`StoreRequest::WatchPoll`] returns the changes after a revision (waiting up to a
//! bound for some to happen); the caller asks again from the last revision it saw, so a
//! watch survives any failure by resuming, and delivery is once and in order by
//! construction. A revision older than the retained history fails with
//! [`StoreError::Compacted`].
//!
//! The Raft types mirror openraft's, so that this crate does not depend on openraft.

use crate::actor::NodeName;

/// A key and its value with etcd-style metadata.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (empty in a delete event's `kv`).
    pub value: Vec<u8>,
    /// Revision of the write that created the key.
    pub create_revision: u64,
    /// Revision of the last write to the key (of the delete, in a delete event).
    pub mod_revision: u64,
    /// Writes to the key since it was created (1 after creation; 0 in a delete event).
    pub version: u64,
}

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub enum Consistency {
    /// Reflects every write acknowledged before the read started (read index through
    /// the leader).
    #[default]
    Linearizable,
    /// This replica's applied state; may lag, never goes backwards on one replica.
    Serializable,
}

/// Comparison operator of a [`Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum CmpOp {
    /// Equal.
    Equal,
    /// Not equal.
    NotEqual,
    /// Less than.
    Less,
    /// Greater than.
    Greater,
}

/// What a [`Compare`] looks at. A missing key has revisions and version 0, no value.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum CompareTarget {
    /// The key's version (0: absent).
    Version(u64),
    /// The key's create revision.
    CreateRevision(u64),
    /// The key's mod revision.
    ModRevision(u64),
    /// The key's value (a missing key compares as no value: only `NotEqual` holds).
    Value(Vec<u8>),
}

/// One condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Compare {
    /// The key examined.
    pub key: String,
    /// The operator.
    pub op: CmpOp,
    /// The attribute and the value compared with.
    pub target: CompareTarget,
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum TxnOp {
    /// Sets a key.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Removes a key (no effect if absent).
    Delete {
        /// The key.
        key: String,
    },
    /// Reads a key at the transaction's point in the log.
    Get {
        /// The key.
        key: String,
    },
}

/// A transaction: if every compare holds, `success` runs, else `failure`. The whole
/// transaction is one revision (if it writes anything).
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct Txn {
    /// Conditions, all of which must hold.
    pub compares: Vec<Compare>,
    /// Operations when they hold.
    pub success: Vec<TxnOp>,
    /// Operations when one does not.
    pub failure: Vec<TxnOp>,
}

/// The outcome of one [`TxnOp`].
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum OpResult {
    /// The key was set; `prev` is what it held before.
    Put {
        /// Previous state of the key.
        prev: Option<KeyValue>,
    },
    /// The key was removed if present; `prev` is what it held.
    Delete {
        /// Previous state of the key.
        prev: Option<KeyValue>,
    },
    /// The key as read.
    Get {
        /// The key's state, if present.
        kv: Option<KeyValue>,
    },
}

/// The outcome of a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct TxnResponse {
    /// Whether the compares held (`success` ran).
    pub succeeded: bool,
    /// The store's revision after the transaction (its own, if it wrote).
    pub revision: u64,
    /// One result per operation that ran.
    pub results: Vec<OpResult>,
}

/// What a write expects of the key's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Expect {
    /// Anything: write unconditionally.
    Any,
    /// The key must not exist (create-only).
    Absent,
    /// The key must exist with this mod revision (compare-and-swap).
    ModRevision(u64),
}

/// Kind of change in a [`WatchEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change, as a watch sees it.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct WatchEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change (for a delete: key and the delete's revision).
    pub kv: KeyValue,
    /// The key before the change, if it existed.
    pub prev: Option<KeyValue>,
}

/// A batch of changes from a [`StoreRequest::WatchPoll`].
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct WatchBatch {
    /// Changes after the asked revision, in revision order.
    pub events: Vec<WatchEvent>,
    /// Ask again from here: the revision of the last event, or the replica's applied
    /// revision when nothing matched (a progress notification, a Kubernetes bookmark).
    pub revision: u64,
    /// The oldest revision a watch may still start after.
    pub compact_revision: u64,
}

/// Role and progress of one replica.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct MemberStatus {
    /// Node name.
    pub node: NodeName,
    /// Raft node id (derived from the name).
    pub id: u64,
    /// Voter or learner.
    pub voter: bool,
    /// Last log index known to be replicated to it (leader's view; `None` elsewhere).
    pub matched_index: Option<u64>,
}

/// A replica's view of its Raft group.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct StoreStatus {
    /// The answering node.
    pub node: NodeName,
    /// Leader, if known.
    pub leader: Option<NodeName>,
    /// Current term.
    pub term: u64,
    /// Leader, Follower, Candidate, Learner or Shutdown.
    pub state: String,
    /// Last log index.
    pub last_log_index: Option<u64>,
    /// Last applied log index.
    pub applied_index: Option<u64>,
    /// Store revision of the applied state.
    pub revision: u64,
    /// Oldest revision a watch may start after.
    pub compact_revision: u64,
    /// Members of the group.
    pub members: Vec<MemberStatus>,
}

/// Requests to a node's `store` actor.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum StoreRequest {
    /// One key.
    Get {
        /// The key.
        key: String,
        /// Freshness.
        consistency: Consistency,
    },
    /// Keys with a prefix, in key order, after `start_after` (a continue token: the last
    /// key of the previous page), at most `limit` (0: no limit).
    Range {
        /// The prefix.
        prefix: String,
        /// Exclusive start key.
        start_after: Option<String>,
        /// Page size.
        limit: u32,
        /// Freshness.
        consistency: Consistency,
    },
    /// Sets a key if the expectation holds.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// What the current state must be.
        expect: Expect,
    },
    /// Deletes a key if the expectation holds (`Expect::Absent` is refused).
    Delete {
        /// The key.
        key: String,
        /// What the current state must be.
        expect: Expect,
    },
    /// A general transaction.
    Txn(Txn),
    /// Changes to keys with `prefix` after revision `after`, waiting up to `wait_ms` for
    /// at least one (at most `max_events`).
    WatchPoll {
        /// Key prefix ("" for all).
        prefix: String,
        /// Exclusive start revision.
        after: u64,
        /// Batch size bound.
        max_events: u32,
        /// Long-poll bound.
        wait_ms: u32,
    },
    /// This replica's view of the group.
    Status,
    /// A digest of this replica's applied state (for convergence checks).
    Digest,
    /// A control-plane node asks the leader to make it a member (learner, then voter).
    Join {
        /// The node joining.
        node: NodeName,
    },
    /// Removes a replica from the group.
    Remove {
        /// The node leaving.
        node: NodeName,
    },
    /// Raft: append entries (and heartbeats).
    RaftAppend(AppendEntries),
    /// Raft: request a vote.
    RaftVote(VoteRequest),
    /// Raft: one chunk of a snapshot.
    RaftSnapshot(InstallSnapshot),
}

/// Replies from a node's `store` actor.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum StoreReply {
    /// Answer to `Get`: the key if present, and the revision the read reflects.
    Get {
        /// The key's state.
        kv: Option<KeyValue>,
        /// The store revision the read saw.
        revision: u64,
    },
    /// Answer to `Range`.
    Range {
        /// The page, in key order.
        kvs: Vec<KeyValue>,
        /// True if keys remain after this page.
        more: bool,
        /// The store revision the read saw.
        revision: u64,
    },
    /// Answer to `Put`, `Delete`: the new store revision and the key's state before.
    Written {
        /// The revision of this write.
        revision: u64,
        /// The key before the write.
        prev: Option<KeyValue>,
    },
    /// Answer to `Txn`.
    Txn(TxnResponse),
    /// Answer to `WatchPoll`.
    Watch(WatchBatch),
    /// Answer to `Status`.
    Status(StoreStatus),
    /// Answer to `Digest`.
    Digest {
        /// Hash over every key, value and metadata, and the revision.
        digest: u64,
        /// The revision it covers.
        revision: u64,
    },
    /// Answer to `Join` and `Remove`.
    MembershipChanged,
    /// Answer to `RaftAppend`.
    RaftAppend(AppendEntriesResponse),
    /// Answer to `RaftVote`.
    RaftVote(VoteResponse),
    /// Answer to `RaftSnapshot`.
    RaftSnapshot(InstallSnapshotResponse),
    /// The request failed.
    Error(StoreError),
}

/// Why a store request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, bincode::Encode, bincode::Decode)]
pub enum StoreError {
    /// A compare-and-swap found another mod revision.
    #[error("conflict on {key}: expected mod revision {expected}, found {actual}")]
    Conflict {
        /// The key.
        key: String,
        /// What the caller expected.
        expected: u64,
        /// What the key has (0: absent).
        actual: u64,
    },
    /// The key must exist and does not.
    #[error("key {key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// A create-only write found the key present.
    #[error("key {key} already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// The watch asked for changes older than the retained history.
    #[error("revision {requested} is compacted (oldest available: after {compact_revision})")]
    Compacted {
        /// What was asked.
        requested: u64,
        /// The oldest revision a watch may start after.
        compact_revision: u64,
    },
    /// The revision asked for is in the future of this replica.
    #[error("revision {requested} is ahead of this replica's {current}")]
    FutureRevision {
        /// What was asked.
        requested: u64,
        /// This replica's applied revision.
        current: u64,
    },
    /// No leader is known right now; retry.
    #[error("no leader (election in progress?)")]
    NoLeader,
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The replica cannot serve (shutting down, storage failure).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The snapshot chunk does not continue the snapshot being received.
    #[error("snapshot mismatch: expected offset {expected_offset}, got {got_offset}")]
    SnapshotMismatch {
        /// Offset the receiver expects.
        expected_offset: u64,
        /// Offset it got.
        got_offset: u64,
    },
}

/// Raft log id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct LogId {
    /// Term of the leader that proposed it.
    pub term: u64,
    /// Node id of that leader.
    pub node: u64,
    /// Log index.
    pub index: u64,
}

/// Raft vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Vote {
    /// Term.
    pub term: u64,
    /// The candidate or leader voted for.
    pub node: u64,
    /// Whether a quorum granted it.
    pub committed: bool,
}

/// A member of a Raft membership config.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct RaftMember {
    /// Raft node id.
    pub id: u64,
    /// Node name (how the bus addresses it).
    pub name: String,
}

/// A Raft membership: joint configs of voter ids, and every node (voters and learners).
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct Membership {
    /// Voter sets; more than one during a joint change.
    pub configs: Vec<Vec<u64>>,
    /// All members, learners included.
    pub nodes: Vec<RaftMember>,
}

/// What a log entry carries.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum EntryPayload {
    /// Nothing (a new leader's first entry).
    Blank,
    /// Writes: transactions proposed together (group commit), applied in order, each
    /// with its own revision.
    Normal(Vec<Txn>),
    /// A membership change.
    Membership(Membership),
}

/// One Raft log entry.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub struct Entry {
    /// Its id.
    pub log_id: LogId,
    /// Its payload.
    pub payload: EntryPayload,
}

/// Raft AppendEntries.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub struct AppendEntries {
    /// The leader's vote.
    pub vote: Vote,
    /// Id of the entry before `entries`.
    pub prev_log_id: Option<LogId>,
    /// Entries to append.
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub leader_commit: Option<LogId>,
}

/// Raft AppendEntries reply.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum AppendEntriesResponse {
    /// All appended.
    Success,
    /// Appended up to the given id.
    PartialSuccess(Option<LogId>),
    /// `prev_log_id` did not match.
    Conflict,
    /// The receiver has seen a higher vote.
    HigherVote(Vote),
}

/// Raft RequestVote.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct VoteRequest {
    /// The candidate's vote.
    pub vote: Vote,
    /// The candidate's last log id.
    pub last_log_id: Option<LogId>,
}

/// Raft RequestVote reply.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct VoteResponse {
    /// The voter's vote.
    pub vote: Vote,
    /// Whether it was granted.
    pub vote_granted: bool,
    /// The voter's last log id.
    pub last_log_id: Option<LogId>,
}

/// Raft snapshot metadata.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct SnapshotMeta {
    /// Last log id the snapshot covers.
    pub last_log_id: Option<LogId>,
    /// Log id of the membership it carries.
    pub last_membership_log_id: Option<LogId>,
    /// The membership it carries.
    pub last_membership: Membership,
    /// Snapshot id.
    pub snapshot_id: String,
}

/// Raft InstallSnapshot: one chunk.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct InstallSnapshot {
    /// The leader's vote.
    pub vote: Vote,
    /// The snapshot's metadata.
    pub meta: SnapshotMeta,
    /// Byte offset of this chunk.
    pub offset: u64,
    /// The chunk.
    pub data: Vec<u8>,
    /// True on the last chunk.
    pub done: bool,
}

/// Raft InstallSnapshot reply.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct InstallSnapshotResponse {
    /// The receiver's vote.
    pub vote: Vote,
}
