//! The Deployment controller actor, built with the controller kit
//! ([`crate::controllers::support::Controller`]): the node's shared informers on
//! deployments, replica sets and pods feed a work queue of deployment keys, and the
//! applier carries out [`super::plan`]. It acts only while it leads the Lease
//! `kube-system/rudder-controller-deployment`.
//!
//! In: changes of deployments (their key), of replica sets (their owning deployment, or
//! for orphans every deployment selecting them), and pod deletions (the deployment of
//! the pod's replica set, so that Recreate notices when old pods are gone). Out: replica
//! set creates, updates and deletes, deployment status updates and revision
//! annotations, and ScalingReplicaSet events from `deployment-controller`.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{Deployment, Event, Pod, ReplicaSet, Time};
use tracing::{debug, info};

use super::{plan, Action, COMPONENT, REVISION_ANNOTATION};
use crate::controllers::replicaset::WORKERS;
use crate::controllers::support::{controller_key, reference, Controller, Wiring};
use crate::events::EventRecorder;
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The Deployment controller's name on the bus.
pub const NAME: &str = "controller/deployment";

/// The Deployment controller component.
pub struct DeploymentController;

impl DeploymentController {
    /// The component the node's supervisor runs.
    pub fn component() -> ComponentSpec {
        Controller::<Deployment>::new(NAME)
            .workers(WORKERS)
            .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
                reconcile(&ctx, &key).await
            })
    }
}

struct Ctx {
    api: ApiHandle,
    events: EventRecorder,
    deployments: Cache<Deployment>,
    sets: Cache<ReplicaSet>,
    pods: Cache<Pod>,
}

/// The deployment controlling a replica set, by owner reference.
fn owner_of(rs: &ReplicaSet) -> Option<ObjectKey> {
    controller_key::<Deployment, ReplicaSet>(rs)
}

fn enqueue_for_set(rs: &ReplicaSet, deployments: &Cache<Deployment>, queue: &WorkQueue<ObjectKey>) {
    match owner_of(rs) {
        Some(key) => queue.add(key),
        None => {
            for d in deployments.list_namespace(&rs.metadata.namespace) {
                let s = &d.spec.selector;
                let selects_something =
                    !(s.match_labels.is_empty() && s.match_expressions.is_empty());
                if selects_something && s.matches(&rs.metadata.labels) {
                    queue.add(ObjectKey::of(d.as_ref()));
                }
            }
        }
    }
}

fn wire(w: &mut Wiring<Deployment>) -> Ctx {
    let deployments = w.primary();
    let d = deployments.clone();
    let sets = w.watches(
        Scope::all(),
        move |c: &Change<ReplicaSet>, queue: &WorkQueue<ObjectKey>| {
            if let Change::Modified { old, new } = c {
                if owner_of(old) != owner_of(new) || old.metadata.labels != new.metadata.labels {
                    enqueue_for_set(old, &d, queue);
                }
            }
            enqueue_for_set(c.object(), &d, queue);
        },
    );
    let s = sets.clone();
    let pods = w.watches(
        Scope::all(),
        move |c: &Change<Pod>, queue: &WorkQueue<ObjectKey>| {
            if let Change::Deleted(pod) = c {
                let Some(key) = controller_key::<ReplicaSet, Pod>(pod.as_ref()) else {
                    return;
                };
                if let Some(owner) = s.get(&key).as_deref().and_then(owner_of) {
                    queue.add(owner);
                }
            }
        },
    );
    Ctx {
        events: EventRecorder::new(w.api().clone(), COMPONENT),
        api: w.api().clone(),
        deployments,
        sets,
        pods,
    }
}

/// Maps "already gone" to success.
fn ignore_not_found<T>(r: Result<T, ApiError>) -> Result<(), ApiError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// One sync of one deployment: read the caches, plan, apply in order, stop at the first
/// failure (the next sync starts from what was written).
async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(d) = ctx.deployments.get(key) else {
        return Ok(None);
    };
    let ns = d.metadata.namespace.clone();
    let sets = ctx.sets.list_namespace(&ns);
    let pods = ctx.pods.list_namespace(&ns);
    let plan = plan(&d, &sets, &pods, Time::now());
    debug!(actions = plan.actions.len(), "planned");
    let rs_api = ctx.api.api::<ReplicaSet>(Some(&ns));
    let d_api = ctx.api.api::<Deployment>(Some(&ns));
    let scaled = |rs: &ReplicaSet, events: Vec<String>| {
        for message in events {
            info!(replica_set = %rs.metadata.name, %message, "scaling");
            ctx.events.record(
                reference(d.as_ref()),
                Event::NORMAL,
                "ScalingReplicaSet",
                message,
            );
        }
    };
    for action in plan.actions {
        match action {
            Action::AdoptReplicaSet {
                name,
                resource_version,
                owner_references,
            }
            | Action::ReleaseReplicaSet {
                name,
                resource_version,
                owner_references,
            } => {
                let patch = serde_json::json!({"metadata": {
                    "ownerReferences": owner_references,
                    "resourceVersion": resource_version,
                }});
                ignore_not_found(rs_api.patch(&name, PatchType::Merge, &patch).await)?;
            }
            Action::CreateReplicaSet { rs, events } => {
                let created = rs_api.create(&rs).await?;
                info!(replica_set = %created.metadata.name, "created replica set");
                scaled(&created, events);
            }
            Action::UpdateReplicaSet { rs, events } => {
                let updated = rs_api.update(&rs).await?;
                scaled(&updated, events);
            }
            Action::DeleteReplicaSet { name, uid } => {
                let options = serde_json::json!({"preconditions": {"uid": uid}});
                ignore_not_found(rs_api.delete_with(&name, &options).await)?;
                info!(replica_set = %name, "deleted old replica set");
            }
            Action::UpdateStatus(status) => {
                let mut updated = d.as_ref().clone();
                updated.status = *status;
                ignore_not_found(d_api.update_status(&updated).await)?;
            }
            Action::SetRevision(revision) => {
                let patch = serde_json::json!({"metadata": {"annotations": {REVISION_ANNOTATION: revision}}});
                ignore_not_found(
                    d_api
                        .patch(&d.metadata.name, PatchType::Merge, &patch)
                        .await,
                )?;
            }
        }
    }
    Ok(plan.requeue_after)
}
