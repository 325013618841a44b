#![allow(clippy::unwrap_used)]
use super::*;
use serde_json::json;

fn svc(v: serde_json::Value) -> Service {
    serde_json::from_value(v).unwrap()
}

fn eps(v: serde_json::Value) -> Endpoints {
    serde_json::from_value(v).unwrap()
}

fn pod(v: serde_json::Value) -> Pod {
    serde_json::from_value(v).unwrap()
}

fn index() -> Index {
    let services = [
        svc(
            json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
            "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}, {"port": 9}]}}),
        ),
        svc(
            json!({"metadata": {"name": "web", "namespace": "other"}, "spec": {
            "clusterIP": "10.96.0.21", "ports": [{"name": "http", "port": 8080}]}}),
        ),
        svc(
            json!({"metadata": {"name": "db", "namespace": "default"}, "spec": {
            "clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}}),
        ),
        svc(
            json!({"metadata": {"name": "lazy", "namespace": "default"}, "spec": {
            "clusterIP": "None", "publishNotReadyAddresses": true, "ports": [{"port": 1}]}}),
        ),
        svc(
            json!({"metadata": {"name": "ext", "namespace": "default"}, "spec": {
            "type": "ExternalName", "externalName": "example.test"}}),
        ),
        svc(
            json!({"metadata": {"name": "six", "namespace": "default"}, "spec": {
            "clusterIP": "fd00::a", "ports": [{"port": 80}]}}),
        ),
    ];
    let endpoints = [
        eps(
            json!({"metadata": {"name": "db", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": "10.244.0.5", "hostname": "db-0"}, {"ip": "10.244.0.6", "hostname": "db-1"}],
             "notReadyAddresses": [{"ip": "10.244.0.7", "hostname": "db-2"}],
             "ports": [{"name": "pg", "port": 5432}]}]}),
        ),
        eps(
            json!({"metadata": {"name": "lazy", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": "10.244.0.8"}], "notReadyAddresses": [{"ip": "10.244.0.9"}],
             "ports": [{"port": 1}]}]}),
        ),
        eps(
            json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": "10.244.0.3"}], "ports": [{"name": "http", "port": 8080}]}]}),
        ),
    ];
    let pods = [pod(
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": []},
        "status": {"podIP": "10.244.0.3", "podIPs": [{"ip": "10.244.0.3"}]}}),
    )];
    Index::build(
        "cluster.local",
        &services.iter().collect::<Vec<_>>(),
        &endpoints.iter().collect::<Vec<_>>(),
        &pods.iter().collect::<Vec<_>>(),
        7,
    )
}

fn a(s: &str) -> RData {
    RData::Addr(s.parse().unwrap())
}

/// What a case expects: the answer section's data, NODATA, NXDOMAIN or not ours.
#[derive(Debug, PartialEq)]
enum Want {
    Data(Vec<RData>),
    NoData,
    Nx,
    NotOurs,
}

fn summary(ans: Answer) -> Want {
    match ans {
        Answer::Records { answers, .. } => {
            Want::Data(answers.into_iter().map(|r| r.data).collect())
        }
        Answer::NoData(soa) => {
            assert!(matches!(soa.data, RData::Soa { .. }));
            Want::NoData
        }
        Answer::NxDomain(soa) => {
            assert_eq!(soa.name, "cluster.local.");
            Want::Nx
        }
        Answer::NotOurs => Want::NotOurs,
    }
}

#[test]
fn lookup_table() {
    let idx = index();
    let srv = |port, target: &str| RData::Srv {
        priority: 0,
        weight: if target.starts_with("db-") { 50 } else { 100 },
        port,
        target: target.into(),
    };
    let cases: Vec<(&str, &str, QType, Want)> = vec![
        (
            "cluster IP",
            "web.default.svc.cluster.local",
            QType::A,
            Want::Data(vec![a("10.96.0.20")]),
        ),
        (
            "case and trailing dot",
            "WEB.Default.svc.cluster.local.",
            QType::A,
            Want::Data(vec![a("10.96.0.20")]),
        ),
        (
            "other namespace",
            "web.other.svc.cluster.local",
            QType::A,
            Want::Data(vec![a("10.96.0.21")]),
        ),
        (
            "AAAA of an IPv4 service is NODATA",
            "web.default.svc.cluster.local",
            QType::Aaaa,
            Want::NoData,
        ),
        (
            "AAAA of an IPv6 service",
            "six.default.svc.cluster.local",
            QType::Aaaa,
            Want::Data(vec![a("fd00::a")]),
        ),
        (
            "TXT is NODATA",
            "web.default.svc.cluster.local",
            QType::Other(16),
            Want::NoData,
        ),
        (
            "headless: ready endpoints only",
            "db.default.svc.cluster.local",
            QType::A,
            Want::Data(vec![a("10.244.0.5"), a("10.244.0.6")]),
        ),
        (
            "publishNotReadyAddresses",
            "lazy.default.svc.cluster.local",
            QType::A,
            Want::Data(vec![a("10.244.0.8"), a("10.244.0.9")]),
        ),
        (
            "endpoint hostname",
            "db-1.db.default.svc.cluster.local",
            QType::A,
            Want::Data(vec![a("10.244.0.6")]),
        ),
        (
            "not-ready hostname is absent",
            "db-2.db.default.svc.cluster.local",
            QType::A,
            Want::Nx,
        ),
        (
            "endpoint by dashed address",
            "10-244-0-8.lazy.default.svc.cluster.local",
            QType::A,
            Want::Data(vec![a("10.244.0.8")]),
        ),
        (
            "hostname under a ClusterIP service",
            "x.web.default.svc.cluster.local",
            QType::A,
            Want::Nx,
        ),
        (
            "SRV of a named port",
            "_http._tcp.web.default.svc.cluster.local",
            QType::Srv,
            Want::Data(vec![srv(80, "web.default.svc.cluster.local.")]),
        ),
        (
            "SRV of a UDP port",
            "_dns._udp.web.default.svc.cluster.local",
            QType::Srv,
            Want::Data(vec![srv(53, "web.default.svc.cluster.local.")]),
        ),
        (
            "SRV with the wrong protocol",
            "_dns._tcp.web.default.svc.cluster.local",
            QType::Srv,
            Want::Nx,
        ),
        (
            "SRV of a headless service",
            "_pg._tcp.db.default.svc.cluster.local",
            QType::Srv,
            Want::Data(vec![
                srv(5432, "db-0.db.default.svc.cluster.local."),
                srv(5432, "db-1.db.default.svc.cluster.local."),
            ]),
        ),
        (
            "A of an SRV name is NODATA",
            "_http._tcp.web.default.svc.cluster.local",
            QType::A,
            Want::NoData,
        ),
        (
            "SRV empty non-terminal",
            "_tcp.web.default.svc.cluster.local",
            QType::Srv,
            Want::NoData,
        ),
        (
            "ExternalName is a CNAME",
            "ext.default.svc.cluster.local",
            QType::A,
            Want::Data(vec![RData::Cname("example.test.".into())]),
        ),
        (
            "pod name",
            "10-244-0-3.default.pod.cluster.local",
            QType::A,
            Want::Data(vec![a("10.244.0.3")]),
        ),
        (
            "bad pod name",
            "foo.default.pod.cluster.local",
            QType::A,
            Want::Nx,
        ),
        (
            "PTR of a cluster IP",
            "20.0.96.10.in-addr.arpa",
            QType::Ptr,
            Want::Data(vec![RData::Ptr("web.default.svc.cluster.local.".into())]),
        ),
        (
            "PTR of a pod",
            "3.0.244.10.in-addr.arpa",
            QType::Ptr,
            Want::Data(vec![RData::Ptr(
                "10-244-0-3.default.pod.cluster.local.".into(),
            )]),
        ),
        (
            "PTR of a headless endpoint",
            "5.0.244.10.in-addr.arpa",
            QType::Ptr,
            Want::Data(vec![RData::Ptr(
                "db-0.db.default.svc.cluster.local.".into(),
            )]),
        ),
        (
            "PTR of an unknown address goes upstream",
            "1.1.168.192.in-addr.arpa",
            QType::Ptr,
            Want::NotOurs,
        ),
        (
            "missing service",
            "nope.default.svc.cluster.local",
            QType::A,
            Want::Nx,
        ),
        (
            "missing namespace",
            "web.nope.svc.cluster.local",
            QType::A,
            Want::Nx,
        ),
        (
            "namespace with services exists",
            "default.svc.cluster.local",
            QType::A,
            Want::NoData,
        ),
        (
            "zone apex SOA",
            "cluster.local",
            QType::Soa,
            Want::Data(vec![idx.soa().data]),
        ),
        ("zone apex A", "cluster.local", QType::A, Want::NoData),
        ("unknown subtree", "foo.cluster.local", QType::A, Want::Nx),
        ("outside the zone", "example.test", QType::A, Want::NotOurs),
        (
            "suffix is not the zone",
            "notcluster.local",
            QType::A,
            Want::NotOurs,
        ),
    ];
    for (name, q, t, want) in cases {
        assert_eq!(summary(lookup(&idx, q, t)), want, "{name}: {q} {t:?}");
    }
}

#[test]
fn srv_of_headless_carries_targets_as_additionals() {
    let Answer::Records { additionals, .. } = lookup(
        &index(),
        "_pg._tcp.db.default.svc.cluster.local",
        QType::Srv,
    ) else {
        panic!("records expected");
    };
    let names: Vec<&str> = additionals.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "db-0.db.default.svc.cluster.local.",
            "db-1.db.default.svc.cluster.local."
        ]
    );
    assert!(additionals.iter().all(|r| r.ttl == DEFAULT_TTL));
}
