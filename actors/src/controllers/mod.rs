//! The controllers (Kubernetes' kube-controller-manager): one supervised actor per control
//! loop, each built on informers, a work queue and a pure plan function.
//!
//! - [`replicaset`]: keeps a ReplicaSet's pods at its replica count.
//! - [`replication`]: the same for ReplicationControllers.
//! - [`deployment`]: rolls pod templates out through ReplicaSets.
//! - [`pods`]: pod helpers shared by the replica controllers.
//! - [`endpoints`]: Endpoints of every Service with a selector.
//! - [`namespace`]: empties a Terminating namespace, then lets it go.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`nodelifecycle`]: marks silent nodes Unknown, taints them, evicts their pods.
//! - [`nodeipam`]: gives every node a pod CIDR from the cluster CIDR.
//! - [`garbagecollector`]: cascading deletion along owner references.
//! - [`support`]: leader gating, the worker loop and Event recording they share.

pub mod deployment;
pub mod endpoints;
pub mod garbagecollector;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod pods;
pub mod replicaset;
pub mod replication;
pub mod serviceaccount;
pub mod support;

use crate::config::{ControllersSection, NetworkSection};
use crate::supervisor::ComponentSpec;

/// The components of the core controllers (endpoints, namespace, serviceaccount, node
/// lifecycle, node IPAM, garbage collector), configured by the `[controllers]` and
/// `[network]` tables.
pub fn core_components(cfg: &ControllersSection, network: &NetworkSection) -> Vec<ComponentSpec> {
    vec![
        endpoints::component(),
        namespace::component(),
        serviceaccount::component(),
        nodelifecycle::component(nodelifecycle::Settings {
            grace_period: std::time::Duration::from_millis(cfg.node_grace_period_ms),
            eviction_rate: cfg.node_eviction_rate,
            secondary_eviction_rate: cfg.secondary_node_eviction_rate,
            unhealthy_zone_threshold: cfg.unhealthy_zone_threshold,
            large_cluster_threshold: cfg.large_cluster_size_threshold,
        }),
        nodeipam::component(network.cluster_cidr.clone(), network.node_cidr_mask),
        garbagecollector::component(),
    ]
}
