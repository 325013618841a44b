//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, with the columns and cell
//! values of Kubernetes' own printers (`pkg/printers/internalversion`).
//!
//! As kube-apiserver does, every row carries all cells, the `-o wide` ones (priority 1)
//! included; kubectl hides those unless asked. Ages are Kubernetes' `HumanDuration`
//! ([`human_duration`]) against a `now` the caller passes, so output is reproducible.
//! Kinds without a printer get Kubernetes' default table (`Name`, `Created At`).
//!
//! Fields the protocol does not model print as Kubernetes prints them when absent: a
//! pod's NOMINATED NODE and READINESS GATES are `<none>`, and sidecar (restartable init)
//! containers do not exist. A pod's IP falls back to `status.podIP` when `podIPs` is
//! empty.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use rudder_protocol::resources::{
    ConditionStatus, ContainerStatus, Deployment, Endpoints, Event, LabelSelector,
    LabelSelectorOperator, Lease, MicroTime, Namespace, Node, NodeAddressType, Pod, PodPhase,
    ReplicaSet, ReplicationController, Service, ServiceAccount, ServiceType, Time,
};

/// What each row's `object` holds (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` with the object's metadata (Kubernetes' default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter: `None`, `Metadata` or `Object`.
    pub fn parse(s: &str) -> Option<IncludeObject> {
        match s {
            "None" => Some(IncludeObject::None),
            "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// One column definition.
struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 0,
    }
}

impl Column {
    const fn wide(self) -> Column {
        Column {
            priority: 1,
            ..self
        }
    }
}

const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    description: "Name must be unique within a namespace. It is required when creating resources, unless generateName is set.",
    priority: 0,
};
const AGE: Column = col(
    "Age",
    "string",
    "CreationTimestamp is the time the server created the object, in RFC 3339 form and UTC.",
);
const CONTAINERS: Column = col(
    "Containers",
    "string",
    "Names of each container in the template.",
)
.wide();
const IMAGES: Column = col(
    "Images",
    "string",
    "Images referenced by each container in the template.",
)
.wide();

const POD_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    col("IP", "string", "The IP address allocated to the pod.").wide(),
    col("Node", "string", "The node the pod is bound to.").wide(),
    col("Nominated Node", "string", "The node the scheduler nominated for a preempting pod.").wide(),
    col("Readiness Gates", "string", "Extra conditions evaluated for pod readiness.").wide(),
];

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

const REPLICA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    col("Ready", "integer", "The number of ready replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
    col(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
    )
    .wide(),
];

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "How the service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    col(
        "Cluster-IP",
        "string",
        "The IP address of the service, usually assigned randomly.",
    ),
    col(
        "External-IP",
        "string",
        "IP addresses for which nodes in the cluster accept traffic for this service.",
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    col(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    )
    .wide(),
];

const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

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

const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets pods running as this service account may use.",
    ),
    AGE,
];

const EVENT_COLUMNS: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    col("Type", "string", "Type of this event (Normal, Warning)."),
    col(
        "Reason",
        "string",
        "A short, machine understandable string that gives the reason for this event.",
    ),
    col("Object", "string", "The object that this event is about."),
    col(
        "Subobject",
        "string",
        "The field of the object the event is about.",
    )
    .wide(),
    col("Source", "string", "The component reporting this event.").wide(),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    col(
        "First Seen",
        "string",
        "The time at which the event was first recorded.",
    )
    .wide(),
    col(
        "Count",
        "string",
        "The number of times this event has occurred.",
    )
    .wide(),
    Column {
        priority: 1,
        ..NAME
    },
];

const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col("Holder", "string", "The holder of the lease."),
    AGE,
];

const DEFAULT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Created At",
        "date",
        "CreationTimestamp is the time the server created the object, in RFC 3339 form and UTC.",
    ),
];

fn columns(kind: &str) -> &'static [Column] {
    match kind {
        "Pod" => POD_COLUMNS,
        "Deployment" => DEPLOYMENT_COLUMNS,
        "ReplicaSet" | "ReplicationController" => REPLICA_COLUMNS,
        "Service" => SERVICE_COLUMNS,
        "Endpoints" => ENDPOINTS_COLUMNS,
        "Node" => NODE_COLUMNS,
        "Namespace" => NAMESPACE_COLUMNS,
        "ServiceAccount" => SERVICE_ACCOUNT_COLUMNS,
        "Event" => EVENT_COLUMNS,
        "Lease" => LEASE_COLUMNS,
        _ => DEFAULT_COLUMNS,
    }
}

/// Builds the `Table` of `items` (objects of `kind`, as JSON) for `kubectl get`.
/// `list_meta` becomes the table's `metadata` (`resourceVersion`, `continue`).
pub fn table(
    kind: &str,
    items: &[Value],
    include_object: IncludeObject,
    list_meta: Value,
    now: Time,
) -> Value {
    let column_definitions: Vec<Value> = columns(kind)
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.ty,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let (cells, conditions) = cells(kind, item, now);
            let mut row = json!({ "cells": cells });
            if let Some(conditions) = conditions {
                row["conditions"] = conditions;
            }
            match include_object {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": item.get("metadata").cloned().unwrap_or_else(|| json!({})),
                    });
                }
                IncludeObject::Object => row["object"] = item.clone(),
            }
            row
        })
        .collect();
    let metadata = if list_meta.is_object() {
        list_meta
    } else {
        json!({})
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

/// Reads an item as its protocol type; a malformed item prints as an empty object.
fn parse<T: DeserializeOwned + Default>(item: &Value) -> T {
    serde_json::from_value(item.clone()).unwrap_or_default()
}

fn cells(kind: &str, item: &Value, now: Time) -> (Vec<Value>, Option<Value>) {
    match kind {
        "Pod" => pod_cells(&parse(item), now),
        "Deployment" => (deployment_cells(&parse(item), now), None),
        "ReplicaSet" => (replica_set_cells(&parse(item), now), None),
        "ReplicationController" => (replication_controller_cells(&parse(item), now), None),
        "Service" => (service_cells(&parse(item), now), None),
        "Endpoints" => (endpoints_cells(&parse(item), now), None),
        "Node" => (node_cells(&parse(item), now), None),
        "Namespace" => (namespace_cells(&parse(item), now), None),
        "ServiceAccount" => (service_account_cells(&parse(item), now), None),
        "Event" => (event_cells(&parse(item), now), None),
        "Lease" => (lease_cells(&parse(item), now), None),
        _ => {
            let meta = &item["metadata"];
            let created = meta["creationTimestamp"]
                .as_str()
                .unwrap_or("0001-01-01T00:00:00Z");
            (vec![meta["name"].clone(), json!(created)], None)
        }
    }
}

/// Kubernetes' `duration.HumanDuration` for a whole number of seconds: about two
/// significant figures ("5s", "3m2s", "10m", "2d3h", "2y70d").
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of a timestamp, or `<unknown>` when there is none.
fn since(t: Option<Time>, now: Time) -> String {
    match t {
        Some(t) => human_duration(now.0.saturating_sub(t.0)),
        None => "<unknown>".into(),
    }
}

fn since_micro(t: Option<MicroTime>, now: Time) -> String {
    match t {
        // Truncated towards zero, as Go's int(d.Seconds()).
        Some(t) => human_duration(now.0.saturating_mul(1_000_000).saturating_sub(t.0) / 1_000_000),
        None => "<unknown>".into(),
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_owned()
    }
}

// ---- pods -----------------------------------------------------------------------------

fn pod_cells(pod: &Pod, now: Time) -> (Vec<Value>, Option<Value>) {
    let spec = &pod.spec;
    let status = &pod.status;
    let total = spec.containers.len();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut last_restart: Option<Time> = None;
    let note_restart = |last: &mut Option<Time>, c: &ContainerStatus| {
        if let Some(finished) = c.last_state.terminated.as_ref().and_then(|t| t.finished_at) {
            if last.is_none_or(|l| l < finished) {
                *last = Some(finished);
            }
        }
    };

    let mut reason = status
        .phase
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if !status.reason.is_empty() {
        reason = status.reason.clone();
    }
    if status
        .conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (i, c) in status.init_container_statuses.iter().enumerate() {
        restarts += i64::from(c.restart_count);
        note_restart(&mut last_restart, c);
        match (&c.state.terminated, &c.state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            (Some(t), _) => {
                reason = if !t.reason.is_empty() {
                    format!("Init:{}", t.reason)
                } else if t.signal != 0 {
                    format!("Init:Signal:{}", t.signal)
                } else {
                    format!("Init:ExitCode:{}", t.exit_code)
                };
            }
            (None, Some(w)) if !w.reason.is_empty() && w.reason != "PodInitializing" => {
                reason = format!("Init:{}", w.reason);
            }
            _ => reason = format!("Init:{i}/{}", spec.init_containers.len()),
        }
        initializing = true;
        break;
    }

    let initialized = status
        .conditions
        .iter()
        .any(|c| c.type_ == "Initialized" && c.status == ConditionStatus::True);
    if !initializing || initialized {
        restarts = 0;
        last_restart = None;
        let mut has_running = false;
        for c in status.container_statuses.iter().rev() {
            restarts += i64::from(c.restart_count);
            note_restart(&mut last_restart, c);
            let state = &c.state;
            if let Some(w) = state.waiting.as_ref().filter(|w| !w.reason.is_empty()) {
                reason = w.reason.clone();
            } else if let Some(t) = &state.terminated {
                reason = if !t.reason.is_empty() {
                    t.reason.clone()
                } else if t.signal != 0 {
                    format!("Signal:{}", t.signal)
                } else {
                    format!("ExitCode:{}", t.exit_code)
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True);
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        reason = if status.reason == "NodeLost" {
            "Unknown"
        } else {
            "Terminating"
        }
        .into();
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };
    let ip = status
        .pod_ips
        .first()
        .map(|ip| ip.ip.as_str())
        .unwrap_or(&status.pod_ip);
    let cells = vec![
        json!(pod.metadata.name),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        json!(since(pod.metadata.creation_timestamp, now)),
        json!(or_none(ip)),
        json!(or_none(&spec.node_name)),
        json!("<none>"),
        json!("<none>"),
    ];
    let conditions = match status.phase {
        Some(PodPhase::Succeeded) => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        Some(PodPhase::Failed) => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Failed",
            "message": "The pod failed.",
        }])),
        _ => None,
    };
    (cells, conditions)
}

// ---- controllers ----------------------------------------------------------------------

/// Container names and images, comma-separated.
fn containers_and_images(spec: &rudder_protocol::resources::PodSpec) -> (String, String) {
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = spec.containers.iter().map(|c| c.image.as_str()).collect();
    (names.join(","), images.join(","))
}

/// A label selector in Kubernetes' string form: requirements sorted by key,
/// `app=web,tier in (a,b),!legacy`.
fn selector_string(selector: &LabelSelector) -> String {
    let mut requirements: Vec<(&str, String)> = selector
        .match_labels
        .iter()
        .map(|(k, v)| (k.as_str(), format!("{k}={v}")))
        .collect();
    for e in &selector.match_expressions {
        let mut values = e.values.clone();
        values.sort();
        values.dedup();
        let key = e.key.as_str();
        let text = match e.operator {
            LabelSelectorOperator::In => format!("{key} in ({})", values.join(",")),
            LabelSelectorOperator::NotIn => format!("{key} notin ({})", values.join(",")),
            LabelSelectorOperator::Exists => key.to_owned(),
            LabelSelectorOperator::DoesNotExist => format!("!{key}"),
        };
        requirements.push((key, text));
    }
    requirements.sort_by(|a, b| a.0.cmp(b.0));
    requirements
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// A label map as `k=v,k2=v2` (sorted), or `<none>`.
fn format_labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    or_none(&text.join(","))
}

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

// ---- services and endpoints -----------------------------------------------------------

fn service_cells(svc: &Service, now: Time) -> Vec<Value> {
    let spec = &svc.spec;
    let ty = spec.type_.unwrap_or(ServiceType::ClusterIp);
    let cluster_ip = spec
        .cluster_ips
        .first()
        .map(String::as_str)
        .unwrap_or(&spec.cluster_ip);
    let external_ips = spec.external_ips.join(",");
    let external = match ty {
        ServiceType::ClusterIp | ServiceType::NodePort => or_none(&external_ips),
        ServiceType::LoadBalancer => {
            let mut ingress: Vec<&str> = svc
                .status
                .load_balancer
                .ingress
                .iter()
                .filter_map(|i| {
                    if !i.ip.is_empty() {
                        Some(i.ip.as_str())
                    } else if !i.hostname.is_empty() {
                        Some(i.hostname.as_str())
                    } else {
                        None
                    }
                })
                .collect();
            ingress.sort();
            ingress.dedup();
            let mut all: Vec<&str> = ingress;
            all.extend(spec.external_ips.iter().map(String::as_str));
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        ServiceType::ExternalName => spec.external_name.clone(),
    };
    let ports: Vec<String> = spec
        .ports
        .iter()
        .map(|p| {
            let protocol = p.protocol.unwrap_or_default();
            if p.node_port > 0 {
                format!("{}:{}/{protocol}", p.port, p.node_port)
            } else {
                format!("{}/{protocol}", p.port)
            }
        })
        .collect();
    vec![
        json!(svc.metadata.name),
        json!(ty.as_str()),
        json!(or_none(cluster_ip)),
        json!(external),
        json!(or_none(&ports.join(","))),
        json!(since(svc.metadata.creation_timestamp, now)),
        json!(format_labels(&spec.selector)),
    ]
}

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

// ---- nodes, namespaces, service accounts, events, leases ------------------------------

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

fn namespace_cells(ns: &Namespace, now: Time) -> Vec<Value> {
    vec![
        json!(ns.metadata.name),
        json!(ns.status.phase.map(|p| p.as_str()).unwrap_or("")),
        json!(since(ns.metadata.creation_timestamp, now)),
    ]
}

fn service_account_cells(sa: &ServiceAccount, now: Time) -> Vec<Value> {
    vec![
        json!(sa.metadata.name),
        json!(sa.secrets.len()),
        json!(since(sa.metadata.creation_timestamp, now)),
    ]
}

fn event_cells(ev: &Event, now: Time) -> Vec<Value> {
    let first = match ev.first_timestamp {
        Some(t) => since(Some(t), now),
        None => since_micro(ev.event_time, now),
    };
    let last = match ev.last_timestamp {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let count = if ev.count == 0 { 1 } else { ev.count };
    let object = &ev.involved_object;
    let target = if object.name.is_empty() {
        object.kind.to_lowercase()
    } else {
        format!("{}/{}", object.kind.to_lowercase(), object.name)
    };
    let component = if ev.source.component.is_empty() {
        &ev.reporting_component
    } else {
        &ev.source.component
    };
    let host = if ev.source.host.is_empty() {
        &ev.reporting_instance
    } else {
        &ev.source.host
    };
    let source = if host.is_empty() {
        component.clone()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(ev.type_),
        json!(ev.reason),
        json!(target),
        json!(object.field_path),
        json!(source),
        json!(ev.message.trim()),
        json!(first),
        json!(count),
        json!(ev.metadata.name),
    ]
}

fn lease_cells(lease: &Lease, now: Time) -> Vec<Value> {
    vec![
        json!(lease.metadata.name),
        json!(lease.spec.holder_identity.as_deref().unwrap_or("")),
        json!(since(lease.metadata.creation_timestamp, now)),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::resources::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
        EndpointAddress, EndpointPort, EndpointSubset, LabelSelectorRequirement,
        LoadBalancerIngress, NodeAddress, NodeCondition, ObjectReference, PodCondition, Protocol,
        Resource, ServicePort,
    };
    use std::collections::BTreeMap;

    const NOW: Time = Time(1_700_000_000);

    fn ago(seconds: i64) -> Option<Time> {
        Some(Time(NOW.0 - seconds))
    }

    fn created<K: Resource>(name: &str, age: i64) -> K {
        let mut k = K::default();
        k.metadata_mut().name = name.into();
        k.metadata_mut().creation_timestamp = ago(age);
        k
    }

    fn row<K: Resource>(object: &K) -> Vec<Value> {
        let t = table(
            K::KIND,
            &[serde_json::to_value(object).unwrap()],
            IncludeObject::None,
            json!({}),
            NOW,
        );
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    #[test]
    fn human_durations() {
        let table = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (182, "3m2s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 300, "3h5m"),
            (8 * 3600 + 300, "8h"),
            (47 * 3600, "47h"),
            (2 * 86400, "2d"),
            (2 * 86400 + 3 * 3600, "2d3h"),
            (8 * 86400, "8d"),
            (400 * 86400, "400d"),
            (800 * 86400, "2y70d"),
            (3 * 365 * 86400, "3y"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, want) in table {
            assert_eq!(human_duration(seconds), want, "{seconds}s");
        }
    }

    fn status(name: &str, ready: bool, restarts: i32, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            ready,
            restart_count: restarts,
            state,
            ..Default::default()
        }
    }

    fn running() -> ContainerState {
        ContainerState {
            running: Some(ContainerStateRunning {
                started_at: ago(60),
            }),
            ..Default::default()
        }
    }

    fn waiting(reason: &str) -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: reason.into(),
                message: String::new(),
            }),
            ..Default::default()
        }
    }

    fn terminated(reason: &str, exit_code: i32, finished: i64) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: reason.into(),
                exit_code,
                finished_at: ago(finished),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(phase: PodPhase, statuses: Vec<ContainerStatus>) -> Pod {
        let mut p: Pod = created("web-1", 300);
        p.spec.containers = statuses
            .iter()
            .map(|s| rudder_protocol::resources::Container {
                name: s.name.clone(),
                image: "nginx".into(),
                ..Default::default()
            })
            .collect();
        p.status.phase = Some(phase);
        p.status.container_statuses = statuses;
        p
    }

    #[test]
    fn pod_rows() {
        let mut crashing = status("web", false, 5, waiting("CrashLoopBackOff"));
        crashing.last_state = terminated("Error", 1, 180);
        let mut terminating = pod(PodPhase::Running, vec![status("web", true, 0, running())]);
        terminating.metadata.deletion_timestamp = ago(1);
        let mut node_lost = terminating.clone();
        node_lost.status.reason = "NodeLost".into();
        let mut init = pod(
            PodPhase::Pending,
            vec![status("web", false, 0, waiting("PodInitializing"))],
        );
        init.spec.init_containers = vec![Default::default()];
        init.status.init_container_statuses = vec![status("init", false, 0, running())];
        let mut not_ready = pod(
            PodPhase::Running,
            vec![
                status("web", true, 0, running()),
                status("job", false, 0, terminated("Completed", 0, 10)),
            ],
        );
        not_ready.status.conditions = vec![PodCondition {
            type_: "Ready".into(),
            status: ConditionStatus::False,
            ..Default::default()
        }];
        let table: Vec<(&str, Pod, [&str; 4])> = vec![
            (
                "running",
                pod(PodPhase::Running, vec![status("web", true, 0, running())]),
                ["1/1", "Running", "0", "5m"],
            ),
            (
                "two containers, one ready",
                pod(
                    PodPhase::Running,
                    vec![
                        status("a", true, 0, running()),
                        status("b", false, 0, running()),
                    ],
                ),
                ["1/2", "Running", "0", "5m"],
            ),
            (
                "completed",
                pod(
                    PodPhase::Succeeded,
                    vec![status("web", false, 0, terminated("Completed", 0, 30))],
                ),
                ["0/1", "Completed", "0", "5m"],
            ),
            (
                "crash loop with recent restart",
                pod(PodPhase::Running, vec![crashing]),
                ["0/1", "CrashLoopBackOff", "5 (3m ago)", "5m"],
            ),
            (
                "image pull error",
                pod(
                    PodPhase::Pending,
                    vec![status("web", false, 0, waiting("ErrImagePull"))],
                ),
                ["0/1", "ErrImagePull", "0", "5m"],
            ),
            (
                "container creating",
                pod(
                    PodPhase::Pending,
                    vec![status("web", false, 0, waiting("ContainerCreating"))],
                ),
                ["0/1", "ContainerCreating", "0", "5m"],
            ),
            (
                "exit code without reason",
                pod(
                    PodPhase::Failed,
                    vec![status("web", false, 0, terminated("", 3, 5))],
                ),
                ["0/1", "ExitCode:3", "0", "5m"],
            ),
            (
                "pending, no statuses",
                pod(PodPhase::Pending, vec![]),
                ["0/0", "Pending", "0", "5m"],
            ),
            (
                "terminating",
                terminating,
                ["1/1", "Terminating", "0", "5m"],
            ),
            ("node lost", node_lost, ["1/1", "Unknown", "0", "5m"]),
            ("initializing", init, ["0/1", "Init:0/1", "0", "5m"]),
            (
                "completed sidecar, not ready",
                not_ready,
                ["1/2", "NotReady", "0", "5m"],
            ),
        ];
        for (name, p, want) in table {
            let cells = row(&p);
            let got: Vec<&str> = cells[1..5].iter().map(|c| c.as_str().unwrap()).collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(cells[0], "web-1", "{name}");
            assert_eq!(cells.len(), POD_COLUMNS.len(), "{name}");
        }
    }

    #[test]
    fn pod_wide_cells_and_conditions() {
        let mut p = pod(
            PodPhase::Succeeded,
            vec![status("web", false, 0, terminated("Completed", 0, 1))],
        );
        p.spec.node_name = "node-1".into();
        p.status.pod_ip = "10.244.0.5".into();
        let t = table(
            "Pod",
            &[serde_json::to_value(&p).unwrap()],
            IncludeObject::None,
            json!({"resourceVersion": "42"}),
            NOW,
        );
        let r = &t["rows"][0];
        assert_eq!(
            r["cells"].as_array().unwrap()[5..].to_vec(),
            vec![
                json!("10.244.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert_eq!(r["conditions"][0]["reason"], "Succeeded");
        assert!(r.get("object").is_none());
        assert_eq!(t["metadata"]["resourceVersion"], "42");
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    }

    #[test]
    fn column_definitions() {
        let t = table("Pod", &[], IncludeObject::Metadata, Value::Null, NOW);
        let cols = t["columnDefinitions"].as_array().unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(cols[0]["format"], "name");
        assert_eq!(cols[0]["priority"], 0);
        assert_eq!(cols[5]["priority"], 1);
        assert_eq!(cols[1]["format"], "");
        assert!(cols
            .iter()
            .all(|c| c["description"].as_str().is_some_and(|d| !d.is_empty())));
        assert_eq!(t["rows"], json!([]));
        assert_eq!(t["metadata"], json!({}));

        let table_names = [
            (
                "Deployment",
                vec![
                    "Name",
                    "Ready",
                    "Up-to-date",
                    "Available",
                    "Age",
                    "Containers",
                    "Images",
                    "Selector",
                ],
            ),
            (
                "ReplicaSet",
                vec![
                    "Name",
                    "Desired",
                    "Current",
                    "Ready",
                    "Age",
                    "Containers",
                    "Images",
                    "Selector",
                ],
            ),
            (
                "Service",
                vec![
                    "Name",
                    "Type",
                    "Cluster-IP",
                    "External-IP",
                    "Port(s)",
                    "Age",
                    "Selector",
                ],
            ),
            ("Endpoints", vec!["Name", "Endpoints", "Age"]),
            ("Namespace", vec!["Name", "Status", "Age"]),
            ("ServiceAccount", vec!["Name", "Secrets", "Age"]),
            ("Lease", vec!["Name", "Holder", "Age"]),
            ("Secret", vec!["Name", "Created At"]),
        ];
        for (kind, want) in table_names {
            let t = table(kind, &[], IncludeObject::None, json!({}), NOW);
            let got: Vec<&str> = t["columnDefinitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            assert_eq!(got, want, "{kind}");
        }
    }

    #[test]
    fn include_object_modes() {
        let p: Pod = created("web", 10);
        let item = serde_json::to_value(&p).unwrap();
        let table_modes = [
            (IncludeObject::None, Value::Null),
            (
                IncludeObject::Metadata,
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]}),
            ),
            (IncludeObject::Object, item.clone()),
        ];
        for (mode, want) in table_modes {
            let t = table("Pod", std::slice::from_ref(&item), mode, json!({}), NOW);
            assert_eq!(t["rows"][0]["object"], want, "{mode:?}");
        }
        let parse = [
            ("None", Some(IncludeObject::None)),
            ("Metadata", Some(IncludeObject::Metadata)),
            ("Object", Some(IncludeObject::Object)),
            ("object", None),
        ];
        for (s, want) in parse {
            assert_eq!(IncludeObject::parse(s), want, "{s}");
        }
    }

    #[test]
    fn deployment_and_replica_rows() {
        let mut d: Deployment = created("web", 2 * 86400 + 3 * 3600);
        d.spec.replicas = Some(3);
        d.status.ready_replicas = 2;
        d.status.updated_replicas = 3;
        d.status.available_replicas = 2;
        d.spec.template.spec.containers = vec![
            rudder_protocol::resources::Container {
                name: "web".into(),
                image: "nginx:1.25".into(),
                ..Default::default()
            },
            rudder_protocol::resources::Container {
                name: "log".into(),
                image: "busybox".into(),
                ..Default::default()
            },
        ];
        d.spec.selector.match_labels = BTreeMap::from([("app".into(), "web".into())]);
        d.spec.selector.match_expressions = vec![LabelSelectorRequirement {
            key: "tier".into(),
            operator: LabelSelectorOperator::In,
            values: vec!["front".into(), "back".into()],
        }];
        assert_eq!(
            row(&d),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2d3h"),
                json!("web,log"),
                json!("nginx:1.25,busybox"),
                json!("app=web,tier in (back,front)"),
            ]
        );

        let mut rs: ReplicaSet = created("web-abc", 45);
        rs.status.replicas = 1;
        assert_eq!(
            row(&rs),
            vec![
                json!("web-abc"),
                json!(1),
                json!(1),
                json!(0),
                json!("45s"),
                json!(""),
                json!(""),
                json!("<none>")
            ]
        );

        let mut rc: ReplicationController = created("legacy", 45);
        rc.spec.replicas = Some(2);
        rc.spec.selector = BTreeMap::from([("app".into(), "legacy".into())]);
        assert_eq!(row(&rc)[1..4].to_vec(), vec![json!(2), json!(0), json!(0)]);
        assert_eq!(row(&rc)[7], json!("app=legacy"));
    }

    #[test]
    fn service_rows() {
        let port = |port: i32, node_port: i32, protocol: Option<Protocol>| ServicePort {
            port,
            node_port,
            protocol,
            ..Default::default()
        };
        let mut node_port: Service = created("web", 120);
        node_port.spec.type_ = Some(ServiceType::NodePort);
        node_port.spec.cluster_ip = "10.96.0.10".into();
        node_port.spec.cluster_ips = vec!["10.96.0.10".into()];
        node_port.spec.ports = vec![port(80, 30080, None), port(53, 0, Some(Protocol::Udp))];
        node_port.spec.selector = BTreeMap::from([("app".into(), "web".into())]);

        let mut cluster_ip: Service = created("db", 5);
        cluster_ip.spec.cluster_ip = "None".into();

        let mut lb: Service = created("lb", 5);
        lb.spec.type_ = Some(ServiceType::LoadBalancer);
        lb.spec.ports = vec![port(443, 31443, Some(Protocol::Tcp))];
        let mut lb_ready = lb.clone();
        lb_ready.status.load_balancer.ingress = vec![LoadBalancerIngress {
            ip: "192.0.2.1".into(),
            hostname: String::new(),
        }];

        let mut external: Service = created("ext", 5);
        external.spec.type_ = Some(ServiceType::ExternalName);
        external.spec.external_name = "example.com".into();

        let table: Vec<(&str, Service, [&str; 5])> = vec![
            (
                "node port",
                node_port,
                [
                    "NodePort",
                    "10.96.0.10",
                    "<none>",
                    "80:30080/TCP,53/UDP",
                    "app=web",
                ],
            ),
            (
                "headless",
                cluster_ip,
                ["ClusterIP", "None", "<none>", "<none>", "<none>"],
            ),
            (
                "pending lb",
                lb,
                [
                    "LoadBalancer",
                    "<none>",
                    "<pending>",
                    "443:31443/TCP",
                    "<none>",
                ],
            ),
            (
                "lb",
                lb_ready,
                [
                    "LoadBalancer",
                    "<none>",
                    "192.0.2.1",
                    "443:31443/TCP",
                    "<none>",
                ],
            ),
            (
                "external name",
                external,
                ["ExternalName", "<none>", "example.com", "<none>", "<none>"],
            ),
        ];
        for (name, svc, want) in table {
            let cells = row(&svc);
            let got = [&cells[1], &cells[2], &cells[3], &cells[4], &cells[6]]
                .map(|c| c.as_str().unwrap());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn endpoints_rows() {
        let addresses = |ips: &[&str]| -> Vec<EndpointAddress> {
            ips.iter()
                .map(|ip| EndpointAddress {
                    ip: (*ip).into(),
                    ..Default::default()
                })
                .collect()
        };
        let subset = |ips: &[&str], ports: &[i32]| EndpointSubset {
            addresses: addresses(ips),
            not_ready_addresses: vec![],
            ports: ports
                .iter()
                .map(|p| EndpointPort {
                    port: *p,
                    ..Default::default()
                })
                .collect(),
        };
        let table: Vec<(&str, Vec<EndpointSubset>, &str)> = vec![
            ("none", vec![], "<none>"),
            (
                "two",
                vec![subset(&["10.0.0.1", "10.0.0.2"], &[80])],
                "10.0.0.1:80,10.0.0.2:80",
            ),
            (
                "more",
                vec![
                    subset(&["10.0.0.1", "10.0.0.2"], &[80, 443]),
                    subset(&["10.0.1.1"], &[80]),
                ],
                "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...",
            ),
            (
                "headless without ports",
                vec![subset(&["10.0.0.1"], &[])],
                "10.0.0.1",
            ),
            ("ipv6", vec![subset(&["fd00::1"], &[80])], "[fd00::1]:80"),
        ];
        for (name, subsets, want) in table {
            let mut ep: Endpoints = created("web", 5);
            ep.subsets = subsets;
            assert_eq!(row(&ep)[1], json!(want), "{name}");
        }
    }

    #[test]
    fn node_namespace_account_lease_rows() {
        let mut node: Node = created("cp-1", 3 * 86400);
        node.metadata.labels = BTreeMap::from([
            (
                "node-role.kubernetes.io/control-plane".into(),
                String::new(),
            ),
            ("kubernetes.io/role".into(), "worker".into()),
        ]);
        node.spec.unschedulable = true;
        node.status.conditions = vec![NodeCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..Default::default()
        }];
        node.status.addresses = vec![NodeAddress {
            type_: NodeAddressType::InternalIp,
            address: "192.168.1.10".into(),
        }];
        node.status.node_info.kubelet_version = "v1.37.0-rudder".into();
        node.status.node_info.os_image = "Debian GNU/Linux 12 (bookworm)".into();
        assert_eq!(
            row(&node),
            vec![
                json!("cp-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,worker"),
                json!("3d"),
                json!("v1.37.0-rudder"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("<unknown>"),
                json!("<unknown>"),
            ]
        );
        let bare: Node = created("w-1", 5);
        assert_eq!(
            row(&bare)[1..3].to_vec(),
            vec![json!("Unknown"), json!("<none>")]
        );

        let mut ns: Namespace = created("default", 600);
        ns.status.phase = Some(rudder_protocol::resources::NamespacePhase::Active);
        assert_eq!(
            row(&ns),
            vec![json!("default"), json!("Active"), json!("10m")]
        );

        let mut sa: ServiceAccount = created("default", 600);
        sa.secrets = vec![ObjectReference::default()];
        assert_eq!(row(&sa), vec![json!("default"), json!(1), json!("10m")]);

        let mut lease: Lease = created("cp-1", 7);
        lease.spec.holder_identity = Some("cp-1_abc".into());
        assert_eq!(
            row(&lease),
            vec![json!("cp-1"), json!("cp-1_abc"), json!("7s")]
        );
    }

    #[test]
    fn event_rows() {
        let mut ev: Event = created("web.17a", 100);
        ev.type_ = "Warning".into();
        ev.reason = "BackOff".into();
        ev.message = "Back-off restarting failed container\n".into();
        ev.involved_object = ObjectReference {
            kind: "Pod".into(),
            name: "web-1".into(),
            field_path: "spec.containers{web}".into(),
            ..Default::default()
        };
        ev.source.component = "kubelet".into();
        ev.source.host = "w-1".into();
        ev.first_timestamp = ago(600);
        ev.last_timestamp = ago(30);
        ev.count = 4;
        assert_eq!(
            row(&ev),
            vec![
                json!("30s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-1"),
                json!("spec.containers{web}"),
                json!("kubelet, w-1"),
                json!("Back-off restarting failed container"),
                json!("10m"),
                json!(4),
                json!("web.17a"),
            ]
        );
        // New-style event: only eventTime and the reporting fields.
        let mut new: Event = created("n", 5);
        new.event_time = Some(MicroTime((NOW.0 - 65) * 1_000_000 + 500_000));
        new.reporting_component = "default-scheduler".into();
        new.involved_object.kind = "Node".into();
        let cells = row(&new);
        assert_eq!(
            [&cells[0], &cells[3], &cells[5], &cells[7], &cells[8]],
            [
                &json!("64s"),
                &json!("node"),
                &json!("default-scheduler"),
                &json!("64s"),
                &json!(1)
            ]
        );
    }

    #[test]
    fn default_table_for_other_kinds() {
        let item = json!({"metadata": {"name": "s", "creationTimestamp": "2024-05-01T12:00:00Z"}});
        let t = table("Secret", &[item], IncludeObject::None, json!({}), NOW);
        assert_eq!(t["rows"][0]["cells"], json!(["s", "2024-05-01T12:00:00Z"]));
    }
}
