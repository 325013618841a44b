//! Revisions: which replica set is the new one, how it is built, the annotations that
//! record revisions and sizes, and the clean-up of history beyond
//! `revisionHistoryLimit` (Kubernetes' `deployment/util` and `sync.go`).

use rudder_protocol::resources::{Deployment, PodTemplateSpec, ReplicaSet, Resource};

use super::status::{self, PROGRESSING};
use super::{deployment_replicas, max_surge, pods, rs_replicas, Sync};

/// The revision of a replica set (and, copied from its new set, of a deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a replica set had before a rollback made it new again.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The deployment's `spec.replicas` when the replica set was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The deployment's `replicas + maxSurge` when the replica set was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Longest `revision-history` value kept, in characters.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Deployment annotations never copied onto replica sets.
const SKIPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

/// A replica set's revision (0 when absent or unreadable).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata
        .annotations
        .get(key)
        .and_then(|v| v.parse().ok())
}

/// The `desired-replicas` annotation, if readable.
pub(super) fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation_i32(rs, DESIRED_REPLICAS_ANNOTATION)
}

/// The `max-replicas` annotation, if readable.
pub(super) fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation_i32(rs, MAX_REPLICAS_ANNOTATION)
}

/// Whether the replicas annotations differ from `desired` / `max`.
pub(super) fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let a = &rs.metadata.annotations;
    a.get(DESIRED_REPLICAS_ANNOTATION) != Some(&desired.to_string())
        || a.get(MAX_REPLICAS_ANNOTATION) != Some(&max.to_string())
}

/// Sets the replicas annotations; whether anything changed.
pub(super) fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let changed = replicas_annotations_need_update(rs, desired, max);
    let a = &mut rs.metadata.annotations;
    a.insert(DESIRED_REPLICAS_ANNOTATION.to_owned(), desired.to_string());
    a.insert(MAX_REPLICAS_ANNOTATION.to_owned(), max.to_string());
    changed
}

/// Copies the deployment's annotations (but the skipped ones) onto the replica set.
fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    for (k, v) in &d.metadata.annotations {
        if SKIPPED_ANNOTATIONS.contains(&k.as_str()) || rs.metadata.annotations.get(k) == Some(v) {
            continue;
        }
        rs.metadata.annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Kubernetes' `SetNewReplicaSetAnnotations`: copies the deployment's annotations, raises
/// the revision to `new_revision` (keeping the one it replaces in `revision-history`, which
/// is how a rolled-back set remembers its past), and for a set being created records the
/// replicas annotations. Whether anything changed.
pub(super) fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let old = rs.metadata.annotations.get(REVISION_ANNOTATION).cloned();
    let old_revision = match old.as_deref() {
        None => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            // An unreadable revision is left alone rather than guessed.
            Err(_) => return changed,
        },
    };
    if old_revision < new_revision {
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.to_owned(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = rs
                .metadata
                .annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            let mut revisions: Vec<&str> = history.split(',').filter(|r| !r.is_empty()).collect();
            revisions.push(&old);
            // Drop the oldest entries until the value fits.
            while revisions.len() > 1 && revisions.join(",").len() > MAX_REVISION_HISTORY_CHARS {
                revisions.remove(0);
            }
            rs.metadata
                .annotations
                .insert(REVISION_HISTORY_ANNOTATION.to_owned(), revisions.join(","));
        }
    }
    if !exists {
        let desired = deployment_replicas(d);
        if set_replicas_annotations(rs, desired, desired + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

/// A new replica set for `d` running `template` with pod-template hash `hash`: named
/// `<deployment>-<hash>`, the hash in its labels, selector and template, owned by `d`,
/// zero replicas (the caller sizes it).
pub fn new_replica_set(d: &Deployment, template: &PodTemplateSpec, hash: &str) -> ReplicaSet {
    let mut template = template.clone();
    template
        .metadata
        .labels
        .insert(pods::POD_TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    let mut selector = d.spec.selector.clone();
    selector
        .match_labels
        .insert(pods::POD_TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    let mut rs = ReplicaSet::new(format!("{}-{hash}", d.metadata.name));
    rs.metadata.namespace = d.metadata.namespace.clone();
    rs.metadata.owner_references = vec![d.controller_ref()];
    rs.metadata.labels = template.metadata.labels.clone();
    rs.spec.replicas = Some(0);
    rs.spec.min_ready_seconds = d.spec.min_ready_seconds;
    rs.spec.selector = selector;
    rs.spec.template = template;
    rs
}

impl Sync<'_> {
    /// Kubernetes' `getAllReplicaSetsAndSyncRevision`: finds the new replica set (the
    /// oldest whose template equals the deployment's, ignoring the hash label), brings
    /// its revision above every old one, and, when `create` is set and there is none,
    /// builds it. Also keeps the deployment's revision annotation and the initial
    /// Progressing condition in step.
    pub(super) fn sync_revision(&mut self, create: bool) {
        let d = self.d;
        self.new = self
            .rss
            .iter()
            .position(|rs| pods::equal_ignore_hash(&rs.spec.template, &d.spec.template));
        let max_old = self
            .old()
            .into_iter()
            .map(|i| revision(&self.rss[i]))
            .max()
            .unwrap_or(0);
        let new_revision = max_old + 1;
        let has_deadline = status::has_progress_deadline(d);
        if let Some(i) = self.new {
            let rs = &mut self.rss[i];
            let annotations = set_new_rs_annotations(d, rs, new_revision, true);
            let min_ready = rs.spec.min_ready_seconds != d.spec.min_ready_seconds;
            if annotations || min_ready {
                rs.spec.min_ready_seconds = d.spec.min_ready_seconds;
                self.touch(i);
            }
            let rs = &self.rss[i];
            self.revision = rs.metadata.annotations.get(REVISION_ANNOTATION).cloned();
            if has_deadline && status::condition(&self.status, PROGRESSING).is_none() {
                let msg = format!("Found new replica set {:?}", rs.metadata.name);
                let c =
                    status::new_condition(PROGRESSING, true, "FoundNewReplicaSet", msg, self.now);
                status::set_condition(&mut self.status, c);
            }
            return;
        }
        if !create {
            return;
        }
        let hash = pods::template_hash(&d.spec.template, self.status.collision_count);
        let mut rs = new_replica_set(d, &d.spec.template, &hash);
        if self.all.iter().any(|r| r.metadata.name == rs.metadata.name) {
            // The name is taken by a set that is not ours (ours would have been found by
            // its template): pick another hash next time.
            self.status.collision_count = Some(self.status.collision_count.unwrap_or(0) + 1);
            self.halted = true;
            return;
        }
        self.rss.push(rs.clone());
        let i = self.rss.len() - 1;
        self.new = Some(i);
        let replicas = self.new_rs_new_replicas(i);
        rs.spec.replicas = Some(replicas);
        set_new_rs_annotations(d, &mut rs, new_revision, false);
        let name = rs.metadata.name.clone();
        if replicas > 0 {
            self.events
                .entry(name.clone())
                .or_default()
                .push(format!("Scaled up replica set {name} to {replicas}"));
        }
        self.rss[i] = rs;
        self.created = Some(name.clone());
        self.touch(i);
        self.revision = Some(new_revision.to_string());
        if has_deadline {
            let msg = format!("Created new replica set {name:?}");
            let c = status::new_condition(PROGRESSING, true, "NewReplicaSetCreated", msg, self.now);
            status::set_condition(&mut self.status, c);
        }
    }

    /// Kubernetes' `NewRSNewReplicas`: how big the new set may be now.
    pub(super) fn new_rs_new_replicas(&self, new: usize) -> i32 {
        let replicas = self.replicas();
        let current_new = rs_replicas(&self.rss[new]);
        if !super::is_rolling(self.d) {
            return replicas;
        }
        let current = self.spec_sum(&self.all_indices());
        let max_total = replicas + max_surge(self.d);
        if current >= max_total {
            return current_new;
        }
        let up = (max_total - current).min(replicas - current_new).max(0);
        current_new + up
    }

    /// Kubernetes' `cleanupDeployment`: deletes the oldest revisions beyond
    /// `revisionHistoryLimit`, but only sets that are fully scaled down and settled.
    pub(super) fn cleanup(&mut self) {
        let Some(limit) = self.d.spec.revision_history_limit else {
            return;
        };
        if limit == i32::MAX {
            return;
        }
        let mut cleanable: Vec<usize> = self
            .old()
            .into_iter()
            .filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none())
            .collect();
        let diff = i64::try_from(cleanable.len()).unwrap_or(i64::MAX) - i64::from(limit.max(0));
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| {
            let (a, b) = (&self.rss[*a], &self.rss[*b]);
            revision(a)
                .cmp(&revision(b))
                .then_with(|| super::by_creation(a, b))
        });
        for i in cleanable
            .into_iter()
            .take(usize::try_from(diff).unwrap_or(0))
        {
            let rs = &self.rss[i];
            if rs.status.replicas != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation > rs.status.observed_generation
            {
                continue;
            }
            self.deletes
                .push((rs.metadata.name.clone(), rs.metadata.uid.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::testing::*;
    use super::super::{plan, Action};
    use super::*;
    use rudder_protocol::resources::{IntOrString, Time};

    fn find_update<'a>(actions: &'a [Action], name: &str) -> Option<&'a ReplicaSet> {
        actions.iter().find_map(|a| match a {
            Action::UpdateReplicaSet { rs, .. } | Action::CreateReplicaSet { rs, .. }
                if rs.metadata.name == name =>
            {
                Some(rs.as_ref())
            }
            _ => None,
        })
    }

    #[test]
    fn revision_annotation_table() {
        let d = deployment(3, "v1", "25%".into(), "25%".into());
        let rs_with = |rev: Option<&str>, history: Option<&str>| {
            let mut rs = ReplicaSet::new("x");
            if let Some(r) = rev {
                rs.metadata
                    .annotations
                    .insert(REVISION_ANNOTATION.into(), r.into());
            }
            if let Some(h) = history {
                rs.metadata
                    .annotations
                    .insert(REVISION_HISTORY_ANNOTATION.into(), h.into());
            }
            rs
        };
        // (name, rs, new revision, exists, want revision, want history, want changed)
        let table = [
            (
                "fresh set gets the revision",
                rs_with(None, None),
                1,
                false,
                "1",
                None,
                true,
            ),
            (
                "current revision stays",
                rs_with(Some("4"), None),
                4,
                true,
                "4",
                None,
                false,
            ),
            (
                "rollback raises and remembers",
                rs_with(Some("2"), None),
                5,
                true,
                "5",
                Some("2"),
                true,
            ),
            (
                "history grows",
                rs_with(Some("5"), Some("2")),
                7,
                true,
                "7",
                Some("2,5"),
                true,
            ),
            (
                "never lowered",
                rs_with(Some("9"), None),
                3,
                true,
                "9",
                None,
                false,
            ),
        ];
        for (name, mut rs, new_rev, exists, want_rev, want_hist, want_changed) in table {
            let changed = set_new_rs_annotations(&d, &mut rs, new_rev, exists);
            let a = &rs.metadata.annotations;
            assert_eq!(
                a.get(REVISION_ANNOTATION).map(String::as_str),
                Some(want_rev),
                "{name}"
            );
            assert_eq!(
                a.get(REVISION_HISTORY_ANNOTATION).map(String::as_str),
                want_hist,
                "{name}"
            );
            assert_eq!(changed, want_changed, "{name}");
            assert_eq!(
                a.contains_key(DESIRED_REPLICAS_ANNOTATION),
                !exists,
                "{name}: replicas annotations only on creation"
            );
        }
    }

    #[test]
    fn copies_deployment_annotations_but_not_its_own() {
        let mut d = deployment(3, "v1", "25%".into(), "25%".into());
        d.metadata.annotations.insert("team".into(), "blue".into());
        d.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), "12".into());
        let mut rs = ReplicaSet::new("x");
        set_new_rs_annotations(&d, &mut rs, 1, false);
        assert_eq!(
            rs.metadata.annotations.get("team").map(String::as_str),
            Some("blue")
        );
        assert_eq!(
            rs.metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .map(String::as_str),
            Some("1")
        );
    }

    #[test]
    fn rollback_adopts_the_old_set_with_the_next_revision() {
        // v1 (rev 1) is scaled down, v2 (rev 2) is running; the template goes back to v1.
        let d = deployment(3, "v1", IntOrString::Int(1), IntOrString::Int(0));
        let v1 = owned_rs(&d, "v1", 0, 0, 1, 1);
        let v2 = owned_rs(&d, "v2", 3, 3, 2, 2);
        let v1_name = v1.metadata.name.clone();
        let p = plan(&d, &[Arc::new(v1), Arc::new(v2)], &[], Time(100));
        assert!(
            !p.actions
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet { .. })),
            "no new set: {:?}",
            p.actions
        );
        let rs = find_update(&p.actions, &v1_name).expect("v1 updated");
        assert_eq!(
            rs.metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .map(String::as_str),
            Some("3")
        );
        assert_eq!(
            rs.metadata
                .annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(rs.spec.replicas, Some(1), "scaled up by maxSurge");
        assert!(p.actions.contains(&Action::SetRevision("3".into())));
    }

    #[test]
    fn history_limit_deletes_oldest_settled_sets() {
        let mut d = deployment(2, "v9", 1.into(), 0.into());
        d.spec.revision_history_limit = Some(2);
        let mut sets: Vec<ReplicaSet> = (1..=4)
            .map(|i| owned_rs(&d, &format!("v{i}"), 0, 0, i, i))
            .collect();
        // v2 still has a pod going away: it is kept even though it is beyond the limit.
        sets[1].status.replicas = 1;
        sets.push(owned_rs(&d, "v9", 2, 2, 9, 9));
        // The deployment is complete, so the sync cleans up.
        d.status.replicas = 2;
        d.status.updated_replicas = 2;
        d.status.available_replicas = 2;
        d.status.observed_generation = 1;
        let names: Vec<String> = sets.iter().map(|s| s.metadata.name.clone()).collect();
        let p = plan(
            &d,
            &sets.into_iter().map(Arc::new).collect::<Vec<_>>(),
            &[],
            Time(100),
        );
        let deleted: Vec<&str> = p
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::DeleteReplicaSet { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec![names[0].as_str()], "{:?}", p.actions);
    }

    #[test]
    fn new_replica_set_shape() {
        let d = deployment(3, "v1", 1.into(), 0.into());
        let rs = new_replica_set(&d, &d.spec.template, "abc");
        assert_eq!(rs.metadata.name, "web-abc");
        assert_eq!(rs.metadata.namespace, "default");
        assert_eq!(rs.spec.selector.match_labels.len(), 2);
        assert!(
            d.spec.selector.matches(&rs.metadata.labels),
            "the deployment still selects it"
        );
        assert!(
            rs.spec.selector.matches(&rs.spec.template.metadata.labels),
            "it selects its pods"
        );
        assert!(pods::equal_ignore_hash(&rs.spec.template, &d.spec.template));
    }
}
