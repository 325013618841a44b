//! DaemonSets on real Docker, over several `rudderd` processes on 127.0.0.1 (one with
//! both roles, the others workers joining it, each with its own Docker kubelet): one
//! pod per node, a joining node gets its pod, a node labelled out of the node selector
//! loses it, so does a node that leaves; a template change rolls out (`kubectl rollout status`), `kubectl rollout
//! history` lists the revisions and `kubectl rollout undo` brings the first template
//! back; the DaemonSet controller killed mid-rollout still ends with exactly one
//! updated pod per node. `kubectl get` prints Kubernetes' columns for DaemonSets and
//! ControllerRevisions.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use rudder_protocol::client::Client;
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    Container, ControllerRevision, DaemonSet, EnvVar, LabelSelector, Pod, PodPhase,
    CONTROLLER_REVISION_HASH_LABEL,
};
use rudder_protocol::NodeName;
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, wait_for, Cluster, NodeProc};

fn docker_available() -> bool {
    services::docker_available("the DaemonSet Docker tests")
}

/// A node with the Docker runtime: the first has both roles, later ones are workers
/// joining the nodes started before.
async fn add_node(cluster: &mut Cluster, name: &str) -> anyhow::Result<DockerCleanup> {
    let cleanup = DockerCleanup(name.to_owned());
    let mut spec = cluster.spec("single-node.toml", name);
    spec.kubelet_runtime = None;
    if !cluster.nodes.is_empty() {
        spec.roles = Some("worker".into());
    }
    cluster.nodes.push(NodeProc::start(spec).await?);
    Ok(cleanup)
}

/// A cluster of `names.len()` Docker nodes, all Ready, and a client on the first.
async fn start_cluster(names: &[&str]) -> anyhow::Result<(Vec<DockerCleanup>, Cluster, Client)> {
    services::build_images()?;
    let mut cluster = Cluster::new()?;
    let mut cleanups = Vec::new();
    for name in names {
        cleanups.push(add_node(&mut cluster, name).await?);
    }
    let client = cluster.nodes[0]
        .client()
        .await?
        .with_timeout(Duration::from_secs(10));
    for name in names {
        services::wait_node_ready(&client, name).await?;
    }
    Ok((cleanups, cluster, client))
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The DaemonSet `name`: a sleeping demo container on every Linux node.
fn daemon_set(name: &str) -> DaemonSet {
    let mut ds = DaemonSet::new(name);
    let labels: BTreeMap<String, String> = [("app".to_owned(), name.to_owned())].into();
    ds.spec.selector = LabelSelector {
        match_labels: labels.clone(),
        ..Default::default()
    };
    ds.spec.template.metadata.labels = labels;
    let spec = &mut ds.spec.template.spec;
    spec.node_selector = [("kubernetes.io/os".to_owned(), "linux".to_owned())].into();
    spec.termination_grace_period_seconds = Some(1);
    spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        command: vec!["sleep".into(), "100000".into()],
        ..Default::default()
    }];
    ds
}

/// The DaemonSet's live pods (not terminating, not finished) by node.
async fn pods_by_node(client: &Client, app: &str) -> anyhow::Result<BTreeMap<String, Vec<Pod>>> {
    let list = client
        .api::<Pod>(Some("default"))
        .list(&ListParams {
            label_selector: Some(format!("app={app}")),
            ..Default::default()
        })
        .await?;
    let mut out: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for p in list.items {
        let finished = matches!(
            p.status.phase,
            Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
        );
        if p.metadata.deletion_timestamp.is_none() && !finished {
            out.entry(p.spec.node_name.clone()).or_default().push(p);
        }
    }
    Ok(out)
}

/// Waits until exactly one Running pod of `app` is on each of `nodes` and on no other
/// node, all with the revision hash `hash` when given; returns the pods.
async fn one_running_pod_on_each(
    client: &Client,
    app: &str,
    nodes: &[&str],
    hash: Option<&str>,
    secs: u64,
) -> anyhow::Result<BTreeMap<String, Pod>> {
    let want: Vec<String> = nodes.iter().map(|n| (*n).to_owned()).collect();
    let (pods, _) = eventually(Duration::from_secs(secs), || async {
        let by_node = pods_by_node(client, app).await?;
        let placed: Vec<String> = by_node.keys().cloned().collect();
        let settled = placed == want
            && by_node.values().all(|pods| {
                pods.len() == 1
                    && pods[0].status.phase == Some(PodPhase::Running)
                    && hash.is_none_or(|h| {
                        pods[0].metadata.labels.get(CONTROLLER_REVISION_HASH_LABEL)
                            == Some(&h.to_owned())
                    })
            });
        Ok(settled.then(|| {
            by_node
                .into_iter()
                .map(|(n, mut p)| (n, p.remove(0)))
                .collect::<BTreeMap<_, _>>()
        }))
    })
    .await
    .with_context(|| format!("one running pod of {app} on each of {nodes:?}"))?;
    Ok(pods)
}

/// The hash of the DaemonSet's newest ControllerRevision.
async fn current_hash(client: &Client, ds: &DaemonSet) -> anyhow::Result<String> {
    let revisions = client
        .api::<ControllerRevision>(Some("default"))
        .list(&ListParams::default())
        .await?
        .items;
    revisions
        .into_iter()
        .filter(|r| {
            r.metadata
                .controller_ref()
                .is_some_and(|c| c.uid == ds.metadata.uid)
        })
        .max_by_key(|r| r.revision)
        .and_then(|r| {
            r.metadata
                .labels
                .get(CONTROLLER_REVISION_HASH_LABEL)
                .cloned()
        })
        .context("the DaemonSet has no revision")
}

fn env_of(pod: &Pod) -> Vec<EnvVar> {
    pod.spec.containers[0].env.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemonset_follows_the_nodes_and_rolls_out_and_back() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (mut cleanups, mut cluster, client) = start_cluster(&["dsr-1", "dsr-2", "dsr-3"]).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let sets = client.api::<DaemonSet>(Some("default"));
    sets.create(&daemon_set("agent")).await?;
    let first =
        one_running_pod_on_each(&client, "agent", &["dsr-1", "dsr-2", "dsr-3"], None, 120).await?;
    for pod in first.values() {
        assert!(
            pod.metadata
                .labels
                .contains_key(CONTROLLER_REVISION_HASH_LABEL),
            "{:?}",
            pod.metadata.labels
        );
        assert_eq!(
            pod.metadata
                .labels
                .get("pod-template-generation")
                .map(String::as_str),
            Some("1")
        );
    }
    let ds = wait_for(&sets, "agent", 60, |d| {
        d.status.number_ready == 3 && d.status.desired_number_scheduled == 3
    })
    .await?;
    assert_eq!(ds.status.observed_generation, ds.metadata.generation);

    let table = kubectl(&kc, &["get", "ds"])?;
    assert_eq!(
        header(&table),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE",
            "SELECTOR",
            "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..7],
        ["agent", "3", "3", "3", "3", "3", "kubernetes.io/os=linux"],
        "{table}"
    );

    // A fourth node joins: it gets its pod.
    cleanups.push(add_node(&mut cluster, "dsr-4").await?);
    services::wait_node_ready(&client, "dsr-4").await?;
    one_running_pod_on_each(
        &client,
        "agent",
        &["dsr-1", "dsr-2", "dsr-3", "dsr-4"],
        None,
        120,
    )
    .await?;

    // A node labelled out of the node selector loses its pod.
    kubectl(
        &kc,
        &[
            "label",
            "node",
            "dsr-3",
            "kubernetes.io/os=elsewhere",
            "--overwrite",
        ],
    )?;
    one_running_pod_on_each(&client, "agent", &["dsr-1", "dsr-2", "dsr-4"], None, 60).await?;
    wait_for(&sets, "agent", 60, |d| {
        d.status.desired_number_scheduled == 3 && d.status.number_ready == 3
    })
    .await?;

    // A node that leaves (its process stops, its Node is deleted) loses its pod, which
    // goes at once: no kubelet will ever finish it.
    cluster.node("dsr-4").terminate().await?;
    kubectl(&kc, &["delete", "node", "dsr-4"])?;
    eventually(Duration::from_secs(60), || async {
        let left = client
            .api::<Pod>(Some("default"))
            .list(&ListParams {
                label_selector: Some("app=agent".into()),
                ..Default::default()
            })
            .await?
            .items
            .into_iter()
            .filter(|p| p.spec.node_name == "dsr-4")
            .count();
        Ok((left == 0).then_some(()))
    })
    .await
    .context("the pod of the node that left is gone")?;
    one_running_pod_on_each(&client, "agent", &["dsr-1", "dsr-2"], None, 60).await?;
    wait_for(&sets, "agent", 60, |d| {
        d.status.desired_number_scheduled == 2 && d.status.number_ready == 2
    })
    .await?;

    // A template change rolls out.
    let ds = sets.get("agent").await?;
    let first_hash = current_hash(&client, &ds).await?;
    kubectl(&kc, &["set", "env", "daemonset/agent", "ROUND=2"])?;
    let status = kubectl(
        &kc,
        &["rollout", "status", "daemonset/agent", "--timeout=180s"],
    )?;
    assert!(status.contains("successfully rolled out"), "{status}");
    let ds = sets.get("agent").await?;
    let second_hash = current_hash(&client, &ds).await?;
    assert_ne!(first_hash, second_hash);
    let rolled = one_running_pod_on_each(
        &client,
        "agent",
        &["dsr-1", "dsr-2"],
        Some(&second_hash),
        60,
    )
    .await?;
    for pod in rolled.values() {
        assert_eq!(env_of(pod).len(), 1, "{:?}", env_of(pod));
        assert_eq!(env_of(pod)[0].name, "ROUND");
        assert_eq!(
            pod.metadata
                .labels
                .get("pod-template-generation")
                .map(String::as_str),
            Some("2")
        );
    }

    let history = kubectl(&kc, &["rollout", "history", "daemonset/agent"])?;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<i64>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    let revs = kubectl(&kc, &["get", "controllerrevisions"])?;
    assert_eq!(
        header(&revs),
        ["NAME", "CONTROLLER", "REVISION", "AGE"],
        "{revs}"
    );
    assert!(revs.contains("daemonset.apps/agent"), "{revs}");

    // Undo: the first template comes back, as revision 3.
    let undo = kubectl(&kc, &["rollout", "undo", "daemonset/agent"])?;
    assert!(undo.contains("rolled back"), "{undo}");
    let status = kubectl(
        &kc,
        &["rollout", "status", "daemonset/agent", "--timeout=180s"],
    )?;
    assert!(status.contains("successfully rolled out"), "{status}");
    let ds = sets.get("agent").await?;
    assert!(ds.spec.template.spec.containers[0].env.is_empty());
    assert_eq!(current_hash(&client, &ds).await?, first_hash);
    let back =
        one_running_pod_on_each(&client, "agent", &["dsr-1", "dsr-2"], Some(&first_hash), 60)
            .await?;
    assert!(back.values().all(|p| env_of(p).is_empty()));
    let history = kubectl(&kc, &["rollout", "history", "daemonset/agent"])?;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<i64>().is_ok())
        .collect();
    assert_eq!(
        revisions,
        ["2", "3"],
        "the first revision renumbered: {history}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_daemonset_controller_mid_rollout_leaves_one_updated_pod_per_node(
) -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let nodes = ["dsc-1", "dsc-2", "dsc-3"];
    let (_cleanups, _cluster, client) = start_cluster(&nodes).await?;
    let sets = client.api::<DaemonSet>(Some("default"));
    let mut ds = daemon_set("chaos");
    // Each replaced pod must be ready 3 s before the next node's goes: the rollout
    // takes over 9 s, and the kills land in the middle of it.
    ds.spec.min_ready_seconds = 3;
    sets.create(&ds).await?;
    one_running_pod_on_each(&client, "chaos", &nodes, None, 120).await?;

    // The controller writes the status meanwhile: retry on conflicts.
    eventually(Duration::from_secs(10), || async {
        let mut ds = sets.get("chaos").await?;
        ds.spec.template.spec.containers[0].env = vec![EnvVar {
            name: "ROUND".into(),
            value: "2".into(),
            ..Default::default()
        }];
        Ok(sets.update(&ds).await.ok().map(|_| ()))
    })
    .await?;
    let cp = NodeName::new("dsc-1");
    let mut mid_rollout = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let s = sets.get("chaos").await?.status;
        if s.updated_number_scheduled < 3 || s.number_available < 3 {
            mid_rollout += 1;
        }
        let killed = client.chaos_kill(&cp, "controller/daemonset").await?;
        assert!(
            !killed.is_empty(),
            "the DaemonSet controller runs on the node"
        );
    }
    assert!(mid_rollout > 0, "no kill landed during the rollout");
    let ds = wait_for(&sets, "chaos", 180, |d| {
        let s = &d.status;
        s.observed_generation == d.metadata.generation
            && s.desired_number_scheduled == 3
            && s.updated_number_scheduled == 3
            && s.number_available == 3
    })
    .await?;
    let hash = current_hash(&client, &ds).await?;
    let pods = one_running_pod_on_each(&client, "chaos", &nodes, Some(&hash), 60).await?;
    assert!(pods.values().all(|p| env_of(p).len() == 1));
    // And it stays that way: no late duplicate from a restarted controller.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let by_node = pods_by_node(&client, "chaos").await?;
    assert!(
        by_node.values().all(|p| p.len() == 1) && by_node.len() == 3,
        "{:?}",
        by_node
            .iter()
            .map(|(n, p)| (n, p.len()))
            .collect::<Vec<_>>()
    );
    Ok(())
}
