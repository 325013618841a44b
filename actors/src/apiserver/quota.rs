//! The ResourceQuota admission plugin, as Kubernetes' `plugin/pkg/admission/resourcequota`,
//! and the usage counting it shares with the quota controller
//! ([`crate::controllers::resourcequota`]).
//!
//! Rules, as Kubernetes keeps them:
//! - A quota caps what its `status.hard` names (the controller copies `spec.hard` there):
//!   a quota the controller has not seen yet caps nothing. It applies to an object when
//!   it caps something the object's kind consumes (its `count/<resource>`, or what the
//!   kind's [`Strategy`](super::kinds::Strategy) quota hooks say: a pod's `pods`,
//!   `requests.cpu`, ...) and the object is in all its scopes.
//! - On create, what the object consumes of each capped resource is added to
//!   `status.used`; if any total would exceed `hard`, the create is refused with `403
//!   exceeded quota: <name>, requested: ..., used: ..., limited: ...`. A quota whose
//!   `used` lacks a capped resource cannot decide (`status unknown for quota`); a pod
//!   that does not state a capped CPU or memory request or limit is refused (`failed
//!   quota: <name>: must specify ...`).
//! - The new usage is written to the quota's status before the object is stored, as a
//!   compare-and-swap on the quota's resourceVersion
//!   ([`ApiCore::guaranteed_update`](super::core::ApiCore)): a create that lost the race
//!   re-reads the quota and decides again on what it read, so concurrent creates never
//!   take a quota past `hard`. A create that fails after the charge leaves the usage
//!   high until the controller recounts (as in Kubernetes).
//! - An update is charged what it adds (each resource's increase over the old object:
//!   a Service turned `NodePort` or `LoadBalancer`, a claim asking for more storage),
//!   checked and written the same way; one that adds nothing reads no quota.
//! - Dry runs are checked but charge nothing.

use rudder_protocol::registry::ResourceInfo;
use rudder_protocol::resources::{Quantity, ResourceList, ResourceQuota};
use serde_json::Value;

use super::admission::forbidden;
use super::core::{served, ApiCore, ApiResult, Check};
use super::kinds::{self, KindOps};

/// Whether `obj` (of `kind`) is in every scope of `q`: its `scopes`, and its
/// `scopeSelector` (`Exists`: in the scope, `DoesNotExist`: not in it). Kinds without
/// scopes are in none, so scoped quotas never count them.
pub fn in_scope(q: &ResourceQuota, kind: &dyn KindOps, obj: &Value) -> bool {
    let scopes = q.spec.scopes.iter().map(|s| (s.as_str(), true));
    let selected = q
        .spec
        .scope_selector
        .iter()
        .flat_map(|s| &s.match_expressions)
        .map(|r| (r.scope_name.as_str(), r.operator == "Exists"));
    scopes
        .chain(selected)
        .all(|(scope, wanted)| kind.quota_scope(obj, scope) == Some(wanted))
}

/// `name=value` of the resources in `names`, in `list`, joined by commas (Kubernetes'
/// `prettyPrint`).
fn pretty(list: &ResourceList, names: &[String]) -> String {
    names
        .iter()
        .filter_map(|k| list.get(k).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// What admitting `obj` (of `kind`) does to `q`, as its status was read: `None` when
/// the quota does not apply or nothing it caps changes, else the new `status.used`; or
/// why the object may not be created (the text after `is forbidden: `).
pub fn charge(
    q: &ResourceQuota,
    kind: &dyn KindOps,
    obj: &Value,
) -> Result<Option<ResourceList>, String> {
    charge_with(q, kind, obj, kind.quota_usage(obj))
}

/// What an update from `old` to `obj` adds to what it uses: each resource's increase
/// (Kubernetes' `SubtractWithNonNegativeResult`), none for what stays or shrinks.
pub fn growth(kind: &dyn KindOps, old: &Value, obj: &Value) -> ResourceList {
    let before = kind.quota_usage(old);
    kind.quota_usage(obj)
        .into_iter()
        .filter_map(|(k, v)| {
            let d = match before.get(&k) {
                Some(b) => v.sub(b),
                None => v,
            };
            (!d.is_zero() && !d.is_negative()).then_some((k, d))
        })
        .collect()
}

/// [`charge`] of `usage`, what admitting `obj` adds.
fn charge_with(
    q: &ResourceQuota,
    kind: &dyn KindOps,
    obj: &Value,
    usage: ResourceList,
) -> Result<Option<ResourceList>, String> {
    let hard = &q.status.hard;
    let capped: Vec<&str> = hard
        .keys()
        .map(String::as_str)
        .filter(|k| kind.quota_matches(k))
        .collect();
    if capped.is_empty() || !in_scope(q, kind, obj) {
        return Ok(None);
    }
    let name = &q.metadata.name;
    kind.quota_constraints(obj, &capped)
        .map_err(|e| format!("failed quota: {name}: {e}"))?;
    let unknown: Vec<&str> = capped
        .iter()
        .copied()
        .filter(|k| !q.status.used.contains_key(*k))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "status unknown for quota: {name}, resources: {}",
            unknown.join(",")
        ));
    }
    let delta: ResourceList = usage
        .into_iter()
        .filter(|(k, _)| capped.contains(&k.as_str()))
        .collect();
    if delta.values().all(Quantity::is_zero) {
        return Ok(None);
    }
    let mut used = q.status.used.clone();
    let mut exceeded = Vec::new();
    for (k, v) in &delta {
        let total = used.get(k).map_or_else(|| v.clone(), |u| u.add(v));
        if hard.get(k).is_some_and(|h| total.cmp_value(h).is_gt()) {
            exceeded.push(k.clone());
        }
        used.insert(k.clone(), total);
    }
    if !exceeded.is_empty() {
        return Err(format!(
            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
            pretty(&delta, &exceeded),
            pretty(&q.status.used, &exceeded),
            pretty(hard, &exceeded),
        ));
    }
    Ok(Some(used))
}

/// What `objects` (per kind) use of each resource `q` caps in its spec, zero for
/// those nothing uses (Kubernetes' `CalculateUsage`): the quota controller's count.
pub fn used(q: &ResourceQuota, objects: &[(&dyn KindOps, Vec<Value>)]) -> ResourceList {
    let mut used: ResourceList = q
        .spec
        .hard
        .keys()
        .map(|k| (k.clone(), Quantity::default()))
        .collect();
    for (kind, objs) in objects {
        for obj in objs.iter().filter(|o| in_scope(q, *kind, o)) {
            for (k, v) in kind.quota_usage(obj) {
                if let Some(u) = used.get_mut(&k) {
                    *u = u.add(&v);
                }
            }
        }
    }
    used
}

/// Whether a quota capping `hard` counts objects of `kind` at all.
pub fn counts(hard: &ResourceList, kind: &dyn KindOps) -> bool {
    hard.keys().any(|k| kind.quota_matches(k))
}

/// The ResourceQuota admission of a create of `obj` (of `info`) in `namespace`: every
/// quota of the namespace that applies is checked, then charged (see the module docs).
pub(super) async fn admit(
    core: &ApiCore,
    info: &'static ResourceInfo,
    namespace: Option<&str>,
    obj: &Value,
    dry_run: bool,
) -> ApiResult<()> {
    let kind = kinds::for_resource(info)?;
    admit_usage(core, info, namespace, obj, kind.quota_usage(obj), dry_run).await
}

/// Checks, then charges, `usage` of `obj` to every quota of `namespace` that applies:
/// a create's whole usage, an update's [`growth`] (an update that adds nothing, as
/// most do, is not brought here and reads no quota).
pub(super) async fn admit_usage(
    core: &ApiCore,
    info: &'static ResourceInfo,
    namespace: Option<&str>,
    obj: &Value,
    usage: ResourceList,
    dry_run: bool,
) -> ApiResult<()> {
    let Some(ns) = namespace.filter(|_| info.namespaced) else {
        return Ok(());
    };
    let kind = kinds::for_resource(info)?;
    let quotas = served("", "resourcequotas")?;
    // From the watch cache, as Kubernetes reads its informer: a stale quota is
    // harmless (the charge below re-reads it on a lost race), a quota created within
    // the cache's lag may not apply yet.
    let (items, _, _) = core
        .list(quotas, Some(ns), &super::limitranger::cached())
        .await?;
    let mut charged = Vec::new();
    for item in items {
        let Ok(q) = serde_json::from_value::<ResourceQuota>(item) else {
            continue;
        };
        match charge_with(&q, kind, obj, usage.clone()) {
            Err(why) => return Err(forbidden(info, obj, why)),
            Ok(None) => {}
            Ok(Some(_)) => charged.push(q.metadata.name),
        }
    }
    if dry_run {
        return Ok(());
    }
    for name in charged {
        let written = core
            .guaranteed_update(quotas, Some(ns), &name, false, |current| {
                let q: ResourceQuota = serde_json::from_value(current.clone()).map_err(|e| {
                    super::core::fail(
                        500,
                        "InternalError",
                        format!("stored quota unreadable: {e}"),
                    )
                })?;
                let mut new = current.clone();
                // Decided again on the version read: another create may have charged it.
                match charge_with(&q, kind, obj, usage.clone()) {
                    Err(why) => return Err(forbidden(info, obj, why)),
                    Ok(None) => {}
                    Ok(Some(used)) => {
                        new["status"]["used"] = serde_json::to_value(used)
                            .map_err(|e| super::core::fail(500, "InternalError", e.to_string()))?;
                    }
                }
                Ok((new, Check::Afresh))
            })
            .await;
        match written {
            Ok(_) => {}
            // Deleted meanwhile: nothing left to charge.
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    /// The used amounts a charge gives, or its refusal.
    type Want = Result<Option<&'static [(&'static str, &'static str)]>, &'static str>;

    fn quota(hard: Value, used: Value) -> ResourceQuota {
        serde_json::from_value(json!({"metadata": {"name": "compute", "namespace": "a"},
            "spec": {"hard": hard}, "status": {"hard": hard, "used": used}}))
        .unwrap()
    }

    fn pod(resources: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": resources}]}})
    }

    fn kind(k: &str) -> &'static dyn KindOps {
        kinds::for_kind(k).unwrap()
    }

    #[test]
    fn charge_table() {
        let cpu = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}});
        let table: &[(&str, ResourceQuota, Value, Want)] = &[
            (
                "within the quota",
                quota(
                    json!({"pods": "2", "requests.cpu": "1"}),
                    json!({"pods": "1", "requests.cpu": "500m"}),
                ),
                pod(cpu.clone()),
                Ok(Some(&[("pods", "2"), ("requests.cpu", "1")])),
            ),
            (
                "exceeded",
                quota(json!({"pods": "1"}), json!({"pods": "1"})),
                pod(cpu.clone()),
                Err("exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1"),
            ),
            (
                "a capped request not stated",
                quota(
                    json!({"requests.memory": "1Gi", "limits.cpu": "2"}),
                    json!({"requests.memory": "0", "limits.cpu": "0"}),
                ),
                pod(json!({})),
                Err(
                    "failed quota: compute: must specify limits.cpu for: c; requests.memory for: c",
                ),
            ),
            (
                "status not counted yet",
                quota(json!({"pods": "1"}), json!({})),
                pod(json!({})),
                Err("status unknown for quota: compute, resources: pods"),
            ),
            (
                "another kind's resources",
                quota(json!({"services": "1"}), json!({"services": "1"})),
                pod(json!({})),
                Ok(None),
            ),
        ];
        for (name, q, obj, want) in table {
            let got = charge(q, kind("Pod"), obj);
            match (want, got) {
                (Ok(None), Ok(None)) => {}
                (Ok(Some(want)), Ok(Some(used))) => {
                    for (k, v) in *want {
                        assert_eq!(used[*k].as_str(), *v, "{name}: {k}");
                    }
                }
                (Err(want), Err(got)) => assert_eq!(got, *want, "{name}"),
                (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn counts_follow_scopes_and_terminal_pods() {
        let mut q = quota(
            json!({"pods": "10", "count/pods": "10", "requests.memory": "1Gi"}),
            json!({}),
        );
        let mem = |m: &str| pod(json!({"requests": {"memory": m}}));
        let mut done = mem("64Mi");
        done["status"] = json!({"phase": "Succeeded"});
        let objects = vec![(
            kind("Pod"),
            vec![mem("128Mi"), mem("64Mi"), pod(json!({})), done],
        )];
        let used = used(&q, &objects);
        assert_eq!(used["pods"].as_str(), "3");
        assert_eq!(
            used["count/pods"].as_str(),
            "4",
            "terminal pods are still objects"
        );
        assert_eq!(used["requests.memory"].as_str(), "192Mi");
        q.spec.scopes = vec!["BestEffort".into()];
        q.spec.hard.remove("requests.memory");
        let used = super::used(&q, &objects);
        assert_eq!(used["pods"].as_str(), "1", "only the pod without requests");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(
            !in_scope(&q, kind("ConfigMap"), &cm),
            "scoped quotas count pods only"
        );
    }
}
