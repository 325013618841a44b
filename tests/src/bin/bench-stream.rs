//! `bench-stream`: throughput of one bus stream between two `rudderd` processes, next to
//! a raw tokio TCP connection moving the same bytes, in the same run.
//!
//! - **bus stream**: two real `rudderd` processes on 127.0.0.1 (`bench-a`, and `bench-b`
//!   joined to it). `EchoRequest::StreamTo` makes `bench-a`'s `echo` actor open a stream
//!   to `bench-b`'s (a sink), send `--bytes` in 128 KiB chunks under the stream's credit
//!   flow control, finish, and wait for the sink's count; `bench-a` times it.
//! - **raw tcp**: the baseline. A sink in a separate OS process (this binary re-executed
//!   with a hidden `--raw-sink-server` argument) reads to the end and answers the count;
//!   the client writes the same bytes in the same chunk size over one connection, shuts
//!   its side, and reads the count. Both ends run single-threaded tokio runtimes, as
//!   `rudderd`'s actix system does.
//!
//! It prints MiB/s for both and the ratio against the target (a stream at least 0.7x raw
//! TCP). A measurement, not a test: it exits 0 whether or not the target is met.
//!
//! ```text
//! cargo build --release -p rudder -p rudder-tests
//! target/release/bench-stream [--bytes N] [--runs N]
//! ```

use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rudder_protocol::messages::bus::MemberState;
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::ActorRef;
use rudder_tests::{bench_record, eventually, members_seen_by, rudderd_bin, Cluster, NodeProc};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

const RAW_SERVER_ARG: &str = "--raw-sink-server";
const CHUNK: usize = rudder_protocol::stream::MAX_CHUNK;
const TARGET_RATIO: f64 = 0.7;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(RAW_SERVER_ARG) {
        return match raw_server() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench-stream raw sink: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let value = |name: &str, default: u64| -> anyhow::Result<u64> {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{name} needs a number")),
            None => Ok(default),
        }
    };
    let outcome = (|| {
        let bytes = value("--bytes", 1 << 30)?;
        let runs = value("--runs", 3)?.max(1);
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(bytes, runs))
    })();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-stream: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64().max(1e-9)
}

async fn run(bytes: u64, runs: u64) -> anyhow::Result<()> {
    let rudderd = rudderd_bin();
    if !rudderd.is_file() {
        bail!(
            "rudderd not found at {}; build it in the same profile",
            rudderd.display()
        );
    }
    println!(
        "bench-stream: {} MiB per run, {runs} runs, chunk {} KiB, {} cores, rudderd {}",
        bytes >> 20,
        CHUNK >> 10,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rudderd.display()
    );
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "bench-a");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let spec = cluster.spec("single-node.toml", "bench-b");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0]
        .client()
        .await?
        .with_timeout(Duration::from_secs(600));
    let c = client.clone();
    eventually(Duration::from_secs(15), move || {
        let c = c.clone();
        async move {
            let members = members_seen_by(&c, "bench-a").await?;
            Ok(members
                .iter()
                .any(|m| m.name.as_str() == "bench-b" && m.state == MemberState::Alive)
                .then_some(()))
        }
    })
    .await
    .context("bench-a never saw bench-b alive")?;

    let stream = |bytes| {
        let c = client.clone();
        async move {
            match c
                .call(
                    ActorRef::new("bench-a", "echo"),
                    EchoRequest::StreamTo {
                        to: ActorRef::new("bench-b", "echo"),
                        bytes,
                    },
                )
                .await?
            {
                EchoReply::Streamed {
                    bytes: got,
                    elapsed_us,
                } => {
                    anyhow::ensure!(got == bytes, "the sink counted {got} of {bytes}");
                    Ok(Duration::from_micros(elapsed_us))
                }
                other => bail!("unexpected reply {other:?}"),
            }
        }
    };
    let (mut server, addr) = start_raw_server().await?;
    // Warm-up of both.
    stream(bytes / 10).await.context("warm-up stream")?;
    raw_client(addr.clone(), bytes / 10).await?;
    let (mut bus_best, mut raw_best) = (0f64, 0f64);
    for run in 1..=runs {
        let bus = mib_s(bytes, stream(bytes).await.context("measured stream")?);
        let raw = mib_s(bytes, raw_client(addr.clone(), bytes).await?);
        println!(
            "run {run}: bus stream {bus:8.1} MiB/s   raw tcp {raw:8.1} MiB/s   ratio {:.2}",
            bus / raw
        );
        bus_best = bus_best.max(bus);
        raw_best = raw_best.max(raw);
    }
    let ratio = bus_best / raw_best.max(1e-9);
    println!(
        "best: bus stream {bus_best:.1} MiB/s, raw tcp {raw_best:.1} MiB/s, ratio {ratio:.2} (target >= {TARGET_RATIO}): {}",
        if ratio >= TARGET_RATIO { "met" } else { "NOT met" }
    );
    bench_record::record("stream.best.throughput", bus_best, Some(raw_best), "MiB/s");
    let _ = server.start_kill();
    let _ = server.wait().await;
    for node in &mut cluster.nodes {
        node.kill9().await?;
    }
    Ok(())
}

async fn start_raw_server() -> anyhow::Result<(tokio::process::Child, String)> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(&exe)
        .arg(RAW_SERVER_ARG)
        // The server exits when its stdin closes, i.e. when this process goes away.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("raw sink has no stdout")?;
    let line = tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .context("the raw sink did not start")??
    .context("the raw sink exited")?;
    let addr = line
        .strip_prefix("raw-sink listening on ")
        .with_context(|| format!("unexpected line {line:?}"))?
        .to_owned();
    Ok((child, addr))
}

/// Writes `bytes` to the raw sink on a single-threaded runtime of its own; the time to
/// its count.
async fn raw_client(addr: String, bytes: u64) -> anyhow::Result<Duration> {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async move {
                let started = Instant::now();
                let mut s = tokio::net::TcpStream::connect(&addr).await?;
                let chunk = vec![0x5Au8; CHUNK];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(CHUNK as u64) as usize;
                    s.write_all(&chunk[..n]).await?;
                    left -= n as u64;
                }
                s.shutdown().await?;
                let mut count = [0u8; 8];
                s.read_exact(&mut count).await?;
                anyhow::ensure!(
                    u64::from_be_bytes(count) == bytes,
                    "the raw sink miscounted"
                );
                Ok(started.elapsed())
            })
    })
    .await?
}

fn raw_server() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("raw-sink listening on {}", listener.local_addr()?);
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 1];
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let (mut s, _) = accepted?;
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; CHUNK];
                            let mut n = 0u64;
                            loop {
                                match s.read(&mut buf).await {
                                    Ok(0) => break,
                                    Ok(k) => n += k as u64,
                                    Err(_) => return,
                                }
                            }
                            let _ = s.write_all(&n.to_be_bytes()).await;
                        });
                    }
                    r = stdin.read(&mut buf) => {
                        if matches!(r, Ok(0) | Err(_)) {
                            return Ok(());
                        }
                    }
                }
            }
        })
}
