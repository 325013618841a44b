//! Server-side apply and managedFields against a real one-node `rudderd` (control plane
//! only: no container runs), with the clients users have: the newest kubectl, kube-rs
//! (`Patch::Apply`) and the Python `kubernetes` client.
//!
//! - Every write records its field manager: `kubectl create` as `kubectl-create`
//!   (`Update`), shown by `kubectl get --show-managed-fields`.
//! - Two managers apply overlapping fields of a Deployment: the second gets a 409 whose
//!   causes (`FieldManagerConflict`) name the first manager and both field paths, and
//!   kubectl prints "Apply failed with 2 conflicts"; with `--force-conflicts` it takes
//!   them; a field the first stops applying goes away only when nobody else owns it.
//! - A Deployment's containers list, keyed by name: add, remove and reorder items by
//!   apply, with another manager's item kept.
//! - `kubectl apply --server-side` of a multi-document manifest twice: the second run
//!   writes nothing (same resourceVersions); `kubectl diff --server-side` shows a change
//!   and then none.
//! - An apply without `fieldManager` is a 422; `force` on a merge patch is a 422; apply
//!   with `dryRun=All` writes nothing; apply through `/status` owns the status only.
//! - The Python client's server-side apply creates and then updates a ConfigMap.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{bail, Context as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use rudder_tests::{Cluster, NodeProc};
use serde_json::{json, Value};

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = match std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("kubectl could not run ({e}); scripts/test.sh installs it"),
    };
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.unwrap_or_default().as_bytes());
    }
    match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => panic!("kubectl did not finish: {e}"),
    }
}

fn ok(kc: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let o = kubectl(kc, args, stdin);
    assert!(
        o.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn get_json(kc: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = vec!["get", "-o", "json", "--show-managed-fields"];
    all.extend_from_slice(args);
    let out = ok(kc, &all, None);
    serde_json::from_str(&out).with_context(|| format!("kubectl printed {out}"))
}

/// The field paths (FieldsV1 keys joined by `/`) an entry of `obj` owns, for the entry
/// of `manager` with `operation`.
fn owned(obj: &Value, manager: &str, operation: &str) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Some(map) = v.as_object() {
            if map.is_empty() || map.contains_key(".") {
                out.push(prefix.to_owned());
            }
            for (k, child) in map {
                if k != "." {
                    walk(child, &format!("{prefix}/{k}"), out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for e in obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if e["manager"] == manager && e["operation"] == operation {
            walk(&e["fieldsV1"], "", &mut out);
        }
    }
    out
}

async fn node() -> anyhow::Result<(Cluster, PathBuf, kube::Client)> {
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", "solo");
    spec.roles = Some("control-plane".into());
    cluster.nodes.push(NodeProc::start(spec).await?);
    let kc = cluster.nodes[0].kubeconfig();
    rudder_tests::eventually(Duration::from_secs(15), || {
        let kc = kc.clone();
        async move {
            let o = kubectl(&kc, &["get", "namespace", "default", "-o", "name"], None);
            Ok(o.status.success().then_some(()))
        }
    })
    .await?;
    let client = common::kube_client(&kc).await?;
    Ok((cluster, kc, client))
}

/// A Deployment manifest (JSON, which kubectl reads as YAML).
fn deployment_manifest(name: &str, replicas: Option<i64>, image: &str, tier: bool) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]}
            }
        }
    });
    if let Some(r) = replicas {
        d["spec"]["replicas"] = json!(r);
    }
    if tier {
        d["metadata"]["labels"]["tier"] = json!("front");
    }
    d
}

fn deployment_yaml(name: &str, replicas: Option<i64>, image: &str, tier: bool) -> String {
    deployment_manifest(name, replicas, image, tier).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_conflict_force_and_release() -> anyhow::Result<()> {
    let (_cluster, kc, _client) = node().await?;
    // Plain writes record their manager.
    ok(
        &kc,
        &["create", "configmap", "plain", "--from-literal=a=1"],
        None,
    );
    let cm = get_json(&kc, &["configmap", "plain"])?;
    assert_eq!(
        owned(&cm, "kubectl-create", "Update"),
        vec!["/f:data", "/f:data/f:a"],
        "{cm}"
    );
    let entry = &cm["metadata"]["managedFields"][0];
    assert_eq!(entry["apiVersion"], "v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert!(
        entry["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{entry}"
    );
    ok(&kc, &["label", "configmap", "plain", "x=y"], None);
    let cm = get_json(&kc, &["configmap", "plain"])?;
    assert_eq!(
        owned(&cm, "kubectl-label", "Update"),
        vec!["/f:metadata/f:labels", "/f:metadata/f:labels/f:x"],
        "{cm}"
    );
    // Without --show-managed-fields kubectl hides them.
    let plain = ok(&kc, &["get", "configmap", "plain", "-o", "yaml"], None);
    assert!(!plain.contains("managedFields"), "{plain}");

    // alice applies; bob applies other values of two of her fields.
    ok(
        &kc,
        &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
        Some(&deployment_yaml("web", Some(2), "nginx:1", true)),
    );
    let bob = deployment_yaml("web", Some(3), "nginx:2", false);
    let o = kubectl(
        &kc,
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        Some(&bob),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "bob's apply should conflict");
    assert!(err.contains("Apply failed with 2 conflicts"), "{err}");
    assert!(err.contains("conflicts with \"alice\":"), "{err}");
    assert!(err.contains("- .spec.replicas"), "{err}");
    assert!(
        err.contains("- .spec.template.spec.containers[name=\"web\"].image"),
        "{err}"
    );
    let d = get_json(&kc, &["deployment", "web"])?;
    assert_eq!(d["spec"]["replicas"], 2, "a refused apply changes nothing");

    // The 409 itself, as client-go reads it.
    let client = common::kube_client(&kc).await?;
    let bob_json = deployment_manifest("web", Some(3), "nginx:2", false);
    let (code, status) = raw_apply(&client, "web", "bob", false, &bob_json).await?;
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    let causes = status["details"]["causes"].as_array().context("causes")?;
    let fields: Vec<&str> = causes.iter().filter_map(|c| c["field"].as_str()).collect();
    assert_eq!(
        fields,
        vec![
            ".spec.replicas",
            ".spec.template.spec.containers[name=\"web\"].image"
        ],
        "{status}"
    );
    for c in causes {
        assert_eq!(c["reason"], "FieldManagerConflict");
        assert_eq!(c["message"], "conflict with \"alice\"");
    }

    // Forced, bob takes the two fields; alice keeps the rest.
    ok(
        &kc,
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&bob),
    );
    let d = get_json(&kc, &["deployment", "web"])?;
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    let alice = owned(&d, "alice", "Apply");
    assert!(
        !alice.contains(&"/f:spec/f:replicas".to_owned()),
        "{alice:?}"
    );
    assert!(
        alice.contains(&"/f:metadata/f:labels/f:tier".to_owned()),
        "{alice:?}"
    );
    assert!(owned(&d, "bob", "Apply").contains(&"/f:spec/f:replicas".to_owned()));

    // alice stops applying replicas (bob owns them: they stay) and the tier label (only
    // she owns it: it goes).
    ok(
        &kc,
        &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
        Some(&deployment_yaml("web", None, "nginx:2", false)),
    );
    let d = get_json(&kc, &["deployment", "web"])?;
    assert_eq!(d["spec"]["replicas"], 3, "{d}");
    assert!(d["metadata"]["labels"].get("tier").is_none(), "{d}");
    assert_eq!(d["metadata"]["labels"]["app"], "web");
    Ok(())
}

/// A raw apply PATCH (so the test sees the Status as sent): its code and body.
async fn raw_apply(
    client: &kube::Client,
    name: &str,
    manager: &str,
    force: bool,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut uri = format!("/apis/apps/v1/namespaces/default/deployments/{name}?");
    if !manager.is_empty() {
        uri.push_str(&format!("fieldManager={manager}&"));
    }
    if force {
        uri.push_str("force=true");
    }
    let request = http::Request::builder()
        .method("PATCH")
        .uri(uri)
        .header("content-type", "application/apply-patch+yaml")
        .header("accept", "application/json")
        .body(kube::client::Body::from(serde_json::to_vec(body)?))?;
    let response = client.send(request).await?;
    let code = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await?;
    let value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{code}: {}", String::from_utf8_lossy(&bytes)))?;
    Ok((code, value))
}

fn with_containers(name: &str, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers}
            }
        }
    })
}

fn container_field(d: &Deployment, field: &str) -> Vec<String> {
    let v = serde_json::to_value(d).unwrap_or_default();
    v.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| c[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn container_names(d: &Deployment) -> Vec<String> {
    container_field(d, "name")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_list_by_apply_with_kube_rs() -> anyhow::Result<()> {
    let (_cluster, _kc, client) = node().await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pp = PatchParams::apply("lists");
    let apply = |containers: Value| -> anyhow::Result<Patch<Deployment>> {
        Ok(Patch::Apply(serde_json::from_value(with_containers(
            "lists", containers,
        ))?))
    };
    let c = |n: &str| json!({"name": n, "image": format!("img-{n}")});

    // Apply creates the object.
    let d = api
        .patch("lists", &pp, &apply(json!([c("a"), c("b")]))?)
        .await?;
    assert_eq!(container_names(&d), ["a", "b"]);
    // Add: a new item goes where the configuration puts it.
    let d = api
        .patch("lists", &pp, &apply(json!([c("a"), c("x"), c("b")]))?)
        .await?;
    assert_eq!(container_names(&d), ["a", "x", "b"]);
    // Reorder: shared items follow the configuration's order.
    let d = api
        .patch("lists", &pp, &apply(json!([c("b"), c("x"), c("a")]))?)
        .await?;
    assert_eq!(container_names(&d), ["b", "x", "a"]);
    // Another manager adds its own item (and owns it).
    let other = PatchParams::apply("other");
    let d = api
        .patch(
            "lists",
            &other,
            &apply(json!([{"name": "side", "image": "img-side"}]))?,
        )
        .await?;
    assert_eq!(container_names(&d), ["b", "x", "a", "side"]);
    // Remove: an item the manager stops applying goes; the other manager's stays.
    let d = api
        .patch("lists", &pp, &apply(json!([c("b"), c("a")]))?)
        .await?;
    assert_eq!(container_names(&d), ["b", "a", "side"]);
    // A changed field of the other manager's item is a conflict, forced it is taken.
    let taken = apply(json!([c("b"), c("a"), {"name": "side", "image": "mine"}]))?;
    match api.patch("lists", &pp, &taken).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains(
                    "Apply failed with 1 conflict: conflict with \"other\": .spec.template.spec.containers[name=\"side\"].image"
                ),
                "{}",
                s.message
            );
        }
        other => bail!("expected a conflict, got {other:?}"),
    }
    let d = api.patch("lists", &pp.clone().force(), &taken).await?;
    let images = container_field(&d, "image");
    assert_eq!(images[2], "mine");

    // Dry run: the answer shows the change; nothing is written.
    let before = api.get("lists").await?;
    let dry = api
        .patch(
            "lists",
            &pp.clone().force().dry_run(),
            &apply(json!([c("z")]))?,
        )
        .await?;
    assert!(container_names(&dry).contains(&"z".to_owned()));
    let after = api.get("lists").await?;
    assert_eq!(
        before.metadata.resource_version,
        after.metadata.resource_version
    );
    assert!(!container_names(&after).contains(&"z".to_owned()));
    // Dry run of an apply that would create: nothing is created.
    let ghost: Patch<Deployment> = Patch::Apply(serde_json::from_value(with_containers(
        "ghost",
        json!([c("a")]),
    ))?);
    api.patch("ghost", &pp.clone().dry_run(), &ghost).await?;
    assert!(api.get_opt("ghost").await?.is_none());

    // Options as Kubernetes checks them.
    let (code, status) = raw_apply(
        &client,
        "lists",
        "",
        false,
        &with_containers("lists", json!([c("a")])),
    )
    .await?;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let request = http::Request::builder()
        .method("PATCH")
        .uri("/apis/apps/v1/namespaces/default/deployments/lists?force=true")
        .header("content-type", "application/merge-patch+json")
        .body(kube::client::Body::from(b"{}".to_vec()))?;
    let response = client.send(request).await?;
    assert_eq!(response.status().as_u16(), 422);

    // Apply through the status subresource owns the status only.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}], "nodeName": "nowhere"}
        }))?,
    )
    .await?;
    let status_patch: Patch<Value> = Patch::Apply(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "status": {"message": "from-apply"}
    }));
    let p = pods
        .patch_status("p", &PatchParams::apply("status-writer"), &status_patch)
        .await?;
    assert_eq!(
        p.status.and_then(|s| s.message).as_deref(),
        Some("from-apply")
    );
    let p: Value = serde_json::to_value(pods.get("p").await?)?;
    let entry = p["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["manager"] == "status-writer")
        .cloned()
        .context("no status-writer entry")?;
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["subresource"], "status");
    assert_eq!(entry["fieldsV1"], json!({"f:status": {"f:message": {}}}));
    Ok(())
}

const MANIFEST: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  labels: {app: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: shop
        image: shop:1
        ports:
        - containerPort: 8080
        env:
        - {name: MODE, value: fast}
---
apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  selector: {app: shop}
  ports:
  - port: 80
    targetPort: 8080
";

fn resource_versions(kc: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for what in ["configmap/settings", "deployment/shop", "service/shop"] {
        let v = get_json(kc, &[what])?;
        let rv = v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        out.push((what.to_owned(), rv));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_twice_is_a_no_op() -> anyhow::Result<()> {
    let (_cluster, kc, _client) = node().await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("shop.yaml");
    std::fs::write(&file, MANIFEST)?;
    let file = file.to_string_lossy().into_owned();
    let out = ok(&kc, &["apply", "--server-side", "-f", &file], None);
    assert!(out.contains("serverside-applied"), "{out}");
    let first = resource_versions(&kc)?;
    let d = get_json(&kc, &["deployment", "shop"])?;
    let mine = owned(&d, "kubectl", "Apply");
    assert!(
        mine.contains(&"/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"shop\"}/f:env/k:{\"name\":\"MODE\"}/f:value".to_owned()),
        "{mine:?}"
    );
    assert!(
        mine.contains(&"/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"shop\"}/f:ports/k:{\"containerPort\":8080,\"protocol\":\"TCP\"}/f:containerPort".to_owned()),
        "{mine:?}"
    );
    // The controllers may write the Deployment's status (not its object) in between:
    // compare after they settle, then apply again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = resource_versions(&kc)?;
    let out = ok(&kc, &["apply", "--server-side", "-f", &file], None);
    assert!(out.contains("serverside-applied"), "{out}");
    let second = resource_versions(&kc)?;
    assert_eq!(settled, second, "the second apply wrote (first: {first:?})");

    // kubectl diff: none for the manifest as applied, one for a change.
    let o = kubectl(
        &kc,
        &[
            "diff",
            "--server-side",
            "--field-manager=kubectl",
            "-f",
            &file,
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let changed = MANIFEST.replace("mode: fast", "mode: slow");
    std::fs::write(dir.path().join("changed.yaml"), &changed)?;
    let changed_file = dir
        .path()
        .join("changed.yaml")
        .to_string_lossy()
        .into_owned();
    let o = kubectl(
        &kc,
        &[
            "diff",
            "--server-side",
            "--field-manager=kubectl",
            "-f",
            &changed_file,
        ],
        None,
    );
    let diff = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{diff}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        diff.contains("-  mode: fast") && diff.contains("+  mode: slow"),
        "{diff}"
    );
    let o = kubectl(&kc, &["diff", "-f", &changed_file], None);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Nothing was written by the diffs.
    assert_eq!(resource_versions(&kc)?[0], second[0]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_server_side_apply() -> anyhow::Result<()> {
    let (cluster, kc, client) = node().await?;
    let script = rudder_tests::repo_root().join("tests/python/apply.py");
    let out = rudder_tests::python_with_client()
        .env("KUBECONFIG", &kc)
        .arg(&script)
        .output()
        .context("python3 could not run; scripts/test.sh installs the kubernetes client")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} failed:\n{stdout}\n{}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr),
            cluster.nodes[0]
                .log_text()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("the script printed {stdout}"))?;
    assert_eq!(report["created"], json!({"a": "1"}), "{report}");
    assert_eq!(report["updated"], json!({"a": "2", "b": "3"}), "{report}");
    assert_eq!(report["managers"], json!(["py-apply"]), "{report}");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = cms.get("py-applied").await?;
    let entries = cm.metadata.managed_fields.unwrap_or_default();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].operation.as_deref(), Some("Apply"));
    Ok(())
}
