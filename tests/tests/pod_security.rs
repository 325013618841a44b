//! Pod spec fidelity on real Docker: security contexts, memory limits and the OOM
//! killer, lifecycle hooks, termination messages, the pod's names and DNS files, the
//! active deadline. One `rudderd` node with both roles per test, pods bound to it by
//! `spec.nodeName`, checked through the API, the containers' logs and host files.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns. Each test
//! uses its own node name and removes what Docker holds for it, even when it fails.

use std::time::Duration;

use rudder_protocol::client::{Api, Client};

use rudder_protocol::resources::{
    Container, ExecAction, HostAlias, HostPathVolumeSource, Lifecycle, LifecycleHandler, Pod,
    PodDnsConfig, PodPhase, PodSecurityContext, Quantity, RestartPolicy, SeccompProfile,
    SeccompProfileType, SecurityContext, TerminationMessagePolicy, Volume, VolumeMount,
};

use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, wait_for, Cluster};

fn docker_available() -> bool {
    services::docker_available("the pod spec fidelity Docker tests")
}

async fn start_node(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    services::start_pod_node(name, Vec::new()).await
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
    let mut user = container(
        "user",
        "echo uid=$(id -u) gid=$(id -g) groups=$(id -G); sleep 3600",
    );
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
    let log = services::kubelet_log_until(&client, &node, "sec", "user", "uid=", 60).await?;
    assert!(log.contains("uid=1000 gid=3000"), "{log}");
    assert!(
        log.contains("4000") && log.contains("2000"),
        "supplementalGroups and fsGroup are groups of the process: {log}"
    );
    // The second line (touch's complaint) is the last: wait for it, not the first.
    let log = services::kubelet_log_until(&client, &node, "sec", "ro", "Read-only file system", 60)
        .await?;
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
    let p = wait_for(&pods, "nonroot", 60, |p| {
        status_of(p, "app")
            .and_then(|s| s.state.waiting.as_ref())
            .is_some_and(|w| w.reason == "CreateContainerConfigError")
    })
    .await?;
    let w = status_of(&p, "app")
        .and_then(|s| s.state.waiting.clone())
        .unwrap_or_default();
    assert!(
        w.message.starts_with(
            "container has runAsNonRoot and image will run as root (pod: \"nonroot_default("
        ),
        "{}",
        w.message
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seccomp_is_unconfined_unless_a_profile_is_named() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = format!("ps-seccomp-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    // The kernel's view: `Seccomp: 0` unconfined, `2` a filter (the engine's profile).
    let script = "grep '^Seccomp:' /proc/self/status; sleep 3600";
    let plain = container("plain", script);
    let mut runtime_default = container("default", script);
    runtime_default.security_context = Some(SecurityContext {
        seccomp_profile: Some(SeccompProfile {
            type_: SeccompProfileType::RuntimeDefault,
            localhost_profile: None,
        }),
        ..Default::default()
    });
    let p = pod(
        "seccomp",
        &node,
        RestartPolicy::Always,
        vec![plain, runtime_default],
    );
    pods.create(&p).await?;
    let log =
        services::kubelet_log_until(&client, &node, "seccomp", "plain", "Seccomp:", 60).await?;
    assert!(
        log.contains("Seccomp:\t0"),
        "no profile named: unconfined (seccomp_default is off): {log}"
    );
    let log =
        services::kubelet_log_until(&client, &node, "seccomp", "default", "Seccomp:", 60).await?;
    assert!(log.contains("Seccomp:\t2"), "RuntimeDefault: {log}");
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
    let p = wait_for(&pods, "oom", 120, |p| {
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
    let last = s.last_state.terminated.clone().unwrap_or_default();
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
    // Generous: on a loaded machine the hook's `docker exec` alone can take seconds, and
    // a grace period used up by the hook would end in SIGKILL, not the SIGTERM checked.
    p.spec.termination_grace_period_seconds = Some(30);
    p.spec.volumes = vec![Volume {
        name: "host".into(),
        host_path: Some(HostPathVolumeSource {
            path: host_dir.to_string_lossy().into_owned(),
            type_: Some("DirectoryOrCreate".into()),
        }),
        ..Default::default()
    }];
    pods.create(&p).await?;
    services::kubelet_log_until(&client, &node, "stop", "app", "started", 60).await?;
    pods.delete("stop").await?;
    let file = host_dir.join("order");
    let waited = eventually(Duration::from_secs(60), || async {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        Ok(text.contains("term").then_some(text))
    })
    .await;
    let order = match waited {
        Ok((order, _)) => order,
        Err(e) => {
            // What the node and the API saw of the pod's end.
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let events: Api<rudder_protocol::resources::Event> = client.api(Some("default"));
            let seen: Vec<String> = events
                .list(&Default::default())
                .await?
                .items
                .into_iter()
                .filter(|e| e.involved_object.name == "stop")
                .map(|e| format!("{} {}: {}", e.type_, e.reason, e.message))
                .collect();
            let now = pods.get_opt("stop").await?.map(|p| {
                format!(
                    "rv {} deletion {:?} grace {:?}",
                    p.metadata.resource_version,
                    p.metadata.deletion_timestamp,
                    p.metadata.deletion_grace_period_seconds
                )
            });
            let log = cluster.nodes[0].log_text();
            let lines: Vec<&str> = log.lines().collect();
            anyhow::bail!(
                "{e}; the order file holds {text:?}; the pod now: {now:?}; the pod's events: {seen:#?}; the node's log:\n{}",
                lines[lines.len().saturating_sub(80)..].join("\n")
            );
        }
    };
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
    let p = wait_for(&pods, "msg", 60, |p| {
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
    let log = services::kubelet_log_until(&client, &node, "names", "app", "END", 60).await?;
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
    let p = wait_for(&pods, "deadline", 60, |p| {
        p.status.phase == Some(PodPhase::Failed)
    })
    .await?;
    assert_eq!(p.status.reason, "DeadlineExceeded");
    assert_eq!(
        p.status.message,
        "Pod was active on the node longer than the specified deadline"
    );
    let p = wait_for(&pods, "deadline", 30, |p| {
        status_of(p, "app").is_some_and(|s| s.state.terminated.is_some())
    })
    .await?;
    assert!(!p.status.conditions.is_empty());
    Ok(())
}

/// A gRPC health server on 127.0.0.1 (HTTP/2 with prior knowledge, one call per
/// connection): service `""` and `"ok"` are SERVING, anything else NOT_SERVING.
/// Returns its port; it runs until the test's runtime ends.
async fn grpc_health_server() -> anyhow::Result<u16> {
    use rudder_actors::kubelet::grpc_probe::{frame, grpc_message};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    async fn serve(mut s: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut preface = [0u8; 24];
        s.read_exact(&mut preface).await?;
        s.write_all(&frame(0x4, 0, 0, &[])).await?;
        let mut request = Vec::new();
        loop {
            let mut head = [0u8; 9];
            s.read_exact(&mut head).await?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).await?;
            let (kind, flags) = (head[3], head[4]);
            if kind == 0x4 && flags & 1 == 0 {
                s.write_all(&frame(0x4, 1, 0, &[])).await?;
            }
            if kind == 0x0 {
                request.extend_from_slice(&payload);
                if flags & 1 != 0 {
                    break;
                }
            }
        }
        // HealthCheckRequest { service = 1 }: prefix (5 bytes), tag, length, bytes.
        let service = request
            .get(7..)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let status = if service.is_empty() || service == "ok" {
            1
        } else {
            2
        };
        // :status 200 (static index 8), then content-type as a literal.
        let mut headers = vec![0x88, 0x00, 12];
        headers.extend_from_slice(b"content-type");
        headers.push(16);
        headers.extend_from_slice(b"application/grpc");
        let mut trailers = vec![0x00, 11];
        trailers.extend_from_slice(b"grpc-status");
        trailers.extend_from_slice(&[1, b'0']);
        let mut out = frame(0x1, 0x4, 1, &headers);
        out.extend(frame(0x0, 0, 1, &grpc_message(&[0x08, status])));
        out.extend(frame(0x1, 0x5, 1, &trailers));
        s.write_all(&out).await?;
        // Let the client read before the connection goes.
        let mut rest = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut rest)).await;
        Ok(())
    }
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s));
        }
    });
    Ok(port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_probes_on_the_host_network() -> anyhow::Result<()> {
    use rudder_protocol::resources::{GrpcAction, Probe};
    if !docker_available() {
        return Ok(());
    }
    let port = grpc_health_server().await?;
    // The client speaks to it the way the kubelet will.
    rudder_actors::kubelet::grpc_probe::check("127.0.0.1", port, "ok", Duration::from_secs(1))
        .await
        .map_err(anyhow::Error::msg)?;
    let node = format!("ps-grpc-{}", std::process::id());
    let (_cleanup, _cluster, client) = start_node(&node).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let probe = |service: &str| Probe {
        grpc: Some(GrpcAction {
            port: i32::from(port),
            service: Some(service.into()),
        }),
        period_seconds: 1,
        failure_threshold: 1,
        ..Default::default()
    };
    let mut ready = container("ready", "sleep 3600");
    ready.readiness_probe = Some(probe("ok"));
    let mut sick = container("sick", "sleep 3600");
    sick.liveness_probe = Some(probe("down"));
    let mut p = pod("grpc", &node, RestartPolicy::Always, vec![ready, sick]);
    p.spec.host_network = true;
    pods.create(&p).await?;
    let p = wait_for(&pods, "grpc", 90, |p| {
        status_of(p, "ready").is_some_and(|s| s.ready)
            && status_of(p, "sick").is_some_and(|s| s.restart_count >= 1)
    })
    .await?;
    assert_eq!(p.status.pod_ip, "127.0.0.1", "the host's address");
    let events: Api<rudder_protocol::resources::Event> = client.api(Some("default"));
    let (unhealthy, _) = eventually(Duration::from_secs(20), || async {
        let unhealthy: Vec<String> = events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.reason == "Unhealthy" && e.involved_object.name == "grpc")
            .map(|e| e.message)
            .collect();
        Ok((!unhealthy.is_empty()).then_some(unhealthy))
    })
    .await?;
    assert!(
        unhealthy
            .iter()
            .any(|m| m.contains("service unhealthy (responded with \"NOT_SERVING\")")),
        "{unhealthy:?}"
    );
    Ok(())
}
