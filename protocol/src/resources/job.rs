//! Batch workloads (`batch/v1`): a [`Job`] runs pods until a number of them succeed (or
//! one per index, for Indexed jobs); a [`CronJob`] creates Jobs on a schedule. The Job
//! controller owns the pods, tracking each finished one through the
//! [`JOB_TRACKING_FINALIZER`] until its result is counted in the status.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{
    is_default, null_as_default, ConditionStatus, LabelSelector, ObjectMeta, ObjectReference,
    PodTemplateSpec, Time,
};

/// The finalizer the Job controller puts on its pods, removed once a finished pod's
/// result is in the Job's status (so no finished pod goes uncounted).
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The label (and annotation) with a pod's completion index, for Indexed jobs.
pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The label naming the pods' Job by uid (what a generated selector selects).
pub const JOB_CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label naming the pods' Job.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The legacy forms of the two labels above, which Kubernetes still writes.
pub const LEGACY_JOB_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// The legacy job-name label.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// The environment variable with the completion index in Indexed jobs' containers.
pub const JOB_COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The annotation a CronJob puts on its Jobs: the scheduled time they were made for.
pub const CRONJOB_SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

kind! {
    /// Runs pods to completion.
    #[schema(name = "io.k8s.api.batch.v1.Job")]
    pub struct Job: "batch/v1", "Job", "jobs", namespaced = true {
        /// The desired behaviour.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: JobSpec,
        /// The most recently observed status; read-only.
        // Always written (`status: {}` before the controller's first write), as
        // Kubernetes does.
        pub status: JobStatus,
    }
}

kind! {
    /// Creates Jobs on a schedule.
    #[schema(name = "io.k8s.api.batch.v1.CronJob")]
    pub struct CronJob: "batch/v1", "CronJob", "cronjobs", namespaced = true {
        /// The desired behaviour.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: CronJobSpec,
        /// The most recently observed status; read-only.
        pub status: CronJobStatus,
    }
}

string_enum! {
    /// How a Job's pods count towards its completions.
    pub enum CompletionMode {
        /// Any `completions` successful pods complete the Job (the default).
        NonIndexed = "NonIndexed",
        /// Each index from 0 to `completions - 1` needs one successful pod.
        Indexed = "Indexed",
    }
}

string_enum! {
    /// When the Job controller creates a replacement for a pod.
    pub enum PodReplacementPolicy {
        /// As soon as the old pod is terminating or failed (the default).
        TerminatingOrFailed = "TerminatingOrFailed",
        /// Only once the old pod has fully failed.
        Failed = "Failed",
    }
}

string_enum! {
    /// What a matching pod failure policy rule does.
    pub enum PodFailurePolicyAction {
        /// Fail the whole Job.
        FailJob = "FailJob",
        /// Fail the pod's index (with `backoffLimitPerIndex`).
        FailIndex = "FailIndex",
        /// Do not count the failure towards the back-off limit.
        Ignore = "Ignore",
        /// Count the failure as usual.
        Count = "Count",
    }
}

string_enum! {
    /// How exit codes are matched.
    pub enum PodFailurePolicyOnExitCodesOperator {
        /// The exit code is one of the values.
        In = "In",
        /// The exit code is none of the values.
        NotIn = "NotIn",
    }
}

string_enum! {
    /// What happens when a CronJob's next run comes while one is active.
    pub enum ConcurrencyPolicy {
        /// Run them side by side (the default).
        Allow = "Allow",
        /// Skip the new run.
        Forbid = "Forbid",
        /// Replace the running Job by the new one.
        Replace = "Replace",
    }
}

/// The desired behaviour of a Job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.JobSpec")]
pub struct JobSpec {
    /// How many pods run at once at most (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// How many successful pods complete the Job (unset: any one, then the rest stop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    /// How long the Job may be active before it fails, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// How pod failures are handled beyond the back-off limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<PodFailurePolicy>,
    /// When the Job counts as succeeded before all completions (Indexed jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_policy: Option<SuccessPolicy>,
    /// How many retries before the Job fails (default 6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// How many retries each index has before it fails (Indexed jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<i32>,
    /// How many indexes may fail before the Job does (with `backoffLimitPerIndex`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failed_indexes: Option<i32>,
    /// Which pods belong to the Job (generated from its uid unless `manualSelector`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The selector is the user's, not generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_selector: Option<bool>,
    /// The pods to run.
    #[schema(required)]
    pub template: PodTemplateSpec,
    /// How long a finished Job stays before it is deleted, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// `NonIndexed` (default) or `Indexed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<CompletionMode>,
    /// The Job creates no pods and stops its active ones (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// When replacement pods are created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_replacement_policy: Option<PodReplacementPolicy>,
    /// The controller that manages the Job, when not the built-in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

/// How pod failures are handled.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.PodFailurePolicy")]
pub struct PodFailurePolicy {
    /// Rules tried in order; the first that matches a failed pod applies.
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, atomic)]
    pub rules: Vec<PodFailurePolicyRule>,
}

/// One rule of a pod failure policy: an action and what it matches (exit codes or pod
/// conditions, one of them).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.PodFailurePolicyRule")]
pub struct PodFailurePolicyRule {
    /// What a match does.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required)]
    pub action: Option<PodFailurePolicyAction>,
    /// Matches on containers' exit codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_exit_codes: Option<PodFailurePolicyOnExitCodesRequirement>,
    /// Matches on the pod's conditions.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub on_pod_conditions: Vec<PodFailurePolicyOnPodConditionsPattern>,
}

/// Exit codes a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement")]
pub struct PodFailurePolicyOnExitCodesRequirement {
    /// Only this container's exit code (default: any container's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `In` or `NotIn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required)]
    pub operator: Option<PodFailurePolicyOnExitCodesOperator>,
    /// The exit codes, ascending, without duplicates; 0 is not allowed with `In`.
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, list_set)]
    pub values: Vec<i32>,
}

/// A pod condition a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern")]
pub struct PodFailurePolicyOnPodConditionsPattern {
    /// The condition's type.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// The condition's status (default True).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ConditionStatus>,
}

/// When an Indexed Job counts as succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.SuccessPolicy")]
pub struct SuccessPolicy {
    /// Any rule met makes the Job succeed.
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, atomic)]
    pub rules: Vec<SuccessPolicyRule>,
}

/// One success rule: these indexes succeeded, or this many of them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.SuccessPolicyRule")]
pub struct SuccessPolicyRule {
    /// Indexes as an interval list (`1,3-5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub succeeded_indexes: Option<String>,
    /// How many (of `succeededIndexes`, when given) must succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub succeeded_count: Option<i32>,
}

/// The observed state of a Job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.JobStatus")]
pub struct JobStatus {
    /// `Suspended`, `FailureTarget`, `SuccessCriteriaMet`, `Complete`, `Failed`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type", atomic)]
    pub conditions: Vec<JobCondition>,
    /// When the controller started working on the Job (reset when it is resumed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job completed (set only on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pods pending or running, not terminating.
    #[serde(skip_serializing_if = "is_default")]
    pub active: i32,
    /// Pods that succeeded.
    #[serde(skip_serializing_if = "is_default")]
    pub succeeded: i32,
    /// Pods that failed.
    #[serde(skip_serializing_if = "is_default")]
    pub failed: i32,
    /// Pods terminating (being deleted, not yet finished).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i32>,
    /// Indexes that succeeded, as an interval list (`1,3-5`), for Indexed jobs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub completed_indexes: String,
    /// Indexes that failed, with `backoffLimitPerIndex`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
    /// Finished pods counted here but whose finalizer is not removed yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncounted_terminated_pods: Option<UncountedTerminatedPods>,
    /// Active pods that are ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
}

/// A condition of a Job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.JobCondition")]
pub struct JobCondition {
    /// The condition's type.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// When the condition was last checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the status last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one word.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for people.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Finished pods whose result is counted but whose tracking finalizer is still on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.UncountedTerminatedPods")]
pub struct UncountedTerminatedPods {
    /// Uids of pods that succeeded.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(list_set)]
    pub succeeded: Vec<String>,
    /// Uids of pods that failed.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(list_set)]
    pub failed: Vec<String>,
}

/// The desired behaviour of a CronJob.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.CronJobSpec")]
pub struct CronJobSpec {
    /// The schedule, in cron format (five fields, or a macro such as `@hourly`).
    #[schema(required)]
    pub schedule: String,
    /// The time zone the schedule is in (an IANA name; default: the controller's, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// How late a run may start, in seconds, before it counts as missed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// `Allow` (default), `Forbid` or `Replace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// No new runs start (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// The Jobs to create.
    #[schema(required)]
    pub job_template: JobTemplateSpec,
    /// How many finished successful Jobs to keep (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<i32>,
    /// How many finished failed Jobs to keep (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<i32>,
}

/// The Job a CronJob stamps out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.JobTemplateSpec")]
pub struct JobTemplateSpec {
    /// Labels and annotations the Jobs get.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: ObjectMeta,
    /// The Jobs' spec.
    #[serde(skip_serializing_if = "is_default")]
    pub spec: JobSpec,
}

/// The observed state of a CronJob.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.batch.v1.CronJobStatus")]
pub struct CronJobStatus {
    /// The Jobs running now.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub active: Vec<ObjectReference>,
    /// When a Job was last scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When a Job last completed successfully.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
}

impl Job {
    /// The condition of this type, if present.
    pub fn condition(&self, type_: &str) -> Option<&JobCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the condition of this type is True.
    pub fn has_condition(&self, type_: &str) -> bool {
        self.condition(type_)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// Whether the Job has finished: `Complete` or `Failed` is True.
    pub fn is_finished(&self) -> bool {
        self.has_condition(JOB_COMPLETE) || self.has_condition(JOB_FAILED)
    }

    /// Whether the Job is Indexed.
    pub fn is_indexed(&self) -> bool {
        self.spec.completion_mode == Some(CompletionMode::Indexed)
    }
}

/// The Job finished successfully.
pub const JOB_COMPLETE: &str = "Complete";
/// The Job failed.
pub const JOB_FAILED: &str = "Failed";
/// The Job is suspended.
pub const JOB_SUSPENDED: &str = "Suspended";
/// The Job will fail once its pods are gone.
pub const JOB_FAILURE_TARGET: &str = "FailureTarget";
/// The Job will succeed once its pods are gone.
pub const JOB_SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
