//! Simulated nodes, in the spirit of kwok: many Node objects with a given capacity that
//! behave like healthy kubelets without running anything. Used by the scheduling
//! benchmark and by scale tests; real pods still run on Docker through the kubelet.
//!
//! [`SimNodes::start`] registers `count` nodes (`<prefix>-00000`, ...) through the API
//! with the capacity, labels and taints of a [`SimNodeSpec`], `Ready=True`, a fake
//! internal IP and a pod range `10.<i/256>.<i%256>.0/24`. It then keeps them alive
//! cheaply: one task renews every node's Lease in `kube-node-lease` each
//! `heartbeat` (one update per node, no read), and refreshes the `Ready` condition's
//! heartbeat every [`NODE_STATUS_EVERY`], as the kubelet does. One pod informer for all
//! nodes (not one per node) feeds a [`WorkQueue`] whose workers move every pod bound to
//! a simulated node to `Running` (phase, `PodScheduled`/`Initialized`/
//! `ContainersReady`/`Ready` conditions, a pod IP from its node's range, `startTime`,
//! one running `containerStatus` per container), and finish the deletion of pods marked
//! for deletion (grace period 0), as a kubelet would after stopping them.
//!
//! It talks to the cluster only through [`Api`] handles, so it runs inside a node or in
//! a client program alike (`rudder-simnodes` in the tests crate). It sends no bus
//! messages of its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use rudder_protocol::api::{Api, ApiError};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::names::conditions;
use rudder_protocol::resources::{
    ConditionStatus, ContainerState, ContainerStateRunning, ContainerStatus, Lease, LeaseSpec,
    MicroTime, Namespace, Node, NodeAddress, NodeAddressType, NodeCondition, Pod, PodCondition,
    PodIp, PodPhase, Quantity, Taint, Time,
};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::informer::{Backoff, Cache, Change, Informer, InformerHandle, ObjectKey, WorkQueue};

/// The namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = rudder_protocol::names::namespaces::KUBE_NODE_LEASE;
/// How often a node's `Ready` condition heartbeat is refreshed (the kubelet's
/// `nodeStatusReportFrequency`).
pub const NODE_STATUS_EVERY: Duration = Duration::from_secs(300);
/// The annotation that marks a simulated node.
pub const SIMULATED_ANNOTATION: &str = "rudder.dev/simulated";
/// Requests in flight while registering nodes and renewing leases.
const CONCURRENCY: usize = 32;
/// Workers moving pods to Running.
const POD_WORKERS: usize = 32;

/// What the simulated nodes look like.
#[derive(Debug, Clone)]
pub struct SimNodeSpec {
    /// Node names are `<prefix>-<index, 5 digits>`.
    pub prefix: String,
    /// How many nodes.
    pub count: usize,
    /// Allocatable CPU, e.g. `"4"`.
    pub cpu: String,
    /// Allocatable memory, e.g. `"16Gi"`.
    pub memory: String,
    /// Allocatable pod slots.
    pub pods: i64,
    /// Extra labels on every node.
    pub labels: BTreeMap<String, String>,
    /// Taints on every node.
    pub taints: Vec<Taint>,
    /// How often each node's Lease is renewed; keep it below the node lifecycle
    /// controller's grace period (40 s) or the nodes turn `Unknown` and get tainted.
    pub heartbeat: Duration,
}

impl Default for SimNodeSpec {
    fn default() -> Self {
        SimNodeSpec {
            prefix: "sim".into(),
            count: 1,
            cpu: "4".into(),
            memory: "16Gi".into(),
            pods: 110,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            heartbeat: Duration::from_secs(10),
        }
    }
}

/// The API handles simulated nodes need.
#[derive(Debug, Clone)]
pub struct SimApis {
    /// Nodes (cluster scope).
    pub nodes: Api<Node>,
    /// Pods in all namespaces.
    pub pods: Api<Pod>,
    /// Leases in `kube-node-lease`.
    pub leases: Api<Lease>,
    /// Namespaces (to create `kube-node-lease`).
    pub namespaces: Api<Namespace>,
}

/// Why simulated nodes could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A spec value is not a quantity.
    #[error("invalid {what} {value:?} in the simulated node spec")]
    Spec {
        /// Which value.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// Registering node `node` failed.
    #[error("cannot register simulated node {node}: {source}")]
    Register {
        /// The node.
        node: String,
        /// The API's answer.
        source: ApiError,
    },
}

/// Running simulated nodes; dropping this stops them (the Node objects stay).
pub struct SimNodes {
    names: Vec<String>,
    pods: Cache<Pod>,
    _informer: InformerHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for SimNodes {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The fake address of simulated node number `i`: `10.<i/256>.<i%256>.1`.
pub fn node_ip(i: usize) -> String {
    format!("10.{}.{}.1", (i / 256) % 256, i % 256)
}

/// Builds simulated node number `i` of `spec`.
pub fn node_object(spec: &SimNodeSpec, i: usize) -> Result<Node, SimError> {
    let q = |what: &'static str, value: &str| {
        Quantity::parse(value).map_err(|_| SimError::Spec {
            what,
            value: value.to_owned(),
        })
    };
    let name = format!("{}-{i:05}", spec.prefix);
    let mut node = Node::new(name.clone());
    let labels = &mut node.metadata.labels;
    labels.extend(spec.labels.clone());
    labels.insert("kubernetes.io/hostname".into(), name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("type".into(), "simulated".into());
    node.metadata
        .annotations
        .insert(SIMULATED_ANNOTATION.into(), "true".into());
    let cidr = format!("10.{}.{}.0/24", (i / 256) % 256, i % 256);
    node.spec.pod_cidr = cidr.clone();
    node.spec.pod_cidrs = vec![cidr];
    node.spec.taints = spec.taints.clone();
    let mut resources = BTreeMap::new();
    resources.insert("cpu".to_owned(), q("cpu", &spec.cpu)?);
    resources.insert("memory".to_owned(), q("memory", &spec.memory)?);
    resources.insert("pods".to_owned(), q("pods", &spec.pods.to_string())?);
    node.status.capacity = resources.clone();
    node.status.allocatable = resources;
    node.status.conditions = vec![ready_condition()];
    node.status.addresses = vec![
        NodeAddress {
            type_: NodeAddressType::InternalIp,
            address: node_ip(i),
        },
        NodeAddress {
            type_: NodeAddressType::Hostname,
            address: name,
        },
    ];
    let info = &mut node.status.node_info;
    info.kubelet_version = "rudder-sim".into();
    info.container_runtime_version = "sim://1".into();
    info.operating_system = "linux".into();
    info.architecture = "amd64".into();
    Ok(node)
}

fn ready_condition() -> NodeCondition {
    NodeCondition {
        type_: conditions::READY.into(),
        status: ConditionStatus::True,
        last_heartbeat_time: Some(Time::now()),
        last_transition_time: Some(Time::now()),
        reason: "KubeletReady".into(),
        message: "kubelet is posting ready status".into(),
    }
}

/// `pod` as a healthy kubelet would report it once its containers run.
pub fn running(pod: &Pod, pod_ip: &str, host_ip: &str) -> Pod {
    let mut p = pod.clone();
    let now = Time::now();
    let status = &mut p.status;
    status.phase = Some(PodPhase::Running);
    status.host_ip = host_ip.to_owned();
    status.pod_ip = pod_ip.to_owned();
    status.pod_ips = vec![PodIp {
        ip: pod_ip.to_owned(),
    }];
    status.start_time.get_or_insert(now);
    status.conditions = [
        conditions::POD_SCHEDULED,
        conditions::INITIALIZED,
        conditions::CONTAINERS_READY,
        conditions::READY,
    ]
    .iter()
    .map(|t| PodCondition {
        type_: (*t).into(),
        status: ConditionStatus::True,
        last_probe_time: None,
        last_transition_time: Some(now),
        reason: String::new(),
        message: String::new(),
        ..Default::default()
    })
    .collect();
    status.container_statuses = pod
        .spec
        .containers
        .iter()
        .map(|c| ContainerStatus {
            name: c.name.clone(),
            state: ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(now),
                }),
                ..Default::default()
            },
            ready: true,
            restart_count: 0,
            image: c.image.clone(),
            image_id: format!("sim://{}", c.image),
            container_id: format!("sim://{}-{}", pod.metadata.uid, c.name),
            started: Some(true),
            ..Default::default()
        })
        .collect();
    p
}

/// Per-node pod IP allocation: node index and next host number.
struct Addresses {
    nodes: HashMap<String, (usize, u32)>,
}

impl Addresses {
    fn next(&mut self, node: &str) -> Option<(String, String)> {
        let (i, next) = self.nodes.get_mut(node)?;
        // Hosts 2..=254 of the node's /24 (1 is the node); wraps for long-lived nodes.
        let host = 2 + (*next % 253);
        *next = next.wrapping_add(1);
        let (a, b) = ((*i / 256) % 256, *i % 256);
        Some((format!("10.{a}.{b}.{host}"), node_ip(*i)))
    }
}

impl SimNodes {
    /// Registers the nodes and starts keeping them and their pods going; see the
    /// module docs. Must run inside a tokio runtime.
    pub async fn start(apis: SimApis, spec: SimNodeSpec) -> Result<SimNodes, SimError> {
        let mut ns = Namespace::new(NODE_LEASE_NAMESPACE);
        ns.metadata.labels.clear();
        if let Err(e) = apis.namespaces.create(&ns).await {
            if !e.is_conflict() {
                warn!(error = %e, "cannot create the node lease namespace");
            }
        }
        let nodes: Vec<Node> = (0..spec.count)
            .map(|i| node_object(&spec, i))
            .collect::<Result<_, _>>()?;
        let names: Vec<String> = nodes.iter().map(|n| n.metadata.name.clone()).collect();
        let results: Vec<Result<(), SimError>> = stream::iter(nodes)
            .map(|n| register(&apis.nodes, n))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for r in results {
            r?;
        }
        info!(count = spec.count, prefix = %spec.prefix, "simulated nodes registered");

        let ours: Arc<HashSet<String>> = Arc::new(names.iter().cloned().collect());
        let queue: WorkQueue<ObjectKey> = WorkQueue::new(Backoff::default());
        let (pods, informer) = {
            let ours = ours.clone();
            let queue = queue.clone();
            Informer::spawn(
                apis.pods.clone(),
                ListParams::default(),
                move |c: &Change<Pod>| {
                    let pod = c.object();
                    if matches!(c, Change::Deleted(_)) || !ours.contains(&pod.spec.node_name) {
                        return;
                    }
                    if needs_work(pod) {
                        queue.add(ObjectKey::of(pod.as_ref()));
                    }
                },
            )
        };
        let addresses = Arc::new(Mutex::new(Addresses {
            nodes: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), (i, 0)))
                .collect(),
        }));
        let mut tasks = Vec::new();
        for _ in 0..POD_WORKERS {
            tasks.push(tokio::spawn(pod_worker(
                apis.pods.clone(),
                pods.clone(),
                queue.clone(),
                addresses.clone(),
            )));
        }
        tasks.push(tokio::spawn(heartbeats(
            apis.clone(),
            names.clone(),
            spec.heartbeat,
        )));
        Ok(SimNodes {
            names,
            pods,
            _informer: informer,
            tasks,
        })
    }

    /// The simulated nodes' names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The pod cache (all pods, as the simulated kubelets see them).
    pub fn pods(&self) -> &Cache<Pod> {
        &self.pods
    }
}

fn needs_work(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        || !matches!(
            pod.status.phase,
            Some(PodPhase::Running) | Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
        )
}

async fn register(api: &Api<Node>, node: Node) -> Result<(), SimError> {
    let name = node.metadata.name.clone();
    let created = match api.create(&node).await {
        Ok(n) => n,
        Err(e) if e.is_conflict() => api.get(&name).await.map_err(|source| SimError::Register {
            node: name.clone(),
            source,
        })?,
        Err(source) => return Err(SimError::Register { node: name, source }),
    };
    // The API server may drop the status on create (Kubernetes keeps it for nodes, but
    // an existing node keeps its old one): write ours.
    if created.status != node.status {
        let mut update = created;
        update.status = node.status;
        update.spec = node.spec;
        update.metadata.labels = node.metadata.labels;
        let updated = api
            .update(&update)
            .await
            .map_err(|source| SimError::Register {
                node: name.clone(),
                source,
            })?;
        let mut status = updated;
        status.status = update.status;
        api.update_status(&status)
            .await
            .map_err(|source| SimError::Register { node: name, source })?;
    }
    Ok(())
}

async fn pod_worker(
    api: Api<Pod>,
    cache: Cache<Pod>,
    queue: WorkQueue<ObjectKey>,
    addresses: Arc<Mutex<Addresses>>,
) {
    while let Some(key) = queue.next().await {
        let Some(pod) = cache.get(&key) else {
            queue.forget(&key);
            queue.done(&key);
            continue;
        };
        let ns_api = api.in_namespace(key.namespace.as_deref());
        let result = if pod.metadata.deletion_timestamp.is_some() {
            ns_api
                .delete_with(&pod.metadata.name, &json!({"gracePeriodSeconds": 0}))
                .await
                .map(|_| ())
                .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
        } else if needs_work(&pod) {
            // A poisoned lock only means another worker panicked mid-allocation; the
            // counters are still usable.
            let ips = addresses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next(&pod.spec.node_name);
            match ips {
                Some((pod_ip, host_ip)) => ns_api
                    .update_status(&running(&pod, &pod_ip, &host_ip))
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        } else {
            Ok(())
        };
        match result {
            Ok(()) => queue.forget(&key),
            Err(e) if e.is_not_found() => queue.forget(&key),
            Err(e) => {
                debug!(pod = %key, error = %e, "simulated kubelet write failed; retrying");
                queue.add_rate_limited(key.clone());
            }
        }
        queue.done(&key);
    }
}

async fn heartbeats(apis: SimApis, names: Vec<String>, every: Duration) {
    let mut leases: HashMap<String, Lease> = HashMap::new();
    let mut last_status = tokio::time::Instant::now();
    // A fixed period whatever a round of renewals takes, so that the node lifecycle
    // controller's grace period (40 s) is met as long as `every` is below it.
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let renewed: Vec<(String, Option<Lease>)> = stream::iter(names.iter().cloned())
            .map(|name| {
                let api = apis.leases.clone();
                let prev = leases.get(&name).cloned();
                // At least one second: a zero duration is invalid (sub-second heartbeats).
                let secs =
                    i32::try_from(every.as_secs().saturating_mul(4).max(1)).unwrap_or(i32::MAX);
                async move {
                    let lease = renew(&api, &name, prev, secs).await;
                    (name, lease)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (name, lease) in renewed {
            match lease {
                Some(l) => {
                    leases.insert(name, l);
                }
                None => {
                    leases.remove(&name);
                }
            }
        }
        if last_status.elapsed() >= NODE_STATUS_EVERY {
            last_status = tokio::time::Instant::now();
            stream::iter(names.iter().cloned())
                .map(|name| refresh_ready(&apis.nodes, name))
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<()>>()
                .await;
        }
    }
}

/// Renews (or creates) a node's Lease; returns it as stored, or `None` to refetch next
/// time.
async fn renew(api: &Api<Lease>, name: &str, prev: Option<Lease>, secs: i32) -> Option<Lease> {
    let mut lease = match prev {
        Some(l) => l,
        None => match api.get_opt(name).await {
            Ok(Some(l)) => l,
            Ok(None) => {
                let mut l = Lease::new(name);
                l.metadata.namespace = NODE_LEASE_NAMESPACE.into();
                l.spec = LeaseSpec {
                    holder_identity: Some(name.to_owned()),
                    lease_duration_seconds: Some(secs),
                    renew_time: Some(MicroTime::now()),
                    ..Default::default()
                };
                return api.create(&l).await.ok();
            }
            Err(_) => return None,
        },
    };
    lease.spec.holder_identity = Some(name.to_owned());
    lease.spec.lease_duration_seconds = Some(secs);
    lease.spec.renew_time = Some(MicroTime::now());
    api.update(&lease).await.ok()
}

async fn refresh_ready(api: &Api<Node>, name: String) {
    let Ok(mut node) = api.get(&name).await else {
        return;
    };
    match node
        .status
        .conditions
        .iter_mut()
        .find(|c| c.type_ == conditions::READY)
    {
        Some(c) => {
            c.last_heartbeat_time = Some(Time::now());
            if c.status != ConditionStatus::True {
                *c = ready_condition();
            }
        }
        None => node.status.conditions.push(ready_condition()),
    }
    if let Err(e) = api.update_status(&node).await {
        debug!(node = %name, error = %e, "node status refresh failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::{Container, TaintEffect};

    #[test]
    fn node_objects() {
        let spec = SimNodeSpec {
            prefix: "kw".into(),
            count: 300,
            taints: vec![Taint {
                key: "dedicated".into(),
                value: "sim".into(),
                effect: TaintEffect::NoSchedule,
                time_added: None,
            }],
            ..Default::default()
        };
        let cases = [
            ("first", 0, "kw-00000", "10.0.0.1", "10.0.0.0/24"),
            (
                "past 256 wraps into the next octet",
                257,
                "kw-00257",
                "10.1.1.1",
                "10.1.1.0/24",
            ),
        ];
        for (name, i, want_name, ip, cidr) in cases {
            let n = node_object(&spec, i).expect("valid spec");
            assert_eq!(n.metadata.name, want_name, "{name}");
            assert_eq!(n.status.addresses[0].address, ip, "{name}");
            assert_eq!(n.spec.pod_cidr, cidr, "{name}");
            assert_eq!(n.spec.taints.len(), 1, "{name}");
            assert_eq!(n.status.allocatable["cpu"].milli_value(), 4000, "{name}");
            assert_eq!(
                n.status.conditions[0].status,
                ConditionStatus::True,
                "{name}"
            );
        }
        let bad = SimNodeSpec {
            cpu: "lots".into(),
            ..Default::default()
        };
        assert!(node_object(&bad, 0).is_err(), "invalid quantity");
    }

    #[test]
    fn running_status() {
        let mut p = Pod::new("web");
        p.metadata.uid = "u".into();
        p.spec.node_name = "kw-00001".into();
        p.spec.containers.push(Container {
            name: "app".into(),
            image: "demo".into(),
            ..Default::default()
        });
        let r = running(&p, "10.0.1.2", "10.0.1.1");
        assert_eq!(r.status.phase, Some(PodPhase::Running));
        assert_eq!(r.status.pod_ip, "10.0.1.2");
        assert_eq!(r.status.conditions.len(), 4);
        assert!(r
            .status
            .conditions
            .iter()
            .all(|c| c.status == ConditionStatus::True));
        assert!(r.status.container_statuses[0].state.running.is_some());
        assert!(r.status.container_statuses[0].ready);
        assert!(!needs_work(&r), "a running pod needs nothing more");
        assert!(needs_work(&p), "a bound pending pod must be started");

        let mut a = Addresses {
            nodes: [("kw-00001".to_owned(), (1usize, 0u32))]
                .into_iter()
                .collect(),
        };
        let ips: Vec<_> = (0..3)
            .filter_map(|_| a.next("kw-00001"))
            .map(|(ip, _)| ip)
            .collect();
        assert_eq!(ips, ["10.0.1.2", "10.0.1.3", "10.0.1.4"]);
        assert!(a.next("other").is_none());
    }
}
