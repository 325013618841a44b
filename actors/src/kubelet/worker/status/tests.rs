//! Phase and status tables.

use rudder_protocol::resources::Probe;

use super::*;
use crate::kubelet::probe::{ProbeState, Timing};
use crate::kubelet::worker::fixtures::{info, pod};

fn status_with(running: bool, terminated: Option<i32>, last: bool) -> ContainerStatus {
    let mut s = ContainerStatus::default();
    if running {
        s.state.running = Some(ContainerStateRunning::default());
    } else if let Some(code) = terminated {
        s.state.terminated = Some(ContainerStateTerminated {
            exit_code: code,
            ..Default::default()
        });
    } else {
        s.state.waiting = Some(ContainerStateWaiting::default());
    }
    if last {
        s.last_state.terminated = Some(ContainerStateTerminated::default());
    }
    s
}

#[test]
fn phases() {
    use RestartPolicy::*;
    let cases = [
        ("no containers", Always, vec![], PodPhase::Pending),
        (
            "waiting to start",
            Always,
            vec![status_with(false, None, false)],
            PodPhase::Pending,
        ),
        (
            "running",
            Always,
            vec![status_with(true, None, false)],
            PodPhase::Running,
        ),
        (
            "crash-looping counts as running",
            Always,
            vec![status_with(false, None, true)],
            PodPhase::Running,
        ),
        (
            "Never: failed",
            Never,
            vec![status_with(false, Some(1), false)],
            PodPhase::Failed,
        ),
        (
            "Never: all succeeded",
            Never,
            vec![status_with(false, Some(0), false)],
            PodPhase::Succeeded,
        ),
        (
            "OnFailure: success is final",
            OnFailure,
            vec![status_with(false, Some(0), false)],
            PodPhase::Succeeded,
        ),
        (
            "one running one done",
            Never,
            vec![
                status_with(true, None, false),
                status_with(false, Some(0), false),
            ],
            PodPhase::Running,
        ),
    ];
    for (name, policy, statuses, want) in cases {
        assert_eq!(phase(policy, &statuses, &[]), want, "{name}");
    }
    // Sidecars: a running one counts as running, one never started as waiting, an
    // exited one not at all.
    let done = || vec![status_with(false, Some(0), false)];
    let failed = || vec![status_with(false, Some(1), false)];
    let sidecar_cases = [
        (
            "app done, sidecar still running: Running",
            Never,
            done(),
            vec![status_with(true, None, false)],
            PodPhase::Running,
        ),
        (
            "app done, sidecar stopped: Succeeded",
            Never,
            done(),
            vec![status_with(false, Some(143), false)],
            PodPhase::Succeeded,
        ),
        (
            "app failed, sidecar stopped: Failed",
            Never,
            failed(),
            vec![status_with(false, Some(0), false)],
            PodPhase::Failed,
        ),
        (
            "app done, sidecar restarting: Succeeded",
            OnFailure,
            done(),
            vec![status_with(false, None, true)],
            PodPhase::Succeeded,
        ),
        (
            "sidecar never started: Pending",
            Always,
            vec![status_with(true, None, false)],
            vec![status_with(false, None, false)],
            PodPhase::Pending,
        ),
    ];
    for (name, policy, statuses, sidecars, want) in sidecar_cases {
        assert_eq!(phase(policy, &statuses, &sidecars), want, "{name}");
    }
}

fn sidecar_pod(policy: RestartPolicy) -> Pod {
    let mut p = pod(policy);
    p.spec.init_containers = vec![Container {
        name: "log".into(),
        image: "rudder/demo:1".into(),
        restart_policy: Some(rudder_protocol::resources::ContainerRestartPolicy::Always),
        readiness_probe: Some(Default::default()),
        ..Default::default()
    }];
    p
}

fn condition_of(s: &PodStatus, type_: &str) -> (ConditionStatus, String) {
    s.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.message.clone()))
        .unwrap_or((ConditionStatus::Unknown, String::new()))
}

#[test]
fn sidecar_statuses() {
    let now = Instant::now();
    let ready_probe = |id: &str| {
        let t = Timing::of(&Probe::default(), ProbeKind::Readiness);
        let mut ps = ProbeState::new(&t, now);
        ps.record(&t, Ok(()), now);
        let mut m = Memory::default();
        m.probes.insert((id.into(), ProbeKind::Readiness), ps);
        m
    };
    let sandbox = || info("s1", "", 0, RunState::Running, 0);
    use ConditionStatus::{False, True};
    // (name, pod, observed, memory, phase, sidecar ready and started, sidecar state,
    //  Initialized, ContainersReady and its message)
    type Case = (
        &'static str,
        Pod,
        Vec<ContainerInfo>,
        Memory,
        PodPhase,
        (bool, Option<bool>),
        &'static str,
        ConditionStatus,
        (ConditionStatus, &'static str),
    );
    let cases: Vec<Case> = vec![
        (
            "sidecar starting: not initialised",
            sidecar_pod(RestartPolicy::Always),
            vec![sandbox()],
            Memory::default(),
            PodPhase::Pending,
            (false, Some(false)),
            "waiting",
            False,
            (False, "containers with unready status: [log app]"),
        ),
        (
            "sidecar running, not ready: initialised, the pod is not ready",
            sidecar_pod(RestartPolicy::Always),
            vec![
                sandbox(),
                info("l1", "log", 0, RunState::Running, 0),
                info("c1", "app", 0, RunState::Running, 0),
            ],
            Memory::default(),
            PodPhase::Running,
            (false, Some(true)),
            "running",
            True,
            (False, "containers with unready status: [log]"),
        ),
        (
            "sidecar ready: the pod is ready",
            sidecar_pod(RestartPolicy::Always),
            vec![
                sandbox(),
                info("l1", "log", 0, RunState::Running, 0),
                info("c1", "app", 0, RunState::Running, 0),
            ],
            ready_probe("l1"),
            PodPhase::Running,
            (true, Some(true)),
            "running",
            True,
            (True, ""),
        ),
        (
            "job done, sidecar stopped: Succeeded, the sidecar terminated",
            sidecar_pod(RestartPolicy::Never),
            vec![
                sandbox(),
                info("l1", "log", 0, RunState::Exited, 143),
                info("c1", "app", 0, RunState::Exited, 0),
            ],
            Memory::default(),
            PodPhase::Succeeded,
            (false, Some(false)),
            "terminated",
            True,
            (False, "containers with unready status: [log app]"),
        ),
    ];
    for (name, p, containers, memory, want_phase, sidecar, state, init, ready) in cases {
        let observed = Observed::from_containers(containers);
        let s = compute_status(&p, &observed, &memory, "127.0.0.1", now, Time::from_unix(5));
        assert_eq!(s.phase, Some(want_phase), "{name}");
        let sc = &s.init_container_statuses[0];
        assert_eq!((sc.ready, sc.started), sidecar, "{name}");
        let got_state = if sc.state.running.is_some() {
            "running"
        } else if sc.state.terminated.is_some() {
            "terminated"
        } else {
            "waiting"
        };
        assert_eq!(got_state, state, "{name}");
        assert_eq!(condition_of(&s, "Initialized").0, init, "{name}");
        let (status, message) = condition_of(&s, "ContainersReady");
        assert_eq!((status, message.as_str()), ready, "{name}");
    }
}

#[test]
fn status_of_a_running_pod() {
    let now = Instant::now();
    let mut p = pod(RestartPolicy::Always);
    p.spec.containers[0].readiness_probe = Some(Default::default());
    let observed = Observed::from_containers(vec![
        info("s1", "", 0, RunState::Running, 0),
        info("c1", "app", 0, RunState::Exited, 1),
        info("c2", "app", 1, RunState::Running, 0),
    ]);
    let mut memory = Memory::default();
    let s = compute_status(&p, &observed, &memory, "127.0.0.1", now, Time::from_unix(5));
    assert_eq!(s.phase, Some(PodPhase::Running));
    assert_eq!(s.pod_ip, "10.244.1.2");
    assert_eq!(s.host_ip, "127.0.0.1");
    let c = &s.container_statuses[0];
    assert_eq!(c.restart_count, 1);
    assert_eq!(c.container_id, "docker://c2");
    assert!(
        c.last_state.terminated.is_some(),
        "lastState from attempt 0"
    );
    assert!(!c.ready, "readiness probe has no result yet");
    let ready = |s: &PodStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status)
    };
    assert_eq!(ready(&s), Some(ConditionStatus::False));

    let t = Timing::of(&Probe::default(), ProbeKind::Readiness);
    let mut ps = ProbeState::new(&t, now);
    ps.record(&t, Ok(()), now);
    memory
        .probes
        .insert(("c2".into(), ProbeKind::Readiness), ps);
    let s2 = compute_status(&p, &observed, &memory, "127.0.0.1", now, Time::from_unix(9));
    assert!(s2.container_statuses[0].ready);
    assert_eq!(ready(&s2), Some(ConditionStatus::True));
    // PodScheduled did not change: its transition time is kept from the previous status.
    p.status = s;
    let s3 = compute_status(&p, &observed, &memory, "127.0.0.1", now, Time::from_unix(9));
    let sched = |s: &PodStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "PodScheduled")
            .and_then(|c| c.last_transition_time)
    };
    assert_eq!(sched(&s3), Some(Time::from_unix(5)));
}

#[test]
fn a_status_write_keeps_the_conditions_others_set_since() {
    let cond = |type_: &str, status: ConditionStatus| PodCondition {
        type_: type_.into(),
        status,
        ..Default::default()
    };
    use ConditionStatus::{False, True};
    // Computed from a pod where the gate was still False.
    let computed = PodStatus {
        conditions: vec![
            cond("Ready", False),
            cond("ContainersReady", True),
            cond("example.com/ready", False),
        ],
        ..Default::default()
    };
    // Meanwhile a controller set the gate True and added another condition.
    let current = PodStatus {
        conditions: vec![
            cond("Ready", False),
            cond("example.com/ready", True),
            cond("example.com/other", True),
        ],
        ..Default::default()
    };
    let written = with_others_conditions(computed, &current);
    let got: Vec<(&str, ConditionStatus)> = written
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Ready", False),
            ("ContainersReady", True),
            ("example.com/ready", True),
            ("example.com/other", True),
        ]
    );
}
