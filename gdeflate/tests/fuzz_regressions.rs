//! Inputs that once crashed a fuzz target (`fuzz/`), kept so the bug stays
//! fixed. Each file in `tests/fuzz_regressions` is named after its target;
//! the test replays it through the same checks the target makes.

use ds_gdeflate::{decompress, decompress_tile};
use std::path::Path;

/// Replays a `decode_tile` input: 3-byte size, then the payload.
fn replay_decode_tile(input: &[u8]) {
    let (head, payload) = input.split_at(3);
    let size = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize % 65537;
    let mut out = vec![0u8; size];
    if let Ok(n) = decompress_tile(payload, &mut out) {
        assert_eq!(n, size);
    }
}

/// Replays a `decode_stream` input.
fn replay_decode_stream(input: &[u8]) {
    let mut out = vec![0u8; 1 << 20];
    let _ = decompress(input, &mut out);
}

#[test]
fn fuzz_crash_inputs_are_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut seen = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let data = std::fs::read(&path).unwrap();
        if name.starts_with("decode_tile") {
            replay_decode_tile(&data);
        } else if name.starts_with("decode_stream") {
            replay_decode_stream(&data);
        } else {
            continue;
        }
        seen += 1;
    }
    assert!(seen >= 1);
}

/// The first crash, as a hand-checkable case: a match on lane 31 that
/// leaves less than a round of output room used to step the fast loop to
/// lane 32 (index out of bounds). The match ends 10 bytes before the end.
#[path = "support/mod.rs"]
mod support;

#[test]
fn match_on_lane_31_near_the_tile_end() {
    use support::{fixed_header, fixed_symbols, Item, LaneWriter};
    let size = 300;
    // 31 literals on lanes 0..=30, then on lane 31 a match that leaves
    // exactly 10 bytes, then 10 literals.
    let mut items: Vec<Item> = (0..31).map(|i| Item::Lit(b'a' + (i % 26) as u8)).collect();
    let len = size - 31 - 10;
    // Length symbol 285: 3 + 16 extra bits.
    items.push(Item::Match(285, ((len - 3) as u32, 16), 0, (0, 0)));
    items.extend((0..10).map(|_| Item::Lit(b'z')));
    let mut w = LaneWriter::new();
    fixed_header(&mut w, true);
    fixed_symbols(&mut w, &items);
    // Unused trailing words keep the unrolled rounds' input margin.
    let mut payload = w.finish();
    payload.extend_from_slice(&[0; 256]);
    let mut out = vec![0u8; size];
    assert_eq!(decompress_tile(&payload, &mut out), Ok(size));
    let mut want: Vec<u8> = (0..31).map(|i| b'a' + (i % 26) as u8).collect();
    want.extend(std::iter::repeat_n(want[30], len));
    want.extend([b'z'; 10]);
    assert_eq!(out, want);
}
