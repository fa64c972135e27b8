//! I/O driver benchmark (not a test): the queue on the io_uring backend
//! against the queue on the pread backend and against `fio`'s io_uring
//! engine, on the same file, block size and total queue depth, in one run.
//!
//! Cells: 4 KiB and 64 KiB random reads at queue depth 1, 32 and 256, and
//! 1 MiB sequential reads at depth 8, each from the page cache and with
//! O_DIRECT. Destinations are 4 KiB-aligned so O_DIRECT reads land in place.
//!
//! Engines (every one keeps exactly `qd` reads outstanding in all):
//! * `pread`: the queue on the pread backend (one worker thread per core);
//! * `uring`: the queue on io_uring with its default rings (one per core,
//!   at most 16), 256 entries each;
//! * `fio-N`: fio's io_uring engine with as many jobs as `uring` has rings
//!   (fewer when `qd` is smaller), `qd / jobs` each, group reporting: the
//!   same total depth spread over the same number of submitting threads;
//! * `uring-1`: the queue on io_uring with one ring;
//! * `fio-1`: fio's io_uring engine, one job of depth `qd`.
//!
//! `uring` is compared with `fio-N` and `uring-1` with `fio-1`: same
//! threads, same total depth. The queue runs closed-loop: each completion
//! callback enqueues and submits the next request, so every request pays
//! the whole queue (enqueue, submit, executor, completion, callback); fio
//! refills each job's depth as completions arrive.
//!
//! Run: `cargo bench -p ds-os-linux --bench io_drivers` or
//! `scripts/bench_io.sh`. Environment: `DS_BENCH_SECS` (seconds per cell,
//! default 2), `DS_BENCH_FILE_MB` (default 1024), `DS_BENCH_DIR` (where
//! the file goes; O_DIRECT needs a file system that supports it),
//! `DS_BENCH_FIO` (fio binary, default `fio` on PATH; missing = columns
//! left empty), `DS_BENCH_ONLY` (substring filter on cell names),
//! `DS_BENCH_ENGINES` (comma list out of `pread,uring,fio,uring1,fio1`,
//! default all), `DS_BENCH_RINGS` (rings of `uring` and jobs of `fio-N`,
//! default one per core, at most 16).

#![allow(unsafe_code)]

mod support;

use support::process_cpu;

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
    /// CPU time of this process (all threads, user + system) per request,
    /// in microseconds; not measured for fio.
    cpu_us: Option<f64>,
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

fn warm_up_secs(secs: f64) -> f64 {
    (secs / 8.0).min(0.5)
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
    std::thread::sleep(Duration::from_secs_f64(warm_up_secs(secs)));
    let (d0, t0, c0) = (
        lp.done.load(Ordering::Relaxed),
        Instant::now(),
        process_cpu(),
    );
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (d1, t1, c1) = (
        lp.done.load(Ordering::Relaxed),
        Instant::now(),
        process_cpu(),
    );
    lp.stop.store(true, Ordering::Relaxed);
    queue.wait_all(None).unwrap();
    let ops = (d1 - d0) as f64 / (t1 - t0).as_secs_f64();
    Rate {
        ops,
        bytes: ops * cell.block as f64,
        cpu_us: Some((c1 - c0).as_secs_f64() * 1e6 / (d1 - d0).max(1) as f64),
    }
}

/// fio's jobs and per-job depth for `jobs` submitting threads at total
/// depth `depth`: never more jobs than outstanding reads.
fn fio_shape(jobs: usize, depth: usize) -> (usize, usize) {
    let jobs = jobs.clamp(1, depth);
    (jobs, depth / jobs)
}

/// The fio options every run shares (besides file, size and time).
const FIO_COMMON: &str = "--ioengine=io_uring --invalidate=0 --norandommap --randrepeat=0 \
     --group_reporting --time_based (defaults otherwise: no fixed buffers, no registered \
     files, no SQPOLL, iodepth_batch_submit=1)";

fn fio(bin: &str, path: &Path, cell: Cell, jobs: usize, file_len: u64, secs: f64) -> Option<Rate> {
    let (jobs, iodepth) = fio_shape(jobs, cell.depth);
    let mut args = vec![
        "--name=ds".to_owned(),
        format!("--filename={}", path.display()),
        "--ioengine=io_uring".into(),
        format!("--rw={}", if cell.sequential { "read" } else { "randread" }),
        format!("--bs={}", cell.block),
        format!("--iodepth={iodepth}"),
        format!("--direct={}", u8::from(cell.direct)),
        format!("--numjobs={jobs}"),
        "--group_reporting".into(),
        "--time_based".into(),
        format!("--runtime={}ms", (secs * 1000.0) as u64),
        format!("--ramp_time={}ms", (warm_up_secs(secs) * 1000.0) as u64),
        "--norandommap".into(),
        "--randrepeat=0".into(),
        "--invalidate=0".into(),
        "--output-format=json".into(),
    ];
    if cell.sequential && jobs > 1 {
        // Each job reads its own part of the file in order (as the queue's
        // sequential stream has `qd` neighbouring blocks in flight).
        let part = (file_len / jobs as u64) / cell.block as u64 * cell.block as u64;
        args.push(format!("--size={part}"));
        args.push(format!("--offset_increment={part}"));
    } else {
        args.push(format!("--size={file_len}"));
    }
    let out = Command::new(bin).args(&args).output().ok()?;
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
        cpu_us: None,
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

/// The engines to run (`DS_BENCH_ENGINES`).
struct Engines {
    pread: bool,
    uring: bool,
    fio: bool,
    uring1: bool,
    fio1: bool,
}

impl Engines {
    fn from_env() -> Engines {
        let list = std::env::var("DS_BENCH_ENGINES")
            .unwrap_or_else(|_| "pread,uring,fio,uring1,fio1".into());
        let has = |name: &str| list.split(',').any(|e| e.trim() == name);
        Engines {
            pread: has("pread"),
            uring: has("uring"),
            fio: has("fio"),
            uring1: has("uring1"),
            fio1: has("fio1"),
        }
    }
}

fn uring_queue(cell: Cell, rings: usize, stats: &UringStats) -> Queue {
    QueueBuilder::new()
        .capacity(1024)
        .backend(Backend::IoUring(UringConfig {
            rings,
            direct: cell.direct,
            stats: stats.clone(),
            ..UringConfig::default()
        }))
        .build()
        .unwrap()
}

fn main() {
    let secs = env_num("DS_BENCH_SECS", 2.0);
    let file_len = (env_num("DS_BENCH_FILE_MB", 1024.0) as u64) << 20;
    let dir = std::env::var_os("DS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let fio_bin = std::env::var("DS_BENCH_FIO").unwrap_or_else(|_| "fio".into());
    let only = std::env::var("DS_BENCH_ONLY").ok();
    let engines = Engines::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rings = env_num("DS_BENCH_RINGS", UringConfig::default().rings as f64).max(1.0) as usize;
    let path = make_file(&dir, file_len);
    warm_cache(&path);
    let fio_version = Command::new(&fio_bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    println!(
        "ds-os-linux I/O driver benchmark: {cores} cores, file {} MiB at {}, {secs} s per cell \
         after a {} s warm-up, fio: {}",
        file_len >> 20,
        path.display(),
        warm_up_secs(secs),
        fio_version.as_deref().unwrap_or("not found")
    );
    println!(
        "every engine keeps qd reads outstanding in all, on the same file and block size; the \
         queue runs closed-loop (each completion callback enqueues and submits the next read)"
    );
    println!("  pread   = queue on the pread backend, {cores} worker threads");
    println!("  uring   = queue on io_uring, {rings} rings x 256 entries, registered files");
    println!("  fio-N   = fio, min({rings}, qd) jobs x (qd / jobs) depth (shown as jobs x depth)");
    println!("  uring-1 = queue on io_uring, 1 ring x 256 entries");
    println!("  fio-1   = fio, 1 job x qd depth");
    println!("  fio options: {FIO_COMMON}");
    println!(
        "  CPU us per request: this process's CPU time (all threads, user + system) in the \
         measured window over the requests completed in it"
    );
    println!(
        "  targets (issue 4): uring >= 2x pread at qd >= 32; uring within 10% of fio-N and \
         uring-1 within 10% of fio-1\n"
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
        "| cell | pread MB/s (kIOPS) | uring MB/s (kIOPS) | fio-N MB/s (kIOPS) | uring-1 MB/s (kIOPS) | fio-1 MB/s (kIOPS) | uring / pread | uring / fio-N | uring-1 / fio-1 | enters per SQE uring, uring-1 | CPU us per request pread, uring, uring-1 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let file = FileRef::open(&path).unwrap();
    let has_fio = fio_version.is_some();
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
        let pread = engines.pread.then(|| {
            run_queue(
                QueueBuilder::new()
                    .capacity(1024)
                    .backend(Backend::Pread(PreadConfig { threads: cores }))
                    .build()
                    .unwrap(),
                &pread_file,
                cell,
                file_len,
                secs,
            )
        });
        let (stats_n, stats_1) = (UringStats::default(), UringStats::default());
        let uring = engines.uring.then(|| {
            run_queue(
                uring_queue(cell, rings, &stats_n),
                &file,
                cell,
                file_len,
                secs,
            )
        });
        let fio_n = (engines.fio && has_fio)
            .then(|| fio(&fio_bin, &path, cell, rings, file_len, secs))
            .flatten();
        let uring1 = engines
            .uring1
            .then(|| run_queue(uring_queue(cell, 1, &stats_1), &file, cell, file_len, secs));
        let fio_1 = (engines.fio1 && has_fio)
            .then(|| fio(&fio_bin, &path, cell, 1, file_len, secs))
            .flatten();
        let show = |r: Option<Rate>| {
            r.map_or_else(
                || "-".into(),
                |r| format!("{:.0} ({:.1})", r.bytes / 1e6, r.ops / 1e3),
            )
        };
        let ratio = |a: Option<Rate>, b: Option<Rate>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}x", a.ops / b.ops),
            _ => "-".into(),
        };
        let enters = |s: &UringStats, ran: bool| {
            let s = s.snapshot();
            if ran {
                format!("{:.3}", s.enters as f64 / s.sqes.max(1) as f64)
            } else {
                "-".into()
            }
        };
        let cpu = |r: Option<Rate>| {
            r.and_then(|r| r.cpu_us)
                .map_or_else(|| "-".into(), |c| format!("{c:.2}"))
        };
        let (jobs, iodepth) = fio_shape(rings, cell.depth);
        println!(
            "| {name} | {} | {} | {} [{jobs}x{iodepth}] | {} | {} | {} | {} | {} | {}, {} | {}, {}, {} |",
            show(pread),
            show(uring),
            show(fio_n),
            show(uring1),
            show(fio_1),
            ratio(uring, pread),
            ratio(uring, fio_n),
            ratio(uring1, fio_1),
            enters(&stats_n, uring.is_some()),
            enters(&stats_1, uring1.is_some()),
            cpu(pread),
            cpu(uring),
            cpu(uring1),
        );
    }
}
