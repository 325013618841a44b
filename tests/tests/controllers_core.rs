//! The core controllers through a real `rudderd` (control plane only, quick timeouts from
//! `cluster-config/test/controllers.toml`): default service accounts, namespace
//! deletion, endpoints following pods, garbage collection, node IPAM and node lifecycle.
//! No kubelet runs: the tests play its part by writing pod and node status and Leases.
//! The last test kills each controller in the middle of its work and checks the end state.

use std::time::Duration;

use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::{ListParams, PatchType};
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::resources::{
    ConditionStatus, Container, ContainerPort, Endpoints, IntOrString, Lease, MicroTime, Namespace,
    Node, NodeCondition, OwnerReference, Pod, Service, ServiceAccount, ServicePort, TaintEffect,
    Time,
};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, store_status, Cluster, NodeProc};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

async fn control_plane() -> anyhow::Result<(Cluster, Client)> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("test/controllers.toml", "cp");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    let c = client.clone();
    eventually(Duration::from_secs(10), move || {
        let c = c.clone();
        async move { Ok(Some(c.api::<Namespace>(None).get("default").await?)) }
    })
    .await?;
    Ok((cluster, client))
}

fn pod(name: &str, labels: &[(&str, &str)], port: Option<(&str, i32)>) -> Pod {
    let mut p = Pod::new(name);
    for (k, v) in labels {
        p.metadata.labels.insert((*k).into(), (*v).into());
    }
    p.spec.termination_grace_period_seconds = Some(0);
    p.spec.containers.push(Container {
        name: "c".into(),
        image: "rudder/demo:latest".into(),
        ports: port
            .map(|(n, p)| ContainerPort {
                name: n.into(),
                container_port: p,
                ..ContainerPort::default()
            })
            .into_iter()
            .collect(),
        ..Container::default()
    });
    p
}

/// What a kubelet would report for a running pod.
async fn set_running(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) -> anyhow::Result<()> {
    let status = if ready { "True" } else { "False" };
    pods.patch_status(
        name,
        PatchType::Merge,
        &json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": status}]}}),
    )
    .await?;
    Ok(())
}

async fn gone<K: rudder_protocol::resources::Resource>(
    api: &Api<K>,
    name: &str,
) -> anyhow::Result<Option<()>> {
    Ok(api.get_opt(name).await?.is_none().then_some(()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_service_account_in_every_namespace() -> anyhow::Result<()> {
    let (_cluster, client) = control_plane().await?;
    let namespaces = client.api::<Namespace>(None);
    let created = namespaces.create(&Namespace::new("team-a")).await?;
    // Every namespace carries its name as a label, and keeps it through an update that
    // drops it (selectors rely on it).
    let name_label = |ns: &Namespace| {
        ns.metadata
            .labels
            .get("kubernetes.io/metadata.name")
            .cloned()
    };
    assert_eq!(name_label(&created).as_deref(), Some("team-a"));
    let mut changed = created.clone();
    changed.metadata.labels.clear();
    let updated = namespaces.update(&changed).await?;
    assert_eq!(name_label(&updated).as_deref(), Some("team-a"));
    let default = namespaces.get("default").await?;
    assert_eq!(name_label(&default).as_deref(), Some("default"));
    let sas: Api<ServiceAccount> = client.api(Some("team-a"));
    let (first, _) = eventually(WAIT, || async { Ok(sas.get_opt("default").await?) }).await?;
    sas.delete("default").await?;
    let (second, _) = eventually(WAIT, || async {
        Ok(sas
            .get_opt("default")
            .await?
            .filter(|s| s.metadata.uid != first.metadata.uid))
    })
    .await?;
    assert_ne!(first.metadata.uid, second.metadata.uid, "re-created");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_deletion_removes_content_then_the_namespace() -> anyhow::Result<()> {
    let (_cluster, client) = control_plane().await?;
    let namespaces: Api<Namespace> = client.api(None);
    namespaces.create(&Namespace::new("doomed")).await?;
    let pods: Api<Pod> = client.api(Some("doomed"));
    let services: Api<Service> = client.api(Some("doomed"));
    pods.create(&pod("p1", &[("app", "x")], None)).await?;
    pods.create(&pod("p2", &[("app", "x")], None)).await?;
    let mut svc = Service::new("s");
    svc.spec.ports.push(ServicePort {
        port: 80,
        ..ServicePort::default()
    });
    services.create(&svc).await?;

    namespaces.delete("doomed").await?;
    let ns = namespaces.get_opt("doomed").await?;
    if let Some(ns) = ns {
        assert!(ns.metadata.deletion_timestamp.is_some());
        let err = pods
            .create(&pod("late", &[], None))
            .await
            .expect_err("refused while terminating");
        assert_eq!(err.code(), Some(403), "{err}");
        assert!(
            err.to_string().contains("because it is being terminated"),
            "{err}"
        );
    }
    eventually(WAIT, || gone(&namespaces, "doomed")).await?;
    let left = client
        .api::<Pod>(Some("doomed"))
        .list(&ListParams::default())
        .await?;
    assert!(left.items.is_empty(), "{:?}", left.items);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_follow_pods() -> anyhow::Result<()> {
    let (_cluster, client) = control_plane().await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let services: Api<Service> = client.api(Some("default"));
    let endpoints: Api<Endpoints> = client.api(Some("default"));
    let mut svc = Service::new("web");
    svc.spec.selector.insert("app".into(), "web".into());
    svc.spec.ports.push(ServicePort {
        name: "http".into(),
        port: 80,
        target_port: Some(IntOrString::String("http".into())),
        ..ServicePort::default()
    });
    services.create(&svc).await?;
    pods.create(&pod("web-1", &[("app", "web")], Some(("http", 8080))))
        .await?;
    pods.create(&pod("web-2", &[("app", "web")], Some(("http", 8081))))
        .await?;
    pods.create(&pod("other", &[("app", "db")], Some(("http", 5432))))
        .await?;
    set_running(&pods, "web-1", "10.250.0.11", true).await?;
    set_running(&pods, "web-2", "10.250.0.12", false).await?;
    set_running(&pods, "other", "10.250.0.13", true).await?;

    let ready_and_not = |ep: &Endpoints| {
        let ready: Vec<(String, i32)> = ep
            .subsets
            .iter()
            .flat_map(|s| {
                s.addresses
                    .iter()
                    .flat_map(move |a| s.ports.iter().map(move |p| (a.ip.clone(), p.port)))
            })
            .collect();
        let not_ready: Vec<(String, i32)> = ep
            .subsets
            .iter()
            .flat_map(|s| {
                s.not_ready_addresses
                    .iter()
                    .flat_map(move |a| s.ports.iter().map(move |p| (a.ip.clone(), p.port)))
            })
            .collect();
        (ready, not_ready)
    };
    let (ep, _) = eventually(WAIT, || async {
        Ok(endpoints.get_opt("web").await?.filter(|ep| {
            ready_and_not(ep)
                == (
                    vec![("10.250.0.11".to_owned(), 8080)],
                    vec![("10.250.0.12".to_owned(), 8081)],
                )
        }))
    })
    .await?;
    let addr = &ep.subsets.iter().flat_map(|s| &s.addresses).next().cloned();
    let target = addr.as_ref().and_then(|a| a.target_ref.clone());
    assert_eq!(target.map(|t| t.name).as_deref(), Some("web-1"));

    // web-2 becomes ready; web-1 goes away.
    set_running(&pods, "web-2", "10.250.0.12", true).await?;
    pods.delete("web-1").await?;
    eventually(WAIT, || async {
        Ok(endpoints
            .get_opt("web")
            .await?
            .filter(|ep| ready_and_not(ep) == (vec![("10.250.0.12".to_owned(), 8081)], vec![])))
    })
    .await?;
    let settled = endpoints.get("web").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        endpoints.get("web").await?.metadata.resource_version,
        settled.metadata.resource_version,
        "no rewrite of an unchanged result"
    );

    services.delete("web").await?;
    eventually(WAIT, || gone(&endpoints, "web")).await?;
    Ok(())
}

fn owned_by(mut sa: ServiceAccount, owner: &Service, block: bool) -> ServiceAccount {
    sa.metadata.owner_references.push(OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: owner.metadata.name.clone(),
        uid: owner.metadata.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(block),
    });
    sa
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_background_foreground_orphan() -> anyhow::Result<()> {
    let (_cluster, client) = control_plane().await?;
    let services: Api<Service> = client.api(Some("default"));
    let sas: Api<ServiceAccount> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    let mut owners = Vec::new();
    for name in ["bg", "fg", "orph"] {
        let mut s = Service::new(name);
        s.spec.ports.push(ServicePort {
            port: 80,
            ..ServicePort::default()
        });
        owners.push(services.create(&s).await?);
    }
    let (bg, fg, orph) = (&owners[0], &owners[1], &owners[2]);
    sas.create(&owned_by(ServiceAccount::new("bg-dep"), bg, false))
        .await?;
    let mut bg_pod = pod("bg-pod", &[], None);
    bg_pod.metadata.owner_references = owned_by(ServiceAccount::new("x"), bg, false)
        .metadata
        .owner_references;
    pods.create(&bg_pod).await?;
    sas.create(&owned_by(ServiceAccount::new("fg-dep"), fg, true))
        .await?;
    sas.create(&owned_by(ServiceAccount::new("orph-dep"), orph, true))
        .await?;
    // A dependent of an owner that still exists stays.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sas.get_opt("bg-dep").await?.is_some());

    // Background: the owner goes at once, its dependents after.
    services.delete("bg").await?;
    eventually(WAIT, || gone(&sas, "bg-dep")).await?;
    eventually(WAIT, || gone(&pods, "bg-pod")).await?;

    // Foreground: the owner waits for its blocking dependent.
    services
        .delete_with("fg", &json!({"propagationPolicy": "Foreground"}))
        .await?;
    eventually(WAIT, || gone(&sas, "fg-dep")).await?;
    eventually(WAIT, || gone(&services, "fg")).await?;

    // Orphan: the dependent stays, without its reference.
    services
        .delete_with("orph", &json!({"propagationPolicy": "Orphan"}))
        .await?;
    eventually(WAIT, || gone(&services, "orph")).await?;
    let dep = sas.get("orph-dep").await?;
    assert!(dep.metadata.owner_references.is_empty(), "{dep:?}");
    let _ = (fg, orph);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ipam_gives_distinct_cidrs() -> anyhow::Result<()> {
    let (_cluster, client) = control_plane().await?;
    let nodes: Api<Node> = client.api(None);
    for n in ["n-a", "n-b"] {
        nodes.create(&Node::new(n)).await?;
    }
    let cidr_of = |name: &'static str| {
        let nodes = nodes.clone();
        move || {
            let nodes = nodes.clone();
            async move {
                Ok(nodes
                    .get_opt(name)
                    .await?
                    .filter(|n| !n.spec.pod_cidr.is_empty())
                    .map(|n| (n.spec.pod_cidr.clone(), n.spec.pod_cidrs.clone())))
            }
        }
    };
    let ((a, a_list), _) = eventually(WAIT, cidr_of("n-a")).await?;
    let ((b, _), _) = eventually(WAIT, cidr_of("n-b")).await?;
    assert_ne!(a, b);
    assert_eq!(a_list, vec![a.clone()]);
    for c in [&a, &b] {
        assert!(c.starts_with("10.250.") && c.ends_with("/24"), "{c}");
    }
    nodes.delete("n-a").await?;
    nodes.create(&Node::new("n-c")).await?;
    let ((c, _), _) = eventually(WAIT, cidr_of("n-c")).await?;
    assert_ne!(c, b);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_node_is_marked_unknown_tainted_and_its_pods_evicted() -> anyhow::Result<()> {
    let (_cluster, client) = control_plane().await?;
    // One healthy node besides: were every node down, the controller would take the
    // fault for its own and evict nothing (tested in the plan's unit tests).
    let _healthy = sim_nodes(&client, "healthy", 1).await?;
    let nodes: Api<Node> = client.api(None);
    let leases: Api<Lease> = client.api(Some("kube-node-lease"));
    let pods: Api<Pod> = client.api(Some("default"));
    nodes.create(&Node::new("silent")).await?;
    let now = Time::now();
    let ready = NodeCondition {
        type_: "Ready".into(),
        status: ConditionStatus::True,
        last_heartbeat_time: Some(now),
        last_transition_time: Some(now),
        reason: "KubeletReady".into(),
        message: "kubelet is posting ready status".into(),
    };
    nodes
        .patch_status(
            "silent",
            PatchType::Merge,
            &json!({"status": {"conditions": [ready]}}),
        )
        .await?;
    let mut lease = Lease::new("silent");
    lease.spec.holder_identity = Some("silent".into());
    lease.spec.lease_duration_seconds = Some(40);
    lease.spec.renew_time = Some(MicroTime::now());
    leases.create(&lease).await?;
    let mut p = pod("on-silent", &[], None);
    p.spec.node_name = "silent".into();
    let p = pods.create(&p).await?;
    assert!(
        p.spec
            .tolerations
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable" && t.toleration_seconds == Some(3)),
        "default toleration from the config: {:?}",
        p.spec.tolerations
    );
    // Healthy for now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = nodes.get("silent").await?;
    assert!(n.spec.taints.is_empty(), "{:?}", n.spec.taints);

    // No more renewals: past 3 s the node is Unknown and tainted.
    let (n, _) = eventually(WAIT, || async {
        Ok(nodes.get_opt("silent").await?.filter(|n| {
            n.status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::Unknown)
        }))
    })
    .await?;
    let c = n
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .cloned()
        .unwrap_or_default();
    assert_eq!(c.reason, "NodeStatusUnknown");
    assert_eq!(c.message, "Kubelet stopped posting node status.");
    let (n, _) = eventually(WAIT, || async {
        Ok(nodes.get_opt("silent").await?.filter(|n| {
            n.spec.taints.iter().any(|t| {
                t.key == "node.kubernetes.io/unreachable" && t.effect == TaintEffect::NoExecute
            })
        }))
    })
    .await?;
    assert!(n
        .spec
        .taints
        .iter()
        .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == TaintEffect::NoSchedule));

    // Its pod goes once the 3 s toleration has run out.
    eventually(WAIT, || gone(&pods, "on-silent")).await?;

    // The kubelet comes back: Ready again, taints removed.
    let now = Time::now();
    let mut back = ready.clone();
    back.last_heartbeat_time = Some(now);
    back.last_transition_time = Some(now);
    nodes
        .patch_status(
            "silent",
            PatchType::Merge,
            &json!({"status": {"conditions": [back]}}),
        )
        .await?;
    let mut l = leases.get("silent").await?;
    l.spec.renew_time = Some(MicroTime::now());
    leases.update(&l).await?;
    eventually(WAIT, || async {
        Ok(nodes
            .get_opt("silent")
            .await?
            .filter(|n| n.spec.taints.is_empty()))
    })
    .await?;
    Ok(())
}

async fn sim_nodes(
    client: &Client,
    prefix: &str,
    count: usize,
) -> anyhow::Result<rudder_actors::simnode::SimNodes> {
    use rudder_actors::simnode::{SimNodeSpec, SimNodes};
    let apis = rudder_tests::sim_apis(client);
    let spec = SimNodeSpec {
        prefix: prefix.into(),
        count,
        // Well within the test config's 3 s grace period.
        heartbeat: Duration::from_millis(500),
        ..SimNodeSpec::default()
    };
    Ok(SimNodes::start(apis, spec).await?)
}

fn running_and_ready(p: &Pod) -> bool {
    p.status.phase == Some(rudder_protocol::resources::PodPhase::Running)
        && p.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_nodes_pods_are_replaced_on_other_nodes() -> anyhow::Result<()> {
    use rudder_protocol::resources::{LabelSelector, PodTemplateSpec, ReplicaSet};
    let (_cluster, client) = control_plane().await?;
    let _stay = sim_nodes(&client, "stay", 2).await?;
    let going = sim_nodes(&client, "going", 2).await?;
    let sets: Api<ReplicaSet> = client.api(Some("default"));
    let pods: Api<Pod> = client.api(Some("default"));
    const REPLICAS: usize = 8;
    let mut rs = ReplicaSet::new("survivor");
    rs.spec.replicas = Some(REPLICAS as i32);
    rs.spec.selector = LabelSelector {
        match_labels: [("app".to_owned(), "survivor".to_owned())].into(),
        ..LabelSelector::default()
    };
    let mut template = PodTemplateSpec::default();
    template
        .metadata
        .labels
        .insert("app".into(), "survivor".into());
    template.spec = pod("t", &[], None).spec;
    rs.spec.template = template;
    sets.create(&rs).await?;
    let live = || async {
        let list = pods
            .list(&ListParams {
                label_selector: Some("app=survivor".into()),
                ..ListParams::default()
            })
            .await?;
        anyhow::Ok(
            list.items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect::<Vec<_>>(),
        )
    };
    let (first, _) = eventually(Duration::from_secs(60), || async {
        let l = live().await?;
        Ok((l.len() == REPLICAS && l.iter().all(running_and_ready)).then_some(l))
    })
    .await?;
    let on_going = first
        .iter()
        .filter(|p| p.spec.node_name.starts_with("going-"))
        .count();
    assert!(
        on_going > 0,
        "the scheduler spread pods onto the nodes about to go silent"
    );

    // Two nodes go silent. 3 s later they are Unknown and tainted (the second one 10 s
    // after the first: the zone's default eviction rate is 0.1 node/s); 3 s after its
    // taint each node's pods are evicted and replaced on the nodes still alive.
    let silenced = going.names().to_vec();
    drop(going);
    let (replaced, took) = eventually(Duration::from_secs(90), || async {
        let l = live().await?;
        Ok((l.len() == REPLICAS
            && l.iter()
                .all(|p| p.spec.node_name.starts_with("stay-") && running_and_ready(p)))
        .then_some(l))
    })
    .await?;
    eprintln!("{on_going} pods of silent nodes replaced in {took:?}");
    let survivors: Vec<&str> = first
        .iter()
        .filter(|p| p.spec.node_name.starts_with("stay-"))
        .map(|p| p.metadata.uid.as_str())
        .collect();
    let kept = replaced
        .iter()
        .filter(|p| survivors.contains(&p.metadata.uid.as_str()))
        .count();
    assert_eq!(
        kept,
        survivors.len(),
        "pods on healthy nodes are left alone"
    );
    let nodes: Api<Node> = client.api(None);
    for name in &silenced {
        let n = nodes.get(name).await?;
        assert!(
            n.status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::Unknown),
            "{name}: {:?}",
            n.status.conditions
        );
        assert!(n.spec.taints.iter().any(|t| {
            t.key == "node.kubernetes.io/unreachable" && t.effect == TaintEffect::NoExecute
        }));
    }
    Ok(())
}

async fn kill(client: &Client, actor: &str) -> anyhow::Result<()> {
    let reply = client
        .call(
            ActorRef::new(client.node().clone(), "chaos"),
            ChaosRequest::KillActor { name: actor.into() },
        )
        .await?;
    anyhow::ensure!(
        matches!(reply, ChaosReply::Killed { .. }),
        "{actor}: {reply:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_killed_mid_work_still_converge() -> anyhow::Result<()> {
    let (_cluster, client) = control_plane().await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let services: Api<Service> = client.api(Some("default"));
    let endpoints: Api<Endpoints> = client.api(Some("default"));
    let sas: Api<ServiceAccount> = client.api(Some("default"));
    let namespaces: Api<Namespace> = client.api(None);

    // Endpoints: twenty backends, the controller killed while they arrive.
    let mut svc = Service::new("many");
    svc.spec.selector.insert("app".into(), "many".into());
    svc.spec.ports.push(ServicePort {
        port: 80,
        ..ServicePort::default()
    });
    services.create(&svc).await?;
    for i in 0..20 {
        let name = format!("many-{i}");
        pods.create(&pod(&name, &[("app", "many")], None)).await?;
        set_running(&pods, &name, &format!("10.250.1.{}", i + 10), true).await?;
        if i == 5 {
            kill(&client, "controller/endpoints").await?;
        }
    }
    eventually(WAIT, || async {
        Ok(endpoints
            .get_opt("many")
            .await?
            .filter(|ep| ep.subsets.iter().map(|s| s.addresses.len()).sum::<usize>() == 20))
    })
    .await?;

    // Garbage collector: twenty dependents, the collector killed as the owner goes.
    let mut owner = Service::new("owner");
    owner.spec.ports.push(ServicePort {
        port: 80,
        ..ServicePort::default()
    });
    let owner = services.create(&owner).await?;
    for i in 0..20 {
        sas.create(&owned_by(
            ServiceAccount::new(format!("dep-{i}")),
            &owner,
            false,
        ))
        .await?;
    }
    services.delete("owner").await?;
    kill(&client, "controller/garbagecollector").await?;
    eventually(WAIT, || async {
        let left = sas.list(&ListParams::default()).await?;
        Ok((!left
            .items
            .iter()
            .any(|s| s.metadata.name.starts_with("dep-")))
        .then_some(()))
    })
    .await?;

    // Namespace: deleted with content, its controller killed meanwhile.
    namespaces.create(&Namespace::new("busy")).await?;
    let busy: Api<Pod> = client.api(Some("busy"));
    for i in 0..20 {
        busy.create(&pod(&format!("p-{i}"), &[], None)).await?;
    }
    namespaces.delete("busy").await?;
    kill(&client, "controller/namespace").await?;
    eventually(WAIT, || gone(&namespaces, "busy")).await?;

    // The others, killed, still do their work afterwards.
    for c in [
        "controller/serviceaccount",
        "controller/nodeipam",
        "controller/nodelifecycle",
    ] {
        kill(&client, c).await?;
    }
    namespaces.create(&Namespace::new("fresh")).await?;
    let fresh: Api<ServiceAccount> = client.api(Some("fresh"));
    eventually(WAIT, || async { Ok(fresh.get_opt("default").await?) }).await?;
    let nodes: Api<Node> = client.api(None);
    nodes.create(&Node::new("late")).await?;
    eventually(WAIT, || async {
        Ok(nodes
            .get_opt("late")
            .await?
            .filter(|n| !n.spec.pod_cidr.is_empty()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_per_controller_and_failover_on_three_nodes() -> anyhow::Result<()> {
    let mut cluster = Cluster::three_nodes().await?;
    let client = cluster.nodes[0].client().await?;
    let leases: Api<Lease> = client.api(Some("kube-system"));
    let names = [
        "endpoints",
        "namespace",
        "serviceaccount",
        "nodelifecycle",
        "nodeipam",
        "garbagecollector",
    ];
    let (holders, _) = eventually(Duration::from_secs(60), || async {
        let mut holders = Vec::new();
        for n in names {
            match leases.get_opt(&format!("rudder-controller-{n}")).await? {
                Some(l) => holders.push(l.spec.holder_identity.unwrap_or_default()),
                None => return Ok(None),
            }
        }
        Ok(Some(holders))
    })
    .await?;
    for h in &holders {
        assert!(
            ["cp-1", "cp-2", "cp-3"].contains(&h.as_str()),
            "{holders:?}"
        );
    }
    // Three voters first, so that the store keeps its quorum when one node dies.
    // ... and every replica in step with the leader's log (so the group is not in the
    // middle of a membership change when one of them dies).
    eventually(Duration::from_secs(30), || async {
        let mut leader_status = None;
        for n in ["cp-1", "cp-2", "cp-3"] {
            let s = store_status(&client, n).await?;
            if s.leader.as_ref().map(|l| l.as_str()) == Some(n) {
                leader_status = Some(s);
            }
        }
        let Some(s) = leader_status else {
            return Ok(None);
        };
        let voters = s.members.iter().filter(|m| m.voter).count();
        let in_step = s
            .members
            .iter()
            .all(|m| m.matched_index.is_some() && m.matched_index >= s.last_log_index);
        Ok((voters == 3 && in_step).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("the store did not converge before the kill: {e}"))?;
    // The node leading the service account controller dies; another takes over.
    let leader = holders[2].clone();
    cluster.node(&leader).kill9().await?;
    let survivor = cluster
        .nodes
        .iter()
        .position(|n| n.name() != leader)
        .unwrap_or(0);
    let client = cluster.nodes[survivor].client().await?;
    let namespaces: Api<Namespace> = client.api(None);
    let written = eventually(Duration::from_secs(30), || async {
        match namespaces.create(&Namespace::new("after-failover")).await {
            Ok(_) => Ok(Some(())),
            Err(e) if e.code() == Some(409) => Ok(Some(())),
            Err(e) => Err(e.into()),
        }
    })
    .await;
    if let Err(e) = written {
        for n in &cluster.nodes {
            let log = n.log_text();
            let tail: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("postpone") || l.contains("vote"))
                .rev()
                .take(60)
                .collect();
            eprintln!(
                "--- {} ---\n{}",
                n.name(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        return Err(e);
    }
    let sas: Api<ServiceAccount> = client.api(Some("after-failover"));
    eventually(Duration::from_secs(60), || async {
        Ok(sas.get_opt("default").await?)
    })
    .await?;
    let leases: Api<Lease> = client.api(Some("kube-system"));
    let lease = leases.get("rudder-controller-serviceaccount").await?;
    assert_ne!(lease.spec.holder_identity.as_deref(), Some(leader.as_str()));
    Ok(())
}
