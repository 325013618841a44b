//! A StatefulSet's ControllerRevisions (its rollout history), kept with the shared
//! [`history`] rules: the update revision is the one whose data is the set's template
//! (created, or renumbered when an old template comes back); the current revision is
//! the one `status.currentRevision` names (the update revision when none does); both
//! are what the pods' `controller-revision-hash` label names (a StatefulSet labels its
//! pods with the revision's name, a DaemonSet with its hash).

use std::sync::Arc;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{ControllerRevision, PodTemplateSpec, StatefulSet};
use tracing::warn;

use crate::controllers::support::history;
use crate::informer::ApiHandle;

/// A revision as the plan needs it.
#[derive(Debug, Clone)]
pub struct Rev {
    /// The ControllerRevision's name.
    pub name: String,
    /// The pod template it holds.
    pub template: PodTemplateSpec,
}

/// The set's two revisions, and its collision count after resolving them.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The revision the pods had before the template last changed.
    pub current: Rev,
    /// The revision of the set's template.
    pub update: Rev,
    /// The collision count to report in the status.
    pub collision_count: Option<i32>,
}

/// The pod template a revision holds (its data is `{"spec":{"template":{...}}}`);
/// `fallback` when the data does not read as one.
pub fn template_of(r: &ControllerRevision, fallback: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = r.data.value()["spec"]["template"].clone();
    if let Some(map) = t.as_object_mut() {
        map.remove("$patch");
    }
    serde_json::from_value(t).unwrap_or_else(|e| {
        warn!(revision = %r.metadata.name, error = %e, "revision data is no pod template");
        fallback.clone()
    })
}

/// Finds or makes the update revision and finds the current one. `history` is the
/// set's revisions in history order ([`history::owned_revisions`]).
pub async fn resolve(
    api: &ApiHandle,
    set: &StatefulSet,
    history: &[Arc<ControllerRevision>],
) -> Result<Resolved, ApiError> {
    let mut collision_count = set.status.collision_count;
    let desired = history::new_revision(
        set,
        &set.spec.template.metadata.labels,
        history::template_patch(&set.spec.template),
        history::next_revision(history),
        collision_count,
    );
    let revisions = api.api::<ControllerRevision>(Some(&set.metadata.namespace));
    let update =
        history::ensure_current(&revisions, history, &desired, &mut collision_count).await?;
    let current = history
        .iter()
        .find(|r| r.metadata.name == set.status.current_revision)
        .map_or_else(|| update.clone(), |r| r.as_ref().clone());
    Ok(Resolved {
        current: Rev {
            template: template_of(&current, &set.spec.template),
            name: current.metadata.name,
        },
        update: Rev {
            name: update.metadata.name,
            template: set.spec.template.clone(),
        },
        collision_count,
    })
}

/// Deletes the oldest revisions beyond `revisionHistoryLimit` (default 10) that are
/// neither current, nor the update, nor run by one of the set's pods (`in_use`: their
/// revision names).
pub async fn truncate(
    api: &ApiHandle,
    set: &StatefulSet,
    history: &[Arc<ControllerRevision>],
    resolved: &Resolved,
    in_use: &[&str],
) -> Result<(), ApiError> {
    let limit = set.spec.revision_history_limit.unwrap_or(10);
    let live = |r: &ControllerRevision| {
        let name = r.metadata.name.as_str();
        name == resolved.current.name || name == resolved.update.name || in_use.contains(&name)
    };
    let revisions = api.api::<ControllerRevision>(Some(&set.metadata.namespace));
    for victim in history::to_truncate(history, limit, live) {
        match revisions.delete(&victim.metadata.name).await {
            Err(e) if e.is_not_found() => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}
