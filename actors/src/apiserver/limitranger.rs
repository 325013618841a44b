//! The LimitRanger admission plugin, as Kubernetes' `plugin/pkg/admission/limitranger`:
//! on the create of a pod, every LimitRange of its namespace first fills in the default
//! requests and limits of its `Container` item for each container (and init container)
//! that states none (noted in the `kubernetes.io/limit-ranger` annotation), then each
//! range's `Container` and `Pod` items bound the containers and the pod as a whole
//! (`min`, `max`, `maxLimitRequestRatio`); on the create of a PersistentVolumeClaim, its
//! `PersistentVolumeClaim` item bounds the storage requested. A violation is refused
//! with `403 Forbidden` and Kubernetes' messages (`maximum cpu usage per Container is
//! 1, but limit is 2`), all of them at once.
//!
//! Defaulting of the pod itself (a resource with a limit but no request requests its
//! limit) runs before the ranges' defaults, as Kubernetes decodes and defaults a pod
//! before admission sees it. Pods are not checked on update: their resources do not
//! change. The ranges are read from the watch cache, as Kubernetes reads its informer:
//! a range created a moment before (within the cache's lag, milliseconds) may not
//! apply yet.

use futures::future::BoxFuture;
use rudder_protocol::registry::ResourceInfo;
use rudder_protocol::resources::{
    limit_types, Container, LimitRange, PersistentVolumeClaim, Pod, Quantity, ResourceList,
    ResourceRequirements, LIMIT_RANGER_ANNOTATION,
};
use serde_json::{json, Value};

use super::admission::forbidden;
use super::core::{served, ApiCore, ApiResult, ListOptions};
use super::defaults::Defaults;
use super::kinds::pod_total;

/// A list from the watch cache, as Kubernetes' admission plugins read their informers'
/// listers: no store round trip on every create.
pub(super) fn cached() -> ListOptions {
    ListOptions {
        resource_version: Some("0".into()),
        ..ListOptions::default()
    }
}

/// The LimitRanges of `namespace`, as stored (defaulted); unreadable ones are skipped.
async fn limit_ranges(core: &ApiCore, namespace: &str) -> ApiResult<Vec<LimitRange>> {
    let info = served("", "limitranges")?;
    let (items, _, _) = core.list(info, Some(namespace), &cached()).await?;
    Ok(items
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}

fn namespace_of(obj: &Value) -> String {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// LimitRanger on a pod create (see the module docs).
pub fn pod<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    obj: &'a mut Value,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        let ranges = limit_ranges(core, &namespace_of(obj)).await?;
        if ranges.is_empty() {
            return Ok(());
        }
        // An object that does not decode is refused by the kind's own checks next.
        let Ok(mut pod) = serde_json::from_value::<Pod>(obj.clone()) else {
            return Ok(());
        };
        pod.apply_defaults();
        let mut notes = Vec::new();
        for range in &ranges {
            default_pod(range, &mut pod, &mut notes);
        }
        write_back(obj, &pod, &notes);
        let mut errors = Vec::new();
        for range in &ranges {
            validate_pod(range, &pod, &mut errors);
        }
        refuse(info, obj, errors)
    })
}

/// LimitRanger on a PersistentVolumeClaim create: `min` and `max` of its storage
/// request.
pub fn claim<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    obj: &'a mut Value,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        let ranges = limit_ranges(core, &namespace_of(obj)).await?;
        let Ok(claim) = serde_json::from_value::<PersistentVolumeClaim>(obj.clone()) else {
            return Ok(());
        };
        let requests = &claim.spec.resources.requests;
        let mut errors = Vec::new();
        for range in &ranges {
            for item in &range.spec.limits {
                if item.type_ != limit_types::PERSISTENT_VOLUME_CLAIM {
                    continue;
                }
                for (k, v) in &item.min {
                    errors.extend(min_constraint(
                        &item.type_,
                        k,
                        v,
                        requests,
                        &ResourceList::new(),
                    ));
                }
                for (k, v) in &item.max {
                    errors.extend(max_request_constraint(&item.type_, k, v, requests));
                }
            }
        }
        refuse(info, obj, errors)
    })
}

/// The 403 for `errors`, worded as Kubernetes' error aggregate: one message alone,
/// several (each once) as `[a, b]`.
fn refuse(info: &ResourceInfo, obj: &Value, errors: Vec<String>) -> ApiResult<()> {
    let mut unique: Vec<String> = Vec::new();
    for e in errors {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    if unique.is_empty() {
        Ok(())
    } else {
        Err(forbidden(info, obj, super::validation::aggregate(&unique)))
    }
}

/// The requests and limits of a range's `Container` items (later items win).
fn container_defaults(range: &LimitRange) -> ResourceRequirements {
    let mut defaults = ResourceRequirements::default();
    for item in &range.spec.limits {
        if item.type_ == limit_types::CONTAINER {
            defaults.requests.extend(item.default_request.clone());
            defaults.limits.extend(item.default.clone());
        }
    }
    defaults
}

/// Fills in the range's defaults for every container that states none, noting what
/// was set as Kubernetes' annotation does (`cpu, memory request for container app`).
pub fn default_pod(range: &LimitRange, pod: &mut Pod, notes: &mut Vec<String>) {
    let defaults = container_defaults(range);
    if defaults.requests.is_empty() && defaults.limits.is_empty() {
        return;
    }
    let spec = &mut pod.spec;
    for c in spec.containers.iter_mut() {
        merge_container(c, &defaults, "container", notes);
    }
    for c in spec.init_containers.iter_mut() {
        merge_container(c, &defaults, "init container", notes);
    }
}

fn merge_container(
    c: &mut Container,
    defaults: &ResourceRequirements,
    what: &str,
    notes: &mut Vec<String>,
) {
    let mut set_requests = Vec::new();
    let mut set_limits = Vec::new();
    for (k, v) in &defaults.limits {
        if !c.resources.limits.contains_key(k) {
            c.resources.limits.insert(k.clone(), v.clone());
            set_limits.push(k.as_str());
        }
    }
    for (k, v) in &defaults.requests {
        if !c.resources.requests.contains_key(k) {
            c.resources.requests.insert(k.clone(), v.clone());
            set_requests.push(k.as_str());
        }
    }
    if !set_requests.is_empty() {
        set_requests.sort_unstable();
        notes.push(format!(
            "{} request for {what} {}",
            set_requests.join(", "),
            c.name
        ));
    }
    if !set_limits.is_empty() {
        set_limits.sort_unstable();
        notes.push(format!(
            "{} limit for {what} {}",
            set_limits.join(", "),
            c.name
        ));
    }
}

/// Writes the containers' resources (and the annotation) of the defaulted `pod` back
/// into the object being created, leaving the rest of it as sent.
fn write_back(obj: &mut Value, pod: &Pod, notes: &[String]) {
    for (list, containers) in [
        ("containers", &pod.spec.containers),
        ("initContainers", &pod.spec.init_containers),
    ] {
        let Some(sent) = obj
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for (v, c) in sent.iter_mut().zip(containers) {
            if c.resources.requests.is_empty() && c.resources.limits.is_empty() {
                continue;
            }
            if let (Some(v), Ok(r)) = (v.as_object_mut(), serde_json::to_value(&c.resources)) {
                v.insert("resources".into(), r);
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    let note = format!("LimitRanger plugin set: {}", notes.join("; "));
    let meta = &mut obj["metadata"];
    match meta.get_mut("annotations").and_then(Value::as_object_mut) {
        Some(annotations) => {
            annotations.insert(LIMIT_RANGER_ANNOTATION.into(), json!(note));
        }
        None => meta["annotations"] = json!({ LIMIT_RANGER_ANNOTATION: note }),
    }
}

/// Kubernetes' `PodValidateLimitFunc`: every container against the `Container` items,
/// the pod's totals against the `Pod` items; the messages of every violation.
pub fn validate_pod(range: &LimitRange, pod: &Pod, errors: &mut Vec<String>) {
    for item in &range.spec.limits {
        let t = item.type_.as_str();
        let mut check = |requests: &ResourceList, limits: &ResourceList| {
            for (k, v) in &item.min {
                errors.extend(min_constraint(t, k, v, requests, limits));
            }
            for (k, v) in &item.max {
                errors.extend(max_constraint(t, k, v, requests, limits));
            }
            for (k, v) in &item.max_limit_request_ratio {
                errors.extend(ratio_constraint(t, k, v, requests, limits));
            }
        };
        if t == limit_types::CONTAINER {
            for c in pod.spec.containers.iter().chain(&pod.spec.init_containers) {
                check(&c.resources.requests, &c.resources.limits);
            }
        } else if t == limit_types::POD {
            let requests = pod_total(pod, |c| &c.resources.requests);
            let limits = pod_total(pod, |c| &c.resources.limits);
            check(&requests, &limits);
        }
    }
}

/// `(request, limit, enforced)` as Kubernetes compares them: in thousandths when all
/// three fit, else in units; absent values are zero.
fn compared(
    request: Option<&Quantity>,
    limit: Option<&Quantity>,
    enforced: &Quantity,
) -> (i64, i64, i64) {
    const MAX_MILLI: i64 = i64::MAX / 1000;
    let value = |q: Option<&Quantity>| q.map_or(0, Quantity::value);
    let milli = |q: Option<&Quantity>| q.map_or(0, Quantity::milli_value);
    if value(request) <= MAX_MILLI && value(limit) <= MAX_MILLI && enforced.value() <= MAX_MILLI {
        (milli(request), milli(limit), enforced.milli_value())
    } else {
        (value(request), value(limit), enforced.value())
    }
}

fn min_constraint(
    t: &str,
    name: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (req, lim) = (requests.get(name), limits.get(name));
    let (r, l, e) = compared(req, lim, enforced);
    let Some(req) = req else {
        return Some(format!(
            "minimum {name} usage per {t} is {enforced}.  No request is specified"
        ));
    };
    if r < e {
        return Some(format!(
            "minimum {name} usage per {t} is {enforced}, but request is {req}"
        ));
    }
    match lim {
        Some(lim) if l < e => Some(format!(
            "minimum {name} usage per {t} is {enforced}, but limit is {lim}"
        )),
        _ => None,
    }
}

fn max_request_constraint(
    t: &str,
    name: &str,
    enforced: &Quantity,
    requests: &ResourceList,
) -> Option<String> {
    let req = requests.get(name);
    let (r, _, e) = compared(req, None, enforced);
    let Some(req) = req else {
        return Some(format!(
            "maximum {name} usage per {t} is {enforced}.  No request is specified"
        ));
    };
    (r > e).then(|| format!("maximum {name} usage per {t} is {enforced}, but request is {req}"))
}

fn max_constraint(
    t: &str,
    name: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (req, lim) = (requests.get(name), limits.get(name));
    let (r, l, e) = compared(req, lim, enforced);
    let Some(lim) = lim else {
        return Some(format!(
            "maximum {name} usage per {t} is {enforced}.  No limit is specified"
        ));
    };
    if l > e {
        return Some(format!(
            "maximum {name} usage per {t} is {enforced}, but limit is {lim}"
        ));
    }
    match req {
        Some(req) if r > e => Some(format!(
            "maximum {name} usage per {t} is {enforced}, but request is {req}"
        )),
        _ => None,
    }
}

fn ratio_constraint(
    t: &str,
    name: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (req, lim) = (requests.get(name), limits.get(name));
    let (r, l, _) = compared(req, lim, enforced);
    if req.is_none() || r == 0 {
        return Some(format!("{name} max limit to request ratio per {t} is {enforced}, but no request is specified or request is 0"));
    }
    if lim.is_none() || l == 0 {
        return Some(format!("{name} max limit to request ratio per {t} is {enforced}, but no limit is specified or limit is 0"));
    }
    let observed = l as f64 / r as f64;
    let (mut ratio, mut max) = (observed, enforced.value() as f64);
    if enforced.value() <= i64::MAX / 1000 {
        ratio *= 1000.0;
        max = enforced.milli_value() as f64;
    }
    (ratio > max).then(|| {
        format!("{name} max limit to request ratio per {t} is {enforced}, but provided ratio is {observed:.6}")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn range(items: Value) -> LimitRange {
        let mut lr: LimitRange =
            serde_json::from_value(json!({"metadata": {"name": "lr"}, "spec": {"limits": items}}))
                .unwrap();
        lr.apply_defaults();
        lr
    }

    fn pod_of(containers: Value) -> Pod {
        let mut p: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": containers}}))
        .unwrap();
        p.apply_defaults();
        p
    }

    #[test]
    fn defaults_fill_only_what_a_container_does_not_state() {
        let lr = range(json!([{"type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]));
        let mut pod = pod_of(json!([
            {"name": "bare", "image": "x"},
            {"name": "limited", "image": "x", "resources": {"limits": {"cpu": "1"}}},
        ]));
        let mut notes = Vec::new();
        default_pod(&lr, &mut pod, &mut notes);
        let bare = &pod.spec.containers[0].resources;
        assert_eq!(bare.requests["cpu"].as_str(), "100m");
        assert_eq!(bare.limits["memory"].as_str(), "256Mi");
        let limited = &pod.spec.containers[1].resources;
        // Its request came from its own limit (pod defaulting), not from the range.
        assert_eq!(limited.requests["cpu"].as_str(), "1");
        assert_eq!(limited.limits["cpu"].as_str(), "1");
        assert_eq!(limited.requests["memory"].as_str(), "128Mi");
        assert_eq!(
            notes,
            [
                "cpu, memory request for container bare",
                "cpu, memory limit for container bare",
                "memory request for container limited",
                "memory limit for container limited",
            ]
        );
    }

    #[test]
    fn violations_table() {
        let table: &[(&str, Value, Value, &[&str])] = &[
            (
                "within bounds",
                json!([{"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"}}]),
                json!([{"name": "c", "image": "x", "resources": {"limits": {"cpu": "500m"}}}]),
                &[],
            ),
            (
                "limit above max",
                json!([{"type": "Container", "max": {"cpu": "1"}}]),
                json!([{"name": "c", "image": "x", "resources": {"limits": {"cpu": "2"}}}]),
                &["maximum cpu usage per Container is 1, but limit is 2"],
            ),
            (
                "no limit under a max",
                json!([{"type": "Pod", "max": {"memory": "1Gi"}}]),
                json!([{"name": "c", "image": "x"}]),
                &["maximum memory usage per Pod is 1Gi.  No limit is specified"],
            ),
            (
                "request below min",
                json!([{"type": "Container", "min": {"memory": "64Mi"}}]),
                json!([{"name": "c", "image": "x",
                    "resources": {"requests": {"memory": "32Mi"}}}]),
                &["minimum memory usage per Container is 64Mi, but request is 32Mi"],
            ),
            (
                "pod totals",
                json!([{"type": "Pod", "max": {"cpu": "1"}}]),
                json!([
                    {"name": "a", "image": "x", "resources": {"limits": {"cpu": "600m"}}},
                    {"name": "b", "image": "x", "resources": {"limits": {"cpu": "600m"}}},
                ]),
                &["maximum cpu usage per Pod is 1, but limit is 1200m"],
            ),
            (
                "ratio",
                json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
                json!([{"name": "c", "image": "x",
                    "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "300m"}}}]),
                &["cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000"],
            ),
        ];
        for (name, items, containers, want) in table {
            let mut errors = Vec::new();
            validate_pod(
                &range(items.clone()),
                &pod_of(containers.clone()),
                &mut errors,
            );
            assert_eq!(errors, *want, "{name}");
        }
    }
}
