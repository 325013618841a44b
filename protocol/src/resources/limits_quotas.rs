//! Resource constraints of a namespace (`core/v1`): a [`LimitRange`] gives containers,
//! pods and claims their default requests and limits and bounds them (the LimitRanger
//! admission plugin applies it on create), and a [`ResourceQuota`] caps what the
//! objects of a namespace may consume in total (the ResourceQuota admission plugin
//! charges every create against `status.used`; the resource quota controller keeps
//! `status.hard` and `status.used` current).

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, ResourceList};

kind! {
    /// Default requests and limits, and bounds on them, for the containers, pods and
    /// claims of a namespace.
    #[schema(name = "io.k8s.api.core.v1.LimitRange")]
    pub struct LimitRange: "v1", "LimitRange", "limitranges", namespaced = true {
        /// The limits enforced.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: LimitRangeSpec,
    }
}

/// The limits of a LimitRange.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LimitRangeSpec")]
pub struct LimitRangeSpec {
    /// One item per kind of object limited (`Container`, `Pod`, `PersistentVolumeClaim`).
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, atomic)]
    pub limits: Vec<LimitRangeItem>,
}

/// The limits of one kind of object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LimitRangeItem")]
pub struct LimitRangeItem {
    /// What is limited: `Container`, `Pod` or `PersistentVolumeClaim`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// The most of each resource one object may use (its limit, and its request).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub max: ResourceList,
    /// The least of each resource one object must request.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub min: ResourceList,
    /// The limit a container gets for a resource it sets none of (containers only).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub default: ResourceList,
    /// The request a container gets for a resource it requests none of (containers
    /// only).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub default_request: ResourceList,
    /// The largest ratio of limit to request allowed per resource.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub max_limit_request_ratio: ResourceList,
}

/// The kinds of object a LimitRange item limits.
pub mod limit_types {
    /// Each container of a pod.
    pub const CONTAINER: &str = "Container";
    /// A pod as a whole (the sum of its containers).
    pub const POD: &str = "Pod";
    /// A PersistentVolumeClaim's storage request.
    pub const PERSISTENT_VOLUME_CLAIM: &str = "PersistentVolumeClaim";
    /// Every type, in the order Kubernetes lists them.
    pub const ALL: [&str; 3] = [POD, CONTAINER, PERSISTENT_VOLUME_CLAIM];
}

/// The annotation LimitRanger sets on a pod it gave defaults, saying which.
pub const LIMIT_RANGER_ANNOTATION: &str = "kubernetes.io/limit-ranger";

kind! {
    /// Caps on the total resources the objects of a namespace consume, and on how many
    /// objects of each kind it may hold.
    #[schema(name = "io.k8s.api.core.v1.ResourceQuota")]
    pub struct ResourceQuota: "v1", "ResourceQuota", "resourcequotas", namespaced = true {
        /// The caps.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: ResourceQuotaSpec,
        /// What is enforced and used now (the quota controller's and admission's).
        #[serde(skip_serializing_if = "is_default")]
        pub status: ResourceQuotaStatus,
    }
}

/// The caps of a ResourceQuota.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ResourceQuotaSpec")]
pub struct ResourceQuotaSpec {
    /// The most of each named resource the namespace may use (`pods`, `requests.cpu`,
    /// `count/deployments.apps`, ...).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub hard: ResourceList,
    /// Which objects the quota counts (all when empty): `Terminating`,
    /// `NotTerminating`, `BestEffort`, `NotBestEffort`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub scopes: Vec<String>,
    /// Scopes as selector expressions, all of which an object must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_selector: Option<ScopeSelector>,
}

/// Scopes as expressions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ScopeSelector")]
pub struct ScopeSelector {
    /// The expressions, ANDed.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub match_expressions: Vec<ScopedResourceSelectorRequirement>,
}

/// One scope expression.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ScopedResourceSelectorRequirement")]
pub struct ScopedResourceSelectorRequirement {
    /// The scope.
    #[schema(required)]
    pub scope_name: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[schema(required)]
    pub operator: String,
    /// The values (`In`/`NotIn` only).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub values: Vec<String>,
}

/// The enforced caps and current usage of a ResourceQuota.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ResourceQuotaStatus")]
pub struct ResourceQuotaStatus {
    /// The caps enforced (the spec's, once the controller has seen it).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub hard: ResourceList,
    /// What the namespace uses now of each capped resource.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "ResourceList::is_empty"
    )]
    pub used: ResourceList,
}

/// Quota scopes and the resource names quotas know.
pub mod quota {
    /// Pods with `activeDeadlineSeconds` set.
    pub const SCOPE_TERMINATING: &str = "Terminating";
    /// Pods without `activeDeadlineSeconds`.
    pub const SCOPE_NOT_TERMINATING: &str = "NotTerminating";
    /// Pods whose containers request and limit nothing.
    pub const SCOPE_BEST_EFFORT: &str = "BestEffort";
    /// Pods with some request or limit.
    pub const SCOPE_NOT_BEST_EFFORT: &str = "NotBestEffort";
    /// The scopes Rudder enforces.
    pub const SCOPES: [&str; 4] = [
        SCOPE_TERMINATING,
        SCOPE_NOT_TERMINATING,
        SCOPE_BEST_EFFORT,
        SCOPE_NOT_BEST_EFFORT,
    ];
    /// The prefix of object-count resources: `count/<resource>[.<group>]`.
    pub const COUNT_PREFIX: &str = "count/";
    /// Pods that are not terminal.
    pub const PODS: &str = "pods";
    /// Services.
    pub const SERVICES: &str = "services";
    /// Node ports of Services (NodePort and LoadBalancer).
    pub const SERVICES_NODE_PORTS: &str = "services.nodeports";
    /// LoadBalancer Services.
    pub const SERVICES_LOAD_BALANCERS: &str = "services.loadbalancers";
    /// ConfigMaps.
    pub const CONFIG_MAPS: &str = "configmaps";
    /// Secrets.
    pub const SECRETS: &str = "secrets";
    /// PersistentVolumeClaims.
    pub const PERSISTENT_VOLUME_CLAIMS: &str = "persistentvolumeclaims";
    /// ReplicationControllers.
    pub const REPLICATION_CONTROLLERS: &str = "replicationcontrollers";
    /// ResourceQuotas.
    pub const RESOURCE_QUOTAS: &str = "resourcequotas";
    /// The storage the claims of a namespace request.
    pub const REQUESTS_STORAGE: &str = "requests.storage";
    /// The prefix of request totals (`requests.cpu`).
    pub const REQUESTS_PREFIX: &str = "requests.";
    /// The prefix of limit totals (`limits.cpu`).
    pub const LIMITS_PREFIX: &str = "limits.";

    /// The object-count resource of a resource (`count/pods`,
    /// `count/deployments.apps`).
    pub fn count_name(group: &str, plural: &str) -> String {
        if group.is_empty() {
            format!("{COUNT_PREFIX}{plural}")
        } else {
            format!("{COUNT_PREFIX}{plural}.{group}")
        }
    }
}
