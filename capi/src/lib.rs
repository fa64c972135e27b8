//! `ds-capi`: the C ABI of ds-runtime, built as `libds_runtime.a` (what
//! Wine's unix-side `dstorage.so` links) and `libds_runtime.so`, declared by
//! the generated header `include/ds_runtime.h` (cbindgen; `tests/header.rs`
//! checks the committed copy is current).
//!
//! Shape (rustls-ffi style; the rules are written in the header and in
//! `docs/abi.md`): opaque handles with create/release pairs, checked on
//! every call (`handle.rs`); every export returns a stable `ds_result`
//! code, writes out-parameters only on success, and runs its body inside a
//! panic guard (`ffi.rs`), so no panic unwinds into C; the detailed message
//! of the last failure is kept per thread; structs that may grow start with
//! `struct_size`.
//!
//! Modules: `result` (codes), `ffi` (guard, last error, pointer checks),
//! `handle` (handle registries), `backend` (CPU and io_uring backends),
//! `vulkan` (Vulkan backend, GPU-buffer executor, GPU decode), `cufile`
//! (GPUDirect Storage backend), `queue`
//! (queues, cancellation, ordering commands, info, stats), `request`
//! (requests, completions, callbacks), `file`, `order` (status arrays,
//! fences), `codec` (GDeflate of buffers), `logging` (the log hook).

#![allow(non_camel_case_types)]

pub mod backend;
pub mod codec;
pub mod cufile;
pub mod ffi;
pub mod file;
pub mod handle;
pub mod logging;
pub mod order;
pub mod queue;
pub mod request;
pub mod result;
pub mod vulkan;

#[allow(unsafe_code)]
mod version {
    //! Library and ABI versions.

    use std::ffi::{c_char, CStr};

    /// Major ABI version: bumped only when an existing function, struct
    /// field or constant changes meaning (also the soname's number).
    pub const DS_ABI_VERSION_MAJOR: u32 = 0;
    /// Minor ABI version: bumped when functions, constants or struct tail
    /// fields are added.
    pub const DS_ABI_VERSION_MINOR: u32 = 1;

    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the package version has no NUL"),
        };

    /// The library's version, e.g. "0.1.0" (static, never NULL).
    #[no_mangle]
    pub extern "C" fn ds_version() -> *const c_char {
        crate::ffi::guard_value("ds_version", VERSION.as_ptr(), || Ok(VERSION.as_ptr()))
    }

    /// The ABI version of the library as `(major << 16) | minor`; a program
    /// built against header major M runs with a library of major M and a
    /// minor at least the header's.
    #[no_mangle]
    pub extern "C" fn ds_abi_version() -> u32 {
        crate::ffi::guard_value("ds_abi_version", 0, || {
            Ok((DS_ABI_VERSION_MAJOR << 16) | DS_ABI_VERSION_MINOR)
        })
    }
}

pub use version::{ds_abi_version, ds_version, DS_ABI_VERSION_MAJOR, DS_ABI_VERSION_MINOR};
