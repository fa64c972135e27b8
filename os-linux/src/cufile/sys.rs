//! Run-time bindings of the CUDA driver API (`libcuda.so.1`) and of
//! GPUDirect Storage (`libcufile.so.0`), loaded with `libloading`, never
//! linked: machines without CUDA build and run everything else, and get a
//! clear "unavailable" error naming what was tried.
//!
//! Only the calls this crate uses are bound; their C types and the numeric
//! values of the error enums follow NVIDIA's public headers (`cuda.h`,
//! `cufile.h`). Library search: `DS_CUFILE_PATH` (a file, or a folder
//! holding `libcufile.so.0`) first, then the dynamic loader's search path
//! (`libcufile.so.0`, `libcufile.so`), then the CUDA toolkit folders under
//! `/usr/local`; for the driver API `DS_CUDA_PATH`, then `libcuda.so.1` /
//! `libcuda.so` on the loader's path.

#![allow(unsafe_code)]

use libloading::Library;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::fmt;
use std::path::PathBuf;

/// `CUresult`.
pub type CuResult = c_int;
/// `CUdevice`.
pub type CuDevice = c_int;
/// `CUdeviceptr` (64-bit).
pub type CuDevicePtr = u64;
/// `CUcontext`, `CUmodule`, `CUfunction`, `CUexternalMemory`, `CUfileHandle_t`.
pub type Handle = *mut c_void;

/// `CUfileError_t`: the cuFile status and, for CUDA failures, the CUresult.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CuFileStatus {
    /// `CUfileOpError` (0 = `CU_FILE_SUCCESS`).
    pub err: c_int,
    /// `CUresult` behind `CU_FILE_CUDA_DRIVER_ERROR`.
    pub cu_err: CuResult,
}

/// `CU_FILE_HANDLE_TYPE_OPAQUE_FD`.
pub const CU_FILE_HANDLE_TYPE_OPAQUE_FD: c_int = 1;

/// `CUfileDescr_t`: type, a union of an fd and a pointer, fs_ops.
#[repr(C)]
#[derive(Debug)]
pub struct CuFileDescr {
    /// Handle type.
    pub kind: c_int,
    /// The union `handle`, used as `int fd` (pointer-sized slot).
    pub handle: usize,
    /// `const CUfileFSOps_t *`, null for ordinary files.
    pub fs_ops: *const c_void,
}

/// `CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD`.
pub const CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD: c_int = 1;

/// `CUDA_EXTERNAL_MEMORY_HANDLE_DESC` (104 bytes: the union starts at 8).
#[repr(C)]
#[derive(Debug)]
pub struct ExternalMemoryHandleDesc {
    /// `CUexternalMemoryHandleType`.
    pub kind: c_int,
    /// The handle union (16 bytes: the largest member is two pointers);
    /// the first 4 bytes hold the fd for `OPAQUE_FD`.
    pub handle: [u64; 2],
    /// Size of the memory object in bytes.
    pub size: u64,
    /// Flags (`CUDA_EXTERNAL_MEMORY_DEDICATED` = 1).
    pub flags: c_uint,
    /// Reserved, zero.
    pub reserved: [c_uint; 16],
}

/// `CUDA_EXTERNAL_MEMORY_BUFFER_DESC`.
#[repr(C)]
#[derive(Debug)]
pub struct ExternalMemoryBufferDesc {
    /// Offset into the memory object.
    pub offset: u64,
    /// Bytes to map.
    pub size: u64,
    /// Flags, zero.
    pub flags: c_uint,
    /// Reserved, zero.
    pub reserved: [c_uint; 16],
}

/// Why a library or one of its symbols could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// No candidate could be opened.
    NotFound {
        /// The library's usual name.
        library: &'static str,
        /// Each candidate with the loader's message.
        tried: Vec<String>,
    },
    /// The library lacks a function this crate needs.
    MissingSymbol {
        /// The file that was opened.
        path: String,
        /// The function.
        symbol: &'static str,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound { library, tried } => {
                write!(f, "{library} not found (tried: {})", tried.join("; "))
            }
            LoadError::MissingSymbol { path, symbol } => {
                write!(f, "{path} has no function {symbol}")
            }
        }
    }
}

fn candidates(env: &str, names: &[&str], dirs: &[PathBuf]) -> Vec<PathBuf> {
    candidates_with(std::env::var_os(env), names, dirs)
}

fn candidates_with(
    first: Option<std::ffi::OsString>,
    names: &[&str],
    dirs: &[PathBuf],
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(v) = first {
        let p = PathBuf::from(v);
        if p.is_dir() {
            out.extend(names.iter().map(|n| p.join(n)));
        } else {
            out.push(p);
        }
    }
    // Bare names: the loader's own search (LD_LIBRARY_PATH, ld.so.cache).
    out.extend(names.iter().map(PathBuf::from));
    for d in dirs {
        out.extend(names.iter().map(|n| d.join(n)));
    }
    out
}

/// CUDA toolkit library folders under /usr/local, newest name first.
fn toolkit_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/local")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cuda"))
        })
        .collect();
    dirs.sort();
    dirs.reverse();
    dirs.into_iter()
        .flat_map(|d| [d.join("targets/x86_64-linux/lib"), d.join("lib64")])
        .filter(|d| d.is_dir())
        .collect()
}

fn open_first(library: &'static str, paths: Vec<PathBuf>) -> Result<(Library, String), LoadError> {
    let mut tried = Vec::new();
    for p in paths {
        // SAFETY: loading a shared library runs its initialisers. The
        // candidates are NVIDIA's libraries (or what the user pointed
        // DS_CUFILE_PATH / DS_CUDA_PATH at), whose initialisers have no
        // preconditions on the caller.
        match unsafe { Library::new(&p) } {
            Ok(lib) => return Ok((lib, p.display().to_string())),
            Err(e) => tried.push(format!("{}: {e}", p.display())),
        }
    }
    Err(LoadError::NotFound { library, tried })
}

macro_rules! api {
    ($(#[$m:meta])* $name:ident {
        $( $field:ident = $sym:literal $(| $alt:literal)* : fn($($arg:ty),*) $(-> $ret:ty)?; )*
    }) => {
        $(#[$m])*
        pub struct $name {
            $( pub(crate) $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?, )*
            /// The file that was opened.
            pub path: String,
            _lib: Library,
        }

        impl $name {
            fn bind(lib: Library, path: String) -> Result<Self, LoadError> {
                $(
                    let $field = {
                        let mut found = None;
                        for sym in [$sym $(, $alt)*] {
                            // SAFETY: the symbol's C signature is the one
                            // declared in this table (from NVIDIA's public
                            // headers); the pointer is only called while
                            // `_lib` keeps the library loaded.
                            let s = unsafe {
                                lib.get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(
                                    sym.as_bytes(),
                                )
                            };
                            if let Ok(s) = s {
                                found = Some(*s);
                                break;
                            }
                        }
                        found.ok_or(LoadError::MissingSymbol {
                            path: path.clone(),
                            symbol: $sym,
                        })?
                    };
                )*
                Ok($name { $( $field, )* path, _lib: lib })
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("path", &self.path).finish()
            }
        }
    };
}

api! {
    /// The CUDA driver API calls this crate uses.
    CudaLib {
        init = "cuInit": fn(c_uint) -> CuResult;
        device_get = "cuDeviceGet": fn(*mut CuDevice, c_int) -> CuResult;
        device_get_count = "cuDeviceGetCount": fn(*mut c_int) -> CuResult;
        device_get_name = "cuDeviceGetName": fn(*mut c_char, c_int, CuDevice) -> CuResult;
        device_get_attribute = "cuDeviceGetAttribute": fn(*mut c_int, c_int, CuDevice) -> CuResult;
        primary_ctx_retain = "cuDevicePrimaryCtxRetain": fn(*mut Handle, CuDevice) -> CuResult;
        primary_ctx_release = "cuDevicePrimaryCtxRelease_v2" | "cuDevicePrimaryCtxRelease": fn(CuDevice) -> CuResult;
        ctx_set_current = "cuCtxSetCurrent": fn(Handle) -> CuResult;
        ctx_synchronize = "cuCtxSynchronize": fn() -> CuResult;
        mem_alloc = "cuMemAlloc_v2": fn(*mut CuDevicePtr, usize) -> CuResult;
        mem_free = "cuMemFree_v2": fn(CuDevicePtr) -> CuResult;
        memcpy_htod = "cuMemcpyHtoD_v2": fn(CuDevicePtr, *const c_void, usize) -> CuResult;
        memcpy_dtoh = "cuMemcpyDtoH_v2": fn(*mut c_void, CuDevicePtr, usize) -> CuResult;
        memset_d8 = "cuMemsetD8_v2": fn(CuDevicePtr, u8, usize) -> CuResult;
        module_load_data = "cuModuleLoadData": fn(*mut Handle, *const c_void) -> CuResult;
        module_get_function = "cuModuleGetFunction": fn(*mut Handle, Handle, *const c_char) -> CuResult;
        module_unload = "cuModuleUnload": fn(Handle) -> CuResult;
        launch_kernel = "cuLaunchKernel": fn(Handle, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, Handle, *mut *mut c_void, *mut *mut c_void) -> CuResult;
        import_external_memory = "cuImportExternalMemory": fn(*mut Handle, *const ExternalMemoryHandleDesc) -> CuResult;
        external_memory_get_mapped_buffer = "cuExternalMemoryGetMappedBuffer": fn(*mut CuDevicePtr, Handle, *const ExternalMemoryBufferDesc) -> CuResult;
        destroy_external_memory = "cuDestroyExternalMemory": fn(Handle) -> CuResult;
    }
}

api! {
    /// The cuFile calls this crate uses.
    CuFileLib {
        driver_open = "cuFileDriverOpen": fn() -> CuFileStatus;
        driver_close = "cuFileDriverClose_v2" | "cuFileDriverClose": fn() -> CuFileStatus;
        handle_register = "cuFileHandleRegister": fn(*mut Handle, *mut CuFileDescr) -> CuFileStatus;
        handle_deregister = "cuFileHandleDeregister": fn(Handle);
        buf_register = "cuFileBufRegister": fn(*const c_void, usize, c_int) -> CuFileStatus;
        buf_deregister = "cuFileBufDeregister": fn(*const c_void) -> CuFileStatus;
        read = "cuFileRead": fn(Handle, *mut c_void, usize, i64, i64) -> isize;
    }
}

impl CudaLib {
    /// Loads the CUDA driver library.
    pub fn load() -> Result<CudaLib, LoadError> {
        let paths = candidates("DS_CUDA_PATH", &["libcuda.so.1", "libcuda.so"], &[]);
        let (lib, path) = open_first("libcuda.so.1", paths)?;
        CudaLib::bind(lib, path)
    }
}

impl CuFileLib {
    /// Loads libcufile.
    pub fn load() -> Result<CuFileLib, LoadError> {
        let paths = candidates(
            "DS_CUFILE_PATH",
            &["libcufile.so.0", "libcufile.so"],
            &toolkit_dirs(),
        );
        let (lib, path) = open_first("libcufile.so.0", paths)?;
        CuFileLib::bind(lib, path)
    }
}

/// Name of a `CUfileOpError` value (from `cufile.h`).
pub fn cufile_error_name(code: i32) -> &'static str {
    match code {
        0 => "CU_FILE_SUCCESS",
        5001 => "CU_FILE_DRIVER_NOT_INITIALIZED",
        5002 => "CU_FILE_DRIVER_INVALID_PROPS",
        5003 => "CU_FILE_DRIVER_UNSUPPORTED_LIMIT",
        5004 => "CU_FILE_DRIVER_VERSION_MISMATCH",
        5005 => "CU_FILE_DRIVER_VERSION_READ_ERROR",
        5006 => "CU_FILE_DRIVER_CLOSING",
        5007 => "CU_FILE_PLATFORM_NOT_SUPPORTED",
        5008 => "CU_FILE_IO_NOT_SUPPORTED",
        5009 => "CU_FILE_DEVICE_NOT_SUPPORTED",
        5010 => "CU_FILE_NVFS_DRIVER_ERROR",
        5011 => "CU_FILE_CUDA_DRIVER_ERROR",
        5012 => "CU_FILE_CUDA_POINTER_INVALID",
        5013 => "CU_FILE_CUDA_MEMORY_TYPE_INVALID",
        5014 => "CU_FILE_CUDA_POINTER_RANGE_ERROR",
        5015 => "CU_FILE_CUDA_CONTEXT_MISMATCH",
        5016 => "CU_FILE_INVALID_MAPPING_SIZE",
        5017 => "CU_FILE_INVALID_MAPPING_RANGE",
        5018 => "CU_FILE_INVALID_FILE_TYPE",
        5019 => "CU_FILE_INVALID_FILE_OPEN_FLAG",
        5020 => "CU_FILE_DIO_NOT_SET",
        5022 => "CU_FILE_INVALID_VALUE",
        5023 => "CU_FILE_MEMORY_ALREADY_REGISTERED",
        5024 => "CU_FILE_MEMORY_NOT_REGISTERED",
        5025 => "CU_FILE_PERMISSION_DENIED",
        5026 => "CU_FILE_DRIVER_ALREADY_OPEN",
        5027 => "CU_FILE_HANDLE_NOT_REGISTERED",
        5028 => "CU_FILE_HANDLE_ALREADY_REGISTERED",
        5029 => "CU_FILE_DEVICE_NOT_FOUND",
        5030 => "CU_FILE_INTERNAL_ERROR",
        5031 => "CU_FILE_GETNEWFD_FAILED",
        5033 => "CU_FILE_NVFS_SETUP_ERROR",
        5034 => "CU_FILE_IO_DISABLED",
        5035 => "CU_FILE_BATCH_SUBMIT_FAILED",
        5036 => "CU_FILE_GPU_MEMORY_PINNING_FAILED",
        5037 => "CU_FILE_BATCH_FULL",
        5038 => "CU_FILE_ASYNC_NOT_SUPPORTED",
        5039 => "CU_FILE_IO_MAX_ERROR",
        _ => "unknown CUfileOpError",
    }
}

/// Name of a `CUresult` value (from `cuda.h`), for the codes a transfer
/// can meet.
pub fn cuda_error_name(code: CuResult) -> &'static str {
    match code {
        0 => "CUDA_SUCCESS",
        1 => "CUDA_ERROR_INVALID_VALUE",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        4 => "CUDA_ERROR_DEINITIALIZED",
        34 => "CUDA_ERROR_STUB_LIBRARY",
        46 => "CUDA_ERROR_DEVICE_UNAVAILABLE",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        200 => "CUDA_ERROR_INVALID_IMAGE",
        201 => "CUDA_ERROR_INVALID_CONTEXT",
        209 => "CUDA_ERROR_NO_BINARY_FOR_GPU",
        218 => "CUDA_ERROR_INVALID_PTX",
        221 => "CUDA_ERROR_JIT_COMPILER_NOT_FOUND",
        222 => "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        304 => "CUDA_ERROR_OPERATING_SYSTEM",
        400 => "CUDA_ERROR_INVALID_HANDLE",
        500 => "CUDA_ERROR_NOT_FOUND",
        600 => "CUDA_ERROR_NOT_READY",
        700 => "CUDA_ERROR_ILLEGAL_ADDRESS",
        701 => "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        702 => "CUDA_ERROR_LAUNCH_TIMEOUT",
        719 => "CUDA_ERROR_LAUNCH_FAILED",
        800 => "CUDA_ERROR_NOT_PERMITTED",
        801 => "CUDA_ERROR_NOT_SUPPORTED",
        802 => "CUDA_ERROR_SYSTEM_NOT_READY",
        803 => "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => "unlisted CUresult",
    }
}

/// What `cuFileRead` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadResult {
    /// Bytes read (0: end of file).
    Bytes(usize),
    /// -1: a POSIX error, in `errno`.
    Errno(i32),
    /// Any other negative value: a negated `CUfileOpError`.
    CuFile(i32),
}

/// Decodes `cuFileRead`'s return value; `errno` is read only for -1.
pub fn decode_read(ret: isize, errno: impl FnOnce() -> i32) -> ReadResult {
    match ret {
        r if r >= 0 => ReadResult::Bytes(r as usize),
        -1 => ReadResult::Errno(errno()),
        r => ReadResult::CuFile(i32::try_from(-r).unwrap_or(i32::MAX)),
    }
}

/// Reads a C string the library owns (error names are static there).
pub(crate) fn c_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null, and the CUDA calls that hand these out return
    // NUL-terminated strings that live as long as the library.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layouts_match_the_c_headers() {
        // Sizes and offsets of the C structs (x86_64): a mismatch would
        // corrupt the arguments of the calls.
        assert_eq!(std::mem::size_of::<CuFileStatus>(), 8);
        assert_eq!(std::mem::size_of::<CuFileDescr>(), 24);
        assert_eq!(std::mem::offset_of!(CuFileDescr, handle), 8);
        assert_eq!(std::mem::offset_of!(CuFileDescr, fs_ops), 16);
        assert_eq!(std::mem::size_of::<ExternalMemoryHandleDesc>(), 104);
        assert_eq!(std::mem::offset_of!(ExternalMemoryHandleDesc, handle), 8);
        assert_eq!(std::mem::offset_of!(ExternalMemoryHandleDesc, size), 24);
        assert_eq!(std::mem::offset_of!(ExternalMemoryHandleDesc, flags), 32);
        assert_eq!(std::mem::size_of::<ExternalMemoryBufferDesc>(), 88);
        assert_eq!(std::mem::offset_of!(ExternalMemoryBufferDesc, flags), 16);
    }

    #[test]
    fn a_missing_library_names_every_candidate() {
        let paths = vec![
            PathBuf::from("/nonexistent/libcufile.so.0"),
            PathBuf::from("/etc/hostname"),
        ];
        match open_first("libcufile.so.0", paths) {
            Err(LoadError::NotFound { library, tried }) => {
                assert_eq!(library, "libcufile.so.0");
                assert_eq!(tried.len(), 2);
                assert!(tried[0].starts_with("/nonexistent/libcufile.so.0: "));
                assert!(tried[1].starts_with("/etc/hostname: "));
            }
            other => panic!("{:?}", other.map(|(_, p)| p)),
        }
    }

    #[test]
    fn override_variable_comes_first() {
        let c = candidates(
            "PATH_THAT_IS_NOT_SET_FOR_DS",
            &["a.so", "b.so"],
            &[PathBuf::from("/x")],
        );
        let c: Vec<_> = c.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(c, ["a.so", "b.so", "/x/a.so", "/x/b.so"]);
        // A folder in the variable is searched for each name.
        let dir = std::env::temp_dir();
        let c = candidates_with(Some(dir.clone().into_os_string()), &["a.so"], &[]);
        assert_eq!(c[0], dir.join("a.so"));
        let c = candidates_with(Some("/opt/lib/custom.so".into()), &["a.so"], &[]);
        assert_eq!(c[0], PathBuf::from("/opt/lib/custom.so"));
    }
}
