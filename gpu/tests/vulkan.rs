//! Vulkan plumbing on whatever device is present (lavapipe in CI), validation layer on: context
//! creation and adoption, buffers and the staging pool, host-memory import, timeline semaphores,
//! pipeline creation for both shader variants, decode-path selection, and CPU-side rejection of
//! corrupt containers. Any validation warning or error fails the test.
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

mod common;

use std::sync::Arc;

use ds_gpu::vk;
use ds_gpu::*;

#[test]
fn created_context_reports_caps_and_is_clean() {
    let Some(ctx) = common::context() else { return };
    let caps = ctx.caps();
    assert!(ctx.is_owned());
    assert!(caps.api_version >= vk::API_VERSION_1_2);
    assert!(caps.subgroup_size >= 1);
    assert!(caps.max_workgroups_x >= 65535);
    common::assert_clean(&ctx);
}

#[test]
fn adopted_device_is_used_and_left_alive() {
    let Some(owner) = common::context() else {
        return;
    };
    let info = AdoptInfo {
        get_instance_proc_addr: owner.entry().static_fn().get_instance_proc_addr,
        instance: owner.instance().handle(),
        physical_device: owner.physical_device(),
        device: owner.device().handle(),
        queue: *owner.lock_queue(),
        queue_family_index: owner.queue_family(),
        api_version: owner.caps().api_version,
        features: AdoptedFeatures {
            storage_buffer_8bit: true,
            vulkan_memory_model: false,
            vulkan_memory_model_device_scope: false,
            timeline_semaphore: true,
            buffer_device_address: owner.caps().buffer_device_address,
            full_subgroups: owner.caps().full_subgroups,
            external_memory_host: owner.caps().host_import_alignment.is_some(),
            nv_memory_decompression: owner.caps().memory_decompression
                == Some(MemoryDecompressionExt::Nv),
            ext_memory_decompression: owner.caps().memory_decompression
                == Some(MemoryDecompressionExt::Ext),
        },
    };
    // SAFETY: the handles come from `owner`, which outlives `adopted`.
    let adopted = unsafe { VulkanContext::adopt(&info) }.expect("adopt");
    assert!(!adopted.is_owned());
    assert_eq!(adopted.caps().device_name, owner.caps().device_name);
    {
        let dec = GpuDecoder::new(&adopted, DecoderOptions::default()).expect("decoder");
        let buf = GpuBuffer::new(&adopted, 4096, MemoryKind::DeviceLocal).unwrap();
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
        dec.upload_to(&buf, 0, &data).unwrap();
        assert_eq!(dec.download(&buf, 0, 4096).unwrap(), data);
    }
    drop(adopted);
    // The embedder's device still works after the adopted context is gone.
    let buf = GpuBuffer::new(&owner, 256, MemoryKind::Upload).expect("owner device alive");
    assert_eq!(buf.size(), 256);
    drop(buf);
    owner.wait_idle().unwrap();
    common::assert_clean(&owner);
}

#[test]
fn adopt_refuses_missing_required_features() {
    let Some(owner) = common::context() else {
        return;
    };
    let info = AdoptInfo {
        get_instance_proc_addr: owner.entry().static_fn().get_instance_proc_addr,
        instance: owner.instance().handle(),
        physical_device: owner.physical_device(),
        device: owner.device().handle(),
        queue: *owner.lock_queue(),
        queue_family_index: owner.queue_family(),
        api_version: owner.caps().api_version,
        features: AdoptedFeatures {
            storage_buffer_8bit: true,
            vulkan_memory_model: true,
            vulkan_memory_model_device_scope: false,
            timeline_semaphore: true,
            ..AdoptedFeatures::default()
        },
    };
    // SAFETY: valid handles from `owner`; adoption fails before using them.
    let err = unsafe { VulkanContext::adopt(&info) }.unwrap_err();
    assert!(
        err.to_string().contains("vulkanMemoryModelDeviceScope"),
        "{err}"
    );
    let no_8bit = AdoptInfo {
        features: AdoptedFeatures {
            storage_buffer_8bit: false,
            timeline_semaphore: true,
            ..AdoptedFeatures::default()
        },
        ..info
    };
    // SAFETY: as above.
    let err = unsafe { VulkanContext::adopt(&no_8bit) }.unwrap_err();
    assert!(err.to_string().contains("storageBuffer8BitAccess"), "{err}");
    common::assert_clean(&owner);
}

#[test]
fn staging_pool_reuses_and_bounds_buffers() {
    let Some(ctx) = common::context() else { return };
    let pool = StagingPool::new(&ctx, 1 << 16, 2, MemoryKind::Upload).unwrap();
    let a = pool.acquire().unwrap();
    let b = pool.acquire().unwrap();
    assert_eq!(pool.created(), 2);
    assert!(pool.try_acquire().unwrap().is_none(), "capacity is 2");
    let handle_a = a.buffer().handle();
    drop(a);
    let c = pool
        .try_acquire()
        .unwrap()
        .expect("a returned buffer is reused");
    assert_eq!(c.buffer().handle(), handle_a);
    assert_eq!(pool.created(), 2);
    assert!(c.buffer().mapped().is_some());
    drop((b, c));
    assert!(StagingPool::new(&ctx, 0, 1, MemoryKind::Upload).is_err());
    assert!(StagingPool::new(&ctx, 1, 1, MemoryKind::DeviceLocal).is_err());
    drop(pool);
    common::assert_clean(&ctx);
}

#[test]
fn uploads_and_downloads_cross_staging_chunks() {
    let Some(ctx) = common::context() else { return };
    let dec = GpuDecoder::new(
        &ctx,
        DecoderOptions {
            staging_size: 64 << 10,
            staging_buffers: 1,
            ..DecoderOptions::default()
        },
    )
    .unwrap();
    let data: Vec<u8> = (0..200_003u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    let buf = GpuBuffer::new(&ctx, 200_016, MemoryKind::DeviceLocal).unwrap();
    dec.upload_to(&buf, 12, &data).unwrap();
    assert_eq!(dec.download(&buf, 12, data.len() as u64).unwrap(), data);
    assert!(dec.upload_to(&buf, 14, &data).is_err(), "past the end");
    assert!(dec.download(&buf, 1, 200_016).is_err(), "past the end");
    assert_eq!(dec.staging().created(), 1);
    drop((buf, dec));
    common::assert_clean(&ctx);
}

#[test]
fn host_memory_import_is_written_in_place() {
    let Some(ctx) = common::context() else { return };
    let Some(align) = ctx.caps().host_import_alignment else {
        if std::env::var("DS_REQUIRE_HOST_IMPORT").is_ok_and(|v| v == "1") {
            panic!("VK_EXT_external_memory_host required but not offered");
        }
        println!("skipped: device has no VK_EXT_external_memory_host");
        return;
    };
    let len = (3 * align) as usize;
    let layout = std::alloc::Layout::from_size_align(len, align as usize).unwrap();
    // SAFETY: non-zero size, valid alignment.
    let host = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!host.is_null());
    assert_eq!(ImportedHostBuffer::can_import(&ctx, host, len), Some(true));
    assert_eq!(
        ImportedHostBuffer::can_import(&ctx, host, len - 1),
        Some(false)
    );
    {
        // SAFETY: the allocation outlives the import (freed below) and the host does not touch
        // it while the copy runs (run_commands waits).
        let imported = unsafe { ImportedHostBuffer::import(&ctx, host, len) }.unwrap();
        let dec = GpuDecoder::new(&ctx, DecoderOptions::default()).unwrap();
        let src = GpuBuffer::new(&ctx, len as u64, MemoryKind::DeviceLocal).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
        dec.upload_to(&src, 0, &data).unwrap();
        dec.run_commands(|cmd| {
            let region = vk::BufferCopy::default().size(len as u64);
            // SAFETY: recording buffer; both buffers alive until run_commands waits.
            unsafe {
                ctx.device()
                    .cmd_copy_buffer(cmd, src.handle(), imported.handle(), &[region]);
                ds_gpu::decode::record_buffer_barrier(
                    &ctx,
                    cmd,
                    (
                        vk::PipelineStageFlags::TRANSFER,
                        vk::AccessFlags::TRANSFER_WRITE,
                    ),
                    (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ),
                );
            }
            Ok(())
        })
        .unwrap();
        // SAFETY: the GPU copy has completed; the memory is ours again.
        let got = unsafe { std::slice::from_raw_parts(host, len) };
        assert_eq!(got, &data[..]);
    }
    // SAFETY: allocated above with this layout; the import is dropped.
    unsafe { std::alloc::dealloc(host, layout) };
    common::assert_clean(&ctx);
}

#[test]
fn timeline_semaphore_counts_host_and_gpu_signals() {
    let Some(ctx) = common::context() else { return };
    let t = TimelineSemaphore::new(&ctx, 5).unwrap();
    assert_eq!(t.value().unwrap(), 5);
    assert!(!t.wait(6, 1_000_000).unwrap(), "not yet signalled");
    t.signal(6).unwrap();
    assert!(t.wait(6, 0).unwrap());
    let pool = CommandPool::new(&ctx).unwrap();
    pool.run_and_wait(&t, 9, |_| Ok(())).unwrap();
    assert_eq!(t.value().unwrap(), 9);
    drop((pool, t));
    common::assert_clean(&ctx);
}

#[test]
fn both_shader_variants_build_where_allowed() {
    let Some(ctx) = common::context() else { return };
    let shared =
        ShaderDecoder::new(&ctx, VariantChoice::Force(ShaderVariant::SharedMemory)).unwrap();
    assert_eq!(shared.variant(), ShaderVariant::SharedMemory);
    let auto = ShaderDecoder::new(&ctx, VariantChoice::Auto).unwrap();
    let forced = ShaderDecoder::new(&ctx, VariantChoice::Force(ShaderVariant::Subgroup));
    match auto.variant() {
        ShaderVariant::Subgroup => assert!(forced.is_ok()),
        ShaderVariant::SharedMemory => assert!(forced.is_err()),
    }
    drop((shared, auto, forced));
    common::assert_clean(&ctx);
}

/// The decode-path policy: Auto is the validating shader unless the content is declared trusted
/// and the device has the driver's decoder; Shader and Driver force a path.
#[test]
fn decode_path_follows_trust_and_device_extensions() {
    let Some(ctx) = common::context() else { return };
    let untrusted = GpuDecoder::new(&ctx, DecoderOptions::default()).unwrap();
    let trusted = GpuDecoder::new(
        &ctx,
        DecoderOptions {
            trusted_content: true,
            ..DecoderOptions::default()
        },
    )
    .unwrap();
    for dec in [&untrusted, &trusted] {
        assert_eq!(
            dec.resolve(DecodePath::Shader).unwrap(),
            ResolvedPath::Shader
        );
    }
    assert_eq!(
        untrusted.resolve(DecodePath::Auto).unwrap(),
        ResolvedPath::Shader,
        "untrusted content never goes to the driver by default"
    );
    match ctx.caps().memory_decompression {
        Some(kind) => {
            assert_eq!(
                trusted.resolve(DecodePath::Auto).unwrap(),
                ResolvedPath::MemoryDecompression(kind)
            );
            assert_eq!(
                untrusted.resolve(DecodePath::Driver).unwrap(),
                ResolvedPath::MemoryDecompression(kind)
            );
            assert!(MemoryDecompressor::new(&ctx).is_ok());
        }
        None => {
            assert_eq!(
                trusted.resolve(DecodePath::Auto).unwrap(),
                ResolvedPath::Shader
            );
            let err = trusted.resolve(DecodePath::Driver).unwrap_err();
            assert!(matches!(err, GpuError::PathUnavailable { .. }), "{err}");
            assert!(MemoryDecompressor::new(&ctx).is_err());
        }
    }
    drop((untrusted, trusted));
    common::assert_clean(&ctx);
}

#[test]
fn corrupt_containers_are_rejected_before_the_gpu() {
    let Some(ctx) = common::context() else { return };
    let dec = GpuDecoder::new(&ctx, DecoderOptions::default()).unwrap();
    let good = std::fs::read(common::data("text_300.L9.gdef")).unwrap();
    let mut cases: Vec<Vec<u8>> = vec![good[..4].to_vec(), good[..10].to_vec()];
    let mut bad_id = good.clone();
    bad_id[0] = 5;
    cases.push(bad_id);
    let mut bad_last = good.clone();
    bad_last[4..8].copy_from_slice(&(1u32 | (70000 << 2)).to_le_bytes());
    cases.push(bad_last);
    let mut short = good.clone();
    short.truncate(good.len() - 1);
    cases.push(short);
    for (i, c) in cases.iter().enumerate() {
        let cpu = ds_gdeflate::TileStream::parse(c);
        assert!(cpu.is_err(), "case {i} must be a container error");
        match dec.upload(c) {
            Err(GpuError::Container(e)) => assert_eq!(Err(e), cpu.map(|_| ())),
            other => panic!("case {i}: expected a container error, got {other:?}"),
        }
    }
    let shared = common::shared_dir();
    if let Some(dir) = shared {
        let manifest =
            std::fs::read_to_string(dir.join("gdeflate/vectors/corrupt_manifest.tsv")).unwrap();
        let mut n = 0;
        for line in manifest.lines().skip(1) {
            let name = line.split('\t').next().unwrap();
            let bytes = std::fs::read(
                dir.join("gdeflate/vectors/corrupt")
                    .join(format!("{name}.gdef")),
            )
            .unwrap();
            if let Err(e) = ds_gdeflate::TileStream::parse(&bytes) {
                match dec.upload(&bytes) {
                    Err(GpuError::Container(g)) => assert_eq!(g, e, "{name}"),
                    other => panic!("{name}: expected {e}, got {other:?}"),
                }
                n += 1;
            }
        }
        assert!(n > 5, "container-level corrupt vectors found: {n}");
    }
    drop(dec);
    common::assert_clean(&ctx);
}

#[test]
fn resident_stream_has_one_descriptor_per_tile() {
    let Some(ctx) = common::context() else { return };
    let dec = GpuDecoder::new(&ctx, DecoderOptions::default()).unwrap();
    let bytes = std::fs::read(common::data("zeros_64k.L9.gdef")).unwrap();
    let s = dec.upload(&bytes).unwrap();
    assert_eq!(s.num_tiles, 1);
    assert_eq!(s.uncompressed_size, 65536);
    let table = dec.download(&s.tiles, 0, 16).unwrap();
    let parsed = ds_gdeflate::TileStream::parse(&bytes).unwrap();
    let want = TileDesc {
        src_offset: parsed.tile_offset_in_input(0) as u32,
        compressed_size: parsed.tile_payload(0).len() as u32,
        dst_offset: 0,
        output_size: 65536,
    };
    assert_eq!(table, want.to_bytes());
    assert!(
        Arc::strong_count(&ctx) > 1,
        "the stream's buffers hold the context"
    );
    drop((s, dec));
    common::assert_clean(&ctx);
}
