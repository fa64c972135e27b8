//! The driver's own GDeflate decoder: `vkCmdDecompressMemoryNV` (`VK_NV_memory_decompression`) or
//! `vkCmdDecompressMemoryEXT` (`VK_EXT_memory_decompression`), one region per 64 KiB tile with
//! source and destination device addresses.
//!
//! ash 0.38 has the NV entry points but predates the EXT extension, so the EXT command and its
//! structures are declared here from the Vulkan registry (`VkDecompressMemoryInfoEXT`, sType
//! 1000550002; `VkDecompressMemoryRegionEXT`) and loaded with `vkGetDeviceProcAddr`.
//!
//! The driver reports no per-tile status: a stream is checked on the CPU side (container parse,
//! alignment) before any region is recorded.
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::ffi::c_void;
use std::sync::Arc;

use ash::vk;

use crate::context::{MemoryDecompressionExt, VulkanContext};
use crate::error::GpuError;

/// `VK_STRUCTURE_TYPE_DECOMPRESS_MEMORY_INFO_EXT`.
const STRUCTURE_TYPE_DECOMPRESS_MEMORY_INFO_EXT: i32 = 1_000_550_002;
/// `VK_MEMORY_DECOMPRESSION_METHOD_GDEFLATE_1_0_BIT_{NV,EXT}`.
pub const GDEFLATE_1_0: u64 = 0x1;
/// Largest region output the GDeflate method accepts (one tile).
pub const MAX_REGION_OUTPUT: u64 = 65536;

/// `VkDecompressMemoryRegionEXT`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct RegionExt {
    src_address: u64,
    dst_address: u64,
    compressed_size: u64,
    decompressed_size: u64,
}

/// `VkDecompressMemoryInfoEXT`.
#[repr(C)]
struct InfoExt {
    s_type: i32,
    p_next: *const c_void,
    decompression_method: u64,
    region_count: u32,
    p_regions: *const RegionExt,
}

type CmdDecompressMemoryExt = unsafe extern "system" fn(vk::CommandBuffer, *const InfoExt);

/// One tile to decompress: device addresses and sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Device address of the tile payload.
    pub src_address: u64,
    /// Device address of the tile's output.
    pub dst_address: u64,
    /// Payload bytes.
    pub compressed_size: u64,
    /// Output bytes (1..=65536).
    pub decompressed_size: u64,
}

/// Builds one region per tile of `stream`, with the stream at `src_address` and the output at
/// `dst_address`, checking what the extension requires: 4-byte-aligned source and destination
/// addresses, non-empty sizes, at most 64 KiB of output per region, and source and destination
/// ranges that do not overlap.
pub fn regions_for_stream(
    stream: &ds_gdeflate::TileStream<'_>,
    src_address: u64,
    dst_address: u64,
) -> Result<Vec<Region>, GpuError> {
    let src_end = src_address + stream.input().len() as u64;
    let dst_end = dst_address + stream.uncompressed_size();
    if src_address < dst_end && dst_address < src_end {
        return Err(GpuError::Range {
            what: format!(
                "source {src_address:#x}..{src_end:#x} overlaps destination {dst_address:#x}..{dst_end:#x}"
            ),
        });
    }
    let mut out = Vec::with_capacity(stream.num_tiles());
    for i in 0..stream.num_tiles() {
        let r = Region {
            src_address: src_address + stream.tile_offset_in_input(i) as u64,
            dst_address: dst_address + stream.tile_output_offset(i),
            compressed_size: stream.tile_payload(i).len() as u64,
            decompressed_size: stream.tile_uncompressed_len(i) as u64,
        };
        check_region(&r).map_err(|what| GpuError::Range {
            what: format!("tile {i}: {what}"),
        })?;
        out.push(r);
    }
    Ok(out)
}

/// Checks one region against the extension's valid-usage rules.
pub fn check_region(r: &Region) -> Result<(), String> {
    if !r.src_address.is_multiple_of(4) {
        return Err(format!(
            "source address {:#x} not 4-byte aligned",
            r.src_address
        ));
    }
    if !r.dst_address.is_multiple_of(4) {
        return Err(format!(
            "destination address {:#x} not 4-byte aligned",
            r.dst_address
        ));
    }
    if r.compressed_size == 0 || r.decompressed_size == 0 {
        return Err("empty region".into());
    }
    if r.decompressed_size > MAX_REGION_OUTPUT {
        return Err(format!(
            "{} output bytes, more than {MAX_REGION_OUTPUT}",
            r.decompressed_size
        ));
    }
    Ok(())
}

enum Entry {
    Nv(ash::nv::memory_decompression::Device),
    Ext(CmdDecompressMemoryExt),
}

/// Records memory-decompression commands on a device that has the extension enabled.
pub struct MemoryDecompressor {
    _ctx: Arc<VulkanContext>,
    entry: Entry,
}

impl std::fmt::Debug for MemoryDecompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDecompressor")
            .field("kind", &self.kind())
            .finish()
    }
}

impl MemoryDecompressor {
    /// Loads the entry points, or says why the device cannot decompress memory.
    pub fn new(ctx: &Arc<VulkanContext>) -> Result<Self, GpuError> {
        let unavailable = |reason: &str| GpuError::PathUnavailable {
            path: "memory decompression",
            reason: reason.into(),
        };
        let entry = match ctx.caps().memory_decompression {
            None => {
                return Err(unavailable(
                    "device has no VK_NV/EXT_memory_decompression with GDeflate 1.0 and buffer device address enabled",
                ))
            }
            Some(MemoryDecompressionExt::Nv) => Entry::Nv(
                ash::nv::memory_decompression::Device::new(ctx.instance(), ctx.device()),
            ),
            Some(MemoryDecompressionExt::Ext) => {
                // SAFETY: valid device with the extension enabled; the name is NUL-terminated.
                let f = unsafe {
                    (ctx.instance().fp_v1_0().get_device_proc_addr)(
                        ctx.device().handle(),
                        c"vkCmdDecompressMemoryEXT".as_ptr(),
                    )
                };
                let Some(f) = f else {
                    return Err(unavailable("vkCmdDecompressMemoryEXT not found"));
                };
                // SAFETY: the loader returned this entry point for this name, whose C signature
                // is `void (VkCommandBuffer, const VkDecompressMemoryInfoEXT*)`.
                Entry::Ext(unsafe {
                    std::mem::transmute::<unsafe extern "system" fn(), CmdDecompressMemoryExt>(f)
                })
            }
        };
        Ok(MemoryDecompressor {
            _ctx: ctx.clone(),
            entry,
        })
    }

    /// Which extension is used.
    pub fn kind(&self) -> MemoryDecompressionExt {
        match self.entry {
            Entry::Nv(_) => MemoryDecompressionExt::Nv,
            Entry::Ext(_) => MemoryDecompressionExt::Ext,
        }
    }

    /// Records the decompression of `regions` (checked again here).
    ///
    /// # Safety
    /// `cmd` must be a command buffer of the context's device in the recording state; every
    /// region must lie inside buffers created by this crate (device address and decompression
    /// usage) that stay alive until the work completes.
    pub unsafe fn record(
        &self,
        cmd: vk::CommandBuffer,
        regions: &[Region],
    ) -> Result<(), GpuError> {
        for (i, r) in regions.iter().enumerate() {
            check_region(r).map_err(|what| GpuError::Range {
                what: format!("region {i}: {what}"),
            })?;
        }
        if regions.is_empty() {
            return Ok(());
        }
        match &self.entry {
            Entry::Nv(dev) => {
                let v: Vec<vk::DecompressMemoryRegionNV> = regions
                    .iter()
                    .map(|r| vk::DecompressMemoryRegionNV {
                        src_address: r.src_address,
                        dst_address: r.dst_address,
                        compressed_size: r.compressed_size,
                        decompressed_size: r.decompressed_size,
                        decompression_method: vk::MemoryDecompressionMethodFlagsNV::from_raw(
                            GDEFLATE_1_0,
                        ),
                    })
                    .collect();
                // SAFETY: recording command buffer (caller), regions checked above.
                unsafe { dev.cmd_decompress_memory(cmd, &v) };
            }
            Entry::Ext(f) => {
                let v: Vec<RegionExt> = regions
                    .iter()
                    .map(|r| RegionExt {
                        src_address: r.src_address,
                        dst_address: r.dst_address,
                        compressed_size: r.compressed_size,
                        decompressed_size: r.decompressed_size,
                    })
                    .collect();
                let count = u32::try_from(v.len()).map_err(|_| GpuError::Range {
                    what: format!("{} regions in one command", v.len()),
                })?;
                let info = InfoExt {
                    s_type: STRUCTURE_TYPE_DECOMPRESS_MEMORY_INFO_EXT,
                    p_next: std::ptr::null(),
                    decompression_method: GDEFLATE_1_0,
                    region_count: count,
                    p_regions: v.as_ptr(),
                };
                // SAFETY: the entry point takes this layout; `info` and `v` outlive the call.
                unsafe { f(cmd, &info) };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(tiles: &[&[u8]], last_len: u32) -> Vec<u8> {
        // A container around arbitrary payloads (regions do not look inside them).
        let n = tiles.len();
        let mut v = vec![4u8, 0xFB];
        v.extend_from_slice(&(n as u16).to_le_bytes());
        v.extend_from_slice(&(1u32 | (last_len << 2)).to_le_bytes());
        let mut offs = Vec::new();
        let mut at = 0u32;
        for t in tiles {
            offs.push(at);
            at += t.len() as u32;
        }
        v.extend_from_slice(&(tiles[n - 1].len() as u32).to_le_bytes());
        for o in &offs[1..] {
            v.extend_from_slice(&o.to_le_bytes());
        }
        for t in tiles {
            v.extend_from_slice(t);
        }
        v
    }

    #[test]
    fn one_region_per_tile_with_addresses_and_sizes() {
        let a = [0u8; 136];
        let b = [0u8; 140];
        let c = [0u8; 132];
        let bytes = stream(&[&a, &b, &c], 100);
        let s = ds_gdeflate::TileStream::parse(&bytes).unwrap();
        let r = regions_for_stream(&s, 0x10000, 0x100000).unwrap();
        assert_eq!(r.len(), 3);
        let data = 8 + 12;
        assert_eq!(r[0].src_address, 0x10000 + data);
        assert_eq!(r[1].src_address, 0x10000 + data + 136);
        assert_eq!(r[2].src_address, 0x10000 + data + 276);
        assert_eq!(r[1].dst_address, 0x100000 + 65536);
        assert_eq!(r[2].dst_address, 0x100000 + 131072);
        assert_eq!(
            r.iter().map(|r| r.compressed_size).collect::<Vec<_>>(),
            [136, 140, 132]
        );
        assert_eq!(
            r.iter().map(|r| r.decompressed_size).collect::<Vec<_>>(),
            [65536, 65536, 100]
        );
    }

    #[test]
    fn misaligned_addresses_are_refused() {
        let a = [0u8; 136];
        let bytes = stream(&[&a], 0);
        let s = ds_gdeflate::TileStream::parse(&bytes).unwrap();
        let e = regions_for_stream(&s, 0x10002, 0x100000).unwrap_err();
        assert!(e.to_string().contains("source address"), "{e}");
        let e = regions_for_stream(&s, 0x10000, 0x100001).unwrap_err();
        assert!(e.to_string().contains("destination address"), "{e}");
    }

    #[test]
    fn overlapping_source_and_destination_are_refused() {
        let a = [0u8; 136];
        let bytes = stream(&[&a], 0);
        let s = ds_gdeflate::TileStream::parse(&bytes).unwrap();
        assert!(regions_for_stream(&s, 0x1000, 0x1000 + 64).is_err());
        assert!(regions_for_stream(&s, 0x1000 + 65536, 0x1000).is_ok());
    }

    #[test]
    fn region_rules() {
        let ok = Region {
            src_address: 4,
            dst_address: 8,
            compressed_size: 132,
            decompressed_size: 65536,
        };
        assert!(check_region(&ok).is_ok());
        assert!(check_region(&Region {
            decompressed_size: 65537,
            ..ok
        })
        .is_err());
        assert!(check_region(&Region {
            compressed_size: 0,
            ..ok
        })
        .is_err());
        assert!(check_region(&Region {
            decompressed_size: 0,
            ..ok
        })
        .is_err());
    }
}
