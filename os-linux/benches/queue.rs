//! Request-runtime benchmark (not a test): the queue on the pread backend
//! (1 worker and one per core) and on the io_uring backend (1 ring and one
//! per core) against a plain single-threaded `pread` loop over the same
//! file and offsets, measured in the same run, with ratios.
//!
//! * 4 KiB random reads from the page cache: requests per second at depth
//!   (many requests in flight), and round-trip latency p50/p99 at depth 1
//!   (enqueue + submit + wait vs one pread call);
//! * 1 MiB sequential reads: GB/s;
//! * for each, the CPU time the process spent per request (all threads),
//!   which other load on the machine moves much less than throughput.
//!
//! Run: `cargo bench -p ds-os-linux --bench queue` (results in
//! docs/benchmarks.md, section "Request runtime"). `DS_BENCH_SCALE=0.1`
//! shortens it.

mod support;

use support::process_cpu;

use ds_os_linux::{Backend, FileRef, PreadConfig, Queue, QueueBuilder, Request, UringConfig};
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const FILE_SIZE: u64 = 256 << 20;
/// Requests in flight (and destination buffers) for 4 KiB and 1 MiB reads.
const WINDOW_4K: usize = 2048;
const WINDOW_1M: usize = 64;
/// Measurement rounds (baseline and queue back to back in each).
const ROUNDS: usize = 3;

fn scale() -> f64 {
    std::env::var("DS_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0)
}

fn offsets(n: usize, block: u64, random: bool) -> Vec<u64> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let slots = FILE_SIZE / block;
    (0..n as u64)
        .map(|i| {
            if random {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % slots) * block
            } else {
                (i % slots) * block
            }
        })
        .collect()
}

fn percentile(sorted: &[u64], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Duration::from_nanos(sorted[i])
}

/// The baseline: one thread, one `pread` per block, into `window` distinct
/// destination buffers in turn (the same memory footprint as the queue's
/// in-flight window, so both copy into equally cold memory).
fn pread_loop(file: &FileRef, offs: &[u64], block: usize, window: usize) -> (Duration, Vec<u64>) {
    let mut bufs: Vec<Vec<u8>> = (0..window).map(|_| vec![1u8; block]).collect();
    let mut lat = Vec::with_capacity(offs.len());
    let t0 = Instant::now();
    for (i, &o) in offs.iter().enumerate() {
        let buf = &mut bufs[i % window];
        let t = Instant::now();
        let n = rustix::io::pread(file.as_fd(), &mut buf[..], o).unwrap();
        assert_eq!(n, block);
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let total = t0.elapsed();
    lat.sort_unstable();
    (total, lat)
}

/// A queue configuration under test.
#[derive(Clone, Copy)]
enum Exec {
    /// The pread backend with this many workers.
    Pread(usize),
    /// The io_uring backend with this many rings.
    Uring(usize),
}

impl Exec {
    fn label(self) -> String {
        match self {
            Exec::Pread(1) => "pread, 1 worker".into(),
            Exec::Pread(n) => format!("pread, {n} workers"),
            Exec::Uring(1) => "io_uring, 1 ring".into(),
            Exec::Uring(n) => format!("io_uring, {n} rings"),
        }
    }

    fn queue(self) -> Queue {
        let backend = match self {
            Exec::Pread(threads) => Backend::Pread(PreadConfig { threads }),
            Exec::Uring(rings) => Backend::IoUring(UringConfig {
                rings,
                ..UringConfig::default()
            }),
        };
        QueueBuilder::new()
            .capacity(8192)
            .backend(backend)
            .build()
            .unwrap()
    }
}

/// Runs `f`, returning its result and the process CPU time per request
/// (`n` requests) in microseconds.
fn cpu_per_request<T>(n: usize, f: impl FnOnce() -> T) -> (T, f64) {
    let c0 = process_cpu();
    let out = f();
    let us = (process_cpu() - c0).as_secs_f64() * 1e6 / n.max(1) as f64;
    (out, us)
}

/// Buffers owned by in-flight requests and recycled by their callbacks:
/// at most `window` requests are in flight (bounded memory, as a game's
/// streaming budget). The producer is woken when an eighth came back.
struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    cv: Condvar,
    low_water: usize,
}

impl Pool {
    fn new(window: usize, block: usize) -> Arc<Pool> {
        Arc::new(Pool {
            // Touched up front so no page faults are measured.
            free: Mutex::new((0..window).map(|_| vec![1u8; block]).collect()),
            cv: Condvar::new(),
            low_water: (window / 8).max(1),
        })
    }

    /// A free buffer; `before_wait` runs (unlocked) before sleeping, to
    /// submit what was enqueued so buffers can come back.
    fn get(&self, before_wait: impl Fn()) -> Vec<u8> {
        loop {
            if let Some(b) = self.free.lock().unwrap().pop() {
                return b;
            }
            before_wait();
            let mut free = self.free.lock().unwrap();
            while free.is_empty() {
                free = self.cv.wait(free).unwrap();
            }
        }
    }

    fn put(&self, b: Vec<u8>) {
        let mut free = self.free.lock().unwrap();
        free.push(b);
        if free.len() == self.low_water {
            self.cv.notify_one();
        }
    }
}

/// Many requests in flight, up to `window`.
fn queue_depth(q: &Queue, file: &FileRef, offs: &[u64], block: usize, window: usize) -> Duration {
    let pool = Pool::new(window, block);
    let t0 = Instant::now();
    for &o in offs {
        let buf = pool.get(|| q.submit());
        let back = pool.clone();
        q.enqueue_blocking(
            Request::read(file, o, block as u64)
                .into_buffer(buf)
                .on_complete(move |c| {
                    if let Some(b) = c.buffer {
                        back.put(b);
                    }
                }),
            None,
        )
        .unwrap();
    }
    q.wait_all(None).unwrap();
    t0.elapsed()
}

/// Depth 1: enqueue, submit, wait, one at a time.
fn queue_qd1(q: &Queue, file: &FileRef, offs: &[u64], block: usize) -> Vec<u64> {
    let mut buf = vec![0u8; block];
    let mut lat = Vec::with_capacity(offs.len());
    for &o in offs {
        let t = Instant::now();
        let id = q
            .enqueue(Request::read(file, o, block as u64).into_buffer(buf))
            .unwrap();
        q.submit();
        let c = q.wait(id, None).unwrap();
        lat.push(t.elapsed().as_nanos() as u64);
        buf = c.buffer.unwrap();
    }
    lat.sort_unstable();
    lat
}

fn main() {
    let s = scale();
    let dir = std::env::temp_dir().join(format!("ds-queue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data.bin");
    {
        let mut data = vec![0u8; FILE_SIZE as usize];
        let mut x = 1u64;
        for chunk in data.chunks_mut(8) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(&path, &data).unwrap();
    }
    let file = FileRef::open(&path).unwrap();
    // Warm the page cache.
    let _ = pread_loop(
        &file,
        &offsets((FILE_SIZE >> 20) as usize, 1 << 20, false),
        1 << 20,
        1,
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ds-os-linux queue benchmark: {cores} cores, file {} MiB in page cache",
        FILE_SIZE >> 20
    );

    let many = cores.clamp(2, ds_os_linux::uring::DEFAULT_MAX_RINGS);
    let execs = [
        Exec::Pread(1),
        Exec::Pread(many),
        Exec::Uring(1),
        Exec::Uring(many),
    ];
    let n4 = (400_000.0 * s) as usize;
    let offs4 = offsets(n4, 4096, true);
    let n1m = (4096.0 * s) as usize;
    let offs1m = offsets(n1m, 1 << 20, false);
    let gb = (n1m as f64) * (1u64 << 20) as f64 / 1e9;
    // Each round measures the baseline and the queue back to back, so a
    // ratio compares runs under the same machine load; the summary gives
    // the median over rounds.
    let mut ratios4: Vec<Vec<f64>> = vec![Vec::new(); execs.len()];
    let mut ratios1m: Vec<Vec<f64>> = vec![Vec::new(); execs.len()];
    let mut cpu4: Vec<Vec<f64>> = vec![Vec::new(); execs.len() + 1];
    for round in 1..=ROUNDS {
        println!("\nround {round}/{ROUNDS}");
        println!("4 KiB random reads, {n4} requests, {WINDOW_4K} destination buffers");
        let ((base_t, base_lat), base_cpu) =
            cpu_per_request(n4, || pread_loop(&file, &offs4, 4096, WINDOW_4K));
        cpu4[0].push(base_cpu);
        let base_rps = n4 as f64 / base_t.as_secs_f64();
        println!(
            "  pread loop (1 thread)        {:>10.0} req/s                  CPU {base_cpu:>5.2} us/req   per-call p50 {:>8.2?} p99 {:>8.2?}",
            base_rps,
            percentile(&base_lat, 0.5),
            percentile(&base_lat, 0.99)
        );
        for (k, &exec) in execs.iter().enumerate() {
            let q = exec.queue();
            let (t, cpu) = cpu_per_request(n4, || queue_depth(&q, &file, &offs4, 4096, WINDOW_4K));
            cpu4[k + 1].push(cpu);
            let st = q.stats();
            let rps = n4 as f64 / t.as_secs_f64();
            ratios4[k].push(rps / base_rps);
            println!(
                "  {:<28} {:>10.0} req/s   ratio {:>5.2}x   CPU {cpu:>5.2} us/req   (enqueue->end p50 {:>8.2?} p99 {:>8.2?}, {WINDOW_4K} in flight)",
                exec.label(),
                rps,
                rps / base_rps,
                st.latency_p50,
                st.latency_p99
            );
        }
        let nq1 = (50_000.0 * s) as usize;
        for exec in [Exec::Pread(many), Exec::Uring(many)] {
            let q = exec.queue();
            let lat = queue_qd1(&q, &file, &offs4[..nq1], 4096);
            let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
            println!(
                "  depth-1 round trip, {:<18} p50 {:>8.2?} p99 {:>8.2?}   ({:.1}x / {:.1}x a pread call)",
                exec.label(),
                p50,
                p99,
                p50.as_secs_f64() / percentile(&base_lat, 0.5).as_secs_f64(),
                p99.as_secs_f64() / percentile(&base_lat, 0.99).as_secs_f64()
            );
        }

        println!(
            "1 MiB sequential reads, {n1m} requests ({gb:.1} GB), {WINDOW_1M} destination buffers"
        );
        let (base_t, _) = pread_loop(&file, &offs1m, 1 << 20, WINDOW_1M);
        let base_gbs = gb / base_t.as_secs_f64();
        println!("  pread loop (1 thread)        {base_gbs:>8.2} GB/s");
        for (k, &exec) in execs.iter().enumerate() {
            let q = exec.queue();
            let t = queue_depth(&q, &file, &offs1m, 1 << 20, WINDOW_1M);
            let gbs = gb / t.as_secs_f64();
            ratios1m[k].push(gbs / base_gbs);
            println!(
                "  {:<28} {gbs:>8.2} GB/s   ratio {:>5.2}x",
                exec.label(),
                gbs / base_gbs
            );
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "\nmedians over {ROUNDS} rounds: ratio to the pread loop (4 KiB req/s, 1 MiB GB/s), CPU us per 4 KiB request (pread loop: {:.2})",
        median(&mut cpu4[0])
    );
    for (k, &exec) in execs.iter().enumerate() {
        println!(
            "  {:<28} 4 KiB {:.2}x, 1 MiB {:.2}x, CPU {:.2} us/req",
            exec.label(),
            median(&mut ratios4[k]),
            median(&mut ratios1m[k]),
            median(&mut cpu4[k + 1])
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
