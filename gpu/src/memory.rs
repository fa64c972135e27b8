//! GPU memory: buffers with their own allocation (device-local, upload, readback), a reusable pool
//! of host-visible staging buffers, and caller memory imported with `VK_EXT_external_memory_host`.
//!
//! One allocation per buffer keeps ownership simple; the runtime creates few, large buffers
//! (staging buffers are pooled and reused, never freed per request).
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::ptr::NonNull;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use ash::vk;

use crate::context::{MemoryDecompressionExt, VulkanContext};
use crate::error::GpuError;

/// `VK_BUFFER_USAGE_2_MEMORY_DECOMPRESSION_BIT_EXT` (Vulkan registry), needed on buffers used by
/// `vkCmdDecompressMemoryEXT`; ash 0.38 predates the extension.
const USAGE2_MEMORY_DECOMPRESSION_EXT: u64 = 0x1_0000_0000;

/// Where a buffer's memory lives and how the host may touch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Device-local, not mapped.
    DeviceLocal,
    /// Host-visible and mapped, for host writes read by the GPU (prefers coherent memory).
    Upload,
    /// Host-visible and mapped, for GPU writes read by the host (prefers cached memory).
    Readback,
    /// Host-visible, device-local and mapped when the device has it (resizable BAR), else
    /// [`MemoryKind::Upload`].
    UploadDeviceLocal,
}

/// A byte range of a buffer, as bound to a shader or a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferRange {
    /// The buffer.
    pub buffer: vk::Buffer,
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
    /// Device address of the first byte, or 0 without buffer device address.
    pub address: u64,
}

/// A buffer with its own memory allocation. Frees both on drop.
pub struct GpuBuffer {
    ctx: Arc<VulkanContext>,
    buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    size: u64,
    kind: MemoryKind,
    mapped: Option<NonNull<u8>>,
    coherent: bool,
    device_local: bool,
    address: u64,
    /// Bytes of the allocation (at least `size`; what an importer of an exported fd needs).
    allocation_size: u64,
    exportable: bool,
}

// SAFETY: the mapping pointer refers to memory owned by this buffer for its whole life; host
// access through it is only via `&mut self` (writes) or `&self` reads of GPU-written data that the
// caller has synchronized with a wait; Vulkan handles may move between threads.
unsafe impl Send for GpuBuffer {}
// SAFETY: shared references only read the mapping (see Send) or read handles.
unsafe impl Sync for GpuBuffer {}

impl std::fmt::Debug for GpuBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBuffer")
            .field("size", &self.size)
            .field("kind", &self.kind)
            .field("device_local", &self.device_local)
            .finish()
    }
}

/// Picks a memory type index allowed by `bits` with all of `required`, preferring `preferred`.
pub fn find_memory_type(
    props: &vk::PhysicalDeviceMemoryProperties,
    bits: u32,
    required: vk::MemoryPropertyFlags,
    preferred: vk::MemoryPropertyFlags,
) -> Option<u32> {
    let types = &props.memory_types[..props.memory_type_count as usize];
    let fits = |i: usize, flags: vk::MemoryPropertyFlags| {
        bits & (1 << i) != 0 && types[i].property_flags.contains(flags)
    };
    (0..types.len())
        .find(|&i| fits(i, required | preferred))
        .or_else(|| (0..types.len()).find(|&i| fits(i, required)))
        .map(|i| i as u32)
}

fn usage_flags(ctx: &VulkanContext) -> vk::BufferUsageFlags {
    let mut usage = vk::BufferUsageFlags::STORAGE_BUFFER
        | vk::BufferUsageFlags::TRANSFER_SRC
        | vk::BufferUsageFlags::TRANSFER_DST;
    if ctx.caps().buffer_device_address {
        usage |= vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS;
    }
    usage
}

impl GpuBuffer {
    /// Creates a buffer of `size` bytes (storage, transfer source and destination, and device
    /// address when enabled).
    pub fn new(ctx: &Arc<VulkanContext>, size: u64, kind: MemoryKind) -> Result<Self, GpuError> {
        Self::create(ctx, size, kind, false)
    }

    /// A device-local buffer whose memory can be exported as an opaque fd
    /// (`VK_KHR_external_memory_fd`, dedicated allocation) with [`GpuBuffer::export_fd`], e.g.
    /// for CUDA to import and cuFile to read into.
    pub fn new_exportable(ctx: &Arc<VulkanContext>, size: u64) -> Result<Self, GpuError> {
        if !ctx.caps().external_memory_fd {
            return Err(GpuError::Missing("VK_KHR_external_memory_fd".into()));
        }
        Self::create(ctx, size, MemoryKind::DeviceLocal, true)
    }

    fn create(
        ctx: &Arc<VulkanContext>,
        size: u64,
        kind: MemoryKind,
        export: bool,
    ) -> Result<Self, GpuError> {
        if size == 0 {
            return Err(GpuError::Range {
                what: "buffer of 0 bytes".into(),
            });
        }
        let device = ctx.device();
        let usage = usage_flags(ctx);
        let mut usage2 = vk::BufferUsageFlags2CreateInfoKHR::default().usage(
            vk::BufferUsageFlags2KHR::from_raw(
                u64::from(usage.as_raw()) | USAGE2_MEMORY_DECOMPRESSION_EXT,
            ),
        );
        let fd_type = vk::ExternalMemoryHandleTypeFlags::OPAQUE_FD;
        let mut external = vk::ExternalMemoryBufferCreateInfo::default().handle_types(fd_type);
        let mut info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        if ctx.caps().memory_decompression == Some(MemoryDecompressionExt::Ext) {
            info = info.push_next(&mut usage2);
        }
        if export {
            info = info.push_next(&mut external);
        }
        // SAFETY: valid device; the create info is fully initialised.
        let buffer =
            unsafe { device.create_buffer(&info, None) }.map_err(GpuError::vk("vkCreateBuffer"))?;
        let mut guard = BufferGuard {
            ctx,
            buffer,
            memory: vk::DeviceMemory::null(),
        };
        // SAFETY: buffer just created from this device.
        let req = unsafe { device.get_buffer_memory_requirements(buffer) };
        let props = ctx.memory_properties();
        use vk::MemoryPropertyFlags as M;
        let choice = match kind {
            MemoryKind::DeviceLocal => {
                find_memory_type(props, req.memory_type_bits, M::DEVICE_LOCAL, M::empty())
            }
            MemoryKind::Upload => find_memory_type(
                props,
                req.memory_type_bits,
                M::HOST_VISIBLE,
                M::HOST_COHERENT,
            ),
            MemoryKind::Readback => {
                find_memory_type(props, req.memory_type_bits, M::HOST_VISIBLE, M::HOST_CACHED)
            }
            MemoryKind::UploadDeviceLocal => find_memory_type(
                props,
                req.memory_type_bits,
                M::HOST_VISIBLE | M::DEVICE_LOCAL,
                M::HOST_COHERENT,
            )
            .or_else(|| {
                find_memory_type(
                    props,
                    req.memory_type_bits,
                    M::HOST_VISIBLE,
                    M::HOST_COHERENT,
                )
            }),
        };
        let type_index = choice.ok_or(GpuError::NoMemoryType {
            what: match kind {
                MemoryKind::DeviceLocal => "a device-local buffer",
                _ => "a host-visible buffer",
            },
        })?;
        let flags = props.memory_types[type_index as usize].property_flags;
        let mut alloc_flags =
            vk::MemoryAllocateFlagsInfo::default().flags(vk::MemoryAllocateFlags::DEVICE_ADDRESS);
        let mut export_info = vk::ExportMemoryAllocateInfo::default().handle_types(fd_type);
        let mut dedicated = vk::MemoryDedicatedAllocateInfo::default().buffer(buffer);
        let mut alloc = vk::MemoryAllocateInfo::default()
            .allocation_size(req.size)
            .memory_type_index(type_index);
        if ctx.caps().buffer_device_address {
            alloc = alloc.push_next(&mut alloc_flags);
        }
        if export {
            alloc = alloc.push_next(&mut export_info).push_next(&mut dedicated);
        }
        // SAFETY: valid device, allocation info fully initialised.
        guard.memory = unsafe { device.allocate_memory(&alloc, None) }
            .map_err(GpuError::vk("vkAllocateMemory"))?;
        // SAFETY: memory was allocated for this buffer's requirements; offset 0 is aligned.
        unsafe { device.bind_buffer_memory(buffer, guard.memory, 0) }
            .map_err(GpuError::vk("vkBindBufferMemory"))?;
        let mapped = if flags.contains(M::HOST_VISIBLE) {
            // SAFETY: host-visible memory, mapped once for the buffer's life.
            let p = unsafe {
                device.map_memory(guard.memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
            }
            .map_err(GpuError::vk("vkMapMemory"))?;
            NonNull::new(p.cast::<u8>())
        } else {
            None
        };
        let address = if ctx.caps().buffer_device_address {
            // SAFETY: buffer has SHADER_DEVICE_ADDRESS usage and bound memory.
            unsafe {
                device.get_buffer_device_address(
                    &vk::BufferDeviceAddressInfo::default().buffer(buffer),
                )
            }
        } else {
            0
        };
        let memory = guard.memory;
        std::mem::forget(guard);
        Ok(GpuBuffer {
            ctx: ctx.clone(),
            buffer,
            memory,
            size,
            kind,
            mapped,
            coherent: flags.contains(M::HOST_COHERENT),
            device_local: flags.contains(M::DEVICE_LOCAL),
            address,
            allocation_size: req.size,
            exportable: export,
        })
    }

    /// Exports the buffer's memory as a new opaque fd (the buffer must come from
    /// [`GpuBuffer::new_exportable`]). The allocation is dedicated to this buffer and
    /// [`GpuBuffer::allocation_size`] bytes long; the importer must keep the buffer alive while
    /// it uses the memory.
    pub fn export_fd(&self) -> Result<std::os::fd::OwnedFd, GpuError> {
        use std::os::fd::FromRawFd;
        let Some(ext) = self.ctx.memory_fd_fn().filter(|_| self.exportable) else {
            return Err(GpuError::Missing(
                "an exportable buffer (GpuBuffer::new_exportable) and VK_KHR_external_memory_fd"
                    .into(),
            ));
        };
        let info = vk::MemoryGetFdInfoKHR::default()
            .memory(self.memory)
            .handle_type(vk::ExternalMemoryHandleTypeFlags::OPAQUE_FD);
        // SAFETY: memory of this device allocated with OPAQUE_FD export; extension enabled.
        let fd = unsafe { ext.get_memory_fd(&info) }.map_err(GpuError::vk("vkGetMemoryFdKHR"))?;
        debug_assert!(fd >= 0);
        // SAFETY: vkGetMemoryFdKHR returned a new descriptor that the caller owns.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    }

    /// A device-local buffer over memory imported from an opaque fd (one exported by
    /// [`GpuBuffer::export_fd`] of this or another device of the same driver, or by another API);
    /// `allocation_size` is the exported allocation's size. On success Vulkan owns the fd.
    pub fn import_fd(
        ctx: &Arc<VulkanContext>,
        fd: std::os::fd::OwnedFd,
        size: u64,
        allocation_size: u64,
    ) -> Result<GpuBuffer, GpuError> {
        use std::os::fd::{AsRawFd, IntoRawFd};
        if ctx.memory_fd_fn().is_none() {
            return Err(GpuError::Missing("VK_KHR_external_memory_fd".into()));
        }
        if size == 0 || size > allocation_size {
            return Err(GpuError::Range {
                what: format!("import of {size} bytes from an allocation of {allocation_size}"),
            });
        }
        let fd_type = vk::ExternalMemoryHandleTypeFlags::OPAQUE_FD;
        let device = ctx.device();
        let mut external = vk::ExternalMemoryBufferCreateInfo::default().handle_types(fd_type);
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage_flags(ctx))
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .push_next(&mut external);
        // SAFETY: valid device; the create info is fully initialised.
        let buffer =
            unsafe { device.create_buffer(&info, None) }.map_err(GpuError::vk("vkCreateBuffer"))?;
        let mut guard = BufferGuard {
            ctx,
            buffer,
            memory: vk::DeviceMemory::null(),
        };
        // No vkGetMemoryFdPropertiesKHR here: the spec forbids it for OPAQUE_FD handles (the
        // NVIDIA driver answers VK_ERROR_UNKNOWN). An opaque fd must be imported with the memory
        // type it was exported from; an exporter of this crate picked it exactly like this, from
        // the same buffer requirements (new_exportable: device-local).
        // SAFETY: buffer of this device.
        let req = unsafe { device.get_buffer_memory_requirements(buffer) };
        let type_index = find_memory_type(
            ctx.memory_properties(),
            req.memory_type_bits,
            vk::MemoryPropertyFlags::DEVICE_LOCAL,
            vk::MemoryPropertyFlags::empty(),
        )
        .ok_or(GpuError::NoMemoryType {
            what: "memory imported from an fd",
        })?;
        let raw = fd.as_raw_fd();
        let mut import = vk::ImportMemoryFdInfoKHR::default()
            .handle_type(fd_type)
            .fd(raw);
        let mut dedicated = vk::MemoryDedicatedAllocateInfo::default().buffer(buffer);
        let mut flags =
            vk::MemoryAllocateFlagsInfo::default().flags(vk::MemoryAllocateFlags::DEVICE_ADDRESS);
        let mut alloc = vk::MemoryAllocateInfo::default()
            .allocation_size(allocation_size)
            .memory_type_index(type_index)
            .push_next(&mut import)
            .push_next(&mut dedicated);
        if ctx.caps().buffer_device_address {
            alloc = alloc.push_next(&mut flags);
        }
        // SAFETY: imports `fd` (valid, exported with OPAQUE_FD); on success Vulkan owns it.
        guard.memory = unsafe { device.allocate_memory(&alloc, None) }
            .map_err(GpuError::vk("vkAllocateMemory(import fd)"))?;
        let _ = fd.into_raw_fd();
        // SAFETY: memory imported for this buffer, offset 0.
        unsafe { device.bind_buffer_memory(buffer, guard.memory, 0) }
            .map_err(GpuError::vk("vkBindBufferMemory"))?;
        let address = if ctx.caps().buffer_device_address {
            // SAFETY: buffer with device-address usage and bound memory.
            unsafe {
                device.get_buffer_device_address(
                    &vk::BufferDeviceAddressInfo::default().buffer(buffer),
                )
            }
        } else {
            0
        };
        let memory = guard.memory;
        std::mem::forget(guard);
        Ok(GpuBuffer {
            ctx: ctx.clone(),
            buffer,
            memory,
            size,
            kind: MemoryKind::DeviceLocal,
            mapped: None,
            coherent: false,
            device_local: true,
            address,
            allocation_size,
            exportable: false,
        })
    }

    /// Bytes of the underlying allocation (at least [`GpuBuffer::size`]).
    pub fn allocation_size(&self) -> u64 {
        self.allocation_size
    }

    /// Whether the memory was allocated for export ([`GpuBuffer::new_exportable`]).
    pub fn is_exportable(&self) -> bool {
        self.exportable
    }

    /// The Vulkan buffer.
    pub fn handle(&self) -> vk::Buffer {
        self.buffer
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// What kind of memory was asked for.
    pub fn kind(&self) -> MemoryKind {
        self.kind
    }

    /// Whether the memory is device-local.
    pub fn is_device_local(&self) -> bool {
        self.device_local
    }

    /// Device address of byte 0 (0 without buffer device address).
    pub fn device_address(&self) -> u64 {
        self.address
    }

    /// The whole buffer as a range.
    pub fn range(&self) -> BufferRange {
        BufferRange {
            buffer: self.buffer,
            offset: 0,
            size: self.size,
            address: self.address,
        }
    }

    /// A sub-range, checked against the buffer size.
    pub fn slice(&self, offset: u64, size: u64) -> Result<BufferRange, GpuError> {
        if offset.checked_add(size).is_none_or(|end| end > self.size) {
            return Err(GpuError::Range {
                what: format!("range {offset}+{size} of a buffer of {} bytes", self.size),
            });
        }
        Ok(BufferRange {
            buffer: self.buffer,
            offset,
            size,
            address: if self.address == 0 {
                0
            } else {
                self.address + offset
            },
        })
    }

    /// The start of the host mapping (host-visible buffers). Writing through it is the caller's
    /// responsibility: no GPU work may use the bytes meanwhile, and [`GpuBuffer::flush`] follows.
    pub fn mapped_ptr(&self) -> Option<*mut u8> {
        self.mapped.map(NonNull::as_ptr)
    }

    /// Whether the memory is host-coherent (no flush or invalidate needed).
    pub fn is_coherent(&self) -> bool {
        self.coherent
    }

    /// The mapped bytes of a host-visible buffer, for writing (flushed by [`GpuBuffer::flush`]).
    pub fn mapped_mut(&mut self) -> Option<&mut [u8]> {
        let p = self.mapped?;
        // SAFETY: the mapping covers `size` bytes for the buffer's life; `&mut self` makes this
        // the only host access; usize conversion cannot truncate a mapped size.
        Some(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), self.size as usize) })
    }

    /// The mapped bytes of a host-visible buffer, for reading after the GPU work that wrote them
    /// has been waited for (invalidated by [`GpuBuffer::invalidate`]).
    pub fn mapped(&self) -> Option<&[u8]> {
        let p = self.mapped?;
        // SAFETY: as in mapped_mut; reads only.
        Some(unsafe { std::slice::from_raw_parts(p.as_ptr(), self.size as usize) })
    }

    fn atom_range(&self, offset: u64, len: u64) -> vk::MappedMemoryRange<'static> {
        let atom = self.ctx.caps().non_coherent_atom_size;
        let start = offset / atom * atom;
        let end = (offset + len).div_ceil(atom) * atom;
        let size = if end >= self.size {
            vk::WHOLE_SIZE
        } else {
            end - start
        };
        vk::MappedMemoryRange::default()
            .memory(self.memory)
            .offset(start)
            .size(size)
    }

    /// Makes host writes to `offset..offset+len` visible to the device (no-op when coherent).
    pub fn flush(&self, offset: u64, len: u64) -> Result<(), GpuError> {
        if self.coherent || self.mapped.is_none() || len == 0 {
            return Ok(());
        }
        let range = self.atom_range(offset, len);
        // SAFETY: mapped memory of this device, range rounded to the atom size inside the
        // allocation.
        unsafe { self.ctx.device().flush_mapped_memory_ranges(&[range]) }
            .map_err(GpuError::vk("vkFlushMappedMemoryRanges"))
    }

    /// Makes device writes to `offset..offset+len` visible to the host (no-op when coherent).
    pub fn invalidate(&self, offset: u64, len: u64) -> Result<(), GpuError> {
        if self.coherent || self.mapped.is_none() || len == 0 {
            return Ok(());
        }
        let range = self.atom_range(offset, len);
        // SAFETY: as in flush.
        unsafe { self.ctx.device().invalidate_mapped_memory_ranges(&[range]) }
            .map_err(GpuError::vk("vkInvalidateMappedMemoryRanges"))
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        let device = self.ctx.device();
        // SAFETY: handles owned by this buffer; callers keep GPU work that uses the buffer
        // waited for before dropping it (documented on the types that submit work).
        unsafe {
            device.destroy_buffer(self.buffer, None);
            device.free_memory(self.memory, None);
        }
    }
}

/// Frees a half-made buffer when creation fails.
struct BufferGuard<'a> {
    ctx: &'a VulkanContext,
    buffer: vk::Buffer,
    memory: vk::DeviceMemory,
}

impl Drop for BufferGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: handles made by the failing constructor and not used by any GPU work.
        unsafe {
            self.ctx.device().destroy_buffer(self.buffer, None);
            if self.memory != vk::DeviceMemory::null() {
                self.ctx.device().free_memory(self.memory, None);
            }
        }
    }
}

/// Default staging buffer size, as DirectStorage's default staging buffer.
pub const DEFAULT_STAGING_SIZE: u64 = 32 << 20;

/// A pool of equally sized host-visible staging buffers, reused across requests. At most
/// `capacity` buffers exist; [`StagingPool::acquire`] blocks while all are leased.
#[derive(Debug)]
pub struct StagingPool {
    ctx: Arc<VulkanContext>,
    buffer_size: u64,
    capacity: usize,
    kind: MemoryKind,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Debug, Default)]
struct PoolState {
    free: Vec<GpuBuffer>,
    created: usize,
}

/// A staging buffer leased from a [`StagingPool`]; goes back to the pool on drop. The GPU work
/// that uses it must have completed before it is dropped.
#[derive(Debug)]
pub struct StagingLease {
    pool: Arc<StagingPool>,
    buffer: Option<GpuBuffer>,
}

impl StagingPool {
    /// A pool of up to `capacity` buffers of `buffer_size` bytes (created on first use).
    pub fn new(
        ctx: &Arc<VulkanContext>,
        buffer_size: u64,
        capacity: usize,
        kind: MemoryKind,
    ) -> Result<Arc<StagingPool>, GpuError> {
        if buffer_size == 0 || capacity == 0 || kind == MemoryKind::DeviceLocal {
            return Err(GpuError::Range {
                what: format!(
                    "staging pool of {capacity} x {buffer_size} bytes of {kind:?} memory"
                ),
            });
        }
        Ok(Arc::new(StagingPool {
            ctx: ctx.clone(),
            buffer_size,
            capacity,
            kind,
            state: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
        }))
    }

    /// Size of each buffer.
    pub fn buffer_size(&self) -> u64 {
        self.buffer_size
    }

    /// Buffers created so far (leased or free).
    pub fn created(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .created
    }

    /// Leases a buffer, creating one if fewer than `capacity` exist, else waiting for a return.
    pub fn acquire(self: &Arc<Self>) -> Result<StagingLease, GpuError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(b) = st.free.pop() {
                return Ok(self.lease(b));
            }
            if st.created < self.capacity {
                st.created += 1;
                drop(st);
                return match GpuBuffer::new(&self.ctx, self.buffer_size, self.kind) {
                    Ok(b) => Ok(self.lease(b)),
                    Err(e) => {
                        self.state
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .created -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            st = self
                .returned
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Leases a buffer only if one is free or can be created now.
    pub fn try_acquire(self: &Arc<Self>) -> Result<Option<StagingLease>, GpuError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = st.free.pop() {
            return Ok(Some(self.lease(b)));
        }
        if st.created >= self.capacity {
            return Ok(None);
        }
        drop(st);
        self.acquire().map(Some)
    }

    fn lease(self: &Arc<Self>, buffer: GpuBuffer) -> StagingLease {
        StagingLease {
            pool: self.clone(),
            buffer: Some(buffer),
        }
    }
}

impl StagingLease {
    /// The leased buffer.
    pub fn buffer(&self) -> &GpuBuffer {
        self.buffer.as_ref().expect("present until drop")
    }

    /// The leased buffer, mutably (to write its mapping).
    pub fn buffer_mut(&mut self) -> &mut GpuBuffer {
        self.buffer.as_mut().expect("present until drop")
    }
}

impl Drop for StagingLease {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.pool
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .free
                .push(b);
            self.pool.returned.notify_one();
        }
    }
}

/// Caller memory imported as a Vulkan buffer with `VK_EXT_external_memory_host`, so the GPU reads
/// or writes it in place (no staging copy).
pub struct ImportedHostBuffer {
    ctx: Arc<VulkanContext>,
    buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    size: u64,
}

// SAFETY: only Vulkan handles; the host memory itself is the caller's (see `import`).
unsafe impl Send for ImportedHostBuffer {}
// SAFETY: as for Send.
unsafe impl Sync for ImportedHostBuffer {}

impl std::fmt::Debug for ImportedHostBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedHostBuffer")
            .field("size", &self.size)
            .finish()
    }
}

impl ImportedHostBuffer {
    /// Whether `ptr`/`len` meet the device's import alignment (`None` if import is unavailable).
    pub fn can_import(ctx: &VulkanContext, ptr: *const u8, len: usize) -> Option<bool> {
        let align = ctx.caps().host_import_alignment?;
        Some(len != 0 && (ptr as u64).is_multiple_of(align) && (len as u64).is_multiple_of(align))
    }

    /// Imports `len` bytes at `ptr`.
    ///
    /// # Safety
    /// The memory must stay allocated, and not be accessed by the host while GPU work using the
    /// buffer runs, until the returned value is dropped (after that GPU work is waited for).
    pub unsafe fn import(
        ctx: &Arc<VulkanContext>,
        ptr: *mut u8,
        len: usize,
    ) -> Result<ImportedHostBuffer, GpuError> {
        let Some(ext) = ctx.host_import_fn() else {
            return Err(GpuError::Missing("VK_EXT_external_memory_host".into()));
        };
        if Self::can_import(ctx, ptr, len) != Some(true) {
            return Err(GpuError::Range {
                what: format!(
                    "host pointer {ptr:p} + {len} bytes not aligned to {} for import",
                    ctx.caps().host_import_alignment.unwrap_or(0)
                ),
            });
        }
        let handle_type = vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT;
        let device = ctx.device();
        let mut props = vk::MemoryHostPointerPropertiesEXT::default();
        // SAFETY: ptr is a host allocation the caller vouches for; extension enabled.
        unsafe {
            (ext.fp().get_memory_host_pointer_properties_ext)(
                device.handle(),
                handle_type,
                ptr.cast(),
                &mut props,
            )
        }
        .result()
        .map_err(GpuError::vk("vkGetMemoryHostPointerPropertiesEXT"))?;
        let mut ext_info = vk::ExternalMemoryBufferCreateInfo::default().handle_types(handle_type);
        let info = vk::BufferCreateInfo::default()
            .size(len as u64)
            .usage(
                vk::BufferUsageFlags::STORAGE_BUFFER
                    | vk::BufferUsageFlags::TRANSFER_SRC
                    | vk::BufferUsageFlags::TRANSFER_DST,
            )
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .push_next(&mut ext_info);
        // SAFETY: valid device and create info.
        let buffer =
            unsafe { device.create_buffer(&info, None) }.map_err(GpuError::vk("vkCreateBuffer"))?;
        let mut guard = BufferGuard {
            ctx,
            buffer,
            memory: vk::DeviceMemory::null(),
        };
        // SAFETY: buffer from this device.
        let req = unsafe { device.get_buffer_memory_requirements(buffer) };
        let type_index = find_memory_type(
            ctx.memory_properties(),
            req.memory_type_bits & props.memory_type_bits,
            vk::MemoryPropertyFlags::HOST_VISIBLE,
            vk::MemoryPropertyFlags::empty(),
        )
        .ok_or(GpuError::NoMemoryType {
            what: "imported host memory",
        })?;
        let mut import = vk::ImportMemoryHostPointerInfoEXT::default()
            .handle_type(handle_type)
            .host_pointer(ptr.cast());
        let alloc = vk::MemoryAllocateInfo::default()
            .allocation_size(len as u64)
            .memory_type_index(type_index)
            .push_next(&mut import);
        // SAFETY: import of caller memory meeting the alignment; see the function's contract.
        guard.memory = unsafe { device.allocate_memory(&alloc, None) }
            .map_err(GpuError::vk("vkAllocateMemory(import host pointer)"))?;
        // SAFETY: memory imported for this buffer, offset 0.
        unsafe { device.bind_buffer_memory(buffer, guard.memory, 0) }
            .map_err(GpuError::vk("vkBindBufferMemory"))?;
        let memory = guard.memory;
        std::mem::forget(guard);
        Ok(ImportedHostBuffer {
            ctx: ctx.clone(),
            buffer,
            memory,
            size: len as u64,
        })
    }

    /// The buffer.
    pub fn handle(&self) -> vk::Buffer {
        self.buffer
    }

    /// Its size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The whole buffer as a range (no device address: imports are not created with it).
    pub fn range(&self) -> BufferRange {
        BufferRange {
            buffer: self.buffer,
            offset: 0,
            size: self.size,
            address: 0,
        }
    }
}

impl Drop for ImportedHostBuffer {
    fn drop(&mut self) {
        // SAFETY: owned handles, GPU work using them waited for by the caller (import contract).
        unsafe {
            self.ctx.device().destroy_buffer(self.buffer, None);
            self.ctx.device().free_memory(self.memory, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(flags: &[vk::MemoryPropertyFlags]) -> vk::PhysicalDeviceMemoryProperties {
        let mut p = vk::PhysicalDeviceMemoryProperties {
            memory_type_count: flags.len() as u32,
            ..Default::default()
        };
        for (i, f) in flags.iter().enumerate() {
            p.memory_types[i].property_flags = *f;
        }
        p
    }

    #[test]
    fn memory_type_prefers_then_falls_back() {
        use vk::MemoryPropertyFlags as M;
        let p = props(&[
            M::DEVICE_LOCAL,
            M::HOST_VISIBLE | M::HOST_COHERENT,
            M::HOST_VISIBLE | M::HOST_CACHED,
        ]);
        assert_eq!(
            find_memory_type(&p, 0b111, M::HOST_VISIBLE, M::HOST_CACHED),
            Some(2)
        );
        assert_eq!(
            find_memory_type(&p, 0b011, M::HOST_VISIBLE, M::HOST_CACHED),
            Some(1)
        );
        assert_eq!(
            find_memory_type(&p, 0b001, M::HOST_VISIBLE, M::empty()),
            None
        );
        assert_eq!(
            find_memory_type(&p, 0b111, M::DEVICE_LOCAL, M::empty()),
            Some(0)
        );
    }
}
