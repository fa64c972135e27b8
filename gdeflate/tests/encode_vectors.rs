//! Committed encoder-made vectors (`tests/vectors/enc`), so the encoder
//! and decoder check each other without `../shared`.
//!
//! Each original is made by a deterministic generator below and must match
//! the SHA-256 in `tests/vectors/enc/MANIFEST.tsv` (this guards the
//! generators). Each committed `NAME.L<level>.gdef` must match its SHA-256,
//! decode (strictly) to the original, and be exactly what today's encoder
//! produces at that level: output is deterministic, so any change in it is
//! deliberate. After an intended encoder change, run this test with
//! `DS_BLESS_ENC_VECTORS=1` to rewrite the streams and the manifest, and
//! review the size changes in the diff.

mod common;

use ds_gdeflate::encode::compress;
use ds_gdeflate::{decompress_with, DecodeOptions};
use std::path::PathBuf;

/// xorshift64* bytes.
fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Sentences from a vocabulary with skewed word frequencies.
fn text(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 24] = [
        "the", "a", "tile", "stream", "lane", "decoder", "block", "of", "to", "and", "GDeflate",
        "Huffman", "match", "window", "turn", "word", "refill", "bits", "in", "is", "every",
        "stored", "dynamic", "fixed",
    ];
    let r = random(n, seed);
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0;
    while out.len() < n {
        let a = r[i % n] as usize;
        let b = r[(i * 13 + 5) % n] as usize;
        out.extend_from_slice(WORDS[(a * b) % 24 * (a % 3 + 1) / 3].as_bytes());
        out.push(if a.is_multiple_of(11) { b'\n' } else { b' ' });
        i += 1;
    }
    out.truncate(n);
    out
}

/// Interleaved vertex records (position, normal, uv as f32) on a smooth
/// surface: binary data with 32-byte structure. Only IEEE basic arithmetic
/// (exactly rounded everywhere), no libm calls.
fn mesh(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u32;
    while out.len() < n {
        let (u, v) = ((i % 64) as f32 / 63.0, (i / 64 % 64) as f32 / 63.0);
        let z = u * v * 3.0 - u * u * 1.5 + v * 0.25;
        for f in [u * 10.0, v * 10.0, z, -z, 0.5, 1.0, u, v] {
            out.extend_from_slice(&f.to_le_bytes());
        }
        i += 1;
    }
    out.truncate(n);
    out
}

/// Text, zeros, random bytes and a periodic pattern, over two tiles.
fn mixed() -> Vec<u8> {
    let mut out = text(40000, 77);
    out.extend(std::iter::repeat_n(0u8, 20000));
    out.extend(random(10000, 78));
    let period = random(700, 79);
    while out.len() < 100_000 {
        out.extend_from_slice(&period);
    }
    out.truncate(100_000);
    out
}

/// (name, generator, levels)
fn cases() -> Vec<(&'static str, Vec<u8>, &'static [u8])> {
    vec![
        ("text_20k", text(20000, 1), &[1, 9, 12]),
        ("mesh_24k", mesh(24576), &[4, 10]),
        ("zeros_70k", vec![0u8; 70000], &[1, 9]),
        ("random_3k", random(3000, 2), &[0, 6]),
        ("random_64k_plus64", random(65536 + 64, 3), &[9]),
        ("mixed_100k", mixed(), &[5, 11]),
    ]
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/enc")
}

#[test]
fn committed_encoder_vectors_decode_and_are_reproduced() {
    let bless = std::env::var("DS_BLESS_ENC_VECTORS").as_deref() == Ok("1");
    let manifest_path = dir().join("MANIFEST.tsv");
    let mut manifest =
        String::from("name\tlevel\torig_size\torig_sha256\tgdef_size\tgdef_sha256\n");
    let rows = if bless {
        Vec::new()
    } else {
        common::read_tsv(&manifest_path)
    };
    let mut checked = 0;
    for (name, orig, levels) in cases() {
        for &level in levels {
            let file = format!("{name}.L{level}.gdef");
            let ours = compress(&orig, level).unwrap();
            if bless {
                std::fs::write(dir().join(&file), &ours).unwrap();
                manifest.push_str(&format!(
                    "{name}\t{level}\t{}\t{}\t{}\t{}\n",
                    orig.len(),
                    common::sha256_hex(&orig),
                    ours.len(),
                    common::sha256_hex(&ours)
                ));
            }
            let row = if bless {
                None
            } else {
                Some(
                    rows.iter()
                        .find(|r| r["name"] == name && r["level"] == level.to_string())
                        .unwrap_or_else(|| panic!("{file} missing from MANIFEST.tsv")),
                )
            };
            let gdef = std::fs::read(dir().join(&file)).unwrap();
            if let Some(row) = row {
                assert_eq!(
                    common::sha256_hex(&orig),
                    row["orig_sha256"],
                    "{name}: generator changed"
                );
                assert_eq!(
                    common::sha256_hex(&gdef),
                    row["gdef_sha256"],
                    "{file} changed"
                );
            }
            let mut out = vec![0u8; orig.len()];
            let n = decompress_with(&gdef, &mut out, DecodeOptions { strict: true })
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(n == orig.len() && out == orig, "{file}: decodes wrongly");
            assert!(
                ours == gdef,
                "{file}: the encoder now gives {} bytes instead of the committed {} \
                 (rerun with DS_BLESS_ENC_VECTORS=1 if intended)",
                ours.len(),
                gdef.len()
            );
            checked += 1;
        }
    }
    if bless {
        std::fs::write(&manifest_path, manifest).unwrap();
    }
    assert_eq!(checked, 12);
}
