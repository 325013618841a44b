//! Opening: the directory checks, the RocksDB options and [`open`].

use std::io::{self};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options, WriteBatch, DB,
};
use tokio::sync::watch;

use crate::store::log::LogStore;

use super::*;

pub(super) fn db_options(create: bool) -> Options {
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
    // One small block cache for every family. RocksDB's default is 32 MB, which a node
    // filled after a few thousand objects (bench-footprint-scale, heaptrack): the API
    // server serves reads from its watch cache, so the store reads mostly recent Raft
    // entries and watch history, and the OS page cache keeps the files' hot blocks.
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&Cache::new_lru_cache(BLOCK_CACHE_BYTES));
    o.set_block_based_table_factory(&table);
    o
}

/// The store's RocksDB block cache.
const BLOCK_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Whether `dir` already holds a RocksDB (`true`), is empty or missing (`false`, created),
/// or holds something else (an error: never reset a directory we did not create).
pub(super) fn inspect_dir(dir: &Path) -> Result<bool, OpenError> {
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
        // Clones share the one block cache (RocksDB copies the table factory's pointer).
        .map(|name| ColumnFamilyDescriptor::new(*name, opts.clone()));
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
    let recent = Arc::new(Mutex::new(super::recent::RecentChanges::new(meta.revision)));
    let reader = StateReader {
        db: db.clone(),
        revision_rx,
        recent: recent.clone(),
    };
    let sm = StateMachine {
        db: db.clone(),
        history_limit,
        meta,
        revision_tx,
        recent,
        snapshot_lock: Arc::new(Mutex::new(())),
        trace_node: None,
    };
    Ok((LogStore::new(db), sm, reader))
}
