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
//! - [`plan`](fn@plan) adds the pod level (sandbox missing or dead, pod deleted) and
//!   turns steps into [`Action`]s plus the instant to look again. Back-off is a value in
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
//! | a ConfigMap or Secret missing (env, volume files) | per container, the same values | `CreateContainerConfigError` and `Failed`; `ContainerCreating` and `FailedMount` |
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
//! The code is split along what it holds: [`plan`](mod@plan) decides (pure), [`status`]
//! builds the pod status (pure), [`spec`] turns a pod's containers and volumes into
//! runtime specs (pure), and [`runner`] is the task that observes, applies and reports.
//!
//! A container's environment and the files of its pod's configMap, secret,
//! downwardAPI and projected volumes come from [`crate::kubelet::podconfig`]; the files
//! are written before the first container starts and again every [`FILES_RESYNC`], so
//! edits reach running pods within about that period (see [`volume_plan`]).
//!
//! A pod the node cannot run ([`crate::kubelet::security::admit`]) or one past its
//! `activeDeadlineSeconds` fails for good (`Memory::pod_failure`): phase `Failed` with
//! the reason and message, its containers stopped (preStop hooks first), nothing
//! restarted. Lifecycle hooks and termination messages are
//! [`crate::kubelet::lifecycle`]'s; each container gets the pod's `/etc/hosts` and
//! `resolv.conf` ([`crate::kubelet::dns`]) and its own termination message file.
//!
//! Sidecars (init containers with `restartPolicy: Always`) follow Kubernetes: each
//! starts in its turn among the init containers and the next one starts once it has
//! *started* (running, its startup probe passed, its `postStart` hook done); then it
//! runs beside the application containers, restarted whatever the pod's policy (with
//! the crash-loop back-off), its probes running; it counts for the pod's readiness
//! ([`compute_status`]). A pod whose application containers have all finished for
//! good stops its sidecars, last declared first, and its phase follows the
//! application containers only; a deleted pod stops its application containers
//! first, then its sidecars in reverse order, within the one grace period
//! ([`stop_order`]). A container killed for a failed liveness or startup probe gets
//! the probe's `terminationGracePeriodSeconds`, else the pod's ([`probe_kill_grace`]).
//!
//! Not done: ephemeral containers, pod-level resource limits.

use std::time::Duration;

use crate::retry::Retry;

pub mod plan;
pub mod runner;
pub mod spec;
pub mod status;

pub use plan::*;
pub use runner::*;
pub use spec::*;
pub use status::*;

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
/// How often a running pod's configMap, secret, downwardAPI and projected volume files
/// are written again from fresh objects (the kubelet's sync period for them): a round
/// sooner than this (a probe's) reads nothing.
pub const FILES_RESYNC: Duration = RESYNC;
/// The waiting reason of containers whose pod has no sandbox for a failure (the
/// kubelet's `ErrCreatePodSandbox`).
pub const SANDBOX_ERROR_REASON: &str = "CreatePodSandboxError";
/// Rounds after a failed runtime call or status write: 1 s doubling to [`RESYNC`].
pub const ROUND_RETRY: Retry = Retry::new(Duration::from_secs(1), RESYNC);
/// The status reason of a pod past its `activeDeadlineSeconds`.
pub const DEADLINE_REASON: &str = "DeadlineExceeded";
/// The status message of a pod past its `activeDeadlineSeconds` (Kubernetes' words).
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";
/// Grace period when the pod says nothing.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

#[cfg(test)]
mod fixtures;
