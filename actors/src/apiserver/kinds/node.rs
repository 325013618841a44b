//! Nodes (`core/v1`, cluster-scoped): the `spec.unschedulable` field selector and
//! Kubernetes' node printer.

use rudder_protocol::resources::{ConditionStatus, Node, NodeAddressType, Time};
use serde_json::{json, Value};

use super::super::table::{col, or_none, since, Column, Row, AGE, NAME};
use super::{field, SelectableField, Strategy};

impl Strategy for Node {
    const FIELDS: &'static [SelectableField] = &[field("spec.unschedulable").zero("false")];
    const COLUMNS: &'static [Column] = NODE_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(node_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        // Unschedulable: no pod lands on an example node.
        json!({"spec": {"unschedulable": true}})
    }
}

const NODE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    col(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node.",
    )
    .wide(),
    col(
        "External-IP",
        "string",
        "List of addresses reachable to the node.",
    )
    .wide(),
    col(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release.",
    )
    .wide(),
    col(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r'.",
    )
    .wide(),
    col(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API.",
    )
    .wide(),
];

fn node_cells(node: &Node, now: Time) -> Vec<Value> {
    let mut status: Vec<String> = node
        .status
        .conditions
        .iter()
        .filter(|c| c.type_ == "Ready")
        .take(1)
        .map(|c| {
            if c.status == ConditionStatus::True {
                "Ready".to_owned()
            } else {
                "NotReady".to_owned()
            }
        })
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if node.spec.unschedulable {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<&str> = node
        .metadata
        .labels
        .iter()
        .filter_map(|(k, v)| {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then_some(role)
            } else if k == "kubernetes.io/role" && !v.is_empty() {
                Some(v.as_str())
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    let address = |ty: NodeAddressType| {
        node.status
            .addresses
            .iter()
            .find(|a| a.type_ == ty)
            .map_or_else(|| "<none>".to_owned(), |a| a.address.clone())
    };
    let info = &node.status.node_info;
    let unknown = |s: &str| {
        if s.is_empty() {
            "<unknown>".to_owned()
        } else {
            s.to_owned()
        }
    };
    vec![
        json!(node.metadata.name),
        json!(status.join(",")),
        json!(or_none(&roles.join(","))),
        json!(since(node.metadata.creation_timestamp, now)),
        json!(info.kubelet_version),
        json!(address(NodeAddressType::InternalIp)),
        json!(address(NodeAddressType::ExternalIp)),
        json!(unknown(&info.os_image)),
        json!(unknown(&info.kernel_version)),
        json!(unknown(&info.container_runtime_version)),
    ]
}
