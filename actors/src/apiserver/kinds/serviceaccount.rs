//! ServiceAccounts (`core/v1`): Kubernetes' service account printer.

use rudder_protocol::resources::{ServiceAccount, Time};
use serde_json::{json, Value};

use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::Strategy;

impl Strategy for ServiceAccount {
    const COLUMNS: &'static [Column] = SERVICE_ACCOUNT_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(service_account_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        json!({})
    }
}

const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets pods running as this service account may use.",
    ),
    AGE,
];

fn service_account_cells(sa: &ServiceAccount, now: Time) -> Vec<Value> {
    vec![
        json!(sa.metadata.name),
        json!(sa.secrets.len()),
        json!(since(sa.metadata.creation_timestamp, now)),
    ]
}
