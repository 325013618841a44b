//! The scheduler end to end through a real `rudderd` and simulated nodes: resource
//! exhaustion leaves pods Pending with Kubernetes' message and schedules them once a node
//! is added; taints and node selectors are respected; killing the scheduler actor in the
//! middle of a burst loses no pod and binds none twice; among three control-plane nodes
//! only the Lease holder schedules, and losing its node hands the Lease on.

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_actors::simnode::{SimApis, SimNodeSpec, SimNodes, NODE_LEASE_NAMESPACE};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::resources::{
    ConditionStatus, Container, Event, Pod, PodPhase, Quantity, Taint, TaintEffect, Toleration,
    TolerationOperator,
};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, Cluster};

async fn node() -> anyhow::Result<(Cluster, Client)> {
    // Control plane only: the pods go to simulated nodes, not to a real kubelet here.
    Cluster::solo(true).await
}

async fn sim(client: &Client, spec: SimNodeSpec) -> anyhow::Result<SimNodes> {
    let apis = SimApis {
        nodes: client.api(None),
        pods: client.api(None),
        leases: client.api(Some(NODE_LEASE_NAMESPACE)),
        namespaces: client.api(None),
    };
    Ok(SimNodes::start(apis, spec).await?)
}

fn nodes(prefix: &str, count: usize, cpu: &str) -> SimNodeSpec {
    SimNodeSpec {
        prefix: prefix.into(),
        count,
        cpu: cpu.into(),
        memory: "4Gi".into(),
        ..Default::default()
    }
}

fn pod(name: &str, cpu: &str) -> Pod {
    let mut p = Pod::new(name);
    let mut c = Container {
        name: "app".into(),
        image: "demo".into(),
        ..Default::default()
    };
    if !cpu.is_empty() {
        c.resources
            .requests
            .insert("cpu".into(), Quantity::parse(cpu).expect("valid quantity"));
    }
    p.spec.containers.push(c);
    p
}

/// Waits until pod `name` is bound and returns its node.
async fn bound_node(pods: &Api<Pod>, name: &str) -> anyhow::Result<String> {
    let (node, _) = eventually(Duration::from_secs(20), || async move {
        let p = pods.get(name).await?;
        Ok((!p.spec.node_name.is_empty()).then_some(p.spec.node_name))
    })
    .await?;
    Ok(node)
}

/// Waits until pod `name` carries `PodScheduled=False/Unschedulable`; returns the message.
async fn unschedulable_message(pods: &Api<Pod>, name: &str) -> anyhow::Result<String> {
    let (msg, _) = eventually(Duration::from_secs(20), || async move {
        let p = pods.get(name).await?;
        anyhow::ensure!(p.spec.node_name.is_empty(), "pod {name} was bound");
        Ok(p.status
            .conditions
            .iter()
            .find(|c| {
                c.type_ == "PodScheduled"
                    && c.status == ConditionStatus::False
                    && c.reason == "Unschedulable"
            })
            .map(|c| c.message.clone()))
    })
    .await?;
    Ok(msg)
}

async fn events_for(events: &Api<Event>, pod: &str, reason: &str) -> anyhow::Result<Vec<Event>> {
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name == pod && e.reason == reason)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustion_then_a_new_node_and_taints_and_selectors() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let events: Api<Event> = client.api(Some("default"));
    let _small = sim(&client, nodes("small", 2, "1")).await?;

    // Two nodes of 1 CPU: two pods of 600m fit, the third fits nowhere.
    for name in ["a", "b", "c"] {
        pods.create(&pod(name, "600m")).await?;
    }
    let mut placed = BTreeMap::new();
    let mut pending = Vec::new();
    let (_, _) = eventually(Duration::from_secs(20), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await?;
            let bound = list
                .items
                .iter()
                .filter(|p| !p.spec.node_name.is_empty())
                .count();
            Ok((bound == 2).then_some(()))
        }
    })
    .await?;
    for p in pods.list(&ListParams::default()).await?.items {
        if p.spec.node_name.is_empty() {
            pending.push(p.metadata.name.clone());
        } else {
            placed.insert(p.spec.node_name.clone(), p.metadata.name.clone());
        }
    }
    assert_eq!(placed.len(), 2, "one 600m pod per 1-CPU node: {placed:?}");
    assert_eq!(pending.len(), 1);
    let waiting = pending[0].clone();
    let all_nodes = client
        .api::<rudder_protocol::resources::Node>(None)
        .list(&ListParams::default())
        .await?
        .items
        .len();
    let msg = unschedulable_message(&pods, &waiting).await?;
    assert_eq!(
        msg,
        format!("0/{all_nodes} nodes are available: {all_nodes} Insufficient cpu.")
    );
    let failed = events_for(&events, &waiting, "FailedScheduling").await?;
    assert!(!failed.is_empty(), "FailedScheduling event written");
    assert_eq!(failed[0].type_, "Warning");
    assert_eq!(failed[0].message, msg);
    assert_eq!(failed[0].reporting_component, "default-scheduler");
    let (first_bound, node_of_first) = placed
        .iter()
        .next()
        .map(|(n, p)| (p.clone(), n.clone()))
        .expect("two placed");
    let (scheduled, _) = eventually(Duration::from_secs(10), || {
        let events = events.clone();
        let first_bound = first_bound.clone();
        async move { Ok(events_for(&events, &first_bound, "Scheduled").await?.pop()) }
    })
    .await?;
    assert_eq!(
        scheduled.message,
        format!("Successfully assigned default/{first_bound} to {node_of_first}")
    );
    // The simulated kubelet runs what is bound.
    let (_, _) = eventually(Duration::from_secs(20), || {
        let pods = pods.clone();
        let first_bound = first_bound.clone();
        async move {
            let p = pods.get(&first_bound).await?;
            Ok(
                (p.status.phase == Some(PodPhase::Running) && !p.status.pod_ip.is_empty())
                    .then_some(()),
            )
        }
    })
    .await?;

    // A new node makes room: the pending pod is scheduled there.
    let _extra = sim(&client, nodes("extra", 1, "1")).await?;
    assert_eq!(bound_node(&pods, &waiting).await?, "extra-00000");

    // A tainted GPU node and an SSD node.
    let mut gpu = nodes("gpu", 1, "8");
    gpu.labels.insert("accel".into(), "gpu".into());
    gpu.taints.push(Taint {
        key: "dedicated".into(),
        value: "gpu".into(),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    });
    let _gpu = sim(&client, gpu).await?;
    let mut ssd = nodes("ssd", 1, "8");
    ssd.labels.insert("disk".into(), "ssd".into());
    let _ssd = sim(&client, ssd).await?;

    let mut sel = pod("wants-ssd", "100m");
    sel.spec.node_selector.insert("disk".into(), "ssd".into());
    pods.create(&sel).await?;
    let mut tol = pod("tolerates-gpu", "100m");
    tol.spec.node_selector.insert("accel".into(), "gpu".into());
    tol.spec.tolerations.push(Toleration {
        key: "dedicated".into(),
        operator: Some(TolerationOperator::Equal),
        value: "gpu".into(),
        effect: Some(TaintEffect::NoSchedule),
        toleration_seconds: None,
    });
    pods.create(&tol).await?;
    let mut intolerant = pod("intolerant", "100m");
    intolerant
        .spec
        .node_selector
        .insert("accel".into(), "gpu".into());
    pods.create(&intolerant).await?;
    for i in 0..10 {
        pods.create(&pod(&format!("free-{i}"), "")).await?;
    }
    assert_eq!(bound_node(&pods, "wants-ssd").await?, "ssd-00000");
    assert_eq!(bound_node(&pods, "tolerates-gpu").await?, "gpu-00000");
    let msg = unschedulable_message(&pods, "intolerant").await?;
    let all_nodes = client
        .api::<rudder_protocol::resources::Node>(None)
        .list(&ListParams::default())
        .await?
        .items
        .len();
    assert_eq!(
        msg,
        format!(
            "0/{all_nodes} nodes are available: 1 node(s) had untolerated taint {{dedicated: gpu}}, {} node(s) didn't match Pod's node affinity/selector.",
            all_nodes - 1
        )
    );
    for i in 0..10 {
        let n = bound_node(&pods, &format!("free-{i}")).await?;
        assert_ne!(n, "gpu-00000", "free-{i} landed on the tainted node");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_scheduler_resumes_without_double_binding() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let _sim = sim(&client, nodes("burst", 20, "8")).await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let events: Api<Event> = client.api(Some("default"));
    const N: usize = 300;
    let creator = {
        let pods = pods.clone();
        tokio::spawn(async move {
            for i in 0..N {
                pods.create(&pod(&format!("burst-{i:03}"), "10m")).await?;
            }
            anyhow::Ok(())
        })
    };
    // Kill the scheduler once the burst is under way.
    eventually(Duration::from_secs(20), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await?;
            let bound = list
                .items
                .iter()
                .filter(|p| !p.spec.node_name.is_empty())
                .count();
            Ok((bound >= 30).then_some(()))
        }
    })
    .await?;
    let chaos = ActorRef::new("solo", "chaos");
    let reply = client
        .call(
            chaos.clone(),
            ChaosRequest::KillActor {
                name: "scheduler".into(),
            },
        )
        .await?;
    assert!(matches!(reply, ChaosReply::Killed { .. }), "{reply:?}");
    creator.await??;

    let (bound, took) = eventually(Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let list = pods.list(&ListParams::default()).await?;
            let bound: Vec<Pod> = list
                .items
                .into_iter()
                .filter(|p| !p.spec.node_name.is_empty())
                .collect();
            Ok((bound.len() == N).then_some(bound))
        }
    })
    .await?;
    eprintln!("all {N} pods bound {took:?} after the burst; scheduler was killed mid-burst");
    let ChaosReply::Actors(actors) = client.call(chaos, ChaosRequest::ListActors).await? else {
        anyhow::bail!("unexpected chaos reply");
    };
    let restarts = actors
        .iter()
        .find(|a| a.name == "scheduler")
        .map(|a| a.restarts);
    assert!(
        restarts.is_some_and(|r| r >= 1),
        "scheduler restarted: {restarts:?}"
    );

    // Exactly one successful binding per pod: one Scheduled event each, naming the node
    // the pod is bound to.
    let all = events.list(&ListParams::default()).await?.items;
    for p in &bound {
        let scheduled: Vec<&Event> = all
            .iter()
            .filter(|e| e.involved_object.name == p.metadata.name && e.reason == "Scheduled")
            .collect();
        assert!(
            scheduled.len() <= 1,
            "{} bound more than once: {scheduled:?}",
            p.metadata.name
        );
        if let Some(e) = scheduled.first() {
            assert!(
                e.message.ends_with(&format!(" to {}", p.spec.node_name)),
                "{}",
                e.message
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_among_three_and_a_lost_leader_is_replaced() -> anyhow::Result<()> {
    use rudder_protocol::resources::Lease;
    let mut cluster = Cluster::three_nodes().await?;
    let mut clients = BTreeMap::new();
    for n in &cluster.nodes {
        clients.insert(n.name().to_owned(), n.client().await?);
    }
    let any = clients.values().next().cloned().expect("three clients");
    let leases: Api<Lease> = any.api(Some("kube-system"));
    let (leader, _) = eventually(Duration::from_secs(30), || {
        let leases = leases.clone();
        async move {
            Ok(leases
                .get_opt("rudder-scheduler")
                .await?
                .and_then(|l| l.spec.holder_identity))
        }
    })
    .await?;
    assert!(clients.contains_key(&leader), "holder {leader} is a node");
    let (survivor, client) = clients
        .iter()
        .find(|(n, _)| **n != leader)
        .map(|(n, c)| (n.clone(), c.clone()))
        .expect("a non-leader");
    let pods: Api<Pod> = client.api(Some("default"));
    // Writes succeed once the store has elected its leader and every link is up.
    eventually(Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            match pods.create(&pod("probe", "")).await {
                Ok(_) => Ok(Some(())),
                Err(e) if e.is_conflict() => Ok(Some(())),
                Err(e) => Err(e.into()),
            }
        }
    })
    .await?;
    let _sim = sim(&client, nodes("ha", 3, "8")).await?;
    for i in 0..10 {
        pods.create(&pod(&format!("before-{i}"), "10m")).await?;
    }
    for i in 0..10 {
        bound_node(&pods, &format!("before-{i}")).await?;
    }

    let acting: Vec<&str> = cluster
        .nodes
        .iter()
        .filter(|n| n.log_text().contains("scheduler leading"))
        .map(|n| n.name())
        .collect();
    assert_eq!(
        acting,
        [leader.as_str()],
        "only the Lease holder's scheduler acts"
    );

    // Lose the leader's whole node: another scheduler takes the Lease once it expires
    // (15 s) and schedules what was created meanwhile.
    cluster.node(&leader).kill9().await?;
    // The store may be electing a new leader too: retry creates until they land.
    for i in 0..10 {
        let name = format!("after-{i}");
        eventually(Duration::from_secs(30), || {
            let pods = pods.clone();
            let name = name.clone();
            async move {
                match pods.create(&pod(&name, "10m")).await {
                    Ok(_) => Ok(Some(())),
                    Err(e) if e.is_conflict() => Ok(Some(())),
                    Err(e) => Err(e.into()),
                }
            }
        })
        .await?;
    }
    let leases: Api<Lease> = client.api(Some("kube-system"));
    let (new_leader, took) = eventually(Duration::from_secs(45), || {
        let leases = leases.clone();
        let leader = leader.clone();
        async move {
            let holder = leases
                .get_opt("rudder-scheduler")
                .await?
                .and_then(|l| l.spec.holder_identity);
            Ok(holder.filter(|h| *h != leader))
        }
    })
    .await?;
    eprintln!("{new_leader} took over from {leader} after {took:?} (seen from {survivor})");
    for i in 0..10 {
        bound_node(&pods, &format!("after-{i}")).await?;
    }
    Ok(())
}
