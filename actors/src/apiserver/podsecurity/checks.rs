//! The checks of the Pod Security Standards (Kubernetes' `pod-security-admission/policy`,
//! latest version of each), pure functions of a pod's (or pod template's) metadata and
//! spec as JSON, so that pods and the templates of every workload kind are read alike.
//!
//! Each check names what it forbids (the reason) and who does it (the detail), in
//! Kubernetes' words, which users and tools match on. A level runs its checks in
//! Kubernetes' order: the baseline checks by ID, then the restricted ones by ID, a
//! restricted check replacing the baseline check it tightens (`capabilities_restricted`
//! replaces `capabilities_baseline`, `restrictedVolumes` replaces `hostPathVolumes`,
//! `seccompProfile_restricted` replaces `seccompProfile_baseline`,
//! `procMount_restricted` replaces `procMount`). Containers are visited as Kubernetes
//! visits them: init containers, containers, then ephemeral containers.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::validation;
use super::policy::Level;

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What is forbidden (`allowPrivilegeEscalation != false`).
    pub reason: String,
    /// Who does it (`container "c" must set securityContext.allowPrivilegeEscalation=false`).
    pub detail: String,
}

fn violation(reason: impl Into<String>, detail: impl Into<String>) -> Option<Violation> {
    Some(Violation {
        reason: reason.into(),
        detail: detail.into(),
    })
}

/// A check: the pod's metadata and spec to a violation, if any.
type Check = fn(&Value, &Value) -> Option<Violation>;

/// The baseline checks, by ID (`restricted`: what the restricted checks replace drops out).
const BASELINE: &[(&str, Check)] = &[
    ("appArmorProfile", app_armor_profile),
    ("capabilities_baseline", capabilities_baseline),
    ("hostNamespaces", host_namespaces),
    ("hostPathVolumes", host_path_volumes),
    ("hostPorts", host_ports),
    ("hostProbesAndHostLifecycle", host_probes_and_lifecycle),
    ("privileged", privileged),
    ("procMount", proc_mount_baseline),
    ("seLinuxOptions", se_linux_options),
    ("seccompProfile_baseline", seccomp_baseline),
    ("sysctls", sysctls),
    ("windowsHostProcess", windows_host_process),
];

/// The restricted checks, by ID.
const RESTRICTED: &[(&str, Check)] = &[
    ("allowPrivilegeEscalation", allow_privilege_escalation),
    ("capabilities_restricted", capabilities_restricted),
    ("procMount_restricted", proc_mount),
    ("restrictedVolumes", restricted_volumes),
    ("runAsNonRoot", run_as_non_root),
    ("runAsUser", run_as_user),
    ("seccompProfile_restricted", seccomp_restricted),
];

/// The baseline checks a restricted check replaces.
const REPLACED_BY_RESTRICTED: &[&str] = &[
    "capabilities_baseline",
    "hostPathVolumes",
    "procMount",
    "seccompProfile_baseline",
];

/// The violations of `level` by a pod with this metadata and spec, in Kubernetes' order.
pub fn evaluate(level: Level, meta: &Value, spec: &Value) -> Vec<Violation> {
    let baseline = BASELINE
        .iter()
        .filter(|(id, _)| level != Level::Restricted || !REPLACED_BY_RESTRICTED.contains(id));
    let checks: Vec<&(&str, Check)> = match level {
        Level::Privileged => Vec::new(),
        Level::Baseline => baseline.collect(),
        Level::Restricted => baseline.chain(RESTRICTED).collect(),
    };
    checks
        .into_iter()
        .filter_map(|(_, check)| check(meta, spec))
        .collect()
}

/// The reasons, as Kubernetes' `ForbiddenReason` joins them.
pub fn reasons(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.reason.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reasons with their details, as Kubernetes' `ForbiddenDetail` joins them:
/// `reason (detail), reason (detail)`.
pub fn details(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- helpers ----------------------------------------------------------------------

/// Init containers, containers, then ephemeral containers.
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |list| spec[list].as_array().into_iter().flatten())
}

fn name(c: &Value) -> String {
    c["name"].as_str().unwrap_or_default().to_owned()
}

/// The names of the containers for which `bad` holds.
fn containers_where(spec: &Value, bad: impl Fn(&Value) -> bool) -> Vec<String> {
    containers(spec).filter(|c| bad(c)).map(name).collect()
}

/// `"a", "b"`.
fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pluralize<'a>(one: &'a str, many: &'a str, n: usize) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `container "a"` / `containers "a", "b"`.
fn containers_named(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// `pod and containers "a", "b"`: who set something (the pod, if `pod`, then the named
/// containers).
fn setters(pod: bool, names: &[String]) -> String {
    let mut who = Vec::new();
    if pod {
        who.push("pod".to_owned());
    }
    if !names.is_empty() {
        who.push(containers_named(names));
    }
    who.join(" and ")
}

fn is_windows(spec: &Value) -> bool {
    spec.pointer("/os/name").and_then(Value::as_str) == Some("windows")
}

/// A pod in its own user namespace (`hostUsers: false`): root inside is not root on the
/// node, which relaxes the run-as-root and /proc checks (Kubernetes 1.35+).
fn in_user_namespace(spec: &Value) -> bool {
    spec["hostUsers"] == Value::Bool(false)
}

fn sc(v: &Value) -> &Value {
    &v["securityContext"]
}

// ---- baseline -----------------------------------------------------------------------

fn allowed_app_armor_type(t: &Value) -> bool {
    matches!(t.as_str(), Some("RuntimeDefault" | "Localhost"))
}

/// The deprecated per-container AppArmor annotation.
const APP_ARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

/// AppArmor: no `Unconfined` profile, in fields or the deprecated annotations.
fn app_armor_profile(meta: &Value, spec: &Value) -> Option<Violation> {
    let mut who = Vec::new();
    let mut values = BTreeSet::new();
    let pod = &sc(spec)["appArmorProfile"];
    if pod.is_object() && !allowed_app_armor_type(&pod["type"]) {
        who.push("pod".to_owned());
        values.insert(pod["type"].as_str().unwrap_or_default().to_owned());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        let p = &sc(c)["appArmorProfile"];
        if p.is_object() && !allowed_app_armor_type(&p["type"]) {
            bad.push(name(c));
            values.insert(p["type"].as_str().unwrap_or_default().to_owned());
        }
    }
    if !bad.is_empty() {
        who.push(containers_named(&bad));
    }
    let mut values: Vec<String> = values.into_iter().collect();
    let mut annotations: Vec<String> = meta["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(APP_ARMOR_ANNOTATION))
        .filter_map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let allowed = v.is_empty() || v == "runtime/default" || v.starts_with("localhost/");
            (!allowed).then(|| format!("{k}={}", validation::go_quote(v)))
        })
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        who.push(pluralize("annotation", "annotations", annotations.len()).to_owned());
        values.extend(annotations);
    }
    if who.is_empty() {
        return None;
    }
    violation(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            who.join(" and "),
            join_quote(&values)
        ),
    )
}

/// The capabilities a baseline container may add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The capabilities each container adds beyond `allowed`: the containers and the
/// capabilities (sorted).
fn added_beyond(spec: &Value, allowed: &[&str]) -> (Vec<String>, BTreeSet<String>) {
    let mut bad = Vec::new();
    let mut caps = BTreeSet::new();
    for c in containers(spec) {
        let extra: Vec<&str> = sc(c)["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or_default())
            .filter(|cap| !allowed.contains(cap))
            .collect();
        if !extra.is_empty() {
            bad.push(name(c));
            caps.extend(extra.into_iter().map(str::to_owned));
        }
    }
    (bad, caps)
}

fn must_not_add(bad: &[String], caps: &BTreeSet<String>) -> String {
    format!(
        "{} must not include {} in securityContext.capabilities.add",
        containers_named(bad),
        join_quote(caps)
    )
}

/// Capabilities: only the default set may be added.
fn capabilities_baseline(_meta: &Value, spec: &Value) -> Option<Violation> {
    let (bad, caps) = added_beyond(spec, BASELINE_CAPABILITIES);
    if bad.is_empty() {
        return None;
    }
    violation("non-default capabilities", must_not_add(&bad, &caps))
}

/// Host namespaces: no host network, PID or IPC namespace.
fn host_namespaces(_meta: &Value, spec: &Value) -> Option<Violation> {
    let found: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|f| spec[*f] == Value::Bool(true))
        .map(|f| format!("{f}=true"))
        .collect();
    if found.is_empty() {
        return None;
    }
    violation("host namespaces", found.join(", "))
}

fn volumes(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["volumes"].as_array().into_iter().flatten()
}

/// hostPath volumes: none.
fn host_path_volumes(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = volumes(spec)
        .filter(|v| !v["hostPath"].is_null())
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

/// Host ports: none.
fn host_ports(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let used: Vec<i64> = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["hostPort"].as_i64())
            .filter(|p| *p != 0)
            .collect();
        if !used.is_empty() {
            bad.push(name(c));
            // Sorted as Kubernetes sorts them: as strings.
            ports.extend(used.into_iter().map(|p| p.to_string()));
        }
    }
    if bad.is_empty() {
        return None;
    }
    violation(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_named(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

/// The `host`s a probe or lifecycle handler names.
fn handler_hosts(handler: &Value) -> impl Iterator<Item = String> + '_ {
    ["httpGet", "tcpSocket"]
        .into_iter()
        .filter_map(move |k| handler[k]["host"].as_str())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

/// Probes and lifecycle handlers: no `host` (they would reach other hosts from the node).
fn host_probes_and_lifecycle(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in containers(spec) {
        let handlers = ["livenessProbe", "readinessProbe", "startupProbe"]
            .into_iter()
            .map(|p| &c[p])
            .chain(
                ["postStart", "preStop"]
                    .into_iter()
                    .map(|h| &c["lifecycle"][h]),
            );
        let found: Vec<String> = handlers.flat_map(handler_hosts).collect();
        if !found.is_empty() {
            bad.insert(name(c));
            hosts.extend(found);
        }
    }
    if bad.is_empty() {
        return None;
    }
    let bad: Vec<String> = bad.into_iter().collect();
    violation(
        "probe or lifecycle host",
        format!(
            "{} {} {} {}",
            containers_named(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
    )
}

/// Privileged containers: none.
fn privileged(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad = containers_where(spec, |c| sc(c)["privileged"] == Value::Bool(true));
    if bad.is_empty() {
        return None;
    }
    violation(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_named(&bad)
        ),
    )
}

/// /proc mount: the default (masked) one only.
fn proc_mount(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        if let Some(t) = sc(c)["procMount"].as_str().filter(|t| *t != "Default") {
            bad.push(name(c));
            types.insert(t.to_owned());
        }
    }
    if bad.is_empty() {
        return None;
    }
    violation(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_named(&bad),
            join_quote(&types)
        ),
    )
}

/// /proc mount under baseline: relaxed in a user namespace.
fn proc_mount_baseline(meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    proc_mount(meta, spec)
}

/// The SELinux types a baseline pod may run as.
const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// SELinux: only the container types, and no user or role.
fn se_linux_options(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut types = BTreeSet::new();
    let (mut user, mut role) = (false, false);
    let mut bad_options = |o: &Value| {
        if !o.is_object() {
            return false;
        }
        let mut bad = false;
        let t = o["type"].as_str().unwrap_or_default();
        if !SELINUX_TYPES.contains(&t) {
            types.insert(t.to_owned());
            bad = true;
        }
        if !o["user"].as_str().unwrap_or_default().is_empty() {
            user = true;
            bad = true;
        }
        if !o["role"].as_str().unwrap_or_default().is_empty() {
            role = true;
            bad = true;
        }
        bad
    };
    let pod = bad_options(&sc(spec)["seLinuxOptions"]);
    let bad: Vec<String> = containers(spec)
        .filter(|c| bad_options(&sc(c)["seLinuxOptions"]))
        .map(name)
        .collect();
    if !pod && bad.is_empty() {
        return None;
    }
    let mut what = Vec::new();
    if !types.is_empty() {
        what.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if user {
        what.push("user may not be set".to_owned());
    }
    if role {
        what.push("role may not be set".to_owned());
    }
    violation(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters(pod, &bad),
            what.join("; ")
        ),
    )
}

fn allowed_seccomp_type(t: &Value) -> bool {
    matches!(t.as_str(), Some("RuntimeDefault" | "Localhost"))
}

/// Who sets a seccomp profile other than RuntimeDefault or Localhost (the pod, the
/// containers, the bad types), whether the pod sets an allowed one, and the containers
/// that set none.
struct Seccomp {
    pod_bad: bool,
    bad: Vec<String>,
    types: BTreeSet<String>,
    unset: Vec<String>,
}

fn seccomp(spec: &Value) -> Seccomp {
    let mut s = Seccomp {
        pod_bad: false,
        bad: Vec::new(),
        types: BTreeSet::new(),
        unset: Vec::new(),
    };
    let pod = &sc(spec)["seccompProfile"];
    let mut pod_set = false;
    if pod.is_object() {
        if allowed_seccomp_type(&pod["type"]) {
            pod_set = true;
        } else {
            s.pod_bad = true;
            s.types
                .insert(pod["type"].as_str().unwrap_or_default().to_owned());
        }
    }
    for c in containers(spec) {
        let p = &sc(c)["seccompProfile"];
        if p.is_object() {
            if !allowed_seccomp_type(&p["type"]) {
                s.bad.push(name(c));
                s.types
                    .insert(p["type"].as_str().unwrap_or_default().to_owned());
            }
        } else if !pod_set {
            s.unset.push(name(c));
        }
    }
    s
}

fn seccomp_set_badly(s: &Seccomp) -> Option<Violation> {
    if !s.pod_bad && s.bad.is_empty() {
        return None;
    }
    violation(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters(s.pod_bad, &s.bad),
            join_quote(&s.types)
        ),
    )
}

/// Seccomp: never `Unconfined`.
fn seccomp_baseline(_meta: &Value, spec: &Value) -> Option<Violation> {
    seccomp_set_badly(&seccomp(spec))
}

/// The sysctls a baseline pod may set (those namespaced and isolated per pod).
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// Sysctls: the safe set only.
fn sysctls(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<&str> = sc(spec)["sysctls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation("forbidden sysctls", bad.join(", "))
}

/// Windows HostProcess containers: none.
fn windows_host_process(_meta: &Value, spec: &Value) -> Option<Violation> {
    let host_process = |v: &Value| sc(v)["windowsOptions"]["hostProcess"] == Value::Bool(true);
    let pod = host_process(spec);
    let bad = containers_where(spec, host_process);
    if !pod && bad.is_empty() {
        return None;
    }
    violation(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters(pod, &bad)
        ),
    )
}

// ---- restricted ---------------------------------------------------------------------

/// Privilege escalation: every container must turn it off (not checked for Windows pods).
fn allow_privilege_escalation(_meta: &Value, spec: &Value) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    let bad = containers_where(spec, |c| {
        sc(c)["allowPrivilegeEscalation"] != Value::Bool(false)
    });
    if bad.is_empty() {
        return None;
    }
    violation(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_named(&bad)
        ),
    )
}

/// Capabilities: every container drops ALL and adds at most NET_BIND_SERVICE (not
/// checked for Windows pods).
fn capabilities_restricted(_meta: &Value, spec: &Value) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    let no_drop_all = containers_where(spec, |c| {
        !sc(c)["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v == "ALL"))
    });
    let (adding, caps) = added_beyond(spec, &["NET_BIND_SERVICE"]);
    let mut what = Vec::new();
    if !no_drop_all.is_empty() {
        what.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_named(&no_drop_all)
        ));
    }
    if !adding.is_empty() {
        what.push(must_not_add(&adding, &caps));
    }
    if what.is_empty() {
        return None;
    }
    violation("unrestricted capabilities", what.join("; "))
}

/// The volume sources a restricted pod may use.
const RESTRICTED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The other volume sources, by which a refused volume is named.
const OTHER_VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

/// Volumes: only the restricted set of sources.
fn restricted_volumes(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for v in volumes(spec) {
        if RESTRICTED_VOLUME_SOURCES.iter().any(|s| !v[*s].is_null()) {
            continue;
        }
        bad.push(name(v));
        let t = OTHER_VOLUME_SOURCES
            .iter()
            .find(|s| !v[**s].is_null())
            .copied()
            .unwrap_or("unknown");
        types.insert(t);
    }
    if bad.is_empty() {
        return None;
    }
    violation(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    )
}

/// Non-root: the pod or every container must say runAsNonRoot, and none may say false
/// (relaxed in a user namespace).
fn run_as_non_root(_meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    let pod = &sc(spec)["runAsNonRoot"];
    let pod_false = *pod == Value::Bool(false);
    let pod_true = *pod == Value::Bool(true);
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match sc(c)["runAsNonRoot"].as_bool() {
            Some(false) => explicit.push(name(c)),
            Some(true) => {}
            None if !pod_true => implicit.push(name(c)),
            None => {}
        }
    }
    const REASON: &str = "runAsNonRoot != true";
    if pod_false || !explicit.is_empty() {
        return violation(
            REASON,
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters(pod_false, &explicit)
            ),
        );
    }
    if implicit.is_empty() {
        return None;
    }
    violation(
        REASON,
        format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_named(&implicit)
        ),
    )
}

/// Non-root: no runAsUser 0 (relaxed in a user namespace).
fn run_as_user(_meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    let root = |v: &Value| sc(v)["runAsUser"].as_i64() == Some(0);
    let pod = root(spec);
    let bad = containers_where(spec, root);
    if !pod && bad.is_empty() {
        return None;
    }
    violation(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters(pod, &bad)),
    )
}

/// Seccomp: the pod or every container must set RuntimeDefault or Localhost (not checked
/// for Windows pods).
fn seccomp_restricted(_meta: &Value, spec: &Value) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    let s = seccomp(spec);
    if let Some(v) = seccomp_set_badly(&s) {
        return Some(v);
    }
    if s.unset.is_empty() {
        return None;
    }
    violation(
        "seccompProfile",
        format!(
            "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
            containers_named(&s.unset)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A container that passes every restricted check.
    fn good(name: &str) -> Value {
        json!({"name": name, "image": "demo", "securityContext": {
            "allowPrivilegeEscalation": false,
            "runAsNonRoot": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }})
    }

    /// `good("c")` with `patch` merged into its security context.
    fn container(patch: Value) -> Value {
        let mut c = good("c");
        for (k, v) in patch.as_object().cloned().unwrap_or_default() {
            c["securityContext"][k] = v;
        }
        c
    }

    fn details_of(level: Level, meta: Value, spec: Value) -> String {
        details(&evaluate(level, &meta, &spec))
    }

    /// One case: a name, the level, the pod's metadata and spec, and the detail wanted
    /// (empty: allowed).
    type Case = (&'static str, Level, Value, Value, &'static str);

    fn run(cases: Vec<Case>) {
        for (name, level, meta, spec, want) in cases {
            assert_eq!(details_of(level, meta, spec), want, "case {name}");
        }
    }

    #[test]
    fn baseline_checks() {
        let none = json!({});
        run(vec![
            ("compliant", Level::Baseline, none.clone(), json!({"containers": [{"name": "c"}]}), ""),
            ("privileged level allows all", Level::Privileged, none.clone(),
                json!({"hostNetwork": true, "containers": [container(json!({"privileged": true}))]}), ""),
            ("host namespaces", Level::Baseline, none.clone(),
                json!({"hostNetwork": true, "hostIPC": true, "containers": [{"name": "c"}]}),
                "host namespaces (hostNetwork=true, hostIPC=true)"),
            ("privileged, every kind of container", Level::Baseline, none.clone(),
                json!({"initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
                       "containers": [{"name": "c", "securityContext": {"privileged": true}}],
                       "ephemeralContainers": [{"name": "e", "securityContext": {"privileged": true}}]}),
                "privileged (containers \"i\", \"c\", \"e\" must not set securityContext.privileged=true)"),
            ("capabilities beyond the default set", Level::Baseline, none.clone(),
                json!({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN", "CHOWN", "NET_ADMIN"]}}}]}),
                "non-default capabilities (container \"c\" must not include \"NET_ADMIN\", \"SYS_ADMIN\" in securityContext.capabilities.add)"),
            ("hostPath volumes", Level::Baseline, none.clone(),
                json!({"containers": [{"name": "c"}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}, {"name": "e", "emptyDir": {}}]}),
                "hostPath volumes (volume \"h\")"),
            ("host ports", Level::Baseline, none.clone(),
                json!({"containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]},
                                      {"name": "b", "ports": [{"containerPort": 80, "hostPort": 80}]}]}),
                "hostPort (containers \"a\", \"b\" use hostPorts 80, 8080)"),
            ("probe hosts", Level::Baseline, none.clone(),
                json!({"containers": [{"name": "c", "livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}},
                                       "lifecycle": {"preStop": {"tcpSocket": {"host": "example.com", "port": 1}}}}]}),
                "probe or lifecycle host (container \"c\" uses probe or lifecycle hosts \"10.0.0.1\", \"example.com\")"),
            ("AppArmor field and annotation", Level::Baseline,
                json!({"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}}),
                json!({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}, "containers": [{"name": "c"}]}),
                "forbidden AppArmor profiles (pod and annotation must not set AppArmor profile type to \"Unconfined\", \"container.apparmor.security.beta.kubernetes.io/c=\"unconfined\"\")"),
            ("AppArmor allowed", Level::Baseline,
                json!({"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "localhost/x"}}),
                json!({"containers": [{"name": "c", "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}]}), ""),
            ("SELinux", Level::Baseline, none.clone(),
                json!({"securityContext": {"seLinuxOptions": {"type": "spc_t"}},
                       "containers": [{"name": "c", "securityContext": {"seLinuxOptions": {"user": "u", "type": "container_t"}}}]}),
                "seLinuxOptions (pod and container \"c\" set forbidden securityContext.seLinuxOptions: type \"spc_t\"; user may not be set)"),
            ("unmasked /proc", Level::Baseline, none.clone(),
                json!({"containers": [{"name": "c", "securityContext": {"procMount": "Unmasked"}}]}),
                "procMount (container \"c\" must not set securityContext.procMount to \"Unmasked\")"),
            ("unmasked /proc in a user namespace", Level::Baseline, none.clone(),
                json!({"hostUsers": false, "containers": [{"name": "c", "securityContext": {"procMount": "Unmasked"}}]}), ""),
            ("seccomp Unconfined", Level::Baseline, none.clone(),
                json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [{"name": "c"}]}),
                "seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"),
            ("sysctls", Level::Baseline, none.clone(),
                json!({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"},
                                                       {"name": "kernel.msgmax", "value": "1"}, {"name": "vm.swappiness", "value": "1"}]},
                       "containers": [{"name": "c"}]}),
                "forbidden sysctls (kernel.msgmax, vm.swappiness)"),
            ("hostProcess", Level::Baseline, none.clone(),
                json!({"securityContext": {"windowsOptions": {"hostProcess": true}},
                       "containers": [{"name": "c", "securityContext": {"windowsOptions": {"hostProcess": true}}}]}),
                "hostProcess (pod and container \"c\" must not set securityContext.windowsOptions.hostProcess=true)"),
        ]);
    }

    #[test]
    fn restricted_checks() {
        let none = json!({});
        run(vec![
            ("compliant", Level::Restricted, none.clone(),
                json!({"containers": [good("c")], "volumes": [{"name": "s", "secret": {"secretName": "s"}}]}), ""),
            ("pod-level settings cover the containers", Level::Restricted, none.clone(),
                json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Localhost", "localhostProfile": "p"}},
                       "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}), ""),
            ("a bare container", Level::Restricted, none.clone(),
                json!({"containers": [{"name": "c", "image": "demo"}]}),
                "allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), \
runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), \
seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"),
            ("privileged comes first, as a baseline check", Level::Restricted, none.clone(),
                json!({"containers": [container(json!({"privileged": true, "allowPrivilegeEscalation": true}))]}),
                "privileged (container \"c\" must not set securityContext.privileged=true), \
allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false)"),
            ("added capabilities are reported once, by the restricted check", Level::Restricted, none.clone(),
                json!({"containers": [container(json!({"capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]}}))]}),
                "unrestricted capabilities (container \"c\" must not include \"SYS_ADMIN\" in securityContext.capabilities.add)"),
            ("volume types", Level::Restricted, none.clone(),
                json!({"containers": [good("c")], "volumes": [{"name": "h", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {"server": "s", "path": "/"}},
                                                             {"name": "p", "persistentVolumeClaim": {"claimName": "x"}}]}),
                "restricted volume types (volumes \"h\", \"n\" use restricted volume types \"hostPath\", \"nfs\")"),
            ("runAsNonRoot false", Level::Restricted, none.clone(),
                json!({"securityContext": {"runAsNonRoot": false}, "containers": [container(json!({"runAsNonRoot": false}))]}),
                "runAsNonRoot != true (pod and container \"c\" must not set securityContext.runAsNonRoot=false)"),
            ("runAsUser 0", Level::Restricted, none.clone(),
                json!({"containers": [container(json!({"runAsUser": 0})), good("d")]}),
                "runAsUser=0 (container \"c\" must not set runAsUser=0)"),
            ("root in a user namespace", Level::Restricted, none.clone(),
                json!({"hostUsers": false, "containers": [container(json!({"runAsUser": 0, "runAsNonRoot": false}))]}), ""),
            ("seccomp Unconfined in a container", Level::Restricted, none.clone(),
                json!({"containers": [container(json!({"seccompProfile": {"type": "Unconfined"}}))]}),
                "seccompProfile (container \"c\" must not set securityContext.seccompProfile.type to \"Unconfined\")"),
            ("unmasked /proc stays refused in a user namespace", Level::Restricted, none.clone(),
                json!({"hostUsers": false, "containers": [container(json!({"procMount": "Unmasked"}))]}),
                "procMount (container \"c\" must not set securityContext.procMount to \"Unmasked\")"),
            ("Windows pods skip the Linux-only checks", Level::Restricted, none.clone(),
                json!({"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": true}, "containers": [{"name": "c"}]}), ""),
        ]);
    }

    #[test]
    fn reasons_join_without_details() {
        let v = evaluate(
            Level::Restricted,
            &json!({}),
            &json!({"hostPID": true, "containers": [{"name": "c"}]}),
        );
        assert_eq!(
            reasons(&v),
            "host namespaces, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            validation::go_quote("a\"b\\c\n\u{1}"),
            "\"a\\\"b\\\\c\\n\\x01\""
        );
    }
}
