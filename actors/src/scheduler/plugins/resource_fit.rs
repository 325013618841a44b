//! Kubernetes' NodeResourcesFit filter: the pod's requests must fit into the node's
//! allocatable resources minus what the pods already bound there request (bound but not
//! yet running included). Every shortfall is reported, in Kubernetes' order: pods, CPU,
//! memory. A pod requesting no CPU and no memory only needs a free pod slot.

use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::snapshot::NodeInfo;

/// Kubernetes' reason for a node at its pod limit.
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";
/// Kubernetes' reason for a node without enough CPU.
pub const REASON_CPU: &str = "Insufficient cpu";
/// Kubernetes' reason for a node without enough memory.
pub const REASON_MEMORY: &str = "Insufficient memory";

/// Rejects nodes without room for the pod's requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let mut reasons: Option<Unfit> = None;
        let mut add = |r: &'static str| {
            reasons = Some(match reasons.take() {
                None => Unfit::new(r),
                Some(u) => u.and(r),
            });
        };
        if node.pod_count + 1 > node.allocatable_pods {
            add(REASON_TOO_MANY_PODS);
        }
        let u = &pod.usage;
        if u.cpu_milli > 0 && u.cpu_milli > node.allocatable_cpu_milli - node.requested_cpu_milli {
            add(REASON_CPU);
        }
        if u.memory > 0 && u.memory > node.allocatable_memory - node.requested_memory {
            add(REASON_MEMORY);
        }
        match reasons {
            None => Ok(()),
            Some(u) => Err(u),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scheduler::snapshot::tests::{node, pod};
    use crate::scheduler::snapshot::PodUsage;

    // Case tables are tuples on purpose: one line per case.
    #[allow(clippy::type_complexity)]
    #[test]
    fn fit() {
        // Node: 2 CPU, 4Gi, 3 pods; already bound: the pods in `bound`.
        let cases: Vec<(&str, Vec<(&str, &str)>, (&str, &str), Vec<&str>)> = vec![
            ("empty node", vec![], ("1", "1Gi"), vec![]),
            (
                "exactly fills the node",
                vec![("1", "2Gi")],
                ("1", "2Gi"),
                vec![],
            ),
            (
                "cpu short",
                vec![("1500m", "")],
                ("600m", "1Gi"),
                vec![REASON_CPU],
            ),
            (
                "memory short",
                vec![("", "3Gi")],
                ("100m", "1025Mi"),
                vec![REASON_MEMORY],
            ),
            (
                "both short, cpu first",
                vec![("2", "4Gi")],
                ("1m", "1"),
                vec![REASON_CPU, REASON_MEMORY],
            ),
            (
                "pod slots full",
                vec![("", ""), ("", ""), ("", "")],
                ("", ""),
                vec![REASON_TOO_MANY_PODS],
            ),
            (
                "all three, in Kubernetes' order",
                vec![("1", "2Gi"), ("1", "2Gi"), ("", "")],
                ("1", "1Gi"),
                vec![REASON_TOO_MANY_PODS, REASON_CPU, REASON_MEMORY],
            ),
            (
                "zero-request pod on a full node fits",
                vec![("2", "4Gi")],
                ("", ""),
                vec![],
            ),
            (
                "request larger than the node",
                vec![],
                ("3", ""),
                vec![REASON_CPU],
            ),
        ];
        for (name, bound, want, reasons) in cases {
            let mut info = NodeInfo::new(Arc::new(node("n", "2", "4Gi", 3)));
            for (cpu, mem) in bound {
                info.add(&PodUsage::of(&pod("b", &[(cpu, mem)])));
            }
            let p = pod("p", &[want]);
            let got = NodeResourcesFit.filter(&PodInfo::new(&p), &info);
            let got: Vec<String> = match got {
                Ok(()) => vec![],
                Err(u) => u.reasons().map(str::to_owned).collect(),
            };
            assert_eq!(got, reasons, "{name}");
        }
    }
}
