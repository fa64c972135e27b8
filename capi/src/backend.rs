//! `ds_backend`: what executes a queue's requests. A backend is a recipe:
//! every queue created from it starts its own executors from it (worker
//! threads or io_uring rings for host memory and files, plus, for a Vulkan
//! backend, the GPU-buffer executor on the backend's shared Vulkan device).
//! So one backend may serve many queues, and may be released while they run.
//!
//! Constructors: `ds_make_cpu_backend` (pread worker threads),
//! `ds_make_io_uring_backend` (io_uring rings; falls back to pread workers,
//! logging why, where io_uring is unavailable), `ds_make_vulkan_backend`
//! (in `vulkan.rs`), `ds_make_cufile_backend` (in `cufile.rs`).

#![allow(unsafe_code)]

use crate::ffi::{guard, read_versioned, Out, Versioned};
use crate::handle::Registry;
use crate::result::{ds_result, Error};
use crate::vulkan::GpuBackend;
use ds_os_linux::cufile::CuFileConfig;
use ds_os_linux::{Backend, PreadConfig, UringConfig};
use std::sync::Arc;
use std::time::Duration;

/// A backend (opaque).
#[derive(Debug)]
pub struct ds_backend {
    _opaque: [u8; 0],
}

/// The GPU-buffer executor a backend gives its queues.
pub(crate) enum GpuKind {
    /// Vulkan buffers of a shared (adopted or created) device.
    Vulkan(Arc<GpuBackend>),
    /// CUDA device memory through GPUDirect Storage (one driver per queue).
    CuFile(CuFileConfig),
}

/// What a backend hands to each queue built from it.
pub(crate) struct BackendObj {
    /// The host I/O executor.
    pub(crate) io: Backend,
    /// The GPU-buffer executor, for Vulkan and cuFile backends.
    pub(crate) gpu: Option<GpuKind>,
}

pub(crate) static BACKENDS: Registry<BackendObj> = Registry::new("ds_backend");

pub(crate) fn register(obj: BackendObj, out: Out<*mut ds_backend>) {
    out.write(BACKENDS.insert(obj));
}

/// Most worker threads or rings a backend may ask for.
pub const DS_MAX_WORKERS: u32 = 256;

pub(crate) fn workers(n: u32, what: &str) -> Result<Option<usize>, Error> {
    match n {
        0 => Ok(None),
        1..=DS_MAX_WORKERS => Ok(Some(n as usize)),
        _ => Err(Error::invalid(format!(
            "{what} {n} is above the limit of {DS_MAX_WORKERS}"
        ))),
    }
}

pub(crate) fn pread_backend(worker_count: u32) -> Result<Backend, Error> {
    let mut cfg = PreadConfig::default();
    if let Some(n) = workers(worker_count, "worker_count")? {
        cfg.threads = n;
    }
    Ok(Backend::Pread(cfg))
}

/// A backend of `worker_count` threads doing positioned reads and writes
/// (`pread`/`pwrite`) and CPU GDeflate decoding for each queue made from it
/// (0: one per core, at most 16; at most `DS_MAX_WORKERS`). On success
/// `*out_backend` is a new handle, to release with `ds_backend_release`.
///
/// # Safety
/// `out_backend`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_make_cpu_backend(
    worker_count: u32,
    out_backend: *mut *mut ds_backend,
) -> ds_result {
    guard("ds_make_cpu_backend", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_backend, "out_backend") }?;
        let io = pread_backend(worker_count)?;
        register(BackendObj { io, gpu: None }, out);
        Ok(())
    })
}

/// `ds_io_uring_backend_config.flags`: read through O_DIRECT descriptors
/// (page cache bypassed; unaligned requests bounce through aligned memory).
pub const DS_IO_URING_DIRECT: u32 = 1;
/// Kernel submission polling (SQPOLL), idle time `sqpoll_idle_ms`.
pub const DS_IO_URING_SQPOLL: u32 = 2;
/// Do not register files in the rings' fixed file tables.
pub const DS_IO_URING_NO_FIXED_FILES: u32 = 4;
/// Do not register the rings' staging pools as fixed buffers.
pub const DS_IO_URING_NO_FIXED_BUFFERS: u32 = 8;

const URING_FLAGS: u32 = DS_IO_URING_DIRECT
    | DS_IO_URING_SQPOLL
    | DS_IO_URING_NO_FIXED_FILES
    | DS_IO_URING_NO_FIXED_BUFFERS;

/// Settings of an io_uring backend. Zero fields take the defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_io_uring_backend_config {
    /// Set to `sizeof(ds_io_uring_backend_config)`.
    pub struct_size: u32,
    /// Submission queue entries per ring (0: 256); also the most operations
    /// one ring keeps in flight.
    pub entries: u32,
    /// Rings, each with its worker thread (0: one per core, at most 16).
    pub rings: u32,
    /// Most requests a ring takes from the queue at a time (0: 32).
    pub batch: u32,
    /// `DS_IO_URING_*` flags.
    pub flags: u32,
    /// SQPOLL idle time in milliseconds (0: 1000), with `DS_IO_URING_SQPOLL`.
    pub sqpoll_idle_ms: u32,
    /// Fixed file slots per ring (0: 64).
    pub file_slots: u32,
    /// Reserved, set to 0.
    pub reserved: u32,
    /// Bytes of each ring's aligned staging pool (0: 4 MiB).
    pub pool_bytes: u64,
}

// SAFETY: repr(C), starts with the u32 size, integers only.
unsafe impl Versioned for ds_io_uring_backend_config {
    const V1_SIZE: usize = std::mem::size_of::<ds_io_uring_backend_config>();
    const NAME: &'static str = "ds_io_uring_backend_config";
}

fn uring_config(c: &ds_io_uring_backend_config) -> Result<UringConfig, Error> {
    if c.flags & !URING_FLAGS != 0 {
        return Err(Error::invalid(format!(
            "unknown ds_io_uring_backend_config flags {:#x}",
            c.flags & !URING_FLAGS
        )));
    }
    if c.reserved != 0 {
        return Err(Error::invalid(
            "ds_io_uring_backend_config.reserved must be 0",
        ));
    }
    let mut cfg = UringConfig::default();
    if c.entries != 0 {
        if !c.entries.is_power_of_two() || c.entries > 32768 {
            return Err(Error::invalid(format!(
                "io_uring entries {} is not a power of two up to 32768",
                c.entries
            )));
        }
        cfg.depth = c.entries;
    }
    if let Some(n) = workers(c.rings, "rings")? {
        cfg.rings = n;
    }
    if c.batch != 0 {
        cfg.batch = c.batch as usize;
    }
    cfg.direct = c.flags & DS_IO_URING_DIRECT != 0;
    if c.flags & DS_IO_URING_SQPOLL != 0 {
        let ms = if c.sqpoll_idle_ms == 0 {
            1000
        } else {
            c.sqpoll_idle_ms
        };
        cfg.sqpoll_idle = Some(Duration::from_millis(u64::from(ms)));
    }
    cfg.fixed_files = c.flags & DS_IO_URING_NO_FIXED_FILES == 0;
    cfg.fixed_buffers = c.flags & DS_IO_URING_NO_FIXED_BUFFERS == 0;
    if c.file_slots != 0 {
        cfg.file_slots = c.file_slots;
    }
    if c.pool_bytes != 0 {
        cfg.pool_bytes = crate::ffi::buffer_len(c.pool_bytes, "pool_bytes")?;
    }
    Ok(cfg)
}

/// A backend of io_uring rings (one worker thread each) for each queue made
/// from it; `config` NULL takes every default. Where io_uring cannot be set
/// up (old kernel, seccomp, `kernel.io_uring_disabled`, `DS_IO_URING=off`)
/// queues fall back to pread workers and log why once; `ds_queue_query`
/// names the executor in use.
///
/// # Safety
/// `config`: NULL or valid for reads of its `struct_size`; `out_backend`:
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_make_io_uring_backend(
    config: *const ds_io_uring_backend_config,
    out_backend: *mut *mut ds_backend,
) -> ds_result {
    guard("ds_make_io_uring_backend", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_backend, "out_backend") }?;
        let cfg = if config.is_null() {
            UringConfig::default()
        } else {
            // SAFETY: caller contract.
            uring_config(&unsafe { read_versioned(config) }?)?
        };
        register(
            BackendObj {
                io: Backend::IoUring(cfg),
                gpu: None,
            },
            out,
        );
        Ok(())
    })
}

/// Releases the handle. Queues made from the backend keep what they need.
/// A second release gives `DS_ERR_BAD_HANDLE`.
///
/// # Safety
/// None beyond passing a handle value (any value is checked).
#[no_mangle]
pub unsafe extern "C" fn ds_backend_release(backend: *mut ds_backend) -> ds_result {
    guard("ds_backend_release", || {
        BACKENDS.remove(backend, "backend").map(drop)
    })
}
