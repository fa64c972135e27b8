//! AVX2 copy of the whole 128-byte groups of a stored block (the
//! `stored_groups` step of `decode`, all 32 lanes in four registers).
//!
//! # Why it is fast
//!
//! In a stored block lane `i` outputs the low 32 bits of its buffer every
//! four rounds and takes exactly one word per four rounds, at a word slot
//! of the group that is fixed for the whole block (see `decode`). With
//! `r[i] = fill - 32` (the bits the lane holds above the 32 it outputs),
//! the lane's state is two 32-bit halves and one group is
//!
//! ```text
//!   out  = lo
//!   lo'  = hi | (word << r)          (vpsllvd)
//!   hi'  = word >> (32 - r)          (vpsrlvd; a count of 32 gives 0)
//! ```
//!
//! Register `j` holds lanes `4j..4j+3` in its low 128-bit half and
//! `16+4j..16+4j+3` in its high half. Then the byte transpose into four
//! rows of 32 bytes (row `k` = byte `k` of every lane) never crosses a
//! 128-bit half: one `vpshufb` per register gathers each lane quartet's
//! byte `k` into 32-bit piece `k`, and a 4x4 transpose of those pieces
//! (eight unpacks) leaves row `k` whole in one register. When every lane's
//! word slot is its own lane number (the usual case, e.g. a tile made of
//! stored blocks) the words load straight into that layout (two 16-byte
//! loads per register); otherwise each register selects its lanes' words
//! from the group with one `vpermd` per 32-byte source and three blends.
//! So a group is about 40 vector instructions and no scalar work per lane.
#![allow(unsafe_code)]

use crate::decode::Lanes;
use core::arch::x86_64::{
    __m256i, _mm256_blendv_ps, _mm256_castps_si256, _mm256_castsi256_ps, _mm256_loadu2_m128i,
    _mm256_loadu_si256, _mm256_or_si256, _mm256_permutevar8x32_epi32, _mm256_set1_epi32,
    _mm256_setr_epi8, _mm256_shuffle_epi8, _mm256_slli_epi32, _mm256_sllv_epi32, _mm256_srlv_epi32,
    _mm256_storeu2_m128i, _mm256_storeu_si256, _mm256_sub_epi32, _mm256_unpackhi_epi32,
    _mm256_unpackhi_epi64, _mm256_unpacklo_epi32, _mm256_unpacklo_epi64,
};

/// Number of lanes.
const LANES: usize = 32;
/// Registers per round (eight lanes each).
const REGS: usize = 4;
/// Output bytes (and payload bytes) of one group: one word per lane.
const GROUP_BYTES: usize = 4 * LANES;

/// Lanes `4j..4j+3` and `16+4j..16+4j+3` of 32 u32 values at `at`, in the
/// module's register layout. The caller guarantees that `at` points to 32
/// readable u32.
///
/// # Safety
/// `at` must point to 128 readable bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_lanes(at: *const u32, j: usize) -> __m256i {
    debug_assert!(j < REGS);
    let j = j % REGS;
    // SAFETY: j < 4, so both 16-byte halves (u32 4j..4j+3 and
    // 16+4j..16+4j+3) lie inside the 128 bytes the caller guarantees;
    // the loads have no alignment requirement.
    unsafe {
        _mm256_loadu2_m128i(
            at.wrapping_add(16 + 4 * j).cast(),
            at.wrapping_add(4 * j).cast(),
        )
    }
}

/// [`load_lanes`] from an array.
#[target_feature(enable = "avx2")]
#[inline]
fn load_array(a: &[u32; LANES], j: usize) -> __m256i {
    // SAFETY: `a` is 32 u32 = 128 readable bytes.
    unsafe { load_lanes(a.as_ptr(), j) }
}

/// Stores register `j` into its lanes of an array (the inverse of
/// [`load_lanes`]).
#[target_feature(enable = "avx2")]
#[inline]
fn store_array(a: &mut [u32; LANES], j: usize, v: __m256i) {
    let j = j % REGS;
    let at = a.as_mut_ptr();
    // SAFETY: j < 4, so both 16-byte halves (u32 4j..4j+3 and
    // 16+4j..16+4j+3) lie inside the 128 bytes of `a`; the stores have no
    // alignment requirement.
    unsafe {
        _mm256_storeu2_m128i(
            at.wrapping_add(16 + 4 * j).cast(),
            at.wrapping_add(4 * j).cast(),
            v,
        )
    }
}

/// Per lane: sign bit of `mask` set: `b`, else `a`.
#[target_feature(enable = "avx2")]
#[inline]
fn blend(a: __m256i, b: __m256i, mask: __m256i) -> __m256i {
    _mm256_castps_si256(_mm256_blendv_ps(
        _mm256_castsi256_ps(a),
        _mm256_castsi256_ps(b),
        _mm256_castsi256_ps(mask),
    ))
}

/// `decode::stored_groups` for AVX2: copies whole 128-byte groups of a
/// stored block into `dst`, starting at lane 0 with every lane holding at
/// least 32 bits; `slot` is each lane's word slot inside a group and
/// `shift` its `fill - 32` (`decode::stored_layout`). Returns the bytes
/// written (a multiple of 128) and leaves `lanes` exactly as the
/// byte-by-byte turns would.
#[target_feature(enable = "avx2")]
pub(crate) fn stored_groups(
    lanes: &mut Lanes<'_>,
    dst: &mut [u8],
    slot: &[u32; LANES],
    shift: &[u32; LANES],
) -> usize {
    debug_assert!(slot.iter().all(|&s| (s as usize) < LANES));
    debug_assert!(shift.iter().all(|&r| r < 32));
    let src = lanes.src.get(lanes.p..).unwrap_or(&[]);
    let groups = (dst.len() / GROUP_BYTES).min(src.len() / GROUP_BYTES);
    if groups == 0 {
        return 0;
    }
    let mut a_lo = [0u32; LANES];
    let mut a_hi = [0u32; LANES];
    for l in 0..LANES {
        let b = lanes.buf[l];
        a_lo[l] = b as u32;
        // The bits above the low 32, without the sentinel at bit 32 + r.
        a_hi[l] = ((b >> 32) as u32).wrapping_sub(1u32.wrapping_shl(shift[l]));
    }
    let c32 = _mm256_set1_epi32(32);
    let mut st = State {
        lo: [c32; REGS],
        hi: [c32; REGS],
        up: [c32; REGS],
        down: [c32; REGS],
    };
    for j in 0..REGS {
        st.lo[j] = load_array(&a_lo, j);
        st.hi[j] = load_array(&a_hi, j);
        st.up[j] = load_array(shift, j);
        st.down[j] = _mm256_sub_epi32(c32, st.up[j]);
    }
    let n = groups * GROUP_BYTES;
    let (Some(src), Some(dst)) = (src.get(..n), dst.get_mut(..n)) else {
        return 0;
    };
    if slot.iter().enumerate().all(|(l, &s)| s as usize == l) {
        run_groups(&mut st, src, dst, |words, j| {
            // SAFETY: `words` is 128 readable bytes.
            unsafe { load_lanes(words.as_ptr().cast(), j) }
        });
    } else {
        let mut idx = [c32; REGS];
        for (j, x) in idx.iter_mut().enumerate() {
            *x = load_array(slot, j);
        }
        run_groups(&mut st, src, dst, |words, j| {
            // Word `slot` of the 32: vpermd takes its low 3 bits in each
            // 32-byte source, bits 3 and 4 pick the source.
            let idx = idx[j % REGS];
            let w = |k: usize| {
                // SAFETY: k < 4, so the 32 bytes at 32 * k lie inside the
                // 128 bytes of `words`; loadu has no alignment requirement.
                let v = unsafe { _mm256_loadu_si256(words.as_ptr().wrapping_add(32 * k).cast()) };
                _mm256_permutevar8x32_epi32(v, idx)
            };
            let bit3 = _mm256_slli_epi32::<28>(idx);
            let low = blend(w(0), w(1), bit3);
            let high = blend(w(2), w(3), bit3);
            blend(low, high, _mm256_slli_epi32::<27>(idx))
        });
    }
    for j in 0..REGS {
        store_array(&mut a_lo, j, st.lo[j]);
        store_array(&mut a_hi, j, st.hi[j]);
    }
    for l in 0..LANES {
        lanes.buf[l] =
            u64::from(a_lo[l]) | (u64::from(a_hi[l]) << 32) | 1u64.wrapping_shl(32 + shift[l]);
    }
    lanes.p += src.len();
    src.len()
}

/// The lanes' state in a stored block (see the module comment), and the
/// shift counts `r` and `32 - r`.
struct State {
    lo: [__m256i; REGS],
    hi: [__m256i; REGS],
    up: [__m256i; REGS],
    down: [__m256i; REGS],
}

/// Runs the groups of `src` into `dst` (the same length, a multiple of
/// 128); `words(group, j)` gives register `j`'s words of a group.
#[target_feature(enable = "avx2")]
#[inline]
fn run_groups<F: Fn(&[u8; GROUP_BYTES], usize) -> __m256i>(
    st: &mut State,
    src: &[u8],
    dst: &mut [u8],
    words: F,
) {
    debug_assert_eq!(src.len(), dst.len());
    // Per 128-bit half: byte 0 of its four lanes, then byte 1, 2, 3.
    let bytes = _mm256_setr_epi8(
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
        14, 3, 7, 11, 15,
    );
    for (g, chunk) in src
        .chunks_exact(GROUP_BYTES)
        .zip(dst.chunks_exact_mut(GROUP_BYTES))
    {
        let (Ok(g), Ok(chunk)) = (
            <&[u8; GROUP_BYTES]>::try_from(g),
            <&mut [u8; GROUP_BYTES]>::try_from(chunk),
        ) else {
            break;
        };
        let mut v = st.lo;
        for (j, vj) in v.iter_mut().enumerate() {
            let w = words(g, j);
            st.lo[j] = _mm256_or_si256(st.hi[j], _mm256_sllv_epi32(w, st.up[j]));
            st.hi[j] = _mm256_srlv_epi32(w, st.down[j]);
            *vj = _mm256_shuffle_epi8(*vj, bytes);
        }
        // Piece k of register j (each half) is byte k of four lanes; the
        // 4x4 transpose of pieces puts row k in one register.
        let t0 = _mm256_unpacklo_epi32(v[0], v[1]);
        let t1 = _mm256_unpackhi_epi32(v[0], v[1]);
        let t2 = _mm256_unpacklo_epi32(v[2], v[3]);
        let t3 = _mm256_unpackhi_epi32(v[2], v[3]);
        let rows = [
            _mm256_unpacklo_epi64(t0, t2),
            _mm256_unpackhi_epi64(t0, t2),
            _mm256_unpacklo_epi64(t1, t3),
            _mm256_unpackhi_epi64(t1, t3),
        ];
        for (k, row) in rows.into_iter().enumerate() {
            let k = k % 4;
            // SAFETY: k < 4, so the 32 bytes at 32 * k lie inside the 128
            // bytes of `chunk`; storeu has no alignment requirement.
            unsafe { _mm256_storeu_si256(chunk.as_mut_ptr().wrapping_add(32 * k).cast(), row) };
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::decode::{self, stored_layout};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    proptest! {
        /// Any lane state (fills of 32 to 63 bits, so any word-slot order)
        /// and any payload: the AVX2 groups write the same bytes and leave
        /// the same lanes as the scalar groups.
        #[test]
        fn avx2_groups_match_scalar_groups(
            fills in prop::array::uniform32(32u32..64),
            bits in prop::array::uniform32(any::<u64>()),
            src in prop::collection::vec(any::<u8>(), 0..1200),
            start in 0usize..8,
            dst_len in 0usize..1100,
        ) {
            if !crate::cpu::has_avx2() {
                return Ok(());
            }
            let mut buf = [0u64; LANES];
            for l in 0..LANES {
                let n = fills[l];
                buf[l] = (bits[l] & ((1u64 << n) - 1)) | (1u64 << n);
            }
            let p = start.min(src.len());
            let (slot, shift) = stored_layout(&buf);
            let mut a = Lanes { src: &src, p, buf };
            let mut b = Lanes { src: &src, p, buf };
            let mut da: Vec<u8> = vec![0xAA; dst_len];
            let mut db: Vec<u8> = vec![0xAA; dst_len];
            let na = decode::stored_groups(&mut a, &mut da, &slot, &shift);
            // SAFETY: has_avx2() returned true above.
            let nb = unsafe { stored_groups(&mut b, &mut db, &slot, &shift) };
            prop_assert_eq!(na, nb);
            prop_assert_eq!(na, (dst_len / 128).min((src.len() - p) / 128) * 128);
            prop_assert_eq!(da, db);
            prop_assert_eq!(a.p, b.p);
            prop_assert_eq!(a.buf, b.buf);
        }
    }
}
