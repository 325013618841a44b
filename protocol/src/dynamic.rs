//! Objects of any kind, for generic code: [`ApiResource`] describes a served resource at
//! run time (group, version, kind, plural, scope) and [`DynamicObject`] holds one of its
//! objects as JSON with typed metadata.
//!
//! This is what generic components use where Kubernetes uses discovery and the dynamic
//! or metadata client: the namespace controller empties a namespace of every served
//! kind, and the garbage collector follows owner references whatever the kinds. With
//! [`crate::api::Api<DynamicObject>`] (built by [`crate::api::Api::dynamic`]) they get,
//! list, watch, patch and delete any kind over the same `apiserver` protocol as the typed
//! [`crate::api::Api<K>`].
//!
//! A [`DynamicObject`] keeps the object's JSON whole except `metadata`, which it reads
//! into an [`ObjectMeta`]; writing it back puts the (possibly changed) metadata in
//! place. It is a JSON-only type: it never crosses the bus as bincode (the `apiserver`
//! protocol carries objects as JSON bytes).

use serde::de::Error as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::messages::api::ResourceRef;
use crate::resources::{ObjectMeta, OwnerReference, Resource};

/// A served resource, described at run time: enough to address its objects through
/// the API and to recognise them (`apiVersion` and `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiResource {
    /// API group ("" for core).
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Lower-case plural used in URLs and storage keys, e.g. `deployments`.
    pub plural: String,
    /// Whether its objects live in a namespace.
    pub namespaced: bool,
}

impl ApiResource {
    /// The description of the typed kind `K`.
    pub fn of<K: Resource>() -> Self {
        let (group, version) = split_api_version(K::API_VERSION);
        ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: K::KIND.to_owned(),
            plural: K::PLURAL.to_owned(),
            namespaced: K::NAMESPACED,
        }
    }

    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        crate::registry::group_version(&self.group, &self.version)
    }

    /// The collection reference the `apiserver` protocol uses.
    pub fn resource_ref(&self) -> ResourceRef {
        ResourceRef {
            group: self.group.clone(),
            version: self.version.clone(),
            plural: self.plural.clone(),
        }
    }

    /// Whether an object of `api_version` and `kind` is one of these (the version is
    /// not compared: one group serves a kind at one version here).
    pub fn matches(&self, api_version: &str, kind: &str) -> bool {
        self.kind == kind && split_api_version(api_version).0 == self.group
    }
}

impl From<&crate::registry::ResourceInfo> for ApiResource {
    /// The run-time description of a served resource.
    fn from(info: &crate::registry::ResourceInfo) -> Self {
        ApiResource {
            group: info.group.to_owned(),
            version: info.version.to_owned(),
            kind: info.kind.to_owned(),
            plural: info.plural.to_owned(),
            namespaced: info.namespaced,
        }
    }
}

/// Splits an `apiVersion` into group and version (`v1` -> `("", "v1")`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// One object of any kind: its metadata typed, everything else as JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DynamicObject {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// Every other top-level field (`apiVersion`, `kind`, `spec`, `status`, ...).
    pub data: Map<String, Value>,
}

impl DynamicObject {
    /// An object of `resource` named `name`, with `apiVersion` and `kind` filled in.
    pub fn new(resource: &ApiResource, name: &str) -> Self {
        let mut data = Map::new();
        data.insert("apiVersion".into(), Value::String(resource.api_version()));
        data.insert("kind".into(), Value::String(resource.kind.clone()));
        let metadata = ObjectMeta {
            name: name.to_owned(),
            ..ObjectMeta::default()
        };
        DynamicObject { metadata, data }
    }

    /// Reads an object from its JSON (which must be a JSON object).
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        let Value::Object(mut data) = value else {
            return Err(serde_json::Error::custom("an object must be a JSON object"));
        };
        let metadata = match data.remove("metadata") {
            Some(Value::Null) | None => ObjectMeta::default(),
            Some(m) => serde_json::from_value(m)?,
        };
        Ok(DynamicObject { metadata, data })
    }

    /// The object as JSON, metadata included.
    pub fn to_value(&self) -> Value {
        let mut data = self.data.clone();
        let meta = serde_json::to_value(&self.metadata).unwrap_or(Value::Null);
        data.insert("metadata".into(), meta);
        Value::Object(data)
    }

    /// Reads the object as the typed kind `K`.
    pub fn to_typed<K: Resource>(&self) -> Result<K, serde_json::Error> {
        serde_json::from_value(self.to_value())
    }

    /// The dynamic form of a typed object.
    pub fn from_typed<K: Resource>(obj: &K) -> Result<Self, serde_json::Error> {
        Self::from_value(serde_json::to_value(obj)?)
    }

    fn str_field(&self, field: &str) -> &str {
        self.data.get(field).and_then(Value::as_str).unwrap_or("")
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.str_field("apiVersion")
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.str_field("kind")
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// `metadata.namespace` (empty for cluster-scoped objects).
    pub fn namespace(&self) -> &str {
        &self.metadata.namespace
    }

    /// `metadata.uid`.
    pub fn uid(&self) -> &str {
        &self.metadata.uid
    }

    /// `metadata.resourceVersion`.
    pub fn resource_version(&self) -> &str {
        &self.metadata.resource_version
    }

    /// `metadata.ownerReferences`.
    pub fn owner_references(&self) -> &[OwnerReference] {
        &self.metadata.owner_references
    }

    /// `metadata.finalizers`.
    pub fn finalizers(&self) -> &[String] {
        &self.metadata.finalizers
    }

    /// Whether the object is being deleted (`metadata.deletionTimestamp` is set).
    pub fn is_deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }

    /// A field by JSON pointer below the top level, e.g. `/spec/replicas`.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        let rest = pointer.strip_prefix('/')?;
        let (first, tail) = match rest.split_once('/') {
            Some((f, t)) => (f, Some(t)),
            None => (rest, None),
        };
        let top = self.data.get(first)?;
        match tail {
            Some(t) => top.pointer(&format!("/{t}")),
            None => Some(top),
        }
    }
}

impl Serialize for DynamicObject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.data.len() + 1))?;
        let mut meta_written = false;
        for (k, v) in &self.data {
            if k == "metadata" {
                continue;
            }
            // `apiVersion` and `kind` first, then metadata, as Kubernetes writes objects.
            if !meta_written && k != "apiVersion" && k != "kind" {
                map.serialize_entry("metadata", &self.metadata)?;
                meta_written = true;
            }
            map.serialize_entry(k, v)?;
        }
        if !meta_written {
            map.serialize_entry("metadata", &self.metadata)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DynamicObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        DynamicObject::from_value(value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::resources::{Deployment, Pod};
    use serde_json::json;

    #[test]
    fn describes_typed_kinds() {
        let d = ApiResource::of::<Deployment>();
        assert_eq!(
            (d.group.as_str(), d.version.as_str(), d.kind.as_str()),
            ("apps", "v1", "Deployment")
        );
        assert_eq!(d.api_version(), "apps/v1");
        assert!(d.namespaced);
        assert!(d.matches("apps/v1", "Deployment"));
        assert!(!d.matches("v1", "Deployment"));
        assert_eq!(ApiResource::of::<Pod>().api_version(), "v1");
    }

    #[test]
    fn round_trips_json_and_exposes_metadata() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "ConfigThing",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u1",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u0"}]},
            "spec": {"replicas": 3, "unknown": [1, 2]},
        });
        let mut o: DynamicObject = serde_json::from_value(v.clone()).unwrap();
        assert_eq!((o.name(), o.namespace(), o.uid()), ("a", "ns", "u1"));
        assert_eq!((o.api_version(), o.kind()), ("v1", "ConfigThing"));
        assert_eq!(o.owner_references()[0].uid, "u0");
        assert_eq!(o.pointer("/spec/replicas"), Some(&json!(3)));
        assert_eq!(serde_json::to_value(&o).unwrap(), v);
        o.metadata.finalizers.push("x".into());
        assert_eq!(
            serde_json::to_value(&o).unwrap()["metadata"]["finalizers"],
            json!(["x"])
        );
        assert!(serde_json::from_value::<DynamicObject>(json!([1])).is_err());
    }

    #[test]
    fn converts_to_and_from_typed() {
        let mut p = Pod::new("web");
        p.metadata.namespace = "default".into();
        let d = DynamicObject::from_typed(&p).unwrap();
        assert_eq!(d.kind(), "Pod");
        assert_eq!(d.to_typed::<Pod>().unwrap(), p);
        let n = DynamicObject::new(&ApiResource::of::<Deployment>(), "d");
        assert_eq!(n.api_version(), "apps/v1");
        assert_eq!(n.name(), "d");
    }
}
