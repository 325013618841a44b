//! What the node's packet filter must enforce, as a pure function of NetworkPolicies,
//! pods and namespaces (Kubernetes' NetworkPolicy semantics):
//!
//! - A pod of this node is *isolated* for ingress (egress) when a policy of its namespace
//!   that governs ingress (egress) selects it; an unisolated pod's traffic in that
//!   direction is not filtered at all.
//! - Traffic to (from) an isolated pod passes when any rule of any of its policies of
//!   that direction allows it: policies only add.
//! - A rule allows when the peer matches (no peers: any peer) and the port matches (no
//!   ports: any port). Peers are pods (`podSelector` in the policy's namespace,
//!   `namespaceSelector` alone for every pod of the selected namespaces, both for the
//!   selected pods of the selected namespaces) or an `ipBlock` minus its `except`s.
//! - A named port is resolved against the container ports of the pod that receives the
//!   traffic: the selected pod for ingress, the peer pod for egress (an egress rule
//!   to an IP block with a named port matches the known pods inside the block only).
//! - Pods with the host's network, pods without an IP and finished pods are neither
//!   selected nor peers; IPv4 only (pods have no other family here).
//!
//! The result is a [`Desired`]: for each isolated local pod the policy chains it must
//! pass, and for each policy direction the [`Allow`] entries of its chain.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use rudder_protocol::resources::{
    IntOrString, LabelSelector, Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
    Pod, PodPhase, PolicyType, Protocol,
};

/// A protocol iptables matches by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    /// The lower-case name iptables uses.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    fn of(p: Option<Protocol>) -> Proto {
        match p {
            None | Some(Protocol::Tcp) => Proto::Tcp,
            Some(Protocol::Udp) => Proto::Udp,
            Some(Protocol::Sctp) => Proto::Sctp,
        }
    }
}

/// The direction a policy chain filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// To the selected pods: the peer is the source.
    Ingress,
    /// From the selected pods: the peer is the destination.
    Egress,
}

/// The other end of allowed traffic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// Anyone.
    Any,
    /// One pod.
    Pod(Ipv4Addr),
    /// A block of addresses, minus its exceptions.
    Block(Ipv4Network, Vec<Ipv4Network>),
}

/// Traffic one policy chain lets through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Allow {
    /// Who is at the other end.
    pub peer: Peer,
    /// The protocol (`None`: any).
    pub proto: Option<Proto>,
    /// The destination ports, first and last (`None`: any port of `proto`).
    pub ports: Option<(u16, u16)>,
    /// Only traffic of this selected pod (a named ingress port resolved for one pod).
    pub pod: Option<Ipv4Addr>,
}

/// One direction of one policy: the chain every pod it isolates passes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChain {
    /// `namespace/name`, for comments and the chain's name.
    pub policy: String,
    /// Which way it filters.
    pub direction: Direction,
    /// What it allows; empty: nothing.
    pub allows: Vec<Allow>,
}

impl PolicyChain {
    /// The key of this chain in [`Desired::policies`] (and the seed of its name).
    pub fn id(&self) -> String {
        chain_id(&self.policy, self.direction)
    }
}

fn chain_id(policy: &str, direction: Direction) -> String {
    match direction {
        Direction::Ingress => format!("{policy}/ingress"),
        Direction::Egress => format!("{policy}/egress"),
    }
}

/// One pod of this node that some policy isolates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IsolatedPod {
    /// `namespace/name`.
    pub pod: String,
    /// The policy chains of its ingress, when isolated for ingress.
    pub ingress: Option<Vec<String>>,
    /// The policy chains of its egress, when isolated for egress.
    pub egress: Option<Vec<String>>,
}

/// The whole desired state of the node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desired {
    /// The isolated pods of this node, by IP.
    pub pods: BTreeMap<Ipv4Addr, IsolatedPod>,
    /// The policy chains those pods use, by [`PolicyChain::id`].
    pub policies: BTreeMap<String, PolicyChain>,
}

/// A pod as the plan sees it: one that has an IP of its own and is not finished.
struct Member<'a> {
    pod: &'a Pod,
    ip: Ipv4Addr,
}

fn members<'a>(pods: &[&'a Pod]) -> Vec<Member<'a>> {
    pods.iter()
        .filter(|p| !p.spec.host_network)
        .filter(|p| {
            !matches!(
                p.status.phase,
                Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
            )
        })
        .filter_map(|p| {
            let ip = p.status.pod_ip.parse::<Ipv4Addr>().ok()?;
            Some(Member { pod: p, ip })
        })
        .collect()
}

/// The container port named `name` of `pod` for `proto`.
fn named_port(pod: &Pod, name: &str, proto: Proto) -> Option<u16> {
    pod.spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .find(|p| p.name == name && Proto::of(p.protocol) == proto)
        .and_then(|p| u16::try_from(p.container_port).ok())
}

/// A port of a rule, resolved as far as it can be without knowing the pod.
enum PortMatch {
    Any,
    Range(Proto, Option<(u16, u16)>),
    Named(Proto, String),
}

fn port_matches(ports: &[NetworkPolicyPort]) -> Vec<PortMatch> {
    if ports.is_empty() {
        return vec![PortMatch::Any];
    }
    ports
        .iter()
        .filter_map(|p| {
            let proto = Proto::of(p.protocol);
            match &p.port {
                None => Some(PortMatch::Range(proto, None)),
                Some(IntOrString::Int(n)) => {
                    let first = u16::try_from(*n).ok()?;
                    let last = p
                        .end_port
                        .and_then(|e| u16::try_from(e).ok())
                        .unwrap_or(first);
                    Some(PortMatch::Range(proto, Some((first, last.max(first)))))
                }
                Some(IntOrString::String(name)) => Some(PortMatch::Named(proto, name.clone())),
            }
        })
        .collect()
}

/// The peers of one rule entry, with the pods they stand for (to resolve named ports).
fn peer_of(
    peer: &NetworkPolicyPeer,
    policy_ns: &str,
    all: &[Member<'_>],
    ns_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<(Peer, Vec<usize>)> {
    if let Some(block) = &peer.ip_block {
        let Ok(cidr) = block.cidr.parse::<Ipv4Network>() else {
            // Not IPv4: nothing here can match it.
            return Vec::new();
        };
        let except: Vec<Ipv4Network> = block.except.iter().filter_map(|e| e.parse().ok()).collect();
        let inside = all
            .iter()
            .enumerate()
            .filter(|(_, m)| cidr.contains(m.ip) && !except.iter().any(|e| e.contains(m.ip)))
            .map(|(i, _)| i)
            .collect();
        return vec![(Peer::Block(cidr, except), inside)];
    }
    let empty = BTreeMap::new();
    let ns_ok = |ns: &str| match &peer.namespace_selector {
        None => ns == policy_ns,
        Some(sel) => sel.matches(ns_labels.get(ns).unwrap_or(&empty)),
    };
    let pod_ok = |p: &Pod| {
        peer.pod_selector
            .as_ref()
            .is_none_or(|sel: &LabelSelector| sel.matches(&p.metadata.labels))
    };
    all.iter()
        .enumerate()
        .filter(|(_, m)| ns_ok(&m.pod.metadata.namespace) && pod_ok(m.pod))
        .map(|(i, m)| (Peer::Pod(m.ip), vec![i]))
        .collect()
}

/// The allows of one rule of one policy.
fn rule_allows(
    direction: Direction,
    ports: &[NetworkPolicyPort],
    peers: &[NetworkPolicyPeer],
    policy_ns: &str,
    selected: &[usize],
    all: &[Member<'_>],
    ns_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Allow> {
    let resolved: Vec<(Peer, Vec<usize>)> = if peers.is_empty() {
        vec![(Peer::Any, (0..all.len()).collect())]
    } else {
        peers
            .iter()
            .flat_map(|p| peer_of(p, policy_ns, all, ns_labels))
            .collect()
    };
    let mut out = Vec::new();
    for pm in port_matches(ports) {
        for (peer, pods) in &resolved {
            match &pm {
                PortMatch::Any => out.push(Allow {
                    peer: peer.clone(),
                    proto: None,
                    ports: None,
                    pod: None,
                }),
                PortMatch::Range(proto, range) => out.push(Allow {
                    peer: peer.clone(),
                    proto: Some(*proto),
                    ports: *range,
                    pod: None,
                }),
                PortMatch::Named(proto, name) => match direction {
                    // The selected pod receives: its own port of that name.
                    Direction::Ingress => {
                        for &s in selected {
                            if let Some(port) = named_port(all[s].pod, name, *proto) {
                                out.push(Allow {
                                    peer: peer.clone(),
                                    proto: Some(*proto),
                                    ports: Some((port, port)),
                                    pod: Some(all[s].ip),
                                });
                            }
                        }
                    }
                    // The peer receives: each peer pod's port of that name.
                    Direction::Egress => {
                        for &p in pods {
                            if let Some(port) = named_port(all[p].pod, name, *proto) {
                                out.push(Allow {
                                    peer: Peer::Pod(all[p].ip),
                                    proto: Some(*proto),
                                    ports: Some((port, port)),
                                    pod: None,
                                });
                            }
                        }
                    }
                },
            }
        }
    }
    out
}

/// The desired filter of node `node` given every policy, pod and namespace.
pub fn plan(
    node: &str,
    policies: &[&NetworkPolicy],
    pods: &[&Pod],
    namespaces: &[&Namespace],
) -> Desired {
    let all = members(pods);
    let ns_labels: BTreeMap<String, BTreeMap<String, String>> = namespaces
        .iter()
        .map(|n| (n.metadata.name.clone(), n.metadata.labels.clone()))
        .collect();
    let mut desired = Desired::default();
    let mut policies: Vec<&&NetworkPolicy> = policies.iter().collect();
    policies.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    for np in policies {
        let ns = np.metadata.namespace.as_str();
        let name = format!("{ns}/{}", np.metadata.name);
        let selected: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.pod.metadata.namespace == ns
                    && np.spec.pod_selector.matches(&m.pod.metadata.labels)
            })
            .map(|(i, _)| i)
            .collect();
        let local: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| all[i].pod.spec.node_name == node)
            .collect();
        if local.is_empty() {
            continue;
        }
        for direction in [Direction::Ingress, Direction::Egress] {
            let governs = match direction {
                Direction::Ingress => np.spec.governs(PolicyType::Ingress),
                Direction::Egress => np.spec.governs(PolicyType::Egress),
            };
            if !governs {
                continue;
            }
            let mut allows: Vec<Allow> = match direction {
                Direction::Ingress => np
                    .spec
                    .ingress
                    .iter()
                    .flat_map(|r| {
                        rule_allows(
                            direction, &r.ports, &r.from, ns, &selected, &all, &ns_labels,
                        )
                    })
                    .collect(),
                Direction::Egress => np
                    .spec
                    .egress
                    .iter()
                    .flat_map(|r| {
                        rule_allows(direction, &r.ports, &r.to, ns, &selected, &all, &ns_labels)
                    })
                    .collect(),
            };
            // Only this node's pods pass through the chain: entries pinned to another
            // node's pod never match here.
            allows.retain(|a| {
                a.pod
                    .is_none_or(|ip| local.iter().any(|&i| all[i].ip == ip))
            });
            let unique: BTreeSet<Allow> = allows.into_iter().collect();
            let chain = PolicyChain {
                policy: name.clone(),
                direction,
                allows: unique.into_iter().collect(),
            };
            let id = chain.id();
            for &i in &local {
                let m = &all[i];
                let entry = desired.pods.entry(m.ip).or_insert_with(|| IsolatedPod {
                    pod: format!("{}/{}", m.pod.metadata.namespace, m.pod.metadata.name),
                    ..IsolatedPod::default()
                });
                let list = match direction {
                    Direction::Ingress => &mut entry.ingress,
                    Direction::Egress => &mut entry.egress,
                };
                list.get_or_insert_with(Vec::new).push(id.clone());
            }
            desired.policies.insert(id, chain);
        }
    }
    desired
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::resources::{Container, ContainerPort};
    use serde_json::json;

    fn pod(ns: &str, name: &str, node: &str, ip: &str, labels: &[(&str, &str)]) -> Pod {
        let mut p = Pod::new(name);
        p.metadata.namespace = ns.into();
        p.metadata.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        p.spec.node_name = node.into();
        p.status.pod_ip = ip.into();
        p.spec.containers = vec![Container {
            name: "main".into(),
            ports: vec![ContainerPort {
                name: "http".into(),
                container_port: 8080,
                ..Default::default()
            }],
            ..Default::default()
        }];
        p
    }

    fn ns(name: &str, labels: &[(&str, &str)]) -> Namespace {
        let mut n = Namespace::new(name);
        n.metadata.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        n
    }

    fn policy(ns: &str, name: &str, spec: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
            .unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn allow(peer: Peer, proto: Option<Proto>, ports: Option<(u16, u16)>) -> Allow {
        Allow {
            peer,
            proto,
            ports,
            pod: None,
        }
    }

    /// The cluster of every case: `web` (10.244.1.2) and `other` (10.244.1.3) on this
    /// node in `default`, `client` (10.244.2.2) on another node in `team-a`, `stranger`
    /// (10.244.2.3) in `team-b`.
    fn world() -> (Vec<Pod>, Vec<Namespace>) {
        (
            vec![
                pod("default", "web", "n1", "10.244.1.2", &[("app", "web")]),
                pod("default", "other", "n1", "10.244.1.3", &[("app", "other")]),
                pod(
                    "team-a",
                    "client",
                    "n2",
                    "10.244.2.2",
                    &[("role", "client")],
                ),
                pod(
                    "team-b",
                    "stranger",
                    "n2",
                    "10.244.2.3",
                    &[("role", "client")],
                ),
            ],
            vec![
                ns("default", &[]),
                ns("team-a", &[("team", "a")]),
                ns("team-b", &[("team", "b")]),
            ],
        )
    }

    #[test]
    fn plan_table() {
        let web = ip("10.244.1.2");
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            serde_json::Value,
            Vec<(Ipv4Addr, bool, bool)>,
            Vec<Allow>,
        )> = vec![
            (
                "default deny ingress isolates every pod of the namespace, allows nothing",
                json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
                vec![(web, true, false), (ip("10.244.1.3"), true, false)],
                vec![],
            ),
            (
                "namespace selector: every pod of the selected namespaces",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{
                    "from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]}]}),
                vec![(web, true, false)],
                vec![allow(Peer::Pod(ip("10.244.2.2")), None, None)],
            ),
            (
                "pod and namespace selector together: both must match",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{
                    "from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "client"}}}],
                    "ports": [{"port": 80, "endPort": 90, "protocol": "UDP"}]}]}),
                vec![(web, true, false)],
                vec![
                    allow(
                        Peer::Pod(ip("10.244.2.2")),
                        Some(Proto::Udp),
                        Some((80, 90)),
                    ),
                    allow(
                        Peer::Pod(ip("10.244.2.3")),
                        Some(Proto::Udp),
                        Some((80, 90)),
                    ),
                ],
            ),
            (
                "pod selector alone stays in the policy's namespace",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{
                    "from": [{"podSelector": {}}]}]}),
                vec![(web, true, false)],
                vec![
                    allow(Peer::Pod(web), None, None),
                    allow(Peer::Pod(ip("10.244.1.3")), None, None),
                ],
            ),
            (
                "a named ingress port resolves on the selected pod",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{
                    "ports": [{"port": "http"}, {"port": "nope"}]}]}),
                vec![(web, true, false)],
                vec![Allow {
                    peer: Peer::Any,
                    proto: Some(Proto::Tcp),
                    ports: Some((8080, 8080)),
                    pod: Some(web),
                }],
            ),
            (
                "egress to a block with exceptions, a named port on the peer pods inside",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "10.244.2.0/24", "except": ["10.244.2.3/32"]}}],
                                "ports": [{"port": "http"}, {"port": 53, "protocol": "UDP"}]}]}),
                vec![(web, false, true)],
                vec![
                    allow(
                        Peer::Pod(ip("10.244.2.2")),
                        Some(Proto::Tcp),
                        Some((8080, 8080)),
                    ),
                    allow(
                        Peer::Block(
                            "10.244.2.0/24".parse().unwrap(),
                            vec!["10.244.2.3/32".parse().unwrap()],
                        ),
                        Some(Proto::Udp),
                        Some((53, 53)),
                    ),
                ],
            ),
            (
                "a policy selecting only other nodes' pods programs nothing here",
                json!({"podSelector": {"matchLabels": {"role": "client"}}}),
                vec![],
                vec![],
            ),
        ];
        let (pods, namespaces) = world();
        let pods: Vec<&Pod> = pods.iter().collect();
        let namespaces: Vec<&Namespace> = namespaces.iter().collect();
        for (name, spec, isolated, allows) in cases {
            let ns = if name.starts_with("a policy selecting only") {
                "team-a"
            } else {
                "default"
            };
            let np = policy(ns, "np", spec);
            let d = plan("n1", &[&np], &pods, &namespaces);
            let got: Vec<(Ipv4Addr, bool, bool)> = d
                .pods
                .iter()
                .map(|(ip, p)| (*ip, p.ingress.is_some(), p.egress.is_some()))
                .collect();
            assert_eq!(got, isolated, "{name}: isolated pods");
            let mut got_allows: Vec<Allow> =
                d.policies.values().flat_map(|c| c.allows.clone()).collect();
            got_allows.sort();
            let mut want = allows;
            want.sort();
            assert_eq!(got_allows, want, "{name}: allows");
        }
    }

    #[test]
    fn policies_add_up_and_finished_or_host_pods_are_ignored() {
        let (mut pods, namespaces) = world();
        let mut done = pod("default", "done", "n1", "10.244.1.9", &[]);
        done.status.phase = Some(PodPhase::Succeeded);
        let mut host = pod("default", "host", "n1", "192.0.2.1", &[]);
        host.spec.host_network = true;
        pods.extend([done, host]);
        let pods: Vec<&Pod> = pods.iter().collect();
        let namespaces: Vec<&Namespace> = namespaces.iter().collect();
        let deny = policy("default", "deny", json!({"podSelector": {}}));
        let open = policy(
            "default",
            "open",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}),
        );
        let d = plan("n1", &[&open, &deny], &pods, &namespaces);
        assert_eq!(d.pods.len(), 2, "web and other only: {:?}", d.pods);
        let web = &d.pods[&ip("10.244.1.2")];
        assert_eq!(
            web.ingress.as_deref(),
            Some(
                &[
                    "default/deny/ingress".to_owned(),
                    "default/open/ingress".to_owned()
                ][..]
            )
        );
        assert_eq!(
            d.policies["default/open/ingress"].allows,
            vec![allow(Peer::Any, None, None)]
        );
        assert!(d.policies["default/deny/ingress"].allows.is_empty());
        // Same input, same plan, whatever the order of the policies.
        assert_eq!(d, plan("n1", &[&deny, &open], &pods, &namespaces));
    }
}
