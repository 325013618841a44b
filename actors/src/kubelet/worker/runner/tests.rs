//! The worker task against [`FakeRuntime`] with paused tokio time.

use std::sync::Mutex;

use rudder_protocol::resources::{ConditionStatus, PodCondition, PodPhase, RestartPolicy};

use super::*;
use crate::kubelet::fake::FakeRuntime;
use crate::kubelet::runtime::MountSource;
use crate::kubelet::worker::fixtures::pod;

use rudder_protocol::resources::Probe;

/// Records what a worker reports.
#[derive(Default)]
struct RecordingSink {
    statuses: Mutex<Vec<PodStatus>>,
    events: Mutex<Vec<(String, String, String)>>,
    deleted: Mutex<u32>,
    config_maps: Mutex<BTreeMap<String, ConfigMap>>,
    secrets: Mutex<BTreeMap<String, Secret>>,
    claims: Mutex<BTreeMap<String, PersistentVolumeClaim>>,
    volumes: Mutex<BTreeMap<String, PersistentVolume>>,
}

impl PodSink for RecordingSink {
    fn config_map(
        &self,
        _namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<ConfigMap>, String>> {
        let cm = self
            .config_maps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        Box::pin(async move { Ok(cm) })
    }
    fn secret(
        &self,
        _namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<Secret>, String>> {
        let s = self
            .secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        Box::pin(async move { Ok(s) })
    }
    fn persistent_volume_claim(
        &self,
        _namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<PersistentVolumeClaim>, String>> {
        let c = self
            .claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        Box::pin(async move { Ok(c) })
    }
    fn persistent_volume(
        &self,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<PersistentVolume>, String>> {
        let v = self
            .volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        Box::pin(async move { Ok(v) })
    }
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
        pods_dir: std::env::temp_dir().join(format!("rudder-worker-tests-{}", std::process::id())),
        options: Default::default(),
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

#[tokio::test(start_paused = true)]
async fn a_missing_config_map_holds_the_pod_until_it_exists_and_edits_reach_the_files() {
    use rudder_protocol::resources::{
        ConfigMapKeySelector, ConfigMapVolumeSource, EnvVar, EnvVarSource, Volume, VolumeMount,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = node();
    node.pods_dir = dir.path().to_path_buf();
    let mut p = pod(RestartPolicy::Always);
    p.spec.volumes = vec![Volume {
        name: "conf".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: "cfg".into(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    p.spec.containers[0].volume_mounts = vec![VolumeMount {
        name: "conf".into(),
        mount_path: "/etc/conf".into(),
        read_only: false,
        ..Default::default()
    }];
    p.spec.containers[0].env = vec![EnvVar {
        name: "K".into(),
        value: String::new(),
        value_from: Some(EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: "cfg".into(),
                key: "k".into(),
                optional: None,
            }),
            ..Default::default()
        }),
    }];
    let h = start_on(p, runtime_with_images(), node);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = |h: &Harness| {
        h.sink
            .last()
            .and_then(|s| s.container_statuses.first().cloned())
            .and_then(|c| c.state.waiting)
            .map(|w| w.reason)
    };
    assert_eq!(waiting(&h).as_deref(), Some("ContainerCreating"));
    let mounts = h.sink.events_of("FailedMount");
    assert!(
        mounts.iter().any(|(_, m)| m
            == "MountVolume.SetUp failed for volume \"conf\" : configmap \"cfg\" not found"),
        "{mounts:?}"
    );
    assert!(app_containers(&h.rt).is_empty());

    let mut cm = ConfigMap::new("cfg");
    cm.data.insert("k".into(), "v1".into());
    h.sink
        .config_maps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("cfg".into(), cm.clone());
    // Within the start back-off (it has not grown past a few seconds yet).
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !app_containers(&h.rt).is_empty() {
            break;
        }
    }
    let c = app_containers(&h.rt)
        .pop()
        .expect("started once the ConfigMap exists");
    let spec = h.rt.spec(&c.id).expect("spec recorded");
    assert_eq!(spec.env, vec!["K=v1".to_owned()]);
    let files = dir.path().join("uid-1/volumes/conf");
    assert_eq!(
        spec.mounts[0].source,
        MountSource::HostPath(files.to_string_lossy().into_owned())
    );
    assert!(spec.mounts[0].read_only);
    assert_eq!(
        std::fs::read_to_string(files.join("k")).ok().as_deref(),
        Some("v1")
    );

    cm.data.insert("k".into(), "v2".into());
    h.sink
        .config_maps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("cfg".into(), cm);
    tokio::time::sleep(RESYNC + Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(
        std::fs::read_to_string(files.join("k")).ok().as_deref(),
        Some("v2"),
        "an edit reaches the files within a resync"
    );
    assert_eq!(
        app_containers(&h.rt).len(),
        1,
        "the container keeps running"
    );

    h.tx.send_replace(None);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !dir.path().join("uid-1").exists() {
            break;
        }
    }
    assert!(
        !dir.path().join("uid-1").exists(),
        "the files go with the pod"
    );
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_claim_holds_the_pod_until_it_is_bound_then_its_volume_is_bound_read_only() {
    use rudder_protocol::resources::{
        LocalVolumeSource, PersistentVolumeClaimPhase, PersistentVolumeClaimVolumeSource, Volume,
        VolumeMount,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = node();
    node.pods_dir = dir.path().to_path_buf();
    let mut p = pod(RestartPolicy::Always);
    p.spec.volumes = vec![Volume {
        name: "data".into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: "www".into(),
            read_only: true,
        }),
        ..Default::default()
    }];
    p.spec.containers[0].volume_mounts = vec![VolumeMount {
        name: "data".into(),
        mount_path: "/data".into(),
        ..Default::default()
    }];
    let h = start_on(p, runtime_with_images(), node);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mounts = h.sink.events_of("FailedMount");
    assert!(
        mounts.iter().any(|(_, m)| m.contains(
            "error processing PVC default/www: failed to fetch PVC from API server: persistentvolumeclaims \"www\" not found"
        )),
        "{mounts:?}"
    );
    assert!(app_containers(&h.rt).is_empty());

    let mut claim = PersistentVolumeClaim::new("www");
    claim.metadata.namespace = "default".into();
    h.sink
        .claims
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("www".into(), claim.clone());
    tokio::time::sleep(Duration::from_secs(15)).await;
    let mounts = h.sink.events_of("FailedMount");
    assert!(
        mounts
            .iter()
            .any(|(_, m)| m == "error processing PVC default/www: PVC is not bound"),
        "{mounts:?}"
    );
    assert!(app_containers(&h.rt).is_empty());

    let volume_dir = dir.path().join("pv-1");
    std::fs::create_dir_all(&volume_dir).expect("volume dir");
    let mut pv = PersistentVolume::new("pv-1");
    pv.spec.local = Some(LocalVolumeSource {
        path: volume_dir.to_string_lossy().into_owned(),
        fs_type: None,
    });
    h.sink
        .volumes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("pv-1".into(), pv);
    claim.spec.volume_name = "pv-1".into();
    claim.status.phase = Some(PersistentVolumeClaimPhase::Bound);
    h.sink
        .claims
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("www".into(), claim);
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !app_containers(&h.rt).is_empty() {
            break;
        }
    }
    let c = app_containers(&h.rt)
        .pop()
        .expect("started once the claim is bound");
    let spec = h.rt.spec(&c.id).expect("spec recorded");
    let data = spec
        .mounts
        .iter()
        .find(|m| m.target == "/data")
        .expect("the claim's mount");
    assert_eq!(
        data.source,
        MountSource::HostPath(volume_dir.to_string_lossy().into_owned())
    );
    assert!(data.read_only, "the volume source says readOnly");
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_missing_env_source_is_a_create_container_config_error() {
    use rudder_protocol::resources::{EnvVar, EnvVarSource, SecretKeySelector};
    let mut p = pod(RestartPolicy::Always);
    p.spec.containers[0].env = vec![EnvVar {
        name: "PW".into(),
        value: String::new(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: "creds".into(),
                key: "pw".into(),
                optional: None,
            }),
            ..Default::default()
        }),
    }];
    let h = start(p, runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.sink.last().expect("a status");
    let waiting = s.container_statuses[0]
        .state
        .waiting
        .clone()
        .expect("waiting");
    assert_eq!(waiting.reason, "CreateContainerConfigError");
    assert_eq!(waiting.message, "secret \"creds\" not found");
    assert!(h.sink.events_of("Failed").contains(&(
        "Warning".to_owned(),
        "Error: secret \"creds\" not found".to_owned()
    )));
    assert!(app_containers(&h.rt).is_empty());

    let mut secret = Secret::new("creds");
    secret.data.insert("pw".into(), "hunter2".into());
    h.sink
        .secrets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("creds".into(), secret);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !app_containers(&h.rt).is_empty() {
            break;
        }
    }
    let c = app_containers(&h.rt)
        .pop()
        .expect("started once the Secret exists");
    assert_eq!(
        h.rt.spec(&c.id).expect("spec").env,
        vec!["PW=hunter2".to_owned()]
    );
    h.task.abort();
}

fn waiting_state(s: &PodStatus) -> Option<(String, String)> {
    s.container_statuses
        .first()
        .and_then(|c| c.state.waiting.clone())
        .map(|w| (w.reason, w.message))
}

#[tokio::test(start_paused = true)]
async fn run_as_non_root_refuses_an_image_that_runs_as_root() {
    use rudder_protocol::resources::PodSecurityContext;
    let mut p = pod(RestartPolicy::Always);
    p.spec.security_context = Some(PodSecurityContext {
        run_as_non_root: Some(true),
        ..Default::default()
    });
    let rt = runtime_with_images();
    let h = start(p.clone(), rt.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.sink.last().expect("a status");
    assert_eq!(
        waiting_state(&s),
        Some((
            "CreateContainerConfigError".into(),
            "container has runAsNonRoot and image will run as root (pod: \"web_default(uid-1)\", \
             container: app)"
                .into()
        )),
        "{s:?}"
    );
    assert!(app_containers(&h.rt).is_empty(), "nothing created");
    h.task.abort();

    // An image with a numeric non-root user passes, and its user is kept.
    let rt = runtime_with_images();
    rt.set_image_user("rudder/demo:1", "1000");
    let h = start(p, rt);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let apps = app_containers(&h.rt);
    assert_eq!(apps.len(), 1);
    assert_eq!(h.rt.spec(&apps[0].id).and_then(|s| s.user), None);
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn the_container_spec_carries_security_limits_and_pod_files() {
    use rudder_protocol::resources::{
        HostAlias, PodSecurityContext, Quantity, SecurityContext, Sysctl,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = node();
    node.pods_dir = dir.path().to_path_buf();
    node.options = Arc::new(PodOptions {
        pod_pids_limit: Some(100),
        cluster_dns: vec!["10.96.0.10".into()],
        ..Default::default()
    });
    let mut p = pod(RestartPolicy::Always);
    p.spec.hostname = "db-0".into();
    p.spec.subdomain = "db".into();
    p.spec.host_aliases = vec![HostAlias {
        ip: "10.1.2.3".into(),
        hostnames: vec!["foo.local".into()],
    }];
    p.spec.security_context = Some(PodSecurityContext {
        run_as_user: Some(1000),
        fs_group: Some(2000),
        sysctls: vec![Sysctl {
            name: "net.ipv4.tcp_syncookies".into(),
            value: "1".into(),
        }],
        ..Default::default()
    });
    let c = &mut p.spec.containers[0];
    c.security_context = Some(SecurityContext {
        read_only_root_filesystem: Some(true),
        ..Default::default()
    });
    c.resources.limits.insert(
        "memory".into(),
        Quantity::parse("32Mi").expect("test value"),
    );
    c.termination_message_path = "/tmp/msg".into();
    let h = start_on(p, runtime_with_images(), node);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let apps = app_containers(&h.rt);
    assert_eq!(apps.len(), 1, "{:?}", h.sink.events());
    let spec = h.rt.spec(&apps[0].id).expect("spec");
    assert_eq!(spec.user.as_deref(), Some("1000"));
    assert_eq!(spec.group_add, vec!["2000"]);
    assert!(spec.read_only_rootfs);
    assert_eq!(spec.memory_bytes, Some(32 << 20));
    assert_eq!(spec.memory_swap_bytes, Some(32 << 20));
    assert_eq!(spec.pids_limit, Some(100));
    let targets: Vec<&str> = spec.mounts.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(targets, ["/etc/hosts", "/etc/resolv.conf", "/tmp/msg"]);
    let hosts = std::fs::read_to_string(dir.path().join("uid-1/etc-hosts")).expect("test value");
    assert!(
        hosts.contains("\tdb-0.db.default.svc.cluster.local\tdb-0\n"),
        "{hosts}"
    );
    assert!(hosts.contains("10.1.2.3\tfoo.local\n"), "{hosts}");
    let resolv = std::fs::read_to_string(dir.path().join("uid-1/resolv.conf")).expect("test value");
    assert!(resolv.starts_with("nameserver 10.96.0.10\nsearch default.svc.cluster.local"));
    let sandbox =
        h.rt.containers()
            .into_iter()
            .find(|c| c.is_sandbox())
            .expect("sandbox");
    let sb = h.rt.sandbox_spec(&sandbox.id).expect("sandbox spec");
    assert_eq!(sb.hostname, "db-0");
    assert_eq!(sb.domainname, "db.default.svc.cluster.local");
    assert_eq!(sb.ipc_mode, "shareable");
    assert_eq!(
        sb.sysctls
            .get("net.ipv4.tcp_syncookies")
            .map(String::as_str),
        Some("1")
    );
    let s = h.sink.last().expect("status");
    assert_eq!(
        s.qos_class,
        Some(rudder_protocol::resources::PodQosClass::Burstable)
    );
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_pod_past_its_active_deadline_fails_and_its_containers_stop() {
    let mut p = pod(RestartPolicy::Always);
    p.spec.active_deadline_seconds = Some(30);
    let h = start(p, runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.sink.last().and_then(|s| s.phase), Some(PodPhase::Running));
    // The deadline counts from the start time (wall clock, which paused tokio time
    // does not move): the worker's memory of it is moved back instead.
    let mut p = pod(RestartPolicy::Always);
    p.spec.active_deadline_seconds = Some(30);
    p.status.start_time = Some(Time::from_unix(Time::now().unix() - 31));
    h.tx.send_replace(Some(Arc::new(p)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = h.sink.last().expect("status");
    assert_eq!(s.phase, Some(PodPhase::Failed), "{s:?}");
    assert_eq!(s.reason, DEADLINE_REASON);
    assert_eq!(s.message, DEADLINE_MESSAGE);
    assert!(
        app_containers(&h.rt)
            .iter()
            .all(|c| c.state == RunState::Exited),
        "containers stopped"
    );
    assert!(h.sink.events().contains(&"DeadlineExceeded".to_owned()));
    // Nothing restarts.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(app_containers(&h.rt).len(), 1);
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_pod_the_node_cannot_run_is_rejected() {
    let mut p = pod(RestartPolicy::Always);
    p.spec.host_users = Some(false);
    let h = start(p, runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.sink.last().expect("status");
    assert_eq!(s.phase, Some(PodPhase::Failed));
    assert_eq!(s.reason, "UserNamespacesNotSupported");
    assert!(
        s.message.contains("(Docker) cannot give one to a pod"),
        "{}",
        s.message
    );
    assert!(h
        .rt
        .containers()
        .iter()
        .all(|c| c.state != RunState::Running));
    assert!(app_containers(&h.rt).is_empty());
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn pre_stop_runs_before_the_stop_and_post_start_failures_kill() {
    use rudder_protocol::resources::{ExecAction, Lifecycle, LifecycleHandler};
    let hook = |cmd: &str| LifecycleHandler {
        exec: Some(ExecAction {
            command: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
        }),
        ..Default::default()
    };
    let mut p = pod(RestartPolicy::Always);
    p.spec.termination_grace_period_seconds = Some(5);
    p.spec.containers[0].lifecycle = Some(Lifecycle {
        pre_stop: Some(hook("drain")),
        ..Default::default()
    });
    let h = start(p.clone(), runtime_with_images());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut deleting = p.clone();
    deleting.metadata.deletion_timestamp = Some(Time::now());
    h.tx.send_replace(Some(Arc::new(deleting)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls = h.rt.calls();
    let hook_at = calls.iter().position(|c| c == "exec /bin/sh -c drain");
    let stop_at = calls.iter().position(|c| c.starts_with("stop "));
    assert!(hook_at.is_some() && hook_at < stop_at, "{calls:?}");
    h.task.abort();

    // A failing postStart: the event, and the container stopped.
    let mut p = pod(RestartPolicy::Never);
    p.spec.containers[0].lifecycle = Some(Lifecycle {
        post_start: Some(hook("setup")),
        ..Default::default()
    });
    let rt = runtime_with_images();
    rt.script_exec("/bin/sh -c setup", 3);
    let h = start(p, rt);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let failed = h.sink.events_of("FailedPostStartHook");
    assert_eq!(failed.len(), 1, "{:?}", h.sink.events());
    assert!(failed[0].1.starts_with("Exec lifecycle hook ([\"/bin/sh\", \"-c\", \"setup\"]) for Container \"app\" in Pod \"web_default(uid-1)\" failed"), "{}", failed[0].1);
    assert!(app_containers(&h.rt)
        .iter()
        .all(|c| c.state == RunState::Exited));
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn termination_messages_reach_the_status() {
    use rudder_protocol::resources::TerminationMessagePolicy;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = node();
    node.pods_dir = dir.path().to_path_buf();
    let mut p = pod(RestartPolicy::Never);
    p.spec.containers[0].termination_message_policy =
        Some(TerminationMessagePolicy::FallbackToLogsOnError);
    let mut second = p.spec.containers[0].clone();
    second.name = "logs".into();
    p.spec.containers.push(second);
    let h = start_on(p, runtime_with_images(), node);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let apps = app_containers(&h.rt);
    assert_eq!(apps.len(), 2);
    // The first writes its file; the second only logs, then fails.
    let file = crate::kubelet::lifecycle::termination_log_path(dir.path(), "uid-1", "app", 0);
    std::fs::write(&file, "bye from app").expect("test value");
    let app = apps
        .iter()
        .find(|c| c.label(labels::CONTAINER_NAME) == "app")
        .expect("test value");
    let logs = apps
        .iter()
        .find(|c| c.label(labels::CONTAINER_NAME) == "logs")
        .expect("test value");
    h.rt.append_log(&logs.id, b"line 1\nfatal: out of cheese\n");
    h.rt.exit(&app.id, 0);
    h.rt.exit(&logs.id, 2);
    h.wake.notify_one();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = h.sink.last().expect("status");
    let message = |name: &str| {
        s.container_statuses
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.state.terminated.as_ref())
            .map(|t| t.message.clone())
    };
    assert_eq!(message("app").as_deref(), Some("bye from app"));
    assert_eq!(
        message("logs").as_deref(),
        Some("line 1\nfatal: out of cheese\n")
    );
    h.task.abort();
}

#[test]
fn registry_credentials_come_from_docker_config_secrets() {
    use base64::Engine as _;
    let mut s = Secret::new("pull");
    let auth = base64::engine::general_purpose::STANDARD.encode("bob:pw");
    let doc = format!(
        r#"{{"auths":{{"registry.example:5000":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"username":"hub","password":"x"}}}}}}"#
    );
    s.data
        .insert(".dockerconfigjson".into(), doc.into_bytes().into());
    let a = registry_auth(&s, "registry.example:5000/app:1").expect("registry");
    assert_eq!((a.username.as_str(), a.password.as_str()), ("bob", "pw"));
    let hub = registry_auth(&s, "busybox:1").expect("docker hub");
    assert_eq!(hub.username, "hub");
    assert!(registry_auth(&s, "other.example/app").is_none());
}

#[tokio::test(start_paused = true)]
async fn image_pull_secrets_reach_the_pull() {
    use base64::Engine as _;
    use rudder_protocol::resources::LocalObjectReference;
    let image = "registry.example:5000/app:1";
    let mut p = pod(RestartPolicy::Always);
    p.spec.containers[0].image = image.into();
    p.spec.image_pull_secrets = vec![LocalObjectReference {
        name: "pull".into(),
    }];
    let rt = runtime_with_images();
    rt.add_pullable(image);
    let mut s = Secret::new("pull");
    let auth = base64::engine::general_purpose::STANDARD.encode("bob:pw");
    s.data.insert(
        ".dockerconfigjson".into(),
        format!(r#"{{"auths":{{"registry.example:5000":{{"auth":"{auth}"}}}}}}"#)
            .into_bytes()
            .into(),
    );
    let sink = Arc::new(RecordingSink::default());
    sink.secrets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("pull".into(), s);
    let (_tx, rx) = watch::channel(Some(Arc::new(p)));
    let worker = PodWorker::new(
        Arc::new(rt.clone()),
        sink.clone(),
        node(),
        rx,
        Arc::new(Notify::new()),
    );
    let task = tokio::spawn(worker.run());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        rt.pull_auths(),
        vec![(image.to_owned(), "registry.example:5000".to_owned())]
    );
    assert_eq!(app_containers(&rt).len(), 1);
    task.abort();
}

/// A pod with sidecars `names` (in order) before its app container.
fn with_sidecars(policy: RestartPolicy, names: &[&str]) -> Pod {
    let mut p = pod(policy);
    p.spec.init_containers = names
        .iter()
        .map(|n| Container {
            name: (*n).into(),
            image: "rudder/demo:1".into(),
            restart_policy: Some(rudder_protocol::resources::ContainerRestartPolicy::Always),
            ..Default::default()
        })
        .collect();
    p
}

fn running_named(rt: &FakeRuntime, name: &str) -> Option<ContainerInfo> {
    app_containers(rt)
        .into_iter()
        .find(|c| c.label(labels::CONTAINER_NAME) == name && c.state == RunState::Running)
}

#[tokio::test(start_paused = true)]
async fn a_job_with_a_sidecar_succeeds_when_its_app_exits_and_the_sidecar_stops() {
    let h = start(
        with_sidecars(RestartPolicy::Never, &["log"]),
        runtime_with_images(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sidecar = running_named(&h.rt, "log").expect("the sidecar runs");
    let app = running_named(&h.rt, "app").expect("the app runs beside it");
    let s = h.sink.last().expect("status");
    assert_eq!(s.phase, Some(PodPhase::Running), "{s:?}");
    assert_eq!(s.init_container_statuses[0].started, Some(true));
    assert_eq!(
        condition_of(&s, "Initialized").status,
        ConditionStatus::True
    );
    h.rt.exit(&app.id, 0);
    h.wake.notify_one();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let gone = app_containers(&h.rt)
        .into_iter()
        .find(|c| c.id == sidecar.id)
        .expect("kept for its logs");
    assert_eq!(gone.state, RunState::Exited, "the sidecar was stopped");
    assert!(running_named(&h.rt, "log").is_none(), "and not restarted");
    let s = h.sink.last().expect("status");
    assert_eq!(s.phase, Some(PodPhase::Succeeded), "{s:?}");
    assert!(s.init_container_statuses[0].state.terminated.is_some());
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_sidecar_that_exits_is_restarted_while_the_app_runs() {
    let h = start(
        with_sidecars(RestartPolicy::Never, &["log"]),
        runtime_with_images(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let app = running_named(&h.rt, "app").expect("app");
    for restarts in 1..=2 {
        let sidecar = running_named(&h.rt, "log").expect("sidecar");
        h.rt.exit(&sidecar.id, 0);
        h.wake.notify_one();
        // At once the first time, after the crash-loop back-off (10 s) the next.
        tokio::time::sleep(Duration::from_secs(11)).await;
        let s = h.sink.last().expect("status");
        assert_eq!(
            s.init_container_statuses[0].restart_count, restarts,
            "{s:?}"
        );
        assert!(running_named(&h.rt, "log").is_some(), "restarted");
    }
    assert_eq!(running_named(&h.rt, "app").map(|c| c.id), Some(app.id));
    assert_eq!(h.sink.last().and_then(|s| s.phase), Some(PodPhase::Running));
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn deletion_stops_the_app_first_then_the_sidecars_in_reverse() {
    let p = with_sidecars(RestartPolicy::Always, &["first", "second"]);
    let h = start(p.clone(), runtime_with_images());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = |name: &str| running_named(&h.rt, name).expect(name).id;
    let (first, second, app) = (id("first"), id("second"), id("app"));
    let mut deleting = p;
    deleting.metadata.deletion_timestamp = Some(Time::now());
    deleting.metadata.deletion_grace_period_seconds = Some(5);
    h.tx.send_replace(Some(Arc::new(deleting)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stops: Vec<String> =
        h.rt.calls()
            .into_iter()
            .filter_map(|c| c.strip_prefix("stop ").map(str::to_owned))
            .filter(|id| [&first, &second, &app].contains(&id))
            .collect();
    assert_eq!(stops, vec![app, second, first]);
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_sidecar_failing_its_liveness_probe_is_restarted_beside_the_app() {
    let rt = runtime_with_images();
    rt.script_exec("alive", 1);
    let mut p = with_sidecars(RestartPolicy::Always, &["log"]);
    let exec = |command: &str| {
        Some(rudder_protocol::resources::ExecAction {
            command: vec![command.into()],
        })
    };
    p.spec.init_containers[0].liveness_probe = Some(Probe {
        exec: exec("alive"),
        period_seconds: 1,
        failure_threshold: 2,
        ..Default::default()
    });
    let h = start(p, rt);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let s = h.sink.last().expect("status");
    assert!(
        s.init_container_statuses[0].restart_count >= 1,
        "restarted for its liveness probe: {s:?}"
    );
    assert!(h
        .sink
        .events_of("Killing")
        .iter()
        .any(|(_, m)| m.contains("log failed liveness probe")));
    assert!(
        running_named(&h.rt, "app").is_some(),
        "the app runs beside it"
    );
    h.task.abort();
}
