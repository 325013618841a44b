//! The `chaos` actor: lists and kills this node's actors on request.
//!
//! Owns nothing but a handle to the node's supervisor; every answer comes from there, so
//! a killed and restarted `chaos` loses nothing. Messages in: [`ChaosRequest`] over the
//! bus. Messages out: [`ListChildren`] and [`KillChild`] to the supervisor.
//!
//! Replies are computed in a detached future ([`ResponseFuture`]), so `chaos` can kill
//! itself and still answer.

use actix::prelude::*;
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::messages::{BusError, Reply, Request};
use rudder_protocol::ActorRef;

use crate::bus::Deliver;
use crate::supervisor::{KillChild, ListChildren, StartContext, Started, Supervisor};

/// The actor's name on every node.
pub const NAME: &str = "chaos";

/// The `chaos` actor.
pub struct Chaos {
    me: ActorRef,
    supervisor: Addr<Supervisor>,
}

impl Chaos {
    /// Starts an instance (the component factory).
    pub fn start(ctx: &StartContext) -> Started {
        Started::actor(Chaos {
            me: ActorRef::new(ctx.bus.node().clone(), NAME),
            supervisor: ctx.supervisor.clone(),
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
            };
            Ok(Reply::Chaos(reply))
        })
    }
}
