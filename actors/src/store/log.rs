//! The Raft log in RocksDB: [`LogStore`] implements openraft's [`RaftLogStorage`] and
//! [`RaftLogReader`] (storage-v2 API).
//!
//! It owns two column families of the replica's one RocksDB (opened, with the state
//! machine's families, by [`super::state::open`]):
//!
//! - `logs`: key = log index as `u64` big-endian (so key order is index order), value =
//!   the codec encoding of the entry's wire twin ([`wire::Entry`]): one format for wire
//!   and disk.
//! - `raft`: the vote, the last purged log id and the committed log id.
//!
//! It does not own the state machine, its snapshots or the format marker (see
//! [`super::state`]).
//!
//! Durability is what Raft's safety rests on, so every write that Raft relies on is
//! synced (`fsync` of the write-ahead log) before it is reported done: an append
//! completes its [`LogFlushed`] callback only after its one synced write batch, a vote
//! is synced before `save_vote` returns, truncation is synced, and a purge writes the
//! last purged log id and deletes the entries in one synced, atomic batch, so the
//! marker can never be behind the deletion. All writes run on tokio's blocking pool,
//! so an `fsync` never stalls the runtime thread that drives Raft (or actix); so do
//! range reads, which may touch the disk.

// openraft's trait signatures fix the error type to its large `StorageError`; boxing it
// in private helpers would only move the allocation.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, RaftLogReader, StorageIOError};
use rocksdb::{ColumnFamily, Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use rudder_protocol::codec;
use rudder_protocol::messages::store as wire;

use super::types::{
    entry_from_wire, entry_to_wire, log_id_from_wire, log_id_to_wire, opt_log_id_from_wire,
    opt_log_id_to_wire, vote_from_wire, vote_to_wire, Entry, LogId, StorageError, TypeConfig, Vote,
};

/// Column family of the log entries.
pub(crate) const CF_LOGS: &str = "logs";
/// Column family of the vote, the last purged log id and the committed log id.
pub(crate) const CF_RAFT: &str = "raft";

const KEY_VOTE: &[u8] = b"vote";
const KEY_PURGED: &[u8] = b"last_purged";
const KEY_COMMITTED: &[u8] = b"committed";

/// Upper bound on the encoded size of one [`RaftLogReader::limited_get_log_entries`]
/// answer (at least one entry is always returned): replication batches then stay well
/// under the bus frame limit.
const MAX_READ_BYTES: usize = 4 * 1024 * 1024;

/// The Raft log, vote and purge marker of one replica, in RocksDB.
///
/// Cheap to clone: it is a handle on the shared database; a clone is also the log
/// reader that openraft's replication tasks use.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    /// The node whose appends traces see (see [`LogStore::trace_as`]).
    trace_node: Option<Arc<str>>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("path", &self.db.path())
            .finish()
    }
}

/// The RocksDB key of log index `index`.
fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The log index a `logs` key encodes.
fn key_index(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// A synced write: returns only once the write-ahead log is on disk.
fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

fn io_error(subject: ErrorSubject<u64>, verb: ErrorVerb, msg: String) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::error(msg)).into()
}

/// Runs blocking RocksDB work on tokio's blocking pool.
async fn blocking<T, F>(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    f: F,
) -> Result<T, StorageError>
where
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(io_error(subject, verb, format!("storage task failed: {e}"))),
    }
}

impl LogStore {
    /// A log store over `db`, which must have the `logs` and `raft` column families
    /// (as [`super::state::open`] guarantees).
    pub(crate) fn new(db: Arc<DB>) -> Self {
        LogStore {
            db,
            trace_node: None,
        }
    }

    /// Remembers each appended log index for traces, as node `node`'s
    /// ([`crate::telemetry::trace::raft_step`]).
    pub fn trace_as(&mut self, node: &str) {
        self.trace_node = Some(Arc::from(node));
    }

    fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StorageError> {
        db.cf_handle(name).ok_or_else(|| {
            io_error(
                ErrorSubject::Store,
                ErrorVerb::Read,
                format!("column family {name} missing in {}", db.path().display()),
            )
        })
    }

    /// Reads and decodes one key of the `raft` column family.
    fn read_raft_key<T>(
        &self,
        key: &'static [u8],
        subject: ErrorSubject<u64>,
        decode: fn(&[u8]) -> Result<T, codec::CodecError>,
    ) -> Result<Option<T>, StorageError> {
        let cf = Self::cf(&self.db, CF_RAFT)?;
        let what = String::from_utf8_lossy(key);
        let bytes = self.db.get_pinned_cf(cf, key).map_err(|e| {
            io_error(
                subject.clone(),
                ErrorVerb::Read,
                format!("reading raft/{what}: {e}"),
            )
        })?;
        match bytes {
            None => Ok(None),
            Some(b) => decode(&b).map(Some).map_err(|e| {
                io_error(
                    subject,
                    ErrorVerb::Read,
                    format!("decoding raft/{what}: {e}"),
                )
            }),
        }
    }

    /// The last purged log id, if any log was ever purged.
    fn last_purged(&self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .read_raft_key(
                KEY_PURGED,
                ErrorSubject::Store,
                codec::decode::<wire::LogId>,
            )?
            .map(|id| log_id_from_wire(&id)))
    }

    /// The id of the last entry present in `logs`.
    fn last_present(&self) -> Result<Option<LogId>, StorageError> {
        let cf = Self::cf(&self.db, CF_LOGS)?;
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            None => Ok(None),
            Some(Err(e)) => Err(io_error(
                ErrorSubject::Logs,
                ErrorVerb::Read,
                format!("reading the last log entry: {e}"),
            )),
            Some(Ok((key, value))) => Ok(Some(decode_entry(&key, &value)?.log_id)),
        }
    }

    /// Entries with index in `[start, end)` (`end` `None`: unbounded), in order, stopping
    /// early (after at least one entry) once `max_bytes` of encoded entries are read.
    fn read_range(
        &self,
        start: u64,
        end: Option<u64>,
        max_bytes: usize,
    ) -> Result<Vec<Entry>, StorageError> {
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        let cf = Self::cf(&self.db, CF_LOGS)?;
        let from = index_key(start);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&from, Direction::Forward))
        {
            let (key, value) = item.map_err(|e| {
                io_error(
                    ErrorSubject::LogIndex(start),
                    ErrorVerb::Read,
                    format!("reading log entries from index {start}: {e}"),
                )
            })?;
            let index = key_index(&key).ok_or_else(|| bad_key(&key))?;
            if end.is_some_and(|e| index >= e) {
                break;
            }
            if !out.is_empty() && bytes + value.len() > max_bytes {
                break;
            }
            bytes += value.len();
            out.push(decode_entry(&key, &value)?);
        }
        Ok(out)
    }
}

fn bad_key(key: &[u8]) -> StorageError {
    io_error(
        ErrorSubject::Logs,
        ErrorVerb::Read,
        format!("malformed key in the logs column family: {key:02x?}"),
    )
}

/// Decodes one stored entry, checking that it sits under its own index.
fn decode_entry(key: &[u8], value: &[u8]) -> Result<Entry, StorageError> {
    let index = key_index(key).ok_or_else(|| bad_key(key))?;
    let entry = codec::decode::<wire::Entry>(value).map_err(|e| {
        io_error(
            ErrorSubject::LogIndex(index),
            ErrorVerb::Read,
            format!("decoding log entry {index}: {e}"),
        )
    })?;
    if entry.log_id.index != index {
        return Err(io_error(
            ErrorSubject::LogIndex(index),
            ErrorVerb::Read,
            format!(
                "log entry stored at index {index} claims index {}",
                entry.log_id.index
            ),
        ));
    }
    Ok(entry_from_wire(entry))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => match s.checked_add(1) {
                Some(s) => s,
                None => return Ok(Vec::new()),
            },
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e.checked_add(1),
            Bound::Excluded(e) => Some(*e),
            Bound::Unbounded => None,
        };
        let this = self.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            this.read_range(start, end, usize::MAX)
        })
        .await
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let this = self.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            this.read_range(start, Some(end), MAX_READ_BYTES)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self.last_purged()?;
        let last_log_id = self.last_present()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = codec::encode(&vote_to_wire(vote)).map_err(|e| {
            io_error(
                ErrorSubject::Vote,
                ErrorVerb::Write,
                format!("encoding vote {vote}: {e}"),
            )
        })?;
        let db = self.db.clone();
        let shown = vote.to_string();
        blocking(ErrorSubject::Vote, ErrorVerb::Write, move || {
            let cf = Self::cf(&db, CF_RAFT)?;
            let mut batch = WriteBatch::default();
            batch.put_cf(cf, KEY_VOTE, bytes);
            db.write_opt(batch, &synced()).map_err(|e| {
                io_error(
                    ErrorSubject::Vote,
                    ErrorVerb::Write,
                    format!("writing vote {shown}: {e}"),
                )
            })
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self
            .read_raft_key(KEY_VOTE, ErrorSubject::Vote, codec::decode::<wire::Vote>)?
            .map(|v| vote_from_wire(&v)))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: the committed id is a hint that lets a restarted replica re-apply
        // sooner; losing the latest one only delays that until the leader says it again.
        let bytes = codec::encode(&opt_log_id_to_wire(&committed)).map_err(|e| {
            io_error(
                ErrorSubject::Store,
                ErrorVerb::Write,
                format!("encoding committed log id: {e}"),
            )
        })?;
        let cf = Self::cf(&self.db, CF_RAFT)?;
        self.db.put_cf(cf, KEY_COMMITTED, bytes).map_err(|e| {
            io_error(
                ErrorSubject::Store,
                ErrorVerb::Write,
                format!("writing raft/committed: {e}"),
            )
        })
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .read_raft_key(
                KEY_COMMITTED,
                ErrorSubject::Store,
                codec::decode::<Option<wire::LogId>>,
            )?
            .and_then(|id| opt_log_id_from_wire(&id)))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes = codec::encode(&entry_to_wire(&entry)).map_err(|e| {
                io_error(
                    ErrorSubject::Log(entry.log_id),
                    ErrorVerb::Write,
                    format!("encoding log entry {}: {e}", entry.log_id),
                )
            })?;
            encoded.push((entry.log_id, bytes));
        }
        let Some((first, last)) = encoded.first().zip(encoded.last()).map(|(f, l)| (f.0, l.0))
        else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let db = self.db.clone();
        let (start, started) = (std::time::SystemTime::now(), std::time::Instant::now());
        let result = blocking(ErrorSubject::Logs, ErrorVerb::Write, move || {
            let cf = Self::cf(&db, CF_LOGS)?;
            let mut batch = WriteBatch::default();
            for (log_id, bytes) in &encoded {
                batch.put_cf(cf, index_key(log_id.index), bytes);
            }
            let started = std::time::Instant::now();
            let written = db.write_opt(batch, &synced());
            if crate::telemetry::enabled() {
                crate::telemetry::metrics()
                    .components
                    .raft()
                    .fsync
                    .observe(started.elapsed());
            }
            written.map_err(|e| {
                io_error(
                    ErrorSubject::Log(last),
                    ErrorVerb::Write,
                    format!(
                        "appending log entries {}..={}: {e}",
                        first.index, last.index
                    ),
                )
            })
        })
        .await;
        if let Some(node) = self
            .trace_node
            .as_deref()
            .filter(|_| crate::telemetry::enabled())
        {
            let indexes: Vec<u64> = (first.index..=last.index).collect();
            crate::telemetry::trace::raft_step(
                node,
                rudder_protocol::trace::RaftStep::Append,
                &indexes,
                start,
                started.elapsed(),
            );
        }
        match &result {
            Ok(()) => {
                tracing::trace!(first = %first, last = %last, "log entries appended");
                callback.log_io_completed(Ok(()));
            }
            Err(e) => callback.log_io_completed(Err(io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(since = %log_id, "truncating the log");
        let db = self.db.clone();
        blocking(ErrorSubject::Log(log_id), ErrorVerb::Delete, move || {
            let cf = Self::cf(&db, CF_LOGS)?;
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(cf, index_key(log_id.index), index_key(u64::MAX));
            // delete_range excludes its end; u64::MAX itself goes explicitly.
            batch.delete_cf(cf, index_key(u64::MAX));
            db.write_opt(batch, &synced()).map_err(|e| {
                io_error(
                    ErrorSubject::Log(log_id),
                    ErrorVerb::Delete,
                    format!("truncating the log from index {}: {e}", log_id.index),
                )
            })
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(upto = %log_id, "purging the log");
        let marker = codec::encode(&log_id_to_wire(&log_id)).map_err(|e| {
            io_error(
                ErrorSubject::Log(log_id),
                ErrorVerb::Delete,
                format!("encoding last purged log id {log_id}: {e}"),
            )
        })?;
        let db = self.db.clone();
        blocking(ErrorSubject::Log(log_id), ErrorVerb::Delete, move || {
            let raft = Self::cf(&db, CF_RAFT)?;
            let logs = Self::cf(&db, CF_LOGS)?;
            // One atomic, synced batch: the marker is on disk no later than the
            // deletion, so a restart never sees a hole below the first present entry.
            let mut batch = WriteBatch::default();
            batch.put_cf(raft, KEY_PURGED, marker);
            batch.delete_range_cf(logs, index_key(0), index_key(log_id.index));
            batch.delete_cf(logs, index_key(log_id.index));
            db.write_opt(batch, &synced()).map_err(|e| {
                io_error(
                    ErrorSubject::Log(log_id),
                    ErrorVerb::Delete,
                    format!("purging the log up to index {}: {e}", log_id.index),
                )
            })
        })
        .await
    }
}
