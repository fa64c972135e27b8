//! ds-gpu: the Vulkan side of ds-runtime.
//!
//! - [`context`]: an instance/device/queue for compute, created here or adopted from an embedder
//!   (Wine's D3D12-on-Vulkan layer hands over raw handles), with validation-message capture.
//! - [`memory`]: device-local and host-visible buffers, a reusable staging pool, and caller memory
//!   imported with `VK_EXT_external_memory_host`.
//! - [`sync`]: timeline semaphores and a command pool for one-shot submissions.
//! - [`decode`]: GDeflate decode on the GPU with our compute shader (`shaders/`), one workgroup per
//!   64 KiB tile and per-tile error status, and a whole-stream front end ([`GpuDecoder`]).
//! - [`decompression`]: the driver's decoder through `VK_NV_memory_decompression` /
//!   `VK_EXT_memory_decompression`, used when the device has it ([`DecodePath`]).
//!
//! - [`executor`]: the Vulkan executor serving GPU-buffer destinations of the request queue
//!   (`ds-os-linux`): staging, host-import, upload-heap and GPUDirect Storage routes, batched
//!   submissions completed through a timeline semaphore.
//! - `wgpu_backend` (feature `wgpu`): the same requests and decoder through wgpu.
//!
//! The CPU decoder `ds_gdeflate` parses containers and is the oracle in tests.

pub mod context;
pub mod decode;
pub mod decompression;
pub mod error;
pub mod executor;
pub mod memory;
pub mod sync;
#[cfg(feature = "wgpu")]
pub mod wgpu_backend;

pub use ash;
pub use ash::vk;
pub use context::{
    AdoptInfo, AdoptedFeatures, ContextOptions, DeviceCaps, MemoryDecompressionExt, ValidationLog,
    VulkanContext,
};
pub use decode::{
    DecodeBindings, DecodePath, DecodeReport, DecodeSet, DecoderOptions, GpuDecoder,
    ResidentStream, ResolvedPath, ShaderDecoder, ShaderVariant, TableFormat, TileDesc, TileStatus,
    VariantChoice,
};
pub use decompression::{MemoryDecompressor, Region};
pub use error::{GpuError, TileError};
pub use memory::{
    BufferRange, GpuBuffer, ImportedHostBuffer, MemoryKind, StagingLease, StagingPool,
};
pub use sync::{CommandPool, TimelineSemaphore};
