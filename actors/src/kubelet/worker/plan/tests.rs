//! Tests of the pure state machine and plan.

use rudder_protocol::resources::{ConditionStatus, PodPhase, Probe};

use super::*;
use crate::kubelet::worker::fixtures::{info, pod};

#[test]
fn container_steps() {
    let now = Instant::now();
    let later = now + Duration::from_secs(10);
    let mut in_backoff = Memory::default();
    in_backoff
        .crash_delay
        .insert("app".into(), Duration::from_secs(10));
    in_backoff.exit_seen.insert("c2".into(), now);
    let mut pull_failed = Memory::default();
    pull_failed.pulls.insert(
        "app".into(),
        (
            Backoff {
                delay: Duration::from_secs(10),
                not_before: later,
            },
            "no registry".into(),
        ),
    );
    use RestartPolicy::*;
    use RunState::*;
    let cases: Vec<(
        &str,
        RestartPolicy,
        Vec<ContainerInfo>,
        Memory,
        ContainerStep,
    )> = vec![
        (
            "never created: first attempt",
            Always,
            vec![],
            Memory::default(),
            ContainerStep::Start { attempt: 0 },
        ),
        (
            "pull failed recently: back off",
            Always,
            vec![],
            pull_failed,
            ContainerStep::PullBackOff { until: later },
        ),
        (
            "running",
            Always,
            vec![info("c1", "app", 0, Running, 0)],
            Memory::default(),
            ContainerStep::Running { id: "c1".into() },
        ),
        (
            "created, never started: discard",
            Always,
            vec![info("c1", "app", 0, Created, 0)],
            Memory::default(),
            ContainerStep::Discard { id: "c1".into() },
        ),
        (
            "first exit restarts at once",
            Always,
            vec![info("c1", "app", 0, Exited, 1)],
            Memory::default(),
            ContainerStep::Start { attempt: 1 },
        ),
        (
            "exit inside the back-off waits",
            Always,
            vec![
                info("c1", "app", 0, Exited, 1),
                info("c2", "app", 1, Exited, 1),
            ],
            in_backoff.clone(),
            ContainerStep::CrashLoopBackOff { until: later },
        ),
        (
            "OnFailure: success is final",
            OnFailure,
            vec![info("c1", "app", 0, Exited, 0)],
            Memory::default(),
            ContainerStep::Finished,
        ),
        (
            "OnFailure: failure restarts",
            OnFailure,
            vec![info("c1", "app", 0, Exited, 2)],
            Memory::default(),
            ContainerStep::Start { attempt: 1 },
        ),
        (
            "Never: failure is final",
            Never,
            vec![info("c1", "app", 0, Exited, 2)],
            Memory::default(),
            ContainerStep::Finished,
        ),
    ];
    for (name, policy, history, memory, want) in cases {
        assert_eq!(
            container_step("app", policy, &history, &memory, now),
            want,
            "{name}"
        );
    }
}

#[test]
fn backoff_doubles_to_its_ceiling() {
    let now = Instant::now();
    let mut b: Option<Backoff> = None;
    let mut delays = vec![];
    for _ in 0..7 {
        let next = Backoff::next(b.as_ref(), now, CRASH_BACKOFF_INITIAL, CRASH_BACKOFF_MAX);
        delays.push(next.delay.as_secs());
        b = Some(next);
    }
    assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300]);
}

#[test]
fn plans() {
    let now = Instant::now();
    let p = pod(RestartPolicy::Always);
    let mut deleting = p.clone();
    deleting.metadata.deletion_timestamp = Some(Time::now());
    deleting.metadata.deletion_grace_period_seconds = Some(5);
    let sandbox = info("s1", "", 0, RunState::Running, 0);
    let dead_sandbox = info("s1", "", 0, RunState::Exited, 0);
    let obs = |v: Vec<ContainerInfo>| Observed::from_containers(v);
    let cases: Vec<(&str, Option<&Pod>, Observed, Vec<Action>)> = vec![
        (
            "new pod: sandbox first",
            Some(&p),
            obs(vec![]),
            vec![Action::CreateSandbox { attempt: 0 }],
        ),
        (
            "sandbox up: start the container",
            Some(&p),
            obs(vec![sandbox.clone()]),
            vec![Action::StartContainer {
                name: "app".into(),
                attempt: 0,
            }],
        ),
        (
            "all running: nothing to do",
            Some(&p),
            obs(vec![
                sandbox.clone(),
                info("c1", "app", 0, RunState::Running, 0),
            ]),
            vec![],
        ),
        (
            "dead sandbox: kill, replace",
            Some(&p),
            obs(vec![
                dead_sandbox,
                info("c1", "app", 0, RunState::Running, 0),
            ]),
            vec![
                Action::KillContainer {
                    id: "c1".into(),
                    name: "app".into(),
                    grace: Duration::ZERO,
                    reason: "pod sandbox changed, it will be killed and re-created".into(),
                },
                Action::RemoveContainer { id: "s1".into() },
                Action::CreateSandbox { attempt: 1 },
            ],
        ),
        (
            "old attempts are collected, two kept",
            Some(&p),
            obs(vec![
                sandbox.clone(),
                info("c1", "app", 0, RunState::Exited, 1),
                info("c2", "app", 1, RunState::Exited, 1),
                info("c3", "app", 2, RunState::Running, 0),
            ]),
            vec![Action::RemoveContainer { id: "c1".into() }],
        ),
        (
            "deleted gracefully: terminate with its grace",
            Some(&deleting),
            obs(vec![sandbox.clone()]),
            vec![Action::Terminate {
                grace: Duration::from_secs(5),
            }],
        ),
        (
            "deleted and cleaned: finish the deletion",
            Some(&deleting),
            obs(vec![]),
            vec![Action::FinishDeletion],
        ),
        (
            "gone from the API: terminate at once",
            None,
            obs(vec![sandbox]),
            vec![Action::Terminate {
                grace: Duration::ZERO,
            }],
        ),
    ];
    let never = pod(RestartPolicy::Never);
    let done_sandbox = info("s1", "", 0, RunState::Running, 0);
    let mut cases = cases;
    cases.extend([
        (
            "finished pod: its sandbox is stopped",
            Some(&never),
            obs(vec![
                done_sandbox.clone(),
                info("c1", "app", 0, RunState::Exited, 0),
            ]),
            vec![Action::KillContainer {
                id: "s1".into(),
                name: String::new(),
                grace: Duration::ZERO,
                reason: "pod finished".into(),
            }],
        ),
        (
            "finished pod, sandbox stopped: not re-created",
            Some(&never),
            obs(vec![
                info("s1", "", 0, RunState::Exited, 0),
                info("c1", "app", 0, RunState::Exited, 1),
            ]),
            vec![],
        ),
        (
            "Never, still running: sandbox stays",
            Some(&never),
            obs(vec![
                done_sandbox,
                info("c1", "app", 0, RunState::Running, 0),
            ]),
            vec![],
        ),
    ]);
    for (name, pod, observed, want) in cases {
        assert_eq!(
            plan(pod, &observed, &Memory::default(), now).actions,
            want,
            "{name}"
        );
    }
    assert!(plan(None, &Observed::default(), &Memory::default(), now).done);
}

#[test]
fn init_containers_run_first_and_in_order() {
    let now = Instant::now();
    let with_init = |policy| {
        let mut p = pod(policy);
        p.spec.init_containers = vec![
            Container {
                name: "setup".into(),
                image: "rudder/demo:1".into(),
                ..Default::default()
            },
            Container {
                name: "migrate".into(),
                image: "rudder/demo:1".into(),
                ..Default::default()
            },
        ];
        p
    };
    let always = with_init(RestartPolicy::Always);
    let never = with_init(RestartPolicy::Never);
    let sandbox = info("s1", "", 0, RunState::Running, 0);
    let obs = |v: Vec<ContainerInfo>| Observed::from_containers(v);
    let start = |name: &str, attempt| Action::StartContainer {
        name: name.into(),
        attempt,
    };
    let cases: Vec<(&str, &Pod, Observed, Vec<Action>, InitProgress)> = vec![
        (
            "first init container first",
            &always,
            obs(vec![sandbox.clone()]),
            vec![start("setup", 0)],
            InitProgress::At(0),
        ),
        (
            "running init container: wait",
            &always,
            obs(vec![
                sandbox.clone(),
                info("i1", "setup", 0, RunState::Running, 0),
            ]),
            vec![],
            InitProgress::At(0),
        ),
        (
            "done: the next one",
            &always,
            obs(vec![
                sandbox.clone(),
                info("i1", "setup", 0, RunState::Exited, 0),
            ]),
            vec![start("migrate", 0)],
            InitProgress::At(1),
        ),
        (
            "all done: the application",
            &always,
            obs(vec![
                sandbox.clone(),
                info("i1", "setup", 0, RunState::Exited, 0),
                info("i2", "migrate", 0, RunState::Exited, 0),
            ]),
            vec![start("app", 0)],
            InitProgress::Done,
        ),
        (
            "failed, pod restarts: again",
            &always,
            obs(vec![
                sandbox.clone(),
                info("i1", "setup", 0, RunState::Exited, 2),
            ]),
            vec![start("setup", 1)],
            InitProgress::At(0),
        ),
        (
            "failed, pod never restarts: the pod has failed, its sandbox stops",
            &never,
            obs(vec![
                sandbox.clone(),
                info("i1", "setup", 0, RunState::Exited, 2),
            ]),
            vec![Action::KillContainer {
                id: "s1".into(),
                name: String::new(),
                grace: Duration::ZERO,
                reason: "pod finished".into(),
            }],
            InitProgress::Failed(0),
        ),
    ];
    for (name, pod, observed, want, progress) in cases {
        assert_eq!(
            init_progress(pod, &observed, &Memory::default()),
            progress,
            "{name}"
        );
        assert_eq!(
            plan(Some(pod), &observed, &Memory::default(), now).actions,
            want,
            "{name}"
        );
    }

    // Status while initialising: Pending, not Initialized, the app PodInitializing.
    let observed = obs(vec![
        sandbox.clone(),
        info("i1", "setup", 0, RunState::Exited, 0),
        info("i2", "migrate", 0, RunState::Running, 0),
    ]);
    let st = compute_status(
        &always,
        &observed,
        &Memory::default(),
        "10.0.0.1",
        now,
        Time::now(),
    );
    assert_eq!(st.phase, Some(PodPhase::Pending));
    let init = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Initialized")
        .cloned()
        .unwrap_or_default();
    assert_eq!(init.status, ConditionStatus::False);
    assert_eq!(init.reason, "ContainersNotInitialized");
    assert_eq!(init.message, "containers with incomplete status: [migrate]");
    assert_eq!(st.init_container_statuses.len(), 2);
    assert!(st.init_container_statuses[0].ready);
    assert!(st.init_container_statuses[1].state.running.is_some());
    assert_eq!(
        st.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .map(|w| w.reason.as_str()),
        Some("PodInitializing")
    );
    // A failed init container with Never fails the pod.
    let failed = obs(vec![sandbox, info("i1", "setup", 0, RunState::Exited, 2)]);
    let st = compute_status(
        &never,
        &failed,
        &Memory::default(),
        "10.0.0.1",
        now,
        Time::now(),
    );
    assert_eq!(st.phase, Some(PodPhase::Failed));
}

#[test]
fn start_backoff_doubles_from_one_second_to_five_minutes() {
    let now = Instant::now();
    let mut b: Option<Backoff> = None;
    let mut delays = vec![];
    for _ in 0..11 {
        let next = Backoff::next(b.as_ref(), now, START_BACKOFF_INITIAL, START_BACKOFF_MAX);
        delays.push(next.delay.as_secs());
        b = Some(next);
    }
    assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
}

#[test]
fn sandbox_back_off_holds_the_plan() {
    let now = Instant::now();
    let p = pod(RestartPolicy::Always);
    let later = now + Duration::from_secs(4);
    let held = Memory {
        sandbox: Some(Backoff {
            delay: Duration::from_secs(4),
            not_before: later,
        }),
        ..Default::default()
    };
    let passed = Memory {
        sandbox: Some(Backoff {
            delay: Duration::from_secs(4),
            not_before: now,
        }),
        ..Default::default()
    };
    let half_made = info("s1", "", 0, RunState::Created, 0);
    let obs = |v: Vec<ContainerInfo>| Observed::from_containers(v);
    // (name, observed, memory, want actions, want wake-up)
    type Case = (&'static str, Observed, Memory, Vec<Action>, Option<Instant>);
    let cases: Vec<Case> = vec![
        (
            "no sandbox, in back-off: wait for it",
            obs(vec![]),
            held.clone(),
            vec![],
            Some(later),
        ),
        (
            "half-made sandbox, in back-off: kept until then",
            obs(vec![half_made.clone()]),
            held.clone(),
            vec![],
            Some(later),
        ),
        (
            "running app container of a dead sandbox is killed even in back-off",
            obs(vec![
                info("s1", "", 0, RunState::Exited, 0),
                info("c1", "app", 0, RunState::Running, 0),
            ]),
            held,
            vec![Action::KillContainer {
                id: "c1".into(),
                name: "app".into(),
                grace: Duration::ZERO,
                reason: "pod sandbox changed, it will be killed and re-created".into(),
            }],
            Some(later),
        ),
        (
            "back-off passed: replace",
            obs(vec![half_made]),
            passed.clone(),
            vec![
                Action::RemoveContainer { id: "s1".into() },
                Action::CreateSandbox { attempt: 1 },
            ],
            Some(now),
        ),
        (
            "back-off passed, nothing there: create",
            obs(vec![]),
            passed,
            vec![Action::CreateSandbox { attempt: 0 }],
            Some(now),
        ),
    ];
    for (name, observed, memory, actions, wake_at) in cases {
        let p = plan(Some(&p), &observed, &memory, now);
        assert_eq!(p.actions, actions, "{name}");
        assert_eq!(p.wake_at, wake_at, "{name}");
    }
}

#[test]
fn start_back_off_holds_new_attempts() {
    let now = Instant::now();
    let later = now + Duration::from_secs(2);
    let mut m = Memory::default();
    m.starts.insert(
        "app".into(),
        Backoff {
            delay: Duration::from_secs(2),
            not_before: later,
        },
    );
    let cases: Vec<(&str, Vec<ContainerInfo>, ContainerStep)> = vec![
        (
            "never created",
            vec![],
            ContainerStep::StartBackOff { until: later },
        ),
        (
            "exited, restart held",
            vec![info("c1", "app", 0, RunState::Exited, 1)],
            ContainerStep::StartBackOff { until: later },
        ),
        (
            "created, never started: discarded at once",
            vec![info("c1", "app", 0, RunState::Created, 0)],
            ContainerStep::Discard { id: "c1".into() },
        ),
    ];
    for (name, history, want) in cases {
        assert_eq!(
            container_step("app", RestartPolicy::Always, &history, &m, now),
            want,
            "{name}"
        );
    }
}

fn sidecar(name: &str) -> Container {
    Container {
        name: name.into(),
        image: "rudder/demo:1".into(),
        restart_policy: Some(ContainerRestartPolicy::Always),
        ..Default::default()
    }
}

fn init_container(name: &str) -> Container {
    Container {
        name: name.into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    }
}

/// Memory where the `kind` probe of container `id` has settled on `verdict`.
fn probe_settled(id: &str, kind: ProbeKind, verdict: Verdict, now: Instant) -> Memory {
    let mut m = Memory::default();
    let mut state = ProbeState::new(&Timing::of(&Default::default(), kind), now);
    state.verdict = verdict;
    state.next_at = now + Duration::from_secs(10);
    m.probes.insert((id.to_owned(), kind), state);
    m
}

#[test]
fn sidecars_start_in_turn_and_keep_running() {
    let now = Instant::now();
    // A Job-style pod: a sidecar, then a regular init container, then the app.
    let mut job = pod(RestartPolicy::Never);
    job.spec.init_containers = vec![sidecar("log"), init_container("setup")];
    let mut probed = job.clone();
    probed.spec.init_containers[0].startup_probe = Some(Probe {
        exec: Some(rudder_protocol::resources::ExecAction {
            command: vec!["ready".into()],
        }),
        ..Default::default()
    });
    let mut two = pod(RestartPolicy::Never);
    two.spec.init_containers = vec![sidecar("first"), sidecar("second")];
    two.spec.termination_grace_period_seconds = Some(7);
    let mut backing_off = Memory::default();
    backing_off
        .crash_delay
        .insert("log".into(), Duration::from_secs(10));
    backing_off.exit_seen.insert("l1".into(), now);
    let sandbox = info("s1", "", 0, RunState::Running, 0);
    let obs = |v: Vec<ContainerInfo>| Observed::from_containers(v);
    let start = |name: &str, attempt| Action::StartContainer {
        name: name.into(),
        attempt,
    };
    let stop = |id: &str, name: &str| Action::KillContainer {
        id: id.into(),
        name: name.into(),
        grace: Duration::from_secs(7),
        reason: "the pod's containers finished".into(),
    };
    use RunState::*;
    // (name, pod, observed, memory, want actions, want progress)
    type Case<'a> = (
        &'a str,
        &'a Pod,
        Observed,
        Memory,
        Vec<Action>,
        InitProgress,
    );
    let cases: Vec<Case> = vec![
        (
            "the sidecar first",
            &job,
            obs(vec![sandbox.clone()]),
            Memory::default(),
            vec![start("log", 0)],
            InitProgress::At(0),
        ),
        (
            "sidecar running, no startup probe: started, the next init container runs",
            &job,
            obs(vec![sandbox.clone(), info("l1", "log", 0, Running, 0)]),
            Memory::default(),
            vec![start("setup", 0)],
            InitProgress::At(1),
        ),
        (
            "startup probe not passed yet: it runs, the next one waits",
            &probed,
            obs(vec![sandbox.clone(), info("l1", "log", 0, Running, 0)]),
            Memory::default(),
            vec![Action::Probe {
                id: "l1".into(),
                name: "log".into(),
                kind: ProbeKind::Startup,
            }],
            InitProgress::At(0),
        ),
        (
            "startup probe passed: the next one runs",
            &probed,
            obs(vec![sandbox.clone(), info("l1", "log", 0, Running, 0)]),
            probe_settled("l1", ProbeKind::Startup, Verdict::Success, now),
            vec![start("setup", 0)],
            InitProgress::At(1),
        ),
        (
            "sidecar exited before it started: restarted, whatever the pod's policy",
            &job,
            obs(vec![sandbox.clone(), info("l1", "log", 0, Exited, 1)]),
            Memory::default(),
            vec![start("log", 1)],
            InitProgress::At(0),
        ),
        (
            "init done, sidecar running: the app starts beside it",
            &job,
            obs(vec![
                sandbox.clone(),
                info("l1", "log", 0, Running, 0),
                info("i1", "setup", 0, Exited, 0),
            ]),
            Memory::default(),
            vec![start("app", 0)],
            InitProgress::Done,
        ),
        (
            "sidecar exited while the app runs: restarted, the app untouched",
            &job,
            obs(vec![
                sandbox.clone(),
                info("l1", "log", 0, Exited, 0),
                info("i1", "setup", 0, Exited, 0),
                info("c1", "app", 0, Running, 0),
            ]),
            Memory::default(),
            vec![start("log", 1)],
            InitProgress::Done,
        ),
        (
            "sidecar in its crash-loop back-off: the app is not held",
            &job,
            obs(vec![
                sandbox.clone(),
                info("l1", "log", 1, Exited, 1),
                info("i1", "setup", 0, Exited, 0),
                info("c1", "app", 0, Running, 0),
            ]),
            backing_off,
            vec![],
            InitProgress::Done,
        ),
        (
            "app finished: the sidecars stop, last declared first, with the pod's grace",
            &two,
            obs(vec![
                sandbox.clone(),
                info("f1", "first", 0, Running, 0),
                info("s2", "second", 0, Running, 0),
                info("c1", "app", 0, Exited, 0),
            ]),
            Memory::default(),
            vec![stop("s2", "second"), stop("f1", "first")],
            InitProgress::Done,
        ),
        (
            "app finished, sidecars stopped: not restarted, the sandbox stops",
            &two,
            obs(vec![
                sandbox.clone(),
                info("f1", "first", 0, Exited, 143),
                info("s2", "second", 0, Exited, 143),
                info("c1", "app", 0, Exited, 0),
            ]),
            Memory::default(),
            vec![Action::KillContainer {
                id: "s1".into(),
                name: String::new(),
                grace: Duration::ZERO,
                reason: "pod finished".into(),
            }],
            InitProgress::Done,
        ),
    ];
    for (name, pod, observed, memory, want, progress) in cases {
        assert_eq!(init_progress(pod, &observed, &memory), progress, "{name}");
        assert_eq!(
            plan(Some(pod), &observed, &memory, now).actions,
            want,
            "{name}"
        );
    }
}

#[test]
fn containers_stop_app_first_then_sidecars_in_reverse() {
    let mut p = pod(RestartPolicy::Always);
    p.spec.init_containers = vec![sidecar("a"), init_container("setup"), sidecar("b")];
    let observed = Observed::from_containers(vec![
        info("s1", "", 0, RunState::Running, 0),
        info("a1", "a", 0, RunState::Running, 0),
        info("i1", "setup", 0, RunState::Exited, 0),
        info("b1", "b", 0, RunState::Running, 0),
        info("c1", "app", 0, RunState::Running, 0),
    ]);
    let order: Vec<(&str, bool)> = stop_order(&p, &observed)
        .into_iter()
        .map(|(c, sidecar)| (c.id.as_str(), sidecar))
        .collect();
    assert_eq!(order, vec![("c1", false), ("b1", true), ("a1", true)]);
}

#[test]
fn probe_kills_use_the_probe_grace_then_the_pod_grace() {
    let probe = |grace: Option<i64>| Probe {
        termination_grace_period_seconds: grace,
        ..Default::default()
    };
    let with_pod_grace = |grace: Option<i64>| {
        let mut p = pod(RestartPolicy::Always);
        p.spec.termination_grace_period_seconds = grace;
        p
    };
    let cases = [
        ("probe's own", Some(5), Some(60), 5),
        ("the pod's", None, Some(60), 60),
        ("neither: 30 s", None, None, 30),
        ("zero is kept", Some(0), Some(60), 0),
    ];
    for (name, probe_grace, pod_grace, want) in cases {
        assert_eq!(
            probe_kill_grace(&with_pod_grace(pod_grace), &probe(probe_grace)),
            Duration::from_secs(want),
            "{name}"
        );
    }
    // A failed liveness probe kills with it.
    let now = Instant::now();
    let mut p = with_pod_grace(Some(45));
    p.spec.containers[0].liveness_probe = Some(probe(None));
    let observed = Observed::from_containers(vec![
        info("s1", "", 0, RunState::Running, 0),
        info("c1", "app", 0, RunState::Running, 0),
    ]);
    let memory = probe_settled("c1", ProbeKind::Liveness, Verdict::Failure, now);
    assert_eq!(
        plan(Some(&p), &observed, &memory, now).actions,
        vec![Action::KillContainer {
            id: "c1".into(),
            name: "app".into(),
            grace: Duration::from_secs(45),
            reason: "Container app failed liveness probe, will be restarted".into(),
        }]
    );
}
