//! The `kubelet` actor's protocol: container logs, read in chunks.
//!
//! A log is addressed in bytes of the container's whole log as Docker renders it with
//! the request's `timestamps` choice. `follow` is the caller polling again from
//! `next_offset` (waiting a little after an empty chunk) for as long as `running` says
//! more may come; chunks stay small so that a log never holds up other traffic on the
//! bus. `tail_lines` and `since_seconds` only shape the first chunk (`offset` 0): the
//! reply's `next_offset` is then already in whole-log coordinates.

/// Streams a `kubelet` accepts: a command in a container, or the container's own
/// process. The stream then carries [`ExecStart`] from the kubelet, and after a `Ready`
/// one chunk per message, its first byte the channel ([`channel`]) as in Kubernetes'
/// `channel.k8s.io` protocols: stdin and resize (and close) to the kubelet; stdout,
/// stderr and one final error/status (a `Status` as JSON) from it.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum KubeletStream {
    /// `pods/exec`: run a command in a running container.
    Exec(ExecRequest),
    /// `pods/attach`: join the container's main process.
    Attach(ExecRequest),
    /// `pods/portforward`: one TCP connection to a port in the pod's network namespace.
    /// The stream opens with [`ExecStart`] (`Refused` when nothing listens there), then
    /// carries the connection's bytes as they are, both ways; a finish is a half-close.
    PortForward(PortForwardRequest),
}

/// Streams the `apiserver` actor accepts from bus clients (the Rust client, `rudderctl`):
/// exec, attach and port-forward, checked as the REST front checks them and relayed to
/// the kubelet of the pod's node. The stream then carries what the kubelet's does
/// ([`KubeletStream`]): [`ExecStart`] first (a refusal carries the API's code and
/// message), then channel messages (exec, attach) or the connection's bytes.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum ApiStream {
    /// Run a command in a container (the container may be empty: the pod's only one).
    Exec(ExecRequest),
    /// Join a container's main process.
    Attach(ExecRequest),
    /// One TCP connection to a port of the pod (`uid` is filled in by the API server).
    PortForward(PortForwardRequest),
}

/// Which pod and port a port-forward connection goes to.
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct PortForwardRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's uid, for the error messages Kubernetes writes.
    pub uid: String,
    /// The TCP port in the pod's network namespace; 0 opens no connection but holds a
    /// stream for the whole port-forward session, so that the session ends when the
    /// kubelet goes away.
    pub port: u16,
}

/// Which container, what to run, and which streams.
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct ExecRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container (never empty: the API server defaults it).
    pub container: String,
    /// The command and its arguments (exec only).
    pub command: Vec<String>,
    /// Pass stdin.
    pub stdin: bool,
    /// Return stdout.
    pub stdout: bool,
    /// Return stderr (never with `tty`: a terminal has one output).
    pub stderr: bool,
    /// Allocate a terminal.
    pub tty: bool,
}

/// The kubelet's first message on an exec or attach stream.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum ExecStart {
    /// The command runs; channel messages follow.
    Ready,
    /// It cannot run; `code` is the HTTP status to answer the client with.
    Refused {
        /// HTTP status code (400, 404, 500, 503).
        code: u16,
        /// Kubernetes' message.
        message: String,
    },
}

/// The channels of an exec stream, numbered as in `channel.k8s.io`.
pub mod channel {
    /// Client to container.
    pub const STDIN: u8 = 0;
    /// Container to client.
    pub const STDOUT: u8 = 1;
    /// Container to client.
    pub const STDERR: u8 = 2;
    /// The outcome, a `Status` in JSON, last.
    pub const ERROR: u8 = 3;
    /// Terminal size, JSON `{"Width":..,"Height":..}`.
    pub const RESIZE: u8 = 4;
    /// `v5.channel.k8s.io`: the one-byte payload names a channel the client closed.
    pub const CLOSE: u8 = 255;
}

/// Requests to a node's `kubelet` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum KubeletRequest {
    /// One chunk of a container's log.
    Logs(LogRequest),
    /// The node's and its pods' latest resource usage ([`KubeletReply::Metrics`]).
    Metrics,
}

/// Which log, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct LogRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container; empty: the pod's only container.
    pub container: String,
    /// The previous (terminated) instance of the container instead of the current one.
    pub previous: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only the last lines (first chunk only).
    pub tail_lines: Option<i64>,
    /// Only lines of the last seconds (first chunk only).
    pub since_seconds: Option<i64>,
    /// Byte offset in the whole log to read from.
    pub offset: u64,
    /// Largest chunk wanted; the kubelet caps it at [`MAX_LOG_CHUNK`].
    pub max_bytes: u32,
}

/// Largest log chunk in one reply.
pub const MAX_LOG_CHUNK: u32 = 256 * 1024;

/// Replies from a `kubelet` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum KubeletReply {
    /// A chunk of log.
    Logs {
        /// The bytes (possibly empty).
        chunk: Vec<u8>,
        /// Where the next chunk starts.
        next_offset: u64,
        /// The container is running: a follower should poll again.
        running: bool,
    },
    /// The latest resource usage the kubelet measured.
    Metrics(MetricsSnapshot),
    /// The request could not be served; `code` is the HTTP status to answer with
    /// (400 bad request, 404 no such pod or container, 503 runtime down).
    Error {
        /// HTTP status code.
        code: u16,
        /// What is wrong.
        message: String,
    },
}

/// Resource usage over one window: CPU as an average rate, memory as the working set
/// at the window's end (what metrics-server reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct Usage {
    /// Average CPU use over the window, in nanocores (10^-9 CPU).
    pub cpu_nanocores: u64,
    /// Memory working set (usage less inactive file pages), in bytes.
    pub memory_bytes: u64,
}

/// One container's usage.
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct ContainerUsage {
    /// The container's name in the pod spec.
    pub name: String,
    /// Its usage.
    pub usage: Usage,
}

/// One pod's usage: its containers' (the sandbox not counted).
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct PodUsage {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// When the window ended, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The window's length in milliseconds.
    pub window_ms: u64,
    /// Per container, by name.
    pub containers: Vec<ContainerUsage>,
}

/// A kubelet's latest measurements. Empty until two samples have been taken (a rate
/// needs a window).
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct MetricsSnapshot {
    /// The node's usage (the whole host), if measured.
    pub node: Option<NodeUsage>,
    /// The running pods' usage, sorted by namespace and name.
    pub pods: Vec<PodUsage>,
}

/// The node's usage over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct NodeUsage {
    /// When the window ended, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The window's length in milliseconds.
    pub window_ms: u64,
    /// The usage.
    pub usage: Usage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_bincode() {
        let req = KubeletRequest::Logs(LogRequest {
            namespace: "default".into(),
            pod: "web".into(),
            tail_lines: Some(10),
            offset: 99,
            ..Default::default()
        });
        let cfg = bincode::config::standard();
        let bytes = bincode::encode_to_vec(&req, cfg).expect("encodes");
        let (back, _): (KubeletRequest, usize) =
            bincode::decode_from_slice(&bytes, cfg).expect("decodes");
        assert_eq!(back, req);
        let open = KubeletStream::PortForward(PortForwardRequest {
            namespace: "default".into(),
            pod: "web".into(),
            uid: "u-1".into(),
            port: 8080,
        });
        let bytes = bincode::encode_to_vec(&open, cfg).expect("encodes");
        let (back, _): (KubeletStream, usize) =
            bincode::decode_from_slice(&bytes, cfg).expect("decodes");
        assert_eq!(back, open);
        let reply = KubeletReply::Logs {
            chunk: b"hi\n".to_vec(),
            next_offset: 3,
            running: true,
        };
        let bytes = bincode::encode_to_vec(&reply, cfg).expect("encodes");
        let (back, _): (KubeletReply, usize) =
            bincode::decode_from_slice(&bytes, cfg).expect("decodes");
        assert_eq!(back, reply);
        let reply = KubeletReply::Metrics(MetricsSnapshot {
            node: Some(NodeUsage {
                timestamp_ms: 1,
                window_ms: 15_000,
                usage: Usage {
                    cpu_nanocores: 5,
                    memory_bytes: 6,
                },
            }),
            pods: vec![PodUsage {
                namespace: "default".into(),
                name: "web".into(),
                timestamp_ms: 2,
                window_ms: 3,
                containers: vec![ContainerUsage {
                    name: "app".into(),
                    usage: Usage::default(),
                }],
            }],
        });
        let bytes = bincode::encode_to_vec(&reply, cfg).expect("encodes");
        let (back, _): (KubeletReply, usize) =
            bincode::decode_from_slice(&bytes, cfg).expect("decodes");
        assert_eq!(back, reply);
    }
}
