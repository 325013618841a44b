//! `Scale` (`autoscaling/v1`): the `scale` subresource of deployments, replica sets and
//! replication controllers, as `kubectl scale` reads and writes it. It is never stored
//! under its own key; [`Resource::PLURAL`](super::Resource::PLURAL) is the subresource
//! name.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::is_default;

kind! {
    /// The replica count of a scalable object.
    #[schema(name = "io.k8s.api.autoscaling.v1.Scale")]
    pub struct Scale: "autoscaling/v1", "Scale", "scale", namespaced = true {
        /// The desired replicas.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: ScaleSpec,
        /// The observed scale; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: ScaleStatus,
    }
}

/// The desired replica count.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v1.ScaleSpec")]
pub struct ScaleSpec {
    /// The desired number of replicas.
    #[serde(skip_serializing_if = "is_default")]
    pub replicas: i32,
}

/// The observed replica count.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.autoscaling.v1.ScaleStatus")]
pub struct ScaleStatus {
    /// The observed number of replicas.
    #[schema(required)]
    pub replicas: i32,
    /// The label selector of the pods, in query-string form (`app=web,tier=front`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub selector: String,
}
