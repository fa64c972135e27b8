//! AVX2 decoding of whole rounds of a Huffman block's symbol section: all
//! 32 lanes at once, in the round-synchronous form of SPEC §3.9, with only
//! the match copies left scalar.
//!
//! # Why it is fast
//!
//! One round is one turn of each lane 0..31. Lanes do not depend on each
//! other inside a round except through the word cursor (which lanes take
//! the next words) and the output position, and both are prefix sums:
//!
//! * the 32 windows, table indices, entries, bit counts, lengths and
//!   distances are computed eight lanes per AVX2 register, four registers
//!   per round, with no branch on any lane's symbol;
//! * the refill is a prefix count over the "fewer than 32 bits left" mask:
//!   each group of eight lanes loads the eight words after the words of the
//!   groups before it and spreads them over its needing lanes with one
//!   `vpermd` whose index vector comes from a 256-entry table (an AVX2
//!   "expand");
//! * literal bytes are packed by one `vpshufb` with per-group indices from
//!   a 256-entry table and stored eight bytes per group; rounds with
//!   matches store the packed literals between the matches, 32 bytes per
//!   run, and an empty run (the usual case on text) into a scratch buffer
//!   instead of the output, without a branch, so that the next match's
//!   source load does not overlap a pointless store still in flight;
//! * bounds checks are hoisted to once per round: a round reads at most
//!   [`ROUND_INPUT`] payload bytes and, before and after every match,
//!   [`ROUND_ROOM`] output bytes must remain, so no literal store or word
//!   load inside the round needs a check; each match checks its distance
//!   and length once.
//!
//! Anything unusual (end of block, an invalid symbol or empty code, a
//! match that fails its checks or comes too close to the tile end) makes
//! the round stop before it commits anything: the caller's scalar turns
//! then run that round and produce exactly the scalar decoder's result,
//! errors included. Output bytes stored by an abandoned round are written
//! again by the scalar turns.
//!
//! # Lane state
//!
//! ```text
//!   hi (u32)                    lo (u32)
//!  63                        32 31                          0
//! +----------------------------+----------------------------+
//! |  valid bits (64 - s) ...   |        ... | consumed (s)  |
//! +----------------------------+----------------------------+
//!   window = (hi:lo) >> s, the lane's next 32 bits when s <= 32
//!   refill (s > 32, fewer than 32 valid bits): lo = hi, hi = word, s -= 32
//! ```
//!
//! The scalar decoder's sentinel buffer `b` (valid bits below a 1) becomes
//! `hi:lo = b << (lzcnt(b) + 1)`, `s = lzcnt(b) + 1`, and back. A lane
//! holds at least one valid bit at every turn boundary (at least 32 when
//! its turn starts, at least 32 - 29 after a distance), so `1 <= s <= 63`.
//!
//! A length turn refills and then decodes its distance at once (the
//! sequential form of SPEC §3.9), so the lane's next turn is a no-op that
//! only refills ("pending"); pending lanes keep the no-op entry instead of
//! a table lookup.
#![allow(unsafe_code)]

use crate::copy;
use crate::decode::{Lanes, Rounds, Turns};
use crate::huffman::{DIST_BITS, DIST_ENOUGH, LITERAL, LITLEN_BITS, LITLEN_TABLE_LEN, NOP_LITERAL};
use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_blendv_epi8, _mm256_castsi256_ps,
    _mm256_cmpeq_epi32, _mm256_cmpgt_epi32, _mm256_cvtepu8_epi32, _mm256_loadu_si256,
    _mm256_min_epu32, _mm256_movemask_ps, _mm256_or_si256, _mm256_packus_epi16,
    _mm256_packus_epi32, _mm256_permutevar8x32_epi32, _mm256_set1_epi32, _mm256_set_epi64x,
    _mm256_setr_epi32, _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_slli_epi32,
    _mm256_sllv_epi32, _mm256_srai_epi32, _mm256_srli_epi32, _mm256_srlv_epi32,
    _mm256_storeu_si256, _mm256_sub_epi32, _mm_cvtsi64_si128, _mm_loadu_si128, _mm_shuffle_epi8,
    _mm_storeu_si128,
};

/// Number of lanes.
const LANES: usize = 32;
/// Lanes per AVX2 register.
const GROUP: usize = 8;
/// Registers per round.
const GROUPS: usize = LANES / GROUP;

/// Payload bytes one round may read: at most one word per lane.
pub(crate) const ROUND_INPUT: usize = 4 * LANES;
/// Output room a round needs at its start and after each of its matches:
/// the literals up to the next match are stored 32 bytes at a time (at
/// most 31 of them are real) and a match copy may write
/// [`copy::WILD_COPY_SLACK`] bytes past its end.
pub(crate) const ROUND_ROOM: usize = 64;

/// `EXPAND[m]`, byte `k`: how many bits of `m` lie below bit `k`: the
/// word slot of lane `k` among the lanes of a group that take a word.
static EXPAND: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut m = 0;
    while m < 256 {
        let mut k = 0;
        let mut below = 0u64;
        while k < 8 {
            t[m] |= below << (8 * k);
            below += ((m >> k) & 1) as u64;
            k += 1;
        }
        m += 1;
    }
    t
};

/// `PACK[m]`, byte `k`: the index of the `k`-th set bit of `m`, then 0x80
/// (a `pshufb` index that gives 0): left-packs the bytes `m` selects.
static PACK: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut m = 0;
    while m < 256 {
        let mut k = 0;
        let mut n = 0;
        let mut v = 0u64;
        while k < 8 {
            if (m >> k) & 1 == 1 {
                v |= (k as u64) << (8 * n);
                n += 1;
            }
            k += 1;
        }
        while n < 8 {
            v |= 0x80 << (8 * n);
            n += 1;
        }
        t[m] = v;
        m += 1;
    }
    t
};

/// `SPREAD[d]` for `d = min(dist, 16)`: `pshufb` indices `i mod d`, which
/// turn the 16 bytes at `pos - dist` into the match's first 16 bytes (the
/// identity for distances of 16 and more).
static SPREAD: [[u8; 16]; 17] = {
    let mut t = [[0u8; 16]; 17];
    let mut d = 1;
    while d <= 16 {
        let mut i = 0;
        while i < 16 {
            t[d][i] = (i % d) as u8;
            i += 1;
        }
        d += 1;
    }
    t
};

/// `STEP[d]`: the largest multiple of `d` up to 16, how far a 16-byte
/// pattern of period `d` may advance and still repeat.
static STEP: [u8; 17] = {
    let mut t = [16u8; 17];
    let mut d = 1;
    while d <= 16 {
        t[d] = (16 / d * d) as u8;
        d += 1;
    }
    t
};

/// Loads 16 bytes of `out` at `at`; the caller guarantees
/// `at + 16 <= out.len()`.
#[target_feature(enable = "avx2")]
#[inline]
fn load16(out: &[u8], at: usize) -> __m128i {
    debug_assert!(at + 16 <= out.len());
    // SAFETY: the caller guarantees at + 16 <= out.len(), so the 16 bytes
    // lie inside `out`; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(out.as_ptr().wrapping_add(at).cast()) }
}

/// Stores 16 bytes into `out` at `at`; the caller guarantees
/// `at + 16 <= out.len()`.
#[target_feature(enable = "avx2")]
#[inline]
fn store16(out: &mut [u8], at: usize, v: __m128i) {
    debug_assert!(at + 16 <= out.len());
    // SAFETY: the caller guarantees at + 16 <= out.len(), so the 16 bytes
    // lie inside `out`; storeu has no alignment requirement.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().wrapping_add(at).cast(), v) }
}

/// LZ77 match copy with room to spare: `len` bytes from `pos - dist` to
/// `pos`, writing up to 32 bytes past the match end (bytes later items
/// overwrite). The caller guarantees `1 <= dist <= pos` and
/// `pos + len + ROUND_ROOM <= out.len()`.
///
/// Two 16-byte steps, with no branch, cover every match of up to 32
/// bytes (distance >= 16) or `16 + STEP[dist]` bytes: each step is the 16
/// bytes at `at - dist` spread by `SPREAD` (for a distance under 16, a
/// pattern of period `dist` built from the `dist` bytes before the match).
#[target_feature(enable = "avx2")]
#[inline]
fn copy_match(out: &mut [u8], pos: usize, dist: usize, len: usize) {
    debug_assert!(dist >= 1 && dist <= pos && pos + len + ROUND_ROOM <= out.len());
    let d = dist.min(16);
    // SAFETY: d <= 16, so SPREAD[d] is 16 readable bytes; loadu has no
    // alignment requirement.
    let spread = unsafe { _mm_loadu_si128(SPREAD[d].as_ptr().cast()) };
    let step = usize::from(STEP[d]);
    // Loads start at or after pos - dist >= 0 and end by pos + 32; stores
    // end by pos + 32 <= out.len() (room >= 64), or in the loops below
    // before end + 16.
    let v = _mm_shuffle_epi8(load16(out, pos - dist), spread);
    store16(out, pos, v);
    let v2 = _mm_shuffle_epi8(load16(out, pos + step - dist), spread);
    store16(out, pos + step, v2);
    let end = pos + len;
    let mut at = pos + 2 * step;
    if at < end {
        if dist >= 16 {
            while at < end {
                store16(out, at, load16(out, at - dist));
                at += 16;
            }
        } else {
            // `v` is the pattern at any multiple of `dist` from `pos`.
            while at < end {
                store16(out, at, v);
                at += step;
            }
        }
    }
}

/// Converts the scalar decoder's sentinel buffer to `(lo, hi, s)`.
#[inline(always)]
fn split(b: u64) -> (u32, u32, u32) {
    debug_assert!(b > 1, "a lane holds at least one bit");
    let s = b.leading_zeros() + 1;
    // The sentinel moves to bit 64 and drops out; the valid bits end up at
    // the top, `s` bits above the bottom.
    let w = b.wrapping_shl(s - 1).wrapping_shl(1);
    (w as u32, (w >> 32) as u32, s)
}

/// Converts `(lo, hi, s)` back to a sentinel buffer (`1 <= s <= 63`).
#[inline(always)]
fn join(lo: u32, hi: u32, s: u32) -> u64 {
    debug_assert!((1..=63).contains(&s));
    let w = (u64::from(hi) << 32) | u64::from(lo);
    w.wrapping_shr(s) | 1u64.wrapping_shl(64 - s)
}

/// Loads 8 lanes from an array.
#[target_feature(enable = "avx2")]
#[inline]
fn load8(a: &[u32; LANES], g: usize) -> __m256i {
    let lanes = &a[GROUP * (g % GROUPS)..][..GROUP];
    // SAFETY: `lanes` is 8 u32 = 32 bytes of `a`; loadu has no alignment
    // requirement.
    unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) }
}

/// Stores 8 lanes into an array.
#[target_feature(enable = "avx2")]
#[inline]
fn store8(a: &mut [u32; LANES], g: usize, v: __m256i) {
    let lanes = &mut a[GROUP * (g % GROUPS)..][..GROUP];
    // SAFETY: `lanes` is 8 u32 = 32 writable bytes of `a`; storeu has no
    // alignment requirement.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) }
}

/// Each lane's window: `(hi:lo) >> s`, its next 32 bits when `s <= 32`
/// (shift counts of 32 and more give 0 in `vpsrlvd`/`vpsllvd`).
#[target_feature(enable = "avx2")]
#[inline]
fn window(lo: __m256i, hi: __m256i, s: __m256i) -> __m256i {
    let back = _mm256_sub_epi32(_mm256_set1_epi32(32), s);
    _mm256_or_si256(_mm256_srlv_epi32(lo, s), _mm256_sllv_epi32(hi, back))
}

/// The value of an item: `base + extra bits`, where the entry's `total`
/// bits of `win` are the codeword (`clen` bits) and then the extra bits.
/// For literals (`total == clen`) this is the byte; for the no-op 0.
#[target_feature(enable = "avx2")]
#[inline]
fn item_value(e: __m256i, win: __m256i) -> __m256i {
    let total = _mm256_and_si256(e, _mm256_set1_epi32(0x3F));
    let clen = _mm256_and_si256(_mm256_srli_epi32::<8>(e), _mm256_set1_epi32(0xF));
    let up = _mm256_sub_epi32(_mm256_set1_epi32(32), total);
    let extra = _mm256_srlv_epi32(_mm256_sllv_epi32(win, up), _mm256_add_epi32(up, clen));
    _mm256_add_epi32(_mm256_srli_epi32::<16>(e), extra)
}

/// The sign bit of each lane as a 32-bit mask of the group.
#[target_feature(enable = "avx2")]
#[inline]
fn signs(v: __m256i) -> u32 {
    _mm256_movemask_ps(_mm256_castsi256_ps(v)) as u32
}

/// Entries of `table` at `idx` for the lanes whose `mask` sign bit is set,
/// `src` for the others. Every index must be below `N`.
#[target_feature(enable = "avx2")]
#[inline]
fn lookup<const N: usize>(table: &[u32; N], idx: __m256i, mask: __m256i, src: __m256i) -> __m256i {
    let mut a = [0u32; LANES];
    store8(&mut a, 0, idx);
    let t = |k: usize| table[(a[k] as usize).min(N - 1)] as i32;
    let v = _mm256_setr_epi32(t(0), t(1), t(2), t(3), t(4), t(5), t(6), t(7));
    _mm256_blendv_epi8(src, v, _mm256_srai_epi32::<31>(mask))
}

/// Resolves the subtable pointers among `e` (lanes whose entries have both
/// the exceptional and the subtable flag): looks up the subtable entry
/// with the bits after the `main_bits` main-table bits. Returns the new
/// entries, the windows (shifted past the main bits in those lanes) and
/// the bits already consumed (`main_bits` in those lanes).
#[target_feature(enable = "avx2")]
#[inline]
fn subtables<const N: usize, const MAIN_BITS: i32>(
    table: &[u32; N],
    e: __m256i,
    win: __m256i,
) -> (__m256i, __m256i, __m256i) {
    // Flag bits 14 (exceptional) and 13 (subtable) moved to the sign.
    let sub = _mm256_srai_epi32::<31>(_mm256_and_si256(
        _mm256_slli_epi32::<17>(e),
        _mm256_slli_epi32::<18>(e),
    ));
    let sub_bits = _mm256_and_si256(_mm256_srli_epi32::<8>(e), _mm256_set1_epi32(0xF));
    let ones = _mm256_set1_epi32(1);
    let sub_mask = _mm256_sub_epi32(_mm256_sllv_epi32(ones, sub_bits), ones);
    let rest = _mm256_srli_epi32::<MAIN_BITS>(win);
    let idx = _mm256_add_epi32(_mm256_srli_epi32::<16>(e), _mm256_and_si256(rest, sub_mask));
    let idx = _mm256_min_epu32(idx, _mm256_set1_epi32(N as i32 - 1));
    let e2 = lookup(table, idx, sub, e);
    let win2 = _mm256_blendv_epi8(win, rest, sub);
    let pre = _mm256_and_si256(sub, _mm256_set1_epi32(MAIN_BITS));
    (e2, win2, pre)
}

/// AVX2 whole-round decoding for the tile decoder ([`Rounds`]): Huffman
/// rounds here, stored-block groups in `stored`. A value
/// exists only on a CPU that has AVX2, BMI1, BMI2, LZCNT and POPCNT (see
/// `cpu`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2 {
    _checked: (),
}

impl Avx2 {
    /// The witness that the CPU has the features of [`rounds`].
    ///
    /// # Safety
    /// The CPU must support AVX2, BMI1, BMI2, LZCNT and POPCNT, and the OS
    /// must save the AVX registers.
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx2 { _checked: () }
    }
}

impl Rounds for Avx2 {
    const ENABLED: bool = true;

    #[inline(always)]
    fn rounds(
        self,
        lanes: &mut Lanes<'_>,
        out: &mut [u8],
        t: &mut Turns,
        ll: &[u32; LITLEN_TABLE_LEN],
        dt: &[u32; DIST_ENOUGH],
    ) {
        debug_assert_eq!(t.lane % LANES, 0);
        // SAFETY: an `Avx2` value exists only where the CPU has AVX2, BMI1,
        // BMI2, LZCNT and POPCNT (its constructor is unsafe with that
        // contract), the features `rounds` is compiled for.
        unsafe {
            rounds(
                lanes.src,
                &mut lanes.p,
                &mut lanes.buf,
                out,
                &mut t.pos,
                &mut t.pending,
                ll,
                dt,
            )
        };
    }

    #[inline(always)]
    fn stored_groups(
        self,
        lanes: &mut Lanes<'_>,
        dst: &mut [u8],
        slot: &[u32; LANES],
        shift: &[u32; LANES],
    ) -> usize {
        // SAFETY: an `Avx2` value exists only where the CPU has AVX2 (its
        // constructor is unsafe with that contract), the feature
        // `stored_groups` is compiled for.
        unsafe { crate::stored::stored_groups(lanes, dst, slot, shift) }
    }
}

/// Stores the four 64-bit lanes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
fn store_u64x4(a: &mut [u64; GROUPS], v: __m256i) {
    // SAFETY: `a` is 4 u64 = 32 writable bytes; storeu has no alignment
    // requirement.
    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), v) }
}

/// Per-group vectors of one lane-state field.
type Vecs = [__m256i; GROUPS];

/// Decodes whole rounds of a symbol section while the margins hold and
/// nothing unusual happens, starting at lane 0 (a round boundary) and
/// stopping at one. `buf`, `p`, `pos` and `pending` are the scalar
/// decoder's state (see `decode`), updated to the end of the last round
/// decoded. Returns the number of rounds decoded.
///
/// Every read and write is inside `src`, `out` and the tables whatever the
/// input; the caller only has to run the scalar turns afterwards.
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
#[allow(clippy::too_many_arguments)]
pub(crate) fn rounds(
    src: &[u8],
    p: &mut usize,
    buf: &mut [u64; LANES],
    out: &mut [u8],
    pos: &mut usize,
    pending: &mut u32,
    ll: &[u32; LITLEN_TABLE_LEN],
    dt: &[u32; DIST_ENOUGH],
) -> usize {
    if src.len() - *p < ROUND_INPUT || out.len() - *pos < ROUND_ROOM {
        return 0;
    }
    let mut a_lo = [0u32; LANES];
    let mut a_hi = [0u32; LANES];
    let mut a_s = [0u32; LANES];
    for l in 0..LANES {
        (a_lo[l], a_hi[l], a_s[l]) = split(buf[l]);
    }
    let zero = _mm256_setzero_si256();
    let c32 = _mm256_set1_epi32(32);
    let bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    let mut lo: Vecs = [zero; GROUPS];
    let mut hi: Vecs = [zero; GROUPS];
    let mut s: Vecs = [zero; GROUPS];
    // Sign bit set: the lane is not pending and looks up a symbol.
    let mut live: Vecs = [zero; GROUPS];
    for g in 0..GROUPS {
        lo[g] = load8(&a_lo, g);
        hi[g] = load8(&a_hi, g);
        s[g] = load8(&a_s, g);
        let m = _mm256_set1_epi32(((*pending >> (GROUP * g)) & 0xFF) as i32);
        live[g] = _mm256_cmpeq_epi32(_mm256_and_si256(m, bit), zero);
    }
    let mut cur_p = *p;
    let mut cur_pos = *pos;
    let mut done = 0usize;
    let mut lens = [0u32; LANES];
    let mut dists = [0u32; LANES];
    let mut lits = copy::Literals::new();
    loop {
        if src.len() - cur_p < ROUND_INPUT || out.len() - cur_pos < ROUND_ROOM {
            break;
        }
        // Literal/length entries (the no-op for pending lanes).
        let mut win: Vecs = [zero; GROUPS];
        let mut e: Vecs = [zero; GROUPS];
        let mut pre: Vecs = [zero; GROUPS];
        let mut exc = 0u32;
        for g in 0..GROUPS {
            win[g] = window(lo[g], hi[g], s[g]);
            let idx = _mm256_and_si256(win[g], _mm256_set1_epi32((1 << LITLEN_BITS) - 1));
            e[g] = lookup(ll, idx, live[g], _mm256_set1_epi32(NOP_LITERAL as i32));
            exc |= signs(_mm256_slli_epi32::<17>(e[g])) << (GROUP * g);
        }
        if exc != 0 {
            let mut sub = 0u32;
            for (g, &eg) in e.iter().enumerate() {
                sub |= signs(_mm256_slli_epi32::<18>(eg)) << (GROUP * g);
            }
            if exc & !sub != 0 {
                // End of block or an invalid symbol: the scalar turns.
                break;
            }
            let mut exc2 = 0u32;
            for g in 0..GROUPS {
                if (exc >> (GROUP * g)) & 0xFF != 0 {
                    (e[g], win[g], pre[g]) =
                        subtables::<LITLEN_TABLE_LEN, { LITLEN_BITS as i32 }>(ll, e[g], win[g]);
                    exc2 |= signs(_mm256_slli_epi32::<17>(e[g])) << (GROUP * g);
                }
            }
            if exc2 != 0 {
                break;
            }
        }
        // Values, bit counts, refills.
        let mut need_mask = 0u32;
        let mut lit_mask = 0u32;
        let mut val: Vecs = [zero; GROUPS];
        let mut s1: Vecs = [zero; GROUPS];
        let mut need: Vecs = [zero; GROUPS];
        let mut next_live: Vecs = [zero; GROUPS];
        for g in 0..GROUPS {
            val[g] = item_value(e[g], win[g]);
            let total = _mm256_and_si256(e[g], _mm256_set1_epi32(0x3F));
            s1[g] = _mm256_add_epi32(_mm256_add_epi32(s[g], pre[g]), total);
            need[g] = _mm256_cmpgt_epi32(s1[g], c32);
            need_mask |= signs(need[g]) << (GROUP * g);
            // Bit 12 (a literal that advances) and bit 15 (literal or no-op).
            lit_mask |= signs(_mm256_slli_epi32::<19>(e[g])) << (GROUP * g);
            next_live[g] = _mm256_slli_epi32::<16>(e[g]);
        }
        let mut len_mask = 0u32;
        for (g, &nl) in next_live.iter().enumerate() {
            len_mask |= (!signs(nl) & 0xFF) << (GROUP * g);
        }
        let mut lo2: Vecs = [zero; GROUPS];
        let mut hi2: Vecs = [zero; GROUPS];
        let mut s2: Vecs = [zero; GROUPS];
        let mut taken = 0usize;
        for g in 0..GROUPS {
            let m = (need_mask >> (GROUP * g)) & 0xFF;
            let slots = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(EXPAND[m as usize] as i64));
            let at = cur_p + 4 * taken;
            debug_assert!(at + 4 * GROUP <= src.len());
            // SAFETY: taken <= 24 here, so at + 32 <= cur_p + 128 <=
            // src.len() (the round's input margin, checked above): the 32
            // bytes lie inside `src`; loadu has no alignment requirement.
            let words = unsafe { _mm256_loadu_si256(src.as_ptr().wrapping_add(at).cast()) };
            let words = _mm256_permutevar8x32_epi32(words, slots);
            lo2[g] = _mm256_blendv_epi8(lo[g], hi[g], need[g]);
            hi2[g] = _mm256_blendv_epi8(hi[g], words, need[g]);
            s2[g] = _mm256_sub_epi32(s1[g], _mm256_and_si256(need[g], c32));
            taken += m.count_ones() as usize;
        }
        // Distances of the length lanes, from their refilled windows.
        if len_mask != 0 {
            let mut d: Vecs = [zero; GROUPS];
            let mut dwin: Vecs = [zero; GROUPS];
            let mut dpre: Vecs = [zero; GROUPS];
            let mut dexc = 0u32;
            for g in 0..GROUPS {
                let is_len = _mm256_cmpeq_epi32(
                    _mm256_and_si256(e[g], _mm256_set1_epi32(LITERAL as i32)),
                    zero,
                );
                dwin[g] = window(lo2[g], hi2[g], s2[g]);
                let idx = _mm256_and_si256(dwin[g], _mm256_set1_epi32((1 << DIST_BITS) - 1));
                d[g] = lookup(dt, idx, is_len, zero);
                dexc |= signs(_mm256_slli_epi32::<17>(d[g])) << (GROUP * g);
            }
            if dexc != 0 {
                let mut sub = 0u32;
                for (g, &dg) in d.iter().enumerate() {
                    sub |= signs(_mm256_slli_epi32::<18>(dg)) << (GROUP * g);
                }
                if dexc & !sub != 0 {
                    break;
                }
                let mut dexc2 = 0u32;
                for g in 0..GROUPS {
                    if (dexc >> (GROUP * g)) & 0xFF != 0 {
                        (d[g], dwin[g], dpre[g]) =
                            subtables::<DIST_ENOUGH, { DIST_BITS as i32 }>(dt, d[g], dwin[g]);
                        dexc2 |= signs(_mm256_slli_epi32::<17>(d[g])) << (GROUP * g);
                    }
                }
                if dexc2 != 0 {
                    break;
                }
            }
            for g in 0..GROUPS {
                store8(&mut dists, g, item_value(d[g], dwin[g]));
                let used =
                    _mm256_add_epi32(dpre[g], _mm256_and_si256(d[g], _mm256_set1_epi32(0x3F)));
                s2[g] = _mm256_add_epi32(s2[g], used);
                store8(&mut lens, g, val[g]);
            }
        }
        // Literal bytes in lane order, then left-packed per group.
        let w01 = _mm256_packus_epi32(val[0], val[1]);
        let w23 = _mm256_packus_epi32(val[2], val[3]);
        let b = _mm256_packus_epi16(w01, w23);
        let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        let lb = |g: usize| ((lit_mask >> (GROUP * g)) & 0xFF) as usize;
        let odd = 0x0808_0808_0808_0808u64;
        let ctrl = _mm256_set_epi64x(
            (PACK[lb(3)] | odd) as i64,
            PACK[lb(2)] as i64,
            (PACK[lb(1)] | odd) as i64,
            PACK[lb(0)] as i64,
        );
        let b = _mm256_shuffle_epi8(b, ctrl);
        let mut packed = [0u64; GROUPS];
        store_u64x4(&mut packed, b);
        let mut at = cur_pos;
        if len_mask == 0 {
            // Only literals: four 8-byte stores (within the round's room).
            for (g, &chunk) in packed.iter().enumerate() {
                copy::store8(out, at, chunk);
                at += lb(g).count_ones() as usize;
            }
        } else {
            // The packed literals of the whole round, contiguous.
            let mut k = 0usize;
            for (g, &chunk) in packed.iter().enumerate() {
                lits.store(k, chunk);
                k += lb(g).count_ones() as usize;
            }
            let nlit = k;
            let mut rem = len_mask;
            let mut written = 0usize;
            let mut ok = true;
            while rem != 0 {
                let j = rem.trailing_zeros() as usize % LANES;
                rem &= rem - 1;
                let before = (lit_mask & ((1u32 << j) - 1)).count_ones() as usize;
                lits.copy_run(written, before - written, out, at);
                at += before - written;
                written = before;
                let len = lens[j] as usize;
                let dist = dists[j] as usize;
                // (out.len() - at >= 33: the room was >= 64 before the
                // at most 31 literals just stored.)
                if dist > at || len + ROUND_ROOM > out.len() - at {
                    ok = false;
                    break;
                }
                copy_match(out, at, dist, len);
                at += len;
            }
            if !ok {
                break;
            }
            lits.copy_run(written, nlit - written, out, at);
            at += nlit - written;
        }
        // Commit the round.
        cur_p += 4 * taken;
        cur_pos = at;
        lo = lo2;
        hi = hi2;
        s = s2;
        live = next_live;
        *pending = len_mask;
        done += 1;
    }
    for g in 0..GROUPS {
        store8(&mut a_lo, g, lo[g]);
        store8(&mut a_hi, g, hi[g]);
        store8(&mut a_s, g, s[g]);
    }
    for l in 0..LANES {
        buf[l] = join(a_lo[l], a_hi[l], a_s[l]);
    }
    *p = cur_p;
    *pos = cur_pos;
    done
}
