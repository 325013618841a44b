//! The container runtime seen by the kubelet: the [`ContainerRuntime`] trait, the plain
//! data it takes and returns, and its error type.
//!
//! The trait holds exactly what the pod worker needs (images, the per-node network, pod
//! sandboxes, containers, exec for probes, logs, the event stream, version for node
//! health) and nothing Docker-specific, so that [`super::docker::DockerRuntime`] (real
//! Docker through bollard) and [`super::fake::FakeRuntime`] (deterministic, for tests and
//! simulated nodes) are interchangeable. Methods return boxed futures so the trait can be
//! used as `Arc<dyn ContainerRuntime>`.
//!
//! Every container Rudder creates carries the labels in [`labels`]; they are the only
//! link between a Docker container and its pod, which is what lets a restarted kubelet
//! re-adopt containers instead of starting them twice.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// The label keys on every container Rudder creates.
pub mod labels {
    /// The pod's namespace.
    pub const POD_NAMESPACE: &str = "io.rudder.pod.namespace";
    /// The pod's name.
    pub const POD_NAME: &str = "io.rudder.pod.name";
    /// The pod's uid: a pod deleted and recreated under the same name is another pod.
    pub const POD_UID: &str = "io.rudder.pod.uid";
    /// The container's name in the pod spec; absent on the sandbox.
    pub const CONTAINER_NAME: &str = "io.rudder.container.name";
    /// How many times this container was started before (0 for the first start); the
    /// restart count survives a kubelet restart because it lives here.
    pub const ATTEMPT: &str = "io.rudder.container.attempt";
    /// The node whose kubelet owns the container.
    pub const NODE: &str = "io.rudder.node";
    /// `"sandbox"` or `"container"`.
    pub const KIND: &str = "io.rudder.kind";
}

/// A failed runtime operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime (Docker daemon) cannot be reached at all.
    #[error("container runtime unreachable: {0}")]
    Unreachable(String),
    /// The object (container, image, exec) does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// An image could not be pulled.
    #[error("pull of image {image} failed: {message}")]
    Pull {
        /// The image reference.
        image: String,
        /// The runtime's explanation.
        message: String,
    },
    /// Any other refusal by the runtime.
    #[error("{operation} failed: {message}")]
    Failed {
        /// What was attempted, with the object it concerned.
        operation: String,
        /// The runtime's explanation.
        message: String,
    },
    /// The operation did not finish in time.
    #[error("{operation} timed out")]
    Timeout {
        /// What was attempted.
        operation: String,
    },
}

impl RuntimeError {
    /// True when the object asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound { .. })
    }
}

/// Shorthand for the runtime's results.
pub type RuntimeResult<T> = Result<T, RuntimeError>;

/// The runtime's identity, for nodeInfo and health checks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeVersion {
    /// The engine's version, e.g. `20.10.24`.
    pub version: String,
    /// The API version spoken.
    pub api_version: String,
}

/// The sandbox of one pod: holds the network namespace and the pod IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The Docker container name.
    pub name: String,
    /// The sandbox image.
    pub image: String,
    /// The command that keeps the sandbox alive.
    pub command: Vec<String>,
    /// The pod's hostname.
    pub hostname: String,
    /// The Docker network to attach to (`host` for a pod on the host's network).
    pub network: String,
    /// The pod's domain name (`<subdomain>.<namespace>.svc.<cluster domain>`), when
    /// the pod has a subdomain.
    pub domainname: String,
    /// The IPC namespace: `shareable` (the pod's own, joined by its containers) or
    /// `host`.
    pub ipc_mode: String,
    /// Namespaced sysctls set in the sandbox's namespaces, which the pod's containers
    /// share (network and IPC).
    pub sysctls: BTreeMap<String, String>,
    /// Labels (see [`labels`]).
    pub labels: BTreeMap<String, String>,
}

/// One application container of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// The Docker container name.
    pub name: String,
    /// The image.
    pub image: String,
    /// Replaces the image's entrypoint when not empty (Kubernetes `command`).
    pub entrypoint: Vec<String>,
    /// Replaces the image's cmd when not empty (Kubernetes `args`).
    pub args: Vec<String>,
    /// `NAME=value` pairs.
    pub env: Vec<String>,
    /// The working directory, when set.
    pub working_dir: Option<String>,
    /// CPU limit as a CFS quota in microseconds per [`ContainerSpec::cpu_period`].
    pub cpu_quota: Option<i64>,
    /// The CFS period in microseconds (set with the quota).
    pub cpu_period: Option<i64>,
    /// CPU shares (relative weight, from the CPU request).
    pub cpu_shares: Option<i64>,
    /// Memory limit in bytes.
    pub memory_bytes: Option<i64>,
    /// Memory plus swap in bytes: equal to the memory limit, so no swap.
    pub memory_swap_bytes: Option<i64>,
    /// Most processes (threads) the container may have.
    pub pids_limit: Option<i64>,
    /// The sandbox whose network namespace the container joins.
    pub sandbox_id: String,
    /// Labels (see [`labels`]).
    pub labels: BTreeMap<String, String>,
    /// The pod volumes mounted into the container.
    pub mounts: Vec<Mount>,
    /// The user (and group) the process runs as, `uid[:gid]`; `None`: the image's.
    pub user: Option<String>,
    /// Supplementary groups of the process (numeric gids).
    pub group_add: Vec<String>,
    /// The root filesystem is mounted read-only.
    pub read_only_rootfs: bool,
    /// Every capability and device of the host.
    pub privileged: bool,
    /// Capabilities added to the runtime's default set (`NET_ADMIN`, `ALL`...).
    pub cap_add: Vec<String>,
    /// Capabilities dropped from it.
    pub cap_drop: Vec<String>,
    /// Docker security options: `no-new-privileges`, `seccomp=...`,
    /// `apparmor=...`, `systempaths=unconfined`, `label=...`.
    pub security_opt: Vec<String>,
    /// The PID namespace: `None` (its own), `host`, or `container:<sandbox id>`.
    pub pid_mode: Option<String>,
    /// The IPC namespace: `host` or `container:<sandbox id>`.
    pub ipc_mode: Option<String>,
    /// The signal that asks the container to stop (`SIGTERM` when `None`).
    pub stop_signal: Option<String>,
}

/// Where a container mount comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A runtime volume made by [`ContainerRuntime::ensure_volume`] (emptyDir).
    Volume(String),
    /// A path on the engine's host (hostPath), created as a directory when missing.
    HostPath(String),
    /// A directory inside a runtime volume (an emptyDir's `subPath`), created when
    /// missing.
    VolumeSubPath {
        /// The runtime volume.
        volume: String,
        /// The relative path inside it.
        sub_path: String,
    },
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What is mounted.
    pub source: MountSource,
    /// Where, inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Mount propagation of a bind: `rslave` (HostToContainer) or `rshared`
    /// (Bidirectional); `None`: private.
    pub propagation: Option<String>,
}

/// Volumes as [`ContainerRuntime::list_volumes`] returns them: (name, labels).
pub type VolumeList = Vec<(String, BTreeMap<String, String>)>;

/// A runtime volume backing a pod's emptyDir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// The runtime's name for it.
    pub name: String,
    /// In memory (tmpfs, emptyDir `medium: Memory`) rather than on disk.
    pub memory: bool,
    /// Labels (the pod's, see [`labels`]).
    pub labels: BTreeMap<String, String>,
}

/// A container's life state as the runtime reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Created, never started.
    Created,
    /// Running (or paused / restarting, which Rudder never asks for).
    Running,
    /// Exited or dead.
    Exited,
}

/// What the runtime knows of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The runtime's id.
    pub id: String,
    /// The container's name (without Docker's leading `/`).
    pub name: String,
    /// The image reference it was created from.
    pub image: String,
    /// The image's id (digest).
    pub image_id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its life state.
    pub state: RunState,
    /// Exit code once exited.
    pub exit_code: i64,
    /// Set when the kernel killed it for memory.
    pub oom_killed: bool,
    /// The runtime's error message, if any.
    pub error: String,
    /// When it last started, as Unix seconds.
    pub started_at: Option<i64>,
    /// When it last finished, as Unix seconds.
    pub finished_at: Option<i64>,
    /// Its IP on its network (sandboxes only).
    pub ip: Option<String>,
}

impl ContainerInfo {
    /// The label's value, or `""`.
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }

    /// The attempt number from the labels (0 when absent or unreadable).
    pub fn attempt(&self) -> u32 {
        self.label(labels::ATTEMPT).parse().unwrap_or(0)
    }

    /// True for a pod sandbox.
    pub fn is_sandbox(&self) -> bool {
        self.label(labels::KIND) == "sandbox"
    }
}

/// One sample of a container's resource use, as the runtime reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerStats {
    /// CPU time used since the container started, in nanoseconds (cgroup
    /// `cpuacct.usage` / `cpu.stat usage_usec`, Docker's `cpu_usage.total_usage`).
    pub cpu_total_ns: u64,
    /// Memory in use, in bytes (Docker's `memory_stats.usage`).
    pub memory_usage: u64,
    /// Inactive file-backed memory, in bytes (`inactive_file`, or `total_inactive_file`
    /// on cgroup v1): reclaimable, so not part of the working set.
    pub inactive_file: u64,
}

/// The output of a command run inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit code.
    pub exit_code: i64,
    /// stdout and stderr together, truncated.
    pub output: String,
}

/// Credentials for an image registry (from a pod's `imagePullSecrets`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegistryAuth {
    /// The registry as the credentials name it (`docker.io`, `registry:5000`...).
    pub server: String,
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How to read a container's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// Keep the stream open for new output.
    pub follow: bool,
    /// Only the last lines.
    pub tail_lines: Option<i64>,
    /// Prefix each line with an RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only output after this Unix time.
    pub since: Option<i64>,
}

/// Something happened to a container (the runtime's event stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// The container concerned.
    pub container_id: String,
    /// What happened: `start`, `die`, `oom`, `destroy`...
    pub action: String,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
}

/// What an interactive session runs and which streams it has (`kubectl exec`/`attach`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionSpec {
    /// The command for an exec; empty: attach to the container's own process.
    pub command: Vec<String>,
    /// Pass stdin.
    pub stdin: bool,
    /// Return stdout.
    pub stdout: bool,
    /// Return stderr.
    pub stderr: bool,
    /// Allocate a terminal (exec) or the container has one (attach).
    pub tty: bool,
}

/// A running interactive session.
pub struct Session {
    /// Output chunks with their channel (1 stdout, 2 stderr; a terminal's all on 1).
    pub output: BoxStream<'static, RuntimeResult<(u8, Bytes)>>,
    /// The process's stdin.
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    /// The exec's id (none for an attach): for resizing and its exit code.
    pub exec_id: Option<String>,
}

/// A container runtime, as the kubelet uses it.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Starts an interactive session in the running container `id`: an exec of
    /// `spec.command`, or an attach when it is empty. Runtimes without sessions refuse.
    fn start_session(&self, id: &str, spec: &SessionSpec) -> BoxFuture<'_, RuntimeResult<Session>> {
        let (_, _) = (id, spec);
        Box::pin(async {
            Err(RuntimeError::Failed {
                operation: "session".into(),
                message: "this runtime runs no interactive sessions".into(),
            })
        })
    }

    /// Resizes a session's terminal (the exec's, or the container's for an attach).
    fn resize_session(
        &self,
        id: &str,
        exec_id: Option<&str>,
        width: u16,
        height: u16,
    ) -> BoxFuture<'_, RuntimeResult<()>> {
        let _ = (id, exec_id, width, height);
        Box::pin(async { Ok(()) })
    }

    /// An exec's exit code once it ended (`None` while running or unknown).
    fn exec_exit_code(&self, exec_id: &str) -> BoxFuture<'_, RuntimeResult<Option<i64>>> {
        let _ = exec_id;
        Box::pin(async { Ok(None) })
    }

    /// The runtime's version; also its health check.
    fn version(&self) -> BoxFuture<'_, RuntimeResult<RuntimeVersion>>;

    /// The id of the image if present locally, `None` when absent.
    fn image_id(&self, image: &str) -> BoxFuture<'_, RuntimeResult<Option<String>>>;

    /// Pulls an image from its registry.
    fn pull_image(&self, image: &str) -> BoxFuture<'_, RuntimeResult<()>>;

    /// Pulls an image with registry credentials (a pod's `imagePullSecrets`); without
    /// any, as [`ContainerRuntime::pull_image`].
    fn pull_image_with(
        &self,
        image: &str,
        auth: Option<RegistryAuth>,
    ) -> BoxFuture<'_, RuntimeResult<()>> {
        let _ = auth;
        self.pull_image(image)
    }

    /// The user an image runs as (its `USER`, `""` when unset); the image must be
    /// present.
    fn image_user(&self, image: &str) -> BoxFuture<'_, RuntimeResult<String>> {
        let _ = image;
        Box::pin(async { Ok(String::new()) })
    }

    /// Where a runtime volume's files are on the host, when the runtime can say (for
    /// fsGroup ownership); `None` otherwise.
    fn volume_path(&self, name: &str) -> BoxFuture<'_, RuntimeResult<Option<String>>> {
        let _ = name;
        Box::pin(async { Ok(None) })
    }

    /// Builds an image from a root filesystem tar (`docker import`); `changes` are
    /// Dockerfile instructions such as `CMD [...]`.
    fn import_image(
        &self,
        image: &str,
        rootfs_tar: Bytes,
        changes: Vec<String>,
    ) -> BoxFuture<'_, RuntimeResult<()>>;

    /// Makes sure the bridge network `name` exists; returns its subnet (which, for an
    /// existing network, may differ from the one asked for).
    fn ensure_network(&self, name: &str, subnet: &str) -> BoxFuture<'_, RuntimeResult<String>>;

    /// Creates a pod sandbox; returns its id. Not started.
    fn create_sandbox(&self, spec: &SandboxSpec) -> BoxFuture<'_, RuntimeResult<String>>;

    /// Creates an application container in a sandbox; returns its id. Not started.
    fn create_container(&self, spec: &ContainerSpec) -> BoxFuture<'_, RuntimeResult<String>>;

    /// Starts a created container.
    fn start_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<()>>;

    /// Sends the container's stop signal (set at creation, SIGTERM by default), then SIGKILL
    /// after `grace`. A stopped container is not an error.
    fn stop_container(&self, id: &str, grace: Duration) -> BoxFuture<'_, RuntimeResult<()>>;

    /// Removes a container (forcibly). A missing container is not an error.
    fn remove_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<()>>;

    /// Every container (running or not) whose labels include all of `labels`.
    fn list_containers(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> BoxFuture<'_, RuntimeResult<Vec<ContainerInfo>>>;

    /// One container's details.
    fn inspect_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<ContainerInfo>>;

    /// One sample of a running container's cumulative CPU time and memory (see
    /// [`ContainerStats`]). Runtimes that measure nothing (the fake) say so.
    fn stats(&self, id: &str) -> BoxFuture<'_, RuntimeResult<ContainerStats>> {
        let what = format!("stats of container {id}");
        Box::pin(async move { Err(RuntimeError::NotFound { what }) })
    }

    /// Runs a command in a running container and waits for it (probes).
    fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> BoxFuture<'_, RuntimeResult<ExecOutput>>;

    /// A container's log as a stream of byte chunks.
    fn logs(&self, id: &str, options: &LogOptions) -> BoxStream<'static, RuntimeResult<Bytes>>;

    /// Makes sure a volume exists (creating it when missing).
    fn ensure_volume(&self, spec: &VolumeSpec) -> BoxFuture<'_, RuntimeResult<()>>;

    /// Volumes whose labels include all of `labels`: (name, labels).
    fn list_volumes(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> BoxFuture<'_, RuntimeResult<VolumeList>>;

    /// Removes a volume. A missing volume is not an error.
    fn remove_volume(&self, name: &str) -> BoxFuture<'_, RuntimeResult<()>>;

    /// Container events (start, die...) of containers labelled for `node`, from now on.
    fn events(&self, node: &str) -> BoxStream<'static, RuntimeResult<RuntimeEvent>>;
}
