//! The `meta/v1` types every kind shares: object and list metadata, generic lists, the
//! `Status` error object, watch events and label selectors.

use std::collections::BTreeMap;
use std::fmt;

use bincode::{Decode, Encode};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{is_default, null_as_default, Resource, Time};
use crate::schema::Schema;

/// Metadata every persisted object has (`metav1.ObjectMeta`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")]
pub struct ObjectMeta {
    /// Unique within the namespace (or the cluster, for cluster-scoped kinds).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Prefix from which the apiserver generates a unique name when `name` is empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// The namespace; empty for cluster-scoped kinds.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Unique for the object's whole life, set by the apiserver.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The store revision of the last write; the token for compare-and-swap updates.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Incremented on every change to the desired state (spec).
    #[serde(skip_serializing_if = "is_default")]
    pub generation: i64,
    /// When the object was created; set by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// When graceful deletion was requested; set by the apiserver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// The grace period that applies to the pending deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Identifying key/value pairs that selectors match on.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Non-identifying key/value pairs.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Objects this one depends on; the garbage collector deletes orphans.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "uid")]
    pub owner_references: Vec<OwnerReference>,
    /// Conditions that must be cleared before the object is removed from storage.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(set)]
    pub finalizers: Vec<String>,
}

impl ObjectMeta {
    /// The owner reference marked `controller: true`, if any.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|r| r.controller == Some(true))
    }
}

/// A reference from a dependent to its owner (`metav1.OwnerReference`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference")]
pub struct OwnerReference {
    /// The owner's `apiVersion`.
    #[schema(required)]
    pub api_version: String,
    /// The owner's `kind`.
    #[schema(required)]
    pub kind: String,
    /// The owner's name (same namespace as the dependent).
    #[schema(required)]
    pub name: String,
    /// The owner's uid.
    #[schema(required)]
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether foreground deletion of the owner waits for this dependent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Metadata of a list response (`metav1.ListMeta`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")]
pub struct ListMeta {
    /// The store revision the list was read at; a watch can start from it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Token to fetch the next page, when the list was paginated.
    #[serde(rename = "continue", skip_serializing_if = "String::is_empty")]
    pub continue_: String,
    /// How many items remain after this page, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<i64>,
}

/// A list of objects of one kind, e.g. a `PodList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct List<T> {
    /// The list kind, e.g. `PodList`.
    #[serde(default)]
    pub kind: String,
    /// The items' `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// Resource version and pagination.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<T>,
}

impl<T: Resource> List<T> {
    /// A list of `items` with `kind` (`<Kind>List`) and `apiVersion` filled in.
    pub fn new(items: Vec<T>) -> Self {
        List {
            kind: format!("{}List", T::KIND),
            api_version: T::API_VERSION.to_owned(),
            metadata: ListMeta::default(),
            items,
        }
    }
}

impl<T: Resource> Default for List<T> {
    fn default() -> Self {
        List::new(Vec::new())
    }
}

string_enum! {
    /// Whether a condition holds.
    #[derive(Default)]
    pub enum ConditionStatus {
        /// The condition holds.
        True = "True",
        /// The condition does not hold.
        False = "False",
        /// Nobody knows yet.
        #[default]
        Unknown = "Unknown",
    }
}

string_enum! {
    /// The outcome a [`Status`] reports.
    pub enum StatusOutcome {
        /// The operation succeeded.
        Success = "Success",
        /// The operation failed; `reason` and `code` say why.
        Failure = "Failure",
    }
}

/// The result of an operation that returns no object, and the body of every API error
/// (`metav1.Status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.Status")]
pub struct Status {
    /// The REST resource this object represents, in CamelCase, e.g. `Pod`.
    pub kind: String,
    /// The versioned schema of this representation of an object, e.g. `v1` or `apps/v1`.
    pub api_version: String,
    /// List metadata (normally empty).
    pub metadata: ListMeta,
    /// `Success` or `Failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusOutcome>,
    /// A human-readable description of the status.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A machine-readable reason, e.g. `NotFound`, `AlreadyExists`, `Conflict`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Which object the failure is about, and field-level causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code.
    #[serde(skip_serializing_if = "is_default")]
    pub code: i32,
}

/// What a [`Status`] is about (`metav1.StatusDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails")]
pub struct StatusDetails {
    /// The object's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's API group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The object's kind or resource.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The object's uid.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Field-level causes of the error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub causes: Vec<StatusCause>,
    /// When the client may retry the operation.
    #[serde(skip_serializing_if = "is_default")]
    pub retry_after_seconds: i32,
}

/// One cause of a failure (`metav1.StatusCause`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause")]
pub struct StatusCause {
    /// A machine-readable reason, e.g. `FieldValueRequired`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable description of the cause.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field at fault, e.g. `spec.containers[0].image`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            kind: "Status".to_owned(),
            api_version: "v1".to_owned(),
            metadata: ListMeta::default(),
            status: None,
            message: String::new(),
            reason: String::new(),
            details: None,
            code: 0,
        }
    }
}

/// `pods` or `deployments.apps`, as Kubernetes names a resource in messages.
fn qualified_resource<K: Resource>() -> String {
    match K::group() {
        "" => K::PLURAL.to_owned(),
        group => format!("{}.{group}", K::PLURAL),
    }
}

fn details_for<K: Resource>(name: &str, kind: &str) -> Option<StatusDetails> {
    Some(StatusDetails {
        name: name.to_owned(),
        group: K::group().to_owned(),
        kind: kind.to_owned(),
        ..StatusDetails::default()
    })
}

impl Status {
    /// A successful result (code 200).
    pub fn success() -> Self {
        Status {
            status: Some(StatusOutcome::Success),
            code: 200,
            ..Status::default()
        }
    }

    /// A failure with the given HTTP code, reason and message.
    pub fn failure(code: i32, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Status {
            status: Some(StatusOutcome::Failure),
            message: message.into(),
            reason: reason.into(),
            code,
            ..Status::default()
        }
    }

    /// 404 `NotFound`: `pods "web" not found`.
    pub fn not_found<K: Resource>(name: &str) -> Self {
        let resource = qualified_resource::<K>();
        Status {
            details: details_for::<K>(name, K::PLURAL),
            ..Status::failure(404, "NotFound", format!("{resource} \"{name}\" not found"))
        }
    }

    /// 409 `AlreadyExists`: `pods "web" already exists`.
    pub fn already_exists<K: Resource>(name: &str) -> Self {
        let resource = qualified_resource::<K>();
        Status {
            details: details_for::<K>(name, K::PLURAL),
            ..Status::failure(
                409,
                "AlreadyExists",
                format!("{resource} \"{name}\" already exists"),
            )
        }
    }

    /// 409 `Conflict`, e.g. a stale `resourceVersion` on update.
    pub fn conflict<K: Resource>(name: &str, why: &str) -> Self {
        let resource = qualified_resource::<K>();
        Status {
            details: details_for::<K>(name, K::PLURAL),
            ..Status::failure(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
            )
        }
    }

    /// 422 `Invalid`: the object failed validation for the given causes.
    pub fn invalid<K: Resource>(name: &str, causes: Vec<StatusCause>) -> Self {
        let describe = |c: &StatusCause| format!("{}: {}", c.field, c.message);
        let summary = match causes.as_slice() {
            [one] => describe(one),
            many => format!(
                "[{}]",
                many.iter().map(describe).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut details = details_for::<K>(name, K::KIND);
        if let Some(d) = details.as_mut() {
            d.causes = causes;
        }
        Status {
            details,
            ..Status::failure(
                422,
                "Invalid",
                format!("{} \"{name}\" is invalid: {summary}", K::KIND),
            )
        }
    }

    /// 410 `Expired`: a watch or list asked for a revision older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Status::failure(410, "Expired", message)
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::failure(400, "BadRequest", message)
    }

    /// 500 `InternalError`.
    pub fn internal_error(message: impl fmt::Display) -> Self {
        Status::failure(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }
}

/// One change delivered by a watch (`metav1.WatchEvent`).
///
/// JSON is `{"type":"ADDED","object":{...}}`; an `ERROR` event carries a [`Status`]
/// instead of an object. When reading, `type` must come before `object`, as Kubernetes
/// writes it, so that the object can be read without buffering it.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum WatchEvent<T> {
    /// The object was created (or is part of the initial state).
    Added(T),
    /// The object was changed.
    Modified(T),
    /// The object was deleted; this is its last state.
    Deleted(T),
    /// A progress marker: only `metadata.resourceVersion` is meaningful.
    Bookmark(T),
    /// The watch failed, e.g. `410 Expired` (boxed: a `Status` outweighs most objects).
    Error(Box<Status>),
}

impl<T> WatchEvent<T> {
    /// The JSON `type`: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub fn type_str(&self) -> &'static str {
        match self {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        }
    }

    /// The object, unless this is an `ERROR` event.
    pub fn object(&self) -> Option<&T> {
        match self {
            WatchEvent::Added(o)
            | WatchEvent::Modified(o)
            | WatchEvent::Deleted(o)
            | WatchEvent::Bookmark(o) => Some(o),
            WatchEvent::Error(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for WatchEvent<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("WatchEvent", 2)?;
        s.serialize_field("type", self.type_str())?;
        match self {
            WatchEvent::Error(status) => s.serialize_field("object", status)?,
            WatchEvent::Added(o)
            | WatchEvent::Modified(o)
            | WatchEvent::Deleted(o)
            | WatchEvent::Bookmark(o) => s.serialize_field("object", o)?,
        }
        s.end()
    }
}

const WATCH_EVENT_TYPES: &[&str] = &["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"];

impl<'de, T: Deserialize<'de>> Deserialize<'de> for WatchEvent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for EventVisitor<T> {
            type Value = WatchEvent<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a watch event {\"type\": ..., \"object\": ...}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut event_type: Option<String> = None;
                let mut event: Option<WatchEvent<T>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "type" => {
                            if event_type.is_some() {
                                return Err(de::Error::duplicate_field("type"));
                            }
                            event_type = Some(map.next_value()?);
                        }
                        "object" => {
                            if event.is_some() {
                                return Err(de::Error::duplicate_field("object"));
                            }
                            let Some(t) = event_type.as_deref() else {
                                return Err(de::Error::custom(
                                    "watch event: \"type\" must come before \"object\"",
                                ));
                            };
                            event = Some(match t {
                                "ADDED" => WatchEvent::Added(map.next_value()?),
                                "MODIFIED" => WatchEvent::Modified(map.next_value()?),
                                "DELETED" => WatchEvent::Deleted(map.next_value()?),
                                "BOOKMARK" => WatchEvent::Bookmark(map.next_value()?),
                                "ERROR" => WatchEvent::Error(map.next_value()?),
                                other => {
                                    return Err(de::Error::unknown_variant(
                                        other,
                                        WATCH_EVENT_TYPES,
                                    ))
                                }
                            });
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match (event_type, event) {
                    (_, Some(event)) => Ok(event),
                    (None, None) => Err(de::Error::missing_field("type")),
                    (Some(_), None) => Err(de::Error::missing_field("object")),
                }
            }
        }

        deserializer.deserialize_struct(
            "WatchEvent",
            &["type", "object"],
            EventVisitor(std::marker::PhantomData),
        )
    }
}

string_enum! {
    /// How a label selector requirement compares a label with its values.
    #[derive(Default)]
    pub enum LabelSelectorOperator {
        /// The label's value is one of `values`.
        #[default]
        In = "In",
        /// The label is absent or its value is none of `values`.
        NotIn = "NotIn",
        /// The label is present.
        Exists = "Exists",
        /// The label is absent.
        DoesNotExist = "DoesNotExist",
    }
}

/// Selects objects by their labels (`metav1.LabelSelector`); all terms must hold.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, Schema,
)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// A list of label selector requirements.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One requirement of a [`LabelSelector`].
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, Schema,
)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement")]
pub struct LabelSelectorRequirement {
    /// The label key the selector applies to.
    #[schema(required)]
    pub key: String,
    /// How the label is compared with `values`.
    #[schema(required)]
    pub operator: LabelSelectorOperator,
    /// The values (`In`, `NotIn`); empty for `Exists`, `DoesNotExist`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether a set of labels satisfies every term. An empty selector matches everything,
    /// as Kubernetes' `LabelSelectorAsSelector` makes it.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let labels_match = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        labels_match
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    LabelSelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
                    LabelSelectorOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    LabelSelectorOperator::Exists => value.is_some(),
                    LabelSelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::resources::{Deployment, Pod};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selector_table() {
        let req = |key: &str, operator, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        use LabelSelectorOperator::*;
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let table: Vec<(&str, LabelSelector, bool)> = vec![
            ("empty matches all", LabelSelector::default(), true),
            (
                "match labels",
                LabelSelector {
                    match_labels: labels(&[("app", "web")]),
                    ..Default::default()
                },
                true,
            ),
            (
                "wrong value",
                LabelSelector {
                    match_labels: labels(&[("app", "db")]),
                    ..Default::default()
                },
                false,
            ),
            (
                "in",
                LabelSelector {
                    match_expressions: vec![req("tier", In, &["front", "back"])],
                    ..Default::default()
                },
                true,
            ),
            (
                "not in",
                LabelSelector {
                    match_expressions: vec![req("tier", NotIn, &["front"])],
                    ..Default::default()
                },
                false,
            ),
            (
                "not in, label absent",
                LabelSelector {
                    match_expressions: vec![req("zone", NotIn, &["a"])],
                    ..Default::default()
                },
                true,
            ),
            (
                "exists",
                LabelSelector {
                    match_expressions: vec![req("app", Exists, &[])],
                    ..Default::default()
                },
                true,
            ),
            (
                "does not exist",
                LabelSelector {
                    match_expressions: vec![req("app", DoesNotExist, &[])],
                    ..Default::default()
                },
                false,
            ),
        ];
        for (name, selector, want) in table {
            assert_eq!(selector.matches(&web), want, "{name}");
        }
    }

    #[test]
    fn status_json_matches_kubernetes() {
        let s = Status::not_found::<Pod>("web");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "pods \"web\" not found",
                "reason": "NotFound",
                "details": {"name": "web", "kind": "pods"},
                "code": 404
            })
        );
        let s = Status::already_exists::<Deployment>("web");
        assert_eq!(s.message, "deployments.apps \"web\" already exists");
        assert_eq!(s.details.as_ref().unwrap().group, "apps");
        let s = Status::invalid::<Pod>(
            "web",
            vec![StatusCause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "spec.containers[0].image".into(),
            }],
        );
        assert_eq!(
            s.message,
            "Pod \"web\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(s.code, 422);
    }

    #[test]
    fn watch_event_json() {
        let mut pod = Pod::new("web");
        pod.metadata.resource_version = "7".into();
        let ev = WatchEvent::Modified(pod);
        let json = serde_json::to_string(&ev).unwrap();
        assert!(
            json.starts_with("{\"type\":\"MODIFIED\",\"object\":{"),
            "{json}"
        );
        let back: WatchEvent<Pod> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);

        let err: WatchEvent<Pod> = serde_json::from_str(
            r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},
                "status":"Failure","message":"too old resource version: 1 (5)",
                "reason":"Expired","code":410}}"#,
        )
        .unwrap();
        assert!(matches!(&err, WatchEvent::Error(s) if s.code == 410));
        assert!(err.object().is_none());

        let table = [
            ("object first", r#"{"object":{},"type":"ADDED"}"#),
            ("unknown type", r#"{"type":"CHANGED","object":{}}"#),
            ("missing object", r#"{"type":"ADDED"}"#),
            ("missing type", r#"{}"#),
        ];
        for (name, json) in table {
            assert!(
                serde_json::from_str::<WatchEvent<Pod>>(json).is_err(),
                "{name}"
            );
        }
        // Unknown keys are ignored.
        let ok: WatchEvent<Pod> =
            serde_json::from_str(r#"{"extra":1,"type":"DELETED","object":{}}"#).unwrap();
        assert_eq!(ok.type_str(), "DELETED");
    }

    #[test]
    fn list_kind_and_empty_items() {
        let list = List::<Pod>::default();
        assert_eq!(list.kind, "PodList");
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#
        );
        let meta = ListMeta {
            continue_: "abc".into(),
            ..ListMeta::default()
        };
        assert_eq!(
            serde_json::to_string(&meta).unwrap(),
            r#"{"continue":"abc"}"#
        );
    }
}
