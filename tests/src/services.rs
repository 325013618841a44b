//! Services on real Docker, shared by `tests/tests/proxy_docker.rs` and `bench-proxy`.
//!
//! - [`DockerNode`]: one `rudderd` with both roles, real pods (Docker) and a chosen proxy
//!   mode; dropping it stops the node and removes what it left behind: its containers
//!   (label `io.rudder.node=<node>`), its network, and in packet-filter mode its own
//!   `RUDDER-<owner>-*` iptables chains and jumps.
//! - [`backends`], [`node_port_service`], [`client_pod`]: a Deployment of demo pods that
//!   each serve their own hostname (the pod name) on port 8080, a NodePort Service in
//!   front of it, and a pod to `docker exec` into.
//! - [`http_id`]: one HTTP/1.0 request from the host; the answering backend's identity.
//! - [`Sampler`]: a stream of requests (from the host, or from inside a pod through
//!   `docker exec` and busybox `nc`) with the local arrival time of each answer, to see
//!   which backends traffic reaches and when that changes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    ConditionStatus, Container, Deployment, IntOrString, Namespace, Node, Pod, PodPhase, Service,
    ServicePort, ServiceType,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{eventually, rudderctl_bin, Cluster, NodeProc};

/// The port the demo backends serve on.
pub const HTTP_PORT: u16 = 8080;
/// The port the Services expose.
pub const SERVICE_PORT: u16 = 80;
/// How long a deleted backend keeps serving (it ignores SIGTERM) before it is killed.
pub const BACKEND_GRACE_SECONDS: i64 = 20;

/// Runs `docker` with `args`; its stdout when it succeeds.
pub fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True when a Docker engine answers; otherwise prints a loud SKIP naming `what`.
pub fn docker_available(what: &str) -> bool {
    if docker(&["version", "--format", "{{.Server.Version}}"]).is_some() {
        return true;
    }
    eprintln!("\n*** SKIP: no Docker engine reachable; {what} did not run ***\n");
    false
}

/// Removes what Docker holds for test node `node`: its containers, its pods' emptyDir
/// volumes (label `io.rudder.node`) and its `rudder-<node>` network.
pub fn remove_node_leftovers(node: &str) {
    let label = format!("label=io.rudder.node={node}");
    let remove = |list: &[&str], rm: &[&str]| {
        let mut args = list.to_vec();
        args.extend(["--filter", &label]);
        let ids = docker(&args).unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            docker(&[rm, &ids].concat());
        }
    };
    remove(&["ps", "-aq"], &["rm", "-f"]);
    remove(&["volume", "ls", "-q"], &["volume", "rm", "-f"]);
    docker(&["network", "rm", &format!("rudder-{node}")]);
}

/// Runs [`remove_node_leftovers`] for its node when dropped, so a failing test cleans up.
pub struct DockerCleanup(pub String);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        remove_node_leftovers(&self.0);
    }
}

/// Builds the local pod images (`rudder/pause:1`, `rudder/demo:1`) with `rudderctl`.
pub fn build_images() -> anyhow::Result<()> {
    let out = Command::new(rudderctl_bin())
        .args(["images", "build"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "rudderctl images build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Builds the local images and starts node `name` (both roles, real pods on Docker,
/// `env` for the process) from `single-node.toml`; once it is Ready and serves the
/// `default` namespace, the guard that removes its Docker leftovers, the cluster and a
/// client on it.
pub async fn start_pod_node(
    name: &str,
    env: Vec<(String, String)>,
) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    let cleanup = DockerCleanup(name.to_owned());
    build_images()?;
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", name);
    // Real pods: the Docker runtime of the config.
    spec.kubelet_runtime = None;
    spec.env = env;
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    wait_node_ready(&client, name).await?;
    Ok((cleanup, cluster, client))
}

/// Waits (30 s at most) until the node `node` is Ready and the `default` namespace is
/// served.
pub async fn wait_node_ready(client: &Client, node: &str) -> anyhow::Result<()> {
    let (c, node) = (client.clone(), node.to_owned());
    eventually(Duration::from_secs(30), move || {
        let (c, node) = (c.clone(), node.clone());
        async move {
            c.api::<Namespace>(None).get("default").await?;
            let n = c.api::<Node>(None).get(&node).await?;
            let ready = n
                .status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True);
            Ok(ready.then_some(()))
        }
    })
    .await?;
    Ok(())
}

/// The log of a `default` pod's container, read from the kubelet of `node` over the bus,
/// once it is not empty and contains `until` (at most `secs` seconds).
pub async fn kubelet_log_until(
    client: &Client,
    node: &str,
    pod: &str,
    container: &str,
    until: &str,
    secs: u64,
) -> anyhow::Result<String> {
    use rudder_protocol::messages::kubelet::{KubeletReply, KubeletRequest, LogRequest};
    let (log, _) = eventually(Duration::from_secs(secs), || async {
        let reply = client
            .call(
                rudder_protocol::ActorRef::new(node, "kubelet"),
                KubeletRequest::Logs(LogRequest {
                    namespace: "default".into(),
                    pod: pod.into(),
                    container: container.into(),
                    max_bytes: 16 * 1024,
                    ..Default::default()
                }),
            )
            .await?;
        Ok(match reply {
            KubeletReply::Logs { chunk, .. } if !chunk.is_empty() => {
                let text = String::from_utf8_lossy(&chunk).into_owned();
                text.contains(until).then_some(text)
            }
            _ => None,
        })
    })
    .await?;
    Ok(log)
}

/// True when this process may program iptables; otherwise prints a loud SKIP.
pub fn packet_filter_available(what: &str) -> bool {
    if rudder_actors::proxy::iptables::available() {
        return true;
    }
    eprintln!("\n*** SKIP: iptables is not usable here (not root?); {what} did not run ***\n");
    false
}

/// One node with both roles running real pods, and a client on it.
pub struct DockerNode {
    /// The node's name (also the label of its containers).
    pub name: String,
    /// The cluster (one node); `None` once stopped.
    pub cluster: Option<Cluster>,
    /// A client on the node.
    pub client: Client,
    packet_filter: bool,
}

impl DockerNode {
    /// Builds the local images, starts node `name` from `single-node.toml` with the
    /// Docker runtime and `proxy_mode` (`iptables` or `forwarding`), and waits until it
    /// is Ready and serves the `default` namespace.
    pub async fn start(name: &str, proxy_mode: &str) -> anyhow::Result<DockerNode> {
        DockerNode::start_with(name, proxy_mode, "").await
    }

    /// [`DockerNode::start`] with `extra` TOML appended to `single-node.toml` (tables
    /// the file does not have, e.g. `[dns]`).
    pub async fn start_with(
        name: &str,
        proxy_mode: &str,
        extra: &str,
    ) -> anyhow::Result<DockerNode> {
        build_images()?;
        let mut cluster = Cluster::new()?;
        let mut spec = cluster.spec("single-node.toml", name);
        if !extra.is_empty() {
            let text = std::fs::read_to_string(&spec.config)?;
            let path = spec.data_dir.with_extension("toml");
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, format!("{text}\n{extra}\n"))?;
            spec.config = path;
        }
        spec.kubelet_runtime = None;
        spec.proxy_mode = Some(proxy_mode.to_owned());
        let packet_filter = proxy_mode == "iptables";
        cluster.nodes.push(NodeProc::start(spec).await?);
        let client = cluster.nodes[0].client().await?;
        let node = DockerNode {
            name: name.to_owned(),
            cluster: Some(cluster),
            client: client.clone(),
            packet_filter,
        };
        let n = name.to_owned();
        eventually(Duration::from_secs(60), move || {
            let (c, n) = (client.clone(), n.clone());
            async move {
                c.api::<Namespace>(None).get("default").await?;
                let node = c.api::<Node>(None).get(&n).await?;
                let ready = node
                    .status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True);
                Ok(ready.then_some(()))
            }
        })
        .await?; // on failure, dropping `node` cleans up
        Ok(node)
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        self.cluster
            .as_ref()
            .map(|c| c.nodes[0].log_text())
            .unwrap_or_default()
    }

    /// An API handle in the `default` namespace.
    pub fn api<K: rudder_protocol::resources::Resource>(&self) -> Api<K> {
        self.client.api::<K>(Some("default"))
    }

    /// The id of the running container `container` of pod `pod` on this node.
    pub fn container_of(&self, pod: &str, container: &str) -> Option<String> {
        let out = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=io.rudder.node={}", self.name),
            "--filter",
            &format!("label=io.rudder.pod.name={pod}"),
            "--filter",
            &format!("label=io.rudder.container.name={container}"),
        ])?;
        out.split_whitespace().next().map(str::to_owned)
    }

    /// Stops the node and removes its containers, network and (packet filter) rules.
    fn stop_now(&mut self) {
        if let Some(mut cluster) = self.cluster.take() {
            for n in &mut cluster.nodes {
                // Dropping the child kills it; give the kill a moment to land so the
                // proxy cannot program rules again after they are removed.
                let _ = n.is_running();
            }
            drop(cluster);
            std::thread::sleep(Duration::from_millis(500));
        }
        remove_node_leftovers(&self.name);
        if self.packet_filter {
            // This node's chains only (the cluster id of `single-node.toml`): other test
            // nodes and clusters on the machine keep theirs.
            let owner = rudder_actors::proxy::iptables::owner("rudder", &self.name);
            if let Err(e) = rudder_actors::proxy::iptables::remove_owner(&owner) {
                eprintln!("removing Rudder's iptables rules failed: {e}");
            }
            self.packet_filter = false;
        }
    }
}

impl Drop for DockerNode {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), app.to_owned())])
}

/// A Deployment `app` of `replicas` demo pods (label `app=<app>`), each serving its own
/// hostname, i.e. its pod name, at `/` on [`HTTP_PORT`]. A deleted backend ignores
/// SIGTERM and keeps serving for [`BACKEND_GRACE_SECONDS`], as a slow-to-stop server
/// would: traffic must stop reaching it because the proxy stopped sending it there.
pub fn backends(app: &str, replicas: i32) -> Deployment {
    let mut d = Deployment::new(app);
    d.spec.replicas = Some(replicas);
    d.spec.selector.match_labels = labels(app);
    d.spec.template.metadata.labels = labels(app);
    let spec = &mut d.spec.template.spec;
    spec.termination_grace_period_seconds = Some(BACKEND_GRACE_SECONDS);
    spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "trap '' TERM; hostname > /www/index.html; exec httpd -f -p {HTTP_PORT} -h /www"
            ),
        ],
        ..Default::default()
    }];
    d
}

/// A NodePort Service `name` selecting `app=<app>`: port `http` [`SERVICE_PORT`] to the
/// backends' [`HTTP_PORT`], on `node_port` (0: allocated).
pub fn node_port_service(name: &str, app: &str, node_port: u16) -> Service {
    let mut s = Service::new(name);
    s.spec.type_ = Some(ServiceType::NodePort);
    s.spec.selector = if app.is_empty() {
        BTreeMap::new()
    } else {
        labels(app)
    };
    s.spec.ports = vec![ServicePort {
        name: "http".into(),
        port: i32::from(SERVICE_PORT),
        target_port: Some(IntOrString::Int(i32::from(HTTP_PORT))),
        node_port: i32::from(node_port),
        ..Default::default()
    }];
    s
}

/// A pod on `node` that only sleeps: a place to send requests from.
pub fn client_pod(name: &str, node: &str) -> Pod {
    let mut p = Pod::new(name);
    p.spec.node_name = node.to_owned();
    p.spec.termination_grace_period_seconds = Some(1);
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        command: vec!["sleep".into(), "100000".into()],
        ..Default::default()
    }];
    p
}

/// A node port in 30000-32767 that nothing listens on at 127.0.0.1 now (starting from a
/// value derived from the process id, so parallel runs start apart).
pub fn free_node_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = std::process::id() ^ (nanos >> 3);
    (0..2768u32)
        .map(|i| 30000 + ((u64::from(start) + u64::from(i) * 97) % 2768) as u16)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .unwrap_or(32123)
}

/// One `GET /` over HTTP/1.0 to `addr`; the last line of the body (a backend's name).
pub async fn http_id(addr: SocketAddr, timeout: Duration) -> anyhow::Result<String> {
    tokio::time::timeout(timeout, async {
        let mut s = TcpStream::connect(addr).await?;
        let _ = s.set_nodelay(true);
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
        let mut buf = Vec::with_capacity(512);
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .with_context(|| format!("no HTTP response from {addr}: {text:?}"))?;
        anyhow::ensure!(head.starts_with("HTTP/1."), "not HTTP: {head:?}");
        body.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_owned())
            .with_context(|| format!("empty body from {addr}"))
    })
    .await
    .with_context(|| format!("no answer from {addr} within {timeout:?}"))?
}

/// The running, not deleting pods of `app` with their IPs, once there are `n` of them
/// and each answers directly on its IP (up to `secs`). Sorted by name.
pub async fn wait_backends(
    pods: &Api<Pod>,
    app: &str,
    n: usize,
    secs: u64,
) -> anyhow::Result<Vec<(String, String)>> {
    let (pods, selector) = (pods.clone(), format!("app={app}"));
    let (v, _) = eventually(Duration::from_secs(secs), move || {
        let (pods, selector) = (pods.clone(), selector.clone());
        async move {
            let params = ListParams {
                label_selector: Some(selector),
                ..Default::default()
            };
            let mut v: Vec<(String, String)> = pods
                .list(&params)
                .await?
                .items
                .into_iter()
                .filter(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && p.status.phase == Some(PodPhase::Running)
                        && !p.status.pod_ip.is_empty()
                })
                .map(|p| (p.metadata.name, p.status.pod_ip))
                .collect();
            if v.len() != n {
                return Ok(None);
            }
            v.sort();
            for (name, ip) in &v {
                let addr = SocketAddr::new(ip.parse()?, HTTP_PORT);
                let id = http_id(addr, Duration::from_secs(2)).await?;
                anyhow::ensure!(&id == name, "pod {name} at {addr} answers {id:?}");
            }
            Ok(Some(v))
        }
    })
    .await?;
    Ok(v)
}

/// Sets the Deployment's replicas (retrying on conflicts).
pub async fn scale(deployments: &Api<Deployment>, name: &str, replicas: i32) -> anyhow::Result<()> {
    for _ in 0..20 {
        let mut d = deployments.get(name).await?;
        d.spec.replicas = Some(replicas);
        match deployments.update(&d).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("could not scale {name}: conflicts")
}

/// One answer seen by a [`Sampler`]: when it arrived, and the backend (`None`: failed).
pub type Sample = (Instant, Option<String>);

/// Requests sent back to back in the background, each answer recorded with its local
/// arrival time. Stops when dropped.
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Requests from the host to `addr`.
    pub fn from_host(addr: SocketAddr) -> Sampler {
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let out = samples.clone();
        let task = tokio::spawn(async move {
            loop {
                let id = http_id(addr, Duration::from_secs(2)).await.ok();
                out.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((Instant::now(), id));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Sampler { samples, task }
    }

    /// Requests from inside `container` (busybox `nc`) to `ip:port`, in a shell loop
    /// behind one `docker exec`; each answer is one line of its output.
    pub fn from_container(container: &str, ip: &str, port: u16) -> anyhow::Result<Sampler> {
        let script = format!(
            "while :; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port} | tail -n 1 \
             | sed 's/^/R /'; echo; done"
        );
        let mut child = tokio::process::Command::new("docker")
            .args(["exec", container, "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let out = samples.clone();
        let task = tokio::spawn(async move {
            let _child = child;
            let mut lines = BufReader::new(stdout).lines();
            // Every request prints "R <name>" (answered) and then an empty line; an
            // empty line right after an empty line is a request that got no answer.
            let mut answered = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let now = Instant::now();
                let mut v = out.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(id) = line.strip_prefix("R ") {
                    let id = id.trim();
                    v.push((now, (!id.is_empty()).then(|| id.to_owned())));
                    answered = true;
                } else if line.trim().is_empty() {
                    if !answered {
                        v.push((now, None));
                    }
                    answered = false;
                }
            }
        });
        Ok(Sampler { samples, task })
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until at least `n` samples arrived after `after` (up to `timeout`).
    pub async fn wait_for(&self, after: Instant, n: usize, timeout: Duration) -> Vec<Sample> {
        let start = Instant::now();
        loop {
            let v: Vec<Sample> = self
                .samples()
                .into_iter()
                .filter(|(t, _)| *t > after)
                .collect();
            if v.len() >= n || start.elapsed() > timeout {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// When the scale-down of `app` took effect as Kubernetes counts it: polls (every 5 ms,
/// up to `timeout`) for the first pod of `app` to get a deletionTimestamp and for its
/// address to leave the Endpoints `service`. Returns the victim's name and the two
/// local instants (deletion seen, endpoint removal seen).
pub async fn watch_removal(
    pods: &Api<Pod>,
    endpoints: &Api<rudder_protocol::resources::Endpoints>,
    app: &str,
    service: &str,
    timeout: Duration,
) -> anyhow::Result<(String, Instant, Instant)> {
    let start = Instant::now();
    let params = ListParams {
        label_selector: Some(format!("app={app}")),
        ..Default::default()
    };
    let mut victim: Option<(String, String, Instant)> = None;
    while start.elapsed() < timeout {
        if victim.is_none() {
            if let Some(p) = pods
                .list(&params)
                .await?
                .items
                .into_iter()
                .find(|p| p.metadata.deletion_timestamp.is_some())
            {
                victim = Some((p.metadata.name, p.status.pod_ip, Instant::now()));
            }
        }
        if let Some((name, ip, deleted)) = &victim {
            let eps = endpoints.get(service).await?;
            let listed = eps
                .subsets
                .iter()
                .flat_map(|s| s.addresses.iter())
                .any(|a| &a.ip == ip);
            if !listed {
                return Ok((name.clone(), *deleted, Instant::now()));
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("no backend of {app} left the Endpoints {service} within {timeout:?}")
}
