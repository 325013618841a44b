//! Objects seen through the schema model ([`rudder_protocol::schema`]): which fields an
//! object sets ([`field_set`]), which a write added, changed or removed ([`compare`]),
//! the merge of an apply configuration into the live object ([`merge`]) and the removal
//! of fields ([`remove`]).
//!
//! How a value is walked depends on its [`Shape`]: a struct (declared fields), a map
//! (free keys, one value type), a list (atomic, a set of scalars, or associative with
//! key fields, from `x-kubernetes-list-type` and `x-kubernetes-list-map-keys`), or a
//! leaf. Parts the model does not describe (an unknown kind, a field the struct does not
//! declare, `RawExtension`) are walked as structured-merge-diff's deduced type: objects
//! field by field, lists and scalars as leaves. A list without a list type is atomic,
//! as in Kubernetes; an associative list whose items lack their keys or repeat them is
//! treated as atomic too, so a write never fails because of ownership bookkeeping.

use std::collections::{BTreeMap, BTreeSet};

use rudder_protocol::schema::{self, Field, Shape as DefShape, Ty, TypeDef};
use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};

/// How a list is merged and owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced whole; one leaf.
    Atomic,
    /// Scalars, each owned by value.
    Set,
    /// Objects, each owned by its key fields.
    Map(&'static [&'static str]),
}

/// How a value is walked (see the module docs).
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// An object with declared fields.
    Struct(&'static TypeDef),
    /// An object with free keys whose values have this type.
    Map(&'static Ty),
    /// A part the model does not describe.
    Deduced,
    /// A list of elements of this type.
    List(ListKind, &'static Ty),
    /// A scalar, or a value replaced whole.
    Leaf,
}

impl Shape {
    /// The shape of the top-level objects of `kind` (deduced for a kind the model lacks).
    pub fn of_kind(kind: &str) -> Shape {
        schema::type_for_kind(kind).map_or(Shape::Deduced, Shape::Struct)
    }

    /// The shape of a value of type `ty`, declared by `field` when it is a field.
    fn of(ty: &'static Ty, field: Option<&'static Field>) -> Shape {
        match ty {
            Ty::Array(inner) => {
                let kind = match field {
                    Some(f) if f.list_type == "map" => {
                        if !f.list_map_keys.is_empty() {
                            ListKind::Map(f.list_map_keys)
                        } else if !f.merge_key.is_empty() {
                            ListKind::Map(std::slice::from_ref(&f.merge_key))
                        } else {
                            ListKind::Atomic
                        }
                    }
                    Some(f) if f.list_type == "set" => ListKind::Set,
                    _ => ListKind::Atomic,
                };
                Shape::List(kind, inner)
            }
            Ty::Map(inner) => Shape::Map(inner),
            Ty::Object(r) => match r.get().shape {
                DefShape::Struct(_) => Shape::Struct(r.get()),
                DefShape::AnyObject => Shape::Deduced,
                _ => Shape::Leaf,
            },
            _ => Shape::Leaf,
        }
    }

    /// Whether values of this shape are walked key by key (when they are objects).
    fn is_map_like(self) -> bool {
        matches!(self, Shape::Struct(_) | Shape::Map(_) | Shape::Deduced)
    }

    /// The shape of the value under `key` of an object of this shape, and whether the
    /// key is a declared field (a declared field is not itself a member of a field set
    /// unless it is a leaf; a free key is).
    fn child(self, key: &str) -> (Shape, bool) {
        match self {
            Shape::Struct(def) => match def.field(key) {
                Some(f) => (Shape::of(&f.ty, Some(f)), true),
                None => (Shape::Deduced, false),
            },
            Shape::Map(inner) => (Shape::of(inner, None), false),
            _ => (Shape::Deduced, false),
        }
    }

    /// The shape of this list's elements.
    fn element(self) -> Shape {
        match self {
            Shape::List(_, inner) => Shape::of(inner, None),
            _ => Shape::Deduced,
        }
    }
}

/// The path elements of a list's items, or `None` when the list cannot be keyed (an
/// item without its keys, a repeated key): then it is owned and merged as a whole.
fn elements(kind: ListKind, items: &[Value]) -> Option<Vec<PathElement>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let pe = match kind {
            ListKind::Atomic => return None,
            ListKind::Set => PathElement::value_of(item),
            ListKind::Map(keys) => PathElement::key_of(item, keys)?,
        };
        if !seen.insert(pe.clone()) {
            return None;
        }
        out.push(pe);
    }
    Some(out)
}

/// `metadata.managedFields` is bookkeeping, never a field anyone owns: walks skip it.
fn skipped(path: &[PathElement], key: &str) -> bool {
    key == "managedFields" && matches!(path, [PathElement::Field(m)] if m == "metadata")
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

/// The fields `value` (of `shape`) sets, as structured-merge-diff's `ToFieldSet`: every
/// leaf, every list item, every free key, and every declared field whose value is null
/// or an empty object. The root is not a member.
pub fn field_set(shape: Shape, value: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    let mut path = Vec::new();
    if let Value::Object(map) = value {
        fields_of_map(shape, map, &mut path, &mut set);
    }
    set
}

fn fields_of_map(shape: Shape, map: &Map<String, Value>, path: &mut Path, set: &mut FieldSet) {
    for (key, child) in map {
        if skipped(path, key) {
            continue;
        }
        let (child_shape, declared) = shape.child(key);
        path.push(PathElement::Field(key.clone()));
        fields_of(child_shape, child, path, set);
        if child.is_null() || is_empty_object(child) || !declared {
            set.insert(path);
        }
        path.pop();
    }
}

fn fields_of(shape: Shape, value: &Value, path: &mut Path, set: &mut FieldSet) {
    match (shape, value) {
        (s, Value::Object(map)) if s.is_map_like() => fields_of_map(s, map, path, set),
        (Shape::List(kind, _), Value::Array(items)) => match elements(kind, items) {
            Some(pes) => {
                let elem = shape.element();
                for (pe, item) in pes.into_iter().zip(items) {
                    path.push(pe);
                    fields_of(elem, item, path, set);
                    set.insert(path);
                    path.pop();
                }
            }
            None => set.insert(path),
        },
        _ => set.insert(path),
    }
}

/// What a write did to an object's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Fields set now and not before.
    pub added: FieldSet,
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Fields set before and not now.
    pub removed: FieldSet,
}

impl Comparison {
    /// The fields the write set: added or modified.
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }

    /// Whether nothing changed.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// Compares two versions of an object (`None`: it did not exist). A field added or
/// removed is listed with everything under it; an added or removed list item, free key
/// or map field is itself a member, a declared struct field is not (only its leaves are).
pub fn compare(shape: Shape, old: Option<&Value>, new: Option<&Value>) -> Comparison {
    let mut out = Comparison::default();
    let mut path = Vec::new();
    compare_maps(shape, old, new, &mut path, &mut out);
    out
}

fn compare_maps(
    shape: Shape,
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Path,
    out: &mut Comparison,
) {
    let empty = Map::new();
    let old_map = old.and_then(Value::as_object).unwrap_or(&empty);
    let new_map = new.and_then(Value::as_object).unwrap_or(&empty);
    let keys: BTreeSet<&String> = old_map.keys().chain(new_map.keys()).collect();
    for key in keys {
        if skipped(path, key) {
            continue;
        }
        let (child_shape, declared) = shape.child(key);
        // A map field (labels, annotations) added or removed whole is itself a member,
        // as Kubernetes records it (`f:labels: {.: {}, f:app: {}}`).
        let self_member = !declared || matches!(child_shape, Shape::Map(_));
        path.push(PathElement::Field(key.clone()));
        compare_values(
            child_shape,
            old_map.get(key),
            new_map.get(key),
            self_member,
            path,
            out,
        );
        path.pop();
    }
}

fn compare_values(
    shape: Shape,
    old: Option<&Value>,
    new: Option<&Value>,
    self_member: bool,
    path: &mut Path,
    out: &mut Comparison,
) {
    let present = [old, new];
    let non_empty = |v: &Option<&Value>| v.is_some_and(|v| !v.is_null() && !is_empty_object(v));
    let map_walk = shape.is_map_like()
        && present.iter().flatten().all(|v| v.is_object())
        && present.iter().any(non_empty);
    if map_walk {
        mark_presence(old, new, self_member, path, out);
        compare_maps(shape, old, new, path, out);
        return;
    }
    if let Shape::List(kind, _) = shape {
        if let (Some(old_items), Some(new_items)) = (keyed(kind, old), keyed(kind, new)) {
            if !(old_items.is_empty() && new_items.is_empty()) {
                let elem = shape.element();
                let old_by: BTreeMap<&PathElement, &Value> =
                    old_items.iter().map(|(pe, v)| (pe, *v)).collect();
                let new_by: BTreeMap<&PathElement, &Value> =
                    new_items.iter().map(|(pe, v)| (pe, *v)).collect();
                let pes: BTreeSet<&PathElement> =
                    old_by.keys().chain(new_by.keys()).copied().collect();
                for pe in pes {
                    path.push(pe.clone());
                    compare_values(
                        elem,
                        old_by.get(pe).copied(),
                        new_by.get(pe).copied(),
                        true,
                        path,
                        out,
                    );
                    path.pop();
                }
                return;
            }
        }
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if a != b => out.modified.insert(path),
        _ => {}
    }
}

/// A list's items with their path elements (none for an absent list); `None` when the
/// value is not a list or cannot be keyed.
fn keyed(kind: ListKind, value: Option<&Value>) -> Option<Vec<(PathElement, &Value)>> {
    match value {
        None => Some(Vec::new()),
        Some(Value::Array(items)) => {
            elements(kind, items).map(|pes| pes.into_iter().zip(items.iter()).collect())
        }
        Some(_) => None,
    }
}

fn mark_presence(
    old: Option<&Value>,
    new: Option<&Value>,
    self_member: bool,
    path: &Path,
    out: &mut Comparison,
) {
    if !self_member {
        return;
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}

/// An apply configuration that cannot be merged (422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError(pub String);

/// Merges an apply configuration into the live object, as structured-merge-diff's
/// `Merge`: objects field by field, sets and associative lists item by item (items the
/// configuration names take its order; the others keep their place), everything else
/// replaced by the configuration. A null in the configuration removes the field.
pub fn merge(shape: Shape, live: Option<&Value>, config: &Value) -> Result<Value, MergeError> {
    let mut path = Vec::new();
    merge_value(shape, live, config, &mut path)
}

fn merge_value(
    shape: Shape,
    live: Option<&Value>,
    config: &Value,
    path: &mut Path,
) -> Result<Value, MergeError> {
    match (shape, config) {
        (s, Value::Object(cfg)) if s.is_map_like() => {
            let mut out = match live {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            for (key, cv) in cfg {
                if cv.is_null() {
                    out.remove(key);
                    continue;
                }
                let (child_shape, _) = s.child(key);
                path.push(PathElement::Field(key.clone()));
                let merged = merge_value(child_shape, out.get(key), cv, path)?;
                path.pop();
                out.insert(key.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Shape::List(kind, _), Value::Array(cfg)) if kind != ListKind::Atomic => {
            let Some(cfg_pes) = elements(kind, cfg) else {
                return Err(MergeError(format!(
                    "{}: {}",
                    super::fieldset::path_string(path),
                    match kind {
                        ListKind::Map(keys) => format!(
                            "the items of this list must each have a distinct key ({})",
                            keys.join(", ")
                        ),
                        _ => "the items of this set must be distinct".to_owned(),
                    }
                )));
            };
            let live_items = live.and_then(Value::as_array);
            let live_pes = live_items.and_then(|items| elements(kind, items));
            let (Some(live_items), Some(live_pes)) = (live_items, live_pes) else {
                // Nothing live, or a live list that cannot be keyed: the configuration
                // replaces it.
                return Ok(Value::Array(cfg.clone()));
            };
            let elem = shape.element();
            let mut merged = Vec::with_capacity(live_items.len() + cfg.len());
            for pe in merge_order(&live_pes, &cfg_pes) {
                let live_item = live_pes
                    .iter()
                    .position(|p| p == pe)
                    .map(|i| &live_items[i]);
                let cfg_item = cfg_pes.iter().position(|p| p == pe).map(|i| &cfg[i]);
                match (live_item, cfg_item) {
                    (live_item, Some(c)) => {
                        path.push(pe.clone());
                        merged.push(merge_value(elem, live_item, c, path)?);
                        path.pop();
                    }
                    (Some(l), None) => merged.push(l.clone()),
                    (None, None) => {}
                }
            }
            Ok(Value::Array(merged))
        }
        _ => Ok(config.clone()),
    }
}

/// The order of a merged list: items both sides have follow the configuration's order;
/// items only the live list has stay where they were among them; items only the
/// configuration has come where it puts them.
fn merge_order<'a>(live: &'a [PathElement], cfg: &'a [PathElement]) -> Vec<&'a PathElement> {
    let in_cfg: BTreeSet<&PathElement> = cfg.iter().collect();
    let in_live: BTreeSet<&PathElement> = live.iter().collect();
    let mut shared = cfg.iter().filter(|pe| in_live.contains(pe)).peekable();
    let mut done: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(live.len() + cfg.len());
    let (mut li, mut ci) = (0, 0);
    while li < live.len() || ci < cfg.len() {
        if li < live.len() && ci < cfg.len() {
            let pe = &live[li];
            if *pe == cfg[ci] {
                done.insert(pe);
                out.push(pe);
                if shared.peek() == Some(&pe) {
                    shared.next();
                }
                li += 1;
                ci += 1;
                continue;
            }
            if in_cfg.contains(pe) && shared.peek().is_some_and(|next| *next != pe) {
                // A shared item, but not the one due now: it comes with the config.
                li += 1;
                continue;
            }
        }
        if li < live.len() {
            let pe = &live[li];
            if !in_cfg.contains(pe) {
                out.push(pe);
                li += 1;
                continue;
            }
            if done.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ci < cfg.len() {
            let pe = &cfg[ci];
            if done.insert(pe) {
                out.push(pe);
            }
            if shared.peek() == Some(&pe) {
                shared.next();
            }
            ci += 1;
        }
    }
    out
}

/// Removes from `value` every member of `set` (a member list item or field goes with
/// everything under it).
pub fn remove(shape: Shape, value: &mut Value, set: &FieldSet) {
    for (pe, sub) in set.children() {
        match (pe, &mut *value) {
            (PathElement::Field(key), Value::Object(map)) => {
                if sub.is_member() {
                    map.remove(key);
                } else if let Some(child) = map.get_mut(key) {
                    let (child_shape, _) = shape.child(key);
                    remove(child_shape, child, sub);
                }
            }
            (_, Value::Array(items)) => {
                let keys: &[&str] = match shape {
                    Shape::List(ListKind::Map(keys), _) => keys,
                    _ => &[],
                };
                let Some(i) = items
                    .iter()
                    .enumerate()
                    .position(|(i, item)| pe.matches_item(item, i, keys))
                else {
                    continue;
                };
                if sub.is_member() {
                    items.remove(i);
                } else {
                    remove(shape.element(), &mut items[i], sub);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::fieldset::{f, set_of};
    use super::*;
    use serde_json::json;

    fn name(n: &str) -> PathElement {
        PathElement::key_of(&json!({ "name": n }), &["name"]).unwrap()
    }

    fn containers() -> Vec<PathElement> {
        vec![f("spec"), f("template"), f("spec"), f("containers")]
    }

    fn at(prefix: &[PathElement], rest: &[PathElement]) -> Vec<PathElement> {
        prefix.iter().chain(rest).cloned().collect()
    }

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "a"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": containers}}}
        })
    }

    #[test]
    fn field_sets_follow_the_schema() {
        let obj = deployment(
            json!([{"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]),
        );
        let set = field_set(Shape::of_kind("Deployment"), &obj);
        let c = at(&containers(), &[name("c")]);
        let port = PathElement::key_of(
            &json!({"containerPort": 80, "protocol": "TCP"}),
            &["containerPort", "protocol"],
        )
        .unwrap();
        let want = set_of(&[
            &[f("apiVersion")],
            &[f("kind")],
            &[f("metadata"), f("name")],
            &[f("metadata"), f("labels"), f("app")],
            &[f("spec"), f("replicas")],
            &c,
            &at(&c, &[f("name")]),
            &at(&c, &[f("image")]),
            &at(&c, &[f("ports"), port.clone()]),
            &at(&c, &[f("ports"), port.clone(), f("containerPort")]),
            &at(&c, &[f("ports"), port, f("protocol")]),
        ]);
        assert_eq!(set, want);
    }

    #[test]
    fn field_sets_of_other_shapes() {
        let cases = [
            (
                "unknown kind is deduced: objects by field, lists whole",
                "NoSuchKind",
                json!({"spec": {"a": {"b": 1}, "l": [1, 2]}}),
                set_of(&[
                    &[f("spec")],
                    &[f("spec"), f("a")],
                    &[f("spec"), f("a"), f("b")],
                    &[f("spec"), f("l")],
                ]),
            ),
            (
                "set of finalizers",
                "ConfigMap",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                set_of(&[
                    &[
                        f("metadata"),
                        f("finalizers"),
                        PathElement::value_of(&json!("a")),
                    ],
                    &[
                        f("metadata"),
                        f("finalizers"),
                        PathElement::value_of(&json!("b")),
                    ],
                ]),
            ),
            (
                "empty object is a leaf",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {}}]}}}}),
                set_of(&[
                    &at(&containers(), &[name("c")]),
                    &at(&containers(), &[name("c"), f("name")]),
                    &at(&containers(), &[name("c"), f("resources")]),
                ]),
            ),
            (
                "duplicate keys make the list atomic",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}, {"name": "c"}]}}}}),
                set_of(&[&containers()]),
            ),
        ];
        for (case, kind, obj, want) in cases {
            assert_eq!(field_set(Shape::of_kind(kind), &obj), want, "{case}");
        }
    }

    #[test]
    fn comparisons() {
        let shape = Shape::of_kind("Deployment");
        let one = deployment(json!([{"name": "a", "image": "i1"}]));
        let c = containers();
        let cases = [
            (
                "image changed",
                deployment(json!([{"name": "a", "image": "i2"}])),
                Comparison {
                    modified: set_of(&[&at(&c, &[name("a"), f("image")])]),
                    ..Comparison::default()
                },
            ),
            (
                "item added",
                deployment(json!([{"name": "a", "image": "i1"}, {"name": "b"}])),
                Comparison {
                    added: set_of(&[&at(&c, &[name("b")]), &at(&c, &[name("b"), f("name")])]),
                    ..Comparison::default()
                },
            ),
            (
                "item removed",
                deployment(json!([])),
                Comparison {
                    removed: set_of(&[
                        &at(&c, &[name("a")]),
                        &at(&c, &[name("a"), f("name")]),
                        &at(&c, &[name("a"), f("image")]),
                    ]),
                    ..Comparison::default()
                },
            ),
            (
                "reorder is no change",
                deployment(json!([{"image": "i1", "name": "a"}])),
                Comparison::default(),
            ),
            (
                "label map added is a member",
                {
                    let mut d = one.clone();
                    d["spec"]["template"]["metadata"] = json!({"labels": {"x": "y"}});
                    d
                },
                Comparison {
                    added: set_of(&[
                        &[f("spec"), f("template"), f("metadata"), f("labels")],
                        &[f("spec"), f("template"), f("metadata"), f("labels"), f("x")],
                    ]),
                    ..Comparison::default()
                },
            ),
        ];
        for (case, new, want) in cases {
            assert_eq!(compare(shape, Some(&one), Some(&new)), want, "{case}");
        }
        let created = compare(shape, None, Some(&one));
        assert!(created.added.contains(&[f("spec"), f("replicas")]));
        assert!(!created.added.contains(&[f("spec")]));
        assert!(created.removed.is_empty() && created.modified.is_empty());
    }

    #[test]
    fn merges_by_list_type() {
        let shape = Shape::of_kind("Deployment");
        let names = |v: &Value| -> Vec<String> {
            v["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let live = deployment(
            json!([{"name": "a", "image": "ia"}, {"name": "b", "image": "ib"}, {"name": "c", "image": "ic"}]),
        );
        let cases = [
            (
                "add",
                json!([{"name": "d", "image": "id"}]),
                vec!["a", "b", "c", "d"],
            ),
            (
                // As structured-merge-diff: live-only items stay before the shared item
                // that followed them.
                "reorder shared",
                json!([{"name": "c"}, {"name": "a"}]),
                vec!["b", "c", "a"],
            ),
            (
                "same order",
                json!([{"name": "a"}, {"name": "c"}]),
                vec!["a", "b", "c"],
            ),
            (
                "new first",
                json!([{"name": "z"}, {"name": "a"}]),
                vec!["z", "a", "b", "c"],
            ),
        ];
        for (case, cfg, want) in cases {
            let merged = merge(shape, Some(&live), &deployment(cfg)).unwrap();
            assert_eq!(names(&merged), want, "{case}");
        }
        // Items the configuration names are merged field by field.
        let merged = merge(
            shape,
            Some(&live),
            &deployment(json!([{"name": "b", "args": ["x"]}])),
        )
        .unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][1],
            json!({"name": "b", "image": "ib", "args": ["x"]})
        );
        // Atomic lists are replaced; nulls remove.
        let merged = merge(
            shape,
            Some(&merged),
            &json!({"spec": {"replicas": null, "template": {"spec": {"containers": [{"name": "b", "args": ["y"]}]}}}}),
        )
        .unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][1]["args"],
            json!(["y"])
        );
        assert!(merged["spec"].get("replicas").is_none());
        // A configuration with repeated keys is refused.
        assert!(merge(
            shape,
            Some(&live),
            &deployment(json!([{"name": "a"}, {"name": "a"}]))
        )
        .is_err());
    }

    #[test]
    fn removes_members() {
        let shape = Shape::of_kind("Deployment");
        let mut obj =
            deployment(json!([{"name": "a", "image": "ia"}, {"name": "b", "image": "ib"}]));
        let c = containers();
        remove(
            shape,
            &mut obj,
            &set_of(&[
                &at(&c, &[name("a")]),
                &at(&c, &[name("b"), f("image")]),
                &[f("metadata"), f("labels"), f("app")],
            ]),
        );
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}])
        );
        assert_eq!(obj["metadata"]["labels"], json!({}));
    }
}
