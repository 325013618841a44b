//! The security settings of a pod spec: the pod's and each container's security
//! context, sysctls, and the host namespaces (`hostPID`, `hostIPC`, `hostNetwork`,
//! `hostUsers`, `shareProcessNamespace`), with Kubernetes' rules and messages.

use std::collections::BTreeSet;

use rudder_protocol::resources::{
    AppArmorProfile, AppArmorProfileType, OsName, PodSecurityContext, PodSpec, ProcMountType,
    SeccompProfile, SeccompProfileType, SecurityContext,
};

use super::names::inclusive_range_error;
use super::{FieldCause, FieldPath};

/// The largest UID or GID Kubernetes accepts.
const MAX_ID: i64 = i32::MAX as i64;

/// Sysctl names: dot- or slash-separated segments of lowercase letters, digits, `-`, `_`.
const SYSCTL_FMT: &str = r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?";
const SYSCTL_MAX_LEN: usize = 253;

/// Sysctl prefixes that live in the IPC namespace.
const IPC_SYSCTLS: &[&str] = &["kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue."];

fn check_id(id: Option<i64>, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if let Some(id) = id {
        if !(0..=MAX_ID).contains(&id) {
            errs.push(FieldCause::invalid(
                path,
                id,
                &inclusive_range_error(0, MAX_ID),
            ));
        }
    }
}

fn is_sysctl_name(name: &str) -> bool {
    if name.is_empty() || name.len() > SYSCTL_MAX_LEN {
        return false;
    }
    let segment_ok = |seg: &str| {
        let b = seg.as_bytes();
        let inner =
            |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_';
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty() && edge(&b[0]) && edge(&b[b.len() - 1]) && b.iter().all(inner)
    };
    name.split(['.', '/']).all(segment_ok)
}

fn validate_seccomp(p: &SeccompProfile, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let lpath = path.child("localhostProfile");
    match (p.type_, &p.localhost_profile) {
        (SeccompProfileType::Localhost, None) => errs.push(FieldCause::required(
            &lpath,
            "must be set when seccomp type is Localhost",
        )),
        (SeccompProfileType::Localhost, Some(profile)) => {
            if profile.starts_with('/') || profile.split('/').any(|s| s == "..") {
                errs.push(FieldCause::invalid(
                    &lpath,
                    profile.as_str(),
                    "must be a relative path without '..'",
                ));
            }
        }
        (_, Some(profile)) => errs.push(FieldCause::invalid(
            &lpath,
            profile.as_str(),
            "can only be set when seccomp type is Localhost",
        )),
        (_, None) => {}
    }
}

fn validate_app_armor(p: &AppArmorProfile, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let lpath = path.child("localhostProfile");
    match (p.type_, &p.localhost_profile) {
        (AppArmorProfileType::Localhost, None) => errs.push(FieldCause::required(
            &lpath,
            "must be set when AppArmor type is Localhost",
        )),
        (AppArmorProfileType::Localhost, Some(profile)) => {
            if profile.trim().is_empty() {
                errs.push(FieldCause::required(
                    &lpath,
                    "must be set when AppArmor type is Localhost",
                ));
            } else if profile.trim() != profile {
                errs.push(FieldCause::invalid(
                    &lpath,
                    profile.as_str(),
                    "must not be padded with whitespace",
                ));
            } else if profile.len() > 4095 {
                errs.push(FieldCause::too_long(&lpath, 4095));
            }
        }
        (_, Some(profile)) => errs.push(FieldCause::invalid(
            &lpath,
            profile.as_str(),
            "can only be set when AppArmor type is Localhost",
        )),
        (_, None) => {}
    }
}

/// The fields an operating system rules out: windows options on a linux pod, and
/// `linux_only` (name, set) on a windows pod; nothing when `spec.os` is unset.
fn check_os_fields(
    spec: &PodSpec,
    windows_options: bool,
    linux_only: &[(&str, bool)],
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    match spec.os.as_ref().map(|o| o.name) {
        Some(OsName::Linux) if windows_options => errs.push(FieldCause::forbidden(
            &path.child("windowsOptions"),
            "windows options cannot be set for a linux pod",
        )),
        Some(OsName::Windows) => {
            for (field, _) in linux_only.iter().filter(|(_, set)| *set) {
                errs.push(FieldCause::forbidden(
                    &path.child(field),
                    "cannot be set for a windows pod",
                ));
            }
        }
        _ => {}
    }
}

/// The pod's security context at `spec.securityContext`, and the host namespace
/// settings Kubernetes checks with it.
pub(super) fn validate_pod_security(spec: &PodSpec, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let spath = path.child("securityContext");
    let default = PodSecurityContext::default();
    let sc = spec.security_context.as_ref().unwrap_or(&default);
    check_id(sc.run_as_user, &spath.child("runAsUser"), errs);
    check_id(sc.run_as_group, &spath.child("runAsGroup"), errs);
    check_id(sc.fs_group, &spath.child("fsGroup"), errs);
    for (i, g) in sc.supplemental_groups.iter().enumerate() {
        check_id(Some(*g), &spath.child("supplementalGroups").index(i), errs);
    }
    if let Some(p) = &sc.seccomp_profile {
        validate_seccomp(p, &spath.child("seccompProfile"), errs);
    }
    if let Some(p) = &sc.app_armor_profile {
        validate_app_armor(p, &spath.child("appArmorProfile"), errs);
    }
    let mut seen = BTreeSet::new();
    for (i, s) in sc.sysctls.iter().enumerate() {
        let ipath = spath.child("sysctls").index(i);
        let npath = ipath.child("name");
        if s.name.is_empty() {
            errs.push(FieldCause::required(&npath, ""));
            continue;
        }
        if !is_sysctl_name(&s.name) {
            errs.push(FieldCause::invalid(
                &npath,
                s.name.as_str(),
                &format!(
                    "must have at most {SYSCTL_MAX_LEN} characters and match regex ^{SYSCTL_FMT}$"
                ),
            ));
            continue;
        }
        // `net/core/somaxconn` is `net.core.somaxconn`.
        let dotted = s.name.replace('/', ".");
        if spec.host_network && dotted.starts_with("net.") {
            errs.push(FieldCause::invalid(
                &npath,
                s.name.as_str(),
                "may not be specified when 'hostNetwork' is true",
            ));
        }
        if spec.host_ipc && IPC_SYSCTLS.iter().any(|p| dotted.starts_with(p)) {
            errs.push(FieldCause::invalid(
                &npath,
                s.name.as_str(),
                "may not be specified when 'hostIPC' is true",
            ));
        }
        if !seen.insert(dotted) {
            errs.push(FieldCause::duplicate(&npath, s.name.as_str()));
        }
    }
    if spec.host_pid && spec.share_process_namespace == Some(true) {
        errs.push(FieldCause::invalid(
            &spath.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if spec.host_users == Some(false) {
        for (field, on) in [
            ("hostNetwork", spec.host_network),
            ("hostPID", spec.host_pid),
            ("hostIPC", spec.host_ipc),
        ] {
            if on {
                errs.push(FieldCause::forbidden(
                    &path.child(field),
                    "when `pod.Spec.HostUsers` is false",
                ));
            }
        }
    }
    let linux_only = [
        ("seLinuxOptions", sc.se_linux_options.is_some()),
        ("seccompProfile", sc.seccomp_profile.is_some()),
        ("appArmorProfile", sc.app_armor_profile.is_some()),
        ("fsGroup", sc.fs_group.is_some()),
        ("fsGroupChangePolicy", sc.fs_group_change_policy.is_some()),
        ("sysctls", !sc.sysctls.is_empty()),
        (
            "shareProcessNamespace",
            spec.share_process_namespace.is_some(),
        ),
        ("runAsUser", sc.run_as_user.is_some()),
        ("runAsGroup", sc.run_as_group.is_some()),
        ("supplementalGroups", !sc.supplemental_groups.is_empty()),
    ];
    check_os_fields(
        spec,
        sc.windows_options.is_some(),
        &linux_only,
        &spath,
        errs,
    );
}

/// A container's security context at `path` (`...containers[i].securityContext`).
pub(super) fn validate_container_security(
    sc: &SecurityContext,
    spec: &PodSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    check_id(sc.run_as_user, &path.child("runAsUser"), errs);
    check_id(sc.run_as_group, &path.child("runAsGroup"), errs);
    if let Some(p) = &sc.seccomp_profile {
        validate_seccomp(p, &path.child("seccompProfile"), errs);
    }
    if let Some(p) = &sc.app_armor_profile {
        validate_app_armor(p, &path.child("appArmorProfile"), errs);
    }
    if sc.proc_mount == Some(ProcMountType::Unmasked) && spec.host_users != Some(false) {
        errs.push(FieldCause::invalid(
            &path.child("procMount"),
            "Unmasked",
            "`hostUsers` must be false to use `Unmasked`",
        ));
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldCause::invalid(
                path,
                "",
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = sc.capabilities.as_ref().is_some_and(|c| {
            c.add
                .iter()
                .any(|a| a == "SYS_ADMIN" || a == "CAP_SYS_ADMIN")
        });
        if adds_sys_admin {
            errs.push(FieldCause::invalid(
                path,
                "",
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    let linux_only = [
        ("seLinuxOptions", sc.se_linux_options.is_some()),
        ("seccompProfile", sc.seccomp_profile.is_some()),
        ("appArmorProfile", sc.app_armor_profile.is_some()),
        ("capabilities", sc.capabilities.is_some()),
        (
            "readOnlyRootFilesystem",
            sc.read_only_root_filesystem.is_some(),
        ),
        ("privileged", sc.privileged.is_some()),
        (
            "allowPrivilegeEscalation",
            sc.allow_privilege_escalation.is_some(),
        ),
        ("procMount", sc.proc_mount.is_some()),
        ("runAsUser", sc.run_as_user.is_some()),
        ("runAsGroup", sc.run_as_group.is_some()),
    ];
    check_os_fields(spec, sc.windows_options.is_some(), &linux_only, path, errs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_names() {
        for ok in [
            "net.ipv4.ip_forward",
            "kernel.shm_rmid_forced",
            "net/ipv4/conf/eth0/rp_filter",
            "a",
        ] {
            assert!(is_sysctl_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Net.ipv4",
            "net..ipv4",
            ".net",
            "net.",
            "net.-a",
            "net.a b",
        ] {
            assert!(!is_sysctl_name(bad), "{bad}");
        }
    }
}
