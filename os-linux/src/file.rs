//! Files that requests read from or write to: an owned descriptor shared by
//! reference count, so a request keeps its file open until it ends, plus a
//! "closed" mark that models DirectStorage's `IDStorageFile::Close` (new
//! requests are refused, requests not yet run fail cleanly, the descriptor
//! itself closes when the last request holding it finishes).

use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// A shared handle to an open file.
#[derive(Clone)]
pub struct FileRef(Arc<FileInner>);

struct FileInner {
    fd: OwnedFd,
    path: Option<PathBuf>,
    closed: AtomicBool,
}

impl std::fmt::Debug for FileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRef")
            .field("fd", &self.raw_fd())
            .field("path", &self.0.path)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl FileRef {
    /// Opens `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let f = std::fs::File::open(path)?;
        Ok(Self::with_path(f.into(), path))
    }

    /// Opens (creating if needed) `path` for reading and writing.
    pub fn create(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Self::with_path(f.into(), path))
    }

    /// Wraps an owned descriptor; `path` is only used in messages.
    pub fn from_fd(fd: OwnedFd, path: Option<&Path>) -> Self {
        FileRef(Arc::new(FileInner {
            fd,
            path: path.map(ToOwned::to_owned),
            closed: AtomicBool::new(false),
        }))
    }

    fn with_path(fd: OwnedFd, path: &Path) -> Self {
        Self::from_fd(fd, Some(path))
    }

    /// The descriptor number (for messages and the C ABI).
    pub fn raw_fd(&self) -> RawFd {
        self.0.fd.as_raw_fd()
    }

    /// The path given at open, if any.
    pub fn path(&self) -> Option<&Path> {
        self.0.path.as_deref()
    }

    /// Marks the file closed: enqueueing new requests on it fails with
    /// `FileClosed`, and requests that have not started I/O yet fail with
    /// `FileClosed`. The descriptor is closed when the last handle drops.
    pub fn close(&self) {
        // Release: pairs with the Acquire in `is_closed`.
        self.0.closed.store(true, Ordering::Release);
    }

    /// True after [`FileRef::close`].
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// Number of handles (the caller's and those held by live requests).
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// A handle that does not keep the file open, for per-file caches of
    /// drivers (registered-file slots, O_DIRECT descriptors).
    pub fn downgrade(&self) -> WeakFile {
        WeakFile(Arc::downgrade(&self.0))
    }

    /// A number that identifies this file (all clones share it) while it or
    /// a [`WeakFile`] of it exists.
    pub fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

/// A weak [`FileRef`]: says whether the file is still held by anyone and
/// keeps its [`FileRef::identity`] from being reused meanwhile.
#[derive(Clone)]
pub struct WeakFile(Weak<FileInner>);

impl std::fmt::Debug for WeakFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakFile")
            .field("identity", &self.identity())
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl WeakFile {
    /// True while some [`FileRef`] of the file exists.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }

    /// The file's [`FileRef::identity`].
    pub fn identity(&self) -> usize {
        Weak::as_ptr(&self.0) as usize
    }
}

impl AsFd for FileRef {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.fd.as_fd()
    }
}
