//! The `netroute` actor on every worker: the pod network across hosts, host-gw style
//! (VXLAN for nodes on other subnets).
//! Each other node's pod CIDR (`spec.podCIDR`) is routed via that node's InternalIP, so
//! a pod reaches every pod by its IP, without NAT, whichever host runs it.
//!
//! It owns nothing in the store: the node's shared informer on Nodes feeds the pure
//! [`plan`], and [`routes::sync`] makes the kernel's main routing table match it with
//! `ip route`. Its routes carry their own protocol number ([`routes::RTPROT`]), so it
//! reads, replaces and deletes only its own, and never a route it did not make (a prefix
//! another route already holds exactly, such as a local bridge's, is left alone with a
//! warning). What it routes is limited to the cluster CIDR.
//!
//! A loopback-only node (InternalIP 127.0.0.1: the tests' local clusters, where every
//! node shares this host's bridges) routes nothing, and nodes whose InternalIP is this
//! node's own are skipped: they are this host. Stopping (or killing) it removes its
//! routes; the supervisor's restart puts them back from the informer's cache. Every
//! Node change wakes one sync; a periodic resync puts back what was changed behind its
//! back; a failed sync is retried after a back-off.
//!
//! Pod-to-pod traffic keeps its addresses: a nat `POSTROUTING` rule on top
//! ([`routes::ensure_no_masquerade`]) exempts cluster-CIDR-to-cluster-CIDR traffic from
//! the Docker bridges' masquerading (Service traffic the proxy marks is still
//! masqueraded). Docker puts its own rule on top when it makes a network, so the kubelet
//! moves ours back right after making the pod network, and every sync checks it.
//!
//! host-gw needs a node's InternalIP on one of this node's links (the kernel refuses a
//! gateway that is not on-link): a node on another subnet is reached through a VXLAN
//! tunnel instead ([`vxlan`]), as flannel's VXLAN backend with direct routing does; a
//! node whose address has no route at all is reported and skipped. Messages in: none
//! but [`crate::supervisor::Stop`].

pub mod routes;
pub mod vxlan;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use rudder_protocol::resources::{Node, NodeAddressType};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::informer::SharedInformers;
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The actor's name on every worker.
pub const NAME: &str = "netroute";
/// A full resync this often.
const RESYNC: Duration = Duration::from_secs(30);

/// What the actor needs to know of its node.
#[derive(Debug, Clone)]
pub struct NetrouteSettings {
    /// This node's name.
    pub node: String,
    /// This node's InternalIP.
    pub address: IpAddr,
    /// The cluster's pod network: only prefixes inside it are routed.
    pub cluster_cidr: Ipv4Network,
    /// The network namespace whose routes it keeps (`None`: its own); tests point it at
    /// a namespace of their own.
    pub netns: Option<String>,
    /// Whether to keep pod-to-pod traffic un-NATed with a nat rule (where the node uses
    /// the packet filter).
    pub no_nat: bool,
}

/// The wanted routes: pod CIDR -> next hop.
pub type Desired = BTreeMap<Ipv4Network, Ipv4Addr>;

/// The InternalIP of `node`, if it reports an IPv4 one.
pub fn internal_ip(node: &Node) -> Option<Ipv4Addr> {
    node.status
        .addresses
        .iter()
        .find(|a| a.type_ == NodeAddressType::InternalIp)
        .and_then(|a| a.address.parse().ok())
}

/// The routes node `own` (at `own_address`) keeps, given every Node.
pub fn plan(own: &str, own_address: IpAddr, cluster: Ipv4Network, nodes: &[&Node]) -> Desired {
    if own_address.is_loopback() || own_address.is_unspecified() {
        return Desired::new();
    }
    let mut out = Desired::new();
    for n in nodes {
        if n.metadata.name == own {
            continue;
        }
        let Ok(cidr) = n.spec.pod_cidr.parse::<Ipv4Network>() else {
            continue;
        };
        let inside = cidr.prefix() >= cluster.prefix() && cluster.contains(cidr.network());
        let Some(via) = internal_ip(n) else { continue };
        if !inside || via.is_loopback() || via.is_unspecified() || IpAddr::V4(via) == own_address {
            continue;
        }
        out.insert(cidr, via);
    }
    out
}

/// The `netroute` component.
pub fn component(settings: NetrouteSettings) -> ComponentSpec {
    ComponentSpec::new(NAME, move |ctx: &StartContext| {
        Started::task(run(ctx.informers.clone(), settings.clone()))
    })
}

/// Which instance of the actor owns the routes of each namespace (`None`: its own): a
/// restarted actor starts while the killed one's [`Cleanup`] may not have run yet, and
/// that late clean-up must not remove what the new one already put back. Every sync
/// and the clean-up hold the lock and act only for the current instance.
static OWNER: std::sync::Mutex<BTreeMap<Option<String>, u64>> =
    std::sync::Mutex::new(BTreeMap::new());

fn owners() -> std::sync::MutexGuard<'static, BTreeMap<Option<String>, u64>> {
    OWNER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes a new instance the owner of `netns`'s routes; its generation.
fn take_ownership(netns: &Option<String>) -> u64 {
    let mut owners = owners();
    let generation = owners.get(netns).map_or(1, |g| g + 1);
    owners.insert(netns.clone(), generation);
    generation
}

/// Removes the actor's routes when its task ends, however it ends (a kill aborts it),
/// unless a newer instance owns them already.
struct Cleanup {
    netns: Option<String>,
    generation: u64,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let owners = owners();
        if owners.get(&self.netns) != Some(&self.generation) {
            return;
        }
        match routes::remove_all(self.netns.as_deref()) {
            Ok(0) => {}
            Ok(n) => info!(routes = n, "pod routes removed"),
            Err(e) => warn!(error = %e, "cannot remove the pod routes"),
        }
    }
}

async fn run(informers: SharedInformers, settings: NetrouteSettings) {
    let dirty = Arc::new(Notify::new());
    let nodes = informers.all::<Node>();
    let d = dirty.clone();
    let _s = nodes.subscribe(move |_| d.notify_one());
    let nodes = nodes.cache();
    nodes.wait_synced().await;
    // A loopback-only node never routes: nothing to remove either.
    let generation = take_ownership(&settings.netns);
    let _cleanup = (!settings.address.is_loopback()).then(|| Cleanup {
        netns: settings.netns.clone(),
        generation,
    });
    info!(node = %settings.node, address = %settings.address, "keeping pod routes to the other nodes");
    let mut programmed: Option<Desired> = None;
    let mut retry = crate::proxy::SYNC_RETRY;
    let mut log: crate::retry::LogLimiter<()> = crate::retry::LogLimiter::default();
    loop {
        let all = nodes.list();
        let desired = plan(
            &settings.node,
            settings.address,
            settings.cluster_cidr,
            &all.iter().map(Arc::as_ref).collect::<Vec<_>>(),
        );
        if programmed.as_ref() != Some(&desired) {
            let started = tokio::time::Instant::now();
            let (want, netns) = (desired.clone(), settings.netns.clone());
            let (cluster, no_nat) = (settings.cluster_cidr, settings.no_nat);
            let settings_address = settings.address;
            let result = tokio::task::spawn_blocking(move || {
                let owners = owners();
                if owners.get(&netns) != Some(&generation) {
                    // A newer instance runs (this one is being stopped).
                    return Ok(Vec::new());
                }
                if no_nat && netns.is_none() && !routes::ensure_no_masquerade(cluster) {
                    tracing::debug!("iptables unusable: pod-to-pod traffic may be NATed");
                }
                let own = match settings_address {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                };
                routes::sync(netns.as_deref(), own, &want)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
            match result {
                Ok(skipped) => {
                    for (cidr, why) in skipped {
                        warn!(%cidr, reason = %why, "pod route not installed");
                    }
                    tracing::debug!(routes = desired.len(), took = ?started.elapsed(), "pod routes programmed");
                    programmed = Some(desired);
                    retry.succeeded();
                    log.clear(&());
                }
                Err(e) => {
                    let retry_in = retry.failed();
                    if let Some(suppressed) = log.admit(&(), started) {
                        warn!(error = %e, ?retry_in, suppressed, "pod route sync failed; retrying");
                    }
                    tokio::time::sleep(retry_in).await;
                    continue;
                }
            }
        }
        tokio::select! {
            _ = dirty.notified() => {}
            _ = tokio::time::sleep(RESYNC) => programmed = None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::type_complexity)]
    use super::*;
    use rudder_protocol::resources::NodeAddress;

    fn node(name: &str, cidr: &str, ip: &str) -> Node {
        let mut n = Node::new(name);
        n.spec.pod_cidr = cidr.into();
        if !ip.is_empty() {
            n.status.addresses = vec![NodeAddress {
                type_: NodeAddressType::InternalIp,
                address: ip.into(),
            }];
        }
        n
    }

    #[test]
    fn plan_table() {
        let cluster: Ipv4Network = "10.244.0.0/16".parse().unwrap();
        let nodes = [
            node("w1", "10.244.1.0/24", "10.213.0.21"),
            node("w2", "10.244.2.0/24", "10.213.0.22"),
            node("w3", "", "10.213.0.23"),
            node("w4", "10.244.4.0/24", ""),
            node("w5", "192.168.5.0/24", "10.213.0.25"),
            node("w6", "10.244.6.0/24", "127.0.0.1"),
            node("w7", "10.244.7.0/24", "10.213.0.21"),
        ];
        let refs: Vec<&Node> = nodes.iter().collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: Vec<(&str, &str, IpAddr, Vec<(&str, &str)>)> = vec![
            (
                "routes only complete nodes inside the cluster CIDR, never itself",
                "w1",
                ip("10.213.0.21"),
                vec![("10.244.2.0/24", "10.213.0.22")],
            ),
            (
                "another node's view",
                "w2",
                ip("10.213.0.22"),
                vec![
                    ("10.244.1.0/24", "10.213.0.21"),
                    ("10.244.7.0/24", "10.213.0.21"),
                ],
            ),
            (
                "a loopback-only node routes nothing",
                "w6",
                ip("127.0.0.1"),
                vec![],
            ),
        ];
        for (name, own, addr, want) in cases {
            let got = plan(own, addr, cluster, &refs);
            let want: Desired = want
                .into_iter()
                .map(|(c, v)| (c.parse().unwrap(), v.parse().unwrap()))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
