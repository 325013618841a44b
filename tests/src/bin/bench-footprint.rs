//! `bench-footprint`: how light one node is: the time from starting `rudderd` to its API
//! answering, and its resident memory idle and with 10 running pods, next to Debian's
//! `etcd` (alone, idle, empty) as the reference point, in the same run.
//!
//! - **start**: one `rudderd` with every role (`single-node.toml`, fresh data dir, Docker
//!   kubelet); the time from spawning it to the first answered read of the `default`
//!   namespace (through the Rust client, which connects as soon as the bus listens).
//! - **idle**: the node's resident set (`VmRSS`) after it settled (the peak of a few
//!   samples a second apart, once the figure stopped growing).
//! - **10 pods**: a Deployment of 10 replicas of `rudder/demo:1`, all Running, settled,
//!   sampled the same way. Only `rudderd` is counted: the pods are Docker's processes.
//! - **etcd**: one etcd member (`$ETCD_BIN` or `etcd` on `$PATH`), idle and empty, sampled
//!   the same way; skipped with a note when there is none.
//!
//! Targets (the observability issue): one node with 10 pods under 50 MB with metrics on.
//! A measurement, not a test: it exits 0 whether or not the target is met, non-zero only
//! when it cannot run.
//!
//! ```text
//! cargo build --release -p rudder -p rudder-tests && target/release/bench-footprint
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{Deployment, Namespace, Pod, PodPhase};
use rudder_tests::footprint::{find_etcd, mb, settled_rss, EtcdMember};
use rudder_tests::services::{build_images, remove_node_leftovers};
use rudder_tests::{bench_record, eventually, Cluster, NodeProc};

const IMAGE: &str = "rudder/demo:1";
const PODS: usize = 10;

/// One idle etcd member on free loopback ports: its settled resident set.
async fn etcd_idle(bin: &Path) -> anyhow::Result<u64> {
    let etcd = EtcdMember::start(bin, "bench-footprint-etcd-").await?;
    let figure = async { settled_rss(etcd.pid()?).await }.await;
    etcd.stop().await;
    figure
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    build_images()?;
    let node = format!("footprint-{}", std::process::id());
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", &node);
    spec.kubelet_runtime = None;
    let started = Instant::now();
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    let c = client.clone();
    eventually(Duration::from_secs(60), move || {
        let c = c.clone();
        async move { Ok(c.api::<Namespace>(None).get("default").await.ok()) }
    })
    .await?;
    let to_api = started.elapsed();
    let pid = cluster.nodes[0]
        .pid()
        .ok_or_else(|| anyhow::anyhow!("rudderd is not running"))?;
    let idle = settled_rss(pid).await?;

    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "footprint", "namespace": "default"},
        "spec": {
            "replicas": PODS,
            "selector": {"matchLabels": {"app": "footprint"}},
            "template": {
                "metadata": {"labels": {"app": "footprint"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "web", "image": IMAGE}],
                },
            },
        },
    }))?;
    client
        .api::<Deployment>(Some("default"))
        .create(&deployment)
        .await?;
    let pods = client.api::<Pod>(Some("default"));
    let params = ListParams {
        label_selector: Some("app=footprint".into()),
        ..ListParams::default()
    };
    eventually(Duration::from_secs(180), || {
        let (pods, params) = (pods.clone(), params.clone());
        async move {
            let list = pods.list(&params).await?;
            let running = list
                .items
                .iter()
                .filter(|p| p.status.phase == Some(PodPhase::Running))
                .count();
            Ok((running == PODS).then_some(()))
        }
    })
    .await?;
    let busy = settled_rss(pid).await?;
    client
        .api::<Deployment>(Some("default"))
        .delete("footprint")
        .await?;
    let etcd = match find_etcd() {
        Some(bin) => Some(etcd_idle(&bin).await),
        None => None,
    };
    drop(client);
    drop(cluster);
    remove_node_leftovers(&node);

    println!("footprint of one rudderd with every role ({IMAGE}, Docker kubelet)");
    println!("start to API answering     {:>8.2} s", to_api.as_secs_f64());
    println!("resident, idle             {:>8.1} MB", mb(idle));
    println!(
        "resident, {PODS} pods running  {:>8.1} MB (target < 50 MB)",
        mb(busy)
    );
    let etcd_mb = match etcd {
        Some(Ok(e)) => {
            println!("etcd alone, idle, empty    {:>8.1} MB (reference)", mb(e));
            Some(mb(e))
        }
        Some(Err(e)) => {
            println!("etcd reference failed: {e:#}");
            None
        }
        None => {
            println!("etcd reference skipped: no etcd (apt-get install etcd-server)");
            None
        }
    };
    bench_record::record("footprint.start.time", to_api.as_secs_f64(), None, "s");
    bench_record::record("footprint.idle.rss", mb(idle), etcd_mb, "MB");
    bench_record::record(
        &format!("footprint.pods{PODS}.rss"),
        mb(busy),
        etcd_mb,
        "MB",
    );
    Ok(())
}
