//! Tests of the pod worker: the pure state machine, phase and status tables, and the
//! worker task against [`FakeRuntime`] with paused tokio time.

use std::sync::Mutex;

use rudder_protocol::resources::ObjectMeta;

use super::*;
use crate::kubelet::fake::FakeRuntime;

fn info(id: &str, name: &str, attempt: u32, state: RunState, exit_code: i64) -> ContainerInfo {
    let mut labels = BTreeMap::from([
        (labels::POD_UID.to_owned(), "uid-1".to_owned()),
        (labels::ATTEMPT.to_owned(), attempt.to_string()),
    ]);
    if name.is_empty() {
        labels.insert(labels::KIND.into(), "sandbox".into());
    } else {
        labels.insert(labels::KIND.into(), "container".into());
        labels.insert(labels::CONTAINER_NAME.into(), name.into());
    }
    ContainerInfo {
        id: id.into(),
        name: format!("{name}-{attempt}"),
        image: "img".into(),
        image_id: "sha256:img".into(),
        labels,
        state,
        exit_code,
        oom_killed: false,
        error: String::new(),
        started_at: Some(1000),
        finished_at: (state == RunState::Exited).then_some(1005),
        ip: name.is_empty().then(|| "10.244.1.2".to_owned()),
    }
}

fn pod(policy: RestartPolicy) -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta {
            name: "web".into(),
            namespace: "default".into(),
            uid: "uid-1".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    p.spec.restart_policy = Some(policy);
    p.spec.node_name = "n1".into();
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    }];
    p
}

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

use rudder_protocol::resources::Probe;

/// Records what a worker reports.
#[derive(Default)]
struct RecordingSink {
    statuses: Mutex<Vec<PodStatus>>,
    events: Mutex<Vec<(String, String, String)>>,
    deleted: Mutex<u32>,
}

impl PodSink for RecordingSink {
    fn set_status(&self, _pod: &Pod, status: PodStatus) -> BoxFuture<'_, Result<(), String>> {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(status);
        Box::pin(async { Ok(()) })
    }
    fn event(&self, _pod: &Pod, type_: &str, reason: &str, message: String) {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push((
            type_.to_owned(),
            reason.to_owned(),
            message,
        ));
    }
    fn finish_deletion(&self, _pod: &Pod) -> BoxFuture<'_, Result<(), String>> {
        *self.deleted.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Box::pin(async { Ok(()) })
    }
}

impl RecordingSink {
    fn last(&self) -> Option<PodStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .cloned()
    }
    fn events(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, reason, _)| reason.clone())
            .collect()
    }
    /// The (type, message) of every event with `reason`.
    fn events_of(&self, reason: &str) -> Vec<(String, String)> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, r, _)| r == reason)
            .map(|(t, _, m)| (t.clone(), m.clone()))
            .collect()
    }
}

fn node() -> NodeContext {
    node_with_sandbox(Arc::new(SandboxImage::new("rudder/pause:1")))
}

fn node_with_sandbox(sandbox_image: Arc<SandboxImage>) -> NodeContext {
    NodeContext {
        node: "n1".into(),
        host_ip: "127.0.0.1".into(),
        network: "rudder-n1".into(),
        sandbox_image,
    }
}

struct Harness {
    rt: FakeRuntime,
    sink: Arc<RecordingSink>,
    tx: watch::Sender<Option<Arc<Pod>>>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

fn start(pod: Pod, rt: FakeRuntime) -> Harness {
    start_on(pod, rt, node())
}

fn start_on(pod: Pod, rt: FakeRuntime, node: NodeContext) -> Harness {
    let sink = Arc::new(RecordingSink::default());
    let (tx, rx) = watch::channel(Some(Arc::new(pod)));
    let wake = Arc::new(Notify::new());
    let worker = PodWorker::new(Arc::new(rt.clone()), sink.clone(), node, rx, wake.clone());
    let task = tokio::spawn(worker.run());
    Harness {
        rt,
        sink,
        tx,
        wake,
        task,
    }
}

fn runtime_with_images() -> FakeRuntime {
    let rt = FakeRuntime::new();
    rt.add_image("rudder/pause:1");
    rt.add_image("rudder/demo:1");
    rt
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

fn app_containers(rt: &FakeRuntime) -> Vec<ContainerInfo> {
    rt.containers()
        .into_iter()
        .filter(|c| !c.is_sandbox())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn worker_runs_a_pod_and_reports_running() {
    let h = start(pod(RestartPolicy::Always), runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.sink.last().expect("a status was written");
    assert_eq!(s.phase, Some(PodPhase::Running), "{s:?}");
    assert!(s.pod_ip.starts_with("10.244."), "{}", s.pod_ip);
    assert_eq!(app_containers(&h.rt).len(), 1);
    let events = h.sink.events();
    for reason in ["Created", "Started"] {
        assert!(
            events.contains(&reason.to_owned()),
            "{reason} in {events:?}"
        );
    }
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn crash_loop_backs_off_with_growing_delays() {
    let h = start(pod(RestartPolicy::Always), runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut restart_times = vec![];
    let begin = Instant::now();
    for _ in 0..4 {
        let running = app_containers(&h.rt)
            .into_iter()
            .find(|c| c.state == RunState::Running)
            .expect("a running attempt");
        h.rt.exit(&running.id, 1);
        h.wake.notify_one();
        // Wait for the next attempt to run.
        let attempt = running.attempt() + 1;
        for _ in 0..400 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if app_containers(&h.rt)
                .iter()
                .any(|c| c.attempt() == attempt && c.state == RunState::Running)
            {
                break;
            }
        }
        restart_times.push((Instant::now() - begin).as_secs());
    }
    // Restart gaps: at once, then 10 s, 20 s, 40 s.
    let gaps: Vec<u64> = restart_times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        restart_times[0] <= 1,
        "first restart at once: {restart_times:?}"
    );
    assert!((10..=11).contains(&gaps[0]), "{gaps:?}");
    assert!((20..=21).contains(&gaps[1]), "{gaps:?}");
    assert!((40..=41).contains(&gaps[2]), "{gaps:?}");
    let s = h.sink.last().expect("status");
    assert_eq!(s.container_statuses[0].restart_count, 4);
    assert!(app_containers(&h.rt).len() <= 2, "old attempts are removed");
    // While backing off the status says so.
    let running = app_containers(&h.rt)
        .into_iter()
        .find(|c| c.state == RunState::Running)
        .expect("running");
    h.rt.exit(&running.id, 1);
    h.wake.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.sink.last().expect("status");
    let w = s.container_statuses[0]
        .state
        .waiting
        .clone()
        .expect("waiting");
    assert_eq!(w.reason, "CrashLoopBackOff");
    assert!(h.sink.events().contains(&"BackOff".to_owned()));
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn missing_image_goes_to_image_pull_backoff() {
    let rt = runtime_with_images();
    let mut p = pod(RestartPolicy::Always);
    p.spec.containers[0].image = "nowhere/missing:1".into();
    let h = start(p, rt);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.sink.last().expect("status");
    let reason = |s: &PodStatus| {
        s.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .map(|w| w.reason.clone())
            .unwrap_or_default()
    };
    assert_eq!(reason(&s), "ImagePullBackOff", "{s:?}");
    assert_eq!(s.phase, Some(PodPhase::Pending));
    let pulls = |h: &Harness| {
        h.rt.calls()
            .iter()
            .filter(|c| c.starts_with("pull "))
            .count()
    };
    assert_eq!(pulls(&h), 1);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(pulls(&h), 2, "retried after 10 s");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(pulls(&h), 2, "next retry only after 20 s");
    // Once the image can be had, the pod starts.
    h.rt.add_pullable("nowhere/missing:1");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.sink.last().and_then(|s| s.phase), Some(PodPhase::Running));
    assert!(h.sink.events().contains(&"Failed".to_owned()));
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn failing_liveness_probe_restarts_the_container() {
    let rt = runtime_with_images();
    rt.script_exec("check", 1);
    let mut p = pod(RestartPolicy::Always);
    p.spec.containers[0].liveness_probe = Some(Probe {
        exec: Some(rudder_protocol::resources::ExecAction {
            command: vec!["check".into()],
        }),
        period_seconds: 1,
        failure_threshold: 2,
        ..Default::default()
    });
    let h = start(p, rt);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let s = h.sink.last().expect("status");
    assert!(s.container_statuses[0].restart_count >= 1, "{s:?}");
    assert!(h.sink.events().contains(&"Unhealthy".to_owned()));
    assert!(h.sink.events().contains(&"Killing".to_owned()));
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_second_worker_adopts_instead_of_starting_again() {
    let rt = runtime_with_images();
    let h = start(pod(RestartPolicy::Always), rt.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.task.abort();
    let before = rt.containers();
    // A restarted kubelet: a new worker over the same runtime.
    let h2 = start(pod(RestartPolicy::Always), rt.clone());
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(rt.containers(), before, "nothing started or removed");
    assert_eq!(
        h2.sink.last().and_then(|s| s.phase),
        Some(PodPhase::Running)
    );
    h2.task.abort();
}

#[tokio::test(start_paused = true)]
async fn deletion_stops_removes_and_finishes() {
    let h = start(pod(RestartPolicy::Always), runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut deleting = pod(RestartPolicy::Always);
    deleting.metadata.deletion_timestamp = Some(Time::now());
    deleting.metadata.deletion_grace_period_seconds = Some(3);
    h.tx.send_replace(Some(Arc::new(deleting)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.rt.containers().is_empty(), "{:?}", h.rt.containers());
    assert_eq!(*h.sink.deleted.lock().unwrap_or_else(|p| p.into_inner()), 1);
    assert!(h.sink.events().contains(&"Killing".to_owned()));
    // The object disappears: the worker ends.
    h.tx.send_replace(None);
    settle().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.task.is_finished());
}

#[test]
fn volume_plans() {
    use rudder_protocol::resources::{
        ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, Volume, VolumeMount,
    };
    let mut p = pod(RestartPolicy::Always);
    p.spec.volumes = vec![
        Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        Volume {
            name: "ram".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: "Memory".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "host".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/srv/data".into(),
                type_: None,
            }),
            ..Default::default()
        },
        Volume {
            name: "conf".into(),
            config_map: Some(ConfigMapVolumeSource::default()),
            ..Default::default()
        },
    ];
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only,
    };
    let mut c = p.spec.containers[0].clone();
    c.volume_mounts = vec![
        mount("scratch", "/tmp/s", false),
        mount("ram", "/tmp/r", false),
        mount("host", "/data", true),
    ];
    let (volumes, mounts) = volume_plan(&p, &c, "n1").expect("supported volumes");
    assert_eq!(
        volumes
            .iter()
            .map(|v| (v.name.as_str(), v.memory))
            .collect::<Vec<_>>(),
        vec![("rudder-uid-1-scratch", false), ("rudder-uid-1-ram", true)]
    );
    assert!(volumes
        .iter()
        .all(|v| v.labels.get(labels::POD_UID).map(String::as_str) == Some("uid-1")));
    assert_eq!(
        mounts,
        vec![
            Mount {
                source: MountSource::Volume("rudder-uid-1-scratch".into()),
                target: "/tmp/s".into(),
                read_only: false
            },
            Mount {
                source: MountSource::Volume("rudder-uid-1-ram".into()),
                target: "/tmp/r".into(),
                read_only: false
            },
            Mount {
                source: MountSource::HostPath("/srv/data".into()),
                target: "/data".into(),
                read_only: true
            },
        ]
    );
    c.volume_mounts = vec![mount("conf", "/etc/conf", true)];
    let err = volume_plan(&p, &c, "n1").expect_err("configMap refused");
    assert!(err.contains("not supported"), "{err}");
    c.volume_mounts = vec![mount("missing", "/x", false)];
    assert!(volume_plan(&p, &c, "n1").is_err());
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
        assert_eq!(init_progress(pod, &observed), progress, "{name}");
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

/// The sandbox image `image` is missing and Rudder cannot build it (it builds only its
/// own): a pod's worker on a runtime with everything else.
fn start_without_sandbox_image(image: &Arc<SandboxImage>) -> Harness {
    let rt = FakeRuntime::new();
    rt.add_image("rudder/demo:1");
    start_on(
        pod(RestartPolicy::Always),
        rt,
        node_with_sandbox(image.clone()),
    )
}

fn waiting_of(s: &PodStatus) -> (String, String) {
    s.container_statuses[0]
        .state
        .waiting
        .as_ref()
        .map(|w| (w.reason.clone(), w.message.clone()))
        .unwrap_or_default()
}

fn condition_of(s: &PodStatus, type_: &str) -> PodCondition {
    s.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
        .unwrap_or_else(|| panic!("no {type_} condition in {s:?}"))
}

#[tokio::test(start_paused = true)]
async fn sandbox_failures_back_off_with_an_event_and_a_reason_until_the_retry_finds_the_image() {
    let image = Arc::new(SandboxImage::new("test/missing-pause:1"));
    let h = start_without_sandbox_image(&image);
    let begin = Instant::now();
    let attempts = |h: &Harness| h.sink.events_of("FailedCreatePodSandBox").len();
    // Attempts at 0, 1, 3, 7, 15, 31 and 63 s: 1 s doubling.
    let timeline: [(u64, usize); 10] = [
        (500, 1),
        (900, 1),
        (1_500, 2),
        (2_900, 2),
        (3_500, 3),
        (7_500, 4),
        (15_500, 5),
        (30_900, 5),
        (31_500, 6),
        (62_900, 6),
    ];
    for (ms, want) in timeline {
        tokio::time::sleep_until(begin + Duration::from_millis(ms)).await;
        assert_eq!(attempts(&h), want, "attempts by {ms} ms");
    }
    // Nothing else spins meanwhile: a few rounds per attempt and per resync.
    let calls = h.rt.calls().len();
    assert!(calls < 100, "{calls} runtime calls in 63 s");

    // One Warning, always the same message: the recorder makes it one Event.
    let events = h.sink.events_of("FailedCreatePodSandBox");
    assert!(events.iter().all(|e| e == &events[0]), "{events:?}");
    let (type_, message) = &events[0];
    assert_eq!(type_, "Warning");
    assert!(
        message.starts_with("Failed to create pod sandbox: ")
            && message.contains("test/missing-pause:1"),
        "{message}"
    );

    // The status names the reason.
    let s = h.sink.last().expect("a status");
    assert_eq!(s.phase, Some(PodPhase::Pending));
    let (reason, waiting_message) = waiting_of(&s);
    assert_eq!(reason, SANDBOX_ERROR_REASON);
    assert_eq!(&waiting_message, message);
    assert_eq!(
        condition_of(&s, "PodReadyToStartContainers").status,
        ConditionStatus::False
    );
    let ready = condition_of(&s, "ContainersReady");
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(ready.reason, "ContainersNotReady");
    assert_eq!(ready.message, "containers with unready status: [app]");

    // The image arrives; the next attempt (at 63 s) finds it, without anyone's help.
    h.rt.add_image("test/missing-pause:1");
    tokio::time::sleep_until(begin + Duration::from_millis(63_500)).await;
    let s = h.sink.last().expect("a status");
    assert_eq!(s.phase, Some(PodPhase::Running), "{s:?}");
    assert_eq!(
        condition_of(&s, "PodReadyToStartContainers").status,
        ConditionStatus::True
    );
    assert_eq!(attempts(&h), 6, "no failure once the image is there");
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_sandbox_image_found_by_the_kubelet_wakes_waiting_pods_at_once() {
    let image = Arc::new(SandboxImage::new("test/missing-pause:1"));
    let h = start_without_sandbox_image(&image);
    // Four failures: the next attempt is 8 s away.
    tokio::time::sleep(Duration::from_millis(7_500)).await;
    assert_eq!(h.sink.events_of("FailedCreatePodSandBox").len(), 4);
    h.rt.add_image("test/missing-pause:1");
    // What the kubelet's heartbeat does: look again, and wake the workers.
    image.ensure(&h.rt).await.expect("present now");
    h.wake.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        h.sink.last().and_then(|s| s.phase),
        Some(PodPhase::Running),
        "started at once, not after the back-off"
    );
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_refused_sandbox_creation_backs_off_until_the_runtime_accepts() {
    let rt = runtime_with_images();
    rt.fail(
        "create_sandbox",
        RuntimeError::Failed {
            operation: "create sandbox".into(),
            message: "no space left on device".into(),
        },
    );
    let h = start(pod(RestartPolicy::Always), rt);
    let begin = Instant::now();
    let creates = |h: &Harness| {
        h.rt.calls()
            .iter()
            .filter(|c| c.starts_with("create_sandbox "))
            .count()
    };
    for (ms, want) in [(900, 1), (14_900, 4), (15_500, 5), (30_900, 5)] {
        tokio::time::sleep_until(begin + Duration::from_millis(ms)).await;
        assert_eq!(creates(&h), want, "creations tried by {ms} ms");
    }
    let s = h.sink.last().expect("status");
    let (reason, message) = waiting_of(&s);
    assert_eq!(reason, SANDBOX_ERROR_REASON);
    assert!(message.contains("no space left on device"), "{message}");
    h.rt.heal("create_sandbox");
    tokio::time::sleep_until(begin + Duration::from_millis(31_500)).await;
    assert_eq!(creates(&h), 6);
    let s = h.sink.last().expect("status");
    assert_eq!(s.phase, Some(PodPhase::Running), "{s:?}");
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_refused_container_creation_backs_off() {
    let rt = runtime_with_images();
    rt.fail(
        "create",
        RuntimeError::Failed {
            operation: "create container".into(),
            message: "invalid mount".into(),
        },
    );
    let h = start(pod(RestartPolicy::Always), rt);
    let begin = Instant::now();
    let creates = |h: &Harness| {
        h.rt.calls()
            .iter()
            .filter(|c| c.starts_with("create "))
            .count()
    };
    for (ms, want) in [(900, 1), (15_500, 5), (30_900, 5)] {
        tokio::time::sleep_until(begin + Duration::from_millis(ms)).await;
        assert_eq!(creates(&h), want, "creations tried by {ms} ms");
    }
    let (reason, message) = waiting_of(&h.sink.last().expect("status"));
    assert_eq!(reason, "CreateContainerError");
    assert!(message.contains("invalid mount"), "{message}");
    h.rt.heal("create");
    tokio::time::sleep_until(begin + Duration::from_millis(31_500)).await;
    assert_eq!(h.sink.last().and_then(|s| s.phase), Some(PodPhase::Running));
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn failing_removals_do_not_spin() {
    let h = start(pod(RestartPolicy::Always), runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.rt.fail(
        "remove",
        RuntimeError::Failed {
            operation: "remove".into(),
            message: "device or resource busy".into(),
        },
    );
    let mut deleting = pod(RestartPolicy::Always);
    deleting.metadata.deletion_timestamp = Some(Time::now());
    deleting.metadata.deletion_grace_period_seconds = Some(0);
    h.tx.send_replace(Some(Arc::new(deleting)));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let removes =
        h.rt.calls()
            .iter()
            .filter(|c| c.starts_with("remove "))
            .count();
    // Rounds at 0, 1, 3, 7, 15 and 25 s, two containers each.
    assert!(
        (4..=16).contains(&removes),
        "{removes} removals tried in 30 s"
    );
    h.rt.heal("remove");
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(h.rt.containers().is_empty());
    assert_eq!(*h.sink.deleted.lock().unwrap_or_else(|p| p.into_inner()), 1);
    h.task.abort();
}
