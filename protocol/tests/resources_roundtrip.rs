//! The scalars with their own wire form (quantities, times, `IntOrString`) survive both
//! encodings unchanged: JSON (serde, the REST face) and bincode (`rudder_protocol::codec`,
//! the bus), checked on generated values; and golden documents as `kubectl` sends them and
//! as the Kubernetes API returns them. Generated objects of every kind, drawn from their
//! schema, are round-tripped by the tests of `rudder_protocol::schema`.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::fmt::Debug;

use proptest::option::of as opt;
use proptest::prelude::*;
use proptest::sample::select;
use rudder_protocol::codec;
use rudder_protocol::resources::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------

/// Fails if any JSON value inside `v` is `null`.
fn assert_no_null(v: &Value, path: &str) -> Result<(), TestCaseError> {
    match v {
        Value::Null => Err(TestCaseError::fail(format!("null at {path}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| assert_no_null(x, &format!("{path}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, x)| assert_no_null(x, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

/// `value == decode(encode(value))` through JSON and through the bus codec.
fn round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + bincode::Encode + bincode::Decode<()> + PartialEq + Debug,
{
    let json =
        serde_json::to_string(value).map_err(|e| TestCaseError::fail(format!("to JSON: {e}")))?;
    let tree: Value = serde_json::from_str(&json).unwrap();
    assert_no_null(&tree, "$")?;
    let back: T = serde_json::from_str(&json)
        .map_err(|e| TestCaseError::fail(format!("from JSON: {e}\n{json}")))?;
    prop_assert_eq!(&back, value, "JSON round trip of {}", json);

    let bytes = codec::encode(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = codec::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value, "bincode round trip");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Strategies (small on purpose: a few seconds for the whole file)
// ---------------------------------------------------------------------------------------

fn st() -> impl Strategy<Value = String> + Clone {
    "[a-z0-9./-]{0,5}"
}

fn pick<T: Clone + Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> + Clone {
    select(all)
}

fn time() -> impl Strategy<Value = Time> {
    (0i64..=253_402_300_799).prop_map(Time)
}

fn micro_time() -> impl Strategy<Value = MicroTime> {
    (0i64..=253_402_300_799_999_999).prop_map(MicroTime)
}

fn int_or_string() -> impl Strategy<Value = IntOrString> {
    prop_oneof![
        any::<i32>().prop_map(IntOrString::Int),
        prop_oneof![st(), "[0-9]{1,3}%", "[0-9]{1,3}"].prop_map(IntOrString::String),
    ]
}

const SUFFIXES: &[&str] = &[
    "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3",
    "E-2", "e0", "e+6", "e-12", "E18",
];

/// A quantity string from the grammar: sign, integer digits, optional fraction, suffix.
fn quantity_parts() -> impl Strategy<Value = (String, String, Option<String>, &'static str)> {
    (
        select(vec!["", "-", "+"]).prop_map(str::to_owned),
        "[0-9]{1,5}",
        opt("[0-9]{0,4}"),
        select(SUFFIXES),
    )
}

fn quantity_text(parts: &(String, String, Option<String>, &'static str)) -> String {
    let (sign, int, frac, suffix) = parts;
    let frac = frac.as_ref().map(|f| format!(".{f}")).unwrap_or_default();
    format!("{sign}{int}{frac}{suffix}")
}

fn quantity() -> BoxedStrategy<Quantity> {
    prop_oneof![
        quantity_parts().prop_map(|p| Quantity::parse(&quantity_text(&p)).unwrap()),
        (
            any::<i64>(),
            pick(&[Format::DecimalSI, Format::BinarySI, Format::DecimalExponent])
        )
            .prop_map(|(v, f)| Quantity::new(v, f)),
        (-1_000_000i64..1_000_000).prop_map(|v| Quantity::from_milli(v, Format::DecimalSI)),
        // Binary values with no binary suffix and trailing zeros: the corner where Go's
        // fresh `String()` is not what it reads back.
        any::<i32>().prop_map(|v| Quantity::new(i64::from(v) * 1000, Format::BinarySI)),
        (any::<i32>(), -15i32..4).prop_map(|(v, s)| Quantity::from_scaled(i64::from(v), s)),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Round trips of the scalars (objects: `rudder_protocol::schema`'s tests, from the schema)
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scalars_round_trip(
        q in quantity(),
        t in time(),
        m in micro_time(),
        i in int_or_string(),
    ) {
        round_trip(&q)?;
        prop_assert_eq!(Quantity::parse(q.as_str()).unwrap(), q);
        round_trip(&t)?;
        round_trip(&m)?;
        round_trip(&i)?;
    }

    /// The serialized form of a quantity parses back to itself and keeps the value.
    #[test]
    fn quantity_serialized_form_is_stable(parts in quantity_parts()) {
        let input = quantity_text(&parts);
        let q = Quantity::parse(&input).unwrap();
        let again = Quantity::parse(q.as_str()).unwrap();
        prop_assert_eq!(&again, &q, "{} -> {}", input, q);
        prop_assert_eq!(again.cmp_value(&q), Ordering::Equal);
        prop_assert_eq!(again.milli_value(), q.milli_value());
    }

    /// Milli and unit values agree with exact integer arithmetic on the input's parts.
    #[test]
    fn quantity_values_match_exact_arithmetic(parts in quantity_parts()) {
        let input = quantity_text(&parts);
        let q = Quantity::parse(&input).unwrap();
        prop_assert_eq!(q.milli_value(), reference_scaled(&parts, 3), "milli of {}", input);
        prop_assert_eq!(q.value(), reference_scaled(&parts, 0), "value of {}", input);
    }
}

/// `ceil(x × 10^digits)` rounded away from zero and saturated to `i64`, computed with
/// `i128` from the parts of a quantity string, independently of the crate.
fn reference_scaled(parts: &(String, String, Option<String>, &'static str), digits: u32) -> i64 {
    let (sign, int, frac, suffix) = parts;
    let frac = frac.clone().unwrap_or_default();
    let mantissa: i128 = format!("{int}{frac}").parse().unwrap();
    let frac_len = frac.len() as i32;
    let (numerator, denominator_pow10): (i128, i32) = match *suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = 10
                * (1 + ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .iter()
                    .position(|s| s == suffix)
                    .unwrap() as u32);
            let mut exact = mantissa << power;
            // Binary quantities are capped at 2^63-1 (before any scaling).
            let cap = i128::from(i64::MAX) * 10i128.pow(frac_len as u32);
            if exact > cap {
                exact = cap;
            }
            (exact * 10i128.pow(digits), frac_len)
        }
        other => {
            let exponent: i32 = match other {
                "" => 0,
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                e => e[1..].parse().unwrap(),
            };
            let shift = exponent + digits as i32 - frac_len;
            if shift >= 0 {
                (mantissa * 10i128.pow(shift as u32), 0)
            } else {
                (mantissa, -shift)
            }
        }
    };
    let denominator = 10i128.pow(denominator_pow10 as u32);
    let mut magnitude = numerator / denominator;
    if numerator % denominator != 0 {
        magnitude += 1;
    }
    let signed = if sign == "-" { -magnitude } else { magnitude };
    i64::try_from(signed).unwrap_or(if signed < 0 { i64::MIN } else { i64::MAX })
}

// ---------------------------------------------------------------------------------------
// Golden documents
// ---------------------------------------------------------------------------------------

/// Parses `doc` as `T`, writes it back and expects exactly the same JSON tree.
fn same_json<T: Serialize + DeserializeOwned + Debug>(doc: &Value) -> T {
    let object: T = serde_json::from_value(doc.clone()).unwrap();
    let again = serde_json::to_value(&object).unwrap();
    assert_eq!(
        &again,
        doc,
        "re-serialized differs:\n{}",
        serde_json::to_string_pretty(&again).unwrap()
    );
    object
}

#[test]
fn golden_pod_as_kubectl_sends_it() {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-0",
            "namespace": "default",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}
        },
        "spec": {
            "volumes": [
                {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                {"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}},
                {"name": "logs", "hostPath": {"path": "/var/log/web", "type": "DirectoryOrCreate"}}
            ],
            "initContainers": [
                {"name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}
            ],
            "containers": [{
                "name": "web",
                "image": "nginx:1.25",
                "args": ["--port", "8080"],
                "workingDir": "/srv",
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"containerPort": 9090, "hostPort": 19090, "hostIP": "127.0.0.1", "protocol": "UDP"}
                ],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}
                ],
                "resources": {
                    "limits": {"cpu": "1", "memory": "256Mi"},
                    "requests": {"cpu": "250m", "memory": "128Mi"}
                },
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/web", "readOnly": true},
                    {"name": "scratch", "mountPath": "/tmp"}
                ],
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                    "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3
                },
                "readinessProbe": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 1, "successThreshold": 1},
                "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "terminationGracePeriodSeconds": 5},
                "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "stdin": true,
                "tty": true
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "activeDeadlineSeconds": 3600,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "serviceAccountName": "web",
            "automountServiceAccountToken": false,
            "hostname": "web-0",
            "subdomain": "web",
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}],
                     "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}
                ]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}
                ]
            }},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}
            ],
            "priorityClassName": "high",
            "priority": 1000
        }
    });
    let pod: Pod = same_json(&doc);
    let web = &pod.spec.containers[0];
    assert_eq!(web.resources.requests["cpu"].milli_value(), 250);
    assert_eq!(web.resources.limits["memory"].value(), 256 * 1024 * 1024);
    let probe = web
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(probe.port, IntOrString::String("http".into()));
    assert_eq!(
        web.readiness_probe
            .as_ref()
            .unwrap()
            .tcp_socket
            .as_ref()
            .unwrap()
            .port,
        IntOrString::Int(8080)
    );
    assert_eq!(web.ports[1].protocol, Some(Protocol::Udp));
}

#[test]
fn golden_pod_as_the_api_returns_it() {
    let doc = serde_json::json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "web-7d4b9c-x2x5q",
            "generateName": "web-7d4b9c-",
            "namespace": "default",
            "uid": "5f0c3b8e-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
            "resourceVersion": "12345",
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                "uid": "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9",
                "controller": true, "blockOwnerDeletion": true
            }],
            "finalizers": ["example.com/cleanup"]
        },
        "spec": {
            "containers": [{"name": "web", "image": "nginx:1.25", "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": "worker-1",
            "schedulerName": "default-scheduler",
            "priority": 0
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T12:00:05Z"},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": "2024-05-01T12:00:01Z",
                 "lastTransitionTime": "2024-05-01T12:00:01Z", "reason": "Scheduled", "message": "ok"}
            ],
            "hostIP": "192.0.2.10",
            "hostIPs": [{"ip": "192.0.2.10"}],
            "podIP": "10.244.1.7",
            "podIPs": [{"ip": "10.244.1.7"}],
            "startTime": "2024-05-01T12:00:01Z",
            "containerStatuses": [{
                "name": "web",
                "state": {"running": {"startedAt": "2024-05-01T12:00:03Z"}},
                "lastState": {"terminated": {"exitCode": 137, "signal": 9, "reason": "OOMKilled",
                              "startedAt": "2024-05-01T11:00:00Z", "finishedAt": "2024-05-01T11:59:59Z",
                              "containerID": "docker://0123abcd"}},
                "ready": true,
                "restartCount": 1,
                "image": "nginx:1.25",
                "imageID": "docker-pullable://nginx@sha256:0123",
                "containerID": "docker://4567ef",
                "started": true
            }],
            "qosClass": "BestEffort"
        }
    });
    // `resources: {}` is the one thing Rudder does not write back: an empty struct is
    // omitted like every other empty value.
    let mut expected = doc.clone();
    expected["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("resources");
    let pod: Pod = serde_json::from_value(doc).unwrap();
    assert_eq!(serde_json::to_value(&pod).unwrap(), expected);
    assert_eq!(pod.status.phase, Some(PodPhase::Running));
    assert_eq!(pod.metadata.creation_timestamp, Some(Time(1_714_564_800)));
    assert_eq!(
        pod.metadata.controller_ref().map(|r| r.name.as_str()),
        Some("web-7d4b9c")
    );
    assert_eq!(pod.spec.priority, Some(0));
}

#[test]
fn golden_deployment() {
    let doc = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": 3, "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                                         "ports": [{"containerPort": 80}]}]}
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "minReadySeconds": 5,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "unavailableReplicas": 1,
            "conditions": [{
                "type": "Progressing", "status": "True",
                "lastUpdateTime": "2024-05-01T12:00:00Z", "lastTransitionTime": "2024-05-01T11:00:00Z",
                "reason": "NewReplicaSetAvailable", "message": "ReplicaSet \"web-7d4b9c\" has successfully progressed."
            }],
            "collisionCount": 0
        }
    });
    let d: Deployment = same_json(&doc);
    let rolling = d.spec.strategy.rolling_update.as_ref().unwrap();
    assert_eq!(
        rolling.max_surge.as_ref().unwrap().scaled_value(3, true),
        Ok(1)
    );
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
    assert!(d.spec.selector.matches(&d.spec.template.metadata.labels));
}

#[test]
fn golden_service_and_endpoints() {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "appProtocol": "http", "port": 80,
                 "targetPort": "http", "nodePort": 30080},
                {"name": "metrics", "port": 9090, "targetPort": 9090}
            ],
            "selector": {"app": "web"},
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "type": "NodePort",
            "sessionAffinity": "ClientIP",
            "externalTrafficPolicy": "Local",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"
        },
        "status": {"loadBalancer": {}}
    });
    let svc: Service = same_json(&doc);
    assert_eq!(svc.spec.type_, Some(ServiceType::NodePort));

    // As in Kubernetes, the empty load balancer status is always written: a service read
    // without one is written back with it.
    let mut without_status = doc.clone();
    if let Some(o) = without_status.as_object_mut() {
        o.remove("status");
    }
    let read: Service = serde_json::from_value(without_status).unwrap();
    assert_eq!(read, svc);
    assert_eq!(
        serde_json::to_value(&read).unwrap()["status"],
        serde_json::json!({"loadBalancer": {}})
    );

    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [{
            "addresses": [{"ip": "10.244.1.7", "hostname": "web-0", "nodeName": "worker-1",
                           "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0",
                                         "uid": "5f0c3b8e", "resourceVersion": "12345"}}],
            "notReadyAddresses": [{"ip": "10.244.2.9"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]
        }]
    });
    let _: Endpoints = same_json(&doc);
}

#[test]
fn golden_node_event_lease_status() {
    let node = serde_json::json!({
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": "worker-1", "labels": {"kubernetes.io/hostname": "worker-1"}},
        "spec": {
            "podCIDR": "10.244.1.0/24",
            "podCIDRs": ["10.244.1.0/24"],
            "providerID": "rudder://worker-1",
            "unschedulable": true,
            "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                        "timeAdded": "2024-05-01T12:00:00Z"}]
        },
        "status": {
            "capacity": {"cpu": "2", "memory": "24554732Ki", "pods": "110"},
            "allocatable": {"cpu": "1900m", "memory": "24Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True",
                            "lastHeartbeatTime": "2024-05-01T12:00:40Z",
                            "lastTransitionTime": "2024-05-01T12:00:00Z",
                            "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.10"},
                          {"type": "Hostname", "address": "worker-1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "docker://24.0.7",
                "kubeletVersion": "v1.30.0-rudder", "kubeProxyVersion": "v1.30.0-rudder",
                "operatingSystem": "linux", "architecture": "amd64"
            }
        }
    });
    let n: Node = same_json(&node);
    assert_eq!(n.status.allocatable["cpu"].milli_value(), 1900);
    assert_eq!(n.status.daemon_endpoints.kubelet_endpoint.port, 10250);

    let event = serde_json::json!({
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": "web-0.17c", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0",
                           "apiVersion": "v1", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled",
        "message": "Container image \"nginx:1.25\" already present on machine",
        "source": {"component": "kubelet", "host": "worker-1"},
        "firstTimestamp": "2024-05-01T12:00:02Z",
        "lastTimestamp": "2024-05-01T12:00:02Z",
        "count": 1,
        "type": "Normal",
        "eventTime": "2024-05-01T12:00:02.123456Z",
        "action": "Pulling",
        "reportingComponent": "",
        "reportingInstance": ""
    });
    let e: Event = same_json(&event);
    assert_eq!(e.event_time, Some(MicroTime(1_714_564_802_123_456)));

    let lease = serde_json::json!({
        "kind": "Lease",
        "apiVersion": "coordination.k8s.io/v1",
        "metadata": {"name": "worker-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "worker-1", "leaseDurationSeconds": 40,
                 "acquireTime": "2024-05-01T12:00:00.000000Z",
                 "renewTime": "2024-05-01T12:00:30.500000Z", "leaseTransitions": 0}
    });
    let l: Lease = same_json(&lease);
    assert_eq!(l.spec.renew_time, Some(MicroTime(1_714_564_830_500_000)));

    let status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Pod \"web\" is invalid: spec.containers: Required value",
        "reason": "Invalid",
        "details": {"name": "web", "kind": "Pod",
                    "causes": [{"reason": "FieldValueRequired", "message": "Required value",
                                "field": "spec.containers"}]},
        "code": 422
    });
    let _: Status = same_json(&status);
}

#[test]
fn unknown_fields_and_other_spellings_are_accepted() {
    // Fields Rudder does not model are ignored, quantities may be bare numbers and
    // timestamps may carry an offset and a fraction; what is written back is canonical.
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "odd",
            "creationTimestamp": "2024-05-01T14:00:00.25+02:00",
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
            "selfLink": "/api/v1/namespaces/default/pods/odd"
        },
        "spec": {
            "containers": [{
                "name": "c",
                "resources": {"requests": {"cpu": 0.5, "memory": 1000}},
                "securityContext": {"privileged": false, "someFutureField": 1}
            }],
            "enableServiceLinks": true,
            "someFutureSpecField": {"a": [1, 2]}
        },
        "status": {"someFutureStatusField": "n1"}
    });
    let pod: Pod = serde_json::from_value(doc).unwrap();
    let written = serde_json::to_value(&pod).unwrap();
    assert_eq!(
        written,
        serde_json::json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "odd", "creationTimestamp": "2024-05-01T12:00:00Z"},
            "spec": {"containers": [{"name": "c",
                                     "resources": {"requests": {"cpu": "500m", "memory": "1k"}},
                                     "securityContext": {"privileged": false}}],
                     "enableServiceLinks": true}
        })
    );
}

#[test]
fn kubectl_dry_run_output_is_accepted() {
    // `kubectl create deployment web --image=nginx --dry-run=client -o json`, which users
    // save and apply: `creationTimestamp: null`, empty `resources`, `strategy`, `status`.
    let doc = serde_json::json!({
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}
            },
            "strategy": {}
        },
        "status": {}
    });
    let d: Deployment = serde_json::from_value(doc).unwrap();
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        serde_json::json!({
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
                }
            },
            // Always written, as Kubernetes writes it.
            "status": {}
        })
    );
}

#[test]
fn null_collections_read_as_empty() {
    // Go reads `null` as an empty map or slice; YAML like `labels:` produces it.
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "labels": null, "annotations": null, "finalizers": null,
                     "ownerReferences": null},
        "spec": {"containers": null, "nodeSelector": null, "volumes": null, "tolerations": null}
    }))
    .unwrap();
    assert_eq!(pod, Pod::new("p"));
    let list: List<Pod> =
        serde_json::from_str(r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":null}"#)
            .unwrap();
    assert_eq!(list, List::default());
    let svc: Service = serde_json::from_str(r#"{"spec":{"selector":null,"ports":null}}"#).unwrap();
    assert_eq!(svc, Service::default());
}

#[test]
fn bincode_is_deterministic_and_compact() {
    let container = Container {
        name: "web".into(),
        image: "rudder/demo:1".into(),
        ports: vec![ContainerPort {
            container_port: 8080,
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut pod = Pod::new("web");
    pod.metadata.labels.insert("b".into(), "2".into());
    pod.metadata.labels.insert("a".into(), "1".into());
    pod.spec.containers.push(container.clone());
    let first = codec::encode(&pod).unwrap();
    let mut again = Pod::new("web");
    again.metadata.labels.insert("a".into(), "1".into());
    again.metadata.labels.insert("b".into(), "2".into());
    again.spec.containers.push(container);
    assert_eq!(codec::encode(&again).unwrap(), first);
    // Positional encoding: no field names on the wire, so a typical pod is smaller
    // than its JSON (every absent field still costs a byte).
    assert!(first.len() < serde_json::to_vec(&pod).unwrap().len());
    // Truncated bytes are an error, not a panic.
    assert!(codec::decode::<Pod>(&first[..first.len() - 1]).is_err());
}
