//! The replicated state machine in RocksDB: keys with etcd-style revisions, the watch
//! history, and Raft snapshots of both.
//!
//! [`StateMachine`] implements openraft's [`RaftStateMachine`]; [`StoreSnapshotBuilder`]
//! builds snapshots; [`StateReader`] is the read handle the rest of the node uses (gets,
//! ranges, watch history, and a [`watch`] channel of the applied revision). [`open`]
//! opens the replica's one RocksDB with every column family, the log's included, and
//! hands out all three pieces.
//!
//! Column families owned here:
//!
//! - `kv`: key → codec of the stored value (value bytes, create revision, mod revision,
//!   version).
//! - `history`: revision (`u64` big-endian) ++ sequence in the revision (`u32`
//!   big-endian) → codec of the [`WatchEvent`]; the retained window of changes.
//! - `sm`: last applied log id, last membership, revision and compact revision, in one
//!   record written in the same batch as the data it describes.
//! - `snapshot`: the current snapshot's meta and bytes, so that it survives a restart.
//! - `default`: the format marker, written on first open and checked on every open.
//!
//! The log's families (`logs`, `raft`) belong to [`super::log`].
//!
//! Semantics follow the module doc of [`rudder_protocol::messages::store`]: a
//! transaction that writes gets exactly one new revision; every put and delete becomes a
//! history event. Applying is deterministic (it depends only on the log), so replicas
//! that applied the same log hold the same state, history window included. Applied
//! batches are not synced: the log is, and openraft re-applies whatever follows the last
//! applied id that reached the disk.

// openraft's trait signatures fix the error type to its large `StorageError`; boxing it
// in private helpers would only move the allocation.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageIOError, StoredMembership,
};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options,
    WriteBatch, WriteOptions, DB,
};
use rudder_protocol::codec::{self, CodecError};
use rudder_protocol::messages::store::{
    self as wire, CmpOp, Compare, CompareTarget, EventKind, KeyValue, OpResult, StoreError, Txn,
    TxnOp, TxnResponse, WatchBatch, WatchEvent,
};
use tokio::sync::watch;

use super::log::{LogStore, CF_LOGS, CF_RAFT};
use super::types::{
    log_id_from_wire, log_id_to_wire, opt_log_id_to_wire, snapshot_meta_from_wire,
    snapshot_meta_to_wire, stored_membership_from_wire, stored_membership_to_wire, Entry, LogId,
    StorageError, TypeConfig,
};

/// Revisions of history kept by default (see [`open`]).
pub const DEFAULT_HISTORY_LIMIT: u64 = 10_000;

/// The format marker every Rudder store carries under [`FORMAT_KEY`] in its `default`
/// column family.
pub const FORMAT_MARKER: &[u8] = b"rudder-store-v1";

/// Where the format marker lives (in the `default` column family).
pub const FORMAT_KEY: &[u8] = b"rudder-format";

const CF_KV: &str = "kv";
const CF_HISTORY: &str = "history";
const CF_SM: &str = "sm";
const CF_SNAPSHOT: &str = "snapshot";

/// Every column family a store has besides `default`.
const ALL_CFS: [&str; 6] = [CF_LOGS, CF_RAFT, CF_KV, CF_HISTORY, CF_SM, CF_SNAPSHOT];

const KEY_SM_META: &[u8] = b"meta";
const KEY_SNAPSHOT_META: &[u8] = b"meta";
const KEY_SNAPSHOT_DATA: &[u8] = b"data";

/// Why [`open`] failed. Every variant names the directory; none of them changed it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The directory could not be listed or created.
    #[error("store directory {}: {source}", .path.display())]
    Io {
        /// The store directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The directory holds something other than a Rudder store (other files, a RocksDB
    /// of someone else, another format version); it is left untouched.
    #[error(
        "{} is not a Rudder store ({reason}); refusing to use it: move it away or \
         configure another data directory",
        .path.display()
    )]
    Foreign {
        /// The store directory.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The directory looks like a RocksDB (it has a `CURRENT` file) but cannot be read
    /// as one: not RocksDB files, or corrupt ones.
    #[error("{} is not a readable RocksDB: {source}", .path.display())]
    Unreadable {
        /// The store directory.
        path: PathBuf,
        /// RocksDB's complaint.
        #[source]
        source: rocksdb::Error,
    },
    /// RocksDB refused to open the database (for example another process holds its
    /// lock) or to read or write its format marker.
    #[error("opening RocksDB at {}: {source}", .path.display())]
    Open {
        /// The store directory.
        path: PathBuf,
        /// RocksDB's complaint.
        #[source]
        source: rocksdb::Error,
    },
    /// The store's own metadata does not decode.
    #[error("store metadata in {} is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The store directory.
        path: PathBuf,
        /// What failed to decode.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------
// Stored records. Each is a plain tuple through the one codec (this crate does not derive
// bincode itself), wrapped in a private struct so that field names stay visible.

/// The `sm` record: where the state machine is.
#[derive(Debug, Clone, Default, PartialEq)]
struct SmMeta {
    last_applied: Option<LogId>,
    membership: StoredMembership<u64, BasicNode>,
    revision: u64,
    compact_revision: u64,
}

/// Disk form of [`SmMeta`]: (last applied, membership log id, membership, revision,
/// compact revision).
type SmMetaDisk = (
    Option<wire::LogId>,
    Option<wire::LogId>,
    wire::Membership,
    u64,
    u64,
);

impl SmMeta {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let (membership_log_id, membership) = stored_membership_to_wire(&self.membership);
        let disk: SmMetaDisk = (
            opt_log_id_to_wire(&self.last_applied),
            membership_log_id,
            membership,
            self.revision,
            self.compact_revision,
        );
        codec::encode(&disk)
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (last_applied, membership_log_id, membership, revision, compact_revision): SmMetaDisk =
            codec::decode(bytes)?;
        Ok(SmMeta {
            last_applied: last_applied.as_ref().map(log_id_from_wire),
            membership: stored_membership_from_wire(&membership_log_id, &membership),
            revision,
            compact_revision,
        })
    }
}

/// Disk form of a key's value in `kv`: (value, create revision, mod revision, version).
type StoredValueDisk = (Vec<u8>, u64, u64, u64);

fn encode_value(kv: &KeyValue) -> Result<Vec<u8>, CodecError> {
    codec::encode(&(&kv.value, kv.create_revision, kv.mod_revision, kv.version))
}

fn decode_value(key: &str, bytes: &[u8]) -> Result<KeyValue, CodecError> {
    let (value, create_revision, mod_revision, version): StoredValueDisk = codec::decode(bytes)?;
    Ok(KeyValue {
        key: key.to_owned(),
        value,
        create_revision,
        mod_revision,
        version,
    })
}

/// The `history` key of event `seq` of revision `revision`: sorts by revision, then seq.
fn history_key(revision: u64, seq: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&revision.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn parse_history_key(key: &[u8]) -> Option<(u64, u32)> {
    let rev: [u8; 8] = key.get(..8)?.try_into().ok()?;
    let seq: [u8; 4] = key.get(8..)?.try_into().ok()?;
    Some((u64::from_be_bytes(rev), u32::from_be_bytes(seq)))
}

// ---------------------------------------------------------------------------------------
// Error helpers.

fn sm_error(verb: ErrorVerb, msg: String) -> StorageError {
    StorageIOError::new(ErrorSubject::StateMachine, verb, AnyError::error(msg)).into()
}

fn snapshot_error(verb: ErrorVerb, msg: String) -> StorageError {
    StorageIOError::new(ErrorSubject::Snapshot(None), verb, AnyError::error(msg)).into()
}

fn unavailable(msg: String) -> StoreError {
    StoreError::Unavailable(msg)
}

fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, String> {
    db.cf_handle(name)
        .ok_or_else(|| format!("column family {name} missing in {}", db.path().display()))
}

fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

/// Runs blocking RocksDB work on tokio's blocking pool, so that it never stalls the
/// runtime thread that drives Raft (or actix).
async fn blocking<T, F>(verb: ErrorVerb, f: F) -> Result<T, StorageError>
where
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(sm_error(verb, format!("state machine task failed: {e}"))),
    }
}

/// Reads the `sm` record through `get` (the live database or a RocksDB snapshot).
fn read_meta(
    get: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, rocksdb::Error>,
) -> Result<SmMeta, String> {
    match get(KEY_SM_META).map_err(|e| format!("reading sm/meta: {e}"))? {
        None => Ok(SmMeta::default()),
        Some(bytes) => SmMeta::decode(&bytes).map_err(|e| format!("decoding sm/meta: {e}")),
    }
}

// ---------------------------------------------------------------------------------------
// Opening.

fn db_options(create: bool) -> Options {
    let mut o = Options::default();
    o.create_if_missing(create);
    o.create_missing_column_families(create);
    // Small machines: modest memtables, few background threads, a bounded WAL (a rarely
    // written family such as `raft` would otherwise pin old WAL files), no compression.
    o.set_compression_type(DBCompressionType::None);
    o.set_write_buffer_size(8 * 1024 * 1024);
    o.set_max_write_buffer_number(2);
    o.set_max_background_jobs(2);
    o.set_max_total_wal_size(64 * 1024 * 1024);
    o.set_keep_log_file_num(4);
    o
}

/// Whether `dir` already holds a RocksDB (`true`), is empty or missing (`false`, created),
/// or holds something else (an error: never reset a directory we did not create).
fn inspect_dir(dir: &Path) -> Result<bool, OpenError> {
    let io_err = |source| OpenError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io_err)?;
            return Ok(false);
        }
        Err(e) => return Err(io_err(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry.map_err(io_err)?.file_name());
    }
    if names.is_empty() {
        Ok(false)
    } else if names.iter().any(|n| n == "CURRENT") {
        Ok(true)
    } else {
        Err(OpenError::Foreign {
            path: dir.to_path_buf(),
            reason: format!(
                "the directory is not empty but holds no RocksDB ({} entries, no CURRENT file)",
                names.len()
            ),
        })
    }
}

/// Opens (or creates) the replica's store in `dir`: one RocksDB with the log's and the
/// state machine's column families. `history_limit` is how many revisions of watch
/// history the state machine keeps (see [`DEFAULT_HISTORY_LIMIT`]); every replica must use
/// the same value, as compaction is part of the replicated state.
///
/// A new or empty directory becomes a new store. An existing directory must hold a
/// Rudder store (its format marker): anything else fails with [`OpenError`] and is left
/// as it was.
pub fn open(
    dir: &Path,
    history_limit: u64,
) -> Result<(LogStore, StateMachine, StateReader), OpenError> {
    let path = dir.to_path_buf();
    let existing = inspect_dir(dir)?;
    let opts = db_options(!existing);

    if existing {
        let present = DB::list_cf(&opts, dir).map_err(|source| OpenError::Unreadable {
            path: path.clone(),
            source,
        })?;
        let missing: Vec<&str> = ALL_CFS
            .iter()
            .copied()
            .filter(|name| !present.iter().any(|p| p == name))
            .collect();
        if !missing.is_empty() {
            return Err(OpenError::Foreign {
                path,
                reason: format!("a RocksDB without the column families {missing:?}"),
            });
        }
    }

    let descriptors = ALL_CFS
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, db_options(!existing)));
    let db =
        DB::open_cf_descriptors(&opts, dir, descriptors).map_err(|source| OpenError::Open {
            path: path.clone(),
            source,
        })?;

    match db.get(FORMAT_KEY).map_err(|source| OpenError::Open {
        path: path.clone(),
        source,
    })? {
        Some(marker) if marker == FORMAT_MARKER => {}
        Some(marker) => {
            return Err(OpenError::Foreign {
                path,
                reason: format!(
                    "format marker is {:?}, this build reads {:?}",
                    String::from_utf8_lossy(&marker),
                    String::from_utf8_lossy(FORMAT_MARKER)
                ),
            });
        }
        None if existing => {
            return Err(OpenError::Foreign {
                path,
                reason: "a RocksDB without Rudder's format marker".to_owned(),
            });
        }
        None => {
            let mut batch = WriteBatch::default();
            batch.put(FORMAT_KEY, FORMAT_MARKER);
            db.write_opt(batch, &synced())
                .map_err(|source| OpenError::Open {
                    path: path.clone(),
                    source,
                })?;
            tracing::info!(path = %dir.display(), "created a new store");
        }
    }

    let sm_cf = cf(&db, CF_SM).map_err(|reason| OpenError::Corrupt {
        path: path.clone(),
        reason,
    })?;
    let meta = read_meta(|k| db.get_cf(sm_cf, k)).map_err(|reason| OpenError::Corrupt {
        path: path.clone(),
        reason,
    })?;
    tracing::info!(
        path = %dir.display(),
        revision = meta.revision,
        compact_revision = meta.compact_revision,
        applied = ?meta.last_applied.map(|id| id.index),
        "store opened"
    );

    let db = Arc::new(db);
    let (revision_tx, revision_rx) = watch::channel(meta.revision);
    let reader = StateReader {
        db: db.clone(),
        revision_rx,
    };
    let sm = StateMachine {
        db: db.clone(),
        history_limit,
        meta,
        revision_tx,
        snapshot_lock: Arc::new(Mutex::new(())),
    };
    Ok((LogStore::new(db), sm, reader))
}

// ---------------------------------------------------------------------------------------
// Applying.

/// The state machine of one replica.
///
/// Applies committed entries (transactions) to the `kv` and `history` families in one
/// write batch per call, builds and installs snapshots, and publishes the applied
/// revision on a [`watch`] channel (see [`StateReader::subscribe`]).
pub struct StateMachine {
    db: Arc<DB>,
    history_limit: u64,
    /// What the database says, cached: only this type writes it.
    meta: SmMeta,
    revision_tx: watch::Sender<u64>,
    /// Serialises saving the current snapshot between a builder and an install.
    snapshot_lock: Arc<Mutex<()>>,
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
        }
    }

    /// The applied revision.
    pub fn revision(&self) -> u64 {
        self.meta.revision
    }
}

/// Applies one batch of entries: reads go through `overlay` (this batch's writes) to the
/// database, writes go to `batch`.
struct Applier<'a> {
    db: &'a DB,
    kv: &'a ColumnFamily,
    history: &'a ColumnFamily,
    history_limit: u64,
    meta: SmMeta,
    overlay: BTreeMap<String, Option<KeyValue>>,
    batch: WriteBatch,
}

fn compare_holds(current: Option<&KeyValue>, cmp: &Compare) -> bool {
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

/// Applies `entries` on top of `meta`; returns the new meta and one response per entry.
fn apply_entries(
    db: &DB,
    meta: SmMeta,
    history_limit: u64,
    entries: Vec<Entry>,
) -> Result<(SmMeta, Vec<Vec<TxnResponse>>), StorageError> {
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
    Ok((meta, responses))
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
        let (meta, responses) = blocking(ErrorVerb::Write, move || {
            apply_entries(&db, meta, limit, entries)
        })
        .await?;
        self.meta = meta;
        let revision = self.meta.revision;
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

// ---------------------------------------------------------------------------------------
// Snapshots.
//
// Snapshot bytes: the magic line, then frames of `tag (1 byte) ++ length (u32 LE) ++ codec
// bytes`: one header (`H`, an `SmMeta`: applied id, membership, revision, compact
// revision), one `K` frame per key (a `KeyValue`), one `E` frame per history event
// (revision, seq, `WatchEvent`), and a final `Z` frame with both counts. Framing each
// record keeps every decode under the codec's size bound however large the store
// grows, and the end frame catches a truncated transfer.

const SNAPSHOT_MAGIC: &[u8] = b"rudder-snapshot-v1\n";
const TAG_HEADER: u8 = b'H';
const TAG_KV: u8 = b'K';
const TAG_EVENT: u8 = b'E';
const TAG_END: u8 = b'Z';

/// Disk form of an `E` frame: (revision, seq, event).
type EventFrame = (u64, u32, WatchEvent);

/// Writes the snapshot format described above.
struct ImageWriter {
    out: Vec<u8>,
    scratch: Vec<u8>,
    kvs: u64,
    events: u64,
}

impl ImageWriter {
    fn new(header: &SmMeta) -> Result<Self, String> {
        let mut w = ImageWriter {
            out: SNAPSHOT_MAGIC.to_vec(),
            scratch: Vec::new(),
            kvs: 0,
            events: 0,
        };
        let bytes = header
            .encode()
            .map_err(|e| format!("encoding the snapshot header: {e}"))?;
        w.frame(TAG_HEADER, &bytes)?;
        Ok(w)
    }

    fn frame(&mut self, tag: u8, body: &[u8]) -> Result<(), String> {
        let len = u32::try_from(body.len())
            .map_err(|_| format!("snapshot record of {} bytes is too large", body.len()))?;
        self.out.push(tag);
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(body);
        Ok(())
    }

    fn kv(&mut self, kv: &KeyValue) -> Result<(), String> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        codec::encode_into(kv, &mut scratch)
            .map_err(|e| format!("encoding key {} into the snapshot: {e}", kv.key))?;
        self.frame(TAG_KV, &scratch)?;
        self.scratch = scratch;
        self.kvs += 1;
        Ok(())
    }

    fn event(&mut self, revision: u64, seq: u32, event: WatchEvent) -> Result<(), String> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let frame: EventFrame = (revision, seq, event);
        codec::encode_into(&frame, &mut scratch).map_err(|e| {
            format!("encoding the event at revision {revision} into the snapshot: {e}")
        })?;
        self.frame(TAG_EVENT, &scratch)?;
        self.scratch = scratch;
        self.events += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, String> {
        let end = codec::encode(&(self.kvs, self.events))
            .map_err(|e| format!("encoding the snapshot trailer: {e}"))?;
        self.frame(TAG_END, &end)?;
        Ok(self.out)
    }
}

/// Reads frames of the snapshot format.
struct ImageReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ImageReader<'a> {
    fn new(buf: &'a [u8]) -> Result<Self, String> {
        if !buf.starts_with(SNAPSHOT_MAGIC) {
            return Err("not a Rudder snapshot (bad magic)".to_owned());
        }
        Ok(ImageReader {
            buf,
            pos: SNAPSHOT_MAGIC.len(),
        })
    }

    /// The next frame, or `None` at the end of the bytes.
    fn next_frame(&mut self) -> Result<Option<(u8, &'a [u8])>, String> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let head = self
            .buf
            .get(at..at + 5)
            .ok_or_else(|| format!("snapshot truncated at byte {at}"))?;
        let tag = head[0];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let body = self
            .buf
            .get(at + 5..at + 5 + len)
            .ok_or_else(|| format!("snapshot truncated in the record at byte {at}"))?;
        self.pos = at + 5 + len;
        Ok(Some((tag, body)))
    }
}

/// Serialises the state as of one RocksDB snapshot.
fn build_image(db: &DB) -> Result<(SmMeta, Vec<u8>), String> {
    let kv_cf = cf(db, CF_KV)?;
    let history_cf = cf(db, CF_HISTORY)?;
    let sm_cf = cf(db, CF_SM)?;
    let snap = db.snapshot();
    let meta = read_meta(|k| snap.get_cf(sm_cf, k))?;
    let mut w = ImageWriter::new(&meta)?;
    for item in snap.iterator_cf(kv_cf, IteratorMode::Start) {
        let (key, value) = item.map_err(|e| format!("reading kv for the snapshot: {e}"))?;
        let key = std::str::from_utf8(&key)
            .map_err(|_| format!("non-UTF-8 key in kv: {:02x?}", &key[..]))?;
        let kv = decode_value(key, &value).map_err(|e| format!("decoding key {key}: {e}"))?;
        w.kv(&kv)?;
    }
    for item in snap.iterator_cf(history_cf, IteratorMode::Start) {
        let (key, value) = item.map_err(|e| format!("reading history for the snapshot: {e}"))?;
        let (revision, seq) = parse_history_key(&key)
            .ok_or_else(|| format!("malformed history key {:02x?}", &key[..]))?;
        let event: WatchEvent = codec::decode(&value)
            .map_err(|e| format!("decoding the event at revision {revision}: {e}"))?;
        w.event(revision, seq, event)?;
    }
    Ok((meta, w.finish()?))
}

/// Replaces the whole state with the snapshot `data` (validated before anything is
/// written) and records it as the current snapshot, in one synced batch.
fn install_image(
    db: &DB,
    lock: &Mutex<()>,
    meta: &SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
) -> Result<SmMeta, StorageError> {
    let id = &meta.snapshot_id;
    let bad = |m: String| snapshot_error(ErrorVerb::Read, format!("snapshot {id}: {m}"));
    let kv_cf = cf(db, CF_KV).map_err(bad)?;
    let history_cf = cf(db, CF_HISTORY).map_err(bad)?;
    let sm_cf = cf(db, CF_SM).map_err(bad)?;
    let snapshot_cf = cf(db, CF_SNAPSHOT).map_err(bad)?;

    let mut reader = ImageReader::new(&data).map_err(bad)?;
    let header = match reader.next_frame().map_err(bad)? {
        Some((TAG_HEADER, body)) => {
            SmMeta::decode(body).map_err(|e| bad(format!("decoding the header: {e}")))?
        }
        _ => return Err(bad("no header".to_owned())),
    };
    if header.last_applied != meta.last_log_id {
        return Err(bad(format!(
            "data covers the log up to {:?}, its meta says {:?}",
            header.last_applied, meta.last_log_id
        )));
    }

    let mut batch = WriteBatch::default();
    // Keys are UTF-8, which never contains the byte 0xff: this range is every key.
    batch.delete_range_cf(kv_cf, &b""[..], &[0xffu8][..]);
    batch.delete_range_cf(history_cf, &history_key(0, 0)[..], &[0xffu8; 13][..]);
    let (mut kvs, mut events) = (0u64, 0u64);
    let mut ended = false;
    while let Some((tag, body)) = reader.next_frame().map_err(bad)? {
        if ended {
            return Err(bad("records after the end record".to_owned()));
        }
        match tag {
            TAG_KV => {
                let kv: KeyValue =
                    codec::decode(body).map_err(|e| bad(format!("decoding key {kvs}: {e}")))?;
                let value =
                    encode_value(&kv).map_err(|e| bad(format!("encoding key {}: {e}", kv.key)))?;
                batch.put_cf(kv_cf, kv.key.as_bytes(), value);
                kvs += 1;
            }
            TAG_EVENT => {
                let (revision, seq, event): EventFrame = codec::decode(body)
                    .map_err(|e| bad(format!("decoding event {events}: {e}")))?;
                let value = codec::encode(&event)
                    .map_err(|e| bad(format!("encoding the event at {revision}: {e}")))?;
                batch.put_cf(history_cf, history_key(revision, seq), value);
                events += 1;
            }
            TAG_END => {
                let (want_kvs, want_events): (u64, u64) = codec::decode(body)
                    .map_err(|e| bad(format!("decoding the end record: {e}")))?;
                if (want_kvs, want_events) != (kvs, events) {
                    return Err(bad(format!(
                        "holds {kvs} keys and {events} events, its end record says \
                         {want_kvs} and {want_events}"
                    )));
                }
                ended = true;
            }
            other => return Err(bad(format!("unknown record tag {other:#04x}"))),
        }
    }
    if !ended {
        return Err(bad("truncated (no end record)".to_owned()));
    }

    let new_meta = SmMeta {
        last_applied: meta.last_log_id,
        membership: meta.last_membership.clone(),
        revision: header.revision,
        compact_revision: header.compact_revision,
    };
    let write_err = |m: String| snapshot_error(ErrorVerb::Write, format!("snapshot {id}: {m}"));
    let sm_bytes = new_meta
        .encode()
        .map_err(|e| write_err(format!("encoding sm/meta: {e}")))?;
    batch.put_cf(sm_cf, KEY_SM_META, sm_bytes);
    let meta_bytes = codec::encode(&snapshot_meta_to_wire(meta))
        .map_err(|e| write_err(format!("encoding its meta: {e}")))?;
    batch.put_cf(snapshot_cf, KEY_SNAPSHOT_META, meta_bytes);
    batch.put_cf(snapshot_cf, KEY_SNAPSHOT_DATA, data);

    let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    db.write_opt(batch, &synced())
        .map_err(|e| write_err(format!("writing: {e}")))?;
    Ok(new_meta)
}

/// The current snapshot's meta and bytes, read consistently.
fn read_current_snapshot(db: &DB) -> Result<Option<(wire::SnapshotMeta, Vec<u8>)>, StorageError> {
    let err = |m: String| snapshot_error(ErrorVerb::Read, m);
    let snapshot_cf = cf(db, CF_SNAPSHOT).map_err(err)?;
    let snap = db.snapshot();
    let Some(meta) = snap
        .get_cf(snapshot_cf, KEY_SNAPSHOT_META)
        .map_err(|e| err(format!("reading snapshot/meta: {e}")))?
    else {
        return Ok(None);
    };
    let meta: wire::SnapshotMeta =
        codec::decode(&meta).map_err(|e| err(format!("decoding snapshot/meta: {e}")))?;
    let data = snap
        .get_cf(snapshot_cf, KEY_SNAPSHOT_DATA)
        .map_err(|e| err(format!("reading snapshot/data: {e}")))?
        .ok_or_else(|| {
            err(format!(
                "snapshot {} has meta but no data",
                meta.snapshot_id
            ))
        })?;
    Ok(Some((meta, data)))
}

/// Builds snapshots of the state machine from a consistent RocksDB snapshot, so it may
/// run while entries are being applied.
pub struct StoreSnapshotBuilder {
    db: Arc<DB>,
    snapshot_lock: Arc<Mutex<()>>,
}

impl RaftSnapshotBuilder<TypeConfig> for StoreSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let db = self.db.clone();
        let lock = self.snapshot_lock.clone();
        let (meta, data) = blocking(ErrorVerb::Write, move || {
            let (sm, data) = build_image(&db).map_err(|m| snapshot_error(ErrorVerb::Read, m))?;
            let snapshot_id = match sm.last_applied {
                Some(id) => format!(
                    "{}-{}-{:016x}",
                    id.leader_id.term,
                    id.index,
                    rand::random::<u64>()
                ),
                None => format!("none-{:016x}", rand::random::<u64>()),
            };
            let meta = SnapshotMeta {
                last_log_id: sm.last_applied,
                last_membership: sm.membership,
                snapshot_id,
            };
            save_built(&db, &lock, &meta, &data)?;
            Ok((meta, data))
        })
        .await?;
        tracing::info!(
            snapshot = %meta.snapshot_id,
            bytes = data.len(),
            "snapshot built"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

/// Records a built snapshot as the current one, unless a newer one (installed meanwhile)
/// is already current.
fn save_built(
    db: &DB,
    lock: &Mutex<()>,
    meta: &SnapshotMeta<u64, BasicNode>,
    data: &[u8],
) -> Result<(), StorageError> {
    let id = &meta.snapshot_id;
    let err = |m: String| snapshot_error(ErrorVerb::Write, format!("snapshot {id}: {m}"));
    let snapshot_cf = cf(db, CF_SNAPSHOT).map_err(err)?;
    let meta_bytes = codec::encode(&snapshot_meta_to_wire(meta))
        .map_err(|e| err(format!("encoding its meta: {e}")))?;
    let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((current, _)) = read_current_snapshot(db)? {
        let current_last = current.last_log_id.map(|id| id.index);
        if current_last > meta.last_log_id.map(|id| id.index) {
            tracing::debug!(
                snapshot = %id,
                current = %current.snapshot_id,
                "a newer snapshot is already current; not replacing it"
            );
            return Ok(());
        }
    }
    let mut batch = WriteBatch::default();
    batch.put_cf(snapshot_cf, KEY_SNAPSHOT_META, meta_bytes);
    batch.put_cf(snapshot_cf, KEY_SNAPSHOT_DATA, data);
    // Not synced: the WAL keeps writes in order, so a snapshot that survives a crash
    // never describes more than the applied state that survives with it.
    db.write(batch).map_err(|e| err(format!("writing: {e}")))
}

// ---------------------------------------------------------------------------------------
// Reading.

/// A read handle on the applied state, for other tasks and actors. Cheap to clone; every
/// call reads from one RocksDB snapshot, so each answer is consistent with the revision
/// it reports, while entries are being applied concurrently.
#[derive(Clone)]
pub struct StateReader {
    db: Arc<DB>,
    revision_rx: watch::Receiver<u64>,
}

impl std::fmt::Debug for StateReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateReader")
            .field("path", &self.db.path())
            .finish()
    }
}

impl StateReader {
    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        cf(&self.db, name).map_err(unavailable)
    }

    fn meta_at(&self, snap: &rocksdb::Snapshot<'_>) -> Result<SmMeta, StoreError> {
        let sm = self.cf(CF_SM)?;
        read_meta(|k| snap.get_cf(sm, k)).map_err(unavailable)
    }

    fn meta(&self) -> Result<SmMeta, StoreError> {
        let snap = self.db.snapshot();
        self.meta_at(&snap)
    }

    /// A receiver of the applied revision: it changes after every apply that writes and
    /// after every snapshot install. Starts marked as seen.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        let mut rx = self.revision_rx.clone();
        rx.borrow_and_update();
        rx
    }

    /// One key, and the revision the read reflects.
    pub fn get(&self, key: &str) -> Result<(Option<KeyValue>, u64), StoreError> {
        let kv_cf = self.cf(CF_KV)?;
        let snap = self.db.snapshot();
        let meta = self.meta_at(&snap)?;
        let kv = match snap
            .get_cf(kv_cf, key.as_bytes())
            .map_err(|e| unavailable(format!("reading key {key}: {e}")))?
        {
            None => None,
            Some(bytes) => Some(
                decode_value(key, &bytes)
                    .map_err(|e| unavailable(format!("decoding key {key}: {e}")))?,
            ),
        };
        Ok((kv, meta.revision))
    }

    /// Keys starting with `prefix` in key order, after `start_after` (exclusive), at most
    /// `limit` of them (0: no limit); whether more remain; and the revision the read
    /// reflects.
    pub fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<KeyValue>, bool, u64), StoreError> {
        let kv_cf = self.cf(CF_KV)?;
        let snap = self.db.snapshot();
        let meta = self.meta_at(&snap)?;
        let start = match start_after {
            Some(s) if s >= prefix => s,
            _ => prefix,
        };
        let mut kvs = Vec::new();
        let mut more = false;
        let mode = IteratorMode::From(start.as_bytes(), Direction::Forward);
        for item in snap.iterator_cf(kv_cf, mode) {
            let (key, value) =
                item.map_err(|e| unavailable(format!("reading keys under {prefix}: {e}")))?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            if start_after.is_some_and(|s| s.as_bytes() == &key[..]) {
                continue;
            }
            if limit > 0 && kvs.len() == limit as usize {
                more = true;
                break;
            }
            let key = std::str::from_utf8(&key)
                .map_err(|_| unavailable(format!("non-UTF-8 key under {prefix}: {key:02x?}")))?;
            kvs.push(
                decode_value(key, &value)
                    .map_err(|e| unavailable(format!("decoding key {key}: {e}")))?,
            );
        }
        Ok((kvs, more, meta.revision))
    }

    /// The changes to keys starting with `prefix` after revision `after`, in order, about
    /// `max_events` of them (0: no limit): a revision is never split across batches, so
    /// the last one is finished even past the bound.
    ///
    /// Fails with [`StoreError::Compacted`] if `after` is older than the retained history
    /// and [`StoreError::FutureRevision`] if it is ahead of this replica.
    pub fn events_after(
        &self,
        prefix: &str,
        after: u64,
        max_events: u32,
    ) -> Result<WatchBatch, StoreError> {
        let history_cf = self.cf(CF_HISTORY)?;
        let snap = self.db.snapshot();
        let meta = self.meta_at(&snap)?;
        if after < meta.compact_revision {
            return Err(StoreError::Compacted {
                requested: after,
                compact_revision: meta.compact_revision,
            });
        }
        if after > meta.revision {
            return Err(StoreError::FutureRevision {
                requested: after,
                current: meta.revision,
            });
        }
        let from = history_key(after + 1, 0);
        let mut events = Vec::new();
        let mut last_revision = None;
        for item in snap.iterator_cf(history_cf, IteratorMode::From(&from, Direction::Forward)) {
            let (key, value) = item
                .map_err(|e| unavailable(format!("reading history after revision {after}: {e}")))?;
            let (revision, _) = parse_history_key(&key)
                .ok_or_else(|| unavailable(format!("malformed history key {key:02x?}")))?;
            if max_events > 0
                && events.len() >= max_events as usize
                && last_revision != Some(revision)
            {
                break;
            }
            let event: WatchEvent = codec::decode(&value).map_err(|e| {
                unavailable(format!("decoding the event at revision {revision}: {e}"))
            })?;
            if event.kv.key.starts_with(prefix) {
                events.push(event);
                last_revision = Some(revision);
            }
        }
        Ok(WatchBatch {
            events,
            revision: last_revision.unwrap_or(meta.revision),
            compact_revision: meta.compact_revision,
        })
    }

    /// The applied revision.
    pub fn revision(&self) -> Result<u64, StoreError> {
        Ok(self.meta()?.revision)
    }

    /// The oldest revision a watch may start after.
    pub fn compact_revision(&self) -> Result<u64, StoreError> {
        Ok(self.meta()?.compact_revision)
    }

    /// The last applied log id.
    pub fn applied_log_id(&self) -> Result<Option<wire::LogId>, StoreError> {
        Ok(self.meta()?.last_applied.as_ref().map(log_id_to_wire))
    }

    /// A stable hash (FNV-1a 64) of every key with its value and metadata, and of the
    /// revision: replicas that applied the same log have the same digest.
    pub fn digest(&self) -> Result<u64, StoreError> {
        let kv_cf = self.cf(CF_KV)?;
        let snap = self.db.snapshot();
        let meta = self.meta_at(&snap)?;
        let mut h = Fnv::new();
        for item in snap.iterator_cf(kv_cf, IteratorMode::Start) {
            let (key, value) = item.map_err(|e| unavailable(format!("reading kv: {e}")))?;
            let key = std::str::from_utf8(&key)
                .map_err(|_| unavailable(format!("non-UTF-8 key in kv: {key:02x?}")))?;
            let kv = decode_value(key, &value)
                .map_err(|e| unavailable(format!("decoding key {key}: {e}")))?;
            h.bytes(kv.key.as_bytes());
            h.bytes(&kv.value);
            h.u64(kv.create_revision);
            h.u64(kv.mod_revision);
            h.u64(kv.version);
        }
        h.u64(meta.revision);
        Ok(h.0)
    }
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn raw(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn u64(&mut self, v: u64) {
        self.raw(&v.to_le_bytes());
    }

    /// Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.raw(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
    use openraft::{CommittedLeaderId, Membership, RaftLogReader};
    use tempfile::TempDir;

    fn put(key: &str, value: &str) -> TxnOp {
        TxnOp::Put {
            key: key.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    fn del(key: &str) -> TxnOp {
        TxnOp::Delete { key: key.into() }
    }

    fn get(key: &str) -> TxnOp {
        TxnOp::Get { key: key.into() }
    }

    fn ops(success: Vec<TxnOp>) -> Txn {
        Txn {
            compares: vec![],
            success,
            failure: vec![],
        }
    }

    fn cmp(key: &str, op: CmpOp, target: CompareTarget) -> Compare {
        Compare {
            key: key.into(),
            op,
            target,
        }
    }

    fn kv(key: &str, value: &str, create: u64, modified: u64, version: u64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            create_revision: create,
            mod_revision: modified,
            version,
        }
    }

    fn log_id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    /// A fresh store in a temporary directory, and the next log index to apply.
    struct Harness {
        dir: TempDir,
        log: LogStore,
        sm: StateMachine,
        reader: StateReader,
        index: u64,
    }

    impl Harness {
        fn new(history_limit: u64) -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let (log, sm, reader) = open(dir.path(), history_limit).expect("open");
            Harness {
                dir,
                log,
                sm,
                reader,
                index: 0,
            }
        }

        fn entry(&mut self, payload: EntryPayload<TypeConfig>) -> Entry {
            self.index += 1;
            Entry {
                log_id: log_id(self.index),
                payload,
            }
        }

        /// Applies all `txns` in one call.
        async fn apply(&mut self, txns: Vec<Txn>) -> Vec<TxnResponse> {
            let entries: Vec<Entry> = txns
                .into_iter()
                .map(|t| self.entry(EntryPayload::Normal(vec![t])))
                .collect();
            self.sm
                .apply(entries)
                .await
                .expect("apply")
                .into_iter()
                .flatten()
                .collect()
        }

        /// Applies `txns` one call each.
        async fn apply_each(&mut self, txns: Vec<Txn>) -> Vec<TxnResponse> {
            let mut out = Vec::new();
            for t in txns {
                out.extend(self.apply(vec![t]).await);
            }
            out
        }

        fn history_len(&self) -> usize {
            let history = cf(&self.sm.db, CF_HISTORY).expect("history cf");
            self.sm.db.iterator_cf(history, IteratorMode::Start).count()
        }
    }

    #[tokio::test]
    async fn txn_semantics() {
        struct Case {
            name: &'static str,
            before: Vec<Txn>,
            txn: Txn,
            succeeded: bool,
            revision: u64,
            results: Vec<OpResult>,
            after: Vec<(&'static str, Option<KeyValue>)>,
        }
        let cases = vec![
            Case {
                name: "create-only on an absent key",
                before: vec![],
                txn: Txn {
                    compares: vec![cmp("k", CmpOp::Equal, CompareTarget::Version(0))],
                    success: vec![put("k", "v1")],
                    failure: vec![],
                },
                succeeded: true,
                revision: 1,
                results: vec![OpResult::Put { prev: None }],
                after: vec![("k", Some(kv("k", "v1", 1, 1, 1)))],
            },
            Case {
                name: "create-only on a present key runs the failure branch",
                before: vec![ops(vec![put("k", "v1")])],
                txn: Txn {
                    compares: vec![cmp("k", CmpOp::Equal, CompareTarget::Version(0))],
                    success: vec![put("k", "v2")],
                    failure: vec![get("k")],
                },
                succeeded: false,
                revision: 1,
                results: vec![OpResult::Get {
                    kv: Some(kv("k", "v1", 1, 1, 1)),
                }],
                after: vec![("k", Some(kv("k", "v1", 1, 1, 1)))],
            },
            Case {
                name: "CAS on the current mod revision",
                before: vec![
                    ops(vec![put("k", "v1")]),
                    ops(vec![put("other", "x")]),
                    ops(vec![put("k", "v2")]),
                ],
                txn: Txn {
                    compares: vec![cmp("k", CmpOp::Equal, CompareTarget::ModRevision(3))],
                    success: vec![put("k", "v3")],
                    failure: vec![],
                },
                succeeded: true,
                revision: 4,
                results: vec![OpResult::Put {
                    prev: Some(kv("k", "v2", 1, 3, 2)),
                }],
                after: vec![("k", Some(kv("k", "v3", 1, 4, 3)))],
            },
            Case {
                name: "CAS on a stale mod revision writes nothing",
                before: vec![ops(vec![put("k", "v1")]), ops(vec![put("k", "v2")])],
                txn: Txn {
                    compares: vec![cmp("k", CmpOp::Equal, CompareTarget::ModRevision(1))],
                    success: vec![put("k", "v3")],
                    failure: vec![],
                },
                succeeded: false,
                revision: 2,
                results: vec![],
                after: vec![("k", Some(kv("k", "v2", 1, 2, 2)))],
            },
            Case {
                name: "one revision for a txn writing several keys",
                before: vec![],
                txn: ops(vec![put("a", "1"), put("b", "2"), get("a")]),
                succeeded: true,
                revision: 1,
                results: vec![
                    OpResult::Put { prev: None },
                    OpResult::Put { prev: None },
                    OpResult::Get {
                        kv: Some(kv("a", "1", 1, 1, 1)),
                    },
                ],
                after: vec![
                    ("a", Some(kv("a", "1", 1, 1, 1))),
                    ("b", Some(kv("b", "2", 1, 1, 1))),
                ],
            },
            Case {
                name: "version counts every put, two in one txn included",
                before: vec![ops(vec![put("k", "v1")])],
                txn: ops(vec![put("k", "v2"), put("k", "v3")]),
                succeeded: true,
                revision: 2,
                results: vec![
                    OpResult::Put {
                        prev: Some(kv("k", "v1", 1, 1, 1)),
                    },
                    OpResult::Put {
                        prev: Some(kv("k", "v2", 1, 2, 2)),
                    },
                ],
                after: vec![("k", Some(kv("k", "v3", 1, 2, 3)))],
            },
            Case {
                name: "delete of a missing key writes nothing",
                before: vec![ops(vec![put("other", "x")])],
                txn: ops(vec![del("k")]),
                succeeded: true,
                revision: 1,
                results: vec![OpResult::Delete { prev: None }],
                after: vec![("k", None), ("other", Some(kv("other", "x", 1, 1, 1)))],
            },
            Case {
                name: "delete then put in one txn recreates the key",
                before: vec![ops(vec![put("k", "v1")])],
                txn: ops(vec![del("k"), put("k", "v2"), get("k")]),
                succeeded: true,
                revision: 2,
                results: vec![
                    OpResult::Delete {
                        prev: Some(kv("k", "v1", 1, 1, 1)),
                    },
                    OpResult::Put { prev: None },
                    OpResult::Get {
                        kv: Some(kv("k", "v2", 2, 2, 1)),
                    },
                ],
                after: vec![("k", Some(kv("k", "v2", 2, 2, 1)))],
            },
            Case {
                name: "a missing key is unequal to any value",
                before: vec![],
                txn: Txn {
                    compares: vec![cmp(
                        "k",
                        CmpOp::NotEqual,
                        CompareTarget::Value(b"x".to_vec()),
                    )],
                    success: vec![put("k", "x")],
                    failure: vec![],
                },
                succeeded: true,
                revision: 1,
                results: vec![OpResult::Put { prev: None }],
                after: vec![("k", Some(kv("k", "x", 1, 1, 1)))],
            },
            Case {
                name: "a missing key is not less than any value",
                before: vec![],
                txn: Txn {
                    compares: vec![cmp("k", CmpOp::Less, CompareTarget::Value(b"x".to_vec()))],
                    success: vec![put("k", "x")],
                    failure: vec![get("k")],
                },
                succeeded: false,
                revision: 0,
                results: vec![OpResult::Get { kv: None }],
                after: vec![("k", None)],
            },
            Case {
                name: "value compares order bytes",
                before: vec![ops(vec![put("k", "b")])],
                txn: Txn {
                    compares: vec![
                        cmp("k", CmpOp::Less, CompareTarget::Value(b"c".to_vec())),
                        cmp("k", CmpOp::Greater, CompareTarget::Value(b"a".to_vec())),
                        cmp("k", CmpOp::Equal, CompareTarget::Value(b"b".to_vec())),
                    ],
                    success: vec![put("k", "c")],
                    failure: vec![],
                },
                succeeded: true,
                revision: 2,
                results: vec![OpResult::Put {
                    prev: Some(kv("k", "b", 1, 1, 1)),
                }],
                after: vec![("k", Some(kv("k", "c", 1, 2, 2)))],
            },
            Case {
                name: "every compare must hold",
                before: vec![ops(vec![put("a", "1")]), ops(vec![put("b", "1")])],
                txn: Txn {
                    compares: vec![
                        cmp("a", CmpOp::Equal, CompareTarget::CreateRevision(1)),
                        cmp("b", CmpOp::Greater, CompareTarget::CreateRevision(2)),
                    ],
                    success: vec![put("a", "2")],
                    failure: vec![del("b")],
                },
                succeeded: false,
                revision: 3,
                results: vec![OpResult::Delete {
                    prev: Some(kv("b", "1", 2, 2, 1)),
                }],
                after: vec![("a", Some(kv("a", "1", 1, 1, 1))), ("b", None)],
            },
            Case {
                name: "compares see the state before the ops",
                before: vec![ops(vec![put("a", "1")])],
                txn: Txn {
                    compares: vec![
                        cmp("a", CmpOp::Equal, CompareTarget::Version(1)),
                        cmp("b", CmpOp::Less, CompareTarget::ModRevision(1)),
                    ],
                    success: vec![put("b", "1"), put("a", "2")],
                    failure: vec![],
                },
                succeeded: true,
                revision: 2,
                results: vec![
                    OpResult::Put { prev: None },
                    OpResult::Put {
                        prev: Some(kv("a", "1", 1, 1, 1)),
                    },
                ],
                after: vec![
                    ("a", Some(kv("a", "2", 1, 2, 2))),
                    ("b", Some(kv("b", "1", 2, 2, 1))),
                ],
            },
        ];
        for case in cases {
            // Once with the setup in its own apply calls, once all in the same batch as
            // the txn: the outcome must not depend on batching.
            for batched in [false, true] {
                let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
                let resp = if batched {
                    let mut all = case.before.clone();
                    all.push(case.txn.clone());
                    h.apply(all).await.pop().expect("a response")
                } else {
                    h.apply_each(case.before.clone()).await;
                    h.apply(vec![case.txn.clone()])
                        .await
                        .pop()
                        .expect("a response")
                };
                let name = format!("{} (batched: {batched})", case.name);
                assert_eq!(resp.succeeded, case.succeeded, "{name}: succeeded");
                assert_eq!(resp.revision, case.revision, "{name}: revision");
                assert_eq!(resp.results, case.results, "{name}: results");
                assert_eq!(
                    h.reader.revision().expect("revision"),
                    case.revision,
                    "{name}"
                );
                for (key, want) in &case.after {
                    let (got, rev) = h.reader.get(key).expect("get");
                    assert_eq!(&got, want, "{name}: key {key}");
                    assert_eq!(rev, case.revision, "{name}: read revision");
                }
            }
        }
    }

    #[tokio::test]
    async fn history_records_events_with_prev_values() {
        let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
        h.apply_each(vec![
            ops(vec![put("a", "v1")]),
            ops(vec![put("a", "v2")]),
            ops(vec![del("a")]),
            ops(vec![del("a")]),
            ops(vec![get("a")]),
        ])
        .await;
        let batch = h.reader.events_after("", 0, 0).expect("events");
        let want = vec![
            WatchEvent {
                kind: EventKind::Put,
                kv: kv("a", "v1", 1, 1, 1),
                prev: None,
            },
            WatchEvent {
                kind: EventKind::Put,
                kv: kv("a", "v2", 1, 2, 2),
                prev: Some(kv("a", "v1", 1, 1, 1)),
            },
            WatchEvent {
                kind: EventKind::Delete,
                kv: kv("a", "", 0, 3, 0),
                prev: Some(kv("a", "v2", 1, 2, 2)),
            },
        ];
        assert_eq!(batch.events, want);
        assert_eq!(batch.revision, 3);
        assert_eq!(batch.compact_revision, 0);
    }

    #[tokio::test]
    async fn events_after() {
        let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
        h.apply_each(vec![
            ops(vec![put("/a/1", "x")]),                   // 1
            ops(vec![put("/b/1", "x")]),                   // 2
            ops(vec![put("/a/2", "x"), put("/a/3", "x")]), // 3
            ops(vec![get("/a/2")]),                        // no revision
            ops(vec![del("/a/1")]),                        // 4
            ops(vec![put("/b/2", "x")]),                   // 5
        ])
        .await;
        /// (key, revision) of each event, and the batch's revision.
        type Events = (Vec<(&'static str, u64)>, u64);
        struct Case {
            name: &'static str,
            prefix: &'static str,
            after: u64,
            max_events: u32,
            want: Result<Events, StoreError>,
        }
        let cases = vec![
            Case {
                name: "every event under a prefix",
                prefix: "/a/",
                after: 0,
                max_events: 0,
                want: Ok((vec![("/a/1", 1), ("/a/2", 3), ("/a/3", 3), ("/a/1", 4)], 4)),
            },
            Case {
                name: "another prefix",
                prefix: "/b/",
                after: 0,
                max_events: 0,
                want: Ok((vec![("/b/1", 2), ("/b/2", 5)], 5)),
            },
            Case {
                name: "the empty prefix matches everything",
                prefix: "",
                after: 0,
                max_events: 0,
                want: Ok((
                    vec![
                        ("/a/1", 1),
                        ("/b/1", 2),
                        ("/a/2", 3),
                        ("/a/3", 3),
                        ("/a/1", 4),
                        ("/b/2", 5),
                    ],
                    5,
                )),
            },
            Case {
                name: "a revision is never split across batches",
                prefix: "/a/",
                after: 0,
                max_events: 2,
                want: Ok((vec![("/a/1", 1), ("/a/2", 3), ("/a/3", 3)], 3)),
            },
            Case {
                name: "a bound of one still finishes the revision",
                prefix: "/a/",
                after: 1,
                max_events: 1,
                want: Ok((vec![("/a/2", 3), ("/a/3", 3)], 3)),
            },
            Case {
                name: "nothing matched: the current revision",
                prefix: "/a/",
                after: 4,
                max_events: 0,
                want: Ok((vec![], 5)),
            },
            Case {
                name: "caught up",
                prefix: "",
                after: 5,
                max_events: 0,
                want: Ok((vec![], 5)),
            },
            Case {
                name: "a future revision",
                prefix: "",
                after: 6,
                max_events: 0,
                want: Err(StoreError::FutureRevision {
                    requested: 6,
                    current: 5,
                }),
            },
        ];
        for case in cases {
            let name = case.name;
            let got = h
                .reader
                .events_after(case.prefix, case.after, case.max_events)
                .map(|b| {
                    assert_eq!(b.compact_revision, 0, "{name}");
                    let events: Vec<(String, u64)> = b
                        .events
                        .iter()
                        .map(|e| (e.kv.key.clone(), e.kv.mod_revision))
                        .collect();
                    (events, b.revision)
                });
            let want = case.want.map(|(events, rev)| {
                let events: Vec<(String, u64)> =
                    events.into_iter().map(|(k, r)| (k.to_owned(), r)).collect();
                (events, rev)
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[tokio::test]
    async fn range_pages_in_key_order() {
        let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
        h.apply(
            ["/b/1", "/a/3", "/ab", "/a/1", "/a/2"]
                .into_iter()
                .map(|k| ops(vec![put(k, k)]))
                .collect(),
        )
        .await;
        struct Case {
            name: &'static str,
            prefix: &'static str,
            start_after: Option<&'static str>,
            limit: u32,
            keys: Vec<&'static str>,
            more: bool,
        }
        let case = |name, prefix, start_after, limit, keys, more| Case {
            name,
            prefix,
            start_after,
            limit,
            keys,
            more,
        };
        let all_a = vec!["/a/1", "/a/2", "/a/3"];
        let cases = vec![
            case("a prefix", "/a/", None, 0, all_a.clone(), false),
            case("a first page", "/a/", None, 2, vec!["/a/1", "/a/2"], true),
            case("the next page", "/a/", Some("/a/2"), 2, vec!["/a/3"], false),
            case("an exact page", "/a/", None, 3, all_a.clone(), false),
            case("after the last key", "/a/", Some("/a/3"), 0, vec![], false),
            case(
                "start before the prefix",
                "/a/",
                Some("/"),
                0,
                all_a.clone(),
                false,
            ),
            case("start past the prefix", "/a/", Some("/b"), 0, vec![], false),
            case(
                "a shorter prefix",
                "/a",
                None,
                0,
                vec!["/a/1", "/a/2", "/a/3", "/ab"],
                false,
            ),
            case(
                "everything",
                "",
                None,
                0,
                vec!["/a/1", "/a/2", "/a/3", "/ab", "/b/1"],
                false,
            ),
        ];
        for c in cases {
            let name = c.name;
            let (kvs, more, revision) = h
                .reader
                .range(c.prefix, c.start_after, c.limit)
                .expect("range");
            let keys: Vec<&str> = kvs.iter().map(|kv| kv.key.as_str()).collect();
            assert_eq!(keys, c.keys, "{name}");
            assert_eq!(more, c.more, "{name}: more");
            assert_eq!(revision, 5, "{name}: revision");
            assert!(
                kvs.iter().all(|kv| kv.value == kv.key.as_bytes()),
                "{name}: values"
            );
        }
    }

    #[tokio::test]
    async fn history_window_is_compacted_deterministically() {
        let txns: Vec<Txn> = (1..=30)
            .map(|i| ops(vec![put("k", &i.to_string())]))
            .collect();

        // One apply call per txn, checking the window as it moves.
        let mut each = Harness::new(10);
        for (i, txn) in txns.iter().enumerate() {
            each.apply(vec![txn.clone()]).await;
            let revision = i as u64 + 1;
            let want = match revision {
                0..=11 => 0,
                // Exceeding limit + limit/10 = 11 compacts down to revision - limit.
                r => {
                    let mut compact = 0;
                    for r in 1..=r {
                        if r - compact > 11 {
                            compact = r - 10;
                        }
                    }
                    compact
                }
            };
            assert_eq!(
                each.reader.compact_revision().expect("compact"),
                want,
                "at {revision}"
            );
            if revision == 12 {
                assert_eq!(want, 2);
            }
        }
        assert_eq!(each.reader.compact_revision().expect("compact"), 20);
        assert_eq!(
            each.history_len(),
            10,
            "events up to the compact revision are gone"
        );
        assert_eq!(
            each.reader.events_after("", 19, 0),
            Err(StoreError::Compacted {
                requested: 19,
                compact_revision: 20
            })
        );
        let batch = each.reader.events_after("", 20, 0).expect("events");
        let revs: Vec<u64> = batch.events.iter().map(|e| e.kv.mod_revision).collect();
        assert_eq!(revs, (21..=30).collect::<Vec<_>>());

        // The same log in one apply call ends in the same state.
        let mut batched = Harness::new(10);
        batched.apply(txns).await;
        assert_eq!(batched.reader.compact_revision().expect("compact"), 20);
        assert_eq!(batched.history_len(), 10);
        assert_eq!(
            batched.reader.digest().expect("digest"),
            each.reader.digest().expect("digest")
        );
        assert_eq!(
            batched.reader.events_after("", 20, 0).expect("events"),
            batch
        );
    }

    async fn assert_same_reads(a: &StateReader, b: &StateReader) {
        assert_eq!(a.digest().expect("digest"), b.digest().expect("digest"));
        assert_eq!(a.revision().expect("rev"), b.revision().expect("rev"));
        assert_eq!(
            a.compact_revision().expect("compact"),
            b.compact_revision().expect("compact")
        );
        assert_eq!(
            a.applied_log_id().expect("applied"),
            b.applied_log_id().expect("applied")
        );
        assert_eq!(
            a.range("", None, 0).expect("range"),
            b.range("", None, 0).expect("range")
        );
        for key in ["/a/1", "/a/2", "/b/1", "/missing"] {
            assert_eq!(a.get(key).expect("get"), b.get(key).expect("get"), "{key}");
        }
        let compact = a.compact_revision().expect("compact");
        assert_eq!(
            a.events_after("", compact, 0).expect("events"),
            b.events_after("", compact, 0).expect("events")
        );
    }

    /// A store with keys, deletes, a membership and a compacted history.
    async fn populated() -> Harness {
        let mut h = Harness::new(4);
        let members = Membership::new(vec![[1u64, 2, 3].into_iter().collect()], None);
        let entry = h.entry(EntryPayload::Membership(members));
        h.sm.apply([entry]).await.expect("apply membership");
        h.apply_each(vec![
            ops(vec![put("/a/1", "one"), put("/a/2", "two")]),
            ops(vec![put("/b/1", "three")]),
            ops(vec![del("/a/2")]),
            ops(vec![put("/a/2", "again")]),
            ops(vec![put("/a/1", "changed")]),
            ops(vec![put("/c/1", "x")]),
            ops(vec![del("/c/1")]),
        ])
        .await;
        assert!(
            h.reader.compact_revision().expect("compact") > 0,
            "history compacted"
        );
        h
    }

    #[tokio::test]
    async fn snapshot_installs_into_a_fresh_or_a_used_store() {
        for used in [false, true] {
            let mut leader = populated().await;
            let snap = leader
                .sm
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .expect("build");
            assert_eq!(snap.meta.last_log_id, Some(log_id(leader.index)));
            let current = leader
                .sm
                .get_current_snapshot()
                .await
                .expect("current")
                .expect("a snapshot");
            assert_eq!(current.meta, snap.meta);

            let mut follower = Harness::new(4);
            if used {
                follower
                    .apply_each(vec![ops(vec![put("/stale", "x"), put("/a/1", "old")])])
                    .await;
            }
            let rx = follower.reader.subscribe();
            let mut data = follower.sm.begin_receiving_snapshot().await.expect("begin");
            *data = Cursor::new(snap.snapshot.get_ref().clone());
            follower
                .sm
                .install_snapshot(&snap.meta, data)
                .await
                .expect("install");

            assert_same_reads(&leader.reader, &follower.reader).await;
            assert_eq!(follower.reader.get("/stale").expect("get").0, None);
            assert_eq!(
                follower.sm.applied_state().await.expect("applied"),
                leader.sm.applied_state().await.expect("applied")
            );
            let installed = follower
                .sm
                .get_current_snapshot()
                .await
                .expect("current")
                .expect("a snapshot");
            assert_eq!(installed.meta, snap.meta);
            assert_eq!(installed.snapshot.get_ref(), snap.snapshot.get_ref());
            assert!(rx.has_changed().expect("sender alive"), "install notifies");

            // Both continue with the same entry and stay equal.
            follower.index = leader.index;
            let next = ops(vec![put("/a/3", "after")]);
            follower.apply(vec![next.clone()]).await;
            leader.apply(vec![next]).await;
            assert_same_reads(&leader.reader, &follower.reader).await;
        }
    }

    #[tokio::test]
    async fn a_damaged_snapshot_is_refused_and_changes_nothing() {
        let mut leader = populated().await;
        let snap = leader
            .sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        let bytes = snap.snapshot.get_ref().clone();
        let mut wrong_meta = snap.meta.clone();
        wrong_meta.last_log_id = Some(log_id(leader.index + 1));
        let cases: Vec<(&str, Vec<u8>, &SnapshotMeta<u64, BasicNode>)> = vec![
            ("truncated", bytes[..bytes.len() - 3].to_vec(), &snap.meta),
            (
                "no end record",
                bytes[..bytes.len() - 8].to_vec(),
                &snap.meta,
            ),
            ("not a snapshot", b"hello".to_vec(), &snap.meta),
            ("meta of another snapshot", bytes.clone(), &wrong_meta),
        ];
        for (name, data, meta) in cases {
            let mut follower = Harness::new(4);
            follower.apply(vec![ops(vec![put("/keep", "x")])]).await;
            let before = follower.reader.digest().expect("digest");
            let res = follower
                .sm
                .install_snapshot(meta, Box::new(Cursor::new(data)))
                .await;
            assert!(res.is_err(), "{name}: refused");
            assert_eq!(follower.reader.digest().expect("digest"), before, "{name}");
            assert!(
                follower
                    .sm
                    .get_current_snapshot()
                    .await
                    .expect("current")
                    .is_none(),
                "{name}: not current"
            );
        }
    }

    #[tokio::test]
    async fn reopening_keeps_everything() {
        let h = populated().await;
        let Harness {
            dir,
            mut log,
            mut sm,
            reader,
            index,
        } = h;
        let vote = openraft::Vote::new(3, 7);
        log.save_vote(&vote).await.expect("vote");
        let entries: Vec<Entry> = (1..=5)
            .map(|i| Entry {
                log_id: log_id(i),
                payload: EntryPayload::Blank,
            })
            .collect();
        log.blocking_append(entries.clone()).await.expect("append");
        log.purge(log_id(2)).await.expect("purge");
        log.save_committed(Some(log_id(4)))
            .await
            .expect("committed");
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        let applied = sm.applied_state().await.expect("applied");
        let digest = reader.digest().expect("digest");
        let events = reader.events_after("", 0, 0);
        let compact = reader.compact_revision().expect("compact");
        drop((log, sm, reader));

        let (mut log, mut sm, reader) = open(dir.path(), 4).expect("reopen");
        assert_eq!(reader.digest().expect("digest"), digest);
        assert_eq!(reader.compact_revision().expect("compact"), compact);
        assert_eq!(reader.events_after("", 0, 0), events);
        assert_eq!(
            reader.applied_log_id().expect("applied"),
            Some(log_id_to_wire(&log_id(index)))
        );
        assert_eq!(sm.applied_state().await.expect("applied"), applied);
        assert_eq!(sm.revision(), reader.revision().expect("revision"));
        assert_eq!(*reader.subscribe().borrow(), sm.revision());
        let current = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(current.meta, snap.meta);
        assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
        assert_eq!(
            log.read_committed().await.expect("committed"),
            Some(log_id(4))
        );
        let state = log.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id, Some(log_id(2)));
        assert_eq!(state.last_log_id, Some(log_id(5)));
        assert_eq!(
            log.get_log_reader()
                .await
                .try_get_log_entries(0..)
                .await
                .expect("logs"),
            entries[2..].to_vec()
        );
    }

    #[tokio::test]
    async fn subscribers_see_revisions_move() {
        let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
        let mut rx = h.reader.subscribe();
        assert!(!rx.has_changed().expect("alive"));
        h.apply(vec![ops(vec![put("k", "v")])]).await;
        assert!(rx.has_changed().expect("alive"));
        assert_eq!(*rx.borrow_and_update(), 1);
        h.apply(vec![ops(vec![get("k")]), ops(vec![del("missing")])])
            .await;
        let blank = h.entry(EntryPayload::Blank);
        h.sm.apply([blank]).await.expect("apply");
        assert!(
            !rx.has_changed().expect("alive"),
            "nothing written, no wake-up"
        );
        let late = h.sm.reader().subscribe();
        assert_eq!(*late.borrow(), 1);
    }

    #[tokio::test]
    async fn digest_follows_the_data() {
        let mut a = Harness::new(DEFAULT_HISTORY_LIMIT);
        let mut b = Harness::new(DEFAULT_HISTORY_LIMIT);
        assert_eq!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
        a.apply(vec![ops(vec![put("k", "v")])]).await;
        assert_ne!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
        b.apply(vec![ops(vec![put("k", "w")])]).await;
        assert_ne!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
        // The same key and value at another version and mod revision.
        b.apply(vec![ops(vec![put("j", "x")])]).await;
        a.apply(vec![ops(vec![put("k", "w")])]).await;
        assert_eq!(
            a.reader.get("k").expect("a").0.map(|kv| kv.value),
            Some(b"w".to_vec())
        );
        assert_ne!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
        // The same writes give the same digest.
        let mut c = Harness::new(DEFAULT_HISTORY_LIMIT);
        c.apply(vec![ops(vec![put("k", "v")]), ops(vec![put("k", "w")])])
            .await;
        assert_eq!(a.reader.digest().expect("a"), c.reader.digest().expect("c"));
    }

    #[test]
    fn open_refuses_what_is_not_a_rudder_store() {
        fn raw_db(dir: &Path, cfs: &[&str], marker: Option<&[u8]>) {
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.create_missing_column_families(true);
            let db = DB::open_cf(&opts, dir, cfs).expect("raw rocksdb");
            db.put(b"someone-else", b"data").expect("put");
            if let Some(m) = marker {
                db.put(FORMAT_KEY, m).expect("marker");
            }
        }
        type Setup = fn(&Path);
        type Check = fn(&OpenError) -> bool;
        let cases: Vec<(&str, Setup, Check)> = vec![
            (
                "files that are not a RocksDB",
                |d| std::fs::write(d.join("notes.txt"), "mine").expect("write"),
                |e| matches!(e, OpenError::Foreign { .. }),
            ),
            (
                "a garbage CURRENT file",
                |d| std::fs::write(d.join("CURRENT"), "garbage").expect("write"),
                |e| matches!(e, OpenError::Unreadable { .. }),
            ),
            (
                "a RocksDB without our column families",
                |d| raw_db(d, &[], None),
                |e| matches!(e, OpenError::Foreign { .. }),
            ),
            (
                "a RocksDB with our column families but no marker",
                |d| raw_db(d, &ALL_CFS, None),
                |e| matches!(e, OpenError::Foreign { .. }),
            ),
            (
                "a store of another format",
                |d| raw_db(d, &ALL_CFS, Some(b"rudder-store-v0")),
                |e| matches!(e, OpenError::Foreign { .. }),
            ),
        ];
        for (name, setup, check) in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            setup(dir.path());
            let err = open(dir.path(), DEFAULT_HISTORY_LIMIT).expect_err(name);
            assert!(check(&err), "{name}: got {err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains(&dir.path().display().to_string()),
                "{name}: message names the path: {msg}"
            );
            // Whatever was there is still there.
            if dir.path().join("notes.txt").exists() {
                assert_eq!(
                    std::fs::read_to_string(dir.path().join("notes.txt")).expect("read"),
                    "mine"
                );
            }
            if name.starts_with("a garbage") {
                assert_eq!(
                    std::fs::read_to_string(dir.path().join("CURRENT")).expect("read"),
                    "garbage"
                );
            }
            if name.starts_with("a RocksDB") || name.starts_with("a store") {
                let mut opts = Options::default();
                opts.create_if_missing(false);
                let cfs = DB::list_cf(&opts, dir.path()).expect("list");
                let db = DB::open_cf(&opts, dir.path(), &cfs).expect("raw reopen");
                assert_eq!(
                    db.get(b"someone-else").expect("get").as_deref(),
                    Some(&b"data"[..]),
                    "{name}: data kept"
                );
                assert_ne!(
                    db.get(FORMAT_KEY).expect("get").as_deref(),
                    Some(FORMAT_MARKER),
                    "{name}: no marker written"
                );
            }
        }
    }

    #[test]
    fn open_refuses_a_store_in_use() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = open(dir.path(), DEFAULT_HISTORY_LIMIT).expect("first open");
        let err = open(dir.path(), DEFAULT_HISTORY_LIMIT).expect_err("second open");
        assert!(matches!(err, OpenError::Open { .. }), "got {err:?}");
        drop(first);
        open(dir.path(), DEFAULT_HISTORY_LIMIT).expect("open after close");
    }

    #[test]
    fn open_creates_a_missing_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested").join("store");
        let (_, _, reader) = open(&path, DEFAULT_HISTORY_LIMIT).expect("open");
        assert_eq!(reader.revision().expect("revision"), 0);
    }
}
