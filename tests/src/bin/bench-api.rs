//! `bench-api`: latency of the API server (the `apiserver` actor on the bus, through the
//! typed Rust client) on a three-node control plane, next to the bare bus round trip and
//! the store requests underneath, in the same run.
//!
//! What is measured, on three real `rudderd` processes from `cluster-config/three-node/`
//! (the test harness; every node runs a store replica and an API server), once the
//! `default` namespace is served by every node and the store has three voters:
//!
//! - **load**: an open-loop mix at 50 and then 500 requests/s, `--seconds` each (10 by
//!   default): requests are issued on a fixed schedule whatever the completions, each in
//!   its own task, and latency runs from the *scheduled* send time to the reply, so
//!   queueing shows. Request `i` goes through the client connected to node `i mod 3`.
//!   The mix: 50 % creates of small pods (one container, image `rudder-demo:latest`) in
//!   namespace `bench-load`, 45 % gets of existing pods of `bench-list`, 5 % lists of
//!   `bench-list` (`--list-pods`, 300 pods by default, no limit). Per verb: requests,
//!   errors, achieved rate, p50/p99/max.
//! - **baselines**, in the same run, before each API phase and on the same schedule:
//!   `EchoRequest::Ping` to the `echo` actor of the node each client is connected to,
//!   with a payload the size of a stored pod's JSON (what the bus alone costs); and the
//!   **store mix**, the store requests the API mix makes the replicas serve, sent straight
//!   to each node's `store` actor: `Put` with `Expect::Absent` of a pod-sized value (under
//!   `/bench/`, outside the API's keys) for a create, linearizable `Get` of the same pod keys for a get, linearizable `Range` of the
//!   same prefix for a list (a create through the API also does a linearizable read of
//!   its namespace first). API minus store is what the API server itself adds. At 500/s
//!   the figures are also broken down per serving node (leader or follower).
//! - **big list**: `--big` pods (10 000 by default) created in namespace `bench-big` with
//!   64 creates in flight (creation throughput and latency reported), then a full list
//!   (no limit) and a paged list (limit 500, following `continue`) five times each,
//!   rotating over the nodes; p50/max of the whole call, including the client's JSON
//!   decoding. While each list runs, the serving node's `echo` actor is pinged every
//!   10 ms over a connection of its own; the slowest ping shows how long other clients of
//!   that node wait meanwhile (its actors share one thread).
//! - **watch delay**: a watcher on node `cp-2` (a `watch_poll` loop from a list's
//!   resourceVersion, up to 1 s per poll) while a writer on node `cp-1` creates pods at
//!   20/s for `--seconds`. Each pod carries an annotation with the unix-micros time just
//!   before its create was sent; the writer also notes the time the create returned (the
//!   commit acknowledgment). Delay = the watcher's receive time minus either (same
//!   process, same clock). An event can reach the watcher before the writer has its
//!   reply; such delays from the acknowledgment are negative and counted.
//!
//! It prints a table and compares with the targets of the issue: p99 of single-object
//! calls (create, get) at most 50 ms at 500 requests/s (Kubernetes' SLO is 1 s), and a
//! watch delay p99 of at most 10 ms from commit (etcd quotes ~10 ms). It is a
//! measurement, not a test: it exits 0 whether or not the targets are met (errors are
//! reported), and non-zero only when it cannot run.
//!
//! Run (the `rudderd` used is the one next to this binary, in the same profile directory,
//! unless `$RUDDERD_BIN` names another):
//!
//! ```text
//! cargo build --release -p rudder -p rudder-tests && target/release/bench-api
//! target/release/bench-api [--seconds N] [--big N] [--list-pods N]
//! ```
//!
//! About a minute and a half with the defaults on two cores.
//!
//! Caveats:
//!
//! - Three nodes and this load generator share the machine's cores and disk (two cores
//!   on the machine this was written on): the generator's own CPU use, JSON encoding and
//!   decoding included, is part of every figure. Run it on an otherwise idle machine; a
//!   concurrent build moves every figure.
//! - The schedule is kept by a thread sleeping with `std::thread::sleep` (tokio's timer
//!   ticks in whole milliseconds); the mean and largest lag of a send behind its
//!   scheduled time are printed per phase, and are part of the latencies.
//! - Each node's store runs with the settings of `cluster-config/three-node/` (the Raft
//!   log synced before every acknowledgment; a snapshot, which copies the whole store,
//!   every 10 000 log entries by default): the run writes about 16 000 entries, so
//!   a snapshot may land in the big-list creation or a load phase and show in its tail.
//! - The watch delay includes one round trip of the long poll whenever an event is
//!   committed while the watcher's previous poll is on its way back.
//! - Every phase leaves its pods behind; the cluster lives in a temp dir and is removed at
//!   the end.

use std::collections::HashMap;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _};
use rudder_protocol::client::{Client, WatchEvent};
use rudder_protocol::messages::api::{ApiReply, ApiRequest, ListParams, ResourceRef};
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::messages::store::{Consistency, Expect, StoreReply, StoreRequest};
use rudder_protocol::resources::{Container, Namespace, Pod};
use rudder_protocol::ActorRef;
use rudder_tests::{bench_record, eventually, rudderd_bin, store, store_status, Cluster};
use tokio::time::Instant;

/// Request rates of the load phases, per second.
const RATES: [u32; 2] = [50, 500];
/// Target of the issue: p99 of single-object calls at 500 requests/s.
const TARGET_P99_US: u64 = 50_000;
/// The rate the single-object target applies to.
const TARGET_RATE: u32 = 500;
/// Kubernetes' SLO for single-object calls.
const SLO_P99_US: u64 = 1_000_000;
/// Target of the issue: watch delay p99.
const TARGET_WATCH_P99_US: i64 = 10_000;
/// Creates in flight when filling a namespace.
const CREATE_CONCURRENCY: usize = 64;
/// Runs of each big-list variant.
const LIST_REPEATS: usize = 5;
/// Page size of the paged list.
const PAGE_LIMIT: u32 = 500;
/// Creates per second of the watch writer.
const WATCH_RATE: u32 = 20;
/// Long-poll bound of the watcher.
const WATCH_WAIT: Duration = Duration::from_secs(1);
/// How long the watcher waits for stragglers once the writer is done.
const WATCH_GRACE: Duration = Duration::from_secs(5);
/// Ping period of the probe that runs alongside each big list.
const PROBE_PERIOD: Duration = Duration::from_millis(10);
/// Annotation carrying the writer's send time.
const SENT_ANNOTATION: &str = "bench.rudder.io/sent-unix-micros";
/// Image of every pod.
const IMAGE: &str = "rudder-demo:latest";
/// Namespaces used.
const NS_LOAD: &str = "bench-load";
const NS_LIST: &str = "bench-list";
const NS_BIG: &str = "bench-big";
const NS_WATCH: &str = "bench-watch";

const USAGE: &str = "usage: bench-api [--seconds N] [--big N] [--list-pods N] [--api-only]\n\
    \n  --seconds N    duration of each load phase and of the watch writer (default 10)\
    \n  --big N        pods in the big-list namespace (default 10000)\
    \n  --list-pods N  pods in the namespace the load lists and gets (default 300)\
    \n  --api-only     control-plane-only nodes; pods parked on a node nobody runs, so no\
    \n                scheduler or kubelet writes follow the creates";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    seconds: u32,
    big: u32,
    list_pods: u32,
    /// Control-plane-only nodes (no kubelets), and pods parked on a node that does not
    /// exist, so neither the scheduler nor a kubelet writes anything per create: the API
    /// server's own cost, without the cluster's write amplification.
    api_only: bool,
}

/// Set once from `--api-only` (see [`Options::api_only`]).
static API_ONLY: AtomicBool = AtomicBool::new(false);

/// The node `--api-only` pods are bound to at creation: none runs there.
const PARKED_NODE: &str = "bench-parked";

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut opts = Options {
            seconds: 10,
            big: 10_000,
            list_pods: 300,
            api_only: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| -> anyhow::Result<u32> {
                let v = it.next().with_context(|| format!("{name} needs a value"))?;
                v.parse()
                    .with_context(|| format!("{name}: {v:?} is not a number"))
            };
            if arg == "--api-only" {
                opts.api_only = true;
                continue;
            }
            match arg.as_str() {
                "--seconds" => opts.seconds = value("--seconds")?,
                "--big" => opts.big = value("--big")?,
                "--list-pods" => opts.list_pods = value("--list-pods")?,
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        ensure!(
            (1..=60).contains(&opts.seconds),
            "--seconds must be between 1 and 60"
        );
        // A full list travels as one bus frame (16 MiB at most); 20 000 small pods fit.
        ensure!(
            (1..=20_000).contains(&opts.big),
            "--big must be between 1 and 20000"
        );
        ensure!(
            (1..=2_000).contains(&opts.list_pods),
            "--list-pods must be between 1 and 2000"
        );
        Ok(opts)
    }
}

/// Percentile of sorted samples (nearest rank, as the other benchmarks).
fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn ms_signed(us: i64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
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
            eprintln!("bench-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What one request of the load is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Ping,
    StorePut,
    StoreGet,
    StoreRange,
    Create,
    Get,
    List,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Ping => "bus ping",
            Verb::StorePut => "store put",
            Verb::StoreGet => "store get",
            Verb::StoreRange => "store range",
            Verb::Create => "create",
            Verb::Get => "get",
            Verb::List => "list",
        }
    }

    /// The API mix: of every 20 requests, one list, ten creates, nine gets.
    fn of(i: u64) -> Verb {
        if i % 20 == 0 {
            Verb::List
        } else if i % 2 == 1 {
            Verb::Create
        } else {
            Verb::Get
        }
    }

    /// The store request under each API verb (what the apiserver sends its replica).
    fn store_twin(self) -> Verb {
        match self {
            Verb::Create => Verb::StorePut,
            Verb::Get => Verb::StoreGet,
            Verb::List => Verb::StoreRange,
            other => other,
        }
    }
}

/// One finished request of an open-loop phase.
#[derive(Debug)]
struct Outcome {
    verb: Verb,
    /// Index of the node (and client) that served it.
    node: usize,
    latency_us: u64,
    error: Option<String>,
    done: std::time::Instant,
}

/// All requests of one open-loop phase.
struct Phase {
    outcomes: Vec<Outcome>,
    /// From the first scheduled send to the last reply.
    wall: Duration,
    /// Mean and largest delay between a scheduled send time and the actual spawn.
    mean_lag: Duration,
    max_lag: Duration,
}

/// Issues `rate * seconds` requests on a fixed schedule, each in its own task, whatever
/// the completions; a request's latency runs from its scheduled time. `make(i)` says what
/// request `i` is, which node serves it, and returns it.
///
/// The schedule is kept by a blocking thread with `std::thread::sleep` (tens of µs of
/// slack), not by tokio's timer, whose 1 ms ticks would add up to 1 ms to every request.
async fn open_loop<F, Fut>(rate: u32, seconds: u32, mut make: F) -> anyhow::Result<Phase>
where
    F: FnMut(u64) -> (Verb, usize, Fut) + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    let n = u64::from(rate) * u64::from(seconds);
    let (tasks, start, mean_lag, max_lag) = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now() + Duration::from_millis(5);
        let mut tasks = Vec::with_capacity(n as usize);
        let mut max_lag = Duration::ZERO;
        let mut total_lag = Duration::ZERO;
        for i in 0..n {
            let at = start + Duration::from_nanos(i * 1_000_000_000 / u64::from(rate));
            let now = std::time::Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            let lag = at.elapsed();
            max_lag = max_lag.max(lag);
            total_lag += lag;
            let (verb, node, fut) = make(i);
            tasks.push(runtime.spawn(async move {
                let result = fut.await;
                Outcome {
                    verb,
                    node,
                    latency_us: u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX),
                    error: result.err(),
                    done: std::time::Instant::now(),
                }
            }));
        }
        let mean_lag = total_lag / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        (tasks, start, mean_lag, max_lag)
    })
    .await
    .context("the scheduler thread panicked")?;
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.context("a request task panicked")?);
    }
    let end = outcomes.iter().map(|o| o.done).max().unwrap_or(start);
    Ok(Phase {
        outcomes,
        wall: end.saturating_duration_since(start),
        mean_lag,
        max_lag,
    })
}

/// Figures of one verb in one phase.
#[derive(Debug, Clone)]
struct Figures {
    rate: u32,
    verb: Verb,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    achieved: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl Figures {
    /// The figures of `verb` in `phase`, of every node or of node `node` only.
    fn of(rate: u32, verb: Verb, phase: &Phase, node: Option<usize>) -> Option<Figures> {
        let mine: Vec<&Outcome> = phase
            .outcomes
            .iter()
            .filter(|o| o.verb == verb && node.is_none_or(|n| n == o.node))
            .collect();
        if mine.is_empty() {
            return None;
        }
        let mut lat: Vec<u64> = mine
            .iter()
            .filter(|o| o.error.is_none())
            .map(|o| o.latency_us)
            .collect();
        lat.sort_unstable();
        let errors = (mine.len() - lat.len()) as u64;
        Some(Figures {
            rate,
            verb,
            requests: mine.len() as u64,
            errors,
            first_error: mine.iter().find_map(|o| o.error.clone()),
            achieved: lat.len() as f64 / phase.wall.as_secs_f64().max(1e-9),
            p50_us: percentile(&lat, 0.50),
            p99_us: percentile(&lat, 0.99),
            max_us: lat.last().copied().unwrap_or(0),
        })
    }
}

/// A pod of the benchmark: one container.
fn small_pod(name: &str) -> Pod {
    let mut pod = Pod::new(name);
    if API_ONLY.load(Ordering::Relaxed) {
        pod.spec.node_name = PARKED_NODE.into();
    }
    pod.spec.containers = vec![Container {
        name: "app".into(),
        image: IMAGE.into(),
        ..Container::default()
    }];
    pod
}

fn pod_name(prefix: &str, i: u64) -> String {
    format!("{prefix}-{i:05}")
}

/// The pods collection, for raw `ApiRequest`s.
fn pods_resource() -> ResourceRef {
    ResourceRef {
        group: String::new(),
        version: "v1".into(),
        plural: "pods".into(),
    }
}

/// Sends a raw API request and returns the JSON bytes of the answer.
async fn raw_json(client: &Client, req: ApiRequest) -> anyhow::Result<Vec<u8>> {
    let to = ActorRef::new(client.node().clone(), "apiserver");
    match client.call(to, req).await? {
        ApiReply::Json(b) => Ok(b),
        ApiReply::Error(s) => bail!("{} ({})", s.message, s.code),
        ApiReply::Events { .. } => bail!("the apiserver answered with watch events"),
    }
}

async fn ping(client: &Client, payload: Vec<u8>) -> Result<(), String> {
    let to = ActorRef::new(client.node().clone(), "echo");
    match client.call(to, EchoRequest::Ping { payload }).await {
        Ok(EchoReply::Pong { .. }) => Ok(()),
        Ok(other) => Err(format!("unexpected echo reply {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// One request of the API mix, through `client`.
async fn api_request(
    client: Client,
    verb: Verb,
    i: u64,
    tag: String,
    list_pods: u32,
) -> Result<(), String> {
    match verb {
        Verb::Create => {
            let name = format!("{tag}-{i:06}");
            client
                .api::<Pod>(Some(NS_LOAD))
                .create(&small_pod(&name))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Verb::Get => {
            // A stride through the existing pods, so gets do not hit one key.
            let j = (i * 7919) % u64::from(list_pods);
            client
                .api::<Pod>(Some(NS_LIST))
                .get(&pod_name("list", j))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Verb::List => {
            let list = client
                .api::<Pod>(Some(NS_LIST))
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            if list.items.len() == list_pods as usize {
                Ok(())
            } else {
                Err(format!(
                    "list returned {} pods, expected {list_pods}",
                    list.items.len()
                ))
            }
        }
        other => Err(format!("{} is not an API request", other.name())),
    }
}

/// One request of the store mix (the store requests under the API mix), through
/// `client` to the `store` actor of its node.
async fn store_request(
    client: Client,
    verb: Verb,
    i: u64,
    tag: String,
    list_pods: u32,
    value: Vec<u8>,
) -> Result<(), String> {
    let req = match verb {
        Verb::StorePut => StoreRequest::Put {
            key: format!("/bench/{tag}-{i:06}"),
            value,
            expect: Expect::Absent,
        },
        Verb::StoreGet => StoreRequest::Get {
            key: format!(
                "/registry/pods/{NS_LIST}/{}",
                pod_name("list", (i * 7919) % u64::from(list_pods))
            ),
            consistency: Consistency::Linearizable,
        },
        Verb::StoreRange => StoreRequest::Range {
            prefix: format!("/registry/pods/{NS_LIST}/"),
            start_after: None,
            limit: 500,
            consistency: Consistency::Linearizable,
        },
        other => return Err(format!("{} is not a store request", other.name())),
    };
    let node = client.node().to_string();
    match store(&client, &node, req)
        .await
        .map_err(|e| e.to_string())?
    {
        StoreReply::Written { .. } => Ok(()),
        StoreReply::Get { kv: Some(_), .. } => Ok(()),
        StoreReply::Get { kv: None, .. } => Err("store get found no pod".into()),
        // The API server reads lists in pages of 500; this is its first (or only) one.
        StoreReply::Range { kvs, .. } if kvs.len() == list_pods.min(500) as usize => Ok(()),
        StoreReply::Range { kvs, .. } => Err(format!(
            "store range returned {} keys, expected {}",
            kvs.len(),
            list_pods.min(500)
        )),
        other => Err(format!("unexpected store reply {other:?}")),
    }
}

async fn run(opts: Options) -> anyhow::Result<()> {
    let rudderd = rudderd_bin();
    if !rudderd.is_file() {
        bail!(
            "rudderd binary not found at {}; build it in the same profile as this benchmark \
             (`cargo build --release -p rudder`) or point $RUDDERD_BIN at one",
            rudderd.display()
        );
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "bench-api: 3 control-plane nodes (cluster-config/three-node{}), {} s per load phase, \
         {} pods listed by the load, {} pods in the big list, {cores} cores, rudderd {}",
        if opts.api_only {
            "; --api-only: no kubelets, pods parked on a node nobody runs"
        } else {
            "; with scheduler, controllers and fake kubelets"
        },
        opts.seconds,
        opts.list_pods,
        opts.big,
        rudderd.display()
    );

    API_ONLY.store(opts.api_only, Ordering::Relaxed);
    let mut cluster = if opts.api_only {
        let mut c = Cluster::new()?;
        for i in 1..=3 {
            let mut spec = c.spec(&format!("three-node/cp-{i}.toml"), &format!("cp-{i}"));
            spec.roles = Some("control-plane".into());
            c.nodes.push(rudder_tests::NodeProc::start(spec).await?);
        }
        c.wait_store_in_step(Duration::from_secs(60)).await?;
        c
    } else {
        Cluster::three_nodes().await?
    };
    let mut clients = Vec::new();
    for node in &cluster.nodes {
        clients.push(
            node.client()
                .await
                .with_context(|| format!("connecting to {}", node.name()))?,
        );
    }
    let (leader, term) = wait_ready(&cluster, &clients).await?;
    println!(
        "cluster up: nodes {}, store leader {leader} (term {term}), `default` namespace served by every node",
        cluster
            .nodes
            .iter()
            .map(|n| n.name().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let outcome = measure(opts, &clients, &cluster, &leader).await;

    let end_status = store_status(&clients[0], cluster.nodes[0].name()).await;
    match end_status {
        Ok(s) => println!(
            "store at the end: leader {}, term {} (term at start {term})",
            s.leader
                .map_or_else(|| "none".to_owned(), |l| l.to_string()),
            s.term
        ),
        Err(e) => println!("store at the end: status unavailable: {e:#}"),
    }
    drop(clients);
    // Kill and reap the nodes before the temp dir goes (on an error return, dropping the
    // cluster kills them instead: kill_on_drop).
    for node in &mut cluster.nodes {
        node.kill9().await?;
    }
    drop(cluster);
    outcome
}

/// Waits until every node serves the `default` namespace and the store has a leader
/// with three voters; returns the leader and its term.
async fn wait_ready(cluster: &Cluster, clients: &[Client]) -> anyhow::Result<(String, u64)> {
    for (node, client) in cluster.nodes.iter().zip(clients) {
        eventually(Duration::from_secs(60), || {
            let c = client.clone();
            async move { Ok(Some(c.api::<Namespace>(None).get("default").await?)) }
        })
        .await
        .with_context(|| format!("{} never served the default namespace", node.name()))?;
    }
    let first = cluster.nodes[0].name().to_owned();
    let client = clients[0].clone();
    let (ready, _) =
        eventually(Duration::from_secs(60), || {
            let client = client.clone();
            let first = first.clone();
            async move {
                let Some(leader) = store_status(&client, &first).await?.leader else {
                    return Ok(None);
                };
                let status = store_status(&client, leader.as_str()).await?;
                let voters = status.members.iter().filter(|m| m.voter).count();
                Ok((status.state == "Leader" && voters == 3)
                    .then(|| (leader.to_string(), status.term)))
            }
        })
        .await
        .context("the store never had a leader with three voters")?;
    Ok(ready)
}

/// Results of filling a namespace.
struct Bulk {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    /// Latencies of the successful creates, sorted.
    lat: Vec<u64>,
}

/// Creates `count` pods `<prefix>-NNNNN` in `ns` with `concurrency` in flight, spread
/// over the clients.
async fn create_pods(
    clients: &[Client],
    ns: &'static str,
    prefix: &'static str,
    count: u32,
    concurrency: usize,
) -> anyhow::Result<Bulk> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency.min(count as usize).max(1) {
        let client = clients[w % clients.len()].clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let api = client.api::<Pod>(Some(ns));
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= u64::from(count) {
                    break;
                }
                let t = Instant::now();
                match api.create(&small_pod(&pod_name(prefix, i))).await {
                    Ok(_) => lat.push(elapsed_us(t)),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut bulk = Bulk {
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        lat: Vec::new(),
    };
    for w in workers {
        let (lat, errors, first_error) = w.await.context("a create worker panicked")?;
        bulk.lat.extend(lat);
        bulk.errors += errors;
        if bulk.first_error.is_none() {
            bulk.first_error = first_error;
        }
    }
    bulk.elapsed = started.elapsed();
    bulk.ok = bulk.lat.len() as u64;
    bulk.lat.sort_unstable();
    Ok(bulk)
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    client
        .api::<Namespace>(None)
        .create(&Namespace::new(name))
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

async fn measure(
    opts: Options,
    clients: &[Client],
    cluster: &Cluster,
    leader: &str,
) -> anyhow::Result<()> {
    for ns in [NS_LOAD, NS_LIST, NS_BIG, NS_WATCH] {
        create_namespace(&clients[0], ns).await?;
    }
    let fill = create_pods(clients, NS_LIST, "list", opts.list_pods, CREATE_CONCURRENCY).await?;
    ensure!(
        fill.errors == 0,
        "filling {NS_LIST} failed {} times: {}",
        fill.errors,
        fill.first_error.unwrap_or_default()
    );
    // The ping payload and the store values: as large as a stored pod's JSON.
    let pod_json = raw_json(
        &clients[0],
        ApiRequest::Get {
            resource: pods_resource(),
            namespace: Some(NS_LIST.into()),
            name: pod_name("list", 0),
        },
    )
    .await
    .context("reading a pod back")?;
    let payload = vec![0xA5u8; pod_json.len()];
    println!(
        "filled {NS_LIST} with {} pods in {:.1} s; a stored pod is {} B of JSON \
         (the size of the ping payloads and store values)",
        opts.list_pods,
        fill.elapsed.as_secs_f64(),
        pod_json.len()
    );

    // Warm-up, unmeasured: one second of each mix at the lower rate.
    run_phase(Mix::Ping, clients, RATES[0], 1, "warm", &opts, &payload).await?;
    run_phase(Mix::Store, clients, RATES[0], 1, "warm", &opts, &payload).await?;
    run_phase(Mix::Api, clients, RATES[0], 1, "warm", &opts, &payload).await?;

    let mut rows = Vec::new();
    let mut node_rows = Vec::new();
    let mut lags = Vec::new();
    for rate in RATES {
        println!("load at {rate}/s: bus pings, then the store mix, then the API mix ...");
        for mix in [Mix::Ping, Mix::Store, Mix::Api] {
            let tag = format!("r{rate}");
            let phase = run_phase(mix, clients, rate, opts.seconds, &tag, &opts, &payload).await?;
            lags.push((rate, mix.name(), phase.mean_lag, phase.max_lag));
            for verb in mix.verbs() {
                rows.extend(Figures::of(rate, *verb, &phase, None));
                if rate == TARGET_RATE {
                    for n in 0..clients.len() {
                        if let Some(f) = Figures::of(rate, *verb, &phase, Some(n)) {
                            node_rows.push((n, f));
                        }
                    }
                }
            }
        }
    }

    println!("big list: creating {} pods in {NS_BIG} ...", opts.big);
    let big = big_list(opts, clients, cluster).await?;

    println!(
        "watch: writer on {}, watcher on {}, {WATCH_RATE} creates/s for {} s ...",
        cluster.nodes[0].name(),
        cluster.nodes[1].name(),
        opts.seconds
    );
    let watch = watch_delay(clients[0].clone(), clients[1].clone(), opts.seconds).await?;

    let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.name().to_owned()).collect();
    let report = Report {
        opts,
        rows,
        node_rows,
        lags,
        big,
        watch,
        nodes,
        leader: leader.to_owned(),
    };
    print_report(&report);
    record_figures(&report);
    Ok(())
}

/// The report's main figures into the benchmark record: each API verb's p99 at each rate
/// against the store requests under it, the big list's creation rate and full-list time,
/// and the watch delay (these three without a baseline).
fn record_figures(r: &Report) {
    let bench = if r.opts.api_only {
        "api.api_only"
    } else {
        "api"
    };
    let ms = |us: u64| us as f64 / 1000.0;
    for f in r
        .rows
        .iter()
        .filter(|f| matches!(f.verb, Verb::Create | Verb::Get | Verb::List))
    {
        let twin = r
            .rows
            .iter()
            .find(|t| t.rate == f.rate && t.verb == f.verb.store_twin())
            .map(|t| ms(t.p99_us));
        bench_record::record(
            &format!("{bench}.{}.r{}.p99", f.verb.name(), f.rate),
            ms(f.p99_us),
            twin,
            "ms",
        );
    }
    let b = &r.big.bulk;
    bench_record::record(
        &format!("{bench}.big_create.throughput"),
        b.ok as f64 / b.elapsed.as_secs_f64().max(1e-9),
        None,
        "pods/s",
    );
    bench_record::record(
        &format!("{bench}.big_list_full.p50"),
        ms(percentile(&r.big.full.sorted(), 0.50)),
        None,
        "ms",
    );
    bench_record::record(
        &format!("{bench}.watch_delay.p99"),
        percentile(&r.watch.from_ack, 0.99) as f64 / 1000.0,
        None,
        "ms",
    );
}

/// The workloads of the open-loop phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// `EchoRequest::Ping`s.
    Ping,
    /// The store requests the API mix makes its replicas serve.
    Store,
    /// Creates, gets and lists through the typed API client.
    Api,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Ping => "bus ping",
            Mix::Store => "store mix",
            Mix::Api => "API mix",
        }
    }

    fn verbs(self) -> &'static [Verb] {
        match self {
            Mix::Ping => &[Verb::Ping],
            Mix::Store => &[Verb::StorePut, Verb::StoreGet, Verb::StoreRange],
            Mix::Api => &[Verb::Create, Verb::Get, Verb::List],
        }
    }
}

/// One open-loop phase of `mix`; request `i` goes through client `i mod 3`.
async fn run_phase(
    mix: Mix,
    clients: &[Client],
    rate: u32,
    seconds: u32,
    tag: &str,
    opts: &Options,
    payload: &[u8],
) -> anyhow::Result<Phase> {
    let clients = clients.to_vec();
    let tag = tag.to_owned();
    let payload = payload.to_vec();
    let list_pods = opts.list_pods;
    open_loop(rate, seconds, move |i| {
        let node = (i % clients.len() as u64) as usize;
        let client = clients[node].clone();
        let (tag, payload) = (tag.clone(), payload.clone());
        let verb = match mix {
            Mix::Ping => Verb::Ping,
            Mix::Store => Verb::of(i).store_twin(),
            Mix::Api => Verb::of(i),
        };
        let fut: std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> = match mix {
            Mix::Ping => Box::pin(async move { ping(&client, payload).await }),
            Mix::Store => Box::pin(store_request(client, verb, i, tag, list_pods, payload)),
            Mix::Api => Box::pin(api_request(client, verb, i, tag, list_pods)),
        };
        (verb, node, fut)
    })
    .await
}

/// Figures of the big list.
struct BigList {
    bulk: Bulk,
    json_bytes: usize,
    full: ListRuns,
    paged: ListRuns,
    pages: usize,
}

/// Runs of one list variant.
#[derive(Default)]
struct ListRuns {
    /// (node, duration in µs, slowest probe ping in µs) per run.
    runs: Vec<(String, u64, u64)>,
    errors: Vec<String>,
}

impl ListRuns {
    fn sorted(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.runs.iter().map(|r| r.1).collect();
        v.sort_unstable();
        v
    }
}

async fn big_list(opts: Options, clients: &[Client], cluster: &Cluster) -> anyhow::Result<BigList> {
    let bulk = create_pods(clients, NS_BIG, "big", opts.big, CREATE_CONCURRENCY).await?;
    let expected = bulk.ok as usize;
    let raw = raw_json(
        &clients[0],
        ApiRequest::List {
            resource: pods_resource(),
            namespace: Some(NS_BIG.into()),
            params: ListParams::default(),
        },
    )
    .await
    .context("listing the big namespace")?;

    let mut full = ListRuns::default();
    let mut paged = ListRuns::default();
    let mut pages = 0;
    for (limit, runs) in [(0, &mut full), (PAGE_LIMIT, &mut paged)] {
        for r in 0..LIST_REPEATS {
            let ci = r % clients.len();
            let api = clients[ci].api::<Pod>(Some(NS_BIG));
            let node = cluster.nodes[ci].name().to_owned();
            // The probe has a connection of its own, so it does not queue behind the list
            // on the client's link: it sees what other clients of the node see.
            let probe_client = cluster.nodes[ci]
                .client()
                .await
                .with_context(|| format!("connecting the probe to {node}"))?;
            let stop = Arc::new(AtomicBool::new(false));
            let probe = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut slowest = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let _ = ping(&probe_client, vec![0; 64]).await;
                        slowest = slowest.max(elapsed_us(t));
                        tokio::time::sleep(PROBE_PERIOD).await;
                    }
                    slowest
                })
            };
            let t = Instant::now();
            let outcome = list_all(&api, limit, opts.big).await;
            let took = elapsed_us(t);
            stop.store(true, Ordering::Relaxed);
            let slowest = probe.await.context("the probe panicked")?;
            match outcome {
                Ok((items, n_pages)) if items == expected => {
                    pages = n_pages;
                    runs.runs.push((node, took, slowest));
                }
                Ok((items, _)) => runs
                    .errors
                    .push(format!("{node}: {items} items, expected {expected}")),
                Err(e) => runs.errors.push(format!("{node}: {e}")),
            }
        }
    }
    Ok(BigList {
        bulk,
        json_bytes: raw.len(),
        full,
        paged,
        pages,
    })
}

/// Lists every pod of `api`'s namespace, in pages of `limit` (0: in one call) following
/// `continue`; returns how many items and pages.
async fn list_all(
    api: &rudder_protocol::client::Api<Pod>,
    limit: u32,
    pods: u32,
) -> Result<(usize, usize), String> {
    let mut params = ListParams {
        limit,
        ..ListParams::default()
    };
    let mut items = 0usize;
    let mut pages = 0usize;
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| format!("page {}: {e}", pages + 1))?;
        items += page.items.len();
        pages += 1;
        if page.metadata.continue_.is_empty() {
            return Ok((items, pages));
        }
        if limit == 0 || pages > (pods / limit) as usize + 2 {
            return Err(format!("{pages} pages and still a continue token"));
        }
        params.continue_token = Some(page.metadata.continue_);
    }
}

/// Figures of the watch measurement.
struct WatchFigures {
    watcher: String,
    writer: String,
    created: u64,
    create_errors: u64,
    first_create_error: Option<String>,
    received: u64,
    missed: u64,
    poll_errors: u64,
    first_poll_error: Option<String>,
    /// Delays from the create's acknowledgment, sorted, µs (may be negative).
    from_ack: Vec<i64>,
    /// Delays from just before the create was sent, sorted, µs.
    from_send: Vec<i64>,
    /// Create latencies of the writer, sorted, µs.
    create_lat: Vec<u64>,
}

async fn watch_delay(
    writer: Client,
    watcher: Client,
    seconds: u32,
) -> anyhow::Result<WatchFigures> {
    let list = watcher
        .api::<Pod>(Some(NS_WATCH))
        .list(&ListParams::default())
        .await
        .context("listing the watch namespace")?;
    let start_rv: u64 = list
        .metadata
        .resource_version
        .parse()
        .context("the list's resourceVersion is not a number")?;
    // Set to the number of creates once the writer is done.
    let expected = Arc::new(AtomicU64::new(u64::MAX));

    let watch_task = {
        let expected = expected.clone();
        let watcher = watcher.clone();
        tokio::spawn(async move {
            let api = watcher.api::<Pod>(Some(NS_WATCH));
            // name -> (receive time, annotated send time), unix µs.
            let mut seen: HashMap<String, (i64, Option<i64>)> = HashMap::new();
            let mut rv = start_rv;
            let mut errors = 0u64;
            let mut first_error = None;
            let hard_deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 60);
            let mut grace_deadline = None;
            loop {
                let want = expected.load(Ordering::Acquire);
                if want != u64::MAX {
                    if seen.len() as u64 >= want {
                        break;
                    }
                    let d = *grace_deadline.get_or_insert_with(|| Instant::now() + WATCH_GRACE);
                    if Instant::now() >= d {
                        break;
                    }
                }
                if Instant::now() >= hard_deadline {
                    break;
                }
                match api.watch_poll(&ListParams::default(), rv, WATCH_WAIT).await {
                    Ok((events, next)) => {
                        let now = unix_micros();
                        for e in events {
                            if let WatchEvent::Added(pod) = e {
                                let sent = pod
                                    .metadata
                                    .annotations
                                    .get(SENT_ANNOTATION)
                                    .and_then(|s| s.parse().ok());
                                seen.entry(pod.metadata.name).or_insert((now, sent));
                            }
                        }
                        rv = next;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        if e.code() == Some(410) {
                            // Too old: relist (events in between are lost, and show as missed).
                            if let Ok(l) = api.list(&ListParams::default()).await {
                                rv = l.metadata.resource_version.parse().unwrap_or(rv);
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (seen, errors, first_error)
        })
    };

    // The writer: open loop at WATCH_RATE.
    let n = u64::from(WATCH_RATE) * u64::from(seconds);
    let start = Instant::now() + Duration::from_millis(5);
    let mut tasks = Vec::new();
    for i in 0..n {
        let at = start + Duration::from_nanos(i * 1_000_000_000 / u64::from(WATCH_RATE));
        tokio::time::sleep_until(at).await;
        let client = writer.clone();
        tasks.push(tokio::spawn(async move {
            let name = pod_name("watch", i);
            let mut pod = small_pod(&name);
            let t = Instant::now();
            let sent = unix_micros();
            pod.metadata
                .annotations
                .insert(SENT_ANNOTATION.into(), sent.to_string());
            let result = client.api::<Pod>(Some(NS_WATCH)).create(&pod).await;
            let acked = unix_micros();
            let took = elapsed_us(t);
            match result {
                Ok(_) => Ok((name, sent, acked, took)),
                Err(e) => Err(e.to_string()),
            }
        }));
    }
    let mut created = Vec::new();
    let mut create_errors = 0u64;
    let mut first_create_error = None;
    for t in tasks {
        match t.await.context("a writer task panicked")? {
            Ok(c) => created.push(c),
            Err(e) => {
                create_errors += 1;
                first_create_error.get_or_insert(e);
            }
        }
    }
    expected.store(created.len() as u64, Ordering::Release);
    let (seen, poll_errors, first_poll_error) = watch_task.await.context("the watcher panicked")?;

    let mut from_ack = Vec::new();
    let mut from_send = Vec::new();
    let mut create_lat = Vec::new();
    let mut missed = 0u64;
    for (name, sent, acked, took) in &created {
        create_lat.push(*took);
        match seen.get(name) {
            Some((recv, annotated)) => {
                from_ack.push(recv - acked);
                from_send.push(recv - annotated.unwrap_or(*sent));
            }
            None => missed += 1,
        }
    }
    from_ack.sort_unstable();
    from_send.sort_unstable();
    create_lat.sort_unstable();
    Ok(WatchFigures {
        watcher: watcher.node().to_string(),
        writer: writer.node().to_string(),
        created: created.len() as u64,
        create_errors,
        first_create_error,
        received: from_ack.len() as u64,
        missed,
        poll_errors,
        first_poll_error,
        from_ack,
        from_send,
        create_lat,
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets target"
    } else {
        "MISSES target"
    }
}

/// Everything measured, for the report.
struct Report {
    opts: Options,
    rows: Vec<Figures>,
    /// Figures at the target rate, per node index.
    node_rows: Vec<(usize, Figures)>,
    /// (rate, mix, mean lag, max lag) per phase.
    lags: Vec<(u32, &'static str, Duration, Duration)>,
    big: BigList,
    watch: WatchFigures,
    nodes: Vec<String>,
    leader: String,
}

fn print_report(r: &Report) {
    let opts = r.opts;
    println!();
    println!(
        "load: open loop, {} s per rate and mix; API mix 50 % create / 45 % get / 5 % list of \
         {} pods; the store mix is the store requests under it; latency from the scheduled \
         send time",
        opts.seconds, opts.list_pods
    );
    println!(
        "{:>6}  {:<11} {:>9} {:>7} {:>11} {:>9} {:>9} {:>9}",
        "rate/s", "verb", "requests", "errors", "achieved/s", "p50 ms", "p99 ms", "max ms"
    );
    for f in &r.rows {
        println!(
            "{:>6}  {:<11} {:>9} {:>7} {:>11.1} {:>9} {:>9} {:>9}",
            f.rate,
            f.verb.name(),
            f.requests,
            f.errors,
            f.achieved,
            ms(f.p50_us),
            ms(f.p99_us),
            ms(f.max_us)
        );
    }
    for f in r.rows.iter().filter(|f| f.errors > 0) {
        println!(
            "  {} at {}/s, first error: {}",
            f.verb.name(),
            f.rate,
            f.first_error.as_deref().unwrap_or("?")
        );
    }
    let lag_text: Vec<String> = r
        .lags
        .iter()
        .map(|(rate, what, mean, max)| {
            format!(
                "{what} at {rate}/s {:.2}/{:.2}",
                mean.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3
            )
        })
        .collect();
    println!(
        "  generator lag behind schedule, mean/max ms (included in the latencies): {}",
        lag_text.join(", ")
    );

    println!();
    println!(
        "per node at {TARGET_RATE}/s, p50/p99 ms (the store leader is {}; requests through a \
         follower are forwarded to it):",
        r.leader
    );
    print!("  {:<11}", "verb");
    for n in &r.nodes {
        let label = if *n == r.leader {
            format!("{n} (leader)")
        } else {
            n.clone()
        };
        print!(" {label:>18}");
    }
    println!();
    for verb in [
        Verb::Ping,
        Verb::StorePut,
        Verb::Create,
        Verb::StoreGet,
        Verb::Get,
        Verb::StoreRange,
        Verb::List,
    ] {
        print!("  {:<11}", verb.name());
        for n in 0..r.nodes.len() {
            let cell = r
                .node_rows
                .iter()
                .find(|(i, f)| *i == n && f.verb == verb)
                .map_or_else(
                    || "-".to_owned(),
                    |(_, f)| format!("{}/{}", ms(f.p50_us), ms(f.p99_us)),
                );
            print!(" {cell:>18}");
        }
        println!();
    }

    println!();
    let big = &r.big;
    let b = &big.bulk;
    println!("big list: {} pods in namespace {NS_BIG}", opts.big);
    println!(
        "  creation: {} created, {} errors in {:.1} s with {CREATE_CONCURRENCY} in flight: \
         {:.0} pods/s; create p50 {} ms, p99 {} ms, max {} ms",
        b.ok,
        b.errors,
        b.elapsed.as_secs_f64(),
        b.ok as f64 / b.elapsed.as_secs_f64().max(1e-9),
        ms(percentile(&b.lat, 0.50)),
        ms(percentile(&b.lat, 0.99)),
        ms(b.lat.last().copied().unwrap_or(0))
    );
    if let Some(e) = &b.first_error {
        println!("  first create error: {e}");
    }
    println!(
        "  the full list is {:.1} MB of JSON ({} B per pod)",
        big.json_bytes as f64 / 1e6,
        big.json_bytes / (b.ok.max(1) as usize)
    );
    for (label, runs) in [
        ("full list (no limit)".to_owned(), &big.full),
        (
            format!("paged list (limit {PAGE_LIMIT}, {} pages)", big.pages),
            &big.paged,
        ),
    ] {
        let sorted = runs.sorted();
        println!(
            "  {label}: {} runs ok, {} failed; p50 {} ms, max {} ms",
            runs.runs.len(),
            runs.errors.len(),
            ms(percentile(&sorted, 0.50)),
            ms(sorted.last().copied().unwrap_or(0))
        );
        let each: Vec<String> = runs
            .runs
            .iter()
            .map(|(node, us, probe)| format!("{node} {} ms (ping {} ms)", ms(*us), ms(*probe)))
            .collect();
        println!("    runs: {}", each.join(", "));
        for e in &runs.errors {
            println!("    failed: {e}");
        }
    }
    println!(
        "    (ping: the slowest of the pings sent every {} ms, on a connection of their own, \
         to the serving node's echo actor while the list ran)",
        PROBE_PERIOD.as_millis()
    );

    println!();
    let w = &r.watch;
    println!(
        "watch delay: writer on {} creates {WATCH_RATE} pods/s for {} s, watcher on {} \
         (long polls of up to {} s)",
        w.writer,
        opts.seconds,
        w.watcher,
        WATCH_WAIT.as_secs()
    );
    println!(
        "  {} created ({} errors), {} events received, {} missed, {} poll errors; \
         writer's create p50 {} ms, p99 {} ms",
        w.created,
        w.create_errors,
        w.received,
        w.missed,
        w.poll_errors,
        ms(percentile(&w.create_lat, 0.50)),
        ms(percentile(&w.create_lat, 0.99))
    );
    if let Some(e) = &w.first_create_error {
        println!("  first create error: {e}");
    }
    if let Some(e) = &w.first_poll_error {
        println!("  first poll error: {e}");
    }
    println!(
        "  {:<28} {:>9} {:>9} {:>9} {:>9}",
        "delay measured from", "min ms", "p50 ms", "p99 ms", "max ms"
    );
    for (label, v) in [
        ("create acknowledged", &w.from_ack),
        ("create sent", &w.from_send),
    ] {
        println!(
            "  {:<28} {:>9} {:>9} {:>9} {:>9}",
            label,
            ms_signed(v.first().copied().unwrap_or(0)),
            ms_signed(percentile(v, 0.50)),
            ms_signed(percentile(v, 0.99)),
            ms_signed(v.last().copied().unwrap_or(0))
        );
    }
    let early = w.from_ack.iter().filter(|d| **d < 0).count();
    println!(
        "  {early} of {} events reached the watcher before the writer had its create reply",
        w.received
    );

    println!();
    println!(
        "targets (single-object p99 <= {} ms at {TARGET_RATE}/s, Kubernetes SLO <= {} ms; \
         watch delay p99 <= {} ms):",
        TARGET_P99_US / 1000,
        SLO_P99_US / 1000,
        TARGET_WATCH_P99_US / 1000
    );
    for f in r
        .rows
        .iter()
        .filter(|f| f.rate == TARGET_RATE && matches!(f.verb, Verb::Create | Verb::Get))
    {
        let ok = f.p99_us <= TARGET_P99_US && f.errors == 0 && f.requests > 0;
        let slo = f.p99_us <= SLO_P99_US && f.errors == 0;
        let twin = r
            .rows
            .iter()
            .find(|t| t.rate == f.rate && t.verb == f.verb.store_twin())
            .map_or(0, |t| t.p99_us);
        let bus = r
            .rows
            .iter()
            .find(|t| t.rate == f.rate && t.verb == Verb::Ping)
            .map_or(0, |t| t.p99_us);
        println!(
            "  {:<6} p99 at {}/s: {} ms, {} errors ({} p99 {} ms, bus ping p99 {} ms; \
             SLO 1 s {}): {}",
            f.verb.name(),
            f.rate,
            ms(f.p99_us),
            f.errors,
            f.verb.store_twin().name(),
            ms(twin),
            ms(bus),
            if slo { "met" } else { "MISSED" },
            verdict(ok)
        );
    }
    let p99 = percentile(&w.from_ack, 0.99);
    let ok = !w.from_ack.is_empty() && w.missed == 0 && p99 <= TARGET_WATCH_P99_US;
    println!(
        "  watch delay p99 from commit acknowledgment: {} ms, {} missed: {}",
        ms_signed(p99),
        w.missed,
        verdict(ok)
    );
    println!(
        "  watch delay p99 from create sent: {} ms (for reference)",
        ms_signed(percentile(&w.from_send, 0.99))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let cases: &[(&str, &[i64], f64, i64)] = &[
            ("empty", &[], 0.5, 0),
            ("one", &[7], 0.99, 7),
            ("median of four", &[1, 2, 3, 4], 0.5, 2),
            ("negative", &[-5, -1, 3], 0.5, -1),
            ("p99 of hundred", &(1..=100).collect::<Vec<_>>(), 0.99, 99),
        ];
        for (name, samples, p, want) in cases {
            assert_eq!(percentile(samples, *p), *want, "{name}");
        }
    }

    #[test]
    fn the_mix_is_half_creates_and_one_list_in_twenty() {
        let mut counts = HashMap::new();
        for i in 0..1000 {
            *counts.entry(Verb::of(i).name()).or_insert(0) += 1;
        }
        assert_eq!(counts.get("create"), Some(&500));
        assert_eq!(counts.get("get"), Some(&450));
        assert_eq!(counts.get("list"), Some(&50));
    }

    #[test]
    fn options_parse_and_bound() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let cases: &[(&str, Option<Options>)] = &[
            (
                "",
                Some(Options {
                    seconds: 10,
                    big: 10_000,
                    list_pods: 300,
                    api_only: false,
                }),
            ),
            (
                "--seconds 3 --big 500 --list-pods 20",
                Some(Options {
                    seconds: 3,
                    big: 500,
                    list_pods: 20,
                    api_only: false,
                }),
            ),
            (
                "--api-only --seconds 2",
                Some(Options {
                    seconds: 2,
                    big: 10_000,
                    list_pods: 300,
                    api_only: true,
                }),
            ),
            ("--seconds 0", None),
            ("--big 20001", None),
            ("--list-pods", None),
            ("--frobnicate 1", None),
        ];
        for (line, want) in cases {
            assert_eq!(Options::parse(&args(line)).ok(), *want, "{line:?}");
        }
    }
}
