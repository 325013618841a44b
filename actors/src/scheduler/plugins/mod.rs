//! The filter and score plugins, one per file, each a small type with Kubernetes' name
//! and reason strings.
//!
//! Filters, in the order Kubernetes runs them (a node's first failing filter gives its
//! reasons): [`node_unschedulable`] (cordon, then not Ready), [`taint_toleration`],
//! [`node_selector`] and [`node_affinity`] (one Kubernetes plugin, NodeAffinity),
//! [`host_ports`], [`resource_fit`], [`volume_binding`], [`topology_spread`],
//! [`inter_pod_affinity`]. Scores:
//! [`least_allocated`], [`topology_spread`], [`inter_pod_affinity`],
//! [`balanced_allocation`], [`spread`]. Preemption, Kubernetes' DefaultPreemption
//! post-filter, is [`crate::scheduler::preemption`].

pub mod balanced_allocation;
pub mod host_ports;
pub mod inter_pod_affinity;
pub mod least_allocated;
pub mod node_affinity;
pub mod node_selector;
pub mod node_unschedulable;
pub mod resource_fit;
pub mod spread;
pub mod taint_toleration;
pub mod topology_spread;
pub mod volume_binding;

use super::framework::Plugins;

/// The plugins of Rudder's default scheduler profile.
pub fn default_plugins() -> Plugins {
    Plugins {
        filters: vec![
            Box::new(node_unschedulable::NodeUnschedulable),
            Box::new(node_unschedulable::NodeReady),
            Box::new(taint_toleration::TaintToleration),
            Box::new(node_selector::NodeSelector),
            Box::new(node_affinity::NodeAffinity),
            Box::new(host_ports::NodePorts),
            Box::new(resource_fit::NodeResourcesFit),
            Box::new(volume_binding::VolumeBinding),
            Box::new(topology_spread::PodTopologySpread),
            Box::new(inter_pod_affinity::InterPodAffinity),
        ],
        scores: vec![
            Box::new(least_allocated::LeastAllocated),
            Box::new(topology_spread::PodTopologySpread),
            Box::new(inter_pod_affinity::InterPodAffinity),
            Box::new(balanced_allocation::BalancedAllocation),
            Box::new(spread::OwnerSpread),
        ],
    }
}
