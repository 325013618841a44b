//! The disruption controller's decision, pure: a budget's status from the pods it
//! selects, the scale of their controllers and the time, as Kubernetes'
//! `DisruptionController.trySync` computes it.
//!
//! The rules:
//! - **Expected pods and desired healthy.** With `maxUnavailable` (a number or a
//!   percentage), `expectedPods` is the sum of the scales of the pods' controllers
//!   (each counted once) and `desiredHealthy = expectedPods - maxUnavailable` (a
//!   percentage rounded up), at least 0. With `minAvailable` as a number,
//!   `desiredHealthy` is that number and `expectedPods` the number of selected pods; as
//!   a percentage, `expectedPods` is again the controllers' scale and `desiredHealthy`
//!   the percentage of it, rounded up. A pod without a controller is "unmanaged"
//!   (a warning, it adds nothing to the scale); a pod whose controller cannot be found
//!   fails the sync.
//! - **Disrupted pods.** An entry of `status.disruptedPods` stays while its pod exists,
//!   is not being deleted, and was evicted less than [`DELETION_TIMEOUT`] ago; the
//!   earliest expiry is when to look again.
//! - **Current healthy.** Selected pods that are Ready, not being deleted and not in
//!   the kept `disruptedPods`.
//! - **Disruptions allowed** = `currentHealthy - desiredHealthy`, but 0 when negative
//!   or when `expectedPods` is 0 (a budget whose pods have not appeared yet is safe).
//! - **Condition** `DisruptionAllowed`: True/`SufficientPods` when a disruption is
//!   allowed, False/`InsufficientPods` otherwise; a failed sync writes
//!   False/`SyncFailed` with the error and no disruption allowed.
//! - Nothing is written when the status (with `observedGeneration` = the budget's
//!   generation) and the condition are already what they would be.

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_protocol::resources::{
    set_status_condition, Condition, ConditionStatus, IntOrString, Pod, PodDisruptionBudget,
    PodDisruptionBudgetStatus, Time, DISRUPTION_ALLOWED, INSUFFICIENT_PODS, SUFFICIENT_PODS,
    SYNC_FAILED,
};

/// How long an evicted pod may take to go before its `disruptedPods` entry is dropped.
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// What the controller of a pod turned out to be, keyed by the pod's controller
/// reference uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    /// The controller whose scale counts (for a ReplicaSet of a Deployment: the
    /// Deployment), by uid, and its desired replicas.
    Found {
        /// The uid of the controller whose scale counts.
        uid: String,
        /// Its desired replicas.
        scale: i32,
    },
    /// No controller could be found, or the finder failed: the message.
    Failed(String),
}

/// The controllers of the pods, by the uid their controller references name.
pub type Controllers = BTreeMap<String, Controller>;

/// An Event to record on the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// The reason.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

/// What a sync does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The status to write, `None` when it is already right.
    pub status: Option<PodDisruptionBudgetStatus>,
    /// Events to record.
    pub events: Vec<Event>,
    /// When to look again (a `disruptedPods` entry expires, or a failed sync).
    pub requeue_after: Option<Duration>,
}

/// How soon a failed sync is tried again.
pub const SYNC_RETRY: Duration = Duration::from_secs(10);

/// Whether the budget needs the controllers' scale: `maxUnavailable`, or
/// `minAvailable` as a percentage.
pub fn needs_scale(pdb: &PodDisruptionBudget) -> bool {
    pdb.spec.max_unavailable.is_some()
        || matches!(pdb.spec.min_available, Some(IntOrString::String(_)))
}

/// Kubernetes' `getExpectedScale`: the summed scale of the pods' controllers (each
/// once) and the names of the pods without a controller.
fn expected_scale(pods: &[&Pod], controllers: &Controllers) -> Result<(i32, Vec<String>), String> {
    let mut scales: BTreeMap<&str, i32> = BTreeMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let Some(r) = pod.metadata.controller_ref() else {
            unmanaged.push(pod.metadata.name.clone());
            continue;
        };
        match controllers.get(&r.uid) {
            Some(Controller::Found { uid, scale }) => {
                scales.insert(uid.as_str(), *scale);
            }
            Some(Controller::Failed(message)) => return Err(message.clone()),
            None => {
                return Err(format!(
                    "found no controllers for pod {:?}",
                    pod.metadata.name
                ))
            }
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// `value` of `total` (a percentage rounded up, or a number).
fn scaled(value: &IntOrString, total: i32) -> Result<i32, String> {
    value.scaled_value(total, true).map_err(|e| e.to_string())
}

/// Kubernetes' `getExpectedPodCount`: `(expectedPods, desiredHealthy, unmanaged pods)`.
pub fn expected_pod_count(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    controllers: &Controllers,
) -> Result<(i32, i32, Vec<String>), String> {
    if let Some(max) = &pdb.spec.max_unavailable {
        let (expected, unmanaged) = expected_scale(pods, controllers)?;
        let max = scaled(max, expected)?;
        return Ok((expected, (expected - max).max(0), unmanaged));
    }
    match &pdb.spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pods.len() as i32, *n, Vec::new())),
        Some(min @ IntOrString::String(_)) => {
            let (expected, unmanaged) = expected_scale(pods, controllers)?;
            Ok((expected, scaled(min, expected)?, unmanaged))
        }
        None => Ok((0, 0, Vec::new())),
    }
}

/// The kept `disruptedPods` entries and the earliest time one expires (Kubernetes'
/// `buildDisruptedPodMap`).
pub fn disrupted_pods(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    now: Time,
) -> (BTreeMap<String, Time>, Option<Time>) {
    let timeout = DELETION_TIMEOUT.as_secs() as i64;
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Time> = None;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(at) = pdb.status.disrupted_pods.get(&pod.metadata.name) else {
            continue;
        };
        let expires = Time(at.0 + timeout);
        if expires.0 < now.0 {
            continue;
        }
        recheck = Some(recheck.map_or(expires, |r| if expires.0 < r.0 { expires } else { r }));
        kept.insert(pod.metadata.name.clone(), *at);
    }
    (kept, recheck)
}

/// Kubernetes' `countHealthyPods`.
pub fn count_healthy(pods: &[&Pod], disrupted: &BTreeMap<String, Time>, now: Time) -> i32 {
    let timeout = DELETION_TIMEOUT.as_secs() as i64;
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            disrupted
                .get(&p.metadata.name)
                .is_none_or(|at| at.0 + timeout <= now.0)
        })
        .filter(|p| p.is_ready())
        .count() as i32
}

/// Whether the `DisruptionAllowed` condition says what the status does (Kubernetes'
/// `ConditionsAreUpToDate`).
fn conditions_up_to_date(pdb: &PodDisruptionBudget) -> bool {
    let Some(c) = pdb.condition(DISRUPTION_ALLOWED) else {
        return false;
    };
    if pdb.status.observed_generation != pdb.metadata.generation {
        return false;
    }
    if pdb.status.disruptions_allowed > 0 {
        c.status == ConditionStatus::True && c.reason == SUFFICIENT_PODS
    } else {
        c.status == ConditionStatus::False && c.reason == INSUFFICIENT_PODS
    }
}

fn allowed_condition(status: &mut PodDisruptionBudgetStatus, now: Time) {
    let allowed = status.disruptions_allowed > 0;
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
        observed_generation: status.observed_generation,
        ..Condition::default()
    };
    set_status_condition(&mut status.conditions, cond, now);
}

/// The status of a failed sync (Kubernetes' `failSafe`): no disruption allowed, the
/// condition False with `SyncFailed` and the error.
pub fn fail_safe(pdb: &PodDisruptionBudget, error: &str, now: Time) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone();
    status.disruptions_allowed = 0;
    let cond = Condition {
        type_: DISRUPTION_ALLOWED.into(),
        status: ConditionStatus::False,
        reason: SYNC_FAILED.into(),
        message: error.to_owned(),
        observed_generation: status.observed_generation,
        ..Condition::default()
    };
    set_status_condition(&mut status.conditions, cond, now);
    status
}

/// One sync of `pdb` over the pods it selects (`pods`, already filtered by its
/// selector), with their controllers resolved in `controllers`, at `now`.
pub fn plan(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    controllers: &Controllers,
    now: Time,
) -> Plan {
    let mut out = Plan::default();
    if pods.is_empty() {
        out.events.push(Event {
            type_: "Normal",
            reason: "NoPods",
            message: "No matching pods found".into(),
        });
    }
    let (expected, desired, unmanaged) = match expected_pod_count(pdb, pods, controllers) {
        Ok(counts) => counts,
        Err(e) => {
            out.events.push(Event {
                type_: "Warning",
                reason: "CalculateExpectedPodCountFailed",
                message: format!("Failed to calculate the number of expected pods: {e}"),
            });
            let status = fail_safe(pdb, &e, now);
            if status != pdb.status {
                out.status = Some(status);
            }
            out.requeue_after = Some(SYNC_RETRY);
            return out;
        }
    };
    if !unmanaged.is_empty() {
        out.events.push(Event {
            type_: "Warning",
            reason: "UnmanagedPods",
            message: format!(
                "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                pdb.spec
                    .selector
                    .as_ref()
                    .map(|s| serde_json::to_string(s).unwrap_or_default())
                    .unwrap_or_default()
            ),
        });
    }
    let (disrupted, recheck) = disrupted_pods(pdb, pods, now);
    let healthy = count_healthy(pods, &disrupted, now);
    let mut allowed = healthy - desired;
    if expected <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let s = &pdb.status;
    let unchanged = s.current_healthy == healthy
        && s.desired_healthy == desired
        && s.expected_pods == expected
        && s.disruptions_allowed == allowed
        && s.disrupted_pods == disrupted
        && s.observed_generation == pdb.metadata.generation
        && conditions_up_to_date(pdb);
    if !unchanged {
        let mut status = PodDisruptionBudgetStatus {
            observed_generation: pdb.metadata.generation,
            disrupted_pods: disrupted,
            disruptions_allowed: allowed,
            current_healthy: healthy,
            desired_healthy: desired,
            expected_pods: expected,
            conditions: s.conditions.clone(),
        };
        allowed_condition(&mut status, now);
        out.status = Some(status);
    }
    out.requeue_after =
        recheck.map(|t| Duration::from_secs(t.0.saturating_sub(now.0).max(0) as u64 + 1));
    out
}

#[cfg(test)]
mod tests;
