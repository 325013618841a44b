//! Per-pod scheduling backoff as a value: after the n-th failed attempt a pod waits
//! `1 s * 2^(n-1)`, at most 10 s (Kubernetes' `podInitialBackoffDuration` and
//! `podMaxBackoffDuration`). The scheduler's queue stores one per pending pod and asks it
//! when the pod may be tried again; nothing here sleeps.

use std::time::{Duration, Instant};

/// The wait after the first failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How often a pod failed to schedule, and when it last did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the last attempt failed.
    pub last_failure: Option<Instant>,
}

impl Backoff {
    /// The backoff after one more failure at `now`.
    pub fn failed(self, now: Instant) -> Self {
        Backoff {
            attempts: self.attempts.saturating_add(1),
            last_failure: Some(now),
        }
    }

    /// The wait after the last failure: zero before any failure, then doubling from
    /// [`INITIAL_BACKOFF`] up to [`MAX_BACKOFF`].
    pub fn delay(&self) -> Duration {
        if self.attempts == 0 {
            return Duration::ZERO;
        }
        let shift = (self.attempts - 1).min(16);
        INITIAL_BACKOFF
            .saturating_mul(1u32 << shift)
            .min(MAX_BACKOFF)
    }

    /// When the pod may be tried again (now, if it never failed).
    pub fn ready_at(&self, now: Instant) -> Instant {
        match self.last_failure {
            Some(t) => t + self.delay(),
            None => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let cases = [
            ("never failed", 0, 0),
            ("first failure", 1, 1),
            ("second", 2, 2),
            ("third", 3, 4),
            ("fourth", 4, 8),
            ("fifth is capped", 5, 10),
            ("far beyond", 1000, 10),
        ];
        for (name, attempts, secs) in cases {
            let b = Backoff {
                attempts,
                last_failure: None,
            };
            assert_eq!(b.delay(), Duration::from_secs(secs), "{name}");
        }
    }

    #[test]
    fn ready_at_follows_the_last_failure() {
        let t0 = Instant::now();
        let b = Backoff::default();
        assert_eq!(b.ready_at(t0), t0, "fresh pods are ready now");
        let b = b.failed(t0).failed(t0 + Duration::from_secs(1));
        assert_eq!(b.attempts, 2);
        assert_eq!(b.ready_at(t0), t0 + Duration::from_secs(3));
    }
}
