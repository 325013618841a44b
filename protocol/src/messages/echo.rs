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
    /// Load test: send `count` pings of `payload_len` bytes to the echo actor `to`,
    /// keeping `in_flight` outstanding, and report the latencies. Bounded by
    /// [`MAX_BLAST_COUNT`] and [`MAX_BLAST_IN_FLIGHT`].
    Blast {
        /// The echo actor to ping (usually on another node).
        to: crate::ActorRef,
        /// Pings in total.
        count: u32,
        /// Pings outstanding at once.
        in_flight: u32,
        /// Bytes per ping payload.
        payload_len: u32,
    },
    /// Throughput test: open an [`EchoStream::Sink`] stream to the echo actor `to` and
    /// send `bytes` through it; answered with [`EchoReply::Streamed`].
    StreamTo {
        /// The echo actor to stream to (usually on another node).
        to: crate::ActorRef,
        /// Bytes to send.
        bytes: u64,
    },
}

/// Streams an `echo` actor accepts (tests and `bench-stream`).
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum EchoStream {
    /// Send every byte back; finish when the opener finishes.
    Echo,
    /// Read everything; at the end send the byte count (`u64` big-endian) and finish.
    Sink,
}

/// Largest `count` a [`EchoRequest::Blast`] accepts.
pub const MAX_BLAST_COUNT: u32 = 10_000_000;
/// Largest `in_flight` a [`EchoRequest::Blast`] accepts.
pub const MAX_BLAST_IN_FLIGHT: u32 = 4096;

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
    /// The outcome of a [`EchoRequest::Blast`].
    BlastDone(BlastStats),
    /// The outcome of a [`EchoRequest::StreamTo`].
    Streamed {
        /// Bytes the sink counted.
        bytes: u64,
        /// From opening the stream to the sink's count, microseconds.
        elapsed_us: u64,
    },
}

/// Latency figures of one blast.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct BlastStats {
    /// Pings answered.
    pub ok: u32,
    /// Pings that failed.
    pub failed: u32,
    /// Wall time of the whole blast, microseconds.
    pub elapsed_us: u64,
    /// Median round trip, microseconds.
    pub p50_us: u64,
    /// 99th percentile round trip, microseconds.
    pub p99_us: u64,
    /// Slowest round trip, microseconds.
    pub max_us: u64,
}
