//! `bench-store`: put and linearizable-read throughput and latency of Rudder's replicated
//! store next to etcd's, side by side in the same run on the same machine.
//!
//! What is measured:
//!
//! - **etcd**: a 3-member etcd cluster (the `etcd` binary on `$PATH`, or `$ETCD_BIN`;
//!   Debian's `etcd-server` package is 3.4) on 127.0.0.1 with free ports picked at start
//!   (never 2379/2380), data dirs in a temp dir, default fsync and snapshot settings,
//!   `--initial-cluster-state new`. Requests go to the leader (found with
//!   `/v3/maintenance/status`) through etcd's grpc-gateway JSON API over HTTP/1.1
//!   keep-alive (`POST /v3/kv/put`, `POST /v3/kv/range`, which is linearizable by
//!   default), spoken by a small hand-written client. HTTP/1.1 has no multiplexing, so
//!   every concurrent etcd client has its own connection.
//! - **rudder**: three real `rudderd` processes from `cluster-config/three-node/` (the
//!   test harness), once the store has a leader and three voters. Requests
//!   (`StoreRequest::Put` with `Expect::Any`, `StoreRequest::Get` with
//!   `Consistency::Linearizable`) go to the store leader's node over the bus protocol; a
//!   `Client` multiplexes requests over one connection, and the benchmark uses a pool of
//!   one connection per 16 concurrent clients (at least one).
//!
//! Workloads, the same for both systems, interleaved (etcd, then rudder, for each):
//! unique-key puts of 256-byte values with 1, 64 and 256 concurrent clients (closed loop:
//! each client sends its next request when the previous one is answered), then gets of
//! existing keys (the ones written at 64 clients) with 64 clients. Each system first gets
//! an unmeasured warm-up of 500 puts at 64 clients. Per-request latency is measured from
//! just before sending to the complete reply; throughput is answered requests over the
//! wall time of the measurement.
//!
//! It prints a table and the rudder/etcd ratios against the target of the issue:
//! throughput at 64 or more clients at least etcd's (ratio >= 1.0), p99 no worse than
//! etcd's (ratio <= 1.0). It is a measurement, not a test: it exits 0 whether or not the
//! target is met, and non-zero only when it cannot run.
//!
//! Run (installs `etcd-server` with apt-get if `etcd` is missing, builds release):
//!
//! ```text
//! scripts/bench-store.sh [--ops N]
//! # or, with etcd installed and a release build:
//! cargo run --release -p rudder-tests --bin bench-store -- [--ops N]
//! ```
//!
//! `--ops N` replaces every default count (2 000 puts at 1 client, 20 000 puts at 64 and
//! at 256, 20 000 gets at 64); the defaults take about a minute on two cores.
//! `--rudder-config DIR` starts the rudder nodes from `DIR/cp-{1,2,3}.toml` (copies of
//! `cluster-config/three-node/` with other `[store]` settings, say) instead.
//!
//! Caveats:
//!
//! - etcd is reached through its HTTP/JSON gateway, which translates every request into
//!   an in-process gRPC call and JSON-encodes (and base64-encodes) both ways. That adds
//!   CPU cost on etcd's side that a native gRPC client would not pay, so the comparison
//!   favours Rudder slightly; this program does not try to calibrate it away.
//! - Everything (three etcd members, three `rudderd`, and this client) shares the
//!   machine's cores and disk: on two cores the client's own CPU use is part of every
//!   figure. Run it on an otherwise idle machine; a concurrent build moves every figure.
//! - Both systems run all the time, so one's background work (etcd's backend commits,
//!   RocksDB compactions, snapshots) can land in the other's measurement; interleaving
//!   the workloads spreads that evenly rather than removing it.
//! - Rudder's nodes run with the settings of `cluster-config/three-node/` (e.g. a
//!   snapshot every 1 000 log entries), etcd with its defaults (every 100 000).

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rudder_protocol::client::Client;
use rudder_protocol::messages::store::{Consistency, Expect, StoreReply, StoreRequest};
use rudder_tests::http1::HttpConn;
use rudder_tests::{bench_record, eventually, rudderd_bin, store, store_status, Cluster, NodeProc};

/// Concurrent clients of the put measurements.
const PUT_CLIENTS: [usize; 3] = [1, 64, 256];
/// Concurrent clients of the read measurement.
const GET_CLIENTS: usize = 64;
/// Value size, from the issue.
const VALUE_LEN: usize = 256;
/// Unmeasured puts before the measurements, per system.
const WARM_UP_OPS: u64 = 500;
/// Concurrent Rudder clients sharing one bus connection.
const CLIENTS_PER_CONN: usize = 16;
/// Longest any one request may take before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `--ops` accepted, so a run stays bounded.
const MAX_OPS: u64 = 1_000_000;
/// Pause between measurements, so one's trailing background work settles a little.
const SETTLE: Duration = Duration::from_millis(500);
/// Targets from the issue.
const MIN_THROUGHPUT_RATIO: f64 = 1.0;
const MAX_P99_RATIO: f64 = 1.0;
/// Throughput target applies from this many clients on.
const THROUGHPUT_TARGET_FROM: usize = 64;

const USAGE: &str = "usage: bench-store [--ops N] [--rudder-config DIR]\n\
    \n  --ops N               requests per measurement (default 2000 puts at 1 client,\
    \n                        20000 puts at 64 and 256 clients, 20000 linearizable gets\
    \n                        at 64 clients)\
    \n  --rudder-config DIR   start the rudder nodes from DIR/cp-{1,2,3}.toml instead of\
    \n                        cluster-config/three-node/ (to try other store settings)\
    \n\nNeeds `etcd` on PATH (or $ETCD_BIN): scripts/bench-store.sh installs it and builds.";

#[derive(Debug, Clone)]
struct Options {
    ops: Option<u64>,
    rudder_config: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut opts = Options {
            ops: None,
            rudder_config: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--ops" => {
                    let v = it.next().context("--ops needs a value")?;
                    let n: u64 = v
                        .parse()
                        .with_context(|| format!("--ops: {v:?} is not a number"))?;
                    ensure!(
                        (1..=MAX_OPS).contains(&n),
                        "--ops must be between 1 and {MAX_OPS}"
                    );
                    opts.ops = Some(n);
                }
                "--rudder-config" => {
                    let dir = PathBuf::from(it.next().context("--rudder-config needs a value")?);
                    for i in 1..=3 {
                        let f = dir.join(format!("cp-{i}.toml"));
                        ensure!(f.is_file(), "--rudder-config: {} is missing", f.display());
                    }
                    opts.rudder_config = Some(dir);
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        Ok(opts)
    }

    fn put_ops(&self, clients: usize) -> u64 {
        self.ops
            .unwrap_or(if clients == 1 { 2_000 } else { 20_000 })
    }

    fn get_ops(&self) -> u64 {
        self.ops.unwrap_or(20_000)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let outcome = Options::parse(&args).and_then(|opts| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")?
            .block_on(run(opts))
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-store: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// Measurement

/// One measurement's figures.
#[derive(Debug, Clone)]
struct Figures {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
    elapsed: Duration,
    p50_us: u64,
    p99_us: u64,
}

impl Figures {
    fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Percentile of sorted samples (nearest rank), as in `bench-bus`.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Unique-key puts.
    Put,
    /// Linearizable gets of existing keys.
    Get,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get (lin.)",
        }
    }

    /// Its part of a figure's name in the benchmark record.
    fn figure(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get",
        }
    }
}

/// Which keys a measurement touches: op `i` uses `/bench/{set}/{i % count:08}`.
#[derive(Debug, Clone)]
struct Keys {
    set: String,
    count: u64,
}

impl Keys {
    fn key(&self, i: u64) -> String {
        format!("/bench/{}/{:08}", self.set, i % self.count.max(1))
    }
}

/// One concurrent client's connection.
enum Session {
    Etcd(HttpConn),
    Rudder { client: Client, leader: String },
}

/// The fixed 256-byte value, in the forms each system needs.
struct Value {
    raw: Vec<u8>,
    base64: String,
}

impl Session {
    async fn run(&mut self, workload: Workload, key: String, value: &Value) -> anyhow::Result<()> {
        match self {
            Session::Etcd(conn) => {
                let (path, body) = match workload {
                    Workload::Put => (
                        "/v3/kv/put",
                        format!(
                            r#"{{"key":"{}","value":"{}"}}"#,
                            base64(key.as_bytes()),
                            value.base64
                        ),
                    ),
                    Workload::Get => (
                        "/v3/kv/range",
                        format!(r#"{{"key":"{}"}}"#, base64(key.as_bytes())),
                    ),
                };
                let (status, reply) = conn.post(path, &body).await?;
                let reply = String::from_utf8_lossy(&reply);
                ensure!(status == 200, "etcd answered {status}: {reply}");
                match workload {
                    Workload::Put => ensure!(
                        reply.contains("\"header\""),
                        "unexpected etcd put reply: {reply}"
                    ),
                    Workload::Get => ensure!(
                        reply.contains("\"kvs\""),
                        "etcd found no value for {key}: {reply}"
                    ),
                }
                Ok(())
            }
            Session::Rudder { client, leader } => {
                let req = match workload {
                    Workload::Put => StoreRequest::Put {
                        key,
                        value: value.raw.clone(),
                        expect: Expect::Any,
                    },
                    Workload::Get => StoreRequest::Get {
                        key,
                        consistency: Consistency::Linearizable,
                    },
                };
                match (workload, store(client, leader, req).await?) {
                    (Workload::Put, StoreReply::Written { .. }) => Ok(()),
                    (Workload::Get, StoreReply::Get { kv: Some(_), .. }) => Ok(()),
                    (Workload::Get, StoreReply::Get { kv: None, .. }) => {
                        bail!("rudder found no value")
                    }
                    (_, other) => bail!("unexpected rudder reply {other:?}"),
                }
            }
        }
    }
}

/// Runs `ops` requests of `workload` over `sessions` (one concurrent client each).
async fn measure(
    sessions: Vec<Session>,
    workload: Workload,
    keys: Keys,
    ops: u64,
    value: Arc<Value>,
) -> anyhow::Result<Figures> {
    let next = Arc::new(AtomicU64::new(0));
    let keys = Arc::new(keys);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(sessions.len());
    for mut session in sessions {
        let next = next.clone();
        let keys = keys.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0u64;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    break;
                }
                let key = keys.key(i);
                let t = Instant::now();
                let outcome =
                    tokio::time::timeout(OP_TIMEOUT, session.run(workload, key, &value)).await;
                match outcome {
                    Ok(Ok(())) => lat.push(t.elapsed().as_micros() as u64),
                    Ok(Err(e)) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                    Err(_) => {
                        failed += 1;
                        first_error
                            .get_or_insert_with(|| format!("timed out after {OP_TIMEOUT:?}"));
                    }
                }
            }
            (lat, failed, first_error)
        }));
    }
    let mut lat = Vec::with_capacity(ops as usize);
    let mut failed = 0;
    let mut first_error = None;
    for task in tasks {
        let (l, f, e) = task.await.context("a benchmark client panicked")?;
        lat.extend(l);
        failed += f;
        if first_error.is_none() {
            first_error = e;
        }
    }
    let elapsed = started.elapsed();
    lat.sort_unstable();
    ensure!(
        !lat.is_empty(),
        "every request failed; first error: {}",
        first_error.unwrap_or_default()
    );
    Ok(Figures {
        ok: lat.len() as u64,
        failed,
        first_error,
        elapsed,
        p50_us: percentile(&lat, 0.50),
        p99_us: percentile(&lat, 0.99),
    })
}

// ---------------------------------------------------------------------------------------
// The run

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Etcd,
    Rudder,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Etcd => "etcd",
            System::Rudder => "rudder",
        }
    }
}

struct Row {
    system: System,
    workload: Workload,
    clients: usize,
    conns: usize,
    figures: Figures,
}

/// Everything needed to open sessions on both systems.
struct Targets {
    etcd_leader: String,
    rudder_conn: RudderConn,
}

/// How to reach the Rudder store leader.
struct RudderConn {
    leader: String,
    node_index: usize,
}

impl Targets {
    /// Opens `clients` sessions on `system`; returns them and the connection count.
    async fn sessions(
        &self,
        system: System,
        cluster: &Cluster,
        clients: usize,
    ) -> anyhow::Result<(Vec<Session>, usize)> {
        match system {
            System::Etcd => {
                let mut sessions = Vec::with_capacity(clients);
                for _ in 0..clients {
                    sessions.push(Session::Etcd(HttpConn::connect(&self.etcd_leader).await?));
                }
                Ok((sessions, clients))
            }
            System::Rudder => {
                let pool_len = clients.div_ceil(CLIENTS_PER_CONN).max(1);
                let node = &cluster.nodes[self.rudder_conn.node_index];
                let mut pool = Vec::with_capacity(pool_len);
                for _ in 0..pool_len {
                    pool.push(
                        node.client()
                            .await
                            .with_context(|| format!("connecting to {}", node.name()))?,
                    );
                }
                let sessions = (0..clients)
                    .map(|i| Session::Rudder {
                        client: pool[i % pool_len].clone(),
                        leader: self.rudder_conn.leader.clone(),
                    })
                    .collect();
                Ok((sessions, pool_len))
            }
        }
    }
}

async fn run(opts: Options) -> anyhow::Result<()> {
    let rudderd = rudderd_bin();
    if !rudderd.is_file() {
        bail!(
            "rudderd binary not found at {}; build it in the same profile as this benchmark \
             (`cargo build --release -p rudder`, or run scripts/bench-store.sh) or point \
             $RUDDERD_BIN at one",
            rudderd.display()
        );
    }
    let etcd_bin = find_etcd()?;
    let etcd_version = etcd_version(&etcd_bin).await;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "bench-store: 3 etcd members vs 3 rudder store replicas on 127.0.0.1, {VALUE_LEN}-byte \
         values, {cores} cores"
    );
    println!("etcd:   {} ({etcd_version})", etcd_bin.display());
    println!(
        "rudder: {}, configs {}",
        rudderd.display(),
        opts.rudder_config.as_deref().map_or_else(
            || "cluster-config/three-node/".into(),
            |d| d.display().to_string()
        )
    );

    // etcd first: its ports are picked free and held by etcd before rudderd picks its own.
    let mut etcd = EtcdCluster::start(&etcd_bin).await?;
    let etcd_leader = etcd.leader().await?;
    println!(
        "etcd cluster up: clients {}, leader {etcd_leader}",
        etcd.client_addrs().join(" ")
    );

    let mut cluster = start_rudder(opts.rudder_config.as_deref()).await?;
    let rudder_conn = rudder_leader(&cluster).await?;
    println!(
        "rudder store up: nodes {}, leader {}",
        cluster
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.name(), n.bus))
            .collect::<Vec<_>>()
            .join(" "),
        rudder_conn.leader
    );
    // From here on, the children die with this program even if it is killed outright.
    let mut pids = etcd.pids();
    pids.extend(own_children_named("rudderd"));
    let watchdog = Watchdog::start(&pids)?;
    println!(
        "clients: etcd via grpc-gateway JSON over HTTP/1.1 keep-alive, one connection per \
         client, to the leader; rudder via the bus protocol to the leader's node, one \
         multiplexed connection per {CLIENTS_PER_CONN} clients"
    );
    println!(
        "note: etcd's HTTP/JSON gateway adds translation cost on etcd's side that a gRPC \
         client would not pay; this favours rudder slightly"
    );

    let targets = Targets {
        etcd_leader,
        rudder_conn,
    };
    let raw: Vec<u8> = (0..VALUE_LEN).map(|i| (i * 7 % 251) as u8).collect();
    let value = Arc::new(Value {
        base64: base64(&raw),
        raw,
    });
    let systems = [System::Etcd, System::Rudder];

    for system in systems {
        eprintln!("warming up {}...", system.name());
        let (sessions, _) = targets.sessions(system, &cluster, 64).await?;
        let keys = Keys {
            set: "warm-up".into(),
            count: WARM_UP_OPS,
        };
        measure(sessions, Workload::Put, keys, WARM_UP_OPS, value.clone())
            .await
            .with_context(|| format!("{} warm-up", system.name()))?;
    }

    let mut rows = Vec::new();
    let mut plan: Vec<(Workload, usize, Keys, u64)> = PUT_CLIENTS
        .iter()
        .map(|&c| {
            let ops = opts.put_ops(c);
            let keys = Keys {
                set: format!("put-c{c}"),
                count: ops,
            };
            (Workload::Put, c, keys, ops)
        })
        .collect();
    plan.push((
        Workload::Get,
        GET_CLIENTS,
        Keys {
            set: format!("put-c{GET_CLIENTS}"),
            count: opts.put_ops(GET_CLIENTS),
        },
        opts.get_ops(),
    ));
    for (workload, clients, keys, ops) in plan {
        for system in systems {
            eprintln!(
                "measuring {} {} with {clients} clients, {ops} requests...",
                system.name(),
                workload.name()
            );
            let (sessions, conns) = targets.sessions(system, &cluster, clients).await?;
            let figures = measure(sessions, workload, keys.clone(), ops, value.clone())
                .await
                .with_context(|| {
                    format!(
                        "{} {} with {clients} clients",
                        system.name(),
                        workload.name()
                    )
                })?;
            rows.push(Row {
                system,
                workload,
                clients,
                conns,
                figures,
            });
            tokio::time::sleep(SETTLE).await;
        }
    }

    print_report(&rows);

    // Stop both before their temp dirs go (on an error return, dropping them kills the
    // processes instead: kill_on_drop). The watchdog goes first, so that it can never
    // signal a reused pid.
    watchdog.disarm().await;
    etcd.stop().await;
    for node in &mut cluster.nodes {
        node.kill9().await?;
    }
    drop(cluster);
    Ok(())
}

fn print_report(rows: &[Row]) {
    println!();
    println!(
        "{:<7} {:<10} {:>7} {:>5} {:>7} {:>6} {:>10} {:>8} {:>8}",
        "system", "workload", "clients", "conns", "ops", "failed", "ops/s", "p50 ms", "p99 ms"
    );
    for r in rows {
        let f = &r.figures;
        println!(
            "{:<7} {:<10} {:>7} {:>5} {:>7} {:>6} {:>10.0} {:>8.2} {:>8.2}",
            r.system.name(),
            r.workload.name(),
            r.clients,
            r.conns,
            f.ok,
            f.failed,
            f.throughput(),
            f.p50_us as f64 / 1000.0,
            f.p99_us as f64 / 1000.0
        );
    }
    for r in rows {
        if let Some(e) = &r.figures.first_error {
            println!(
                "{} {} with {} clients: {} failed, first error: {e}",
                r.system.name(),
                r.workload.name(),
                r.clients,
                r.figures.failed
            );
        }
    }
    println!();
    let verdict = |ok: bool| if ok { "meets target" } else { "MISSES target" };
    for r in rows.iter().filter(|r| r.system == System::Rudder) {
        let Some(etcd) = rows.iter().find(|e| {
            e.system == System::Etcd && e.workload == r.workload && e.clients == r.clients
        }) else {
            continue;
        };
        let tput = r.figures.throughput() / etcd.figures.throughput().max(1e-9);
        let p99 = r.figures.p99_us as f64 / etcd.figures.p99_us.max(1) as f64;
        let label = format!("{} c={}", r.workload.name(), r.clients);
        let tput_verdict = if r.clients >= THROUGHPUT_TARGET_FROM {
            format!(
                "(target >= {MIN_THROUGHPUT_RATIO:.1}): {}",
                verdict(tput >= MIN_THROUGHPUT_RATIO)
            )
        } else {
            format!("(no target below {THROUGHPUT_TARGET_FROM} clients)")
        };
        println!("{label:<16} throughput rudder/etcd {tput:>6.2} {tput_verdict}");
        println!(
            "{label:<16} p99        rudder/etcd {p99:>6.2} (target <= {MAX_P99_RATIO:.1}): {}",
            verdict(p99 <= MAX_P99_RATIO)
        );
        let figure = format!("store.{}.c{}", r.workload.figure(), r.clients);
        let ms = |us: u64| us as f64 / 1000.0;
        bench_record::record(
            &format!("{figure}.throughput"),
            r.figures.throughput(),
            Some(etcd.figures.throughput()),
            "ops/s",
        );
        bench_record::record(
            &format!("{figure}.p50"),
            ms(r.figures.p50_us),
            Some(ms(etcd.figures.p50_us)),
            "ms",
        );
        bench_record::record(
            &format!("{figure}.p99"),
            ms(r.figures.p99_us),
            Some(ms(etcd.figures.p99_us)),
            "ms",
        );
    }
}

// ---------------------------------------------------------------------------------------
// Rudder

/// Three nodes from `cluster-config/three-node/`, or from `dir/cp-{1,2,3}.toml`.
async fn start_rudder(dir: Option<&Path>) -> anyhow::Result<Cluster> {
    let Some(dir) = dir else {
        return Cluster::three_nodes().await;
    };
    let mut c = Cluster::new()?;
    for i in 1..=3 {
        let mut spec = c.spec(&format!("three-node/cp-{i}.toml"), &format!("cp-{i}"));
        spec.config = dir.join(format!("cp-{i}.toml"));
        c.nodes.push(NodeProc::start(spec).await?);
    }
    Ok(c)
}

/// Waits until the store has a leader with three voters; returns how to reach it.
async fn rudder_leader(cluster: &Cluster) -> anyhow::Result<RudderConn> {
    let first = cluster.nodes.first().context("the cluster has no nodes")?;
    let client = first
        .client()
        .await
        .context("connecting to the first node")?;
    let first_name = first.name().to_owned();
    let (leader, _) = eventually(Duration::from_secs(60), || {
        let client = client.clone();
        let first_name = first_name.clone();
        async move {
            let Some(leader) = store_status(&client, &first_name).await?.leader else {
                return Ok(None);
            };
            let status = store_status(&client, leader.as_str()).await?;
            let voters = status.members.iter().filter(|m| m.voter).count();
            Ok((status.state == "Leader" && voters == 3).then(|| leader.to_string()))
        }
    })
    .await
    .context("the rudder store never had a leader with three voters")?;
    let node_index = cluster
        .nodes
        .iter()
        .position(|n| n.name() == leader)
        .with_context(|| format!("the store leader {leader} is not one of the started nodes"))?;
    Ok(RudderConn { leader, node_index })
}

// ---------------------------------------------------------------------------------------
// etcd

/// The `etcd` binary: `$ETCD_BIN`, else the first `etcd` on `$PATH`.
fn find_etcd() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ETCD_BIN") {
        let p = PathBuf::from(p);
        ensure!(
            p.is_file(),
            "$ETCD_BIN names {}, which is not a file",
            p.display()
        );
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|p| p.is_file())
        .context(
            "`etcd` is not on PATH; run scripts/bench-store.sh, which installs the Debian \
             package etcd-server (or set $ETCD_BIN)",
        )
}

async fn etcd_version(bin: &Path) -> String {
    let out = tokio::process::Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await;
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("unknown version")
            .trim()
            .to_owned(),
        Err(e) => format!("version unknown: {e}"),
    }
}

struct EtcdMember {
    name: String,
    client_addr: String,
    log: PathBuf,
    child: Option<tokio::process::Child>,
}

/// A 3-member etcd cluster in a temp dir. Field order matters: the members (killed on
/// drop) go before the directory.
struct EtcdCluster {
    members: Vec<EtcdMember>,
    dir: tempfile::TempDir,
}

/// Free ports on 127.0.0.1, all held at once while picking so they differ.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("picking free ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

impl EtcdCluster {
    async fn start(bin: &Path) -> anyhow::Result<EtcdCluster> {
        let dir = tempfile::Builder::new()
            .prefix("bench-store-etcd-")
            .tempdir()?;
        let ports = free_ports(6)?;
        let names = ["etcd-1", "etcd-2", "etcd-3"];
        let peer_url = |i: usize| format!("http://127.0.0.1:{}", ports[3 + i]);
        let initial_cluster = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n}={}", peer_url(i)))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("bench-store-{}", std::process::id());
        let mut members = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let client_addr = format!("127.0.0.1:{}", ports[i]);
            let client_url = format!("http://{client_addr}");
            let log = dir.path().join(format!("{name}.log"));
            let stderr = std::fs::File::create(&log)
                .with_context(|| format!("creating {}", log.display()))?;
            let child = tokio::process::Command::new(bin)
                .arg("--name")
                .arg(name)
                .arg("--data-dir")
                .arg(dir.path().join(name))
                .arg("--listen-client-urls")
                .arg(&client_url)
                .arg("--advertise-client-urls")
                .arg(&client_url)
                .arg("--listen-peer-urls")
                .arg(peer_url(i))
                .arg("--initial-advertise-peer-urls")
                .arg(peer_url(i))
                .arg("--initial-cluster")
                .arg(&initial_cluster)
                .arg("--initial-cluster-token")
                .arg(&token)
                .arg("--initial-cluster-state")
                .arg("new")
                .arg("--logger")
                .arg("zap")
                .arg("--log-outputs")
                .arg("stderr")
                .arg("--log-level")
                .arg("warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("spawning {}", bin.display()))?;
            members.push(EtcdMember {
                name: (*name).to_owned(),
                client_addr,
                log,
                child: Some(child),
            });
        }
        let cluster = EtcdCluster { members, dir };
        cluster.wait_healthy().await?;
        Ok(cluster)
    }

    fn pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref().and_then(|c| c.id()))
            .collect()
    }

    fn client_addrs(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_addr.clone()).collect()
    }

    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let text = std::fs::read_to_string(&m.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "--- {} ({})\n{}",
                    m.name,
                    m.log.display(),
                    lines[lines.len().saturating_sub(10)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let addrs = self.client_addrs();
        let waited = eventually(Duration::from_secs(30), || {
            let addrs = addrs.clone();
            async move {
                for addr in &addrs {
                    let mut conn = HttpConn::connect(addr).await?;
                    let (status, body) = conn.get("/health").await?;
                    let body = String::from_utf8_lossy(&body);
                    if status != 200 || !body.contains(r#""health":"true""#) {
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            }
        })
        .await;
        if let Err(e) = waited {
            bail!(
                "etcd cluster not healthy within 30 s: {e:#}; data and logs in {}\n{}",
                self.dir.path().display(),
                self.logs()
            );
        }
        Ok(())
    }

    /// The client address of the member that reports itself leader.
    async fn leader(&self) -> anyhow::Result<String> {
        let addrs = self.client_addrs();
        let (leader, _) = eventually(Duration::from_secs(30), || {
            let addrs = addrs.clone();
            async move {
                for addr in &addrs {
                    let mut conn = HttpConn::connect(addr).await?;
                    let (status, body) = conn.post("/v3/maintenance/status", "{}").await?;
                    let body = String::from_utf8_lossy(&body);
                    ensure!(status == 200, "status of {addr}: {status} {body}");
                    let me = json_scalar(&body, "member_id");
                    let leader = json_scalar(&body, "leader");
                    if me.is_some() && me == leader {
                        return Ok(Some(addr.clone()));
                    }
                }
                Ok(None)
            }
        })
        .await
        .context("no etcd member reported itself leader")?;
        Ok(leader)
    }

    async fn stop(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
        }
    }
}

/// Kills the benchmark's child processes if the benchmark goes away without stopping
/// them (`kill_on_drop` does not run when the process is killed by a signal): a shell
/// that waits for its stdin, held open by this process, to close.
struct Watchdog {
    child: tokio::process::Child,
}

impl Watchdog {
    fn start(pids: &[u32]) -> anyhow::Result<Watchdog> {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read _ ; kill -9 {} 2>/dev/null; exit 0",
                pids.join(" ")
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the watchdog shell")?;
        Ok(Watchdog { child })
    }

    async fn disarm(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Pids of this process's children whose command name is `name` (from `/proc`).
fn own_children_named(name: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| parse_stat(&stat) == Some((name, me)))
        })
        .collect()
}

/// Command name and parent pid from a `/proc/PID/stat` line: `pid (comm) state ppid ...`
/// (the name may hold spaces and parentheses, so split at the last `)`).
fn parse_stat(stat: &str) -> Option<(&str, u32)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let (_, comm) = head.split_once('(')?;
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((comm, ppid))
}

/// The scalar value of the first `"name":` in a JSON text: a string's contents (no
/// escapes expected) or a bare number/literal. Enough for etcd's ids, which the gateway
/// renders as strings.
fn json_scalar<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("\"{name}\"");
    let at = json.find(&pat)? + pat.len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|end| &s[..end]);
    }
    let end = rest
        .find(|c: char| c == ',' || c == '}' || c == ']' || c.is_whitespace())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Standard base64 with padding (what the gateway expects for `bytes` fields).
fn base64(data: &[u8]) -> String {
    use ::base64::Engine as _;
    ::base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0xfd], "//79"),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input), *want, "{input:?}");
        }
    }

    #[test]
    fn json_scalars_from_etcd_status() {
        let body = r#"{"header":{"cluster_id":"1484","member_id":"1027","revision":"1"},"version":"3.4.23","leader":"1027","raftIndex":8, "ok" : true}"#;
        let cases: &[(&str, Option<&str>)] = &[
            ("member_id", Some("1027")),
            ("leader", Some("1027")),
            ("raftIndex", Some("8")),
            ("ok", Some("true")),
            ("missing", None),
        ];
        for (name, want) in cases {
            assert_eq!(json_scalar(body, name), *want, "{name}");
        }
    }

    #[test]
    fn proc_stat_lines() {
        let cases: &[(&str, Option<(&str, u32)>)] = &[
            ("42 (rudderd) S 7 42 1 0", Some(("rudderd", 7))),
            ("43 (a (b) c) R 9 43", Some(("a (b) c", 9))),
            ("garbage", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_stat(line), *want, "{line}");
        }
    }

    #[test]
    fn percentile_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[1, 2, 3, 4], 0.5), 2);
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 0.99), 99);
    }

    #[test]
    fn keys_wrap_around_their_set() {
        let k = Keys {
            set: "put-c64".into(),
            count: 10,
        };
        assert_eq!(k.key(3), "/bench/put-c64/00000003");
        assert_eq!(k.key(13), "/bench/put-c64/00000003");
    }
}
