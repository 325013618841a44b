//! A pod's security settings and resource limits as the container runtime takes them,
//! and the pods this node refuses. Pure, but for reading a seccomp profile file.
//!
//! - [`admit`] is the kubelet's admission: a pod the node cannot run as asked is
//!   rejected before anything is created (phase `Failed` with Kubernetes' reason and
//!   message): `os.name: windows` (`PodOSNotSupported`), `hostUsers: false` (Docker
//!   cannot give a pod its own user namespace), `supplementalGroupsPolicy: Strict`
//!   (Docker always merges the image's groups), a sysctl that is not namespaced, not
//!   allowed (Kubernetes' safe set plus the node's `allowed_unsafe_sysctls`) or clashes
//!   with the host's network or IPC namespace (`SysctlForbidden`), and an AppArmor
//!   profile on a host without AppArmor (reason `AppArmor`).
//! - [`verify_run_as_non_root`] is Kubernetes' check of `runAsNonRoot` against the
//!   effective user, the image's when the pod sets none (`CreateContainerConfigError`).
//! - [`apply_security`] maps the effective security context (container over pod) to the
//!   runtime: user and group, supplementary groups (`supplementalGroups` and
//!   `fsGroup`), read-only root filesystem, privileged, capabilities,
//!   `no-new-privileges` for `allowPrivilegeEscalation: false`, seccomp
//!   (`RuntimeDefault`: the engine's profile; `Unconfined`, also when unset unless the
//!   kubelet's `seccomp_default` is on, as in Kubernetes;
//!   `Localhost`: a JSON profile under the kubelet's `<root_dir>/seccomp/`), AppArmor,
//!   SELinux labels, `procMount: Unmasked` (Docker's `systempaths=unconfined`), the
//!   PID and IPC namespaces (`hostPID`, `hostIPC`, `shareProcessNamespace`) and the
//!   stop signal (`lifecycle.stopSignal`).
//! - [`apply_resources`] maps `resources` to cgroup limits: memory (and memory plus
//!   swap equal to it: no swap), a CFS quota of the CPU limit per 100 ms period, CPU
//!   shares from the request, and the node's PID limit (`pod_pids_limit`, applied to
//!   each container: Docker has no pod-level cgroup).
//! - [`set_volume_ownership`] gives a pod's emptyDirs and volume files to its `fsGroup`;
//!   under `fsGroupChangePolicy: OnRootMismatch` an emptyDir whose root already
//!   matches is left as it is ([`volume_ownership_needed`]).

use std::path::Path;

use rudder_protocol::resources::{
    AppArmorProfileType, Container, FsGroupChangePolicy, OsName, Pod, ProcMountType,
    SeccompProfileType, SecurityContext, SupplementalGroupsPolicy,
};

use crate::kubelet::runtime::ContainerSpec;

/// The CFS period Kubernetes uses, in microseconds (100 ms).
pub const CPU_PERIOD_US: i64 = 100_000;
/// The smallest CFS quota the kernel takes, in microseconds.
pub const MIN_CPU_QUOTA_US: i64 = 1_000;
/// The fewest CPU shares (what a container without a CPU request gets).
pub const MIN_CPU_SHARES: i64 = 2;

/// Sysctls every pod may set (Kubernetes' safe set).
pub const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// Why the node refuses a pod (its status reason and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The pod's `status.reason`.
    pub reason: String,
    /// The pod's `status.message`.
    pub message: String,
}

impl Rejection {
    fn new(reason: &str, message: impl Into<String>) -> Rejection {
        Rejection {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// What this node can enforce, for [`admit`] and [`apply_security`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFeatures {
    /// The host's kernel enforces AppArmor.
    pub apparmor: bool,
    /// Sysctls (or `prefix*` patterns) allowed beyond [`SAFE_SYSCTLS`] (the kubelet's
    /// `--allowed-unsafe-sysctls`).
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Containers that name no seccomp profile get the runtime's default one
    /// (`RuntimeDefault`); off: they run `Unconfined` (the kubelet's `seccompDefault`).
    pub seccomp_default: bool,
}

/// Whether the host's kernel enforces AppArmor.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// The namespace a sysctl belongs to (`"net"` or `"ipc"`), or `None` when it is not
/// namespaced (a node-wide setting no pod may change).
pub fn sysctl_namespace(name: &str) -> Option<&'static str> {
    if name.starts_with("net.") {
        Some("net")
    } else if name.starts_with("kernel.shm")
        || name.starts_with("kernel.msg")
        || name == "kernel.sem"
        || name.starts_with("fs.mqueue.")
    {
        Some("ipc")
    } else {
        None
    }
}

fn sysctl_allowed(name: &str, host: &HostFeatures) -> bool {
    SAFE_SYSCTLS.contains(&name)
        || host
            .allowed_unsafe_sysctls
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
}

/// Every container of the pod, init containers first.
fn all_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.init_containers.iter().chain(&pod.spec.containers)
}

/// The kubelet's admission of `pod` on this node (see the module docs).
pub fn admit(pod: &Pod, host: &HostFeatures) -> Result<(), Rejection> {
    let spec = &pod.spec;
    if spec.os.as_ref().is_some_and(|os| os.name != OsName::Linux) {
        return Err(Rejection::new(
            "PodOSNotSupported",
            "Failed to admit pod as the OS field doesn't match node OS",
        ));
    }
    if spec.host_users == Some(false) {
        return Err(Rejection::new(
            "UserNamespacesNotSupported",
            "pod requested its own user namespace (hostUsers: false), but the node's \
             container runtime (Docker) cannot give one to a pod: the engine has at most \
             one user-namespace mapping for all its containers (userns-remap)",
        ));
    }
    let psc = spec.security_context.as_ref();
    if psc.and_then(|p| p.supplemental_groups_policy) == Some(SupplementalGroupsPolicy::Strict) {
        return Err(Rejection::new(
            "SupplementalGroupsPolicyNotSupported",
            "SupplementalGroupsPolicy=Strict is not supported in this node",
        ));
    }
    for s in psc.map(|p| p.sysctls.as_slice()).unwrap_or(&[]) {
        let forbidden = |why: &str| {
            Err(Rejection::new(
                "SysctlForbidden",
                format!("forbidden sysctl: \"{}\" {why}", s.name),
            ))
        };
        let Some(ns) = sysctl_namespace(&s.name) else {
            return forbidden("is not a namespaced sysctl: it would change the whole node");
        };
        if !sysctl_allowed(&s.name, host) {
            return forbidden("not allowlisted");
        }
        if ns == "net" && spec.host_network {
            return forbidden("not allowed with host net enabled");
        }
        if ns == "ipc" && spec.host_ipc {
            return forbidden("not allowed with host ipc enabled");
        }
    }
    if !host.apparmor {
        let annotated = pod.metadata.annotations.iter().any(|(k, v)| {
            k.starts_with("container.apparmor.security.beta.kubernetes.io/") && v != "unconfined"
        });
        let confined = all_containers(pod).any(|c| {
            SecurityContext::app_armor_in(c.security_context.as_ref(), psc)
                .is_some_and(|p| p.type_ != AppArmorProfileType::Unconfined)
        });
        if annotated || confined {
            return Err(Rejection::new(
                "AppArmor",
                "Cannot enforce AppArmor: AppArmor is not enabled on the host",
            ));
        }
    }
    Ok(())
}

/// Kubernetes' `format.Pod`: `name_namespace(uid)`.
pub fn pod_desc(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name, pod.metadata.namespace, pod.metadata.uid
    )
}

/// Checks `runAsNonRoot` of container `c` against the user it will run as:
/// `image_user` (the image's `USER`, `user[:group]`) when the pod sets no `runAsUser`.
pub fn verify_run_as_non_root(pod: &Pod, c: &Container, image_user: &str) -> Result<(), String> {
    let csc = c.security_context.as_ref();
    let psc = pod.spec.security_context.as_ref();
    if !SecurityContext::run_as_non_root_in(csc, psc) {
        return Ok(());
    }
    if let Some(uid) = SecurityContext::run_as_user_in(csc, psc) {
        if uid == 0 {
            return Err(format!(
                "container's runAsUser breaks non-root policy (pod: \"{}\", container: {})",
                pod_desc(pod),
                c.name
            ));
        }
        return Ok(());
    }
    let user = image_user.split(':').next().unwrap_or("");
    match user.parse::<i64>() {
        Ok(0) => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: \"{}\", container: {})",
            pod_desc(pod),
            c.name
        )),
        Ok(_) => Ok(()),
        // No USER at all: the image runs as root.
        Err(_) if user.is_empty() => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: \"{}\", container: {})",
            pod_desc(pod),
            c.name
        )),
        Err(_) => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify \
             user is non-root (pod: \"{}\", container: {})",
            pod_desc(pod),
            c.name
        )),
    }
}

/// Sets `spec`'s security fields from the effective security context of `c` in `pod`
/// (see the module docs). `image_user` is the image's `USER` (for a `runAsGroup`
/// without `runAsUser`); `seccomp_dir` holds `Localhost` profiles. The error is the
/// reason the container cannot be created as asked.
pub fn apply_security(
    pod: &Pod,
    c: &Container,
    spec: &mut ContainerSpec,
    image_user: &str,
    host: &HostFeatures,
    seccomp_dir: &Path,
) -> Result<(), String> {
    let csc = c.security_context.as_ref();
    let psc = pod.spec.security_context.as_ref();
    let uid = SecurityContext::run_as_user_in(csc, psc);
    let gid = SecurityContext::run_as_group_in(csc, psc);
    spec.user = match (uid, gid) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        (None, Some(g)) => {
            let image_uid = image_user.split(':').next().filter(|u| !u.is_empty());
            Some(format!("{}:{g}", image_uid.unwrap_or("0")))
        }
        (None, None) => None,
    };
    let mut groups: Vec<String> = Vec::new();
    if let Some(p) = psc {
        for g in p.supplemental_groups.iter().chain(p.fs_group.iter()) {
            let g = g.to_string();
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    spec.group_add = groups;
    let privileged = csc.and_then(|s| s.privileged).unwrap_or(false);
    spec.privileged = privileged;
    spec.read_only_rootfs = csc
        .and_then(|s| s.read_only_root_filesystem)
        .unwrap_or(false);
    if let Some(caps) = csc.and_then(|s| s.capabilities.as_ref()) {
        let norm = |c: &String| c.trim_start_matches("CAP_").to_owned();
        spec.cap_add = caps.add.iter().map(norm).collect();
        spec.cap_drop = caps.drop.iter().map(norm).collect();
    }
    let mut opts = Vec::new();
    if csc.and_then(|s| s.allow_privilege_escalation) == Some(false) {
        opts.push("no-new-privileges".to_owned());
    }
    match SecurityContext::seccomp_in(csc, psc) {
        // A privileged container runs unconfined whatever it asks, as in Kubernetes.
        _ if privileged => opts.push("seccomp=unconfined".into()),
        Some(p) if p.type_ == SeccompProfileType::Unconfined => {
            opts.push("seccomp=unconfined".into())
        }
        Some(p) if p.type_ == SeccompProfileType::Localhost => {
            let rel = p.localhost_profile.as_deref().unwrap_or("");
            if rel.is_empty() || Path::new(rel).is_absolute() || rel.split('/').any(|s| s == "..") {
                return Err(format!(
                    "invalid seccomp localhostProfile {rel:?}: a relative path under the \
                     kubelet's seccomp directory is required"
                ));
            }
            let path = seccomp_dir.join(rel);
            let profile = std::fs::read_to_string(&path)
                .map_err(|e| format!("failed to load seccomp profile {}: {e}", path.display()))?;
            if serde_json::from_str::<serde_json::Value>(&profile).is_err() {
                return Err(format!(
                    "seccomp profile {} is not valid JSON",
                    path.display()
                ));
            }
            opts.push(format!("seccomp={profile}"));
        }
        Some(_) => {}
        // Nothing said: unconfined, as Kubernetes runs such a container, unless the
        // kubelet's `seccomp_default` makes it RuntimeDefault (the engine's profile).
        None if host.seccomp_default => {}
        None => opts.push("seccomp=unconfined".into()),
    }
    if host.apparmor {
        match SecurityContext::app_armor_in(csc, psc) {
            Some(p) if p.type_ == AppArmorProfileType::Unconfined => {
                opts.push("apparmor=unconfined".into())
            }
            Some(p) if p.type_ == AppArmorProfileType::Localhost => opts.push(format!(
                "apparmor={}",
                p.localhost_profile.as_deref().unwrap_or("")
            )),
            _ => {}
        }
    }
    if csc.and_then(|s| s.proc_mount) == Some(ProcMountType::Unmasked) {
        opts.push("systempaths=unconfined".into());
    }
    let selinux = csc
        .and_then(|s| s.se_linux_options.as_ref())
        .or_else(|| psc.and_then(|p| p.se_linux_options.as_ref()));
    if let Some(se) = selinux {
        for (key, value) in [
            ("user", &se.user),
            ("role", &se.role),
            ("type", &se.type_),
            ("level", &se.level),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                opts.push(format!("label={key}:{v}"));
            }
        }
    }
    spec.security_opt = opts;
    spec.pid_mode = if pod.spec.host_pid {
        Some("host".into())
    } else if pod.spec.share_process_namespace == Some(true) {
        Some(format!("container:{}", spec.sandbox_id))
    } else {
        None
    };
    spec.ipc_mode = Some(if pod.spec.host_ipc {
        "host".into()
    } else {
        format!("container:{}", spec.sandbox_id)
    });
    spec.stop_signal = c
        .lifecycle
        .as_ref()
        .and_then(|l| l.stop_signal.clone())
        .filter(|s| !s.is_empty());
    Ok(())
}

/// Sets `spec`'s cgroup limits from `c`'s resources and the node's per-container PID
/// limit (see the module docs).
pub fn apply_resources(c: &Container, spec: &mut ContainerSpec, pids_limit: Option<i64>) {
    let limits = &c.resources.limits;
    let requests = &c.resources.requests;
    let memory = limits.get("memory").map(|q| q.value()).filter(|v| *v > 0);
    spec.memory_bytes = memory;
    spec.memory_swap_bytes = memory;
    let cpu_limit = limits
        .get("cpu")
        .map(|q| q.milli_value())
        .filter(|v| *v > 0);
    spec.cpu_quota = cpu_limit.map(|milli| (milli * CPU_PERIOD_US / 1000).max(MIN_CPU_QUOTA_US));
    spec.cpu_period = cpu_limit.map(|_| CPU_PERIOD_US);
    // The request, or the limit when only that is set (Kubernetes defaults the one to
    // the other); none at all: the fewest shares.
    let cpu_request = requests
        .get("cpu")
        .map(|q| q.milli_value())
        .filter(|v| *v > 0)
        .or(cpu_limit);
    spec.cpu_shares = Some(
        cpu_request
            .map(|milli| (milli * 1024 / 1000).max(MIN_CPU_SHARES))
            .unwrap_or(MIN_CPU_SHARES),
    );
    spec.pids_limit = pids_limit.filter(|n| *n > 0);
}

/// Whether a volume root with group `root_gid` and mode `mode` (a directory when
/// `is_dir`) already has what `fsGroup` `gid` asks: the group, the group permissions
/// (read, write unless `read_only`, search) and the setgid bit (Kubernetes'
/// `requiresPermissionChange`, negated).
pub fn volume_root_matches(
    is_dir: bool,
    root_gid: u32,
    mode: u32,
    gid: u32,
    read_only: bool,
) -> bool {
    let wanted = if read_only { 0o440 } else { 0o660 } | 0o110;
    is_dir && root_gid == gid && mode & wanted == wanted && mode & 0o2000 != 0
}

/// Whether the ownership of the volume at `dir` must change for `fsGroup` `gid`: always
/// under `Always` (the default); under `OnRootMismatch` only when its root does not
/// match ([`volume_root_matches`]), so a large volume is not walked at every start.
pub fn volume_ownership_needed(
    dir: &Path,
    gid: u32,
    read_only: bool,
    policy: Option<FsGroupChangePolicy>,
) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    if policy != Some(FsGroupChangePolicy::OnRootMismatch) {
        return Ok(true);
    }
    let meta = std::fs::metadata(dir)?;
    Ok(!volume_root_matches(
        meta.is_dir(),
        meta.gid(),
        meta.mode(),
        gid,
        read_only,
    ))
}

/// Gives group `gid` to everything under `dir` (a volume of a pod with `fsGroup`), as
/// Kubernetes' `SetVolumeOwnership` does: group-readable (and writable unless
/// `read_only`), directories setgid and group-searchable, so that files made later
/// belong to the group too. Symbolic links are changed themselves, never followed.
pub fn set_volume_ownership(dir: &Path, gid: u32, read_only: bool) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mask = if read_only { 0o440 } else { 0o660 };
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::lchown(&path, None, Some(gid))?;
            continue;
        }
        if meta.gid() != gid {
            std::os::unix::fs::chown(&path, None, Some(gid))?;
        }
        let mut mode = meta.mode() & 0o7777 | mask;
        if meta.is_dir() {
            mode |= 0o2000 | 0o110;
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
        if mode != meta.mode() & 0o7777 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
