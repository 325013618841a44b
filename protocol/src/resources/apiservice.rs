//! `APIService` (`apiregistration.k8s.io/v1`): which server answers one API
//! group-version. Kubernetes' aggregator proxies a group-version whose `spec.service`
//! is set to that Service; a "Local" one (no service) is served by the API server
//! itself. Rudder serves every group-version itself, `metrics.k8s.io` included, so the
//! API server registers each as Local and Available at bootstrap.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, ConditionStatus, Time};

kind! {
    /// Which server answers one API group-version.
    #[schema(name = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService")]
    pub struct APIService: "apiregistration.k8s.io/v1", "APIService", "apiservices",
        namespaced = false {
        /// Where the group-version is served.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: APIServiceSpec,
        /// Whether it is available.
        #[serde(skip_serializing_if = "is_default")]
        pub status: APIServiceStatus,
    }
}

/// Where an API group-version is served.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec")]
pub struct APIServiceSpec {
    /// The Service that serves it; none: the API server itself ("Local").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<APIServiceReference>,
    /// The API group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The API version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Skip verifying the serving certificate (discouraged).
    #[serde(skip_serializing_if = "is_default")]
    pub insecure_skip_tls_verify: bool,
    /// The CA bundle (PEM, base64 in JSON) that verifies the serving certificate.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_bundle: String,
    /// The group's priority among groups (1 to 20000; higher first).
    #[schema(required)]
    pub group_priority_minimum: i32,
    /// The version's priority within its group (1 to 1000; higher first).
    #[schema(required)]
    pub version_priority: i32,
}

/// The Service an aggregated group-version is proxied to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.ServiceReference")]
pub struct APIServiceReference {
    /// Its namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its port (443 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// Whether an APIService is available.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus")]
pub struct APIServiceStatus {
    /// `Available`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type", map_keys("type"))]
    pub conditions: Vec<APIServiceCondition>,
}

/// A condition of an APIService.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceCondition")]
pub struct APIServiceCondition {
    /// `Available`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// When the status last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one CamelCase word.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for people.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The APIService condition type that says whether it answers.
pub const APISERVICE_AVAILABLE: &str = "Available";

impl APIService {
    /// `<version>.<group>` (`v1.` for the core group), the name an APIService must
    /// have.
    pub fn name_for(group: &str, version: &str) -> String {
        format!("{version}.{group}")
    }

    /// A Local APIService, Available, for a group-version the API server serves.
    pub fn local(group: &str, version: &str, now: Time) -> Self {
        let mut s = APIService::new(Self::name_for(group, version));
        s.spec = APIServiceSpec {
            group: group.to_owned(),
            version: version.to_owned(),
            group_priority_minimum: if group.is_empty() { 18000 } else { 1000 },
            version_priority: 15,
            ..Default::default()
        };
        s.status.conditions = vec![APIServiceCondition {
            type_: APISERVICE_AVAILABLE.into(),
            status: ConditionStatus::True,
            last_transition_time: Some(now),
            reason: "Local".into(),
            message: "Local APIServices are always available".into(),
        }];
        s
    }
}
