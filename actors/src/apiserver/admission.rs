//! Admission plugins that read other objects, as Kubernetes' `Priority` and
//! `RuntimeClass` admission controllers do: they run on create, before the kind's own
//! admission, defaulting and validation ([`super::kinds::KindOps::admit`]), and may
//! change the object or refuse it with `403 Forbidden`.
//!
//! A kind lists its plugins in [`Strategy::ADMISSION`](super::kinds::Strategy::ADMISSION);
//! the generic create path runs them in order. Validating plugins ([`Validator`], listed
//! in [`Strategy::VALIDATION`](super::kinds::Strategy::VALIDATION)) run later, on create
//! and update, on the object as it will be written ([`super::podsecurity`]). Plugins read through [`ApiCore::get`] and
//! [`ApiCore::list`] (the watch cache, or the store when the cache cannot answer).

use futures::future::BoxFuture;
use rudder_protocol::registry::ResourceInfo;
use rudder_protocol::resources::{PreemptionPolicy, PriorityClass};
use serde_json::{json, Value};

use super::core::{fail, fail_for, ApiCore, ApiError, ApiResult, ListOptions};
use super::registry;

/// One admission plugin: may change `obj` (the object being created, in `info`), or
/// refuses it.
pub type Plugin =
    for<'a> fn(&'a ApiCore, &'static ResourceInfo, &'a mut Value) -> BoxFuture<'a, ApiResult<()>>;

/// What a validating plugin sees of a write.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The object as it will be written (mutated, defaulted and validated).
    pub object: &'a Value,
    /// The object it replaces (`None` on create).
    pub old: Option<&'a Value>,
    /// The subresource the write goes through (empty: the resource itself).
    pub subresource: &'a str,
}

/// One validating admission plugin, as Kubernetes' validating admission runs after
/// mutation and the kind's validation, on create and on update: it may refuse the write,
/// add warnings and audit annotations ([`super::notes`]), but not change the object.
pub type Validator =
    for<'a> fn(&'a ApiCore, &'static ResourceInfo, Change<'a>) -> BoxFuture<'a, ApiResult<()>>;

/// Kubernetes' admission refusal: `<resource>[.<group>] "<name>" is forbidden: <why>`.
pub(super) fn forbidden(info: &ResourceInfo, obj: &Value, why: impl std::fmt::Display) -> ApiError {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = format!(
        "{} \"{name}\" is forbidden: {why}",
        super::core::qualified(info)
    );
    fail_for(403, "Forbidden", info, name, message)
}

fn priority_classes() -> ApiResult<&'static ResourceInfo> {
    registry::resource("scheduling.k8s.io", "v1", "priorityclasses")
        .ok_or_else(|| fail(500, "InternalError", "priorityclasses not registered"))
}

/// The PriorityClasses as the watch cache holds them (Kubernetes' plugin reads its
/// informer's lister): no store round trip on the pod create path.
async fn cached_priority_classes(core: &ApiCore) -> ApiResult<Vec<Value>> {
    let opts = ListOptions {
        resource_version: Some("0".into()),
        ..ListOptions::default()
    };
    Ok(core.list(priority_classes()?, None, &opts).await?.0)
}

fn decode_class(obj: Value) -> ApiResult<PriorityClass> {
    serde_json::from_value(obj).map_err(|e| fail(500, "InternalError", e.to_string()))
}

/// The PriorityClass named `name`, if it exists: from the cache, else from the store
/// (a class created a moment ago may not have reached the cache yet).
async fn priority_class(
    core: &ApiCore,
    cached: &[Value],
    name: &str,
) -> ApiResult<Option<PriorityClass>> {
    if let Some(obj) = cached
        .iter()
        .find(|obj| obj.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
    {
        return decode_class(obj.clone()).map(Some);
    }
    match core.get(priority_classes()?, None, name).await {
        Ok(obj) => decode_class(obj).map(Some),
        Err(e) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// The class marked `globalDefault`; of several, the one with the lowest value, as
/// Kubernetes picks it.
fn default_priority_class(cached: Vec<Value>) -> Option<PriorityClass> {
    cached
        .into_iter()
        .filter(|obj| obj.get("globalDefault") == Some(&Value::Bool(true)))
        .filter_map(|obj| decode_class(obj).ok())
        .min_by_key(|pc| pc.value)
}

/// Priority admission: resolves `spec.priorityClassName` (or the global default class)
/// into `spec.priority` and `spec.preemptionPolicy`; an unknown class, or a priority or
/// preemption policy in the spec that differs from the class's, is refused.
pub fn priority<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    pod: &'a mut Value,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        let class_name = pod
            .pointer("/spec/priorityClassName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let cached = cached_priority_classes(core).await?;
        let (name, value, policy) = if class_name.is_empty() {
            match default_priority_class(cached) {
                Some(pc) => (pc.metadata.name, pc.value, pc.preemption_policy),
                None => (
                    String::new(),
                    0,
                    Some(PreemptionPolicy::PreemptLowerPriority),
                ),
            }
        } else {
            match priority_class(core, &cached, &class_name).await? {
                Some(pc) => (class_name, pc.value, pc.preemption_policy),
                None => {
                    return Err(forbidden(
                        info,
                        pod,
                        format_args!("no PriorityClass with name {class_name} was found"),
                    ))
                }
            }
        };
        let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if let Some(given) = spec.get("priority").and_then(Value::as_i64) {
            if given != i64::from(value) {
                let why = format!("the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name");
                return Err(forbidden(info, pod, why));
            }
        }
        if let Some(policy) = policy {
            if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str) {
                if given != policy.as_str() {
                    let why = format!("the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name", policy.as_str());
                    return Err(forbidden(info, pod, why));
                }
            }
            spec.insert("preemptionPolicy".into(), json!(policy.as_str()));
        }
        if !name.is_empty() {
            spec.insert("priorityClassName".into(), json!(name));
        }
        spec.insert("priority".into(), json!(value));
        Ok(())
    })
}

/// RuntimeClass admission: Rudder's nodes run containers with Docker's default runtime
/// only and serve no RuntimeClass objects, so a pod naming a runtime class (or bringing
/// its own `overhead`, which only a RuntimeClass may set) is refused, saying why.
pub fn runtime_class<'a>(
    _core: &'a ApiCore,
    info: &'static ResourceInfo,
    pod: &'a mut Value,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        if let Some(name) = pod
            .pointer("/spec/runtimeClassName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            let why = format!("pod rejected: RuntimeClass \"{name}\" not found (Rudder's nodes run Docker's default runtime only; leave runtimeClassName unset)");
            return Err(forbidden(info, pod, why));
        }
        if pod
            .pointer("/spec/overhead")
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
        {
            return Err(forbidden(
                info,
                pod,
                "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
            ));
        }
        Ok(())
    })
}

/// Where the service account's token, CA and namespace are mounted in every container.
pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The ConfigMap in every namespace holding the CA that verifies the API server
/// ([`crate::controllers::rootca`] keeps it).
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// The lifetime of the mounted token (Kubernetes' 3607 s: an hour and a bit, renewed by
/// the kubelet at 80%).
const MOUNTED_TOKEN_SECONDS: i64 = 3607;

/// ServiceAccount admission, as Kubernetes' plugin does on pod create: the pod runs as
/// `spec.serviceAccountName` (`default` when unset), which must exist (the `default`
/// account may still be on its way from the service account controller, so it alone
/// is not required); unless the pod or its account turns automounting off, the pod gets
/// a `kube-api-access-<suffix>` projected volume (a bound token, the cluster CA from
/// `kube-root-ca.crt`, the namespace) mounted read-only at [`SERVICE_ACCOUNT_MOUNT`] in
/// every container that has nothing mounted there.
pub fn service_account<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    pod: &'a mut Value,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
        let account = spec["serviceAccountName"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or_else(|| spec["serviceAccount"].as_str().filter(|s| !s.is_empty()))
            .unwrap_or("default")
            .to_owned();
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let accounts = super::core::served("", "serviceaccounts")?;
        // The watch cache first: pod creates should not cost a store read each.
        let cached = core.cached(accounts, &super::core::key(accounts, Some(&ns), &account));
        let found = match cached {
            Some(sa) => Ok(Value::clone(&sa)),
            None => core.get(accounts, Some(&ns), &account).await,
        };
        let sa = match found {
            Ok(sa) => Some(sa),
            Err(e) if e.code == 404 && account == "default" => None,
            Err(e) if e.code == 404 => {
                return Err(forbidden(
                    info,
                    pod,
                    format_args!(
                        "error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found"
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        if let Some(s) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            s.insert("serviceAccountName".into(), json!(account));
        }
        let automount = spec["automountServiceAccountToken"]
            .as_bool()
            .or_else(|| sa.as_ref()?["automountServiceAccountToken"].as_bool())
            .unwrap_or(true);
        if automount {
            mount_service_account(
                pod,
                &format!("kube-api-access-{}", super::core::random_suffix()),
            );
        }
        Ok(())
    })
}

/// Adds the `kube-api-access` volume named `volume` and its mounts (see
/// [`service_account`]).
fn mount_service_account(pod: &mut Value, volume: &str) {
    let mounted_there = |c: &Value| {
        c["volumeMounts"].as_array().is_some_and(|mounts| {
            mounts
                .iter()
                .any(|m| m["mountPath"].as_str() == Some(SERVICE_ACCOUNT_MOUNT))
        })
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut added = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter(|c| !mounted_there(c)) {
            let mount =
                json!({"name": volume, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT});
            match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                Some(mounts) => mounts.push(mount),
                None => c["volumeMounts"] = json!([mount]),
            }
            added = true;
        }
    }
    if !added {
        return;
    }
    let v = json!({"name": volume, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": MOUNTED_TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}});
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(volumes) => volumes.push(v),
        None => {
            spec.insert("volumes".into(), json!([v]));
        }
    }
}

#[cfg(test)]
mod service_account_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_token_volume_is_mounted_where_nothing_else_is() {
        let mut pod = json!({"spec": {
            "initContainers": [{"name": "init"}],
            "containers": [
                {"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "own", "volumeMounts": [{"name": "mine", "mountPath": SERVICE_ACCOUNT_MOUNT}]},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }});
        mount_service_account(&mut pod, "kube-api-access-abcde");
        let spec = &pod["spec"];
        assert_eq!(spec["volumes"].as_array().unwrap().len(), 2);
        assert_eq!(spec["volumes"][1]["name"], "kube-api-access-abcde");
        assert_eq!(
            spec["volumes"][1]["projected"]["sources"][0]["serviceAccountToken"]["path"],
            "token"
        );
        assert_eq!(
            spec["initContainers"][0]["volumeMounts"][0]["mountPath"],
            SERVICE_ACCOUNT_MOUNT
        );
        assert_eq!(spec["containers"][0]["volumeMounts"][1]["readOnly"], true);
        // The container with its own mount there keeps only its own.
        assert_eq!(
            spec["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Every container already has one: no volume is added.
        let mut all_own = json!({"spec": {"containers": [
            {"name": "own", "volumeMounts": [{"name": "mine", "mountPath": SERVICE_ACCOUNT_MOUNT}]}]}});
        mount_service_account(&mut all_own, "kube-api-access-abcde");
        assert!(all_own["spec"].get("volumes").is_none());
    }
}
