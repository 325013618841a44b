//! Jobs (`batch/v1`): Kubernetes' defaults (parallelism and completions 1, backoffLimit
//! 6, NonIndexed, not suspended), the selector generated from the Job's uid with the
//! labels it selects added to the template (unless `manualSelector`), the validation of
//! `pkg/apis/batch/validation` for the fields the controller reads, and Kubernetes' job
//! printer (STATUS, COMPLETIONS, DURATION).

use std::collections::BTreeSet;

use rudder_protocol::resources::{
    CompletionMode, Job, JobSpec, LabelSelector, PodFailurePolicyAction,
    PodFailurePolicyOnExitCodesOperator, PodReplacementPolicy, PodTemplateSpec, RestartPolicy,
    Time, JOB_COMPLETE, JOB_CONTROLLER_UID_LABEL, JOB_FAILED, JOB_FAILURE_TARGET, JOB_NAME_LABEL,
    JOB_SUSPENDED, LEGACY_JOB_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
};
use serde_json::{json, Value};

use super::super::defaults::{default_template, Defaults};
use super::super::table::{
    col, containers_and_images, human_duration, selector_string, since, Column, Row, AGE,
    CONTAINERS, IMAGES, NAME,
};
use super::super::validation::{
    validate_annotations, validate_label_selector, validate_labels, validate_object_meta,
    validate_object_meta_update, validate_pod_spec, FieldCause, FieldPath, NameRule,
    PodSpecContext, Validate, IMMUTABLE,
};
use super::{Admission, Strategy};

/// The most completions an Indexed Job may have (Kubernetes' `maxParallelismForIndexedJob`
/// and completions limit for per-index back-off are the same figure).
pub const MAX_INDEXED_COMPLETIONS: i32 = 100_000;
/// The most parallelism an Indexed Job may have.
pub const MAX_INDEXED_PARALLELISM: i32 = 100_000;

impl Strategy for Job {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::workload];
    const COLUMNS: &'static [Column] = JOB_COLUMNS;

    fn example(_namespace: &str) -> Value {
        // A manual selector, so the example is valid before admission generates one.
        json!({"spec": {
            "manualSelector": true,
            "selector": {"matchLabels": {"app": "example"}},
            "template": {
                "metadata": {"labels": {"app": "example"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "rudder/demo:latest"}],
                },
            },
        }})
    }

    fn cells(&self, now: Time) -> Row {
        Row::new(job_cells(self, now))
    }

    /// Kubernetes' `generateSelector`: unless the user asked to pick the selector, the
    /// pods are selected by the Job's uid, and the template carries that label and the
    /// Job's name (both the `batch.kubernetes.io/` keys and the legacy ones).
    fn prepare_create(job: &mut Job, _admission: &Admission) {
        job.status = Default::default();
        if job.spec.manual_selector == Some(true) {
            return;
        }
        let uid = job.metadata.uid.clone();
        let name = job.metadata.name.clone();
        let labels = &mut job.spec.template.metadata.labels;
        for (key, value) in [
            (JOB_CONTROLLER_UID_LABEL, &uid),
            (LEGACY_JOB_CONTROLLER_UID_LABEL, &uid),
            (JOB_NAME_LABEL, &name),
            (LEGACY_JOB_NAME_LABEL, &name),
        ] {
            labels
                .entry(key.to_owned())
                .or_insert_with(|| value.clone());
        }
        if job.spec.selector.is_none() {
            job.spec.selector = Some(LabelSelector {
                match_labels: [(JOB_CONTROLLER_UID_LABEL.to_owned(), uid)].into(),
                ..Default::default()
            });
        }
    }
}

const JOB_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col(
        "Completions",
        "string",
        "The desired number of successfully finished pods the job should be run with.",
    ),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    JOB_SELECTOR,
];

/// The wide SELECTOR column of Jobs and CronJobs.
pub(super) const JOB_SELECTOR: Column = col(
    "Selector",
    "string",
    "A label query over pods that should match the pod count.",
)
.wide();

fn job_cells(job: &Job, now: Time) -> Vec<Value> {
    let succeeded = job.status.succeeded;
    let completions = match job.spec.completions {
        Some(c) => format!("{succeeded}/{c}"),
        None => match job.spec.parallelism.unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (job.status.start_time, job.status.completion_time) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.0.saturating_sub(start.0)),
        (Some(start), Some(end)) => human_duration(end.0.saturating_sub(start.0)),
    };
    let status = if job.has_condition(JOB_COMPLETE) {
        "Complete"
    } else if job.has_condition(JOB_FAILED) {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if job.has_condition(JOB_SUSPENDED) {
        "Suspended"
    } else if job.has_condition(JOB_FAILURE_TARGET) {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(&job.spec.template.spec);
    vec![
        json!(job.metadata.name),
        json!(status),
        json!(completions),
        json!(duration),
        json!(since(job.metadata.creation_timestamp, now)),
        json!(names),
        json!(images),
        json!(job
            .spec
            .selector
            .as_ref()
            .map(selector_string)
            .unwrap_or_default()),
    ]
}

impl Defaults for Job {
    /// Kubernetes' `SetDefaults_Job`.
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        if spec.completions.is_none() && spec.parallelism.is_none() {
            spec.completions = Some(1);
        }
        spec.parallelism.get_or_insert(1);
        if spec.backoff_limit.is_none() {
            // With a per-index limit the global one stops counting by default.
            spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
                i32::MAX
            } else {
                6
            });
        }
        spec.completion_mode
            .get_or_insert(CompletionMode::NonIndexed);
        spec.suspend.get_or_insert(false);
        if spec.pod_replacement_policy.is_none() {
            spec.pod_replacement_policy = Some(if spec.pod_failure_policy.is_some() {
                PodReplacementPolicy::Failed
            } else {
                PodReplacementPolicy::TerminatingOrFailed
            });
        }
        if let Some(policy) = &mut spec.pod_failure_policy {
            for rule in &mut policy.rules {
                for pattern in &mut rule.on_pod_conditions {
                    pattern
                        .status
                        .get_or_insert(rudder_protocol::resources::ConditionStatus::True);
                }
            }
        }
        default_template(&mut spec.template);
    }
}

fn positive_or_zero(value: Option<i32>, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if let Some(v) = value.filter(|v| *v < 0) {
        errs.push(FieldCause::invalid(
            path,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

/// Kubernetes' `validateJobSpec` for the fields Rudder's controller reads.
fn validate_job_spec(spec: &JobSpec, manual: bool, errs: &mut Vec<FieldCause>) {
    let path = FieldPath::new("spec");
    positive_or_zero(spec.parallelism, &path.child("parallelism"), errs);
    positive_or_zero(spec.completions, &path.child("completions"), errs);
    positive_or_zero(spec.backoff_limit, &path.child("backoffLimit"), errs);
    positive_or_zero(
        spec.ttl_seconds_after_finished,
        &path.child("ttlSecondsAfterFinished"),
        errs,
    );
    if let Some(d) = spec.active_deadline_seconds.filter(|d| *d <= 0) {
        errs.push(FieldCause::invalid(
            &path.child("activeDeadlineSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    let indexed = spec.completion_mode == Some(CompletionMode::Indexed);
    if indexed {
        match spec.completions {
            None => errs.push(FieldCause::required(
                &path.child("completions"),
                "when completion mode is Indexed",
            )),
            Some(c) if c > MAX_INDEXED_COMPLETIONS => errs.push(FieldCause::invalid(
                &path.child("completions"),
                c,
                &format!("must be less than or equal to {MAX_INDEXED_COMPLETIONS} when completion mode is Indexed"),
            )),
            Some(_) => {}
        }
        if let Some(p) = spec.parallelism.filter(|p| *p > MAX_INDEXED_PARALLELISM) {
            errs.push(FieldCause::invalid(
                &path.child("parallelism"),
                p,
                &format!("must be less than or equal to {MAX_INDEXED_PARALLELISM} when completion mode is Indexed"),
            ));
        }
    }
    if spec.backoff_limit_per_index.is_some() && !indexed {
        errs.push(FieldCause::forbidden(
            &path.child("backoffLimitPerIndex"),
            "requires indexed completion mode",
        ));
    }
    positive_or_zero(
        spec.backoff_limit_per_index,
        &path.child("backoffLimitPerIndex"),
        errs,
    );
    if let Some(m) = spec.max_failed_indexes {
        let mpath = path.child("maxFailedIndexes");
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldCause::required(
                &path.child("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
        positive_or_zero(Some(m), &mpath, errs);
        if let Some(c) = spec.completions.filter(|c| m > *c) {
            errs.push(FieldCause::invalid(
                &mpath,
                m,
                &format!("must be less than or equal to completions ({c})"),
            ));
        }
    }
    if spec.success_policy.is_some() && !indexed {
        errs.push(FieldCause::invalid(
            &path.child("successPolicy"),
            "",
            "requires indexed completion mode",
        ));
    }
    if let Some(policy) = &spec.success_policy {
        let rpath = path.child("successPolicy").child("rules");
        if policy.rules.is_empty() {
            errs.push(FieldCause::required(&rpath, ""));
        }
        for (i, rule) in policy.rules.iter().enumerate() {
            let p = rpath.index(i);
            if rule.succeeded_indexes.is_none() && rule.succeeded_count.is_none() {
                errs.push(FieldCause::required(
                    &p,
                    "at least one of succeededCount or succeededIndexes must be specified",
                ));
            }
            if let Some(ix) = &rule.succeeded_indexes {
                if crate::controllers::job::indexes::parse(ix, spec.completions.unwrap_or(0))
                    .is_err()
                {
                    errs.push(FieldCause::invalid(
                        &p.child("succeededIndexes"),
                        ix.as_str(),
                        "error parsing indexes",
                    ));
                }
            }
            if let Some(c) = rule.succeeded_count {
                positive_or_zero(Some(c), &p.child("succeededCount"), errs);
                if let Some(total) = spec.completions.filter(|t| c > *t) {
                    errs.push(FieldCause::invalid(
                        &p.child("succeededCount"),
                        c,
                        &format!("must be less than or equal to {total} (the number of specified completions)"),
                    ));
                }
            }
        }
    }
    if let Some(policy) = &spec.pod_failure_policy {
        validate_pod_failure_policy(policy, spec, &path.child("podFailurePolicy"), errs);
    }
    if spec.pod_replacement_policy == Some(PodReplacementPolicy::TerminatingOrFailed)
        && spec.pod_failure_policy.is_some()
    {
        errs.push(FieldCause::not_supported(
            &path.child("podReplacementPolicy"),
            "TerminatingOrFailed",
            &["Failed"],
        ));
    }

    // The selector: required once generated, and it must select the template.
    let spath = path.child("selector");
    let tpath = path.child("template");
    match &spec.selector {
        None => errs.push(FieldCause::required(&spath, "")),
        Some(sel) if sel.match_labels.is_empty() && sel.match_expressions.is_empty() => {
            errs.push(FieldCause::required(&spath, ""))
        }
        Some(sel) => {
            let problems = validate_label_selector(sel, &spath);
            if problems.is_empty() && !sel.matches(&spec.template.metadata.labels) {
                errs.push(FieldCause::invalid(
                    &tpath.child("metadata").child("labels"),
                    serde_json::to_string(&spec.template.metadata.labels).unwrap_or_default(),
                    "`selector` does not match template `labels`",
                ));
            }
            errs.extend(problems);
        }
    }
    if !manual {
        let uid_label = spec.template.metadata.labels.get(JOB_CONTROLLER_UID_LABEL);
        if uid_label.is_none() {
            errs.push(FieldCause::required(
                &tpath
                    .child("metadata")
                    .child("labels")
                    .key(JOB_CONTROLLER_UID_LABEL),
                "must be 'true' for manualSelector to leave this out",
            ));
        }
    }
    validate_job_pod_template(&spec.template, &tpath, errs);
}

/// The pod template of a Job (or of a CronJob's Jobs) at `path`: its labels,
/// annotations and pod spec, restarting `OnFailure` or `Never`.
pub(super) fn validate_job_pod_template(
    template: &PodTemplateSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let mpath = path.child("metadata");
    errs.extend(validate_labels(
        &template.metadata.labels,
        &mpath.child("labels"),
    ));
    errs.extend(validate_annotations(
        &template.metadata.annotations,
        &mpath.child("annotations"),
    ));
    let ppath = path.child("spec");
    errs.extend(validate_pod_spec(
        &template.spec,
        &ppath,
        PodSpecContext::Template,
    ));
    match template.spec.restart_policy {
        Some(RestartPolicy::OnFailure | RestartPolicy::Never) => {}
        Some(other) => errs.push(FieldCause::not_supported(
            &ppath.child("restartPolicy"),
            other.as_str(),
            &["OnFailure", "Never"],
        )),
        None => errs.push(FieldCause::required(
            &ppath.child("restartPolicy"),
            "valid values: \"OnFailure\", \"Never\"",
        )),
    }
}

/// Kubernetes' `validatePodFailurePolicy`.
fn validate_pod_failure_policy(
    policy: &rudder_protocol::resources::PodFailurePolicy,
    spec: &JobSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    if spec.template.spec.restart_policy != Some(RestartPolicy::Never) {
        errs.push(FieldCause::invalid(
            &FieldPath::new("spec")
                .child("template")
                .child("spec")
                .child("restartPolicy"),
            spec.template
                .spec
                .restart_policy
                .map(|p| p.as_str())
                .unwrap_or_default(),
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
    let containers: BTreeSet<&str> = spec
        .template
        .spec
        .containers
        .iter()
        .chain(&spec.template.spec.init_containers)
        .map(|c| c.name.as_str())
        .collect();
    let rpath = path.child("rules");
    for (i, rule) in policy.rules.iter().enumerate() {
        let p = rpath.index(i);
        match rule.action {
            None => errs.push(FieldCause::required(&p.child("action"), "")),
            Some(PodFailurePolicyAction::FailIndex) if spec.backoff_limit_per_index.is_none() => {
                errs.push(FieldCause::invalid(
                    &p.child("action"),
                    "FailIndex",
                    "requires the backoffLimitPerIndex to be set",
                ))
            }
            Some(_) => {}
        }
        match (&rule.on_exit_codes, rule.on_pod_conditions.is_empty()) {
            (Some(_), false) => errs.push(FieldCause::invalid(
                &p,
                "",
                "specifying both OnExitCodes and OnPodConditions is not supported",
            )),
            (None, true) => errs.push(FieldCause::invalid(
                &p,
                "",
                "specifying one of OnExitCodes and OnPodConditions is required",
            )),
            _ => {}
        }
        if let Some(codes) = &rule.on_exit_codes {
            let cpath = p.child("onExitCodes");
            if let Some(name) = &codes.container_name {
                if !containers.contains(name.as_str()) {
                    errs.push(FieldCause::invalid(
                        &cpath.child("containerName"),
                        name.as_str(),
                        "must be one of the container or initContainer names in the pod template",
                    ));
                }
            }
            if codes.operator.is_none() {
                errs.push(FieldCause::required(&cpath.child("operator"), ""));
            }
            let vpath = cpath.child("values");
            if codes.values.is_empty() {
                errs.push(FieldCause::invalid(
                    &vpath,
                    "[]",
                    "at least one value is required",
                ));
            }
            for (j, pair) in codes.values.windows(2).enumerate() {
                if pair[0] == pair[1] {
                    errs.push(FieldCause::duplicate(&vpath.index(j + 1), pair[1]));
                } else if pair[0] > pair[1] {
                    errs.push(FieldCause::invalid(
                        &vpath.index(j + 1),
                        pair[1],
                        "must be ordered",
                    ));
                }
            }
            if codes.operator == Some(PodFailurePolicyOnExitCodesOperator::In) {
                if let Some(j) = codes.values.iter().position(|v| *v == 0) {
                    errs.push(FieldCause::invalid(
                        &vpath.index(j),
                        0,
                        "must not be 0 for the In operator",
                    ));
                }
            }
        }
        for (j, pattern) in rule.on_pod_conditions.iter().enumerate() {
            if pattern.type_.is_empty() {
                errs.push(FieldCause::required(
                    &p.child("onPodConditions").index(j).child("type"),
                    "",
                ));
            }
        }
    }
}

impl Validate for Job {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        validate_job_spec(
            &self.spec,
            self.spec.manual_selector == Some(true),
            &mut errs,
        );
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        let path = FieldPath::new("spec");
        let (new, old_spec) = (&self.spec, &old.spec);
        let mut immutable = |changed: bool, name: &str, value: String| {
            if changed {
                errs.push(FieldCause::invalid(&path.child(name), value, IMMUTABLE));
            }
        };
        immutable(
            new.selector != old_spec.selector,
            "selector",
            serde_json::to_string(&new.selector).unwrap_or_default(),
        );
        immutable(
            new.completion_mode != old_spec.completion_mode,
            "completionMode",
            new.completion_mode
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
        );
        immutable(
            new.pod_failure_policy != old_spec.pod_failure_policy,
            "podFailurePolicy",
            String::new(),
        );
        immutable(
            new.success_policy != old_spec.success_policy,
            "successPolicy",
            String::new(),
        );
        immutable(
            new.backoff_limit_per_index != old_spec.backoff_limit_per_index,
            "backoffLimitPerIndex",
            format!("{:?}", new.backoff_limit_per_index),
        );
        immutable(
            new.completions != old_spec.completions,
            "completions",
            format!("{}", new.completions.unwrap_or_default()),
        );
        // The template may change only while the Job is suspended and has not started
        // (Kubernetes' mutable scheduling directives, widened to the whole template).
        let may_change_template = old_spec.suspend == Some(true) && old.status.start_time.is_none();
        immutable(
            new.template != old_spec.template && !may_change_template,
            "template",
            String::new(),
        );
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::for_kind;
    use super::*;

    fn admitted(spec: Value) -> Result<Value, String> {
        let kind = for_kind("Job").expect("served");
        let mut obj = kind.example("pi", "default");
        obj["metadata"]["uid"] = json!("u-1");
        // The generated selector, as `kubectl create job` leaves it to the server.
        if let Some(o) = obj["spec"].as_object_mut() {
            o.remove("manualSelector");
            o.remove("selector");
        }
        obj["spec"]["template"]["metadata"] = json!({});
        if let (Some(o), Some(extra)) = (obj["spec"].as_object_mut(), spec.as_object()) {
            for (k, v) in extra {
                o.insert(k.clone(), v.clone());
            }
        }
        kind.admit(
            obj,
            &Admission {
                default_toleration_seconds: 300,
            },
        )
        .map_err(|e| e.message)
    }

    #[test]
    fn defaults_and_the_generated_selector_are_kubernetes() {
        let job = admitted(json!({})).expect("valid");
        let spec = &job["spec"];
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        let labels = &spec["template"]["metadata"]["labels"];
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["job-name"], "pi");
        assert_eq!(labels["controller-uid"], "u-1");

        let per_index = admitted(json!({"completionMode": "Indexed", "completions": 3,
            "backoffLimitPerIndex": 1}))
        .expect("valid");
        assert_eq!(per_index["spec"]["backoffLimit"], i32::MAX);
        let only_parallelism = admitted(json!({"parallelism": 3})).expect("valid");
        assert!(only_parallelism["spec"].get("completions").is_none());
    }

    #[test]
    fn invalid_jobs_are_refused_with_kubernetes_messages() {
        let table: &[(&str, Value, &str)] = &[
            (
                "negative parallelism",
                json!({"parallelism": -1}),
                "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                "indexed without completions",
                json!({"completionMode": "Indexed", "parallelism": 2}),
                "spec.completions: Required value: when completion mode is Indexed",
            ),
            (
                "per-index limit without Indexed",
                json!({"backoffLimitPerIndex": 1}),
                "spec.backoffLimitPerIndex: Forbidden: requires indexed completion mode",
            ),
            (
                "zero deadline",
                json!({"activeDeadlineSeconds": 0}),
                "spec.activeDeadlineSeconds: Invalid value: 0: must be greater than 0",
            ),
            (
                "restartPolicy Always",
                json!({"template": {"spec": {"restartPolicy": "Always",
                    "containers": [{"name": "c", "image": "i"}]}}}),
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            ),
            (
                "failure policy exit code 0 with In",
                json!({"podFailurePolicy": {"rules": [{"action": "FailJob",
                    "onExitCodes": {"operator": "In", "values": [0, 1]}}]}}),
                "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
            ),
            (
                "failure policy with unordered codes",
                json!({"podFailurePolicy": {"rules": [{"action": "Count",
                    "onExitCodes": {"operator": "NotIn", "values": [3, 1]}}]}}),
                "must be ordered",
            ),
            (
                "FailIndex without per-index limit",
                json!({"podFailurePolicy": {"rules": [{"action": "FailIndex",
                    "onExitCodes": {"operator": "In", "values": [1]}}]}}),
                "requires the backoffLimitPerIndex to be set",
            ),
        ];
        for (name, spec, want) in table {
            let e = admitted(spec.clone()).expect_err(name);
            assert!(e.contains(want), "{name}: {e}");
        }
    }

    #[test]
    fn the_template_is_immutable_once_started() {
        let kind = for_kind("Job").expect("served");
        let old = admitted(json!({})).expect("valid");
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other");
        let e = kind.typed(new.clone(), Some(&old)).expect_err("immutable");
        assert!(
            e.message.contains("spec.template: Invalid value"),
            "{}",
            e.message
        );
        let mut suspended = old.clone();
        suspended["spec"]["suspend"] = json!(true);
        new["spec"]["suspend"] = json!(true);
        assert!(kind.typed(new, Some(&suspended)).is_ok());
        let mut parallel = old.clone();
        parallel["spec"]["parallelism"] = json!(4);
        assert!(
            kind.typed(parallel, Some(&old)).is_ok(),
            "parallelism may change"
        );
    }

    #[test]
    fn the_printer_says_what_kubectl_says() {
        let now = Time(1_000_100);
        let mut job = Job::new("pi");
        job.spec.completions = Some(5);
        job.status.succeeded = 2;
        job.status.start_time = Some(Time(1_000_000));
        let cells = job_cells(&job, now);
        assert_eq!(cells[1], "Running");
        assert_eq!(cells[2], "2/5");
        assert_eq!(cells[3], "100s");
        job.spec.completions = None;
        job.spec.parallelism = Some(3);
        assert_eq!(job_cells(&job, now)[2], "2/1 of 3");
        job.status
            .conditions
            .push(rudder_protocol::resources::JobCondition {
                type_: JOB_COMPLETE.into(),
                status: rudder_protocol::resources::ConditionStatus::True,
                ..Default::default()
            });
        job.status.completion_time = Some(Time(1_000_030));
        let cells = job_cells(&job, now);
        assert_eq!(cells[1], "Complete");
        assert_eq!(cells[3], "30s");
    }
}
