//! Certificate signing requests (`certificates.k8s.io/v1`, cluster-scoped): a PKCS#10
//! request for an X.509 certificate from a named signer. The API server records who
//! asked (`spec.username`, `groups`, `uid`); an approver adds an `Approved` or `Denied`
//! condition through the `approval` subresource; the signer writes the certificate into
//! `status.certificate` through `status`.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, ByteString, Time};

kind! {
    /// A request for a certificate from a signer, and its outcome.
    #[schema(name = "io.k8s.api.certificates.v1.CertificateSigningRequest")]
    pub struct CertificateSigningRequest: "certificates.k8s.io/v1", "CertificateSigningRequest",
        "certificatesigningrequests", namespaced = false {
        /// The request, and who made it (set by the API server).
        #[schema(required)]
        pub spec: CertificateSigningRequestSpec,
        /// Approval conditions and the issued certificate.
        #[serde(skip_serializing_if = "is_default")]
        pub status: CertificateSigningRequestStatus,
    }
}

/// The signer that issues client certificates the API server accepts.
pub const KUBE_APISERVER_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
/// The condition type an approver adds to let the signer issue.
pub const CSR_APPROVED: &str = "Approved";
/// The condition type an approver adds to refuse the request.
pub const CSR_DENIED: &str = "Denied";
/// The condition type a signer adds when it cannot issue.
pub const CSR_FAILED: &str = "Failed";
/// The key usage every client certificate needs.
pub const USAGE_CLIENT_AUTH: &str = "client auth";

/// The key usages a request may name (Kubernetes' `KeyUsage` values).
pub const KEY_USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

/// What is requested, from whom, by whom.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.certificates.v1.CertificateSigningRequestSpec")]
pub struct CertificateSigningRequestSpec {
    /// The PEM-encoded PKCS#10 request (`CERTIFICATE REQUEST` block).
    #[schema(required)]
    pub request: ByteString,
    /// The signer asked to issue, e.g. `kubernetes.io/kube-apiserver-client`.
    #[schema(required)]
    pub signer_name: String,
    /// The requested validity in seconds (at least 600); the signer may issue less.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i32>,
    /// The key usages requested, e.g. `digital signature`, `client auth`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub usages: Vec<String>,
    /// The user who created the request (set by the API server).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// That user's UID (set by the API server).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// That user's groups (set by the API server).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub groups: Vec<String>,
    /// That user's extra attributes (set by the API server).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Approval and issuance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.certificates.v1.CertificateSigningRequestStatus")]
pub struct CertificateSigningRequestStatus {
    /// `Approved`, `Denied` and `Failed` conditions.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type")]
    pub conditions: Vec<CertificateSigningRequestCondition>,
    /// The issued certificate chain (PEM `CERTIFICATE` blocks), once signed.
    #[serde(skip_serializing_if = "ByteString::is_empty")]
    pub certificate: ByteString,
}

/// One condition of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.certificates.v1.CertificateSigningRequestCondition")]
pub struct CertificateSigningRequestCondition {
    /// `Approved`, `Denied`, `Failed` (or another type).
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// `True`, `False` or `Unknown` (`True` only, for the three above).
    #[schema(required)]
    pub status: String,
    /// A brief reason in CamelCase.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable explanation.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the condition last changed status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// When the condition was last written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
}

impl CertificateSigningRequest {
    /// The condition of type `t`, if present.
    pub fn condition(&self, t: &str) -> Option<&CertificateSigningRequestCondition> {
        self.status.conditions.iter().find(|c| c.type_ == t)
    }
}
