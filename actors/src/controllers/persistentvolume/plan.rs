//! The PV controller's decisions, pure: what to write for one claim
//! ([`plan_claim`]) or one volume ([`plan_volume`]), given the cached objects.
//!
//! Claims (Kubernetes' `syncClaim`):
//! - a claim being deleted loses its `kubernetes.io/pvc-protection` finalizer once no
//!   pod that is not finished uses it;
//! - an unbound claim that names no volume is bound to the volume pre-bound to it (its
//!   `claimRef` names the claim), else to the smallest Available volume that fits (same
//!   class, access modes, selector, capacity, volume mode). Claims of a
//!   WaitForFirstConsumer class wait for the scheduler's `selected-node` first (Event
//!   `WaitForFirstConsumer`) and then take only volumes that node can use. With no
//!   volume, a claim whose class has a provisioner is annotated for it
//!   (`volume.kubernetes.io/storage-provisioner`, Event `ExternalProvisioning`) and
//!   waits; the provisioner makes a volume pre-bound to the claim. A claim with no class
//!   gets `FailedBinding`, one whose class does not exist `ProvisioningFailed`;
//! - an unbound claim that names a volume is bound to it when that volume is free or
//!   pre-bound to it;
//! - a bound claim whose volume is gone is `Lost`.
//!
//! Binding writes, in Kubernetes' order: the volume's `claimRef` (annotated
//! `pv.kubernetes.io/bound-by-controller` when the controller chose it), the volume's
//! phase `Bound`, the claim's `volumeName` with `pv.kubernetes.io/bind-completed` (and
//! `bound-by-controller` when the controller chose the volume), the claim's phase
//! `Bound` with the volume's capacity and access modes. Each write is one action; a
//! reconcile applies them in order and the next reconcile continues where a failure
//! stopped.
//!
//! Volumes (`syncVolume`): a volume being deleted loses its `kubernetes.io/pv-protection`
//! finalizer once it is not Bound; without a `claimRef` it is `Available`; bound to a
//! claim that exists and names it, `Bound`; bound to a claim that is gone, `Released`,
//! then reclaimed: `Retain` keeps it Released (data and all), `Delete` leaves it to its
//! provisioner (the local-path provisioner deletes the directory and the volume) and
//! fails a volume no provisioner made (`Failed`: Rudder has no deleter for it),
//! `Recycle` fails (deprecated, not supported). A volume the controller bound to a
//! claim that meanwhile took another volume is freed again.

use std::collections::BTreeMap;
use std::sync::Arc;

use rudder_protocol::resources::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimPhase,
    PersistentVolumeMode, PersistentVolumePhase, PersistentVolumeReclaimPolicy, Pod, PodPhase,
    StorageClass, Time, VolumeBindingMode, BETA_STORAGE_PROVISIONER_ANNOTATION,
    BIND_COMPLETED_ANNOTATION, BOUND_BY_CONTROLLER_ANNOTATION, PROVISIONED_BY_ANNOTATION,
    PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER, SELECTED_NODE_ANNOTATION,
    STORAGE_PROVISIONER_ANNOTATION,
};

use crate::scheduler::plugins::node_affinity::term_matches;

/// One write of the controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Replace the volume's metadata and spec (compare-and-swap on its version).
    UpdateVolume(PersistentVolume),
    /// Replace the volume's status.
    UpdateVolumeStatus(PersistentVolume),
    /// Replace the claim's metadata and spec.
    UpdateClaim(PersistentVolumeClaim),
    /// Replace the claim's status.
    UpdateClaimStatus(PersistentVolumeClaim),
    /// Record an Event about the claim (`type_`, reason, message).
    ClaimEvent(&'static str, &'static str, String),
}

/// What the controller knows when it plans one claim.
#[derive(Debug, Clone, Copy)]
pub struct ClaimWorld<'a> {
    /// Every volume.
    pub volumes: &'a [Arc<PersistentVolume>],
    /// The claim's class, if it has one that exists.
    pub class: Option<&'a StorageClass>,
    /// Whether a pod that is not finished uses the claim.
    pub in_use: bool,
    /// Now, for phase transition times.
    pub now: Time,
}

/// Whether `pod` uses claim `name` of its namespace and still runs or may run
/// (Kubernetes' pvc-protection counts pods that are not Succeeded or Failed).
pub fn pod_uses_claim(pod: &Pod, name: &str) -> bool {
    let finished = matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    );
    !finished
        && pod.spec.volumes.iter().any(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name == name)
        })
}

fn annotated(meta: &rudder_protocol::resources::ObjectMeta, key: &str) -> bool {
    meta.annotations.contains_key(key)
}

fn without_finalizer(finalizers: &[String], finalizer: &str) -> Option<Vec<String>> {
    finalizers.iter().any(|f| f == finalizer).then(|| {
        finalizers
            .iter()
            .filter(|f| *f != finalizer)
            .cloned()
            .collect()
    })
}

/// A reference from a volume to `claim`, as the binder writes it.
pub fn claim_ref(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        kind: "PersistentVolumeClaim".into(),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        api_version: "v1".into(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: String::new(),
    }
}

/// Whether `pv`'s `claimRef` names `claim` (by namespace and name, and by uid when the
/// reference has one).
pub fn is_bound_to(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    pv.spec.claim_ref.as_ref().is_some_and(|r| {
        r.namespace == claim.metadata.namespace
            && r.name == claim.metadata.name
            && (r.uid.is_empty() || r.uid == claim.metadata.uid)
    })
}

fn mode(m: Option<PersistentVolumeMode>) -> PersistentVolumeMode {
    m.unwrap_or(PersistentVolumeMode::Filesystem)
}

/// Whether a node named `node` (with only its hostname label known) may use `pv`.
fn node_can_use(pv: &PersistentVolume, node: &str) -> bool {
    let Some(required) = pv
        .spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
    else {
        return true;
    };
    let labels = BTreeMap::from([("kubernetes.io/hostname".to_owned(), node.to_owned())]);
    required
        .node_selector_terms
        .iter()
        .any(|t| term_matches(t, node, &labels))
}

/// Whether `pv` could serve `claim` (not whether it is free): class, volume mode,
/// access modes, selector, capacity, and the selected node when there is one.
pub fn fits(pv: &PersistentVolume, claim: &PersistentVolumeClaim, node: Option<&str>) -> bool {
    let spec = &claim.spec;
    if pv.spec.storage_class_name != claim.class_name() {
        return false;
    }
    if mode(pv.spec.volume_mode) != mode(spec.volume_mode) {
        return false;
    }
    if !spec
        .access_modes
        .iter()
        .all(|m| pv.spec.access_modes.contains(m))
    {
        return false;
    }
    if let Some(selector) = &spec.selector {
        if !selector.matches(&pv.metadata.labels) {
            return false;
        }
    }
    let (Some(want), Some(have)) = (claim.requested_storage(), pv.spec.capacity.get("storage"))
    else {
        return false;
    };
    if have.cmp_value(want) == std::cmp::Ordering::Less {
        return false;
    }
    node.is_none_or(|n| node_can_use(pv, n))
}

/// Kubernetes' `findBestMatchForClaim`: the volume pre-bound to the claim if there is
/// one that fits, else the smallest Available unclaimed volume that fits (then the
/// first by name).
pub fn find_match<'a>(
    claim: &PersistentVolumeClaim,
    volumes: &'a [Arc<PersistentVolume>],
    node: Option<&str>,
) -> Option<&'a Arc<PersistentVolume>> {
    let usable = |pv: &&Arc<PersistentVolume>| {
        pv.metadata.deletion_timestamp.is_none() && fits(pv, claim, node)
    };
    if let Some(pre) = volumes
        .iter()
        .filter(usable)
        .find(|pv| is_bound_to(pv, claim))
    {
        return Some(pre);
    }
    volumes
        .iter()
        .filter(usable)
        .filter(|pv| pv.spec.claim_ref.is_none())
        .filter(|pv| pv.status.phase == Some(PersistentVolumePhase::Available))
        .min_by(|a, b| {
            let size = |pv: &PersistentVolume| pv.spec.capacity.get("storage").cloned();
            match (size(a), size(b)) {
                (Some(x), Some(y)) => x.cmp_value(&y),
                _ => std::cmp::Ordering::Equal,
            }
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        })
}

/// The writes that bind `claim` to `pv` from wherever they stand; `chosen` when the
/// controller picked the volume for the claim (the user named none in `volumeName`).
/// The volume is annotated bound-by-controller when it had no `claimRef` before.
fn bind(
    claim: &PersistentVolumeClaim,
    pv: &PersistentVolume,
    chosen: bool,
    now: Time,
) -> Vec<Action> {
    let mut out = Vec::new();
    // The volume's claimRef, with the claim's uid.
    let reference = claim_ref(claim);
    let ref_done = pv
        .spec
        .claim_ref
        .as_ref()
        .is_some_and(|r| r.uid == reference.uid && r.name == reference.name);
    if !ref_done {
        let mut v = pv.clone();
        if v.spec.claim_ref.is_none() {
            v.metadata
                .annotations
                .insert(BOUND_BY_CONTROLLER_ANNOTATION.into(), "yes".into());
        }
        v.spec.claim_ref = Some(reference);
        out.push(Action::UpdateVolume(v));
    }
    if pv.status.phase != Some(PersistentVolumePhase::Bound) {
        let mut v = pv.clone();
        v.status.phase = Some(PersistentVolumePhase::Bound);
        v.status.reason.clear();
        v.status.message.clear();
        v.status.last_phase_transition_time = Some(now);
        out.push(Action::UpdateVolumeStatus(v));
    }
    let claim_done = claim.spec.volume_name == pv.metadata.name
        && annotated(&claim.metadata, BIND_COMPLETED_ANNOTATION)
        && (!chosen || annotated(&claim.metadata, BOUND_BY_CONTROLLER_ANNOTATION));
    if !claim_done {
        let mut c = claim.clone();
        c.spec.volume_name = pv.metadata.name.clone();
        c.metadata
            .annotations
            .insert(BIND_COMPLETED_ANNOTATION.into(), "yes".into());
        if chosen {
            c.metadata
                .annotations
                .insert(BOUND_BY_CONTROLLER_ANNOTATION.into(), "yes".into());
        }
        out.push(Action::UpdateClaim(c));
    }
    let status_done = claim.status.phase == Some(PersistentVolumeClaimPhase::Bound)
        && claim.status.capacity == pv.spec.capacity
        && claim.status.access_modes == pv.spec.access_modes;
    if !status_done {
        let mut c = claim.clone();
        c.status.phase = Some(PersistentVolumeClaimPhase::Bound);
        c.status.capacity = pv.spec.capacity.clone();
        c.status.access_modes = pv.spec.access_modes.clone();
        out.push(Action::UpdateClaimStatus(c));
    }
    out
}

/// Kubernetes' `syncClaim`; see the module docs.
pub fn plan_claim(claim: &PersistentVolumeClaim, world: ClaimWorld<'_>) -> Vec<Action> {
    if claim.metadata.deletion_timestamp.is_some() {
        if world.in_use {
            return Vec::new();
        }
        return match without_finalizer(&claim.metadata.finalizers, PVC_PROTECTION_FINALIZER) {
            Some(finalizers) => {
                let mut c = claim.clone();
                c.metadata.finalizers = finalizers;
                vec![Action::UpdateClaim(c)]
            }
            None => Vec::new(),
        };
    }
    let volume = |name: &str| world.volumes.iter().find(|v| v.metadata.name == name);
    if annotated(&claim.metadata, BIND_COMPLETED_ANNOTATION) && !claim.spec.volume_name.is_empty() {
        return match volume(&claim.spec.volume_name) {
            None => {
                if claim.status.phase == Some(PersistentVolumeClaimPhase::Lost) {
                    return Vec::new();
                }
                let mut c = claim.clone();
                c.status.phase = Some(PersistentVolumeClaimPhase::Lost);
                vec![
                    Action::UpdateClaimStatus(c),
                    Action::ClaimEvent(
                        "Warning",
                        "ClaimLost",
                        "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
                            .into(),
                    ),
                ]
            }
            Some(pv) if pv.spec.claim_ref.is_none() || is_bound_to(pv, claim) => bind(
                claim,
                pv,
                annotated(&claim.metadata, BOUND_BY_CONTROLLER_ANNOTATION),
                world.now,
            ),
            Some(_) => {
                if claim.status.phase == Some(PersistentVolumeClaimPhase::Lost) {
                    return Vec::new();
                }
                let mut c = claim.clone();
                c.status.phase = Some(PersistentVolumeClaimPhase::Lost);
                vec![
                    Action::UpdateClaimStatus(c),
                    Action::ClaimEvent(
                        "Warning",
                        "ClaimMisbound",
                        "Two claims are bound to the same volume, this one is bound incorrectly"
                            .into(),
                    ),
                ]
            }
        };
    }
    if !claim.spec.volume_name.is_empty() {
        // The user asked for this volume.
        return match volume(&claim.spec.volume_name) {
            None => Vec::new(),
            Some(pv) if pv.spec.claim_ref.is_none() || is_bound_to(pv, claim) => {
                if !fits(pv, claim, None) && pv.spec.claim_ref.is_none() {
                    return vec![Action::ClaimEvent(
                        "Warning",
                        "VolumeMismatch",
                        "Cannot bind to requested volume: the volume does not fit the claim".into(),
                    )];
                }
                bind(claim, pv, false, world.now)
            }
            Some(_) => vec![Action::ClaimEvent(
                "Warning",
                "FailedBinding",
                format!(
                    "volume \"{}\" already bound to a different claim.",
                    claim.spec.volume_name
                ),
            )],
        };
    }
    let delayed = world
        .class
        .is_some_and(|c| c.binding_mode() == VolumeBindingMode::WaitForFirstConsumer);
    let node = claim
        .metadata
        .annotations
        .get(SELECTED_NODE_ANNOTATION)
        .map(String::as_str);
    if delayed && node.is_none() {
        return vec![Action::ClaimEvent(
            "Normal",
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding".into(),
        )];
    }
    if let Some(pv) = find_match(claim, world.volumes, node) {
        // The controller fills in the claim's volumeName: bound by the controller.
        return bind(claim, pv, true, world.now);
    }
    match world.class {
        Some(class) if !class.provisioner.is_empty() => {
            if claim
                .metadata
                .annotations
                .get(STORAGE_PROVISIONER_ANNOTATION)
                == Some(&class.provisioner)
            {
                return Vec::new();
            }
            let mut c = claim.clone();
            for key in [
                STORAGE_PROVISIONER_ANNOTATION,
                BETA_STORAGE_PROVISIONER_ANNOTATION,
            ] {
                c.metadata
                    .annotations
                    .insert(key.into(), class.provisioner.clone());
            }
            vec![
                Action::UpdateClaim(c),
                Action::ClaimEvent(
                    "Normal",
                    "ExternalProvisioning",
                    format!("Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", class.provisioner),
                ),
            ]
        }
        Some(_) => Vec::new(),
        None if claim.class_name().is_empty() => vec![Action::ClaimEvent(
            "Normal",
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set".into(),
        )],
        None => vec![Action::ClaimEvent(
            "Warning",
            "ProvisioningFailed",
            format!(
                "storageclass.storage.k8s.io \"{}\" not found",
                claim.class_name()
            ),
        )],
    }
}

/// Kubernetes' `syncVolume`; `claim` is the claim the volume's `claimRef` names, if it
/// exists (by namespace and name).
pub fn plan_volume(
    pv: &PersistentVolume,
    claim: Option<&PersistentVolumeClaim>,
    now: Time,
) -> Vec<Action> {
    let phase = |p: PersistentVolumePhase, reason: &str, message: &str| {
        let mut v = pv.clone();
        v.status.phase = Some(p);
        v.status.reason = reason.into();
        v.status.message = message.into();
        v.status.last_phase_transition_time = Some(now);
        Action::UpdateVolumeStatus(v)
    };
    if pv.metadata.deletion_timestamp.is_some() {
        let bound = pv.status.phase == Some(PersistentVolumePhase::Bound)
            && claim.is_some_and(|c| is_bound_to(pv, c) && c.spec.volume_name == pv.metadata.name);
        if bound {
            return Vec::new();
        }
        return match without_finalizer(&pv.metadata.finalizers, PV_PROTECTION_FINALIZER) {
            Some(finalizers) => {
                let mut v = pv.clone();
                v.metadata.finalizers = finalizers;
                vec![Action::UpdateVolume(v)]
            }
            None => Vec::new(),
        };
    }
    let Some(reference) = &pv.spec.claim_ref else {
        if pv.status.phase == Some(PersistentVolumePhase::Available) {
            return Vec::new();
        }
        return vec![phase(PersistentVolumePhase::Available, "", "")];
    };
    if reference.uid.is_empty() {
        // Pre-bound by the user; the claim's sync binds it.
        if pv.status.phase == Some(PersistentVolumePhase::Available) {
            return Vec::new();
        }
        return vec![phase(PersistentVolumePhase::Available, "", "")];
    }
    let claim = claim.filter(|c| c.metadata.uid == reference.uid);
    match claim {
        Some(c) if c.spec.volume_name == pv.metadata.name => {
            if pv.status.phase == Some(PersistentVolumePhase::Bound) {
                Vec::new()
            } else {
                vec![phase(PersistentVolumePhase::Bound, "", "")]
            }
        }
        Some(c) if c.spec.volume_name.is_empty() => {
            // Half-bound (the claim's side is next): the claim's sync completes it.
            Vec::new()
        }
        Some(_) => {
            // The claim took another volume.
            if annotated(&pv.metadata, BOUND_BY_CONTROLLER_ANNOTATION) {
                let mut v = pv.clone();
                v.spec.claim_ref = None;
                v.metadata
                    .annotations
                    .remove(BOUND_BY_CONTROLLER_ANNOTATION);
                vec![Action::UpdateVolume(v)]
            } else {
                Vec::new()
            }
        }
        None => reclaim(pv, phase),
    }
}

/// A volume whose claim is gone: Released, then its reclaim policy.
fn reclaim(
    pv: &PersistentVolume,
    phase: impl Fn(PersistentVolumePhase, &str, &str) -> Action,
) -> Vec<Action> {
    let current = pv.status.phase;
    if current == Some(PersistentVolumePhase::Failed) {
        return Vec::new();
    }
    match pv.reclaim_policy() {
        PersistentVolumeReclaimPolicy::Retain => {
            if current == Some(PersistentVolumePhase::Released) {
                Vec::new()
            } else {
                vec![phase(PersistentVolumePhase::Released, "", "")]
            }
        }
        PersistentVolumeReclaimPolicy::Delete => {
            if annotated(&pv.metadata, PROVISIONED_BY_ANNOTATION) {
                // Its provisioner deletes the storage, then the volume.
                if current == Some(PersistentVolumePhase::Released) {
                    Vec::new()
                } else {
                    vec![phase(PersistentVolumePhase::Released, "", "")]
                }
            } else {
                vec![phase(
                    PersistentVolumePhase::Failed,
                    "VolumeFailedDelete",
                    &format!(
                        "error getting deleter volume plugin for volume \"{}\": no deletable volume plugin matched",
                        pv.metadata.name
                    ),
                )]
            }
        }
        PersistentVolumeReclaimPolicy::Recycle => vec![phase(
            PersistentVolumePhase::Failed,
            "VolumeFailedRecycle",
            "No recycler plugin found for the volume!",
        )],
    }
}

#[cfg(test)]
mod tests;
