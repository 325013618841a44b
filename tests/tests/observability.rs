//! Metrics on a real three-node cluster, read by a real Prometheus server (Debian's
//! `prometheus` package, installed by `scripts/test.sh`) and by kubectl 1.37.
//!
//! Prometheus scrapes every node twice, as an operator would set it up: `/metrics` on
//! each API port over TLS with that node's admin token and CA, and each node's plain
//! metrics address. Its own OpenMetrics parser is the validator: a target whose
//! exposition it cannot read is reported down with the parse error. After a known
//! workload the counters say what happened: the ConfigMaps kubectl created are
//! `apiserver_request_total{verb="POST",code="201"}` on the node that served them, the
//! scheduler's `scheduled` attempts add up to the pods bound, and an actor killed through
//! chaos shows in `rudder_actor_restarts_total` (and in `rudderctl top actors`). The
//! `/metrics` path is authorized as Kubernetes does it: 401 without credentials, 403
//! for a service account until it is bound to `system:monitoring`. A client that does not
//! ask for OpenMetrics gets the 0.0.4 text format, which `promtool check metrics` passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{bail, Context as _};
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::resources::{Container, Pod};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, kubectl_bin, rudderctl_bin, Cluster, NodeProc};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts `cp-1`..`cp-3` of `cluster-config/three-node/`, each with a metrics address.
async fn cluster() -> anyhow::Result<Cluster> {
    let mut c = Cluster::new()?;
    for i in 1..=3 {
        let mut spec = c.spec(&format!("three-node/cp-{i}.toml"), &format!("cp-{i}"));
        spec.env
            .push(("RUDDER_METRICS_LISTEN".into(), "127.0.0.1:0".into()));
        c.nodes.push(NodeProc::start(spec).await?);
    }
    c.wait_store_in_step(Duration::from_secs(60)).await?;
    Ok(c)
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs (scripts/test.sh installs it)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `kubectl get --raw /metrics` as the kubeconfig's admin.
fn api_metrics(kubeconfig: &Path) -> anyhow::Result<String> {
    let out = kubectl(kubeconfig, &["get", "--raw", "/metrics"]);
    if !out.status.success() {
        bail!("kubectl get --raw /metrics: {}", text(&out.stderr));
    }
    Ok(text(&out.stdout))
}

/// A GET over plain HTTP/1.1 on loopback: `(status, body)`.
async fn http_get(address: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let (status, _, body) = http_get_accepting(address, path, None).await?;
    Ok((status, body))
}

/// A GET with an `Accept` header: `(status, content type, body)`.
async fn http_get_accepting(
    address: &str,
    path: &str,
    accept: Option<&str>,
) -> anyhow::Result<(u16, String, String)> {
    let mut s = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n{accept}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status")?;
    let head = head.to_ascii_lowercase();
    let chunked = head.contains("transfer-encoding: chunked");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    Ok((
        status,
        content_type,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

/// `promtool check metrics` (Debian's prometheus package, beside the server) on one
/// exposition: its lint findings, or an error when it finds any.
fn promtool_check(what: &str, exposition: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let bin = prometheus_bin().with_file_name("promtool");
    let mut child = Command::new(&bin)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} (Debian's prometheus package)", bin.display()))?;
    child
        .stdin
        .take()
        .context("promtool's stdin")?
        .write_all(exposition.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "promtool check metrics on {what}: {}\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    Ok(())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One sample: name, labels, value.
type Sample<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

/// The labels of one exposition line, `name{k="v",...} value`.
fn parse_line(line: &str) -> Option<Sample<'_>> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((n, rest)) => (n, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let mut pairs = Vec::new();
    let mut rest = labels;
    while let Some((k, after)) = rest.split_once("=\"") {
        let end = after.find('"')?;
        pairs.push((k.trim_start_matches(','), &after[..end]));
        rest = &after[end + 1..];
    }
    Some((name, pairs, value))
}

/// The sum of the samples of `name` whose labels include `want`.
fn sum(exposition: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter_map(parse_line)
        .filter(|(n, labels, _)| *n == name && want.iter().all(|w| labels.iter().any(|l| l == w)))
        .map(|(_, _, v)| v)
        .sum()
}

fn has_series(exposition: &str, name: &str) -> bool {
    exposition
        .lines()
        .filter_map(parse_line)
        .any(|(n, _, _)| n == name)
}

/// A Prometheus server scraping the cluster, stopped when dropped.
struct Prometheus {
    _child: tokio::process::Child,
    address: String,
}

fn prometheus_bin() -> PathBuf {
    std::env::var_os("RUDDER_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("prometheus"))
}

impl Prometheus {
    async fn start(cluster: &Cluster) -> anyhow::Result<Prometheus> {
        let dir = cluster.dir.path().join("prometheus");
        std::fs::create_dir_all(&dir)?;
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for n in &cluster.nodes {
            let data = &n.spec.data_dir;
            let api = n
                .api
                .as_deref()
                .context("a control-plane node has an API")?;
            config.push_str(&format!(
                "- job_name: apiserver-{name}\n  scheme: https\n  tls_config:\n    ca_file: {ca}\n  authorization:\n    credentials_file: {token}\n  static_configs:\n  - targets: ['{api}']\n",
                name = n.name(),
                ca = data.join("pki/ca.crt").display(),
                token = data.join("admin.token").display(),
            ));
        }
        let nodes: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("'{}'", n.metrics.as_deref().unwrap_or("missing")))
            .collect();
        config.push_str(&format!(
            "- job_name: rudder-nodes\n  static_configs:\n  - targets: [{}]\n",
            nodes.join(", ")
        ));
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = tokio::process::Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .arg("--log.level=warn")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (Debian's prometheus package; scripts/test.sh installs it)",
                    prometheus_bin().display()
                )
            })?;
        Ok(Prometheus {
            _child: child,
            address,
        })
    }

    async fn api(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = http_get(&self.address, path).await?;
        if status != 200 {
            bail!("prometheus {path}: {status} {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// The value of an instant query that returns one series (`None`: no series).
    async fn query(&self, promql: &str) -> anyhow::Result<Option<f64>> {
        let v = self
            .api(&format!("/api/v1/query?query={}", encode(promql)))
            .await?;
        let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
        Ok(match result.as_slice() {
            [] => None,
            [one] => one["value"][1].as_str().and_then(|s| s.parse().ok()),
            many => bail!("{promql}: {} series", many.len()),
        })
    }
}

/// Percent-encoding of a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn demo_pod(name: &str) -> Pod {
    let mut p = Pod::new(name);
    p.spec.containers.push(Container {
        name: "app".into(),
        image: "demo".into(),
        ..Default::default()
    });
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_node_and_the_counters_tell_the_workload() -> anyhow::Result<()> {
    let cluster = cluster().await?;
    let prometheus = Prometheus::start(&cluster).await?;
    let kc = cluster.nodes[0].kubeconfig();

    // Every target up: Prometheus parsed each exposition (it reports a parse error as
    // the target's lastError and health "down").
    let (targets, _) = eventually(Duration::from_secs(40), || async {
        let v = prometheus.api("/api/v1/targets").await?;
        let active = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = active
            .iter()
            .filter(|t| t["health"] == "up" && t["lastError"] == "")
            .count();
        Ok((active.len() == 6 && up == 6).then_some(active))
    })
    .await
    .context("not every target was scraped cleanly")?;
    assert_eq!(targets.len(), 6);

    // Every node serves the standard families on its metrics address.
    for n in &cluster.nodes {
        let address = n
            .metrics
            .as_deref()
            .context("metrics address in the ready line")?;
        let (status, body) = http_get(address, "/metrics").await?;
        assert_eq!(status, 200, "{}", n.name());
        for family in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "process_start_time_seconds",
            "apiserver_request_total",
            "apiserver_request_duration_seconds_bucket",
            "etcd_request_duration_seconds_count",
            "etcd_server_has_leader",
            "rudder_raft_term",
            "rudder_raft_applied_index",
            "etcd_disk_wal_fsync_duration_seconds_count",
            "rudder_actor_messages_total",
            "rudder_actor_handler_duration_seconds_count",
            "rudder_bus_link_frames_total",
            "rudder_bus_link_bytes_total",
            "rudder_bus_link_round_trip_seconds_count",
            "workqueue_adds_total",
            "rest_client_requests_total",
        ] {
            assert!(
                has_series(&body, family),
                "{} lacks {family}:\n{body}",
                n.name()
            );
        }
        assert_eq!(
            sum(&body, "etcd_server_has_leader", &[]),
            1.0,
            "{}",
            n.name()
        );
        // Two peers, frames both ways on each link.
        for peer in cluster.nodes.iter().filter(|p| p.name() != n.name()) {
            for direction in ["sent", "received"] {
                let frames = sum(
                    &body,
                    "rudder_bus_link_frames_total",
                    &[("peer", peer.name()), ("direction", direction)],
                );
                assert!(
                    frames > 0.0,
                    "{} -> {}: {direction} {frames}",
                    n.name(),
                    peer.name()
                );
            }
        }
    }
    let leaders: f64 = {
        let mut total = 0.0;
        for n in &cluster.nodes {
            let (_, body) = http_get(n.metrics.as_deref().unwrap_or_default(), "/metrics").await?;
            total += sum(&body, "etcd_server_is_leader", &[]);
        }
        total
    };
    assert_eq!(leaders, 1.0, "exactly one store leader");

    // N creates through kubectl on cp-1, counted there with code 201.
    let out = kubectl(&kc, &["create", "namespace", "obs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The namespace's root CA ConfigMap is created by a controller: wait for it, so the
    // only ConfigMap creates from here on are kubectl's.
    eventually(Duration::from_secs(20), || async {
        let out = kubectl(&kc, &["get", "configmap", "kube-root-ca.crt", "-n", "obs"]);
        Ok(out.status.success().then_some(()))
    })
    .await?;
    let posts = |body: &str| {
        sum(
            body,
            "apiserver_request_total",
            &[
                ("verb", "POST"),
                ("resource", "configmaps"),
                ("code", "201"),
                ("scope", "namespace"),
                ("component", "apiserver"),
            ],
        )
    };
    let before = posts(&api_metrics(&kc)?);
    const CREATES: usize = 7;
    for i in 0..CREATES {
        let name = format!("cm-{i}");
        let out = kubectl(&kc, &["create", "configmap", &name, "-n", "obs"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let after_body = api_metrics(&kc)?;
    assert_eq!(
        posts(&after_body) - before,
        CREATES as f64,
        "creates recorded with code 201"
    );
    // A refused create (already exists) is a 409, not a 201.
    let out = kubectl(&kc, &["create", "configmap", "cm-0", "-n", "obs"]);
    assert!(!out.status.success());
    let conflict = sum(
        &api_metrics(&kc)?,
        "apiserver_request_total",
        &[
            ("verb", "POST"),
            ("resource", "configmaps"),
            ("code", "409"),
        ],
    );
    assert!(conflict >= 1.0, "the conflict is counted: {conflict}");
    // The same figure through Prometheus.
    let job = format!("apiserver-{}", cluster.nodes[0].name());
    let promql = format!(
        "sum(apiserver_request_total{{job=\"{job}\",verb=\"POST\",resource=\"configmaps\",code=\"201\"}})"
    );
    let want = posts(&after_body);
    eventually(Duration::from_secs(20), || async {
        let got = prometheus.query(&promql).await?;
        Ok((got.unwrap_or(-1.0) >= want).then_some(()))
    })
    .await
    .context("prometheus never saw the creates")?;

    // The scheduler's successful attempts add up to the pods bound.
    let client = cluster.nodes[0].client().await?;
    let pods = client.api::<Pod>(Some("obs"));
    const PODS: usize = 5;
    for i in 0..PODS {
        pods.create(&demo_pod(&format!("p-{i}"))).await?;
    }
    eventually(Duration::from_secs(30), || async {
        let list = pods.list(&Default::default()).await?;
        let bound = list
            .items
            .iter()
            .filter(|p| !p.spec.node_name.is_empty())
            .count();
        Ok((bound == PODS).then_some(()))
    })
    .await?;
    let scheduled = || async {
        let mut total = 0.0;
        let mut sli = 0.0;
        for n in &cluster.nodes {
            let (_, body) = http_get(n.metrics.as_deref().unwrap_or_default(), "/metrics").await?;
            total += sum(
                &body,
                "scheduler_schedule_attempts_total",
                &[("result", "scheduled"), ("profile", "default-scheduler")],
            );
            sli += sum(
                &body,
                "scheduler_pod_scheduling_sli_duration_seconds_count",
                &[],
            );
        }
        anyhow::Ok((total, sli))
    };
    // The scheduler counts an attempt when the binding's reply reaches it, which can
    // be a moment after a list already shows the pod bound: wait for the count to
    // reach the pods, then check it is exactly that.
    let counted = eventually(Duration::from_secs(10), || async {
        let (attempts, sli) = scheduled().await?;
        Ok((attempts >= PODS as f64 && sli >= PODS as f64).then_some(()))
    })
    .await;
    let (attempts, sli) = scheduled().await?;
    assert!(counted.is_ok(), "attempts {attempts}, SLI samples {sli}");
    assert_eq!(attempts, PODS as f64, "scheduled attempts equal pods bound");
    assert_eq!(sli, PODS as f64, "one scheduling SLI sample per pod");

    // A killed actor's restart is counted on its node, and `rudderctl top actors` shows it.
    let victim = cluster.nodes[1].name().to_owned();
    let reply = client
        .call(
            ActorRef::new(victim.as_str(), "chaos"),
            ChaosRequest::KillActor {
                name: "scheduler".into(),
            },
        )
        .await?;
    assert!(matches!(reply, ChaosReply::Killed { .. }), "{reply:?}");
    let metrics_address = cluster.nodes[1].metrics.clone().unwrap_or_default();
    eventually(Duration::from_secs(10), || async {
        let (_, body) = http_get(&metrics_address, "/metrics").await?;
        let restarts = sum(
            &body,
            "rudder_actor_restarts_total",
            &[("actor", "scheduler")],
        );
        Ok((restarts == 1.0).then_some(()))
    })
    .await
    .context("the scheduler's restart was not counted")?;
    let out = Command::new(rudderctl_bin())
        .arg("--client-config")
        .arg(cluster.nodes[0].client_config())
        .args(["top", "actors", "-o", "json"])
        .output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let top: Value = serde_json::from_slice(&out.stdout)?;
    let rows = top["actors"].as_array().cloned().unwrap_or_default();
    let row = |node: &str, name: &str| {
        rows.iter()
            .find(|r| r["node"] == node && r["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(row(&victim, "scheduler")["restarts"], 1, "{top}");
    let api = row(cluster.nodes[0].name(), "apiserver");
    assert!(api["messages"].as_u64().unwrap_or(0) > 0, "{top}");
    assert!(rows.len() >= 3 * 5, "every node's actors: {top}");
    // Busiest first.
    let rates: Vec<f64> = rows
        .iter()
        .map(|r| r["messagesPerSecond"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");

    // Authorization of /metrics: an unknown token 401; a service account 403 until it
    // is bound to system:monitoring, then 200.
    let out = kubectl(&kc, &["--token", "not-a-token", "get", "--raw", "/metrics"]);
    assert!(!out.status.success(), "an unknown token read /metrics");
    assert!(
        text(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out.stderr)
    );
    let out = kubectl(&kc, &["create", "serviceaccount", "scraper", "-n", "obs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = kubectl(&kc, &["create", "token", "scraper", "-n", "obs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let as_scraper = || kubectl(&kc, &["--token", &token, "get", "--raw", "/metrics"]);
    let out = as_scraper();
    assert!(!out.status.success(), "unbound account read /metrics");
    assert!(
        text(&out.stderr).contains("Forbidden") || text(&out.stderr).contains("forbidden"),
        "{}",
        text(&out.stderr)
    );
    let out = kubectl(
        &kc,
        &[
            "create",
            "clusterrolebinding",
            "scraper-monitoring",
            "--clusterrole=system:monitoring",
            "--serviceaccount=obs:scraper",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (body, _) = eventually(Duration::from_secs(15), || async {
        let out = as_scraper();
        Ok(out.status.success().then(|| text(&out.stdout)))
    })
    .await
    .context("the bound account could not read /metrics")?;
    assert!(has_series(&body, "apiserver_request_total"));

    // The 0.0.4 text format for whoever does not ask for OpenMetrics (kubectl, curl),
    // clean by promtool's lint on every endpoint after the workload above; OpenMetrics
    // (what Prometheus asked for, and parsed, all along) when asked for.
    promtool_check("kubectl get --raw /metrics", &api_metrics(&kc)?)?;
    for n in &cluster.nodes {
        let address = n.metrics.as_deref().unwrap_or_default();
        let (status, content_type, body) = http_get_accepting(address, "/metrics", None).await?;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        assert!(!body.contains("# EOF"), "OpenMetrics served to a plain GET");
        promtool_check(&format!("{}'s metrics address", n.name()), &body)?;
        let (_, content_type, body) = http_get_accepting(
            address,
            "/metrics",
            Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
        )
        .await?;
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        assert!(
            body.trim_end().ends_with("# EOF"),
            "OpenMetrics ends with # EOF"
        );
    }
    Ok(())
}

#[test]
fn exposition_lines_parse() {
    let line = r#"apiserver_request_total{verb="POST",group="",code="201"} 7"#;
    let (name, labels, v) = parse_line(line).expect("parses");
    assert_eq!(name, "apiserver_request_total");
    assert_eq!(labels, [("verb", "POST"), ("group", ""), ("code", "201")]);
    assert_eq!(v, 7.0);
    assert_eq!(parse_line("process_open_fds 12").map(|l| l.2), Some(12.0));
    assert!(parse_line("# TYPE x counter").is_none());
    assert_eq!(
        sum(
            &format!("{line}\n{line}\n"),
            "apiserver_request_total",
            &[("code", "201")]
        ),
        14.0
    );
    assert_eq!(encode("a{b=\"c\"}"), "a%7Bb%3D%22c%22%7D");
    assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
}
