//! `bench-dns`: queries per second and p99 latency of the cluster DNS (`dns` actor) next
//! to a stock resolver (Debian's `dnsmasq`) serving the same names from a static zone,
//! with the same client in the same run.
//!
//! One `rudderd` (both roles, fake kubelet runtime: no pods are needed, only Services)
//! with `[dns] listen` on 127.0.0.1, `SERVICES` Services in `default`; `dnsmasq` on
//! another 127.0.0.1 port with one `--host-record` per Service name (its cluster IP, TTL
//! 5, no upstream, no cache of anything else). The client is `CONCURRENCY` UDP sockets
//! on the host, each sending A queries for the Service names in turn back to back for
//! `ROUND`; rounds alternate between the two servers, `ROUNDS` each, so drift in the
//! machine's load hits both alike. Measured from the host against the node-local listen
//! address, not from inside a pod. Prints queries/s, p50 and p99 of each and the ratio
//! (target: rudder >= 0.8x dnsmasq).
//!
//! ```text
//! scripts/bench-dns.sh          # installs dnsmasq, builds, runs
//! ```

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use rudder_protocol::resources::{Service, ServicePort};
use rudder_tests::dns::query_on;
use rudder_tests::{eventually, Cluster, NodeProc};
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
            let sock = UdpSocket::bind("127.0.0.1:0").await?;
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
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
    let names: Vec<String> = records.iter().map(|(n, _)| n.clone()).collect();
    let rudder: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let last = names[names.len() - 1].clone();
    eventually(Duration::from_secs(30), || {
        let last = last.clone();
        async move {
            let m = rudder_tests::dns::query(
                rudder,
                &last,
                RecordType::A,
                1,
                Duration::from_millis(200),
            )
            .await;
            Ok(m.ok().filter(|m| !m.answers().is_empty()).map(|_| ()))
        }
    })
    .await?;

    // dnsmasq with the same names.
    let mask_port = free_udp_port()?;
    let mut args = vec![
        "--keep-in-foreground".to_owned(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--bind-interfaces".into(),
        "--listen-address=127.0.0.1".into(),
        format!("--port={mask_port}"),
        "--local-ttl=5".into(),
        "--pid-file=".into(),
        "--user=root".into(),
        "--local=/cluster.local/".into(),
    ];
    for (n, ip) in &records {
        args.push(format!("--host-record={},{ip}", n.trim_end_matches('.')));
    }
    let mut dnsmasq = Command::new("dnsmasq")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("cannot start dnsmasq (scripts/bench-dns.sh installs it): {e}")
        })?;
    let mask: SocketAddr = ([127, 0, 0, 1], mask_port).into();
    let ready = eventually(Duration::from_secs(10), || {
        let last = last.clone();
        async move {
            let m =
                rudder_tests::dns::query(mask, &last, RecordType::A, 1, Duration::from_millis(200))
                    .await;
            Ok(m.ok().filter(|m| !m.answers().is_empty()).map(|_| ()))
        }
    })
    .await;
    if let Err(e) = ready {
        let _ = dnsmasq.kill();
        return Err(e);
    }

    let mut totals = [(0usize, 0usize, Vec::new()), (0usize, 0usize, Vec::new())];
    for _ in 0..ROUNDS {
        for (slot, server) in [rudder, mask].into_iter().enumerate() {
            let (ok, failed, lat) = round(server, &names).await?;
            totals[slot].0 += ok;
            totals[slot].1 += failed;
            totals[slot].2.extend(lat);
        }
    }
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    let secs = (ROUND * ROUNDS as u32).as_secs_f64();
    let mut qps = [0.0; 2];
    for (slot, label) in ["rudder dns", "dnsmasq"].into_iter().enumerate() {
        let (ok, failed, lat) = &mut totals[slot];
        qps[slot] = *ok as f64 / secs;
        println!(
            "{label:<11} {:>9.0} queries/s  p50 {:>7.3} ms  p99 {:>7.3} ms  failed {failed}",
            qps[slot],
            percentile(lat, 0.50).as_secs_f64() * 1e3,
            percentile(lat, 0.99).as_secs_f64() * 1e3,
        );
    }
    println!(
        "ratio rudder/dnsmasq: {:.2}x (target >= 0.8x); {CONCURRENCY} clients, {SERVICES} names, {ROUNDS} x {ROUND:?} rounds each",
        qps[0] / qps[1].max(1e-9)
    );
    Ok(())
}
