//! Stress: 1,000,000 small requests on the pread backend with random strong
//! and weak cancels (and a few cancel-by-tag sweeps) racing completion.
//! Every request ends exactly once: the callback runs at most once, never
//! for a request whose strong cancel returned true, completions carry the
//! right bytes, and completed + cancelled accounts for every request.
//! `DS_STRESS_REQUESTS` overrides the count (e.g. for ThreadSanitizer runs).

mod common;

use common::{pattern, pread_queue, Rng, TempDir};
use ds_os_linux::{FileRef, Request};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

#[test]
fn million_requests_with_random_cancels() {
    let total: usize = std::env::var("DS_STRESS_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = TempDir::new("stress");
    let data: Arc<[u8]> = Arc::from(pattern(1 << 16, 21));
    let file = FileRef::open(dir.file("s", &data)).unwrap();
    let q = pread_queue(8192, 2);
    let calls: Arc<Vec<AtomicU8>> = Arc::new((0..total).map(|_| AtomicU8::new(0)).collect());
    let bad_bytes = Arc::new(AtomicU64::new(0));
    let mut cancelled_strong: Vec<u32> = Vec::new();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut recent = Vec::with_capacity(64);
    for i in 0..total {
        let off = rng.below((1 << 16) - 64);
        let (calls, data, bad) = (calls.clone(), data.clone(), bad_bytes.clone());
        let id = q
            .enqueue_blocking(
                Request::read(&file, off, 64)
                    .into_buffer(vec![0; 64])
                    .tag(i as u64 % 16)
                    .on_complete(move |c| {
                        if c.buffer.as_deref() != Some(&data[off as usize..off as usize + 64]) {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                        calls[i].fetch_add(1, Ordering::Relaxed);
                    }),
                None,
            )
            .unwrap();
        recent.push((i, id));
        if recent.len() == 64 {
            // Cancel a few of the last 64, some strongly, some weakly.
            for _ in 0..4 {
                let (idx, id) = recent[rng.below(64) as usize];
                if rng.below(2) == 0 {
                    if q.cancel_request(id) {
                        cancelled_strong.push(idx as u32);
                    }
                } else {
                    q.try_cancel(id);
                }
            }
            recent.clear();
        }
        if i % 200_000 == 199_999 {
            q.cancel_by_tag(0xF, (i as u64 / 200_000) % 16);
        }
    }
    q.wait_all(None).unwrap();
    let s = q.stats();
    assert_eq!(s.enqueued, total as u64);
    assert_eq!(s.failed, 0);
    assert_eq!(
        s.completed + s.cancelled,
        total as u64,
        "lost or duplicated: {s:?}"
    );
    assert_eq!(
        bad_bytes.load(Ordering::Relaxed),
        0,
        "wrong bytes delivered"
    );
    let mut ran = 0u64;
    for c in calls.iter() {
        let n = c.load(Ordering::Relaxed);
        assert!(n <= 1, "a callback ran {n} times");
        ran += u64::from(n);
    }
    for idx in &cancelled_strong {
        assert_eq!(
            calls[*idx as usize].load(Ordering::Relaxed),
            0,
            "callback after strong cancel"
        );
    }
    assert!(ran <= s.completed, "callbacks only for completed requests");
    assert!(s.cancelled >= cancelled_strong.len() as u64);
    assert!(s.cancelled > 0 && s.completed > 0, "{s:?}");
    assert_eq!(q.info().empty_slots, 8192, "every slot came back");
}
