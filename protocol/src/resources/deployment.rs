//! Deployments (`apps/v1 Deployment`): declarative rollouts. The deployment controller
//! owns one replica set per pod template revision and scales them according to the
//! strategy.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, ConditionStatus, IntOrString, LabelSelector, PodTemplateSpec, Time};

kind! {
    /// Rolls a pod template out through replica sets.
    #[schema(name = "io.k8s.api.apps.v1.Deployment")]
    pub struct Deployment: "apps/v1", "Deployment", "deployments", namespaced = true {
        /// The desired state.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: DeploymentSpec,
        /// The most recently observed status of the deployment; read-only.
        // Always written (`status: {}` before the controller's first write), as
        // Kubernetes does.
        pub status: DeploymentStatus,
    }
}

string_enum! {
    /// How old pods are replaced by new ones.
    pub enum DeploymentStrategyType {
        /// Kill all old pods before creating new ones.
        Recreate = "Recreate",
        /// Replace pods gradually (the default).
        RollingUpdate = "RollingUpdate",
    }
}

/// The desired state of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DeploymentSpec")]
pub struct DeploymentSpec {
    /// How many pods (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Which pods belong to the deployment; must match the template's labels.
    #[schema(required)]
    pub selector: LabelSelector,
    /// The pods to run.
    #[schema(required)]
    pub template: PodTemplateSpec,
    /// How old pods are replaced by new ones.
    #[serde(skip_serializing_if = "is_default")]
    #[schema(retain_keys)]
    pub strategy: DeploymentStrategy,
    /// How long a new pod must be ready to count as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// How many old replica sets to keep for rollback (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// The deployment is paused.
    #[serde(skip_serializing_if = "is_default")]
    pub paused: bool,
    /// How long progress may stall before the rollout counts as failed (default 600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
}

/// How a deployment replaces old pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DeploymentStrategy")]
pub struct DeploymentStrategy {
    /// `Recreate` or `RollingUpdate` (default).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<DeploymentStrategyType>,
    /// Parameters of a rolling update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// Parameters of a rolling update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.RollingUpdateDeployment")]
pub struct RollingUpdateDeployment {
    /// How many pods may be unavailable, as a number or a percentage (default 25%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// How many pods may exist above `replicas`, as a number or a percentage (default 25%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// The observed state of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DeploymentStatus")]
pub struct DeploymentStatus {
    /// The `metadata.generation` this status reflects.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// Pods of all its replica sets.
    #[serde(skip_serializing_if = "is_default")]
    pub replicas: i32,
    /// Pods with the current template.
    #[serde(skip_serializing_if = "is_default")]
    pub updated_replicas: i32,
    /// Pods that are ready.
    #[serde(skip_serializing_if = "is_default")]
    pub ready_replicas: i32,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(skip_serializing_if = "is_default")]
    pub available_replicas: i32,
    /// Pods still needed for full availability.
    #[serde(skip_serializing_if = "is_default")]
    pub unavailable_replicas: i32,
    /// `Available`, `Progressing`, `ReplicaFailure`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "type")]
    pub conditions: Vec<DeploymentCondition>,
    /// Bumped when a replica set name collides, to make the next one unique.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
}

/// A condition of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DeploymentCondition")]
pub struct DeploymentCondition {
    /// `Available`, `Progressing` or `ReplicaFailure`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// Last time the condition was updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// Last time the condition changed from one status to another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one word (e.g. `NewReplicaSetAvailable`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message with details about the last transition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}
