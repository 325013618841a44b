//! The node lifecycle controller: notices nodes whose kubelet went silent, marks them,
//! taints them and evicts their pods, as Kubernetes' node lifecycle controller and its
//! taint-based eviction do.
//!
//! A kubelet proves it is alive by renewing the Lease named after its node in namespace
//! `kube-node-lease` (and by the heartbeats of its status conditions). When neither was
//! renewed for the grace period (40 s by default), the node's `Ready`, `MemoryPressure`,
//! `DiskPressure` and `PIDPressure` conditions become `Unknown` (reason
//! `NodeStatusUnknown`, "Kubelet stopped posting node status.").
//!
//! Taints follow the conditions: `Ready=Unknown` gives `node.kubernetes.io/unreachable`
//! (`NoSchedule` and `NoExecute`), `Ready=False` gives `node.kubernetes.io/not-ready`,
//! pressure conditions and `spec.unschedulable` give their `NoSchedule` taints; they go
//! away when the condition clears. Taints of other keys are never touched.
//!
//! Pods on a node with `NoExecute` taints are deleted once their tolerations run out:
//! at the taint's `timeAdded` plus the smallest `tolerationSeconds` of the matching
//! tolerations (at once when some taint is not tolerated; never when the tolerations
//! have no limit). The API server gives every pod 300 s tolerations for the not-ready
//! and unreachable taints at creation (Kubernetes' `DefaultTolerationSeconds`). Because
//! the deadline is computed from `timeAdded`, a restarted controller evicts at the same
//! moment. Pods on a node that is not Ready get their own `Ready` condition set to
//! False, so that Endpoints stop sending them traffic.
//!
//! Evictions are rate limited per zone as in Kubernetes: a node's zone is its
//! `topology.kubernetes.io/region` and `zone` labels; adding the `NoExecute` taint that
//! starts its pods' eviction takes a token from the zone's bucket (burst 1), filled at
//! `eviction_rate` nodes per second while the zone is healthy, at
//! `secondary_eviction_rate` when more than `unhealthy_zone_threshold` of a large
//! zone's nodes are not ready (small zones: not at all), and at the normal rate when
//! the whole zone is down. When every zone is wholly down the controller assumes the
//! fault is its own (the control plane cut off from the nodes), adds no `NoExecute`
//! taints, removes those it added, and evicts nothing ([`Gate::Halt`]).
//!
//! [`plan`] decides for one node from the node, its Lease, its pods, the time and the
//! zone's [`Gate`].

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::names::conditions;
use rudder_protocol::resources::{
    ConditionStatus, Lease, MicroTime, Node, NodeCondition, ObjectReference, Pod, Taint,
    TaintEffect, Time,
};
use serde_json::json;
use tracing::{debug, info};

use super::support::{reference, until, Controller, Recorder, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The component's name.
pub const NAME: &str = "controller/nodelifecycle";

/// The namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = rudder_protocol::names::namespaces::KUBE_NODE_LEASE;
/// Taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint of a cordoned node.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// Default time a node may stay silent before it is marked Unknown.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(40);
/// The toleration seconds Kubernetes' admission gives pods for the not-ready and
/// unreachable taints.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Condition types the controller sets to Unknown on a silent node.
const WATCHED_CONDITIONS: [&str; 4] = [
    conditions::READY,
    conditions::MEMORY_PRESSURE,
    conditions::DISK_PRESSURE,
    conditions::PID_PRESSURE,
];
/// `NoSchedule` taints that mirror a condition being True.
const CONDITION_TAINTS: [(&str, &str); 4] = [
    (
        conditions::MEMORY_PRESSURE,
        "node.kubernetes.io/memory-pressure",
    ),
    (
        conditions::DISK_PRESSURE,
        "node.kubernetes.io/disk-pressure",
    ),
    (conditions::PID_PRESSURE, "node.kubernetes.io/pid-pressure"),
    (
        "NetworkUnavailable",
        "node.kubernetes.io/network-unavailable",
    ),
];

/// The controller's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How long a node may go without a heartbeat before it is marked Unknown.
    pub grace_period: Duration,
    /// Nodes per second whose pods may start being evicted, per healthy zone.
    pub eviction_rate: f64,
    /// The same in a partly disrupted zone larger than `large_cluster_threshold`.
    pub secondary_eviction_rate: f64,
    /// Share of not-ready nodes (above two) from which a zone is partly disrupted.
    pub unhealthy_zone_threshold: f64,
    /// Zones up to this many nodes stop evicting when partly disrupted.
    pub large_cluster_threshold: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            grace_period: DEFAULT_GRACE_PERIOD,
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_threshold: 50,
        }
    }
}

/// The health of a zone, as Kubernetes' node lifecycle controller computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// Most nodes are ready.
    Normal,
    /// More than two nodes, and at least the threshold share, are not ready.
    PartialDisruption,
    /// No node is ready.
    FullDisruption,
}

/// The zone of a node: its region and zone labels (empty when unlabelled).
pub fn zone_of(node: &Node) -> String {
    let label = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| node.metadata.labels.get(*k))
            .cloned()
            .unwrap_or_default()
    };
    let region = label([
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    ]);
    let zone = label([
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    ]);
    format!("{region}:\u{0}:{zone}")
}

/// A zone's state from its ready and not-ready node counts.
pub fn zone_state(ready: usize, not_ready: usize, threshold: f64) -> ZoneState {
    let total = ready + not_ready;
    if not_ready > 0 && ready == 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / total as f64 >= threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// Nodes per second that may start evicting in a zone of `size` nodes in `state`.
pub fn zone_rate(state: ZoneState, size: usize, s: &Settings) -> f64 {
    match state {
        ZoneState::Normal | ZoneState::FullDisruption => s.eviction_rate,
        ZoneState::PartialDisruption if size > s.large_cluster_threshold => {
            s.secondary_eviction_rate
        }
        ZoneState::PartialDisruption => 0.0,
    }
}

/// Whether a node may get new `NoExecute` taints now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Yes.
    Allow,
    /// Not yet: the zone's eviction budget is spent; taints it has stay.
    Defer,
    /// Every zone is wholly down: no `NoExecute` taints at all, no evictions.
    Halt,
}

/// Per-zone token buckets (burst 1) for adding `NoExecute` taints.
#[derive(Debug, Default)]
pub struct ZoneLimiter {
    buckets: std::collections::HashMap<String, (f64, MicroTime)>,
}

impl ZoneLimiter {
    /// Takes a token for `zone` at `rate` per second; `Err(wait)` until the next one.
    pub fn try_take(&mut self, zone: &str, rate: f64, now: MicroTime) -> Result<(), Duration> {
        let (tokens, at) = self.buckets.entry(zone.to_owned()).or_insert((1.0, now));
        let elapsed = now.unix_micros().saturating_sub(at.unix_micros()).max(0) as f64 / 1e6;
        *tokens = (*tokens + elapsed * rate).min(1.0);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else if rate <= 0.0 {
            Err(RECHECK_HELD)
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate).min(RECHECK_HELD))
        }
    }
}

/// How often a node held back by its zone's state or budget is looked at again.
const RECHECK_HELD: Duration = Duration::from_secs(5);

/// A pod, by namespace, name and uid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid (a precondition of the eviction: a new pod of the same name is spared).
    pub uid: String,
}

impl PodRef {
    fn of(pod: &Pod) -> Self {
        PodRef {
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
        }
    }
}

/// An Event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The pod it is about; `None`: the node.
    pub pod: Option<PodRef>,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// The reason, e.g. `NodeNotReady`.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

/// What to do about one node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodePlan {
    /// New `status.conditions` (only when they change).
    pub conditions: Option<Vec<NodeCondition>>,
    /// New `spec.taints` (only when they change).
    pub taints: Option<Vec<Taint>>,
    /// Pods whose Ready condition is to be set False.
    pub mark_not_ready: Vec<PodRef>,
    /// Pods to delete now.
    pub evict: Vec<PodRef>,
    /// Events to record.
    pub notes: Vec<Note>,
    /// When to look at this node again (a grace period or a toleration running out).
    pub next_check: Option<MicroTime>,
}

fn add(t: MicroTime, d: Duration) -> MicroTime {
    MicroTime(t.0.saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
}

/// The node's last sign of life: the later of its Lease renewal and its Ready
/// condition's heartbeat; its creation when it never gave one.
pub fn last_heartbeat(node: &Node, lease: Option<&Lease>) -> Option<MicroTime> {
    let renew = lease.and_then(|l| l.spec.renew_time);
    let ready = NodeCondition::find(&node.status.conditions, conditions::READY)
        .and_then(|c| c.last_heartbeat_time)
        .map(MicroTime::from);
    renew
        .max(ready)
        .or_else(|| node.metadata.creation_timestamp.map(MicroTime::from))
}

/// The conditions of a node that has been silent past its grace period.
fn silenced(node: &Node, now: Time) -> Vec<NodeCondition> {
    let mut conds = node.status.conditions.clone();
    for ty in WATCHED_CONDITIONS {
        match conds.iter_mut().find(|c| c.type_ == ty) {
            Some(c) => {
                if c.status != ConditionStatus::Unknown {
                    c.status = ConditionStatus::Unknown;
                    c.reason = "NodeStatusUnknown".to_owned();
                    c.message = "Kubelet stopped posting node status.".to_owned();
                    c.last_transition_time = Some(now);
                }
            }
            None => conds.push(NodeCondition {
                type_: ty.to_owned(),
                status: ConditionStatus::Unknown,
                last_heartbeat_time: node.metadata.creation_timestamp,
                last_transition_time: Some(now),
                reason: "NodeStatusNeverUpdated".to_owned(),
                message: "Kubelet never posted node status.".to_owned(),
            }),
        }
    }
    conds
}

/// The taints the conditions and `spec.unschedulable` call for: (key, effect).
fn wanted_taints(node: &Node, conds: &[NodeCondition]) -> Vec<(&'static str, TaintEffect)> {
    let mut out = Vec::new();
    match NodeCondition::find(conds, conditions::READY).map(|c| c.status) {
        Some(ConditionStatus::False) => {
            out.push((TAINT_NOT_READY, TaintEffect::NoSchedule));
            out.push((TAINT_NOT_READY, TaintEffect::NoExecute));
        }
        Some(ConditionStatus::Unknown) => {
            out.push((TAINT_UNREACHABLE, TaintEffect::NoSchedule));
            out.push((TAINT_UNREACHABLE, TaintEffect::NoExecute));
        }
        // A node that has not reported yet: the kubelet registers it with its own
        // not-ready taint; past the grace period it becomes Unknown (above).
        None | Some(ConditionStatus::True) => {}
    }
    for (ty, key) in CONDITION_TAINTS {
        if NodeCondition::find(conds, ty).is_some_and(|c| c.status == ConditionStatus::True) {
            out.push((key, TaintEffect::NoSchedule));
        }
    }
    if node.spec.unschedulable {
        out.push((TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule));
    }
    out
}

fn managed(key: &str) -> bool {
    key == TAINT_NOT_READY
        || key == TAINT_UNREACHABLE
        || key == TAINT_UNSCHEDULABLE
        || CONDITION_TAINTS.iter().any(|(_, k)| *k == key)
}

/// The node's taints with the managed ones brought in line with `wanted`: kept ones keep
/// their `timeAdded`, new `NoExecute` ones get `now`.
fn reconcile_taints(current: &[Taint], wanted: &[(&str, TaintEffect)], now: Time) -> Vec<Taint> {
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !managed(&t.key) || wanted.contains(&(t.key.as_str(), t.effect)))
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !out.iter().any(|t| t.key == *key && t.effect == *effect) {
            out.push(Taint {
                key: (*key).to_owned(),
                value: String::new(),
                effect: *effect,
                time_added: (*effect == TaintEffect::NoExecute).then_some(now),
            });
        }
    }
    out
}

/// When a pod must leave a node with `taints` (its `NoExecute` ones): `Some(None)` at
/// once, `Some(Some(t))` at `t`, `None` never.
pub fn eviction_time(pod: &Pod, taints: &[Taint], now: Time) -> Option<Option<MicroTime>> {
    let mut deadline: Option<MicroTime> = None;
    for taint in taints.iter().filter(|t| t.effect == TaintEffect::NoExecute) {
        // The first tolerating toleration counts, as in Kubernetes.
        let Some(tol) = pod.spec.tolerations.iter().find(|t| t.tolerates(taint)) else {
            return Some(None);
        };
        if let Some(secs) = tol.toleration_seconds {
            let since = MicroTime::from(taint.time_added.unwrap_or(now));
            let at = add(since, Duration::from_secs(secs.max(0).unsigned_abs()));
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
    }
    deadline.map(Some)
}

/// Decides about one node: its conditions, taints and pods. `pods` are the pods bound
/// to it (others are ignored).
pub fn plan(
    node: &Node,
    lease: Option<&Lease>,
    pods: &[&Pod],
    now: MicroTime,
    settings: &Settings,
    gate: Gate,
) -> NodePlan {
    let mut out = NodePlan::default();
    let now_s = Time::from(now);
    let name = &node.metadata.name;
    let mut conds = node.status.conditions.clone();
    match last_heartbeat(node, lease) {
        Some(last) if add(last, settings.grace_period) < now => {
            conds = silenced(node, now_s);
        }
        Some(last) => {
            // Look again just after the grace period would run out.
            out.next_check = Some(add(last, settings.grace_period + Duration::from_millis(1)));
        }
        None => {}
    }
    let was_ready =
        NodeCondition::find(&node.status.conditions, conditions::READY).map(|c| c.status);
    let is_ready = NodeCondition::find(&conds, conditions::READY).map(|c| c.status);
    if conds != node.status.conditions {
        if was_ready == Some(ConditionStatus::True) && is_ready != Some(ConditionStatus::True) {
            out.notes.push(Note {
                pod: None,
                type_: "Normal",
                reason: "NodeNotReady",
                message: format!("Node {name} status is now: NodeNotReady"),
            });
        }
        out.conditions = Some(conds.clone());
    }
    let mut wanted = wanted_taints(node, &conds);
    let had = |key: &str, effect: TaintEffect| {
        node.spec
            .taints
            .iter()
            .any(|t| t.key == key && t.effect == effect)
    };
    let held = |key: &str| key == TAINT_UNREACHABLE || key == TAINT_NOT_READY;
    match gate {
        Gate::Allow => {}
        Gate::Defer => {
            wanted.retain(|(k, e)| *e != TaintEffect::NoExecute || !held(k) || had(k, *e))
        }
        Gate::Halt => wanted.retain(|(k, e)| *e != TaintEffect::NoExecute || !held(k)),
    }
    if gate != Gate::Allow && wanted.len() < wanted_taints(node, &conds).len() {
        let at = add(now, RECHECK_HELD);
        out.next_check = Some(out.next_check.map_or(at, |n| n.min(at)));
    }
    let taints = reconcile_taints(&node.spec.taints, &wanted, now_s);
    if taints != node.spec.taints {
        out.taints = Some(taints.clone());
    }
    let on_node = pods.iter().filter(|p| p.spec.node_name == *name);
    for pod in on_node {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if is_ready.is_some() && is_ready != Some(ConditionStatus::True) && pod.is_ready() {
            out.mark_not_ready.push(PodRef::of(pod));
        }
        match eviction_time(pod, &taints, now_s) {
            Some(Some(at)) if at > now => {
                out.next_check = Some(out.next_check.map_or(at, |n| n.min(at)));
            }
            Some(_) => {
                let r = PodRef::of(pod);
                out.notes.push(Note {
                    pod: Some(r.clone()),
                    type_: "Normal",
                    reason: "TaintManagerEviction",
                    message: format!("Marking for deletion Pod {}/{}", r.namespace, r.name),
                });
                out.evict.push(r);
            }
            None => {}
        }
    }
    out
}

/// The supervised component: Nodes by name, their heartbeat Leases (in
/// `kube-node-lease`) by name, and Pods by the name of their node when what they change
/// can alter that node's decision.
pub fn component(settings: Settings) -> ComponentSpec {
    Controller::<Node>::new(NAME).workers(2).component(
        move |w: &mut Wiring<Node>| wire(w, settings),
        |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(
                &ctx.api,
                &ctx.caches,
                &ctx.recorder,
                &ctx.settings,
                key.name,
            )
            .await
        },
    )
}

struct Caches {
    nodes: Cache<Node>,
    leases: Cache<Lease>,
    pods: Cache<Pod>,
    limiter: std::sync::Mutex<ZoneLimiter>,
}

struct Ctx {
    api: ApiHandle,
    caches: Caches,
    recorder: Recorder,
    settings: Settings,
}

fn wire(w: &mut Wiring<Node>, settings: Settings) -> Ctx {
    let nodes = w.primary();
    let leases = w.watches(
        Scope::namespace(NODE_LEASE_NAMESPACE),
        |c: &Change<Lease>, q: &WorkQueue<ObjectKey>| {
            q.add(ObjectKey::cluster(&c.object().metadata.name));
        },
    );
    let pods = w.watches(Scope::all(), |c: &Change<Pod>, q: &WorkQueue<ObjectKey>| {
        // Only what can change a node's decision: a pod arriving on or leaving a node,
        // or its readiness.
        let (node, relevant) = match c {
            Change::Added(p) | Change::Deleted(p) => (&p.spec.node_name, true),
            Change::Modified { old, new } => (
                &new.spec.node_name,
                old.spec.node_name != new.spec.node_name
                    || old.spec.tolerations != new.spec.tolerations
                    || old.is_ready() != new.is_ready(),
            ),
        };
        if relevant && !node.is_empty() {
            q.add(ObjectKey::cluster(node));
        }
    });
    Ctx {
        api: w.api().clone(),
        caches: Caches {
            nodes,
            leases,
            pods,
            limiter: Default::default(),
        },
        recorder: Recorder::new(w.api().clone(), "node-controller"),
        settings,
    }
}

/// Whether `plan` adds an eviction-starting taint the node does not have yet.
fn adds_eviction_taint(node: &Node, plan: &NodePlan) -> bool {
    plan.taints.as_ref().is_some_and(|ts| {
        ts.iter().any(|t| {
            t.effect == TaintEffect::NoExecute
                && (t.key == TAINT_UNREACHABLE || t.key == TAINT_NOT_READY)
                && !node.spec.taints.contains(t)
        })
    })
}

/// The gate for `node` (whose conditions are about to become `conds`): from the state
/// of every zone, and a token of its zone's bucket when `wants_taint`.
fn gate_for(
    caches: &Caches,
    settings: &Settings,
    node: &Node,
    conds: &[NodeCondition],
    wants_taint: bool,
    now: MicroTime,
) -> Gate {
    // (ready, not ready) per zone.
    let mut zones: std::collections::HashMap<String, (usize, usize)> = Default::default();
    for n in caches.nodes.list() {
        let ready = if n.metadata.name == node.metadata.name {
            NodeCondition::ready_in(conds)
        } else {
            NodeCondition::ready_in(&n.status.conditions)
        };
        let e = zones.entry(zone_of(&n)).or_default();
        if ready {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let state = |(r, nr): (usize, usize)| zone_state(r, nr, settings.unhealthy_zone_threshold);
    if !zones.is_empty()
        && zones
            .values()
            .all(|c| state(*c) == ZoneState::FullDisruption)
    {
        return Gate::Halt;
    }
    if !wants_taint {
        return Gate::Allow;
    }
    let zone = zone_of(node);
    let counts = zones.get(&zone).copied().unwrap_or((0, 1));
    let rate = zone_rate(state(counts), counts.0 + counts.1, settings);
    let mut limiter = caches
        .limiter
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match limiter.try_take(&zone, rate, now) {
        Ok(()) => Gate::Allow,
        Err(wait) => {
            debug!(node = %node.metadata.name, zone = %zone, ?wait, "eviction deferred by the zone's rate limit");
            Gate::Defer
        }
    }
}

fn pod_reference(r: &PodRef) -> ObjectReference {
    ObjectReference {
        kind: "Pod".to_owned(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        uid: r.uid.clone(),
        api_version: "v1".to_owned(),
        ..ObjectReference::default()
    }
}

async fn reconcile(
    api: &ApiHandle,
    caches: &Caches,
    recorder: &Recorder,
    settings: &Settings,
    name: String,
) -> Result<Option<Duration>, ApiError> {
    let Some(node) = caches.nodes.get(&ObjectKey::cluster(&name)) else {
        return Ok(None);
    };
    let lease = caches
        .leases
        .get(&ObjectKey::namespaced(NODE_LEASE_NAMESPACE, &name));
    let now = MicroTime::now();
    // Most passes concern a healthy node: look at its pods only when they may matter.
    let mut p = plan(&node, lease.as_deref(), &[], now, settings, Gate::Allow);
    let taints = p.taints.as_ref().unwrap_or(&node.spec.taints);
    let unready = p
        .conditions
        .as_ref()
        .unwrap_or(&node.status.conditions)
        .iter()
        .any(|c| c.type_ == conditions::READY && c.status != ConditionStatus::True);
    if unready || taints.iter().any(|t| t.effect == TaintEffect::NoExecute) {
        let conds = p.conditions.as_ref().unwrap_or(&node.status.conditions);
        let gate = gate_for(
            caches,
            settings,
            &node,
            conds,
            adds_eviction_taint(&node, &p),
            now,
        );
        let pods: Vec<Arc<Pod>> = caches.pods.filter(|pod| pod.spec.node_name == name);
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        p = plan(&node, lease.as_deref(), &refs, now, settings, gate);
    }
    let nodes = api.api::<Node>(None);
    let mut latest = (*node).clone();
    if let Some(conds) = p.conditions {
        info!(node = %name, "node stopped posting status; conditions set to Unknown");
        latest.status.conditions = conds;
        latest = nodes.update_status(&latest).await?;
    }
    if let Some(taints) = p.taints {
        debug!(node = %name, ?taints, "updating taints");
        latest.spec.taints = taints;
        nodes.update(&latest).await?;
    }
    for note in &p.notes {
        let object = match &note.pod {
            Some(r) => pod_reference(r),
            None => reference(node.as_ref()),
        };
        recorder.record(object, note.type_, note.reason, note.message.clone());
    }
    for r in &p.mark_not_ready {
        mark_not_ready(api, caches, r).await;
    }
    for r in &p.evict {
        info!(pod = %format!("{}/{}", r.namespace, r.name), node = %name, "evicting");
        let opts = json!({"preconditions": {"uid": r.uid}});
        match api
            .api::<Pod>(Some(&r.namespace))
            .delete_with(&r.name, &opts)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(p.next_check.map(until))
}

/// Sets a pod's Ready condition False (Kubernetes' `MarkPodsNotReady`); a failure is
/// only logged: the next pass tries again.
async fn mark_not_ready(api: &ApiHandle, caches: &Caches, r: &PodRef) {
    let Some(pod) = caches
        .pods
        .get(&ObjectKey::namespaced(&r.namespace, &r.name))
    else {
        return;
    };
    let mut pod = (*pod).clone();
    let now = Time::now();
    for c in &mut pod.status.conditions {
        if c.type_ == conditions::READY && c.status != ConditionStatus::False {
            c.status = ConditionStatus::False;
            c.last_transition_time = Some(now);
        }
    }
    if let Err(e) = api.api::<Pod>(Some(&r.namespace)).update_status(&pod).await {
        debug!(pod = %r.name, error = %e, "pod not marked not ready");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::{PodCondition, PodPhase};
    use rudder_protocol::resources::{Toleration, TolerationOperator};

    const T0: i64 = 1_000_000;

    fn secs(s: i64) -> MicroTime {
        MicroTime::from(Time::from_unix(T0 + s))
    }

    fn node(ready: Option<ConditionStatus>, heartbeat: i64) -> Node {
        let mut n = Node::new("n1");
        n.metadata.creation_timestamp = Some(Time::from_unix(T0 - 1000));
        if let Some(status) = ready {
            for ty in WATCHED_CONDITIONS {
                n.status.conditions.push(NodeCondition {
                    type_: ty.into(),
                    status: if ty == "Ready" {
                        status
                    } else {
                        ConditionStatus::False
                    },
                    last_heartbeat_time: Some(Time::from_unix(T0 + heartbeat)),
                    last_transition_time: Some(Time::from_unix(T0 - 900)),
                    reason: "KubeletReady".into(),
                    message: "ok".into(),
                });
            }
        }
        n
    }

    fn lease(renew: i64) -> Lease {
        let mut l = Lease::new("n1");
        l.metadata.namespace = NODE_LEASE_NAMESPACE.into();
        l.spec.renew_time = Some(secs(renew));
        l
    }

    fn pod(name: &str, tolerations: Vec<Toleration>) -> Pod {
        let mut p = Pod::new(name);
        p.metadata.namespace = "default".into();
        p.metadata.uid = format!("uid-{name}");
        p.spec.node_name = "n1".into();
        p.spec.tolerations = tolerations;
        p.status.phase = Some(PodPhase::Running);
        p.status.conditions.push(PodCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..PodCondition::default()
        });
        p
    }

    fn tol(key: &str, effect: Option<TaintEffect>, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: key.into(),
            operator: Some(TolerationOperator::Exists),
            effect,
            toleration_seconds: seconds,
            ..Toleration::default()
        }
    }

    fn taint(key: &str, effect: TaintEffect, added: Option<i64>) -> Taint {
        Taint {
            key: key.into(),
            value: String::new(),
            effect,
            time_added: added.map(|a| Time::from_unix(T0 + a)),
        }
    }

    fn ready_of(p: &NodePlan) -> Option<ConditionStatus> {
        p.conditions
            .as_ref()
            .and_then(|c| NodeCondition::find(c, "Ready"))
            .map(|c| c.status)
    }

    fn taint_keys(p: &NodePlan) -> Option<Vec<String>> {
        p.taints.as_ref().map(|ts| {
            ts.iter()
                .map(|t| format!("{}:{}", t.key, t.effect.as_str()))
                .collect()
        })
    }

    #[test]
    fn heartbeats_conditions_and_taints() {
        let s = Settings::default();
        let unreachable = vec![
            taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule, None),
            taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(0)),
        ];
        let ur = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        // (name, node, lease, now, want Ready written, want taints written)
        type Case = (
            &'static str,
            Node,
            Option<Lease>,
            i64,
            Option<ConditionStatus>,
            Option<Vec<String>>,
        );
        let cases: Vec<Case> = vec![
            (
                "fresh lease: nothing",
                node(Some(ConditionStatus::True), -100),
                Some(lease(-5)),
                0,
                None,
                None,
            ),
            (
                "fresh condition heartbeat, no lease: nothing",
                node(Some(ConditionStatus::True), -10),
                None,
                0,
                None,
                None,
            ),
            (
                "lease older than grace: Unknown and unreachable taints",
                node(Some(ConditionStatus::True), -100),
                Some(lease(-41)),
                0,
                Some(ConditionStatus::Unknown),
                ur(&[
                    "node.kubernetes.io/unreachable:NoSchedule",
                    "node.kubernetes.io/unreachable:NoExecute",
                ]),
            ),
            (
                "exactly at grace: not yet",
                node(Some(ConditionStatus::True), -100),
                Some(lease(-40)),
                0,
                None,
                None,
            ),
            (
                "kubelet says not ready: not-ready taints",
                node(Some(ConditionStatus::False), -1),
                Some(lease(-1)),
                0,
                None,
                ur(&[
                    "node.kubernetes.io/not-ready:NoSchedule",
                    "node.kubernetes.io/not-ready:NoExecute",
                ]),
            ),
            (
                "recovered: managed taints removed, others kept",
                {
                    let mut n = node(Some(ConditionStatus::True), -1);
                    n.spec.taints = unreachable.clone();
                    n.spec
                        .taints
                        .push(taint("example.com/gpu", TaintEffect::NoSchedule, None));
                    n
                },
                Some(lease(-1)),
                0,
                None,
                ur(&["example.com/gpu:NoSchedule"]),
            ),
            (
                "already unknown and tainted: nothing to write",
                {
                    let mut n = node(Some(ConditionStatus::Unknown), -100);
                    for c in &mut n.status.conditions {
                        c.status = ConditionStatus::Unknown;
                    }
                    n.spec.taints = unreachable;
                    n
                },
                Some(lease(-100)),
                0,
                None,
                None,
            ),
            (
                "never posted status, within grace after creation: nothing",
                {
                    let mut n = node(None, 0);
                    n.metadata.creation_timestamp = Some(Time::from_unix(T0 - 10));
                    n
                },
                None,
                0,
                None,
                None,
            ),
            (
                "never posted status, past grace after creation",
                node(None, 0),
                None,
                0,
                Some(ConditionStatus::Unknown),
                ur(&[
                    "node.kubernetes.io/unreachable:NoSchedule",
                    "node.kubernetes.io/unreachable:NoExecute",
                ]),
            ),
            (
                "cordoned and under memory pressure",
                {
                    let mut n = node(Some(ConditionStatus::True), -1);
                    n.spec.unschedulable = true;
                    n.status.conditions[1].status = ConditionStatus::True;
                    n
                },
                Some(lease(-1)),
                0,
                None,
                ur(&[
                    "node.kubernetes.io/memory-pressure:NoSchedule",
                    "node.kubernetes.io/unschedulable:NoSchedule",
                ]),
            ),
        ];
        for (name, n, l, now, ready, taints) in cases {
            let p = plan(&n, l.as_ref(), &[], secs(now), &s, Gate::Allow);
            assert_eq!(ready_of(&p), ready, "case {name}: Ready");
            assert_eq!(taint_keys(&p), taints, "case {name}: taints");
        }
    }

    #[test]
    fn silenced_conditions_read_like_kubernetes() {
        let n = node(Some(ConditionStatus::True), -100);
        let p = plan(
            &n,
            Some(&lease(-50)),
            &[],
            secs(0),
            &Settings::default(),
            Gate::Allow,
        );
        let conds = p.conditions.expect("conditions written");
        for ty in WATCHED_CONDITIONS {
            let c = NodeCondition::find(&conds, ty).expect("present");
            assert_eq!(c.status, ConditionStatus::Unknown, "{ty}");
            assert_eq!(c.reason, "NodeStatusUnknown", "{ty}");
            assert_eq!(c.message, "Kubelet stopped posting node status.", "{ty}");
            assert_eq!(c.last_transition_time, Some(Time::from_unix(T0)), "{ty}");
            assert_eq!(
                c.last_heartbeat_time,
                Some(Time::from_unix(T0 - 100)),
                "kept, {ty}"
            );
        }
        assert_eq!(p.notes.len(), 1);
        assert_eq!(p.notes[0].reason, "NodeNotReady");
        let t = p.taints.expect("taints");
        assert_eq!(
            t[1].time_added,
            Some(Time::from_unix(T0)),
            "NoExecute taint stamped"
        );
        assert_eq!(t[0].time_added, None, "NoSchedule taint not stamped");
    }

    #[test]
    fn next_check_when_grace_runs_out() {
        let n = node(Some(ConditionStatus::True), -100);
        let p = plan(
            &n,
            Some(&lease(-10)),
            &[],
            secs(0),
            &Settings::default(),
            Gate::Allow,
        );
        let want = add(secs(30), Duration::from_millis(1));
        assert_eq!(p.next_check, Some(want));
    }

    #[test]
    fn evictions_follow_tolerations() {
        let s = Settings::default();
        let mut tainted = node(Some(ConditionStatus::Unknown), -400);
        tainted.spec.taints = vec![
            taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule, None),
            taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(-100)),
        ];
        let defaulted = vec![
            tol(TAINT_NOT_READY, Some(TaintEffect::NoExecute), Some(300)),
            tol(TAINT_UNREACHABLE, Some(TaintEffect::NoExecute), Some(300)),
        ];
        let forever = vec![tol(TAINT_UNREACHABLE, Some(TaintEffect::NoExecute), None)];
        let short = vec![tol(TAINT_UNREACHABLE, None, Some(60))];
        let everything = vec![tol("", None, None)];
        let deleting = {
            let mut p = pod("gone", vec![]);
            p.metadata.deletion_timestamp = Some(Time::from_unix(T0));
            p
        };
        let elsewhere = {
            let mut p = pod("other", vec![]);
            p.spec.node_name = "n2".into();
            p
        };
        // (name, pod, now, want evicted now, want next check)
        let cases: Vec<(&str, Pod, i64, bool, Option<MicroTime>)> = vec![
            (
                "no toleration: evicted at once",
                pod("a", vec![]),
                0,
                true,
                None,
            ),
            (
                "default 300 s: waits until timeAdded + 300",
                pod("a", defaulted.clone()),
                0,
                false,
                Some(secs(200)),
            ),
            (
                "default 300 s: evicted after",
                pod("a", defaulted),
                200,
                true,
                None,
            ),
            (
                "short toleration: evicted after 60 s",
                pod("a", short),
                0,
                true,
                None,
            ),
            (
                "tolerates forever: stays",
                pod("a", forever),
                10_000,
                false,
                None,
            ),
            (
                "tolerates everything: stays",
                pod("a", everything),
                10_000,
                false,
                None,
            ),
            (
                "already being deleted: left alone",
                deleting,
                0,
                false,
                None,
            ),
            ("on another node: ignored", elsewhere, 0, false, None),
        ];
        for (name, p, now, evicted, next) in cases {
            let got = plan(
                &tainted,
                Some(&lease(-400)),
                &[&p],
                secs(now),
                &s,
                Gate::Allow,
            );
            assert_eq!(!got.evict.is_empty(), evicted, "case {name}: evicted");
            assert_eq!(got.next_check, next, "case {name}: next check");
            if evicted {
                assert_eq!(
                    got.notes.last().map(|n| n.reason),
                    Some("TaintManagerEviction"),
                    "case {name}"
                );
            }
        }
    }

    #[test]
    fn pods_on_unready_nodes_marked_not_ready() {
        let n = node(Some(ConditionStatus::True), -100);
        let p = pod("a", vec![tol("", None, None)]);
        let plan_silent = plan(
            &n,
            Some(&lease(-100)),
            &[&p],
            secs(0),
            &Settings::default(),
            Gate::Allow,
        );
        assert_eq!(plan_silent.mark_not_ready.len(), 1);
        let plan_ok = plan(
            &n,
            Some(&lease(-1)),
            &[&p],
            secs(0),
            &Settings::default(),
            Gate::Allow,
        );
        assert!(plan_ok.mark_not_ready.is_empty());
    }

    #[test]
    fn toleration_matching() {
        let t = taint("k", TaintEffect::NoExecute, None);
        let mut valued = taint("k", TaintEffect::NoExecute, None);
        valued.value = "v".into();
        let equal = |v: &str| Toleration {
            key: "k".into(),
            operator: Some(TolerationOperator::Equal),
            value: v.into(),
            ..Toleration::default()
        };
        let cases = [
            ("exists same key", tol("k", None, None), &t, true),
            ("exists other key", tol("j", None, None), &t, false),
            (
                "empty key exists matches all",
                tol("", None, None),
                &t,
                true,
            ),
            (
                "effect mismatch",
                tol("k", Some(TaintEffect::NoSchedule), None),
                &t,
                false,
            ),
            ("equal same value", equal("v"), &valued, true),
            ("equal other value", equal("w"), &valued, false),
        ];
        for (name, tol, taint, want) in cases {
            assert_eq!(tol.tolerates(taint), want, "case {name}");
        }
    }

    #[test]
    fn zone_states_and_rates() {
        let s = Settings::default();
        // (ready, not ready, state)
        let cases = [
            (3, 0, ZoneState::Normal),
            (0, 1, ZoneState::FullDisruption),
            (0, 0, ZoneState::Normal),
            (1, 2, ZoneState::Normal),
            (2, 3, ZoneState::PartialDisruption),
            (3, 3, ZoneState::Normal),
            (9, 11, ZoneState::PartialDisruption),
        ];
        for (ready, not_ready, want) in cases {
            assert_eq!(
                zone_state(ready, not_ready, s.unhealthy_zone_threshold),
                want,
                "{ready} ready, {not_ready} not"
            );
        }
        assert_eq!(zone_rate(ZoneState::Normal, 10, &s), 0.1);
        assert_eq!(zone_rate(ZoneState::FullDisruption, 10, &s), 0.1);
        assert_eq!(zone_rate(ZoneState::PartialDisruption, 10, &s), 0.0);
        assert_eq!(zone_rate(ZoneState::PartialDisruption, 51, &s), 0.01);
        let mut labelled = Node::new("a");
        labelled
            .metadata
            .labels
            .insert("topology.kubernetes.io/zone".into(), "z1".into());
        assert_ne!(zone_of(&labelled), zone_of(&Node::new("b")));
        assert_eq!(zone_of(&Node::new("b")), zone_of(&Node::new("c")));
    }

    #[test]
    fn zone_limiter_spaces_tokens() {
        let mut l = ZoneLimiter::default();
        assert_eq!(l.try_take("z", 0.1, secs(0)), Ok(()));
        assert_eq!(l.try_take("z", 0.1, secs(1)), Err(Duration::from_secs(5)));
        assert_eq!(l.try_take("other", 0.1, secs(1)), Ok(()));
        assert!(l.try_take("z", 0.1, secs(9)).is_err());
        assert_eq!(l.try_take("z", 0.1, secs(10)), Ok(()));
        assert_eq!(l.try_take("z", 0.0, secs(100)), Err(RECHECK_HELD));
    }

    #[test]
    fn gates_hold_back_eviction_taints() {
        let s = Settings::default();
        let p = pod("a", vec![]);
        let silent = node(Some(ConditionStatus::True), -100);
        let no_execute = |plan: &NodePlan| {
            plan.taints.as_ref().is_some_and(|ts| {
                ts.iter()
                    .any(|t| t.key == TAINT_UNREACHABLE && t.effect == TaintEffect::NoExecute)
            })
        };
        // Allowed: tainted, and the untolerating pod goes at once.
        let allow = plan(&silent, Some(&lease(-100)), &[&p], secs(0), &s, Gate::Allow);
        assert!(no_execute(&allow));
        assert_eq!(allow.evict.len(), 1);
        // Deferred: Unknown and NoSchedule, but no NoExecute taint or eviction yet, and a
        // look again soon.
        let defer = plan(&silent, Some(&lease(-100)), &[&p], secs(0), &s, Gate::Defer);
        assert_eq!(ready_of(&defer), Some(ConditionStatus::Unknown));
        assert!(!no_execute(&defer));
        assert!(defer.evict.is_empty());
        assert_eq!(defer.next_check, Some(add(secs(0), RECHECK_HELD)));
        // A taint already there stays when deferred, and is removed when halted.
        let mut tainted = silent.clone();
        tainted.status.conditions = allow.conditions.clone().unwrap_or_default();
        tainted.spec.taints = allow.taints.clone().unwrap_or_default();
        let kept = plan(&tainted, Some(&lease(-100)), &[], secs(1), &s, Gate::Defer);
        assert_eq!(kept.taints, None);
        let halted = plan(&tainted, Some(&lease(-100)), &[&p], secs(1), &s, Gate::Halt);
        assert!(!no_execute(&halted));
        assert!(halted.taints.is_some());
        assert!(halted.evict.is_empty());
    }
}
