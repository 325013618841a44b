//! Recording Events as Kubernetes' client-go recorder does: correlated, deduplicated,
//! aggregated and rate limited, written in the background.
//!
//! Owns: one [`Correlator`] per [`EventRecorder`] and the task that writes its Events.
//! Messages in: [`EventRecorder::record`] from a component (never blocks, never fails;
//! Events are advisory). Messages out: Event creates, and merge patches of `count`,
//! `lastTimestamp` and `message` when an Event repeats.
//!
//! The [`Correlator`] is client-go's `EventCorrelator`, a pure function of the events and
//! the time:
//! - **aggregation**: when one source reports more than [`AGGREGATE_MAX_EVENTS`]
//!   distinct messages with the same reason about the same object within
//!   [`AGGREGATE_INTERVAL`], later ones become one Event "(combined from similar events):
//!   ..." whose count grows (a 10,000-pod scale-up writes a handful of Events, not 10,000);
//! - **deduplication**: an Event identical to an earlier one (same source, object, type,
//!   reason and message) bumps the earlier one's count instead of creating another;
//! - **spam filter**: each source may write [`SPAM_BURST`] Events about one object at once,
//!   then one per [`SPAM_REFILL`] (client-go's token bucket).
//!
//! The writer has a bounded queue: when the API falls behind, Events are dropped, as
//! client-go's broadcaster drops them, rather than slowing the component down.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rudder_protocol::messages::api::PatchType;
use rudder_protocol::resources::{Event, EventSource, MicroTime, ObjectReference, Time};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::debug;

use crate::informer::ApiHandle;

/// Distinct messages of one kind before they are combined.
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// How long similar messages count towards aggregation.
pub const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// Events one source may write about one object at once.
pub const SPAM_BURST: f64 = 25.0;
/// Time to earn one more Event once the burst is spent.
pub const SPAM_REFILL: Duration = Duration::from_secs(300);
/// Entries kept per cache before the least recently used are dropped.
const CACHE_ENTRIES: usize = 4096;
/// Events queued for writing before new ones are dropped.
const QUEUE: usize = 1000;
/// Writes in flight at once.
const WRITERS: usize = 8;
/// The prefix of an aggregated Event's message.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// What to write for one recorded Event.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A new Event.
    Create(Event),
    /// An Event seen before: set its count, lastTimestamp and message (the Event as a
    /// whole is kept for a create when the earlier one is gone).
    Patch(Event),
    /// Dropped by the spam filter.
    Skip,
}

/// A map that forgets its least recently used entries past [`CACHE_ENTRIES`].
#[derive(Debug)]
struct Lru<K, V> {
    map: HashMap<K, (u64, V)>,
    tick: u64,
}

impl<K: std::hash::Hash + Eq + Clone, V> Lru<K, V> {
    fn new() -> Self {
        Lru {
            map: HashMap::new(),
            tick: 0,
        }
    }

    fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(k).map(|(t, v)| {
            *t = tick;
            v
        })
    }

    fn insert(&mut self, k: K, v: V) {
        self.tick += 1;
        if self.map.len() >= CACHE_ENTRIES && !self.map.contains_key(&k) {
            // Drop the older quarter in one sweep, so the cost is amortised.
            let mut ticks: Vec<u64> = self.map.values().map(|(t, _)| *t).collect();
            ticks.sort_unstable();
            let cut = ticks[ticks.len() / 4];
            self.map.retain(|_, (t, _)| *t > cut);
        }
        self.map.insert(k, (self.tick, v));
    }
}

#[derive(Debug)]
struct Similar {
    messages: HashSet<String>,
    last: MicroTime,
}

#[derive(Debug)]
struct Seen {
    name: String,
    count: i32,
    first: Option<Time>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: MicroTime,
}

/// client-go's event correlation (see the module docs).
#[derive(Debug)]
pub struct Correlator {
    similar: Lru<String, Similar>,
    seen: Lru<String, Seen>,
    spam: Lru<String, Bucket>,
}

impl Default for Correlator {
    fn default() -> Self {
        Correlator {
            similar: Lru::new(),
            seen: Lru::new(),
            spam: Lru::new(),
        }
    }
}

fn object_key(ev: &Event) -> String {
    let o = &ev.involved_object;
    [
        ev.source.component.as_str(),
        &ev.source.host,
        &o.kind,
        &o.namespace,
        &o.name,
        &o.uid,
        &o.api_version,
    ]
    .join("\u{0}")
}

fn micros_between(a: MicroTime, b: MicroTime) -> i64 {
    b.unix_micros().saturating_sub(a.unix_micros())
}

impl Correlator {
    /// Decides what to write for `ev` observed at `now`.
    pub fn correlate(&mut self, mut ev: Event, now: MicroTime) -> Write {
        let object = object_key(&ev);
        // Aggregation.
        let aggregate_key = [object.as_str(), &ev.type_, &ev.reason].join("\u{0}");
        let interval = i64::try_from(AGGREGATE_INTERVAL.as_micros()).unwrap_or(i64::MAX);
        let fresh = Similar {
            messages: HashSet::new(),
            last: now,
        };
        let similar = match self.similar.get_mut(&aggregate_key) {
            Some(s) if micros_between(s.last, now) <= interval => s,
            _ => {
                self.similar.insert(aggregate_key.clone(), fresh);
                self.similar
                    .get_mut(&aggregate_key)
                    .expect("entry just inserted")
            }
        };
        similar.last = now;
        similar.messages.insert(ev.message.clone());
        let dedupe_key = if similar.messages.len() < AGGREGATE_MAX_EVENTS {
            format!("{aggregate_key}\u{0}{}", ev.message)
        } else {
            // Keep the set bounded, as client-go does.
            if let Some(any) = similar.messages.iter().next().cloned() {
                similar.messages.remove(&any);
            }
            ev.message = format!("{COMBINED_PREFIX}{}", ev.message);
            aggregate_key
        };
        // Deduplication.
        let write = match self.seen.get_mut(&dedupe_key) {
            Some(seen) => {
                seen.count = seen.count.saturating_add(1);
                ev.metadata.name = seen.name.clone();
                ev.count = seen.count;
                if seen.first.is_some() {
                    ev.first_timestamp = seen.first;
                }
                Write::Patch(ev)
            }
            None => {
                ev.count = ev.count.max(1);
                self.seen.insert(
                    dedupe_key,
                    Seen {
                        name: ev.metadata.name.clone(),
                        count: ev.count,
                        first: ev.first_timestamp,
                    },
                );
                Write::Create(ev)
            }
        };
        // Spam filter.
        let refill = SPAM_REFILL.as_secs_f64();
        let allowed = match self.spam.get_mut(&object) {
            Some(b) => {
                let elapsed = micros_between(b.at, now).max(0) as f64 / 1e6;
                b.tokens = (b.tokens + elapsed / refill).min(SPAM_BURST);
                b.at = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    true
                } else {
                    false
                }
            }
            None => {
                self.spam.insert(
                    object,
                    Bucket {
                        tokens: SPAM_BURST - 1.0,
                        at: now,
                    },
                );
                true
            }
        };
        if allowed {
            write
        } else {
            Write::Skip
        }
    }
}

/// Builds an Event about `object` as `component` on `host` reports it, now.
pub fn event(
    object: ObjectReference,
    component: &str,
    host: &str,
    type_: &str,
    reason: &str,
    message: String,
) -> Event {
    // Events about cluster-scoped objects go to `default`, as Kubernetes puts them.
    let namespace = if object.namespace.is_empty() {
        rudder_protocol::names::namespaces::DEFAULT.to_owned()
    } else {
        object.namespace.clone()
    };
    let now = MicroTime::now();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut ev = Event::new(format!("{}.{nanos:x}", object.name));
    ev.metadata.namespace = namespace;
    ev.involved_object = object;
    ev.type_ = type_.to_owned();
    ev.reason = reason.to_owned();
    ev.message = message;
    ev.first_timestamp = Some(Time::from(now));
    ev.last_timestamp = Some(Time::from(now));
    ev.event_time = Some(now);
    ev.count = 1;
    ev.source = EventSource {
        component: component.to_owned(),
        host: host.to_owned(),
    };
    ev.reporting_component = component.to_owned();
    ev.reporting_instance = host.to_owned();
    ev
}

/// A component's Event recorder: cheap to clone; the writer task ends when the last
/// clone is dropped (after writing what is queued).
#[derive(Clone)]
pub struct EventRecorder {
    tx: mpsc::Sender<Event>,
    component: &'static str,
    host: String,
}

impl EventRecorder {
    /// A recorder for `component` (e.g. `replicaset-controller`) on this node; spawns its
    /// writer on the current Tokio runtime.
    pub fn new(api: ApiHandle, component: &'static str) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let host = api.node().to_string();
        tokio::spawn(write_all(api, rx));
        EventRecorder {
            tx,
            component,
            host,
        }
    }

    /// Records an Event about `object`. Never waits: when the queue is full the Event
    /// is dropped (and logged at debug level).
    pub fn record(&self, object: ObjectReference, type_: &str, reason: &str, message: String) {
        let ev = event(object, self.component, &self.host, type_, reason, message);
        if let Err(e) = self.tx.try_send(ev) {
            debug!(component = self.component, reason, error = %e, "event dropped");
        }
    }
}

async fn write_all(api: ApiHandle, mut rx: mpsc::Receiver<Event>) {
    let mut correlator = Correlator::default();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(WRITERS));
    while let Some(ev) = rx.recv().await {
        let write = correlator.correlate(ev, MicroTime::now());
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let api = api.clone();
        tokio::spawn(async move {
            write_one(&api, write).await;
            drop(permit);
        });
    }
}

async fn write_one(api: &ApiHandle, write: Write) {
    let (ev, patch) = match write {
        Write::Skip => return,
        Write::Create(ev) => (ev, false),
        Write::Patch(ev) => (ev, true),
    };
    let events = api.api::<Event>(Some(&ev.metadata.namespace));
    if patch {
        let body = json!({
            "count": ev.count,
            "lastTimestamp": ev.last_timestamp,
            "message": ev.message,
        });
        match events
            .patch(&ev.metadata.name, PatchType::Merge, &body)
            .await
        {
            Ok(_) => return,
            // Gone (expired, or its namespace's contents deleted): write it anew.
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                debug!(event = %ev.metadata.name, error = %e, "event not updated");
                return;
            }
        }
    }
    if let Err(e) = events.create(&ev).await {
        debug!(event = %ev.metadata.name, error = %e, "event not recorded");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(secs: i64) -> MicroTime {
        MicroTime(1_000_000_000_000 + secs * 1_000_000)
    }

    fn ev(object: &str, reason: &str, message: &str) -> Event {
        let o = ObjectReference {
            kind: "ReplicaSet".into(),
            namespace: "default".into(),
            name: object.into(),
            uid: format!("uid-{object}"),
            api_version: "apps/v1".into(),
            ..ObjectReference::default()
        };
        event(
            o,
            "replicaset-controller",
            "n1",
            "Normal",
            reason,
            message.into(),
        )
    }

    fn kind(w: &Write) -> (&'static str, String, i32) {
        match w {
            Write::Create(e) => ("create", e.message.clone(), e.count),
            Write::Patch(e) => ("patch", e.message.clone(), e.count),
            Write::Skip => ("skip", String::new(), 0),
        }
    }

    #[test]
    fn identical_events_bump_one_count() {
        let mut c = Correlator::default();
        let first = c.correlate(ev("web", "BackOff", "Back-off restarting"), at(0));
        let Write::Create(first) = first else {
            panic!("first is a create")
        };
        for n in 2..=4 {
            match c.correlate(ev("web", "BackOff", "Back-off restarting"), at(n.into())) {
                Write::Patch(e) => {
                    assert_eq!(e.metadata.name, first.metadata.name);
                    assert_eq!(e.count, n);
                    assert_eq!(e.first_timestamp, first.first_timestamp);
                }
                other => panic!("repeat {n}: {other:?}"),
            }
        }
        // Another reason, object or message is another Event.
        assert_eq!(
            kind(&c.correlate(ev("web", "Killing", "Back-off restarting"), at(5))).0,
            "create"
        );
        assert_eq!(
            kind(&c.correlate(ev("db", "BackOff", "Back-off restarting"), at(5))).0,
            "create"
        );
    }

    #[test]
    fn many_distinct_messages_are_combined() {
        let mut c = Correlator::default();
        let mut writes = Vec::new();
        for i in 0..20 {
            let w = c.correlate(
                ev("web", "SuccessfulCreate", &format!("Created pod: web-{i}")),
                at(i),
            );
            writes.push(kind(&w));
        }
        // Nine separate Events, then one combined Event whose count grows.
        for (i, w) in writes.iter().take(9).enumerate() {
            assert_eq!(w, &("create", format!("Created pod: web-{i}"), 1));
        }
        assert_eq!(
            writes[9],
            ("create", format!("{COMBINED_PREFIX}Created pod: web-9"), 1)
        );
        for (i, w) in writes.iter().enumerate().skip(10) {
            assert_eq!(
                w,
                &(
                    "patch",
                    format!("{COMBINED_PREFIX}Created pod: web-{i}"),
                    i32::try_from(i).unwrap() - 8
                )
            );
        }
        // After the interval, counting starts over.
        let later = at(20 + i64::try_from(AGGREGATE_INTERVAL.as_secs()).unwrap() + 1);
        assert_eq!(
            kind(&c.correlate(ev("web", "SuccessfulCreate", "Created pod: web-x"), later)),
            ("create", "Created pod: web-x".into(), 1)
        );
    }

    #[test]
    fn spam_filter_limits_events_per_object() {
        let mut c = Correlator::default();
        let written = (0..100)
            .filter(|i| {
                let reason = format!("Reason{i}");
                c.correlate(ev("web", &reason, "m"), at(0)) != Write::Skip
            })
            .count();
        assert_eq!(written, 25);
        // Other objects have their own budget.
        assert_ne!(c.correlate(ev("db", "Reason0", "m"), at(0)), Write::Skip);
        // One more after the refill time.
        let refill = i64::try_from(SPAM_REFILL.as_secs()).unwrap();
        assert_ne!(c.correlate(ev("web", "Late", "m"), at(refill)), Write::Skip);
        assert_eq!(
            c.correlate(ev("web", "Later", "m"), at(refill)),
            Write::Skip
        );
    }

    #[test]
    fn caches_stay_bounded() {
        let mut c = Correlator::default();
        for i in 0..(CACHE_ENTRIES * 2) {
            c.correlate(ev(&format!("o{i}"), "R", "m"), at(0));
        }
        assert!(c.seen.map.len() <= CACHE_ENTRIES);
        assert!(c.similar.map.len() <= CACHE_ENTRIES);
        assert!(c.spam.map.len() <= CACHE_ENTRIES);
    }
}
