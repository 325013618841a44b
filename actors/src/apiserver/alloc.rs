//! Service cluster IPs and NodePorts: what a Service needs allocated, and where.
//!
//! Allocations live in the store, one key per address or port
//! (`/registry/allocations/serviceips/<ip>`, `/registry/allocations/nodeports/<port>`),
//! written in the same transaction as the Service itself with a "key absent" condition.
//! Two concurrent creates can therefore never get the same address or port, on any API
//! server, and a deleted Service releases its keys in the transaction that deletes it.
//!
//! This module is pure: it says what a create or update needs ([`needs`]), picks
//! candidates ([`Ranges::pick_ip`], [`Ranges::pick_port`]) and what an update or delete
//! releases ([`held`]). The API core runs the transactions.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use rand::Rng;
use serde_json::Value;

/// Store prefix of allocated service addresses.
pub const IP_PREFIX: &str = "/registry/allocations/serviceips/";
/// Store prefix of allocated node ports.
pub const PORT_PREFIX: &str = "/registry/allocations/nodeports/";

/// Where cluster IPs and node ports come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranges {
    /// The service CIDR.
    pub service_cidr: Ipv4Network,
    /// First node port.
    pub node_port_min: u16,
    /// Last node port.
    pub node_port_max: u16,
}

impl Default for Ranges {
    /// Kubernetes' defaults: `10.96.0.0/16`... (kubeadm's) and 30000-32767.
    fn default() -> Self {
        Ranges {
            // A valid literal network; cannot fail.
            service_cidr: Ipv4Network::new(Ipv4Addr::new(10, 96, 0, 0), 16)
                .unwrap_or_else(|_| unreachable!("10.96.0.0/16 is a valid network")),
            node_port_min: 30000,
            node_port_max: 32767,
        }
    }
}

/// One thing to allocate: a particular value the user asked for, or any free one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want<T> {
    /// Exactly this (the user set it).
    Specific(T),
    /// Any free one.
    Any,
}

/// What a Service create or update must allocate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Needs {
    /// A cluster IP, when one is to be allocated.
    pub ip: Option<Want<Ipv4Addr>>,
    /// Node ports to allocate, by index into `spec.ports`.
    pub ports: Vec<(usize, Want<u16>)>,
}

impl Needs {
    /// True when nothing is to be allocated.
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.ports.is_empty()
    }
}

/// Why a Service's addresses cannot be allocated (turned into a 422 by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, e.g. `spec.clusterIP`.
    pub field: String,
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn uses_node_ports(svc: &Value) -> bool {
    matches!(service_type(svc), "NodePort" | "LoadBalancer")
}

fn cluster_ip(svc: &Value) -> &str {
    svc.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn ports(svc: &Value) -> &[Value] {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn node_port(p: &Value) -> u16 {
    p.get("nodePort")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(0)
}

/// The allocation keys `svc` holds: its cluster IP and node ports.
pub fn held(svc: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(ip) = cluster_ip(svc).parse::<Ipv4Addr>() {
        keys.push(format!("{IP_PREFIX}{ip}"));
    }
    for p in ports(svc) {
        let n = node_port(p);
        if n != 0 {
            keys.push(format!("{PORT_PREFIX}{n}"));
        }
    }
    keys
}

/// As Kubernetes' `dropTypeDependentFields`: when an update moves a Service away from
/// NodePort/LoadBalancer, the node ports and external traffic policy it carried over
/// unchanged from `old` are dropped rather than rejected.
pub fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    if uses_node_ports(new) || !uses_node_ports(old) {
        return;
    }
    if new.pointer("/spec/externalTrafficPolicy") == old.pointer("/spec/externalTrafficPolicy") {
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("externalTrafficPolicy");
        }
    }
    let old_ports: BTreeSet<u16> = ports(old).iter().map(node_port).collect();
    if let Some(list) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in list {
            if old_ports.contains(&node_port(p)) {
                if let Some(m) = p.as_object_mut() {
                    m.remove("nodePort");
                }
            }
        }
    }
}

impl Ranges {
    /// What `svc` (after defaulting and validation) needs allocated, given its previous
    /// state on update. Fills in what an update keeps from `old` (the cluster IP, node
    /// ports of ports that stay) and clears node ports a ClusterIP service no longer has.
    pub fn needs(&self, svc: &mut Value, old: Option<&Value>) -> Result<Needs, Invalid> {
        let mut needs = Needs::default();
        if service_type(svc) == "ExternalName" {
            return Ok(needs);
        }
        let old_ip = old.map(cluster_ip).unwrap_or("");
        let ip = cluster_ip(svc).to_owned();
        match ip.as_str() {
            "None" => {}
            "" if !old_ip.is_empty() => {
                svc["spec"]["clusterIP"] = Value::String(old_ip.to_owned());
                svc["spec"]["clusterIPs"] = serde_json::json!([old_ip]);
            }
            "" => needs.ip = Some(Want::Any),
            given if given == old_ip => {}
            given => {
                let addr: Ipv4Addr = given.parse().map_err(|_| Invalid {
                    field: "spec.clusterIP".into(),
                    value: given.into(),
                    message: "must be a valid IP address".into(),
                })?;
                if !self.service_cidr.contains(addr)
                    || addr == self.service_cidr.network()
                    || addr == self.service_cidr.broadcast()
                {
                    return Err(Invalid {
                        field: "spec.clusterIP".into(),
                        value: given.into(),
                        message: format!(
                            "provided IP is not in the valid range. The range of valid IPs is {}",
                            self.service_cidr
                        ),
                    });
                }
                needs.ip = Some(Want::Specific(addr));
            }
        }
        let old_ports: Vec<&Value> = old.map(ports).unwrap_or(&[]).iter().collect();
        let old_held: BTreeSet<u16> = old_ports.iter().map(|p| node_port(p)).collect();
        let node_ports = uses_node_ports(svc);
        let Some(list) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
            return Ok(needs);
        };
        for (i, p) in list.iter_mut().enumerate() {
            let n = node_port(p);
            if !node_ports {
                if let Some(m) = p.as_object_mut() {
                    m.remove("nodePort");
                }
                continue;
            }
            if n == 0 {
                // An update keeps the node port of the same port (by port and protocol).
                let same = old_ports.iter().find(|o| {
                    o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol")
                });
                match same.map(|o| node_port(o)).filter(|n| *n != 0) {
                    Some(kept) => p["nodePort"] = Value::from(kept),
                    None => needs.ports.push((i, Want::Any)),
                }
            } else if !old_held.contains(&n) {
                if n < self.node_port_min || n > self.node_port_max {
                    return Err(Invalid {
                        field: format!("spec.ports[{i}].nodePort"),
                        value: n.to_string(),
                        message: format!(
                            "provided port is not in the valid range. The range of valid ports is {}-{}",
                            self.node_port_min, self.node_port_max
                        ),
                    });
                }
                needs.ports.push((i, Want::Specific(n)));
            }
        }
        Ok(needs)
    }

    /// A random host address of the service CIDR, not in `avoid`.
    pub fn pick_ip(&self, rng: &mut impl Rng, avoid: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        let base = u32::from(self.service_cidr.network());
        let size = self.service_cidr.size();
        if size <= 2 {
            return None;
        }
        // Host addresses are base+1 ..= base+size-2; start anywhere, walk on.
        let hosts = size - 2;
        let start = rng.gen_range(0..hosts);
        (0..hosts)
            .map(|k| Ipv4Addr::from(base + 1 + (start + k) % hosts))
            .find(|ip| !avoid.contains(ip))
    }

    /// A random node port not in `avoid`.
    pub fn pick_port(&self, rng: &mut impl Rng, avoid: &BTreeSet<u16>) -> Option<u16> {
        let span = u32::from(self.node_port_max - self.node_port_min) + 1;
        let start = rng.gen_range(0..span);
        (0..span)
            .filter_map(|k| u16::try_from(u32::from(self.node_port_min) + (start + k) % span).ok())
            .find(|p| !avoid.contains(p))
    }
}

/// Parses `"30000-32767"`.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not a port range like 30000-32767"))?;
    let a: u16 = a.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    let b: u16 = b.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    if a == 0 || a > b {
        return Err(format!("{s:?} is not a valid port range"));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::type_complexity)]
    use super::*;
    use serde_json::json;

    fn svc(ty: &str, ip: &str, ports: Value) -> Value {
        json!({"spec": {"type": ty, "clusterIP": ip, "ports": ports}})
    }

    #[test]
    fn needs_per_case() {
        let r = Ranges::default();
        let p80 = json!([{"port": 80, "protocol": "TCP"}]);
        let cases: Vec<(&str, Value, Option<Value>, Result<Needs, &str>)> = vec![
            (
                "cluster ip, none given",
                svc("ClusterIP", "", p80.clone()),
                None,
                Ok(Needs {
                    ip: Some(Want::Any),
                    ports: vec![],
                }),
            ),
            (
                "headless",
                svc("ClusterIP", "None", p80.clone()),
                None,
                Ok(Needs::default()),
            ),
            (
                "asked ip",
                svc("ClusterIP", "10.96.3.4", p80.clone()),
                None,
                Ok(Needs {
                    ip: Some(Want::Specific(Ipv4Addr::new(10, 96, 3, 4))),
                    ports: vec![],
                }),
            ),
            (
                "ip out of range",
                svc("ClusterIP", "10.0.0.1", p80.clone()),
                None,
                Err("spec.clusterIP"),
            ),
            (
                "network address",
                svc("ClusterIP", "10.96.0.0", p80.clone()),
                None,
                Err("spec.clusterIP"),
            ),
            (
                "node port, any",
                svc("NodePort", "", p80.clone()),
                None,
                Ok(Needs {
                    ip: Some(Want::Any),
                    ports: vec![(0, Want::Any)],
                }),
            ),
            (
                "node port asked",
                svc("NodePort", "", json!([{"port": 80, "nodePort": 30080}])),
                None,
                Ok(Needs {
                    ip: Some(Want::Any),
                    ports: vec![(0, Want::Specific(30080))],
                }),
            ),
            (
                "node port out of range",
                svc("NodePort", "", json!([{"port": 80, "nodePort": 80}])),
                None,
                Err("spec.ports[0].nodePort"),
            ),
            (
                "update keeps ip and port",
                svc("NodePort", "", p80.clone()),
                Some(svc(
                    "NodePort",
                    "10.96.0.9",
                    json!([{"port": 80, "protocol": "TCP", "nodePort": 31000}]),
                )),
                Ok(Needs::default()),
            ),
            (
                "update adds a port",
                svc(
                    "NodePort",
                    "10.96.0.9",
                    json!([{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}]),
                ),
                Some(svc(
                    "NodePort",
                    "10.96.0.9",
                    json!([{"port": 80, "protocol": "TCP", "nodePort": 31000}]),
                )),
                Ok(Needs {
                    ip: None,
                    ports: vec![(1, Want::Any)],
                }),
            ),
            (
                "external name",
                svc("ExternalName", "", json!([])),
                None,
                Ok(Needs::default()),
            ),
        ];
        for (name, mut s, old, want) in cases {
            let got = r.needs(&mut s, old.as_ref()).map_err(|e| e.field);
            match want {
                Ok(n) => assert_eq!(got, Ok(n), "{name}"),
                Err(field) => assert_eq!(got.err().as_deref(), Some(field), "{name}"),
            }
        }
    }

    #[test]
    fn updates_fill_kept_values_and_clusterip_services_drop_node_ports() {
        let r = Ranges::default();
        let old = svc(
            "NodePort",
            "10.96.0.9",
            json!([{"port": 80, "protocol": "TCP", "nodePort": 31000}]),
        );
        let mut new = svc("NodePort", "", json!([{"port": 80, "protocol": "TCP"}]));
        r.needs(&mut new, Some(&old)).unwrap();
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 31000);
        let mut back = svc(
            "ClusterIP",
            "10.96.0.9",
            json!([{"port": 80, "protocol": "TCP", "nodePort": 31000}]),
        );
        r.needs(&mut back, Some(&old)).unwrap();
        assert!(back["spec"]["ports"][0].get("nodePort").is_none());
        assert_eq!(held(&back), [format!("{IP_PREFIX}10.96.0.9")]);
        let mut moved = svc(
            "ClusterIP",
            "10.96.0.9",
            json!([{"port": 80, "nodePort": 31000}]),
        );
        moved["spec"]["externalTrafficPolicy"] = json!("Cluster");
        let mut old_np = old.clone();
        old_np["spec"]["externalTrafficPolicy"] = json!("Cluster");
        drop_type_dependent_fields(&mut moved, &old_np);
        assert!(moved["spec"].get("externalTrafficPolicy").is_none());
        assert!(moved["spec"]["ports"][0].get("nodePort").is_none());
        assert_eq!(
            held(&old),
            [
                format!("{IP_PREFIX}10.96.0.9"),
                format!("{PORT_PREFIX}31000")
            ]
        );
    }

    #[test]
    fn picks_stay_in_range_and_avoid_what_is_taken() {
        let r = Ranges {
            service_cidr: "10.96.0.0/30".parse().unwrap(),
            node_port_min: 30000,
            node_port_max: 30002,
        };
        let mut rng = rand::thread_rng();
        // A /30 has two host addresses: .1 and .2.
        let taken: BTreeSet<Ipv4Addr> = [Ipv4Addr::new(10, 96, 0, 1)].into();
        for _ in 0..20 {
            assert_eq!(
                r.pick_ip(&mut rng, &taken),
                Some(Ipv4Addr::new(10, 96, 0, 2))
            );
        }
        let all: BTreeSet<Ipv4Addr> =
            [Ipv4Addr::new(10, 96, 0, 1), Ipv4Addr::new(10, 96, 0, 2)].into();
        assert_eq!(r.pick_ip(&mut rng, &all), None);
        let ports: BTreeSet<u16> = [30000, 30002].into();
        assert_eq!(r.pick_port(&mut rng, &ports), Some(30001));
        assert_eq!(r.pick_port(&mut rng, &[30000, 30001, 30002].into()), None);
    }

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("30000-32767"), Ok((30000, 32767)));
        assert!(parse_port_range("32767-30000").is_err());
        assert!(parse_port_range("0-5").is_err());
        assert!(parse_port_range("x").is_err());
    }
}
