//! Fuzz target `decode_tile`: arbitrary bytes as one raw tile payload (a
//! Vulkan / nvCOMP "page" outside the container).
//!
//! Input: the first three bytes (little-endian, mod 65537) are the
//! expected uncompressed size, the rest is the payload. What a clean run proves:
//! - `decompress_tile` never panics or touches memory out of bounds for
//!   any payload and any size 0..=65536, and the 32-lane reader never
//!   reads a word past the payload end (rule 10);
//! - `Ok` always means exactly the requested size was produced;
//! - wrapped in a one-tile container, `decompress` gives the identical
//!   result (the stream path adds nothing and loses nothing per tile).
#![no_main]

use ds_gdeflate::{decompress, decompress_tile, DecodeError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((head, payload)) = input.split_first_chunk::<3>() else {
        return;
    };
    let size = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize % 65537;
    let mut out = vec![0u8; size];
    let single = decompress_tile(payload, &mut out);
    if let Ok(n) = single {
        assert_eq!(n, size);
    }

    // The same payload as the only tile of a stream.
    let mut stream = vec![4u8, 0xFB, 1, 0];
    let last = (size % 65536) as u32;
    stream.extend_from_slice(&(1 | (last << 2)).to_le_bytes());
    stream.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    stream.extend_from_slice(payload);
    let mut out2 = vec![0u8; size];
    let whole = decompress(&stream, &mut out2);
    if size == 0 {
        // A zero-byte tile cannot be expressed in a container with one
        // tile (lastTileSize 0 means 65536); only check no panic.
        let _ = whole;
        return;
    }
    match (single, whole) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert!(out == out2);
        }
        (
            Err(DecodeError::Corrupt {
                kind: ka,
                offset: oa,
                ..
            }),
            Err(DecodeError::Corrupt {
                kind: kb,
                offset: ob,
                ..
            }),
        ) => {
            assert_eq!((ka, oa), (kb, ob));
        }
        (a, b) => panic!("single-tile {a:?} vs stream {b:?}"),
    }
});
