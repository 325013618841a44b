//! `bench-daemonset`: a DaemonSet over `--nodes` simulated nodes, timed until every node
//! runs a ready daemon pod, with a baseline from the same run.
//!
//! On one real `rudderd` (control plane only, `cluster-config/single-node.toml` through
//! the test harness) with simulated nodes registered in this process
//! (`rudder_actors::simnode`, which moves every bound pod to Running and Ready):
//!
//! - **daemonset**: a DaemonSet is created; reported: time until
//!   `status.numberReady` and `status.desiredNumberScheduled` reach the node count, in
//!   pods/s. Its pods go through the scheduler (a `metadata.name` node affinity each).
//! - **baseline**: a Deployment of as many replicas over the same nodes, in namespace
//!   `bench-base`; time until `status.availableReplicas` reaches it. The ratio says what
//!   the DaemonSet controller costs against the ReplicaSet path for the same pods.
//!
//! A measurement, not a test: it exits 0 either way.
//!
//! First figures (debug build, 1,000 nodes, two cores shared with other builds): the
//! DaemonSet ready in 29.6 s (34 pods/s), the Deployment baseline in 26.5 s (38 pods/s):
//! ratio 1.12x.
//!
//! ```text
//! cargo build --workspace --all-targets --locked && target/debug/bench-daemonset
//! target/debug/bench-daemonset [--nodes N]
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use rudder_actors::simnode::{SimNodeSpec, SimNodes};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::resources::{
    Container, DaemonSet, Deployment, LabelSelector, Namespace, PodTemplateSpec,
};
use rudder_tests::{bench_record, eventually, Cluster, NodeProc};

const USAGE: &str = "usage: bench-daemonset [--nodes N]";
/// The most simulated nodes a run may ask for.
const MAX_NODES: usize = 20_000;

/// The command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    nodes: usize,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut opts = Options { nodes: 1000 };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--nodes" => {
                    let v = it.next().context("--nodes needs a value")?;
                    opts.nodes = v
                        .parse()
                        .with_context(|| format!("--nodes: {v:?} is not a number"))?;
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        ensure!(
            (1..=MAX_NODES).contains(&opts.nodes),
            "--nodes must be between 1 and {MAX_NODES}"
        );
        Ok(opts)
    }
}

fn template(app: &str) -> PodTemplateSpec {
    let mut t = PodTemplateSpec::default();
    t.metadata.labels.insert("app".into(), app.into());
    t.spec.containers.push(Container {
        name: "app".into(),
        image: "rudder-demo:1".into(),
        ..Default::default()
    });
    t
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [("app".to_owned(), app.to_owned())].into(),
        ..Default::default()
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
        ensure!(start.elapsed() < limit, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Options::parse(&args)?;
    let nodes = opts.nodes;
    let count = i32::try_from(nodes)?;
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
            heartbeat: Duration::from_secs(30),
            ..Default::default()
        },
    )
    .await?;
    println!("{nodes} simulated nodes registered");
    let limit = Duration::from_secs(3600);

    let sets: Api<DaemonSet> = client.api(Some("default"));
    let mut ds = DaemonSet::new("bench");
    ds.spec.selector = selector("bench");
    ds.spec.template = template("bench");
    let start = Instant::now();
    sets.create(&ds).await?;
    time_until(limit, || async {
        let d = sets.get("bench").await?;
        let s = &d.status;
        Ok(s.desired_number_scheduled == count && s.number_ready == count)
    })
    .await?;
    let daemon = start.elapsed();
    println!(
        "daemonset over {nodes} nodes ready: {:.1} s ({:.0} pods/s)",
        daemon.as_secs_f64(),
        nodes as f64 / daemon.as_secs_f64()
    );

    client
        .api::<Namespace>(None)
        .create(&Namespace::new("bench-base"))
        .await?;
    let deployments: Api<Deployment> = client.api(Some("bench-base"));
    let mut d = Deployment::new("base");
    d.spec.replicas = Some(count);
    d.spec.selector = selector("base");
    d.spec.template = template("base");
    let start = Instant::now();
    deployments.create(&d).await?;
    time_until(limit, || async {
        let d = deployments.get("base").await?;
        Ok(d.status.available_replicas == count)
    })
    .await?;
    let base = start.elapsed();
    println!(
        "baseline: a Deployment of {nodes} replicas available: {:.1} s ({:.0} pods/s)",
        base.as_secs_f64(),
        nodes as f64 / base.as_secs_f64()
    );
    println!(
        "ratio to the baseline: daemonset {:.2}x",
        daemon.as_secs_f64() / base.as_secs_f64()
    );
    bench_record::record(
        &format!("daemonset.nodes{nodes}.time"),
        daemon.as_secs_f64(),
        Some(base.as_secs_f64()),
        "s",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn option_parsing() {
        let table: &[(&str, &[&str], Option<usize>)] = &[
            ("defaults", &[], Some(1000)),
            ("nodes", &["--nodes", "50"], Some(50)),
            ("no value", &["--nodes"], None),
            ("not a number", &["--nodes", "many"], None),
            ("zero", &["--nodes", "0"], None),
            ("too many", &["--nodes", "20001"], None),
            ("unknown flag", &["--replicas", "5"], None),
        ];
        for (name, a, want) in table {
            let got = Options::parse(&args(a)).ok().map(|o| o.nodes);
            assert_eq!(got, *want, "{name}");
        }
    }
}
