//! `bench-portforward`: a large download through `kubectl port-forward` next to the same
//! download straight from the pod's IP, in the same run.
//!
//! One node (`DockerNode`: both roles, real pods on Docker) runs a demo pod whose busybox
//! `httpd` serves a file of `--mib` MiB. Each round downloads it twice, alternately:
//! - **direct**: HTTP/1.0 from the host to the pod's IP on the node's bridge;
//! - **port-forward**: the newest kubectl's `port-forward` (SPDY/3.1 tunnelled in a
//!   WebSocket) to a local port, so the bytes go pod → kubelet → bus stream → API server
//!   → kubectl → the host's client.
//!
//! Alternating means a drift in the machine's load hits both alike. It prints each
//! round's MiB/s, the medians, and the ratio against the issue's target (port-forward at
//! least 0.5x direct). A measurement, not a test: it exits 0 whether or not the target is
//! met.
//!
//! It also says where the cores went: the machine's busy CPU time per GiB of each kind of
//! download (from `/proc/stat`: client, server, kernel, and on the forwarded path kubectl
//! and `rudderd`), kubectl's and `rudderd`'s own share, and the throughput the forwarded
//! path's CPU cost allows on this machine's cores if nothing else ran (cores / CPU-s per
//! GiB), next to the direct download's.
//!
//! ```text
//! cargo build --release --workspace --all-targets
//! RUDDERD_BIN=target/release/rudderd target/release/bench-portforward [--mib N] [--rounds N]
//! ```

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rudder_protocol::resources::{Container, Pod, PodPhase};
use rudder_tests::footprint::{cpu_seconds, machine_busy_seconds};
use rudder_tests::services::{docker_available, DockerNode, HTTP_PORT};
use rudder_tests::{bench_record, eventually};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TARGET_RATIO: f64 = 0.5;

struct Args {
    mib: usize,
    rounds: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        mib: 256,
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--mib" => a.mib = value.parse()?,
            "--rounds" => a.rounds = value.parse()?,
            other => anyhow::bail!("unknown flag {other} (--mib N, --rounds N)"),
        }
    }
    anyhow::ensure!(
        a.mib > 0 && a.rounds > 0,
        "--mib and --rounds must be positive"
    );
    Ok(a)
}

/// The pod: `httpd` serving `/big.bin` (`mib` MiB of zeros) on [`HTTP_PORT`].
fn server_pod(node: &str, mib: usize) -> Pod {
    let mut p = Pod::new("pf-bench");
    p.spec.node_name = node.to_owned();
    p.spec.termination_grace_period_seconds = Some(1);
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: rudder_actors::kubelet::images::DEMO_IMAGE.into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "dd if=/dev/zero of=/www/big.bin bs=1048576 count={mib} 2>/dev/null && \
                 exec httpd -f -p {HTTP_PORT} -h /www"
            ),
        ],
        ..Default::default()
    }];
    p
}

/// Downloads `/big.bin` from `addr`; the body's length and the time it took.
async fn download(addr: SocketAddr) -> anyhow::Result<(usize, Duration)> {
    tokio::time::timeout(Duration::from_secs(300), async {
        let started = Instant::now();
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /big.bin HTTP/1.0\r\n\r\n").await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut head = Vec::new();
        let mut body = 0usize;
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if body == 0 && head.len() < 4096 {
                head.extend_from_slice(&buf[..n]);
                if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    let status = String::from_utf8_lossy(&head[..end]).to_string();
                    anyhow::ensure!(status.contains(" 200 "), "status: {status:?}");
                    body = head.len() - end - 4;
                }
            } else {
                body += n;
            }
        }
        Ok((body, started.elapsed()))
    })
    .await
    .map_err(|_| anyhow::anyhow!("the download from {addr} took more than 300 s"))?
}

/// A running `kubectl port-forward`; killed when dropped.
struct Forward(Child);

impl Forward {
    /// Starts kubectl and waits for its "Forwarding from" line.
    fn start(kubeconfig: &std::path::Path, local: u16) -> anyhow::Result<Forward> {
        let mut child = Command::new(rudder_tests::kubectl_bin())
            .env("KUBECONFIG", kubeconfig)
            .args([
                "port-forward",
                "--address",
                "127.0.0.1",
                "pod/pf-bench",
                &format!("{local}:{HTTP_PORT}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let out = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let f = Forward(child);
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.starts_with("Forwarding from") => Ok(f),
            other => anyhow::bail!("kubectl port-forward did not start: {other:?}"),
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    if !docker_available("bench-portforward") {
        return Ok(());
    }
    let node = DockerNode::start(&format!("bench-pf-{}", std::process::id()), "forwarding").await?;
    let kubeconfig = node.cluster.as_ref().context("the node is running")?.nodes[0].kubeconfig();
    let pods = node.api::<Pod>();
    pods.create(&server_pod(&node.name, a.mib)).await?;
    let (ip, _) = eventually(Duration::from_secs(120), || {
        let pods = pods.clone();
        async move {
            let p = pods.get("pf-bench").await?;
            let ready = p.status.phase == Some(PodPhase::Running) && !p.status.pod_ip.is_empty();
            Ok(ready.then_some(p.status.pod_ip))
        }
    })
    .await?;
    let direct: SocketAddr = format!("{ip}:{HTTP_PORT}").parse()?;
    // The file is written before httpd starts: the first whole download says it serves.
    eventually(Duration::from_secs(60), || async move {
        Ok(matches!(download(direct).await, Ok((n, _)) if n == a.mib << 20).then_some(()))
    })
    .await?;
    let local = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let forward = Forward::start(&kubeconfig, local)?;
    let forwarded = SocketAddr::from(([127, 0, 0, 1], local));

    println!(
        "bench-portforward: {} MiB per download, {} rounds, kubectl {}",
        a.mib,
        a.rounds,
        rudder_tests::kubectl_bin().display()
    );
    let mib = a.mib as f64;
    let kubectl_pid = forward.0.id();
    let rudderd_pid = node.cluster.as_ref().and_then(|c| c.nodes[0].pid());
    let (mut d_rates, mut f_rates) = (Vec::new(), Vec::new());
    // CPU seconds: the machine during direct and forwarded downloads; kubectl, rudderd
    // during forwarded ones.
    let mut cpu = Cpu::default();
    for round in 1..=a.rounds {
        let m0 = machine_busy_seconds()?;
        let (n, d) = download(direct).await?;
        let m1 = machine_busy_seconds()?;
        anyhow::ensure!(n == a.mib << 20, "direct: {n} bytes");
        let k0 = cpu_seconds(kubectl_pid)?;
        let r0 = rudderd_pid.map(cpu_seconds).transpose()?.unwrap_or(0.0);
        let (m, f) = download(forwarded).await?;
        let m2 = machine_busy_seconds()?;
        cpu.kubectl += cpu_seconds(kubectl_pid)? - k0;
        cpu.rudderd += rudderd_pid.map(cpu_seconds).transpose()?.unwrap_or(0.0) - r0;
        cpu.direct += m1 - m0;
        cpu.forward += m2 - m1;
        anyhow::ensure!(m == a.mib << 20, "port-forward: {m} bytes");
        let (dr, fr) = (mib / d.as_secs_f64(), mib / f.as_secs_f64());
        println!("  round {round}: direct {dr:8.1} MiB/s   port-forward {fr:8.1} MiB/s");
        d_rates.push(dr);
        f_rates.push(fr);
    }
    let (d, f) = (median(&mut d_rates), median(&mut f_rates));
    let ratio = f / d;
    println!(
        "median: direct {d:.1} MiB/s, port-forward {f:.1} MiB/s, ratio {ratio:.2} (target >= {TARGET_RATIO}: {})",
        if ratio >= TARGET_RATIO { "met" } else { "MISSED" }
    );
    bench_record::record("portforward.download.throughput", f, Some(d), "MiB/s");
    cpu.report(mib * a.rounds as f64 / 1024.0, d);
    Ok(())
}

/// CPU seconds spent over all rounds (see the module docs).
#[derive(Default)]
struct Cpu {
    direct: f64,
    forward: f64,
    kubectl: f64,
    rudderd: f64,
}

impl Cpu {
    /// Prints and records the costs per GiB of `gib` GiB downloaded each way, and the
    /// bound they put on the forwarded throughput next to `direct` (MiB/s).
    fn report(&self, gib: f64, direct: f64) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let per = |s: f64| s / gib;
        let bound = cores / per(self.forward) * 1024.0;
        println!(
            "CPU seconds per GiB: direct {:.2} (machine), port-forward {:.2} (machine) of \
             which kubectl {:.2}, rudderd {:.2}",
            per(self.direct),
            per(self.forward),
            per(self.kubectl),
            per(self.rudderd)
        );
        println!(
            "on {cores} cores the forwarded path's cost allows at most {bound:.0} MiB/s \
             ({:.2}x direct); kubectl alone takes {:.0} % of it",
            bound / direct,
            100.0 * self.kubectl / self.forward
        );
        bench_record::record(
            "portforward.cpu_per_gib",
            per(self.forward),
            Some(per(self.direct)),
            "s",
        );
        bench_record::record(
            "portforward.kubectl_cpu_per_gib",
            per(self.kubectl),
            Some(per(self.forward)),
            "s",
        );
    }
}
