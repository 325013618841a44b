//! The `chaos` actor: lists and kills this node's actors on request, kills the node's
//! process, and sets or clears fault rules on the node's bus.
//!
//! Owns nothing but handles to the node's supervisor and bus; every answer comes from
//! there (fault rules live in the bus), so a killed and restarted `chaos` loses nothing.
//! Messages in: [`ChaosRequest`] over the bus. Messages out: [`ListChildren`] and
//! [`KillChild`] to the supervisor; rule changes to [`crate::bus::Faults`].
//!
//! `KillProcess` replies first, then a thread sends SIGKILL to the process a moment later
//! (through `kill -9`, since unsafe code is forbidden; `abort()` if that fails), so the
//! node dies as abruptly as under `kill -9` from outside: no shutdown, no flush.
//!
//! Replies are computed in a detached future ([`ResponseFuture`]), so `chaos` can kill
//! itself and still answer.

use actix::prelude::*;
use rudder_protocol::messages::chaos::{glob_match, ChaosReply, ChaosRequest, NEVER_KILLED};
use rudder_protocol::messages::{BusError, Reply, Request};
use rudder_protocol::ActorRef;

use crate::bus::{Bus, Deliver};
use crate::supervisor::{KillChild, ListChildren, StartContext, Started, Supervisor};

/// The actor's name on every node.
pub const NAME: &str = rudder_protocol::names::actors::CHAOS;

/// The `chaos` actor.
pub struct Chaos {
    me: ActorRef,
    supervisor: Addr<Supervisor>,
    bus: Bus,
}

/// How long after its reply `KillProcess` kills the process: time for the reply frame to
/// leave.
const KILL_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

fn kill_own_process_soon() {
    let spawned = std::thread::Builder::new()
        .name("chaos-kill".into())
        .spawn(|| {
            std::thread::sleep(KILL_AFTER);
            let pid = std::process::id().to_string();
            tracing::warn!(pid = %pid, "chaos: killing this node's process");
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status();
            // Still alive (no `kill` binary?): die just as abruptly.
            std::process::abort();
        });
    if spawned.is_err() {
        std::process::abort();
    }
}

impl Chaos {
    /// Starts an instance (the component factory).
    pub fn start(ctx: &StartContext) -> Started {
        Started::actor(Chaos {
            me: ActorRef::new(ctx.bus.node().clone(), NAME),
            supervisor: ctx.supervisor.clone(),
            bus: ctx.bus.clone(),
        })
    }
}

impl Actor for Chaos {
    type Context = Context<Self>;
}

crate::stop_on_request!(Chaos);

impl Handler<Deliver> for Chaos {
    type Result = ResponseFuture<Result<Reply, BusError>>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let me = self.me.clone();
        let supervisor = self.supervisor.clone();
        let bus = self.bus.clone();
        Box::pin(async move {
            let req = match msg.0 {
                Request::Chaos(r) => r,
                other => {
                    return Err(BusError::WrongProtocol {
                        actor: me,
                        protocol: other.protocol().into(),
                    })
                }
            };
            let stopped = |_| BusError::Failed {
                actor: me.clone(),
                message: "the node's supervisor is not running".into(),
            };
            let reply = match req {
                ChaosRequest::ListActors => {
                    ChaosReply::Actors(supervisor.send(ListChildren).await.map_err(stopped)?)
                }
                ChaosRequest::KillActor { name } => {
                    match supervisor
                        .send(KillChild { name: name.clone() })
                        .await
                        .map_err(stopped)?
                    {
                        Some(info) => ChaosReply::Killed {
                            name,
                            restarts: info.restarts,
                        },
                        None => ChaosReply::NoSuchActor { name },
                    }
                }
                ChaosRequest::KillMatching { pattern } => {
                    let all = supervisor.send(ListChildren).await.map_err(stopped)?;
                    let mut killed = Vec::new();
                    for name in matching(&pattern, all.iter().map(|a| a.name.as_str())) {
                        let info = supervisor
                            .send(KillChild { name: name.clone() })
                            .await
                            .map_err(stopped)?;
                        if let Some(info) = info {
                            killed.push((name, info.restarts));
                        }
                    }
                    ChaosReply::KilledMatching(killed)
                }
                ChaosRequest::KillProcess => {
                    kill_own_process_soon();
                    ChaosReply::ProcessKilling {
                        node: me.node.to_string(),
                        pid: std::process::id(),
                    }
                }
                ChaosRequest::SetFault(rule) => ChaosReply::FaultSet {
                    id: bus.faults().add(rule),
                },
                ChaosRequest::ClearFaults => ChaosReply::FaultsCleared {
                    count: bus.faults().clear() as u32,
                },
                ChaosRequest::ListFaults => ChaosReply::Faults(bus.faults().list()),
            };
            Ok(Reply::Chaos(reply))
        })
    }
}

/// The names among `names` that `pattern` selects, sorted, never `bus` or `chaos`.
fn matching<'a>(pattern: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names
        .filter(|n| !NEVER_KILLED.contains(n) && glob_match(pattern, n))
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_patterns() {
        let names = [
            "store",
            "chaos",
            "controller-rs",
            "controller-deploy",
            "bus",
            "scheduler",
        ];
        let cases: [(&str, &[&str]); 4] = [
            ("controller-*", &["controller-deploy", "controller-rs"]),
            (
                "*",
                &["controller-deploy", "controller-rs", "scheduler", "store"],
            ),
            ("chaos", &[]),
            ("s*", &["scheduler", "store"]),
        ];
        for (pattern, want) in cases {
            assert_eq!(matching(pattern, names.iter().copied()), want, "{pattern}");
        }
    }
}
