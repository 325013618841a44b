//! core/v1 types shared by several kinds: references to other objects, network protocols
//! and resource lists.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::Quantity;

/// Amounts per resource name (`cpu`, `memory`, `pods`, ...), as in `requests`, `limits`,
/// `capacity` and `allocatable`.
pub type ResourceList = BTreeMap<String, Quantity>;

string_enum! {
    /// A network protocol of a port.
    #[derive(Default)]
    pub enum Protocol {
        /// TCP, the default.
        #[default]
        Tcp = "TCP",
        /// UDP.
        Udp = "UDP",
        /// SCTP.
        Sctp = "SCTP",
    }
}

/// A reference to an object, possibly to one field of it (`core/v1 ObjectReference`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ObjectReference")]
pub struct ObjectReference {
    /// The referent's kind.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The referent's namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The referent's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The referent's uid.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The referent's `apiVersion`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The referent's `resourceVersion` when the reference was made.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// A field within the referent, e.g. `spec.containers{web}`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

/// A reference by name to an object in the same namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LocalObjectReference")]
pub struct LocalObjectReference {
    /// The referent's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}
