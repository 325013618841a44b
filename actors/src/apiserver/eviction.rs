//! The `pods/eviction` subresource: a deletion of a pod that respects the
//! PodDisruptionBudget covering it, as Kubernetes' `EvictionREST`
//! (`pkg/registry/core/pod/storage/eviction.go`) does it. `kubectl drain` evicts through
//! it and retries while the answer is 429.
//!
//! The rules, in order:
//! 1. A pod that is already terminal (`Succeeded`, `Failed`), still `Pending`, or being
//!    deleted is deleted without looking at any budget (a `Pending` one with its
//!    resourceVersion as precondition, so it is not deleted if it started meanwhile).
//! 2. More than one budget covering the pod: 500, "This pod has more than one
//!    PodDisruptionBudget, which the eviction subresource does not support.". None:
//!    the pod is deleted.
//! 3. A pod that is not ready is deleted without spending the budget when the budget's
//!    `unhealthyPodEvictionPolicy` is `AlwaysAllow`, or (the default `IfHealthyBudget`)
//!    when the budget is met (`currentHealthy >= desiredHealthy > 0`).
//! 4. Otherwise the budget decides ([`spend`]): a status its controller has not caught up
//!    with (`observedGeneration` behind `generation`) is a 429 with `Retry-After: 10`;
//!    no disruption allowed is a 429 "Cannot evict pod as it would violate the pod's
//!    disruption budget." with a `DisruptionBudget` cause; else `disruptionsAllowed`
//!    goes down by one and the pod joins `status.disruptedPods`, written with the
//!    budget's resourceVersion as precondition (a conflict re-reads the budget and
//!    decides again).
//! 5. The pod gets the condition `DisruptionTarget=True` (reason
//!    `EvictionByEvictionAPI`), then is deleted with the Eviction's `deleteOptions`.
//!
//! Under dry run the checks run and nothing is written.

use rudder_protocol::resources::{
    set_status_condition, Condition, ConditionStatus, Pod, PodDisruptionBudget, PodPhase, Status,
    StatusCause, StatusDetails, StatusOutcome, Time, UnhealthyPodEvictionPolicy,
    DISRUPTION_ALLOWED, DISRUPTION_BUDGET_CAUSE, DISRUPTION_TARGET, INSUFFICIENT_PODS,
    SUFFICIENT_PODS,
};
use serde_json::{json, Value};

use super::core::{fail, ApiCore, ApiError, ApiResult, Check, ListOptions, Part, WriteOptions};
use super::registry::{self, ResourceInfo};

/// How many times a conflict (on the pod or its budget) is retried.
const ATTEMPTS: usize = 5;
/// A budget holds at most this many pods whose eviction is not yet confirmed.
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;
/// The message of an eviction that would break the budget.
pub const VIOLATES_BUDGET: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";
/// The message of an eviction of a pod covered by several budgets.
pub const MULTIPLE_BUDGETS: &str =
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// Whether a pod may go without consulting its budget: it is terminal, pending, or
/// already being deleted (Kubernetes' `canIgnorePDB`).
pub fn can_ignore_budget(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded | PodPhase::Failed | PodPhase::Pending)
    ) || pod.metadata.deletion_timestamp.is_some()
}

/// The budgets of the pod's namespace that cover it.
pub fn covering<'a>(pod: &Pod, budgets: &'a [PodDisruptionBudget]) -> Vec<&'a PodDisruptionBudget> {
    budgets
        .iter()
        .filter(|b| b.metadata.namespace == pod.metadata.namespace)
        .filter(|b| b.selects(&pod.metadata.labels))
        .collect()
}

/// Whether an unready pod may be deleted without spending its budget (rule 3).
pub fn unhealthy_may_go(pod: &Pod, pdb: &PodDisruptionBudget) -> bool {
    if pod.is_ready() {
        return false;
    }
    match pdb.spec.unhealthy_pod_eviction_policy {
        Some(UnhealthyPodEvictionPolicy::AlwaysAllow) => true,
        None | Some(UnhealthyPodEvictionPolicy::IfHealthyBudget) => {
            pdb.status.current_healthy >= pdb.status.desired_healthy
                && pdb.status.desired_healthy > 0
        }
    }
}

/// A 429 about `pdb`, with Kubernetes' message, cause and retry hint.
fn too_many_requests(cause: String, retry_after_seconds: i32) -> ApiError {
    let mut s = Status::failure(429, "TooManyRequests", VIOLATES_BUDGET);
    s.details = Some(StatusDetails {
        causes: vec![StatusCause {
            reason: DISRUPTION_BUDGET_CAUSE.into(),
            message: cause,
            ..StatusCause::default()
        }],
        retry_after_seconds,
        ..StatusDetails::default()
    });
    Box::new(s)
}

fn forbidden(pdb: &PodDisruptionBudget, why: &str) -> ApiError {
    let name = &pdb.metadata.name;
    let mut s = Status::failure(
        403,
        "Forbidden",
        format!("poddisruptionbudgets.policy \"{name}\" is forbidden: {why}"),
    );
    s.details = Some(StatusDetails {
        name: name.clone(),
        group: "policy".into(),
        kind: "poddisruptionbudgets".into(),
        ..StatusDetails::default()
    });
    Box::new(s)
}

/// Kubernetes' `checkAndDecrement`: the budget's status after evicting `pod` at `now`,
/// or the error that refuses the eviction. Under `dry_run` the pod is not recorded in
/// `disruptedPods` (the status is not written anyway).
pub fn spend(
    pdb: &PodDisruptionBudget,
    pod: &str,
    now: Time,
    dry_run: bool,
) -> ApiResult<PodDisruptionBudget> {
    let name = &pdb.metadata.name;
    if pdb.status.observed_generation < pdb.metadata.generation {
        return Err(too_many_requests(
            format!("The disruption budget {name} is still being processed by the server."),
            10,
        ));
    }
    if pdb.status.disruptions_allowed < 0 {
        return Err(forbidden(pdb, "pdb disruptions allowed is negative"));
    }
    if pdb.status.disrupted_pods.len() > MAX_DISRUPTED_POD_SIZE {
        return Err(forbidden(
            pdb,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if pdb.status.disruptions_allowed == 0 {
        return Err(too_many_requests(
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                pdb.status.desired_healthy, pdb.status.current_healthy
            ),
            0,
        ));
    }
    let mut out = pdb.clone();
    out.status.disruptions_allowed -= 1;
    if out.status.disruptions_allowed == 0 {
        update_disruption_allowed_condition(&mut out, now);
    }
    if !dry_run {
        out.status.disrupted_pods.insert(pod.to_owned(), now);
    }
    Ok(out)
}

/// Kubernetes' `UpdateDisruptionAllowedCondition`: `DisruptionAllowed` True with
/// `SufficientPods` while disruptions are allowed, False with `InsufficientPods`
/// otherwise.
pub fn update_disruption_allowed_condition(pdb: &mut PodDisruptionBudget, now: Time) {
    let allowed = pdb.status.disruptions_allowed > 0;
    let cond = Condition {
        type_: DISRUPTION_ALLOWED.into(),
        status: if allowed {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason: if allowed {
            SUFFICIENT_PODS
        } else {
            INSUFFICIENT_PODS
        }
        .into(),
        observed_generation: pdb.status.observed_generation,
        ..Condition::default()
    };
    set_status_condition(&mut pdb.status.conditions, cond, now);
}

fn decode<K: serde::de::DeserializeOwned>(v: &Value, what: &str) -> ApiResult<K> {
    serde_json::from_value(v.clone()).map_err(|e| {
        fail(
            500,
            "InternalError",
            format!("stored {what} unreadable: {e}"),
        )
    })
}

fn info_of(plural: &str, group: &str) -> ApiResult<&'static ResourceInfo> {
    registry::resource(group, "v1", plural)
        .ok_or_else(|| fail(500, "InternalError", format!("{plural} are not served")))
}

fn rv_precondition(options: &Value) -> Option<&str> {
    options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
}

fn with_rv_precondition(options: &Value, rv: &str) -> Value {
    let mut o = if options.is_object() {
        options.clone()
    } else {
        json!({})
    };
    o["preconditions"]["resourceVersion"] = json!(rv);
    o
}

/// The success an eviction answers with (a `Status`, created).
fn evicted() -> Value {
    let status = Status {
        status: Some(StatusOutcome::Success),
        code: 201,
        ..Status::default()
    };
    serde_json::to_value(status).unwrap_or_else(|_| json!({"status": "Success"}))
}

impl ApiCore {
    /// Evicts the pod `name` of `namespace` as `eviction` (a `policy/v1` or `v1beta1`
    /// Eviction) asks, following the module's rules.
    pub async fn evict(
        &self,
        namespace: &str,
        name: &str,
        eviction: &Value,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let named = eviction
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if named != name {
            return Err(fail(
                400,
                "BadRequest",
                "name in URL does not match name in Eviction object",
            ));
        }
        let options = eviction
            .get("deleteOptions")
            .filter(|o| o.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        let opts = WriteOptions {
            dry_run: opts.dry_run || !super::core::delete_dry_run(&options).is_empty(),
            ..opts
        };
        let pods = info_of("pods", "")?;
        let budgets = info_of("poddisruptionbudgets", "policy")?;
        let ns = Some(namespace);

        // Rule 1, retried on conflicts unless the client gave its own precondition.
        let mut pod: Option<Pod> = None;
        for attempt in 0.. {
            let current: Pod = decode(&self.get(pods, ns, name).await?, "pod")?;
            if !can_ignore_budget(&current) {
                pod = Some(current);
                break;
            }
            let mut o = options.clone();
            // A pending pod may start meanwhile: it goes only as the version read.
            let may_start = current.status.phase == Some(PodPhase::Pending)
                && current.metadata.deletion_timestamp.is_none();
            if may_start && rv_precondition(&o).is_none() {
                o = with_rv_precondition(&o, current.metadata.resource_version.as_str());
            }
            match self
                .mark_and_delete(pods, namespace, name, &o, opts.clone())
                .await
            {
                Err(e) if e.code == 409 && rv_precondition(&options).is_none() => {
                    if attempt + 1 >= ATTEMPTS {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(evicted()),
            }
        }
        let Some(pod) = pod else {
            return Err(fail(500, "InternalError", "eviction did not read the pod"));
        };

        let (items, _, _) = self.list(budgets, ns, &ListOptions::default()).await?;
        let all: Vec<PodDisruptionBudget> = items
            .iter()
            .map(|v| decode(v, "PodDisruptionBudget"))
            .collect::<ApiResult<_>>()?;
        let matching = covering(&pod, &all);
        let pdb = match matching.as_slice() {
            [] => {
                self.mark_and_delete(pods, namespace, name, &options, opts)
                    .await?;
                return Ok(evicted());
            }
            [one] => (*one).clone(),
            _ => {
                // No reason: Kubernetes answers this one with a bare Status.
                return Err(Box::new(Status::failure(500, "", MULTIPLE_BUDGETS)));
            }
        };

        let mut options = options;
        if unhealthy_may_go(&pod, &pdb) {
            if rv_precondition(&options).is_none() {
                options = with_rv_precondition(&options, &pod.metadata.resource_version);
            }
        } else {
            self.spend_budget(budgets, namespace, pdb, name, opts.dry_run)
                .await?;
        }
        self.mark_and_delete(pods, namespace, name, &options, opts)
            .await?;
        Ok(evicted())
    }

    /// Spends one disruption of `pdb` on the pod `pod` (rule 4), re-reading the budget
    /// after a conflict.
    async fn spend_budget(
        &self,
        budgets: &'static ResourceInfo,
        namespace: &str,
        mut pdb: PodDisruptionBudget,
        pod: &str,
        dry_run: bool,
    ) -> ApiResult<()> {
        let pdb_name = pdb.metadata.name.clone();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                pdb = decode(
                    &self.get(budgets, Some(namespace), &pdb_name).await?,
                    "PodDisruptionBudget",
                )?;
            }
            let spent = spend(&pdb, pod, Time::now(), dry_run)?;
            if dry_run {
                return Ok(());
            }
            let body = serde_json::to_value(&spent)
                .map_err(|e| fail(500, "InternalError", e.to_string()))?;
            // The budget's resourceVersion stays on the body: the write's precondition.
            match self
                .update(
                    budgets,
                    Some(namespace),
                    &pdb_name,
                    body,
                    Part::Status,
                    WriteOptions::default(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(fail(
            409,
            "Conflict",
            format!("the disruption budget {pdb_name} kept changing; please try again"),
        ))
    }

    /// Sets `DisruptionTarget` on the pod (honouring the preconditions of `options`),
    /// then deletes it with `options` (rule 5).
    async fn mark_and_delete(
        &self,
        pods: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        options: &Value,
        opts: WriteOptions,
    ) -> ApiResult<()> {
        let mut options = options.clone();
        if !opts.dry_run {
            let uid = options
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
                .map(str::to_owned);
            let rv = rv_precondition(&options).map(str::to_owned);
            let written = self
                .guaranteed_update(pods, Some(namespace), name, false, |old| {
                    let latest_rv = old
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let latest_uid = old
                        .pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if uid.as_deref().is_some_and(|u| u != latest_uid)
                        || rv.as_deref().is_some_and(|r| r != latest_rv)
                    {
                        return Err(super::core::conflict(pods, name));
                    }
                    let mut new = old.clone();
                    add_disruption_target(&mut new);
                    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                    Ok((new, Check::Afresh))
                })
                .await?;
            if rv.is_some() {
                // Our own write moved the pod on: the deletion's precondition follows it.
                if let Some(new_rv) = written
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                {
                    options = with_rv_precondition(&options, new_rv);
                }
            }
        }
        self.delete(pods, Some(namespace), name, &options, opts)
            .await?;
        Ok(())
    }
}

/// Kubernetes' `UpdatePodCondition` with `DisruptionTarget=True`, reason
/// `EvictionByEvictionAPI`: the transition time moves only when the status changes.
fn add_disruption_target(pod: &mut Value) {
    let now = json!(Time::now());
    let cond = json!({
        "type": DISRUPTION_TARGET,
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
        "lastTransitionTime": now,
    });
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let conds = pod["status"]
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(conds)) = conds else {
        return;
    };
    match conds.iter_mut().find(|c| c["type"] == DISRUPTION_TARGET) {
        Some(existing) => {
            let mut new = cond;
            if existing["status"] == "True" {
                new["lastTransitionTime"] = existing["lastTransitionTime"].clone();
            }
            *existing = new;
        }
        None => conds.push(cond),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::resources::{LabelSelector, PodCondition};

    fn pod(phase: PodPhase, ready: bool) -> Pod {
        let mut p = Pod::new("web-1");
        p.metadata.namespace = "d".into();
        p.metadata.labels = [("app".to_owned(), "web".to_owned())].into();
        p.status.phase = Some(phase);
        p.status.conditions = vec![PodCondition {
            type_: "Ready".into(),
            status: if ready {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            ..PodCondition::default()
        }];
        p
    }

    fn budget(name: &str, selector: Option<LabelSelector>) -> PodDisruptionBudget {
        let mut b = PodDisruptionBudget::new(name);
        b.metadata.namespace = "d".into();
        b.metadata.generation = 1;
        b.spec.selector = selector;
        b.status.observed_generation = 1;
        b
    }

    fn app(value: &str) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: [("app".to_owned(), value.to_owned())].into(),
            ..LabelSelector::default()
        })
    }

    #[test]
    fn which_pods_skip_the_budget() {
        let cases = [
            ("running", PodPhase::Running, false, false),
            ("pending", PodPhase::Pending, false, true),
            ("succeeded", PodPhase::Succeeded, false, true),
            ("failed", PodPhase::Failed, false, true),
            ("running, being deleted", PodPhase::Running, true, true),
        ];
        for (name, phase, deleting, want) in cases {
            let mut p = pod(phase, true);
            if deleting {
                p.metadata.deletion_timestamp = Some(Time(1));
            }
            assert_eq!(can_ignore_budget(&p), want, "{name}");
        }
    }

    #[test]
    fn covering_budgets() {
        let p = pod(PodPhase::Running, true);
        let mut elsewhere = budget("elsewhere", app("web"));
        elsewhere.metadata.namespace = "other".into();
        let all = vec![
            budget("web", app("web")),
            budget("db", app("db")),
            budget("null selector", None),
            budget("empty selector", Some(LabelSelector::default())),
            elsewhere,
        ];
        let names: Vec<&str> = covering(&p, &all)
            .iter()
            .map(|b| b.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["web", "empty selector"]);
    }

    #[test]
    fn unhealthy_pod_policy_table() {
        let cases = [
            // (name, ready, policy, current, desired, may go without spending)
            ("ready pod always spends", true, None, 3, 2, false),
            ("unready, budget met", false, None, 2, 2, true),
            ("unready, budget not met", false, None, 1, 2, false),
            ("unready, nothing desired", false, None, 0, 0, false),
            (
                "unready, IfHealthyBudget not met",
                false,
                Some(UnhealthyPodEvictionPolicy::IfHealthyBudget),
                1,
                2,
                false,
            ),
            (
                "unready, AlwaysAllow",
                false,
                Some(UnhealthyPodEvictionPolicy::AlwaysAllow),
                1,
                2,
                true,
            ),
            (
                "ready, AlwaysAllow spends",
                true,
                Some(UnhealthyPodEvictionPolicy::AlwaysAllow),
                1,
                2,
                false,
            ),
        ];
        for (name, ready, policy, current, desired, want) in cases {
            let mut b = budget("web", app("web"));
            b.spec.unhealthy_pod_eviction_policy = policy;
            b.status.current_healthy = current;
            b.status.desired_healthy = desired;
            assert_eq!(
                unhealthy_may_go(&pod(PodPhase::Running, ready), &b),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn spending_the_budget() {
        let now = Time(1_700_000_000);
        let mut b = budget("web", app("web"));
        b.status.disruptions_allowed = 1;
        b.status.current_healthy = 3;
        b.status.desired_healthy = 2;
        let spent = spend(&b, "web-1", now, false).unwrap();
        assert_eq!(spent.status.disruptions_allowed, 0);
        assert_eq!(spent.status.disrupted_pods.get("web-1"), Some(&now));
        let cond = spent.condition(DISRUPTION_ALLOWED).unwrap();
        assert_eq!(
            (cond.status, cond.reason.as_str()),
            (ConditionStatus::False, INSUFFICIENT_PODS)
        );
        let dry = spend(&b, "web-1", now, true).unwrap();
        assert!(
            dry.status.disrupted_pods.is_empty(),
            "dry run records nothing"
        );

        // Nothing left: Kubernetes' 429 and its cause.
        let err = spend(&spent, "web-2", now, false).unwrap_err();
        let body = serde_json::to_value(&*err).unwrap();
        assert_eq!(
            body,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure",
                "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                "reason": "TooManyRequests",
                "details": {"causes": [{
                    "reason": "DisruptionBudget",
                    "message": "The disruption budget web needs 2 healthy pods and has 3 currently",
                }]},
                "code": 429,
            })
        );

        // A status behind the spec: retry later.
        let mut stale = b.clone();
        stale.metadata.generation = 2;
        let err = spend(&stale, "web-1", now, false).unwrap_err();
        assert_eq!(err.code, 429);
        let details = err.details.as_ref().unwrap();
        assert_eq!(details.retry_after_seconds, 10);
        assert_eq!(
            details.causes[0].message,
            "The disruption budget web is still being processed by the server."
        );

        let mut negative = b.clone();
        negative.status.disruptions_allowed = -1;
        assert_eq!(spend(&negative, "p", now, false).unwrap_err().code, 403);
    }

    #[test]
    fn the_disruption_target_condition() {
        let mut p = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        add_disruption_target(&mut p);
        let conds = p["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0]["type"], "DisruptionTarget");
        assert_eq!(conds[0]["reason"], "EvictionByEvictionAPI");
        // Again: still one, its transition time kept.
        p["status"]["conditions"][0]["lastTransitionTime"] = json!("2020-01-01T00:00:00Z");
        add_disruption_target(&mut p);
        let conds = p["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
    }
}
