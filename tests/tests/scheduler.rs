//! The scheduler end to end through a real `rudderd` and simulated nodes: resource
//! exhaustion leaves pods Pending with Kubernetes' message and schedules them once a node
//! is added; taints and node selectors are respected; killing the scheduler actor in the
//! middle of a burst loses no pod and binds none twice; among three control-plane nodes
//! only the Lease holder schedules, and losing its node hands the Lease on; a replica
//! set with required anti-affinity gets one pod per node and Kubernetes' message for the
//! one left over; a topology spread constraint keeps zones balanced; a high-priority pod
//! preempts a low-priority one on a full node, and spares a pod a PodDisruptionBudget
//! protects when evicting another does as well.

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_actors::simnode::{SimNodeSpec, SimNodes};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::resources::{
    Affinity, ConditionStatus, Container, Event, LabelSelector, Node, Pod, PodAffinityTerm,
    PodAntiAffinity, PodDisruptionBudget, PodPhase, PriorityClass, Quantity, ReplicaSet, Taint,
    TaintEffect, Toleration, TolerationOperator, TopologySpreadConstraint,
    UnsatisfiableConstraintAction,
};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, Cluster};

async fn node() -> anyhow::Result<(Cluster, Client)> {
    // Control plane only: the pods go to simulated nodes, not to a real kubelet here.
    Cluster::solo(true).await
}

async fn sim(client: &Client, spec: SimNodeSpec) -> anyhow::Result<SimNodes> {
    let apis = rudder_tests::sim_apis(client);
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
        format!("0/{all_nodes} nodes are available: {all_nodes} Insufficient cpu. preemption: 0/{all_nodes} nodes are available: {all_nodes} No preemption victims found for incoming pod.")
    );
    // The event is recorded after the condition, so it may trail it briefly.
    let (failed, _) = eventually(Duration::from_secs(10), || {
        let events = events.clone();
        let waiting = waiting.clone();
        async move {
            let failed = events_for(&events, &waiting, "FailedScheduling").await?;
            Ok((!failed.is_empty()).then_some(failed))
        }
    })
    .await?;
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
            "0/{all_nodes} nodes are available: 1 node(s) had untolerated taint {{dedicated: gpu}}, {} node(s) didn't match Pod's node affinity/selector. preemption: 0/{all_nodes} nodes are available: {all_nodes} Preemption is not helpful for scheduling.",
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

fn selector(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [(key.to_owned(), value.to_owned())].into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_one_replica_per_node_and_the_message_for_the_sixth() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let _sim = sim(&client, nodes("aa", 5, "8")).await?;
    let mut rs = ReplicaSet::new("web");
    rs.metadata.namespace = "default".into();
    rs.spec.replicas = Some(6);
    rs.spec.selector = selector("app", "web");
    rs.spec.template.metadata.labels = rs.spec.selector.match_labels.clone();
    rs.spec.template.spec = pod("x", "100m").spec;
    rs.spec.template.spec.affinity = Some(Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: vec![PodAffinityTerm {
                label_selector: Some(selector("app", "web")),
                topology_key: "kubernetes.io/hostname".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    });
    client
        .api::<ReplicaSet>(Some("default"))
        .create(&rs)
        .await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let events: Api<Event> = client.api(Some("default"));
    let (list, _) = eventually(Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await?.items;
            let bound = list.iter().filter(|p| !p.spec.node_name.is_empty()).count();
            Ok((list.len() == 6 && bound == 5).then_some(list))
        }
    })
    .await?;
    let mut used: Vec<&str> = list
        .iter()
        .filter(|p| !p.spec.node_name.is_empty())
        .map(|p| p.spec.node_name.as_str())
        .collect();
    used.sort();
    used.dedup();
    assert_eq!(
        used.len(),
        5,
        "five replicas on five distinct nodes: {used:?}"
    );
    let pending = list
        .iter()
        .find(|p| p.spec.node_name.is_empty())
        .map(|p| p.metadata.name.clone())
        .expect("one pending");
    let msg = unschedulable_message(&pods, &pending).await?;
    let want = "0/5 nodes are available: 5 node(s) didn't match pod anti-affinity rules. \
                preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.";
    assert_eq!(msg, want);
    let (failed, _) = eventually(Duration::from_secs(10), || {
        let events = events.clone();
        let pending = pending.clone();
        async move {
            let e = events_for(&events, &pending, "FailedScheduling").await?;
            Ok((!e.is_empty()).then_some(e))
        }
    })
    .await?;
    assert_eq!(failed[0].message, want);
    // Still pending a moment later: no node frees up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(pods.get(&pending).await?.spec.node_name.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_spread_keeps_zones_within_max_skew() -> anyhow::Result<()> {
    const ZONE: &str = "topology.kubernetes.io/zone";
    let (_cluster, client) = node().await?;
    let mut sims = Vec::new();
    for zone in ["a", "b", "c"] {
        let mut spec = nodes(&format!("zone-{zone}"), 2, "8");
        spec.labels.insert(ZONE.into(), zone.into());
        sims.push(sim(&client, spec).await?);
    }
    let zone_of: BTreeMap<String, String> = client
        .api::<Node>(None)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| {
            let z = n.metadata.labels.get(ZONE).cloned()?;
            Some((n.metadata.name, z))
        })
        .collect();
    assert_eq!(zone_of.len(), 6);
    let pods: Api<Pod> = client.api(Some("default"));
    const N: usize = 10;
    for i in 0..N {
        let mut p = pod(&format!("spread-{i}"), "10m");
        p.metadata.labels.insert("app".into(), "spread".into());
        p.spec
            .topology_spread_constraints
            .push(TopologySpreadConstraint {
                max_skew: 1,
                topology_key: ZONE.into(),
                when_unsatisfiable: UnsatisfiableConstraintAction::DoNotSchedule,
                label_selector: Some(selector("app", "spread")),
                ..Default::default()
            });
        pods.create(&p).await?;
        // Every prefix of the sequence keeps the skew: check after each bind.
        bound_node(&pods, &format!("spread-{i}")).await?;
        let mut per_zone: BTreeMap<String, usize> =
            ["a", "b", "c"].iter().map(|z| (z.to_string(), 0)).collect();
        for p in pods.list(&ListParams::default()).await?.items {
            if let Some(z) = zone_of.get(&p.spec.node_name) {
                *per_zone.entry(z.clone()).or_insert(0) += 1;
            }
        }
        let max = per_zone.values().max().copied().unwrap_or(0);
        let min = per_zone.values().min().copied().unwrap_or(0);
        assert!(max - min <= 1, "after {} pods: {per_zone:?}", i + 1);
        assert_eq!(per_zone.values().sum::<usize>(), i + 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_pod_preempts_a_low_priority_one() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let _sim = sim(&client, nodes("full", 1, "1")).await?;
    let classes: Api<PriorityClass> = client.api(None);
    for (name, value) in [("low", 100), ("high", 1000)] {
        let mut pc = PriorityClass::new(name);
        pc.value = value;
        classes.create(&pc).await?;
    }
    let pods: Api<Pod> = client.api(Some("default"));
    let events: Api<Event> = client.api(Some("default"));
    let with_class = |name: &str, class: &str, value: i32| {
        let mut p = pod(name, "800m");
        p.spec.priority_class_name = class.into();
        // What Priority admission resolves the class to (consistent with it).
        p.spec.priority = Some(value);
        p
    };
    pods.create(&with_class("victim", "low", 100)).await?;
    assert_eq!(bound_node(&pods, "victim").await?, "full-00000");
    let victim_uid = pods.get("victim").await?.metadata.uid;

    let preemptor = pods.create(&with_class("preemptor", "high", 1000)).await?;
    let (nominated, _) = eventually(Duration::from_secs(20), || {
        let pods = pods.clone();
        async move {
            let p = pods.get("preemptor").await?;
            Ok((!p.status.nominated_node_name.is_empty()).then_some(p.status.nominated_node_name))
        }
    })
    .await?;
    assert_eq!(nominated, "full-00000");
    // The victim is deleted (the simulated kubelet finishes its deletion) ...
    eventually(Duration::from_secs(20), || {
        let pods = pods.clone();
        let victim_uid = victim_uid.clone();
        async move {
            let gone = pods
                .get_opt("victim")
                .await?
                .is_none_or(|p| p.metadata.uid != victim_uid);
            Ok(gone.then_some(()))
        }
    })
    .await?;
    // ... with Kubernetes' event ...
    let (preempted, _) = eventually(Duration::from_secs(10), || {
        let events = events.clone();
        async move { Ok(events_for(&events, "victim", "Preempted").await?.pop()) }
    })
    .await?;
    assert_eq!(
        preempted.message,
        format!(
            "Preempted by pod {} on node full-00000",
            preemptor.metadata.uid
        )
    );
    assert_eq!(preempted.type_, "Normal");
    assert_eq!(preempted.reporting_component, "default-scheduler");
    // ... and the preemptor binds to the node it was nominated to.
    assert_eq!(bound_node(&pods, "preemptor").await?, "full-00000");
    let failed = events_for(&events, "preemptor", "FailedScheduling").await?;
    assert!(
        failed
            .iter()
            .any(|e| e.message == "0/1 nodes are available: 1 Insufficient cpu."),
        "{failed:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_spares_a_pod_its_disruption_budget_protects() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let _sim = sim(&client, nodes("full", 2, "1")).await?;
    let classes: Api<PriorityClass> = client.api(None);
    for (name, value) in [("low", 100), ("mid", 200), ("high", 1000)] {
        let mut pc = PriorityClass::new(name);
        pc.value = value;
        classes.create(&pc).await?;
    }
    let pods: Api<Pod> = client.api(Some("default"));
    let with_class = |name: &str, class: &str, value: i32| {
        let mut p = pod(name, "800m");
        p.spec.priority_class_name = class.into();
        p.spec.priority = Some(value);
        p
    };
    // Without a budget, the node of the lowest-priority victim ("guarded") would be
    // chosen; the budget makes evicting it a violation, so "spare" goes instead.
    let mut guarded = with_class("guarded", "low", 100);
    guarded.metadata.labels.insert("app".into(), "db".into());
    pods.create(&guarded).await?;
    let guarded_node = bound_node(&pods, "guarded").await?;
    pods.create(&with_class("spare", "mid", 200)).await?;
    let spare_node = bound_node(&pods, "spare").await?;
    assert_ne!(guarded_node, spare_node, "800m each on 1-cpu nodes");

    let budgets: Api<PodDisruptionBudget> = client.api(Some("default"));
    let mut pdb = PodDisruptionBudget::new("db");
    pdb.spec.min_available = Some(rudder_protocol::resources::IntOrString::Int(1));
    pdb.spec.selector = Some(selector("app", "db"));
    budgets.create(&pdb).await?;
    // The disruption controller sees the guarded pod healthy: no disruption allowed.
    eventually(Duration::from_secs(20), || {
        let budgets = budgets.clone();
        async move {
            let b = budgets.get("db").await?;
            Ok((b.status.current_healthy == 1
                && b.status.disruptions_allowed == 0
                && b.status.observed_generation == b.metadata.generation)
                .then_some(()))
        }
    })
    .await?;
    // The scheduler's informer hears of the status a moment after the API has it.
    tokio::time::sleep(Duration::from_secs(1)).await;

    pods.create(&with_class("preemptor", "high", 1000)).await?;
    assert_eq!(bound_node(&pods, "preemptor").await?, spare_node);
    let guarded = pods.get("guarded").await?;
    assert!(
        guarded.metadata.deletion_timestamp.is_none() && guarded.spec.node_name == guarded_node,
        "the protected pod stays: {:?}",
        guarded.metadata
    );
    Ok(())
}
