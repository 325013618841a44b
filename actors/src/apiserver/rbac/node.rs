//! The node authorizer: what a kubelet (`system:node:<name>` in `system:nodes`) may do,
//! decided from the graph of pods bound to it, as Kubernetes' Node authorizer and
//! NodeRestriction admission together allow it:
//!
//! - read every Node, write only its own (and its status);
//! - its own Lease in `kube-node-lease`;
//! - read every pod; update the status of, or delete, only pods bound to it;
//! - `get` a Secret, ConfigMap or PersistentVolumeClaim only when a pod bound to it
//!   uses it (volume, projected source, env, envFrom, image pull secret); never list or
//!   watch them;
//! - read Services, Endpoints and Namespaces, and write Events.
//!
//! Anything else is left to RBAC. The graph is the watch cache's pods, read at the
//! decision (no store read).

use std::sync::Arc;

use serde_json::Value;

use super::super::cache::{WatchCache, READY_WAIT};
use super::rules::{Check, Target};
use super::{Decision, NODES_GROUP, NODE_USER_PREFIX};

/// The node a kubelet user stands for, if `check.user` is one.
fn node_of<'a>(check: &Check<'a>) -> Option<&'a str> {
    let node = check.user.name.strip_prefix(NODE_USER_PREFIX)?;
    check
        .user
        .groups
        .iter()
        .any(|g| g == NODES_GROUP)
        .then_some(node)
}

/// The namespace of the node Leases.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node authorizer's decision on `check`.
pub async fn decide(cache: &WatchCache, check: &Check<'_>) -> Decision {
    let Some(node) = node_of(check) else {
        return Decision::NoOpinion;
    };
    let Target::Resource {
        group,
        resource,
        subresource,
        namespace,
        name,
    } = check.target
    else {
        return Decision::NoOpinion;
    };
    let read = matches!(check.verb, "get" | "list" | "watch");
    match (group, resource) {
        ("", "secrets" | "configmaps" | "persistentvolumeclaims") => {
            let (Some(ns), Some(name), "get", None) = (namespace, name, check.verb, subresource)
            else {
                return Decision::Deny(format!(
                    "node '{node}' can only get individual {resource} used by its pods"
                ));
            };
            if pods_of(cache, node, ns)
                .await
                .iter()
                .any(|p| uses(p, resource, name))
            {
                Decision::Allow
            } else {
                Decision::Deny(format!(
                    "no relationship found between node '{node}' and this object"
                ))
            }
        }
        ("", "nodes") if read => Decision::Allow,
        ("", "nodes") => match name {
            Some(n) if n == node => Decision::Allow,
            _ => Decision::Deny(format!(
                "node '{node}' cannot modify node '{}'",
                name.unwrap_or_default()
            )),
        },
        ("coordination.k8s.io", "leases") => {
            if namespace == Some(NODE_LEASE_NAMESPACE) && name == Some(node) {
                Decision::Allow
            } else {
                Decision::NoOpinion
            }
        }
        // Reading a pod's status is how a status patch starts (kubectl reads first).
        ("", "pods") if read && matches!(subresource, None | Some("status")) => Decision::Allow,
        ("", "pods") => {
            let writes_own = matches!(
                (check.verb, subresource),
                ("update" | "patch", Some("status")) | ("delete", None)
            );
            let (Some(ns), Some(name)) = (namespace, name) else {
                return Decision::NoOpinion;
            };
            if !writes_own {
                return Decision::NoOpinion;
            }
            if bound_to(cache, ns, name).await.as_deref() == Some(node) {
                Decision::Allow
            } else {
                Decision::Deny(format!("node '{node}' can only modify pods bound to it"))
            }
        }
        ("", "events") | ("events.k8s.io", "events")
            if matches!(check.verb, "create" | "update" | "patch") =>
        {
            Decision::Allow
        }
        ("", "services" | "endpoints" | "namespaces") if read => Decision::Allow,
        _ => Decision::NoOpinion,
    }
}

/// The node the pod `namespace/name` is bound to, as the watch cache has it.
async fn bound_to(cache: &WatchCache, namespace: &str, name: &str) -> Option<String> {
    let pods = cache.resource("/registry/pods/");
    if !pods.wait_for(0, READY_WAIT).await {
        return None;
    }
    let pod = pods.get(&format!("/registry/pods/{namespace}/{name}"))?;
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The pods in `namespace` bound to `node`.
async fn pods_of(cache: &WatchCache, node: &str, namespace: &str) -> Vec<Arc<Value>> {
    let pods = cache.resource("/registry/pods/");
    if !pods.wait_for(0, READY_WAIT).await {
        return Vec::new();
    }
    let prefix = format!("/registry/pods/{namespace}/");
    pods.list(&prefix, None, 0, |p| {
        p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
    })
    .map(|(items, _, _)| items.into_iter().map(|(_, v)| v).collect())
    .unwrap_or_default()
}

/// Whether `pod` uses the `resource` (`secrets`, `configmaps`,
/// `persistentvolumeclaims`) named `name`.
pub fn uses(pod: &Value, resource: &str, name: &str) -> bool {
    let is = |v: Option<&Value>| v.and_then(Value::as_str) == Some(name);
    let spec = &pod["spec"];
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let volumes = list(&spec["volumes"]);
    let containers: Vec<Value> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| list(&spec[*k]))
        .collect();
    let (volume_key, volume_name, env_ref, from_ref, projected) = match resource {
        "secrets" => {
            if list(&spec["imagePullSecrets"])
                .iter()
                .any(|s| is(s.get("name")))
            {
                return true;
            }
            (
                "secret",
                "secretName",
                "secretKeyRef",
                "secretRef",
                "secret",
            )
        }
        "configmaps" => (
            "configMap",
            "name",
            "configMapKeyRef",
            "configMapRef",
            "configMap",
        ),
        "persistentvolumeclaims" => {
            return volumes
                .iter()
                .any(|v| is(v.pointer("/persistentVolumeClaim/claimName")));
        }
        _ => return false,
    };
    volumes.iter().any(|v| {
        is(v.get(volume_key).and_then(|s| s.get(volume_name)))
            || list(&v["projected"]["sources"])
                .iter()
                .any(|s| is(s.get(projected).and_then(|s| s.get("name"))))
    }) || containers.iter().any(|c| {
        list(&c["env"]).iter().any(|e| {
            is(e.get("valueFrom")
                .and_then(|f| f.get(env_ref))
                .and_then(|r| r.get("name")))
        }) || list(&c["envFrom"])
            .iter()
            .any(|e| is(e.get(from_ref).and_then(|r| r.get("name"))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_use_what_they_name() {
        let pod = json!({"spec": {
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "vol"}},
                {"name": "b", "configMap": {"name": "cm"}},
                {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "d", "projected": {"sources": [{"secret": {"name": "proj"}}]}},
            ],
            "containers": [{"name": "c",
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}}],
                "envFrom": [{"configMapRef": {"name": "from"}}]}],
        }});
        let table = [
            ("secrets", "pull", true),
            ("secrets", "vol", true),
            ("secrets", "proj", true),
            ("secrets", "env", true),
            ("secrets", "cm", false),
            ("secrets", "other", false),
            ("configmaps", "cm", true),
            ("configmaps", "from", true),
            ("configmaps", "vol", false),
            ("persistentvolumeclaims", "data", true),
            ("persistentvolumeclaims", "cm", false),
        ];
        for (resource, name, want) in table {
            assert_eq!(uses(&pod, resource, name), want, "{resource}/{name}");
        }
    }
}
