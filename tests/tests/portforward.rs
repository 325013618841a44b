//! `kubectl port-forward` against a real `rudderd` on real Docker, with the newest
//! kubectl (SPDY/3.1 tunnelled in a WebSocket, `SPDY/3.1+portforward.k8s.io`): the API
//! server relays each connection to the kubelet over a bus stream, the kubelet connects
//! to the port in the pod's network namespace.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rudder_protocol::client::{Api, Client};
use rudder_protocol::resources::{Container, IntOrString, Pod, PodPhase, Service, ServicePort};
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, Cluster};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const HTTP_PORT: u16 = 8080;

/// Lines of the pod's `/www/big.txt`.
const BIG_LINES: usize = 4000;

fn docker_available() -> bool {
    services::docker_available("the port-forward tests")
}

/// What the pod serves as `/big.txt` (about 170 KiB: each request spans many frames).
fn big_text() -> String {
    (0..BIG_LINES)
        .map(|i| format!("line-{i}-abcdefghijklmnopqrstuvwxyz-0123456789\n"))
        .collect()
}

/// A pod serving its name at `/` and [`big_text`] at `/big.txt` on [`HTTP_PORT`].
fn web_pod(name: &str, node: &str) -> Pod {
    let mut p = Pod::new(name);
    p.spec.node_name = node.to_owned();
    p.spec.termination_grace_period_seconds = Some(1);
    p.metadata
        .labels
        .insert("app".to_owned(), "pf-web".to_owned());
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "hostname > /www/index.html; i=0; while [ $i -lt {BIG_LINES} ]; do \
                 echo line-$i-abcdefghijklmnopqrstuvwxyz-0123456789; i=$((i+1)); done \
                 > /www/big.txt; exec httpd -f -p {HTTP_PORT} -h /www"
            ),
        ],
        ..Default::default()
    }];
    p
}

fn web_service() -> Service {
    let mut s = Service::new("pf-web");
    s.spec
        .selector
        .insert("app".to_owned(), "pf-web".to_owned());
    s.spec.ports = vec![ServicePort {
        name: "http".into(),
        port: 80,
        target_port: Some(IntOrString::Int(i32::from(HTTP_PORT))),
        ..Default::default()
    }];
    s
}

async fn wait_running(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    let (pods, name) = (pods.clone(), name.to_owned());
    eventually(Duration::from_secs(60), move || {
        let (pods, name) = (pods.clone(), name.clone());
        async move {
            let p = pods.get(&name).await?;
            Ok((p.status.phase == Some(PodPhase::Running)).then_some(()))
        }
    })
    .await?;
    Ok(())
}

/// A local port nothing listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running `kubectl port-forward` and its output so far.
struct Forward {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Forward {
    /// Starts `kubectl port-forward <what> <local>:<remote>` and waits until it forwards.
    fn start(kubeconfig: &Path, what: &str, local: u16, remote: u16) -> anyhow::Result<Forward> {
        Forward::start_with(kubeconfig, what, local, remote, &[])
    }

    /// [`Forward::start`] with more environment (kubectl's protocol switches).
    fn start_with(
        kubeconfig: &Path,
        what: &str,
        local: u16,
        remote: u16,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Forward> {
        let mut child = Command::new(rudder_tests::kubectl_bin())
            .env("KUBECONFIG", kubeconfig)
            .envs(env.iter().copied())
            .args([
                "port-forward",
                "--address",
                "127.0.0.1",
                what,
                &format!("{local}:{remote}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, lines) = mpsc::channel();
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut f = Forward {
            child,
            lines,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            f.drain();
            if f.seen.iter().any(|l| l.starts_with("Forwarding from")) {
                return Ok(f);
            }
            if let Some(status) = f.child.try_wait()? {
                f.drain();
                anyhow::bail!("kubectl port-forward exited ({status}): {:?}", f.seen);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("kubectl port-forward did not start: {:?}", f.seen)
    }

    fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    /// Waits at most `limit` for kubectl to exit; its status and output.
    fn wait_exit(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait()? {
                std::thread::sleep(Duration::from_millis(200));
                self.drain();
                return Ok(s);
            }
            if Instant::now() > deadline {
                self.drain();
                anyhow::bail!(
                    "kubectl port-forward still runs after {limit:?}: {:?}",
                    self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` over HTTP/1.0 to 127.0.0.1:`port`; the body.
async fn get(port: u16, path: &str) -> anyhow::Result<String> {
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8(buf)?;
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| anyhow::anyhow!("not an HTTP response: {text:?}"))?;
        anyhow::ensure!(
            head.starts_with("HTTP/1.") && head.contains(" 200 "),
            "status: {head:?}"
        );
        Ok(body.to_owned())
    })
    .await
    .map_err(|_| anyhow::anyhow!("GET {path} through port {port}: no answer in 30 s"))?
}

/// A `kubectl port-forward` to `what`'s `remote` port once the pod serves `/` with its
/// name (kubectl ends a session at the first failed connection, so a server still
/// starting gets a new session); the session and its local port.
async fn forward_serving(
    kubeconfig: &Path,
    what: &str,
    remote: u16,
    env: &[(&str, &str)],
) -> anyhow::Result<(Forward, u16)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let local = free_port()?;
        let mut f = Forward::start_with(kubeconfig, what, local, remote, env)?;
        match get(local, "/").await {
            Ok(body) if body.trim() == "web" => return Ok((f, local)),
            other => {
                if Instant::now() > deadline {
                    f.drain();
                    anyhow::bail!(
                        "{what} does not serve through kubectl: {other:?}; {:?}",
                        f.seen
                    );
                }
            }
        }
        drop(f);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn start(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    services::start_pod_node(name, Vec::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_serves_concurrent_requests_and_ends_with_the_kubelet() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("pf-run-{}", std::process::id());
    let (_cleanup, cluster, client) = start(&node).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    let services: Api<Service> = client.api(Some("default"));
    pods.create(&web_pod("web", &node)).await?;
    services.create(&web_service()).await?;
    wait_running(&pods, "web").await?;

    // pod/x: 100 concurrent requests, each its own connection (a SPDY stream pair and
    // a bus stream), each answered in full.
    let (mut fwd, local) = forward_serving(&kc, "pod/web", HTTP_PORT, &[]).await?;
    let want = big_text();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let path = if i % 2 == 0 { "/big.txt" } else { "/" };
        tasks.push(tokio::spawn(async move { (path, get(local, path).await) }));
    }
    for t in tasks {
        let (path, body) = t.await?;
        let body = body?;
        if path == "/" {
            assert_eq!(body.trim(), "web");
        } else {
            assert_eq!(body.len(), want.len(), "length of {path}");
            assert!(body == want, "the bytes of {path} differ");
        }
    }

    // Plain SPDY/3.1, as kubectl spoke it before WebSockets: concurrent connections too.
    let (_spdy, local_spdy) = forward_serving(
        &kc,
        "pod/web",
        HTTP_PORT,
        &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")],
    )
    .await?;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        tasks.push(tokio::spawn(
            async move { get(local_spdy, "/big.txt").await },
        ));
    }
    for t in tasks {
        let body = t.await??;
        assert!(
            body == want,
            "the bytes over plain SPDY differ ({} bytes)",
            body.len()
        );
    }

    // svc/x: kubectl picks a pod of the Service and its target port.
    let (_svc, _) = forward_serving(&kc, "svc/pf-web", 80, &[]).await?;

    // A port nothing listens on: the connection fails with Kubernetes' message, and the
    // session says so.
    let local3 = free_port()?;
    let mut closed = Forward::start(&kc, "pod/web", local3, 9)?;
    assert!(get(local3, "/").await.is_err(), "nothing listens on 9");
    closed.wait_exit(Duration::from_secs(20)).ok();
    closed.drain();
    assert!(
        closed
            .seen
            .iter()
            .any(|l| l.contains("error forwarding port 9 to pod web")),
        "kubectl output: {:?}",
        closed.seen
    );

    // A killed kubelet ends the session with an error, not a hang.
    let killed = Command::new(rudder_tests::rudderctl_bin())
        .arg("--client-config")
        .arg(cluster.nodes[0].client_config())
        .args(["kill", "kubelet"])
        .output()?;
    assert!(
        killed.status.success(),
        "rudderctl kill: {}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let status = fwd.wait_exit(Duration::from_secs(30))?;
    assert!(!status.success(), "kubectl must fail: {:?}", fwd.seen);
    assert!(
        fwd.seen
            .iter()
            .any(|l| l.contains("lost connection to pod")),
        "kubectl output: {:?}",
        fwd.seen
    );

    // The node serves on: a new session works once the kubelet is back.
    let kc2 = kc.clone();
    eventually(Duration::from_secs(40), move || {
        let kc = kc2.clone();
        async move {
            let local = free_port()?;
            let Ok(_f) = Forward::start(&kc, "pod/web", local, HTTP_PORT) else {
                return Ok(None);
            };
            Ok(get(local, "/").await.ok().filter(|b| b.trim() == "web"))
        }
    })
    .await?;
    Ok(())
}

/// The Python client's port-forward: WebSocket `v4.channel.k8s.io`, two ports in one
/// session, each answered on its own channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_forwards_ports_over_websocket_channels() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("pf-py-{}", std::process::id());
    let (_cleanup, cluster, client) = start(&node).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    pods.create(&web_pod("web", &node)).await?;
    wait_running(&pods, "web").await?;
    drop(forward_serving(&kc, "pod/web", HTTP_PORT, &[]).await?);
    let script = r#"
import json, sys
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config()
api = client.CoreV1Api()

def fetch(pf, port, path):
    s = pf.socket(port)
    s.setblocking(True)
    s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return data.decode()

report = {}
pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports="8080,9")
body = fetch(pf, 8080, "/big.txt")
report["status"] = body.split("\r\n")[0]
report["body_len"] = len(body.split("\r\n\r\n", 1)[1])
report["error_9"] = pf.error(9) or ""
report["error_8080"] = pf.error(8080)
pf.close()
print(json.dumps(report))
"#;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("pf.py");
    std::fs::write(&path, script)?;
    let out = rudder_tests::python_with_client()
        .env("KUBECONFIG", &kc)
        .arg(&path)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    assert!(
        report["status"]
            .as_str()
            .is_some_and(|s| s.ends_with(" 200 OK")),
        "{report}"
    );
    assert_eq!(report["body_len"], big_text().len(), "{report}");
    assert!(report["error_8080"].is_null(), "{report}");
    assert!(
        report["error_9"]
            .as_str()
            .is_some_and(|e| e.contains("error forwarding port 9 to pod web")),
        "{report}"
    );
    Ok(())
}

/// `rudderctl exec`, `rudderctl port-forward` and the Rust client's `exec` and
/// `port_forward`: streams through the `apiserver` actor on the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rudderctl_and_the_rust_client_exec_and_forward() -> anyhow::Result<()> {
    use rudder_protocol::client::ClientError;
    use rudder_protocol::messages::kubelet::{channel, ExecRequest};
    if !docker_available() {
        return Ok(());
    }
    let node = format!("pf-ctl-{}", std::process::id());
    let (_cleanup, cluster, client) = start(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    pods.create(&web_pod("web", &node)).await?;
    wait_running(&pods, "web").await?;
    drop(forward_serving(&cluster.nodes[0].kubeconfig(), "pod/web", HTTP_PORT, &[]).await?);
    let cc = cluster.nodes[0].client_config();
    let rudderctl = || {
        let mut c = Command::new(rudder_tests::rudderctl_bin());
        c.arg("--client-config").arg(&cc);
        c
    };

    // rudderctl exec: output on both streams, and the command's exit code.
    let o = rudderctl()
        .args([
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 4",
        ])
        .stdin(Stdio::null())
        .output()?;
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"), "{o:?}");
    // ... and stdin to its end.
    let mut child = rudderctl()
        .args([
            "exec",
            "-i",
            "web",
            "--",
            "sh",
            "-c",
            "n=0; while read l; do n=$((n+1)); done; echo count=$n",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().ok_or_else(|| anyhow::anyhow!("stdin"))?;
    std::thread::spawn(move || {
        use std::io::Write as _;
        let lines: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let _ = input.write_all(lines.as_bytes());
    });
    let o = child.wait_with_output()?;
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "count=1000\n");

    // rudderctl port-forward: a free local port, concurrent downloads.
    let mut pf = rudderctl()
        .args(["port-forward", "web", "0:8080"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = pf.stdout.take().ok_or_else(|| anyhow::anyhow!("stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20))?;
    let local: u16 = line
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("rudderctl port-forward said {line:?}"))?;
    let want = big_text();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        tasks.push(tokio::spawn(async move { get(local, "/big.txt").await }));
    }
    for t in tasks {
        assert!(t.await?? == want, "the bytes through rudderctl differ");
    }
    let _ = pf.kill();
    let _ = pf.wait();

    // The Rust client: one connection as a stream...
    let (mut w, mut r) = client.port_forward("default", "web", HTTP_PORT).await?;
    w.send(b"GET / HTTP/1.0\r\n\r\n").await?;
    let answer = String::from_utf8(r.read_to_end(1 << 20).await?)?;
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 OK"),
        "{answer:?}"
    );
    assert_eq!(answer.split("\r\n\r\n").nth(1).map(str::trim), Some("web"));
    w.finish().await?;
    // ...an exec with its status...
    let (w, mut r) = client
        .exec(ExecRequest {
            namespace: "default".into(),
            pod: "web".into(),
            command: vec!["sh".into(), "-c".into(), "echo hi; exit 5".into()],
            stdout: true,
            ..Default::default()
        })
        .await?;
    w.finish().await?;
    let (mut stdout, mut status) = (Vec::new(), Vec::new());
    while let Some(msg) = r.recv().await? {
        match msg.split_first() {
            Some((&channel::STDOUT, b)) => stdout.extend_from_slice(b),
            Some((&channel::ERROR, b)) => status.extend_from_slice(b),
            _ => {}
        }
    }
    assert_eq!(stdout, b"hi\n");
    let status: serde_json::Value = serde_json::from_slice(&status)?;
    assert_eq!(status["details"]["causes"][0]["message"], "5", "{status}");
    // ...and the API's errors.
    let missing = client
        .exec(ExecRequest {
            namespace: "default".into(),
            pod: "nope".into(),
            command: vec!["true".into()],
            stdout: true,
            ..Default::default()
        })
        .await;
    assert!(
        matches!(&missing, Err(ClientError::Refused { code: 404, message }) if message.contains("not found")),
        "{missing:?}"
    );
    let closed = client.port_forward("default", "web", 9).await;
    assert!(
        matches!(&closed, Err(ClientError::Refused { message, .. }) if message.contains("error forwarding port 9")),
        "{closed:?}"
    );
    Ok(())
}
