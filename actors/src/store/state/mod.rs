//! The replicated state machine in RocksDB: keys with etcd-style revisions, the watch
//! history, and Raft snapshots of both.
//!
//! [`StateMachine`] implements openraft's
//! [`RaftStateMachine`](openraft::storage::RaftStateMachine); [`StoreSnapshotBuilder`]
//! builds snapshots; [`StateReader`] is the read handle the rest of the node uses (gets,
//! ranges, watch history, and a [`watch`](tokio::sync::watch) channel of the applied
//! revision). [`open`] opens the replica's one RocksDB with every column family, the
//! log's included, and hands out all three pieces.
//!
//! Column families owned here:
//!
//! - `kv`: key → codec of the stored value (value bytes, create revision, mod revision,
//!   version).
//! - `history`: revision (`u64` big-endian) ++ sequence in the revision (`u32`
//!   big-endian) → codec of the
//!   [`WatchEvent`](rudder_protocol::messages::store::WatchEvent); the retained window of
//!   changes.
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
//!
//! One private module per section: `records` (the stored records and keys), `helpers`
//! (error and RocksDB helpers), `open`, `apply` ([`StateMachine`]), `snapshot` (the
//! snapshot image, [`StoreSnapshotBuilder`]), `read` ([`StateReader`]) and `recent`
//! (the keys the latest applies changed, so caught-up watches skip the database).

// openraft's trait signatures fix the error type to its large `StorageError`; boxing it
// in private helpers would only move the allocation.
#![allow(clippy::result_large_err)]

mod apply;
mod helpers;
mod open;
mod read;
mod recent;
mod records;
mod snapshot;

use std::io;
use std::path::PathBuf;

use super::log::{CF_LOGS, CF_RAFT};

pub use apply::StateMachine;
pub use open::open;
pub use read::StateReader;
pub use snapshot::StoreSnapshotBuilder;

use {helpers::*, records::*, snapshot::*};

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

#[cfg(test)]
mod tests;
