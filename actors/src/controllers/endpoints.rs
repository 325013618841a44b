//! The endpoints controller: for every Service with a selector, an Endpoints object of
//! the same name listing the ready and not-ready addresses of the selected pods with
//! their ports, as Kubernetes' endpoints controller writes it.
//!
//! What it owns: the Endpoints of services that have a selector. What it does not: the
//! Endpoints of services without a selector (users or other controllers manage those),
//! and the proxy rules built from them (the `proxy` actor).
//!
//! [`plan`] decides, purely, from the service, the pods of its namespace and the current
//! Endpoints: create, update, delete or nothing. Pods without an IP, pods being deleted
//! (unless the service publishes not-ready addresses) and pods that have finished are
//! left out; a named target port is resolved against each pod's container ports by name
//! and protocol, and a pod without that port is left out of that port's subset only.
//! Subsets are then regrouped as Kubernetes' `RepackSubsets` does, so that addresses
//! offering the same ports share one subset, and sorted, so that an unchanged result is
//! recognised and not written again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, IntOrString, ObjectReference, Pod,
    PodPhase, Protocol, Service, ServicePort,
};
use tracing::debug;

use super::support::{Controller, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The component's name.
pub const NAME: &str = "controller/endpoints";

/// The label Kubernetes puts on the Endpoints of a headless service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// What to do about one service's Endpoints.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointsAction {
    /// Create the Endpoints.
    Create(Endpoints),
    /// Replace the Endpoints (carries the current resourceVersion).
    Update(Endpoints),
    /// Delete the Endpoints of a service that is gone.
    Delete {
        /// Namespace.
        namespace: String,
        /// Name (the service's).
        name: String,
    },
}

/// Decides what the Endpoints named `(namespace, name)` should become.
///
/// `service` is the service of that name (`None` when it is gone), `pods` every pod of
/// the namespace (the plan applies the selector), `current` the Endpoints as they are.
/// Returns `None` when nothing needs writing.
pub fn plan<'a>(
    namespace: &str,
    name: &str,
    service: Option<&Service>,
    pods: impl IntoIterator<Item = &'a Pod>,
    current: Option<&Endpoints>,
) -> Option<EndpointsAction> {
    let Some(service) = service else {
        return current.map(|_| EndpointsAction::Delete {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        });
    };
    // Services without a selector have hand-made Endpoints: not ours.
    if service.spec.selector.is_empty() {
        return None;
    }
    let selected: Vec<&Pod> = pods
        .into_iter()
        .filter(|p| p.metadata.namespace == namespace && selects(service, p))
        .collect();
    let subsets = desired_subsets(service, &selected);
    let labels = desired_labels(service);
    match current {
        None => {
            let mut ep = Endpoints::new(name);
            ep.metadata.namespace = namespace.to_owned();
            ep.metadata.labels = labels;
            ep.subsets = subsets;
            Some(EndpointsAction::Create(ep))
        }
        Some(cur) => {
            if normalized(&cur.subsets) == subsets && cur.metadata.labels == labels {
                return None;
            }
            let mut ep = cur.clone();
            ep.metadata.labels = labels;
            ep.subsets = subsets;
            Some(EndpointsAction::Update(ep))
        }
    }
}

/// Whether the service's selector picks the pod (every selector label present and equal).
fn selects(service: &Service, pod: &Pod) -> bool {
    service
        .spec
        .selector
        .iter()
        .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
}

/// The service's labels, plus the headless marker for a service without a cluster IP.
fn desired_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone();
    if service.spec.cluster_ip == "None" {
        labels.insert(HEADLESS_LABEL.to_owned(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

/// Whether a pod may appear in Endpoints at all (Kubernetes' `ShouldPodBeInEndpoints`).
fn pod_is_candidate(pod: &Pod, include_terminating: bool) -> bool {
    if pod.status.pod_ip.is_empty() {
        return false;
    }
    if matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    ) {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// The container port a service port reaches on `pod`: the number itself, or the
/// container port of that name and protocol (`None` when the pod has none).
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.unwrap_or(Protocol::Tcp);
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(0)) => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter())
            .find(|p| &p.name == name && p.protocol.unwrap_or(Protocol::Tcp) == protocol)
            .map(|p| p.container_port),
    }
}

fn address_of(service: &Service, pod: &Pod) -> EndpointAddress {
    // A pod names itself in DNS under the service that is its subdomain.
    let hostname = if !pod.spec.hostname.is_empty()
        && pod.spec.subdomain == service.metadata.name
        && pod.metadata.namespace == service.metadata.namespace
    {
        pod.spec.hostname.clone()
    } else {
        String::new()
    };
    EndpointAddress {
        ip: pod.status.pod_ip.clone(),
        hostname,
        node_name: Some(pod.spec.node_name.clone()).filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: "Pod".to_owned(),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
    }
}

/// The subsets the service's Endpoints should have, repacked and sorted.
fn desired_subsets(service: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let tolerate_unready = service.spec.publish_not_ready_addresses;
    let headless = service.spec.cluster_ip == "None";
    let mut subsets = Vec::new();
    for pod in pods {
        if !pod_is_candidate(pod, tolerate_unready) {
            continue;
        }
        let address = address_of(service, pod);
        let ready = tolerate_unready || pod.is_ready();
        let mut push = |ports: Vec<EndpointPort>| {
            let mut s = EndpointSubset {
                ports,
                ..EndpointSubset::default()
            };
            if ready {
                s.addresses.push(address.clone());
            } else {
                s.not_ready_addresses.push(address.clone());
            }
            subsets.push(s);
        };
        if service.spec.ports.is_empty() {
            // Only a headless service lists addresses without ports.
            if headless {
                push(Vec::new());
            }
            continue;
        }
        for sp in &service.spec.ports {
            let Some(port) = find_port(pod, sp) else {
                continue;
            };
            push(vec![EndpointPort {
                name: sp.name.clone(),
                port,
                protocol: Some(sp.protocol.unwrap_or(Protocol::Tcp)),
                app_protocol: sp.app_protocol.clone(),
            }]);
        }
    }
    repack(&subsets)
}

/// An Endpoints' subsets as [`repack`] would write them, to compare with a plan.
fn normalized(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut subsets = subsets.to_vec();
    for s in &mut subsets {
        for p in &mut s.ports {
            p.protocol.get_or_insert(Protocol::Tcp);
        }
    }
    repack(&subsets)
}

/// A port as a map key: (port, name, protocol, appProtocol), `port == -1` standing for
/// "no ports" (Kubernetes' sentinel).
type PortKey = (i32, String, String, Option<String>);

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.port,
        p.name.clone(),
        p.protocol.unwrap_or(Protocol::Tcp).as_str().to_owned(),
        p.app_protocol.clone(),
    )
}

/// An address's identity: its IP and the uid of its target.
type AddressKey = (String, String);

fn address_key(a: &EndpointAddress) -> AddressKey {
    (
        a.ip.clone(),
        a.target_ref
            .as_ref()
            .map(|r| r.uid.clone())
            .unwrap_or_default(),
    )
}

/// Kubernetes' `RepackSubsets`: maps every port to the addresses offering it (an address
/// that is not ready for a port in any input subset is not ready for it), then groups
/// ports by identical address sets, one subset per group, everything sorted.
pub fn repack(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut all: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    let mut by_port: BTreeMap<PortKey, (EndpointPort, BTreeMap<AddressKey, bool>)> =
        BTreeMap::new();
    for s in subsets {
        let sentinel = [EndpointPort {
            port: -1,
            ..EndpointPort::default()
        }];
        let ports: &[EndpointPort] = if s.ports.is_empty() {
            &sentinel
        } else {
            &s.ports
        };
        for port in ports {
            let entry = by_port
                .entry(port_key(port))
                .or_insert_with(|| (port.clone(), BTreeMap::new()));
            let tagged = s
                .addresses
                .iter()
                .map(|a| (a, true))
                .chain(s.not_ready_addresses.iter().map(|a| (a, false)));
            for (addr, ready) in tagged {
                let k = address_key(addr);
                all.entry(k.clone()).or_insert_with(|| addr.clone());
                // Not ready wins over ready.
                let slot = entry.1.entry(k).or_insert(ready);
                *slot = *slot && ready;
            }
        }
    }
    // Group ports by their address set.
    let mut groups: BTreeMap<Vec<(AddressKey, bool)>, Vec<EndpointPort>> = BTreeMap::new();
    for (_, (port, addrs)) in by_port {
        let set: Vec<(AddressKey, bool)> = addrs.into_iter().collect();
        let ports = groups.entry(set).or_default();
        if port.port > 0 {
            ports.push(port);
        }
    }
    let mut out: Vec<EndpointSubset> = groups
        .into_iter()
        .filter(|(set, _)| !set.is_empty())
        .map(|(set, mut ports)| {
            ports.sort_by_key(port_key);
            let mut s = EndpointSubset {
                ports,
                ..EndpointSubset::default()
            };
            for (k, ready) in set {
                if let Some(a) = all.get(&k) {
                    if ready {
                        s.addresses.push(a.clone());
                    } else {
                        s.not_ready_addresses.push(a.clone());
                    }
                }
            }
            s
        })
        .collect();
    out.sort_by_key(subset_key);
    out
}

/// A deterministic order of subsets: by their ports, then their addresses.
fn subset_key(s: &EndpointSubset) -> (Vec<PortKey>, Vec<AddressKey>, Vec<AddressKey>) {
    (
        s.ports.iter().map(port_key).collect(),
        s.addresses.iter().map(address_key).collect(),
        s.not_ready_addresses.iter().map(address_key).collect(),
    )
}

/// The names of the services in `services` whose selector picks `pod` (to enqueue on a
/// pod change).
pub fn services_selecting<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    pod: &Pod,
) -> BTreeSet<String> {
    services
        .into_iter()
        .filter(|s| {
            s.metadata.namespace == pod.metadata.namespace
                && !s.spec.selector.is_empty()
                && selects(s, pod)
        })
        .map(|s| s.metadata.name.clone())
        .collect()
}

/// The supervised component: Services by their key, Endpoints by their (same) key, and
/// Pods by the keys of the Services selecting them (before and after a change).
pub fn component() -> ComponentSpec {
    Controller::<Service>::new(NAME)
        .workers(2)
        .component(wire, |caches: Arc<Caches>, key: ObjectKey| async move {
            reconcile(&caches, key).await
        })
}

struct Caches {
    api: ApiHandle,
    services: Cache<Service>,
    endpoints: Cache<Endpoints>,
    pods: Cache<Pod>,
}

fn wire(w: &mut Wiring<Service>) -> Caches {
    let services = w.primary();
    let endpoints = w.watches(
        Scope::all(),
        |c: &Change<Endpoints>, q: &WorkQueue<ObjectKey>| q.add(c.key()),
    );
    let svc = services.clone();
    let pods = w.watches(
        Scope::all(),
        move |c: &Change<Pod>, q: &WorkQueue<ObjectKey>| {
            let mut pods: Vec<&Arc<Pod>> = vec![c.object()];
            if let Change::Modified { old, .. } = c {
                pods.push(old);
            }
            for pod in pods {
                let ns = &pod.metadata.namespace;
                let candidates = svc.list_namespace(ns);
                for name in services_selecting(candidates.iter().map(Arc::as_ref), pod) {
                    q.add(ObjectKey::namespaced(ns, &name));
                }
            }
        },
    );
    Caches {
        api: w.api().clone(),
        services,
        endpoints,
        pods,
    }
}

async fn reconcile(caches: &Caches, key: ObjectKey) -> Result<Option<Duration>, ApiError> {
    let api = &caches.api;
    let Some(ns) = key.namespace.as_deref() else {
        return Ok(None);
    };
    let service = caches.services.get(&key);
    let current = caches.endpoints.get(&key);
    let pods = caches.pods.list_namespace(ns);
    let action = plan(
        ns,
        &key.name,
        service.as_deref(),
        pods.iter().map(Arc::as_ref),
        current.as_deref(),
    );
    let eps = api.api::<Endpoints>(Some(ns));
    let result = match action {
        None => return Ok(None),
        Some(EndpointsAction::Create(ep)) => eps.create(&ep).await.map(drop),
        Some(EndpointsAction::Update(ep)) => eps.update(&ep).await.map(drop),
        Some(EndpointsAction::Delete { name, .. }) => match eps.delete(&name).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        },
    };
    match result {
        // A terminating namespace takes no new objects; the namespace controller is
        // emptying it.
        Err(e) if e.code() == Some(403) => {
            debug!(endpoints = %key, error = %e, "not written");
            Ok(None)
        }
        other => other.map(|()| None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::ConditionStatus;
    use rudder_protocol::resources::{Container, ContainerPort, PodCondition, Time};

    fn service(ports: &[(&str, i32, IntOrString)]) -> Service {
        let mut s = Service::new("web");
        s.metadata.namespace = "default".into();
        s.spec.selector.insert("app".into(), "web".into());
        s.spec.cluster_ip = "10.96.0.10".into();
        for (name, port, target) in ports {
            s.spec.ports.push(ServicePort {
                name: (*name).into(),
                port: *port,
                protocol: Some(Protocol::Tcp),
                target_port: Some(target.clone()),
                ..ServicePort::default()
            });
        }
        s
    }

    fn pod(name: &str, ip: &str, ready: bool, ports: &[(&str, i32)]) -> Pod {
        let mut p = Pod::new(name);
        p.metadata.namespace = "default".into();
        p.metadata.uid = format!("uid-{name}");
        p.metadata.labels.insert("app".into(), "web".into());
        p.spec.node_name = "n1".into();
        p.spec.containers.push(Container {
            name: "c".into(),
            ports: ports
                .iter()
                .map(|(n, port)| ContainerPort {
                    name: (*n).into(),
                    container_port: *port,
                    protocol: Some(Protocol::Tcp),
                    ..ContainerPort::default()
                })
                .collect(),
            ..Container::default()
        });
        p.status.phase = Some(PodPhase::Running);
        p.status.pod_ip = ip.into();
        p.status.conditions.push(PodCondition {
            type_: "Ready".into(),
            status: if ready {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            ..PodCondition::default()
        });
        p
    }

    fn addr(name: &str, ip: &str) -> EndpointAddress {
        EndpointAddress {
            ip: ip.into(),
            node_name: Some("n1".into()),
            target_ref: Some(ObjectReference {
                kind: "Pod".into(),
                namespace: "default".into(),
                name: name.into(),
                uid: format!("uid-{name}"),
                ..ObjectReference::default()
            }),
            ..EndpointAddress::default()
        }
    }

    fn port(name: &str, port: i32) -> EndpointPort {
        EndpointPort {
            name: name.into(),
            port,
            protocol: Some(Protocol::Tcp),
            app_protocol: None,
        }
    }

    fn subset(
        ready: &[(&str, &str)],
        not_ready: &[(&str, &str)],
        ports: &[(&str, i32)],
    ) -> EndpointSubset {
        EndpointSubset {
            addresses: ready.iter().map(|(n, ip)| addr(n, ip)).collect(),
            not_ready_addresses: not_ready.iter().map(|(n, ip)| addr(n, ip)).collect(),
            ports: ports.iter().map(|(n, p)| port(n, *p)).collect(),
        }
    }

    fn created(action: Option<EndpointsAction>) -> Vec<EndpointSubset> {
        match action {
            Some(EndpointsAction::Create(ep)) => ep.subsets,
            other => panic!("expected a create, got {other:?}"),
        }
    }

    #[test]
    fn subsets_from_pods() {
        let http = IntOrString::String("http".into());
        let deleting = {
            let mut p = pod("d", "10.244.0.9", true, &[("http", 8080)]);
            p.metadata.deletion_timestamp = Some(Time::from_unix(1));
            p
        };
        let finished = {
            let mut p = pod("f", "10.244.0.8", true, &[("http", 8080)]);
            p.status.phase = Some(PodPhase::Succeeded);
            p
        };
        let other_labels = {
            let mut p = pod("o", "10.244.0.7", true, &[("http", 8080)]);
            p.metadata.labels.insert("app".into(), "db".into());
            p
        };
        let other_ns = {
            let mut p = pod("x", "10.244.0.6", true, &[("http", 8080)]);
            p.metadata.namespace = "other".into();
            p
        };
        let cases: Vec<(&str, Service, Vec<Pod>, Vec<EndpointSubset>)> = vec![
            (
                "no pods gives no subsets",
                service(&[("", 80, IntOrString::Int(8080))]),
                vec![],
                vec![],
            ),
            (
                "ready and not ready split, numeric target",
                service(&[("", 80, IntOrString::Int(8080))]),
                vec![
                    pod("a", "10.244.0.2", true, &[]),
                    pod("b", "10.244.0.3", false, &[]),
                ],
                vec![subset(
                    &[("a", "10.244.0.2")],
                    &[("b", "10.244.0.3")],
                    &[("", 8080)],
                )],
            ),
            (
                "named port resolved per pod",
                service(&[("web", 80, http.clone())]),
                vec![
                    pod("a", "10.244.0.2", true, &[("http", 8080)]),
                    pod("b", "10.244.0.3", true, &[("http", 9090)]),
                ],
                vec![
                    subset(&[("a", "10.244.0.2")], &[], &[("web", 8080)]),
                    subset(&[("b", "10.244.0.3")], &[], &[("web", 9090)]),
                ],
            ),
            (
                "pod without the named port left out of that port only",
                service(&[
                    ("web", 80, http.clone()),
                    ("metrics", 9100, IntOrString::Int(9100)),
                ]),
                vec![
                    pod("a", "10.244.0.2", true, &[("http", 8080)]),
                    pod("b", "10.244.0.3", true, &[]),
                ],
                vec![
                    subset(&[("a", "10.244.0.2")], &[], &[("web", 8080)]),
                    subset(
                        &[("a", "10.244.0.2"), ("b", "10.244.0.3")],
                        &[],
                        &[("metrics", 9100)],
                    ),
                ],
            ),
            (
                "same address set shares one subset with both ports",
                service(&[
                    ("web", 80, http.clone()),
                    ("metrics", 9100, IntOrString::Int(9100)),
                ]),
                vec![
                    pod("a", "10.244.0.2", true, &[("http", 8080)]),
                    pod("b", "10.244.0.3", false, &[("http", 8080)]),
                ],
                vec![subset(
                    &[("a", "10.244.0.2")],
                    &[("b", "10.244.0.3")],
                    &[("web", 8080), ("metrics", 9100)],
                )],
            ),
            (
                "pods without IP, deleting, finished or not selected excluded",
                service(&[("web", 80, http.clone())]),
                vec![
                    pod("noip", "", true, &[("http", 8080)]),
                    deleting.clone(),
                    finished,
                    other_labels,
                    other_ns,
                    pod("a", "10.244.0.2", true, &[("http", 8080)]),
                ],
                vec![subset(&[("a", "10.244.0.2")], &[], &[("web", 8080)])],
            ),
            (
                "publishNotReadyAddresses lists not-ready and deleting pods as ready",
                {
                    let mut s = service(&[("web", 80, http.clone())]);
                    s.spec.publish_not_ready_addresses = true;
                    s
                },
                vec![pod("b", "10.244.0.3", false, &[("http", 8080)]), deleting],
                vec![subset(
                    &[("b", "10.244.0.3"), ("d", "10.244.0.9")],
                    &[],
                    &[("web", 8080)],
                )],
            ),
            (
                "headless service without ports lists addresses without ports",
                {
                    let mut s = service(&[]);
                    s.spec.cluster_ip = "None".into();
                    s
                },
                vec![pod("a", "10.244.0.2", true, &[])],
                vec![subset(&[("a", "10.244.0.2")], &[], &[])],
            ),
            (
                "service without ports and with a cluster IP lists nothing",
                service(&[]),
                vec![pod("a", "10.244.0.2", true, &[])],
                vec![],
            ),
        ];
        for (name, svc, pods, want) in cases {
            let got = created(plan("default", "web", Some(&svc), &pods, None));
            assert_eq!(got, want, "case {name}");
        }
    }

    #[test]
    fn writes_only_what_changed() {
        let svc = service(&[("", 80, IntOrString::Int(8080))]);
        let pods = vec![pod("a", "10.244.0.2", true, &[])];
        let Some(EndpointsAction::Create(existing)) =
            plan("default", "web", Some(&svc), &pods, None)
        else {
            panic!("expected a create")
        };
        let mut no_selector = svc.clone();
        no_selector.spec.selector.clear();
        let mut stored_without_protocol = existing.clone();
        stored_without_protocol.subsets[0].ports[0].protocol = None;
        let mut relabelled = svc.clone();
        relabelled
            .metadata
            .labels
            .insert("tier".into(), "front".into());
        let not_ready = vec![pod("a", "10.244.0.2", false, &[])];
        type Case<'a> = (
            &'a str,
            Option<&'a Service>,
            &'a [Pod],
            Option<&'a Endpoints>,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "unchanged: no write",
                Some(&svc),
                &pods,
                Some(&existing),
                "none",
            ),
            (
                "stored without default protocol is the same",
                Some(&svc),
                &pods,
                Some(&stored_without_protocol),
                "none",
            ),
            (
                "pod became not ready: update",
                Some(&svc),
                &not_ready,
                Some(&existing),
                "update",
            ),
            (
                "service labels changed: update",
                Some(&relabelled),
                &pods,
                Some(&existing),
                "update",
            ),
            (
                "service gone: delete",
                None,
                &pods,
                Some(&existing),
                "delete",
            ),
            (
                "service and endpoints gone: nothing",
                None,
                &pods,
                None,
                "none",
            ),
            (
                "no selector: left alone",
                Some(&no_selector),
                &pods,
                Some(&existing),
                "none",
            ),
            (
                "no selector and none yet: nothing",
                Some(&no_selector),
                &pods,
                None,
                "none",
            ),
        ];
        for (name, svc, pods, cur, want) in cases {
            let got = match plan("default", "web", svc, pods, cur) {
                None => "none",
                Some(EndpointsAction::Create(_)) => "create",
                Some(EndpointsAction::Update(_)) => "update",
                Some(EndpointsAction::Delete { .. }) => "delete",
            };
            assert_eq!(got, want, "case {name}");
        }
    }

    #[test]
    fn repack_regroups_like_kubernetes() {
        let cases: Vec<(&str, Vec<EndpointSubset>, Vec<EndpointSubset>)> = vec![
            ("empty", vec![], vec![]),
            (
                "duplicate address collapses",
                vec![
                    subset(&[("a", "1.1.1.1")], &[], &[("p", 80)]),
                    subset(&[("a", "1.1.1.1")], &[], &[("p", 80)]),
                ],
                vec![subset(&[("a", "1.1.1.1")], &[], &[("p", 80)])],
            ),
            (
                "not ready wins over ready for the same port",
                vec![
                    subset(&[("a", "1.1.1.1")], &[], &[("p", 80)]),
                    subset(&[], &[("a", "1.1.1.1")], &[("p", 80)]),
                ],
                vec![subset(&[], &[("a", "1.1.1.1")], &[("p", 80)])],
            ),
            (
                "different port sets stay apart",
                vec![
                    subset(&[("a", "1.1.1.1")], &[], &[("p", 80)]),
                    subset(&[("b", "1.1.1.2")], &[], &[("q", 81)]),
                ],
                vec![
                    subset(&[("a", "1.1.1.1")], &[], &[("p", 80)]),
                    subset(&[("b", "1.1.1.2")], &[], &[("q", 81)]),
                ],
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(repack(&input), want, "case {name}");
        }
    }

    #[test]
    fn headless_label_and_hostname() {
        let mut svc = service(&[]);
        svc.spec.cluster_ip = "None".into();
        let mut p = pod("a", "10.244.0.2", true, &[]);
        p.spec.hostname = "a-host".into();
        p.spec.subdomain = "web".into();
        let Some(EndpointsAction::Create(ep)) = plan("default", "web", Some(&svc), [&p], None)
        else {
            panic!("expected a create")
        };
        assert_eq!(
            ep.metadata.labels.get(HEADLESS_LABEL).map(String::as_str),
            Some("")
        );
        assert_eq!(ep.subsets[0].addresses[0].hostname, "a-host");
    }

    #[test]
    fn services_selecting_a_pod() {
        let a = service(&[]);
        let mut b = service(&[]);
        b.metadata.name = "db".into();
        b.spec.selector.insert("app".into(), "db".into());
        let mut c = service(&[]);
        c.metadata.name = "manual".into();
        c.spec.selector.clear();
        let p = pod("p", "1.1.1.1", true, &[]);
        let got = services_selecting([&a, &b, &c], &p);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec!["web".to_owned()]);
    }
}
