//! Rudder's own metrics: per actor (messages handled, mailbox depth, handler duration,
//! restarts) and per bus link (frames and bytes each way, requests in flight, round
//! trips, connections made).
//!
//! An actor's counters ([`ActorStats`]) are resolved once, when the bus registers the
//! actor under its name; the bus then counts each request it delivers with a few atomic
//! additions, and the supervisor counts restarts. The mailbox depth is the number of
//! requests delivered and not yet answered; the handler duration runs from delivery to
//! the reply (time queued in the mailbox included, which is what a caller waits).
//! Links keep their own counters ([`rudder_protocol::stats::LinkStats`]); the bus offers
//! them through [`LinkSource`] and they are read when scraped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use rudder_protocol::stats::{LatencyCounts, LinkStats};

/// One actor's counters.
#[derive(Debug, Default)]
pub struct ActorStats {
    /// Requests delivered to it.
    pub messages: AtomicU64,
    /// Requests delivered and not yet answered.
    pub mailbox: AtomicI64,
    /// Delivery-to-reply times.
    pub handling: LatencyCounts,
    /// Restarts by its supervisor.
    pub restarts: AtomicU64,
}

impl ActorStats {
    /// Counts a request delivered; the guard counts its answer when dropped.
    #[inline]
    pub fn delivered(self: &Arc<Self>) -> Handling {
        let on = super::enabled();
        if on {
            self.messages.fetch_add(1, Ordering::Relaxed);
            self.mailbox.fetch_add(1, Ordering::Relaxed);
        }
        Handling {
            stats: on.then(|| (self.clone(), Instant::now())),
        }
    }
}

/// A request being handled (see [`ActorStats::delivered`]).
pub struct Handling {
    stats: Option<(Arc<ActorStats>, Instant)>,
}

impl Drop for Handling {
    fn drop(&mut self) {
        if let Some((s, started)) = self.stats.take() {
            s.mailbox.fetch_sub(1, Ordering::Relaxed);
            s.handling.observe(started.elapsed());
        }
    }
}

/// One link as a [`LinkSource`] reports it.
pub struct LinkSample {
    /// The peer's name (a node, or a client's label).
    pub peer: String,
    /// What the link carried.
    pub stats: Arc<LinkStats>,
    /// Requests sent and not yet answered.
    pub in_flight: usize,
}

/// Something that has links to report (a node's bus).
pub trait LinkSource: Send + Sync {
    /// The links up now.
    fn links(&self) -> Vec<LinkSample>;
    /// Links established so far, per peer (more than one: reconnections).
    fn connects(&self) -> Vec<(String, u64)>;
}

/// A snapshot of one actor, for `rudderctl top actors`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorSnapshot {
    /// Requests handled.
    pub messages: u64,
    /// Requests waiting or being handled.
    pub mailbox: i64,
    /// Total time spent answering, in seconds.
    pub busy_seconds: f64,
}

#[derive(Default)]
struct Shared {
    actors: Mutex<BTreeMap<String, Arc<ActorStats>>>,
    sources: Mutex<Vec<Weak<dyn LinkSource>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorMetrics").finish_non_exhaustive()
    }
}

/// The actor and link metrics.
pub struct ActorMetrics {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain counters behind the lock: still right after a panic elsewhere.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ActorMetrics {
    pub(super) fn register(r: &mut Registry) -> Self {
        let shared = Arc::new(Shared::default());
        r.register_collector(Box::new(shared.clone()));
        ActorMetrics { shared }
    }

    /// The counters of the actor named `name` (made on first use, kept across restarts).
    pub fn actor(&self, name: &str) -> Arc<ActorStats> {
        let mut actors = lock(&self.shared.actors);
        if let Some(s) = actors.get(name) {
            return s.clone();
        }
        let s = Arc::new(ActorStats::default());
        actors.insert(name.to_owned(), s.clone());
        s
    }

    /// A snapshot of the actor named `name`, if it ever registered.
    pub fn snapshot(&self, name: &str) -> Option<ActorSnapshot> {
        let actors = lock(&self.shared.actors);
        let s = actors.get(name)?;
        Some(ActorSnapshot {
            messages: s.messages.load(Ordering::Relaxed),
            mailbox: s.mailbox.load(Ordering::Relaxed),
            busy_seconds: s.handling.sum_seconds(),
        })
    }

    /// Reports `source`'s links from now on, while it lives.
    pub fn add_link_source(&self, source: Weak<dyn LinkSource>) {
        let mut sources = lock(&self.shared.sources);
        sources.retain(|s| s.strong_count() > 0);
        sources.push(source);
    }
}

fn counter<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(L, u64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        m.encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(v, None)?;
    }
    Ok(())
}

fn gauge<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(L, i64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        m.encode_family(labels)?.encode_gauge(v)?;
    }
    Ok(())
}

fn histogram<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(L, &LatencyCounts)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in rows {
        let buckets = h.buckets();
        let count = buckets.iter().map(|b| b.1).sum();
        m.encode_family(labels)?.encode_histogram::<NoLabelSet>(
            h.sum_seconds(),
            count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

impl Collector for Shared {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let actors: Vec<(String, Arc<ActorStats>)> = lock(&self.actors)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rows = |f: &dyn Fn(&ActorStats) -> u64| {
            actors
                .iter()
                .map(|(n, s)| ([("actor", n.as_str())], f(s)))
                .collect::<Vec<_>>()
        };
        counter(
            &mut enc,
            "rudder_actor_messages",
            "Requests the bus delivered to each actor of this node.",
            &rows(&|s| s.messages.load(Ordering::Relaxed)),
        )?;
        counter(
            &mut enc,
            "rudder_actor_restarts",
            "Restarts of each actor by its supervisor.",
            &rows(&|s| s.restarts.load(Ordering::Relaxed)),
        )?;
        gauge(
            &mut enc,
            "rudder_actor_mailbox_depth",
            "Requests delivered to each actor and not yet answered.",
            &actors
                .iter()
                .map(|(n, s)| ([("actor", n.as_str())], s.mailbox.load(Ordering::Relaxed)))
                .collect::<Vec<_>>(),
        )?;
        histogram(
            &mut enc,
            "rudder_actor_handler_duration_seconds",
            "Time from a request's delivery to an actor to its reply.",
            &actors
                .iter()
                .map(|(n, s)| ([("actor", n.as_str())], &s.handling))
                .collect::<Vec<_>>(),
        )?;

        let sources: Vec<Arc<dyn LinkSource>> = lock(&self.sources)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut links: Vec<LinkSample> = sources.iter().flat_map(|s| s.links()).collect();
        links.sort_by(|a, b| a.peer.cmp(&b.peer));
        // Two links to one peer (a replaced one not yet gone) would repeat a label set.
        links.dedup_by(|a, b| a.peer == b.peer);
        let mut connects: Vec<(String, u64)> = sources.iter().flat_map(|s| s.connects()).collect();
        connects.sort();
        connects.dedup_by(|a, b| a.0 == b.0);
        let each_way = |f: &dyn Fn(&LinkStats) -> (&AtomicU64, &AtomicU64)| {
            links
                .iter()
                .flat_map(|l| {
                    let (sent, received) = f(&l.stats);
                    [
                        (
                            [("peer", l.peer.as_str()), ("direction", "sent")],
                            sent.load(Ordering::Relaxed),
                        ),
                        (
                            [("peer", l.peer.as_str()), ("direction", "received")],
                            received.load(Ordering::Relaxed),
                        ),
                    ]
                })
                .collect::<Vec<_>>()
        };
        counter(
            &mut enc,
            "rudder_bus_link_frames",
            "Frames on each bus link, each way.",
            &each_way(&|s| (&s.frames_sent, &s.frames_received)),
        )?;
        counter(
            &mut enc,
            "rudder_bus_link_bytes",
            "Bytes on each bus link, each way, length prefixes included.",
            &each_way(&|s| (&s.bytes_sent, &s.bytes_received)),
        )?;
        gauge(
            &mut enc,
            "rudder_bus_link_inflight_requests",
            "Requests sent on each bus link and not yet answered.",
            &links
                .iter()
                .map(|l| {
                    (
                        [("peer", l.peer.as_str())],
                        i64::try_from(l.in_flight).unwrap_or(i64::MAX),
                    )
                })
                .collect::<Vec<_>>(),
        )?;
        histogram(
            &mut enc,
            "rudder_bus_link_round_trip_seconds",
            "Round trips of the requests sent on each bus link (send to reply).",
            &links
                .iter()
                .map(|l| ([("peer", l.peer.as_str())], &l.stats.round_trips))
                .collect::<Vec<_>>(),
        )?;
        counter(
            &mut enc,
            "rudder_bus_link_connects",
            "Links established with each peer node; more than one means it reconnected.",
            &connects
                .iter()
                .map(|(p, n)| ([("peer", p.as_str())], *n))
                .collect::<Vec<_>>(),
        )?;
        Ok(())
    }
}
