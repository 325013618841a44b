//! Lock-free counters that hot paths keep and metrics read when scraped: a link's frames
//! and bytes each way and the round trips of its requests ([`LinkStats`]), and a latency
//! distribution in fixed buckets ([`LatencyCounts`]). Each event is a few relaxed atomic
//! additions; nothing here allocates or locks. Reading a snapshot while events land may
//! see a count one event ahead of a sum: fine for monitoring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of [`LatencyCounts`]' buckets; a last, unbounded bucket follows.
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// A latency distribution: a count per bucket, the sum and the count.
#[derive(Debug, Default)]
pub struct LatencyCounts {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl LatencyCounts {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// `(upper bound, count in that bucket)` per bucket, not cumulative; the last bound
    /// is `f64::MAX` (the `+Inf` bucket). Their sum is the count to report with them (an
    /// observation landing between two reads would otherwise make the two disagree).
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        LATENCY_BOUNDS
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(self.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect()
    }
}

/// What one link carried.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Frames written to the peer.
    pub frames_sent: AtomicU64,
    /// Bytes written to the peer (length prefixes included).
    pub bytes_sent: AtomicU64,
    /// Frames read from the peer.
    pub frames_received: AtomicU64,
    /// Bytes read from the peer (length prefixes included).
    pub bytes_received: AtomicU64,
    /// Round trips of the requests sent on the link (send to reply).
    pub round_trips: LatencyCounts,
}

impl LinkStats {
    /// Counts one frame of `bytes` written.
    #[inline]
    pub fn sent(&self, bytes: usize) {
        self.frames_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts one frame of `bytes` read.
    #[inline]
    pub fn received(&self, bytes: usize) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket() {
        let c = LatencyCounts::default();
        let cases = [
            ("below the first bound", Duration::from_micros(10), 0),
            ("on a bound", Duration::from_millis(1), 4),
            (
                "past every bound",
                Duration::from_secs(60),
                LATENCY_BOUNDS.len(),
            ),
        ];
        for (name, d, want) in cases {
            let before = c.buckets()[want].1;
            c.observe(d);
            assert_eq!(c.buckets()[want].1, before + 1, "{name}");
        }
        assert_eq!(c.count(), 3);
        assert!((c.sum_seconds() - 60.00101).abs() < 1e-6);
        assert_eq!(c.buckets().last().map(|b| b.0), Some(f64::MAX));
    }
}
