//! Sets of field paths, as Kubernetes' structured-merge-diff keeps them: the fields a
//! manager owns, the fields an apply configuration names, the fields a write changed.
//!
//! A path is a list of [`PathElement`]s: a field of an object (`f:name`), an element of
//! an associative list by its key fields (`k:{"name":"nginx"}`), an element of a set by
//! its value (`v:"a"`), or an element by index (`i:0`, for lists the model cannot key).
//! A [`FieldSet`] is a tree of such elements in which a node is marked when its path is
//! itself a member (the `.` of the FieldsV1 format); parents that are only on the way
//! to members are not members. The set keeps no empty branches, so two sets are equal
//! exactly when they have the same members.
//!
//! The wire form is FieldsV1 (`metadata.managedFields[].fieldsV1`): a JSON object per
//! node whose keys are the children's elements and `.` for the node itself; a member
//! without children is `{}`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object, by name (`f:name`).
    Field(String),
    /// An element of an associative list by its key fields: the canonical JSON object
    /// of the keys, names sorted (`k:{"containerPort":80,"protocol":"TCP"}`).
    Key(String),
    /// An element of a set, by its value as canonical JSON (`v:"a"`).
    Value(String),
    /// An element of a list by position (`i:3`).
    Index(usize),
}

impl PathElement {
    /// The key element of `item` for the key fields `keys`, or `None` when the item is
    /// not an object or lacks a key field (Kubernetes refuses such items in an
    /// associative list).
    pub fn key_of(item: &Value, keys: &[&str]) -> Option<PathElement> {
        let obj = item.as_object()?;
        let mut names: Vec<&str> = keys.to_vec();
        names.sort_unstable();
        let mut out = String::from("{");
        for (i, name) in names.iter().enumerate() {
            let defaulted;
            let v = match obj.get(*name).filter(|v| !v.is_null()) {
                Some(v) => v,
                None => {
                    defaulted = key_default(name)?;
                    &defaulted
                }
            };
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String((*name).to_owned()).to_string());
            out.push(':');
            out.push_str(&v.to_string());
        }
        out.push('}');
        Some(PathElement::Key(out))
    }

    /// The value element of a set item.
    pub fn value_of(item: &Value) -> PathElement {
        PathElement::Value(item.to_string())
    }

    /// The FieldsV1 key of this element (`f:name`, `k:{...}`, `v:...`, `i:0`).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{json}"),
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Reads a FieldsV1 key; `None` for a key that is none of the four forms.
    pub fn from_fields_v1_key(key: &str) -> Option<PathElement> {
        let (prefix, rest) = key.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_owned())),
            "k:" => match serde_json::from_str::<Value>(rest).ok()? {
                Value::Object(map) => {
                    let names: Vec<&str> = map.keys().map(String::as_str).collect();
                    PathElement::key_of(&Value::Object(map.clone()), &names)
                }
                _ => None,
            },
            "v:" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| PathElement::value_of(&v)),
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }

    /// Whether this element picks `item` (an element of a list at position `index`).
    pub fn matches_item(&self, item: &Value, index: usize, keys: &[&str]) -> bool {
        match self {
            PathElement::Field(_) => false,
            PathElement::Key(_) => PathElement::key_of(item, keys).as_ref() == Some(self),
            PathElement::Value(_) => PathElement::value_of(item) == *self,
            PathElement::Index(i) => *i == index,
        }
    }
}

/// The default of a key field an item may leave out: Kubernetes' schema gives the
/// `protocol` of ports (keyed by port and protocol) the default `TCP`, and
/// structured-merge-diff keys an item without it by the default.
fn key_default(name: &str) -> Option<Value> {
    (name == "protocol").then(|| Value::String("TCP".into()))
}

/// Go's `%v` of a JSON value in a path, as structured-merge-diff prints it: strings
/// quoted, numbers and booleans bare.
fn go_value(json: &str) -> String {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::String(s)) => Value::String(s).to_string(),
        Ok(v) => v.to_string(),
        Err(_) => json.to_owned(),
    }
}

impl fmt::Display for PathElement {
    /// The element as Kubernetes prints a path in conflict messages: `.name`,
    /// `[name="nginx"]`, `[containerPort=80,protocol="TCP"]`, `[="a"]`, `[3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(json) {
                    Ok(Value::Object(map)) => map
                        .iter()
                        .map(|(k, v)| format!("{k}={}", go_value(&v.to_string())))
                        .collect(),
                    _ => vec![json.clone()],
                };
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => write!(f, "[={}]", go_value(json)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path.
pub type Path = Vec<PathElement>;

/// A path as Kubernetes prints it (`.spec.template.spec.containers[name="nginx"].image`).
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of field paths (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path to this node is a member (FieldsV1's `.`).
    member: bool,
    /// The non-empty subsets under each child element.
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set has no member.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Whether the path to this node is itself a member.
    pub fn is_member(&self) -> bool {
        self.member
    }

    /// The subset under `pe`, if any.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// The children, in order.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// The subset at `path` (the node itself for an empty path).
    pub fn at(&self, path: &[PathElement]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((pe, rest)) => self.children.get(pe)?.at(rest),
        }
    }

    /// Adds `path` (the empty path marks this node).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((pe, rest)) => self.children.entry(pe.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.at(path).is_some_and(|n| n.member)
    }

    /// Removes `path` and everything under it.
    pub fn remove_tree(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => *self = FieldSet::default(),
            Some((pe, rest)) => {
                if let Some(child) = self.children.get_mut(pe) {
                    child.remove_tree(rest);
                    if child.is_empty() {
                        self.children.remove(pe);
                    }
                }
            }
        }
    }

    /// Makes `path` no longer a member (what is under it stays).
    pub fn unmark(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = false,
            Some((pe, rest)) => {
                if let Some(child) = self.children.get_mut(pe) {
                    child.unmark(rest);
                    if child.is_empty() {
                        self.children.remove(pe);
                    }
                }
            }
        }
    }

    /// Keeps only what is at or under `pe` (the rest is dropped).
    pub fn only_under(&self, pe: &PathElement) -> FieldSet {
        let mut out = FieldSet::new();
        if let Some(child) = self.children.get(pe) {
            out.children.insert(pe.clone(), child.clone());
        }
        out
    }

    /// Every member in `other` too (`self ∪ other`).
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_in_place(other);
        out
    }

    /// Adds every member of `other`.
    pub fn union_in_place(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (pe, theirs) in &other.children {
            match self.children.get_mut(pe) {
                Some(mine) => mine.union_in_place(theirs),
                None => {
                    self.children.insert(pe.clone(), theirs.clone());
                }
            }
        }
    }

    /// The members not in `other` (`self − other`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut children = BTreeMap::new();
        for (pe, mine) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => mine.difference(theirs),
                None => mine.clone(),
            };
            if !rest.is_empty() {
                children.insert(pe.clone(), rest);
            }
        }
        FieldSet {
            member: self.member && !other.member,
            children,
        }
    }

    /// The members in both (`self ∩ other`).
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut children = BTreeMap::new();
        for (pe, mine) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = mine.intersection(theirs);
                if !both.is_empty() {
                    children.insert(pe.clone(), both);
                }
            }
        }
        FieldSet {
            member: self.member && other.member,
            children,
        }
    }

    /// Every member's path, in order (parents before their children).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Reads the FieldsV1 form; an error names what is wrong.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let map = value
            .as_object()
            .ok_or_else(|| "fieldsV1 must be an object".to_owned())?;
        let mut set = FieldSet::new();
        for (key, child) in map {
            if key == "." {
                set.member = true;
                continue;
            }
            let pe = PathElement::from_fields_v1_key(key)
                .ok_or_else(|| format!("invalid fieldsV1 key {key:?}"))?;
            let mut sub = FieldSet::from_fields_v1(child)?;
            if child.as_object().is_some_and(Map::is_empty) {
                sub.member = true;
            }
            if !sub.is_empty() {
                set.children.insert(pe, sub);
            }
        }
        Ok(set)
    }

    /// The FieldsV1 form.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (pe, child) in &self.children {
            map.insert(pe.to_fields_v1_key(), child.to_fields_v1());
        }
        Value::Object(map)
    }
}

/// A set built from paths, for tests and constants.
pub fn set_of(paths: &[&[PathElement]]) -> FieldSet {
    let mut set = FieldSet::new();
    for p in paths {
        set.insert(p);
    }
    set
}

/// The path element of a field name.
pub fn f(name: &str) -> PathElement {
    PathElement::Field(name.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn k(keys: Value) -> PathElement {
        let names: Vec<String> = keys.as_object().unwrap().keys().cloned().collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        PathElement::key_of(&keys, &names).unwrap()
    }

    #[test]
    fn fields_v1_round_trips() {
        let cases = [
            ("leaf", json!({"f:spec": {"f:replicas": {}}})),
            (
                "member with children",
                json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}),
            ),
            (
                "keyed list item",
                json!({"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}}),
            ),
            (
                "two keys",
                json!({"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}),
            ),
            (
                "set item",
                json!({"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}),
            ),
            ("index", json!({"f:args": {"i:0": {}}})),
            ("empty", json!({})),
        ];
        for (name, v) in cases {
            let set = FieldSet::from_fields_v1(&v).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(set.to_fields_v1(), v, "{name}");
        }
    }

    #[test]
    fn invalid_fields_v1_is_refused() {
        let cases = [
            ("not an object", json!([])),
            ("unknown prefix", json!({"x:a": {}})),
            ("key not an object", json!({"k:[1]": {}})),
            ("bad index", json!({"i:a": {}})),
            ("child not an object", json!({"f:a": 1})),
        ];
        for (name, v) in cases {
            assert!(FieldSet::from_fields_v1(&v).is_err(), "{name}");
        }
    }

    #[test]
    fn keys_are_canonical_whatever_the_order() {
        let a = PathElement::key_of(
            &json!({"protocol": "TCP", "containerPort": 80, "name": "x"}),
            &["protocol", "containerPort"],
        );
        let b = PathElement::from_fields_v1_key("k:{\"protocol\":\"TCP\",\"containerPort\":80}");
        assert_eq!(a, b);
        assert_eq!(
            a.unwrap().to_fields_v1_key(),
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"
        );
        assert_eq!(PathElement::key_of(&json!({"name": null}), &["name"]), None);
        assert_eq!(
            PathElement::key_of(
                &json!({"containerPort": 80}),
                &["containerPort", "protocol"]
            ),
            b,
            "protocol defaults to TCP"
        );
        assert_eq!(PathElement::key_of(&json!("x"), &["name"]), None);
    }

    #[test]
    fn paths_print_as_kubernetes_prints_them() {
        let cases: Vec<(&str, Path, &str)> = vec![
            ("field", vec![f("spec"), f("replicas")], ".spec.replicas"),
            (
                "keyed",
                vec![f("containers"), k(json!({"name": "nginx"})), f("image")],
                ".containers[name=\"nginx\"].image",
            ),
            (
                "two keys",
                vec![
                    f("ports"),
                    k(json!({"protocol": "TCP", "containerPort": 80})),
                ],
                ".ports[containerPort=80,protocol=\"TCP\"]",
            ),
            (
                "set",
                vec![f("finalizers"), PathElement::value_of(&json!("a"))],
                ".finalizers[=\"a\"]",
            ),
            ("index", vec![f("args"), PathElement::Index(2)], ".args[2]"),
        ];
        for (name, path, want) in cases {
            assert_eq!(path_string(&path), want, "{name}");
        }
    }

    #[test]
    fn set_operations() {
        let a = set_of(&[
            &[f("spec"), f("replicas")],
            &[f("spec"), f("paused")],
            &[f("metadata"), f("labels")],
            &[f("metadata"), f("labels"), f("app")],
        ]);
        let b = set_of(&[
            &[f("spec"), f("replicas")],
            &[f("metadata"), f("labels"), f("app")],
            &[f("status")],
        ]);
        let cases = [
            (
                "union",
                a.union(&b),
                set_of(&[
                    &[f("spec"), f("replicas")],
                    &[f("spec"), f("paused")],
                    &[f("metadata"), f("labels")],
                    &[f("metadata"), f("labels"), f("app")],
                    &[f("status")],
                ]),
            ),
            (
                "difference",
                a.difference(&b),
                set_of(&[&[f("spec"), f("paused")], &[f("metadata"), f("labels")]]),
            ),
            (
                "difference the other way",
                b.difference(&a),
                set_of(&[&[f("status")]]),
            ),
            (
                "intersection",
                a.intersection(&b),
                set_of(&[
                    &[f("spec"), f("replicas")],
                    &[f("metadata"), f("labels"), f("app")],
                ]),
            ),
            ("difference with itself", a.difference(&a), FieldSet::new()),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
        assert!(a.contains(&[f("metadata"), f("labels")]));
        assert!(!a.contains(&[f("spec")]));
        assert_eq!(
            a.paths(),
            vec![
                vec![f("metadata"), f("labels")],
                vec![f("metadata"), f("labels"), f("app")],
                vec![f("spec"), f("paused")],
                vec![f("spec"), f("replicas")],
            ]
        );
        let mut c = a.clone();
        c.remove_tree(&[f("metadata")]);
        assert_eq!(
            c,
            set_of(&[&[f("spec"), f("replicas")], &[f("spec"), f("paused")]])
        );
    }
}
