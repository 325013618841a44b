//! The controller kit: what every controller shares, written once (client-go's
//! `controller_utils.go` and kube-runtime's `Controller`).
//!
//! - [`controller`]: the [`Controller`] builder: `Controller::<ReplicaSet>::new(NAME)
//!   .workers(2).component(setup, reconcile)` wires the node's shared informers into a
//!   work queue (the primary kind by its own key, owned kinds by their controller's key
//!   through [`owner_keys`], anything else through a mapping), runs only while it
//!   leads its Lease (named from the controller's name by [`lease_name`]), waits for
//!   the caches, then runs the workers.
//! - [`expectations`]: [`Expectations`] and [`ControllerExpectations`]: a controller
//!   does not act twice on a key before it has observed its own creates and deletes.
//! - [`pod_control`]: [`PodControl`]: pod creation in slow-start batches and deletion,
//!   with their Events and expectations.
//! - [`history`]: rollout history in ControllerRevisions (hashes, names, numbering,
//!   collisions, truncation), shared by the DaemonSet and StatefulSet controllers.
//! - [`discovery`]: the served resources generic controllers loop over (from the API
//!   server's registry), as [`rudder_protocol::api::ApiResource`]s.
//! - here: the leader gate ([`while_leading`]), the worker loop ([`run_workers`]), and
//!   Event references.
//!
//! A controller's task campaigns for the Lease `kube-system/rudder-controller-<name>`;
//! while it leads it subscribes to its informers and runs its workers; when it loses the
//! lease its task returns, so the supervisor restarts it and it campaigns again from a
//! clean state (its subscriptions go, the node's informers stay).

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{MicroTime, ObjectReference};
use tracing::{debug, warn, Instrument};

pub mod controller;
pub mod discovery;
pub mod expectations;
pub mod history;
pub mod pod_control;

pub use self::controller::{controller_key, owner_keys, Controller, Wiring};
pub use self::expectations::{ControllerExpectations, Expectations, EXPECTATIONS_TTL};
pub use self::pod_control::{slow_start, slow_start_batches, PodControl, SlowStart};
pub use crate::events::EventRecorder as Recorder;

use crate::informer::{ApiHandle, WorkQueue};

/// The Lease a controller leads on, in `kube-system`: `rudder-` and the controller's
/// bus name with `/` as `-` (`controller/replicaset` leads
/// `rudder-controller-replicaset`). Written here only.
pub fn lease_name(controller: &str) -> String {
    format!("rudder-{}", controller.replace('/', "-"))
}

/// Runs `body` while this node leads `controller` (its bus name; the Lease is
/// [`lease_name`]); returns when either ends.
pub async fn while_leading<Fut>(api: &ApiHandle, controller: &str, body: Fut)
where
    Fut: Future<Output = ()>,
{
    crate::informer::while_leading(api, &lease_name(controller), body).await;
}

/// Runs `workers` workers over `queue`: each takes a key, reconciles it, and requeues
/// it after the delay the reconcile asks for, or with back-off when it fails (the
/// queue's per-key back-off, 5 ms doubling to 1000 s as client-go's). A key that keeps
/// failing is logged once per [`crate::retry::LOG_EVERY`].
pub async fn run_workers<T, F, Fut>(
    controller: &'static str,
    queue: WorkQueue<T>,
    workers: usize,
    reconcile: F,
) where
    T: Clone + Eq + Hash + Display + Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<Option<Duration>, ApiError>>,
{
    let log = std::sync::Mutex::new(crate::retry::LogLimiter::<T>::default());
    // The limiter's state is always whole between calls: a poisoned lock is usable.
    let log = &log;
    let admit = move |key: &T| {
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(key, tokio::time::Instant::now())
    };
    let clear = move |key: &T| log.lock().unwrap_or_else(|p| p.into_inner()).clear(key);
    let one = |_| {
        let queue = queue.clone();
        let reconcile = &reconcile;
        async move {
            while let Some(key) = queue.next().await {
                let span = tracing::debug_span!("reconcile", controller, key = %key);
                match reconcile(key.clone()).instrument(span).await {
                    Ok(again) => {
                        clear(&key);
                        queue.forget(&key);
                        if let Some(d) = again {
                            queue.add_after(key.clone(), d);
                        }
                    }
                    Err(e) => {
                        let failures = queue.failures(&key);
                        // Conflicts are routine (a newer version exists): no warning.
                        if e.is_conflict() || e.is_not_found() {
                            debug!(controller, key = %key, error = %e, "reconcile retried");
                        } else if let Some(suppressed) = admit(&key) {
                            warn!(controller, key = %key, error = %e, failures, suppressed, "reconcile failed; backing off");
                        }
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        }
    };
    futures::future::join_all((0..workers.max(1)).map(one)).await;
}

/// A reference to `obj` for an Event's `involvedObject`.
pub fn reference<K: rudder_protocol::resources::Resource>(obj: &K) -> ObjectReference {
    let m = obj.metadata();
    ObjectReference {
        kind: K::KIND.to_owned(),
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        uid: m.uid.clone(),
        api_version: K::API_VERSION.to_owned(),
        resource_version: m.resource_version.clone(),
        field_path: String::new(),
    }
}

/// How long until `at` (zero when past).
pub fn until(at: MicroTime) -> Duration {
    let now = MicroTime::now().unix_micros();
    Duration::from_micros(u64::try_from(at.unix_micros().saturating_sub(now)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_come_from_controller_names() {
        let table = [
            ("controller/replicaset", "rudder-controller-replicaset"),
            (
                "controller/replicationcontroller",
                "rudder-controller-replicationcontroller",
            ),
            (
                "controller/garbagecollector",
                "rudder-controller-garbagecollector",
            ),
        ];
        for (name, want) in table {
            assert_eq!(lease_name(name), want, "{name}");
        }
    }
}
