//! The disruption controller (`controller/disruption`): keeps the status of every
//! PodDisruptionBudget, as Kubernetes' `pkg/controller/disruption` does; the
//! `pods/eviction` subresource ([`crate::apiserver::eviction`]) reads that status and
//! spends it.
//!
//! The decision is [`plan::plan`], pure, over the budget, the pods it selects, their
//! controllers' scale and the time (its module docs state the rules). This module wires
//! it with the controller kit and applies it.
//!
//! In: budget changes (own keys) and pod changes (the keys of the budgets of the pod's
//! namespace that select it, before and after), from the node's shared informers; the
//! ReplicaSet, Deployment and ReplicationController caches are read to find a pod's
//! controller and its scale (a ReplicaSet of a Deployment counts as the Deployment);
//! any other controller kind (a StatefulSet, ...) is read through the API, as a kind
//! that serves the `scale` subresource, by its `spec.replicas`.
//! Out: a status update conditional on the budget's resourceVersion (an eviction
//! racing it makes it a conflict, and the key is retried with the fresh budget);
//! Events (`NoPods`, `UnmanagedPods`, `CalculateExpectedPodCountFailed`). A budget with
//! `disruptedPods` entries is looked at again when the first expires.
//!
//! The clean-up of a stale `DisruptionTarget` condition (a pod that was not deleted
//! after all) is the other loop of Kubernetes' controller, here its own controller:
//! [`stale`].

pub mod plan;
pub mod stale;

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{
    Deployment, OwnerReference, Pod, PodDisruptionBudget, ReplicaSet, ReplicationController,
    Resource, Time,
};
use tracing::debug;

use self::plan::{Controller as Found, Controllers};
use super::support::{discovery::resource_for, reference, Controller};
use crate::events::EventRecorder;
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The disruption controller's name on the bus.
pub const NAME: &str = "controller/disruption";
/// The component name in its Events.
pub const COMPONENT: &str = "controllermanager";
/// Reconciles running at once.
pub const WORKERS: usize = 2;

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<PodDisruptionBudget>::new(NAME)
        .workers(WORKERS)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx, &key).await
        })
}

struct Ctx {
    api: ApiHandle,
    events: EventRecorder,
    budgets: Cache<PodDisruptionBudget>,
    pods: Cache<Pod>,
    replica_sets: Cache<ReplicaSet>,
    deployments: Cache<Deployment>,
    controllers: Cache<ReplicationController>,
}

/// The keys of the budgets in `budgets` (of the pod's namespace) that select `pod`.
fn budgets_of(budgets: &Cache<PodDisruptionBudget>, pod: &Pod, keys: &mut Vec<ObjectKey>) {
    for b in budgets.list_namespace(&pod.metadata.namespace) {
        if b.selects(&pod.metadata.labels) {
            let key = ObjectKey::namespaced(&b.metadata.namespace, &b.metadata.name);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
}

fn wire(w: &mut crate::controllers::support::Wiring<PodDisruptionBudget>) -> Ctx {
    let budgets = w.primary();
    let for_pods = budgets.clone();
    let pods = w.watches(
        Scope::all(),
        move |c: &Change<Pod>, queue: &WorkQueue<ObjectKey>| {
            let mut keys = Vec::new();
            match c {
                Change::Added(p) | Change::Deleted(p) => budgets_of(&for_pods, p, &mut keys),
                Change::Modified { old, new } => {
                    budgets_of(&for_pods, new, &mut keys);
                    budgets_of(&for_pods, old, &mut keys);
                }
            }
            for key in keys {
                queue.add(key);
            }
        },
    );
    let ignore = |_: &Change<ReplicaSet>, _: &WorkQueue<ObjectKey>| {};
    let replica_sets = w.watches(Scope::all(), ignore);
    let deployments = w.watches(
        Scope::all(),
        |_: &Change<Deployment>, _: &WorkQueue<ObjectKey>| {},
    );
    let controllers = w.watches(
        Scope::all(),
        |_: &Change<ReplicationController>, _: &WorkQueue<ObjectKey>| {},
    );
    Ctx {
        api: w.api().clone(),
        events: EventRecorder::new(w.api().clone(), COMPONENT),
        budgets,
        pods,
        replica_sets,
        deployments,
        controllers,
    }
}

/// Whether an owner reference names a `K` (kind and API group, any version).
fn names<K: Resource>(r: &OwnerReference) -> bool {
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    r.kind == K::KIND && group == K::group()
}

/// The controller of a pod whose controller reference is `r`, as Kubernetes' finders
/// look for it (ReplicaSet, Deployment through its ReplicaSet, ReplicationController,
/// then any kind with a `scale` subresource). `None`: no controller found.
async fn find_controller(
    ctx: &Ctx,
    namespace: &str,
    r: &OwnerReference,
) -> Result<Option<Found>, String> {
    let key = ObjectKey::namespaced(namespace, &r.name);
    if names::<ReplicaSet>(r) {
        let Some(rs) = ctx
            .replica_sets
            .get(&key)
            .filter(|rs| rs.metadata.uid == r.uid)
        else {
            return Ok(None);
        };
        if let Some(d) = rs
            .metadata
            .controller_ref()
            .filter(|d| names::<Deployment>(d))
        {
            let dkey = ObjectKey::namespaced(namespace, &d.name);
            return Ok(ctx
                .deployments
                .get(&dkey)
                .filter(|dep| dep.metadata.uid == d.uid)
                .map(|dep| Found::Found {
                    uid: dep.metadata.uid.clone(),
                    scale: dep.spec.replicas.unwrap_or(1),
                }));
        }
        return Ok(Some(Found::Found {
            uid: rs.metadata.uid.clone(),
            scale: rs.spec.replicas.unwrap_or(1),
        }));
    }
    if names::<ReplicationController>(r) {
        return Ok(ctx
            .controllers
            .get(&key)
            .filter(|rc| rc.metadata.uid == r.uid)
            .map(|rc| Found::Found {
                uid: rc.metadata.uid.clone(),
                scale: rc.spec.replicas.unwrap_or(1),
            }));
    }
    // Any other kind: by its scale (`spec.replicas`), when it serves one.
    let Some(resource) = resource_for(&r.api_version, &r.kind) else {
        return Ok(None);
    };
    let served =
        crate::apiserver::registry::resource(&resource.group, &resource.version, &resource.plural)
            .is_some_and(|info| info.subresource("scale").is_some());
    if !served {
        return Err(format!(
            "{}{} does not implement the scale subresource",
            resource.plural,
            if resource.group.is_empty() {
                String::new()
            } else {
                format!(".{}", resource.group)
            }
        ));
    }
    match ctx
        .api
        .dynamic(&resource, Some(namespace))
        .get_opt(&r.name)
        .await
    {
        Ok(Some(obj)) if obj.uid() == r.uid => {
            let scale = obj
                .to_value()
                .pointer("/spec/replicas")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(1);
            Ok(Some(Found::Found {
                uid: r.uid.clone(),
                scale: i32::try_from(scale).unwrap_or(i32::MAX),
            }))
        }
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(pdb) = ctx.budgets.get(key) else {
        return Ok(None);
    };
    let ns = pdb.metadata.namespace.clone();
    let all = ctx.pods.list_namespace(&ns);
    let selected: Vec<&Pod> = all
        .iter()
        .map(Arc::as_ref)
        .filter(|p| pdb.selects(&p.metadata.labels))
        .collect();
    let mut controllers = Controllers::new();
    if plan::needs_scale(&pdb) {
        for pod in &selected {
            let Some(r) = pod.metadata.controller_ref() else {
                continue;
            };
            if controllers.contains_key(&r.uid) {
                continue;
            }
            let found = match find_controller(ctx, &ns, r).await {
                Ok(Some(found)) => found,
                Ok(None) => Found::Failed(format!(
                    "found no controllers for pod {:?}",
                    pod.metadata.name
                )),
                Err(e) => Found::Failed(e),
            };
            controllers.insert(r.uid.clone(), found);
        }
    }
    let now = Time::now();
    let plan = plan::plan(&pdb, &selected, &controllers, now);
    debug!(budget = %key, write = plan.status.is_some(), "planned");
    for e in plan.events {
        ctx.events
            .record(reference(pdb.as_ref()), e.type_, e.reason, e.message);
    }
    if let Some(status) = plan.status {
        let mut updated = pdb.as_ref().clone();
        updated.status = status;
        // Conditional on the version read: an eviction that spent the budget meanwhile
        // makes this a conflict, and the key is retried with the budget it wrote.
        match ctx
            .api
            .api::<PodDisruptionBudget>(Some(&ns))
            .update_status(&updated)
            .await
        {
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(plan.requeue_after)
}
