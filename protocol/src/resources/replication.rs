//! Replica controllers: `core/v1 ReplicationController` (map selector, optional template)
//! and its successor `apps/v1 ReplicaSet` (label selector). Both keep `replicas` pods
//! matching their selector running and report the same status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{is_default, null_as_default, ConditionStatus, LabelSelector, PodTemplateSpec, Time};

kind! {
    /// Keeps a number of pods matching a map selector running (core/v1).
    pub struct ReplicationController: "v1", "ReplicationController", "replicationcontrollers",
        namespaced = true {
        /// The desired state.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: ReplicationControllerSpec,
        /// The observed state; always written (`status: {replicas: 0}` at first), as
        /// Kubernetes does.
        pub status: ReplicationControllerStatus,
    }
}

kind! {
    /// Keeps a number of pods matching a label selector running (apps/v1).
    pub struct ReplicaSet: "apps/v1", "ReplicaSet", "replicasets", namespaced = true {
        /// The desired state.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: ReplicaSetSpec,
        /// The observed state; always written (`status: {replicas: 0}` at first), as
        /// Kubernetes does.
        pub status: ReplicaSetStatus,
    }
}

/// The desired state of a replication controller.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicationControllerSpec {
    /// How many pods (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// How long a new pod must be ready to count as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// Labels the pods must have (defaults to the template's labels).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub selector: BTreeMap<String, String>,
    /// The pods to create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
}

/// The desired state of a replica set.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetSpec {
    /// How many pods (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// How long a new pod must be ready to count as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// Which pods belong to the set; must match the template's labels.
    pub selector: LabelSelector,
    /// The pods to create.
    #[serde(skip_serializing_if = "is_default")]
    pub template: PodTemplateSpec,
}

/// The observed state of a replica set (and of a replication controller).
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetStatus {
    /// Pods that exist.
    pub replicas: i32,
    /// Pods whose labels match the template's.
    #[serde(skip_serializing_if = "is_default")]
    pub fully_labeled_replicas: i32,
    /// Pods that are ready.
    #[serde(skip_serializing_if = "is_default")]
    pub ready_replicas: i32,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(skip_serializing_if = "is_default")]
    pub available_replicas: i32,
    /// The `metadata.generation` this status reflects.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// E.g. `ReplicaFailure`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ReplicaSetCondition>,
}

/// The observed state of a replication controller: the same fields as a replica set's.
pub type ReplicationControllerStatus = ReplicaSetStatus;

/// A condition of a replica set or replication controller.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetCondition {
    /// The condition type, e.g. `ReplicaFailure`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When `status` last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one word.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for humans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A condition of a replication controller: the same fields as a replica set's.
pub type ReplicationControllerCondition = ReplicaSetCondition;
