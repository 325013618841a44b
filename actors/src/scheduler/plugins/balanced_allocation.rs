//! Kubernetes' NodeResourcesBalancedAllocation score: prefers nodes whose CPU and memory
//! would be used in equal proportion after placing the pod. With the two fractions
//! (requested / allocatable, capped at 1; absent requests count as Kubernetes' defaults)
//! the score is `(1 - standard deviation) * 100`; for two resources the deviation is half
//! their difference.

use crate::scheduler::framework::{PodInfo, ScorePlugin, MAX_NODE_SCORE};
use crate::scheduler::snapshot::NodeInfo;

fn fraction(requested: i64, capacity: i64) -> f64 {
    if capacity <= 0 {
        return 1.0;
    }
    (requested as f64 / capacity as f64).min(1.0)
}

/// Scores nodes by how evenly CPU and memory would be used.
#[derive(Debug, Clone, Copy, Default)]
pub struct BalancedAllocation;

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> i64 {
        let cpu = fraction(
            node.non_zero_cpu_milli + pod.usage.non_zero_cpu_milli,
            node.allocatable_cpu_milli,
        );
        let memory = fraction(
            node.non_zero_memory + pod.usage.non_zero_memory,
            node.allocatable_memory,
        );
        let std_dev = (cpu - memory).abs() / 2.0;
        // In 0..=1, so the product is within 0..=100 and the cast exact enough.
        ((1.0 - std_dev) * MAX_NODE_SCORE as f64) as i64
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
        // (name, bound requests, pod requests, want) on a 4 CPU / 4Gi node.
        let cases: Vec<(&str, Vec<(&str, &str)>, (&str, &str), i64)> = vec![
            ("perfectly balanced", vec![], ("1", "1Gi"), 100),
            (
                "balanced with bound pods",
                vec![("1", "1Gi")],
                ("1", "1Gi"),
                100,
            ),
            ("cpu heavy", vec![], ("4", "1"), 50),
            ("one quarter apart", vec![("1", "1")], ("1", "1Gi"), 87),
            (
                "over capacity is capped",
                vec![("4", "")],
                ("4", "4Gi"),
                100,
            ),
        ];
        for (name, bound, want, score) in cases {
            let mut info = NodeInfo::new(Arc::new(node("n", "4", "4Gi", 110)));
            for (c, m) in bound {
                info.add(&PodUsage::of(&pod("b", &[(c, m)])));
            }
            let p = pod("p", &[want]);
            assert_eq!(
                BalancedAllocation.score(&PodInfo::new(&p), &info),
                score,
                "{name}"
            );
        }
    }
}
