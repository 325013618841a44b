//! Service cluster IP and NodePort allocation through the API: conflict-free under
//! concurrent creates, honouring requested values, released on delete and on update.

use std::collections::BTreeSet;

use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::Service;
use rudder_tests::Cluster;
use serde_json::json;

async fn node() -> anyhow::Result<(Cluster, Client)> {
    Cluster::solo(false).await
}

fn service(name: &str, ty: &str, extra: serde_json::Value) -> anyhow::Result<Service> {
    let mut spec = json!({"type": ty, "selector": {"app": name}, "ports": [{"port": 80}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec,
    }))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_get_distinct_addresses_and_ports() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let api: Api<Service> = client.api(Some("default"));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let s = service(&format!("s{i}"), "NodePort", json!({}))?;
            anyhow::Ok(api.create(&s).await?)
        }));
    }
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for t in tasks {
        let s = t.await??;
        let ip: std::net::Ipv4Addr = s.spec.cluster_ip.parse()?;
        assert!(ip.octets()[..2] == [10, 96], "{ip} outside 10.96.0.0/16");
        assert!(ips.insert(ip), "{ip} given twice");
        let port = s.spec.ports[0].node_port;
        assert!((30000..=32767).contains(&port), "{port}");
        assert!(ports.insert(port), "node port {port} given twice");
    }
    assert_eq!((ips.len(), ports.len()), (200, 200));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_values_conflicts_release_and_headless() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let api: Api<Service> = client.api(Some("default"));
    let a = api
        .create(&service(
            "a",
            "NodePort",
            json!({"clusterIP": "10.96.7.7", "ports": [{"port": 80, "nodePort": 30080}]}),
        )?)
        .await?;
    assert_eq!(a.spec.cluster_ip, "10.96.7.7");
    assert_eq!(a.spec.ports[0].node_port, 30080);

    let err = api
        .create(&service(
            "b",
            "ClusterIP",
            json!({"clusterIP": "10.96.7.7"}),
        )?)
        .await
        .expect_err("address taken");
    assert_eq!(err.code(), Some(422), "{err}");
    assert!(
        err.to_string().contains("provided IP is already allocated"),
        "{err}"
    );
    let err = api
        .create(&service(
            "c",
            "NodePort",
            json!({"ports": [{"port": 80, "nodePort": 30080}]}),
        )?)
        .await
        .expect_err("port taken");
    assert!(
        err.to_string()
            .contains("provided port is already allocated"),
        "{err}"
    );
    let err = api
        .create(&service(
            "d",
            "ClusterIP",
            json!({"clusterIP": "192.168.0.1"}),
        )?)
        .await
        .expect_err("out of range");
    assert_eq!(err.code(), Some(422), "{err}");

    let headless = api
        .create(&service("h", "ClusterIP", json!({"clusterIP": "None"}))?)
        .await?;
    assert_eq!(headless.spec.cluster_ip, "None");

    // NodePort -> ClusterIP gives the node port back; deleting gives the address back.
    let changed = api
        .patch(
            "a",
            PatchType::Merge,
            &json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}),
        )
        .await?;
    assert_eq!(changed.spec.cluster_ip, "10.96.7.7", "the address is kept");
    assert_eq!(changed.spec.ports[0].node_port, 0);
    api.create(&service(
        "e",
        "NodePort",
        json!({"ports": [{"port": 80, "nodePort": 30080}]}),
    )?)
    .await?;
    api.delete("a").await?;
    let b = api
        .create(&service(
            "b",
            "ClusterIP",
            json!({"clusterIP": "10.96.7.7"}),
        )?)
        .await?;
    assert_eq!(b.spec.cluster_ip, "10.96.7.7");
    Ok(())
}
