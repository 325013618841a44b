//! Resource metrics, `kubectl top` and the HorizontalPodAutoscaler on real Docker with
//! kubectl 1.37: a CPU-burning container is measured at about one core and an idle one
//! near zero (`kubectl top pods`, `--containers`, `-A`, `-l`, `kubectl top nodes`); an
//! autoscaler made by `kubectl autoscale` scales a Deployment up under a (throttled) CPU
//! load and back down once the load stops; `kubectl get apiservices` lists
//! `v1beta1.metrics.k8s.io` Available. One `rudderd` node per test, from
//! `cluster-config/test/fast-metrics.toml` (measurements every 2 s, autoscalers every 3 s).
//! Its rescales are `SuccessfulRescale` events in `kubectl describe hpa`.
//!
//! Without a reachable Docker engine the Docker tests print a loud SKIP and return.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use rudder_protocol::client::Client;
use rudder_protocol::resources::{
    Container, Deployment, HorizontalPodAutoscaler, Pod, Quantity, RestartPolicy,
};
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, Cluster, NodeProc};

fn docker_available() -> bool {
    services::docker_available("the metrics Docker tests")
}

/// One node with both roles and real pods, measuring every 2 s.
async fn start_node(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    let cleanup = DockerCleanup(name.to_owned());
    services::build_images()?;
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("test/fast-metrics.toml", name);
    spec.kubelet_runtime = None;
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    services::wait_node_ready(&client, name).await?;
    Ok((cleanup, cluster, client))
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).expect("a valid quantity")
}

/// A busybox container running `script`.
fn container(name: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        image: "rudder/demo:1".into(),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        ..Default::default()
    }
}

fn pod(name: &str, containers: Vec<Container>) -> Pod {
    let mut p = Pod::new(name);
    p.metadata.labels.insert("app".into(), name.into());
    p.spec.restart_policy = Some(RestartPolicy::Never);
    p.spec.termination_grace_period_seconds = Some(0);
    p.spec.containers = containers;
    p
}

/// A CPU quantity as kubectl top prints it (`998m`, `1`), in millicores.
fn millicores(s: &str) -> anyhow::Result<i64> {
    Ok(q(s).milli_value())
}

/// The rows of a `--no-headers` table, split on whitespace.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_top_shows_measured_usage() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (_cleanup, cluster, client) = start_node("metrics-top").await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pods = client.api::<Pod>(Some("default"));
    // A burner bounded in time (and by a one-core limit) beside an idle sidecar, and an
    // idle pod.
    let mut burn = container(
        "burn",
        "timeout 150 sh -c 'while :; do :; done'; exec sleep 3600",
    );
    burn.resources.limits.insert("cpu".into(), q("1"));
    pods.create(&pod(
        "burner",
        vec![burn, container("side", "exec sleep 3600")],
    ))
    .await?;
    pods.create(&pod("idle", vec![container("main", "exec sleep 3600")]))
        .await?;

    // Both measured: the burner near one core, the idle pod near zero.
    let (top, took) = eventually(Duration::from_secs(90), || async {
        let out = kubectl(&kc, &["top", "pods", "--no-headers"])?;
        let r = rows(&out);
        let cpu = |name: &str| {
            r.iter()
                .find(|row| row[0] == name)
                .map(|row| row[1].clone())
        };
        match (cpu("burner"), cpu("idle")) {
            // The first window may hold the container's start: wait for a full one.
            (Some(b), Some(_)) if millicores(&b)? >= 700 => Ok(Some(out)),
            _ => Ok(None),
        }
    })
    .await
    .context("kubectl top pods never showed both pods with the burner busy")?;
    println!("kubectl top pods after {took:?}:\n{top}");
    let r = rows(&top);
    let find = |name: &str| {
        r.iter()
            .find(|row| row[0] == name)
            .cloned()
            .unwrap_or_default()
    };
    let burner = millicores(&find("burner")[1])?;
    let idle = millicores(&find("idle")[1])?;
    assert!(
        (700..=1300).contains(&burner),
        "the burner uses about one core, measured {burner}m:\n{top}"
    );
    assert!(
        idle <= 50,
        "the idle pod is near zero, measured {idle}m:\n{top}"
    );
    assert!(
        find("idle")[2].ends_with("Mi") || find("idle")[2].ends_with("Ki"),
        "memory in bytes: {top}"
    );

    // Per container: the burning one and its idle sidecar.
    let out = kubectl(
        &kc,
        &["top", "pods", "burner", "--containers", "--no-headers"],
    )?;
    let r = rows(&out);
    let of = |c: &str| -> anyhow::Result<i64> {
        let row = r
            .iter()
            .find(|row| row.get(1).map(String::as_str) == Some(c))
            .with_context(|| format!("no row for container {c}:\n{out}"))?;
        millicores(&row[2])
    };
    assert!(of("burn")? >= 700, "the burning container:\n{out}");
    assert!(of("side")? <= 50, "the idle sidecar:\n{out}");

    // Label selectors and all namespaces.
    let out = kubectl(&kc, &["top", "pods", "-l", "app=idle", "--no-headers"])?;
    let names: Vec<String> = rows(&out).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(names, vec!["idle".to_owned()], "-l app=idle:\n{out}");
    let out = kubectl(&kc, &["top", "pods", "-A", "--no-headers"])?;
    assert!(
        rows(&out)
            .iter()
            .any(|r| r[0] == "default" && r[1] == "burner"),
        "-A lists the namespace:\n{out}"
    );

    // The node: measured from the host, busy with at least the burner.
    let out = kubectl(&kc, &["top", "nodes", "--no-headers"])?;
    let r = rows(&out);
    let node = r
        .iter()
        .find(|row| row[0] == "metrics-top")
        .with_context(|| format!("no row for the node:\n{out}"))?;
    assert!(millicores(&node[1])? >= 600, "node CPU:\n{out}");
    assert!(
        node[3].ends_with("Mi") && node[3] != "0Mi",
        "node memory:\n{out}"
    );

    // The API objects themselves, as metrics-server writes them.
    let raw = kubectl(
        &kc,
        &[
            "get",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/idle",
        ],
    )?;
    let v: serde_json::Value = serde_json::from_str(&raw)?;
    assert_eq!(v["kind"], "PodMetrics", "{raw}");
    // The window is the time between the two samples it was computed from.
    let window: f64 = v["window"]
        .as_str()
        .and_then(|w| w.strip_suffix('s'))
        .and_then(|w| w.parse().ok())
        .with_context(|| format!("window: {raw}"))?;
    assert!(
        (0.5..10.0).contains(&window),
        "a window of about a sample period: {raw}"
    );
    assert!(v["timestamp"].is_string(), "{raw}");
    assert_eq!(v["containers"][0]["name"], "main", "{raw}");
    let err = kubectl(
        &kc,
        &[
            "get",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope",
        ],
    )
    .expect_err("no such pod");
    assert!(
        err.to_string().contains("NotFound") || err.to_string().contains("not found"),
        "{err}"
    );

    // The same measurements through rudderctl.
    let out = std::process::Command::new(rudder_tests::rudderctl_bin())
        .arg("--client-config")
        .arg(cluster.nodes[0].client_config())
        .args(["top", "pods", "--containers"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "rudderctl top: {text}");
    assert!(
        rows(&text)
            .iter()
            .any(|r| r[0] == "burner" && r[1] == "burn"),
        "rudderctl top pods --containers:\n{text}"
    );

    // Stop the load at once.
    kubectl(
        &kc,
        &["delete", "pod", "burner", "--grace-period=0", "--force"],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_scales_a_deployment_up_under_load_and_back_down() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (_cleanup, cluster, client) = start_node("metrics-hpa").await?;
    let kc = cluster.nodes[0].kubeconfig();
    // Each replica requests 100m and burns at most 200m (its limit) for 40 s: 200% of
    // its request, then idles. At most 3 replicas: 0.6 cores.
    let mut d = Deployment::new("web");
    d.spec.replicas = Some(1);
    d.spec
        .selector
        .match_labels
        .insert("app".into(), "web".into());
    d.spec
        .template
        .metadata
        .labels
        .insert("app".into(), "web".into());
    let mut c = container(
        "burn",
        "timeout 40 sh -c 'while :; do :; done'; exec sleep 3600",
    );
    c.resources.requests.insert("cpu".into(), q("100m"));
    c.resources.limits.insert("cpu".into(), q("200m"));
    d.spec.template.spec.containers = vec![c];
    d.spec.template.spec.termination_grace_period_seconds = Some(0);
    client.api::<Deployment>(Some("default")).create(&d).await?;

    kubectl(
        &kc,
        &[
            "autoscale",
            "deployment",
            "web",
            "--cpu-percent=50",
            "--min=1",
            "--max=3",
        ],
    )?;
    // A test-sized scale-down stabilization window.
    kubectl(
        &kc,
        &[
            "patch",
            "hpa",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":5}}}}"#,
        ],
    )?;
    let hpas = client.api::<HorizontalPodAutoscaler>(Some("default"));
    let h = hpas.get("web").await?;
    assert_eq!(h.spec.max_replicas, 3);
    let down = h
        .spec
        .behavior
        .and_then(|b| b.scale_down)
        .expect("defaulted");
    assert_eq!(down.stabilization_window_seconds, Some(5));
    assert_eq!(
        down.policies.len(),
        1,
        "the default scale-down policy filled in"
    );

    let deployments = client.api::<Deployment>(Some("default"));
    let (up, took) = eventually(Duration::from_secs(120), || async {
        let d = deployments.get("web").await?;
        Ok((d.spec.replicas.unwrap_or(1) >= 2).then_some(d.spec.replicas))
    })
    .await
    .context("the autoscaler never scaled up")?;
    println!("scaled up to {up:?} after {took:?}");
    let out = kubectl(&kc, &["get", "hpa", "web", "--no-headers"])?;
    println!("{out}");
    let row = rows(&out).into_iter().next().unwrap_or_default();
    assert_eq!(
        row.get(1).map(String::as_str),
        Some("Deployment/web"),
        "{out}"
    );
    assert_eq!(row.get(2).map(String::as_str), Some("cpu:"), "{out}");
    assert!(row.get(3).is_some_and(|t| t.ends_with("%/50%")), "{out}");
    let h = hpas.get("web").await?;
    let active = h
        .condition("ScalingActive")
        .with_context(|| format!("no ScalingActive: {:?}", h.status))?;
    assert_eq!(active.reason, "ValidMetricFound", "{active:?}");
    assert!(h.status.last_scale_time.is_some());
    assert!(!h.status.current_metrics.is_empty());
    // `kubectl describe` shows the rescale as Kubernetes words it.
    let up_event = format!(
        "New size: {}; reason: cpu resource utilization (percentage of request) above target",
        up.unwrap_or_default()
    );
    let described = |want: String| {
        let kc = kc.clone();
        async move {
            eventually(Duration::from_secs(30), || async {
                let out = kubectl(&kc, &["describe", "hpa", "web"])?;
                Ok((out.contains("SuccessfulRescale") && out.contains(&want)).then_some(out))
            })
            .await
            .with_context(|| format!("no event {want:?}"))
        }
    };
    described(up_event).await?;

    // The burners stop after 40 s; the autoscaler goes back to the minimum.
    let (_, took) = eventually(Duration::from_secs(180), || async {
        let d = deployments.get("web").await?;
        Ok((d.spec.replicas == Some(1)).then_some(()))
    })
    .await
    .context("the autoscaler never scaled back down")?;
    println!("back to 1 after {took:?}");
    // The status follows at the next sync (a write racing the scale is retried).
    eventually(Duration::from_secs(30), || async {
        let h = hpas.get("web").await?;
        Ok((h.status.desired_replicas == 1 && h.status.current_replicas == 1).then_some(()))
    })
    .await
    .context("the status never showed the scale-down")?;
    described("New size: 1; reason: All metrics below target".to_owned()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiservices_list_the_metrics_api_available() -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "metrics-apis");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let kc = cluster.nodes[0].kubeconfig();
    let (out, _) = eventually(Duration::from_secs(30), || async {
        let out = kubectl(&kc, &["get", "apiservices", "--no-headers"])?;
        Ok(out.contains("v1beta1.metrics.k8s.io").then_some(out))
    })
    .await?;
    let row = rows(&out)
        .into_iter()
        .find(|r| r[0] == "v1beta1.metrics.k8s.io")
        .context("listed")?;
    assert_eq!(row[1], "Local", "{out}");
    assert_eq!(row[2], "True", "{out}");
    assert!(out.contains("v1.apps"), "the built-in groups too:\n{out}");
    // Discovery lists the group, as kubectl top needs it.
    let out = kubectl(&kc, &["api-resources", "--api-group=metrics.k8s.io"])?;
    assert!(
        out.contains("PodMetrics") && out.contains("NodeMetrics"),
        "{out}"
    );
    // Metrics are read-only.
    let err = kubectl(
        &kc,
        &[
            "delete",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/nodes/metrics-apis",
        ],
    )
    .expect_err("read-only");
    assert!(
        err.to_string().contains("MethodNotAllowed")
            || err.to_string().contains("405")
            || err.to_string().contains("not supported"),
        "{err}"
    );
    Ok(())
}
