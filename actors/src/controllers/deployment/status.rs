//! Deployment status (Kubernetes' `calculateStatus`, `syncRolloutStatus` and
//! `deployment/util` conditions): counts summed over the replica sets, the Available
//! condition (`MinimumReplicasAvailable` / `MinimumReplicasUnavailable`) and the
//! Progressing condition with `progressDeadlineSeconds` (`NewReplicaSetCreated`,
//! `FoundNewReplicaSet`, `ReplicaSetUpdated`, `NewReplicaSetAvailable`,
//! `ProgressDeadlineExceeded`, `DeploymentPaused`, `DeploymentResumed`).

use std::time::Duration;

use rudder_protocol::resources::{
    ConditionStatus, Deployment, DeploymentCondition, DeploymentStatus, Time,
};

use super::{deployment_replicas, max_unavailable, rs_replicas, Sync};

/// The Progressing condition type.
pub const PROGRESSING: &str = "Progressing";
/// The Available condition type.
pub const AVAILABLE: &str = "Available";
/// Progressing reason once the deadline passed.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing reason once the rollout completed.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
const PAUSED: &str = "DeploymentPaused";
const RESUMED: &str = "DeploymentResumed";

/// Whether the deployment has a progress deadline (set and not "infinite").
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

/// The condition of type `type_`, if present.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// A condition stamped with `now`.
pub fn new_condition(
    type_: &str,
    holds: bool,
    reason: &str,
    message: String,
    now: Time,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_owned(),
        status: if holds {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        last_update_time: Some(now),
        last_transition_time: Some(now),
        reason: reason.to_owned(),
        message,
    }
}

/// Kubernetes' `SetDeploymentCondition`: nothing when status and reason are unchanged;
/// the transition time survives when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(current) = condition(status, &c.type_) {
        if current.status == c.status && current.reason == c.reason {
            return;
        }
        if current.status == c.status {
            c.last_transition_time = current.last_transition_time;
        }
    }
    remove_condition(status, &c.type_);
    status.conditions.push(c);
}

/// Drops the condition of type `type_`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    status.conditions.retain(|c| c.type_ != type_);
}

/// Kubernetes' `DeploymentComplete`: every pod updated and available, and the
/// generation observed.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = deployment_replicas(d);
    status.updated_replicas == replicas
        && status.replicas == replicas
        && status.available_replicas == replicas
        && status.observed_generation >= d.metadata.generation
}

/// Kubernetes' `DeploymentProgressing`: more updated, ready or available pods, or fewer
/// old ones, than `old` reported.
fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = old.replicas - old.updated_replicas;
    let new_old = new.replicas - new.updated_replicas;
    new.updated_replicas > old.updated_replicas
        || new_old < old_old
        || new.ready_replicas > old.ready_replicas
        || new.available_replicas > old.available_replicas
}

/// Kubernetes' `DeploymentTimedOut`.
fn timed_out(d: &Deployment, status: &DeploymentStatus, now: Time) -> bool {
    let Some(deadline) = d
        .spec
        .progress_deadline_seconds
        .filter(|_| has_progress_deadline(d))
    else {
        return false;
    };
    let Some(c) = condition(status, PROGRESSING) else {
        return false;
    };
    match c.reason.as_str() {
        NEW_RS_AVAILABLE => false,
        TIMED_OUT => true,
        _ => c
            .last_update_time
            .is_some_and(|from| from.0 + i64::from(deadline) < now.0),
    }
}

/// Kubernetes' `calculateStatus` over the sync's working replica sets.
pub(super) fn calculate_status(s: &Sync<'_>) -> DeploymentStatus {
    let d = s.d;
    let available: i32 = s.rss.iter().map(|r| r.status.available_replicas).sum();
    let total: i32 = s.rss.iter().map(rs_replicas).sum();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: s.rss.iter().map(|r| r.status.replicas).sum(),
        updated_replicas: s.new.map(|i| s.rss[i].status.replicas).unwrap_or(0),
        ready_replicas: s.rss.iter().map(|r| r.status.ready_replicas).sum(),
        available_replicas: available,
        unavailable_replicas: (total - available).max(0),
        conditions: s.status.conditions.clone(),
        collision_count: s.status.collision_count,
    };
    let c = if available >= deployment_replicas(d) - max_unavailable(d) {
        new_condition(
            AVAILABLE,
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            s.now,
        )
    } else {
        new_condition(
            AVAILABLE,
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            s.now,
        )
    };
    set_condition(&mut status, c);
    status
}

/// Kubernetes' `syncDeploymentStatus`: the counts, no progress bookkeeping.
pub(super) fn sync_deployment_status(s: &mut Sync<'_>) {
    s.status = calculate_status(s);
}

/// Kubernetes' `checkPausedConditions`: Progressing is Unknown while paused.
pub(super) fn check_paused_conditions(s: &mut Sync<'_>) {
    if !has_progress_deadline(s.d) {
        return;
    }
    let current = condition(&s.status, PROGRESSING).map(|c| c.reason.clone());
    if current.as_deref() == Some(TIMED_OUT) {
        return;
    }
    let paused_cond = current.as_deref() == Some(PAUSED);
    let (reason, message) = match (s.d.spec.paused, paused_cond) {
        (true, false) => (PAUSED, "Deployment is paused"),
        (false, true) => (RESUMED, "Deployment is resumed"),
        _ => return,
    };
    let mut c = new_condition(PROGRESSING, true, reason, message.into(), s.now);
    c.status = ConditionStatus::Unknown;
    set_condition(&mut s.status, c);
}

/// Kubernetes' `syncRolloutStatus`: the counts plus the Progressing condition, and when
/// to look again for the deadline.
pub(super) fn sync_rollout_status(s: &mut Sync<'_>) {
    let d = s.d;
    let mut new = calculate_status(s);
    let deadline = has_progress_deadline(d);
    if !deadline {
        remove_condition(&mut new, PROGRESSING);
    }
    let current = condition(&s.status, PROGRESSING).cloned();
    let complete_before = new.replicas == new.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason == NEW_RS_AVAILABLE);
    let new_name = s.new.map(|i| s.rss[i].metadata.name.clone());
    let subject = match &new_name {
        Some(n) => format!("ReplicaSet {n:?}"),
        None => format!("Deployment {:?}", d.metadata.name),
    };
    if deadline && !complete_before {
        if deployment_complete(d, &new) {
            let c = new_condition(
                PROGRESSING,
                true,
                NEW_RS_AVAILABLE,
                format!("{subject} has successfully progressed."),
                s.now,
            );
            set_condition(&mut new, c);
        } else if progressing(&s.status, &new) {
            let mut c = new_condition(
                PROGRESSING,
                true,
                "ReplicaSetUpdated",
                format!("{subject} is progressing."),
                s.now,
            );
            if let Some(cur) = &current {
                if cur.status == ConditionStatus::True {
                    c.last_transition_time = cur.last_transition_time;
                }
                // Removed first so that the update time moves even with the same reason.
                remove_condition(&mut new, PROGRESSING);
            }
            set_condition(&mut new, c);
        } else if timed_out(d, &new, s.now) {
            let c = new_condition(
                PROGRESSING,
                false,
                TIMED_OUT,
                format!("{subject} has timed out progressing."),
                s.now,
            );
            set_condition(&mut new, c);
        }
    }
    s.requeue_after = stuck_requeue(d, &new, s.now);
    s.status = new;
}

/// Kubernetes' `requeueStuckDeployment`: when the progress deadline will pass, for a
/// rollout that is neither complete nor already timed out.
fn stuck_requeue(d: &Deployment, status: &DeploymentStatus, now: Time) -> Option<Duration> {
    let deadline = d
        .spec
        .progress_deadline_seconds
        .filter(|_| has_progress_deadline(d))?;
    let c = condition(status, PROGRESSING)?;
    if deployment_complete(d, status) || c.reason == TIMED_OUT {
        return None;
    }
    let from = c.last_update_time?;
    let after = from.0 + i64::from(deadline) - now.0;
    // One extra second: the deadline is "strictly after" at second precision.
    Some(Duration::from_secs(
        u64::try_from(after + 1).unwrap_or(0).max(1),
    ))
}

#[cfg(test)]
mod tests {
    // Case tables are tuples on purpose: one line per case.
    #![allow(clippy::type_complexity)]
    use std::sync::Arc;

    use super::super::testing::*;
    use super::super::{plan, Action};
    use super::*;
    use rudder_protocol::resources::ReplicaSet;

    fn status_of(p: &super::super::Plan) -> Option<DeploymentStatus> {
        p.actions.iter().find_map(|a| match a {
            Action::UpdateStatus(s) => Some(s.as_ref().clone()),
            _ => None,
        })
    }

    #[test]
    fn set_condition_table() {
        let c = |holds, reason: &str, t| new_condition("X", holds, reason, String::new(), Time(t));
        // (name, existing, new, want transition time, want update time)
        let table = [
            ("fresh", None, c(true, "A", 5), 5, 5),
            (
                "same status and reason: untouched",
                Some(c(true, "A", 1)),
                c(true, "A", 5),
                1,
                1,
            ),
            (
                "same status, new reason: keeps transition",
                Some(c(true, "A", 1)),
                c(true, "B", 5),
                1,
                5,
            ),
            (
                "status flips",
                Some(c(true, "A", 1)),
                c(false, "A", 5),
                5,
                5,
            ),
        ];
        for (name, existing, new, transition, update) in table {
            let mut s = DeploymentStatus::default();
            s.conditions.extend(existing);
            set_condition(&mut s, new);
            assert_eq!(s.conditions.len(), 1, "{name}");
            assert_eq!(
                s.conditions[0].last_transition_time,
                Some(Time(transition)),
                "{name}"
            );
            assert_eq!(
                s.conditions[0].last_update_time,
                Some(Time(update)),
                "{name}"
            );
        }
    }

    #[test]
    fn status_counts_and_availability() {
        let d = deployment(4, "v2", 1.into(), 1.into());
        let mut old = owned_rs(&d, "v1", 2, 2, 1, 1);
        old.status.ready_replicas = 2;
        let mut new = owned_rs(&d, "v2", 3, 1, 2, 2);
        new.status.ready_replicas = 2;
        let p = plan(&d, &[Arc::new(old), Arc::new(new)], &[], Time(100));
        let s = status_of(&p).expect("status");
        assert_eq!(
            (
                s.replicas,
                s.updated_replicas,
                s.ready_replicas,
                s.available_replicas
            ),
            (5, 3, 4, 3)
        );
        assert_eq!(s.observed_generation, 1);
        let avail = condition(&s, AVAILABLE).expect("Available");
        assert_eq!(
            (avail.status, avail.reason.as_str()),
            (ConditionStatus::True, "MinimumReplicasAvailable")
        );
    }

    fn progressing_case(
        d: &Deployment,
        sets: Vec<ReplicaSet>,
        now: i64,
    ) -> (DeploymentStatus, Option<Duration>) {
        let p = plan(
            d,
            &sets.into_iter().map(Arc::new).collect::<Vec<_>>(),
            &[],
            Time(now),
        );
        (
            status_of(&p).unwrap_or_else(|| d.status.clone()),
            p.requeue_after,
        )
    }

    #[test]
    fn progressing_table() {
        let base = deployment(2, "v2", 1.into(), 0.into());
        let with_progress = |reason: &str, at: i64, counts: (i32, i32, i32)| {
            let mut d = base.clone();
            d.status.observed_generation = 1;
            d.status.replicas = counts.0;
            d.status.updated_replicas = counts.1;
            d.status.available_replicas = counts.2;
            d.status.ready_replicas = counts.2;
            d.status.conditions = vec![new_condition(
                PROGRESSING,
                true,
                reason,
                String::new(),
                Time(at),
            )];
            d
        };
        // Steady mid-rollout: old 2 available, new 1 not yet available.
        let mid =
            |d: &Deployment| vec![owned_rs(d, "v1", 2, 2, 1, 1), owned_rs(d, "v2", 1, 0, 2, 2)];
        // (name, deployment, sets, now, want reason, want status, want requeue)
        let table: Vec<(
            &str,
            Deployment,
            Vec<ReplicaSet>,
            i64,
            &str,
            ConditionStatus,
            Option<u64>,
        )> = vec![
            (
                "progress refreshes ReplicaSetUpdated",
                with_progress("ReplicaSetUpdated", 100, (2, 0, 2)),
                mid(&base),
                200,
                "ReplicaSetUpdated",
                ConditionStatus::True,
                Some(601),
            ),
            (
                "no progress within the deadline waits",
                with_progress("ReplicaSetUpdated", 100, (3, 1, 2)),
                mid(&base),
                200,
                "ReplicaSetUpdated",
                ConditionStatus::True,
                Some(501),
            ),
            (
                "no progress past the deadline times out",
                with_progress("ReplicaSetUpdated", 100, (3, 1, 2)),
                mid(&base),
                701,
                TIMED_OUT,
                ConditionStatus::False,
                None,
            ),
            (
                "complete rollout",
                with_progress("ReplicaSetUpdated", 100, (2, 2, 1)),
                vec![
                    owned_rs(&base, "v1", 0, 0, 1, 1),
                    owned_rs(&base, "v2", 2, 2, 2, 2),
                ],
                150,
                NEW_RS_AVAILABLE,
                ConditionStatus::True,
                None,
            ),
        ];
        for (name, d, sets, now, reason, cstatus, requeue) in table {
            let (s, after) = progressing_case(&d, sets, now);
            let c = condition(&s, PROGRESSING).expect("Progressing");
            assert_eq!((c.reason.as_str(), c.status), (reason, cstatus), "{name}");
            assert_eq!(after.map(|a| a.as_secs()), requeue, "{name}");
        }
    }
}
