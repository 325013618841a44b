//! Container lifecycle hooks (`postStart`, `preStop`) and the gRPC probe handler.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::{ExecAction, HttpGetAction, TcpSocketAction};
use crate::schema::Schema;

/// Actions the kubelet takes when a container starts and before it is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Lifecycle")]
pub struct Lifecycle {
    /// Run right after the container is created; if it fails, the container is killed
    /// and restarted per the restart policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    /// Run before the container is stopped, within the termination grace period; the
    /// stop signal is sent when it completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
    /// The signal that stops the container (default: the image's, else SIGTERM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// One lifecycle action; exactly one of the handlers is set (`tcpSocket` is accepted
/// for compatibility but not supported, as in Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LifecycleHandler")]
pub struct LifecycleHandler {
    /// Run a command in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Send an HTTP GET to the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Deprecated; not supported as a lifecycle handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Wait a number of seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
}

/// Waits before the hook completes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SleepAction")]
pub struct SleepAction {
    /// Seconds to sleep.
    #[schema(required)]
    pub seconds: i64,
}

/// A gRPC health check (`grpc.health.v1.Health/Check`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.GRPCAction")]
pub struct GrpcAction {
    /// The port of the gRPC service, 1-65535.
    #[schema(required)]
    pub port: i32,
    /// The service name sent in the health check request (default: the server's
    /// overall health, "").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}
