//! Error helpers and the small RocksDB helpers every section uses.

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};
use rocksdb::{ColumnFamily, WriteOptions, DB};
use rudder_protocol::messages::store::StoreError;

use crate::store::types::StorageError;

use super::*;

pub(super) fn sm_error(verb: ErrorVerb, msg: String) -> StorageError {
    StorageIOError::new(ErrorSubject::StateMachine, verb, AnyError::error(msg)).into()
}

pub(super) fn snapshot_error(verb: ErrorVerb, msg: String) -> StorageError {
    StorageIOError::new(ErrorSubject::Snapshot(None), verb, AnyError::error(msg)).into()
}

pub(super) fn unavailable(msg: String) -> StoreError {
    StoreError::Unavailable(msg)
}

pub(super) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, String> {
    db.cf_handle(name)
        .ok_or_else(|| format!("column family {name} missing in {}", db.path().display()))
}

pub(super) fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

/// Runs blocking RocksDB work on tokio's blocking pool, so that it never stalls the
/// runtime thread that drives Raft (or actix).
pub(super) async fn blocking<T, F>(verb: ErrorVerb, f: F) -> Result<T, StorageError>
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
pub(super) fn read_meta(
    get: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, rocksdb::Error>,
) -> Result<SmMeta, String> {
    match get(KEY_SM_META).map_err(|e| format!("reading sm/meta: {e}"))? {
        None => Ok(SmMeta::default()),
        Some(bytes) => SmMeta::decode(&bytes).map_err(|e| format!("decoding sm/meta: {e}")),
    }
}
