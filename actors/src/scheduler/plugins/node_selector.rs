//! The `spec.nodeSelector` half of Kubernetes' NodeAffinity filter: every key/value of
//! the selector must be a label of the node. The reason is NodeAffinity's, which covers
//! both halves.

use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::snapshot::NodeInfo;

/// Kubernetes' reason for a node that fails the pod's selector or required affinity.
pub const REASON_AFFINITY_SELECTOR: &str = "node(s) didn't match Pod's node affinity/selector";

/// Rejects nodes that lack a label of the pod's `nodeSelector`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeSelector;

impl FilterPlugin for NodeSelector {
    fn name(&self) -> &'static str {
        "NodeSelector"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let selector = &pod.pod.spec.node_selector;
        if selector.is_empty() {
            return Ok(());
        }
        let matches = node.labels().is_some_and(|labels| {
            selector
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
        });
        if matches {
            Ok(())
        } else {
            Err(Unfit::unresolvable(REASON_AFFINITY_SELECTOR))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scheduler::snapshot::tests::{node, pod};

    // Case tables are tuples on purpose: one line per case.
    #[allow(clippy::type_complexity)]
    #[test]
    fn selector_matching() {
        let cases: &[(&str, &[(&str, &str)], &[(&str, &str)], bool)] = &[
            ("empty selector matches any node", &[], &[], true),
            (
                "label present with value",
                &[("disk", "ssd")],
                &[("disk", "ssd"), ("zone", "a")],
                true,
            ),
            (
                "label with another value",
                &[("disk", "ssd")],
                &[("disk", "hdd")],
                false,
            ),
            ("label missing", &[("disk", "ssd")], &[("zone", "a")], false),
            (
                "all pairs must match",
                &[("disk", "ssd"), ("zone", "a")],
                &[("disk", "ssd"), ("zone", "b")],
                false,
            ),
        ];
        for &(name, selector, labels, want) in cases {
            let mut n = node("n", "1", "1Gi", 10);
            n.metadata.labels = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut p = pod("p", &[("", "")]);
            p.spec.node_selector = selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let got = NodeSelector.filter(&PodInfo::new(&p), &NodeInfo::new(Arc::new(n)));
            match got {
                Ok(()) => assert!(want, "{name}"),
                Err(u) => {
                    assert!(!want, "{name}");
                    assert_eq!(
                        u.reasons().collect::<Vec<_>>(),
                        [REASON_AFFINITY_SELECTOR],
                        "{name}"
                    );
                }
            }
        }
    }
}
