//! Writes as Kubernetes clients make them, against a real one-node `rudderd`:
//!
//! - `kubectl apply` of an edited manifest (a changed env value, an added and a removed
//!   container, reordered ports, a removed label, a changed annotation), with the newest
//!   and the oldest supported kubectl: strict field validation runs on the patched
//!   object, never on the patch's directives, and the live object is what kube-apiserver
//!   makes of it, lists in order.
//! - Retry on conflict inside the server: concurrent scale, label and annotate patches on
//!   a Deployment that is rolling out all land; the Python client scales a Deployment
//!   right after creating it; a stale resourceVersion still gets 409.
//! - `--dry-run=server` for create, apply, replace, scale, label, delete and
//!   deletecollection: the answer is the object as it would be, and nothing is written:
//!   between the list revisions read before and after, the store's own history holds
//!   only the controllers' leader-lease renewals (they renew every second whatever
//!   happens), and a Service's cluster IP and node port stay free.
//! - Graceful pod deletion: a terminating pod outlives every other write (a label, a
//!   status, its last finalizer going) until a deletion with no grace ends it; a
//!   finalizer that remains then holds it until it goes.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{bail, Context as _};
use rudder_protocol::client::Client;
use rudder_protocol::messages::store::{StoreReply, StoreRequest};
use rudder_tests::{eventually, Cluster, NodeProc};
use serde_json::{json, Value};

fn run(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    match std::process::Command::new(kubectl)
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "{} could not run ({e}); scripts/test.sh installs it",
            kubectl.display()
        ),
    }
}

/// Runs kubectl and returns its stdout; fails the test (with kubectl's output) if it fails.
fn ok(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let o = run(kubectl, kubeconfig, args);
    assert!(
        o.status.success(),
        "{} {args:?} failed: {}{}",
        kubectl.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs kubectl, which must fail, and returns its stderr.
fn fails(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let o = run(kubectl, kubeconfig, args);
    assert!(
        !o.status.success(),
        "{} {args:?} should fail: {}",
        kubectl.display(),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = ok(kubectl, kubeconfig, args);
    serde_json::from_str(&out).with_context(|| format!("kubectl {args:?} printed {out}"))
}

/// One `rudderd` (both roles, or the control plane only), once it serves `default`.
async fn node(control_plane_only: bool) -> anyhow::Result<(Cluster, PathBuf)> {
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", "solo");
    if control_plane_only {
        spec.roles = Some("control-plane".into());
    }
    cluster.nodes.push(NodeProc::start(spec).await?);
    let kc = cluster.nodes[0].kubeconfig();
    let kubectl = rudder_tests::kubectl_bin();
    eventually(Duration::from_secs(20), || {
        let (kc, kubectl) = (kc.clone(), kubectl.clone());
        async move {
            let o = run(
                &kubectl,
                &kc,
                &["get", "namespace", "default", "-o", "name"],
            );
            Ok(o.status.success().then_some(()))
        }
    })
    .await?;
    Ok((cluster, kc))
}

/// Writes `value` as a JSON manifest (JSON is YAML: `kubectl apply -f` reads it).
fn manifest(dir: &Path, file: &str, value: &Value) -> anyhow::Result<String> {
    let path = dir.join(file);
    std::fs::write(&path, serde_json::to_vec_pretty(value)?)?;
    Ok(path.to_string_lossy().into_owned())
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

// ---- kubectl apply of an edited manifest ------------------------------------------------

/// A container of the apply test: name, env (name, value) and ports (name, port).
type Spec = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<(&'static str, i64)>,
);

/// The Deployment manifest of one step of the apply test.
fn shop(
    ns: &str,
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
    containers: &[Spec],
) -> Value {
    let map = |pairs: &[(&str, &str)]| -> Value {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, env, ports)| {
            let mut c = json!({
                "name": name,
                "image": "rudder-demo:latest",
                "env": env.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
            });
            if !ports.is_empty() {
                c["ports"] = ports
                    .iter()
                    .map(|(n, p)| json!({"name": n, "containerPort": p}))
                    .collect();
            }
            c
        })
        .collect();
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": ns, "labels": map(labels), "annotations": map(annotations)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": {"app": "shop"}},
                "spec": {"containers": containers},
            },
        },
    })
}

/// The parts of the live Deployment the apply test compares, as kube-apiserver would
/// have them after applying `containers`: container names in order, each one's env and
/// ports in order (ports defaulted to TCP), the labels, and the annotations other than
/// the ones kubectl and the deployment controller keep.
fn expected(labels: &[(&str, &str)], annotations: &[(&str, &str)], containers: &[Spec]) -> Value {
    let map = |pairs: &[(&str, &str)]| -> Value {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    json!({
        "labels": map(labels),
        "annotations": map(annotations),
        // Empty lists are left out, as Kubernetes' JSON leaves them out.
        "containers": containers.iter().map(|(name, env, ports)| json!({
            "name": name,
            "env": env.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
            "ports": (!ports.is_empty()).then(|| ports.iter().map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"})).collect::<Vec<_>>()),
        })).collect::<Vec<_>>(),
    })
}

fn observed(live: &Value) -> Value {
    let mut annotations = live["metadata"]["annotations"].clone();
    if let Some(a) = annotations.as_object_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        a.remove("deployment.kubernetes.io/revision");
    }
    let containers: Vec<Value> = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| json!({"name": c["name"], "env": c["env"], "ports": c["ports"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "labels": live["metadata"]["labels"],
        "annotations": annotations,
        "containers": containers,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_of_edited_manifests_gives_what_kubernetes_gives() -> anyhow::Result<()> {
    let (cluster, kc) = node(false).await?;
    let dir = cluster.dir.path();
    let web: Spec = (
        "web",
        vec![("A", "1"), ("B", "2"), ("C", "3")],
        vec![("http", 8080), ("https", 8443)],
    );
    let web_b20: Spec = (
        "web",
        vec![("A", "1"), ("B", "20"), ("C", "3")],
        vec![("http", 8080), ("https", 8443)],
    );
    let web_reordered: Spec = (
        "web",
        vec![("A", "1"), ("B", "20"), ("C", "3")],
        vec![("https", 8443), ("http", 8080)],
    );
    let sidecar: Spec = ("sidecar", vec![("S", "1")], vec![("metrics", 9090)]);
    let log: Spec = ("log", vec![("L", "1")], vec![]);
    let labels = [("app", "shop"), ("tier", "front"), ("team", "a")];
    let fewer_labels = [("app", "shop"), ("tier", "front")];
    let notes = [("owner", "alice"), ("note", "one")];
    let new_note = [("owner", "alice"), ("note", "two")];
    type Step<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
        Vec<Spec>,
    );
    let steps: Vec<Step> = vec![
        (
            "first apply",
            &labels[..],
            &notes[..],
            vec![web.clone(), sidecar.clone()],
        ),
        (
            "changed env value",
            &labels[..],
            &notes[..],
            vec![web_b20.clone(), sidecar.clone()],
        ),
        (
            "added container",
            &labels[..],
            &notes[..],
            vec![web_b20.clone(), sidecar.clone(), log.clone()],
        ),
        (
            "removed container",
            &labels[..],
            &notes[..],
            vec![web_b20.clone(), log.clone()],
        ),
        (
            "reordered ports",
            &labels[..],
            &notes[..],
            vec![web_reordered.clone(), log.clone()],
        ),
        (
            "removed label",
            &fewer_labels[..],
            &notes[..],
            vec![web_reordered.clone(), log.clone()],
        ),
        (
            "changed annotation",
            &fewer_labels[..],
            &new_note[..],
            vec![web_reordered.clone(), log.clone()],
        ),
    ];
    for (version, kubectl) in rudder_tests::kubectl_bins() {
        let ns = format!("apply-{version}");
        ok(
            &kubectl,
            &kc,
            &["apply", "-f", &manifest(dir, "ns.json", &namespace(&ns))?],
        );
        for (i, (step, labels, annotations, containers)) in steps.iter().enumerate() {
            let m = shop(&ns, labels, annotations, containers);
            let file = manifest(dir, &format!("shop-{version}-{i}.json"), &m)?;
            // kubectl's default: fieldValidation=Strict.
            let o = run(&kubectl, &kc, &["apply", "-f", &file]);
            let (stdout, stderr) = (
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
            );
            assert!(
                o.status.success(),
                "{version} kubectl, {step}: {stdout}{stderr}"
            );
            let verb = if i == 0 { "created" } else { "configured" };
            assert!(
                stdout.contains(&format!("deployment.apps/shop {verb}")),
                "{version} kubectl, {step}: {stdout}"
            );
            assert!(
                !stderr.contains("Warning"),
                "{version} kubectl, {step}: {stderr}"
            );
            let live = json_of(
                &kubectl,
                &kc,
                &["get", "deploy", "shop", "-n", &ns, "-o", "json"],
            )?;
            assert_eq!(
                observed(&live),
                expected(labels, annotations, containers),
                "{version} kubectl, {step}"
            );
            let applied: Value = serde_json::from_str(
                live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                    .as_str()
                    .unwrap_or("null"),
            )?;
            assert_eq!(
                applied["spec"], m["spec"],
                "{version} kubectl, {step}: last applied"
            );
        }
        // Unknown fields are still caught, in the patched object.
        let mut typo = shop(
            &ns,
            &fewer_labels,
            &new_note,
            &[web_reordered.clone(), log.clone()],
        );
        typo["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = json!("Always");
        let file = manifest(dir, &format!("typo-{version}.json"), &typo)?;
        let err = fails(&kubectl, &kc, &["apply", "-f", &file]);
        assert!(
            err.contains("strict decoding error")
                && err.contains("unknown field \"spec.template.spec.containers[0].imagePolicy\""),
            "{version} kubectl: {err}"
        );
        assert!(
            !err.contains("$setElementOrder"),
            "{version} kubectl: {err}"
        );
        let o = run(&kubectl, &kc, &["apply", "--validate=warn", "-f", &file]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{version} kubectl: {stderr}");
        assert!(
            stderr.contains("unknown field \"spec.template.spec.containers[0].imagePolicy\""),
            "{version} kubectl: warned: {stderr}"
        );
        assert!(
            !stderr.contains("$setElementOrder"),
            "{version} kubectl: {stderr}"
        );
    }
    Ok(())
}

// ---- retry on conflict inside the server ------------------------------------------------

/// A Python program using the `kubernetes` client against the node's kubeconfig; its
/// stdout when it exits 0.
fn python(kubeconfig: &Path, program: &str) -> anyhow::Result<String> {
    let out = rudder_tests::python_with_client()
        .env("KUBECONFIG", kubeconfig)
        .arg("-c")
        .arg(program)
        .output()
        .context("python3 could not run; scripts/test.sh installs the kubernetes client")?;
    if !out.status.success() {
        bail!(
            "the Python program failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const PY_PRELUDE: &str = r#"
import json, os, sys, threading
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(os.environ["KUBECONFIG"])
cfg = client.Configuration.get_default_copy()
cfg.connection_pool_maxsize = 64
api = client.ApiClient(cfg)
apps = client.AppsV1Api(api)

def deployment(name, replicas, image="rudder-demo:latest"):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "main", "image": image}]}},
        },
    }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_scales_a_deployment_right_after_creating_it() -> anyhow::Result<()> {
    let (_cluster, kc) = node(false).await?;
    let program = format!(
        "{PY_PRELUDE}{}",
        r#"
errors = []
def create_and_scale(t):
    try:
        for i in range(6):
            name = f"quick-{t}-{i}"
            apps.create_namespaced_deployment("default", deployment(name, 1))
            # The deployment controller writes the object (status, annotations) meanwhile.
            scale = apps.patch_namespaced_deployment_scale(name, "default", {"spec": {"replicas": 3}})
            assert scale.spec.replicas == 3, scale
            got = apps.read_namespaced_deployment(name, "default")
            assert got.spec.replicas == 3, got.spec
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
threads = [threading.Thread(target=create_and_scale, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("\n".join(errors) if errors else "ok")
"#
    );
    let out = python(&kc, &program)?;
    assert_eq!(out.trim(), "ok");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_reads_batch_kinds_and_404_details() -> anyhow::Result<()> {
    let (_cluster, kc) = node(true).await?;
    let program = format!(
        "{PY_PRELUDE}{}",
        r#"
batch = client.BatchV1Api(api)
job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
       "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "main", "image": "rudder-demo:latest"}]}}}}
made = batch.create_namespaced_job("default", job)
assert made.spec.completions == 1 and made.spec.backoff_limit == 6, made.spec
assert made.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": made.metadata.uid}
cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": "@hourly", "jobTemplate": {"spec": job["spec"]}}}
batch.create_namespaced_cron_job("default", cron)
assert [c.metadata.name for c in batch.list_namespaced_cron_job("default").items] == ["tick"]
params = api.param_serialize("GET", "/api/v1/namespaces/default/pods/web/nosuch",
                             auth_settings=["BearerToken"])
r = api.call_api(*params)
r.read()
body = json.loads(r.data)
print(r.status, body["reason"], json.dumps(body.get("details"), sort_keys=True))
"#
    );
    let out = python(&kc, &program)?;
    assert_eq!(
        out.trim(),
        r#"404 NotFound {"kind": "pods", "name": "web"}"#,
        "an unknown subresource answers with details, as Kubernetes does"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_on_a_rolling_deployment_all_land() -> anyhow::Result<()> {
    let (_cluster, kc) = node(false).await?;
    let kubectl = rudder_tests::kubectl_bin();
    let program = format!(
        "{PY_PRELUDE}{}",
        r#"
apps.create_namespaced_deployment("default", deployment("busy", 3))
# A template change starts a rollout that the controllers drive while the patches land.
apps.patch_namespaced_deployment("busy", "default",
    {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "rudder-demo:v2"}]}}}})
N = 50
start = threading.Barrier(N)
errors = []
def patch(i):
    start.wait()
    try:
        if i % 3 == 0:
            apps.patch_namespaced_deployment_scale("busy", "default", {"spec": {"replicas": 2 + i % 5}})
        elif i % 3 == 1:
            apps.patch_namespaced_deployment("busy", "default", {"metadata": {"labels": {f"l{i}": "yes"}}})
        else:
            apps.patch_namespaced_deployment("busy", "default", {"metadata": {"annotations": {f"a{i}": str(i)}}})
    except ApiException as e:
        errors.append((i, e.status, e.body))
threads = [threading.Thread(target=patch, args=(i,)) for i in range(N)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    print(json.dumps(errors)); sys.exit(1)
# The last word on the replicas, written alone.
apps.patch_namespaced_deployment_scale("busy", "default", {"spec": {"replicas": 4}})
print("ok")
"#
    );
    let out = python(&kc, &program)?;
    assert_eq!(out.trim(), "ok");
    let live = json_of(&kubectl, &kc, &["get", "deploy", "busy", "-o", "json"])?;
    assert_eq!(live["spec"]["replicas"], 4, "{live}");
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "rudder-demo:v2"
    );
    for i in 0..50 {
        match i % 3 {
            0 => {}
            1 => assert_eq!(
                live["metadata"]["labels"][format!("l{i}")],
                "yes",
                "label l{i} lost: {}",
                live["metadata"]["labels"]
            ),
            _ => assert_eq!(
                live["metadata"]["annotations"][format!("a{i}")],
                i.to_string(),
                "annotation a{i} lost: {}",
                live["metadata"]["annotations"]
            ),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_resource_version_still_conflicts() -> anyhow::Result<()> {
    let (cluster, kc) = node(false).await?;
    let kubectl = rudder_tests::kubectl_bin();
    let dir = cluster.dir.path();
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "pinned", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "pinned"}},
                 "template": {"metadata": {"labels": {"app": "pinned"}},
                              "spec": {"containers": [{"name": "main", "image": "rudder-demo:latest"}]}}},
    });
    ok(
        &kubectl,
        &kc,
        &["create", "-f", &manifest(dir, "pinned.json", &d)?],
    );
    let read = json_of(&kubectl, &kc, &["get", "deploy", "pinned", "-o", "json"])?;
    // Someone else writes the object after it was read.
    ok(&kubectl, &kc, &["label", "deploy", "pinned", "moved=on"]);

    let mut stale = read.clone();
    stale["metadata"]["labels"] = json!({"writer": "stale"});
    let err = fails(
        &kubectl,
        &kc,
        &["replace", "-f", &manifest(dir, "stale.json", &stale)?],
    );
    assert!(
        err.contains("Conflict") && err.contains("the object has been modified"),
        "a PUT with a stale resourceVersion: {err}"
    );
    let rv = read["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    let patch =
        json!({"metadata": {"resourceVersion": rv, "labels": {"writer": "stale"}}}).to_string();
    let err = fails(
        &kubectl,
        &kc,
        &["patch", "deploy", "pinned", "--type=merge", "-p", &patch],
    );
    assert!(
        err.contains("the object has been modified"),
        "a patch naming a stale resourceVersion: {err}"
    );
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "pinned", "namespace": "default", "resourceVersion": rv},
        "spec": {"replicas": 5}});
    let err = fails(
        &kubectl,
        &kc,
        &[
            "replace",
            "--raw",
            "/apis/apps/v1/namespaces/default/deployments/pinned/scale",
            "-f",
            &manifest(dir, "scale.json", &scale)?,
        ],
    );
    assert!(
        err.contains("Conflict") || err.contains("409"),
        "a Scale with a stale resourceVersion: {err}"
    );
    let live = json_of(&kubectl, &kc, &["get", "deploy", "pinned", "-o", "json"])?;
    assert_eq!(live["metadata"]["labels"], json!({"moved": "on"}), "{live}");
    assert_eq!(live["spec"]["replicas"], 1, "{live}");

    // Without a resourceVersion the same writes apply to the current version.
    let mut unpinned = read.clone();
    unpinned["metadata"]["labels"] = json!({"writer": "fresh"});
    if let Some(m) = unpinned["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    ok(
        &kubectl,
        &kc,
        &["replace", "-f", &manifest(dir, "fresh.json", &unpinned)?],
    );
    let live = json_of(&kubectl, &kc, &["get", "deploy", "pinned", "-o", "json"])?;
    assert_eq!(
        live["metadata"]["labels"],
        json!({"writer": "fresh"}),
        "{live}"
    );
    Ok(())
}

// ---- dry run ------------------------------------------------------------------------------

/// The store's revision, from a list's `metadata.resourceVersion`.
fn revision(kubectl: &Path, kc: &Path) -> anyhow::Result<u64> {
    let list = json_of(
        kubectl,
        kc,
        &["get", "--raw", "/api/v1/namespaces/dry/serviceaccounts"],
    )?;
    list["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .with_context(|| format!("no resourceVersion in {list}"))
}

/// Every key written in the store after revision `after`, up to `until`, read from the
/// store's own history (the one source no front can hide a write from).
async fn keys_written(client: &Client, after: u64, until: u64) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut from = after;
    while from < until {
        let req = StoreRequest::WatchPoll {
            prefix: String::new(),
            after: from,
            max_events: 1000,
            wait_ms: 0,
        };
        let StoreReply::Watch(batch) = rudder_tests::store(client, "solo", req).await? else {
            bail!("unexpected store reply");
        };
        keys.extend(
            batch
                .events
                .iter()
                .filter(|e| e.kv.mod_revision <= until)
                .map(|e| e.kv.key.clone()),
        );
        if batch.revision <= from {
            break;
        }
        from = batch.revision;
    }
    Ok(keys)
}

/// The leader-election Leases of the controllers and the scheduler, renewed every
/// second whatever happens: the only writes a dry run may see around it.
const LEADER_LEASES: &str = "/registry/leases/kube-system/rudder-";
/// The API servers' own leases (renewed every 10 s), and what they keep in step.
const APISERVER_LEASES: &str = "/registry/leases/kube-system/apiserver-";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_dry_runs_write_nothing() -> anyhow::Result<()> {
    // The control plane only: no kubelet heartbeats, no pods.
    let (cluster, kc) = node(true).await?;
    let kubectl = rudder_tests::kubectl_bin();
    let k = kubectl.as_path();
    let dir = cluster.dir.path();
    ok(
        k,
        &kc,
        &[
            "create",
            "-f",
            &manifest(dir, "ns.json", &namespace("dry"))?,
        ],
    );
    let account = |name: &str, labels: Value| {
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": name, "namespace": "dry", "labels": labels}})
    };
    ok(
        k,
        &kc,
        &[
            "apply",
            "-f",
            &manifest(dir, "real.json", &account("real", json!({"v": "1"})))?,
        ],
    );
    let idle = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "idle", "namespace": "dry"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "idle"}},
                 "template": {"metadata": {"labels": {"app": "idle"}},
                              "spec": {"containers": [{"name": "main", "image": "rudder-demo:latest"}]}}},
    });
    ok(
        k,
        &kc,
        &["create", "-f", &manifest(dir, "idle.json", &idle)?],
    );
    let edited = manifest(dir, "real-v2.json", &account("real", json!({"v": "2"})))?;
    let made = manifest(dir, "made.json", &account("made", json!({})))?;
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "front", "namespace": "dry"},
        "spec": {"type": "NodePort", "selector": {"app": "idle"}, "ports": [{"port": 80}]}});
    let svc_file = manifest(dir, "svc.json", &svc)?;

    type Check = fn(&str) -> bool;
    let cases: Vec<(&str, Vec<&str>, Check)> = vec![
        (
            "create",
            vec!["create", "-f", &made, "--dry-run=server", "-o", "json"],
            |o| o.contains("\"name\": \"made\""),
        ),
        (
            "apply (patch)",
            vec!["apply", "-f", &edited, "--dry-run=server", "-o", "json"],
            |o| o.contains("\"v\": \"2\""),
        ),
        (
            "replace (update)",
            vec!["replace", "-f", &edited, "--dry-run=server", "-o", "json"],
            |o| o.contains("\"v\": \"2\""),
        ),
        (
            "scale (subresource)",
            vec![
                "scale",
                "deploy/idle",
                "-n",
                "dry",
                "--replicas=3",
                "--dry-run=server",
            ],
            |o| o.contains("scaled"),
        ),
        (
            "label",
            vec![
                "label",
                "sa",
                "real",
                "-n",
                "dry",
                "extra=yes",
                "--dry-run=server",
                "-o",
                "json",
            ],
            |o| o.contains("\"extra\": \"yes\""),
        ),
        (
            "delete",
            vec!["delete", "sa", "real", "-n", "dry", "--dry-run=server"],
            |o| o.contains("\"real\" deleted") && o.contains("(server dry run)"),
        ),
        (
            "delete --all",
            vec!["delete", "sa", "--all", "-n", "dry", "--dry-run=server"],
            |o| o.contains("serviceaccount \"real\" deleted") && o.contains("(server dry run)"),
        ),
        (
            "status patch (subresource)",
            vec![
                "patch",
                "deploy",
                "idle",
                "-n",
                "dry",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"observedGeneration":99}}"#,
                "--dry-run=server",
                "-o",
                "json",
            ],
            |o| o.contains("\"observedGeneration\": 99"),
        ),
        (
            // A namespace with content is deleted gracefully: the answer is marked
            // terminating, the namespace is not.
            "graceful delete",
            vec!["delete", "--raw", "/api/v1/namespaces/dry?dryRun=All"],
            |o| o.contains("deletionTimestamp") && o.contains("Terminating"),
        ),
        (
            "deletecollection",
            vec![
                "delete",
                "--raw",
                "/api/v1/namespaces/dry/serviceaccounts?dryRun=All",
            ],
            |o| o.contains("\"real\""),
        ),
        (
            "create a Service",
            vec!["create", "-f", &svc_file, "--dry-run=server", "-o", "json"],
            |o| o.contains("clusterIP"),
        ),
    ];
    // Let the controllers settle on what was created for real.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = cluster.nodes[0].client().await?;
    let mut service_preview = Value::Null;
    for (name, args, check) in cases {
        let before = revision(k, &kc)?;
        let out = ok(k, &kc, &args);
        assert!(check(&out), "{name}: {out}");
        let after = revision(k, &kc)?;
        // The revision moves only by the leader-lease and API server lease renewals.
        let written = keys_written(&client, before, after).await?;
        let others: Vec<&String> = written
            .iter()
            .filter(|k| !k.starts_with(LEADER_LEASES) && !k.starts_with(APISERVER_LEASES))
            .collect();
        assert!(
            others.is_empty(),
            "{name} wrote to the store (revisions {before}..{after}): {others:?}\n{out}"
        );
        if name == "create a Service" {
            service_preview = serde_json::from_str(&out)?;
        }
    }
    // Nothing changed.
    let err = fails(k, &kc, &["get", "sa", "made", "-n", "dry"]);
    assert!(err.contains("NotFound"), "{err}");
    let real = json_of(k, &kc, &["get", "sa", "real", "-n", "dry", "-o", "json"])?;
    assert_eq!(real["metadata"]["labels"], json!({"v": "1"}), "{real}");
    assert!(
        real["metadata"].get("deletionTimestamp").is_none(),
        "{real}"
    );
    let idle = json_of(
        k,
        &kc,
        &["get", "deploy", "idle", "-n", "dry", "-o", "json"],
    )?;
    assert_eq!(idle["spec"]["replicas"], 0, "{idle}");
    fails(k, &kc, &["get", "svc", "front", "-n", "dry"]);
    let ns = json_of(k, &kc, &["get", "namespace", "dry", "-o", "json"])?;
    assert_eq!(ns["status"]["phase"], "Active", "{ns}");
    assert!(ns["metadata"].get("deletionTimestamp").is_none(), "{ns}");

    // The dry run's addresses are still free: asking for them for real succeeds.
    let ip = service_preview["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let node_port = service_preview["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .unwrap_or_default();
    assert!(!ip.is_empty() && node_port >= 30000, "{service_preview}");
    let mut pinned = svc.clone();
    pinned["spec"]["clusterIP"] = json!(ip);
    pinned["spec"]["ports"][0]["nodePort"] = json!(node_port);
    let created = json_of(
        k,
        &kc,
        &[
            "create",
            "-f",
            &manifest(dir, "svc-real.json", &pinned)?,
            "-o",
            "json",
        ],
    )?;
    assert_eq!(created["spec"]["clusterIP"], json!(ip), "{created}");

    // Any dryRun value but All is refused, as kube-apiserver refuses it.
    let err = fails(
        k,
        &kc,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/dry/serviceaccounts?dryRun=true",
            "-f",
            &made,
        ],
    );
    assert!(
        err.contains("Unsupported value") && err.contains("dryRun"),
        "{err}"
    );
    fails(k, &kc, &["get", "sa", "made", "-n", "dry"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_pod_stays_until_its_grace_period_is_over() -> anyhow::Result<()> {
    let (cluster, kc) = node(true).await?;
    let kubectl = rudder_tests::kubectl_bin();
    let dir = cluster.dir.path();
    // Bound to a node whose kubelet never comes: only the test ends their deletions.
    for (name, finalizers) in [
        ("plain", json!([])),
        ("held", json!(["example.com/hold"])),
        ("released", json!(["example.com/hold"])),
    ] {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "finalizers": finalizers},
            "spec": {"nodeName": "ghost", "terminationGracePeriodSeconds": 30,
                     "containers": [{"name": "c", "image": "busybox"}]}
        });
        let file = manifest(dir, &format!("{name}.json"), &pod)?;
        ok(&kubectl, &kc, &["create", "-f", &file]);
        ok(&kubectl, &kc, &["delete", "pod", name, "--wait=false"]);
    }
    let meta = |name: &str| -> anyhow::Result<Value> {
        Ok(json_of(&kubectl, &kc, &["get", "pod", name, "-o", "json"])?["metadata"].clone())
    };
    let gone = |name: &str| {
        let err = fails(&kubectl, &kc, &["get", "pod", name]);
        assert!(err.contains("NotFound"), "{name}: {err}");
    };
    // The deletion is due when the grace period ends: the timestamp is 30 s ahead.
    let due = |m: &Value| {
        m["deletionTimestamp"]
            .as_str()
            .and_then(|t| rudder_protocol::resources::Time::parse(t).ok())
            .map(|t| t.0)
    };
    for name in ["plain", "held", "released"] {
        let m = meta(name)?;
        let now = rudder_protocol::resources::Time::now().0;
        let ahead = due(&m).map(|t| t - now);
        assert!(
            ahead.is_some_and(|a| (20..=31).contains(&a)),
            "{name}: {ahead:?} {m}"
        );
        assert_eq!(m["deletionGracePeriodSeconds"], 30, "{name}: {m}");
    }

    // Writes to a pod its kubelet is still stopping (a label, the status the kubelet
    // writes meanwhile, its last finalizer going) leave it terminating.
    ok(&kubectl, &kc, &["label", "pod", "plain", "x=y"]);
    ok(
        &kubectl,
        &kc,
        &[
            "patch",
            "pod",
            "plain",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"message":"stopping"}}"#,
        ],
    );
    ok(
        &kubectl,
        &kc,
        &[
            "patch",
            "pod",
            "released",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ],
    );
    assert_eq!(meta("plain")?["labels"]["x"], "y");
    assert!(meta("released")?["deletionTimestamp"].is_string());

    // The kubelet's last word, a deletion with no grace, removes a pod nothing holds.
    let force = |name: &str| {
        ok(
            &kubectl,
            &kc,
            &[
                "delete",
                "pod",
                name,
                "--grace-period=0",
                "--force",
                "--wait=false",
            ],
        )
    };
    force("plain");
    gone("plain");
    force("released");
    gone("released");
    // A finalizer still there holds the pod, its grace period shortened to none (a
    // later deletion never lengthens it); the finalizer's removal then ends it.
    let before = due(&meta("held")?);
    force("held");
    let held = meta("held")?;
    assert_eq!(held["deletionGracePeriodSeconds"], 0);
    // Due 30 s sooner: now.
    assert_eq!(due(&held), before.map(|t| t - 30), "{held}");
    ok(&kubectl, &kc, &["delete", "pod", "held", "--wait=false"]);
    assert_eq!(meta("held")?["deletionGracePeriodSeconds"], 0);
    ok(
        &kubectl,
        &kc,
        &[
            "patch",
            "pod",
            "held",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ],
    );
    gone("held");
    Ok(())
}
