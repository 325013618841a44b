//! The container fields added with Kubernetes' full `Container`: lifecycle hooks
//! (their handlers are checked as probes' are), the container restart policy (sidecars), the stop signal, the
//! security context, resize policies, block devices and the newer volume mount fields.
//! [`super::pod`] calls [`validate_container_extras`] for every container.

use std::collections::BTreeSet;

use rudder_protocol::resources::{
    Container, LifecycleHandler, MountPropagationMode, OsName, PodSpec, RecursiveReadOnlyMode,
    VolumeMount,
};

use super::pod::validate_handlers;
use super::security::validate_container_security;
use super::{FieldCause, FieldPath};

/// The signals a Linux container may be stopped with (`lifecycle.stopSignal`).
const LINUX_STOP_SIGNALS: &[&str] = &[
    "SIGABRT",
    "SIGALRM",
    "SIGBUS",
    "SIGCHLD",
    "SIGCLD",
    "SIGCONT",
    "SIGFPE",
    "SIGHUP",
    "SIGILL",
    "SIGINT",
    "SIGIO",
    "SIGIOT",
    "SIGKILL",
    "SIGPIPE",
    "SIGPOLL",
    "SIGPROF",
    "SIGPWR",
    "SIGQUIT",
    "SIGSEGV",
    "SIGSTKFLT",
    "SIGSTOP",
    "SIGSYS",
    "SIGTERM",
    "SIGTRAP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGUSR1",
    "SIGUSR2",
    "SIGVTALRM",
    "SIGWINCH",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGRTMIN",
    "SIGRTMIN+1",
    "SIGRTMIN+2",
    "SIGRTMIN+3",
    "SIGRTMIN+4",
    "SIGRTMIN+5",
    "SIGRTMIN+6",
    "SIGRTMIN+7",
    "SIGRTMIN+8",
    "SIGRTMIN+9",
    "SIGRTMIN+10",
    "SIGRTMIN+11",
    "SIGRTMIN+12",
    "SIGRTMIN+13",
    "SIGRTMIN+14",
    "SIGRTMIN+15",
    "SIGRTMAX-14",
    "SIGRTMAX-13",
    "SIGRTMAX-12",
    "SIGRTMAX-11",
    "SIGRTMAX-10",
    "SIGRTMAX-9",
    "SIGRTMAX-8",
    "SIGRTMAX-7",
    "SIGRTMAX-6",
    "SIGRTMAX-5",
    "SIGRTMAX-4",
    "SIGRTMAX-3",
    "SIGRTMAX-2",
    "SIGRTMAX-1",
    "SIGRTMAX",
];

/// Which list a container is in, which decides what it may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// `spec.containers`.
    App,
    /// `spec.initContainers` without `restartPolicy: Always`.
    Init,
    /// `spec.initContainers` with `restartPolicy: Always`: runs beside the app.
    Sidecar,
}

impl Role {
    /// The role of a container of `spec.containers` (`init` false) or
    /// `spec.initContainers`.
    pub(super) fn of(c: &Container, init: bool) -> Role {
        match (init, c.restart_policy) {
            (false, _) => Role::App,
            (true, Some(rudder_protocol::resources::ContainerRestartPolicy::Always)) => {
                Role::Sidecar
            }
            (true, _) => Role::Init,
        }
    }
}

fn validate_handler(
    h: &LifecycleHandler,
    grace: Option<i64>,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let handlers = [
        ("exec", h.exec.is_some()),
        ("httpGet", h.http_get.is_some()),
        ("tcpSocket", h.tcp_socket.is_some()),
        ("sleep", h.sleep.is_some()),
    ];
    validate_handlers(
        &handlers,
        h.exec.as_ref(),
        h.http_get.as_ref(),
        h.tcp_socket.as_ref(),
        path,
        errs,
    );
    if let Some(sleep) = &h.sleep {
        let grace = grace.unwrap_or(0);
        if sleep.seconds < 0 || sleep.seconds > grace {
            errs.push(FieldCause::invalid(
                &path.child("sleep").child("seconds"),
                sleep.seconds,
                &format!(
                    "must be non-negative and less than terminationGracePeriodSeconds ({grace})"
                ),
            ));
        }
    }
}

fn validate_mount_extras(
    m: &VolumeMount,
    privileged: bool,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    for (field, value) in [("subPath", &m.sub_path), ("subPathExpr", &m.sub_path_expr)] {
        if value.starts_with('/') {
            errs.push(FieldCause::invalid(
                &path.child(field),
                value.as_str(),
                "must be a relative path",
            ));
        }
        if value.split('/').any(|s| s == "..") {
            errs.push(FieldCause::invalid(
                &path.child(field),
                value.as_str(),
                "must not contain '..'",
            ));
        }
    }
    if !m.sub_path.is_empty() && !m.sub_path_expr.is_empty() {
        errs.push(FieldCause::invalid(
            &path.child("subPathExpr"),
            m.sub_path_expr.as_str(),
            "subPathExpr and subPath are mutually exclusive",
        ));
    }
    if m.mount_propagation == Some(MountPropagationMode::Bidirectional) && !privileged {
        errs.push(FieldCause::forbidden(
            &path.child("mountPropagation"),
            "Bidirectional mount propagation is available only to privileged containers",
        ));
    }
    if let Some(rro) = m.recursive_read_only {
        if rro != RecursiveReadOnlyMode::Disabled && !m.read_only {
            errs.push(FieldCause::forbidden(
                &path.child("recursiveReadOnly"),
                "may only be specified when readOnly is true",
            ));
        }
        if rro == RecursiveReadOnlyMode::Enabled
            && m.mount_propagation
                .is_some_and(|p| p != MountPropagationMode::None)
        {
            errs.push(FieldCause::forbidden(
                &path.child("recursiveReadOnly"),
                "may only be specified when mountPropagation is None or not specified",
            ));
        }
    }
}

/// The rules of the container fields this module owns, for container `c` at `path`.
pub(super) fn validate_container_extras(
    c: &Container,
    role: Role,
    spec: &PodSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    match (role, c.restart_policy) {
        (Role::App, Some(_)) => errs.push(FieldCause::forbidden(
            &path.child("restartPolicy"),
            "may not be set for non-init containers",
        )),
        (Role::Init, Some(p)) => errs.push(FieldCause::not_supported(
            &path.child("restartPolicy"),
            p.as_str(),
            &["Always"],
        )),
        _ => {}
    }
    if !c.restart_policy_rules.is_empty() {
        errs.push(FieldCause::forbidden(
            &path.child("restartPolicyRules"),
            "the ContainerRestartRules feature (alpha in Kubernetes 1.34) is not supported",
        ));
    }
    if let Some(lifecycle) = &c.lifecycle {
        let lpath = path.child("lifecycle");
        if role == Role::Init {
            errs.push(FieldCause::forbidden(
                &lpath,
                "may not be set for init containers without restartPolicy=Always",
            ));
        } else {
            let grace = spec.termination_grace_period_seconds;
            if let Some(h) = &lifecycle.post_start {
                validate_handler(h, grace, &lpath.child("postStart"), errs);
            }
            if let Some(h) = &lifecycle.pre_stop {
                validate_handler(h, grace, &lpath.child("preStop"), errs);
            }
            if let Some(signal) = &lifecycle.stop_signal {
                let spath = lpath.child("stopSignal");
                match spec.os.as_ref().map(|o| o.name) {
                    None => errs.push(FieldCause::forbidden(
                        &spath,
                        "may not be set for containers with empty `spec.os.name`",
                    )),
                    Some(OsName::Linux) => {
                        if !LINUX_STOP_SIGNALS.contains(&signal.as_str()) {
                            errs.push(FieldCause::not_supported(
                                &spath,
                                signal.as_str(),
                                LINUX_STOP_SIGNALS,
                            ));
                        }
                    }
                    Some(OsName::Windows) => {
                        if signal != "SIGTERM" && signal != "SIGKILL" {
                            errs.push(FieldCause::not_supported(
                                &spath,
                                signal.as_str(),
                                &["SIGKILL", "SIGTERM"],
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(sc) = &c.security_context {
        validate_container_security(sc, spec, &path.child("securityContext"), errs);
    }
    let privileged = c
        .security_context
        .as_ref()
        .and_then(|s| s.privileged)
        .unwrap_or(false);
    for (i, m) in c.volume_mounts.iter().enumerate() {
        validate_mount_extras(m, privileged, &path.child("volumeMounts").index(i), errs);
    }
    let mut resized = BTreeSet::new();
    for (i, p) in c.resize_policy.iter().enumerate() {
        let ppath = path.child("resizePolicy").index(i);
        if p.resource_name != "cpu" && p.resource_name != "memory" {
            errs.push(FieldCause::not_supported(
                &ppath.child("resourceName"),
                p.resource_name.as_str(),
                &["cpu", "memory"],
            ));
        } else if !resized.insert(p.resource_name.as_str()) {
            errs.push(FieldCause::duplicate(
                &ppath.child("resourceName"),
                p.resource_name.as_str(),
            ));
        }
    }
    for (i, d) in c.volume_devices.iter().enumerate() {
        errs.push(FieldCause::invalid(
            &path.child("volumeDevices").index(i).child("name"),
            d.name.as_str(),
            "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
        ));
    }
}

/// Ephemeral containers are added through the `ephemeralcontainers` subresource, never
/// on create.
pub(super) fn validate_no_ephemeral_on_create(
    spec: &PodSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    if !spec.ephemeral_containers.is_empty() {
        errs.push(FieldCause::forbidden(
            &path.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
}

/// The update of a pod's ephemeral containers (the `ephemeralcontainers`
/// subresource): the ones there stay as they are, new ones are valid debugging
/// containers.
pub(super) fn validate_ephemeral_update(
    new: &PodSpec,
    old: &PodSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let epath = path.child("ephemeralContainers");
    for (i, o) in old.ephemeral_containers.iter().enumerate() {
        if new.ephemeral_containers.get(i) != Some(o) {
            errs.push(FieldCause::forbidden(
                &epath.index(i),
                &format!(
                    "existing ephemeral containers {:?} may not be changed",
                    o.name
                ),
            ));
        }
    }
    let mut names: BTreeSet<&str> = new
        .containers
        .iter()
        .chain(&new.init_containers)
        .map(|c| c.name.as_str())
        .collect();
    for (i, e) in new.ephemeral_containers.iter().enumerate() {
        let ipath = epath.index(i);
        let npath = ipath.child("name");
        if e.name.is_empty() {
            errs.push(FieldCause::required(&npath, ""));
        } else {
            for msg in super::names::is_dns1123_label(&e.name) {
                errs.push(FieldCause::invalid(&npath, e.name.as_str(), &msg));
            }
            if !names.insert(e.name.as_str()) {
                errs.push(FieldCause::duplicate(&npath, e.name.as_str()));
            }
        }
        if i < old.ephemeral_containers.len() {
            continue;
        }
        if e.image.is_empty() {
            errs.push(FieldCause::required(&ipath.child("image"), ""));
        }
        let not_allowed = [
            ("ports", !e.ports.is_empty()),
            ("livenessProbe", e.liveness_probe.is_some()),
            ("readinessProbe", e.readiness_probe.is_some()),
            ("startupProbe", e.startup_probe.is_some()),
            ("lifecycle", e.lifecycle.is_some()),
            ("resources", e.resources != Default::default()),
            ("resizePolicy", !e.resize_policy.is_empty()),
            ("restartPolicy", e.restart_policy.is_some()),
        ];
        for (field, set) in not_allowed {
            if set {
                errs.push(FieldCause::forbidden(
                    &ipath.child(field),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        for (j, m) in e.volume_mounts.iter().enumerate() {
            if !m.sub_path.is_empty() {
                errs.push(FieldCause::forbidden(
                    &ipath.child("volumeMounts").index(j).child("subPath"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        if let Some(target) = e.target_container_name.as_deref() {
            let known = new
                .containers
                .iter()
                .chain(&new.init_containers)
                .any(|c| c.name == target);
            if !known {
                errs.push(FieldCause::not_found(
                    &ipath.child("targetContainerName"),
                    target,
                ));
            }
        }
    }
}
