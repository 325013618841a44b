//! The Deployment controller: rolls a deployment's pod template out through replica
//! sets, as Kubernetes' `DeploymentController` does.
//!
//! Each template revision gets its own ReplicaSet, named `<deployment>-<hash>` where the
//! hash is [`pods::template_hash`] of the template (plus `status.collisionCount`) and is
//! also the `pod-template-hash` label of the set, its selector and its pods. The
//! controller never touches pods itself: it creates, scales and deletes replica sets and
//! the ReplicaSet controller does the rest.
//!
//! The decision is a pure [`plan`] over a snapshot (the deployment, the replica sets and
//! pods of its namespace, the time). It runs one sync the way Kubernetes'
//! `syncDeployment` does, on working copies of the replica sets ([`Sync`]), and then turns
//! the differences into [`Action`]s: creates and updates of replica sets (with the
//! ScalingReplicaSet events to record), deletions of surplus history, the status, and
//! the deployment's own revision annotation. The pieces:
//!
//! - `revisions`: finding or building the new replica set, revision annotations
//!   (`deployment.kubernetes.io/revision`, `revision-history`, `desired-replicas`,
//!   `max-replicas`), rollback by template match, `revisionHistoryLimit` clean-up.
//! - `rolling`: RollingUpdate (maxSurge / maxUnavailable), as Kubernetes' `rolling.go`.
//! - `recreate`: Recreate: old sets to zero, wait for their pods to be gone, then new.
//! - `scale`: scaling events and paused deployments (proportional scaling).
//! - `status`: status counts and the Progressing / Available conditions.
//! - `controller`: the actor ([`DeploymentController`]) that applies the plan.
//!
//! Rollback is what modern `kubectl rollout undo` does: it patches the deployment's
//! template back to an old replica set's template; the controller then finds that set by
//! template equality, makes it the new one and gives it the next revision.
//!
//! Choices written down: adoption or release of replica sets is applied alone (the rest
//! waits for the next sync), since those patches change the sets' resourceVersions that
//! later updates would otherwise conflict with. A name collision with a foreign replica
//! set bumps `status.collisionCount` and nothing else happens in that sync.

mod controller;
mod recreate;
mod revisions;
mod rolling;
mod scale;
mod status;

#[cfg(test)]
mod simulation;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::resources::{
    Deployment, DeploymentStatus, DeploymentStrategyType, OwnerReference, Pod, ReplicaSet,
    Resource, Time,
};

use super::pods;

pub use controller::{DeploymentController, NAME};
pub use revisions::{
    revision, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
};
pub use rolling::{max_surge, max_unavailable, resolve_fenceposts};

/// The controller name used in Events.
pub const COMPONENT: &str = "deployment-controller";

/// One step the applier takes for a deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Patch a matching orphan replica set's owner references to these.
    AdoptReplicaSet {
        /// The replica set's name.
        name: String,
        /// Its resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Patch an owned replica set that no longer matches to these owner references.
    ReleaseReplicaSet {
        /// The replica set's name.
        name: String,
        /// Its resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Create this replica set, then record `events` (ScalingReplicaSet messages).
    CreateReplicaSet {
        /// The new replica set.
        rs: Box<ReplicaSet>,
        /// Messages of the ScalingReplicaSet events to record once it exists.
        events: Vec<String>,
    },
    /// Update this replica set (its resourceVersion guards the write), then record `events`.
    UpdateReplicaSet {
        /// The changed replica set.
        rs: Box<ReplicaSet>,
        /// Messages of the ScalingReplicaSet events to record once written.
        events: Vec<String>,
    },
    /// Delete an old replica set beyond `revisionHistoryLimit`.
    DeleteReplicaSet {
        /// Its name.
        name: String,
        /// Its uid (precondition).
        uid: String,
    },
    /// Write the deployment's status.
    UpdateStatus(Box<DeploymentStatus>),
    /// Set the deployment's `deployment.kubernetes.io/revision` annotation.
    SetRevision(String),
}

/// The result of [`plan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The steps, in order; the applier stops at the first failure.
    pub actions: Vec<Action>,
    /// Look again after this long (the progress deadline will pass).
    pub requeue_after: Option<Duration>,
}

/// `spec.replicas` of a deployment (default 1).
pub fn deployment_replicas(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

/// `spec.replicas` of a replica set (default 1).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// Oldest first; the name breaks ties (Kubernetes' `ReplicaSetsByCreationTimestamp`).
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    a.metadata
        .creation_timestamp
        .cmp(&b.metadata.creation_timestamp)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Whether the deployment rolls out with RollingUpdate (the default).
fn is_rolling(d: &Deployment) -> bool {
    d.spec.strategy.type_ != Some(DeploymentStrategyType::Recreate)
}

/// One sync's working state: copies of the owned replica sets that the steps change,
/// and the deployment status being built. [`Sync::finish`] turns it into actions.
pub(crate) struct Sync<'a> {
    d: &'a Deployment,
    now: Time,
    /// Every replica set of the namespace, for name-collision checks.
    all: &'a [Arc<ReplicaSet>],
    /// The owned replica sets (working copies), oldest first.
    rss: Vec<ReplicaSet>,
    /// Index of the new replica set (the one whose template is the deployment's).
    new: Option<usize>,
    /// Names of changed replica sets, in order of first change.
    touched: Vec<String>,
    /// Name of the replica set created in this sync.
    created: Option<String>,
    /// ScalingReplicaSet messages per replica set name.
    events: BTreeMap<String, Vec<String>>,
    /// Replica sets to delete (name, uid).
    deletes: Vec<(String, String)>,
    /// The status being built.
    status: DeploymentStatus,
    /// The revision annotation the deployment should carry.
    revision: Option<String>,
    /// When to look again.
    requeue_after: Option<Duration>,
    /// Set when nothing else may happen in this sync (e.g. a name collision).
    halted: bool,
}

impl<'a> Sync<'a> {
    fn new(
        d: &'a Deployment,
        all: &'a [Arc<ReplicaSet>],
        mut owned: Vec<ReplicaSet>,
        now: Time,
    ) -> Self {
        owned.sort_by(by_creation);
        Sync {
            d,
            now,
            all,
            rss: owned,
            new: None,
            touched: Vec::new(),
            created: None,
            events: BTreeMap::new(),
            deletes: Vec::new(),
            status: d.status.clone(),
            revision: d.metadata.annotations.get(REVISION_ANNOTATION).cloned(),
            requeue_after: None,
            halted: false,
        }
    }

    /// `spec.replicas` of the deployment.
    fn replicas(&self) -> i32 {
        deployment_replicas(self.d)
    }

    /// Indices of the old replica sets (all but the new one), oldest first.
    fn old(&self) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    /// Indices of every owned replica set, oldest first.
    fn all_indices(&self) -> Vec<usize> {
        (0..self.rss.len()).collect()
    }

    /// Records that replica set `i` changed.
    fn touch(&mut self, i: usize) {
        let name = self.rss[i].metadata.name.clone();
        if !self.touched.contains(&name) {
            self.touched.push(name);
        }
    }

    /// Sum of `spec.replicas` over `idx`.
    fn spec_sum(&self, idx: &[usize]) -> i32 {
        idx.iter().map(|i| rs_replicas(&self.rss[*i])).sum()
    }

    /// Sum of `status.availableReplicas` over `idx`.
    fn available_sum(&self, idx: &[usize]) -> i32 {
        // A set's status can lag its scale-down: pods beyond its desired count are being
        // deleted and must not be counted as available (counting them let a rollout dip
        // below `replicas - maxUnavailable` under load).
        idx.iter()
            .map(|i| {
                let rs = &self.rss[*i];
                rs.status.available_replicas.min(rs_replicas(rs))
            })
            .sum()
    }

    /// Kubernetes' `scaleReplicaSetAndRecordEvent`: nothing when already at `to`.
    fn scale_and_record(&mut self, i: usize, to: i32) -> bool {
        if rs_replicas(&self.rss[i]) == to {
            return false;
        }
        self.scale(i, to)
    }

    /// Kubernetes' `scaleReplicaSet`: sets the size and the replicas annotations.
    fn scale(&mut self, i: usize, to: i32) -> bool {
        let desired = self.replicas();
        let max = desired + max_surge(self.d);
        let from = rs_replicas(&self.rss[i]);
        let size_changes = from != to;
        let rs = &mut self.rss[i];
        let annotations_change = revisions::replicas_annotations_need_update(rs, desired, max);
        if !(size_changes || annotations_change) {
            return false;
        }
        rs.spec.replicas = Some(to);
        revisions::set_replicas_annotations(rs, desired, max);
        if size_changes {
            let direction = if to > from { "up" } else { "down" };
            let msg = format!(
                "Scaled {direction} replica set {} to {to}",
                rs.metadata.name
            );
            self.events
                .entry(rs.metadata.name.clone())
                .or_default()
                .push(msg);
        }
        self.touch(i);
        size_changes
    }

    /// Turns the working state into actions.
    fn finish(self) -> Plan {
        let mut actions = Vec::new();
        for name in &self.touched {
            let Some(rs) = self.rss.iter().find(|r| &r.metadata.name == name) else {
                continue;
            };
            let events = self.events.get(name).cloned().unwrap_or_default();
            let rs = Box::new(rs.clone());
            if self.created.as_ref() == Some(name) {
                actions.push(Action::CreateReplicaSet { rs, events });
            } else {
                actions.push(Action::UpdateReplicaSet { rs, events });
            }
        }
        actions.extend(
            self.deletes
                .iter()
                .map(|(name, uid)| Action::DeleteReplicaSet {
                    name: name.clone(),
                    uid: uid.clone(),
                }),
        );
        if self.status != self.d.status {
            actions.push(Action::UpdateStatus(Box::new(self.status.clone())));
        }
        if let Some(rev) = &self.revision {
            if self.d.metadata.annotations.get(REVISION_ANNOTATION) != Some(rev) && !self.halted {
                actions.push(Action::SetRevision(rev.clone()));
            }
        }
        Plan {
            actions,
            requeue_after: self.requeue_after,
        }
    }
}

/// Claims the namespace's replica sets for `d` (Kubernetes' `ClaimReplicaSets`): owned
/// ones that match stay, matching orphans are adopted, owned ones that stopped matching
/// are released. Returns the owned sets and the adoption/release actions.
fn claim(d: &Deployment, all: &[Arc<ReplicaSet>]) -> (Vec<ReplicaSet>, Vec<Action>) {
    let uid = d.metadata.uid.as_str();
    let d_deleting = d.metadata.deletion_timestamp.is_some();
    let mut owned = Vec::new();
    let mut actions = Vec::new();
    for rs in all {
        let matches = d.spec.selector.matches(&rs.metadata.labels);
        let rs_deleting = rs.metadata.deletion_timestamp.is_some();
        match rs.metadata.controller_ref() {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(rs.as_ref().clone());
                } else if !rs_deleting && !d_deleting {
                    actions.push(Action::ReleaseReplicaSet {
                        name: rs.metadata.name.clone(),
                        resource_version: rs.metadata.resource_version.clone(),
                        owner_references: pods::without_owner(&rs.metadata.owner_references, uid),
                    });
                }
            }
            None if matches && !rs_deleting && !d_deleting => {
                actions.push(Action::AdoptReplicaSet {
                    name: rs.metadata.name.clone(),
                    resource_version: rs.metadata.resource_version.clone(),
                    owner_references: pods::with_controller(
                        &rs.metadata.owner_references,
                        d.controller_ref(),
                    ),
                });
            }
            _ => {}
        }
    }
    (owned, actions)
}

/// Decides one sync of deployment `d` (Kubernetes' `syncDeployment`) from the replica
/// sets and pods of its namespace at time `now`.
pub fn plan(
    d: &Deployment,
    replica_sets: &[Arc<ReplicaSet>],
    pods: &[Arc<Pod>],
    now: Time,
) -> Plan {
    let selector = &d.spec.selector;
    if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
        // Selecting everything is refused; only acknowledge the generation.
        let mut plan = Plan::default();
        if d.status.observed_generation < d.metadata.generation {
            let mut status = d.status.clone();
            status.observed_generation = d.metadata.generation;
            plan.actions.push(Action::UpdateStatus(Box::new(status)));
        }
        return plan;
    }
    let (owned, claims) = claim(d, replica_sets);
    if !claims.is_empty() {
        return Plan {
            actions: claims,
            requeue_after: None,
        };
    }
    let mut s = Sync::new(d, replica_sets, owned, now);
    if d.metadata.deletion_timestamp.is_some() {
        s.sync_revision(false);
        status::sync_deployment_status(&mut s);
        return s.finish();
    }
    status::check_paused_conditions(&mut s);
    if d.spec.paused || scale::is_scaling_event(&mut s) {
        scale::sync(&mut s);
    } else if is_rolling(d) {
        rolling::rollout(&mut s);
    } else {
        recreate::rollout(&mut s, pods);
    }
    s.finish()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for the deployment tests.
    use super::*;
    use rudder_protocol::resources::{
        IntOrString, LabelSelector, PodTemplateSpec, RollingUpdateDeployment,
    };

    /// A defaulted rolling deployment `web` of `replicas` with image `image`.
    pub fn deployment(
        replicas: i32,
        image: &str,
        surge: IntOrString,
        unavailable: IntOrString,
    ) -> Deployment {
        let mut d = Deployment::new("web");
        d.metadata.namespace = "default".into();
        d.metadata.uid = "d-uid".into();
        d.metadata.generation = 1;
        d.spec.replicas = Some(replicas);
        d.spec.selector = LabelSelector {
            match_labels: [("app".to_owned(), "web".to_owned())].into(),
            ..Default::default()
        };
        d.spec.template = template(image);
        d.spec.strategy.type_ = Some(DeploymentStrategyType::RollingUpdate);
        d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(surge),
            max_unavailable: Some(unavailable),
        });
        d.spec.revision_history_limit = Some(10);
        d.spec.progress_deadline_seconds = Some(600);
        d
    }

    /// A template labelled `app=web` running `image`.
    pub fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels = [("app".to_owned(), "web".to_owned())].into();
        t.spec.containers = vec![rudder_protocol::resources::Container {
            name: "c".into(),
            image: image.into(),
            ..Default::default()
        }];
        t
    }

    /// A replica set of `d` for `image`, with `replicas` and `available` pods, created at
    /// `created` with revision `rev`.
    pub fn owned_rs(
        d: &Deployment,
        image: &str,
        replicas: i32,
        available: i32,
        created: i64,
        rev: i64,
    ) -> ReplicaSet {
        let t = template(image);
        let hash = pods::template_hash(&t, None);
        let mut rs = revisions::new_replica_set(d, &t, &hash);
        rs.metadata.uid = format!("uid-{}", rs.metadata.name);
        rs.metadata.creation_timestamp = Some(Time(created));
        rs.metadata.resource_version = "1".into();
        rs.spec.replicas = Some(replicas);
        rs.status.replicas = replicas;
        rs.status.ready_replicas = available;
        rs.status.available_replicas = available;
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), rev.to_string());
        rs
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use rudder_protocol::resources::IntOrString;

    fn arcs(v: Vec<ReplicaSet>) -> Vec<Arc<ReplicaSet>> {
        v.into_iter().map(Arc::new).collect()
    }

    #[test]
    fn claim_table() {
        let d = deployment(3, "v1", "25%".into(), "25%".into());
        let mine = owned_rs(&d, "v1", 3, 3, 1, 1);
        let mut orphan = owned_rs(&d, "v0", 0, 0, 0, 1);
        orphan.metadata.owner_references.clear();
        let mut strayed = owned_rs(&d, "v2", 0, 0, 0, 2);
        strayed.metadata.labels.insert("app".into(), "db".into());
        let mut foreign = owned_rs(&d, "v3", 0, 0, 0, 3);
        foreign.metadata.owner_references[0].uid = "other".into();
        // (name, sets, owned count, adoptions, releases)
        let table = [
            ("owned stays", vec![mine.clone()], 1, 0, 0),
            ("orphan adopted", vec![mine.clone(), orphan], 1, 1, 0),
            (
                "non-matching owned released",
                vec![mine.clone(), strayed],
                1,
                0,
                1,
            ),
            ("foreign ignored", vec![mine, foreign], 1, 0, 0),
        ];
        for (name, sets, n_owned, adopts, releases) in table {
            let (owned, actions) = claim(&d, &arcs(sets));
            assert_eq!(owned.len(), n_owned, "{name}");
            let adopted = actions
                .iter()
                .filter(|a| matches!(a, Action::AdoptReplicaSet { .. }))
                .count();
            let released = actions
                .iter()
                .filter(|a| matches!(a, Action::ReleaseReplicaSet { .. }))
                .count();
            assert_eq!((adopted, released), (adopts, releases), "{name}");
        }
    }

    #[test]
    fn first_sync_creates_the_new_replica_set() {
        let d = deployment(3, "v1", "25%".into(), "25%".into());
        let p = plan(&d, &[], &[], Time(100));
        let Some(Action::CreateReplicaSet { rs, events }) = p.actions.first() else {
            panic!("{:?}", p.actions);
        };
        let hash = pods::template_hash(&d.spec.template, None);
        assert_eq!(rs.metadata.name, format!("web-{hash}"));
        assert_eq!(rs.spec.replicas, Some(3));
        assert_eq!(
            rs.metadata.labels.get(pods::POD_TEMPLATE_HASH_LABEL),
            Some(&hash)
        );
        assert_eq!(
            rs.spec
                .selector
                .match_labels
                .get(pods::POD_TEMPLATE_HASH_LABEL),
            Some(&hash)
        );
        assert_eq!(
            rs.spec
                .template
                .metadata
                .labels
                .get(pods::POD_TEMPLATE_HASH_LABEL),
            Some(&hash)
        );
        assert_eq!(
            rs.metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(
            rs.metadata
                .annotations
                .get(DESIRED_REPLICAS_ANNOTATION)
                .map(String::as_str),
            Some("3")
        );
        assert_eq!(
            rs.metadata
                .annotations
                .get(MAX_REPLICAS_ANNOTATION)
                .map(String::as_str),
            Some("4")
        );
        assert!(pods::is_controlled_by(&rs.metadata, "d-uid"));
        assert_eq!(
            events,
            &vec![format!("Scaled up replica set web-{hash} to 3")]
        );
        let status = p.actions.iter().find_map(|a| match a {
            Action::UpdateStatus(s) => Some(s),
            _ => None,
        });
        let status = status.expect("a status update");
        let progressing = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Progressing")
            .expect("Progressing");
        assert_eq!(progressing.reason, "NewReplicaSetCreated");
        assert!(p.actions.contains(&Action::SetRevision("1".into())));
    }

    #[test]
    fn name_collision_bumps_the_collision_count() {
        let d = deployment(3, "v1", "25%".into(), "25%".into());
        let hash = pods::template_hash(&d.spec.template, None);
        let mut squatter = ReplicaSet::new(format!("web-{hash}"));
        squatter.metadata.labels.insert("other".into(), "x".into());
        let p = plan(&d, &arcs(vec![squatter]), &[], Time(100));
        assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
        let Action::UpdateStatus(s) = &p.actions[0] else {
            panic!("{:?}", p.actions);
        };
        assert_eq!(s.collision_count, Some(1));
        let mut d2 = d.clone();
        d2.status.collision_count = Some(1);
        let p2 = plan(&d2, &[], &[], Time(100));
        let Some(Action::CreateReplicaSet { rs, .. }) = p2.actions.first() else {
            panic!("{:?}", p2.actions);
        };
        assert_eq!(
            rs.metadata.name,
            format!("web-{}", pods::template_hash(&d.spec.template, Some(1)))
        );
    }

    #[test]
    fn empty_selector_only_observes_the_generation() {
        let mut d = deployment(3, "v1", 1.into(), 0.into());
        d.spec.selector = Default::default();
        d.metadata.generation = 4;
        let p = plan(&d, &[], &[], Time(1));
        assert_eq!(p.actions.len(), 1);
        assert!(matches!(&p.actions[0], Action::UpdateStatus(s) if s.observed_generation == 4));
    }

    #[test]
    fn paused_deployment_does_not_roll() {
        let mut d = deployment(3, "v2", IntOrString::Int(1), IntOrString::Int(0));
        d.spec.paused = true;
        let old = owned_rs(&d, "v1", 3, 3, 1, 1);
        let p = plan(&d, &arcs(vec![old]), &[], Time(100));
        assert!(
            !p.actions.iter().any(|a| matches!(
                a,
                Action::CreateReplicaSet { .. } | Action::UpdateReplicaSet { .. }
            )),
            "{:?}",
            p.actions
        );
        let status = p
            .actions
            .iter()
            .find_map(|a| match a {
                Action::UpdateStatus(s) => Some(s),
                _ => None,
            })
            .expect("status");
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Progressing")
            .expect("Progressing");
        assert_eq!(c.reason, "DeploymentPaused");
    }
}
