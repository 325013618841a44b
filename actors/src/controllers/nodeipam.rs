//! The node IPAM controller: gives every node a pod CIDR (`spec.podCIDR` and
//! `spec.podCIDRs`) carved out of the cluster CIDR, as Kubernetes' range allocator does.
//!
//! What it owns: `spec.podCIDR(s)` of nodes that have none. A CIDR a node already has is
//! only recorded as taken (the API server forbids changing it). IPv4 only.
//!
//! The [`CidrAllocator`] lives in the actor's memory but holds nothing that is not also
//! in the nodes: a restarted controller rebuilds it from the nodes' `spec.podCIDR`
//! before it allocates anything. It hands out subnets round-robin from the last one
//! given, so a released CIDR is reused only after the others, never two nodes the same
//! one; a node whose assignment was not yet seen back gets the same CIDR again.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ipnetwork::Ipv4Network;
use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::Node;
use serde_json::json;
use tracing::{error, info, warn};

use super::support::{reference, Controller, Recorder, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, WorkQueue};
use crate::supervisor::{ComponentSpec, Started};

/// The component's name.
pub const NAME: &str = "controller/nodeipam";
/// How soon to try again for a node when the cluster CIDR is full.
const EXHAUSTED_RETRY: Duration = Duration::from_secs(30);

/// The default cluster CIDR.
pub const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";
/// The default prefix length of a node's pod CIDR.
pub const DEFAULT_NODE_MASK: u8 = 24;

/// Why a CIDR cannot be allocated or taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// The cluster CIDR or node mask is unusable.
    #[error("invalid CIDR settings: {0}")]
    Config(String),
    /// Every node CIDR of the cluster CIDR is taken.
    #[error("no remaining CIDRs in {cluster} for node {node}")]
    Exhausted {
        /// The cluster CIDR.
        cluster: String,
        /// The node that asked.
        node: String,
    },
    /// A node's CIDR is not a node-sized subnet of the cluster CIDR.
    #[error("CIDR {cidr} of node {node} is not a /{mask} inside {cluster}")]
    OutOfRange {
        /// The node.
        node: String,
        /// Its CIDR.
        cidr: String,
        /// The cluster CIDR.
        cluster: String,
        /// The node mask.
        mask: u8,
    },
    /// Two nodes claim the same CIDR.
    #[error("CIDR {cidr} of node {node} is already held by node {holder}")]
    Taken {
        /// The node.
        node: String,
        /// The CIDR.
        cidr: String,
        /// The node holding it.
        holder: String,
    },
}

/// Node-sized subnets of a cluster CIDR and which node holds each.
#[derive(Debug, Clone)]
pub struct CidrAllocator {
    cluster: Ipv4Network,
    mask: u8,
    /// Number of node subnets.
    size: u64,
    by_index: BTreeMap<u64, String>,
    by_node: BTreeMap<String, u64>,
    /// Where the next search starts (round robin).
    next: u64,
}

impl CidrAllocator {
    /// An allocator of `/node_mask` subnets of `cluster` (e.g. `10.244.0.0/16`, 24).
    pub fn new(cluster: &str, node_mask: u8) -> Result<Self, IpamError> {
        let net: Ipv4Network = cluster
            .parse()
            .map_err(|e| IpamError::Config(format!("cluster CIDR {cluster:?}: {e}")))?;
        // Normalise 10.244.3.0/16 to 10.244.0.0/16.
        let cluster = Ipv4Network::new(net.network(), net.prefix())
            .map_err(|e| IpamError::Config(e.to_string()))?;
        if node_mask < cluster.prefix() || node_mask > 32 {
            return Err(IpamError::Config(format!(
                "node mask /{node_mask} must be between /{} and /32",
                cluster.prefix()
            )));
        }
        Ok(CidrAllocator {
            cluster,
            mask: node_mask,
            size: 1u64 << (node_mask - cluster.prefix()),
            by_index: BTreeMap::new(),
            by_node: BTreeMap::new(),
            next: 0,
        })
    }

    /// The cluster CIDR.
    pub fn cluster(&self) -> Ipv4Network {
        self.cluster
    }

    /// How many node CIDRs are held.
    pub fn used(&self) -> usize {
        self.by_index.len()
    }

    fn subnet(&self, index: u64) -> Ipv4Network {
        let base = u64::from(u32::from(self.cluster.network()));
        let addr = base + (index << (32 - u32::from(self.mask)));
        // `index < size` keeps the address inside the 32-bit cluster range.
        let addr = Ipv4Addr::from(u32::try_from(addr).unwrap_or(u32::MAX));
        match Ipv4Network::new(addr, self.mask) {
            Ok(n) => n,
            // A mask of at most 32 was checked in `new`.
            Err(_) => self.cluster,
        }
    }

    fn index_of(&self, node: &str, cidr: &str) -> Result<u64, IpamError> {
        let out_of_range = || IpamError::OutOfRange {
            node: node.to_owned(),
            cidr: cidr.to_owned(),
            cluster: self.cluster.to_string(),
            mask: self.mask,
        };
        let net: Ipv4Network = cidr.parse().map_err(|_| out_of_range())?;
        if net.prefix() != self.mask
            || net.ip() != net.network()
            || !self.cluster.contains(net.network())
        {
            return Err(out_of_range());
        }
        let offset = u32::from(net.network()) - u32::from(self.cluster.network());
        Ok(u64::from(offset) >> (32 - u32::from(self.mask)))
    }

    /// Records that `node` has `cidr` (a node's existing `spec.podCIDR`).
    pub fn occupy(&mut self, node: &str, cidr: &str) -> Result<Ipv4Network, IpamError> {
        let index = self.index_of(node, cidr)?;
        match self.by_index.get(&index) {
            Some(holder) if holder != node => {
                return Err(IpamError::Taken {
                    node: node.to_owned(),
                    cidr: cidr.to_owned(),
                    holder: holder.clone(),
                })
            }
            _ => {}
        }
        // A CIDR reserved for this node but not the one it ended up with is free again.
        if let Some(old) = self.by_node.insert(node.to_owned(), index) {
            if old != index {
                self.by_index.remove(&old);
            }
        }
        self.by_index.insert(index, node.to_owned());
        Ok(self.subnet(index))
    }

    /// A CIDR for `node`: the one it already holds, else the next free one.
    pub fn allocate(&mut self, node: &str) -> Result<Ipv4Network, IpamError> {
        if let Some(index) = self.by_node.get(node) {
            return Ok(self.subnet(*index));
        }
        for step in 0..self.size {
            let index = (self.next + step) % self.size;
            if let std::collections::btree_map::Entry::Vacant(slot) = self.by_index.entry(index) {
                slot.insert(node.to_owned());
                self.by_node.insert(node.to_owned(), index);
                self.next = (index + 1) % self.size;
                return Ok(self.subnet(index));
            }
        }
        Err(IpamError::Exhausted {
            cluster: self.cluster.to_string(),
            node: node.to_owned(),
        })
    }

    /// Frees the CIDR `node` holds (the node is gone, or its assignment failed).
    pub fn release(&mut self, node: &str) -> Option<Ipv4Network> {
        let index = self.by_node.remove(node)?;
        self.by_index.remove(&index);
        Some(self.subnet(index))
    }

    /// The node holding `cidr`, if any.
    pub fn holder(&self, cidr: &str) -> Option<&str> {
        let index = self.index_of("", cidr).ok()?;
        self.by_index.get(&index).map(String::as_str)
    }
}

/// What to do about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpamAction {
    /// Nothing: the node has its CIDR and it is recorded.
    None,
    /// Write `cidr` into the node's `spec.podCIDR` and `spec.podCIDRs`.
    Assign {
        /// The node.
        node: String,
        /// Its new CIDR.
        cidr: String,
    },
    /// No CIDR can be given (exhausted) or the node's own is unusable: report it.
    Fail(IpamError),
}

/// Decides about one node seen in the cache, recording what it holds in `alloc`.
pub fn plan(alloc: &mut CidrAllocator, node: &Node) -> IpamAction {
    let name = &node.metadata.name;
    if !node.spec.pod_cidr.is_empty() {
        return match alloc.occupy(name, &node.spec.pod_cidr) {
            Ok(_) => IpamAction::None,
            Err(e) => IpamAction::Fail(e),
        };
    }
    match alloc.allocate(name) {
        Ok(cidr) => IpamAction::Assign {
            node: name.clone(),
            cidr: cidr.to_string(),
        },
        Err(e) => IpamAction::Fail(e),
    }
}

/// The supervised component, allocating `/node_mask` subnets of `cluster_cidr`: Nodes
/// by name, when they arrive, go, or their CIDR changes (heartbeats do not concern it).
pub fn component(cluster_cidr: String, node_mask: u8) -> ComponentSpec {
    let empty = match CidrAllocator::new(&cluster_cidr, node_mask) {
        Ok(a) => a,
        Err(e) => {
            // The config is validated at start; nothing sensible to allocate from.
            return ComponentSpec::new(NAME, move |_| {
                let e = e.clone();
                Started::task(async move {
                    error!(error = %e, "node IPAM disabled");
                    std::future::pending::<()>().await;
                })
            });
        }
    };
    Controller::<Node>::new(NAME).component(
        move |w: &mut Wiring<Node>| wire(w, empty.clone()),
        |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx.api, &ctx.nodes, &ctx.alloc, &ctx.recorder, key.name).await
        },
    )
}

fn lock(a: &Mutex<CidrAllocator>) -> MutexGuard<'_, CidrAllocator> {
    // The allocator is consistent between calls; a panic inside one leaves it usable.
    a.lock().unwrap_or_else(|p| p.into_inner())
}

struct Ctx {
    api: ApiHandle,
    nodes: Cache<Node>,
    alloc: Arc<Mutex<CidrAllocator>>,
    recorder: Recorder,
}

/// Starts from an empty allocator, and records every CIDR already given (once the
/// nodes are cached) before any new one is given.
fn wire(w: &mut Wiring<Node>, empty: CidrAllocator) -> Ctx {
    let nodes = w.primary_with(|c: &Change<Node>, q: &WorkQueue<ObjectKey>| {
        let relevant = match c {
            Change::Modified { old, new } => old.spec.pod_cidr != new.spec.pod_cidr,
            Change::Added(_) | Change::Deleted(_) => true,
        };
        if relevant {
            q.add(c.key());
        }
    });
    let alloc = Arc::new(Mutex::new(empty));
    let (cached, a) = (nodes.clone(), alloc.clone());
    w.after_sync(move || {
        for node in cached.list() {
            if !node.spec.pod_cidr.is_empty() {
                if let IpamAction::Fail(e) = plan(&mut lock(&a), &node) {
                    warn!(node = %node.metadata.name, error = %e, "node CIDR not recorded");
                }
            }
        }
    });
    Ctx {
        api: w.api().clone(),
        nodes,
        alloc,
        recorder: Recorder::new(w.api().clone(), "node-controller"),
    }
}

async fn reconcile(
    api: &ApiHandle,
    nodes: &Cache<Node>,
    alloc: &Mutex<CidrAllocator>,
    recorder: &Recorder,
    name: String,
) -> Result<Option<Duration>, ApiError> {
    let Some(node) = nodes.get(&ObjectKey::cluster(&name)) else {
        if let Some(cidr) = lock(alloc).release(&name) {
            info!(node = %name, cidr = %cidr, "released the CIDR of a deleted node");
        }
        return Ok(None);
    };
    let action = plan(&mut lock(alloc), &node);
    match action {
        IpamAction::None => Ok(None),
        IpamAction::Assign { node: n, cidr } => {
            let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
            match api
                .api::<Node>(None)
                .patch(&n, PatchType::Merge, &patch)
                .await
            {
                Ok(_) => {
                    info!(node = %n, cidr = %cidr, "assigned pod CIDR");
                    Ok(None)
                }
                Err(e) if e.is_not_found() => {
                    lock(alloc).release(&n);
                    Ok(None)
                }
                Err(e) => {
                    lock(alloc).release(&n);
                    recorder.record(
                        reference(node.as_ref()),
                        "Warning",
                        "CIDRAssignmentFailed",
                        format!("Node {n} CIDR assignment failed: {e}"),
                    );
                    Err(e)
                }
            }
        }
        IpamAction::Fail(e @ IpamError::Exhausted { .. }) => {
            warn!(node = %name, error = %e, "no CIDR left");
            recorder.record(
                reference(node.as_ref()),
                "Normal",
                "CIDRNotAvailable",
                format!("Node {name} status is now: CIDRNotAvailable"),
            );
            Ok(Some(EXHAUSTED_RETRY))
        }
        IpamAction::Fail(e) => {
            warn!(node = %name, error = %e, "node CIDR unusable");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: &str) -> Node {
        let mut n = Node::new(name);
        n.spec.pod_cidr = cidr.into();
        n
    }

    fn assigned(a: IpamAction) -> String {
        match a {
            IpamAction::Assign { cidr, .. } => cidr,
            other => panic!("expected an assignment, got {other:?}"),
        }
    }

    #[test]
    fn settings() {
        let cases = [
            (
                "default",
                DEFAULT_CLUSTER_CIDR,
                DEFAULT_NODE_MASK,
                Some(256),
            ),
            ("host bits ignored", "10.244.7.1/16", 24, Some(256)),
            ("single subnet", "10.0.0.0/24", 24, Some(1)),
            ("mask shorter than cluster", "10.0.0.0/24", 16, None),
            ("mask too long", "10.0.0.0/24", 33, None),
            ("not a CIDR", "banana", 24, None),
            ("IPv6 not served", "fd00::/64", 80, None),
        ];
        for (name, cluster, mask, size) in cases {
            let got = CidrAllocator::new(cluster, mask).ok().map(|a| a.size);
            assert_eq!(got, size, "case {name}");
        }
    }

    #[test]
    fn allocation_sequences() {
        // Each step: (node, existing CIDR or "", expected outcome: CIDR, "exhausted", "error").
        type Step = (&'static str, &'static str, &'static str);
        let cases: Vec<(&str, &str, u8, Vec<Step>)> = vec![
            (
                "distinct CIDRs in order",
                "10.244.0.0/16",
                24,
                vec![
                    ("a", "", "10.244.0.0/24"),
                    ("b", "", "10.244.1.0/24"),
                    ("c", "", "10.244.2.0/24"),
                ],
            ),
            (
                "existing CIDRs are skipped",
                "10.244.0.0/16",
                24,
                vec![
                    ("a", "10.244.0.0/24", "none"),
                    ("b", "10.244.1.0/24", "none"),
                    ("c", "", "10.244.2.0/24"),
                ],
            ),
            (
                "unseen assignment is handed out again, not twice",
                "10.244.0.0/16",
                24,
                vec![
                    ("a", "", "10.244.0.0/24"),
                    ("a", "", "10.244.0.0/24"),
                    ("b", "", "10.244.1.0/24"),
                ],
            ),
            (
                "exhaustion is reported",
                "10.0.0.0/23",
                24,
                vec![
                    ("a", "", "10.0.0.0/24"),
                    ("b", "", "10.0.1.0/24"),
                    ("c", "", "exhausted"),
                ],
            ),
            (
                "a CIDR outside the cluster is refused",
                "10.244.0.0/16",
                24,
                vec![
                    ("a", "10.1.0.0/24", "error"),
                    ("b", "10.244.0.0/25", "error"),
                ],
            ),
            (
                "two nodes claiming one CIDR: the second is refused",
                "10.244.0.0/16",
                24,
                vec![
                    ("a", "10.244.5.0/24", "none"),
                    ("b", "10.244.5.0/24", "error"),
                ],
            ),
        ];
        for (name, cluster, mask, steps) in cases {
            let mut alloc = CidrAllocator::new(cluster, mask).expect("valid settings");
            for (i, (n, cidr, want)) in steps.into_iter().enumerate() {
                let got = match plan(&mut alloc, &node(n, cidr)) {
                    IpamAction::None => "none".to_owned(),
                    IpamAction::Assign { cidr, .. } => cidr,
                    IpamAction::Fail(IpamError::Exhausted { .. }) => "exhausted".to_owned(),
                    IpamAction::Fail(_) => "error".to_owned(),
                };
                assert_eq!(got, want, "case {name}, step {i}");
            }
        }
    }

    #[test]
    fn release_and_reuse() {
        let mut alloc = CidrAllocator::new("10.0.0.0/23", 24).expect("valid");
        assert_eq!(assigned(plan(&mut alloc, &node("a", ""))), "10.0.0.0/24");
        assert_eq!(assigned(plan(&mut alloc, &node("b", ""))), "10.0.1.0/24");
        assert!(matches!(
            plan(&mut alloc, &node("c", "")),
            IpamAction::Fail(IpamError::Exhausted { .. })
        ));
        assert_eq!(
            alloc.release("a").map(|n| n.to_string()).as_deref(),
            Some("10.0.0.0/24")
        );
        assert_eq!(alloc.release("a"), None, "released once");
        assert_eq!(assigned(plan(&mut alloc, &node("c", ""))), "10.0.0.0/24");
        assert_eq!(alloc.holder("10.0.0.0/24"), Some("c"));
        assert_eq!(alloc.used(), 2);
    }

    #[test]
    fn rebuilt_state_never_double_allocates() {
        // A restarted controller records existing CIDRs first, whatever their order.
        let mut alloc = CidrAllocator::new("10.244.0.0/16", 24).expect("valid");
        for (n, cidr) in [
            ("x", "10.244.3.0/24"),
            ("y", "10.244.0.0/24"),
            ("z", "10.244.1.0/24"),
        ] {
            assert_eq!(plan(&mut alloc, &node(n, cidr)), IpamAction::None);
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in ["p", "q", "r"] {
            let c = assigned(plan(&mut alloc, &node(n, "")));
            assert!(
                !["10.244.3.0/24", "10.244.0.0/24", "10.244.1.0/24"].contains(&c.as_str()),
                "{c}"
            );
            assert!(seen.insert(c));
        }
        // The pending reservation of `p` gives way to the CIDR it is then seen with.
        let before = alloc.used();
        assert_eq!(
            plan(&mut alloc, &node("p", "10.244.200.0/24")),
            IpamAction::None
        );
        assert_eq!(alloc.used(), before);
    }
}
