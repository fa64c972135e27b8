//! Waking executors (`docs/design.md`, "Waking executors"): the queue wakes
//! only the workers a request needs, so these tests check both directions.
//!
//! * Liveness: closed loops of several depths (each completion callback
//!   submits the next request) run next to bursts submitted from another
//!   thread, on several pread workers and on several io_uring rings; every
//!   request completes before a deadline (a lost wakeup would strand one).
//! * No hand-off per request: a depth-1 chain of callbacks stays on the
//!   worker (or ring) that runs it instead of moving to another thread.
//! * Spreading: a burst submitted while several workers sleep is shared
//!   among them (each takes its share), not taken whole by the first.

mod common;

use common::{pattern, pread_queue, TempDir};
use ds_core::DestinationKinds;
use ds_os_linux::{
    Backend, Driver, FileRef, Job, JobFeed, Queue, QueueBuilder, Request, UringConfig,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

const FILE_LEN: usize = 1 << 16;
const BLOCK: usize = 512;

fn uring_queue(rings: usize) -> Queue {
    QueueBuilder::new()
        .capacity(1024)
        .backend(Backend::IoUring(UringConfig {
            rings,
            ..UringConfig::default()
        }))
        .build()
        .unwrap()
}

fn backends() -> Vec<(&'static str, Queue)> {
    vec![
        ("pread", pread_queue(1024, 3)),
        ("io_uring", uring_queue(3)),
    ]
}

/// Requests for the liveness test (fewer under ThreadSanitizer, which sets
/// `DS_STRESS_REQUESTS`).
fn total_requests() -> u64 {
    std::env::var("DS_STRESS_REQUESTS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(12_000, |n| n.min(12_000))
}

/// A chain of reads: each completion checks its bytes and submits the next
/// read until `left` runs out.
struct Chain {
    queue: Arc<Queue>,
    file: FileRef,
    data: Arc<[u8]>,
    left: AtomicU64,
    done: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
}

impl Chain {
    fn issue(self: &Arc<Self>, n: u64) {
        if self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1))
            .is_err()
        {
            return;
        }
        let off = (n.wrapping_mul(7919) % (FILE_LEN / BLOCK) as u64) * BLOCK as u64;
        let me = self.clone();
        let req = Request::read(&self.file, off, BLOCK as u64)
            .into_buffer(vec![0; BLOCK])
            .on_complete(move |c| {
                let at = off as usize;
                if c.buffer.as_deref() != Some(&me.data[at..at + BLOCK]) {
                    me.bad.fetch_add(1, Ordering::Relaxed);
                }
                me.done.fetch_add(1, Ordering::Relaxed);
                me.issue(n + 1);
            });
        self.queue.enqueue(req).unwrap();
        self.queue.submit();
    }
}

#[test]
fn closed_loops_and_bursts_all_complete() {
    let dir = TempDir::new("wakeups");
    let data: Arc<[u8]> = Arc::from(pattern(FILE_LEN, 77));
    let file = FileRef::open(dir.file("f", &data)).unwrap();
    let total = total_requests();
    for (name, q) in backends() {
        let q = Arc::new(q);
        let done = Arc::new(AtomicU64::new(0));
        let bad = Arc::new(AtomicU64::new(0));
        // Chains at depth 1, 5 and 40 take half the requests, bursts of 32
        // from another thread the other half.
        let depths = [1u64, 5, 40];
        let per_depth = total / 2 / depths.len() as u64;
        let mut expected = 0;
        for &depth in &depths {
            let chain = Arc::new(Chain {
                queue: q.clone(),
                file: file.clone(),
                data: data.clone(),
                left: AtomicU64::new(per_depth),
                done: done.clone(),
                bad: bad.clone(),
            });
            expected += per_depth;
            for k in 0..depth {
                chain.issue(k * 1000);
            }
        }
        let bursts = total / 2 / 32;
        expected += bursts * 32;
        let producer = {
            let (q, file, data, done, bad) = (
                q.clone(),
                file.clone(),
                data.clone(),
                done.clone(),
                bad.clone(),
            );
            std::thread::spawn(move || {
                // Each burst is submitted at once and waited for, so the
                // workers go idle between bursts (and the chains' enqueues
                // never find the queue full).
                let finished = Arc::new(AtomicU64::new(0));
                for b in 0..bursts {
                    for i in 0..32u64 {
                        let off = ((b * 32 + i) % (FILE_LEN / BLOCK) as u64) * BLOCK as u64;
                        let (data, done, bad, finished) =
                            (data.clone(), done.clone(), bad.clone(), finished.clone());
                        let req = Request::read(&file, off, BLOCK as u64)
                            .into_buffer(vec![0; BLOCK])
                            .on_complete(move |c| {
                                let at = off as usize;
                                if c.buffer.as_deref() != Some(&data[at..at + BLOCK]) {
                                    bad.fetch_add(1, Ordering::Relaxed);
                                }
                                done.fetch_add(1, Ordering::Relaxed);
                                finished.fetch_add(1, Ordering::Relaxed);
                            });
                        q.enqueue(req).unwrap();
                    }
                    q.submit();
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while finished.load(Ordering::Relaxed) < (b + 1) * 32 {
                        assert!(Instant::now() < deadline, "burst {b} stalled");
                        std::thread::yield_now();
                    }
                }
            })
        };
        producer.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while done.load(Ordering::Relaxed) < expected {
            assert!(
                Instant::now() < deadline,
                "{name}: only {} of {expected} requests completed (a lost wakeup?)",
                done.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        q.wait_all(Some(Duration::from_secs(60))).unwrap();
        assert_eq!(bad.load(Ordering::Relaxed), 0, "{name}: wrong bytes");
        assert_eq!(done.load(Ordering::Relaxed), expected, "{name}");
        assert_eq!(q.stats().completed, expected, "{name}");
    }
}

/// Runs a depth-1 chain of `n` reads and returns the threads that ran the
/// callbacks, in order.
fn chain_threads(q: Queue, file: &FileRef, n: usize) -> Vec<ThreadId> {
    let q = Arc::new(q);
    let seen = Arc::new(Mutex::new(Vec::with_capacity(n)));
    fn step(q: &Arc<Queue>, file: &FileRef, seen: &Arc<Mutex<Vec<ThreadId>>>, left: usize) {
        if left == 0 {
            return;
        }
        let (q2, file2, seen2) = (q.clone(), file.clone(), seen.clone());
        let off = (left % (FILE_LEN / BLOCK)) as u64 * BLOCK as u64;
        q.enqueue(
            Request::read(file, off, BLOCK as u64)
                .into_buffer(vec![0; BLOCK])
                .on_complete(move |c| {
                    assert!(c.result().is_ok());
                    seen2.lock().unwrap().push(std::thread::current().id());
                    step(&q2, &file2, &seen2, left - 1);
                }),
        )
        .unwrap();
        q.submit();
    }
    step(&q, file, &seen, n);
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "chain stalled");
        std::thread::sleep(Duration::from_millis(1));
    }
    q.wait_all(None).unwrap();
    let v = seen.lock().unwrap().clone();
    v
}

#[test]
fn a_depth_one_chain_stays_on_its_worker() {
    let dir = TempDir::new("wakeups-chain");
    let file = FileRef::open(dir.file("f", &pattern(FILE_LEN, 5))).unwrap();
    let n = 2000;
    for (name, q) in [("pread", pread_queue(256, 4)), ("io_uring", uring_queue(4))] {
        let threads = chain_threads(q, &file, n);
        let moves = threads.windows(2).filter(|w| w[0] != w[1]).count();
        // Each callback's request is taken by the worker that ran the
        // callback; the other workers sleep and are not woken for it. (Only
        // a spurious futex wakeup could let another worker take one.)
        assert!(
            moves <= n / 50,
            "{name}: the chain moved between threads {moves} times in {n} requests"
        );
    }
}

/// A test executor whose worker threads record the size of every batch
/// they take (and complete each job at once).
struct Recorder {
    threads: usize,
    name: &'static str,
    batches: Arc<Mutex<Vec<usize>>>,
    workers: Vec<JoinHandle<()>>,
}

impl Driver for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::HOST_MEMORY
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        for i in 0..self.threads {
            let (feed, batches) = (feed.clone(), self.batches.clone());
            self.workers.push(
                std::thread::Builder::new()
                    .name(format!("{}{i}", self.name))
                    .spawn(move || {
                        let mut batch: Vec<Job> = Vec::new();
                        while feed.next_batch(&mut batch, 64) {
                            batches.lock().unwrap().push(batch.len());
                            for job in batch.drain(..) {
                                let n = job.desc().source.size();
                                job.complete(n);
                            }
                        }
                    })?,
            );
        }
        Ok(())
    }

    fn stop(&mut self) {
        for w in self.workers.drain(..) {
            w.join().unwrap();
        }
    }
}

/// Waits until every thread of this process whose name starts with
/// `prefix` is asleep (state S: the recorder's workers sleep only in
/// `next_batch`), and returns how many there are.
fn wait_asleep(prefix: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut asleep = 0;
        let mut found = 0;
        for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if !comm.trim_end().starts_with(prefix) {
                continue;
            }
            found += 1;
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // The state follows the parenthesised name.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if state == Some("S") {
                asleep += 1;
            }
        }
        if found == want && asleep == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{asleep} of {found} '{prefix}' threads asleep, {want} expected"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_burst_is_shared_among_sleeping_workers() {
    for (workers, jobs, most) in [(4usize, 4usize, 1usize), (4, 16, 4)] {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let name = "ds-spread-w";
        let q = QueueBuilder::new()
            .capacity(128)
            .backend(Backend::None)
            .executor(Box::new(Recorder {
                threads: workers,
                name,
                batches: batches.clone(),
                workers: Vec::new(),
            }))
            .build()
            .unwrap();
        wait_asleep(name, workers);
        let src: Arc<[u8]> = Arc::from(&[7u8; 64][..]);
        for _ in 0..jobs {
            q.enqueue(Request::read_memory(src.clone()).into_buffer(vec![0; 64]))
                .unwrap();
        }
        q.submit();
        q.wait_all(Some(Duration::from_secs(30))).unwrap();
        let b = batches.lock().unwrap().clone();
        assert_eq!(b.iter().sum::<usize>(), jobs);
        // Each worker takes the ready jobs divided among itself and the
        // workers still asleep, so no batch exceeds jobs / workers.
        assert!(
            b.iter().all(|&n| n <= most),
            "{jobs} jobs on {workers} sleeping workers were taken as batches {b:?}"
        );
        drop(q);
    }
}
