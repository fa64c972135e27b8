//! GPU-resident path benchmark: GDeflate files -> GPU buffers through the request queue, every
//! route of the Vulkan executor against the CPU-decode-then-upload path and the physical
//! ceilings, all measured in one run on one device.
//!
//! Usage: `gpu_resident [--dir DIR] [--total-mib N] [--request-mib N] [--level L] [--reps N]
//!         [--routes staging,host-import,upload-heap,gds] [--decode shader,driver]
//!         [--overlap on,off] [--slot-mib 32,64] [--slots N] [--no-cold] [--no-cpu]`
//!
//! 1. Generates (once; kept in DIR) game-like data — text, structured records, texture-like
//!    blocks, noise — of `--total-mib` MiB (default 1024), as GDeflate files of `--request-mib`
//!    MiB each (default 8; one request per file), compressed here on all cores.
//! 2. Ceilings: plain `pread` of every file (4 threads, warm page cache, and cold after
//!    dropping the files from the page cache), and host->device copy bandwidth (one
//!    `vkCmdCopyBuffer` of 256 MiB from host-visible memory to device-local, GPU-timed, best of 5).
//! 3. For each route (staging, host import, upload heap, GDS where available), each GDeflate
//!    decoder (`shader`: the validating compute shader, the default for untrusted content;
//!    `driver`: the driver's memory decompression, used for content declared trusted, where the
//!    device has it), each batch-overlap setting and staging-slot size, and for the CPU path
//!    (io_uring queue decoding on all cores into mapped host memory, then `vkCmdCopyBuffer` to
//!    the GPU, overlapped by groups): warm and cold runs; GB/s of
//!    decompressed bytes landing in device-local buffers (wall clock from the first enqueue to
//!    the last completion), request latency p50/p99 (enqueue -> completion), CPU seconds
//!    (user + system, `getrusage`) per GB. The first 4 requests of every run are read back and
//!    compared with the originals.
//!
//! "Cold" drops the files from the page cache (`posix_fadvise(DONTNEED)`, plus
//! `/proc/sys/vm/drop_caches` when writable) before the run. GB = 10^9 bytes.
#![allow(unsafe_code)]
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ds_gpu::executor::{ExecutorConfig, ExecutorStats, GpuExecutor, Route, RouteChoice};
use ds_gpu::*;
use ds_os_linux::{Backend, FileRef, Queue, Request, UringConfig};

struct Args {
    dir: PathBuf,
    total_mib: u64,
    request_mib: u64,
    level: u8,
    reps: usize,
    routes: Vec<Route>,
    decoders: Vec<bool>,
    overlap: Vec<bool>,
    slot_mib: Vec<u64>,
    slots: usize,
    cold: bool,
    cpu: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dir: PathBuf::from("/tmp/ds-gpu-resident"),
        total_mib: 1024,
        request_mib: 8,
        level: 6,
        reps: 2,
        routes: vec![
            Route::Staging,
            Route::HostImport,
            Route::UploadHeap,
            Route::Gds,
        ],
        decoders: vec![false, true],
        overlap: vec![true],
        slot_mib: vec![32],
        slots: ExecutorConfig::default().staging_buffers,
        cold: true,
        cpu: true,
    };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.and_then(|s| s.parse().ok())
            .filter(|&n: &u64| n > 0)
            .ok_or(format!("{what} needs a positive number"))
    };
    while let Some(s) = it.next() {
        match s.as_str() {
            "--dir" => a.dir = PathBuf::from(it.next().ok_or("--dir needs a path")?),
            "--total-mib" => a.total_mib = num(it.next(), "--total-mib")?,
            "--request-mib" => a.request_mib = num(it.next(), "--request-mib")?.min(32),
            "--level" => a.level = num(it.next(), "--level")?.min(12) as u8,
            "--reps" => a.reps = num(it.next(), "--reps")? as usize,
            "--no-cold" => a.cold = false,
            "--no-cpu" => a.cpu = false,
            "--slots" => a.slots = num(it.next(), "--slots")? as usize,
            "--decode" => {
                a.decoders = it
                    .next()
                    .ok_or("--decode needs a list")?
                    .split(',')
                    .map(|d| match d {
                        "shader" => Ok(false),
                        "driver" => Ok(true),
                        other => Err(format!("unknown decoder {other}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--overlap" => {
                a.overlap = it
                    .next()
                    .ok_or("--overlap needs a list")?
                    .split(',')
                    .map(|d| match d {
                        "on" => Ok(true),
                        "off" => Ok(false),
                        other => Err(format!("unknown overlap setting {other}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--slot-mib" => {
                a.slot_mib = it
                    .next()
                    .ok_or("--slot-mib needs a list")?
                    .split(',')
                    .map(|v| v.parse().ok().filter(|&n: &u64| n > 0))
                    .collect::<Option<_>>()
                    .ok_or("--slot-mib takes positive numbers separated by commas")?
            }
            "--routes" => {
                a.routes = it
                    .next()
                    .ok_or("--routes needs a list")?
                    .split(',')
                    .map(|r| match r {
                        "staging" => Ok(Route::Staging),
                        "host-import" => Ok(Route::HostImport),
                        "upload-heap" => Ok(Route::UploadHeap),
                        "gds" => Ok(Route::Gds),
                        other => Err(format!("unknown route {other}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// Deterministic game-like bytes for file `i`.
fn asset(i: u64, len: usize) -> Vec<u8> {
    let mut x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let words = [
        "position ",
        "normal ",
        "albedo ",
        "roughness ",
        "{\"id\": ",
        "\"mesh\": ",
        "lod ",
        "texture ",
        "material ",
        "0.5, ",
        "1.0, ",
        "\n",
    ];
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let kind = next() % 10;
        let run = 4096 + (next() % 16384) as usize;
        let end = (out.len() + run).min(len);
        match kind {
            0..=3 => {
                while out.len() < end {
                    out.extend_from_slice(words[(next() % 12) as usize].as_bytes());
                }
            }
            4..=6 => {
                // Texture-like: 16-byte blocks, two endpoint colours and noisy indices.
                let c = next();
                while out.len() < end {
                    out.extend_from_slice(&c.to_le_bytes());
                    out.extend_from_slice(&(next() & 0x5555_5555_5555_5555).to_le_bytes());
                }
            }
            7..=8 => {
                // Structured records: counters and floats.
                let mut k = next() as u32;
                while out.len() < end {
                    k = k.wrapping_add(1);
                    out.extend_from_slice(&k.to_le_bytes());
                    out.extend_from_slice(&(k as f32 * 0.25).to_le_bytes());
                }
            }
            _ => {
                while out.len() < end {
                    out.extend_from_slice(&next().to_le_bytes());
                }
            }
        }
    }
    out.truncate(len);
    out
}

struct DataSet {
    files: Vec<(PathBuf, u64, u64)>, // path, compressed size, uncompressed size
}

fn generate(a: &Args) -> Result<DataSet, String> {
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let per = (a.request_mib << 20) as usize;
    let n = a.total_mib.div_ceil(a.request_mib);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut files = Vec::new();
    let t0 = Instant::now();
    let mut made = 0;
    for i in 0..n {
        let path = a.dir.join(format!("asset{i:04}.l{}.gdef", a.level));
        let ok = std::fs::read(&path).ok().and_then(|b| {
            ds_gdeflate::uncompressed_size(&b)
                .ok()
                .map(|u| (b.len(), u))
        });
        let (c, u) = match ok {
            Some((c, u)) if u == per as u64 => (c as u64, u),
            _ => {
                let data = asset(i, per);
                let packed = ds_gdeflate::encode::compress_parallel(&data, a.level, threads)
                    .map_err(|e| format!("compress: {e}"))?;
                std::fs::write(&path, &packed).map_err(|e| format!("{}: {e}", path.display()))?;
                made += 1;
                (packed.len() as u64, per as u64)
            }
        };
        files.push((path, c, u));
    }
    let comp: u64 = files.iter().map(|f| f.1).sum();
    let unc: u64 = files.iter().map(|f| f.2).sum();
    println!(
        "data: {} files of {} MiB in {} ({made} generated in {:.1} s), {:.1} MiB compressed -> {:.1} MiB (ratio {:.2})",
        files.len(),
        a.request_mib,
        a.dir.display(),
        t0.elapsed().as_secs_f64(),
        comp as f64 / 1048576.0,
        unc as f64 / 1048576.0,
        unc as f64 / comp as f64
    );
    Ok(DataSet { files })
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct it is given; zeroed is a valid initial value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn drop_cache(files: &DataSet) -> &'static str {
    for (p, _, _) in &files.files {
        if let Ok(f) = std::fs::File::open(p) {
            let _ = rustix::fs::fadvise(f.as_fd(), 0, None, rustix::fs::Advice::DontNeed);
        }
    }
    // SAFETY: sync takes no arguments.
    unsafe { libc::sync() };
    match std::fs::write("/proc/sys/vm/drop_caches", "3") {
        Ok(()) => "drop_caches + fadvise",
        Err(_) => "fadvise(DONTNEED)",
    }
}

/// One measured run.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    secs: f64,
    bytes: u64,
    cpu: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Run {
    fn gbps(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e9
    }
    fn cpu_per_gb(&self) -> f64 {
        self.cpu / (self.bytes as f64 / 1e9)
    }
}

fn percentiles(mut lat: Vec<Duration>) -> (f64, f64) {
    lat.sort();
    if lat.is_empty() {
        return (0.0, 0.0);
    }
    let at = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

/// Plain reads of every file, 4 threads.
fn read_ceiling(set: &DataSet) -> Run {
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut buf = vec![0u8; 4 << 20];
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((p, len, _)) = set.files.get(i) else {
                        break;
                    };
                    let f = std::fs::File::open(p).expect("open");
                    let mut off = 0u64;
                    while off < *len {
                        let n = rustix::io::pread(&f, &mut buf, off).expect("pread");
                        if n == 0 {
                            break;
                        }
                        off += n as u64;
                    }
                }
            });
        }
    });
    Run {
        secs: t0.elapsed().as_secs_f64(),
        bytes: set.files.iter().map(|f| f.1).sum(),
        cpu: cpu_seconds() - cpu0,
        ..Run::default()
    }
}

/// Host-visible -> device-local copy bandwidth (GPU timestamps when available), best of 5.
fn pcie_ceiling(ctx: &Arc<VulkanContext>) -> Result<f64, GpuError> {
    let size = 256u64 << 20;
    let src = GpuBuffer::new(ctx, size, MemoryKind::Upload)?;
    let dst = GpuBuffer::new(ctx, size, MemoryKind::DeviceLocal)?;
    let pool = CommandPool::new(ctx)?;
    let tl = TimelineSemaphore::new(ctx, 0)?;
    let mut best = f64::MAX;
    for i in 0..5 {
        let t0 = Instant::now();
        pool.run_and_wait(&tl, i + 1, |cmd| {
            let region = vk::BufferCopy::default().size(size);
            // SAFETY: recording buffer; both buffers alive until the wait.
            unsafe {
                ctx.device()
                    .cmd_copy_buffer(cmd, src.handle(), dst.handle(), &[region])
            };
            Ok(())
        })?;
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok(size as f64 / best / 1e9)
}

/// Reads `len` bytes of `buf` at `off` back and compares them with `want`.
fn verify(ctx: &Arc<VulkanContext>, buf: &GpuBuffer, off: u64, want: &[u8]) -> Result<(), String> {
    let host =
        GpuBuffer::new(ctx, want.len() as u64, MemoryKind::Readback).map_err(|e| e.to_string())?;
    let pool = CommandPool::new(ctx).map_err(|e| e.to_string())?;
    let tl = TimelineSemaphore::new(ctx, 0).map_err(|e| e.to_string())?;
    pool.run_and_wait(&tl, 1, |cmd| {
        let region = vk::BufferCopy::default()
            .src_offset(off)
            .size(want.len() as u64);
        // SAFETY: recording buffer; buffers alive until the wait.
        unsafe {
            // The executor's writes come first (ExecutorConfig::overlap_batches).
            decode::record_buffer_barrier(
                ctx,
                cmd,
                (
                    vk::PipelineStageFlags::ALL_COMMANDS,
                    vk::AccessFlags::MEMORY_WRITE,
                ),
                (
                    vk::PipelineStageFlags::TRANSFER,
                    vk::AccessFlags::TRANSFER_READ,
                ),
            );
            ctx.device()
                .cmd_copy_buffer(cmd, buf.handle(), host.handle(), &[region]);
            decode::record_buffer_barrier(
                ctx,
                cmd,
                (
                    vk::PipelineStageFlags::TRANSFER,
                    vk::AccessFlags::TRANSFER_WRITE,
                ),
                (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ),
            );
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    host.invalidate(0, want.len() as u64)
        .map_err(|e| e.to_string())?;
    if host.mapped().expect("mapped")[..want.len()] == *want {
        Ok(())
    } else {
        Err(format!("readback at {off} differs from the original"))
    }
}

fn check_first(ctx: &Arc<VulkanContext>, dst: &GpuBuffer, set: &DataSet) -> Result<(), String> {
    for (i, f) in set.files.iter().enumerate().take(4) {
        verify(ctx, dst, i as u64 * f.2, &asset(i as u64, f.2 as usize))?;
    }
    Ok(())
}

/// One executor configuration of the table.
#[derive(Clone, Copy, Debug)]
struct Setup {
    route: Route,
    /// Trusted content: GDeflate on the driver's decoder.
    driver: bool,
    overlap: bool,
    slot_mib: u64,
    slots: usize,
}

impl Setup {
    fn name(&self) -> String {
        format!(
            "{} {}{}{}",
            self.route.name(),
            if self.driver { "driver" } else { "shader" },
            if self.overlap { "" } else { " serial" },
            if self.slot_mib == 32 {
                String::new()
            } else {
                format!(" {}M", self.slot_mib)
            }
        )
    }
}

/// All files through a Vulkan executor set up as `setup` into one device-local buffer.
fn run_route(
    ctx: &Arc<VulkanContext>,
    setup: Setup,
    dst: &Arc<GpuBuffer>,
    set: &DataSet,
) -> Result<(Run, String), String> {
    let exec = GpuExecutor::new(
        ctx,
        ExecutorConfig {
            route: RouteChoice::Force(setup.route),
            trusted_content: setup.driver,
            decode: if setup.driver {
                DecodePath::Driver
            } else {
                DecodePath::Shader
            },
            overlap_batches: setup.overlap,
            staging_size: setup.slot_mib << 20,
            staging_buffers: setup.slots,
            ..ExecutorConfig::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let info = format!(
        "decode {}",
        if exec.uses_driver_decompression() {
            "driver"
        } else {
            "shader"
        }
    );
    let stats = exec.stats();
    let reg = exec.buffers();
    let h = reg.register(dst).map_err(|e| e.to_string())?;
    let queue = Queue::builder()
        .backend(Backend::None)
        .capacity(1024)
        .staging_limit(setup.slot_mib << 20)
        .executor(Box::new(exec))
        .build()
        .map_err(|e| e.to_string())?;
    let files: Vec<FileRef> = set
        .files
        .iter()
        .map(|f| FileRef::open(&f.0).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let lat = Arc::new(Mutex::new(Vec::with_capacity(files.len())));
    let failed = Arc::new(Mutex::new(None::<String>));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut off = 0u64;
    for (f, (_, c, u)) in files.iter().zip(&set.files) {
        let (l2, f2) = (lat.clone(), failed.clone());
        let r = Request::read(f, 0, *c)
            .gdeflate(*u)
            .into_gpu_buffer(h, off, *u)
            .on_complete(move |done| {
                if let Err(e) = done.result() {
                    *f2.lock().expect("lock") = Some(format!("{e:?}"));
                }
                l2.lock().expect("lock").push(done.latency);
            });
        queue
            .enqueue_blocking(r, None)
            .map_err(|e| e.error.to_string())?;
        off += u;
    }
    queue.wait_all(None).map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    drop(queue);
    if let Some(e) = failed.lock().expect("lock").take() {
        return Err(e);
    }
    let (p50_ms, p99_ms) = percentiles(std::mem::take(&mut *lat.lock().expect("lock")));
    let get = ExecutorStats::get;
    let info = format!(
        "{info}, {} submissions, {} slots, io_uring {}{}",
        get(&stats.submissions),
        setup.slots,
        stats.io_uring.load(std::sync::atomic::Ordering::Relaxed),
        if setup.route == Route::Gds {
            format!(
                ", cuFileRead {} / host path {} segments",
                get(&stats.gds_reads),
                get(&stats.gds_host_reads)
            )
        } else {
            String::new()
        }
    );
    Ok((
        Run {
            secs,
            bytes: off,
            cpu,
            p50_ms,
            p99_ms,
        },
        info,
    ))
}

/// CPU path: the io_uring queue decodes each request on the CPU straight into a mapped
/// host-visible buffer; every group of 16 requests is then copied to the device-local
/// destination with one vkCmdCopyBuffer, overlapped with the decoding of the next group.
fn run_cpu(ctx: &Arc<VulkanContext>, dst: &Arc<GpuBuffer>, set: &DataSet) -> Result<Run, String> {
    const GROUP: usize = 16;
    let per = set.files[0].2;
    let e = |e: GpuError| e.to_string();
    let hosts = [
        GpuBuffer::new(ctx, per * GROUP as u64, MemoryKind::Upload).map_err(e)?,
        GpuBuffer::new(ctx, per * GROUP as u64, MemoryKind::Upload).map_err(e)?,
    ];
    let pool = CommandPool::new(ctx).map_err(e)?;
    let tl = TimelineSemaphore::new(ctx, 0).map_err(e)?;
    let queue = Queue::builder()
        .backend(Backend::IoUring(UringConfig::default()))
        .capacity(1024)
        .build()
        .map_err(|e| e.to_string())?;
    let files: Vec<FileRef> = set
        .files
        .iter()
        .map(|f| FileRef::open(&f.0).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    // A waiter thread timestamps each group's copy completion: a request's latency runs from its
    // enqueue until its bytes are in device memory.
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Vec<Instant>)>();
    let waiter_tl = &tl;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let (lat, total) = std::thread::scope(|scope| -> Result<(Vec<Duration>, u64), String> {
        let waiter = scope.spawn(move || {
            let mut lat = Vec::new();
            for (value, starts) in rx {
                if waiter_tl.wait(value, sync::WAIT_TIMEOUT_NS).is_ok() {
                    let now = Instant::now();
                    lat.extend(starts.iter().map(|s| now - *s));
                }
            }
            lat
        });
        let mut cmds: Vec<Option<vk::CommandBuffer>> = vec![None, None];
        let mut value = 0u64;
        let mut waits = [0u64; 2];
        let mut total = 0u64;
        for (g, chunk) in files.chunks(GROUP).enumerate() {
            let h = g % 2;
            // The copy that last used this host buffer must be done.
            if waits[h] != 0 {
                tl.wait(waits[h], sync::WAIT_TIMEOUT_NS).map_err(e)?;
                if let Some(c) = cmds[h].take() {
                    pool.free(c);
                }
            }
            let base = hosts[h].mapped_ptr().expect("mapped");
            let mut ids = Vec::new();
            let mut starts = Vec::new();
            for (k, f) in chunk.iter().enumerate() {
                let (_, c, u) = set.files[g * GROUP + k];
                // SAFETY: the range is inside the mapped host buffer, which no GPU work uses now (its
                // last copy was waited for) and nothing else touches until the requests end.
                let r = unsafe {
                    Request::read(f, 0, c)
                        .gdeflate(u)
                        .into_raw(base.add(k * per as usize), u as usize)
                };
                starts.push(Instant::now());
                ids.push(queue.enqueue(r).map_err(|e| e.error.to_string())?);
            }
            queue.submit();
            let mut bytes = 0;
            for id in ids {
                let done = queue.wait(id, None).map_err(|e| e.to_string())?;
                let n = done.result().map_err(|o| format!("{o:?}"))?;
                bytes += n;
            }
            hosts[h].flush(0, bytes).map_err(e)?;
            value += 1;
            let cmd = pool.begin().map_err(e)?;
            let region = vk::BufferCopy::default()
                .src_offset(0)
                .dst_offset(total)
                .size(bytes);
            // SAFETY: recording buffer; both buffers alive until the copy is waited for below.
            unsafe {
                ctx.device()
                    .cmd_copy_buffer(cmd, hosts[h].handle(), dst.handle(), &[region])
            };
            pool.end(cmd).map_err(e)?;
            ctx.submit(&[cmd], &[], &[(tl.handle(), value)])
                .map_err(e)?;
            cmds[h] = Some(cmd);
            waits[h] = value;
            total += bytes;
            tx.send((value, starts)).map_err(|e| e.to_string())?;
        }
        drop(tx);
        tl.wait(value, sync::WAIT_TIMEOUT_NS).map_err(e)?;
        for c in cmds.iter_mut().filter_map(Option::take) {
            pool.free(c);
        }
        let lat = waiter
            .join()
            .map_err(|_| "latency thread panicked".to_string())?;
        Ok((lat, total))
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let (p50_ms, p99_ms) = percentiles(lat);
    Ok(Run {
        secs,
        bytes: total,
        cpu,
        p50_ms,
        p99_ms,
    })
}

fn best(runs: &[Run]) -> Run {
    *runs
        .iter()
        .min_by(|a, b| a.secs.total_cmp(&b.secs))
        .expect("at least one run")
}

fn measure(
    a: &Args,
    set: &DataSet,
    mut one: impl FnMut() -> Result<Run, String>,
) -> Result<(Run, Option<Run>), String> {
    let mut warm = Vec::new();
    one()?; // fills the page cache, JIT/pipeline warm-up
    for _ in 0..a.reps {
        warm.push(one()?);
    }
    let cold = if a.cold {
        let mut v = Vec::new();
        for _ in 0..a.reps {
            drop_cache(set);
            v.push(one()?);
        }
        Some(best(&v))
    } else {
        None
    };
    Ok((best(&warm), cold))
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("gpu_resident: {e}");
            }
            eprintln!("usage: gpu_resident [--dir DIR] [--total-mib N] [--request-mib N] [--level L] [--reps N] [--routes LIST] [--decode shader,driver] [--overlap on,off] [--slot-mib LIST] [--slots N] [--no-cold] [--no-cpu]");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu_resident: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<(), String> {
    let set = generate(a)?;
    let ctx = VulkanContext::create(&ContextOptions::default()).map_err(|e| e.to_string())?;
    let c = ctx.caps();
    println!(
        "device: {} (Vulkan {}.{}), memory decompression {:?}, host import {:?}, external memory fd {}, CPU threads {}",
        c.device_name,
        vk::api_version_major(c.api_version),
        vk::api_version_minor(c.api_version),
        c.memory_decompression,
        c.host_import_alignment,
        c.external_memory_fd,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let how = if a.cold { drop_cache(&set) } else { "-" };
    println!("cold runs drop the page cache with: {how}");
    let total: u64 = set.files.iter().map(|f| f.2).sum();
    let dst =
        Arc::new(GpuBuffer::new(&ctx, total, MemoryKind::DeviceLocal).map_err(|e| e.to_string())?);

    let (read_warm, read_cold) = measure(a, &set, || Ok(read_ceiling(&set)))?;
    let pcie = pcie_ceiling(&ctx).map_err(|e| e.to_string())?;
    let comp: u64 = set.files.iter().map(|f| f.1).sum();
    let ratio = total as f64 / comp as f64;
    println!(
        "ceilings: file reads {:.2} GB/s warm, {} cold (compressed bytes; x{ratio:.2} = {:.2} GB/s of decompressed data warm); host->device copy {pcie:.2} GB/s",
        read_warm.gbps(),
        read_cold.map_or("-".into(), |r| format!("{:.2} GB/s", r.gbps())),
        read_warm.gbps() * ratio
    );

    let mut rows: Vec<(String, Run, Option<Run>, String)> = Vec::new();
    for &route in &a.routes {
        for &driver in &a.decoders {
            if driver && c.memory_decompression.is_none() {
                continue;
            }
            for &overlap in &a.overlap {
                for &slot_mib in &a.slot_mib {
                    let setup = Setup {
                        route,
                        driver,
                        overlap,
                        slot_mib,
                        slots: a.slots,
                    };
                    let mut info = String::new();
                    let r = measure(a, &set, || {
                        run_route(&ctx, setup, &dst, &set).map(|(r, i)| {
                            info = i;
                            r
                        })
                    });
                    match r {
                        Ok((w, c)) => {
                            check_first(&ctx, &dst, &set)?;
                            rows.push((setup.name(), w, c, info));
                        }
                        Err(e) => println!("{}: not run: {e}", setup.name()),
                    }
                }
            }
        }
    }
    if a.cpu {
        let r = measure(a, &set, || run_cpu(&ctx, &dst, &set))?;
        check_first(&ctx, &dst, &set)?;
        rows.push((
            "cpu-decode+upload".into(),
            r.0,
            r.1,
            "io_uring queue, CPU decode on all cores".into(),
        ));
    }

    let base = rows
        .iter()
        .find(|r| r.0 == "cpu-decode+upload")
        .map(|r| r.1.gbps());
    println!();
    println!(
        "{:<30} {:>10} {:>10} {:>9} {:>9} {:>10} {:>9} {:>9}  notes",
        "path", "warm GB/s", "cold GB/s", "p50 ms", "p99 ms", "CPU s/GB", "vs CPU", "vs PCIe"
    );
    for (name, w, c, info) in &rows {
        println!(
            "{:<30} {:>10.2} {:>10} {:>9.2} {:>9.2} {:>10.3} {:>9} {:>8.2}x  {}",
            name,
            w.gbps(),
            c.map_or("-".into(), |c| format!("{:.2}", c.gbps())),
            w.p50_ms,
            w.p99_ms,
            w.cpu_per_gb(),
            base.map_or("-".into(), |b| format!("{:.2}x", w.gbps() / b)),
            w.gbps() / pcie,
            info
        );
    }
    println!(
        "(GB/s of decompressed bytes landing in device-local memory; warm = best of {} with the files in the page cache; vs PCIe = against the host->device copy ceiling above; first 4 requests of each path read back and verified)",
        a.reps
    );
    Ok(())
}
