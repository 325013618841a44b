//! `bench-podstart`: pod start-up latency through Rudder next to plain Docker, measured
//! in the same run on the same image (`rudder/demo:1`, built first with
//! `rudderctl images build`).
//!
//! - **docker**: `create` + `start` through bollard, one container, then a burst of 50
//!   created and started concurrently; latency per container from the burst's start to
//!   its `start` returning. No sandbox, no network of its own: the floor.
//! - **docker, pod-shaped**: what a pod is, started by hand with the same calls the
//!   kubelet makes: a sandbox container (`rudder/pause:1`) on a bridge network of its own
//!   (as the node's), created and started, then the app container joined to its network
//!   namespace (`network_mode: container:<sandbox>`), created and started; latency to the
//!   app's `start` returning. The same container count as a Rudder pod, without the API.
//! - **rudder**: one `rudderd` node with both roles (`single-node.toml`); pods with
//!   `spec.nodeName` set (no scheduler in the path), one pod, then a burst of 50 created
//!   concurrently; latency per pod from just before its create to the moment a
//!   `watch_poll` loop on the pods sees it `Running`. A Rudder pod is two containers
//!   (sandbox + app) plus API writes, so the ratio shows the kubelet's overhead.
//!
//! Prints p50/p99 per case and the ratio of Rudder's p99 to each Docker case's (target:
//! at most 1.3; Kubernetes' SLO is p99 <= 5 s). Exits non-zero only when it cannot run. Cleans
//! up its containers and the node's network.
//!
//! ```text
//! cargo build -p rudder -p rudder-tests && target/debug/bench-podstart
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use bollard::Docker;
use rudder_actors::kubelet::images::{SANDBOX_COMMAND, SANDBOX_IMAGE};
use rudder_protocol::client::{Api, WatchEvent};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{Container, Namespace, Pod, PodPhase};
use rudder_tests::services::{build_images, remove_node_leftovers};
use rudder_tests::{bench_record, eventually, Cluster, NodeProc};

const BURST: usize = 50;
const IMAGE: &str = "rudder/demo:1";

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// The labels of every container this benchmark starts.
fn bench_labels() -> Option<HashMap<String, String>> {
    Some(HashMap::from([(
        "io.rudder.bench".to_owned(),
        "podstart".to_owned(),
    )]))
}

/// Creates and starts one container; its id.
async fn create_started(
    d: &Docker,
    name: String,
    body: ContainerCreateBody,
) -> anyhow::Result<String> {
    let opts = CreateContainerOptions {
        name: Some(name),
        ..Default::default()
    };
    let id = d.create_container(Some(opts), body).await?.id;
    d.start_container(
        &id,
        None::<bollard::query_parameters::StartContainerOptions>,
    )
    .await?;
    Ok(id)
}

async fn docker_case(d: &Docker, n: usize, tag: &str) -> anyhow::Result<Vec<Duration>> {
    let start = Instant::now();
    let runs = (0..n).map(|i| {
        let d = d.clone();
        let name = format!("bench-podstart-{tag}-{i}");
        async move {
            let body = ContainerCreateBody {
                image: Some(IMAGE.into()),
                labels: bench_labels(),
                ..Default::default()
            };
            let id = create_started(&d, name, body).await?;
            anyhow::Ok((start.elapsed(), id))
        }
    });
    let mut out = vec![];
    for r in futures::future::join_all(runs).await {
        let (t, id) = r?;
        out.push(t);
        let opts = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        d.remove_container(&id, Some(opts)).await?;
    }
    Ok(out)
}

/// A pod's two containers started by hand, `n` at once on the bridge network `network`
/// (see the module docs); the latency of each is until its app container started.
async fn docker_pod_case(
    d: &Docker,
    n: usize,
    tag: &str,
    network: &str,
) -> anyhow::Result<Vec<Duration>> {
    let start = Instant::now();
    let runs = (0..n).map(|i| {
        let d = d.clone();
        async move {
            let sandbox = create_started(
                &d,
                format!("bench-podstart-{tag}-{i}-sandbox"),
                ContainerCreateBody {
                    image: Some(SANDBOX_IMAGE.into()),
                    entrypoint: Some(SANDBOX_COMMAND.iter().map(|s| (*s).to_owned()).collect()),
                    cmd: Some(vec![]),
                    labels: bench_labels(),
                    host_config: Some(HostConfig {
                        network_mode: Some(network.to_owned()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await?;
            let app = create_started(
                &d,
                format!("bench-podstart-{tag}-{i}-app"),
                ContainerCreateBody {
                    image: Some(IMAGE.into()),
                    labels: bench_labels(),
                    host_config: Some(HostConfig {
                        network_mode: Some(format!("container:{sandbox}")),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await?;
            anyhow::Ok((start.elapsed(), [app, sandbox]))
        }
    });
    let mut out = vec![];
    for r in futures::future::join_all(runs).await {
        let (t, ids) = r?;
        out.push(t);
        for id in ids {
            let opts = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            d.remove_container(&id, Some(opts)).await?;
        }
    }
    Ok(out)
}

/// Creates the bridge network the pod-shaped case's sandboxes join, as the kubelet has
/// its node's (Docker picks the subnet).
async fn create_network(d: &Docker, name: &str) -> anyhow::Result<()> {
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".into()),
        ..Default::default()
    };
    d.create_network(request).await?;
    Ok(())
}

async fn rudder_case(
    pods: &Api<Pod>,
    node: &str,
    n: usize,
    tag: &str,
) -> anyhow::Result<Vec<Duration>> {
    let list = pods.list(&ListParams::default()).await?;
    let mut rv: u64 = list.metadata.resource_version.parse().unwrap_or(0);
    let mut sent: BTreeMap<String, Instant> = BTreeMap::new();
    let creates = (0..n).map(|i| {
        let name = format!("bench-{tag}-{i}");
        let mut p = Pod::new(&name);
        p.spec.node_name = node.to_owned();
        p.spec.termination_grace_period_seconds = Some(0);
        p.spec.containers = vec![Container {
            name: "app".into(),
            image: IMAGE.into(),
            ..Default::default()
        }];
        let pods = pods.clone();
        async move {
            let t = Instant::now();
            pods.create(&p).await?;
            anyhow::Ok((name, t))
        }
    });
    for r in futures::future::join_all(creates).await {
        let (name, t) = r?;
        sent.insert(name, t);
    }
    let mut done: BTreeMap<String, Duration> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.len() < n && Instant::now() < deadline {
        let (events, next) = pods
            .watch_poll(&ListParams::default(), rv, Duration::from_secs(1))
            .await?;
        let now = Instant::now();
        rv = next;
        for e in events {
            if let WatchEvent::Added(p) | WatchEvent::Modified(p) = e {
                if p.status.phase == Some(PodPhase::Running) {
                    if let Some(t) = sent.get(&p.metadata.name) {
                        done.entry(p.metadata.name.clone()).or_insert(now - *t);
                    }
                }
            }
        }
    }
    anyhow::ensure!(
        done.len() == n,
        "only {} of {n} pods reached Running",
        done.len()
    );
    for name in sent.keys() {
        pods.delete(name).await?;
    }
    Ok(done.into_values().collect())
}

fn line(what: &str, v: &mut [Duration]) -> (Duration, Duration) {
    let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
    println!(
        "{what:<28} n={:<3} p50={:>8.1} ms  p99={:>8.1} ms",
        v.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    (p50, p99)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    build_images()?;
    let d = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    let mut d1 = docker_case(&d, 1, "one").await?;
    let mut d50 = docker_case(&d, BURST, "burst").await?;
    let network = format!("bench-podstart-{}", std::process::id());
    create_network(&d, &network).await?;
    let pod_cases = async {
        let one = docker_pod_case(&d, 1, "pod-one", &network).await?;
        let burst = docker_pod_case(&d, BURST, "pod-burst", &network).await?;
        anyhow::Ok((one, burst))
    }
    .await;
    let removed = d.remove_network(&network).await;
    let (mut dp_1, mut dp_50) = pod_cases?;
    removed?;

    let node = format!("bench-{}", std::process::id());
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", &node);
    spec.kubelet_runtime = None;
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    let c = client.clone();
    eventually(Duration::from_secs(30), move || {
        let c = c.clone();
        async move { Ok(Some(c.api::<Namespace>(None).get("default").await?)) }
    })
    .await?;
    let pods: Api<Pod> = client.api(Some("default"));
    // Warm-up: the kubelet's first pod also creates the node network.
    let _ = rudder_case(&pods, &node, 1, "warm").await?;
    let r1 = rudder_case(&pods, &node, 1, "one").await;
    let r50 = rudder_case(&pods, &node, BURST, "burst").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(cluster);
    remove_node_leftovers(&node);
    let (mut r1, mut r50) = (r1?, r50?);

    println!("pod start-up latency (image {IMAGE})");
    let (dq1, dp1) = line("docker create+start, 1", &mut d1);
    let (pq1, pp1) = line("docker pod-shaped, 1", &mut dp_1);
    let (rq1, rp1) = line("rudder pod Running, 1", &mut r1);
    let (dq50, dp50) = line("docker create+start, 50", &mut d50);
    let (pq50, pp50) = line("docker pod-shaped, 50", &mut dp_50);
    let (rq50, rp50) = line("rudder pod Running, 50", &mut r50);
    let ratio = |r: Duration, d: Duration| r.as_secs_f64() / d.as_secs_f64().max(1e-9);
    println!(
        "ratio p99 rudder/docker (one container): 1 pod {:.2}, burst of 50 {:.2} (target <= 1.3)",
        ratio(rp1, dp1),
        ratio(rp50, dp50)
    );
    println!(
        "ratio p99 rudder/docker (pod-shaped, same container count): 1 pod {:.2}, burst of 50 {:.2} (target <= 1.3)",
        ratio(rp1, pp1),
        ratio(rp50, pp50)
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (case, p50, p99) in [
        ("one".to_owned(), (rq1, dq1), (rp1, dp1)),
        (format!("burst{BURST}"), (rq50, dq50), (rp50, dp50)),
        ("pod_one".to_owned(), (rq1, pq1), (rp1, pp1)),
        (format!("pod_burst{BURST}"), (rq50, pq50), (rp50, pp50)),
    ] {
        for (measure, (rudder, docker)) in [("p50", p50), ("p99", p99)] {
            bench_record::record(
                &format!("podstart.{case}.{measure}"),
                ms(rudder),
                Some(ms(docker)),
                "ms",
            );
        }
    }
    Ok(())
}
