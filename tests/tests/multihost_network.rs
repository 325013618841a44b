//! The pod network across hosts, on the multi-host cluster (`scripts/cluster.sh`: three
//! control-plane containers and two workers, each worker with its own container engine,
//! so its pods live inside it and cross-node traffic crosses the hosts' network):
//!
//! - a pod on worker 1 fetches a page from a pod on worker 2 by its pod IP (the route
//!   worker 1's `netroute` actor keeps: worker 2's pod CIDR via worker 2's address, with
//!   Rudder's protocol number), and through a Service by its DNS name (kube-dns, the
//!   proxy's packet filter on worker 1, the backend on worker 2);
//! - the server sees the client's own pod IP (no NAT on the way);
//! - the route lost (the pod addresses then stay blackholed on worker 1) and worker 1's
//!   `netroute` actor killed: its restart puts the route back and the page comes again;
//! - on both workers, readiness probes (the pod turns Ready), `kubectl logs` and `kubectl
//!   exec` work, and the Service's NodePort answers on each worker's address from the
//!   host.
//!
//! The test brings the cluster up itself (state in a temporary directory, binaries of
//! this build) and takes it down at the end. It runs alone (nextest: the cluster's five
//! containers take the machine). Without Docker, or when a multi-host cluster already
//! runs on this machine (its names and subnets are fixed), it prints a loud SKIP.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::ActorRef;
use rudder_tests::multihost::{worker_docker, MultiHost};
use rudder_tests::services::{docker, docker_available};
use rudder_tests::{eventually, kubectl_bin, repo_root, rudderd_bin};

const CLIENT_NODE: &str = "mh-worker-1";
const SERVER_NODE: &str = "mh-worker-2";
/// The API every kubectl call here goes through.
const API_NODE: &str = "mh-cp-1";

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  nodeName: mh-worker-2
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: rudder/demo:1
    command: ["sh", "-c", "mkdir -p /tmp/www && echo \"page of $(hostname)\" > /tmp/www/index.html && exec httpd -f -vv -p 8080 -h /tmp/www"]
    ports: [{containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: mh-worker-1
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: rudder/demo:1
    command: ["sh", "-c", "echo client up on $(hostname); exec sleep 100000"]
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
"#;

/// The cluster, taken down when dropped (unless `RUDDER_KEEP_CLUSTER=1`).
struct Up {
    state: PathBuf,
}

impl Up {
    fn script(state: &Path, verb: &str) -> std::io::Result<std::process::ExitStatus> {
        let bin = rudderd_bin();
        Command::new(repo_root().join("scripts/cluster.sh"))
            .arg(verb)
            .env("RUDDER_MH_DIR", state)
            .env("RUDDER_MH_BIN", bin.parent().unwrap_or(Path::new(".")))
            .env("RUDDER_KUBECTL", kubectl_bin())
            .env("RUDDER_MH_TIMEOUT", "300")
            .status()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if std::env::var_os("RUDDER_KEEP_CLUSTER").is_some_and(|v| v == "1") {
            eprintln!("cluster left running (state in {})", self.state.display());
            return;
        }
        if std::thread::panicking() {
            for node in [CLIENT_NODE, SERVER_NODE] {
                if let Some(log) = docker(&["logs", "--tail", "60", node]) {
                    eprintln!("--- last lines of {node}'s output:\n{log}");
                }
            }
        }
        let _ = Up::script(&self.state, "down");
    }
}

async fn kubectl(mh: &MultiHost, args: &[&str]) -> anyhow::Result<String> {
    let (ok, out, err) = mh
        .kubectl(API_NODE, args, None, Duration::from_secs(60))
        .await?;
    anyhow::ensure!(ok, "kubectl {args:?} failed: {err}");
    Ok(out)
}

/// The last line of the answer to `GET /` from `host:port`, fetched inside the client pod
/// through `kubectl exec` with busybox `nc` (3 s at most); `""` when none came.
/// (busybox-static's `wget` crashes in its resolver.)
async fn fetch(mh: &MultiHost, host: &str, port: u16) -> anyhow::Result<String> {
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} | tail -n 1");
    Ok(kubectl(mh, &["exec", "client", "--", "sh", "-c", &script])
        .await?
        .trim()
        .to_owned())
}

/// The address `name` resolves to inside the client pod (busybox `nslookup`, which reads
/// the pod's resolv.conf: kube-dns, the namespace's search path).
async fn resolve(mh: &MultiHost, name: &str) -> anyhow::Result<Option<String>> {
    // nslookup exits 1 when any search domain is NXDOMAIN, even if one answered.
    let (_, out, _) = mh
        .kubectl(
            API_NODE,
            &["exec", "client", "--", "/bin/busybox", "nslookup", name],
            None,
            Duration::from_secs(30),
        )
        .await?;
    let mut lines = out.lines().skip_while(|l| !l.starts_with("Name:"));
    lines.next();
    Ok(lines
        .next()
        .and_then(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_owned()))
}

/// The route worker 1 keeps to worker 2's pod CIDR, as `ip route` prints it.
async fn route_to(cidr: &str) -> anyhow::Result<Option<String>> {
    let cidr = cidr.to_owned();
    let out = docker(&["exec", CLIENT_NODE, "ip", "-4", "route", "show", &cidr])
        .ok_or_else(|| anyhow::anyhow!("cannot read {CLIENT_NODE}'s routes"))?;
    Ok(out
        .lines()
        .find(|l| l.starts_with(cidr.as_str()))
        .map(|l| l.trim().to_owned()))
}

async fn netroute_restarts(mh: &MultiHost) -> anyhow::Result<u32> {
    let client = mh.client(API_NODE, Duration::from_secs(10)).await?;
    let reply = client
        .call(
            ActorRef::new(CLIENT_NODE, "chaos"),
            ChaosRequest::ListActors,
        )
        .await?;
    let ChaosReply::Actors(list) = reply else {
        anyhow::bail!("unexpected reply {reply:?}");
    };
    list.iter()
        .find(|a| a.name == "netroute")
        .map(|a| a.restarts)
        .ok_or_else(|| anyhow::anyhow!("no netroute actor on {CLIENT_NODE}: {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_on_two_hosts_reach_each_other_by_ip_and_by_service_name() -> anyhow::Result<()> {
    if !docker_available("the multi-host pod network test") {
        return Ok(());
    }
    if !docker(&["ps", "-aq", "--filter", "label=io.rudder.multihost=1"])
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        eprintln!(
            "\n*** SKIP: a multi-host cluster already runs on this machine (scripts/cluster.sh \
             down removes it); the multi-host pod network test did not run ***\n"
        );
        return Ok(());
    }
    let state = std::env::temp_dir().join(format!("rudder-mh-test-{}", std::process::id()));
    let up = Up {
        state: state.clone(),
    };
    let status = Up::script(&state, "up")?;
    anyhow::ensure!(status.success(), "scripts/cluster.sh up failed: {status}");
    let mh = MultiHost::at(up.state.clone())?;

    let (ok, _, err) = mh
        .kubectl(
            API_NODE,
            &["apply", "-f", "-"],
            Some(MANIFESTS),
            Duration::from_secs(60),
        )
        .await?;
    anyhow::ensure!(ok, "kubectl apply failed: {err}");
    // Readiness probes run by each worker's kubelet against its own pods.
    kubectl(
        &mh,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/web",
            "pod/client",
            "--timeout=180s",
        ],
    )
    .await?;
    let ip_of = |pod: &'static str| {
        let mh = &mh;
        async move {
            let ip = kubectl(mh, &["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]).await?;
            anyhow::ensure!(!ip.trim().is_empty(), "pod {pod} has no IP");
            anyhow::Ok(ip.trim().to_owned())
        }
    };
    let (web_ip, client_ip) = (ip_of("web").await?, ip_of("client").await?);
    let server_cidr = kubectl(
        &mh,
        &["get", "node", SERVER_NODE, "-o", "jsonpath={.spec.podCIDR}"],
    )
    .await?;
    let server_cidr = server_cidr.trim().to_owned();
    println!("web {web_ip} on {SERVER_NODE} ({server_cidr}), client {client_ip} on {CLIENT_NODE}");

    // The containers live in the workers' own engines.
    let web_containers = worker_docker(
        SERVER_NODE,
        &["ps", "-q", "--filter", "label=io.rudder.pod.name=web"],
    )
    .await?
    .unwrap_or_default();
    anyhow::ensure!(
        !web_containers.trim().is_empty(),
        "no container of pod web in {SERVER_NODE}'s engine"
    );

    // The host-gw route: worker 2's pod CIDR via worker 2's address, Rudder's protocol.
    let route = route_to(&server_cidr).await?;
    println!("route on {CLIENT_NODE}: {route:?}");
    anyhow::ensure!(
        route
            .as_deref()
            .is_some_and(|r| r.contains("via 10.213.0.22") && r.contains("proto 77")),
        "no host-gw route to {server_cidr} on {CLIENT_NODE}: {route:?}"
    );

    // By pod IP, across the hosts.
    let page = fetch(&mh, &web_ip, 8080).await?;
    anyhow::ensure!(page == "page of web", "by pod IP: {page:?}");
    // The server saw the client's own address: no NAT between pods.
    let logs = kubectl(&mh, &["logs", "web"]).await?;
    anyhow::ensure!(
        logs.contains(&format!("[::ffff:{client_ip}]")),
        "web's log does not show the client's pod IP {client_ip}: {logs}"
    );
    // By Service name, through cluster DNS and the proxy on worker 1.
    let cluster_ip = kubectl(
        &mh,
        &["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"],
    )
    .await?;
    for name in ["web", "web.default.svc.cluster.local"] {
        let (address, _) = eventually(Duration::from_secs(30), || resolve(&mh, name))
            .await
            .map_err(|e| anyhow::anyhow!("{name} did not resolve in the client pod: {e}"))?;
        anyhow::ensure!(
            address == cluster_ip.trim(),
            "{name} resolved to {address}, not {cluster_ip}"
        );
        let (page, _) = eventually(Duration::from_secs(30), || async {
            let page = fetch(&mh, &address, 80).await?;
            Ok((page == "page of web").then_some(page))
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the Service {name} at {address}:80 did not answer from {CLIENT_NODE}: {e}"
            )
        })?;
        println!("{name} -> {address}:80: {page}");
    }
    // Logs of the client, on the other worker.
    let logs = kubectl(&mh, &["logs", "client"]).await?;
    anyhow::ensure!(
        logs.contains("client up on client"),
        "client's log: {logs:?}"
    );

    // The NodePort on each worker's address, from the host.
    let node_port = kubectl(
        &mh,
        &[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ],
    )
    .await?;
    for address in ["10.213.0.21", "10.213.0.22"] {
        let url = format!("http://{address}:{}/", node_port.trim());
        let (page, _) = eventually(Duration::from_secs(30), || async {
            let out = Command::new("curl")
                .args(["-s", "-m", "3", &url])
                .output()?;
            Ok(out
                .status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("NodePort {url} did not answer: {e}"))?;
        anyhow::ensure!(page.trim() == "page of web", "{url}: {page:?}");
    }

    // The route lost, then the network component killed: its restart puts it back.
    // Meanwhile the cluster's pod addresses stay inside worker 1 (netroute's blackhole
    // for the cluster CIDR), never sent on to its default gateway.
    let table = docker(&["exec", CLIENT_NODE, "ip", "-4", "route"]).unwrap_or_default();
    anyhow::ensure!(
        table.lines().any(|l| l.trim() == "blackhole 10.246.0.0/16"),
        "no blackhole for the cluster CIDR on {CLIENT_NODE}:\n{table}"
    );
    let restarts = netroute_restarts(&mh).await?;
    docker(&["exec", CLIENT_NODE, "ip", "route", "del", &server_cidr])
        .ok_or_else(|| anyhow::anyhow!("cannot delete the route"))?;
    let page = fetch(&mh, &web_ip, 8080).await?;
    anyhow::ensure!(
        page.is_empty(),
        "the page still came without the route: {page:?}"
    );
    let client = mh.client(API_NODE, Duration::from_secs(10)).await?;
    client
        .call(
            ActorRef::new(CLIENT_NODE, "chaos"),
            ChaosRequest::KillActor {
                name: "netroute".into(),
            },
        )
        .await?;
    let (back, after) = eventually(Duration::from_secs(20), || route_to(&server_cidr))
        .await
        .map_err(|e| {
            anyhow::anyhow!("the route did not come back after netroute's restart: {e}")
        })?;
    println!("route back {after:?} after the kill: {back}");
    anyhow::ensure!(back.contains("via 10.213.0.22"), "route back: {back}");
    anyhow::ensure!(
        netroute_restarts(&mh).await? > restarts,
        "netroute was not restarted"
    );
    let page = fetch(&mh, &web_ip, 8080).await?;
    anyhow::ensure!(page == "page of web", "after the restart: {page:?}");
    drop(up);
    Ok(())
}
