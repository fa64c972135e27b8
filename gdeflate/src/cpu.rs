//! Run-time choice of the tile decoder's instruction set.
//!
//! The hot loop is mostly variable shifts and bit masks. With BMI2 those
//! are single instructions that leave the flags and `cl` alone (`shrx`,
//! `shlx`, `bzhi`), so on x86_64 CPUs that have it the tile decoder is
//! compiled a second time with BMI2 enabled and chosen at run time (as
//! libdeflate does). Detection uses `cpuid` from `core`, so it works
//! without `std`; the answer is cached in an atomic.
#![allow(unsafe_code)]

use crate::decode::{Fail, TileDecoder};

/// Decodes one tile with the best code path for this CPU.
#[inline]
pub(crate) fn decode_tile(dec: &mut TileDecoder, src: &[u8], out: &mut [u8]) -> Result<(), Fail> {
    #[cfg(target_arch = "x86_64")]
    if has_bmi2() {
        // SAFETY: `has_bmi2` checked with cpuid that this CPU implements
        // BMI1, BMI2, SSSE3 and SSE4.1, the features `decode_bmi2` is
        // compiled for.
        return unsafe { decode_bmi2(dec, src, out) };
    }
    dec.decode_impl(src, out)
}

/// [`TileDecoder::decode_impl`] compiled with BMI1/BMI2 (and SSSE3/SSE4.1,
/// which every BMI2 CPU has, so the stored-block transpose's byte shuffles
/// become `pshufb`).
///
/// # Safety
/// The CPU must support BMI1, BMI2, SSSE3 and SSE4.1.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2,ssse3,sse4.1")]
unsafe fn decode_bmi2(dec: &mut TileDecoder, src: &[u8], out: &mut [u8]) -> Result<(), Fail> {
    dec.decode_impl(src, out)
}

/// Whether the CPU has BMI1, BMI2, SSSE3 and SSE4.1 (cached after the
/// first call).
#[cfg(target_arch = "x86_64")]
fn has_bmi2() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    // 0 = not probed yet, 1 = no, 2 = yes. Relaxed: the value is the same
    // whichever thread computes it; racing threads store the same answer.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = probe_bmi2();
            STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// Asks `cpuid` for BMI1 and BMI2 (leaf 7, EBX bits 3 and 8) and SSSE3
/// and SSE4.1 (leaf 1, ECX bits 9 and 19).
#[cfg(target_arch = "x86_64")]
fn probe_bmi2() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    // cpuid exists on every x86_64 CPU. Leaf 0 gives the highest leaf.
    let max_leaf = __cpuid(0).eax;
    if max_leaf < 7 {
        return false;
    }
    let ecx1 = __cpuid(1).ecx;
    let ebx7 = __cpuid_count(7, 0).ebx;
    let bit = |r: u32, b: u32| r & (1 << b) != 0;
    bit(ebx7, 3) && bit(ebx7, 8) && bit(ecx1, 9) && bit(ecx1, 19)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    extern crate std;
    use super::*;
    use crate::TileStream;
    use std::vec;
    use std::vec::Vec;

    /// Every tile of every committed vector, intact and with bit flips,
    /// gives the same result and bytes on the BMI2 and the generic path.
    #[test]
    fn bmi2_path_matches_generic_path() {
        if !has_bmi2() {
            std::println!("skipped: this CPU has no BMI2; only the generic path runs here");
            return;
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
        let mut tiles = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().and_then(|x| x.to_str()) != Some("gdef") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let stream = TileStream::parse(&data).unwrap();
            for i in 0..stream.num_tiles() {
                let payload = stream.tile_payload(i);
                let len = stream.tile_uncompressed_len(i);
                let mut variants: Vec<Vec<u8>> = vec![payload.to_vec()];
                for k in 0..24 {
                    let mut v = payload.to_vec();
                    let at = (k * 7919 + 13) % v.len();
                    v[at] ^= 1 << (k % 8);
                    variants.push(v);
                }
                for v in &variants {
                    let mut a = vec![0u8; len];
                    let mut b = vec![0u8; len];
                    let ra = TileDecoder::new(false).decode_impl(v, &mut a);
                    // SAFETY: has_bmi2() returned true above.
                    let rb = unsafe { decode_bmi2(&mut TileDecoder::new(false), v, &mut b) };
                    assert_eq!(ra, rb, "{}", path.display());
                    if ra.is_ok() {
                        assert_eq!(a, b);
                    }
                    tiles += 1;
                }
            }
        }
        assert!(tiles > 100);
    }
}
