//! The PV controller (`controller/persistentvolume-binder`): binds PersistentVolumeClaims
//! to PersistentVolumes, keeps both sides' phases, reclaims released volumes and lifts
//! the storage-object-in-use protection, as Kubernetes' `persistentvolume-binder` and
//! its `pvc-protection` and `pv-protection` controllers do.
//!
//! The decisions are [`plan::plan_claim`] and [`plan::plan_volume`], pure (their module
//! docs state the rules); this module wires them with the controller kit and applies
//! them. One work queue carries both kinds: a claim by its namespaced key, a volume by
//! its cluster key.
//!
//! In: claim changes (the claim's key and its volume's), volume changes (the volume's key and the key of
//! the claim its `claimRef` names), class changes (every claim of the class: a class
//! that appears lets its claims go on), pod changes (the keys of the claims a pod
//! uses, for the protection finalizer). Out, per sync, in the plan's order: updates of
//! the volume (spec, then status) and of the claim (spec, then status), each
//! compare-and-swap on the object's resourceVersion (a conflict retries the key with
//! back-off from a fresh cache), and Events on the claim (`ExternalProvisioning`,
//! `FailedBinding`, `ClaimLost`, ...).
//!
//! Provisioning is not here: a claim whose class names a provisioner is annotated for
//! it and waits. The local-path provisioner ([`crate::provisioner`]) runs on every
//! worker node beside the kubelet and makes the volumes of the claims scheduled there.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass, Time,
};
use tracing::debug;

use self::plan::{plan_claim, plan_volume, pod_uses_claim, Action, ClaimWorld};
use super::support::{Controller, Recorder, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The controller's name on the bus.
pub const NAME: &str = "controller/persistentvolume-binder";
/// The component name in its Events.
pub const COMPONENT: &str = "persistentvolume-controller";

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<PersistentVolumeClaim>::new(NAME)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx, &key).await
        })
}

struct Ctx {
    api: ApiHandle,
    recorder: Recorder,
    claims: Cache<PersistentVolumeClaim>,
    volumes: Cache<PersistentVolume>,
    classes: Cache<StorageClass>,
    pods: Cache<Pod>,
}

/// The keys of the claims `pod` uses.
fn claim_keys(pod: &Pod) -> Vec<ObjectKey> {
    pod.spec
        .volumes
        .iter()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| ObjectKey::namespaced(&pod.metadata.namespace, &c.claim_name))
        .collect()
}

fn wire(w: &mut Wiring<PersistentVolumeClaim>) -> Ctx {
    // A claim's change concerns its volume too (a deleted claim releases it).
    let claims = w.primary_with(
        |c: &Change<PersistentVolumeClaim>, q: &WorkQueue<ObjectKey>| {
            q.add(c.key());
            let volume = &c.object().spec.volume_name;
            if !volume.is_empty() {
                q.add(ObjectKey::cluster(volume));
            }
        },
    );
    let volumes = w.watches(
        Scope::all(),
        |c: &Change<PersistentVolume>, q: &WorkQueue<ObjectKey>| {
            q.add(c.key());
            if let Some(r) = c.object().spec.claim_ref.as_ref() {
                q.add(ObjectKey::namespaced(&r.namespace, &r.name));
            }
        },
    );
    let class_claims = claims.clone();
    let classes = w.watches(
        Scope::all(),
        move |c: &Change<StorageClass>, q: &WorkQueue<ObjectKey>| {
            let name = &c.object().metadata.name;
            for claim in class_claims.filter(|p| p.class_name() == name) {
                q.add(ObjectKey::of(claim.as_ref()));
            }
        },
    );
    let pods = w.watches(Scope::all(), |c: &Change<Pod>, q: &WorkQueue<ObjectKey>| {
        let keys = match c {
            Change::Modified { old, new } => {
                let mut keys = claim_keys(old);
                keys.extend(claim_keys(new));
                keys
            }
            Change::Added(p) | Change::Deleted(p) => claim_keys(p),
        };
        for key in keys {
            q.add(key);
        }
    });
    Ctx {
        api: w.api().clone(),
        recorder: Recorder::new(w.api().clone(), COMPONENT),
        claims,
        volumes,
        classes,
        pods,
    }
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    match &key.namespace {
        Some(ns) => {
            let Some(claim) = ctx.claims.get(key) else {
                return Ok(None);
            };
            let class = ctx
                .classes
                .get(&ObjectKey::cluster(claim.class_name()))
                .filter(|_| !claim.class_name().is_empty());
            let in_use = ctx
                .pods
                .list_namespace(ns)
                .iter()
                .any(|p| pod_uses_claim(p, &claim.metadata.name));
            let volumes = ctx.volumes.list();
            let world = ClaimWorld {
                volumes: &volumes,
                class: class.as_deref(),
                in_use,
                now: Time::now(),
            };
            let actions = plan_claim(&claim, world);
            apply(ctx, Some(&claim), actions).await?;
        }
        None => {
            let Some(pv) = ctx.volumes.get(key) else {
                return Ok(None);
            };
            let claim = pv.spec.claim_ref.as_ref().and_then(|r| {
                ctx.claims
                    .get(&ObjectKey::namespaced(&r.namespace, &r.name))
            });
            let actions = plan_volume(&pv, claim.as_deref(), Time::now());
            apply(ctx, claim.as_deref(), actions).await?;
        }
    }
    // Every write comes back as a change that queues the key again.
    Ok(None)
}

/// Applies `actions` in order. A later write of an object written earlier in the same
/// sync takes the new resourceVersion.
async fn apply(
    ctx: &Ctx,
    claim: Option<&PersistentVolumeClaim>,
    actions: Vec<Action>,
) -> Result<(), ApiError> {
    let mut volume_version: Option<String> = None;
    let mut claim_version: Option<String> = None;
    for action in actions {
        match action {
            Action::UpdateVolume(mut pv) => {
                if let Some(v) = volume_version.take() {
                    pv.metadata.resource_version = v;
                }
                let api = ctx.api.api::<PersistentVolume>(None);
                let out = api.update(&pv).await?;
                debug!(volume = %pv.metadata.name, "volume updated");
                volume_version = Some(out.metadata.resource_version);
            }
            Action::UpdateVolumeStatus(mut pv) => {
                if let Some(v) = volume_version.take() {
                    pv.metadata.resource_version = v;
                }
                let api = ctx.api.api::<PersistentVolume>(None);
                let out = api.update_status(&pv).await?;
                debug!(volume = %pv.metadata.name, phase = ?pv.status.phase, "volume status updated");
                volume_version = Some(out.metadata.resource_version);
            }
            Action::UpdateClaim(mut c) => {
                if let Some(v) = claim_version.take() {
                    c.metadata.resource_version = v;
                }
                let api = ctx
                    .api
                    .api::<PersistentVolumeClaim>(Some(&c.metadata.namespace));
                let out = match api.update(&c).await {
                    Ok(out) => out,
                    // A claim whose last finalizer went is gone at once.
                    Err(e) if e.is_not_found() => return Ok(()),
                    Err(e) => return Err(e),
                };
                debug!(claim = %format!("{}/{}", c.metadata.namespace, c.metadata.name), "claim updated");
                claim_version = Some(out.metadata.resource_version);
            }
            Action::UpdateClaimStatus(mut c) => {
                if let Some(v) = claim_version.take() {
                    c.metadata.resource_version = v;
                }
                let api = ctx
                    .api
                    .api::<PersistentVolumeClaim>(Some(&c.metadata.namespace));
                let out = api.update_status(&c).await?;
                claim_version = Some(out.metadata.resource_version);
            }
            Action::ClaimEvent(type_, reason, message) => {
                if let Some(c) = claim {
                    let object = ObjectReference {
                        kind: "PersistentVolumeClaim".into(),
                        namespace: c.metadata.namespace.clone(),
                        name: c.metadata.name.clone(),
                        uid: c.metadata.uid.clone(),
                        api_version: "v1".into(),
                        ..Default::default()
                    };
                    ctx.recorder.record(object, type_, reason, message);
                }
            }
        }
    }
    Ok(())
}
