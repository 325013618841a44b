//! Replica controllers: `core/v1 ReplicationController` (map selector, optional template)
//! and its successor `apps/v1 ReplicaSet` (label selector). Both keep `replicas` pods
//! matching their selector running and report the same status.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use std::sync::LazyLock;

use crate::schema::{Field, FieldType, Schema, Ty, TypeDef, TypeRef};

use super::{is_default, null_as_default, ConditionStatus, LabelSelector, PodTemplateSpec, Time};

kind! {
    /// Keeps a number of pods matching a map selector running (core/v1).
    #[schema(name = "io.k8s.api.core.v1.ReplicationController")]
    pub struct ReplicationController: "v1", "ReplicationController", "replicationcontrollers",
        namespaced = true {
        /// The desired state.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: ReplicationControllerSpec,
        /// The most recently observed status of the replication controller; read-only.
        // Always written (`status: {replicas: 0}` at first), as Kubernetes does.
        #[schema(ty = RcStatusSchema)]
        pub status: ReplicationControllerStatus,
    }
}

kind! {
    /// Keeps a number of pods matching a label selector running (apps/v1).
    #[schema(name = "io.k8s.api.apps.v1.ReplicaSet")]
    pub struct ReplicaSet: "apps/v1", "ReplicaSet", "replicasets", namespaced = true {
        /// The desired state.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: ReplicaSetSpec,
        /// The most recently observed status of the replica set; read-only.
        // Always written (`status: {replicas: 0}` at first), as Kubernetes does.
        pub status: ReplicaSetStatus,
    }
}

/// The desired state of a replication controller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ReplicationControllerSpec")]
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
    /// The pods created when there are too few.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
}

/// The desired state of a replica set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.ReplicaSetSpec")]
pub struct ReplicaSetSpec {
    /// How many pods (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// How long a new pod must be ready to count as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// Which pods belong to the set; must match the template's labels.
    #[schema(required)]
    pub selector: LabelSelector,
    /// The pods created when there are too few.
    #[serde(skip_serializing_if = "is_default")]
    pub template: PodTemplateSpec,
}

/// The observed state of a replica set (and of a replication controller).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.ReplicaSetStatus")]
pub struct ReplicaSetStatus {
    /// Pods that exist.
    #[schema(required)]
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
    /// The latest available observations of the object's state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "type")]
    pub conditions: Vec<ReplicaSetCondition>,
}

/// The observed state of a replication controller: the same fields as a replica set's.
pub type ReplicationControllerStatus = ReplicaSetStatus;

/// A condition of a replica set or replication controller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.ReplicaSetCondition")]
pub struct ReplicaSetCondition {
    /// The condition type, e.g. `ReplicaFailure`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// Last time the condition changed from one status to another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A one-word, CamelCase reason for the condition's last transition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message with details about the last transition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A condition of a replication controller: the same fields as a replica set's.
pub type ReplicationControllerCondition = ReplicaSetCondition;

/// The schema of a replication controller's status: a replica set's, under the core/v1
/// names Kubernetes gives it (`ReplicationControllerStatus`, whose conditions are
/// `ReplicationControllerCondition`s).
struct RcStatusSchema;

impl Schema for RcStatusSchema {
    fn type_def() -> &'static TypeDef {
        static FIELDS: LazyLock<Vec<Field>> = LazyLock::new(|| {
            let conditions = <Vec<RcConditionSchema> as FieldType>::TY;
            ReplicaSetStatus::type_def()
                .fields()
                .iter()
                .map(|f| match f.name {
                    "conditions" => Field {
                        ty: conditions,
                        ..*f
                    },
                    _ => *f,
                })
                .collect()
        });
        static DEF: LazyLock<TypeDef> = LazyLock::new(|| TypeDef {
            name: "io.k8s.api.core.v1.ReplicationControllerStatus",
            description: "The observed state of a replication controller.",
            shape: crate::schema::Shape::Struct(FIELDS.as_slice()),
            gvk: None,
        });
        &DEF
    }
}

impl FieldType for RcStatusSchema {
    const TY: Ty = Ty::Object(TypeRef(Self::type_def));
}

/// The schema of a replication controller's condition: a replica set's, renamed.
struct RcConditionSchema;

impl Schema for RcConditionSchema {
    fn type_def() -> &'static TypeDef {
        static DEF: LazyLock<TypeDef> = LazyLock::new(|| TypeDef {
            name: "io.k8s.api.core.v1.ReplicationControllerCondition",
            description: "A condition of a replication controller.",
            ..*ReplicaSetCondition::type_def()
        });
        &DEF
    }
}

impl FieldType for RcConditionSchema {
    const TY: Ty = Ty::Object(TypeRef(Self::type_def));
}
