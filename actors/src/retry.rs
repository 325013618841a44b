//! Retrying without spinning: a failure counter over a back-off policy, and a limiter for
//! the log lines failures write.
//!
//! The rules every retry loop of a node keeps (kubelet, proxy, informers, bus, API
//! server's watch cache, controllers):
//!
//! - A failed attempt is followed by a delay that grows (doubling) up to a cap, and
//!   shrinks back only after a success. Delays are [`Backoff`] values
//!   ([`crate::informer::Backoff`]): a loop either sleeps between attempts of its own or,
//!   where it has other work (the kubelet's pod workers, the proxy), keeps the instant of
//!   its next attempt as a value and waits for the earliest of its timers.
//! - A failure that repeats writes its log line once, then at most one summary line per
//!   [`LogLimiter`] period per key, carrying how many lines it stands for. Kubernetes
//!   components log every retry (klog), relying on their back-offs; a node here hosts many
//!   loops per process, so the log also gets a limit of its own.
//!
//! [`Retry`] and [`LogLimiter`] run on `tokio::time`, so tests can pause and advance it.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::informer::Backoff;

/// How often a repeated failure writes a summary line by default.
pub const LOG_EVERY: Duration = Duration::from_secs(30);
/// Keys a [`LogLimiter`] tracks before it forgets quiet ones.
const MAX_KEYS: usize = 1024;

/// Consecutive failures of one loop, and the delay each one asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    policy: Backoff,
    failures: u32,
}

impl Retry {
    /// A loop that waits `base` after its first failure, doubling to `max`.
    pub const fn new(base: Duration, max: Duration) -> Retry {
        Retry {
            policy: Backoff { base, max },
            failures: 0,
        }
    }

    /// Counts one more failure; the delay before the next attempt.
    pub fn failed(&mut self) -> Duration {
        let delay = self.policy.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// Counts a success: the next failure waits `base` again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    logged_at: Instant,
    suppressed: u64,
}

/// Lets the first line of a repeated failure through, then one line per key at most
/// every period; each admitted line learns how many were held back before it.
///
/// A key is what makes two lines "the same failure" for the caller: a pod and the step
/// that failed, an informer's kind, a node port. The message is not part of it, so a
/// failure whose text varies (addresses, attempt numbers) is limited all the same; the
/// summary line carries the latest text.
#[derive(Debug)]
pub struct LogLimiter<K> {
    every: Duration,
    seen: HashMap<K, Seen>,
}

impl<K: Hash + Eq + Clone> Default for LogLimiter<K> {
    fn default() -> Self {
        LogLimiter::new(LOG_EVERY)
    }
}

impl<K: Hash + Eq + Clone> LogLimiter<K> {
    /// A limiter writing at most one line per key every `every`.
    pub fn new(every: Duration) -> Self {
        LogLimiter {
            every,
            seen: HashMap::new(),
        }
    }

    /// Whether to write the line for `key` now: `Some(n)` with the number of lines held
    /// back since the last one written, `None` to stay quiet.
    pub fn admit(&mut self, key: &K, now: Instant) -> Option<u64> {
        if let Some(s) = self.seen.get_mut(key) {
            if now.saturating_duration_since(s.logged_at) < self.every {
                s.suppressed = s.suppressed.saturating_add(1);
                return None;
            }
            let held = s.suppressed;
            *s = Seen {
                logged_at: now,
                suppressed: 0,
            };
            return Some(held);
        }
        if self.seen.len() >= MAX_KEYS {
            // Keys quiet for a whole period would be admitted anyway: forgetting them
            // loses at most their held-back count.
            let every = self.every;
            self.seen
                .retain(|_, s| now.saturating_duration_since(s.logged_at) < every);
            if self.seen.len() >= MAX_KEYS {
                self.seen.clear();
            }
        }
        self.seen.insert(
            key.clone(),
            Seen {
                logged_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }

    /// The failure of `key` is over: its next occurrence is written at once.
    pub fn clear(&mut self, key: &K) {
        self.seen.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_to_the_cap_and_reset() {
        let cases: [(&str, Duration, Duration, Vec<u64>); 2] = [
            (
                "1 s to 5 min",
                Duration::from_secs(1),
                Duration::from_secs(300),
                vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300],
            ),
            (
                "cap below the second step",
                Duration::from_secs(2),
                Duration::from_secs(3),
                vec![2, 3, 3],
            ),
        ];
        for (name, base, max, want) in cases {
            let mut r = Retry::new(base, max);
            let got: Vec<u64> = want.iter().map(|_| r.failed().as_secs()).collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(r.failures() as usize, want.len(), "{name}");
            r.succeeded();
            assert_eq!(r.failed(), base, "{name}: reset after a success");
        }
    }

    #[test]
    fn limiter_admits_the_first_then_one_per_period() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut l: LogLimiter<&str> = LogLimiter::new(Duration::from_secs(10));
        // (name, key, time in ms, want)
        let cases: [(&str, &str, u64, Option<u64>); 8] = [
            ("first line", "a", 0, Some(0)),
            ("repeat inside the period", "a", 1_000, None),
            ("another repeat", "a", 9_999, None),
            ("another key is independent", "b", 5_000, Some(0)),
            ("summary after the period", "a", 10_000, Some(2)),
            ("quiet again", "a", 10_001, None),
            ("b's period", "b", 14_999, None),
            ("next summary", "a", 20_000, Some(1)),
        ];
        for (name, key, ms, want) in cases {
            assert_eq!(l.admit(&key, at(ms)), want, "{name}");
        }
        l.clear(&"a");
        assert_eq!(
            l.admit(&"a", at(20_001)),
            Some(0),
            "cleared: written at once"
        );
    }

    #[test]
    fn limiter_stays_bounded() {
        let t0 = Instant::now();
        let mut l: LogLimiter<usize> = LogLimiter::new(Duration::from_secs(10));
        for k in 0..(MAX_KEYS * 3) {
            assert_eq!(l.admit(&k, t0), Some(0));
        }
        assert!(l.seen.len() <= MAX_KEYS);
        // Old quiet keys are forgotten first.
        let later = t0 + Duration::from_secs(11);
        assert_eq!(l.admit(&usize::MAX, later), Some(0));
        assert_eq!(l.seen.len(), 1);
    }
}
