//! The `echo` actor's protocol: a payload goes out and comes back.
//!
//! Every node runs an `echo` actor so that reachability of any node can be checked
//! through the bus and request/reply latency can be measured without other work.

/// Requests to an `echo` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum EchoRequest {
    /// Send `payload` back unchanged.
    Ping {
        /// Arbitrary bytes.
        payload: Vec<u8>,
    },
}

/// Replies from an `echo` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum EchoReply {
    /// The payload of the ping, and the node that answered.
    Pong {
        /// The node whose actor answered.
        node: String,
        /// The bytes that were sent.
        payload: Vec<u8>,
    },
}
