//! The dashboard's view of the cluster's machinery, which no API object holds: the bus
//! members, each node's actors with their telemetry, the fault rules in force, and the
//! Raft group. Read from the same places `rudderctl actors`, `rudderctl top actors`,
//! `rudderctl chaos faults` and `rudderctl store status` read them (each node's `chaos`
//! actor, each replica's `store` actor), over the bus, and turned into JSON for the page.
//!
//! A node that does not answer in time is shown with its error, never left out. Nodes
//! beyond [`MAX_NODES_ASKED`] are listed without their actors, so a page open on a
//! large cluster costs a bounded number of bus requests per refresh.

use std::time::Duration;

use futures::future::join_all;
use rudder_protocol::messages::bus::MemberState;
use rudder_protocol::messages::chaos::{
    ActiveFault, ActorInfo, ChaosReply, ChaosRequest, FaultAction, NEVER_KILLED,
};
use rudder_protocol::messages::store::{StoreReply, StoreRequest, StoreStatus};
use rudder_protocol::names::actors::{CHAOS, STORE};
use rudder_protocol::{ActorRef, NodeName};
use serde_json::{json, Value};

use crate::bus::Bus;

/// How long a node's `chaos` actor gets to answer (it is exempt from fault rules, so
/// only a dead or overloaded node is slower).
const CHAOS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a replica's `store` actor gets: a partitioned one never answers, and the
/// page should not freeze for long on it.
const STORE_TIMEOUT: Duration = Duration::from_millis(1500);
/// The most nodes whose actors one snapshot asks for (control-plane nodes first).
pub const MAX_NODES_ASKED: usize = 32;

/// One snapshot: `{servedBy, time, nodes: [...], raft: {...}}`.
pub async fn snapshot(bus: &Bus) -> Value {
    let mut members = bus.members();
    // Control-plane nodes first, so a big cluster still shows the ones that matter most.
    members.sort_by_key(|m| {
        (
            !m.roles
                .contains(&rudder_protocol::actor::Role::ControlPlane),
            m.name.clone(),
        )
    });
    let nodes = join_all(members.iter().enumerate().map(|(i, m)| async move {
        let mut node = json!({
            "name": m.name.as_str(),
            "address": m.address,
            "roles": m.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "state": m.state.as_str(),
            "lastSeenMs": m.last_seen_ms,
            "actors": Value::Null,
            "faults": [],
        });
        if m.state == MemberState::Dead || i >= MAX_NODES_ASKED {
            return node;
        }
        let (actors, faults) = futures::join!(
            ask_chaos(bus, &m.name, ChaosRequest::ListActors),
            ask_chaos(bus, &m.name, ChaosRequest::ListFaults)
        );
        match actors {
            Ok(ChaosReply::Actors(list)) => node["actors"] = list.iter().map(actor).collect(),
            Ok(other) => node["error"] = format!("unexpected reply {other:?}").into(),
            Err(e) => node["error"] = e.into(),
        }
        if let Ok(ChaosReply::Faults(list)) = faults {
            node["faults"] = list.iter().map(fault).collect();
        }
        node
    }))
    .await;
    let mut nodes = nodes;
    nodes.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "servedBy": bus.node().as_str(),
        "time": now_ms(),
        "nodes": nodes,
        "raft": raft(bus).await,
    })
}

async fn ask_chaos(bus: &Bus, node: &NodeName, req: ChaosRequest) -> Result<ChaosReply, String> {
    bus.call(ActorRef::new(node.clone(), CHAOS), req, CHAOS_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}

fn actor(a: &ActorInfo) -> Value {
    json!({
        "name": a.name,
        "state": a.state.as_str(),
        "restarts": a.restarts,
        "uptimeMs": a.uptime_ms,
        "messages": a.messages,
        "mailbox": a.mailbox,
        "busyUs": a.busy_us,
        "killable": !NEVER_KILLED.contains(&a.name.as_str()),
    })
}

fn fault(f: &ActiveFault) -> Value {
    let action = match f.rule.action {
        FaultAction::Drop { per_mille: 1000 } => "drop all".to_owned(),
        FaultAction::Drop { per_mille } => format!("drop {}.{}%", per_mille / 10, per_mille % 10),
        FaultAction::Delay { ms } => format!("delay {ms}ms"),
    };
    json!({
        "id": f.id,
        "peers": f.rule.peers,
        "direction": f.rule.direction.as_str(),
        "action": action,
        "remainingMs": f.remaining_ms,
    })
}

async fn store_status(bus: &Bus, node: &NodeName) -> Result<StoreStatus, String> {
    match bus
        .call(
            ActorRef::new(node.clone(), STORE),
            StoreRequest::Status,
            STORE_TIMEOUT,
        )
        .await
    {
        Ok(StoreReply::Status(s)) => Ok(s),
        Ok(StoreReply::Error(e)) => Err(e.to_string()),
        Ok(_) => Err("unexpected reply to a status request".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The Raft group as this node's replica sees it, with each member's own status and
/// the leader's view of how far each one is replicated.
async fn raft(bus: &Bus) -> Value {
    let me = bus.node().clone();
    let local = match store_status(bus, &me).await {
        Ok(s) => s,
        Err(e) => return json!({ "error": e }),
    };
    let statuses = join_all(local.members.iter().map(|m| {
        let local = &local;
        async move {
            if m.node == local.node {
                Ok(local.clone())
            } else {
                store_status(bus, &m.node).await
            }
        }
    }))
    .await;
    // Only the leader knows each follower's matched index.
    let leader_view = statuses
        .iter()
        .flatten()
        .find(|s| s.leader.as_ref() == Some(&s.node))
        .map(|s| s.members.clone())
        .unwrap_or_default();
    let mut replicas: Vec<Value> = local
        .members
        .iter()
        .zip(statuses)
        .map(|(m, status)| {
            let matched = leader_view
                .iter()
                .find(|l| l.node == m.node)
                .and_then(|l| l.matched_index);
            let mut r = json!({
                "node": m.node.as_str(),
                "voter": m.voter,
                "matchedIndex": matched,
            });
            match status {
                Ok(s) => {
                    r["state"] = s.state.into();
                    r["term"] = s.term.into();
                    r["appliedIndex"] = s.applied_index.into();
                    r["lastLogIndex"] = s.last_log_index.into();
                    r["revision"] = s.revision.into();
                    r["leader"] = s.leader.as_ref().map(NodeName::as_str).into();
                }
                Err(e) => {
                    r["state"] = "Unreachable".into();
                    r["error"] = e.into();
                }
            }
            r
        })
        .collect();
    replicas.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
    json!({
        "leader": local.leader.as_ref().map(NodeName::as_str),
        "term": local.term,
        "revision": local.revision,
        "replicas": replicas,
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::messages::chaos::{ActorState, Direction, FaultRule};

    #[test]
    fn actor_rows() {
        let cases = [("scheduler", true), ("bus", false), ("chaos", false)];
        for (name, killable) in cases {
            let a = ActorInfo {
                node: "cp-1".into(),
                name: name.into(),
                state: ActorState::Restarting,
                restarts: 3,
                uptime_ms: 0,
                messages: 7,
                mailbox: 1,
                busy_us: 9,
            };
            let v = actor(&a);
            assert_eq!(v["killable"], killable, "{name}");
            assert_eq!(v["state"], "Restarting", "{name}");
            assert_eq!(v["restarts"], 3, "{name}");
        }
    }

    #[test]
    fn fault_texts() {
        let cases = [
            (FaultAction::Drop { per_mille: 1000 }, "drop all"),
            (FaultAction::Drop { per_mille: 255 }, "drop 25.5%"),
            (FaultAction::Delay { ms: 200 }, "delay 200ms"),
        ];
        for (action, want) in cases {
            let f = ActiveFault {
                id: 1,
                rule: FaultRule {
                    peers: vec![],
                    direction: Direction::Both,
                    action,
                    duration_ms: 1000,
                },
                remaining_ms: 500,
            };
            assert_eq!(fault(&f)["action"], want);
        }
    }
}
