//! ReplicationControllers (`core/v1`): the `status.replicas` field selector and the
//! printer.

use rudder_protocol::resources::{ReplicationController, Time};
use serde_json::{json, Value};

use super::super::table::{
    containers_and_images, format_labels, since, Column, Row, REPLICA_COLUMNS,
};
use super::{field, SelectableField, Strategy};

impl Strategy for ReplicationController {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::workload];
    fn quota_usage(&self, usage: &mut rudder_protocol::resources::ResourceList) {
        usage.insert(
            rudder_protocol::resources::quota::REPLICATION_CONTROLLERS.into(),
            super::one(),
        );
    }

    fn quota_matches(name: &str) -> bool {
        name == rudder_protocol::resources::quota::REPLICATION_CONTROLLERS
    }

    const FIELDS: &'static [SelectableField] = &[field("status.replicas").zero("0")];
    const COLUMNS: &'static [Column] = REPLICA_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(replication_controller_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        super::example_workload(json!({"app": "example"}))
    }
}

fn replication_controller_cells(rc: &ReplicationController, now: Time) -> Vec<Value> {
    let (names, images) = rc
        .spec
        .template
        .as_ref()
        .map(|t| containers_and_images(&t.spec))
        .unwrap_or_default();
    vec![
        json!(rc.metadata.name),
        json!(rc.spec.replicas.unwrap_or(1)),
        json!(rc.status.replicas),
        json!(rc.status.ready_replicas),
        json!(since(rc.metadata.creation_timestamp, now)),
        json!(names),
        json!(images),
        json!(format_labels(&rc.spec.selector)),
    ]
}
