//! StatefulSets on real Docker: three replicas start in ordinal order with a claim
//! each (the default local-path class), each pod writes its ordinal to its volume and,
//! once every pod is deleted, the recreated pods read their own ordinal back; a
//! template change rolls out from the highest ordinal down while the StatefulSet
//! controller is killed mid-rollout, no ordinal ever runs two containers at once, and
//! `kubectl rollout status|history|undo statefulset` work. One `rudderd` node with both
//! roles per test.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rudder_protocol::client::Client;
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    ConditionStatus, Container, PersistentVolumeClaim, Pod, PodPhase, StatefulSet,
};
use rudder_protocol::NodeName;
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, Cluster};

fn docker_available() -> bool {
    services::docker_available("the StatefulSet Docker tests")
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

/// A headless Service and a StatefulSet of three pods, each with a `data` claim: a pod
/// writes its ordinal to its volume the first time and reports what it finds after.
const ORDERED_MANIFEST: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector:
    app: web
  ports:
  - name: http
    port: 8080
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: rudder/demo:1
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        command:
        - /bin/sh
        - -c
        - |
          o=${POD_NAME##*-}
          echo "host $(hostname)"
          if [ -f /data/ordinal ]; then echo "found $(cat /data/ordinal) as $o"; else echo "$o" > /data/ordinal; echo "wrote $o"; fi
          exec sleep 3600
        readinessProbe:
          exec:
            command: ["cat", "/data/ordinal"]
          periodSeconds: 1
        volumeMounts:
        - name: data
          mountPath: /data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: 16Mi
"#;

async fn pods_of(client: &Client, app: &str) -> anyhow::Result<Vec<Pod>> {
    let mut pods: Vec<Pod> = client
        .api::<Pod>(Some("default"))
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.labels.get("app").map(String::as_str) == Some(app))
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(pods)
}

fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.phase == Some(PodPhase::Running)
        && p.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
}

/// Waits until the set's `n` pods are Ready and none is terminating; returns them by
/// name.
async fn wait_ready(client: &Client, app: &str, n: usize, secs: u64) -> anyhow::Result<Vec<Pod>> {
    let (pods, _) = eventually(Duration::from_secs(secs), || async {
        let pods = pods_of(client, app).await?;
        Ok((pods.len() == n && pods.iter().all(is_ready)).then_some(pods))
    })
    .await
    .with_context(|| format!("{n} ready pods of {app}"))?;
    Ok(pods)
}

fn ready_since(p: &Pod) -> i64 {
    p.status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.last_transition_time)
        .map_or(i64::MAX, |t| t.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_start_in_order_and_find_their_own_volume_again() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = "sts-order";
    let (_cleanup, cluster, client): (DockerCleanup, Cluster, Client) =
        services::start_pod_node(node, Vec::new()).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let manifest = cluster.dir.path().join("web.yaml");
    std::fs::write(&manifest, ORDERED_MANIFEST)?;
    let out = kubectl(&kc, &["apply", "-f", &manifest.to_string_lossy()])?;
    assert!(out.contains("statefulset.apps/web created"), "{out}");

    let pods = wait_ready(&client, "web", 3, 180).await?;
    // OrderedReady: pod n+1 is created only once pod n is Ready.
    for pair in pods.windows(2) {
        let created = pair[1].metadata.creation_timestamp.map_or(0, |t| t.0);
        assert!(
            created >= ready_since(&pair[0]),
            "{} created at {created}, before {} was ready at {}",
            pair[1].metadata.name,
            pair[0].metadata.name,
            ready_since(&pair[0])
        );
    }
    for (n, p) in pods.iter().enumerate() {
        let name = format!("web-{n}");
        assert_eq!(p.metadata.name, name);
        assert_eq!(p.spec.hostname, name);
        assert_eq!(p.spec.subdomain, "web");
        assert_eq!(
            p.metadata.labels["statefulset.kubernetes.io/pod-name"],
            name
        );
        assert_eq!(
            p.metadata.labels["apps.kubernetes.io/pod-index"],
            n.to_string()
        );
        let log =
            services::kubelet_log_until(&client, node, &name, "main", &format!("wrote {n}"), 30)
                .await?;
        assert!(log.contains(&format!("host {name}")), "{name}: {log}");
    }
    let claims = client.api::<PersistentVolumeClaim>(Some("default"));
    for n in 0..3 {
        let c = claims.get(&format!("data-web-{n}")).await?;
        assert_eq!(c.metadata.labels["app"], "web");
        assert_eq!(
            c.status.phase.map(|p| p.as_str()),
            Some("Bound"),
            "data-web-{n} is bound"
        );
    }
    let table = kubectl(&kc, &["get", "statefulsets"])?;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "READY", "AGE"], "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().take(2).eq(["web", "3/3"])),
        "{table}"
    );

    // Every pod goes; each comes back under its name and finds its own ordinal.
    let old: Vec<String> = pods.iter().map(|p| p.metadata.uid.clone()).collect();
    kubectl(
        &kc,
        &["delete", "pod", "web-0", "web-1", "web-2", "--wait=false"],
    )?;
    let (pods, _) = eventually(Duration::from_secs(180), || async {
        let pods = pods_of(&client, "web").await?;
        let renewed = pods.len() == 3
            && pods
                .iter()
                .all(|p| is_ready(p) && !old.contains(&p.metadata.uid));
        Ok(renewed.then_some(pods))
    })
    .await
    .context("the pods come back")?;
    for (n, p) in pods.iter().enumerate() {
        let log = services::kubelet_log_until(
            &client,
            node,
            &p.metadata.name,
            "main",
            &format!("found {n} as {n}"),
            30,
        )
        .await?;
        assert!(!log.contains("wrote"), "web-{n} wrote again: {log}");
    }
    Ok(())
}

fn rolling_set() -> StatefulSet {
    let mut s = StatefulSet::new("roll");
    s.spec.replicas = Some(3);
    s.spec.service_name = "roll".into();
    s.spec.selector.match_labels = [("app".to_owned(), "roll".to_owned())].into();
    s.spec.template.metadata.labels = s.spec.selector.match_labels.clone();
    s.spec.template.spec.termination_grace_period_seconds = Some(1);
    s.spec.template.spec.containers = vec![Container {
        name: "main".into(),
        image: "rudder/demo:1".into(),
        command: vec!["/bin/sh".into(), "-c".into(), "exec sleep 3600".into()],
        ..Default::default()
    }];
    s
}

/// How many running `main` containers each ordinal of `roll` has on `node`.
fn running_per_ordinal(node: &str) -> [usize; 3] {
    let mut out = [0; 3];
    for (n, slot) in out.iter_mut().enumerate() {
        let ids = services::docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=io.rudder.node={node}"),
            "--filter",
            &format!("label=io.rudder.pod.name=roll-{n}"),
            "--filter",
            "label=io.rudder.container.name=main",
        ])
        .unwrap_or_default();
        *slot = ids.split_whitespace().count();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_survives_its_controller_and_rolls_back() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = "sts-roll";
    let (_cleanup, cluster, client) = services::start_pod_node(node, Vec::new()).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let sets = client.api::<StatefulSet>(Some("default"));
    sets.create(&rolling_set()).await?;
    wait_ready(&client, "roll", 3, 120).await?;
    let out = kubectl(
        &kc,
        &["rollout", "status", "statefulset/roll", "--timeout=60s"],
    )?;
    // kubectl reports a RollingUpdate with a partition (defaulted to 0) this way.
    assert!(
        out.contains("partitioned roll out complete: 3 new pods"),
        "{out}"
    );
    let first = sets.get("roll").await?.status.update_revision;
    assert!(!first.is_empty());

    // A new template; the controller is killed once the first pod was replaced.
    kubectl(&kc, &["set", "env", "statefulset/roll", "VERSION=2"])?;
    let started = Instant::now();
    let mut killed = false;
    let mut worst = [0; 3];
    loop {
        let counts = running_per_ordinal(node);
        for (w, c) in worst.iter_mut().zip(counts) {
            *w = (*w).max(c);
        }
        let s = sets.get("roll").await?;
        if !killed && s.status.updated_replicas >= 1 && s.status.update_revision != first {
            let hit = client
                .chaos_kill(&NodeName::new(node), "controller/statefulset")
                .await?;
            assert!(
                !hit.is_empty(),
                "the StatefulSet controller runs on the node"
            );
            killed = true;
        }
        let done = s.status.update_revision != first
            && s.status.current_revision == s.status.update_revision
            && s.status.ready_replicas == 3
            && s.status.updated_replicas == 3;
        if done {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(180),
            "the rollout did not finish: {:?}",
            s.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(killed, "the controller was killed mid-rollout");
    assert_eq!(worst, [1, 1, 1], "no ordinal ran two containers at once");
    let out = kubectl(
        &kc,
        &["rollout", "status", "statefulset/roll", "--timeout=60s"],
    )?;
    // kubectl reports a RollingUpdate with a partition (defaulted to 0) this way.
    assert!(
        out.contains("partitioned roll out complete: 3 new pods"),
        "{out}"
    );
    let pods = wait_ready(&client, "roll", 3, 60).await?;
    let second = sets.get("roll").await?.status.update_revision;
    for p in &pods {
        assert_eq!(p.metadata.labels["controller-revision-hash"], second);
        assert!(p.spec.containers[0].env.iter().any(|e| e.name == "VERSION"));
    }

    let history = kubectl(&kc, &["rollout", "history", "statefulset/roll"])?;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    let out = kubectl(&kc, &["rollout", "undo", "statefulset/roll"])?;
    assert!(out.contains("rolled back"), "{out}");
    let (_, _) = eventually(Duration::from_secs(180), || async {
        let s = sets.get("roll").await?;
        let back = s.status.update_revision == first
            && s.status.current_revision == first
            && s.status.ready_replicas == 3
            && s.status.updated_replicas == 3;
        Ok(back.then_some(()))
    })
    .await
    .context("the rollback finishes")?;
    let s = sets.get("roll").await?;
    assert!(
        s.spec.template.spec.containers[0].env.is_empty(),
        "{:?}",
        s.spec.template
    );
    let history = kubectl(&kc, &["rollout", "history", "statefulset/roll"])?;
    assert!(
        history.lines().any(|l| l.trim_start().starts_with('3')),
        "undo renumbers: {history}"
    );
    Ok(())
}
