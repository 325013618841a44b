//! `kubectl exec`, `attach` and `cp` against a real `rudderd` on real Docker, with the
//! newest kubectl (WebSocket, `v5.channel.k8s.io`): the API server relays to the
//! kubelet over a bus stream, the kubelet runs the session with Docker's exec/attach.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns. The pods
//! run `rudder/exec-test:1`, built here from the demo image with every busybox applet
//! installed (`tar` for `kubectl cp`, `stty` for terminals).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rudder_protocol::client::{Api, Client};
use rudder_protocol::resources::{Container, Pod, PodPhase, RestartPolicy};
use rudder_tests::services::{self, docker, DockerCleanup};
use rudder_tests::{eventually, Cluster};

const IMAGE: &str = "rudder/exec-test:1";

fn docker_available() -> bool {
    services::docker_available("the exec/attach/cp tests")
}

/// Builds [`IMAGE`] from the demo image, offline (no registry: the base is local).
fn build_image() -> anyhow::Result<()> {
    if docker(&["image", "inspect", IMAGE]).is_some() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM rudder/demo:1\nRUN [\"/bin/busybox\", \"mkdir\", \"-p\", \"/usr/local/bin\"]\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/usr/local/bin\"]\n\
         ENV PATH=/usr/local/bin:/bin\n",
    )?;
    let out = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(dir.path())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker build {IMAGE}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn start(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    let started = services::start_pod_node(name, Vec::new()).await?;
    build_image()?;
    Ok(started)
}

fn pod(name: &str, node: &str, command: &[&str], policy: RestartPolicy) -> Pod {
    let mut p = Pod::new(name);
    p.spec.node_name = node.to_owned();
    p.spec.restart_policy = Some(policy);
    p.spec.termination_grace_period_seconds = Some(1);
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: IMAGE.into(),
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        stdin: true,
        tty: false,
        ..Default::default()
    }];
    p
}

async fn wait_phase(pods: &Api<Pod>, name: &str, phase: PodPhase) -> anyhow::Result<()> {
    let (pods, name) = (pods.clone(), name.to_owned());
    eventually(Duration::from_secs(60), move || {
        let (pods, name) = (pods.clone(), name.clone());
        async move {
            let p = pods.get(&name).await?;
            Ok((p.status.phase == Some(phase)).then_some(()))
        }
    })
    .await?;
    Ok(())
}

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(rudder_tests::kubectl_bin());
    cmd.env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd
        .spawn()
        .expect("kubectl runs (scripts/test.sh installs it)");
    if let Some(data) = stdin {
        let mut w = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    child.wait_with_output().expect("kubectl finishes")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Bytes that are not all alike, so a reordered or dropped chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_commands_with_exit_codes_stdin_terminals_and_cp() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ex-run-{}", std::process::id());
    let (_cleanup, cluster, client) = start(&node).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    pods.create(&pod(
        "box",
        &node,
        &["sleep", "3600"],
        RestartPolicy::Always,
    ))
    .await?;
    wait_phase(&pods, "box", PodPhase::Running).await?;

    // Output and exit codes.
    let o = kubectl(&kc, &["exec", "box", "--", "echo", "hello", "world"], None);
    assert!(o.status.success(), "exec echo: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "hello world\n");
    let o = kubectl(
        &kc,
        &["exec", "box", "--", "sh", "-c", "echo oops >&2; exit 3"],
        None,
    );
    assert_eq!(o.status.code(), Some(3), "exit code: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("oops"),
        "stderr: {}",
        text(&o.stderr)
    );

    // Stdin: 1 MiB through cat and back, intact.
    let data = pattern(1 << 20);
    let o = kubectl(&kc, &["exec", "-i", "box", "--", "cat"], Some(&data));
    assert!(o.status.success(), "exec -i cat: {}", text(&o.stderr));
    assert_eq!(o.stdout.len(), data.len(), "echoed length");
    assert!(o.stdout == data, "the echoed bytes differ");

    // A terminal: driven through a pseudo-terminal of 33 rows and 101 columns; the shell
    // in the pod sees that size (kubectl sends it on the resize channel) and runs what
    // is typed. Then the terminal is resized mid-session (to 40x120, when the test
    // creates `go`; a background job's stdin is not the terminal, hence `/dev/tty`): the
    // kernel signals kubectl, which sends the new size, and the shell's `stty size`
    // follows.
    let dir = tempfile::tempdir()?;
    let go = dir.path().join("go");
    let line = format!(
        "stty rows 33 cols 101; (while [ ! -e {go} ]; do sleep 0.1; done; stty rows 40 cols 120 </dev/tty) & \
         exec {kubectl} exec -it box -- sh",
        go = go.display(),
        kubectl = rudder_tests::kubectl_bin().display()
    );
    let mut script = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("KUBECONFIG", &kc)
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = script.stdin.take().expect("piped");
    let shown = Arc::new(Mutex::new(String::new()));
    let mut stdout = script.stdout.take().expect("piped");
    let collected = shown.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = collected.lock() {
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    let seen = |what: &str| shown.lock().map(|s| s.contains(what)).unwrap_or(false);
    // Typed until the shell answers (it may still be starting under load).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen("size=33 101 sum=42") && Instant::now() < deadline {
        let _ = input.write_all(b"echo size=$(stty size) sum=$((40+2))\n");
        std::thread::sleep(Duration::from_secs(2));
    }
    std::fs::write(&go, b"")?;
    while !seen("resized=40 120") && Instant::now() < deadline + Duration::from_secs(30) {
        let _ = input.write_all(b"echo resized=$(stty size)\n");
        std::thread::sleep(Duration::from_secs(1));
    }
    let _ = input.write_all(b"exit\n");
    drop(input);
    let status = wait_with_timeout(script, Duration::from_secs(30))?;
    let _ = reader.join();
    let shown = shown.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        status.status.success(),
        "the session's end: {status:?}; output: {shown:?}"
    );
    assert!(shown.contains("size=33 101"), "terminal output: {shown:?}");
    assert!(shown.contains("sum=42"), "terminal output: {shown:?}");
    assert!(
        shown.contains("resized=40 120"),
        "the resize did not reach the shell; terminal output: {shown:?}"
    );

    // cp: 10 MiB in and out, byte-identical.
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("big.bin");
    let big = pattern(10 << 20);
    std::fs::write(&src, &big)?;
    let o = kubectl(
        &kc,
        &["cp", src.to_str().unwrap_or_default(), "box:/tmp/big.bin"],
        None,
    );
    assert!(o.status.success(), "cp in: {}", text(&o.stderr));
    let back = dir.path().join("back.bin");
    let o = kubectl(
        &kc,
        &["cp", "box:/tmp/big.bin", back.to_str().unwrap_or_default()],
        None,
    );
    assert!(o.status.success(), "cp out: {}", text(&o.stderr));
    let got = std::fs::read(&back)?;
    assert_eq!(got.len(), big.len(), "copied length");
    assert!(got == big, "the copied bytes differ");
    Ok(())
}

/// Waits for a child at most `limit`, killing it past that.
fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> anyhow::Result<Output> {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            anyhow::bail!(
                "still running after {limit:?}; stdout {:?} stderr {:?}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_shows_output_and_a_killed_kubelet_ends_exec() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ex-att-{}", std::process::id());
    let (_cleanup, cluster, client) = start(&node).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    let ticker = [
        "sh",
        "-c",
        "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done",
    ];
    pods.create(&pod("ticker", &node, &ticker, RestartPolicy::Always))
        .await?;
    wait_phase(&pods, "ticker", PodPhase::Running).await?;

    // attach joins the running process: new ticks arrive.
    let mut attach = Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", &kc)
        .args(["attach", "ticker"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(4));
    let _ = attach.kill();
    let out = attach.wait_with_output()?;
    assert!(
        text(&out.stdout).contains("tick-"),
        "attach output: {:?} {:?}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // A killed kubelet ends an exec session with an error, not a hang.
    let exec = Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", &kc)
        .args(["exec", "ticker", "--", "sleep", "120"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(3));
    let killed = Command::new(rudder_tests::rudderctl_bin())
        .arg("--client-config")
        .arg(cluster.nodes[0].client_config())
        .args(["kill", "kubelet"])
        .output()?;
    assert!(
        killed.status.success(),
        "rudderctl kill: {}",
        text(&killed.stderr)
    );
    let started = Instant::now();
    let out = wait_with_timeout(exec, Duration::from_secs(30))?;
    assert!(
        !out.status.success(),
        "exec must fail: {}",
        text(&out.stdout)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "ended after {:?}",
        started.elapsed()
    );
    // The node serves on: a new exec works once the kubelet is back.
    let (kc2, ok) = (
        kc.clone(),
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let ok2 = ok.clone();
    eventually(Duration::from_secs(30), move || {
        let (kc, ok) = (kc2.clone(), ok2.clone());
        async move {
            let o = kubectl(&kc, &["exec", "ticker", "--", "echo", "back"], None);
            let good = o.status.success() && text(&o.stdout) == "back\n";
            ok.store(good, std::sync::atomic::Ordering::Relaxed);
            Ok(good.then_some(()))
        }
    })
    .await?;
    Ok(())
}

/// The API server's address and token from a kubeconfig rudderd wrote.
fn server_and_token(kubeconfig: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(kubeconfig)?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    Ok((
        field("server:").ok_or_else(|| anyhow::anyhow!("no server"))?,
        field("token:").ok_or_else(|| anyhow::anyhow!("no token"))?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_exec_requests_get_kubernetes_errors() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ex-bad-{}", std::process::id());
    let (_cleanup, cluster, client) = start(&node).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    pods.create(&pod(
        "box",
        &node,
        &["sleep", "3600"],
        RestartPolicy::Always,
    ))
    .await?;
    pods.create(&pod("done", &node, &["true"], RestartPolicy::Never))
        .await?;
    wait_phase(&pods, "box", PodPhase::Running).await?;
    wait_phase(&pods, "done", PodPhase::Succeeded).await?;

    let o = kubectl(&kc, &["exec", "nope", "--", "true"], None);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("pods \"nope\" not found"),
        "missing pod: {}",
        text(&o.stderr)
    );
    let o = kubectl(&kc, &["exec", "box", "-c", "ghost", "--", "true"], None);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("container ghost is not valid for pod box"),
        "missing container: {}",
        text(&o.stderr)
    );
    let o = kubectl(&kc, &["exec", "done", "--", "true"], None);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains(
            "cannot exec into a container in a completed pod; current phase is Succeeded"
        ),
        "completed pod: {}",
        text(&o.stderr)
    );

    // A WebSocket client offering only a protocol this server does not speak.
    let (server, token) = server_and_token(&kc)?;
    let out = Command::new("curl")
        .args([
            "-sk",
            "--http1.1",
            "--max-time",
            "10",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: websocket",
            "-H",
            "Sec-WebSocket-Version: 13",
            "-H",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "-H",
            "Sec-WebSocket-Protocol: v9.nonsense.k8s.io",
            &format!("{server}/api/v1/namespaces/default/pods/box/exec?command=true&stdout=true"),
        ])
        .output()?;
    let body = text(&out.stdout);
    assert!(body.ends_with("\n400"), "status: {body:?}");
    assert!(
        body.contains("requested protocol(s) are not supported"),
        "body: {body:?}"
    );

    // The node serves on.
    let o = kubectl(&kc, &["exec", "box", "--", "echo", "still"], None);
    assert!(o.status.success(), "exec after errors: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "still\n");
    Ok(())
}
