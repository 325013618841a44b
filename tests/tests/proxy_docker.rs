//! Services and the proxy on real Docker: one `rudderd` node with both roles running real
//! pods, a Deployment of two demo backends (each answers with its pod name) behind a
//! NodePort Service, in both proxy modes.
//!
//! - packet filter (iptables, needs root): from a third pod (`docker exec`, busybox `nc`)
//!   requests to `clusterIP:80` reach both backends; the node port answers on
//!   127.0.0.1 and reaches both; scaling to one backend stops traffic to the removed one
//!   within a second of its deletion (Kubernetes' start point: the pod's
//!   deletionTimestamp, which is also when it leaves the Endpoints).
//! - forwarding: the same for the node port on 127.0.0.1, from the host.
//!
//! The removed backend ignores SIGTERM and keeps serving through its grace period, so
//! traffic stops reaching it only because the proxy stopped sending it there (checked).
//!
//! iptables rules are machine-wide: the packet-filter case is one test function, in the
//! nextest group `proxy-packet-filter` (one at a time, `.config/nextest.toml`), and it
//! removes its node's `RUDDER-<owner>-*` chains at the end. Without Docker (or, for the packet filter,
//! without root) a test prints a loud SKIP and returns.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rudder_protocol::resources::{Deployment, Endpoints, Pod, Service};
use rudder_tests::eventually;
use rudder_tests::services::{
    backends, client_pod, docker_available, free_node_port, http_id, node_port_service,
    packet_filter_available, scale, wait_backends, watch_removal, DockerNode, Sampler, HTTP_PORT,
    SERVICE_PORT,
};

/// The bound the issue sets on how long a removed backend may still get traffic.
const SCALE_DOWN_BOUND: Duration = Duration::from_secs(1);

/// Which backends answered among `samples`, and how many requests failed.
fn reached(samples: &[(Instant, Option<String>)]) -> (BTreeSet<String>, usize) {
    let ids = samples.iter().filter_map(|(_, id)| id.clone()).collect();
    let failed = samples.iter().filter(|(_, id)| id.is_none()).count();
    (ids, failed)
}

/// Waits (up to `timeout`) until `sampler` has seen every name in `want` answer.
async fn wait_reaches(
    sampler: &Sampler,
    want: &BTreeSet<String>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let (ids, _) = reached(&sampler.samples());
        if want.is_subset(&ids) {
            anyhow::ensure!(
                ids.is_subset(want),
                "traffic reached unknown backends: {ids:?} (want {want:?})"
            );
            return Ok(());
        }
        if start.elapsed() > timeout {
            let n = sampler.samples().len();
            anyhow::bail!("after {n} requests only {ids:?} answered; want {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Scales `app` from two backends to one while `sampler` keeps sending requests; checks
/// that the removed backend gets no request later than [`SCALE_DOWN_BOUND`] after its
/// deletion, that every request from then on reaches the survivor, and that the removed
/// backend was still serving (so the proxy, not its death, stopped the traffic).
async fn check_scale_down(
    node: &DockerNode,
    app: &str,
    backends_before: &[(String, String)],
    sampler: &Sampler,
    mode: &str,
) -> anyhow::Result<()> {
    scale(&node.api::<Deployment>(), app, 1).await?;
    let (victim, deleted, removed) = watch_removal(
        &node.api::<Pod>(),
        &node.api::<Endpoints>(),
        app,
        app,
        Duration::from_secs(60),
    )
    .await?;
    let t0 = deleted.min(removed);
    let settled = t0 + SCALE_DOWN_BOUND;
    let after = sampler.wait_for(settled, 30, Duration::from_secs(60)).await;
    anyhow::ensure!(
        after.len() >= 30,
        "only {} requests answered in the minute after the scale-down",
        after.len()
    );
    let samples = sampler.samples();
    let last_to_victim = samples
        .iter()
        .filter(|(t, id)| *t >= t0 && id.as_deref() == Some(victim.as_str()))
        .map(|(t, _)| *t)
        .max();
    let delay = last_to_victim.map_or(Duration::ZERO, |t| t - t0);
    let survivor: Vec<&String> = backends_before
        .iter()
        .map(|(n, _)| n)
        .filter(|n| **n != victim)
        .collect();
    let requests_after_t0 = samples.iter().filter(|(t, _)| *t >= t0).count();
    println!(
        "[{mode}] scale-down: last request to the removed backend {victim} {:.0} ms after its \
         deletion was seen (endpoint removal seen at +{:.0} ms; {requests_after_t0} requests \
         since)",
        delay.as_secs_f64() * 1e3,
        (removed - t0).as_secs_f64() * 1e3,
    );
    anyhow::ensure!(
        delay <= SCALE_DOWN_BOUND,
        "the removed backend still got traffic {delay:?} after its deletion"
    );
    let (ids, failed) = reached(&after);
    anyhow::ensure!(
        failed == 0 && ids.len() == 1 && survivor.iter().all(|s| ids.contains(*s)),
        "after the bound, requests reached {ids:?} with {failed} failures; want only {survivor:?}"
    );
    // The removed backend still serves (it ignores SIGTERM through its grace period).
    let victim_ip = &backends_before
        .iter()
        .find(|(n, _)| *n == victim)
        .expect("victim is one of the backends")
        .1;
    let addr = SocketAddr::new(victim_ip.parse()?, HTTP_PORT);
    let still = http_id(addr, Duration::from_secs(3)).await?;
    anyhow::ensure!(
        still == victim,
        "the removed backend answered {still:?} directly"
    );
    Ok(())
}

/// Deploys `app` (two backends) behind a NodePort Service; returns the backends
/// (name, IP), the Service and its node port.
async fn deploy(
    node: &DockerNode,
    app: &str,
) -> anyhow::Result<(Vec<(String, String)>, Service, u16)> {
    node.api::<Deployment>().create(&backends(app, 2)).await?;
    let np = free_node_port();
    let svc = node
        .api::<Service>()
        .create(&node_port_service(app, app, np))
        .await?;
    let pods = wait_backends(&node.api::<Pod>(), app, 2, 180).await?;
    println!(
        "backends: {pods:?}; service {} node port {np}",
        svc.spec.cluster_ip
    );
    Ok((pods, svc, np))
}

fn names(pods: &[(String, String)]) -> BTreeSet<String> {
    pods.iter().map(|(n, _)| n.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn packet_filter_cluster_ip_node_port_and_scale_down() -> anyhow::Result<()> {
    let what = "the packet-filter Service test";
    if !docker_available(what) || !packet_filter_available(what) {
        return Ok(());
    }
    let name = format!("pxpf-{}", std::process::id());
    let node = DockerNode::start(&name, "iptables").await?;
    let result = async {
        let app = "web-pf";
        let (pods, svc, np) = deploy(&node, app).await?;
        node.api::<Pod>()
            .create(&client_pod("client", &node.name))
            .await?;
        let (container, _) = eventually(Duration::from_secs(120), || async {
            Ok(node.container_of("client", "app"))
        })
        .await?;
        let want = names(&pods);

        // From a third pod, to the cluster IP: both backends answer.
        let via_cluster_ip =
            Sampler::from_container(&container, &svc.spec.cluster_ip, SERVICE_PORT)?;
        wait_reaches(&via_cluster_ip, &want, Duration::from_secs(60)).await?;

        // The node port answers on 127.0.0.1, from both backends.
        let local = SocketAddr::from(([127, 0, 0, 1], np));
        let via_node_port = Sampler::from_host(local);
        wait_reaches(&via_node_port, &want, Duration::from_secs(60)).await?;
        drop(via_node_port);

        check_scale_down(&node, app, &pods, &via_cluster_ip, "packet filter").await
    }
    .await;
    if result.is_err() {
        eprintln!("node log tail:\n{}", tail(&node.log_text(), 40));
    }
    drop(node);
    let left = std::process::Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()?;
    let left = String::from_utf8_lossy(&left.stdout).into_owned();
    result?;
    anyhow::ensure!(
        !left.contains("RUDDER-"),
        "Rudder's iptables rules were not removed:\n{left}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarding_node_port_and_scale_down() -> anyhow::Result<()> {
    if !docker_available("the forwarding Service test") {
        return Ok(());
    }
    let name = format!("pxfw-{}", std::process::id());
    let node = DockerNode::start(&name, "forwarding").await?;
    let result = async {
        let app = "web-fw";
        let (pods, _svc, np) = deploy(&node, app).await?;
        let local = SocketAddr::from(([127, 0, 0, 1], np));
        let via_node_port = Sampler::from_host(local);
        wait_reaches(&via_node_port, &names(&pods), Duration::from_secs(60)).await?;
        check_scale_down(&node, app, &pods, &via_node_port, "forwarding").await
    }
    .await;
    if result.is_err() {
        eprintln!("node log tail:\n{}", tail(&node.log_text(), 40));
    }
    result
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
