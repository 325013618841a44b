//! What to do for a pod this round, decided from what the runtime shows and what the
//! worker remembers: the container state machine ([`container_step`]) and the pod-level
//! [`plan`](fn@plan). Pure: no I/O, time passed in.

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_protocol::resources::{Container, ContainerRestartPolicy, Pod, RestartPolicy, Time};
use tokio::time::Instant;

use crate::kubelet::probe::{ProbeKind, ProbeState, Timing, Verdict};
use crate::kubelet::runtime::{labels, ContainerInfo, RunState};

use super::*;

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
    ///
    /// [`SandboxImage::appeared`]: crate::kubelet::images::SandboxImage::appeared
    pub sandbox_image_seen: u64,
    /// The pod IP once known, kept when the sandbox goes away.
    pub pod_ip: Option<String>,
    /// The termination message of each exited container, by id.
    pub messages: BTreeMap<String, String>,
    /// The pod failed for good on this node (rejected at admission, or past its
    /// `activeDeadlineSeconds`): its status reason and message. Its containers are
    /// stopped and nothing starts again.
    pub pod_failure: Option<(String, String)>,
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

/// The outcome of [`plan`](fn@plan).
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

pub(super) fn probe_of(
    c: &Container,
    kind: ProbeKind,
) -> Option<&rudder_protocol::resources::Probe> {
    match kind {
        ProbeKind::Startup => c.startup_probe.as_ref(),
        ProbeKind::Liveness => c.liveness_probe.as_ref(),
        ProbeKind::Readiness => c.readiness_probe.as_ref(),
    }
}

/// The grace period of a container killed for a failed liveness or startup probe: the
/// probe's `terminationGracePeriodSeconds`, else the pod's (not a deletion's), else
/// [`DEFAULT_GRACE`], as Kubernetes' kubelet does.
pub fn probe_kill_grace(pod: &Pod, probe: &rudder_protocol::resources::Probe) -> Duration {
    probe
        .termination_grace_period_seconds
        .or(pod.spec.termination_grace_period_seconds)
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(DEFAULT_GRACE)
}

/// Whether a running container's startup probe (if any) has succeeded.
pub(super) fn started(c: &Container, id: &str, memory: &Memory) -> bool {
    c.startup_probe.is_none()
        || memory
            .probes
            .get(&(id.to_owned(), ProbeKind::Startup))
            .is_some_and(|p| p.verdict == Verdict::Success)
}

/// How far a pod's init containers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitProgress {
    /// Every regular init container exited successfully and every sidecar started (or
    /// there are none): the application containers run.
    Done,
    /// The init container at this index is the one to run, or is running (a sidecar:
    /// is not started yet); the sidecars before it keep running.
    At(usize),
    /// The (regular) init container at this index failed and the pod does not restart:
    /// the pod has failed.
    Failed(usize),
}

/// Whether init container `c` is a sidecar (`restartPolicy: Always`): it starts in its
/// turn among the init containers and keeps running beside the application containers.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy == Some(ContainerRestartPolicy::Always)
}

/// Regular init containers restart on failure unless the pod never restarts anything
/// (sidecars always restart: see [`container_policy`]).
pub(super) fn init_policy(policy: RestartPolicy) -> RestartPolicy {
    match policy {
        RestartPolicy::Never => RestartPolicy::Never,
        RestartPolicy::Always | RestartPolicy::OnFailure => RestartPolicy::OnFailure,
    }
}

/// The restart policy that applies to container `c` of `pod`: the pod's for an
/// application container, [`init_policy`] for a regular init container, `Always` for a
/// sidecar whatever the pod's.
pub fn container_policy(pod: &Pod, c: &Container, is_init: bool) -> RestartPolicy {
    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    match (is_init, is_sidecar(c)) {
        (false, _) => policy,
        (true, true) => RestartPolicy::Always,
        (true, false) => init_policy(policy),
    }
}

/// Whether a sidecar has started: running, its startup probe (if any) succeeded (its
/// `postStart` hook ran before it was seen running).
fn sidecar_started(c: &Container, observed: &Observed, memory: &Memory) -> bool {
    observed
        .latest(&c.name)
        .is_some_and(|l| l.state == RunState::Running && started(c, &l.id, memory))
}

/// Whether an application container of `pod` was ever created: the pod was
/// initialised, so a sidecar that restarts since holds nothing back (Kubernetes'
/// `podHasInitialized`). Kubernetes counts only a running or created one, because a
/// new sandbox runs the init containers again; here a completed init container stays
/// completed (its exit is kept), so an exited application container counts too and a
/// finished pod's stopped sidecars are not waited for.
pub fn has_initialized(pod: &Pod, observed: &Observed) -> bool {
    pod.spec
        .containers
        .iter()
        .any(|c| observed.latest(&c.name).is_some())
}

/// Where the init containers of `pod` stand, from what the runtime shows: in order, a
/// regular one must have exited successfully and a sidecar must have started before
/// the next one runs (Kubernetes' `computeInitContainerActions`).
pub fn init_progress(pod: &Pod, observed: &Observed, memory: &Memory) -> InitProgress {
    let policy = init_policy(pod.spec.restart_policy.unwrap_or(RestartPolicy::Always));
    let initialized = has_initialized(pod, observed);
    for (i, c) in pod.spec.init_containers.iter().enumerate() {
        if is_sidecar(c) {
            if initialized || sidecar_started(c, observed, memory) {
                continue;
            }
            return InitProgress::At(i);
        }
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

/// Whether `pod` is done on this node: an init container failed for good, or every
/// application container exited for good. Its sidecars are then stopped (not
/// restarted), then its sandbox; its phase follows the application containers only.
pub fn pod_finished(
    pod: &Pod,
    init: &InitProgress,
    observed: &Observed,
    memory: &Memory,
    now: Instant,
) -> bool {
    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    matches!(init, InitProgress::Failed(_))
        || !pod.spec.containers.is_empty()
            && *init == InitProgress::Done
            && pod.spec.containers.iter().all(|c| {
                let history = observed
                    .containers
                    .get(&c.name)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                container_step(&c.name, policy, history, memory, now) == ContainerStep::Finished
            })
}

/// The running containers of `pod` in the order they are stopped: application (and
/// regular init) containers first, then the sidecars in the reverse of their
/// declaration order, as Kubernetes stops them. The flag says which are sidecars.
pub fn stop_order<'a>(pod: &Pod, observed: &'a Observed) -> Vec<(&'a ContainerInfo, bool)> {
    let sidecars: Vec<&str> = pod
        .spec
        .init_containers
        .iter()
        .filter(|c| is_sidecar(c))
        .map(|c| c.name.as_str())
        .collect();
    let running = |name: &str| {
        observed
            .containers
            .get(name)
            .into_iter()
            .flatten()
            .filter(|c| c.state == RunState::Running)
    };
    let mut order: Vec<(&ContainerInfo, bool)> = observed
        .containers
        .iter()
        .filter(|(name, _)| !sidecars.contains(&name.as_str()))
        .flat_map(|(name, _)| running(name.as_str()))
        .map(|c| (c, false))
        .collect();
    for name in sidecars.iter().rev() {
        order.extend(running(name).map(|c| (c, true)));
    }
    order
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

    // A failed pod: every running container is stopped (its preStop hook first; the
    // sidecars last, in reverse order), then the sandbox; nothing starts again.
    if memory.pod_failure.is_some() {
        let running = stop_order(pod, observed);
        for (c, _) in &running {
            actions.push(Action::KillContainer {
                id: c.id.clone(),
                name: c.label(labels::CONTAINER_NAME).to_owned(),
                grace: grace_period(pod),
                reason: "the pod failed".into(),
            });
        }
        if running.is_empty() {
            if let Some(s) = observed.sandbox().filter(|s| s.state == RunState::Running) {
                actions.push(Action::KillContainer {
                    id: s.id.clone(),
                    name: String::new(),
                    grace: Duration::ZERO,
                    reason: "pod failed".into(),
                });
            }
        } else {
            wake(now);
        }
        return Plan {
            actions,
            wake_at,
            done: false,
        };
    }

    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    // A finished pod (every container exited for good) needs its sidecars and sandbox
    // no more: the sidecars are stopped, last declared first, then the sandbox, as
    // Kubernetes stops a terminal pod; nothing is re-created. Its containers are kept
    // for their logs and exit codes until the pod is deleted.
    let init = init_progress(pod, observed, memory);
    if pod_finished(pod, &init, observed, memory, now) {
        let sidecars = stop_order(pod, observed);
        for (c, _) in &sidecars {
            actions.push(Action::KillContainer {
                id: c.id.clone(),
                name: c.label(labels::CONTAINER_NAME).to_owned(),
                grace: grace_period(pod),
                reason: "the pod's containers finished".into(),
            });
        }
        if !sidecars.is_empty() {
            // The sandbox goes in the next round, once they are seen stopped.
            wake(now);
        } else if let Some(s) = observed.sandbox().filter(|s| s.state == RunState::Running) {
            actions.push(Action::KillContainer {
                id: s.id.clone(),
                name: String::new(),
                grace: Duration::ZERO,
                reason: "pod finished".into(),
            });
        }
        return Plan {
            actions,
            wake_at,
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

    // Init containers, in order, before any application container. The sidecars that
    // started keep running beside what follows them: restarted whatever the pod's
    // policy (with the crash-loop back-off), their probes run.
    let reached = match init {
        InitProgress::At(i) => i,
        _ => pod.spec.init_containers.len(),
    };
    for c in pod.spec.init_containers[..reached]
        .iter()
        .filter(|c| is_sidecar(c))
    {
        if let Some(id) = plan_container(
            &c.name,
            RestartPolicy::Always,
            observed,
            memory,
            now,
            &mut actions,
            &mut wake,
        ) {
            plan_probes(pod, c, &id, memory, now, &mut actions, &mut wake);
        }
    }
    if let InitProgress::At(i) = init {
        let c = &pod.spec.init_containers[i];
        // A regular one's exit wakes the worker (it has no probes); a sidecar's startup
        // probe says when it has started.
        let running = plan_container(
            &c.name,
            container_policy(pod, c, true),
            observed,
            memory,
            now,
            &mut actions,
            &mut wake,
        );
        if let Some(id) = running.filter(|_| is_sidecar(c)) {
            plan_probes(pod, c, &id, memory, now, &mut actions, &mut wake);
        }
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
            plan_probes(pod, c, &id, memory, now, &mut actions, &mut wake);
        }
    }
    Plan {
        actions,
        wake_at,
        done: false,
    }
}

fn plan_probes(
    pod: &Pod,
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
                grace: probe_kill_grace(pod, p),
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

#[cfg(test)]
mod tests;
