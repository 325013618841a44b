//! The cluster DNS on real Docker: one `rudderd` node (both roles, packet-filter proxy)
//! whose pods resolve names through `kube-dns` (10.96.0.10), which the proxy steers to
//! the node's own `dns` actor. Queries run inside a busybox pod (`docker exec` of
//! busybox `nslookup`, which reads the pod's resolv.conf and search path).
//!
//! - a Service by its short name, another namespace's by its full name;
//! - a headless Service (every ready pod of a StatefulSet), its SRV records for a named
//!   port, and a StatefulSet pod's stable name `db-0.db.default.svc.cluster.local`;
//! - a missing name is NXDOMAIN;
//! - a name outside the cluster domain is answered by a fake upstream the test runs on
//!   127.0.0.1 (`[dns] upstreams`), never a real resolver;
//! - killing the `dns` actor: queries resume within 1 s of its restart.
//!
//! iptables rules are machine-wide: the test is in the nextest group
//! `proxy-packet-filter` and removes its own `RUDDER-<owner>-*` chains at the end. Without Docker or
//! root it prints a loud SKIP and returns.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use rudder_protocol::messages::chaos::{ActorState, ChaosReply, ChaosRequest};
use rudder_protocol::resources::{
    Container, Endpoints, Namespace, Pod, Service, ServicePort, StatefulSet,
};
use rudder_protocol::ActorRef;
use rudder_tests::dns::{query, FakeUpstream};
use rudder_tests::eventually;
use rudder_tests::services::{
    client_pod, docker, docker_available, packet_filter_available, DockerNode,
};

/// The bound the issue sets on how long queries may fail after the actor's restart.
const RESUME_BOUND: Duration = Duration::from_secs(1);
/// How late the probe itself may see the first answer: its queries time out after 50 ms
/// and pause 10 ms between tries, stretched on a loaded machine (the suite once measured
/// 1.004 s against the 1 s bound).
const PROBE_RESOLUTION: Duration = Duration::from_millis(100);
/// The address the fake upstream gives the outside name.
const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

fn service(name: &str, headless: bool) -> Service {
    let mut s = Service::new(name);
    s.spec.selector = [("app".to_owned(), name.to_owned())].into();
    if headless {
        s.spec.cluster_ip = "None".into();
    }
    s.spec.ports = vec![ServicePort {
        name: "http".into(),
        port: 8080,
        ..Default::default()
    }];
    s
}

fn stateful_set(name: &str) -> StatefulSet {
    let mut s = StatefulSet::new(name);
    s.spec.replicas = Some(2);
    s.spec.service_name = name.into();
    s.spec.selector.match_labels = [("app".to_owned(), name.to_owned())].into();
    s.spec.template.metadata.labels = s.spec.selector.match_labels.clone();
    s.spec.template.spec.termination_grace_period_seconds = Some(1);
    s.spec.template.spec.containers = vec![Container {
        name: "main".into(),
        image: "rudder/demo:1".into(),
        command: vec!["sleep".into(), "100000".into()],
        ..Default::default()
    }];
    s
}

/// Runs busybox `nslookup` with `args` in `container`; its output (stdout and stderr).
fn nslookup(container: &str, args: &[&str]) -> String {
    let mut cmd = vec!["exec", container, "/bin/busybox", "nslookup"];
    cmd.extend(args);
    let out = std::process::Command::new("docker")
        .args(&cmd)
        .output()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .unwrap_or_else(|e| format!("docker exec failed: {e}"));
    out
}

/// Waits (30 s at most) until `nslookup args` in `container` prints every one of `want`.
async fn resolves(container: &str, args: &[&str], want: &[String]) -> anyhow::Result<String> {
    let (out, _) = eventually(Duration::from_secs(30), || async {
        let out = nslookup(container, args);
        Ok(want.iter().all(|w| out.contains(w.as_str())).then_some(out))
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "nslookup {args:?} never printed {want:?}: {e}; last: {}",
            nslookup(container, args)
        )
    })?;
    Ok(out)
}

/// The `dns` actor's state, restart count and uptime on `node`.
async fn dns_actor(node: &DockerNode) -> anyhow::Result<(ActorState, u32, Duration)> {
    let reply = node
        .client
        .call(
            ActorRef::new(node.name.as_str(), "chaos"),
            ChaosRequest::ListActors,
        )
        .await?;
    let ChaosReply::Actors(list) = reply else {
        anyhow::bail!("unexpected reply {reply:?}");
    };
    let a = list
        .iter()
        .find(|a| a.name == "dns")
        .ok_or_else(|| anyhow::anyhow!("no dns actor in {list:?}"))?;
    Ok((a.state, a.restarts, Duration::from_millis(a.uptime_ms)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_resolve_cluster_names_through_the_node_local_dns() -> anyhow::Result<()> {
    if !docker_available("the cluster DNS test") || !packet_filter_available("the cluster DNS test")
    {
        return Ok(());
    }
    let upstream = FakeUpstream::start(vec![("outside.test.".into(), OUTSIDE_IP)]).await?;
    let name = format!("dns-{}", std::process::id());
    let node = DockerNode::start_with(
        &name,
        "iptables",
        &format!("[dns]\nupstreams = [\"{}\"]", upstream.addr),
    )
    .await?;
    let c = &node.client;
    let mut other = Namespace::new("other");
    other.metadata.name = "other".into();
    c.api::<Namespace>(None).create(&other).await?;
    let web = node.api::<Service>().create(&service("web", false)).await?;
    let web_other = c
        .api::<Service>(Some("other"))
        .create(&service("web", false))
        .await?;
    node.api::<Service>().create(&service("db", true)).await?;
    node.api::<StatefulSet>()
        .create(&stateful_set("db"))
        .await?;
    node.api::<Pod>()
        .create(&client_pod("dns-client", &name))
        .await?;

    // Both StatefulSet pods ready behind the headless Service, with their hostnames.
    let eps = node.api::<Endpoints>();
    let (db_ips, _) = eventually(Duration::from_secs(90), || async {
        let Ok(e) = eps.get("db").await else {
            return Ok(None);
        };
        let mut by_host: Vec<(String, String)> = e
            .subsets
            .iter()
            .flat_map(|s| s.addresses.iter())
            .map(|a| (a.hostname.clone(), a.ip.clone()))
            .collect();
        by_host.sort();
        Ok((by_host.len() == 2).then_some(by_host))
    })
    .await?;
    let (client, _) = eventually(Duration::from_secs(60), || async {
        Ok(node.container_of("dns-client", "app"))
    })
    .await?;
    let resolv = docker(&["exec", &client, "cat", "/etc/resolv.conf"]).unwrap_or_default();
    assert!(resolv.contains("nameserver 10.96.0.10"), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("ndots:5"), "{resolv}");

    // A Service by its short name (the search path), another namespace's by full name.
    let out = resolves(
        &client,
        &["web"],
        &[
            "web.default.svc.cluster.local".into(),
            web.spec.cluster_ip.clone(),
        ],
    )
    .await?;
    assert!(!out.contains(&web_other.spec.cluster_ip), "{out}");
    resolves(
        &client,
        &["web.other.svc.cluster.local"],
        std::slice::from_ref(&web_other.spec.cluster_ip),
    )
    .await?;
    // Headless: every ready pod's address.
    let ips: Vec<String> = db_ips.iter().map(|(_, ip)| ip.clone()).collect();
    resolves(&client, &["db.default.svc.cluster.local"], &ips).await?;
    // SRV of the named port: one record per pod, by its stable name.
    resolves(
        &client,
        &["-type=srv", "_http._tcp.db.default.svc.cluster.local"],
        &[
            "8080 db-0.db.default.svc.cluster.local".into(),
            "8080 db-1.db.default.svc.cluster.local".into(),
        ],
    )
    .await?;
    // The StatefulSet pod's stable name.
    assert_eq!(db_ips[0].0, "db-0");
    resolves(
        &client,
        &["db-0.db.default.svc.cluster.local"],
        &[db_ips[0].1.clone()],
    )
    .await?;
    // A missing name.
    let out = nslookup(&client, &["nope.default.svc.cluster.local"]);
    assert!(out.contains("NXDOMAIN"), "{out}");
    // Outside the cluster domain: the fake upstream answers.
    let before = upstream.seen();
    resolves(&client, &["outside.test"], &[OUTSIDE_IP.to_string()]).await?;
    assert!(upstream.seen() > before, "the upstream was asked");

    // Kill the dns actor; queries to its node-local address resume within 1 s of the
    // restart.
    let log = node.log_text();
    let listen: SocketAddr = log
        .lines()
        .filter(|l| l.contains("cluster DNS serving"))
        .find_map(|l| {
            // Whatever the log's colouring: the first word after `address` that parses.
            let rest = &l[l.find("address")? + "address".len()..];
            rest.split(|ch: char| !(ch.is_ascii_hexdigit() || ch == '.' || ch == ':'))
                .find_map(|w| w.trim_matches(':').parse::<SocketAddr>().ok())
        })
        .ok_or_else(|| {
            let lines: Vec<&str> = log.lines().filter(|l| l.contains("DNS")).collect();
            anyhow::anyhow!("no 'cluster DNS serving' address in the log: {lines:?}")
        })?;
    assert!(
        !listen.ip().is_loopback(),
        "node-local, reachable from pods: {listen}"
    );
    let (_, restarts_before, _) = dns_actor(&node).await?;
    c.call(
        ActorRef::new(name.as_str(), "chaos"),
        ChaosRequest::KillActor { name: "dns".into() },
    )
    .await?;
    let killed = Instant::now();
    let mut id = 1u16;
    let answered = loop {
        id = id.wrapping_add(1);
        let q = query(
            listen,
            "web.default.svc.cluster.local.",
            RecordType::A,
            id,
            Duration::from_millis(50),
        )
        .await;
        if let Ok(m) = q {
            if m.response_code() == ResponseCode::NoError && !m.answers().is_empty() {
                break Instant::now();
            }
        }
        anyhow::ensure!(
            killed.elapsed() < Duration::from_secs(20),
            "no answer 20 s after the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // The new actor may answer a moment before its supervisor lists it as running.
    let ((restarts, uptime, listed), _) = eventually(Duration::from_secs(10), || async {
        let (state, restarts, uptime) = dns_actor(&node).await?;
        let listed = Instant::now();
        Ok((state == ActorState::Running).then_some((restarts, uptime, listed)))
    })
    .await?;
    assert!(
        restarts > restarts_before,
        "the actor was restarted ({restarts})"
    );
    let restarted = listed - uptime;
    let resumed = answered.saturating_duration_since(restarted);
    eprintln!(
        "dns actor: restarted {:?} after the kill; answering {resumed:?} after its restart",
        restarted.saturating_duration_since(killed)
    );
    assert!(
        resumed <= RESUME_BOUND + PROBE_RESOLUTION,
        "queries resumed {resumed:?} after the restart"
    );
    // And from a pod again.
    resolves(
        &client,
        &["web"],
        std::slice::from_ref(&web.spec.cluster_ip),
    )
    .await?;
    drop(node);
    Ok(())
}

/// Two proxies' packet-filter rule sets on one machine (two clusters, or two nodes):
/// each sync rewrites only its owner's chains, and removing one owner leaves the other's
/// chains and jumps in place. Programs the real nat table (no traffic is sent).
#[test]
fn packet_filter_chains_of_two_owners_coexist() -> anyhow::Result<()> {
    use rudder_actors::proxy::iptables;
    use rudder_actors::proxy::plan::{Desired, Proto, ServicePort as Sp};
    if !packet_filter_available("the packet-filter ownership test") {
        return Ok(());
    }
    let pid = std::process::id();
    let (a, b) = (
        iptables::owner(&format!("test-a-{pid}"), "n1"),
        iptables::owner(&format!("test-b-{pid}"), "n1"),
    );
    let cidr = "10.244.0.0/16".parse()?;
    let desired = |ip: &str, ep: &str| -> anyhow::Result<Desired> {
        let sp = Sp {
            id: "default/web:http".into(),
            proto: Proto::Tcp,
            cluster_ip: Some(ip.parse()?),
            port: 80,
            node_port: None,
            endpoints: vec![ep.parse()?],
            affinity: None,
        };
        Ok([(sp.id.clone(), sp)].into())
    };
    let run = || -> anyhow::Result<()> {
        let mut chains = std::collections::BTreeMap::new();
        for (owner, ip, ep) in [
            (&a, "10.96.200.1", "10.244.200.2:80"),
            (&b, "10.96.200.2", "10.244.200.3:80"),
        ] {
            iptables::ensure_base(owner, cidr)?;
            let existing = iptables::existing_chains(owner)?;
            let (text, want) = iptables::nat_plan(owner, &desired(ip, ep)?, &existing);
            iptables::restore(&text)?;
            chains.insert(owner.clone(), want);
        }
        // A syncs again with a different state: B's chains are untouched.
        let (text, _) = iptables::nat_plan(
            &a,
            &desired("10.96.200.9", "10.244.200.9:80")?,
            &iptables::existing_chains(&a)?,
        );
        iptables::restore(&text)?;
        let have_b = iptables::existing_chains(&b)?;
        for c in &chains[&b] {
            anyhow::ensure!(
                have_b.contains(c),
                "{c} of B disappeared after A's sync: {have_b:?}"
            );
        }
        let save = docker_free_save()?;
        anyhow::ensure!(
            save.contains("--to-destination 10.244.200.3:80"),
            "B's DNAT is gone"
        );
        anyhow::ensure!(
            save.contains("--to-destination 10.244.200.9:80"),
            "A's new DNAT missing"
        );
        anyhow::ensure!(
            !save.contains("--to-destination 10.244.200.2:80"),
            "A's old DNAT left"
        );
        // Removing A leaves B whole, jumps included.
        iptables::remove_owner(&a)?;
        anyhow::ensure!(iptables::existing_chains(&a)?.is_empty(), "A's chains left");
        let save = docker_free_save()?;
        anyhow::ensure!(!save.contains(&format!("RUDDER-{a}-")), "A's jumps left");
        for (_, c) in iptables::jumps(&b) {
            anyhow::ensure!(save.contains(&format!("-j {c}")), "B's jump to {c} gone");
        }
        Ok(())
    };
    let result = run();
    let cleanup = iptables::remove_owner(&a).and(iptables::remove_owner(&b));
    result?;
    cleanup?;
    Ok(())
}

/// `iptables-save -t nat`.
fn docker_free_save() -> anyhow::Result<String> {
    let out = std::process::Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
