//! Preemption, after Kubernetes' DefaultPreemption post-filter: when no node fits a pod,
//! find a node where evicting pods of lower priority lets it fit, and which ones.
//!
//! A pure function of the pod, the snapshot, the plugins and the cycle's
//! [`FitError`]; the scheduler loop applies the [`Outcome`] (nominate the pod, mark and
//! delete the victims, write the events). As in Kubernetes:
//!
//! 1. **Eligibility.** A pod with `preemptionPolicy: Never` never preempts. A pod already
//!    nominated to a node where a lower-priority pod is still terminating because of an
//!    earlier preemption waits for it (unless that node now rejects it for a reason
//!    preemption cannot resolve).
//! 2. **Candidates.** Only nodes whose rejection was resolvable (not taints, selectors,
//!    node affinity, a missing topology label, ...) are tried; the others count as
//!    `Preemption is not helpful for scheduling`. They are tried from a random offset
//!    (Kubernetes' `GetOffsetAndNumCandidates`, so that successive preemptions do not
//!    all evict on the same nodes), wrapping around, until `max(10% of them, 100)`
//!    candidates are found.
//! 3. **Victims on a node.** Remove every pod of lower priority; if the pod still does
//!    not fit, the node's reason is the filters'; if there was no such pod, `No
//!    preemption victims found for incoming pod`. Otherwise reprieve as many as possible:
//!    first the pods whose eviction would violate a PodDisruptionBudget (a budget of the
//!    pod's namespace whose non-empty selector matches it, whose `disruptionsAllowed`,
//!    counted down over the node's candidates in importance order, would go below zero;
//!    pods already in its `disruptedPods` do not count), then the others, each group most
//!    important first (higher priority, then earlier start): put each back and keep it if
//!    the pod still fits. Violating pods that stay victims are counted. Filters run
//!    through the plugins' PreFilter data, updated with `remove_pod`/`add_pod`, and count
//!    pods nominated to the node. Budgets are respected as far as possible, not
//!    guaranteed, as in Kubernetes.
//! 4. **The node.** A node needing no victims at once; else the fewest budget
//!    violations, then the lowest highest-victim priority, then the smallest sum of victim
//!    priorities, then the fewest victims, then the latest start among the
//!    highest-priority victims, then the first found.
//!
//! [`preempt`] draws the offset; [`preempt_from`] takes it, for tests and simulations.
//!
//! With no candidate, the message is a second `0/N nodes are available: ...` over the
//! per-node reasons above, prefixed `preemption: `, and any nomination is cleared.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use rudder_protocol::resources::{
    ConditionStatus, Pod, PodDisruptionBudget, PreemptionPolicy, Time,
};

use super::cycle::{filter_with_nominated, pre_filter, FitError};
use super::framework::{Plugins, PodInfo, Unfit};
use super::snapshot::{pod_key, NodeInfo, PodRecord, Snapshot};

/// A node where preemption found no pod of lower priority.
pub const REASON_NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// A node that rejected the pod for a reason preemption cannot resolve.
pub const REASON_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// The pod's policy forbids preemption.
pub const NOT_ELIGIBLE_NEVER: &str = "not eligible due to preemptionPolicy=Never.";
/// An earlier preemption for the pod is still under way.
pub const NOT_ELIGIBLE_TERMINATING: &str =
    "not eligible due to a terminating pod on the nominated node.";
/// The condition type Kubernetes puts on a pod about to be disrupted.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// Its reason when the scheduler preempts the pod.
pub const REASON_PREEMPTION_BY_SCHEDULER: &str = "PreemptionByScheduler";
/// The fewest candidate nodes tried (Kubernetes' `minCandidateNodesAbsolute`).
pub const MIN_CANDIDATE_NODES: usize = 100;
/// The share of nodes tried, in percent (`minCandidateNodesPercentage`).
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;

/// A node and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// The victims, most important first.
    pub victims: Vec<Arc<PodRecord>>,
    /// How many victims' eviction violates a PodDisruptionBudget.
    pub pdb_violations: usize,
}

/// What preemption decided.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Nominate the pod to the candidate's node and evict its victims.
    Preempt(Candidate),
    /// Nothing to do; `message` goes after the cycle's reasons, and `clear_nomination`
    /// says whether the pod's nominated node (if any) no longer holds.
    Failed {
        /// `preemption: ...`.
        message: String,
        /// Whether to clear `status.nominatedNodeName`.
        clear_nomination: bool,
    },
}

/// Whether `pod` is terminating because the scheduler preempted it.
pub fn terminating_by_preemption(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && pod.status.conditions.iter().any(|c| {
            c.type_ == DISRUPTION_TARGET
                && c.status == ConditionStatus::True
                && c.reason == REASON_PREEMPTION_BY_SCHEDULER
        })
}

fn failed(message: impl Into<String>, clear_nomination: bool) -> Outcome {
    Outcome::Failed {
        message: format!("preemption: {}", message.into()),
        clear_nomination,
    }
}

/// How many candidates to find among `n` potential nodes (Kubernetes'
/// `calculateNumCandidates`).
pub fn num_candidates(n: usize) -> usize {
    (n * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES)
        .min(n)
}

/// Where to start among `n` potential nodes, drawn at random, and how many candidates
/// to find (Kubernetes' `GetOffsetAndNumCandidates`).
pub fn offset_and_num_candidates(n: usize) -> (usize, usize) {
    let offset = if n == 0 {
        0
    } else {
        rand::Rng::gen_range(&mut rand::thread_rng(), 0..n)
    };
    (offset, num_candidates(n))
}

/// What preemption reads besides the snapshot: the cluster's PodDisruptionBudgets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budgets<'a> {
    /// Every PodDisruptionBudget the scheduler knows.
    pub pdbs: &'a [Arc<PodDisruptionBudget>],
}

/// Decides preemption for `pod`, which fit on no node for the reasons in `fit`, trying
/// the potential nodes from a random offset.
pub fn preempt(
    pod: &Pod,
    snapshot: &Snapshot,
    plugins: &Plugins,
    budgets: Budgets<'_>,
    fit: &FitError,
) -> Outcome {
    let (offset, _) = offset_and_num_candidates(fit.resolvable.len());
    preempt_from(pod, snapshot, plugins, budgets, fit, offset)
}

/// [`preempt`], trying the potential nodes (`fit.resolvable`) from index `offset` on.
pub fn preempt_from(
    pod: &Pod,
    snapshot: &Snapshot,
    plugins: &Plugins,
    budgets: Budgets<'_>,
    fit: &FitError,
    offset: usize,
) -> Outcome {
    if pod.spec.preemption_policy == Some(PreemptionPolicy::Never) {
        return failed(NOT_ELIGIBLE_NEVER, false);
    }
    let key = pod_key(pod);
    let info = pre_filter(pod, snapshot, plugins);
    let nominated = if pod.status.nominated_node_name.is_empty() {
        snapshot.nominated_node(&key).unwrap_or_default().to_owned()
    } else {
        pod.status.nominated_node_name.clone()
    };
    if !nominated.is_empty() {
        if let Some(node) = snapshot.node(&nominated) {
            let unresolvable = !fit.resolvable.contains(&nominated);
            if !unresolvable
                && node
                    .pods()
                    .iter()
                    .any(|r| r.priority < info.priority && terminating_by_preemption(&r.pod))
            {
                return failed(NOT_ELIGIBLE_TERMINATING, false);
            }
        }
    }

    let mut reasons: HashMap<Cow<'static, str>, usize> = HashMap::new();
    let not_helpful = fit.num_nodes.saturating_sub(fit.resolvable.len());
    if not_helpful > 0 {
        reasons.insert(Cow::Borrowed(REASON_NOT_HELPFUL), not_helpful);
    }
    let potential = &fit.resolvable;
    let want = num_candidates(potential.len());
    let mut candidates: Vec<Candidate> = Vec::new();
    for i in 0..potential.len() {
        if candidates.len() >= want {
            break;
        }
        let name = &potential[(offset + i) % potential.len()];
        let Some(node) = snapshot.node(name) else {
            continue;
        };
        match select_victims(&info, node, snapshot, plugins, budgets) {
            Ok((victims, pdb_violations)) => candidates.push(Candidate {
                node: name.clone(),
                victims,
                pdb_violations,
            }),
            Err(unfit) => {
                for r in unfit.into_reasons() {
                    *reasons.entry(r).or_insert(0) += 1;
                }
            }
        }
    }
    match pick_one(candidates) {
        Some(c) => Outcome::Preempt(c),
        None => failed(
            FitError {
                num_nodes: fit.num_nodes,
                reasons,
                ..Default::default()
            }
            .to_string(),
            true,
        ),
    }
}

/// The most important first: higher priority, then the earlier start (Kubernetes'
/// `MoreImportantPod`; a pod not started yet counts as starting now).
fn importance(r: &PodRecord) -> (std::cmp::Reverse<i32>, Time) {
    (
        std::cmp::Reverse(r.priority),
        r.pod.status.start_time.unwrap_or_else(Time::now),
    )
}

/// Splits `pods` (most important first) into those whose eviction would violate a
/// PodDisruptionBudget and the others, both in their order (Kubernetes'
/// `filterPodsWithPDBViolation`).
fn split_by_budget(
    pods: Vec<Arc<PodRecord>>,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> (Vec<Arc<PodRecord>>, Vec<Arc<PodRecord>>) {
    let mut allowed: Vec<i64> = pdbs
        .iter()
        .map(|b| i64::from(b.status.disruptions_allowed))
        .collect();
    let (mut violating, mut other) = (Vec::new(), Vec::new());
    for r in pods {
        let meta = &r.pod.metadata;
        let mut violated = false;
        // A pod with no labels matches no budget.
        if !meta.labels.is_empty() {
            for (b, left) in pdbs.iter().zip(allowed.iter_mut()) {
                if b.metadata.namespace != meta.namespace {
                    continue;
                }
                // A budget with no or an empty selector matches nothing here.
                let Some(sel) = b.spec.selector.as_ref() else {
                    continue;
                };
                if (sel.match_labels.is_empty() && sel.match_expressions.is_empty())
                    || !sel.matches(&meta.labels)
                {
                    continue;
                }
                // Already counted by the API server's eviction.
                if b.status.disrupted_pods.contains_key(&meta.name) {
                    continue;
                }
                *left -= 1;
                violated |= *left < 0;
            }
        }
        if violated {
            violating.push(r);
        } else {
            other.push(r);
        }
    }
    (violating, other)
}

/// The fewest pods of lower priority to evict from `node` so that the pod fits, and how
/// many of them violate a PodDisruptionBudget.
pub fn select_victims(
    pod: &PodInfo<'_>,
    node: &NodeInfo,
    snapshot: &Snapshot,
    plugins: &Plugins,
    budgets: Budgets<'_>,
) -> Result<(Vec<Arc<PodRecord>>, usize), Unfit> {
    let mut node = node.clone();
    let mut info = pod.clone();
    let mut potential: Vec<Arc<PodRecord>> = node
        .pods()
        .iter()
        .filter(|r| r.priority < info.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Unfit::unresolvable(REASON_NO_VICTIMS));
    }
    for v in &potential {
        node.remove_record(&v.key());
        for f in &plugins.filters {
            f.remove_pod(&mut info, v, &node);
        }
    }
    filter_with_nominated(plugins, &info, &node, snapshot)?;
    potential.sort_by_key(|r| importance(r));
    let (violating, other) = split_by_budget(potential, budgets.pdbs);
    let both = !violating.is_empty() && !other.is_empty();
    let mut victims = Vec::new();
    let mut violations = 0;
    for (is_violating, v) in violating
        .into_iter()
        .map(|v| (true, v))
        .chain(other.into_iter().map(|v| (false, v)))
    {
        node.add_record(v.clone());
        for f in &plugins.filters {
            f.add_pod(&mut info, &v, &node);
        }
        if filter_with_nominated(plugins, &info, &node, snapshot).is_err() {
            node.remove_record(&v.key());
            for f in &plugins.filters {
                f.remove_pod(&mut info, &v, &node);
            }
            victims.push(v);
            violations += usize::from(is_violating);
        }
    }
    if both {
        victims.sort_by_key(|r| importance(r));
    }
    Ok((victims, violations))
}

/// Kubernetes' `pickOneNodeForPreemption` (see the module docs).
pub fn pick_one(mut candidates: Vec<Candidate>) -> Option<Candidate> {
    if let Some(i) = candidates.iter().position(|c| c.victims.is_empty()) {
        return Some(candidates.swap_remove(i));
    }
    fn keep_min<K: Ord>(cs: &mut Vec<Candidate>, key: impl Fn(&Candidate) -> K) {
        if let Some(best) = cs.iter().map(&key).min() {
            cs.retain(|c| key(c) == best);
        }
    }
    keep_min(&mut candidates, |c| c.pdb_violations);
    let highest = |c: &Candidate| c.victims.first().map_or(i32::MIN, |v| v.priority);
    keep_min(&mut candidates, highest);
    keep_min(&mut candidates, |c| {
        c.victims
            .iter()
            .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
            .sum::<i64>()
    });
    keep_min(&mut candidates, |c| c.victims.len());
    // The latest "earliest start among the highest-priority victims" wins.
    keep_min(&mut candidates, |c| {
        let top = highest(c);
        std::cmp::Reverse(
            c.victims
                .iter()
                .filter(|v| v.priority == top)
                .map(|v| v.pod.status.start_time.unwrap_or_else(Time::now))
                .min(),
        )
    });
    candidates.into_iter().next()
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::{
        Affinity, LabelSelector, Node, PodAffinityTerm, PodAntiAffinity, Taint, TaintEffect,
    };

    use super::*;
    use crate::scheduler::cycle::schedule;
    use crate::scheduler::plugins::default_plugins;
    use crate::scheduler::snapshot::tests::{bound, node, pod, with_labels};

    fn prio(mut p: Pod, priority: i32) -> Pod {
        p.spec.priority = Some(priority);
        p
    }

    fn named(name: &str, cpu: &str, priority: i32) -> Pod {
        prio(pod(name, &[(cpu, "")]), priority)
    }

    fn run(nodes: Vec<Node>, pods: Vec<Pod>, p: &Pod) -> (String, Outcome) {
        run_with_budgets(nodes, pods, p, &[])
    }

    fn run_with_budgets(
        nodes: Vec<Node>,
        pods: Vec<Pod>,
        p: &Pod,
        pdbs: &[Arc<PodDisruptionBudget>],
    ) -> (String, Outcome) {
        let nodes: Vec<_> = nodes.into_iter().map(Arc::new).collect();
        let pods: Vec<_> = pods.into_iter().map(Arc::new).collect();
        let s = Snapshot::build(&nodes, &pods);
        let plugins = default_plugins();
        let fit = schedule(p, &s, &plugins).expect_err("does not fit");
        let outcome = preempt(p, &s, &plugins, Budgets { pdbs }, &fit);
        (fit.to_string(), outcome)
    }

    /// A budget in `default` over `app=<app>` allowing `allowed` disruptions, with
    /// `disrupted` already counted.
    fn budget(app: &str, allowed: i32, disrupted: &[&str]) -> Arc<PodDisruptionBudget> {
        let mut b = PodDisruptionBudget::default();
        b.metadata.name = format!("pdb-{app}");
        b.metadata.namespace = "default".into();
        b.spec.selector = Some(LabelSelector {
            match_labels: [("app".to_owned(), app.to_owned())].into(),
            ..Default::default()
        });
        b.status.disruptions_allowed = allowed;
        b.status.disrupted_pods = disrupted
            .iter()
            .map(|n| ((*n).to_owned(), Time::now()))
            .collect();
        Arc::new(b)
    }

    fn app(mut p: Pod, app: &str) -> Pod {
        p.metadata.labels.insert("app".into(), app.into());
        p
    }

    #[test]
    fn budgets_steer_victims_and_nodes() {
        let in_pod = named("in", "1", 10);
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Vec<Node>,
            Vec<Pod>,
            Vec<Arc<PodDisruptionBudget>>,
            (&str, Vec<&str>),
        )> = vec![
            (
                "without a budget the lowest priority goes",
                vec![node("a", "2", "8Gi", 110)],
                vec![
                    bound(app(named("db", "1", 1), "db"), "a"),
                    bound(named("batch", "1", 2), "a"),
                ],
                vec![],
                ("a", vec!["db"]),
            ),
            (
                "a protected pod is reprieved first, so the unprotected one goes",
                vec![node("a", "2", "8Gi", 110)],
                vec![
                    bound(app(named("db", "1", 1), "db"), "a"),
                    bound(named("batch", "1", 2), "a"),
                ],
                vec![budget("db", 0, &[])],
                ("a", vec!["batch"]),
            ),
            (
                "a budget with room does not protect",
                vec![node("a", "2", "8Gi", 110)],
                vec![
                    bound(app(named("db", "1", 1), "db"), "a"),
                    bound(named("batch", "1", 2), "a"),
                ],
                vec![budget("db", 1, &[])],
                ("a", vec!["db"]),
            ),
            (
                "a pod the budget already counts as disrupted is not a violation",
                vec![node("a", "2", "8Gi", 110)],
                vec![
                    bound(app(named("db", "1", 1), "db"), "a"),
                    bound(named("batch", "1", 2), "a"),
                ],
                vec![budget("db", 0, &["db"])],
                ("a", vec!["db"]),
            ),
            (
                "the node without a violation wins over a lower victim priority",
                vec![node("a", "1", "8Gi", 110), node("b", "1", "8Gi", 110)],
                vec![
                    bound(app(named("db", "1", 1), "db"), "a"),
                    bound(named("batch", "1", 5), "b"),
                ],
                vec![budget("db", 0, &[])],
                ("b", vec!["batch"]),
            ),
            (
                "a violation when there is no other way",
                vec![node("a", "1", "8Gi", 110)],
                vec![bound(app(named("db", "1", 1), "db"), "a")],
                vec![budget("db", 0, &[])],
                ("a", vec!["db"]),
            ),
        ];
        for (name, nodes, pods, pdbs, (want, want_victims)) in cases {
            let (_, outcome) = run_with_budgets(nodes, pods, &in_pod, &pdbs);
            let (got, got_victims) = victims(&outcome);
            assert_eq!(got, want, "{name}");
            assert_eq!(got_victims, want_victims, "{name}");
        }
    }

    #[test]
    fn budgets_count_down_over_a_nodes_pods() {
        // One disruption allowed over two replicas on the node: the more important one
        // keeps the budget, the other violates it.
        let pods = [
            Arc::new(app(named("web-1", "1", 2), "web")),
            Arc::new(app(named("web-2", "1", 1), "web")),
            Arc::new(named("other", "1", 1)),
        ];
        let records: Vec<Arc<PodRecord>> = pods
            .iter()
            .map(|p| Arc::new(PodRecord::new(p.clone(), "a")))
            .collect();
        let (violating, other) = split_by_budget(records, &[budget("web", 1, &[])]);
        let names = |rs: &[Arc<PodRecord>]| -> Vec<String> {
            rs.iter().map(|r| r.pod.metadata.name.clone()).collect()
        };
        assert_eq!(names(&violating), ["web-2"]);
        assert_eq!(names(&other), ["web-1", "other"]);
    }

    fn victims(o: &Outcome) -> (String, Vec<String>) {
        match o {
            Outcome::Preempt(c) => (
                c.node.clone(),
                c.victims
                    .iter()
                    .map(|v| v.pod.metadata.name.clone())
                    .collect(),
            ),
            Outcome::Failed { message, .. } => (message.clone(), vec![]),
        }
    }

    #[test]
    fn victims_and_nodes() {
        let anti = {
            let mut p = with_anti_web(named("in", "", 10));
            p.metadata.labels.insert("app".into(), "web".into());
            p
        };
        let mut web_low = named("web-low", "", 1);
        web_low.metadata.labels.insert("app".into(), "web".into());
        let mut never = named("in", "1", 10);
        never.spec.preemption_policy = Some(PreemptionPolicy::Never);
        let mut tainted = node("t", "2", "8Gi", 110);
        tainted.spec.taints.push(Taint {
            key: "k".into(),
            value: "v".into(),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<Node>, Vec<Pod>, Pod, (&str, Vec<&str>))> = vec![
            (
                "the lowest victim is enough; the more important one is reprieved",
                vec![node("a", "2", "8Gi", 110)],
                vec![bound(named("low", "1", 1), "a"), bound(named("mid", "1", 5), "a")],
                named("in", "1", 10),
                ("a", vec!["low"]),
            ),
            (
                "the node with the lowest highest-victim priority",
                vec![node("a", "1", "8Gi", 110), node("b", "1", "8Gi", 110)],
                vec![bound(named("a1", "1", 5), "a"), bound(named("b1", "1", 1), "b")],
                named("in", "1", 10),
                ("b", vec!["b1"]),
            ),
            (
                "then the fewest victims",
                vec![node("a", "2", "8Gi", 110), node("b", "2", "8Gi", 110)],
                vec![
                    bound(named("a1", "1", 1), "a"),
                    bound(named("a2", "1", 1), "a"),
                    bound(named("b1", "2", 1), "b"),
                ],
                named("in", "2", 10),
                ("b", vec!["b1"]),
            ),
            (
                "equal priority is never a victim",
                vec![node("a", "1", "8Gi", 110)],
                vec![bound(named("same", "1", 10), "a")],
                named("in", "1", 10),
                ("preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.", vec![]),
            ),
            (
                "evicting every lower pod is not enough",
                vec![node("a", "2", "8Gi", 110)],
                vec![bound(named("low", "1", 1), "a"), bound(named("high", "1", 20), "a")],
                named("in", "2", 10),
                ("preemption: 0/1 nodes are available: 1 Insufficient cpu.", vec![]),
            ),
            (
                "untolerated taints are not helped by preemption",
                vec![tainted, node("a", "1", "8Gi", 110)],
                vec![bound(named("same", "1", 10), "a")],
                named("in", "1", 10),
                ("preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.", vec![]),
            ),
            (
                "preemptionPolicy Never",
                vec![node("a", "1", "8Gi", 110)],
                vec![bound(named("low", "1", 1), "a")],
                never,
                ("preemption: not eligible due to preemptionPolicy=Never.", vec![]),
            ),
            (
                "anti-affinity resolved by evicting the matching pod",
                vec![with_labels(node("a", "8", "8Gi", 110), &[("kubernetes.io/hostname", "a")])],
                vec![bound(web_low, "a"), bound(named("other", "", 1), "a")],
                anti,
                ("a", vec!["web-low"]),
            ),
        ];
        for (name, nodes, pods, p, (want, want_victims)) in cases {
            let (_, outcome) = run(nodes, pods, &p);
            let (got, got_victims) = victims(&outcome);
            assert_eq!(got, want, "{name}");
            assert_eq!(got_victims, want_victims, "{name}");
        }
    }

    fn with_anti_web(mut p: Pod) -> Pod {
        p.spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: [("app".to_owned(), "web".to_owned())].into(),
                        ..Default::default()
                    }),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        p
    }

    #[test]
    fn full_message_of_a_pending_replica() {
        // Five nodes, one replica each: the sixth has nowhere to go and nobody to evict.
        let nodes: Vec<Node> = (0..5)
            .map(|i| {
                let n = format!("n{i}");
                with_labels(node(&n, "8", "8Gi", 110), &[("kubernetes.io/hostname", &n)])
            })
            .collect();
        let replica = |i: usize| {
            let mut p = with_anti_web(pod(&format!("web-{i}"), &[("", "")]));
            p.metadata.labels.insert("app".into(), "web".into());
            p
        };
        let pods: Vec<Pod> = (0..5)
            .map(|i| bound(replica(i), &format!("n{i}")))
            .collect();
        let (fit, outcome) = run(nodes, pods, &replica(5));
        let Outcome::Failed {
            message,
            clear_nomination,
        } = outcome
        else {
            panic!("no preemption expected");
        };
        assert!(clear_nomination);
        let mut err = FitError {
            num_nodes: 5,
            ..Default::default()
        };
        err.reasons.insert(
            Cow::Borrowed(crate::scheduler::plugins::inter_pod_affinity::REASON_ANTI_AFFINITY),
            5,
        );
        err.post_filter_message = message;
        assert_eq!(
            fit,
            "0/5 nodes are available: 5 node(s) didn't match pod anti-affinity rules."
        );
        assert_eq!(
            err.to_string(),
            "0/5 nodes are available: 5 node(s) didn't match pod anti-affinity rules. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn a_terminating_victim_is_waited_for() {
        let mut victim = bound(named("low", "1", 1), "a");
        victim.metadata.deletion_timestamp = Some(Time::now());
        victim
            .status
            .conditions
            .push(rudder_protocol::resources::PodCondition {
                type_: DISRUPTION_TARGET.into(),
                status: ConditionStatus::True,
                reason: REASON_PREEMPTION_BY_SCHEDULER.into(),
                ..Default::default()
            });
        let mut p = named("in", "1", 10);
        p.status.nominated_node_name = "a".into();
        let (_, outcome) = run(vec![node("a", "1", "8Gi", 110)], vec![victim], &p);
        let (message, _) = victims(&outcome);
        assert_eq!(message, format!("preemption: {NOT_ELIGIBLE_TERMINATING}"));
    }

    #[test]
    fn nominated_pods_hold_their_room() {
        let nodes = vec![
            Arc::new(node("a", "2", "8Gi", 110)),
            Arc::new(node("b", "2", "8Gi", 110)),
        ];
        let mut s = Snapshot::build(&nodes, &[]);
        let plugins = default_plugins();
        let mut waiting = named("waiting", "2", 10);
        waiting.status.nominated_node_name = "a".into();
        s.upsert_pod(&Arc::new(waiting));
        assert_eq!(s.nominated_node("default/waiting"), Some("a"));
        // Lower or equal priority: node a is taken by the nominated pod.
        assert_eq!(schedule(&named("p", "1", 10), &s, &plugins), Ok("b".into()));
        // Higher priority: the nomination does not count.
        let mut scores_a = 0;
        for i in 0..20 {
            if schedule(&named(&format!("h{i}"), "1", 11), &s, &plugins) == Ok("a".into()) {
                scores_a += 1;
            }
        }
        assert!(scores_a > 0, "a higher-priority pod may use node a");
    }

    #[test]
    fn candidates_from_an_offset() {
        // Three equal nodes, one low-priority victim each: the first candidate found wins,
        // so the offset decides, wrapping around.
        let nodes: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|n| Arc::new(node(n, "1", "8Gi", 110)))
            .collect();
        let pods: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|n| Arc::new(bound(named(&format!("low-{n}"), "1", 1), n)))
            .collect();
        let s = Snapshot::build(&nodes, &pods);
        let plugins = default_plugins();
        let p = named("in", "1", 10);
        let fit = schedule(&p, &s, &plugins).expect_err("does not fit");
        for (offset, want) in [(0, "a"), (1, "b"), (2, "c"), (4, "b")] {
            let (got, _) = victims(&preempt_from(
                &p,
                &s,
                &plugins,
                Budgets::default(),
                &fit,
                offset,
            ));
            assert_eq!(got, want, "offset {offset}");
        }
        let cases = [
            ("no nodes", 0, 0),
            ("fewer than 100: all", 50, 50),
            ("10% of 5,000", 5000, 500),
            ("at least 100", 300, 100),
        ];
        for (name, n, want) in cases {
            let (offset, num) = offset_and_num_candidates(n);
            assert_eq!(num, want, "{name}");
            assert!(offset < n.max(1), "{name}: offset {offset}");
        }
    }

    #[test]
    fn picking_a_node() {
        let v = |name: &str, priority: i32, start: i64| {
            let mut p = named(name, "", priority);
            p.status.start_time = Some(Time(start));
            Arc::new(PodRecord::new(Arc::new(p), "n"))
        };
        let c = |node: &str, victims: Vec<Arc<PodRecord>>| Candidate {
            node: node.into(),
            victims,
            pdb_violations: 0,
        };
        let cases: Vec<(&str, Vec<Candidate>, &str)> = vec![
            (
                "no victims at all wins",
                vec![c("a", vec![v("x", 1, 0)]), c("b", vec![])],
                "b",
            ),
            (
                "lowest highest priority",
                vec![
                    c("a", vec![v("x", 5, 0)]),
                    c("b", vec![v("y", 3, 0), v("z", 3, 0)]),
                ],
                "b",
            ),
            (
                "smallest priority sum",
                vec![
                    c("a", vec![v("x", 3, 0), v("y", 2, 0)]),
                    c("b", vec![v("z", 3, 0), v("w", 1, 0)]),
                ],
                "b",
            ),
            (
                "the sum counts every victim",
                vec![
                    c("a", vec![v("x", 3, 0), v("y", -5, 0)]),
                    c("b", vec![v("z", 3, 0)]),
                ],
                "b",
            ),
            (
                "latest start of the top victims",
                vec![c("a", vec![v("x", 3, 100)]), c("b", vec![v("z", 3, 200)])],
                "b",
            ),
            (
                "then the first",
                vec![c("a", vec![v("x", 3, 100)]), c("b", vec![v("z", 3, 100)])],
                "a",
            ),
        ];
        for (name, cs, want) in cases {
            assert_eq!(
                pick_one(cs).map(|c| c.node).as_deref(),
                Some(want),
                "{name}"
            );
        }
    }
}
