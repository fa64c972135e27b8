//! Dropping a busy queue cancels everything, completes its ordering
//! commands, joins its worker threads and leaks nothing (every callback and
//! buffer dropped exactly once, no file handle kept). Alone in its test
//! binary so the thread count of the process is this test's own.

mod common;

use common::{pattern, pread_queue, TempDir};
use ds_os_linux::{Fence, FileRef, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts drops of a value captured by a callback.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn worker_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("ds-pread"))
        .count()
}

#[test]
fn drop_cancels_everything_joins_workers_and_leaks_nothing() {
    let dir = TempDir::new("drop");
    let data = pattern(1 << 20, 8);
    let file = FileRef::open(dir.file("f", &data)).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let fence = Fence::new(0);
    assert_eq!(worker_threads(), 0);
    {
        let q = pread_queue(4096, 3);
        // Threads name themselves once running.
        let t0 = std::time::Instant::now();
        while worker_threads() < 3 && t0.elapsed().as_secs() < 10 {
            std::thread::yield_now();
        }
        assert_eq!(worker_threads(), 3);
        for i in 0..3000u64 {
            let guard = DropCount(drops.clone());
            let calls = calls.clone();
            q.enqueue(
                Request::read(&file, (i * 333) % ((1 << 20) - 4096), 4096)
                    .into_buffer(vec![0; 4096])
                    .on_complete(move |_| {
                        let _keep = &guard;
                        calls.fetch_add(1, Ordering::SeqCst);
                    }),
            )
            .unwrap();
        }
        q.enqueue_signal(&fence, 7).unwrap();
        // Kept (uncollected) completions are released on drop as well.
        for _ in 0..10 {
            q.enqueue(Request::read(&file, 0, 10).into_buffer(vec![0; 10]))
                .unwrap();
        }
        q.submit();
        // What `Drop` does, called explicitly so the stats can be read.
        q.shutdown();
        assert_eq!(worker_threads(), 0, "workers joined");
        let s = q.stats();
        assert_eq!(
            s.completed + s.cancelled,
            3010,
            "every request ended: {s:?}"
        );
        assert_eq!(s.failed, 0);
        let callbacks = calls.load(Ordering::SeqCst) as u64;
        assert!(callbacks <= s.completed && s.completed <= callbacks + 10);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3000,
            "every callback dropped exactly once"
        );
    }
    assert_eq!(drops.load(Ordering::SeqCst), 3000);
    assert_eq!(fence.value(), 7, "ordering commands complete at shutdown");
    assert_eq!(file.handle_count(), 1, "no request still holds the file");
}
