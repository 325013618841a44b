//! The resource quota controller (`controller/resourcequota`), as Kubernetes'
//! `pkg/controller/resourcequota`: keeps every ResourceQuota's `status.hard` equal to
//! its `spec.hard` and its `status.used` equal to what the objects of its namespace
//! use, counted by the same rules as the ResourceQuota admission plugin
//! ([`crate::apiserver::quota`]).
//!
//! In: a quota created or with a changed spec (not a status write: admission charges
//! creates there between counts, and a recount on every charge would only race them);
//! pods, Services, ConfigMaps, Secrets and claims that go away (a pod also when it
//! finishes or starts terminating), which give their usage back; and every quota again
//! after [`RESYNC`], which also gives back what a create charged before failing.
//! Out: a status update conditional on the resourceVersion of the quota as read
//! *before* counting: a create charged by admission meanwhile makes it a conflict,
//! and the quota is counted again.
//!
//! Known limit, shared with Kubernetes: a count that runs while a charged create is
//! between its charge and its write misses it and writes a `used` one too low (the
//! compare-and-swap only catches charges made after the quota was read), until the
//! next count. Counts run only when something went away, on a new spec, and every
//! [`RESYNC`], so this needs a deletion racing a create in the same namespace.
//!
//! The count lists, through the API, the namespace's objects of every served kind the
//! quota caps something of (the kinds' own quota hooks say what), so a kind added to
//! the registry is counted by `count/<resource>` on the day it lands.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::{ApiError, ApiResource};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    ConfigMap, PersistentVolumeClaim, Pod, PodPhase, ResourceQuota, ResourceQuotaStatus, Secret,
    Service,
};
use serde_json::Value;
use tracing::{debug, info};

use super::support::{Controller, Wiring};
use crate::apiserver::{kinds, quota, registry};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The component's name on the bus.
pub const NAME: &str = "controller/resourcequota";
/// How often every quota is counted again without a change (Kubernetes' full resync is
/// five minutes).
pub const RESYNC: Duration = Duration::from_secs(60);
/// How soon a quota whose status write lost a race is counted again.
const AFTER_CONFLICT: Duration = Duration::from_millis(200);
/// Reconciles running at once.
const WORKERS: usize = 2;

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<ResourceQuota>::new(NAME)
        .workers(WORKERS)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx, &key).await
        })
}

struct Ctx {
    api: ApiHandle,
}

/// Queues every quota of `namespace`.
fn queue_namespace(quotas: &Cache<ResourceQuota>, namespace: &str, q: &WorkQueue<ObjectKey>) {
    for rq in quotas.list_namespace(namespace) {
        q.add(ObjectKey::namespaced(namespace, &rq.metadata.name));
    }
}

/// Queues the quotas of a namespace an object of kind `X` left.
fn replenish_on_delete<X: rudder_protocol::resources::Resource>(
    w: &mut Wiring<ResourceQuota>,
    quotas: &Cache<ResourceQuota>,
) {
    let quotas = quotas.clone();
    w.watches(
        Scope::all(),
        move |c: &Change<X>, q: &WorkQueue<ObjectKey>| {
            if let Change::Deleted(o) = c {
                queue_namespace(&quotas, &o.metadata().namespace, q);
            }
        },
    );
}

/// Whether a pod's change gives quota back: it went, finished, or started terminating.
fn pod_released(c: &Change<Pod>) -> bool {
    let done = |p: &Pod| {
        matches!(
            p.status.phase,
            Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
        )
    };
    match c {
        Change::Added(_) => false,
        Change::Deleted(_) => true,
        Change::Modified { old, new } => {
            (!done(old) && done(new))
                || (old.metadata.deletion_timestamp.is_none()
                    && new.metadata.deletion_timestamp.is_some())
        }
    }
}

fn wire(w: &mut Wiring<ResourceQuota>) -> Ctx {
    let quotas = w.primary_with(|c, q| match c {
        Change::Added(_) => q.add(c.key()),
        Change::Modified { old, new } => {
            if old.spec != new.spec || new.status.hard != new.spec.hard {
                q.add(c.key());
            }
        }
        Change::Deleted(_) => {}
    });
    let for_pods = quotas.clone();
    w.watches(
        Scope::all(),
        move |c: &Change<Pod>, q: &WorkQueue<ObjectKey>| {
            if pod_released(c) {
                let pod = match c {
                    Change::Added(p) | Change::Deleted(p) => p,
                    Change::Modified { new, .. } => new,
                };
                queue_namespace(&for_pods, &pod.metadata.namespace, q);
            }
        },
    );
    replenish_on_delete::<Service>(w, &quotas);
    replenish_on_delete::<ConfigMap>(w, &quotas);
    replenish_on_delete::<Secret>(w, &quotas);
    replenish_on_delete::<PersistentVolumeClaim>(w, &quotas);
    Ctx {
        api: w.api().clone(),
    }
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let ns = key.namespace.clone().unwrap_or_default();
    let api = ctx.api.api::<ResourceQuota>(Some(&ns));
    // Read before counting: the write below is conditional on this version.
    let Some(rq) = api.get_opt(&key.name).await? else {
        return Ok(None);
    };
    let mut objects: Vec<(&dyn kinds::KindOps, Vec<Value>)> = Vec::new();
    for info in registry::RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.verbs.contains(&"list"))
    {
        let Ok(kind) = kinds::for_resource(info) else {
            continue;
        };
        if !quota::counts(&rq.spec.hard, kind) {
            continue;
        }
        let list = ctx
            .api
            .dynamic(&ApiResource::from(info), Some(&ns))
            .list(&ListParams::default())
            .await?;
        objects.push((kind, list.items.iter().map(|o| o.to_value()).collect()));
    }
    let status = ResourceQuotaStatus {
        hard: rq.spec.hard.clone(),
        used: quota::used(&rq, &objects),
    };
    if status == rq.status {
        debug!(quota = %key, "usage unchanged");
        return Ok(Some(RESYNC));
    }
    let mut updated = rq.clone();
    updated.status = status;
    match api.update_status(&updated).await {
        Ok(_) => {
            info!(quota = %key, used = ?updated.status.used, "counted usage");
            Ok(Some(RESYNC))
        }
        Err(e) if e.is_not_found() => Ok(None),
        // Charged (or edited) since it was read: count again.
        Err(e) if e.is_conflict() => Ok(Some(AFTER_CONFLICT)),
        Err(e) => Err(e),
    }
}
