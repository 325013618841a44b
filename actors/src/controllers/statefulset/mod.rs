//! The StatefulSet controller (`controller/statefulset`): pods with stable identities,
//! as Kubernetes' `pkg/controller/statefulset` runs them.
//!
//! The decision is [`plan::plan`], pure, over the set, the pods of its namespace, its
//! claims, its two revisions and the time (its module docs state the rules: ordinal
//! order, OrderedReady and Parallel, partitioned rolling updates, OnDelete, claim
//! retention). This module wires it with the controller kit, keeps the set's
//! ControllerRevisions ([`revisions`]) and applies the plan.
//!
//! In: StatefulSet changes (own keys), changes of pods a set controls (their
//! controller's key) and of orphans a set selects, changes of ControllerRevisions it
//! owns; the PersistentVolumeClaims of the namespace are read from their informer.
//! Out, in this order per sync: the update revision (created when the template is new;
//! an old revision whose template came back gets the next revision number), adoption
//! and release of pods, claims then pods created (with expectations), pods deleted, the
//! claims' owner references, the status (conditional on the set's resourceVersion), and
//! the revisions beyond `revisionHistoryLimit` that no pod uses deleted.

pub mod plan;
pub mod revisions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{
    ControllerRevision, PersistentVolumeClaim, Pod, StatefulSet, Time,
};
use serde_json::json;
use tracing::debug;

use self::plan::{Action, ClaimState, Inputs, Revision};
use super::support::{history, Controller, ControllerExpectations, PodControl, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The StatefulSet controller's name on the bus.
pub const NAME: &str = "controller/statefulset";
/// The component name in its Events.
pub const COMPONENT: &str = "statefulset-controller";
/// Reconciles running at once.
pub const WORKERS: usize = 2;

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<StatefulSet>::new(NAME)
        .workers(WORKERS)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx, &key).await
        })
}

struct Ctx {
    api: ApiHandle,
    control: PodControl,
    sets: Cache<StatefulSet>,
    pods: Cache<Pod>,
    claims: Cache<PersistentVolumeClaim>,
    revisions: Cache<ControllerRevision>,
    expectations: ControllerExpectations,
}

fn wire(w: &mut Wiring<StatefulSet>) -> Ctx {
    let expectations = ControllerExpectations::default();
    let exp = expectations.clone();
    let sets = w.primary_with(
        move |c: &Change<StatefulSet>, queue: &WorkQueue<ObjectKey>| {
            let key = c.key();
            if let Change::Deleted(_) = c {
                exp.delete(&key);
            }
            queue.add(key);
        },
    );
    let pods = w.owns_adopting(
        sets.clone(),
        expectations.clone(),
        |s: &StatefulSet, p: &Pod| s.spec.selector.matches(&p.metadata.labels),
    );
    // Claims are read, not followed: a sync that waits for one requeues itself.
    let claims = w.watches(
        Scope::all(),
        |_: &Change<PersistentVolumeClaim>, _: &WorkQueue<ObjectKey>| {},
    );
    let revisions = w.owns::<ControllerRevision>();
    Ctx {
        api: w.api().clone(),
        control: PodControl::new(w.api().clone(), COMPONENT),
        sets,
        pods,
        claims,
        revisions,
        expectations,
    }
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(set) = ctx.sets.get(key) else {
        ctx.expectations.delete(key);
        return Ok(None);
    };
    let ns = set.metadata.namespace.clone();
    let owned = history::owned_revisions(&ctx.revisions.list_namespace(&ns), &set.metadata.uid);
    let resolved = revisions::resolve(&ctx.api, &set, &owned).await?;
    let pods = ctx.pods.list_namespace(&ns);
    let pod_refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
    let claims: BTreeMap<String, ClaimState> = ctx
        .claims
        .list_namespace(&ns)
        .iter()
        .map(|c| {
            (
                c.metadata.name.clone(),
                ClaimState {
                    uid: c.metadata.uid.clone(),
                    resource_version: c.metadata.resource_version.clone(),
                    terminating: c.metadata.deletion_timestamp.is_some(),
                    owner_references: c.metadata.owner_references.clone(),
                },
            )
        })
        .collect();
    let now = Time::now();
    let plan = plan::plan(Inputs {
        set: &set,
        pods: &pod_refs,
        claims: &claims,
        current: Revision {
            name: &resolved.current.name,
            template: &resolved.current.template,
        },
        update: Revision {
            name: &resolved.update.name,
            template: &resolved.update.template,
        },
        collision_count: resolved.collision_count,
        expectations_met: ctx.expectations.get(key).is_satisfied(now),
        now,
    });
    debug!(actions = plan.actions.len(), "planned");
    apply(ctx, &set, key, plan.actions, now).await?;
    // Revisions beyond the limit that no pod uses go last, once the status names the
    // ones in use.
    let in_use: Vec<&str> = pod_refs
        .iter()
        .filter(|p| {
            p.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == set.metadata.uid)
        })
        .map(|p| plan::pod_revision(p))
        .collect();
    revisions::truncate(&ctx.api, &set, &owned, &resolved, &in_use).await?;
    Ok(plan.requeue_after)
}

/// Applies the plan's writes. Creations go first; deletions planned in the same sync
/// wait for the next one, so one expectations record covers each sync's writes.
async fn apply(
    ctx: &Ctx,
    set: &StatefulSet,
    key: &ObjectKey,
    actions: Vec<Action>,
    now: Time,
) -> Result<(), ApiError> {
    let ns = set.metadata.namespace.as_str();
    let pod_api = ctx.api.api::<Pod>(Some(ns));
    let claim_api = ctx.api.api::<PersistentVolumeClaim>(Some(ns));
    let mut new_pods = Vec::new();
    let mut victims = Vec::new();
    let mut status = None;
    for action in actions {
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
                let patch = json!({"metadata": {
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
            Action::CreateClaims(claims) => {
                for claim in claims {
                    match claim_api.create(&claim).await {
                        Err(e) if e.is_conflict() => {}
                        other => {
                            other?;
                        }
                    }
                    ctx.control.events().record(
                        super::support::reference(set),
                        "Normal",
                        "SuccessfulCreate",
                        format!(
                            "create Claim {} in StatefulSet {} success",
                            claim.metadata.name, set.metadata.name
                        ),
                    );
                }
            }
            Action::CreatePod(pod) => new_pods.push(*pod),
            Action::DeletePod { name, uid } => victims.push((name, uid)),
            Action::SetClaimOwners {
                claim,
                resource_version,
                owner_references,
            } => {
                let patch = json!({"metadata": {
                    "ownerReferences": owner_references,
                    "resourceVersion": resource_version,
                }});
                match claim_api.patch(&claim, PatchType::Merge, &patch).await {
                    Err(e) if e.is_not_found() => {}
                    other => {
                        other?;
                    }
                }
            }
            Action::UpdateStatus(s) => status = Some(s),
        }
    }
    if !new_pods.is_empty() {
        ctx.control
            .create_each(set, new_pods, &ctx.expectations, key, now)
            .await?;
    } else if !victims.is_empty() {
        ctx.control
            .delete_pods(set, victims, &ctx.expectations, key, now)
            .await?;
    }
    if let Some(status) = status {
        let mut updated = set.clone();
        updated.status = status;
        match ctx
            .api
            .api::<StatefulSet>(Some(ns))
            .update_status(&updated)
            .await
        {
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
