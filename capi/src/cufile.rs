//! The GPUDirect Storage backend: `ds_make_cufile_backend` gives each queue
//! made from it pread workers for host memory and the runtime's cuFile
//! executor for GPU-buffer destinations that are CUDA device allocations
//! (registered per queue with `ds_queue_register_gpu_buffer(queue,
//! CUdeviceptr, size)`): `cuFileRead` straight into device memory, or, where
//! libcufile is missing, a host read and `cuMemcpyHtoD`. CUDA and cuFile are
//! loaded at run time; without the CUDA driver the backend is refused with
//! `DS_ERR_UNAVAILABLE`.

#![allow(unsafe_code)]

use crate::backend::{ds_backend, pread_backend, register, workers, BackendObj, GpuKind};
use crate::ffi::{guard, read_versioned, Out, Versioned};
use crate::result::{ds_result, Error, DS_ERR_DEVICE, DS_ERR_UNAVAILABLE};
use ds_os_linux::cufile::{CuFileConfig, CuFileDriver, CuFileError};

/// `ds_cufile_backend_config.flags`: fail when libcufile is missing instead
/// of reading through host memory.
pub const DS_CUFILE_REQUIRE_GDS: u32 = 1;
/// Read with buffered descriptors instead of reopening files with O_DIRECT.
pub const DS_CUFILE_NO_DIRECT: u32 = 2;

const CUFILE_FLAGS: u32 = DS_CUFILE_REQUIRE_GDS | DS_CUFILE_NO_DIRECT;

/// Settings of a GPUDirect Storage backend. Zero fields take the defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_cufile_backend_config {
    /// `sizeof(ds_cufile_backend_config)`.
    pub struct_size: u32,
    /// `DS_CUFILE_*` flags.
    pub flags: u32,
    /// CUDA device ordinal.
    pub device: i32,
    /// Host I/O workers, and cuFile read threads, per queue (0: defaults).
    pub worker_count: u32,
}

// SAFETY: repr(C), starts with the u32 size, integers only.
unsafe impl Versioned for ds_cufile_backend_config {
    const V1_SIZE: usize = std::mem::size_of::<ds_cufile_backend_config>();
    const NAME: &'static str = "ds_cufile_backend_config";
}

pub(crate) fn cufile_error(what: &str, e: &CuFileError) -> Error {
    let code = if e.is_unavailable() || matches!(e, CuFileError::NoDevice { .. }) {
        DS_ERR_UNAVAILABLE
    } else {
        DS_ERR_DEVICE
    };
    Error::new(code, format!("{what}: {e}"))
}

/// Opens the cuFile executor for one queue.
pub(crate) fn driver(cfg: &CuFileConfig) -> Result<CuFileDriver, Error> {
    CuFileDriver::open(cfg.clone()).map_err(|e| cufile_error("opening GPUDirect Storage", &e))
}

/// A backend whose queues read host-memory destinations with pread workers
/// and CUDA device memory with cuFile; `config` NULL takes the defaults
/// (device 0). The CUDA driver is loaded now: `DS_ERR_UNAVAILABLE` without
/// it (or without libcufile and `DS_CUFILE_REQUIRE_GDS`).
///
/// # Safety
/// `config`: NULL or valid for reads of its `struct_size`; `out_backend`:
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_make_cufile_backend(
    config: *const ds_cufile_backend_config,
    out_backend: *mut *mut ds_backend,
) -> ds_result {
    guard("ds_make_cufile_backend", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_backend, "out_backend") }?;
        let c = if config.is_null() {
            ds_cufile_backend_config {
                struct_size: 0,
                flags: 0,
                device: 0,
                worker_count: 0,
            }
        } else {
            // SAFETY: caller contract.
            unsafe { read_versioned(config) }?
        };
        if c.flags & !CUFILE_FLAGS != 0 {
            return Err(Error::invalid(format!(
                "unknown ds_cufile_backend_config flags {:#x}",
                c.flags & !CUFILE_FLAGS
            )));
        }
        let mut cfg = CuFileConfig {
            device: c.device,
            direct: c.flags & DS_CUFILE_NO_DIRECT == 0,
            require_cufile: c.flags & DS_CUFILE_REQUIRE_GDS != 0,
            ..CuFileConfig::default()
        };
        if let Some(n) = workers(c.worker_count, "worker_count")? {
            cfg.threads = n;
        }
        // Probe now, so a machine without CUDA fails here, not at queue
        // creation.
        drop(driver(&cfg)?);
        register(
            BackendObj {
                io: pread_backend(c.worker_count)?,
                gpu: Some(GpuKind::CuFile(cfg)),
            },
            out,
        );
        Ok(())
    })
}
