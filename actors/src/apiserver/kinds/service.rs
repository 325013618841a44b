//! Services (`core/v1`): cluster IP and node port claims written with the object (see
//! [`super::super::alloc`]), type changes that drop the fields the old type owned, and
//! Kubernetes' service printer.

use rudder_protocol::resources::{Service, ServiceType, Time};
use serde_json::{json, Value};

use rudder_protocol::messages::store::{
    CmpOp, Compare, CompareTarget, Consistency, OpResult, StoreReply, StoreRequest, Txn, TxnOp,
};
use rudder_protocol::resources::{Status, StatusCause};

use super::super::alloc::{self, Want, IP_PREFIX, PORT_PREFIX};
use super::super::core::{
    already_exists, fail, not_found, unexpected_reply, with_rv, ApiCore, ApiError, ApiResult,
};
use super::super::registry::ResourceInfo;
use super::super::table::{col, format_labels, or_none, since, Column, Row, AGE, NAME};
use super::Strategy;

impl Strategy for Service {
    /// Kubernetes' service evaluator: the Service, its node ports (NodePort and
    /// LoadBalancer types) and load balancers.
    fn quota_usage(&self, usage: &mut rudder_protocol::resources::ResourceList) {
        use rudder_protocol::resources::quota;
        usage.insert(quota::SERVICES.into(), super::one());
        let n = |v: usize| {
            rudder_protocol::resources::Quantity::new(
                i64::try_from(v).unwrap_or(i64::MAX),
                Default::default(),
            )
        };
        match self.spec.type_ {
            Some(ServiceType::NodePort) => {
                usage.insert(quota::SERVICES_NODE_PORTS.into(), n(self.spec.ports.len()));
            }
            Some(ServiceType::LoadBalancer) => {
                usage.insert(quota::SERVICES_LOAD_BALANCERS.into(), super::one());
                usage.insert(quota::SERVICES_NODE_PORTS.into(), n(self.spec.ports.len()));
            }
            _ => {}
        }
    }

    fn quota_matches(name: &str) -> bool {
        use rudder_protocol::resources::quota;
        [
            quota::SERVICES,
            quota::SERVICES_NODE_PORTS,
            quota::SERVICES_LOAD_BALANCERS,
        ]
        .contains(&name)
    }

    const COLUMNS: &'static [Column] = SERVICE_COLUMNS;
    const CLAIMS_ADDRESSES: bool = true;

    fn cells(&self, now: Time) -> Row {
        Row::new(service_cells(self, now))
    }

    fn prepare_update(new: &mut Value, old: &Value) {
        alloc::drop_type_dependent_fields(new, old);
    }

    fn example(_namespace: &str) -> Value {
        json!({"spec": {"ports": [{"port": 80}]}})
    }
}

impl ApiCore {
    /// Writes a Service (created when `old` is `None`) together with the cluster IP and
    /// node ports it needs and the release of those it gave up, in one transaction.
    /// Random picks that lose a race are picked again; a taken address or port the user
    /// asked for is a 422, as in Kubernetes. `None` when the Service changed since `old`
    /// was read (the caller reads again).
    ///
    /// Under `dry_run` the addresses are chosen among the free ones the same way, but
    /// nothing is claimed (Kubernetes' dry-run allocators): the answer shows what the
    /// Service would get, and every address stays free.
    pub(in crate::apiserver) async fn write_service(
        &self,
        info: &ResourceInfo,
        name: &str,
        k: &str,
        mut obj: Value,
        old: Option<(&Value, u64)>,
        dry_run: bool,
    ) -> ApiResult<Option<Value>> {
        let invalid = |field: &str, value: &str, message: &str| -> ApiError {
            Box::new(Status::invalid::<Service>(
                name,
                vec![StatusCause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: \"{value}\": {message}"),
                    field: field.into(),
                }],
            ))
        };
        let needs = self
            .ranges
            .needs(&mut obj, old.map(|o| o.0))
            .map_err(|e| invalid(&e.field, &e.value, &e.message))?;
        if dry_run && old.is_none() && self.read(k).await?.is_some() {
            return Err(already_exists(info, name));
        }
        let mut avoid_ips = std::collections::BTreeSet::new();
        let mut avoid_ports = std::collections::BTreeSet::new();
        for attempt in 0..12 {
            if attempt == 4 {
                // Unlucky picks: learn what is taken instead of guessing again.
                avoid_ips.extend(
                    self.allocated(IP_PREFIX)
                        .await?
                        .iter()
                        .filter_map(|s| s.parse::<std::net::Ipv4Addr>().ok()),
                );
                avoid_ports.extend(
                    self.allocated(PORT_PREFIX)
                        .await?
                        .iter()
                        .filter_map(|s| s.parse::<u16>().ok()),
                );
            }
            let mut candidate = obj.clone();
            // (key, field, value, asked by the user)
            let mut claims: Vec<(String, String, String, bool)> = Vec::new();
            {
                let mut rng = rand::thread_rng();
                if let Some(want) = needs.ip {
                    let (ip, asked) = match want {
                        Want::Specific(ip) => (ip, true),
                        Want::Any => match self.ranges.pick_ip(&mut rng, &avoid_ips) {
                            Some(ip) => (ip, false),
                            None => {
                                return Err(fail(
                                    500,
                                    "InternalError",
                                    "failed to allocate a serviceIP: range is full",
                                ))
                            }
                        },
                    };
                    candidate["spec"]["clusterIP"] = json!(ip.to_string());
                    candidate["spec"]["clusterIPs"] = json!([ip.to_string()]);
                    claims.push((
                        format!("{IP_PREFIX}{ip}"),
                        "spec.clusterIP".into(),
                        ip.to_string(),
                        asked,
                    ));
                }
                let mut chosen = avoid_ports.clone();
                for (i, want) in &needs.ports {
                    let (port, asked) = match *want {
                        Want::Specific(p) => (p, true),
                        Want::Any => match self.ranges.pick_port(&mut rng, &chosen) {
                            Some(p) => (p, false),
                            None => {
                                return Err(fail(
                                    500,
                                    "InternalError",
                                    "failed to allocate a nodePort: range is full",
                                ))
                            }
                        },
                    };
                    chosen.insert(port);
                    candidate["spec"]["ports"][*i]["nodePort"] = json!(port);
                    claims.push((
                        format!("{PORT_PREFIX}{port}"),
                        format!("spec.ports[{i}].nodePort"),
                        port.to_string(),
                        asked,
                    ));
                }
            }
            // Which claims someone else holds.
            let mut taken = Vec::new();
            if dry_run {
                for (j, (key, ..)) in claims.iter().enumerate() {
                    if self.read(key).await?.is_some() {
                        taken.push(j);
                    }
                }
                if taken.is_empty() {
                    return Ok(Some(match old {
                        Some((_, rev)) => with_rv(candidate, rev),
                        None => candidate,
                    }));
                }
            } else {
                let keep: std::collections::BTreeSet<String> =
                    alloc::held(&candidate).into_iter().collect();
                let released: Vec<String> = old
                    .map(|(o, _)| {
                        alloc::held(o)
                            .into_iter()
                            .filter(|h| !keep.contains(h))
                            .collect()
                    })
                    .unwrap_or_default();
                let bytes = serde_json::to_vec(&candidate)
                    .map_err(|e| fail(500, "InternalError", e.to_string()))?;
                let mut compares = vec![Compare {
                    key: k.to_owned(),
                    op: CmpOp::Equal,
                    target: match old {
                        Some((_, rev)) => CompareTarget::ModRevision(rev),
                        None => CompareTarget::Version(0),
                    },
                }];
                let mut success = vec![TxnOp::Put {
                    key: k.to_owned(),
                    value: bytes,
                }];
                let mut failure = vec![TxnOp::Get { key: k.to_owned() }];
                for (key, ..) in &claims {
                    compares.push(Compare {
                        key: key.clone(),
                        op: CmpOp::Equal,
                        target: CompareTarget::Version(0),
                    });
                    success.push(TxnOp::Put {
                        key: key.clone(),
                        value: k.as_bytes().to_vec(),
                    });
                    failure.push(TxnOp::Get { key: key.clone() });
                }
                success.extend(released.into_iter().map(|key| TxnOp::Delete { key }));
                let r = self
                    .txn(Txn {
                        compares,
                        success,
                        failure,
                    })
                    .await?;
                if r.succeeded {
                    return Ok(Some(with_rv(candidate, r.revision)));
                }
                let current = match r.results.first() {
                    Some(OpResult::Get { kv }) => kv.as_ref().map(|kv| kv.mod_revision),
                    _ => None,
                };
                match (old, current) {
                    (None, Some(_)) => return Err(already_exists(info, name)),
                    (Some(_), None) => return Err(not_found(info, name)),
                    (Some((_, rev)), Some(now)) if now != rev => return Ok(None),
                    _ => {}
                }
                taken.extend((0..claims.len()).filter(|j| {
                    matches!(r.results.get(j + 1), Some(OpResult::Get { kv: Some(_) }))
                }));
            }
            for j in taken {
                let (_, field, value, asked) = &claims[j];
                if *asked {
                    let what = if field == "spec.clusterIP" {
                        "IP"
                    } else {
                        "port"
                    };
                    return Err(invalid(
                        field,
                        value,
                        &format!("provided {what} is already allocated"),
                    ));
                }
                if field == "spec.clusterIP" {
                    avoid_ips.extend(value.parse::<std::net::Ipv4Addr>().ok());
                } else {
                    avoid_ports.extend(value.parse::<u16>().ok());
                }
            }
        }
        Err(fail(
            503,
            "ServiceUnavailable",
            "could not allocate the service's addresses; try again",
        ))
    }

    /// The allocation keys under `prefix`, without the prefix.
    async fn allocated(&self, prefix: &str) -> ApiResult<Vec<String>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let req = StoreRequest::Range {
                prefix: prefix.to_owned(),
                start_after: after.clone(),
                limit: 10_000,
                consistency: Consistency::Linearizable,
            };
            let StoreReply::Range { kvs, more, .. } = self.store(req).await? else {
                return Err(unexpected_reply());
            };
            after = kvs.last().map(|kv| kv.key.clone());
            out.extend(
                kvs.into_iter()
                    .filter_map(|kv| kv.key.strip_prefix(prefix).map(str::to_owned)),
            );
            if !more {
                return Ok(out);
            }
        }
    }
}

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "How the service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    col(
        "Cluster-IP",
        "string",
        "The IP address of the service, usually assigned randomly.",
    ),
    col(
        "External-IP",
        "string",
        "IP addresses for which nodes in the cluster accept traffic for this service.",
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    col(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    )
    .wide(),
];

fn service_cells(svc: &Service, now: Time) -> Vec<Value> {
    let spec = &svc.spec;
    let ty = spec.type_.unwrap_or(ServiceType::ClusterIp);
    let cluster_ip = spec
        .cluster_ips
        .first()
        .map(String::as_str)
        .unwrap_or(&spec.cluster_ip);
    let external_ips = spec.external_ips.join(",");
    let external = match ty {
        ServiceType::ClusterIp | ServiceType::NodePort => or_none(&external_ips),
        ServiceType::LoadBalancer => {
            let mut ingress: Vec<&str> = svc
                .status
                .load_balancer
                .ingress
                .iter()
                .filter_map(|i| {
                    if !i.ip.is_empty() {
                        Some(i.ip.as_str())
                    } else if !i.hostname.is_empty() {
                        Some(i.hostname.as_str())
                    } else {
                        None
                    }
                })
                .collect();
            ingress.sort();
            ingress.dedup();
            let mut all: Vec<&str> = ingress;
            all.extend(spec.external_ips.iter().map(String::as_str));
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        ServiceType::ExternalName => spec.external_name.clone(),
    };
    let ports: Vec<String> = spec
        .ports
        .iter()
        .map(|p| {
            let protocol = p.protocol.unwrap_or_default();
            if p.node_port > 0 {
                format!("{}:{}/{protocol}", p.port, p.node_port)
            } else {
                format!("{}/{protocol}", p.port)
            }
        })
        .collect();
    vec![
        json!(svc.metadata.name),
        json!(ty.as_str()),
        json!(or_none(cluster_ip)),
        json!(external),
        json!(or_none(&ports.join(","))),
        json!(since(svc.metadata.creation_timestamp, now)),
        json!(format_labels(&spec.selector)),
    ]
}
