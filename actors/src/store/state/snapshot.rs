//! Snapshots: building, installing and keeping them.
//!
//! Snapshot bytes: the magic line, then frames of `tag (1 byte) ++ length (u32 LE) ++
//! codec bytes`: one header (`H`, an `SmMeta`: applied id, membership, revision, compact
//! revision), one `K` frame per key (a `KeyValue`), one `E` frame per history event
//! (revision, seq, `WatchEvent`), and a final `Z` frame with both counts. Framing each
//! record keeps every decode under the codec's size bound however large the store
//! grows, and the end frame catches a truncated transfer.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::{BasicNode, ErrorVerb, RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use rocksdb::{IteratorMode, WriteBatch, DB};
use rudder_protocol::codec;
use rudder_protocol::messages::store::{self as wire, KeyValue, WatchEvent};

use crate::store::types::{snapshot_meta_to_wire, StorageError, TypeConfig};

use super::*;

pub(super) const SNAPSHOT_MAGIC: &[u8] = b"rudder-snapshot-v1\n";
pub(super) const TAG_HEADER: u8 = b'H';
pub(super) const TAG_KV: u8 = b'K';
pub(super) const TAG_EVENT: u8 = b'E';
pub(super) const TAG_END: u8 = b'Z';

/// Disk form of an `E` frame: (revision, seq, event).
pub(super) type EventFrame = (u64, u32, WatchEvent);

/// Writes the snapshot format described above.
pub(super) struct ImageWriter {
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
pub(super) struct ImageReader<'a> {
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
pub(super) fn build_image(db: &DB) -> Result<(SmMeta, Vec<u8>), String> {
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
pub(super) fn install_image(
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
pub(super) fn read_current_snapshot(
    db: &DB,
) -> Result<Option<(wire::SnapshotMeta, Vec<u8>)>, StorageError> {
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
    pub(super) db: Arc<DB>,
    pub(super) snapshot_lock: Arc<Mutex<()>>,
}

impl RaftSnapshotBuilder<TypeConfig> for StoreSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        crate::telemetry::metrics()
            .components
            .raft()
            .snapshots
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
pub(super) fn save_built(
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
