//! The kubelet: runs the pods bound to this node as Docker containers.
//!
//! - [`runtime`]: the [`runtime::ContainerRuntime`] trait and its data;
//!   [`docker`] (bollard) and [`fake`] (tests, simulated nodes) implement it.
//! - [`images`]: the local sandbox and demo images, built offline.
//! - [`network`]: the node's Docker network for pod IPs.
//! - [`probe`]: liveness, readiness and startup probes.
//! - [`worker`]: one pod's state machine, status computation and the worker task.

pub mod docker;
pub mod fake;
pub mod images;
pub mod network;
pub mod probe;
pub mod runtime;
pub mod worker;
