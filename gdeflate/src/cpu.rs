//! Run-time choice of the tile decoder's instruction set.
//!
//! On x86_64 CPUs with AVX2 (and BMI1, BMI2, LZCNT, POPCNT, which every
//! AVX2 CPU has) the tile decoder is compiled a second time with those
//! features, with whole-round AVX2 decoding of Huffman blocks (`round`)
//! and AVX2 stored-block groups (`stored`), and chosen at run time, as libdeflate does. The scalar turns
//! in that variant also gain single-instruction variable shifts and masks
//! (`shrx`, `shlx`, `bzhi`) and `lzcnt`. Detection uses `cpuid` and
//! `xgetbv` from `core`, so it works without `std`; the answer is cached in
//! an atomic. Other CPUs run the generic scalar decoder.
#![allow(unsafe_code)]

use crate::decode::{Fail, Scalar, TileDecoder};
#[cfg(target_arch = "x86_64")]
use crate::round::Avx2;

/// Decodes one tile with the best code path for this CPU.
#[inline]
pub(crate) fn decode_tile(dec: &mut TileDecoder, src: &[u8], out: &mut [u8]) -> Result<(), Fail> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: `has_avx2` checked with cpuid and xgetbv that this CPU
        // implements (and the OS enabled) the features `decode_avx2` is
        // compiled for.
        return unsafe { decode_avx2(dec, src, out) };
    }
    dec.decode_impl(src, out, Scalar)
}

/// [`TileDecoder::decode_impl`] compiled with AVX2, BMI1, BMI2, LZCNT and
/// POPCNT, with whole-round AVX2 decoding.
///
/// # Safety
/// The CPU must support AVX2, BMI1, BMI2, LZCNT and POPCNT, and the OS must
/// save the AVX registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn decode_avx2(dec: &mut TileDecoder, src: &[u8], out: &mut [u8]) -> Result<(), Fail> {
    // SAFETY: this function's contract is exactly `Avx2`'s.
    let simd = unsafe { Avx2::new_unchecked() };
    dec.decode_impl(src, out, simd)
}

/// Whether the CPU has AVX2, BMI1, BMI2, LZCNT and POPCNT with the AVX
/// state enabled by the OS (cached after the first call).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    // 0 = not probed yet, 1 = no, 2 = yes. Relaxed: the value is the same
    // whichever thread computes it; racing threads store the same answer.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = probe_avx2();
            STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// Asks `cpuid` for AVX2, BMI1, BMI2 (leaf 7 EBX bits 5, 3, 8), POPCNT,
/// OSXSAVE, AVX (leaf 1 ECX bits 23, 27, 28) and LZCNT (leaf 0x80000001
/// ECX bit 5), and `xgetbv` whether the OS saves the SSE and AVX state
/// (XCR0 bits 1 and 2).
#[cfg(target_arch = "x86_64")]
fn probe_avx2() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    // cpuid exists on every x86_64 CPU. Leaf 0 gives the highest leaf,
    // leaf 0x80000000 the highest extended leaf.
    let max_leaf = __cpuid(0).eax;
    let max_ext = __cpuid(0x8000_0000).eax;
    if max_leaf < 7 || max_ext < 0x8000_0001 {
        return false;
    }
    let bit = |r: u32, b: u32| r & (1 << b) != 0;
    let ecx1 = __cpuid(1).ecx;
    let ebx7 = __cpuid_count(7, 0).ebx;
    let ecx_ext = __cpuid(0x8000_0001).ecx;
    let features = bit(ebx7, 5)
        && bit(ebx7, 3)
        && bit(ebx7, 8)
        && bit(ecx1, 23)
        && bit(ecx1, 28)
        && bit(ecx_ext, 5);
    if !features || !bit(ecx1, 27) {
        return false;
    }
    // SAFETY: cpuid leaf 1 ECX bit 27 (OSXSAVE) says the OS enabled XSAVE,
    // so `xgetbv` exists and may read XCR0.
    let xcr0 = unsafe { xcr0() };
    xcr0 & 6 == 6
}

/// XCR0, the register state the OS saves.
///
/// # Safety
/// The CPU must support XSAVE and the OS must have set CR4.OSXSAVE.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "xsave")]
unsafe fn xcr0() -> u64 {
    // SAFETY: this function's contract.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    extern crate std;
    use super::*;
    use crate::TileStream;
    use std::vec;
    use std::vec::Vec;

    /// Every tile of every committed vector, intact and with bit flips,
    /// gives the same result and bytes on the AVX2 and the generic path.
    #[test]
    fn avx2_path_matches_generic_path() {
        if !has_avx2() {
            std::println!("skipped: this CPU has no AVX2; only the generic path runs here");
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
                    let ra = TileDecoder::new(false).decode_impl(v, &mut a, Scalar);
                    // SAFETY: has_avx2() returned true above.
                    let rb = unsafe { decode_avx2(&mut TileDecoder::new(false), v, &mut b) };
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
