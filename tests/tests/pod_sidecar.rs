//! Sidecars (init containers with `restartPolicy: Always`) and readiness gates on real
//! Docker: a Job-style pod whose app reads what its sidecar writes succeeds and its
//! sidecar is stopped; a sidecar that exits is restarted while the app keeps running,
//! and kubectl counts it in READY; a readiness gate holds a pod's Ready condition until
//! its condition is set through the status subresource. One `rudderd` node with both
//! roles per test, pods bound to it by `spec.nodeName`.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns. Each test
//! uses its own node name and removes what Docker holds for it, even when it fails.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{ConditionStatus, ContainerStatus, Pod, PodPhase};
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{wait_for, Cluster};
use serde_json::json;

fn docker_available() -> bool {
    services::docker_available("the sidecar and readiness gate Docker tests")
}

async fn start_node(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    services::start_pod_node(name, Vec::new()).await
}

/// A pod bound to `node` from its spec's JSON (`restartPolicy`, containers...).
fn pod(name: &str, node: &str, spec: serde_json::Value) -> anyhow::Result<Pod> {
    let mut p: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))?;
    p.spec.node_name = node.to_owned();
    p.spec.termination_grace_period_seconds = Some(5);
    Ok(p)
}

fn init_status<'a>(p: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    p.status
        .init_container_statuses
        .iter()
        .find(|c| c.name == name)
}

fn app_status<'a>(p: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    p.status.container_statuses.iter().find(|c| c.name == name)
}

fn condition(p: &Pod, type_: &str) -> Option<(ConditionStatus, String, String)> {
    p.status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}

/// Runs the newest kubectl; its output, or the error with what it printed.
fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The READY and STATUS cells kubectl prints for pod `name`.
fn ready_column(kubeconfig: &Path, name: &str) -> anyhow::Result<(String, String)> {
    let row = kubectl(kubeconfig, &["get", "pod", name, "--no-headers"])?;
    let cells: Vec<&str> = row.split_whitespace().collect();
    match cells.as_slice() {
        [_, ready, status, ..] => Ok(((*ready).to_owned(), (*status).to_owned())),
        _ => bail!("unexpected row {row:?}"),
    }
}

/// Whether Docker runs a container of pod `pod` named `container` on this node.
fn docker_running(node: &str, pod: &str, container: &str) -> bool {
    services::docker(&[
        "ps",
        "--filter",
        &format!("label=io.rudder.node={node}"),
        "--filter",
        &format!("label=io.rudder.pod.name={pod}"),
        "--filter",
        &format!("label=io.rudder.container.name={container}"),
        "--format",
        "{{.Names}}",
    ])
    .is_some_and(|names| !names.trim().is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_a_sidecar_succeeds_and_its_sidecar_stops() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("sc-job-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    // The sidecar writes a line a second (and stops at once on SIGTERM); the app starts
    // only once the sidecar has started, reads its lines and exits 0.
    let p = pod(
        "job",
        &node,
        json!({
            "restartPolicy": "Never",
            "volumes": [{"name": "shared", "emptyDir": {}}],
            "initContainers": [{
                "name": "writer",
                "image": "rudder/demo:1",
                "restartPolicy": "Always",
                "command": ["/bin/sh", "-c",
                    "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line $i >> /shared/out; sleep 1; done"],
                "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            }],
            "containers": [{
                "name": "reader",
                "image": "rudder/demo:1",
                "command": ["/bin/sh", "-c",
                    "until grep -q 'line 3' /shared/out 2>/dev/null; do sleep 1; done; cat /shared/out"],
                "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            }],
        }),
    )?;
    let created = Instant::now();
    pods.create(&p).await?;
    let done = wait_for(&pods, "job", 120, |p| {
        p.status.phase == Some(PodPhase::Succeeded)
            && init_status(p, "writer").is_some_and(|s| s.state.terminated.is_some())
    })
    .await?;
    println!(
        "job with a sidecar: Succeeded, sidecar stopped {:?} after creation",
        created.elapsed()
    );
    let reader = app_status(&done, "reader").context("reader status")?;
    let t = reader.state.terminated.as_ref().context("reader ended")?;
    assert_eq!(t.exit_code, 0, "{reader:?}");
    let writer = init_status(&done, "writer").context("writer status")?;
    assert_eq!(
        writer.restart_count, 0,
        "stopped, not restarted: {writer:?}"
    );
    assert!(!writer.ready);
    assert_eq!(
        condition(&done, "Initialized").map(|c| c.0),
        Some(ConditionStatus::True)
    );
    assert!(
        !docker_running(&node, "job", "writer"),
        "the sidecar's container is stopped"
    );
    // The sidecar stays stopped: no restart after a while.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = pods.get("job").await?;
    assert_eq!(later.status.phase, Some(PodPhase::Succeeded));
    assert!(!docker_running(&node, "job", "writer"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_that_exits_is_restarted_while_the_app_runs() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("sc-restart-{}", std::process::id());
    let (_cleanup, cluster, client) = start_node(&node).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    let p = pod(
        "flaky",
        &node,
        json!({
            "restartPolicy": "Never",
            "initContainers": [{
                "name": "flaky",
                "image": "rudder/demo:1",
                "restartPolicy": "Always",
                "command": ["/bin/sh", "-c", "echo up; sleep 2; exit 1"],
            }],
            "containers": [{
                "name": "app",
                "image": "rudder/demo:1",
                "command": ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            }],
        }),
    )?;
    pods.create(&p).await?;
    let running = wait_for(&pods, "flaky", 60, |p| {
        app_status(p, "app").is_some_and(|s| s.state.running.is_some())
    })
    .await?;
    let app_id = app_status(&running, "app")
        .map(|s| s.container_id.clone())
        .context("app id")?;
    // Sidecars count in kubectl's READY total.
    let (ready, _) = ready_column(&kc, "flaky")?;
    assert!(ready.ends_with("/2"), "READY {ready}");
    // The first restart is at once, the next after the crash-loop back-off (10 s).
    let started = Instant::now();
    let restarted = wait_for(&pods, "flaky", 90, |p| {
        init_status(p, "flaky").is_some_and(|s| s.restart_count >= 2)
    })
    .await?;
    println!(
        "sidecar exiting every 2 s: restartCount 2 after {:?}",
        started.elapsed()
    );
    let app = app_status(&restarted, "app").context("app status")?;
    assert!(
        app.state.running.is_some(),
        "the app keeps running: {app:?}"
    );
    assert_eq!(app.restart_count, 0);
    assert_eq!(app.container_id, app_id, "the same app container");
    assert_eq!(restarted.status.phase, Some(PodPhase::Running));
    assert_eq!(
        condition(&restarted, "Initialized").map(|c| c.0),
        Some(ConditionStatus::True),
        "a restarting sidecar does not undo initialisation"
    );
    let (ready, status) = ready_column(&kc, "flaky")?;
    assert!(ready.ends_with("/2"), "READY {ready}");
    assert!(
        status == "Running" || status == "NotReady",
        "STATUS {status}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_gate_holds_ready_until_its_condition_is_true() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("sc-gate-{}", std::process::id());
    let (_cleanup, cluster, client) = start_node(&node).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    let p = pod(
        "gated",
        &node,
        json!({
            "readinessGates": [{"conditionType": "example.com/ready"}],
            "containers": [{
                "name": "app",
                "image": "rudder/demo:1",
                "command": ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            }],
        }),
    )?;
    pods.create(&p).await?;
    let held = wait_for(&pods, "gated", 60, |p| {
        condition(p, "ContainersReady").is_some_and(|c| c.0 == ConditionStatus::True)
    })
    .await?;
    assert_eq!(
        condition(&held, "Ready"),
        Some((
            ConditionStatus::False,
            "ReadinessGatesNotReady".to_owned(),
            "corresponding condition of pod readiness gate \"example.com/ready\" does not exist."
                .to_owned()
        ))
    );
    let (ready, status) = ready_column(&kc, "gated")?;
    assert_eq!((ready.as_str(), status.as_str()), ("1/1", "Running"));
    // False is not enough.
    pods.patch_status(
        "gated",
        PatchType::StrategicMerge,
        &json!({"status": {"conditions": [{"type": "example.com/ready", "status": "False"}]}}),
    )
    .await?;
    let still = wait_for(&pods, "gated", 30, |p| {
        condition(p, "Ready").is_some_and(|c| c.2.contains("is not \"True\", but False"))
    })
    .await?;
    assert_eq!(
        condition(&still, "Ready").map(|c| c.0),
        Some(ConditionStatus::False)
    );
    let set = Instant::now();
    pods.patch_status(
        "gated",
        PatchType::StrategicMerge,
        &json!({"status": {"conditions": [{"type": "example.com/ready", "status": "True"}]}}),
    )
    .await?;
    let ready_pod = wait_for(&pods, "gated", 30, |p| {
        condition(p, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
    })
    .await?;
    println!(
        "readiness gate set True: pod Ready {:?} later",
        set.elapsed()
    );
    assert_eq!(
        condition(&ready_pod, "example.com/ready").map(|c| c.0),
        Some(ConditionStatus::True),
        "the gate's condition is kept by the kubelet's writes"
    );
    Ok(())
}
