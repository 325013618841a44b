//! [`LeaderElector`]: at most one active instance of a component among the
//! control-plane nodes, through a `coordination.k8s.io/v1` Lease (as client-go's
//! leaderelection does).
//!
//! Each candidate tries every `retry` to create, renew or take over the Lease with a
//! compare-and-swap update. A Lease is taken over only after its holder has not renewed
//! it for `lease_duration`, judged by this candidate's own clock from when it last saw
//! the record change (so clock skew between nodes does not matter). A leader that has
//! not renewed within `renew_deadline` steps down before anyone may take over.
//!
//! A leader renews from the object its last write returned, without reading the Lease
//! first: while nobody else writes it, a renewal is one compare-and-swap update (a
//! conflict means someone did, and the round reads it then). With a Lease per
//! controller on every control-plane node, that halves the election's load on the store.
//!
//! The period stays `retry` when the API fails (a leader must renew in time, and a
//! longer wait would only delay a takeover); the warning a failure writes is limited to
//! one line per [`crate::retry::LOG_EVERY`].

use std::time::Duration;

use rudder_protocol::api::{Api, ApiError};
use rudder_protocol::resources::{Lease, LeaseSpec, MicroTime, ObjectMeta};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// The namespace leader-election Leases live in.
pub const LEASE_NAMESPACE: &str = rudder_protocol::names::namespaces::KUBE_SYSTEM;

/// Timing of an election (client-go's defaults: 15 s, 10 s, 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a Lease holds without renewal.
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often candidates try, and leaders renew.
    pub retry: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// Runs an election; see the module docs.
pub struct LeaderElector;

/// Aborts the election task when dropped (the Lease then expires on its own).
pub struct ElectionHandle(tokio::task::JoinHandle<()>);

impl Drop for ElectionHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl LeaderElector {
    /// Campaigns for the Lease `name` (in `api`'s namespace) as `identity`. The receiver
    /// says whether this candidate leads right now.
    pub fn spawn(
        api: Api<Lease>,
        name: &str,
        identity: &str,
        timings: Timings,
    ) -> (watch::Receiver<bool>, ElectionHandle) {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(campaign(
            api,
            name.to_owned(),
            identity.to_owned(),
            timings,
            tx,
        ));
        (rx, ElectionHandle(task))
    }
}

/// What this candidate last saw of the Lease, and when (by its own clock).
struct Observed {
    record: LeaseSpec,
    at: Instant,
}

async fn campaign(
    api: Api<Lease>,
    name: String,
    me: String,
    t: Timings,
    leading: watch::Sender<bool>,
) {
    let mut observed: Option<Observed> = None;
    let mut held: Option<Lease> = None;
    let mut last_renewal: Option<Instant> = None;
    let mut log: crate::retry::LogLimiter<()> = crate::retry::LogLimiter::default();
    loop {
        let now = Instant::now();
        match try_acquire_or_renew(&api, &name, &me, t, &mut observed, &mut held).await {
            Ok(true) => {
                log.clear(&());
                last_renewal = Some(now);
                if !*leading.borrow() {
                    info!(lease = %name, identity = %me, "became leader");
                    leading.send_replace(true);
                }
            }
            Ok(false) => {
                log.clear(&());
                last_renewal = None;
                if *leading.borrow() {
                    info!(lease = %name, identity = %me, "lost the lease");
                    leading.send_replace(false);
                }
            }
            Err(e) => {
                if let Some(suppressed) = log.admit(&(), now) {
                    warn!(lease = %name, error = %e, suppressed, "lease update failed");
                }
                let overdue = last_renewal.is_none_or(|r| now.duration_since(r) > t.renew_deadline);
                if overdue && *leading.borrow() {
                    warn!(lease = %name, identity = %me, "could not renew in time; stepping down");
                    leading.send_replace(false);
                }
            }
        }
        tokio::time::sleep(t.retry).await;
    }
}

/// One round: `Ok(true)` when we hold the Lease afterwards. `held` is the Lease as our
/// last write left it, while we hold it.
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    name: &str,
    me: &str,
    t: Timings,
    observed: &mut Option<Observed>,
    held: &mut Option<Lease>,
) -> Result<bool, ApiError> {
    let now = MicroTime::now();
    let secs = i32::try_from(t.lease_duration.as_secs()).unwrap_or(i32::MAX);
    if let Some(lease) = held.take() {
        match write_renewal(api, lease, now, secs, observed, held).await {
            Ok(()) => return Ok(true),
            // Someone else wrote it: read it, as any candidate would.
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(e),
        }
    }
    let Some(mut lease) = api.get_opt(name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: name.to_owned(),
                namespace: api.namespace().unwrap_or(LEASE_NAMESPACE).to_owned(),
                ..ObjectMeta::default()
            },
            spec: LeaseSpec {
                holder_identity: Some(me.to_owned()),
                lease_duration_seconds: Some(secs),
                acquire_time: Some(now),
                renew_time: Some(now),
                lease_transitions: Some(0),
            },
            ..Lease::default()
        };
        return match api.create(&lease).await {
            Ok(created) => {
                *held = Some(created);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        };
    };
    let changed = observed.as_ref().is_none_or(|o| o.record != lease.spec);
    if changed {
        *observed = Some(Observed {
            record: lease.spec.clone(),
            at: Instant::now(),
        });
    }
    let holder = lease.spec.holder_identity.clone().unwrap_or_default();
    let held_by_me = holder == me;
    let expired = holder.is_empty()
        || observed
            .as_ref()
            .is_some_and(|o| o.at.elapsed() > lease_duration(&lease.spec, t));
    if !held_by_me && !expired {
        return Ok(false);
    }
    if !held_by_me {
        lease.spec.acquire_time = Some(now);
        lease.spec.lease_transitions = Some(lease.spec.lease_transitions.unwrap_or(0) + 1);
        lease.spec.holder_identity = Some(me.to_owned());
    }
    match write_renewal(api, lease, now, secs, observed, held).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `lease` renewed at `now` by its holder (a compare-and-swap on its resource
/// version); on success remembers what the write returned, as observed and as held.
async fn write_renewal(
    api: &Api<Lease>,
    mut lease: Lease,
    now: MicroTime,
    secs: i32,
    observed: &mut Option<Observed>,
    held: &mut Option<Lease>,
) -> Result<(), ApiError> {
    lease.spec.renew_time = Some(now);
    lease.spec.lease_duration_seconds = Some(secs);
    let updated = api.update(&lease).await?;
    *observed = Some(Observed {
        record: updated.spec.clone(),
        at: Instant::now(),
    });
    *held = Some(updated);
    Ok(())
}

fn lease_duration(spec: &LeaseSpec, t: Timings) -> Duration {
    spec.lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(t.lease_duration, Duration::from_secs)
}

/// Campaigns for Lease `kube-system/<lease>` as this node and runs `body` while it leads;
/// returns when `body` ends or leadership is lost (dropping `body`), so the component's
/// supervisor restarts it and it campaigns again from a clean state.
pub async fn while_leading<Fut>(api: &super::ApiHandle, lease: &str, body: Fut)
where
    Fut: std::future::Future<Output = ()>,
{
    let identity = api.node().to_string();
    let (mut leading, _election) = LeaderElector::spawn(
        api.api::<Lease>(Some(LEASE_NAMESPACE)),
        lease,
        &identity,
        Timings::default(),
    );
    if leading.wait_for(|l| *l).await.is_err() {
        return;
    }
    tracing::info!(lease, identity = %identity, "leading");
    tokio::select! {
        () = body => {}
        _ = leading.wait_for(|l| !*l) => {
            tracing::warn!(lease, "lost leadership; restarting");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::api::{ApiTransport, BoxFuture};
    use rudder_protocol::messages::api::{ApiReply, ApiRequest};
    use rudder_protocol::resources::Status;
    use std::sync::{Arc, Mutex};

    /// One Lease with compare-and-swap updates, like the API server's; counts reads.
    #[derive(Default)]
    struct OneLease(Mutex<Option<(Lease, u64)>>, std::sync::atomic::AtomicUsize);

    impl ApiTransport for OneLease {
        fn call(&self, req: ApiRequest) -> BoxFuture<'_, Result<ApiReply, ApiError>> {
            let reply = |l: &Lease, rv: u64| {
                let mut l = l.clone();
                l.metadata.resource_version = rv.to_string();
                ApiReply::Json(serde_json::to_vec(&l).unwrap_or_default())
            };
            let err = |code, reason: &str| {
                ApiReply::Error(Box::new(Status::failure(code, reason, reason)))
            };
            let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let out = match req {
                ApiRequest::Get { .. } => {
                    self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match &*slot {
                        Some((l, rv)) => reply(l, *rv),
                        None => err(404, "NotFound"),
                    }
                }
                ApiRequest::Create { body, .. } => match &*slot {
                    Some(_) => err(409, "AlreadyExists"),
                    None => {
                        let l: Lease = serde_json::from_slice(&body).unwrap_or_default();
                        *slot = Some((l.clone(), 1));
                        reply(&l, 1)
                    }
                },
                ApiRequest::Update { body, .. } => {
                    let l: Lease = serde_json::from_slice(&body).unwrap_or_default();
                    match &*slot {
                        Some((_, rv)) if l.metadata.resource_version == rv.to_string() => {
                            let rv = rv + 1;
                            *slot = Some((l.clone(), rv));
                            reply(&l, rv)
                        }
                        _ => err(409, "Conflict"),
                    }
                }
                _ => err(400, "BadRequest"),
            };
            Box::pin(async move { Ok(out) })
        }
    }

    fn holder(store: &OneLease) -> Option<String> {
        store
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(l, _)| l.spec.holder_identity.clone())
    }

    #[tokio::test(start_paused = true)]
    async fn one_leader_at_a_time_and_takeover_after_the_lease_expires() {
        let store = Arc::new(OneLease::default());
        let api = Api::<Lease>::new(store.clone(), Some(LEASE_NAMESPACE));
        let t = Timings::default();
        let (a, a_handle) = LeaderElector::spawn(api.clone(), "sched", "a", t);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let (b, _b_handle) = LeaderElector::spawn(api, "sched", "b", t);
        // Both campaign for a while: exactly one leads, and it is the holder.
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(*a.borrow() ^ *b.borrow(), "exactly one leader");
        }
        assert!(*a.borrow());
        assert_eq!(holder(&store).as_deref(), Some("a"));
        // The leader dies: the other takes over after the lease duration, not before.
        drop(a_handle);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!*b.borrow(), "took over before the lease expired");
        tokio::time::sleep(t.lease_duration).await;
        assert!(*b.borrow(), "no takeover after the lease expired");
        assert_eq!(holder(&store).as_deref(), Some("b"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_renews_without_reading_until_someone_else_writes() {
        use std::sync::atomic::Ordering::Relaxed;
        let store = Arc::new(OneLease::default());
        let api = Api::<Lease>::new(store.clone(), Some(LEASE_NAMESPACE));
        let t = Timings::default();
        let (a, _a_handle) = LeaderElector::spawn(api, "ctl", "a", t);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(*a.borrow());
        let reads = store.1.load(Relaxed);
        let rv = |s: &OneLease| s.0.lock().unwrap().as_ref().map(|(_, rv)| *rv);
        let before = rv(&store);
        tokio::time::sleep(t.retry * 5).await;
        assert!(*a.borrow());
        assert_eq!(store.1.load(Relaxed), reads, "renewals read the Lease");
        assert!(rv(&store) > before, "no renewal was written");
        // Another writer bumps the Lease (still held by a): the next renewal conflicts,
        // reads it once, and renews again.
        {
            let mut slot = store.0.lock().unwrap();
            let (_, rv) = slot.as_mut().unwrap();
            *rv += 1;
        }
        tokio::time::sleep(t.retry).await;
        assert!(*a.borrow(), "lost the lease to a conflict it could resolve");
        assert_eq!(store.1.load(Relaxed), reads + 1);
        assert_eq!(holder(&store).as_deref(), Some("a"));
    }
}
