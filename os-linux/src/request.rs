//! The safe request builder and the completion record.
//!
//! Memory safety of destinations: a safe request owns its destination
//! (`Vec<u8>` moved in with [`Request::into_buffer`]) and hands it back in
//! its [`Completion`], so the caller cannot free or touch it while the
//! request writes it. Memory sources are `Arc<[u8]>` (shared, read-only).
//! The `unsafe` variants ([`Request::into_raw`], [`Request::read_raw_memory`],
//! [`Request::write_raw`]) take raw pointers for the C ABI, with the contract
//! written on each.

#![allow(unsafe_code)]

use crate::error::{EnqueueError, RequestError};
use crate::file::FileRef;
use crate::mem::{RawConst, RawMut};
use ds_core::{
    Compression, DescError, Destination, Name, Operation, Priority, RequestDesc, RequestId, Source,
    Status,
};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Where a request's bytes come from (owned side).
pub(crate) enum SrcStore {
    File {
        file: FileRef,
        offset: u64,
        size: u64,
    },
    Shared(Arc<[u8]>),
    Raw(RawConst),
}

/// Where they go (owned side).
pub(crate) enum DstStore {
    Unset,
    Owned(Vec<u8>),
    Raw(RawMut),
    Gpu { buffer: u64, offset: u64, size: u64 },
    File { file: FileRef, offset: u64 },
}

/// How the final status is reported.
pub(crate) enum Notify {
    /// Kept in the slot until `wait` / `take` collects it.
    Collect,
    /// Passed to the callback (never for cancelled requests).
    Callback(Box<dyn FnOnce(Completion) + Send + 'static>),
    /// Not kept: observed through status entries, fences, stats.
    Detached,
}

/// A request to enqueue. Build it with a constructor and the chained
/// setters; [`crate::Queue::enqueue`] checks it.
pub struct Request {
    pub(crate) op: Operation,
    pub(crate) src: SrcStore,
    pub(crate) dst: DstStore,
    pub(crate) compression: Compression,
    pub(crate) uncompressed: Option<u64>,
    pub(crate) tag: u64,
    pub(crate) priority: Priority,
    pub(crate) name: Result<Name, DescError>,
    pub(crate) notify: Notify,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = match &self.src {
            SrcStore::File { file, offset, size } => {
                format!("file fd {} offset {offset} size {size}", file.raw_fd())
            }
            SrcStore::Shared(b) => format!("memory ({} bytes)", b.len()),
            SrcStore::Raw(r) => format!("raw memory ({} bytes)", r.len()),
        };
        let dst = match &self.dst {
            DstStore::Unset => "unset".to_owned(),
            DstStore::Owned(v) => format!("buffer ({} bytes)", v.len()),
            DstStore::Raw(r) => format!("raw memory ({} bytes)", r.len()),
            DstStore::Gpu {
                buffer,
                offset,
                size,
            } => format!("GPU buffer {buffer:#x} offset {offset} size {size}"),
            DstStore::File { file, offset } => {
                format!("file fd {} offset {offset}", file.raw_fd())
            }
        };
        f.debug_struct("Request")
            .field("operation", &self.op)
            .field("source", &src)
            .field("destination", &dst)
            .field("compression", &self.compression)
            .field("tag", &self.tag)
            .field("priority", &self.priority)
            .field("name", &self.name)
            .finish()
    }
}

impl Request {
    fn new(op: Operation, src: SrcStore, dst: DstStore) -> Self {
        Request {
            op,
            src,
            dst,
            compression: Compression::None,
            uncompressed: None,
            tag: 0,
            priority: Priority::Normal,
            name: Ok(Name::empty()),
            notify: Notify::Collect,
        }
    }

    /// Reads `size` bytes of `file` at `offset` (the compressed size for
    /// GDeflate). Give a destination next.
    pub fn read(file: &FileRef, offset: u64, size: u64) -> Self {
        Self::new(
            Operation::Read,
            SrcStore::File {
                file: file.clone(),
                offset,
                size,
            },
            DstStore::Unset,
        )
    }

    /// Reads from memory (memory-to-memory copy or GDeflate decode).
    pub fn read_memory(source: Arc<[u8]>) -> Self {
        Self::new(Operation::Read, SrcStore::Shared(source), DstStore::Unset)
    }

    /// Reads from caller memory given by pointer.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes and the bytes must not
    /// change until the request reaches a terminal state (or a strong cancel
    /// of it returned true). A null `ptr` is rejected at enqueue.
    pub unsafe fn read_raw_memory(ptr: *const u8, len: usize) -> Self {
        // SAFETY: the caller's contract is the one `RawConst::new` requires.
        match unsafe { RawConst::new(ptr, len) } {
            Some(raw) => Self::new(Operation::Read, SrcStore::Raw(raw), DstStore::Unset),
            None => Self::invalid_source(),
        }
    }

    /// Writes `data` to `file` at `offset`.
    pub fn write(file: &FileRef, offset: u64, data: Arc<[u8]>) -> Self {
        Self::new(
            Operation::Write,
            SrcStore::Shared(data),
            DstStore::File {
                file: file.clone(),
                offset,
            },
        )
    }

    /// Writes caller memory given by pointer to `file` at `offset`.
    ///
    /// # Safety
    /// As [`Request::read_raw_memory`].
    pub unsafe fn write_raw(file: &FileRef, offset: u64, ptr: *const u8, len: usize) -> Self {
        // SAFETY: the caller's contract is the one `RawConst::new` requires.
        let src = match unsafe { RawConst::new(ptr, len) } {
            Some(raw) => SrcStore::Raw(raw),
            None => return Self::invalid_source(),
        };
        Self::new(
            Operation::Write,
            src,
            DstStore::File {
                file: file.clone(),
                offset,
            },
        )
    }

    /// A request that fails validation with `NullAddress`.
    fn invalid_source() -> Self {
        let mut r = Self::new(
            Operation::Read,
            SrcStore::Shared(Arc::from(&[][..])),
            DstStore::Unset,
        );
        r.name = Err(DescError::NullAddress);
        r
    }

    /// The destination is `buffer` (all of its `len()` bytes are available;
    /// the request writes its uncompressed size from the start). The buffer
    /// comes back in the [`Completion`], whatever the outcome.
    pub fn into_buffer(mut self, buffer: Vec<u8>) -> Self {
        self.dst = DstStore::Owned(buffer);
        self
    }

    /// The destination is caller memory given by pointer.
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `len` bytes, and nothing else may
    /// read or write those bytes, until the request reaches a terminal state
    /// or a strong cancel of it (`cancel_request`, `cancel_by_tag`,
    /// `cancel_all`) returned true. A weak cancel does not end this duty.
    pub unsafe fn into_raw(mut self, ptr: *mut u8, len: usize) -> Self {
        // SAFETY: the caller's contract is the one `RawMut::new` requires.
        match unsafe { RawMut::new(ptr, len) } {
            Some(raw) => self.dst = DstStore::Raw(raw),
            None => self.name = Err(DescError::NullAddress),
        }
        self
    }

    /// The destination is `size` bytes at `offset` of a GPU buffer known to
    /// the queue's GPU executor by the opaque handle `buffer`.
    pub fn into_gpu_buffer(mut self, buffer: u64, offset: u64, size: u64) -> Self {
        self.dst = DstStore::Gpu {
            buffer,
            offset,
            size,
        };
        self
    }

    /// The source is a GDeflate stream that decompresses to
    /// `uncompressed_size` bytes.
    pub fn gdeflate(mut self, uncompressed_size: u64) -> Self {
        self.compression = Compression::GDeflate;
        self.uncompressed = Some(uncompressed_size);
        self
    }

    /// Cancellation tag (for `cancel_by_tag(mask, value)`).
    pub fn tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }

    /// Priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Name for logs and errors (at most 64 bytes; longer is an enqueue
    /// error).
    pub fn name(mut self, name: &str) -> Self {
        if self.name.is_ok() {
            self.name = Name::new(name);
        }
        self
    }

    /// Runs `callback` with the final completion (on a worker thread or the
    /// thread that finishes the request). Never run for a cancelled request,
    /// nor after a weak cancel (`try_cancel`) returned true.
    pub fn on_complete(mut self, callback: impl FnOnce(Completion) + Send + 'static) -> Self {
        self.notify = Notify::Callback(Box::new(callback));
        self
    }

    /// Keep no completion: the slot is freed as soon as the request ends.
    /// Its outcome is seen through status entries, fences, the error record
    /// and stats. An owned destination buffer is dropped.
    pub fn detached(mut self) -> Self {
        self.notify = Notify::Detached;
        self
    }

    /// The name given (empty if none or invalid).
    pub fn name_str(&self) -> &str {
        self.name.as_ref().map_or("", Name::as_str)
    }

    /// The plain description of this request, checked.
    pub(crate) fn describe(&self) -> Result<RequestDesc, EnqueueError> {
        let name = self.name.clone().map_err(EnqueueError::Invalid)?;
        let source = match &self.src {
            SrcStore::File { file, offset, size } => Source::File {
                handle: file.raw_fd() as u64,
                offset: *offset,
                size: *size,
            },
            SrcStore::Shared(b) => Source::Memory {
                // An empty Arc has a dangling, non-null address; its zero
                // length is rejected by validation.
                addr: b.as_ptr() as usize,
                len: b.len() as u64,
            },
            SrcStore::Raw(r) => Source::Memory {
                addr: r.addr(),
                len: r.len() as u64,
            },
        };
        let destination = match &self.dst {
            DstStore::Unset => return Err(EnqueueError::MissingDestination),
            DstStore::Owned(v) => Destination::HostMemory {
                // A zero-length Vec has a dangling non-null pointer; the
                // zero length is rejected by validation.
                addr: v.as_ptr() as usize,
                len: v.len() as u64,
            },
            DstStore::Raw(r) => Destination::HostMemory {
                addr: r.addr(),
                len: r.len() as u64,
            },
            DstStore::Gpu {
                buffer,
                offset,
                size,
            } => Destination::GpuBuffer {
                buffer: *buffer,
                offset: *offset,
                size: *size,
            },
            DstStore::File { file, offset } => Destination::File {
                handle: file.raw_fd() as u64,
                offset: *offset,
            },
        };
        let desc = RequestDesc {
            operation: self.op,
            source,
            destination,
            compression: self.compression,
            uncompressed_size: self.uncompressed.unwrap_or_else(|| source.size()),
            cancellation_tag: self.tag,
            priority: self.priority,
            name,
        };
        desc.validate().map_err(EnqueueError::Invalid)?;
        Ok(desc)
    }

    /// The file this request touches, if any.
    pub(crate) fn file(&self) -> Option<&FileRef> {
        match (&self.src, &self.dst) {
            (SrcStore::File { file, .. }, _) | (_, DstStore::File { file, .. }) => Some(file),
            _ => None,
        }
    }
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; `bytes` landed in the destination.
    Complete {
        /// Bytes written to the destination.
        bytes: u64,
    },
    /// Failed, with context.
    Failed(RequestError),
    /// Cancelled (not a failure).
    Cancelled,
}

/// The final report of a request.
pub struct Completion {
    /// The request.
    pub id: RequestId,
    /// Its name.
    pub name: Name,
    /// Its cancellation tag.
    pub tag: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The owned destination buffer, handed back (None for raw, GPU and
    /// file destinations).
    pub buffer: Option<Vec<u8>>,
    /// Time from enqueue to the end.
    pub latency: Duration,
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("tag", &self.tag)
            .field("outcome", &self.outcome)
            .field("buffer_len", &self.buffer.as_ref().map(Vec::len))
            .field("latency", &self.latency)
            .finish()
    }
}

impl Completion {
    /// The core status (Complete, Failed(code) or Cancelled).
    pub fn status(&self) -> Status {
        match &self.outcome {
            Outcome::Complete { .. } => Status::Complete,
            Outcome::Failed(e) => Status::Failed(e.code()),
            Outcome::Cancelled => Status::Cancelled,
        }
    }

    /// The bytes delivered, or the error / cancellation.
    pub fn result(&self) -> Result<u64, &Outcome> {
        match self.outcome {
            Outcome::Complete { bytes } => Ok(bytes),
            ref other => Err(other),
        }
    }
}

/// Everything the queue keeps for a live request.
pub(crate) struct Payload {
    pub(crate) desc: RequestDesc,
    pub(crate) src: SrcStore,
    pub(crate) dst: DstStore,
    pub(crate) notify: Notify,
    pub(crate) enqueued_at: std::time::Instant,
    pub(crate) seq: u64,
    pub(crate) epoch: u64,
}

impl Payload {
    /// The owned destination buffer, if any, to hand back.
    pub(crate) fn take_buffer(&mut self) -> Option<Vec<u8>> {
        match std::mem::replace(&mut self.dst, DstStore::Unset) {
            DstStore::Owned(v) => Some(v),
            other => {
                self.dst = other;
                None
            }
        }
    }
}
