//! The `store` actor: one replica of the Raft group that holds cluster state (the etcd of
//! Rudder), openraft 0.9 over RocksDB.
//!
//! - [`types`]: openraft's type configuration and wire conversions (openraft's generics
//!   stay inside this module).
//! - [`log`]: the Raft log, vote and purge marker in RocksDB (synced before acknowledging).
//! - [`state`]: the state machine (keys, revisions, watch history) in RocksDB, snapshots.
//! - [`network`]: Raft RPCs as typed messages on the bus.
//!
//! Owns: the replica ([`StoreEngine`]: the Raft instance, its RocksDB, a dedicated tokio
//! runtime so fsyncs and Raft's own tasks never stall the node's actor thread). The
//! engine lives as long as the node; the `store` actor is its mailbox on the bus, so
//! killing the actor (chaos) restarts the front, while Raft state is only ever rebuilt
//! from disk by restarting the process.
//!
//! Messages in: [`StoreRequest`] (client operations, watches, membership, Raft RPCs).
//! Messages out: Raft RPCs and forwarded requests to other replicas' `store` actors.
//! Writes and linearizable reads that reach a follower are forwarded to the leader.
//!
//! Membership: a node configured to bootstrap initialises a one-replica group when its
//! log is empty; any other control-plane node asks the group to add it (`Join`): the
//! leader adds it as a learner, waits for it to catch up, then makes it a voter.

pub mod log;
pub mod network;
pub mod state;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use openraft::error::{ChangeMembershipError, ClientWriteError, InstallSnapshotError, RaftError};
use openraft::raft::InstallSnapshotRequest;
use openraft::{BasicNode, ChangeMembers, ServerState, SnapshotPolicy};
use rudder_protocol::actor::{NodeName, Role};
use rudder_protocol::messages::bus::MemberState;
use rudder_protocol::messages::store::{
    self as wire, CmpOp, Compare, CompareTarget, Consistency, Expect, OpResult, StoreError,
    StoreReply, StoreRequest, StoreStatus, Txn, TxnOp,
};
use rudder_protocol::messages::{BusError, Reply, Request};
use rudder_protocol::ActorRef;

use crate::bus::{Bus, Deliver};
use crate::supervisor::{StartContext, Started};
pub use network::STORE_ACTOR;
use network::{append_from_wire, append_response_to_wire, BusNetworkFactory};
use state::StateReader;
use types::*;

/// How long a forwarded request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest long-poll a watch may ask for.
const MAX_WATCH_WAIT: Duration = Duration::from_secs(60);
/// How long a write may wait for its commit before the caller is told it timed out.
/// openraft 0.9 has no check-quorum: a leader cut off from the others stays leader and
/// its proposals wait for a majority that never answers. Past this the write is reported
/// as timed out (it may still be applied later, like etcd's "request timed out"); it is
/// below the API server's 10 s store deadline, so API clients see why.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(8);

/// The store's settings (the `[store]` table of the node config).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Where RocksDB lives.
    pub dir: PathBuf,
    /// Initialise a one-replica group if the log is empty.
    pub bootstrap: bool,
    /// Revisions of change history kept for watches.
    pub history_limit: u64,
    /// Build a snapshot (and purge the log behind it) every this many entries.
    pub snapshot_every: u64,
    /// Raft heartbeat period.
    pub heartbeat: Duration,
    /// Lower bound of the election timeout.
    pub election_timeout_min: Duration,
    /// Upper bound of the election timeout.
    pub election_timeout_max: Duration,
}

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    /// The data directory could not be opened as a store.
    #[error(transparent)]
    Open(#[from] state::OpenError),
    /// The dedicated runtime could not start.
    #[error("cannot start the store runtime: {0}")]
    Runtime(std::io::Error),
    /// openraft refused the configuration or failed to start.
    #[error("raft failed to start: {0}")]
    Raft(String),
}

/// Most transactions proposed as one log entry.
const MAX_BATCH: usize = 512;

/// A transaction waiting to be proposed, where its outcome goes, and the trace it is
/// part of.
type Proposal = (
    Txn,
    tokio::sync::oneshot::Sender<Proposed>,
    Option<rudder_protocol::trace::TraceContext>,
);

/// The outcome of a proposed transaction.
#[derive(Debug, Clone)]
enum Proposed {
    /// Committed and applied.
    Done(wire::TxnResponse),
    /// This replica is not the leader; forward to this one (if known).
    Forward(Option<u64>),
    /// Raft failed the proposal.
    Failed(String),
}

/// Group commit: proposes every transaction waiting at the time as one log entry, so one
/// fsync on each replica covers them all (openraft 0.9 syncs each client write on its
/// own before taking the next). One entry is in flight at a time; writes arriving
/// meanwhile form the next entry. More in flight is slower, measured: openraft 0.9's
/// core handles every queued client write, each with its own synced append, before it
/// looks at replication acknowledgements and applied entries (bench-store, three
/// nodes, release: four in flight gave 486 puts/s at 64 clients against 829 with one,
/// and linearizable gets fell from 15,272/s to 1,955/s).
///
/// A traced transaction gets a `raft commit` span naming the log index its entry got
/// (see [`crate::telemetry::trace`]).
async fn propose_loop(raft: Raft, me: String, mut rx: tokio::sync::mpsc::Receiver<Proposal>) {
    use crate::telemetry::trace::Span;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let mut txns = Vec::with_capacity(size);
        let mut waiters = Vec::with_capacity(size);
        let mut spans = Vec::new();
        for (txn, waiter, trace) in batch {
            txns.push(txn);
            waiters.push(waiter);
            if let Some(parent) = trace {
                spans.push(Span::child_of(parent, &me, "raft commit"));
            }
        }
        let written = raft.client_write(txns).await;
        for mut span in spans {
            match &written {
                Ok(resp) => {
                    span.set_raft_index(resp.log_id.index);
                    span.set_detail(format!(
                        "index {} (one entry for {size} writes)",
                        resp.log_id.index
                    ));
                }
                // Not the leader: the write is forwarded, and committed (and traced)
                // there.
                Err(e) if e.forward_to_leader::<BasicNode>().is_some() => continue,
                Err(e) => span.set_detail(e.to_string()),
            }
            span.finish();
        }
        match written {
            Ok(resp) => {
                for (waiter, r) in waiters.into_iter().zip(resp.data) {
                    let _ = waiter.send(Proposed::Done(r));
                }
            }
            Err(e) => {
                let outcome = match e.forward_to_leader::<BasicNode>() {
                    Some(f) => Proposed::Forward(f.leader_id),
                    None => Proposed::Failed(e.to_string()),
                };
                for waiter in waiters {
                    let _ = waiter.send(outcome.clone());
                }
            }
        }
    }
}

/// One replica: Raft, its storage and its runtime.
pub struct StoreEngine {
    raft: Raft,
    proposals: tokio::sync::mpsc::Sender<Proposal>,
    reader: StateReader,
    bus: Bus,
    me: NodeName,
    id: u64,
    runtime: Mutex<RuntimeGuard>,
    handle: tokio::runtime::Handle,
    /// One membership change at a time from this node: interleaved joint/uniform steps
    /// of concurrent joins are what leaves a group stuck in a joint config.
    membership: tokio::sync::Mutex<()>,
}

impl crate::telemetry::components::RaftSource for StoreEngine {
    fn sample(&self) -> crate::telemetry::components::RaftSample {
        let m = self.raft.metrics().borrow().clone();
        crate::telemetry::components::RaftSample {
            term: m.current_term,
            has_leader: m.current_leader.is_some(),
            is_leader: m.current_leader == Some(self.id),
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
        }
    }
}

/// Counts the leaders this replica sees come and go (`etcd_server_leader_changes_seen`):
/// every change to a known leader, the first one included, as etcd counts.
async fn count_leader_changes(
    mut rx: tokio::sync::watch::Receiver<openraft::RaftMetrics<u64, BasicNode>>,
) {
    let mut seen = None;
    loop {
        let leader = rx.borrow_and_update().current_leader;
        if leader.is_some() && leader != seen {
            crate::telemetry::metrics()
                .components
                .raft()
                .leader_changes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if leader.is_some() {
            seen = leader;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Owns the store runtime; shuts it down without blocking when dropped, since it is
/// dropped from async code (dropping a runtime there would panic).
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl RuntimeGuard {
    fn handle(&self) -> tokio::runtime::Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            None => tokio::runtime::Handle::current(),
        }
    }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for StoreEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreEngine")
            .field("node", &self.me)
            .finish()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl StoreEngine {
    /// Opens the replica's storage and starts Raft; joins or bootstraps the group.
    pub async fn open(cfg: StoreConfig, bus: Bus) -> Result<Arc<StoreEngine>, StoreOpenError> {
        let (mut log, mut sm, reader) = state::open(&cfg.dir, cfg.history_limit)?;
        log.trace_as(bus.node().as_str());
        sm.trace_as(bus.node().as_str());
        let runtime = RuntimeGuard(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("store")
                .enable_all()
                .build()
                .map_err(StoreOpenError::Runtime)?,
        ));
        let handle = runtime.handle();
        let me = bus.node().clone();
        let id = node_id(me.as_str());
        let config = openraft::Config {
            cluster_name: "rudder".into(),
            heartbeat_interval: cfg.heartbeat.as_millis() as u64,
            election_timeout_min: cfg.election_timeout_min.as_millis() as u64,
            election_timeout_max: cfg.election_timeout_max.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: (cfg.snapshot_every / 2).max(16),
            snapshot_max_chunk_size: 1024 * 1024,
            max_payload_entries: 1024,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| StoreOpenError::Raft(e.to_string()))?;
        let network = BusNetworkFactory { bus: bus.clone() };
        // Raft's tasks are spawned where it is created: on the store runtime.
        let raft = handle
            .spawn(async move { Raft::new(id, Arc::new(config), network, log, sm).await })
            .await
            .map_err(|e| StoreOpenError::Raft(e.to_string()))?
            .map_err(|e| StoreOpenError::Raft(e.to_string()))?;
        let (proposals, proposal_rx) = tokio::sync::mpsc::channel(4 * MAX_BATCH);
        handle.spawn(propose_loop(raft.clone(), me.to_string(), proposal_rx));
        let engine = Arc::new(StoreEngine {
            raft,
            proposals,
            reader,
            bus,
            me: me.clone(),
            id,
            runtime: Mutex::new(runtime),
            handle,
            membership: tokio::sync::Mutex::new(()),
        });
        let source: std::sync::Weak<dyn crate::telemetry::components::RaftSource> =
            Arc::downgrade(&engine)
                as std::sync::Weak<dyn crate::telemetry::components::RaftSource>;
        crate::telemetry::metrics()
            .components
            .add_raft_source(source);
        engine
            .handle
            .spawn(count_leader_changes(engine.raft.metrics()));
        let initialized = engine
            .raft
            .is_initialized()
            .await
            .map_err(|e| StoreOpenError::Raft(e.to_string()))?;
        if !initialized {
            if cfg.bootstrap {
                let members = BTreeMap::from([(id, BasicNode::new(me.to_string()))]);
                engine
                    .raft
                    .initialize(members)
                    .await
                    .map_err(|e| StoreOpenError::Raft(e.to_string()))?;
                tracing::info!(node = %me, "initialised a new one-replica store");
            } else {
                let weak = Arc::downgrade(&engine);
                engine.handle.spawn(join_loop(weak));
            }
        }
        engine.handle.spawn(break_election_ties(
            Arc::downgrade(&engine),
            cfg.election_timeout_max,
        ));
        Ok(engine)
    }

    /// A read handle on this replica's applied state.
    pub fn reader(&self) -> &StateReader {
        &self.reader
    }

    /// Serves one request on the store runtime.
    pub async fn serve(self: &Arc<Self>, req: StoreRequest) -> StoreReply {
        self.serve_traced(req, None).await
    }

    /// [`StoreEngine::serve`] as part of a trace: what it forwards and proposes carries
    /// `trace`.
    pub async fn serve_traced(
        self: &Arc<Self>,
        req: StoreRequest,
        trace: Option<rudder_protocol::trace::TraceContext>,
    ) -> StoreReply {
        let this = self.clone();
        match self
            .handle
            .spawn(crate::telemetry::trace::within(trace, async move {
                this.handle(req).await
            }))
            .await
        {
            Ok(reply) => reply,
            Err(e) => StoreReply::Error(unavailable(e)),
        }
    }

    /// Stops Raft and the store runtime.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        let rt = match self.runtime.lock() {
            Ok(mut g) => g.0.take(),
            Err(p) => p.into_inner().0.take(),
        };
        if let Some(rt) = rt {
            // Wait for Raft's tasks (and the RocksDB handles they hold) to be gone before
            // the process exits: RocksDB aborts when its threads outlive the process's
            // teardown. Blocking, so on a blocking thread.
            let waited = tokio::task::spawn_blocking(move || {
                rt.shutdown_timeout(Duration::from_secs(5));
            })
            .await;
            if let Err(e) = waited {
                tracing::warn!(error = %e, "store runtime shutdown");
            }
        }
    }

    async fn handle(&self, req: StoreRequest) -> StoreReply {
        match req {
            StoreRequest::Get { key, consistency } => {
                if let Err(reply) = self
                    .read_barrier(
                        consistency,
                        &StoreRequest::Get {
                            key: key.clone(),
                            consistency,
                        },
                    )
                    .await
                {
                    return reply;
                }
                match self.reader.get(&key) {
                    Ok((kv, revision)) => StoreReply::Get { kv, revision },
                    Err(e) => StoreReply::Error(e),
                }
            }
            StoreRequest::Range {
                prefix,
                start_after,
                limit,
                consistency,
            } => {
                let again = StoreRequest::Range {
                    prefix: prefix.clone(),
                    start_after: start_after.clone(),
                    limit,
                    consistency,
                };
                if let Err(reply) = self.read_barrier(consistency, &again).await {
                    return reply;
                }
                match self.reader.range(&prefix, start_after.as_deref(), limit) {
                    Ok((kvs, more, revision)) => StoreReply::Range {
                        kvs,
                        more,
                        revision,
                    },
                    Err(e) => StoreReply::Error(e),
                }
            }
            StoreRequest::Put { key, value, expect } => {
                let txn = put_txn(&key, value.clone(), expect);
                let again = StoreRequest::Put {
                    key: key.clone(),
                    value,
                    expect,
                };
                match self.write(txn, again).await {
                    Ok(resp) => written(&key, expect, resp),
                    Err(reply) => reply,
                }
            }
            StoreRequest::Delete { key, expect } => {
                if expect == Expect::Absent {
                    return StoreReply::Error(StoreError::Invalid(
                        "a delete cannot expect the key to be absent".into(),
                    ));
                }
                let txn = delete_txn(&key, expect);
                match self
                    .write(
                        txn,
                        StoreRequest::Delete {
                            key: key.clone(),
                            expect,
                        },
                    )
                    .await
                {
                    Ok(resp) => written(&key, expect, resp),
                    Err(reply) => reply,
                }
            }
            StoreRequest::Txn(txn) => match self.write(txn.clone(), StoreRequest::Txn(txn)).await {
                Ok(resp) => StoreReply::Txn(resp),
                Err(reply) => reply,
            },
            StoreRequest::WatchPoll {
                prefix,
                after,
                max_events,
                wait_ms,
            } => self.watch_poll(&prefix, after, max_events, wait_ms).await,
            StoreRequest::Status => StoreReply::Status(self.status()),
            StoreRequest::Digest => match (self.reader.digest(), self.reader.revision()) {
                (Ok(digest), Ok(revision)) => StoreReply::Digest { digest, revision },
                (Err(e), _) | (_, Err(e)) => StoreReply::Error(e),
            },
            StoreRequest::Join { node } => self.join(node).await,
            StoreRequest::Remove { node } => self.remove(node).await,
            StoreRequest::RaftAppend(rpc) => {
                match self.raft.append_entries(append_from_wire(rpc)).await {
                    Ok(r) => StoreReply::RaftAppend(append_response_to_wire(&r)),
                    Err(e) => StoreReply::Error(unavailable(e)),
                }
            }
            StoreRequest::RaftVote(rpc) => {
                let req = openraft::raft::VoteRequest {
                    vote: vote_from_wire(&rpc.vote),
                    last_log_id: opt_log_id_from_wire(&rpc.last_log_id),
                };
                match self.raft.vote(req).await {
                    Ok(r) => StoreReply::RaftVote(wire::VoteResponse {
                        vote: vote_to_wire(&r.vote),
                        vote_granted: r.vote_granted,
                        last_log_id: opt_log_id_to_wire(&r.last_log_id),
                    }),
                    Err(e) => StoreReply::Error(unavailable(e)),
                }
            }
            StoreRequest::RaftSnapshot(rpc) => {
                let req = InstallSnapshotRequest {
                    vote: vote_from_wire(&rpc.vote),
                    meta: snapshot_meta_from_wire(&rpc.meta),
                    offset: rpc.offset,
                    data: rpc.data,
                    done: rpc.done,
                };
                match self.raft.install_snapshot(req).await {
                    Ok(r) => StoreReply::RaftSnapshot(wire::InstallSnapshotResponse {
                        vote: vote_to_wire(&r.vote),
                    }),
                    Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => {
                        StoreReply::Error(StoreError::SnapshotMismatch {
                            expected_offset: m.expect.offset,
                            got_offset: m.got.offset,
                        })
                    }
                    Err(e) => StoreReply::Error(unavailable(e)),
                }
            }
        }
    }

    /// Name of the node with Raft id `id`, from the current membership.
    fn name_of(&self, id: u64) -> Option<NodeName> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let name = m
            .membership_config
            .membership()
            .nodes()
            .find(|(nid, _)| **nid == id)
            .map(|(_, n)| NodeName::new(n.addr.clone()));
        name
    }

    async fn forward(&self, leader: Option<u64>, req: StoreRequest) -> StoreReply {
        let Some(leader) = leader.filter(|l| *l != self.id) else {
            return StoreReply::Error(StoreError::NoLeader);
        };
        let Some(name) = self.name_of(leader) else {
            return StoreReply::Error(StoreError::NoLeader);
        };
        match self
            .bus
            .call(ActorRef::new(name, STORE_ACTOR), req, FORWARD_TIMEOUT)
            .await
        {
            Ok(reply) => reply,
            Err(e) => StoreReply::Error(unavailable(e)),
        }
    }

    /// For linearizable reads: confirms leadership and waits for the read index to be
    /// applied, or forwards the whole request to the leader.
    async fn read_barrier(
        &self,
        consistency: Consistency,
        req: &StoreRequest,
    ) -> Result<(), StoreReply> {
        if consistency == Consistency::Serializable {
            return Ok(());
        }
        // A read index needs a heartbeat round with a majority; on a loaded machine one
        // round can miss (QuorumNotEnough) while the group is healthy: try twice more.
        let mut attempt = 0;
        loop {
            match self.raft.ensure_linearizable().await {
                Ok(_) => return Ok(()),
                Err(e) => match e.forward_to_leader::<BasicNode>() {
                    Some(f) => return Err(self.forward(f.leader_id, req.clone()).await),
                    None if attempt < 2 => {
                        attempt += 1;
                        tracing::debug!(error = %e, attempt, "read index missed a quorum; retrying");
                        tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                    }
                    None => return Err(StoreReply::Error(unavailable(e))),
                },
            }
        }
    }

    async fn write(&self, txn: Txn, req: StoreRequest) -> Result<wire::TxnResponse, StoreReply> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let trace = crate::telemetry::trace::current();
        if self.proposals.send((txn, tx, trace)).await.is_err() {
            return Err(StoreReply::Error(unavailable("the store is shutting down")));
        }
        let Ok(outcome) = tokio::time::timeout(COMMIT_TIMEOUT, rx).await else {
            return Err(StoreReply::Error(unavailable(format!(
                "request timed out: the write was not committed within {}s (no quorum?); \
                 it may still be applied",
                COMMIT_TIMEOUT.as_secs()
            ))));
        };
        match outcome {
            Ok(Proposed::Done(resp)) => Ok(resp),
            Ok(Proposed::Forward(leader)) => match self.forward(leader, req).await {
                StoreReply::Txn(resp) => Ok(resp),
                other => Err(other),
            },
            Ok(Proposed::Failed(message)) => {
                Err(StoreReply::Error(StoreError::Unavailable(message)))
            }
            Err(_) => Err(StoreReply::Error(unavailable("the store is shutting down"))),
        }
    }

    async fn watch_poll(
        &self,
        prefix: &str,
        after: u64,
        max_events: u32,
        wait_ms: u32,
    ) -> StoreReply {
        let max = max_events.clamp(1, 10_000);
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(wait_ms.into()).min(MAX_WATCH_WAIT);
        let mut changes = self.reader.subscribe();
        let mut last_look = false;
        // Nothing under the prefix changed after `after` up to this revision: each wake
        // looks only at what is newer.
        let mut checked = after;
        loop {
            let applied = *changes.borrow_and_update();
            // Caught up, and nothing under the prefix moved since (in memory): wait,
            // without reading the database (every apply wakes every poll).
            let quiet = !last_look
                && after <= applied
                && self.reader.moved_under(prefix, checked) == Some(false);
            if !quiet {
                match self.reader.events_after(prefix, after, max) {
                    Ok(batch) if !batch.events.is_empty() => return StoreReply::Watch(batch),
                    Ok(batch) if tokio::time::Instant::now() >= deadline => {
                        return StoreReply::Watch(batch)
                    }
                    Ok(_) => {}
                    Err(e) => return StoreReply::Error(e),
                }
            }
            checked = checked.max(applied);
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                // Deadline: one last look, which returns a progress batch if still empty.
                last_look = true;
            }
        }
    }

    fn status(&self) -> StoreStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let matched: BTreeMap<u64, Option<u64>> = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, lid)| (*id, lid.map(|l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        let members = membership
            .nodes()
            .map(|(id, n)| wire::MemberStatus {
                node: NodeName::new(n.addr.clone()),
                id: *id,
                voter: voters.contains(id),
                matched_index: if *id == self.id {
                    m.last_log_index
                } else {
                    matched.get(id).copied().flatten()
                },
            })
            .collect();
        StoreStatus {
            node: self.me.clone(),
            leader: m.current_leader.and_then(|l| {
                membership
                    .nodes()
                    .find(|(id, _)| **id == l)
                    .map(|(_, n)| NodeName::new(n.addr.clone()))
            }),
            term: m.current_term,
            state: format!("{:?}", m.state),
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            revision: self.reader.revision().unwrap_or(0),
            compact_revision: self.reader.compact_revision().unwrap_or(0),
            members,
        }
    }

    /// Whether Raft node `id` is a voter in the current membership.
    fn is_voter(&self, id: u64) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == id);
        voter
    }

    fn is_leader(&self) -> (bool, Option<u64>) {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        (m.state == ServerState::Leader, m.current_leader)
    }

    async fn join(&self, node: NodeName) -> StoreReply {
        let (leader, known) = self.is_leader();
        if !leader {
            return self.forward(known, StoreRequest::Join { node }).await;
        }
        let id = node_id(node.as_str());
        if self.is_voter(id) {
            return StoreReply::MembershipChanged;
        }
        tracing::info!(node = %self.me, joining = %node, "adding replica as learner");
        if let Err(e) = self
            .raft
            .add_learner(id, BasicNode::new(node.to_string()), true)
            .await
        {
            return match e.forward_to_leader::<BasicNode>() {
                Some(f) => self.forward(f.leader_id, StoreRequest::Join { node }).await,
                None => StoreReply::Error(unavailable(e)),
            };
        }
        tracing::info!(node = %self.me, joining = %node, "promoting replica to voter");
        match self
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])))
            .await
        {
            Ok(_) => StoreReply::MembershipChanged,
            Err(e) => match e.forward_to_leader::<BasicNode>() {
                Some(f) => self.forward(f.leader_id, StoreRequest::Join { node }).await,
                None => StoreReply::Error(unavailable(e)),
            },
        }
    }

    /// Changes membership, waiting out a change still in progress (each change commits a
    /// joint then a uniform config; the next may only start after both).
    async fn change_membership(
        &self,
        changes: ChangeMembers<u64, BasicNode>,
    ) -> Result<(), RaftError<u64, ClientWriteError<u64, BasicNode>>> {
        let _one_at_a_time = self.membership.lock().await;
        let mut tries = 0;
        loop {
            match self.raft.change_membership(changes.clone(), false).await {
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_),
                ))) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(_) => {
                    self.finish_joint().await?;
                    self.settle().await;
                    return Ok(());
                }
                other => return other.map(|_| ()),
            }
        }
    }

    /// Waits (up to 5 s) until every member has replicated this leader's log, so the next
    /// membership change starts from a group that is in step: back-to-back changes whose
    /// replication had not caught up have been seen to stall the group in openraft 0.9.
    async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            let m = self.raft.metrics().borrow().clone();
            let Some(replication) = &m.replication else {
                return;
            };
            let last = m.last_log_index;
            if replication
                .values()
                .all(|matched| matched.as_ref().map(|l| l.index) >= last)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!(node = %self.me, "replication did not catch up after a membership change");
    }

    /// Leaves a joint membership for its final, uniform config.
    ///
    /// openraft commits a change as a joint config, then the uniform one; when the second
    /// step loses a race with another change, the group can stay joint, and a joint config
    /// needs a majority of the old voters too: one lost old voter then blocks every
    /// election. Only the leader acts; it is harmless when already uniform.
    async fn finish_joint(&self) -> Result<(), RaftError<u64, ClientWriteError<u64, BasicNode>>> {
        for _ in 0..100 {
            let m = self.raft.metrics().borrow().clone();
            let configs = m.membership_config.membership().get_joint_config().clone();
            if configs.len() <= 1 || m.current_leader != Some(self.id) {
                return Ok(());
            }
            let last = configs.last().cloned().unwrap_or_default();
            tracing::info!(node = %self.me, "finishing a joint membership change");
            match self
                .raft
                .change_membership(ChangeMembers::ReplaceAllVoters(last), false)
                .await
            {
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_),
                ))) => tokio::time::sleep(Duration::from_millis(50)).await,
                other => other.map(|_| ())?,
            }
        }
        Ok(())
    }

    async fn remove(&self, node: NodeName) -> StoreReply {
        let (leader, known) = self.is_leader();
        if !leader {
            return self.forward(known, StoreRequest::Remove { node }).await;
        }
        let id = node_id(node.as_str());
        let ids = BTreeSet::from([id]);
        if let Err(e) = self
            .change_membership(ChangeMembers::RemoveVoters(ids.clone()))
            .await
        {
            return StoreReply::Error(unavailable(e));
        }
        match self
            .change_membership(ChangeMembers::RemoveNodes(ids))
            .await
        {
            Ok(_) => StoreReply::MembershipChanged,
            Err(e) => StoreReply::Error(unavailable(e)),
        }
    }
}

/// Asks control-plane nodes to add this one to the group until it is a member.
async fn join_loop(engine: std::sync::Weak<StoreEngine>) {
    let mut delay = Duration::from_millis(200);
    loop {
        let Some(e) = engine.upgrade() else { return };
        if e.is_voter(e.id) {
            tracing::info!(node = %e.me, "replica is a voting member of the store");
            return;
        }
        let peers: Vec<NodeName> = e
            .bus
            .members()
            .into_iter()
            .filter(|m| {
                m.name != e.me
                    && m.state == MemberState::Alive
                    && m.roles.contains(&Role::ControlPlane)
            })
            .map(|m| m.name)
            .collect();
        for peer in peers {
            let req = StoreRequest::Join { node: e.me.clone() };
            match e
                .bus
                .call(
                    ActorRef::new(peer.clone(), STORE_ACTOR),
                    req,
                    Duration::from_secs(30),
                )
                .await
            {
                Ok(StoreReply::MembershipChanged) => break,
                Ok(other) => tracing::debug!(via = %peer, reply = ?other, "join not yet accepted"),
                Err(err) => tracing::debug!(via = %peer, error = %err, "join request failed"),
            }
        }
        drop(e);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

fn put_txn(key: &str, value: Vec<u8>, expect: Expect) -> Txn {
    let put = TxnOp::Put {
        key: key.to_owned(),
        value,
    };
    let get = TxnOp::Get {
        key: key.to_owned(),
    };
    match expect {
        Expect::Any => Txn {
            compares: vec![],
            success: vec![put],
            failure: vec![],
        },
        Expect::Absent => Txn {
            compares: vec![Compare {
                key: key.to_owned(),
                op: CmpOp::Equal,
                target: CompareTarget::Version(0),
            }],
            success: vec![put],
            failure: vec![get],
        },
        Expect::ModRevision(r) => Txn {
            compares: vec![Compare {
                key: key.to_owned(),
                op: CmpOp::Equal,
                target: CompareTarget::ModRevision(r),
            }],
            success: vec![put],
            failure: vec![get],
        },
    }
}

fn delete_txn(key: &str, expect: Expect) -> Txn {
    let del = TxnOp::Delete {
        key: key.to_owned(),
    };
    match expect {
        Expect::ModRevision(r) => Txn {
            compares: vec![Compare {
                key: key.to_owned(),
                op: CmpOp::Equal,
                target: CompareTarget::ModRevision(r),
            }],
            success: vec![del],
            failure: vec![TxnOp::Get {
                key: key.to_owned(),
            }],
        },
        Expect::Any | Expect::Absent => Txn {
            compares: vec![],
            success: vec![del],
            failure: vec![],
        },
    }
}

/// Turns the transaction behind a `Put`/`Delete` into its reply and distinct errors.
fn written(key: &str, expect: Expect, resp: wire::TxnResponse) -> StoreReply {
    if resp.succeeded {
        return match resp.results.first() {
            Some(OpResult::Delete { prev: None }) => StoreReply::Error(StoreError::NotFound {
                key: key.to_owned(),
            }),
            Some(OpResult::Put { prev }) | Some(OpResult::Delete { prev }) => StoreReply::Written {
                revision: resp.revision,
                prev: prev.clone(),
            },
            _ => StoreReply::Written {
                revision: resp.revision,
                prev: None,
            },
        };
    }
    let current = match resp.results.first() {
        Some(OpResult::Get { kv }) => kv.clone(),
        _ => None,
    };
    let err = match (expect, current) {
        (Expect::Absent, _) => StoreError::AlreadyExists {
            key: key.to_owned(),
        },
        (Expect::ModRevision(_), None) => StoreError::NotFound {
            key: key.to_owned(),
        },
        (Expect::ModRevision(expected), Some(kv)) => StoreError::Conflict {
            key: key.to_owned(),
            expected,
            actual: kv.mod_revision,
        },
        (Expect::Any, _) => StoreError::Unavailable("unconditional write reported failure".into()),
    };
    StoreReply::Error(err)
}

/// The `store` actor: the bus front of this node's [`StoreEngine`].
pub struct Store {
    engine: Arc<StoreEngine>,
    me: ActorRef,
}

impl Store {
    /// The component factory for a node whose engine is `engine`.
    pub fn factory(
        engine: Arc<StoreEngine>,
    ) -> impl Fn(&StartContext) -> Started + Send + Sync + 'static {
        move |ctx: &StartContext| {
            Started::actor(Store {
                engine: engine.clone(),
                me: ActorRef::new(ctx.bus.node().clone(), STORE_ACTOR),
            })
        }
    }
}

impl Actor for Store {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

crate::stop_on_request!(Store);

impl Handler<Deliver> for Store {
    type Result = ResponseFuture<Result<Reply, BusError>>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        let me = self.me.clone();
        Box::pin(async move {
            match msg.0 {
                Request::Store(req) => Ok(Reply::Store(Box::new(
                    engine.serve_traced(*req, msg.2).await,
                ))),
                other => Err(BusError::WrongProtocol {
                    actor: me,
                    protocol: other.protocol().into(),
                }),
            }
        })
    }
}

/// Breaks split-vote ties that openraft 0.9 cannot break by itself.
///
/// openraft 0.9 draws each replica's election timeout once, at start, and checks it on a
/// coarse tick; two survivors whose draws land on the same tick start every election at
/// the same moment, each votes for itself, and no leader is ever elected (fixed upstream
/// only in 0.10, which resamples per campaign). So: a voter that has seen no leader for
/// three election timeouts starts an election itself after a random pause, which no
/// other replica shares.
async fn break_election_ties(weak: std::sync::Weak<StoreEngine>, election_max: Duration) {
    use rand::Rng;
    let period = election_max.max(Duration::from_millis(50));
    let mut leaderless = Duration::ZERO;
    loop {
        tokio::time::sleep(period).await;
        let Some(engine) = weak.upgrade() else {
            return;
        };
        let m = engine.raft.metrics().borrow().clone();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == engine.id);
        if m.current_leader == Some(engine.id)
            && m.membership_config.membership().get_joint_config().len() > 1
        {
            // A joint config left behind by a change that lost a race: finish it.
            if let Ok(_idle) = engine.membership.try_lock() {
                let _ = engine.finish_joint().await;
            }
        }
        if m.current_leader.is_some() || !voter || m.state == ServerState::Shutdown {
            leaderless = Duration::ZERO;
            continue;
        }
        leaderless += period;
        if leaderless < period * 3 {
            continue;
        }
        let jitter = rand::thread_rng().gen_range(0..=period.as_millis() as u64 * 2);
        drop(engine);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        let Some(engine) = weak.upgrade() else {
            return;
        };
        if engine.raft.metrics().borrow().current_leader.is_none() {
            tracing::info!(node = %engine.me, "no leader for a while; starting an election");
            let _ = engine.raft.trigger().elect().await;
        }
        leaderless = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::messages::store::KeyValue;

    fn kv(rev: u64) -> KeyValue {
        KeyValue {
            key: "k".into(),
            value: b"v".to_vec(),
            create_revision: 1,
            mod_revision: rev,
            version: 1,
        }
    }

    #[test]
    fn write_outcomes_map_to_distinct_errors() {
        let failed = |kv: Option<KeyValue>| wire::TxnResponse {
            succeeded: false,
            revision: 9,
            results: vec![OpResult::Get { kv }],
        };
        let cases: Vec<(&str, Expect, wire::TxnResponse, StoreReply)> = vec![
            (
                "create-only on an existing key",
                Expect::Absent,
                failed(Some(kv(4))),
                StoreReply::Error(StoreError::AlreadyExists { key: "k".into() }),
            ),
            (
                "cas on a missing key",
                Expect::ModRevision(3),
                failed(None),
                StoreReply::Error(StoreError::NotFound { key: "k".into() }),
            ),
            (
                "cas on a changed key",
                Expect::ModRevision(3),
                failed(Some(kv(4))),
                StoreReply::Error(StoreError::Conflict {
                    key: "k".into(),
                    expected: 3,
                    actual: 4,
                }),
            ),
            (
                "delete of a missing key",
                Expect::Any,
                wire::TxnResponse {
                    succeeded: true,
                    revision: 9,
                    results: vec![OpResult::Delete { prev: None }],
                },
                StoreReply::Error(StoreError::NotFound { key: "k".into() }),
            ),
            (
                "successful put",
                Expect::Any,
                wire::TxnResponse {
                    succeeded: true,
                    revision: 10,
                    results: vec![OpResult::Put { prev: Some(kv(4)) }],
                },
                StoreReply::Written {
                    revision: 10,
                    prev: Some(kv(4)),
                },
            ),
        ];
        for (name, expect, resp, want) in cases {
            assert_eq!(written("k", expect, resp), want, "{name}");
        }
    }

    #[test]
    fn txns_for_expectations() {
        let t = put_txn("k", vec![1], Expect::Absent);
        assert_eq!(t.compares[0].target, CompareTarget::Version(0));
        let t = put_txn("k", vec![1], Expect::ModRevision(5));
        assert_eq!(t.compares[0].target, CompareTarget::ModRevision(5));
        assert!(put_txn("k", vec![1], Expect::Any).compares.is_empty());
        let t = delete_txn("k", Expect::ModRevision(5));
        assert_eq!(t.failure, vec![TxnOp::Get { key: "k".into() }]);
    }
}
