//! `bench-bus`: request/reply throughput and latency of the bus between two `rudderd`
//! processes, next to a raw tokio TCP echo with the same frame sizes, in the same run.
//!
//! What is measured, for 1 and 64 requests in flight:
//!
//! - **rudder bus**: two real `rudderd` processes on 127.0.0.1 (`bench-a`, and `bench-b`
//!   joined to it). One `EchoRequest::Blast` to `bench-a`'s `echo` actor makes it send
//!   `count` `EchoRequest::Ping`s to `bench-b`'s `echo` over their bus link, keeping
//!   `in_flight` outstanding; `bench-a` times each round trip itself. The path is
//!   actor → bus → link writer → TCP → link reader → bus → actor mailbox → and back.
//! - **raw tcp**: the baseline. A server in a separate OS process (this binary re-executed
//!   with a hidden `--raw-echo-server` argument) reads length-prefixed frames and answers
//!   each with a frame of the bus's reply-frame size; the client sends frames of the bus's
//!   request-frame size over ONE pipelined connection (as the bus keeps one link per node
//!   pair), keeping `in_flight` outstanding, timing each reply in FIFO order. Both ends
//!   run on a single-threaded tokio runtime, as `rudderd`'s actix system does.
//!
//! It prints a table and the bus/raw ratios against the target (throughput at least half
//! of raw, p99 at most twice raw). It is a measurement, not a test: it exits 0 whether or
//! not the target is met, and non-zero only when it cannot run.
//!
//! Run (the `rudderd` used is the one next to this binary, in the same profile directory,
//! unless `$RUDDERD_BIN` names another):
//!
//! ```text
//! cargo build --release -p rudder -p rudder-tests
//! cargo run --release -p rudder-tests --bin bench-bus -- [--payload BYTES] [--count N]
//! ```
//!
//! `--payload` is the ping payload (default 64 bytes); `--count` replaces the default
//! request counts (100 000 at 1 in flight, 1 000 000 at 64; about 20 s in all on two
//! cores). Each measurement is preceded by a warm-up of a tenth of its count. Run it on
//! an otherwise idle machine: a concurrent build moves every figure.

use std::io::{Read as _, Write as _};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rudder_protocol::frame::Frame;
use rudder_protocol::messages::bus::MemberState;
use rudder_protocol::messages::echo::{EchoReply, EchoRequest, MAX_BLAST_COUNT};
use rudder_protocol::messages::{Reply, Request};
use rudder_protocol::net::encode_frame;
use rudder_protocol::ActorRef;
use rudder_tests::{bench_record, eventually, members_seen_by, rudderd_bin, Cluster, NodeProc};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// Hidden argument that turns this binary into the raw echo server.
const RAW_SERVER_ARG: &str = "--raw-echo-server";
/// In-flight levels measured.
const IN_FLIGHT: [u32; 2] = [1, 64];
/// Largest payload accepted (the echo actor clamps blasts to 1 MiB).
const MAX_PAYLOAD: u32 = 1 << 20;
/// Largest frame the raw server accepts; a bound, not a tuning knob.
const RAW_MAX_FRAME: usize = 2 << 20;
/// The bus's write coalescing limit, reused so the raw ends batch alike.
const BATCH_BYTES: usize = 256 * 1024;
/// Per-ping timeout the echo actor uses in a blast (it goes into the request frame).
const BLAST_PING_TIMEOUT_MS: u32 = 10_000;
/// Targets from the issue.
const MIN_THROUGHPUT_RATIO: f64 = 0.5;
const MAX_P99_RATIO: f64 = 2.0;

const USAGE: &str = "usage: bench-bus [--payload BYTES] [--count N]\n\
    \n  --payload BYTES  ping payload size (default 64)\
    \n  --count N        requests per measurement (default 100000 at 1 in flight, 1000000 at 64)";

#[derive(Debug, Clone, Copy)]
struct Options {
    payload: u32,
    count: Option<u32>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut opts = Options {
            payload: 64,
            count: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| -> anyhow::Result<u32> {
                let v = it.next().with_context(|| format!("{name} needs a value"))?;
                v.parse()
                    .with_context(|| format!("{name}: {v:?} is not a number"))
            };
            match arg.as_str() {
                "--payload" => opts.payload = value("--payload")?,
                "--count" => opts.count = Some(value("--count")?),
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        ensure!(
            opts.payload <= MAX_PAYLOAD,
            "--payload must be at most {MAX_PAYLOAD}"
        );
        if let Some(c) = opts.count {
            ensure!(
                (1..=MAX_BLAST_COUNT).contains(&c),
                "--count must be between 1 and {MAX_BLAST_COUNT}"
            );
        }
        Ok(opts)
    }

    fn count(&self, in_flight: u32) -> u32 {
        self.count
            .unwrap_or(if in_flight == 1 { 100_000 } else { 1_000_000 })
    }
}

/// One measurement's figures.
#[derive(Debug, Clone)]
struct Figures {
    ok: u64,
    failed: u64,
    elapsed: Duration,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl Figures {
    fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Percentile of sorted samples, by the same rule as the echo actor's blast.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// Wire sizes of one ping request frame and its reply frame, as the bus encodes them.
struct FrameSizes {
    request: Vec<u8>,
    reply_len: usize,
}

fn frame_sizes(payload: u32) -> anyhow::Result<FrameSizes> {
    let payload = vec![0xA5u8; payload as usize];
    // Ids are varints; a mid-run id of the 64-in-flight blast is representative.
    let id = 100_000;
    let mut request = Vec::new();
    encode_frame(
        &Frame::Request {
            id,
            to: ActorRef::new("bench-b", "echo"),
            timeout_ms: BLAST_PING_TIMEOUT_MS,
            trace: None,
            body: Request::Echo(EchoRequest::Ping {
                payload: payload.clone(),
            }),
        },
        &mut request,
    )?;
    let mut reply = Vec::new();
    encode_frame(
        &Frame::Reply {
            id,
            result: Ok(Reply::Echo(EchoReply::Pong {
                node: "bench-b".into(),
                payload,
            })),
        },
        &mut reply,
    )?;
    Ok(FrameSizes {
        request,
        reply_len: reply.len(),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(RAW_SERVER_ARG) {
        return match raw_server_main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench-bus raw echo server: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
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
            eprintln!("bench-bus: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Row {
    mode: &'static str,
    in_flight: u32,
    figures: Figures,
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
    let sizes = frame_sizes(opts.payload)?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "bench-bus: payload {} B, request frame {} B, reply frame {} B, {} cores, rudderd {}",
        opts.payload,
        sizes.request.len(),
        sizes.reply_len,
        cores,
        rudderd.display()
    );

    // Both nodes from the single-node file: its empty seed list keeps bench-a from
    // dialling the fixed ports of the three-node files; bench-b joins through bench-a.
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "bench-a");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let spec = cluster.spec("single-node.toml", "bench-b");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0]
        .client()
        .await
        .context("connecting to bench-a")?;
    eventually(Duration::from_secs(15), || {
        let client = client.clone();
        async move {
            let members = members_seen_by(&client, "bench-a").await?;
            Ok(members
                .iter()
                .any(|m| m.name.as_str() == "bench-b" && m.state == MemberState::Alive)
                .then_some(()))
        }
    })
    .await
    .context("bench-a never saw bench-b alive")?;
    let blaster = client.clone().with_timeout(Duration::from_secs(120));

    let mut server = RawServer::start(sizes.reply_len).await?;
    println!("raw tcp: echo server in a separate process (pid {}), single-threaded runtimes on both ends", server.pid);

    let mut rows = Vec::new();
    for in_flight in IN_FLIGHT {
        let count = opts.count(in_flight);
        let warm = (count / 10).max(1);

        let blast = |count| EchoRequest::Blast {
            to: ActorRef::new("bench-b", "echo"),
            count,
            in_flight,
            payload_len: opts.payload,
        };
        let target = ActorRef::new("bench-a", "echo");
        blaster
            .call(target.clone(), blast(warm))
            .await
            .context("warm-up blast")?;
        let EchoReply::BlastDone(stats) = blaster
            .call(target, blast(count))
            .await
            .context("measured blast")?
        else {
            bail!("bench-a's echo answered a blast with something other than BlastDone");
        };
        ensure!(stats.ok > 0, "every ping of the blast failed: {stats:?}");
        rows.push(Row {
            mode: "rudder bus",
            in_flight,
            figures: Figures {
                ok: stats.ok.into(),
                failed: stats.failed.into(),
                elapsed: Duration::from_micros(stats.elapsed_us),
                p50_us: stats.p50_us,
                p99_us: stats.p99_us,
                max_us: stats.max_us,
            },
        });

        raw_client(server.addr.clone(), warm, in_flight, &sizes)
            .await
            .context("raw warm-up")?;
        let figures = raw_client(server.addr.clone(), count, in_flight, &sizes)
            .await
            .context("raw measurement")?;
        rows.push(Row {
            mode: "raw tcp",
            in_flight,
            figures,
        });
    }
    server.stop().await;
    drop(client);
    drop(blaster);

    print_report(&rows);
    // Kill and reap the nodes before the temp dir goes (on an error return, dropping the
    // cluster kills them instead: kill_on_drop).
    for node in &mut cluster.nodes {
        node.kill9().await?;
    }
    drop(cluster);
    Ok(())
}

fn print_report(rows: &[Row]) {
    println!();
    println!(
        "{:<11} {:>9} {:>9} {:>7} {:>14} {:>8} {:>8} {:>8}",
        "mode", "in_flight", "requests", "failed", "throughput/s", "p50 µs", "p99 µs", "max µs"
    );
    for r in rows {
        let f = &r.figures;
        println!(
            "{:<11} {:>9} {:>9} {:>7} {:>14.0} {:>8} {:>8} {:>8}",
            r.mode,
            r.in_flight,
            f.ok,
            f.failed,
            f.throughput(),
            f.p50_us,
            f.p99_us,
            f.max_us
        );
    }
    println!();
    for in_flight in IN_FLIGHT {
        let find = |mode| {
            rows.iter()
                .find(|r| r.mode == mode && r.in_flight == in_flight)
        };
        let (Some(bus), Some(raw)) = (find("rudder bus"), find("raw tcp")) else {
            continue;
        };
        let tput = bus.figures.throughput() / raw.figures.throughput().max(1e-9);
        let p99 = bus.figures.p99_us as f64 / (raw.figures.p99_us.max(1)) as f64;
        let verdict = |ok: bool| if ok { "meets target" } else { "MISSES target" };
        println!(
            "in_flight {in_flight:>2}: throughput ratio bus/raw {tput:.2} (target >= {MIN_THROUGHPUT_RATIO}): {}",
            verdict(tput >= MIN_THROUGHPUT_RATIO)
        );
        println!(
            "in_flight {in_flight:>2}: p99 ratio bus/raw        {p99:.2} (target <= {MAX_P99_RATIO}): {}",
            verdict(p99 <= MAX_P99_RATIO)
        );
        let figure = format!("bus.inflight{in_flight}");
        bench_record::record(
            &format!("{figure}.throughput"),
            bus.figures.throughput(),
            Some(raw.figures.throughput()),
            "req/s",
        );
        for (measure, bus_us, raw_us) in [
            ("p50", bus.figures.p50_us, raw.figures.p50_us),
            ("p99", bus.figures.p99_us, raw.figures.p99_us),
        ] {
            bench_record::record(
                &format!("{figure}.{measure}"),
                bus_us as f64,
                Some(raw_us as f64),
                "us",
            );
        }
    }
}

/// The raw echo server child process.
struct RawServer {
    child: tokio::process::Child,
    pid: u32,
    addr: String,
}

impl RawServer {
    async fn start(reply_len: usize) -> anyhow::Result<RawServer> {
        let exe = std::env::current_exe().context("cannot find this program's path")?;
        let mut child = tokio::process::Command::new(&exe)
            .arg(RAW_SERVER_ARG)
            .arg(reply_len.to_string())
            // The server exits when its stdin closes, i.e. when this process goes away.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {} {RAW_SERVER_ARG}", exe.display()))?;
        let pid = child.id().context("raw server has no pid")?;
        let stdout = child.stdout.take().context("raw server has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .context("raw echo server did not report its address within 10 s")??
            .context("raw echo server exited before reporting its address")?;
        let addr = line
            .strip_prefix("raw-echo-server listening on ")
            .with_context(|| format!("unexpected line from the raw echo server: {line:?}"))?
            .to_owned();
        Ok(RawServer { child, pid, addr })
    }

    async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Runs the raw client on its own thread with a single-threaded runtime, like a node.
async fn raw_client(
    addr: String,
    count: u32,
    in_flight: u32,
    sizes: &FrameSizes,
) -> anyhow::Result<Figures> {
    let request = sizes.request.clone();
    let reply_len = sizes.reply_len;
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the raw client's runtime")?
            .block_on(raw_client_run(addr, count, in_flight, request, reply_len))
    })
    .await
    .context("raw client thread panicked")?
}

async fn raw_client_run(
    addr: String,
    count: u32,
    in_flight: u32,
    request: Vec<u8>,
    reply_len: usize,
) -> anyhow::Result<Figures> {
    let stream = TcpStream::connect(&addr)
        .await
        .with_context(|| format!("connecting to the raw echo server at {addr}"))?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let permits = Arc::new(Semaphore::new(in_flight as usize));
    // Send times in send order; replies come back in the same order on one connection.
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<Instant>();
    let started = Instant::now();

    let writer_permits = permits.clone();
    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(64 * 1024);
        let mut sent = 0u32;
        while sent < count {
            writer_permits.acquire().await?.forget();
            batch.clear();
            batch.extend_from_slice(&request);
            let _ = sent_tx.send(Instant::now());
            sent += 1;
            // Coalesce whatever else may go now into one write, as the bus's writer does.
            while sent < count && batch.len() < BATCH_BYTES {
                let Ok(p) = writer_permits.try_acquire() else {
                    break;
                };
                p.forget();
                batch.extend_from_slice(&request);
                let _ = sent_tx.send(Instant::now());
                sent += 1;
            }
            wr.write_all(&batch).await?;
        }
        Ok::<_, anyhow::Error>(wr)
    });

    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut reply = vec![0u8; reply_len];
    let mut lat = Vec::with_capacity(count as usize);
    for _ in 0..count {
        rd.read_exact(&mut reply)
            .await
            .context("reading a reply from the raw echo server")?;
        let len = u32::from_be_bytes([reply[0], reply[1], reply[2], reply[3]]) as usize;
        ensure!(
            len + 4 == reply_len,
            "raw echo server sent a {}-byte frame, expected {reply_len}",
            len + 4
        );
        let sent = sent_rx
            .recv()
            .await
            .context("a reply arrived for a request never sent")?;
        lat.push(sent.elapsed().as_micros() as u64);
        permits.add_permits(1);
    }
    let elapsed = started.elapsed();
    // Close our half so the server's connection task ends.
    let mut wr = writer.await.context("raw writer panicked")??;
    let _ = wr.shutdown().await;

    lat.sort_unstable();
    Ok(Figures {
        ok: lat.len() as u64,
        failed: 0,
        elapsed,
        p50_us: percentile(&lat, 0.50),
        p99_us: percentile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(0),
    })
}

/// The child process: `bench-bus --raw-echo-server REPLY_LEN`.
fn raw_server_main(args: &[String]) -> anyhow::Result<()> {
    let reply_len: usize = args
        .first()
        .context("missing reply length")?
        .parse()
        .context("reply length is not a number")?;
    ensure!(
        (5..=RAW_MAX_FRAME).contains(&reply_len),
        "reply length out of range"
    );
    // Exit with the parent: it holds our stdin open for as long as it runs.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the raw server's runtime")?
        .block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "raw-echo-server listening on {addr}")?;
            out.flush()?;
            drop(out);
            let reply = reply_frame(reply_len);
            loop {
                let (stream, _) = listener.accept().await?;
                let reply = reply.clone();
                tokio::spawn(async move {
                    if let Err(e) = raw_serve(stream, reply).await {
                        eprintln!("bench-bus raw echo server: connection failed: {e:#}");
                    }
                });
            }
        })
}

/// A frame of exactly `len` bytes: a length header and a body of filler.
fn reply_frame(len: usize) -> Arc<[u8]> {
    let mut f = vec![0x5Au8; len];
    // Cannot truncate: len <= RAW_MAX_FRAME.
    f[..4].copy_from_slice(&((len - 4) as u32).to_be_bytes());
    f.into()
}

async fn raw_serve(stream: TcpStream, reply: Arc<[u8]>) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut body = Vec::new();
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let mut len = [0u8; 4];
        match rd.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_be_bytes(len) as usize;
        ensure!(
            (1..=RAW_MAX_FRAME).contains(&len),
            "frame of {len} bytes refused"
        );
        body.resize(len, 0);
        rd.read_exact(&mut body).await?;
        out.extend_from_slice(&reply);
        // Answer everything already received in one write; flush as soon as no
        // complete request is left in the buffer, so nothing waits on later requests.
        if out.len() >= BATCH_BYTES || !holds_complete_frame(rd.buffer()) {
            wr.write_all(&out).await?;
            out.clear();
        }
    }
}

fn holds_complete_frame(buf: &[u8]) -> bool {
    match buf.get(..4) {
        Some(h) => {
            let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
            buf.len() >= 4 + len
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_the_blast_rule() {
        let cases: &[(&str, &[u64], f64, u64)] = &[
            ("empty", &[], 0.5, 0),
            ("one", &[7], 0.99, 7),
            ("median of four", &[1, 2, 3, 4], 0.5, 2),
            ("p99 of hundred", &(1..=100).collect::<Vec<_>>(), 0.99, 99),
        ];
        for (name, samples, p, want) in cases {
            assert_eq!(percentile(samples, *p), *want, "{name}");
        }
    }

    #[test]
    fn complete_frame_detection() {
        let cases: &[(&str, &[u8], bool)] = &[
            ("empty", &[], false),
            ("partial header", &[0, 0], false),
            ("header only", &[0, 0, 0, 2], false),
            ("partial body", &[0, 0, 0, 2, 1], false),
            ("exact", &[0, 0, 0, 2, 1, 1], true),
            ("more", &[0, 0, 0, 1, 1, 0, 0], true),
        ];
        for (name, buf, want) in cases {
            assert_eq!(holds_complete_frame(buf), *want, "{name}");
        }
    }

    #[test]
    fn frame_sizes_grow_with_payload() -> anyhow::Result<()> {
        let small = frame_sizes(64)?;
        let big = frame_sizes(1000)?;
        assert_eq!(
            big.request.len() - small.request.len(),
            big.reply_len - small.reply_len
        );
        assert_eq!(reply_frame(small.reply_len).len(), small.reply_len);
        Ok(())
    }
}
