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
        assert_eq!(phase(policy, &statuses), want, "{name}");
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
