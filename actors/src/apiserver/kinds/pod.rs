//! Pods (`core/v1`): admission on create (phase `Pending`, the default not-ready and
//! unreachable tolerations), graceful deletion of a bound pod (its kubelet finishes it),
//! the pod field selectors and Kubernetes' pod printer.

use std::collections::{BTreeMap, BTreeSet};

use rudder_protocol::names::conditions;
use rudder_protocol::resources::{
    quota, ConditionStatus, ContainerRestartPolicy, ContainerStatus, Pod, PodCondition, PodPhase,
    PodStatus, Quantity, ResourceList, Time,
};
use serde_json::{json, Value};

use super::super::admission;
use super::super::core::set_or_remove;
use super::super::defaults::add_default_tolerations;
use super::super::limitranger;
use super::super::table::{col, or_none, since, Column, Row, AGE, NAME};
use super::{field, Admission, Deletion, SelectableField, Strategy};

impl Strategy for Pod {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::pod];
    const FIELDS: &'static [SelectableField] = &[
        field("spec.nodeName"),
        field("spec.restartPolicy"),
        field("spec.schedulerName"),
        field("spec.serviceAccountName"),
        field("spec.hostNetwork").zero("false"),
        field("status.phase"),
        field("status.podIP"),
    ];
    const COLUMNS: &'static [Column] = POD_COLUMNS;
    const ADMISSION: &'static [admission::Plugin] = &[
        admission::service_account,
        admission::priority,
        admission::runtime_class,
        limitranger::pod,
    ];

    /// Kubernetes' pod evaluator: a pod that is not terminal (nor past its deletion
    /// grace) counts as one of `pods` with its requests and limits of CPU, memory and
    /// ephemeral storage (requests also under their bare names), hugepages and
    /// extended resources.
    fn quota_usage(&self, usage: &mut ResourceList) {
        if !counts_in_quota(self, Time::now()) {
            return;
        }
        usage.insert(quota::PODS.into(), Quantity::new(1, Default::default()));
        let requests = pod_total(self, |c| &c.resources.requests);
        let limits = pod_total(self, |c| &c.resources.limits);
        add_compute_usage(&requests, &limits, usage);
    }

    fn quota_matches(name: &str) -> bool {
        POD_QUOTA_RESOURCES.contains(&name)
            || name.starts_with("hugepages-")
            || name.starts_with("requests.hugepages-")
            || (name.starts_with(quota::REQUESTS_PREFIX) && name.contains('/'))
    }

    fn quota_scope(&self, scope: &str) -> Option<bool> {
        let terminating = self.spec.active_deadline_seconds.is_some_and(|s| s >= 0);
        let best_effort = self
            .spec
            .containers
            .iter()
            .chain(&self.spec.init_containers)
            .all(|c| {
                ["cpu", "memory"].iter().all(|r| {
                    !c.resources.requests.contains_key(*r) && !c.resources.limits.contains_key(*r)
                })
            });
        Some(match scope {
            quota::SCOPE_TERMINATING => terminating,
            quota::SCOPE_NOT_TERMINATING => !terminating,
            quota::SCOPE_BEST_EFFORT => best_effort,
            quota::SCOPE_NOT_BEST_EFFORT => !best_effort,
            _ => false,
        })
    }

    /// Kubernetes' pod evaluator constraint, kept for compatibility there: when a
    /// quota caps CPU or memory requests or limits, every container must state them.
    fn quota_constraints(&self, capped: &[&str]) -> Result<(), String> {
        let required: Vec<&str> = capped
            .iter()
            .copied()
            .filter(|r| QUOTA_VALIDATED.contains(r))
            .collect();
        if required.is_empty() {
            return Ok(());
        }
        let mut missing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for c in self
            .spec
            .containers
            .iter()
            .chain(&self.spec.init_containers)
        {
            let mut stated = ResourceList::new();
            add_compute_usage(&c.resources.requests, &c.resources.limits, &mut stated);
            for r in &required {
                if !stated.contains_key(*r) {
                    missing.entry(*r).or_default().insert(c.name.as_str());
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(r, names)| {
                format!(
                    "{r} for: {}",
                    names.iter().copied().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        Err(format!("must specify {}", parts.join("; ")))
    }

    fn cells(&self, now: Time) -> Row {
        let (cells, conditions) = pod_cells(self, now);
        Row { cells, conditions }
    }

    /// A new pod is `Pending` (unless it says otherwise), tolerates not-ready and
    /// unreachable nodes for the configured time (DefaultTolerationSeconds admission),
    /// and, with scheduling gates, reports `PodScheduled=False` (`SchedulingGated`).
    fn prepare_create(pod: &mut Pod, admission: &Admission) {
        if pod.status.phase.is_none() {
            pod.status = PodStatus {
                phase: Some(PodPhase::Pending),
                ..PodStatus::default()
            };
        }
        add_default_tolerations(pod, admission.default_toleration_seconds);
        // A gated pod says so until its gates are removed (Kubernetes'
        // PrepareForCreate); the scheduler leaves it alone meanwhile.
        if !pod.spec.scheduling_gates.is_empty()
            && pod.condition(conditions::POD_SCHEDULED).is_none()
        {
            pod.status.conditions.push(PodCondition {
                type_: conditions::POD_SCHEDULED.into(),
                status: ConditionStatus::False,
                reason: "SchedulingGated".into(),
                message: "Scheduling is blocked due to non-empty scheduling gates".into(),
                last_transition_time: Some(Time::now()),
                ..PodCondition::default()
            });
        }
    }

    /// Ephemeral containers change only through their subresource: an update of the
    /// pod keeps the ones it has.
    fn prepare_update(new: &mut Value, old: &Value) {
        let kept = old.pointer("/spec/ephemeralContainers").cloned();
        if let Some(spec) = new.get_mut("spec") {
            set_or_remove(spec, "ephemeralContainers", kept);
        }
    }

    /// A pod bound to a node with a grace period is stopped by its kubelet first.
    fn deletion(old: &Pod, grace: i64) -> Deletion {
        if grace > 0 && !old.spec.node_name.is_empty() {
            Deletion::Graceful
        } else {
            Deletion::Immediate
        }
    }

    fn example(_namespace: &str) -> Value {
        json!({"spec": super::example_pod_spec()})
    }
}

/// The quota resources every pod consumes (or states), besides prefixed ones.
const POD_QUOTA_RESOURCES: &[&str] = &[
    quota::PODS,
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

/// The capped resources every container must state (Kubernetes' `validationSet`).
const QUOTA_VALIDATED: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// Whether a pod still counts in quota (Kubernetes' `QuotaV1Pod`): not terminal, and
/// not deleted with its grace period over.
fn counts_in_quota(pod: &Pod, now: Time) -> bool {
    if matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    ) {
        return false;
    }
    match (
        pod.metadata.deletion_timestamp,
        pod.metadata.deletion_grace_period_seconds,
    ) {
        (Some(at), Some(grace)) => now.0 <= at.0.saturating_add(grace),
        _ => true,
    }
}

/// What a pod requests (or limits) in total, as Kubernetes' `PodRequests` adds it up:
/// its containers and sidecars together, or any one init container if that is more.
pub(crate) fn pod_total(
    pod: &Pod,
    of: impl Fn(&rudder_protocol::resources::Container) -> &ResourceList,
) -> ResourceList {
    let mut total = ResourceList::new();
    let add = |total: &mut ResourceList, list: &ResourceList| {
        for (k, v) in list {
            let sum = total.get(k).map_or_else(|| v.clone(), |t| t.add(v));
            total.insert(k.clone(), sum);
        }
    };
    for c in &pod.spec.containers {
        add(&mut total, of(c));
    }
    let mut sidecars = ResourceList::new();
    let mut init_peak = ResourceList::new();
    for c in &pod.spec.init_containers {
        if c.restart_policy == Some(ContainerRestartPolicy::Always) {
            add(&mut total, of(c));
            add(&mut sidecars, of(c));
            continue;
        }
        // An init container runs beside the sidecars started before it.
        let mut running = sidecars.clone();
        add(&mut running, of(c));
        for (k, v) in running {
            if init_peak.get(&k).is_none_or(|p| v.cmp_value(p).is_gt()) {
                init_peak.insert(k, v);
            }
        }
    }
    for (k, v) in init_peak {
        if total.get(&k).is_none_or(|t| v.cmp_value(t).is_gt()) {
            total.insert(k, v);
        }
    }
    total
}

/// Kubernetes' `podComputeUsageHelper` without the pod count: CPU, memory and
/// ephemeral storage requests (also under their bare names) and limits, hugepages and
/// extended resource requests.
fn add_compute_usage(requests: &ResourceList, limits: &ResourceList, usage: &mut ResourceList) {
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(v) = requests.get(r) {
            usage.insert(r.into(), v.clone());
            usage.insert(format!("{}{r}", quota::REQUESTS_PREFIX), v.clone());
        }
        if let Some(v) = limits.get(r) {
            usage.insert(format!("{}{r}", quota::LIMITS_PREFIX), v.clone());
        }
    }
    for (r, v) in requests {
        if r.starts_with("hugepages-") {
            usage.insert(r.clone(), v.clone());
            usage.insert(format!("{}{r}", quota::REQUESTS_PREFIX), v.clone());
        } else if r.contains('/') {
            usage.insert(format!("{}{r}", quota::REQUESTS_PREFIX), v.clone());
        }
    }
}

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

fn pod_cells(pod: &Pod, now: Time) -> (Vec<Value>, Option<Value>) {
    let spec = &pod.spec;
    let status = &pod.status;
    // Sidecars (restartable init containers) count in READY and its total, and their
    // restarts in RESTARTS once the pod is initialised, as Kubernetes' printer does.
    let is_sidecar = |name: &str| {
        spec.init_containers
            .iter()
            .any(|c| c.name == name && c.restart_policy == Some(ContainerRestartPolicy::Always))
    };
    let total = spec.containers.len()
        + spec
            .init_containers
            .iter()
            .filter(|c| is_sidecar(&c.name))
            .count();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut last_restart: Option<Time> = None;
    let mut sidecar_restarts: i64 = 0;
    let mut sidecar_last_restart: Option<Time> = None;
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
        let sidecar = is_sidecar(&c.name);
        if sidecar {
            sidecar_restarts += i64::from(c.restart_count);
            note_restart(&mut sidecar_last_restart, c);
        }
        match (&c.state.terminated, &c.state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            _ if sidecar && c.started == Some(true) => {
                if c.ready {
                    ready += 1;
                }
                continue;
            }
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
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
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
