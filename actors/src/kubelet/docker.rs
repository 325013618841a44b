//! [`DockerRuntime`]: the [`ContainerRuntime`] on a real Docker engine, through bollard
//! over the local unix socket.
//!
//! The client connects lazily and negotiates the API version with the engine on first
//! use (the engines on our machines speak older API versions than bollard's default); a
//! failed connection is retried on the next call, so a Docker daemon that comes back is
//! picked up without restarting anything. Sandboxes run on the node's bridge network;
//! application containers join their sandbox's network namespace with
//! `network_mode: container:<sandbox id>` (and its IPC namespace, and with
//! `shareProcessNamespace` its PID namespace, the same way). A container's stop signal
//! is part of its configuration (`StopSignal`), so `stop` sends it (engines before API
//! 1.42 take no signal on stop). An emptyDir `subPath` is bound from the volume's
//! directory on the host, since engines before API 1.45 cannot mount a volume's
//! subdirectory.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EventMessage, HostConfig, Ipam, IpamConfig, Mount as DockerMount,
    MountType, NetworkCreateRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, ListContainersOptions,
    ListVolumesOptions, LogsOptions, RemoveContainerOptions, RemoveVolumeOptions,
    StopContainerOptions,
};
use bollard::Docker;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use rudder_protocol::resources::Time;

use super::runtime::{
    ContainerInfo, ContainerRuntime, ContainerSpec, ExecOutput, LogOptions, MountSource,
    RegistryAuth, RunState, RuntimeError, RuntimeEvent, RuntimeResult, RuntimeVersion, SandboxSpec,
    Session, SessionSpec, VolumeList, VolumeSpec,
};

/// How long one Docker API call may take (streams excepted).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest terminal output chunk bollard buffers for a session.
const SESSION_OUTPUT_CAPACITY: usize = 256 * 1024;
/// Probe output kept from an exec.
const MAX_EXEC_OUTPUT: usize = 10 * 1024;

/// The Docker engine behind `/var/run/docker.sock` (or `DOCKER_HOST`).
#[derive(Default)]
pub struct DockerRuntime {
    client: tokio::sync::Mutex<Option<Docker>>,
}

impl DockerRuntime {
    /// A runtime that connects on first use.
    pub fn new() -> DockerRuntime {
        DockerRuntime::default()
    }

    /// The negotiated client, connecting first when needed.
    async fn client(&self) -> RuntimeResult<Docker> {
        let mut guard = self.client.lock().await;
        if let Some(d) = guard.as_ref() {
            return Ok(d.clone());
        }
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| RuntimeError::Unreachable(e.to_string()))?
            .with_timeout(CALL_TIMEOUT);
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| RuntimeError::Unreachable(e.to_string()))?;
        *guard = Some(docker.clone());
        Ok(docker)
    }

    /// Forgets the client after a connection failure, so the next call reconnects.
    async fn note(&self, e: &RuntimeError) {
        if matches!(e, RuntimeError::Unreachable(_)) {
            *self.client.lock().await = None;
        }
    }
}

/// Maps a bollard error for `operation` on `what`.
fn map_err(operation: &str, what: &str, e: BollardError) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NotFound {
            what: format!("{what} ({message})"),
        },
        BollardError::DockerResponseServerError { message, .. }
        | BollardError::DockerStreamError { error: message } => RuntimeError::Failed {
            operation: format!("{operation} {what}"),
            message,
        },
        BollardError::RequestTimeoutError => RuntimeError::Timeout {
            operation: format!("{operation} {what}"),
        },
        BollardError::IOError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::HttpClientError { .. }
        | BollardError::SocketNotFoundError(_) => RuntimeError::Unreachable(e.to_string()),
        other => RuntimeError::Failed {
            operation: format!("{operation} {what}"),
            message: other.to_string(),
        },
    }
}

fn to_hash(labels: &BTreeMap<String, String>) -> HashMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Docker's "never" time is year 1; anything before 1971 counts as unset.
fn docker_time(s: Option<&str>) -> Option<i64> {
    let t = Time::parse(s?).ok()?;
    (t.unix() > 86_400 * 365).then_some(t.unix())
}

fn container_info(r: bollard::models::ContainerInspectResponse) -> ContainerInfo {
    let state = r.state.unwrap_or_default();
    let run_state = if state.running.unwrap_or(false) {
        RunState::Running
    } else {
        use bollard::models::ContainerStateStatusEnum as S;
        match state.status {
            Some(S::CREATED) | None => RunState::Created,
            Some(S::RUNNING) | Some(S::PAUSED) | Some(S::RESTARTING) => RunState::Running,
            _ => RunState::Exited,
        }
    };
    let config = r.config.unwrap_or_default();
    let ip = r
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|nets| {
            nets.into_values()
                .filter_map(|e| e.ip_address)
                .find(|ip| !ip.is_empty())
        });
    ContainerInfo {
        id: r.id.unwrap_or_default(),
        name: r
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        image_id: r.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        state: run_state,
        exit_code: state.exit_code.unwrap_or(0),
        oom_killed: state.oom_killed.unwrap_or(false),
        error: state.error.unwrap_or_default(),
        started_at: docker_time(state.started_at.as_deref()),
        finished_at: docker_time(state.finished_at.as_deref()),
        ip,
    }
}

fn runtime_event(m: EventMessage) -> Option<RuntimeEvent> {
    let actor = m.actor?;
    Some(RuntimeEvent {
        container_id: actor.id?,
        action: m.action.unwrap_or_default(),
        labels: actor.attributes.unwrap_or_default().into_iter().collect(),
    })
}

impl ContainerRuntime for DockerRuntime {
    fn version(&self) -> BoxFuture<'_, RuntimeResult<RuntimeVersion>> {
        Box::pin(async move {
            let d = self.client().await?;
            match d.version().await {
                Ok(v) => Ok(RuntimeVersion {
                    version: v.version.unwrap_or_default(),
                    api_version: v.api_version.unwrap_or_default(),
                }),
                Err(e) => {
                    let e = map_err("version", "docker", e);
                    self.note(&e).await;
                    Err(e)
                }
            }
        })
    }

    fn image_id(&self, image: &str) -> BoxFuture<'_, RuntimeResult<Option<String>>> {
        let image = image.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            match d.inspect_image(&image).await {
                Ok(i) => Ok(Some(i.id.unwrap_or_default())),
                Err(e) => match map_err("inspect image", &image, e) {
                    RuntimeError::NotFound { .. } => Ok(None),
                    e => Err(e),
                },
            }
        })
    }

    fn pull_image(&self, image: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        self.pull_image_with(image, None)
    }

    fn pull_image_with(
        &self,
        image: &str,
        auth: Option<RegistryAuth>,
    ) -> BoxFuture<'_, RuntimeResult<()>> {
        let image = image.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            let (name, tag) = split_reference(&image);
            let opts = CreateImageOptions {
                from_image: Some(name.to_owned()),
                tag: Some(tag.to_owned()),
                ..Default::default()
            };
            let credentials = auth.map(|a| bollard::auth::DockerCredentials {
                username: Some(a.username),
                password: Some(a.password),
                serveraddress: Some(a.server),
                ..Default::default()
            });
            let mut progress = d.create_image(Some(opts), None, credentials);
            while let Some(item) = progress.next().await {
                if let Err(e) = item {
                    return Err(match map_err("pull", &image, e) {
                        RuntimeError::Unreachable(m) => RuntimeError::Unreachable(m),
                        other => RuntimeError::Pull {
                            image: image.clone(),
                            message: other.to_string(),
                        },
                    });
                }
            }
            Ok(())
        })
    }

    fn image_user(&self, image: &str) -> BoxFuture<'_, RuntimeResult<String>> {
        let image = image.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            let i = d
                .inspect_image(&image)
                .await
                .map_err(|e| map_err("inspect image", &image, e))?;
            Ok(i.config.and_then(|c| c.user).unwrap_or_default())
        })
    }

    fn volume_path(&self, name: &str) -> BoxFuture<'_, RuntimeResult<Option<String>>> {
        let name = name.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            let v = d
                .inspect_volume(&name)
                .await
                .map_err(|e| map_err("inspect volume", &name, e))?;
            Ok(Some(v.mountpoint))
        })
    }

    fn import_image(
        &self,
        image: &str,
        rootfs_tar: Bytes,
        changes: Vec<String>,
    ) -> BoxFuture<'_, RuntimeResult<()>> {
        let image = image.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            let (name, tag) = split_reference(&image);
            let opts = CreateImageOptions {
                from_src: Some("-".into()),
                repo: Some(name.to_owned()),
                tag: Some(tag.to_owned()),
                changes,
                ..Default::default()
            };
            let mut progress =
                d.create_image(Some(opts), Some(bollard::body_full(rootfs_tar)), None);
            while let Some(item) = progress.next().await {
                item.map_err(|e| map_err("import", &image, e))?;
            }
            Ok(())
        })
    }

    fn ensure_network(&self, name: &str, subnet: &str) -> BoxFuture<'_, RuntimeResult<String>> {
        let (name, subnet) = (name.to_owned(), subnet.to_owned());
        Box::pin(async move {
            let d = self.client().await?;
            let existing_subnet = |n: Option<Ipam>| {
                n.and_then(|i| i.config)
                    .and_then(|c| c.into_iter().find_map(|c| c.subnet))
                    .unwrap_or_default()
            };
            match d
                .inspect_network(
                    &name,
                    None::<bollard::query_parameters::InspectNetworkOptions>,
                )
                .await
            {
                Ok(n) => return Ok(existing_subnet(n.ipam)),
                Err(e) => match map_err("inspect network", &name, e) {
                    RuntimeError::NotFound { .. } => {}
                    e => return Err(e),
                },
            }
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.clone()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(HashMap::from([(
                    super::runtime::labels::NODE.to_owned(),
                    name.trim_start_matches("rudder-").to_owned(),
                )])),
                ..Default::default()
            };
            match d.create_network(request).await {
                Ok(_) => Ok(subnet),
                // Two kubelets of one node racing: the other one created it.
                Err(BollardError::DockerResponseServerError {
                    status_code: 409, ..
                }) => Ok(subnet),
                Err(e) => Err(map_err("create network", &name, e)),
            }
        })
    }

    fn create_sandbox(&self, spec: &SandboxSpec) -> BoxFuture<'_, RuntimeResult<String>> {
        let spec = spec.clone();
        Box::pin(async move {
            let d = self.client().await?;
            let host_network = spec.network == "host";
            let body = ContainerCreateBody {
                image: Some(spec.image.clone()),
                entrypoint: Some(spec.command.clone()),
                cmd: Some(vec![]),
                // A pod on the host's network has the host's name (Docker refuses one).
                hostname: (!host_network).then(|| spec.hostname.clone()),
                domainname: (!host_network && !spec.domainname.is_empty())
                    .then(|| spec.domainname.clone()),
                labels: Some(to_hash(&spec.labels)),
                host_config: Some(HostConfig {
                    network_mode: Some(spec.network.clone()),
                    ipc_mode: (!spec.ipc_mode.is_empty()).then(|| spec.ipc_mode.clone()),
                    sysctls: (!spec.sysctls.is_empty()).then(|| to_hash(&spec.sysctls)),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let opts = CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            };
            d.create_container(Some(opts), body)
                .await
                .map(|r| r.id)
                .map_err(|e| map_err("create sandbox", &spec.name, e))
        })
    }

    fn create_container(&self, spec: &ContainerSpec) -> BoxFuture<'_, RuntimeResult<String>> {
        let spec = spec.clone();
        Box::pin(async move {
            let d = self.client().await?;
            let mut binds = Vec::new();
            let mut mounts = Vec::new();
            for m in &spec.mounts {
                let mode = |m: &super::runtime::Mount| {
                    let mut opts: Vec<&str> = Vec::new();
                    if m.read_only {
                        opts.push("ro");
                    }
                    if let Some(p) = &m.propagation {
                        opts.push(p);
                    }
                    if opts.is_empty() {
                        String::new()
                    } else {
                        format!(":{}", opts.join(","))
                    }
                };
                match &m.source {
                    // Host paths as binds, which create a missing directory.
                    MountSource::HostPath(p) => binds.push(format!("{p}:{}{}", m.target, mode(m))),
                    MountSource::Volume(v) => mounts.push(DockerMount {
                        target: Some(m.target.clone()),
                        source: Some(v.clone()),
                        typ: Some(MountType::VOLUME),
                        read_only: Some(m.read_only),
                        ..Default::default()
                    }),
                    MountSource::VolumeSubPath { volume, sub_path } => {
                        // The engine's API (before 1.45) cannot mount a volume's
                        // subdirectory: bind it from where the volume lives.
                        let base = d
                            .inspect_volume(volume)
                            .await
                            .map_err(|e| map_err("inspect volume", volume, e))?
                            .mountpoint;
                        let dir = std::path::Path::new(&base).join(sub_path);
                        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::Failed {
                            operation: format!("create subPath {}", dir.display()),
                            message: e.to_string(),
                        })?;
                        binds.push(format!("{}:{}{}", dir.display(), m.target, mode(m)));
                    }
                }
            }
            let body = ContainerCreateBody {
                image: Some(spec.image.clone()),
                entrypoint: (!spec.entrypoint.is_empty()).then(|| spec.entrypoint.clone()),
                cmd: (!spec.args.is_empty() || !spec.entrypoint.is_empty())
                    .then(|| spec.args.clone()),
                env: Some(spec.env.clone()),
                working_dir: spec.working_dir.clone(),
                user: spec.user.clone(),
                stop_signal: spec.stop_signal.clone(),
                labels: Some(to_hash(&spec.labels)),
                host_config: Some(HostConfig {
                    network_mode: Some(format!("container:{}", spec.sandbox_id)),
                    pid_mode: spec.pid_mode.clone(),
                    ipc_mode: spec.ipc_mode.clone(),
                    cpu_quota: spec.cpu_quota,
                    cpu_period: spec.cpu_period,
                    cpu_shares: spec.cpu_shares,
                    memory: spec.memory_bytes,
                    memory_swap: spec.memory_swap_bytes,
                    pids_limit: spec.pids_limit,
                    group_add: (!spec.group_add.is_empty()).then(|| spec.group_add.clone()),
                    readonly_rootfs: Some(spec.read_only_rootfs),
                    privileged: Some(spec.privileged),
                    cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                    cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
                    security_opt: (!spec.security_opt.is_empty())
                        .then(|| spec.security_opt.clone()),
                    binds: Some(binds),
                    mounts: Some(mounts),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let opts = CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            };
            d.create_container(Some(opts), body)
                .await
                .map(|r| r.id)
                .map_err(|e| map_err("create container", &spec.name, e))
        })
    }

    fn ensure_volume(&self, spec: &VolumeSpec) -> BoxFuture<'_, RuntimeResult<()>> {
        let spec = spec.clone();
        Box::pin(async move {
            let d = self.client().await?;
            let driver_opts = spec.memory.then(|| {
                HashMap::from([
                    ("type".to_owned(), "tmpfs".to_owned()),
                    ("device".to_owned(), "tmpfs".to_owned()),
                ])
            });
            let req = VolumeCreateRequest {
                name: Some(spec.name.clone()),
                driver: Some("local".into()),
                driver_opts,
                labels: Some(to_hash(&spec.labels)),
                ..Default::default()
            };
            // Creating an existing volume returns it.
            d.create_volume(req)
                .await
                .map(|_| ())
                .map_err(|e| map_err("create volume", &spec.name, e))
        })
    }

    fn list_volumes(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> BoxFuture<'_, RuntimeResult<VolumeList>> {
        let filter: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Box::pin(async move {
            let d = self.client().await?;
            let opts = ListVolumesOptions {
                filters: Some(HashMap::from([("label".to_owned(), filter)])),
            };
            let list = d
                .list_volumes(Some(opts))
                .await
                .map_err(|e| map_err("list", "volumes", e))?;
            Ok(list
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| (v.name, v.labels.into_iter().collect()))
                .collect())
        })
    }

    fn remove_volume(&self, name: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        let name = name.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            match d
                .remove_volume(&name, Some(RemoveVolumeOptions { force: true }))
                .await
            {
                Ok(())
                | Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(()),
                Err(e) => Err(map_err("remove volume", &name, e)),
            }
        })
    }

    fn start_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        let id = id.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            d.start_container(
                &id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|e| map_err("start", &id, e))
        })
    }

    fn stop_container(&self, id: &str, grace: Duration) -> BoxFuture<'_, RuntimeResult<()>> {
        let id = id.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
            let opts = StopContainerOptions {
                t: Some(t),
                signal: None,
            };
            match d.stop_container(&id, Some(opts)).await {
                Ok(()) => Ok(()),
                // 304: already stopped.
                Err(BollardError::DockerResponseServerError {
                    status_code: 304, ..
                }) => Ok(()),
                Err(e) => Err(map_err("stop", &id, e)),
            }
        })
    }

    fn remove_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        let id = id.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            let opts = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            match d.remove_container(&id, Some(opts)).await {
                Ok(()) => Ok(()),
                Err(e) => match map_err("remove", &id, e) {
                    RuntimeError::NotFound { .. } => Ok(()),
                    // 409: removal already in progress.
                    RuntimeError::Failed { message, .. }
                        if message.contains("already in progress") =>
                    {
                        Ok(())
                    }
                    e => Err(e),
                },
            }
        })
    }

    fn list_containers(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> BoxFuture<'_, RuntimeResult<Vec<ContainerInfo>>> {
        let filter: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Box::pin(async move {
            let d = self.client().await?;
            let opts = ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([("label".to_owned(), filter)])),
                ..Default::default()
            };
            let summaries = match d.list_containers(Some(opts)).await {
                Ok(s) => s,
                Err(e) => {
                    let e = map_err("list", "containers", e);
                    self.note(&e).await;
                    return Err(e);
                }
            };
            let mut out = Vec::with_capacity(summaries.len());
            for s in summaries {
                let Some(id) = s.id else { continue };
                match d
                    .inspect_container(
                        &id,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                    .await
                {
                    Ok(r) => out.push(container_info(r)),
                    // Removed between list and inspect.
                    Err(BollardError::DockerResponseServerError {
                        status_code: 404, ..
                    }) => {}
                    Err(e) => return Err(map_err("inspect", &id, e)),
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    fn inspect_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<ContainerInfo>> {
        let id = id.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            d.inspect_container(
                &id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map(container_info)
            .map_err(|e| map_err("inspect", &id, e))
        })
    }

    fn stats(&self, id: &str) -> BoxFuture<'_, RuntimeResult<super::runtime::ContainerStats>> {
        let id = id.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            // One sample and done: `one-shot` skips the engine's own second sample (a
            // second of waiting); the rate is computed from our consecutive samples.
            let opts = bollard::query_parameters::StatsOptions {
                stream: false,
                one_shot: true,
            };
            let mut samples = d.stats(&id, Some(opts));
            let s = match samples.next().await {
                Some(Ok(s)) => s,
                Some(Err(e)) => return Err(map_err("stats", &id, e)),
                None => {
                    return Err(RuntimeError::NotFound {
                        what: format!("stats of container {id}"),
                    })
                }
            };
            let cpu = s
                .cpu_stats
                .and_then(|c| c.cpu_usage)
                .and_then(|u| u.total_usage)
                .unwrap_or(0);
            let mem = s.memory_stats.unwrap_or_default();
            let stats = mem.stats.unwrap_or_default();
            let inactive = stats
                .get("inactive_file")
                .or_else(|| stats.get("total_inactive_file"))
                .copied()
                .unwrap_or(0);
            Ok(super::runtime::ContainerStats {
                cpu_total_ns: cpu,
                memory_usage: mem.usage.unwrap_or(0),
                inactive_file: inactive,
            })
        })
    }

    fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> BoxFuture<'_, RuntimeResult<ExecOutput>> {
        let (id, command) = (id.to_owned(), command.to_vec());
        Box::pin(async move {
            let d = self.client().await?;
            let run = async {
                let exec = d
                    .create_exec(
                        &id,
                        CreateExecOptions::<String> {
                            cmd: Some(command.clone()),
                            attach_stdout: Some(true),
                            attach_stderr: Some(true),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| map_err("exec", &id, e))?;
                let mut output = Vec::new();
                if let StartExecResults::Attached {
                    output: mut out, ..
                } = d
                    .start_exec(&exec.id, None)
                    .await
                    .map_err(|e| map_err("exec", &id, e))?
                {
                    while let Some(chunk) = out.next().await {
                        let chunk = chunk.map_err(|e| map_err("exec", &id, e))?;
                        if output.len() < MAX_EXEC_OUTPUT {
                            output.extend_from_slice(&chunk.into_bytes());
                        }
                    }
                }
                let inspect = d
                    .inspect_exec(&exec.id)
                    .await
                    .map_err(|e| map_err("exec", &id, e))?;
                output.truncate(MAX_EXEC_OUTPUT);
                Ok(ExecOutput {
                    exit_code: inspect.exit_code.unwrap_or(-1),
                    output: String::from_utf8_lossy(&output).into_owned(),
                })
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(r) => r,
                Err(_) => Err(RuntimeError::Timeout {
                    operation: format!("exec in {id}"),
                }),
            }
        })
    }

    fn start_session(&self, id: &str, spec: &SessionSpec) -> BoxFuture<'_, RuntimeResult<Session>> {
        let (id, spec) = (id.to_owned(), spec.clone());
        Box::pin(async move {
            let d = self.client().await?;
            let (output, input, exec_id) = if spec.command.is_empty() {
                let opts = bollard::query_parameters::AttachContainerOptions {
                    stdin: spec.stdin,
                    stdout: spec.stdout,
                    stderr: spec.stderr,
                    stream: true,
                    logs: false,
                    detach_keys: None,
                };
                let r = d
                    .attach_container(&id, Some(opts))
                    .await
                    .map_err(|e| map_err("attach", &id, e))?;
                (r.output, r.input, None)
            } else {
                let exec = d
                    .create_exec(
                        &id,
                        CreateExecOptions::<String> {
                            cmd: Some(spec.command.clone()),
                            attach_stdin: Some(spec.stdin),
                            attach_stdout: Some(spec.stdout),
                            attach_stderr: Some(spec.stderr),
                            tty: Some(spec.tty),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| map_err("exec", &id, e))?;
                let started = d
                    .start_exec(
                        &exec.id,
                        Some(bollard::exec::StartExecOptions {
                            detach: false,
                            tty: spec.tty,
                            output_capacity: Some(SESSION_OUTPUT_CAPACITY),
                        }),
                    )
                    .await
                    .map_err(|e| map_err("exec", &id, e))?;
                match started {
                    StartExecResults::Attached { output, input } => (output, input, Some(exec.id)),
                    StartExecResults::Detached => {
                        return Err(RuntimeError::Failed {
                            operation: format!("exec in {id}"),
                            message: "the engine detached the exec".into(),
                        })
                    }
                }
            };
            let what = id.clone();
            let output = output
                .filter_map(move |item| {
                    let r = match item {
                        Ok(bollard::container::LogOutput::StdErr { message }) => {
                            Some(Ok((2u8, message)))
                        }
                        Ok(bollard::container::LogOutput::StdOut { message })
                        | Ok(bollard::container::LogOutput::Console { message }) => {
                            Some(Ok((1u8, message)))
                        }
                        Ok(bollard::container::LogOutput::StdIn { .. }) => None,
                        Err(e) => Some(Err(map_err("session", &what, e))),
                    };
                    futures::future::ready(r)
                })
                .boxed();
            Ok(Session {
                output,
                input,
                exec_id,
            })
        })
    }

    fn resize_session(
        &self,
        id: &str,
        exec_id: Option<&str>,
        width: u16,
        height: u16,
    ) -> BoxFuture<'_, RuntimeResult<()>> {
        let (id, exec_id) = (id.to_owned(), exec_id.map(str::to_owned));
        Box::pin(async move {
            let d = self.client().await?;
            match exec_id {
                Some(exec) => d
                    .resize_exec(&exec, bollard::exec::ResizeExecOptions { width, height })
                    .await
                    .map_err(|e| map_err("resize", &exec, e)),
                None => d
                    .resize_container_tty(
                        &id,
                        bollard::query_parameters::ResizeContainerTTYOptions {
                            w: i32::from(width),
                            h: i32::from(height),
                        },
                    )
                    .await
                    .map_err(|e| map_err("resize", &id, e)),
            }
        })
    }

    fn exec_exit_code(&self, exec_id: &str) -> BoxFuture<'_, RuntimeResult<Option<i64>>> {
        let exec_id = exec_id.to_owned();
        Box::pin(async move {
            let d = self.client().await?;
            let inspect = d
                .inspect_exec(&exec_id)
                .await
                .map_err(|e| map_err("inspect exec", &exec_id, e))?;
            Ok(if inspect.running == Some(true) {
                None
            } else {
                inspect.exit_code
            })
        })
    }

    fn logs(&self, id: &str, options: &LogOptions) -> BoxStream<'static, RuntimeResult<Bytes>> {
        let id = id.to_owned();
        let opts = LogsOptions {
            follow: options.follow,
            stdout: true,
            stderr: true,
            since: options
                .since
                .map(|s| i32::try_from(s).unwrap_or(0))
                .unwrap_or(0),
            until: 0,
            timestamps: options.timestamps,
            tail: options
                .tail_lines
                .map(|n| n.max(0).to_string())
                .unwrap_or_else(|| "all".into()),
        };
        // The client is reached through a fresh runtime value: streams must own what
        // they use, and connecting is cheap next to a log read.
        stream::once(async move {
            let rt = DockerRuntime::new();
            match rt.client().await {
                Ok(d) => d
                    .logs(&id, Some(opts))
                    .map(move |r| {
                        r.map(|o| o.into_bytes())
                            .map_err(|e| map_err("logs", &id, e))
                    })
                    .boxed(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    fn events(&self, node: &str) -> BoxStream<'static, RuntimeResult<RuntimeEvent>> {
        let opts = EventsOptions {
            filters: Some(HashMap::from([
                ("type".to_owned(), vec!["container".to_owned()]),
                (
                    "label".to_owned(),
                    vec![format!("{}={node}", super::runtime::labels::NODE)],
                ),
                (
                    "event".to_owned(),
                    vec!["start".into(), "die".into(), "oom".into(), "destroy".into()],
                ),
            ])),
            ..Default::default()
        };
        stream::once(async move {
            let rt = DockerRuntime::new();
            match rt.client().await {
                Ok(d) => d
                    .events(Some(opts))
                    .filter_map(|r| async move {
                        match r {
                            Ok(m) => runtime_event(m).map(Ok),
                            Err(e) => Some(Err(map_err("events", "docker", e))),
                        }
                    })
                    .boxed(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }
}

/// Splits `repo[:tag]` (a registry port's colon is not a tag); the tag defaults to
/// `latest`, as Docker's does.
pub fn split_reference(image: &str) -> (&str, &str) {
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], &image[last_slash + i + 1..]),
        None => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_reference_cases() {
        let cases = [
            ("plain name", "busybox", ("busybox", "latest")),
            ("tagged", "rudder/demo:1", ("rudder/demo", "1")),
            (
                "registry port",
                "localhost:5000/app",
                ("localhost:5000/app", "latest"),
            ),
            (
                "registry port and tag",
                "localhost:5000/app:v2",
                ("localhost:5000/app", "v2"),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(split_reference(input), want, "{name}");
        }
    }

    #[test]
    fn docker_time_cases() {
        let cases = [
            ("unset", None, None),
            ("year one means never", Some("0001-01-01T00:00:00Z"), None),
            (
                "nanoseconds dropped",
                Some("2024-01-02T03:04:05.123456789Z"),
                Some(1_704_164_645),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(docker_time(input), want, "{name}");
        }
    }
}
