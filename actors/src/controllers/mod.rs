//! The controllers (Kubernetes' kube-controller-manager): one supervised actor per control
//! loop, each built on informers, a work queue and a pure plan function.
//!
//! - [`endpoints`]: Endpoints of every Service with a selector.
//! - [`namespace`]: empties a Terminating namespace, then lets it go.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`nodelifecycle`]: marks silent nodes Unknown, taints them, evicts their pods.
//! - [`nodeipam`]: gives every node a pod CIDR from the cluster CIDR.
//! - [`garbagecollector`]: cascading deletion along owner references.

pub mod endpoints;
pub mod garbagecollector;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod serviceaccount;
