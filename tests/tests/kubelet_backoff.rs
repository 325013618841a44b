//! The kubelet never spins, on real Docker: a node whose sandbox image does not exist and
//! cannot be built backs off per pod, says why once per pod (one Event whose count
//! grows, the pods' status), keeps its log quiet, and starts the pods by itself once the
//! image exists.
//!
//! The node is configured with a sandbox image of its own (`[kubelet] sandbox_image`,
//! a name no other test uses, which Rudder never builds), so the test never removes an
//! image another test needs: it only adds and removes that name as a tag of
//! `rudder/pause:1`. Without a reachable Docker engine the test prints a loud SKIP and
//! returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rudder_protocol::client::{Api, Client};
use rudder_protocol::resources::{ConditionStatus, Container, Event, Pod, PodPhase, RestartPolicy};
use rudder_tests::services::{self, docker, DockerCleanup};
use rudder_tests::{eventually, repo_root, Cluster, NodeProc};

/// Pods on the node.
const PODS: usize = 3;
/// How long the test watches the kubelet fail.
const WINDOW: Duration = Duration::from_secs(20);

/// Removes the test's image tag when dropped (the image under it stays).
struct TagCleanup(String);

impl Drop for TagCleanup {
    fn drop(&mut self) {
        docker(&["rmi", &self.0]);
    }
}

async fn start_node(name: &str, sandbox_image: &str) -> anyhow::Result<(Cluster, Client)> {
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", name);
    let base = std::fs::read_to_string(repo_root().join("cluster-config/single-node.toml"))?;
    let config = cluster.dir.path().join("missing-sandbox.toml");
    std::fs::write(
        &config,
        format!("{base}\n[kubelet]\nsandbox_image = \"{sandbox_image}\"\n"),
    )?;
    spec.config = config;
    // Real pods: the Docker runtime of the config.
    spec.kubelet_runtime = None;
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    rudder_tests::services::wait_node_ready(&client, name).await?;
    Ok((cluster, client))
}

fn pod(name: &str, node: &str) -> Pod {
    let mut p = Pod::new(name);
    p.spec.node_name = node.to_owned();
    p.spec.restart_policy = Some(RestartPolicy::Always);
    p.spec.termination_grace_period_seconds = Some(1);
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    }];
    p
}

/// The `FailedCreatePodSandBox` Events, per pod name.
async fn sandbox_events(events: &Api<Event>) -> anyhow::Result<BTreeMap<String, Vec<Event>>> {
    let mut out: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in events.list(&Default::default()).await?.items {
        if e.reason == "FailedCreatePodSandBox" {
            out.entry(e.involved_object.name.clone())
                .or_default()
                .push(e);
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_sandbox_image_backs_off_reports_once_and_recovers_when_it_appears(
) -> anyhow::Result<()> {
    if !services::docker_available("the kubelet back-off test on real Docker") {
        return Ok(());
    }
    let node = format!("kb-sandbox-{}", std::process::id());
    let image = format!("rudder-test/missing-pause-{}:1", std::process::id());
    let _containers = DockerCleanup(node.clone());
    let _tag = TagCleanup(image.clone());
    docker(&["rmi", &image]);
    assert!(
        docker(&["image", "inspect", &image]).is_none(),
        "{image} must not exist"
    );
    // rudder/pause:1 (tagged later) and rudder/demo:1 (the pods' image).
    services::build_images()?;

    let (cluster, client) = start_node(&node, &image).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let names: Vec<String> = (0..PODS).map(|i| format!("nosandbox-{i}")).collect();
    let log_before = cluster.nodes[0].log_text().lines().count();
    let started = Instant::now();
    for n in &names {
        pods.create(&pod(n, &node)).await?;
    }
    tokio::time::sleep(WINDOW).await;
    let window = started.elapsed();

    // One Event per pod, its count the attempts: retried, but backing off (1 s doubling
    // gives 5 attempts in 20 s; a kubelet that spins reaches the recorder's spam limit
    // of 25 within a second).
    let events: Api<Event> = client.api(Some("default"));
    let by_pod = sandbox_events(&events).await?;
    for n in &names {
        let list = by_pod.get(n).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(list.len(), 1, "one Event for {n}: {list:#?}");
        let e = &list[0];
        eprintln!("{n}: FailedCreatePodSandBox x{} in {window:?}", e.count);
        assert_eq!(e.type_, "Warning");
        assert!(
            e.message.starts_with("Failed to create pod sandbox: ") && e.message.contains(&image),
            "{}",
            e.message
        );
        assert!(
            (2..=7).contains(&e.count),
            "{n}: {} attempts in {window:?}, want a back-off from 1 s",
            e.count
        );
    }
    // Nothing was created meanwhile.
    let created = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.rudder.node={node}"),
    ])
    .unwrap_or_default();
    assert!(created.trim().is_empty(), "containers created: {created}");

    // The log: well under one line per second per pod about it.
    let log = cluster.nodes[0].log_text();
    let lines: Vec<&str> = log
        .lines()
        .skip(log_before)
        .filter(|l| l.to_lowercase().contains("sandbox"))
        .collect();
    let per_pod_second = lines.len() as f64 / PODS as f64 / window.as_secs_f64();
    eprintln!(
        "{} log lines about the sandbox in {window:?} for {PODS} pods ({per_pod_second:.3} per pod per second)",
        lines.len()
    );
    assert!(
        per_pod_second < 0.2,
        "{} lines in {window:?}:\n{}",
        lines.len(),
        lines.join("\n")
    );

    // The pods' status names the reason.
    for n in &names {
        let p = pods.get(n).await?;
        let waiting = p
            .status
            .container_statuses
            .first()
            .and_then(|s| s.state.waiting.clone())
            .unwrap_or_default();
        assert_eq!(
            waiting.reason, "CreatePodSandboxError",
            "{n}: {:?}",
            p.status
        );
        assert!(waiting.message.contains(&image), "{}", waiting.message);
        let sandbox_ready = p
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "PodReadyToStartContainers")
            .map(|c| c.status);
        assert_eq!(sandbox_ready, Some(ConditionStatus::False), "{n}");
        assert_eq!(p.status.phase, Some(PodPhase::Pending), "{n}");
    }

    // The image appears: the pods start, nothing restarted, nobody told.
    docker(&["tag", "rudder/pause:1", &image])
        .ok_or_else(|| anyhow::anyhow!("docker tag rudder/pause:1 {image} failed"))?;
    let appeared = Instant::now();
    let p2 = pods.clone();
    let want = names.clone();
    eventually(Duration::from_secs(60), move || {
        let (pods, want) = (p2.clone(), want.clone());
        async move {
            for n in &want {
                let p = pods.get(n).await?;
                if p.status.phase != Some(PodPhase::Running) || p.status.pod_ip.is_empty() {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        }
    })
    .await?;
    eprintln!(
        "pods Running {:?} after the image appeared",
        appeared.elapsed()
    );
    // Still one Event per pod.
    let by_pod = sandbox_events(&events).await?;
    for n in &names {
        assert_eq!(by_pod.get(n).map_or(0, Vec::len), 1, "{n}");
    }
    for n in &names {
        pods.delete(n).await?;
    }
    Ok(())
}
