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
//! pod's NOMINATED NODE and READINESS GATES are `<none>`. A pod's sidecars (restartable
//! init containers) count in READY as Kubernetes counts them. A pod's IP falls back to
//! `status.podIP` when `podIPs` is empty.

use serde_json::{json, Value};

use rudder_protocol::resources::{LabelSelector, LabelSelectorOperator, MicroTime, Time};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

/// The cells of one row and, for some kinds, the row's conditions (a finished pod is
/// `Completed`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// One value per column.
    pub cells: Vec<Value>,
    /// `conditions` of the row, if any.
    pub conditions: Option<Value>,
}

impl Row {
    /// A row without conditions.
    pub fn new(cells: Vec<Value>) -> Row {
        Row {
            cells,
            conditions: None,
        }
    }
}

pub(crate) const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 0,
    }
}

impl Column {
    pub(crate) const fn wide(self) -> Column {
        Column {
            priority: 1,
            ..self
        }
    }
}

pub(crate) const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    description: "Name must be unique within a namespace. It is required when creating resources, unless generateName is set.",
    priority: 0,
};
pub(crate) const AGE: Column = col(
    "Age",
    "string",
    "CreationTimestamp is the time the server created the object, in RFC 3339 form and UTC.",
);
pub(crate) const CONTAINERS: Column = col(
    "Containers",
    "string",
    "Names of each container in the template.",
)
.wide();
pub(crate) const IMAGES: Column = col(
    "Images",
    "string",
    "Images referenced by each container in the template.",
)
.wide();

pub(crate) const REPLICA_COLUMNS: &[Column] = &[
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

/// Kubernetes' default table, for kinds without a printer.
pub const DEFAULT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Created At",
        "date",
        "CreationTimestamp is the time the server created the object, in RFC 3339 form and UTC.",
    ),
];

/// Builds the `Table` of `items` (objects of `kind`, as JSON) for `kubectl get`.
/// `list_meta` becomes the table's `metadata` (`resourceVersion`, `continue`).
pub fn table(
    kind: &str,
    items: &[Value],
    include_object: IncludeObject,
    list_meta: Value,
    now: Time,
) -> Value {
    let kind = super::kinds::for_kind(kind);
    let columns = kind.map_or(DEFAULT_COLUMNS, |k| k.columns());
    let column_definitions: Vec<Value> = columns
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
            // The printers read the stored version's fields.
            let stored = super::versions::stored_copy(item);
            let Row { cells, conditions } = match kind {
                Some(kind) => kind.row(stored.as_ref().unwrap_or(item), now),
                None => default_row(item),
            };
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

/// Kubernetes' default row: the name and the creation time as RFC 3339.
pub(crate) fn default_row(item: &Value) -> Row {
    let meta = &item["metadata"];
    let created = meta["creationTimestamp"]
        .as_str()
        .unwrap_or("0001-01-01T00:00:00Z");
    Row::new(vec![meta["name"].clone(), json!(created)])
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
pub(crate) fn since(t: Option<Time>, now: Time) -> String {
    match t {
        Some(t) => human_duration(now.0.saturating_sub(t.0)),
        None => "<unknown>".into(),
    }
}

pub(crate) fn since_micro(t: Option<MicroTime>, now: Time) -> String {
    match t {
        // Truncated towards zero, as Go's int(d.Seconds()).
        Some(t) => human_duration(now.0.saturating_mul(1_000_000).saturating_sub(t.0) / 1_000_000),
        None => "<unknown>".into(),
    }
}

pub(crate) fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_owned()
    }
}

// ---- shared by several kinds' printers ------------------------------------------------

/// Container names and images, comma-separated.
pub(crate) fn containers_and_images(
    spec: &rudder_protocol::resources::PodSpec,
) -> (String, String) {
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = spec.containers.iter().map(|c| c.image.as_str()).collect();
    (names.join(","), images.join(","))
}

/// A label selector in Kubernetes' string form: requirements sorted by key,
/// `app=web,tier in (a,b),!legacy`.
pub(crate) fn selector_string(selector: &LabelSelector) -> String {
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
pub(crate) fn format_labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    or_none(&text.join(","))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::resources::{
        ConditionStatus, ContainerStatus, Deployment, Endpoints, Event, Lease, Namespace, Node,
        NodeAddressType, Pod, PodPhase, ReplicaSet, ReplicationController, Service, ServiceAccount,
        ServiceType,
    };
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
        // A sidecar (restartable init container) counts in READY once started, and its
        // restarts count once the pod is initialised.
        let with_sidecar = |sidecar: ContainerStatus, app: ContainerStatus, initialized| {
            let mut p = pod(PodPhase::Running, vec![app]);
            p.spec.init_containers = vec![rudder_protocol::resources::Container {
                name: "log".into(),
                restart_policy: Some(rudder_protocol::resources::ContainerRestartPolicy::Always),
                ..Default::default()
            }];
            p.status.init_container_statuses = vec![sidecar];
            p.status.conditions = vec![PodCondition {
                type_: "Initialized".into(),
                status: if initialized {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                ..Default::default()
            }];
            p
        };
        let mut sidecar_up = status("log", true, 2, running());
        sidecar_up.started = Some(true);
        sidecar_up.last_state = terminated("Error", 1, 180);
        let mut sidecar_starting = status("log", false, 0, running());
        sidecar_starting.started = Some(false);
        let mut sidecar_unready = sidecar_up.clone();
        sidecar_unready.ready = false;
        let table: Vec<(&str, Pod, [&str; 4])> = vec![
            (
                "sidecar started and ready, app running",
                with_sidecar(sidecar_up, status("web", true, 0, running()), true),
                ["2/2", "Running", "2 (3m ago)", "5m"],
            ),
            (
                "sidecar started, not ready",
                with_sidecar(sidecar_unready, status("web", true, 0, running()), true),
                ["1/2", "Running", "2 (3m ago)", "5m"],
            ),
            (
                "sidecar not started yet",
                with_sidecar(
                    sidecar_starting,
                    status("web", false, 0, waiting("PodInitializing")),
                    false,
                ),
                ["0/2", "Init:0/1", "0", "5m"],
            ),
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
            assert_eq!(
                cells.len(),
                super::super::kinds::for_kind("Pod")
                    .expect("served")
                    .columns()
                    .len(),
                "{name}"
            );
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
            ("Secret", vec!["Name", "Type", "Data", "Age"]),
            ("ConfigMap", vec!["Name", "Data", "Age"]),
            ("NoSuchKind", vec!["Name", "Created At"]),
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
        let t = table("NoSuchKind", &[item], IncludeObject::None, json!({}), NOW);
        assert_eq!(t["rows"][0]["cells"], json!(["s", "2024-05-01T12:00:00Z"]));
    }
}
