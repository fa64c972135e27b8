//! Staging slots of the GPU executor: the reusable memory one batch of requests goes through.
//!
//! A slot is a staging buffer of `staging_size` bytes (32 MiB by default, as DirectStorage) of the
//! route's kind, plus what a batch needs around it: a device-local scratch copy of the compressed
//! bytes when the staging memory is not device-local (the decoder then reads VRAM, not PCIe), a
//! host-visible tile-descriptor table, a host-readable per-tile status table, and the decode
//! descriptor sets made for the destination buffers it has served. Slots are made once, when the
//! executor is built, and cycle between the submit thread (reads + recording), the GPU, and the
//! completion thread, which puts them back on the free list: nothing is allocated per request.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use ash::vk;

use crate::context::VulkanContext;
use crate::decode::{DecodeBindings, DecodeSet, ShaderDecoder};
use crate::error::GpuError;
use crate::executor::registry::BufferEntry;
use crate::executor::Route;
use crate::memory::{BufferRange, GpuBuffer, ImportedHostBuffer, MemoryKind};

/// Bytes per tile descriptor and status slot.
pub(crate) const SLOT_BYTES: u64 = 16;

/// Page-aligned host memory of our own, imported into Vulkan on the host-import route.
pub(crate) struct HostAlloc {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: plain heap memory owned by this value; access is coordinated by the slot's owner.
unsafe impl Send for HostAlloc {}

impl HostAlloc {
    fn new(len: usize, align: usize) -> Result<HostAlloc, GpuError> {
        let layout = Layout::from_size_align(len, align).map_err(|e| GpuError::Range {
            what: format!("host staging of {len} bytes aligned to {align}: {e}"),
        })?;
        debug_assert!(len > 0);
        // SAFETY: non-zero size (callers pass the staging size, never 0).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(p).ok_or(GpuError::Range {
            what: format!("out of host memory for {len} bytes of staging"),
        })?;
        Ok(HostAlloc { ptr, layout })
    }
}

impl Drop for HostAlloc {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// The staging memory of a slot.
pub(crate) enum StageMem {
    /// A mapped Vulkan buffer: host-visible system memory (staging route) or host-visible
    /// device-local memory (upload-heap route).
    Buffer(GpuBuffer),
    /// Our own host memory imported with `VK_EXT_external_memory_host`. Field order: the import
    /// is destroyed before the memory is freed.
    Imported {
        buffer: ImportedHostBuffer,
        memory: HostAlloc,
    },
    /// Exportable device-local memory imported into CUDA and registered with cuFile (GPUDirect
    /// Storage route).
    Gds(GdsStage),
}

/// Staging memory of the GPUDirect Storage route. Drop order: the cuFile registration, then the
/// CUDA mapping and import, then the Vulkan buffer and memory.
pub(crate) struct GdsStage {
    cuda: ds_os_linux::cufile::ExternalBuffer,
    cufile: Arc<ds_os_linux::cufile::CuFile>,
    buffer: GpuBuffer,
}

impl Drop for GdsStage {
    fn drop(&mut self) {
        if let Err(e) = self.cufile.deregister_buffer(self.cuda.ptr()) {
            log::warn!("GPU executor: {e}");
        }
    }
}

impl StageMem {
    /// Host address of the staging bytes (None for device memory filled by cuFile).
    pub(crate) fn host_ptr(&self) -> Option<*mut u8> {
        match self {
            StageMem::Buffer(b) => b.mapped_ptr(),
            StageMem::Imported { memory, .. } => Some(memory.ptr.as_ptr()),
            StageMem::Gds(_) => None,
        }
    }

    /// The Vulkan buffer over the staging bytes.
    pub(crate) fn handle(&self) -> vk::Buffer {
        match self {
            StageMem::Buffer(b) | StageMem::Gds(GdsStage { buffer: b, .. }) => b.handle(),
            StageMem::Imported { buffer, .. } => buffer.handle(),
        }
    }

    /// The staging bytes as a buffer range of `size` bytes.
    pub(crate) fn range(&self, size: u64) -> BufferRange {
        match self {
            StageMem::Buffer(b) | StageMem::Gds(GdsStage { buffer: b, .. }) => {
                BufferRange { size, ..b.range() }
            }
            StageMem::Imported { buffer, .. } => BufferRange {
                size,
                ..buffer.range()
            },
        }
    }

    /// Whether the GPU reads the staging bytes from its own memory.
    pub(crate) fn device_local(&self) -> bool {
        match self {
            StageMem::Buffer(b) => b.is_device_local(),
            StageMem::Imported { .. } => false,
            StageMem::Gds(_) => true,
        }
    }

    /// Makes host writes to `offset..offset+len` visible to the device.
    pub(crate) fn flush(&self, offset: u64, len: u64) -> Result<(), GpuError> {
        match self {
            StageMem::Buffer(b) => b.flush(offset, len),
            // Imported host allocations are host-coherent; cuFile writes device memory.
            StageMem::Imported { .. } | StageMem::Gds(_) => Ok(()),
        }
    }

    /// CUDA device address of the staging bytes (GPUDirect Storage route).
    pub(crate) fn cuda(&self) -> Option<(u64, &Arc<ds_os_linux::cufile::CuFile>)> {
        match self {
            StageMem::Gds(g) => Some((g.cuda.ptr(), &g.cufile)),
            _ => None,
        }
    }
}

/// Cached decode descriptor set: the destination entry it binds (kept alive with the set).
type SetCache = HashMap<(u64, u64), (Arc<BufferEntry>, DecodeSet)>;

/// One slot.
pub(crate) struct Slot {
    pub(crate) index: usize,
    pub(crate) size: u64,
    pub(crate) stage: StageMem,
    pub(crate) scratch: Option<GpuBuffer>,
    pub(crate) tiles: GpuBuffer,
    pub(crate) status: GpuBuffer,
    pub(crate) max_tiles: u32,
    sets: SetCache,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("index", &self.index)
            .field("size", &self.size)
            .field("scratch", &self.scratch.is_some())
            .field("max_tiles", &self.max_tiles)
            .finish()
    }
}

/// Tile descriptors a slot can hold: enough for its bytes at a 4:1 ratio, and never fewer than
/// 2048 (128 MiB of output).
pub(crate) fn tiles_for(size: u64) -> u32 {
    u32::try_from((size / 16384).max(2048)).unwrap_or(u32::MAX / 2)
}

/// What a slot's staging memory is made of.
pub(crate) enum StageKind {
    Route(Route),
    Gds(
        Arc<ds_os_linux::cufile::Cuda>,
        Arc<ds_os_linux::cufile::CuFile>,
    ),
}

impl Slot {
    pub(crate) fn new(
        ctx: &Arc<VulkanContext>,
        index: usize,
        size: u64,
        kind: &StageKind,
    ) -> Result<Slot, GpuError> {
        let stage = match kind {
            StageKind::Route(Route::Staging) => {
                StageMem::Buffer(GpuBuffer::new(ctx, size, MemoryKind::Upload)?)
            }
            StageKind::Route(Route::UploadHeap) => {
                let b = GpuBuffer::new(ctx, size, MemoryKind::UploadDeviceLocal)?;
                if !b.is_device_local() {
                    return Err(GpuError::Missing(
                        "host-visible device-local memory (resizable BAR) for the upload heap"
                            .into(),
                    ));
                }
                StageMem::Buffer(b)
            }
            StageKind::Route(Route::HostImport) => {
                let align = ctx
                    .caps()
                    .host_import_alignment
                    .ok_or_else(|| GpuError::Missing("VK_EXT_external_memory_host".into()))?
                    .max(4096);
                let len = size.div_ceil(align) * align;
                let memory = HostAlloc::new(len as usize, align as usize)?;
                // SAFETY: `memory` is our own allocation, aligned as the device requires, freed
                // only after the import (field order of StageMem::Imported); the executor
                // accesses it from the host only while no GPU work uses the slot.
                let buffer =
                    unsafe { ImportedHostBuffer::import(ctx, memory.ptr.as_ptr(), len as usize) }?;
                StageMem::Imported { buffer, memory }
            }
            StageKind::Route(Route::Gds) => {
                return Err(GpuError::Missing(
                    "CUDA and cuFile for the GDS route".into(),
                ))
            }
            StageKind::Gds(cuda, cufile) => {
                let buffer = GpuBuffer::new_exportable(ctx, size)?;
                let fd = buffer.export_fd()?;
                let ext = cuda
                    .import_memory_fd(fd, buffer.allocation_size(), true)
                    .map_err(|e| {
                        GpuError::Missing(format!("CUDA import of staging memory: {e}"))
                    })?;
                cufile
                    .register_buffer(ext.ptr(), size)
                    .map_err(|e| GpuError::Missing(format!("cuFileBufRegister: {e}")))?;
                StageMem::Gds(GdsStage {
                    cuda: ext,
                    cufile: cufile.clone(),
                    buffer,
                })
            }
        };
        let scratch = if stage.device_local() {
            None
        } else {
            Some(GpuBuffer::new(ctx, size, MemoryKind::DeviceLocal)?)
        };
        let max_tiles = tiles_for(size);
        let table = u64::from(max_tiles) * SLOT_BYTES;
        Ok(Slot {
            index,
            size,
            stage,
            scratch,
            tiles: GpuBuffer::new(ctx, table, MemoryKind::Upload)?,
            status: GpuBuffer::new(ctx, table, MemoryKind::Readback)?,
            max_tiles,
            sets: HashMap::new(),
        })
    }

    /// Where the decoder reads compressed bytes: the scratch copy, or the staging memory itself
    /// when it is device-local.
    pub(crate) fn decode_src(&self) -> BufferRange {
        match &self.scratch {
            Some(s) => s.range(),
            None => self.stage.range(self.size),
        }
    }

    /// The decode descriptor set binding this slot's source, tiles and status with `dst` from
    /// `base`, two windows long at most (an output starts in the first), created on first use
    /// and then cached. Sets of unregistered
    /// buffers are dropped first: the slot is not in flight while it is being recorded, so no
    /// GPU work uses them.
    pub(crate) fn decode_set(
        &mut self,
        shader: &ShaderDecoder,
        dst: &Arc<BufferEntry>,
        base: u64,
        window: u64,
    ) -> Result<&DecodeSet, GpuError> {
        self.sets.retain(|_, (e, _)| !e.is_retired());
        let key = (dst.handle(), base);
        if !self.sets.contains_key(&key) {
            let size = (dst.size - base).min(2 * window);
            let set = shader.bind(&DecodeBindings {
                src: self.decode_src(),
                dst: BufferRange {
                    buffer: dst.buffer,
                    offset: base,
                    size,
                    address: 0,
                },
                tiles: self.tiles.range(),
                status: self.status.range(),
            })?;
            self.sets.insert(key, (dst.clone(), set));
        }
        Ok(&self.sets[&key].1)
    }

    /// Drops every cached set (executor shutdown, after the device is idle).
    pub(crate) fn clear_sets(&mut self) {
        self.sets.clear();
    }
}

/// The free slots; the submit thread takes one per batch, the completion thread gives it back.
#[derive(Debug, Default)]
pub(crate) struct SlotPool {
    free: Mutex<Vec<Slot>>,
    returned: Condvar,
}

impl SlotPool {
    pub(crate) fn new(slots: Vec<Slot>) -> SlotPool {
        SlotPool {
            free: Mutex::new(slots),
            returned: Condvar::new(),
        }
    }

    /// Takes a free slot, waiting for one.
    pub(crate) fn take(&self) -> Slot {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(s) = free.pop() {
                return s;
            }
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Gives a slot back.
    pub(crate) fn put(&self, slot: Slot) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(slot);
        self.returned.notify_one();
    }

    /// Takes every slot (shutdown: all must be back).
    pub(crate) fn drain(&self) -> Vec<Slot> {
        std::mem::take(&mut *self.free.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
