//! Watches and answers as real clients see them, against a real one-node `rudderd`:
//!
//! - kubectl's waits (`delete`, `wait --for=delete`, `wait --for=condition`,
//!   `rollout status`), which ride on client-go's streaming lists, return within a second
//!   of their condition holding, with the newest and the oldest supported kubectl;
//! - a raw streaming list (`sendInitialEvents=true`) sees one ADDED per object, then the
//!   bookmark annotated `k8s.io/initial-events-end`, then later changes; invalid
//!   combinations get Kubernetes' `422`;
//! - requests that ask to upgrade (exec, attach, port-forward, proxy) are answered at once
//!   (`404` for a missing pod, `400` otherwise) and `kubectl exec` fails fast;
//! - JSON bodies end with a newline and a Service always carries `status.loadBalancer`.
//!
//! Raw requests go over HTTPS with curl, the kubeconfig's token and the node's CA.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rudder_actors::kubelet::images::DEMO_IMAGE;
use rudder_tests::{Cluster, NodeProc};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A pod no node will take: it stays unbound, so nothing but the test writes it and a
/// delete removes it at once.
fn parked_pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeSelector": {"rudder.test/no-such-node": "true"},
            "containers": [{"name": "main", "image": "rudder-demo:latest"}],
        },
    })
}

/// The API of one node, reached like a user would: its kubeconfig's server and token.
struct Api {
    server: String,
    token: String,
    ca: PathBuf,
    kubeconfig: PathBuf,
}

/// One raw HTTP answer.
struct Answer {
    code: u16,
    body: Vec<u8>,
    took: Duration,
}

impl Answer {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Api {
    fn of(node: &NodeProc) -> anyhow::Result<Api> {
        let kubeconfig = node.kubeconfig();
        let text = std::fs::read_to_string(&kubeconfig)?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
                .with_context(|| format!("no {name} in the kubeconfig"))
        };
        Ok(Api {
            server: field("server:")?,
            token: field("token:")?,
            ca: node.spec.data_dir.join("pki").join("ca.crt"),
            kubeconfig,
        })
    }

    fn curl(&self) -> Command {
        let mut c = Command::new("curl");
        c.arg("-sS")
            .arg("--http1.1")
            .arg("--cacert")
            .arg(&self.ca)
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", self.token));
        c
    }

    /// One request; `headers` as `Name: value`. Gives up after 10 s (the answer then has
    /// code 0), so a server that never answers fails the test instead of hanging it.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let out_file = tempfile::NamedTempFile::new()?;
        let mut c = self.curl();
        c.arg("-X")
            .arg(method)
            .arg("--max-time")
            .arg("10")
            .arg("-o")
            .arg(out_file.path())
            .arg("-w")
            .arg("%{http_code}");
        for h in headers {
            c.arg("-H").arg(h);
        }
        if let Some(b) = body {
            c.arg("-H")
                .arg("Content-Type: application/json")
                .arg("--data-binary")
                .arg(b.to_string());
        }
        c.arg(format!("{}{path}", self.server));
        let start = Instant::now();
        let out = c.output().context("running curl")?;
        let took = start.elapsed();
        let code = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        Ok(Answer {
            code,
            body: std::fs::read(out_file.path())?,
            took,
        })
    }

    fn create(&self, collection: &str, obj: &Value) -> anyhow::Result<Value> {
        let a = self.request("POST", collection, &[], Some(obj))?;
        if a.code != 201 {
            bail!("create in {collection}: {} {}", a.code, a.text());
        }
        a.json()
    }

    /// A streaming request: its body, line by line.
    fn stream(&self, path: &str) -> anyhow::Result<Lines> {
        let mut c = tokio::process::Command::from(self.curl());
        c.arg("-N")
            .arg(format!("{}{path}", self.server))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = c.spawn().context("running curl")?;
        let stdout = child.stdout.take().context("no stdout")?;
        Ok(Lines {
            _child: child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    fn kubectl(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.env("KUBECONFIG", &self.kubeconfig).args(args);
        c
    }
}

/// The lines of a streaming answer.
struct Lines {
    _child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Lines {
    /// The next event that is not a MODIFIED one (the scheduler notes on parked pods
    /// that they cannot be scheduled), waiting up to `within` in all.
    async fn next_change(&mut self, within: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self.next(left).await?;
            if e["type"] != "MODIFIED" {
                return Ok(e);
            }
        }
    }

    /// The next line as JSON, waiting up to `within`.
    async fn next(&mut self, within: Duration) -> anyhow::Result<Value> {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .context("no event in time")??
            .context("the stream ended")?;
        serde_json::from_str(&line).with_context(|| format!("not JSON: {line}"))
    }
}

fn event(e: &Value) -> (String, String) {
    (
        e["type"].as_str().unwrap_or_default().to_owned(),
        e["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn node() -> anyhow::Result<(Cluster, Api)> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "solo");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let api = Api::of(&cluster.nodes[0])?;
    rudder_tests::eventually(Duration::from_secs(15), || {
        let a = api.request("GET", "/api/v1/namespaces/default", &[], None);
        async move { Ok(a?.code.eq(&200).then_some(())) }
    })
    .await?;
    Ok((cluster, api))
}

fn ok(o: &Output, what: &str) -> anyhow::Result<()> {
    if !o.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

/// Runs `cmd` in the background; the result and the moment it ended.
fn background(mut cmd: Command) -> std::thread::JoinHandle<(std::io::Result<Output>, Instant)> {
    std::thread::spawn(move || {
        let out = cmd.output();
        (out, Instant::now())
    })
}

/// How long a client may take to notice a condition that holds (the brief's bound).
const NOTICE: Duration = Duration::from_secs(1);
/// How long a whole kubectl command that waits may take once its condition holds.
const WHOLE_COMMAND: Duration = Duration::from_secs(3);
/// Time for a background kubectl to start and sync its watch before the test acts.
const SETTLE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_waits_return_as_soon_as_their_condition_holds() -> anyhow::Result<()> {
    let (_cluster, api) = node().await?;
    let pods = "/api/v1/namespaces/default/pods";
    let mut report = Vec::new();
    for (label, bin) in rudder_tests::kubectl_bins() {
        // `kubectl delete pod`: deletes, then waits (a streaming list) until it is gone.
        let name = format!("del-{label}");
        api.create(pods, &parked_pod(&name, json!({})))?;
        let start = Instant::now();
        let o = api.kubectl(&bin, &["delete", "pod", &name]).output()?;
        let took = start.elapsed();
        ok(&o, &format!("{label} kubectl delete pod"))?;
        report.push(format!("{label}: delete pod {took:?}"));
        assert!(
            took < WHOLE_COMMAND,
            "{label}: kubectl delete pod took {took:?}"
        );

        // `kubectl wait --for=delete`, started before the delete.
        let name = format!("gone-{label}");
        api.create(pods, &parked_pod(&name, json!({})))?;
        let waiter = background(api.kubectl(
            &bin,
            &[
                "wait",
                "--for=delete",
                &format!("pod/{name}"),
                "--timeout=30s",
            ],
        ));
        std::thread::sleep(SETTLE);
        let gone = api.request("DELETE", &format!("{pods}/{name}"), &[], None)?;
        assert_eq!(gone.code, 200, "{}", gone.text());
        let deleted_at = Instant::now();
        let (out, ended) = waiter
            .join()
            .map_err(|_| anyhow::anyhow!("waiter panicked"))?;
        ok(&out?, &format!("{label} kubectl wait --for=delete"))?;
        let noticed = ended.saturating_duration_since(deleted_at);
        report.push(format!("{label}: wait --for=delete noticed in {noticed:?}"));
        assert!(
            noticed < NOTICE,
            "{label}: wait --for=delete noticed after {noticed:?}"
        );

        // `kubectl wait --for=condition=Ready`, which becomes true while it waits.
        let name = format!("cond-{label}");
        api.create(pods, &parked_pod(&name, json!({})))?;
        let waiter = background(api.kubectl(
            &bin,
            &[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{name}"),
                "--timeout=30s",
            ],
        ));
        std::thread::sleep(SETTLE);
        let ready = api.request(
            "PATCH",
            &format!("{pods}/{name}/status"),
            &["Content-Type: application/merge-patch+json"],
            Some(&json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
        )?;
        assert_eq!(ready.code, 200, "{}", ready.text());
        let ready_at = Instant::now();
        let (out, ended) = waiter
            .join()
            .map_err(|_| anyhow::anyhow!("waiter panicked"))?;
        let out = out?;
        ok(&out, &format!("{label} kubectl wait --for=condition"))?;
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("condition met"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let noticed = ended.saturating_duration_since(ready_at);
        report.push(format!(
            "{label}: wait --for=condition noticed in {noticed:?}"
        ));
        assert!(
            noticed < NOTICE,
            "{label}: wait --for=condition noticed after {noticed:?}"
        );

        // `kubectl rollout status` of a Deployment that is available.
        let name = format!("roll-{label}");
        let deploy = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    // An image the node has, so the pod starts and becomes ready.
                    "spec": {"containers": [{"name": "main", "image": DEMO_IMAGE}]},
                },
            },
        });
        api.create("/apis/apps/v1/namespaces/default/deployments", &deploy)?;
        let path = format!("/apis/apps/v1/namespaces/default/deployments/{name}");
        rudder_tests::eventually(Duration::from_secs(60), || {
            let d = api.request("GET", &path, &[], None).and_then(|a| a.json());
            async move {
                let d = d?;
                let available = d["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Available" && c["status"] == "True");
                let done = available
                    && d["status"]["updatedReplicas"] == 1
                    && d["status"]["availableReplicas"] == 1
                    && d["status"]["observedGeneration"] == d["metadata"]["generation"];
                Ok(done.then_some(()))
            }
        })
        .await
        .context("the deployment did not become available")?;
        let start = Instant::now();
        let o = api
            .kubectl(
                &bin,
                &[
                    "rollout",
                    "status",
                    &format!("deployment/{name}"),
                    "--timeout=30s",
                ],
            )
            .output()?;
        let took = start.elapsed();
        ok(&o, &format!("{label} kubectl rollout status"))?;
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("successfully rolled out"),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        report.push(format!("{label}: rollout status {took:?}"));
        assert!(
            took < WHOLE_COMMAND,
            "{label}: rollout status took {took:?}"
        );
    }
    eprintln!("measured: {report:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_sends_state_then_bookmark_then_changes() -> anyhow::Result<()> {
    let (_cluster, api) = node().await?;
    let pods = "/api/v1/namespaces/default/pods";
    let mut created = Vec::new();
    for name in ["s-a", "s-b", "s-c"] {
        created.push(api.create(pods, &parked_pod(name, json!({"suite": "stream"})))?);
    }
    api.create(pods, &parked_pod("other", json!({"suite": "other"})))?;
    let newest_item = created.iter().map(rv_of).max().unwrap_or(0);

    let query = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan\
                 &allowWatchBookmarks=true&labelSelector=suite%3Dstream&timeoutSeconds=60";
    let mut events = api.stream(&format!("{pods}?{query}"))?;
    let mut added = Vec::new();
    let bookmark = loop {
        let e = events.next(Duration::from_secs(5)).await?;
        match e["type"].as_str() {
            Some("ADDED") => added.push(event(&e).1),
            Some("BOOKMARK") => break e,
            _ => bail!("unexpected event before the bookmark: {e}"),
        }
    };
    added.sort();
    assert_eq!(
        added,
        ["s-a", "s-b", "s-c"],
        "one ADDED per matching object"
    );
    let object = &bookmark["object"];
    assert_eq!(
        object["metadata"]["annotations"]["k8s.io/initial-events-end"], "true",
        "{bookmark}"
    );
    assert_eq!(object["kind"], "Pod");
    assert_eq!(object["apiVersion"], "v1");
    let mut keys: Vec<&String> = object
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    keys.sort();
    assert_eq!(keys, ["apiVersion", "kind", "metadata"], "{bookmark}");
    let list_rv = rv_of(object);
    assert!(
        list_rv >= newest_item,
        "bookmark at {list_rv}, objects up to {newest_item}"
    );

    // Later changes follow on the same stream; objects outside the selector do not.
    api.create(pods, &parked_pod("not-me", json!({"suite": "other"})))?;
    api.create(pods, &parked_pod("s-d", json!({"suite": "stream"})))?;
    let e = events.next_change(Duration::from_secs(5)).await?;
    assert_eq!(event(&e), ("ADDED".to_owned(), "s-d".to_owned()), "{e}");
    assert!(rv_of(&e["object"]) > list_rv);
    let relabel = api.request(
        "PATCH",
        &format!("{pods}/s-a"),
        &["Content-Type: application/merge-patch+json"],
        Some(&json!({"metadata": {"labels": {"suite": "moved"}}})),
    )?;
    assert_eq!(relabel.code, 200, "{}", relabel.text());
    let e = events.next_change(Duration::from_secs(5)).await?;
    assert_eq!(event(&e), ("DELETED".to_owned(), "s-a".to_owned()), "{e}");
    drop(events);

    // Not older than the bookmark's revision: the same state at a revision at least that.
    let query = format!(
        "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan\
         &allowWatchBookmarks=true&labelSelector=suite%3Dstream&resourceVersion={list_rv}"
    );
    let mut events = api.stream(&format!("{pods}?{query}"))?;
    let mut seen = Vec::new();
    loop {
        let e = events.next(Duration::from_secs(5)).await?;
        if e["type"] == "BOOKMARK" {
            assert!(rv_of(&e["object"]) >= list_rv);
            break;
        }
        seen.push(event(&e));
    }
    seen.sort();
    let want: Vec<(String, String)> = ["s-b", "s-c", "s-d"]
        .iter()
        .map(|n| ("ADDED".to_owned(), (*n).to_owned()))
        .collect();
    assert_eq!(seen, want);
    drop(events);

    // The legacy watch (no sendInitialEvents) with bookmarks: Kubernetes defaults it to a
    // streaming list, so the state ends with the same bookmark.
    let mut events = api.stream(&format!(
        "{pods}?watch=1&allowWatchBookmarks=true&fieldSelector=metadata.name%3Ds-b"
    ))?;
    let e = events.next(Duration::from_secs(5)).await?;
    assert_eq!(event(&e), ("ADDED".to_owned(), "s-b".to_owned()), "{e}");
    let e = events.next(Duration::from_secs(5)).await?;
    assert_eq!(e["type"], "BOOKMARK", "{e}");
    assert_eq!(
        e["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    drop(events);

    // A list at exactly the first bookmark's revision: s-d did not exist, s-a matched.
    let exact = api.request(
        "GET",
        &format!("{pods}?labelSelector=suite%3Dstream&resourceVersion={list_rv}&resourceVersionMatch=Exact"),
        &[],
        None,
    )?;
    assert_eq!(exact.code, 200, "{}", exact.text());
    let exact = exact.json()?;
    let mut names: Vec<&str> = exact["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["s-a", "s-b", "s-c"]);
    assert_eq!(exact["metadata"]["resourceVersion"], list_rv.to_string());

    // Forbidden combinations: Kubernetes' 422 on ListOptions, at once.
    let cases = [
        (
            "watch=true&sendInitialEvents=true",
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
        (
            "watch=true&resourceVersionMatch=NotOlderThan",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ),
        (
            "sendInitialEvents=true",
            "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
        ),
    ];
    for (q, message) in cases {
        let a = api.request("GET", &format!("{pods}?{q}"), &[], None)?;
        assert_eq!(a.code, 422, "{q}: {}", a.text());
        let s = a.json()?;
        assert_eq!(s["reason"], "Invalid", "{q}");
        assert_eq!(s["details"]["kind"], "ListOptions", "{q}");
        assert_eq!(
            s["message"],
            format!("ListOptions.meta.k8s.io \"\" is invalid: {message}"),
            "{q}"
        );
    }
    let a = api.request(
        "GET",
        &format!("{pods}?watch=true&sendInitialEvents=maybe"),
        &[],
        None,
    )?;
    assert_eq!(a.code, 400, "{}", a.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_requests_are_answered_at_once() -> anyhow::Result<()> {
    let (_cluster, api) = node().await?;
    let pods = "/api/v1/namespaces/default/pods";
    api.create(pods, &parked_pod("here", json!({})))?;
    let websocket = [
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol: v5.channel.k8s.io",
    ];
    let spdy = [
        "Connection: Upgrade",
        "Upgrade: SPDY/3.1",
        "X-Stream-Protocol-Version: v4.channel.k8s.io",
    ];
    let exec = "exec?command=ls&stdout=true&stderr=true";
    let none: [&str; 0] = [];
    let missing = format!("{pods}/missing/{exec}");
    let here = format!("{pods}/here/{exec}");
    // (case, method, path, headers, code, what the message says)
    let cases = [
        (
            "exec, missing pod",
            "GET",
            missing.as_str(),
            &websocket[..],
            404,
            "pods \"missing\" not found",
        ),
        (
            "exec, existing pod",
            "GET",
            &here,
            &websocket,
            400,
            "does not have a host assigned",
        ),
        (
            "exec over SPDY",
            "POST",
            &here,
            &spdy,
            400,
            // SPDY is spoken: the pod is checked, as Kubernetes checks it.
            "does not have a host assigned",
        ),
        (
            "exec without upgrade",
            "POST",
            &here,
            &none,
            400,
            "Upgrade request required",
        ),
        (
            "attach",
            "GET",
            "/api/v1/namespaces/default/pods/here/attach?stdout=true",
            &websocket,
            400,
            "does not have a host assigned",
        ),
        (
            "attach, missing pod",
            "POST",
            "/api/v1/namespaces/default/pods/gone/attach",
            &spdy,
            404,
            "not found",
        ),
        (
            "port-forward",
            "GET",
            "/api/v1/namespaces/default/pods/here/portforward?ports=80",
            &websocket,
            400,
            // Port-forward speaks the SPDY tunnel and v4 channels, not v5.
            "requested protocol(s) are not supported",
        ),
        (
            "pod proxy",
            "GET",
            "/api/v1/namespaces/default/pods/here/proxy/healthz",
            &none,
            400,
            "not supported yet",
        ),
        (
            "service proxy, missing",
            "GET",
            "/api/v1/namespaces/default/services/none/proxy/",
            &none,
            404,
            "not found",
        ),
        (
            "node proxy",
            "GET",
            "/api/v1/nodes/solo/proxy/metrics",
            &websocket,
            400,
            "not supported yet",
        ),
        (
            "unknown subresource",
            "GET",
            "/api/v1/namespaces/default/pods/here/teleport",
            &websocket,
            404,
            "could not find",
        ),
        (
            "watch over a websocket",
            "GET",
            "/api/v1/namespaces/default/pods?watch=true",
            &websocket,
            400,
            "WebSocket",
        ),
    ];
    for (name, method, path, headers, code, message) in cases {
        let a = api.request(method, path, headers, None)?;
        assert_eq!(a.code, code, "{name}: {}", a.text());
        assert!(
            a.took < Duration::from_secs(2),
            "{name}: answered after {:?}",
            a.took
        );
        assert!(a.body.ends_with(b"}\n"), "{name}: {:?}", a.text());
        let s = a.json()?;
        assert_eq!(s["kind"], "Status", "{name}");
        assert!(
            s["message"].as_str().is_some_and(|m| m.contains(message)),
            "{name}: {s}"
        );
    }
    // A plain read that happens to carry upgrade headers is served as a read.
    let a = api.request("GET", &format!("{pods}/here"), &websocket, None)?;
    assert_eq!(a.code, 200, "{}", a.text());

    // kubectl exec (websocket, then its SPDY fallback) fails fast and says why.
    let start = Instant::now();
    let o = api
        .kubectl(&rudder_tests::kubectl_bin(), &["exec", "here", "--", "ls"])
        .output()?;
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "kubectl exec should fail: {stderr}");
    // kubectl falls back to SPDY after the WebSocket answer, which Rudder refuses.
    assert!(stderr.contains("unable to upgrade connection"), "{stderr}");
    assert!(took < WHOLE_COMMAND, "kubectl exec took {took:?}: {stderr}");
    eprintln!("kubectl exec failed in {took:?}: {}", stderr.trim());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_have_kube_apiserver_shapes() -> anyhow::Result<()> {
    let (_cluster, api) = node().await?;
    let services = "/api/v1/namespaces/default/services";
    let svc = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    });
    let mut watch = api.stream(&format!(
        "{services}?watch=true&resourceVersion=0&allowWatchBookmarks=true"
    ))?;
    // The state (nothing here but the kubernetes service, if any) ends with the bookmark.
    loop {
        if watch.next(Duration::from_secs(5)).await?["type"] == "BOOKMARK" {
            break;
        }
    }
    let created = api.request("POST", services, &[], Some(&svc))?;
    let got = api.request("GET", &format!("{services}/web"), &[], None)?;
    let listed = api.request("GET", services, &[], None)?;
    let missing = api.request("GET", &format!("{services}/nope"), &[], None)?;
    let discovery = api.request("GET", "/api", &[], None)?;
    let namespace = api.request("GET", "/api/v1/namespaces/default", &[], None)?;
    for (name, a, code) in [
        ("create", &created, 201),
        ("get", &got, 200),
        ("list", &listed, 200),
        ("not found", &missing, 404),
        ("discovery", &discovery, 200),
        ("namespace", &namespace, 200),
    ] {
        assert_eq!(a.code, code, "{name}: {}", a.text());
        assert!(
            a.body.ends_with(b"}\n"),
            "{name} body lacks the trailing newline: {:?}",
            a.text()
        );
        assert!(!a.body.ends_with(b"\n\n"), "{name}");
    }
    let lb = json!({"loadBalancer": {}});
    assert_eq!(created.json()?["status"], lb, "create");
    assert_eq!(got.json()?["status"], lb, "get");
    let listed = listed.json()?;
    let item = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["metadata"]["name"] == "web")
        .context("web not listed")?;
    assert_eq!(item["status"], lb, "list");
    let mut e = watch.next(Duration::from_secs(5)).await?;
    // The `kubernetes` Service of `default` may be announced first.
    if event(&e) == ("ADDED".to_owned(), "kubernetes".to_owned()) {
        e = watch.next(Duration::from_secs(5)).await?;
    }
    assert_eq!(event(&e), ("ADDED".to_owned(), "web".to_owned()));
    assert_eq!(e["object"]["status"], lb, "watch");
    assert_eq!(missing.json()?["reason"], "NotFound");
    assert_eq!(namespace.json()?["status"], json!({"phase": "Active"}));

    // Workloads come back with their status block before any controller wrote one.
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shape"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "shape"}},
            "template": {"metadata": {"labels": {"app": "shape"}},
                         "spec": {"containers": [{"name": "main", "image": "rudder-demo:latest"}]}},
        },
    });
    let d = api.create("/apis/apps/v1/namespaces/default/deployments", &deploy)?;
    assert_eq!(d["status"], json!({}), "deployment create");
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "shape"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "rs-shape"}},
            "template": {"metadata": {"labels": {"app": "rs-shape"}},
                         "spec": {"containers": [{"name": "main", "image": "rudder-demo:latest"}]}},
        },
    });
    let rs = api.create("/apis/apps/v1/namespaces/default/replicasets", &rs)?;
    assert_eq!(rs["status"]["replicas"], 0, "replicaset create: {rs}");

    // An aggregated discovery answer ends the same way.
    let agg = api.request(
        "GET",
        "/apis",
        &["Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"],
        None,
    )?;
    assert_eq!(agg.code, 200);
    assert!(agg.body.ends_with(b"}\n"));
    Ok(())
}
