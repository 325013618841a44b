//! Configuration for pods (`core/v1`): [`ConfigMap`] (plain data) and [`Secret`]
//! (sensitive data, base64 on the wire, encrypted at rest when the node has a key).

use std::collections::BTreeMap;

use super::ByteString;

kind! {
    /// Configuration data for pods to consume: environment variables, command-line
    /// arguments or files in a volume.
    #[schema(name = "io.k8s.api.core.v1.ConfigMap")]
    pub struct ConfigMap: "v1", "ConfigMap", "configmaps", namespaced = true {
        /// UTF-8 configuration data by key. Keys consist of alphanumeric characters,
        /// `-`, `_` or `.`; a key may not be in both data and binaryData.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub data: BTreeMap<String, String>,
        /// Binary configuration data by key, base64-encoded.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub binary_data: BTreeMap<String, ByteString>,
        /// When true, data and binaryData cannot be changed (only the metadata can).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub immutable: Option<bool>,
    }
}

kind! {
    /// Sensitive data such as a password, a token or a key, for pods to consume.
    #[schema(name = "io.k8s.api.core.v1.Secret")]
    pub struct Secret: "v1", "Secret", "secrets", namespaced = true {
        /// Secret data by key, base64-encoded. Keys consist of alphanumeric
        /// characters, `-`, `_` or `.`.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub data: BTreeMap<String, ByteString>,
        /// Write-only convenience: plain-text values merged into data when the Secret is
        /// written (they win over data's values of the same key); never read back.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub string_data: BTreeMap<String, String>,
        /// Used to make programmatic handling of the secret's data easier, e.g.
        /// `Opaque` (the default) or `kubernetes.io/tls`.
        #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
        pub type_: String,
        /// When true, data cannot be changed (only the metadata can).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub immutable: Option<bool>,
    }
}

/// Well-known Secret types and the keys they require.
pub mod secret_types {
    /// Arbitrary user data (the default).
    pub const OPAQUE: &str = "Opaque";
    /// A service account token.
    pub const SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";
    /// A `~/.dockercfg` file (key `.dockercfg`).
    pub const DOCKERCFG: &str = "kubernetes.io/dockercfg";
    /// A `~/.docker/config.json` file (key `.dockerconfigjson`).
    pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
    /// Credentials for basic authentication (keys `username`, `password`).
    pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
    /// Credentials for SSH authentication (key `ssh-privatekey`).
    pub const SSH_AUTH: &str = "kubernetes.io/ssh-auth";
    /// A TLS certificate and key (keys `tls.crt`, `tls.key`).
    pub const TLS: &str = "kubernetes.io/tls";
    /// A bootstrap token.
    pub const BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";
}
