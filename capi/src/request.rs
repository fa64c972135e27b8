//! `ds_request` (what to read or write, from where, to where), its
//! translation into a runtime [`Request`], the `ds_completion` record, the
//! `ds_error_info` failure record, and the trampolines that run C callbacks.
//!
//! Memory named by raw pointers in a request (source, destination) must stay
//! valid until the request reaches a terminal state or a strong cancel of it
//! returned true (the runtime's raw-pointer contract, docs/design.md §7).
//!
//! Callbacks: a request's completion callback runs at most once, never for a
//! cancelled request nor after a weak cancel returned true. Its user data is
//! the caller's; if the request was accepted and the callback will not run,
//! `release_user_data` (when given) is called instead, exactly once, when the
//! library lets go of it. A request refused at enqueue calls neither.

#![allow(unsafe_code)]

use crate::ffi::{c_str, fill_chars, CallbackScope, Versioned};
use crate::file::{ds_file, FILES};
use crate::result::{ds_result, Error, DS_ERR_CANCELLED, DS_ERR_NULL_ARGUMENT, DS_OK};
use ds_core::Priority;
use ds_os_linux::{Completion, Outcome, Request, RequestError};
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `ds_request.operation`: read from a file or memory into a destination.
pub const DS_OP_READ: u32 = 0;
/// `ds_request.operation`: write memory to a file.
pub const DS_OP_WRITE: u32 = 1;

/// `ds_request.source_type`: `file` at `file_offset` (DirectStorage FILE).
pub const DS_SOURCE_FILE: u32 = 0;
/// `ds_request.source_type`: `source` in memory (DirectStorage MEMORY).
pub const DS_SOURCE_MEMORY: u32 = 1;

/// `ds_request.destination_type`: `destination` in host memory
/// (DirectStorage MEMORY).
pub const DS_DEST_MEMORY: u32 = 0;
/// `ds_request.destination_type`: `gpu_buffer` (a `VkBuffer` of the queue's
/// Vulkan device) at `gpu_offset` (DirectStorage BUFFER).
pub const DS_DEST_GPU_BUFFER: u32 = 1;
/// `ds_request.destination_type`: `file` at `file_offset` (writes).
pub const DS_DEST_FILE: u32 = 2;

/// `ds_request.compression`: none (`uncompressed_size` 0 or `source_size`).
pub const DS_COMPRESSION_NONE: u32 = 0;
/// `ds_request.compression`: the source is a GDeflate stream that
/// decompresses to `uncompressed_size` bytes.
pub const DS_COMPRESSION_GDEFLATE: u32 = 1;

/// `ds_request.flags`: keep the completion for `ds_queue_wait` (the request
/// holds its queue slot until collected). Not with a callback.
pub const DS_REQUEST_KEEP_COMPLETION: u32 = 1;
/// `ds_request.flags`: use `priority` instead of the queue's priority.
pub const DS_REQUEST_USE_PRIORITY: u32 = 2;

const REQUEST_FLAGS: u32 = DS_REQUEST_KEEP_COMPLETION | DS_REQUEST_USE_PRIORITY;

/// Priorities (DirectStorage's numbers).
pub const DS_PRIORITY_LOW: i32 = -1;
/// Normal priority (the default).
pub const DS_PRIORITY_NORMAL: i32 = 0;
/// High priority.
pub const DS_PRIORITY_HIGH: i32 = 1;
/// Realtime priority.
pub const DS_PRIORITY_REALTIME: i32 = 2;

/// Longest request name in bytes (longer names are refused).
pub const DS_MAX_NAME_LEN: u32 = 64;
/// Bytes of the name fields of output structs (name + NUL).
pub const DS_NAME_CAPACITY: usize = 65;
/// Bytes of the path field of `ds_error_info` (cut to fit, NUL-terminated).
pub const DS_PATH_CAPACITY: usize = 4096;
/// Bytes of the message field of `ds_error_info`.
pub const DS_MESSAGE_CAPACITY: usize = 1024;

/// The final report of a request, passed to completion callbacks and
/// returned by `ds_queue_wait`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_completion {
    /// `sizeof(ds_completion)` (set by the caller for `ds_queue_wait`).
    pub struct_size: u32,
    /// `DS_OK`, `DS_ERR_CANCELLED` (kept completions only), or why the
    /// request failed (its full text is then the thread's last error
    /// message, inside the callback or after `ds_queue_wait`).
    pub result: ds_result,
    /// The errno behind `result`, 0 if none.
    pub os_error: i32,
    /// Reserved, 0.
    pub reserved: u32,
    /// The request's id.
    pub id: u64,
    /// Its cancellation tag.
    pub cancellation_tag: u64,
    /// Bytes written to the destination (0 unless `result` is `DS_OK`).
    pub bytes: u64,
    /// Nanoseconds from enqueue to the end.
    pub latency_ns: u64,
}

// SAFETY: repr(C), starts with the u32 size, integers only.
unsafe impl Versioned for ds_completion {
    const V1_SIZE: usize = std::mem::size_of::<ds_completion>();
    const NAME: &'static str = "ds_completion";
}

/// Completion callback: `completion` is valid during the call only.
pub type ds_completion_fn =
    Option<unsafe extern "C" fn(completion: *const ds_completion, user_data: *mut c_void)>;
/// Called once with user data the library will no longer use.
pub type ds_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;
/// A callback with only user data (ordering markers).
pub type ds_notify_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;
/// Failure hook: `error` is valid during the call only.
pub type ds_failure_fn =
    Option<unsafe extern "C" fn(error: *const ds_error_info, user_data: *mut c_void)>;

/// One request. Zero-initialise it, set `struct_size = sizeof(ds_request)`
/// and the fields the request needs. The library copies what it needs
/// during `ds_queue_enqueue`; the struct itself may be reused at once (the
/// memory it points to may not, see the ABI rules).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ds_request {
    /// `sizeof(ds_request)`.
    pub struct_size: u32,
    /// `DS_OP_READ` or `DS_OP_WRITE`.
    pub operation: u32,
    /// `DS_SOURCE_FILE` or `DS_SOURCE_MEMORY` (writes: memory).
    pub source_type: u32,
    /// `DS_DEST_MEMORY`, `DS_DEST_GPU_BUFFER` or (writes) `DS_DEST_FILE`.
    pub destination_type: u32,
    /// `DS_COMPRESSION_NONE` or `DS_COMPRESSION_GDEFLATE`.
    pub compression: u32,
    /// `DS_REQUEST_*` flags.
    pub flags: u32,
    /// `DS_PRIORITY_*`, used with `DS_REQUEST_USE_PRIORITY`.
    pub priority: i32,
    /// Reserved, 0.
    pub reserved: u32,
    /// The file read (file sources) or written (file destinations).
    pub file: *mut ds_file,
    /// Offset in `file`.
    pub file_offset: u64,
    /// Memory source (and the data of a write).
    pub source: *const c_void,
    /// Bytes read from the file or memory (the compressed size for
    /// GDeflate).
    pub source_size: u64,
    /// Memory destination: valid for `destination_size` bytes until the
    /// request ends.
    pub destination: *mut c_void,
    /// Bytes available at `destination`, or the size of the GPU range.
    pub destination_size: u64,
    /// `VkBuffer` handle (as a 64-bit value) of a GPU destination.
    pub gpu_buffer: u64,
    /// Offset in `gpu_buffer`.
    pub gpu_offset: u64,
    /// Bytes the request produces (GDeflate: required; none: 0 or
    /// `source_size`).
    pub uncompressed_size: u64,
    /// Tag for `ds_queue_cancel_by_tag` (`tag & mask == value`).
    pub cancellation_tag: u64,
    /// NULL or a NUL-terminated UTF-8 name of at most 64 bytes (copied).
    pub name: *const c_char,
    /// NULL (detached, or kept with `DS_REQUEST_KEEP_COMPLETION`, or the
    /// queue's `on_complete`) or the completion callback.
    pub callback: ds_completion_fn,
    /// Passed to `callback` / `release_user_data`.
    pub user_data: *mut c_void,
    /// NULL, or called with `user_data` when an accepted request will not
    /// run its callback (cancelled, weak-cancelled, queue released). Only
    /// with a callback.
    pub release_user_data: ds_release_fn,
}

// SAFETY: repr(C), starts with the u32 size, integers, raw pointers and
// optional function pointers only.
unsafe impl Versioned for ds_request {
    const V1_SIZE: usize = std::mem::size_of::<ds_request>();
    const NAME: &'static str = "ds_request";
}

/// The details of a failure (error records, status entries, failure hook).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ds_error_info {
    /// `sizeof(ds_error_info)`.
    pub struct_size: u32,
    /// Why it failed (`DS_ERR_*`).
    pub result: ds_result,
    /// The errno behind it, 0 if none.
    pub os_error: i32,
    /// The file's descriptor, -1 if the request had no file.
    pub fd: i32,
    /// The failed request.
    pub request_id: u64,
    /// Its file offset.
    pub offset: u64,
    /// Its source size.
    pub size: u64,
    /// Its name (may be empty).
    pub name: [c_char; DS_NAME_CAPACITY],
    /// Its file's path when known (may be empty; cut to fit).
    pub path: [c_char; DS_PATH_CAPACITY],
    /// The full English description (cut to fit).
    pub message: [c_char; DS_MESSAGE_CAPACITY],
}

impl std::fmt::Debug for ds_error_info {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ds_error_info")
            .field("result", &self.result)
            .field("os_error", &self.os_error)
            .field("request_id", &self.request_id)
            .finish()
    }
}

// SAFETY: repr(C), starts with the u32 size, integers and char arrays only.
unsafe impl Versioned for ds_error_info {
    const V1_SIZE: usize = std::mem::size_of::<ds_error_info>();
    const NAME: &'static str = "ds_error_info";
}

impl ds_error_info {
    /// An all-zero record (no failure).
    pub(crate) fn empty() -> Self {
        // SAFETY: `Versioned` promises the all-zero bytes are valid.
        unsafe { std::mem::zeroed() }
    }

    pub(crate) fn of(e: &RequestError) -> Self {
        let mut info = Self::empty();
        let err = Error::request(e);
        info.struct_size = std::mem::size_of::<Self>() as u32;
        info.result = err.code;
        info.os_error = err.os_error;
        info.fd = e.file.as_ref().map_or(-1, |f| f.fd);
        info.request_id = e.id.to_raw();
        info.offset = e.offset;
        info.size = e.size;
        fill_chars(&mut info.name, e.name.as_str());
        if let Some(p) = e.file.as_ref().and_then(|f| f.path.as_ref()) {
            fill_chars(&mut info.path, &p.to_string_lossy());
        }
        fill_chars(&mut info.message, &err.message);
        info
    }
}

/// The C view of a completion, and the failure to report as last error.
pub(crate) fn completion(c: &Completion) -> (ds_completion, Option<Error>) {
    let (result, os_error, bytes, err) = match &c.outcome {
        Outcome::Complete { bytes } => (DS_OK, 0, *bytes, None),
        Outcome::Cancelled => (
            DS_ERR_CANCELLED,
            0,
            0,
            Some(Error::new(
                DS_ERR_CANCELLED,
                format!("{} was cancelled", c.id),
            )),
        ),
        Outcome::Failed(e) => {
            let err = Error::request(e);
            (err.code, err.os_error, 0, Some(err))
        }
    };
    (
        ds_completion {
            struct_size: std::mem::size_of::<ds_completion>() as u32,
            result,
            os_error,
            reserved: 0,
            id: c.id.to_raw(),
            cancellation_tag: c.tag,
            bytes,
            latency_ns: u64::try_from(c.latency.as_nanos()).unwrap_or(u64::MAX),
        },
        err,
    )
}

/// Runs a C completion callback for `c`, with the failure as the thread's
/// last error and the thread marked as inside a callback.
fn call_completion(
    f: unsafe extern "C" fn(*const ds_completion, *mut c_void),
    user: *mut c_void,
    c: &Completion,
) {
    let (cc, err) = completion(c);
    if let Some(e) = &err {
        crate::ffi::set_last_error(e);
    }
    let _scope = CallbackScope::enter();
    // SAFETY: the caller registered `f` for exactly this use; `cc` lives
    // across the call.
    unsafe { f(&cc, user) };
}

/// A request's C callback with its user data. Runs the callback at most
/// once; if dropped unused after the request was accepted, hands the user
/// data to `release`.
struct RequestCallback {
    f: unsafe extern "C" fn(*const ds_completion, *mut c_void),
    user: *mut c_void,
    release: ds_release_fn,
    /// Set when enqueue refused the request: the caller keeps the user data.
    refused: Option<Arc<AtomicBool>>,
    used: bool,
}

// SAFETY: ABI rule (docs/abi.md): callbacks and user data handed to the
// library may be used from any thread.
unsafe impl Send for RequestCallback {}

impl RequestCallback {
    fn run(mut self, c: &Completion) {
        self.used = true;
        call_completion(self.f, self.user, c);
    }
}

impl Drop for RequestCallback {
    fn drop(&mut self) {
        // Acquire: pairs with the Release store made before the refused
        // request is dropped.
        let refused = self
            .refused
            .as_ref()
            .is_some_and(|r| r.load(Ordering::Acquire));
        if let (false, false, Some(release)) = (self.used, refused, self.release) {
            let _scope = CallbackScope::enter();
            // SAFETY: the caller registered `release` for this user data;
            // this is the one call it gets.
            unsafe { release(self.user) };
        }
    }
}

/// A queue's default completion callback (`ds_queue_config.on_complete`),
/// shared by the requests that carry none.
#[derive(Clone, Copy)]
pub(crate) struct SharedCallback {
    pub(crate) f: unsafe extern "C" fn(*const ds_completion, *mut c_void),
    pub(crate) user: *mut c_void,
}

// SAFETY: ABI rule: callbacks and user data may be used from any thread;
// the queue's user data lives until `ds_queue_release` returned.
unsafe impl Send for SharedCallback {}
// SAFETY: as Send; the callback is only called, never mutated.
unsafe impl Sync for SharedCallback {}

impl SharedCallback {
    pub(crate) fn run(&self, c: &Completion) {
        call_completion(self.f, self.user, c);
    }
}

/// Set after enqueue refused a request, so its callback's user data is not
/// released (the caller keeps it).
pub(crate) struct RefusedMark(Option<Arc<AtomicBool>>);

impl RefusedMark {
    pub(crate) fn set(&self) {
        if let Some(r) = &self.0 {
            // Release: see `RequestCallback::drop`.
            r.store(true, Ordering::Release);
        }
    }
}

/// The queue-level settings a request translation needs.
pub(crate) struct Defaults<'a> {
    pub(crate) priority: Priority,
    pub(crate) on_complete: Option<&'a SharedCallback>,
}

fn unknown(field: &str, v: u32) -> Error {
    Error::invalid(format!("unknown ds_request.{field} {v}"))
}

/// Builds the runtime request for `r`.
///
/// # Safety
/// The pointers in `r` follow the `ds_request` field contracts (the memory
/// ones for the life of the request, `name` during the call).
pub(crate) unsafe fn build(
    r: &ds_request,
    d: &Defaults<'_>,
) -> Result<(Request, RefusedMark), Error> {
    if r.flags & !REQUEST_FLAGS != 0 {
        return Err(unknown("flags", r.flags));
    }
    if r.reserved != 0 {
        return Err(Error::invalid("ds_request.reserved must be 0"));
    }
    let file = || -> Result<ds_os_linux::FileRef, Error> {
        let f = FILES.get(r.file, "ds_request.file")?;
        Ok((*f).clone())
    };
    let len = |v: u64, what: &str| crate::ffi::buffer_len(v, what);
    let null = |what: &str| Error::new(DS_ERR_NULL_ARGUMENT, format!("ds_request.{what} is NULL"));
    let req = match (r.operation, r.source_type, r.destination_type) {
        (DS_OP_READ, src, dst @ (DS_DEST_MEMORY | DS_DEST_GPU_BUFFER)) => {
            let base = match src {
                DS_SOURCE_FILE => Request::read(&file()?, r.file_offset, r.source_size),
                DS_SOURCE_MEMORY => {
                    if r.source.is_null() {
                        return Err(null("source"));
                    }
                    let n = len(r.source_size, "ds_request.source_size")?;
                    // SAFETY: non-null; the caller keeps `source_size` bytes
                    // readable and unchanged until the request ends.
                    unsafe { Request::read_raw_memory(r.source.cast(), n) }
                }
                other => return Err(unknown("source_type", other)),
            };
            if dst == DS_DEST_MEMORY {
                if r.destination.is_null() {
                    return Err(null("destination"));
                }
                let n = len(r.destination_size, "ds_request.destination_size")?;
                // SAFETY: non-null; the caller keeps `destination_size`
                // bytes writable and untouched until the request ends or a
                // strong cancel of it returned true.
                unsafe { base.into_raw(r.destination.cast(), n) }
            } else {
                base.into_gpu_buffer(r.gpu_buffer, r.gpu_offset, r.destination_size)
            }
        }
        (DS_OP_WRITE, DS_SOURCE_MEMORY, DS_DEST_FILE) => {
            if r.source.is_null() {
                return Err(null("source"));
            }
            let n = len(r.source_size, "ds_request.source_size")?;
            // SAFETY: non-null; the caller keeps the bytes readable and
            // unchanged until the request ends.
            unsafe { Request::write_raw(&file()?, r.file_offset, r.source.cast(), n) }
        }
        (op @ (DS_OP_READ | DS_OP_WRITE), src @ (DS_SOURCE_FILE | DS_SOURCE_MEMORY), dst)
            if dst <= DS_DEST_FILE =>
        {
            return Err(Error::new(
                crate::result::DS_ERR_INVALID_REQUEST,
                format!(
                    "operation {op} cannot combine source type {src} with destination type {dst}"
                ),
            ));
        }
        (op, src, dst) => {
            return Err(match op {
                DS_OP_READ | DS_OP_WRITE if src > DS_SOURCE_MEMORY => unknown("source_type", src),
                DS_OP_READ | DS_OP_WRITE => unknown("destination_type", dst),
                _ => unknown("operation", op),
            })
        }
    };
    let mut req = match r.compression {
        DS_COMPRESSION_NONE => {
            if r.uncompressed_size != 0 && r.uncompressed_size != r.source_size {
                return Err(Error::new(
                    crate::result::DS_ERR_INVALID_REQUEST,
                    format!(
                        "uncompressed request with uncompressed_size {} but source_size {}",
                        r.uncompressed_size, r.source_size
                    ),
                ));
            }
            req
        }
        DS_COMPRESSION_GDEFLATE => req.gdeflate(r.uncompressed_size),
        other => return Err(unknown("compression", other)),
    };
    let priority = if r.flags & DS_REQUEST_USE_PRIORITY != 0 {
        i8::try_from(r.priority)
            .ok()
            .and_then(Priority::from_i8)
            .ok_or_else(|| Error::invalid(format!("unknown priority {}", r.priority)))?
    } else {
        d.priority
    };
    req = req.priority(priority).tag(r.cancellation_tag);
    // SAFETY: `name` is NULL or NUL-terminated (caller).
    if let Some(name) = unsafe { c_str(r.name, "ds_request.name") }? {
        req = req.name(name);
    }
    if r.callback.is_none() && r.release_user_data.is_some() {
        return Err(Error::invalid(
            "ds_request.release_user_data is set without a callback",
        ));
    }
    let keep = r.flags & DS_REQUEST_KEEP_COMPLETION != 0;
    let mut refused = None;
    req = match (r.callback, keep, d.on_complete) {
        (Some(_), true, _) => {
            return Err(Error::invalid(
                "DS_REQUEST_KEEP_COMPLETION and a callback exclude each other",
            ))
        }
        (Some(f), false, _) => {
            let mark = r
                .release_user_data
                .map(|_| Arc::new(AtomicBool::new(false)));
            refused.clone_from(&mark);
            let cb = RequestCallback {
                f,
                user: r.user_data,
                release: r.release_user_data,
                refused: mark,
                used: false,
            };
            req.on_complete(move |c| cb.run(&c))
        }
        (None, true, _) => req,
        (None, false, Some(shared)) => {
            let shared = *shared;
            req.on_complete(move |c| shared.run(&c))
        }
        (None, false, None) => req.detached(),
    };
    Ok((req, RefusedMark(refused)))
}
