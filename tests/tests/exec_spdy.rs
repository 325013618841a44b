//! `kubectl exec` forced onto plain SPDY/3.1 (`KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`),
//! the protocol of clients before WebSockets, against a real `rudderd` on real Docker:
//! output, the exit code, stdin with its end, and a protocol nobody speaks.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rudder_protocol::client::Api;
use rudder_protocol::resources::{Container, Pod, PodPhase};
use rudder_tests::eventually;
use rudder_tests::services;

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_plain_spdy() -> anyhow::Result<()> {
    if !services::docker_available("the SPDY exec test") {
        return Ok(());
    }
    let node = format!("ex-spdy-{}", std::process::id());
    let (_cleanup, cluster, client) = services::start_pod_node(&node, Vec::new()).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods: Api<Pod> = client.api(Some("default"));
    let mut p = Pod::new("box");
    p.spec.node_name = node.clone();
    p.spec.termination_grace_period_seconds = Some(1);
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        command: vec!["sleep".into(), "3600".into()],
        ..Default::default()
    }];
    pods.create(&p).await?;
    let pods2 = pods.clone();
    eventually(Duration::from_secs(60), move || {
        let pods = pods2.clone();
        async move {
            let p = pods.get("box").await?;
            Ok((p.status.phase == Some(PodPhase::Running)).then_some(()))
        }
    })
    .await?;

    // Output on stdout and stderr, and the exit code.
    let o = kubectl(
        &kc,
        &[
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            "echo hello spdy; echo oops >&2; exit 3",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "exit code: {} / {}",
        text(&o.stderr),
        text(&o.stdout)
    );
    assert_eq!(text(&o.stdout), "hello spdy\n");
    assert!(
        text(&o.stderr).contains("oops"),
        "stderr: {}",
        text(&o.stderr)
    );

    // Stdin, to its end: the shell sees every line and then the end of input.
    let lines: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let o = kubectl(
        &kc,
        &[
            "exec",
            "-i",
            "box",
            "--",
            "sh",
            "-c",
            "n=0; while read l; do n=$((n+1)); done; echo count=$n",
        ],
        Some(lines.as_bytes()),
    );
    assert!(o.status.success(), "exec -i: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "count=2000\n");

    // A SPDY client offering only a protocol this server does not speak: Kubernetes'
    // 403, and the node serves on.
    let text_kc = std::fs::read_to_string(&kc)?;
    let field = |key: &str| {
        text_kc
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let (server, token) = (field("server:"), field("token:"));
    let out = Command::new("curl")
        .args([
            "-sk",
            "--http1.1",
            "--max-time",
            "10",
            "-X",
            "POST",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: SPDY/3.1",
            "-H",
            "X-Stream-Protocol-Version: v9.nonsense.k8s.io",
            &format!("{server}/api/v1/namespaces/default/pods/box/exec?command=true&stdout=true"),
        ])
        .output()?;
    let body = text(&out.stdout);
    assert!(body.ends_with("\n403"), "status: {body:?}");
    assert!(
        body.contains("unable to negotiate protocol"),
        "body: {body:?}"
    );
    let o = kubectl(&kc, &["exec", "box", "--", "echo", "still"], None);
    assert!(o.status.success(), "exec after errors: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "still\n");
    Ok(())
}
