//! `metadata.managedFields`: who owns which fields of an object, and how a write
//! changes that (Kubernetes' field manager).
//!
//! An entry is identified by its manager, operation (`Apply` or `Update`), subresource
//! and, for `Update`, API version: one manager may hold an `Apply` entry and `Update`
//! entries side by side. The rules kept here:
//!
//! - An update (create, PUT, non-apply PATCH) by manager M gives M the fields it added
//!   or changed and takes them from every other entry; fields it removed leave every
//!   entry. M's entry gets a new time only when it took something.
//! - An apply by M merges M's configuration into the object, removes the fields M
//!   applied last time and no longer applies (unless another entry owns them), and then
//!   owns exactly the fields of its configuration. A field it changes that another entry
//!   owns is a conflict (409) unless it forces, which takes the field away from the
//!   other entry. Applying the same value as another owner shares the field.
//! - The fields the server owns (`apiVersion`, `kind`, the identity metadata) are never
//!   owned; writes through `/status` own only the status, writes of the resource
//!   everything but the status when the kind has a status subresource.
//! - Entries a client sends with a non-apply write are kept when they are valid and
//!   not empty (as Kubernetes does, so a client that round-trips them changes nothing);
//!   a single empty entry (`[{}]`) clears them; anything else is ignored. Writes through
//!   a subresource always start from the stored entries.
//!
//! Not done (yet): Kubernetes' cap of ten `Update` entries (older ones merged into
//! `ancient-changes`), and the `before-first-apply` entry for objects written before
//! managed fields were recorded.

use std::collections::BTreeMap;

use rudder_protocol::resources::{Status, StatusCause, StatusDetails, Time};
use serde_json::{json, Map, Value};

use super::fieldset::{f, path_string, FieldSet, Path};
use super::typed::{self, Comparison, Shape};

/// `Apply` or `Update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// A server-side apply.
    Apply,
    /// Any other write.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The manager's name.
    pub manager: String,
    /// How it wrote.
    pub operation: Operation,
    /// The API version it wrote with.
    pub api_version: String,
    /// When it last took a field (RFC 3339), if known.
    pub time: Option<String>,
    /// The subresource it wrote through (`status`), or empty.
    pub subresource: String,
    /// The fields it owns.
    pub fields: FieldSet,
}

impl Entry {
    /// Whether this entry is the one `who` writes to.
    fn is(&self, who: &Writer) -> bool {
        self.manager == who.manager
            && self.operation == who.operation
            && self.subresource == who.subresource
            && (self.operation == Operation::Apply || self.api_version == who.api_version)
    }

    /// How Kubernetes names the entry in a conflict: `"m"`, `"m" with subresource
    /// "status"`, and for updates `... using apps/v1`.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Result<Entry, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        let operation = match s("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => return Err(format!("invalid operation {other:?}")),
        };
        if s("fieldsType") != "FieldsV1" {
            return Err(format!("invalid fieldsType {:?}", s("fieldsType")));
        }
        let fields = FieldSet::from_fields_v1(v.get("fieldsV1").unwrap_or(&Value::Null))?;
        Ok(Entry {
            manager: s("manager").to_owned(),
            operation,
            api_version: s("apiVersion").to_owned(),
            time: v.get("time").and_then(Value::as_str).map(str::to_owned),
            subresource: s("subresource").to_owned(),
            fields,
        })
    }
}

/// The entries of an object (empty when it has none or they are unreadable).
pub fn entries_of(obj: &Value) -> Vec<Entry> {
    decode(obj.pointer("/metadata/managedFields")).unwrap_or_default()
}

fn decode(v: Option<&Value>) -> Result<Vec<Entry>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Entry::from_json).collect(),
        Some(_) => Err("managedFields must be a list".into()),
    }
}

/// Sets the object's `metadata.managedFields` to `entries` in Kubernetes' order
/// (`Apply` first, then by time, manager, version, subresource); none removes it.
pub fn set_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::to_json).collect()),
        );
    }
}

/// Who writes, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: Operation,
    /// The API version of the request (`apps/v1`).
    pub api_version: String,
    /// The subresource written through (`status`, `scale`), or empty.
    pub subresource: String,
}

impl Writer {
    fn entry(&self, fields: FieldSet) -> Entry {
        Entry {
            manager: self.manager.clone(),
            operation: self.operation,
            api_version: self.api_version.clone(),
            time: Some(now()),
            subresource: self.subresource.clone(),
            fields,
        }
    }

    /// Keeps of `set` only what this writer may own (see the module docs).
    fn ownable(&self, set: FieldSet, has_status: bool) -> FieldSet {
        let mut set = set;
        for field in ["apiVersion", "kind"] {
            set.remove_tree(&[f(field)]);
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "selfLink",
            "managedFields",
            "clusterName",
        ] {
            set.remove_tree(&[f("metadata"), f(field)]);
        }
        set.unmark(&[f("metadata")]);
        match self.subresource.as_str() {
            "status" => set.only_under(&f("status")),
            _ if has_status => {
                set.remove_tree(&[f("status")]);
                set
            }
            _ => set,
        }
    }
}

fn now() -> String {
    Time::now().to_string()
}

/// The entries an update starts from: the ones the client sent if they are valid and
/// not empty (never through a subresource), else the stored ones; `None` when the
/// client cleared them (`[{}]`).
pub fn starting_entries(
    stored: Option<&Value>,
    sent: Option<&Value>,
    subresource: &str,
) -> Option<Vec<Entry>> {
    let stored_entries = || stored.map(entries_of).unwrap_or_default();
    if !subresource.is_empty() {
        return Some(stored_entries());
    }
    match sent {
        Some(Value::Array(items)) if items.len() == 1 && items[0] == json!({}) => None,
        Some(v) => match decode(Some(v)) {
            Ok(entries) if !entries.is_empty() => Some(entries),
            _ => Some(stored_entries()),
        },
        None => Some(stored_entries()),
    }
}

/// Records an update by `who` from `old` (`None` for a create) to `new`: the entries
/// after it, starting from `entries`.
pub fn update(
    shape: Shape,
    has_status: bool,
    entries: Vec<Entry>,
    old: Option<&Value>,
    new: &Value,
    who: &Writer,
) -> Vec<Entry> {
    let cmp = typed::compare(shape, old, Some(new));
    record(entries, &cmp, has_status, who)
}

fn record(entries: Vec<Entry>, cmp: &Comparison, has_status: bool, who: &Writer) -> Vec<Entry> {
    let changed = who.ownable(cmp.changed(), has_status);
    let removed = &cmp.removed;
    let mut out: Vec<Entry> = entries
        .into_iter()
        .map(|mut e| {
            e.fields = e.fields.difference(removed);
            if !e.is(who) {
                e.fields = e.fields.difference(&changed);
            }
            e
        })
        .collect();
    if !changed.is_empty() {
        match out.iter_mut().find(|e| e.is(who)) {
            Some(mine) => {
                mine.fields.union_in_place(&changed);
                mine.time = Some(now());
            }
            None => out.push(who.entry(changed)),
        }
    }
    out.retain(|e| !e.fields.is_empty());
    out
}

/// A field another manager owns that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owner, as Kubernetes describes it (`"m" using apps/v1`).
    pub owner: String,
    /// The field.
    pub path: Path,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// Fields other managers own (409 unless forced).
    Conflicts(Vec<Conflict>),
    /// A configuration that cannot be merged (422).
    Invalid(String),
}

/// An apply by `who` of `config` to `live` (`None`: the object does not exist): the
/// object and entries after it.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    shape: Shape,
    has_status: bool,
    entries: Vec<Entry>,
    live: Option<&Value>,
    config: &Value,
    who: &Writer,
    force: bool,
) -> Result<(Value, Vec<Entry>), ApplyError> {
    let applied = who.ownable(typed::field_set(shape, config), has_status);
    let mut merged = typed::merge(shape, live, config).map_err(|e| ApplyError::Invalid(e.0))?;
    let (mine, others): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| e.is(who));
    let last = mine.first().map(|e| e.fields.clone()).unwrap_or_default();
    let mut kept = applied.clone();
    for e in &others {
        kept.union_in_place(&e.fields);
    }
    let dropped = prunable(&last.difference(&applied), &kept);
    typed::remove(shape, &mut merged, &dropped);
    let cmp = typed::compare(shape, live, Some(&merged));
    let changed = cmp.changed();
    let mut conflicts = Vec::new();
    for e in &others {
        for path in e.fields.intersection(&changed).paths() {
            conflicts.push(Conflict {
                owner: e.describe(),
                path,
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.owner, &a.path).cmp(&(&b.owner, &b.path)));
        return Err(ApplyError::Conflicts(conflicts));
    }
    let mut out: Vec<Entry> = others
        .into_iter()
        .map(|mut e| {
            e.fields = e.fields.difference(&changed).difference(&cmp.removed);
            e
        })
        .collect();
    let time = match mine.into_iter().next() {
        Some(previous) if cmp.is_same() => previous.time,
        _ => Some(now()),
    };
    out.push(Entry {
        time,
        ..who.entry(applied)
    });
    out.retain(|e| !e.fields.is_empty());
    Ok((merged, out))
}

/// The members of `dropped` that may be removed from the object: those no kept path is
/// at or under (a kept field keeps its parents).
fn prunable(dropped: &FieldSet, kept: &FieldSet) -> FieldSet {
    let mut out = FieldSet::new();
    walk_prunable(dropped, Some(kept), &mut Vec::new(), &mut out);
    out
}

fn walk_prunable(dropped: &FieldSet, kept: Option<&FieldSet>, path: &mut Path, out: &mut FieldSet) {
    if dropped.is_member() && kept.is_none_or(FieldSet::is_empty) && !path.is_empty() {
        out.insert(path);
        return;
    }
    for (pe, sub) in dropped.children() {
        path.push(pe.clone());
        walk_prunable(sub, kept.and_then(|k| k.child(pe)), path, out);
        path.pop();
    }
}

/// The 409 of an apply that conflicts, worded as Kubernetes words it (kubectl shows the
/// message: `Apply failed with 2 conflicts: conflicts with "a" using apps/v1: ...`).
pub fn conflict_status(conflicts: &[Conflict]) -> Status {
    let causes = conflicts
        .iter()
        .map(|c| StatusCause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", c.owner),
            field: path_string(&c.path),
        })
        .collect();
    let message = match conflicts {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.owner,
            path_string(&one.path)
        ),
        many => {
            let mut by_owner: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for c in many {
                by_owner
                    .entry(c.owner.as_str())
                    .or_default()
                    .push(path_string(&c.path));
            }
            let lines: Vec<String> = by_owner
                .iter()
                .flat_map(|(owner, paths)| {
                    std::iter::once(format!("conflicts with {owner}:"))
                        .chain(paths.iter().map(|p| format!("- {p}")))
                })
                .collect();
            format!(
                "Apply failed with {} conflicts: {}",
                many.len(),
                lines.join("\n")
            )
        }
    };
    let mut s = Status::failure(409, "Conflict", message);
    s.details = Some(StatusDetails {
        causes,
        ..StatusDetails::default()
    });
    s
}

/// The field manager of a write without a `fieldManager`: the User-Agent up to its first
/// `/`, printable characters only, at most 128 bytes (Kubernetes' rule: kubectl's
/// `kubectl/v1.32.0 (linux/amd64) ...` gives `kubectl`).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let mut out = String::new();
    for c in user_agent.split('/').next().unwrap_or_default().chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_MANAGER_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// The longest field manager name Kubernetes accepts.
pub const MAX_MANAGER_LEN: usize = 128;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::fieldset::{set_of, PathElement};
    use super::*;

    fn writer(manager: &str, operation: Operation) -> Writer {
        Writer {
            manager: manager.into(),
            operation,
            api_version: "apps/v1".into(),
            subresource: String::new(),
        }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}
        })
    }

    fn owned(entries: &[Entry], manager: &str) -> Vec<String> {
        entries
            .iter()
            .filter(|e| e.manager == manager)
            .flat_map(|e| e.fields.paths())
            .map(|p| path_string(&p))
            .collect()
    }

    #[test]
    fn updates_take_what_they_change() {
        let shape = Shape::of_kind("Deployment");
        let created = deployment(1, "i1");
        let es = update(
            shape,
            true,
            Vec::new(),
            None,
            &created,
            &writer("kubectl-create", Operation::Update),
        );
        assert_eq!(
            owned(&es, "kubectl-create"),
            vec![
                ".spec.replicas",
                ".spec.template.spec.containers[name=\"c\"]",
                ".spec.template.spec.containers[name=\"c\"].image",
                ".spec.template.spec.containers[name=\"c\"].name",
            ]
        );
        let scaled = deployment(3, "i1");
        let es = update(
            shape,
            true,
            es,
            Some(&created),
            &scaled,
            &writer("scaler", Operation::Update),
        );
        assert_eq!(owned(&es, "scaler"), vec![".spec.replicas"]);
        assert!(!owned(&es, "kubectl-create").contains(&".spec.replicas".to_owned()));
        // An update that changes nothing leaves the entries as they are.
        let again = update(
            shape,
            true,
            es.clone(),
            Some(&scaled),
            &scaled,
            &writer("other", Operation::Update),
        );
        assert_eq!(again, es);
    }

    #[test]
    fn applies_conflict_force_and_prune() {
        let shape = Shape::of_kind("Deployment");
        let a = writer("a", Operation::Apply);
        let b = writer("b", Operation::Apply);
        let (obj, es) = apply(
            shape,
            true,
            Vec::new(),
            None,
            &deployment(1, "i1"),
            &a,
            false,
        )
        .unwrap();
        // Same values: shared, no conflict.
        let (obj, es) = apply(
            shape,
            true,
            es,
            Some(&obj),
            &json!({"spec": {"replicas": 1}}),
            &b,
            false,
        )
        .unwrap();
        assert_eq!(owned(&es, "b"), vec![".spec.replicas"]);
        assert!(owned(&es, "a").contains(&".spec.replicas".to_owned()));
        // A different value: a conflict naming a's field.
        let cfg = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i2"}]}}}});
        let err = apply(shape, true, es.clone(), Some(&obj), &cfg, &b, false).unwrap_err();
        let ApplyError::Conflicts(cs) = err else {
            panic!("{err:?}")
        };
        let named: Vec<String> = cs
            .iter()
            .map(|c| format!("{} {}", c.owner, path_string(&c.path)))
            .collect();
        assert_eq!(
            named,
            vec![
                "\"a\" .spec.replicas",
                "\"a\" .spec.template.spec.containers[name=\"c\"].image",
            ]
        );
        let status = conflict_status(&cs);
        assert_eq!(status.code, 409);
        assert_eq!(
            status.message,
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"c\"].image"
        );
        // Forced: b takes them.
        let (obj, es) = apply(shape, true, es, Some(&obj), &cfg, &b, true).unwrap();
        assert_eq!(obj["spec"]["replicas"], 2);
        assert!(!owned(&es, "a").contains(&".spec.replicas".to_owned()));
        // a stops applying the image (b owns it: it stays) and replicas (b owns it).
        let (obj2, es) = apply(
            shape,
            true,
            es,
            Some(&obj),
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}),
            &a,
            false,
        )
        .unwrap();
        assert_eq!(
            obj2["spec"]["template"]["spec"]["containers"][0]["image"],
            "i2"
        );
        assert_eq!(obj2["spec"]["replicas"], 2);
        // b stops applying replicas: nobody else owns it, so it goes.
        let (obj3, es) = apply(shape, true, es, Some(&obj2), &json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i2"}]}}}}), &b, false).unwrap();
        assert!(obj3["spec"].get("replicas").is_none(), "{obj3}");
        assert!(!owned(&es, "b").contains(&".spec.replicas".to_owned()));
        // Re-applying the same configuration changes nothing, time included.
        let (obj4, es2) = apply(shape, true, es.clone(), Some(&obj3), &json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i2"}]}}}}), &b, false).unwrap();
        assert_eq!(obj4, obj3);
        let sorted = |mut v: Vec<Entry>| {
            v.sort_by(|x, y| x.manager.cmp(&y.manager));
            v
        };
        assert_eq!(sorted(es2), sorted(es));
    }

    #[test]
    fn entries_round_trip_and_sent_ones_are_checked() {
        let mut obj = deployment(1, "i");
        let es = update(
            Shape::of_kind("Deployment"),
            true,
            Vec::new(),
            None,
            &obj.clone(),
            &writer("m", Operation::Update),
        );
        set_entries(&mut obj, es.clone());
        assert_eq!(entries_of(&obj), es);
        let stored = obj.pointer("/metadata/managedFields").cloned();
        let cases = [
            ("none sent", None, "", Some(es.clone())),
            ("reset", Some(json!([{}])), "", None),
            (
                "empty list is ignored",
                Some(json!([])),
                "",
                Some(es.clone()),
            ),
            (
                "invalid is ignored",
                Some(json!([{"manager": "x", "operation": "Nope"}])),
                "",
                Some(es.clone()),
            ),
            (
                "valid is kept",
                Some(
                    json!([{"manager": "x", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]),
                ),
                "",
                Some(vec![Entry {
                    manager: "x".into(),
                    operation: Operation::Update,
                    api_version: "apps/v1".into(),
                    time: None,
                    subresource: String::new(),
                    fields: set_of(&[&[f("spec"), f("replicas")]]),
                }]),
            ),
            (
                "subresource keeps stored",
                Some(json!([{}])),
                "status",
                Some(es.clone()),
            ),
        ];
        for (case, sent, sub, want) in cases {
            assert_eq!(
                starting_entries(Some(&obj), sent.as_ref(), sub),
                want,
                "{case}"
            );
        }
        let _ = stored;
    }

    #[test]
    fn status_writers_own_only_the_status() {
        let w = Writer {
            subresource: "status".into(),
            ..writer("kubelet", Operation::Update)
        };
        let set = set_of(&[
            &[f("status"), f("phase")],
            &[f("spec"), f("x")],
            &[f("metadata"), f("labels"), f("a")],
        ]);
        assert_eq!(
            w.ownable(set.clone(), true),
            set_of(&[&[f("status"), f("phase")]])
        );
        let main = writer("m", Operation::Update);
        assert_eq!(
            main.ownable(
                set.union(&set_of(&[
                    &[f("metadata")],
                    &[f("metadata"), f("name")],
                    &[f("kind")]
                ])),
                true
            ),
            set_of(&[&[f("spec"), f("x")], &[f("metadata"), f("labels"), f("a")]])
        );
        let _ = PathElement::Index(0);
    }

    #[test]
    fn managers_from_user_agents() {
        let cases = [
            ("kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "kubectl"),
            ("OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
            ("", ""),
            ("a\u{7}b", "ab"),
        ];
        for (ua, want) in cases {
            assert_eq!(manager_from_user_agent(ua), want, "{ua:?}");
        }
        assert_eq!(
            manager_from_user_agent(&"x".repeat(300)).len(),
            MAX_MANAGER_LEN
        );
    }
}
