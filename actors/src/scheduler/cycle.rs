//! One scheduling cycle: a pure function from a pod and a [`Snapshot`] to the node the
//! pod should be bound to, or a [`FitError`] saying why no node fits.
//!
//! As in Kubernetes' `schedulePod`:
//!
//! 0. PreFilter: each filter plugin computes what it needs from the whole cluster once
//!    (counts of matching pods per topology domain, ...) into the pod's cycle data.
//! 1. Filter: walk the nodes from a start index that rotates from cycle to cycle, run the
//!    filters in order and stop once enough feasible nodes are found
//!    ([`num_feasible_nodes_to_find`]: every node below 100 nodes, then an adaptive
//!    percentage, about 10% at 5,000 nodes). Rotating the start spreads a burst of pods
//!    across the whole cluster and bounds the cost of a cycle.
//!    A node with pods nominated to it (by an earlier preemption) of at least the pod's
//!    priority is filtered as if they were bound there, and then, if the pod fits, once
//!    more without them (Kubernetes' `RunFilterPluginsWithNominatedPods`).
//! 2. Score: every score plugin pre-scores over the feasible nodes once, then scores each
//!    of them; scores are normalised, weighted and summed. With one feasible node, scoring
//!    is skipped.
//! 3. Select: the highest total; ties are broken by a hash of the pod's identity, so that
//!    the choice is deterministic for one pod but differs between pods.
//!
//! When no node fits, every node is filtered again to count reasons (a failing cycle is
//! rare and retried with backoff, so the success path never pays for the histogram).
//!
//! Buffers live in [`CycleState`] and are reused: a cycle does not allocate per node.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use rudder_protocol::resources::Pod;

use super::framework::{Plugins, PodInfo, PreFilterRejection, Unfit};
use super::snapshot::{pod_key, NodeInfo, Snapshot};

/// Below this many nodes every node is considered (Kubernetes' `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The lowest adaptive percentage of nodes to find (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// How many feasible nodes to look for among `all` nodes; `percentage` 0 means adaptive
/// (`50 - all/125`, at least 5%), as Kubernetes' `numFeasibleNodesToFind`.
pub fn num_feasible_nodes_to_find(all: usize, percentage: u32) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = if percentage == 0 {
        50usize
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE)
    } else {
        (percentage as usize).min(100)
    };
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why a pod fits on no node: the node count and how often each reason was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FitError {
    /// How many nodes were considered.
    pub num_nodes: usize,
    /// Reason string → number of nodes that gave it.
    pub reasons: HashMap<Cow<'static, str>, usize>,
    /// The nodes whose rejection preemption might resolve (Kubernetes' `Unschedulable`
    /// as opposed to `UnschedulableAndUnresolvable`).
    pub resolvable: Vec<String>,
    /// What the post-filter step (preemption) said, appended to the message.
    pub post_filter_message: String,
    /// Why a PreFilter step rejected the pod before any node was tried (Kubernetes'
    /// `Diagnosis.PreFilterMsg`, e.g. `pod has unbound immediate
    /// PersistentVolumeClaims`); then every node counts with that reason. (Boxed: the
    /// error stays small enough to return by value.)
    pub pre_filter_message: Box<str>,
}

impl FitError {
    /// The `"<count> <reason>"` items, sorted as Kubernetes sorts them (as strings).
    pub fn histogram(&self) -> Vec<String> {
        let mut items: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        items.sort();
        items
    }
}

impl fmt::Display for FitError {
    /// Kubernetes' message: `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had
    /// untolerated taint {k: v}.`; with no nodes at all, `no nodes available to schedule
    /// pods`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        write!(f, "0/{} nodes are available:", self.num_nodes)?;
        if !self.pre_filter_message.is_empty() {
            write!(f, " {}.", self.pre_filter_message)?;
        }
        let histogram = self.histogram();
        if !histogram.is_empty() {
            write!(f, " {}.", histogram.join(", "))?;
        }
        if !self.post_filter_message.is_empty() {
            write!(f, " {}", self.post_filter_message)?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

/// State carried from one cycle to the next: the rotating start index, the percentage
/// of nodes to score and reusable buffers.
#[derive(Debug, Default, Clone)]
pub struct CycleState {
    /// Where the next cycle starts walking the snapshot's slots.
    pub next_start: usize,
    /// Percentage of nodes to find feasible before scoring; 0 is adaptive.
    pub percentage_of_nodes_to_score: u32,
    feasible: Vec<usize>,
    scores: Vec<i64>,
    totals: Vec<i64>,
}

/// Schedules `pod` with fresh state (start at the first node, adaptive percentage).
pub fn schedule(pod: &Pod, snapshot: &Snapshot, plugins: &Plugins) -> Result<String, FitError> {
    schedule_with(pod, snapshot, plugins, &mut CycleState::default())
}

fn run_filters(plugins: &Plugins, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
    for f in &plugins.filters {
        f.filter(pod, node)?;
    }
    Ok(())
}

/// The pod with every filter plugin's PreFilter data computed over `snapshot`.
pub fn pre_filter<'a>(pod: &'a Pod, snapshot: &Snapshot, plugins: &Plugins) -> PodInfo<'a> {
    let mut info = PodInfo::new(pod);
    for f in &plugins.filters {
        f.pre_filter(&mut info, snapshot);
    }
    info
}

/// Runs the filters on `node`, counting the pods nominated there with at least the pod's
/// priority as if they were bound (then, if the pod fits, once more without them, since
/// they may also be what an affinity term needs), as Kubernetes'
/// `RunFilterPluginsWithNominatedPods`.
pub fn filter_with_nominated(
    plugins: &Plugins,
    pod: &PodInfo<'_>,
    node: &NodeInfo,
    snapshot: &Snapshot,
) -> Result<(), Unfit> {
    if snapshot.has_nominated() {
        let key = pod_key(pod.pod);
        let nominated: Vec<_> = snapshot
            .nominated_on(node.name(), pod.priority, &key)
            .cloned()
            .collect();
        if !nominated.is_empty() {
            let mut with = node.clone();
            let mut info = pod.clone();
            for r in nominated {
                with.add_record(r.clone());
                for f in &plugins.filters {
                    f.add_pod(&mut info, &r, &with);
                }
            }
            run_filters(plugins, &info, &with)?;
        }
    }
    run_filters(plugins, pod, node)
}

/// FNV-1a of the pod's identity: a stable, well-mixed tie breaker.
fn pod_hash(pod: &Pod) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        pod.metadata.namespace.as_bytes(),
        b"/",
        pod.metadata.name.as_bytes(),
        pod.metadata.uid.as_bytes(),
    ] {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// One cycle with `state` carried over from the previous one; see the module docs.
pub fn schedule_with(
    pod: &Pod,
    snapshot: &Snapshot,
    plugins: &Plugins,
    state: &mut CycleState,
) -> Result<String, FitError> {
    let num_nodes = snapshot.num_nodes();
    let slots = snapshot.slots();
    if num_nodes == 0 || slots.is_empty() {
        return Err(FitError::default());
    }
    let mut info = pre_filter(pod, snapshot, plugins);
    if let Some(rejected) = info.data.read::<PreFilterRejection>() {
        return Err(FitError {
            num_nodes,
            pre_filter_message: rejected.0.as_str().into(),
            ..FitError::default()
        });
    }
    let want = num_feasible_nodes_to_find(num_nodes, state.percentage_of_nodes_to_score);
    let start = state.next_start % slots.len();
    state.feasible.clear();
    let mut visited = 0;
    while visited < slots.len() && state.feasible.len() < want {
        let i = (start + visited) % slots.len();
        visited += 1;
        let node = &slots[i];
        if node.node().is_none() {
            continue;
        }
        if filter_with_nominated(plugins, &info, node, snapshot).is_ok() {
            state.feasible.push(i);
        }
    }
    state.next_start = (start + visited) % slots.len();

    match state.feasible.len() {
        0 => {
            let mut reasons: HashMap<Cow<'static, str>, usize> = HashMap::new();
            let mut resolvable = Vec::new();
            for node in slots.iter().filter(|n| n.node().is_some()) {
                if let Err(unfit) = filter_with_nominated(plugins, &info, node, snapshot) {
                    if !unfit.is_unresolvable() {
                        resolvable.push(node.name().to_owned());
                    }
                    for r in unfit.into_reasons() {
                        *reasons.entry(r).or_insert(0) += 1;
                    }
                }
            }
            return Err(FitError {
                num_nodes,
                reasons,
                resolvable,
                ..FitError::default()
            });
        }
        1 => return Ok(slots[state.feasible[0]].name().to_owned()),
        _ => {}
    }

    let n = state.feasible.len();
    state.totals.clear();
    state.totals.resize(n, 0);
    let feasible: Vec<&NodeInfo> = state.feasible.iter().map(|&i| &slots[i]).collect();
    for plugin in &plugins.scores {
        plugin.pre_score(&mut info, snapshot, &feasible);
    }
    for plugin in &plugins.scores {
        state.scores.clear();
        state
            .scores
            .extend(feasible.iter().map(|node| plugin.score(&info, node)));
        plugin.normalize(&info, &feasible, &mut state.scores);
        let weight = plugin.weight();
        for (total, score) in state.totals.iter_mut().zip(&state.scores) {
            *total += score * weight;
        }
    }
    let best = state.totals.iter().copied().max().unwrap_or(0);
    let ties = state.totals.iter().filter(|&&t| t == best).count();
    // ties >= 1 because `best` is one of the totals.
    let pick = (pod_hash(pod) % ties as u64) as usize;
    let chosen = state
        .totals
        .iter()
        .zip(&state.feasible)
        .filter(|(&t, _)| t == best)
        .nth(pick)
        .map(|(_, &i)| i)
        .unwrap_or(state.feasible[0]);
    Ok(slots[chosen].name().to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use rudder_protocol::resources::{Node, Taint, TaintEffect};

    use super::*;
    use crate::scheduler::plugins::default_plugins;
    use crate::scheduler::snapshot::tests::{bound, node, owned, pod};

    fn tainted(mut n: Node, key: &str, value: &str) -> Node {
        n.spec.taints.push(Taint {
            key: key.into(),
            value: value.into(),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
        n
    }

    fn labelled(mut n: Node, k: &str, v: &str) -> Node {
        n.metadata.labels.insert(k.into(), v.into());
        n
    }

    #[test]
    fn feasible_node_counts() {
        let cases = [
            ("small cluster: all", 50, 0, 50),
            ("exactly 100", 100, 0, 100),
            ("1000 nodes: 42%", 1000, 0, 420),
            ("5000 nodes: 10%", 5000, 0, 500),
            ("huge cluster: floor of 5%", 100_000, 0, 5000),
            ("explicit percentage", 5000, 50, 2500),
            ("explicit percentage never below 100 nodes", 1000, 1, 100),
            ("explicit percentage capped at 100", 200, 300, 200),
        ];
        for (name, all, pct, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(all, pct), want, "{name}");
        }
    }

    #[test]
    fn fit_error_messages() {
        let err = |n: usize, rs: &[(&'static str, usize)]| FitError {
            num_nodes: n,
            reasons: rs.iter().map(|&(r, c)| (Cow::Borrowed(r), c)).collect(),
            ..Default::default()
        };
        let cases = [
            ("no nodes", err(0, &[]), "no nodes available to schedule pods"),
            ("one reason", err(3, &[("Insufficient cpu", 3)]), "0/3 nodes are available: 3 Insufficient cpu."),
            (
                "sorted as strings, counts included",
                err(5, &[("node(s) had untolerated taint {k: v}", 2), ("Insufficient cpu", 3)]),
                "0/5 nodes are available: 2 node(s) had untolerated taint {k: v}, 3 Insufficient cpu.",
            ),
            (
                "same count sorted by reason",
                err(4, &[("Insufficient memory", 2), ("Insufficient cpu", 2)]),
                "0/4 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.",
            ),
            (
                "string order puts 10 before 2",
                err(12, &[("Too many pods", 2), ("node(s) were unschedulable", 10)]),
                "0/12 nodes are available: 10 node(s) were unschedulable, 2 Too many pods.",
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(e.to_string(), want, "{name}");
        }
    }

    /// (case name, nodes, bound pods, the pod, expected node or message)
    type Case = (
        &'static str,
        Vec<Node>,
        Vec<rudder_protocol::resources::Pod>,
        rudder_protocol::resources::Pod,
        Result<&'static str, &'static str>,
    );

    #[test]
    fn cycles() {
        let mut cordoned = node("c", "4", "8Gi", 110);
        cordoned.spec.unschedulable = true;
        let mut unready = node("u", "4", "8Gi", 110);
        unready.status.conditions.clear();
        let mut selective = pod("p", &[("1", "1Gi")]);
        selective
            .spec
            .node_selector
            .insert("disk".into(), "ssd".into());
        let cases: Vec<Case> = vec![
            ("no nodes", vec![], vec![], pod("p", &[("1", "")]), Err("no nodes available to schedule pods")),
            ("single node fits", vec![node("a", "4", "8Gi", 110)], vec![], pod("p", &[("1", "1Gi")]), Ok("a")),
            (
                "least allocated wins",
                vec![node("a", "4", "8Gi", 110), node("b", "4", "8Gi", 110)],
                vec![bound(pod("x", &[("2", "4Gi")]), "a")],
                pod("p", &[("1", "1Gi")]),
                Ok("b"),
            ),
            (
                "bound but not running pods count",
                vec![node("a", "2", "8Gi", 110), node("b", "2", "8Gi", 110)],
                vec![bound(pod("x", &[("2", "")]), "a"), bound(pod("y", &[("1500m", "")]), "b")],
                pod("p", &[("500m", "")]),
                Ok("b"),
            ),
            (
                "spread beats a slightly emptier node",
                vec![node("a", "64", "64Gi", 110), node("b", "64", "64Gi", 110)],
                vec![bound(owned(pod("x", &[("", "")]), "rs"), "a")],
                owned(pod("p", &[("", "")]), "rs"),
                Ok("b"),
            ),
            (
                "selector picks the labelled node",
                vec![node("a", "4", "8Gi", 110), labelled(node("b", "4", "8Gi", 110), "disk", "ssd")],
                vec![],
                selective.clone(),
                Ok("b"),
            ),
            (
                "resource exhaustion",
                vec![node("a", "1", "8Gi", 110), node("b", "1", "8Gi", 110), node("c", "1", "1Gi", 110)],
                vec![],
                pod("p", &[("2", "2Gi")]),
                Err("0/3 nodes are available: 1 Insufficient memory, 3 Insufficient cpu."),
            ),
            (
                "mixed reasons, first failing filter per node",
                vec![
                    node("a", "1", "8Gi", 110),
                    tainted(node("b", "4", "8Gi", 110), "dedicated", "gpu"),
                    tainted(node("t", "1", "8Gi", 110), "dedicated", "gpu"),
                    cordoned,
                    unready,
                ],
                vec![],
                pod("p", &[("2", "")]),
                Err("0/5 nodes are available: 1 Insufficient cpu, 1 node(s) were not ready, 1 node(s) were unschedulable, 2 node(s) had untolerated taint {dedicated: gpu}."),
            ),
            (
                "selector mismatch everywhere",
                vec![node("a", "4", "8Gi", 110), labelled(node("b", "4", "8Gi", 110), "disk", "hdd")],
                vec![],
                selective,
                Err("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."),
            ),
            (
                "pod slots",
                vec![node("a", "4", "8Gi", 1)],
                vec![bound(pod("x", &[]), "a")],
                pod("p", &[]),
                Err("0/1 nodes are available: 1 Too many pods."),
            ),
        ];
        let plugins = default_plugins();
        for (name, nodes, pods, p, want) in cases {
            let nodes: Vec<_> = nodes.into_iter().map(Arc::new).collect();
            let pods: Vec<_> = pods.into_iter().map(Arc::new).collect();
            let snapshot = Snapshot::build(&nodes, &pods);
            let got = schedule(&p, &snapshot, &plugins).map_err(|e| e.to_string());
            assert_eq!(
                got,
                want.map(str::to_owned).map_err(str::to_owned),
                "{name}"
            );
        }
    }

    #[test]
    fn a_burst_spreads_and_samples() {
        let nodes: Vec<_> = (0..1000)
            .map(|i| Arc::new(node(&format!("n{i:04}"), "8", "32Gi", 110)))
            .collect();
        let mut snapshot = Snapshot::build(&nodes, &[]);
        let plugins = default_plugins();
        let mut state = CycleState::default();
        let mut used: HashMap<String, usize> = HashMap::new();
        for i in 0..200 {
            let p = Arc::new(pod(&format!("p{i}"), &[("100m", "128Mi")]));
            let before = state.next_start;
            let chosen = schedule_with(&p, &snapshot, &plugins, &mut state).expect("fits");
            // 1000 nodes: 42% are looked at, and the next cycle starts after them.
            assert_eq!(state.next_start, (before + 420) % 1000, "pod {i}");
            snapshot.assume_pod(&p, &chosen);
            *used.entry(chosen).or_insert(0) += 1;
        }
        // Integer scores of nearly empty nodes tie, so a node may get a second pod, but a
        // burst must not pile up.
        let most = used.values().copied().max().unwrap_or(0);
        assert!(most <= 2, "at most two pods per node, got {most}");
        assert!(used.len() >= 150, "spread over {} nodes", used.len());
    }

    #[test]
    fn ties_are_deterministic_per_pod() {
        let nodes: Vec<_> = (0..10)
            .map(|i| Arc::new(node(&format!("n{i}"), "8", "32Gi", 110)))
            .collect();
        let snapshot = Snapshot::build(&nodes, &[]);
        let plugins = default_plugins();
        let mut seen = HashSet::new();
        for i in 0..50 {
            let p = pod(&format!("p{i}"), &[("100m", "")]);
            let a = schedule(&p, &snapshot, &plugins).expect("fits");
            let b = schedule(&p, &snapshot, &plugins).expect("fits");
            assert_eq!(a, b, "same pod, same snapshot, same node");
            seen.insert(a);
        }
        assert!(
            seen.len() >= 5,
            "different pods break ties differently: {seen:?}"
        );
    }
}
