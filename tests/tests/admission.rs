//! Admission control against a real `rudderd` (control plane only, real RocksDB; no
//! Docker), driven with the newest kubectl and the Rust client:
//!
//! - **NamespaceLifecycle**: a create in a namespace that does not exist is a 404 naming
//!   it, in a terminating one a 403 with Kubernetes' message; `default`, `kube-system`
//!   and `kube-public` cannot be deleted.
//! - **LimitRanger**: `kubectl get limits`; an invalid range refused (422); a pod that
//!   states nothing gets the range's defaults (and the annotation saying so) on the
//!   stored object; `max`, `min` and `maxLimitRequestRatio` refused with Kubernetes'
//!   messages; a claim's storage bounded.
//! - **ResourceQuota**: the quota controller fills `status.hard` and `status.used`
//!   (`kubectl get quota` prints them); creates past `hard` (pods, requests and limits,
//!   services, configmaps, secrets, claims, `count/deployments.apps`) refused with the
//!   403 `exceeded quota` message; an update charged what it adds (a Service turned
//!   NodePort, then refused a second port); a pod not stating a capped request refused; a deleted
//!   pod gives its usage back; a server-side dry run charges nothing.
//! - **Concurrency**: 20 creates at once, spread over the three API servers of a
//!   three-node cluster, against a quota of 10 pods leave exactly 10 pods, and the
//!   quota says 10.

use std::path::{Path, PathBuf};

use std::time::Duration;

use rudder_protocol::api::Api;
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{Container, Namespace, Pod, Quantity, ResourceQuota};
use rudder_tests::{eventually, kubectl, Cluster, KubectlRun};

const WAIT: Duration = Duration::from_secs(30);

fn text(o: &KubectlRun) -> String {
    format!("{}{}", o.stdout, o.stderr)
}

fn ok(kc: &Path, args: &[&str]) -> String {
    let o = kubectl(kc, args, None);
    assert!(o.success, "kubectl {args:?} failed: {}", text(&o));
    o.stdout
}

fn fails(kc: &Path, args: &[&str]) -> String {
    let o = kubectl(kc, args, None);
    assert!(!o.success, "kubectl {args:?} succeeded: {}", text(&o));
    text(&o)
}

/// `kubectl apply -f -` of `yaml`: its output, and whether it succeeded.
fn apply(kc: &Path, yaml: &str) -> (bool, String) {
    let o = kubectl(kc, &["apply", "-f", "-"], Some(yaml));
    (o.success, text(&o))
}

fn applied(kc: &Path, yaml: &str) -> String {
    let (good, out) = apply(kc, yaml);
    assert!(good, "apply failed: {out}\n{yaml}");
    out
}

fn refused(kc: &Path, yaml: &str) -> String {
    let (good, out) = apply(kc, yaml);
    assert!(!good, "apply succeeded: {out}\n{yaml}");
    out
}

/// One control-plane node (no kubelet: pods stay pending, which quota counts the same);
/// its admin kubeconfig and a client.
async fn node() -> anyhow::Result<(Cluster, PathBuf, rudder_protocol::client::Client)> {
    let (cluster, client) = Cluster::solo(true).await?;
    let kc = cluster.nodes[0].kubeconfig();
    Ok((cluster, kc, client))
}

/// A pod of one container `c` with these resources (YAML of `resources`, may be `{}`).
fn pod_yaml(ns: &str, name: &str, resources: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  containers:\n  - name: c\n    image: rudder/demo:1\n    resources: {resources}\n"
    )
}

/// Waits until the quota's status has been counted for its spec, and returns it. A
/// consistent list at the end brings that API server's watch cache (which admission
/// reads) up to the counted status.
async fn counted(quotas: &Api<ResourceQuota>, name: &str) -> anyhow::Result<ResourceQuota> {
    let q = eventually(WAIT, || async {
        let q = quotas.get(name).await?;
        let done = !q.spec.hard.is_empty()
            && q.status.hard == q.spec.hard
            && q.spec.hard.keys().all(|k| q.status.used.contains_key(k));
        Ok(done.then_some(q))
    })
    .await?
    .0;
    quotas.list(&ListParams::default()).await?;
    Ok(q)
}

/// Waits until the quota's `used` of `resource` is `want` (and the API server's cache
/// has it).
async fn used_becomes(
    quotas: &Api<ResourceQuota>,
    name: &str,
    resource: &str,
    want: &str,
) -> anyhow::Result<()> {
    let want = Quantity::parse(want)?;
    eventually(WAIT, || {
        let want = want.clone();
        async move {
            let q = quotas.get(name).await?;
            Ok(q.status
                .used
                .get(resource)
                .is_some_and(|u| u.cmp_value(&want).is_eq())
                .then_some(()))
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{name}: used {resource} never became {want}: {e}"))?;
    // As in `counted`: admission on that API server sees it from here on.
    quotas.list(&ListParams::default()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_lifecycle() -> anyhow::Result<()> {
    let (_cluster, kc, client) = node().await?;

    let out = fails(&kc, &["create", "configmap", "c", "-n", "nowhere"]);
    assert!(
        out.contains(r#"namespaces "nowhere" not found"#),
        "a missing namespace is named: {out}"
    );

    for ns in ["default", "kube-system", "kube-public"] {
        let out = fails(&kc, &["delete", "namespace", ns]);
        assert!(
            out.contains(&format!(
                r#"namespaces "{ns}" is forbidden: this namespace may not be deleted"#
            )),
            "{out}"
        );
    }
    ok(
        &kc,
        &["get", "namespace", "default", "kube-system", "kube-public"],
    );

    // A finalizer on a ConfigMap holds the namespace in Terminating.
    ok(&kc, &["create", "namespace", "doomed"]);
    applied(
        &kc,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hold\n  namespace: doomed\n  finalizers: [example.com/hold]\n",
    );
    ok(&kc, &["delete", "namespace", "doomed", "--wait=false"]);
    let namespaces: Api<Namespace> = client.api(None);
    eventually(WAIT, || async {
        let ns = namespaces.get("doomed").await?;
        Ok(ns
            .status
            .phase
            .is_some_and(|p| p.as_str() == "Terminating")
            .then_some(()))
    })
    .await?;
    let out = fails(&kc, &["create", "configmap", "late", "-n", "doomed"]);
    assert!(
        out.contains(r#"configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated"#),
        "{out}"
    );
    let err = client
        .api::<Pod>(Some("doomed"))
        .create(&test_pod("late", "100m"))
        .await
        .expect_err("refused while terminating");
    assert_eq!(err.code(), Some(403), "{err}");
    if let rudder_protocol::api::ApiError::Status(s) = &err {
        let causes = s
            .details
            .as_ref()
            .map(|d| d.causes.clone())
            .unwrap_or_default();
        assert!(
            causes
                .iter()
                .any(|c| c.reason == "NamespaceTerminating" && c.field == "metadata.namespace"),
            "{causes:?}"
        );
    }

    ok(
        &kc,
        &[
            "patch",
            "configmap",
            "hold",
            "-n",
            "doomed",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
    eventually(WAIT, || async {
        Ok(namespaces.get_opt("doomed").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

const LIMITS: &str = "\
apiVersion: v1
kind: LimitRange
metadata:
  name: limits
  namespace: lr
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 200m, memory: 128Mi}
    max: {cpu: \"1\"}
    min: {memory: 64Mi}
    maxLimitRequestRatio: {cpu: \"4\"}
  - type: Pod
    max: {memory: 1Gi}
  - type: PersistentVolumeClaim
    max: {storage: 2Gi}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_default_and_bound_pods() -> anyhow::Result<()> {
    let (_cluster, kc, client) = node().await?;
    ok(&kc, &["create", "namespace", "lr"]);

    let out = refused(
        &kc,
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: bad\n  namespace: lr\nspec:\n  limits:\n  - type: Pod\n    min: {cpu: \"2\"}\n    max: {cpu: \"1\"}\n",
    );
    assert!(
        out.contains(r#"LimitRange "bad" is invalid: spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1"#),
        "{out}"
    );

    applied(&kc, LIMITS);
    let out = ok(&kc, &["get", "limits", "-n", "lr"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "CREATED", "AT"], "{out}");
    assert!(out.contains("limits"), "{out}");
    // The item defaults of the stored range: a container's default request from its
    // default limit or min where unset.
    let stored = ok(
        &kc,
        &["get", "limitrange", "limits", "-n", "lr", "-o", "json"],
    );
    let stored: serde_json::Value = serde_json::from_str(&stored)?;
    assert_eq!(stored["spec"]["limits"][0]["default"]["cpu"], "500m");

    let out = ok(&kc, &["describe", "limits", "limits", "-n", "lr"]);
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["Container", "cpu", "-", "1", "200m", "500m", "4"]),
        "{out}"
    );

    // Nothing stated: the range's defaults, visible on the stored pod.
    applied(&kc, &pod_yaml("lr", "plain", "{}"));
    let pod = client.api::<Pod>(Some("lr")).get("plain").await?;
    let r = &pod.spec.containers[0].resources;
    assert_eq!(r.requests["cpu"].as_str(), "200m");
    assert_eq!(r.requests["memory"].as_str(), "128Mi");
    assert_eq!(r.limits["cpu"].as_str(), "500m");
    assert_eq!(r.limits["memory"].as_str(), "256Mi");
    assert_eq!(
        pod.metadata.annotations["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    );
    // A limit alone: the request is the limit (pod defaulting), not the range's.
    applied(&kc, &pod_yaml("lr", "limited", "{limits: {cpu: 800m}}"));
    let pod = client.api::<Pod>(Some("lr")).get("limited").await?;
    assert_eq!(
        pod.spec.containers[0].resources.requests["cpu"].as_str(),
        "800m"
    );

    let cases = [
        (
            "big",
            "{limits: {cpu: \"2\"}}",
            r#"pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2"#,
        ),
        (
            "small",
            "{limits: {memory: 32Mi}}",
            r#"pods "small" is forbidden: minimum memory usage per Container is 64Mi, but request is 32Mi"#,
        ),
        (
            "skewed",
            "{requests: {cpu: 100m}, limits: {cpu: \"1\"}}",
            r#"pods "skewed" is forbidden: cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000"#,
        ),
        (
            "greedy",
            "{limits: {memory: 2Gi}}",
            r#"pods "greedy" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 2Gi"#,
        ),
    ];
    for (name, resources, want) in cases {
        let out = refused(&kc, &pod_yaml("lr", name, resources));
        assert!(out.contains(want), "{name}: {out}");
    }
    let names = ok(&kc, &["get", "pods", "-n", "lr", "-o", "name"]);
    assert_eq!(names.lines().count(), 2, "only the admitted pods: {names}");

    let claim = |name: &str, size: &str| {
        format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  namespace: lr\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {{storage: {size}}}\n")
    };
    let out = refused(&kc, &claim("huge", "5Gi"));
    assert!(
        out.contains(r#"persistentvolumeclaims "huge" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"#),
        "{out}"
    );
    applied(&kc, &claim("fits", "1Gi"));

    // A namespace without ranges is left alone.
    applied(&kc, &pod_yaml("default", "free", "{}"));
    let pod = client.api::<Pod>(Some("default")).get("free").await?;
    assert!(pod.spec.containers[0].resources.limits.is_empty());
    Ok(())
}

const QUOTAS: &str = "\
apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: rq
spec:
  hard:
    pods: \"2\"
    requests.cpu: \"1\"
    requests.memory: 1Gi
    limits.cpu: \"2\"
    limits.memory: 2Gi
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: objects
  namespace: rq
spec:
  hard:
    services: \"1\"
    services.nodeports: \"1\"
    configmaps: \"2\"
    secrets: \"1\"
    persistentvolumeclaims: \"1\"
    requests.storage: 1Gi
    count/deployments.apps: \"1\"
";

fn sized(cpu: &str) -> String {
    format!("{{requests: {{cpu: {cpu}, memory: 256Mi}}, limits: {{cpu: {cpu}, memory: 256Mi}}}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_quotas_count_and_refuse() -> anyhow::Result<()> {
    let (_cluster, kc, client) = node().await?;
    ok(&kc, &["create", "namespace", "rq"]);
    // The CA bundle every namespace gets is counted from the start (a create admitted
    // while a new quota caps nothing yet is only counted at the next recount).
    eventually(WAIT, || async {
        let o = kubectl(
            &kc,
            &["get", "configmap", "kube-root-ca.crt", "-n", "rq"],
            None,
        );
        Ok(o.success.then_some(()))
    })
    .await?;
    let bad = refused(
        &kc,
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: bad\n  namespace: rq\nspec:\n  hard: {pods: \"-1\"}\n",
    );
    assert!(
        bad.contains(r#"spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0"#),
        "{bad}"
    );
    applied(&kc, QUOTAS);
    let quotas: Api<ResourceQuota> = client.api(Some("rq"));
    let compute = counted(&quotas, "compute").await?;
    assert_eq!(compute.status.used["pods"].as_str(), "0");
    counted(&quotas, "objects").await?;
    // Every namespace has the cluster's CA bundle.
    used_becomes(&quotas, "objects", "configmaps", "1").await?;

    let out = refused(&kc, &pod_yaml("rq", "bare", "{}"));
    assert!(
        out.contains(r#"pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: c; limits.memory for: c; requests.cpu for: c; requests.memory for: c"#),
        "{out}"
    );

    applied(&kc, &pod_yaml("rq", "p1", &sized("500m")));
    used_becomes(&quotas, "compute", "requests.cpu", "500m").await?;
    let q = quotas.get("compute").await?;
    assert_eq!(q.status.used["pods"].as_str(), "1");
    assert_eq!(q.status.used["requests.memory"].as_str(), "256Mi");
    let out = ok(&kc, &["get", "quota", "compute", "-n", "rq"]);
    assert!(
        out.contains("pods: 1/2, requests.cpu: 500m/1, requests.memory: 256Mi/1Gi")
            && out.contains("limits.cpu: 500m/2, limits.memory: 256Mi/2Gi"),
        "{out}"
    );

    let out = ok(&kc, &["describe", "quota", "compute", "-n", "rq"]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["requests.cpu", "500m", "1"]),
        "{out}"
    );
    let out = ok(&kc, &["describe", "namespace", "rq"]);
    assert!(
        out.contains("Resource Quotas") && out.contains("compute"),
        "{out}"
    );

    let out = refused(&kc, &pod_yaml("rq", "p2", &sized("600m")));
    assert!(
        out.contains(r#"pods "p2" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=500m, limited: requests.cpu=1"#),
        "{out}"
    );
    // A server-side dry run is checked but charges nothing.
    let o = kubectl(
        &kc,
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&pod_yaml("rq", "p2", &sized("500m"))),
    );
    assert!(o.success, "{}", text(&o));
    applied(&kc, &pod_yaml("rq", "p2", &sized("500m")));
    let out = refused(&kc, &pod_yaml("rq", "p3", &sized("100m")));
    assert!(
        out.contains(r#"pods "p3" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=100m, used: pods=2,requests.cpu=1, limited: pods=2,requests.cpu=1"#),
        "{out}"
    );

    // A deleted pod gives its share back.
    ok(&kc, &["delete", "pod", "p1", "-n", "rq", "--wait=false"]);
    used_becomes(&quotas, "compute", "pods", "1").await?;
    used_becomes(&quotas, "compute", "requests.cpu", "500m").await?;
    applied(&kc, &pod_yaml("rq", "p3", &sized("100m")));

    // Object counts.
    ok(
        &kc,
        &[
            "create",
            "service",
            "clusterip",
            "s1",
            "--tcp=80",
            "-n",
            "rq",
        ],
    );
    let out = fails(
        &kc,
        &[
            "create",
            "service",
            "clusterip",
            "s2",
            "--tcp=80",
            "-n",
            "rq",
        ],
    );
    assert!(
        out.contains(r#"services "s2" is forbidden: exceeded quota: objects, requested: services=1, used: services=1, limited: services=1"#),
        "{out}"
    );
    // An update is charged what it adds: s1 may become a NodePort of one port, not
    // grow a second one.
    let patch_s1 = |kind: &'static str, patch: &'static str| {
        [
            "patch", "service", "s1", "-n", "rq", "--type", kind, "-p", patch,
        ]
    };
    ok(
        &kc,
        &patch_s1("strategic", r#"{"spec":{"type":"NodePort"}}"#),
    );
    let out = fails(
        &kc,
        &patch_s1(
            "json",
            r#"[{"op":"add","path":"/spec/ports/-","value":{"name":"b","port":81,"targetPort":81}}]"#,
        ),
    );
    assert!(
        out.contains(r#"services "s1" is forbidden: exceeded quota: objects, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"#),
        "{out}"
    );
    let ports = ok(
        &kc,
        &[
            "get",
            "service",
            "s1",
            "-n",
            "rq",
            "-o",
            "jsonpath={.spec.ports[*].port}",
        ],
    );
    assert_eq!(ports.trim(), "80", "the refused update changed nothing");
    ok(&kc, &["create", "configmap", "c1", "-n", "rq"]);
    let out = fails(&kc, &["create", "configmap", "c2", "-n", "rq"]);
    assert!(out.contains(r#"configmaps "c2" is forbidden: exceeded quota: objects, requested: configmaps=1, used: configmaps=2, limited: configmaps=2"#), "{out}");
    ok(&kc, &["create", "secret", "generic", "k1", "-n", "rq"]);
    let out = fails(&kc, &["create", "secret", "generic", "k2", "-n", "rq"]);
    assert!(
        out.contains("exceeded quota: objects, requested: secrets=1"),
        "{out}"
    );
    ok(
        &kc,
        &[
            "create",
            "deployment",
            "d1",
            "--image=rudder/demo:1",
            "--replicas=0",
            "-n",
            "rq",
        ],
    );
    let out = fails(
        &kc,
        &[
            "create",
            "deployment",
            "d2",
            "--image=rudder/demo:1",
            "--replicas=0",
            "-n",
            "rq",
        ],
    );
    assert!(
        out.contains(r#"deployments.apps "d2" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"#),
        "{out}"
    );
    let claim = |name: &str, size: &str| {
        format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  namespace: rq\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {{storage: {size}}}\n")
    };
    let out = refused(&kc, &claim("big", "2Gi"));
    assert!(out.contains("exceeded quota: objects, requested: requests.storage=2Gi, used: requests.storage=0, limited: requests.storage=1Gi"), "{out}");
    applied(&kc, &claim("small", "512Mi"));
    let out = refused(&kc, &claim("another", "1Mi"));
    assert!(out.contains("requested: persistentvolumeclaims=1"), "{out}");

    let objects = quotas.get("objects").await?;
    for (resource, want) in [
        ("services", "1"),
        ("services.nodeports", "1"),
        ("configmaps", "2"),
        ("secrets", "1"),
        ("count/deployments.apps", "1"),
        ("persistentvolumeclaims", "1"),
        ("requests.storage", "512Mi"),
    ] {
        assert_eq!(objects.status.used[resource].as_str(), want, "{resource}");
    }
    // The controller's recount agrees with what admission charged.
    ok(&kc, &["delete", "configmap", "c1", "-n", "rq"]);
    used_becomes(&quotas, "objects", "configmaps", "1").await?;
    Ok(())
}

/// A pod of one container requesting and limiting `cpu`.
fn test_pod(name: &str, cpu: &str) -> Pod {
    let mut p = Pod::new(name);
    let mut c = Container {
        name: "c".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    };
    if let Ok(q) = Quantity::parse(cpu) {
        c.resources.requests.insert("cpu".into(), q.clone());
        c.resources.limits.insert("cpu".into(), q);
    }
    p.spec.containers.push(c);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_never_exceed_the_quota() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let mut clients = Vec::new();
    for n in &cluster.nodes {
        clients.push(n.client().await?);
    }
    clients[0]
        .api::<Namespace>(None)
        .create(&Namespace::new("burst"))
        .await?;
    let mut quota = ResourceQuota::new("pods");
    quota
        .spec
        .hard
        .insert("pods".into(), Quantity::parse("10")?);
    quota
        .spec
        .hard
        .insert("requests.cpu".into(), Quantity::parse("10")?);
    let quotas: Api<ResourceQuota> = clients[0].api(Some("burst"));
    quotas.create(&quota).await?;
    counted(&quotas, "pods").await?;
    // Every API server sees the namespace and the counted quota before the burst.
    for c in &clients {
        let q: Api<ResourceQuota> = c.api(Some("burst"));
        counted(&q, "pods").await?;
    }

    let creates = (0..20).map(|i| {
        let pods: Api<Pod> = clients[i % clients.len()].api(Some("burst"));
        async move { pods.create(&test_pod(&format!("p{i}"), "100m")).await }
    });
    let results = futures::future::join_all(creates).await;
    let mut admitted = 0;
    for r in &results {
        match r {
            Ok(_) => admitted += 1,
            Err(e) => {
                assert_eq!(e.code(), Some(403), "{e}");
                assert!(e.to_string().contains("exceeded quota: pods"), "{e}");
            }
        }
    }
    let outcome: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(p) => p.metadata.name.clone(),
            Err(e) => e.to_string(),
        })
        .collect();
    assert_eq!(admitted, 10, "exactly the quota: {outcome:#?}");
    let pods = clients[0]
        .api::<Pod>(Some("burst"))
        .list(&ListParams::default())
        .await?;
    assert_eq!(pods.items.len(), 10);
    let q = quotas.get("pods").await?;
    assert_eq!(q.status.used["pods"].as_str(), "10");
    assert_eq!(q.status.used["requests.cpu"].as_str(), "1");
    // The controller's own count agrees once it has looked again.
    let one: Api<Pod> = clients[1].api(Some("burst"));
    one.delete(&pods.items[0].metadata.name).await?;
    used_becomes(&quotas, "pods", "pods", "9").await?;
    used_becomes(&quotas, "pods", "requests.cpu", "900m").await?;
    Ok(())
}
