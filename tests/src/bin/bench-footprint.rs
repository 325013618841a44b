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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{Deployment, Namespace, Pod, PodPhase};
use rudder_tests::services::{build_images, remove_node_leftovers};
use rudder_tests::{bench_record, eventually, Cluster, NodeProc};

const IMAGE: &str = "rudder/demo:1";
const PODS: usize = 10;
/// Memory samples per figure, a second apart.
const SAMPLES: usize = 5;

/// The resident set of a process, in bytes (`VmRSS` of `/proc/<pid>/status`).
fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))?;
    Ok(kb * 1024)
}

/// Waits until the resident set stops growing (bounded), then the peak of
/// [`SAMPLES`] samples a second apart.
async fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    let mut last = rss(pid)?;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = rss(pid)?;
        // Growing by less than 1% a second counts as settled.
        if now <= last + last / 100 {
            break;
        }
        last = now;
    }
    let mut peak = 0;
    for _ in 0..SAMPLES {
        peak = peak.max(rss(pid)?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(peak)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The `etcd` binary: `$ETCD_BIN`, else `etcd` on `$PATH`.
fn find_etcd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ETCD_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|p| p.is_file())
}

/// One idle etcd member on free loopback ports: its settled resident set.
async fn etcd_idle(bin: &PathBuf) -> anyhow::Result<u64> {
    let dir = tempfile::Builder::new()
        .prefix("bench-footprint-etcd-")
        .tempdir()?;
    let ports: Vec<u16> = {
        let ls = (0..2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()?;
        ls.iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<_, _>>()?
    };
    let client = format!("http://127.0.0.1:{}", ports[0]);
    let peer = format!("http://127.0.0.1:{}", ports[1]);
    let mut child = tokio::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args(["--initial-cluster", &format!("default={peer}")])
        .args(["--log-level", "warn"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("etcd exited at once"))?;
    // Serving once its client port takes connections.
    let addr = format!("127.0.0.1:{}", ports[0]);
    eventually(Duration::from_secs(30), || {
        let addr = addr.clone();
        async move { Ok(tokio::net::TcpStream::connect(&addr).await.ok().map(drop)) }
    })
    .await?;
    let figure = settled_rss(pid).await;
    let _ = child.kill().await;
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
