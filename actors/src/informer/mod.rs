//! The one shared way components consume cluster state (DESIGN.md section 5).
//!
//! - [`transport`]: [`ApiHandle`], API requests over the node's bus to an `apiserver`.
//! - [`informer`]: [`Informer`], list + watch of one kind into a read-only [`Cache`],
//!   resuming broken watches and relisting on 410.
//! - [`shared`]: [`SharedInformers`], the node's one informer per kind and scope,
//!   shared by its components ([`SharedInformer`] handles, [`Subscription`]s with a
//!   replay for late subscribers).
//! - [`queue`]: [`WorkQueue`], de-duplicated keys for reconcilers, one worker per key,
//!   delays and per-key back-off.
//! - [`leader`]: [`LeaderElector`], Lease-based election so that one instance of a
//!   component acts among several control-plane nodes.
//!
//! A component puts these together: subscriptions to the node's shared informers whose
//! handlers enqueue keys, workers that take keys, re-read the caches, decide in a pure
//! function and write through the API. Nothing here holds state that a relist cannot
//! rebuild.

#[allow(clippy::module_inception)]
pub mod informer;
pub mod leader;
pub mod queue;
pub mod shared;
pub mod transport;

pub use informer::{Cache, Change, Informer, InformerHandle, ObjectKey};
pub use leader::{while_leading, ElectionHandle, LeaderElector, Timings, LEASE_NAMESPACE};
pub use queue::{Backoff, WorkQueue};
pub use shared::{Scope, SharedInformer, SharedInformers, Subscription};
pub use transport::ApiHandle;
