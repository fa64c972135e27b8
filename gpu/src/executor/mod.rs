//! The Vulkan executor: GPU-buffer destinations for the request queue of `ds-os-linux`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ds_gpu::{ContextOptions, GpuBuffer, MemoryKind, VulkanContext};
//! use ds_gpu::executor::{ExecutorConfig, GpuExecutor};
//! use ds_os_linux::{FileRef, Queue, Request};
//! let ctx = VulkanContext::create(&ContextOptions::default())?;
//! let exec = GpuExecutor::new(&ctx, ExecutorConfig::default())?;
//! let buffers = exec.buffers();
//! let texture = Arc::new(GpuBuffer::new(&ctx, 1 << 20, MemoryKind::DeviceLocal)?);
//! let handle = buffers.register(&texture)?;
//! let queue = Queue::builder().executor(Box::new(exec)).build()?;
//! let file = FileRef::open("texture.gdef")?;
//! let id = queue.enqueue(
//!     Request::read(&file, 0, file_len(&file)).gdeflate(1 << 20).into_gpu_buffer(handle, 0, 1 << 20),
//! )?;
//! assert!(queue.wait(id, None)?.result().is_ok()); // decoded on the GPU, into `texture`
//! # fn file_len(f: &FileRef) -> u64 { 0 }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How bytes travel (a [`Route`], chosen once when the executor is built):
//!
//! | route | file bytes land in | then |
//! | --- | --- | --- |
//! | [`Route::Gds`] | device memory, by `cuFileRead` (GPUDirect Storage; compatibility mode without nvidia-fs) | GPU copy / decode into the destination |
//! | [`Route::UploadHeap`] | host-visible **device-local** staging (resizable BAR) | decode in place, or a VRAM copy; uncompressed reads into a mapped destination skip staging |
//! | [`Route::HostImport`] | our page-aligned host memory imported with `VK_EXT_external_memory_host` (registered io_uring buffers) | a GPU copy (PCIe) into the destination, or into VRAM scratch and decode |
//! | [`Route::Staging`] | mapped host-visible staging buffers | the same |
//!
//! Requests are batched: the submit thread takes what the queue has ready, packs it into one
//! staging slot (up to `staging_size` bytes), reads every range with one io_uring submission
//! straight into the slot's memory, records **one command buffer per batch** (the copies, one
//! status fill, one decode dispatch per destination buffer, barriers) and submits it signalling
//! the executor's timeline semaphore. The completion thread waits for each batch's timeline value,
//! reads the per-tile status, and ends each request (`complete` / `fail`), which drives the
//! queue's status arrays, fences and callbacks. See `docs/gpu.md`, "GPU-resident requests".
//!
//! Cancellation: a request is inside its write bracket from just before the submission that
//! writes its destination until that submission's timeline value is reached. A request cancelled
//! before that is left out of the command buffer (nothing is recorded for it); a strong cancel
//! that finds it inside the bracket waits for that one submission, so nothing is written after
//! `cancel_request` returns true.

pub mod registry;

mod engine;
pub(crate) mod reader;
pub(crate) mod slots;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use ds_core::DestinationKinds;
use ds_os_linux::{Driver, JobFeed};

use crate::context::VulkanContext;
use crate::decode::{DecodePath, TableFormat, VariantChoice};
use crate::error::GpuError;
use crate::memory::DEFAULT_STAGING_SIZE;

pub use registry::{BufferEntry, BufferRegistry};

/// How file bytes reach the GPU (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// Host-visible staging buffers + GPU copy.
    Staging,
    /// Own host memory imported with `VK_EXT_external_memory_host` + GPU copy.
    HostImport,
    /// Host-visible device-local memory (resizable BAR / upload heap).
    UploadHeap,
    /// GPUDirect Storage: `cuFileRead` into exported Vulkan memory.
    Gds,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 4] = [
        Route::Gds,
        Route::UploadHeap,
        Route::HostImport,
        Route::Staging,
    ];

    /// The order [`RouteChoice::Auto`] tries routes in on a device of `device_type`. GDS first.
    /// On a discrete GPU the upload heap comes last: the CPU writes file bytes into write-combined
    /// device memory across PCIe, which measured 4x slower than host import or staging plus one
    /// GPU copy on the H100 (docs/benchmarks.md). Elsewhere (integrated GPUs, lavapipe) device
    /// memory is system memory and the upload heap saves a copy, so it comes right after GDS.
    pub fn auto_order(device_type: ash::vk::PhysicalDeviceType) -> [Route; 4] {
        if device_type == ash::vk::PhysicalDeviceType::DISCRETE_GPU {
            [
                Route::Gds,
                Route::HostImport,
                Route::Staging,
                Route::UploadHeap,
            ]
        } else {
            Route::ALL
        }
    }

    /// Short name for logs and tables.
    pub fn name(self) -> &'static str {
        match self {
            Route::Staging => "staging",
            Route::HostImport => "host-import",
            Route::UploadHeap => "upload-heap",
            Route::Gds => "gds",
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which route to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RouteChoice {
    /// The fastest route the device supports, in [`Route::auto_order`]: GDS when CUDA and cuFile
    /// load and the device can export memory; then, on discrete GPUs, host import, staging,
    /// upload heap; elsewhere upload heap, host import, staging. Never fails for want of a
    /// route.
    #[default]
    Auto,
    /// This route, or an error from [`GpuExecutor::new`] saying why it cannot run.
    Force(Route),
}

/// Settings of a [`GpuExecutor`].
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// Route choice.
    pub route: RouteChoice,
    /// Bytes per staging slot (a batch's compressed bytes); at least the queue's staging limit
    /// (checked when the queue starts the executor). Default 32 MiB, as DirectStorage.
    pub staging_size: u64,
    /// Slots (batches in flight plus the one being filled). Default 3.
    pub staging_buffers: usize,
    /// GDeflate decoder. Default [`DecodePath::Auto`]: the validating shader, unless
    /// `trusted_content` is set and the device has the driver's decoder. Requests the driver
    /// cannot take (source or destination off a 4-byte boundary, a destination without a device
    /// address) go to the shader, one request at a time. See docs/gpu.md, "Decode-path policy".
    pub decode: DecodePath,
    /// The files come from a trusted source (the application's own packaged assets): Auto may
    /// then decode on the driver's memory decompression, which does not detect corrupt data (a
    /// corrupt tile completes with undefined bytes in its destination range). Default false.
    pub trusted_content: bool,
    /// Testing aid for devices without the driver's decoder (lavapipe): take the driver path's
    /// decisions (which requests go to it, the alignment fallback, no per-tile status) while the
    /// shader does the decoding. Default false.
    pub emulate_driver_path: bool,
    /// Shader variant.
    pub variant: VariantChoice,
    /// Shader table format.
    pub tables: TableFormat,
    /// Read files with io_uring (else pread). Default true; falls back to pread by itself.
    pub io_uring: bool,
    /// On the upload-heap route, read uncompressed requests straight into destinations that are
    /// mapped device-local buffers (no staging, no copy). Default true.
    pub direct_to_mapped: bool,
    /// CUDA device ordinal for the GDS route (the Vulkan device's CUDA twin). Default 0.
    pub cuda_device: i32,
    /// Requests taken from the queue per visit. Default 256.
    pub intake: usize,
    /// Let consecutive batches run on the GPU at the same time (default true): a batch's command
    /// buffer then has no queue-wide barrier before its first write or after its last, only the
    /// ones ordering its own copies, decode and status read-back. Slots are reused only after
    /// their batch completed, and requests own their destination ranges, so the executor's own
    /// work needs nothing more. What changes is the embedder's side: GPU work that reads a
    /// destination must be ordered after the request's completion by its own synchronization
    /// (a semaphore wait or a pipeline barrier from COMPUTE_SHADER/TRANSFER writes, as for
    /// writes made on any other queue), and destination ranges must not be in use by earlier GPU
    /// work when the request is enqueued. With false, each batch starts with a barrier after all
    /// earlier work on the queue and ends with one before all later work (batches run one after
    /// another, as do the embedder's commands around them).
    pub overlap_batches: bool,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            route: RouteChoice::Auto,
            staging_size: DEFAULT_STAGING_SIZE,
            staging_buffers: 3,
            decode: DecodePath::Auto,
            trusted_content: false,
            emulate_driver_path: false,
            variant: VariantChoice::Auto,
            tables: TableFormat::default(),
            io_uring: true,
            direct_to_mapped: true,
            cuda_device: 0,
            intake: 256,
            overlap_batches: true,
        }
    }
}

/// Counters of an executor (shared; read them while the queue runs).
#[derive(Debug, Default)]
pub struct ExecutorStats {
    /// Command buffers submitted (one per batch).
    pub submissions: AtomicU64,
    /// Requests whose commands went into a submission (a large uncompressed request that spans
    /// several slots counts once per slot).
    pub batched_segments: AtomicU64,
    /// Uncompressed requests read straight into a mapped destination.
    pub direct_reads: AtomicU64,
    /// Requests left out of a submission because they were cancelled first.
    pub dropped_cancelled: AtomicU64,
    /// Bytes read from files and memory sources into staging (or destinations).
    pub bytes_in: AtomicU64,
    /// GDeflate tiles decoded by the shader.
    pub shader_tiles: AtomicU64,
    /// GDeflate tiles decoded by the driver's memory decompression (or its emulation).
    pub driver_tiles: AtomicU64,
    /// GDeflate requests the driver path could not take (alignment, no device address), decoded
    /// by the shader instead.
    pub driver_fallbacks: AtomicU64,
    /// Segments read with `cuFileRead` on the GDS route.
    pub gds_reads: AtomicU64,
    /// Segments of files cuFile refused, read through host memory on the GDS route.
    pub gds_host_reads: AtomicU64,
    /// File reads go through io_uring (else pread); set when the submit thread starts.
    pub io_uring: AtomicBool,
    /// The staging memory is registered with io_uring as fixed buffers.
    pub fixed_buffers: AtomicBool,
}

impl ExecutorStats {
    /// A value, read with Relaxed ordering (statistics only).
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The Vulkan executor; add it to a queue with `QueueBuilder::executor(Box::new(exec))`.
pub struct GpuExecutor {
    engine: Arc<engine::Engine>,
    registry: BufferRegistry,
    stats: Arc<ExecutorStats>,
    threads: Vec<JoinHandle<()>>,
    started: bool,
}

impl std::fmt::Debug for GpuExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuExecutor")
            .field("route", &self.engine.route)
            .field("started", &self.started)
            .finish()
    }
}

impl GpuExecutor {
    /// Builds the executor on `ctx`: picks the route, creates the staging slots, the decode
    /// pipeline and the timeline semaphore. Threads start when a queue starts it.
    pub fn new(ctx: &Arc<VulkanContext>, config: ExecutorConfig) -> Result<GpuExecutor, GpuError> {
        let registry = BufferRegistry::new();
        let stats = Arc::new(ExecutorStats::default());
        let engine = engine::Engine::new(ctx, &config, registry.clone(), stats.clone())?;
        Ok(GpuExecutor {
            engine: Arc::new(engine),
            registry,
            stats,
            threads: Vec::new(),
            started: false,
        })
    }

    /// The registry where destination buffers are registered (keep a clone: the executor
    /// itself moves into the queue).
    pub fn buffers(&self) -> BufferRegistry {
        self.registry.clone()
    }

    /// The route in use.
    pub fn route(&self) -> Route {
        self.engine.route
    }

    /// Whether GDeflate requests may decode on the driver's memory-decompression path (else all
    /// go to the shader).
    pub fn uses_driver_decompression(&self) -> bool {
        self.engine.uses_driver()
    }

    /// Counters (keep a clone to read them after the executor moved into a queue).
    pub fn stats(&self) -> Arc<ExecutorStats> {
        self.stats.clone()
    }

    /// Bytes per staging slot.
    pub fn staging_size(&self) -> u64 {
        self.engine.slot_size
    }
}

impl Driver for GpuExecutor {
    fn name(&self) -> &'static str {
        "vulkan"
    }

    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::GPU_BUFFER
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        if feed.staging_limit() > self.engine.slot_size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "GPU staging slots of {} bytes are smaller than the queue's staging limit of {} bytes: raise ExecutorConfig::staging_size or lower QueueBuilder::staging_limit",
                    self.engine.slot_size,
                    feed.staging_limit()
                ),
            ));
        }
        if self.started {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the GPU executor serves one queue",
            ));
        }
        self.started = true;
        self.threads = engine::spawn(self.engine.clone(), feed)?;
        Ok(())
    }

    fn stop(&mut self) {
        // The submit thread ends when the feed is closed and closes the completion channel; the
        // completion thread ends after the last batch it was given completed.
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                log::error!("GPU executor thread panicked");
            }
        }
        self.engine.shutdown();
    }
}

impl Drop for GpuExecutor {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
        }
    }
}
