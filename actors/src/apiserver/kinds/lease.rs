//! Leases (`coordination.k8s.io/v1`): Kubernetes' lease printer.

use rudder_protocol::resources::{Lease, Time};
use serde_json::{json, Value};

use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::Strategy;

impl Strategy for Lease {
    const COLUMNS: &'static [Column] = LEASE_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(lease_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        json!({"spec": {"holderIdentity": "example"}})
    }
}

const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col("Holder", "string", "The holder of the lease."),
    AGE,
];

fn lease_cells(lease: &Lease, now: Time) -> Vec<Value> {
    vec![
        json!(lease.metadata.name),
        json!(lease.spec.holder_identity.as_deref().unwrap_or("")),
        json!(since(lease.metadata.creation_timestamp, now)),
    ]
}
