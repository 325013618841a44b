//! The StatefulSet controller's decision, pure: from the set, the pods of its
//! namespace, its claims, its two revisions and the time, what to write (Kubernetes'
//! `stateful_set_control.go`).
//!
//! The rules, in the order one sync applies them:
//!
//! 1. **Claim**: owned pods that still match the selector are the set's; matching
//!    orphans whose name is one of the set's ordinals are adopted; owned pods that no
//!    longer match are released.
//! 2. **Replicas** (ordinals `start .. start + replicas`), lowest first: a finished
//!    (Succeeded/Failed) pod is deleted, to be recreated; a missing pod is created from
//!    the revision its ordinal gets (below the partition: the current revision; else the
//!    update revision), after its missing claims. With `OrderedReady` the walk stops at
//!    the first pod created, terminating, or not yet Running, Ready and available: pod
//!    `n + 1` never starts before pod `n` is healthy. `Parallel` walks on.
//! 3. **Condemned** pods (ordinals outside the range), highest first, are deleted; with
//!    `OrderedReady` one at a time, each once the ones above are gone, and an unhealthy
//!    one only when it is the first unhealthy pod (anything else waits).
//! 4. **Rolling update** (`RollingUpdate` only, and only when steps 2 and 3 left
//!    nothing to wait for): from the highest ordinal down to the partition, the first pod
//!    not at the update revision is deleted (its replacement comes from step 2 next
//!    time); an unhealthy pod on the way stops the walk. `maxUnavailable` (default 1)
//!    bounds how many pods in that range may be unavailable at once.
//! 5. **Claims' owners** follow the retention policy: the set owns every claim when
//!    `whenDeleted: Delete`; a condemned pod owns its claims when `whenScaled: Delete`
//!    (so the garbage collector removes them after the pod).
//! 6. **Status**: counts of pods (not terminating), ready, available, at the current
//!    and at the update revision; once every pod is updated and ready, the current
//!    revision becomes the update revision.
//!
//! A pod's name is its identity, so the API itself refuses a second pod of an ordinal
//! while the first exists (terminating included): an ordinal never runs twice at once.

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_protocol::resources::{
    IntOrString, OwnerReference, PersistentVolumeClaim, PersistentVolumeClaimRetentionPolicyType,
    PersistentVolumeClaimVolumeSource, Pod, PodManagementPolicyType, PodPhase, PodTemplateSpec,
    Resource, StatefulSet, StatefulSetStatus, StatefulSetUpdateStrategyType, Time, Volume,
    CONTROLLER_REVISION_HASH_LABEL, POD_INDEX_LABEL, STATEFULSET_POD_NAME_LABEL,
};

use crate::controllers::pods::{self, available_in, pod_from_template};

/// A revision of the set's template: its ControllerRevision's name (the value of the
/// pods' `controller-revision-hash` label) and the template it holds.
#[derive(Debug, Clone, Copy)]
pub struct Revision<'a> {
    /// The ControllerRevision's name.
    pub name: &'a str,
    /// Its pod template.
    pub template: &'a PodTemplateSpec,
}

/// What the plan knows of an existing claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimState {
    /// Its uid.
    pub uid: String,
    /// Its resourceVersion.
    pub resource_version: String,
    /// It is being deleted.
    pub terminating: bool,
    /// Its owner references.
    pub owner_references: Vec<OwnerReference>,
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The set.
    pub set: &'a StatefulSet,
    /// The pods of the set's namespace (owned, orphaned and foreign alike).
    pub pods: &'a [&'a Pod],
    /// The claims of the namespace, by name.
    pub claims: &'a BTreeMap<String, ClaimState>,
    /// The revision the pods had before the template last changed.
    pub current: Revision<'a>,
    /// The revision of the current template.
    pub update: Revision<'a>,
    /// The set's revision collision count.
    pub collision_count: Option<i32>,
    /// Earlier creations and deletions have all been observed.
    pub expectations_met: bool,
    /// Now.
    pub now: Time,
}

/// One write.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Make the set the pod's controller (a merge patch with the pod's resourceVersion).
    Adopt {
        /// The pod's name.
        pod: String,
        /// The pod's resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Drop the set as the pod's controller.
    Release {
        /// The pod's name.
        pod: String,
        /// The pod's resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Create these claims (before the pod that mounts them).
    CreateClaims(Vec<PersistentVolumeClaim>),
    /// Create this pod.
    CreatePod(Box<Pod>),
    /// Delete this pod.
    DeletePod {
        /// The pod's name.
        name: String,
        /// Its uid (a precondition, and what expectations track).
        uid: String,
    },
    /// Set a claim's owner references (the retention policy).
    SetClaimOwners {
        /// The claim's name.
        claim: String,
        /// The claim's resourceVersion the decision was based on.
        resource_version: String,
        /// The new owner references.
        owner_references: Vec<OwnerReference>,
    },
    /// Write this status.
    UpdateStatus(StatefulSetStatus),
}

/// The result of [`plan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The writes, in order.
    pub actions: Vec<Action>,
    /// Look again after this long (a pod will cross `minReadySeconds`, or a terminating
    /// claim blocks a pod).
    pub requeue_after: Option<Duration>,
}

/// How long to wait before looking again at a pod blocked by a claim being deleted.
pub const CLAIM_TERMINATING_RETRY: Duration = Duration::from_secs(2);

/// Whether the pod has finished (Succeeded or Failed).
fn is_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    )
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn is_running_and_ready(pod: &Pod) -> bool {
    pod.status.phase == Some(PodPhase::Running) && pod.is_ready()
}

/// Running, Ready for `minReadySeconds`, not terminating; or how long until it is
/// available (`Err(Some(d))`), or `Err(None)` when it is not Running and Ready at all.
fn health(pod: &Pod, min_ready_seconds: i32, now: Time) -> Result<(), Option<Duration>> {
    if is_terminating(pod) || !is_running_and_ready(pod) {
        return Err(None);
    }
    match available_in(pod, min_ready_seconds, now) {
        Some(d) if d.is_zero() => Ok(()),
        other => Err(other),
    }
}

fn is_healthy(pod: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    health(pod, min_ready_seconds, now).is_ok()
}

/// The revision label of a pod.
pub fn pod_revision(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map_or("", String::as_str)
}

/// The pod of `ordinal` from `revision`: Kubernetes' `newVersionedStatefulSetPod` (the
/// template, the set as controller, the identity labels, hostname and subdomain, a
/// claim volume per claim template).
pub fn stateful_pod(set: &StatefulSet, revision: Revision<'_>, ordinal: i32) -> Pod {
    let meta = &set.metadata;
    let mut pod = pod_from_template(revision.template, &meta.namespace, "", set.controller_ref());
    let name = set.pod_name(ordinal);
    pod.metadata.name.clone_from(&name);
    let labels = &mut pod.metadata.labels;
    labels.insert(STATEFULSET_POD_NAME_LABEL.to_owned(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_owned(), ordinal.to_string());
    labels.insert(
        CONTROLLER_REVISION_HASH_LABEL.to_owned(),
        revision.name.to_owned(),
    );
    pod.spec.hostname = name;
    pod.spec.subdomain.clone_from(&set.spec.service_name);
    for template in &set.spec.volume_claim_templates {
        let volume = Volume {
            name: template.metadata.name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: set.claim_name(&template.metadata.name, ordinal),
                read_only: false,
            }),
            ..Volume::default()
        };
        match pod.spec.volumes.iter_mut().find(|v| v.name == volume.name) {
            Some(v) => *v = volume,
            None => pod.spec.volumes.push(volume),
        }
    }
    pod
}

/// The claims of `ordinal`, from the claim templates: named `<template>-<set>-<n>`,
/// labelled with the template's labels and the set's selector labels.
pub fn stateful_claims(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    set.spec
        .volume_claim_templates
        .iter()
        .map(|template| {
            let mut claim = template.clone();
            claim.metadata = Default::default();
            claim.metadata.name = set.claim_name(&template.metadata.name, ordinal);
            claim.metadata.namespace.clone_from(&set.metadata.namespace);
            claim.metadata.labels.clone_from(&template.metadata.labels);
            claim
                .metadata
                .annotations
                .clone_from(&template.metadata.annotations);
            for (k, v) in &set.spec.selector.match_labels {
                claim.metadata.labels.insert(k.clone(), v.clone());
            }
            claim.status = Default::default();
            claim
        })
        .collect()
}

/// A reference to `pod` as a claim's (non-controlling) owner.
fn pod_owner(pod: &Pod) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        controller: Some(false),
        block_owner_deletion: Some(true),
    }
}

/// A reference to `set` as a claim's (non-controlling) owner.
fn set_owner(set: &StatefulSet) -> OwnerReference {
    OwnerReference {
        controller: Some(false),
        ..set.controller_ref()
    }
}

/// How many pods of the update range may be unavailable at once
/// (`rollingUpdate.maxUnavailable`, default 1, a percentage of the replicas rounded
/// down, at least 1).
fn max_unavailable(set: &StatefulSet) -> usize {
    let replicas = usize::try_from(set.replicas().max(0)).unwrap_or(0);
    let n = match set
        .spec
        .update_strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.max_unavailable.as_ref())
    {
        None => 1,
        Some(IntOrString::Int(n)) => usize::try_from(*n).unwrap_or(1),
        Some(IntOrString::String(s)) => {
            let pct: usize = s.trim_end_matches('%').parse().unwrap_or(0);
            replicas * pct / 100
        }
    };
    n.max(1)
}

/// Decides one sync of a StatefulSet (see the module docs).
pub fn plan(inp: Inputs<'_>) -> Plan {
    let set = inp.set;
    let uid = set.metadata.uid.as_str();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let min_ready = set.spec.min_ready_seconds;
    let mut out = Plan::default();

    // 1. Claim.
    let mut mine: Vec<&Pod> = Vec::new();
    for &pod in inp.pods {
        let matches = set.spec.selector.matches(&pod.metadata.labels)
            && set.ordinal_of(&pod.metadata.name).is_some();
        match pod.metadata.controller_ref() {
            Some(r) if r.uid == uid => {
                if matches || deleting || is_terminating(pod) {
                    mine.push(pod);
                } else {
                    out.actions.push(Action::Release {
                        pod: pod.metadata.name.clone(),
                        resource_version: pod.metadata.resource_version.clone(),
                        owner_references: pods::without_owner(&pod.metadata.owner_references, uid),
                    });
                }
            }
            Some(_) => {}
            None if matches && !deleting && !is_terminating(pod) => {
                out.actions.push(Action::Adopt {
                    pod: pod.metadata.name.clone(),
                    resource_version: pod.metadata.resource_version.clone(),
                    owner_references: pods::with_controller(
                        &pod.metadata.owner_references,
                        set.controller_ref(),
                    ),
                });
                mine.push(pod);
            }
            None => {}
        }
    }
    let by_ordinal: BTreeMap<i32, &Pod> = mine
        .iter()
        .filter_map(|p| set.ordinal_of(&p.metadata.name).map(|o| (o, *p)))
        .collect();
    let start = set.start_ordinal();
    let replicas = set.replicas().max(0);
    let end = start.saturating_add(replicas);
    let in_range = |o: i32| o >= start && o < end;

    if !deleting && inp.expectations_met {
        manage(&inp, &by_ordinal, start, end, &mut out);
    }

    // 5. Claims' owners.
    if !deleting {
        claim_owners(&inp, &by_ordinal, &in_range, &mut out);
    }

    // 6. Status.
    let status = status(&inp, &mine);
    if status != set.status {
        out.actions.push(Action::UpdateStatus(status));
    }
    // Pods that will cross minReadySeconds need a look then.
    let soonest = mine
        .iter()
        .filter_map(|p| match health(p, min_ready, inp.now) {
            Err(Some(d)) => Some(d),
            _ => None,
        })
        .min();
    out.requeue_after = match (out.requeue_after, soonest) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    out
}

/// Steps 2 to 4: pods created, replaced, condemned and updated.
fn manage(
    inp: &Inputs<'_>,
    by_ordinal: &BTreeMap<i32, &Pod>,
    start: i32,
    end: i32,
    out: &mut Plan,
) {
    let set = inp.set;
    let min_ready = set.spec.min_ready_seconds;
    let ordered = set.pod_management() == PodManagementPolicyType::OrderedReady;
    let partition = set.partition();
    let rolling = set.update_strategy() == StatefulSetUpdateStrategyType::RollingUpdate;

    // 2. Replicas, lowest ordinal first.
    let mut blocked = false;
    for ordinal in start..end {
        match by_ordinal.get(&ordinal) {
            None => {
                // Below the partition a pod keeps the current revision.
                let revision = if rolling && ordinal - start < partition {
                    inp.current
                } else {
                    inp.update
                };
                let claims = stateful_claims(set, ordinal);
                if claims.iter().any(|c| {
                    inp.claims
                        .get(&c.metadata.name)
                        .is_some_and(|s| s.terminating)
                }) {
                    // Kubernetes waits for a claim being deleted to go before it makes
                    // the pod, which would otherwise mount the dying claim.
                    out.requeue_after = Some(CLAIM_TERMINATING_RETRY);
                    blocked = true;
                    if ordered {
                        break;
                    }
                    continue;
                }
                let missing: Vec<PersistentVolumeClaim> = claims
                    .into_iter()
                    .filter(|c| !inp.claims.contains_key(&c.metadata.name))
                    .collect();
                if !missing.is_empty() {
                    out.actions.push(Action::CreateClaims(missing));
                }
                out.actions.push(Action::CreatePod(Box::new(stateful_pod(
                    set, revision, ordinal,
                ))));
                blocked = true;
                if ordered {
                    break;
                }
            }
            Some(pod) => {
                if is_finished(pod) {
                    if !is_terminating(pod) {
                        out.actions.push(Action::DeletePod {
                            name: pod.metadata.name.clone(),
                            uid: pod.metadata.uid.clone(),
                        });
                    }
                    blocked = true;
                    if ordered {
                        break;
                    }
                    continue;
                }
                // A claim someone deleted comes back (the pod keeps its storage name).
                let missing: Vec<PersistentVolumeClaim> = stateful_claims(set, ordinal)
                    .into_iter()
                    .filter(|c| !inp.claims.contains_key(&c.metadata.name))
                    .collect();
                if !missing.is_empty() && !is_terminating(pod) {
                    out.actions.push(Action::CreateClaims(missing));
                }
                if !is_healthy(pod, min_ready, inp.now) {
                    blocked = true;
                    if ordered {
                        break;
                    }
                }
            }
        }
    }
    if blocked && ordered {
        return;
    }

    // 3. Condemned, highest ordinal first.
    let condemned: Vec<&Pod> = by_ordinal
        .iter()
        .rev()
        .filter(|(o, _)| **o < start || **o >= end)
        .map(|(_, p)| *p)
        .collect();
    let first_unhealthy = condemned
        .iter()
        .rev()
        .find(|p| !is_healthy(p, min_ready, inp.now))
        .map(|p| p.metadata.uid.as_str());
    for pod in &condemned {
        if is_terminating(pod) {
            if ordered {
                return;
            }
            continue;
        }
        if ordered
            && !is_healthy(pod, min_ready, inp.now)
            && Some(pod.metadata.uid.as_str()) != first_unhealthy
        {
            return;
        }
        out.actions.push(Action::DeletePod {
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
        });
        if ordered {
            return;
        }
    }

    // 4. Rolling update, highest ordinal first, down to the partition.
    if !rolling {
        return;
    }
    let update_min = start.saturating_add(partition.max(0));
    let budget = max_unavailable(set);
    let range: Vec<i32> = (update_min.max(start)..end).rev().collect();
    let mut unavailable = range
        .iter()
        .filter(|o| {
            by_ordinal
                .get(o)
                .is_none_or(|p| !is_healthy(p, min_ready, inp.now))
        })
        .count();
    for ordinal in range {
        let Some(pod) = by_ordinal.get(&ordinal) else {
            continue;
        };
        if pod_revision(pod) != inp.update.name && !is_terminating(pod) {
            let healthy = is_healthy(pod, min_ready, inp.now);
            if healthy && unavailable >= budget {
                return;
            }
            out.actions.push(Action::DeletePod {
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            });
            if healthy {
                unavailable += 1;
            }
            // Kubernetes' default: one pod at a time.
            if budget <= 1 || unavailable >= budget {
                return;
            }
            continue;
        }
        if !is_healthy(pod, min_ready, inp.now) && budget <= 1 {
            return;
        }
    }
}

/// Step 5: the owner references the retention policy asks of each existing claim of
/// the set's pods.
fn claim_owners(
    inp: &Inputs<'_>,
    by_ordinal: &BTreeMap<i32, &Pod>,
    in_range: &dyn Fn(i32) -> bool,
    out: &mut Plan,
) {
    let set = inp.set;
    let policy = set
        .spec
        .persistent_volume_claim_retention_policy
        .clone()
        .unwrap_or_default();
    let when_deleted = policy
        .when_deleted
        .unwrap_or(PersistentVolumeClaimRetentionPolicyType::Retain);
    let when_scaled = policy
        .when_scaled
        .unwrap_or(PersistentVolumeClaimRetentionPolicyType::Retain);
    for (&ordinal, pod) in by_ordinal {
        for template in &set.spec.volume_claim_templates {
            let name = set.claim_name(&template.metadata.name, ordinal);
            let Some(claim) = inp.claims.get(&name) else {
                continue;
            };
            if claim.terminating {
                continue;
            }
            // Keep references to anyone else; decide ours.
            let mut refs: Vec<OwnerReference> = claim
                .owner_references
                .iter()
                .filter(|r| {
                    r.uid != set.metadata.uid && !(r.kind == "Pod" && r.name == pod.metadata.name)
                })
                .cloned()
                .collect();
            if when_deleted == PersistentVolumeClaimRetentionPolicyType::Delete {
                refs.push(set_owner(set));
            }
            if when_scaled == PersistentVolumeClaimRetentionPolicyType::Delete && !in_range(ordinal)
            {
                refs.push(pod_owner(pod));
            }
            if refs != claim.owner_references {
                out.actions.push(Action::SetClaimOwners {
                    claim: name,
                    resource_version: claim.resource_version.clone(),
                    owner_references: refs,
                });
            }
        }
    }
}

/// Step 6: the status for the set's pods.
fn status(inp: &Inputs<'_>, mine: &[&Pod]) -> StatefulSetStatus {
    let set = inp.set;
    let min_ready = set.spec.min_ready_seconds;
    let mut s = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: inp.current.name.to_owned(),
        update_revision: inp.update.name.to_owned(),
        collision_count: inp.collision_count,
        conditions: set.status.conditions.clone(),
        ..Default::default()
    };
    for pod in mine.iter().filter(|p| !is_terminating(p)) {
        s.replicas += 1;
        if is_running_and_ready(pod) {
            s.ready_replicas += 1;
            if is_healthy(pod, min_ready, inp.now) {
                s.available_replicas += 1;
            }
        }
        let revision = pod_revision(pod);
        if revision == inp.current.name {
            s.current_replicas += 1;
        }
        if revision == inp.update.name {
            s.updated_replicas += 1;
        }
    }
    // The update is complete: what was the update is now the current revision.
    let done = s.updated_replicas == s.replicas
        && s.ready_replicas == s.replicas
        && s.replicas == set.replicas();
    if done && s.current_revision != s.update_revision {
        s.current_revision.clone_from(&s.update_revision);
        s.current_replicas = s.updated_replicas;
    }
    s
}
