//! Persistent volumes on real Docker: a claim of the default `local-path` class stays
//! Pending until its first pod is scheduled, is then bound to a volume provisioned on
//! that pod's node (a directory under `<data-dir>/storage`, node affinity to the node),
//! keeps what one pod wrote for the next pod, and goes with its directory when the
//! claim is deleted (reclaim policy Delete), while a Retain class keeps the volume
//! Released with its data; `kubectl get pv,pvc,sc` prints Kubernetes' columns. A
//! statically created hostPath volume is bound by the PV controller to a claim of an
//! Immediate class; pods with an unbound immediate claim or a missing claim are
//! unschedulable with Kubernetes' messages. One `rudderd` node with both roles per test.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use rudder_protocol::client::Client;
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    Container, Event, HostPathVolumeSource, PersistentVolume, PersistentVolumeAccessMode,
    PersistentVolumeClaim, PersistentVolumeClaimPhase, PersistentVolumeClaimVolumeSource,
    PersistentVolumePhase, PersistentVolumeReclaimPolicy, Pod, PodPhase, Quantity, StorageClass,
    Volume, VolumeBindingMode, VolumeMount, BIND_COMPLETED_ANNOTATION, LOCAL_PATH_CLASS,
    LOCAL_PATH_PROVISIONER, SELECTED_NODE_ANNOTATION,
};
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, wait_for, Cluster};

fn docker_available() -> bool {
    services::docker_available("the persistent volume Docker tests")
}

async fn start_node(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    services::start_pod_node(name, Vec::new()).await
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

fn claim(name: &str, class: Option<&str>, size: &str) -> anyhow::Result<PersistentVolumeClaim> {
    let mut c = PersistentVolumeClaim::new(name);
    c.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
    c.spec
        .resources
        .requests
        .insert("storage".into(), Quantity::parse(size)?);
    c.spec.storage_class_name = class.map(str::to_owned);
    Ok(c)
}

/// A pod running `script` with claim `claim` mounted at `/data`.
fn pod_with_claim(name: &str, claim: &str, script: &str) -> Pod {
    let mut p = Pod::new(name);
    p.spec.termination_grace_period_seconds = Some(1);
    p.spec.volumes = vec![Volume {
        name: "data".into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            read_only: false,
        }),
        ..Default::default()
    }];
    p.spec.containers = vec![Container {
        name: "main".into(),
        image: "rudder/demo:1".into(),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        volume_mounts: vec![VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            ..Default::default()
        }],
        ..Default::default()
    }];
    p
}

async fn wait_running(client: &Client, name: &str) -> anyhow::Result<Pod> {
    wait_for(&client.api::<Pod>(Some("default")), name, 120, |p: &Pod| {
        p.status.phase == Some(PodPhase::Running)
    })
    .await
    .with_context(|| format!("pod {name} running"))
}

async fn delete_pod_and_wait(client: &Client, name: &str) -> anyhow::Result<()> {
    let pods = client.api::<Pod>(Some("default"));
    pods.delete(name).await?;
    eventually(Duration::from_secs(60), || {
        let pods = pods.clone();
        async move { Ok(pods.get_opt(name).await?.is_none().then_some(())) }
    })
    .await
    .with_context(|| format!("pod {name} gone"))?;
    Ok(())
}

async fn wait_gone<K>(api: &rudder_protocol::client::Api<K>, name: &str) -> anyhow::Result<()>
where
    K: rudder_protocol::resources::Resource + Send + Sync + 'static,
{
    eventually(Duration::from_secs(60), || {
        let api = api.clone();
        async move { Ok(api.get_opt(name).await?.is_none().then_some(())) }
    })
    .await
    .with_context(|| format!("{} {name} gone", K::KIND))?;
    Ok(())
}

/// The columns of the header line of the table whose first row starts with `prefix`.
fn header_of(out: &str, prefix: &str) -> Vec<String> {
    let lines: Vec<&str> = out.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with(prefix) && i > 0 {
            // The header is the nearest line above that starts with NAME.
            if let Some(h) = lines[..i].iter().rev().find(|l| l.starts_with("NAME")) {
                return h
                    .split("  ")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
        }
    }
    Vec::new()
}

fn storage_dir(cluster: &Cluster) -> PathBuf {
    cluster.nodes[0].spec.data_dir.join("storage")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_path_volumes_follow_their_claims() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = "pv-local";
    let (_cleanup, cluster, client) = start_node(node).await?;
    let claims = client.api::<PersistentVolumeClaim>(Some("default"));
    let volumes = client.api::<PersistentVolume>(None);

    // The default class exists from the start.
    let sc = client
        .api::<StorageClass>(None)
        .get(LOCAL_PATH_CLASS)
        .await?;
    assert_eq!(sc.provisioner, LOCAL_PATH_PROVISIONER);
    assert!(sc.is_default_class());
    assert_eq!(sc.binding_mode(), VolumeBindingMode::WaitForFirstConsumer);
    assert_eq!(
        sc.reclaim_policy,
        Some(PersistentVolumeReclaimPolicy::Delete)
    );

    // A claim naming no class gets the default one, and waits for its first consumer.
    let created = claims.create(&claim("data", None, "64Mi")?).await?;
    assert_eq!(created.class_name(), LOCAL_PATH_CLASS);
    assert!(created
        .metadata
        .finalizers
        .iter()
        .any(|f| f == "kubernetes.io/pvc-protection"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = claims.get("data").await?;
    assert_eq!(
        waiting.status.phase,
        Some(PersistentVolumeClaimPhase::Pending)
    );
    assert!(
        waiting.spec.volume_name.is_empty(),
        "no volume before a pod"
    );
    let events = client.api::<Event>(Some("default"));
    eventually(Duration::from_secs(30), || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await?;
            Ok(list
                .items
                .into_iter()
                .find(|e| e.involved_object.name == "data" && e.reason == "WaitForFirstConsumer")
                .filter(|e| e.message == "waiting for first consumer to be created before binding"))
        }
    })
    .await
    .context("the claim's WaitForFirstConsumer event")?;

    // The first pod: scheduled, the claim provisioned on its node and bound.
    client
        .api::<Pod>(Some("default"))
        .create(&pod_with_claim(
            "writer",
            "data",
            "echo hello-from-writer > /data/greeting && sleep 3600",
        ))
        .await?;
    let bound = wait_for(&claims, "data", 90, |c: &PersistentVolumeClaim| {
        c.is_bound()
    })
    .await
    .context("the claim is bound once its pod is scheduled")?;
    assert_eq!(
        bound.metadata.annotations.get(SELECTED_NODE_ANNOTATION),
        Some(&node.to_owned())
    );
    assert_eq!(
        bound.metadata.annotations.get(BIND_COMPLETED_ANNOTATION),
        Some(&"yes".to_owned())
    );
    let pv_name = format!("pvc-{}", bound.metadata.uid);
    assert_eq!(bound.spec.volume_name, pv_name);
    let pv = wait_for(&volumes, &pv_name, 30, |v: &PersistentVolume| {
        v.status.phase == Some(PersistentVolumePhase::Bound)
    })
    .await?;
    let affinity = serde_json::to_value(&pv.spec.node_affinity)?;
    assert_eq!(
        affinity["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
        serde_json::json!([node]),
        "{affinity}"
    );
    let dir = PathBuf::from(pv.node_path().context("a local volume")?);
    assert!(dir.starts_with(storage_dir(&cluster)), "{}", dir.display());
    let writer = wait_running(&client, "writer").await?;
    assert_eq!(writer.spec.node_name, node);
    let (_, _) = eventually(Duration::from_secs(30), || {
        let file = dir.join("greeting");
        async move {
            Ok(std::fs::read_to_string(&file)
                .ok()
                .filter(|s| s.contains("hello-from-writer")))
        }
    })
    .await
    .context("the pod's file is in the volume's directory")?;

    // kubectl prints Kubernetes' columns.
    let kc = cluster.nodes[0].kubeconfig();
    let out = kubectl(&kc, &["get", "pv,pvc,sc"])?;
    assert_eq!(
        header_of(&out, "persistentvolume/"),
        [
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ],
        "{out}"
    );
    assert_eq!(
        header_of(&out, "persistentvolumeclaim/"),
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ],
        "{out}"
    );
    assert_eq!(
        header_of(&out, "storageclass."),
        [
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION",
            "AGE"
        ],
        "{out}"
    );
    let pvc_row = out
        .lines()
        .find(|l| l.starts_with("persistentvolumeclaim/data"))
        .context("the claim's row")?;
    for cell in [
        "Bound",
        pv_name.as_str(),
        "64Mi",
        "RWO",
        "local-path",
        "<unset>",
    ] {
        assert!(pvc_row.contains(cell), "{cell} in {pvc_row}");
    }
    let pv_row = out
        .lines()
        .find(|l| l.starts_with(&format!("persistentvolume/{pv_name}")))
        .context("the volume's row")?;
    for cell in [
        "64Mi",
        "RWO",
        "Delete",
        "Bound",
        "default/data",
        "local-path",
    ] {
        assert!(pv_row.contains(cell), "{cell} in {pv_row}");
    }
    assert!(
        out.lines().any(
            |l| l.starts_with("storageclass.storage.k8s.io/local-path (default)")
                && l.contains("rudder.io/local-path")
                && l.contains("WaitForFirstConsumer")
        ),
        "{out}"
    );

    // The claim outlives its pod: a new pod reads what the first wrote.
    delete_pod_and_wait(&client, "writer").await?;
    client
        .api::<Pod>(Some("default"))
        .create(&pod_with_claim(
            "reader",
            "data",
            "cat /data/greeting; sleep 3600",
        ))
        .await?;
    wait_running(&client, "reader").await?;
    services::kubelet_log_until(&client, node, "reader", "main", "hello-from-writer", 60)
        .await
        .context("the second pod reads the first pod's file")?;

    // A claim in use is kept (pvc-protection) until its pod is gone; then, with
    // reclaim policy Delete, the volume and its directory go too.
    claims.delete("data").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = claims.get("data").await?;
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(volumes.get_opt(&pv_name).await?.is_some(), "still in use");
    delete_pod_and_wait(&client, "reader").await?;
    wait_gone(&claims, "data").await?;
    wait_gone(&volumes, &pv_name).await?;
    assert!(!dir.exists(), "the directory goes with the volume");

    // A Retain class: the volume is Released and keeps its data.
    let mut keep = StorageClass::new("keep");
    keep.provisioner = LOCAL_PATH_PROVISIONER.into();
    keep.reclaim_policy = Some(PersistentVolumeReclaimPolicy::Retain);
    keep.volume_binding_mode = Some(VolumeBindingMode::WaitForFirstConsumer);
    client.api::<StorageClass>(None).create(&keep).await?;
    claims.create(&claim("kept", Some("keep"), "32Mi")?).await?;
    client
        .api::<Pod>(Some("default"))
        .create(&pod_with_claim(
            "keeper",
            "kept",
            "echo kept-data > /data/file && sleep 3600",
        ))
        .await?;
    let kept = wait_for(&claims, "kept", 90, |c: &PersistentVolumeClaim| {
        c.is_bound()
    })
    .await?;
    wait_running(&client, "keeper").await?;
    let kept_pv = volumes.get(&kept.spec.volume_name).await?;
    assert_eq!(
        kept_pv.spec.persistent_volume_reclaim_policy,
        Some(PersistentVolumeReclaimPolicy::Retain)
    );
    let kept_dir = PathBuf::from(kept_pv.node_path().context("a local volume")?);
    eventually(Duration::from_secs(30), || {
        let file = kept_dir.join("file");
        async move {
            Ok(std::fs::read_to_string(&file)
                .ok()
                .filter(|s| s.contains("kept-data")))
        }
    })
    .await?;
    delete_pod_and_wait(&client, "keeper").await?;
    claims.delete("kept").await?;
    wait_gone(&claims, "kept").await?;
    let released = wait_for(
        &volumes,
        &kept.spec.volume_name,
        30,
        |v: &PersistentVolume| v.status.phase == Some(PersistentVolumePhase::Released),
    )
    .await?;
    assert!(
        released.spec.claim_ref.is_some(),
        "a Released volume keeps its claimRef"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(volumes.get_opt(&kept.spec.volume_name).await?.is_some());
    assert_eq!(
        std::fs::read_to_string(kept_dir.join("file"))?.trim(),
        "kept-data",
        "Retain keeps the data"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_host_path_volume_binds_an_immediate_claim() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = "pv-static";
    let (_cleanup, cluster, client) = start_node(node).await?;
    let claims = client.api::<PersistentVolumeClaim>(Some("default"));
    let volumes = client.api::<PersistentVolume>(None);
    let pods = client.api::<Pod>(Some("default"));

    let mut manual = StorageClass::new("manual");
    manual.provisioner = "kubernetes.io/no-provisioner".into();
    manual.volume_binding_mode = Some(VolumeBindingMode::Immediate);
    client.api::<StorageClass>(None).create(&manual).await?;

    // A volume made by hand: Available once the PV controller has seen it.
    let host_dir = cluster.nodes[0].spec.data_dir.join("static-volume");
    std::fs::create_dir_all(&host_dir)?;
    let mut pv = PersistentVolume::new("static");
    pv.spec
        .capacity
        .insert("storage".into(), Quantity::parse("2Gi")?);
    pv.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
    pv.spec.storage_class_name = "manual".into();
    pv.spec.host_path = Some(HostPathVolumeSource {
        path: host_dir.to_string_lossy().into_owned(),
        type_: None,
    });
    let created = volumes.create(&pv).await?;
    assert_eq!(
        created.spec.persistent_volume_reclaim_policy,
        Some(PersistentVolumeReclaimPolicy::Retain),
        "a volume made by hand is retained by default"
    );
    wait_for(&volumes, "static", 30, |v: &PersistentVolume| {
        v.status.phase == Some(PersistentVolumePhase::Available)
    })
    .await?;

    // An Immediate claim is bound at once, to the volume that fits.
    claims
        .create(&claim("small", Some("manual"), "1Gi")?)
        .await?;
    let bound = wait_for(&claims, "small", 30, |c: &PersistentVolumeClaim| {
        c.is_bound()
    })
    .await?;
    assert_eq!(bound.spec.volume_name, "static");
    assert_eq!(
        bound.status.capacity.get("storage").map(|q| q.to_string()),
        Some("2Gi".into())
    );
    let pv = wait_for(&volumes, "static", 30, |v: &PersistentVolume| {
        v.status.phase == Some(PersistentVolumePhase::Bound)
    })
    .await?;
    let claim_ref = pv.spec.claim_ref.context("claimRef")?;
    assert_eq!(
        (claim_ref.namespace.as_str(), claim_ref.name.as_str()),
        ("default", "small")
    );
    assert_eq!(claim_ref.uid, bound.metadata.uid);

    // Pods: one on the bound claim runs and writes into the host directory; one on an
    // unbound Immediate claim and one on a missing claim are unschedulable.
    claims
        .create(&claim("too-big", Some("manual"), "100Gi")?)
        .await?;
    pods.create(&pod_with_claim(
        "user",
        "small",
        "echo static > /data/out && sleep 3600",
    ))
    .await?;
    pods.create(&pod_with_claim("stuck", "too-big", "sleep 3600"))
        .await?;
    pods.create(&pod_with_claim("lost", "ghost", "sleep 3600"))
        .await?;
    wait_running(&client, "user").await?;
    eventually(Duration::from_secs(30), || {
        let file = host_dir.join("out");
        async move {
            Ok(std::fs::read_to_string(&file)
                .ok()
                .filter(|s| s.contains("static")))
        }
    })
    .await
    .context("the pod wrote into the hostPath volume")?;
    let scheduled_message = |p: &Pod| {
        p.status
            .conditions
            .iter()
            .find(|c| c.type_ == "PodScheduled")
            .map(|c| c.message.clone())
            .unwrap_or_default()
    };
    let stuck = wait_for(&pods, "stuck", 30, move |p: &Pod| {
        scheduled_message(p).contains("pod has unbound immediate PersistentVolumeClaims")
    })
    .await?;
    assert!(stuck.spec.node_name.is_empty());
    wait_for(&pods, "lost", 30, move |p: &Pod| {
        scheduled_message(p).contains("persistentvolumeclaim \"ghost\" not found")
    })
    .await?;
    assert_eq!(
        claims.get("too-big").await?.status.phase,
        Some(PersistentVolumeClaimPhase::Pending)
    );
    Ok(())
}
