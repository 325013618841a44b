//! DaemonSets (`apps/v1 DaemonSet`): one pod per eligible node. The DaemonSet
//! controller owns the pods and the ControllerRevisions of its templates, and replaces
//! pods according to the update strategy.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, ConditionStatus, IntOrString, LabelSelector, PodTemplateSpec, Time};

/// The label with the DaemonSet's template generation on its pods (kept by Kubernetes
/// for compatibility beside the revision hash).
pub const DAEMONSET_TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// The annotation in which the API server counts a DaemonSet's template changes.
pub const DAEMONSET_TEMPLATE_GENERATION_ANNOTATION: &str =
    "deprecated.daemonset.template.generation";

kind! {
    /// Runs a copy of a pod on every eligible node.
    #[schema(name = "io.k8s.api.apps.v1.DaemonSet")]
    pub struct DaemonSet: "apps/v1", "DaemonSet", "daemonsets", namespaced = true {
        /// The desired behaviour.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: DaemonSetSpec,
        /// The most recently observed status; read-only.
        // Always written (`status: {...}`), as Kubernetes does.
        pub status: DaemonSetStatus,
    }
}

string_enum! {
    /// How a DaemonSet replaces pods when its template changes.
    pub enum DaemonSetUpdateStrategyType {
        /// Replace old pods gradually (the default).
        RollingUpdate = "RollingUpdate",
        /// Replace a pod only once it is deleted.
        OnDelete = "OnDelete",
    }
}

/// The desired behaviour of a DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DaemonSetSpec")]
pub struct DaemonSetSpec {
    /// Which pods belong to the DaemonSet; must match the template's labels.
    #[schema(required)]
    pub selector: LabelSelector,
    /// The pod to run on every eligible node.
    #[schema(required)]
    pub template: PodTemplateSpec,
    /// How old pods are replaced by new ones.
    #[serde(skip_serializing_if = "is_default")]
    pub update_strategy: DaemonSetUpdateStrategy,
    /// How long a new pod must be ready to count as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// How many old revisions to keep for rollback (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
}

/// How a DaemonSet replaces old pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DaemonSetUpdateStrategy")]
pub struct DaemonSetUpdateStrategy {
    /// `RollingUpdate` (default) or `OnDelete`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<DaemonSetUpdateStrategyType>,
    /// Parameters of a rolling update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDaemonSet>,
}

/// Parameters of a DaemonSet's rolling update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.RollingUpdateDaemonSet")]
pub struct RollingUpdateDaemonSet {
    /// How many nodes may be without an available pod during the update, as a number or
    /// a percentage of the nodes that should run one (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// How many nodes may run an updated pod beside the old one during the update, as a
    /// number or a percentage (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// The observed state of a DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DaemonSetStatus")]
pub struct DaemonSetStatus {
    /// Nodes that run at least one daemon pod and should.
    #[schema(required)]
    pub current_number_scheduled: i32,
    /// Nodes that run a daemon pod but should not.
    #[schema(required)]
    pub number_misscheduled: i32,
    /// Nodes that should run the daemon pod.
    #[schema(required)]
    pub desired_number_scheduled: i32,
    /// Nodes that should run the daemon pod and have one ready.
    #[schema(required)]
    pub number_ready: i32,
    /// The `metadata.generation` this status reflects.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// Nodes that run the updated daemon pod.
    #[serde(skip_serializing_if = "is_default")]
    pub updated_number_scheduled: i32,
    /// Nodes that should run the daemon pod and have one available.
    #[serde(skip_serializing_if = "is_default")]
    pub number_available: i32,
    /// Nodes that should run the daemon pod and have none available.
    #[serde(skip_serializing_if = "is_default")]
    pub number_unavailable: i32,
    /// Bumped when a revision name collides, to make the next one unique.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// The latest observations of the DaemonSet's state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "type")]
    pub conditions: Vec<DaemonSetCondition>,
}

/// A condition of a DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.DaemonSetCondition")]
pub struct DaemonSetCondition {
    /// The type of the condition.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// Last time the condition changed from one status to another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one word.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message with details about the last transition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}
