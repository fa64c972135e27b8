//! Static tables of the GDeflate token alphabet (SPEC §5): length and
//! distance slots with their bases and extra-bit counts, the precode order,
//! and the fixed-Huffman code lengths.
//!
//! GDeflate uses Deflate64-style codes: distance slots 30 and 31 reach back
//! 64 KiB, and litlen symbol 285 carries 16 extra bits (length 3 + extra).
//! Like the reference encoder we send every length of 258 or more with 285
//! and lengths 3..=257 with 257..=284.

/// Number of litlen symbols a Huffman code is built over (0..=287; 286 and
/// 287 never get a non-zero frequency).
pub(crate) const NUM_LITLEN_SYMS: usize = 288;
/// Number of distance symbols (0..=31, all valid in GDeflate).
pub(crate) const NUM_DIST_SYMS: usize = 32;
/// Number of precode (code-length code) symbols.
pub(crate) const NUM_PRECODE_SYMS: usize = 19;
/// The end-of-block litlen symbol.
pub(crate) const EOB: usize = 256;

/// Longest codeword of the litlen and distance codes.
pub(crate) const MAX_CODEWORD_LEN: u8 = 15;
/// Longest codeword of the precode.
pub(crate) const MAX_PRECODE_LEN: u8 = 7;

/// Shortest match.
pub(crate) const MIN_MATCH: usize = 3;
/// Longest match the encoder emits (the reference's limit; 285 could carry
/// 65538).
pub(crate) const MAX_MATCH: usize = 65535;
/// First length sent with symbol 285.
pub(crate) const LONG_MATCH: usize = 258;
/// Length slot of symbol 285.
pub(crate) const LONG_SLOT: usize = 28;

/// Base length of each length slot (slot = litlen symbol - 257).
pub(crate) const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 3,
];
/// Extra bits of each length slot.
pub(crate) const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 16,
];

/// Base distance of each distance slot.
pub(crate) const DIST_BASE: [u32; 32] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577, 32769, 49153,
];
/// Extra bits of each distance slot.
pub(crate) const DIST_EXTRA: [u8; 32] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13, 14, 14,
];

/// Order in which the precode lengths are transmitted.
pub(crate) const PRECODE_ORDER: [u8; NUM_PRECODE_SYMS] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Length slot of every length below [`LONG_MATCH`], built at compile time.
const SHORT_LENGTH_SLOT: [u8; LONG_MATCH] = {
    let mut t = [0u8; LONG_MATCH];
    let mut slot = 0;
    while slot < 28 {
        let base = LENGTH_BASE[slot] as usize;
        let end = base + (1 << LENGTH_EXTRA[slot]);
        let mut len = base;
        while len < end && len < LONG_MATCH {
            t[len] = slot as u8;
            len += 1;
        }
        slot += 1;
    }
    t
};

/// Length slot (litlen symbol - 257) of a match length in 3..=65535.
#[inline]
pub(crate) fn length_slot(len: usize) -> usize {
    debug_assert!((MIN_MATCH..=MAX_MATCH).contains(&len));
    if len < LONG_MATCH {
        SHORT_LENGTH_SLOT[len] as usize
    } else {
        LONG_SLOT
    }
}

/// Distance slot of a distance in 1..=65536.
#[inline]
pub(crate) fn dist_slot(dist: usize) -> usize {
    debug_assert!((1..=65536).contains(&dist));
    let d = (dist - 1) as u32;
    if d < 4 {
        d as usize
    } else {
        let top = 31 - d.leading_zeros();
        (2 * top + ((d >> (top - 1)) & 1)) as usize
    }
}

/// Code lengths of the fixed litlen code (RFC 1951 §3.2.6).
pub(crate) const FIXED_LITLEN_LENS: [u8; NUM_LITLEN_SYMS] = {
    let mut t = [0u8; NUM_LITLEN_SYMS];
    let mut i = 0;
    while i < NUM_LITLEN_SYMS {
        t[i] = if i < 144 {
            8
        } else if i < 256 {
            9
        } else if i < 280 {
            7
        } else {
            8
        };
        i += 1;
    }
    t
};
/// Code lengths of the fixed distance code.
pub(crate) const FIXED_DIST_LENS: [u8; NUM_DIST_SYMS] = [5; NUM_DIST_SYMS];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_their_ranges() {
        for len in MIN_MATCH..=MAX_MATCH {
            let s = length_slot(len);
            let base = LENGTH_BASE[s] as usize;
            assert!(
                len >= base && len - base < (1 << LENGTH_EXTRA[s]),
                "len {len}"
            );
            if len >= LONG_MATCH {
                assert_eq!(s, LONG_SLOT);
            }
        }
        for dist in 1..=65536usize {
            let s = dist_slot(dist);
            let base = DIST_BASE[s] as usize;
            assert!(
                dist >= base && dist - base < (1 << DIST_EXTRA[s]),
                "dist {dist}"
            );
        }
    }
}
