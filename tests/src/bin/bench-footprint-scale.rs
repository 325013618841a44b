//! `bench-footprint-scale`: the resident memory of each control-plane node of a
//! three-node cluster holding 30,000 pods on 1,000 simulated nodes, next to one etcd
//! member holding the same objects, in the same run (issue 23).
//!
//! - **rudder**: three `rudderd` from `cluster-config/three-node/cp-{1,2,3}.toml` through
//!   the test harness, as a user runs them (every role, the Docker kubelet; no Docker
//!   engine: no kubelet, with a note), under names of this run's own. `--nodes`
//!   simulated nodes (`rudder_actors::simnode`, registered from this process, labelled
//!   [`SIM_LABEL`], Lease every 30 s) take `--pods` bare pods, created through the Rust
//!   client with 64 requests in flight (spread over the three nodes' API servers), each
//!   with a `nodeSelector` on that label so that none lands on the real nodes; the
//!   simulated kubelets move them to Running. Once all are Running and every store
//!   replica has the leader's whole log, each node's resident set (`VmRSS`) is taken
//!   once it settled (`rudder_tests::footprint::settled_rss`: the peak of a few samples
//!   a second apart, once the figure stopped growing), the three at the same time,
//!   with the simulated nodes still heartbeating: **after the burst**, and again
//!   **steady**, 110 s after the pods were Running (the API server's watch window keeps
//!   the burst's changes, whole objects, for 75 s, as Kubernetes' does). The target is
//!   judged on the steady figure: what a node holding the pods needs.
//! - **etcd**: one member (`$ETCD_BIN` or `etcd` on `$PATH`: Debian's `etcd-server`),
//!   default settings, started once the cluster is gone, loaded with every object the
//!   cluster holds: each object of every served kind, read back through the API (so
//!   pods as they are once bound and Running), with its `apiVersion` and `kind` and
//!   without `resourceVersion`, as Kubernetes' API server writes it, under Kubernetes'
//!   keys (`/registry/pods/<namespace>/<name>`, `/registry/minions/<name>`,
//!   `/registry/<plural>/...` for the others). One put per object, 64 in flight, through
//!   its HTTP/JSON gateway; then sampled the same way.
//!
//! Target (issue 23): a control-plane node with 30,000 pods under 2x what etcd alone
//! needs for them. A measurement, not a test: it exits 0 whether or not the target is
//! met, non-zero only when it cannot run. Without etcd it reports the nodes alone.
//!
//! Caveats, each with the way it moves the ratio:
//!
//! - Kubernetes stores protobuf; this stores the JSON the API serves, which is larger,
//!   so etcd's figure is if anything larger than with Kubernetes' encoding.
//! - etcd gets one put per object; under Kubernetes each pod is written three times or
//!   more (create, bind, status), and etcd keeps the older revisions until the API
//!   server compacts them (every 5 minutes) and recent Raft entries in memory until a
//!   snapshot (every 100,000): its figure is if anything smaller than under Kubernetes.
//! - etcd is idle when sampled; each node serves the simulated nodes' heartbeats and
//!   watches, and runs every component (API server, scheduler, controllers, kubelet),
//!   not only the store.
//!
//! Figures go to the benchmark record as `footprint.scale30k.cp{1,2,3}.rss` and
//! `footprint.scale30k.max.rss` (for `--pods 30000`), etcd's as their baseline.
//!
//! The quick mode of `scripts/bench.sh` runs it at 1,000 pods on 100 nodes (recorded as
//! `footprint.scale1k.*`); the full size takes minutes to create and start. Run it on an
//! otherwise idle machine with a few GB of memory to spare, in release:
//!
//! ```text
//! cargo build --release -p rudder -p rudder-tests
//! target/release/bench-footprint-scale [--pods 30000] [--nodes 1000]
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use rudder_actors::simnode::{SimNodeSpec, SimNodes};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::dynamic::ApiResource;
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::registry::{ResourceInfo, RESOURCES};
use rudder_protocol::resources::{Container, Namespace, Pod, PodPhase, Quantity};
use rudder_tests::footprint::{find_etcd, mb, settled_rss, EtcdMember};
use rudder_tests::services::{docker, remove_node_leftovers};
use rudder_tests::{bench_record, eventually, rudderd_bin, sim_apis, Cluster, NodeProc};

const USAGE: &str = "usage: bench-footprint-scale [--pods N] [--nodes N]\n\
    \n  --pods N    pods to hold (default 30000)\
    \n  --nodes N   simulated nodes they run on (default 1000)";
/// The namespace of the pods.
const NAMESPACE: &str = "footprint";
/// The label of the simulated nodes, and the pods' `nodeSelector`.
const SIM_LABEL: (&str, &str) = ("rudder.dev/footprint", "simulated");
/// When the steady figure is taken, after all pods were Running: the API server's watch
/// window keeps changes for 75 s, and its feed polls at least every 30 s.
const STEADY_AFTER: Duration = Duration::from_secs(110);
/// Creates and etcd puts in flight.
const IN_FLIGHT: usize = 64;
/// Each pod's requests: CPU in millicores, memory in MiB.
const POD_CPU_M: usize = 100;
const POD_MEMORY_MI: usize = 128;
/// Attempts per create, each bounded by [`CREATE_TIMEOUT`].
const CREATE_ATTEMPTS: usize = 5;
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Page size of the lists that read the cluster's objects back.
const PAGE: u32 = 500;
/// The target of issue 23: node / etcd.
const TARGET_RATIO: f64 = 2.0;

struct Options {
    pods: usize,
    nodes: usize,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
        let mut opts = Options {
            pods: 30_000,
            nodes: 1_000,
        };
        let mut args = args;
        while let Some(flag) = args.next() {
            let mut value = |what: &str| -> anyhow::Result<usize> {
                let v = args
                    .next()
                    .with_context(|| format!("{what} needs a value"))?;
                let n: usize = v
                    .parse()
                    .with_context(|| format!("{what}: {v:?} is not a number"))?;
                ensure!(n > 0, "{what} must be at least 1");
                Ok(n)
            };
            match flag.as_str() {
                "--pods" => opts.pods = value("--pods")?,
                "--nodes" => opts.nodes = value("--nodes")?,
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        Ok(opts)
    }

    /// Figure names: `footprint.scale30k` for 30,000 pods.
    fn figure(&self) -> String {
        if self.pods % 1000 == 0 {
            format!("footprint.scale{}k", self.pods / 1000)
        } else {
            format!("footprint.scale{}", self.pods)
        }
    }
}

/// Pod number `i`: one container with requests, kept to the simulated nodes.
fn pod(i: usize) -> Pod {
    let mut p = Pod::new(format!("pod-{i:06}"));
    p.metadata.labels.insert("app".into(), NAMESPACE.into());
    p.spec
        .node_selector
        .insert(SIM_LABEL.0.into(), SIM_LABEL.1.into());
    let mut c = Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    };
    for (k, v) in [
        ("cpu", format!("{POD_CPU_M}m")),
        ("memory", format!("{POD_MEMORY_MI}Mi")),
    ] {
        // Quantities built from numbers above: always valid.
        if let Ok(q) = Quantity::parse(&v) {
            c.resources.requests.insert(k.into(), q);
        }
    }
    p.spec.containers.push(c);
    p
}

/// The simulated nodes: room for their share of the pods (at least Kubernetes' 110).
fn sim_spec(opts: &Options) -> SimNodeSpec {
    let slots = opts.pods.div_ceil(opts.nodes).max(110);
    SimNodeSpec {
        prefix: "sim".into(),
        count: opts.nodes,
        cpu: format!("{}m", slots * POD_CPU_M + 1000),
        memory: format!("{}Mi", slots * POD_MEMORY_MI + 1024),
        pods: slots as i64,
        labels: BTreeMap::from([(SIM_LABEL.0.into(), SIM_LABEL.1.into())]),
        heartbeat: Duration::from_secs(30),
        ..Default::default()
    }
}

/// Creates `n` pods with [`IN_FLIGHT`] requests in flight, taking turns over `apis`; a
/// create that fails is tried again (a conflict means an earlier attempt went through).
async fn create_pods(apis: &[Api<Pod>], n: usize) -> anyhow::Result<()> {
    stream::iter(0..n)
        .map(|i| {
            let api = apis[i % apis.len()].clone();
            async move {
                let p = pod(i);
                let mut attempt = 1;
                loop {
                    let outcome = tokio::time::timeout(CREATE_TIMEOUT, api.create(&p)).await;
                    let error = match outcome {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) if e.is_conflict() && attempt > 1 => return Ok(()),
                        Ok(Err(e)) => anyhow::Error::from(e),
                        Err(_) => anyhow::anyhow!("no answer within {CREATE_TIMEOUT:?}"),
                    };
                    if attempt >= CREATE_ATTEMPTS {
                        return Err(error.context(format!("creating {}", p.metadata.name)));
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await
}

/// Waits until the simulated kubelets have seen all `n` pods Running; progress every
/// 10 s.
async fn wait_running(sim: &SimNodes, n: usize, limit: Duration) -> anyhow::Result<()> {
    let mut reported = Instant::now();
    eventually(limit, || {
        let running = sim
            .pods()
            .list_namespace(NAMESPACE)
            .iter()
            .filter(|p| p.status.phase == Some(PodPhase::Running))
            .count();
        if reported.elapsed() >= Duration::from_secs(10) {
            println!("  {running} of {n} pods Running");
            reported = Instant::now();
        }
        async move {
            if running >= n {
                return Ok(Some(()));
            }
            // Counting 30,000 pods is cheap, but not every 20 ms on a shared machine.
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(None)
        }
    })
    .await
    .with_context(|| format!("not all {n} pods Running within {limit:?}"))?;
    Ok(())
}

/// Where Kubernetes' API server keeps the objects of `info` in etcd, under `/registry/`:
/// the plural, but for the core kinds whose prefix is older than that rule.
fn etcd_prefix(info: &ResourceInfo) -> &'static str {
    match (info.group, info.plural) {
        ("", "nodes") => "minions",
        ("", "services") => "services/specs",
        ("", "endpoints") => "services/endpoints",
        (_, plural) => plural,
    }
}

/// What the cluster holds, as Kubernetes would keep it in etcd.
struct Stored {
    /// Every object as `(key, JSON)`.
    kvs: Vec<(String, Vec<u8>)>,
    /// How many objects of each kind (by plural), most first.
    per_kind: Vec<(&'static str, usize)>,
}

/// Every object of every served kind, read through `client` page by page.
async fn stored_objects(client: &Client) -> anyhow::Result<Stored> {
    let mut kvs = Vec::new();
    let mut per_kind = Vec::new();
    for info in RESOURCES.iter().filter(|r| r.verbs.contains(&"list")) {
        let before = kvs.len();
        let api = client.dynamic_api(&ApiResource::from(info), None);
        let mut page = ListParams {
            limit: PAGE,
            ..ListParams::default()
        };
        loop {
            let list = api
                .list(&page)
                .await
                .with_context(|| format!("listing {}", info.plural))?;
            for obj in &list.items {
                let mut value = obj.to_value();
                if let Some(fields) = value.as_object_mut() {
                    fields.insert("apiVersion".into(), info.api_version().into());
                    fields.insert("kind".into(), info.kind.into());
                }
                // The API server clears it before writing: etcd's revision is the version.
                if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                    meta.remove("resourceVersion");
                }
                let key = match obj.namespace() {
                    "" => format!("/registry/{}/{}", etcd_prefix(info), obj.name()),
                    ns => format!("/registry/{}/{ns}/{}", etcd_prefix(info), obj.name()),
                };
                kvs.push((key, serde_json::to_vec(&value)?));
            }
            if list.metadata.continue_.is_empty() {
                break;
            }
            page.continue_token = Some(list.metadata.continue_);
        }
        if kvs.len() > before {
            per_kind.push((info.plural, kvs.len() - before));
        }
    }
    per_kind.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    Ok(Stored { kvs, per_kind })
}

/// What the run measured.
struct Figures {
    /// Each node's name and resident set: settled after the burst, and steady (once
    /// [`STEADY_AFTER`] passed since all pods were Running).
    nodes: Vec<(String, u64, u64)>,
    /// The objects put into etcd: count, count per kind (most first), JSON bytes, pods
    /// Running among them.
    objects: usize,
    kinds: Vec<(&'static str, usize)>,
    json_bytes: usize,
    pods_running: usize,
    /// etcd's settled resident set, or why there is none.
    etcd: Result<u64, String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let opts = Options::parse(std::env::args().skip(1))?;
    let rudderd = rudderd_bin();
    ensure!(
        rudderd.is_file(),
        "rudderd not found at {}; build it in the same profile (`cargo build --release -p \
         rudder`) or point $RUDDERD_BIN at one",
        rudderd.display()
    );
    let docker_ok = docker(&["version", "--format", "{{.Server.Version}}"]).is_some();
    println!(
        "bench-footprint-scale: {} pods on {} simulated nodes, 3 control-plane nodes \
         (cluster-config/three-node/, every role, {}); rudderd {}",
        opts.pods,
        opts.nodes,
        if docker_ok {
            "Docker kubelet"
        } else {
            "NO kubelet: no Docker engine answers"
        },
        rudderd.display()
    );
    // Names of this run's own, so that the kubelets never meet another cluster's
    // containers or networks in the shared Docker engine.
    let names: Vec<String> = (1..=3)
        .map(|i| format!("scale-{}-cp-{i}", std::process::id()))
        .collect();
    let figures = run(&opts, &names, docker_ok).await;
    if docker_ok {
        for name in &names {
            remove_node_leftovers(name);
        }
    }
    report(&opts, &figures?);
    Ok(())
}

async fn run(opts: &Options, names: &[String], docker_ok: bool) -> anyhow::Result<Figures> {
    let mut cluster = Cluster::new()?;
    for (i, name) in names.iter().enumerate() {
        let mut spec = cluster.spec(&format!("three-node/cp-{}.toml", i + 1), name);
        spec.kubelet_runtime = (!docker_ok).then(|| "none".to_owned());
        cluster.nodes.push(NodeProc::start(spec).await?);
    }
    cluster.wait_store_in_step(Duration::from_secs(60)).await?;
    let mut clients = Vec::new();
    for node in &cluster.nodes {
        let client = node.client().await?;
        let c = client.clone();
        eventually(Duration::from_secs(60), move || {
            let c = c.clone();
            async move { Ok(c.api::<Namespace>(None).get_opt("default").await?) }
        })
        .await
        .with_context(|| format!("{} does not serve the API", node.name()))?;
        clients.push(client);
    }
    let namespace = Namespace::new(NAMESPACE);
    if let Err(e) = clients[0].api(None).create(&namespace).await {
        ensure!(e.is_conflict(), "creating namespace {NAMESPACE}: {e}");
    }

    let t = Instant::now();
    let sim = SimNodes::start(sim_apis(&clients[0]), sim_spec(opts)).await?;
    println!(
        "registered {} simulated nodes in {:.1?}",
        sim.names().len(),
        t.elapsed()
    );
    let t = Instant::now();
    let apis: Vec<Api<Pod>> = clients.iter().map(|c| c.api(Some(NAMESPACE))).collect();
    create_pods(&apis, opts.pods).await?;
    println!(
        "created {} pods in {:.1?}; waiting until all are Running",
        opts.pods,
        t.elapsed()
    );
    // Generous: 10 pods/s is far below what a debug build does on two cores.
    let per_pod = Duration::from_millis(100);
    wait_running(
        &sim,
        opts.pods,
        Duration::from_secs(300) + per_pod * opts.pods as u32,
    )
    .await?;
    println!("all {} pods Running after {:.1?}", opts.pods, t.elapsed());
    let running_at = Instant::now();
    cluster
        .wait_store_in_step(Duration::from_secs(120) + per_pod * opts.pods as u32 / 10)
        .await?;

    println!("sampling the nodes' resident memory once it settles");
    let pids = cluster
        .nodes
        .iter()
        .map(|n| {
            n.pid()
                .with_context(|| format!("{} is not running", n.name()))
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    let after_burst = futures::future::try_join_all(pids.iter().copied().map(settled_rss)).await?;
    let steady_at = running_at + STEADY_AFTER;
    println!(
        "and again once steady, {:.0?} after the pods were Running",
        STEADY_AFTER
    );
    tokio::time::sleep_until(steady_at.into()).await;
    let steady = futures::future::try_join_all(pids.iter().copied().map(settled_rss)).await?;
    let nodes = names
        .iter()
        .cloned()
        .zip(after_burst.into_iter().zip(steady))
        .map(|(name, (burst, steady))| (name, burst, steady))
        .collect();

    let Stored { kvs, per_kind } = stored_objects(&clients[0]).await?;
    // What the API read back, not the simulated kubelets' cache.
    let ours = format!("/registry/pods/{NAMESPACE}/");
    let pods_running = kvs
        .iter()
        .filter(|(key, _)| key.starts_with(&ours))
        .filter_map(|(_, json)| serde_json::from_slice::<Pod>(json).ok())
        .filter(|p| p.status.phase == Some(PodPhase::Running))
        .count();
    // The cluster goes before etcd starts: etcd is measured alone.
    drop(sim);
    drop(clients);
    for node in &mut cluster.nodes {
        node.kill9().await?;
    }
    drop(cluster);

    let json_bytes = kvs.iter().map(|(k, v)| k.len() + v.len()).sum();
    let etcd = match find_etcd() {
        Some(bin) => etcd_holding(&bin, &kvs).await.map_err(|e| format!("{e:#}")),
        None => Err("no etcd (apt-get install etcd-server, or set $ETCD_BIN)".into()),
    };
    Ok(Figures {
        nodes,
        objects: kvs.len(),
        kinds: per_kind,
        json_bytes,
        pods_running,
        etcd,
    })
}

/// One etcd member loaded with `kvs`: its settled resident set.
async fn etcd_holding(bin: &Path, kvs: &[(String, Vec<u8>)]) -> anyhow::Result<u64> {
    let etcd = EtcdMember::start(bin, "bench-footprint-scale-etcd-").await?;
    let figure = async {
        let t = Instant::now();
        etcd.put_all(kvs, IN_FLIGHT).await?;
        println!(
            "etcd: {} puts in {:.1?}; sampling it",
            kvs.len(),
            t.elapsed()
        );
        settled_rss(etcd.pid()?).await
    }
    .await;
    etcd.stop().await;
    figure
}

fn report(opts: &Options, f: &Figures) {
    println!();
    println!(
        "objects held: {} ({:.1} MB as JSON with their keys), {} of {} pods Running",
        f.objects,
        mb(f.json_bytes as u64),
        f.pods_running,
        opts.pods
    );
    let (top, rest) = f.kinds.split_at(f.kinds.len().min(4));
    let mut kinds: Vec<String> = top.iter().map(|(k, n)| format!("{n} {k}")).collect();
    kinds.push(format!(
        "{} others",
        rest.iter().map(|(_, n)| n).sum::<usize>()
    ));
    println!("  of which {}", kinds.join(", "));
    let etcd = f.etcd.as_ref().ok().map(|&e| mb(e));
    println!(
        "{:<24} {:>16} {:>10} {:>16} {:>10}",
        "process", "after burst MB", "x etcd", "steady MB", "x etcd"
    );
    let max_burst = f.nodes.iter().map(|n| n.1).max().unwrap_or(0);
    let max = f.nodes.iter().map(|n| n.2).max().unwrap_or(0);
    let rows = f
        .nodes
        .iter()
        .map(|(name, burst, steady)| (name.as_str(), *burst, *steady))
        .chain([("max of the three", max_burst, max)]);
    let ratio = |r: u64| etcd.map_or_else(|| "-".to_owned(), |e| format!("{:.2}", mb(r) / e));
    for (name, burst, steady) in rows {
        println!(
            "{name:<24} {:>16.1} {:>10} {:>16.1} {:>10}",
            mb(burst),
            ratio(burst),
            mb(steady),
            ratio(steady)
        );
    }
    match &f.etcd {
        Ok(e) => println!(
            "{:<24} {:>16.1} {:>10}",
            "etcd (same objects)",
            mb(*e),
            "1.00"
        ),
        Err(why) => println!("etcd reference skipped: {why}"),
    }
    if let Some(e) = etcd {
        let ratio = mb(max) / e;
        println!(
            "target: every control-plane node under {TARGET_RATIO:.0}x etcd, steady: {} ({ratio:.2}x)",
            if ratio < TARGET_RATIO {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    let figure = opts.figure();
    for (i, (_, _, r)) in f.nodes.iter().enumerate() {
        bench_record::record(&format!("{figure}.cp{}.rss", i + 1), mb(*r), etcd, "MB");
    }
    bench_record::record(&format!("{figure}.max.rss"), mb(max), etcd, "MB");
    bench_record::record(
        &format!("{figure}.max_after_burst.rss"),
        mb(max_burst),
        etcd,
        "MB",
    );
}
