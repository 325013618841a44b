//! NetworkPolicies (`networking.k8s.io/v1`): Kubernetes' defaulting (`protocol: TCP` on
//! every port, `policyTypes` from the rules when absent), `ValidateNetworkPolicy`
//! (selectors, ports by number or name with `endPort` ranges, one kind of peer each,
//! IP blocks whose exceptions lie strictly inside them, at most two policy types) and the
//! printer (POD-SELECTOR, AGE). The `netpol` actor of every worker enforces them.

use ipnetwork::IpNetwork;
use rudder_protocol::resources::{
    IntOrString, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PolicyType, Protocol, Time,
};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, selector_string, since, Column, Row, AGE, NAME};
use super::super::validation::{
    is_valid_cidr, is_valid_port_name, is_valid_port_num, validate_label_selector,
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
};
use super::Strategy;

impl Strategy for NetworkPolicy {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Pod-Selector", "string", "The pods the policy applies to."),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {
            "podSelector": {"matchLabels": {"app": "example"}},
            "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 80}]}],
        }})
    }

    fn cells(&self, now: Time) -> Row {
        let selector = selector_string(&self.spec.pod_selector);
        Row::new(vec![
            json!(self.metadata.name),
            json!(if selector.is_empty() {
                "<none>".to_owned()
            } else {
                selector
            }),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

impl Defaults for NetworkPolicy {
    /// Kubernetes' `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort`.
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        let ports = spec
            .ingress
            .iter_mut()
            .flat_map(|r| r.ports.iter_mut())
            .chain(spec.egress.iter_mut().flat_map(|r| r.ports.iter_mut()));
        for p in ports {
            p.protocol.get_or_insert(Protocol::Tcp);
        }
        if spec.policy_types.is_empty() {
            spec.policy_types.push(PolicyType::Ingress);
            if !spec.egress.is_empty() {
                spec.policy_types.push(PolicyType::Egress);
            }
        }
    }
}

/// `validateNetworkPolicyPort`.
fn validate_port(p: &NetworkPolicyPort, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let ppath = path.child("port");
    let epath = path.child("endPort");
    match &p.port {
        Some(IntOrString::Int(n)) => {
            for msg in is_valid_port_num(i64::from(*n)) {
                errs.push(FieldCause::invalid(&ppath, *n, &msg));
            }
            if let Some(end) = p.end_port {
                if end < *n {
                    errs.push(FieldCause::invalid(
                        &epath,
                        end,
                        "must be greater than or equal to `port`",
                    ));
                }
                for msg in is_valid_port_num(i64::from(end)) {
                    errs.push(FieldCause::invalid(&epath, end, &msg));
                }
            }
        }
        Some(IntOrString::String(name)) => {
            if let Some(end) = p.end_port {
                errs.push(FieldCause::invalid(
                    &epath,
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            for msg in is_valid_port_name(name) {
                errs.push(FieldCause::invalid(&ppath, name.as_str(), &msg));
            }
        }
        None => {
            if let Some(end) = p.end_port {
                errs.push(FieldCause::invalid(
                    &epath,
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

/// `ValidateNetworkPolicyPeer` and `ValidateIPBlock`.
fn validate_peer(peer: &NetworkPolicyPeer, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let mut peers = 0;
    if let Some(s) = &peer.pod_selector {
        peers += 1;
        errs.extend(validate_label_selector(s, &path.child("podSelector")));
    }
    if let Some(s) = &peer.namespace_selector {
        peers += 1;
        errs.extend(validate_label_selector(s, &path.child("namespaceSelector")));
    }
    if let Some(block) = &peer.ip_block {
        peers += 1;
        let bpath = path.child("ipBlock");
        let cpath = bpath.child("cidr");
        let cidr = if block.cidr.is_empty() {
            errs.push(FieldCause::required(&cpath, ""));
            None
        } else {
            let msgs = is_valid_cidr(&block.cidr);
            for msg in &msgs {
                errs.push(FieldCause::invalid(&cpath, block.cidr.as_str(), msg));
            }
            msgs.is_empty()
                .then(|| block.cidr.parse::<IpNetwork>().ok())
                .flatten()
        };
        for (i, except) in block.except.iter().enumerate() {
            let epath = bpath.child("except").index(i);
            let msgs = is_valid_cidr(except);
            for msg in &msgs {
                errs.push(FieldCause::invalid(&epath, except.as_str(), msg));
            }
            let (Some(outer), Ok(inner)) = (cidr, except.parse::<IpNetwork>()) else {
                continue;
            };
            if !msgs.is_empty() {
                continue;
            }
            let inside = inner.prefix() > outer.prefix() && outer.contains(inner.network());
            if !inside {
                errs.push(FieldCause::invalid(
                    &epath,
                    except.as_str(),
                    "must be a strict subset of `cidr`",
                ));
            }
        }
    }
    if peers == 0 {
        errs.push(FieldCause::required(path, "must specify a peer"));
    } else if peers > 1 && peer.ip_block.is_some() {
        errs.push(FieldCause::forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
}

impl Validate for NetworkPolicy {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        errs.extend(validate_label_selector(
            &spec.pod_selector,
            &path.child("podSelector"),
        ));
        for (i, rule) in spec.ingress.iter().enumerate() {
            let rpath = path.child("ingress").index(i);
            for (j, p) in rule.ports.iter().enumerate() {
                validate_port(p, &rpath.child("ports").index(j), &mut errs);
            }
            for (j, peer) in rule.from.iter().enumerate() {
                validate_peer(peer, &rpath.child("from").index(j), &mut errs);
            }
        }
        for (i, rule) in spec.egress.iter().enumerate() {
            let rpath = path.child("egress").index(i);
            for (j, p) in rule.ports.iter().enumerate() {
                validate_port(p, &rpath.child("ports").index(j), &mut errs);
            }
            for (j, peer) in rule.to.iter().enumerate() {
                validate_peer(peer, &rpath.child("to").index(j), &mut errs);
            }
        }
        if spec.policy_types.len() > 2 {
            errs.push(FieldCause::invalid(
                &path.child("policyTypes"),
                format!("{:?}", spec.policy_types),
                "may not specify more than two policyTypes",
            ));
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
    use super::*;
    use crate::apiserver::validation::testutil::assert_causes;
    use crate::apiserver::validation::CauseReason;

    fn policy(spec: Value) -> NetworkPolicy {
        serde_json::from_value(
            json!({"metadata": {"name": "np", "namespace": "default"}, "spec": spec}),
        )
        .expect("valid network policy JSON")
    }

    #[test]
    fn network_policy_validation() {
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Value, Vec<(&str, CauseReason)>)> = vec![
            ("default deny", json!({"podSelector": {}}), vec![]),
            (
                "selectors, block and ports",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{
                    "from": [
                        {"podSelector": {}, "namespaceSelector": {"matchLabels": {"team": "a"}}},
                        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                    ],
                    "ports": [{"port": "http"}, {"port": 8000, "endPort": 8080, "protocol": "UDP"}],
                }]}),
                vec![],
            ),
            (
                "a peer needs something",
                json!({"podSelector": {}, "ingress": [{"from": [{}]}]}),
                vec![("spec.ingress[0].from[0]", CauseReason::Required)],
            ),
            (
                "an ipBlock with a selector",
                json!({"podSelector": {}, "egress": [{"to": [{"podSelector": {}, "ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
                vec![("spec.egress[0].to[0]", CauseReason::Forbidden)],
            ),
            (
                "an exception outside the block, a bad CIDR",
                json!({"podSelector": {}, "ingress": [{"from": [
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16", "10.0.0.0/8"]}},
                    {"ipBlock": {"cidr": "10.0.0.0"}},
                ]}]}),
                vec![
                    (
                        "spec.ingress[0].from[0].ipBlock.except[0]",
                        CauseReason::Invalid,
                    ),
                    (
                        "spec.ingress[0].from[0].ipBlock.except[1]",
                        CauseReason::Invalid,
                    ),
                    ("spec.ingress[0].from[1].ipBlock.cidr", CauseReason::Invalid),
                ],
            ),
            (
                "end ports",
                json!({"podSelector": {}, "ingress": [{"ports": [
                    {"port": 90, "endPort": 80},
                    {"port": "web", "endPort": 80},
                    {"endPort": 80},
                    {"port": 0},
                ]}]}),
                vec![
                    ("spec.ingress[0].ports[0].endPort", CauseReason::Invalid),
                    ("spec.ingress[0].ports[1].endPort", CauseReason::Invalid),
                    ("spec.ingress[0].ports[2].endPort", CauseReason::Invalid),
                    ("spec.ingress[0].ports[3].port", CauseReason::Invalid),
                ],
            ),
            (
                "a bad selector",
                json!({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}),
                vec![(
                    "spec.podSelector.matchExpressions[0].values",
                    CauseReason::Required,
                )],
            ),
        ];
        for (name, spec, want) in cases {
            assert_causes(name, &policy(spec).validate(), &want);
        }
    }

    #[test]
    fn defaults_follow_kubernetes() {
        let cases = [
            (
                "no egress rules",
                json!({"podSelector": {}}),
                vec!["Ingress"],
            ),
            (
                "egress rules",
                json!({"podSelector": {}, "egress": [{}]}),
                vec!["Ingress", "Egress"],
            ),
            (
                "explicit types stay",
                json!({"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]}),
                vec!["Egress"],
            ),
        ];
        for (name, spec, want) in cases {
            let mut p = policy(spec);
            p.apply_defaults();
            let got: Vec<&str> = p.spec.policy_types.iter().map(|t| t.as_str()).collect();
            assert_eq!(got, want, "{name}");
        }
        let mut p = policy(json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}));
        p.apply_defaults();
        assert_eq!(p.spec.ingress[0].ports[0].protocol, Some(Protocol::Tcp));
    }
}
