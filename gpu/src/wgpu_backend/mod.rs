//! The wgpu fallback (feature `wgpu`): GPU-buffer destinations and GDeflate decode for embedders
//! that already render with wgpu (its Vulkan or GL backend), with the same request queue.
//!
//! - **One shader source.** The decoder is `shaders/gdeflate_decode.comp`, built a second time
//!   with `-DDS_NAGA` (`shaders/gdeflate_decode_naga.spv`, generated and checked like the ash
//!   module) and handed to wgpu as SPIR-V, which naga's SPIR-V front end ingests and translates
//!   for the backend. That build writes output bytes into 32-bit words with atomics, so requests
//!   may land at any byte offset.
//! - **Buffers.** [`WgpuBufferRegistry::register`] gives each destination `wgpu::Buffer` (usage
//!   `STORAGE | COPY_DST`, size a multiple of 4) a `u64` handle for `Request::into_gpu_buffer`.
//! - **Batches.** The executor thread takes what the queue has ready, reads all file ranges of the
//!   batch at once (io_uring or pread), and records one command encoder: uploads of uncompressed
//!   requests through `Queue::write_buffer` (wgpu's own staging), compressed streams written to a
//!   reusable source buffer, one decode dispatch per GDeflate request, the status copy; then one
//!   `submit`, a wait for that submission, and the per-tile status mapped back. Uncompressed
//!   requests whose offset or size is not a multiple of 4 (wgpu's copy alignment) are wrapped on
//!   the CPU as stored GDeflate blocks and written by the decoder, byte-exact.
//! - **Cancellation** follows the Vulkan executor: requests cancelled before recording are left
//!   out; a request inside its write bracket (from just before `submit` until the wait returns)
//!   makes a strong cancel wait for that submission.
//!
//! wgpu owns and frees its objects itself (reference counted), so there is nothing to leak here;
//! its validation errors are collected ([`WgpuExecutor::errors`]) and fail the request whose
//! submission raised them.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use ds_core::DestinationKinds;
use ds_os_linux::{Compression, Driver, FileRef, Job, JobFeed, RequestErrorKind};

use crate::decode::{tile_descs, TileStatus, STATUS_UNWRITTEN};
use crate::error::GpuError;
use crate::executor::reader::{ReadOp, Reader};
use crate::executor::ExecutorStats;
use crate::memory::DEFAULT_STAGING_SIZE;

pub use wgpu;

/// The decoder built from `shaders/gdeflate_decode.comp` with `-DDS_NAGA` (generated file,
/// checked by `cargo xtask test --only spirv`).
pub static NAGA_SPIRV: &[u8] = include_bytes!("../../../shaders/gdeflate_decode_naga.spv");

/// Bytes per tile descriptor / status slot.
const SLOT: u64 = 16;
/// Uniform offsets must be multiples of this (WebGPU's minimum uniform offset alignment bound).
const UNIFORM_STRIDE: u64 = 256;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates a wgpu device and queue on the first adapter of `backends` (e.g.
/// `wgpu::Backends::VULKAN`), with the adapter's own limits (larger storage bindings than the
/// WebGPU defaults). Embedders pass their existing device and queue to [`WgpuExecutor::new`]
/// instead.
pub fn create_device(
    backends: wgpu::Backends,
) -> Result<(wgpu::Device, wgpu::Queue, wgpu::AdapterInfo), GpuError> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let adapter = adapters
        .into_iter()
        .next()
        .ok_or_else(|| GpuError::NoDevice(format!("no wgpu adapter for {backends:?}")))?;
    let info = adapter.get_info();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("ds-gpu wgpu"),
        required_features: wgpu::Features::empty(),
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .map_err(|e| GpuError::NoDevice(format!("wgpu request_device on {}: {e}", info.name)))?;
    Ok((device, queue, info))
}

/// The decode pipeline on a wgpu device.
#[derive(Debug)]
pub struct WgpuDecoder {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl WgpuDecoder {
    /// Builds the pipeline from [`NAGA_SPIRV`] (naga's SPIR-V front end).
    pub fn new(device: &wgpu::Device) -> WgpuDecoder {
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some("gdeflate_decode (DS_NAGA)"),
            source: wgpu::util::make_spirv(NAGA_SPIRV),
        };
        // wgpu's runtime checks: bounds checks stay on; the loop-bounding counters naga would add
        // to every loop are left out. Every loop of the decoder already has an explicit bound
        // (rounds per block, blocks per tile, copy waves, table sizes: see the shader), and with
        // both kinds of checks lavapipe (Mesa 22.3, the CI device) miscompiles the module: long
        // stored blocks stop producing bytes after 61664 bytes of a tile.
        let checks = wgpu::ShaderRuntimeChecks {
            force_loop_bounding: false,
            ..wgpu::ShaderRuntimeChecks::checked()
        };
        // SAFETY: `create_shader_module_trusted` requires that the disabled checks are not needed:
        // no loop of the decoder can run without bound (each is limited by a constant or by a
        // count checked against the tile's size before the loop), and bounds checks stay on.
        let module = unsafe { device.create_shader_module_trusted(desc, checks) };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("gdeflate_decode"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        WgpuDecoder { pipeline, layout }
    }
}

#[derive(Debug)]
struct WgpuEntry {
    buffer: wgpu::Buffer,
    size: u64,
}

/// Last handle given out, and the registered buffers by handle.
type Buffers = (u64, HashMap<u64, Arc<WgpuEntry>>);

/// Destination buffers of a [`WgpuExecutor`] (clone freely).
#[derive(Clone, Debug, Default)]
pub struct WgpuBufferRegistry {
    inner: Arc<Mutex<Buffers>>,
}

impl WgpuBufferRegistry {
    /// Registers `buffer` (usage `STORAGE | COPY_DST`, size a multiple of 4); returns its handle
    /// for `Request::into_gpu_buffer`. The registry keeps a reference until unregistered.
    pub fn register(&self, buffer: &wgpu::Buffer) -> Result<u64, GpuError> {
        let usage = buffer.usage();
        let size = buffer.size();
        if !usage.contains(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST)
            || !size.is_multiple_of(4)
        {
            return Err(GpuError::Range {
                what: format!(
                    "wgpu buffer of {size} bytes with usage {usage:?}: needs STORAGE | COPY_DST and a size that is a multiple of 4"
                ),
            });
        }
        let mut g = lock(&self.inner);
        g.0 += 1;
        let handle = g.0;
        g.1.insert(
            handle,
            Arc::new(WgpuEntry {
                buffer: buffer.clone(),
                size,
            }),
        );
        Ok(handle)
    }

    /// Removes a registration; false for an unknown handle.
    pub fn unregister(&self, handle: u64) -> bool {
        lock(&self.inner).1.remove(&handle).is_some()
    }

    fn get(&self, handle: u64) -> Option<Arc<WgpuEntry>> {
        lock(&self.inner).1.get(&handle).cloned()
    }
}

/// Settings of a [`WgpuExecutor`].
#[derive(Clone, Debug)]
pub struct WgpuConfig {
    /// Bytes of compressed data per batch (also the largest GDeflate request). Default 32 MiB.
    pub staging_size: u64,
    /// Read files with io_uring (else pread).
    pub io_uring: bool,
    /// Requests taken from the queue per visit.
    pub intake: usize,
}

impl Default for WgpuConfig {
    fn default() -> Self {
        WgpuConfig {
            staging_size: DEFAULT_STAGING_SIZE,
            io_uring: true,
            intake: 256,
        }
    }
}

/// Reusable GPU objects of the batches.
#[derive(Debug)]
struct Resources {
    src: wgpu::Buffer,
    tiles: wgpu::Buffer,
    status: wgpu::Buffer,
    readback: wgpu::Buffer,
    uniforms: wgpu::Buffer,
    max_tiles: u32,
    max_dispatches: u32,
}

/// The wgpu executor; add it with `QueueBuilder::executor(Box::new(exec))`.
pub struct WgpuExecutor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    device: wgpu::Device,
    queue: wgpu::Queue,
    decoder: WgpuDecoder,
    registry: WgpuBufferRegistry,
    config: WgpuConfig,
    res: Resources,
    stats: Arc<ExecutorStats>,
    errors: Arc<Mutex<Vec<String>>>,
    storage_limit: u64,
    offset_align: u64,
}

impl std::fmt::Debug for WgpuExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgpuExecutor")
            .field("staging_size", &self.shared.config.staging_size)
            .finish()
    }
}

impl WgpuExecutor {
    /// An executor on an existing wgpu device and queue (the embedder's).
    pub fn new(
        device: wgpu::Device,
        queue: wgpu::Queue,
        config: WgpuConfig,
    ) -> Result<WgpuExecutor, GpuError> {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("wgpu: {e}");
            lock(&sink).push(e.to_string());
        }));
        let limits = device.limits();
        let size = config.staging_size.max(4).div_ceil(4) * 4;
        if size > limits.max_storage_buffer_binding_size {
            return Err(GpuError::Range {
                what: format!(
                    "staging size {size} exceeds the device's storage binding limit {}",
                    limits.max_storage_buffer_binding_size
                ),
            });
        }
        let max_tiles = crate::executor::slots::tiles_for(size);
        let max_dispatches = 256u32;
        let buf = |label, size, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        let table = u64::from(max_tiles) * SLOT;
        let res = Resources {
            src: buf("ds src", size, U::STORAGE | U::COPY_DST),
            tiles: buf("ds tiles", table, U::STORAGE | U::COPY_DST),
            status: buf("ds status", table, U::STORAGE | U::COPY_DST | U::COPY_SRC),
            readback: buf("ds readback", table, U::MAP_READ | U::COPY_DST),
            uniforms: buf(
                "ds tile ranges",
                u64::from(max_dispatches) * UNIFORM_STRIDE,
                U::UNIFORM | U::COPY_DST,
            ),
            max_tiles,
            max_dispatches,
        };
        let decoder = WgpuDecoder::new(&device);
        Ok(WgpuExecutor {
            shared: Arc::new(Shared {
                storage_limit: limits.max_storage_buffer_binding_size,
                offset_align: u64::from(limits.min_storage_buffer_offset_alignment).max(4),
                device,
                queue,
                decoder,
                registry: WgpuBufferRegistry::default(),
                config: WgpuConfig {
                    staging_size: size,
                    ..config
                },
                res,
                stats: Arc::new(ExecutorStats::default()),
                errors,
            }),
            thread: None,
        })
    }

    /// The registry of destination buffers.
    pub fn buffers(&self) -> WgpuBufferRegistry {
        self.shared.registry.clone()
    }

    /// Counters (the fields that apply: submissions, batched segments, cancelled drops, bytes,
    /// shader tiles).
    pub fn stats(&self) -> Arc<ExecutorStats> {
        self.shared.stats.clone()
    }

    /// wgpu validation errors raised so far (they also fail the requests of their batch).
    pub fn errors(&self) -> Arc<Mutex<Vec<String>>> {
        self.shared.errors.clone()
    }
}

impl Driver for WgpuExecutor {
    fn name(&self) -> &'static str {
        "wgpu"
    }

    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::GPU_BUFFER
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        if feed.staging_limit() > self.shared.config.staging_size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "wgpu staging of {} bytes is smaller than the queue's staging limit of {} bytes",
                    self.shared.config.staging_size,
                    feed.staging_limit()
                ),
            ));
        }
        let shared = self.shared.clone();
        self.thread = Some(
            std::thread::Builder::new()
                .name("ds-wgpu".into())
                .spawn(move || run(&shared, &feed))?,
        );
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("wgpu executor thread panicked");
            }
        }
    }
}

impl Drop for WgpuExecutor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request of a batch.
struct Item {
    job: Job,
    dst: Arc<WgpuEntry>,
    dst_offset: u64,
    /// Bytes to upload: the file/memory bytes (uncompressed, aligned) or a GDeflate stream.
    data: Vec<u8>,
    /// Set for requests decoded on the GPU (GDeflate, or unaligned uncompressed wrapped as
    /// stored blocks).
    decode: Option<ItemDecode>,
    out_bytes: u64,
}

struct ItemDecode {
    src_at: u64,
    first_tile: u32,
    tiles: u32,
    base: u64,
    window: u64,
}

fn run(sh: &Shared, feed: &JobFeed) {
    let mut reader = Reader::new(sh.config.io_uring);
    let mut jobs = Vec::new();
    let mut carry: Vec<Job> = Vec::new();
    loop {
        if carry.is_empty() {
            if !feed.next_batch(&mut jobs, sh.config.intake) {
                break;
            }
        } else {
            jobs.append(&mut carry);
            feed.try_next_batch(&mut jobs, sh.config.intake);
        }
        batch(sh, &mut reader, &mut jobs, &mut carry);
    }
    for j in carry {
        j.finish_cancelled();
    }
}

/// Source bytes of a job: read from its file (all files of the batch at once) or copied from its
/// memory source.
fn sources(reader: &mut Reader, jobs: &mut [Job]) -> Vec<Result<Vec<u8>, RequestErrorKind>> {
    let mut bufs: Vec<Vec<u8>> = jobs
        .iter()
        .map(|j| vec![0u8; j.desc().source.size() as usize])
        .collect();
    let files: Vec<Option<(FileRef, u64)>> = jobs
        .iter()
        .map(|j| match (j.file(), j.desc().source) {
            (Some(f), ds_core::Source::File { offset, .. }) => Some((f.clone(), offset)),
            _ => None,
        })
        .collect();
    let mut ops = Vec::new();
    for (b, f) in bufs.iter_mut().zip(&files) {
        if let Some((file, offset)) = f {
            ops.push(ReadOp {
                fd: file.as_fd(),
                offset: *offset,
                dst: b.as_mut_ptr(),
                len: b.len(),
            });
        }
    }
    // SAFETY: every op writes its own Vec, alive and untouched until this returns.
    let mut results = unsafe { reader.read_all(&ops) }.into_iter();
    drop(ops);
    let mut out = Vec::with_capacity(jobs.len());
    for ((job, mut b), f) in jobs.iter_mut().zip(bufs).zip(files) {
        if f.is_some() {
            out.push(results.next().expect("one result per file op").map(|()| b));
        } else {
            let src = job.io_parts().source.unwrap_or(&[]);
            b.copy_from_slice(src);
            out.push(Ok(b));
        }
    }
    out
}

fn batch(sh: &Shared, reader: &mut Reader, jobs: &mut Vec<Job>, carry: &mut Vec<Job>) {
    // Check destinations; take jobs in order while the batch has room.
    let mut taken: Vec<(Job, Arc<WgpuEntry>, u64)> = Vec::new();
    let (mut src_used, mut tiles_used, mut dispatches) = (0u64, 0u32, 0u32);
    let mut rest = jobs.drain(..);
    for job in rest.by_ref() {
        if job.is_cancelled() {
            job.finish_cancelled();
            sh.stats.dropped_cancelled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Some(range) = job.gpu_destination() else {
            job.fail(RequestErrorKind::Unsupported {
                executor: "wgpu",
                what: "serve a destination that is not a GPU buffer",
            });
            continue;
        };
        let Some(entry) = sh.registry.get(range.buffer) else {
            job.fail(RequestErrorKind::BadGpuBuffer {
                buffer: range.buffer,
                registered: None,
            });
            continue;
        };
        let d = job.desc();
        let out = d.uncompressed_size;
        if range.offset.checked_add(out).is_none_or(|e| e > entry.size) {
            job.fail(RequestErrorKind::BadGpuBuffer {
                buffer: range.buffer,
                registered: Some(entry.size),
            });
            continue;
        }
        let decodes =
            d.compression == Compression::GDeflate || range.offset % 4 != 0 || out % 4 != 0;
        if decodes {
            // Stored-block wrapping adds about 0.1% plus the tile table.
            let need = if d.compression == Compression::GDeflate {
                d.source.size()
            } else {
                out + out / 64 + 4096
            };
            let t = u32::try_from(out.div_ceil(65536)).unwrap_or(u32::MAX);
            let fits = src_used + need.div_ceil(256) * 256 <= sh.config.staging_size
                && tiles_used + t <= sh.res.max_tiles
                && dispatches < sh.res.max_dispatches;
            if !fits {
                if taken.is_empty() {
                    job.fail(RequestErrorKind::Unsupported {
                        executor: "wgpu",
                        what: "decode a request larger than the wgpu staging buffer",
                    });
                    continue;
                }
                carry.push(job);
                break;
            }
            src_used += need.div_ceil(256) * 256;
            tiles_used += t;
            dispatches += 1;
        }
        taken.push((job, entry, range.offset));
    }
    carry.extend(rest);
    if taken.is_empty() {
        return;
    }
    let mut jobs_only: Vec<Job> = Vec::with_capacity(taken.len());
    let mut meta = Vec::with_capacity(taken.len());
    for (j, e, o) in taken {
        jobs_only.push(j);
        meta.push((e, o));
    }
    let data = sources(reader, &mut jobs_only);
    let mut items = Vec::new();
    let mut src_at = 0u64;
    let mut tile_at = 0u32;
    let mut descs: Vec<u8> = Vec::new();
    for ((job, (dst, dst_offset)), data) in jobs_only.into_iter().zip(meta).zip(data) {
        let bytes = match data {
            Ok(b) => b,
            Err(k) => {
                job.fail(k);
                continue;
            }
        };
        sh.stats
            .bytes_in
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let out_bytes = job.desc().uncompressed_size;
        let gdeflate = job.desc().compression == Compression::GDeflate;
        let aligned = dst_offset % 4 == 0 && out_bytes % 4 == 0;
        let stream = if gdeflate {
            bytes
        } else if aligned {
            items.push(Item {
                job,
                dst,
                dst_offset,
                data: bytes,
                decode: None,
                out_bytes,
            });
            continue;
        } else {
            match ds_gdeflate::encode::compress(&bytes, 0) {
                Ok(s) => s,
                Err(e) => {
                    job.fail(RequestErrorKind::Corrupt {
                        message: format!("wrapping unaligned bytes as stored blocks: {e}"),
                    });
                    continue;
                }
            }
        };
        match plan_decode(sh, &stream, out_bytes, dst_offset, &dst, src_at, tile_at) {
            Ok((dec, bytes_desc)) => {
                descs.extend_from_slice(&bytes_desc);
                src_at += (stream.len() as u64).div_ceil(256) * 256;
                tile_at += dec.tiles;
                items.push(Item {
                    job,
                    dst,
                    dst_offset,
                    data: stream,
                    decode: Some(dec),
                    out_bytes,
                });
            }
            Err(k) => job.fail(k),
        }
    }
    submit(sh, items, &descs, tile_at);
}

/// Checks a stream and builds its tile descriptors for the bound window of the destination.
fn plan_decode(
    sh: &Shared,
    stream: &[u8],
    out_bytes: u64,
    dst_offset: u64,
    dst: &WgpuEntry,
    src_at: u64,
    first_tile: u32,
) -> Result<(ItemDecode, Vec<u8>), RequestErrorKind> {
    let corrupt = |e: &dyn std::fmt::Display| RequestErrorKind::Corrupt {
        message: e.to_string(),
    };
    let parsed = ds_gdeflate::TileStream::parse(stream).map_err(|e| corrupt(&e))?;
    if parsed.uncompressed_size() != out_bytes {
        return Err(RequestErrorKind::SizeMismatch {
            stream: parsed.uncompressed_size(),
            declared: out_bytes,
        });
    }
    let base = dst_offset / sh.offset_align * sh.offset_align;
    let window = ((dst.size - base).min(sh.storage_limit) / 4 * 4).max(4);
    let descs = tile_descs(&parsed, src_at, dst_offset - base).map_err(|e| corrupt(&e))?;
    let mut bytes = Vec::with_capacity(descs.len() * SLOT as usize);
    for d in &descs {
        bytes.extend_from_slice(&d.to_bytes());
    }
    Ok((
        ItemDecode {
            src_at,
            first_tile,
            tiles: descs.len() as u32,
            base,
            window,
        },
        bytes,
    ))
}

fn submit(sh: &Shared, items: Vec<Item>, descs: &[u8], tiles: u32) {
    let r = &sh.res;
    // Open every write bracket first: requests cancelled by now are left out.
    let mut live = Vec::with_capacity(items.len());
    for mut it in items {
        if it.job.begin_write().is_err() {
            it.job.finish_cancelled();
            sh.stats.dropped_cancelled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        live.push(it);
    }
    if live.is_empty() {
        return;
    }
    let q = &sh.queue;
    let mut enc = sh
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("ds batch"),
        });
    if tiles > 0 {
        q.write_buffer(&r.tiles, 0, descs);
    }
    let mut uniforms = vec![0u8; live.len() * UNIFORM_STRIDE as usize];
    let mut n_dispatch = 0u64;
    let mut groups = Vec::new();
    for it in &live {
        match &it.decode {
            None => q.write_buffer(&it.dst.buffer, it.dst_offset, &it.data),
            Some(d) => {
                let mut padded = it.data.clone();
                padded.resize(padded.len().div_ceil(4) * 4, 0);
                q.write_buffer(&r.src, d.src_at, &padded);
                let at = (n_dispatch * UNIFORM_STRIDE) as usize;
                uniforms[at..at + 4].copy_from_slice(&d.first_tile.to_le_bytes());
                uniforms[at + 4..at + 8].copy_from_slice(&(d.first_tile + d.tiles).to_le_bytes());
                groups.push((n_dispatch, d, &it.dst));
                n_dispatch += 1;
            }
        }
    }
    if n_dispatch > 0 {
        q.write_buffer(
            &r.uniforms,
            0,
            &uniforms[..(n_dispatch * UNIFORM_STRIDE) as usize],
        );
        // Status slots start "unwritten"; queue writes land before the batch's commands run.
        let fill: Vec<u8> = STATUS_UNWRITTEN
            .to_le_bytes()
            .iter()
            .copied()
            .cycle()
            .take((u64::from(tiles) * SLOT) as usize)
            .collect();
        q.write_buffer(&r.status, 0, &fill);
        let binds: Vec<wgpu::BindGroup> = groups
            .iter()
            .map(|(i, d, dst)| {
                sh.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("ds decode"),
                    layout: &sh.decoder.layout,
                    entries: &[
                        entry(0, &r.src, 0, None),
                        entry(1, &dst.buffer, d.base, std::num::NonZeroU64::new(d.window)),
                        entry(2, &r.tiles, 0, None),
                        entry(3, &r.status, 0, None),
                        entry(
                            4,
                            &r.uniforms,
                            i * UNIFORM_STRIDE,
                            std::num::NonZeroU64::new(16),
                        ),
                    ],
                })
            })
            .collect();
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("ds decode"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&sh.decoder.pipeline);
        for ((_, d, _), bg) in groups.iter().zip(&binds) {
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(d.tiles, 1, 1);
            sh.stats
                .shader_tiles
                .fetch_add(u64::from(d.tiles), Ordering::Relaxed);
        }
        drop(pass);
        enc.copy_buffer_to_buffer(&r.status, 0, &r.readback, 0, u64::from(tiles) * SLOT);
    }
    let before = lock(&sh.errors).len();
    let index = q.submit([enc.finish()]);
    sh.stats.submissions.fetch_add(1, Ordering::Relaxed);
    sh.stats
        .batched_segments
        .fetch_add(live.len() as u64, Ordering::Relaxed);
    let waited = sh.device.poll(wgpu::PollType::Wait {
        submission_index: Some(index),
        timeout: None,
    });
    let status = if tiles > 0 && waited.is_ok() {
        read_status(sh, tiles)
    } else {
        None
    };
    let new_errors: Vec<String> = lock(&sh.errors)[before..].to_vec();
    for it in live {
        let fail = if let Err(e) = &waited {
            Some(RequestErrorKind::Device {
                call: "wgpu::Device::poll",
                name: "wgpu poll error",
                code: -1,
            })
            .inspect(|_| log::error!("wgpu poll: {e}"))
        } else if !new_errors.is_empty() {
            log::error!("wgpu batch failed validation: {}", new_errors.join("; "));
            Some(RequestErrorKind::Device {
                call: "wgpu::Queue::submit",
                name: "wgpu validation error",
                code: -1,
            })
        } else {
            match (&it.decode, &status) {
                (Some(d), Some(st)) => first_tile_error(st, d),
                (Some(_), None) => Some(RequestErrorKind::Device {
                    call: "wgpu::Buffer::map_async",
                    name: "status readback failed",
                    code: -1,
                }),
                (None, _) => None,
            }
        };
        match fail {
            Some(k) => it.job.fail(k),
            None => it.job.complete(it.out_bytes),
        }
    }
}

fn entry<'a>(
    binding: u32,
    buffer: &'a wgpu::Buffer,
    offset: u64,
    size: Option<std::num::NonZeroU64>,
) -> wgpu::BindGroupEntry<'a> {
    wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer,
            offset,
            size,
        }),
    }
}

fn read_status(sh: &Shared, tiles: u32) -> Option<Vec<u8>> {
    let n = u64::from(tiles) * SLOT;
    let slice = sh.res.readback.slice(0..n);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    sh.device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: None,
        })
        .ok()?;
    rx.recv().ok()?.ok()?;
    let out = slice.get_mapped_range().ok()?.to_vec();
    sh.res.readback.unmap();
    Some(out)
}

fn first_tile_error(status: &[u8], d: &ItemDecode) -> Option<RequestErrorKind> {
    for t in 0..d.tiles {
        let at = ((d.first_tile + t) as u64 * SLOT) as usize;
        let st = TileStatus::from_bytes(&status[at..at + SLOT as usize]);
        if let Err(e) = st.result() {
            return Some(RequestErrorKind::Corrupt {
                message: format!(
                    "tile {t}: {e} (GPU decode; the destination range may hold partial output)"
                ),
            });
        }
    }
    None
}
