//! Pods: the pod spec rules shared by pods and the templates of replica sets,
//! replication controllers and deployments, and the update rules of a pod (its spec is
//! immutable but for images, `activeDeadlineSeconds` and added tolerations).
//!
//! One difference between a pod and a template, as in Kubernetes: a template's
//! containers may leave `image` empty (something else may fill it in before pods are
//! made); a pod's may not.

use std::collections::BTreeSet;

use rudder_protocol::resources::{
    Affinity, Container, ContainerPort, EnvVar, ExecAction, HttpGetAction, IntOrString,
    NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
    Probe, ResourceList, ResourceRequirements, TaintEffect, TcpSocketAction, Toleration,
    TolerationOperator, Volume,
};

use super::container::{
    validate_container_extras, validate_ephemeral_update, validate_no_ephemeral_on_create, Role,
};
use super::dns::validate_pod_dns;
use super::meta::{validate_labels, validate_object_meta, validate_object_meta_update, NameRule};
use super::names::{
    inclusive_range_error, is_config_map_key, is_dns1123_label, is_dns1123_subdomain,
    is_env_var_name, is_http_header_name, is_label_value, is_qualified_name, is_valid_ip,
    is_valid_port_name, is_valid_port_num,
};
use super::scheduling::{validate_pod_scheduling, validate_scheduling_gates_update};
use super::security::validate_pod_security;
use super::{BadValue, FieldCause, FieldPath, Validate};

/// The message of a forbidden pod spec change, as Kubernetes words it.
const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Resource names a container may request without a domain prefix.
const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// Pod fields an environment variable may take its value from.
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `hostPath.type` values.
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];

/// Where a pod spec sits, which changes a few rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodSpecContext {
    /// The spec of a pod: every container needs an image.
    Pod,
    /// The spec of a controller's pod template: images may be filled in later.
    Template,
}

/// The rules of a pod spec at `path` (`spec`, or `spec.template.spec`).
pub fn validate_pod_spec(spec: &PodSpec, path: &FieldPath, ctx: PodSpecContext) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    let volumes = validate_volumes(&spec.volumes, &path.child("volumes"), &mut errs);

    let mut names = BTreeSet::new();
    let cpath = path.child("containers");
    if spec.containers.is_empty() {
        errs.push(FieldCause::required(&cpath, ""));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        validate_container(
            c,
            &cpath.index(i),
            &volumes,
            false,
            ctx,
            &mut names,
            &mut errs,
        );
    }
    let ipath = path.child("initContainers");
    for (i, c) in spec.init_containers.iter().enumerate() {
        validate_container(
            c,
            &ipath.index(i),
            &volumes,
            Role::of(c, true) == Role::Init,
            ctx,
            &mut names,
            &mut errs,
        );
    }
    for (containers, cpath, init) in [
        (&spec.containers, &cpath, false),
        (&spec.init_containers, &ipath, true),
    ] {
        for (i, c) in containers.iter().enumerate() {
            validate_container_extras(c, Role::of(c, init), spec, &cpath.index(i), &mut errs);
        }
    }
    validate_pod_security(spec, path, &mut errs);
    validate_pod_scheduling(spec, path, &mut errs);
    validate_pod_dns(spec, path, &mut errs);
    check_host_port_conflicts(&spec.containers, &cpath, &mut errs);
    check_host_port_conflicts(&spec.init_containers, &ipath, &mut errs);
    if spec.host_network {
        for (containers, cpath) in [(&spec.containers, &cpath), (&spec.init_containers, &ipath)] {
            for (i, c) in containers.iter().enumerate() {
                for (j, p) in c.ports.iter().enumerate() {
                    if p.host_port != p.container_port {
                        errs.push(FieldCause::invalid(
                            &cpath
                                .index(i)
                                .child("ports")
                                .index(j)
                                .child("containerPort"),
                            p.container_port,
                            "must match `hostPort` when `hostNetwork` is true",
                        ));
                    }
                }
            }
        }
    }

    if spec.restart_policy.is_none() {
        errs.push(FieldCause::required(&path.child("restartPolicy"), ""));
    }
    if spec.dns_policy.is_none() {
        errs.push(FieldCause::required(&path.child("dnsPolicy"), ""));
    }
    if let Some(t) = spec.termination_grace_period_seconds {
        if t < 0 {
            errs.push(FieldCause::invalid(
                &path.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(d) = spec.active_deadline_seconds {
        if !(1..=i64::from(i32::MAX)).contains(&d) {
            errs.push(FieldCause::invalid(
                &path.child("activeDeadlineSeconds"),
                d,
                &inclusive_range_error(1, i64::from(i32::MAX)),
            ));
        }
    }
    errs.extend(validate_labels(
        &spec.node_selector,
        &path.child("nodeSelector"),
    ));
    for (field, value) in [
        ("serviceAccountName", &spec.service_account_name),
        ("nodeName", &spec.node_name),
        ("schedulerName", &spec.scheduler_name),
        ("priorityClassName", &spec.priority_class_name),
    ] {
        if !value.is_empty() {
            for msg in is_dns1123_subdomain(value) {
                errs.push(FieldCause::invalid(&path.child(field), value, &msg));
            }
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if !value.is_empty() {
            for msg in is_dns1123_label(value) {
                errs.push(FieldCause::invalid(&path.child(field), value, &msg));
            }
        }
    }
    errs.extend(validate_tolerations(
        &spec.tolerations,
        &path.child("tolerations"),
    ));
    if let Some(affinity) = &spec.affinity {
        validate_affinity(affinity, &path.child("affinity"), &mut errs);
    }
    errs
}

/// Checks volume names and sources; returns the names, for the mounts to refer to.
fn validate_volumes<'a>(
    volumes: &'a [Volume],
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let vpath = path.index(i);
        if v.name.is_empty() {
            errs.push(FieldCause::required(&vpath.child("name"), ""));
        } else {
            for msg in is_dns1123_label(&v.name) {
                errs.push(FieldCause::invalid(&vpath.child("name"), &v.name, &msg));
            }
            if !names.insert(v.name.as_str()) {
                errs.push(FieldCause::duplicate(&vpath.child("name"), &v.name));
            }
        }
        let sources = [
            ("hostPath", v.host_path.is_some()),
            ("emptyDir", v.empty_dir.is_some()),
            ("secret", v.secret.is_some()),
            ("configMap", v.config_map.is_some()),
            ("downwardAPI", v.downward_api.is_some()),
            ("projected", v.projected.is_some()),
            ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ];
        let mut set = sources.iter().filter(|(_, present)| *present);
        if set.next().is_none() {
            errs.push(FieldCause::required(&vpath, "must specify a volume type"));
        }
        for (field, _) in set {
            errs.push(FieldCause::forbidden(
                &vpath.child(field),
                "may not specify more than 1 volume type",
            ));
        }
        if let Some(hp) = &v.host_path {
            let hpath = vpath.child("hostPath");
            if hp.path.is_empty() {
                errs.push(FieldCause::required(&hpath.child("path"), ""));
            }
            if let Some(t) = &hp.type_ {
                if !HOST_PATH_TYPES.contains(&t.as_str()) {
                    errs.push(FieldCause::not_supported(
                        &hpath.child("type"),
                        t,
                        HOST_PATH_TYPES,
                    ));
                }
            }
        }
        if let Some(s) = &v.secret {
            let spath = vpath.child("secret");
            if s.secret_name.is_empty() {
                errs.push(FieldCause::required(&spath.child("secretName"), ""));
            }
            validate_projection(&s.items, s.default_mode, &spath, errs);
        }
        if let Some(c) = &v.config_map {
            let cpath = vpath.child("configMap");
            if c.name.is_empty() {
                errs.push(FieldCause::required(&cpath.child("name"), ""));
            }
            validate_projection(&c.items, c.default_mode, &cpath, errs);
        }
        if let Some(d) = &v.downward_api {
            let dpath = vpath.child("downwardAPI");
            check_file_mode(d.default_mode, &dpath.child("defaultMode"), errs);
            for (i, f) in d.items.iter().enumerate() {
                validate_downward_file(f, &dpath.child("items").index(i), errs);
            }
        }
        if let Some(p) = &v.projected {
            validate_projected(p, &vpath.child("projected"), errs);
        }
        if let Some(c) = &v.persistent_volume_claim {
            if c.claim_name.is_empty() {
                errs.push(FieldCause::required(
                    &vpath.child("persistentVolumeClaim").child("claimName"),
                    "",
                ));
            }
        }
    }
    names
}

/// Pod fields a downward API volume file may hold (Kubernetes'
/// `validVolumeDownwardAPIFieldPathExpressions`).
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

/// Resources a `resourceFieldRef` may select.
const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// A path inside a volume: relative, no `..` element, not starting with `..`
/// (Kubernetes' `validateLocalNonReservedPath`).
fn check_local_path(p: &str, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if p.starts_with('/') {
        errs.push(FieldCause::invalid(path, p, "must be a relative path"));
    }
    if p.split('/').any(|part| part == "..") {
        errs.push(FieldCause::invalid(path, p, "must not contain '..'"));
    }
    if p.starts_with("..") {
        errs.push(FieldCause::invalid(path, p, "must not start with '..'"));
    }
}

/// One file of a downward API volume or projection.
fn validate_downward_file(
    f: &rudder_protocol::resources::DownwardApiVolumeFile,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let ppath = path.child("path");
    if f.path.is_empty() {
        errs.push(FieldCause::required(&ppath, ""));
    }
    check_local_path(&f.path, &ppath, errs);
    match (&f.field_ref, &f.resource_field_ref) {
        (Some(fr), r) => {
            validate_field_selector(fr, VOLUME_FIELD_PATHS, &path.child("fieldRef"), errs);
            if r.is_some() {
                errs.push(FieldCause::invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(r)) => {
            validate_resource_selector(r, true, &path.child("resourceFieldRef"), errs);
        }
        (None, None) => errs.push(FieldCause::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        )),
    }
    check_file_mode(f.mode, &path.child("mode"), errs);
}

/// A projected volume: each source exactly one kind, no path twice.
fn validate_projected(
    p: &rudder_protocol::resources::ProjectedVolumeSource,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    check_file_mode(p.default_mode, &path.child("defaultMode"), errs);
    let mut paths = BTreeSet::new();
    for (i, source) in p.sources.iter().enumerate() {
        let spath = path.child("sources").index(i);
        let mut kinds = 0;
        let mut keyed = |name: &str,
                         items: &[rudder_protocol::resources::KeyToPath],
                         kpath: FieldPath,
                         errs: &mut Vec<FieldCause>| {
            if name.is_empty() {
                errs.push(FieldCause::required(&kpath.child("name"), ""));
            }
            validate_projection(items, None, &kpath, errs);
            for item in items.iter().filter(|i| !i.path.is_empty()) {
                if !paths.insert(item.path.clone()) {
                    errs.push(FieldCause::invalid(
                        path,
                        name,
                        "conflicting duplicate paths",
                    ));
                }
            }
        };
        if let Some(s) = &source.secret {
            kinds += 1;
            keyed(&s.name, &s.items, spath.child("secret"), errs);
        }
        if let Some(c) = &source.config_map {
            kinds += 1;
            keyed(&c.name, &c.items, spath.child("configMap"), errs);
        }
        if let Some(d) = &source.downward_api {
            kinds += 1;
            let dpath = spath.child("downwardAPI");
            for (j, f) in d.items.iter().enumerate() {
                validate_downward_file(f, &dpath.child("items").index(j), errs);
                if !f.path.is_empty() && !paths.insert(f.path.clone()) {
                    errs.push(FieldCause::invalid(
                        path,
                        &f.path,
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(t) = &source.service_account_token {
            kinds += 1;
            let tpath = spath.child("serviceAccountToken");
            match t.expiration_seconds {
                Some(s) if s < 600 => errs.push(FieldCause::invalid(
                    &tpath.child("expirationSeconds"),
                    s,
                    "may not specify a duration less than 10 minutes",
                )),
                Some(s) if s > 1 << 32 => errs.push(FieldCause::invalid(
                    &tpath.child("expirationSeconds"),
                    s,
                    "may not specify a duration larger than 2^32 seconds",
                )),
                _ => {}
            }
            if t.path.is_empty() {
                errs.push(FieldCause::required(&tpath.child("path"), ""));
            } else if !paths.insert(t.path.clone()) {
                errs.push(FieldCause::invalid(
                    path,
                    &t.path,
                    "conflicting duplicate paths",
                ));
            }
        }
        if kinds > 1 {
            errs.push(FieldCause::forbidden(
                &spath,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
}

/// An `ObjectFieldSelector`: its apiVersion, and a path among `allowed` or a
/// subscripted label or annotation.
fn validate_field_selector(
    field_ref: &rudder_protocol::resources::ObjectFieldSelector,
    allowed: &[&str],
    rpath: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    if field_ref.api_version.is_empty() {
        errs.push(FieldCause::required(&rpath.child("apiVersion"), ""));
    }
    let fp = field_ref.field_path.as_str();
    let ppath = rpath.child("fieldPath");
    if fp.is_empty() {
        errs.push(FieldCause::required(&ppath, ""));
    } else if let Some((kind, key)) = subscripted_field(fp) {
        let key = if kind == "annotations" {
            key.to_lowercase()
        } else {
            key.to_owned()
        };
        for msg in is_qualified_name(&key) {
            errs.push(FieldCause::invalid(&ppath, fp, &msg));
        }
    } else if !allowed.contains(&fp) {
        errs.push(FieldCause::not_supported(&ppath, fp, allowed));
    }
}

/// A `ResourceFieldSelector` (Kubernetes' `validateContainerResourceFieldSelector`):
/// a volume's names its container.
fn validate_resource_selector(
    r: &rudder_protocol::resources::ResourceFieldSelector,
    volume: bool,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    if volume && r.container_name.is_empty() {
        errs.push(FieldCause::required(&path.child("containerName"), ""));
    } else if r.resource.is_empty() {
        errs.push(FieldCause::required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&r.resource.as_str()) {
        errs.push(FieldCause::not_supported(
            &path.child("resource"),
            &r.resource,
            RESOURCE_FIELD_PATHS,
        ));
    }
    let Some(divisor) = &r.divisor else { return };
    let text = divisor.to_string();
    if text == "0" {
        return;
    }
    let (allowed, msg): (&[&str], &str) = if r.resource.ends_with(".cpu") {
        (
            &["1m", "1"],
            "only divisor's values 1m and 1 are supported with the cpu resource",
        )
    } else if r.resource.ends_with(".memory") {
        (
            &["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"],
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource",
        )
    } else if r.resource.ends_with(".ephemeral-storage") {
        (
            &["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"],
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource",
        )
    } else {
        return;
    };
    if !allowed.contains(&text.as_str()) {
        errs.push(FieldCause::invalid(&path.child("divisor"), &text, msg));
    }
}

/// A ConfigMap's or Secret's name and key, as an env source selects them.
fn validate_key_selector(name: &str, key: &str, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if name.is_empty() {
        errs.push(FieldCause::required(&path.child("name"), ""));
    } else {
        for msg in is_dns1123_subdomain(name) {
            errs.push(FieldCause::invalid(&path.child("name"), name, &msg));
        }
    }
    if key.is_empty() {
        errs.push(FieldCause::required(&path.child("key"), ""));
    } else {
        for msg in is_config_map_key(key) {
            errs.push(FieldCause::invalid(&path.child("key"), key, &msg));
        }
    }
}

/// `envFrom` (Kubernetes' `validateEnvFrom`).
fn validate_env_from(
    sources: &[rudder_protocol::resources::EnvFromSource],
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    for (i, ev) in sources.iter().enumerate() {
        let ipath = path.index(i);
        if !ev.prefix.is_empty() {
            for msg in is_env_var_name(&ev.prefix) {
                errs.push(FieldCause::invalid(
                    &ipath.child("prefix"),
                    &ev.prefix,
                    &msg,
                ));
            }
        }
        let mut n = 0;
        for (field, name) in [
            ("configMapRef", ev.config_map_ref.as_ref().map(|r| &r.name)),
            ("secretRef", ev.secret_ref.as_ref().map(|r| &r.name)),
        ] {
            let Some(name) = name else { continue };
            n += 1;
            let npath = ipath.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldCause::required(&npath, ""));
            } else {
                for msg in is_dns1123_subdomain(name) {
                    errs.push(FieldCause::invalid(&npath, name, &msg));
                }
            }
        }
        if n == 0 {
            errs.push(FieldCause::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(FieldCause::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn check_file_mode(mode: Option<i32>, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if let Some(m) = mode {
        if !(0..=0o777).contains(&m) {
            errs.push(FieldCause::invalid(
                path,
                m,
                "must be a number between 0 and 0777 (octal), both inclusive",
            ));
        }
    }
}

/// Secret and ConfigMap items: a key, a relative path inside the volume, a file mode.
fn validate_projection(
    items: &[rudder_protocol::resources::KeyToPath],
    default_mode: Option<i32>,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    check_file_mode(default_mode, &path.child("defaultMode"), errs);
    for (i, item) in items.iter().enumerate() {
        let ipath = path.child("items").index(i);
        if item.key.is_empty() {
            errs.push(FieldCause::required(&ipath.child("key"), ""));
        }
        let ppath = ipath.child("path");
        if item.path.is_empty() {
            errs.push(FieldCause::required(&ppath, ""));
        }
        check_local_path(&item.path, &ppath, errs);
        check_file_mode(item.mode, &ipath.child("mode"), errs);
    }
}

#[allow(clippy::too_many_arguments)]
fn validate_container(
    c: &Container,
    path: &FieldPath,
    volumes: &BTreeSet<&str>,
    init: bool,
    ctx: PodSpecContext,
    names: &mut BTreeSet<String>,
    errs: &mut Vec<FieldCause>,
) {
    let npath = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldCause::required(&npath, ""));
    } else {
        for msg in is_dns1123_label(&c.name) {
            errs.push(FieldCause::invalid(&npath, &c.name, &msg));
        }
        if !names.insert(c.name.clone()) {
            errs.push(FieldCause::duplicate(&npath, &c.name));
        }
    }
    if c.image.is_empty() {
        if ctx == PodSpecContext::Pod {
            errs.push(FieldCause::required(&path.child("image"), ""));
        }
    } else if c.image.trim() != c.image {
        errs.push(FieldCause::invalid(
            &path.child("image"),
            &c.image,
            "must not have leading or trailing whitespace",
        ));
    }
    validate_container_ports(&c.ports, &path.child("ports"), errs);
    for (i, e) in c.env.iter().enumerate() {
        validate_env_var(e, &path.child("env").index(i), errs);
    }
    validate_env_from(&c.env_from, &path.child("envFrom"), errs);
    validate_resources(&c.resources, &path.child("resources"), errs);
    let mut mount_paths = BTreeSet::new();
    for (i, m) in c.volume_mounts.iter().enumerate() {
        let mpath = path.child("volumeMounts").index(i);
        if m.name.is_empty() {
            errs.push(FieldCause::required(&mpath.child("name"), ""));
        } else if !volumes.contains(m.name.as_str()) {
            errs.push(FieldCause::not_found(&mpath.child("name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldCause::required(&mpath.child("mountPath"), ""));
        } else if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldCause::invalid(
                &mpath.child("mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
    }
    let probes = [
        ("livenessProbe", &c.liveness_probe, true),
        ("readinessProbe", &c.readiness_probe, false),
        ("startupProbe", &c.startup_probe, true),
    ];
    for (field, probe, single_success) in probes {
        let Some(probe) = probe else { continue };
        let ppath = path.child(field);
        if init {
            errs.push(FieldCause::forbidden(
                &ppath,
                "may not be set for init containers without restartPolicy=Always",
            ));
            continue;
        }
        validate_probe(probe, &ppath, errs);
        if single_success && probe.success_threshold != 1 {
            errs.push(FieldCause::invalid(
                &ppath.child("successThreshold"),
                probe.success_threshold,
                "must be 1",
            ));
        }
    }
    if c.image_pull_policy.is_none() {
        errs.push(FieldCause::required(&path.child("imagePullPolicy"), ""));
    }
    if c.termination_message_policy.is_none() {
        errs.push(FieldCause::required(
            &path.child("terminationMessagePolicy"),
            "must be 'File' or 'FallbackToLogsOnError'",
        ));
    }
}

fn validate_container_ports(ports: &[ContainerPort], path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ppath = path.index(i);
        if !p.name.is_empty() {
            for msg in is_valid_port_name(&p.name) {
                errs.push(FieldCause::invalid(&ppath.child("name"), &p.name, &msg));
            }
            if !names.insert(p.name.as_str()) {
                errs.push(FieldCause::duplicate(&ppath.child("name"), &p.name));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldCause::required(&ppath.child("containerPort"), ""));
        } else {
            for msg in is_valid_port_num(i64::from(p.container_port)) {
                errs.push(FieldCause::invalid(
                    &ppath.child("containerPort"),
                    p.container_port,
                    &msg,
                ));
            }
        }
        if p.host_port != 0 {
            for msg in is_valid_port_num(i64::from(p.host_port)) {
                errs.push(FieldCause::invalid(
                    &ppath.child("hostPort"),
                    p.host_port,
                    &msg,
                ));
            }
        }
        if p.protocol.is_none() {
            errs.push(FieldCause::required(&ppath.child("protocol"), ""));
        }
        if !p.host_ip.is_empty() {
            for msg in is_valid_ip(&p.host_ip) {
                errs.push(FieldCause::invalid(
                    &ppath.child("hostIP"),
                    &p.host_ip,
                    &msg,
                ));
            }
        }
    }
}

/// Two ports may not claim the same host IP, host port and protocol.
fn check_host_port_conflicts(
    containers: &[Container],
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let mut seen = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        for (j, p) in c.ports.iter().enumerate() {
            if p.host_port == 0 {
                continue;
            }
            let protocol = p.protocol.map(|p| p.as_str()).unwrap_or_default();
            let key = format!("{}/{}/{}", p.host_ip, protocol, p.host_port);
            if !seen.insert(key.clone()) {
                errs.push(FieldCause::duplicate(
                    &path.index(i).child("ports").index(j).child("hostPort"),
                    key,
                ));
            }
        }
    }
}

fn validate_env_var(e: &EnvVar, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if e.name.is_empty() {
        errs.push(FieldCause::required(&path.child("name"), ""));
    } else {
        for msg in is_env_var_name(&e.name) {
            errs.push(FieldCause::invalid(&path.child("name"), &e.name, &msg));
        }
    }
    let Some(from) = &e.value_from else { return };
    let fpath = path.child("valueFrom");
    if !e.value.is_empty() {
        errs.push(FieldCause::invalid(
            &fpath,
            "",
            "may not be specified when `value` is not empty",
        ));
    }
    let sources = usize::from(from.field_ref.is_some())
        + usize::from(from.resource_field_ref.is_some())
        + usize::from(from.config_map_key_ref.is_some())
        + usize::from(from.secret_key_ref.is_some());
    if sources == 0 {
        errs.push(FieldCause::required(
            &fpath,
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ));
        return;
    }
    if sources > 1 && e.value.is_empty() {
        errs.push(FieldCause::invalid(
            &fpath,
            "",
            "may not have more than one field specified at a time",
        ));
    }
    if let Some(field_ref) = &from.field_ref {
        validate_field_selector(field_ref, ENV_FIELD_PATHS, &fpath.child("fieldRef"), errs);
    }
    if let Some(r) = &from.resource_field_ref {
        validate_resource_selector(r, false, &fpath.child("resourceFieldRef"), errs);
    }
    if let Some(k) = &from.config_map_key_ref {
        validate_key_selector(&k.name, &k.key, &fpath.child("configMapKeyRef"), errs);
    }
    if let Some(k) = &from.secret_key_ref {
        validate_key_selector(&k.name, &k.key, &fpath.child("secretKeyRef"), errs);
    }
}

/// `metadata.labels['k']` → `("labels", "k")`, and the same for annotations.
fn subscripted_field(path: &str) -> Option<(&'static str, &str)> {
    for kind in ["labels", "annotations"] {
        let prefix = format!("metadata.{kind}['");
        if let Some(key) = path
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix("']"))
        {
            return Some((kind, key));
        }
    }
    None
}

fn validate_resource_list(list: &ResourceList, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    for (name, quantity) in list {
        let rpath = path.key(name);
        let msgs = is_qualified_name(name);
        let well_formed = msgs.is_empty();
        for msg in msgs {
            errs.push(FieldCause::invalid(&rpath, name, &msg));
        }
        if well_formed
            && !name.contains('/')
            && !STANDARD_CONTAINER_RESOURCES.contains(&name.as_str())
            && !name.starts_with("hugepages-")
        {
            errs.push(FieldCause::invalid(
                &rpath,
                name,
                "must be a standard resource for containers",
            ));
        }
        if quantity.is_negative() {
            errs.push(FieldCause::invalid(
                &rpath,
                quantity.as_str(),
                "must be greater than or equal to 0",
            ));
        }
    }
}

fn validate_resources(r: &ResourceRequirements, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    validate_resource_list(&r.limits, &path.child("limits"), errs);
    validate_resource_list(&r.requests, &path.child("requests"), errs);
    for (name, request) in &r.requests {
        if let Some(limit) = r.limits.get(name) {
            if request.cmp_value(limit).is_gt() {
                errs.push(FieldCause::invalid(
                    &path.child("requests").key(name),
                    request.as_str(),
                    &format!(
                        "must be less than or equal to {name} limit of {}",
                        limit.as_str()
                    ),
                ));
            }
        }
    }
}

/// A port given by number (1–65535) or by name (an IANA service name).
pub(crate) fn validate_port_num_or_name(
    port: &IntOrString,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    match port {
        IntOrString::Int(n) => {
            for msg in is_valid_port_num(i64::from(*n)) {
                errs.push(FieldCause::invalid(path, *n, &msg));
            }
        }
        IntOrString::String(s) => {
            for msg in is_valid_port_name(s) {
                errs.push(FieldCause::invalid(path, s, &msg));
            }
        }
    }
}

/// The handlers probes and lifecycle hooks share: exactly one of `handlers` (name,
/// present) is set, and the exec, httpGet and tcpSocket ones given are well formed.
pub(super) fn validate_handlers(
    handlers: &[(&str, bool)],
    exec: Option<&ExecAction>,
    http: Option<&HttpGetAction>,
    tcp: Option<&TcpSocketAction>,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let mut set = handlers.iter().filter(|(_, present)| *present);
    if set.next().is_none() {
        errs.push(FieldCause::required(path, "must specify a handler type"));
    }
    for (field, _) in set {
        errs.push(FieldCause::forbidden(
            &path.child(field),
            "may not specify more than 1 handler type",
        ));
    }
    if let Some(exec) = exec {
        if exec.command.is_empty() {
            errs.push(FieldCause::required(
                &path.child("exec").child("command"),
                "",
            ));
        }
    }
    if let Some(http) = http {
        let hpath = path.child("httpGet");
        if http.path.is_empty() {
            errs.push(FieldCause::required(&hpath.child("path"), ""));
        }
        validate_port_num_or_name(&http.port, &hpath.child("port"), errs);
        if http.scheme.is_none() {
            errs.push(FieldCause::not_supported(
                &hpath.child("scheme"),
                "",
                &["HTTP", "HTTPS"],
            ));
        }
        for (i, h) in http.http_headers.iter().enumerate() {
            for msg in is_http_header_name(&h.name) {
                errs.push(FieldCause::invalid(
                    &hpath.child("httpHeaders").index(i).child("name"),
                    &h.name,
                    &msg,
                ));
            }
        }
    }
    if let Some(tcp) = tcp {
        validate_port_num_or_name(&tcp.port, &path.child("tcpSocket").child("port"), errs);
    }
}

fn validate_probe(p: &Probe, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let handlers = [
        ("exec", p.exec.is_some()),
        ("httpGet", p.http_get.is_some()),
        ("tcpSocket", p.tcp_socket.is_some()),
        ("grpc", p.grpc.is_some()),
    ];
    validate_handlers(
        &handlers,
        p.exec.as_ref(),
        p.http_get.as_ref(),
        p.tcp_socket.as_ref(),
        path,
        errs,
    );
    if let Some(grpc) = &p.grpc {
        for msg in is_valid_port_num(i64::from(grpc.port)) {
            errs.push(FieldCause::invalid(
                &path.child("grpc").child("port"),
                grpc.port,
                &msg,
            ));
        }
    }
    if p.initial_delay_seconds < 0 {
        errs.push(FieldCause::invalid(
            &path.child("initialDelaySeconds"),
            p.initial_delay_seconds,
            "must be greater than or equal to 0",
        ));
    }
    for (field, value) in [
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if value < 1 {
            errs.push(FieldCause::invalid(
                &path.child(field),
                value,
                "must be greater than or equal to 1",
            ));
        }
    }
    if let Some(t) = p.termination_grace_period_seconds {
        if t <= 0 {
            errs.push(FieldCause::invalid(
                &path.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
}

/// The rules of a pod's tolerations at `path`.
pub(crate) fn validate_tolerations(
    tolerations: &[Toleration],
    path: &FieldPath,
) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let tpath = path.index(i);
        if !t.key.is_empty() {
            for msg in is_qualified_name(&t.key) {
                errs.push(FieldCause::invalid(&tpath.child("key"), &t.key, &msg));
            }
        }
        let operator = t.operator.map(|o| o.as_str()).unwrap_or_default();
        if t.key.is_empty() && t.operator != Some(TolerationOperator::Exists) {
            errs.push(FieldCause::invalid(
                &tpath.child("operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && t.effect != Some(TaintEffect::NoExecute) {
            errs.push(FieldCause::invalid(
                &tpath.child("effect"),
                t.effect.map(|e| e.as_str()).unwrap_or_default(),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        // Kubernetes reports value problems under `operator`; so do we, for clients
        // that match on the path.
        match t.operator {
            None | Some(TolerationOperator::Equal) => {
                let msgs = is_label_value(&t.value);
                if !msgs.is_empty() {
                    errs.push(FieldCause::invalid(
                        &tpath.child("operator"),
                        &t.value,
                        &msgs.join(";"),
                    ));
                }
            }
            Some(TolerationOperator::Exists) => {
                if !t.value.is_empty() {
                    errs.push(FieldCause::invalid(
                        &tpath.child("operator"),
                        &t.value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
        }
    }
    errs
}

/// A required node selector (a pod's required node affinity, a volume's node affinity):
/// at least one term, each valid.
pub(crate) fn validate_node_selector(
    selector: &NodeSelector,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let tpath = path.child("nodeSelectorTerms");
    if selector.node_selector_terms.is_empty() {
        errs.push(FieldCause::required(
            &tpath,
            "must have at least one node selector term",
        ));
    }
    for (i, term) in selector.node_selector_terms.iter().enumerate() {
        validate_node_selector_term(term, &tpath.index(i), errs);
    }
}

fn validate_affinity(affinity: &Affinity, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let Some(na) = &affinity.node_affinity else {
        return;
    };
    let npath = path.child("nodeAffinity");
    if let Some(required) = &na.required_during_scheduling_ignored_during_execution {
        validate_node_selector(
            required,
            &npath.child("requiredDuringSchedulingIgnoredDuringExecution"),
            errs,
        );
    }
    let ppath = npath.child("preferredDuringSchedulingIgnoredDuringExecution");
    for (i, term) in na
        .preferred_during_scheduling_ignored_during_execution
        .iter()
        .enumerate()
    {
        if !(1..=100).contains(&term.weight) {
            errs.push(FieldCause::invalid(
                &ppath.index(i).child("weight"),
                term.weight,
                "must be in the range 1-100",
            ));
        }
        validate_node_selector_term(&term.preference, &ppath.index(i).child("preference"), errs);
    }
}

fn validate_node_selector_term(
    term: &NodeSelectorTerm,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    for (i, r) in term.match_expressions.iter().enumerate() {
        validate_node_selector_requirement(r, &path.child("matchExpressions").index(i), errs);
    }
    for (i, r) in term.match_fields.iter().enumerate() {
        let fpath = path.child("matchFields").index(i);
        match r.operator {
            NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
                if r.values.len() != 1 {
                    errs.push(FieldCause::required(
                        &fpath.child("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    ));
                }
            }
            other => errs.push(FieldCause::invalid(
                &fpath.child("operator"),
                other.as_str(),
                "not a valid selector operator",
            )),
        }
        if r.key != "metadata.name" {
            errs.push(FieldCause::invalid(
                &fpath.child("key"),
                &r.key,
                "not a valid field selector key",
            ));
        }
    }
}

fn validate_node_selector_requirement(
    r: &NodeSelectorRequirement,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let vpath = path.child("values");
    match r.operator {
        NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
            if r.values.is_empty() {
                errs.push(FieldCause::required(
                    &vpath,
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist => {
            if !r.values.is_empty() {
                errs.push(FieldCause::forbidden(
                    &vpath,
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => match r.values.as_slice() {
            [v] => {
                if v.parse::<i64>().is_err() {
                    errs.push(FieldCause::invalid(
                        &vpath.index(0),
                        v,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
            _ => errs.push(FieldCause::required(
                &vpath,
                "must be specified single value when `operator` is 'Lt' or 'Gt'",
            )),
        },
    }
    for msg in is_qualified_name(&r.key) {
        errs.push(FieldCause::invalid(&path.child("key"), &r.key, &msg));
    }
}

/// The update rules of a pod spec: only images, a shorter `activeDeadlineSeconds`, added
/// tolerations (and new `tolerationSeconds`), and a negative grace period turned to 1.
fn validate_pod_spec_update(new: &PodSpec, old: &PodSpec) -> Vec<FieldCause> {
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    let dpath = path.child("activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), Some(o)) if n > o => errs.push(FieldCause::invalid(
            &dpath,
            n,
            "must be less than or equal to previous value",
        )),
        (None, Some(_)) => errs.push(FieldCause::invalid(
            &dpath,
            BadValue::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let kept = old.tolerations.iter().all(|o| {
        new.tolerations.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            o == *n
        })
    });
    if !kept {
        errs.push(FieldCause::forbidden(
            &path.child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }

    // Take the allowed changes back out of the new spec; what differs then is forbidden.
    let mut munged = new.clone();
    for (m, o) in [
        (&mut munged.containers, &old.containers),
        (&mut munged.init_containers, &old.init_containers),
    ] {
        if m.len() == o.len() {
            for (mc, oc) in m.iter_mut().zip(o) {
                mc.image.clone_from(&oc.image);
            }
        }
    }
    munged.active_deadline_seconds = old.active_deadline_seconds;
    munged.tolerations.clone_from(&old.tolerations);
    // Scheduling gates may be removed (checked below), nothing else.
    validate_scheduling_gates_update(new, old, &path, &mut errs);
    munged.scheduling_gates.clone_from(&old.scheduling_gates);
    // Ephemeral containers may be added (their subresource is the only way in).
    validate_ephemeral_update(new, old, &path, &mut errs);
    munged
        .ephemeral_containers
        .clone_from(&old.ephemeral_containers);
    if let (Some(o), Some(1)) = (
        old.termination_grace_period_seconds,
        new.termination_grace_period_seconds,
    ) {
        if o < 0 {
            munged.termination_grace_period_seconds = Some(o);
        }
    }
    if munged != *old {
        errs.push(FieldCause::forbidden(&path, POD_UPDATE_FORBIDDEN));
    }
    errs
}

/// The rules of a pod on create and on update.
fn validate_pod(pod: &Pod) -> Vec<FieldCause> {
    let mut errs = validate_object_meta(&pod.metadata, NameRule::Dns1123Subdomain);
    errs.extend(validate_pod_spec(
        &pod.spec,
        &FieldPath::new("spec"),
        PodSpecContext::Pod,
    ));
    errs
}

impl Validate for Pod {
    fn validate(&self) -> Vec<FieldCause> {
        validate_pod(self)
    }

    fn validate_create(&self) -> Vec<FieldCause> {
        let mut errs = Vec::new();
        let path = FieldPath::new("spec");
        validate_no_ephemeral_on_create(&self.spec, &path, &mut errs);
        if !self.spec.node_name.is_empty() && !self.spec.scheduling_gates.is_empty() {
            errs.push(FieldCause::forbidden(
                &path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = validate_pod(self);
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs.extend(validate_pod_spec_update(&self.spec, &old.spec));
        errs
    }
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::{
        ConfigMapVolumeSource, EmptyDirVolumeSource, EnvVarSource, ExecAction,
        HostPathVolumeSource, HttpGetAction, HttpHeader, KeyToPath, NodeAffinity, NodeSelector,
        ObjectFieldSelector, PreferredSchedulingTerm, Quantity, SecretVolumeSource,
        TcpSocketAction, VolumeMount,
    };

    use super::super::testutil::assert_causes;
    use super::super::CauseReason::{self, *};
    use super::*;
    use crate::apiserver::defaults::Defaults;

    /// A minimal valid pod, defaulted as the apiserver would before validating.
    pub(crate) fn valid_pod() -> Pod {
        let mut pod = Pod::new("web");
        pod.metadata.namespace = "default".into();
        pod.spec.containers.push(Container {
            name: "web".into(),
            image: "nginx:1.25".into(),
            ports: vec![ContainerPort {
                name: "http".into(),
                container_port: 80,
                ..ContainerPort::default()
            }],
            ..Container::default()
        });
        pod.apply_defaults();
        pod
    }

    fn probe_tcp() -> Probe {
        let mut p = Probe {
            tcp_socket: Some(TcpSocketAction {
                port: IntOrString::Int(80),
                host: String::new(),
            }),
            ..Probe::default()
        };
        p.timeout_seconds = 1;
        p.period_seconds = 10;
        p.success_threshold = 1;
        p.failure_threshold = 3;
        p
    }

    fn q(s: &str) -> Quantity {
        match Quantity::parse(s) {
            Ok(q) => q,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn toleration(key: &str, op: Option<TolerationOperator>, value: &str) -> Toleration {
        Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            ..Toleration::default()
        }
    }

    fn node_req(
        key: &str,
        operator: NodeSelectorOperator,
        values: &[&str],
    ) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn required_affinity(term: NodeSelectorTerm) -> Option<Affinity> {
        Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![term],
                }),
                ..NodeAffinity::default()
            }),
            ..Default::default()
        })
    }

    type PodCase = (
        &'static str,
        fn(&mut Pod),
        &'static [(&'static str, CauseReason)],
    );

    const C0: &str = "spec.containers[0]";

    #[test]
    fn pod_create_table() {
        let table: &[PodCase] = &[
            ("valid", |_| {}, &[]),
            ("bad name", |p| p.metadata.name = "Web_1".into(), &[("metadata.name", Invalid)]),
            ("no containers", |p| p.spec.containers.clear(), &[("spec.containers", Required)]),
            (
                "container without a name",
                |p| p.spec.containers[0].name.clear(),
                &[("spec.containers[0].name", Required)],
            ),
            (
                "container name not a label",
                |p| p.spec.containers[0].name = "Web".into(),
                &[("spec.containers[0].name", Invalid)],
            ),
            (
                "duplicate container names",
                |p| {
                    let mut c = p.spec.containers[0].clone();
                    c.ports.clear();
                    p.spec.containers.push(c);
                },
                &[("spec.containers[1].name", Duplicate)],
            ),
            (
                "init container named like an app container",
                |p| {
                    let mut c = p.spec.containers[0].clone();
                    c.ports.clear();
                    p.spec.init_containers.push(c);
                },
                &[("spec.initContainers[0].name", Duplicate)],
            ),
            ("no image", |p| p.spec.containers[0].image.clear(), &[("spec.containers[0].image", Required)]),
            (
                "image with whitespace",
                |p| p.spec.containers[0].image = " nginx".into(),
                &[("spec.containers[0].image", Invalid)],
            ),
            (
                "container port zero",
                |p| p.spec.containers[0].ports[0].container_port = 0,
                &[("spec.containers[0].ports[0].containerPort", Required)],
            ),
            (
                "container port too big",
                |p| p.spec.containers[0].ports[0].container_port = 70000,
                &[("spec.containers[0].ports[0].containerPort", Invalid)],
            ),
            (
                "host port negative",
                |p| p.spec.containers[0].ports[0].host_port = -1,
                &[("spec.containers[0].ports[0].hostPort", Invalid)],
            ),
            (
                "port without protocol",
                |p| p.spec.containers[0].ports[0].protocol = None,
                &[("spec.containers[0].ports[0].protocol", Required)],
            ),
            (
                "bad port name",
                |p| p.spec.containers[0].ports[0].name = "web_1".into(),
                &[("spec.containers[0].ports[0].name", Invalid)],
            ),
            (
                "duplicate port names",
                |p| {
                    let mut port = p.spec.containers[0].ports[0].clone();
                    port.container_port = 81;
                    p.spec.containers[0].ports.push(port);
                },
                &[("spec.containers[0].ports[1].name", Duplicate)],
            ),
            (
                "bad host IP",
                |p| p.spec.containers[0].ports[0].host_ip = "300.1.1.1".into(),
                &[("spec.containers[0].ports[0].hostIP", Invalid)],
            ),
            (
                "conflicting host ports",
                |p| {
                    let c = &mut p.spec.containers[0];
                    c.ports[0].host_port = 8080;
                    let mut other = c.ports[0].clone();
                    other.name = "other".into();
                    other.container_port = 81;
                    c.ports.push(other);
                },
                &[("spec.containers[0].ports[1].hostPort", Duplicate)],
            ),
            (
                "host network with a different host port",
                |p| {
                    p.spec.host_network = true;
                    p.spec.containers[0].ports[0].host_port = 8080;
                },
                &[("spec.containers[0].ports[0].containerPort", Invalid)],
            ),
            (
                "env without name",
                |p| p.spec.containers[0].env.push(EnvVar::default()),
                &[("spec.containers[0].env[0].name", Required)],
            ),
            (
                "env name with equals",
                |p| {
                    p.spec.containers[0].env.push(EnvVar {
                        name: "A=B".into(),
                        value: "x".into(),
                        value_from: None,
                    })
                },
                &[("spec.containers[0].env[0].name", Invalid)],
            ),
            (
                "env value and valueFrom",
                |p| {
                    p.spec.containers[0].env.push(EnvVar {
                        name: "POD".into(),
                        value: "x".into(),
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                api_version: "v1".into(),
                                field_path: "metadata.name".into(),
                            }),
                            ..Default::default()
                        }),
                    })
                },
                &[("spec.containers[0].env[0].valueFrom", Invalid)],
            ),
            (
                "env valueFrom without a source",
                |p| {
                    p.spec.containers[0].env.push(EnvVar {
                        name: "POD".into(),
                        value: String::new(),
                        value_from: Some(EnvVarSource::default()),
                    })
                },
                &[("spec.containers[0].env[0].valueFrom", Required)],
            ),
            (
                "env fieldRef to an unsupported field",
                |p| {
                    p.spec.containers[0].env.push(EnvVar {
                        name: "POD".into(),
                        value: String::new(),
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                api_version: "v1".into(),
                                field_path: "spec.containers".into(),
                            }),
                            ..Default::default()
                        }),
                    })
                },
                &[("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", NotSupported)],
            ),
            (
                "env fieldRef to a label",
                |p| {
                    p.spec.containers[0].env.push(EnvVar {
                        name: "APP".into(),
                        value: String::new(),
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                api_version: "v1".into(),
                                field_path: "metadata.labels['app']".into(),
                            }),
                            ..Default::default()
                        }),
                    })
                },
                &[],
            ),
            (
                "requests within limits",
                |p| {
                    let r = &mut p.spec.containers[0].resources;
                    r.limits.insert("cpu".into(), q("1"));
                    r.requests.insert("cpu".into(), q("500m"));
                    r.limits.insert("memory".into(), q("1Gi"));
                    r.requests.insert("memory".into(), q("1024Mi"));
                },
                &[],
            ),
            (
                "request above limit",
                |p| {
                    let r = &mut p.spec.containers[0].resources;
                    r.limits.insert("cpu".into(), q("500m"));
                    r.requests.insert("cpu".into(), q("1"));
                },
                &[("spec.containers[0].resources.requests[cpu]", Invalid)],
            ),
            (
                "negative limit",
                |p| {
                    p.spec.containers[0].resources.limits.insert("memory".into(), q("-1"));
                },
                &[("spec.containers[0].resources.limits[memory]", Invalid)],
            ),
            (
                "non-standard resource",
                |p| {
                    p.spec.containers[0].resources.requests.insert("gpu".into(), q("1"));
                },
                &[("spec.containers[0].resources.requests[gpu]", Invalid)],
            ),
            (
                "extended resource",
                |p| {
                    p.spec.containers[0].resources.limits.insert("example.com/gpu".into(), q("1"));
                },
                &[],
            ),
            ("no restart policy", |p| p.spec.restart_policy = None, &[("spec.restartPolicy", Required)]),
            ("no dns policy", |p| p.spec.dns_policy = None, &[("spec.dnsPolicy", Required)]),
            (
                "no image pull policy",
                |p| p.spec.containers[0].image_pull_policy = None,
                &[("spec.containers[0].imagePullPolicy", Required)],
            ),
            (
                "no termination message policy",
                |p| p.spec.containers[0].termination_message_policy = None,
                &[("spec.containers[0].terminationMessagePolicy", Required)],
            ),
            (
                "negative grace period",
                |p| p.spec.termination_grace_period_seconds = Some(-1),
                &[("spec.terminationGracePeriodSeconds", Invalid)],
            ),
            (
                "zero active deadline",
                |p| p.spec.active_deadline_seconds = Some(0),
                &[("spec.activeDeadlineSeconds", Invalid)],
            ),
            (
                "bad node selector",
                |p| {
                    p.spec.node_selector.insert("disk type".into(), "ssd".into());
                },
                &[("spec.nodeSelector", Invalid)],
            ),
            (
                "bad service account name",
                |p| p.spec.service_account_name = "Default".into(),
                &[("spec.serviceAccountName", Invalid)],
            ),
            (
                "bad node name",
                |p| p.spec.node_name = "node_1".into(),
                &[("spec.nodeName", Invalid)],
            ),
            (
                "bad hostname",
                |p| p.spec.hostname = "a.b".into(),
                &[("spec.hostname", Invalid)],
            ),
            (
                "valid volume and mount",
                |p| {
                    p.spec.volumes.push(Volume {
                        name: "data".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    });
                    p.spec.containers[0].volume_mounts.push(VolumeMount {
                        name: "data".into(),
                        read_only: false,
                        mount_path: "/data".into(),
                        ..Default::default()
                    });
                },
                &[],
            ),
            (
                "mount of a missing volume",
                |p| {
                    p.spec.containers[0].volume_mounts.push(VolumeMount {
                        name: "data".into(),
                        read_only: false,
                        mount_path: "/data".into(),
                        ..Default::default()
                    });
                },
                &[("spec.containers[0].volumeMounts[0].name", NotFound)],
            ),
            (
                "duplicate mount paths",
                |p| {
                    p.spec.volumes.push(Volume {
                        name: "data".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    });
                    for _ in 0..2 {
                        p.spec.containers[0].volume_mounts.push(VolumeMount {
                            name: "data".into(),
                            read_only: false,
                            mount_path: "/data".into(),
                            ..Default::default()
                        });
                    }
                },
                &[("spec.containers[0].volumeMounts[1].mountPath", Invalid)],
            ),
            (
                "volume without a source",
                |p| {
                    p.spec.volumes.push(Volume {
                        name: "data".into(),
                        ..Volume::default()
                    })
                },
                &[("spec.volumes[0]", Required)],
            ),
            (
                "volume with two sources",
                |p| {
                    p.spec.volumes.push(Volume {
                        name: "data".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        host_path: Some(HostPathVolumeSource {
                            path: "/tmp".into(),
                            type_: None,
                        }),
                        ..Volume::default()
                    })
                },
                &[("spec.volumes[0].emptyDir", Forbidden)],
            ),
            (
                "duplicate volume names and a bad host path type",
                |p| {
                    for _ in 0..2 {
                        p.spec.volumes.push(Volume {
                            name: "data".into(),
                            host_path: Some(HostPathVolumeSource {
                                path: "/tmp".into(),
                                type_: Some("Folder".into()),
                            }),
                            ..Volume::default()
                        });
                    }
                },
                &[
                    ("spec.volumes[0].hostPath.type", NotSupported),
                    ("spec.volumes[1].name", Duplicate),
                    ("spec.volumes[1].hostPath.type", NotSupported),
                ],
            ),
            (
                "secret and config map volumes",
                |p| {
                    p.spec.volumes.push(Volume {
                        name: "s".into(),
                        secret: Some(SecretVolumeSource {
                            default_mode: Some(0o1000),
                            ..SecretVolumeSource::default()
                        }),
                        ..Volume::default()
                    });
                    p.spec.volumes.push(Volume {
                        name: "c".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "cfg".into(),
                            items: vec![KeyToPath {
                                key: "a".into(),
                                path: "../etc/passwd".into(),
                                mode: None,
                            }],
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    });
                },
                &[
                    ("spec.volumes[0].secret.secretName", Required),
                    ("spec.volumes[0].secret.defaultMode", Invalid),
                    ("spec.volumes[1].configMap.items[0].path", Invalid),
                    ("spec.volumes[1].configMap.items[0].path", Invalid),
                ],
            ),
            (
                "env from config maps, secrets and resources",
                |p| {
                    use rudder_protocol::resources::{
                        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource,
                        ResourceFieldSelector, SecretKeySelector,
                    };
                    let c = &mut p.spec.containers[0];
                    let from = |source: EnvVarSource| EnvVar {
                        name: "X".into(),
                        value: String::new(),
                        value_from: Some(source),
                    };
                    c.env = vec![
                        from(EnvVarSource {
                            config_map_key_ref: Some(ConfigMapKeySelector {
                                name: "cfg".into(),
                                key: "k".into(),
                                optional: None,
                            }),
                            ..Default::default()
                        }),
                        from(EnvVarSource {
                            secret_key_ref: Some(SecretKeySelector {
                                name: String::new(),
                                key: "bad key".into(),
                                optional: None,
                            }),
                            ..Default::default()
                        }),
                        from(EnvVarSource {
                            resource_field_ref: Some(ResourceFieldSelector {
                                container_name: String::new(),
                                resource: "limits.gpu".into(),
                                divisor: None,
                            }),
                            ..Default::default()
                        }),
                        from(EnvVarSource {
                            resource_field_ref: Some(ResourceFieldSelector {
                                container_name: String::new(),
                                resource: "limits.cpu".into(),
                                divisor: Some(q("2")),
                            }),
                            config_map_key_ref: Some(ConfigMapKeySelector {
                                name: "cfg".into(),
                                key: "k".into(),
                                optional: None,
                            }),
                            ..Default::default()
                        }),
                    ];
                    c.env_from = vec![
                        EnvFromSource {
                            prefix: "A=".into(),
                            config_map_ref: Some(ConfigMapEnvSource {
                                name: "cfg".into(),
                                optional: None,
                            }),
                            secret_ref: None,
                        },
                        EnvFromSource::default(),
                    ];
                },
                &[
                    ("spec.containers[0].env[1].valueFrom.secretKeyRef.name", Required),
                    ("spec.containers[0].env[1].valueFrom.secretKeyRef.key", Invalid),
                    ("spec.containers[0].env[2].valueFrom.resourceFieldRef.resource", NotSupported),
                    ("spec.containers[0].env[3].valueFrom", Invalid),
                    ("spec.containers[0].env[3].valueFrom.resourceFieldRef.divisor", Invalid),
                    ("spec.containers[0].envFrom[0].prefix", Invalid),
                    ("spec.containers[0].envFrom", Invalid),
                ],
            ),
            (
                "downward API and projected volumes",
                |p| {
                    use rudder_protocol::resources::{
                        ConfigMapProjection, DownwardApiProjection, DownwardApiVolumeFile,
                        DownwardApiVolumeSource, ProjectedVolumeSource, SecretProjection,
                        VolumeProjection,
                    };
                    let file = |path: &str, field_path: &str| DownwardApiVolumeFile {
                        path: path.into(),
                        field_ref: Some(ObjectFieldSelector {
                            api_version: "v1".into(),
                            field_path: field_path.into(),
                        }),
                        ..Default::default()
                    };
                    p.spec.volumes.push(Volume {
                        name: "d".into(),
                        downward_api: Some(DownwardApiVolumeSource {
                            items: vec![
                                file("labels", "metadata.labels"),
                                file("ip", "status.podIP"),
                                file("..x", "metadata.name"),
                                DownwardApiVolumeFile {
                                    path: "none".into(),
                                    mode: Some(0o1777),
                                    ..Default::default()
                                },
                            ],
                            default_mode: None,
                        }),
                        ..Volume::default()
                    });
                    let item = |key: &str, path: &str| KeyToPath {
                        key: key.into(),
                        path: path.into(),
                        mode: None,
                    };
                    p.spec.volumes.push(Volume {
                        name: "p".into(),
                        projected: Some(ProjectedVolumeSource {
                            sources: vec![
                                VolumeProjection {
                                    config_map: Some(ConfigMapProjection {
                                        name: "cfg".into(),
                                        items: vec![item("a", "same")],
                                        optional: None,
                                    }),
                                    ..Default::default()
                                },
                                VolumeProjection {
                                    secret: Some(SecretProjection {
                                        name: "s".into(),
                                        items: vec![item("b", "same")],
                                        optional: None,
                                    }),
                                    downward_api: Some(DownwardApiProjection {
                                        items: vec![file("name", "metadata.name")],
                                    }),
                                    ..Default::default()
                                },
                            ],
                            default_mode: Some(-1),
                        }),
                        ..Volume::default()
                    });
                    p.spec.volumes.push(Volume {
                        name: "two".into(),
                        downward_api: Some(DownwardApiVolumeSource::default()),
                        projected: Some(ProjectedVolumeSource::default()),
                        ..Volume::default()
                    });
                },
                &[
                    ("spec.volumes[0].downwardAPI.items[1].fieldRef.fieldPath", NotSupported),
                    ("spec.volumes[0].downwardAPI.items[2].path", Invalid),
                    ("spec.volumes[0].downwardAPI.items[3]", Required),
                    ("spec.volumes[0].downwardAPI.items[3].mode", Invalid),
                    ("spec.volumes[1].projected.defaultMode", Invalid),
                    ("spec.volumes[1].projected", Invalid),
                    ("spec.volumes[1].projected.sources[1]", Forbidden),
                    ("spec.volumes[2].projected", Forbidden),
                ],
            ),
            (
                "valid probes",
                |p| {
                    p.spec.containers[0].liveness_probe = Some(probe_tcp());
                    let mut r = probe_tcp();
                    r.tcp_socket = None;
                    r.http_get = Some(HttpGetAction {
                        path: "/healthz".into(),
                        port: IntOrString::String("http".into()),
                        scheme: Some(rudder_protocol::resources::UriScheme::Http),
                        http_headers: vec![HttpHeader {
                            name: "X-Probe".into(),
                            value: "1".into(),
                        }],
                        ..HttpGetAction::default()
                    });
                    r.success_threshold = 2;
                    p.spec.containers[0].readiness_probe = Some(r);
                },
                &[],
            ),
            (
                "probe without handler",
                |p| {
                    let mut probe = probe_tcp();
                    probe.tcp_socket = None;
                    p.spec.containers[0].liveness_probe = Some(probe);
                },
                &[("spec.containers[0].livenessProbe", Required)],
            ),
            (
                "probe with two handlers",
                |p| {
                    let mut probe = probe_tcp();
                    probe.exec = Some(ExecAction {
                        command: vec!["true".into()],
                    });
                    p.spec.containers[0].readiness_probe = Some(probe);
                },
                &[("spec.containers[0].readinessProbe.tcpSocket", Forbidden)],
            ),
            (
                "exec probe without command",
                |p| {
                    let mut probe = probe_tcp();
                    probe.tcp_socket = None;
                    probe.exec = Some(ExecAction::default());
                    p.spec.containers[0].readiness_probe = Some(probe);
                },
                &[("spec.containers[0].readinessProbe.exec.command", Required)],
            ),
            (
                "probe port out of range",
                |p| {
                    let mut probe = probe_tcp();
                    probe.tcp_socket = Some(TcpSocketAction {
                        port: IntOrString::Int(0),
                        host: String::new(),
                    });
                    p.spec.containers[0].readiness_probe = Some(probe);
                },
                &[("spec.containers[0].readinessProbe.tcpSocket.port", Invalid)],
            ),
            (
                "probe thresholds",
                |p| {
                    let mut probe = probe_tcp();
                    probe.failure_threshold = 0;
                    probe.period_seconds = -1;
                    probe.initial_delay_seconds = -1;
                    p.spec.containers[0].readiness_probe = Some(probe);
                },
                &[
                    ("spec.containers[0].readinessProbe.failureThreshold", Invalid),
                    ("spec.containers[0].readinessProbe.periodSeconds", Invalid),
                    ("spec.containers[0].readinessProbe.initialDelaySeconds", Invalid),
                ],
            ),
            (
                "liveness success threshold above 1",
                |p| {
                    let mut probe = probe_tcp();
                    probe.success_threshold = 2;
                    p.spec.containers[0].liveness_probe = Some(probe);
                },
                &[("spec.containers[0].livenessProbe.successThreshold", Invalid)],
            ),
            (
                "probe on an init container",
                |p| {
                    p.spec.init_containers.push(Container {
                        name: "init".into(),
                        image: "busybox".into(),
                        image_pull_policy: Some(rudder_protocol::resources::PullPolicy::Always),
                        termination_message_policy: Some(
                            rudder_protocol::resources::TerminationMessagePolicy::File,
                        ),
                        readiness_probe: Some(probe_tcp()),
                        ..Container::default()
                    });
                },
                &[("spec.initContainers[0].readinessProbe", Forbidden)],
            ),
            (
                "valid tolerations",
                |p| {
                    p.spec.tolerations = vec![
                        toleration("", Some(TolerationOperator::Exists), ""),
                        toleration("dedicated", None, "gpu"),
                        Toleration {
                            key: "node.kubernetes.io/unreachable".into(),
                            operator: Some(TolerationOperator::Exists),
                            effect: Some(TaintEffect::NoExecute),
                            toleration_seconds: Some(300),
                            ..Toleration::default()
                        },
                    ];
                },
                &[],
            ),
            (
                "empty key needs Exists",
                |p| p.spec.tolerations = vec![toleration("", Some(TolerationOperator::Equal), "")],
                &[("spec.tolerations[0].operator", Invalid)],
            ),
            (
                "Exists with a value",
                |p| p.spec.tolerations = vec![toleration("k", Some(TolerationOperator::Exists), "v")],
                &[("spec.tolerations[0].operator", Invalid)],
            ),
            (
                "bad toleration key and value",
                |p| p.spec.tolerations = vec![toleration("a b", None, "-v")],
                &[("spec.tolerations[0].key", Invalid), ("spec.tolerations[0].operator", Invalid)],
            ),
            (
                "tolerationSeconds without NoExecute",
                |p| {
                    p.spec.tolerations = vec![Toleration {
                        key: "k".into(),
                        operator: Some(TolerationOperator::Exists),
                        effect: Some(TaintEffect::NoSchedule),
                        toleration_seconds: Some(10),
                        ..Toleration::default()
                    }]
                },
                &[("spec.tolerations[0].effect", Invalid)],
            ),
            (
                "valid node affinity",
                |p| {
                    p.spec.affinity = required_affinity(NodeSelectorTerm {
                        match_expressions: vec![
                            node_req("zone", NodeSelectorOperator::In, &["a", "b"]),
                            node_req("gpu", NodeSelectorOperator::DoesNotExist, &[]),
                            node_req("cores", NodeSelectorOperator::Gt, &["4"]),
                        ],
                        match_fields: vec![node_req("metadata.name", NodeSelectorOperator::In, &["n1"])],
                    });
                },
                &[],
            ),
            (
                "In without values",
                |p| {
                    p.spec.affinity = required_affinity(NodeSelectorTerm {
                        match_expressions: vec![node_req("zone", NodeSelectorOperator::In, &[])],
                        ..NodeSelectorTerm::default()
                    });
                },
                &[(
                    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
                    Required,
                )],
            ),
            (
                "Exists with values",
                |p| {
                    p.spec.affinity = required_affinity(NodeSelectorTerm {
                        match_expressions: vec![node_req("zone", NodeSelectorOperator::Exists, &["a"])],
                        ..NodeSelectorTerm::default()
                    });
                },
                &[(
                    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
                    Forbidden,
                )],
            ),
            (
                "Gt with two values",
                |p| {
                    p.spec.affinity = required_affinity(NodeSelectorTerm {
                        match_expressions: vec![node_req("cores", NodeSelectorOperator::Gt, &["1", "2"])],
                        ..NodeSelectorTerm::default()
                    });
                },
                &[(
                    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
                    Required,
                )],
            ),
            (
                "Lt with a word",
                |p| {
                    p.spec.affinity = required_affinity(NodeSelectorTerm {
                        match_expressions: vec![node_req("cores", NodeSelectorOperator::Lt, &["many"])],
                        ..NodeSelectorTerm::default()
                    });
                },
                &[(
                    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]",
                    Invalid,
                )],
            ),
            (
                "bad key and field",
                |p| {
                    p.spec.affinity = required_affinity(NodeSelectorTerm {
                        match_expressions: vec![node_req("a b", NodeSelectorOperator::Exists, &[])],
                        match_fields: vec![node_req("metadata.uid", NodeSelectorOperator::Exists, &[])],
                    });
                },
                &[
                    (
                        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key",
                        Invalid,
                    ),
                    (
                        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key",
                        Invalid,
                    ),
                    (
                        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].operator",
                        Invalid,
                    ),
                ],
            ),
            (
                "no terms",
                |p| {
                    p.spec.affinity = Some(Affinity {
                        node_affinity: Some(NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(NodeSelector::default()),
                            ..NodeAffinity::default()
                        }),
                        ..Default::default()
                    });
                },
                &[(
                    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
                    Required,
                )],
            ),
            (
                "preferred weight out of range",
                |p| {
                    p.spec.affinity = Some(Affinity {
                        node_affinity: Some(NodeAffinity {
                            preferred_during_scheduling_ignored_during_execution: vec![PreferredSchedulingTerm {
                                weight: 0,
                                preference: NodeSelectorTerm {
                                    match_expressions: vec![node_req("zone", NodeSelectorOperator::In, &["a"])],
                                    ..NodeSelectorTerm::default()
                                },
                            }],
                            ..NodeAffinity::default()
                        }),
                        ..Default::default()
                    });
                },
                &[(
                    "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
                    Invalid,
                )],
            ),
        ];
        for (name, mutate, want) in table {
            let mut pod = valid_pod();
            mutate(&mut pod);
            assert_causes(name, &pod.validate(), want);
        }
    }

    #[test]
    fn pod_messages() {
        let mut pod = valid_pod();
        pod.spec.containers[0].image.clear();
        let causes = pod.validate();
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].to_string(), format!("{C0}.image: Required value"));

        let mut pod = valid_pod();
        let r = &mut pod.spec.containers[0].resources;
        r.limits.insert("cpu".into(), q("500m"));
        r.requests.insert("cpu".into(), q("1"));
        let causes = pod.validate();
        assert_eq!(
            causes[0].message,
            "Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
        );

        let mut pod = valid_pod();
        pod.spec.containers[0].ports[0].container_port = 70000;
        assert_eq!(
            pod.validate()[0].message,
            "Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
    }

    #[test]
    fn template_may_omit_image() {
        let mut pod = valid_pod();
        pod.spec.containers[0].image.clear();
        let causes = validate_pod_spec(
            &pod.spec,
            &FieldPath::new("spec").child("template").child("spec"),
            PodSpecContext::Template,
        );
        assert_causes("template without image", &causes, &[]);
    }

    type UpdateCase = (
        &'static str,
        fn(&mut Pod, &mut Pod),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn pod_update_table() {
        let table: &[UpdateCase] = &[
            ("unchanged", |_, _| {}, &[]),
            (
                "image",
                |new, _| new.spec.containers[0].image = "nginx:1.26".into(),
                &[],
            ),
            (
                "labels",
                |new, _| {
                    new.metadata.labels.insert("a".into(), "b".into());
                },
                &[],
            ),
            (
                "port",
                |new, _| new.spec.containers[0].ports[0].container_port = 81,
                &[("spec", Forbidden)],
            ),
            (
                "node name",
                |new, _| new.spec.node_name = "n1".into(),
                &[("spec", Forbidden)],
            ),
            (
                "added container",
                |new, _| {
                    let mut c = new.spec.containers[0].clone();
                    c.name = "side".into();
                    c.ports.clear();
                    new.spec.containers.push(c);
                },
                &[("spec", Forbidden)],
            ),
            (
                "set active deadline",
                |new, _| new.spec.active_deadline_seconds = Some(30),
                &[],
            ),
            (
                "shorter active deadline",
                |new, old| {
                    old.spec.active_deadline_seconds = Some(60);
                    new.spec.active_deadline_seconds = Some(30);
                },
                &[],
            ),
            (
                "longer active deadline",
                |new, old| {
                    old.spec.active_deadline_seconds = Some(30);
                    new.spec.active_deadline_seconds = Some(60);
                },
                &[("spec.activeDeadlineSeconds", Invalid)],
            ),
            (
                "removed active deadline",
                |new, old| {
                    old.spec.active_deadline_seconds = Some(30);
                    new.spec.active_deadline_seconds = None;
                },
                &[("spec.activeDeadlineSeconds", Invalid)],
            ),
            (
                "added toleration",
                |new, _| {
                    new.spec
                        .tolerations
                        .push(toleration("k", Some(TolerationOperator::Exists), ""))
                },
                &[],
            ),
            (
                "changed tolerationSeconds",
                |new, old| {
                    let t = Toleration {
                        key: "k".into(),
                        operator: Some(TolerationOperator::Exists),
                        effect: Some(TaintEffect::NoExecute),
                        toleration_seconds: Some(300),
                        ..Toleration::default()
                    };
                    old.spec.tolerations.push(t.clone());
                    new.spec.tolerations.push(Toleration {
                        toleration_seconds: Some(60),
                        ..t
                    });
                },
                &[],
            ),
            (
                "removed toleration",
                |_, old| {
                    old.spec
                        .tolerations
                        .push(toleration("k", Some(TolerationOperator::Exists), ""))
                },
                &[("spec.tolerations", Forbidden)],
            ),
            (
                "negative grace period to 1",
                |new, old| {
                    old.spec.termination_grace_period_seconds = Some(-1);
                    new.spec.termination_grace_period_seconds = Some(1);
                },
                &[],
            ),
            (
                "grace period changed",
                |new, _| new.spec.termination_grace_period_seconds = Some(5),
                &[("spec", Forbidden)],
            ),
            (
                "renamed",
                |new, _| new.metadata.name = "other".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "image removed",
                |new, _| new.spec.containers[0].image.clear(),
                &[("spec.containers[0].image", Required)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut old = valid_pod();
            let mut new = old.clone();
            mutate(&mut new, &mut old);
            assert_causes(name, &new.validate_update(&old), want);
        }
        let mut old = valid_pod();
        old.spec.containers[0].ports.clear();
        let mut new = old.clone();
        new.spec.restart_policy = Some(rudder_protocol::resources::RestartPolicy::Never);
        let causes = new.validate_update(&old);
        assert_eq!(
            causes[0].message,
            format!("Forbidden: {POD_UPDATE_FORBIDDEN}")
        );
    }
}
