//! Inter-pod affinity and topology spread: the scheduling constraints of a pod that are
//! about other pods (node affinity, about the node alone, sits in the parent module).

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::resources::{null_as_default, LabelSelector};
use crate::schema::Schema;

/// Pods this pod should run near (same topology domain).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodAffinity")]
pub struct PodAffinity {
    /// Terms that must hold for the pod to be scheduled onto a node (ANDed).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    /// Nodes satisfying these terms score higher, by weight.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// Pods this pod should not run near (same topology domain).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodAntiAffinity")]
pub struct PodAntiAffinity {
    /// Terms that must hold for the pod to be scheduled onto a node (ANDed).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    /// Nodes satisfying these terms score lower, by weight.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// A set of pods (selected by labels and namespaces) and the topology domain, given by a
/// node label key, within which this pod should (or should not) be co-located with them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodAffinityTerm")]
pub struct PodAffinityTerm {
    /// The pods the term is about; null matches no pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Namespaces the term applies to, with those the namespace selector picks; both
    /// empty means the pod's own namespace.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub namespaces: Vec<String>,
    /// The node label whose value defines a topology domain; required.
    #[schema(required)]
    pub topology_key: String,
    /// Namespaces the term applies to, by label; empty ({}) selects all namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Label keys of the incoming pod whose values are added to the selector as `In`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub match_label_keys: Vec<String>,
    /// Label keys of the incoming pod whose values are added to the selector as `NotIn`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub mismatch_label_keys: Vec<String>,
}

/// A pod affinity term with the weight it adds to a node's score, 1-100.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.WeightedPodAffinityTerm")]
pub struct WeightedPodAffinityTerm {
    /// Weight, 1-100.
    #[schema(required)]
    pub weight: i32,
    /// The term.
    #[schema(required)]
    pub pod_affinity_term: PodAffinityTerm,
}

string_enum! {
    /// What the scheduler does with a pod that would break a spread constraint.
    #[derive(Default)]
    pub enum UnsatisfiableConstraintAction {
        /// Keep the pod pending.
        #[default]
        DoNotSchedule = "DoNotSchedule",
        /// Schedule it anyway, preferring nodes that reduce the skew.
        ScheduleAnyway = "ScheduleAnyway",
    }
}

string_enum! {
    /// Whether nodes the pod's node affinity or taints exclude count for a spread
    /// constraint's skew.
    pub enum NodeInclusionPolicy {
        /// Only nodes the pod could go to count.
        Honor = "Honor",
        /// Every node counts.
        Ignore = "Ignore",
    }
}

/// How matching pods must be spread over a topology (zones, nodes, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.TopologySpreadConstraint")]
pub struct TopologySpreadConstraint {
    /// The largest allowed difference between the number of matching pods in any two
    /// eligible domains; at least 1.
    #[schema(required)]
    pub max_skew: i32,
    /// The node label whose value defines a domain.
    #[schema(required)]
    pub topology_key: String,
    /// DoNotSchedule or ScheduleAnyway.
    #[schema(required)]
    pub when_unsatisfiable: UnsatisfiableConstraintAction,
    /// The pods counted in each domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// The minimum number of eligible domains (DoNotSchedule only); below it, the global
    /// minimum is taken as 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_domains: Option<i32>,
    /// Honor (default) counts only nodes matching the pod's node affinity and selector;
    /// Ignore counts all nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_affinity_policy: Option<NodeInclusionPolicy>,
    /// Honor counts only nodes whose taints the pod tolerates; Ignore (default) counts
    /// all nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_taints_policy: Option<NodeInclusionPolicy>,
    /// Label keys of the incoming pod whose values are added to the selector.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub match_label_keys: Vec<String>,
}
