//! The resources CRDs define, served next to the static table: one entry per served
//! version of every stored CRD, rebuilt by [`sync`] from the API server's watch cache of
//! CRDs, and the [`CustomKind`] that serves each (the strategy of a custom resource:
//! pruning, defaulting and validation from its version's schema, its printer columns
//! and selectable fields).
//!
//! Lookups hand out `&'static` entries so that custom resources pass through the same
//! code as the static table ([`ResourceInfo`] has `&'static` fields). An entry is
//! therefore leaked once per distinct definition of a CRD (its spec and accepted names);
//! a CRD rewritten with the same definition reuses its entry, so the memory grows with
//! the number of CRD changes, not with requests.
//!
//! Rules kept: a static resource always wins over a custom one (a CRD cannot shadow a
//! built-in resource: its group cannot be a built-in group); within the custom set, the
//! first CRD (by name) wins for a kind name looked up without its group.

use std::sync::{Arc, RwLock};

use rudder_protocol::registry::{self as table, ResourceInfo, Subresource, RESOURCES};
use rudder_protocol::resources::{ObjectMeta, Status, StatusCause, StatusDetails, Time};
use serde_json::{json, Value};

use super::schema;
use crate::apiserver::core::ApiResult;
use crate::apiserver::kinds::{Admission, Deletion, KindOps};
use crate::apiserver::table::{col, human_duration, Column, Row, NAME};
use crate::apiserver::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule,
};

/// Verbs of a status or scale subresource.
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn leak_all(v: &[String]) -> &'static [&'static str] {
    Box::leak(
        v.iter()
            .map(|s| leak(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// One printer column of a custom resource: where its value is and how it prints.
#[derive(Debug, Clone)]
struct PrinterColumn {
    /// The path segments of its `jsonPath` (`.spec.replicas` → `spec`, `replicas`).
    path: Vec<Segment>,
    /// `integer`, `number`, `string`, `boolean` or `date`.
    ty: String,
}

/// One step of a simple JSONPath: a field or a list index.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `.name`
    Field(String),
    /// `[0]`
    Index(usize),
}

/// The segments of a simple JSONPath (`.spec.x`, `.status.conditions[0].type`,
/// `{.spec.x}`); `None` for anything else (filters, wildcards, unions).
pub fn parse_json_path(path: &str) -> Option<Vec<Segment>> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('.')?;
    let mut out = Vec::new();
    for part in p.split('.') {
        let (field, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if field.is_empty()
            || !field
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        out.push(Segment::Field(field.to_owned()));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index = rest.get(1..close)?.parse().ok()?;
            out.push(Segment::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

fn lookup<'a>(obj: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, s| match s {
        Segment::Field(f) => v.get(f.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

/// The strategy of one served version of a custom resource.
pub struct CustomKind {
    /// The resource entry (leaked with the kind: see the module docs).
    info: &'static ResourceInfo,
    /// The CRD's name (`widgets.example.com`).
    crd: String,
    /// The version's `openAPIV3Schema`.
    schema: Value,
    /// Its CEL validation rules, compiled.
    rules: super::cel::Rules,
    columns: &'static [Column],
    printer: Vec<PrinterColumn>,
    /// Whether the CRD is being deleted (creates are refused while its objects go).
    terminating: bool,
    /// The apiVersion of the CRD's storage version (`group/version`): objects are
    /// stored as it, whichever version they are written at.
    storage: &'static str,
    /// Whether the CRD defines more than one version (objects may then be read at
    /// another version than they are stored as).
    versioned: bool,
}

impl CustomKind {
    /// The name of the CRD that defines this resource.
    pub fn crd(&self) -> &str {
        &self.crd
    }

    /// The version's `openAPIV3Schema`.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The fields of `obj` its schema does not know (`fieldValidation`).
    pub fn unknown_fields(&self, obj: &Value) -> Vec<String> {
        schema::unknown_fields(&self.schema, obj)
    }

    /// `Widget.example.com`, as Kubernetes names the kind in messages.
    fn qualified(&self) -> String {
        format!("{}.{}", self.info.kind, self.info.group)
    }

    fn invalid(&self, name: &str, causes: Vec<FieldCause>) -> Box<Status> {
        let causes: Vec<StatusCause> = causes.into_iter().map(StatusCause::from).collect();
        let describe = |c: &StatusCause| format!("{}: {}", c.field, c.message);
        let summary = crate::apiserver::validation::aggregate(
            &causes.iter().map(describe).collect::<Vec<_>>(),
        );
        let mut s = Status::failure(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {summary}", self.qualified()),
        );
        s.details = Some(StatusDetails {
            name: name.to_owned(),
            group: self.info.group.to_owned(),
            kind: self.info.kind.to_owned(),
            causes,
            ..StatusDetails::default()
        });
        Box::new(s)
    }

    fn checked(&self, mut obj: Value, old: Option<&Value>, create: bool) -> ApiResult<Value> {
        schema::prune(&self.schema, &mut obj, true);
        if create && self.info.subresource("status").is_some() {
            // As Kubernetes: with a status subresource, a create sets no status.
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        schema::apply_defaults(&self.schema, &mut obj);
        let meta: ObjectMeta =
            serde_json::from_value(obj.get("metadata").cloned().unwrap_or_default())
                .unwrap_or_default();
        let mut causes = validate_object_meta(&meta, NameRule::Dns1123Subdomain);
        if let Some(old) = old {
            let old_meta: ObjectMeta =
                serde_json::from_value(old.get("metadata").cloned().unwrap_or_default())
                    .unwrap_or_default();
            causes.extend(validate_object_meta_update(&meta, &old_meta));
        }
        let mut body = obj.clone();
        if let Some(m) = body.as_object_mut() {
            for f in ["apiVersion", "kind", "metadata"] {
                m.remove(f);
            }
        }
        schema::validate(&self.schema, &body, &FieldPath::new(""), &mut causes);
        // CEL rules see what the schema let through (Kubernetes evaluates them only on
        // an object that is otherwise valid), metadata reduced to its names.
        if causes.is_empty() && !self.rules.is_empty() {
            let cel_view = |o: &Value| {
                let mut v = o.clone();
                if let Some(m) = v.as_object_mut() {
                    let meta = m.get("metadata").map(|md| {
                        let mut names = serde_json::Map::new();
                        for f in ["name", "generateName"] {
                            if let Some(x) = md.get(f) {
                                names.insert(f.to_owned(), x.clone());
                            }
                        }
                        Value::Object(names)
                    });
                    if let Some(meta) = meta {
                        m.insert("metadata".into(), meta);
                    }
                }
                v
            };
            let old_view = old.map(cel_view);
            self.rules.validate(
                &self.schema,
                &cel_view(&obj),
                old_view.as_ref(),
                &mut causes,
            );
        }
        if !causes.is_empty() {
            return Err(self.invalid(&meta.name, causes));
        }
        Ok(obj)
    }
}

impl KindOps for CustomKind {
    fn info(&self) -> &'static ResourceInfo {
        self.info
    }

    fn typed(&self, obj: Value, old: Option<&Value>) -> ApiResult<Value> {
        self.checked(obj, old, false)
    }

    fn admit(&self, obj: Value, _admission: &Admission) -> ApiResult<Value> {
        if self.terminating {
            return Err(Box::new(Status::failure(
                405,
                "MethodNotAllowed",
                "create not allowed while custom resource definition is terminating",
            )));
        }
        self.checked(obj, None, true)
    }

    fn prepare_update(&self, _new: &mut Value, _old: &Value) {}

    fn deletion(&self, _old: &Value, _grace: i64) -> Deletion {
        Deletion::Immediate
    }

    fn mark_terminating(&self, _obj: &mut Value) {}

    fn finalizers_pending(&self, _obj: &Value) -> bool {
        false
    }

    fn claims_addresses(&self) -> bool {
        false
    }

    fn admission_plugins(&self) -> &'static [crate::apiserver::admission::Plugin] {
        &[]
    }

    fn field_labels(&self) -> Vec<&'static str> {
        if self.info.namespaced {
            vec!["metadata.name", "metadata.namespace"]
        } else {
            vec!["metadata.name"]
        }
    }

    fn fields(&self, obj: &Value) -> std::collections::BTreeMap<String, String> {
        self.field_labels()
            .into_iter()
            .map(|l| {
                let key = l.trim_start_matches("metadata.");
                let v = obj
                    .pointer(&format!("/metadata/{key}"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (l.to_owned(), v.to_owned())
            })
            .collect()
    }

    fn columns(&self) -> &'static [Column] {
        self.columns
    }

    fn row(&self, obj: &Value, now: Time) -> Row {
        let mut cells = vec![obj.pointer("/metadata/name").cloned().unwrap_or_default()];
        for c in &self.printer {
            let v = lookup(obj, &c.path);
            cells.push(match (c.ty.as_str(), v) {
                (_, None | Some(Value::Null)) => Value::Null,
                ("date", Some(v)) => match serde_json::from_value::<Time>(v.clone()) {
                    Ok(t) => json!(human_duration(now.0.saturating_sub(t.0))),
                    Err(_) => v.clone(),
                },
                ("string", Some(Value::String(s))) => json!(s),
                ("string", Some(v)) => json!(v.to_string()),
                (_, Some(v)) => v.clone(),
            });
        }
        Row::new(cells)
    }

    fn example(&self, name: &str, namespace: &str) -> Value {
        let mut v = json!({
            "apiVersion": self.info.api_version(),
            "kind": self.info.kind,
            "metadata": {"name": name},
        });
        if self.info.namespaced {
            v["metadata"]["namespace"] = json!(namespace);
        }
        v
    }
}

/// One CRD's served versions, as last built.
struct Served {
    crd: String,
    /// What the entries were built from (spec and accepted names).
    source: Value,
    kinds: Vec<&'static CustomKind>,
}

static SERVED: RwLock<Vec<Arc<Served>>> = RwLock::new(Vec::new());

fn served() -> Vec<Arc<Served>> {
    SERVED.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Every custom kind served now, CRDs in name order, versions in the CRD's order.
pub fn custom_kinds() -> Vec<&'static CustomKind> {
    served()
        .iter()
        .flat_map(|s| s.kinds.iter().copied())
        .collect()
}

/// The resource at `(group, version, plural)`: the static table (and the second versions
/// of its kinds), the CRD resource itself, then the custom resources.
pub fn resource(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    table::resource(group, version, plural)
        .or_else(|| table::other_version(group, version, plural))
        .or_else(|| {
            let c = &super::CRD_INFO;
            (c.group == group && c.version == version && c.plural == plural).then_some(c)
        })
        .or_else(|| custom(group, version, plural).map(|k| k.info))
}

/// The custom kind at `(group, version, plural)`.
pub fn custom(group: &str, version: &str, plural: &str) -> Option<&'static CustomKind> {
    custom_kinds()
        .into_iter()
        .find(|k| k.info.group == group && k.info.version == version && k.info.plural == plural)
}

/// The custom kind serving `info`, if it is a custom resource.
pub fn custom_for(info: &ResourceInfo) -> Option<&'static CustomKind> {
    if is_builtin_group(info.group) {
        return None;
    }
    custom(info.group, info.version, info.plural)
}

/// The apiVersion objects of `info` are stored as: a CRD's storage version for a
/// custom resource (Kubernetes' conversion `None` changes only the apiVersion), the
/// stored version for the second version of a built-in kind, the resource's own
/// otherwise.
pub fn stored_api_version(info: &ResourceInfo) -> String {
    match custom_for(info) {
        Some(kind) => kind.storage.to_owned(),
        None => table::storage_of(info).api_version(),
    }
}

/// Whether objects of `info` may be stored as another version than `info`'s (see
/// [`serve_as_version`]); decided once per request or watch.
pub fn converts(info: &ResourceInfo) -> bool {
    custom_for(info).is_some_and(|k| k.versioned)
}

/// Conversion `None` on the way out, for a resource [`converts`] said yes to: an object
/// of a CRD with several versions, read or written at `info`'s version, is answered as
/// that version (the apiVersion is all that differs). Other objects are left as they
/// are.
pub fn serve_as_version(info: &ResourceInfo, obj: &mut Value) {
    let ours = obj.get("kind").and_then(Value::as_str) == Some(info.kind)
        && obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.split_once('/'))
            .is_some_and(|(group, _)| group == info.group);
    if ours {
        obj["apiVersion"] = json!(info.api_version());
    }
}

/// The first custom kind named `kind` (any group).
pub fn custom_for_kind(kind: &str) -> Option<&'static CustomKind> {
    custom_kinds().into_iter().find(|k| k.info.kind == kind)
}

/// Whether a group is one of the static table's (or the CRDs' own group).
pub fn is_builtin_group(group: &str) -> bool {
    group == super::CRD_INFO.group || RESOURCES.iter().any(|r| r.group == group)
}

/// Every served resource: the static table, the CRD resource, the custom resources.
pub fn all_resources() -> Vec<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .chain(std::iter::once(&super::CRD_INFO))
        .chain(custom_kinds().into_iter().map(|k| k.info))
        .collect()
}

/// The resources of one group-version, in [`all_resources`] order, then the second
/// versions of built-in kinds ([`table::OTHER_VERSIONS`]).
pub fn resources_in(group: &str, version: &str) -> Vec<&'static ResourceInfo> {
    all_resources()
        .into_iter()
        .chain(table::OTHER_VERSIONS)
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

/// Every served group-version, static ones first; the versions of a custom group in
/// Kubernetes' version priority (the preferred first).
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    // The static table's first (with the second versions of its kinds).
    let mut out: Vec<(&'static str, &'static str)> = table::GROUP_VERSIONS.clone();
    for r in all_resources() {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    let first_custom = out
        .iter()
        .position(|(g, _)| !is_builtin_group(g))
        .unwrap_or(out.len());
    out[first_custom..].sort_by(|a, b| {
        a.0.cmp(b.0)
            .then_with(|| version_priority(b.1).cmp(&version_priority(a.1)))
    });
    out
}

/// Kubernetes' version priority: GA above beta above alpha, higher numbers first;
/// versions of other shapes last, by name.
fn version_priority(v: &str) -> (u8, u64, u64, std::cmp::Reverse<String>) {
    let parse = || -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (prefix, level) in [("beta", 2), ("alpha", 1)] {
            if let Some(n) = tail.strip_prefix(prefix) {
                return Some((level, major, n.parse().ok()?));
            }
        }
        None
    };
    match parse() {
        Some((level, major, minor)) => (level, major, minor, std::cmp::Reverse(String::new())),
        None => (0, 0, 0, std::cmp::Reverse(v.to_owned())),
    }
}

/// Builds the served versions of one CRD object (already validated and defaulted), or
/// nothing when it serves none.
fn build(crd: &Value) -> Vec<&'static CustomKind> {
    let spec = &crd["spec"];
    // Only an established CRD is served, under its accepted names: one whose names
    // conflicted with another's from the start serves nothing.
    let names = match crd.pointer("/status/acceptedNames") {
        Some(n) if super::condition_true(crd, "Established") => n,
        _ => return Vec::new(),
    };
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let group = leak(&s(&spec["group"]));
    let plural = leak(&s(&names["plural"]));
    let kind = leak(&s(&names["kind"]));
    let singular = leak(&s(&names["singular"]));
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let short_names = leak_all(&strings(&names["shortNames"]));
    let categories = leak_all(&strings(&names["categories"]));
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let crd_name = s(&crd["metadata"]["name"]);
    let terminating = crd.pointer("/metadata/deletionTimestamp").is_some();
    let versions = spec["versions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let storage = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .or(versions.first())
        .map(|v| s(&v["name"]))
        .unwrap_or_default();
    let storage: &'static str = leak(&format!("{group}/{storage}"));
    let versioned = versions.len() > 1;
    let mut out = Vec::new();
    for v in versions {
        if v["served"].as_bool() != Some(true) {
            continue;
        }
        let version = leak(&s(&v["name"]));
        let mut subs = Vec::new();
        if v.pointer("/subresources/scale").is_some() {
            subs.push(Subresource {
                name: "scale",
                group: "autoscaling",
                version: "v1",
                kind: "Scale",
                verbs: GET_PATCH_UPDATE,
            });
        }
        if v.pointer("/subresources/status").is_some() {
            subs.push(Subresource {
                name: "status",
                group,
                version,
                kind,
                verbs: GET_PATCH_UPDATE,
            });
        }
        let mut columns = vec![NAME];
        let mut printer = Vec::new();
        let declared = v["additionalPrinterColumns"].as_array().cloned();
        let declared = declared.unwrap_or_else(|| {
            vec![json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})]
        });
        for c in declared {
            let Some(path) = c["jsonPath"].as_str().and_then(parse_json_path) else {
                continue;
            };
            let ty = s(&c["type"]);
            let mut column = col(leak(&s(&c["name"])), leak(&ty), leak(&s(&c["description"])));
            if c["priority"].as_i64().unwrap_or(0) > 0 {
                column = column.wide();
            }
            columns.push(column);
            printer.push(PrinterColumn { path, ty });
        }
        let info = ResourceInfo {
            group,
            version,
            kind,
            plural,
            singular,
            namespaced,
            verbs: table::ALL_VERBS,
            short_names,
            categories,
            subresources: Box::leak(subs.into_boxed_slice()),
            schema: leak(&format!("{group}.{version}.{kind}")),
        };
        let schema = v
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or_else(schema::open_schema);
        out.push(&*Box::leak(Box::new(CustomKind {
            info: Box::leak(Box::new(info)),
            crd: crd_name.clone(),
            rules: super::cel::Rules::compile(&schema),
            schema,
            columns: Box::leak(columns.into_boxed_slice()),
            printer,
            terminating,
            storage,
            versioned,
        })));
    }
    out
}

/// Makes the served custom resources those of `crds` (every CRD object the watch cache
/// holds). Unchanged definitions keep their entries.
pub fn sync<'a>(crds: impl Iterator<Item = &'a Value>) {
    let old = served();
    let mut next: Vec<Arc<Served>> = Vec::new();
    for crd in crds {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let source = json!({
            "spec": crd.get("spec"),
            "names": crd.pointer("/status/acceptedNames"),
            "terminating": crd.pointer("/metadata/deletionTimestamp").is_some(),
            "conditions": crd.pointer("/status/conditions"),
        });
        if let Some(same) = old.iter().find(|s| s.crd == name && s.source == source) {
            next.push(same.clone());
            continue;
        }
        next.push(Arc::new(Served {
            crd: name,
            source,
            kinds: build(crd),
        }));
    }
    next.sort_by(|a, b| a.crd.cmp(&b.crd));
    *SERVED.write().unwrap_or_else(|p| p.into_inner()) = next;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_paths() {
        use Segment::*;
        assert_eq!(
            parse_json_path(".spec.replicas"),
            Some(vec![Field("spec".into()), Field("replicas".into())])
        );
        assert_eq!(
            parse_json_path("{.status.conditions[0].type}"),
            Some(vec![
                Field("status".into()),
                Field("conditions".into()),
                Index(0),
                Field("type".into())
            ])
        );
        assert_eq!(parse_json_path(".items[*].x"), None);
        assert_eq!(parse_json_path("spec"), None);
    }

    #[test]
    fn versions_sort_as_kubernetes_prefers_them() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v2", "v1beta2", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }
}
