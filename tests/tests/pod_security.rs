//! Pod spec fidelity on real Docker: security contexts, memory limits and the OOM
//! killer, lifecycle hooks, termination messages, the pod's names and DNS files, the
//! active deadline. One `rudderd` node with both roles per test, pods bound to it by
//! `spec.nodeName`, checked through the API, the containers' logs and host files.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns. Each test
//! uses its own node name and removes what Docker holds for it, even when it fails.

use std::time::Duration;

use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::kubelet::{KubeletReply, KubeletRequest, LogRequest};
use rudder_protocol::resources::{
    Container, ExecAction, HostAlias, HostPathVolumeSource, Lifecycle, LifecycleHandler,
    Namespace, Node, Pod, PodDnsConfig, PodPhase, PodSecurityContext, Quantity, RestartPolicy,
    SecurityContext, TerminationMessagePolicy, Volume, VolumeMount,
};
use rudder_protocol::ActorRef;
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, Cluster, NodeProc};

fn docker_available() -> bool {
    services::docker_available("the pod spec fidelity Docker tests")
}

async fn start_node(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    let cleanup = DockerCleanup(name.to_owned());
    services::build_images()?;
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", name);
    // Real pods: the Docker runtime of the config.
    spec.kubelet_runtime = None;
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    let c = client.clone();
    let node = name.to_owned();
    eventually(Duration::from_secs(30), move || {
        let (c, node) = (c.clone(), node.clone());
        async move {
            c.api::<Namespace>(None).get("default").await?;
            let n = c.api::<Node>(None).get(&node).await?;
            let ready = n.status.conditions.iter().any(|c| {
                c.type_ == "Ready" && c.status == rudder_protocol::resources::ConditionStatus::True
            });
            Ok(ready.then_some(()))
        }
    })
    .await?;
    Ok((cleanup, cluster, client))
}

fn container(name: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        image: "rudder/demo:1".into(),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        ..Default::default()
    }
}

fn pod(name: &str, node: &str, policy: RestartPolicy, containers: Vec<Container>) -> Pod {
    let mut p = Pod::new(name);
    p.spec.node_name = node.to_owned();
    p.spec.restart_policy = Some(policy);
    p.spec.termination_grace_period_seconds = Some(2);
    p.spec.containers = containers;
    p
}

async fn wait_pod<F>(pods: &Api<Pod>, name: &str, secs: u64, check: F) -> anyhow::Result<Pod>
where
    F: Fn(&Pod) -> bool + Clone + Send + 'static,
{
    let (pods, name) = (pods.clone(), name.to_owned());
    let (p, _) = eventually(Duration::from_secs(secs), move || {
        let (pods, name, check) = (pods.clone(), name.clone(), check.clone());
        async move {
            let p = pods.get(&name).await?;
            Ok(check(&p).then_some(p))
        }
    })
    .await?;
    Ok(p)
}

/// The log of a pod's container once it contains `until`.
async fn log_until(
    client: &Client,
    node: &str,
    pod: &str,
    container: &str,
    until: &str,
) -> anyhow::Result<String> {
    let (log, _) = eventually(Duration::from_secs(60), || async {
        let reply = client
            .call(
                ActorRef::new(node, "kubelet"),
                KubeletRequest::Logs(LogRequest {
                    namespace: "default".into(),
                    pod: pod.into(),
                    container: container.into(),
                    max_bytes: 16 * 1024,
                    ..Default::default()
                }),
            )
            .await?;
        Ok(match reply {
            KubeletReply::Logs { chunk, .. } => {
                let text = String::from_utf8_lossy(&chunk).into_owned();
                text.contains(until).then_some(text)
            }
            _ => None,
        })
    })
    .await?;
    Ok(log)
}

fn status_of<'a>(
    p: &'a Pod,
    name: &str,
) -> Option<&'a rudder_protocol::resources::ContainerStatus> {
    p.status.container_statuses.iter().find(|c| c.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_as_user_and_a_read_only_root_filesystem_are_enforced() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ps-sec-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let mut user = container("user", "echo uid=$(id -u) gid=$(id -g) groups=$(id -G); sleep 3600");
    user.security_context = Some(SecurityContext {
        run_as_user: Some(1000),
        run_as_group: Some(3000),
        ..Default::default()
    });
    let mut ro = container(
        "ro",
        "if touch /written 2>/dev/null; then echo root is writable; else echo write refused; fi; \
         touch /tmp/x 2>&1; sleep 3600",
    );
    ro.security_context = Some(SecurityContext {
        read_only_root_filesystem: Some(true),
        ..Default::default()
    });
    let mut p = pod("sec", &node, RestartPolicy::Always, vec![user, ro]);
    p.spec.security_context = Some(PodSecurityContext {
        supplemental_groups: vec![4000],
        fs_group: Some(2000),
        ..Default::default()
    });
    pods.create(&p).await?;
    let log = log_until(&client, &node, "sec", "user", "uid=").await?;
    assert!(log.contains("uid=1000 gid=3000"), "{log}");
    assert!(
        log.contains("4000") && log.contains("2000"),
        "supplementalGroups and fsGroup are groups of the process: {log}"
    );
    let log = log_until(&client, &node, "sec", "ro", "write").await?;
    assert!(log.contains("write refused"), "{log}");
    assert!(log.contains("Read-only file system"), "{log}");

    // runAsNonRoot on an image that runs as root: refused with Kubernetes' message.
    let mut nonroot = pod(
        "nonroot",
        &node,
        RestartPolicy::Always,
        vec![container("app", "sleep 3600")],
    );
    nonroot.spec.security_context = Some(PodSecurityContext {
        run_as_non_root: Some(true),
        ..Default::default()
    });
    pods.create(&nonroot).await?;
    let p = wait_pod(&pods, "nonroot", 60, |p| {
        status_of(p, "app")
            .and_then(|s| s.state.waiting.as_ref())
            .is_some_and(|w| w.reason == "CreateContainerConfigError")
    })
    .await?;
    let w = status_of(&p, "app")
        .and_then(|s| s.state.waiting.clone())
        .unwrap_or_default();
    assert!(
        w.message
            .starts_with("container has runAsNonRoot and image will run as root (pod: \"nonroot_default("),
        "{}",
        w.message
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_is_enforced_by_the_oom_killer_and_the_container_crash_loops(
) -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ps-oom-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    // A string that doubles until it no longer fits in 32 MiB.
    let mut hog = container("hog", "s=x; while :; do s=\"$s$s\"; done");
    hog.resources
        .limits
        .insert("memory".into(), Quantity::parse("32Mi")?);
    pods.create(&pod("oom", &node, RestartPolicy::Always, vec![hog]))
        .await?;
    let p = wait_pod(&pods, "oom", 120, |p| {
        status_of(p, "hog").is_some_and(|s| {
            s.restart_count >= 1
                && s.state
                    .waiting
                    .as_ref()
                    .is_some_and(|w| w.reason == "CrashLoopBackOff")
        })
    })
    .await?;
    let s = status_of(&p, "hog").cloned().unwrap_or_default();
    let last = s.last_state.terminated.unwrap_or_default();
    assert_eq!(last.reason, "OOMKilled", "{s:?}");
    assert_eq!(last.exit_code, 137, "{s:?}");
    assert_eq!(
        p.status.qos_class,
        Some(rudder_protocol::resources::PodQosClass::Burstable)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_runs_before_the_stop_signal() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ps-stop-{}", std::process::id());
    let (_cleanup, cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let host_dir = cluster.dir.path().join("order");
    let mut app = container(
        "app",
        "trap 'echo term >> /host/order; exit 0' TERM; echo started; \
         while :; do sleep 0.2; done",
    );
    app.volume_mounts = vec![VolumeMount {
        name: "host".into(),
        mount_path: "/host".into(),
        ..Default::default()
    }];
    app.lifecycle = Some(Lifecycle {
        pre_stop: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo prestop >> /host/order; sleep 1".into(),
                ],
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut p = pod("stop", &node, RestartPolicy::Always, vec![app]);
    p.spec.termination_grace_period_seconds = Some(10);
    p.spec.volumes = vec![Volume {
        name: "host".into(),
        host_path: Some(HostPathVolumeSource {
            path: host_dir.to_string_lossy().into_owned(),
            type_: Some("DirectoryOrCreate".into()),
        }),
        ..Default::default()
    }];
    pods.create(&p).await?;
    log_until(&client, &node, "stop", "app", "started").await?;
    pods.delete("stop").await?;
    let file = host_dir.join("order");
    let (order, _) = eventually(Duration::from_secs(30), || async {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        Ok(text.contains("term").then_some(text))
    })
    .await?;
    assert_eq!(order, "prestop\nterm\n", "the hook ran first, then SIGTERM");
    eventually(Duration::from_secs(30), || async {
        Ok(pods.get_opt("stop").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_messages_reach_the_status() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ps-msg-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let file = container("file", "printf 'all done' > /dev/termination-log; exit 0");
    let mut custom = container("custom", "echo custom path > /tmp/my-log; exit 1");
    custom.termination_message_path = "/tmp/my-log".into();
    let mut fallback = container("fallback", "echo starting; echo 'fatal: no config'; exit 3");
    fallback.termination_message_policy = Some(TerminationMessagePolicy::FallbackToLogsOnError);
    pods.create(&pod(
        "msg",
        &node,
        RestartPolicy::Never,
        vec![file, custom, fallback],
    ))
    .await?;
    let p = wait_pod(&pods, "msg", 60, |p| {
        p.status.phase == Some(PodPhase::Failed)
            && p.status.container_statuses.len() == 3
            && p.status
                .container_statuses
                .iter()
                .all(|c| c.state.terminated.is_some())
    })
    .await?;
    let message = |name: &str| {
        status_of(&p, name)
            .and_then(|s| s.state.terminated.as_ref())
            .map(|t| t.message.clone())
            .unwrap_or_default()
    };
    assert_eq!(message("file"), "all done");
    assert_eq!(message("custom"), "custom path\n");
    assert_eq!(message("fallback"), "starting\nfatal: no config\n");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_hosts_dns_and_a_shared_process_namespace() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ps-dns-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let app = container(
        "app",
        "hostname; cat /etc/hosts /etc/resolv.conf; echo PS; ps; echo END; sleep 3600",
    );
    let mut p = pod("names", &node, RestartPolicy::Always, vec![app]);
    p.spec.hostname = "db-0".into();
    p.spec.subdomain = "db".into();
    p.spec.share_process_namespace = Some(true);
    p.spec.host_aliases = vec![HostAlias {
        ip: "10.1.2.3".into(),
        hostnames: vec!["foo.local".into(), "bar.local".into()],
    }];
    p.spec.dns_policy = Some(rudder_protocol::resources::DnsPolicy::None);
    p.spec.dns_config = Some(PodDnsConfig {
        nameservers: vec!["10.96.0.10".into()],
        searches: vec!["svc.example".into()],
        options: vec![],
    });
    pods.create(&p).await?;
    let log = log_until(&client, &node, "names", "app", "END").await?;
    assert!(log.starts_with("db-0\n"), "{log}");
    assert!(log.contains("# Kubernetes-managed hosts file."), "{log}");
    assert!(
        log.contains("\tdb-0.db.default.svc.cluster.local\tdb-0\n"),
        "{log}"
    );
    assert!(log.contains("10.1.2.3\tfoo.local\tbar.local\n"), "{log}");
    assert!(
        log.contains("nameserver 10.96.0.10\nsearch svc.example\n"),
        "{log}"
    );
    // The sandbox's process is visible: one PID namespace for the pod.
    assert!(log.contains("sleep 2147483647"), "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_past_its_active_deadline_fails() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ps-dl-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let mut p = pod(
        "deadline",
        &node,
        RestartPolicy::Always,
        vec![container("app", "sleep 3600")],
    );
    p.spec.active_deadline_seconds = Some(5);
    pods.create(&p).await?;
    let p = wait_pod(&pods, "deadline", 60, |p| {
        p.status.phase == Some(PodPhase::Failed)
    })
    .await?;
    assert_eq!(p.status.reason, "DeadlineExceeded");
    assert_eq!(
        p.status.message,
        "Pod was active on the node longer than the specified deadline"
    );
    let p = wait_pod(&pods, "deadline", 30, |p| {
        status_of(p, "app").is_some_and(|s| s.state.terminated.is_some())
    })
    .await?;
    assert!(!p.status.conditions.is_empty());
    Ok(())
}
