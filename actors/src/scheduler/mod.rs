//! The scheduler: assigns pending pods to nodes, after Kubernetes' kube-scheduler.
//!
//! - [`snapshot`]: the nodes and what is bound to them, kept current incrementally.
//! - [`framework`]: the filter and score plugin traits.
//! - [`plugins`]: one file per plugin, with Kubernetes' names and reason strings.
//! - [`cycle`]: one scheduling cycle, a pure function from a snapshot to a node or a
//!   Kubernetes-style "0/N nodes are available" error.
//! - [`backoff`]: per-pod retry backoff as a value.

pub mod backoff;
pub mod cycle;
pub mod framework;
pub mod plugins;
pub mod snapshot;
