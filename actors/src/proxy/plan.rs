//! What the proxy must program, as a pure function of Services and Endpoints.
//!
//! One [`ServicePort`] per port of every Service that has a cluster IP or a node port,
//! with the ready endpoints of that port (matched by port name, as kube-proxy does).
//! Both back ends (packet filter, forwarding) program exactly this.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use rudder_protocol::resources::{Endpoints, Protocol, Service, ServiceType, SessionAffinity};

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The lower-case name iptables uses.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One port of one Service, with where its traffic goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name:port-name`, for rule comments and chain names.
    pub id: String,
    /// The protocol.
    pub proto: Proto,
    /// The cluster IP (none for headless services).
    pub cluster_ip: Option<Ipv4Addr>,
    /// The service port.
    pub port: u16,
    /// The node port, for NodePort services.
    pub node_port: Option<u16>,
    /// Ready endpoints, in a stable order.
    pub endpoints: Vec<SocketAddrV4>,
    /// ClientIP session affinity and its timeout.
    pub affinity: Option<Duration>,
}

/// The whole desired state, keyed by [`ServicePort::id`].
pub type Desired = BTreeMap<String, ServicePort>;

fn proto_of(p: Option<Protocol>) -> Option<Proto> {
    match p {
        None | Some(Protocol::Tcp) => Some(Proto::Tcp),
        Some(Protocol::Udp) => Some(Proto::Udp),
        _ => None,
    }
}

/// Kubernetes' default ClientIP affinity timeout: 3 hours.
const DEFAULT_AFFINITY: Duration = Duration::from_secs(10_800);

/// The desired state for `services` given `endpoints` (matched by namespace and name).
pub fn plan(services: &[&Service], endpoints: &[&Endpoints]) -> Desired {
    let eps: BTreeMap<(&str, &str), &Endpoints> = endpoints
        .iter()
        .map(|e| {
            (
                (e.metadata.namespace.as_str(), e.metadata.name.as_str()),
                *e,
            )
        })
        .collect();
    let mut out = Desired::new();
    for svc in services {
        let spec = &svc.spec;
        if spec.type_ == Some(ServiceType::ExternalName) {
            continue;
        }
        let cluster_ip = spec.cluster_ip.parse::<Ipv4Addr>().ok();
        let node_ports = matches!(
            spec.type_,
            Some(ServiceType::NodePort) | Some(ServiceType::LoadBalancer)
        );
        if cluster_ip.is_none() && !node_ports {
            continue;
        }
        let affinity = (spec.session_affinity == Some(SessionAffinity::ClientIp)).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|s| u64::try_from(s).ok())
                .map_or(DEFAULT_AFFINITY, Duration::from_secs)
        });
        let key = (svc.metadata.namespace.as_str(), svc.metadata.name.as_str());
        for p in &spec.ports {
            let (Some(proto), Ok(port)) = (proto_of(p.protocol), u16::try_from(p.port)) else {
                continue;
            };
            let mut endpoints: Vec<SocketAddrV4> = eps
                .get(&key)
                .map(|e| {
                    e.subsets
                        .iter()
                        .flat_map(|s| {
                            let port = s.ports.iter().find(|ep| {
                                ep.name == p.name && proto_of(ep.protocol) == Some(proto)
                            });
                            s.addresses.iter().filter_map(move |a| {
                                let ip = a.ip.parse::<Ipv4Addr>().ok()?;
                                let port = u16::try_from(port?.port).ok()?;
                                Some(SocketAddrV4::new(ip, port))
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            endpoints.sort();
            endpoints.dedup();
            let id = format!("{}/{}:{}", key.0, key.1, p.name);
            out.insert(
                id.clone(),
                ServicePort {
                    id,
                    proto,
                    cluster_ip,
                    port,
                    node_port: (node_ports && p.node_port > 0)
                        .then(|| u16::try_from(p.node_port).ok())
                        .flatten(),
                    endpoints,
                    affinity,
                },
            );
        }
    }
    out
}

/// Steers the cluster DNS Service (`dns_ip` port 53, UDP and TCP) to the node's own
/// `dns` actor at `target`, whatever its Endpoints say: a pod's query stays on its node.
pub fn steer_local_dns(desired: &mut Desired, dns_ip: Ipv4Addr, target: SocketAddrV4) {
    for sp in desired.values_mut() {
        if sp.cluster_ip == Some(dns_ip) && sp.port == 53 {
            sp.endpoints = vec![target];
            sp.affinity = None;
        }
    }
}

/// Steers the `kubernetes` Service (`api_ip` port 443) to the node's API relay at
/// `target`: pods reach the API through their own node, which knows where the API
/// servers are (their Endpoints may be loopback addresses no pod can reach).
pub fn steer_local_api(desired: &mut Desired, api_ip: Ipv4Addr, target: SocketAddrV4) {
    for sp in desired.values_mut() {
        if sp.cluster_ip == Some(api_ip) && sp.port == 443 && sp.proto == Proto::Tcp {
            sp.endpoints = vec![target];
            sp.affinity = None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn eps(v: serde_json::Value) -> Endpoints {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_kubernetes_service_is_steered_to_the_relay() {
        let api = svc(
            json!({"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {
            "clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}}),
        );
        let ep = eps(
            json!({"metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": 6443}]}]}),
        );
        let mut d = plan(&[&api], &[&ep]);
        let target: SocketAddrV4 = "10.244.0.1:6443".parse().unwrap();
        steer_local_api(&mut d, "10.96.0.1".parse().unwrap(), target);
        assert_eq!(d["default/kubernetes:https"].endpoints, [target]);
    }

    #[test]
    fn local_dns_is_steered_to_the_node() {
        let dns = svc(
            json!({"metadata": {"name": "kube-dns", "namespace": "kube-system"}, "spec": {
            "clusterIP": "10.96.0.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53}, {"name": "metrics", "port": 9153}]}}),
        );
        let mut d = plan(&[&dns], &[]);
        let target: SocketAddrV4 = "10.244.3.1:53".parse().unwrap();
        steer_local_dns(&mut d, "10.96.0.10".parse().unwrap(), target);
        assert_eq!(d["kube-system/kube-dns:dns"].endpoints, [target]);
        assert_eq!(d["kube-system/kube-dns:dns-tcp"].endpoints, [target]);
        assert!(
            d["kube-system/kube-dns:metrics"].endpoints.is_empty(),
            "only port 53"
        );
        let before = d.clone();
        steer_local_dns(&mut d, "10.96.0.11".parse().unwrap(), target);
        assert_eq!(d, before, "another address is left alone");
    }

    #[test]
    fn plans_per_case() {
        let web = svc(
            json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "type": "NodePort", "clusterIP": "10.96.0.10", "sessionAffinity": "ClientIP",
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}, {"name": "dns", "port": 53, "protocol": "UDP"}]}}),
        );
        let headless = svc(
            json!({"metadata": {"name": "h", "namespace": "default"}, "spec": {
            "clusterIP": "None", "ports": [{"port": 80}]}}),
        );
        let bare = svc(
            json!({"metadata": {"name": "bare", "namespace": "default"}, "spec": {
            "clusterIP": "10.96.0.11", "ports": [{"port": 81}]}}),
        );
        let web_eps = eps(
            json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": "10.244.1.3"}, {"ip": "10.244.1.2"}], "notReadyAddresses": [{"ip": "10.244.1.9"}],
             "ports": [{"name": "http", "port": 8080}, {"name": "dns", "port": 5353, "protocol": "UDP"}]}]}),
        );
        let d = plan(&[&web, &headless, &bare], &[&web_eps]);
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["default/bare:", "default/web:dns", "default/web:http"],
            "headless services are skipped"
        );
        let http = &d["default/web:http"];
        assert_eq!(http.node_port, Some(30080));
        assert_eq!(http.cluster_ip, Some(Ipv4Addr::new(10, 96, 0, 10)));
        assert_eq!(
            http.endpoints,
            [
                "10.244.1.2:8080".parse().unwrap(),
                "10.244.1.3:8080".parse::<SocketAddrV4>().unwrap()
            ],
            "ready endpoints only, sorted"
        );
        assert_eq!(http.affinity, Some(DEFAULT_AFFINITY));
        let dns = &d["default/web:dns"];
        assert_eq!((dns.proto, dns.endpoints.len()), (Proto::Udp, 2));
        assert!(
            d["default/bare:"].endpoints.is_empty(),
            "no Endpoints object: no backends"
        );
        assert_eq!(d["default/bare:"].node_port, None);
    }
}
