//! PodDisruptionBudgets and the `pods/eviction` subresource through a real `rudderd`
//! (control plane only) and simulated nodes, with real clients: the disruption
//! controller's status and `kubectl get pdb`'s columns, an eviction refused with
//! Kubernetes' 429 body (as the Python client and kubectl see it), one allowed once
//! the budget is lowered, Kubernetes' 500 for a pod under two budgets, `kubectl drain`
//! (cordon, `--force` for an unmanaged pod, `--ignore-daemonsets` for a DaemonSet's
//! pod, a server-side dry run, evictions under a
//! budget) and `kubectl uncordon` on simulated nodes, and a budget by percentage over
//! the pods of a kind without a scale (a Job) failing safe with Kubernetes' message;
//! a stale `DisruptionTarget` condition is cleared; unready pods are evicted as
//! `unhealthyPodEvictionPolicy` says (IfHealthyBudget, AlwaysAllow).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use rudder_actors::simnode::{SimNodeSpec, SimNodes};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::{ListParams, PatchType};
use rudder_protocol::resources::{
    Container, DaemonSet, Deployment, IntOrString, LabelSelector, Node, Pod, PodDisruptionBudget,
    DISRUPTION_ALLOWED,
};
use rudder_tests::{eventually, Cluster};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

async fn sim(client: &Client, prefix: &str, count: usize) -> anyhow::Result<SimNodes> {
    let apis = rudder_tests::sim_apis(client);
    Ok(SimNodes::start(
        apis,
        SimNodeSpec {
            prefix: prefix.into(),
            count,
            cpu: "8".into(),
            memory: "8Gi".into(),
            ..Default::default()
        },
    )
    .await?)
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [("app".to_owned(), app.to_owned())].into(),
        ..Default::default()
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    let mut d = Deployment::new(name);
    d.spec.replicas = Some(replicas);
    d.spec.selector = selector(name);
    d.spec
        .template
        .metadata
        .labels
        .insert("app".into(), name.into());
    d.spec.template.spec.containers = vec![Container {
        name: "main".into(),
        image: "demo:1".into(),
        ..Default::default()
    }];
    d
}

fn budget(
    name: &str,
    app: &str,
    min_available: Option<IntOrString>,
    max: Option<IntOrString>,
) -> PodDisruptionBudget {
    let mut b = PodDisruptionBudget::new(name);
    b.spec.selector = Some(selector(app));
    b.spec.min_available = min_available;
    b.spec.max_unavailable = max;
    b
}

/// Waits until the budget's status is `(expectedPods, desiredHealthy, currentHealthy,
/// disruptionsAllowed)` for its current generation.
async fn wait_status(
    budgets: &Api<PodDisruptionBudget>,
    name: &str,
    want: (i32, i32, i32, i32),
) -> anyhow::Result<PodDisruptionBudget> {
    let (b, _) = eventually(WAIT, || async {
        let b = budgets.get(name).await?;
        let s = &b.status;
        let got = (
            s.expected_pods,
            s.desired_healthy,
            s.current_healthy,
            s.disruptions_allowed,
        );
        Ok((got == want && s.observed_generation == b.metadata.generation).then_some(b))
    })
    .await
    .with_context(|| format!("budget {name} never reached {want:?}"))?;
    Ok(b)
}

async fn live_pods(pods: &Api<Pod>, app: &str) -> anyhow::Result<Vec<Pod>> {
    let list = pods
        .list(&ListParams {
            label_selector: Some(format!("app={app}")),
            ..ListParams::default()
        })
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let (ok, stdout, stderr) = kubectl(kubeconfig, args)?;
    if !ok {
        bail!("kubectl {args:?} failed: {stdout}{stderr}");
    }
    Ok(stdout)
}

/// Evicts `pod` of `default` with the Python client; the HTTP status and the body of
/// the answer.
fn python_evict(kubeconfig: &Path, pod: &str) -> anyhow::Result<(i64, Value)> {
    let program = format!(
        r#"
import json, os
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(os.environ["KUBECONFIG"])
core = client.CoreV1Api()
body = client.V1Eviction(metadata=client.V1ObjectMeta(name="{pod}", namespace="default"))
try:
    core.create_namespaced_pod_eviction("{pod}", "default", body)
    print(json.dumps({{"status": 201, "body": {{}}}}))
except ApiException as e:
    print(json.dumps({{"status": e.status, "body": json.loads(e.body)}}))
"#
    );
    let out = rudder_tests::python_with_client()
        .env("KUBECONFIG", kubeconfig)
        .arg("-c")
        .arg(program)
        .output()
        .context("python3 could not run; scripts/test.sh installs the kubernetes client")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "the Python program failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("the program printed {stdout}"))?;
    Ok((v["status"].as_i64().unwrap_or_default(), v["body"].clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_follow_the_budget_with_kubernetes_answers() -> anyhow::Result<()> {
    let (cluster, client) = Cluster::solo(true).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let _nodes = sim(&client, "evict", 2).await?;
    let deployments: Api<Deployment> = client.api(Some("default"));
    let budgets: Api<PodDisruptionBudget> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));

    deployments.create(&deployment("web", 3)).await?;
    budgets
        .create(&budget("web", "web", Some(3.into()), None))
        .await?;
    let b = wait_status(&budgets, "web", (3, 3, 3, 0)).await?;
    let cond = b.condition(DISRUPTION_ALLOWED).expect("DisruptionAllowed");
    assert_eq!(cond.reason, "InsufficientPods");

    // Kubernetes' printer columns.
    let table = kubectl_ok(&kc, &["get", "pdb"])?;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "MIN",
            "AVAILABLE",
            "MAX",
            "UNAVAILABLE",
            "ALLOWED",
            "DISRUPTIONS",
            "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], ["web", "3", "N/A", "0"], "{table}");

    // kubectl describe reads the status; kubectl explain the schema.
    let described = kubectl_ok(&kc, &["describe", "pdb", "web"])?;
    let flat = described.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "Min available: 3",
        "Selector: app=web",
        "Allowed disruptions: 0 Current: 3 Desired: 3 Total: 3",
    ] {
        assert!(flat.contains(want), "{want:?} in {described}");
    }
    let explained = kubectl_ok(&kc, &["explain", "pdb.spec.unhealthyPodEvictionPolicy"])?;
    assert!(explained.contains("IfHealthyBudget"), "{explained}");

    // No disruption allowed: 429 with Kubernetes' body, for the Python client...
    let victim = live_pods(&pods, "web").await?[0].metadata.name.clone();
    let (code, body) = python_evict(&kc, &victim)?;
    assert_eq!(code, 429, "{body}");
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure",
            "message": "Cannot evict pod as it would violate the pod's disruption budget.",
            "reason": "TooManyRequests",
            "details": {"causes": [{
                "reason": "DisruptionBudget",
                "message": "The disruption budget web needs 3 healthy pods and has 3 currently",
            }]},
            "code": 429,
        })
    );
    // ... and for the Rust client over the bus.
    let err = pods
        .evict(&victim, &Value::Null)
        .await
        .expect_err("the budget refuses");
    assert_eq!(err.code(), Some(429), "{err}");
    assert!(pods.get(&victim).await.is_ok(), "the pod is still there");

    // Lowered to 2: one eviction is allowed, spent by the first, and the pod goes.
    budgets
        .patch(
            "web",
            PatchType::Merge,
            &json!({"spec": {"minAvailable": 2}}),
        )
        .await?;
    let b = wait_status(&budgets, "web", (3, 2, 3, 1)).await?;
    assert_eq!(b.status.observed_generation, 2);
    assert_eq!(
        b.condition(DISRUPTION_ALLOWED).map(|c| c.reason.as_str()),
        Some("SufficientPods")
    );
    let (code, body) = python_evict(&kc, &victim)?;
    assert_eq!(code, 201, "{body}");
    eventually(WAIT, || async {
        Ok(pods.get_opt(&victim).await?.is_none().then_some(()))
    })
    .await
    .context("the evicted pod is deleted")?;
    // The Deployment replaces it and the budget allows one again.
    wait_status(&budgets, "web", (3, 2, 3, 1)).await?;

    // A second budget over the same pods: Kubernetes' 500.
    budgets
        .create(&budget("web-2", "web", None, Some(1.into())))
        .await?;
    wait_status(&budgets, "web-2", (3, 2, 3, 1)).await?;
    let victim = live_pods(&pods, "web").await?[0].metadata.name.clone();
    let (code, body) = python_evict(&kc, &victim)?;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure",
            "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            "code": 500,
        })
    );
    let table = kubectl_ok(&kc, &["get", "pdb", "web-2", "--no-headers"])?;
    let row: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(&row[..4], ["web-2", "N/A", "1", "1"], "{table}");

    // A pod marked DisruptionTarget that was not deleted after all gets the condition
    // back to False once it is two minutes old.
    let stale = live_pods(&pods, "web").await?[0].metadata.name.clone();
    pods.patch_status(
        &stale,
        PatchType::StrategicMerge,
        &json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True",
            "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting",
            "lastTransitionTime": "2020-01-01T00:00:00Z",
        }]}}),
    )
    .await?;
    eventually(WAIT, || async {
        let p = pods.get(&stale).await?;
        Ok(p.condition("DisruptionTarget")
            .is_some_and(|c| c.status == rudder_protocol::resources::ConditionStatus::False)
            .then_some(()))
    })
    .await
    .context("the stale DisruptionTarget condition is cleared")?;

    // Invalid budgets are refused with Kubernetes' message.
    let (ok, _, stderr) = kubectl(
        &kc,
        &[
            "create",
            "pdb",
            "both",
            "--selector=app=web",
            "--min-available=1",
            "--max-unavailable=1",
        ],
    )?;
    assert!(!ok, "both set must be refused");
    assert!(
        stderr.contains("min-available and max-unavailable cannot be both specified")
            || stderr.contains("minAvailable and maxUnavailable cannot be both set"),
        "{stderr}"
    );
    let invalid = budgets
        .create(&budget("both", "web", Some(1.into()), Some(1.into())))
        .await
        .expect_err("both set");
    assert_eq!(invalid.code(), Some(422), "{invalid}");
    assert!(
        invalid
            .to_string()
            .contains("minAvailable and maxUnavailable cannot be both set"),
        "{invalid}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drain_and_uncordon_on_simulated_nodes() -> anyhow::Result<()> {
    let (cluster, client) = Cluster::solo(true).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let _nodes = sim(&client, "drain", 2).await?;
    let (first, second) = ("drain-00000", "drain-00001");
    let deployments: Api<Deployment> = client.api(Some("default"));
    let budgets: Api<PodDisruptionBudget> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    let nodes: Api<Node> = client.api(None);

    // Everything on the first node: the second is cordoned while the pods start.
    kubectl_ok(&kc, &["cordon", second])?;
    assert!(nodes.get(second).await?.spec.unschedulable);
    deployments.create(&deployment("web", 3)).await?;
    let mut bare = Pod::new("bare");
    bare.spec.node_name = first.into();
    bare.spec.containers = vec![Container {
        name: "main".into(),
        image: "demo:1".into(),
        ..Default::default()
    }];
    pods.create(&bare).await?;
    // A DaemonSet pod on each node (its pods tolerate the cordon).
    let mut agent = DaemonSet::new("agent");
    agent.spec.selector = selector("agent");
    agent.spec.template.metadata.labels = [("app".to_owned(), "agent".to_owned())].into();
    agent.spec.template.spec.containers = vec![Container {
        name: "main".into(),
        image: "demo:1".into(),
        ..Default::default()
    }];
    client
        .api::<DaemonSet>(Some("default"))
        .create(&agent)
        .await?;
    let p = pods.clone();
    let (agents, _) = eventually(Duration::from_secs(30), move || {
        let p = p.clone();
        async move {
            let live = live_pods(&p, "agent").await?;
            let mut on: Vec<String> = live.iter().map(|p| p.spec.node_name.clone()).collect();
            on.sort();
            Ok((on == [first, second]).then_some(live))
        }
    })
    .await
    .context("one agent pod per node")?;
    let agent_on_first = agents
        .iter()
        .find(|p| p.spec.node_name == first)
        .map(|p| p.metadata.name.clone())
        .context("an agent on the first node")?;
    budgets
        .create(&budget("web", "web", None, Some(1.into())))
        .await?;
    wait_status(&budgets, "web", (3, 2, 3, 1)).await?;
    kubectl_ok(&kc, &["uncordon", second])?;
    assert!(!nodes.get(second).await?.spec.unschedulable);

    // kubectl looks the DaemonSet up and refuses to evict its pod unless told to ignore it.
    let (ok, stdout, stderr) = kubectl(&kc, &["drain", first, "--force"])?;
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/{agent_on_first}"
        )),
        "{stderr}"
    );

    // A pod without a controller stops the drain unless forced.
    let (ok, stdout, stderr) = kubectl(&kc, &["drain", first, "--ignore-daemonsets"])?;
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "cannot delete Pods that declare no controller (use --force to override): default/bare"
        ),
        "{stderr}"
    );
    assert!(
        nodes.get(first).await?.spec.unschedulable,
        "the drain cordoned the node first"
    );

    // A server-side dry run evicts nothing and leaves the budget as it was.
    let (ok, stdout, stderr) = kubectl(
        &kc,
        &[
            "drain",
            first,
            "--ignore-daemonsets",
            "--force",
            "--dry-run=server",
        ],
    )?;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("(server dry run)"), "{stdout}");
    assert_eq!(live_pods(&pods, "web").await?.len(), 3);
    assert!(pods.get_opt("bare").await?.is_some());
    let b = budgets.get("web").await?;
    assert_eq!(b.status.disruptions_allowed, 1);
    assert!(b.status.disrupted_pods.is_empty());

    let (ok, stdout, stderr) = kubectl(
        &kc,
        &[
            "drain",
            first,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=120s",
        ],
    )?;
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("node/{first} drained")),
        "{stdout}"
    );
    assert!(stdout.contains("evicting pod default/bare"), "{stdout}");
    // Three evictions at once under a budget of one: kubectl retried the refused ones.
    assert!(
        stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{stderr}"
    );
    // The drain waits for the evicted pods to go, not for their replacements to be
    // placed: the last replacement may still be on its way to the other node.
    let p = pods.clone();
    eventually(Duration::from_secs(20), move || {
        let p = p.clone();
        async move {
            let live = live_pods(&p, "web").await?;
            Ok((live.len() == 3 && live.iter().all(|p| p.spec.node_name == second)).then_some(()))
        }
    })
    .await
    .context("the three replicas run on the other node")?;
    assert!(pods.get_opt("bare").await?.is_none());
    // kubectl joins its warnings in one line, in no fixed order ("Warning: deleting Pods
    // that declare no controller: ...; ignoring DaemonSet-managed Pods: ...").
    assert!(
        stderr.lines().any(|l| l.starts_with("Warning: ")
            && l.contains(&format!(
                "ignoring DaemonSet-managed Pods: default/{agent_on_first}"
            ))),
        "{stderr}"
    );
    let agent = pods.get(&agent_on_first).await?;
    assert!(
        agent.metadata.deletion_timestamp.is_none(),
        "the DaemonSet's pod stays on the drained node"
    );

    kubectl_ok(&kc, &["uncordon", first])?;
    assert!(!nodes.get(first).await?.spec.unschedulable);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_over_pods_of_a_controller_without_scale_fails_safely() -> anyhow::Result<()> {
    // Control plane only: the Job's pod stays Pending, which is all the budget needs.
    let (_cluster, client) = Cluster::solo(true).await?;
    let budgets: Api<PodDisruptionBudget> = client.api(Some("default"));
    let mut job = rudder_protocol::resources::Job::new("batch");
    job.spec
        .template
        .metadata
        .labels
        .insert("app".into(), "batch".into());
    job.spec.template.spec.restart_policy = Some(rudder_protocol::resources::RestartPolicy::Never);
    job.spec.template.spec.containers = vec![Container {
        name: "main".into(),
        image: "demo:1".into(),
        ..Default::default()
    }];
    client
        .api::<rudder_protocol::resources::Job>(Some("default"))
        .create(&job)
        .await?;
    // A number: the pods are counted, their controller does not matter.
    budgets
        .create(&budget("count", "batch", Some(1.into()), None))
        .await?;
    wait_status(&budgets, "count", (1, 1, 0, 0)).await?;
    // A percentage needs the controller's scale, which a Job does not serve.
    budgets
        .create(&budget("share", "batch", None, Some("50%".into())))
        .await?;
    let (b, _) = eventually(WAIT, || async {
        let b = budgets.get("share").await?;
        Ok(b.condition(DISRUPTION_ALLOWED)
            .is_some_and(|c| c.reason == "SyncFailed")
            .then_some(b))
    })
    .await?;
    let cond = b.condition(DISRUPTION_ALLOWED).expect("condition");
    assert_eq!(
        cond.status,
        rudder_protocol::resources::ConditionStatus::False
    );
    assert_eq!(
        cond.message,
        "jobs.batch does not implement the scale subresource"
    );
    assert_eq!(b.status.disruptions_allowed, 0);
    Ok(())
}

/// Marks the pod not Ready (the simulated node leaves a Running pod's status alone).
async fn make_unready(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    pods.patch_status(
        name,
        PatchType::StrategicMerge,
        &json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unready_pods_follow_the_unhealthy_pod_eviction_policy() -> anyhow::Result<()> {
    let (_cluster, client) = Cluster::solo(true).await?;
    let _nodes = sim(&client, "unready", 1).await?;
    let deployments: Api<Deployment> = client.api(Some("default"));
    let budgets: Api<PodDisruptionBudget> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    deployments.create(&deployment("web", 3)).await?;
    budgets
        .create(&budget("web", "web", Some(2.into()), None))
        .await?;
    wait_status(&budgets, "web", (3, 2, 3, 1)).await?;
    let names: Vec<String> = live_pods(&pods, "web")
        .await?
        .into_iter()
        .map(|p| p.metadata.name)
        .collect();
    let (unready, ready) = (&names[0], &names[1]);

    // IfHealthyBudget (the default) with the budget met: the unready pod goes although
    // no disruption is allowed, while a ready one may not.
    make_unready(&pods, unready).await?;
    wait_status(&budgets, "web", (3, 2, 2, 0)).await?;
    let err = pods
        .evict(ready, &Value::Null)
        .await
        .expect_err("no budget");
    assert_eq!(err.code(), Some(429), "{err}");
    pods.evict(unready, &Value::Null).await?;
    eventually(WAIT, || async {
        Ok(pods.get_opt(unready).await?.is_none().then_some(()))
    })
    .await?;
    wait_status(&budgets, "web", (3, 2, 3, 1)).await?;

    // The budget not met: IfHealthyBudget keeps the unready pod, AlwaysAllow lets it go.
    make_unready(&pods, ready).await?;
    budgets
        .patch(
            "web",
            PatchType::Merge,
            &json!({"spec": {"minAvailable": 3}}),
        )
        .await?;
    wait_status(&budgets, "web", (3, 3, 2, 0)).await?;
    let err = pods
        .evict(ready, &Value::Null)
        .await
        .expect_err("budget not met");
    assert_eq!(err.code(), Some(429), "{err}");
    budgets
        .patch(
            "web",
            PatchType::Merge,
            &json!({"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}}),
        )
        .await?;
    wait_status(&budgets, "web", (3, 3, 2, 0)).await?;
    pods.evict(ready, &Value::Null).await?;
    eventually(WAIT, || async {
        Ok(pods.get_opt(ready).await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}
