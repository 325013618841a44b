//! Kubernetes' NodeResourcesFit score with the LeastAllocated strategy (its default):
//! prefers nodes with the most room left after placing the pod. For CPU and memory
//! (weight 1 each) the score is `(allocatable - requested) * 100 / allocatable`, where
//! requested includes the pod and counts absent requests as Kubernetes' defaults
//! (100m, 200Mi); the node's score is the average.

use crate::scheduler::framework::{PodInfo, ScorePlugin, MAX_NODE_SCORE};
use crate::scheduler::snapshot::NodeInfo;

/// `(capacity - requested) * MAX / capacity`, 0 when over capacity or no capacity.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// Scores nodes by free CPU and memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastAllocated;

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> i64 {
        let cpu = least_requested_score(
            node.non_zero_cpu_milli + pod.usage.non_zero_cpu_milli,
            node.allocatable_cpu_milli,
        );
        let memory = least_requested_score(
            node.non_zero_memory + pod.usage.non_zero_memory,
            node.allocatable_memory,
        );
        (cpu + memory) / 2
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
    fn scores() {
        // (name, node cpu, node memory, bound requests, pod requests, want)
        let cases: Vec<(&str, &str, &str, Vec<(&str, &str)>, (&str, &str), i64)> = vec![
            ("empty node, tiny pod", "4", "8Gi", vec![], ("1m", "1"), 99),
            (
                "half used after placing",
                "4",
                "8Gi",
                vec![("1", "2Gi")],
                ("1", "2Gi"),
                50,
            ),
            (
                "cpu full, memory free",
                "4",
                "8Gi",
                vec![("3", "")],
                ("1", "1"),
                97 / 2, // cpu scores 0
            ),
            (
                "over capacity scores zero",
                "1",
                "1Gi",
                vec![("1", "1Gi")],
                ("1", "1Gi"),
                0,
            ),
            (
                "absent requests count as 100m and 200Mi",
                "1",
                "1000Mi",
                vec![],
                ("", ""),
                (90 + 80) / 2,
            ),
        ];
        for (name, cpu, mem, bound, want, score) in cases {
            let mut info = NodeInfo::new(Arc::new(node("n", cpu, mem, 110)));
            for (c, m) in bound {
                info.add(&PodUsage::of(&pod("b", &[(c, m)])));
            }
            let p = pod("p", &[want]);
            assert_eq!(
                LeastAllocated.score(&PodInfo::new(&p), &info),
                score,
                "{name}"
            );
        }
        assert_eq!(least_requested_score(1, 0), 0, "no capacity");
    }
}
