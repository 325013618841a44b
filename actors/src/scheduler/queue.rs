//! The queue of pods waiting to be scheduled, after Kubernetes' scheduling queue:
//!
//! - *active*: pods to try now, highest priority first, then in order of arrival (as
//!   Kubernetes' PrioritySort);
//! - *backoff*: pods that failed and wait out their [`Backoff`] before they are active
//!   again;
//! - *unschedulable*: pods that fit nowhere; they wait for a change in the cluster (a node
//!   added or changed, a bound pod gone: [`PodQueue::move_all_unschedulable`]), then go
//!   through backoff, or are retried after [`UNSCHEDULABLE_FLUSH`] regardless.
//!
//! A pod is in at most one of the three. Time is passed in, so this is a pure value that
//! tests drive without sleeping.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use super::backoff::Backoff;

/// How long a pod stays unschedulable without any cluster change before it is retried
/// anyway (Kubernetes: `podMaxInUnschedulablePodsDuration`, 5 minutes; shorter here
/// because Rudder does not see every kind of change that could make a pod fit).
pub const UNSCHEDULABLE_FLUSH: Duration = Duration::from_secs(60);

/// Pods waiting for a scheduling cycle, keyed by `namespace/name`.
#[derive(Debug, Default)]
pub struct PodQueue {
    /// `(priority, Reverse(arrival))`: the heap's top is the highest priority, earliest.
    active: BinaryHeap<(i32, Reverse<u64>, String)>,
    /// Active keys and the arrival number of their live heap entry (others are stale).
    in_active: HashMap<String, u64>,
    next_arrival: u64,
    priority: HashMap<String, i32>,
    waiting: BinaryHeap<Reverse<(Instant, String)>>,
    in_waiting: HashMap<String, Instant>,
    unschedulable: HashMap<String, Instant>,
    backoff: HashMap<String, Backoff>,
}

impl PodQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pending pod of `priority` was seen (added or changed): queue it unless it is
    /// already queued. A changed unschedulable pod is worth a new try (its spec may fit
    /// now).
    pub fn add(&mut self, key: &str, priority: i32, now: Instant) {
        self.priority.insert(key.to_owned(), priority);
        if self.in_active.contains_key(key) || self.in_waiting.contains_key(key) {
            return;
        }
        if self.unschedulable.remove(key).is_some() {
            self.requeue_after_backoff(key.to_owned(), now);
            return;
        }
        self.push_active(key.to_owned());
    }

    fn push_active(&mut self, key: String) {
        if self.in_active.contains_key(&key) {
            return;
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let priority = self.priority.get(&key).copied().unwrap_or(0);
        self.in_active.insert(key.clone(), arrival);
        self.active.push((priority, Reverse(arrival), key));
    }

    fn requeue_after_backoff(&mut self, key: String, now: Instant) {
        let at = self.backoff.get(&key).map_or(now, |b| b.ready_at(now));
        if at <= now {
            self.push_active(key);
        } else {
            self.in_waiting.insert(key.clone(), at);
            self.waiting.push(Reverse((at, key)));
        }
    }

    /// The pod is gone or bound: forget everything about it.
    pub fn remove(&mut self, key: &str) {
        // Its heap entries are skipped when they come up.
        self.in_active.remove(key);
        self.priority.remove(key);
        self.in_waiting.remove(key);
        self.unschedulable.remove(key);
        self.backoff.remove(key);
    }

    /// The next pod to try, after promoting pods whose wait is over.
    pub fn pop(&mut self, now: Instant) -> Option<String> {
        self.promote(now);
        while let Some((_, Reverse(arrival), key)) = self.active.pop() {
            if self.in_active.get(&key) == Some(&arrival) {
                self.in_active.remove(&key);
                return Some(key);
            }
        }
        None
    }

    /// Moves pods whose backoff or unschedulable flush time has passed to active.
    pub fn promote(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.waiting.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, key))) = self.waiting.pop() else {
                break;
            };
            // Skip entries that were removed or re-queued since.
            if self.in_waiting.get(&key) == Some(&at) {
                self.in_waiting.remove(&key);
                self.push_active(key);
            }
        }
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, &since)| now.saturating_duration_since(since) >= UNSCHEDULABLE_FLUSH)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.unschedulable.remove(&key);
            self.push_active(key);
        }
    }

    /// The cycle found no node for the pod: park it until the cluster changes.
    pub fn unschedulable(&mut self, key: &str, now: Instant) {
        let b = self.backoff.remove(key).unwrap_or_default().failed(now);
        self.backoff.insert(key.to_owned(), b);
        self.unschedulable.insert(key.to_owned(), now);
    }

    /// Binding failed for a transient reason: retry after backoff.
    pub fn retry(&mut self, key: &str, now: Instant) {
        let b = self.backoff.remove(key).unwrap_or_default().failed(now);
        self.backoff.insert(key.to_owned(), b);
        self.requeue_after_backoff(key.to_owned(), now);
    }

    /// Something changed that may let unschedulable pods fit: retry them all (after
    /// their backoff).
    pub fn move_all_unschedulable(&mut self, now: Instant) {
        let keys: Vec<String> = self.unschedulable.drain().map(|(k, _)| k).collect();
        for key in keys {
            self.requeue_after_backoff(key, now);
        }
    }

    /// When the next waiting pod becomes active, if any.
    pub fn next_due(&self) -> Option<Instant> {
        let backoff = self.waiting.peek().map(|Reverse((at, _))| *at);
        let flush = self
            .unschedulable
            .values()
            .min()
            .map(|&since| since + UNSCHEDULABLE_FLUSH);
        match (backoff, flush) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `(active, waiting in backoff, unschedulable)` counts.
    pub fn lens(&self) -> (usize, usize, usize) {
        (
            self.in_active.len(),
            self.in_waiting.len(),
            self.unschedulable.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn queue_transitions() {
        let t0 = Instant::now();
        // Each case: a script of steps and the pops expected at the end.
        type Step = fn(&mut PodQueue, Instant);
        let cases: Vec<(&str, Vec<Step>, Duration, Vec<&str>)> = vec![
            (
                "fifo",
                vec![|q, t| q.add("a", 0, t), |q, t| q.add("b", 0, t)],
                s(0),
                vec!["a", "b"],
            ),
            (
                "duplicates are dropped",
                vec![|q, t| q.add("a", 0, t), |q, t| q.add("a", 0, t)],
                s(0),
                vec!["a"],
            ),
            (
                "removed pods are not popped",
                vec![|q, t| q.add("a", 0, t), |q, _| q.remove("a")],
                s(0),
                vec![],
            ),
            (
                "unschedulable waits for a change",
                vec![|q, t| q.unschedulable("a", t)],
                s(5),
                vec![],
            ),
            (
                "a change moves it after its backoff",
                vec![|q, t| q.unschedulable("a", t), |q, t| {
                    q.move_all_unschedulable(t)
                }],
                s(1),
                vec!["a"],
            ),
            (
                "backoff not yet over",
                vec![|q, t| q.unschedulable("a", t), |q, t| {
                    q.move_all_unschedulable(t)
                }],
                Duration::from_millis(500),
                vec![],
            ),
            (
                "unschedulable pods are flushed eventually",
                vec![|q, t| q.unschedulable("a", t)],
                UNSCHEDULABLE_FLUSH,
                vec!["a"],
            ),
            (
                "retry doubles the wait",
                vec![|q, t| q.retry("a", t), |q, t| {
                    q.pop(t + s(1));
                    q.retry("a", t + s(1))
                }],
                s(2),
                vec![],
            ),
            (
                "retry after the doubled wait",
                vec![|q, t| q.retry("a", t), |q, t| {
                    q.pop(t + s(1));
                    q.retry("a", t + s(1))
                }],
                s(3),
                vec!["a"],
            ),
            (
                "an updated unschedulable pod goes through backoff",
                vec![|q, t| q.unschedulable("a", t), |q, t| {
                    q.add("a", 0, t + s(1))
                }],
                s(1),
                vec!["a"],
            ),
        ];
        for (name, steps, after, want) in cases {
            let mut q = PodQueue::new();
            for step in steps {
                step(&mut q, t0);
            }
            let mut got = Vec::new();
            while let Some(k) = q.pop(t0 + after) {
                got.push(k);
            }
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn priority_then_arrival() {
        let t0 = Instant::now();
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<(&str, i32)>, Vec<&str>)> = vec![
            (
                "same priority is fifo",
                vec![("a", 0), ("b", 0), ("c", 0)],
                vec!["a", "b", "c"],
            ),
            (
                "higher priority first",
                vec![("low", 1), ("high", 100), ("mid", 50)],
                vec!["high", "mid", "low"],
            ),
            (
                "negative priorities last",
                vec![("neg", -5), ("zero", 0)],
                vec!["zero", "neg"],
            ),
            (
                "ties keep arrival order",
                vec![("a", 10), ("b", 0), ("c", 10)],
                vec!["a", "c", "b"],
            ),
        ];
        for (name, adds, want) in cases {
            let mut q = PodQueue::new();
            for (k, p) in adds {
                q.add(k, p, t0);
            }
            let mut got = Vec::new();
            while let Some(k) = q.pop(t0) {
                got.push(k);
            }
            assert_eq!(got, want, "{name}");
        }
        // A removed pod's stale heap entry is skipped; re-adding queues it once.
        let mut q = PodQueue::new();
        q.add("a", 5, t0);
        q.remove("a");
        q.add("a", 1, t0);
        q.add("b", 3, t0);
        assert_eq!(q.pop(t0).as_deref(), Some("b"));
        assert_eq!(q.pop(t0).as_deref(), Some("a"));
        assert_eq!(q.pop(t0), None);
    }

    #[test]
    fn next_due_reports_the_earliest_wait() {
        let t0 = Instant::now();
        let mut q = PodQueue::new();
        assert_eq!(q.next_due(), None);
        q.retry("a", t0);
        q.unschedulable("b", t0);
        assert_eq!(q.next_due(), Some(t0 + s(1)));
        assert_eq!(q.lens(), (0, 1, 1));
    }
}
