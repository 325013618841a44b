//! Applying: the [`StateMachine`] and the deterministic application of committed
//! transactions.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{BasicNode, EntryPayload, ErrorVerb, Snapshot, SnapshotMeta, StoredMembership};
use rocksdb::{ColumnFamily, WriteBatch, DB};
use rudder_protocol::codec;
use rudder_protocol::messages::store::{
    CmpOp, Compare, CompareTarget, EventKind, KeyValue, OpResult, Txn, TxnOp, TxnResponse,
    WatchEvent,
};
use tokio::sync::watch;

use crate::store::types::{snapshot_meta_from_wire, Entry, LogId, StorageError, TypeConfig};

use super::*;

/// The state machine of one replica.
///
/// Applies committed entries (transactions) to the `kv` and `history` families in one
/// write batch per call, builds and installs snapshots, and publishes the applied
/// revision on a [`watch`] channel (see [`StateReader::subscribe`]).
pub struct StateMachine {
    pub(super) db: Arc<DB>,
    pub(super) history_limit: u64,
    /// What the database says, cached: only this type writes it.
    pub(super) meta: SmMeta,
    pub(super) revision_tx: watch::Sender<u64>,
    /// The keys recent applies changed, shared with every [`StateReader`].
    pub(super) recent: Arc<Mutex<super::recent::RecentChanges>>,
    /// Serialises saving the current snapshot between a builder and an install.
    pub(super) snapshot_lock: Arc<Mutex<()>>,
    /// The node whose applies traces see (see [`StateMachine::trace_as`]).
    pub(super) trace_node: Option<Arc<str>>,
}

impl StateMachine {
    /// Remembers each applied log index for traces, as node `node`'s
    /// ([`crate::telemetry::trace::raft_step`]).
    pub fn trace_as(&mut self, node: &str) {
        self.trace_node = Some(Arc::from(node));
    }
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine")
            .field("path", &self.db.path())
            .field("history_limit", &self.history_limit)
            .field("meta", &self.meta)
            .finish()
    }
}

impl StateMachine {
    /// A read handle on this state machine's data.
    pub fn reader(&self) -> StateReader {
        StateReader {
            db: self.db.clone(),
            revision_rx: self.revision_tx.subscribe(),
            recent: self.recent.clone(),
        }
    }

    /// The applied revision.
    pub fn revision(&self) -> u64 {
        self.meta.revision
    }
}

/// Applies one batch of entries: reads go through `overlay` (this batch's writes) to the
/// database, writes go to `batch`.
pub(super) struct Applier<'a> {
    db: &'a DB,
    kv: &'a ColumnFamily,
    history: &'a ColumnFamily,
    history_limit: u64,
    meta: SmMeta,
    overlay: BTreeMap<String, Option<KeyValue>>,
    batch: WriteBatch,
    /// Each key written, with its revision, in order.
    changed: Vec<(u64, String)>,
}

pub(super) fn compare_holds(current: Option<&KeyValue>, cmp: &Compare) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match &cmp.target {
        CompareTarget::Version(v) => Some(current.map_or(0, |kv| kv.version).cmp(v)),
        CompareTarget::CreateRevision(r) => Some(current.map_or(0, |kv| kv.create_revision).cmp(r)),
        CompareTarget::ModRevision(r) => Some(current.map_or(0, |kv| kv.mod_revision).cmp(r)),
        // A missing key has no value: it is unequal to every value and nothing else.
        CompareTarget::Value(v) => current.map(|kv| kv.value.as_slice().cmp(v.as_slice())),
    };
    match (cmp.op, ord) {
        (CmpOp::NotEqual, None) => true,
        (_, None) => false,
        (CmpOp::Equal, Some(o)) => o == Ordering::Equal,
        (CmpOp::NotEqual, Some(o)) => o != Ordering::Equal,
        (CmpOp::Less, Some(o)) => o == Ordering::Less,
        (CmpOp::Greater, Some(o)) => o == Ordering::Greater,
    }
}

impl Applier<'_> {
    fn get(&self, key: &str) -> Result<Option<KeyValue>, StorageError> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        let bytes = self
            .db
            .get_pinned_cf(self.kv, key.as_bytes())
            .map_err(|e| sm_error(ErrorVerb::Read, format!("reading key {key}: {e}")))?;
        match bytes {
            None => Ok(None),
            Some(b) => decode_value(key, &b)
                .map(Some)
                .map_err(|e| sm_error(ErrorVerb::Read, format!("decoding key {key}: {e}"))),
        }
    }

    fn record(&mut self, revision: u64, seq: u32, event: &WatchEvent) -> Result<(), StorageError> {
        let bytes = codec::encode(event).map_err(|e| {
            sm_error(
                ErrorVerb::Write,
                format!(
                    "encoding the event on {} at revision {revision}: {e}",
                    event.kv.key
                ),
            )
        })?;
        self.batch
            .put_cf(self.history, history_key(revision, seq), bytes);
        self.changed.push((revision, event.kv.key.clone()));
        Ok(())
    }

    fn txn(&mut self, txn: &Txn) -> Result<TxnResponse, StorageError> {
        let mut succeeded = true;
        for cmp in &txn.compares {
            let current = self.get(&cmp.key)?;
            if !compare_holds(current.as_ref(), cmp) {
                succeeded = false;
                break;
            }
        }
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let revision = self.meta.revision + 1;
        let mut seq: u32 = 0;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                TxnOp::Put { key, value } => {
                    let prev = self.get(key)?;
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                        mod_revision: revision,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                    };
                    let event = WatchEvent {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                        prev: prev.clone(),
                    };
                    self.record(revision, seq, &event)?;
                    seq += 1;
                    self.overlay.insert(key.clone(), Some(kv));
                    results.push(OpResult::Put { prev });
                }
                TxnOp::Delete { key } => {
                    let prev = self.get(key)?;
                    if prev.is_some() {
                        let event = WatchEvent {
                            kind: EventKind::Delete,
                            kv: KeyValue {
                                key: key.clone(),
                                value: Vec::new(),
                                create_revision: 0,
                                mod_revision: revision,
                                version: 0,
                            },
                            prev: prev.clone(),
                        };
                        self.record(revision, seq, &event)?;
                        seq += 1;
                        self.overlay.insert(key.clone(), None);
                    }
                    results.push(OpResult::Delete { prev });
                }
                TxnOp::Get { key } => {
                    let kv = self.get(key)?;
                    results.push(OpResult::Get { kv });
                }
            }
        }
        if seq > 0 {
            self.meta.revision = revision;
            self.compact_history();
        }
        Ok(TxnResponse {
            succeeded,
            revision: self.meta.revision,
            results,
        })
    }

    /// Keeps the history window: once it exceeds the limit by a tenth, drops everything
    /// up to `revision - limit`. A function of the revision alone, so every replica
    /// compacts at the same points.
    fn compact_history(&mut self) {
        let limit = self.history_limit;
        let span = self.meta.revision - self.meta.compact_revision;
        if span > limit.saturating_add(limit / 10) {
            let compact = self.meta.revision - limit;
            self.batch.delete_range_cf(
                self.history,
                history_key(0, 0),
                history_key(compact.saturating_add(1), 0),
            );
            tracing::debug!(
                compact_revision = compact,
                revision = self.meta.revision,
                "compacted watch history"
            );
            self.meta.compact_revision = compact;
        }
    }

    /// Writes the overlay and the `sm` record into the batch, and returns it.
    fn finish(mut self) -> Result<(WriteBatch, SmMeta), StorageError> {
        for (key, value) in std::mem::take(&mut self.overlay) {
            match value {
                Some(kv) => {
                    let bytes = encode_value(&kv).map_err(|e| {
                        sm_error(ErrorVerb::Write, format!("encoding key {key}: {e}"))
                    })?;
                    self.batch.put_cf(self.kv, key.as_bytes(), bytes);
                }
                None => self.batch.delete_cf(self.kv, key.as_bytes()),
            }
        }
        let sm = cf(self.db, CF_SM).map_err(|m| sm_error(ErrorVerb::Write, m))?;
        let meta = self
            .meta
            .encode()
            .map_err(|e| sm_error(ErrorVerb::Write, format!("encoding sm/meta: {e}")))?;
        self.batch.put_cf(sm, KEY_SM_META, meta);
        Ok((self.batch, self.meta))
    }
}

/// What applying a run of entries gives: the new meta, one response per entry, and each
/// key written with its revision.
pub(super) type Applied = (SmMeta, Vec<Vec<TxnResponse>>, Vec<(u64, String)>);

/// Applies `entries` on top of `meta` (see [`Applied`]).
pub(super) fn apply_entries(
    db: &DB,
    meta: SmMeta,
    history_limit: u64,
    entries: Vec<Entry>,
) -> Result<Applied, StorageError> {
    let kv = cf(db, CF_KV).map_err(|m| sm_error(ErrorVerb::Write, m))?;
    let history = cf(db, CF_HISTORY).map_err(|m| sm_error(ErrorVerb::Write, m))?;
    let mut applier = Applier {
        db,
        kv,
        history,
        history_limit,
        meta,
        overlay: BTreeMap::new(),
        batch: WriteBatch::default(),
        changed: Vec::new(),
    };
    let mut responses = Vec::with_capacity(entries.len());
    let mut last = None;
    for entry in entries {
        applier.meta.last_applied = Some(entry.log_id);
        last = Some(entry.log_id);
        match entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Membership(m) => {
                applier.meta.membership = StoredMembership::new(Some(entry.log_id), m);
            }
            EntryPayload::Normal(txns) => {
                let mut out = Vec::with_capacity(txns.len());
                for txn in &txns {
                    out.push(applier.txn(txn)?);
                }
                responses.push(out);
                continue;
            }
        }
        responses.push(vec![TxnResponse {
            succeeded: true,
            revision: applier.meta.revision,
            results: Vec::new(),
        }]);
    }
    let changed = std::mem::take(&mut applier.changed);
    let (batch, meta) = applier.finish()?;
    // Not synced: the log is durable, and after a crash openraft re-applies every entry
    // after the last applied id that reached the disk.
    db.write(batch).map_err(|e| {
        let at = last.map(|id| id.to_string()).unwrap_or_default();
        sm_error(
            ErrorVerb::Write,
            format!("writing the batch applied up to {at}: {e}"),
        )
    })?;
    Ok((meta, responses, changed))
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StoreSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, BasicNode>), StorageError> {
        Ok((self.meta.last_applied, self.meta.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<TxnResponse>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.db.clone();
        let meta = self.meta.clone();
        let limit = self.history_limit;
        let traced: Vec<u64> = match &self.trace_node {
            Some(_) if crate::telemetry::enabled() => entries
                .iter()
                .filter(|e| matches!(e.payload, EntryPayload::Normal(_)))
                .map(|e| e.log_id.index)
                .collect(),
            _ => Vec::new(),
        };
        let (start, started) = (std::time::SystemTime::now(), std::time::Instant::now());
        let (meta, responses, changed) = blocking(ErrorVerb::Write, move || {
            apply_entries(&db, meta, limit, entries)
        })
        .await?;
        if let Some(node) = &self.trace_node {
            crate::telemetry::trace::raft_step(
                node,
                rudder_protocol::trace::RaftStep::Apply,
                &traced,
                start,
                started.elapsed(),
            );
        }
        self.meta = meta;
        let revision = self.meta.revision;
        // Before the readers wake: what they find here is already in the database.
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            for (at, key) in &changed {
                recent.push(*at, key);
            }
            recent.forget_through(self.meta.compact_revision);
        }
        // Readers wait for the revision to move; blank and membership entries do not move
        // it and so wake nobody.
        self.revision_tx.send_if_modified(|r| {
            let changed = *r != revision;
            *r = revision;
            changed
        });
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        StoreSnapshotBuilder {
            db: self.db.clone(),
            snapshot_lock: self.snapshot_lock.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let db = self.db.clone();
        let lock = self.snapshot_lock.clone();
        let owned_meta = meta.clone();
        let new_meta = blocking(ErrorVerb::Write, move || {
            install_image(&db, &lock, &owned_meta, data)
        })
        .await?;
        tracing::info!(
            snapshot = %meta.snapshot_id,
            revision = new_meta.revision,
            compact_revision = new_meta.compact_revision,
            "snapshot installed"
        );
        self.meta = new_meta;
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reset(self.meta.revision);
        self.revision_tx.send_replace(self.meta.revision);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let db = self.db.clone();
        blocking(ErrorVerb::Read, move || {
            let Some((meta, data)) = read_current_snapshot(&db)? else {
                return Ok(None);
            };
            Ok(Some(Snapshot {
                meta: snapshot_meta_from_wire(&meta),
                snapshot: Box::new(Cursor::new(data)),
            }))
        })
        .await
    }
}
