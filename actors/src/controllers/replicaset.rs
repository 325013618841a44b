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
//! [`ReplicaController`]) is built with the controller kit ([`super::support`]): it runs
//! only while it holds the Lease `kube-system/rudder-controller-<name>`. In: owner and
//! pod changes from the node's shared informers, turned into owner keys on a work queue
//! (and into [`ControllerExpectations`] observations). Out: pod creates and deletes
//! through the kit's [`PodControl`] (generateName `<owner>-`, controller reference, uid
//! preconditions, slow-start batches, Events SuccessfulCreate, SuccessfulDelete,
//! FailedCreate, FailedDelete), owner-reference patches and status updates. It answers
//! no bus requests.
//!
//! Choices written down:
//! - An empty selector selects nothing (validation forbids it anyway); adopting every
//!   pod of a namespace by accident is worse than doing nothing.
//! - Pods being deleted or finished are neither counted, claimed nor released, so a
//!   terminating pod is replaced at once (as in Kubernetes).
//! - At most [`BURST_REPLICAS`] creations or deletions per sync; creations are issued in
//!   slow-start batches ([`super::support::slow_start_batches`]) by the applier.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{
    ConditionStatus, OwnerReference, Pod, PodTemplateSpec, ReplicaSet, ReplicaSetCondition,
    ReplicaSetStatus, Resource, Time,
};
use tracing::debug;

use super::pods;
use super::support::{controller_key, Controller, ControllerExpectations, PodControl, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

pub use super::support::Expectations;

/// The most pods created or deleted in one sync (Kubernetes' `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

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
        ready_replicas: count(&|p| p.is_ready()),
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
// The actor: the controller kit's wiring around the plan, and the applier. Shared with
// the ReplicationController controller (through the generic [`ReplicaController`]).
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
        ReplicaController::<ReplicaSet>::component(NAME)
    }
}

/// The replica controller loop for owner kind `K`.
pub struct ReplicaController<K>(std::marker::PhantomData<fn() -> K>);

impl<K: ReplicaOwner> ReplicaController<K> {
    /// The component named `name` (its Lease is named after it).
    pub fn component(name: &'static str) -> ComponentSpec {
        Controller::<K>::new(name)
            .workers(WORKERS)
            .component(wire::<K>, |ctx: Arc<Ctx<K>>, key: ObjectKey| async move {
                reconcile(&ctx, &key).await
            })
    }
}

/// What the workers share.
struct Ctx<K: ReplicaOwner> {
    api: ApiHandle,
    control: PodControl,
    owners: Cache<K>,
    pods: Cache<Pod>,
    expectations: ControllerExpectations,
}

/// The informers: owners by their own key (forgetting the expectations of one that
/// goes), pods by their controller's key or, for orphans, the owners selecting them.
fn wire<K: ReplicaOwner>(w: &mut Wiring<K>) -> Ctx<K> {
    let expectations = ControllerExpectations::default();
    let exp = expectations.clone();
    let owners = w.primary_with(move |c: &Change<K>, queue: &WorkQueue<ObjectKey>| {
        let key = c.key();
        if let Change::Deleted(_) = c {
            exp.delete(&key);
        }
        queue.add(key);
    });
    let (exp, o) = (expectations.clone(), owners.clone());
    let pods = w.watches(
        Scope::all(),
        move |c: &Change<Pod>, queue: &WorkQueue<ObjectKey>| on_pod_change(c, &o, queue, &exp),
    );
    Ctx {
        api: w.api().clone(),
        control: PodControl::new(w.api().clone(), K::COMPONENT),
        owners,
        pods,
        expectations,
    }
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
    expectations: &ControllerExpectations,
) {
    match change {
        Change::Added(pod) => match controller_key::<K, Pod>(pod.as_ref()) {
            Some(key) => {
                expectations.observe(&key, change);
                queue.add(key);
            }
            None => selecting_owners(owners, pod)
                .into_iter()
                .for_each(|k| queue.add(k)),
        },
        Change::Modified { old, new } => {
            let new_key = controller_key::<K, Pod>(new.as_ref());
            let old_key = controller_key::<K, Pod>(old.as_ref());
            if let Some(key) = &new_key {
                expectations.observe(key, change);
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
            if let Some(key) = controller_key::<K, Pod>(pod.as_ref()) {
                expectations.observe(&key, change);
                queue.add(key);
            }
        }
    }
}

/// One reconcile of one owner: read the caches, plan, apply.
async fn reconcile<K: ReplicaOwner>(
    ctx: &Ctx<K>,
    key: &ObjectKey,
) -> Result<Option<Duration>, ApiError> {
    let Some(owner) = ctx.owners.get(key) else {
        ctx.expectations.delete(key);
        return Ok(None);
    };
    let ns = owner.metadata().namespace.clone();
    let pods = ctx.pods.list_namespace(&ns);
    let now = Time::now();
    let expectations = ctx.expectations.get(key);
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
                let r = match owner.pod_template() {
                    Some(template) => {
                        ctx.control
                            .create_pods(
                                owner.as_ref(),
                                template,
                                count,
                                &ctx.expectations,
                                key,
                                now,
                            )
                            .await
                    }
                    None => Ok(()),
                };
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
        if let Err(e) = ctx
            .control
            .delete_pods(owner.as_ref(), victims, &ctx.expectations, key, now)
            .await
        {
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
        let exp = ControllerExpectations::default();
        let key = ObjectKey::namespaced("default", "web");
        exp.set(
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
        assert_eq!(exp.get(&key).pending_creates(), 0, "creation observed");

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
            exp.get(&key).pending_deletes(),
            0,
            "terminating counts as deleted"
        );
        assert!(exp.get(&key).is_satisfied(Time(NOW)));
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
