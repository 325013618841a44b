//! Leases (`coordination.k8s.io/v1 Lease`): a lightweight lock with a holder and a
//! renewal time, used for leader election among control-plane replicas and for node
//! heartbeats.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::MicroTime;

kind! {
    /// A named lock with a holder and an expiry.
    #[schema(name = "io.k8s.api.coordination.v1.Lease")]
    pub struct Lease: "coordination.k8s.io/v1", "Lease", "leases", namespaced = true {
        /// Who holds the lease, since when, and for how long.
        // Always written, `spec: {}` when empty, as Kubernetes does.
        pub spec: LeaseSpec,
    }
}

/// Who holds a lease and until when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.coordination.v1.LeaseSpec")]
pub struct LeaseSpec {
    /// The current holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    /// How long after `renewTime` the lease expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// When the current holder acquired it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<MicroTime>,
    /// When the holder last renewed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<MicroTime>,
    /// How often the lease changed hands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
}
