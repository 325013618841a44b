//! What a worker node's link may reach.
//!
//! A worker may hold only its node key ([`rudder_protocol::net::Secret`]), so a worker
//! is not trusted as the control plane is: whatever arrives on the link of a node whose
//! authenticated identity has no control-plane role is decided here before it is
//! delivered or forwarded.
//!
//! - The API server of the node it is linked to: delivered, and decided there as the
//!   worker's own users (its kubelet as `system:node:<name>`, its other agents as
//!   `system:node-agent:<name>`), never as the control plane. Another node's API server
//!   is unreachable through this one: a forwarded request arrives as the forwarding
//!   node, so it would stop being the worker's (the worker asks a control-plane node it
//!   links to instead).
//! - `bus` (membership) and `echo` (pings) on any node: what they answer is no secret.
//! - Everything else (the store, chaos, controllers, the scheduler, other kubelets) is
//!   refused: those are the control plane's to ask.
//!
//! Streams from a worker are refused but to `echo` (workers open none: the API server
//! opens the kubelet's streams).
//!
//! Gossip from a worker is ignored (see [`super::LinkInbound`]): membership, and the
//! roles the API server names components by, are what control-plane nodes say.

use rudder_protocol::messages::BusError;
use rudder_protocol::names::actors::{APISERVER, BUS, ECHO};
use rudder_protocol::{ActorRef, NodeName};

/// Decides one request from worker `from` arriving at node `me`.
pub(super) fn admit(me: &NodeName, from: &NodeName, to: &ActorRef) -> Result<(), BusError> {
    match to.name.as_str() {
        APISERVER if to.node == *me => Ok(()),
        APISERVER => Err(BusError::Unreachable {
            node: to.node.clone(),
            reason: format!(
                "worker {from} reaches the API server of a control-plane node it links to; \
                 node {me} forwards none of its requests"
            ),
        }),
        BUS | ECHO => Ok(()),
        _ => Err(forbidden(from, to, "send requests to")),
    }
}

/// Decides a stream worker `from` opens.
pub(super) fn admit_stream(from: &NodeName, to: &ActorRef) -> Result<(), BusError> {
    match to.name.as_str() {
        ECHO => Ok(()),
        _ => Err(forbidden(from, to, "open streams to")),
    }
}

fn forbidden(from: &NodeName, to: &ActorRef, what: &str) -> BusError {
    BusError::Forbidden {
        message: format!(
            "forbidden: node {from} is a worker and may not {what} {to}: a worker reaches \
             the API server, the bus and echo only"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_worker_reaches_the_local_api_server_membership_and_echo_only() {
        let me = NodeName::new("cp-1");
        let w = NodeName::new("w-1");
        let to = |node: &str, name: &str| ActorRef::new(node, name);
        assert!(admit(&me, &w, &to("cp-1", APISERVER)).is_ok());
        assert!(admit(&me, &w, &to("cp-2", BUS)).is_ok());
        assert!(admit(&me, &w, &to("w-2", ECHO)).is_ok());
        assert!(matches!(
            admit(&me, &w, &to("cp-2", APISERVER)),
            Err(BusError::Unreachable { .. })
        ));
        for (node, name) in [("cp-1", "store"), ("cp-1", "chaos"), ("w-2", "kubelet")] {
            let err = admit(&me, &w, &to(node, name)).unwrap_err().to_string();
            assert!(err.contains("node w-1 is a worker"), "{err}");
        }
        assert!(admit_stream(&w, &to("w-2", ECHO)).is_ok());
        assert!(admit_stream(&w, &to("cp-1", APISERVER)).is_err());
    }
}
