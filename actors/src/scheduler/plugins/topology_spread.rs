//! Kubernetes' PodTopologySpread plugin, filter and score, for the pod's own
//! `topologySpreadConstraints` (Rudder's default spreading for pods without any is
//! [`super::spread`]).
//!
//! A constraint counts, per domain (a value of its topology key), the pods in the
//! incoming pod's namespace, not being deleted, that match its selector (the label
//! selector with `matchLabelKeys` merged from the incoming pod's labels; no selector
//! matches nothing). Only nodes carrying every constraint's topology key count, and of
//! those only the ones the constraint's inclusion policies admit: `nodeAffinityPolicy`
//! Honor (the default) admits nodes matching the pod's node selector and required node
//! affinity, `nodeTaintsPolicy` Honor (default Ignore) nodes whose taints it tolerates.
//!
//! **Filter** (`DoNotSchedule` constraints). PreFilter counts every domain once per
//! cycle. A node lacking a topology key fails with `node(s) didn't match pod topology
//! spread constraints (missing required label)` (preemption cannot help); otherwise
//! `count(domain) + (1 if the pod matches its own selector) - global minimum` must not
//! exceed `maxSkew`, where the global minimum is 0 while fewer domains than `minDomains`
//! (default 1) are eligible: else `node(s) didn't match pod topology spread constraints`.
//!
//! **Score** (`ScheduleAnyway` constraints, weight 2). Domains are those of the feasible
//! nodes carrying every key (the others score 0 and are left out of the normalisation).
//! A node scores, per constraint, `count * ln(domains + 2) + maxSkew - 1` (for
//! `kubernetes.io/hostname` the count is the node's own), rounded; scores are then
//! inverted so that the emptiest domains win: `100 * (max + min - s) / max`.

use std::collections::{BTreeMap, HashMap, HashSet};

use rudder_protocol::resources::{
    LabelSelector, NodeInclusionPolicy, Pod, UnsatisfiableConstraintAction,
};

use super::{
    node_affinity::NodeAffinity, node_selector::NodeSelector, taint_toleration::TaintToleration,
};
use crate::scheduler::framework::{
    with_label_keys, FilterPlugin, PodInfo, ScorePlugin, Unfit, MAX_NODE_SCORE,
};
use crate::scheduler::snapshot::{NodeInfo, PodRecord, Snapshot};

/// A node's domain would be too far above the least populated one.
pub const REASON_CONSTRAINTS: &str = "node(s) didn't match pod topology spread constraints";
/// The node lacks a constraint's topology key.
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
/// The label whose domains are single nodes.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// One constraint, compiled.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Option<LabelSelector>,
    min_domains: usize,
    honor_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn matches(&self, pod: &Pod) -> bool {
        self.selector
            .as_ref()
            .is_some_and(|s| s.matches(&pod.metadata.labels))
    }

    /// Whether `node` counts for this constraint (its inclusion policies).
    fn admits(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> bool {
        if self.honor_affinity
            && (NodeSelector.filter(pod, node).is_err() || NodeAffinity.filter(pod, node).is_err())
        {
            return false;
        }
        !(self.honor_taints && TaintToleration.filter(pod, node).is_err())
    }
}

fn constraints(pod: &Pod, action: UnsatisfiableConstraintAction) -> Vec<Constraint> {
    pod.spec
        .topology_spread_constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| {
            let selector = with_label_keys(
                c.label_selector.clone(),
                &pod.metadata.labels,
                &c.match_label_keys,
                &[],
            );
            Constraint {
                max_skew: i64::from(c.max_skew),
                topology_key: c.topology_key.clone(),
                selector,
                min_domains: usize::try_from(c.min_domains.unwrap_or(1)).unwrap_or(1),
                honor_affinity: c.node_affinity_policy != Some(NodeInclusionPolicy::Ignore),
                honor_taints: c.node_taints_policy == Some(NodeInclusionPolicy::Honor),
            }
        })
        .collect()
}

fn has_all_keys(labels: &BTreeMap<String, String>, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| labels.contains_key(&c.topology_key))
}

/// Whether `other` counts for `c` of a pod in namespace `ns`.
fn counts_for(c: &Constraint, other: &PodRecord, ns: &str) -> bool {
    other.pod.metadata.namespace == ns
        && other.pod.metadata.deletion_timestamp.is_none()
        && c.matches(&other.pod)
}

/// What the filter needs, computed once per cycle.
#[derive(Debug, Clone)]
struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per eligible domain.
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: the smallest count over its eligible domains.
    min: Vec<i64>,
}

impl FilterState {
    fn recompute_min(&mut self, i: usize) {
        self.min[i] = self.counts[i].values().copied().min().unwrap_or(i64::MAX);
    }

    fn update(&mut self, pod: &PodInfo<'_>, other: &PodRecord, node: &NodeInfo, delta: i64) {
        let Some(labels) = node.labels() else { return };
        if other.pod.metadata.namespace != pod.pod.metadata.namespace
            || !has_all_keys(labels, &self.constraints)
        {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.matches(&other.pod) || !c.admits(pod, node) {
                continue;
            }
            let v = labels[&c.topology_key].clone();
            *self.counts[i].entry(v).or_insert(0) += delta;
            self.recompute_min(i);
        }
    }
}

/// Spreads pods over topology domains as their constraints ask.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodTopologySpread;

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn pre_filter(&self, pod: &mut PodInfo<'_>, snapshot: &Snapshot) {
        let cs = constraints(pod.pod, UnsatisfiableConstraintAction::DoNotSchedule);
        if cs.is_empty() {
            return;
        }
        let ns = &pod.pod.metadata.namespace;
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); cs.len()];
        for node in snapshot.nodes() {
            let Some(labels) = node.labels() else {
                continue;
            };
            if !has_all_keys(labels, &cs) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if c.admits(pod, node) {
                    counts[i]
                        .entry(labels[&c.topology_key].clone())
                        .or_insert(0);
                }
            }
        }
        for other in snapshot.pods_in_namespace(ns) {
            let Some(node) = snapshot.node(&other.node) else {
                continue;
            };
            let Some(labels) = node.labels() else {
                continue;
            };
            if !has_all_keys(labels, &cs) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if counts_for(c, other, ns) && c.admits(pod, node) {
                    if let Some(n) = counts[i].get_mut(&labels[&c.topology_key]) {
                        *n += 1;
                    }
                }
            }
        }
        let mut state = FilterState {
            min: vec![i64::MAX; cs.len()],
            constraints: cs,
            counts,
        };
        for i in 0..state.constraints.len() {
            state.recompute_min(i);
        }
        pod.data.write(state);
    }

    fn add_pod(&self, pod: &mut PodInfo<'_>, other: &PodRecord, node: &NodeInfo) {
        if let Some(mut state) = pod.data.read::<FilterState>().cloned() {
            state.update(pod, other, node, 1);
            pod.data.write(state);
        }
    }

    fn remove_pod(&self, pod: &mut PodInfo<'_>, other: &PodRecord, node: &NodeInfo) {
        if let Some(mut state) = pod.data.read::<FilterState>().cloned() {
            state.update(pod, other, node, -1);
            pod.data.write(state);
        }
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(state) = pod.data.read::<FilterState>() else {
            return Ok(());
        };
        let Some(labels) = node.labels() else {
            return Ok(());
        };
        for (i, c) in state.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                return Err(Unfit::unresolvable(REASON_MISSING_LABEL));
            };
            let min = if state.counts[i].len() < c.min_domains {
                0
            } else {
                state.min[i]
            };
            let own = i64::from(c.matches(pod.pod));
            let count = state.counts[i].get(value).copied().unwrap_or(0);
            if count.saturating_add(own).saturating_sub(min) > c.max_skew {
                return Err(Unfit::new(REASON_CONSTRAINTS));
            }
        }
        Ok(())
    }
}

/// What the score needs, computed once per cycle.
#[derive(Debug, Clone)]
struct ScoreState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per domain of a scored node (hostname: unused).
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: `ln(domains + 2)`.
    weights: Vec<f64>,
    /// Scored nodes lacking a topology key.
    ignored: HashSet<String>,
}

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn pre_score(&self, pod: &mut PodInfo<'_>, snapshot: &Snapshot, feasible: &[&NodeInfo]) {
        let cs = constraints(pod.pod, UnsatisfiableConstraintAction::ScheduleAnyway);
        if cs.is_empty() || feasible.is_empty() {
            return;
        }
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); cs.len()];
        let mut ignored = HashSet::new();
        for node in feasible {
            let Some(labels) = node.labels() else {
                continue;
            };
            if !has_all_keys(labels, &cs) {
                ignored.insert(node.name().to_owned());
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if c.topology_key != HOSTNAME_LABEL {
                    counts[i]
                        .entry(labels[&c.topology_key].clone())
                        .or_insert(0);
                }
            }
        }
        let weights = cs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME_LABEL {
                    feasible.len() - ignored.len()
                } else {
                    counts[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let ns = &pod.pod.metadata.namespace;
        for other in snapshot.pods_in_namespace(ns) {
            let Some(node) = snapshot.node(&other.node) else {
                continue;
            };
            let Some(labels) = node.labels() else {
                continue;
            };
            if !has_all_keys(labels, &cs) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if c.topology_key == HOSTNAME_LABEL || !counts_for(c, other, ns) {
                    continue;
                }
                if let Some(n) = counts[i].get_mut(&labels[&c.topology_key]) {
                    if c.admits(pod, node) {
                        *n += 1;
                    }
                }
            }
        }
        pod.data.write(ScoreState {
            constraints: cs,
            counts,
            weights,
            ignored,
        });
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> i64 {
        let Some(state) = pod.data.read::<ScoreState>() else {
            return 0;
        };
        let Some(labels) = node.labels() else {
            return 0;
        };
        if state.ignored.contains(node.name()) {
            return 0;
        }
        let ns = &pod.pod.metadata.namespace;
        let mut score = 0f64;
        for (i, c) in state.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == HOSTNAME_LABEL {
                node.pods().iter().filter(|r| counts_for(c, r, ns)).count() as i64
            } else {
                state.counts[i].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * state.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, pod: &PodInfo<'_>, nodes: &[&NodeInfo], scores: &mut [i64]) {
        let Some(state) = pod.data.read::<ScoreState>() else {
            return;
        };
        let counted = |i: usize| !state.ignored.contains(nodes[i].name());
        let mut min = i64::MAX;
        let mut max = 0;
        for (i, &s) in scores.iter().enumerate() {
            if counted(i) {
                min = min.min(s);
                max = max.max(s);
            }
        }
        for (i, s) in scores.iter_mut().enumerate() {
            *s = if !counted(i) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rudder_protocol::resources::{Taint, TaintEffect, Time, TopologySpreadConstraint};

    use super::*;
    use crate::scheduler::snapshot::tests::{bound, labelled, node, with_labels};

    const ZONE: &str = "topology.kubernetes.io/zone";

    fn web_selector() -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: [("app".to_owned(), "web".to_owned())].into(),
            ..Default::default()
        })
    }

    fn constraint(key: &str, action: UnsatisfiableConstraintAction) -> TopologySpreadConstraint {
        TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.into(),
            when_unsatisfiable: action,
            label_selector: web_selector(),
            ..Default::default()
        }
    }

    fn web(name: &str) -> Pod {
        labelled(name, "default", &[("app", "web")])
    }

    /// a1, a2 in zone a, b1 in b, c1 in c (c1 has `disk=hdd`, the others `disk=ssd`, and
    /// c1 is tainted when `taint_c`), x without a zone.
    fn cluster(pods: Vec<Pod>, taint_c: bool) -> Snapshot {
        let mut nodes = Vec::new();
        for (name, zone) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("c1", "c")] {
            let disk = if zone == "c" { "hdd" } else { "ssd" };
            let mut n = with_labels(
                node(name, "8", "8Gi", 110),
                &[(ZONE, zone), ("disk", disk), (HOSTNAME_LABEL, name)],
            );
            if zone == "c" && taint_c {
                n.spec.taints.push(Taint {
                    key: "dedicated".into(),
                    value: "x".into(),
                    effect: TaintEffect::NoSchedule,
                    time_added: None,
                });
            }
            nodes.push(Arc::new(n));
        }
        nodes.push(Arc::new(with_labels(
            node("x", "8", "8Gi", 110),
            &[(HOSTNAME_LABEL, "x")],
        )));
        let pods: Vec<_> = pods.into_iter().map(Arc::new).collect();
        Snapshot::build(&nodes, &pods)
    }

    fn filter_all(s: &Snapshot, p: &Pod) -> Vec<&'static str> {
        let mut info = PodInfo::new(p);
        PodTopologySpread.pre_filter(&mut info, s);
        s.nodes()
            .map(|n| match PodTopologySpread.filter(&info, n) {
                Ok(()) => "ok",
                Err(u) if u.reasons().next() == Some(REASON_MISSING_LABEL) => {
                    assert!(u.is_unresolvable());
                    "label"
                }
                Err(_) => "skew",
            })
            .collect()
    }

    #[test]
    fn do_not_schedule() {
        let spread = |mut p: Pod, f: &dyn Fn(&mut TopologySpreadConstraint)| {
            let mut c = constraint(ZONE, UnsatisfiableConstraintAction::DoNotSchedule);
            f(&mut c);
            p.spec.topology_spread_constraints.push(c);
            p
        };
        let one_each_ab = || vec![bound(web("w1"), "a1"), bound(web("w2"), "b1")];
        let mut deleting = bound(web("w3"), "c1");
        deleting.metadata.deletion_timestamp = Some(Time::now());
        let mut ssd_only = spread(web("in"), &|_| {});
        ssd_only
            .spec
            .node_selector
            .insert("disk".into(), "ssd".into());
        let mut ssd_ignore = spread(web("in"), &|c| {
            c.node_affinity_policy = Some(NodeInclusionPolicy::Ignore)
        });
        ssd_ignore
            .spec
            .node_selector
            .insert("disk".into(), "ssd".into());
        let mut v2 = labelled("in", "default", &[("app", "web"), ("version", "v2")]);
        v2 = spread(v2, &|c| c.match_label_keys = vec!["version".into()]);
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<Pod>, bool, Pod, [&str; 5])> = vec![
            ("no constraints", one_each_ab(), false, web("in"), ["ok"; 5]),
            (
                "empty zone c must come first",
                one_each_ab(),
                false,
                spread(web("in"), &|_| {}),
                ["skew", "skew", "skew", "ok", "label"],
            ),
            (
                "balanced zones: any",
                vec![
                    bound(web("w1"), "a2"),
                    bound(web("w2"), "b1"),
                    bound(web("w3"), "c1"),
                ],
                false,
                spread(web("in"), &|_| {}),
                ["ok", "ok", "ok", "ok", "label"],
            ),
            (
                "minDomains above the domain count makes the minimum 0",
                vec![
                    bound(web("w1"), "a2"),
                    bound(web("w2"), "b1"),
                    bound(web("w3"), "c1"),
                ],
                false,
                spread(web("in"), &|c| c.min_domains = Some(4)),
                ["skew", "skew", "skew", "skew", "label"],
            ),
            (
                "a pod outside its own selector adds nothing",
                one_each_ab(),
                false,
                spread(labelled("in", "default", &[("app", "other")]), &|_| {}),
                ["ok", "ok", "ok", "ok", "label"],
            ),
            (
                "node affinity honored: zone c does not count",
                one_each_ab(),
                false,
                ssd_only,
                // c1 itself passes here (its domain counts 0); NodeSelector rejects it.
                ["ok", "ok", "ok", "ok", "label"],
            ),
            (
                "node affinity ignored: zone c counts",
                one_each_ab(),
                false,
                ssd_ignore,
                ["skew", "skew", "skew", "ok", "label"],
            ),
            (
                "taints ignored by default",
                one_each_ab(),
                true,
                spread(web("in"), &|_| {}),
                ["skew", "skew", "skew", "ok", "label"],
            ),
            (
                "taints honored: zone c does not count",
                one_each_ab(),
                true,
                spread(web("in"), &|c| {
                    c.node_taints_policy = Some(NodeInclusionPolicy::Honor)
                }),
                ["ok", "ok", "ok", "ok", "label"],
            ),
            (
                "matchLabelKeys: other versions do not count",
                vec![bound(
                    labelled("w1", "default", &[("app", "web"), ("version", "v1")]),
                    "a1",
                )],
                false,
                v2,
                ["ok", "ok", "ok", "ok", "label"],
            ),
            (
                "deleting pods and other namespaces do not count",
                vec![
                    bound(web("w1"), "a1"),
                    bound(web("w2"), "b1"),
                    deleting,
                    bound(labelled("o", "other", &[("app", "web")]), "c1"),
                ],
                false,
                spread(web("in"), &|_| {}),
                ["skew", "skew", "skew", "ok", "label"],
            ),
        ];
        for (name, pods, taint_c, p, want) in cases {
            let s = cluster(pods, taint_c);
            assert_eq!(filter_all(&s, &p), want, "{name}");
        }
    }

    #[test]
    fn schedule_anyway_scores() {
        let anyway = |key: &str| {
            let mut p = web("in");
            p.spec.topology_spread_constraints.push(constraint(
                key,
                UnsatisfiableConstraintAction::ScheduleAnyway,
            ));
            p
        };
        let cases: Vec<(&str, Vec<Pod>, Pod, [i64; 5])> = vec![
            (
                "zones: emptier zones score higher, nodes without the key 0",
                vec![
                    bound(web("w1"), "a1"),
                    bound(web("w2"), "a2"),
                    bound(web("w3"), "b1"),
                ],
                anyway(ZONE),
                // counts a=2, b=1, c=0; weight ln(5): raw 3, 3, 2, 0.
                [0, 0, 33, 100, 0],
            ),
            (
                "hostname: the node's own count",
                vec![bound(web("w1"), "a1")],
                anyway(HOSTNAME_LABEL),
                [0, 100, 100, 100, 100],
            ),
            (
                "nothing to spread: all equal",
                vec![],
                anyway(ZONE),
                [100, 100, 100, 100, 0],
            ),
        ];
        for (name, pods, p, want) in cases {
            let s = cluster(pods, false);
            let nodes: Vec<&NodeInfo> = s.nodes().collect();
            let mut info = PodInfo::new(&p);
            PodTopologySpread.pre_score(&mut info, &s, &nodes);
            let mut got: Vec<i64> = nodes
                .iter()
                .map(|n| PodTopologySpread.score(&info, n))
                .collect();
            PodTopologySpread.normalize(&info, &nodes, &mut got);
            assert_eq!(got, want, "{name}");
        }
    }
}
