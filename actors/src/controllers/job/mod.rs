//! The Job controller (`controller/job`): runs a Job's pods to completion, as
//! Kubernetes' `pkg/controller/job` does.
//!
//! The decision is [`plan::plan`], pure, over the Job, the pods it controls, its
//! expectations and the time (its module docs state the rules: pod tracking with the
//! `batch.kubernetes.io/job-tracking` finalizer, failure and success checks, the
//! interim and terminal conditions, suspension, NonIndexed and Indexed pod management,
//! back-off). This module wires it with the controller kit and applies it.
//!
//! In: Job changes (own keys) and changes of pods a Job controls (their controller's
//! key), from the node's shared informers; pod changes also feed the expectations.
//! Out, in this order per sync: a status update conditional on the Job's
//! resourceVersion (so counts move exactly once), removal of the tracking finalizer
//! from pods already counted (a JSON patch that tests the finalizer is still where it
//! was seen), deletion of pods (finalizer first), creation of pods in slow-start batches
//! with expectations, and Events (`SuccessfulCreate`, `SuccessfulDelete`, `Completed`,
//! `BackoffLimitExceeded`, `DeadlineExceeded`, `Suspended`, `Resumed`, ...).
//!
//! A pod whose Job is gone keeps its finalizer until this controller removes it: the
//! reconcile of a key with no Job releases every pod that names a Job of that name as
//! its controller.
//!
//! Not done: adoption of orphans matching a manual selector (only pods created with
//! the Job's controller reference are its pods); `managedBy` other than the built-in
//! controller is not handed off.

pub mod indexes;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{Job, Pod, Time};
use serde_json::json;
use tracing::debug;

use self::plan::{job_pod, Action, PodRef};
use super::support::{
    controller_key, owner_keys, reference, slow_start, Controller, ControllerExpectations,
    PodControl, Wiring,
};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The Job controller's name on the bus.
pub const NAME: &str = "controller/job";
/// The component name in its Events.
pub const COMPONENT: &str = "job-controller";
/// Reconciles running at once.
pub const WORKERS: usize = 2;

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<Job>::new(NAME)
        .workers(WORKERS)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx, &key).await
        })
}

struct Ctx {
    api: ApiHandle,
    control: PodControl,
    jobs: Cache<Job>,
    pods: Cache<Pod>,
    expectations: ControllerExpectations,
}

fn wire(w: &mut Wiring<Job>) -> Ctx {
    let expectations = ControllerExpectations::default();
    let exp = expectations.clone();
    let jobs = w.primary_with(move |c: &Change<Job>, queue: &WorkQueue<ObjectKey>| {
        let key = c.key();
        if let Change::Deleted(_) = c {
            exp.delete(&key);
        }
        queue.add(key);
    });
    let exp = expectations.clone();
    let pods = w.watches(
        Scope::all(),
        move |c: &Change<Pod>, queue: &WorkQueue<ObjectKey>| {
            for key in owner_keys::<Job, Pod>(c) {
                exp.observe(&key, c);
                queue.add(key);
            }
        },
    );
    Ctx {
        api: w.api().clone(),
        control: PodControl::new(w.api().clone(), COMPONENT),
        jobs,
        pods,
        expectations,
    }
}

/// The pods of the namespace controlled by a Job with this uid.
fn owned_pods(pods: &[Arc<Pod>], uid: &str) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| p.metadata.controller_ref().is_some_and(|r| r.uid == uid))
        .cloned()
        .collect()
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(job) = ctx.jobs.get(key) else {
        ctx.expectations.delete(key);
        return release_orphans(ctx, key).await.map(|()| None);
    };
    let ns = job.metadata.namespace.clone();
    let all = ctx.pods.list_namespace(&ns);
    let mine = owned_pods(&all, &job.metadata.uid);
    let refs: Vec<&Pod> = mine.iter().map(Arc::as_ref).collect();
    let now = Time::now();
    let met = ctx.expectations.get(key).is_satisfied(now);
    let plan = plan::plan(&job, &refs, met, now);
    debug!(actions = plan.actions.len(), "planned");
    let pod_api = ctx.api.api::<Pod>(Some(&ns));
    for action in plan.actions {
        match action {
            Action::UpdateStatus(status) => {
                let mut updated = job.as_ref().clone();
                updated.status = status;
                // Conditional on the version read: a stale cache gets a conflict and the
                // key is retried, so no pod is counted twice.
                match ctx.api.api::<Job>(Some(&ns)).update_status(&updated).await {
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
            Action::RemoveFinalizers(pods) => {
                remove_finalizers(&pod_api, &pods).await?;
            }
            Action::Delete(victims) => {
                remove_finalizers(&pod_api, &victims).await?;
                let victims = victims.into_iter().map(|p| (p.name, p.uid)).collect();
                ctx.control
                    .delete_pods(job.as_ref(), victims, &ctx.expectations, key, now)
                    .await?;
            }
            Action::Create(new) => {
                let pods: Vec<Pod> = new.iter().map(|n| job_pod(&job, n)).collect();
                ctx.control
                    .create_each(job.as_ref(), pods, &ctx.expectations, key, now)
                    .await?;
            }
            Action::Event {
                type_,
                reason,
                message,
            } => ctx
                .control
                .events()
                .record(reference(job.as_ref()), type_, &reason, message),
        }
    }
    Ok(plan.requeue_after)
}

/// Removes the tracking finalizer from `pods` (a JSON patch that first tests it is
/// still at the index seen, so a concurrent change of the list is a retry, not a wrong
/// removal). Pods already gone or without it are skipped.
async fn remove_finalizers(
    api: &rudder_protocol::api::Api<Pod>,
    pods: &[PodRef],
) -> Result<(), ApiError> {
    let run = slow_start(pods.len(), |i| {
        let pod = &pods[i];
        async move {
            let Some(at) = pod.finalizer_at else {
                return Ok(());
            };
            let patch = json!([
                {"op": "test", "path": "/metadata/uid", "value": pod.uid},
                {"op": "test", "path": format!("/metadata/finalizers/{at}"),
                 "value": rudder_protocol::resources::JOB_TRACKING_FINALIZER},
                {"op": "remove", "path": format!("/metadata/finalizers/{at}")},
            ]);
            match api.patch(&pod.name, PatchType::Json, &patch).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other.map(|_| ()),
            }
        }
    })
    .await;
    match run.failed.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The Job under `key` is gone: its pods lose their tracking finalizer, so they can go
/// too (Kubernetes' orphan pod handling).
async fn release_orphans(ctx: &Ctx, key: &ObjectKey) -> Result<(), ApiError> {
    let ns = key.namespace.clone().unwrap_or_default();
    let orphans: Vec<PodRef> = ctx
        .pods
        .list_namespace(&ns)
        .iter()
        .filter(|p| plan::is_tracked(p))
        .filter(|p| controller_key::<Job, Pod>(p.as_ref()).as_ref() == Some(key))
        .map(|p| PodRef::of(p))
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    remove_finalizers(&ctx.api.api::<Pod>(Some(&ns)), &orphans).await
}

#[cfg(test)]
mod tests;
