//! openraft's storage conformance suite over the RocksDB store (`store::log` and
//! `store::state`), each case on a fresh store in its own temporary directory.

use openraft::testing::{StoreBuilder, Suite};
use rudder_actors::store::log::LogStore;
use rudder_actors::store::state::{open, StateMachine, DEFAULT_HISTORY_LIMIT};
use rudder_actors::store::types::{StorageError, TypeConfig};
use tempfile::TempDir;

/// Opens a new store in a new temporary directory; the directory is the guard.
struct TempStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for TempStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm, _reader) =
            open(dir.path(), DEFAULT_HISTORY_LIMIT).expect("open a fresh store");
        Ok((dir, log, sm))
    }
}

#[test]
fn rocksdb_store_passes_openraft_suite() {
    Suite::test_all(TempStoreBuilder).expect("the store conforms");
}
