//! Services and Endpoints: ports, selectors, cluster IPs, service types and their
//! traffic policies; endpoint addresses and ports.
//!
//! Node port ranges are an allocation concern (the range is configurable); the plain
//! rules only require 1–65535, and [`validate_node_port_range`] checks a given range the
//! way Kubernetes' allocator reports it.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use rudder_protocol::resources::{
    EndpointAddress, EndpointPort, Endpoints, Service, ServiceType, SessionAffinity,
};

use super::meta::{validate_labels, validate_object_meta, validate_object_meta_update, NameRule};
use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_ip, is_valid_port_num,
};
use super::pod::validate_port_num_or_name;
use super::{BadValue, FieldCause, FieldPath, Validate, IMMUTABLE};

/// The longest client-IP affinity a service may ask for.
const MAX_CLIENT_IP_AFFINITY_SECONDS: i32 = 86400;

fn service_type(s: &Service) -> Option<ServiceType> {
    s.spec.type_
}

fn uses_node_ports(t: Option<ServiceType>) -> bool {
    matches!(t, Some(ServiceType::NodePort | ServiceType::LoadBalancer))
}

fn is_headless(s: &Service) -> bool {
    s.spec.cluster_ip == "None"
}

impl Validate for Service {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1035Label);
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let ty = service_type(self);
        let type_name = ty.map(|t| t.as_str()).unwrap_or_default();

        match ty {
            None => errs.push(FieldCause::required(&path.child("type"), "")),
            Some(ServiceType::ExternalName) => {
                if !spec.cluster_ip.is_empty() {
                    errs.push(FieldCause::forbidden(
                        &path.child("clusterIP"),
                        "may not be set for ExternalName services",
                    ));
                }
                let epath = path.child("externalName");
                let name = spec
                    .external_name
                    .strip_suffix('.')
                    .unwrap_or(&spec.external_name);
                if name.is_empty() {
                    errs.push(FieldCause::required(&epath, ""));
                } else {
                    for msg in is_dns1123_subdomain(name) {
                        errs.push(FieldCause::invalid(&epath, &spec.external_name, &msg));
                    }
                }
            }
            Some(_) => {}
        }

        let ppath = path.child("ports");
        if spec.ports.is_empty() && !is_headless(self) && ty != Some(ServiceType::ExternalName) {
            errs.push(FieldCause::required(&ppath, ""));
        }
        let require_name = spec.ports.len() > 1;
        let mut names = BTreeSet::new();
        let mut port_keys = BTreeSet::new();
        let mut node_ports = BTreeSet::new();
        for (i, port) in spec.ports.iter().enumerate() {
            let p = ppath.index(i);
            if port.name.is_empty() {
                if require_name {
                    errs.push(FieldCause::required(&p.child("name"), ""));
                }
            } else {
                for msg in is_dns1123_label(&port.name) {
                    errs.push(FieldCause::invalid(&p.child("name"), &port.name, &msg));
                }
                if !names.insert(port.name.as_str()) {
                    errs.push(FieldCause::duplicate(&p.child("name"), &port.name));
                }
            }
            for msg in is_valid_port_num(i64::from(port.port)) {
                errs.push(FieldCause::invalid(&p.child("port"), port.port, &msg));
            }
            let protocol = port.protocol.map(|p| p.as_str()).unwrap_or_default();
            if port.protocol.is_none() {
                errs.push(FieldCause::required(&p.child("protocol"), ""));
            }
            match &port.target_port {
                None => errs.push(FieldCause::required(&p.child("targetPort"), "")),
                Some(target) => {
                    validate_port_num_or_name(target, &p.child("targetPort"), &mut errs)
                }
            }
            if let Some(app) = &port.app_protocol {
                for msg in is_qualified_name(app) {
                    errs.push(FieldCause::invalid(&p.child("appProtocol"), app, &msg));
                }
            }
            if port.node_port != 0 {
                let npath = p.child("nodePort");
                if !uses_node_ports(ty) {
                    errs.push(FieldCause::forbidden(
                        &npath,
                        &format!("may not be used when `type` is '{type_name}'"),
                    ));
                }
                for msg in is_valid_port_num(i64::from(port.node_port)) {
                    errs.push(FieldCause::invalid(&npath, port.node_port, &msg));
                }
                if !node_ports.insert((port.node_port, protocol)) {
                    errs.push(FieldCause::duplicate(&npath, port.node_port));
                }
            }
            if !port_keys.insert((port.port, protocol)) {
                errs.push(FieldCause::duplicate(
                    &p,
                    BadValue::Raw(format!("{}/{protocol}", port.port)),
                ));
            }
        }

        errs.extend(validate_labels(&spec.selector, &path.child("selector")));

        let cpath = path.child("clusterIP");
        if is_headless(self) {
            if uses_node_ports(ty) {
                errs.push(FieldCause::invalid(
                    &cpath,
                    "None",
                    &format!("may not be set to 'None' for {type_name} services"),
                ));
            }
        } else if !spec.cluster_ip.is_empty() {
            for msg in is_valid_ip(&spec.cluster_ip) {
                errs.push(FieldCause::invalid(&cpath, &spec.cluster_ip, &msg));
            }
        }
        let ipspath = path.child("clusterIPs");
        for (i, ip) in spec.cluster_ips.iter().enumerate() {
            if i == 0 && ip == "None" {
                continue;
            }
            for msg in is_valid_ip(ip) {
                errs.push(FieldCause::invalid(&ipspath.index(i), ip, &msg));
            }
        }
        if let Some(first) = spec.cluster_ips.first() {
            if !spec.cluster_ip.is_empty() && *first != spec.cluster_ip {
                errs.push(FieldCause::invalid(
                    &ipspath.index(0),
                    first,
                    "must match `clusterIP`",
                ));
            }
        }
        for (i, ip) in spec.external_ips.iter().enumerate() {
            for msg in is_valid_ip(ip) {
                errs.push(FieldCause::invalid(
                    &path.child("externalIPs").index(i),
                    ip,
                    &msg,
                ));
            }
        }

        let apath = path.child("sessionAffinityConfig");
        match spec.session_affinity {
            None => errs.push(FieldCause::required(&path.child("sessionAffinity"), "")),
            Some(SessionAffinity::None) => {
                if spec.session_affinity_config.is_some() {
                    errs.push(FieldCause::forbidden(
                        &apath,
                        "must not be set when session affinity is None",
                    ));
                }
            }
            Some(SessionAffinity::ClientIp) => {
                let timeout = spec
                    .session_affinity_config
                    .as_ref()
                    .and_then(|c| c.client_ip.as_ref())
                    .and_then(|c| c.timeout_seconds);
                let tpath = apath.child("clientIP").child("timeoutSeconds");
                match timeout {
                    None => errs.push(FieldCause::required(&tpath, "")),
                    Some(t) if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS => {
                        errs.push(FieldCause::invalid(
                            &tpath,
                            t,
                            &format!(
                                "must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }

        let epath = path.child("externalTrafficPolicy");
        match (spec.external_traffic_policy, uses_node_ports(ty)) {
            (Some(p), false) => errs.push(FieldCause::invalid(
                &epath,
                p.as_str(),
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )),
            (None, true) => errs.push(FieldCause::required(&epath, "")),
            _ => {}
        }
        if spec.internal_traffic_policy.is_none()
            && ty.is_some_and(|t| t != ServiceType::ExternalName)
        {
            errs.push(FieldCause::required(
                &path.child("internalTrafficPolicy"),
                "",
            ));
        }
        let mut families = BTreeSet::new();
        for (i, family) in spec.ip_families.iter().enumerate() {
            if !families.insert(*family) {
                errs.push(FieldCause::duplicate(
                    &path.child("ipFamilies").index(i),
                    family.as_str(),
                ));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        // A cluster IP, once allocated, stays; moving to or from ExternalName releases it.
        let external = |s: &Service| service_type(s) == Some(ServiceType::ExternalName);
        if !external(self)
            && !external(old)
            && !old.spec.cluster_ip.is_empty()
            && self.spec.cluster_ip != old.spec.cluster_ip
        {
            errs.push(FieldCause::invalid(
                &FieldPath::new("spec").child("clusterIP"),
                &self.spec.cluster_ip,
                IMMUTABLE,
            ));
        }
        errs
    }
}

/// Node ports of `service` outside `range` (the cluster's node port range, 30000–32767
/// by default), reported as Kubernetes' allocator reports them. Zero (not yet
/// allocated) is fine.
pub fn validate_node_port_range(service: &Service, range: RangeInclusive<i32>) -> Vec<FieldCause> {
    let path = FieldPath::new("spec").child("ports");
    service
        .spec
        .ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.node_port != 0 && !range.contains(&p.node_port))
        .map(|(i, p)| {
            FieldCause::invalid(
                &path.index(i).child("nodePort"),
                p.node_port,
                &format!(
                    "provided port is not in the valid range. The range of valid ports is {}-{}",
                    range.start(),
                    range.end()
                ),
            )
        })
        .collect()
}

/// An endpoint address must be an IP a proxy can forward to: not loopback, link-local
/// or link-local multicast.
fn validate_endpoint_address(a: &EndpointAddress, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let ipath = path.child("ip");
    match a.ip.parse::<IpAddr>() {
        Err(_) => {
            for msg in is_valid_ip(&a.ip) {
                errs.push(FieldCause::invalid(&ipath, &a.ip, &msg));
            }
        }
        Ok(ip) => {
            let (loopback, link_local, ll_multicast) = match ip {
                IpAddr::V4(v4) => (
                    v4.is_loopback(),
                    v4.is_link_local(),
                    v4.octets()[..3] == [224, 0, 0],
                ),
                IpAddr::V6(v6) => {
                    let s = v6.segments();
                    (
                        v6.is_loopback(),
                        (s[0] & 0xffc0) == 0xfe80,
                        (s[0] & 0xff0f) == 0xff02,
                    )
                }
            };
            if loopback {
                errs.push(FieldCause::invalid(
                    &ipath,
                    &a.ip,
                    "may not be in the loopback range (127.0.0.0/8, ::1/128)",
                ));
            }
            if link_local {
                errs.push(FieldCause::invalid(
                    &ipath,
                    &a.ip,
                    "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
                ));
            }
            if ll_multicast {
                errs.push(FieldCause::invalid(
                    &ipath,
                    &a.ip,
                    "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
                ));
            }
        }
    }
    if !a.hostname.is_empty() {
        for msg in is_dns1123_label(&a.hostname) {
            errs.push(FieldCause::invalid(
                &path.child("hostname"),
                &a.hostname,
                &msg,
            ));
        }
    }
    if let Some(node) = &a.node_name {
        for msg in is_dns1123_subdomain(node) {
            errs.push(FieldCause::invalid(&path.child("nodeName"), node, &msg));
        }
    }
}

fn validate_endpoint_ports(ports: &[EndpointPort], path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let require_name = ports.len() > 1;
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ppath = path.index(i);
        if p.name.is_empty() {
            if require_name {
                errs.push(FieldCause::required(&ppath.child("name"), ""));
            }
        } else {
            for msg in is_dns1123_label(&p.name) {
                errs.push(FieldCause::invalid(&ppath.child("name"), &p.name, &msg));
            }
            if !names.insert(p.name.as_str()) {
                errs.push(FieldCause::duplicate(&ppath.child("name"), &p.name));
            }
        }
        for msg in is_valid_port_num(i64::from(p.port)) {
            errs.push(FieldCause::invalid(&ppath.child("port"), p.port, &msg));
        }
        if p.protocol.is_none() {
            errs.push(FieldCause::required(&ppath.child("protocol"), ""));
        }
        if let Some(app) = &p.app_protocol {
            for msg in is_qualified_name(app) {
                errs.push(FieldCause::invalid(&ppath.child("appProtocol"), app, &msg));
            }
        }
    }
}

impl Validate for Endpoints {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let path = FieldPath::new("subsets");
        for (i, subset) in self.subsets.iter().enumerate() {
            let spath = path.index(i);
            if subset.addresses.is_empty() && subset.not_ready_addresses.is_empty() {
                errs.push(FieldCause::required(
                    &spath,
                    "must specify `addresses` or `notReadyAddresses`",
                ));
            }
            for (j, a) in subset.addresses.iter().enumerate() {
                validate_endpoint_address(a, &spath.child("addresses").index(j), &mut errs);
            }
            for (j, a) in subset.not_ready_addresses.iter().enumerate() {
                validate_endpoint_address(a, &spath.child("notReadyAddresses").index(j), &mut errs);
            }
            if subset.ports.is_empty() {
                errs.push(FieldCause::required(&spath.child("ports"), ""));
            }
            validate_endpoint_ports(&subset.ports, &spath.child("ports"), &mut errs);
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs
    }
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::{
        ClientIpConfig, EndpointSubset, IntOrString, IpFamily, Protocol, ServicePort,
        SessionAffinityConfig, TrafficPolicy,
    };

    use super::super::testutil::assert_causes;
    use super::super::CauseReason::{self, *};
    use super::*;
    use crate::apiserver::defaults::Defaults;

    fn port(name: &str, number: i32) -> ServicePort {
        ServicePort {
            name: name.into(),
            port: number,
            ..ServicePort::default()
        }
    }

    fn valid_service() -> Service {
        let mut s = Service::new("web");
        s.metadata.namespace = "default".into();
        s.spec.ports.push(port("", 80));
        s.spec.selector.insert("app".into(), "web".into());
        s.apply_defaults();
        s
    }

    type Case = (
        &'static str,
        fn(&mut Service),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn service_create_table() {
        let table: &[Case] = &[
            ("valid", |_| {}, &[]),
            (
                "name must be DNS-1035",
                |s| s.metadata.name = "1web".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "no ports",
                |s| s.spec.ports.clear(),
                &[("spec.ports", Required)],
            ),
            (
                "headless without ports",
                |s| {
                    s.spec.ports.clear();
                    s.spec.cluster_ip = "None".into();
                    s.spec.cluster_ips = vec!["None".into()];
                },
                &[],
            ),
            (
                "port out of range",
                |s| {
                    s.spec.ports[0].port = 0;
                },
                &[("spec.ports[0].port", Invalid)],
            ),
            (
                "two ports need names",
                |s| {
                    let mut p = port("", 443);
                    p.protocol = Some(Protocol::Tcp);
                    p.target_port = Some(IntOrString::Int(443));
                    s.spec.ports.push(p);
                },
                &[
                    ("spec.ports[0].name", Required),
                    ("spec.ports[1].name", Required),
                ],
            ),
            (
                "duplicate port names",
                |s| {
                    s.spec.ports[0].name = "http".into();
                    let mut p = s.spec.ports[0].clone();
                    p.port = 8080;
                    s.spec.ports.push(p);
                },
                &[("spec.ports[1].name", Duplicate)],
            ),
            (
                "duplicate port and protocol",
                |s| {
                    s.spec.ports[0].name = "a".into();
                    let mut p = s.spec.ports[0].clone();
                    p.name = "b".into();
                    s.spec.ports.push(p);
                },
                &[("spec.ports[1]", Duplicate)],
            ),
            (
                "same port on UDP",
                |s| {
                    s.spec.ports[0].name = "a".into();
                    let mut p = s.spec.ports[0].clone();
                    p.name = "b".into();
                    p.protocol = Some(Protocol::Udp);
                    s.spec.ports.push(p);
                },
                &[],
            ),
            (
                "bad port name",
                |s| s.spec.ports[0].name = "Http".into(),
                &[("spec.ports[0].name", Invalid)],
            ),
            (
                "no protocol",
                |s| s.spec.ports[0].protocol = None,
                &[("spec.ports[0].protocol", Required)],
            ),
            (
                "named target port",
                |s| s.spec.ports[0].target_port = Some(IntOrString::String("http".into())),
                &[],
            ),
            (
                "bad target port name",
                |s| s.spec.ports[0].target_port = Some(IntOrString::String("8080".into())),
                &[("spec.ports[0].targetPort", Invalid)],
            ),
            (
                "target port out of range",
                |s| s.spec.ports[0].target_port = Some(IntOrString::Int(70000)),
                &[("spec.ports[0].targetPort", Invalid)],
            ),
            (
                "node port on a ClusterIP service",
                |s| s.spec.ports[0].node_port = 30080,
                &[("spec.ports[0].nodePort", Forbidden)],
            ),
            (
                "node port on a NodePort service",
                |s| {
                    s.spec.type_ = Some(ServiceType::NodePort);
                    s.spec.external_traffic_policy = Some(TrafficPolicy::Cluster);
                    s.spec.ports[0].node_port = 30080;
                },
                &[],
            ),
            (
                "NodePort without external traffic policy",
                |s| s.spec.type_ = Some(ServiceType::NodePort),
                &[("spec.externalTrafficPolicy", Required)],
            ),
            (
                "external traffic policy on ClusterIP",
                |s| s.spec.external_traffic_policy = Some(TrafficPolicy::Local),
                &[("spec.externalTrafficPolicy", Invalid)],
            ),
            (
                "duplicate node ports",
                |s| {
                    s.spec.type_ = Some(ServiceType::NodePort);
                    s.spec.external_traffic_policy = Some(TrafficPolicy::Cluster);
                    s.spec.ports[0].name = "a".into();
                    s.spec.ports[0].node_port = 30080;
                    let mut p = s.spec.ports[0].clone();
                    p.name = "b".into();
                    p.port = 81;
                    s.spec.ports.push(p);
                },
                &[("spec.ports[1].nodePort", Duplicate)],
            ),
            (
                "bad selector",
                |s| {
                    s.spec.selector.insert("app".into(), "web app".into());
                },
                &[("spec.selector", Invalid)],
            ),
            (
                "cluster IP",
                |s| s.spec.cluster_ip = "10.96.0.10".into(),
                &[],
            ),
            (
                "bad cluster IP",
                |s| s.spec.cluster_ip = "10.96.0".into(),
                &[("spec.clusterIP", Invalid)],
            ),
            (
                "headless NodePort",
                |s| {
                    s.spec.type_ = Some(ServiceType::NodePort);
                    s.spec.external_traffic_policy = Some(TrafficPolicy::Cluster);
                    s.spec.cluster_ip = "None".into();
                },
                &[("spec.clusterIP", Invalid)],
            ),
            (
                "clusterIPs disagree",
                |s| {
                    s.spec.cluster_ip = "10.96.0.10".into();
                    s.spec.cluster_ips = vec!["10.96.0.11".into()];
                },
                &[("spec.clusterIPs[0]", Invalid)],
            ),
            (
                "bad external IP",
                |s| s.spec.external_ips = vec!["nope".into()],
                &[("spec.externalIPs[0]", Invalid)],
            ),
            (
                "no type",
                |s| s.spec.type_ = None,
                &[("spec.type", Required)],
            ),
            (
                "ExternalName",
                |s| {
                    s.spec.type_ = Some(ServiceType::ExternalName);
                    s.spec.external_name = "db.example.com.".into();
                    s.spec.ports.clear();
                    s.spec.internal_traffic_policy = None;
                },
                &[],
            ),
            (
                "ExternalName without a name, with a cluster IP",
                |s| {
                    s.spec.type_ = Some(ServiceType::ExternalName);
                    s.spec.cluster_ip = "10.96.0.10".into();
                },
                &[
                    ("spec.externalName", Required),
                    ("spec.clusterIP", Forbidden),
                ],
            ),
            (
                "ExternalName with a bad name",
                |s| {
                    s.spec.type_ = Some(ServiceType::ExternalName);
                    s.spec.external_name = "Db_1".into();
                },
                &[("spec.externalName", Invalid)],
            ),
            (
                "no session affinity",
                |s| s.spec.session_affinity = None,
                &[("spec.sessionAffinity", Required)],
            ),
            (
                "client IP affinity too long",
                |s| {
                    s.spec.session_affinity = Some(SessionAffinity::ClientIp);
                    s.spec.session_affinity_config = Some(SessionAffinityConfig {
                        client_ip: Some(ClientIpConfig {
                            timeout_seconds: Some(86401),
                        }),
                    });
                },
                &[(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    Invalid,
                )],
            ),
            (
                "affinity config without affinity",
                |s| {
                    s.spec.session_affinity_config = Some(SessionAffinityConfig::default());
                },
                &[("spec.sessionAffinityConfig", Forbidden)],
            ),
            (
                "no internal traffic policy",
                |s| s.spec.internal_traffic_policy = None,
                &[("spec.internalTrafficPolicy", Required)],
            ),
            (
                "duplicate IP families",
                |s| s.spec.ip_families = vec![IpFamily::Ipv4, IpFamily::Ipv4],
                &[("spec.ipFamilies[1]", Duplicate)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut s = valid_service();
            mutate(&mut s);
            assert_causes(name, &s.validate(), want);
        }
    }

    #[test]
    fn service_update_table() {
        type UpdateCase = (
            &'static str,
            fn(&mut Service, &mut Service),
            &'static [(&'static str, CauseReason)],
        );
        let table: &[UpdateCase] = &[
            ("unchanged", |_, _| {}, &[]),
            (
                "ports may change",
                |new, _| new.spec.ports[0].port = 8080,
                &[],
            ),
            (
                "cluster IP set by the allocator",
                |new, old| {
                    old.spec.cluster_ip.clear();
                    old.spec.cluster_ips.clear();
                    new.spec.cluster_ip = "10.96.0.10".into();
                    new.spec.cluster_ips = vec!["10.96.0.10".into()];
                },
                &[],
            ),
            (
                "cluster IP changed",
                |new, _| {
                    new.spec.cluster_ip = "10.96.0.11".into();
                    new.spec.cluster_ips = vec!["10.96.0.11".into()];
                },
                &[("spec.clusterIP", Invalid)],
            ),
            (
                "cluster IP cleared",
                |new, _| {
                    new.spec.cluster_ip.clear();
                    new.spec.cluster_ips.clear();
                },
                &[("spec.clusterIP", Invalid)],
            ),
            (
                "to ExternalName releases the IP",
                |new, _| {
                    new.spec.type_ = Some(ServiceType::ExternalName);
                    new.spec.external_name = "db.example.com".into();
                    new.spec.cluster_ip.clear();
                    new.spec.cluster_ips.clear();
                },
                &[],
            ),
        ];
        for (name, mutate, want) in table {
            let mut old = valid_service();
            old.spec.cluster_ip = "10.96.0.10".into();
            old.spec.cluster_ips = vec!["10.96.0.10".into()];
            let mut new = old.clone();
            mutate(&mut new, &mut old);
            assert_causes(name, &new.validate_update(&old), want);
        }
        let mut old = valid_service();
        old.spec.cluster_ip = "10.96.0.10".into();
        old.spec.cluster_ips = vec!["10.96.0.10".into()];
        let mut new = old.clone();
        new.spec.cluster_ip.clear();
        new.spec.cluster_ips.clear();
        assert_eq!(
            new.validate_update(&old)[0].to_string(),
            "spec.clusterIP: Invalid value: \"\": field is immutable"
        );
    }

    #[test]
    fn node_port_range() {
        let mut s = valid_service();
        s.spec.type_ = Some(ServiceType::NodePort);
        s.spec.ports[0].node_port = 8080;
        let causes = validate_node_port_range(&s, 30000..=32767);
        assert_causes("outside", &causes, &[("spec.ports[0].nodePort", Invalid)]);
        assert_eq!(
            causes[0].message,
            "Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        s.spec.ports[0].node_port = 30000;
        assert_causes("inside", &validate_node_port_range(&s, 30000..=32767), &[]);
        s.spec.ports[0].node_port = 0;
        assert_causes(
            "unallocated",
            &validate_node_port_range(&s, 30000..=32767),
            &[],
        );
    }

    fn valid_endpoints() -> Endpoints {
        let mut e = Endpoints::new("web");
        e.metadata.namespace = "default".into();
        e.subsets.push(EndpointSubset {
            addresses: vec![EndpointAddress {
                ip: "10.244.1.5".into(),
                node_name: Some("node-1".into()),
                ..EndpointAddress::default()
            }],
            not_ready_addresses: vec![],
            ports: vec![EndpointPort {
                port: 80,
                ..EndpointPort::default()
            }],
        });
        e.apply_defaults();
        e
    }

    #[test]
    fn endpoints_table() {
        type EpCase = (
            &'static str,
            fn(&mut Endpoints),
            &'static [(&'static str, CauseReason)],
        );
        let table: &[EpCase] = &[
            ("valid", |_| {}, &[]),
            ("no subsets", |e| e.subsets.clear(), &[]),
            (
                "subset without addresses",
                |e| e.subsets[0].addresses.clear(),
                &[("subsets[0]", Required)],
            ),
            (
                "subset without ports",
                |e| e.subsets[0].ports.clear(),
                &[("subsets[0].ports", Required)],
            ),
            (
                "bad IP",
                |e| e.subsets[0].addresses[0].ip = "10.244.1".into(),
                &[("subsets[0].addresses[0].ip", Invalid)],
            ),
            (
                "loopback IP",
                |e| e.subsets[0].addresses[0].ip = "127.0.0.1".into(),
                &[("subsets[0].addresses[0].ip", Invalid)],
            ),
            (
                "link-local IP",
                |e| e.subsets[0].addresses[0].ip = "169.254.1.1".into(),
                &[("subsets[0].addresses[0].ip", Invalid)],
            ),
            (
                "not ready IPv6 loopback",
                |e| {
                    e.subsets[0].not_ready_addresses.push(EndpointAddress {
                        ip: "::1".into(),
                        ..EndpointAddress::default()
                    })
                },
                &[("subsets[0].notReadyAddresses[0].ip", Invalid)],
            ),
            (
                "bad hostname and node",
                |e| {
                    e.subsets[0].addresses[0].hostname = "a.b".into();
                    e.subsets[0].addresses[0].node_name = Some("Node_1".into());
                },
                &[
                    ("subsets[0].addresses[0].hostname", Invalid),
                    ("subsets[0].addresses[0].nodeName", Invalid),
                ],
            ),
            (
                "two ports need names",
                |e| {
                    let p = e.subsets[0].ports[0].clone();
                    e.subsets[0].ports.push(EndpointPort { port: 81, ..p });
                },
                &[
                    ("subsets[0].ports[0].name", Required),
                    ("subsets[0].ports[1].name", Required),
                ],
            ),
            (
                "bad port",
                |e| e.subsets[0].ports[0].port = 0,
                &[("subsets[0].ports[0].port", Invalid)],
            ),
            (
                "no protocol",
                |e| e.subsets[0].ports[0].protocol = None,
                &[("subsets[0].ports[0].protocol", Required)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut e = valid_endpoints();
            mutate(&mut e);
            assert_causes(name, &e.validate(), want);
        }
        let old = valid_endpoints();
        let mut new = old.clone();
        new.metadata.name = "other".into();
        assert_causes(
            "renamed",
            &new.validate_update(&old),
            &[("metadata.name", Invalid)],
        );
    }
}
