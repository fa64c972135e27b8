//! Per-queue counters and a lock-free latency histogram.
//!
//! The histogram is log-linear: values below 16 ns get one bucket each;
//! above, each power of two is split into 16 equal sub-buckets, so a
//! reported percentile is within 1/16 (6.25 %) of the true value. Recording
//! is one relaxed `fetch_add`, so workers never contend on a lock for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Concurrent log-linear histogram of nanosecond values.
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn bucket(v: u64) -> usize {
        if v < SUB as u64 {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros();
        let sub = (v >> (exp - SUB_BITS)) as usize & (SUB - 1);
        (exp - SUB_BITS + 1) as usize * SUB + sub
    }

    /// Upper bound of a bucket's values.
    fn bucket_high(b: usize) -> u64 {
        if b < SUB {
            return b as u64;
        }
        let exp = (b / SUB) as u32 + SUB_BITS - 1;
        let sub = (b % SUB) as u64;
        let low = (1u64 << exp) | (sub << (exp - SUB_BITS));
        low.saturating_add((1u64 << (exp - SUB_BITS)) - 1)
    }

    pub(crate) fn record(&self, nanos: u64) {
        // Relaxed: a statistic; readers take a best-effort snapshot.
        self.counts[Self::bucket(nanos)].fetch_add(1, Ordering::Relaxed);
    }

    /// The value at quantile `q` (0..=1), or zero when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        let snapshot: Vec<u64> = self
            .counts
            .iter()
            // Relaxed: snapshot of a statistic.
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = snapshot.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in snapshot.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::bucket_high(b);
            }
        }
        Self::bucket_high(BUCKETS - 1)
    }
}

/// A counter on its own cache line: the enqueuing thread and the workers
/// update different counters, and must not invalidate each other's line.
#[repr(align(64))]
pub(crate) struct Padded(pub(crate) AtomicU64);

impl std::ops::Deref for Padded {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

/// Atomic counters of one queue.
pub(crate) struct Counters {
    pub(crate) enqueued: Padded,
    pub(crate) completed: Padded,
    pub(crate) failed: Padded,
    pub(crate) cancelled: Padded,
    pub(crate) bytes: Padded,
    pub(crate) latency: Histogram,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            enqueued: Padded(AtomicU64::new(0)),
            completed: Padded(AtomicU64::new(0)),
            failed: Padded(AtomicU64::new(0)),
            cancelled: Padded(AtomicU64::new(0)),
            bytes: Padded(AtomicU64::new(0)),
            latency: Histogram::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // Relaxed loads: counters are independent statistics.
        Stats {
            enqueued: self.enqueued.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            latency_p50: Duration::from_nanos(self.latency.quantile(0.50)),
            latency_p99: Duration::from_nanos(self.latency.quantile(0.99)),
        }
    }
}

/// A snapshot of a queue's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests accepted by `enqueue`.
    pub enqueued: u64,
    /// Requests that completed successfully.
    pub completed: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Requests that were cancelled.
    pub cancelled: u64,
    /// Bytes delivered to destinations by completed requests.
    pub bytes: u64,
    /// Median time from enqueue to completion or failure.
    pub latency_p50: Duration,
    /// 99th percentile of the same.
    pub latency_p99: Duration,
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..20_000u64).chain([1 << 30, u64::MAX / 3, u64::MAX]) {
            let b = Histogram::bucket(v);
            assert!(b >= last, "bucket order at {v}");
            last = b;
            let high = Histogram::bucket_high(b);
            assert!(high >= v, "{v} above its bucket bound {high}");
            assert!(high - v <= v / 16 + 1, "bucket of {v} too wide: {high}");
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.07, "p50 {p50}");
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.07, "p99 {p99}");
    }
}
