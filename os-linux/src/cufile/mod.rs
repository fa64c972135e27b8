//! GPUDirect Storage: a [`crate::Driver`] for GPU-buffer destinations that
//! are CUDA device memory, reading files with `cuFileRead` straight into
//! the device (or through host memory when libcufile is absent), plus the
//! CUDA pieces other executors reuse ([`Cuda`], [`CuFile`]).
//!
//! Destination mapping: a request made with
//! [`crate::Request::into_gpu_buffer`]`(buffer, offset, size)` names a CUDA
//! device allocation by its base address (`CUdeviceptr`) in `buffer`. The
//! allocation must first be registered with the driver's [`GpuBuffers`]
//! table (`register(base, len)`), which calls `cuFileBufRegister` once for
//! it (registration per request would cost more than the read), and lets
//! the driver check `offset + bytes <= len` before any I/O. A Vulkan buffer
//! exported as an opaque fd becomes such an allocation through
//! [`Cuda::import_memory_fd`] (the GPU-resident work uses this).
//!
//! Routes ([`Route`]): with libcufile, files are opened again with O_DIRECT
//! (as cuFile needs), registered once per file (`cuFileHandleRegister`,
//! cached per [`crate::file::WeakFile`]) and read with `cuFileRead`; on a
//! machine without the nvidia-fs module cuFile runs in its compatibility
//! mode (POSIX reads into its own bounce buffers), which is still this
//! route. Without libcufile but with the CUDA driver, the driver reads into
//! host memory and copies with `cuMemcpyHtoD` (`HostBounce`). Without the
//! CUDA driver, [`CuFileDriver::open`] fails with
//! [`CuFileError::Unavailable`] and the embedder uses another executor.
//!
//! GDeflate requests are read into host memory, decoded on the CPU
//! (`exec::decode`) and copied to the device. Cancellation: `cuFileRead`
//! is synchronous, so a strong cancel that finds a request inside its
//! write bracket waits for that one read (see docs/io.md).

#![allow(unsafe_code)]

pub mod sys;

use crate::driver::{Driver, Job, JobFeed};
use crate::error::RequestErrorKind;
use crate::exec;
use crate::file::{FileRef, WeakFile};
use ds_core::{Compression, DestinationKinds, Source};
use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use sys::{CuDevice, CuDevicePtr, CuFileLib, CudaLib, Handle, LoadError, ReadResult};

/// Why GPUDirect Storage (or CUDA) could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CuFileError {
    /// A library is missing or incomplete: "no libcufile", "no CUDA driver".
    Unavailable(LoadError),
    /// A CUDA driver call failed.
    Cuda {
        /// The call.
        call: &'static str,
        /// The `CUresult`.
        code: i32,
        /// Its name.
        name: &'static str,
    },
    /// A cuFile call failed.
    CuFile {
        /// The call.
        call: &'static str,
        /// The `CUfileOpError`.
        code: i32,
        /// Its name (`CU_FILE_...`).
        name: &'static str,
        /// The `CUresult` behind `CU_FILE_CUDA_DRIVER_ERROR` (else 0).
        cuda: i32,
    },
    /// The requested CUDA device does not exist.
    NoDevice {
        /// The ordinal asked for.
        ordinal: i32,
        /// Devices present.
        count: i32,
    },
    /// An OS call failed.
    Os {
        /// The call.
        call: &'static str,
        /// The errno.
        errno: i32,
    },
    /// A buffer registration was refused.
    BadBuffer {
        /// The device address.
        buffer: u64,
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for CuFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CuFileError::Unavailable(e) => write!(f, "GPUDirect Storage unavailable: {e}"),
            CuFileError::Cuda { call, code, name } => write!(f, "{call} failed: {name} ({code})"),
            CuFileError::CuFile {
                call,
                code,
                name,
                cuda,
            } => {
                write!(f, "{call} failed: {name} ({code})")?;
                if *cuda != 0 {
                    write!(f, ", CUDA {} ({cuda})", sys::cuda_error_name(*cuda))?;
                }
                Ok(())
            }
            CuFileError::NoDevice { ordinal, count } => {
                write!(f, "no CUDA device {ordinal} ({count} present)")
            }
            CuFileError::Os { call, errno } => write!(
                f,
                "{call} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            CuFileError::BadBuffer { buffer, reason } => {
                write!(f, "GPU buffer {buffer:#x}: {reason}")
            }
        }
    }
}

impl std::error::Error for CuFileError {}

impl CuFileError {
    /// True when a library is missing (as opposed to a failing call).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CuFileError::Unavailable(_))
    }
}

fn cuda_check(call: &'static str, code: sys::CuResult) -> Result<(), CuFileError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CuFileError::Cuda {
            call,
            code,
            name: sys::cuda_error_name(code),
        })
    }
}

fn cufile_check(call: &'static str, st: sys::CuFileStatus) -> Result<(), CuFileError> {
    if st.err == 0 {
        Ok(())
    } else {
        Err(CuFileError::CuFile {
            call,
            code: st.err,
            name: sys::cufile_error_name(st.err),
            cuda: st.cu_err,
        })
    }
}

/// The CUDA driver API, initialised, with one device's primary context
/// retained (and made current on each thread that calls in).
pub struct Cuda {
    lib: CudaLib,
    device: CuDevice,
    ordinal: i32,
    ctx: Handle,
}

// SAFETY: the CUDA driver API is thread-safe; a context handle may be made
// current on any thread, which every method here does before using it.
unsafe impl Send for Cuda {}
// SAFETY: as for `Send`; `Cuda` has no interior state of its own.
unsafe impl Sync for Cuda {}

impl fmt::Debug for Cuda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cuda")
            .field("library", &self.lib.path)
            .field("ordinal", &self.ordinal)
            .finish()
    }
}

/// Device memory allocated with [`Cuda::alloc`], freed on drop.
#[derive(Debug)]
pub struct DeviceMemory {
    cuda: Arc<Cuda>,
    ptr: CuDevicePtr,
    len: usize,
}

impl DeviceMemory {
    /// The device address.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// Bytes allocated.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for zero bytes (never: allocations are at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        let _ = self.cuda.make_current();
        // SAFETY: `ptr` came from cuMemAlloc of this library and is freed
        // once.
        let r = unsafe { (self.cuda.lib.mem_free)(self.ptr) };
        if r != 0 {
            log::error!("cuMemFree: {}", sys::cuda_error_name(r));
        }
    }
}

/// A loaded CUDA module (PTX or cubin), unloaded on drop.
#[derive(Debug)]
pub struct Module {
    cuda: Arc<Cuda>,
    handle: Handle,
}

// SAFETY: module handles are usable from any thread with the context current.
unsafe impl Send for Module {}
// SAFETY: as for `Send`.
unsafe impl Sync for Module {}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = self.cuda.make_current();
        // SAFETY: `handle` came from cuModuleLoadData and is unloaded once.
        let _ = unsafe { (self.cuda.lib.module_unload)(self.handle) };
    }
}

/// A kernel of a [`Module`].
#[derive(Clone, Copy, Debug)]
pub struct Function(Handle);

/// Memory of another API (a Vulkan allocation exported as an opaque fd)
/// imported into CUDA and mapped as a device buffer; destroyed on drop.
#[derive(Debug)]
pub struct ExternalBuffer {
    cuda: Arc<Cuda>,
    ext: Handle,
    ptr: CuDevicePtr,
    len: u64,
}

// SAFETY: the handle is only passed back to the thread-safe driver API.
unsafe impl Send for ExternalBuffer {}
// SAFETY: as for `Send`.
unsafe impl Sync for ExternalBuffer {}

impl ExternalBuffer {
    /// The device address of the mapping.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// Bytes mapped.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for ExternalBuffer {
    fn drop(&mut self) {
        let _ = self.cuda.make_current();
        // SAFETY: the mapping and the external memory come from this
        // library; the mapping is freed before the memory is destroyed.
        let r = unsafe { (self.cuda.lib.mem_free)(self.ptr) };
        if r != 0 {
            log::error!(
                "cuMemFree of an external mapping: {}",
                sys::cuda_error_name(r)
            );
        }
        // SAFETY: `ext` came from cuImportExternalMemory, destroyed once.
        let _ = unsafe { (self.cuda.lib.destroy_external_memory)(self.ext) };
    }
}

const ATTR_CC_MAJOR: c_int = 75;
const ATTR_CC_MINOR: c_int = 76;

impl Cuda {
    /// Loads the CUDA driver, initialises it and retains device
    /// `ordinal`'s primary context.
    pub fn open(ordinal: i32) -> Result<Arc<Cuda>, CuFileError> {
        let lib = CudaLib::load().map_err(CuFileError::Unavailable)?;
        // SAFETY: cuInit takes flags (must be 0).
        cuda_check("cuInit", unsafe { (lib.init)(0) })?;
        let mut count = 0;
        // SAFETY: out-pointer to a local.
        cuda_check("cuDeviceGetCount", unsafe {
            (lib.device_get_count)(&mut count)
        })?;
        if ordinal < 0 || ordinal >= count {
            return Err(CuFileError::NoDevice { ordinal, count });
        }
        let mut device = 0;
        // SAFETY: out-pointer to a local; ordinal checked above.
        cuda_check("cuDeviceGet", unsafe {
            (lib.device_get)(&mut device, ordinal)
        })?;
        let mut ctx: Handle = std::ptr::null_mut();
        // SAFETY: out-pointer to a local; `device` is valid.
        cuda_check("cuDevicePrimaryCtxRetain", unsafe {
            (lib.primary_ctx_retain)(&mut ctx, device)
        })?;
        let cuda = Arc::new(Cuda {
            lib,
            device,
            ordinal,
            ctx,
        });
        cuda.make_current()?;
        Ok(cuda)
    }

    /// Makes the context current on the calling thread.
    pub fn make_current(&self) -> Result<(), CuFileError> {
        // SAFETY: `ctx` is the retained primary context.
        cuda_check("cuCtxSetCurrent", unsafe {
            (self.lib.ctx_set_current)(self.ctx)
        })
    }

    /// The device's name.
    pub fn device_name(&self) -> String {
        let mut buf = [0 as std::ffi::c_char; 256];
        // SAFETY: `buf` holds 256 bytes, the length passed.
        let r = unsafe { (self.lib.device_get_name)(buf.as_mut_ptr(), 256, self.device) };
        if r != 0 {
            return String::from("?");
        }
        sys::c_str(buf.as_ptr())
    }

    /// Compute capability (major, minor).
    pub fn compute_capability(&self) -> (i32, i32) {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: out-pointers to locals; the attribute ids are CUDA's.
        unsafe {
            (self.lib.device_get_attribute)(&mut major, ATTR_CC_MAJOR, self.device);
        }
        // SAFETY: as above.
        unsafe {
            (self.lib.device_get_attribute)(&mut minor, ATTR_CC_MINOR, self.device);
        }
        (major, minor)
    }

    /// Allocates `len` bytes of device memory.
    pub fn alloc(self: &Arc<Self>, len: usize) -> Result<DeviceMemory, CuFileError> {
        self.make_current()?;
        let mut ptr = 0;
        // SAFETY: out-pointer to a local.
        cuda_check("cuMemAlloc", unsafe {
            (self.lib.mem_alloc)(&mut ptr, len.max(1))
        })?;
        Ok(DeviceMemory {
            cuda: self.clone(),
            ptr,
            len: len.max(1),
        })
    }

    /// Sets `len` bytes at device address `dst` to `value`.
    pub fn memset(&self, dst: u64, value: u8, len: usize) -> Result<(), CuFileError> {
        self.make_current()?;
        // SAFETY: only device memory is written; the driver validates the
        // device range and reports an error for a bad one.
        cuda_check("cuMemsetD8", unsafe {
            (self.lib.memset_d8)(dst, value, len)
        })
    }

    /// Waits until every operation issued in the context has finished.
    /// `cuMemcpyHtoD` from pageable memory may return before its DMA
    /// reaches the device, so another API (Vulkan) must not read what it
    /// wrote before this returns.
    pub fn synchronize(&self) -> Result<(), CuFileError> {
        self.make_current()?;
        // SAFETY: no arguments; the context is current on this thread.
        cuda_check("cuCtxSynchronize", unsafe { (self.lib.ctx_synchronize)() })
    }

    /// Copies host bytes to device address `dst`.
    pub fn copy_to_device(&self, dst: u64, src: &[u8]) -> Result<(), CuFileError> {
        self.make_current()?;
        // SAFETY: `src` is valid for `src.len()` reads; the device side is
        // validated by the driver.
        cuda_check("cuMemcpyHtoD", unsafe {
            (self.lib.memcpy_htod)(dst, src.as_ptr().cast(), src.len())
        })
    }

    /// Copies device bytes at `src` to host memory.
    pub fn copy_from_device(&self, dst: &mut [u8], src: u64) -> Result<(), CuFileError> {
        self.make_current()?;
        // SAFETY: `dst` is valid for `dst.len()` writes; the device side is
        // validated by the driver.
        cuda_check("cuMemcpyDtoH", unsafe {
            (self.lib.memcpy_dtoh)(dst.as_mut_ptr().cast(), src, dst.len())
        })
    }

    /// Loads a module from PTX text (JIT-compiled by the driver).
    pub fn load_ptx(self: &Arc<Self>, ptx: &CStr) -> Result<Module, CuFileError> {
        self.make_current()?;
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: `ptx` is NUL-terminated PTX text, alive for the call.
        cuda_check("cuModuleLoadData", unsafe {
            (self.lib.module_load_data)(&mut handle, ptx.as_ptr().cast())
        })?;
        Ok(Module {
            cuda: self.clone(),
            handle,
        })
    }

    /// A kernel of `module` by name.
    pub fn function(&self, module: &Module, name: &CStr) -> Result<Function, CuFileError> {
        let mut f: Handle = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `module` is loaded.
        cuda_check("cuModuleGetFunction", unsafe {
            (self.lib.module_get_function)(&mut f, module.handle, name.as_ptr())
        })?;
        Ok(Function(f))
    }

    /// Launches `f` on the default stream and waits for it.
    ///
    /// # Safety
    /// `params` must point to one value per kernel parameter, of the
    /// parameter's type, and every device address they hold must be valid
    /// for what the kernel does with it.
    pub unsafe fn launch_and_wait(
        &self,
        f: Function,
        grid: u32,
        block: u32,
        params: &mut [*mut c_void],
    ) -> Result<(), CuFileError> {
        self.make_current()?;
        // SAFETY: the caller vouches for the parameters (this function's
        // contract); no extra options and the default stream.
        cuda_check("cuLaunchKernel", unsafe {
            (self.lib.launch_kernel)(
                f.0,
                grid,
                1,
                1,
                block,
                1,
                1,
                0,
                std::ptr::null_mut(),
                params.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        })?;
        // SAFETY: no arguments.
        cuda_check("cuCtxSynchronize", unsafe { (self.lib.ctx_synchronize)() })
    }

    /// Imports `size` bytes of memory exported by another API as an opaque
    /// fd (`VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT`) and maps all of
    /// it as a device buffer. On success CUDA owns the descriptor.
    pub fn import_memory_fd(
        self: &Arc<Self>,
        fd: OwnedFd,
        size: u64,
        dedicated: bool,
    ) -> Result<ExternalBuffer, CuFileError> {
        self.make_current()?;
        let raw = fd.as_raw_fd();
        let desc = sys::ExternalMemoryHandleDesc {
            kind: sys::CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD,
            handle: [raw as u32 as u64, 0],
            size,
            flags: u32::from(dedicated),
            reserved: [0; 16],
        };
        let mut ext: Handle = std::ptr::null_mut();
        // SAFETY: `desc` is a valid descriptor alive for the call; `raw` is
        // an open descriptor owned by `fd`.
        cuda_check("cuImportExternalMemory", unsafe {
            (self.lib.import_external_memory)(&mut ext, &desc)
        })?;
        // Imported: the fd now belongs to CUDA.
        let _ = fd.into_raw_fd();
        let bdesc = sys::ExternalMemoryBufferDesc {
            offset: 0,
            size,
            flags: 0,
            reserved: [0; 16],
        };
        let mut ptr = 0;
        // SAFETY: `ext` was just imported; `bdesc` is valid for the call.
        let mapped = unsafe { (self.lib.external_memory_get_mapped_buffer)(&mut ptr, ext, &bdesc) };
        if let Err(e) = cuda_check("cuExternalMemoryGetMappedBuffer", mapped) {
            // SAFETY: destroys the memory imported above, once.
            let _ = unsafe { (self.lib.destroy_external_memory)(ext) };
            return Err(e);
        }
        Ok(ExternalBuffer {
            cuda: self.clone(),
            ext,
            ptr,
            len: size,
        })
    }
}

impl Drop for Cuda {
    fn drop(&mut self) {
        // SAFETY: releases the primary context retained in `open`, once.
        let _ = unsafe { (self.lib.primary_ctx_release)(self.device) };
    }
}

/// The cuFile driver, opened (`cuFileDriverOpen`); closed on drop.
pub struct CuFile {
    lib: CuFileLib,
    cuda: Arc<Cuda>,
}

impl fmt::Debug for CuFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CuFile")
            .field("library", &self.lib.path)
            .finish()
    }
}

/// A file registered with cuFile (`cuFileHandleRegister`), deregistered
/// on drop; keeps its descriptor open.
pub struct CuFileHandle {
    cufile: Arc<CuFile>,
    handle: Handle,
    _fd: OwnedFd,
    /// True when the descriptor was opened with O_DIRECT.
    pub direct: bool,
}

// SAFETY: cuFile handles may be used from any thread (cuFileRead is
// thread-safe per NVIDIA's documentation); the fd is owned.
unsafe impl Send for CuFileHandle {}
// SAFETY: as for `Send`.
unsafe impl Sync for CuFileHandle {}

impl fmt::Debug for CuFileHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CuFileHandle")
            .field("direct", &self.direct)
            .finish()
    }
}

impl Drop for CuFileHandle {
    fn drop(&mut self) {
        // SAFETY: `handle` came from cuFileHandleRegister, deregistered once,
        // before the descriptor closes (fields drop after this).
        unsafe { (self.cufile.lib.handle_deregister)(self.handle) }
    }
}

impl CuFile {
    /// Loads libcufile and opens its driver.
    pub fn open(cuda: Arc<Cuda>) -> Result<Arc<CuFile>, CuFileError> {
        let lib = CuFileLib::load().map_err(CuFileError::Unavailable)?;
        cuda.make_current()?;
        // SAFETY: no arguments; the CUDA context is current.
        cufile_check("cuFileDriverOpen", unsafe { (lib.driver_open)() })?;
        Ok(Arc::new(CuFile { lib, cuda }))
    }

    /// The library file in use.
    pub fn library_path(&self) -> &str {
        &self.lib.path
    }

    /// Registers device memory `[ptr, ptr + len)` for cuFile reads.
    pub fn register_buffer(&self, ptr: u64, len: u64) -> Result<(), CuFileError> {
        self.cuda.make_current()?;
        // SAFETY: only an address range is handed over; cuFile validates
        // that it is device memory of the current context.
        cufile_check("cuFileBufRegister", unsafe {
            (self.lib.buf_register)(ptr as usize as *const c_void, len as usize, 0)
        })
    }

    /// Drops a registration made with [`CuFile::register_buffer`].
    pub fn deregister_buffer(&self, ptr: u64) -> Result<(), CuFileError> {
        self.cuda.make_current()?;
        // SAFETY: as for registration.
        cufile_check("cuFileBufDeregister", unsafe {
            (self.lib.buf_deregister)(ptr as usize as *const c_void)
        })
    }

    /// Registers `file`: a new O_DIRECT descriptor of it when `direct` and
    /// the file system allows it, else a duplicate of its descriptor.
    pub fn register_file(
        self: &Arc<Self>,
        file: &FileRef,
        direct: bool,
    ) -> Result<CuFileHandle, CuFileError> {
        let reopened = direct
            .then(|| {
                rustix::fs::open(
                    format!("/proc/self/fd/{}", file.raw_fd()).as_str(),
                    rustix::fs::OFlags::RDONLY
                        | rustix::fs::OFlags::DIRECT
                        | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .ok()
            })
            .flatten();
        let is_direct = reopened.is_some();
        let fd = match reopened {
            Some(fd) => fd,
            None => {
                rustix::io::fcntl_dupfd_cloexec(file.as_fd(), 0).map_err(|e| CuFileError::Os {
                    call: "dup",
                    errno: e.raw_os_error(),
                })?
            }
        };
        let mut descr = sys::CuFileDescr {
            kind: sys::CU_FILE_HANDLE_TYPE_OPAQUE_FD,
            handle: fd.as_raw_fd() as u32 as usize,
            fs_ops: std::ptr::null(),
        };
        let mut handle: Handle = std::ptr::null_mut();
        self.cuda.make_current()?;
        // SAFETY: `descr` describes an open descriptor owned by `fd`, which
        // the returned handle keeps open until it is deregistered.
        cufile_check("cuFileHandleRegister", unsafe {
            (self.lib.handle_register)(&mut handle, &mut descr)
        })?;
        Ok(CuFileHandle {
            cufile: self.clone(),
            handle,
            _fd: fd,
            direct: is_direct,
        })
    }

    /// `cuFileRead` of `size` bytes at `file_offset` into the device
    /// buffer whose base is `base`, at `base_offset` in it.
    pub fn read(
        &self,
        h: &CuFileHandle,
        base: u64,
        size: usize,
        file_offset: u64,
        base_offset: u64,
    ) -> ReadResult {
        // SAFETY: only device memory is written, which cuFile validates
        // against the registered buffer / the context; `h` is registered.
        let ret = unsafe {
            (self.lib.read)(
                h.handle,
                base as usize as *mut c_void,
                size,
                file_offset as i64,
                base_offset as i64,
            )
        };
        sys::decode_read(ret, || {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        })
    }
}

impl Drop for CuFile {
    fn drop(&mut self) {
        let _ = self.cuda.make_current();
        // SAFETY: closes the driver opened in `open`, once.
        let st = unsafe { (self.lib.driver_close)() };
        if st.err != 0 {
            log::warn!("cuFileDriverClose: {}", sys::cufile_error_name(st.err));
        }
    }
}

/// How the driver moves bytes to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `cuFileRead` (GPUDirect Storage, or its compatibility mode).
    GpuDirect,
    /// Host read, then `cuMemcpyHtoD` (no libcufile).
    HostBounce,
}

#[derive(Clone, Copy, Debug)]
struct Registered {
    len: u64,
    with_cufile: bool,
}

/// The device allocations requests may target, by base address. Shared
/// between the driver and its owner (clone it before handing the driver
/// to the queue).
#[derive(Clone)]
pub struct GpuBuffers {
    map: Arc<Mutex<HashMap<u64, Registered>>>,
    cufile: Option<Arc<CuFile>>,
}

impl fmt::Debug for GpuBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuBuffers")
            .field("buffers", &self.lock().len())
            .finish()
    }
}

impl GpuBuffers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Registered>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `[base, base + len)` of device memory a request destination
    /// (handle `base`). With cuFile it is also registered for cuFile reads;
    /// if cuFile refuses, reads into it still work (cuFile uses its own
    /// bounce buffers) and a warning names the error.
    pub fn register(&self, base: u64, len: u64) -> Result<(), CuFileError> {
        if base == 0 || len == 0 {
            return Err(CuFileError::BadBuffer {
                buffer: base,
                reason: "null address or empty range",
            });
        }
        if self.lock().contains_key(&base) {
            return Err(CuFileError::BadBuffer {
                buffer: base,
                reason: "already registered",
            });
        }
        let with_cufile = match &self.cufile {
            Some(cf) => match cf.register_buffer(base, len) {
                Ok(()) => true,
                Err(e) => {
                    log::warn!("GPU buffer {base:#x}: {e}; cuFile reads use its bounce buffers");
                    false
                }
            },
            None => false,
        };
        self.lock().insert(base, Registered { len, with_cufile });
        Ok(())
    }

    /// Removes a buffer; false if it was not registered. Requests already
    /// running into it finish first only if the caller waited for them.
    pub fn deregister(&self, base: u64) -> bool {
        let Some(r) = self.lock().remove(&base) else {
            return false;
        };
        if let (true, Some(cf)) = (r.with_cufile, &self.cufile) {
            if let Err(e) = cf.deregister_buffer(base) {
                log::warn!("GPU buffer {base:#x}: {e}");
            }
        }
        true
    }

    fn get(&self, base: u64) -> Option<Registered> {
        self.lock().get(&base).copied()
    }
}

impl Drop for GpuBuffersOwner {
    fn drop(&mut self) {
        let bases: Vec<u64> = self.0.lock().keys().copied().collect();
        for b in bases {
            self.0.deregister(b);
        }
    }
}

/// Deregisters every buffer when the last driver-side holder goes.
struct GpuBuffersOwner(GpuBuffers);

/// Settings of the GPUDirect Storage driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CuFileConfig {
    /// CUDA device ordinal.
    pub device: i32,
    /// Worker threads (each does one synchronous read at a time).
    pub threads: usize,
    /// Open files again with O_DIRECT for cuFile (as GPUDirect needs).
    pub direct: bool,
    /// Fail [`CuFileDriver::open`] when libcufile is missing instead of
    /// using the host-bounce route.
    pub require_cufile: bool,
}

impl Default for CuFileConfig {
    /// Device 0, 4 threads, O_DIRECT, host bounce allowed.
    fn default() -> Self {
        CuFileConfig {
            device: 0,
            threads: 4,
            direct: true,
            require_cufile: false,
        }
    }
}

/// A file's cuFile state: a weak handle (to sweep dead files) and its
/// registration, `None` when cuFile refused the file.
type FileEntry = (WeakFile, Option<Arc<CuFileHandle>>);

struct Shared {
    cuda: Arc<Cuda>,
    cufile: Option<Arc<CuFile>>,
    buffers: GpuBuffers,
    _owner: GpuBuffersOwner,
    /// Per file (by identity): its cuFile handle, or `None` when cuFile
    /// refused it (then it is read through host memory).
    handles: Mutex<HashMap<usize, FileEntry>>,
    direct: bool,
}

impl Shared {
    fn handle_for(&self, file: &FileRef) -> Option<Arc<CuFileHandle>> {
        let cf = self.cufile.as_ref()?;
        let mut map = self.handles.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, (w, _)| w.is_alive());
        if let Some((_, h)) = map.get(&file.identity()) {
            return h.clone();
        }
        let h = match cf.register_file(file, self.direct) {
            Ok(h) => Some(Arc::new(h)),
            Err(e) => {
                log::warn!(
                    "cuFile refused {}: {e}; reading it through host memory",
                    crate::error::FileLabel::of(file)
                );
                None
            }
        };
        map.insert(file.identity(), (file.downgrade(), h.clone()));
        h
    }
}

/// The GPUDirect Storage executor: GPU-buffer destinations that are CUDA
/// device memory registered in its [`GpuBuffers`].
pub struct CuFileDriver {
    shared: Arc<Shared>,
    threads: usize,
    workers: Vec<JoinHandle<()>>,
}

impl fmt::Debug for CuFileDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CuFileDriver")
            .field("route", &self.route())
            .field("threads", &self.threads)
            .finish()
    }
}

impl CuFileDriver {
    /// Loads CUDA (required) and cuFile (optional unless
    /// `require_cufile`), opens the cuFile driver.
    pub fn open(cfg: CuFileConfig) -> Result<CuFileDriver, CuFileError> {
        let cuda = Cuda::open(cfg.device)?;
        let cufile = match CuFile::open(cuda.clone()) {
            Ok(cf) => Some(cf),
            Err(e) if e.is_unavailable() && !cfg.require_cufile => {
                log::warn!("{e}; GPU reads go through host memory (cuMemcpyHtoD)");
                None
            }
            Err(e) => return Err(e),
        };
        let buffers = GpuBuffers {
            map: Arc::default(),
            cufile: cufile.clone(),
        };
        Ok(CuFileDriver {
            shared: Arc::new(Shared {
                cuda,
                cufile,
                _owner: GpuBuffersOwner(buffers.clone()),
                buffers,
                handles: Mutex::new(HashMap::new()),
                direct: cfg.direct,
            }),
            threads: cfg.threads.max(1),
            workers: Vec::new(),
        })
    }

    /// The route in use.
    pub fn route(&self) -> Route {
        if self.shared.cufile.is_some() {
            Route::GpuDirect
        } else {
            Route::HostBounce
        }
    }

    /// The buffer table (register destinations here).
    pub fn buffers(&self) -> GpuBuffers {
        self.shared.buffers.clone()
    }

    /// The CUDA context the driver uses.
    pub fn cuda(&self) -> Arc<Cuda> {
        self.shared.cuda.clone()
    }

    /// The cuFile library in use, if any.
    pub fn cufile(&self) -> Option<Arc<CuFile>> {
        self.shared.cufile.clone()
    }
}

impl Driver for CuFileDriver {
    fn name(&self) -> &'static str {
        "cufile"
    }

    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::GPU_BUFFER
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        for n in 0..self.threads {
            let (feed, shared) = (feed.clone(), self.shared.clone());
            self.workers.push(
                std::thread::Builder::new()
                    .name(format!("ds-cufile-{n}"))
                    .spawn(move || worker(feed, shared))?,
            );
        }
        Ok(())
    }

    fn stop(&mut self) {
        let me = std::thread::current().id();
        for w in self.workers.drain(..) {
            if w.thread().id() != me && w.join().is_err() {
                log::error!("a cuFile worker panicked");
            }
        }
    }
}

fn worker(feed: JobFeed, shared: Arc<Shared>) {
    if let Err(e) = shared.cuda.make_current() {
        log::error!("cuFile worker: {e}");
    }
    let mut batch = Vec::with_capacity(4);
    let mut host = Vec::new();
    let mut decoded = Vec::new();
    let threads = feed.decompress_threads();
    while feed.next_batch(&mut batch, 4) {
        for mut job in batch.drain(..) {
            let step = run(&mut job, &shared, &mut host, &mut decoded, threads);
            exec::finish(job, step);
        }
    }
}

fn device_error(e: CuFileError) -> RequestErrorKind {
    match e {
        CuFileError::Os { call, errno } => RequestErrorKind::Io { call, errno },
        CuFileError::Cuda { call, code, name }
        | CuFileError::CuFile {
            call, code, name, ..
        } => RequestErrorKind::Device { call, name, code },
        other => RequestErrorKind::Device {
            call: "cuda",
            name: if other.is_unavailable() {
                "library unavailable"
            } else {
                "setup failed"
            },
            code: 0,
        },
    }
}

/// Executes one job; the result goes to `exec::finish`.
fn run(
    job: &mut Job,
    shared: &Shared,
    host: &mut Vec<u8>,
    decoded: &mut Vec<u8>,
    threads: usize,
) -> exec::Step {
    if job.is_cancelled() {
        return Ok(None);
    }
    if job.file().is_some_and(|f| f.is_closed()) {
        return Err(RequestErrorKind::FileClosed);
    }
    let Some(range) = job.gpu_destination() else {
        return Err(RequestErrorKind::Unsupported {
            executor: "cufile",
            what: "write to a destination that is not a GPU buffer",
        });
    };
    let desc = job.desc().clone();
    let bytes = desc.uncompressed_size;
    let reg = shared
        .buffers
        .get(range.buffer)
        .ok_or(RequestErrorKind::BadGpuBuffer {
            buffer: range.buffer,
            registered: None,
        })?;
    if range
        .offset
        .checked_add(bytes)
        .is_none_or(|end| end > reg.len)
    {
        return Err(RequestErrorKind::BadGpuBuffer {
            buffer: range.buffer,
            registered: Some(reg.len),
        });
    }
    let dst = range.buffer + range.offset;
    let file = job.file().cloned();
    match (desc.source, desc.compression, file) {
        (Source::File { offset, size, .. }, Compression::None, Some(file)) => {
            if let Some(h) = shared.handle_for(&file) {
                let cf = shared.cufile.as_ref().expect("a handle implies cuFile");
                if job.begin_write().is_err() {
                    return Ok(None);
                }
                let mut done = 0usize;
                while done < size as usize {
                    match cf.read(
                        &h,
                        range.buffer,
                        size as usize - done,
                        offset + done as u64,
                        range.offset + done as u64,
                    ) {
                        ReadResult::Bytes(0) => {
                            return Err(RequestErrorKind::EndOfFile {
                                available: done as u64,
                                file_len: rustix::fs::fstat(file.as_fd())
                                    .ok()
                                    .map(|s| s.st_size as u64),
                            })
                        }
                        ReadResult::Bytes(n) => done += n,
                        ReadResult::Errno(libc::EINTR) => {}
                        ReadResult::Errno(e) => {
                            return Err(exec::io_error(
                                "cuFileRead",
                                rustix::io::Errno::from_raw_os_error(e),
                            ))
                        }
                        ReadResult::CuFile(code) => {
                            return Err(RequestErrorKind::Device {
                                call: "cuFileRead",
                                name: sys::cufile_error_name(code),
                                code,
                            })
                        }
                    }
                }
                return Ok(Some(size));
            }
            host.clear();
            host.resize(size as usize, 0);
            exec::pread_exact(&file, host, offset)?;
            to_device(job, shared, dst, host)
        }
        (Source::File { offset, size, .. }, Compression::GDeflate, Some(file)) => {
            host.clear();
            host.resize(size as usize, 0);
            exec::pread_exact(&file, host, offset)?;
            exec::decode(host, bytes, decoded, threads)?;
            to_device(job, shared, dst, decoded)
        }
        (Source::Memory { .. }, compression, _) => {
            let src = job
                .io_parts()
                .source
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            if compression == Compression::GDeflate {
                exec::decode(&src, bytes, decoded, threads)?;
                to_device(job, shared, dst, decoded)
            } else {
                to_device(job, shared, dst, &src)
            }
        }
        _ => Err(RequestErrorKind::Unsupported {
            executor: "cufile",
            what: "read from this source",
        }),
    }
}

/// Copies finished bytes to the device inside the write bracket.
fn to_device(job: &mut Job, shared: &Shared, dst: u64, bytes: &[u8]) -> exec::Step {
    if job.begin_write().is_err() {
        return Ok(None);
    }
    shared
        .cuda
        .copy_to_device(dst, bytes)
        .map_err(device_error)?;
    Ok(Some(bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::sys::*;

    #[test]
    fn cufile_read_results_are_decoded() {
        assert_eq!(
            decode_read(4096, || unreachable!()),
            ReadResult::Bytes(4096)
        );
        assert_eq!(decode_read(0, || unreachable!()), ReadResult::Bytes(0));
        assert_eq!(decode_read(-1, || libc::EIO), ReadResult::Errno(libc::EIO));
        assert_eq!(
            decode_read(-5012, || unreachable!()),
            ReadResult::CuFile(5012)
        );
        assert_eq!(cufile_error_name(5012), "CU_FILE_CUDA_POINTER_INVALID");
        assert_eq!(cufile_error_name(5020), "CU_FILE_DIO_NOT_SET");
        assert_eq!(cufile_error_name(5021), "unknown CUfileOpError");
        assert_eq!(cuda_error_name(218), "CUDA_ERROR_INVALID_PTX");
    }
}
