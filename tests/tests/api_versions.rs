//! A built-in kind served at two versions: HorizontalPodAutoscalers at `autoscaling/v1`
//! (what many Helm charts still ship) next to `autoscaling/v2`, stored once as v2,
//! against a real control-plane `rudderd`, with the newest kubectl and the Python
//! `kubernetes` client's `AutoscalingV1Api`:
//!
//! - discovery lists both versions (v2 preferred) and `/openapi/v3` has a v1 document;
//! - a v1 manifest applies (client-side and server-side), reads back at either version
//!   (`targetCPUUtilizationPercentage` is v2's `cpu` Utilization metric), and a v1
//!   `apply` of an edit is a strategic merge patch in v1 terms;
//! - what v1 has no field for (other metrics, behavior, conditions) travels in the
//!   `autoscaling.alpha.kubernetes.io/` annotations, so a v1 read-modify-write
//!   (`kubectl replace`) keeps it;
//! - strict field validation checks a v1 body against v1's schema;
//! - the Python client reads, lists, patches and watches at v1.

use std::path::Path;

use rudder_tests::{control_plane_with, kubectl, python_with_client};
use serde_json::{json, Value};

fn ok(kc: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let run = kubectl(kc, args, stdin);
    assert!(
        run.success,
        "kubectl {args:?} failed: {}{}",
        run.stdout, run.stderr
    );
    run.stdout
}

fn get_json(kc: &Path, resource: &str) -> Value {
    let out = ok(
        kc,
        &["get", resource, "web", "-n", "default", "-o", "json"],
        None,
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{resource}: {e}: {out}"))
}

fn v1_manifest(name: &str, target: u32, extra: &str) -> String {
    format!(
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {name}\n  \
         namespace: default\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    \
         name: web\n  minReplicas: 2\n  maxReplicas: 5\n  targetCPUUtilizationPercentage: {target}\n{extra}"
    )
}

fn annotation(obj: &Value, key: &str) -> Value {
    let raw = obj["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no annotation {key}: {obj:#}"));
    serde_json::from_str(raw).unwrap_or_else(|e| panic!("{key}: {e}: {raw}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn horizontal_pod_autoscalers_are_served_at_v1_and_v2() -> anyhow::Result<()> {
    let (cluster, kc) = control_plane_with(&[], "").await?;
    let kc = kc.as_path();

    // Discovery: both versions, v2 preferred; one `hpa` in api-resources.
    let versions = ok(kc, &["api-versions"], None);
    for v in ["autoscaling/v1", "autoscaling/v2"] {
        assert!(versions.lines().any(|l| l == v), "{v} in {versions}");
    }
    let group = ok(kc, &["get", "--raw", "/apis/autoscaling"], None);
    let group: Value = serde_json::from_str(&group)?;
    assert_eq!(group["preferredVersion"]["version"], "v2", "{group}");
    let v1_list = ok(kc, &["get", "--raw", "/apis/autoscaling/v1"], None);
    assert!(
        v1_list.contains("\"horizontalpodautoscalers/status\""),
        "{v1_list}"
    );
    let openapi = ok(
        kc,
        &["get", "--raw", "/openapi/v3/apis/autoscaling/v1"],
        None,
    );
    assert!(
        openapi.contains("targetCPUUtilizationPercentage"),
        "the v1 OpenAPI document describes v1's fields"
    );

    // A v1 manifest, applied client-side, is stored as v2.
    ok(kc, &["apply", "-f", "-"], Some(&v1_manifest("web", 60, "")));
    let v2 = get_json(kc, "horizontalpodautoscalers.v2.autoscaling");
    assert_eq!(v2["apiVersion"], "autoscaling/v2");
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 60}}}]),
        "{v2:#}"
    );
    let v1 = get_json(kc, "horizontalpodautoscalers.v1.autoscaling");
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60, "{v1:#}");
    assert_eq!(v1["spec"]["minReplicas"], 2);

    // An edited v1 manifest applies as a strategic merge patch in v1 terms.
    ok(kc, &["apply", "-f", "-"], Some(&v1_manifest("web", 70, "")));
    let v2 = get_json(kc, "horizontalpodautoscalers.v2.autoscaling");
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        70
    );

    // What v1 cannot say travels in annotations and survives a v1 read-modify-write.
    let patch = json!({"spec": {
        "metrics": [
            {"type": "Resource", "resource": {"name": "memory",
                "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70}}},
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
    }});
    ok(
        kc,
        &[
            "patch",
            "horizontalpodautoscalers.v2.autoscaling",
            "web",
            "--type",
            "merge",
            "-p",
            &patch.to_string(),
        ],
        None,
    );
    let mut v1 = get_json(kc, "horizontalpodautoscalers.v1.autoscaling");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 70);
    assert_eq!(
        annotation(&v1, "autoscaling.alpha.kubernetes.io/metrics"),
        json!([{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}])
    );
    assert_eq!(
        annotation(&v1, "autoscaling.alpha.kubernetes.io/behavior")["ScaleDown"]
            ["StabilizationWindowSeconds"],
        60
    );
    v1["spec"]["maxReplicas"] = json!(8);
    ok(kc, &["replace", "-f", "-"], Some(&v1.to_string()));
    let v2 = get_json(kc, "horizontalpodautoscalers.v2.autoscaling");
    assert_eq!(v2["spec"]["maxReplicas"], 8);
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["name"], "memory",
        "the memory metric came back from the annotation: {v2:#}"
    );
    assert_eq!(
        v2["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"],
        70
    );
    assert_eq!(
        v2["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        60
    );
    let annotations = v2["metadata"]["annotations"].as_object();
    assert!(
        annotations.is_none_or(|a| !a.keys().any(|k| k.starts_with("autoscaling.alpha"))),
        "the stored object carries no round-trip annotation: {v2:#}"
    );

    // The table is the stored version's printer, whichever version is asked.
    let table = ok(
        kc,
        &["get", "horizontalpodautoscalers.v1.autoscaling", "web"],
        None,
    );
    assert!(
        table.contains("Deployment/web") && table.contains("70%"),
        "{table}"
    );

    // Strict validation checks a v1 body against v1's schema.
    let bad = kubectl(
        kc,
        &["create", "-f", "-"],
        Some(&v1_manifest("bogus", 50, "  bogusField: 1\n")),
    );
    assert!(
        !bad.success && bad.stderr.contains("unknown field \"spec.bogusField\""),
        "{}{}",
        bad.stdout,
        bad.stderr
    );

    // Server-side apply of a v1 manifest.
    ok(
        kc,
        &["apply", "--server-side", "--field-manager=helm", "-f", "-"],
        Some(&v1_manifest("ssa", 55, "")),
    );
    let ssa = ok(
        kc,
        &[
            "get",
            "horizontalpodautoscalers.v2.autoscaling",
            "ssa",
            "-o",
            "jsonpath={.spec.metrics[0].resource.target.averageUtilization}",
        ],
        None,
    );
    assert_eq!(ssa, "55");

    // The Python client's AutoscalingV1Api.
    let script = r#"
import json, os
from kubernetes import client, config, watch
config.load_kube_config(os.environ["KUBECONFIG"])
api = client.AutoscalingV1Api()
seen = {}
hpa = api.read_namespaced_horizontal_pod_autoscaler("web", "default")
seen["target"] = hpa.spec.target_cpu_utilization_percentage
seen["max"] = hpa.spec.max_replicas
listed = api.list_namespaced_horizontal_pod_autoscaler("default")
seen["listed"] = sorted(h.metadata.name for h in listed.items)
api.patch_namespaced_horizontal_pod_autoscaler(
    "web", "default", {"spec": {"targetCPUUtilizationPercentage": 65}})
seen["events"] = []
w = watch.Watch()
for e in w.stream(api.list_namespaced_horizontal_pod_autoscaler, "default", timeout_seconds=5):
    seen["events"].append([e["type"], e["object"].metadata.name,
                           e["object"].spec.target_cpu_utilization_percentage])
    if len(seen["events"]) >= 2:
        w.stop()
print(json.dumps(seen))
"#;
    let out = python_with_client()
        .env("KUBECONFIG", kc)
        .args(["-c", script])
        .output()?;
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(seen["target"], 70, "{seen}");
    assert_eq!(seen["max"], 8);
    assert_eq!(seen["listed"], json!(["ssa", "web"]));
    let events = seen["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events.contains(&json!(["ADDED", "web", 65])),
        "the watch at v1 shows the patched target: {seen}"
    );
    let v2 = get_json(kc, "horizontalpodautoscalers.v2.autoscaling");
    assert_eq!(
        v2["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"], 65,
        "a v1 merge patch changed the CPU target and kept the memory metric: {v2:#}"
    );
    assert_eq!(v2["spec"]["metrics"][0]["resource"]["name"], "memory");

    ok(
        kc,
        &[
            "delete",
            "horizontalpodautoscalers.v1.autoscaling",
            "web",
            "ssa",
        ],
        None,
    );
    let left = ok(kc, &["get", "hpa", "-o", "name"], None);
    assert!(left.trim().is_empty(), "{left}");
    drop(cluster);
    Ok(())
}
