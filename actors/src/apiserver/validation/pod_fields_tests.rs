//! Table tests of the pod spec fields checked by `container`, `security`, `scheduling`
//! and `dns`: each case is a (defaulted) pod written as Kubernetes JSON, and the causes
//! Kubernetes reports for it.

#![allow(clippy::unwrap_used)]

use rudder_protocol::resources::Pod;
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::testutil::assert_causes;
use super::CauseReason::{self, *};
use super::Validate;

/// A valid pod with `spec` merged over one busybox container named `c`; `container` is
/// merged into that container.
fn pod(spec: Value, container: Value) -> Pod {
    let mut c = json!({"name": "c", "image": "rudder/demo:1"});
    merge(&mut c, container);
    let mut s = json!({"containers": [c]});
    merge(&mut s, spec);
    let mut p: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": s}),
    )
    .unwrap();
    p.apply_defaults();
    p
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

type Case = (
    &'static str,
    Value,
    Value,
    &'static [(&'static str, CauseReason)],
);

#[test]
fn pod_spec_fields_table() {
    let table: Vec<Case> = vec![
        ("plain", json!({}), json!({}), &[]),
        (
            "a full security context",
            json!({"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                "supplementalGroups": [4000], "runAsNonRoot": true,
                "seccompProfile": {"type": "RuntimeDefault"},
                "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}}),
            json!({"securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}, "procMount": "Default"}}),
            &[],
        ),
        (
            "negative ids",
            json!({"securityContext": {"runAsUser": -1, "fsGroup": -2, "supplementalGroups": [-3]}}),
            json!({"securityContext": {"runAsGroup": -1}}),
            &[
                ("spec.securityContext.runAsUser", Invalid),
                ("spec.securityContext.fsGroup", Invalid),
                ("spec.securityContext.supplementalGroups[0]", Invalid),
                ("spec.containers[0].securityContext.runAsGroup", Invalid),
            ],
        ),
        (
            "seccomp localhost without a profile, runtime default with one",
            json!({"securityContext": {"seccompProfile": {"type": "Localhost"}}}),
            json!({"securityContext": {"seccompProfile": {"type": "RuntimeDefault", "localhostProfile": "x.json"}}}),
            &[
                ("spec.securityContext.seccompProfile.localhostProfile", Required),
                ("spec.containers[0].securityContext.seccompProfile.localhostProfile", Invalid),
            ],
        ),
        (
            "privileged without privilege escalation",
            json!({}),
            json!({"securityContext": {"privileged": true, "allowPrivilegeEscalation": false}}),
            &[("spec.containers[0].securityContext", Invalid)],
        ),
        (
            "unmasked proc without a user namespace",
            json!({}),
            json!({"securityContext": {"procMount": "Unmasked"}}),
            &[("spec.containers[0].securityContext.procMount", Invalid)],
        ),
        (
            "sysctls: bad name, duplicate, net with host network",
            json!({"hostNetwork": true, "securityContext": {"sysctls": [
                {"name": "Bad..name", "value": "1"},
                {"name": "net.core.somaxconn", "value": "1"},
                {"name": "net/core/somaxconn", "value": "2"}]}}),
            json!({}),
            &[
                ("spec.securityContext.sysctls[0].name", Invalid),
                ("spec.securityContext.sysctls[1].name", Invalid),
                ("spec.securityContext.sysctls[2].name", Duplicate),
                ("spec.securityContext.sysctls[2].name", Invalid),
            ],
        ),
        (
            "host PID with a shared process namespace",
            json!({"hostPID": true, "shareProcessNamespace": true}),
            json!({}),
            &[("spec.securityContext.shareProcessNamespace", Invalid)],
        ),
        (
            "windows options on a linux pod",
            json!({"os": {"name": "linux"}, "securityContext": {"windowsOptions": {"runAsUserName": "x"}}}),
            json!({}),
            &[("spec.securityContext.windowsOptions", Forbidden)],
        ),
        (
            "lifecycle hooks: exec, httpGet (defaulted path), sleep",
            json!({"terminationGracePeriodSeconds": 30}),
            json!({"lifecycle": {"postStart": {"exec": {"command": ["true"]}},
                                  "preStop": {"httpGet": {"port": 8080}}}}),
            &[],
        ),
        (
            "hooks without a handler, with two, sleeping past the grace period",
            json!({"terminationGracePeriodSeconds": 5}),
            json!({"lifecycle": {"postStart": {},
                                  "preStop": {"sleep": {"seconds": 10}, "exec": {"command": ["x"]}}}}),
            &[
                ("spec.containers[0].lifecycle.postStart", Required),
                ("spec.containers[0].lifecycle.preStop.sleep", Forbidden),
                ("spec.containers[0].lifecycle.preStop.sleep.seconds", Invalid),
            ],
        ),
        (
            "stop signal needs an OS",
            json!({}),
            json!({"lifecycle": {"stopSignal": "SIGUSR1"}}),
            &[("spec.containers[0].lifecycle.stopSignal", Forbidden)],
        ),
        (
            "stop signal on linux",
            json!({"os": {"name": "linux"}}),
            json!({"lifecycle": {"stopSignal": "SIGUSR1"}}),
            &[],
        ),
        (
            "grpc probe, and one with a bad port",
            json!({}),
            json!({"livenessProbe": {"grpc": {"port": 9000, "service": "x"}},
                   "readinessProbe": {"grpc": {"port": 0}}}),
            &[("spec.containers[0].readinessProbe.grpc.port", Invalid)],
        ),
        (
            "a probe with two handlers",
            json!({}),
            json!({"startupProbe": {"grpc": {"port": 9000}, "tcpSocket": {"port": 80}}}),
            &[("spec.containers[0].startupProbe.grpc", Forbidden)],
        ),
        (
            "restart policy on an app container",
            json!({}),
            json!({"restartPolicy": "Always"}),
            &[("spec.containers[0].restartPolicy", Forbidden)],
        ),
        (
            "a sidecar may have probes and hooks; a plain init container may not",
            json!({"initContainers": [
                {"name": "side", "image": "i", "restartPolicy": "Always",
                 "readinessProbe": {"exec": {"command": ["true"]}},
                 "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}},
                {"name": "init", "image": "i", "restartPolicy": "Never",
                 "readinessProbe": {"exec": {"command": ["true"]}},
                 "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}]}),
            json!({}),
            &[
                ("spec.initContainers[1].restartPolicy", NotSupported),
                ("spec.initContainers[1].readinessProbe", Forbidden),
                ("spec.initContainers[1].lifecycle", Forbidden),
            ],
        ),
        (
            "subPath: absolute, dotdot, both forms, bidirectional unprivileged",
            json!({"volumes": [{"name": "v", "emptyDir": {}}]}),
            json!({"volumeMounts": [
                {"name": "v", "mountPath": "/a", "subPath": "/abs"},
                {"name": "v", "mountPath": "/b", "subPath": "x/../..", "subPathExpr": "$(X)"},
                {"name": "v", "mountPath": "/c", "mountPropagation": "Bidirectional"},
                {"name": "v", "mountPath": "/d", "recursiveReadOnly": "Enabled"}]}),
            &[
                ("spec.containers[0].volumeMounts[0].subPath", Invalid),
                ("spec.containers[0].volumeMounts[1].subPath", Invalid),
                ("spec.containers[0].volumeMounts[1].subPathExpr", Invalid),
                ("spec.containers[0].volumeMounts[2].mountPropagation", Forbidden),
                ("spec.containers[0].volumeMounts[3].recursiveReadOnly", Forbidden),
            ],
        ),
        (
            "pod affinity and anti-affinity",
            json!({"affinity": {
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "topology.kubernetes.io/zone"}]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                     "topologyKey": "kubernetes.io/hostname", "matchLabelKeys": ["pod-template-hash"]}}]}}}),
            json!({}),
            &[],
        ),
        (
            "affinity terms: no topology key, weight 0, label keys without a selector",
            json!({"affinity": {
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "", "namespaces": ["Bad_NS"]}]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 0, "podAffinityTerm": {"topologyKey": "k", "matchLabelKeys": ["a"]}}]}}}),
            json!({}),
            &[
                ("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", Required),
                ("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces[0]", Invalid),
                ("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", Invalid),
                ("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.matchLabelKeys", Forbidden),
            ],
        ),
        (
            "topology spread",
            json!({"topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                 "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 3, "nodeAffinityPolicy": "Honor"},
                {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}]}),
            json!({}),
            &[],
        ),
        (
            "topology spread: zero skew, min domains with ScheduleAnyway, duplicate, key in selector",
            json!({"topologySpreadConstraints": [
                {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2},
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                 "labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["app"]}]}),
            json!({}),
            &[
                ("spec.topologySpreadConstraints[0].maxSkew", Invalid),
                ("spec.topologySpreadConstraints[0].minDomains", Invalid),
                ("spec.topologySpreadConstraints[1].{topologyKey, whenUnsatisfiable}", Duplicate),
                ("spec.topologySpreadConstraints[1].matchLabelKeys[0]", Invalid),
            ],
        ),
        (
            "gates and claims",
            json!({"schedulingGates": [{"name": "example.com/hold"}, {"name": "example.com/hold"}],
                   "readinessGates": [{"conditionType": "bad type"}],
                   "resourceClaims": [{"name": "gpu", "resourceClaimName": "gpu"}],
                   "resources": {"limits": {"cpu": "1"}}}),
            json!({"resources": {"claims": [{"name": "gpu"}]}}),
            &[
                ("spec.schedulingGates[1]", Duplicate),
                ("spec.readinessGates[0].conditionType", Invalid),
                ("spec.resourceClaims", Forbidden),
                ("spec.containers[0].resources.claims", Forbidden),
                ("spec.resources", Forbidden),
            ],
        ),
        (
            "host aliases and DNS config",
            json!({"hostAliases": [{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar"]}],
                   "dnsPolicy": "None",
                   "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["ns1.svc.cluster.local", "my.dns.search.suffix."],
                                 "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}),
            json!({}),
            &[],
        ),
        (
            "bad host alias, DNS policy None without servers, too many servers",
            json!({"hostAliases": [{"ip": "not-an-ip", "hostnames": ["Bad_Name"]}],
                   "dnsPolicy": "None",
                   "dnsConfig": {"searches": ["a..b"], "options": [{"value": "1"}]}}),
            json!({}),
            &[
                ("spec.hostAliases[0].ip", Invalid),
                ("spec.hostAliases[0].hostnames[0]", Invalid),
                ("spec.dnsConfig.nameservers", Required),
                ("spec.dnsConfig.searches[0]", Invalid),
                ("spec.dnsConfig.options[0]", Required),
            ],
        ),
        (
            "DNS policy None without a config",
            json!({"dnsPolicy": "None"}),
            json!({}),
            &[("spec.dnsConfig", Required)],
        ),
        (
            "ephemeral containers on create",
            json!({"ephemeralContainers": [{"name": "debug", "image": "i"}]}),
            json!({}),
            &[("spec.ephemeralContainers", Forbidden)],
        ),
        (
            "node name with scheduling gates",
            json!({"nodeName": "n1", "schedulingGates": [{"name": "hold"}]}),
            json!({}),
            &[("spec.nodeName", Forbidden)],
        ),
    ];
    for (name, spec, container, want) in table {
        let p = pod(spec, container);
        assert_causes(name, &p.validate(), want);
    }
}

#[test]
fn scheduling_gates_may_only_be_removed() {
    let old = pod(
        json!({"schedulingGates": [{"name": "a"}, {"name": "b"}]}),
        json!({}),
    );
    let mut fewer = old.clone();
    fewer.spec.scheduling_gates.remove(0);
    assert_causes("removal", &fewer.validate_update(&old), &[]);
    let mut more = old.clone();
    more.spec.scheduling_gates[0].name = "c".into();
    assert_causes(
        "a new gate",
        &more.validate_update(&old),
        &[("spec.schedulingGates", Forbidden)],
    );
    let mut other = old.clone();
    other.spec.host_aliases.push(Default::default());
    let causes = other.validate_update(&old);
    assert!(
        causes
            .iter()
            .any(|c| c.field == "spec" && c.reason == Forbidden),
        "{causes:?}"
    );
}

#[test]
fn defaults_of_the_newer_fields() {
    let p = pod(
        json!({}),
        json!({"lifecycle": {"preStop": {"httpGet": {"port": 80}}},
               "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}),
    );
    assert_eq!(p.spec.enable_service_links, Some(true));
    let http = p.spec.containers[0]
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.http_get.as_ref())
        .unwrap();
    assert_eq!(http.path, "/");
    assert_eq!(http.scheme.map(|s| s.as_str()), Some("HTTP"));
    assert_eq!(
        p.status.qos_class.map(|q| q.as_str()),
        Some("Guaranteed"),
        "requests default from limits before the class is computed"
    );
    let best_effort = pod(json!({}), json!({}));
    assert_eq!(
        best_effort.status.qos_class.map(|q| q.as_str()),
        Some("BestEffort")
    );
}
