//! The GPU-buffer registry: how a request names its destination.
//!
//! `ds-core` describes a GPU destination as an opaque `u64` handle + offset + size. For the Vulkan
//! executor that handle **is the raw `VkBuffer` value** (`buffer.as_raw()`), registered here
//! first with its size (and, when known, its device address and host mapping). Registering makes
//! the executor check every request's range before any I/O (`BadGpuBuffer` otherwise) and lets
//! it pick the fastest route for the buffer (a mapped, device-local destination can be read into
//! directly). Buffers of this crate ([`crate::GpuBuffer`]) are registered with
//! [`BufferRegistry::register`], which keeps them alive while registered; buffers of an embedder
//! (adopted devices, the C ABI) with the unsafe [`BufferRegistry::register_raw`].
//!
//! Requests hold an `Arc` of their entry until they end, so unregistering a buffer while requests
//! into it run is safe for the executor: they finish into the buffer they were given.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ash::vk;
use ash::vk::Handle;

use crate::error::GpuError;
use crate::memory::GpuBuffer;

/// One registered buffer.
#[derive(Debug)]
pub struct BufferEntry {
    /// The Vulkan buffer.
    pub buffer: vk::Buffer,
    /// Its size in bytes.
    pub size: u64,
    /// Device address of byte 0 (0 = none: the buffer lacks `SHADER_DEVICE_ADDRESS` usage; the
    /// driver decompression path is then not used for it).
    pub address: u64,
    /// Host mapping of a host-visible, device-local buffer (resizable BAR / upload heap), for
    /// direct reads; `None` otherwise.
    mapped: Option<Mapping>,
    /// Keeps a buffer of this crate alive while registered and while requests use it.
    owner: Option<Arc<GpuBuffer>>,
    /// Set when the buffer is unregistered (cached descriptor sets for it are then dropped).
    retired: AtomicBool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Mapping {
    pub(crate) ptr: *mut u8,
    pub(crate) coherent: bool,
}

// SAFETY: the mapping pointer is only written by the executor inside a request's write bracket
// (the registration contract gives the executor those bytes for the request's life); the rest are
// handles and atomics.
unsafe impl Send for BufferEntry {}
// SAFETY: as for Send.
unsafe impl Sync for BufferEntry {}

impl BufferEntry {
    /// The handle requests use (`VkBuffer` as `u64`).
    pub fn handle(&self) -> u64 {
        self.buffer.as_raw()
    }

    pub(crate) fn mapping(&self) -> Option<Mapping> {
        self.mapped
    }

    pub(crate) fn owner(&self) -> Option<&Arc<GpuBuffer>> {
        self.owner.as_ref()
    }

    pub(crate) fn is_retired(&self) -> bool {
        // Acquire: pairs with the Release store in `unregister`.
        self.retired.load(Ordering::Acquire)
    }
}

/// Registered destination buffers, shared by the executor and its user (clone freely).
#[derive(Clone, Debug, Default)]
pub struct BufferRegistry {
    inner: Arc<Mutex<HashMap<u64, Arc<BufferEntry>>>>,
}

impl BufferRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&self, entry: BufferEntry) -> Result<u64, GpuError> {
        let handle = entry.handle();
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(&handle) {
            return Err(GpuError::Range {
                what: format!("GPU buffer {handle:#x} is already registered"),
            });
        }
        map.insert(handle, Arc::new(entry));
        Ok(handle)
    }

    /// Registers a buffer of this crate; returns the handle to put in requests
    /// (`Request::into_gpu_buffer(handle, offset, size)`). The registry keeps the buffer alive
    /// until it is unregistered and every request into it ended. A host-visible device-local
    /// buffer (`MemoryKind::UploadDeviceLocal` on a device with resizable BAR) is remembered as
    /// mapped, so the upload-heap route can read uncompressed data straight into it.
    pub fn register(&self, buffer: &Arc<GpuBuffer>) -> Result<u64, GpuError> {
        let mapped = if buffer.is_device_local() {
            buffer.mapped_ptr().map(|ptr| Mapping {
                ptr,
                coherent: buffer.is_coherent(),
            })
        } else {
            None
        };
        self.insert(BufferEntry {
            buffer: buffer.handle(),
            size: buffer.size(),
            address: buffer.device_address(),
            mapped,
            owner: Some(buffer.clone()),
            retired: AtomicBool::new(false),
        })
    }

    /// Registers a buffer made elsewhere (an embedder's device adopted with
    /// [`crate::VulkanContext::adopt`]); `address` is its device address or 0.
    ///
    /// # Safety
    /// `buffer` must be a buffer of the executor's device, of at least `size` bytes, created
    /// with `TRANSFER_DST` and `STORAGE_BUFFER` usage (and `SHADER_DEVICE_ADDRESS` when
    /// `address` is not 0), bound to memory, and stay so until it is unregistered and every
    /// request into it ended. While a request writes a range of it, nothing else may access that
    /// range (the caller synchronizes with the request's completion).
    pub unsafe fn register_raw(
        &self,
        buffer: vk::Buffer,
        size: u64,
        address: u64,
    ) -> Result<u64, GpuError> {
        if buffer == vk::Buffer::null() || size == 0 {
            return Err(GpuError::Range {
                what: format!("raw GPU buffer {:#x} of {size} bytes", buffer.as_raw()),
            });
        }
        self.insert(BufferEntry {
            buffer,
            size,
            address,
            mapped: None,
            owner: None,
            retired: AtomicBool::new(false),
        })
    }

    /// Removes a registration; false for an unknown handle. Requests already running finish
    /// into the buffer; new ones fail with `BadGpuBuffer`.
    pub fn unregister(&self, handle: u64) -> bool {
        let removed = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&handle);
        match removed {
            Some(e) => {
                // Release: a thread that sees the flag sees the removal before it.
                e.retired.store(true, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// The entry of `handle`.
    pub fn get(&self, handle: u64) -> Option<Arc<BufferEntry>> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&handle)
            .cloned()
    }

    /// Number of registered buffers.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
