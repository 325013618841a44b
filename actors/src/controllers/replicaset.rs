//! The ReplicaSet controller: keeps `spec.replicas` pods matching a replica set's
//! selector alive, as Kubernetes' `ReplicaSetController` does.
//!
//! The decision is a pure [`plan`] over a snapshot (the owner, the pods of its namespace,
//! its [`Expectations`] and the time): adopt matching orphans, release owned pods that no
//! longer match, create or delete pods to reach the replica count, and compute the
//! status. The actor applies the plan through the apiserver; it does not decide.
//!
//! The logic is written once, over the [`ReplicaOwner`] trait; `ReplicaSet` implements it
//! here and `ReplicationController` in [`super::replication`].
//!
//! The actor ([`ReplicaSetController`], `controller/replicaset`; generic as
//! [`ReplicaController`]) runs only while it holds the Lease
//! `kube-system/rudder-controller-<name>`. In: owner and pod changes from two informers,
//! turned into owner keys on a work queue (and into expectation observations). Out: pod
//! creates (generateName `<owner>-`, controller reference), deletes (uid precondition),
//! owner-reference patches, status updates, and Events (SuccessfulCreate,
//! SuccessfulDelete, FailedCreate, FailedDelete). It answers no bus requests. The
//! leadership loop and the event recorder are shared with the deployment controller.
//!
//! Choices written down:
//! - An empty selector selects nothing (validation forbids it anyway); adopting every
//!   pod of a namespace by accident is worse than doing nothing.
//! - Pods being deleted or finished are neither counted, claimed nor released, so a
//!   terminating pod is replaced at once (as in Kubernetes).
//! - At most [`BURST_REPLICAS`] creations or deletions per sync; creations are issued in
//!   slow-start batches ([`slow_start_batches`]) by the applier.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rudder_protocol::api::{Api, ApiError};
use rudder_protocol::messages::api::{ListParams, PatchType};
use rudder_protocol::resources::{
    ConditionStatus, Event, OwnerReference, Pod, PodTemplateSpec, ReplicaSet, ReplicaSetCondition,
    ReplicaSetStatus, Resource, Time,
};
use tracing::{debug, info};

use super::pods;
use super::support::{reference, while_leading};
use crate::events::EventRecorder;
use crate::informer::{ApiHandle, Cache, Change, Informer, ObjectKey, WorkQueue};
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The most pods created or deleted in one sync (Kubernetes' `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// How long expectations may stay unmet before they are ignored.
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(5 * 60);

/// What the replica logic needs of its owner kind (ReplicaSet or ReplicationController).
pub trait ReplicaOwner: Resource {
    /// The controller name used in Events (`reportingController`, `source.component`).
    const COMPONENT: &'static str;
    /// `spec.replicas`, defaulting to 1.
    fn desired_replicas(&self) -> i32;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// Whether the selector selects these labels; an empty selector selects nothing.
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool;
    /// The template pods are made from (a ReplicationController's may be absent).
    fn pod_template(&self) -> Option<&PodTemplateSpec>;
    /// The observed state.
    fn replica_status(&self) -> &ReplicaSetStatus;
    /// The observed state, for changing it.
    fn replica_status_mut(&mut self) -> &mut ReplicaSetStatus;
}

impl ReplicaOwner for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";
    fn desired_replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds
    }
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        let s = &self.spec.selector;
        !(s.match_labels.is_empty() && s.match_expressions.is_empty()) && s.matches(labels)
    }
    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        Some(&self.spec.template)
    }
    fn replica_status(&self) -> &ReplicaSetStatus {
        &self.status
    }
    fn replica_status_mut(&mut self) -> &mut ReplicaSetStatus {
        &mut self.status
    }
}

/// Creations and deletions a controller has issued but not yet seen in its cache
/// (Kubernetes' `UIDTrackingControllerExpectations`): while unmet, the controller does
/// not create or delete again, so a slow watch cannot make it act twice. A plain value:
/// the actor keeps one per owner key and feeds it what its informer observes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    creates: i64,
    deletes: BTreeSet<String>,
    set_at: Option<Time>,
}

impl Expectations {
    /// Expects `creates` new pods and the deletion of the pods with these uids.
    pub fn expect(creates: usize, deletes: impl IntoIterator<Item = String>, now: Time) -> Self {
        Expectations {
            creates: i64::try_from(creates).unwrap_or(i64::MAX),
            deletes: deletes.into_iter().collect(),
            set_at: Some(now),
        }
    }

    /// A pod of this owner appeared.
    pub fn observe_created(&mut self) {
        self.creates -= 1;
    }

    /// `n` creations will never be observed (they failed or were skipped).
    pub fn creations_failed(&mut self, n: usize) {
        self.creates -= i64::try_from(n).unwrap_or(i64::MAX);
    }

    /// The pod with `uid` was deleted or started terminating (idempotent).
    pub fn observe_deleted(&mut self, uid: &str) {
        self.deletes.remove(uid);
    }

    /// Creations still awaited.
    pub fn pending_creates(&self) -> i64 {
        self.creates.max(0)
    }

    /// Deletions still awaited.
    pub fn pending_deletes(&self) -> usize {
        self.deletes.len()
    }

    /// Whether the controller may act: everything observed, or the expectations are
    /// older than [`EXPECTATIONS_TTL`] (a lost watch event must not block it forever).
    pub fn is_satisfied(&self, now: Time) -> bool {
        let met = self.creates <= 0 && self.deletes.is_empty();
        let expired = self.set_at.is_some_and(|t| {
            now.0.saturating_sub(t.0) >= i64::try_from(EXPECTATIONS_TTL.as_secs()).unwrap_or(0)
        });
        met || expired
    }
}

/// One step the applier takes for an owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Patch the pod's owner references to these (adding the controller reference).
    Adopt {
        /// The pod's name.
        pod: String,
        /// The pod's resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Patch the pod's owner references to these (dropping the controller reference).
    Release {
        /// The pod's name.
        pod: String,
        /// The pod's resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Create this many pods from the template (in slow-start batches).
    Create {
        /// How many.
        count: usize,
    },
    /// Delete this pod.
    Delete {
        /// The pod's name.
        pod: String,
        /// Its uid (a precondition, and what expectations track).
        uid: String,
    },
    /// Write this status.
    UpdateStatus(ReplicaSetStatus),
}

/// The result of [`plan`]: what to do, and when to look again regardless of events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The steps, in order.
    pub actions: Vec<Action>,
    /// Look again after this long (a pod will cross `minReadySeconds`).
    pub requeue_after: Option<Duration>,
}

/// Decides what to do for `owner` given the pods of its namespace (owned, orphaned and
/// foreign alike; the plan sorts them), its expectations and the time.
pub fn plan<K: ReplicaOwner>(
    owner: &K,
    pods: &[Arc<Pod>],
    expectations: &Expectations,
    now: Time,
) -> Plan {
    let meta = owner.metadata();
    let uid = meta.uid.as_str();
    let owner_deleting = meta.deletion_timestamp.is_some();
    let mut actions = Vec::new();

    // Claim: keep owned pods that match, adopt matching orphans, release the rest.
    let mut mine: Vec<&Pod> = Vec::new();
    for pod in pods.iter().map(Arc::as_ref).filter(|p| pods::is_active(p)) {
        let matches = owner.selects(&pod.metadata.labels);
        match pod.metadata.controller_ref() {
            Some(r) if r.uid == uid => {
                if matches || owner_deleting {
                    mine.push(pod);
                } else {
                    actions.push(Action::Release {
                        pod: pod.metadata.name.clone(),
                        resource_version: pod.metadata.resource_version.clone(),
                        owner_references: pods::without_owner(&pod.metadata.owner_references, uid),
                    });
                }
            }
            Some(_) => {}
            None if matches && !owner_deleting => {
                actions.push(Action::Adopt {
                    pod: pod.metadata.name.clone(),
                    resource_version: pod.metadata.resource_version.clone(),
                    owner_references: pods::with_controller(
                        &pod.metadata.owner_references,
                        owner.controller_ref(),
                    ),
                });
                mine.push(pod);
            }
            None => {}
        }
    }

    // Manage replicas, unless earlier writes are still unseen or the owner is going away.
    let desired = usize::try_from(owner.desired_replicas().max(0)).unwrap_or(0);
    if expectations.is_satisfied(now) && !owner_deleting && owner.pod_template().is_some() {
        if mine.len() < desired {
            let count = (desired - mine.len()).min(BURST_REPLICAS);
            actions.push(Action::Create { count });
        } else if mine.len() > desired {
            let count = (mine.len() - desired).min(BURST_REPLICAS);
            let mut ranked = mine.clone();
            ranked.sort_by(|a, b| pods::deletion_order(a, b));
            actions.extend(ranked.into_iter().take(count).map(|p| Action::Delete {
                pod: p.metadata.name.clone(),
                uid: p.metadata.uid.clone(),
            }));
        }
    }

    let status = compute_status(owner, &mine, now);
    if &status != owner.replica_status() {
        actions.push(Action::UpdateStatus(status));
    }
    Plan {
        actions,
        requeue_after: next_availability(owner.min_ready_seconds(), &mine, now),
    }
}

/// The status an owner reports for its (claimed, active) pods.
pub fn compute_status<K: ReplicaOwner>(owner: &K, mine: &[&Pod], now: Time) -> ReplicaSetStatus {
    let template_labels = owner
        .pod_template()
        .map(|t| t.metadata.labels.clone())
        .unwrap_or_default();
    let count = |f: &dyn Fn(&Pod) -> bool| -> i32 {
        i32::try_from(mine.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let min_ready = owner.min_ready_seconds();
    ReplicaSetStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: count(&|p| pods::has_all_labels(p, &template_labels)),
        ready_replicas: count(&|p| pods::is_ready(p)),
        available_replicas: count(&|p| pods::is_available(p, min_ready, now)),
        observed_generation: owner.metadata().generation,
        conditions: owner.replica_status().conditions.clone(),
    }
}

/// When the first ready-but-not-yet-available pod becomes available.
fn next_availability(min_ready_seconds: i32, mine: &[&Pod], now: Time) -> Option<Duration> {
    if min_ready_seconds <= 0 {
        return None;
    }
    mine.iter()
        .filter_map(|p| pods::available_in(p, min_ready_seconds, now))
        .filter(|d| !d.is_zero())
        .min()
}

/// Kubernetes' `slowStartBatch` sizes: 1, 2, 4, ... until `count` is reached. The applier
/// issues one batch at a time and stops at the first failure, so a template that cannot
/// be created costs one failed call, not hundreds.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = count;
    let mut size = 1;
    while left > 0 {
        let batch = size.min(left);
        out.push(batch);
        left -= batch;
        size *= 2;
    }
    out
}

/// Kubernetes' `ReplicaFailure` condition: set (reason `FailedCreate`) while creating or
/// deleting pods fails, removed once a sync succeeds.
pub fn set_failure_condition(status: &mut ReplicaSetStatus, failure: Option<&str>, now: Time) {
    const REPLICA_FAILURE: &str = "ReplicaFailure";
    match failure {
        None => status.conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        Some(message) => {
            if let Some(c) = status
                .conditions
                .iter_mut()
                .find(|c| c.type_ == REPLICA_FAILURE)
            {
                c.message = message.to_owned();
                return;
            }
            status.conditions.push(ReplicaSetCondition {
                type_: REPLICA_FAILURE.to_owned(),
                status: ConditionStatus::True,
                last_transition_time: Some(now),
                reason: "FailedCreate".to_owned(),
                message: message.to_owned(),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// The actor: informers, work queue, leadership, and the applier. Shared with the
// ReplicationController controller (through the generic [`ReplicaController`]) and, for
// leadership and events, with the deployment controller.
// ---------------------------------------------------------------------------------------

/// The ReplicaSet controller's name on the bus.
pub const NAME: &str = "controller/replicaset";
/// Reconciles running at once per controller (keys are never shared between them).
pub const WORKERS: usize = 2;

/// The ReplicaSet controller: a supervised task that acts while it leads the Lease
/// `kube-system/rudder-controller-replicaset`.
pub struct ReplicaSetController;

impl ReplicaSetController {
    /// The component the node's supervisor runs.
    pub fn component() -> ComponentSpec {
        ReplicaController::<ReplicaSet>::component(NAME, "replicaset")
    }
}

/// The components of this file, for the node to run on control-plane nodes.
pub fn components() -> Vec<ComponentSpec> {
    vec![ReplicaSetController::component()]
}

/// The replica controller loop for owner kind `K`.
pub struct ReplicaController<K>(std::marker::PhantomData<fn() -> K>);

impl<K: ReplicaOwner> ReplicaController<K> {
    /// A component named `name` electing itself on `rudder-controller-<lease>`.
    pub fn component(name: &'static str, lease: &'static str) -> ComponentSpec {
        ComponentSpec::new(name, move |ctx: &StartContext| {
            let api = ApiHandle::new(ctx.bus.clone());
            Started::task(async move {
                while_leading(&api, lease, run_replicas::<K>(api.clone(), name)).await;
            })
        })
    }
}

/// Takes the lock even if a panicking holder poisoned it: the map holds plain values
/// that each method changes in one step.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

type ExpectationMap = Arc<Mutex<HashMap<ObjectKey, Expectations>>>;

/// What the workers share.
struct Ctx<K: ReplicaOwner> {
    api: ApiHandle,
    events: EventRecorder,
    owners: Cache<K>,
    pods: Cache<Pod>,
    expectations: ExpectationMap,
}

/// The owner key of a pod controlled by a `K`.
fn owner_key<K: Resource>(pod: &Pod) -> Option<ObjectKey> {
    let r = pod.metadata.controller_ref()?;
    (r.kind == K::KIND).then(|| ObjectKey::namespaced(&pod.metadata.namespace, &r.name))
}

/// Keys of the owners in the pod's namespace that select it (for orphans).
fn selecting_owners<K: ReplicaOwner>(owners: &Cache<K>, pod: &Pod) -> Vec<ObjectKey> {
    owners
        .list_namespace(&pod.metadata.namespace)
        .iter()
        .filter(|o| o.selects(&pod.metadata.labels))
        .map(|o| ObjectKey::of(o.as_ref()))
        .collect()
}

/// Turns a pod change into owner keys and expectation observations (Kubernetes'
/// `addPod` / `updatePod` / `deletePod`).
fn on_pod_change<K: ReplicaOwner>(
    change: &Change<Pod>,
    owners: &Cache<K>,
    queue: &WorkQueue<ObjectKey>,
    expectations: &ExpectationMap,
) {
    let observe = |key: &ObjectKey, f: &dyn Fn(&mut Expectations)| {
        if let Some(e) = lock(expectations).get_mut(key) {
            f(e);
        }
    };
    match change {
        Change::Added(pod) => match owner_key::<K>(pod) {
            Some(key) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    observe(&key, &|e| e.observe_deleted(&pod.metadata.uid));
                } else {
                    observe(&key, &|e| e.observe_created());
                }
                queue.add(key);
            }
            None => selecting_owners(owners, pod)
                .into_iter()
                .for_each(|k| queue.add(k)),
        },
        Change::Modified { old, new } => {
            let new_key = owner_key::<K>(new);
            let old_key = owner_key::<K>(old);
            if new.metadata.deletion_timestamp.is_some()
                && old.metadata.deletion_timestamp.is_none()
            {
                if let Some(key) = &new_key {
                    observe(key, &|e| e.observe_deleted(&new.metadata.uid));
                }
            }
            if old_key != new_key {
                if let Some(k) = old_key {
                    queue.add(k);
                }
            }
            match new_key {
                Some(k) => queue.add(k),
                None if old.metadata.labels != new.metadata.labels
                    || old.metadata.owner_references != new.metadata.owner_references =>
                {
                    selecting_owners(owners, new)
                        .into_iter()
                        .for_each(|k| queue.add(k));
                }
                None => {}
            }
        }
        Change::Deleted(pod) => {
            if let Some(key) = owner_key::<K>(pod) {
                observe(&key, &|e| e.observe_deleted(&pod.metadata.uid));
                queue.add(key);
            }
        }
    }
}

async fn run_replicas<K: ReplicaOwner>(api: ApiHandle, name: &'static str) {
    let queue: WorkQueue<ObjectKey> = WorkQueue::default();
    let expectations: ExpectationMap = Arc::default();
    let (owners, _owners_informer) = {
        let queue = queue.clone();
        let expectations = expectations.clone();
        Informer::spawn(
            api.api::<K>(None),
            ListParams::default(),
            move |c: &Change<K>| {
                let key = c.key();
                if let Change::Deleted(_) = c {
                    lock(&expectations).remove(&key);
                }
                queue.add(key);
            },
        )
    };
    let (pods, _pods_informer) = {
        let queue = queue.clone();
        let expectations = expectations.clone();
        let owners = owners.clone();
        Informer::spawn(
            api.api::<Pod>(None),
            ListParams::default(),
            move |c: &Change<Pod>| {
                on_pod_change(c, &owners, &queue, &expectations);
            },
        )
    };
    owners.wait_synced().await;
    pods.wait_synced().await;
    info!(
        controller = name,
        owners = owners.len(),
        pods = pods.len(),
        "caches synced"
    );
    let ctx = Arc::new(Ctx {
        events: EventRecorder::new(api.clone(), K::COMPONENT),
        api,
        owners,
        pods,
        expectations,
    });
    crate::controllers::support::run_workers(name, queue, WORKERS, |key| {
        let ctx = ctx.clone();
        async move { reconcile(&ctx, &key).await }
    })
    .await;
}

/// One reconcile of one owner: read the caches, plan, apply.
async fn reconcile<K: ReplicaOwner>(
    ctx: &Ctx<K>,
    key: &ObjectKey,
) -> Result<Option<Duration>, ApiError> {
    let Some(owner) = ctx.owners.get(key) else {
        lock(&ctx.expectations).remove(key);
        return Ok(None);
    };
    let ns = owner.metadata().namespace.clone();
    let pods = ctx.pods.list_namespace(&ns);
    let now = Time::now();
    let expectations = lock(&ctx.expectations)
        .get(key)
        .cloned()
        .unwrap_or_default();
    let plan = plan(owner.as_ref(), &pods, &expectations, now);
    debug!(actions = plan.actions.len(), "planned");
    let pod_api = ctx.api.api::<Pod>(Some(&ns));
    let mut first_error = None;
    let mut victims: Vec<(String, String)> = Vec::new();
    let mut new_status = None;
    let mut manage_failure: Option<String> = None;
    for action in plan.actions {
        let result = match action {
            Action::Adopt {
                pod,
                resource_version,
                owner_references,
            }
            | Action::Release {
                pod,
                resource_version,
                owner_references,
            } => {
                let patch = serde_json::json!({"metadata": {
                    "ownerReferences": owner_references,
                    "resourceVersion": resource_version,
                }});
                match pod_api.patch(&pod, PatchType::Merge, &patch).await {
                    Err(e) if e.is_not_found() => Ok(()),
                    other => other.map(|_| ()),
                }
            }
            Action::Create { count } => {
                let r = create_pods(ctx, key, owner.as_ref(), &pod_api, count, now).await;
                if let Err(e) = &r {
                    manage_failure = Some(e.to_string());
                }
                r
            }
            Action::Delete { pod, uid } => {
                victims.push((pod, uid));
                Ok(())
            }
            Action::UpdateStatus(status) => {
                new_status = Some(status);
                Ok(())
            }
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    // Deletions are issued together, after the expectations for all of them are set.
    if !victims.is_empty() {
        if let Err(e) = delete_pods(ctx, key, owner.as_ref(), &pod_api, victims, now).await {
            manage_failure.get_or_insert_with(|| e.to_string());
            first_error.get_or_insert(e);
        }
    }
    // The status goes last, with the outcome of this sync's creations and deletions.
    let mut status = new_status.unwrap_or_else(|| owner.replica_status().clone());
    set_failure_condition(&mut status, manage_failure.as_deref(), now);
    if &status != owner.replica_status() {
        let mut updated = owner.as_ref().clone();
        *updated.replica_status_mut() = status;
        match ctx.api.api::<K>(Some(&ns)).update_status(&updated).await {
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
            Ok(_) => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(plan.requeue_after),
    }
}

/// Creates `count` pods in slow-start batches; stops at the first failed batch and
/// lowers the expectations by what will never appear.
async fn create_pods<K: ReplicaOwner>(
    ctx: &Ctx<K>,
    key: &ObjectKey,
    owner: &K,
    pod_api: &Api<Pod>,
    count: usize,
    now: Time,
) -> Result<(), ApiError> {
    let Some(template) = owner.pod_template() else {
        return Ok(());
    };
    let meta = owner.metadata();
    lock(&ctx.expectations).insert(key.clone(), Expectations::expect(count, [], now));
    let pod = pods::pod_from_template(
        template,
        &meta.namespace,
        &format!("{}-", meta.name),
        owner.controller_ref(),
    );
    let mut made = 0;
    for batch in slow_start_batches(count) {
        let results = futures::future::join_all((0..batch).map(|_| pod_api.create(&pod))).await;
        let mut error = None;
        for r in results {
            match r {
                Ok(p) => {
                    made += 1;
                    ctx.events.record(
                        reference(owner),
                        Event::NORMAL,
                        "SuccessfulCreate",
                        format!("Created pod: {}", p.metadata.name),
                    );
                }
                Err(e) => {
                    ctx.events.record(
                        reference(owner),
                        Event::WARNING,
                        "FailedCreate",
                        format!("Error creating: {e}"),
                    );
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = error {
            let never = count - made;
            if let Some(exp) = lock(&ctx.expectations).get_mut(key) {
                // Failed ones never show up; the pods that were made will be observed.
                exp.creations_failed(never);
            }
            return Err(e);
        }
    }
    info!(created = made, "created pods");
    Ok(())
}

/// Deletes the victims concurrently, expecting each deletion first.
async fn delete_pods<K: ReplicaOwner>(
    ctx: &Ctx<K>,
    key: &ObjectKey,
    owner: &K,
    pod_api: &Api<Pod>,
    victims: Vec<(String, String)>,
    now: Time,
) -> Result<(), ApiError> {
    lock(&ctx.expectations).insert(
        key.clone(),
        Expectations::expect(0, victims.iter().map(|(_, uid)| uid.clone()), now),
    );
    let results = futures::future::join_all(victims.iter().map(|(name, uid)| {
        let options = serde_json::json!({"preconditions": {"uid": uid}});
        async move { (name, uid, pod_api.delete_with(name, &options).await) }
    }))
    .await;
    let mut first = None;
    for (name, uid, r) in results {
        match r {
            Ok(_) => ctx.events.record(
                reference(owner),
                Event::NORMAL,
                "SuccessfulDelete",
                format!("Deleted pod: {name}"),
            ),
            Err(e) => {
                // Gone already, or not deleted: either way no deletion event will come.
                if let Some(exp) = lock(&ctx.expectations).get_mut(key) {
                    exp.observe_deleted(uid);
                }
                if !e.is_not_found() {
                    ctx.events.record(
                        reference(owner),
                        Event::WARNING,
                        "FailedDelete",
                        format!("Error deleting: {e}"),
                    );
                    first.get_or_insert(e);
                }
            }
        }
    }
    info!(deleted = victims.len(), "deleted pods");
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pods::testing::*;
    use rudder_protocol::resources::LabelSelector;

    const UID: &str = "rs-uid";
    const NOW: i64 = 10_000;

    fn rs(replicas: i32) -> ReplicaSet {
        let mut rs = ReplicaSet::new("web");
        rs.metadata.namespace = "default".into();
        rs.metadata.uid = UID.into();
        rs.metadata.generation = 3;
        rs.spec.replicas = Some(replicas);
        rs.spec.selector = LabelSelector {
            match_labels: [("app".to_owned(), "web".to_owned())].into(),
            ..Default::default()
        };
        rs.spec.template.metadata.labels = [
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "fe".to_owned()),
        ]
        .into();
        rs
    }

    fn mine(name: &str, created: i64) -> Pod {
        owned(
            pod(name, created, &[("app", "web"), ("tier", "fe")]),
            "ReplicaSet",
            "web",
            UID,
        )
    }

    fn names(actions: &[Action], pick: fn(&Action) -> Option<&str>) -> Vec<String> {
        actions.iter().filter_map(pick).map(str::to_owned).collect()
    }

    fn deleted(a: &Action) -> Option<&str> {
        match a {
            Action::Delete { pod, .. } => Some(pod),
            _ => None,
        }
    }
    fn adopted(a: &Action) -> Option<&str> {
        match a {
            Action::Adopt { pod, .. } => Some(pod),
            _ => None,
        }
    }
    fn released(a: &Action) -> Option<&str> {
        match a {
            Action::Release { pod, .. } => Some(pod),
            _ => None,
        }
    }
    fn created(actions: &[Action]) -> usize {
        actions
            .iter()
            .map(|a| match a {
                Action::Create { count } => *count,
                _ => 0,
            })
            .sum()
    }

    struct Case {
        name: &'static str,
        owner: ReplicaSet,
        pods: Vec<Pod>,
        expectations: Expectations,
        creates: usize,
        deletes: Vec<&'static str>,
        adopts: Vec<&'static str>,
        releases: Vec<&'static str>,
    }

    #[test]
    fn plan_table() {
        let deleting = |mut p: Pod| {
            p.metadata.deletion_timestamp = Some(Time(NOW));
            p
        };
        let mut owner_deleting = rs(3);
        owner_deleting.metadata.deletion_timestamp = Some(Time(NOW));
        let foreign = owned(
            pod("foreign", 0, &[("app", "web")]),
            "ReplicaSet",
            "other",
            "x",
        );
        let mut wrong_labels = mine("moved", 0);
        wrong_labels.metadata.labels = [("app".to_owned(), "db".to_owned())].into();
        let mut empty_selector = rs(1);
        empty_selector.spec.selector = LabelSelector::default();
        let cases = vec![
            Case {
                name: "creates from nothing",
                owner: rs(3),
                pods: vec![],
                expectations: Expectations::default(),
                creates: 3,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "steady state does nothing",
                owner: rs(2),
                pods: vec![mine("a", 1), mine("b", 2)],
                expectations: Expectations::default(),
                creates: 0,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "caps creations at the burst",
                owner: rs(2000),
                pods: vec![],
                expectations: Expectations::default(),
                creates: BURST_REPLICAS,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "deletes not-ready and newest first",
                owner: rs(2),
                pods: vec![
                    ready(mine("old-ready", 1), 5),
                    ready(mine("new-ready", 3), 5),
                    running(mine("not-ready", 0)),
                    ready(mine("mid-ready", 2), 5),
                ],
                expectations: Expectations::default(),
                creates: 0,
                deletes: vec!["not-ready", "new-ready"],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "terminating pods are replaced and not counted",
                owner: rs(2),
                pods: vec![mine("a", 1), deleting(mine("b", 2))],
                expectations: Expectations::default(),
                creates: 1,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "adopts a matching orphan and counts it",
                owner: rs(2),
                pods: vec![mine("a", 1), pod("orphan", 2, &[("app", "web")])],
                expectations: Expectations::default(),
                creates: 0,
                deletes: vec![],
                adopts: vec!["orphan"],
                releases: vec![],
            },
            Case {
                name: "ignores non-matching orphans and foreign pods",
                owner: rs(1),
                pods: vec![mine("a", 1), pod("stranger", 2, &[("app", "db")]), foreign],
                expectations: Expectations::default(),
                creates: 0,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "releases a pod whose labels changed and replaces it",
                owner: rs(1),
                pods: vec![wrong_labels],
                expectations: Expectations::default(),
                creates: 1,
                deletes: vec![],
                adopts: vec![],
                releases: vec!["moved"],
            },
            Case {
                name: "unmet expectations block creation",
                owner: rs(3),
                pods: vec![mine("a", 1)],
                expectations: Expectations::expect(2, [], Time(NOW - 10)),
                creates: 0,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "expired expectations no longer block",
                owner: rs(3),
                pods: vec![mine("a", 1)],
                expectations: Expectations::expect(2, [], Time(NOW - 301)),
                creates: 2,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "owner being deleted neither manages nor adopts",
                owner: owner_deleting,
                pods: vec![pod("orphan", 2, &[("app", "web")])],
                expectations: Expectations::default(),
                creates: 0,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "empty selector selects nothing",
                owner: empty_selector,
                pods: vec![pod("orphan", 2, &[("app", "web")])],
                expectations: Expectations::default(),
                creates: 1,
                deletes: vec![],
                adopts: vec![],
                releases: vec![],
            },
            Case {
                name: "scale to zero deletes all",
                owner: rs(0),
                pods: vec![mine("a", 1), mine("b", 2)],
                expectations: Expectations::default(),
                creates: 0,
                deletes: vec!["b", "a"],
                adopts: vec![],
                releases: vec![],
            },
        ];
        for c in cases {
            let pods: Vec<Arc<Pod>> = c.pods.into_iter().map(Arc::new).collect();
            let p = plan(&c.owner, &pods, &c.expectations, Time(NOW));
            assert_eq!(created(&p.actions), c.creates, "{}: creates", c.name);
            assert_eq!(names(&p.actions, deleted), c.deletes, "{}: deletes", c.name);
            assert_eq!(names(&p.actions, adopted), c.adopts, "{}: adopts", c.name);
            assert_eq!(
                names(&p.actions, released),
                c.releases,
                "{}: releases",
                c.name
            );
        }
    }

    #[test]
    fn adoption_sets_the_controller_reference() {
        let pods = vec![Arc::new(pod("orphan", 2, &[("app", "web")]))];
        let p = plan(&rs(1), &pods, &Expectations::default(), Time(NOW));
        let Some(Action::Adopt {
            owner_references, ..
        }) = p.actions.first()
        else {
            panic!("expected an adoption first: {:?}", p.actions);
        };
        assert_eq!(owner_references.len(), 1);
        assert_eq!(owner_references[0].uid, UID);
        assert_eq!(owner_references[0].kind, "ReplicaSet");
        assert_eq!(owner_references[0].controller, Some(true));
    }

    #[test]
    fn status_table() {
        let mut partly_labeled = mine("p", 1);
        partly_labeled.metadata.labels.remove("tier");
        let mut slow = rs(4);
        slow.spec.min_ready_seconds = 30;
        let cond = ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            ..Default::default()
        };
        let mut with_cond = rs(1);
        with_cond.status.conditions = vec![cond.clone()];
        // (name, owner, pods, want)
        let table: Vec<(&str, ReplicaSet, Vec<Pod>, ReplicaSetStatus)> = vec![
            (
                "counts ready and available",
                rs(3),
                vec![
                    ready(mine("a", 1), NOW - 5),
                    running(mine("b", 1)),
                    partly_labeled,
                ],
                ReplicaSetStatus {
                    replicas: 3,
                    fully_labeled_replicas: 2,
                    ready_replicas: 1,
                    available_replicas: 1,
                    observed_generation: 3,
                    conditions: vec![],
                },
            ),
            (
                "minReadySeconds holds back availability",
                slow,
                vec![
                    ready(mine("a", 1), NOW - 100),
                    ready(mine("b", 1), NOW - 10),
                ],
                ReplicaSetStatus {
                    replicas: 2,
                    fully_labeled_replicas: 2,
                    ready_replicas: 2,
                    available_replicas: 1,
                    observed_generation: 3,
                    conditions: vec![],
                },
            ),
            (
                "keeps conditions",
                with_cond,
                vec![mine("a", 1)],
                ReplicaSetStatus {
                    replicas: 1,
                    fully_labeled_replicas: 1,
                    observed_generation: 3,
                    conditions: vec![cond],
                    ..Default::default()
                },
            ),
        ];
        for (name, owner, pods, want) in table {
            let refs: Vec<&Pod> = pods.iter().collect();
            assert_eq!(compute_status(&owner, &refs, Time(NOW)), want, "{name}");
        }
    }

    #[test]
    fn status_written_only_when_changed_and_requeue_for_min_ready() {
        let mut owner = rs(1);
        owner.spec.min_ready_seconds = 30;
        let pods = vec![Arc::new(ready(mine("a", 1), NOW - 10))];
        let p = plan(&owner, &pods, &Expectations::default(), Time(NOW));
        let Some(Action::UpdateStatus(status)) = p.actions.last() else {
            panic!("expected a status update: {:?}", p.actions);
        };
        assert_eq!(p.requeue_after, Some(Duration::from_secs(21)));
        owner.status = status.clone();
        let again = plan(&owner, &pods, &Expectations::default(), Time(NOW));
        assert!(again.actions.is_empty(), "{:?}", again.actions);
    }

    #[test]
    fn expectations_lifecycle() {
        let mut e = Expectations::expect(2, ["u1".to_owned()], Time(100));
        assert!(!e.is_satisfied(Time(100)));
        e.observe_created();
        e.observe_deleted("u1");
        e.observe_deleted("u1");
        assert!(!e.is_satisfied(Time(101)), "one creation still pending");
        e.creations_failed(1);
        assert!(e.is_satisfied(Time(101)));
        let stale = Expectations::expect(1, [], Time(100));
        assert!(!stale.is_satisfied(Time(399)));
        assert!(stale.is_satisfied(Time(400)), "expires after five minutes");
        assert!(Expectations::default().is_satisfied(Time(0)));
    }

    #[test]
    fn slow_start_table() {
        let table: &[(&str, usize, &[usize])] = &[
            ("none", 0, &[]),
            ("one", 1, &[1]),
            ("three", 3, &[1, 2]),
            ("ten", 10, &[1, 2, 4, 3]),
            ("sixteen", 16, &[1, 2, 4, 8, 1]),
        ];
        for (name, n, want) in table {
            assert_eq!(slow_start_batches(*n), *want, "{name}");
        }
    }

    async fn drain(q: &WorkQueue<ObjectKey>) -> Vec<String> {
        let mut out = Vec::new();
        while !q.is_empty() {
            if let Some(k) = q.next().await {
                q.done(&k);
                out.push(k.to_string());
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn pod_changes_feed_expectations_and_the_queue() {
        let owners: Cache<ReplicaSet> = Cache::default();
        let q: WorkQueue<ObjectKey> = WorkQueue::default();
        let exp: ExpectationMap = Arc::default();
        let key = ObjectKey::namespaced("default", "web");
        lock(&exp).insert(
            key.clone(),
            Expectations::expect(1, ["uid-b".to_owned()], Time(NOW)),
        );
        let a = Arc::new(mine("a", 1));
        let b = Arc::new(mine("b", 1));

        on_pod_change(&Change::Added(a.clone()), &owners, &q, &exp);
        assert_eq!(
            drain(&q).await,
            vec!["default/web"],
            "owned pod queues its owner"
        );
        assert_eq!(lock(&exp)[&key].pending_creates(), 0, "creation observed");

        let mut terminating = b.as_ref().clone();
        terminating.metadata.deletion_timestamp = Some(Time(NOW));
        on_pod_change(
            &Change::Modified {
                old: b.clone(),
                new: Arc::new(terminating),
            },
            &owners,
            &q,
            &exp,
        );
        assert_eq!(
            lock(&exp)[&key].pending_deletes(),
            0,
            "terminating counts as deleted"
        );
        assert!(lock(&exp)[&key].is_satisfied(Time(NOW)));
        drain(&q).await;

        let moved = Arc::new(owned(
            pod("a", 1, &[("app", "web")]),
            "ReplicaSet",
            "other",
            "x",
        ));
        on_pod_change(
            &Change::Modified {
                old: a.clone(),
                new: moved,
            },
            &owners,
            &q,
            &exp,
        );
        assert_eq!(
            drain(&q).await,
            vec!["default/other", "default/web"],
            "both owners hear of a hand-over"
        );

        let foreign = Arc::new(owned(
            pod("c", 1, &[("app", "web")]),
            "ReplicationController",
            "rc",
            "y",
        ));
        on_pod_change(&Change::Deleted(foreign), &owners, &q, &exp);
        assert!(drain(&q).await.is_empty(), "another kind's pod is not ours");

        on_pod_change(&Change::Deleted(a), &owners, &q, &exp);
        assert_eq!(drain(&q).await, vec!["default/web"]);
    }

    #[test]
    fn failure_condition_table() {
        let mut s = ReplicaSetStatus::default();
        set_failure_condition(&mut s, Some("quota"), Time(5));
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.conditions[0].reason, "FailedCreate");
        assert_eq!(s.conditions[0].status, ConditionStatus::True);
        set_failure_condition(&mut s, Some("still quota"), Time(9));
        assert_eq!(s.conditions.len(), 1, "one condition, updated");
        assert_eq!(s.conditions[0].message, "still quota");
        assert_eq!(s.conditions[0].last_transition_time, Some(Time(5)));
        set_failure_condition(&mut s, None, Time(10));
        assert!(s.conditions.is_empty(), "cleared by a good sync");
    }
}
