//! Priority classes (`scheduling.k8s.io/v1 PriorityClass`, cluster-scoped): a name for a
//! pod priority. Pods name one in `spec.priorityClassName`; the two `system-` classes
//! exist in every cluster.

use super::is_default;

string_enum! {
    /// Whether pods of a priority class may preempt lower-priority pods.
    pub enum PreemptionPolicy {
        /// They may (the default).
        PreemptLowerPriority = "PreemptLowerPriority",
        /// They never preempt.
        Never = "Never",
    }
}

kind! {
    /// A mapping from a priority class name to the integer priority of the pods that
    /// name it. The higher the value, the higher the priority.
    #[schema(name = "io.k8s.api.scheduling.v1.PriorityClass")]
    pub struct PriorityClass: "scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced = false {
        /// The priority of the pods that name this class: user classes up to
        /// 1000000000, larger values are reserved for the system classes.
        #[schema(required)]
        pub value: i32,
        /// Whether pods that name no class get this one's value. At most one class
        /// should be the global default.
        #[serde(skip_serializing_if = "is_default")]
        pub global_default: bool,
        /// When this class should be used, in a sentence or two.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub description: String,
        /// Whether pods of this class may preempt lower-priority pods:
        /// `PreemptLowerPriority` (the default) or `Never`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub preemption_policy: Option<PreemptionPolicy>,
    }
}

/// The highest priority a user-defined class may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;

/// The priority of `system-cluster-critical`.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2 * HIGHEST_USER_DEFINABLE_PRIORITY;

/// The prefix reserved for the system classes.
pub const SYSTEM_PRIORITY_CLASS_PREFIX: &str = "system-";

/// The system classes every cluster has: `(name, value, description)`.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i32, &str); 2] = [
    (
        "system-node-critical",
        SYSTEM_CRITICAL_PRIORITY + 1000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        SYSTEM_CRITICAL_PRIORITY,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];
