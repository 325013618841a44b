//! The required-node-affinity half of Kubernetes' NodeAffinity filter
//! (`requiredDuringSchedulingIgnoredDuringExecution`): the node must match at least one
//! term; a term matches when all its expressions on labels and fields do. An empty term
//! matches no node, as in Kubernetes. Operators: `In`, `NotIn` (also true when the label
//! is absent), `Exists`, `DoesNotExist`, `Gt`, `Lt` (label and the single value compared
//! as integers; anything unparsable does not match). The only field is `metadata.name`,
//! with `In` and `NotIn`.

use std::collections::BTreeMap;

use rudder_protocol::resources::{NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm};

use super::node_selector::REASON_AFFINITY_SELECTOR;
use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::snapshot::NodeInfo;

/// Whether a node's labels meet one requirement.
pub fn label_requirement_matches(
    r: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let value = labels.get(&r.key);
    match r.operator {
        NodeSelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
        NodeSelectorOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
            let (Some(v), [bound]) = (value, r.values.as_slice()) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(bound)) if r.operator == NodeSelectorOperator::Gt => v > bound,
                (Ok(v), Ok(bound)) => v < bound,
                _ => false,
            }
        }
    }
}

fn field_requirement_matches(r: &NodeSelectorRequirement, node_name: &str) -> bool {
    if r.key != "metadata.name" {
        return false;
    }
    let listed = r.values.iter().any(|v| v == node_name);
    match r.operator {
        NodeSelectorOperator::In => listed,
        NodeSelectorOperator::NotIn => !listed,
        _ => false,
    }
}

/// Whether a node matches one term.
pub fn term_matches(
    term: &NodeSelectorTerm,
    node_name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions
        .iter()
        .all(|r| label_requirement_matches(r, labels))
        && term
            .match_fields
            .iter()
            .all(|r| field_requirement_matches(r, node_name))
}

/// Rejects nodes that match none of the pod's required node affinity terms.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeAffinity;

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(required) = pod
            .pod
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
        else {
            return Ok(());
        };
        let empty = BTreeMap::new();
        let labels = node.labels().unwrap_or(&empty);
        if required
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node.name(), labels))
        {
            Ok(())
        } else {
            Err(Unfit::unresolvable(REASON_AFFINITY_SELECTOR))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rudder_protocol::resources::{Affinity, NodeAffinity as Spec, NodeSelector as Required};

    use super::*;
    use crate::scheduler::snapshot::tests::{node, pod};

    fn req(key: &str, operator: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn term(
        exprs: Vec<NodeSelectorRequirement>,
        fields: Vec<NodeSelectorRequirement>,
    ) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: exprs,
            match_fields: fields,
        }
    }

    #[test]
    fn required_terms() {
        use NodeSelectorOperator::*;
        // The node: name "n1", labels zone=a, cores=8, disk=ssd.
        let cases: Vec<(&str, Vec<NodeSelectorTerm>, bool)> = vec![
            (
                "In with the value",
                vec![term(vec![req("zone", In, &["a", "b"])], vec![])],
                true,
            ),
            (
                "In without the value",
                vec![term(vec![req("zone", In, &["b"])], vec![])],
                false,
            ),
            (
                "In on a missing label",
                vec![term(vec![req("rack", In, &["1"])], vec![])],
                false,
            ),
            (
                "NotIn with another value",
                vec![term(vec![req("zone", NotIn, &["b"])], vec![])],
                true,
            ),
            (
                "NotIn with the value",
                vec![term(vec![req("zone", NotIn, &["a"])], vec![])],
                false,
            ),
            (
                "NotIn on a missing label",
                vec![term(vec![req("rack", NotIn, &["1"])], vec![])],
                true,
            ),
            (
                "Exists",
                vec![term(vec![req("disk", Exists, &[])], vec![])],
                true,
            ),
            (
                "Exists on a missing label",
                vec![term(vec![req("gpu", Exists, &[])], vec![])],
                false,
            ),
            (
                "DoesNotExist",
                vec![term(vec![req("gpu", DoesNotExist, &[])], vec![])],
                true,
            ),
            (
                "DoesNotExist on a present label",
                vec![term(vec![req("disk", DoesNotExist, &[])], vec![])],
                false,
            ),
            (
                "Gt true",
                vec![term(vec![req("cores", Gt, &["4"])], vec![])],
                true,
            ),
            (
                "Gt equal is false",
                vec![term(vec![req("cores", Gt, &["8"])], vec![])],
                false,
            ),
            (
                "Lt true",
                vec![term(vec![req("cores", Lt, &["16"])], vec![])],
                true,
            ),
            (
                "Lt false",
                vec![term(vec![req("cores", Lt, &["2"])], vec![])],
                false,
            ),
            (
                "Gt on a non-integer label",
                vec![term(vec![req("zone", Gt, &["1"])], vec![])],
                false,
            ),
            (
                "Gt with two values is invalid",
                vec![term(vec![req("cores", Gt, &["1", "2"])], vec![])],
                false,
            ),
            (
                "expressions in a term are ANDed",
                vec![term(
                    vec![req("zone", In, &["a"]), req("disk", In, &["hdd"])],
                    vec![],
                )],
                false,
            ),
            (
                "terms are ORed",
                vec![
                    term(vec![req("disk", In, &["hdd"])], vec![]),
                    term(vec![req("zone", In, &["a"])], vec![]),
                ],
                true,
            ),
            (
                "an empty term matches nothing",
                vec![term(vec![], vec![])],
                false,
            ),
            ("no terms match nothing", vec![], false),
            (
                "field metadata.name In",
                vec![term(vec![], vec![req("metadata.name", In, &["n1"])])],
                true,
            ),
            (
                "field metadata.name NotIn",
                vec![term(vec![], vec![req("metadata.name", NotIn, &["n1"])])],
                false,
            ),
            (
                "unknown field",
                vec![term(vec![], vec![req("spec.x", In, &["n1"])])],
                false,
            ),
            (
                "fields and expressions are ANDed",
                vec![term(
                    vec![req("zone", In, &["a"])],
                    vec![req("metadata.name", In, &["n2"])],
                )],
                false,
            ),
        ];
        let mut n = node("n1", "1", "1Gi", 10);
        for (k, v) in [("zone", "a"), ("cores", "8"), ("disk", "ssd")] {
            n.metadata.labels.insert(k.into(), v.into());
        }
        let info = NodeInfo::new(Arc::new(n));
        for (name, terms, want) in cases {
            let mut p = pod("p", &[("", "")]);
            p.spec.affinity = Some(Affinity {
                node_affinity: Some(Spec {
                    required_during_scheduling_ignored_during_execution: Some(Required {
                        node_selector_terms: terms,
                    }),
                    preferred_during_scheduling_ignored_during_execution: vec![],
                }),
                ..Default::default()
            });
            let got = NodeAffinity.filter(&PodInfo::new(&p), &info);
            assert_eq!(got.is_ok(), want, "{name}");
            if let Err(u) = got {
                assert_eq!(
                    u.reasons().collect::<Vec<_>>(),
                    [REASON_AFFINITY_SELECTOR],
                    "{name}"
                );
            }
        }
        let p = pod("p", &[("", "")]);
        assert!(
            NodeAffinity.filter(&PodInfo::new(&p), &info).is_ok(),
            "no affinity"
        );
    }
}
