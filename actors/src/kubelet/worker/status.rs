//! The pod's status (phase, conditions, container statuses), derived from the same
//! observation the plan reads. Pure.

use rudder_protocol::names::conditions;
use rudder_protocol::resources::{
    ConditionStatus, Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIp, Pod, PodCondition, PodIp, PodPhase, PodStatus,
    RestartPolicy, Time,
};
use tokio::time::Instant;

use crate::kubelet::probe::{ProbeKind, Verdict};
use crate::kubelet::runtime::{ContainerInfo, RunState};

use super::*;

fn terminated_state(c: &ContainerInfo, message: &str) -> ContainerStateTerminated {
    let reason = if c.oom_killed {
        "OOMKilled"
    } else if c.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    ContainerStateTerminated {
        exit_code: i32::try_from(c.exit_code).unwrap_or(i32::MAX),
        signal: 0,
        reason: reason.into(),
        message: if message.is_empty() {
            c.error.clone()
        } else {
            message.to_owned()
        },
        started_at: c.started_at.map(Time::from_unix),
        finished_at: c.finished_at.map(Time::from_unix),
        container_id: format!("docker://{}", c.id),
    }
}

/// The termination message read for container `c`, `""` when none.
fn message_of<'a>(memory: &'a Memory, c: &ContainerInfo) -> &'a str {
    memory.messages.get(&c.id).map_or("", String::as_str)
}

fn waiting(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: reason.into(),
            message: message.into(),
        }),
        ..Default::default()
    }
}

/// The status of one container.
fn container_status(
    pod: &Pod,
    c: &Container,
    policy: RestartPolicy,
    observed: &Observed,
    memory: &Memory,
    now: Instant,
) -> ContainerStatus {
    let latest = observed.latest(&c.name);
    let mut status = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        restart_count: latest.map_or(0, |l| l.attempt() as i32),
        started: Some(false),
        ..Default::default()
    };
    if let Some(prev) = observed.previous(&c.name) {
        if prev.state == RunState::Exited {
            status.last_state = ContainerState {
                terminated: Some(terminated_state(prev, message_of(memory, prev))),
                ..Default::default()
            };
        }
    }
    let step = container_step(
        &c.name,
        policy,
        observed
            .containers
            .get(&c.name)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        memory,
        now,
    );
    let error = memory.errors.get(&c.name);
    match (latest, step) {
        (_, ContainerStep::PullBackOff { .. }) => {
            let message = memory.pulls.get(&c.name).map_or("", |(_, m)| m.as_str());
            status.state = waiting(
                "ImagePullBackOff",
                &format!("Back-off pulling image \"{}\": {message}", c.image),
            );
        }
        (latest, ContainerStep::StartBackOff { .. }) => {
            status.state = match error {
                Some((reason, message)) => waiting(reason, message),
                None => waiting("ContainerCreating", ""),
            };
            if let Some(l) = latest.filter(|l| l.state == RunState::Exited) {
                status.last_state = ContainerState {
                    terminated: Some(terminated_state(l, message_of(memory, l))),
                    ..Default::default()
                };
            }
        }
        (None, _) | (Some(_), ContainerStep::Discard { .. }) => {
            status.state = match error {
                Some((reason, message)) => waiting(reason, message),
                None => waiting("ContainerCreating", ""),
            };
        }
        (Some(l), ContainerStep::Running { id }) => {
            let is_started = started(c, &id, memory);
            let ready = is_started
                && (c.readiness_probe.is_none()
                    || memory
                        .probes
                        .get(&(id.clone(), ProbeKind::Readiness))
                        .is_some_and(|p| p.verdict == Verdict::Success));
            status.state = ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: l.started_at.map(Time::from_unix),
                }),
                ..Default::default()
            };
            status.ready = ready;
            status.started = Some(is_started);
        }
        (Some(l), ContainerStep::CrashLoopBackOff { .. }) => {
            let delay = memory.crash_delay.get(&c.name).copied().unwrap_or_default();
            status.state = waiting(
                "CrashLoopBackOff",
                &format!(
                    "back-off {}s restarting failed container={} pod={}_{}({})",
                    delay.as_secs(),
                    c.name,
                    pod.metadata.name,
                    pod.metadata.namespace,
                    pod.metadata.uid
                ),
            );
            status.last_state = ContainerState {
                terminated: Some(terminated_state(l, message_of(memory, l))),
                ..Default::default()
            };
        }
        (Some(l), ContainerStep::Start { .. }) => {
            // Exited, restart due this round.
            status.state = waiting("ContainerCreating", "");
            status.last_state = ContainerState {
                terminated: Some(terminated_state(l, message_of(memory, l))),
                ..Default::default()
            };
        }
        (Some(l), ContainerStep::Finished) => {
            status.state = ContainerState {
                terminated: Some(terminated_state(l, message_of(memory, l))),
                ..Default::default()
            };
        }
    }
    // A failed pod restarts nothing: an exited container stays terminated.
    if memory.pod_failure.is_some() {
        if let Some(l) = latest.filter(|l| l.state == RunState::Exited) {
            status.state = ContainerState {
                terminated: Some(terminated_state(l, message_of(memory, l))),
                ..Default::default()
            };
            status.ready = false;
        }
    }
    if let Some(l) = latest.filter(|_| status.state.waiting.is_none()) {
        status.container_id = format!("docker://{}", l.id);
        status.image_id = l.image_id.clone();
    }
    status
}

/// The pod's phase from its application containers' statuses and its sidecars'
/// (Kubernetes' `getPhase`, once the pod is initialised): a running sidecar counts as
/// running and one never started as waiting; an exited one (restarting, or stopped
/// after the application containers finished) does not count.
pub fn phase(
    policy: RestartPolicy,
    statuses: &[ContainerStatus],
    sidecars: &[ContainerStatus],
) -> PodPhase {
    let (mut waiting, mut running, mut stopped, mut succeeded, mut failed) = (0, 0, 0, 0, 0);
    for s in sidecars {
        if s.state.running.is_some() {
            running += 1;
        } else if s.state.waiting.is_some() && s.last_state.terminated.is_none() {
            waiting += 1;
        }
    }
    for s in statuses {
        if s.state.running.is_some() {
            running += 1;
        } else if let Some(t) = &s.state.terminated {
            if t.exit_code == 0 {
                succeeded += 1;
            } else {
                failed += 1;
            }
        } else if s.last_state.terminated.is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if statuses.is_empty() || waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 || stopped > 0 {
        return PodPhase::Running;
    }
    match policy {
        RestartPolicy::Always => PodPhase::Running,
        RestartPolicy::OnFailure if failed > 0 => PodPhase::Running,
        _ if failed > 0 => PodPhase::Failed,
        _ if succeeded > 0 => PodPhase::Succeeded,
        _ => PodPhase::Pending,
    }
}

fn condition(type_: &str, ok: bool, reason: &str, previous: &PodStatus, now: Time) -> PodCondition {
    let status = if ok {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let last = previous
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time);
    PodCondition {
        type_: type_.into(),
        status,
        last_probe_time: None,
        last_transition_time: Some(last.unwrap_or(now)),
        reason: if ok { String::new() } else { reason.into() },
        message: String::new(),
        ..Default::default()
    }
}

/// The pod conditions the kubelet writes; any other (a readiness gate's) is someone
/// else's.
pub const KUBELET_CONDITIONS: [&str; 5] = [
    conditions::POD_SCHEDULED,
    conditions::POD_READY_TO_START_CONTAINERS,
    conditions::INITIALIZED,
    conditions::CONTAINERS_READY,
    conditions::READY,
];

/// `status` (computed from the pod as a worker saw it) with the conditions others own
/// taken from `current`, the pod's status as the API has it now: a write must not undo
/// a readiness gate's condition set since (Kubernetes' status manager merges the same
/// way before it patches).
pub fn with_others_conditions(mut status: PodStatus, current: &PodStatus) -> PodStatus {
    status
        .conditions
        .retain(|c| KUBELET_CONDITIONS.contains(&c.type_.as_str()));
    status.conditions.extend(
        current
            .conditions
            .iter()
            .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
            .cloned(),
    );
    status
}

/// The pod's status, derived from the observation (see the module docs). `now_time`
/// stamps conditions that changed; unchanged ones keep their transition time.
pub fn compute_status(
    pod: &Pod,
    observed: &Observed,
    memory: &Memory,
    host_ip: &str,
    now: Instant,
    now_time: Time,
) -> PodStatus {
    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    let previous = &pod.status;
    let init = init_progress(pod, observed, memory);
    let finished = pod_finished(pod, &init, observed, memory, now);
    let mut init_statuses: Vec<ContainerStatus> = pod
        .spec
        .init_containers
        .iter()
        .map(|c| {
            let mut s = container_status(
                pod,
                c,
                container_policy(pod, c, true),
                observed,
                memory,
                now,
            );
            if is_sidecar(c) {
                // A finished pod restarts no sidecar: one that exited stays terminated.
                if let Some(l) = observed
                    .latest(&c.name)
                    .filter(|l| finished && l.state == RunState::Exited)
                {
                    s.state = ContainerState {
                        terminated: Some(terminated_state(l, message_of(memory, l))),
                        ..Default::default()
                    };
                    s.ready = false;
                }
            } else {
                s.ready = s
                    .state
                    .terminated
                    .as_ref()
                    .is_some_and(|t| t.exit_code == 0);
            }
            s
        })
        .collect();
    let mut statuses: Vec<ContainerStatus> = pod
        .spec
        .containers
        .iter()
        .map(|c| container_status(pod, c, policy, observed, memory, now))
        .collect();
    if init != InitProgress::Done {
        for s in &mut statuses {
            if s.state.waiting.is_some() {
                s.state = waiting("PodInitializing", "");
            }
        }
    }
    let sandbox_ready = observed
        .sandbox()
        .is_some_and(|s| s.state == RunState::Running);
    // Without a sandbox nothing can start: every waiting container says why.
    if let Some(message) = memory.sandbox_error.as_ref().filter(|_| !sandbox_ready) {
        for s in init_statuses.iter_mut().chain(statuses.iter_mut()) {
            if s.state.waiting.is_some() {
                s.state = waiting(SANDBOX_ERROR_REASON, message);
            }
        }
    }
    let sidecar_statuses: Vec<ContainerStatus> = pod
        .spec
        .init_containers
        .iter()
        .zip(&init_statuses)
        .filter(|(c, _)| is_sidecar(c))
        .map(|(_, s)| s.clone())
        .collect();
    let phase = match init {
        _ if memory.pod_failure.is_some() => PodPhase::Failed,
        InitProgress::Failed(_) => PodPhase::Failed,
        InitProgress::At(_) => PodPhase::Pending,
        InitProgress::Done => phase(policy, &statuses, &sidecar_statuses),
    };
    // Kubernetes' words: a sidecar is complete once started, a regular init container
    // once it exited successfully.
    let incomplete: Vec<&str> = match init {
        InitProgress::Done => vec![],
        InitProgress::At(_) | InitProgress::Failed(_) => pod
            .spec
            .init_containers
            .iter()
            .zip(&init_statuses)
            .filter(|(c, s)| {
                if is_sidecar(c) {
                    s.started != Some(true)
                } else {
                    s.state.terminated.as_ref().is_none_or(|t| t.exit_code != 0)
                }
            })
            .map(|(c, _)| c.name.as_str())
            .collect(),
    };
    let initialized = incomplete.is_empty();
    let init_message = format!(
        "containers with incomplete status: [{}]",
        incomplete.join(" ")
    );
    // Sidecars count for readiness as application containers do (Kubernetes'
    // `GenerateContainersReadyCondition`), named first.
    let containers_ready =
        !statuses.is_empty() && statuses.iter().chain(&sidecar_statuses).all(|s| s.ready);
    // Readiness gates: conditions others write; Ready needs them all True.
    let gate_problem = pod.spec.readiness_gates.iter().find_map(|g| {
        match previous
            .conditions
            .iter()
            .find(|c| c.type_ == g.condition_type)
        {
            None => Some(format!(
                "corresponding condition of pod readiness gate \"{}\" does not exist.",
                g.condition_type
            )),
            Some(c) if c.status != ConditionStatus::True => Some(format!(
                "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                g.condition_type,
                c.status.as_str()
            )),
            Some(_) => None,
        }
    });
    let unready_names: Vec<&str> = sidecar_statuses
        .iter()
        .chain(&statuses)
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();
    let not_ready = |reason: &str| {
        if containers_ready {
            String::new()
        } else {
            reason.to_owned()
        }
    };
    // The kubelet's message on ContainersReady and Ready when some container is not.
    let with_unready = |mut c: PodCondition| {
        if c.status != ConditionStatus::True && !unready_names.is_empty() {
            c.message = format!(
                "containers with unready status: [{}]",
                unready_names.join(" ")
            );
        }
        c
    };
    let pod_ip = Some(host_ip.to_owned())
        .filter(|_| pod.spec.host_network)
        .or_else(|| {
            observed
                .sandbox()
                .filter(|s| s.state == RunState::Running)
                .and_then(|s| s.ip.clone())
        })
        .or_else(|| memory.pod_ip.clone())
        // A finished pod keeps the address it had (its sandbox is stopped).
        .or_else(|| {
            matches!(phase, PodPhase::Succeeded | PodPhase::Failed).then(|| previous.pod_ip.clone())
        })
        .unwrap_or_default();
    let unready = not_ready("ContainersNotReady");
    let conditions = vec![
        condition(conditions::POD_SCHEDULED, true, "", previous, now_time),
        // Kubernetes' PodReadyToStartContainers: the sandbox (with its network) is up.
        condition(
            conditions::POD_READY_TO_START_CONTAINERS,
            sandbox_ready,
            "",
            previous,
            now_time,
        ),
        {
            let mut c = condition(
                conditions::INITIALIZED,
                initialized,
                if initialized {
                    ""
                } else {
                    "ContainersNotInitialized"
                },
                previous,
                now_time,
            );
            if !initialized {
                c.message = init_message;
            }
            c
        },
        with_unready(condition(
            conditions::CONTAINERS_READY,
            containers_ready,
            &unready,
            previous,
            now_time,
        )),
        {
            let ready = containers_ready && gate_problem.is_none();
            let mut c = with_unready(condition(
                conditions::READY,
                ready,
                &unready,
                previous,
                now_time,
            ));
            if containers_ready {
                if let Some(message) = &gate_problem {
                    c.reason = "ReadinessGatesNotReady".into();
                    c.message = message.clone();
                }
            }
            c
        },
    ];
    // Conditions the kubelet does not own (readiness gates' and others') are kept: the
    // status is written with a merge patch, which replaces the whole list (the write
    // takes them from the pod as it is then: see [`with_others_conditions`]).
    let mut conditions = conditions;
    conditions.extend(
        previous
            .conditions
            .iter()
            .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
            .cloned(),
    );
    let (reason, message) = memory.pod_failure.clone().unwrap_or_default();
    PodStatus {
        phase: Some(phase),
        conditions,
        message,
        reason,
        host_ip: host_ip.to_owned(),
        host_ips: vec![HostIp {
            ip: host_ip.to_owned(),
        }],
        pod_ips: if pod_ip.is_empty() {
            vec![]
        } else {
            vec![PodIp { ip: pod_ip.clone() }]
        },
        pod_ip,
        start_time: previous.start_time.or(memory.start_time),
        init_container_statuses: init_statuses,
        container_statuses: statuses,
        qos_class: Some(pod.qos_class()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
