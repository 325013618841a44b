//! Endpoints (`core/v1`): Kubernetes' endpoints printer.

use rudder_protocol::resources::{Endpoints, Time};
use serde_json::{json, Value};

use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::Strategy;

impl Strategy for Endpoints {
    const COLUMNS: &'static [Column] = ENDPOINTS_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(endpoints_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        json!({})
    }
}

const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

/// `ip:port` pairs of the first three ready addresses, then `+ N more...`.
fn format_endpoints(ep: &Endpoints) -> String {
    const MAX: usize = 3;
    if ep.subsets.is_empty() {
        return "<none>".into();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    let host_port = |ip: &str, port: i32| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    for subset in &ep.subsets {
        if subset.ports.is_empty() {
            count += subset.addresses.len();
            for a in &subset.addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(a.ip.clone());
            }
            continue;
        }
        for port in &subset.ports {
            count += subset.addresses.len();
            for a in &subset.addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(host_port(&a.ip, port.port));
            }
        }
    }
    let text = list.join(",");
    if count > MAX {
        format!("{text} + {} more...", count - MAX)
    } else {
        text
    }
}

fn endpoints_cells(ep: &Endpoints, now: Time) -> Vec<Value> {
    vec![
        json!(ep.metadata.name),
        json!(format_endpoints(ep)),
        json!(since(ep.metadata.creation_timestamp, now)),
    ]
}
