//! One module per served kind: everything the API server knows about that kind beyond
//! its protocol struct, as Kubernetes keeps it in `pkg/registry/<group>/<kind>/strategy.go`.
//!
//! A kind implements [`Strategy`]: its resource entry ([`Served`], next to the protocol
//! struct), defaulting ([`Defaults`]) and validation on create and update ([`Validate`]),
//! the fields its field selectors support, its printer columns and cells, and the hooks
//! of the generic write path (admission on create, preparation of an update, how a
//! deletion proceeds, extra finalizers, address claims). The generic code in
//! [`super::core`], [`super::table`] and [`super::selectors`] asks the kind through
//! [`for_kind`] and keeps no `kind == "..."` branch.
//!
//! The list of kinds is [`rudder_protocol::served_kinds!`]; [`KINDS`] expands it, so a
//! served kind without a module here does not compile.
//!
//! Adding a kind: the protocol struct (with `impl Served`), one line in `served_kinds!`,
//! and a module here with `impl Strategy` plus its `Defaults` and `Validate` (as
//! `configmap.rs` and `secret.rs` have them). The kinds that came first keep their larger
//! defaulting and validation in [`super::defaults`] and [`super::validation`], shared
//! with the pod templates of workloads, as Kubernetes keeps `validation.go` apart from
//! `strategy.go`.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use rudder_protocol::registry::{ResourceInfo, Served};
use rudder_protocol::resources::{quota, Quantity, Resource, ResourceList, Time};
use serde_json::{json, Value};

use super::admission;
use super::core::{fail, ApiError, ApiResult};
use super::defaults::Defaults;
use super::request::UserInfo;
use super::table::{default_row, Column, Row, DEFAULT_COLUMNS};
use super::validation::{invalid_status, Validate};

mod apiservice;
mod certificatesigningrequest;
mod clusterrole;
mod clusterrolebinding;
mod configmap;
mod controllerrevision;
mod cronjob;
mod daemonset;
mod deployment;
mod endpoints;
mod event;
mod horizontalpodautoscaler;
mod ingress;
mod job;
mod lease;
mod limitrange;
mod namespace;
mod networkpolicy;
mod node;
mod persistentvolume;
mod persistentvolumeclaim;
mod pod;
pub(crate) use pod::pod_total;
mod poddisruptionbudget;
mod priorityclass;
mod replicaset;
mod replicationcontroller;
mod resourcequota;
mod role;
mod rolebinding;
mod secret;
mod service;
mod serviceaccount;
mod statefulset;
mod storageclass;

/// A field that field selectors of a kind support, e.g. `spec.nodeName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectableField {
    /// The label, as a selector names it.
    pub label: &'static str,
    /// Where its value is in the object, dot-separated (usually the label itself).
    pub path: &'static str,
    /// The value of an absent field, as Go's zero value prints (`""`, `false`, `0`).
    pub zero: &'static str,
}

/// A selectable field whose value is at its label's path, `""` when absent.
pub const fn field(label: &'static str) -> SelectableField {
    SelectableField {
        label,
        path: label,
        zero: "",
    }
}

impl SelectableField {
    /// The same field, with this value when absent.
    pub const fn zero(self, zero: &'static str) -> SelectableField {
        SelectableField { zero, ..self }
    }

    /// The same field, read at this path.
    pub const fn at(self, path: &'static str) -> SelectableField {
        SelectableField { path, ..self }
    }

    /// The value in `obj`: strings as they are, numbers and booleans printed, absent
    /// values (or objects and lists) as the zero value.
    fn value(&self, obj: &Value) -> String {
        let mut v = obj;
        for key in self.path.split('.') {
            match v.get(key) {
                Some(next) => v = next,
                None => return self.zero.to_owned(),
            }
        }
        match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => self.zero.to_owned(),
        }
    }
}

/// How a deletion of an object proceeds when no finalizer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The object is removed at once.
    Immediate,
    /// The object is marked terminating and stays until its owner (a pod's kubelet)
    /// has stopped it and deletes it again with no grace.
    Graceful,
    /// The object is marked terminating while anything lives inside it (a namespace:
    /// its controller empties it, then clears `spec.finalizers`); an empty one is
    /// removed at once.
    WhenEmpty,
}

/// What admission on create may use from the server's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The `tolerationSeconds` of the default not-ready/unreachable tolerations.
    pub default_toleration_seconds: i64,
}

/// Everything the API server knows about one kind. The defaults are those of a plain
/// kind: metadata fields only in selectors, Kubernetes' default table, no hooks.
pub trait Strategy: Resource + Served + Defaults + Validate {
    /// Fields, besides `metadata.name` (and `metadata.namespace` for namespaced
    /// kinds), that field selectors support.
    const FIELDS: &'static [SelectableField] = &[];

    /// Whether `metadata.namespace` is selectable (namespaced kinds only, by default).
    const NAMESPACE_SELECTABLE: bool = Self::NAMESPACED;

    /// The printer columns of `kubectl get`.
    const COLUMNS: &'static [Column] = DEFAULT_COLUMNS;

    /// Whether the object's `spec.clusterIP`/`nodePort`s are claimed in the store in the
    /// same transaction as the object (and released when it goes).
    const CLAIMS_ADDRESSES: bool = false;

    /// Admission plugins that read other objects, run in order on create before
    /// [`Strategy::prepare_create`].
    const ADMISSION: &'static [admission::Plugin] = &[];

    /// Validating admission plugins, run in order on create and update (every part)
    /// after defaulting and validation, before the write.
    const VALIDATION: &'static [admission::Validator] = &[];

    /// A minimal valid object of this kind (with no name; in `namespace` when the kind
    /// is namespaced): what the generic tests create for every kind, so that the one
    /// place saying what an object of this kind needs is its module.
    fn example(namespace: &str) -> Value;

    /// The cells of one row for [`Strategy::COLUMNS`] at `now`, and the row's
    /// conditions. By default Kubernetes' default row (the name and the creation time),
    /// as for a kind the server does not know.
    fn cells(&self, _now: Time) -> Row {
        default_row(&serde_json::to_value(self).unwrap_or_default())
    }

    /// Admission on create (not on update): server-set fields, defaults that apply once.
    fn prepare_create(_obj: &mut Self, _admission: &Admission) {}

    /// On create, before decoding: what the object records of the user creating it
    /// (a CertificateSigningRequest's `spec.username` and `groups`).
    fn requested_by(_obj: &mut Value, _user: &UserInfo) {}

    /// Preparation of a spec update (not a status update) of `old` into `new`, before
    /// defaulting and validation.
    fn prepare_update(_new: &mut Value, _old: &Value) {}

    /// How a deletion with this grace period proceeds for `old`.
    fn deletion(_old: &Self, _grace: i64) -> Deletion {
        Deletion::Immediate
    }

    /// What marking `obj` terminating changes besides `deletionTimestamp`.
    fn mark_terminating(_obj: &mut Value) {}

    /// Whether something besides `metadata.finalizers` still holds a terminating `obj`.
    fn finalizers_pending(_obj: &Value) -> bool {
        false
    }

    /// Why no object of this kind named `name` may be deleted, if so (the immortal
    /// namespaces of NamespaceLifecycle admission).
    fn delete_refused(_name: &str) -> Option<&'static str> {
        None
    }

    /// Quota: what this object consumes besides its object count
    /// (`count/<resource>`), as Kubernetes' quota evaluator of the kind counts it (a
    /// pod's `pods` and `requests.cpu`, a Service's `services`, ...).
    fn quota_usage(&self, _usage: &mut ResourceList) {}

    /// Quota: whether the quota resource `name` (besides the object count) is one
    /// objects of this kind consume, so that a quota capping it is charged by their
    /// creation (and may require them to state it, [`Strategy::quota_constraints`]).
    fn quota_matches(_name: &str) -> bool {
        false
    }

    /// Quota: whether this object is in the quota scope `scope` (`BestEffort`, ...);
    /// `None` for kinds without scopes, which scoped quotas never count.
    fn quota_scope(&self, _scope: &str) -> Option<bool> {
        None
    }

    /// Quota: what this object must state about `capped` (the resources of this kind
    /// that a quota caps), or why it cannot be admitted (Kubernetes' `must specify ...`).
    fn quota_constraints(&self, _capped: &[&str]) -> Result<(), String> {
        Ok(())
    }
}

/// [`Strategy`] of one kind, callable without naming the kind's type.
pub trait KindOps: Send + Sync {
    /// The resource entry.
    fn info(&self) -> &'static ResourceInfo;

    /// Defaulting and validation through the typed model: on create when `old` is
    /// `None`, as an update of `old` otherwise. The object as the typed model writes
    /// it (unknown fields dropped, defaults filled), or the 4xx to answer.
    fn typed(&self, obj: Value, old: Option<&Value>) -> ApiResult<Value>;

    /// [`KindOps::typed`] of a new object, after admission
    /// ([`Strategy::prepare_create`]): what a create stores.
    fn admit(&self, obj: Value, admission: &Admission) -> ApiResult<Value>;

    /// [`Strategy::prepare_update`].
    fn prepare_update(&self, new: &mut Value, old: &Value);

    /// [`Strategy::requested_by`] (nothing, for kinds without a `Strategy`).
    fn requested_by(&self, _obj: &mut Value, _user: &UserInfo) {}

    /// [`Strategy::deletion`] on JSON (an unreadable object is removed at once).
    fn deletion(&self, old: &Value, grace: i64) -> Deletion;

    /// [`Strategy::mark_terminating`].
    fn mark_terminating(&self, obj: &mut Value);

    /// [`Strategy::finalizers_pending`].
    fn finalizers_pending(&self, obj: &Value) -> bool;

    /// [`Strategy::CLAIMS_ADDRESSES`].
    fn claims_addresses(&self) -> bool;

    /// [`Strategy::ADMISSION`].
    fn admission_plugins(&self) -> &'static [admission::Plugin];

    /// The labels field selectors support, `metadata.name` first.
    fn field_labels(&self) -> Vec<&'static str>;

    /// The selectable fields of `obj`: every label of [`KindOps::field_labels`], with
    /// absent fields as their zero value.
    fn fields(&self, obj: &Value) -> BTreeMap<String, String>;

    /// The printer columns.
    fn columns(&self) -> &'static [Column];

    /// The row of `obj` (a malformed object prints as an empty one).
    fn row(&self, obj: &Value, now: Time) -> Row;

    /// [`Strategy::example`] named `name`, with `apiVersion`, `kind` and (for
    /// namespaced kinds) `metadata.namespace` filled in.
    fn example(&self, name: &str, namespace: &str) -> Value;

    // The defaults below are those of a kind that only counts (custom resources, CRDs);
    // the built-in kinds answer through their `Strategy`.

    /// [`Strategy::delete_refused`].
    fn delete_refused(&self, _name: &str) -> Option<&'static str> {
        None
    }

    /// [`Strategy::VALIDATION`].
    fn validation_plugins(&self) -> &'static [admission::Validator] {
        &[]
    }

    /// What `obj` consumes of quota: its object count and [`Strategy::quota_usage`]
    /// (an unreadable object: its count alone).
    fn quota_usage(&self, _obj: &Value) -> ResourceList {
        count_usage(self.info())
    }

    /// Whether objects of this kind consume the quota resource `name`: their object
    /// count, or [`Strategy::quota_matches`].
    fn quota_matches(&self, name: &str) -> bool {
        counts_as(self.info(), name)
    }

    /// [`Strategy::quota_scope`] on JSON (an unreadable object: `None`).
    fn quota_scope(&self, _obj: &Value, _scope: &str) -> Option<bool> {
        None
    }

    /// [`Strategy::quota_constraints`] on JSON.
    fn quota_constraints(&self, _obj: &Value, _capped: &[&str]) -> Result<(), String> {
        Ok(())
    }
}

/// The [`KindOps`] of `K`.
struct Kind<K>(PhantomData<fn() -> K>);

impl<K> Kind<K> {
    const NEW: Kind<K> = Kind(PhantomData);
}

/// `obj` as a `K`, or the 400 to answer.
fn decode<K: Strategy>(obj: &Value) -> ApiResult<K> {
    K::deserialize(obj).map_err(|e| {
        fail(
            400,
            "BadRequest",
            format!("the object is not a valid {}: {e}", K::KIND),
        )
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    fail(500, "InternalError", e.to_string())
}

const NAME: SelectableField = field("metadata.name");
const NAMESPACE: SelectableField = field("metadata.namespace");

impl<K: Strategy> Kind<K> {
    fn selectable() -> impl Iterator<Item = &'static SelectableField> {
        std::iter::once(&NAME)
            .chain(K::NAMESPACE_SELECTABLE.then_some(&NAMESPACE))
            .chain(K::FIELDS.iter())
    }

    /// Defaults and validates `typed` (as an update of `old`, if any; with the
    /// create-only rules when `create`) and writes it.
    fn checked(mut typed: K, old: Option<&Value>, create: bool) -> ApiResult<Value> {
        typed.apply_defaults();
        let causes = match old {
            None if create => {
                let mut causes = typed.validate();
                causes.extend(typed.validate_create());
                causes
            }
            None => typed.validate(),
            Some(old) => {
                let old = K::deserialize(old)
                    .map_err(|e| internal(format!("stored object unreadable: {e}")))?;
                typed.validate_update(&old)
            }
        };
        if !causes.is_empty() {
            let name = typed.metadata().name.clone();
            return Err(Box::new(invalid_status::<K>(&name, causes)));
        }
        serde_json::to_value(&typed).map_err(internal)
    }
}

impl<K: Strategy> KindOps for Kind<K> {
    fn info(&self) -> &'static ResourceInfo {
        &const { K::INFO }
    }

    fn typed(&self, obj: Value, old: Option<&Value>) -> ApiResult<Value> {
        Self::checked(decode(&obj)?, old, false)
    }

    fn admit(&self, obj: Value, admission: &Admission) -> ApiResult<Value> {
        let mut typed: K = decode(&obj)?;
        K::prepare_create(&mut typed, admission);
        Self::checked(typed, None, true)
    }

    fn prepare_update(&self, new: &mut Value, old: &Value) {
        K::prepare_update(new, old);
    }

    fn requested_by(&self, obj: &mut Value, user: &UserInfo) {
        K::requested_by(obj, user);
    }

    fn deletion(&self, old: &Value, grace: i64) -> Deletion {
        match K::deserialize(old) {
            Ok(old) => K::deletion(&old, grace),
            Err(_) => Deletion::Immediate,
        }
    }

    fn mark_terminating(&self, obj: &mut Value) {
        K::mark_terminating(obj);
    }

    fn finalizers_pending(&self, obj: &Value) -> bool {
        K::finalizers_pending(obj)
    }

    fn claims_addresses(&self) -> bool {
        K::CLAIMS_ADDRESSES
    }

    fn admission_plugins(&self) -> &'static [admission::Plugin] {
        K::ADMISSION
    }

    fn validation_plugins(&self) -> &'static [admission::Validator] {
        K::VALIDATION
    }

    fn field_labels(&self) -> Vec<&'static str> {
        Self::selectable().map(|f| f.label).collect()
    }

    fn fields(&self, obj: &Value) -> BTreeMap<String, String> {
        Self::selectable()
            .map(|f| (f.label.to_owned(), f.value(obj)))
            .collect()
    }

    fn columns(&self) -> &'static [Column] {
        K::COLUMNS
    }

    fn row(&self, obj: &Value, now: Time) -> Row {
        K::deserialize(obj).unwrap_or_default().cells(now)
    }

    fn delete_refused(&self, name: &str) -> Option<&'static str> {
        K::delete_refused(name)
    }

    fn quota_usage(&self, obj: &Value) -> ResourceList {
        let mut usage = ResourceList::new();
        if let Ok(typed) = K::deserialize(obj) {
            typed.quota_usage(&mut usage);
        }
        usage.insert(quota::count_name(K::group(), K::PLURAL), one());
        usage
    }

    fn quota_matches(&self, name: &str) -> bool {
        name == quota::count_name(K::group(), K::PLURAL) || K::quota_matches(name)
    }

    fn quota_scope(&self, obj: &Value, scope: &str) -> Option<bool> {
        K::deserialize(obj).ok()?.quota_scope(scope)
    }

    fn quota_constraints(&self, obj: &Value, capped: &[&str]) -> Result<(), String> {
        match K::deserialize(obj) {
            Ok(typed) => typed.quota_constraints(capped),
            Err(_) => Ok(()),
        }
    }

    fn example(&self, name: &str, namespace: &str) -> Value {
        let mut v = K::example(namespace);
        v["apiVersion"] = json!(K::API_VERSION);
        v["kind"] = json!(K::KIND);
        v["metadata"]["name"] = json!(name);
        if K::NAMESPACED {
            v["metadata"]["namespace"] = json!(namespace);
        }
        v
    }
}

macro_rules! kind_table {
    ($($kind:path),* $(,)?) => {
        &[$(&Kind::<$kind>::NEW as &dyn KindOps),*]
    };
}

/// Every served kind, in the order of [`rudder_protocol::registry::RESOURCES`].
pub static KINDS: &[&dyn KindOps] = rudder_protocol::served_kinds!(kind_table);

/// One, as an object counts in quota usage.
/// What an object of a kind that only counts (custom resources, CRDs) consumes of quota:
/// `count/<plural>.<group>`, one.
fn count_usage(info: &ResourceInfo) -> ResourceList {
    let mut usage = ResourceList::new();
    usage.insert(quota::count_name(info.group, info.plural), one());
    usage
}

/// Whether the quota resource `name` is the object count of the kind of `info`.
fn counts_as(info: &ResourceInfo, name: &str) -> bool {
    name == quota::count_name(info.group, info.plural)
}

fn one() -> Quantity {
    Quantity::new(1, Default::default())
}

/// The pod spec of the examples: one container of the demo image.
fn example_pod_spec() -> Value {
    json!({"containers": [{"name": "c", "image": "rudder/demo:latest"}]})
}

/// The example of a workload kind with this `selector`: no replicas, a template
/// labelled `app: example`.
fn example_workload(selector: Value) -> Value {
    json!({"spec": {
        "replicas": 0,
        "selector": selector,
        "template": {"metadata": {"labels": {"app": "example"}}, "spec": example_pod_spec()},
    }})
}

/// The kind module of `kind` (e.g. `Pod`), if it is served.
pub fn for_kind(kind: &str) -> Option<&'static dyn KindOps> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.info().kind == kind)
        .or_else(|| {
            (kind == super::crd::CRD_INFO.kind).then_some(&super::crd::CRD_KIND as &dyn KindOps)
        })
        .or_else(|| super::crd::registry::custom_for_kind(kind).map(|k| k as &'static dyn KindOps))
}

/// The kind module serving `info`. Every entry of the resource table has one (the
/// table and [`KINDS`] expand the same list), so a miss is a bug, answered as a 404.
pub fn for_resource(info: &ResourceInfo) -> ApiResult<&'static dyn KindOps> {
    if let Some(custom) = super::crd::registry::custom_for(info) {
        return Ok(custom);
    }
    for_kind(info.kind)
        .ok_or_else(|| fail(404, "NotFound", format!("kind {} is not served", info.kind)))
}

#[cfg(test)]
mod tests {
    use rudder_protocol::registry::RESOURCES;

    use super::*;

    #[test]
    fn every_resource_has_its_kind_module_in_table_order() {
        assert_eq!(KINDS.len(), RESOURCES.len());
        for (kind, info) in KINDS.iter().zip(RESOURCES) {
            assert_eq!(kind.info(), info);
            assert!(std::ptr::eq(
                for_kind(info.kind).expect("served").info(),
                kind.info()
            ));
        }
        assert!(for_kind("Scale").is_none());
    }

    #[test]
    fn selectable_fields_start_with_the_metadata_ones() {
        for kind in KINDS {
            let labels = kind.field_labels();
            assert_eq!(labels[0], "metadata.name", "{}", kind.info().kind);
            let namespace = labels.contains(&"metadata.namespace");
            if !kind.info().namespaced {
                assert!(!namespace, "{}", kind.info().kind);
            }
            let fields = kind.fields(&json!({"metadata": {"name": "x"}}));
            assert_eq!(fields.len(), labels.len(), "{}", kind.info().kind);
            assert_eq!(fields["metadata.name"], "x");
        }
    }

    #[test]
    fn every_example_is_valid() {
        for kind in KINDS {
            let example = kind.example("x", "default");
            let typed = kind.typed(example.clone(), None);
            assert!(typed.is_ok(), "{}: {typed:?}", kind.info().kind);
            let admitted = kind.admit(
                example,
                &Admission {
                    default_toleration_seconds: 300,
                },
            );
            assert!(admitted.is_ok(), "{}", kind.info().kind);
        }
    }

    #[test]
    fn every_kind_prints_as_many_cells_as_columns() {
        let now = Time(1_700_000_000);
        for kind in KINDS {
            let row = kind.row(&json!({"metadata": {"name": "x"}}), now);
            assert_eq!(
                row.cells.len(),
                kind.columns().len(),
                "{}",
                kind.info().kind
            );
        }
    }
}
