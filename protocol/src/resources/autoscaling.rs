//! `HorizontalPodAutoscaler` (`autoscaling/v2`): keeps the replica count of a scalable
//! workload (Deployment, ReplicaSet, StatefulSet) between `minReplicas` and
//! `maxReplicas` so that the measured CPU or memory per pod meets a target, with
//! `behavior` (stabilization windows and rate policies) shaping how fast it moves. The
//! HPA controller writes its status (`currentMetrics`, `desiredReplicas`, conditions).
//!
//! Metric and policy types are strings, checked by the API server's validation with
//! Kubernetes' messages (`Resource`, `ContainerResource`, `Pods`, `Object`, `External`;
//! `Utilization`, `Value`, `AverageValue`; `Pods`, `Percent`; `Max`, `Min`,
//! `Disabled`). Rudder measures resources only: `Pods`, `Object` and `External` metrics
//! are kept as written (raw JSON) and reported as unavailable.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, ConditionStatus, Quantity, RawJson, Time};

kind! {
    /// Scales a workload from the measured use of its pods.
    #[schema(name = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler")]
    pub struct HorizontalPodAutoscaler: "autoscaling/v2", "HorizontalPodAutoscaler",
        "horizontalpodautoscalers", namespaced = true {
        /// The desired behaviour.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: HorizontalPodAutoscalerSpec,
        /// The most recently observed status; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: HorizontalPodAutoscalerStatus,
    }
}

/// The desired behaviour of an autoscaler.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec")]
pub struct HorizontalPodAutoscalerSpec {
    /// The workload it scales (through its `scale` subresource).
    #[schema(required)]
    pub scale_target_ref: CrossVersionObjectReference,
    /// The fewest replicas (1 by default; 0 only with object or external metrics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// The most replicas.
    #[schema(required)]
    pub max_replicas: i32,
    /// What to measure and the targets; the largest replica count any asks for wins.
    /// Default: CPU at 80% of requests.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub metrics: Vec<MetricSpec>,
    /// How fast to scale up and down (Kubernetes' defaults when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

/// The object a reference names, in any version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.CrossVersionObjectReference")]
pub struct CrossVersionObjectReference {
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

/// One metric and its target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.MetricSpec")]
pub struct MetricSpec {
    /// `Resource`, `ContainerResource`, `Pods`, `Object` or `External`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// A resource (cpu, memory) of the pods as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricSource>,
    /// A resource of one container of each pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_resource: Option<ContainerResourceMetricSource>,
    /// A custom metric of the pods (not measured by Rudder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<RawJson>,
    /// A custom metric of another object (not measured by Rudder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<RawJson>,
    /// A metric from outside the cluster (not measured by Rudder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<RawJson>,
}

/// A resource of the pods and its target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.ResourceMetricSource")]
pub struct ResourceMetricSource {
    /// `cpu` or `memory`.
    #[schema(required)]
    pub name: String,
    /// The target.
    #[schema(required)]
    pub target: MetricTarget,
}

/// A resource of one container of the pods and its target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.ContainerResourceMetricSource")]
pub struct ContainerResourceMetricSource {
    /// `cpu` or `memory`.
    #[schema(required)]
    pub name: String,
    /// The target.
    #[schema(required)]
    pub target: MetricTarget,
    /// The container.
    #[schema(required)]
    pub container: String,
}

/// A target value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.MetricTarget")]
pub struct MetricTarget {
    /// `Utilization` (percent of requests), `Value` or `AverageValue` (per pod).
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// The total value (`Value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
    /// The value per pod (`AverageValue`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// Percent of the pods' requests (`Utilization`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
}

/// How to scale up and down.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior")]
pub struct HorizontalPodAutoscalerBehavior {
    /// Rules for scaling up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<HPAScalingRules>,
    /// Rules for scaling down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<HPAScalingRules>,
}

/// The rules of one direction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.HPAScalingRules")]
pub struct HPAScalingRules {
    /// Past recommendations within this many seconds are considered (0 to 3600): the
    /// most conservative wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<i32>,
    /// `Max` (the policy allowing the largest change), `Min` or `Disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<String>,
    /// How much may change per period.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub policies: Vec<HPAScalingPolicy>,
}

/// One rate limit: `value` pods or percent per `periodSeconds`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.HPAScalingPolicy")]
pub struct HPAScalingPolicy {
    /// `Pods` or `Percent`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// How many pods, or which percentage of the replicas at the period's start.
    #[schema(required)]
    pub value: i32,
    /// The period, 1 to 1800 seconds.
    #[schema(required)]
    pub period_seconds: i32,
}

/// The observed state of an autoscaler.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus")]
pub struct HorizontalPodAutoscalerStatus {
    /// The generation this status was computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the replica count was last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// The replicas the target had when last looked at.
    #[serde(skip_serializing_if = "is_default")]
    pub current_replicas: i32,
    /// The replicas it asked for.
    #[schema(required)]
    pub desired_replicas: i32,
    /// The metrics as last measured.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub current_metrics: Vec<MetricStatus>,
    /// `AbleToScale`, `ScalingActive`, `ScalingLimited`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type", map_keys("type"))]
    pub conditions: Vec<HorizontalPodAutoscalerCondition>,
}

/// One metric's measured value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.MetricStatus")]
pub struct MetricStatus {
    /// As in the spec.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// For a `Resource` metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricStatus>,
    /// For a `ContainerResource` metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_resource: Option<ContainerResourceMetricStatus>,
}

/// A resource metric's measured value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.ResourceMetricStatus")]
pub struct ResourceMetricStatus {
    /// `cpu` or `memory`.
    #[schema(required)]
    pub name: String,
    /// The value.
    #[schema(required)]
    pub current: MetricValueStatus,
}

/// A container resource metric's measured value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.ContainerResourceMetricStatus")]
pub struct ContainerResourceMetricStatus {
    /// `cpu` or `memory`.
    #[schema(required)]
    pub name: String,
    /// The value.
    #[schema(required)]
    pub current: MetricValueStatus,
    /// The container.
    #[schema(required)]
    pub container: String,
}

/// A measured value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.MetricValueStatus")]
pub struct MetricValueStatus {
    /// The total value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
    /// The value per pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// Percent of the requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
}

/// A condition of an autoscaler.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerCondition")]
pub struct HorizontalPodAutoscalerCondition {
    /// `AbleToScale`, `ScalingActive` or `ScalingLimited`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// When the status last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one CamelCase word.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for people.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Condition: the target's scale can be read and written.
pub const HPA_ABLE_TO_SCALE: &str = "AbleToScale";
/// Condition: a replica count could be computed from the metrics.
pub const HPA_SCALING_ACTIVE: &str = "ScalingActive";
/// Condition: the count wanted was clamped by min/max or a rate policy.
pub const HPA_SCALING_LIMITED: &str = "ScalingLimited";

impl HPAScalingRules {
    /// Kubernetes' scale-up rules: no stabilization, the larger of 4 pods or 100% per
    /// 15 s.
    pub fn default_scale_up() -> Self {
        HPAScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some("Max".into()),
            policies: vec![
                HPAScalingPolicy {
                    type_: "Pods".into(),
                    value: 4,
                    period_seconds: 15,
                },
                HPAScalingPolicy {
                    type_: "Percent".into(),
                    value: 100,
                    period_seconds: 15,
                },
            ],
        }
    }

    /// Kubernetes' scale-down rules: a 300 s stabilization window, 100% per 15 s.
    pub fn default_scale_down() -> Self {
        HPAScalingRules {
            stabilization_window_seconds: Some(300),
            select_policy: Some("Max".into()),
            policies: vec![HPAScalingPolicy {
                type_: "Percent".into(),
                value: 100,
                period_seconds: 15,
            }],
        }
    }

    /// These rules with every unset field taken from `defaults` (Kubernetes'
    /// `GenerateHPAScaleUpRules` / `GenerateHPAScaleDownRules`).
    pub fn or_defaults(rules: Option<&HPAScalingRules>, defaults: HPAScalingRules) -> Self {
        let Some(r) = rules else { return defaults };
        HPAScalingRules {
            stabilization_window_seconds: r
                .stabilization_window_seconds
                .or(defaults.stabilization_window_seconds),
            select_policy: r.select_policy.clone().or(defaults.select_policy),
            policies: if r.policies.is_empty() {
                defaults.policies
            } else {
                r.policies.clone()
            },
        }
    }
}

impl HorizontalPodAutoscaler {
    /// The scale-up and scale-down rules in force: the spec's, completed with
    /// Kubernetes' defaults.
    pub fn rules(&self) -> (HPAScalingRules, HPAScalingRules) {
        let b = self.spec.behavior.as_ref();
        (
            HPAScalingRules::or_defaults(
                b.and_then(|b| b.scale_up.as_ref()),
                HPAScalingRules::default_scale_up(),
            ),
            HPAScalingRules::or_defaults(
                b.and_then(|b| b.scale_down.as_ref()),
                HPAScalingRules::default_scale_down(),
            ),
        )
    }

    /// The condition of this type, if present.
    pub fn condition(&self, type_: &str) -> Option<&HorizontalPodAutoscalerCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }
}
