//! The other loop of Kubernetes' disruption controller (`syncStalePodDisruption`): a
//! pod that got `DisruptionTarget=True` (from an eviction or a preemption) but is not
//! being deleted two minutes later (the deletion failed after the condition was
//! written) gets the condition back to False, so it no longer looks as if it were going
//! away.
//!
//! Its own leader-elected controller, `controller/disruption-stale`, keyed by pod: only
//! pods that carry the condition and are not being deleted are queued, so ordinary pod
//! traffic costs one look at the conditions. The decision is [`stale_after`], pure; the
//! write is a strategic merge patch of the pod's status.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{ConditionStatus, Pod, Time, DISRUPTION_TARGET};
use serde_json::json;

use crate::controllers::support::Controller;
use crate::informer::{Cache, Change, ObjectKey, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The stale-disruption controller's name on the bus.
pub const NAME: &str = "controller/disruption-stale";
/// How long a pod may carry `DisruptionTarget=True` without being deleted.
pub const STALE_TIMEOUT: Duration = Duration::from_secs(120);

/// When the pod's `DisruptionTarget` condition turns stale: `None` when it has none
/// that is True or is being deleted, zero when it is stale now (Kubernetes'
/// `nonTerminatingPodHasStaleDisruptionCondition`).
pub fn stale_after(pod: &Pod, now: Time) -> Option<Duration> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let cond = pod
        .condition(DISRUPTION_TARGET)
        .filter(|c| c.status == ConditionStatus::True)?;
    let since = cond.last_transition_time.map_or(0, |t| now.0 - t.0);
    let timeout = STALE_TIMEOUT.as_secs() as i64;
    Some(Duration::from_secs((timeout - since).max(0) as u64))
}

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<Pod>::new(NAME).component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
        reconcile(&ctx, &key).await
    })
}

struct Ctx {
    api: crate::informer::ApiHandle,
    pods: Cache<Pod>,
}

fn wire(w: &mut crate::controllers::support::Wiring<Pod>) -> Ctx {
    let pods = w.primary_with(|c: &Change<Pod>, q: &WorkQueue<ObjectKey>| {
        if let Change::Added(p) | Change::Modified { new: p, .. } = c {
            if stale_after(p, Time::now()).is_some() {
                q.add(c.key());
            }
        }
    });
    Ctx {
        api: w.api().clone(),
        pods,
    }
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(pod) = ctx.pods.get(key) else {
        return Ok(None);
    };
    let now = Time::now();
    match stale_after(&pod, now) {
        None => Ok(None),
        Some(wait) if !wait.is_zero() => Ok(Some(wait)),
        Some(_) => {
            let patch = json!({"status": {"conditions": [{
                "type": DISRUPTION_TARGET,
                "status": "False",
                "lastTransitionTime": now,
            }]}});
            let api = ctx.api.api::<Pod>(Some(&pod.metadata.namespace));
            match api
                .patch_status(&pod.metadata.name, PatchType::StrategicMerge, &patch)
                .await
            {
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
                Ok(_) => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::PodCondition;

    use super::*;

    #[test]
    fn stale_disruption_table() {
        let now = Time(1_700_000_000);
        // (name, condition and its age in seconds, being deleted, stale after seconds)
        type Case = (
            &'static str,
            Option<(ConditionStatus, i64)>,
            bool,
            Option<u64>,
        );
        let cases: Vec<Case> = vec![
            ("no condition", None, false, None),
            (
                "condition False",
                Some((ConditionStatus::False, 500)),
                false,
                None,
            ),
            ("fresh", Some((ConditionStatus::True, 20)), false, Some(100)),
            ("stale", Some((ConditionStatus::True, 121)), false, Some(0)),
            (
                "being deleted",
                Some((ConditionStatus::True, 500)),
                true,
                None,
            ),
        ];
        for (name, cond, deleting, want) in cases {
            let mut p = Pod::new("p");
            if let Some((status, age)) = cond {
                p.status.conditions.push(PodCondition {
                    type_: DISRUPTION_TARGET.into(),
                    status,
                    last_transition_time: Some(Time(now.0 - age)),
                    ..PodCondition::default()
                });
            }
            if deleting {
                p.metadata.deletion_timestamp = Some(now);
            }
            assert_eq!(
                stale_after(&p, now),
                want.map(Duration::from_secs),
                "{name}"
            );
        }
    }
}
