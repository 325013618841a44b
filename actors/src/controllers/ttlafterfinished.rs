//! The TTL-after-finished controller (`controller/ttlafterfinished`): deletes a finished
//! Job `ttlSecondsAfterFinished` seconds after it finished, as Kubernetes'
//! `ttlafterfinished` controller does.
//!
//! In: Job changes. A Job is considered when it is finished (`Complete` or `Failed`
//! True), has a TTL and is not being deleted; its finish time is the terminal
//! condition's transition time. Before deleting, the Job is read again from the API
//! server (not the cache), since its TTL may have been changed or removed since; the
//! delete carries the uid as a precondition and `propagationPolicy: Foreground`, so the
//! pods go first. Out: that delete. A Job not yet expired is looked at again when it
//! expires.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{ConditionStatus, Job, Time, JOB_COMPLETE, JOB_FAILED};
use serde_json::json;
use tracing::info;

use super::support::{Controller, Wiring};
use crate::informer::{ApiHandle, Cache, ObjectKey};
use crate::supervisor::ComponentSpec;

/// The controller's name on the bus.
pub const NAME: &str = "controller/ttlafterfinished";

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<Job>::new(NAME).component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
        reconcile(&ctx, &key).await
    })
}

struct Ctx {
    api: ApiHandle,
    jobs: Cache<Job>,
}

fn wire(w: &mut Wiring<Job>) -> Ctx {
    Ctx {
        api: w.api().clone(),
        jobs: w.primary(),
    }
}

/// When the Job finished, if it has: the transition time of its terminal condition.
fn finished_at(job: &Job) -> Option<Time> {
    job.status
        .conditions
        .iter()
        .filter(|c| c.type_ == JOB_COMPLETE || c.type_ == JOB_FAILED)
        .find(|c| c.status == ConditionStatus::True)
        .map(|c| c.last_transition_time.unwrap_or(Time(0)))
}

/// How long until `job` expires: `None` when it never does (not finished, no TTL,
/// already being deleted), zero when it has.
pub fn time_left(job: &Job, now: Time) -> Option<Duration> {
    let ttl = job.spec.ttl_seconds_after_finished?;
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let end = finished_at(job)?.0.saturating_add(i64::from(ttl));
    Some(Duration::from_secs(
        u64::try_from(end.saturating_sub(now.0)).unwrap_or(0),
    ))
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(cached) = ctx.jobs.get(key) else {
        return Ok(None);
    };
    match time_left(&cached, Time::now()) {
        None => return Ok(None),
        Some(d) if !d.is_zero() => return Ok(Some(d)),
        Some(_) => {}
    }
    // The cache may be behind: decide on the stored Job.
    let api = ctx.api.api::<Job>(Some(&cached.metadata.namespace));
    let fresh = match api.get(&cached.metadata.name).await {
        Ok(j) => j,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    match time_left(&fresh, Time::now()) {
        None => return Ok(None),
        Some(d) if !d.is_zero() => return Ok(Some(d)),
        Some(_) => {}
    }
    let options = json!({
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": fresh.metadata.uid},
    });
    match api.delete_with(&fresh.metadata.name, &options).await {
        Ok(_) => {
            info!(job = %key, "deleted a finished Job past its TTL");
            Ok(None)
        }
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::JobCondition;

    #[test]
    fn expiry_table() {
        let finished = |type_: &str, at: i64| JobCondition {
            type_: type_.into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time(at)),
            ..Default::default()
        };
        let now = Time(1_000);
        // (case, TTL, terminal condition, being deleted, seconds left)
        type Case = (
            &'static str,
            Option<i32>,
            Option<JobCondition>,
            bool,
            Option<u64>,
        );
        let table: &[Case] = &[
            (
                "no TTL",
                None,
                Some(finished(JOB_COMPLETE, 900)),
                false,
                None,
            ),
            ("not finished", Some(10), None, false, None),
            (
                "complete, expired",
                Some(10),
                Some(finished(JOB_COMPLETE, 900)),
                false,
                Some(0),
            ),
            (
                "failed, 60 s to go",
                Some(100),
                Some(finished(JOB_FAILED, 960)),
                false,
                Some(60),
            ),
            (
                "TTL zero",
                Some(0),
                Some(finished(JOB_COMPLETE, 1_000)),
                false,
                Some(0),
            ),
            (
                "being deleted",
                Some(0),
                Some(finished(JOB_COMPLETE, 900)),
                true,
                None,
            ),
        ];
        for (name, ttl, cond, deleting, want) in table {
            let mut j = Job::new("j");
            j.spec.ttl_seconds_after_finished = *ttl;
            j.status.conditions.extend(cond.clone());
            if *deleting {
                j.metadata.deletion_timestamp = Some(Time(999));
            }
            assert_eq!(time_left(&j, now).map(|d| d.as_secs()), *want, "{name}");
        }
    }
}
