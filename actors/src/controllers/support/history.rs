//! Rollout history in ControllerRevisions, shared by the DaemonSet and StatefulSet
//! controllers (Kubernetes' `pkg/controller/history`).
//!
//! A revision snapshots a parent's pod template as the strategic merge patch that
//! restores it, `{"spec":{"template":{...,"$patch":"replace"}}}` ([`template_patch`]):
//! `kubectl rollout undo` sends exactly that `data` back as a patch of the parent.
//!
//! The rules kept here:
//! - A revision is named `<parent>-<hash>` ([`revision_name`]); the hash
//!   ([`hash_revision`]) is FNV-1 (32 bits) over the data's JSON text, then the
//!   collision count as decimal digits when there is one, safe-encoded as Kubernetes'
//!   `HashControllerRevision`. The same hash is the revision's
//!   [`CONTROLLER_REVISION_HASH_LABEL`]; its other labels are the template's.
//! - Two revisions are equal when their data is ([`equal_revision`]); the number of the
//!   revision is its place in the history, not part of its identity.
//! - Revision numbers only grow: the next is the highest plus one ([`next_revision`]).
//!   Going back to an older template renumbers the revision that has it
//!   ([`Current::Renumber`]) instead of creating a copy.
//! - A name taken by a revision with other data is a hash collision: the collision count
//!   goes up and the name is computed again ([`create_revision`]); the caller keeps the
//!   count in its status so the next name is found at once.
//! - History is truncated to `revisionHistoryLimit` by deleting the oldest revisions no
//!   pod runs and that are not current ([`to_truncate`]).
//!
//! Everything but [`create_revision`] and [`ensure_current`] is pure.

use std::collections::BTreeMap;
use std::sync::Arc;

use rudder_protocol::api::{Api, ApiError};
use rudder_protocol::resources::{
    ControllerRevision, PodTemplateSpec, RawJson, Resource, CONTROLLER_REVISION_HASH_LABEL,
};
use serde_json::{json, Value};

use crate::controllers::pods::safe_encode;

/// The longest parent name kept in a revision's name (Kubernetes' 253-character limit
/// less room for the hash).
pub const MAX_PREFIX_LEN: usize = 223;

/// The data of a revision of `template`: the strategic merge patch that puts it back
/// (`{"spec":{"template":{...,"$patch":"replace"}}}`), as DaemonSets and StatefulSets
/// record it.
pub fn template_patch(template: &PodTemplateSpec) -> RawJson {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut t {
        map.insert("$patch".into(), json!("replace"));
    }
    RawJson::from(json!({"spec": {"template": t}}))
}

/// FNV-1 (not 1a), 32 bits, as Go's `fnv.New32`.
fn fnv32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(*b)
    })
}

/// The hash of revision data with an optional collision count (Kubernetes'
/// `HashControllerRevision`): the label value and the name suffix of the revision.
pub fn hash_revision(data: &RawJson, collision_count: Option<i32>) -> String {
    let mut bytes = data.to_text().into_bytes();
    if let Some(count) = collision_count {
        bytes.extend_from_slice(count.to_string().as_bytes());
    }
    safe_encode(&fnv32(&bytes).to_string())
}

/// `<parent>-<hash>`, the parent's name cut to [`MAX_PREFIX_LEN`] characters.
pub fn revision_name(parent: &str, hash: &str) -> String {
    let prefix: String = parent.chars().take(MAX_PREFIX_LEN).collect();
    format!("{prefix}-{hash}")
}

/// A revision of `parent` (not yet stored): named from its hash, in the parent's
/// namespace, labelled with `template_labels` and the hash, controlled by the parent.
pub fn new_revision<P: Resource>(
    parent: &P,
    template_labels: &BTreeMap<String, String>,
    data: RawJson,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let hash = hash_revision(&data, collision_count);
    let meta = parent.metadata();
    let mut r = ControllerRevision::new(revision_name(&meta.name, &hash));
    r.metadata.namespace = meta.namespace.clone();
    r.metadata.labels = template_labels.clone();
    r.metadata
        .labels
        .insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash);
    r.metadata.owner_references = vec![parent.controller_ref()];
    r.data = data;
    r.revision = revision;
    r
}

/// The hash label of a revision (empty when it has none).
pub fn revision_hash(r: &ControllerRevision) -> &str {
    r.metadata
        .labels
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map_or("", String::as_str)
}

/// Kubernetes' history order: by revision number, then creation time, then name.
pub fn sort_revisions<R: AsRef<ControllerRevision>>(revisions: &mut [R]) {
    revisions.sort_by(|a, b| {
        let (a, b) = (a.as_ref(), b.as_ref());
        (a.revision, a.metadata.creation_timestamp, &a.metadata.name).cmp(&(
            b.revision,
            b.metadata.creation_timestamp,
            &b.metadata.name,
        ))
    });
}

/// The revisions controlled by the parent with `parent_uid`, in history order.
pub fn owned_revisions(
    revisions: &[Arc<ControllerRevision>],
    parent_uid: &str,
) -> Vec<Arc<ControllerRevision>> {
    let mut out: Vec<Arc<ControllerRevision>> = revisions
        .iter()
        .filter(|r| {
            r.metadata
                .controller_ref()
                .is_some_and(|c| c.uid == parent_uid)
        })
        .cloned()
        .collect();
    sort_revisions(&mut out);
    out
}

/// The number for a new revision: one more than the highest (1 for the first).
pub fn next_revision<R: AsRef<ControllerRevision>>(revisions: &[R]) -> i64 {
    revisions
        .iter()
        .map(|r| r.as_ref().revision)
        .max()
        .map_or(1, |m| m + 1)
}

/// Whether two revisions hold the same state (their data is equal).
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data == b.data
}

/// What to do so that a revision equal to `desired` is the newest of the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// The newest revision already is it.
    Existing(Arc<ControllerRevision>),
    /// An older revision is it: give it this (next) number.
    Renumber(Arc<ControllerRevision>, i64),
    /// None is: create `desired`.
    Create,
}

/// Finds the revision equal to `desired` among `history` (in history order), as the
/// StatefulSet and DaemonSet controllers do before a sync.
pub fn find_current(history: &[Arc<ControllerRevision>], desired: &ControllerRevision) -> Current {
    let Some(equal) = history.iter().rev().find(|r| equal_revision(r, desired)) else {
        return Current::Create;
    };
    let newest = history.last().map(|r| r.revision).unwrap_or(0);
    if equal.revision >= newest {
        Current::Existing(equal.clone())
    } else {
        Current::Renumber(equal.clone(), next_revision(history))
    }
}

fn already_exists(e: &ApiError) -> bool {
    matches!(e, ApiError::Status(s) if s.code == 409 && s.reason == "AlreadyExists")
}

/// Creates `revision` (built by [`new_revision`] with `*collision_count`), handling
/// hash collisions as Kubernetes does: when its name is taken by a revision with the
/// same data, that one is returned; with other data, `*collision_count` goes up and
/// the name is computed again. The caller writes a changed count to its status.
pub async fn create_revision(
    api: &Api<ControllerRevision>,
    revision: &ControllerRevision,
    collision_count: &mut Option<i32>,
) -> Result<ControllerRevision, ApiError> {
    // Each collision needs another revision with the same name prefix; a handful of
    // attempts is plenty, and a bound keeps a misbehaving server from looping us.
    for _ in 0..16 {
        let hash = hash_revision(&revision.data, *collision_count);
        let mut attempt = revision.clone();
        let parent = revision_parent(revision);
        attempt.metadata.name = revision_name(&parent, &hash);
        attempt
            .metadata
            .labels
            .insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash);
        match api.create(&attempt).await {
            Ok(created) => return Ok(created),
            Err(e) if already_exists(&e) => {
                let existing = api.get(&attempt.metadata.name).await?;
                if existing.data == attempt.data {
                    return Ok(existing);
                }
                *collision_count = Some(collision_count.unwrap_or(0).saturating_add(1));
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Unreachable(format!(
        "no free name for a revision of {} after 16 hash collisions",
        revision_parent(revision)
    )))
}

/// The parent's name: from the controller reference, else the name before the hash.
fn revision_parent(r: &ControllerRevision) -> String {
    match r.metadata.controller_ref() {
        Some(c) => c.name.clone(),
        None => r
            .metadata
            .name
            .rsplit_once('-')
            .map_or(r.metadata.name.clone(), |(p, _)| p.to_owned()),
    }
}

/// Makes a revision equal to `desired` the newest of `history` ([`find_current`]):
/// returns it as stored, renumbered or created (with [`create_revision`]'s collision
/// handling).
pub async fn ensure_current(
    api: &Api<ControllerRevision>,
    history: &[Arc<ControllerRevision>],
    desired: &ControllerRevision,
    collision_count: &mut Option<i32>,
) -> Result<ControllerRevision, ApiError> {
    match find_current(history, desired) {
        Current::Existing(r) => Ok(r.as_ref().clone()),
        Current::Renumber(r, number) => {
            let mut updated = r.as_ref().clone();
            updated.revision = number;
            api.update(&updated).await
        }
        Current::Create => create_revision(api, desired, collision_count).await,
    }
}

/// The revisions to delete so that at most `limit` revisions besides the live ones
/// remain: the oldest of those `is_live` rejects (live: current, or run by a pod).
/// `history` is in history order.
pub fn to_truncate(
    history: &[Arc<ControllerRevision>],
    limit: i32,
    is_live: impl Fn(&ControllerRevision) -> bool,
) -> Vec<&Arc<ControllerRevision>> {
    let old: Vec<&Arc<ControllerRevision>> = history.iter().filter(|r| !is_live(r)).collect();
    let keep = usize::try_from(limit.max(0)).unwrap_or(0);
    let excess = old.len().saturating_sub(keep);
    old.into_iter().take(excess).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rudder_protocol::resources::{ReplicaSet, Time};

    use super::*;

    fn parent() -> ReplicaSet {
        let mut ds = ReplicaSet::new("web");
        ds.metadata.namespace = "default".into();
        ds.metadata.uid = "uid-web".into();
        ds
    }

    fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels = [("app".to_owned(), "web".to_owned())].into();
        t.spec.containers = vec![rudder_protocol::resources::Container {
            name: "c".into(),
            image: image.into(),
            ..Default::default()
        }];
        t
    }

    fn rev(image: &str, number: i64) -> Arc<ControllerRevision> {
        let t = template(image);
        let mut r = new_revision(
            &parent(),
            &t.metadata.labels,
            template_patch(&t),
            number,
            None,
        );
        r.metadata.creation_timestamp = Some(Time(number));
        Arc::new(r)
    }

    #[test]
    fn fnv1_matches_go() {
        // Go: fnv.New32() over "" and "a".
        assert_eq!(fnv32(b""), 0x811c_9dc5);
        assert_eq!(fnv32(b"a"), 0x050c_5d7e);
    }

    #[test]
    fn patch_shape_and_hash() {
        let t = template("demo:1");
        let patch = template_patch(&t);
        assert_eq!(patch.value()["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            patch.value()["spec"]["template"]["spec"]["containers"][0]["image"],
            "demo:1"
        );
        let table = [
            ("same data, same hash", "demo:1", None, true),
            ("other data", "demo:2", None, false),
            ("a collision count changes it", "demo:1", Some(1), false),
        ];
        let base = hash_revision(&patch, None);
        for (name, image, count, same) in table {
            let h = hash_revision(&template_patch(&template(image)), count);
            assert_eq!(h == base, same, "{name}");
            assert!(h.chars().all(|c| c.is_ascii_alphanumeric()), "{name}: {h}");
        }
        let r = rev("demo:1", 1);
        assert_eq!(r.metadata.name, format!("web-{base}"));
        assert_eq!(revision_hash(&r), base);
        assert_eq!(r.metadata.labels["app"], "web");
        assert_eq!(r.metadata.owner_references[0].kind, "ReplicaSet");
        assert_eq!(r.metadata.namespace, "default");
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "h").len(), MAX_PREFIX_LEN + 2);
    }

    #[test]
    fn ownership_order_and_numbers() {
        let mut foreign = rev("demo:9", 9).as_ref().clone();
        foreign.metadata.owner_references[0].uid = "other".into();
        let all = vec![rev("demo:3", 3), Arc::new(foreign), rev("demo:1", 1)];
        let mine = owned_revisions(&all, "uid-web");
        let numbers: Vec<i64> = mine.iter().map(|r| r.revision).collect();
        assert_eq!(numbers, [1, 3]);
        assert_eq!(next_revision(&mine), 4);
        assert_eq!(next_revision::<Arc<ControllerRevision>>(&[]), 1);
    }

    #[test]
    fn find_current_table() {
        let history = vec![rev("demo:1", 1), rev("demo:2", 2)];
        let table = [
            ("the newest is current", "demo:2", "existing 2"),
            ("back to an older template", "demo:1", "renumber 1 to 3"),
            ("a new template", "demo:3", "create"),
        ];
        for (name, image, want) in table {
            let desired = rev(image, next_revision(&history));
            let got = match find_current(&history, &desired) {
                Current::Existing(r) => format!("existing {}", r.revision),
                Current::Renumber(r, n) => format!("renumber {} to {n}", r.revision),
                Current::Create => "create".into(),
            };
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(find_current(&[], &rev("demo:1", 1)), Current::Create);
    }

    #[test]
    fn truncate_table() {
        let history: Vec<Arc<ControllerRevision>> =
            (1..=5).map(|n| rev(&format!("demo:{n}"), n)).collect();
        // (name, limit, live revision numbers, deleted revision numbers)
        let table: &[(&str, i32, &[i64], &[i64])] = &[
            ("under the limit", 10, &[5], &[]),
            ("the oldest go first", 2, &[5], &[1, 2]),
            (
                "live revisions are kept and not counted",
                1,
                &[5, 1],
                &[2, 3],
            ),
            ("limit zero keeps only live ones", 0, &[5, 3], &[1, 2, 4]),
            ("negative limit reads as zero", -1, &[5], &[1, 2, 3, 4]),
        ];
        for (name, limit, live, want) in table {
            let got: Vec<i64> = to_truncate(&history, *limit, |r| live.contains(&r.revision))
                .iter()
                .map(|r| r.revision)
                .collect();
            assert_eq!(got, *want, "{name}");
        }
    }
}
