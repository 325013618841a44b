//! The CronJob controller (`controller/cronjob`): creates Jobs on a schedule, as
//! Kubernetes' `cronjob_controllerv2` does.
//!
//! The decision is a pure [`plan`] over the CronJob, the Jobs it controls and the time:
//!
//! - **Bookkeeping**: `status.active` lists its unfinished Jobs (a Job that finished is
//!   dropped with a `SawCompletedJob` event; one that vanished with `MissingJob`; an
//!   unfinished Job it controls but did not list is added); `lastSuccessfulTime` is the
//!   latest completion of its Jobs.
//! - **The run due**: the most recent scheduled time after `lastScheduleTime` (or the
//!   creation time), no earlier than `startingDeadlineSeconds` ago. Only that one run is
//!   started, however many were missed (a controller that was down catches up once);
//!   more than 100 missed runs give the `TooManyMissedTimes` warning. A run later than
//!   its starting deadline is missed (`MissSchedule`). A run whose Job exists already is
//!   not started again: Jobs are named `<cronjob>-<minutes since the epoch>`.
//! - **Concurrency**: `Forbid` skips a run while a Job is active (it may run once when
//!   the active one finishes, as a missed run); `Replace` deletes the active Jobs first;
//!   `Allow` runs them side by side.
//! - **History**: finished Jobs beyond `successfulJobsHistoryLimit` (default 3) and
//!   `failedJobsHistoryLimit` (default 1) are deleted, oldest first.
//!
//! The applier creates the Job (labels and annotations from `jobTemplate`, the
//! `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation, the CronJob as
//! controller), adds it to `status.active` with `lastScheduleTime`, writes the status
//! conditional on the version read, deletes with background propagation, and records
//! Events. The reconcile asks to be woken at the next scheduled time.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{
    ConcurrencyPolicy, CronJob, CronJobStatus, Event, Job, ObjectReference, Resource, Time,
    CRONJOB_SCHEDULED_TIMESTAMP, JOB_COMPLETE,
};
use serde_json::json;
use tracing::debug;

use self::schedule::{Schedule, ScheduleError};
use super::support::{reference, Controller, Wiring};
use crate::events::EventRecorder;
use crate::informer::{ApiHandle, Cache, ObjectKey};
use crate::supervisor::ComponentSpec;

/// The CronJob controller's name on the bus.
pub const NAME: &str = "controller/cronjob";
/// The component name in its Events.
pub const COMPONENT: &str = "cronjob-controller";
/// More missed runs than this give a warning.
pub const MAX_MISSED: usize = 100;
/// The longest a sync sleeps before it looks again.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// One step the applier takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Delete this Job (background propagation), with a `SuccessfulDelete` event.
    DeleteJob {
        /// Its name.
        name: String,
        /// Its uid (a precondition).
        uid: String,
    },
    /// Create the Job for the run scheduled at this time, under this name.
    CreateJob {
        /// The Job's name.
        name: String,
        /// The scheduled time of the run.
        scheduled: Time,
    },
    /// Record an Event on the CronJob.
    Event {
        /// `Normal` or `Warning`.
        type_: &'static str,
        /// Why, in one word.
        reason: &'static str,
        /// Why, for people.
        message: String,
    },
}

/// What [`plan`] decided: the actions, the status to write (after a creation adds the
/// new Job to it), and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The steps, in order.
    pub actions: Vec<Action>,
    /// The status as it should be before any Job this plan creates.
    pub status: CronJobStatus,
    /// Look again after this long (the next run).
    pub requeue_after: Option<Duration>,
}

fn to_ts(t: Time) -> Timestamp {
    Timestamp::from_second(t.0).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn to_time(ts: Timestamp) -> Time {
    Time(ts.as_second())
}

fn job_finished(job: &Job) -> bool {
    job.is_finished()
}

/// The scheduled runs due at `now`: the most recent one not yet started, and how many
/// were due (counted up to [`MAX_MISSED`] + 1; beyond that the most recent run is found
/// from a window before `now`, so a long downtime costs no more than a short one).
fn due(cj: &CronJob, schedule: &Schedule, now: Timestamp) -> (Option<Timestamp>, usize) {
    let mut earliest = cj
        .status
        .last_schedule_time
        .or(cj.metadata.creation_timestamp)
        .map(to_ts)
        .unwrap_or(now);
    if let Some(sds) = cj.spec.starting_deadline_seconds {
        let floor = Timestamp::from_second(now.as_second().saturating_sub(sds))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        earliest = earliest.max(floor);
    }
    let (mut last, mut count) = walk(schedule, earliest, now, MAX_MISSED + 1);
    if count > MAX_MISSED {
        // Too many to walk: the latest run lies in the smallest window before `now` that
        // holds one (a window is searched only when it starts after `earliest`).
        for secs in [3_600, 86_400, 31 * 86_400, 366 * 86_400, 8 * 366 * 86_400] {
            let from = Timestamp::from_second(now.as_second().saturating_sub(secs))
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .max(earliest);
            let (found, _) = walk(schedule, from, now, usize::MAX);
            if found.is_some() {
                last = found;
                break;
            }
        }
        // Kubernetes' estimate: the time since the first missed run over the interval
        // between the first two.
        let first = schedule.next_after(earliest);
        let second = first.and_then(|t| schedule.next_after(t));
        if let (Some(a), Some(b)) = (first, second) {
            let interval = (b.as_second() - a.as_second()).max(1);
            let estimate = (now.as_second() - a.as_second()) / interval + 1;
            count = count.max(usize::try_from(estimate).unwrap_or(usize::MAX));
        }
    }
    (last, count)
}

/// The runs after `from` up to `now`, at most `limit` of them: the last one walked and
/// how many.
fn walk(
    schedule: &Schedule,
    from: Timestamp,
    now: Timestamp,
    limit: usize,
) -> (Option<Timestamp>, usize) {
    let (mut last, mut count) = (None, 0);
    let mut t = schedule.next_after(from);
    while let Some(run) = t.filter(|r| *r <= now) {
        last = Some(run);
        count += 1;
        if count >= limit {
            break;
        }
        t = schedule.next_after(run);
    }
    (last, count)
}

/// The name of the Job for the run scheduled at `t` (Kubernetes' `getJobName`).
pub fn job_name(cj: &CronJob, t: Time) -> String {
    format!("{}-{}", cj.metadata.name, t.0.div_euclid(60))
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        kind: "Job".into(),
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        uid: job.metadata.uid.clone(),
        api_version: "batch/v1".into(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: String::new(),
    }
}

/// Decides what to do for `cj` given the Jobs it controls and the time.
pub fn plan(cj: &CronJob, jobs: &[&Job], now: Time) -> Plan {
    let mut actions = Vec::new();
    let mut status = cj.status.clone();
    let event = |actions: &mut Vec<Action>, type_, reason, message: String| {
        actions.push(Action::Event {
            type_,
            reason,
            message,
        })
    };

    // Bookkeeping of active Jobs and the last success.
    let mut active = Vec::new();
    for r in &cj.status.active {
        match jobs.iter().find(|j| j.metadata.uid == r.uid) {
            None => event(
                &mut actions,
                Event::NORMAL,
                "MissingJob",
                format!("Active job went missing: {}", r.name),
            ),
            Some(j) if job_finished(j) => {
                let kind = if j.has_condition(JOB_COMPLETE) {
                    "Complete"
                } else {
                    "Failed"
                };
                event(
                    &mut actions,
                    Event::NORMAL,
                    "SawCompletedJob",
                    format!("Saw completed job: {}, condition: {kind}", j.metadata.name),
                );
            }
            Some(_) => active.push(r.clone()),
        }
    }
    for j in jobs {
        if !job_finished(j) && !active.iter().any(|r| r.uid == j.metadata.uid) {
            active.push(job_ref(j));
        }
    }
    status.active = active;
    let latest_success = jobs
        .iter()
        .filter(|j| j.has_condition(JOB_COMPLETE))
        .filter_map(|j| j.status.completion_time)
        .max();
    if latest_success > status.last_successful_time {
        status.last_successful_time = latest_success;
    }

    // History limits.
    let mut history = |want_complete: bool, limit: Option<i32>, default: i32| {
        let mut done: Vec<&&Job> = jobs
            .iter()
            .filter(|j| job_finished(j) && j.has_condition(JOB_COMPLETE) == want_complete)
            .collect();
        let keep = usize::try_from(limit.unwrap_or(default).max(0)).unwrap_or(0);
        if done.len() > keep {
            done.sort_by_key(|j| {
                (
                    j.status.start_time.or(j.metadata.creation_timestamp),
                    j.metadata.name.clone(),
                )
            });
            for j in &done[..done.len() - keep] {
                actions.push(Action::DeleteJob {
                    name: j.metadata.name.clone(),
                    uid: j.metadata.uid.clone(),
                });
            }
        }
    };
    history(true, cj.spec.successful_jobs_history_limit, 3);
    history(false, cj.spec.failed_jobs_history_limit, 1);

    let done = |actions: Vec<Action>, status: CronJobStatus, requeue| Plan {
        actions,
        status,
        requeue_after: requeue,
    };
    if cj.metadata.deletion_timestamp.is_some() {
        return done(actions, status, None);
    }
    let schedule = match Schedule::parse(&cj.spec.schedule, cj.spec.time_zone.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            let (reason, message) = match &e {
                ScheduleError::UnknownTimeZone(_) => (
                    "UnknownTimeZone",
                    format!(
                        "invalid timeZone: {:?}: {e}",
                        cj.spec.time_zone.as_deref().unwrap_or_default()
                    ),
                ),
                ScheduleError::Unparseable(_) => (
                    "UnparseableSchedule",
                    format!("unparseable schedule: {:?} : {e}", cj.spec.schedule),
                ),
            };
            event(&mut actions, Event::WARNING, reason, message);
            return done(actions, status, None);
        }
    };
    if cj.spec.suspend == Some(true) {
        return done(actions, status, None);
    }
    let now_ts = to_ts(now);
    let wake = |from: Timestamp| {
        schedule.next_after(from).map(|n| {
            let secs = u64::try_from(n.as_second() - now.0).unwrap_or(0);
            // A little after the minute starts, never longer than an hour.
            (Duration::from_secs(secs) + Duration::from_millis(100)).min(MAX_WAIT)
        })
    };
    let (run, missed) = due(cj, &schedule, now_ts);
    let Some(run) = run else {
        return done(actions, status, wake(now_ts));
    };
    if missed > MAX_MISSED {
        event(
            &mut actions,
            Event::WARNING,
            "TooManyMissedTimes",
            format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"),
        );
    }
    let run_time = to_time(run);
    if let Some(sds) = cj.spec.starting_deadline_seconds {
        if run_time.0.saturating_add(sds) < now.0 {
            event(
                &mut actions,
                Event::WARNING,
                "MissSchedule",
                format!(
                    "Missed scheduled time to start a job: {}",
                    run.to_zoned(schedule.zone().clone())
                ),
            );
            return done(actions, status, wake(now_ts));
        }
    }
    let name = job_name(cj, run_time);
    if jobs.iter().any(|j| j.metadata.name == name) || status.active.iter().any(|r| r.name == name)
    {
        return done(actions, status, wake(now_ts));
    }
    match cj
        .spec
        .concurrency_policy
        .unwrap_or(ConcurrencyPolicy::Allow)
    {
        ConcurrencyPolicy::Forbid if !status.active.is_empty() => {
            event(
                &mut actions,
                Event::NORMAL,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".to_owned(),
            );
            return done(actions, status, wake(now_ts));
        }
        ConcurrencyPolicy::Replace => {
            for r in std::mem::take(&mut status.active) {
                actions.push(Action::DeleteJob {
                    name: r.name,
                    uid: r.uid,
                });
            }
        }
        _ => {}
    }
    actions.push(Action::CreateJob {
        name,
        scheduled: run_time,
    });
    done(actions, status, wake(now_ts))
}

/// The Job for the run at `scheduled` (Kubernetes' `getJobFromTemplate2`).
pub fn job_for(cj: &CronJob, name: &str, scheduled: Time) -> Job {
    let template = &cj.spec.job_template;
    let mut job = Job::new(name);
    job.metadata.namespace = cj.metadata.namespace.clone();
    job.metadata.labels = template.metadata.labels.clone();
    job.metadata.annotations = template.metadata.annotations.clone();
    let zone = schedule::time_zone(cj.spec.time_zone.as_deref()).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = to_ts(scheduled).to_zoned(zone);
    job.metadata.annotations.insert(
        CRONJOB_SCHEDULED_TIMESTAMP.to_owned(),
        local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    );
    job.metadata.owner_references = vec![cj.controller_ref()];
    job.spec = template.spec.clone();
    job
}

/// The component the node's supervisor runs.
pub fn component() -> ComponentSpec {
    Controller::<CronJob>::new(NAME).component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
        reconcile(&ctx, &key).await
    })
}

struct Ctx {
    api: ApiHandle,
    events: EventRecorder,
    cronjobs: Cache<CronJob>,
    jobs: Cache<Job>,
}

fn wire(w: &mut Wiring<CronJob>) -> Ctx {
    Ctx {
        api: w.api().clone(),
        events: EventRecorder::new(w.api().clone(), COMPONENT),
        cronjobs: w.primary(),
        jobs: w.owns::<Job>(),
    }
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(cj) = ctx.cronjobs.get(key) else {
        return Ok(None);
    };
    let ns = cj.metadata.namespace.clone();
    let all = ctx.jobs.list_namespace(&ns);
    let mine: Vec<&Job> = all
        .iter()
        .map(Arc::as_ref)
        .filter(|j| {
            j.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == cj.metadata.uid)
        })
        .collect();
    let plan = plan(&cj, &mine, Time::now());
    debug!(actions = plan.actions.len(), "planned");
    let jobs = ctx.api.api::<Job>(Some(&ns));
    let mut status = plan.status;
    let mut first_error = None;
    for action in plan.actions {
        match action {
            Action::Event {
                type_,
                reason,
                message,
            } => ctx
                .events
                .record(reference(cj.as_ref()), type_, reason, message),
            Action::DeleteJob { name, uid } => {
                let options = json!({
                    "propagationPolicy": "Background",
                    "preconditions": {"uid": uid},
                });
                match jobs.delete_with(&name, &options).await {
                    Ok(_) => ctx.events.record(
                        reference(cj.as_ref()),
                        Event::NORMAL,
                        "SuccessfulDelete",
                        format!("Deleted job {name}"),
                    ),
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Action::CreateJob { name, scheduled } => {
                match jobs.create(&job_for(&cj, &name, scheduled)).await {
                    Ok(job) => {
                        ctx.events.record(
                            reference(cj.as_ref()),
                            Event::NORMAL,
                            "SuccessfulCreate",
                            format!("Created job {name}"),
                        );
                        status.active.push(job_ref(&job));
                        status.last_schedule_time = Some(scheduled);
                    }
                    // Made by an earlier sync whose status write was lost: the next sync
                    // sees it in the cache.
                    Err(e) if e.is_conflict() => {
                        status.last_schedule_time = Some(scheduled);
                    }
                    Err(e) => {
                        ctx.events.record(
                            reference(cj.as_ref()),
                            Event::WARNING,
                            "FailedCreate",
                            format!("Error creating job: {e}"),
                        );
                        return Err(e);
                    }
                }
            }
        }
    }
    if status != cj.status {
        let mut updated = cj.as_ref().clone();
        updated.status = status;
        match ctx
            .api
            .api::<CronJob>(Some(&ns))
            .update_status(&updated)
            .await
        {
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(plan.requeue_after),
    }
}

#[cfg(test)]
mod tests;
