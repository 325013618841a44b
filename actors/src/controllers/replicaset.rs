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
//! Choices written down:
//! - An empty selector selects nothing (validation forbids it anyway); adopting every
//!   pod of a namespace by accident is worse than doing nothing.
//! - Pods being deleted or finished are neither counted, claimed nor released, so a
//!   terminating pod is replaced at once (as in Kubernetes).
//! - At most [`BURST_REPLICAS`] creations or deletions per sync; creations are issued in
//!   slow-start batches ([`slow_start_batches`]) by the applier.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::resources::{
    OwnerReference, Pod, PodTemplateSpec, ReplicaSet, ReplicaSetStatus, Resource, Time,
};

use super::pods;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pods::testing::*;
    use rudder_protocol::resources::{LabelSelector, ReplicaSetCondition};

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
}
