//! The `echo` actor: answers a ping with its payload.
//!
//! Owns nothing. Exists on every node so that any node's reachability can be checked over
//! the bus, and so the bus can be benchmarked without other work in the way.

use actix::prelude::*;
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::messages::{BusError, Reply, Request};
use rudder_protocol::ActorRef;

use crate::bus::Deliver;
use crate::supervisor::{StartContext, Started};

/// The actor's name on every node.
pub const NAME: &str = "echo";

/// The `echo` actor.
pub struct Echo {
    me: ActorRef,
}

impl Echo {
    /// Starts an instance (the component factory).
    pub fn start(ctx: &StartContext) -> Started {
        Started::actor(Echo {
            me: ActorRef::new(ctx.bus.node().clone(), NAME),
        })
    }
}

impl Actor for Echo {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Requests arrive from many links at once; a deep mailbox keeps senders from
        // waiting on each other (the bus bounds what is in flight per link).
        ctx.set_mailbox_capacity(4096);
    }
}

crate::stop_on_request!(Echo);

impl Handler<Deliver> for Echo {
    type Result = Result<Reply, BusError>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        match msg.0 {
            Request::Echo(EchoRequest::Ping { payload }) => Ok(Reply::Echo(EchoReply::Pong {
                node: self.me.node.to_string(),
                payload,
            })),
            other => Err(BusError::WrongProtocol {
                actor: self.me.clone(),
                protocol: other.protocol().into(),
            }),
        }
    }
}
