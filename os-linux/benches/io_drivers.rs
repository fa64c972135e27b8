//! I/O driver benchmark (not a test): the queue on the io_uring backend
//! against the queue on the pread backend and against `fio`'s io_uring
//! engine, on the same file, block size and queue depth, in one run.
//!
//! Cells: 4 KiB and 64 KiB random reads at queue depth 1, 32 and 256, and
//! 1 MiB sequential reads at depth 8, each from the page cache and with
//! O_DIRECT. The queue runs closed-loop: `depth` requests in flight, each
//! completion callback enqueues the next one, for a fixed time. fio runs
//! one job (`--ioengine=io_uring --numjobs=1`, its defaults otherwise).
//! Destinations are 4 KiB-aligned so O_DIRECT reads land in place.
//!
//! Run: `cargo bench -p ds-os-linux --bench io_drivers` or
//! `scripts/bench_io.sh`. Environment: `DS_BENCH_SECS` (seconds per cell,
//! default 2), `DS_BENCH_FILE_MB` (default 1024), `DS_BENCH_DIR` (where
//! the file goes; O_DIRECT needs a file system that supports it),
//! `DS_BENCH_FIO` (fio binary, default `fio` on PATH; missing = column
//! left empty), `DS_BENCH_ONLY` (substring filter on cell names).

#![allow(unsafe_code)]

use ds_os_linux::aligned::AlignedBuf;
use ds_os_linux::{
    Backend, FileRef, PreadConfig, Queue, QueueBuilder, Request, UringConfig, UringStats,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy)]
struct Cell {
    direct: bool,
    block: usize,
    depth: usize,
    sequential: bool,
}

impl Cell {
    fn name(&self) -> String {
        format!(
            "{} {} {} qd{}",
            if self.direct { "direct" } else { "cache" },
            if self.sequential { "seq" } else { "rand" },
            human(self.block),
            self.depth
        )
    }
}

fn human(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{}M", bytes >> 20)
    } else {
        format!("{}K", bytes >> 10)
    }
}

/// What one engine achieved in one cell.
#[derive(Clone, Copy, Default)]
struct Rate {
    ops: f64,
    bytes: f64,
}

/// Shared state of a closed-loop run.
struct Loop {
    queue: Arc<Queue>,
    file: FileRef,
    cell: Cell,
    slots: u64,
    next: AtomicU64,
    done: AtomicU64,
    stop: AtomicBool,
    bufs: Vec<Mutex<AlignedBuf>>,
}

impl Loop {
    fn offset(&self, n: u64) -> u64 {
        let slot = if self.cell.sequential {
            n % self.slots
        } else {
            // splitmix64 of the request number: uniform, no shared state.
            let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % self.slots
        };
        slot * self.cell.block as u64
    }

    /// Enqueues the next read into buffer `b`; its callback does the same.
    fn issue(self: &Arc<Self>, b: usize) {
        if self.stop.load(Ordering::Relaxed) {
            return;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let len = self.cell.block;
        let ptr = self.bufs[b].lock().unwrap().as_mut_ptr();
        let me = self.clone();
        // SAFETY: buffer `b` is used by one request at a time (the next one
        // is issued from this one's callback, after it ended) and lives in
        // `bufs` until the run has drained (`wait_all`).
        let req =
            unsafe { Request::read(&self.file, self.offset(n), len as u64).into_raw(ptr, len) };
        let req = req.on_complete(move |c| {
            assert!(c.result().is_ok(), "{:?}", c.outcome);
            me.done.fetch_add(1, Ordering::Relaxed);
            me.issue(b);
        });
        if self.queue.enqueue(req).is_ok() {
            self.queue.submit();
        }
    }
}

fn run_queue(queue: Queue, file: &FileRef, cell: Cell, file_len: u64, secs: f64) -> Rate {
    let queue = Arc::new(queue);
    let lp = Arc::new(Loop {
        queue: queue.clone(),
        file: file.clone(),
        cell,
        slots: file_len / cell.block as u64,
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        bufs: (0..cell.depth)
            .map(|_| Mutex::new(AlignedBuf::zeroed(cell.block, 4096).unwrap()))
            .collect(),
    });
    // Warm-up, then the measured window.
    for b in 0..cell.depth {
        lp.issue(b);
    }
    std::thread::sleep(Duration::from_secs_f64((secs / 8.0).min(0.5)));
    let (d0, t0) = (lp.done.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (d1, t1) = (lp.done.load(Ordering::Relaxed), Instant::now());
    lp.stop.store(true, Ordering::Relaxed);
    queue.wait_all(None).unwrap();
    let ops = (d1 - d0) as f64 / (t1 - t0).as_secs_f64();
    Rate {
        ops,
        bytes: ops * cell.block as f64,
    }
}

fn fio(bin: &str, path: &Path, cell: Cell, file_len: u64, secs: f64) -> Option<Rate> {
    let out = Command::new(bin)
        .args([
            "--name=ds",
            &format!("--filename={}", path.display()),
            "--ioengine=io_uring",
            &format!("--rw={}", if cell.sequential { "read" } else { "randread" }),
            &format!("--bs={}", cell.block),
            &format!("--iodepth={}", cell.depth),
            &format!("--direct={}", u8::from(cell.direct)),
            &format!("--size={file_len}"),
            "--numjobs=1",
            "--time_based",
            &format!("--runtime={}ms", (secs * 1000.0) as u64),
            &format!("--ramp_time={}ms", ((secs / 8.0).min(0.5) * 1000.0) as u64),
            "--norandommap",
            "--randrepeat=0",
            "--invalidate=0",
            "--output-format=json",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "fio failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let read = &text[text.find("\"read\"")?..];
    let num = |key: &str| -> Option<f64> {
        let at = read.find(key)? + key.len();
        let rest = read[at..].trim_start_matches([' ', ':']);
        let end = rest.find([',', '\n', '}'])?;
        rest[..end].trim().parse().ok()
    };
    Some(Rate {
        ops: num("\"iops\"")?,
        bytes: num("\"bw_bytes\"")?,
    })
}

fn make_file(dir: &Path, len: u64) -> PathBuf {
    let path = dir.join(format!("ds-io-bench-{}.bin", len >> 20));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == len) {
        return path;
    }
    let mut chunk = vec![0u8; 1 << 20];
    let mut x = 0x1234_5678_9ABC_DEF1u64;
    let mut f = std::fs::File::create(&path).unwrap();
    for _ in 0..len >> 20 {
        for b in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        std::io::Write::write_all(&mut f, &chunk).unwrap();
    }
    f.sync_all().unwrap();
    path
}

fn warm_cache(path: &Path) {
    let f = FileRef::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while let Ok(n) = rustix::io::pread(&f, &mut buf, off) {
        if n == 0 {
            break;
        }
        off += n as u64;
    }
}

fn main() {
    let secs = env_num("DS_BENCH_SECS", 2.0);
    let file_len = (env_num("DS_BENCH_FILE_MB", 1024.0) as u64) << 20;
    let dir = std::env::var_os("DS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let fio_bin = std::env::var("DS_BENCH_FIO").unwrap_or_else(|_| "fio".into());
    let only = std::env::var("DS_BENCH_ONLY").ok();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let path = make_file(&dir, file_len);
    warm_cache(&path);
    let fio_version = Command::new(&fio_bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    println!(
        "ds-os-linux I/O driver benchmark: {cores} cores, file {} MiB at {}, {secs} s per cell, fio: {}",
        file_len >> 20,
        path.display(),
        fio_version.as_deref().unwrap_or("not found")
    );
    println!(
        "pread backend: {cores} threads; io_uring backend: {} rings of depth 256\n",
        UringConfig::default().rings
    );
    let mut cells = Vec::new();
    for direct in [false, true] {
        for block in [4 << 10, 64 << 10] {
            for depth in [1, 32, 256] {
                cells.push(Cell {
                    direct,
                    block,
                    depth,
                    sequential: false,
                });
            }
        }
        cells.push(Cell {
            direct,
            block: 1 << 20,
            depth: 8,
            sequential: true,
        });
    }
    println!(
        "| cell | pread MB/s (kIOPS) | io_uring MB/s (kIOPS) | fio io_uring MB/s (kIOPS) | io_uring / pread | io_uring / fio | io_uring_enter per SQE |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let file = FileRef::open(&path).unwrap();
    for cell in cells {
        let name = cell.name();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        // The pread backend reads O_DIRECT through a descriptor opened so.
        let pread_file = if cell.direct {
            let fd = rustix::fs::open(
                &path,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECT,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            FileRef::from_fd(fd, Some(&path))
        } else {
            file.clone()
        };
        let pread = run_queue(
            QueueBuilder::new()
                .capacity(1024)
                .backend(Backend::Pread(PreadConfig { threads: cores }))
                .build()
                .unwrap(),
            &pread_file,
            cell,
            file_len,
            secs,
        );
        let stats = UringStats::default();
        let uring = run_queue(
            QueueBuilder::new()
                .capacity(1024)
                .backend(Backend::IoUring(UringConfig {
                    direct: cell.direct,
                    stats: stats.clone(),
                    ..UringConfig::default()
                }))
                .build()
                .unwrap(),
            &file,
            cell,
            file_len,
            secs,
        );
        let s = stats.snapshot();
        let fio = fio_version
            .as_ref()
            .and_then(|_| fio(&fio_bin, &path, cell, file_len, secs));
        let show = |r: Rate| format!("{:.0} ({:.1})", r.bytes / 1e6, r.ops / 1e3);
        println!(
            "| {name} | {} | {} | {} | {:.2}x | {} | {:.3} |",
            show(pread),
            show(uring),
            fio.map_or_else(|| "-".into(), show),
            uring.ops / pread.ops,
            fio.map_or_else(|| "-".into(), |f| format!("{:.2}x", uring.ops / f.ops)),
            s.enters as f64 / s.sqes.max(1) as f64,
        );
    }
}
