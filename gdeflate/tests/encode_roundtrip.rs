//! Encoder round trips through the crate's decoder: every level on edge
//! sizes and contents, property tests over random and structured inputs,
//! the container layout, `compress_into` / `compress_tile` /
//! `compress_parallel` against `compress`, and every encoder error.
//!
//! All decoding is strict (SPEC §7 rule 21): every tile must consume
//! exactly its compressed size, as reference-encoder tiles do.

use ds_gdeflate::encode::{
    compress, compress_bound, compress_into, compress_parallel, compress_tile, EncodeError,
    Encoder, MAX_LEVEL, TILE_SIZE,
};
use ds_gdeflate::{decompress_tile_with, decompress_with, DecodeOptions, TileStream};
use proptest::prelude::*;

const STRICT: DecodeOptions = DecodeOptions { strict: true };

/// Decodes `stream` strictly and checks the container rules the reference
/// encoder's output follows (SPEC §2.2).
fn check_stream(stream: &[u8], orig: &[u8], what: &str) {
    let tiles = orig.len().div_ceil(TILE_SIZE);
    assert_eq!(&stream[..2], &[4, 0xFB], "{what}: id/magic");
    assert_eq!(
        u16::from_le_bytes([stream[2], stream[3]]) as usize,
        tiles,
        "{what}: numTiles"
    );
    let word2 = u32::from_le_bytes(stream[4..8].try_into().unwrap());
    assert_eq!(word2 & 3, 1, "{what}: tileSizeIdx");
    assert_eq!(
        (word2 >> 2) as usize,
        orig.len() % TILE_SIZE,
        "{what}: lastTileSize"
    );
    assert_eq!(word2 >> 20, 0, "{what}: reserved bits");
    let parsed = TileStream::parse(stream).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(parsed.uncompressed_size(), orig.len() as u64, "{what}");
    // Tiles are contiguous, 4-byte aligned, at least 132 bytes, and the
    // stream ends with the last tile.
    let table = |i: usize| u32::from_le_bytes(stream[8 + 4 * i..12 + 4 * i].try_into().unwrap());
    let data_start = 8 + 4 * tiles;
    let mut end = 0usize;
    for i in 0..tiles {
        let off = if i == 0 { 0 } else { table(i) as usize };
        assert_eq!(off, end, "{what}: tile {i} offset");
        let size = if i + 1 == tiles {
            table(0) as usize
        } else {
            table(i + 1) as usize - off
        };
        assert!(size >= 132 && size % 4 == 0, "{what}: tile {i} size {size}");
        end = off + size;
    }
    assert_eq!(data_start + end, stream.len(), "{what}: stream end");
    assert!(stream.len() <= compress_bound(orig.len()), "{what}: bound");
    let mut out = vec![0xA5u8; orig.len()];
    let n = decompress_with(stream, &mut out, STRICT).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(n, orig.len(), "{what}");
    assert!(out == orig, "{what}: round trip differs");
}

fn round_trip(data: &[u8], level: u8, what: &str) -> Vec<u8> {
    let c = compress(data, level).unwrap_or_else(|e| panic!("{what} level {level}: {e}"));
    check_stream(&c, data, &format!("{what} level {level}"));
    c
}

/// xorshift64* byte stream.
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

/// Pseudo text from a small Zipf-ish vocabulary.
fn text(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the ",
        "tile ",
        "stream ",
        "of ",
        "lanes ",
        "and ",
        "GDeflate ",
        "decoder ",
        "a ",
        "64 KiB ",
        "block, ",
        "Huffman ",
        "match ",
        "distance. ",
        "to ",
        "in ",
    ];
    let r = random(n, seed);
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0;
    while out.len() < n {
        let k = (r[i % r.len().max(1)] as usize * r[(i * 7 + 3) % r.len().max(1)] as usize) >> 12;
        out.extend_from_slice(WORDS[k % 16].as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

#[test]
fn empty_input_is_the_natural_empty_stream() {
    for level in 0..=MAX_LEVEL {
        let c = compress(&[], level).unwrap();
        assert_eq!(c, [4, 0xFB, 0, 0, 1, 0, 0, 0], "level {level}");
        let mut out = [];
        assert_eq!(decompress_with(&c, &mut out, STRICT), Ok(0));
    }
}

#[test]
fn edge_sizes_round_trip_at_every_level() {
    let sizes = [
        1usize, 2, 3, 4, 31, 32, 33, 258, 259, 4095, 65535, 65536, 65537,
    ];
    for level in 0..=MAX_LEVEL {
        for &n in &sizes {
            // Keep debug-build run time in check: full tiles of every kind
            // at a spread of levels, small sizes everywhere.
            if n > 4095 && ![0, 1, 4, 5, 8, 9, 12].contains(&level) {
                continue;
            }
            round_trip(&vec![0u8; n], level, &format!("zeros {n}"));
            round_trip(&random(n, n as u64), level, &format!("random {n}"));
            round_trip(&text(n, 7), level, &format!("text {n}"));
        }
    }
}

#[test]
fn incompressible_tile_is_two_stored_blocks() {
    // SPEC §2.2: 65,536 random bytes take 65,672 bytes as stored blocks
    // (65,535 + 1); no level may do worse.
    let data = random(TILE_SIZE, 99);
    for level in 0..=MAX_LEVEL {
        let c = round_trip(&data, level, "random tile");
        assert_eq!(c.len(), 12 + 65672, "level {level}");
    }
}

#[test]
fn reference_layout_of_known_small_streams() {
    // SPEC §9 example 5: a zero tile is one match of 65,535 at distance 1,
    // 152 bytes, exactly as the reference lays it out.
    let c = round_trip(&vec![0u8; TILE_SIZE], 9, "zeros");
    let mut want = vec![0u8; 152];
    want[..12].copy_from_slice(&[4, 0xFB, 1, 0, 1, 0, 0, 0, 0x8C, 0, 0, 0]);
    want[12..16].copy_from_slice(&0x63u32.to_le_bytes());
    want[16..20].copy_from_slice(&0x00FF_FCA3u32.to_le_bytes());
    assert_eq!(c, want);
    // SPEC §9 example 1: level 0 of one byte.
    let c = round_trip(b"A", 0, "one byte");
    assert_eq!(&c[..12], &[4, 0xFB, 1, 0, 5, 0, 0, 0, 0x84, 0, 0, 0]);
    assert_eq!(&c[12..16], &0x0208_0009u32.to_le_bytes());
    assert!(c[16..].iter().all(|&b| b == 0));
}

#[test]
fn long_matches_and_far_distances() {
    // Repeats at distances up to 65535 and lengths far beyond 258.
    let mut data = random(30000, 5);
    data.extend_from_within(0..30000);
    data.extend_from_slice(&random(5000, 6));
    data.extend_from_within(0..500);
    assert!(data.len() == 65500);
    for level in [1u8, 6, 9, 12] {
        let c = round_trip(&data, level, "far repeats");
        assert!(c.len() < 37000, "level {level}: {} bytes", c.len());
    }
    // A one-byte period, a two-byte period and a 300-byte period.
    let mut data = vec![7u8; 1000];
    data.extend((0..3000).map(|i| (i % 2) as u8 * 200));
    let p = random(300, 8);
    for _ in 0..100 {
        data.extend_from_slice(&p);
    }
    for level in 0..=MAX_LEVEL {
        round_trip(&data, level, "periodic");
    }
}

#[test]
fn multi_tile_round_trip() {
    let mut data = text(3 * TILE_SIZE + 17, 3);
    data[70000..90000].fill(0);
    let r = random(20000, 11);
    data[140000..160000].copy_from_slice(&r);
    for level in [0u8, 1, 6, 9] {
        round_trip(&data, level, "multi-tile");
    }
}

#[test]
fn compress_into_matches_compress() {
    let data = text(2 * TILE_SIZE + 100, 21);
    let want = compress(&data, 6).unwrap();
    let mut buf = vec![0u8; compress_bound(data.len())];
    let n = compress_into(&data, 6, &mut buf).unwrap();
    assert_eq!(&buf[..n], &want[..]);
    // An exactly sized buffer is enough.
    let mut exact = vec![0u8; want.len()];
    assert_eq!(compress_into(&data, 6, &mut exact), Ok(want.len()));
    assert_eq!(exact, want);
    // One byte short: the last tile does not fit.
    let mut short = vec![0u8; want.len() - 1];
    match compress_into(&data, 6, &mut short) {
        Err(EncodeError::OutputTooSmall {
            tile: Some(2),
            needed,
            available,
        }) => {
            assert_eq!((needed, available), (want.len(), want.len() - 1));
        }
        other => panic!("unexpected {other:?}"),
    }
    // Not even room for header and table.
    let mut tiny = [0u8; 15];
    let e = compress_into(&data, 6, &mut tiny).unwrap_err();
    assert_eq!(
        e,
        EncodeError::OutputTooSmall {
            tile: None,
            needed: 20,
            available: 15
        }
    );
    assert!(e.to_string().contains("header and tile table"), "{e}");
}

#[test]
fn compress_tile_gives_raw_pages() {
    for level in [0u8, 1, 7, 10] {
        for n in [0usize, 1, 1000, TILE_SIZE] {
            let data = text(n, 31);
            let mut page = vec![0xEE];
            compress_tile(&data, level, &mut page).unwrap();
            assert_eq!(page[0], 0xEE, "appends");
            let page = &page[1..];
            assert!(page.len() % 4 == 0 && page.len() >= 132);
            let mut out = vec![0u8; n];
            assert_eq!(decompress_tile_with(page, &mut out, STRICT), Ok(n));
            assert!(out == data, "level {level} size {n}");
            // The same bytes as the tile inside a stream.
            if n > 0 {
                let s = compress(&data, level).unwrap();
                assert_eq!(&s[12..], page);
            }
        }
    }
    let mut v = Vec::new();
    let e = compress_tile(&vec![0u8; TILE_SIZE + 1], 1, &mut v).unwrap_err();
    assert_eq!(e, EncodeError::TileTooLarge { len: TILE_SIZE + 1 });
    assert!(e.to_string().contains("65537"), "{e}");
}

#[test]
fn parallel_output_is_identical_for_any_thread_count() {
    let mut data = text(4 * TILE_SIZE + 999, 41);
    data[TILE_SIZE..2 * TILE_SIZE].fill(3);
    let r = random(TILE_SIZE, 42);
    data[3 * TILE_SIZE..4 * TILE_SIZE].copy_from_slice(&r);
    for level in [1u8, 10] {
        let want = round_trip(&data, level, "parallel");
        for threads in [0usize, 1, 2, 3, 8] {
            let got = compress_parallel(&data, level, threads).unwrap();
            assert!(got == want, "level {level}, {threads} threads");
        }
    }
    assert_eq!(
        compress_parallel(&[], 5, 4).unwrap(),
        [4, 0xFB, 0, 0, 1, 0, 0, 0]
    );
}

#[test]
fn a_reused_encoder_matches_fresh_ones() {
    let inputs = [
        text(5000, 1),
        random(3000, 2),
        vec![0u8; 70000],
        text(TILE_SIZE, 3),
    ];
    for level in [2u8, 9] {
        let mut enc = Encoder::new(level).unwrap();
        assert_eq!(enc.level(), level);
        for d in &inputs {
            assert_eq!(enc.compress(d).unwrap(), compress(d, level).unwrap());
        }
    }
}

#[test]
fn bad_level_is_refused_everywhere() {
    let e = compress(b"x", 13).unwrap_err();
    assert_eq!(e, EncodeError::BadLevel { level: 13 });
    assert!(e.to_string().contains("13"), "{e}");
    assert!(compress_into(b"x", 200, &mut [0u8; 200]).is_err());
    assert!(compress_tile(b"x", 13, &mut Vec::new()).is_err());
    assert!(compress_parallel(b"x", 13, 2).is_err());
    assert!(Encoder::new(255).is_err());
    let err: &dyn std::error::Error = &e;
    assert!(!err.to_string().is_empty());
}

#[test]
fn compress_bound_holds_for_incompressible_data() {
    for n in [1usize, 100, TILE_SIZE - 1, TILE_SIZE, 2 * TILE_SIZE + 1] {
        let d = random(n, n as u64 + 1000);
        for level in [0u8, 1, 12] {
            let c = compress(&d, level).unwrap();
            assert!(c.len() <= compress_bound(n), "{n} bytes level {level}");
        }
    }
    assert_eq!(compress_bound(0), TILE_SIZE + 4 + 832 + 32 + 16);
    assert_eq!(compress_bound(TILE_SIZE + 1), 2 * (TILE_SIZE + 868) + 16);
}

/// Inputs made of literal runs and copies of earlier data, so that every
/// kind of match (short, long, overlapping, far) shows up.
fn structured() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(|v| (0u32, 0u32, v)),
        (1u32..70000, 3u32..400).prop_map(|(d, l)| (d, l, Vec::new())),
        (1u32..4, 100u32..3000).prop_map(|(d, l)| (d, l, Vec::new())),
    ];
    proptest::collection::vec(piece, 1..80).prop_map(|pieces| {
        let mut out: Vec<u8> = Vec::new();
        for (dist, len, lits) in pieces {
            if dist == 0 || out.is_empty() {
                out.extend_from_slice(&lits);
                if out.is_empty() {
                    out.push(1);
                }
            } else {
                let d = (dist as usize).min(out.len());
                for _ in 0..len {
                    out.push(out[out.len() - d]);
                }
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..3000), level in 0..=MAX_LEVEL) {
        round_trip(&data, level, "proptest random");
    }

    #[test]
    fn structured_data_round_trips(data in structured(), level in 0..=MAX_LEVEL) {
        round_trip(&data, level, "proptest structured");
    }

    #[test]
    fn small_alphabets_round_trip(data in proptest::collection::vec(0u8..3, 0..20000), level in 0..=MAX_LEVEL) {
        round_trip(&data, level, "proptest small alphabet");
    }
}
