//! Property tests on untrusted input: random corruptions of valid streams
//! (bit flips, byte overwrites, truncation, insertion) and random bytes
//! never panic, always give `Ok(exact size)` or an error, and the
//! sequential, parallel and per-tile decoders agree.

mod support;

use ds_gdeflate::{decompress, decompress_parallel, decompress_tile, uncompressed_size};
use proptest::prelude::*;

fn committed(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Valid streams to corrupt: dynamic, fixed, stored, multi-tile.
fn seeds() -> Vec<Vec<u8>> {
    [
        "text_300.L9.gdef",
        "text_4095.L12.gdef",
        "byte1.L1.gdef",
        "text_300.L0.gdef",
        "text_64k_plus1.L9.gdef",
        "zeros_64k.L9.gdef",
    ]
    .iter()
    .map(|n| committed(n))
    .collect()
}

/// Decodes `data` every way and checks the outcomes agree.
fn check(data: &[u8]) {
    let size = uncompressed_size(data);
    let cap = match size {
        Ok(n) => n.min(1 << 20) as usize,
        Err(_) => 1024,
    };
    let mut a = vec![0u8; cap];
    let mut b = vec![0u8; cap];
    let ra = decompress(data, &mut a);
    let rb = decompress_parallel(data, &mut b, 3);
    assert_eq!(ra, rb);
    if let Ok(n) = ra {
        assert_eq!(Ok(n as u64), size);
        assert!(a[..n] == b[..n]);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, value: u8 },
    Truncate { keep: usize },
    Insert { at: usize, value: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    let len = data.len().max(1);
    match *m {
        Mutation::Flip { at, bit } => {
            if !data.is_empty() {
                data[at % len] ^= 1 << bit;
            }
        }
        Mutation::Set { at, value } => {
            if !data.is_empty() {
                data[at % len] = value;
            }
        }
        Mutation::Truncate { keep } => data.truncate(keep % len),
        Mutation::Insert { at, value } => data.insert(at % len, value),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_streams_never_panic(seed in 0usize..6, muts in prop::collection::vec(mutation(), 1..6)) {
        let mut data = seeds()[seed].clone();
        for m in &muts {
            apply(&mut data, m);
        }
        check(&data);
    }

    /// Flips confined to tile payloads (the header stays valid), so the
    /// bitstream decoder itself is exercised.
    #[test]
    fn corrupted_payloads_decode_or_error(seed in 0usize..6, flips in prop::collection::vec((any::<usize>(), 0u8..8), 1..8)) {
        let mut data = seeds()[seed].clone();
        let start = 8 + 4 * usize::from(u16::from_le_bytes([data[2], data[3]]));
        for (at, bit) in flips {
            let i = start + at % (data.len() - start);
            data[i] ^= 1 << bit;
        }
        let size = uncompressed_size(&data).unwrap() as usize;
        let mut out = vec![0u8; size];
        match decompress(&data, &mut out) {
            Ok(n) => prop_assert_eq!(n, size),
            Err(e) => prop_assert!(e.tile().is_some(), "{e}"),
        }
        check(&data);
    }

    #[test]
    fn random_tile_payloads_never_panic(payload in prop::collection::vec(any::<u8>(), 0..600), size in 0usize..70000) {
        let mut out = vec![0u8; size];
        let r = decompress_tile(&payload, &mut out);
        if size > 65536 {
            prop_assert!(r.is_err());
        } else if let Ok(n) = r {
            prop_assert_eq!(n, size);
        }
    }

    #[test]
    fn random_streams_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut data = data;
        if data.len() >= 2 && data[0] & 1 == 0 {
            // Half the cases get a valid id, magic and tile size index so
            // the table and tile checks are reached.
            data[0] = 4;
            data[1] = 0xFB;
            if data.len() >= 8 {
                data[4] = (data[4] & !3) | 1;
                data[3] = 0;
            }
        }
        check(&data);
    }

    /// Hand-built stored tiles of any length decode exactly (the 128-byte
    /// group path against the byte-per-turn schedule of the writer).
    #[test]
    fn stored_tiles_round_trip(data in prop::collection::vec(any::<u8>(), 1..3000), split in 0usize..3000) {
        let split = split % data.len();
        let mut w = support::LaneWriter::new();
        support::stored_block(&mut w, &data[..split], false);
        support::stored_block(&mut w, &data[split..], true);
        let stream = support::container(&[w.finish()], data.len() as u64);
        let mut out = vec![0u8; data.len()];
        prop_assert_eq!(decompress(&stream, &mut out), Ok(data.len()));
        prop_assert_eq!(out, data);
    }
}
