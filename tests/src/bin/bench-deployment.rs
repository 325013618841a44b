//! `bench-deployment`: a Deployment scaled from 0 to `--replicas` on `--nodes` simulated
//! nodes, then rolled to a new template, with a baseline from the same run.
//!
//! On one real `rudderd` (`cluster-config/single-node.toml` through the test harness) with
//! simulated nodes registered in this process (`rudder_actors::simnode`, which moves
//! every bound pod to Running and Ready):
//!
//! - **scale-up**: a Deployment of 0 replicas is patched to `--replicas` (10,000 by
//!   default); reported: time until `status.availableReplicas` reaches it, in pods/s.
//! - **rollout**: its template changes; reported: time until the rollout is complete
//!   (every replica updated and available, no old pod left), in pods/s.
//! - **baseline**: the same number of bare pods created by this client (64 requests in
//!   flight) in namespace `bench-raw`; time until all are Running. The ratios say what
//!   the controllers add on top of creating, scheduling and starting pods.
//!
//! A measurement, not a test: it exits 0 either way.
//!
//! First figures (debug build, 1,000 nodes, 10,000 replicas, two cores shared with other
//! builds): scale-up 107 s (93 pods/s), rollout 203 s (49 pods/s), baseline 114 s
//! (88 pods/s): ratios 0.94x and 1.78x (a rollout creates and deletes every pod).
//!
//! ```text
//! cargo build -p rudder -p rudder-tests && target/debug/bench-deployment
//! target/debug/bench-deployment [--nodes N] [--replicas N]
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::stream::{self, StreamExt};
use rudder_actors::simnode::{SimNodeSpec, SimNodes};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    Container, Deployment, LabelSelector, Namespace, Pod, PodPhase, PodTemplateSpec,
};
use rudder_tests::{bench_record, eventually, Cluster, NodeProc};

const IN_FLIGHT: usize = 64;

fn container(image: &str) -> Container {
    Container {
        name: "app".into(),
        image: image.into(),
        ..Default::default()
    }
}

fn arg(name: &str, default: usize) -> anyhow::Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context("missing value")?
            .parse()
            .with_context(|| format!("bad {name}")),
        None => Ok(default),
    }
}

/// Polls `done` every 200 ms until it holds; returns the elapsed time.
async fn time_until<F, Fut>(limit: Duration, mut done: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let start = Instant::now();
    loop {
        if done().await.unwrap_or(false) {
            return Ok(start.elapsed());
        }
        anyhow::ensure!(start.elapsed() < limit, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn running(pods: &Api<Pod>) -> anyhow::Result<usize> {
    let list = pods.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .filter(|p| p.status.phase == Some(PodPhase::Running))
        .count())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let nodes = arg("--nodes", 1000)?;
    let replicas = arg("--replicas", 10_000)?;
    let replicas_i32 = i32::try_from(replicas)?;
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", "bench");
    // Control plane only: the pods go to simulated nodes, not to a real kubelet here.
    spec.roles = Some("control-plane".into());
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client: Client = cluster.nodes[0].client().await?;
    let c = client.clone();
    eventually(Duration::from_secs(20), move || {
        let c = c.clone();
        async move { Ok(Some(c.api::<Namespace>(None).get("default").await?)) }
    })
    .await?;
    let apis = rudder_tests::sim_apis(&client);
    let _sims = SimNodes::start(
        apis,
        SimNodeSpec {
            prefix: "sim".into(),
            count: nodes,
            cpu: "32".into(),
            memory: "256Gi".into(),
            pods: 110,
            heartbeat: Duration::from_secs(60),
            ..Default::default()
        },
    )
    .await?;
    println!("{nodes} simulated nodes registered; {replicas} replicas");

    let deployments: Api<Deployment> = client.api(Some("default"));
    let mut d = Deployment::new("bench");
    d.spec.replicas = Some(0);
    d.spec.selector = LabelSelector {
        match_labels: [("app".to_owned(), "bench".to_owned())].into(),
        ..Default::default()
    };
    let mut t = PodTemplateSpec::default();
    t.metadata.labels.insert("app".into(), "bench".into());
    t.spec.containers.push(container("rudder-demo:1"));
    d.spec.template = t;
    deployments.create(&d).await?;

    let limit = Duration::from_secs(3600);
    let mut d = deployments.get("bench").await?;
    d.spec.replicas = Some(replicas_i32);
    deployments.update(&d).await?;
    let up = time_until(limit, || async {
        let d = deployments.get("bench").await?;
        Ok(d.status.available_replicas == replicas_i32)
    })
    .await?;
    println!(
        "scale-up 0 -> {replicas}: {:.1} s ({:.0} pods/s)",
        up.as_secs_f64(),
        replicas as f64 / up.as_secs_f64()
    );

    let mut d = deployments.get("bench").await?;
    d.spec.template.spec.containers = vec![container("rudder-demo:2")];
    deployments.update(&d).await?;
    let roll = time_until(limit, || async {
        let d = deployments.get("bench").await?;
        let s = &d.status;
        Ok(s.observed_generation == d.metadata.generation
            && s.updated_replicas == replicas_i32
            && s.available_replicas == replicas_i32
            && s.replicas == replicas_i32)
    })
    .await?;
    println!(
        "rollout of {replicas}: {:.1} s ({:.0} pods/s)",
        roll.as_secs_f64(),
        replicas as f64 / roll.as_secs_f64()
    );

    client
        .api::<Namespace>(None)
        .create(&Namespace::new("bench-raw"))
        .await?;
    let raw: Api<Pod> = client.api(Some("bench-raw"));
    let start = Instant::now();
    let errors = stream::iter(0..replicas)
        .map(|i| {
            let raw = raw.clone();
            async move {
                let mut p = Pod::new(format!("raw-{i:06}"));
                p.spec.containers.push(container("rudder-demo:1"));
                raw.create(&p).await.is_err()
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    let created = start.elapsed();
    let base =
        time_until(limit, || async { Ok(running(&raw).await? == replicas) }).await? + created;
    println!(
        "baseline {replicas} bare pods created ({errors} errors) and Running: {:.1} s ({:.0} pods/s; creating alone {:.1} s)",
        base.as_secs_f64(),
        replicas as f64 / base.as_secs_f64(),
        created.as_secs_f64()
    );
    println!(
        "ratios to the baseline: scale-up {:.2}x, rollout {:.2}x",
        up.as_secs_f64() / base.as_secs_f64(),
        roll.as_secs_f64() / base.as_secs_f64()
    );
    for (case, time) in [("scale_up", up), ("rollout", roll)] {
        bench_record::record(
            &format!("deployment.replicas{replicas}.{case}.time"),
            time.as_secs_f64(),
            Some(base.as_secs_f64()),
            "s",
        );
    }
    Ok(())
}
