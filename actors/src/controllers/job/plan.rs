//! The Job controller's decisions, as a pure [`plan`] over a snapshot: the Job, the
//! pods it controls, whether its expectations are met, and the time. Kubernetes'
//! `syncJob`, in the order it decides:
//!
//! 1. **Accounting** (pod tracking with finalizers): a finished pod that still carries
//!    [`JOB_TRACKING_FINALIZER`] is first recorded by uid in
//!    `status.uncountedTerminatedPods` (written before anything else); once that status
//!    is stored its finalizer is removed; once the finalizer is gone (or the pod is) the
//!    uid moves into `succeeded`/`failed`. Each step is idempotent and conditional on
//!    the version read, so a restarted controller neither misses nor double-counts a
//!    pod. Indexed Jobs add a succeeded pod's index to `completedIndexes` (a set) when
//!    they first record it.
//! 2. **Failure** (checked before success): a `FailJob` pod failure policy rule, more
//!    failures than `backoffLimit` (or, with `restartPolicy: OnFailure`, as many
//!    container restarts), `activeDeadlineSeconds` passed, too many failed indexes.
//!    **Success**: a success policy rule met, or the completions reached. Either adds
//!    the interim condition (`FailureTarget` / `SuccessCriteriaMet`) and deletes the
//!    remaining active pods; the terminal condition (`Failed` / `Complete`, with
//!    `completionTime`) follows once no pod is running or uncounted, as Kubernetes
//!    1.31+ does.
//! 3. **Suspension**: a suspended Job deletes its active pods and says `Suspended`; on
//!    resume the condition turns False and `startTime` restarts the deadline.
//! 4. **Pods**: NonIndexed Jobs keep `min(parallelism, completions - succeeded)` pods
//!    active; Indexed Jobs keep one pod per missing index (lowest first, at most
//!    `parallelism`), deleting duplicates and pods of finished indexes. Replacements of
//!    failed pods wait out the exponential back-off ([`backoff_delay`]); with
//!    `backoffLimitPerIndex`, per index, counted in each pod's
//!    [`INDEX_FAILURE_COUNT`] annotation.
//!
//! Pods the controller deletes lose their finalizer first, so they are never counted
//! (Kubernetes' `deleteJobPods`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rudder_protocol::resources::{
    ConditionStatus, EnvVar, EnvVarSource, Event, Job, JobCondition, JobStatus,
    ObjectFieldSelector, Pod, PodFailurePolicyAction, PodFailurePolicyOnExitCodesOperator,
    PodPhase, PodReplacementPolicy, Resource, RestartPolicy, Time, UncountedTerminatedPods,
    JOB_COMPLETE, JOB_COMPLETION_INDEX, JOB_COMPLETION_INDEX_ENV, JOB_FAILED, JOB_FAILURE_TARGET,
    JOB_SUCCESS_CRITERIA_MET, JOB_SUSPENDED, JOB_TRACKING_FINALIZER,
};

use super::indexes;
use crate::controllers::pods;

/// The annotation with how many times a pod's index failed before it (per-index
/// back-off).
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// The first back-off after a failed pod (Kubernetes' `DefaultJobPodFailureBackOff`).
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The longest back-off (Kubernetes' `MaxJobPodFailureBackOff`).
pub const BACKOFF_MAX: Duration = Duration::from_secs(600);
/// The most pods created or deleted in one sync.
pub const BURST: usize = 500;

/// A pod the controller creates: its completion index (Indexed Jobs) and how many times
/// that index failed before (with `backoffLimitPerIndex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPod {
    /// The completion index.
    pub index: Option<i32>,
    /// The failures of the index so far.
    pub index_failures: Option<i32>,
}

/// A pod as an action names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// Its name.
    pub name: String,
    /// Its uid (a precondition of deletion).
    pub uid: String,
    /// Where the tracking finalizer is in its `metadata.finalizers`, if it is there.
    pub finalizer_at: Option<usize>,
}

impl PodRef {
    /// The reference to `pod`.
    pub fn of(pod: &Pod) -> PodRef {
        PodRef {
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            finalizer_at: pod
                .metadata
                .finalizers
                .iter()
                .position(|f| f == JOB_TRACKING_FINALIZER),
        }
    }
}

/// One step the applier takes, in the order of [`Plan::actions`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write this status (conditional on the Job's version): first, so that pods are
    /// recorded before their finalizers go.
    UpdateStatus(JobStatus),
    /// Remove the tracking finalizer of these pods (their result is in the stored
    /// status, or is never counted).
    RemoveFinalizers(Vec<PodRef>),
    /// Delete these pods (after removing their finalizer).
    Delete(Vec<PodRef>),
    /// Create these pods.
    Create(Vec<NewPod>),
    /// Record an Event on the Job.
    Event {
        /// `Normal` or `Warning`.
        type_: &'static str,
        /// Why, in one word.
        reason: String,
        /// Why, for people.
        message: String,
    },
}

/// What [`plan`] decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The steps, in order.
    pub actions: Vec<Action>,
    /// Look again after this long (a deadline or a back-off ends).
    pub requeue_after: Option<Duration>,
}

impl Plan {
    fn requeue(&mut self, d: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(d, |r| r.min(d)));
    }

    fn event(&mut self, type_: &'static str, reason: &str, message: &str) {
        self.actions.push(Action::Event {
            type_,
            reason: reason.to_owned(),
            message: message.to_owned(),
        });
    }
}

/// Whether the pod carries the Job's tracking finalizer.
pub fn is_tracked(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .any(|f| f == JOB_TRACKING_FINALIZER)
}

fn phase(pod: &Pod) -> Option<PodPhase> {
    pod.status.phase
}

fn is_succeeded(pod: &Pod) -> bool {
    phase(pod) == Some(PodPhase::Succeeded)
}

/// Kubernetes' `isPodFailed`: phase Failed, or (unless only failed pods are replaced)
/// deleted before it succeeded, which an orphaned pod may never report otherwise.
fn is_failed(pod: &Pod, job: &Job) -> bool {
    if phase(pod) == Some(PodPhase::Failed) {
        return true;
    }
    if job.spec.pod_replacement_policy == Some(PodReplacementPolicy::Failed) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && !is_succeeded(pod)
}

/// A failure that counts (for back-off): failed, and not ignored by the failure policy.
fn counted_failure(pod: &Pod, job: &Job) -> bool {
    is_failed(pod, job)
        && !matches!(
            match_failure_policy(job, pod),
            Some((PodFailurePolicyAction::Ignore, _))
        )
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && !matches!(phase(pod), Some(PodPhase::Succeeded | PodPhase::Failed))
}

/// The completion index of a pod of an Indexed Job (annotation, else label).
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let m = &pod.metadata;
    m.annotations
        .get(JOB_COMPLETION_INDEX)
        .or_else(|| m.labels.get(JOB_COMPLETION_INDEX))
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|i| *i >= 0)
}

fn index_failures(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .get(INDEX_FAILURE_COUNT)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// When the pod finished: its containers' latest finish, else its deletion.
fn finish_time(pod: &Pod) -> Option<Time> {
    pod.status
        .container_statuses
        .iter()
        .chain(&pod.status.init_container_statuses)
        .filter_map(|c| c.state.terminated.as_ref().and_then(|t| t.finished_at))
        .max()
        .or(pod.metadata.deletion_timestamp)
}

/// The back-off before the next pod after `failures` consecutive failures:
/// 10 s doubling, at most 10 min (zero without failures).
pub fn backoff_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << (failures - 1).min(16);
    BACKOFF_INITIAL.saturating_mul(factor).min(BACKOFF_MAX)
}

/// How long until the back-off after these failed pods (those that finished after the
/// last success) ends, if it has not.
fn backoff_left<'a>(
    failed: impl Iterator<Item = &'a Pod>,
    last_success: Option<Time>,
    now: Time,
) -> Option<Duration> {
    let times: Vec<Time> = failed
        .filter_map(finish_time)
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let last = times.iter().max()?;
    let delay = backoff_delay(u32::try_from(times.len()).unwrap_or(u32::MAX));
    let ends = last
        .0
        .saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX));
    (ends > now.0).then(|| Duration::from_secs(u64::try_from(ends - now.0).unwrap_or(0)))
}

/// The first pod failure policy rule matching a failed pod: its action, and the message
/// Kubernetes writes when that action fails the Job.
fn match_failure_policy(job: &Job, pod: &Pod) -> Option<(PodFailurePolicyAction, String)> {
    let policy = job.spec.pod_failure_policy.as_ref()?;
    if phase(pod) != Some(PodPhase::Failed) {
        return None;
    }
    let who = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
    for (i, rule) in policy.rules.iter().enumerate() {
        let action = rule.action?;
        let verb = action.as_str();
        if let Some(req) = &rule.on_exit_codes {
            let hit = pod
                .status
                .init_container_statuses
                .iter()
                .chain(&pod.status.container_statuses)
                .filter(|c| req.container_name.as_ref().is_none_or(|n| *n == c.name))
                .find_map(|c| {
                    let code = c.state.terminated.as_ref()?.exit_code;
                    let listed = req.values.contains(&code);
                    let matches = match req.operator? {
                        PodFailurePolicyOnExitCodesOperator::In => listed,
                        PodFailurePolicyOnExitCodesOperator::NotIn => !listed,
                    };
                    (code != 0 && matches).then(|| (c.name.clone(), code))
                });
            if let Some((container, code)) = hit {
                return Some((
                    action,
                    format!("Container {container} for pod {who} failed with exit code {code} matching {verb} rule at index {i}"),
                ));
            }
        }
        for pattern in &rule.on_pod_conditions {
            let want = pattern.status.unwrap_or(ConditionStatus::True);
            if pod
                .status
                .conditions
                .iter()
                .any(|c| c.type_ == pattern.type_ && c.status == want)
            {
                return Some((
                    action,
                    format!(
                        "Pod {who} has condition {} matching {verb} rule at index {i}",
                        pattern.type_
                    ),
                ));
            }
        }
    }
    None
}

fn condition(type_: &str, reason: &str, message: &str, now: Time) -> JobCondition {
    JobCondition {
        type_: type_.to_owned(),
        status: ConditionStatus::True,
        last_probe_time: Some(now),
        last_transition_time: Some(now),
        reason: reason.to_owned(),
        message: message.to_owned(),
    }
}

/// Sets a condition, keeping its transition time when the status does not change.
fn set_condition(status: &mut JobStatus, c: JobCondition) {
    match status.conditions.iter_mut().find(|x| x.type_ == c.type_) {
        Some(old) if old.status == c.status => {
            old.reason = c.reason;
            old.message = c.message;
        }
        Some(old) => *old = c,
        None => status.conditions.push(c),
    }
}

fn true_condition(job: &Job, type_: &str) -> Option<(String, String)> {
    job.condition(type_)
        .filter(|c| c.status == ConditionStatus::True)
        .map(|c| (c.reason.clone(), c.message.clone()))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Decides what to do for `job` given the pods it controls (`pods`: every pod whose
/// controller reference is the Job's uid), whether its expectations are met, and the
/// time.
pub fn plan(job: &Job, pods: &[&Pod], expectations_met: bool, now: Time) -> Plan {
    let mut plan = Plan::default();
    let spec = &job.spec;
    let indexed = job.is_indexed();
    let completions = spec.completions;
    let per_index = spec.backoff_limit_per_index;
    let finished = job.is_finished();
    let old = &job.status;
    let mut status = old.clone();
    let recorded = old.uncounted_terminated_pods.clone().unwrap_or_default();
    let mut uncounted = recorded.clone();
    let by_uid: HashMap<&str, &Pod> = pods.iter().map(|p| (p.metadata.uid.as_str(), *p)).collect();
    let bound = completions.unwrap_or(0);
    let mut completed = indexes::parse_lenient(&old.completed_indexes, bound);
    let mut failed_indexes =
        indexes::parse_lenient(old.failed_indexes.as_deref().unwrap_or(""), bound);
    let mut policy_failure: Option<String> = None;
    let mut release: Vec<PodRef> = Vec::new();

    // 1. Accounting.
    let mut ordered: Vec<&Pod> = pods.to_vec();
    ordered.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for pod in &ordered {
        if !is_tracked(pod) {
            continue;
        }
        let uid = pod.metadata.uid.as_str();
        let was_recorded =
            recorded.succeeded.iter().any(|u| u == uid) || recorded.failed.iter().any(|u| u == uid);
        let done = is_succeeded(pod) || is_failed(pod, job);
        if was_recorded || (finished && done) {
            // Counted in the stored status (or the Job's counts are final).
            release.push(PodRef::of(pod));
            continue;
        }
        if !done {
            continue;
        }
        if is_succeeded(pod) {
            uncounted.succeeded.push(uid.to_owned());
            if let Some(i) = completion_index(pod).filter(|i| indexed && *i < bound) {
                completed.insert(i);
            }
            continue;
        }
        let rule = match_failure_policy(job, pod);
        match rule {
            Some((PodFailurePolicyAction::Ignore, _)) => {
                release.push(PodRef::of(pod));
                continue;
            }
            Some((PodFailurePolicyAction::FailJob, message)) => {
                policy_failure.get_or_insert(message);
            }
            Some((PodFailurePolicyAction::FailIndex, _)) => {
                if let Some(i) = completion_index(pod).filter(|i| indexed && *i < bound) {
                    failed_indexes.insert(i);
                }
            }
            Some((PodFailurePolicyAction::Count, _)) | None => {
                if let (Some(limit), Some(i)) = (per_index, completion_index(pod)) {
                    if indexed && i < bound && index_failures(pod) >= limit {
                        failed_indexes.insert(i);
                    }
                }
            }
        }
        uncounted.failed.push(uid.to_owned());
    }
    let gone = |uid: &String| by_uid.get(uid.as_str()).is_none_or(|p| !is_tracked(p));
    let moved_ok = recorded.succeeded.iter().filter(|u| gone(u)).count();
    let moved_failed = recorded.failed.iter().filter(|u| gone(u)).count();
    uncounted
        .succeeded
        .retain(|u| !gone(u) || !recorded.succeeded.contains(u));
    uncounted
        .failed
        .retain(|u| !gone(u) || !recorded.failed.contains(u));
    status.failed = status.failed.saturating_add(count(moved_failed));
    if indexed {
        status.succeeded = count(completed.len());
        status.completed_indexes = indexes::format(&completed);
    } else {
        status.succeeded = status.succeeded.saturating_add(count(moved_ok));
    }
    if per_index.is_some() {
        status.failed_indexes = Some(indexes::format(&failed_indexes));
    }
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: uncounted.succeeded.clone(),
        failed: uncounted.failed.clone(),
    });
    let succeeded_total = if indexed {
        count(completed.len())
    } else {
        status
            .succeeded
            .saturating_add(count(uncounted.succeeded.len()))
    };
    let failed_total = status.failed.saturating_add(count(uncounted.failed.len()));

    let active: Vec<&Pod> = ordered
        .iter()
        .copied()
        .filter(|p| pods::is_active(p))
        .collect();
    let terminating = ordered.iter().filter(|p| is_terminating(p)).count();
    status.active = count(active.len());
    status.ready = Some(count(active.iter().filter(|p| p.is_ready()).count()));
    status.terminating = Some(count(terminating));

    if finished {
        finish(&mut plan, job, status, release, active);
        return plan;
    }

    // 2. Failure, then success.
    let mut failure = true_condition(job, JOB_FAILURE_TARGET);
    let mut success = true_condition(job, JOB_SUCCESS_CRITERIA_MET);
    if failure.is_none() && success.is_none() {
        failure = new_failure(
            job,
            policy_failure,
            failed_total,
            &active,
            &completed,
            &failed_indexes,
            now,
        );
        if let Some((reason, message)) = &failure {
            set_condition(
                &mut status,
                condition(JOB_FAILURE_TARGET, reason, message, now),
            );
        } else {
            success = new_success(job, succeeded_total, &active, &completed);
            if let Some((reason, message)) = &success {
                set_condition(
                    &mut status,
                    condition(JOB_SUCCESS_CRITERIA_MET, reason, message, now),
                );
            }
        }
    }
    if let Some((reason, message)) = failure.or(success.clone()) {
        let ok = success.is_some();
        let victims: Vec<PodRef> = active.iter().map(|p| PodRef::of(p)).collect();
        let settled = victims.is_empty() && terminating == 0 && uncounted_empty(&status);
        if settled {
            let (type_, kind) = if ok {
                (JOB_COMPLETE, Event::NORMAL)
            } else {
                (JOB_FAILED, Event::WARNING)
            };
            set_condition(&mut status, condition(type_, &reason, &message, now));
            if ok {
                status.completion_time = Some(now);
                plan.event(kind, "Completed", "Job completed");
            } else {
                plan.event(kind, &reason, &message);
            }
        }
        push_status(&mut plan, old, status);
        if !release.is_empty() {
            plan.actions.push(Action::RemoveFinalizers(release));
        }
        if !victims.is_empty() {
            plan.actions.push(Action::Delete(victims));
        }
        return plan;
    }

    // 3. Suspension.
    if spec.suspend == Some(true) {
        if !job.has_condition(JOB_SUSPENDED) {
            set_condition(
                &mut status,
                condition(JOB_SUSPENDED, "JobSuspended", "Job suspended", now),
            );
            plan.event(Event::NORMAL, "Suspended", "Job suspended");
        }
        let victims: Vec<PodRef> = active.iter().map(|p| PodRef::of(p)).collect();
        push_status(&mut plan, old, status);
        if !release.is_empty() {
            plan.actions.push(Action::RemoveFinalizers(release));
        }
        if !victims.is_empty() && expectations_met {
            plan.actions.push(Action::Delete(victims));
        }
        return plan;
    }
    if job.has_condition(JOB_SUSPENDED) {
        let mut c = condition(JOB_SUSPENDED, "JobResumed", "Job resumed", now);
        c.status = ConditionStatus::False;
        set_condition(&mut status, c);
        plan.event(Event::NORMAL, "Resumed", "Job resumed");
        // The deadline counts from the resumption.
        status.start_time = Some(now);
    }
    let start = *status.start_time.get_or_insert(now);
    if let Some(limit) = spec.active_deadline_seconds {
        let ends = start.0.saturating_add(limit);
        if ends > now.0 {
            plan.requeue(Duration::from_secs(
                u64::try_from(ends - now.0).unwrap_or(0),
            ));
        }
    }

    // 4. Pods.
    let (creates, deletes) = if !expectations_met {
        (Vec::new(), Vec::new())
    } else if indexed {
        manage_indexed(
            job,
            &ordered,
            &active,
            &completed,
            &failed_indexes,
            now,
            &mut plan,
        )
    } else {
        manage_plain(
            job,
            &ordered,
            &active,
            terminating,
            succeeded_total,
            now,
            &mut plan,
        )
    };
    push_status(&mut plan, old, status);
    if !release.is_empty() {
        plan.actions.push(Action::RemoveFinalizers(release));
    }
    if !deletes.is_empty() {
        plan.actions.push(Action::Delete(deletes));
    }
    if !creates.is_empty() {
        plan.actions.push(Action::Create(creates));
    }
    plan
}

fn uncounted_empty(status: &JobStatus) -> bool {
    status
        .uncounted_terminated_pods
        .as_ref()
        .is_none_or(|u| u.succeeded.is_empty() && u.failed.is_empty())
}

fn push_status(plan: &mut Plan, old: &JobStatus, status: JobStatus) {
    if &status != old {
        // Before every other step: see the module docs.
        plan.actions.insert(0, Action::UpdateStatus(status));
    }
}

/// A finished Job only lets its pods go (and stops any still active).
fn finish(plan: &mut Plan, job: &Job, status: JobStatus, release: Vec<PodRef>, active: Vec<&Pod>) {
    push_status(plan, &job.status, status);
    if !release.is_empty() {
        plan.actions.push(Action::RemoveFinalizers(release));
    }
    if !active.is_empty() {
        plan.actions.push(Action::Delete(
            active.iter().map(|p| PodRef::of(p)).collect(),
        ));
    }
}

/// Kubernetes' failure checks, in its order; the reason and message of the first hit.
fn new_failure(
    job: &Job,
    policy_failure: Option<String>,
    failed_total: i32,
    active: &[&Pod],
    completed: &BTreeSet<i32>,
    failed_indexes: &BTreeSet<i32>,
    now: Time,
) -> Option<(String, String)> {
    let spec = &job.spec;
    let pair = |r: &str, m: &str| Some((r.to_owned(), m.to_owned()));
    if let Some(message) = policy_failure {
        return Some(("PodFailurePolicy".to_owned(), message));
    }
    let limit = spec.backoff_limit.unwrap_or(6);
    let backoff = "Job has reached the specified backoff limit";
    if failed_total > limit {
        return pair("BackoffLimitExceeded", backoff);
    }
    if spec.template.spec.restart_policy == Some(RestartPolicy::OnFailure) {
        let restarts: i64 = active
            .iter()
            .flat_map(|p| {
                p.status
                    .init_container_statuses
                    .iter()
                    .chain(&p.status.container_statuses)
            })
            .map(|c| i64::from(c.restart_count))
            .sum();
        if (limit == 0 && restarts > 0) || (limit > 0 && restarts >= i64::from(limit)) {
            return pair("BackoffLimitExceeded", backoff);
        }
    }
    if let (Some(limit), Some(start)) = (spec.active_deadline_seconds, job.status.start_time) {
        if spec.suspend != Some(true) && start.0.saturating_add(limit) <= now.0 {
            return pair(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            );
        }
    }
    if spec.backoff_limit_per_index.is_some() {
        if let Some(max) = spec.max_failed_indexes {
            if count(failed_indexes.len()) > max {
                return pair(
                    "MaxFailedIndexesExceeded",
                    "Job has exceeded the specified maximal number of failed indexes",
                );
            }
        }
        let total = spec.completions.unwrap_or(0);
        if !failed_indexes.is_empty() && count(completed.len() + failed_indexes.len()) >= total {
            return pair("FailedIndexes", "Job has failed indexes");
        }
    }
    None
}

/// Whether the Job has succeeded: a success policy rule met, or its completions.
fn new_success(
    job: &Job,
    succeeded_total: i32,
    active: &[&Pod],
    completed: &BTreeSet<i32>,
) -> Option<(String, String)> {
    let spec = &job.spec;
    let total = spec.completions.unwrap_or(0);
    if let Some(policy) = &spec.success_policy {
        for (i, rule) in policy.rules.iter().enumerate() {
            let chosen: Option<BTreeSet<i32>> = rule
                .succeeded_indexes
                .as_deref()
                .map(|s| indexes::parse_lenient(s, total));
            let hits = match &chosen {
                Some(set) => set.intersection(completed).count(),
                None => completed.len(),
            };
            let met = match (rule.succeeded_count, &chosen) {
                (Some(n), _) => count(hits) >= n,
                (None, Some(set)) => hits == set.len(),
                (None, None) => false,
            };
            if met {
                return Some((
                    "SuccessPolicy".to_owned(),
                    format!("Matched rules at index {i}"),
                ));
            }
        }
    }
    let reached = match spec.completions {
        Some(c) if job.is_indexed() => count(completed.len()) >= c,
        Some(c) => succeeded_total >= c,
        // Any success completes the Job once the other pods are done.
        None => succeeded_total > 0 && active.is_empty(),
    };
    reached.then(|| {
        (
            "CompletionsReached".to_owned(),
            "Reached expected number of succeeded pods".to_owned(),
        )
    })
}

fn last_success(pods: &[&Pod]) -> Option<Time> {
    pods.iter()
        .filter(|p| is_succeeded(p))
        .filter_map(|p| finish_time(p))
        .max()
}

/// NonIndexed: keep `min(parallelism, completions - succeeded)` pods active.
fn manage_plain(
    job: &Job,
    pods: &[&Pod],
    active: &[&Pod],
    terminating: usize,
    succeeded: i32,
    now: Time,
    plan: &mut Plan,
) -> (Vec<NewPod>, Vec<PodRef>) {
    let spec = &job.spec;
    let parallelism = usize::try_from(spec.parallelism.unwrap_or(1).max(0)).unwrap_or(0);
    let want = match spec.completions {
        None if succeeded > 0 => active.len(),
        None => parallelism,
        Some(c) => usize::try_from(c.saturating_sub(succeeded).max(0))
            .unwrap_or(0)
            .min(parallelism),
    };
    if active.len() > want {
        let mut ranked = active.to_vec();
        ranked.sort_by(|a, b| pods::deletion_order(a, b));
        let victims = ranked
            .into_iter()
            .take((active.len() - want).min(BURST))
            .map(PodRef::of)
            .collect();
        return (Vec::new(), victims);
    }
    let occupied = active.len()
        + if spec.pod_replacement_policy == Some(PodReplacementPolicy::Failed) {
            terminating
        } else {
            0
        };
    if occupied >= want {
        return (Vec::new(), Vec::new());
    }
    let failed = pods.iter().copied().filter(|p| counted_failure(p, job));
    if let Some(wait) = backoff_left(failed, last_success(pods), now) {
        plan.requeue(wait);
        return (Vec::new(), Vec::new());
    }
    let n = (want - occupied).min(BURST);
    (
        vec![
            NewPod {
                index: None,
                index_failures: None,
            };
            n
        ],
        Vec::new(),
    )
}

/// Indexed: one active pod per index that is neither completed nor failed, lowest
/// first, at most `parallelism`.
fn manage_indexed(
    job: &Job,
    pods: &[&Pod],
    active: &[&Pod],
    completed: &BTreeSet<i32>,
    failed_indexes: &BTreeSet<i32>,
    now: Time,
    plan: &mut Plan,
) -> (Vec<NewPod>, Vec<PodRef>) {
    let spec = &job.spec;
    let total = spec.completions.unwrap_or(0);
    let parallelism = usize::try_from(spec.parallelism.unwrap_or(1).max(0)).unwrap_or(0);
    let mut deletes = Vec::new();
    let mut running: BTreeMap<i32, &Pod> = BTreeMap::new();
    let mut ranked = active.to_vec();
    // The pod kept for an index is the one that should go last.
    ranked.sort_by(|a, b| pods::deletion_order(b, a));
    for pod in ranked {
        match completion_index(pod) {
            Some(i)
                if i < total
                    && !completed.contains(&i)
                    && !failed_indexes.contains(&i)
                    && !running.contains_key(&i) =>
            {
                running.insert(i, pod);
            }
            _ => deletes.push(PodRef::of(pod)),
        }
    }
    // Above parallelism: the highest indexes go.
    while running.len() > parallelism {
        if let Some((_, pod)) = running.pop_last() {
            deletes.push(PodRef::of(pod));
        }
    }
    let occupied: BTreeSet<i32> = running
        .keys()
        .copied()
        .chain(
            pods.iter()
                .filter(|p| {
                    spec.pod_replacement_policy == Some(PodReplacementPolicy::Failed)
                        && is_terminating(p)
                })
                .filter_map(|p| completion_index(p)),
        )
        .collect();
    let room = parallelism.saturating_sub(occupied.len().max(running.len()));
    let per_index = spec.backoff_limit_per_index.is_some();
    let failed: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| counted_failure(p, job))
        .collect();
    if !per_index {
        if let Some(wait) = backoff_left(failed.iter().copied(), last_success(pods), now) {
            if room > 0 {
                plan.requeue(wait);
            }
            return (Vec::new(), deletes);
        }
    }
    let mut creates = Vec::new();
    for i in (0..total)
        .filter(|i| !completed.contains(i) && !failed_indexes.contains(i) && !occupied.contains(i))
    {
        if creates.len() >= room.min(BURST) {
            break;
        }
        let index_failures = if per_index {
            let of_index: Vec<&Pod> = failed
                .iter()
                .copied()
                .filter(|p| completion_index(p) == Some(i))
                .collect();
            if let Some(wait) = backoff_left(of_index.iter().copied(), None, now) {
                plan.requeue(wait);
                continue;
            }
            Some(
                of_index
                    .iter()
                    .map(|p| index_failures(p) + 1)
                    .max()
                    .unwrap_or(0),
            )
        } else {
            None
        };
        creates.push(NewPod {
            index: Some(i),
            index_failures,
        });
    }
    (creates, deletes)
}

/// The pod the controller creates for `job` (Kubernetes' pod template plus the Job's
/// additions): generateName `<job>-` (`<job>-<index>-` when Indexed), the tracking
/// finalizer, and for Indexed Jobs the index as annotation, label, hostname
/// `<job>-<index>` and the `JOB_COMPLETION_INDEX` variable of every container.
pub fn job_pod(job: &Job, new: &NewPod) -> Pod {
    let meta = &job.metadata;
    let prefix = match new.index {
        Some(i) => format!("{}-{i}-", meta.name),
        None => format!("{}-", meta.name),
    };
    let mut pod = pods::pod_from_template(
        &job.spec.template,
        &meta.namespace,
        &prefix,
        job.controller_ref(),
    );
    pod.metadata
        .finalizers
        .push(JOB_TRACKING_FINALIZER.to_owned());
    if let Some(i) = new.index {
        let index = i.to_string();
        pod.metadata
            .annotations
            .insert(JOB_COMPLETION_INDEX.to_owned(), index.clone());
        pod.metadata
            .labels
            .insert(JOB_COMPLETION_INDEX.to_owned(), index);
        if pod.spec.hostname.is_empty() {
            pod.spec.hostname = format!("{}-{i}", meta.name);
        }
        let var = EnvVar {
            name: JOB_COMPLETION_INDEX_ENV.to_owned(),
            value: String::new(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: "v1".to_owned(),
                    field_path: format!("metadata.annotations['{JOB_COMPLETION_INDEX}']"),
                }),
                ..Default::default()
            }),
        };
        for c in pod
            .spec
            .init_containers
            .iter_mut()
            .chain(pod.spec.containers.iter_mut())
        {
            if !c.env.iter().any(|e| e.name == JOB_COMPLETION_INDEX_ENV) {
                c.env.push(var.clone());
            }
        }
    }
    if let Some(n) = new.index_failures {
        pod.metadata
            .annotations
            .insert(INDEX_FAILURE_COUNT.to_owned(), n.to_string());
    }
    pod
}
