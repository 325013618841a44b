//! Disruption budgets (`policy/v1`): a [`PodDisruptionBudget`] limits how many of the
//! pods it selects may be voluntarily disrupted (evicted) at once. The disruption
//! controller keeps its status (how many selected pods are healthy, how many must be,
//! how many evictions are allowed now); the `pods/eviction` subresource reads that
//! status and spends one allowed disruption per eviction, noting the pod in
//! `status.disruptedPods` until the controller sees it gone.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, ConditionStatus, IntOrString, LabelSelector, Time};

kind! {
    /// Limits the number of pods of a set that are down at once through voluntary
    /// disruptions (evictions).
    #[schema(name = "io.k8s.api.policy.v1.PodDisruptionBudget")]
    pub struct PodDisruptionBudget: "policy/v1", "PodDisruptionBudget", "poddisruptionbudgets",
        namespaced = true {
        /// The desired behaviour.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: PodDisruptionBudgetSpec,
        /// The most recently observed status; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: PodDisruptionBudgetStatus,
    }
}

string_enum! {
    /// When a selected pod that is running but not ready may be evicted.
    pub enum UnhealthyPodEvictionPolicy {
        /// Only while the budget is met (`currentHealthy >= desiredHealthy`); the default.
        IfHealthyBudget = "IfHealthyBudget",
        /// Always, whatever the budget says.
        AlwaysAllow = "AlwaysAllow",
    }
}

/// The desired behaviour of a PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.policy.v1.PodDisruptionBudgetSpec")]
pub struct PodDisruptionBudgetSpec {
    /// An eviction is allowed if at least this many selected pods are still available
    /// after it (a number or a percentage such as `"50%"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// The pods it covers. A null selector selects no pods; an empty one selects every
    /// pod of the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// An eviction is allowed if at most this many selected pods are unavailable after
    /// it (a number or a percentage). Exclusive with `minAvailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// When running but not ready pods may be evicted: `IfHealthyBudget` (the default)
    /// or `AlwaysAllow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<UnhealthyPodEvictionPolicy>,
}

/// The observed state of a PodDisruptionBudget, written by the disruption controller
/// (and by evictions, which spend `disruptionsAllowed`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.policy.v1.PodDisruptionBudgetStatus")]
pub struct PodDisruptionBudgetStatus {
    /// The generation this status was computed for.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// Pods whose eviction was granted but that the controller has not yet seen go,
    /// with the time of the eviction; an entry older than two minutes is dropped.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub disrupted_pods: BTreeMap<String, Time>,
    /// How many more pods may be disrupted now.
    #[schema(required)]
    pub disruptions_allowed: i32,
    /// How many selected pods are healthy (ready).
    #[schema(required)]
    pub current_healthy: i32,
    /// How many pods must stay healthy.
    #[schema(required)]
    pub desired_healthy: i32,
    /// How many pods the budget counts: the selected pods, or the scale of their
    /// controllers when the budget is a percentage or `maxUnavailable`.
    #[schema(required)]
    pub expected_pods: i32,
    /// `DisruptionAllowed`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type", map_keys("type"))]
    pub conditions: Vec<Condition>,
}

/// A condition of an object (`metav1.Condition`), as newer kinds write them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.Condition")]
pub struct Condition {
    /// The condition's type, in CamelCase.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// The generation the condition was set for.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// When the status last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required)]
    pub last_transition_time: Option<Time>,
    /// Why, in one CamelCase word.
    #[schema(required)]
    pub reason: String,
    /// Why, for people (may be empty).
    #[schema(required)]
    pub message: String,
}

/// The condition type of a budget that says whether evictions are allowed now.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
/// Reason: enough pods are healthy for at least one disruption.
pub const SUFFICIENT_PODS: &str = "SufficientPods";
/// Reason: too few pods are healthy for any disruption.
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
/// Reason: the controller could not compute the status (the message says why).
pub const SYNC_FAILED: &str = "SyncFailed";
/// The pod condition an eviction (or another disruption) sets before the deletion.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// The `StatusCause` reason of an eviction refused by a budget.
pub const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";

impl PodDisruptionBudget {
    /// The condition of this type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the budget covers a pod with these labels: a null selector covers none,
    /// an empty one every pod of the namespace (as `policy/v1` reads it).
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.spec
            .selector
            .as_ref()
            .is_some_and(|s| s.matches(labels))
    }
}

/// Sets `cond` in `conditions` as apimachinery's `SetStatusCondition` does: a new
/// condition, or a change of status, takes `now` as its transition time (unless it
/// brings its own); otherwise the old transition time stays and reason, message and
/// observed generation are updated.
pub fn set_status_condition(conditions: &mut Vec<Condition>, mut cond: Condition, now: Time) {
    match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        None => {
            cond.last_transition_time.get_or_insert(now);
            conditions.push(cond);
        }
        Some(existing) => {
            if existing.status != cond.status {
                existing.status = cond.status;
                existing.last_transition_time = Some(cond.last_transition_time.unwrap_or(now));
            }
            existing.reason = cond.reason;
            existing.message = cond.message;
            existing.observed_generation = cond.observed_generation;
        }
    }
}
