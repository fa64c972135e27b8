//! GPU decode against the CPU decoder (the oracle), validation layer on:
//! - the vectors committed in `tests/data` with both shader variants (the repo stands alone);
//! - every shared vector (`../shared/gdeflate/vectors/gdef`, all levels) bit-exact with the
//!   default (16-bit) tables, and a cross-section with the 32-bit ones;
//! - the shared corrupt streams whose container parses: per tile, the GPU must fail exactly the
//!   tiles the CPU decoder rejects (bitstream corruption is caught by the shader) and match the
//!   CPU output on the others (container corruption is covered in tests/vulkan.rs);
//! - a cross-section of shared vectors with the shared-memory variant, which lavapipe would not
//!   pick by itself;
//! - tiles off 4-byte boundaries at every byte shift, and the driver path where the device has it.

mod common;

use std::path::{Path, PathBuf};

use ds_gpu::*;

fn check_stream(dec: &GpuDecoder, name: &str, bytes: &[u8]) {
    let (cpu_out, cpu_ok) = common::cpu_tiles(bytes).expect("container parses");
    let report = dec
        .decode_report(bytes, DecodePath::Shader)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(report.path, ResolvedPath::Shader);
    assert_eq!(report.output.len(), cpu_out.len(), "{name}");
    assert_eq!(report.tiles.len(), cpu_ok.len(), "{name}");
    for (i, (gpu, cpu)) in report.tiles.iter().zip(&cpu_ok).enumerate() {
        assert_eq!(
            gpu.is_ok(),
            *cpu,
            "{name} tile {i}: GPU {gpu:?}, CPU ok={cpu}"
        );
        if *cpu {
            let at = i * 65536;
            let end = (at + 65536).min(cpu_out.len());
            assert!(
                report.output[at..end] == cpu_out[at..end],
                "{name} tile {i} differs from the CPU decoder"
            );
        }
    }
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn decoder(ctx: &std::sync::Arc<VulkanContext>, variant: VariantChoice) -> GpuDecoder {
    decoder_with(ctx, variant, TableFormat::default())
}

fn decoder_with(
    ctx: &std::sync::Arc<VulkanContext>,
    variant: VariantChoice,
    tables: TableFormat,
) -> GpuDecoder {
    GpuDecoder::new(
        ctx,
        DecoderOptions {
            variant,
            tables,
            ..DecoderOptions::default()
        },
    )
    .unwrap()
}

/// Stored, fixed and dynamic blocks, multi-tile streams, long and far matches, corrupt tiles.
const CROSS_SECTION: [&str; 7] = [
    "gdef/random_64k.L0.gdef",
    "gdef/zeros_64k.L1.gdef",
    "gdef/text_3x64k_plus1.L1.gdef",
    "gdef/text_64k_minus1.L12.gdef",
    "gdef/far_repeat_256k.L9.gdef",
    "corrupt/flip_t0_b200_bit5.gdef",
    "corrupt/btype3.gdef",
];

#[test]
fn committed_vectors_match_the_cpu_decoder_in_both_variants_and_table_formats() {
    let Some(ctx) = common::context() else { return };
    let files = sorted_files(&common::data_dir());
    assert!(files.len() >= 5);
    for (variant, tables) in [
        (VariantChoice::Auto, TableFormat::Wide),
        (
            VariantChoice::Force(ShaderVariant::SharedMemory),
            TableFormat::Wide,
        ),
        (VariantChoice::Auto, TableFormat::Packed16),
    ] {
        let dec = decoder_with(&ctx, variant, tables);
        for p in &files {
            let name = format!("{} ({:?}, {tables:?})", p.display(), dec.shader().variant());
            check_stream(&dec, &name, &std::fs::read(p).unwrap());
        }
    }
    common::assert_clean(&ctx);
}

#[test]
fn decompress_returns_the_output_or_the_failing_tile() {
    let Some(ctx) = common::context() else { return };
    let dec = decoder(&ctx, VariantChoice::Auto);
    let bytes = std::fs::read(common::data("text_300.L9.gdef")).unwrap();
    let mut want = vec![0u8; 300];
    ds_gdeflate::decompress(&bytes, &mut want).unwrap();
    assert_eq!(dec.decompress(&bytes, DecodePath::Auto).unwrap(), want);
    // Flip the block type of the only tile to 3 (BFINAL=1, BTYPE=3 in the first 3 bits).
    let mut bad = bytes.clone();
    let start = ds_gdeflate::TileStream::parse(&bytes)
        .unwrap()
        .tile_offset_in_input(0);
    bad[start] |= 0b111;
    match dec.decompress(&bad, DecodePath::Shader) {
        Err(GpuError::Tile {
            tile: 0,
            error: TileError::BlockType,
        }) => {}
        other => panic!("expected block-type error on tile 0, got {other:?}"),
    }
    common::assert_clean(&ctx);
}

#[test]
fn shared_vectors_match_the_cpu_decoder() {
    let Some(ctx) = common::context() else { return };
    let Some(dir) = common::shared_dir() else {
        return;
    };
    let dec = decoder(&ctx, VariantChoice::Auto);
    let files = sorted_files(&dir.join("gdeflate/vectors/gdef"));
    assert!(files.len() >= 80, "shared vectors: {}", files.len());
    for p in files {
        check_stream(&dec, &p.display().to_string(), &std::fs::read(&p).unwrap());
    }
    drop(dec);
    common::assert_clean(&ctx);
}

#[test]
fn shared_corrupt_streams_fail_per_tile_like_the_cpu_decoder() {
    let Some(ctx) = common::context() else { return };
    let Some(dir) = common::shared_dir() else {
        return;
    };
    let dec = decoder(&ctx, VariantChoice::Auto);
    let mut bitstream_errors = 0;
    for p in sorted_files(&dir.join("gdeflate/vectors/corrupt")) {
        let bytes = std::fs::read(&p).unwrap();
        let Ok((_, ok)) = common::cpu_tiles(&bytes) else {
            continue; // container-level corruption: tests/vulkan.rs
        };
        bitstream_errors += ok.iter().filter(|t| !**t).count();
        check_stream(&dec, &p.display().to_string(), &bytes);
    }
    assert!(
        bitstream_errors >= 10,
        "corrupt tiles seen: {bitstream_errors}"
    );
    drop(dec);
    common::assert_clean(&ctx);
}

#[test]
fn shared_memory_variant_matches_on_a_cross_section() {
    let Some(ctx) = common::context() else { return };
    let Some(dir) = common::shared_dir() else {
        return;
    };
    let dec = decoder(&ctx, VariantChoice::Force(ShaderVariant::SharedMemory));
    for name in CROSS_SECTION {
        let p = dir.join("gdeflate/vectors").join(name);
        check_stream(&dec, &p.display().to_string(), &std::fs::read(&p).unwrap());
    }
    drop(dec);
    common::assert_clean(&ctx);
}

#[test]
fn wide_tables_match_on_a_cross_section() {
    let Some(ctx) = common::context() else { return };
    let Some(dir) = common::shared_dir() else {
        return;
    };
    let dec = decoder_with(&ctx, VariantChoice::Auto, TableFormat::Wide);
    assert_eq!(dec.shader().tables(), TableFormat::Wide);
    for name in CROSS_SECTION {
        let p = dir.join("gdeflate/vectors").join(name);
        check_stream(&dec, &p.display().to_string(), &std::fs::read(&p).unwrap());
    }
    drop(dec);
    common::assert_clean(&ctx);
}

/// The driver's decoder on the committed vectors, where the device has it (NVIDIA); elsewhere a
/// printed skip, or a failure with DS_REQUIRE_NV_DECOMPRESSION=1 (not implied by DS_REQUIRE_ALL:
/// CI has no such device).
#[test]
fn memory_decompression_path_matches_the_cpu_decoder_where_offered() {
    let Some(ctx) = common::context() else { return };
    if ctx.caps().memory_decompression.is_none() {
        if std::env::var("DS_REQUIRE_NV_DECOMPRESSION").is_ok_and(|v| v == "1") {
            panic!("DS_REQUIRE_NV_DECOMPRESSION=1 but the device has no memory decompression");
        }
        println!("skipped: device has no VK_NV/EXT_memory_decompression with GDeflate 1.0");
        return;
    }
    let dec = decoder(&ctx, VariantChoice::Auto);
    for p in sorted_files(&common::data_dir()) {
        let bytes = std::fs::read(&p).unwrap();
        let (want, _) = common::cpu_tiles(&bytes).unwrap();
        let got = dec
            .decompress(&bytes, DecodePath::Driver)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(got == want, "{}: driver output differs", p.display());
    }
    drop(dec);
    common::assert_clean(&ctx);
}

/// A tile stream made of the given tile payloads, each followed by `pad` zero bytes (trailing
/// payload bytes, which decoders accept), the last tile producing `last_len` bytes.
fn pack(payloads: &[&[u8]], last_len: u32, pad: usize) -> Vec<u8> {
    let n = payloads.len();
    let mut out = vec![4u8, 0xFB];
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&(1u32 | ((last_len & 0xFFFF) << 2)).to_le_bytes());
    out.extend_from_slice(&((payloads[n - 1].len() + pad) as u32).to_le_bytes());
    let mut at = 0u32;
    for p in &payloads[..n - 1] {
        at += (p.len() + pad) as u32;
        out.extend_from_slice(&at.to_le_bytes());
    }
    for p in payloads {
        out.extend_from_slice(p);
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out
}

/// Tiles that start off a 4-byte boundary of the stream (legal containers, never written by the
/// reference encoder) decode on the shader at every byte shift, in both variants; the driver's
/// decoder cannot take them, so `DecodePath::Auto` with trusted content falls back to the shader
/// and a forced `DecodePath::Driver` says why it cannot run.
#[test]
fn tiles_off_word_boundaries_decode_on_the_shader() {
    let Some(ctx) = common::context() else { return };
    // A full tile (64 KiB of zeros) followed by a 300-byte tile, from the committed vectors.
    let zeros = std::fs::read(common::data("zeros_64k.L9.gdef")).unwrap();
    let text = std::fs::read(common::data("text_300.L9.gdef")).unwrap();
    let t0 = ds_gdeflate::TileStream::parse(&zeros)
        .unwrap()
        .tile_payload(0)
        .to_vec();
    let t1 = ds_gdeflate::TileStream::parse(&text)
        .unwrap()
        .tile_payload(0)
        .to_vec();
    for variant in [
        VariantChoice::Auto,
        VariantChoice::Force(ShaderVariant::SharedMemory),
    ] {
        let dec = GpuDecoder::new(
            &ctx,
            DecoderOptions {
                variant,
                trusted_content: true,
                ..DecoderOptions::default()
            },
        )
        .unwrap();
        for pad in 1..=4 {
            let padded = pack(&[&t0, &t1], 300, pad);
            let (want, ok) = common::cpu_tiles(&padded).unwrap();
            assert_eq!(ok, [true, true], "the CPU decoder accepts trailing bytes");
            let offset = ds_gdeflate::TileStream::parse(&padded)
                .unwrap()
                .tile_offset_in_input(1);
            assert_eq!(offset % 4, pad % 4);
            let report = dec.decode_report(&padded, DecodePath::Shader).unwrap();
            assert_eq!(report.tiles, [Ok(()), Ok(())], "pad {pad}");
            assert!(report.output == want, "pad {pad}: output differs");
            let auto = dec.decode_report(&padded, DecodePath::Auto).unwrap();
            assert!(auto.output == want, "pad {pad}: Auto output differs");
            if pad % 4 != 0 {
                assert_eq!(auto.path, ResolvedPath::Shader, "pad {pad}");
                if ctx.caps().memory_decompression.is_some() {
                    match dec.decode_report(&padded, DecodePath::Driver) {
                        Err(GpuError::PathUnavailable { reason, .. }) => {
                            assert!(reason.contains("4-byte aligned"), "{reason}")
                        }
                        other => panic!("pad {pad}: forced driver path: {other:?}"),
                    }
                }
            }
        }
    }
    common::assert_clean(&ctx);
}

/// Streams made here with the encoder from runs of text, noise and zeros, so stored blocks
/// (incompressible runs) sit between Huffman blocks in the same tile and start with every lane
/// in a different bit state: the stored path's four-rounds-at-once form must match the CPU
/// decoder however the previous block left the lanes. Alternates variants and table formats.
#[test]
fn generated_mixed_streams_match_the_cpu_decoder() {
    let Some(ctx) = common::context() else { return };
    let configs = [
        (VariantChoice::Auto, TableFormat::Wide),
        (VariantChoice::Auto, TableFormat::Packed16),
        (
            VariantChoice::Force(ShaderVariant::SharedMemory),
            TableFormat::Wide,
        ),
    ];
    let decoders: Vec<GpuDecoder> = configs
        .iter()
        .map(|&(v, t)| decoder_with(&ctx, v, t))
        .collect();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (i, level) in [0u8, 1, 3, 6, 9, 12]
        .into_iter()
        .cycle()
        .take(9)
        .enumerate()
    {
        let len = 30_000 + (next() % 110_000) as usize;
        let mut data = Vec::with_capacity(len + 4096);
        while data.len() < len {
            let run = 1 + (next() % 3000) as usize;
            match next() % 3 {
                0 => {
                    while data.len() < len && run > 0 {
                        data.extend_from_slice(b"texture mesh lane tile ");
                        if next() % 8 == 0 {
                            break;
                        }
                    }
                }
                // Noise runs long enough to make whole blocks incompressible.
                1 => data.extend((0..run * 8).map(|_| next() as u8)),
                _ => data.extend(std::iter::repeat_n(0u8, run)),
            }
        }
        data.truncate(len);
        let stream = ds_gdeflate::encode::compress(&data, level).expect("compress");
        let dec = &decoders[i % decoders.len()];
        let name = format!(
            "generated stream {i} ({len} bytes, level {level}, {:?}, {:?})",
            dec.shader().variant(),
            dec.shader().tables()
        );
        check_stream(dec, &name, &stream);
        let (want, _) = common::cpu_tiles(&stream).expect("parse");
        assert!(want == data, "{name}: the CPU oracle round-trips");
    }
    drop(decoders);
    common::assert_clean(&ctx);
}
