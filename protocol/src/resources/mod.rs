//! The Kubernetes resource model: the objects the apiserver stores and every component
//! reads, with Kubernetes' own field names.
//!
//! Each type has two faces:
//!
//! - **JSON** (serde), exactly as the Kubernetes API writes it, so that `kubectl` and the
//!   Python client understand it: camelCase names (with Kubernetes' spellings such as
//!   `podCIDR`, `hostIP`, `containerID`), nothing emitted for an absent value (no `null`),
//!   missing fields read as their defaults, `null` maps and lists read as empty, unknown
//!   fields ignored. Go's `omitempty` maps to "skip when default"; a Go pointer maps to
//!   [`Option`]; a field Go always writes is always written here too (e.g. `containers`,
//!   `ready`, `reportingComponent`). One deliberate difference: an empty nested struct
//!   that Go writes as `{}` (`status: {}`, `resources: {}`) is left out.
//! - **bincode** (its native derive, never serde), which the bus uses through
//!   [`crate::codec`]. Maps are `BTreeMap` so an object always encodes to the same bytes.
//!
//! Scalar types with a special wire form live in their own modules: [`Quantity`] (`500m`,
//! `128Mi`), [`Time`] / [`MicroTime`] (RFC 3339) and [`IntOrString`]. Kinds with a closed
//! set of values (phases, policies, operators) are Rust enums that read and write their
//! Kubernetes strings; open sets (condition types, event types, reasons) stay `String`.
//!
//! `#[serde(flatten)]` and `untagged` are not used anywhere; Go's inlined structs (a
//! probe's handler, a volume's source) are spelled out as plain fields instead. Only the
//! two "number or string" scalars ([`Quantity`], [`IntOrString`]) use `deserialize_any`,
//! in JSON only.
//!
//! Every top-level kind implements [`Resource`] and starts life with `apiVersion` and
//! `kind` filled in (`Pod::default()`, `Pod::new("web")`).
//!
//! Every struct also derives [`Schema`](crate::schema::Schema): its doc comments are the
//! descriptions `kubectl explain` shows, so they describe the field for API users;
//! notes about the Rust or wire form go in plain `//` comments.
//!
//! Map of the modules:
//! - `meta`: [`ObjectMeta`], [`ListMeta`], [`List`], [`Status`], [`WatchEvent`],
//!   [`LabelSelector`], [`OwnerReference`], [`ConditionStatus`].
//! - `common`: core/v1 bits shared by several kinds ([`ObjectReference`], [`Protocol`]).
//! - `pod`, `node`, `service` (Service and Endpoints), `namespace`, `service_account`,
//!   `event`, `replication` (ReplicationController and ReplicaSet), `deployment`,
//!   `lease`, `scale`, `daemonset`, `controller_revision` (ControllerRevision, with
//!   `raw`'s [`RawJson`] for its data), `statefulset`, `storage` (PersistentVolume,
//!   PersistentVolumeClaim, StorageClass), `policy` (PodDisruptionBudget), `ingress` (Ingress, IngressClass), `rbac` (Role,
//!   ClusterRole, RoleBinding, ClusterRoleBinding), `network_policy` (NetworkPolicy), `certificates` (CertificateSigningRequest).

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Serde helper for Go's `omitempty`: whether `v` is its type's default.
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Serde helper: reads JSON `null` as the default value, as Go does for maps and slices
/// (YAML such as `labels:` with nothing under it arrives as `null`).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string that is not one of an enum's Kubernetes values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {type_name} value {value:?}")]
pub struct UnknownValue {
    /// The Rust type that was being parsed.
    pub type_name: &'static str,
    /// The rejected string.
    pub value: String,
}

/// Declares a closed set of Kubernetes string values as a Rust enum that reads and writes
/// those strings in JSON and encodes as a variant index in bincode.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::bincode::Encode, ::bincode::Decode,
        )]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The Kubernetes strings, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($value),+];

            /// The string Kubernetes uses for this value.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $( $name::$variant => $value, )+
                }
            }
        }

        impl $crate::schema::FieldType for $name {
            const TY: $crate::schema::Ty = $crate::schema::Ty::Enum(Self::NAMES);
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::resources::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $value => Ok($name::$variant), )+
                    _ => Err($crate::resources::UnknownValue {
                        type_name: stringify!($name),
                        value: s.to_owned(),
                    }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct EnumVisitor;
                impl ::serde::de::Visitor<'_> for EnumVisitor {
                    type Value = $name;
                    fn expecting(
                        &self,
                        f: &mut ::std::fmt::Formatter<'_>,
                    ) -> ::std::fmt::Result {
                        write!(f, "one of {:?}", $name::NAMES)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(|_| E::unknown_variant(v, $name::NAMES))
                    }
                }
                d.deserialize_str(EnumVisitor)
            }
        }
    };
}

/// Declares a top-level kind: `kind`, `apiVersion` and `metadata` followed by the given
/// fields, a `Default` that fills `kind` and `apiVersion`, `new(name)`, [`Resource`], and
/// its schema (`#[derive(Schema)]` with the group-version-kind; the invocation names the
/// OpenAPI component with `#[schema(name = "...")]`).
macro_rules! kind {
    (
        $(#[$meta:meta])*
        pub struct $name:ident : $api_version:literal, $kind:literal, $plural:literal,
            namespaced = $namespaced:literal {
            $( $(#[$fmeta:meta])* pub $field:ident : $fty:ty, )*
        }
    ) => {
        #[derive(
            Debug, Clone, PartialEq, Eq,
            ::serde::Serialize, ::serde::Deserialize,
            ::bincode::Encode, ::bincode::Decode, $crate::schema::Schema,
        )]
        #[serde(rename_all = "camelCase", default)]
        #[schema(api_version = $api_version, kind = $kind)]
        $(#[$meta])*
        pub struct $name {
            /// The REST resource this object represents, in CamelCase, e.g. `Pod`.
            pub kind: String,
            /// The versioned schema of this representation of an object, e.g. `v1` or
            /// `apps/v1`.
            pub api_version: String,
            /// Standard object metadata.
            pub metadata: $crate::resources::ObjectMeta,
            $( $(#[$fmeta])* pub $field : $fty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    kind: $kind.to_owned(),
                    api_version: $api_version.to_owned(),
                    metadata: Default::default(),
                    $( $field: Default::default(), )*
                }
            }
        }

        impl $name {
            /// An empty object named `name`, with `apiVersion` and `kind` filled in.
            pub fn new(name: impl Into<String>) -> Self {
                let mut object = Self::default();
                object.metadata.name = name.into();
                object
            }
        }

        impl $crate::resources::Resource for $name {
            const API_VERSION: &'static str = $api_version;
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            const NAMESPACED: bool = $namespaced;
            fn metadata(&self) -> &$crate::resources::ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut $crate::resources::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

mod apiservice;
mod autoscaling;
mod autoscaling_v1;
mod bytes;
mod certificates;
mod common;
mod config;
mod controller_revision;
mod daemonset;
mod deployment;
mod event;
mod ingress;
mod intstr;
mod job;
mod lease;
mod limits_quotas;
mod meta;
mod metrics;
mod namespace;
mod network_policy;
mod node;
mod pod;
mod policy;
mod priority_class;
mod quantity;
mod raw;
mod rbac;
mod replication;
mod scale;
mod service;
mod service_account;
mod statefulset;
mod storage;
mod time;

pub use apiservice::*;
pub use autoscaling::*;
pub use autoscaling_v1::*;
pub use bytes::ByteString;
pub use certificates::*;
pub use common::*;
pub use config::*;
pub use controller_revision::*;
pub use daemonset::*;
pub use deployment::*;
pub use event::*;
pub use ingress::*;
pub use intstr::{IntOrString, IntOrStringError};
pub use job::*;
pub use lease::*;
pub use limits_quotas::*;
pub use meta::*;
pub use metrics::*;
pub use namespace::*;
pub use network_policy::*;
pub use node::*;
pub use pod::*;
pub use policy::*;
pub use priority_class::*;
pub use quantity::{Format, Quantity, QuantityError, MAX_QUANTITY_LEN};
pub use raw::RawJson;
pub use rbac::*;
pub use replication::*;
pub use scale::*;
pub use service::*;
pub use service_account::*;
pub use statefulset::*;
pub use storage::*;
pub use time::{MicroTime, Time, TimeError};

/// A top-level kind the apiserver stores: its type information and its metadata.
///
/// The supertraits let generic code (storage, list/watch, caches) encode an object in
/// both wire forms without naming its type.
pub trait Resource:
    Clone
    + Debug
    + PartialEq
    + Default
    + Serialize
    + DeserializeOwned
    + bincode::Encode
    + bincode::Decode<()>
    + Send
    + Sync
    + 'static
{
    /// The `apiVersion`: `"v1"`, `"apps/v1"`, `"coordination.k8s.io/v1"`, ...
    const API_VERSION: &'static str;
    /// The `kind`, e.g. `"Pod"`.
    const KIND: &'static str;
    /// The lower-case plural used in URLs and storage keys, e.g. `"pods"`.
    const PLURAL: &'static str;
    /// Whether objects of this kind live in a namespace.
    const NAMESPACED: bool;

    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
    /// The object's metadata, for changing it.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// The API group: the part of `API_VERSION` before the `/` (empty for core `v1`).
    fn group() -> &'static str {
        match Self::API_VERSION.rsplit_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// An owner reference to this object marking it as the controller of its dependents,
    /// as Kubernetes' `NewControllerRef` builds it.
    fn controller_ref(&self) -> OwnerReference {
        let meta = self.metadata();
        OwnerReference {
            api_version: Self::API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn info<K: Resource>() -> (&'static str, &'static str, &'static str, bool, &'static str) {
        (
            K::API_VERSION,
            K::KIND,
            K::PLURAL,
            K::NAMESPACED,
            K::group(),
        )
    }

    #[test]
    fn resource_constants() {
        let table = [
            ("Pod", info::<Pod>(), ("v1", "Pod", "pods", true, "")),
            ("Node", info::<Node>(), ("v1", "Node", "nodes", false, "")),
            (
                "Namespace",
                info::<Namespace>(),
                ("v1", "Namespace", "namespaces", false, ""),
            ),
            (
                "Service",
                info::<Service>(),
                ("v1", "Service", "services", true, ""),
            ),
            (
                "Endpoints",
                info::<Endpoints>(),
                ("v1", "Endpoints", "endpoints", true, ""),
            ),
            (
                "ServiceAccount",
                info::<ServiceAccount>(),
                ("v1", "ServiceAccount", "serviceaccounts", true, ""),
            ),
            (
                "ReplicationController",
                info::<ReplicationController>(),
                (
                    "v1",
                    "ReplicationController",
                    "replicationcontrollers",
                    true,
                    "",
                ),
            ),
            (
                "Event",
                info::<Event>(),
                ("v1", "Event", "events", true, ""),
            ),
            (
                "ReplicaSet",
                info::<ReplicaSet>(),
                ("apps/v1", "ReplicaSet", "replicasets", true, "apps"),
            ),
            (
                "Deployment",
                info::<Deployment>(),
                ("apps/v1", "Deployment", "deployments", true, "apps"),
            ),
            (
                "Lease",
                info::<Lease>(),
                (
                    "coordination.k8s.io/v1",
                    "Lease",
                    "leases",
                    true,
                    "coordination.k8s.io",
                ),
            ),
            (
                "Scale",
                info::<Scale>(),
                ("autoscaling/v1", "Scale", "scale", true, "autoscaling"),
            ),
        ];
        for (name, got, want) in table {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn constructors_fill_type_information() {
        let pod = Pod::new("web");
        assert_eq!((pod.kind.as_str(), pod.api_version.as_str()), ("Pod", "v1"));
        assert_eq!(pod.metadata.name, "web");
        let d = Deployment::default();
        assert_eq!(
            (d.kind.as_str(), d.api_version.as_str()),
            ("Deployment", "apps/v1")
        );
        // A document without apiVersion/kind still reads with them filled in.
        let lease: Lease = serde_json::from_str(r#"{"metadata":{"name":"l"}}"#).unwrap();
        assert_eq!(lease.api_version, "coordination.k8s.io/v1");
        assert_eq!(lease.kind, "Lease");
    }

    #[test]
    fn controller_ref_names_the_owner() {
        let mut rs = ReplicaSet::new("web-abc");
        rs.metadata.uid = "u-1".into();
        let r = rs.controller_ref();
        assert_eq!(r.api_version, "apps/v1");
        assert_eq!(r.kind, "ReplicaSet");
        assert_eq!(r.name, "web-abc");
        assert_eq!(r.uid, "u-1");
        assert_eq!(r.controller, Some(true));
        assert_eq!(r.block_owner_deletion, Some(true));
    }

    #[test]
    fn string_enums_read_and_write_kubernetes_strings() {
        assert_eq!(PodPhase::Running.as_str(), "Running");
        assert_eq!(
            "IfNotPresent".parse::<PullPolicy>().unwrap(),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            serde_json::to_string(&ServiceType::LoadBalancer).unwrap(),
            "\"LoadBalancer\""
        );
        assert_eq!(
            serde_json::from_str::<IpFamily>("\"IPv6\"").unwrap(),
            IpFamily::Ipv6
        );
        let err = serde_json::from_str::<PodPhase>("\"Sleeping\"").unwrap_err();
        assert!(err.to_string().contains("Sleeping"), "{err}");
        assert!(
            "running".parse::<PodPhase>().is_err(),
            "values are case-sensitive"
        );
        for phase in PodPhase::ALL {
            assert_eq!(phase.as_str().parse::<PodPhase>().unwrap(), *phase);
        }
    }
}
