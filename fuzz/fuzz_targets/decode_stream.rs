//! Fuzz target `decode_stream`: arbitrary bytes as a whole tile stream.
//!
//! What a clean run proves, for every input the fuzzer reaches (run under
//! AddressSanitizer, with Rust's overflow and bounds checks):
//! - `decompress` never panics, overflows, loops without end, or reads or
//!   writes out of bounds, whatever the header, table and payloads say;
//! - it returns `Ok(n)` only with `n` equal to `uncompressed_size`, and
//!   never writes past that many bytes of the destination;
//! - `decompress_parallel` (3 threads) returns exactly the same result,
//!   error included, and the same bytes: tile-parallel decoding is
//!   deterministic and equivalent to sequential decoding;
//! - strict mode only ever turns an `Ok` into an error, never the reverse,
//!   and on success gives the same bytes.
#![no_main]

use ds_gdeflate::{
    decompress, decompress_parallel, decompress_with, uncompressed_size, DecodeError, DecodeOptions,
};
use libfuzzer_sys::fuzz_target;

/// Larger declared sizes are checked against a small destination only.
const MAX_OUT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let size = uncompressed_size(data);
    let cap = match size {
        Ok(n) if n <= MAX_OUT => n as usize,
        Ok(n) => {
            let mut small = vec![0u8; 16];
            assert_eq!(
                decompress(data, &mut small),
                Err(DecodeError::DestinationTooSmall {
                    needed: n,
                    available: 16
                })
            );
            return;
        }
        Err(_) => 64,
    };
    let guard = 0x5A;
    let mut a = vec![guard; cap + 8];
    let mut b = vec![0u8; cap + 8];
    let ra = decompress(data, &mut a);
    let rb = decompress_parallel(data, &mut b, 3);
    assert_eq!(ra, rb);
    match ra {
        Ok(n) => {
            assert_eq!(Ok(n as u64), size);
            assert!(a[n..].iter().all(|&x| x == guard), "wrote past the size");
            assert!(a[..n] == b[..n]);
            let mut c = vec![0u8; cap];
            if let Ok(m) = decompress_with(data, &mut c, DecodeOptions { strict: true }) {
                assert_eq!(m, n);
                assert!(c[..n] == a[..n]);
            }
        }
        Err(_) => {
            let mut c = vec![0u8; cap + 8];
            assert!(decompress_with(data, &mut c, DecodeOptions { strict: true }).is_err());
        }
    }
});
