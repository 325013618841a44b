//! The scheduler's view of the cluster: one [`NodeInfo`] per node with what is already
//! reserved on it (CPU, memory, pod slots, host ports, pods per owner) and the pods bound
//! there ([`PodRecord`]: the pod, its usage, its compiled inter-pod affinity), plus the
//! indexes the inter-pod plugins read once per cycle: pods per namespace, pods whose
//! inter-pod affinity weighs in scoring, namespace labels (for `namespaceSelector`), and
//! pods nominated to a node by preemption (counted there for pods of lower or equal
//! priority).
//!
//! The topology-pair counts of inter-pod affinity are kept here too
//! ([`super::topology`]): the domains of every distinct required anti-affinity term of
//! the accounted pods ([`Snapshot::existing_anti`]), and, for the required terms of
//! pending pods (registered when such a pod is seen pending, released when it binds or
//! goes), the matching pods per domain ([`Snapshot::match_counts`]). They change with
//! every pod accounted or dropped and with a node's labels, so a cycle's PreFilter reads
//! them instead of walking the pods.
//!
//! Built from the informer caches ([`Snapshot::build`]) and then kept current one change
//! at a time ([`Snapshot::upsert_node`], [`Snapshot::upsert_pod`], ...), so a scheduling
//! cycle never rebuilds it. Every pod with `spec.nodeName` set counts against its node,
//! running or not (a pod bound a moment ago reserves its share before the kubelet starts
//! it); pods in phase `Succeeded` or `Failed` do not, as in Kubernetes' scheduler cache.
//!
//! [`Snapshot::assume_pod`] records a binding the scheduler has just issued, before the
//! watch confirms it, so the next cycle already sees the node's reduced room. An assumed
//! pod survives stale watch events that still show it unbound; the confirmed object then
//! replaces it, and [`Snapshot::forget_pod`] drops it when the bind failed.
//!
//! Pods bound to a node the snapshot does not know (yet) are kept on a placeholder entry
//! that is never offered to the cycle, so their reservation is in place when the node
//! appears.
//!
//! This module does no I/O and sends no messages.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::framework::{pod_priority, PodAffinityInfo};
use super::plugins::volume_binding::VolumeState;
use super::topology::{ExistingAnti, MatchQueries, MatchQuery, QueryCounts};

use rudder_protocol::resources::{
    Node, Pod, PodPhase, PodSpec, Protocol, Quantity, ResourceList, Taint,
};

/// CPU assumed for a container without a CPU request when scoring (Kubernetes'
/// `DefaultMilliCPURequest`), so that empty pods still spread out.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for a container without a memory request when scoring (Kubernetes'
/// `DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The key of a pod in the snapshot: `namespace/name`.
pub fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace, pod.metadata.name)
}

/// A host port a pod binds on its node: address, protocol and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The node address; `0.0.0.0` means every address.
    pub ip: String,
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// The port number.
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports cannot both be bound on one node: same protocol and port,
    /// and the same address or one of them on every address.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.ip == other.ip || self.ip == ANY_IP || other.ip == ANY_IP)
    }
}

/// The wildcard address a host port without `hostIP` binds.
pub const ANY_IP: &str = "0.0.0.0";

/// What a pod reserves on its node, computed once per pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodUsage {
    /// CPU requested, in millicores.
    pub cpu_milli: i64,
    /// Memory requested, in bytes.
    pub memory: i64,
    /// CPU for scoring: missing container requests count as [`DEFAULT_MILLI_CPU_REQUEST`].
    pub non_zero_cpu_milli: i64,
    /// Memory for scoring: missing container requests count as [`DEFAULT_MEMORY_REQUEST`].
    pub non_zero_memory: i64,
    /// Host ports the pod binds.
    pub host_ports: Vec<HostPort>,
    /// The uid of the pod's controller (its owner reference with `controller: true`).
    pub owner: Option<String>,
}

impl PodUsage {
    /// The usage of `pod` as Kubernetes computes it: container requests summed, then the
    /// maximum with each init container (init containers run one at a time, before the
    /// app containers).
    pub fn of(pod: &Pod) -> Self {
        let spec = &pod.spec;
        let (cpu_milli, memory) = pod_requests(spec, false);
        let (non_zero_cpu_milli, non_zero_memory) = pod_requests(spec, true);
        PodUsage {
            cpu_milli,
            memory,
            non_zero_cpu_milli,
            non_zero_memory,
            host_ports: host_ports(spec),
            owner: pod.metadata.controller_ref().map(|r| r.uid.clone()),
        }
    }
}

/// `(cpu milli, memory bytes)` requested by a pod spec; `non_zero` substitutes Kubernetes'
/// defaults for absent container requests (used by the score plugins).
pub fn pod_requests(spec: &PodSpec, non_zero: bool) -> (i64, i64) {
    let one = |requests: &ResourceList| -> (i64, i64) {
        let cpu = match requests.get("cpu") {
            Some(q) => q.milli_value(),
            None if non_zero => DEFAULT_MILLI_CPU_REQUEST,
            None => 0,
        };
        let memory = match requests.get("memory") {
            Some(q) => q.value(),
            None if non_zero => DEFAULT_MEMORY_REQUEST,
            None => 0,
        };
        (cpu, memory)
    };
    let (mut cpu, mut memory) = spec
        .containers
        .iter()
        .map(|c| one(&c.resources.requests))
        .fold((0i64, 0i64), |(a, b), (c, m)| {
            (a.saturating_add(c), b.saturating_add(m))
        });
    for init in &spec.init_containers {
        let (c, m) = one(&init.resources.requests);
        cpu = cpu.max(c);
        memory = memory.max(m);
    }
    (cpu, memory)
}

/// The host ports a pod spec binds. With host networking every container port is a host
/// port (the apiserver defaults `hostPort` to `containerPort` there too).
pub fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let mut out = Vec::new();
    for c in spec.init_containers.iter().chain(&spec.containers) {
        for p in &c.ports {
            let port = if p.host_port > 0 {
                p.host_port
            } else if spec.host_network {
                p.container_port
            } else {
                continue;
            };
            let ip = if p.host_ip.is_empty() {
                ANY_IP.to_owned()
            } else {
                p.host_ip.clone()
            };
            out.push(HostPort {
                ip,
                protocol: p.protocol.unwrap_or_default(),
                port,
            });
        }
    }
    out
}

fn quantity_milli(list: &ResourceList, name: &str) -> i64 {
    list.get(name).map(Quantity::milli_value).unwrap_or(0)
}

fn quantity_value(list: &ResourceList, name: &str) -> i64 {
    list.get(name).map(Quantity::value).unwrap_or(0)
}

/// One node as the filter and score plugins see it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    name: String,
    /// `None` for a placeholder: pods are bound to a node not (yet) seen.
    node: Option<Arc<Node>>,
    /// Allocatable CPU in millicores.
    pub allocatable_cpu_milli: i64,
    /// Allocatable memory in bytes.
    pub allocatable_memory: i64,
    /// How many pods the node may hold.
    pub allocatable_pods: i64,
    /// CPU requested by the pods bound here, in millicores.
    pub requested_cpu_milli: i64,
    /// Memory requested by the pods bound here, in bytes.
    pub requested_memory: i64,
    /// CPU requested with defaults for absent requests (for scoring).
    pub non_zero_cpu_milli: i64,
    /// Memory requested with defaults for absent requests (for scoring).
    pub non_zero_memory: i64,
    /// How many pods are bound here.
    pub pod_count: i64,
    /// Host ports in use, one entry per binding pod (a multiset).
    pub host_ports: Vec<HostPort>,
    /// Pods bound here per controller uid.
    owner_counts: HashMap<String, u32>,
    /// Whether the node's `Ready` condition is `True`.
    pub ready: bool,
    /// The pods bound here.
    pods: Vec<Arc<PodRecord>>,
}

/// A pod the snapshot accounts for, as the plugins see it: shared by its node and the
/// snapshot's indexes, rebuilt when the pod changes.
#[derive(Debug)]
pub struct PodRecord {
    /// The pod object (for an assumed pod, as it was before binding).
    pub pod: Arc<Pod>,
    /// The node it is bound (or nominated) to.
    pub node: String,
    /// What it reserves.
    pub usage: PodUsage,
    /// Its inter-pod affinity, compiled; `None` without any.
    pub affinity: Option<PodAffinityInfo>,
    /// Its priority.
    pub priority: i32,
}

impl PodRecord {
    /// The record of `pod` on `node`.
    pub fn new(pod: Arc<Pod>, node: &str) -> Self {
        PodRecord {
            usage: PodUsage::of(&pod),
            affinity: PodAffinityInfo::of(&pod),
            priority: pod_priority(&pod),
            node: node.to_owned(),
            pod,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        pod_key(&self.pod)
    }

    /// Whether the pod has required anti-affinity terms.
    pub fn has_required_anti_affinity(&self) -> bool {
        self.affinity
            .as_ref()
            .is_some_and(|a| !a.required_anti_affinity.is_empty())
    }

    /// Whether the pod's affinity weighs in an incoming pod's score: required affinity
    /// or preferred terms (required anti-affinity alone only filters).
    pub fn scores_affinity(&self) -> bool {
        self.affinity.as_ref().is_some_and(|a| {
            !a.required_affinity.is_empty()
                || !a.preferred_affinity.is_empty()
                || !a.preferred_anti_affinity.is_empty()
        })
    }
}

impl NodeInfo {
    fn placeholder(name: &str) -> Self {
        NodeInfo {
            name: name.to_owned(),
            node: None,
            allocatable_cpu_milli: 0,
            allocatable_memory: 0,
            allocatable_pods: 0,
            requested_cpu_milli: 0,
            requested_memory: 0,
            non_zero_cpu_milli: 0,
            non_zero_memory: 0,
            pod_count: 0,
            host_ports: Vec::new(),
            owner_counts: HashMap::new(),
            ready: false,
            pods: Vec::new(),
        }
    }

    /// A node with nothing bound to it yet (tests and [`Snapshot::upsert_node`]).
    pub fn new(node: Arc<Node>) -> Self {
        let mut info = NodeInfo::placeholder(&node.metadata.name);
        info.set_node(node);
        info
    }

    fn set_node(&mut self, node: Arc<Node>) {
        let alloc = if node.status.allocatable.is_empty() {
            &node.status.capacity
        } else {
            &node.status.allocatable
        };
        self.allocatable_cpu_milli = quantity_milli(alloc, "cpu");
        self.allocatable_memory = quantity_value(alloc, "memory");
        self.allocatable_pods = quantity_value(alloc, "pods");
        self.ready = node.is_ready();
        self.node = Some(node);
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node object, `None` for a placeholder of an unknown node.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_deref()
    }

    /// The node's labels (empty for a placeholder).
    pub fn labels(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        self.node.as_deref().map(|n| &n.metadata.labels)
    }

    /// The node's taints (empty for a placeholder).
    pub fn taints(&self) -> &[Taint] {
        self.node.as_deref().map_or(&[], |n| &n.spec.taints)
    }

    /// Whether the node is cordoned.
    pub fn unschedulable(&self) -> bool {
        self.node.as_deref().is_some_and(|n| n.spec.unschedulable)
    }

    /// How many pods of controller `owner` are bound here.
    pub fn owner_count(&self, owner: &str) -> u32 {
        self.owner_counts.get(owner).copied().unwrap_or(0)
    }

    /// The pods bound here.
    pub fn pods(&self) -> &[Arc<PodRecord>] {
        &self.pods
    }

    /// Accounts for a pod here (the snapshot, preemption's what-if copies, tests).
    pub fn add_record(&mut self, record: Arc<PodRecord>) {
        self.add(&record.usage);
        self.pods.push(record);
    }

    /// Stops accounting for the pod `key` here; returns its record.
    pub fn remove_record(&mut self, key: &str) -> Option<Arc<PodRecord>> {
        let i = self.pods.iter().position(|r| {
            let m = &r.pod.metadata;
            key.len() == m.namespace.len() + 1 + m.name.len()
                && key.starts_with(m.namespace.as_str())
                && key.ends_with(m.name.as_str())
                && key.as_bytes()[m.namespace.len()] == b'/'
        })?;
        let record = self.pods.swap_remove(i);
        self.remove(&record.usage);
        Some(record)
    }

    /// Adds a pod's reservation without a record (tests of the resource plugins).
    pub fn add(&mut self, usage: &PodUsage) {
        self.requested_cpu_milli += usage.cpu_milli;
        self.requested_memory += usage.memory;
        self.non_zero_cpu_milli += usage.non_zero_cpu_milli;
        self.non_zero_memory += usage.non_zero_memory;
        self.pod_count += 1;
        self.host_ports.extend(usage.host_ports.iter().cloned());
        if let Some(owner) = &usage.owner {
            *self.owner_counts.entry(owner.clone()).or_insert(0) += 1;
        }
    }

    fn remove(&mut self, usage: &PodUsage) {
        self.requested_cpu_milli -= usage.cpu_milli;
        self.requested_memory -= usage.memory;
        self.non_zero_cpu_milli -= usage.non_zero_cpu_milli;
        self.non_zero_memory -= usage.non_zero_memory;
        self.pod_count -= 1;
        for port in &usage.host_ports {
            if let Some(i) = self.host_ports.iter().position(|p| p == port) {
                self.host_ports.swap_remove(i);
            }
        }
        if let Some(owner) = &usage.owner {
            if let Some(n) = self.owner_counts.get_mut(owner) {
                *n -= 1;
                if *n == 0 {
                    self.owner_counts.remove(owner);
                }
            }
        }
    }
}

/// A pod the snapshot accounts for.
#[derive(Debug, Clone)]
struct PodEntry {
    record: Arc<PodRecord>,
    /// Bound by this scheduler, not yet confirmed by the watch.
    assumed: bool,
}

/// All nodes and what is bound to them; see the module docs.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Real nodes and placeholders; a slot's index is stable until it is removed.
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<String, PodEntry>,
    real_nodes: usize,
    /// Accounted pods per namespace, by key.
    by_namespace: HashMap<String, HashMap<String, Arc<PodRecord>>>,
    /// Accounted pods whose inter-pod affinity weighs in scoring, by key.
    scoring_affinity: HashMap<String, Arc<PodRecord>>,
    /// The required anti-affinity terms of accounted pods on real nodes, with domains.
    existing_anti: ExistingAnti,
    /// Pods matching the required terms of pending pods, per domain.
    queries: MatchQueries,
    /// The queries each pending pod holds, by key.
    pending_queries: HashMap<String, Vec<MatchQuery>>,
    /// Labels of each namespace.
    namespace_labels: HashMap<String, BTreeMap<String, String>>,
    /// Pending pods nominated to a node by preemption, by key.
    nominated: HashMap<String, Arc<PodRecord>>,
    /// The claims, volumes and classes the VolumeBinding plugin reads.
    volumes: VolumeState,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// The claims, volumes and classes the scheduler knows.
    pub fn volumes(&self) -> &VolumeState {
        &self.volumes
    }

    /// The claims, volumes and classes, to update them.
    pub fn volumes_mut(&mut self) -> &mut VolumeState {
        &mut self.volumes
    }

    /// A snapshot of `nodes` with `pods` accounted for.
    pub fn build(nodes: &[Arc<Node>], pods: &[Arc<Pod>]) -> Self {
        let mut s = Snapshot::new();
        for n in nodes {
            s.upsert_node(n.clone());
        }
        for p in pods {
            s.upsert_pod(p);
        }
        s
    }

    /// How many real nodes there are (placeholders excluded).
    pub fn num_nodes(&self) -> usize {
        self.real_nodes
    }

    /// How many pods are accounted for.
    pub fn num_pods(&self) -> usize {
        self.pods.len()
    }

    /// The accounted pods of namespace `ns`.
    pub fn pods_in_namespace(&self, ns: &str) -> impl Iterator<Item = &Arc<PodRecord>> {
        self.by_namespace
            .get(ns)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// The accounted pods whose inter-pod affinity weighs in scoring (required affinity
    /// or preferred terms).
    pub fn pods_scoring_affinity(&self) -> impl Iterator<Item = &Arc<PodRecord>> {
        self.scoring_affinity.values()
    }

    /// The required anti-affinity terms of the pods on real nodes, each with the domains
    /// of its carriers.
    pub fn existing_anti(&self) -> &ExistingAnti {
        &self.existing_anti
    }

    /// The pods on real nodes that `query` counts, per domain: kept current when a
    /// pending pod registered the query, else counted now.
    pub fn match_counts(&self, query: &MatchQuery) -> std::borrow::Cow<'_, QueryCounts> {
        match self.queries.get(query) {
            Some(counts) => std::borrow::Cow::Borrowed(counts),
            None => std::borrow::Cow::Owned(self.count_matching(query)),
        }
    }

    /// Counts the pods on real nodes that `query` counts, from scratch.
    pub fn count_matching(&self, query: &MatchQuery) -> QueryCounts {
        let mut counts = QueryCounts::default();
        for ns in query.namespaces() {
            for other in self.pods_in_namespace(ns) {
                if let Some(labels) = self.node_labels(&other.node) {
                    counts.update(query, &other.pod, labels, 1);
                }
            }
        }
        counts
    }

    /// The registered match queries (pending pods' and idle ones) with their counts.
    pub fn registered_queries(&self) -> impl Iterator<Item = (&MatchQuery, &QueryCounts)> {
        self.queries.iter()
    }

    /// The queries for the required terms of a pending `pod`, resolved against this
    /// snapshot's namespaces: one for its affinity terms, one for its anti-affinity.
    pub fn queries_of(&self, pod: &Pod) -> Vec<MatchQuery> {
        let Some(info) = pod
            .spec
            .affinity
            .is_some()
            .then(|| PodAffinityInfo::of(pod))
            .flatten()
        else {
            return Vec::new();
        };
        let resolve = |terms: &[super::framework::AffinityTerm]| {
            terms.iter().map(|t| t.resolved(self)).collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        if !info.required_affinity.is_empty() {
            out.push(MatchQuery::affinity(resolve(&info.required_affinity)));
        }
        if !info.required_anti_affinity.is_empty() {
            out.push(MatchQuery::anti_affinity(resolve(
                &info.required_anti_affinity,
            )));
        }
        out
    }

    /// Registers the queries of the pending pod `key` (releasing those it held before).
    fn hold_queries(&mut self, key: &str, pod: &Pod) {
        let queries = self.queries_of(pod);
        if self.pending_queries.get(key) == Some(&queries) {
            return;
        }
        self.release_queries(key);
        if queries.is_empty() {
            return;
        }
        for q in &queries {
            if !self.queries.contains(q) {
                let counts = self.count_matching(q);
                self.queries.insert(q.clone(), counts);
            }
            self.queries.acquire(q);
        }
        self.pending_queries.insert(key.to_owned(), queries);
    }

    /// Releases the queries the pod `key` held while pending.
    fn release_queries(&mut self, key: &str) {
        if let Some(queries) = self.pending_queries.remove(key) {
            for q in &queries {
                self.queries.release(q);
            }
        }
    }

    /// `record` on a node with `labels` now counts `delta` times in the topology-pair
    /// counts.
    fn count_pod(&mut self, record: &PodRecord, labels: &BTreeMap<String, String>, delta: i64) {
        self.existing_anti.update(record, labels, delta);
        self.queries.update(&record.pod, labels, delta);
    }

    /// Slot `i` changes from node `old` to what it holds now: when the labels differ, its
    /// pods move to the new labels' domains.
    fn relabel(&mut self, i: usize, old: Option<&Node>) {
        let new = self.nodes[i].node.clone();
        let old_labels = old.map(|n| &n.metadata.labels);
        let new_labels = new.as_deref().map(|n| &n.metadata.labels);
        if old_labels == new_labels {
            return;
        }
        let pods = self.nodes[i].pods.clone();
        for record in &pods {
            if let Some(labels) = old_labels {
                self.count_pod(record, labels, -1);
            }
            if let Some(labels) = new_labels {
                self.count_pod(record, labels, 1);
            }
        }
    }

    /// Every namespace known (as an object or by its pods) and its labels.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &BTreeMap<String, String>)> {
        let known = self.namespace_labels.iter().map(|(n, l)| (n.as_str(), l));
        let by_pods = self
            .by_namespace
            .keys()
            .filter(|n| !self.namespace_labels.contains_key(*n))
            .map(|n| (n.as_str(), &NO_LABELS));
        known.chain(by_pods)
    }

    /// The labels of namespace `ns` (none when unknown).
    pub fn namespace_labels(&self, ns: &str) -> &BTreeMap<String, String> {
        self.namespace_labels.get(ns).unwrap_or(&NO_LABELS)
    }

    /// Records a namespace's labels.
    pub fn upsert_namespace(&mut self, name: &str, labels: BTreeMap<String, String>) {
        self.namespace_labels.insert(name.to_owned(), labels);
    }

    /// Forgets a namespace's labels.
    pub fn remove_namespace(&mut self, name: &str) {
        self.namespace_labels.remove(name);
    }

    /// The labels of node `name` (`None` for an unknown node or a placeholder).
    pub fn node_labels(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.index.get(name).and_then(|&i| self.nodes[i].labels())
    }

    /// Records that `pod` waits for room on `node` made by preemption (an empty `node`
    /// forgets it).
    pub fn nominate(&mut self, pod: &Arc<Pod>, node: &str) {
        let key = pod_key(pod);
        if node.is_empty() {
            self.nominated.remove(&key);
        } else {
            self.nominated
                .insert(key, Arc::new(PodRecord::new(pod.clone(), node)));
        }
    }

    /// Whether any pod is nominated anywhere.
    pub fn has_nominated(&self) -> bool {
        !self.nominated.is_empty()
    }

    /// The node a pending pod is nominated to, if any.
    pub fn nominated_node(&self, key: &str) -> Option<&str> {
        self.nominated.get(key).map(|r| r.node.as_str())
    }

    /// Pods nominated to `node` with a priority of at least `priority`, other than the
    /// pod `except` (Kubernetes counts them as if bound when placing such pods).
    pub fn nominated_on<'a>(
        &'a self,
        node: &'a str,
        priority: i32,
        except: &'a str,
    ) -> impl Iterator<Item = &'a Arc<PodRecord>> + 'a {
        self.nominated.iter().filter_map(move |(k, r)| {
            (r.node == node && r.priority >= priority && k != except).then_some(r)
        })
    }

    /// Pods nominated to `node` with a priority below `priority`.
    pub fn nominated_below(&self, node: &str, priority: i32) -> Vec<Arc<PodRecord>> {
        self.nominated
            .values()
            .filter(|r| r.node == node && r.priority < priority)
            .cloned()
            .collect()
    }

    /// The node named `name`, if it is a real node.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index
            .get(name)
            .map(|&i| &self.nodes[i])
            .filter(|n| n.node.is_some())
    }

    /// Every slot, placeholders included; the cycle skips placeholders itself so that it
    /// can walk the slots from a rotating start without collecting them first.
    pub(crate) fn slots(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Real nodes, in slot order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter().filter(|n| n.node.is_some())
    }

    /// The node a pod is accounted on, and whether only assumed.
    pub fn pod_node(&self, key: &str) -> Option<(&str, bool)> {
        self.pods
            .get(key)
            .map(|e| (e.record.node.as_str(), e.assumed))
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.nodes.push(NodeInfo::placeholder(name));
        let i = self.nodes.len() - 1;
        self.index.insert(name.to_owned(), i);
        i
    }

    /// Drops slot `i` if it is a placeholder with nothing bound.
    fn gc_slot(&mut self, i: usize) {
        let info = &self.nodes[i];
        if info.node.is_some() || info.pod_count > 0 {
            return;
        }
        let name = info.name.clone();
        self.index.remove(&name);
        self.nodes.swap_remove(i);
        if i < self.nodes.len() {
            let moved = self.nodes[i].name.clone();
            self.index.insert(moved, i);
        }
    }

    /// Adds or replaces a node.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let i = self.slot(&node.metadata.name);
        let old = self.nodes[i].node.clone();
        if old.is_none() {
            self.real_nodes += 1;
        }
        self.nodes[i].set_node(node);
        self.relabel(i, old.as_deref());
    }

    /// Removes a node; the reservations of pods still bound to it are kept on a
    /// placeholder until those pods go.
    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if let Some(old) = self.nodes[i].node.take() {
            self.real_nodes -= 1;
            self.relabel(i, Some(&old));
        }
        self.gc_slot(i);
    }

    /// Accounts for a pod as the watch shows it: bound and not terminated counts, anything
    /// else does not (an assumed entry survives an unbound view of the same pod).
    pub fn upsert_pod(&mut self, pod: &Arc<Pod>) {
        let key = pod_key(pod);
        let terminal = matches!(
            pod.status.phase,
            Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
        );
        let nominated = &pod.status.nominated_node_name;
        if pod.spec.node_name.is_empty() && !terminal && pod.metadata.deletion_timestamp.is_none() {
            if nominated.is_empty() {
                self.nominated.remove(&key);
            } else if self
                .nominated
                .get(&key)
                .is_none_or(|r| r.node != *nominated)
            {
                self.nominate(pod, nominated);
            }
        } else {
            self.nominated.remove(&key);
        }
        if pod.spec.node_name.is_empty() && !terminal {
            if self.pods.get(&key).is_some_and(|e| e.assumed) {
                return;
            }
            self.remove_key(&key);
            if pod.metadata.deletion_timestamp.is_none() {
                self.hold_queries(&key, pod);
            } else {
                self.release_queries(&key);
            }
            return;
        }
        self.release_queries(&key);
        if terminal {
            self.remove_key(&key);
            return;
        }
        let node = pod.spec.node_name.clone();
        self.put(key, pod.clone(), &node, false);
    }

    /// Removes a deleted pod.
    pub fn remove_pod(&mut self, pod: &Pod) {
        let key = pod_key(pod);
        self.nominated.remove(&key);
        self.release_queries(&key);
        self.remove_key(&key);
    }

    /// Records that `pod` is being bound to `node`, ahead of the watch.
    pub fn assume_pod(&mut self, pod: &Arc<Pod>, node: &str) {
        let key = pod_key(pod);
        self.nominated.remove(&key);
        self.release_queries(&key);
        self.put(key, pod.clone(), node, true);
    }

    /// Drops an assumed binding that failed; a confirmed binding is left alone.
    pub fn forget_pod(&mut self, key: &str) {
        if self.pods.get(key).is_some_and(|e| e.assumed) {
            self.remove_key(key);
        }
    }

    fn put(&mut self, key: String, pod: Arc<Pod>, node: &str, assumed: bool) {
        self.remove_key(&key);
        let i = self.slot(node);
        let record = Arc::new(PodRecord::new(pod, node));
        self.nodes[i].add_record(record.clone());
        self.by_namespace
            .entry(record.pod.metadata.namespace.clone())
            .or_default()
            .insert(key.clone(), record.clone());
        if record.scores_affinity() {
            self.scoring_affinity.insert(key.clone(), record.clone());
        }
        if let Some(node) = self.nodes[i].node.clone() {
            self.count_pod(&record, &node.metadata.labels, 1);
        }
        self.pods.insert(key, PodEntry { record, assumed });
    }

    fn remove_key(&mut self, key: &str) {
        let Some(entry) = self.pods.remove(key) else {
            return;
        };
        let ns = &entry.record.pod.metadata.namespace;
        if let Some(m) = self.by_namespace.get_mut(ns) {
            m.remove(key);
            if m.is_empty() {
                self.by_namespace.remove(ns);
            }
        }
        self.scoring_affinity.remove(key);
        if let Some(&i) = self.index.get(&entry.record.node) {
            self.nodes[i].remove_record(key);
            if let Some(node) = self.nodes[i].node.clone() {
                self.count_pod(&entry.record, &node.metadata.labels, -1);
            }
            self.gc_slot(i);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rudder_protocol::resources::ConditionStatus;
    use rudder_protocol::resources::{
        Container, ContainerPort, NodeCondition, OwnerReference, Quantity,
    };

    /// A Ready node with `cpu` (e.g. "4"), `memory` (e.g. "8Gi") and `pods` allocatable.
    pub fn node(name: &str, cpu: &str, memory: &str, pods: i64) -> Node {
        let mut n = Node::new(name);
        let alloc = &mut n.status.allocatable;
        alloc.insert("cpu".into(), Quantity::parse(cpu).expect("test quantity"));
        alloc.insert(
            "memory".into(),
            Quantity::parse(memory).expect("test quantity"),
        );
        alloc.insert("pods".into(), Quantity::new(pods, Default::default()));
        n.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..Default::default()
        });
        n
    }

    /// A pod in namespace `default` with one container per `(cpu, memory)` request pair
    /// (empty strings leave that request out).
    pub fn pod(name: &str, containers: &[(&str, &str)]) -> Pod {
        let mut p = Pod::new(name);
        p.metadata.namespace = "default".into();
        for (i, (cpu, memory)) in containers.iter().enumerate() {
            let mut c = Container {
                name: format!("c{i}"),
                image: "demo".into(),
                ..Default::default()
            };
            if !cpu.is_empty() {
                c.resources
                    .requests
                    .insert("cpu".into(), Quantity::parse(cpu).expect("test quantity"));
            }
            if !memory.is_empty() {
                c.resources.requests.insert(
                    "memory".into(),
                    Quantity::parse(memory).expect("test quantity"),
                );
            }
            p.spec.containers.push(c);
        }
        p
    }

    /// `pod` bound to `node`.
    pub fn bound(mut p: Pod, node: &str) -> Pod {
        p.spec.node_name = node.into();
        p
    }

    /// `node` with `labels` added.
    pub fn with_labels(mut n: Node, labels: &[(&str, &str)]) -> Node {
        for (k, v) in labels {
            n.metadata.labels.insert((*k).into(), (*v).into());
        }
        n
    }

    /// A pod without requests named `name` in namespace `ns` with `labels`.
    pub fn labelled(name: &str, ns: &str, labels: &[(&str, &str)]) -> Pod {
        let mut p = pod(name, &[("", "")]);
        p.metadata.namespace = ns.into();
        for (k, v) in labels {
            p.metadata.labels.insert((*k).into(), (*v).into());
        }
        p
    }

    /// `pod` owned by controller `uid`.
    pub fn owned(mut p: Pod, uid: &str) -> Pod {
        p.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        });
        p
    }

    // Case tables are tuples on purpose: one line per case.
    #[allow(clippy::type_complexity)]
    #[test]
    fn pod_requests_follow_kubernetes() {
        let mut with_init = pod("p", &[("100m", "64Mi"), ("200m", "64Mi")]);
        with_init.spec.init_containers.push(Container {
            name: "init".into(),
            resources: pod("x", &[("1", "32Mi")]).spec.containers[0]
                .resources
                .clone(),
            ..Default::default()
        });
        let table: Vec<(&str, Pod, (i64, i64), (i64, i64))> = vec![
            (
                "empty pod",
                pod("p", &[("", "")]),
                (0, 0),
                (100, DEFAULT_MEMORY_REQUEST),
            ),
            (
                "containers are summed",
                pod("p", &[("100m", "64Mi"), ("250m", "1Gi")]),
                (350, (64 << 20) + (1 << 30)),
                (350, (64 << 20) + (1 << 30)),
            ),
            (
                "init container max wins per resource",
                with_init,
                (1000, 128 << 20),
                (1000, 128 << 20),
            ),
            (
                "only absent requests get defaults",
                pod("p", &[("0", ""), ("", "1Mi")]),
                (0, 1 << 20),
                (100, DEFAULT_MEMORY_REQUEST + (1 << 20)),
            ),
        ];
        for (name, p, want, want_non_zero) in table {
            assert_eq!(pod_requests(&p.spec, false), want, "{name}");
            assert_eq!(
                pod_requests(&p.spec, true),
                want_non_zero,
                "{name} (non-zero)"
            );
        }
    }

    #[test]
    fn host_ports_of_a_spec() {
        let mut p = pod("p", &[("", "")]);
        p.spec.containers[0].ports = vec![
            ContainerPort {
                container_port: 80,
                host_port: 8080,
                ..Default::default()
            },
            ContainerPort {
                container_port: 53,
                host_port: 53,
                protocol: Some(Protocol::Udp),
                host_ip: "127.0.0.1".into(),
                ..Default::default()
            },
            ContainerPort {
                container_port: 9000,
                ..Default::default()
            },
        ];
        let got = host_ports(&p.spec);
        assert_eq!(
            got,
            vec![
                HostPort {
                    ip: ANY_IP.into(),
                    protocol: Protocol::Tcp,
                    port: 8080
                },
                HostPort {
                    ip: "127.0.0.1".into(),
                    protocol: Protocol::Udp,
                    port: 53
                },
            ]
        );
        p.spec.host_network = true;
        assert_eq!(
            host_ports(&p.spec).len(),
            3,
            "host network exposes every port"
        );
    }

    #[test]
    fn incremental_accounting() {
        let mut s = Snapshot::build(
            &[
                Arc::new(node("a", "4", "8Gi", 110)),
                Arc::new(node("b", "4", "8Gi", 110)),
            ],
            &[Arc::new(bound(
                owned(pod("p1", &[("1", "1Gi")]), "rs1"),
                "a",
            ))],
        );
        let a = s.node("a").expect("node a");
        assert_eq!(
            (a.requested_cpu_milli, a.pod_count, a.owner_count("rs1")),
            (1000, 1, 1)
        );

        // An assumed pod counts at once and survives a stale unbound view of itself.
        let p2 = Arc::new(owned(pod("p2", &[("500m", "")]), "rs1"));
        s.assume_pod(&p2, "a");
        s.upsert_pod(&p2);
        assert_eq!(s.node("a").expect("a").requested_cpu_milli, 1500);
        assert_eq!(s.pod_node("default/p2"), Some(("a", true)));
        // The watch confirms it.
        s.upsert_pod(&Arc::new(bound((*p2).clone(), "a")));
        assert_eq!(s.pod_node("default/p2"), Some(("a", false)));
        s.forget_pod("default/p2");
        assert_eq!(
            s.node("a").expect("a").pod_count,
            2,
            "confirmed pods are not forgotten"
        );

        // A failed bind is forgotten.
        let p3 = Arc::new(pod("p3", &[("1", "")]));
        s.assume_pod(&p3, "b");
        s.forget_pod("default/p3");
        assert_eq!(s.node("b").expect("b").requested_cpu_milli, 0);

        // Terminated pods free their node.
        let mut done = bound(pod("p1", &[("1", "1Gi")]), "a");
        done.status.phase = Some(PodPhase::Succeeded);
        s.upsert_pod(&Arc::new(done));
        let a = s.node("a").expect("a");
        assert_eq!((a.requested_cpu_milli, a.owner_count("rs1")), (500, 1));

        // A pod on an unknown node waits on a placeholder, not offered as a node.
        s.upsert_pod(&Arc::new(bound(pod("p4", &[("2", "")]), "c")));
        assert_eq!(s.num_nodes(), 2);
        assert!(s.node("c").is_none());
        s.upsert_node(Arc::new(node("c", "4", "8Gi", 110)));
        assert_eq!(s.node("c").expect("c").requested_cpu_milli, 2000);
        assert_eq!(s.num_nodes(), 3);

        // Removing a node keeps its pods' accounting until they go.
        s.remove_node("c");
        assert_eq!(s.num_nodes(), 2);
        s.remove_pod(&bound(pod("p4", &[]), "c"));
        assert_eq!(s.slots().len(), 2, "empty placeholder is dropped");
        assert_eq!(s.num_pods(), 1);
    }
}
