//! Rudder's protocol crate: everything that crosses a process boundary.
//!
//! - [`resources`]: the Kubernetes resource model (JSON as the Kubernetes API writes it,
//!   bincode on the bus), quantities and times.
//! - [`codec`]: the one wire encoding (bincode `2.0.1`) with its size limit.
//! - [`actor`]: how actors and nodes are named ([`ActorRef`]).
//! - [`api`]: typed access to the API server ([`api::Api`]) over any transport.
//! - [`chaos`]: seeded random kill schedules (replayable from their seed).
//! - [`messages`]: one closed request/reply enum per actor, and the envelope that carries them.
//! - [`names`]: well-known names (actors on the bus, system namespaces, condition types).
//! - [`registry`]: the resources the API server serves (group, version, kind, names).
//! - [`schema`]: the object schema model, derived from the resource structs
//!   (`#[derive(Schema)]`): read by OpenAPI, strategic merge patch and strict validation.
//! - [`frame`]: bus frames, the frame header and the handshake messages.
//! - [`net`] (feature `net`): async framing and the challenge/response handshake over TCP.
//! - [`trace`]: trace context carried in request frames, and the spans nodes report.
//! - [`stats`]: lock-free counters (frames, bytes, latency buckets) that links and actors
//!   keep and metrics read.
//! - [`stream`] (feature `net`): byte streams between actors, with credit-based flow
//!   control, half-close and cancellation, multiplexed on a link.
//! - [`client`] (feature `client`): the Rust client a user's program links against.
//!
//! No actix, RocksDB or bollard here: a user's program depends on this crate alone.

// `#[derive(Schema)]` names `::rudder_protocol`, in this crate too.
extern crate self as rudder_protocol;

pub mod actor;
pub mod api;
pub mod chaos;
pub mod codec;
pub mod dynamic;
pub mod frame;
pub mod messages;
pub mod names;
pub mod registry;
pub mod resources;
pub mod schema;
pub mod stats;
pub mod trace;

#[cfg(feature = "net")]
pub mod net;

#[cfg(feature = "net")]
pub mod stream;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "client")]
pub mod keys;

pub use actor::{ActorRef, NodeName};
pub use messages::{BusError, Reply, Request};
