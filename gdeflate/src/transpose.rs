//! The byte transpose behind fast stored blocks: 32 lane words (one per
//! lane, in lane order) become four rows of 32 bytes, row `k` holding byte
//! `k` of every lane's word, which is the order a stored block's bytes come
//! out over four rounds (byte `j` on lane `j mod 32`).
//!
//! On x86_64 this is 40 SSE2 byte/quad-word unpacks (SSE2 is part of the
//! x86_64 baseline, so no feature detection is needed); elsewhere, and in
//! the tests that check the two agree, a portable loop.
#![allow(unsafe_code)]

/// Writes `out[32 * k + lane] = byte k of v[lane]`.
#[inline(always)]
pub(crate) fn transpose(v: &[u32; 32], out: &mut [u8; 128]) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    sse2(v, out);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    portable(v, out);
}

/// Portable form of [`transpose`].
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
pub(crate) fn portable(v: &[u32; 32], out: &mut [u8; 128]) {
    for (lane, &w) in v.iter().enumerate() {
        for (k, b) in w.to_le_bytes().into_iter().enumerate() {
            out[32 * k + lane] = b;
        }
    }
}

/// SSE2 form of [`transpose`].
///
/// For lanes `a..a+3` in `x` and `a+4..a+7` in `y` (one u32 per lane),
/// three rounds of `unpack{lo,hi}_epi8` give `r0 = [byte 0 of lanes
/// a..a+7 | byte 1 of lanes a..a+7]` and `r1` the same for bytes 2 and 3;
/// `unpack{lo,hi}_epi64` then joins the 8-byte pieces of lanes 0..15 and
/// 16..31 into the output rows.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(crate) fn sse2(v: &[u32; 32], out: &mut [u8; 128]) {
    use core::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm_storeu_si128, _mm_unpackhi_epi64, _mm_unpackhi_epi8,
        _mm_unpacklo_epi64, _mm_unpacklo_epi8,
    };
    // The four unpacks as safe closures. This function is compiled only
    // with `target_feature = "sse2"`, so the instructions exist, and the
    // intrinsics only read their arguments.
    // SAFETY: SSE2 is enabled (cfg above); no memory is accessed.
    let lo8 = |a, b| unsafe { _mm_unpacklo_epi8(a, b) };
    // SAFETY: SSE2 is enabled (cfg above); no memory is accessed.
    let hi8 = |a, b| unsafe { _mm_unpackhi_epi8(a, b) };
    // SAFETY: SSE2 is enabled (cfg above); no memory is accessed.
    let lo64 = |a, b| unsafe { _mm_unpacklo_epi64(a, b) };
    // SAFETY: SSE2 is enabled (cfg above); no memory is accessed.
    let hi64 = |a, b| unsafe { _mm_unpackhi_epi64(a, b) };
    let load = |i: usize| -> __m128i {
        debug_assert!(i + 4 <= v.len());
        let at = v.as_ptr().wrapping_add(i).cast::<__m128i>();
        // SAFETY: i + 4 <= 32 for every call below, so the 16 bytes at `at`
        // lie inside `v`; loadu has no alignment requirement.
        unsafe { _mm_loadu_si128(at) }
    };
    // Lanes a..a+7 -> (bytes 0 and 1 of those lanes, bytes 2 and 3).
    let eight = |a: usize| -> (__m128i, __m128i) {
        let (x, y) = (load(a), load(a + 4));
        let (t0, t1) = (lo8(x, y), hi8(x, y));
        let (u0, u1) = (lo8(t0, t1), hi8(t0, t1));
        (lo8(u0, u1), hi8(u0, u1))
    };
    let (a01, a23) = eight(0);
    let (b01, b23) = eight(8);
    let (c01, c23) = eight(16);
    let (d01, d23) = eight(24);
    let rows = [
        lo64(a01, b01),
        lo64(c01, d01),
        hi64(a01, b01),
        hi64(c01, d01),
        lo64(a23, b23),
        lo64(c23, d23),
        hi64(a23, b23),
        hi64(c23, d23),
    ];
    let base = out.as_mut_ptr();
    for (i, row) in rows.into_iter().enumerate() {
        let at = base.wrapping_add(16 * i).cast::<__m128i>();
        // SAFETY: i < 8, so the 16 bytes at 16 * i lie inside the 128-byte
        // `out`; storeu has no alignment requirement.
        unsafe { _mm_storeu_si128(at, row) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn simd_matches_portable(v in prop::array::uniform32(any::<u32>())) {
            let mut a = [0u8; 128];
            let mut b = [0u8; 128];
            portable(&v, &mut a);
            transpose(&v, &mut b);
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn rows_hold_byte_k_of_every_lane() {
        let v: [u32; 32] = core::array::from_fn(|i| {
            u32::from_le_bytes([i as u8, 0x40 | i as u8, 0x80 | i as u8, 0xC0 | i as u8])
        });
        let mut out = [0u8; 128];
        transpose(&v, &mut out);
        for k in 0..4 {
            for lane in 0..32 {
                assert_eq!(out[32 * k + lane], (k as u8) << 6 | lane as u8);
            }
        }
    }
}
