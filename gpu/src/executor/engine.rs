//! The executor's two threads and what they share.
//!
//! - The **submit thread** takes started requests from the queue's feed, checks their
//!   destination against the registry, and packs them into batches: one staging slot per batch,
//!   every file range of the batch read at once straight into the slot (io_uring, pread, or
//!   `cuFileRead` on the GDS route), GDeflate containers parsed on the CPU (header and tile table
//!   only), then one command buffer recorded and submitted with the next timeline value.
//!   Uncompressed requests larger than a slot are cut into slot-sized segments over successive
//!   batches.
//! - The **completion thread** waits for each batch's timeline value in submission order, maps
//!   the per-tile status back to requests, and ends every request whose last segment finished;
//!   then the slot goes back to the pool.
//!
//! A request's state while it has segments in flight is an [`Active`] behind a mutex, shared by
//! both threads: whoever sees "nothing left to issue and nothing in flight" ends it (outside the
//! lock, since ending runs the user's callback).
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::collections::{HashMap, VecDeque};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use ash::vk;
use ds_os_linux::cufile::sys::ReadResult;
use ds_os_linux::cufile::{CuFile, CuFileHandle, Cuda};
use ds_os_linux::{Compression, FileRef, Job, JobFeed, RequestErrorKind, WeakFile};

use crate::context::VulkanContext;
use crate::decode::{
    record_buffer_barrier, tile_descs, DecodePath, ShaderDecoder, TileStatus, STATUS_UNWRITTEN,
};
use crate::decompression::{regions_for_stream, MemoryDecompressor, Region};
use crate::error::GpuError;
use crate::executor::reader::{ReadOp, Reader};
use crate::executor::registry::{BufferEntry, BufferRegistry};
use crate::executor::slots::{Slot, SlotPool, StageKind, SLOT_BYTES};
use crate::executor::{ExecutorConfig, ExecutorStats, Route, RouteChoice};
use crate::sync::{CommandPool, TimelineSemaphore};

/// Alignment of each segment in a slot (keeps GDeflate streams word-aligned for the decoder and
/// the driver path, and copies on cache-line boundaries).
const SEG_ALIGN: u64 = 256;

/// Tile output offsets are 32-bit in the shader: a destination is bound in windows of this many
/// bytes (or less where the device's storage-buffer range is smaller).
const WINDOW: u64 = 1 << 30;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a few field updates; a poisoned lock is used as is.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Name of a Vulkan error code for request errors.
fn vk_name(r: vk::Result) -> &'static str {
    match r {
        vk::Result::ERROR_DEVICE_LOST => "VK_ERROR_DEVICE_LOST",
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY => "VK_ERROR_OUT_OF_DEVICE_MEMORY",
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => "VK_ERROR_OUT_OF_HOST_MEMORY",
        vk::Result::TIMEOUT => "VK_TIMEOUT",
        _ => "VK_ERROR",
    }
}

/// A GPU-layer error as a request error.
fn device_error(e: &GpuError) -> RequestErrorKind {
    match e {
        GpuError::Vk { call, result } => RequestErrorKind::Device {
            call,
            name: vk_name(*result),
            code: result.as_raw(),
        },
        GpuError::Timeout { what } => RequestErrorKind::Device {
            call: what,
            name: "VK_TIMEOUT",
            code: vk::Result::TIMEOUT.as_raw(),
        },
        other => RequestErrorKind::Device {
            call: "GPU executor",
            name: match other {
                GpuError::NoMemoryType { .. } => "no memory type",
                GpuError::Range { .. } => "range",
                _ => "GPU error",
            },
            code: -1,
        },
    }
}

/// Where a request's bytes come from.
enum Src {
    File(FileRef),
    Memory,
}

/// A request with segments still to issue or in flight.
struct Active {
    job: Option<Job>,
    src: Src,
    gdeflate: bool,
    dst: Arc<BufferEntry>,
    dst_offset: u64,
    /// Source bytes (compressed size for GDeflate).
    total: u64,
    /// Source offset of a file source.
    file_offset: u64,
    /// Bytes that land in the destination.
    out_bytes: u64,
    /// Source bytes handed to batches so far.
    issued: u64,
    /// Segments submitted and not yet completed.
    in_flight: u32,
    /// Nothing more will be issued (all issued, failed or cancelled).
    done_issuing: bool,
    error: Option<RequestErrorKind>,
    cancelled: bool,
}

type ActiveRef = Arc<Mutex<Active>>;

impl Active {
    /// Takes the job out when the request can end now.
    fn take_if_done(&mut self) -> Option<(Job, Ending)> {
        if !self.done_issuing || self.in_flight > 0 {
            return None;
        }
        let job = self.job.take()?;
        let ending = match self.error.take() {
            Some(e) => Ending::Fail(e),
            None if self.cancelled => Ending::Cancelled,
            None => Ending::Complete(self.out_bytes),
        };
        Some((job, ending))
    }

    /// Stops issuing with `error` (the first error wins).
    fn stop_with(&mut self, error: RequestErrorKind) {
        self.error.get_or_insert(error);
        self.done_issuing = true;
    }
}

enum Ending {
    Complete(u64),
    Fail(RequestErrorKind),
    Cancelled,
}

fn end(job: Job, ending: Ending) {
    match ending {
        Ending::Complete(bytes) => job.complete(bytes),
        Ending::Fail(e) => job.fail(e),
        Ending::Cancelled => job.finish_cancelled(),
    }
}

/// Ends the request of `a` if nothing is left for it (outside the lock).
fn end_if_done(a: &ActiveRef) {
    let done = lock(a).take_if_done();
    if let Some((job, ending)) = done {
        end(job, ending);
    }
}

/// One request's part of a batch.
struct Seg {
    req: ActiveRef,
    /// Offset in the slot.
    at: u64,
    /// Source bytes in the slot.
    len: u64,
    /// Offset of these bytes in the request's source.
    src_offset: u64,
    dst: Arc<BufferEntry>,
    dst_offset: u64,
    gdeflate: Option<Decode>,
}

/// How a GDeflate segment decodes.
struct Decode {
    /// First descriptor in the slot's tile table (shader and emulated driver path).
    first_tile: u32,
    /// Descriptors dispatched (0 on the device's driver path).
    tiles: u32,
    /// Driver regions (device's driver path only).
    regions: Vec<Region>,
    /// Decoded on the driver path (the device's or the emulated one): no per-tile status.
    driver: bool,
}

/// The driver's decoder as the executor uses it.
pub(crate) enum DriverPath {
    /// `vkCmdDecompressMemoryNV/EXT` on the device.
    Device(MemoryDecompressor),
    /// `ExecutorConfig::emulate_driver_path`: the routing of the driver path (trusted content,
    /// alignment fallback, no per-tile status) with the shader doing the decoding.
    Emulated,
}

/// A submitted batch, handed to the completion thread.
struct Batch {
    slot: Slot,
    value: u64,
    cmd: vk::CommandBuffer,
    segs: Vec<Seg>,
}

/// What both threads share.
pub(crate) struct Engine {
    pub(crate) ctx: Arc<VulkanContext>,
    pub(crate) route: Route,
    pub(crate) slot_size: u64,
    config: ExecutorConfig,
    shader: ShaderDecoder,
    driver: Option<DriverPath>,
    pool: SlotPool,
    /// Command buffers, one per batch. Only the submit thread touches the pool (Vulkan wants
    /// every use of a pool, recording included, externally synchronized): the completion
    /// thread hands finished command buffers back through `retired`.
    commands: CommandPool,
    retired: Mutex<Vec<vk::CommandBuffer>>,
    timeline: TimelineSemaphore,
    next_value: AtomicU64,
    registry: BufferRegistry,
    stats: Arc<ExecutorStats>,
    cuda: Option<CudaPair>,
    /// Slot memory regions, for io_uring registration.
    regions: Vec<(usize, usize)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("route", &self.route)
            .field("slot_size", &self.slot_size)
            .finish()
    }
}

/// The CUDA driver and cuFile of the GDS route.
type CudaPair = (Arc<Cuda>, Arc<CuFile>);

/// Whether GDeflate requests may use the driver's decoder (see [`DecodePath`]): forced, or Auto
/// with trusted content, on a device that has it (or with the emulation for tests).
fn driver_path(
    ctx: &Arc<VulkanContext>,
    config: &ExecutorConfig,
) -> Result<Option<DriverPath>, GpuError> {
    let wanted = match config.decode {
        DecodePath::Shader => false,
        DecodePath::Auto => config.trusted_content,
        DecodePath::Driver => true,
    };
    if !wanted {
        return Ok(None);
    }
    if ctx.caps().memory_decompression.is_some() {
        return Ok(Some(DriverPath::Device(MemoryDecompressor::new(ctx)?)));
    }
    if config.emulate_driver_path {
        return Ok(Some(DriverPath::Emulated));
    }
    match config.decode {
        DecodePath::Driver => Err(GpuError::PathUnavailable {
            path: "Driver",
            reason: "device has no VK_NV/EXT_memory_decompression with GDeflate 1.0".into(),
        }),
        _ => Ok(None),
    }
}

/// Tries to set up a route's slots; `Err` says why it cannot run here.
fn make_slots(
    ctx: &Arc<VulkanContext>,
    route: Route,
    config: &ExecutorConfig,
) -> Result<(Vec<Slot>, Option<CudaPair>), GpuError> {
    let n = config.staging_buffers.max(1);
    let size = config.staging_size.max(SEG_ALIGN).div_ceil(SEG_ALIGN) * SEG_ALIGN;
    let (kind, cuda) = match route {
        Route::Gds => {
            if !ctx.caps().external_memory_fd {
                return Err(GpuError::Missing("VK_KHR_external_memory_fd".into()));
            }
            let cuda = Cuda::open(config.cuda_device)
                .map_err(|e| GpuError::Missing(format!("CUDA: {e}")))?;
            let cufile = CuFile::open(cuda.clone())
                .map_err(|e| GpuError::Missing(format!("cuFile: {e}")))?;
            (
                StageKind::Gds(cuda.clone(), cufile.clone()),
                Some((cuda, cufile)),
            )
        }
        other => (StageKind::Route(other), None),
    };
    let mut slots = Vec::with_capacity(n);
    for i in 0..n {
        slots.push(Slot::new(ctx, i, size, &kind)?);
    }
    Ok((slots, cuda))
}

impl Engine {
    pub(crate) fn new(
        ctx: &Arc<VulkanContext>,
        config: &ExecutorConfig,
        registry: BufferRegistry,
        stats: Arc<ExecutorStats>,
    ) -> Result<Engine, GpuError> {
        let (route, slots, cuda) = match config.route {
            RouteChoice::Force(r) => {
                let (slots, cuda) = make_slots(ctx, r, config)?;
                (r, slots, cuda)
            }
            RouteChoice::Auto => {
                let mut chosen = None;
                let mut why = Vec::new();
                for r in Route::auto_order(ctx.caps().device_type) {
                    match make_slots(ctx, r, config) {
                        Ok((slots, cuda)) => {
                            chosen = Some((r, slots, cuda));
                            break;
                        }
                        Err(e) => why.push(format!("{r}: {e}")),
                    }
                }
                let Some(c) = chosen else {
                    return Err(GpuError::Missing(format!(
                        "a route to the GPU ({})",
                        why.join("; ")
                    )));
                };
                if !why.is_empty() {
                    log::info!(
                        "GPU executor: route {} ({} not available: {})",
                        c.0,
                        why.len(),
                        why.join("; ")
                    );
                }
                c
            }
        };
        let shader = ShaderDecoder::with_tables(ctx, config.variant, config.tables)?;
        let driver = driver_path(ctx, config)?;
        let slot_size = slots[0].size;
        let regions = slots
            .iter()
            .filter_map(|s| s.stage.host_ptr().map(|p| (p as usize, s.size as usize)))
            .collect();
        Ok(Engine {
            ctx: ctx.clone(),
            route,
            slot_size,
            config: config.clone(),
            shader,
            driver,
            pool: SlotPool::new(slots),
            commands: CommandPool::new(ctx)?,
            retired: Mutex::new(Vec::new()),
            timeline: TimelineSemaphore::new(ctx, 0)?,
            next_value: AtomicU64::new(1),
            registry,
            stats,
            cuda,
            regions,
        })
    }

    pub(crate) fn uses_driver(&self) -> bool {
        self.driver.is_some()
    }

    /// After both threads ended: idle the device, drop cached descriptor sets, free retired
    /// command buffers.
    pub(crate) fn shutdown(&self) {
        if let Err(e) = self.ctx.wait_idle() {
            log::warn!("GPU executor shutdown: {e}");
        }
        let mut slots = self.pool.drain();
        for s in &mut slots {
            s.clear_sets();
        }
        for s in slots {
            self.pool.put(s);
        }
        // Both threads ended: this is the only user of the pool now.
        for cmd in std::mem::take(&mut *lock(&self.retired)) {
            self.commands.free(cmd);
        }
    }

    fn count(&self, c: &AtomicU64, n: u64) {
        // Relaxed: statistics only.
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// Starts the submit and completion threads.
pub(crate) fn spawn(engine: Arc<Engine>, feed: JobFeed) -> std::io::Result<Vec<JoinHandle<()>>> {
    let (tx, rx) = mpsc::channel::<Batch>();
    let e2 = engine.clone();
    let completion = std::thread::Builder::new()
        .name("ds-gpu-complete".into())
        .spawn(move || completion_thread(&e2, rx))?;
    let submit = std::thread::Builder::new()
        .name("ds-gpu-submit".into())
        .spawn(move || Submitter::new(engine, feed, tx).run())?;
    Ok(vec![submit, completion])
}

/// cuFile handles of files seen on the GDS route, by file identity; `None` when cuFile refused the
/// file (its bytes then take the host path: a read into host memory and a CUDA copy).
type CuFiles = HashMap<usize, (WeakFile, Option<CuFileHandle>)>;

struct Submitter {
    e: Arc<Engine>,
    feed: JobFeed,
    tx: mpsc::Sender<Batch>,
    reader: Reader,
    pending: VecDeque<ActiveRef>,
    cufiles: CuFiles,
    /// Host memory of the GDS route's host path (files cuFile refused).
    bounce: Vec<u8>,
}

impl Submitter {
    fn new(e: Arc<Engine>, feed: JobFeed, tx: mpsc::Sender<Batch>) -> Submitter {
        let mut reader = Reader::new(e.config.io_uring);
        let regions: Vec<(*mut u8, usize)> =
            e.regions.iter().map(|&(p, l)| (p as *mut u8, l)).collect();
        // SAFETY: the slots' staging memory lives as long as the engine, which this submitter
        // (and so the reader) holds.
        unsafe { reader.register(&regions) };
        // Relaxed: informational flags.
        e.stats
            .io_uring
            .store(reader.uses_io_uring(), Ordering::Relaxed);
        e.stats
            .fixed_buffers
            .store(reader.has_fixed_buffers(), Ordering::Relaxed);
        Submitter {
            e,
            feed,
            tx,
            reader,
            pending: VecDeque::new(),
            cufiles: HashMap::new(),
            bounce: Vec::new(),
        }
    }

    fn run(mut self) {
        let mut jobs = Vec::new();
        loop {
            if self.pending.is_empty() {
                if !self.feed.next_batch(&mut jobs, self.e.config.intake) {
                    break;
                }
            } else {
                self.feed.try_next_batch(&mut jobs, self.e.config.intake);
            }
            self.intake(&mut jobs);
            if !self.pending.is_empty() {
                self.batch();
            }
        }
        // The feed is closed: the queue cancelled everything before closing it.
        for a in self.pending.drain(..) {
            let mut g = lock(&a);
            g.cancelled = true;
            g.done_issuing = true;
            drop(g);
            end_if_done(&a);
        }
    }

    /// Checks new jobs; direct reads run now, the rest wait for a batch.
    fn intake(&mut self, jobs: &mut Vec<Job>) {
        let mut direct = Vec::new();
        for job in jobs.drain(..) {
            if job.is_cancelled() {
                job.finish_cancelled();
                continue;
            }
            let Some(range) = job.gpu_destination() else {
                job.fail(RequestErrorKind::Unsupported {
                    executor: "vulkan",
                    what: "serve a destination that is not a GPU buffer",
                });
                continue;
            };
            let Some(entry) = self.e.registry.get(range.buffer) else {
                job.fail(RequestErrorKind::BadGpuBuffer {
                    buffer: range.buffer,
                    registered: None,
                });
                continue;
            };
            let desc = job.desc();
            let out_bytes = desc.uncompressed_size;
            if range
                .offset
                .checked_add(out_bytes)
                .is_none_or(|end| end > entry.size)
            {
                job.fail(RequestErrorKind::BadGpuBuffer {
                    buffer: range.buffer,
                    registered: Some(entry.size),
                });
                continue;
            }
            let gdeflate = desc.compression == Compression::GDeflate;
            let total = desc.source.size();
            let (src, file_offset) = match (job.file(), desc.source) {
                (Some(f), ds_core::Source::File { offset, .. }) => (Src::File(f.clone()), offset),
                _ => (Src::Memory, 0),
            };
            let direct_ok = self.e.route == Route::UploadHeap
                && self.e.config.direct_to_mapped
                && !gdeflate
                && matches!(src, Src::File(_))
                && entry.mapping().is_some();
            let a = Active {
                job: Some(job),
                src,
                gdeflate,
                dst: entry,
                dst_offset: range.offset,
                total,
                file_offset,
                out_bytes,
                issued: 0,
                in_flight: 0,
                done_issuing: false,
                error: None,
                cancelled: false,
            };
            if direct_ok {
                direct.push(a);
            } else {
                self.pending.push_back(Arc::new(Mutex::new(a)));
            }
        }
        if !direct.is_empty() {
            self.direct(direct);
        }
    }

    /// Uncompressed file reads straight into mapped device-local destinations, inside the write
    /// bracket (a strong cancel waits for the read).
    fn direct(&mut self, mut reqs: Vec<Active>) {
        let mut live = Vec::with_capacity(reqs.len());
        for mut a in reqs.drain(..) {
            let job = a.job.as_mut().expect("job present at intake");
            if job.begin_write().is_err() {
                if let Some(j) = a.job.take() {
                    j.finish_cancelled();
                }
                continue;
            }
            live.push(a);
        }
        let results = {
            let ops: Vec<ReadOp<'_>> = live
                .iter()
                .map(|a| {
                    let Src::File(f) = &a.src else {
                        unreachable!("direct reads have file sources")
                    };
                    let m = a
                        .dst
                        .mapping()
                        .expect("direct reads have mapped destinations");
                    ReadOp {
                        fd: f.as_fd(),
                        offset: a.file_offset,
                        dst: m.ptr.wrapping_add(a.dst_offset as usize),
                        len: a.total as usize,
                    }
                })
                .collect();
            // SAFETY: each destination range lies inside its registered, mapped buffer (checked
            // at intake) and is the request's to write: its write bracket is open, and the
            // registration contract keeps everyone else off it.
            unsafe { self.reader.read_all(&ops) }
        };
        for (mut a, r) in live.into_iter().zip(results) {
            let job = a.job.take().expect("job present");
            let r = r.and_then(|()| {
                let m = a.dst.mapping().expect("mapped");
                match (m.coherent, a.dst.owner()) {
                    (true, _) => Ok(()),
                    (false, Some(b)) => {
                        b.flush(a.dst_offset, a.total).map_err(|e| device_error(&e))
                    }
                    (false, None) => Ok(()),
                }
            });
            match r {
                Ok(()) => {
                    self.e.count(&self.e.stats.direct_reads, 1);
                    self.e.count(&self.e.stats.bytes_in, a.total);
                    job.complete(a.total);
                }
                Err(k) => job.fail(k),
            }
        }
    }

    /// Builds, reads, records and submits one batch from the front of `pending`.
    fn batch(&mut self) {
        let mut slot = self.e.pool.take();
        let mut segs = Vec::new();
        let mut used = 0u64;
        let mut tiles = 0u32;
        while let Some(a) = self.pending.front().cloned() {
            let mut g = lock(&a);
            let cancelled = g.job.as_ref().is_none_or(Job::is_cancelled);
            if cancelled {
                g.cancelled = true;
                g.done_issuing = true;
                drop(g);
                self.e.count(&self.e.stats.dropped_cancelled, 1);
                self.pending.pop_front();
                end_if_done(&a);
                continue;
            }
            let room = slot.size.saturating_sub(used);
            let (len, est_tiles) = if g.gdeflate {
                let t = u32::try_from(g.out_bytes.div_ceil(65536)).unwrap_or(u32::MAX);
                if g.total > room || tiles.saturating_add(t) > slot.max_tiles {
                    if segs.is_empty() {
                        // Cannot happen while the queue's staging limit fits a slot (checked at
                        // start); refuse rather than spin.
                        g.stop_with(RequestErrorKind::Unsupported {
                            executor: "vulkan",
                            what: "decompress a GDeflate request larger than a GPU staging slot",
                        });
                        drop(g);
                        self.pending.pop_front();
                        end_if_done(&a);
                        continue;
                    }
                    break;
                }
                (g.total, t)
            } else {
                let n = (g.total - g.issued).min(room);
                if n == 0 {
                    break;
                }
                (n, 0)
            };
            segs.push(Seg {
                req: a.clone(),
                at: used,
                len,
                src_offset: g.issued,
                dst: g.dst.clone(),
                dst_offset: g.dst_offset + if g.gdeflate { 0 } else { g.issued },
                gdeflate: None,
            });
            tiles += est_tiles;
            used = (used + len).div_ceil(SEG_ALIGN) * SEG_ALIGN;
            g.issued += len;
            let whole = g.issued == g.total;
            drop(g);
            if whole {
                self.pending.pop_front();
            } else {
                break;
            }
            if used >= slot.size {
                break;
            }
        }
        if segs.is_empty() {
            self.e.pool.put(slot);
            return;
        }
        self.fill(&slot, &mut segs);
        self.prepare(&mut slot, &mut segs);
        if segs.is_empty() {
            self.e.pool.put(slot);
            return;
        }
        self.submit(slot, segs);
    }

    /// Reads every segment's source bytes into the slot; segments that fail are removed and
    /// their requests stop with the error.
    fn fill(&mut self, slot: &Slot, segs: &mut Vec<Seg>) {
        let mut results: Vec<Result<(), RequestErrorKind>> = Vec::with_capacity(segs.len());
        if let Some((base, cufile)) = slot.stage.cuda() {
            for s in segs.iter() {
                let r = self.gds_read(cufile, base, s);
                results.push(r);
            }
            // The copies of memory sources and refused files (`cuMemcpyHtoD` from pageable
            // memory) may still be in flight when their calls return; the decode reads the slot
            // through Vulkan, which does not wait for CUDA work.
            let (cuda, _) = self.e.cuda.as_ref().expect("GDS route has CUDA");
            if let Err(e) = cuda.synchronize() {
                for r in results.iter_mut() {
                    *r = Err(cuda_error("cuCtxSynchronize", &e));
                }
            }
        } else {
            let host = slot.stage.host_ptr().expect("host staging is mapped");
            let mut ops = Vec::new();
            let mut op_of = Vec::with_capacity(segs.len());
            let mut guards: Vec<MutexGuard<'_, Active>> =
                segs.iter().map(|s| lock(&s.req)).collect();
            for (s, g) in segs.iter().zip(&guards) {
                let dst = host.wrapping_add(s.at as usize);
                match &g.src {
                    Src::File(f) => {
                        op_of.push(Some(ops.len()));
                        ops.push(ReadOp {
                            fd: f.as_fd(),
                            offset: g.file_offset + s.src_offset,
                            dst,
                            len: s.len as usize,
                        });
                    }
                    Src::Memory => op_of.push(None),
                }
            }
            // SAFETY: every op writes its own range of the slot's staging memory, which this
            // thread owns (the slot is not in flight) and which stays mapped while the engine
            // lives.
            let read = unsafe { self.reader.read_all(&ops) };
            let mut read = read.into_iter();
            for ((s, g), op) in segs.iter().zip(guards.iter_mut()).zip(op_of) {
                let r = match op {
                    Some(_) => read.next().expect("one result per op"),
                    None => {
                        let job = g.job.as_mut().expect("job present while issuing");
                        let bytes = memory_source(job);
                        let part = &bytes[s.src_offset as usize..(s.src_offset + s.len) as usize];
                        // SAFETY: `dst` is the segment's range of the slot (len bytes), owned
                        // by this thread; `part` is the request's own source memory.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                part.as_ptr(),
                                host.wrapping_add(s.at as usize),
                                part.len(),
                            )
                        };
                        Ok(())
                    }
                };
                results.push(r);
            }
            drop(guards);
            if let Err(e) = slot
                .stage
                .flush(0, segs.iter().map(|s| s.at + s.len).max().unwrap_or(0))
            {
                for r in results.iter_mut() {
                    *r = Err(device_error(&e));
                }
            }
        }
        let mut kept = Vec::with_capacity(segs.len());
        for (s, r) in segs.drain(..).zip(results) {
            match r {
                Ok(()) => {
                    self.e.count(&self.e.stats.bytes_in, s.len);
                    kept.push(s);
                }
                Err(k) => {
                    lock(&s.req).stop_with(k);
                    self.forget(&s.req);
                    end_if_done(&s.req);
                }
            }
        }
        *segs = kept;
    }

    /// Removes a request that stopped from the pending list (it may still be at its front).
    fn forget(&mut self, a: &ActiveRef) {
        self.pending.retain(|p| !Arc::ptr_eq(p, a));
    }

    /// `cuFileRead` of one segment into the slot (GDS route), continued on short reads.
    fn gds_read(
        &mut self,
        cufile: &Arc<CuFile>,
        base: u64,
        s: &Seg,
    ) -> Result<(), RequestErrorKind> {
        let mut g = lock(&s.req);
        let file = match &g.src {
            Src::File(f) => f.clone(),
            Src::Memory => {
                let job = g.job.as_mut().expect("job present while issuing");
                let bytes = memory_source(job);
                let part = &bytes[s.src_offset as usize..(s.src_offset + s.len) as usize];
                let (cuda, _) = self.e.cuda.as_ref().expect("GDS route has CUDA");
                return cuda
                    .copy_to_device(base + s.at, part)
                    .map_err(|e| cuda_error("cuMemcpyHtoD", &e));
            }
        };
        let offset = g.file_offset + s.src_offset;
        drop(g);
        self.cufiles.retain(|_, (w, _)| w.is_alive());
        let id = file.identity();
        if let std::collections::hash_map::Entry::Vacant(v) = self.cufiles.entry(id) {
            let h = match cufile.register_file(&file, true) {
                Ok(h) => Some(h),
                Err(e) => {
                    // Where cuFile cannot open a file (in compatibility mode it still needs the
                    // volume's udev attributes, absent in many containers and VMs), its bytes
                    // go through host memory: the request still lands in the GPU buffer.
                    log::warn!(
                        "GPU executor (GDS route): cuFileHandleRegister refused {}: {e}; reading it through host memory and cuMemcpyHtoD",
                        file.path().map_or_else(
                            || format!("fd {}", file.raw_fd()),
                            |p| p.display().to_string()
                        )
                    );
                    None
                }
            };
            v.insert((file.downgrade(), h));
        }
        let Some(h) = &self.cufiles[&id].1 else {
            return self.host_bounce(&file, offset, base + s.at, s.len as usize);
        };
        let mut done = 0usize;
        let len = s.len as usize;
        while done < len {
            match cufile.read(
                h,
                base,
                len - done,
                offset + done as u64,
                s.at + done as u64,
            ) {
                ReadResult::Bytes(0) => {
                    let file_len = rustix::fs::fstat(file.as_fd())
                        .ok()
                        .map(|st| st.st_size as u64);
                    return Err(RequestErrorKind::EndOfFile {
                        available: done as u64,
                        file_len,
                    });
                }
                ReadResult::Bytes(n) => done += n,
                ReadResult::Errno(e) if e == rustix::io::Errno::INTR.raw_os_error() => {}
                ReadResult::Errno(errno) => {
                    return Err(RequestErrorKind::Io {
                        call: "cuFileRead",
                        errno,
                    })
                }
                ReadResult::CuFile(code) => {
                    return Err(RequestErrorKind::Device {
                        call: "cuFileRead",
                        name: ds_os_linux::cufile::sys::cufile_error_name(code),
                        code,
                    })
                }
            }
        }
        self.e.count(&self.e.stats.gds_reads, 1);
        Ok(())
    }

    /// The GDS route's way around a file cuFile refused: read into host memory, copy to the
    /// slot's device memory with `cuMemcpyHtoD`.
    fn host_bounce(
        &mut self,
        file: &FileRef,
        offset: u64,
        dst: u64,
        len: usize,
    ) -> Result<(), RequestErrorKind> {
        let mut buf = std::mem::take(&mut self.bounce);
        buf.clear();
        buf.resize(len, 0);
        let op = ReadOp {
            fd: file.as_fd(),
            offset,
            dst: buf.as_mut_ptr(),
            len,
        };
        // SAFETY: `buf` holds `len` writable bytes owned by this thread until the read returns.
        let read = unsafe { self.reader.read_all(std::slice::from_ref(&op)) };
        let r = read.into_iter().next().unwrap_or(Ok(())).and_then(|()| {
            let (cuda, _) = self.e.cuda.as_ref().expect("GDS route has CUDA");
            cuda.copy_to_device(dst, &buf)
                .map_err(|e| cuda_error("cuMemcpyHtoD", &e))
        });
        if r.is_ok() {
            self.e.count(&self.e.stats.gds_host_reads, 1);
        }
        self.bounce = buf;
        r
    }

    /// Parses GDeflate segments and writes their tile descriptors; opens the write bracket of
    /// every request in the batch. Requests cancelled by now are left out (nothing recorded for
    /// them); invalid streams fail before any GPU work.
    fn prepare(&mut self, slot: &mut Slot, segs: &mut Vec<Seg>) {
        let mut kept = Vec::with_capacity(segs.len());
        let mut tile_cursor = 0u32;
        let mut descs: Vec<u8> = Vec::new();
        let window = self.window();
        for mut s in segs.drain(..) {
            let mut g = lock(&s.req);
            if g.gdeflate {
                match self.parse(slot, &s, &mut g, tile_cursor, window) {
                    Ok((d, bytes)) => {
                        tile_cursor += d.tiles;
                        descs.extend_from_slice(&bytes);
                        s.gdeflate = Some(d);
                    }
                    Err(k) => {
                        g.stop_with(k);
                        drop(g);
                        self.forget(&s.req);
                        end_if_done(&s.req);
                        continue;
                    }
                }
            }
            let job = g.job.as_mut().expect("job present while issuing");
            if job.begin_write().is_err() || job.is_cancelled() {
                g.cancelled = true;
                g.done_issuing = true;
                drop(g);
                self.e.count(&self.e.stats.dropped_cancelled, 1);
                self.forget(&s.req);
                end_if_done(&s.req);
                continue;
            }
            g.in_flight += 1;
            if g.issued == g.total {
                g.done_issuing = true;
            }
            drop(g);
            kept.push(s);
        }
        if !descs.is_empty() {
            let map = slot.tiles.mapped_mut().expect("tile table is mapped");
            map[..descs.len()].copy_from_slice(&descs);
            if let Err(e) = slot.tiles.flush(0, descs.len() as u64) {
                log::error!("GPU executor: {e}");
            }
        }
        *segs = kept;
    }

    /// Output window per descriptor set (see [`WINDOW`]).
    fn window(&self) -> u64 {
        let limit = self.e.ctx.caps().max_storage_buffer_range;
        let mut w = WINDOW;
        while w > 65536 && w * 2 > limit {
            w /= 2;
        }
        w
    }

    /// Parses a GDeflate segment: checks the container and size, builds tile descriptors (and
    /// driver regions when that path applies).
    fn parse(
        &self,
        slot: &Slot,
        s: &Seg,
        g: &mut Active,
        first_tile: u32,
        window: u64,
    ) -> Result<(Decode, Vec<u8>), RequestErrorKind> {
        let header;
        let bytes: &[u8] = match slot.stage.host_ptr() {
            // SAFETY: the segment's bytes were just read into this slot, which this thread owns.
            Some(p) => unsafe {
                std::slice::from_raw_parts(p.wrapping_add(s.at as usize), s.len as usize)
            },
            None => {
                header = gds_header(g, s)?;
                &header
            }
        };
        let corrupt = |e: &dyn std::fmt::Display| RequestErrorKind::Corrupt {
            message: e.to_string(),
        };
        let stream = ds_gdeflate::TileStream::parse(bytes).map_err(|e| corrupt(&e))?;
        if stream.uncompressed_size() != g.out_bytes {
            return Err(RequestErrorKind::SizeMismatch {
                stream: stream.uncompressed_size(),
                declared: g.out_bytes,
            });
        }
        let base = s.dst_offset / window * window;
        let dst_rel = s.dst_offset - base;
        let src = slot.decode_src();
        let descs = tile_descs(&stream, src.offset + s.at, dst_rel).map_err(|e| corrupt(&e))?;
        let tiles = descs.len() as u32;
        let on_driver = match &self.e.driver {
            None => None,
            Some(d) => match driver_regions(&stream, src.address, s, d) {
                Ok(regions) => Some(regions),
                Err(why) => {
                    // The driver's decoder cannot take it: the shader can, with per-tile checks.
                    log::debug!(
                        "GPU executor: GDeflate request into buffer {:#x} at {} decoded by the shader: {why}",
                        s.dst.handle(),
                        s.dst_offset
                    );
                    self.e.count(&self.e.stats.driver_fallbacks, 1);
                    None
                }
            },
        };
        let dispatched = !matches!(
            (&self.e.driver, &on_driver),
            (Some(DriverPath::Device(_)), Some(_))
        );
        let mut out = Vec::new();
        if dispatched {
            out.reserve(descs.len() * 16);
            for d in &descs {
                out.extend_from_slice(&d.to_bytes());
            }
        }
        Ok((
            Decode {
                first_tile,
                tiles: if dispatched { tiles } else { 0 },
                driver: on_driver.is_some(),
                regions: on_driver.unwrap_or_default(),
            },
            out,
        ))
    }

    /// Records and submits the batch's command buffer; on failure every request in it fails.
    fn submit(&mut self, mut slot: Slot, segs: Vec<Seg>) {
        let value = self.e.next_value.fetch_add(1, Ordering::Relaxed);
        for cmd in std::mem::take(&mut *lock(&self.e.retired)) {
            self.e.commands.free(cmd);
        }
        let recorded = self.e.commands.begin().and_then(|cmd| {
            // SAFETY: `cmd` is recording; every buffer it names is alive until the completion
            // thread has waited for `value` (slot, registry entries held by the segments).
            match unsafe { self.record(cmd, &mut slot, &segs) } {
                Ok(()) => Ok(cmd),
                Err(e) => {
                    self.e.commands.free(cmd);
                    Err(e)
                }
            }
        });
        let submitted = recorded.and_then(|cmd| {
            self.e.commands.end(cmd)?;
            match self
                .e
                .ctx
                .submit(&[cmd], &[], &[(self.e.timeline.handle(), value)])
            {
                Ok(()) => Ok(cmd),
                Err(e) => {
                    self.e.commands.free(cmd);
                    Err(e)
                }
            }
        });
        match submitted {
            Ok(cmd) => {
                self.e.count(&self.e.stats.submissions, 1);
                self.e
                    .count(&self.e.stats.batched_segments, segs.len() as u64);
                let batch = Batch {
                    slot,
                    value,
                    cmd,
                    segs,
                };
                if let Err(mpsc::SendError(b)) = self.tx.send(batch) {
                    // The completion thread is gone (it panicked): wait here instead.
                    complete_batch(&self.e, b);
                }
            }
            Err(e) => {
                // Nothing was submitted: keep the timeline moving for later values.
                if let Err(se) = self.e.timeline.signal(value) {
                    log::error!("GPU executor: {se}");
                }
                let k = device_error(&e);
                for s in &segs {
                    let mut g = lock(&s.req);
                    g.in_flight -= 1;
                    g.stop_with(k.clone());
                    drop(g);
                    self.forget(&s.req);
                    end_if_done(&s.req);
                }
                self.e.pool.put(slot);
            }
        }
    }

    /// # Safety
    /// `cmd` is recording on this device; the buffers named stay alive until the work completes.
    unsafe fn record(
        &self,
        cmd: vk::CommandBuffer,
        slot: &mut Slot,
        segs: &[Seg],
    ) -> Result<(), GpuError> {
        use vk::AccessFlags as A;
        use vk::PipelineStageFlags as P;
        let ctx = &self.e.ctx;
        let d = ctx.device();
        let all = (P::ALL_COMMANDS, A::MEMORY_READ | A::MEMORY_WRITE);
        let stage = slot.stage.handle();
        let shader_tiles: u32 = segs
            .iter()
            .filter_map(|s| s.gdeflate.as_ref())
            .map(|g| g.tiles)
            .sum();
        let overlap = self.e.config.overlap_batches;
        // SAFETY: recording command buffer (caller); handles of this device, alive (caller).
        unsafe {
            if !overlap {
                // Everything submitted to the queue before (the embedder's work included) is
                // done before this batch writes anything.
                record_buffer_barrier(
                    ctx,
                    cmd,
                    all,
                    (P::TRANSFER, A::TRANSFER_WRITE | A::TRANSFER_READ),
                );
            }
            if let Some(scratch) = &slot.scratch {
                let regions: Vec<vk::BufferCopy> = segs
                    .iter()
                    .filter(|s| s.gdeflate.is_some())
                    .map(|s| {
                        vk::BufferCopy::default()
                            .src_offset(s.at)
                            .dst_offset(s.at)
                            .size(s.len)
                    })
                    .collect();
                if !regions.is_empty() {
                    d.cmd_copy_buffer(cmd, stage, scratch.handle(), &regions);
                }
            }
            for s in segs.iter().filter(|s| s.gdeflate.is_none()) {
                let region = vk::BufferCopy::default()
                    .src_offset(s.at)
                    .dst_offset(s.dst_offset)
                    .size(s.len);
                d.cmd_copy_buffer(cmd, stage, s.dst.buffer, &[region]);
            }
            if shader_tiles > 0 {
                d.cmd_fill_buffer(
                    cmd,
                    slot.status.handle(),
                    0,
                    u64::from(shader_tiles) * SLOT_BYTES,
                    STATUS_UNWRITTEN,
                );
            }
            record_buffer_barrier(ctx, cmd, (P::TRANSFER, A::TRANSFER_WRITE), all);
        }
        let window = self.window();
        let mut regions: Vec<Region> = Vec::new();
        for s in segs {
            let Some(dec) = &s.gdeflate else { continue };
            regions.extend_from_slice(&dec.regions);
            if dec.tiles == 0 {
                continue;
            }
            let base = s.dst_offset / window * window;
            let set = slot.decode_set(&self.e.shader, &s.dst, base, window)?;
            // SAFETY: recording buffer; the set's buffers are alive (slot, entry held by seg).
            unsafe { self.e.shader.record(cmd, set, dec.first_tile, dec.tiles) };
            let counter = if dec.driver {
                &self.e.stats.driver_tiles
            } else {
                &self.e.stats.shader_tiles
            };
            self.e.count(counter, u64::from(dec.tiles));
        }
        if let (false, Some(DriverPath::Device(driver))) = (regions.is_empty(), &self.e.driver) {
            // SAFETY: recording buffer; regions address the slot and the destinations, all alive
            // until the batch completes.
            unsafe { driver.record(cmd, &regions) }?;
            self.e
                .count(&self.e.stats.driver_tiles, regions.len() as u64);
        }
        // SAFETY: recording buffer.
        unsafe {
            if overlap {
                // Only the host must see the status (and, on the direct paths, nothing else):
                // a second scope of HOST holds no later GPU work back, so the next batch's
                // copies and decode overlap this one's.
                record_buffer_barrier(
                    ctx,
                    cmd,
                    (P::ALL_COMMANDS, A::MEMORY_WRITE),
                    (P::HOST, A::HOST_READ),
                );
            } else {
                record_buffer_barrier(
                    ctx,
                    cmd,
                    all,
                    (
                        P::ALL_COMMANDS | P::HOST,
                        A::MEMORY_READ | A::MEMORY_WRITE | A::HOST_READ,
                    ),
                );
            }
        }
        Ok(())
    }
}

/// The driver regions of a GDeflate segment, or why the driver's decoder cannot take it (no device
/// address for the slot or the destination, a tile source or destination off a 4-byte boundary:
/// the extension requires both aligned). The emulated path makes the same decision.
fn driver_regions(
    stream: &ds_gdeflate::TileStream<'_>,
    src_address: u64,
    s: &Seg,
    driver: &DriverPath,
) -> Result<Vec<Region>, String> {
    if src_address == 0 || s.dst.address == 0 {
        return Err("no device address for the staging memory or the destination".into());
    }
    let regions = regions_for_stream(stream, src_address + s.at, s.dst.address + s.dst_offset)
        .map_err(|e| e.to_string())?;
    Ok(match driver {
        DriverPath::Device(_) => regions,
        DriverPath::Emulated => Vec::new(),
    })
}

/// The source bytes of a memory-source job.
fn memory_source(job: &mut Job) -> &[u8] {
    job.io_parts().source.unwrap_or(&[])
}

fn cuda_error(call: &'static str, e: &ds_os_linux::cufile::CuFileError) -> RequestErrorKind {
    log::warn!("GPU executor: {call}: {e}");
    RequestErrorKind::Device {
        call,
        name: "CUDA/cuFile error",
        code: -1,
    }
}

/// Header and tile table of a GDeflate segment read with `pread` (GDS route: the stream itself
/// is in device memory).
fn gds_header(g: &mut Active, s: &Seg) -> Result<Vec<u8>, RequestErrorKind> {
    let Src::File(f) = &g.src else {
        let job = g.job.as_mut().expect("job present");
        return Ok(
            memory_source(job)[s.src_offset as usize..(s.src_offset + s.len) as usize].to_vec(),
        );
    };
    let at = g.file_offset + s.src_offset;
    let mut head = vec![0u8; 8.min(s.len as usize)];
    pread_exact(f, &mut head, at)?;
    let tiles = if head.len() >= 4 {
        usize::from(u16::from_le_bytes([head[2], head[3]]))
    } else {
        0
    };
    let table = (8 + 4 * tiles).min(s.len as usize);
    let mut out = vec![0u8; table];
    pread_exact(f, &mut out, at)?;
    // The parse checks tile ranges against the stream length: extend with a placeholder for the
    // payload area (its bytes are never read on the host).
    out.resize(s.len as usize, 0);
    Ok(out)
}

fn pread_exact(f: &FileRef, buf: &mut [u8], offset: u64) -> Result<(), RequestErrorKind> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::pread(f.as_fd(), &mut buf[done..], offset + done as u64) {
            Ok(0) => {
                return Err(RequestErrorKind::EndOfFile {
                    available: done as u64,
                    file_len: rustix::fs::fstat(f.as_fd()).ok().map(|s| s.st_size as u64),
                })
            }
            Ok(n) => done += n,
            Err(e) if e == rustix::io::Errno::INTR => {}
            Err(e) => {
                return Err(RequestErrorKind::Io {
                    call: "pread",
                    errno: e.raw_os_error(),
                })
            }
        }
    }
    Ok(())
}

/// Waits for batches in submission order and ends their requests.
fn completion_thread(e: &Engine, rx: mpsc::Receiver<Batch>) {
    for batch in rx {
        complete_batch(e, batch);
    }
}

fn complete_batch(e: &Engine, batch: Batch) {
    let Batch {
        slot,
        value,
        cmd,
        segs,
    } = batch;
    let waited = loop {
        match e.timeline.wait(value, 1_000_000_000) {
            Ok(true) => break Ok(()),
            Ok(false) => continue,
            Err(err) => break Err(err),
        }
    };
    let status: Option<Vec<u8>> = match &waited {
        Ok(())
            if segs.iter().any(|s| {
                s.gdeflate
                    .as_ref()
                    .is_some_and(|d| d.tiles > 0 && !d.driver)
            }) =>
        {
            let n: u64 = segs
                .iter()
                .filter_map(|s| s.gdeflate.as_ref())
                .map(|d| u64::from(d.tiles))
                .sum::<u64>()
                * SLOT_BYTES;
            match slot.status.invalidate(0, n) {
                Ok(()) => slot.status.mapped().map(|m| m[..n as usize].to_vec()),
                Err(err) => {
                    log::error!("GPU executor: {err}");
                    None
                }
            }
        }
        _ => None,
    };
    for s in &segs {
        let mut g = lock(&s.req);
        g.in_flight -= 1;
        match &waited {
            Err(err) => g.stop_with(device_error(err)),
            Ok(()) => {
                if let (Some(d), Some(st)) = (&s.gdeflate, &status) {
                    // The driver path (device or emulated) reports nothing per tile.
                    if let Some(k) = tile_error(st, d).filter(|_| !d.driver) {
                        g.stop_with(k);
                    }
                }
            }
        }
        drop(g);
        end_if_done(&s.req);
    }
    if waited.is_ok() {
        lock(&e.retired).push(cmd);
    } else {
        log::error!("GPU executor: batch {value} did not complete; its command buffer is kept");
    }
    e.pool.put(slot);
}

/// The first failing tile of a shader-decoded segment, as a request error.
fn tile_error(status: &[u8], d: &Decode) -> Option<RequestErrorKind> {
    for t in 0..d.tiles {
        let at = (d.first_tile + t) as usize * SLOT_BYTES as usize;
        let st = TileStatus::from_bytes(&status[at..at + SLOT_BYTES as usize]);
        if let Err(err) = st.result() {
            return Some(RequestErrorKind::Corrupt {
                message: format!(
                    "tile {t}: {err} (GPU decode; the destination range may hold partial output)"
                ),
            });
        }
    }
    None
}
