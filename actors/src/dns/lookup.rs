//! The cluster zone as a pure function: an [`Index`] built from Services, Endpoints and
//! Pods, and [`lookup`] from a question to an [`Answer`], following the Kubernetes
//! DNS-based service discovery specification (the records CoreDNS's `kubernetes` plugin
//! serves with `pods insecure`).
//!
//! Rules kept here (and tested as a table in `tests`):
//! - `<svc>.<ns>.svc.<zone>`: A/AAAA of the cluster IPs; a headless service answers with
//!   its endpoints' addresses (not-ready ones too when `publishNotReadyAddresses`); an
//!   `ExternalName` service answers CNAME for every type.
//! - `<hostname>.<svc>.<ns>.svc.<zone>`: an endpoint of a headless service that carries a
//!   hostname.
//! - `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV per named port (one record per
//!   endpoint of a headless service, targets in the additional section).
//! - `<a-b-c-d>.<ns>.pod.<zone>`: the address the name spells.
//! - `<reversed ip>.in-addr.arpa` / `ip6.arpa`: PTR to the service, the endpoint's
//!   hostname name or the pod's name.
//! - A name in the zone that exists with no record of the type asked is NODATA, a name
//!   that does not exist NXDOMAIN; both carry the zone's SOA. Names outside the zone (and
//!   reverse names of unknown addresses) are [`Answer::NotOurs`]: the caller forwards them.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rudder_protocol::resources::{Endpoints, Pod, Protocol, Service, ServiceType};

/// The TTL of every cluster record (CoreDNS's default).
pub const DEFAULT_TTL: u32 = 5;

/// The type of a question, as far as the cluster zone distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Service location.
    Srv,
    /// Reverse pointer.
    Ptr,
    /// Alias.
    Cname,
    /// The zone's authority.
    Soa,
    /// Name servers.
    Ns,
    /// Every type.
    Any,
    /// A type the zone never holds (TXT, MX, ...).
    Other(u16),
}

/// The data of one answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 or IPv6 address (A or AAAA by its family).
    Addr(IpAddr),
    /// An alias to another name.
    Cname(String),
    /// A service location.
    Srv {
        /// Priority (always 0).
        priority: u16,
        /// Weight (an equal share).
        weight: u16,
        /// The port.
        port: u16,
        /// The host offering it.
        target: String,
    },
    /// A reverse pointer.
    Ptr(String),
    /// The zone's start of authority.
    Soa {
        /// The primary name server.
        mname: String,
        /// The mailbox of the zone's keeper.
        rname: String,
        /// Serial number (changes with the index).
        serial: u32,
        /// The negative-answer TTL.
        minimum: u32,
    },
}

/// One record: its owner name (absolute, with the trailing dot), TTL and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Owner name.
    pub name: String,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The data.
    pub data: RData,
}

/// The answer of the cluster zone to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The name exists and has records of the type.
    Records {
        /// The answer section.
        answers: Vec<Rec>,
        /// The additional section (SRV targets' addresses).
        additionals: Vec<Rec>,
    },
    /// The name exists, but has no record of the type: NOERROR with the SOA.
    NoData(Rec),
    /// The name does not exist: NXDOMAIN with the SOA.
    NxDomain(Rec),
    /// Not in the cluster zone: forward it.
    NotOurs,
}

/// A service as DNS sees it.
#[derive(Debug, Clone, Default, PartialEq)]
struct SvcEntry {
    cluster_ips: Vec<IpAddr>,
    headless: bool,
    external_name: Option<String>,
    /// Named ports: (name, protocol in lower case, port).
    ports: Vec<(String, String, u16)>,
}

/// One published address of a service's endpoints.
#[derive(Debug, Clone, PartialEq)]
struct EpEntry {
    ip: IpAddr,
    hostname: String,
    /// Named ports: (name, protocol in lower case, port).
    ports: Vec<(String, String, u16)>,
}

/// What the zone knows, built from the informer caches by [`Index::build`].
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The zone, lower case, without dots at either end (`cluster.local`).
    zone: String,
    services: HashMap<(String, String), SvcEntry>,
    endpoints: HashMap<(String, String), Vec<EpEntry>>,
    /// Namespaces that hold at least one service (so `<ns>.svc.<zone>` exists).
    namespaces: HashMap<String, ()>,
    /// Reverse names: address -> the names that point back.
    reverse: BTreeMap<IpAddr, Vec<String>>,
    /// Changes with every rebuild (the SOA serial).
    serial: u32,
}

fn proto_name(p: Option<Protocol>) -> String {
    match p.unwrap_or_default() {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
    .to_owned()
}

fn port_u16(p: i32) -> Option<u16> {
    u16::try_from(p).ok().filter(|p| *p != 0)
}

/// The dashed form of an address as pod names use it (`10-244-0-5`; IPv6 with `-` for `:`).
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

impl Index {
    /// The index of `zone` over the given objects; `serial` becomes the SOA serial.
    pub fn build(
        zone: &str,
        services: &[&Service],
        endpoints: &[&Endpoints],
        pods: &[&Pod],
        serial: u32,
    ) -> Index {
        let zone = zone.trim_matches('.').to_ascii_lowercase();
        let mut idx = Index {
            zone: zone.clone(),
            serial,
            ..Index::default()
        };
        for s in services {
            let (ns, name) = (&s.metadata.namespace, &s.metadata.name);
            let external = s.spec.type_ == Some(ServiceType::ExternalName);
            let mut ips: Vec<IpAddr> = s
                .spec
                .cluster_ips
                .iter()
                .chain(std::iter::once(&s.spec.cluster_ip))
                .filter_map(|ip| ip.parse().ok())
                .collect();
            ips.sort();
            ips.dedup();
            let headless = !external && ips.is_empty();
            let ports = s
                .spec
                .ports
                .iter()
                .filter(|p| !p.name.is_empty())
                .filter_map(|p| Some((p.name.clone(), proto_name(p.protocol), port_u16(p.port)?)))
                .collect();
            let fqdn = format!("{name}.{ns}.svc.{zone}.");
            if !external {
                for ip in &ips {
                    idx.reverse.entry(*ip).or_default().push(fqdn.clone());
                }
            }
            idx.namespaces.insert(ns.clone(), ());
            idx.services.insert(
                (ns.clone(), name.clone()),
                SvcEntry {
                    cluster_ips: if external { Vec::new() } else { ips },
                    headless,
                    external_name: external
                        .then(|| s.spec.external_name.trim_end_matches('.').to_owned())
                        .filter(|n| !n.is_empty()),
                    ports,
                },
            );
        }
        for e in endpoints {
            let key = (e.metadata.namespace.clone(), e.metadata.name.clone());
            let Some(svc) = services
                .iter()
                .find(|s| s.metadata.namespace == key.0 && s.metadata.name == key.1)
            else {
                continue;
            };
            let publish_unready = svc.spec.publish_not_ready_addresses;
            let mut list = Vec::new();
            for subset in &e.subsets {
                let ports: Vec<(String, String, u16)> = subset
                    .ports
                    .iter()
                    .filter(|p| !p.name.is_empty())
                    .filter_map(|p| {
                        Some((p.name.clone(), proto_name(p.protocol), port_u16(p.port)?))
                    })
                    .collect();
                let unready = subset
                    .not_ready_addresses
                    .iter()
                    .filter(|_| publish_unready);
                for a in subset.addresses.iter().chain(unready) {
                    let Ok(ip) = a.ip.parse::<IpAddr>() else {
                        continue;
                    };
                    if list
                        .iter()
                        .any(|x: &EpEntry| x.ip == ip && x.hostname == a.hostname)
                    {
                        continue;
                    }
                    list.push(EpEntry {
                        ip,
                        hostname: a.hostname.clone(),
                        ports: ports.clone(),
                    });
                }
            }
            if idx.services.get(&key).is_some_and(|s| s.headless) {
                for ep in &list {
                    if !ep.hostname.is_empty() {
                        let name = format!("{}.{}.{}.svc.{zone}.", ep.hostname, key.1, key.0);
                        idx.reverse.entry(ep.ip).or_default().push(name);
                    }
                }
            }
            idx.endpoints.insert(key, list);
        }
        for p in pods {
            for ip in p
                .status
                .pod_ips
                .iter()
                .map(|i| i.ip.as_str())
                .chain(std::iter::once(p.status.pod_ip.as_str()))
                .filter_map(|i| i.parse::<IpAddr>().ok())
            {
                if p.spec.host_network {
                    continue;
                }
                let name = format!("{}.{}.pod.{zone}.", dashed(ip), p.metadata.namespace);
                let names = idx.reverse.entry(ip).or_default();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        idx
    }

    /// The zone, without dots at either end.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    fn soa(&self) -> Rec {
        Rec {
            name: format!("{}.", self.zone),
            ttl: DEFAULT_TTL,
            data: RData::Soa {
                mname: format!("ns.dns.{}.", self.zone),
                rname: format!("hostmaster.{}.", self.zone),
                serial: self.serial,
                minimum: DEFAULT_TTL,
            },
        }
    }

    fn endpoints_of(&self, ns: &str, svc: &str) -> &[EpEntry] {
        self.endpoints
            .get(&(ns.to_owned(), svc.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

fn rec(name: &str, data: RData) -> Rec {
    Rec {
        name: name.to_owned(),
        ttl: DEFAULT_TTL,
        data,
    }
}

/// Keeps the records matching `qtype` (A for IPv4 addresses, AAAA for IPv6).
fn by_type(qtype: QType, all: Vec<Rec>) -> Vec<Rec> {
    all.into_iter()
        .filter(|r| {
            matches!(
                (&r.data, qtype),
                (_, QType::Any)
                    | (RData::Addr(IpAddr::V4(_)), QType::A)
                    | (RData::Addr(IpAddr::V6(_)), QType::Aaaa)
                    | (RData::Srv { .. }, QType::Srv)
                    | (RData::Ptr(_), QType::Ptr)
                    | (RData::Cname(_), QType::Cname)
                    | (RData::Soa { .. }, QType::Soa)
            )
        })
        .collect()
}

/// The address a reverse name spells, if it is a complete one.
fn parse_reverse(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        let text: Vec<&str> = parts.into_iter().rev().collect();
        return text.join(".").parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<&str> = rest.split('.').collect();
        if nibbles.len() != 32 || nibbles.iter().any(|n| n.len() != 1) {
            return None;
        }
        let hex: String = nibbles.into_iter().rev().collect();
        let v = u128::from_str_radix(&hex, 16).ok()?;
        return Some(IpAddr::V6(Ipv6Addr::from(v)));
    }
    None
}

/// Parses the dashed address of a pod name (`10-244-0-5`).
fn parse_dashed(label: &str) -> Option<IpAddr> {
    if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// Answers `name` (any case, with or without the trailing dot) for `qtype` from `index`.
pub fn lookup(index: &Index, name: &str, qtype: QType) -> Answer {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let owner = format!("{lower}.");
    if lower.ends_with(".in-addr.arpa") || lower.ends_with(".ip6.arpa") {
        return match parse_reverse(&lower).and_then(|ip| index.reverse.get(&ip)) {
            Some(names) => {
                let all = names
                    .iter()
                    .map(|n| rec(&owner, RData::Ptr(n.clone())))
                    .collect();
                records(index, &owner, qtype, all, Vec::new())
            }
            None => Answer::NotOurs,
        };
    }
    let zone = &index.zone;
    let rel = if lower == *zone {
        ""
    } else if let Some(r) = lower.strip_suffix(&format!(".{zone}")) {
        r
    } else {
        return Answer::NotOurs;
    };
    // Labels from the zone outwards: ["svc", ns, svc, ...].
    let labels: Vec<&str> = if rel.is_empty() {
        Vec::new()
    } else {
        rel.rsplit('.').collect()
    };
    let nx = Answer::NxDomain(index.soa());
    match labels.as_slice() {
        [] => {
            let all = vec![index.soa()];
            records(index, &owner, qtype, all, Vec::new())
        }
        ["svc"] | ["pod"] => Answer::NoData(index.soa()),
        ["svc", ns] => {
            if index.namespaces.contains_key(*ns) {
                Answer::NoData(index.soa())
            } else {
                nx
            }
        }
        ["pod", _ns] => Answer::NoData(index.soa()),
        ["pod", _ns, dashed_ip] => match parse_dashed(dashed_ip) {
            Some(ip) => records(
                index,
                &owner,
                qtype,
                vec![rec(&owner, RData::Addr(ip))],
                vec![],
            ),
            None => nx,
        },
        ["svc", ns, svc] => {
            let Some(entry) = index.services.get(&((*ns).to_owned(), (*svc).to_owned())) else {
                return nx;
            };
            if let Some(target) = &entry.external_name {
                // An alias answers every type (the resolver follows it).
                return Answer::Records {
                    answers: vec![rec(&owner, RData::Cname(format!("{target}.")))],
                    additionals: Vec::new(),
                };
            }
            let all = if entry.headless {
                index
                    .endpoints_of(ns, svc)
                    .iter()
                    .map(|e| rec(&owner, RData::Addr(e.ip)))
                    .collect()
            } else {
                entry
                    .cluster_ips
                    .iter()
                    .map(|ip| rec(&owner, RData::Addr(*ip)))
                    .collect()
            };
            records(index, &owner, qtype, all, Vec::new())
        }
        ["svc", ns, svc, host] => {
            let Some(entry) = index.services.get(&((*ns).to_owned(), (*svc).to_owned())) else {
                return nx;
            };
            // `_proto._port` is an empty non-terminal of the SRV name.
            if host.starts_with('_') {
                let has = entry.ports.iter().any(|(_, p, _)| format!("_{p}") == *host);
                return if has { Answer::NoData(index.soa()) } else { nx };
            }
            if !entry.headless {
                return nx;
            }
            let all: Vec<Rec> = index
                .endpoints_of(ns, svc)
                .iter()
                .filter(|e| {
                    e.hostname.eq_ignore_ascii_case(host)
                        || (e.hostname.is_empty() && dashed(e.ip) == *host)
                })
                .map(|e| rec(&owner, RData::Addr(e.ip)))
                .collect();
            if all.is_empty() {
                return nx;
            }
            records(index, &owner, qtype, all, Vec::new())
        }
        ["svc", ns, svc, proto, port] if proto.starts_with('_') && port.starts_with('_') => {
            let (proto, port) = (&proto[1..], &port[1..]);
            let Some(entry) = index.services.get(&((*ns).to_owned(), (*svc).to_owned())) else {
                return nx;
            };
            let Some((_, _, svc_port)) =
                entry.ports.iter().find(|(n, p, _)| n == port && p == proto)
            else {
                return nx;
            };
            let svc_name = format!("{svc}.{ns}.svc.{zone}.");
            let (mut all, mut extra) = (Vec::new(), Vec::new());
            if entry.headless {
                let eps = index.endpoints_of(ns, svc);
                let weight = u16::try_from(100 / eps.len().max(1)).unwrap_or(100);
                for e in eps {
                    let Some((_, _, ep_port)) =
                        e.ports.iter().find(|(n, p, _)| n == port && p == proto)
                    else {
                        continue;
                    };
                    let label = if e.hostname.is_empty() {
                        dashed(e.ip)
                    } else {
                        e.hostname.clone()
                    };
                    let target = format!("{label}.{svc_name}");
                    all.push(rec(
                        &owner,
                        RData::Srv {
                            priority: 0,
                            weight,
                            port: *ep_port,
                            target: target.clone(),
                        },
                    ));
                    extra.push(rec(&target, RData::Addr(e.ip)));
                }
            } else {
                all.push(rec(
                    &owner,
                    RData::Srv {
                        priority: 0,
                        weight: 100,
                        port: *svc_port,
                        target: svc_name.clone(),
                    },
                ));
                extra.extend(
                    entry
                        .cluster_ips
                        .iter()
                        .map(|ip| rec(&svc_name, RData::Addr(*ip))),
                );
            }
            if all.is_empty() {
                return Answer::NoData(index.soa());
            }
            records(index, &owner, qtype, all, extra)
        }
        _ => nx,
    }
}

/// The answer for a name that exists: its records of `qtype`, or NODATA.
fn records(index: &Index, _owner: &str, qtype: QType, all: Vec<Rec>, extra: Vec<Rec>) -> Answer {
    let answers = by_type(qtype, all);
    if answers.is_empty() {
        Answer::NoData(index.soa())
    } else {
        let additionals = if matches!(qtype, QType::Srv | QType::Any) {
            extra
        } else {
            Vec::new()
        };
        Answer::Records {
            answers,
            additionals,
        }
    }
}

#[cfg(test)]
mod tests;
