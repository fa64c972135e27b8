//! The Vulkan backend: `ds_make_vulkan_backend` adopts an embedder's
//! instance/device/queue (Wine's D3D12-on-Vulkan layer hands over raw
//! handles; nothing is destroyed here) or creates its own, and queues made
//! from it get a GPU-buffer executor next to their host I/O workers.
//!
//! The executor ("vulkan") is `ds_gpu::executor::GpuExecutor`, the one
//! GPU-resident implementation of the runtime: it serves `DS_DEST_GPU_BUFFER`
//! requests whose `gpu_buffer` is a `VkBuffer` of that device created with
//! `VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT`
//! and registered on the queue with its size (`ds_queue_register_gpu_buffer`
//! -> `BufferRegistry::register_raw`; a request into an unregistered buffer
//! or past its end fails with `DS_ERR_BAD_GPU_BUFFER` before anything is
//! written). It batches requests into staging slots (as large as the queue's
//! staging buffer size), reads files straight into them, and records one
//! command buffer per batch: copies of uncompressed bytes, and GDeflate
//! decoded **on the GPU** by the validating compute shader (a corrupt tile
//! fails its request with `DS_ERR_CORRUPT`). Completion comes through a
//! timeline semaphore; a strong cancel that finds a request inside its
//! write bracket waits for that one submission, so no byte lands in the
//! buffer after the cancel returned true (docs/gpu.md, "GPU-resident
//! requests").
//!
//! `ds_gdeflate_decompress_gpu` decodes a whole stream with the GPU decoder
//! of `ds-gpu` on the backend's device (asset tools, tests).

#![allow(unsafe_code)]

use crate::backend::{ds_backend, pread_backend, register, BackendObj, GpuKind, BACKENDS};
use crate::ffi::{bytes, bytes_mut, guard, read_versioned, Out, Versioned};
use crate::queue::{
    DS_COMPRESSION_SUPPORT_GPU_FALLBACK, DS_COMPRESSION_SUPPORT_USES_COMPUTE_QUEUE,
};
use crate::result::{
    ds_result, Error, DS_ERR_BUFFER_TOO_SMALL, DS_ERR_CORRUPT, DS_ERR_DEVICE, DS_ERR_UNAVAILABLE,
    DS_ERR_UNSUPPORTED,
};
use ds_gpu::executor::{BufferRegistry, ExecutorConfig, GpuExecutor};
use ds_gpu::vk::{self, Handle};
use ds_gpu::{
    AdoptInfo, AdoptedFeatures, ContextOptions, DecodePath, DecoderOptions, GpuDecoder, GpuError,
    VulkanContext,
};
use ds_os_linux::Driver;
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// `ds_vulkan_backend_config.flags`: adopt the handles in the config
/// instead of creating a device.
pub const DS_VULKAN_ADOPT: u32 = 1;
/// Enable the validation layer (created devices only).
pub const DS_VULKAN_VALIDATION: u32 = 2;

const VULKAN_FLAGS: u32 = DS_VULKAN_ADOPT | DS_VULKAN_VALIDATION;

/// `device_index` value: pick the best device.
pub const DS_VULKAN_ANY_DEVICE: u32 = 0xFFFF_FFFF;

/// Adopted device features (what the embedder enabled):
/// `storageBuffer8BitAccess` (required).
pub const DS_VK_FEATURE_STORAGE_BUFFER_8BIT: u32 = 1;
/// `vulkanMemoryModel` (then device scope is required too).
pub const DS_VK_FEATURE_VULKAN_MEMORY_MODEL: u32 = 2;
/// `vulkanMemoryModelDeviceScope`.
pub const DS_VK_FEATURE_VULKAN_MEMORY_MODEL_DEVICE_SCOPE: u32 = 4;
/// `timelineSemaphore` (required).
pub const DS_VK_FEATURE_TIMELINE_SEMAPHORE: u32 = 8;
/// `bufferDeviceAddress`.
pub const DS_VK_FEATURE_BUFFER_DEVICE_ADDRESS: u32 = 16;
/// `subgroupSizeControl` and `computeFullSubgroups`.
pub const DS_VK_FEATURE_FULL_SUBGROUPS: u32 = 32;
/// `VK_EXT_external_memory_host` enabled.
pub const DS_VK_FEATURE_EXTERNAL_MEMORY_HOST: u32 = 64;
/// `VK_NV_memory_decompression` enabled with its feature.
pub const DS_VK_FEATURE_NV_MEMORY_DECOMPRESSION: u32 = 128;
/// `VK_EXT_memory_decompression` and `VK_KHR_maintenance5` enabled.
pub const DS_VK_FEATURE_EXT_MEMORY_DECOMPRESSION: u32 = 256;

const VK_FEATURES: u32 = 511;

/// `PFN_vkGetInstanceProcAddr` without including vulkan.h (cast
/// `vkGetInstanceProcAddr` to it).
pub type ds_vk_get_instance_proc_addr = Option<
    unsafe extern "C" fn(
        instance: *mut c_void,
        name: *const c_char,
    ) -> Option<unsafe extern "C" fn()>,
>;

/// Settings of a Vulkan backend. Zero-initialise, set `struct_size`; for
/// adoption set `DS_VULKAN_ADOPT` and every handle field.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_vulkan_backend_config {
    /// `sizeof(ds_vulkan_backend_config)`.
    pub struct_size: u32,
    /// `DS_VULKAN_*` flags.
    pub flags: u32,
    /// Host I/O worker threads per queue (0: default). The GPU-buffer
    /// executor has its own submit and completion threads.
    pub worker_count: u32,
    /// Adopt: the family of `queue` (must support compute).
    pub queue_family_index: u32,
    /// Adopt: the `apiVersion` the device was created for (1.2 or newer).
    pub api_version: u32,
    /// Adopt: `DS_VK_FEATURE_*` the embedder enabled on `device`.
    pub features: u32,
    /// Create: the n-th device with a compute queue, or
    /// `DS_VULKAN_ANY_DEVICE` (0 picks the first).
    pub device_index: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Adopt: the instance's `vkGetInstanceProcAddr`.
    pub get_instance_proc_addr: ds_vk_get_instance_proc_addr,
    /// Adopt: `VkInstance`.
    pub instance: *mut c_void,
    /// Adopt: `VkPhysicalDevice` of `device`.
    pub physical_device: *mut c_void,
    /// Adopt: `VkDevice`.
    pub device: *mut c_void,
    /// Adopt: a `VkQueue` of `device` in `queue_family_index`. The library
    /// submits to it from its own threads under its own lock: the embedder
    /// must not submit to the same queue at the same time.
    pub queue: *mut c_void,
}

// SAFETY: repr(C), starts with the u32 size, integers, raw pointers and an
// optional function pointer only.
unsafe impl Versioned for ds_vulkan_backend_config {
    const V1_SIZE: usize = std::mem::size_of::<ds_vulkan_backend_config>();
    const NAME: &'static str = "ds_vulkan_backend_config";
}

fn gpu_error(what: &str, e: &GpuError) -> Error {
    let code = match e {
        GpuError::Loader(_) | GpuError::NoDevice(_) => DS_ERR_UNAVAILABLE,
        GpuError::Missing(_) | GpuError::PathUnavailable { .. } => DS_ERR_UNSUPPORTED,
        GpuError::Container(_) | GpuError::Tile { .. } => DS_ERR_CORRUPT,
        _ => DS_ERR_DEVICE,
    };
    Error::new(code, format!("{what}: {e}"))
}

/// The device a Vulkan backend shares with its queues.
pub(crate) struct GpuBackend {
    ctx: Arc<VulkanContext>,
    /// The whole-stream GPU decoder, built on first use.
    decoder: OnceLock<Result<GpuDecoder, String>>,
    /// Serialises whole-stream decodes (one staging pool and timeline).
    decode_lock: Mutex<()>,
}

impl GpuBackend {
    /// The GPU-buffer executor for one queue (staging slots of the queue's
    /// staging buffer size), and its buffer registry.
    pub(crate) fn executor(
        &self,
        staging_limit: u64,
    ) -> Result<(Box<dyn Driver>, BufferRegistry), Error> {
        let exec = GpuExecutor::new(
            &self.ctx,
            ExecutorConfig {
                staging_size: staging_limit.max(1),
                ..ExecutorConfig::default()
            },
        )
        .map_err(|e| gpu_error("GPU executor", &e))?;
        let buffers = exec.buffers();
        Ok((Box::new(exec), buffers))
    }

    /// GetCompressionSupport flags for GDeflate into GPU buffers: decoded by
    /// the compute shader (not the vendor's decoder: untrusted content is
    /// validated) on the device's compute queue.
    pub(crate) fn compression_support(&self) -> u32 {
        DS_COMPRESSION_SUPPORT_GPU_FALLBACK | DS_COMPRESSION_SUPPORT_USES_COMPUTE_QUEUE
    }

    fn decoder(&self) -> Result<&GpuDecoder, Error> {
        self.decoder
            .get_or_init(|| {
                GpuDecoder::new(&self.ctx, DecoderOptions::default()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::new(DS_ERR_DEVICE, format!("GPU GDeflate decoder: {e}")))
    }
}

/// Registers an embedder's `VkBuffer` (as its 64-bit handle) of `size`
/// bytes with a queue's executor.
///
/// # Safety
/// `buffer` is a buffer of the executor's device with
/// `TRANSFER_DST | STORAGE_BUFFER` usage, bound to memory, of at least
/// `size` bytes, until it is unregistered and every request into it ended.
pub(crate) unsafe fn register_buffer(
    buffers: &BufferRegistry,
    buffer: u64,
    size: u64,
) -> Result<(), Error> {
    // SAFETY: forwarded caller contract; no device address is given, so the
    // executor never needs SHADER_DEVICE_ADDRESS usage on it.
    unsafe { buffers.register_raw(vk::Buffer::from_raw(buffer), size, 0) }
        .map(|_| ())
        .map_err(|e| Error::invalid(e.to_string()))
}

fn adopt_features(bits: u32) -> AdoptedFeatures {
    let has = |b: u32| bits & b != 0;
    AdoptedFeatures {
        storage_buffer_8bit: has(DS_VK_FEATURE_STORAGE_BUFFER_8BIT),
        vulkan_memory_model: has(DS_VK_FEATURE_VULKAN_MEMORY_MODEL),
        vulkan_memory_model_device_scope: has(DS_VK_FEATURE_VULKAN_MEMORY_MODEL_DEVICE_SCOPE),
        timeline_semaphore: has(DS_VK_FEATURE_TIMELINE_SEMAPHORE),
        buffer_device_address: has(DS_VK_FEATURE_BUFFER_DEVICE_ADDRESS),
        full_subgroups: has(DS_VK_FEATURE_FULL_SUBGROUPS),
        external_memory_host: has(DS_VK_FEATURE_EXTERNAL_MEMORY_HOST),
        nv_memory_decompression: has(DS_VK_FEATURE_NV_MEMORY_DECOMPRESSION),
        ext_memory_decompression: has(DS_VK_FEATURE_EXT_MEMORY_DECOMPRESSION),
    }
}

/// # Safety
/// The handles in `c` are valid, made from each other, and outlive every
/// queue made from the backend.
unsafe fn adopt(c: &ds_vulkan_backend_config) -> Result<Arc<VulkanContext>, Error> {
    let gipa = c
        .get_instance_proc_addr
        .ok_or_else(|| Error::null("ds_vulkan_backend_config.get_instance_proc_addr"))?;
    for (p, what) in [
        (c.instance, "instance"),
        (c.physical_device, "physical_device"),
        (c.device, "device"),
        (c.queue, "queue"),
    ] {
        if p.is_null() {
            return Err(Error::null(&format!("ds_vulkan_backend_config.{what}")));
        }
    }
    if c.features & !VK_FEATURES != 0 {
        return Err(Error::invalid(format!(
            "unknown DS_VK_FEATURE bits {:#x}",
            c.features & !VK_FEATURES
        )));
    }
    // SAFETY: both are `extern` functions taking (instance handle, const
    // char *) and returning a nullable function pointer; `VkInstance` is a
    // pointer-sized dispatchable handle, and on the x86-64 and AArch64 Linux
    // targets this library builds for, "system" is the C calling convention.
    let gipa: vk::PFN_vkGetInstanceProcAddr = unsafe { std::mem::transmute(gipa) };
    let info = AdoptInfo {
        get_instance_proc_addr: gipa,
        instance: vk::Instance::from_raw(c.instance as u64),
        physical_device: vk::PhysicalDevice::from_raw(c.physical_device as u64),
        device: vk::Device::from_raw(c.device as u64),
        queue: vk::Queue::from_raw(c.queue as u64),
        queue_family_index: c.queue_family_index,
        api_version: c.api_version,
        features: adopt_features(c.features),
    };
    // SAFETY: forwarded caller contract.
    unsafe { VulkanContext::adopt(&info) }.map_err(|e| gpu_error("adopting the Vulkan device", &e))
}

/// A backend whose queues read into host memory with `worker_count` pread
/// workers and into Vulkan buffers with a GPU executor on the backend's
/// device: adopted from the handles in `config` with `DS_VULKAN_ADOPT`
/// (never destroyed by the library: they must outlive every queue made
/// from the backend), else created (and destroyed when the backend and its
/// queues are gone). `config` NULL creates one with defaults.
/// `DS_ERR_UNAVAILABLE` without a Vulkan loader or device;
/// `DS_ERR_UNSUPPORTED` when the device or the adopted features lack what
/// the runtime needs (Vulkan 1.2, timeline semaphores, 8-bit storage).
///
/// # Safety
/// `config`: NULL or valid for reads of its `struct_size`; with
/// `DS_VULKAN_ADOPT` its handles valid and made from each other;
/// `out_backend`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_make_vulkan_backend(
    config: *const ds_vulkan_backend_config,
    out_backend: *mut *mut ds_backend,
) -> ds_result {
    guard("ds_make_vulkan_backend", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_backend, "out_backend") }?;
        let c = if config.is_null() {
            // SAFETY: the all-zero config is valid (Versioned).
            let mut z: ds_vulkan_backend_config = unsafe { std::mem::zeroed() };
            z.device_index = DS_VULKAN_ANY_DEVICE;
            z
        } else {
            // SAFETY: caller contract.
            unsafe { read_versioned(config) }?
        };
        if c.flags & !VULKAN_FLAGS != 0 || c.reserved != 0 {
            return Err(Error::invalid(format!(
                "unknown ds_vulkan_backend_config flags {:#x} or reserved set",
                c.flags & !VULKAN_FLAGS
            )));
        }
        let ctx = if c.flags & DS_VULKAN_ADOPT != 0 {
            // SAFETY: caller contract for adopted handles.
            unsafe { adopt(&c) }?
        } else {
            let options = ContextOptions {
                validation: c.flags & DS_VULKAN_VALIDATION != 0,
                device_index: (c.device_index != DS_VULKAN_ANY_DEVICE)
                    .then_some(c.device_index as usize),
                ..ContextOptions::default()
            };
            VulkanContext::create(&options)
                .map_err(|e| gpu_error("creating a Vulkan device", &e))?
        };
        let gpu = GpuBackend {
            ctx,
            decoder: OnceLock::new(),
            decode_lock: Mutex::new(()),
        };
        register(
            BackendObj {
                io: pread_backend(c.worker_count)?,
                gpu: Some(GpuKind::Vulkan(Arc::new(gpu))),
            },
            out,
        );
        Ok(())
    })
}

/// Decompresses a whole GDeflate stream on the Vulkan backend's GPU (the
/// validating compute shader) into `dst`; `*out_size` is the decompressed
/// length. A corrupt tile gives `DS_ERR_CORRUPT`. Calls on one backend run
/// one at a time.
/// `DS_ERR_UNSUPPORTED` for backends without a GPU.
///
/// # Safety
/// `src`: valid for reads of `src_size` bytes; `dst`: valid for writes of
/// `dst_capacity` bytes; `out_size`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_gdeflate_decompress_gpu(
    backend: *mut ds_backend,
    src: *const u8,
    src_size: u64,
    dst: *mut u8,
    dst_capacity: u64,
    out_size: *mut u64,
) -> ds_result {
    guard("ds_gdeflate_decompress_gpu", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_size, "out_size") }?;
        // SAFETY: caller contract.
        let input = unsafe { bytes(src, src_size, "src") }?;
        // SAFETY: caller contract.
        let output = unsafe { bytes_mut(dst, dst_capacity, "dst") }?;
        let b = BACKENDS.get(backend, "backend")?;
        let Some(GpuKind::Vulkan(gpu)) = &b.gpu else {
            return Err(Error::new(
                DS_ERR_UNSUPPORTED,
                "the backend has no Vulkan device (use ds_make_vulkan_backend)",
            ));
        };
        let size = ds_gdeflate::uncompressed_size(input).map_err(|e| Error::decode(&e))?;
        if size > output.len() as u64 {
            return Err(Error::new(
                DS_ERR_BUFFER_TOO_SMALL,
                format!(
                    "stream decompresses to {size} bytes, dst holds {}",
                    output.len()
                ),
            ));
        }
        let decoder = gpu.decoder()?;
        let _one = gpu
            .decode_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes = decoder
            .decompress(input, DecodePath::Auto)
            .map_err(|e| gpu_error("GPU decode", &e))?;
        output[..bytes.len()].copy_from_slice(&bytes);
        out.write(bytes.len() as u64);
        Ok(())
    })
}
