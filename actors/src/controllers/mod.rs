//! The control loops of the controller manager, one actor each.
//!
//! - [`pods`]: pod helpers shared by the replica controllers.
//! - [`replicaset`]: keeps a ReplicaSet's pods at its replica count.
//! - [`replication`]: the same for ReplicationControllers.
//! - [`deployment`]: rolls pod templates out through ReplicaSets.

pub mod deployment;
pub mod pods;
pub mod replicaset;
pub mod replication;
