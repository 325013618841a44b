//! The kubelet: runs the pods bound to this node as Docker containers.
//!
//! - [`runtime`]: the [`runtime::ContainerRuntime`] trait and its data;
//!   [`docker`] (bollard) and [`fake`] (tests, simulated nodes) implement it.
//! - [`images`]: the local sandbox and demo images, built offline.
//! - [`network`]: the node's Docker network for pod IPs.
//! - [`logs`]: serves log chunks over the bus (`KubeletRequest::Logs`).
//! - [`exec`]: serves exec and attach streams (`KubeletStream`) through runtime sessions.
//! - [`portforward`]: serves port-forward streams: one TCP connection into a pod each.
//! - [`metrics`]: measures the pods' and node's CPU and memory every
//!   [`KubeletSettings::metrics_interval`] and serves the latest (`KubeletRequest::Metrics`).
//! - [`probe`]: liveness, readiness and startup probes; [`grpc_probe`] the gRPC one.
//! - [`security`]: the pods the node refuses, security contexts and resource limits as
//!   the runtime takes them.
//! - [`lifecycle`]: postStart and preStop hooks, termination messages.
//! - [`dns`]: a pod's hostname, `/etc/hosts` and `resolv.conf`.
//! - [`worker`]: one pod's state machine, status computation and the worker task.
//!
//! The [`Kubelet`] component (bus name `kubelet`, on worker nodes) is one supervised task:
//! it registers the node (capacity from the host, nodeInfo with the Docker version),
//! makes sure the sandbox image and the node's pod network exist, watches the pods bound
//! to the node (field selector `spec.nodeName=<node>`) through the node's shared informer
//! of that scope (a restart subscribes again), whose events only enqueue pod keys, and runs one [`worker::PodWorker`] per pod uid. Every
//! [`HEARTBEAT`] it renews the node's Lease in `kube-node-lease`, writes the node's Ready
//! condition (False with the reason when Docker does not answer), and relists the
//! runtime: containers of pods it no longer knows are removed. Docker's event stream
//! wakes the worker of the pod whose container died.
//!
//! A killed kubelet loses nothing: its workers are aborted with it, and the next instance
//! finds the running containers by their labels and adopts them.
//!
//! The sandbox image ([`KubeletSettings::sandbox_image`]) is made sure of at start and
//! before every sandbox creation ([`images::SandboxImage`]); while pods wait for it, every
//! heartbeat looks again, and when it has appeared the waiting workers are woken at once
//! instead of at the end of their back-off. None of the kubelet's loops retries without a
//! back-off, and repeated failures are logged once per [`crate::retry::LOG_EVERY`]:
//! registration ([`REGISTER_RETRY`]), the pod network ([`NETWORK_RETRY`]), Docker's event
//! stream ([`EVENTS_RETRY`]), and the pod workers (see [`worker`]).
//!
//! Pods run with their init containers (in order, before the application containers),
//! emptyDir and hostPath volumes, persistentVolumeClaim volumes (the claim's bound
//! volume's `local` or `hostPath` directory, bound in; a missing or unbound claim keeps
//! the container `ContainerCreating` with a `FailedMount` event until it is bound), and
//! startup, liveness and readiness probes.
//!
//! ConfigMaps, Secrets and the downward API ([`podconfig`]): a container's environment
//! (`valueFrom` configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef; `envFrom`)
//! is resolved when it is created and never changes after; configMap, secret,
//! downwardAPI and projected volumes are files the worker writes under
//! `<root_dir>/pods/<uid>/volumes/<volume>` ([`KubeletSettings::root_dir`]) with
//! [`atomic_writer`] and binds read-only, and every [`worker::FILES_RESYNC`] the
//! worker writes them again from current objects, so an edited ConfigMap or Secret
//! reaches running pods' files. The objects are read with direct gets over the
//! bus, only those the pod names (the node watches no ConfigMap or Secret). A missing
//! non-optional one keeps the container waiting, with `CreateContainerConfigError` and
//! a `Failed` event for env, with `ContainerCreating` and a `FailedMount` event for
//! volumes, and the start back-off tries again until it exists. The files of a pod go
//! with it, and the heartbeat removes those of pods the node no longer knows.
//!
//! The node's allocatable is its capacity less `system_reserved` and `kube_reserved`
//! ([`KubeletSettings::reserved`]).
//!
//! Not here: ephemeral containers, pod-level resource limits, serviceAccountToken and
//! clusterTrustBundle projections, Secret files on tmpfs (they are on the node's disk,
//! under its data directory).

pub mod atomic_writer;
pub mod dns;
pub mod docker;
pub mod exec;
pub mod fake;
pub mod grpc_probe;
pub mod images;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod network;
pub mod podconfig;
pub mod portforward;
pub mod probe;
pub mod runtime;
pub mod security;
pub mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::StreamExt;
use rudder_protocol::api::Api;
use rudder_protocol::messages::api::{Component, PatchType};
use rudder_protocol::names::conditions;
use rudder_protocol::resources::{
    ConditionStatus, ConfigMap, Lease, MicroTime, Node, NodeAddress, NodeAddressType,
    NodeCondition, NodeSystemInfo, ObjectMeta, ObjectReference, PersistentVolume,
    PersistentVolumeClaim, Pod, PodPhase, PodStatus, Quantity, Secret, ServiceAccount, Time,
};
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::events::EventRecorder;
use crate::informer::{ApiHandle, Change, ObjectKey, Scope, SharedInformers, WorkQueue};
use crate::retry::{LogLimiter, Retry};
use crate::supervisor::{ComponentSpec, StartContext, Started};
use images::SandboxImage;
use runtime::{labels, ContainerRuntime, RuntimeVersion};
use worker::{NodeContext, PodSink, PodWorker};

/// The component's name on the bus.
pub const NAME: &str = rudder_protocol::names::actors::KUBELET;
/// Lease renewal, node status and runtime relist period.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// The namespace of node heartbeat Leases.
pub const LEASE_NAMESPACE: &str = rudder_protocol::names::namespaces::KUBE_NODE_LEASE;
/// How long a node Lease is valid.
pub const LEASE_SECONDS: i32 = 40;
/// The labels a kubelet registers its Node with, as Kubernetes' kubelet does: manifests
/// select nodes by `kubernetes.io/os` and `kubernetes.io/arch` (and older ones by the
/// `beta.` twins).
fn registration_labels(node: &str) -> BTreeMap<String, String> {
    let (os, arch) = (std::env::consts::OS, crate::apiserver::discovery::go_arch());
    [
        ("kubernetes.io/hostname", node),
        ("kubernetes.io/os", os),
        ("kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", os),
        ("beta.kubernetes.io/arch", arch),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The version the kubelet reports: the API server's `gitVersion`, since both are this
/// one binary (kubectl's VERSION column and version-skew checks compare them).
pub fn kubelet_version() -> String {
    crate::apiserver::discovery::git_version()
}
/// Pods per node.
pub const MAX_PODS: i64 = 110;
/// Node registration: 100 ms doubling to 7 s (the kubelet's `registerWithAPIServer`).
pub const REGISTER_RETRY: Retry = Retry::new(Duration::from_millis(100), Duration::from_secs(7));
/// The pod network: 2 s doubling to 30 s.
pub const NETWORK_RETRY: Retry = Retry::new(Duration::from_secs(2), Duration::from_secs(30));
/// Docker's event stream: 1 s doubling to 30 s, reset by an event.
pub const EVENTS_RETRY: Retry = Retry::new(Duration::from_secs(1), Duration::from_secs(30));

/// The kubelet's settings (the `[kubelet]` table of the node's config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletSettings {
    /// The image of every pod's sandbox.
    pub sandbox_image: String,
    /// The kubelet's directory on the host (the node's `<data-dir>/kubelet`): the files
    /// of pods' configMap, secret, downwardAPI and projected volumes live under its
    /// `pods/`. Absolute, since the runtime binds from it.
    pub root_dir: std::path::PathBuf,
    /// The settings that shape pods (DNS, PID limit, seccomp profiles, host features).
    pub pod_options: worker::PodOptions,
    /// CPU and memory reserved for the system and the kubelet: subtracted from the
    /// capacity in the node's allocatable.
    pub reserved: BTreeMap<String, Quantity>,
    /// Where the node's pod bridge gateway is published for the `dns` actor (`None`:
    /// nobody listens there).
    pub node_local_dns: Option<Arc<crate::dns::NodeLocal>>,
    /// How often pods and the node are measured for the resource metrics API.
    pub metrics_interval: Duration,
    /// The node's address ([`crate::nodeaddr`]): its InternalIP and its pods' hostIP.
    pub host_ip: std::net::IpAddr,
    /// The cluster CIDR whose pod-to-pod traffic must not be masqueraded, where the node
    /// uses the packet filter: right after making the pod network (which puts Docker's
    /// masquerading rule on top), the kubelet puts the exemption back above it, before
    /// any pod starts ([`crate::netroute::routes::ensure_no_masquerade`]).
    pub no_masquerade: Option<ipnetwork::Ipv4Network>,
}

impl Default for KubeletSettings {
    fn default() -> Self {
        KubeletSettings {
            sandbox_image: images::SANDBOX_IMAGE.to_owned(),
            pod_options: Default::default(),
            reserved: BTreeMap::new(),
            node_local_dns: None,
            metrics_interval: metrics::DEFAULT_INTERVAL,
            host_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            no_masquerade: None,
            // Never shared: a kubelet removes what it does not know under its root.
            root_dir: std::env::temp_dir().join(format!("rudder-kubelet-{}", std::process::id())),
        }
    }
}

/// The kubelet component (see the module docs).
pub struct Kubelet;

impl Kubelet {
    /// The component spec for a worker node, driving `runtime`.
    pub fn component(
        runtime: Arc<dyn ContainerRuntime>,
        settings: KubeletSettings,
    ) -> ComponentSpec {
        ComponentSpec::new(NAME, move |ctx: &StartContext| {
            // As `system:node:<node>`: the node authorizer holds it to this node's
            // objects.
            let api = ApiHandle::as_component(ctx.bus.clone(), Component::Kubelet);
            let node = ctx.bus.node().to_string();
            let (rt, me) = (runtime.clone(), node.clone());
            // Soft state: a restarted kubelet measures again.
            let measured = Arc::new(metrics::MetricsStore::default());
            let latest = measured.clone();
            let serve: crate::supervisor::Serve = Arc::new(move |req: rudder_protocol::Request| {
                let (rt, me, latest) = (rt.clone(), me.clone(), latest.clone());
                Box::pin(async move {
                    use rudder_protocol::messages::kubelet::{KubeletReply, KubeletRequest};
                    match req {
                        rudder_protocol::Request::Kubelet(k) => match *k {
                            KubeletRequest::Logs(r) => Ok(rudder_protocol::Reply::Kubelet(
                                logs::serve(rt, &me, r).await,
                            )),
                            KubeletRequest::Metrics => Ok(rudder_protocol::Reply::Kubelet(
                                KubeletReply::Metrics(latest.latest()),
                            )),
                        },
                        other => Err(rudder_protocol::BusError::WrongProtocol {
                            actor: rudder_protocol::ActorRef::new(me.as_str(), NAME),
                            protocol: other.protocol().to_owned(),
                        }),
                    }
                })
            });
            let sampler = metrics::run_sampler(
                runtime.clone(),
                node.clone(),
                settings.metrics_interval,
                measured,
            );
            let main = run(
                api,
                ctx.informers.clone(),
                node,
                runtime.clone(),
                settings.clone(),
            );
            // The sampler runs as long as the kubelet's loop (which returns to be
            // restarted).
            let task = async move {
                tokio::select! {
                    () = main => {}
                    () = sampler => {}
                }
            };
            let (rt, me) = (runtime.clone(), ctx.bus.node().to_string());
            let serve_streams: crate::supervisor::ServeStreams =
                Arc::new(move |msg: crate::bus::OpenStream| {
                    let (rt, me) = (rt.clone(), me.clone());
                    Box::pin(async move {
                        // Any other open drops the halves, which resets the stream.
                        use rudder_protocol::messages::kubelet::KubeletStream;
                        use rudder_protocol::messages::StreamOpen;
                        match msg.open {
                            StreamOpen::Kubelet(KubeletStream::PortForward(req)) => {
                                portforward::serve(rt, me, req, msg.writer, msg.reader).await;
                            }
                            StreamOpen::Kubelet(open) => {
                                exec::serve(rt, me, open, msg.writer, msg.reader).await;
                            }
                            _ => {}
                        }
                    })
                });
            Started::task_serving_streams(task, serve, serve_streams)
        })
    }
}

/// The host's capacity: CPUs, memory (from `/proc/meminfo`), pods.
pub fn host_capacity() -> BTreeMap<String, Quantity> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_total_kib(&t))
        .unwrap_or(0);
    let q = |s: String| Quantity::parse(&s).ok();
    [
        ("cpu", q(cpus.to_string())),
        ("memory", q(format!("{mem_kib}Ki"))),
        ("pods", q(MAX_PODS.to_string())),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
    .collect()
}

/// `MemTotal` in KiB from the text of `/proc/meminfo`.
pub fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The Ready condition for a runtime health check.
pub fn ready_condition(
    health: &Result<RuntimeVersion, String>,
    previous: &[NodeCondition],
    now: Time,
) -> NodeCondition {
    let (status, reason, message) = match health {
        Ok(_) => (
            ConditionStatus::True,
            "KubeletReady",
            "kubelet is posting ready status".to_owned(),
        ),
        Err(e) => (
            ConditionStatus::False,
            "ContainerRuntimeUnreachable",
            format!("container runtime is down: {e}"),
        ),
    };
    let since = previous
        .iter()
        .find(|c| c.type_ == conditions::READY && c.status == status)
        .and_then(|c| c.last_transition_time)
        .unwrap_or(now);
    NodeCondition {
        type_: conditions::READY.into(),
        status,
        last_heartbeat_time: Some(now),
        last_transition_time: Some(since),
        reason: reason.into(),
        message,
    }
}

/// How often a pod status write is tried when the pod changes under it.
const STATUS_WRITE_TRIES: usize = 3;

/// Writes pod status, events and final deletions through the API.
struct ApiSink {
    api: ApiHandle,
    events: EventRecorder,
    /// Every Service, for the pods' service environment variables (the node's shared
    /// informer, which its proxy watches too).
    services: crate::informer::SharedInformer<rudder_protocol::resources::Service>,
    /// The pods whose last status written was `Running` (`kubelet_running_pods`).
    running: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl ApiSink {
    /// Updates `kubelet_running_pods` and, on a pod's first `Running`,
    /// `kubelet_pod_start_sli_duration_seconds` (from its creation, second precision).
    fn record_phase(&self, pod: &Pod, phase: Option<PodPhase>) {
        if !crate::telemetry::enabled() {
            return;
        }
        let metrics = &crate::telemetry::metrics().components;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let uid = &pod.metadata.uid;
        if phase == Some(PodPhase::Running) {
            let first = running.insert(uid.clone()) && pod.status.phase != Some(PodPhase::Running);
            if let (true, Some(created)) = (first, pod.metadata.creation_timestamp) {
                let now = rudder_protocol::resources::Time::now().0;
                metrics
                    .pod_start_sli
                    .observe(now.saturating_sub(created.0).max(0) as f64);
            }
        } else {
            running.remove(uid);
        }
        metrics
            .running_pods
            .set(i64::try_from(running.len()).unwrap_or(i64::MAX));
    }
}

impl PodSink for ApiSink {
    fn service_env(&self, pod: &Pod) -> Vec<(String, String)> {
        let ns = pod.metadata.namespace.as_str();
        let services = self.services.cache().filter(|s| {
            s.metadata.namespace == ns || s.metadata.namespace == podconfig::MASTER_SERVICE.0
        });
        podconfig::service_env(pod, services.iter().map(Arc::as_ref))
    }

    fn service_account_token(
        &self,
        pod: &Pod,
        spec: &podconfig::TokenSpec,
    ) -> BoxFuture<'_, Result<(String, Duration), String>> {
        let ns = &pod.metadata.namespace;
        let api: Api<ServiceAccount> = self.api.api(Some(ns));
        let account = match pod.spec.service_account_name.as_str() {
            "" => "default".to_owned(),
            name => name.to_owned(),
        };
        let mut request = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": spec.expiration_seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                    "name": pod.metadata.name, "uid": pod.metadata.uid},
            },
        });
        if !spec.audience.is_empty() {
            request["spec"]["audiences"] = serde_json::json!([spec.audience]);
        }
        Box::pin(async move {
            let answer = api
                .create_token(&account, &request)
                .await
                .map_err(|e| e.to_string())?;
            let token = answer["status"]["token"]
                .as_str()
                .filter(|t| !t.is_empty())
                .ok_or("the TokenRequest answer holds no token")?
                .to_owned();
            let expires = answer["status"]["expirationTimestamp"]
                .as_str()
                .and_then(|t| rudder_protocol::resources::Time::parse(t).ok())
                .ok_or("the TokenRequest answer holds no expiration")?;
            let left = expires.unix() - rudder_protocol::resources::Time::now().unix();
            Ok((token, Duration::from_secs(u64::try_from(left).unwrap_or(0))))
        })
    }

    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<ConfigMap>, String>> {
        let api: Api<ConfigMap> = self.api.api(Some(namespace));
        let name = name.to_owned();
        Box::pin(async move { api.get_opt(&name).await.map_err(|e| e.to_string()) })
    }

    fn secret(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<Secret>, String>> {
        let api: Api<Secret> = self.api.api(Some(namespace));
        let name = name.to_owned();
        Box::pin(async move { api.get_opt(&name).await.map_err(|e| e.to_string()) })
    }

    fn persistent_volume_claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<PersistentVolumeClaim>, String>> {
        let api: Api<PersistentVolumeClaim> = self.api.api(Some(namespace));
        let name = name.to_owned();
        Box::pin(async move { api.get_opt(&name).await.map_err(|e| e.to_string()) })
    }

    fn persistent_volume(
        &self,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<PersistentVolume>, String>> {
        let api: Api<PersistentVolume> = self.api.api(None);
        let name = name.to_owned();
        Box::pin(async move { api.get_opt(&name).await.map_err(|e| e.to_string()) })
    }

    fn set_status(&self, pod: &Pod, status: PodStatus) -> BoxFuture<'_, Result<(), String>> {
        self.record_phase(pod, status.phase);
        let pods: Api<Pod> = self.api.api(Some(&pod.metadata.namespace));
        let name = pod.metadata.name.clone();
        Box::pin(async move {
            // The patch replaces the conditions: others' (a readiness gate's) are taken
            // from the pod as it is now, and its resourceVersion makes sure nobody wrote
            // in between (a few tries, then the worker's round retry).
            let mut last = String::new();
            for _ in 0..STATUS_WRITE_TRIES {
                let current = pods.get(&name).await.map_err(|e| e.to_string())?;
                let status = worker::with_others_conditions(status.clone(), &current.status);
                let body = json!({
                    "metadata": {"resourceVersion": current.metadata.resource_version},
                    "status": status,
                });
                match pods.patch_status(&name, PatchType::Merge, &body).await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.is_conflict() => last = e.to_string(),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Err(last)
        })
    }

    fn event(&self, pod: &Pod, type_: &str, reason: &str, message: String) {
        let object = ObjectReference {
            kind: "Pod".into(),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            api_version: "v1".into(),
            ..Default::default()
        };
        self.events.record(object, type_, reason, message);
    }

    fn finish_deletion(&self, pod: &Pod) -> BoxFuture<'_, Result<(), String>> {
        self.record_phase(pod, None);
        let pods: Api<Pod> = self.api.api(Some(&pod.metadata.namespace));
        let (name, uid) = (pod.metadata.name.clone(), pod.metadata.uid.clone());
        Box::pin(async move {
            let options = json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
            match pods.delete_with(&name, &options).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// A running worker.
struct WorkerHandle {
    key: ObjectKey,
    uid: String,
    pod: watch::Sender<Option<Arc<Pod>>>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        // A killed kubelet takes its workers with it; the next one adopts.
        self.task.abort();
    }
}

/// The kubelet's main loop (see the module docs).
async fn run(
    api: ApiHandle,
    informers: SharedInformers,
    node: String,
    rt: Arc<dyn ContainerRuntime>,
    settings: KubeletSettings,
) {
    let nodes: Api<Node> = api.api(None);
    let leases: Api<Lease> = api.api(Some(LEASE_NAMESPACE));
    // One line per failing step and period, whatever the loop.
    let mut log: LogLimiter<&'static str> = LogLimiter::default();

    let health = rt.version().await.map_err(|e| e.to_string());
    let sandbox_image = Arc::new(SandboxImage::new(settings.sandbox_image.clone()));
    if let Err(e) = sandbox_image.ensure(&*rt).await {
        // Pods wait for it with a back-off and an event; the heartbeat looks again.
        tracing::warn!(node = %node, error = %e, "sandbox image not available");
    }
    let host_ip = settings.host_ip.to_string();
    let pod_cidr = register_node(
        &nodes,
        &node,
        &health,
        (&settings.reserved, &host_ip),
        &mut log,
    )
    .await;
    let mut retry = NETWORK_RETRY;
    let (network, subnet) = loop {
        match network::ensure(&*rt, &node, pod_cidr.as_deref()).await {
            Ok(n) => break n,
            Err(e) => {
                let retry_in = retry.failed();
                if let Some(suppressed) = log.admit(&"pod network", tokio::time::Instant::now()) {
                    tracing::warn!(node = %node, error = %e, ?retry_in, suppressed, "pod network not ready; retrying");
                }
                post_node_status(
                    &nodes,
                    &node,
                    &Err(e.to_string()),
                    (&settings.reserved, &host_ip),
                    &mut log,
                )
                .await;
                tokio::time::sleep(retry_in).await;
            }
        }
    };
    if let Some(cluster) = settings.no_masquerade {
        let exempt = tokio::task::spawn_blocking(move || {
            crate::netroute::routes::ensure_no_masquerade(cluster)
        });
        if !exempt.await.unwrap_or(false) {
            tracing::warn!(node = %node, "pod-to-pod traffic may be masqueraded: iptables refused the exemption");
        }
    }
    tracing::info!(node = %node, network = %network, subnet = %subnet, "kubelet running");
    if let Some(local) = &settings.node_local_dns {
        // Docker gives a bridge the first address of its subnet.
        match subnet.parse::<ipnetwork::Ipv4Network>() {
            Ok(net) => {
                let gw = std::net::Ipv4Addr::from(u32::from(net.network()).wrapping_add(1));
                local.gateway.send_replace(Some(gw));
            }
            Err(e) => {
                tracing::warn!(subnet = %subnet, error = %e, "pod subnet unreadable; no node-local DNS")
            }
        }
    }

    let ctx = NodeContext {
        node: node.clone(),
        host_ip: settings.host_ip.to_string(),
        network,
        sandbox_image: sandbox_image.clone(),
        pods_dir: settings.root_dir.join("pods"),
        options: Arc::new(settings.pod_options.clone()),
    };
    let sink: Arc<dyn PodSink> = Arc::new(ApiSink {
        api: api.clone(),
        events: EventRecorder::new(api.clone(), NAME),
        services: informers.all(),
        running: std::sync::Mutex::new(std::collections::HashSet::new()),
    });
    let queue: WorkQueue<ObjectKey> = WorkQueue::named(NAME);
    let q = queue.clone();
    // Only this node's pods (a worker must not watch every pod at scale), through the
    // node's shared informer so that a restarted kubelet does not watch a second time.
    let pods = informers.informer::<Pod>(Scope::fields(format!("spec.nodeName={node}")));
    let subscription = pods.subscribe(move |c: &Change<Pod>| q.add(c.key()));
    let cache = pods.cache();

    let mut workers: BTreeMap<String, WorkerHandle> = BTreeMap::new();
    let mut events = rt.events(&node);
    // A broken event stream is opened again at this instant (never a sleep here: the
    // loop has pods to serve meanwhile).
    let mut events_retry = EVENTS_RETRY;
    let mut reopen_events: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(HEARTBEAT);
    let mut lease_rv: Option<Lease> = None;
    loop {
        let reopen_at = reopen_events;
        tokio::select! {
            () = crate::informer::shared::any_lost(std::slice::from_ref(&subscription)) => {
                // Its handler panicked and hears nothing more: stop, and be restarted.
                tracing::error!(node = %node, "the pod subscription was lost; restarting the kubelet");
                return;
            }
            key = queue.next() => {
                let Some(key) = key else { return };
                let pod = cache.get(&key);
                sync_pod(&key, pod, &mut workers, &rt, &sink, &ctx);
                queue.done(&key);
            }
            ev = events.next(), if reopen_at.is_none() => match ev {
                Some(Ok(ev)) => {
                    events_retry.succeeded();
                    let uid = ev.labels.get(labels::POD_UID).cloned().unwrap_or_default();
                    if let Some(w) = workers.get(&uid) {
                        w.wake.notify_one();
                    }
                }
                broken => {
                    let retry_in = events_retry.failed();
                    if let Some(Err(e)) = broken {
                        tracing::debug!(node = %node, error = %e, ?retry_in, "runtime event stream broke");
                    }
                    reopen_events = Some(tokio::time::Instant::now() + retry_in);
                }
            },
            _ = tokio::time::sleep_until(reopen_at.unwrap_or_else(tokio::time::Instant::now)), if reopen_at.is_some() => {
                reopen_events = None;
                events = rt.events(&node);
            }
            _ = tick.tick() => {
                let health = rt.version().await.map_err(|e| e.to_string());
                post_node_status(&nodes, &node, &health, (&settings.reserved, &host_ip), &mut log).await;
                lease_rv = renew_lease(&leases, &node, lease_rv.take(), &mut log).await;
                if health.is_ok() && sandbox_image.is_missing().await {
                    recheck_sandbox_image(&sandbox_image, &*rt, &workers, &node, &mut log).await;
                }
                workers.retain(|_, w| !w.task.is_finished());
                if cache.has_synced() && health.is_ok() {
                    // Safety net: every known pod has a worker, and nothing else runs.
                    // A pod of the cache whose key still waits in the queue (right after
                    // a restart: the first tick comes at once) is not an orphan.
                    let mut cached = BTreeSet::new();
                    for pod in cache.list() {
                        if !workers.contains_key(&pod.metadata.uid) {
                            queue.add(ObjectKey::of(&*pod));
                        }
                        cached.insert(pod.metadata.uid.clone());
                    }
                    remove_orphans(&*rt, &node, &workers, &cached).await;
                    remove_orphan_files(&ctx.pods_dir, &workers, &cached).await;
                }
            }
        }
    }
}

/// Looks for the missing sandbox image again (building Rudder's own at its bounded
/// rate); once it is there, wakes every worker so that pods waiting for it start now.
async fn recheck_sandbox_image(
    image: &SandboxImage,
    rt: &dyn ContainerRuntime,
    workers: &BTreeMap<String, WorkerHandle>,
    node: &str,
    log: &mut LogLimiter<&'static str>,
) {
    match image.ensure(rt).await {
        Ok(()) => {
            log.clear(&"sandbox image");
            for w in workers.values() {
                w.wake.notify_one();
            }
        }
        Err(e) => {
            if let Some(suppressed) = log.admit(&"sandbox image", tokio::time::Instant::now()) {
                tracing::warn!(node = %node, error = %e, suppressed, "sandbox image still not available");
            }
        }
    }
}

/// Starts, updates or tells the worker of `key`. Workers are keyed by pod uid: a pod
/// deleted and recreated under the same name is another pod, whose worker runs next to
/// the old one while that one cleans up.
fn sync_pod(
    key: &ObjectKey,
    pod: Option<Arc<Pod>>,
    workers: &mut BTreeMap<String, WorkerHandle>,
    rt: &Arc<dyn ContainerRuntime>,
    sink: &Arc<dyn PodSink>,
    ctx: &NodeContext,
) {
    let uid = pod.as_ref().map(|p| p.metadata.uid.clone());
    for w in workers.values().filter(|w| &w.key == key) {
        if Some(&w.uid) != uid.as_ref() {
            w.pod.send_replace(None);
        }
    }
    let Some(pod) = pod else { return };
    match workers.get(&pod.metadata.uid) {
        Some(w) if !w.task.is_finished() => {
            w.pod.send_replace(Some(pod));
        }
        _ => {
            let uid = pod.metadata.uid.clone();
            let (tx, rx) = watch::channel(Some(pod));
            let wake = Arc::new(Notify::new());
            let worker = PodWorker::new(rt.clone(), sink.clone(), ctx.clone(), rx, wake.clone());
            tracing::debug!(pod = %key, uid = %uid, "pod worker started");
            workers.insert(
                uid.clone(),
                WorkerHandle {
                    key: key.clone(),
                    uid,
                    pod: tx,
                    wake,
                    task: tokio::spawn(worker.run()),
                },
            );
        }
    }
}

/// Removes containers labelled for this node whose pod has no worker and is not in the
/// cache (`cached`: pod uids).
async fn remove_orphans(
    rt: &dyn ContainerRuntime,
    node: &str,
    workers: &BTreeMap<String, WorkerHandle>,
    cached: &BTreeSet<String>,
) {
    let known: BTreeSet<&str> = workers
        .keys()
        .chain(cached.iter())
        .map(String::as_str)
        .collect();
    let want = BTreeMap::from([(labels::NODE.to_owned(), node.to_owned())]);
    let Ok(all) = rt.list_containers(&want).await else {
        return;
    };
    for c in all {
        if known.contains(c.label(labels::POD_UID)) {
            continue;
        }
        tracing::info!(container = %c.name, pod_uid = %c.label(labels::POD_UID),
            "removing container of a pod this node no longer runs");
        if let Err(e) = rt.remove_container(&c.id).await {
            tracing::warn!(container = %c.name, error = %e, "orphan removal failed");
        }
    }
    let Ok(volumes) = rt.list_volumes(&want).await else {
        return;
    };
    for (name, l) in volumes {
        let uid = l.get(labels::POD_UID).map(String::as_str).unwrap_or("");
        if known.contains(uid) {
            continue;
        }
        tracing::info!(volume = %name, pod_uid = %uid, "removing volume of a pod this node no longer runs");
        if let Err(e) = rt.remove_volume(&name).await {
            tracing::warn!(volume = %name, error = %e, "orphan volume removal failed");
        }
    }
}

/// Removes the volume files of pods that have no worker and are not in the cache.
async fn remove_orphan_files(
    pods_dir: &std::path::Path,
    workers: &BTreeMap<String, WorkerHandle>,
    cached: &BTreeSet<String>,
) {
    let known: BTreeSet<String> = workers.keys().chain(cached.iter()).cloned().collect();
    let dir = pods_dir.to_path_buf();
    let removed = tokio::task::spawn_blocking(move || {
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let uid = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&uid) && std::fs::remove_dir_all(entry.path()).is_ok() {
                removed.push(uid);
            }
        }
        removed
    })
    .await
    .unwrap_or_default();
    for uid in removed {
        tracing::info!(pod_uid = %uid, "removed volume files of a pod this node no longer runs");
    }
}

/// The node's allocatable: `capacity` less `reserved`, never below zero.
pub fn allocatable(
    capacity: &BTreeMap<String, Quantity>,
    reserved: &BTreeMap<String, Quantity>,
) -> BTreeMap<String, Quantity> {
    use rudder_protocol::resources::Format;
    capacity
        .iter()
        .map(|(k, cap)| {
            let Some(r) = reserved.get(k) else {
                return (k.clone(), cap.clone());
            };
            let left = (cap.milli_value() - r.milli_value()).max(0);
            let format = if k == "memory" {
                Format::BinarySI
            } else {
                Format::DecimalSI
            };
            (k.clone(), Quantity::from_milli(left, format))
        })
        .collect()
}

fn node_status_patch(
    health: &Result<RuntimeVersion, String>,
    previous: &[NodeCondition],
    reserved: &BTreeMap<String, Quantity>,
    host_ip: &str,
) -> serde_json::Value {
    let capacity = host_capacity();
    let allocatable = allocatable(&capacity, reserved);
    let mut info = NodeSystemInfo {
        kubelet_version: kubelet_version(),
        operating_system: std::env::consts::OS.into(),
        architecture: match std::env::consts::ARCH {
            "x86_64" => "amd64".into(),
            "aarch64" => "arm64".into(),
            other => other.into(),
        },
        kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        ..Default::default()
    };
    if let Ok(v) = health {
        info.container_runtime_version = format!("docker://{}", v.version);
    }
    let hostname = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    json!({
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [ready_condition(health, previous, Time::now())],
            "addresses": [
                NodeAddress { type_: NodeAddressType::InternalIp, address: host_ip.to_owned() },
                NodeAddress { type_: NodeAddressType::Hostname, address: hostname },
            ],
            "nodeInfo": info,
        }
    })
}

/// Creates the Node object if needed; returns its pod CIDR when IPAM set one.
async fn register_node(
    nodes: &Api<Node>,
    node: &str,
    health: &Result<RuntimeVersion, String>,
    status: NodeStatusInputs<'_>,
    log: &mut LogLimiter<&'static str>,
) -> Option<String> {
    let mut retry = REGISTER_RETRY;
    loop {
        let failure = match nodes.get_opt(node).await {
            Ok(Some(n)) => {
                post_node_status(nodes, node, health, status, log).await;
                return (!n.spec.pod_cidr.is_empty()).then(|| n.spec.pod_cidr.clone());
            }
            Ok(None) => {
                let mut n = Node::new(node);
                n.metadata = ObjectMeta {
                    name: node.to_owned(),
                    labels: registration_labels(node),
                    ..Default::default()
                };
                match nodes.create(&n).await {
                    Ok(_) => {
                        tracing::info!(node = %node, "node registered");
                        post_node_status(nodes, node, health, status, log).await;
                        // The node IPAM controller answers a new node within moments; wait
                        // a little for its pod CIDR before falling back to a derived one.
                        for _ in 0..10 {
                            let cidr = nodes
                                .get_opt(node)
                                .await
                                .ok()
                                .flatten()
                                .map(|n| n.spec.pod_cidr)
                                .filter(|c| !c.is_empty());
                            if cidr.is_some() {
                                return cidr;
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        return None;
                    }
                    // Created meanwhile (by an earlier attempt): read it back, quietly.
                    Err(e) if e.is_conflict() => None,
                    Err(e) => Some(("node registration failed", e)),
                }
            }
            Err(e) => Some(("node lookup failed", e)),
        };
        let retry_in = retry.failed();
        if let Some((what, e)) = failure {
            if let Some(suppressed) = log.admit(&what, tokio::time::Instant::now()) {
                tracing::warn!(node = %node, error = %e, ?retry_in, suppressed, "{what}");
            }
        }
        tokio::time::sleep(retry_in).await;
    }
}

/// What the node status reports besides the runtime's health: the reserved resources
/// and the node's address.
type NodeStatusInputs<'a> = (&'a BTreeMap<String, Quantity>, &'a str);

async fn post_node_status(
    nodes: &Api<Node>,
    node: &str,
    health: &Result<RuntimeVersion, String>,
    (reserved, host_ip): NodeStatusInputs<'_>,
    log: &mut LogLimiter<&'static str>,
) {
    let previous = match nodes.get_opt(node).await {
        Ok(Some(n)) => n.status.conditions,
        _ => vec![],
    };
    let patch = node_status_patch(health, &previous, reserved, host_ip);
    const WHAT: &str = "node status update failed";
    match nodes.patch_status(node, PatchType::Merge, &patch).await {
        Ok(_) => log.clear(&WHAT),
        Err(e) => {
            if let Some(suppressed) = log.admit(&WHAT, tokio::time::Instant::now()) {
                tracing::warn!(node = %node, error = %e, suppressed, "{WHAT}");
            }
        }
    }
}

/// Renews (or creates) the node's Lease; returns the latest copy for the next renewal.
async fn renew_lease(
    leases: &Api<Lease>,
    node: &str,
    last: Option<Lease>,
    log: &mut LogLimiter<&'static str>,
) -> Option<Lease> {
    const WHAT: &str = "lease renewal failed";
    let now = MicroTime::now();
    let current = match last {
        Some(l) => Some(l),
        None => match leases.get_opt(node).await {
            Ok(l) => l,
            Err(e) => {
                if let Some(suppressed) = log.admit(&WHAT, tokio::time::Instant::now()) {
                    tracing::warn!(node = %node, error = %e, suppressed, "lease lookup failed");
                }
                return None;
            }
        },
    };
    let result = match current {
        Some(mut l) => {
            l.spec.holder_identity = Some(node.to_owned());
            l.spec.lease_duration_seconds = Some(LEASE_SECONDS);
            l.spec.renew_time = Some(now);
            leases.update(&l).await
        }
        None => {
            let mut l = Lease::new(node);
            l.metadata.namespace = LEASE_NAMESPACE.into();
            l.spec.holder_identity = Some(node.to_owned());
            l.spec.lease_duration_seconds = Some(LEASE_SECONDS);
            l.spec.acquire_time = Some(now);
            l.spec.renew_time = Some(now);
            leases.create(&l).await
        }
    };
    match result {
        Ok(l) => {
            log.clear(&WHAT);
            Some(l)
        }
        Err(e) => {
            // A conflict or a missing namespace: start from a fresh read next time.
            if let Some(suppressed) = log.admit(&WHAT, tokio::time::Instant::now()) {
                tracing::warn!(node = %node, error = %e, suppressed, "{WHAT}");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let cases = [
            (
                "typical",
                "MemTotal:       16309532 kB\nMemFree: 1 kB\n",
                Some(16_309_532),
            ),
            ("missing", "MemFree: 1 kB\n", None),
            ("garbage", "MemTotal: lots\n", None),
        ];
        for (name, text, want) in cases {
            assert_eq!(mem_total_kib(text), want, "{name}");
        }
    }

    #[test]
    fn allocatable_is_capacity_less_what_is_reserved() {
        let q = |s: &str| Quantity::parse(s).expect("quantity");
        let capacity = BTreeMap::from([
            ("cpu".to_owned(), q("2")),
            ("memory".to_owned(), q("4Gi")),
            ("pods".to_owned(), q("110")),
        ]);
        let reserved = BTreeMap::from([
            ("cpu".to_owned(), q("500m")),
            ("memory".to_owned(), q("5Gi")),
        ]);
        let a = allocatable(&capacity, &reserved);
        assert_eq!(a["cpu"].milli_value(), 1500);
        assert_eq!(a["memory"].value(), 0, "never below zero");
        assert_eq!(a["pods"], q("110"), "untouched");
        let none = allocatable(&capacity, &BTreeMap::new());
        assert_eq!(none, capacity);
    }

    #[test]
    fn ready_condition_tracks_the_runtime() {
        let up: Result<RuntimeVersion, String> = Ok(RuntimeVersion::default());
        let down: Result<RuntimeVersion, String> = Err("connection refused".into());
        let t1 = Time::from_unix(100);
        let t2 = Time::from_unix(200);
        let c1 = ready_condition(&up, &[], t1);
        assert_eq!(c1.status, ConditionStatus::True);
        let c2 = ready_condition(&up, std::slice::from_ref(&c1), t2);
        assert_eq!(
            c2.last_transition_time,
            Some(t1),
            "no transition: time kept"
        );
        assert_eq!(c2.last_heartbeat_time, Some(t2));
        let c3 = ready_condition(&down, &[c2], t2);
        assert_eq!(c3.status, ConditionStatus::False);
        assert_eq!(c3.last_transition_time, Some(t2));
        assert!(c3.message.contains("connection refused"), "{}", c3.message);
    }
}
