//! `HorizontalPodAutoscaler` as `autoscaling/v1` shows it: one CPU utilisation target
//! and the measured CPU, nothing else. Objects are stored as `autoscaling/v2`
//! ([`super::HorizontalPodAutoscaler`]); the API server converts to and from this shape
//! for clients that ask for v1, as Kubernetes does, keeping what v1 has no field for
//! (other metrics, their measurements, conditions, behavior) in the
//! `autoscaling.alpha.kubernetes.io/` annotations.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, Time};

kind! {
    /// Scales a workload from the measured CPU of its pods (the v1 view of an autoscaler).
    #[schema(name = "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler")]
    pub struct HorizontalPodAutoscalerV1: "autoscaling/v1", "HorizontalPodAutoscaler",
        "horizontalpodautoscalers", namespaced = true {
        /// The desired behaviour.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: HorizontalPodAutoscalerSpecV1,
        /// The most recently observed status; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: HorizontalPodAutoscalerStatusV1,
    }
}

/// The desired behaviour of an autoscaler, in v1.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec")]
pub struct HorizontalPodAutoscalerSpecV1 {
    /// The workload it scales (through its `scale` subresource).
    #[schema(required)]
    pub scale_target_ref: CrossVersionObjectReferenceV1,
    /// The fewest replicas (1 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// The most replicas.
    #[schema(required)]
    pub max_replicas: i32,
    /// The average CPU use of the pods, as a percentage of their requests, to aim at
    /// (80 when no metric at all is given).
    #[serde(rename = "targetCPUUtilizationPercentage")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_cpu_utilization_percentage: Option<i32>,
}

/// The object a reference names, in any version (v1's copy of the type).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v1.CrossVersionObjectReference")]
pub struct CrossVersionObjectReferenceV1 {
    /// Its kind, e.g. `Deployment`.
    #[schema(required)]
    pub kind: String,
    /// Its name.
    #[schema(required)]
    pub name: String,
    /// Its API version, e.g. `apps/v1`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
}

/// The observed state of an autoscaler, in v1.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerStatus")]
pub struct HorizontalPodAutoscalerStatusV1 {
    /// The generation this status was computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the replica count was last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// The replicas the target had when last looked at.
    #[schema(required)]
    pub current_replicas: i32,
    /// The replicas it asked for.
    #[schema(required)]
    pub desired_replicas: i32,
    /// The measured average CPU use of the pods, as a percentage of their requests.
    #[serde(rename = "currentCPUUtilizationPercentage")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_cpu_utilization_percentage: Option<i32>,
}
