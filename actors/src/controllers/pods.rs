//! Pod helpers shared by the replica controllers (ReplicaSet, ReplicationController,
//! Deployment): readiness and availability, owner references, the pod-template hash,
//! the order in which surplus pods are deleted, and building a pod from a template.
//!
//! Everything here is pure: no I/O, time comes in as an argument.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use rudder_protocol::resources::{
    ConditionStatus, ObjectMeta, OwnerReference, Pod, PodPhase, PodTemplateSpec, Time,
};

/// The label (on replica sets, their selectors and their pods) carrying the template hash.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Whether a pod still counts: not finished (Succeeded/Failed) and not being deleted
/// (Kubernetes' `IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    !matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    ) && pod.metadata.deletion_timestamp.is_none()
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now`
/// (Kubernetes' `IsPodAvailable`). A ready pod without a transition time counts as
/// available only when no minimum applies.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    available_in(pod, min_ready_seconds, now) == Some(Duration::ZERO)
}

/// For a ready pod: how long until it counts as available (zero when it already does);
/// `None` when it is not ready or its ready time is unknown while a minimum applies.
pub fn available_in(pod: &Pod, min_ready_seconds: i32, now: Time) -> Option<Duration> {
    let cond = pod
        .ready_condition()
        .filter(|c| c.status == ConditionStatus::True)?;
    if min_ready_seconds <= 0 {
        return Some(Duration::ZERO);
    }
    let since = cond.last_transition_time?;
    let ready_for = now.0 - since.0;
    let need = i64::from(min_ready_seconds);
    // Kubernetes requires the ready time plus the minimum to lie strictly before now;
    // with second precision that is "ready for more than the minimum".
    if ready_for > need {
        Some(Duration::ZERO)
    } else {
        Some(Duration::from_secs((need - ready_for + 1).unsigned_abs()))
    }
}

/// The highest restart count among the pod's containers.
pub fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .container_statuses
        .iter()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

/// Whether `meta` names the object with `uid` as its controller.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.controller_ref().is_some_and(|r| r.uid == uid)
}

/// `refs` with `controller` added as the controlling owner (adoption); any existing
/// reference to the same uid is replaced.
pub fn with_controller(refs: &[OwnerReference], controller: OwnerReference) -> Vec<OwnerReference> {
    let mut out: Vec<OwnerReference> = refs
        .iter()
        .filter(|r| r.uid != controller.uid)
        .cloned()
        .collect();
    out.push(controller);
    out
}

/// `refs` without any reference to `uid` (release).
pub fn without_owner(refs: &[OwnerReference], uid: &str) -> Vec<OwnerReference> {
    refs.iter().filter(|r| r.uid != uid).cloned().collect()
}

/// FNV-1a, 32 bits.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Kubernetes' `rand.SafeEncodeString`: maps each byte onto an alphabet without vowels
/// (no accidental words) and without look-alike characters.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The pod-template hash of a deployment's template (Kubernetes' `ComputeHash`): FNV-32a
/// over the template's canonical JSON (maps are ordered, so equal templates give equal
/// bytes) followed by the collision count, written as a decimal number and safe-encoded.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serialising a template fails only for a timestamp outside years 0-9999; the debug
    // form is still deterministic, so it serves as the hash input then.
    let mut bytes =
        serde_json::to_vec(template).unwrap_or_else(|_| format!("{template:?}").into_bytes());
    if let Some(count) = collision_count {
        // As Kubernetes: 8 bytes, the count little-endian in the first four.
        let mut extra = [0u8; 8];
        extra[..4].copy_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(&extra);
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// Whether two templates are equal once the pod-template-hash label is ignored
/// (Kubernetes' `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        t.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
        t
    };
    strip(a) == strip(b)
}

/// Whether a pod carries every label of the template (`fullyLabeledReplicas`).
pub fn has_all_labels(pod: &Pod, labels: &BTreeMap<String, String>) -> bool {
    labels
        .iter()
        .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
}

/// `a` before `b` when `a` is zero or, both set, `a` is later (Kubernetes' `afterOrZero`).
fn after_or_zero(a: Option<Time>, b: Option<Time>) -> bool {
    match (a, b) {
        (None, _) | (_, None) => a.is_none(),
        (Some(a), Some(b)) => a > b,
    }
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.phase {
        None | Some(PodPhase::Pending) => 0,
        Some(PodPhase::Unknown) => 1,
        Some(PodPhase::Running) => 2,
        // Finished pods are filtered out before ranking; rank them as running.
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed) => 2,
    }
}

/// Kubernetes' `ActivePods` order: pods that should go first when scaling down sort first.
/// Unassigned before assigned; Pending before Unknown before Running; not ready before
/// ready; ready for less time first; more restarts first; newer first. Ties break on the
/// name so that the order is total and deterministic.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| !p.spec.node_name.is_empty();
    if assigned(a) != assigned(b) {
        return assigned(a).cmp(&assigned(b));
    }
    if phase_rank(a) != phase_rank(b) {
        return phase_rank(a).cmp(&phase_rank(b));
    }
    if a.is_ready() != b.is_ready() {
        return a.is_ready().cmp(&b.is_ready());
    }
    if a.is_ready() && b.is_ready() {
        let ta = a.ready_condition().and_then(|c| c.last_transition_time);
        let tb = b.ready_condition().and_then(|c| c.last_transition_time);
        if ta != tb {
            return if after_or_zero(ta, tb) {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
    }
    if max_restarts(a) != max_restarts(b) {
        return max_restarts(b).cmp(&max_restarts(a));
    }
    let ca = a.metadata.creation_timestamp;
    let cb = b.metadata.creation_timestamp;
    if ca != cb {
        return if after_or_zero(ca, cb) {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    a.metadata.name.cmp(&b.metadata.name)
}

/// A pod stamped from `template` for the controller `owner` (Kubernetes'
/// `GetPodFromTemplate`): the template's labels, annotations, finalizers and spec, a
/// generated name `<prefix>`, and the controller reference.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    generate_name: &str,
    owner: OwnerReference,
) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.namespace = namespace.to_owned();
    pod.metadata.generate_name = generate_name.to_owned();
    pod.metadata.labels = template.metadata.labels.clone();
    pod.metadata.annotations = template.metadata.annotations.clone();
    pod.metadata.finalizers = template.metadata.finalizers.clone();
    pod.metadata.owner_references = vec![owner];
    pod.spec = template.spec.clone();
    pod
}

#[cfg(test)]
pub(crate) mod testing {
    //! Pod builders for the controllers' tests.
    use super::*;
    use rudder_protocol::resources::PodCondition;

    /// A pod named `name` created at `created`, with the given labels.
    pub fn pod(name: &str, created: i64, labels: &[(&str, &str)]) -> Pod {
        let mut p = Pod::new(name);
        p.metadata.namespace = "default".into();
        p.metadata.uid = format!("uid-{name}");
        p.metadata.creation_timestamp = Some(Time(created));
        p.metadata.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        p.status.phase = Some(PodPhase::Pending);
        p
    }

    /// Marks a pod Running and Ready since `since`.
    pub fn ready(mut p: Pod, since: i64) -> Pod {
        p.spec.node_name = "node-1".into();
        p.status.phase = Some(PodPhase::Running);
        p.status.conditions = vec![PodCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time(since)),
            ..Default::default()
        }];
        p
    }

    /// Marks a pod Running on a node but not ready.
    pub fn running(mut p: Pod) -> Pod {
        p.spec.node_name = "node-1".into();
        p.status.phase = Some(PodPhase::Running);
        p
    }

    /// Gives a pod a controller reference to `uid`.
    pub fn owned(mut p: Pod, kind: &str, name: &str, uid: &str) -> Pod {
        p.metadata.owner_references = vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }];
        p
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use rudder_protocol::resources::ContainerStatus;

    #[test]
    fn availability_table() {
        let now = 1000;
        let table: &[(&str, Pod, i32, Option<Duration>)] = &[
            ("pending", pod("a", 0, &[]), 0, None),
            ("running not ready", running(pod("a", 0, &[])), 0, None),
            (
                "ready no minimum",
                ready(pod("a", 0, &[]), 999),
                0,
                Some(Duration::ZERO),
            ),
            (
                "ready long enough",
                ready(pod("a", 0, &[]), 900),
                10,
                Some(Duration::ZERO),
            ),
            (
                "ready exactly the minimum",
                ready(pod("a", 0, &[]), 990),
                10,
                Some(Duration::from_secs(1)),
            ),
            (
                "ready too briefly",
                ready(pod("a", 0, &[]), 995),
                10,
                Some(Duration::from_secs(6)),
            ),
        ];
        for (name, p, min, want) in table {
            assert_eq!(available_in(p, *min, Time(now)), *want, "{name}");
            assert_eq!(
                is_available(p, *min, Time(now)),
                *want == Some(Duration::ZERO),
                "{name}"
            );
        }
    }

    #[test]
    fn activity_table() {
        let mut deleting = pod("d", 0, &[]);
        deleting.metadata.deletion_timestamp = Some(Time(5));
        let mut done = pod("s", 0, &[]);
        done.status.phase = Some(PodPhase::Succeeded);
        let mut failed = pod("f", 0, &[]);
        failed.status.phase = Some(PodPhase::Failed);
        let table = [
            ("pending", pod("p", 0, &[]), true),
            ("running", running(pod("r", 0, &[])), true),
            ("deleting", deleting, false),
            ("succeeded", done, false),
            ("failed", failed, false),
        ];
        for (name, p, want) in table {
            assert_eq!(is_active(&p), want, "{name}");
        }
    }

    #[test]
    fn fnv_and_safe_encoding() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
        // '0' is byte 48, 48 % 27 = 21 -> '4'; '9' is 57 % 27 = 3 -> 'f'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels.insert("app".into(), "web".into());
        let h = template_hash(&t, None);
        assert_eq!(h, template_hash(&t.clone(), None), "deterministic");
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(
            h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{h}"
        );
        assert_ne!(h, template_hash(&t, Some(1)), "collision count changes it");
        assert_ne!(template_hash(&t, Some(1)), template_hash(&t, Some(2)));
        let mut t2 = t.clone();
        t2.metadata.labels.insert("v".into(), "2".into());
        assert_ne!(h, template_hash(&t2, None), "template changes it");
    }

    #[test]
    fn equal_ignoring_hash_label() {
        let mut a = PodTemplateSpec::default();
        a.metadata.labels.insert("app".into(), "web".into());
        let mut b = a.clone();
        b.metadata
            .labels
            .insert(POD_TEMPLATE_HASH_LABEL.into(), "abc".into());
        assert!(equal_ignore_hash(&a, &b));
        b.metadata.labels.insert("x".into(), "y".into());
        assert!(!equal_ignore_hash(&a, &b));
    }

    #[test]
    fn owner_reference_edits() {
        let base = owned(pod("p", 0, &[]), "ReplicaSet", "old", "u-old");
        let mut other = base.metadata.owner_references[0].clone();
        other.uid = "u-new".into();
        let adopted = with_controller(&[], other.clone());
        assert_eq!(adopted, vec![other.clone()]);
        let replaced = with_controller(&[other.clone()], other.clone());
        assert_eq!(replaced.len(), 1, "no duplicate reference");
        let released = without_owner(&base.metadata.owner_references, "u-old");
        assert!(released.is_empty());
        assert!(is_controlled_by(&base.metadata, "u-old"));
        assert!(!is_controlled_by(&base.metadata, "u-new"));
    }

    #[test]
    fn deletion_order_table() {
        let restarts = |mut p: Pod, n: i32| {
            p.status.container_statuses = vec![ContainerStatus {
                restart_count: n,
                ..Default::default()
            }];
            p
        };
        let mut unknown = running(pod("a", 0, &[]));
        unknown.status.phase = Some(PodPhase::Unknown);
        // (name, first, second): `first` must be deleted before `second`.
        let table: Vec<(&str, Pod, Pod)> = vec![
            (
                "unassigned before assigned",
                pod("a", 0, &[]),
                running(pod("b", 0, &[])),
            ),
            (
                "pending before unknown",
                {
                    let mut p = running(pod("a", 0, &[]));
                    p.status.phase = Some(PodPhase::Pending);
                    p
                },
                unknown.clone(),
            ),
            ("unknown before running", unknown, running(pod("b", 0, &[]))),
            (
                "not ready before ready",
                running(pod("a", 0, &[])),
                ready(pod("b", 0, &[]), 10),
            ),
            (
                "ready briefly before ready long",
                ready(pod("a", 0, &[]), 50),
                ready(pod("b", 0, &[]), 10),
            ),
            (
                "more restarts first",
                restarts(ready(pod("a", 0, &[]), 10), 3),
                restarts(ready(pod("b", 0, &[]), 10), 1),
            ),
            (
                "newer first",
                ready(pod("a", 20, &[]), 30),
                ready(pod("b", 10, &[]), 30),
            ),
            (
                "name breaks ties",
                ready(pod("a", 10, &[]), 30),
                ready(pod("b", 10, &[]), 30),
            ),
        ];
        for (name, first, second) in table {
            assert_eq!(deletion_order(&first, &second), Ordering::Less, "{name}");
            assert_eq!(
                deletion_order(&second, &first),
                Ordering::Greater,
                "{name} (reversed)"
            );
        }
    }

    #[test]
    fn pods_from_templates() {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels.insert("app".into(), "web".into());
        t.spec.node_name = String::new();
        let owner = owned(pod("x", 0, &[]), "ReplicaSet", "web", "u")
            .metadata
            .owner_references[0]
            .clone();
        let p = pod_from_template(&t, "prod", "web-", owner.clone());
        assert_eq!(p.metadata.generate_name, "web-");
        assert_eq!(p.metadata.namespace, "prod");
        assert!(p.metadata.name.is_empty());
        assert_eq!(p.metadata.owner_references, vec![owner]);
        assert!(has_all_labels(&p, &t.metadata.labels));
    }
}
