//! The `store` actor: one replica of the Raft group that holds cluster state (the etcd of
//! Rudder), openraft 0.9 over RocksDB.
//!
//! - [`types`]: openraft's type configuration and wire conversions (openraft's generics
//!   stay inside this module).
//! - [`log`]: the Raft log, vote and purge marker in RocksDB.
//! - [`state`]: the state machine (keys, revisions, watch history) in RocksDB, and snapshots.
//! - [`network`]: Raft RPCs as typed messages on the bus.

pub mod log;
pub mod network;
pub mod state;
pub mod types;
