//! GDeflate decode on the GPU.
//!
//! - [`ShaderDecoder`]: the compute pipeline of `shaders/gdeflate_decode.comp` (SPIR-V compiled
//!   ahead of time, embedded with `include_bytes!`), its descriptor sets ([`DecodeSet`]) and the
//!   recording of a dispatch of many tiles (one workgroup per tile).
//! - [`GpuDecoder`]: a whole-stream front end over it and over the driver path
//!   ([`crate::decompression`]): upload a stream through the staging pool, decode it resident in
//!   GPU memory with the chosen [`DecodePath`], read back output and per-tile status.
//!
//! The container is parsed and validated on the CPU (`ds_gdeflate::TileStream`); the shader gets
//! one descriptor per tile and checks the bitstream itself.
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ash::vk;

use crate::context::{MemoryDecompressionExt, VulkanContext};
use crate::decompression::{regions_for_stream, MemoryDecompressor, Region};
use crate::error::{GpuError, TileError};
use crate::memory::{BufferRange, GpuBuffer, MemoryKind, StagingPool, DEFAULT_STAGING_SIZE};
use crate::sync::{CommandPool, TimelineSemaphore};

/// The decoder shader, compiled by `shaders/build.sh` (generated file, checked by
/// `cargo xtask test --only spirv`).
pub static SPIRV: &[u8] = include_bytes!("../../shaders/gdeflate_decode.spv");

/// Value the status buffer is filled with before a dispatch; a slot still holding it was not
/// written by the shader.
pub const STATUS_UNWRITTEN: u32 = 0xFFFF_FFFF;

/// Bytes per tile descriptor and per status slot (`uvec4`).
const SLOT: u64 = 16;

/// How the shader exchanges values between its 32 lanes (specialization constant 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShaderVariant {
    /// Subgroup arithmetic and ballots over full subgroups of 8, 16 or 32 invocations.
    Subgroup,
    /// Shared memory and barriers only: any subgroup size.
    SharedMemory,
}

/// How the shader's direct Huffman tables store their entries (specialization constant 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TableFormat {
    /// 32-bit entries with the base value and extra-bit count precomputed (6 KiB of shared
    /// memory per workgroup).
    Wide,
    /// 16-bit entries, symbol and code length (3 KiB): more workgroups fit on a GPU core, each
    /// token costs a few ALU operations more. The default: on the H100 it decodes 1.16-1.9x
    /// faster than `Wide` at every batch size (docs/benchmarks.md, device run 6).
    #[default]
    Packed16,
}

/// Which variant to build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VariantChoice {
    /// [`ShaderVariant::Subgroup`] when the device guarantees full subgroups of a usable size.
    #[default]
    Auto,
    /// Force one variant (the subgroup one fails to build where it is not safe).
    Force(ShaderVariant),
}

/// Which decoder runs a stream.
///
/// The driver's decoder (`VK_NV/EXT_memory_decompression`) has no error reporting: a corrupt tile
/// "decodes" into whatever bytes the driver produces, and the request or stream still succeeds.
/// Our shader validates every tile and reports a per-tile error. So untrusted content always goes
/// to the shader; the driver path runs only where the content is declared trusted
/// ([`DecoderOptions::trusted_content`], `ExecutorConfig::trusted_content`) or forced with
/// [`DecodePath::Driver`]. See docs/gpu.md, "Decode-path policy".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecodePath {
    /// The driver's decoder when the device has it **and** the content is declared trusted, else
    /// the shader. A stream the driver cannot take (a tile off a 4-byte boundary) goes to the
    /// shader.
    #[default]
    Auto,
    /// Our compute shader (validates every tile).
    Shader,
    /// `vkCmdDecompressMemoryNV/EXT`: corrupt data is not detected. Forcing it is a declaration
    /// that the content is trusted; a device without it is [`GpuError::PathUnavailable`].
    Driver,
}

/// A path after [`GpuDecoder::resolve`]: one that this device can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedPath {
    /// Our compute shader (per-tile status available).
    Shader,
    /// The driver (no per-tile status).
    MemoryDecompression(MemoryDecompressionExt),
}

/// One tile for the shader: where its payload and output are inside the bound ranges.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileDesc {
    /// Byte offset of the payload in the source range (any alignment: the shader reads the words
    /// of a tile that starts off a 4-byte boundary with a byte shift).
    pub src_offset: u32,
    /// Payload bytes.
    pub compressed_size: u32,
    /// First output byte in the destination range.
    pub dst_offset: u32,
    /// Output bytes (1..=65536); 0 makes the shader report [`TileError::Descriptor`].
    pub output_size: u32,
}

impl TileDesc {
    /// Little-endian bytes as the shader reads them (`uvec4`).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.src_offset.to_le_bytes());
        b[4..8].copy_from_slice(&self.compressed_size.to_le_bytes());
        b[8..12].copy_from_slice(&self.dst_offset.to_le_bytes());
        b[12..16].copy_from_slice(&self.output_size.to_le_bytes());
        b
    }
}

/// Tile descriptors for a stream placed at byte `src_base` of the source range with its output at
/// byte `dst_base` of the destination range. Offsets must fit the shader's 32-bit descriptors.
pub fn tile_descs(
    stream: &ds_gdeflate::TileStream<'_>,
    src_base: u64,
    dst_base: u64,
) -> Result<Vec<TileDesc>, GpuError> {
    let too_big = |what: &str, v: u64| GpuError::Range {
        what: format!("{what} {v} does not fit the shader's 32-bit descriptors"),
    };
    let mut descs = Vec::with_capacity(stream.num_tiles());
    for i in 0..stream.num_tiles() {
        let at = src_base + stream.tile_offset_in_input(i) as u64;
        let dst = dst_base + stream.tile_output_offset(i);
        let len = stream.tile_payload(i).len() as u64;
        descs.push(TileDesc {
            src_offset: u32::try_from(at).map_err(|_| too_big("source offset", at))?,
            compressed_size: u32::try_from(len).map_err(|_| too_big("tile size", len))?,
            dst_offset: u32::try_from(dst).map_err(|_| too_big("output offset", dst))?,
            output_size: stream.tile_uncompressed_len(i) as u32,
        });
    }
    Ok(descs)
}

/// Status of one tile as written by the shader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileStatus {
    /// 0 = decoded; else a [`TileError`] code.
    pub code: u32,
    /// Output bytes produced.
    pub produced: u32,
    /// Payload bytes consumed (whole words).
    pub consumed: u32,
    /// Blocks decoded.
    pub blocks: u32,
}

impl TileStatus {
    /// Parses one 16-byte slot.
    pub fn from_bytes(b: &[u8]) -> TileStatus {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        TileStatus {
            code: w(0),
            produced: w(4),
            consumed: w(8),
            blocks: w(12),
        }
    }

    /// `Ok` or the tile's error.
    pub fn result(&self) -> Result<(), TileError> {
        if self.code == 0 {
            Ok(())
        } else {
            Err(TileError::from_code(self.code))
        }
    }
}

/// Buffers one decode dispatch reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeBindings {
    /// Compressed bytes (tile payloads addressed by word in it).
    pub src: BufferRange,
    /// Output bytes.
    pub dst: BufferRange,
    /// [`TileDesc`] array.
    pub tiles: BufferRange,
    /// Status array (16 bytes per tile).
    pub status: BufferRange,
}

/// A descriptor set binding [`DecodeBindings`], with its own small pool (freed on drop).
pub struct DecodeSet {
    ctx: Arc<VulkanContext>,
    pool: vk::DescriptorPool,
    set: vk::DescriptorSet,
    bindings: DecodeBindings,
}

impl std::fmt::Debug for DecodeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeSet")
            .field("bindings", &self.bindings)
            .finish()
    }
}

impl DecodeSet {
    /// What it binds.
    pub fn bindings(&self) -> &DecodeBindings {
        &self.bindings
    }
}

impl Drop for DecodeSet {
    fn drop(&mut self) {
        // SAFETY: owned pool (frees its set); GPU work using it is waited for by the owner.
        unsafe { self.ctx.device().destroy_descriptor_pool(self.pool, None) };
    }
}

/// The decode compute pipeline.
pub struct ShaderDecoder {
    ctx: Arc<VulkanContext>,
    set_layout: vk::DescriptorSetLayout,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
    variant: ShaderVariant,
    tables: TableFormat,
    required_size: Option<u32>,
}

impl std::fmt::Debug for ShaderDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShaderDecoder")
            .field("variant", &self.variant)
            .field("tables", &self.tables)
            .field("required_subgroup_size", &self.required_size)
            .finish()
    }
}

/// Whether the subgroup variant is safe, and with which required subgroup size.
fn subgroup_plan(ctx: &VulkanContext) -> Result<Option<u32>, String> {
    let c = ctx.caps();
    if !c.subgroup_arithmetic || !c.subgroup_ballot {
        return Err("no subgroup arithmetic and ballot in compute shaders".into());
    }
    if !c.full_subgroups {
        return Err("full subgroups cannot be required (needs Vulkan 1.3 subgroupSizeControl and computeFullSubgroups)".into());
    }
    let (lo, hi) = c.subgroup_size_range;
    if c.required_size_compute && lo <= 32 && 32 <= hi {
        return Ok(Some(32));
    }
    if lo >= 8 && hi <= 32 && lo.is_power_of_two() && hi.is_power_of_two() {
        return Ok(None);
    }
    Err(format!(
        "subgroup sizes {lo}..{hi} cannot be made to tile a 32-invocation workgroup"
    ))
}

impl ShaderDecoder {
    /// Builds the pipeline with the default table format.
    pub fn new(ctx: &Arc<VulkanContext>, choice: VariantChoice) -> Result<Self, GpuError> {
        Self::with_tables(ctx, choice, TableFormat::default())
    }

    /// Builds the pipeline with the given table format.
    pub fn with_tables(
        ctx: &Arc<VulkanContext>,
        choice: VariantChoice,
        tables: TableFormat,
    ) -> Result<Self, GpuError> {
        let plan = subgroup_plan(ctx);
        let (variant, required_size) = match (choice, plan) {
            (VariantChoice::Auto, Ok(size)) => (ShaderVariant::Subgroup, size),
            (VariantChoice::Auto, Err(_)) => (ShaderVariant::SharedMemory, None),
            (VariantChoice::Force(ShaderVariant::Subgroup), Ok(size)) => {
                (ShaderVariant::Subgroup, size)
            }
            (VariantChoice::Force(ShaderVariant::Subgroup), Err(why)) => {
                return Err(GpuError::PathUnavailable {
                    path: "subgroup shader variant",
                    reason: why,
                })
            }
            (VariantChoice::Force(ShaderVariant::SharedMemory), _) => {
                (ShaderVariant::SharedMemory, None)
            }
        };
        let device = ctx.device();
        let binding = |i: u32| {
            vk::DescriptorSetLayoutBinding::default()
                .binding(i)
                .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                .descriptor_count(1)
                .stage_flags(vk::ShaderStageFlags::COMPUTE)
        };
        let bindings = [binding(0), binding(1), binding(2), binding(3)];
        let mut guard = PipelineGuard {
            ctx,
            set_layout: vk::DescriptorSetLayout::null(),
            layout: vk::PipelineLayout::null(),
            module: vk::ShaderModule::null(),
        };
        // SAFETY: valid device, create infos alive across each call.
        unsafe {
            guard.set_layout = device
                .create_descriptor_set_layout(
                    &vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings),
                    None,
                )
                .map_err(GpuError::vk("vkCreateDescriptorSetLayout"))?;
            let ranges = [vk::PushConstantRange::default()
                .stage_flags(vk::ShaderStageFlags::COMPUTE)
                .offset(0)
                .size(8)];
            let layouts = [guard.set_layout];
            guard.layout = device
                .create_pipeline_layout(
                    &vk::PipelineLayoutCreateInfo::default()
                        .set_layouts(&layouts)
                        .push_constant_ranges(&ranges),
                    None,
                )
                .map_err(GpuError::vk("vkCreatePipelineLayout"))?;
            let code =
                ash::util::read_spv(&mut Cursor::new(SPIRV)).map_err(|e| GpuError::Range {
                    what: format!("embedded SPIR-V: {e}"),
                })?;
            guard.module = device
                .create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&code), None)
                .map_err(GpuError::vk("vkCreateShaderModule"))?;
        }
        let mode: u32 = match variant {
            ShaderVariant::Subgroup => 1,
            ShaderVariant::SharedMemory => 0,
        };
        let table16: u32 = match tables {
            TableFormat::Wide => 0,
            TableFormat::Packed16 => 1,
        };
        let mut spec_data = [0u8; 8];
        spec_data[..4].copy_from_slice(&mode.to_ne_bytes());
        spec_data[4..].copy_from_slice(&table16.to_ne_bytes());
        let entries = [
            vk::SpecializationMapEntry::default()
                .constant_id(0)
                .offset(0)
                .size(4),
            vk::SpecializationMapEntry::default()
                .constant_id(1)
                .offset(4)
                .size(4),
        ];
        let spec = vk::SpecializationInfo::default()
            .map_entries(&entries)
            .data(&spec_data);
        let mut required = vk::PipelineShaderStageRequiredSubgroupSizeCreateInfo::default()
            .required_subgroup_size(required_size.unwrap_or(32));
        let mut stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(guard.module)
            .name(c"main")
            .specialization_info(&spec);
        if variant == ShaderVariant::Subgroup {
            stage = stage.flags(vk::PipelineShaderStageCreateFlags::REQUIRE_FULL_SUBGROUPS);
            if required_size.is_some() {
                stage = stage.push_next(&mut required);
            }
        }
        let mut info = vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(guard.layout);
        if ctx.caps().pipeline_statistics {
            info = info.flags(vk::PipelineCreateFlags::CAPTURE_STATISTICS_KHR);
        }
        // SAFETY: valid device; module and layout created above; infos alive across the call.
        let pipeline =
            unsafe { device.create_compute_pipelines(vk::PipelineCache::null(), &[info], None) }
                .map_err(|(_, e)| GpuError::Vk {
                    call: "vkCreateComputePipelines",
                    result: e,
                })?[0];
        // SAFETY: the module is no longer needed once the pipeline exists.
        unsafe { device.destroy_shader_module(guard.module, None) };
        guard.module = vk::ShaderModule::null();
        let (set_layout, layout) = (guard.set_layout, guard.layout);
        std::mem::forget(guard);
        Ok(ShaderDecoder {
            ctx: ctx.clone(),
            set_layout,
            layout,
            pipeline,
            variant,
            tables,
            required_size,
        })
    }

    /// The variant in use.
    pub fn variant(&self) -> ShaderVariant {
        self.variant
    }

    /// The table format in use.
    pub fn tables(&self) -> TableFormat {
        self.tables
    }

    /// The required subgroup size, when one was requested.
    pub fn required_subgroup_size(&self) -> Option<u32> {
        self.required_size
    }

    /// The driver's statistics of the compiled pipeline ("name = value", per executable:
    /// registers, shared memory, spills, as the driver names them), when the context was created
    /// with `ContextOptions::pipeline_statistics` on a device that offers them; else empty.
    pub fn statistics(&self) -> Result<Vec<String>, GpuError> {
        let Some(ext) = self.ctx.executable_properties_fn() else {
            return Ok(Vec::new());
        };
        let text = |raw: &[std::ffi::c_char]| {
            // SAFETY: the driver NUL-terminates these fixed-size strings (Vulkan spec).
            unsafe { std::ffi::CStr::from_ptr(raw.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: pipeline of this device, created with CAPTURE_STATISTICS (caps say enabled).
        let executables = unsafe {
            ext.get_pipeline_executable_properties(
                &vk::PipelineInfoKHR::default().pipeline(self.pipeline),
            )
        }
        .map_err(GpuError::vk("vkGetPipelineExecutablePropertiesKHR"))?;
        let mut out = Vec::new();
        for (i, e) in executables.iter().enumerate() {
            out.push(format!(
                "executable {i}: {} (subgroup size {})",
                text(&e.name),
                e.subgroup_size
            ));
            let info = vk::PipelineExecutableInfoKHR::default()
                .pipeline(self.pipeline)
                .executable_index(i as u32);
            // SAFETY: as above; `i` is an index the driver returned.
            let stats = unsafe { ext.get_pipeline_executable_statistics(&info) }
                .map_err(GpuError::vk("vkGetPipelineExecutableStatisticsKHR"))?;
            for st in stats {
                // SAFETY: `format` says which union member the driver filled.
                let value = unsafe {
                    match st.format {
                        vk::PipelineExecutableStatisticFormatKHR::BOOL32 => {
                            (st.value.b32 != 0).to_string()
                        }
                        vk::PipelineExecutableStatisticFormatKHR::INT64 => st.value.i64.to_string(),
                        vk::PipelineExecutableStatisticFormatKHR::UINT64 => {
                            st.value.u64.to_string()
                        }
                        _ => st.value.f64.to_string(),
                    }
                };
                out.push(format!("  {} = {value}", text(&st.name)));
            }
        }
        Ok(out)
    }

    /// Creates a descriptor set for `b`. Offsets must meet the device's storage-buffer offset
    /// alignment and the source size must be a multiple of 4.
    pub fn bind(&self, b: &DecodeBindings) -> Result<DecodeSet, GpuError> {
        let align = self.ctx.caps().min_storage_offset_alignment;
        for (name, r) in [
            ("src", &b.src),
            ("dst", &b.dst),
            ("tiles", &b.tiles),
            ("status", &b.status),
        ] {
            if r.offset % align != 0 || r.size == 0 {
                return Err(GpuError::Range {
                    what: format!(
                        "{name} range {}+{} (offset alignment {align}, non-empty)",
                        r.offset, r.size
                    ),
                });
            }
        }
        if !b.src.size.is_multiple_of(4)
            || !b.tiles.size.is_multiple_of(SLOT)
            || !b.status.size.is_multiple_of(SLOT)
        {
            return Err(GpuError::Range {
                what: "src size must be a multiple of 4, tiles and status of 16".into(),
            });
        }
        let device = self.ctx.device();
        let sizes = [vk::DescriptorPoolSize::default()
            .ty(vk::DescriptorType::STORAGE_BUFFER)
            .descriptor_count(4)];
        // SAFETY: valid device and create info.
        let pool = unsafe {
            device.create_descriptor_pool(
                &vk::DescriptorPoolCreateInfo::default()
                    .max_sets(1)
                    .pool_sizes(&sizes),
                None,
            )
        }
        .map_err(GpuError::vk("vkCreateDescriptorPool"))?;
        let layouts = [self.set_layout];
        // SAFETY: pool sized for exactly this set.
        let set = match unsafe {
            device.allocate_descriptor_sets(
                &vk::DescriptorSetAllocateInfo::default()
                    .descriptor_pool(pool)
                    .set_layouts(&layouts),
            )
        } {
            Ok(s) => s[0],
            Err(e) => {
                // SAFETY: pool unused.
                unsafe { device.destroy_descriptor_pool(pool, None) };
                return Err(GpuError::Vk {
                    call: "vkAllocateDescriptorSets",
                    result: e,
                });
            }
        };
        let infos: Vec<[vk::DescriptorBufferInfo; 1]> = [b.src, b.dst, b.tiles, b.status]
            .iter()
            .map(|r| {
                [vk::DescriptorBufferInfo::default()
                    .buffer(r.buffer)
                    .offset(r.offset)
                    .range(r.size)]
            })
            .collect();
        let writes: Vec<vk::WriteDescriptorSet> = infos
            .iter()
            .enumerate()
            .map(|(i, info)| {
                vk::WriteDescriptorSet::default()
                    .dst_set(set)
                    .dst_binding(i as u32)
                    .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                    .buffer_info(info)
            })
            .collect();
        // SAFETY: set just allocated, buffers valid (caller keeps them alive with the set).
        unsafe { device.update_descriptor_sets(&writes, &[]) };
        Ok(DecodeSet {
            ctx: self.ctx.clone(),
            pool,
            set,
            bindings: *b,
        })
    }

    /// Records the decode of descriptors `first_tile .. first_tile + tile_count` of `set`: a
    /// dispatch of one workgroup per tile (split where the device's dispatch limit requires).
    /// The caller records the barriers that order it with the writes of the inputs and the reads
    /// of the outputs ([`record_buffer_barrier`]).
    ///
    /// # Safety
    /// `cmd` is a command buffer of this device in the recording state; the set's buffers stay
    /// alive until the work completes.
    pub unsafe fn record(
        &self,
        cmd: vk::CommandBuffer,
        set: &DecodeSet,
        first_tile: u32,
        tile_count: u32,
    ) {
        let device = self.ctx.device();
        let end = first_tile.saturating_add(tile_count);
        let step = self.ctx.caps().max_workgroups_x.max(1);
        // SAFETY: recording command buffer (caller); pipeline, layout and set of this device.
        unsafe {
            device.cmd_bind_pipeline(cmd, vk::PipelineBindPoint::COMPUTE, self.pipeline);
            device.cmd_bind_descriptor_sets(
                cmd,
                vk::PipelineBindPoint::COMPUTE,
                self.layout,
                0,
                &[set.set],
                &[],
            );
            let mut at = first_tile;
            while at < end {
                let n = (end - at).min(step);
                let mut push = [0u8; 8];
                push[..4].copy_from_slice(&at.to_le_bytes());
                push[4..].copy_from_slice(&end.to_le_bytes());
                device.cmd_push_constants(
                    cmd,
                    self.layout,
                    vk::ShaderStageFlags::COMPUTE,
                    0,
                    &push,
                );
                device.cmd_dispatch(cmd, n, 1, 1);
                at += n;
            }
        }
    }
}

impl Drop for ShaderDecoder {
    fn drop(&mut self) {
        // SAFETY: owned objects; users wait for their decodes before dropping the decoder.
        unsafe {
            let d = self.ctx.device();
            d.destroy_pipeline(self.pipeline, None);
            d.destroy_pipeline_layout(self.layout, None);
            d.destroy_descriptor_set_layout(self.set_layout, None);
        }
    }
}

struct PipelineGuard<'a> {
    ctx: &'a VulkanContext,
    set_layout: vk::DescriptorSetLayout,
    layout: vk::PipelineLayout,
    module: vk::ShaderModule,
}

impl Drop for PipelineGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: objects made by the failing constructor, unused by any GPU work; destroying
        // null handles is allowed.
        unsafe {
            let d = self.ctx.device();
            d.destroy_shader_module(self.module, None);
            d.destroy_pipeline_layout(self.layout, None);
            d.destroy_descriptor_set_layout(self.set_layout, None);
        }
    }
}

/// Records a global memory barrier from `src` stages/accesses to `dst` ones.
///
/// # Safety
/// `cmd` is in the recording state on the context's device.
pub unsafe fn record_buffer_barrier(
    ctx: &VulkanContext,
    cmd: vk::CommandBuffer,
    src: (vk::PipelineStageFlags, vk::AccessFlags),
    dst: (vk::PipelineStageFlags, vk::AccessFlags),
) {
    let barrier = vk::MemoryBarrier::default()
        .src_access_mask(src.1)
        .dst_access_mask(dst.1);
    // SAFETY: recording command buffer (caller).
    unsafe {
        ctx.device().cmd_pipeline_barrier(
            cmd,
            src.0,
            dst.0,
            vk::DependencyFlags::empty(),
            &[barrier],
            &[],
            &[],
        )
    };
}

/// Options of a [`GpuDecoder`].
#[derive(Clone, Copy, Debug)]
pub struct DecoderOptions {
    /// Shader variant.
    pub variant: VariantChoice,
    /// Shader table format.
    pub tables: TableFormat,
    /// Size of each staging buffer.
    pub staging_size: u64,
    /// Most staging buffers at once.
    pub staging_buffers: usize,
    /// The streams come from a trusted source (the application's own packaged assets, checked
    /// when installed): [`DecodePath::Auto`] may then use the driver's decoder, which cannot
    /// report corrupt data. Default false: Auto means the validating shader.
    pub trusted_content: bool,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            variant: VariantChoice::Auto,
            tables: TableFormat::default(),
            staging_size: DEFAULT_STAGING_SIZE,
            staging_buffers: 2,
            trusted_content: false,
        }
    }
}

/// A GDeflate stream resident in GPU memory with everything needed to decode it there.
pub struct ResidentStream {
    /// Stream bytes (padded to a multiple of 4).
    pub src: GpuBuffer,
    /// Output (at least 4 bytes).
    pub dst: GpuBuffer,
    /// Tile descriptors.
    pub tiles: GpuBuffer,
    /// Per-tile status.
    pub status: GpuBuffer,
    /// Descriptor set over the four buffers.
    pub set: DecodeSet,
    /// Memory-decompression regions (empty when the device has no such path or the stream does
    /// not fit it).
    pub regions: Vec<Region>,
    /// Why the driver's decoder cannot take this stream (a tile off a 4-byte boundary), when the
    /// device has that path.
    pub driver_unfit: Option<String>,
    /// Number of tiles.
    pub num_tiles: u32,
    /// Compressed bytes.
    pub compressed_size: u64,
    /// Decompressed bytes.
    pub uncompressed_size: u64,
}

impl std::fmt::Debug for ResidentStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentStream")
            .field("num_tiles", &self.num_tiles)
            .field("compressed_size", &self.compressed_size)
            .field("uncompressed_size", &self.uncompressed_size)
            .finish()
    }
}

/// Result of decoding a stream with per-tile outcomes.
#[derive(Clone, Debug)]
pub struct DecodeReport {
    /// The output (tiles that failed hold whatever the decoder wrote before stopping).
    pub output: Vec<u8>,
    /// One entry per tile (all `Ok` on the driver path, which reports nothing).
    pub tiles: Vec<Result<(), TileError>>,
    /// The path that ran.
    pub path: ResolvedPath,
}

impl DecodeReport {
    /// The first failing tile, if any.
    pub fn first_error(&self) -> Option<(usize, TileError)> {
        self.tiles
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.err().map(|e| (i, e)))
    }
}

/// Whole-stream GPU decoding: uploads, decodes on the chosen path, reads back.
pub struct GpuDecoder {
    ctx: Arc<VulkanContext>,
    shader: ShaderDecoder,
    driver: Option<MemoryDecompressor>,
    trusted: bool,
    pool: CommandPool,
    timeline: TimelineSemaphore,
    next_value: AtomicU64,
    staging: Arc<StagingPool>,
}

impl std::fmt::Debug for GpuDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuDecoder")
            .field("shader", &self.shader)
            .field("driver", &self.driver)
            .finish()
    }
}

impl GpuDecoder {
    /// Builds the shader pipeline, loads the driver path if the device has it, and sets up the
    /// staging pool, a command pool and a timeline semaphore.
    pub fn new(ctx: &Arc<VulkanContext>, options: DecoderOptions) -> Result<Self, GpuError> {
        let shader = ShaderDecoder::with_tables(ctx, options.variant, options.tables)?;
        let driver = match ctx.caps().memory_decompression {
            Some(_) => Some(MemoryDecompressor::new(ctx)?),
            None => None,
        };
        Ok(GpuDecoder {
            ctx: ctx.clone(),
            shader,
            driver,
            trusted: options.trusted_content,
            pool: CommandPool::new(ctx)?,
            timeline: TimelineSemaphore::new(ctx, 0)?,
            next_value: AtomicU64::new(1),
            staging: StagingPool::new(
                ctx,
                options.staging_size,
                options.staging_buffers,
                MemoryKind::Upload,
            )?,
        })
    }

    /// The context.
    pub fn context(&self) -> &Arc<VulkanContext> {
        &self.ctx
    }

    /// The shader pipeline.
    pub fn shader(&self) -> &ShaderDecoder {
        &self.shader
    }

    /// The staging pool uploads go through.
    pub fn staging(&self) -> &Arc<StagingPool> {
        &self.staging
    }

    /// The path `want` runs as on this device, or why it cannot run: [`DecodePath::Auto`] is the
    /// driver's decoder only with [`DecoderOptions::trusted_content`] on a device that has it.
    pub fn resolve(&self, want: DecodePath) -> Result<ResolvedPath, GpuError> {
        match (want, &self.driver) {
            (DecodePath::Shader, _) | (DecodePath::Auto, None) => Ok(ResolvedPath::Shader),
            (DecodePath::Auto, Some(_)) if !self.trusted => Ok(ResolvedPath::Shader),
            (DecodePath::Auto | DecodePath::Driver, Some(d)) => {
                Ok(ResolvedPath::MemoryDecompression(d.kind()))
            }
            (DecodePath::Driver, None) => Err(GpuError::PathUnavailable {
                path: "Driver",
                reason: "device has no VK_NV/EXT_memory_decompression with GDeflate 1.0 and buffer device address enabled".into(),
            }),
        }
    }

    /// The path `want` runs as for the resident stream `s`: as [`GpuDecoder::resolve`], except
    /// that a stream the driver cannot take goes to the shader under [`DecodePath::Auto`] and is
    /// an error under [`DecodePath::Driver`].
    pub fn path_for(&self, s: &ResidentStream, want: DecodePath) -> Result<ResolvedPath, GpuError> {
        let path = self.resolve(want)?;
        match (path, &s.driver_unfit) {
            (ResolvedPath::MemoryDecompression(_), Some(why)) => match want {
                DecodePath::Driver => Err(GpuError::PathUnavailable {
                    path: "Driver",
                    reason: format!("the driver's decoder cannot take this stream: {why}"),
                }),
                _ => Ok(ResolvedPath::Shader),
            },
            _ => Ok(path),
        }
    }

    fn next_value(&self) -> u64 {
        self.next_value.fetch_add(1, Ordering::Relaxed)
    }

    /// Records, submits and waits.
    pub fn run_commands(
        &self,
        record: impl FnOnce(vk::CommandBuffer) -> Result<(), GpuError>,
    ) -> Result<(), GpuError> {
        let value = self.next_value();
        self.pool.run_and_wait(&self.timeline, value, record)
    }

    /// Copies `data` into `dst` at `offset` through the staging pool.
    pub fn upload_to(&self, dst: &GpuBuffer, offset: u64, data: &[u8]) -> Result<(), GpuError> {
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > dst.size())
        {
            return Err(GpuError::Range {
                what: format!(
                    "upload of {} bytes at {offset} into a buffer of {}",
                    data.len(),
                    dst.size()
                ),
            });
        }
        let chunk = self.staging.buffer_size() as usize;
        for (i, part) in data.chunks(chunk).enumerate() {
            let mut lease = self.staging.acquire()?;
            let buf = lease.buffer_mut();
            buf.mapped_mut().expect("staging buffers are mapped")[..part.len()]
                .copy_from_slice(part);
            buf.flush(0, part.len() as u64)?;
            let src = buf.handle();
            let at = offset + (i * chunk) as u64;
            self.run_commands(|cmd| {
                let region = vk::BufferCopy::default()
                    .src_offset(0)
                    .dst_offset(at)
                    .size(part.len() as u64);
                // SAFETY: recording buffer; both buffers alive until the wait in run_commands.
                unsafe {
                    self.ctx
                        .device()
                        .cmd_copy_buffer(cmd, src, dst.handle(), &[region]);
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Copies `len` bytes of `src` at `offset` back to the host.
    pub fn download(&self, src: &GpuBuffer, offset: u64, len: u64) -> Result<Vec<u8>, GpuError> {
        if offset.checked_add(len).is_none_or(|e| e > src.size()) {
            return Err(GpuError::Range {
                what: format!("download of {len} bytes at {offset} from {}", src.size()),
            });
        }
        let mut out = Vec::with_capacity(len as usize);
        if len == 0 {
            return Ok(out);
        }
        let chunk = len.min(self.staging.buffer_size());
        let readback = GpuBuffer::new(&self.ctx, chunk, MemoryKind::Readback)?;
        let mut done = 0u64;
        while done < len {
            let n = chunk.min(len - done);
            let at = offset + done;
            self.run_commands(|cmd| {
                let region = vk::BufferCopy::default()
                    .src_offset(at)
                    .dst_offset(0)
                    .size(n);
                // SAFETY: recording buffer; buffers alive until the wait.
                unsafe {
                    // Earlier writes to `src` by any work on the queue come first.
                    record_buffer_barrier(
                        &self.ctx,
                        cmd,
                        (
                            vk::PipelineStageFlags::ALL_COMMANDS,
                            vk::AccessFlags::MEMORY_WRITE,
                        ),
                        (
                            vk::PipelineStageFlags::TRANSFER,
                            vk::AccessFlags::TRANSFER_READ,
                        ),
                    );
                    self.ctx.device().cmd_copy_buffer(
                        cmd,
                        src.handle(),
                        readback.handle(),
                        &[region],
                    );
                    record_buffer_barrier(
                        &self.ctx,
                        cmd,
                        (
                            vk::PipelineStageFlags::TRANSFER,
                            vk::AccessFlags::TRANSFER_WRITE,
                        ),
                        (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ),
                    );
                }
                Ok(())
            })?;
            readback.invalidate(0, n)?;
            out.extend_from_slice(
                &readback.mapped().expect("readback buffers are mapped")[..n as usize],
            );
            done += n;
        }
        Ok(out)
    }

    /// Parses `stream` (CPU), creates device-local buffers for it and uploads it with its tile
    /// descriptors. The stream stays resident; decode it any number of times.
    pub fn upload(&self, stream: &[u8]) -> Result<ResidentStream, GpuError> {
        let parsed = ds_gdeflate::TileStream::parse(stream)?;
        let descs = tile_descs(&parsed, 0, 0)?;
        let num_tiles = descs.len();
        let src_size = (stream.len() as u64).div_ceil(4).max(1) * 4;
        let dst_size = parsed.uncompressed_size().div_ceil(4).max(1) * 4;
        let slots = (num_tiles as u64).max(1) * SLOT;
        let src = GpuBuffer::new(&self.ctx, src_size, MemoryKind::DeviceLocal)?;
        let dst = GpuBuffer::new(&self.ctx, dst_size, MemoryKind::DeviceLocal)?;
        let tiles = GpuBuffer::new(&self.ctx, slots, MemoryKind::DeviceLocal)?;
        let status = GpuBuffer::new(&self.ctx, slots, MemoryKind::DeviceLocal)?;
        let mut padded = stream.to_vec();
        padded.resize(src_size as usize, 0);
        self.upload_to(&src, 0, &padded)?;
        let mut table: Vec<u8> = descs.iter().flat_map(|d| d.to_bytes()).collect();
        table.resize(slots as usize, 0);
        self.upload_to(&tiles, 0, &table)?;
        let set = self.shader.bind(&DecodeBindings {
            src: src.range(),
            dst: dst.range(),
            tiles: tiles.range(),
            status: status.range(),
        })?;
        let (regions, driver_unfit) = if self.driver.is_some() {
            match regions_for_stream(&parsed, src.device_address(), dst.device_address()) {
                Ok(r) => (r, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            }
        } else {
            (Vec::new(), None)
        };
        Ok(ResidentStream {
            src,
            dst,
            tiles,
            status,
            set,
            regions,
            driver_unfit,
            num_tiles: num_tiles as u32,
            compressed_size: stream.len() as u64,
            uncompressed_size: parsed.uncompressed_size(),
        })
    }

    /// Records one decode of `s` on `path`, with the barriers that order it after earlier
    /// transfers and decodes and before later transfers, shader reads and host reads.
    ///
    /// # Safety
    /// `cmd` is a command buffer of this device in the recording state; `s` stays alive until
    /// the work completes.
    pub unsafe fn record(
        &self,
        cmd: vk::CommandBuffer,
        s: &ResidentStream,
        path: ResolvedPath,
    ) -> Result<(), GpuError> {
        use vk::AccessFlags as A;
        use vk::PipelineStageFlags as P;
        let before = (
            P::TRANSFER | P::COMPUTE_SHADER,
            A::TRANSFER_WRITE | A::SHADER_WRITE | A::SHADER_READ | A::TRANSFER_READ,
        );
        let after = (
            P::TRANSFER | P::COMPUTE_SHADER | P::HOST,
            A::TRANSFER_READ | A::SHADER_READ | A::SHADER_WRITE | A::HOST_READ,
        );
        if s.num_tiles == 0 {
            return Ok(());
        }
        match path {
            ResolvedPath::Shader => {
                // SAFETY: recording buffer (caller); buffers of `s` alive (caller).
                unsafe {
                    record_buffer_barrier(&self.ctx, cmd, before, (P::TRANSFER, A::TRANSFER_WRITE));
                    self.ctx.device().cmd_fill_buffer(
                        cmd,
                        s.status.handle(),
                        0,
                        vk::WHOLE_SIZE,
                        STATUS_UNWRITTEN,
                    );
                    record_buffer_barrier(
                        &self.ctx,
                        cmd,
                        (
                            P::TRANSFER | P::COMPUTE_SHADER,
                            A::TRANSFER_WRITE | A::SHADER_WRITE | A::SHADER_READ,
                        ),
                        (P::COMPUTE_SHADER, A::SHADER_READ | A::SHADER_WRITE),
                    );
                    self.shader.record(cmd, &s.set, 0, s.num_tiles);
                    record_buffer_barrier(
                        &self.ctx,
                        cmd,
                        (P::COMPUTE_SHADER, A::SHADER_WRITE),
                        after,
                    );
                }
            }
            ResolvedPath::MemoryDecompression(_) => {
                let driver = self.driver.as_ref().ok_or(GpuError::PathUnavailable {
                    path: "Driver",
                    reason: "no memory-decompression extension".into(),
                })?;
                if let Some(why) = &s.driver_unfit {
                    return Err(GpuError::PathUnavailable {
                        path: "Driver",
                        reason: format!("the driver's decoder cannot take this stream: {why}"),
                    });
                }
                let all = (P::ALL_COMMANDS, A::MEMORY_READ | A::MEMORY_WRITE);
                // SAFETY: recording buffer; regions built for the buffers of `s`.
                unsafe {
                    record_buffer_barrier(&self.ctx, cmd, all, all);
                    driver.record(cmd, &s.regions)?;
                    record_buffer_barrier(&self.ctx, cmd, all, all);
                }
            }
        }
        Ok(())
    }

    /// Decodes `s` on `path` and waits.
    pub fn decode(&self, s: &ResidentStream, path: ResolvedPath) -> Result<(), GpuError> {
        // SAFETY: run_commands waits before returning, so `s` outlives the work.
        self.run_commands(|cmd| unsafe { self.record(cmd, s, path) })
    }

    /// Per-tile outcome of the last shader decode of `s`.
    pub fn tile_results(&self, s: &ResidentStream) -> Result<Vec<Result<(), TileError>>, GpuError> {
        if s.num_tiles == 0 {
            return Ok(Vec::new());
        }
        let raw = self.download(&s.status, 0, u64::from(s.num_tiles) * SLOT)?;
        Ok(raw
            .chunks_exact(SLOT as usize)
            .map(|c| TileStatus::from_bytes(c).result())
            .collect())
    }

    /// The decoded bytes of `s`.
    pub fn output(&self, s: &ResidentStream) -> Result<Vec<u8>, GpuError> {
        self.download(&s.dst, 0, s.uncompressed_size)
    }

    /// Uploads, decodes on `path` and reads back output and per-tile outcomes.
    pub fn decode_report(&self, stream: &[u8], path: DecodePath) -> Result<DecodeReport, GpuError> {
        self.resolve(path)?;
        let s = self.upload(stream)?;
        let path = self.path_for(&s, path)?;
        self.decode(&s, path)?;
        let tiles = match path {
            ResolvedPath::Shader => self.tile_results(&s)?,
            ResolvedPath::MemoryDecompression(_) => vec![Ok(()); s.num_tiles as usize],
        };
        Ok(DecodeReport {
            output: self.output(&s)?,
            tiles,
            path,
        })
    }

    /// Decompresses a whole stream on the GPU; the first failing tile is the error.
    pub fn decompress(&self, stream: &[u8], path: DecodePath) -> Result<Vec<u8>, GpuError> {
        let r = self.decode_report(stream, path)?;
        match r.first_error() {
            Some((tile, error)) => Err(GpuError::Tile { tile, error }),
            None => Ok(r.output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_bytes_are_little_endian_uvec4() {
        let d = TileDesc {
            src_offset: 1,
            compressed_size: 0x0203,
            dst_offset: 0x04050607,
            output_size: 65536,
        };
        assert_eq!(
            d.to_bytes(),
            [1, 0, 0, 0, 3, 2, 0, 0, 7, 6, 5, 4, 0, 0, 1, 0]
        );
    }

    #[test]
    fn status_codes_map_to_errors() {
        let s = TileStatus::from_bytes(&[0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(
            s,
            TileStatus {
                code: 0,
                produced: 1,
                consumed: 2,
                blocks: 3
            }
        );
        assert_eq!(s.result(), Ok(()));
        let bad = TileStatus { code: 8, ..s };
        assert_eq!(bad.result(), Err(TileError::Distance));
        let untouched = TileStatus {
            code: STATUS_UNWRITTEN,
            ..s
        };
        assert_eq!(untouched.result(), Err(TileError::NotWritten));
    }

    #[test]
    fn embedded_spirv_is_spirv() {
        assert_eq!(SPIRV.len() % 4, 0);
        assert_eq!(&SPIRV[..4], &0x0723_0203u32.to_le_bytes());
    }
}
