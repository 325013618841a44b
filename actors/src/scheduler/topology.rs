//! Topology-pair counts for the InterPodAffinity plugin, kept by the
//! [`Snapshot`](super::snapshot::Snapshot) one change at a time instead of being recounted
//! in every cycle.
//!
//! Kubernetes' PreFilter walks, once per cycle, every pod with required anti-affinity
//! (its snapshot lists the nodes holding such pods, `HavePodsWithRequiredAntiAffinity`)
//! and every pod of the namespaces the incoming pod's terms cover. With a few thousand
//! such pods those walks are the whole cost of a cycle, so Rudder keeps their results:
//!
//! - [`ExistingAnti`]: for each distinct required anti-affinity term of an accounted
//!   pod, how many of its carriers sit in each domain (value of the term's topology key
//!   on their node). PreFilter matches each distinct term against the incoming pod once
//!   and takes the domains of the matching ones as they are.
//! - [`MatchQueries`]: for the required affinity and anti-affinity terms of pending pods
//!   (a [`MatchQuery`]: the terms with their namespaces resolved, and whether a pod must
//!   match all of them, as for affinity, or counts for each one it matches, as for
//!   anti-affinity), how many accounted pods match in each domain. A query lives while
//!   a pending pod needs it and a little after ([`MAX_IDLE_QUERIES`]), so that a burst
//!   of pods from one template is counted once, not once per pod.
//!
//! Both count only pods on real nodes (a placeholder has no labels), and the snapshot
//! updates them when it accounts for or drops a pod and when a node's labels change, so
//! they always equal a recount from scratch (the tests check this after random
//! sequences of changes). A cycle shares them through `Arc` ([`PairCounts`]) and puts
//! its own changes (preemption's what-if removals, nominated pods) on top, never copying.
//!
//! Pure data: no I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rudder_protocol::resources::Pod;

use super::framework::AffinityTerm;
use super::snapshot::PodRecord;

/// Unreferenced queries kept for pods still to come; the oldest go first.
pub const MAX_IDLE_QUERIES: usize = 32;

/// Counts per domain of one topology key (label value → count), and their total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domains {
    counts: HashMap<String, i64>,
    total: i64,
}

impl Domains {
    /// The count of domain `value`.
    pub fn get(&self, value: &str) -> i64 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    /// The sum over every domain.
    pub fn total(&self) -> i64 {
        self.total
    }

    /// Whether every domain counts zero.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds `delta` to domain `value`; a domain back at zero is dropped.
    pub fn add(&mut self, value: &str, delta: i64) {
        if delta == 0 {
            return;
        }
        self.total += delta;
        // Look up before inserting: most calls hit a domain that exists, and allocating
        // the key for each of them would dominate.
        match self.counts.get_mut(value) {
            Some(n) => {
                *n += delta;
                if *n == 0 {
                    self.counts.remove(value);
                }
            }
            None => {
                self.counts.insert(value.to_owned(), delta);
            }
        }
    }
}

/// Adds `delta` to the domain of `labels` for `key` in `domains` (nothing when the node
/// lacks the key).
fn add_keyed(
    domains: &mut BTreeMap<String, Arc<Domains>>,
    labels: &BTreeMap<String, String>,
    key: &str,
    delta: i64,
) {
    let Some(value) = labels.get(key) else {
        return;
    };
    match domains.get_mut(key) {
        Some(d) => {
            Arc::make_mut(d).add(value, delta);
            if d.is_empty() {
                domains.remove(key);
            }
        }
        None => {
            let mut d = Domains::default();
            d.add(value, delta);
            domains.insert(key.to_owned(), Arc::new(d));
        }
    }
}

/// Topology-pair counts as one cycle sees them: domains shared with the snapshot plus
/// the cycle's own changes (Kubernetes' `topologyToMatchedTermCount`).
#[derive(Debug, Clone, Default)]
pub struct PairCounts {
    shared: Vec<(String, Arc<Domains>)>,
    own: BTreeMap<String, Arc<Domains>>,
    total: i64,
}

impl PairCounts {
    /// Counts `domains` of topology key `key` as well (shared, not copied).
    pub fn share(&mut self, key: &str, domains: &Arc<Domains>) {
        if domains.is_empty() {
            return;
        }
        self.total += domains.total();
        self.shared.push((key.to_owned(), domains.clone()));
    }

    /// Counts every key of `counts` as well.
    pub fn share_all(&mut self, counts: &QueryCounts) {
        for (key, domains) in &counts.keys {
            self.share(key, domains);
        }
    }

    /// Adds `delta` to the domain of `labels` for `key` (nothing when the node lacks it).
    pub fn add(&mut self, labels: &BTreeMap<String, String>, key: &str, delta: i64) {
        if labels.contains_key(key) {
            self.total += delta;
            add_keyed(&mut self.own, labels, key, delta);
        }
    }

    /// The count of the pair `key`=`value`.
    pub fn get(&self, key: &str, value: &str) -> i64 {
        let shared: i64 = self
            .shared
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, d)| d.get(value))
            .sum();
        // Called per node and term: skip the lookup while the cycle changed nothing.
        if self.own.is_empty() {
            return shared;
        }
        shared + self.own.get(key).map_or(0, |d| d.get(value))
    }

    /// Whether every pair counts zero (counts never go below zero, so the total says).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Whether any label pair of a node with `labels` counts more than zero.
    pub fn any_positive(&self, labels: &BTreeMap<String, String>) -> bool {
        let keys = self.shared.iter().map(|(k, _)| k).chain(self.own.keys());
        keys.into_iter()
            .any(|k| labels.get(k).is_some_and(|v| self.get(k, v) > 0))
    }
}

/// One carried required anti-affinity term: how many accounted pods carry it, and in
/// which domains of its topology key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Carried {
    carriers: i64,
    domains: Arc<Domains>,
}

/// The required anti-affinity terms of accounted pods, each with its domains; see the
/// module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingAnti {
    terms: HashMap<AffinityTerm, Carried>,
}

impl ExistingAnti {
    /// `record`, on a node with `labels`, now counts `delta` times (1 added, -1 gone).
    pub fn update(&mut self, record: &PodRecord, labels: &BTreeMap<String, String>, delta: i64) {
        let Some(a) = &record.affinity else {
            return;
        };
        for t in &a.required_anti_affinity {
            let entry = match self.terms.get_mut(t) {
                Some(e) => e,
                None if delta > 0 => self.terms.entry(t.clone()).or_insert(Carried {
                    carriers: 0,
                    domains: Arc::default(),
                }),
                None => continue,
            };
            entry.carriers += delta;
            if let Some(v) = labels.get(&t.topology_key) {
                Arc::make_mut(&mut entry.domains).add(v, delta);
            }
            if entry.carriers <= 0 {
                self.terms.remove(t);
            }
        }
    }

    /// Each distinct term with the domains of its carriers.
    pub fn terms(&self) -> impl Iterator<Item = (&AffinityTerm, &Arc<Domains>)> {
        self.terms.iter().map(|(t, c)| (t, &c.domains))
    }
}

/// Resolved affinity terms whose matching pods are counted per domain: all of them must
/// match a pod (required affinity), or each matching term counts (anti-affinity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MatchQuery {
    /// The terms, their namespace selectors resolved into names.
    pub terms: Vec<AffinityTerm>,
    /// Whether a pod counts only when it matches every term.
    pub all: bool,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl MatchQuery {
    /// Required affinity: pods matching every term count, once per term.
    pub fn affinity(terms: Vec<AffinityTerm>) -> Self {
        MatchQuery { terms, all: true }
    }

    /// Required anti-affinity: pods count once for each term they match.
    pub fn anti_affinity(terms: Vec<AffinityTerm>) -> Self {
        MatchQuery { terms, all: false }
    }

    /// Whether `pod` matches every term (never for no terms).
    pub fn matches_all(&self, pod: &Pod) -> bool {
        !self.terms.is_empty() && self.terms.iter().all(|t| t.matches(pod, &NO_LABELS))
    }

    /// Calls `f` with the topology key of each count `pod` adds.
    pub fn each_key(&self, pod: &Pod, mut f: impl FnMut(&str)) {
        if self.all {
            if self.matches_all(pod) {
                self.terms.iter().for_each(|t| f(&t.topology_key));
            }
        } else {
            for t in &self.terms {
                if t.matches(pod, &NO_LABELS) {
                    f(&t.topology_key);
                }
            }
        }
    }

    /// The namespaces whose pods the query may count.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for t in &self.terms {
            for ns in &t.namespaces {
                if !out.contains(&ns.as_str()) {
                    out.push(ns);
                }
            }
        }
        out
    }
}

/// What a query counts: domains per topology key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryCounts {
    keys: BTreeMap<String, Arc<Domains>>,
}

impl QueryCounts {
    /// Counts `pod`, on a node with `labels`, `delta` times for `query`.
    pub fn update(
        &mut self,
        query: &MatchQuery,
        pod: &Pod,
        labels: &BTreeMap<String, String>,
        delta: i64,
    ) {
        query.each_key(pod, |key| add_keyed(&mut self.keys, labels, key, delta));
    }

    /// The domains of `key`, if any pod counts there.
    pub fn domains(&self, key: &str) -> Option<&Domains> {
        self.keys.get(key).map(|d| &**d).filter(|d| !d.is_empty())
    }
}

/// A registered query and who needs it.
#[derive(Debug, Clone)]
struct Registered {
    counts: QueryCounts,
    /// Pending pods that need it.
    users: usize,
    /// When the last user went (a tick of [`MatchQueries`]' clock).
    idle_since: u64,
}

/// The queries of pending pods, counted as pods come and go; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct MatchQueries {
    queries: HashMap<MatchQuery, Registered>,
    clock: u64,
}

impl MatchQueries {
    /// The counts of `query`, if it is registered.
    pub fn get(&self, query: &MatchQuery) -> Option<&QueryCounts> {
        self.queries.get(query).map(|r| &r.counts)
    }

    /// Whether `query` is registered.
    pub fn contains(&self, query: &MatchQuery) -> bool {
        self.queries.contains_key(query)
    }

    /// Registers `query` with the `counts` of the pods accounted now (for a query that
    /// is not registered yet; see [`MatchQueries::contains`]).
    pub fn insert(&mut self, query: MatchQuery, counts: QueryCounts) {
        self.queries.entry(query).or_insert(Registered {
            counts,
            users: 0,
            idle_since: 0,
        });
    }

    /// One more pending pod needs the registered `query`.
    pub fn acquire(&mut self, query: &MatchQuery) {
        if let Some(r) = self.queries.get_mut(query) {
            r.users += 1;
        }
    }

    /// A pending pod no longer needs `query`; idle queries beyond [`MAX_IDLE_QUERIES`]
    /// are dropped, the longest idle first.
    pub fn release(&mut self, query: &MatchQuery) {
        let Some(r) = self.queries.get_mut(query) else {
            return;
        };
        r.users = r.users.saturating_sub(1);
        if r.users > 0 {
            return;
        }
        self.clock += 1;
        r.idle_since = self.clock;
        let idle = self.queries.values().filter(|r| r.users == 0).count();
        if idle > MAX_IDLE_QUERIES {
            let oldest = self
                .queries
                .iter()
                .filter(|(_, r)| r.users == 0)
                .min_by_key(|(_, r)| r.idle_since)
                .map(|(q, _)| q.clone());
            if let Some(q) = oldest {
                self.queries.remove(&q);
            }
        }
    }

    /// `pod`, on a node with `labels`, now counts `delta` times.
    pub fn update(&mut self, pod: &Pod, labels: &BTreeMap<String, String>, delta: i64) {
        for (query, r) in &mut self.queries {
            r.counts.update(query, pod, labels, delta);
        }
    }

    /// Every registered query with its counts.
    pub fn iter(&self) -> impl Iterator<Item = (&MatchQuery, &QueryCounts)> {
        self.queries.iter().map(|(q, r)| (q, &r.counts))
    }

    /// How many queries are registered.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether no query is registered.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rudder_protocol::resources::{
        Affinity, LabelSelector, Node, PodAffinity, PodAffinityTerm, PodAntiAffinity, PodPhase,
    };

    use super::*;
    use crate::scheduler::framework::{FilterPlugin, PodInfo};
    use crate::scheduler::plugins::inter_pod_affinity::InterPodAffinity;
    use crate::scheduler::snapshot::tests::{bound, labelled, node, with_labels};
    use crate::scheduler::snapshot::{pod_key, Snapshot};

    const ZONE: &str = "topology.kubernetes.io/zone";
    const HOST: &str = "kubernetes.io/hostname";

    #[test]
    fn pair_counts_share_and_add() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let mut zone = Domains::default();
        zone.add("a", 2);
        zone.add("b", 1);
        let zone = Arc::new(zone);
        let mut c = PairCounts::default();
        assert!(c.is_empty());
        c.share(ZONE, &zone);
        c.share(ZONE, &zone);
        c.add(&labels(&[(HOST, "n1")]), HOST, 1);
        c.add(&labels(&[]), HOST, 1);
        let cases = [
            ("shared twice adds up", ZONE, "a", 4),
            ("other domain", ZONE, "b", 2),
            ("unknown domain", ZONE, "c", 0),
            ("own count", HOST, "n1", 1),
            ("a node without the key adds nothing", HOST, "", 0),
        ];
        for (name, k, v, want) in cases {
            assert_eq!(c.get(k, v), want, "{name}");
        }
        assert!(c.any_positive(&labels(&[(ZONE, "b")])));
        assert!(!c.any_positive(&labels(&[(ZONE, "c"), (HOST, "n2")])));
        // Removing what is shared, on top: back to nothing.
        for _ in 0..4 {
            c.add(&labels(&[(ZONE, "a")]), ZONE, -1);
        }
        for _ in 0..2 {
            c.add(&labels(&[(ZONE, "b")]), ZONE, -1);
        }
        c.add(&labels(&[(HOST, "n1")]), HOST, -1);
        assert!(c.is_empty());
        assert!(!c.any_positive(&labels(&[(ZONE, "a"), (HOST, "n1")])));
        assert_eq!(zone.get("a"), 2, "the shared domains are not touched");
    }

    #[test]
    fn idle_queries_are_bounded() {
        let mut qs = MatchQueries::default();
        let query = |i: usize| {
            let mut t = AffinityTerm::new(&labelled("p", "default", &[]), &term(HOST, "x"));
            t.namespaces = vec![format!("ns{i}")];
            MatchQuery::anti_affinity(vec![t])
        };
        for i in 0..MAX_IDLE_QUERIES + 5 {
            qs.insert(query(i), QueryCounts::default());
            qs.acquire(&query(i));
        }
        qs.acquire(&query(0));
        for i in 0..MAX_IDLE_QUERIES + 5 {
            qs.release(&query(i));
        }
        assert_eq!(
            qs.len(),
            MAX_IDLE_QUERIES + 1,
            "idle ones bounded, held one kept"
        );
        assert!(qs.contains(&query(0)), "still held once");
        assert!(!qs.contains(&query(1)), "the longest idle went first");
        assert!(qs.contains(&query(MAX_IDLE_QUERIES + 4)));
    }

    fn sel(app: &str) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: [("app".to_owned(), app.to_owned())].into(),
            ..Default::default()
        })
    }

    fn term(key: &str, app: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: sel(app),
            topology_key: key.into(),
            ..Default::default()
        }
    }

    /// The affinity shapes of the random pods: few, so that pods share terms.
    fn affinity(shape: usize) -> Option<Affinity> {
        let anti = |terms: Vec<PodAffinityTerm>| PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: terms,
            ..Default::default()
        };
        let aff = |terms: Vec<PodAffinityTerm>| PodAffinity {
            required_during_scheduling_ignored_during_execution: terms,
            ..Default::default()
        };
        let mut team = term(HOST, "web");
        team.namespace_selector = Some(LabelSelector {
            match_labels: [("team".to_owned(), "x".to_owned())].into(),
            ..Default::default()
        });
        match shape {
            0 => None,
            1 => Some(Affinity {
                pod_anti_affinity: Some(anti(vec![term(HOST, "web")])),
                ..Default::default()
            }),
            2 => Some(Affinity {
                pod_anti_affinity: Some(anti(vec![term(ZONE, "web"), term(HOST, "db")])),
                ..Default::default()
            }),
            3 => Some(Affinity {
                pod_affinity: Some(aff(vec![term(ZONE, "db")])),
                ..Default::default()
            }),
            4 => Some(Affinity {
                pod_affinity: Some(aff(vec![term(ZONE, "web"), term(HOST, "web")])),
                pod_anti_affinity: Some(anti(vec![term(HOST, "db")])),
                ..Default::default()
            }),
            _ => Some(Affinity {
                pod_anti_affinity: Some(anti(vec![team])),
                ..Default::default()
            }),
        }
    }

    fn random_pod(rng: &mut StdRng, i: usize) -> Pod {
        let ns = if i % 3 == 0 { "team" } else { "default" };
        let app = ["web", "db", "cache"][rng.gen_range(0..3)];
        let mut p = labelled(&format!("p{i}"), ns, &[("app", app)]);
        p.spec.affinity = affinity(rng.gen_range(0..6));
        p
    }

    fn random_node(rng: &mut StdRng, name: &str) -> Node {
        let mut labels = vec![(HOST, name)];
        match rng.gen_range(0..3) {
            0 => labels.push((ZONE, "a")),
            1 => labels.push((ZONE, "b")),
            _ => {}
        }
        with_labels(node(name, "64", "64Gi", 110), &labels)
    }

    /// The required anti-affinity terms of the pods on real nodes, counted from scratch.
    fn recount_existing_anti(s: &Snapshot) -> ExistingAnti {
        let mut out = ExistingAnti::default();
        for n in s.nodes() {
            let Some(labels) = n.labels() else { continue };
            for r in n.pods() {
                out.update(r, labels, 1);
            }
        }
        out
    }

    /// The snapshot built from scratch out of what `s` accounts for.
    fn rebuilt(s: &Snapshot, namespaces: &BTreeMap<String, BTreeMap<String, String>>) -> Snapshot {
        let nodes: Vec<Arc<Node>> = s
            .nodes()
            .filter_map(|n| n.node().cloned().map(Arc::new))
            .collect();
        let pods: Vec<Arc<Pod>> = s
            .slots()
            .iter()
            .flat_map(|n| {
                n.pods()
                    .iter()
                    .map(|r| Arc::new(bound((*r.pod).clone(), n.name())))
            })
            .collect();
        let mut fresh = Snapshot::build(&nodes, &pods);
        for (ns, labels) in namespaces {
            fresh.upsert_namespace(ns, labels.clone());
        }
        fresh
    }

    fn verdicts(s: &Snapshot, p: &Pod) -> Vec<(String, Option<String>)> {
        let mut info = PodInfo::new(p);
        InterPodAffinity.pre_filter(&mut info, s);
        s.nodes()
            .map(|n| {
                let verdict = InterPodAffinity
                    .filter(&info, n)
                    .err()
                    .and_then(|u| u.reasons().next().map(str::to_owned));
                (n.name().to_owned(), verdict)
            })
            .collect()
    }

    /// A random sequence of pod and node changes: after each, the kept counts equal a
    /// recount, and the filter decides as on a snapshot built from scratch.
    #[test]
    fn incremental_counts_equal_a_recount() {
        let mut rng = StdRng::seed_from_u64(17);
        let mut s = Snapshot::new();
        let mut namespaces: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        namespaces.insert("default".into(), BTreeMap::new());
        namespaces.insert("team".into(), [("team".to_owned(), "x".to_owned())].into());
        for (ns, labels) in &namespaces {
            s.upsert_namespace(ns, labels.clone());
        }
        let node_names: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
        for name in &node_names[..4] {
            let n = random_node(&mut rng, name);
            s.upsert_node(Arc::new(n));
        }
        // The latest version of each pod the "watch" showed, pending ones included.
        let mut pods: BTreeMap<usize, Pod> = BTreeMap::new();
        let mut checked_queries = 0;
        for step in 0..1500 {
            let i = rng.gen_range(0..16);
            let node = node_names[rng.gen_range(0..node_names.len())].clone();
            match rng.gen_range(0..10) {
                // A new or changed pending pod.
                0 | 1 => {
                    let p = random_pod(&mut rng, i);
                    s.upsert_pod(&Arc::new(p.clone()));
                    pods.insert(i, p);
                }
                // The scheduler assumes a pending pod, or the watch shows it bound.
                2 | 3 => {
                    let Some(p) = pods.get(&i).filter(|p| p.spec.node_name.is_empty()) else {
                        continue;
                    };
                    if rng.gen_bool(0.5) {
                        s.assume_pod(&Arc::new(p.clone()), &node);
                    } else {
                        let b = bound(p.clone(), &node);
                        s.upsert_pod(&Arc::new(b.clone()));
                        pods.insert(i, b);
                    }
                }
                // A bound pod's labels change.
                4 => {
                    let Some(p) = pods.get(&i).filter(|p| !p.spec.node_name.is_empty()) else {
                        continue;
                    };
                    let mut p = p.clone();
                    let app = ["web", "db", "cache"][rng.gen_range(0..3)];
                    p.metadata.labels.insert("app".into(), app.into());
                    s.upsert_pod(&Arc::new(p.clone()));
                    pods.insert(i, p);
                }
                // A failed bind, a finished pod, a deleted pod.
                5 => {
                    if let Some(p) = pods.get(&i) {
                        s.forget_pod(&pod_key(p));
                    }
                }
                6 => {
                    let Some(mut p) = pods.remove(&i) else {
                        continue;
                    };
                    if rng.gen_bool(0.5) {
                        p.status.phase = Some(PodPhase::Succeeded);
                        s.upsert_pod(&Arc::new(p));
                    } else {
                        s.remove_pod(&p);
                    }
                }
                // A node appears or its labels change; a node goes.
                7 | 8 => s.upsert_node(Arc::new(random_node(&mut rng, &node))),
                _ => {
                    if rng.gen_bool(0.3) {
                        s.remove_node(&node);
                    } else {
                        // A namespace relabelled: selectors resolve differently.
                        let labels: BTreeMap<String, String> = if rng.gen_bool(0.5) {
                            [("team".to_owned(), "x".to_owned())].into()
                        } else {
                            BTreeMap::new()
                        };
                        s.upsert_namespace("team", labels.clone());
                        namespaces.insert("team".into(), labels);
                    }
                }
            }

            assert_eq!(
                s.existing_anti(),
                &recount_existing_anti(&s),
                "step {step}: existing anti-affinity"
            );
            for (q, counts) in s.registered_queries() {
                assert_eq!(counts, &s.count_matching(q), "step {step}: {q:?}");
                checked_queries += 1;
            }
            let fresh = rebuilt(&s, &namespaces);
            for p in pods.values().filter(|p| p.spec.node_name.is_empty()) {
                assert_eq!(
                    verdicts(&s, p),
                    verdicts(&fresh, p),
                    "step {step}: filter for {}",
                    pod_key(p)
                );
            }
        }
        assert!(
            checked_queries > 1000,
            "queries were exercised: {checked_queries}"
        );
        let held = s.registered_queries().count();
        assert!(held <= MAX_IDLE_QUERIES + pods.len() * 2, "{held} queries");
    }
}
