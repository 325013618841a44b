//! The pod worker task: each round observes the runtime, calls [`plan`](fn@plan) and
//! [`compute_status`], applies the actions to the runtime and reports through its
//! [`PodSink`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rudder_protocol::resources::{
    ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, PodStatus, PullPolicy,
    Secret, SecurityContext, TerminationMessagePolicy, Time,
};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::retry::{LogLimiter, Retry};

use crate::kubelet::atomic_writer;
use crate::kubelet::images::SandboxImage;
use crate::kubelet::podconfig::{self, FieldContext, Objects, References};
use crate::kubelet::probe::{self, ProbeKind, ProbeState, Timing};
use crate::kubelet::runtime::{
    labels, ContainerInfo, ContainerRuntime, ContainerSpec, RegistryAuth, RunState, RuntimeError,
    SandboxSpec,
};
use crate::kubelet::{dns, lifecycle, security};

use super::*;

/// What the log calls a failed status write.
const STATUS_FAILED: &str = "pod status update failed";
/// What the log calls a failed sandbox creation.
const SANDBOX_FAILED: &str = "pod sandbox creation failed; backing off";

/// Where a worker reports (the pod's status, events, and the end of a deletion) and
/// what it reads besides its pod (the ConfigMaps and Secrets the pod refers to). The
/// kubelet implements it over the API; tests record.
pub trait PodSink: Send + Sync + 'static {
    /// ConfigMap `name` in `namespace`; `Ok(None)` when it does not exist.
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<ConfigMap>, String>>;
    /// Secret `name` in `namespace`; `Ok(None)` when it does not exist.
    fn secret(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<Secret>, String>>;
    /// PersistentVolumeClaim `name` in `namespace`; `Ok(None)` when it does not exist.
    fn persistent_volume_claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<PersistentVolumeClaim>, String>>;
    /// PersistentVolume `name`; `Ok(None)` when it does not exist.
    fn persistent_volume(
        &self,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<PersistentVolume>, String>>;
    /// Writes the pod's status.
    fn set_status(&self, pod: &Pod, status: PodStatus) -> BoxFuture<'_, Result<(), String>>;
    /// Records an event about the pod (`type_` is `Normal` or `Warning`); best effort.
    fn event(&self, pod: &Pod, type_: &str, reason: &str, message: String);
    /// Deletes the pod object for good (grace period 0) once its containers are gone.
    fn finish_deletion(&self, pod: &Pod) -> BoxFuture<'_, Result<(), String>>;
    /// The Services' environment variables for the pod ([`podconfig::service_env`]).
    fn service_env(&self, pod: &Pod) -> Vec<(String, String)> {
        let _ = pod;
        Vec::new()
    }
    /// A token of the pod's service account as `spec` asks, bound to the pod, and how
    /// long it stays valid. Sinks that issue none refuse.
    fn service_account_token(
        &self,
        pod: &Pod,
        spec: &podconfig::TokenSpec,
    ) -> BoxFuture<'_, Result<(String, Duration), String>> {
        let _ = (pod, spec);
        Box::pin(async { Err("this node issues no service account tokens".to_owned()) })
    }
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
    /// Where the files of pods' configMap, secret, downwardAPI and projected volumes are
    /// written (see [`projected_dir`]); an absolute path the runtime can bind.
    pub pods_dir: PathBuf,
    /// The node's settings that shape pods.
    pub options: Arc<PodOptions>,
}

/// The node's settings that shape its pods (from the `[kubelet]` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodOptions {
    /// Cluster DNS addresses for `ClusterFirst` pods; empty: they fall back to the
    /// host's resolver, with a `MissingClusterDNS` event.
    pub cluster_dns: Vec<String>,
    /// The cluster's DNS domain.
    pub cluster_domain: String,
    /// The host's resolver configuration (the `Default` DNS policy).
    pub host_resolv_conf: PathBuf,
    /// The host's hosts file (pods on the host's network).
    pub host_hosts: PathBuf,
    /// The PID limit of each container; `None`: unlimited.
    pub pod_pids_limit: Option<i64>,
    /// Where `Localhost` seccomp profiles are (`<root_dir>/seccomp`).
    pub seccomp_dir: PathBuf,
    /// What the host can enforce.
    pub host: crate::kubelet::security::HostFeatures,
}

impl Default for PodOptions {
    fn default() -> Self {
        PodOptions {
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            host_resolv_conf: "/etc/resolv.conf".into(),
            host_hosts: "/etc/hosts".into(),
            pod_pids_limit: None,
            seccomp_dir: std::env::temp_dir().join("rudder-seccomp"),
            host: Default::default(),
        }
    }
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
    /// The pod's volume files were written once: later rounds keep them current.
    files_written: bool,
    /// When the volume files were last written from fresh objects.
    files_synced: Option<Instant>,
    /// The service-account tokens of the pod's projected volumes, with when each is
    /// renewed (at 80% of its lifetime, as Kubernetes' token manager does).
    tokens: BTreeMap<podconfig::TokenSpec, (String, Instant)>,
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
            files_written: false,
            files_synced: None,
            tokens: BTreeMap::new(),
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
        let deadline = match pod.filter(|p| p.metadata.deletion_timestamp.is_none()) {
            Some(p) => self.check_failure(p),
            None => None,
        };
        if let Some(p) = pod.or(last_pod) {
            self.collect_messages(p, &observed).await;
        }
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
            let observed = self.observe().await?;
            // A container that exited at once reports its message in this status.
            if let Some(p) = pod.or(last_pod) {
                self.collect_messages(p, &observed).await;
            }
            observed
        } else {
            observed
        };
        if let Some(pod) = pod.filter(|p| p.metadata.deletion_timestamp.is_none()) {
            let due = self
                .files_synced
                .is_none_or(|t| t.elapsed() >= FILES_RESYNC);
            if self.files_written && due {
                // A changed ConfigMap or Secret reaches the files within a resync (and
                // rounds run for probes are not a reason to read the objects again).
                let pod_ip = self.memory.pod_ip.clone().unwrap_or_default();
                if let Err(e) = self.write_volume_files(pod, &pod_ip).await {
                    self.warn_limited("volume files refresh failed", &e);
                }
            }
        }
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
        if let Some(d) = deadline {
            wake_at = wake_at.min(d);
        }
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

    /// Rejects the pod when the node cannot run it ([`security::admit`]) or when it has
    /// been active longer than its `activeDeadlineSeconds`; returns when the deadline
    /// falls, to look again then.
    fn check_failure(&mut self, pod: &Pod) -> Option<Instant> {
        if self.memory.pod_failure.is_some() {
            return None;
        }
        if let Err(r) = security::admit(pod, &self.node.options.host) {
            tracing::info!(pod = %self.key, reason = %r.reason, message = %r.message, "pod rejected");
            self.sink
                .event(pod, "Warning", &r.reason, r.message.clone());
            self.memory.pod_failure = Some((r.reason, r.message));
            return None;
        }
        let secs = pod.spec.active_deadline_seconds?;
        let start = pod.status.start_time.or(self.memory.start_time)?;
        let elapsed = Time::now().unix() - start.unix();
        if elapsed >= secs {
            let message = DEADLINE_MESSAGE.to_owned();
            self.sink
                .event(pod, "Warning", DEADLINE_REASON, message.clone());
            self.memory.pod_failure = Some((DEADLINE_REASON.into(), message));
            return None;
        }
        Some(Instant::now() + Duration::from_secs((secs - elapsed) as u64))
    }

    /// Reads the termination message of every container seen exited for the first time
    /// (see [`lifecycle::termination_message`]).
    async fn collect_messages(&mut self, pod: &Pod, observed: &Observed) {
        for c in observed.containers.values().flatten() {
            if c.state != RunState::Exited || self.memory.messages.contains_key(&c.id) {
                continue;
            }
            let name = c.label(labels::CONTAINER_NAME);
            let policy = pod
                .spec
                .containers
                .iter()
                .chain(&pod.spec.init_containers)
                .find(|s| s.name == name)
                .and_then(|s| s.termination_message_policy)
                .unwrap_or(TerminationMessagePolicy::File);
            let file =
                lifecycle::termination_log_path(&self.node.pods_dir, &self.uid, name, c.attempt());
            let message = lifecycle::termination_message(&*self.runtime, c, &file, policy).await;
            self.memory.messages.insert(c.id.clone(), message);
        }
        let ids: std::collections::BTreeSet<&str> = observed.all().map(|c| c.id.as_str()).collect();
        self.memory
            .messages
            .retain(|id, _| ids.contains(id.as_str()));
    }

    /// Runs container `name`'s `preStop` hook, if it has one, within `grace`; returns
    /// the grace left for the stop (the stop itself never gets less than
    /// [`lifecycle::MIN_GRACE`]).
    async fn pre_stop(
        &self,
        pod: &Pod,
        name: &str,
        id: &str,
        grace: Duration,
        pod_ip: &str,
    ) -> Duration {
        let Some(c) = pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .find(|c| c.name == name)
        else {
            return grace;
        };
        let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else {
            return grace;
        };
        if grace.is_zero() {
            return grace;
        }
        let ports = container_ports(c);
        let target = lifecycle::HookTarget {
            container_id: id,
            container: name,
            pod: &security::pod_desc(pod),
            pod_ip,
            ports: &ports,
        };
        let started = Instant::now();
        match tokio::time::timeout(
            grace,
            lifecycle::run_hook(&*self.runtime, hook, &target, grace),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::info!(pod = %self.key, container = %name, error = %e, "preStop hook failed");
                // As Kubernetes: the message stays out of the event (it may hold secrets).
                self.sink.event(
                    pod,
                    "Warning",
                    "FailedPreStopHook",
                    "PreStopHook failed".into(),
                );
            }
            Err(_) => {
                tracing::info!(pod = %self.key, container = %name, ?grace,
                    "preStop hook not completed in grace period");
            }
        }
        grace.saturating_sub(started.elapsed())
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
                let mut grace = *grace;
                if let Some(pod) = pod.or(last_pod) {
                    if !name.is_empty() {
                        self.sink.event(
                            pod,
                            "Normal",
                            "Killing",
                            format!("Stopping container {name}: {reason}"),
                        );
                        let pod_ip = self.pod_ip(pod, observed);
                        grace = self.pre_stop(pod, name, id, grace, &pod_ip).await;
                    }
                }
                match rt.stop_container(id, lifecycle::stop_grace(grace)).await {
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
                // A new verdict is acted on at once (a sidecar started: the next init
                // container; a liveness failure: the restart), as a result the
                // kubelet's probe managers report triggers a pod sync.
                self.probe(pod, id, name, *kind, observed).await
            }
            Action::Terminate { grace } => {
                tracing::info!(pod = %self.key, grace_seconds = grace.as_secs(),
                    gone = pod.is_none(), "stopping the pod's containers");
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
        let names = dns::hostname_and_domain(pod, &self.node.options.cluster_domain);
        let (hostname, domainname) = names.clone().unwrap_or_default();
        let sysctls = pod
            .spec
            .security_context
            .iter()
            .flat_map(|p| &p.sysctls)
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect();
        let spec = SandboxSpec {
            name: container_name(pod, None, attempt),
            image: self.node.sandbox_image.reference().to_owned(),
            command: crate::kubelet::images::SANDBOX_COMMAND
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            hostname,
            domainname,
            network: if pod.spec.host_network {
                "host".into()
            } else {
                self.node.network.clone()
            },
            ipc_mode: if pod.spec.host_ipc {
                "host".into()
            } else {
                "shareable".into()
            },
            sysctls,
            labels,
        };
        let now = Instant::now();
        let image_seen = self.node.sandbox_image.appeared();
        let mut created = false;
        let result: Result<(), String> = async {
            names.map(|_| ())?;
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

    /// A container that cannot be created as its spec says: `CreateContainerConfigError`
    /// with `message`, a `Failed` event, and the start back-off.
    fn config_error(&mut self, pod: &Pod, name: &str, message: String, now: Instant) {
        self.sink
            .event(pod, "Warning", "Failed", format!("Error: {message}"));
        self.memory.errors.insert(
            name.to_owned(),
            ("CreateContainerConfigError".into(), message),
        );
        self.hold_start(name, now);
    }

    /// Runs container `c`'s `postStart` hook; a failure is the `FailedPostStartHook`
    /// event and the container killed (its restart policy decides what follows).
    async fn post_start(
        &mut self,
        pod: &Pod,
        c: &Container,
        id: &str,
        hook: &rudder_protocol::resources::LifecycleHandler,
        pod_ip: &str,
    ) {
        let ports = container_ports(c);
        let desc = security::pod_desc(pod);
        let target = lifecycle::HookTarget {
            container_id: id,
            container: &c.name,
            pod: &desc,
            pod_ip,
            ports: &ports,
        };
        let timeout = lifecycle::POST_START_TIMEOUT;
        let result = match tokio::time::timeout(
            timeout,
            lifecycle::run_hook(&*self.runtime, hook, &target, timeout),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(format!(
                "PostStartHook for Container \"{}\" in Pod \"{desc}\" did not finish within {timeout:?}",
                c.name
            )),
        };
        let Err(message) = result else { return };
        self.sink
            .event(pod, "Warning", "FailedPostStartHook", message);
        self.sink.event(
            pod,
            "Normal",
            "Killing",
            format!("FailedPostStartHook: stopping container {}", c.name),
        );
        let grace = self
            .pre_stop(pod, &c.name, id, grace_period(pod), pod_ip)
            .await;
        if let Err(e) = self
            .runtime
            .stop_container(id, lifecycle::stop_grace(grace))
            .await
        {
            self.note_failure("container stop failed", &e);
        }
    }

    /// The pod's IP: the node's for a pod on the host's network, else its sandbox's.
    fn pod_ip(&self, pod: &Pod, observed: &Observed) -> String {
        if pod.spec.host_network {
            return self.node.host_ip.clone();
        }
        observed
            .sandbox()
            .and_then(|s| s.ip.clone())
            .or_else(|| self.memory.pod_ip.clone())
            .unwrap_or_default()
    }

    /// Writes the pod's `/etc/hosts` and `resolv.conf` and container `c`'s empty
    /// termination message file for attempt `attempt` (see [`pod_file_mounts`]).
    async fn write_pod_files(
        &mut self,
        pod: &Pod,
        c: &Container,
        attempt: u32,
        pod_ip: &str,
    ) -> Result<(), String> {
        let opts = self.node.options.clone();
        let host_resolv = std::fs::read_to_string(&opts.host_resolv_conf).unwrap_or_default();
        let host_hosts = std::fs::read_to_string(&opts.host_hosts).unwrap_or_default();
        let decision = dns::resolv_conf(
            pod,
            &dns::ResolvConf::parse(&host_resolv),
            &opts.cluster_dns,
            &opts.cluster_domain,
        );
        if let Some(message) = decision.missing_cluster_dns {
            self.sink
                .event(pod, "Warning", "MissingClusterDNS", message);
        }
        let hosts = dns::render_hosts(pod, pod_ip, &opts.cluster_domain, &host_hosts);
        let uid = pod.metadata.uid.clone();
        let dir = self.node.pods_dir.clone();
        let log = lifecycle::termination_log_path(&dir, &uid, &c.name, attempt);
        let resolv = decision.conf.render();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(dir.join(&uid))?;
            write_if_changed(&hosts_path(&dir, &uid), hosts.as_bytes())?;
            write_if_changed(&resolv_conf_path(&dir, &uid), resolv.as_bytes())?;
            lifecycle::create_termination_log(&log)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("failed to write the pod's files: {e}"))
    }

    /// The credentials of the pod's `imagePullSecrets` for `image`'s registry.
    async fn pull_auth(&self, pod: &Pod, image: &str) -> Option<RegistryAuth> {
        for r in &pod.spec.image_pull_secrets {
            let Ok(Some(secret)) = self.sink.secret(&pod.metadata.namespace, &r.name).await else {
                tracing::debug!(pod = %self.key, secret = %r.name, "image pull secret not found");
                continue;
            };
            if let Some(auth) = registry_auth(&secret, image) {
                return Some(auth);
            }
        }
        None
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
        &mut self,
        pod: &Pod,
        c: &Container,
        spec: &mut ContainerSpec,
        pod_ip: &str,
        env: &[String],
    ) -> Result<(), String> {
        let claims = self.resolve_claims(pod, c).await?;
        let (volumes, mounts) =
            volume_plan_with_claims(pod, c, &self.node.node, &self.node.pods_dir, env, &claims)?;
        self.write_volume_files(pod, pod_ip).await?;
        let fs_group = fs_group(pod);
        if let Some(gid) = fs_group {
            self.own_claim_dirs(pod, &claims, gid).await;
        }
        for v in &volumes {
            let failed = |e: &dyn std::fmt::Display| {
                format!("MountVolume.SetUp failed for volume \"{}\": {e}", v.name)
            };
            self.runtime
                .ensure_volume(v)
                .await
                .map_err(|e| failed(&e))?;
            // fsGroup owns the pod's emptyDirs, where the runtime says where they are.
            if let Some(gid) = fs_group {
                if let Some(path) = self
                    .runtime
                    .volume_path(&v.name)
                    .await
                    .map_err(|e| failed(&e))?
                {
                    // The engine's host path may not be this process's (a kubelet in a
                    // container): then the volume keeps the engine's ownership, and the
                    // event says so rather than the pod never starting.
                    let shown = path.clone();
                    let policy = pod
                        .spec
                        .security_context
                        .as_ref()
                        .and_then(|p| p.fs_group_change_policy);
                    let owned = tokio::task::spawn_blocking(move || {
                        let path = Path::new(&path);
                        if security::volume_ownership_needed(path, gid, false, policy)? {
                            security::set_volume_ownership(path, gid, false)?;
                        }
                        Ok::<(), std::io::Error>(())
                    })
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                    if let Err(e) = owned {
                        self.sink.event(
                            pod,
                            "Warning",
                            "FailedMount",
                            format!(
                                "fsGroup {gid} could not be applied to volume \"{}\" at {shown}: {e}",
                                v.name
                            ),
                        );
                    }
                }
            }
        }
        spec.mounts = mounts;
        Ok(())
    }

    /// The node directory of each `persistentVolumeClaim` volume container `c` mounts:
    /// claim, then its bound volume, then that volume's `local` or `hostPath` path. A
    /// claim that is missing or not bound yet keeps the container waiting (Kubernetes'
    /// volume manager words).
    async fn resolve_claims(
        &self,
        pod: &Pod,
        c: &Container,
    ) -> Result<BTreeMap<String, String>, String> {
        let ns = &pod.metadata.namespace;
        let mut out = BTreeMap::new();
        for v in &pod.spec.volumes {
            let Some(source) = &v.persistent_volume_claim else {
                continue;
            };
            if !c.volume_mounts.iter().any(|m| m.name == v.name) {
                continue;
            }
            let name = &source.claim_name;
            let claim = self
                .sink
                .persistent_volume_claim(ns, name)
                .await
                .map_err(|e| format!("error processing PVC {ns}/{name}: {e}"))?
                .ok_or_else(|| {
                    format!("error processing PVC {ns}/{name}: failed to fetch PVC from API server: persistentvolumeclaims \"{name}\" not found")
                })?;
            if claim.spec.volume_name.is_empty() || !claim.is_bound() {
                return Err(format!(
                    "error processing PVC {ns}/{name}: PVC is not bound"
                ));
            }
            let pv_name = &claim.spec.volume_name;
            let pv = self
                .sink
                .persistent_volume(pv_name)
                .await
                .map_err(|e| format!("error processing PVC {ns}/{name}: {e}"))?
                .ok_or_else(|| {
                    format!("error processing PVC {ns}/{name}: persistentvolumes \"{pv_name}\" not found")
                })?;
            let Some(path) = pv.node_path() else {
                return Err(format!(
                    "MountVolume.SetUp failed for volume \"{pv_name}\": the volume's source is not one this node mounts (local or hostPath)"
                ));
            };
            out.insert(v.name.clone(), path.to_owned());
        }
        Ok(out)
    }

    /// Gives the directories of the pod's claims to its `fsGroup`, as the kubelet does
    /// for volumes that support ownership management; a failure is an event, not a
    /// pod that never starts.
    async fn own_claim_dirs(&self, pod: &Pod, claims: &BTreeMap<String, String>, gid: u32) {
        let policy = pod
            .spec
            .security_context
            .as_ref()
            .and_then(|p| p.fs_group_change_policy);
        for (volume, dir) in claims {
            let path = PathBuf::from(dir);
            let owned = tokio::task::spawn_blocking(move || {
                if security::volume_ownership_needed(&path, gid, false, policy)? {
                    security::set_volume_ownership(&path, gid, false)?;
                }
                Ok::<(), std::io::Error>(())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
            if let Err(e) = owned {
                self.sink.event(
                    pod,
                    "Warning",
                    "FailedMount",
                    format!(
                        "fsGroup {gid} could not be applied to volume \"{volume}\" at {dir}: {e}"
                    ),
                );
            }
        }
    }

    /// Fetches the ConfigMaps and Secrets `refs` names from the pod's namespace.
    async fn fetch(&self, pod: &Pod, refs: &References) -> Result<Objects, String> {
        let ns = &pod.metadata.namespace;
        let mut objects = Objects::default();
        for name in &refs.config_maps {
            let cm = self.sink.config_map(ns, name).await?;
            objects.config_maps.insert(name.clone(), cm);
        }
        for name in &refs.secrets {
            let s = self.sink.secret(ns, name).await?;
            objects.secrets.insert(name.clone(), s);
        }
        Ok(objects)
    }

    /// The tokens the pod's projected volumes need, renewing those past 80% of their
    /// lifetime (a renewal that fails keeps the old token while it is still valid).
    async fn current_tokens(
        &mut self,
        pod: &Pod,
    ) -> Result<BTreeMap<podconfig::TokenSpec, String>, String> {
        let specs = podconfig::token_specs(pod);
        self.tokens.retain(|spec, _| specs.contains(spec));
        let now = Instant::now();
        for spec in specs {
            let due = self
                .tokens
                .get(&spec)
                .is_none_or(|(_, renew)| now >= *renew);
            if !due {
                continue;
            }
            match self.sink.service_account_token(pod, &spec).await {
                Ok((token, valid_for)) => {
                    let renew = now + valid_for.mul_f64(0.8);
                    self.tokens.insert(spec, (token, renew));
                }
                // The old token is kept until the API answers again; the round retries.
                Err(e) if self.tokens.contains_key(&spec) => {
                    tracing::warn!(pod = %self.key, error = %e, "service account token renewal failed");
                }
                Err(e) => return Err(format!("failed to fetch token: {e}")),
            }
        }
        Ok(self
            .tokens
            .iter()
            .map(|(spec, (token, _))| (spec.clone(), token.clone()))
            .collect())
    }

    fn field_context(&self, pod_ip: &str) -> FieldContext {
        FieldContext {
            pod_ip: pod_ip.to_owned(),
            host_ip: self.node.host_ip.clone(),
            capacity: crate::kubelet::host_capacity(),
        }
    }

    /// Writes the files of the pod's configMap, secret, downwardAPI and projected
    /// volumes (unchanged files are not touched); the error is Kubernetes'
    /// `MountVolume.SetUp failed` message for the first volume that cannot be written.
    async fn write_volume_files(&mut self, pod: &Pod, pod_ip: &str) -> Result<(), String> {
        if !pod.spec.volumes.iter().any(podconfig::is_projected) {
            return Ok(());
        }
        let mut objects = self
            .fetch(pod, &References::of(pod, false, true))
            .await
            .map_err(|e| format!("MountVolume.SetUp failed: {e}"))?;
        objects.tokens = self
            .current_tokens(pod)
            .await
            .map_err(|e| format!("MountVolume.SetUp failed: {e}"))?;
        let ctx = self.field_context(pod_ip);
        let pods_dir = self.node.pods_dir.clone();
        // Secrets are among the files: other users of the host do not look in.
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(&pods_dir)?;
            std::fs::set_permissions(&pods_dir, std::fs::Permissions::from_mode(0o700))
        })
        .await
        .map_err(|e| format!("MountVolume.SetUp failed: {e}"))?
        .map_err(|e| format!("MountVolume.SetUp failed: {e}"))?;
        for v in &pod.spec.volumes {
            let Some(payload) = podconfig::volume_payload(pod, v, &objects, &ctx) else {
                continue;
            };
            let failed = |e: &dyn std::fmt::Display| {
                format!("MountVolume.SetUp failed for volume \"{}\" : {e}", v.name)
            };
            let payload = payload.map_err(|e| failed(&e))?;
            let dir = projected_dir(&self.node.pods_dir, &pod.metadata.uid, &v.name);
            let gid = fs_group(pod);
            let written = tokio::task::spawn_blocking(move || {
                let written = atomic_writer::write(&dir, &payload)?;
                if let Some(gid) = gid {
                    security::set_volume_ownership(&dir, gid, true)?;
                }
                Ok::<bool, std::io::Error>(written)
            })
            .await
            .map_err(|e| failed(&e))?
            .map_err(|e| failed(&e))?;
            if written && self.files_written {
                tracing::debug!(pod = %self.key, volume = %v.name, "volume files updated");
            }
        }
        self.files_written = true;
        self.files_synced = Some(Instant::now());
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
            let auth = self.pull_auth(pod, &c.image).await;
            match self.runtime.pull_image_with(&c.image, auth).await {
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
        let pod_ip = if pod.spec.host_network {
            self.node.host_ip.clone()
        } else {
            sandbox.ip.clone().unwrap_or_default()
        };
        // The environment first (a subPathExpr expands it), reported after the volumes.
        let refs = References::of(pod, true, false);
        let env = self.fetch(pod, &refs).await.and_then(|mut objects| {
            objects.service_env = self.sink.service_env(pod);
            podconfig::resolve_env(pod, c, &objects, &self.field_context(&pod_ip))
        });
        let vars = env.as_ref().map(|e| e.vars.clone()).unwrap_or_default();
        let mut spec = container_spec(pod, c, attempt, &sandbox.id, &self.node, Vec::new());
        if let Err(message) = self.mount_volumes(pod, c, &mut spec, &pod_ip, &vars).await {
            // As in Kubernetes: the pod waits in ContainerCreating, the event says why.
            self.sink
                .event(pod, "Warning", "FailedMount", message.clone());
            self.memory
                .errors
                .insert(c.name.clone(), ("ContainerCreating".into(), message));
            self.hold_start(&c.name, now);
            return false;
        }
        let env = match env {
            Ok(env) => env,
            Err(message) => {
                self.config_error(pod, &c.name, message, now);
                return false;
            }
        };
        for warning in env.warnings {
            self.sink
                .event(pod, "Warning", "InvalidEnvironmentVariableNames", warning);
        }
        spec.env = env.vars;
        // The security context: runAsNonRoot is checked against the image's user when
        // the pod names none.
        let csc = c.security_context.as_ref();
        let psc = pod.spec.security_context.as_ref();
        let needs_image_user = SecurityContext::run_as_user_in(csc, psc).is_none()
            && (SecurityContext::run_as_non_root_in(csc, psc)
                || SecurityContext::run_as_group_in(csc, psc).is_some());
        let image_user = if needs_image_user {
            match self.runtime.image_user(&c.image).await {
                Ok(u) => u,
                Err(e) => {
                    self.config_error(pod, &c.name, e.to_string(), now);
                    return false;
                }
            }
        } else {
            String::new()
        };
        let opts = self.node.options.clone();
        let checked = security::verify_run_as_non_root(pod, c, &image_user).and_then(|()| {
            security::apply_security(
                pod,
                c,
                &mut spec,
                &image_user,
                &opts.host,
                &opts.seccomp_dir,
            )
        });
        if let Err(message) = checked {
            self.config_error(pod, &c.name, message, now);
            return false;
        }
        if let Err(message) = self.write_pod_files(pod, c, attempt, &pod_ip).await {
            self.config_error(pod, &c.name, message, now);
            return false;
        }
        spec.mounts
            .extend(pod_file_mounts(pod, c, attempt, &self.node.pods_dir));
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
        if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            self.post_start(pod, c, &id, hook, &pod_ip).await;
        }
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

    /// Runs one probe check; true when the probe's verdict changed.
    async fn probe(
        &mut self,
        pod: &Pod,
        id: &str,
        name: &str,
        kind: ProbeKind,
        observed: &Observed,
    ) -> bool {
        let Some(c) = pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .find(|c| c.name == name)
        else {
            return false;
        };
        let Some(p) = probe_of(c, kind) else {
            return false;
        };
        let timing = Timing::of(p, kind);
        let since = self
            .memory
            .running_seen
            .get(id)
            .copied()
            .unwrap_or_else(Instant::now);
        let ports = container_ports(c);
        let pod_ip = self.pod_ip(pod, observed);
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
        state.record(&timing, result, Instant::now())
    }

    async fn terminate(&mut self, pod: Option<&Pod>, grace: Duration, observed: &Observed) {
        // Application containers first, then the sidecars, last declared first
        // (Kubernetes' termination ordering): every preStop hook starts at once, a
        // sidecar's stop waits for its turn, all within the one grace period.
        let order: Vec<(&ContainerInfo, bool)> = match pod {
            Some(p) => stop_order(p, observed),
            None => observed
                .containers
                .values()
                .flatten()
                .filter(|c| c.state == RunState::Running)
                .map(|c| (c, false))
                .collect(),
        };
        if let Some(pod) = pod {
            for (c, _) in &order {
                self.sink.event(
                    pod,
                    "Normal",
                    "Killing",
                    format!("Stopping container {}", c.label(labels::CONTAINER_NAME)),
                );
            }
        }
        let deadline = Instant::now() + grace;
        let pod_ip = pod.map(|p| self.pod_ip(p, observed)).unwrap_or_default();
        let this = &*self;
        let hook = |c: &ContainerInfo| {
            let pod_ip = pod_ip.clone();
            let (name, id) = (c.label(labels::CONTAINER_NAME).to_owned(), c.id.clone());
            async move {
                match pod {
                    Some(p) => this.pre_stop(p, &name, &id, grace, &pod_ip).await,
                    None => grace,
                }
            }
        };
        let mains = order.iter().filter(|(_, sidecar)| !sidecar).map(|(c, _)| {
            let hook = hook(c);
            async move {
                let grace = lifecycle::stop_grace(hook.await);
                this.runtime.stop_container(&c.id, grace).await
            }
        });
        let sidecar_hooks = order
            .iter()
            .filter(|(_, sidecar)| *sidecar)
            .map(|(c, _)| hook(c));
        let (stopped, _) = futures::future::join(
            futures::future::join_all(mains),
            futures::future::join_all(sidecar_hooks),
        )
        .await;
        let mut results = stopped;
        for (c, _) in order.iter().filter(|(_, sidecar)| *sidecar) {
            let left = lifecycle::stop_grace(deadline.saturating_duration_since(Instant::now()));
            results.push(self.runtime.stop_container(&c.id, left).await);
        }
        for r in results {
            if let Err(e) = r {
                self.note_failure("container stop failed", &e);
            }
        }
        for c in observed.all() {
            if let Err(e) = self.runtime.remove_container(&c.id).await {
                self.note_failure("container removal failed", &e);
            }
        }
        // The files of its volumes go with it.
        let files = self.node.pods_dir.join(&self.uid);
        if !self.uid.is_empty() {
            match tokio::task::spawn_blocking(move || std::fs::remove_dir_all(files)).await {
                Ok(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
                    self.note_failure("volume files removal failed", &e);
                }
                _ => {}
            }
        }
        self.files_written = false;
        self.files_synced = None;
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

/// The named ports of container `c`, for probes and hooks.
fn container_ports(c: &Container) -> Vec<(String, i32)> {
    c.ports
        .iter()
        .map(|p| (p.name.clone(), p.container_port))
        .collect()
}

/// The pod's `fsGroup`.
fn fs_group(pod: &Pod) -> Option<u32> {
    pod.spec
        .security_context
        .as_ref()
        .and_then(|p| p.fs_group)
        .and_then(|g| u32::try_from(g).ok())
}

/// Writes `data` to `path` unless it already holds exactly that.
fn write_if_changed(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    std::fs::write(path, data)
}

/// The registry `image` is pulled from, as credentials name it (`docker.io` for
/// Docker Hub's short names).
pub fn image_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// The credentials for `image` in a `kubernetes.io/dockerconfigjson` (or legacy
/// `kubernetes.io/dockercfg`) Secret, when it has some for the image's registry.
pub fn registry_auth(secret: &Secret, image: &str) -> Option<RegistryAuth> {
    use base64::Engine as _;
    let registry = image_registry(image);
    let (doc, nested) = if let Some(d) = secret.data.get(".dockerconfigjson") {
        (d, true)
    } else {
        (secret.data.get(".dockercfg")?, false)
    };
    let json: serde_json::Value = serde_json::from_slice(doc.as_bytes()).ok()?;
    let auths = if nested { json.get("auths")? } else { &json };
    let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    let (server, entry) = auths.as_object()?.iter().find(|(key, _)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        host == registry || (hub.contains(&host) && hub.contains(&registry))
    })?;
    let field = |k: &str| {
        entry
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let (mut username, mut password) = (field("username"), field("password"));
    if username.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(field("auth"))
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        (username, password) = (u.to_owned(), p.to_owned());
    }
    Some(RegistryAuth {
        server: server.clone(),
        username,
        password,
    })
}

#[cfg(test)]
mod tests;
