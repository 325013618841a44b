//! The runtime specs of a pod: container names and labels, container specs (env,
//! resources), volumes and mounts (with `subPath`, `subPathExpr` and mount
//! propagation), the files the kubelet binds into every container (`/etc/hosts`,
//! `/etc/resolv.conf`, the termination message file), the image pull policy. Pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rudder_protocol::resources::{Container, Pod, PullPolicy};

use crate::kubelet::podconfig::is_projected;
use crate::kubelet::runtime::{labels, ContainerSpec, Mount, MountSource, VolumeSpec};

use super::*;

/// The Docker container name of a pod's container or sandbox (`None`).
pub fn container_name(pod: &Pod, container: Option<&str>, attempt: u32) -> String {
    let uid: String = pod.metadata.uid.chars().take(8).collect();
    format!(
        "rudder_{}_{}_{}_{}_{}",
        container.unwrap_or("POD"),
        pod.metadata.name,
        pod.metadata.namespace,
        uid,
        attempt
    )
}

pub(super) fn pod_labels(pod: &Pod, node: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::POD_NAMESPACE.to_owned(),
            pod.metadata.namespace.clone(),
        ),
        (labels::POD_NAME.to_owned(), pod.metadata.name.clone()),
        (labels::POD_UID.to_owned(), pod.metadata.uid.clone()),
        (labels::NODE.to_owned(), node.to_owned()),
    ])
}

/// The runtime spec of container `c` of `pod`, with its resolved environment `env`
/// (`NAME=value` pairs, see [`crate::kubelet::podconfig::resolve_env`]).
pub fn container_spec(
    pod: &Pod,
    c: &Container,
    attempt: u32,
    sandbox_id: &str,
    node: &NodeContext,
    env: Vec<String>,
) -> ContainerSpec {
    let mut labels = pod_labels(pod, &node.node);
    labels.insert(labels::CONTAINER_NAME.into(), c.name.clone());
    labels.insert(labels::ATTEMPT.into(), attempt.to_string());
    labels.insert(labels::KIND.into(), "container".into());
    let mut spec = ContainerSpec {
        name: container_name(pod, Some(&c.name), attempt),
        image: c.image.clone(),
        entrypoint: c.command.clone(),
        args: c.args.clone(),
        env,
        working_dir: (!c.working_dir.is_empty()).then(|| c.working_dir.clone()),
        sandbox_id: sandbox_id.to_owned(),
        labels,
        ..Default::default()
    };
    crate::kubelet::security::apply_resources(c, &mut spec, node.options.pod_pids_limit);
    spec
}

/// The host file of the pod's kubelet-managed `/etc/hosts`.
pub fn hosts_path(pods_dir: &Path, uid: &str) -> PathBuf {
    pods_dir.join(uid).join("etc-hosts")
}

/// The host file of the pod's `resolv.conf`.
pub fn resolv_conf_path(pods_dir: &Path, uid: &str) -> PathBuf {
    pods_dir.join(uid).join("resolv.conf")
}

/// The files the kubelet binds into container `c` of `pod` (attempt `attempt`): the
/// pod's `/etc/hosts` and `/etc/resolv.conf` (unless the container mounts something at
/// those paths itself), and its termination message file at `terminationMessagePath`.
pub fn pod_file_mounts(pod: &Pod, c: &Container, attempt: u32, pods_dir: &Path) -> Vec<Mount> {
    let uid = &pod.metadata.uid;
    let taken = |path: &str| c.volume_mounts.iter().any(|m| m.mount_path == path);
    let bind = |source: PathBuf, target: &str| Mount {
        source: MountSource::HostPath(source.to_string_lossy().into_owned()),
        target: target.to_owned(),
        read_only: false,
        propagation: None,
    };
    let mut mounts = Vec::new();
    if !taken("/etc/hosts") {
        mounts.push(bind(hosts_path(pods_dir, uid), "/etc/hosts"));
    }
    if !taken("/etc/resolv.conf") {
        mounts.push(bind(resolv_conf_path(pods_dir, uid), "/etc/resolv.conf"));
    }
    let target = if c.termination_message_path.is_empty() {
        "/dev/termination-log"
    } else {
        &c.termination_message_path
    };
    if !taken(target) {
        let file = crate::kubelet::lifecycle::termination_log_path(pods_dir, uid, &c.name, attempt);
        mounts.push(bind(file, target));
    }
    mounts
}

/// A `subPath` (or `subPathExpr` expanded from the container's environment `env`,
/// `NAME=value` pairs) checked to stay inside its volume; `""` for none.
pub fn sub_path(
    m: &rudder_protocol::resources::VolumeMount,
    container: &str,
    env: &[String],
) -> Result<String, String> {
    let sub = if m.sub_path_expr.is_empty() {
        m.sub_path.clone()
    } else {
        let vars: BTreeMap<String, String> = env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        crate::kubelet::podconfig::expand(&m.sub_path_expr, &vars)
    };
    if Path::new(&sub).is_absolute() || sub.split('/').any(|p| p == "..") {
        return Err(format!(
            "failed to prepare subPath for volumeMount \"{}\" of container \"{container}\": \
             {sub:?} must be a relative path that stays inside the volume",
            m.name
        ));
    }
    Ok(sub.trim_end_matches('/').to_owned())
}

/// The runtime volume backing emptyDir `volume` of `pod`.
pub fn volume_name(pod: &Pod, volume: &str) -> String {
    format!("rudder-{}-{volume}", pod.metadata.uid)
}

/// The host directory of the files of volume `volume` of the pod with `uid`, under the
/// kubelet's pods directory (`<pods>/<uid>/volumes/<volume>`, as Kubernetes lays out
/// `/var/lib/kubelet/pods`).
pub fn projected_dir(pods_dir: &Path, uid: &str, volume: &str) -> PathBuf {
    pods_dir.join(uid).join("volumes").join(volume)
}

/// The volumes container `c` mounts: emptyDirs (and volumes without a source, which
/// Kubernetes defaults to emptyDir) become runtime volumes labelled with the pod, shared
/// by its containers and removed with it; hostPaths are bound from the engine's host;
/// configMap, secret, downwardAPI and projected volumes bind the pod's directory of
/// their files (written by the worker, see [`projected_dir`]), always read-only.
///
/// A `subPath` binds that path inside the volume instead (a directory of a hostPath or
/// an emptyDir, created when missing, or one file of a configMap-like volume, which
/// then no longer follows updates, as in Kubernetes); `mountPropagation` applies to
/// hostPath binds (`HostToContainer`: `rslave`, `Bidirectional`: `rshared`);
/// `recursiveReadOnly: Enabled` is refused (the engine cannot make submounts
/// read-only). `env` is the container's environment, for `subPathExpr`.
pub fn volume_plan(
    pod: &Pod,
    c: &Container,
    node: &str,
    pods_dir: &Path,
    env: &[String],
) -> Result<(Vec<VolumeSpec>, Vec<Mount>), String> {
    volume_plan_with_claims(pod, c, node, pods_dir, env, &BTreeMap::new())
}

/// [`volume_plan`] for a pod with `persistentVolumeClaim` volumes: `claims` maps each
/// such volume the container mounts to the node directory of its bound volume, which
/// is bound like a hostPath (read-only when the volume source says `readOnly`).
pub fn volume_plan_with_claims(
    pod: &Pod,
    c: &Container,
    node: &str,
    pods_dir: &Path,
    env: &[String],
    claims: &BTreeMap<String, String>,
) -> Result<(Vec<VolumeSpec>, Vec<Mount>), String> {
    use rudder_protocol::resources::{MountPropagationMode, RecursiveReadOnlyMode};
    let mut volumes = Vec::new();
    let mut mounts = Vec::with_capacity(c.volume_mounts.len());
    for m in &c.volume_mounts {
        let Some(v) = pod.spec.volumes.iter().find(|v| v.name == m.name) else {
            return Err(format!(
                "volume \"{}\" mounted by container \"{}\" is not a volume of the pod",
                m.name, c.name
            ));
        };
        if m.recursive_read_only == Some(RecursiveReadOnlyMode::Enabled) {
            return Err(format!(
                "volumeMount \"{}\" of container \"{}\" asks for recursiveReadOnly: Enabled, \
                 which the node's container runtime (Docker before 25) cannot provide",
                m.name, c.name
            ));
        }
        let sub = sub_path(m, &c.name, env)?;
        let join = |base: &str| -> String {
            if sub.is_empty() {
                base.to_owned()
            } else {
                Path::new(base).join(&sub).to_string_lossy().into_owned()
            }
        };
        let mut read_only = m.read_only;
        let mut propagation = None;
        let source = if let Some(h) = &v.host_path {
            propagation = match m.mount_propagation {
                Some(MountPropagationMode::HostToContainer) => Some("rslave".to_owned()),
                Some(MountPropagationMode::Bidirectional) => Some("rshared".to_owned()),
                _ => None,
            };
            MountSource::HostPath(join(&h.path))
        } else if let Some(claim) = &v.persistent_volume_claim {
            let Some(dir) = claims.get(&v.name) else {
                return Err(format!(
                    "volume \"{}\" of claim \"{}\" is not mounted yet",
                    v.name, claim.claim_name
                ));
            };
            read_only |= claim.read_only;
            MountSource::HostPath(join(dir))
        } else if is_projected(v) {
            read_only = true;
            let dir = projected_dir(pods_dir, &pod.metadata.uid, &v.name);
            MountSource::HostPath(join(&dir.to_string_lossy()))
        } else {
            let name = volume_name(pod, &v.name);
            if !volumes.iter().any(|s: &VolumeSpec| s.name == name) {
                volumes.push(VolumeSpec {
                    name: name.clone(),
                    memory: v.empty_dir.as_ref().is_some_and(|e| e.medium == "Memory"),
                    labels: pod_labels(pod, node),
                });
            }
            if sub.is_empty() {
                MountSource::Volume(name)
            } else {
                MountSource::VolumeSubPath {
                    volume: name,
                    sub_path: sub.clone(),
                }
            }
        };
        mounts.push(Mount {
            source,
            target: m.mount_path.clone(),
            read_only,
            propagation,
        });
    }
    Ok((volumes, mounts))
}

/// The pull policy with Kubernetes' default (`Always` for `:latest` or no tag).
pub fn pull_policy(c: &Container) -> PullPolicy {
    c.image_pull_policy.unwrap_or_else(|| {
        let (_, tag) = crate::kubelet::docker::split_reference(&c.image);
        if tag == "latest" {
            PullPolicy::Always
        } else {
            PullPolicy::IfNotPresent
        }
    })
}

#[cfg(test)]
mod tests;
