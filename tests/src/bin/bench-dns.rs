//! `bench-dns`: queries per second and p99 latency of the cluster DNS (`dns` actor) next
//! to a stock resolver (Debian's `dnsmasq`) serving the same names from a static zone,
//! with the same client in the same run.
//!
//! One `rudderd` (both roles), `SERVICES` Services in `default`; `dnsmasq` with one
//! `--host-record` per Service name (its cluster IP, TTL 5, no upstream, no cache of
//! anything else). The client is `CONCURRENCY` UDP sockets, each sending A queries for
//! the Service names in turn back to back for `ROUND`; rounds alternate between the two
//! servers, `ROUNDS` each, so drift in the machine's load hits both alike. Prints
//! queries/s, p50 and p99 of each and the ratio (target: rudder >= 0.8x dnsmasq).
//!
//! Two modes:
//! - default: fake kubelet runtime, `[dns] listen` on 127.0.0.1, dnsmasq on another
//!   127.0.0.1 port, the client on the host;
//! - `--from-pod`: real Docker and the packet-filter proxy; the client runs in a pod's
//!   network namespace (this program again, under `nsenter --net`), and asks what a pod
//!   asks: `kube-dns` at 10.96.0.10:53, which the proxy steers to the node's own `dns`
//!   actor; dnsmasq listens on the pod network's gateway address, one hop from the pod.
//!   Needs root and Docker.
//!
//! ```text
//! scripts/bench-dns.sh [--from-pod]   # installs dnsmasq, builds release, runs
//! ```

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use rudder_protocol::resources::{Service, ServicePort};
use rudder_tests::dns::query_on;
use rudder_tests::{bench_record, eventually, Cluster, NodeProc};
use tokio::net::UdpSocket;

const SERVICES: usize = 50;
const CONCURRENCY: usize = 8;
const ROUND: Duration = Duration::from_secs(1);
const ROUNDS: usize = 5;

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One round against `server`: (answered queries, failed ones, latencies).
async fn round(
    server: SocketAddr,
    names: &[String],
) -> anyhow::Result<(usize, usize, Vec<Duration>)> {
    let mut tasks = Vec::new();
    for c in 0..CONCURRENCY {
        let names = names.to_vec();
        tasks.push(tokio::spawn(async move {
            let local = if server.ip().is_loopback() {
                "127.0.0.1:0"
            } else {
                "0.0.0.0:0"
            };
            let sock = UdpSocket::bind(local).await?;
            sock.connect(server).await?;
            let (mut ok, mut failed, mut lat) = (0usize, 0usize, Vec::new());
            let start = Instant::now();
            let mut i = c;
            while start.elapsed() < ROUND {
                let t = Instant::now();
                let id = (i & 0xffff) as u16;
                match query_on(
                    &sock,
                    &names[i % names.len()],
                    RecordType::A,
                    id,
                    Duration::from_millis(500),
                )
                .await
                {
                    Ok(m)
                        if m.response_code() == ResponseCode::NoError
                            && !m.answers().is_empty() =>
                    {
                        ok += 1;
                        lat.push(t.elapsed());
                    }
                    _ => failed += 1,
                }
                i += CONCURRENCY;
            }
            Ok::<_, anyhow::Error>((ok, failed, lat))
        }));
    }
    let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        let (o, f, l) = t.await??;
        ok += o;
        failed += f;
        lat.extend(l);
    }
    Ok((ok, failed, lat))
}

/// Creates the Services; their names and cluster IPs.
async fn create_services(
    client: &rudder_protocol::client::Client,
) -> anyhow::Result<Vec<(String, String)>> {
    let services = client.api::<Service>(Some("default"));
    let mut records = Vec::new();
    for i in 0..SERVICES {
        let mut s = Service::new(format!("svc-{i}"));
        s.spec.ports = vec![ServicePort {
            name: "http".into(),
            port: 80,
            ..Default::default()
        }];
        let created = eventually(Duration::from_secs(30), || {
            let (services, s) = (services.clone(), s.clone());
            async move { Ok(services.create(&s).await.ok()) }
        })
        .await?
        .0;
        records.push((
            format!("svc-{i}.default.svc.cluster.local."),
            created.spec.cluster_ip.clone(),
        ));
    }
    Ok(records)
}

/// Waits until `server` answers for `name`.
async fn answers(server: SocketAddr, name: &str) -> anyhow::Result<()> {
    eventually(Duration::from_secs(30), || async move {
        let m =
            rudder_tests::dns::query(server, name, RecordType::A, 1, Duration::from_millis(200))
                .await;
        Ok(m.ok().filter(|m| !m.answers().is_empty()).map(|_| ()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{server} never answered for {name}: {e}"))?;
    Ok(())
}

/// dnsmasq on `address:port` with `records`.
fn start_dnsmasq(
    address: &str,
    port: u16,
    records: &[(String, String)],
) -> anyhow::Result<std::process::Child> {
    let mut args = vec![
        "--keep-in-foreground".to_owned(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--bind-interfaces".into(),
        format!("--listen-address={address}"),
        format!("--port={port}"),
        "--local-ttl=5".into(),
        "--pid-file=".into(),
        "--user=root".into(),
        "--local=/cluster.local/".into(),
    ];
    for (n, ip) in records {
        args.push(format!("--host-record={},{ip}", n.trim_end_matches('.')));
    }
    Command::new("dnsmasq")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("cannot start dnsmasq (scripts/bench-dns.sh installs it): {e}")
        })
}

/// The measurement: waits for both servers, alternates rounds, prints the table and
/// records its figures under `dns.<from>` (`host` or `pod`: where the client ran).
async fn measure(
    from: &str,
    rudder: SocketAddr,
    mask: SocketAddr,
    names: &[String],
) -> anyhow::Result<()> {
    let last = names.last().cloned().unwrap_or_default();
    answers(rudder, &last).await?;
    answers(mask, &last).await?;
    let mut totals = [(0usize, 0usize, Vec::new()), (0usize, 0usize, Vec::new())];
    for _ in 0..ROUNDS {
        for (slot, server) in [rudder, mask].into_iter().enumerate() {
            let (ok, failed, lat) = round(server, names).await?;
            totals[slot].0 += ok;
            totals[slot].1 += failed;
            totals[slot].2.extend(lat);
        }
    }
    let secs = (ROUND * ROUNDS as u32).as_secs_f64();
    let mut qps = [0.0; 2];
    let mut p99_ms = [0.0; 2];
    for (slot, label) in ["rudder dns", "dnsmasq"].into_iter().enumerate() {
        let (ok, failed, lat) = &mut totals[slot];
        qps[slot] = *ok as f64 / secs;
        p99_ms[slot] = percentile(lat, 0.99).as_secs_f64() * 1e3;
        println!(
            "{label:<11} {:>9.0} queries/s  p50 {:>7.3} ms  p99 {:>7.3} ms  failed {failed}",
            qps[slot],
            percentile(lat, 0.50).as_secs_f64() * 1e3,
            p99_ms[slot],
        );
    }
    println!(
        "ratio rudder/dnsmasq: {:.2}x (target >= 0.8x); {CONCURRENCY} clients, {} names, {ROUNDS} x {ROUND:?} rounds each; rudder at {rudder}, dnsmasq at {mask}",
        qps[0] / qps[1].max(1e-9),
        names.len()
    );
    bench_record::record(
        &format!("dns.{from}.throughput"),
        qps[0],
        Some(qps[1]),
        "queries/s",
    );
    bench_record::record(&format!("dns.{from}.p99"), p99_ms[0], Some(p99_ms[1]), "ms");
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // The client half of --from-pod, inside the pod's network namespace.
        Some("--client") => {
            let [_, rudder, mask, names] = args.as_slice() else {
                anyhow::bail!("usage: bench-dns --client RUDDER_ADDR DNSMASQ_ADDR NAMES_FILE");
            };
            let names: Vec<String> = std::fs::read_to_string(names)?
                .lines()
                .map(str::to_owned)
                .collect();
            measure("pod", rudder.parse()?, mask.parse()?, &names).await
        }
        Some("--from-pod") => from_pod().await,
        None => from_host().await,
        Some(other) => anyhow::bail!("unknown argument {other} (--from-pod, or none)"),
    }
}

/// From a pod: real Docker, the client in the pod's network namespace.
async fn from_pod() -> anyhow::Result<()> {
    use rudder_tests::services::{client_pod, docker, DockerNode};
    let node = DockerNode::start_with(
        "bench-dns-pod",
        "iptables",
        "[dns]\nupstreams = [\"127.0.0.1:9\"]\n",
    )
    .await?;
    let records = create_services(&node.client).await?;
    node.api::<rudder_protocol::resources::Pod>()
        .create(&client_pod("dns-client", &node.name))
        .await?;
    let (container, _) = eventually(Duration::from_secs(90), || async {
        Ok(node.container_of("dns-client", "app"))
    })
    .await?;
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &container])
        .ok_or_else(|| anyhow::anyhow!("cannot inspect the client pod's container"))?;
    let subnet = docker(&[
        "network",
        "inspect",
        &format!("rudder-{}", node.name),
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
    ])
    .ok_or_else(|| anyhow::anyhow!("cannot inspect the pod network"))?;
    // Docker gives a bridge the first address of its subnet.
    let network: std::net::Ipv4Addr = subnet
        .trim()
        .split('/')
        .next()
        .unwrap_or_default()
        .parse()?;
    let gateway = std::net::Ipv4Addr::from(u32::from(network) + 1);
    let mask_port = std::net::UdpSocket::bind((gateway, 0))?
        .local_addr()?
        .port();
    let mut dnsmasq = start_dnsmasq(&gateway.to_string(), mask_port, &records)?;
    let names_file = std::env::temp_dir().join(format!("bench-dns-names-{}", std::process::id()));
    let names: Vec<&str> = records.iter().map(|(n, _)| n.as_str()).collect();
    std::fs::write(&names_file, names.join("\n"))?;
    println!(
        "from pod dns-client (pid {}), pod network {}: rudder via kube-dns 10.96.0.10:53, dnsmasq at {gateway}:{mask_port}",
        pid.trim(),
        subnet.trim()
    );
    let status = tokio::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", pid.trim()))
        .arg(std::env::current_exe()?)
        .args([
            "--client",
            "10.96.0.10:53",
            &format!("{gateway}:{mask_port}"),
        ])
        .arg(&names_file)
        .status()
        .await;
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    let _ = std::fs::remove_file(&names_file);
    drop(node);
    let status = status.map_err(|e| anyhow::anyhow!("cannot run nsenter: {e}"))?;
    anyhow::ensure!(status.success(), "the client in the pod failed: {status}");
    Ok(())
}

/// From the host: fake runtime, both servers on 127.0.0.1.
async fn from_host() -> anyhow::Result<()> {
    // The cluster DNS on 127.0.0.1.
    let dns_port = free_udp_port()?;
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", "bench-dns");
    let text = std::fs::read_to_string(&spec.config)?;
    let config = spec.data_dir.with_extension("toml");
    std::fs::create_dir_all(config.parent().unwrap_or(std::path::Path::new(".")))?;
    std::fs::write(
        &config,
        format!(
            "{text}\n[dns]\nlisten = \"127.0.0.1:{dns_port}\"\nupstreams = [\"127.0.0.1:9\"]\n"
        ),
    )?;
    spec.config = config;
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    let records = create_services(&client).await?;
    let names: Vec<String> = records.iter().map(|(n, _)| n.clone()).collect();
    let rudder: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let mask_port = free_udp_port()?;
    let mut dnsmasq = start_dnsmasq("127.0.0.1", mask_port, &records)?;
    let mask: SocketAddr = ([127, 0, 0, 1], mask_port).into();
    let result = measure("host", rudder, mask, &names).await;
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    result
}
