//! The replica controllers through a real `rudderd`: a ReplicaSet, a
//! ReplicationController and a Deployment create their pods (which stay Pending: no
//! scheduler or kubelet is involved here), replace a deleted pod, follow scaling, and a
//! template change makes a second revision and a rollback reuses the first. Killing the controllers in the middle of
//! their work still ends with exactly the desired pods, none created twice.

use std::time::Duration;

use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::{ListParams, PatchType};
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::resources::{
    Container, Deployment, Event, LabelSelector, Namespace, Pod, PodTemplateSpec, ReplicaSet,
    ReplicationController,
};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, Cluster};

const WAIT: Duration = Duration::from_secs(30);

async fn node() -> anyhow::Result<(Cluster, Client)> {
    // Control plane only: the pods go to simulated nodes, not to a real kubelet here.
    Cluster::solo(true).await
}

fn template(app: &str, image: &str) -> PodTemplateSpec {
    let mut t = PodTemplateSpec::default();
    t.metadata.labels.insert("app".into(), app.into());
    t.spec.containers = vec![Container {
        name: "main".into(),
        image: image.into(),
        ..Default::default()
    }];
    t
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [("app".to_owned(), app.to_owned())].into(),
        ..Default::default()
    }
}

/// Live (not terminating) pods labelled `app=<app>`.
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

/// Waits until exactly `n` live pods labelled `app=<app>` exist and returns them.
async fn wait_pods(pods: &Api<Pod>, app: &str, n: usize) -> anyhow::Result<Vec<Pod>> {
    let (found, _) = eventually(WAIT, || async move {
        let live = live_pods(pods, app).await?;
        Ok((live.len() == n).then_some(live))
    })
    .await?;
    Ok(found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_set_creates_replaces_and_scales_pods() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    let mut rs = ReplicaSet::new("web");
    rs.spec.replicas = Some(3);
    rs.spec.selector = selector("web");
    rs.spec.template = template("web", "demo:1");
    let rs = sets.create(&rs).await?;

    let made = wait_pods(&pods, "web", 3).await?;
    for p in &made {
        let owner = p.metadata.controller_ref().expect("controller reference");
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("ReplicaSet", rs.metadata.uid.as_str())
        );
        assert!(p.metadata.name.starts_with("web-"), "{}", p.metadata.name);
    }
    eventually(WAIT, || async {
        Ok((sets.get("web").await?.status.replicas == 3).then_some(()))
    })
    .await?;

    // A deleted pod is replaced.
    let victim = made[0].metadata.name.clone();
    pods.delete(&victim).await?;
    let (after, _) = eventually(WAIT, || async {
        let live = live_pods(&pods, "web").await?;
        Ok((live.len() == 3 && live.iter().all(|p| p.metadata.name != victim)).then_some(live))
    })
    .await?;
    assert_eq!(after.len(), 3);

    // Scaling down deletes pods; scaling up creates them.
    sets.patch(
        "web",
        PatchType::Merge,
        &serde_json::json!({"spec": {"replicas": 1}}),
    )
    .await?;
    wait_pods(&pods, "web", 1).await?;
    sets.patch(
        "web",
        PatchType::Merge,
        &serde_json::json!({"spec": {"replicas": 2}}),
    )
    .await?;
    wait_pods(&pods, "web", 2).await?;

    // The controller recorded what it did.
    let events: Api<Event> = client.api(Some("default"));
    let list = events.list(&ListParams::default()).await?;
    let reasons: Vec<&str> = list
        .items
        .iter()
        .filter(|e| {
            e.involved_object.name == "web" && e.source.component == "replicaset-controller"
        })
        .map(|e| e.reason.as_str())
        .collect();
    assert!(reasons.contains(&"SuccessfulCreate"), "{reasons:?}");
    assert!(reasons.contains(&"SuccessfulDelete"), "{reasons:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_controller_creates_pods() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let rcs: Api<ReplicationController> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    let mut rc = ReplicationController::new("legacy");
    rc.spec.replicas = Some(2);
    rc.spec.template = Some(template("legacy", "demo:1"));
    rcs.create(&rc).await?;
    let made = wait_pods(&pods, "legacy", 2).await?;
    assert!(made.iter().all(|p| p
        .metadata
        .controller_ref()
        .is_some_and(|r| r.kind == "ReplicationController")));
    eventually(WAIT, || async {
        Ok((rcs.get("legacy").await?.status.replicas == 2).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_creates_scales_and_revises_replica_sets() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let deployments: Api<Deployment> = client.api(Some("default"));
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    let mut d = Deployment::new("shop");
    d.spec.replicas = Some(2);
    d.spec.selector = selector("shop");
    d.spec.template = template("shop", "demo:1");
    deployments.create(&d).await?;

    let owned_sets = || async {
        let list = sets.list(&ListParams::default()).await?;
        anyhow::Ok(
            list.items
                .into_iter()
                .filter(|rs| {
                    rs.metadata
                        .controller_ref()
                        .is_some_and(|r| r.kind == "Deployment" && r.name == "shop")
                })
                .collect::<Vec<_>>(),
        )
    };
    let (first, _) = eventually(WAIT, || async {
        let v = owned_sets().await?;
        Ok((v.len() == 1).then(|| v[0].clone()))
    })
    .await?;
    let hash = first
        .metadata
        .labels
        .get("pod-template-hash")
        .cloned()
        .expect("hash label");
    assert_eq!(first.metadata.name, format!("shop-{hash}"));
    assert_eq!(
        first
            .metadata
            .annotations
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );
    let made = wait_pods(&pods, "shop", 2).await?;
    assert!(made
        .iter()
        .all(|p| p.metadata.labels.get("pod-template-hash") == Some(&hash)));

    // Scaling the deployment scales its replica set.
    deployments
        .patch(
            "shop",
            PatchType::Merge,
            &serde_json::json!({"spec": {"replicas": 3}}),
        )
        .await?;
    wait_pods(&pods, "shop", 3).await?;

    // The deployment reports what it sees.
    eventually(WAIT, || async {
        let d = deployments.get("shop").await?;
        let s = &d.status;
        let revision = d
            .metadata
            .annotations
            .get("deployment.kubernetes.io/revision")
            .cloned();
        Ok((s.replicas == 3
            && s.updated_replicas == 3
            && s.observed_generation == d.metadata.generation
            && revision.as_deref() == Some("1")
            && s.conditions.iter().any(|c| c.type_ == "Progressing"))
        .then_some(()))
    })
    .await?;

    // A new template makes a second revision. Nothing becomes ready without a kubelet, so
    // the rollout stops at the surge: one new pod, the old set kept at full size.
    deployments
        .patch(
            "shop",
            PatchType::Merge,
            &serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "demo:2"}]}}}}),
        )
        .await?;
    let (second, _) = eventually(WAIT, || async {
        let v = owned_sets().await?;
        Ok(v.into_iter()
            .find(|rs| rs.metadata.name != first.metadata.name && rs.spec.replicas == Some(1)))
    })
    .await?;
    assert_eq!(
        second
            .metadata
            .annotations
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("2")
    );
    wait_pods(&pods, "shop", 4).await?;
    let old = sets.get(&first.metadata.name).await?;
    assert_eq!(
        old.spec.replicas,
        Some(3),
        "no old pod goes before a new one is available"
    );

    // Rollback, as `kubectl rollout undo` does it: the template goes back to the first
    // revision's; that replica set becomes the new one again with the next revision.
    deployments
        .patch(
            "shop",
            PatchType::Merge,
            &serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "demo:1"}]}}}}),
        )
        .await?;
    eventually(WAIT, || async {
        let rs = sets.get(&first.metadata.name).await?;
        let a = &rs.metadata.annotations;
        let d = deployments.get("shop").await?;
        Ok((a
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str)
            == Some("3")
            && a.get("deployment.kubernetes.io/revision-history")
                .map(String::as_str)
                == Some("1")
            && d.metadata
                .annotations
                .get("deployment.kubernetes.io/revision")
                .map(String::as_str)
                == Some("3"))
        .then_some(()))
    })
    .await?;
    assert_eq!(owned_sets().await?.len(), 2, "no third replica set");

    let events: Api<Event> = client.api(Some("default"));
    let list = events.list(&ListParams::default()).await?;
    let scaling: Vec<&str> = list
        .items
        .iter()
        .filter(|e| {
            e.reason == "ScalingReplicaSet" && e.source.component == "deployment-controller"
        })
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        scaling
            .iter()
            .any(|m| m.starts_with("Scaled up replica set shop-")),
        "{scaling:?}"
    );
    Ok(())
}

async fn kill(client: &Client, actor: &str) -> anyhow::Result<()> {
    let reply = client
        .call(
            ActorRef::new(client.node().clone(), "chaos"),
            ChaosRequest::KillActor { name: actor.into() },
        )
        .await?;
    anyhow::ensure!(matches!(reply, ChaosReply::Killed { .. }), "{reply:?}");
    Ok(())
}

/// Every pod labelled `app=<app>`, terminating ones included.
async fn all_pods(pods: &Api<Pod>, app: &str) -> anyhow::Result<usize> {
    let list = pods
        .list(&ListParams {
            label_selector: Some(format!("app={app}")),
            ..ListParams::default()
        })
        .await?;
    Ok(list.items.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_controllers_create_no_pod_twice() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let deployments: Api<Deployment> = client.api(Some("default"));
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    let mut d = Deployment::new("busy");
    d.spec.replicas = Some(40);
    d.spec.selector = selector("busy");
    d.spec.template = template("busy", "demo:1");
    deployments.create(&d).await?;
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let actor = if round % 2 == 0 {
            "controller/replicaset"
        } else {
            "controller/deployment"
        };
        // A kill can miss while the supervisor is restarting the actor; that is fine.
        let _ = kill(&client, actor).await;
    }
    wait_pods(&pods, "busy", 40).await?;
    // Settled: still exactly 40, none deleted as a surplus, one replica set.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(all_pods(&pods, "busy").await?, 40);
    let owned = sets
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .controller_ref()
                .is_some_and(|r| r.name == "busy")
        })
        .count();
    assert_eq!(owned, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_acts_among_three_control_planes() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let client = cluster.nodes[0].client().await?;
    let c = client.clone();
    eventually(Duration::from_secs(20), move || {
        let c = c.clone();
        async move { Ok(Some(c.api::<Namespace>(None).get("default").await?)) }
    })
    .await?;
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    let mut rs = ReplicaSet::new("trio");
    rs.spec.replicas = Some(12);
    rs.spec.selector = selector("trio");
    rs.spec.template = template("trio", "demo:1");
    sets.create(&rs).await?;
    wait_pods(&pods, "trio", 12).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        all_pods(&pods, "trio").await?,
        12,
        "three controllers, one acting"
    );
    let leases: Api<rudder_protocol::resources::Lease> = client.api(Some("kube-system"));
    let lease = leases.get("rudder-controller-replicaset").await?;
    let holder = lease.spec.holder_identity.unwrap_or_default();
    assert!(
        cluster.nodes.iter().any(|n| n.name() == holder),
        "holder {holder:?}"
    );
    Ok(())
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("kubectl could not run ({e}); scripts/test.sh installs it"))?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_history_and_undo() -> anyhow::Result<()> {
    let (cluster, client) = node().await?;
    let kc = cluster.nodes[0].kubeconfig();
    let deployments: Api<Deployment> = client.api(Some("default"));
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let mut d = Deployment::new("web");
    d.spec.replicas = Some(2);
    d.spec.selector = selector("web");
    d.spec.template = template("web", "demo:1");
    deployments.create(&d).await?;
    let revision_of = |image: &'static str| {
        let sets = sets.clone();
        async move {
            let list = sets.list(&ListParams::default()).await?;
            anyhow::Ok(list.items.into_iter().find_map(|rs| {
                let img = rs
                    .spec
                    .template
                    .spec
                    .containers
                    .first()
                    .map(|c| c.image.clone());
                (img.as_deref() == Some(image))
                    .then(|| {
                        rs.metadata
                            .annotations
                            .get("deployment.kubernetes.io/revision")
                            .cloned()
                    })
                    .flatten()
            }))
        }
    };
    eventually(WAIT, || async {
        Ok((revision_of("demo:1").await?.as_deref() == Some("1")).then_some(()))
    })
    .await?;
    kubectl(&kc, &["set", "image", "deployment/web", "main=demo:2"])?;
    eventually(WAIT, || async {
        Ok((revision_of("demo:2").await?.as_deref() == Some("2")).then_some(()))
    })
    .await?;
    let history = kubectl(&kc, &["rollout", "history", "deployment/web"])?;
    assert!(history.contains('1') && history.contains('2'), "{history}");
    kubectl(&kc, &["rollout", "undo", "deployment/web"])?;
    eventually(WAIT, || async {
        Ok((revision_of("demo:1").await?.as_deref() == Some("3")).then_some(()))
    })
    .await?;
    let image = deployments.get("web").await?.spec.template.spec.containers[0]
        .image
        .clone();
    assert_eq!(image, "demo:1");
    Ok(())
}

/// Ready pods labelled `app=<app>` that are not being deleted, and how many run `image`.
async fn ready_pods(pods: &Api<Pod>, app: &str, image: &str) -> anyhow::Result<(usize, usize)> {
    let live = live_pods(pods, app).await?;
    let ready: Vec<&Pod> = live
        .iter()
        .filter(|p| {
            p.status.conditions.iter().any(|c| {
                c.type_ == "Ready" && c.status == rudder_protocol::resources::ConditionStatus::True
            })
        })
        .collect();
    let updated = ready
        .iter()
        .filter(|p| p.spec.containers.first().is_some_and(|c| c.image == image))
        .count();
    Ok((ready.len(), updated))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_on_simulated_nodes_keeps_availability() -> anyhow::Result<()> {
    use rudder_actors::simnode::{SimNodeSpec, SimNodes};
    let (_cluster, client) = node().await?;
    let apis = rudder_tests::sim_apis(&client);
    let _sims = SimNodes::start(
        apis,
        SimNodeSpec {
            prefix: "sim".into(),
            count: 5,
            ..Default::default()
        },
    )
    .await?;
    let deployments: Api<Deployment> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    const REPLICAS: i32 = 50;
    let mut d = Deployment::new("roll");
    d.spec.replicas = Some(REPLICAS);
    d.spec.selector = selector("roll");
    d.spec.template = template("roll", "demo:1");
    deployments.create(&d).await?;

    let complete = |image: &'static str| {
        let deployments = deployments.clone();
        let pods = pods.clone();
        async move {
            let d = deployments.get("roll").await?;
            let s = &d.status;
            let (ready, updated) = ready_pods(&pods, "roll", image).await?;
            anyhow::Ok(
                s.observed_generation == d.metadata.generation
                    && s.updated_replicas == REPLICAS
                    && s.available_replicas == REPLICAS
                    && s.replicas == REPLICAS
                    && ready == REPLICAS as usize
                    && updated == REPLICAS as usize,
            )
        }
    };
    eventually(Duration::from_secs(60), || async {
        Ok(complete("demo:1").await?.then_some(()))
    })
    .await?;

    // Roll to a new template while watching availability all along.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let pods = pods.clone();
        let watching = watching.clone();
        tokio::spawn(async move {
            let mut min_ready = usize::MAX;
            let mut samples = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((ready, _)) = ready_pods(&pods, "roll", "demo:2").await {
                    min_ready = min_ready.min(ready);
                    samples += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (min_ready, samples)
        })
    };
    deployments
        .patch(
            "roll",
            PatchType::Merge,
            &serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "demo:2"}]}}}}),
        )
        .await?;
    eventually(Duration::from_secs(90), || async {
        Ok(complete("demo:2").await?.then_some(()))
    })
    .await?;
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let (min_ready, samples) = watcher.await?;
    // The default maxUnavailable is 25%: 12 of 50 (rounded down).
    assert!(
        samples > 5,
        "the watcher sampled the rollout ({samples} samples)"
    );
    assert!(
        min_ready >= 38,
        "ready pods dropped to {min_ready} during the rollout"
    );
    let d = deployments.get("roll").await?;
    let progressing = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing");
    assert_eq!(
        progressing.map(|c| c.reason.as_str()),
        Some("NewReplicaSetAvailable")
    );

    // 50 SuccessfulCreate Events per replica set would be noise: after ten distinct
    // messages they are combined into one Event whose count grows (client-go's rules).
    let events: Api<Event> = client.api(Some("default"));
    let creates: Vec<Event> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason == "SuccessfulCreate" && e.involved_object.name.starts_with("roll-"))
        .collect();
    let combined: Vec<&Event> = creates
        .iter()
        .filter(|e| {
            e.message
                .starts_with("(combined from similar events): Created pod: roll-")
        })
        .collect();
    assert!(
        !combined.is_empty() && combined.iter().all(|e| e.count > 1),
        "combined events: {:?}",
        combined
            .iter()
            .map(|e| (&e.message, e.count))
            .collect::<Vec<_>>()
    );
    assert!(
        creates.len() < 2 * REPLICAS as usize,
        "{} SuccessfulCreate events for {} pods created",
        creates.len(),
        2 * REPLICAS
    );

    // Deleting the Deployment (kubectl's default, background propagation) removes its
    // ReplicaSets through the garbage collector, and their pods with them.
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let owned = sets.list(&ListParams::default()).await?.items;
    assert_eq!(
        owned
            .iter()
            .filter(|rs| rs.metadata.name.starts_with("roll-"))
            .count(),
        2,
        "two revisions before the delete"
    );
    deployments.delete("roll").await?;
    let (_, took) = eventually(Duration::from_secs(60), || async {
        let rs_left = sets
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|rs| rs.metadata.name.starts_with("roll-"))
            .count();
        let pods_left = all_pods(&pods, "roll").await?;
        Ok((rs_left == 0 && pods_left == 0).then_some(()))
    })
    .await?;
    eprintln!("deployment, 2 replica sets and {REPLICAS} pods collected in {took:?}");
    Ok(())
}
