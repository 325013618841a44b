//! Shared informers, black-box over a real `rudderd`: a node whose components (the
//! replica set, replication controller, deployment, endpoints, node lifecycle and
//! garbage-collector controllers, the scheduler) all read Pods holds one all-namespace
//! Pod watch on its API server, plus the kubelet's own watch of its node's pods; killing
//! those components (with `rudderctl kill` and through the chaos actor) and letting the
//! supervisor restart them adds no watch, and the restarted components still work.
//!
//! The watches are read at the API server's `GET /debug/watchers` (with kubectl
//! `get --raw`). A watch is a long poll there, closed for an instant between two polls,
//! so each figure is the largest seen over a short window.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::resources::{
    Container, Endpoints, LabelSelector, Pod, PodPhase, ReplicaSet, Service, ServicePort,
};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, Cluster};

const WAIT: Duration = Duration::from_secs(60);
/// How long the watches are sampled for one figure.
const WINDOW: Duration = Duration::from_secs(3);

/// (resource, namespace, selective) -> open watches.
type Counts = BTreeMap<(String, String, bool), u64>;

fn kubectl_raw(kubeconfig: &Path, path: &str) -> anyhow::Result<serde_json::Value> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(["get", "--raw", path])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl get --raw {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The open watches right now.
fn watchers(kubeconfig: &Path) -> anyhow::Result<Counts> {
    let doc = kubectl_raw(kubeconfig, "/debug/watchers")?;
    let rows = doc["watchers"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no watchers in {doc}"))?;
    let mut out = Counts::new();
    for r in rows {
        let key = (
            r["resource"].as_str().unwrap_or_default().to_owned(),
            r["namespace"].as_str().unwrap_or_default().to_owned(),
            r["selective"].as_bool().unwrap_or_default(),
        );
        out.insert(key, r["count"].as_u64().unwrap_or_default());
    }
    Ok(out)
}

/// The largest count of each kind of watch seen over [`WINDOW`].
async fn most_watchers(kubeconfig: &Path) -> anyhow::Result<Counts> {
    let start = std::time::Instant::now();
    let mut most = Counts::new();
    while start.elapsed() < WINDOW {
        for (k, n) in watchers(kubeconfig)? {
            let e = most.entry(k).or_default();
            *e = (*e).max(n);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(most)
}

fn pod_watches(counts: &Counts, selective: bool) -> u64 {
    counts
        .get(&("pods".to_owned(), String::new(), selective))
        .copied()
        .unwrap_or(0)
}

/// Checks one Pod watch for every component, one for the kubelet, and no kind watched
/// twice with the same scope.
async fn assert_one_watch_per_kind(kubeconfig: &Path, when: &str) -> anyhow::Result<()> {
    let most = most_watchers(kubeconfig).await?;
    assert_eq!(
        pod_watches(&most, false),
        1,
        "{when}: one all-namespace Pod watch for every component: {most:?}"
    );
    assert_eq!(
        pod_watches(&most, true),
        1,
        "{when}: one Pod watch of the kubelet (spec.nodeName): {most:?}"
    );
    for ((resource, namespace, selective), n) in &most {
        assert_eq!(
            *n, 1,
            "{when}: {resource} (namespace {namespace:?}, selective {selective}) watched {n} times: {most:?}"
        );
    }
    for kind in ["nodes", "services", "endpoints", "apps/replicasets"] {
        assert!(
            most.contains_key(&(kind.to_owned(), String::new(), false)),
            "{when}: {kind} is watched: {most:?}"
        );
    }
    Ok(())
}

fn replica_set(replicas: i32) -> ReplicaSet {
    let mut rs = ReplicaSet::new("web");
    rs.spec.replicas = Some(replicas);
    rs.spec.selector = LabelSelector {
        match_labels: [("app".to_owned(), "web".to_owned())].into(),
        ..Default::default()
    };
    rs.spec.template.metadata.labels = rs.spec.selector.match_labels.clone();
    rs.spec.template.spec.termination_grace_period_seconds = Some(0);
    rs.spec.template.spec.containers = vec![Container {
        name: "main".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    }];
    rs
}

/// Waits until `n` pods of the replica set run, bound to the node, and the Service's
/// Endpoints list them all: the replica set controller, the scheduler, the kubelet and
/// the endpoints controller all did their part.
async fn wait_serving(client: &Client, n: usize) -> anyhow::Result<()> {
    let pods: Api<Pod> = client.api(Some("default"));
    let endpoints: Api<Endpoints> = client.api(Some("default"));
    eventually(WAIT, || async {
        let running = pods
            .list(&ListParams {
                label_selector: Some("app=web".into()),
                ..ListParams::default()
            })
            .await?
            .items
            .into_iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.spec.node_name == "solo"
                    && p.status.phase == Some(PodPhase::Running)
            })
            .count();
        let addresses = endpoints
            .get_opt("web")
            .await?
            .map_or(0, |ep| ep.subsets.iter().map(|s| s.addresses.len()).sum());
        Ok((running == n && addresses == n).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{n} pods not serving: {e}"))?;
    Ok(())
}

async fn chaos_kill(client: &Client, actor: &str) -> anyhow::Result<()> {
    let reply = client
        .call(
            ActorRef::new(client.node().clone(), "chaos"),
            ChaosRequest::KillActor { name: actor.into() },
        )
        .await?;
    anyhow::ensure!(
        matches!(reply, ChaosReply::Killed { .. }),
        "{actor}: {reply:?}"
    );
    Ok(())
}

fn rudderctl_kill(client_config: &Path, actor: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new(rudder_tests::rudderctl_bin())
        .arg("--client-config")
        .arg(client_config)
        .args(["kill", actor])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "rudderctl kill {actor}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Waits until every actor named runs again after at least one restart.
async fn wait_restarted(client: &Client, actors: &[&str]) -> anyhow::Result<()> {
    use rudder_protocol::messages::chaos::ActorState;
    eventually(WAIT, || async {
        let ChaosReply::Actors(list) = client
            .call(
                ActorRef::new(client.node().clone(), "chaos"),
                ChaosRequest::ListActors,
            )
            .await?
        else {
            return Ok(None);
        };
        let all = actors.iter().all(|name| {
            list.iter()
                .any(|a| a.name == *name && a.restarts >= 1 && a.state == ActorState::Running)
        });
        Ok(all.then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pod_watch_per_node_and_restarts_add_none() -> anyhow::Result<()> {
    let (cluster, client) = Cluster::solo(false).await?;
    let node = &cluster.nodes[0];
    let kubeconfig = node.kubeconfig();
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let services: Api<Service> = client.api(Some("default"));
    let mut svc = Service::new("web");
    svc.spec.selector.insert("app".into(), "web".into());
    svc.spec.ports.push(ServicePort {
        port: 80,
        ..ServicePort::default()
    });
    services.create(&svc).await?;
    sets.create(&replica_set(2)).await?;
    wait_serving(&client, 2).await?;
    assert_one_watch_per_kind(&kubeconfig, "at start").await?;

    // Kill every component that reads Pods, two ways; the supervisor restarts them.
    let by_rudderctl = ["scheduler", "controller/replicaset", "kubelet"];
    let by_chaos = [
        "controller/endpoints",
        "controller/deployment",
        "controller/replicationcontroller",
        "controller/nodelifecycle",
        "controller/garbagecollector",
    ];
    for actor in by_rudderctl {
        rudderctl_kill(&node.client_config(), actor)?;
    }
    for actor in by_chaos {
        chaos_kill(&client, actor).await?;
    }
    let all: Vec<&str> = by_rudderctl.iter().chain(&by_chaos).copied().collect();
    wait_restarted(&client, &all).await?;

    // The restarted components work: a scale-up is created, scheduled, run and served.
    let mut rs = sets.get("web").await?;
    rs.spec.replicas = Some(3);
    sets.update(&rs).await?;
    wait_serving(&client, 3).await?;
    assert_one_watch_per_kind(&kubeconfig, "after the restarts").await?;

    // The restarted garbage collector collects the pods of a deleted replica set.
    sets.delete("web").await?;
    let pods: Api<Pod> = client.api(Some("default"));
    eventually(WAIT, || async {
        let left = pods.list(&ListParams::default()).await?.items.len();
        Ok((left == 0).then_some(()))
    })
    .await?;
    assert_one_watch_per_kind(&kubeconfig, "at the end").await?;
    Ok(())
}
