//! Reading: the [`StateReader`] handle and the digest of the applied state.

use std::sync::Arc;

use rocksdb::{ColumnFamily, Direction, IteratorMode, DB};
use rudder_protocol::codec;
use rudder_protocol::messages::store::{
    self as wire, KeyValue, StoreError, WatchBatch, WatchEvent,
};
use tokio::sync::watch;

use crate::store::types::log_id_to_wire;

use super::*;

/// A read handle on the applied state, for other tasks and actors. Cheap to clone; every
/// call reads from one RocksDB snapshot, so each answer is consistent with the revision
/// it reports, while entries are being applied concurrently.
#[derive(Clone)]
pub struct StateReader {
    pub(super) db: Arc<DB>,
    pub(super) revision_rx: watch::Receiver<u64>,
    pub(super) recent: Arc<std::sync::Mutex<super::recent::RecentChanges>>,
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

    /// Whether a key under `prefix` changed after revision `after`, from memory: `None`
    /// when memory does not reach back that far (read [`StateReader::events_after`]).
    pub fn moved_under(&self, prefix: &str, after: u64) -> Option<bool> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .moved_under(prefix, after)
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
pub(super) struct Fnv(u64);

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
