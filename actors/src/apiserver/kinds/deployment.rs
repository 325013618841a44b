//! Deployments (`apps/v1`): Kubernetes' deployment printer.

use rudder_protocol::resources::{Deployment, Time};
use serde_json::{json, Value};

use super::super::table::{
    col, containers_and_images, selector_string, since, Column, Row, AGE, CONTAINERS, IMAGES, NAME,
};
use super::Strategy;

impl Strategy for Deployment {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::workload];
    const COLUMNS: &'static [Column] = DEPLOYMENT_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(deployment_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        super::example_workload(json!({"matchLabels": {"app": "example"}}))
    }
}

const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    col("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.").wide(),
];

fn deployment_cells(d: &Deployment, now: Time) -> Vec<Value> {
    let desired = d.spec.replicas.unwrap_or(1);
    let (names, images) = containers_and_images(&d.spec.template.spec);
    vec![
        json!(d.metadata.name),
        json!(format!("{}/{desired}", d.status.ready_replicas)),
        json!(d.status.updated_replicas),
        json!(d.status.available_replicas),
        json!(since(d.metadata.creation_timestamp, now)),
        json!(names),
        json!(images),
        json!(selector_string(&d.spec.selector)),
    ]
}
