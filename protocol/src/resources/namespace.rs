//! Namespaces (`core/v1 Namespace`): the scope of namespaced objects. Deleting one moves it
//! to `Terminating` until the namespace controller has emptied it and cleared
//! `spec.finalizers`.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{ConditionStatus, Time};

kind! {
    /// A scope for names; cluster-scoped itself.
    #[schema(name = "io.k8s.api.core.v1.Namespace")]
    pub struct Namespace: "v1", "Namespace", "namespaces", namespaced = false {
        /// The finalizers that must clear before the namespace is removed.
        // Always written, as Kubernetes does (so are the status's).
        pub spec: NamespaceSpec,
        /// The namespace's phase and conditions; read-only.
        pub status: NamespaceStatus,
    }
}

string_enum! {
    /// The lifecycle phase of a namespace.
    pub enum NamespacePhase {
        /// In use.
        Active = "Active",
        /// Being deleted; no new objects may be created in it.
        Terminating = "Terminating",
    }
}

/// The desired state of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NamespaceSpec")]
pub struct NamespaceSpec {
    /// Finalizers (e.g. `kubernetes`) that must clear before the namespace is removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub finalizers: Vec<String>,
}

/// The observed state of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NamespaceStatus")]
pub struct NamespaceStatus {
    /// `Active` or `Terminating`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<NamespacePhase>,
    /// Progress of the deletion, e.g. `NamespaceContentRemaining`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "type")]
    pub conditions: Vec<NamespaceCondition>,
}

/// A condition of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NamespaceCondition")]
pub struct NamespaceCondition {
    /// The condition type.
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
