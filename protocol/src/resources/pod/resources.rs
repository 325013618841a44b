//! Resource claims (dynamic resource allocation), in-place resize policies and the
//! health of allocated devices.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::resources::null_as_default;
use crate::schema::Schema;

/// A claim of the pod a container uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ResourceClaim")]
pub struct ResourceClaim {
    /// The name of an entry of the pod's `resourceClaims`.
    #[schema(required)]
    pub name: String,
    /// One request of the claim (default: all of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// A ResourceClaim the pod uses, named directly or made from a template.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodResourceClaim")]
pub struct PodResourceClaim {
    /// The claim's name within the pod.
    #[schema(required)]
    pub name: String,
    /// An existing ResourceClaim in the pod's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_claim_name: Option<String>,
    /// A ResourceClaimTemplate a claim is made from for this pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_claim_template_name: Option<String>,
}

/// The ResourceClaim generated for one of the pod's claims.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodResourceClaimStatus")]
pub struct PodResourceClaimStatus {
    /// The claim's name within the pod.
    #[schema(required)]
    pub name: String,
    /// The generated ResourceClaim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_claim_name: Option<String>,
}

/// The claim backing the pod's extended resource requests.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodExtendedResourceClaimStatus")]
pub struct PodExtendedResourceClaimStatus {
    /// Which claim request serves which container's extended resource.
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, atomic)]
    pub request_mappings: Vec<ContainerExtendedResourceRequest>,
    /// The claim's name.
    #[schema(required)]
    pub resource_claim_name: String,
}

/// One container's extended resource mapped to a claim request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerExtendedResourceRequest")]
pub struct ContainerExtendedResourceRequest {
    /// The container.
    #[schema(required)]
    pub container_name: String,
    /// The extended resource.
    #[schema(required)]
    pub resource_name: String,
    /// The claim request.
    #[schema(required)]
    pub request_name: String,
}

string_enum! {
    /// What resizing a resource in place does to the container.
    #[derive(Default)]
    pub enum ResourceResizeRestartPolicy {
        /// Resize without restarting (the default).
        #[default]
        NotRequired = "NotRequired",
        /// Restart the container to apply the new value.
        RestartContainer = "RestartContainer",
    }
}

/// How a container is resized in place for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerResizePolicy")]
pub struct ContainerResizePolicy {
    /// `cpu` or `memory`.
    #[schema(required)]
    pub resource_name: String,
    /// NotRequired or RestartContainer.
    #[schema(required)]
    pub restart_policy: ResourceResizeRestartPolicy,
}

/// The health of the devices behind one allocated resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ResourceStatus")]
pub struct ResourceStatus {
    /// The resource (`claim:<name>/<request>` or an extended resource).
    #[schema(required)]
    pub name: String,
    /// One per device.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub resources: Vec<ResourceHealth>,
}

/// The health of one device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ResourceHealth")]
pub struct ResourceHealth {
    /// The device's id.
    #[serde(rename = "resourceID")]
    #[schema(required)]
    pub resource_id: String,
    /// Healthy, Unhealthy or Unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}
