//! Spreads the pods of one controller across nodes, after Kubernetes' former
//! SelectorSpread score (today's default topology spreading does the same per node): the
//! raw score is how many pods with the same controller owner reference are bound to the
//! node; normalised over the scored nodes as `100 * (max - count) / max`, so the emptiest
//! nodes get 100. Pods without a controller score 100 everywhere. Weight 2, as
//! Kubernetes weighs its spreading. Kubernetes applies its default spreading only to pods
//! without topology spread constraints of their own, so a pod with constraints scores
//! 100 everywhere here too ([`super::topology_spread`] spreads it).

use crate::scheduler::framework::{PodInfo, ScorePlugin, MAX_NODE_SCORE};
use crate::scheduler::snapshot::NodeInfo;

/// Scores nodes by how few pods of the same controller they hold.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnerSpread;

impl ScorePlugin for OwnerSpread {
    fn name(&self) -> &'static str {
        "OwnerSpread"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> i64 {
        if !pod.pod.spec.topology_spread_constraints.is_empty() {
            return 0;
        }
        pod.usage
            .owner
            .as_deref()
            .map_or(0, |owner| i64::from(node.owner_count(owner)))
    }

    fn normalize(&self, _pod: &PodInfo<'_>, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        let max = scores.iter().copied().max().unwrap_or(0);
        for s in scores.iter_mut() {
            *s = if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scheduler::snapshot::tests::{node, owned, pod};
    use crate::scheduler::snapshot::PodUsage;

    // Case tables are tuples on purpose: one line per case.
    #[allow(clippy::type_complexity)]
    #[test]
    fn spreading() {
        // (name, per node: owners of the bound pods, the pod's owner, want normalised)
        let cases: Vec<(&str, Vec<Vec<&str>>, Option<&str>, Vec<i64>)> = vec![
            (
                "no controller",
                vec![vec!["a"], vec![]],
                None,
                vec![100, 100],
            ),
            (
                "no siblings anywhere",
                vec![vec!["b"], vec![]],
                Some("a"),
                vec![100, 100],
            ),
            (
                "emptier node wins",
                vec![vec!["a", "a"], vec!["a"], vec![]],
                Some("a"),
                vec![0, 50, 100],
            ),
            (
                "other owners do not count",
                vec![vec!["a"], vec!["b", "b", "b"]],
                Some("a"),
                vec![0, 100],
            ),
            (
                "equal counts tie",
                vec![vec!["a"], vec!["a"]],
                Some("a"),
                vec![0, 0],
            ),
        ];
        for (name, nodes, owner, want) in cases {
            let p = match owner {
                Some(o) => owned(pod("p", &[("", "")]), o),
                None => pod("p", &[("", "")]),
            };
            let pi = PodInfo::new(&p);
            let mut scores: Vec<i64> = nodes
                .iter()
                .map(|owners| {
                    let mut info = NodeInfo::new(Arc::new(node("n", "1", "1Gi", 110)));
                    for o in owners {
                        info.add(&PodUsage::of(&owned(pod("b", &[]), o)));
                    }
                    OwnerSpread.score(&pi, &info)
                })
                .collect();
            OwnerSpread.normalize(&pi, &[], &mut scores);
            assert_eq!(scores, want, "{name}");
        }
    }
}
