//! Admission plugins that read other objects, as Kubernetes' `Priority` and
//! `RuntimeClass` admission controllers do: they run on create, before the kind's own
//! admission, defaulting and validation ([`super::kinds::KindOps::admit`]), and may
//! change the object or refuse it with `403 Forbidden`.
//!
//! A kind lists its plugins in [`Strategy::ADMISSION`](super::kinds::Strategy::ADMISSION);
//! the generic create path runs them in order. Plugins read through [`ApiCore::get`] and
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

/// Kubernetes' admission refusal: `<resource> "<name>" is forbidden: <why>`.
pub(super) fn forbidden(info: &ResourceInfo, obj: &Value, why: impl std::fmt::Display) -> ApiError {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = format!("{} \"{name}\" is forbidden: {why}", info.plural);
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
