//! The scheduler: assigns pending pods to nodes, after Kubernetes' kube-scheduler.
//!
//! - [`snapshot`]: the nodes and what is bound to them, kept current incrementally.
//! - [`topology`]: the inter-pod affinity's topology-pair counts the snapshot keeps.
//! - [`framework`]: the filter and score plugin traits.
//! - [`plugins`]: one file per plugin, with Kubernetes' names and reason strings.
//! - [`cycle`]: one scheduling cycle, a pure function from a snapshot to a node or a
//!   Kubernetes-style "0/N nodes are available" error.
//! - [`queue`]: pending pods (active by priority, backoff, unschedulable).
//! - [`preemption`]: Kubernetes' DefaultPreemption post-filter, a pure decision.
//! - [`backoff`]: per-pod retry backoff as a value.
//!
//! The [`Scheduler`] component (bus name `scheduler`, on control-plane nodes) is a task
//! component, so it runs on the node's component runtime, never on the thread that
//! serves the bus and HTTP. It acts only while it holds the Lease
//! `kube-system/rudder-scheduler`; when it loses the Lease it stops, and the supervisor
//! starts a fresh instance that campaigns again. While leading it subscribes to the
//! node's shared informers on all pods (the snapshot needs the bound ones, the queue the
//! pending ones), on nodes, namespaces, and on PersistentVolumeClaims, PersistentVolumes
//! and StorageClasses (for the VolumeBinding plugin; any of them appearing or changing
//! retries unschedulable pods); their handlers only forward changes (a replay of the
//! cached objects first) to the loop, which owns the snapshot and the queue. Before a
//! pod is bound, its unbound WaitForFirstConsumer claims are annotated with the chosen
//! node (`volume.kubernetes.io/selected-node`). For each pending pod (no `spec.nodeName`, `schedulerName` empty or
//! `default-scheduler`, not being deleted) the loop runs a cycle, assumes the pod on the
//! chosen node and binds it through `pods/binding` in the background (many binds in
//! flight, as Kubernetes' binding cycle). Outcomes:
//!
//! - bound: Event `Scheduled` ("Successfully assigned ns/name to node");
//! - no node fits: condition `PodScheduled=False`, reason `Unschedulable`, with the
//!   message of the [`cycle::FitError`], and Event `FailedScheduling` (both written only
//!   when the message changes, so a pod waiting for room does not write every retry);
//!   the pod waits for a node or pod change, with backoff. Before that, preemption is
//!   tried ([`preemption::preempt`]): when evicting lower-priority pods on some node lets
//!   the pod fit, the pod gets `status.nominatedNodeName` (with the condition, in one
//!   status patch), each victim gets the condition `DisruptionTarget=True` (reason
//!   `PreemptionByScheduler`), is deleted with its grace period and gets the Event
//!   `Preempted` ("Preempted by pod <uid> on node <node>"), and lower-priority pods
//!   nominated to that node lose their nomination; when it cannot help, its reasons end
//!   the message (`... preemption: 0/N nodes are available: ...`) and a stale nomination
//!   is cleared. A nominated pod counts on its node for pods of lower or equal priority
//!   until it binds; binding elsewhere clears the nomination;
//! - bind refused or failed: the assumption is dropped and the pod retried with backoff
//!   if it is still pending. The API server refuses to bind a bound pod (409), so a
//!   restarted scheduler can never bind a pod twice.

pub mod backoff;
pub mod cycle;
pub mod framework;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod snapshot;
pub mod topology;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rudder_protocol::api::{Api, ApiError};
use rudder_protocol::messages::api::{Component, PatchType};
use rudder_protocol::names::conditions;
use rudder_protocol::resources::{
    ConditionStatus, Event, EventSource, MicroTime, Namespace, Node, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, Pod, PodCondition, PodDisruptionBudget, PodPhase,
    StorageClass, Time, SELECTED_NODE_ANNOTATION,
};
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info, warn};

use crate::informer::ApiHandle;
use crate::informer::{while_leading, Change, ObjectKey, SharedInformers, Subscription};
use crate::supervisor::{StartContext, Started};

use self::cycle::{schedule_with, CycleState};
use self::framework::pod_priority;
use self::preemption::{Candidate, Outcome};
use self::queue::PodQueue;
use self::snapshot::{pod_key, Snapshot};

/// The component's name on the bus.
pub const NAME: &str = rudder_protocol::names::actors::SCHEDULER;
/// The Lease the scheduler instances compete for (in `kube-system`).
pub const LEASE_NAME: &str = "rudder-scheduler";
/// The scheduler name pods ask for, and the events' reporting component.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// Binds in flight at once.
const MAX_BINDS_IN_FLIGHT: usize = 256;
/// Event writes in flight at once; further events wait their turn.
const MAX_EVENTS_IN_FLIGHT: usize = 64;
/// Cycles run back to back before the loop yields to other tasks.
const CYCLES_PER_YIELD: usize = 64;

/// The scheduler component; see the module docs.
pub struct Scheduler;

impl Scheduler {
    /// Builds one instance (the supervisor's factory).
    pub fn start(ctx: &StartContext) -> Started {
        let handle = ApiHandle::as_component(ctx.bus.clone(), Component::Scheduler);
        Started::task(run(handle, ctx.informers.clone()))
    }
}

/// What the informers and bind tasks tell the loop.
enum Input {
    Pod(Change<Pod>),
    Node(Change<Node>),
    Namespace(Change<Namespace>),
    Claim(Change<PersistentVolumeClaim>),
    Volume(Change<PersistentVolume>),
    Class(Change<StorageClass>),
    Bound {
        key: String,
        result: Result<(), ApiError>,
        /// When its scheduling cycle started.
        started: Instant,
    },
}

/// Whether this scheduler should place `pod` (a pod with scheduling gates waits until
/// they are all removed: Kubernetes' SchedulingGates pre-enqueue plugin).
pub fn is_pending(pod: &Pod) -> bool {
    pod.spec.node_name.is_empty()
        && pod.spec.scheduling_gates.is_empty()
        && (pod.spec.scheduler_name.is_empty() || pod.spec.scheduler_name == SCHEDULER_NAME)
        && pod.metadata.deletion_timestamp.is_none()
        && !matches!(
            pod.status.phase,
            Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
        )
}

/// Whether a node change can let unschedulable pods fit (heartbeats cannot).
fn node_change_matters(old: &Node, new: &Node) -> bool {
    let ready = |n: &Node| n.is_ready();
    old.spec != new.spec
        || old.status.allocatable != new.status.allocatable
        || old.metadata.labels != new.metadata.labels
        || ready(old) != ready(new)
}

async fn run(handle: ApiHandle, informers: SharedInformers) {
    // The subscriptions start only once leading: a standby scheduler holds no caches.
    let body = async {
        info!(identity = %handle.node(), "scheduler leading");
        let mut s = Loop::new(handle.clone(), &informers);
        s.run().await;
    };
    while_leading(&handle, LEASE_NAME, body).await;
}

struct Loop {
    handle: ApiHandle,
    inputs: mpsc::UnboundedReceiver<Input>,
    tx: mpsc::UnboundedSender<Input>,
    pods: crate::informer::Cache<Pod>,
    nodes: crate::informer::Cache<Node>,
    namespaces: crate::informer::Cache<Namespace>,
    claims: crate::informer::Cache<PersistentVolumeClaim>,
    volumes: crate::informer::Cache<PersistentVolume>,
    classes: crate::informer::Cache<StorageClass>,
    /// PodDisruptionBudgets, read by preemption only (their changes wake nothing).
    budgets: crate::informer::Cache<PodDisruptionBudget>,
    _subscriptions: Vec<Subscription>,
    snapshot: Snapshot,
    queue: PodQueue,
    in_flight: HashSet<String>,
    /// Pending pods: when each entered the queue and its attempts so far (the
    /// scheduling SLI).
    entered: HashMap<String, (Instant, u32)>,
    state: CycleState,
    plugins: framework::Plugins,
    events: Arc<Semaphore>,
}

impl Loop {
    fn new(handle: ApiHandle, informers: &SharedInformers) -> Self {
        let (tx, inputs) = mpsc::unbounded_channel();
        let pod_tx = tx.clone();
        let pods = informers.all::<Pod>();
        let pod_sub = pods.subscribe(move |c: &Change<Pod>| {
            let _ = pod_tx.send(Input::Pod(c.clone()));
        });
        let node_tx = tx.clone();
        let nodes = informers.all::<Node>();
        let node_sub = nodes.subscribe(move |c: &Change<Node>| {
            let _ = node_tx.send(Input::Node(c.clone()));
        });
        let ns_tx = tx.clone();
        let namespaces = informers.all::<Namespace>();
        let ns_sub = namespaces.subscribe(move |c: &Change<Namespace>| {
            let _ = ns_tx.send(Input::Namespace(c.clone()));
        });
        let claim_tx = tx.clone();
        let claims = informers.all::<PersistentVolumeClaim>();
        let claim_sub = claims.subscribe(move |c: &Change<PersistentVolumeClaim>| {
            let _ = claim_tx.send(Input::Claim(c.clone()));
        });
        let volume_tx = tx.clone();
        let volumes = informers.all::<PersistentVolume>();
        let volume_sub = volumes.subscribe(move |c: &Change<PersistentVolume>| {
            let _ = volume_tx.send(Input::Volume(c.clone()));
        });
        let class_tx = tx.clone();
        let classes = informers.all::<StorageClass>();
        let class_sub = classes.subscribe(move |c: &Change<StorageClass>| {
            let _ = class_tx.send(Input::Class(c.clone()));
        });
        Loop {
            handle,
            inputs,
            tx,
            pods: pods.cache(),
            nodes: nodes.cache(),
            namespaces: namespaces.cache(),
            claims: claims.cache(),
            volumes: volumes.cache(),
            classes: classes.cache(),
            budgets: informers.all::<PodDisruptionBudget>().cache(),
            _subscriptions: vec![pod_sub, node_sub, ns_sub, claim_sub, volume_sub, class_sub],
            snapshot: Snapshot::new(),
            queue: PodQueue::new(),
            in_flight: HashSet::new(),
            entered: HashMap::new(),
            state: CycleState::default(),
            plugins: plugins::default_plugins(),
            events: Arc::new(Semaphore::new(MAX_EVENTS_IN_FLIGHT)),
        }
    }

    async fn run(&mut self) {
        loop {
            // A handler that panicked hears nothing more: stop, and be restarted.
            if self._subscriptions.iter().any(Subscription::is_lost) {
                tracing::error!("an informer subscription was lost; restarting the scheduler");
                return;
            }
            while let Ok(input) = self.inputs.try_recv() {
                self.handle_input(input);
            }
            let synced = self.pods.has_synced()
                && self.nodes.has_synced()
                && self.namespaces.has_synced()
                && self.claims.has_synced()
                && self.volumes.has_synced()
                && self.classes.has_synced();
            let mut ran = 0;
            if synced {
                while ran < CYCLES_PER_YIELD && self.in_flight.len() < MAX_BINDS_IN_FLIGHT {
                    let Some(key) = self.queue.pop(Instant::now()) else {
                        break;
                    };
                    self.schedule_one(&key);
                    ran += 1;
                }
            }
            let (active, backoff, unschedulable) = self.queue.lens();
            crate::telemetry::metrics()
                .components
                .set_pending_pods(active, backoff, unschedulable);
            if ran > 0 {
                tokio::task::yield_now().await;
                continue;
            }
            let wake = self
                .queue
                .next_due()
                .map(|at| at.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            tokio::select! {
                input = self.inputs.recv() => match input {
                    Some(input) => self.handle_input(input),
                    None => return,
                },
                _ = tokio::time::sleep(wake) => {}
            }
        }
    }

    fn handle_input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Pod(Change::Added(pod)) => {
                self.snapshot.upsert_pod(&pod);
                self.pod_seen(&pod, now);
            }
            Input::Pod(Change::Modified { old, new }) => {
                self.snapshot.upsert_pod(&new);
                let freed =
                    !old.spec.node_name.is_empty() && !is_terminal(&old) && is_terminal(&new);
                if freed {
                    self.queue.move_all_unschedulable(now);
                }
                // Our own status writes change nothing that scheduling reads; only a
                // change of the spec or labels makes an unschedulable pod worth a retry.
                if old.spec != new.spec || old.metadata.labels != new.metadata.labels {
                    self.pod_seen(&new, now);
                } else if !is_pending(&new) {
                    self.queue.remove(&pod_key(&new));
                }
            }
            Input::Pod(Change::Deleted(pod)) => {
                self.snapshot.remove_pod(&pod);
                self.queue.remove(&pod_key(&pod));
                self.entered.remove(&pod_key(&pod));
                if !pod.spec.node_name.is_empty() {
                    self.queue.move_all_unschedulable(now);
                }
            }
            Input::Node(Change::Added(node)) => {
                self.snapshot.upsert_node(node);
                self.queue.move_all_unschedulable(now);
            }
            Input::Node(Change::Modified { old, new }) => {
                let matters = node_change_matters(&old, &new);
                self.snapshot.upsert_node(new);
                if matters {
                    self.queue.move_all_unschedulable(now);
                }
            }
            Input::Node(Change::Deleted(node)) => {
                self.snapshot.remove_node(&node.metadata.name);
            }
            Input::Namespace(Change::Added(ns)) => {
                self.snapshot
                    .upsert_namespace(&ns.metadata.name, ns.metadata.labels.clone());
                self.queue.move_all_unschedulable(now);
            }
            Input::Namespace(Change::Modified { old, new }) => {
                self.snapshot
                    .upsert_namespace(&new.metadata.name, new.metadata.labels.clone());
                if old.metadata.labels != new.metadata.labels {
                    self.queue.move_all_unschedulable(now);
                }
            }
            Input::Namespace(Change::Deleted(ns)) => {
                self.snapshot.remove_namespace(&ns.metadata.name);
            }
            // A claim, volume or class that appears or changes may let a pod waiting on
            // its claims fit (Kubernetes' VolumeBinding queueing hints, coarsely).
            Input::Claim(Change::Added(c)) | Input::Claim(Change::Modified { new: c, .. }) => {
                self.snapshot.volumes_mut().upsert_claim(c);
                self.queue.move_all_unschedulable(now);
            }
            Input::Claim(Change::Deleted(c)) => self.snapshot.volumes_mut().remove_claim(&c),
            Input::Volume(Change::Added(v)) | Input::Volume(Change::Modified { new: v, .. }) => {
                self.snapshot.volumes_mut().upsert_volume(v);
                self.queue.move_all_unschedulable(now);
            }
            Input::Volume(Change::Deleted(v)) => {
                self.snapshot.volumes_mut().remove_volume(&v.metadata.name)
            }
            Input::Class(Change::Added(c)) | Input::Class(Change::Modified { new: c, .. }) => {
                self.snapshot.volumes_mut().upsert_class(c);
                self.queue.move_all_unschedulable(now);
            }
            Input::Class(Change::Deleted(c)) => {
                self.snapshot.volumes_mut().remove_class(&c.metadata.name)
            }
            Input::Bound {
                key,
                result,
                started,
            } => self.bound(key, result, started, now),
        }
    }

    fn pod_seen(&mut self, pod: &Pod, now: Instant) {
        let key = pod_key(pod);
        if is_pending(pod) {
            if !self.in_flight.contains(&key) {
                self.queue.add(&key, pod_priority(pod), now);
            }
            self.entered.entry(key).or_insert((now, 0));
        } else {
            self.queue.remove(&key);
            // A pod seen bound before its bind task reports keeps its entry until then.
            if !self.in_flight.contains(&key) {
                self.entered.remove(&key);
            }
        }
    }

    fn schedule_one(&mut self, key: &str) {
        let Some((ns, name)) = key.split_once('/') else {
            return;
        };
        let Some(pod) = self.pods.get(&ObjectKey::namespaced(ns, name)) else {
            return;
        };
        if !is_pending(&pod) || self.in_flight.contains(key) {
            return;
        }
        let started = Instant::now();
        if let Some(e) = self.entered.get_mut(key) {
            e.1 += 1;
        }
        match schedule_with(&pod, &self.snapshot, &self.plugins, &mut self.state) {
            Ok(node) => {
                debug!(pod = %key, node = %node, "binding");
                self.snapshot.assume_pod(&pod, &node);
                self.in_flight.insert(key.to_owned());
                let api = self.handle.api::<Pod>(Some(ns));
                let tx = self.tx.clone();
                let events = self.handle.api::<Event>(Some(ns));
                let permits = self.events.clone();
                let key = key.to_owned();
                let select =
                    plugins::volume_binding::claims_to_select(&pod, self.snapshot.volumes(), &node);
                let claims = self.handle.api::<PersistentVolumeClaim>(Some(ns));
                tokio::spawn(async move {
                    // Kubernetes' VolumeBinding PreBind: the claims that wait for their
                    // first consumer learn the node before the pod is bound to it.
                    let mut result = Ok(());
                    for (_, claim) in &select {
                        let patch =
                            json!({"metadata": {"annotations": {SELECTED_NODE_ANNOTATION: node}}});
                        if let Err(e) = claims.patch(claim, PatchType::Merge, &patch).await {
                            result = Err(e);
                            break;
                        }
                    }
                    let result = match result {
                        Ok(()) => api.bind(&pod.metadata.name, &node).await,
                        Err(e) => Err(e),
                    };
                    let nominated = &pod.status.nominated_node_name;
                    if result.is_ok() && !nominated.is_empty() && *nominated != node {
                        let patch = json!({"status": {"nominatedNodeName": null}});
                        if let Err(e) = api
                            .patch_status(&pod.metadata.name, PatchType::StrategicMerge, &patch)
                            .await
                        {
                            debug!(pod = %pod_key(&pod), error = %e, "clearing the nomination failed");
                        }
                    }
                    if result.is_ok() {
                        let message = format!(
                            "Successfully assigned {}/{} to {}",
                            pod.metadata.namespace, pod.metadata.name, node
                        );
                        let event = event_for(&pod, Event::NORMAL, "Scheduled", "Binding", message);
                        tokio::spawn(write_event(events, event, permits));
                    }
                    let _ = tx.send(Input::Bound {
                        key,
                        result,
                        started,
                    });
                });
            }
            Err(mut fit) => {
                // Kubernetes' PostFilter: preemption.
                let mut nominate: Option<String> = None;
                let pdbs = self.budgets.list();
                let budgets = preemption::Budgets { pdbs: &pdbs };
                match preemption::preempt(&pod, &self.snapshot, &self.plugins, budgets, &fit) {
                    Outcome::Preempt(candidate) => {
                        debug!(pod = %key, node = %candidate.node, victims = candidate.victims.len(), "preempting");
                        self.snapshot.nominate(&pod, &candidate.node);
                        nominate = Some(candidate.node.clone());
                        self.evict(&pod, candidate);
                    }
                    Outcome::Failed {
                        message,
                        clear_nomination,
                    } => {
                        fit.post_filter_message = message;
                        if clear_nomination
                            && (!pod.status.nominated_node_name.is_empty()
                                || self.snapshot.nominated_node(key).is_some())
                        {
                            self.snapshot.nominate(&pod, "");
                            nominate = Some(String::new());
                        }
                    }
                }
                let message = fit.to_string();
                debug!(pod = %key, reason = %message, "unschedulable");
                crate::telemetry::metrics()
                    .components
                    .scheduling_attempt("unschedulable", started.elapsed());
                self.queue.unschedulable(key, Instant::now());
                let already = pod.status.conditions.iter().any(|c| {
                    c.type_ == conditions::POD_SCHEDULED
                        && c.status == ConditionStatus::False
                        && c.reason == "Unschedulable"
                        && c.message == message
                }) && nominate
                    .as_ref()
                    .is_none_or(|n| *n == pod.status.nominated_node_name);
                if already {
                    return;
                }
                let api = self.handle.api::<Pod>(Some(ns));
                let events = self.handle.api::<Event>(Some(ns));
                let permits = self.events.clone();
                tokio::spawn(async move {
                    let mut updated = (*pod).clone();
                    set_unschedulable(&mut updated, &message);
                    let condition = updated
                        .status
                        .conditions
                        .iter()
                        .find(|c| c.type_ == conditions::POD_SCHEDULED)
                        .cloned();
                    let mut status = json!({"conditions": [condition]});
                    match nominate.as_deref() {
                        Some("") => status["nominatedNodeName"] = serde_json::Value::Null,
                        Some(node) => status["nominatedNodeName"] = json!(node),
                        None => {}
                    }
                    let patch = json!({"status": status});
                    if let Err(e) = api
                        .patch_status(&pod.metadata.name, PatchType::StrategicMerge, &patch)
                        .await
                    {
                        debug!(pod = %pod_key(&pod), error = %e, "status update failed");
                    }
                    let event = event_for(
                        &pod,
                        Event::WARNING,
                        "FailedScheduling",
                        "Scheduling",
                        message,
                    );
                    write_event(events, event, permits).await;
                });
            }
        }
    }

    /// Carries out a preemption: lower-priority pods nominated to the node lose their
    /// nomination; each victim gets `DisruptionTarget`, is deleted (with its own grace
    /// period) and gets the `Preempted` event.
    fn evict(&mut self, preemptor: &Arc<Pod>, candidate: Candidate) {
        let priority = pod_priority(preemptor);
        for other in self.snapshot.nominated_below(&candidate.node, priority) {
            self.snapshot.nominate(&other.pod, "");
            let api = self.handle.api::<Pod>(Some(&other.pod.metadata.namespace));
            let name = other.pod.metadata.name.clone();
            tokio::spawn(async move {
                let patch = json!({"status": {"nominatedNodeName": null}});
                if let Err(e) = api
                    .patch_status(&name, PatchType::StrategicMerge, &patch)
                    .await
                {
                    debug!(pod = %name, error = %e, "clearing a nomination failed");
                }
            });
        }
        let related = ObjectReference {
            kind: "Pod".into(),
            namespace: preemptor.metadata.namespace.clone(),
            name: preemptor.metadata.name.clone(),
            uid: preemptor.metadata.uid.clone(),
            api_version: "v1".into(),
            resource_version: String::new(),
            field_path: String::new(),
        };
        let message = format!(
            "Preempted by pod {} on node {}",
            preemptor.metadata.uid, candidate.node
        );
        for victim in candidate.victims {
            let ns = victim.pod.metadata.namespace.clone();
            let api = self.handle.api::<Pod>(Some(&ns));
            let events = self.handle.api::<Event>(Some(&ns));
            let permits = self.events.clone();
            let mut event = event_for(
                &victim.pod,
                Event::NORMAL,
                "Preempted",
                "Preempting",
                message.clone(),
            );
            event.related = Some(related.clone());
            tokio::spawn(async move {
                let pod = &victim.pod;
                let condition = PodCondition {
                    type_: preemption::DISRUPTION_TARGET.into(),
                    status: ConditionStatus::True,
                    last_transition_time: Some(Time::now()),
                    reason: preemption::REASON_PREEMPTION_BY_SCHEDULER.into(),
                    message: format!(
                        "{SCHEDULER_NAME}: preempting to accommodate a higher priority pod"
                    ),
                    ..Default::default()
                };
                let patch = json!({"status": {"conditions": [condition]}});
                if let Err(e) = api
                    .patch_status(&pod.metadata.name, PatchType::StrategicMerge, &patch)
                    .await
                {
                    debug!(pod = %pod_key(pod), error = %e, "marking the victim failed");
                }
                let options = json!({"preconditions": {"uid": pod.metadata.uid}});
                match api.delete_with(&pod.metadata.name, &options).await {
                    Ok(_) => write_event(events, event, permits).await,
                    Err(e) => debug!(pod = %pod_key(pod), error = %e, "deleting the victim failed"),
                }
            });
        }
    }

    fn bound(&mut self, key: String, result: Result<(), ApiError>, started: Instant, now: Instant) {
        self.in_flight.remove(&key);
        let metrics = &crate::telemetry::metrics().components;
        match result {
            Ok(()) => {
                self.queue.remove(&key);
                metrics.scheduling_attempt("scheduled", now.saturating_duration_since(started));
                if let Some((entered, attempts)) = self.entered.remove(&key) {
                    metrics.pod_scheduled(attempts, now.saturating_duration_since(entered));
                }
            }
            Err(e) => {
                metrics.scheduling_attempt("error", now.saturating_duration_since(started));
                self.snapshot.forget_pod(&key);
                let still_pending = key
                    .split_once('/')
                    .and_then(|(ns, name)| self.pods.get(&ObjectKey::namespaced(ns, name)))
                    .is_some_and(|p| is_pending(&p));
                if e.is_not_found() || !still_pending {
                    debug!(pod = %key, error = %e, "bind refused; pod gone or bound");
                    self.queue.remove(&key);
                } else {
                    warn!(pod = %key, error = %e, "bind failed; retrying");
                    self.queue.retry(&key, now);
                }
            }
        }
    }
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    )
}

/// Sets `PodScheduled=False`, reason `Unschedulable`, with `message` on `pod`.
pub fn set_unschedulable(pod: &mut Pod, message: &str) {
    let condition = PodCondition {
        type_: conditions::POD_SCHEDULED.into(),
        status: ConditionStatus::False,
        last_probe_time: None,
        last_transition_time: Some(Time::now()),
        reason: "Unschedulable".into(),
        message: message.to_owned(),
        ..Default::default()
    };
    let conditions = &mut pod.status.conditions;
    match conditions
        .iter_mut()
        .find(|c| c.type_ == conditions::POD_SCHEDULED)
    {
        Some(c) => {
            if c.status == ConditionStatus::False {
                // Same status: keep when it first became false.
                let since = c.last_transition_time;
                *c = condition;
                c.last_transition_time = since.or(c.last_transition_time.take());
            } else {
                *c = condition;
            }
        }
        None => conditions.push(condition),
    }
    pod.status.phase.get_or_insert(PodPhase::Pending);
}

/// An Event about `pod`, as the Kubernetes scheduler writes it.
pub fn event_for(pod: &Pod, type_: &str, reason: &str, action: &str, message: String) -> Event {
    let now = Time::now();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut event = Event::new(format!("{}.{:x}", pod.metadata.name, nanos));
    event.metadata.namespace = pod.metadata.namespace.clone();
    event.involved_object = ObjectReference {
        kind: "Pod".into(),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        api_version: "v1".into(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: String::new(),
    };
    event.reason = reason.into();
    event.message = message;
    event.source = EventSource {
        component: SCHEDULER_NAME.into(),
        host: String::new(),
    };
    event.first_timestamp = Some(now);
    event.last_timestamp = Some(now);
    event.count = 1;
    event.type_ = type_.into();
    event.event_time = Some(MicroTime::now());
    event.action = action.into();
    event.reporting_component = SCHEDULER_NAME.into();
    event.reporting_instance = SCHEDULER_NAME.into();
    event
}

async fn write_event(api: Api<Event>, event: Event, permits: Arc<Semaphore>) {
    let Ok(_permit) = permits.acquire_owned().await else {
        return;
    };
    if let Err(e) = api.create(&event).await {
        debug!(event = %event.metadata.name, error = %e, "event not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::snapshot::tests::{bound, node, pod};

    #[test]
    fn pending_pods() {
        let mut deleting = pod("p", &[]);
        deleting.metadata.deletion_timestamp = Some(Time::now());
        let mut other = pod("p", &[]);
        other.spec.scheduler_name = "my-scheduler".into();
        let mut ours = pod("p", &[]);
        ours.spec.scheduler_name = SCHEDULER_NAME.into();
        let mut done = pod("p", &[]);
        done.status.phase = Some(PodPhase::Succeeded);
        let mut gated = pod("p", &[]);
        gated.spec.scheduling_gates.push(Default::default());
        let cases = [
            ("gated", gated, false),
            ("unbound", pod("p", &[]), true),
            ("named default scheduler", ours, true),
            ("bound", bound(pod("p", &[]), "n"), false),
            ("being deleted", deleting, false),
            ("another scheduler's", other, false),
            ("finished", done, false),
        ];
        for (name, p, want) in cases {
            assert_eq!(is_pending(&p), want, "{name}");
        }
    }

    #[test]
    fn node_changes_that_matter() {
        let base = node("n", "4", "8Gi", 110);
        let mut heartbeat = base.clone();
        heartbeat.status.conditions[0].last_heartbeat_time = Some(Time::now());
        let mut cordoned = base.clone();
        cordoned.spec.unschedulable = true;
        let mut bigger = base.clone();
        bigger.status.allocatable.insert(
            "cpu".into(),
            rudder_protocol::resources::Quantity::parse("8").expect("q"),
        );
        let mut unready = base.clone();
        unready.status.conditions[0].status = ConditionStatus::False;
        let mut labelled = base.clone();
        labelled.metadata.labels.insert("disk".into(), "ssd".into());
        let cases = [
            ("heartbeat only", heartbeat, false),
            ("cordon", cordoned, true),
            ("allocatable", bigger, true),
            ("readiness", unready, true),
            ("labels", labelled, true),
        ];
        for (name, new, want) in cases {
            assert_eq!(node_change_matters(&base, &new), want, "{name}");
        }
    }

    #[test]
    fn unschedulable_condition_and_events() {
        let mut p = pod("web", &[]);
        p.metadata.uid = "u1".into();
        set_unschedulable(&mut p, "0/1 nodes are available: 1 Too many pods.");
        let c = &p.status.conditions[0];
        assert_eq!(
            (c.type_.as_str(), c.status, c.reason.as_str()),
            ("PodScheduled", ConditionStatus::False, "Unschedulable")
        );
        let first = c.last_transition_time;
        set_unschedulable(&mut p, "other");
        assert_eq!(p.status.conditions.len(), 1, "replaced, not added");
        assert_eq!(p.status.conditions[0].message, "other");
        assert_eq!(p.status.conditions[0].last_transition_time, first);

        let e = event_for(
            &p,
            Event::NORMAL,
            "Scheduled",
            "Binding",
            "Successfully assigned default/web to n".into(),
        );
        assert_eq!(e.involved_object.name, "web");
        assert_eq!(e.involved_object.uid, "u1");
        assert_eq!(e.metadata.namespace, "default");
        assert_eq!(e.source.component, "default-scheduler");
        assert_eq!(e.reporting_component, "default-scheduler");
        assert!(e.metadata.name.starts_with("web."));
    }
}
