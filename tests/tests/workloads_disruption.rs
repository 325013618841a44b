//! `kubectl drain` on real Docker under a PodDisruptionBudget: two `rudderd` nodes on
//! 127.0.0.1 (the first with both roles, the second a worker), each running its pods
//! as Docker containers. A Deployment of 3 replicas with an emptyDir volume, all on the
//! first node, under a budget of `minAvailable: 2`: draining the first node evicts its
//! pods one at a time (kubectl retries the evictions the budget refuses), the
//! replacements start on the second node, and at no sampled moment are fewer than 2
//! replicas Ready; the drain completes once all three run elsewhere. Then a drain of
//! the second node, whose evictions the budget can never allow (the first node is
//! still cordoned and the budget is raised to 3), times out with kubectl's message
//! about the budget; `kubectl uncordon` makes the first node schedulable again.
//!
//! DaemonSets are not served on this branch, so `--ignore-daemonsets` is passed but no
//! DaemonSet pod is involved.
//!
//! Without a reachable Docker engine the test prints a loud SKIP and returns.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rudder_protocol::client::Api;
use rudder_protocol::messages::api::{ListParams, PatchType};
use rudder_protocol::resources::{
    Container, Deployment, LabelSelector, Node, Pod, PodDisruptionBudget, Volume,
};
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, wait_for, NodeProc};

const CP: &str = "pdb-cp";
const WORKER: &str = "pdb-w";

fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn web() -> anyhow::Result<Deployment> {
    let mut d = Deployment::new("web");
    d.spec.replicas = Some(3);
    d.spec.selector = LabelSelector {
        match_labels: [("app".to_owned(), "web".to_owned())].into(),
        ..Default::default()
    };
    d.spec
        .template
        .metadata
        .labels
        .insert("app".into(), "web".into());
    let spec = &mut d.spec.template.spec;
    spec.termination_grace_period_seconds = Some(1);
    spec.volumes = vec![serde_json::from_value::<Volume>(
        serde_json::json!({"name": "scratch", "emptyDir": {}}),
    )?];
    spec.containers = vec![Container {
        name: "main".into(),
        image: "rudder/demo:1".into(),
        command: vec!["sleep".into(), "3600".into()],
        ..Default::default()
    }];
    Ok(d)
}

/// Pods labelled `app=web` that count for the budget: Ready and not being deleted.
async fn ready_web(pods: &Api<Pod>) -> anyhow::Result<Vec<Pod>> {
    Ok(pods
        .list(&ListParams {
            label_selector: Some("app=web".into()),
            ..ListParams::default()
        })
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && p.is_ready())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_respects_the_budget_and_times_out_when_it_cannot() -> anyhow::Result<()> {
    if !services::docker_available("the disruption Docker test") {
        return Ok(());
    }
    // Declared before the cluster, so that it runs after the nodes have stopped.
    services::remove_node_leftovers(WORKER);
    let _worker_cleanup = DockerCleanup(WORKER.to_owned());
    let (_cleanup, mut cluster, client) = services::start_pod_node(CP, Vec::new()).await?;
    let mut spec = cluster.spec("single-node.toml", WORKER);
    spec.roles = Some("worker".into());
    spec.kubelet_runtime = None;
    cluster.nodes.push(NodeProc::start(spec).await?);
    services::wait_node_ready(&client, WORKER).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let nodes: Api<Node> = client.api(None);
    let pods: Api<Pod> = client.api(Some("default"));
    let budgets: Api<PodDisruptionBudget> = client.api(Some("default"));

    // All three replicas on the control-plane node: the worker is cordoned meanwhile.
    let (ok, out, err) = kubectl(&kc, &["cordon", WORKER])?;
    assert!(ok, "{out}{err}");
    client
        .api::<Deployment>(Some("default"))
        .create(&web()?)
        .await?;
    let (ready, _) = eventually(Duration::from_secs(120), || async {
        let r = ready_web(&pods).await?;
        Ok((r.len() == 3).then_some(r))
    })
    .await
    .context("three Ready replicas")?;
    assert!(ready.iter().all(|p| p.spec.node_name == CP));
    let (ok, out, err) = kubectl(&kc, &["uncordon", WORKER])?;
    assert!(ok, "{out}{err}");
    let mut pdb = PodDisruptionBudget::new("web");
    pdb.spec.min_available = Some(2.into());
    pdb.spec.selector = Some(LabelSelector {
        match_labels: [("app".to_owned(), "web".to_owned())].into(),
        ..Default::default()
    });
    budgets.create(&pdb).await?;
    wait_for(&budgets, "web", 30, |b: &PodDisruptionBudget| {
        b.status.current_healthy == 3 && b.status.disruptions_allowed == 1
    })
    .await?;

    // Sample the Ready replicas while the node drains.
    let stop = Arc::new(AtomicBool::new(false));
    let fewest = Arc::new(AtomicUsize::new(usize::MAX));
    let samples = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, fewest, samples, pods) =
            (stop.clone(), fewest.clone(), samples.clone(), pods.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(r) = ready_web(&pods).await {
                    fewest.fetch_min(r.len(), Ordering::SeqCst);
                    samples.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let drain = {
        let kc = kc.clone();
        tokio::task::spawn_blocking(move || {
            kubectl(
                &kc,
                &[
                    "drain",
                    CP,
                    "--ignore-daemonsets",
                    "--delete-emptydir-data",
                    "--timeout=240s",
                ],
            )
        })
    };
    let (ok, out, err) = drain.await??;
    stop.store(true, Ordering::SeqCst);
    sampler.await?;
    assert!(ok, "the drain failed: {out}{err}");
    assert!(out.contains(&format!("node/{CP} drained")), "{out}");
    // The budget refused some evictions, and kubectl retried them.
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    let fewest = fewest.load(Ordering::SeqCst);
    let samples = samples.load(Ordering::SeqCst);
    eprintln!("drain of {CP}: {samples} samples, fewest Ready {fewest}\n{out}{err}");
    assert!(samples > 10, "only {samples} samples");
    assert!(fewest >= 2, "{fewest} Ready replicas at one moment");
    let ready = ready_web(&pods).await?;
    assert_eq!(ready.len(), 3);
    assert!(
        ready.iter().all(|p| p.spec.node_name == WORKER),
        "{:?}",
        ready.iter().map(|p| &p.spec.node_name).collect::<Vec<_>>()
    );
    assert!(nodes.get(CP).await?.spec.unschedulable);

    // A drain the budget can never allow: the budget wants all three, and they have
    // nowhere else to go.
    budgets
        .patch(
            "web",
            PatchType::Merge,
            &serde_json::json!({"spec": {"minAvailable": 3}}),
        )
        .await?;
    wait_for(&budgets, "web", 30, |b: &PodDisruptionBudget| {
        b.status.observed_generation == b.metadata.generation && b.status.disruptions_allowed == 0
    })
    .await?;
    let (ok, out, err) = kubectl(
        &kc,
        &[
            "drain",
            WORKER,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=15s",
        ],
    )?;
    eprintln!("drain of {WORKER}: {out}{err}");
    assert!(!ok, "the drain cannot succeed: {out}{err}");
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    assert!(err.contains("global timeout reached: 15s"), "{err}");
    assert_eq!(ready_web(&pods).await?.len(), 3, "nothing was evicted");

    for node in [CP, WORKER] {
        let (ok, out, err) = kubectl(&kc, &["uncordon", node])?;
        assert!(ok, "{out}{err}");
        assert!(!nodes.get(node).await?.spec.unschedulable);
    }
    Ok(())
}
