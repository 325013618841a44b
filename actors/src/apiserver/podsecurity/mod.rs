//! PodSecurity admission: Kubernetes' built-in enforcement of the Pod Security Standards,
//! chosen per namespace by its `pod-security.kubernetes.io/<mode>[-version]` labels
//! ([`policy`]) and checked by [`checks`].
//!
//! It is a validating plugin ([`super::admission::Validator`]): it sees each object as
//! it will be written, after mutation, defaulting and validation, on create and on
//! update, as Kubernetes runs it:
//!
//! - **Pods** (create; updates that change an image, the seccomp annotations or add an
//!   ephemeral container; never `status`): `enforce` violations are refused with 403
//!   `pods "x" is forbidden: violates PodSecurity "<level>:<version>": ...`; `audit`
//!   violations become the audit event's `pod-security.kubernetes.io/audit-violations`
//!   annotation (and `enforce-policy` names the level enforced); `warn` violations come
//!   back as a `Warning` (kubectl prints `Warning: would violate PodSecurity ...`).
//! - **Workload resources** (the kinds with a pod template: Deployment, ReplicaSet,
//!   StatefulSet, DaemonSet, Job, ReplicationController, and CronJob's job template;
//!   not their subresources): never refused (a mutating webhook could still fix the
//!   pods they create), only audited and warned, where `warn` defaults to `enforce`.
//! - **Namespaces**: invalid label values are refused (422, `metadata.labels[...]:
//!   Invalid value: ...`) on create, and on update unless they were already invalid in
//!   the same way; tightening `enforce` warns about the existing pods that would violate
//!   it, grouped by their violations, as Kubernetes does.
//!
//! Every version label (`latest`, `v1.N`) is accepted and evaluated against the latest
//! policy. The cluster's configuration ([`config`]) sets the levels of unlabelled
//! namespaces and exempts requests by user, pods by runtime class and namespaces: an
//! exempt request is not checked, and its audit event says why
//! (`pod-security.kubernetes.io/exempt: user|runtimeClass|namespace`).

pub mod checks;
pub mod config;
pub mod policy;

use std::collections::{BTreeMap, HashMap};

use futures::future::BoxFuture;
use rudder_protocol::registry::ResourceInfo;
use serde_json::Value;

use super::admission::{forbidden, Change};
use super::core::{fail, fail_for, ApiCore, ApiResult, ListOptions};
use super::notes;
use policy::{errors_text, policy_of, Level, LevelVersion, Policy, PREFIX};

/// The audit annotation naming the level enforced on a pod.
const ENFORCE_POLICY: &str = "enforce-policy";
/// The audit annotation with the audit mode's violations.
const AUDIT_VIOLATIONS: &str = "audit-violations";
/// The audit annotation saying the namespace's labels could not be read.
const ERROR: &str = "error";
/// The audit annotation saying why a request was not checked.
const EXEMPT: &str = "exempt";
/// At most this many existing pods are checked when a namespace's enforce level
/// tightens (Kubernetes' default).
const MAX_PODS_TO_CHECK: usize = 3000;

/// The labels of `obj`, the string ones.
fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

/// The labels of namespace `ns`: from the watch cache, else the store (a namespace
/// created a moment ago may not have reached the cache); none when it does not exist
/// (NamespaceLifecycle answers that).
async fn namespace_labels(core: &ApiCore, ns: &str) -> ApiResult<BTreeMap<String, String>> {
    let info = super::core::served("", "namespaces")?;
    if let Some(obj) = core.cached(info, &super::core::key(info, None, ns)) {
        return Ok(labels_of(&obj));
    }
    match core.get(info, None, ns).await {
        Ok(obj) => Ok(labels_of(&obj)),
        Err(e) if e.code == 404 => Ok(BTreeMap::new()),
        Err(e) => Err(fail(
            500,
            "InternalError",
            format!("failed to lookup namespace {ns}: {}", e.message),
        )),
    }
}

/// The namespace's policy and, when a label could not be read, the errors' message.
async fn namespace_policy(core: &ApiCore, obj: &Value) -> ApiResult<(Policy, Option<String>)> {
    let (policy, errors) = policy_of(
        &namespace_labels(core, namespace_of(obj)).await?,
        &core.pod_security().defaults,
    );
    let error = (!errors.is_empty()).then(|| errors_text(&errors));
    Ok((policy, error))
}

fn namespace_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether the configuration exempts this request for a pod (or pod template) of `obj`
/// with `spec`; an exempt one is recorded in the audit event.
fn exempt(core: &ApiCore, obj: &Value, spec: &Value) -> bool {
    let config = core.pod_security();
    let runtime_class = spec.get("runtimeClassName").and_then(Value::as_str);
    // The requester is read (a copy of its name) only when some user is exempt.
    let user = (!config.exempt_users.is_empty())
        .then(notes::requester)
        .flatten();
    match config.exemption(namespace_of(obj), user.as_deref(), runtime_class) {
        Some(why) => {
            notes::add_audit_annotation(format!("{PREFIX}{EXEMPT}"), why.as_str());
            true
        }
        None => false,
    }
}

/// Evaluates a pod (or pod template) of `obj` with this metadata and spec against the
/// namespace's policy: refuses it when `enforce` is on and violated, and otherwise
/// records the audit annotations and warnings.
fn evaluate(
    info: &ResourceInfo,
    obj: &Value,
    (policy, error): &(Policy, Option<String>),
    (meta, spec): (&Value, &Value),
    enforce: bool,
) -> ApiResult<()> {
    if let Some(e) = error {
        notes::add_audit_annotation(
            format!("{PREFIX}{ERROR}"),
            format!("Failed to parse policy: {e}"),
        );
    }
    // Every version is the latest policy: one evaluation per level.
    let mut results: HashMap<Level, Vec<checks::Violation>> = HashMap::new();
    let mut result = |lv: LevelVersion| {
        results
            .entry(lv.level)
            .or_insert_with(|| checks::evaluate(lv.level, meta, spec))
            .clone()
    };
    let mut refusal = None;
    if enforce {
        notes::add_audit_annotation(
            format!("{PREFIX}{ENFORCE_POLICY}"),
            policy.enforce.to_string(),
        );
        let v = result(policy.enforce);
        if !v.is_empty() {
            let why = format!(
                "violates PodSecurity \"{}\": {}",
                policy.enforce,
                checks::details(&v)
            );
            refusal = Some(forbidden(info, obj, why));
        }
    }
    let v = result(policy.audit);
    if !v.is_empty() {
        notes::add_audit_annotation(
            format!("{PREFIX}{AUDIT_VIOLATIONS}"),
            format!(
                "would violate PodSecurity \"{}\": {}",
                policy.audit,
                checks::details(&v)
            ),
        );
    }
    // A request about to be refused gets no warnings.
    if let Some(e) = refusal {
        return Err(e);
    }
    let v = result(policy.warn);
    if !v.is_empty() {
        notes::add_warning(format!(
            "would violate PodSecurity \"{}\": {}",
            policy.warn,
            checks::details(&v)
        ));
    }
    Ok(())
}

/// Whether `policy` checks nothing in these modes (and its labels were all readable).
fn all_privileged(levels: &[LevelVersion], error: &Option<String>) -> bool {
    error.is_none() && levels.iter().all(|lv| lv.level == Level::Privileged)
}

/// Whether a pod update changes something PodSecurity checks: the pod spec allows few
/// changes (images, ephemeral containers) and the seccomp annotations may change.
fn significant_pod_update(new: &Value, old: &Value) -> bool {
    const POD_SECCOMP: &str = "seccomp.security.alpha.kubernetes.io/pod";
    const CONTAINER_SECCOMP: &str = "container.seccomp.security.alpha.kubernetes.io/";
    let annotation = |pod: &Value, key: &str| {
        pod.pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .cloned()
    };
    if annotation(new, POD_SECCOMP) != annotation(old, POD_SECCOMP) {
        return true;
    }
    let container_changed = |c: &Value, o: &Value| {
        let key = format!(
            "{CONTAINER_SECCOMP}{}",
            c["name"].as_str().unwrap_or_default()
        );
        c["image"] != o["image"] || annotation(new, &key) != annotation(old, &key)
    };
    let list = |pod: &Value, name: &str| pod["spec"][name].as_array().cloned().unwrap_or_default();
    for name in ["containers", "initContainers"] {
        let (n, o) = (list(new, name), list(old, name));
        if n.len() != o.len() || n.iter().zip(&o).any(|(c, o)| container_changed(c, o)) {
            return true;
        }
    }
    let old_ephemeral = list(old, "ephemeralContainers");
    list(new, "ephemeralContainers").iter().any(|c| {
        match old_ephemeral.iter().find(|o| o["name"] == c["name"]) {
            None => true,
            Some(o) => container_changed(c, o),
        }
    })
}

/// The pod subresources whose writes PodSecurity ignores (the others, like
/// `ephemeralcontainers`, may change what runs).
const IGNORED_POD_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

/// PodSecurity for pods: see the module documentation.
pub fn pod<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    change: Change<'a>,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        if IGNORED_POD_SUBRESOURCES.contains(&change.subresource) {
            return Ok(());
        }
        if exempt(core, change.object, &change.object["spec"]) {
            return Ok(());
        }
        let ns_policy = namespace_policy(core, change.object).await?;
        let (p, error) = &ns_policy;
        if all_privileged(&[p.enforce, p.audit, p.warn], error) {
            return Ok(());
        }
        if let Some(old) = change.old {
            if !significant_pod_update(change.object, old) {
                return Ok(());
            }
        }
        let pod = change.object;
        evaluate(
            info,
            pod,
            &ns_policy,
            (&pod["metadata"], &pod["spec"]),
            true,
        )
    })
}

/// PodSecurity for a workload resource whose pod template is at `template` (a JSON
/// pointer): audited and warned, never refused.
async fn pod_template(
    core: &ApiCore,
    info: &'static ResourceInfo,
    change: Change<'_>,
    template: &str,
) -> ApiResult<()> {
    if !change.subresource.is_empty() {
        return Ok(());
    }
    let Some(t) = change.object.pointer(template) else {
        return Ok(());
    };
    if exempt(core, change.object, &t["spec"]) {
        return Ok(());
    }
    let ns_policy = namespace_policy(core, change.object).await?;
    let (p, error) = &ns_policy;
    if all_privileged(&[p.audit, p.warn], error) {
        return Ok(());
    }
    evaluate(
        info,
        change.object,
        &ns_policy,
        (&t["metadata"], &t["spec"]),
        false,
    )
}

/// PodSecurity for the workload kinds with a pod template at `spec.template`.
pub fn workload<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    change: Change<'a>,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(pod_template(core, info, change, "/spec/template"))
}

/// PodSecurity for CronJobs (the pod template of their job template).
pub fn cron_job<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    change: Change<'a>,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(pod_template(
        core,
        info,
        change,
        "/spec/jobTemplate/spec/template",
    ))
}

/// PodSecurity for namespaces: see the module documentation.
pub fn namespace<'a>(
    core: &'a ApiCore,
    info: &'static ResourceInfo,
    change: Change<'a>,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        if !change.subresource.is_empty() {
            return Ok(());
        }
        let ns = change.object;
        let name = ns
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let defaults = &core.pod_security().defaults;
        let (new, new_errors) = policy_of(&labels_of(ns), defaults);
        let invalid = |errors: &[policy::LabelError]| {
            fail_for(422, "Invalid", info, name, errors_text(errors))
        };
        let Some(old) = change.old else {
            if new_errors.is_empty() {
                return Ok(());
            }
            return Err(invalid(&new_errors));
        };
        let (old, old_errors) = policy_of(&labels_of(old), defaults);
        if !new_errors.is_empty()
            && (old_errors.is_empty() || errors_text(&new_errors) != errors_text(&old_errors))
        {
            return Err(invalid(&new_errors));
        }
        // An exempt namespace's pods are never checked, so neither is a new level.
        if !tightened(new.enforce, old.enforce)
            || core.pod_security().exempt_namespaces.contains(name)
        {
            return Ok(());
        }
        for w in existing_pod_warnings(core, name, new.enforce).await {
            notes::add_warning(w);
        }
        Ok(())
    })
}

/// Whether a namespace's enforce level changing from `old` to `new` may refuse pods that
/// were admitted: not when unchanged, privileged, or relaxed at the same version.
fn tightened(new: LevelVersion, old: LevelVersion) -> bool {
    let relaxed = new.version == old.version && new.level <= old.level;
    new != old && new.level != Level::Privileged && !relaxed
}

/// The warnings about the pods of namespace `ns` (as the watch cache holds them) that
/// violate `enforce`.
async fn existing_pod_warnings(core: &ApiCore, ns: &str, enforce: LevelVersion) -> Vec<String> {
    let pods = match super::core::served("", "pods") {
        Ok(info) => {
            let opts = ListOptions {
                resource_version: Some("0".into()),
                ..ListOptions::default()
            };
            core.list(info, Some(ns), &opts).await.map(|l| l.0)
        }
        Err(e) => Err(e),
    };
    match pods {
        Ok(pods) => pod_warnings(ns, enforce, &pods),
        Err(_) => vec!["failed to list pods while checking new PodSecurity enforce level".into()],
    }
}

/// The warnings about `pods` (of namespace `ns`) that violate `enforce`: one line saying
/// so, then one per distinct set of violations, naming the first pod (by name) and how
/// many others share it; at most [`MAX_PODS_TO_CHECK`] pods are checked.
fn pod_warnings(ns: &str, enforce: LevelVersion, pods: &[Value]) -> Vec<String> {
    let mut warnings = Vec::new();
    let total = pods.len();
    if total > MAX_PODS_TO_CHECK {
        warnings.push(format!(
            "new PodSecurity enforce level only checked against the first {MAX_PODS_TO_CHECK} of {total} existing pods"
        ));
    }
    // Per distinct reasons: the first pod name and the count.
    let mut groups: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for pod in pods.iter().take(MAX_PODS_TO_CHECK) {
        let v = checks::evaluate(enforce.level, &pod["metadata"], &pod["spec"]);
        if v.is_empty() {
            continue;
        }
        let pod_name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let g = groups
            .entry(checks::reasons(&v))
            .or_insert_with(|| (pod_name.to_owned(), 0));
        if pod_name < g.0.as_str() {
            g.0 = pod_name.to_owned();
        }
        g.1 += 1;
    }
    if groups.is_empty() {
        return warnings;
    }
    warnings.push(format!(
        "existing pods in namespace \"{ns}\" violate the new PodSecurity enforce level \"{enforce}\""
    ));
    let mut per_pod: Vec<String> = groups
        .into_iter()
        .map(|(reasons, (first, count))| match count {
            1 => format!("{first}: {reasons}"),
            2 => format!("{first} (and 1 other pod): {reasons}"),
            n => format!("{first} (and {} other pods): {reasons}", n - 1),
        })
        .collect();
    per_pod.sort();
    warnings.extend(per_pod);
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn significant_pod_updates() {
        let pod = json!({"metadata": {"labels": {"a": "1"}},
            "spec": {"containers": [{"name": "c", "image": "demo:1"}]}});
        let cases: Vec<(&str, Value, bool)> = vec![
            (
                "labels only",
                json!({"metadata": {"labels": {"a": "2"}},
                "spec": {"containers": [{"name": "c", "image": "demo:1"}]}}),
                false,
            ),
            (
                "an image",
                json!({"metadata": {},
                "spec": {"containers": [{"name": "c", "image": "demo:2"}]}}),
                true,
            ),
            (
                "an ephemeral container added",
                json!({"metadata": {},
                "spec": {"containers": [{"name": "c", "image": "demo:1"}],
                         "ephemeralContainers": [{"name": "debug", "image": "demo:1"}]}}),
                true,
            ),
            (
                "a seccomp annotation",
                json!({"metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}},
                "spec": {"containers": [{"name": "c", "image": "demo:1"}]}}),
                true,
            ),
        ];
        for (name, new, want) in cases {
            assert_eq!(significant_pod_update(&new, &pod), want, "{name}");
        }
    }

    fn lv(level: Level, version: &str) -> LevelVersion {
        LevelVersion {
            level,
            version: policy::Version::parse(version).unwrap_or_default(),
        }
    }

    #[test]
    fn which_enforce_changes_check_existing_pods() {
        let cases = [
            (
                "unchanged",
                lv(Level::Baseline, "latest"),
                lv(Level::Baseline, "latest"),
                false,
            ),
            (
                "to privileged",
                lv(Level::Privileged, "latest"),
                lv(Level::Baseline, "latest"),
                false,
            ),
            (
                "relaxed",
                lv(Level::Baseline, "latest"),
                lv(Level::Restricted, "latest"),
                false,
            ),
            (
                "tightened",
                lv(Level::Restricted, "latest"),
                lv(Level::Baseline, "latest"),
                true,
            ),
            (
                "another version",
                lv(Level::Baseline, "v1.30"),
                lv(Level::Restricted, "latest"),
                true,
            ),
        ];
        for (name, new, old, want) in cases {
            assert_eq!(tightened(new, old), want, "{name}");
        }
    }

    #[test]
    fn existing_pods_are_grouped_by_their_violations() {
        let pod = |name: &str, spec: Value| json!({"metadata": {"name": name}, "spec": spec});
        let pods = vec![
            pod(
                "web-2",
                json!({"hostNetwork": true, "containers": [{"name": "c"}]}),
            ),
            pod("ok", json!({"containers": [{"name": "c"}]})),
            pod(
                "web-1",
                json!({"hostNetwork": true, "containers": [{"name": "c"}]}),
            ),
            pod(
                "agent",
                json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}),
            ),
            pod(
                "web-3",
                json!({"hostNetwork": true, "containers": [{"name": "c"}]}),
            ),
        ];
        assert_eq!(
            pod_warnings("ns", lv(Level::Baseline, "latest"), &pods),
            vec![
                "existing pods in namespace \"ns\" violate the new PodSecurity enforce level \"baseline:latest\"",
                "agent: privileged",
                "web-1 (and 2 other pods): host namespaces",
            ]
        );
        assert!(pod_warnings("ns", lv(Level::Baseline, "latest"), &pods[1..2]).is_empty());
    }

    #[test]
    fn privileged_everywhere_checks_nothing() {
        let lv = |level| LevelVersion {
            level,
            version: policy::Version::LATEST,
        };
        assert!(all_privileged(&[lv(Level::Privileged)], &None));
        assert!(!all_privileged(
            &[lv(Level::Privileged)],
            &Some("bad".into())
        ));
        assert!(!all_privileged(
            &[lv(Level::Privileged), lv(Level::Baseline)],
            &None
        ));
    }
}
