//! Per-queue counters (sharded by thread) and a lock-free latency
//! histogram.
//!
//! The histogram is log-linear: values below 16 ns get one bucket each;
//! above, each power of two is split into 16 equal sub-buckets, so a
//! reported percentile is within 1/16 (6.25 %) of the true value. Recording
//! is one relaxed `fetch_add`, so workers never contend on a lock for it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    #[cfg(test)]
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        Self::quantile_of(&[self], q)
    }

    /// The value at quantile `q` (0..=1) of the histograms taken together,
    /// or zero when all are empty.
    pub(crate) fn quantile_of(parts: &[&Histogram], q: f64) -> u64 {
        let mut snapshot = vec![0u64; BUCKETS];
        for h in parts {
            for (sum, c) in snapshot.iter_mut().zip(h.counts.iter()) {
                // Relaxed: snapshot of a statistic.
                *sum += c.load(Ordering::Relaxed);
            }
        }
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

/// One shard of a queue's counters, on cache lines of its own.
#[repr(align(128))]
pub(crate) struct Shard {
    pub(crate) enqueued: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) latency: Histogram,
}

impl Shard {
    fn new() -> Self {
        Shard {
            enqueued: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            latency: Histogram::new(),
        }
    }
}

/// Most shards a queue's counters have.
const MAX_SHARDS: usize = 16;

/// Counter shard of each thread: threads are numbered in order of their
/// first update, so up to `MAX_SHARDS` threads never share a shard.
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // Relaxed: only has to hand out distinct numbers.
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

/// Atomic counters of one queue, sharded by thread: the enqueuing threads
/// and the workers each update their own shard (no cache line bounces
/// between cores on every request), and a snapshot adds the shards up.
pub(crate) struct Counters {
    shards: Box<[Shard]>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_SHARDS)
            .next_power_of_two();
        Counters {
            shards: (0..n).map(|_| Shard::new()).collect(),
        }
    }

    /// The calling thread's shard.
    pub(crate) fn mine(&self) -> &Shard {
        &self.shards[thread_number() & (self.shards.len() - 1)]
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // Relaxed loads: counters are independent statistics.
        let sum = |f: fn(&Shard) -> &AtomicU64| -> u64 {
            self.shards
                .iter()
                .map(|s| f(s).load(Ordering::Relaxed))
                .sum()
        };
        let latency: Vec<&Histogram> = self.shards.iter().map(|s| &s.latency).collect();
        Stats {
            enqueued: sum(|s| &s.enqueued),
            completed: sum(|s| &s.completed),
            failed: sum(|s| &s.failed),
            cancelled: sum(|s| &s.cancelled),
            bytes: sum(|s| &s.bytes),
            latency_p50: Duration::from_nanos(Histogram::quantile_of(&latency, 0.50)),
            latency_p99: Duration::from_nanos(Histogram::quantile_of(&latency, 0.99)),
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
