//! The resource metrics API (`metrics.k8s.io/v1beta1`): [`NodeMetrics`] and
//! [`PodMetrics`], as metrics-server serves them and `kubectl top` and the
//! HorizontalPodAutoscaler read them.
//!
//! They are computed, never stored: each kubelet measures its node and pods
//! ([`crate::messages::kubelet::MetricsSnapshot`]), and [`NodeMetrics::from_usage`] /
//! [`PodMetrics::from_usage`] turn one measurement into the API's object. CPU is written
//! in nanocores (`"1000123n"`) and memory in KiB (`"2048Ki"`), as metrics-server does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::messages::kubelet::{NodeUsage, PodUsage, Usage};

use super::{ObjectMeta, Quantity, Time};

/// The API group-version of the resource metrics API.
pub const METRICS_API_VERSION: &str = "metrics.k8s.io/v1beta1";

/// A node's measured usage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeMetrics {
    /// `NodeMetrics`.
    pub kind: String,
    /// `metrics.k8s.io/v1beta1`.
    pub api_version: String,
    /// The node's name and labels.
    pub metadata: ObjectMeta,
    /// When the measurement window ended.
    pub timestamp: Option<Time>,
    /// The window's length, as a Go duration (`"15s"`).
    pub window: String,
    /// `cpu` and `memory`.
    pub usage: BTreeMap<String, Quantity>,
}

/// A pod's measured usage, per container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodMetrics {
    /// `PodMetrics`.
    pub kind: String,
    /// `metrics.k8s.io/v1beta1`.
    pub api_version: String,
    /// The pod's namespace, name and labels.
    pub metadata: ObjectMeta,
    /// When the measurement window ended.
    pub timestamp: Option<Time>,
    /// The window's length, as a Go duration (`"15s"`).
    pub window: String,
    /// Per container.
    pub containers: Vec<ContainerMetrics>,
}

/// One container's measured usage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerMetrics {
    /// The container's name.
    pub name: String,
    /// `cpu` and `memory`.
    pub usage: BTreeMap<String, Quantity>,
}

/// `cpu` in nanocores and `memory` in KiB, as metrics-server writes them.
pub fn usage_quantities(usage: &Usage) -> BTreeMap<String, Quantity> {
    let q = |s: String| Quantity::parse(&s).unwrap_or_default();
    BTreeMap::from([
        ("cpu".to_owned(), q(format!("{}n", usage.cpu_nanocores))),
        (
            "memory".to_owned(),
            q(format!("{}Ki", usage.memory_bytes / 1024)),
        ),
    ])
}

/// A window of `ms` milliseconds as a Go duration string (`"15s"`, `"2.5s"`).
pub fn go_duration(ms: u64) -> String {
    let (secs, rest) = (ms / 1000, ms % 1000);
    if rest == 0 {
        format!("{secs}s")
    } else {
        let frac = format!("{rest:03}");
        format!("{secs}.{}s", frac.trim_end_matches('0'))
    }
}

impl NodeMetrics {
    /// The object for `node` (with its labels) from its kubelet's measurement.
    pub fn from_usage(node: &str, labels: BTreeMap<String, String>, u: &NodeUsage) -> Self {
        NodeMetrics {
            kind: "NodeMetrics".into(),
            api_version: METRICS_API_VERSION.into(),
            metadata: ObjectMeta {
                name: node.to_owned(),
                labels,
                creation_timestamp: Some(Time::now()),
                ..Default::default()
            },
            timestamp: Some(Time::from_unix(u.timestamp_ms.div_euclid(1000))),
            window: go_duration(u.window_ms),
            usage: usage_quantities(&u.usage),
        }
    }
}

impl PodMetrics {
    /// The object for a pod (with its labels) from its kubelet's measurement.
    pub fn from_usage(labels: BTreeMap<String, String>, u: &PodUsage) -> Self {
        PodMetrics {
            kind: "PodMetrics".into(),
            api_version: METRICS_API_VERSION.into(),
            metadata: ObjectMeta {
                name: u.name.clone(),
                namespace: u.namespace.clone(),
                labels,
                creation_timestamp: Some(Time::now()),
                ..Default::default()
            },
            timestamp: Some(Time::from_unix(u.timestamp_ms.div_euclid(1000))),
            window: go_duration(u.window_ms),
            containers: u
                .containers
                .iter()
                .map(|c| ContainerMetrics {
                    name: c.name.clone(),
                    usage: usage_quantities(&c.usage),
                })
                .collect(),
        }
    }

    /// The pod's total usage (the sum over its containers).
    pub fn total(u: &PodUsage) -> Usage {
        u.containers.iter().fold(Usage::default(), |acc, c| Usage {
            cpu_nanocores: acc.cpu_nanocores + c.usage.cpu_nanocores,
            memory_bytes: acc.memory_bytes + c.usage.memory_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::kubelet::ContainerUsage;

    #[test]
    fn go_durations() {
        for (ms, want) in [
            (15_000, "15s"),
            (2_500, "2.5s"),
            (1_005, "1.005s"),
            (0, "0s"),
        ] {
            assert_eq!(go_duration(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn pod_metrics_as_metrics_server_writes_them() {
        let u = PodUsage {
            namespace: "default".into(),
            name: "web".into(),
            timestamp_ms: 1_700_000_000_500,
            window_ms: 15_000,
            containers: vec![ContainerUsage {
                name: "app".into(),
                usage: Usage {
                    cpu_nanocores: 1_000_123,
                    memory_bytes: 2 * 1024 * 1024 + 100,
                },
            }],
        };
        let m = PodMetrics::from_usage(BTreeMap::new(), &u);
        let v = serde_json::to_value(&m).expect("serializes");
        assert_eq!(v["kind"], "PodMetrics");
        assert_eq!(v["apiVersion"], "metrics.k8s.io/v1beta1");
        assert_eq!(v["window"], "15s");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(v["containers"][0]["usage"]["cpu"], "1000123n");
        // 2048Ki as metrics-server writes it, in the quantity's canonical form.
        assert_eq!(v["containers"][0]["usage"]["memory"], "2Mi");
        assert_eq!(PodMetrics::total(&u).cpu_nanocores, 1_000_123);
    }
}
