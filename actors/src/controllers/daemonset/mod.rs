//! The DaemonSet controller (`controller/daemonset`): one pod per eligible node, as
//! Kubernetes' `pkg/controller/daemon` does.
//!
//! The decision is [`plan::plan`], pure, over the DaemonSet, the nodes, the pods of its
//! namespace, the current revision's hash, its expectations and the time (its module
//! docs state the rules: eligibility by node selector, node affinity and taints with
//! the daemon tolerations; placement through the scheduler with a `metadata.name` node
//! affinity; claim; manage; RollingUpdate with maxUnavailable or maxSurge; status).
//! This module wires it with the controller kit and applies it.
//!
//! Per sync, before the plan: the history ([`super::support::history`]): the
//! ControllerRevisions the DaemonSet controls, the one equal to its template made the
//! newest (found, renumbered when the template went back to an older one, or created,
//! with hash collisions counted in `status.collisionCount`); its hash labels the pods
//! (`controller-revision-hash`, beside `pod-template-generation`). After the plan:
//! adoptions and releases (owner-reference patches conditional on the resourceVersion
//! read), deletions or creations through the kit's [`PodControl`] with expectations,
//! Events, the status (conditional on the DaemonSet's resourceVersion), and the
//! history truncated to `revisionHistoryLimit` (revisions no pod runs go, oldest
//! first).
//!
//! In: DaemonSet changes (own keys); pod changes (their controller's key; orphans that a
//! DaemonSet selects queue it); ControllerRevision changes (their controller's key);
//! node additions, deletions and changes of labels, taints or `unschedulable` (every
//! DaemonSet). Pod changes also feed the expectations.
//!
//! Orphaned ControllerRevisions the DaemonSet selects are adopted into its history, and
//! revisions it no longer selects released ([`plan::claim_revisions`]).

pub mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{ControllerRevision, DaemonSet, Node, Pod, Time};
use tracing::debug;

use self::plan::{daemon_pod, Action, Input};
use super::support::history;
use super::support::{reference, Controller, ControllerExpectations, PodControl, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The DaemonSet controller's name on the bus.
pub const NAME: &str = "controller/daemonset";
/// The component name in its Events.
pub const COMPONENT: &str = "daemonset-controller";
/// Reconciles running at once.
pub const WORKERS: usize = 2;

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<DaemonSet>::new(NAME)
        .workers(WORKERS)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx, &key).await
        })
}

struct Ctx {
    api: ApiHandle,
    control: PodControl,
    sets: Cache<DaemonSet>,
    pods: Cache<Pod>,
    nodes: Cache<Node>,
    revisions: Cache<ControllerRevision>,
    expectations: ControllerExpectations,
    backoff: FailedBackoff,
}

/// The longest wait between deletions of failed pods on one node.
const MAX_FAILED_BACKOFF_SECS: i64 = 15 * 60;

/// Per DaemonSet and node: until when a failed pod is left alone, and the current delay
/// (Kubernetes' `failedPodsBackoff`: 1 s, doubling to 15 min; forgotten after twice the
/// maximum without a failure).
#[derive(Default)]
struct FailedBackoff(std::sync::Mutex<BTreeMap<(ObjectKey, String), (Time, i64)>>);

impl FailedBackoff {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(ObjectKey, String), (Time, i64)>> {
        // The map is whole between calls: a poisoned lock is usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The nodes of `key` still backing off at `now`, with the time each ends.
    fn of(&self, key: &ObjectKey, now: Time) -> BTreeMap<String, Time> {
        self.entries()
            .iter()
            .filter(|((k, _), (until, _))| k == key && *until > now)
            .map(|((_, node), (until, _))| (node.clone(), *until))
            .collect()
    }

    /// A failed pod of `key` on `node` was deleted at `now`: the next waits longer.
    fn next(&self, key: &ObjectKey, node: &str, now: Time) {
        let mut entries = self.entries();
        let entry = entries
            .entry((key.clone(), node.to_owned()))
            .or_insert((now, 0));
        let (until, delay) = *entry;
        let stale = now.0 - until.0 > 2 * MAX_FAILED_BACKOFF_SECS;
        let delay = if delay == 0 || stale {
            1
        } else {
            (delay * 2).min(MAX_FAILED_BACKOFF_SECS)
        };
        *entry = (Time(now.0 + delay), delay);
    }

    /// Forgets `key` (its DaemonSet is gone).
    fn forget(&self, key: &ObjectKey) {
        self.entries().retain(|(k, _), _| k != key);
    }
}

/// Whether a node change can change which DaemonSets it should run.
fn node_change_matters(c: &Change<Node>) -> bool {
    match c {
        Change::Added(_) | Change::Deleted(_) => true,
        Change::Modified { old, new } => {
            old.metadata.labels != new.metadata.labels
                || old.spec.taints != new.spec.taints
                || old.spec.unschedulable != new.spec.unschedulable
        }
    }
}

fn wire(w: &mut Wiring<DaemonSet>) -> Ctx {
    let expectations = ControllerExpectations::default();
    let exp = expectations.clone();
    let sets = w.primary_with(move |c: &Change<DaemonSet>, queue: &WorkQueue<ObjectKey>| {
        let key = c.key();
        if let Change::Deleted(_) = c {
            exp.delete(&key);
        }
        queue.add(key);
    });
    // An orphan is queued for the DaemonSets whose (non-empty) selector matches it.
    let pods = w.owns_adopting(
        sets.clone(),
        expectations.clone(),
        |ds: &DaemonSet, p: &Pod| {
            let s = &ds.spec.selector;
            let empty = s.match_labels.is_empty() && s.match_expressions.is_empty();
            !empty && s.matches(&p.metadata.labels)
        },
    );
    let all_sets = sets.clone();
    let nodes = w.watches(
        Scope::all(),
        move |c: &Change<Node>, queue: &WorkQueue<ObjectKey>| {
            if node_change_matters(c) {
                for ds in all_sets.list() {
                    queue.add(ObjectKey::namespaced(
                        &ds.metadata.namespace,
                        &ds.metadata.name,
                    ));
                }
            }
        },
    );
    let revisions = w.owns::<ControllerRevision>();
    Ctx {
        api: w.api().clone(),
        control: PodControl::new(w.api().clone(), COMPONENT),
        sets,
        pods,
        nodes,
        revisions,
        expectations,
        backoff: FailedBackoff::default(),
    }
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(stored) = ctx.sets.get(key) else {
        ctx.expectations.delete(key);
        ctx.backoff.forget(key);
        return Ok(None);
    };
    if stored.metadata.deletion_timestamp.is_some() {
        // Its pods and revisions go with it (garbage collector); nothing to count.
        return Ok(None);
    }
    let ns = stored.metadata.namespace.clone();
    let mut ds = stored.as_ref().clone();

    // The history: the revision of the current template, made the newest.
    let rev_api = ctx.api.api::<ControllerRevision>(Some(&ns));
    let all_revisions = ctx.revisions.list_namespace(&ns);
    let mut history = history::owned_revisions(&all_revisions, &ds.metadata.uid);
    for claim in plan::claim_revisions(&ds, &all_revisions) {
        let patch = serde_json::json!({"metadata": {
            "ownerReferences": claim.owner_references,
            "resourceVersion": claim.resource_version,
        }});
        match rev_api.patch(&claim.name, PatchType::Merge, &patch).await {
            Ok(r) if claim.adopt => history.push(Arc::new(r)),
            Ok(_) => history.retain(|h| h.metadata.name != claim.name),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    history::sort_revisions(&mut history);
    let mut collision_count = ds.status.collision_count;
    let desired = history::new_revision(
        &ds,
        &ds.spec.template.metadata.labels,
        history::template_patch(&ds.spec.template),
        history::next_revision(&history),
        collision_count,
    );
    let current =
        history::ensure_current(&rev_api, &history, &desired, &mut collision_count).await?;
    ds.status.collision_count = collision_count;
    let hash = history::revision_hash(&current).to_owned();

    let nodes = ctx.nodes.list();
    let pods = ctx.pods.list_namespace(&ns);
    let now = Time::now();
    let met = ctx.expectations.get(key).is_satisfied(now);
    let failed_backoff = ctx.backoff.of(key, now);
    let plan = plan::plan(Input {
        ds: &ds,
        nodes: &nodes,
        pods: &pods,
        hash: &hash,
        expectations_met: met,
        failed_backoff: &failed_backoff,
        now,
    });
    for node in &plan.failed_on {
        ctx.backoff.next(key, node, now);
    }
    debug!(actions = plan.actions.len(), hash = %hash, "planned");

    let pod_api = ctx.api.api::<Pod>(Some(&ns));
    for action in plan.actions {
        match action {
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
                    Err(e) if e.is_not_found() => {}
                    other => {
                        other?;
                    }
                }
            }
            Action::Delete(victims) => {
                ctx.control
                    .delete_pods(&ds, victims, &ctx.expectations, key, now)
                    .await?;
            }
            Action::ForceDelete(victims) => {
                for (name, uid) in victims {
                    let options = serde_json::json!({
                        "gracePeriodSeconds": 0,
                        "preconditions": {"uid": uid},
                    });
                    match pod_api.delete_with(&name, &options).await {
                        Err(e) if e.is_not_found() || e.is_conflict() => {}
                        Err(e) => return Err(e),
                        Ok(_) => ctx.control.events().record(
                            reference(&ds),
                            rudder_protocol::resources::Event::NORMAL,
                            "SuccessfulDelete",
                            format!("Deleted pod: {name}"),
                        ),
                    }
                }
            }
            Action::Create(on) => {
                let new: Vec<Pod> = on.iter().map(|n| daemon_pod(&ds, n, &hash)).collect();
                ctx.control
                    .create_each(&ds, new, &ctx.expectations, key, now)
                    .await?;
            }
            Action::Event {
                type_,
                reason,
                message,
            } => ctx
                .control
                .events()
                .record(reference(&ds), type_, reason, message),
        }
    }

    if let Some(status) = plan.status {
        let mut updated = stored.as_ref().clone();
        updated.status = status;
        match ctx
            .api
            .api::<DaemonSet>(Some(&ns))
            .update_status(&updated)
            .await
        {
            Err(e) if e.is_not_found() => return Ok(None),
            other => {
                other?;
            }
        }
    }

    truncate_history(ctx, &ds, &rev_api, &current, &pods).await?;
    Ok(plan.requeue_after)
}

/// Deletes the oldest revisions beyond `revisionHistoryLimit` that neither are current
/// nor run any of the DaemonSet's pods.
async fn truncate_history(
    ctx: &Ctx,
    ds: &DaemonSet,
    api: &rudder_protocol::api::Api<ControllerRevision>,
    current: &ControllerRevision,
    pods: &[Arc<Pod>],
) -> Result<(), ApiError> {
    let history = history::owned_revisions(
        &ctx.revisions.list_namespace(&ds.metadata.namespace),
        &ds.metadata.uid,
    );
    let live: std::collections::BTreeSet<&str> = pods
        .iter()
        .filter(|p| super::pods::is_controlled_by(&p.metadata, &ds.metadata.uid))
        .filter_map(|p| {
            p.metadata
                .labels
                .get(rudder_protocol::resources::CONTROLLER_REVISION_HASH_LABEL)
                .map(String::as_str)
        })
        .collect();
    let limit = ds.spec.revision_history_limit.unwrap_or(10);
    let doomed = history::to_truncate(&history, limit, |r| {
        r.metadata.name == current.metadata.name || live.contains(history::revision_hash(r))
    });
    for r in doomed {
        match api.delete(&r.metadata.name).await {
            Err(e) if e.is_not_found() => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
