//! The CronJob plan as a table of named cases.

use rudder_protocol::resources::{
    ConcurrencyPolicy, ConditionStatus, CronJob, Job, JobCondition, ObjectReference, Time,
    CRONJOB_SCHEDULED_TIMESTAMP, JOB_COMPLETE, JOB_FAILED,
};

use super::{job_for, job_name, plan, Action, Plan};

/// 2026-12-04T10:00:00Z.
const T0: i64 = 1_796_378_400;

fn cronjob(schedule: &str) -> CronJob {
    let mut cj = CronJob::new("tick");
    cj.metadata.namespace = "default".into();
    cj.metadata.uid = "cj-uid".into();
    cj.metadata.creation_timestamp = Some(Time(T0 + 30));
    cj.spec.schedule = schedule.into();
    cj
}

fn owned(cj: &CronJob, name: &str, started: i64, finished: Option<&str>) -> Job {
    let mut j = Job::new(name);
    j.metadata.namespace = "default".into();
    j.metadata.uid = format!("uid-{name}");
    j.metadata.owner_references = vec![rudder_protocol::resources::Resource::controller_ref(cj)];
    j.metadata.creation_timestamp = Some(Time(started));
    j.status.start_time = Some(Time(started));
    if let Some(type_) = finished {
        j.status.conditions.push(JobCondition {
            type_: type_.into(),
            status: ConditionStatus::True,
            ..Default::default()
        });
        if type_ == JOB_COMPLETE {
            j.status.completion_time = Some(Time(started + 5));
        }
    }
    j
}

fn active_ref(j: &Job) -> ObjectReference {
    ObjectReference {
        kind: "Job".into(),
        namespace: "default".into(),
        name: j.metadata.name.clone(),
        uid: j.metadata.uid.clone(),
        api_version: "batch/v1".into(),
        ..Default::default()
    }
}

fn created(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateJob { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn deleted(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteJob { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn events(p: &Plan) -> Vec<&'static str> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn plan_table() {
    let minutely = cronjob("* * * * *");
    let run_1001 = format!("tick-{}", (T0 + 60) / 60);
    let forbid = {
        let mut c = minutely.clone();
        c.spec.concurrency_policy = Some(ConcurrencyPolicy::Forbid);
        c
    };
    let replace = {
        let mut c = minutely.clone();
        c.spec.concurrency_policy = Some(ConcurrencyPolicy::Replace);
        c
    };
    let running = owned(&minutely, "tick-old", T0 - 600, None);
    let with_active = |c: &CronJob| {
        let mut c = c.clone();
        c.status.active = vec![active_ref(&running)];
        c
    };
    type Case = (
        &'static str,
        CronJob,
        Vec<Job>,
        i64,
        Vec<String>,
        Vec<&'static str>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "the first run once it is due",
            minutely.clone(),
            vec![],
            T0 + 65,
            vec![run_1001.clone()],
            vec![],
            vec![],
        ),
        (
            "nothing before the first run",
            minutely.clone(),
            vec![],
            T0 + 45,
            vec![],
            vec![],
            vec![],
        ),
        (
            "a run whose Job exists is not started again",
            minutely.clone(),
            vec![owned(&minutely, &run_1001, T0 + 60, None)],
            T0 + 65,
            vec![],
            vec![],
            vec![],
        ),
        (
            "Forbid skips a run while one is active",
            with_active(&forbid),
            vec![running.clone()],
            T0 + 65,
            vec![],
            vec![],
            vec!["JobAlreadyActive"],
        ),
        (
            "Replace deletes the active Job and starts the new one",
            with_active(&replace),
            vec![running.clone()],
            T0 + 65,
            vec![run_1001.clone()],
            vec!["tick-old"],
            vec![],
        ),
        (
            "Allow runs side by side",
            with_active(&minutely),
            vec![running.clone()],
            T0 + 65,
            vec![run_1001.clone()],
            vec![],
            vec![],
        ),
        (
            "four hours down: one catch-up run, and a warning",
            {
                let mut c = minutely.clone();
                c.status.last_schedule_time = Some(Time(T0));
                c
            },
            vec![],
            T0 + 4 * 3600 + 10,
            vec![format!("tick-{}", (T0 + 4 * 3600) / 60)],
            vec![],
            vec!["TooManyMissedTimes"],
        ),
        (
            "a starting deadline leaves out older runs",
            {
                let mut c = cronjob("0 * * * *");
                c.spec.starting_deadline_seconds = Some(10);
                c
            },
            vec![],
            T0 + 3600 + 30,
            vec![],
            vec![],
            vec![],
        ),
        (
            "suspended: nothing starts",
            {
                let mut c = minutely.clone();
                c.spec.suspend = Some(true);
                c
            },
            vec![],
            T0 + 65,
            vec![],
            vec![],
            vec![],
        ),
        (
            "an unparseable schedule is reported",
            cronjob("61 * * * *"),
            vec![],
            T0 + 65,
            vec![],
            vec![],
            vec!["UnparseableSchedule"],
        ),
        (
            "history: the oldest finished Jobs beyond the limits go",
            {
                let mut c = minutely.clone();
                c.status.last_schedule_time = Some(Time(T0 + 60));
                c.spec.successful_jobs_history_limit = Some(2);
                c
            },
            vec![
                owned(&minutely, "ok-1", T0 - 500, Some(JOB_COMPLETE)),
                owned(&minutely, "ok-2", T0 - 400, Some(JOB_COMPLETE)),
                owned(&minutely, "ok-3", T0 - 300, Some(JOB_COMPLETE)),
                owned(&minutely, "ko-1", T0 - 200, Some(JOB_FAILED)),
                owned(&minutely, "ko-2", T0 - 100, Some(JOB_FAILED)),
            ],
            T0 + 65,
            vec![],
            vec!["ok-1", "ko-1"],
            vec![],
        ),
    ];
    for (name, cj, jobs, now, want_created, want_deleted, want_events) in cases {
        let refs: Vec<&Job> = jobs.iter().collect();
        let p = plan(&cj, &refs, Time(now));
        assert_eq!(created(&p), want_created, "{name}: created");
        assert_eq!(deleted(&p), want_deleted, "{name}: deleted");
        assert_eq!(events(&p), want_events, "{name}: events");
        if cj.spec.suspend != Some(true) && !want_events.contains(&"UnparseableSchedule") {
            assert!(p.requeue_after.is_some(), "{name}: wakes for the next run");
        }
    }
}

#[test]
fn a_long_downtime_catches_up_once_and_says_how_much_was_missed() {
    let mut cj = cronjob("*/5 * * * *");
    cj.status.last_schedule_time = Some(Time(T0));
    // Two years later: one run, the latest, and Kubernetes' estimate of the missed ones.
    let now = T0 + 2 * 365 * 86_400 + 7 * 60;
    let p = plan(&cj, &[], Time(now));
    let latest = (now / 300) * 300;
    assert_eq!(created(&p), vec![format!("tick-{}", latest / 60)]);
    let message = p
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Event {
                reason: "TooManyMissedTimes",
                message,
                ..
            } => Some(message.clone()),
            _ => None,
        })
        .expect("warned");
    let missed = (now - (T0 + 300)) / 300 + 1;
    assert!(
        message.starts_with(&format!("too many missed start times: {missed}.")),
        "{message}"
    );
}

#[test]
fn finished_jobs_leave_the_active_list_and_set_the_last_success() {
    let mut cj = cronjob("@hourly");
    let done = owned(&cj, "tick-a", T0 - 100, Some(JOB_COMPLETE));
    let gone = owned(&cj, "tick-b", T0 - 50, None);
    let stray = owned(&cj, "tick-c", T0 - 10, None);
    cj.status.active = vec![active_ref(&done), active_ref(&gone)];
    cj.status.last_schedule_time = Some(Time(T0));
    let p = plan(&cj, &[&done, &stray], Time(T0 + 10));
    let names: Vec<&str> = p.status.active.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["tick-c"],
        "finished and vanished out, an unlisted one in"
    );
    assert_eq!(p.status.last_successful_time, Some(Time(T0 - 95)));
    assert_eq!(events(&p), ["SawCompletedJob", "MissingJob"]);
}

#[test]
fn jobs_are_named_and_annotated_for_their_run() {
    let mut cj = cronjob("0 9 * * *");
    cj.spec.time_zone = Some("Asia/Tokyo".into());
    cj.spec
        .job_template
        .metadata
        .labels
        .insert("app".into(), "tick".into());
    let at = Time(T0);
    assert_eq!(job_name(&cj, at), format!("tick-{}", T0 / 60));
    let j = job_for(&cj, "tick-1", at);
    assert_eq!(j.metadata.labels["app"], "tick");
    assert_eq!(
        j.metadata.annotations[CRONJOB_SCHEDULED_TIMESTAMP],
        "2026-12-04T19:00:00+09:00"
    );
    let owner = &j.metadata.owner_references[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("CronJob", "cj-uid")
    );
    assert_eq!(owner.controller, Some(true));
}
