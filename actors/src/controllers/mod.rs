//! The controllers (Kubernetes' kube-controller-manager): one supervised actor per control
//! loop, each built on informers, a work queue and a pure plan function.
//!
//! - [`endpoints`]: Endpoints of every Service with a selector.
//! - [`namespace`]: empties a Terminating namespace, then lets it go.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`nodelifecycle`]: marks silent nodes Unknown, taints them, evicts their pods.
//! - [`nodeipam`]: gives every node a pod CIDR from the cluster CIDR.
//! - [`garbagecollector`]: cascading deletion along owner references.
//! - [`support`]: leader gating, the worker loop and Event recording they share.

pub mod endpoints;
pub mod garbagecollector;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod serviceaccount;
pub mod support;

use std::time::Duration;

use crate::config::NodeConfig;
use crate::supervisor::ComponentSpec;

/// What the core controllers take from a node's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreSettings {
    /// `[controllers] node_grace_period_ms`.
    pub node_grace_period: Duration,
    /// `[network] cluster_cidr`.
    pub cluster_cidr: String,
    /// `[network] node_cidr_mask`.
    pub node_cidr_mask: u8,
}

impl CoreSettings {
    /// The settings of `cfg`'s `[controllers]` and `[network]` tables.
    pub fn from_config(cfg: &NodeConfig) -> Self {
        CoreSettings {
            node_grace_period: Duration::from_millis(cfg.controllers.node_grace_period_ms),
            cluster_cidr: cfg.network.cluster_cidr.clone(),
            node_cidr_mask: cfg.network.node_cidr_mask,
        }
    }
}

/// The components of the core controllers (endpoints, namespace, serviceaccount, node
/// lifecycle, node IPAM, garbage collector).
pub fn core_components(cfg: &CoreSettings) -> Vec<ComponentSpec> {
    vec![
        endpoints::component(),
        namespace::component(),
        serviceaccount::component(),
        nodelifecycle::component(nodelifecycle::Settings {
            grace_period: cfg.node_grace_period,
        }),
        nodeipam::component(cfg.cluster_cidr.clone(), cfg.node_cidr_mask),
        garbagecollector::component(),
    ]
}
