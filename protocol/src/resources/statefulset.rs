//! StatefulSets (`apps/v1 StatefulSet`): pods with stable identities. Pod `<set>-<n>`
//! keeps its name, its hostname (and, with the governing headless Service, its DNS
//! name) and its volumes (one PersistentVolumeClaim per template and ordinal) across
//! rescheduling; the StatefulSet controller creates, replaces and updates them in
//! ordinal order.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{
    is_default, null_as_default, ConditionStatus, IntOrString, LabelSelector,
    PersistentVolumeClaim, PodTemplateSpec, Time,
};

/// The label with a StatefulSet pod's name (so a Service can select one pod).
pub const STATEFULSET_POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with a StatefulSet pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

kind! {
    /// Pods with stable names, hostnames and volumes, managed in ordinal order.
    #[schema(name = "io.k8s.api.apps.v1.StatefulSet")]
    pub struct StatefulSet: "apps/v1", "StatefulSet", "statefulsets", namespaced = true {
        /// The desired state.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: StatefulSetSpec,
        /// The most recently observed status; read-only.
        pub status: StatefulSetStatus,
    }
}

string_enum! {
    /// How a StatefulSet creates and deletes its pods.
    pub enum PodManagementPolicyType {
        /// One at a time, in ordinal order, each Running and Ready before the next
        /// (the default); deletion in reverse order.
        OrderedReady = "OrderedReady",
        /// All at once, without waiting.
        Parallel = "Parallel",
    }
}

string_enum! {
    /// How a StatefulSet replaces pods when its template changes.
    pub enum StatefulSetUpdateStrategyType {
        /// Pods are deleted and recreated, highest ordinal first (the default).
        RollingUpdate = "RollingUpdate",
        /// Pods take the new template only when someone deletes them.
        OnDelete = "OnDelete",
    }
}

string_enum! {
    /// What happens to a StatefulSet's claims.
    pub enum PersistentVolumeClaimRetentionPolicyType {
        /// The claims stay (the default).
        Retain = "Retain",
        /// The claims are deleted.
        Delete = "Delete",
    }
}

/// The desired state of a StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.StatefulSetSpec")]
pub struct StatefulSetSpec {
    /// How many pods (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Which pods belong to the set; must match the template's labels.
    #[schema(required)]
    pub selector: LabelSelector,
    /// The pods to run.
    #[schema(required)]
    pub template: PodTemplateSpec,
    /// Claims each pod gets one of, named `<template>-<set>-<ordinal>`; a template's name
    /// is a volume name in the pod.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub volume_claim_templates: Vec<PersistentVolumeClaim>,
    /// The headless Service that gives the pods their DNS names (`subdomain`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// OrderedReady (default) or Parallel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_management_policy: Option<PodManagementPolicyType>,
    /// How pods take a new template.
    #[serde(skip_serializing_if = "is_default")]
    pub update_strategy: StatefulSetUpdateStrategy,
    /// How many old revisions to keep (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// How long a new pod must be ready to count as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// Whether claims are deleted with the set or when it scales down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim_retention_policy:
        Option<StatefulSetPersistentVolumeClaimRetentionPolicy>,
    /// Where ordinals start (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordinals: Option<StatefulSetOrdinals>,
}

/// How a StatefulSet replaces pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.StatefulSetUpdateStrategy")]
pub struct StatefulSetUpdateStrategy {
    /// `RollingUpdate` (default) or `OnDelete`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<StatefulSetUpdateStrategyType>,
    /// Parameters of a rolling update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateStatefulSetStrategy>,
}

/// Parameters of a StatefulSet's rolling update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.RollingUpdateStatefulSetStrategy")]
pub struct RollingUpdateStatefulSetStrategy {
    /// Ordinals below this keep the current revision (default 0: all are updated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// How many pods may be unavailable during the update, as a number or a
    /// percentage (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// What happens to a StatefulSet's claims.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy")]
pub struct StatefulSetPersistentVolumeClaimRetentionPolicy {
    /// When the StatefulSet is deleted (default Retain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when_deleted: Option<PersistentVolumeClaimRetentionPolicyType>,
    /// When the StatefulSet scales down (default Retain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when_scaled: Option<PersistentVolumeClaimRetentionPolicyType>,
}

/// Where a StatefulSet's ordinals start.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.StatefulSetOrdinals")]
pub struct StatefulSetOrdinals {
    /// The first ordinal (default 0).
    #[serde(skip_serializing_if = "is_default")]
    pub start: i32,
}

/// The observed state of a StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.StatefulSetStatus")]
pub struct StatefulSetStatus {
    /// The `metadata.generation` this status reflects.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// Pods created by the controller.
    pub replicas: i32,
    /// Pods with a Ready condition.
    #[serde(skip_serializing_if = "is_default")]
    pub ready_replicas: i32,
    /// Pods at `currentRevision`.
    #[serde(skip_serializing_if = "is_default")]
    pub current_replicas: i32,
    /// Pods at `updateRevision`.
    #[serde(skip_serializing_if = "is_default")]
    pub updated_replicas: i32,
    /// The revision of the pods before the update (all of them once it is done).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub current_revision: String,
    /// The revision of the current template.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub update_revision: String,
    /// Bumped when a revision name collides, to make the next one unique.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// Conditions of the set.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type")]
    pub conditions: Vec<StatefulSetCondition>,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(skip_serializing_if = "is_default")]
    pub available_replicas: i32,
}

/// A condition of a StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.apps.v1.StatefulSetCondition")]
pub struct StatefulSetCondition {
    /// The condition's type.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// Last time the condition changed from one status to another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one word.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Details.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl StatefulSet {
    /// The first ordinal (`spec.ordinals.start`, default 0).
    pub fn start_ordinal(&self) -> i32 {
        self.spec.ordinals.as_ref().map_or(0, |o| o.start)
    }

    /// The desired pod count (`spec.replicas`, default 1).
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    /// The pod management policy (default OrderedReady).
    pub fn pod_management(&self) -> PodManagementPolicyType {
        self.spec
            .pod_management_policy
            .unwrap_or(PodManagementPolicyType::OrderedReady)
    }

    /// The update strategy's type (default RollingUpdate).
    pub fn update_strategy(&self) -> StatefulSetUpdateStrategyType {
        self.spec
            .update_strategy
            .type_
            .unwrap_or(StatefulSetUpdateStrategyType::RollingUpdate)
    }

    /// The rolling update's partition (default 0).
    pub fn partition(&self) -> i32 {
        self.spec
            .update_strategy
            .rolling_update
            .as_ref()
            .and_then(|r| r.partition)
            .unwrap_or(0)
    }

    /// The name of the pod with `ordinal`: `<set>-<ordinal>`.
    pub fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.metadata.name)
    }

    /// The name of the claim of `template` for `ordinal`: `<template>-<set>-<ordinal>`.
    pub fn claim_name(&self, template: &str, ordinal: i32) -> String {
        format!("{template}-{}-{ordinal}", self.metadata.name)
    }

    /// The ordinal in a pod name of this set (`None` for a name of another form).
    pub fn ordinal_of(&self, pod_name: &str) -> Option<i32> {
        let rest = pod_name.strip_prefix(self.metadata.name.as_str())?;
        let digits = rest.strip_prefix('-')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // No leading zeros: `web-01` is not ordinal 1's pod.
        if digits.len() > 1 && digits.starts_with('0') {
            return None;
        }
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_parse_only_from_this_sets_names() {
        let mut s = StatefulSet::new("web");
        s.metadata.namespace = "default".into();
        let table = [
            ("web-0", Some(0)),
            ("web-12", Some(12)),
            ("web-01", None),
            ("web-", None),
            ("web", None),
            ("web-a", None),
            ("webx-1", None),
            ("web-1-2", None),
            ("other-1", None),
        ];
        for (name, want) in table {
            assert_eq!(s.ordinal_of(name), want, "{name}");
        }
        assert_eq!(s.pod_name(3), "web-3");
        assert_eq!(s.claim_name("data", 3), "data-web-3");
    }
}
