//! Validation of objects before the apiserver persists them, as Kubernetes validates
//! them: each problem becomes a [`FieldCause`] naming the field
//! (`spec.containers[0].image`), a machine-readable reason (`FieldValueRequired`) and a
//! message worded as Kubernetes words it (`Required value`,
//! `Invalid value: "Foo_Bar": a lowercase RFC 1123 subdomain must consist of ...`), so the
//! API can answer `422 Invalid` with `Status.details.causes` that kubectl prints as is.
//!
//! What this module owns: the rules of every top-level kind on create
//! ([`Validate::validate`]) and on update ([`Validate::validate_update`]), and the string
//! format checks they share ([`is_dns1123_subdomain`], [`is_qualified_name`], ...).
//! What it does not: namespace presence and existence, name generation, uid,
//! `resourceVersion` and timestamps (the apiserver fills those in before it validates),
//! admission (quotas, defaults from other objects) and allocation (cluster IPs, node
//! ports from the configured range: see [`validate_node_port_range`]).
//!
//! Conventions, as in Kubernetes:
//! - Objects are validated **after** defaulting ([`super::defaults`]); a field defaulting
//!   always fills (a port's protocol, a pod's `restartPolicy`) is `Required` when missing.
//! - `validate_update(new, old)` includes everything `validate` checks on the new object
//!   plus the update rules (immutable fields), so the apiserver calls one or the other.
//!   Before calling it, the apiserver is expected to have carried over what the client
//!   may omit on update (uid, creationTimestamp, allocated cluster IPs and node ports:
//!   [`super::defaults::carry_over_allocations`]), as Kubernetes' `BeforeUpdate` does;
//!   the `resourceVersion` precondition is the store's compare-and-swap, not a rule here.
//! - A missing `metadata.name` is `Required` unless `generateName` is set (the apiserver
//!   generates the name from it, before or after validation).
//! - Causes come in a stable order (the order fields are visited; maps in key order).
//!
//! The submodules: `names` (string formats), `meta` (metadata, labels, label selectors),
//! `pod` (pod specs and pods; with `container` (lifecycle, sidecars, the newer
//! container fields), `security` (security contexts, sysctls, host namespaces),
//! `scheduling` (pod affinity, topology spread, gates, refused fields) and `dns`), `service` (services and endpoints), `workloads` (replica
//! sets, replication controllers, deployments, scale) and `cluster` (nodes, namespaces,
//! service accounts, leases, events).

use std::fmt;

use rudder_protocol::resources::{Resource, Status, StatusCause};
use serde::{Deserialize, Serialize};

mod cluster;
mod config;
mod container;
mod dns;
mod meta;
mod names;
mod pod;
#[cfg(test)]
mod pod_fields_tests;
mod scheduling;
mod security;
mod service;
mod statefulset;
mod workloads;

pub use config::{validate_data_keys, validate_immutable, MAX_DATA_SIZE};
pub use meta::{
    validate_annotations, validate_label_selector, validate_labels, validate_object_meta,
    validate_object_meta_update, NameRule, TOTAL_ANNOTATION_SIZE_LIMIT,
};
pub use names::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_env_var_name,
    is_http_header_name, is_label_value, is_qualified_name, is_valid_cidr, is_valid_ip,
    is_valid_percent, is_valid_port_name, is_valid_port_num,
};
pub(crate) use pod::validate_node_selector;
pub use pod::{validate_pod_spec, PodSpecContext};
pub use service::validate_node_port_range;

/// Why a field is invalid: Kubernetes' `CauseType` strings for field errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CauseReason {
    /// A referenced value does not exist (e.g. a volume mount naming no volume).
    #[serde(rename = "FieldValueNotFound")]
    NotFound,
    /// A value that must be set is missing.
    #[serde(rename = "FieldValueRequired")]
    Required,
    /// A value that must be unique is repeated.
    #[serde(rename = "FieldValueDuplicate")]
    Duplicate,
    /// A value is malformed or out of range.
    #[serde(rename = "FieldValueInvalid")]
    Invalid,
    /// A value is not one of a closed set.
    #[serde(rename = "FieldValueNotSupported")]
    NotSupported,
    /// A well-formed value is not allowed here (e.g. changing an immutable field).
    #[serde(rename = "FieldValueForbidden")]
    Forbidden,
    /// A value is longer than allowed.
    #[serde(rename = "FieldValueTooLong")]
    TooLong,
}

impl CauseReason {
    /// The Kubernetes string, e.g. `FieldValueRequired`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CauseReason::NotFound => "FieldValueNotFound",
            CauseReason::Required => "FieldValueRequired",
            CauseReason::Duplicate => "FieldValueDuplicate",
            CauseReason::Invalid => "FieldValueInvalid",
            CauseReason::NotSupported => "FieldValueNotSupported",
            CauseReason::Forbidden => "FieldValueForbidden",
            CauseReason::TooLong => "FieldValueTooLong",
        }
    }

    /// The start of the message, e.g. `Required value`.
    const fn summary(&self) -> &'static str {
        match self {
            CauseReason::NotFound => "Not found",
            CauseReason::Required => "Required value",
            CauseReason::Duplicate => "Duplicate value",
            CauseReason::Invalid => "Invalid value",
            CauseReason::NotSupported => "Unsupported value",
            CauseReason::Forbidden => "Forbidden",
            CauseReason::TooLong => "Too long",
        }
    }
}

impl fmt::Display for CauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The offending value quoted in a message, printed as Kubernetes prints it: strings
/// quoted (`"Foo_Bar"`), numbers bare, absent values as `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// A string, printed quoted and escaped like Go's `%q`.
    Str(String),
    /// A number, printed bare.
    Int(i64),
    /// Printed exactly as given (structures, lists, booleans).
    Raw(String),
    /// An absent value, printed `null`.
    Null,
}

impl BadValue {
    fn render(&self) -> String {
        match self {
            BadValue::Str(s) => go_quote(s),
            BadValue::Int(i) => i.to_string(),
            BadValue::Raw(s) => s.clone(),
            BadValue::Null => "null".to_owned(),
        }
    }
}

impl From<&str> for BadValue {
    fn from(v: &str) -> Self {
        BadValue::Str(v.to_owned())
    }
}

impl From<&String> for BadValue {
    fn from(v: &String) -> Self {
        BadValue::Str(v.clone())
    }
}

impl From<String> for BadValue {
    fn from(v: String) -> Self {
        BadValue::Str(v)
    }
}

impl From<i32> for BadValue {
    fn from(v: i32) -> Self {
        BadValue::Int(i64::from(v))
    }
}

impl From<i64> for BadValue {
    fn from(v: i64) -> Self {
        BadValue::Int(v)
    }
}

impl From<bool> for BadValue {
    fn from(v: bool) -> Self {
        BadValue::Raw(v.to_string())
    }
}

impl<T: Into<BadValue>> From<Option<T>> for BadValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(BadValue::Null, Into::into)
    }
}

/// Quotes a string as Go's `%q` does, which is how Kubernetes prints string values.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Several messages as Kubernetes' error aggregate prints them: one as it is, several in
/// brackets, comma-separated.
pub fn aggregate<T: std::fmt::Display>(messages: &[T]) -> String {
    match messages {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A path to a field in Kubernetes' notation: `spec.containers[0].resources.limits[cpu]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// A path starting at a top-level field, e.g. `spec`.
    pub fn new(root: &str) -> Self {
        FieldPath(root.to_owned())
    }

    /// The path of a field of this one: `spec` → `spec.containers`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            FieldPath(name.to_owned())
        } else {
            FieldPath(format!("{}.{name}", self.0))
        }
    }

    /// The path of a list element: `spec.containers` → `spec.containers[0]`.
    pub fn index(&self, i: usize) -> Self {
        FieldPath(format!("{}[{i}]", self.0))
    }

    /// The path of a map entry: `resources.limits` → `resources.limits[cpu]`.
    pub fn key(&self, key: &str) -> Self {
        FieldPath(format!("{}[{key}]", self.0))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One validation failure, in the form of a Kubernetes `StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCause {
    /// The field at fault, e.g. `spec.containers[0].image`.
    pub field: String,
    /// Why, machine-readable.
    pub reason: CauseReason,
    /// Why, for humans, e.g. `Required value`.
    pub message: String,
}

impl FieldCause {
    fn with(path: &FieldPath, reason: CauseReason, value: Option<&BadValue>, detail: &str) -> Self {
        let mut message = reason.summary().to_owned();
        if let Some(v) = value {
            message.push_str(": ");
            message.push_str(&v.render());
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        FieldCause {
            field: path.as_str().to_owned(),
            reason,
            message,
        }
    }

    /// `Required value[: detail]`.
    pub fn required(path: &FieldPath, detail: &str) -> Self {
        Self::with(path, CauseReason::Required, None, detail)
    }

    /// `Invalid value: <value>: detail`.
    pub fn invalid(path: &FieldPath, value: impl Into<BadValue>, detail: &str) -> Self {
        Self::with(path, CauseReason::Invalid, Some(&value.into()), detail)
    }

    /// `Unsupported value: <value>: supported values: "A", "B"`.
    pub fn not_supported(path: &FieldPath, value: impl Into<BadValue>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::with(
            path,
            CauseReason::NotSupported,
            Some(&value.into()),
            &detail,
        )
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(path: &FieldPath, value: impl Into<BadValue>) -> Self {
        Self::with(path, CauseReason::Duplicate, Some(&value.into()), "")
    }

    /// `Forbidden: detail`.
    pub fn forbidden(path: &FieldPath, detail: &str) -> Self {
        Self::with(path, CauseReason::Forbidden, None, detail)
    }

    /// `Too long: must have at most <max> bytes`.
    pub fn too_long(path: &FieldPath, max: usize) -> Self {
        Self::with(
            path,
            CauseReason::TooLong,
            None,
            &format!("must have at most {max} bytes"),
        )
    }

    /// `Not found: <value>`.
    pub fn not_found(path: &FieldPath, value: impl Into<BadValue>) -> Self {
        Self::with(path, CauseReason::NotFound, Some(&value.into()), "")
    }
}

impl fmt::Display for FieldCause {
    /// `field: message`, as Kubernetes prints a field error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl From<FieldCause> for StatusCause {
    fn from(c: FieldCause) -> Self {
        StatusCause {
            reason: c.reason.as_str().to_owned(),
            message: c.message,
            field: c.field,
        }
    }
}

/// The `422 Invalid` status for an object of kind `K` named `name` that failed with
/// `causes`: `Pod "web" is invalid: spec.containers[0].image: Required value`.
pub fn invalid_status<K: Resource>(name: &str, causes: Vec<FieldCause>) -> Status {
    Status::invalid::<K>(name, causes.into_iter().map(StatusCause::from).collect())
}

/// Validation of a kind, on create and on update.
pub trait Validate {
    /// Everything wrong with this (defaulted) object; empty when it may be created.
    fn validate(&self) -> Vec<FieldCause>;

    /// Everything wrong with replacing `old` by this (defaulted) object: what
    /// [`Validate::validate`] finds plus the update rules (immutable fields).
    fn validate_update(&self, old: &Self) -> Vec<FieldCause>;

    /// Rules of a create request alone, on top of [`Validate::validate`] (which also
    /// checks objects that subresources such as a binding write afresh), e.g. a pod
    /// may not be created with ephemeral containers.
    fn validate_create(&self) -> Vec<FieldCause> {
        Vec::new()
    }
}

/// The message of a field that may not change: `field is immutable`.
pub(crate) const IMMUTABLE: &str = "field is immutable";

#[cfg(test)]
pub(crate) mod testutil {
    //! Assertions shared by the validation tests.

    use super::{CauseReason, FieldCause};

    /// Asserts that `got` holds exactly the causes `want` as (field, reason) pairs, in
    /// any order; `case` names the table entry.
    pub fn assert_causes(case: &str, got: &[FieldCause], want: &[(&str, CauseReason)]) {
        let mut got_pairs: Vec<(String, CauseReason)> =
            got.iter().map(|c| (c.field.clone(), c.reason)).collect();
        let mut want_pairs: Vec<(String, CauseReason)> =
            want.iter().map(|(f, r)| ((*f).to_owned(), *r)).collect();
        got_pairs.sort();
        want_pairs.sort();
        assert_eq!(got_pairs, want_pairs, "{case}: causes were {got:#?}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rudder_protocol::resources::Pod;

    use super::*;

    #[test]
    fn messages_are_worded_as_kubernetes_words_them() {
        let p = FieldPath::new("spec").child("containers").index(0);
        let table: Vec<(&str, FieldCause, &str, &str)> = vec![
            (
                "required",
                FieldCause::required(&p.child("image"), ""),
                "spec.containers[0].image",
                "Required value",
            ),
            (
                "required with detail",
                FieldCause::required(
                    &FieldPath::new("metadata").child("name"),
                    "name or generateName is required",
                ),
                "metadata.name",
                "Required value: name or generateName is required",
            ),
            (
                "invalid string",
                FieldCause::invalid(&p.child("name"), "Foo_Bar", "bad"),
                "spec.containers[0].name",
                "Invalid value: \"Foo_Bar\": bad",
            ),
            (
                "invalid number",
                FieldCause::invalid(
                    &p.child("ports").index(1).child("containerPort"),
                    70000,
                    "must be between 1 and 65535, inclusive",
                ),
                "spec.containers[0].ports[1].containerPort",
                "Invalid value: 70000: must be between 1 and 65535, inclusive",
            ),
            (
                "invalid null",
                FieldCause::invalid(
                    &FieldPath::new("spec").child("activeDeadlineSeconds"),
                    None::<i64>,
                    "x",
                ),
                "spec.activeDeadlineSeconds",
                "Invalid value: null: x",
            ),
            (
                "not supported",
                FieldCause::not_supported(
                    &FieldPath::new("spec").child("restartPolicy"),
                    "Never",
                    &["Always"],
                ),
                "spec.restartPolicy",
                "Unsupported value: \"Never\": supported values: \"Always\"",
            ),
            (
                "duplicate",
                FieldCause::duplicate(&p.child("name"), "web"),
                "spec.containers[0].name",
                "Duplicate value: \"web\"",
            ),
            (
                "forbidden",
                FieldCause::forbidden(&FieldPath::new("spec"), "no"),
                "spec",
                "Forbidden: no",
            ),
            (
                "too long",
                FieldCause::too_long(&FieldPath::new("metadata").child("annotations"), 262144),
                "metadata.annotations",
                "Too long: must have at most 262144 bytes",
            ),
            (
                "not found",
                FieldCause::not_found(&p.child("volumeMounts").index(0).child("name"), "data"),
                "spec.containers[0].volumeMounts[0].name",
                "Not found: \"data\"",
            ),
            (
                "map key",
                FieldCause::required(&p.child("resources").child("limits").key("cpu"), ""),
                "spec.containers[0].resources.limits[cpu]",
                "Required value",
            ),
        ];
        for (name, cause, field, message) in table {
            assert_eq!(cause.field, field, "{name}: field");
            assert_eq!(cause.message, message, "{name}: message");
        }
    }

    #[test]
    fn go_quoting() {
        let table = [
            ("plain", "abc", "\"abc\""),
            ("quote", "a\"b", "\"a\\\"b\""),
            ("backslash", "a\\b", "\"a\\\\b\""),
            ("newline", "a\nb", "\"a\\nb\""),
            ("nul", "a\u{0}", "\"a\\x00\""),
            ("unicode kept", "é", "\"é\""),
        ];
        for (name, input, want) in table {
            assert_eq!(go_quote(input), want, "{name}");
        }
    }

    #[test]
    fn reasons_serialize_to_kubernetes_strings() {
        let table = [
            (CauseReason::NotFound, "FieldValueNotFound"),
            (CauseReason::Required, "FieldValueRequired"),
            (CauseReason::Duplicate, "FieldValueDuplicate"),
            (CauseReason::Invalid, "FieldValueInvalid"),
            (CauseReason::NotSupported, "FieldValueNotSupported"),
            (CauseReason::Forbidden, "FieldValueForbidden"),
            (CauseReason::TooLong, "FieldValueTooLong"),
        ];
        for (reason, want) in table {
            assert_eq!(reason.as_str(), want);
            assert_eq!(
                serde_json::to_string(&reason).unwrap(),
                format!("\"{want}\"")
            );
            let back: CauseReason = serde_json::from_str(&format!("\"{want}\"")).unwrap();
            assert_eq!(back, reason);
        }
    }

    /// Parses `json` as `K`, defaults it and validates it, as the apiserver does on create.
    fn defaulted_causes<K>(json: serde_json::Value) -> Vec<FieldCause>
    where
        K: Validate + crate::apiserver::defaults::Defaults + serde::de::DeserializeOwned,
    {
        let mut object: K = serde_json::from_value(json).unwrap();
        object.apply_defaults();
        object.validate()
    }

    #[test]
    fn typical_manifests_are_valid_once_defaulted() {
        use rudder_protocol::resources::{
            Deployment, Endpoints, Namespace, ReplicationController, Service,
        };
        use serde_json::json;

        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx", "image": "nginx:1.25",
                        "ports": [{"containerPort": 80, "name": "http"}],
                        "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                        "livenessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 5}
                    }]}
                }
            }
        });
        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "NodePort", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                               {"name": "https", "port": 443, "nodePort": 30443}]}
        });
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "busy", "namespace": "default"},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": "busy", "image": "busybox", "command": ["sleep", "3600"],
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
            }], "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                 "effect": "NoExecute", "tolerationSeconds": 300}]}
        });
        let rc = json!({
            "apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
        });
        let endpoints = json!({
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}]
        });
        let table: Vec<(&str, Vec<FieldCause>)> = vec![
            ("deployment", defaulted_causes::<Deployment>(deployment)),
            ("service", defaulted_causes::<Service>(service)),
            ("pod", defaulted_causes::<Pod>(pod)),
            (
                "replication controller",
                defaulted_causes::<ReplicationController>(rc),
            ),
            ("endpoints", defaulted_causes::<Endpoints>(endpoints)),
            (
                "namespace",
                defaulted_causes::<Namespace>(json!({"metadata": {"name": "team-a"}})),
            ),
        ];
        for (name, causes) in table {
            assert!(causes.is_empty(), "{name}: {causes:#?}");
        }
    }

    #[test]
    fn causes_become_an_invalid_status() {
        let causes = vec![FieldCause::required(
            &FieldPath::new("spec")
                .child("containers")
                .index(0)
                .child("image"),
            "",
        )];
        let status = invalid_status::<Pod>("web", causes);
        assert_eq!(status.code, 422);
        assert_eq!(status.reason, "Invalid");
        assert_eq!(
            status.message,
            "Pod \"web\" is invalid: spec.containers[0].image: Required value"
        );
        let details = status.details.unwrap();
        assert_eq!(details.causes.len(), 1);
        assert_eq!(details.causes[0].reason, "FieldValueRequired");
        assert_eq!(details.causes[0].field, "spec.containers[0].image");
    }
}
