//! The object schema model: every object type the API server serves, described once and
//! derived from the resource structs themselves (`#[derive(Schema)]`, crate
//! `rudder-protocol-derive`), so a field added to a struct is in the schema at once.
//!
//! The model says, for each named type, its fields, their JSON types and, for lists, how
//! Kubernetes merges them (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`,
//! `x-kubernetes-list-type`). The API server renders it as OpenAPI v3, walks it to apply
//! strategic merge patches (so the merge keys kubectl downloads are the ones the server
//! applies) and to reject unknown fields ([`unknown_fields`], `fieldValidation=Strict`).
//!
//! How a Rust type maps to the model: [`FieldType`] gives every field type its [`Ty`]
//! (strings, integers, `bool`, `Option<T>` as `T`, `Vec<T>` as a list, `BTreeMap<String,
//! T>` as a map, string enums as their values, structs as a reference to their
//! [`TypeDef`]); [`Schema`] gives a struct its [`TypeDef`]. A reference is a function
//! returning the definition ([`TypeRef`]), so recursive types can be described. The
//! scalars with their own JSON form (`Quantity`, `Time`, `MicroTime`, `IntOrString`)
//! implement the traits by hand, in their modules; so do the few meta types without a
//! protocol struct (`DeleteOptions`, `WatchEvent`, `Patch`, `Binding`), here.
//!
//! The model is collected by walking from [`roots`] (every top-level kind and the meta
//! types the API's operations name) into one map, built on first use.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use serde_json::Value;

pub use rudder_protocol_derive::Schema;

use crate::resources::{ListMeta, ObjectMeta, ObjectReference, Status};

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

/// A reference to a named type: a function returning its definition, so a type can refer
/// to itself. Two references are equal when they name the same type.
#[derive(Clone, Copy)]
pub struct TypeRef(pub fn() -> &'static TypeDef);

impl TypeRef {
    /// The definition.
    pub fn get(self) -> &'static TypeDef {
        (self.0)()
    }

    /// The OpenAPI component name.
    pub fn name(self) -> &'static str {
        self.get().name
    }
}

impl PartialEq for TypeRef {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for TypeRef {}

impl fmt::Debug for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeRef({})", self.name())
    }
}

/// The JSON type of a field or of a list's or map's elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string.
    String,
    /// A 32-bit integer.
    Int32,
    /// A 64-bit integer.
    Int64,
    /// A boolean.
    Bool,
    /// Bytes: a base64 string in JSON (OpenAPI `format: byte`), raw bytes in protobuf.
    Bytes,
    /// A string from a closed set.
    Enum(&'static [&'static str]),
    /// An object (or a scalar with its own form) described by a named [`TypeDef`].
    Object(TypeRef),
    /// A list of elements of this type.
    Array(&'static Ty),
    /// An object with arbitrary string keys and values of this type.
    Map(&'static Ty),
}

/// One field of an object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON name.
    pub name: &'static str,
    /// The JSON type.
    pub ty: Ty,
    /// What it means, for `kubectl explain`.
    pub description: &'static str,
    /// Whether Kubernetes marks it required.
    pub required: bool,
    /// `x-kubernetes-patch-strategy`: `merge`, `retainKeys`, `merge,retainKeys` or empty.
    pub patch_strategy: &'static str,
    /// `x-kubernetes-patch-merge-key` of a merged list of objects; empty otherwise.
    pub merge_key: &'static str,
    /// `x-kubernetes-list-type`: `atomic`, `set`, `map` or empty.
    pub list_type: &'static str,
    /// `x-kubernetes-list-map-keys` of a `map` list.
    pub list_map_keys: &'static [&'static str],
}

impl Field {
    /// A plain, optional field.
    pub const fn new(name: &'static str, ty: Ty, description: &'static str) -> Field {
        Field {
            name,
            ty,
            description,
            required: false,
            patch_strategy: "",
            merge_key: "",
            list_type: "",
            list_map_keys: &[],
        }
    }

    /// Marks the field required.
    pub const fn required(self) -> Field {
        Field {
            required: true,
            ..self
        }
    }

    /// A list of objects merged by `key`; `map_keys` identify an element for
    /// server-side apply (usually just `key`).
    pub const fn merge_by(self, key: &'static str, map_keys: &'static [&'static str]) -> Field {
        Field {
            patch_strategy: "merge",
            merge_key: key,
            list_type: "map",
            list_map_keys: map_keys,
            ..self
        }
    }

    /// A list of scalars merged as a set.
    pub const fn merge_set(self) -> Field {
        Field {
            patch_strategy: "merge",
            list_type: "set",
            ..self
        }
    }

    /// A list of scalars that is a set for server-side apply, replaced whole by a
    /// strategic merge patch (`+listType=set` without a patch strategy).
    pub const fn list_set(self) -> Field {
        Field {
            list_type: "set",
            ..self
        }
    }

    /// A list replaced as a whole (for server-side apply; a merge key, if any, still
    /// applies to strategic merge patches).
    pub const fn atomic(self) -> Field {
        Field {
            list_type: "atomic",
            list_map_keys: &[],
            ..self
        }
    }

    /// Adds `retainKeys` to the patch strategy.
    pub const fn retain_keys(self) -> Field {
        let patch_strategy = if self.patch_strategy.is_empty() {
            "retainKeys"
        } else {
            "merge,retainKeys"
        };
        Field {
            patch_strategy,
            ..self
        }
    }

    /// Whether a list field is merged element by element (rather than replaced).
    pub fn merges(&self) -> bool {
        self.patch_strategy.split(',').any(|s| s == "merge")
    }
}

/// The shape of a named schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An object with these fields.
    Struct(&'static [Field]),
    /// A string with this OpenAPI format (`date-time` for times).
    FormattedString(&'static str),
    /// `resource.Quantity`: a string such as `500m`, or a number.
    Quantity,
    /// `intstr.IntOrString`: an integer or a string.
    IntOrString,
    /// Any JSON object (`RawExtension`, the body of a `PATCH`).
    AnyObject,
}

/// A group, version and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gvk {
    /// The API group; empty for core.
    pub group: &'static str,
    /// The version.
    pub version: &'static str,
    /// The kind.
    pub kind: &'static str,
}

/// A named schema, e.g. `io.k8s.api.core.v1.PodSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeDef {
    /// The OpenAPI component name.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its fields or scalar form.
    pub shape: Shape,
    /// For top-level kinds: `x-kubernetes-group-version-kind`.
    pub gvk: Option<Gvk>,
}

impl TypeDef {
    /// A named type that is not a struct (a scalar with its own form, or any object).
    pub const fn scalar(name: &'static str, description: &'static str, shape: Shape) -> TypeDef {
        TypeDef {
            name,
            description,
            shape,
            gvk: None,
        }
    }

    /// The fields of a struct type (none for scalars).
    pub fn fields(&self) -> &'static [Field] {
        match self.shape {
            Shape::Struct(fields) => fields,
            _ => &[],
        }
    }

    /// The field with this JSON name.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }
}

/// The schema type of a Rust field type.
pub trait FieldType {
    /// The schema type.
    const TY: Ty;
    /// Whether a value may be absent from the JSON (an `Option`).
    const OPTIONAL: bool = false;
}

/// A Rust type with a named schema: structs (`#[derive(Schema)]`) and the scalars with
/// their own JSON form.
pub trait Schema {
    /// Its definition.
    fn type_def() -> &'static TypeDef;
}

impl FieldType for String {
    const TY: Ty = Ty::String;
}

impl FieldType for crate::resources::ByteString {
    const TY: Ty = Ty::Bytes;
}

impl FieldType for bool {
    const TY: Ty = Ty::Bool;
}

impl FieldType for i32 {
    const TY: Ty = Ty::Int32;
}

impl FieldType for i64 {
    const TY: Ty = Ty::Int64;
}

impl<T: FieldType> FieldType for Option<T> {
    const TY: Ty = T::TY;
    const OPTIONAL: bool = true;
}

impl<T: FieldType> FieldType for Box<T> {
    const TY: Ty = T::TY;
    const OPTIONAL: bool = T::OPTIONAL;
}

impl<T: FieldType> FieldType for Vec<T> {
    const TY: Ty = Ty::Array(&T::TY);
}

impl<T: FieldType> FieldType for BTreeMap<String, T> {
    const TY: Ty = Ty::Map(&T::TY);
}

/// Implements [`Schema`] and [`FieldType`] for a type with a hand-written [`TypeDef`].
macro_rules! named_type {
    ($ty:ty, $def:expr) => {
        impl $crate::schema::Schema for $ty {
            fn type_def() -> &'static $crate::schema::TypeDef {
                static DEF: $crate::schema::TypeDef = $def;
                &DEF
            }
        }

        impl $crate::schema::FieldType for $ty {
            const TY: $crate::schema::Ty = $crate::schema::Ty::Object($crate::schema::TypeRef(
                <$ty as $crate::schema::Schema>::type_def,
            ));
        }
    };
}
pub(crate) use named_type;

// ---------------------------------------------------------------------------------------
// Meta types without a protocol struct (the API server reads them as JSON).
// ---------------------------------------------------------------------------------------

/// `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta`.
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.Status`.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions`.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.Patch`.
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent`.
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";

/// An embedded object of any kind (`runtime.RawExtension`).
pub struct RawExtension;
named_type!(
    RawExtension,
    TypeDef::scalar(
        "io.k8s.apimachinery.pkg.runtime.RawExtension",
        "An embedded object of any kind.",
        Shape::AnyObject,
    )
);

/// The body of a `PATCH` request (`metav1.Patch`).
pub struct PatchBody;
named_type!(
    PatchBody,
    TypeDef::scalar(
        PATCH,
        "The body of a PATCH request: a JSON patch, a JSON merge patch or a strategic merge patch.",
        Shape::AnyObject,
    )
);

const API_VERSION: Field = Field::new(
    "apiVersion",
    Ty::String,
    "The versioned schema of this representation of an object, e.g. `v1` or `apps/v1`.",
);
const KIND: Field = Field::new(
    "kind",
    Ty::String,
    "The REST resource this object represents, in CamelCase, e.g. `Pod`.",
);

/// The options of a `DELETE` request (`metav1.DeleteOptions`); read as JSON.
pub struct DeleteOptions;
named_type!(
    DeleteOptions,
    TypeDef {
        name: DELETE_OPTIONS,
        description: "Options of a DELETE request.",
        shape: Shape::Struct(&[
            API_VERSION,
            KIND,
            Field::new("gracePeriodSeconds", Ty::Int64, "Seconds before the object is deleted; zero means immediately."),
            Field::new("preconditions", <Preconditions as FieldType>::TY, "Must be fulfilled before the deletion is carried out."),
            Field::new("orphanDependents", Ty::Bool, "Deprecated: use propagationPolicy."),
            Field::new("propagationPolicy", Ty::String, "Whether and how dependents are garbage collected: Orphan, Background or Foreground."),
            Field::new("dryRun", <Vec<String> as FieldType>::TY, "When present, modifications are not persisted.").atomic(),
        ]),
        gvk: None,
    }
);

/// The preconditions of a deletion (`metav1.Preconditions`).
pub struct Preconditions;
named_type!(
    Preconditions,
    TypeDef {
        name: "io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions",
        description: "Preconditions of an operation.",
        shape: Shape::Struct(&[
            Field::new("uid", Ty::String, "The target UID."),
            Field::new("resourceVersion", Ty::String, "The target resourceVersion."),
        ]),
        gvk: None,
    }
);

/// One change delivered by a watch, as JSON (`metav1.WatchEvent`); the protocol's
/// `WatchEvent<T>` is generic and has no single schema.
pub struct WatchEventSchema;
named_type!(
    WatchEventSchema,
    TypeDef {
        name: WATCH_EVENT,
        description: "One change delivered by a watch.",
        shape: Shape::Struct(&[
            Field::new(
                "type",
                Ty::String,
                "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."
            )
            .required(),
            Field::new(
                "object",
                <RawExtension as FieldType>::TY,
                "The object (or, for ERROR, a Status)."
            )
            .required(),
        ]),
        gvk: None,
    }
);

/// The body of the `pods/binding` subresource (`core/v1 Binding`); the API server reads
/// it as JSON.
pub struct Binding;
named_type!(
    Binding,
    TypeDef {
        name: "io.k8s.api.core.v1.Binding",
        description: "Binds a pod to a node: the body of the `pods/binding` subresource.",
        shape: Shape::Struct(&[
            API_VERSION,
            KIND,
            Field::new(
                "metadata",
                <ObjectMeta as FieldType>::TY,
                "Standard object metadata."
            ),
            Field::new(
                "target",
                <ObjectReference as FieldType>::TY,
                "The node to bind to."
            )
            .required(),
        ]),
        gvk: Some(Gvk {
            group: "",
            version: "v1",
            kind: "Binding",
        }),
    }
);

/// The body of the `pods/eviction` subresource (`policy/v1 Eviction`); the API server
/// reads it as JSON.
pub struct Eviction;
named_type!(
    Eviction,
    TypeDef {
        name: "io.k8s.api.policy.v1.Eviction",
        description: "Evicts a pod from its node, subject to its disruption budget: the body of the `pods/eviction` subresource.",
        shape: Shape::Struct(&[
            API_VERSION,
            KIND,
            Field::new(
                "metadata",
                <ObjectMeta as FieldType>::TY,
                "The pod to evict: its name and namespace."
            ),
            Field::new(
                "deleteOptions",
                <DeleteOptions as FieldType>::TY,
                "The options of the pod's deletion."
            ),
        ]),
        gvk: Some(Gvk {
            group: "policy",
            version: "v1",
            kind: "Eviction",
        }),
    }
);

// ---------------------------------------------------------------------------------------
// The collected model.
// ---------------------------------------------------------------------------------------

/// Calls `$m!` with every top-level kind that has a protocol struct: the served kinds
/// (the one list, [`crate::served_kinds!`]), then `Scale` and the v1 view of
/// HorizontalPodAutoscaler (served at a second version). The schema's roots and the
/// per-kind tests come from it.
macro_rules! protocol_kinds {
    ($m:ident) => {
        crate::served_kinds!(
            $m,
            crate::resources::Scale,
            crate::resources::HorizontalPodAutoscalerV1
        )
    };
}

macro_rules! type_refs {
    ($($ty:ty),* $(,)?) => {
        [$(<$ty as FieldType>::TY),*]
    };
}

/// Where the walk collecting the model starts: every top-level kind, `Binding`, and the
/// meta types the API's operations name.
pub fn roots() -> Vec<TypeRef> {
    let meta = type_refs!(
        Binding,
        Eviction,
        Status,
        ListMeta,
        DeleteOptions,
        WatchEventSchema,
        PatchBody
    );
    protocol_kinds!(type_refs)
        .into_iter()
        .chain(meta)
        .filter_map(|ty| match ty {
            Ty::Object(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Every named type reachable from [`roots`], by name.
static MODEL: LazyLock<BTreeMap<&'static str, &'static TypeDef>> = LazyLock::new(|| {
    fn visit(ty: &Ty, model: &mut BTreeMap<&'static str, &'static TypeDef>) {
        match ty {
            Ty::Object(r) => add(r.get(), model),
            Ty::Array(inner) | Ty::Map(inner) => visit(inner, model),
            _ => {}
        }
    }
    fn add(def: &'static TypeDef, model: &mut BTreeMap<&'static str, &'static TypeDef>) {
        if model.insert(def.name, def).is_none() {
            for f in def.fields() {
                visit(&f.ty, model);
            }
        }
    }
    let mut model = BTreeMap::new();
    for root in roots() {
        add(root.get(), &mut model);
    }
    model
});

/// Every named schema, by name. Top-level kinds carry their group-version-kind.
pub fn types() -> impl Iterator<Item = &'static TypeDef> {
    MODEL.values().copied()
}

/// The named schema with this name.
pub fn type_def(name: &str) -> Option<&'static TypeDef> {
    MODEL.get(name).copied()
}

/// The schema of the top-level objects of this kind (served kinds, `Scale`, `Binding`):
/// for a kind served at several versions, the version it is stored as.
pub fn type_for_kind(kind: &str) -> Option<&'static TypeDef> {
    crate::registry::resource_for_kind(kind)
        .and_then(|r| type_def(r.schema))
        .or_else(|| types().find(|t| t.gvk.is_some_and(|gvk| gvk.kind == kind)))
}

/// Every type name reachable from the types named in `roots` through their fields.
pub fn closure(roots: &[&str]) -> BTreeSet<&'static str> {
    fn visit(ty: &Ty, out: &mut BTreeSet<&'static str>) {
        match ty {
            Ty::Object(r) => add(r.get(), out),
            Ty::Array(inner) | Ty::Map(inner) => visit(inner, out),
            _ => {}
        }
    }
    fn add(def: &'static TypeDef, out: &mut BTreeSet<&'static str>) {
        if out.insert(def.name) {
            for f in def.fields() {
                visit(&f.ty, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for root in roots {
        if let Some(def) = type_def(root) {
            add(def, &mut out);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Walking JSON along the model.
// ---------------------------------------------------------------------------------------

/// Where a walk through the schema model is: at a struct, at a map's values, or
/// somewhere the model does not describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// An object with known fields.
    Struct(&'static TypeDef),
    /// An object whose values all have this type.
    Map(&'static Ty),
    /// A scalar or a part the model does not describe.
    Opaque,
}

impl Node {
    /// The node for a value of this type.
    pub fn of(ty: &'static Ty) -> Node {
        match ty {
            Ty::Object(r) => match r.get() {
                def if matches!(def.shape, Shape::Struct(_)) => Node::Struct(def),
                _ => Node::Opaque,
            },
            Ty::Map(inner) => Node::Map(inner),
            _ => Node::Opaque,
        }
    }

    /// The field `key` of this node (for a struct), or `None`.
    pub fn field(&self, key: &str) -> Option<&'static Field> {
        match self {
            Node::Struct(def) => def.field(key),
            _ => None,
        }
    }

    /// The node of the value under `key`.
    pub fn child(&self, key: &str) -> Node {
        match self {
            Node::Struct(def) => def.field(key).map_or(Node::Opaque, |f| Node::of(&f.ty)),
            Node::Map(inner) => Node::of(inner),
            Node::Opaque => Node::Opaque,
        }
    }

    /// The node of the elements of the list under `key`.
    pub fn element(&self, key: &str) -> Node {
        let ty = match self {
            Node::Struct(def) => def.field(key).map(|f| &f.ty),
            Node::Map(inner) => Some(*inner),
            Node::Opaque => None,
        };
        match ty {
            Some(Ty::Array(inner)) => Node::of(inner),
            _ => Node::Opaque,
        }
    }
}

/// The fields of `object` that the schema of `kind` does not have, as Kubernetes names
/// them in a strict decoding error (`spec.template.spec.containers[0].foo`). Empty for an
/// unknown kind. The API server rejects these under `fieldValidation=Strict`.
pub fn unknown_fields(kind: &str, object: &Value) -> Vec<String> {
    type_for_kind(kind).map_or_else(Vec::new, |def| unknown_fields_of(def, object))
}

/// [`unknown_fields`] against the schema `def` (one version of a kind served at
/// several).
pub fn unknown_fields_of(def: &'static TypeDef, object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_unknown(Node::Struct(def), object, "", &mut out);
    out
}

fn walk_unknown(node: Node, value: &Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (node, value) {
        (Node::Struct(def), Value::Object(map)) => {
            for (key, child) in map {
                match def.field(key) {
                    None => out.push(join(key)),
                    Some(f) => walk_field(&f.ty, child, &join(key), out),
                }
            }
        }
        (Node::Map(inner), Value::Object(map)) => {
            for (key, child) in map {
                walk_field(inner, child, &join(key), out);
            }
        }
        _ => {}
    }
}

fn walk_field(ty: &'static Ty, value: &Value, path: &str, out: &mut Vec<String>) {
    match (ty, value) {
        (Ty::Array(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk_field(inner, item, &format!("{path}[{i}]"), out);
            }
        }
        _ => walk_unknown(Node::of(ty), value, path, out),
    }
}

/// Removes from `object` the fields the schema of `kind` does not have whose value is a
/// zero (`""`, `0`, `false`, `null`, or an object or list of zeros only). A protobuf
/// body carries every non-pointer field of the Go type, set or not; its zeros mean
/// "unset", so only a field set to something is left for strict validation to report.
pub fn drop_unknown_zeros(kind: &str, object: &mut Value) {
    if let Some(def) = type_for_kind(kind) {
        drop_unknown_zeros_of(def, object);
    }
}

/// [`drop_unknown_zeros`] against the schema `def`.
pub fn drop_unknown_zeros_of(def: &'static TypeDef, object: &mut Value) {
    prune(Node::Struct(def), object);
}

fn prune(node: Node, value: &mut Value) {
    match (node, value) {
        (Node::Struct(def), Value::Object(map)) => {
            map.retain(|key, child| def.field(key).is_some() || !is_zero(child));
            for (key, child) in map.iter_mut() {
                if let Some(f) = def.field(key) {
                    prune_field(&f.ty, child);
                }
            }
        }
        (Node::Map(inner), Value::Object(map)) => {
            for child in map.values_mut() {
                prune_field(inner, child);
            }
        }
        _ => {}
    }
}

fn prune_field(ty: &'static Ty, value: &mut Value) {
    match (ty, value) {
        (Ty::Array(inner), Value::Array(items)) => {
            for item in items {
                prune_field(inner, item);
            }
        }
        (_, value) => prune(Node::of(ty), value),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(is_zero),
        Value::Object(map) => map.values().all(is_zero),
    }
}

#[cfg(test)]
mod tests;
