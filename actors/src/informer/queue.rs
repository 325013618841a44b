//! [`WorkQueue`]: the queue between informers and reconcilers, with client-go's rules.
//!
//! - A key waiting in the queue is there once, however often it was added.
//! - A key being processed is never handed to a second worker; added again meanwhile, it
//!   comes back once the first worker calls [`WorkQueue::done`].
//! - Keys can be added after a delay, or after a per-key exponential back-off
//!   ([`WorkQueue::add_rate_limited`], reset by [`WorkQueue::forget`]).
//! - A named queue ([`WorkQueue::named`]) reports client-go's `workqueue_*` metrics under
//!   its name: depth, adds, retries, time queued and time being processed.

use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Back-off of [`WorkQueue::add_rate_limited`]: `base * 2^failures`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// client-go's default controller rate limiter: 5 ms doubling to 1000 s.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_secs(1000),
        }
    }
}

impl Backoff {
    /// The delay after `failures` earlier failures.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// A de-duplicating, delay-capable work queue. Cheap to clone; clones share the queue.
pub struct WorkQueue<T> {
    inner: Arc<Shared<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue {
            inner: self.inner.clone(),
        }
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
    notify: Notify,
    backoff: Backoff,
}

struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    /// When each delayed key is due (the earliest asked for).
    waiting: HashMap<T, Instant>,
    /// Due times in order; entries whose time no longer matches `waiting` are stale.
    heap: BinaryHeap<Due<T>>,
    failures: HashMap<T, u32>,
    shut_down: bool,
    /// The metrics of a named queue, and when each key was queued and taken.
    metrics: Option<QueueTimes<T>>,
}

struct QueueTimes<T> {
    handles: crate::telemetry::components::QueueMetrics,
    queued: HashMap<T, Instant>,
    taken: HashMap<T, Instant>,
}

struct Due<T> {
    at: Instant,
    key: T,
}

impl<T> PartialEq for Due<T> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl<T> Eq for Due<T> {}
impl<T> PartialOrd for Due<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Due<T> {
    // Reversed: the heap pops the earliest first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}

impl<T: Clone + Eq + Hash> State<T> {
    fn add(&mut self, key: T) -> bool {
        if self.shut_down || self.dirty.contains(&key) {
            return false;
        }
        self.dirty.insert(key.clone());
        if let Some(m) = &mut self.metrics {
            if crate::telemetry::enabled() {
                m.handles.adds.inc();
                m.queued.entry(key.clone()).or_insert_with(Instant::now);
            }
        }
        if self.processing.contains(&key) {
            return false;
        }
        self.queue.push_back(key);
        self.report_depth();
        true
    }

    fn report_depth(&self) {
        if let Some(m) = &self.metrics {
            m.handles
                .depth
                .set(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
        }
    }

    /// `key` was taken by a worker.
    fn taken(&mut self, key: &T) {
        self.report_depth();
        if let Some(m) = &mut self.metrics {
            let now = Instant::now();
            if let Some(at) = m.queued.remove(key) {
                m.handles
                    .queue_duration
                    .observe(now.saturating_duration_since(at).as_secs_f64());
            }
            if crate::telemetry::enabled() {
                m.taken.insert(key.clone(), now);
            }
        }
    }

    /// A worker is done with `key`.
    fn finished(&mut self, key: &T) {
        if let Some(m) = &mut self.metrics {
            if let Some(at) = m.taken.remove(key) {
                m.handles.work_duration.observe(at.elapsed().as_secs_f64());
            }
        }
    }

    /// Moves due delayed keys into the queue; returns when the next one is due.
    fn promote(&mut self, now: Instant) -> (bool, Option<Instant>) {
        let mut added = false;
        while let Some(top) = self.heap.peek() {
            if top.at > now {
                return (added, Some(top.at));
            }
            let Due { at, key } = self.heap.pop().expect("peeked above");
            if self.waiting.get(&key) == Some(&at) {
                self.waiting.remove(&key);
                added |= self.add(key);
            }
        }
        (added, None)
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<T> {
    fn default() -> Self {
        Self::new(Backoff::default())
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> WorkQueue<T> {
    /// An empty queue reporting `workqueue_*` metrics as `name` (the controller's), with
    /// client-go's default back-off.
    pub fn named(name: &str) -> Self {
        let q = Self::new(Backoff::default());
        q.state().metrics = Some(QueueTimes {
            handles: crate::telemetry::metrics().components.queue(name),
            queued: HashMap::new(),
            taken: HashMap::new(),
        });
        q
    }

    /// An empty queue whose rate-limited adds back off per `backoff`.
    pub fn new(backoff: Backoff) -> Self {
        WorkQueue {
            inner: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    waiting: HashMap::new(),
                    heap: BinaryHeap::new(),
                    failures: HashMap::new(),
                    shut_down: false,
                    metrics: None,
                }),
                notify: Notify::new(),
                backoff,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves consistent sets behind (each method
        // changes them in one step), so a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `key` now.
    pub fn add(&self, key: T) {
        if self.state().add(key) {
            self.inner.notify.notify_waiters();
        }
    }

    /// Adds `key` after `delay` (at once when zero). An earlier pending time wins.
    pub fn add_after(&self, key: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + delay;
        let mut st = self.state();
        if st.shut_down {
            return;
        }
        match st.waiting.get(&key) {
            Some(t) if *t <= at => return,
            _ => {}
        }
        st.waiting.insert(key.clone(), at);
        st.heap.push(Due { at, key });
        drop(st);
        // A worker sleeping until a later due time must recompute its wake-up.
        self.inner.notify.notify_waiters();
    }

    /// Adds `key` after its back-off, and lengthens the back-off for next time.
    pub fn add_rate_limited(&self, key: T) {
        let delay = {
            let mut st = self.state();
            let n = st.failures.entry(key.clone()).or_insert(0);
            let d = self.inner.backoff.delay(*n);
            *n = n.saturating_add(1);
            if let Some(m) = &st.metrics {
                if crate::telemetry::enabled() {
                    m.handles.retries.inc();
                }
            }
            d
        };
        self.add_after(key, delay);
    }

    /// How many times `key` was rate-limited since its last [`WorkQueue::forget`].
    pub fn failures(&self, key: &T) -> u32 {
        self.state().failures.get(key).copied().unwrap_or(0)
    }

    /// Resets `key`'s back-off (after a successful reconcile).
    pub fn forget(&self, key: &T) {
        self.state().failures.remove(key);
    }

    /// The next key to process; waits for one. `None` once the queue is shut down.
    /// Call [`WorkQueue::done`] when finished with it.
    pub async fn next(&self) -> Option<T> {
        loop {
            let notified = self.inner.notify.notified();
            let wake_at = {
                let mut st = self.state();
                if st.shut_down {
                    return None;
                }
                let (_, next_due) = st.promote(Instant::now());
                if let Some(key) = st.queue.pop_front() {
                    st.dirty.remove(&key);
                    st.processing.insert(key.clone());
                    st.taken(&key);
                    return Some(key);
                }
                next_due
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks `key` processed; if it was added meanwhile it is queued again.
    pub fn done(&self, key: &T) {
        let mut st = self.state();
        st.processing.remove(key);
        st.finished(key);
        if st.dirty.contains(key) {
            st.queue.push_back(key.clone());
            st.report_depth();
            drop(st);
            self.inner.notify.notify_waiters();
        }
    }

    /// Keys waiting now (not counting delayed or in-process ones).
    pub fn len(&self) -> usize {
        self.state().queue.len()
    }

    /// True when no key is waiting now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the queue: [`WorkQueue::next`] returns `None` from now on.
    pub fn shut_down(&self) {
        self.state().shut_down = true;
        self.inner.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn duplicates_collapse_while_waiting() {
        let q = WorkQueue::<&str>::default();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(q.next().await, Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_key_in_process_is_not_handed_out_twice() {
        let q = WorkQueue::<&str>::default();
        q.add("a");
        assert_eq!(q.next().await, Some("a"));
        q.add("a");
        assert!(q.is_empty(), "re-added while processing must wait for done");
        q.done(&"a");
        assert_eq!(q.len(), 1);
        assert_eq!(q.next().await, Some("a"));
        q.done(&"a");
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_keys_arrive_when_due_and_earliest_wins() {
        let q = WorkQueue::<&str>::default();
        q.add_after("late", Duration::from_secs(10));
        q.add_after("late", Duration::from_secs(2));
        q.add_after("later", Duration::from_secs(5));
        let start = Instant::now();
        assert_eq!(q.next().await, Some("late"));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(q.next().await, Some("later"));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_key_wakes_a_worker_sleeping_on_a_delay() {
        let q = WorkQueue::<&str>::default();
        q.add_after("slow", Duration::from_secs(60));
        let q2 = q.clone();
        let worker = tokio::spawn(async move { q2.next().await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        q.add("now");
        assert_eq!(worker.await.ok().flatten(), Some("now"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_secs(1),
        };
        let cases = [
            ("first failure", 0, 5),
            ("second", 1, 10),
            ("eighth", 7, 640),
            ("capped", 8, 1000),
            ("huge count", 200, 1000),
        ];
        for (name, n, ms) in cases {
            assert_eq!(b.delay(n), Duration::from_millis(ms), "{name}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_adds_back_off_until_forgotten() {
        let q = WorkQueue::<&str>::new(Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        });
        let start = Instant::now();
        q.add_rate_limited("k");
        assert_eq!(q.next().await, Some("k"));
        q.done(&"k");
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        q.add_rate_limited("k");
        assert_eq!(q.next().await, Some("k"));
        q.done(&"k");
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(q.failures(&"k"), 2);
        q.forget(&"k");
        assert_eq!(q.failures(&"k"), 0);
    }

    #[tokio::test]
    async fn shut_down_ends_next() {
        let q = WorkQueue::<u32>::default();
        q.add(1);
        q.shut_down();
        assert_eq!(q.next().await, None);
    }
}
