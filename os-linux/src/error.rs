//! Errors of the queue runtime, each with the context needed to act on it:
//! which request (id and name), which file (fd and path), offset, size, the
//! OS errno or the decoder's message.

use crate::file::FileRef;
use ds_core::{DescError, FailCode, FailKind, Name, RequestId};
use std::fmt;

/// Which file a request touched, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLabel {
    /// The descriptor number.
    pub fd: i32,
    /// The path it was opened from, when known.
    pub path: Option<std::path::PathBuf>,
}

impl FileLabel {
    pub(crate) fn of(file: &FileRef) -> Self {
        FileLabel {
            fd: file.raw_fd(),
            path: file.path().map(ToOwned::to_owned),
        }
    }
}

impl fmt::Display for FileLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{} (fd {})", p.display(), self.fd),
            None => write!(f, "fd {}", self.fd),
        }
    }
}

/// What went wrong while executing a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestErrorKind {
    /// An OS call failed.
    Io {
        /// The call ("pread", "pwrite", ...).
        call: &'static str,
        /// The errno.
        errno: i32,
    },
    /// The file ended before the requested range did.
    EndOfFile {
        /// Bytes that were available from the offset.
        available: u64,
        /// The file's length, when it could be read.
        file_len: Option<u64>,
    },
    /// `pwrite` accepted no bytes.
    ShortWrite {
        /// Bytes written before it stopped.
        written: u64,
    },
    /// The descriptor is not usable for this operation (EBADF: closed,
    /// invalid, or opened without read/write access).
    BadHandle {
        /// The call that reported it.
        call: &'static str,
        /// The errno.
        errno: i32,
    },
    /// The file was closed with [`FileRef::close`] before the request ran.
    FileClosed,
    /// The GDeflate decoder rejected the stream.
    Corrupt {
        /// The decoder's message.
        message: String,
    },
    /// The stream's header announces another uncompressed size.
    SizeMismatch {
        /// Size from the stream header.
        stream: u64,
        /// Size the request declared.
        declared: u64,
    },
    /// The executor dropped the request without reporting a result.
    ExecutorLost {
        /// The executor's name.
        executor: &'static str,
    },
    /// A device API (cuFile, the CUDA driver) failed; `name` is the API's
    /// own name for the code (`CU_FILE_...`, `CUDA_ERROR_...`).
    Device {
        /// The call ("cuFileRead", ...).
        call: &'static str,
        /// The error's name.
        name: &'static str,
        /// Its numeric code.
        code: i32,
    },
    /// The GPU-buffer destination is not one the executor knows, or the
    /// range passes its end.
    BadGpuBuffer {
        /// The buffer handle given at enqueue.
        buffer: u64,
        /// Bytes registered for it (`None`: unknown handle).
        registered: Option<u64>,
    },
    /// The executor cannot perform this request.
    Unsupported {
        /// The executor's name.
        executor: &'static str,
        /// What it cannot do.
        what: &'static str,
    },
}

impl RequestErrorKind {
    /// The compact code stored in the request's state word.
    pub fn code(&self) -> FailCode {
        let errno16 = |e: i32| u16::try_from(e).unwrap_or(u16::MAX);
        match self {
            RequestErrorKind::Io { errno, .. } => {
                FailCode::with_detail(FailKind::Io, errno16(*errno))
            }
            RequestErrorKind::EndOfFile { .. } => FailCode::new(FailKind::EndOfFile),
            RequestErrorKind::ShortWrite { .. } => FailCode::new(FailKind::Io),
            RequestErrorKind::BadHandle { errno, .. } => {
                FailCode::with_detail(FailKind::BadHandle, errno16(*errno))
            }
            RequestErrorKind::FileClosed => FailCode::new(FailKind::BadHandle),
            RequestErrorKind::Corrupt { .. } => FailCode::new(FailKind::Corrupt),
            RequestErrorKind::SizeMismatch { .. } => FailCode::new(FailKind::SizeMismatch),
            RequestErrorKind::ExecutorLost { .. } => FailCode::new(FailKind::ExecutorLost),
            RequestErrorKind::Device { code, .. } => {
                FailCode::with_detail(FailKind::Io, errno16(*code))
            }
            RequestErrorKind::BadGpuBuffer { .. } => FailCode::new(FailKind::BadHandle),
            RequestErrorKind::Unsupported { .. } => FailCode::new(FailKind::Unsupported),
        }
    }
}

impl fmt::Display for RequestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestErrorKind::Io { call, errno } => {
                write!(
                    f,
                    "{call} failed: {}",
                    std::io::Error::from_raw_os_error(*errno)
                )
            }
            RequestErrorKind::EndOfFile {
                available,
                file_len,
            } => {
                write!(
                    f,
                    "range passes the end of the file: only {available} bytes there"
                )?;
                if let Some(len) = file_len {
                    write!(f, " (file is {len} bytes)")?;
                }
                Ok(())
            }
            RequestErrorKind::ShortWrite { written } => {
                write!(f, "pwrite stopped accepting bytes after {written}")
            }
            RequestErrorKind::BadHandle { call, errno } => write!(
                f,
                "{call}: file descriptor not usable: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            RequestErrorKind::FileClosed => f.write_str("the file was closed"),
            RequestErrorKind::Corrupt { message } => {
                write!(f, "corrupt GDeflate stream: {message}")
            }
            RequestErrorKind::SizeMismatch { stream, declared } => write!(
                f,
                "GDeflate stream decompresses to {stream} bytes but the request declares {declared}"
            ),
            RequestErrorKind::ExecutorLost { executor } => {
                write!(
                    f,
                    "executor {executor} dropped the request without a result"
                )
            }
            RequestErrorKind::Device { call, name, code } => {
                write!(f, "{call} failed: {name} ({code})")
            }
            RequestErrorKind::BadGpuBuffer { buffer, registered } => match registered {
                Some(len) => write!(
                    f,
                    "the range passes the end of GPU buffer {buffer:#x} ({len} bytes registered)"
                ),
                None => write!(
                    f,
                    "GPU buffer {buffer:#x} is not registered with the executor"
                ),
            },
            RequestErrorKind::Unsupported { executor, what } => {
                write!(f, "executor {executor} cannot {what}")
            }
        }
    }
}

/// A failed request, with its context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// The request.
    pub id: RequestId,
    /// Its name (may be empty).
    pub name: Name,
    /// The file it read or wrote, if any.
    pub file: Option<FileLabel>,
    /// File offset of the request.
    pub offset: u64,
    /// Source size of the request.
    pub size: u64,
    /// What went wrong.
    pub kind: RequestErrorKind,
}

impl RequestError {
    /// The compact code (also in the request's state word).
    pub fn code(&self) -> FailCode {
        self.kind.code()
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if !self.name.is_empty() {
            write!(f, " '{}'", self.name)?;
        }
        if let Some(file) = &self.file {
            write!(f, " on {file}")?;
        }
        write!(
            f,
            " (offset {}, size {}): {}",
            self.offset, self.size, self.kind
        )
    }
}

impl std::error::Error for RequestError {}

/// Why a request was not accepted. The request itself comes back in
/// [`Rejected`], so nothing (buffer, callback) is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnqueueError {
    /// Every slot is in use (DirectStorage capacity). Submit, collect
    /// completions, or use `enqueue_blocking`.
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The description is invalid.
    Invalid(DescError),
    /// No destination was given.
    MissingDestination,
    /// No executor on this queue serves the destination kind (for GPU
    /// buffers: "no GPU backend on this queue").
    NoExecutor {
        /// The destination kind.
        destination: &'static str,
    },
    /// The file was closed with [`FileRef::close`].
    FileClosed {
        /// The file.
        file: FileLabel,
    },
    /// A GDeflate request larger than the queue's staging buffer.
    TooLarge {
        /// The larger of compressed and uncompressed size.
        size: u64,
        /// The staging buffer size.
        limit: u64,
    },
    /// A status-array index out of range.
    StatusIndex {
        /// The index given.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// The queue is shutting down.
    ShutDown,
    /// `enqueue_blocking` gave up.
    Timeout,
}

impl fmt::Display for EnqueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnqueueError::QueueFull { capacity } => {
                write!(f, "queue full: all {capacity} slots are in use")
            }
            EnqueueError::Invalid(e) => write!(f, "invalid request: {e}"),
            EnqueueError::MissingDestination => f.write_str("request has no destination"),
            EnqueueError::NoExecutor { destination } if *destination == "GPU buffer" => {
                f.write_str("no GPU backend on this queue: cannot execute a GPU-buffer destination")
            }
            EnqueueError::NoExecutor { destination } => {
                write!(
                    f,
                    "no executor on this queue serves {destination} destinations"
                )
            }
            EnqueueError::FileClosed { file } => write!(f, "file {file} was closed"),
            EnqueueError::TooLarge { size, limit } => write!(
                f,
                "GDeflate request of {size} bytes exceeds the staging buffer of {limit} bytes"
            ),
            EnqueueError::StatusIndex { index, len } => {
                write!(
                    f,
                    "status index {index} is outside the array of {len} entries"
                )
            }
            EnqueueError::ShutDown => f.write_str("queue is shut down"),
            EnqueueError::Timeout => f.write_str("timed out waiting for a free slot"),
        }
    }
}

impl std::error::Error for EnqueueError {}

/// A rejected request: the reason and the request, handed back intact.
pub struct Rejected {
    /// Why.
    pub error: EnqueueError,
    /// The request (destination buffer and callback included).
    pub request: Box<crate::request::Request>,
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .field("request", &self.request)
            .finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.request.name_str();
        if name.is_empty() {
            write!(f, "request rejected: {}", self.error)
        } else {
            write!(f, "request '{name}' rejected: {}", self.error)
        }
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Why a wait returned without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The id is unknown, was already collected, or its request does not
    /// keep a completion (it has a callback or is detached).
    Unknown(RequestId),
    /// The timeout passed first.
    Timeout,
    /// Waiting from inside a completion callback could deadlock the worker
    /// that runs it, so it is refused.
    InCallback,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Unknown(id) => write!(
                f,
                "{id} is unknown, already collected, or does not keep its completion"
            ),
            WaitError::Timeout => f.write_str("timed out"),
            WaitError::InCallback => {
                f.write_str("cannot wait inside a completion callback (it would block a worker)")
            }
        }
    }
}

impl std::error::Error for WaitError {}

/// Why a queue could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// Capacity outside DirectStorage's 128..=8192.
    Capacity {
        /// The value asked for.
        requested: usize,
    },
    /// Two executors claim the same destination kind.
    DuplicateExecutor {
        /// Destination kind.
        destination: &'static str,
    },
    /// An executor failed to start.
    Start {
        /// The executor.
        executor: &'static str,
        /// The OS error.
        error: std::io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Capacity { requested } => write!(
                f,
                "queue capacity {requested} is outside {}..={}",
                crate::queue::MIN_CAPACITY,
                crate::queue::MAX_CAPACITY
            ),
            BuildError::DuplicateExecutor { destination } => {
                write!(f, "two executors serve {destination} destinations")
            }
            BuildError::Start { executor, error } => {
                write!(f, "executor {executor} failed to start: {error}")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Start { error, .. } => Some(error),
            _ => None,
        }
    }
}
