//! Fuzz target `roundtrip`: encoder -> decoder round trip.
//!
//! Input: the first byte picks the level (mod 13, so 0..=12), the rest is
//! the data. What a clean run proves, for every input the fuzzer reaches:
//! - `encode::compress` never panics and never fails on valid input;
//! - its output stays within `encode::compress_bound`;
//! - the decoder accepts it in strict mode (every tile consumes exactly its
//!   compressed size, as reference-encoder tiles do) and reproduces the
//!   data byte for byte;
//! - the first tile's raw page from `encode::compress_tile` is the same
//!   bytes as that tile inside the stream, and decodes on its own.
#![no_main]

use ds_gdeflate::encode::{compress, compress_bound, compress_tile, TILE_SIZE};
use ds_gdeflate::{decompress_tile_with, decompress_with, DecodeOptions};
use libfuzzer_sys::fuzz_target;

const STRICT: DecodeOptions = DecodeOptions { strict: true };

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let level = selector % 13;
    let stream = compress(data, level).expect("valid input must compress");
    assert!(stream.len() <= compress_bound(data.len()));
    let mut out = vec![0u8; data.len()];
    let n = decompress_with(&stream, &mut out, STRICT).expect("our stream must decode");
    assert_eq!(n, data.len());
    assert!(out == data, "round trip differs at level {level}");

    let first = &data[..data.len().min(TILE_SIZE)];
    let mut page = Vec::new();
    compress_tile(first, level, &mut page).expect("one tile must compress");
    let tiles = data.len().div_ceil(TILE_SIZE);
    if tiles > 0 {
        let start = 8 + 4 * tiles;
        assert_eq!(&stream[start..start + page.len()], &page[..]);
    }
    let mut tile_out = vec![0u8; first.len()];
    decompress_tile_with(&page, &mut tile_out, STRICT).expect("our page must decode");
    assert!(tile_out == first);
});
