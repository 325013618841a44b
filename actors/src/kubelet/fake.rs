//! [`FakeRuntime`]: an in-memory [`ContainerRuntime`] for unit and actor tests and for
//! simulated nodes.
//!
//! Deterministic: ids are `c1`, `c2`..., sandbox IPs count up from `10.244.250.2`, and
//! nothing happens unless asked. It records every call (in [`FakeRuntime::calls`]), can
//! make any operation fail ([`FakeRuntime::fail`]), and lets a test play the kernel:
//! [`FakeRuntime::exit`] ends a container as if its process had exited, and scripted exec
//! results stand in for probe commands. Containers do nothing on their own: a started
//! container runs until the test ends it or the kubelet stops it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use rudder_protocol::resources::Time;
use tokio::sync::broadcast;

use super::runtime::{
    labels, ContainerInfo, ContainerRuntime, ContainerSpec, ExecOutput, LogOptions, RegistryAuth,
    RunState, RuntimeError, RuntimeEvent, RuntimeResult, RuntimeVersion, SandboxSpec, VolumeList,
    VolumeSpec,
};

#[derive(Default)]
struct State {
    next_id: u64,
    images: BTreeSet<String>,
    pullable: BTreeSet<String>,
    networks: BTreeMap<String, String>,
    containers: BTreeMap<String, ContainerInfo>,
    /// The spec each application container was created from, by id.
    specs: BTreeMap<String, ContainerSpec>,
    /// The spec each sandbox was created from, by id.
    sandbox_specs: BTreeMap<String, SandboxSpec>,
    /// The `USER` of images, when set.
    image_users: BTreeMap<String, String>,
    /// The registry server of the credentials each pull came with (`""`: none).
    pull_auths: Vec<(String, String)>,
    volumes: BTreeMap<String, BTreeMap<String, String>>,
    logs: HashMap<String, Vec<u8>>,
    calls: Vec<String>,
    failures: HashMap<String, RuntimeError>,
    exec_results: HashMap<String, ExecOutput>,
    down: bool,
}

/// An in-memory container runtime (see the module docs).
#[derive(Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<RuntimeEvent>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime::new()
    }
}

impl FakeRuntime {
    /// An empty runtime with no images.
    pub fn new() -> FakeRuntime {
        let (events, _) = broadcast::channel(1024);
        FakeRuntime {
            state: Arc::new(Mutex::new(State::default())),
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread may poison the lock; the data is still consistent
        // because every mutation below completes before the guard drops.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `image` present locally.
    pub fn add_image(&self, image: &str) {
        self.lock().images.insert(image.to_owned());
    }

    /// Makes `image` available from a (pretend) registry.
    pub fn add_pullable(&self, image: &str) {
        self.lock().pullable.insert(image.to_owned());
    }

    /// Sets the `USER` an image runs as.
    pub fn set_image_user(&self, image: &str, user: &str) {
        self.lock()
            .image_users
            .insert(image.to_owned(), user.to_owned());
    }

    /// The spec sandbox `id` was created from.
    pub fn sandbox_spec(&self, id: &str) -> Option<SandboxSpec> {
        self.lock().sandbox_specs.get(id).cloned()
    }

    /// Every pull made with [`ContainerRuntime::pull_image_with`]: (image, registry of the
    /// credentials or `""`).
    pub fn pull_auths(&self) -> Vec<(String, String)> {
        self.lock().pull_auths.clone()
    }

    /// Makes every call of `operation` (the names in [`FakeRuntime::calls`], e.g.
    /// `"start"`) fail with `error` until [`FakeRuntime::heal`].
    pub fn fail(&self, operation: &str, error: RuntimeError) {
        self.lock().failures.insert(operation.to_owned(), error);
    }

    /// Stops failing `operation`.
    pub fn heal(&self, operation: &str) {
        self.lock().failures.remove(operation);
    }

    /// Makes the whole runtime unreachable (or reachable again).
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// The result of exec'ing `command` (joined by spaces) in any container.
    pub fn script_exec(&self, command: &str, exit_code: i64) {
        self.lock().exec_results.insert(
            command.to_owned(),
            ExecOutput {
                exit_code,
                output: String::new(),
            },
        );
    }

    /// Every call so far, as `"<operation> <argument>"`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// The spec application container `id` was created from (env, mounts, ...).
    pub fn spec(&self, id: &str) -> Option<ContainerSpec> {
        self.lock().specs.get(id).cloned()
    }

    /// Every container, sandboxes included, ordered by id.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        let mut all: Vec<_> = self.lock().containers.values().cloned().collect();
        all.sort_by_key(|c| c.id[1..].parse::<u64>().unwrap_or(0));
        all
    }

    /// Ends a running container with `exit_code`, as its process exiting would.
    pub fn exit(&self, id: &str, exit_code: i64) {
        let event = {
            let mut s = self.lock();
            let Some(c) = s.containers.get_mut(id) else {
                return;
            };
            c.state = RunState::Exited;
            c.exit_code = exit_code;
            c.finished_at = Some(Time::now().unix());
            RuntimeEvent {
                container_id: id.to_owned(),
                action: "die".into(),
                labels: c.labels.clone(),
            }
        };
        let _ = self.events.send(event);
    }

    /// Appends output to a container's log.
    pub fn append_log(&self, id: &str, data: &[u8]) {
        self.lock()
            .logs
            .entry(id.to_owned())
            .or_default()
            .extend_from_slice(data);
    }

    /// Records a call and returns the injected failure for it, if any.
    fn enter(&self, op: &str, arg: &str) -> RuntimeResult<MutexGuard<'_, State>> {
        let mut s = self.lock();
        s.calls.push(format!("{op} {arg}"));
        if s.down {
            return Err(RuntimeError::Unreachable("fake runtime is down".into()));
        }
        if let Some(e) = s.failures.get(op) {
            return Err(e.clone());
        }
        Ok(s)
    }

    fn new_container(
        s: &mut State,
        name: &str,
        image: &str,
        labels: &BTreeMap<String, String>,
    ) -> RuntimeResult<String> {
        if s.containers.values().any(|c| c.name == name) {
            return Err(RuntimeError::Failed {
                operation: format!("create {name}"),
                message: "name already in use".into(),
            });
        }
        if !s.images.contains(image) {
            return Err(RuntimeError::NotFound {
                what: format!("image {image}"),
            });
        }
        s.next_id += 1;
        let id = format!("c{}", s.next_id);
        s.containers.insert(
            id.clone(),
            ContainerInfo {
                id: id.clone(),
                name: name.to_owned(),
                image: image.to_owned(),
                image_id: format!("sha256:{image}"),
                labels: labels.clone(),
                state: RunState::Created,
                exit_code: 0,
                oom_killed: false,
                error: String::new(),
                started_at: None,
                finished_at: None,
                ip: None,
            },
        );
        Ok(id)
    }
}

fn ready<T: Send + 'static>(r: T) -> BoxFuture<'static, T> {
    Box::pin(async move { r })
}

impl ContainerRuntime for FakeRuntime {
    fn version(&self) -> BoxFuture<'_, RuntimeResult<RuntimeVersion>> {
        ready(self.enter("version", "").map(|_| RuntimeVersion {
            version: "fake-1.0".into(),
            api_version: "1.41".into(),
        }))
    }

    fn image_id(&self, image: &str) -> BoxFuture<'_, RuntimeResult<Option<String>>> {
        ready(
            self.enter("image_id", image)
                .map(|s| s.images.contains(image).then(|| format!("sha256:{image}"))),
        )
    }

    fn pull_image(&self, image: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        ready(self.enter("pull", image).and_then(|mut s| {
            if s.pullable.contains(image) {
                s.images.insert(image.to_owned());
                Ok(())
            } else {
                Err(RuntimeError::Pull {
                    image: image.to_owned(),
                    message: "no registry reachable".into(),
                })
            }
        }))
    }

    fn import_image(
        &self,
        image: &str,
        _rootfs_tar: Bytes,
        _changes: Vec<String>,
    ) -> BoxFuture<'_, RuntimeResult<()>> {
        ready(self.enter("import", image).map(|mut s| {
            s.images.insert(image.to_owned());
        }))
    }

    fn ensure_network(&self, name: &str, subnet: &str) -> BoxFuture<'_, RuntimeResult<String>> {
        ready(self.enter("ensure_network", name).map(|mut s| {
            s.networks
                .entry(name.to_owned())
                .or_insert_with(|| subnet.to_owned())
                .clone()
        }))
    }

    fn create_sandbox(&self, spec: &SandboxSpec) -> BoxFuture<'_, RuntimeResult<String>> {
        ready(self.enter("create_sandbox", &spec.name).and_then(|mut s| {
            let id = Self::new_container(&mut s, &spec.name, &spec.image, &spec.labels)?;
            s.sandbox_specs.insert(id.clone(), spec.clone());
            Ok(id)
        }))
    }

    fn pull_image_with(
        &self,
        image: &str,
        auth: Option<RegistryAuth>,
    ) -> BoxFuture<'_, RuntimeResult<()>> {
        self.lock()
            .pull_auths
            .push((image.to_owned(), auth.map(|a| a.server).unwrap_or_default()));
        self.pull_image(image)
    }

    fn image_user(&self, image: &str) -> BoxFuture<'_, RuntimeResult<String>> {
        ready(
            self.enter("image_user", image)
                .map(|s| s.image_users.get(image).cloned().unwrap_or_default()),
        )
    }

    fn create_container(&self, spec: &ContainerSpec) -> BoxFuture<'_, RuntimeResult<String>> {
        ready(self.enter("create", &spec.name).and_then(|mut s| {
            let id = Self::new_container(&mut s, &spec.name, &spec.image, &spec.labels)?;
            s.specs.insert(id.clone(), spec.clone());
            Ok(id)
        }))
    }

    fn start_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        let r = self.enter("start", id).and_then(|mut s| {
            let n = s.containers.len();
            let c = s
                .containers
                .get_mut(id)
                .ok_or_else(|| RuntimeError::NotFound {
                    what: format!("container {id}"),
                })?;
            c.state = RunState::Running;
            c.started_at = Some(Time::now().unix());
            c.finished_at = None;
            if c.is_sandbox() {
                c.ip = Some(format!("10.244.250.{}", 2 + n % 250));
            }
            Ok(RuntimeEvent {
                container_id: id.to_owned(),
                action: "start".into(),
                labels: c.labels.clone(),
            })
        });
        ready(r.map(|e| {
            let _ = self.events.send(e);
        }))
    }

    fn stop_container(&self, id: &str, _grace: Duration) -> BoxFuture<'_, RuntimeResult<()>> {
        let r = self.enter("stop", id).map(|mut s| {
            let c = s.containers.get_mut(id)?;
            if c.state != RunState::Running {
                return None;
            }
            c.state = RunState::Exited;
            // SIGTERM honoured: 128 + 15.
            c.exit_code = 143;
            c.finished_at = Some(Time::now().unix());
            Some(RuntimeEvent {
                container_id: id.to_owned(),
                action: "die".into(),
                labels: c.labels.clone(),
            })
        });
        ready(r.map(|e| {
            if let Some(e) = e {
                let _ = self.events.send(e);
            }
        }))
    }

    fn remove_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        ready(self.enter("remove", id).map(|mut s| {
            s.containers.remove(id);
            s.specs.remove(id);
            s.logs.remove(id);
        }))
    }

    fn ensure_volume(&self, spec: &VolumeSpec) -> BoxFuture<'_, RuntimeResult<()>> {
        ready(self.enter("ensure_volume", &spec.name).map(|mut s| {
            s.volumes
                .entry(spec.name.clone())
                .or_insert_with(|| spec.labels.clone());
        }))
    }

    fn list_volumes(
        &self,
        want: &BTreeMap<String, String>,
    ) -> BoxFuture<'_, RuntimeResult<VolumeList>> {
        ready(self.enter("list_volumes", "").map(|s| {
            s.volumes
                .iter()
                .filter(|(_, l)| want.iter().all(|(k, v)| l.get(k) == Some(v)))
                .map(|(n, l)| (n.clone(), l.clone()))
                .collect()
        }))
    }

    fn remove_volume(&self, name: &str) -> BoxFuture<'_, RuntimeResult<()>> {
        ready(self.enter("remove_volume", name).map(|mut s| {
            s.volumes.remove(name);
        }))
    }

    fn list_containers(
        &self,
        want: &BTreeMap<String, String>,
    ) -> BoxFuture<'_, RuntimeResult<Vec<ContainerInfo>>> {
        ready(self.enter("list", "").map(|s| {
            let mut out: Vec<ContainerInfo> = s
                .containers
                .values()
                .filter(|c| want.iter().all(|(k, v)| c.labels.get(k) == Some(v)))
                .cloned()
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out
        }))
    }

    fn inspect_container(&self, id: &str) -> BoxFuture<'_, RuntimeResult<ContainerInfo>> {
        ready(self.enter("inspect", id).and_then(|s| {
            s.containers
                .get(id)
                .cloned()
                .ok_or_else(|| RuntimeError::NotFound {
                    what: format!("container {id}"),
                })
        }))
    }

    fn exec(
        &self,
        id: &str,
        command: &[String],
        _timeout: Duration,
    ) -> BoxFuture<'_, RuntimeResult<ExecOutput>> {
        let joined = command.join(" ");
        ready(self.enter("exec", &joined).and_then(|s| {
            match s.containers.get(id) {
                Some(c) if c.state == RunState::Running => {}
                _ => {
                    return Err(RuntimeError::Failed {
                        operation: format!("exec in {id}"),
                        message: "container is not running".into(),
                    })
                }
            }
            Ok(s.exec_results.get(&joined).cloned().unwrap_or(ExecOutput {
                exit_code: 0,
                output: String::new(),
            }))
        }))
    }

    fn logs(&self, id: &str, options: &LogOptions) -> BoxStream<'static, RuntimeResult<Bytes>> {
        let r = self.enter("logs", id).and_then(|s| {
            if !s.containers.contains_key(id) {
                return Err(RuntimeError::NotFound {
                    what: format!("container {id}"),
                });
            }
            let data = s.logs.get(id).cloned().unwrap_or_default();
            Ok(match options.tail_lines {
                Some(n) => tail(&data, usize::try_from(n.max(0)).unwrap_or(0)),
                None => data,
            })
        });
        stream::once(async move { r.map(Bytes::from) }).boxed()
    }

    fn events(&self, node: &str) -> BoxStream<'static, RuntimeResult<RuntimeEvent>> {
        let node = node.to_owned();
        let rx = self.events.subscribe();
        stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((Ok(e), rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |e| {
            let keep = match e {
                Ok(e) => e.labels.get(labels::NODE) == Some(&node),
                Err(_) => true,
            };
            async move { keep }
        })
        .boxed()
    }
}

/// The last `n` lines of `data`.
pub(crate) fn tail(data: &[u8], n: usize) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return data[i + 1..].to_vec();
            }
        }
    }
    data.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_cases() {
        let cases: [(&str, &[u8], usize, &[u8]); 5] = [
            ("zero lines", b"a\nb\n", 0, b""),
            ("last line", b"a\nb\n", 1, b"b\n"),
            ("more than there are", b"a\nb\n", 5, b"a\nb\n"),
            ("no trailing newline", b"a\nb", 1, b"b"),
            ("two of three", b"a\nb\nc\n", 2, b"b\nc\n"),
        ];
        for (name, data, n, want) in cases {
            assert_eq!(tail(data, n), want.to_vec(), "{name}");
        }
    }
}
