//! The controllers (Kubernetes' kube-controller-manager): one supervised actor per control
//! loop, each built with the controller kit ([`support`]) on the node's shared informers,
//! a work queue and a pure plan function. [`components`] is the one list of them that
//! node start-up reads; each controller's bus name is its module's `NAME`, and its
//! leader-election Lease is derived from that name ([`support::lease_name`]).
//!
//! - [`clusterroleaggregation`]: the rules of aggregated ClusterRoles (`admin`,
//!   `edit`, `view`) from the roles their selectors match.
//! - [`replicaset`]: keeps a ReplicaSet's pods at its replica count.
//! - [`replication`]: the same for ReplicationControllers.
//! - [`deployment`]: rolls pod templates out through ReplicaSets.
//! - [`statefulset`]: pods with stable names, hostnames and claims, in ordinal order,
//!   with partitioned rolling updates through ControllerRevisions.
//! - [`job`]: runs a Job's pods to completion (Indexed, back-off, failure policy,
//!   pod tracking with finalizers).
//! - [`cronjob`]: creates Jobs on a cron schedule and trims their history.
//! - [`daemonset`]: one pod per eligible node, rolled out with ControllerRevisions
//!   (RollingUpdate with maxUnavailable or maxSurge, OnDelete).
//! - [`ttlafterfinished`]: deletes finished Jobs once their TTL passes.
//! - [`persistentvolume`]: binds PersistentVolumeClaims to PersistentVolumes, keeps
//!   their phases, reclaims released volumes, lifts the pvc/pv-protection finalizers.
//! - [`resourcequota`]: keeps each ResourceQuota's `status.hard` and `status.used`
//!   (what its namespace's objects use), recounted when objects go and periodically.
//! - [`disruption`]: keeps each PodDisruptionBudget's status (healthy, desired and
//!   expected pods, disruptions allowed) for the `pods/eviction` subresource; its
//!   `stale` loop clears a `DisruptionTarget` condition left on a pod not deleted.
//! - [`pods`]: pod helpers shared by the replica controllers.
//! - [`endpoints`]: Endpoints of every Service with a selector.
//! - [`namespace`]: empties a Terminating namespace, then lets it go.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`rootca`]: the `kube-root-ca.crt` ConfigMap (the API servers' CAs) in every
//!   namespace.
//! - [`csrsigning`]: issues the client certificates of approved
//!   CertificateSigningRequests from the cluster's client CA.
//! - [`nodelifecycle`]: marks silent nodes Unknown, taints them, evicts their pods.
//! - [`nodeipam`]: gives every node a pod CIDR from the cluster CIDR.
//! - [`garbagecollector`]: cascading deletion along owner references.
//! - [`support`]: the controller kit: the [`support::Controller`] builder (informers,
//!   owner mapping, leader gate, work queue, workers), expectations, pod creation and
//!   deletion in slow-start batches, Event references.

pub mod clusterroleaggregation;
pub mod cronjob;
pub mod csrsigning;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod garbagecollector;
pub mod horizontalpodautoscaler;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod persistentvolume;
pub mod pods;
pub mod replicaset;
pub mod replication;
pub mod resourcequota;
pub mod rootca;
pub mod serviceaccount;
pub mod statefulset;
pub mod support;
pub mod ttlafterfinished;

use crate::config::{ControllersSection, NetworkSection};
use crate::supervisor::ComponentSpec;

/// Every controller the node runs on control-plane nodes, in one list, configured by
/// the `[controllers]` and `[network]` tables.
pub fn components(cfg: &ControllersSection, network: &NetworkSection) -> Vec<ComponentSpec> {
    vec![
        replicaset::ReplicaSetController::component(),
        replication::ReplicationControllerController::component(),
        deployment::DeploymentController::component(),
        statefulset::component(),
        job::component(),
        cronjob::component(),
        daemonset::component(),
        ttlafterfinished::component(),
        persistentvolume::component(),
        disruption::component(),
        disruption::stale::component(),
        endpoints::component(),
        namespace::component(),
        serviceaccount::component(),
        rootca::component(),
        nodelifecycle::component(nodelifecycle::Settings {
            grace_period: std::time::Duration::from_millis(cfg.node_grace_period_ms),
            eviction_rate: cfg.node_eviction_rate,
            secondary_eviction_rate: cfg.secondary_node_eviction_rate,
            unhealthy_zone_threshold: cfg.unhealthy_zone_threshold,
            large_cluster_threshold: cfg.large_cluster_size_threshold,
        }),
        nodeipam::component(network.cluster_cidr.clone(), network.node_cidr_mask),
        garbagecollector::component(),
        horizontalpodautoscaler::component(std::time::Duration::from_millis(
            cfg.hpa_sync_period_ms.max(100),
        )),
        clusterroleaggregation::component(),
        resourcequota::component(),
        csrsigning::component(),
    ]
}

/// The bus names of every controller in [`components`], in its order.
pub const NAMES: &[&str] = &[
    replicaset::NAME,
    replication::NAME,
    deployment::NAME,
    statefulset::NAME,
    job::NAME,
    cronjob::NAME,
    daemonset::NAME,
    ttlafterfinished::NAME,
    persistentvolume::NAME,
    disruption::NAME,
    disruption::stale::NAME,
    endpoints::NAME,
    namespace::NAME,
    serviceaccount::NAME,
    rootca::NAME,
    nodelifecycle::NAME,
    nodeipam::NAME,
    garbagecollector::NAME,
    horizontalpodautoscaler::NAME,
    clusterroleaggregation::NAME,
    resourcequota::NAME,
    csrsigning::NAME,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_registration_per_controller_under_its_constant_name() {
        let names: Vec<String> =
            components(&ControllersSection::default(), &NetworkSection::default())
                .into_iter()
                .map(|c| c.name)
                .collect();
        assert_eq!(names, NAMES, "the list and the names agree");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "no controller twice");
        for n in &names {
            assert!(n.starts_with("controller/"), "{n}");
            assert_eq!(
                support::lease_name(n),
                format!("rudder-controller-{}", &n["controller/".len()..]),
                "{n}: its Lease"
            );
        }
    }
}
