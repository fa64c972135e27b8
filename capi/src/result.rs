//! Result codes of the C ABI and the error type every export reports through.
//!
//! `ds_result` is an `int32_t`; every code below is stable: a code is never
//! renumbered or reused, new codes are only appended. `DS_OK` is 0, failures
//! are positive. Each code has a fixed text ([`ds_result_text`]); the detailed
//! message of the last failure on a thread (with file, offset, errno, ...)
//! comes from `ds_last_error_message` (see `ffi.rs`).
//!
//! This module also maps the runtime's errors (`EnqueueError`,
//! `RequestErrorKind`, `WaitError`, `BuildError`, decoder and encoder errors)
//! onto codes, keeping their full text as the message.

// `#[no_mangle]` (the export below) counts as unsafe code.
#![allow(unsafe_code)]

use ds_os_linux::{BuildError, EnqueueError, RequestError, RequestErrorKind, WaitError};
use std::ffi::{c_char, CStr};
use std::fmt;

/// A result code: `DS_OK` (0) or one of the `DS_ERR_*` codes (positive).
pub type ds_result = i32;

/// Success.
pub const DS_OK: ds_result = 0;
/// A required pointer argument was NULL.
pub const DS_ERR_NULL_ARGUMENT: ds_result = 1;
/// An argument has a value outside its documented range (unknown enum
/// value or flag, capacity out of range, index past the end, bad UTF-8).
pub const DS_ERR_INVALID_ARGUMENT: ds_result = 2;
/// The handle is not a live handle of the expected type (NULL handles give
/// `DS_ERR_NULL_ARGUMENT`; a released, never issued or wrong-typed handle
/// gives this code, which is how a double free is reported).
pub const DS_ERR_BAD_HANDLE: ds_result = 3;
/// `struct_size` of an argument struct is smaller than the first published
/// layout of that struct.
pub const DS_ERR_STRUCT_SIZE: ds_result = 4;
/// Every slot of the queue is taken (requests and ordering commands share
/// them): submit, collect kept completions, or use `ds_queue_enqueue_wait`.
pub const DS_ERR_QUEUE_FULL: ds_result = 5;
/// The request description is invalid: zero size, destination too small,
/// uncompressed size that differs from the source size of an uncompressed
/// request, offset overflow, impossible source/destination combination, name
/// over 64 bytes.
pub const DS_ERR_INVALID_REQUEST: ds_result = 6;
/// No executor of the queue serves the destination (a GPU-buffer request on
/// a queue without a Vulkan backend).
pub const DS_ERR_NO_EXECUTOR: ds_result = 7;
/// The file was closed with `ds_file_close` (at enqueue, or before the
/// request ran).
pub const DS_ERR_FILE_CLOSED: ds_result = 8;
/// A GDeflate request larger than the queue's staging buffer.
pub const DS_ERR_TOO_LARGE: ds_result = 9;
/// The queue is shutting down.
pub const DS_ERR_SHUT_DOWN: ds_result = 10;
/// The timeout passed first.
pub const DS_ERR_TIMEOUT: ds_result = 11;
/// The request id is unknown, already collected, or the request does not
/// keep its completion.
pub const DS_ERR_UNKNOWN_REQUEST: ds_result = 12;
/// A blocking call (wait, release of a queue) was made inside a callback.
pub const DS_ERR_IN_CALLBACK: ds_result = 13;
/// An OS call failed (the errno is the `os_error`).
pub const DS_ERR_IO: ds_result = 14;
/// The requested range passes the end of the file.
pub const DS_ERR_END_OF_FILE: ds_result = 15;
/// The file descriptor is not usable (EBADF: closed, invalid, or opened
/// without the access the operation needs).
pub const DS_ERR_BAD_FD: ds_result = 16;
/// The GDeflate stream is corrupt.
pub const DS_ERR_CORRUPT: ds_result = 17;
/// The GDeflate stream decompresses to another size than the request's
/// uncompressed size.
pub const DS_ERR_SIZE_MISMATCH: ds_result = 18;
/// An executor dropped a request without a result (it panicked).
pub const DS_ERR_EXECUTOR_LOST: ds_result = 19;
/// The executor cannot perform this request.
pub const DS_ERR_UNSUPPORTED: ds_result = 20;
/// A device API (Vulkan, CUDA, cuFile) failed.
pub const DS_ERR_DEVICE: ds_result = 21;
/// The facility is not available on this machine (no Vulkan loader or
/// device, no CUDA driver).
pub const DS_ERR_UNAVAILABLE: ds_result = 22;
/// A caller-provided output buffer is too small.
pub const DS_ERR_BUFFER_TOO_SMALL: ds_result = 23;
/// The request was cancelled (a completion's result, never a call's).
pub const DS_ERR_CANCELLED: ds_result = 24;
/// The GPU-buffer destination is not usable by the executor.
pub const DS_ERR_BAD_GPU_BUFFER: ds_result = 25;
/// The library caught a panic (an internal bug); the call had no effect
/// beyond what the message says.
pub const DS_ERR_PANIC: ds_result = 26;
/// A file could not be found.
pub const DS_ERR_NOT_FOUND: ds_result = 27;
/// Permission denied by the OS.
pub const DS_ERR_PERMISSION: ds_result = 28;

/// Largest code in use (for tables in C code).
pub const DS_RESULT_MAX: ds_result = 28;

/// The fixed text of each code, indexed by code.
const TEXTS: [&CStr; DS_RESULT_MAX as usize + 1] = [
    c"ok",
    c"a required pointer argument was NULL",
    c"invalid argument",
    c"not a live handle of this type (released, never issued, or wrong type)",
    c"struct_size is smaller than the struct's first published layout",
    c"the queue is full",
    c"invalid request",
    c"no executor of this queue serves the destination",
    c"the file was closed",
    c"the request is larger than the staging buffer",
    c"the queue is shutting down",
    c"timed out",
    c"unknown request id",
    c"not allowed inside a callback",
    c"I/O error",
    c"the range passes the end of the file",
    c"bad file descriptor",
    c"corrupt GDeflate stream",
    c"the stream's uncompressed size differs from the request's",
    c"the executor lost the request",
    c"not supported by the executor",
    c"device error",
    c"not available on this machine",
    c"the output buffer is too small",
    c"cancelled",
    c"the GPU buffer is not usable",
    c"internal error (panic caught)",
    c"not found",
    c"permission denied",
];

/// Text for codes outside the table.
const UNKNOWN: &CStr = c"unknown result code";

/// The fixed text of a result code.
pub(crate) fn text(code: ds_result) -> &'static CStr {
    usize::try_from(code)
        .ok()
        .and_then(|i| TEXTS.get(i))
        .copied()
        .unwrap_or(UNKNOWN)
}

/// Returns the fixed, static, NUL-terminated English text of a result code
/// (never NULL; "unknown result code" for codes this library does not know).
/// Thread-safe; the string is never freed.
#[no_mangle]
pub extern "C" fn ds_result_text(result: ds_result) -> *const c_char {
    crate::ffi::guard_value("ds_result_text", UNKNOWN.as_ptr(), || {
        Ok(text(result).as_ptr())
    })
}

/// A failure inside an export: its code, the errno behind it (0 if none) and
/// the detailed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Error {
    pub(crate) code: ds_result,
    pub(crate) os_error: i32,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(code: ds_result, message: impl Into<String>) -> Self {
        Error {
            code,
            os_error: 0,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Self {
        Error::new(DS_ERR_NULL_ARGUMENT, format!("{what} is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(DS_ERR_INVALID_ARGUMENT, message)
    }

    pub(crate) fn with_os(mut self, errno: i32) -> Self {
        self.os_error = errno;
        self
    }

    /// An OS error from `std::io`, classified.
    pub(crate) fn io(context: &str, e: &std::io::Error) -> Self {
        let errno = e.raw_os_error().unwrap_or(0);
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => DS_ERR_NOT_FOUND,
            std::io::ErrorKind::PermissionDenied => DS_ERR_PERMISSION,
            _ if errno == rustix::io::Errno::BADF.raw_os_error() => DS_ERR_BAD_FD,
            _ => DS_ERR_IO,
        };
        Error::new(code, format!("{context}: {e}")).with_os(errno)
    }

    /// The code and errno of a request failure.
    pub(crate) fn of_kind(kind: &RequestErrorKind) -> (ds_result, i32) {
        match kind {
            RequestErrorKind::Io { errno, .. } => (DS_ERR_IO, *errno),
            RequestErrorKind::EndOfFile { .. } => (DS_ERR_END_OF_FILE, 0),
            RequestErrorKind::ShortWrite { .. } => (DS_ERR_IO, 0),
            RequestErrorKind::BadHandle { errno, .. } => (DS_ERR_BAD_FD, *errno),
            RequestErrorKind::FileClosed => (DS_ERR_FILE_CLOSED, 0),
            RequestErrorKind::Corrupt { .. } => (DS_ERR_CORRUPT, 0),
            RequestErrorKind::SizeMismatch { .. } => (DS_ERR_SIZE_MISMATCH, 0),
            RequestErrorKind::ExecutorLost { .. } => (DS_ERR_EXECUTOR_LOST, 0),
            RequestErrorKind::Device { .. } => (DS_ERR_DEVICE, 0),
            RequestErrorKind::BadGpuBuffer { .. } => (DS_ERR_BAD_GPU_BUFFER, 0),
            RequestErrorKind::Unsupported { .. } => (DS_ERR_UNSUPPORTED, 0),
        }
    }

    /// A request that ran and failed.
    pub(crate) fn request(e: &RequestError) -> Self {
        let (code, errno) = Error::of_kind(&e.kind);
        Error::new(code, e.to_string()).with_os(errno)
    }

    /// A request refused at enqueue.
    pub(crate) fn enqueue(e: &EnqueueError) -> Self {
        let code = match e {
            EnqueueError::QueueFull { .. } => DS_ERR_QUEUE_FULL,
            EnqueueError::Invalid(ds_core::DescError::NullAddress) => DS_ERR_NULL_ARGUMENT,
            EnqueueError::Invalid(_) | EnqueueError::MissingDestination => DS_ERR_INVALID_REQUEST,
            EnqueueError::NoExecutor { .. } => DS_ERR_NO_EXECUTOR,
            EnqueueError::FileClosed { .. } => DS_ERR_FILE_CLOSED,
            EnqueueError::TooLarge { .. } => DS_ERR_TOO_LARGE,
            EnqueueError::StatusIndex { .. } => DS_ERR_INVALID_ARGUMENT,
            EnqueueError::ShutDown => DS_ERR_SHUT_DOWN,
            EnqueueError::Timeout => DS_ERR_TIMEOUT,
        };
        Error::new(code, e.to_string())
    }

    pub(crate) fn wait(e: &WaitError) -> Self {
        let code = match e {
            WaitError::Unknown(_) => DS_ERR_UNKNOWN_REQUEST,
            WaitError::Timeout => DS_ERR_TIMEOUT,
            WaitError::InCallback => DS_ERR_IN_CALLBACK,
        };
        Error::new(code, e.to_string())
    }

    pub(crate) fn build(e: &BuildError) -> Self {
        match e {
            BuildError::Capacity { .. } => Error::invalid(e.to_string()),
            BuildError::DuplicateExecutor { .. } => Error::new(DS_ERR_UNSUPPORTED, e.to_string()),
            BuildError::Start { error, .. } => {
                Error::new(DS_ERR_IO, e.to_string()).with_os(error.raw_os_error().unwrap_or(0))
            }
        }
    }

    pub(crate) fn decode(e: &ds_gdeflate::DecodeError) -> Self {
        match e {
            ds_gdeflate::DecodeError::DestinationTooSmall { .. } => {
                Error::new(DS_ERR_BUFFER_TOO_SMALL, e.to_string())
            }
            ds_gdeflate::DecodeError::TileTooLarge { .. } => Error::invalid(e.to_string()),
            _ => Error::new(DS_ERR_CORRUPT, e.to_string()),
        }
    }

    pub(crate) fn encode(e: &ds_gdeflate::encode::EncodeError) -> Self {
        use ds_gdeflate::encode::EncodeError as E;
        match e {
            E::OutputTooSmall { .. } => Error::new(DS_ERR_BUFFER_TOO_SMALL, e.to_string()),
            E::BadLevel { .. }
            | E::InputTooLarge { .. }
            | E::TileTooLarge { .. }
            | E::PayloadCount { .. } => Error::invalid(e.to_string()),
            E::OffsetOverflow { .. } => Error::new(DS_ERR_TOO_LARGE, e.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_text() {
        let mut seen = std::collections::HashSet::new();
        for code in 0..=DS_RESULT_MAX {
            let t = text(code);
            assert!(!t.to_bytes().is_empty());
            assert!(seen.insert(t), "text of {code} repeated");
        }
        assert_eq!(text(-1), UNKNOWN);
        assert_eq!(text(DS_RESULT_MAX + 1), UNKNOWN);
    }

    #[test]
    fn request_kinds_map_to_codes_and_errnos() {
        let (c, e) = Error::of_kind(&RequestErrorKind::BadHandle {
            call: "pread",
            errno: 9,
        });
        assert_eq!((c, e), (DS_ERR_BAD_FD, 9));
        let (c, _) = Error::of_kind(&RequestErrorKind::Corrupt {
            message: "x".into(),
        });
        assert_eq!(c, DS_ERR_CORRUPT);
    }
}
