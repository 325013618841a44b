//! The node authorizer: what a kubelet (`system:node:<name>` in `system:nodes`) may do,
//! decided from the graph of pods bound to it, as Kubernetes' Node authorizer and
//! NodeRestriction admission together allow it:
//!
//! - read every Node, create and write only its own (and its status);
//! - its own Lease in `kube-node-lease`;
//! - read every pod; update the status of, or delete, only pods bound to it (a pod the
//!   cache does not hold is left to the store, which answers 404);
//! - `get` a Secret, ConfigMap or PersistentVolumeClaim only when a pod bound to it
//!   uses it (volume, projected source, env, envFrom, image pull secret), and a
//!   PersistentVolume only when it is bound to such a claim; never list or watch them;
//! - a token (`serviceaccounts/token`) only for a service account a pod bound to it
//!   runs as, and only bound to that pod;
//! - read Services, Endpoints and Namespaces, and write Events.
//!
//! Anything else is left to RBAC. The graph is the watch cache's pods (and claims),
//! read at the decision (no store read). What only the request's body tells (the name
//! of a Node or Lease being created, the pod a token is bound to) is checked by
//! [`restrict`], Kubernetes' NodeRestriction admission, after authorization.

use std::sync::Arc;

use serde_json::Value;

use super::super::cache::{WatchCache, READY_WAIT};
use super::super::core::{fail, ApiResult};
use super::super::request::{Operation, Request, UserInfo};
use super::rules::{Check, Target};
use super::{Decision, NODES_GROUP, NODE_USER_PREFIX};

/// The node `user` stands for, if it is a kubelet (`system:node:<name>` in
/// `system:nodes`).
fn node_user(user: &UserInfo) -> Option<&str> {
    let node = user.name.strip_prefix(NODE_USER_PREFIX)?;
    user.groups.iter().any(|g| g == NODES_GROUP).then_some(node)
}

/// The namespace of the node Leases.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node authorizer's decision on `check`.
pub async fn decide(cache: &WatchCache, check: &Check<'_>) -> Decision {
    let Some(node) = node_user(check.user) else {
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
        ("", "persistentvolumes") => {
            let (Some(name), "get", None) = (name, check.verb, subresource) else {
                return Decision::Deny(format!(
                    "node '{node}' can only get individual persistentvolumes bound to claims its pods use"
                ));
            };
            if volume_in_use(cache, node, name).await {
                Decision::Allow
            } else {
                Decision::Deny(format!(
                    "no relationship found between node '{node}' and this object"
                ))
            }
        }
        ("", "serviceaccounts") if check.verb == "create" && subresource == Some("token") => {
            let (Some(ns), Some(name)) = (namespace, name) else {
                return Decision::NoOpinion;
            };
            if pods_of(cache, node, ns)
                .await
                .iter()
                .any(|p| service_account(p) == name)
            {
                Decision::Allow
            } else {
                Decision::Deny(format!(
                    "no relationship found between node '{node}' and this object"
                ))
            }
        }
        ("", "nodes") if read => Decision::Allow,
        // Which Node a create makes is in its body: [`restrict`] checks it.
        ("", "nodes") if check.verb == "create" && subresource.is_none() => Decision::Allow,
        ("", "nodes") => match name {
            Some(n) if n == node => Decision::Allow,
            _ => Decision::Deny(format!(
                "node '{node}' cannot modify node '{}'",
                name.unwrap_or_default()
            )),
        },
        ("coordination.k8s.io", "leases") => {
            let creates = check.verb == "create" && name.is_none();
            if namespace == Some(NODE_LEASE_NAMESPACE) && (name == Some(node) || creates) {
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
            match bound_to(cache, ns, name).await {
                // Gone (or not yet seen): the store answers 404, which is what a
                // kubelet finishing a deletion expects.
                None => Decision::Allow,
                Some(bound) if bound == node => Decision::Allow,
                Some(_) => {
                    Decision::Deny(format!("node '{node}' can only modify pods bound to it"))
                }
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

/// The node the pod `namespace/name` is bound to, as the watch cache has it: `None`
/// when the cache does not hold the pod, `Some("")` when it is not bound.
async fn bound_to(cache: &WatchCache, namespace: &str, name: &str) -> Option<String> {
    let pods = cache.resource("/registry/pods/");
    if !pods.wait_for(0, READY_WAIT).await {
        return Some(String::new());
    }
    let pod = pods.get(&format!("/registry/pods/{namespace}/{name}"))?;
    Some(
        pod.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The service account `pod` runs as.
fn service_account(pod: &Value) -> &str {
    match pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
    {
        Some(name) if !name.is_empty() => name,
        _ => "default",
    }
}

/// Whether the PersistentVolume `volume` is bound to a claim a pod on `node` uses.
async fn volume_in_use(cache: &WatchCache, node: &str, volume: &str) -> bool {
    let (pods, claims) = (
        cache.resource("/registry/pods/"),
        cache.resource("/registry/persistentvolumeclaims/"),
    );
    if !pods.wait_for(0, READY_WAIT).await || !claims.wait_for(0, READY_WAIT).await {
        return false;
    }
    let Some((mine, _, _)) = pods.list("/registry/pods/", None, 0, |p| {
        p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
    }) else {
        return false;
    };
    mine.iter().any(|(_, pod)| {
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array);
        volumes.into_iter().flatten().any(|v| {
            let Some(claim) = v
                .pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
            else {
                return false;
            };
            claims
                .get(&format!("/registry/persistentvolumeclaims/{ns}/{claim}"))
                .and_then(|c| {
                    c.pointer("/spec/volumeName")
                        .and_then(Value::as_str)
                        .map(|v| v == volume)
                })
                .unwrap_or(false)
        })
    })
}

/// Kubernetes' NodeRestriction admission, for what only a request's body tells: a
/// kubelet creates only its own Node and its own Lease, and asks for tokens bound
/// only to pods bound to it. `Ok` for every other caller and request.
pub async fn restrict(cache: &WatchCache, req: &Request) -> ApiResult<()> {
    let Some(node) = node_user(&req.user) else {
        return Ok(());
    };
    let Operation::Create { body, .. } = &req.op else {
        return Ok(());
    };
    let refuse = |message: String| Err(fail(403, "Forbidden", message));
    let created = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (
        req.resource.group,
        req.resource.plural,
        req.subresource.as_deref(),
    ) {
        ("", "nodes", None) if created != node => refuse(format!(
            "node {node:?} is not allowed to modify node {created:?}"
        )),
        ("coordination.k8s.io", "leases", None)
            if req.namespace.as_deref() == Some(NODE_LEASE_NAMESPACE) && created != node =>
        {
            refuse(format!(
                "node {node:?} is not allowed to modify lease {created:?}"
            ))
        }
        ("", "serviceaccounts", Some("token")) => {
            let bound = body.pointer("/spec/boundObjectRef");
            let kind = bound.and_then(|b| b.get("kind")).and_then(Value::as_str);
            let pod = bound.and_then(|b| b.get("name")).and_then(Value::as_str);
            let (Some("Pod"), Some(pod)) = (kind, pod) else {
                return refuse(format!(
                    "node {node:?} requested a token not bound to a pod"
                ));
            };
            let ns = req.namespace.as_deref().unwrap_or_default();
            match bound_to(cache, ns, pod).await.as_deref() {
                Some(bound) if bound == node => Ok(()),
                _ => refuse(format!(
                    "node {node:?} requested a token bound to a pod not scheduled on it"
                )),
            }
        }
        _ => Ok(()),
    }
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
