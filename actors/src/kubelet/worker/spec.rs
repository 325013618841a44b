//! The runtime specs of a pod: container names and labels, container specs (env,
//! resources), volumes and mounts, the image pull policy. Pure.

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
    let cpu = c.resources.limits.get("cpu").map(|q| q.scaled_value(-9));
    let memory = c.resources.limits.get("memory").map(|q| q.value());
    ContainerSpec {
        name: container_name(pod, Some(&c.name), attempt),
        image: c.image.clone(),
        entrypoint: c.command.clone(),
        args: c.args.clone(),
        env,
        working_dir: (!c.working_dir.is_empty()).then(|| c.working_dir.clone()),
        nano_cpus: cpu.filter(|v| *v > 0),
        memory_bytes: memory.filter(|v| *v > 0),
        sandbox_id: sandbox_id.to_owned(),
        labels,
        mounts: Vec::new(),
    }
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
pub fn volume_plan(
    pod: &Pod,
    c: &Container,
    node: &str,
    pods_dir: &Path,
) -> Result<(Vec<VolumeSpec>, Vec<Mount>), String> {
    let mut volumes = Vec::new();
    let mut mounts = Vec::with_capacity(c.volume_mounts.len());
    for m in &c.volume_mounts {
        let Some(v) = pod.spec.volumes.iter().find(|v| v.name == m.name) else {
            return Err(format!(
                "volume \"{}\" mounted by container \"{}\" is not a volume of the pod",
                m.name, c.name
            ));
        };
        let mut read_only = m.read_only;
        let source = if let Some(h) = &v.host_path {
            MountSource::HostPath(h.path.clone())
        } else if is_projected(v) {
            read_only = true;
            let dir = projected_dir(pods_dir, &pod.metadata.uid, &v.name);
            MountSource::HostPath(dir.to_string_lossy().into_owned())
        } else {
            let name = volume_name(pod, &v.name);
            volumes.push(VolumeSpec {
                name: name.clone(),
                memory: v.empty_dir.as_ref().is_some_and(|e| e.medium == "Memory"),
                labels: pod_labels(pod, node),
            });
            MountSource::Volume(name)
        };
        mounts.push(Mount {
            source,
            target: m.mount_path.clone(),
            read_only,
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
