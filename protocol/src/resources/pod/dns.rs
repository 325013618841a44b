//! A pod's name resolution: extra /etc/hosts entries and resolv.conf settings.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::resources::null_as_default;
use crate::schema::Schema;

/// An /etc/hosts entry: one IP and its names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.HostAlias")]
pub struct HostAlias {
    /// The address.
    #[schema(required)]
    pub ip: String,
    /// Names for it.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub hostnames: Vec<String>,
}

/// resolv.conf settings of a pod, on top of what its DNS policy gives.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodDNSConfig")]
pub struct PodDnsConfig {
    /// Name server IPs (at most 3 in all).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub nameservers: Vec<String>,
    /// Search domains (at most 32).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub searches: Vec<String>,
    /// Resolver options, e.g. `ndots:2`; these override the policy's of the same name.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub options: Vec<PodDnsConfigOption>,
}

/// One resolver option.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodDNSConfigOption")]
pub struct PodDnsConfigOption {
    /// The option's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its value, if it takes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
