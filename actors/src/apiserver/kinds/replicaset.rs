//! ReplicaSets (`apps/v1`): the `status.replicas` field selector and the printer.

use rudder_protocol::resources::{ReplicaSet, Time};
use serde_json::{json, Value};

use super::super::table::{
    containers_and_images, or_none, selector_string, since, Column, Row, REPLICA_COLUMNS,
};
use super::{field, SelectableField, Strategy};

impl Strategy for ReplicaSet {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::workload];
    const FIELDS: &'static [SelectableField] = &[field("status.replicas").zero("0")];
    const COLUMNS: &'static [Column] = REPLICA_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(replica_set_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        super::example_workload(json!({"matchLabels": {"app": "example"}}))
    }
}

fn replica_set_cells(rs: &ReplicaSet, now: Time) -> Vec<Value> {
    let (names, images) = containers_and_images(&rs.spec.template.spec);
    vec![
        json!(rs.metadata.name),
        json!(rs.spec.replicas.unwrap_or(1)),
        json!(rs.status.replicas),
        json!(rs.status.ready_replicas),
        json!(since(rs.metadata.creation_timestamp, now)),
        json!(names),
        json!(images),
        json!(or_none(&selector_string(&rs.spec.selector))),
    ]
}
