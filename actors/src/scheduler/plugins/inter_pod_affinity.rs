//! Kubernetes' InterPodAffinity plugin, filter and score.
//!
//! **Filter.** PreFilter gathers, per topology pair (a node label key and value):
//!
//! - `existing_anti`: bound pods whose required anti-affinity terms match the incoming
//!   pod: each distinct such term of the accounted pods is matched once, and its
//!   domains come from the snapshot ([`Snapshot::existing_anti`]);
//! - `affinity`: bound pods that match *all* the incoming pod's required affinity terms,
//!   once per term, in that term's domain;
//! - `anti`: bound pods matching each required anti-affinity term of the incoming pod.
//!
//! The incoming pod's terms have their `namespaceSelector` resolved into namespace names
//! first; `affinity` and `anti` are the snapshot's counts for those terms
//! ([`Snapshot::match_counts`]: kept current while pending pods need them, else counted
//! over the pods of those namespaces). The counts are shared with the snapshot, and
//! preemption's changes go on top ([`PairCounts`]). Per node, the filter is lookups:
//!
//! 1. every required affinity term's topology key must be a label of the node, and its
//!    domain must hold a matching pod, unless no pod in the cluster matches yet and the
//!    pod matches its own terms (the first pod of a group with affinity to itself):
//!    else `node(s) didn't match pod affinity rules` (preemption cannot help);
//! 2. no domain of the node may hold a pod matching a required anti-affinity term:
//!    `node(s) didn't match pod anti-affinity rules`;
//! 3. no label pair of the node may be a domain where an existing pod's required
//!    anti-affinity matches the incoming pod: `node(s) didn't satisfy existing pods
//!    anti-affinity rules`.
//!
//! `matchLabelKeys` and `mismatchLabelKeys` are merged into each term's selector from the
//! owning pod's labels when terms are compiled ([`crate::scheduler::framework::AffinityTerm`]).
//!
//! **Score** (weight 2). PreScore sums, per topology pair: the incoming pod's preferred
//! affinity weights (plus) and anti-affinity weights (minus) for each matching bound pod;
//! for each bound pod with required affinity or preferred terms, its required affinity
//! terms matching the incoming pod (weight 1, Kubernetes' `hardPodAffinityWeight`) and
//! its preferred terms (plus or minus their weight). A node's score is the sum over its
//! label pairs, normalised to `100 * (s - min) / (max - min)` over the scored nodes.

use std::collections::{BTreeMap, HashMap};

use crate::scheduler::framework::{
    AffinityTerm, FilterPlugin, PodInfo, ScorePlugin, Unfit, WeightedAffinityTerm, MAX_NODE_SCORE,
};
use crate::scheduler::snapshot::{NodeInfo, PodRecord, Snapshot};
use crate::scheduler::topology::{MatchQuery, PairCounts};

/// The node's domains lack the pods the incoming pod's affinity requires.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// The node's domains hold pods the incoming pod's anti-affinity forbids.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Pods in the node's domains have anti-affinity against the incoming pod.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// Scores per topology key, then value.
type Counts = HashMap<String, HashMap<String, i64>>;

fn add(counts: &mut Counts, labels: &BTreeMap<String, String>, key: &str, delta: i64) {
    let Some(value) = labels.get(key) else {
        return;
    };
    // Look up before inserting: a cycle adds to the same few pairs many times, and
    // allocating the key for every call would dominate.
    let Some(values) = counts.get_mut(key) else {
        counts.insert(key.to_owned(), HashMap::from([(value.clone(), delta)]));
        return;
    };
    let Some(n) = values.get_mut(value.as_str()) else {
        values.insert(value.clone(), delta);
        return;
    };
    *n += delta;
    if *n == 0 {
        values.remove(value.as_str());
        if values.is_empty() {
            counts.remove(key);
        }
    }
}

/// What the filter needs, computed once per cycle.
#[derive(Debug, Clone, Default)]
struct FilterState {
    /// The incoming pod's required affinity terms, namespaces resolved.
    affinity: MatchQuery,
    /// The incoming pod's required anti-affinity terms, namespaces resolved.
    anti: MatchQuery,
    /// The incoming pod's namespace labels (for existing pods' namespace selectors).
    ns_labels: BTreeMap<String, String>,
    existing_anti_counts: PairCounts,
    affinity_counts: PairCounts,
    anti_counts: PairCounts,
}

/// Namespaces whose pods the resolved `terms` may match.
fn namespaces_of<'a>(terms: impl Iterator<Item = &'a AffinityTerm>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for t in terms {
        for ns in &t.namespaces {
            if !out.contains(&ns.as_str()) {
                out.push(ns);
            }
        }
    }
    out
}

impl FilterState {
    /// Kubernetes' `updateWithPod`: `other` on `labels` now counts `delta` times.
    fn update(
        &mut self,
        incoming: &rudder_protocol::resources::Pod,
        other: &PodRecord,
        labels: &BTreeMap<String, String>,
        delta: i64,
    ) {
        if let Some(a) = &other.affinity {
            for t in &a.required_anti_affinity {
                if t.matches(incoming, &self.ns_labels) {
                    self.existing_anti_counts
                        .add(labels, &t.topology_key, delta);
                }
            }
        }
        let counts = &mut self.affinity_counts;
        self.affinity
            .each_key(&other.pod, |key| counts.add(labels, key, delta));
        let counts = &mut self.anti_counts;
        self.anti
            .each_key(&other.pod, |key| counts.add(labels, key, delta));
    }
}

/// Filters and scores nodes by the pods in their topology domains.
#[derive(Debug, Clone, Copy, Default)]
pub struct InterPodAffinity;

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn pre_filter(&self, pod: &mut PodInfo<'_>, snapshot: &Snapshot) {
        let ns_labels = snapshot.namespace_labels(&pod.pod.metadata.namespace);
        let mut state = FilterState::default();
        for (term, domains) in snapshot.existing_anti().terms() {
            if !domains.is_empty() && term.matches(pod.pod, ns_labels) {
                state
                    .existing_anti_counts
                    .share(&term.topology_key, domains);
            }
        }
        if let Some(a) = &pod.affinity {
            let resolve =
                |terms: &[AffinityTerm]| terms.iter().map(|t| t.resolved(snapshot)).collect();
            state.affinity = MatchQuery::affinity(resolve(&a.required_affinity));
            state.anti = MatchQuery::anti_affinity(resolve(&a.required_anti_affinity));
        }
        if state.existing_anti_counts.is_empty()
            && state.affinity.terms.is_empty()
            && state.anti.terms.is_empty()
        {
            // Kubernetes' Skip: nothing to check on any node.
            return;
        }
        state.ns_labels = ns_labels.clone();
        if !state.affinity.terms.is_empty() {
            state
                .affinity_counts
                .share_all(&snapshot.match_counts(&state.affinity));
        }
        if !state.anti.terms.is_empty() {
            state
                .anti_counts
                .share_all(&snapshot.match_counts(&state.anti));
        }
        pod.data.write(state);
    }

    fn add_pod(&self, pod: &mut PodInfo<'_>, other: &PodRecord, node: &NodeInfo) {
        let incoming = pod.pod;
        if let (Some(state), Some(labels)) = (pod.data.read_mut::<FilterState>(), node.labels()) {
            state.update(incoming, other, labels, 1);
        }
    }

    fn remove_pod(&self, pod: &mut PodInfo<'_>, other: &PodRecord, node: &NodeInfo) {
        let incoming = pod.pod;
        if let (Some(state), Some(labels)) = (pod.data.read_mut::<FilterState>(), node.labels()) {
            state.update(incoming, other, labels, -1);
        }
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(state) = pod.data.read::<FilterState>() else {
            return Ok(());
        };
        let Some(labels) = node.labels() else {
            return Ok(());
        };
        // Required affinity: every key present, and a matching pod in every domain
        // (unless this is the first pod of a self-affine group).
        let mut pods_exist = true;
        for t in &state.affinity.terms {
            match labels.get(&t.topology_key) {
                Some(v) => {
                    if state.affinity_counts.get(&t.topology_key, v) <= 0 {
                        pods_exist = false;
                    }
                }
                None => return Err(Unfit::unresolvable(REASON_AFFINITY)),
            }
        }
        // No matching pod anywhere is fine only for a pod that matches its own terms
        // (the first of a self-affine group).
        let first_of_group =
            state.affinity_counts.is_empty() && state.affinity.matches_all(pod.pod);
        if !pods_exist && !first_of_group {
            return Err(Unfit::unresolvable(REASON_AFFINITY));
        }
        if !state.anti_counts.is_empty() {
            for t in &state.anti.terms {
                if let Some(v) = labels.get(&t.topology_key) {
                    if state.anti_counts.get(&t.topology_key, v) > 0 {
                        return Err(Unfit::new(REASON_ANTI_AFFINITY));
                    }
                }
            }
        }
        if !state.existing_anti_counts.is_empty() && state.existing_anti_counts.any_positive(labels)
        {
            return Err(Unfit::new(REASON_EXISTING_ANTI_AFFINITY));
        }
        Ok(())
    }
}

/// What the score needs: the summed weights per topology pair.
#[derive(Debug, Clone, Default)]
struct ScoreState {
    scores: Counts,
}

fn add_weighted(
    scores: &mut Counts,
    terms: &[WeightedAffinityTerm],
    pod: &rudder_protocol::resources::Pod,
    ns_labels: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    sign: i64,
) {
    for w in terms {
        if w.term.matches(pod, ns_labels) {
            add(scores, labels, &w.term.topology_key, sign * w.weight);
        }
    }
}

/// Kubernetes' default `hardPodAffinityWeight`: what an existing pod's required affinity
/// term matching the incoming pod adds to its domain's score.
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

impl ScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn pre_score(&self, pod: &mut PodInfo<'_>, snapshot: &Snapshot, _feasible: &[&NodeInfo]) {
        let incoming = pod.pod;
        let ns_labels = snapshot.namespace_labels(&incoming.metadata.namespace);
        let mut state = ScoreState::default();
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        if let Some(a) = &pod.affinity {
            let pref: Vec<WeightedAffinityTerm> = a
                .preferred_affinity
                .iter()
                .map(|w| WeightedAffinityTerm {
                    weight: w.weight,
                    term: w.term.resolved(snapshot),
                })
                .collect();
            let anti: Vec<WeightedAffinityTerm> = a
                .preferred_anti_affinity
                .iter()
                .map(|w| WeightedAffinityTerm {
                    weight: w.weight,
                    term: w.term.resolved(snapshot),
                })
                .collect();
            let namespaces = namespaces_of(pref.iter().chain(&anti).map(|w| &w.term));
            for ns in namespaces {
                for other in snapshot.pods_in_namespace(ns) {
                    let Some(labels) = snapshot.node_labels(&other.node) else {
                        continue;
                    };
                    add_weighted(&mut state.scores, &pref, &other.pod, &NONE, labels, 1);
                    add_weighted(&mut state.scores, &anti, &other.pod, &NONE, labels, -1);
                }
            }
        }
        for other in snapshot.pods_scoring_affinity() {
            let Some(a) = &other.affinity else { continue };
            let Some(labels) = snapshot.node_labels(&other.node) else {
                continue;
            };
            for t in &a.required_affinity {
                if t.matches(incoming, ns_labels) {
                    add(
                        &mut state.scores,
                        labels,
                        &t.topology_key,
                        HARD_POD_AFFINITY_WEIGHT,
                    );
                }
            }
            add_weighted(
                &mut state.scores,
                &a.preferred_affinity,
                incoming,
                ns_labels,
                labels,
                1,
            );
            add_weighted(
                &mut state.scores,
                &a.preferred_anti_affinity,
                incoming,
                ns_labels,
                labels,
                -1,
            );
        }
        if !state.scores.is_empty() {
            pod.data.write(state);
        }
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> i64 {
        let (Some(state), Some(labels)) = (pod.data.read::<ScoreState>(), node.labels()) else {
            return 0;
        };
        state
            .scores
            .iter()
            .filter_map(|(k, values)| labels.get(k).and_then(|v| values.get(v)))
            .sum()
    }

    fn normalize(&self, pod: &PodInfo<'_>, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        if pod.data.read::<ScoreState>().is_none() {
            return;
        }
        let min = scores.iter().copied().min().unwrap_or(0);
        let max = scores.iter().copied().max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rudder_protocol::resources::{
        Affinity, LabelSelector, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity,
        WeightedPodAffinityTerm,
    };

    use super::*;
    use crate::scheduler::snapshot::tests::{bound, labelled, node, with_labels};

    const ZONE: &str = "topology.kubernetes.io/zone";
    const HOST: &str = "kubernetes.io/hostname";

    fn sel(pairs: &[(&str, &str)]) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Default::default()
        })
    }

    fn term(selector: Option<LabelSelector>, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: selector,
            topology_key: key.into(),
            ..Default::default()
        }
    }

    fn with_affinity(mut p: Pod, required: Vec<PodAffinityTerm>) -> Pod {
        let a = p.spec.affinity.get_or_insert_with(Affinity::default);
        a.pod_affinity = Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: required,
            ..Default::default()
        });
        p
    }

    fn with_anti(mut p: Pod, required: Vec<PodAffinityTerm>) -> Pod {
        let a = p.spec.affinity.get_or_insert_with(Affinity::default);
        a.pod_anti_affinity = Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: required,
            ..Default::default()
        });
        p
    }

    /// n1, n2 in zone a; n3 in zone b; n4 without a zone. Every node has its hostname.
    fn cluster(pods: Vec<Pod>) -> Snapshot {
        let nodes: Vec<_> = [
            ("n1", Some("a")),
            ("n2", Some("a")),
            ("n3", Some("b")),
            ("n4", None),
        ]
        .into_iter()
        .map(|(n, zone)| {
            let mut labels = vec![(HOST, n)];
            if let Some(z) = zone {
                labels.push((ZONE, z));
            }
            Arc::new(with_labels(node(n, "8", "8Gi", 110), &labels))
        })
        .collect();
        let pods: Vec<_> = pods.into_iter().map(Arc::new).collect();
        let mut s = Snapshot::build(&nodes, &pods);
        s.upsert_namespace("default", Default::default());
        s.upsert_namespace("team", [("team".to_owned(), "x".to_owned())].into());
        s
    }

    fn filter_all(s: &Snapshot, p: &Pod) -> Vec<&'static str> {
        let mut info = PodInfo::new(p);
        InterPodAffinity.pre_filter(&mut info, s);
        s.nodes()
            .map(|n| match InterPodAffinity.filter(&info, n) {
                Ok(()) => "ok",
                Err(u) if u.reasons().next() == Some(REASON_AFFINITY) => {
                    assert!(u.is_unresolvable(), "affinity failures are unresolvable");
                    "affinity"
                }
                Err(u) if u.reasons().next() == Some(REASON_ANTI_AFFINITY) => "anti",
                Err(_) => "existing",
            })
            .collect()
    }

    #[test]
    fn required_terms() {
        let web = |name: &str| labelled(name, "default", &[("app", "web")]);
        let db = |name: &str| labelled(name, "default", &[("app", "db")]);
        let mut v2 = labelled("in", "default", &[("app", "web"), ("version", "v2")]);
        let mut t = term(sel(&[("app", "web")]), HOST);
        t.match_label_keys = vec!["version".into()];
        v2 = with_anti(v2, vec![t]);
        let mut tenant_a = labelled("in", "default", &[("app", "x"), ("tenant", "a")]);
        let mut t = term(Some(LabelSelector::default()), HOST);
        t.mismatch_label_keys = vec!["tenant".into()];
        tenant_a = with_anti(tenant_a, vec![t]);
        let mut ns_selected = term(sel(&[("app", "web")]), HOST);
        ns_selected.namespace_selector = sel(&[("team", "x")]);
        let cases: Vec<(&str, Vec<Pod>, Pod, [&str; 4])> = vec![
            (
                "no affinity",
                vec![bound(web("w"), "n1")],
                web("in"),
                ["ok"; 4],
            ),
            (
                "affinity to a zone with a db",
                vec![bound(db("d"), "n1")],
                with_affinity(web("in"), vec![term(sel(&[("app", "db")]), ZONE)]),
                ["ok", "ok", "affinity", "affinity"],
            ),
            (
                "first pod of a self-affine group goes where the key exists",
                vec![],
                with_affinity(web("in"), vec![term(sel(&[("app", "web")]), ZONE)]),
                ["ok", "ok", "ok", "affinity"],
            ),
            (
                "affinity to pods that do not exist, not matching itself",
                vec![],
                with_affinity(web("in"), vec![term(sel(&[("app", "db")]), ZONE)]),
                ["affinity"; 4],
            ),
            (
                "anti-affinity per host",
                vec![bound(web("w"), "n1")],
                with_anti(web("in"), vec![term(sel(&[("app", "web")]), HOST)]),
                ["anti", "ok", "ok", "ok"],
            ),
            (
                "anti-affinity per zone; a node without the key passes",
                vec![bound(web("w"), "n1")],
                with_anti(web("in"), vec![term(sel(&[("app", "web")]), ZONE)]),
                ["anti", "anti", "ok", "ok"],
            ),
            (
                "an existing pod's anti-affinity repels the incoming pod",
                vec![bound(
                    with_anti(db("d"), vec![term(sel(&[("app", "web")]), ZONE)]),
                    "n3",
                )],
                web("in"),
                ["ok", "ok", "existing", "ok"],
            ),
            (
                "pods of other namespaces do not count",
                vec![bound(labelled("w", "other", &[("app", "web")]), "n1")],
                with_anti(web("in"), vec![term(sel(&[("app", "web")]), HOST)]),
                ["ok"; 4],
            ),
            (
                "namespace selector",
                vec![bound(labelled("w", "team", &[("app", "web")]), "n1")],
                with_anti(web("in"), vec![ns_selected]),
                ["anti", "ok", "ok", "ok"],
            ),
            (
                "matchLabelKeys: only the same version repels",
                vec![
                    bound(
                        labelled("a", "default", &[("app", "web"), ("version", "v1")]),
                        "n1",
                    ),
                    bound(
                        labelled("b", "default", &[("app", "web"), ("version", "v2")]),
                        "n3",
                    ),
                ],
                v2,
                ["ok", "ok", "anti", "ok"],
            ),
            (
                "mismatchLabelKeys: other tenants repel",
                vec![
                    bound(
                        labelled("a", "default", &[("app", "y"), ("tenant", "b")]),
                        "n1",
                    ),
                    bound(
                        labelled("b", "default", &[("app", "y"), ("tenant", "a")]),
                        "n2",
                    ),
                ],
                tenant_a,
                ["anti", "ok", "ok", "ok"],
            ),
            (
                "a term without a selector matches no pod",
                vec![bound(web("w"), "n1")],
                with_anti(web("in"), vec![term(None, HOST)]),
                ["ok"; 4],
            ),
        ];
        for (name, pods, p, want) in cases {
            let s = cluster(pods);
            assert_eq!(filter_all(&s, &p), want, "{name}");
        }
    }

    #[test]
    fn preemption_updates_the_counts() {
        let web = labelled("w", "default", &[("app", "web")]);
        let s = cluster(vec![bound(web, "n1")]);
        let p = with_anti(
            labelled("in", "default", &[("app", "web")]),
            vec![term(sel(&[("app", "web")]), HOST)],
        );
        let mut info = PodInfo::new(&p);
        InterPodAffinity.pre_filter(&mut info, &s);
        let n1 = s.node("n1").expect("n1");
        assert!(InterPodAffinity.filter(&info, n1).is_err());
        let victim = n1.pods()[0].clone();
        InterPodAffinity.remove_pod(&mut info, &victim, n1);
        assert!(InterPodAffinity.filter(&info, n1).is_ok(), "victim removed");
        InterPodAffinity.add_pod(&mut info, &victim, n1);
        assert!(InterPodAffinity.filter(&info, n1).is_err(), "victim back");
    }

    fn preferred(w: i32, selector: Option<LabelSelector>, key: &str) -> WeightedPodAffinityTerm {
        WeightedPodAffinityTerm {
            weight: w,
            pod_affinity_term: term(selector, key),
        }
    }

    #[test]
    fn scores() {
        let db = bound(labelled("d", "default", &[("app", "db")]), "n1");
        let mut likes_db = labelled("in", "default", &[("app", "web")]);
        likes_db.spec.affinity = Some(Affinity {
            pod_affinity: Some(PodAffinity {
                preferred_during_scheduling_ignored_during_execution: vec![preferred(
                    10,
                    sel(&[("app", "db")]),
                    ZONE,
                )],
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut avoids_db = labelled("in", "default", &[("app", "web")]);
        avoids_db.spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: vec![preferred(
                    10,
                    sel(&[("app", "db")]),
                    ZONE,
                )],
                ..Default::default()
            }),
            ..Default::default()
        });
        // An existing pod that requires web pods next to it attracts them (hard weight 1).
        let wants_web = bound(
            with_affinity(
                labelled("c", "default", &[("app", "cache")]),
                vec![term(sel(&[("app", "web")]), ZONE)],
            ),
            "n3",
        );
        let cases: Vec<(&str, Vec<Pod>, Pod, [i64; 4])> = vec![
            (
                "no terms anywhere",
                vec![db.clone()],
                labelled("in", "default", &[]),
                [0, 0, 0, 0],
            ),
            (
                "preferred affinity",
                vec![db.clone()],
                likes_db,
                [100, 100, 0, 0],
            ),
            (
                "preferred anti-affinity",
                vec![db.clone()],
                avoids_db,
                [0, 0, 100, 100],
            ),
            (
                "existing pod's required affinity",
                vec![db, wants_web],
                labelled("in", "default", &[("app", "web")]),
                [0, 0, 100, 0],
            ),
        ];
        for (name, pods, p, want) in cases {
            let s = cluster(pods);
            let nodes: Vec<&NodeInfo> = s.nodes().collect();
            let mut info = PodInfo::new(&p);
            InterPodAffinity.pre_score(&mut info, &s, &nodes);
            let mut got: Vec<i64> = nodes
                .iter()
                .map(|n| InterPodAffinity.score(&info, n))
                .collect();
            InterPodAffinity.normalize(&info, &nodes, &mut got);
            assert_eq!(got, want, "{name}");
        }
    }
}
