//! Foundation, over real `rudderd` processes on 127.0.0.1: membership, cross-node
//! requests, supervision through chaos, node loss and rejoin.

use std::time::{Duration, Instant};

use rudder_protocol::messages::bus::MemberState;
use rudder_protocol::messages::chaos::{ActorState, ChaosReply, ChaosRequest};
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, members_seen_by, Cluster};

fn all_alive(members: &[rudder_protocol::messages::bus::MemberInfo], names: &[&str]) -> bool {
    names.iter().all(|n| {
        members
            .iter()
            .any(|m| m.name.as_str() == *n && m.state == MemberState::Alive)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_see_each_other_alive_within_two_seconds() -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    let mut started_last = Instant::now();
    for i in 1..=3 {
        let spec = cluster.spec(&format!("three-node/cp-{i}.toml"), &format!("cp-{i}"));
        started_last = Instant::now();
        cluster
            .nodes
            .push(rudder_tests::NodeProc::start(spec).await?);
    }
    let names = ["cp-1", "cp-2", "cp-3"];
    let mut clients = Vec::new();
    for n in &cluster.nodes {
        clients.push(n.client().await?);
    }
    let (_, _) = eventually(Duration::from_secs(2), || {
        let clients = clients.clone();
        async move {
            for (c, name) in clients.iter().zip(names) {
                let m = members_seen_by(c, name).await?;
                if !all_alive(&m, &names) {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        }
    })
    .await?;
    let took = started_last.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "all three alive everywhere took {took:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reaches_an_actor_on_another_node_and_back() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let client = cluster.nodes[0].client().await?;
    assert_eq!(client.node().as_str(), "cp-1");
    for target in ["cp-2", "cp-3"] {
        let ((), _) = eventually(Duration::from_secs(5), || {
            let client = client.clone();
            async move {
                let payload = target.as_bytes().to_vec();
                match client
                    .call(
                        ActorRef::new(target, "echo"),
                        EchoRequest::Ping {
                            payload: payload.clone(),
                        },
                    )
                    .await
                {
                    Ok(EchoReply::Pong {
                        node,
                        payload: back,
                    }) => {
                        assert_eq!(node, target, "answered by the target node");
                        assert_eq!(back, payload, "payload comes back unchanged");
                        Ok(Some(()))
                    }
                    Ok(other) => anyhow::bail!("unexpected reply {other:?}"),
                    Err(e) => Err(e.into()),
                }
            }
        })
        .await?;
    }
    // A typed request to another protocol on a remote node.
    let reply = client
        .call(ActorRef::new("cp-3", "chaos"), ChaosRequest::ListActors)
        .await?;
    let ChaosReply::Actors(list) = reply else {
        anyhow::bail!("unexpected reply {reply:?}")
    };
    assert!(list.iter().all(|a| a.node == "cp-3"));
    assert!(list.iter().any(|a| a.name == "echo"));
    // An unknown actor is a clear error, not a hang.
    let err = client
        .call(
            ActorRef::new("cp-2", "nobody"),
            EchoRequest::Ping { payload: vec![] },
        )
        .await
        .expect_err("no such actor");
    assert!(err.to_string().contains("no actor"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_actors_restart_and_answer_within_a_second() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let client = cluster.nodes[0].client().await?;
    for (node, actor) in [
        ("cp-2", "echo"),
        ("cp-2", "chaos"),
        ("cp-1", "echo"),
        ("cp-3", "chaos"),
    ] {
        let chaos = ActorRef::new(node, "chaos");
        let before = match client.call(chaos.clone(), ChaosRequest::ListActors).await? {
            ChaosReply::Actors(l) => l.into_iter().find(|a| a.name == actor).map(|a| a.restarts),
            other => anyhow::bail!("unexpected reply {other:?}"),
        }
        .expect("actor listed");
        let killed_at = Instant::now();
        let reply = client
            .call(
                chaos.clone(),
                ChaosRequest::KillActor { name: actor.into() },
            )
            .await?;
        assert!(matches!(reply, ChaosReply::Killed { .. }), "{reply:?}");
        let (restarts, _) = eventually(Duration::from_secs(1), || {
            let client = client.clone();
            let chaos = chaos.clone();
            async move {
                let ChaosReply::Actors(list) = client.call(chaos, ChaosRequest::ListActors).await?
                else {
                    return Ok(None);
                };
                let Some(info) = list.into_iter().find(|a| a.name == actor) else {
                    return Ok(None);
                };
                if info.state != ActorState::Running || info.restarts <= before {
                    return Ok(None);
                }
                // Running in the list is not enough: it must answer.
                if actor == "echo" {
                    client
                        .call(
                            ActorRef::new(node, "echo"),
                            EchoRequest::Ping { payload: vec![1] },
                        )
                        .await?;
                }
                Ok(Some(info.restarts))
            }
        })
        .await?;
        assert_eq!(
            restarts,
            before + 1,
            "{node}/{actor} restarted exactly once"
        );
        assert!(
            killed_at.elapsed() < Duration::from_secs(1),
            "{node}/{actor} took {:?}",
            killed_at.elapsed()
        );
    }
    // Killing an unknown actor is reported, not ignored.
    let reply = client
        .call(
            ActorRef::new("cp-1", "chaos"),
            ChaosRequest::KillActor {
                name: "nobody".into(),
            },
        )
        .await?;
    assert!(matches!(reply, ChaosReply::NoSuchActor { .. }), "{reply:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_is_marked_dead_and_rejoins_after_restart() -> anyhow::Result<()> {
    let mut cluster = Cluster::three_nodes().await?;
    let observer = cluster.nodes[0].client().await?;
    let names = ["cp-1", "cp-2", "cp-3"];
    eventually(Duration::from_secs(3), || {
        let c = observer.clone();
        async move { Ok(all_alive(&members_seen_by(&c, "cp-1").await?, &names).then_some(())) }
    })
    .await?;

    // dead_after_ms in cluster-config/three-node/*.toml.
    let dead_after = Duration::from_millis(5000);
    cluster.node("cp-3").kill9().await?;
    let killed = Instant::now();
    let observer2 = cluster.nodes[1].client().await?;
    for (client, name) in [(&observer, "cp-1"), (&observer2, "cp-2")] {
        let (state, _) = eventually(dead_after + Duration::from_secs(3), || {
            let c = client.clone();
            async move {
                let m = members_seen_by(&c, name).await?;
                let s = m
                    .iter()
                    .find(|m| m.name.as_str() == "cp-3")
                    .map(|m| m.state);
                Ok((s == Some(MemberState::Dead)).then_some(s))
            }
        })
        .await?;
        assert_eq!(state, Some(MemberState::Dead));
    }
    let took = killed.elapsed();
    assert!(
        took >= dead_after - Duration::from_millis(300),
        "marked dead after {took:?}, before the configured {dead_after:?}"
    );

    cluster.node("cp-3").restart().await?;
    let (_, rejoin) = eventually(Duration::from_secs(5), || {
        let c = observer.clone();
        async move { Ok(all_alive(&members_seen_by(&c, "cp-1").await?, &names).then_some(())) }
    })
    .await?;
    // The restarted node answers over the bus under its old name.
    let reply = observer
        .call(
            ActorRef::new("cp-3", "echo"),
            EchoRequest::Ping { payload: vec![7] },
        )
        .await?;
    assert!(matches!(reply, EchoReply::Pong { ref node, .. } if node == "cp-3"));
    eprintln!("dead after {took:?}; rejoined {rejoin:?} after restart");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_a_node_down_cleanly() -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "solo");
    cluster
        .nodes
        .push(rudder_tests::NodeProc::start(spec).await?);
    let status = cluster.node("solo").terminate().await?;
    let log = cluster.node("solo").log_text();
    assert!(status.success(), "exit status {status:?}; log: {log}");
    assert!(log.contains("shutting down"), "log: {log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_link_to_the_control_plane_only_and_reach_each_other_through_it(
) -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    let cp = cluster.spec("three-node/cp-1.toml", "cp-1");
    cluster.nodes.push(rudder_tests::NodeProc::start(cp).await?);
    for w in ["w-1", "w-2"] {
        let mut spec = cluster.spec("three-node/cp-1.toml", w);
        spec.roles = Some("worker".into());
        spec.join = vec![cluster.nodes[0].bus.clone()];
        cluster
            .nodes
            .push(rudder_tests::NodeProc::start(spec).await?);
    }
    let w1 = cluster.nodes[1].client().await?;
    // w-1 learns of w-2 through the control plane and reaches it through cp-1.
    let (reply, _) = eventually(Duration::from_secs(5), || {
        let c = w1.clone();
        async move {
            Ok(c.call(
                ActorRef::new("w-2", "echo"),
                EchoRequest::Ping { payload: vec![2] },
            )
            .await
            .ok())
        }
    })
    .await?;
    assert!(
        matches!(reply, EchoReply::Pong { ref node, .. } if node == "w-2"),
        "{reply:?}"
    );
    let cp_view = members_seen_by(&w1, "cp-1").await?;
    assert!(all_alive(&cp_view, &["cp-1", "w-1", "w-2"]), "{cp_view:?}");
    let w1_view = members_seen_by(&w1, "w-1").await?;
    for m in &w1_view {
        match m.name.as_str() {
            "cp-1" => assert!(m.linked, "worker links to the control plane"),
            "w-1" => {}
            other => assert!(!m.linked, "worker must not link to {other}"),
        }
    }
    Ok(())
}
