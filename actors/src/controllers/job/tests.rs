//! The Job plan as a table of named cases, and a deterministic simulation that runs the
//! plan against a world of pods, interrupting syncs at every step, to check that no
//! finished pod is missed or counted twice.

use std::collections::BTreeMap;

use rudder_protocol::resources::{
    CompletionMode, ConditionStatus, ContainerState, ContainerStateTerminated, ContainerStatus,
    Job, JobStatus, LabelSelector, Pod, PodFailurePolicy, PodFailurePolicyAction,
    PodFailurePolicyOnExitCodesOperator, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyRule, PodPhase, RestartPolicy, Time, UncountedTerminatedPods, JOB_COMPLETE,
    JOB_COMPLETION_INDEX, JOB_FAILED, JOB_FAILURE_TARGET, JOB_SUCCESS_CRITERIA_MET, JOB_SUSPENDED,
    JOB_TRACKING_FINALIZER,
};

use super::indexes;
use super::plan::{job_pod, plan, Action, NewPod, Plan, BACKOFF_INITIAL, INDEX_FAILURE_COUNT};

const NOW: i64 = 1_000_000;

fn job(completions: Option<i32>, parallelism: i32) -> Job {
    let mut j = Job::new("pi");
    j.metadata.namespace = "default".into();
    j.metadata.uid = "job-uid".into();
    j.spec.completions = completions;
    j.spec.parallelism = Some(parallelism);
    j.spec.backoff_limit = Some(6);
    j.spec.selector = Some(LabelSelector::default());
    j.spec.template.spec.restart_policy = Some(RestartPolicy::Never);
    j.spec.template.spec.containers = vec![rudder_protocol::resources::Container {
        name: "main".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    }];
    j.status.start_time = Some(Time(NOW - 5));
    j
}

fn indexed(completions: i32, parallelism: i32) -> Job {
    let mut j = job(Some(completions), parallelism);
    j.spec.completion_mode = Some(CompletionMode::Indexed);
    j
}

/// A pod of `job` in `phase`, with the tracking finalizer, created at `created`.
fn pod(job: &Job, name: &str, phase: PodPhase, index: Option<i32>) -> Pod {
    let mut p = job_pod(
        job,
        &NewPod {
            index,
            index_failures: None,
        },
    );
    p.metadata.name = name.into();
    p.metadata.uid = format!("uid-{name}");
    p.metadata.creation_timestamp = Some(Time(NOW - 100));
    p.status.phase = Some(phase);
    if matches!(phase, PodPhase::Succeeded | PodPhase::Failed) {
        let code = if phase == PodPhase::Succeeded { 0 } else { 1 };
        p.status.container_statuses = vec![exited("main", code, NOW - 1)];
    }
    p
}

fn exited(name: &str, code: i32, at: i64) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                finished_at: Some(Time(at)),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn untracked(mut p: Pod) -> Pod {
    p.metadata.finalizers.clear();
    p
}

fn recorded(j: &mut Job, succeeded: &[&str], failed: &[&str]) {
    j.status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: succeeded.iter().map(|s| format!("uid-{s}")).collect(),
        failed: failed.iter().map(|s| format!("uid-{s}")).collect(),
    });
}

fn status_of(plan: &Plan) -> Option<&JobStatus> {
    plan.actions.iter().find_map(|a| match a {
        Action::UpdateStatus(s) => Some(s),
        _ => None,
    })
}

fn creates(plan: &Plan) -> Vec<Option<i32>> {
    plan.actions
        .iter()
        .flat_map(|a| match a {
            Action::Create(n) => n.iter().map(|p| p.index).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn deletes(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .flat_map(|a| match a {
            Action::Delete(p) => p.iter().map(|p| p.name.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn released(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .flat_map(|a| match a {
            Action::RemoveFinalizers(p) => p.iter().map(|p| p.name.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn has(status: Option<&JobStatus>, type_: &str) -> Option<String> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == ConditionStatus::True)
        .map(|c| format!("{}: {}", c.reason, c.message))
}

fn run(j: &Job, pods: &[Pod]) -> Plan {
    let refs: Vec<&Pod> = pods.iter().collect();
    plan(j, &refs, true, Time(NOW))
}

#[test]
fn plan_table() {
    struct Case {
        name: &'static str,
        job: Job,
        pods: Vec<Pod>,
        creates: Vec<Option<i32>>,
        deletes: Vec<&'static str>,
        released: Vec<&'static str>,
        check: fn(&Plan),
    }
    let base = job(Some(5), 2);
    let mut failing = job(Some(5), 2);
    failing.spec.backoff_limit = Some(1);
    let mut suspended = job(Some(3), 2);
    suspended.spec.suspend = Some(true);
    let mut resumed = job(Some(3), 2);
    resumed
        .status
        .conditions
        .push(rudder_protocol::resources::JobCondition {
            type_: JOB_SUSPENDED.into(),
            status: ConditionStatus::True,
            reason: "JobSuspended".into(),
            ..Default::default()
        });
    let mut deadline = job(Some(3), 1);
    deadline.spec.active_deadline_seconds = Some(5);
    let mut policy = job(Some(3), 1);
    policy.spec.pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: Some(PodFailurePolicyAction::Ignore),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: None,
                    operator: Some(PodFailurePolicyOnExitCodesOperator::In),
                    values: vec![7],
                }),
                on_pod_conditions: Vec::new(),
            },
            PodFailurePolicyRule {
                action: Some(PodFailurePolicyAction::FailJob),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some("main".into()),
                    operator: Some(PodFailurePolicyOnExitCodesOperator::In),
                    values: vec![42],
                }),
                on_pod_conditions: Vec::new(),
            },
        ],
    });
    let exit = |j: &Job, name: &str, code: i32| {
        let mut p = pod(j, name, PodPhase::Failed, None);
        p.status.container_statuses = vec![exited("main", code, NOW - 1)];
        p
    };
    let mut per_index = indexed(3, 3);
    per_index.spec.backoff_limit_per_index = Some(1);
    per_index.spec.backoff_limit = Some(i32::MAX);
    let mut twice_failed = pod(&per_index, "pi-1-b", PodPhase::Failed, Some(1));
    twice_failed
        .metadata
        .annotations
        .insert(INDEX_FAILURE_COUNT.into(), "1".into());
    let mut once_failed = pod(&per_index, "pi-2-a", PodPhase::Failed, Some(2));
    once_failed.status.container_statuses = vec![exited("main", 1, NOW - 100)];

    let cases = vec![
        Case {
            name: "a new job starts parallelism pods and its clock",
            job: {
                let mut j = base.clone();
                j.status = JobStatus::default();
                j
            },
            pods: vec![],
            creates: vec![None, None],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p).expect("status");
                assert_eq!(s.start_time, Some(Time(NOW)));
                assert_eq!(s.active, 0);
            },
        },
        Case {
            name: "a succeeded pod is recorded before its finalizer goes",
            job: base.clone(),
            pods: vec![
                pod(&base, "a", PodPhase::Succeeded, None),
                pod(&base, "b", PodPhase::Running, None),
            ],
            creates: vec![None],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p).expect("status");
                let u = s.uncounted_terminated_pods.as_ref().expect("uncounted");
                assert_eq!(u.succeeded, vec!["uid-a".to_owned()]);
                assert_eq!(s.succeeded, 0, "not counted yet");
                assert_eq!(s.active, 1);
                assert!(
                    matches!(p.actions[0], Action::UpdateStatus(_)),
                    "status first"
                );
            },
        },
        Case {
            name: "a recorded pod loses its finalizer",
            job: {
                let mut j = base.clone();
                recorded(&mut j, &["a"], &[]);
                j
            },
            pods: vec![
                pod(&base, "a", PodPhase::Succeeded, None),
                pod(&base, "b", PodPhase::Running, None),
            ],
            creates: vec![None],
            deletes: vec![],
            released: vec!["a"],
            check: |p| {
                let s = status_of(p).map(|s| s.succeeded).unwrap_or(0);
                assert_eq!(s, 0, "counted only once the finalizer is gone");
            },
        },
        Case {
            name: "a released pod is counted and leaves the uncounted list",
            job: {
                let mut j = base.clone();
                recorded(&mut j, &["a"], &[]);
                j
            },
            pods: vec![
                untracked(pod(&base, "a", PodPhase::Succeeded, None)),
                pod(&base, "b", PodPhase::Running, None),
            ],
            creates: vec![None],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p).expect("status");
                assert_eq!(s.succeeded, 1);
                let u = s.uncounted_terminated_pods.as_ref().expect("uncounted");
                assert!(u.succeeded.is_empty());
            },
        },
        Case {
            name: "a pod that is gone is counted too",
            job: {
                let mut j = base.clone();
                recorded(&mut j, &[], &["x"]);
                j.status.failed = 2;
                j
            },
            pods: vec![],
            creates: vec![None, None],
            deletes: vec![],
            released: vec![],
            check: |p| assert_eq!(status_of(p).expect("status").failed, 3),
        },
        Case {
            name: "more failures than backoffLimit: FailureTarget, active pods deleted",
            job: {
                let mut j = failing.clone();
                j.status.failed = 1;
                j
            },
            pods: vec![
                pod(&failing, "f", PodPhase::Failed, None),
                pod(&failing, "r", PodPhase::Running, None),
            ],
            creates: vec![],
            deletes: vec!["r"],
            released: vec![],
            check: |p| {
                let s = status_of(p);
                assert_eq!(
                    has(s, JOB_FAILURE_TARGET).as_deref(),
                    Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
                );
                assert!(has(s, JOB_FAILED).is_none(), "not while a pod runs");
            },
        },
        Case {
            name: "FailureTarget and nothing left: Failed",
            job: {
                let mut j = failing.clone();
                j.status.failed = 2;
                j.status
                    .conditions
                    .push(rudder_protocol::resources::JobCondition {
                        type_: JOB_FAILURE_TARGET.into(),
                        status: ConditionStatus::True,
                        reason: "BackoffLimitExceeded".into(),
                        message: "Job has reached the specified backoff limit".into(),
                        ..Default::default()
                    });
                j
            },
            pods: vec![untracked(pod(&failing, "f", PodPhase::Failed, None))],
            creates: vec![],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p);
                assert!(has(s, JOB_FAILED).is_some_and(|c| c.starts_with("BackoffLimitExceeded")));
                assert!(
                    s.expect("status").completion_time.is_none(),
                    "only on success"
                );
                assert!(p.actions.iter().any(|a| matches!(a,
                    Action::Event { reason, .. } if reason == "BackoffLimitExceeded")));
            },
        },
        Case {
            name: "the last completion: SuccessCriteriaMet, then Complete at once when settled",
            job: {
                let mut j = base.clone();
                j.status.succeeded = 4;
                recorded(&mut j, &["e"], &[]);
                j
            },
            pods: vec![untracked(pod(&base, "e", PodPhase::Succeeded, None))],
            creates: vec![],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p);
                assert_eq!(
                    has(s, JOB_SUCCESS_CRITERIA_MET).as_deref(),
                    Some("CompletionsReached: Reached expected number of succeeded pods")
                );
                assert!(has(s, JOB_COMPLETE).is_some());
                assert_eq!(s.expect("status").completion_time, Some(Time(NOW)));
                assert_eq!(s.expect("status").succeeded, 5);
            },
        },
        Case {
            name:
                "completions reached while a recorded pod still has its finalizer: not Complete yet",
            job: {
                let mut j = base.clone();
                j.status.succeeded = 4;
                recorded(&mut j, &["e"], &[]);
                j
            },
            pods: vec![pod(&base, "e", PodPhase::Succeeded, None)],
            creates: vec![],
            deletes: vec![],
            released: vec!["e"],
            check: |p| {
                let s = status_of(p);
                assert!(has(s, JOB_SUCCESS_CRITERIA_MET).is_some());
                assert!(has(s, JOB_COMPLETE).is_none());
            },
        },
        Case {
            name: "suspended: active pods deleted, Suspended condition and event",
            job: suspended.clone(),
            pods: vec![pod(&suspended, "r", PodPhase::Running, None)],
            creates: vec![],
            deletes: vec!["r"],
            released: vec![],
            check: |p| {
                assert_eq!(
                    has(status_of(p), JOB_SUSPENDED).as_deref(),
                    Some("JobSuspended: Job suspended")
                );
            },
        },
        Case {
            name: "resumed: the condition turns False, the clock restarts, pods come back",
            job: resumed.clone(),
            pods: vec![],
            creates: vec![None, None],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p).expect("status");
                let c = s
                    .conditions
                    .iter()
                    .find(|c| c.type_ == JOB_SUSPENDED)
                    .expect("kept");
                assert_eq!(c.status, ConditionStatus::False);
                assert_eq!(c.reason, "JobResumed");
                assert_eq!(s.start_time, Some(Time(NOW)));
            },
        },
        Case {
            name: "past activeDeadlineSeconds: DeadlineExceeded",
            job: deadline.clone(),
            pods: vec![pod(&deadline, "r", PodPhase::Running, None)],
            creates: vec![],
            deletes: vec!["r"],
            released: vec![],
            check: |p| {
                assert_eq!(
                    has(status_of(p), JOB_FAILURE_TARGET).as_deref(),
                    Some("DeadlineExceeded: Job was active longer than specified deadline")
                );
            },
        },
        Case {
            name: "a failure right now waits out the back-off before its replacement",
            job: base.clone(),
            pods: vec![pod(&base, "f", PodPhase::Failed, None)],
            creates: vec![],
            deletes: vec![],
            released: vec![],
            check: |p| {
                assert_eq!(
                    p.requeue_after,
                    Some(BACKOFF_INITIAL - std::time::Duration::from_secs(1))
                );
            },
        },
        Case {
            name: "exit code 42 matches the FailJob rule",
            job: policy.clone(),
            pods: vec![exit(&policy, "f", 42)],
            creates: vec![],
            deletes: vec![],
            released: vec![],
            check: |p| {
                assert_eq!(
                    has(status_of(p), JOB_FAILURE_TARGET).as_deref(),
                    Some("PodFailurePolicy: Container main for pod default/f failed with exit code 42 matching FailJob rule at index 1")
                );
            },
        },
        Case {
            name: "exit code 7 is ignored: released without counting, replaced at once",
            job: policy.clone(),
            pods: vec![exit(&policy, "f", 7)],
            creates: vec![None],
            deletes: vec![],
            released: vec!["f"],
            check: |p| {
                let s = status_of(p).expect("status");
                assert!(s
                    .uncounted_terminated_pods
                    .as_ref()
                    .is_some_and(|u| u.failed.is_empty()));
                assert_eq!(s.failed, 0);
            },
        },
        Case {
            name: "indexed: the lowest missing indexes, up to parallelism",
            job: indexed(5, 2),
            pods: vec![pod(&indexed(5, 2), "pi-0-a", PodPhase::Running, Some(0))],
            creates: vec![Some(1)],
            deletes: vec![],
            released: vec![],
            check: |_| {},
        },
        Case {
            name: "indexed: a second pod for one index and a pod out of range are deleted",
            job: indexed(3, 3),
            pods: vec![
                pod(&indexed(3, 3), "pi-0-a", PodPhase::Running, Some(0)),
                pod(&indexed(3, 3), "pi-0-b", PodPhase::Pending, Some(0)),
                pod(&indexed(3, 3), "pi-7-a", PodPhase::Running, Some(7)),
            ],
            creates: vec![Some(1), Some(2)],
            deletes: vec!["pi-0-b", "pi-7-a"],
            released: vec![],
            check: |_| {},
        },
        Case {
            name: "indexed: a succeeded index is completed at once, counted by index",
            job: indexed(3, 1),
            pods: vec![pod(&indexed(3, 1), "pi-0-a", PodPhase::Succeeded, Some(0))],
            creates: vec![Some(1)],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p).expect("status");
                assert_eq!(s.completed_indexes, "0");
                assert_eq!(s.succeeded, 1);
            },
        },
        Case {
            name: "per-index: an index past its limit fails, another retries with its count",
            job: per_index.clone(),
            pods: vec![
                pod(&per_index, "pi-0-a", PodPhase::Running, Some(0)),
                twice_failed,
                once_failed,
            ],
            creates: vec![Some(2)],
            deletes: vec![],
            released: vec![],
            check: |p| {
                let s = status_of(p).expect("status");
                assert_eq!(s.failed_indexes.as_deref(), Some("1"));
                let counts: Vec<Option<i32>> = p
                    .actions
                    .iter()
                    .flat_map(|a| match a {
                        Action::Create(n) => n.iter().map(|n| n.index_failures).collect(),
                        _ => vec![],
                    })
                    .collect();
                assert_eq!(counts, vec![Some(1)]);
            },
        },
    ];
    for case in cases {
        let plan = run(&case.job, &case.pods);
        assert_eq!(creates(&plan), case.creates, "{}: creates", case.name);
        let mut d = deletes(&plan);
        d.sort();
        assert_eq!(d, case.deletes, "{}: deletes", case.name);
        assert_eq!(released(&plan), case.released, "{}: released", case.name);
        (case.check)(&plan);
    }
}

#[test]
fn indexed_pods_carry_their_index() {
    let j = indexed(3, 1);
    let p = job_pod(
        &j,
        &NewPod {
            index: Some(2),
            index_failures: Some(1),
        },
    );
    assert_eq!(p.metadata.generate_name, "pi-2-");
    assert_eq!(p.metadata.annotations[JOB_COMPLETION_INDEX], "2");
    assert_eq!(p.metadata.labels[JOB_COMPLETION_INDEX], "2");
    assert_eq!(p.metadata.annotations[INDEX_FAILURE_COUNT], "1");
    assert_eq!(p.spec.hostname, "pi-2");
    assert_eq!(
        p.metadata.finalizers,
        vec![JOB_TRACKING_FINALIZER.to_owned()]
    );
    let env = &p.spec.containers[0].env;
    assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    let field = env[0]
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("downward API");
    assert_eq!(
        field.field_path,
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert_eq!(
        p.metadata.owner_references[0].uid, "job-uid",
        "controlled by the Job"
    );
}

/// A small world: the Job as stored, its pods, and a clock. Each step runs the plan and
/// applies its actions in order, but stops after `cut` actions (a controller killed
/// mid-sync), then lets every running pod finish: index 1's first attempt fails, the
/// rest succeed.
struct World {
    job: Job,
    pods: BTreeMap<String, Pod>,
    made: usize,
    now: i64,
    ever_succeeded: Vec<(String, Option<i32>)>,
}

impl World {
    fn new(job: Job) -> Self {
        World {
            job,
            pods: BTreeMap::new(),
            made: 0,
            now: NOW,
            ever_succeeded: Vec::new(),
        }
    }

    fn step(&mut self, cut: usize) {
        let refs: Vec<&Pod> = self.pods.values().collect();
        let plan = plan(&self.job, &refs, true, Time(self.now));
        for action in plan.actions.into_iter().take(cut) {
            match action {
                Action::UpdateStatus(s) => self.job.status = s,
                Action::RemoveFinalizers(ps) => {
                    for p in ps {
                        if let Some(pod) = self.pods.get_mut(&p.name) {
                            pod.metadata
                                .finalizers
                                .retain(|f| f != JOB_TRACKING_FINALIZER);
                        }
                    }
                }
                Action::Delete(ps) => {
                    for p in ps {
                        self.pods.remove(&p.name);
                    }
                }
                Action::Create(new) => {
                    for n in new {
                        let mut pod = job_pod(&self.job, &n);
                        self.made += 1;
                        pod.metadata.name = format!("{}{}", pod.metadata.generate_name, self.made);
                        pod.metadata.uid = format!("uid-{}", self.made);
                        pod.metadata.creation_timestamp = Some(Time(self.now));
                        pod.status.phase = Some(PodPhase::Pending);
                        self.pods.insert(pod.metadata.name.clone(), pod);
                    }
                }
                Action::Event { .. } => {}
            }
        }
        self.now += 30;
        let mut attempts_of_one = self
            .pods
            .values()
            .filter(|p| super::plan::completion_index(p) == Some(1))
            .count();
        for pod in self.pods.values_mut() {
            if pod.status.phase != Some(PodPhase::Pending) {
                continue;
            }
            let index = super::plan::completion_index(pod);
            let fail = index == Some(1) && attempts_of_one == 1;
            if index == Some(1) {
                attempts_of_one += 1;
            }
            let (phase, code) = if fail {
                (PodPhase::Failed, 1)
            } else {
                self.ever_succeeded.push((pod.metadata.name.clone(), index));
                (PodPhase::Succeeded, 0)
            };
            pod.status.phase = Some(phase);
            pod.status.container_statuses = vec![exited("main", code, self.now)];
        }
    }
}

#[test]
fn interrupted_syncs_count_every_pod_once() {
    // Each cut stops every sync after that many actions; a cut of 1 keeps only the
    // first (the status write) each time, the hardest order for the tracking.
    for cut in 1..=5 {
        let mut j = indexed(5, 2);
        j.status = JobStatus::default();
        let mut world = World::new(j);
        for _ in 0..200 {
            if world.job.is_finished() {
                break;
            }
            world.step(cut);
        }
        let s = &world.job.status;
        assert!(
            world.job.has_condition(JOB_COMPLETE),
            "cut {cut}: completes: {s:?}"
        );
        assert_eq!(s.completed_indexes, "0-4", "cut {cut}");
        assert_eq!(s.succeeded, 5, "cut {cut}");
        assert_eq!(s.failed, 1, "cut {cut}: index 1's first attempt, once");
        assert!(
            s.uncounted_terminated_pods
                .as_ref()
                .is_none_or(|u| u.succeeded.is_empty() && u.failed.is_empty()),
            "cut {cut}: nothing left uncounted"
        );
        // No index ran twice successfully: the plan never doubles an index.
        let mut seen: Vec<i32> = world
            .ever_succeeded
            .iter()
            .filter_map(|(_, i)| *i)
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![0, 1, 2, 3, 4],
            "cut {cut}: each index succeeded once"
        );
        assert!(
            world.pods.values().all(|p| !super::plan::is_tracked(p)),
            "cut {cut}: every finalizer removed"
        );
    }
    // NonIndexed, the same check on plain counts.
    for cut in 1..=4 {
        let mut j = job(Some(4), 3);
        j.status = JobStatus::default();
        let mut world = World::new(j);
        for _ in 0..200 {
            if world.job.is_finished() {
                break;
            }
            world.step(cut);
        }
        let s = &world.job.status;
        assert!(
            world.job.has_condition(JOB_COMPLETE),
            "plain cut {cut}: {s:?}"
        );
        assert_eq!(
            usize::try_from(s.succeeded).unwrap_or(0),
            world.ever_succeeded.len(),
            "plain cut {cut}: every success counted once"
        );
        assert!(s.succeeded >= 4, "plain cut {cut}");
    }
    assert_eq!(indexes::format(&[0, 1].into_iter().collect()), "0,1");
}
