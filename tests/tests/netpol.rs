//! NetworkPolicy on real Docker: one `rudderd` node (both roles, packet-filter proxy), a
//! web pod in `default` and a client pod in each of two other namespaces, `allowed`
//! (label `team=allowed`) and `blocked`. Requests are HTTP over busybox `nc` inside the
//! client pods (`docker exec`), to the web pod's IP and to its Service's cluster IP.
//!
//! - without a policy both clients reach the web pod;
//! - with a default-deny ingress policy in `default` and a policy letting the `allowed`
//!   namespace in on the web pod's named port `http`, the `blocked` client is refused
//!   (directly and through the Service) and the `allowed` one still gets through;
//! - the node's filter chains are its own (`RUDDER-<owner>-*` in the filter table);
//! - deleting the policies restores traffic from `blocked`;
//! - stopping the node removes the chains with the proxy's;
//! - egress: a client pod whose egress a policy governs reaches only the pods its rules
//!   name (a pod selector and port, directly and through the Service), then only an
//!   `ipBlock` minus its `except`; without the policy it reaches everything again.
//!
//! iptables rules are machine-wide: the test is in the nextest group
//! `proxy-packet-filter`. Without Docker or root it prints a loud SKIP and returns.

use std::time::Duration;

use rudder_protocol::resources::{
    Container, ContainerPort, IntOrString, Namespace, NetworkPolicy, Pod, Service, ServicePort,
};
use rudder_tests::eventually;
use rudder_tests::services::{
    client_pod, docker, docker_available, packet_filter_available, DockerNode, HTTP_PORT,
};

/// The web pod: busybox httpd serving its hostname on [`HTTP_PORT`], a port named `http`.
fn web_pod(node: &str) -> Pod {
    server_pod("web", node)
}

/// A pod `name` (label `app=<name>`) serving its hostname on [`HTTP_PORT`] (port `http`).
fn server_pod(name: &str, node: &str) -> Pod {
    let mut p = Pod::new(name);
    p.metadata.labels = [("app".to_owned(), name.to_owned())].into();
    p.spec.node_name = node.to_owned();
    p.spec.termination_grace_period_seconds = Some(1);
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("hostname > /www/index.html; exec httpd -f -p {HTTP_PORT} -h /www"),
        ],
        ports: vec![ContainerPort {
            name: "http".into(),
            container_port: i32::from(HTTP_PORT),
            ..Default::default()
        }],
        ..Default::default()
    }];
    p
}

fn namespace(name: &str, team: &str) -> Namespace {
    let mut n = Namespace::new(name);
    n.metadata.labels = [("team".to_owned(), team.to_owned())].into();
    n
}

fn policy(name: &str, spec: serde_json::Value) -> anyhow::Result<NetworkPolicy> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))?)
}

/// The last line `nc` in `container` gets for `GET /` from `addr` (`ip:port`) within
/// 2 s; `None` when `docker exec` itself failed (no answer either way). (busybox-static's
/// `wget` crashes in its resolver even for an address.)
fn fetch(container: &str, addr: &str) -> Option<String> {
    let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, "80"));
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port} | tail -n 1");
    docker(&["exec", container, "sh", "-c", &script])
}

/// Whether `container` gets a server pod's page (its hostname: `web`, `other`) from
/// `addr`; `None` when it could not be asked.
fn fetches(container: &str, addr: &str) -> Option<bool> {
    fetch(container, addr).map(|got| ["web", "other"].contains(&got.trim()))
}

/// The Rudder and Docker rules of the filter table, for failure messages.
fn rules() -> Vec<String> {
    filter_table()
        .lines()
        .filter(|l| l.contains("RUDDER") || l.contains("DOCKER-USER") || l.contains("-A FORWARD"))
        .map(str::to_owned)
        .collect()
}

/// Waits (60 s at most) until fetching from `addr` in `container` succeeds (`want`) or
/// fails; then checks it stays so for two more tries.
async fn settles(container: &str, addr: &str, want: bool) -> anyhow::Result<()> {
    eventually(Duration::from_secs(60), || async {
        Ok((fetches(container, addr) == Some(want)).then_some(()))
    })
    .await
    .map_err(|e| {
        let got = fetch(container, addr);
        anyhow::anyhow!(
            "{addr} from {container}: never {want}: {e}; last answer {got:?}; rules: {:#?}",
            rules()
        )
    })?;
    let mut checked = 0;
    for _ in 0..6 {
        match fetches(container, addr) {
            Some(got) if got == want => checked += 1,
            Some(_) => anyhow::bail!(
                "{addr} from {container} flipped back from {want}; rules: {:#?}",
                rules()
            ),
            None => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        if checked == 2 {
            return Ok(());
        }
    }
    anyhow::bail!("{addr} from {container}: docker exec keeps failing")
}

/// `result`, with the tail of the node's log added to an error.
fn with_log(node: &DockerNode, result: anyhow::Result<()>) -> anyhow::Result<()> {
    result.map_err(|e| {
        let log = node.log_text();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        anyhow::anyhow!("{e}\nnode log tail:\n{}", tail.join("\n"))
    })
}

fn filter_table() -> String {
    std::process::Command::new("iptables-save")
        .args(["-t", "filter"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_deny_blocks_other_namespaces_and_allows_the_chosen_one() -> anyhow::Result<()> {
    if !docker_available("the NetworkPolicy test")
        || !packet_filter_available("the NetworkPolicy test")
    {
        return Ok(());
    }
    let name = format!("np-{}", std::process::id());
    let node = DockerNode::start(&name, "iptables").await?;
    let c = &node.client;
    for (ns, team) in [("allowed", "allowed"), ("blocked", "blocked")] {
        c.api::<Namespace>(None)
            .create(&namespace(ns, team))
            .await?;
        c.api::<Pod>(Some(ns))
            .create(&client_pod(&format!("client-{ns}"), &name))
            .await?;
    }
    node.api::<Pod>().create(&web_pod(&name)).await?;
    let mut svc = Service::new("web");
    svc.spec.selector = [("app".to_owned(), "web".to_owned())].into();
    svc.spec.ports = vec![ServicePort {
        name: "http".into(),
        port: 80,
        target_port: Some(IntOrString::String("http".into())),
        ..Default::default()
    }];
    let svc = node.api::<Service>().create(&svc).await?;

    let pods = node.api::<Pod>();
    let (web_ip, _) = eventually(Duration::from_secs(90), || async {
        let p = pods.get("web").await?;
        Ok((!p.status.pod_ip.is_empty()).then_some(p.status.pod_ip))
    })
    .await?;
    let mut clients = Vec::new();
    for ns in ["allowed", "blocked"] {
        let (id, _) = eventually(Duration::from_secs(90), || async {
            Ok(node.container_of(&format!("client-{ns}"), "app"))
        })
        .await?;
        clients.push(id);
    }
    let (allowed, blocked) = (&clients[0], &clients[1]);
    let direct = format!("{web_ip}:{HTTP_PORT}");
    let through_service = format!("{}:80", svc.spec.cluster_ip);

    // No policy: everyone gets in.
    let baseline = async {
        settles(allowed, &direct, true).await?;
        settles(blocked, &direct, true).await?;
        settles(blocked, &through_service, true).await
    }
    .await;
    with_log(&node, baseline)?;

    // Default deny for the namespace, and the `allowed` namespace let in on `http`.
    let nps = c.api::<NetworkPolicy>(Some("default"));
    nps.create(&policy(
        "default-deny",
        serde_json::json!({"podSelector": {}}),
    )?)
    .await?;
    nps.create(&policy(
        "from-allowed",
        serde_json::json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"team": "allowed"}}}],
                "ports": [{"port": "http"}],
            }],
        }),
    )?)
    .await?;
    let stored = nps.get("default-deny").await?;
    assert_eq!(
        stored
            .spec
            .policy_types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>(),
        vec!["Ingress"],
        "policyTypes defaulted"
    );
    let enforced = async {
        settles(blocked, &direct, false).await?;
        settles(blocked, &through_service, false).await?;
        settles(allowed, &direct, true).await?;
        settles(allowed, &through_service, true).await
    }
    .await;
    with_log(&node, enforced)?;

    let owner = rudder_actors::proxy::iptables::owner("rudder", &name);
    let table = filter_table();
    assert!(
        table.contains(&format!(":RUDDER-{owner}-NETPOL")),
        "the node's own entry chain:\n{table}"
    );
    assert!(
        table.contains(&format!(
            "-A FORWARD -m comment --comment \"rudder network policies\" -j RUDDER-{owner}-NETPOL"
        )),
        "FORWARD jumps into the policies too (while Docker moves its own jump):\n{table}"
    );
    assert!(
        table.contains(&format!("-d {web_ip}/32")),
        "the web pod is filtered:\n{table}"
    );

    // Without the policies, traffic flows again.
    nps.delete("from-allowed").await?;
    nps.delete("default-deny").await?;
    let lifted = async {
        settles(blocked, &direct, true).await?;
        settles(blocked, &through_service, true).await
    }
    .await;
    with_log(&node, lifted)?;

    drop(node);
    let table = filter_table();
    assert!(
        !table.contains(&format!("RUDDER-{owner}-")),
        "the node's chains outlived it:\n{table}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_rules_limit_where_a_pod_may_connect() -> anyhow::Result<()> {
    if !docker_available("the NetworkPolicy egress test")
        || !packet_filter_available("the NetworkPolicy egress test")
    {
        return Ok(());
    }
    let name = format!("npe-{}", std::process::id());
    let node = DockerNode::start(&name, "iptables").await?;
    let pods = node.api::<Pod>();
    pods.create(&server_pod("web", &name)).await?;
    pods.create(&server_pod("other", &name)).await?;
    let mut client = client_pod("client", &name);
    client.metadata.labels = [("role".to_owned(), "client".to_owned())].into();
    pods.create(&client).await?;
    let mut svc = Service::new("web");
    svc.spec.selector = [("app".to_owned(), "web".to_owned())].into();
    svc.spec.ports = vec![ServicePort {
        name: "http".into(),
        port: 80,
        target_port: Some(IntOrString::String("http".into())),
        ..Default::default()
    }];
    let svc = node.api::<Service>().create(&svc).await?;

    let mut ips = Vec::new();
    for pod in ["web", "other"] {
        let (ip, _) = eventually(Duration::from_secs(90), || async {
            let p = pods.get(pod).await?;
            Ok((!p.status.pod_ip.is_empty()).then_some(p.status.pod_ip))
        })
        .await?;
        ips.push(ip);
    }
    let (client, _) = eventually(Duration::from_secs(90), || async {
        Ok(node.container_of("client", "app"))
    })
    .await?;
    let web = format!("{}:{HTTP_PORT}", ips[0]);
    let other = format!("{}:{HTTP_PORT}", ips[1]);
    let web_service = format!("{}:80", svc.spec.cluster_ip);

    let baseline = async {
        settles(&client, &web, true).await?;
        settles(&client, &other, true).await
    }
    .await;
    with_log(&node, baseline)?;

    // Egress to the web pods' `http` port only.
    let nps = node.client.api::<NetworkPolicy>(Some("default"));
    nps.create(&policy(
        "client-egress",
        serde_json::json!({
            "podSelector": {"matchLabels": {"role": "client"}},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                "ports": [{"port": "http"}],
            }],
        }),
    )?)
    .await?;
    let to_web_only = async {
        settles(&client, &other, false).await?;
        settles(&client, &web, true).await?;
        settles(&client, &web_service, true).await
    }
    .await;
    with_log(&node, to_web_only)?;

    // Egress to a block of addresses minus the web pod: now the other way round.
    // The /16 around the pods (a node's pod network may not be the default's).
    let octets: Vec<&str> = ips[1].split('.').collect();
    let block = format!("{}.{}.0.0/16", octets[0], octets[1]);
    let mut np = nps.get("client-egress").await?;
    np.spec = serde_json::from_value(serde_json::json!({
        "podSelector": {"matchLabels": {"role": "client"}},
        "policyTypes": ["Egress"],
        "egress": [{
            "to": [{"ipBlock": {"cidr": block, "except": [format!("{}/32", ips[0])]}}],
        }],
    }))?;
    nps.update(&np).await?;
    let to_the_block = async {
        settles(&client, &web, false).await?;
        settles(&client, &web_service, false).await?;
        settles(&client, &other, true).await
    }
    .await;
    with_log(&node, to_the_block)?;

    nps.delete("client-egress").await?;
    let lifted = async {
        settles(&client, &web, true).await?;
        settles(&client, &other, true).await
    }
    .await;
    with_log(&node, lifted)?;
    Ok(())
}
