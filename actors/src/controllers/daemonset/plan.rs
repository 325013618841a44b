//! The DaemonSet controller's decision, pure: from a DaemonSet, the nodes, the pods of
//! its namespace, the hash of its current revision, whether its expectations are met
//! and the time, what to write (Kubernetes' `syncDaemonSet`, `manage`,
//! `rollingUpdate` and `updateDaemonSetStatus`).
//!
//! The rules:
//! - **Eligibility** ([`should_run`]): a node should run the daemon pod when the
//!   template's `nodeName` (if any) is the node, the node selector and required node
//!   affinity match it, and the pod tolerates every `NoSchedule`/`NoExecute` taint
//!   (with the tolerations every daemon pod gets, [`daemon_tolerations`]). A pod may
//!   keep running where only `NoSchedule` taints are not tolerated.
//! - **Placement**: pods are created for a node with a required node affinity
//!   `matchFields metadata.name In [node]` and go through the scheduler, as Kubernetes
//!   does since 1.12; a pod's node is its `nodeName`, or that affinity's node until it
//!   is bound.
//! - **Claim**: the DaemonSet's pods are those it controls whose labels it selects;
//!   orphans it selects are adopted (not while it is being deleted), controlled pods it
//!   no longer selects are released.
//! - **Manage** (only when the expectations are met, so a node never gets two pods
//!   from one sync and the next): a node that should run the pod and has none gets
//!   one; failed and succeeded pods are deleted (a new one follows); without surge a
//!   node keeps only its oldest running pod; with surge it keeps the oldest updated pod
//!   and the oldest old pod only while the old one is ready and the new one is not yet
//!   available; a node that should not run it loses its pods; pods whose node no longer
//!   exists are deleted at once, with no grace (what Kubernetes' pod GC does for them).
//!   A failed pod is deleted only outside its node's back-off (1 s after the first,
//!   doubling up to 15 min, as Kubernetes' `failedPodsBackoff`), so a kubelet that
//!   keeps refusing the pod is not fought in a hot loop.
//! - **RollingUpdate** (only when manage had nothing to do): with `maxSurge` 0, old
//!   pods are deleted while fewer than `maxUnavailable` nodes lack an available pod
//!   (unavailable old pods always may go); with `maxSurge`, new pods are created beside
//!   available old ones up to `maxSurge` at once, and an old pod goes once its node's
//!   new pod is available. Budgets are scaled on the number of nodes that should run
//!   the pod, rounding up; both zero counts as `maxUnavailable` 1. `OnDelete` replaces
//!   nothing by itself.
//! - **Status**: counted per node that should run the pod over its oldest pod
//!   (desired, current, ready, available, updated, unavailable), plus nodes running a
//!   pod they should not (misscheduled). `observedGeneration` moves only when the
//!   expectations were met, so `kubectl rollout status` waits for a sync that saw the
//!   new template.
//!
//! Deletions and creations are not mixed in one sync: when both are due, the deletions
//! go first and the creations follow once they are observed, so the expectations always
//! track one kind of write.
//!
//! A pod is updated when its `controller-revision-hash` label is the current hash or
//! its `pod-template-generation` label is the DaemonSet's template generation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::resources::{
    Affinity, DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategyType, Event, IntOrString, Node,
    NodeAffinity, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
    OwnerReference, Pod, PodPhase, PodTemplateSpec, Resource, TaintEffect, Time, Toleration,
    TolerationOperator, CONTROLLER_REVISION_HASH_LABEL, DAEMONSET_TEMPLATE_GENERATION_ANNOTATION,
    DAEMONSET_TEMPLATE_GENERATION_LABEL,
};

use crate::controllers::pods;
use crate::scheduler::plugins::node_affinity::term_matches;

/// The taint keys every daemon pod tolerates (besides `network-unavailable` for
/// host-network pods), with the effect tolerated.
pub const DAEMON_TOLERATIONS: &[(&str, TaintEffect)] = &[
    ("node.kubernetes.io/not-ready", TaintEffect::NoExecute),
    ("node.kubernetes.io/unreachable", TaintEffect::NoExecute),
    ("node.kubernetes.io/disk-pressure", TaintEffect::NoSchedule),
    (
        "node.kubernetes.io/memory-pressure",
        TaintEffect::NoSchedule,
    ),
    ("node.kubernetes.io/pid-pressure", TaintEffect::NoSchedule),
    ("node.kubernetes.io/unschedulable", TaintEffect::NoSchedule),
];
/// Tolerated by daemon pods on the host network.
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
/// The field a daemon pod's node affinity names its node by.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// One write the applier makes, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Patch the pod's owner references to these (adding the controller reference).
    Adopt {
        /// The pod.
        pod: String,
        /// The resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Patch the pod's owner references to these (dropping the controller reference).
    Release {
        /// The pod.
        pod: String,
        /// The resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Delete these pods (name, uid).
    Delete(Vec<(String, String)>),
    /// Delete these pods (name, uid) with no grace: their node is gone.
    ForceDelete(Vec<(String, String)>),
    /// Create one daemon pod on each of these nodes.
    Create(Vec<String>),
    /// Record an Event on the DaemonSet.
    Event {
        /// `Normal` or `Warning`.
        type_: &'static str,
        /// The reason.
        reason: &'static str,
        /// The message.
        message: String,
    },
}

/// What [`plan`] decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The writes, in order.
    pub actions: Vec<Action>,
    /// The status to write when it differs from the stored one (`None`: leave it).
    pub status: Option<DaemonSetStatus>,
    /// Look again after this long regardless of events.
    pub requeue_after: Option<Duration>,
    /// Nodes whose failed pod is deleted in this sync: their back-off moves on.
    pub failed_on: Vec<String>,
}

/// What the plan reads.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The DaemonSet.
    pub ds: &'a DaemonSet,
    /// Every node.
    pub nodes: &'a [Arc<Node>],
    /// The pods of the DaemonSet's namespace.
    pub pods: &'a [Arc<Pod>],
    /// The hash of the current revision.
    pub hash: &'a str,
    /// Whether every earlier create and delete has been observed.
    pub expectations_met: bool,
    /// Per node, until when a failed pod there is left alone (back-off after the last
    /// failed pod deleted there).
    pub failed_backoff: &'a BTreeMap<String, Time>,
    /// Now.
    pub now: Time,
}

/// The DaemonSet's template generation (its annotation), if readable.
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata
        .annotations
        .get(DAEMONSET_TEMPLATE_GENERATION_ANNOTATION)
        .and_then(|g| g.parse().ok())
}

/// Whether `pod` runs the DaemonSet's current template (Kubernetes' `IsPodUpdated`).
pub fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let labels = &pod.metadata.labels;
    let hash_matches = !hash.is_empty()
        && labels
            .get(CONTROLLER_REVISION_HASH_LABEL)
            .map(String::as_str)
            == Some(hash);
    let generation_matches = generation
        .is_some_and(|g| labels.get(DAEMONSET_TEMPLATE_GENERATION_LABEL) == Some(&g.to_string()));
    hash_matches || generation_matches
}

/// The tolerations every daemon pod gets (Kubernetes' `AddOrUpdateDaemonPodTolerations`):
/// not-ready and unreachable `NoExecute` without a time limit, the pressure and
/// unschedulable `NoSchedule` taints, and network-unavailable for host-network pods.
pub fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let network = host_network.then_some((NETWORK_UNAVAILABLE, TaintEffect::NoSchedule));
    DAEMON_TOLERATIONS
        .iter()
        .copied()
        .chain(network)
        .map(|(key, effect)| Toleration {
            key: key.to_owned(),
            operator: Some(TolerationOperator::Exists),
            effect: Some(effect),
            ..Default::default()
        })
        .collect()
}

/// `tolerations` with each of `added` put in place of an existing one for the same key,
/// operator, value and effect, or appended (Kubernetes' `AddOrUpdateTolerationInPodSpec`).
fn add_or_update(tolerations: &mut Vec<Toleration>, added: Vec<Toleration>) {
    for t in added {
        let same = |o: &Toleration| {
            o.key == t.key
                && o.operator.unwrap_or(TolerationOperator::Equal)
                    == t.operator.unwrap_or(TolerationOperator::Equal)
                && o.value == t.value
                && o.effect == t.effect
        };
        match tolerations.iter_mut().find(|o| same(o)) {
            Some(o) => *o = t,
            None => tolerations.push(t),
        }
    }
}

/// The template with the daemon tolerations added.
fn with_daemon_tolerations(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    add_or_update(
        &mut t.spec.tolerations,
        daemon_tolerations(t.spec.host_network),
    );
    t
}

/// Whether `node` should run the DaemonSet's pod, and whether a pod already there may
/// keep running (Kubernetes' `NodeShouldRunDaemonPod`).
pub fn should_run(ds: &DaemonSet, node: &Node) -> (bool, bool) {
    let spec = &ds.spec.template.spec;
    let name = node.metadata.name.as_str();
    if !spec.node_name.is_empty() && spec.node_name != name {
        return (false, false);
    }
    let labels = &node.metadata.labels;
    let selector_fits = spec
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity_fits = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|required| {
            required
                .node_selector_terms
                .iter()
                .any(|t| term_matches(t, name, labels))
        });
    if !selector_fits || !affinity_fits {
        return (false, false);
    }
    let mut tolerations = spec.tolerations.clone();
    add_or_update(&mut tolerations, daemon_tolerations(spec.host_network));
    let untolerated = |effects: &[TaintEffect]| {
        node.spec
            .taints
            .iter()
            .filter(|t| effects.contains(&t.effect))
            .any(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
    };
    if untolerated(&[TaintEffect::NoSchedule, TaintEffect::NoExecute]) {
        return (false, !untolerated(&[TaintEffect::NoExecute]));
    }
    (true, true)
}

/// `affinity` with its required node terms replaced by one naming `node` by
/// `metadata.name` (Kubernetes' `ReplaceDaemonSetPodNodeNameNodeAffinity`).
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let term = NodeSelectorTerm {
        match_expressions: Vec::new(),
        match_fields: vec![NodeSelectorRequirement {
            key: NODE_NAME_FIELD.to_owned(),
            operator: NodeSelectorOperator::In,
            values: vec![node.to_owned()],
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
    affinity
}

/// The node a daemon pod is for: its `nodeName`, or the node its affinity pins it to
/// (Kubernetes' `GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<&str> {
    if !pod.spec.node_name.is_empty() {
        return Some(&pod.spec.node_name);
    }
    let terms = &pod
        .spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().find_map(|r| {
            (r.key == NODE_NAME_FIELD
                && r.operator == NodeSelectorOperator::In
                && r.values.len() == 1)
                .then(|| r.values[0].as_str())
        })
    })
}

/// The daemon pod for `node` (not yet named: generateName `<ds>-`): the template with
/// the revision hash and template generation labels, the daemon tolerations and the
/// node affinity, controlled by the DaemonSet.
pub fn daemon_pod(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let mut template = with_daemon_tolerations(&ds.spec.template);
    let labels = &mut template.metadata.labels;
    if let Some(g) = template_generation(ds) {
        labels.insert(
            DAEMONSET_TEMPLATE_GENERATION_LABEL.to_owned(),
            g.to_string(),
        );
    }
    if !hash.is_empty() {
        labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.to_owned());
    }
    template.spec.affinity = Some(pin_to_node(template.spec.affinity.take(), node));
    pods::pod_from_template(
        &template,
        &ds.metadata.namespace,
        &format!("{}-", ds.metadata.name),
        ds.controller_ref(),
    )
}

/// Whether the selector is empty (selects nothing, with an Event saying so).
fn selects_nothing(ds: &DaemonSet) -> bool {
    let s = &ds.spec.selector;
    s.match_labels.is_empty() && s.match_expressions.is_empty()
}

/// Oldest first; among equal times, running before pending (Kubernetes'
/// `podByCreationTimestampAndPhase`), then by name.
fn oldest_first(a: &&Pod, b: &&Pod) -> std::cmp::Ordering {
    let running = |p: &Pod| p.status.phase == Some(PodPhase::Running);
    (a.metadata.creation_timestamp, !running(a), &a.metadata.name).cmp(&(
        b.metadata.creation_timestamp,
        !running(b),
        &b.metadata.name,
    ))
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    )
}

/// Claims the DaemonSet's pods: the adopt/release actions, and the pods that are its.
fn claim<'a>(ds: &DaemonSet, pods: &'a [Arc<Pod>], actions: &mut Vec<Action>) -> Vec<&'a Pod> {
    let uid = ds.metadata.uid.as_str();
    let deleting = ds.metadata.deletion_timestamp.is_some();
    let mut mine = Vec::new();
    for pod in pods.iter().map(Arc::as_ref) {
        let matches = ds.spec.selector.matches(&pod.metadata.labels);
        match pod.metadata.controller_ref() {
            Some(r) if r.uid == uid => {
                if matches || deleting {
                    mine.push(pod);
                } else if pod.metadata.deletion_timestamp.is_none() {
                    actions.push(Action::Release {
                        pod: pod.metadata.name.clone(),
                        resource_version: pod.metadata.resource_version.clone(),
                        owner_references: pods::without_owner(&pod.metadata.owner_references, uid),
                    });
                }
            }
            Some(_) => {}
            None if matches && !deleting && pod.metadata.deletion_timestamp.is_none() => {
                actions.push(Action::Adopt {
                    pod: pod.metadata.name.clone(),
                    resource_version: pod.metadata.resource_version.clone(),
                    owner_references: pods::with_controller(
                        &pod.metadata.owner_references,
                        ds.controller_ref(),
                    ),
                });
                mine.push(pod);
            }
            None => {}
        }
    }
    mine
}

/// A change of a ControllerRevision's owner references ([`claim_revisions`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionClaim {
    /// The revision.
    pub name: String,
    /// The resourceVersion the decision was based on.
    pub resource_version: String,
    /// The new owner references.
    pub owner_references: Vec<OwnerReference>,
    /// Adopted (true) or released (false).
    pub adopt: bool,
}

/// Kubernetes' `ClaimControllerRevisions`: orphaned revisions the DaemonSet selects are
/// adopted, revisions it controls but no longer selects are released.
pub fn claim_revisions(
    ds: &DaemonSet,
    revisions: &[Arc<rudder_protocol::resources::ControllerRevision>],
) -> Vec<RevisionClaim> {
    let uid = ds.metadata.uid.as_str();
    if ds.metadata.deletion_timestamp.is_some() || selects_nothing(ds) {
        return Vec::new();
    }
    revisions
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .filter_map(|r| {
            let meta = &r.metadata;
            let matches = ds.spec.selector.matches(&meta.labels);
            let (adopt, refs) = match meta.controller_ref() {
                Some(c) if c.uid == uid && !matches => {
                    (false, pods::without_owner(&meta.owner_references, uid))
                }
                None if matches => (
                    true,
                    pods::with_controller(&meta.owner_references, ds.controller_ref()),
                ),
                _ => return None,
            };
            Some(RevisionClaim {
                name: meta.name.clone(),
                resource_version: meta.resource_version.clone(),
                owner_references: refs,
                adopt,
            })
        })
        .collect()
}

/// The DaemonSet's pods by node (pods both finished and being deleted left out; pods
/// with no node at all too).
fn by_node<'a>(mine: &[&'a Pod]) -> BTreeMap<String, Vec<&'a Pod>> {
    let mut out: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for &pod in mine {
        if is_terminal(pod) && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(node) = target_node(pod) {
            out.entry(node.to_owned()).or_default().push(pod);
        }
    }
    for pods in out.values_mut() {
        pods.sort_by(oldest_first);
    }
    out
}

fn victim(pod: &Pod) -> (String, String) {
    (pod.metadata.name.clone(), pod.metadata.uid.clone())
}

/// The rolling-update budgets `(maxSurge, maxUnavailable)` for `desired` nodes.
pub fn budgets(ds: &DaemonSet, desired: i32) -> (usize, usize) {
    let ru = ds.spec.update_strategy.rolling_update.as_ref();
    let scaled = |v: Option<&IntOrString>, default: i32| {
        v.map_or(Ok(default), |v| v.scaled_value(desired, true))
            .unwrap_or(default)
            .max(0)
    };
    let surge = scaled(ru.and_then(|r| r.max_surge.as_ref()), 0);
    let mut unavailable = scaled(ru.and_then(|r| r.max_unavailable.as_ref()), 1);
    if desired > 0 && surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (
        usize::try_from(surge).unwrap_or(0),
        usize::try_from(unavailable).unwrap_or(0),
    )
}

/// Decides what to do (see the module docs).
pub fn plan(input: Input<'_>) -> Plan {
    let Input {
        ds,
        nodes,
        pods,
        hash,
        expectations_met,
        failed_backoff,
        now,
    } = input;
    let mut out = Plan::default();
    if selects_nothing(ds) {
        out.actions.push(Action::Event {
            type_: Event::WARNING,
            reason: "SelectingAll",
            message: "This daemon set is selecting all pods. A non-empty selector is required."
                .into(),
        });
        return out;
    }
    if ds.metadata.deletion_timestamp.is_some() {
        return out;
    }
    let mine = claim(ds, pods, &mut out.actions);
    let node_pods = by_node(&mine);
    let generation = template_generation(ds);
    let min_ready = ds.spec.min_ready_seconds;

    if expectations_met {
        let (creates, deletes, events) = manage(
            ds,
            nodes,
            &node_pods,
            (hash, generation),
            (failed_backoff, &mut out),
            now,
        );
        let managed = !creates.is_empty()
            || !deletes.is_empty()
            || events.iter().any(|a| matches!(a, Action::ForceDelete(_)));
        out.actions.extend(events);
        let (creates, deletes) = if !managed
            && ds.spec.update_strategy.type_ != Some(DaemonSetUpdateStrategyType::OnDelete)
        {
            rolling_update(ds, nodes, &node_pods, hash, generation, now)
        } else {
            (creates, deletes)
        };
        // One kind of write per sync: the expectations then wait for exactly it, and
        // creations come in the sync after the deletions were seen.
        if !deletes.is_empty() {
            out.actions.push(Action::Delete(deletes));
        } else if !creates.is_empty() {
            out.actions.push(Action::Create(creates));
        }
    }

    let status = status(
        ds,
        nodes,
        &node_pods,
        hash,
        generation,
        expectations_met,
        now,
    );
    if min_ready > 0 && status.number_ready != status.number_available {
        let again = Duration::from_secs(u64::from(min_ready.unsigned_abs()));
        out.requeue_after = Some(out.requeue_after.map_or(again, |d| d.min(again)));
    }
    if status != ds.status {
        out.status = Some(status);
    }
    out
}

type Manage = (Vec<String>, Vec<(String, String)>, Vec<Action>);

/// Kubernetes' `manage` over every node (`podsShouldBeOnNode`), plus the pods of nodes
/// that are gone.
fn manage(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    (hash, generation): (&str, Option<i64>),
    (backoff, out): (&BTreeMap<String, Time>, &mut Plan),
    now: Time,
) -> Manage {
    let (surge, _) = budgets(ds, 1);
    let allows_surge = surge > 0;
    let mut creates = Vec::new();
    let mut deletes = Vec::new();
    let mut events = Vec::new();
    let mut sorted: Vec<&Arc<Node>> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for node in sorted {
        let name = node.metadata.name.as_str();
        let (run, keep) = should_run(ds, node);
        let here = node_pods.get(name);
        match (run, keep, here) {
            (true, _, None) => creates.push(name.to_owned()),
            (_, true, Some(here)) => {
                let mut running = Vec::new();
                for pod in here {
                    if pod.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    match pod.status.phase {
                        Some(PodPhase::Failed) => {
                            // The kubelet may keep refusing the pod: wait between tries.
                            if let Some(until) = backoff.get(name).filter(|u| **u > now) {
                                let wait = Duration::from_secs(
                                    u64::try_from(until.0 - now.0).unwrap_or(1),
                                );
                                out.requeue_after =
                                    Some(out.requeue_after.map_or(wait, |d| d.min(wait)));
                                continue;
                            }
                            if !out.failed_on.iter().any(|n| n == name) {
                                out.failed_on.push(name.to_owned());
                            }
                            events.push(Action::Event {
                                type_: Event::WARNING,
                                reason: "FailedDaemonPod",
                                message: format!(
                                    "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                                    pod.metadata.namespace, pod.metadata.name
                                ),
                            });
                            deletes.push(victim(pod));
                        }
                        Some(PodPhase::Succeeded) => deletes.push(victim(pod)),
                        _ => running.push(*pod),
                    }
                }
                if !allows_surge {
                    // Only the oldest pod stays.
                    deletes.extend(running.iter().skip(1).map(|p| victim(p)));
                    continue;
                }
                if running.len() <= 1 {
                    if running.is_empty() && run {
                        creates.push(name.to_owned());
                    }
                    continue;
                }
                // Surging: at most the oldest updated pod and the oldest old pod.
                let (mut oldest_new, mut oldest_old) = (None, None);
                for pod in running {
                    let slot = if is_updated(pod, hash, generation) {
                        &mut oldest_new
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(pod);
                    } else {
                        deletes.push(victim(pod));
                    }
                }
                if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
                    if !old.is_ready() || pods::is_available(new, ds.spec.min_ready_seconds, now) {
                        deletes.push(victim(old));
                    }
                }
            }
            (false, false, Some(here)) => deletes.extend(
                here.iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .map(|p| victim(p)),
            ),
            _ => {}
        }
    }
    // Pods for nodes that no longer exist: no kubelet will ever finish them, so they go
    // at once, terminating or not (what Kubernetes' pod GC does for them).
    let gone: Vec<(String, String)> = node_pods
        .iter()
        .filter(|(node, _)| !nodes.iter().any(|n| &n.metadata.name == *node))
        .flat_map(|(_, here)| here.iter().map(|p| victim(p)))
        .collect();
    if !gone.is_empty() {
        events.push(Action::ForceDelete(gone));
    }
    (creates, deletes, events)
}

/// The updated and the old pod of a node, or `None` when it has more than one of either
/// (Kubernetes' `findUpdatedPodsOnNode`).
fn split_on_node<'a>(
    here: &[&'a Pod],
    hash: &str,
    generation: Option<i64>,
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let (mut new, mut old) = (None, None);
    for pod in here
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let slot = if is_updated(pod, hash, generation) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(*pod);
    }
    Some((new, old))
}

/// Kubernetes' `rollingUpdate`: the old pods to delete and the nodes to surge onto.
fn rolling_update(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    generation: Option<i64>,
    now: Time,
) -> (Vec<String>, Vec<(String, String)>) {
    let min_ready = ds.spec.min_ready_seconds;
    let available = |p: &Pod| pods::is_available(p, min_ready, now);
    // Every node that should run the pod, with its pods (none for some).
    let mut per_node: BTreeMap<&str, Vec<&Pod>> = node_pods
        .iter()
        .map(|(n, p)| (n.as_str(), p.clone()))
        .collect();
    let mut desired = 0;
    for node in nodes {
        if should_run(ds, node).0 {
            desired += 1;
            per_node.entry(node.metadata.name.as_str()).or_default();
        }
    }
    let (max_surge, max_unavailable) = budgets(ds, desired);
    let node_of = |name: &str| nodes.iter().find(|n| n.metadata.name == name);

    if max_surge == 0 {
        let mut unavailable: usize = 0;
        let mut replace = Vec::new();
        let mut candidates = Vec::new();
        for here in per_node.values() {
            let Some((new, old)) = split_on_node(here, hash, generation) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !available(old) {
                        replace.push(victim(old));
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(victim(old));
                    }
                }
            }
        }
        let room = max_unavailable
            .saturating_sub(unavailable)
            .min(candidates.len());
        replace.extend(candidates.into_iter().take(room));
        return (Vec::new(), replace);
    }

    let mut deletes = Vec::new();
    let mut sunset = Vec::new();
    let mut allowed = Vec::new();
    let mut candidates = Vec::new();
    let (mut surging, mut n_available): (usize, usize) = (0, 0);
    for (&name, here) in &per_node {
        let Some((new, old)) = split_on_node(here, hash, generation) else {
            surging += 1;
            continue;
        };
        if let Some(p) = old.or(new) {
            if available(p) {
                n_available += 1;
            }
        }
        let runs = || node_of(name).is_some_and(|n| should_run(ds, n).0);
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if !available(old) {
                    if runs() {
                        allowed.push(name.to_owned());
                    } else {
                        deletes.push(victim(old));
                    }
                } else if !runs() {
                    sunset.push(victim(old));
                } else if surging < max_surge {
                    candidates.push(name.to_owned());
                }
            }
            (Some(new), Some(old)) => {
                if available(new) {
                    deletes.push(victim(old));
                } else {
                    surging += 1;
                }
            }
        }
    }
    // Pods on nodes leaving the set go only while enough others are available.
    let deletable = n_available.saturating_sub(usize::try_from(desired).unwrap_or(0));
    deletes.extend(sunset.into_iter().take(deletable));
    let room = max_surge.saturating_sub(surging).min(candidates.len());
    allowed.extend(candidates.into_iter().take(room));
    (allowed, deletes)
}

/// Kubernetes' `updateDaemonSetStatus` counts.
fn status(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    generation: Option<i64>,
    observed: bool,
    now: Time,
) -> DaemonSetStatus {
    let mut s = ds.status.clone();
    let (mut desired, mut current, mut misscheduled) = (0, 0, 0);
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    for node in nodes {
        let (run, _) = should_run(ds, node);
        let here = node_pods.get(&node.metadata.name).filter(|p| !p.is_empty());
        match (run, here) {
            (true, None) => desired += 1,
            (true, Some(here)) => {
                desired += 1;
                current += 1;
                let pod = here[0];
                if pod.is_ready() {
                    ready += 1;
                    if pods::is_available(pod, ds.spec.min_ready_seconds, now) {
                        available += 1;
                    }
                }
                if is_updated(pod, hash, generation) {
                    updated += 1;
                }
            }
            (false, Some(_)) => misscheduled += 1,
            (false, None) => {}
        }
    }
    s.desired_number_scheduled = desired;
    s.current_number_scheduled = current;
    s.number_misscheduled = misscheduled;
    s.number_ready = ready;
    s.number_available = available;
    s.updated_number_scheduled = updated;
    s.number_unavailable = desired - available;
    if observed {
        s.observed_generation = ds.metadata.generation;
    }
    s
}
