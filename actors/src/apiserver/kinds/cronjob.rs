//! CronJobs (`batch/v1`): Kubernetes' defaults (concurrencyPolicy Allow, not suspended,
//! history limits 3 and 1), validation of the schedule and time zone with the parser
//! the controller uses, a name short enough for its Jobs' names, the Job template's
//! pod rules, and Kubernetes' cronjob printer (SCHEDULE, TIMEZONE, SUSPEND, ACTIVE,
//! LAST SCHEDULE).

use rudder_protocol::resources::{ConcurrencyPolicy, CronJob, Time};
use serde_json::{json, Value};

use super::super::defaults::{default_template, Defaults};
use super::super::table::{
    col, containers_and_images, selector_string, since, Column, Row, AGE, CONTAINERS, IMAGES, NAME,
};
use super::super::validation::{
    validate_annotations, validate_labels, validate_object_meta, validate_object_meta_update,
    FieldCause, FieldPath, NameRule, Validate,
};
use super::job::{validate_job_pod_template, JOB_SELECTOR};
use super::Strategy;
use crate::controllers::cronjob::schedule::{Schedule, ScheduleError};

/// The longest CronJob name: its Jobs add `-` and an 11-digit minute count, and must
/// stay within 63 characters (Kubernetes' limit, 52).
pub const MAX_CRONJOB_NAME: usize = 52;

impl Strategy for CronJob {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::cron_job];
    const COLUMNS: &'static [Column] = CRONJOB_COLUMNS;

    fn example(_namespace: &str) -> Value {
        json!({"spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "c", "image": "rudder/demo:latest"}],
            }}}},
        }})
    }

    fn cells(&self, now: Time) -> Row {
        let spec = &self.spec;
        let (names, images) = containers_and_images(&spec.job_template.spec.template.spec);
        Row::new(vec![
            json!(self.metadata.name),
            json!(spec.schedule),
            json!(spec.time_zone.as_deref().unwrap_or("<none>")),
            json!(match spec.suspend {
                Some(s) => s.to_string(),
                None => "<unset>".to_owned(),
            }),
            json!(self.status.active.len()),
            json!(match self.status.last_schedule_time {
                Some(t) => since(Some(t), now),
                None => "<none>".to_owned(),
            }),
            json!(since(self.metadata.creation_timestamp, now)),
            json!(names),
            json!(images),
            json!(spec
                .job_template
                .spec
                .selector
                .as_ref()
                .map(selector_string)
                .unwrap_or_default()),
        ])
    }
}

const CRONJOB_COLUMNS: &[Column] = &[
    NAME,
    col("Schedule", "string", "The schedule in Cron format."),
    col("Timezone", "string", "The time zone of the schedule."),
    col(
        "Suspend",
        "boolean",
        "Whether subsequent executions are suspended.",
    ),
    col("Active", "integer", "The number of currently running jobs."),
    col(
        "Last Schedule",
        "date",
        "When the job was last successfully scheduled.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    JOB_SELECTOR,
];

impl Defaults for CronJob {
    /// Kubernetes' `SetDefaults_CronJob`.
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.concurrency_policy
            .get_or_insert(ConcurrencyPolicy::Allow);
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
        default_template(&mut spec.job_template.spec.template);
    }
}

fn not_negative(v: Option<i64>, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if let Some(v) = v.filter(|v| *v < 0) {
        errs.push(FieldCause::invalid(
            path,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

impl Validate for CronJob {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        if self.metadata.name.len() > MAX_CRONJOB_NAME {
            errs.push(FieldCause::invalid(
                &FieldPath::new("metadata").child("name"),
                self.metadata.name.as_str(),
                &format!("must be no more than {MAX_CRONJOB_NAME} characters"),
            ));
        }
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let schedule = spec.schedule.as_str();
        if schedule.is_empty() {
            errs.push(FieldCause::required(&path.child("schedule"), ""));
        } else if schedule.contains("TZ") {
            errs.push(FieldCause::invalid(
                &path.child("schedule"),
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        } else {
            match Schedule::parse(schedule, spec.time_zone.as_deref()) {
                Ok(_) => {}
                Err(ScheduleError::UnknownTimeZone(tz)) => errs.push(FieldCause::invalid(
                    &path.child("timeZone"),
                    tz.as_str(),
                    &format!("unknown time zone {tz}"),
                )),
                Err(e) => errs.push(FieldCause::invalid(
                    &path.child("schedule"),
                    schedule,
                    &e.to_string(),
                )),
            }
        }
        not_negative(
            spec.starting_deadline_seconds,
            &path.child("startingDeadlineSeconds"),
            &mut errs,
        );
        for (v, name) in [
            (
                spec.successful_jobs_history_limit,
                "successfulJobsHistoryLimit",
            ),
            (spec.failed_jobs_history_limit, "failedJobsHistoryLimit"),
        ] {
            not_negative(v.map(i64::from), &path.child(name), &mut errs);
        }
        let tpath = path.child("jobTemplate");
        let template = &spec.job_template;
        let mpath = tpath.child("metadata");
        errs.extend(validate_labels(
            &template.metadata.labels,
            &mpath.child("labels"),
        ));
        errs.extend(validate_annotations(
            &template.metadata.annotations,
            &mpath.child("annotations"),
        ));
        validate_job_pod_template(
            &template.spec.template,
            &tpath.child("spec").child("template"),
            &mut errs,
        );
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::{for_kind, Admission};
    use super::*;

    #[test]
    fn defaults_validation_and_printer() {
        let kind = for_kind("CronJob").expect("served");
        let admission = Admission {
            default_toleration_seconds: 300,
        };
        let ok = kind
            .admit(kind.example("tick", "default"), &admission)
            .expect("valid");
        assert_eq!(ok["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(ok["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(ok["spec"]["failedJobsHistoryLimit"], 1);
        assert_eq!(ok["spec"]["suspend"], false);
        let table: &[(&str, &str, Value, &str)] = &[
            (
                "bad schedule",
                "spec.schedule",
                json!("61 * * * *"),
                "spec.schedule: Invalid value: \"61 * * * *\"",
            ),
            (
                "TZ in schedule",
                "spec.schedule",
                json!("TZ=UTC * * * * *"),
                "cannot use TZ or CRON_TZ in schedule",
            ),
            (
                "unknown zone",
                "spec.timeZone",
                json!("Mars/Olympus"),
                "spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus",
            ),
            (
                "negative deadline",
                "spec.startingDeadlineSeconds",
                json!(-1),
                "must be greater than or equal to 0",
            ),
        ];
        for (name, field, value, want) in table {
            let mut obj = kind.example("tick", "default");
            let key = field.trim_start_matches("spec.");
            obj["spec"][key] = value.clone();
            let e = kind.admit(obj, &admission).expect_err(name);
            assert!(e.message.contains(want), "{name}: {}", e.message);
        }
        let long = "x".repeat(53);
        let e = kind
            .admit(kind.example(&long, "default"), &admission)
            .expect_err("long name");
        assert!(
            e.message.contains("must be no more than 52 characters"),
            "{}",
            e.message
        );
        let cj: CronJob = serde_json::from_value(ok).expect("typed");
        let row = cj.cells(Time(0)).cells;
        assert_eq!(row[1], "*/5 * * * *");
        assert_eq!(row[2], "<none>");
        assert_eq!(row[3], "false");
        assert_eq!(row[4], 0);
        assert_eq!(row[5], "<none>");
    }
}
