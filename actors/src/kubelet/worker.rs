//! The pod worker: one task per pod bound to this node, driving its containers towards
//! the pod's spec and reporting what it sees.
//!
//! Each round is level-triggered: observe the pod's containers in the runtime (found by
//! the pod-uid label, so a restarted kubelet adopts what is running), decide in pure
//! functions, apply, report:
//!
//! - [`container_step`] is the container state machine, one `match` on what the runtime
//!   shows: never created → `Start`; image pull failed → `PullBackOff`; running →
//!   `Running` (probes); exited → restart per `restartPolicy` now or after the crash-loop
//!   back-off (`CrashLoopBackOff`), or `Finished`.
//! - [`plan`] adds the pod level (sandbox missing or dead, pod deleted) and turns steps
//!   into [`Action`]s plus the instant to look again. Back-off is a value in
//!   [`Memory`], never a sleep inside a state.
//! - [`compute_status`] derives phase, conditions and container statuses from the same
//!   observation.
//!
//! Nothing is retried without a back-off ([`crate::retry`] states the rules):
//!
//! | failure | back-off | status, event |
//! |---|---|---|
//! | sandbox creation (image missing, create or start refused) | per pod, [`START_BACKOFF_INITIAL`] doubling to [`START_BACKOFF_MAX`] | `CreatePodSandboxError`, `FailedCreatePodSandBox` |
//! | a sandbox that died young, replaced | the same back-off, reset after [`SANDBOX_BACKOFF_RESET`] of running | |
//! | container create or start refused | per container, the same values | `CreateContainerError`, `RunContainerError`, `CreateContainerConfigError` |
//! | image pull | per container, [`PULL_BACKOFF_INITIAL`] doubling to [`PULL_BACKOFF_MAX`] | `ImagePullBackOff` |
//! | container exits | crash loop, [`CRASH_BACKOFF_INITIAL`] doubling to [`CRASH_BACKOFF_MAX`] | `CrashLoopBackOff` |
//! | runtime unreachable, stop or remove refused, status write refused | the worker's rounds, [`ROUND_RETRY`] | |
//!
//! Kubernetes reports a sandbox failure only as the `FailedCreatePodSandBox` event and
//! leaves the containers `ContainerCreating`; here the containers wait with reason
//! `CreatePodSandboxError` (the kubelet's own name for the failure, its
//! `ErrCreatePodSandbox`) and the event's message, so `kubectl get pods` shows why.
//! Warnings a worker logs about a failure that repeats are limited to one line per
//! failure every [`crate::retry::LOG_EVERY`].
//!
//! A round ends by waiting for the earliest of: a new version of the pod, a runtime
//! event for it (container died), the plan's wake-up time, or the relist period. What
//! the worker keeps in [`Memory`] (back-off delays, probe results) is soft state: losing
//! it on restart only resets back-offs, as in Kubernetes.
//!
//! Not done: init containers, volumes, ephemeral containers, pod-level resource limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rudder_protocol::resources::{
    ConditionStatus, Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIp, Pod, PodCondition, PodIp, PodPhase, PodStatus,
    PullPolicy, RestartPolicy, Time,
};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::retry::{LogLimiter, Retry};

use super::images::SandboxImage;
use super::probe::{self, ProbeKind, ProbeState, Timing, Verdict};
use super::runtime::{
    labels, ContainerInfo, ContainerRuntime, ContainerSpec, Mount, MountSource, RunState,
    RuntimeError, SandboxSpec, VolumeSpec,
};

/// First crash-loop back-off delay.
pub const CRASH_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Crash-loop back-off ceiling.
pub const CRASH_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long resets its crash-loop back-off.
pub const CRASH_BACKOFF_RESET: Duration = Duration::from_secs(600);
/// First image pull back-off delay.
pub const PULL_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Image pull back-off ceiling.
pub const PULL_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// First back-off delay after a failed sandbox creation or container start.
pub const START_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Ceiling of the sandbox and container start back-off (Kubernetes' pod start back-off
/// ceiling, `MaxContainerBackOff`).
pub const START_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A sandbox that ran this long resets its pod's sandbox back-off.
pub const SANDBOX_BACKOFF_RESET: Duration = Duration::from_secs(600);
/// Safety net: a worker looks at its pod at least this often.
pub const RESYNC: Duration = Duration::from_secs(10);
/// The waiting reason of containers whose pod has no sandbox for a failure (the
/// kubelet's `ErrCreatePodSandbox`).
pub const SANDBOX_ERROR_REASON: &str = "CreatePodSandboxError";
/// What the log calls a failed status write.
const STATUS_FAILED: &str = "pod status update failed";
/// What the log calls a failed sandbox creation.
const SANDBOX_FAILED: &str = "pod sandbox creation failed; backing off";
/// Rounds after a failed runtime call or status write: 1 s doubling to [`RESYNC`].
pub const ROUND_RETRY: Retry = Retry::new(Duration::from_secs(1), RESYNC);
/// Grace period when the pod says nothing.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// A back-off as a value: the current delay and the instant before which nothing is
/// tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay that was applied last.
    pub delay: Duration,
    /// No retry before this.
    pub not_before: Instant,
}

impl Backoff {
    /// The back-off after one more failure at `now`: `initial` the first time, then
    /// doubling up to `max`.
    pub fn next(prev: Option<&Backoff>, now: Instant, initial: Duration, max: Duration) -> Backoff {
        let delay = match prev {
            None => initial,
            Some(b) if b.delay.is_zero() => initial,
            Some(b) => (b.delay * 2).min(max),
        };
        Backoff {
            delay,
            not_before: now + delay,
        }
    }
}

/// What the worker remembers between rounds (soft state; see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// When the kubelet first saw the pod.
    pub start_time: Option<Time>,
    /// Image pull back-off per container name, with the last error.
    pub pulls: BTreeMap<String, (Backoff, String)>,
    /// Crash-loop back-off delay per container name (zero: restart at once).
    pub crash_delay: BTreeMap<String, Duration>,
    /// When each container id was first seen exited.
    pub exit_seen: BTreeMap<String, Instant>,
    /// When each container id was first seen running.
    pub running_seen: BTreeMap<String, Instant>,
    /// Probe state per container id and kind.
    pub probes: BTreeMap<(String, ProbeKind), ProbeState>,
    /// A waiting reason and message per container name (create errors and the like).
    pub errors: BTreeMap<String, (String, String)>,
    /// Start back-off per container name, after a create or start the runtime refused.
    pub starts: BTreeMap<String, Backoff>,
    /// The pod's sandbox back-off: after a failed creation, or the replacement of a
    /// sandbox that died before [`SANDBOX_BACKOFF_RESET`].
    pub sandbox: Option<Backoff>,
    /// Why the last sandbox creation failed; cleared when one starts.
    pub sandbox_error: Option<String>,
    /// [`SandboxImage::appeared`] when the last sandbox creation failed.
    pub sandbox_image_seen: u64,
    /// The pod IP once known, kept when the sandbox goes away.
    pub pod_ip: Option<String>,
}

/// What the runtime shows of one pod, grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The pod's sandboxes, oldest attempt first; the last one is current.
    pub sandboxes: Vec<ContainerInfo>,
    /// Application containers by container name, oldest attempt first.
    pub containers: BTreeMap<String, Vec<ContainerInfo>>,
}

impl Observed {
    /// Groups containers of one pod.
    pub fn from_containers(all: Vec<ContainerInfo>) -> Observed {
        let mut o = Observed::default();
        for c in all {
            if c.is_sandbox() {
                o.sandboxes.push(c);
            } else {
                let name = c.label(labels::CONTAINER_NAME).to_owned();
                o.containers.entry(name).or_default().push(c);
            }
        }
        o.sandboxes.sort_by_key(ContainerInfo::attempt);
        for v in o.containers.values_mut() {
            v.sort_by_key(ContainerInfo::attempt);
        }
        o
    }

    /// The current sandbox.
    pub fn sandbox(&self) -> Option<&ContainerInfo> {
        self.sandboxes.last()
    }

    /// The latest attempt of a container.
    pub fn latest(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.get(name).and_then(|v| v.last())
    }

    /// The attempt before the latest.
    pub fn previous(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers
            .get(name)
            .and_then(|v| v.len().checked_sub(2).map(|i| &v[i]))
    }

    /// Every container of the pod, sandboxes last.
    pub fn all(&self) -> impl Iterator<Item = &ContainerInfo> {
        self.containers
            .values()
            .flatten()
            .chain(self.sandboxes.iter())
    }

    /// True when the runtime holds nothing of the pod.
    pub fn is_empty(&self) -> bool {
        self.sandboxes.is_empty() && self.containers.values().all(Vec::is_empty)
    }
}

/// The state of one container, as decided from observation and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerStep {
    /// Create and start attempt `attempt`.
    Start {
        /// The attempt number (0 for the first).
        attempt: u32,
    },
    /// Created but never started (a start that failed, or a kubelet killed in between):
    /// remove it so that the attempt can be made again.
    Discard {
        /// The container.
        id: String,
    },
    /// The image could not be pulled; try again at `until`.
    PullBackOff {
        /// Next try.
        until: Instant,
    },
    /// The runtime refused to create or start it; try again at `until`.
    StartBackOff {
        /// Next try.
        until: Instant,
    },
    /// Running; probes apply.
    Running {
        /// The container.
        id: String,
    },
    /// Exited and to be restarted at `until`.
    CrashLoopBackOff {
        /// Restart time.
        until: Instant,
    },
    /// Exited and not to be restarted.
    Finished,
}

/// Whether `policy` restarts a container that exited with `exit_code`.
pub fn restarts(policy: RestartPolicy, exit_code: i64) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}

/// The container state machine (see the module docs).
pub fn container_step(
    name: &str,
    policy: RestartPolicy,
    history: &[ContainerInfo],
    memory: &Memory,
    now: Instant,
) -> ContainerStep {
    // A failed pull or start holds every new attempt until its back-off has passed.
    let held = || {
        if let Some((b, _)) = memory.pulls.get(name).filter(|(b, _)| now < b.not_before) {
            return Some(ContainerStep::PullBackOff {
                until: b.not_before,
            });
        }
        memory
            .starts
            .get(name)
            .filter(|b| now < b.not_before)
            .map(|b| ContainerStep::StartBackOff {
                until: b.not_before,
            })
    };
    let Some(latest) = history.last() else {
        return held().unwrap_or(ContainerStep::Start { attempt: 0 });
    };
    match latest.state {
        RunState::Created => ContainerStep::Discard {
            id: latest.id.clone(),
        },
        RunState::Running => ContainerStep::Running {
            id: latest.id.clone(),
        },
        RunState::Exited if !restarts(policy, latest.exit_code) => ContainerStep::Finished,
        RunState::Exited => {
            if let Some(step) = held() {
                return step;
            }
            let delay = memory.crash_delay.get(name).copied().unwrap_or_default();
            let seen = memory.exit_seen.get(&latest.id).copied().unwrap_or(now);
            let until = seen + delay;
            if now < until {
                ContainerStep::CrashLoopBackOff { until }
            } else {
                ContainerStep::Start {
                    attempt: latest.attempt() + 1,
                }
            }
        }
    }
}

/// One thing the worker does to the runtime or the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create and start sandbox attempt `attempt` (after the network is in place).
    CreateSandbox {
        /// The attempt number.
        attempt: u32,
    },
    /// Pull if the policy asks, then create and start a container.
    StartContainer {
        /// The container's name in the spec.
        name: String,
        /// The attempt number.
        attempt: u32,
    },
    /// Stop a container (SIGTERM, then SIGKILL after `grace`).
    KillContainer {
        /// The container.
        id: String,
        /// Its name in the spec (empty for a sandbox).
        name: String,
        /// Grace period.
        grace: Duration,
        /// Why, for the Killing event.
        reason: String,
    },
    /// Remove a container.
    RemoveContainer {
        /// The container.
        id: String,
    },
    /// Run a probe check.
    Probe {
        /// The container.
        id: String,
        /// Its name in the spec.
        name: String,
        /// Which probe.
        kind: ProbeKind,
    },
    /// The pod is being deleted: stop everything within `grace`, then remove it all.
    Terminate {
        /// Grace period for the application containers.
        grace: Duration,
    },
    /// Everything is gone: finish the API deletion (grace period 0).
    FinishDeletion,
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// When to look again at the latest (besides events).
    pub wake_at: Option<Instant>,
    /// Nothing is left to do: the pod is gone and so are its containers.
    pub done: bool,
}

/// The grace period for deleting `pod`.
pub fn grace_period(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or(pod.spec.termination_grace_period_seconds);
    secs.map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(DEFAULT_GRACE)
}

fn probe_of(c: &Container, kind: ProbeKind) -> Option<&rudder_protocol::resources::Probe> {
    match kind {
        ProbeKind::Startup => c.startup_probe.as_ref(),
        ProbeKind::Liveness => c.liveness_probe.as_ref(),
        ProbeKind::Readiness => c.readiness_probe.as_ref(),
    }
}

/// Whether a running container's startup probe (if any) has succeeded.
fn started(c: &Container, id: &str, memory: &Memory) -> bool {
    c.startup_probe.is_none()
        || memory
            .probes
            .get(&(id.to_owned(), ProbeKind::Startup))
            .is_some_and(|p| p.verdict == Verdict::Success)
}

/// How far a pod's init containers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitProgress {
    /// Every init container exited successfully (or there are none).
    Done,
    /// The init container at this index is the one to run, or is running.
    At(usize),
    /// The init container at this index failed and the pod does not restart: the pod
    /// has failed.
    Failed(usize),
}

/// Init containers restart on failure unless the pod never restarts anything.
fn init_policy(policy: RestartPolicy) -> RestartPolicy {
    match policy {
        RestartPolicy::Never => RestartPolicy::Never,
        RestartPolicy::Always | RestartPolicy::OnFailure => RestartPolicy::OnFailure,
    }
}

/// Where the init containers of `pod` stand, from what the runtime shows.
pub fn init_progress(pod: &Pod, observed: &Observed) -> InitProgress {
    let policy = init_policy(pod.spec.restart_policy.unwrap_or(RestartPolicy::Always));
    for (i, c) in pod.spec.init_containers.iter().enumerate() {
        match observed.latest(&c.name) {
            Some(l) if l.state == RunState::Exited && l.exit_code == 0 => continue,
            Some(l) if l.state == RunState::Exited && !restarts(policy, l.exit_code) => {
                return InitProgress::Failed(i)
            }
            _ => return InitProgress::At(i),
        }
    }
    InitProgress::Done
}

/// Plans one container (application or init) from its history: collects old attempts
/// (the latest and the one before it are kept, for `logs --previous`), starts it, or
/// waits for a back-off. Returns its id when it is running.
fn plan_container(
    name: &str,
    policy: RestartPolicy,
    observed: &Observed,
    memory: &Memory,
    now: Instant,
    actions: &mut Vec<Action>,
    wake: &mut impl FnMut(Instant),
) -> Option<String> {
    let history = observed
        .containers
        .get(name)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for old in history.iter().rev().skip(2) {
        actions.push(Action::RemoveContainer { id: old.id.clone() });
    }
    match container_step(name, policy, history, memory, now) {
        ContainerStep::Start { attempt } => actions.push(Action::StartContainer {
            name: name.to_owned(),
            attempt,
        }),
        ContainerStep::Discard { id } => {
            actions.push(Action::RemoveContainer { id });
            wake(now);
        }
        ContainerStep::PullBackOff { until }
        | ContainerStep::StartBackOff { until }
        | ContainerStep::CrashLoopBackOff { until } => wake(until),
        ContainerStep::Finished => {}
        ContainerStep::Running { id } => return Some(id),
    }
    None
}

/// Decides one round for `pod` (`None`: gone from the API).
pub fn plan(pod: Option<&Pod>, observed: &Observed, memory: &Memory, now: Instant) -> Plan {
    let mut actions = Vec::new();
    let mut wake_at: Option<Instant> = None;
    let mut wake = |t: Instant| wake_at = Some(wake_at.map_or(t, |w| w.min(t)));

    let pod = match pod {
        Some(p) if p.metadata.deletion_timestamp.is_none() => p,
        Some(p) => {
            if observed.is_empty() {
                actions.push(Action::FinishDeletion);
            } else {
                actions.push(Action::Terminate {
                    grace: grace_period(p),
                });
            }
            return Plan {
                actions,
                wake_at: None,
                done: false,
            };
        }
        None => {
            let done = observed.is_empty();
            if !done {
                actions.push(Action::Terminate {
                    grace: Duration::ZERO,
                });
            }
            return Plan {
                actions,
                wake_at: None,
                done,
            };
        }
    };

    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    // A finished pod (every container exited for good) needs its sandbox no more: it is
    // stopped, as Kubernetes stops a terminal pod's sandbox, and never re-created. Its
    // containers are kept for their logs and exit codes until the pod is deleted.
    let init = init_progress(pod, observed);
    let finished = matches!(init, InitProgress::Failed(_))
        || !pod.spec.containers.is_empty()
            && init == InitProgress::Done
            && pod.spec.containers.iter().all(|c| {
                let history = observed
                    .containers
                    .get(&c.name)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                container_step(&c.name, policy, history, memory, now) == ContainerStep::Finished
            });
    if finished {
        if let Some(s) = observed.sandbox().filter(|s| s.state == RunState::Running) {
            actions.push(Action::KillContainer {
                id: s.id.clone(),
                name: String::new(),
                grace: Duration::ZERO,
                reason: "pod finished".into(),
            });
        }
        return Plan {
            actions,
            wake_at: None,
            done: false,
        };
    }

    // The sandbox: without a running one, nothing else can run.
    match observed.sandbox() {
        Some(s) if s.state == RunState::Running => {}
        sandbox => {
            for c in observed.containers.values().flatten() {
                if c.state == RunState::Running {
                    actions.push(Action::KillContainer {
                        id: c.id.clone(),
                        name: c.label(labels::CONTAINER_NAME).to_owned(),
                        grace: Duration::ZERO,
                        reason: "pod sandbox changed, it will be killed and re-created".into(),
                    });
                }
            }
            // A failed creation (or a sandbox that keeps dying) waits out its back-off;
            // a dead or half-made sandbox stays until then, for its attempt number.
            if let Some(b) = memory.sandbox.filter(|b| now < b.not_before) {
                wake(b.not_before);
                return Plan {
                    actions,
                    wake_at,
                    done: false,
                };
            }
            let attempt = match sandbox {
                Some(s) => {
                    actions.push(Action::RemoveContainer { id: s.id.clone() });
                    s.attempt() + 1
                }
                None => 0,
            };
            actions.push(Action::CreateSandbox { attempt });
            // The containers are planned in the next round, against the new sandbox.
            wake(now);
            return Plan {
                actions,
                wake_at,
                done: false,
            };
        }
    }

    // Init containers, one at a time and in order, before any application container.
    if let InitProgress::At(i) = init {
        let c = &pod.spec.init_containers[i];
        // Running: its exit wakes the worker (init containers have no probes).
        let _running = plan_container(
            &c.name,
            init_policy(policy),
            observed,
            memory,
            now,
            &mut actions,
            &mut wake,
        );
        return Plan {
            actions,
            wake_at,
            done: false,
        };
    }
    for c in &pod.spec.containers {
        if let Some(id) = plan_container(
            &c.name,
            policy,
            observed,
            memory,
            now,
            &mut actions,
            &mut wake,
        ) {
            plan_probes(c, &id, memory, now, &mut actions, &mut wake);
        }
    }
    Plan {
        actions,
        wake_at,
        done: false,
    }
}

fn plan_probes(
    c: &Container,
    id: &str,
    memory: &Memory,
    now: Instant,
    actions: &mut Vec<Action>,
    wake: &mut impl FnMut(Instant),
) {
    let is_started = started(c, id, memory);
    for kind in [
        ProbeKind::Startup,
        ProbeKind::Liveness,
        ProbeKind::Readiness,
    ] {
        let Some(p) = probe_of(c, kind) else { continue };
        // Liveness and readiness wait for the startup probe; the startup probe stops
        // once it succeeded.
        if (kind == ProbeKind::Startup) == is_started {
            continue;
        }
        let state = memory.probes.get(&(id.to_owned(), kind));
        if kind != ProbeKind::Readiness && state.is_some_and(|s| s.verdict == Verdict::Failure) {
            actions.push(Action::KillContainer {
                id: id.to_owned(),
                name: c.name.clone(),
                grace: p
                    .termination_grace_period_seconds
                    .map(|s| Duration::from_secs(s.max(0) as u64))
                    .unwrap_or(Duration::from_secs(2)),
                reason: format!(
                    "Container {} failed {} probe, will be restarted",
                    c.name,
                    kind.title().to_lowercase()
                ),
            });
            return;
        }
        match state {
            Some(s) if !s.due(now) => wake(s.next_at),
            Some(_) => actions.push(Action::Probe {
                id: id.to_owned(),
                name: c.name.clone(),
                kind,
            }),
            None => {
                // First sight: the probe's clock starts when the container was seen
                // running; the worker creates the state before applying.
                let since = memory.running_seen.get(id).copied().unwrap_or(now);
                let first = ProbeState::new(&Timing::of(p, kind), since);
                if first.due(now) {
                    actions.push(Action::Probe {
                        id: id.to_owned(),
                        name: c.name.clone(),
                        kind,
                    });
                } else {
                    wake(first.next_at);
                }
            }
        }
    }
}

fn terminated_state(c: &ContainerInfo, message: &str) -> ContainerStateTerminated {
    let reason = if c.oom_killed {
        "OOMKilled"
    } else if c.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    ContainerStateTerminated {
        exit_code: i32::try_from(c.exit_code).unwrap_or(i32::MAX),
        signal: 0,
        reason: reason.into(),
        message: if message.is_empty() {
            c.error.clone()
        } else {
            message.to_owned()
        },
        started_at: c.started_at.map(Time::from_unix),
        finished_at: c.finished_at.map(Time::from_unix),
        container_id: format!("docker://{}", c.id),
    }
}

fn waiting(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: reason.into(),
            message: message.into(),
        }),
        ..Default::default()
    }
}

/// The status of one container.
fn container_status(
    pod: &Pod,
    c: &Container,
    policy: RestartPolicy,
    observed: &Observed,
    memory: &Memory,
    now: Instant,
) -> ContainerStatus {
    let latest = observed.latest(&c.name);
    let mut status = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        restart_count: latest.map_or(0, |l| l.attempt() as i32),
        started: Some(false),
        ..Default::default()
    };
    if let Some(prev) = observed.previous(&c.name) {
        if prev.state == RunState::Exited {
            status.last_state = ContainerState {
                terminated: Some(terminated_state(prev, "")),
                ..Default::default()
            };
        }
    }
    let step = container_step(
        &c.name,
        policy,
        observed
            .containers
            .get(&c.name)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        memory,
        now,
    );
    let error = memory.errors.get(&c.name);
    match (latest, step) {
        (_, ContainerStep::PullBackOff { .. }) => {
            let message = memory.pulls.get(&c.name).map_or("", |(_, m)| m.as_str());
            status.state = waiting(
                "ImagePullBackOff",
                &format!("Back-off pulling image \"{}\": {message}", c.image),
            );
        }
        (latest, ContainerStep::StartBackOff { .. }) => {
            status.state = match error {
                Some((reason, message)) => waiting(reason, message),
                None => waiting("ContainerCreating", ""),
            };
            if let Some(l) = latest.filter(|l| l.state == RunState::Exited) {
                status.last_state = ContainerState {
                    terminated: Some(terminated_state(l, "")),
                    ..Default::default()
                };
            }
        }
        (None, _) | (Some(_), ContainerStep::Discard { .. }) => {
            status.state = match error {
                Some((reason, message)) => waiting(reason, message),
                None => waiting("ContainerCreating", ""),
            };
        }
        (Some(l), ContainerStep::Running { id }) => {
            let is_started = started(c, &id, memory);
            let ready = is_started
                && (c.readiness_probe.is_none()
                    || memory
                        .probes
                        .get(&(id.clone(), ProbeKind::Readiness))
                        .is_some_and(|p| p.verdict == Verdict::Success));
            status.state = ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: l.started_at.map(Time::from_unix),
                }),
                ..Default::default()
            };
            status.ready = ready;
            status.started = Some(is_started);
        }
        (Some(l), ContainerStep::CrashLoopBackOff { .. }) => {
            let delay = memory.crash_delay.get(&c.name).copied().unwrap_or_default();
            status.state = waiting(
                "CrashLoopBackOff",
                &format!(
                    "back-off {}s restarting failed container={} pod={}_{}({})",
                    delay.as_secs(),
                    c.name,
                    pod.metadata.name,
                    pod.metadata.namespace,
                    pod.metadata.uid
                ),
            );
            status.last_state = ContainerState {
                terminated: Some(terminated_state(l, "")),
                ..Default::default()
            };
        }
        (Some(l), ContainerStep::Start { .. }) => {
            // Exited, restart due this round.
            status.state = waiting("ContainerCreating", "");
            status.last_state = ContainerState {
                terminated: Some(terminated_state(l, "")),
                ..Default::default()
            };
        }
        (Some(l), ContainerStep::Finished) => {
            status.state = ContainerState {
                terminated: Some(terminated_state(l, "")),
                ..Default::default()
            };
        }
    }
    if let Some(l) = latest.filter(|_| status.state.waiting.is_none()) {
        status.container_id = format!("docker://{}", l.id);
        status.image_id = l.image_id.clone();
    }
    status
}

/// The pod's phase from its container statuses (Kubernetes' `getPhase`).
pub fn phase(policy: RestartPolicy, statuses: &[ContainerStatus]) -> PodPhase {
    let (mut waiting, mut running, mut stopped, mut succeeded, mut failed) = (0, 0, 0, 0, 0);
    for s in statuses {
        if s.state.running.is_some() {
            running += 1;
        } else if let Some(t) = &s.state.terminated {
            if t.exit_code == 0 {
                succeeded += 1;
            } else {
                failed += 1;
            }
        } else if s.last_state.terminated.is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if statuses.is_empty() || waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 || stopped > 0 {
        return PodPhase::Running;
    }
    match policy {
        RestartPolicy::Always => PodPhase::Running,
        RestartPolicy::OnFailure if failed > 0 => PodPhase::Running,
        _ if failed > 0 => PodPhase::Failed,
        _ if succeeded > 0 => PodPhase::Succeeded,
        _ => PodPhase::Pending,
    }
}

fn condition(type_: &str, ok: bool, reason: &str, previous: &PodStatus, now: Time) -> PodCondition {
    let status = if ok {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let last = previous
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time);
    PodCondition {
        type_: type_.into(),
        status,
        last_probe_time: None,
        last_transition_time: Some(last.unwrap_or(now)),
        reason: if ok { String::new() } else { reason.into() },
        message: String::new(),
    }
}

/// The pod's status, derived from the observation (see the module docs). `now_time`
/// stamps conditions that changed; unchanged ones keep their transition time.
pub fn compute_status(
    pod: &Pod,
    observed: &Observed,
    memory: &Memory,
    host_ip: &str,
    now: Instant,
    now_time: Time,
) -> PodStatus {
    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    let previous = &pod.status;
    let init = init_progress(pod, observed);
    let init_statuses: Vec<ContainerStatus> = pod
        .spec
        .init_containers
        .iter()
        .map(|c| {
            let mut s = container_status(pod, c, init_policy(policy), observed, memory, now);
            s.ready = s
                .state
                .terminated
                .as_ref()
                .is_some_and(|t| t.exit_code == 0);
            s
        })
        .collect();
    let mut init_statuses = init_statuses;
    let mut statuses: Vec<ContainerStatus> = pod
        .spec
        .containers
        .iter()
        .map(|c| container_status(pod, c, policy, observed, memory, now))
        .collect();
    if init != InitProgress::Done {
        for s in &mut statuses {
            if s.state.waiting.is_some() {
                s.state = waiting("PodInitializing", "");
            }
        }
    }
    let sandbox_ready = observed
        .sandbox()
        .is_some_and(|s| s.state == RunState::Running);
    // Without a sandbox nothing can start: every waiting container says why.
    if let Some(message) = memory.sandbox_error.as_ref().filter(|_| !sandbox_ready) {
        for s in init_statuses.iter_mut().chain(statuses.iter_mut()) {
            if s.state.waiting.is_some() {
                s.state = waiting(SANDBOX_ERROR_REASON, message);
            }
        }
    }
    let phase = match init {
        InitProgress::Failed(_) => PodPhase::Failed,
        InitProgress::At(_) => PodPhase::Pending,
        InitProgress::Done => phase(policy, &statuses),
    };
    let incomplete: Vec<&str> = match init {
        InitProgress::Done => vec![],
        InitProgress::At(i) | InitProgress::Failed(i) => pod.spec.init_containers[i..]
            .iter()
            .map(|c| c.name.as_str())
            .collect(),
    };
    let initialized = incomplete.is_empty();
    let init_message = format!(
        "containers with incomplete status: [{}]",
        incomplete.join(" ")
    );
    let containers_ready = !statuses.is_empty() && statuses.iter().all(|s| s.ready);
    let unready_names: Vec<&str> = statuses
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();
    let not_ready = |reason: &str| {
        if containers_ready {
            String::new()
        } else {
            reason.to_owned()
        }
    };
    // The kubelet's message on ContainersReady and Ready when some container is not.
    let with_unready = |mut c: PodCondition| {
        if c.status != ConditionStatus::True && !unready_names.is_empty() {
            c.message = format!(
                "containers with unready status: [{}]",
                unready_names.join(" ")
            );
        }
        c
    };
    let pod_ip = observed
        .sandbox()
        .filter(|s| s.state == RunState::Running)
        .and_then(|s| s.ip.clone())
        .or_else(|| memory.pod_ip.clone())
        // A finished pod keeps the address it had (its sandbox is stopped).
        .or_else(|| {
            matches!(phase, PodPhase::Succeeded | PodPhase::Failed).then(|| previous.pod_ip.clone())
        })
        .unwrap_or_default();
    let unready = not_ready("ContainersNotReady");
    let conditions = vec![
        condition("PodScheduled", true, "", previous, now_time),
        // Kubernetes' PodReadyToStartContainers: the sandbox (with its network) is up.
        condition(
            "PodReadyToStartContainers",
            sandbox_ready,
            "",
            previous,
            now_time,
        ),
        {
            let mut c = condition(
                "Initialized",
                initialized,
                if initialized {
                    ""
                } else {
                    "ContainersNotInitialized"
                },
                previous,
                now_time,
            );
            if !initialized {
                c.message = init_message;
            }
            c
        },
        with_unready(condition(
            "ContainersReady",
            containers_ready,
            &unready,
            previous,
            now_time,
        )),
        with_unready(condition(
            "Ready",
            containers_ready,
            &unready,
            previous,
            now_time,
        )),
    ];
    PodStatus {
        phase: Some(phase),
        conditions,
        message: String::new(),
        reason: String::new(),
        host_ip: host_ip.to_owned(),
        host_ips: vec![HostIp {
            ip: host_ip.to_owned(),
        }],
        pod_ips: if pod_ip.is_empty() {
            vec![]
        } else {
            vec![PodIp { ip: pod_ip.clone() }]
        },
        pod_ip,
        start_time: previous.start_time.or(memory.start_time),
        init_container_statuses: init_statuses,
        container_statuses: statuses,
        qos_class: previous.qos_class,
    }
}

/// Where a worker reports: the pod's status, events, and the end of a deletion. The
/// kubelet implements it over the API; tests record.
pub trait PodSink: Send + Sync + 'static {
    /// Writes the pod's status.
    fn set_status(&self, pod: &Pod, status: PodStatus) -> BoxFuture<'_, Result<(), String>>;
    /// Records an event about the pod (`type_` is `Normal` or `Warning`); best effort.
    fn event(&self, pod: &Pod, type_: &str, reason: &str, message: String);
    /// Deletes the pod object for good (grace period 0) once its containers are gone.
    fn finish_deletion(&self, pod: &Pod) -> BoxFuture<'_, Result<(), String>>;
}

/// What a worker knows of its node.
#[derive(Debug, Clone)]
pub struct NodeContext {
    /// The node's name.
    pub node: String,
    /// The node's IP (hostIP).
    pub host_ip: String,
    /// The Docker network for sandboxes.
    pub network: String,
    /// The sandbox image, shared by the node's workers.
    pub sandbox_image: Arc<SandboxImage>,
}

/// The Docker container name of a pod's container or sandbox (`None`).
pub fn container_name(pod: &Pod, container: Option<&str>, attempt: u32) -> String {
    let uid: String = pod.metadata.uid.chars().take(8).collect();
    format!(
        "rudder_{}_{}_{}_{}_{}",
        container.unwrap_or("POD"),
        pod.metadata.name,
        pod.metadata.namespace,
        uid,
        attempt
    )
}

fn pod_labels(pod: &Pod, node: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::POD_NAMESPACE.to_owned(),
            pod.metadata.namespace.clone(),
        ),
        (labels::POD_NAME.to_owned(), pod.metadata.name.clone()),
        (labels::POD_UID.to_owned(), pod.metadata.uid.clone()),
        (labels::NODE.to_owned(), node.to_owned()),
    ])
}

/// The runtime spec of container `c` of `pod`.
pub fn container_spec(
    pod: &Pod,
    c: &Container,
    attempt: u32,
    sandbox_id: &str,
    node: &NodeContext,
    pod_ip: &str,
) -> ContainerSpec {
    let mut labels = pod_labels(pod, &node.node);
    labels.insert(labels::CONTAINER_NAME.into(), c.name.clone());
    labels.insert(labels::ATTEMPT.into(), attempt.to_string());
    labels.insert(labels::KIND.into(), "container".into());
    let field = |path: &str| -> String {
        match path {
            "metadata.name" => pod.metadata.name.clone(),
            "metadata.namespace" => pod.metadata.namespace.clone(),
            "metadata.uid" => pod.metadata.uid.clone(),
            "spec.nodeName" => pod.spec.node_name.clone(),
            "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
            "status.podIP" => pod_ip.to_owned(),
            "status.hostIP" => node.host_ip.clone(),
            _ => String::new(),
        }
    };
    let env = c
        .env
        .iter()
        .map(|e| {
            let value = match e.value_from.as_ref().and_then(|v| v.field_ref.as_ref()) {
                Some(f) => field(&f.field_path),
                None => e.value.clone(),
            };
            format!("{}={value}", e.name)
        })
        .collect();
    let cpu = c.resources.limits.get("cpu").map(|q| q.scaled_value(-9));
    let memory = c.resources.limits.get("memory").map(|q| q.value());
    ContainerSpec {
        name: container_name(pod, Some(&c.name), attempt),
        image: c.image.clone(),
        entrypoint: c.command.clone(),
        args: c.args.clone(),
        env,
        working_dir: (!c.working_dir.is_empty()).then(|| c.working_dir.clone()),
        nano_cpus: cpu.filter(|v| *v > 0),
        memory_bytes: memory.filter(|v| *v > 0),
        sandbox_id: sandbox_id.to_owned(),
        labels,
        mounts: Vec::new(),
    }
}

/// The runtime volume backing emptyDir `volume` of `pod`.
pub fn volume_name(pod: &Pod, volume: &str) -> String {
    format!("rudder-{}-{volume}", pod.metadata.uid)
}

/// The volumes container `c` mounts: emptyDirs (and volumes without a source, which
/// Kubernetes defaults to emptyDir) become runtime volumes labelled with the pod, shared
/// by its containers and removed with it; hostPaths are bound from the engine's host.
/// Secret and configMap volumes are refused: Rudder serves neither resource.
pub fn volume_plan(
    pod: &Pod,
    c: &Container,
    node: &str,
) -> Result<(Vec<VolumeSpec>, Vec<Mount>), String> {
    let mut volumes = Vec::new();
    let mut mounts = Vec::with_capacity(c.volume_mounts.len());
    for m in &c.volume_mounts {
        let Some(v) = pod.spec.volumes.iter().find(|v| v.name == m.name) else {
            return Err(format!(
                "volume \"{}\" mounted by container \"{}\" is not a volume of the pod",
                m.name, c.name
            ));
        };
        let source = if let Some(h) = &v.host_path {
            MountSource::HostPath(h.path.clone())
        } else if v.secret.is_some() || v.config_map.is_some() {
            return Err(format!(
                "MountVolume.SetUp failed for volume \"{}\": secret and configMap volumes are not supported by Rudder",
                v.name
            ));
        } else {
            let name = volume_name(pod, &v.name);
            volumes.push(VolumeSpec {
                name: name.clone(),
                memory: v.empty_dir.as_ref().is_some_and(|e| e.medium == "Memory"),
                labels: pod_labels(pod, node),
            });
            MountSource::Volume(name)
        };
        mounts.push(Mount {
            source,
            target: m.mount_path.clone(),
            read_only: m.read_only,
        });
    }
    Ok((volumes, mounts))
}

/// The pull policy with Kubernetes' default (`Always` for `:latest` or no tag).
pub fn pull_policy(c: &Container) -> PullPolicy {
    c.image_pull_policy.unwrap_or_else(|| {
        let (_, tag) = super::docker::split_reference(&c.image);
        if tag == "latest" {
            PullPolicy::Always
        } else {
            PullPolicy::IfNotPresent
        }
    })
}

/// One pod's worker task (see the module docs).
pub struct PodWorker {
    runtime: Arc<dyn ContainerRuntime>,
    sink: Arc<dyn PodSink>,
    node: NodeContext,
    pod: watch::Receiver<Option<Arc<Pod>>>,
    wake: Arc<Notify>,
    uid: String,
    /// `namespace/name`, for the log.
    key: String,
    memory: Memory,
    last_status: Option<PodStatus>,
    /// Consecutive rounds with a failed runtime call or status write.
    retry: Retry,
    /// Set by a runtime call or status write that failed in this round.
    failed: bool,
    /// One warning per failure and period (see the module docs).
    log: LogLimiter<&'static str>,
}

impl PodWorker {
    /// A worker for the pod in `pod` (its uid never changes); `wake` is notified on
    /// runtime events for the pod.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        sink: Arc<dyn PodSink>,
        node: NodeContext,
        pod: watch::Receiver<Option<Arc<Pod>>>,
        wake: Arc<Notify>,
    ) -> PodWorker {
        let (uid, key) = pod
            .borrow()
            .as_ref()
            .map(|p| {
                (
                    p.metadata.uid.clone(),
                    format!("{}/{}", p.metadata.namespace, p.metadata.name),
                )
            })
            .unwrap_or_default();
        PodWorker {
            runtime,
            sink,
            node,
            pod,
            wake,
            uid,
            key,
            memory: Memory::default(),
            last_status: None,
            retry: ROUND_RETRY,
            failed: false,
            log: LogLimiter::default(),
        }
    }

    /// Logs a warning about `what` (a failure that may repeat) unless it was logged less
    /// than a [`LogLimiter`] period ago; the line counts those held back.
    fn warn_limited(&mut self, what: &'static str, error: &dyn std::fmt::Display) {
        if let Some(suppressed) = self.log.admit(&what, Instant::now()) {
            tracing::warn!(pod = %self.key, uid = %self.uid, error = %error, suppressed, "{what}");
        }
    }

    /// A runtime call or API write of this round failed: the next round waits for the
    /// worker's back-off.
    fn note_failure(&mut self, what: &'static str, error: &dyn std::fmt::Display) {
        self.failed = true;
        self.warn_limited(what, error);
    }

    /// Runs until the pod is gone from the API and from the runtime.
    pub async fn run(mut self) {
        let mut last_pod: Option<Arc<Pod>> = self.pod.borrow().clone();
        loop {
            let current = self.pod.borrow_and_update().clone();
            if current.is_some() {
                last_pod = current.clone();
            }
            self.failed = false;
            let wake_at = match self.round(current.as_deref(), last_pod.as_deref()).await {
                Ok(None) => return,
                Ok(Some(at)) => at,
                Err(e) => {
                    self.note_failure("pod worker round failed", &e);
                    Instant::now()
                }
            };
            // A round that failed somewhere is not repeated before the back-off, whatever
            // its plan asked for; a clean round resets it.
            let wake_at = if self.failed {
                wake_at.max(Instant::now() + self.retry.failed())
            } else {
                self.retry.succeeded();
                wake_at
            };
            let deadline = wake_at.min(Instant::now() + RESYNC);
            tokio::select! {
                changed = self.pod.changed() => {
                    if changed.is_err() {
                        // The kubelet dropped the pod's channel: it is gone from the API.
                        self.pod = watch::channel(None).1;
                    }
                }
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn observe(&mut self) -> Result<Observed, RuntimeError> {
        let want = BTreeMap::from([(labels::POD_UID.to_owned(), self.uid.clone())]);
        let all = self.runtime.list_containers(&want).await?;
        let now = Instant::now();
        for c in &all {
            match c.state {
                RunState::Running => {
                    self.memory.running_seen.entry(c.id.clone()).or_insert(now);
                }
                RunState::Exited => {
                    self.memory.exit_seen.entry(c.id.clone()).or_insert(now);
                }
                RunState::Created => {}
            }
        }
        // Forget containers that are gone.
        let ids: std::collections::BTreeSet<&str> = all.iter().map(|c| c.id.as_str()).collect();
        self.memory
            .running_seen
            .retain(|id, _| ids.contains(id.as_str()));
        self.memory
            .exit_seen
            .retain(|id, _| ids.contains(id.as_str()));
        // Probes only concern running containers; an exited one's schedule would keep
        // waking the worker for nothing.
        let running: std::collections::BTreeSet<&str> = all
            .iter()
            .filter(|c| c.state == RunState::Running)
            .map(|c| c.id.as_str())
            .collect();
        self.memory
            .probes
            .retain(|(id, _), _| running.contains(id.as_str()));
        let observed = Observed::from_containers(all);
        if let Some(ip) = observed.sandbox().and_then(|s| s.ip.clone()) {
            self.memory.pod_ip = Some(ip);
        }
        // A sandbox that has run long enough starts its back-off over.
        let settled = observed.sandbox().is_some_and(|s| {
            s.state == RunState::Running
                && self
                    .memory
                    .running_seen
                    .get(&s.id)
                    .is_some_and(|t| now.saturating_duration_since(*t) >= SANDBOX_BACKOFF_RESET)
        });
        if settled {
            self.memory.sandbox = None;
        }
        Ok(observed)
    }

    /// One round; `Ok(None)` when the worker is done.
    async fn round(
        &mut self,
        pod: Option<&Pod>,
        last_pod: Option<&Pod>,
    ) -> Result<Option<Instant>, RuntimeError> {
        if self.memory.start_time.is_none() {
            self.memory.start_time = Some(Time::now());
        }
        let observed = self.observe().await?;
        let now = Instant::now();
        // The sandbox image the last creation lacked is there now: no need to wait.
        if self.memory.sandbox_error.is_some()
            && self.node.sandbox_image.appeared() != self.memory.sandbox_image_seen
        {
            if let Some(b) = self.memory.sandbox.as_mut() {
                b.not_before = b.not_before.min(now);
            }
        }
        let p = plan(pod, &observed, &self.memory, now);
        if p.done {
            return Ok(None);
        }
        let mut changed = false;
        for action in &p.actions {
            changed |= self.apply(action, pod, last_pod, &observed).await;
        }
        let observed = if changed {
            self.observe().await?
        } else {
            observed
        };
        if let Some(pod) = pod {
            let status = compute_status(
                pod,
                &observed,
                &self.memory,
                &self.node.host_ip,
                Instant::now(),
                Time::now(),
            );
            if self.last_status.as_ref() != Some(&status) && status != pod.status {
                match self.sink.set_status(pod, status.clone()).await {
                    Ok(()) => {
                        self.last_status = Some(status);
                        self.log.clear(&STATUS_FAILED);
                    }
                    Err(e) => self.note_failure(STATUS_FAILED, &e),
                }
            }
        }
        let mut wake_at = p.wake_at.unwrap_or(now + RESYNC);
        // Probes that just ran are due again after their period.
        if let Some(next_probe) = self.memory.probes.values().map(|s| s.next_at).min() {
            wake_at = wake_at.min(next_probe);
        }
        // A back-off this round started (a failed start or pull) ends with a new look.
        let after = Instant::now();
        let next_try = (self.memory.starts.values())
            .chain(self.memory.pulls.values().map(|(b, _)| b))
            .chain(self.memory.sandbox.iter())
            .map(|b| b.not_before)
            .filter(|t| *t > after)
            .min();
        if let Some(t) = next_try {
            wake_at = wake_at.min(t);
        }
        if changed {
            wake_at = wake_at.min(Instant::now());
        }
        Ok(Some(wake_at))
    }

    /// Applies one action; true when it changed the runtime's state.
    async fn apply(
        &mut self,
        action: &Action,
        pod: Option<&Pod>,
        last_pod: Option<&Pod>,
        observed: &Observed,
    ) -> bool {
        let rt = self.runtime.clone();
        match action {
            Action::CreateSandbox { attempt } => {
                let Some(pod) = pod else { return false };
                self.create_sandbox(pod, *attempt).await
            }
            Action::StartContainer { name, attempt } => {
                let Some(pod) = pod else { return false };
                let Some(c) = pod
                    .spec
                    .containers
                    .iter()
                    .chain(&pod.spec.init_containers)
                    .find(|c| &c.name == name)
                else {
                    return false;
                };
                let Some(sandbox) = observed.sandbox() else {
                    return false;
                };
                self.start_container(pod, c, *attempt, sandbox, observed.latest(name))
                    .await
            }
            Action::KillContainer {
                id,
                name,
                grace,
                reason,
            } => {
                if let Some(pod) = pod.or(last_pod) {
                    if !name.is_empty() {
                        self.sink.event(
                            pod,
                            "Normal",
                            "Killing",
                            format!("Stopping container {name}: {reason}"),
                        );
                    }
                }
                match rt.stop_container(id, *grace).await {
                    Ok(()) => true,
                    Err(e) => {
                        self.note_failure("container stop failed", &e);
                        false
                    }
                }
            }
            Action::RemoveContainer { id } => match rt.remove_container(id).await {
                Ok(()) => true,
                Err(e) => {
                    self.note_failure("container removal failed", &e);
                    false
                }
            },
            Action::Probe { id, name, kind } => {
                let Some(pod) = pod else { return false };
                self.probe(pod, id, name, *kind, observed).await;
                false
            }
            Action::Terminate { grace } => {
                self.terminate(pod.or(last_pod), *grace, observed).await;
                true
            }
            Action::FinishDeletion => {
                if let Some(pod) = pod {
                    if let Err(e) = self.sink.finish_deletion(pod).await {
                        self.note_failure("final delete failed", &e);
                    }
                }
                false
            }
        }
    }

    async fn create_sandbox(&mut self, pod: &Pod, attempt: u32) -> bool {
        let mut labels = pod_labels(pod, &self.node.node);
        labels.insert(labels::KIND.into(), "sandbox".into());
        labels.insert(labels::ATTEMPT.into(), attempt.to_string());
        let hostname = if pod.spec.hostname.is_empty() {
            pod.metadata.name.clone()
        } else {
            pod.spec.hostname.clone()
        };
        let spec = SandboxSpec {
            name: container_name(pod, None, attempt),
            image: self.node.sandbox_image.reference().to_owned(),
            command: super::images::SANDBOX_COMMAND
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            // Linux limits hostnames to 63 bytes.
            hostname: hostname.chars().take(63).collect(),
            network: self.node.network.clone(),
            labels,
        };
        let now = Instant::now();
        let image_seen = self.node.sandbox_image.appeared();
        let mut created = false;
        let result: Result<(), String> = async {
            self.node
                .sandbox_image
                .ensure(&*self.runtime)
                .await
                .map_err(|e| e.to_string())?;
            let id = self
                .runtime
                .create_sandbox(&spec)
                .await
                .map_err(|e| e.to_string())?;
            created = true;
            self.runtime
                .start_container(&id)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        let previous = self.memory.sandbox;
        let next = || {
            Backoff::next(
                previous.as_ref(),
                now,
                START_BACKOFF_INITIAL,
                START_BACKOFF_MAX,
            )
        };
        match result {
            Ok(()) => {
                self.memory.sandbox_error = None;
                self.log.clear(&SANDBOX_FAILED);
                // A replacement: should this one die young too, the next waits longer.
                if attempt > 0 {
                    self.memory.sandbox = Some(next());
                }
            }
            Err(e) => {
                let b = next();
                let message = format!("Failed to create pod sandbox: {e}");
                self.memory.sandbox = Some(b);
                self.memory.sandbox_error = Some(message.clone());
                self.memory.sandbox_image_seen = image_seen;
                if let Some(suppressed) = self.log.admit(&SANDBOX_FAILED, now) {
                    tracing::warn!(pod = %self.key, uid = %self.uid, error = %e,
                        retry_in = ?b.delay, suppressed, "{SANDBOX_FAILED}");
                }
                // The recorder folds repeats into one Event whose count grows.
                self.sink
                    .event(pod, "Warning", "FailedCreatePodSandBox", message);
            }
        }
        created
    }

    /// Holds the next start of container `name` for its start back-off.
    fn hold_start(&mut self, name: &str, now: Instant) {
        let previous = self.memory.starts.get(name).copied();
        let b = Backoff::next(
            previous.as_ref(),
            now,
            START_BACKOFF_INITIAL,
            START_BACKOFF_MAX,
        );
        self.memory.starts.insert(name.to_owned(), b);
    }

    /// Makes the volumes container `c` mounts and sets `spec`'s mounts; the reason when
    /// it cannot.
    async fn mount_volumes(
        &self,
        pod: &Pod,
        c: &Container,
        spec: &mut ContainerSpec,
    ) -> Result<(), String> {
        let (volumes, mounts) = volume_plan(pod, c, &self.node.node)?;
        for v in &volumes {
            self.runtime
                .ensure_volume(v)
                .await
                .map_err(|e| format!("MountVolume.SetUp failed for volume \"{}\": {e}", v.name))?;
        }
        spec.mounts = mounts;
        Ok(())
    }

    async fn start_container(
        &mut self,
        pod: &Pod,
        c: &Container,
        attempt: u32,
        sandbox: &ContainerInfo,
        previous: Option<&ContainerInfo>,
    ) -> bool {
        let now = Instant::now();
        // Image, per policy.
        let present = match self.runtime.image_id(&c.image).await {
            Ok(p) => p.is_some(),
            Err(e) => {
                self.memory
                    .errors
                    .insert(c.name.clone(), ("ErrImagePull".into(), e.to_string()));
                self.hold_start(&c.name, now);
                return false;
            }
        };
        let policy = pull_policy(c);
        if policy == PullPolicy::Never && !present {
            let message = format!(
                "Container image \"{}\" is not present with pull policy of Never",
                c.image
            );
            self.sink
                .event(pod, "Warning", "ErrImageNeverPull", message.clone());
            self.memory
                .errors
                .insert(c.name.clone(), ("ErrImageNeverPull".into(), message));
            let prev = self.memory.pulls.get(&c.name).map(|(b, _)| *b);
            let b = Backoff::next(prev.as_ref(), now, PULL_BACKOFF_INITIAL, PULL_BACKOFF_MAX);
            self.memory
                .pulls
                .insert(c.name.clone(), (b, "image not present".into()));
            return false;
        }
        if policy == PullPolicy::Always || !present {
            self.sink.event(
                pod,
                "Normal",
                "Pulling",
                format!("Pulling image \"{}\"", c.image),
            );
            let started = Instant::now();
            match self.runtime.pull_image(&c.image).await {
                Ok(()) => {
                    self.memory.pulls.remove(&c.name);
                    self.sink.event(
                        pod,
                        "Normal",
                        "Pulled",
                        format!(
                            "Successfully pulled image \"{}\" in {:?}",
                            c.image,
                            started.elapsed()
                        ),
                    );
                }
                Err(e) => {
                    let message = e.to_string();
                    self.sink.event(
                        pod,
                        "Warning",
                        "Failed",
                        format!("Failed to pull image \"{}\": {message}", c.image),
                    );
                    self.sink
                        .event(pod, "Warning", "Failed", "Error: ErrImagePull".into());
                    let prev = self.memory.pulls.get(&c.name).map(|(b, _)| *b);
                    let b =
                        Backoff::next(prev.as_ref(), now, PULL_BACKOFF_INITIAL, PULL_BACKOFF_MAX);
                    self.memory
                        .pulls
                        .insert(c.name.clone(), (b, message.clone()));
                    self.memory
                        .errors
                        .insert(c.name.clone(), ("ErrImagePull".into(), message));
                    self.sink.event(
                        pod,
                        "Normal",
                        "BackOff",
                        format!("Back-off pulling image \"{}\"", c.image),
                    );
                    return false;
                }
            }
        } else {
            self.memory.pulls.remove(&c.name);
        }
        let pod_ip = sandbox.ip.clone().unwrap_or_default();
        let mut spec = container_spec(pod, c, attempt, &sandbox.id, &self.node, &pod_ip);
        if let Err(message) = self.mount_volumes(pod, c, &mut spec).await {
            self.sink
                .event(pod, "Warning", "FailedMount", message.clone());
            self.memory.errors.insert(
                c.name.clone(),
                ("CreateContainerConfigError".into(), message),
            );
            self.hold_start(&c.name, now);
            return false;
        }
        let id = match self.runtime.create_container(&spec).await {
            Ok(id) => id,
            Err(e) => {
                let message = e.to_string();
                self.sink
                    .event(pod, "Warning", "Failed", format!("Error: {message}"));
                self.memory
                    .errors
                    .insert(c.name.clone(), ("CreateContainerError".into(), message));
                self.hold_start(&c.name, now);
                return false;
            }
        };
        self.sink.event(
            pod,
            "Normal",
            "Created",
            format!("Created container {}", c.name),
        );
        if let Err(e) = self.runtime.start_container(&id).await {
            let message = e.to_string();
            self.sink
                .event(pod, "Warning", "Failed", format!("Error: {message}"));
            self.memory
                .errors
                .insert(c.name.clone(), ("RunContainerError".into(), message));
            self.hold_start(&c.name, now);
            // The container was created: it is discarded in the next round.
            return true;
        }
        self.memory.errors.remove(&c.name);
        self.memory.starts.remove(&c.name);
        self.sink.event(
            pod,
            "Normal",
            "Started",
            format!("Started container {}", c.name),
        );
        // The crash-loop delay for the next exit: a container that had run long enough
        // starts over; otherwise the delay doubles.
        if attempt > 0 {
            let ran_long = previous
                .and_then(|p| Some(p.finished_at? - p.started_at?))
                .is_some_and(|secs| secs >= CRASH_BACKOFF_RESET.as_secs() as i64);
            let prev = self
                .memory
                .crash_delay
                .get(&c.name)
                .copied()
                .unwrap_or_default();
            let next = if ran_long || prev.is_zero() {
                CRASH_BACKOFF_INITIAL
            } else {
                (prev * 2).min(CRASH_BACKOFF_MAX)
            };
            self.memory.crash_delay.insert(c.name.clone(), next);
            if prev > Duration::ZERO {
                self.sink.event(
                    pod,
                    "Warning",
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {} in pod {}",
                        c.name, pod.metadata.name
                    ),
                );
            }
        }
        true
    }

    async fn probe(
        &mut self,
        pod: &Pod,
        id: &str,
        name: &str,
        kind: ProbeKind,
        observed: &Observed,
    ) {
        let Some(c) = pod.spec.containers.iter().find(|c| c.name == name) else {
            return;
        };
        let Some(p) = probe_of(c, kind) else { return };
        let timing = Timing::of(p, kind);
        let since = self
            .memory
            .running_seen
            .get(id)
            .copied()
            .unwrap_or_else(Instant::now);
        let ports: Vec<(String, i32)> = c
            .ports
            .iter()
            .map(|p| (p.name.clone(), p.container_port))
            .collect();
        let pod_ip = observed
            .sandbox()
            .and_then(|s| s.ip.clone())
            .unwrap_or_default();
        let result = probe::run(&*self.runtime, p, id, &pod_ip, &ports, timing.timeout).await;
        let state = self
            .memory
            .probes
            .entry((id.to_owned(), kind))
            .or_insert_with(|| ProbeState::new(&timing, since));
        if let Err(message) = &result {
            self.sink.event(
                pod,
                "Warning",
                "Unhealthy",
                format!("{} probe failed: {message}", kind.title()),
            );
        }
        state.record(&timing, result, Instant::now());
    }

    async fn terminate(&mut self, pod: Option<&Pod>, grace: Duration, observed: &Observed) {
        let running: Vec<&ContainerInfo> = observed
            .containers
            .values()
            .flatten()
            .filter(|c| c.state == RunState::Running)
            .collect();
        if let Some(pod) = pod {
            for c in &running {
                self.sink.event(
                    pod,
                    "Normal",
                    "Killing",
                    format!("Stopping container {}", c.label(labels::CONTAINER_NAME)),
                );
            }
        }
        let stops = running
            .iter()
            .map(|c| self.runtime.stop_container(&c.id, grace));
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                self.note_failure("container stop failed", &e);
            }
        }
        for c in observed.all() {
            if let Err(e) = self.runtime.remove_container(&c.id).await {
                self.note_failure("container removal failed", &e);
            }
        }
        // The pod's emptyDirs go with it.
        let mine = BTreeMap::from([(labels::POD_UID.to_owned(), self.uid.clone())]);
        match self.runtime.list_volumes(&mine).await {
            Ok(volumes) => {
                for (name, _) in volumes {
                    if let Err(e) = self.runtime.remove_volume(&name).await {
                        self.note_failure("volume removal failed", &e);
                    }
                }
            }
            Err(e) => self.note_failure("volume listing failed", &e),
        }
    }
}

#[cfg(test)]
mod tests;
