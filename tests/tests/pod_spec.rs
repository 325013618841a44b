//! The full Kubernetes 1.34 PodSpec through the API of a real `rudderd`, with the
//! newest kubectl and its strict field validation (its default):
//!
//! - **Round trip**: pods carrying every field of PodSpec, Container, the security
//!   contexts, lifecycle hooks, probes (gRPC included), pod affinity and anti-affinity,
//!   topology spread constraints, DNS settings and gates are created without a warning
//!   and read back with every field as written (plus defaults and `status.qosClass`).
//! - **Priority admission**: `priorityClassName` resolves into `priority` and
//!   `preemptionPolicy`; a global default class applies to pods without a class; an
//!   unknown class or a hand-written priority is refused with Kubernetes' message.
//! - **Refusals with a reason**: a runtime class, resource claims, pod-level resources
//!   and ephemeral containers on create are refused, saying why; nothing is stored.
//!
//! The node runs the control plane only (no kubelet), so the pods are never started:
//! these tests are about the API; the kubelet's side has its own Docker tests.

// The full manifest is one `json!` literal.
#![recursion_limit = "512"]

use std::path::Path;

use anyhow::{bail, Context as _};
use rudder_tests::Cluster;
use serde_json::Value;

/// Runs the newest kubectl; the output, or the error with what kubectl printed.
fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .context("kubectl stdin")?
            .write_all(input.as_bytes())?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("kubectl {args:?} failed: {stdout}{stderr}");
    }
    if !stderr.trim().is_empty() {
        bail!("kubectl {args:?} warned: {stderr}");
    }
    Ok(stdout)
}

/// Every field of `want` is in `got` with the same value (objects recursively, lists
/// element by element); `got` may have more (defaults, server-set fields).
fn assert_subset(want: &Value, got: &Value, path: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => assert_subset(wv, gv, &format!("{path}.{k}")),
                    None => panic!("{path}.{k} was dropped (wanted {wv})"),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{path}: {got} for {want}");
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                assert_subset(wv, gv, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(want, got, "{path}"),
    }
}

/// A pod using every field Rudder honours or stores, in one manifest (JSON, which is
/// YAML too).
fn full_pod() -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "full", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "schedulingGates": [{"name": "example.com/hold"}],
            "priorityClassName": "high",
            "preemptionPolicy": "Never",
            "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 45,
            "activeDeadlineSeconds": 600,
            "dnsPolicy": "None",
            "dnsConfig": {
                "nameservers": ["10.96.0.10"],
                "searches": ["default.svc.cluster.local", "example.com."],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]
            },
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]}],
            "hostname": "web-0",
            "subdomain": "web",
            "setHostnameAsFQDN": true,
            "shareProcessNamespace": true,
            "hostUsers": true,
            "enableServiceLinks": false,
            "os": {"name": "linux"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "serviceAccountName": "default",
            "automountServiceAccountToken": false,
            "imagePullSecrets": [{"name": "registry-creds"}],
            "readinessGates": [{"conditionType": "example.com/feature-ready"}],
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
            "securityContext": {
                "runAsUser": 1000,
                "runAsGroup": 3000,
                "runAsNonRoot": true,
                "fsGroup": 2000,
                "fsGroupChangePolicy": "OnRootMismatch",
                "supplementalGroups": [4000, 5000],
                "supplementalGroupsPolicy": "Merge",
                "sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"},
                            {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                "seccompProfile": {"type": "RuntimeDefault"},
                "appArmorProfile": {"type": "RuntimeDefault"},
                "seLinuxOptions": {"level": "s0:c123,c456"},
                "seLinuxChangePolicy": "MountOption"
            },
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}
                    ]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
                    ]
                },
                "podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "topology.kubernetes.io/zone",
                         "namespaces": ["default"], "namespaceSelector": {}}
                    ],
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
                            {"key": "app", "operator": "In", "values": ["db"]}]}, "topologyKey": "kubernetes.io/hostname"}}
                    ]
                },
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname",
                         "matchLabelKeys": ["pod-template-hash"], "mismatchLabelKeys": ["tenant"]}
                    ],
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"tier": "front"}},
                         "topologyKey": "topology.kubernetes.io/zone"}}
                    ]
                }
            },
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                 "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 3,
                 "nodeAffinityPolicy": "Honor", "nodeTaintsPolicy": "Ignore", "matchLabelKeys": ["pod-template-hash"]},
                {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                 "labelSelector": {"matchLabels": {"app": "web"}}}
            ],
            "volumes": [
                {"name": "data", "emptyDir": {"sizeLimit": "64Mi"}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}}
            ],
            "initContainers": [
                {"name": "setup", "image": "rudder/demo:1", "command": ["sh", "-c", "true"],
                 "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}}},
                {"name": "proxy", "image": "rudder/demo:1", "restartPolicy": "Always",
                 "readinessProbe": {"tcpSocket": {"port": 15001}, "periodSeconds": 5},
                 "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}
            ],
            "containers": [{
                "name": "app",
                "image": "rudder/demo:1",
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c"],
                "args": ["exec httpd -f -p 8080"],
                "workingDir": "/tmp",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                          {"name": "grpc", "containerPort": 9090}],
                "env": [
                    {"name": "MODE", "value": "fast"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}
                ],
                "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "app-config", "optional": true}},
                            {"secretRef": {"name": "app-secret", "optional": true}}],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi", "ephemeral-storage": "1Gi"},
                              "limits": {"cpu": "500m", "memory": "128Mi", "ephemeral-storage": "2Gi"}},
                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"},
                                 {"resourceName": "memory", "restartPolicy": "RestartContainer"}],
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data", "subPath": "app"},
                    {"name": "data", "mountPath": "/cache", "subPathExpr": "$(POD)"},
                    {"name": "host", "mountPath": "/host/log", "readOnly": true,
                     "recursiveReadOnly": "IfPossible", "mountPropagation": "HostToContainer"}
                ],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                  "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                                  "initialDelaySeconds": 3, "periodSeconds": 7, "timeoutSeconds": 2,
                                  "failureThreshold": 4, "terminationGracePeriodSeconds": 10},
                "readinessProbe": {"grpc": {"port": 9090, "service": "ready"}, "periodSeconds": 5},
                "startupProbe": {"exec": {"command": ["cat", "/tmp/started"]}, "failureThreshold": 30, "periodSeconds": 1},
                "lifecycle": {
                    "postStart": {"exec": {"command": ["sh", "-c", "date > /tmp/started"]}},
                    "preStop": {"httpGet": {"path": "/drain", "port": 8080}},
                    "stopSignal": "SIGUSR1"
                },
                "terminationMessagePath": "/tmp/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    "runAsUser": 1001,
                    "runAsGroup": 3001,
                    "runAsNonRoot": true,
                    "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false,
                    "privileged": false,
                    "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                    "procMount": "Default",
                    "seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/audit.json"},
                    "appArmorProfile": {"type": "Unconfined"},
                    "seLinuxOptions": {"user": "system_u", "role": "system_r", "type": "container_t", "level": "s0"}
                },
                "stdin": true,
                "stdinOnce": true,
                "tty": true
            }]
        }
    })
}

/// A pod in the host's namespaces.
fn host_pod() -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "host"},
        "spec": {
            "hostNetwork": true,
            "hostPID": true,
            "hostIPC": true,
            "dnsPolicy": "ClusterFirstWithHostNet",
            "containers": [{"name": "agent", "image": "rudder/demo:1",
                            "ports": [{"containerPort": 9100, "hostPort": 9100}],
                            "securityContext": {"privileged": true}}]
        }
    })
}

fn get_json(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&kubectl(kubeconfig, args, None)?)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pod_spec_field_round_trips_through_kubectl() -> anyhow::Result<()> {
    let (cluster, _client) = Cluster::solo(true).await?;
    let kc = cluster.nodes[0].kubeconfig();
    kubectl(
        &kc,
        &[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--preemption-policy=Never",
        ],
        None,
    )?;
    for pod in [full_pod(), host_pod()] {
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // Strict field validation is kubectl's default: an unknown field is an error.
        kubectl(&kc, &["create", "-f", "-"], Some(&pod.to_string()))?;
        let got = get_json(&kc, &["get", "pod", &name, "-o", "json"])?;
        let mut want_spec = pod["spec"].clone();
        if name == "full" {
            // What admission resolves the class into.
            want_spec["priority"] = 1000.into();
        }
        // DefaultTolerationSeconds admission.
        let tolerations = want_spec["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        want_spec["tolerations"] = tolerations
            .into_iter()
            .chain(["not-ready", "unreachable"].map(|t| {
                serde_json::json!({"key": format!("node.kubernetes.io/{t}"), "operator": "Exists",
                                   "effect": "NoExecute", "tolerationSeconds": 300})
            }))
            .collect();
        assert_subset(&want_spec, &got["spec"], &format!("{name}.spec"));
        let qos = got["status"]["qosClass"].as_str().unwrap_or_default();
        let want_qos = if name == "full" {
            "Burstable"
        } else {
            "BestEffort"
        };
        assert_eq!(qos, want_qos, "{name}: status {}", got["status"]);
    }
    let table = kubectl(&kc, &["get", "pod", "full", "--no-headers"], None)?;
    let status = get_json(&kc, &["get", "pod", "full", "-o", "json"])?["status"].clone();
    assert!(table.contains("SchedulingGated"), "{table} {status}");
    // A patch through the same strict validation keeps everything (metadata only: the
    // spec of a pod is immutable but for images and a few fields).
    kubectl(&kc, &["label", "pod", "full", "extra=1"], None)?;
    let got = get_json(&kc, &["get", "pod", "full", "-o", "json"])?;
    assert_subset(
        &full_pod()["spec"]["affinity"],
        &got["spec"]["affinity"],
        "after label",
    );
    // Removing the gate is the one change a gated pod's spec allows here.
    kubectl(
        &kc,
        &[
            "patch",
            "pod",
            "full",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/schedulingGates"}]"#,
        ],
        None,
    )?;
    let got = get_json(&kc, &["get", "pod", "full", "-o", "json"])?;
    assert!(
        got["spec"].get("schedulingGates").is_none(),
        "{}",
        got["spec"]
    );
    // Ungated, the scheduler takes it (and, with no node to run it, says so).
    let kc2 = kc.clone();
    rudder_tests::eventually(std::time::Duration::from_secs(20), move || {
        let kc = kc2.clone();
        async move {
            let status = get_json(&kc, &["get", "pod", "full", "-o", "json"])?["status"].clone();
            let reason = status["conditions"][0]["reason"].clone();
            Ok((reason == "Unschedulable").then_some(()))
        }
    })
    .await?;
    // An unknown field is still refused.
    let mut bogus = host_pod();
    bogus["metadata"]["name"] = "bogus".into();
    bogus["spec"]["containers"][0]["securityContext"]["privilegd"] = true.into();
    let err = kubectl(&kc, &["create", "-f", "-"], Some(&bogus.to_string()))
        .expect_err("an unknown field is refused");
    assert!(
        err.to_string()
            .contains("unknown field \"spec.containers[0].securityContext.privilegd\""),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_admission_resolves_classes_and_refuses_what_does_not_match() -> anyhow::Result<()>
{
    let (cluster, _client) = Cluster::solo(true).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let pod = |name: &str, extra: Value| {
        let mut p = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "rudder/demo:1"}]}
        });
        if let (Some(spec), Value::Object(extra)) = (p["spec"].as_object_mut(), extra) {
            spec.extend(extra);
        }
        p.to_string()
    };
    let spec_of = |name: &str| -> anyhow::Result<Value> {
        Ok(get_json(&kc, &["get", "pod", name, "-o", "json"])?["spec"].clone())
    };

    // No class and no default: priority 0, PreemptLowerPriority.
    kubectl(
        &kc,
        &["create", "-f", "-"],
        Some(&pod("plain", serde_json::json!({}))),
    )?;
    let spec = spec_of("plain")?;
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    assert!(spec.get("priorityClassName").is_none(), "{spec}");

    // A system class.
    kubectl(
        &kc,
        &["create", "-f", "-"],
        Some(&pod(
            "critical",
            serde_json::json!({"priorityClassName": "system-cluster-critical"}),
        )),
    )?;
    assert_eq!(spec_of("critical")?["priority"], 2_000_000_000);

    // A global default class applies to pods without a class, name included.
    kubectl(
        &kc,
        &[
            "create",
            "priorityclass",
            "batch",
            "--value=-10",
            "--global-default=true",
            "--preemption-policy=Never",
        ],
        None,
    )?;
    kubectl(
        &kc,
        &["create", "-f", "-"],
        Some(&pod("defaulted", serde_json::json!({}))),
    )?;
    let spec = spec_of("defaulted")?;
    assert_eq!(spec["priority"], -10);
    assert_eq!(spec["priorityClassName"], "batch");
    assert_eq!(spec["preemptionPolicy"], "Never");

    // Refusals, in Kubernetes' words; nothing is stored.
    let cases = [
        (
            "unknown",
            serde_json::json!({"priorityClassName": "nope"}),
            "pods \"unknown\" is forbidden: no PriorityClass with name nope was found",
        ),
        (
            "handwritten",
            serde_json::json!({"priorityClassName": "batch", "priority": 5}),
            "the integer value of priority (5) must not be provided in pod spec; priority admission controller computed -10 from the given PriorityClass name",
        ),
        (
            "policy",
            serde_json::json!({"priorityClassName": "batch", "preemptionPolicy": "PreemptLowerPriority"}),
            "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name",
        ),
        (
            "runtime",
            serde_json::json!({"runtimeClassName": "gvisor"}),
            "pods \"runtime\" is forbidden: pod rejected: RuntimeClass \"gvisor\" not found",
        ),
        (
            "claims",
            serde_json::json!({"resourceClaims": [{"name": "gpu", "resourceClaimName": "gpu"}]}),
            "spec.resourceClaims: Forbidden: dynamic resource allocation is not supported by Rudder",
        ),
        (
            "podlevel",
            serde_json::json!({"resources": {"limits": {"cpu": "1"}}}),
            "spec.resources: Forbidden: pod-level resources are not supported",
        ),
        (
            "ephemeral",
            serde_json::json!({"ephemeralContainers": [{"name": "debug", "image": "rudder/demo:1"}]}),
            "spec.ephemeralContainers: Forbidden: cannot be set on create",
        ),
    ];
    for (name, extra, message) in cases {
        let err = kubectl(&kc, &["create", "-f", "-"], Some(&pod(name, extra)))
            .expect_err(name)
            .to_string();
        assert!(err.contains(message), "{name}: {err}");
        let gone = kubectl(
            &kc,
            &["get", "pod", name, "--ignore-not-found", "-o", "name"],
            None,
        )?;
        assert!(gone.trim().is_empty(), "{name} was stored: {gone}");
    }
    Ok(())
}
