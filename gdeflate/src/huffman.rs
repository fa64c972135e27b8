//! Canonical Huffman decode tables (RFC 1951 §3.2.2 codes, SPEC §5 rules).
//!
//! A code is turned into a flat lookup table indexed by the next `main_bits`
//! bits of a lane (LSB-first, so codewords are stored bit-reversed). Codes
//! longer than `main_bits` go through one level of subtables. One table
//! lookup yields everything the decoder needs for the item, including how
//! many extra bits follow and where they sit, so the hot loop never looks at
//! a symbol number.
//!
//! Table entry (u32), the same layout for every code:
//!
//! ```text
//!  31              16 15 14 13 12 11    8 7 6 5       0
//! +------------------+--+--+--+--+-------+---+---------+
//! |      value       | L| X| S| E|  clen | 0 |  total  |
//! +------------------+--+--+--+--+-------+---+---------+
//!  L  literal: value = the byte; E (without X) = 1: the output advances
//!     by one byte. `L` alone with total 0 is the decoder's no-op entry
//!  X  exceptional: not a literal, length or distance (see S and E)
//!  S  (with X) subtable pointer: value = subtable start index,
//!     clen = subtable index bits, total = main_bits
//!  E  (with X) end of block
//!  X alone: no symbol: value = 0xFFFF for an unused codeword of an empty
//!     code, or the symbol (286/287) that may not be decoded
//!  none of L/X: a length or distance: value = base
//!  clen   codeword length (inside a subtable: length minus main_bits)
//!  total  clen + number of extra bits: the bits the whole item consumes,
//!         extra bits value = (bits & mask(total)) >> clen
//!  precode entries: value = the symbol (0..18), total = clen
//! ```
//!
//! The builder is a `const fn`, so the fixed-block tables are computed at
//! compile time and a fixed block costs no table construction at run time.

use crate::error::{CodeKind, Corruption};

/// Literal flag.
pub(crate) const LITERAL: u32 = 1 << 15;
/// Exceptional flag: subtable pointer, end of block or invalid.
pub(crate) const EXCEPTIONAL: u32 = 1 << 14;
/// Subtable pointer (only with [`EXCEPTIONAL`]).
pub(crate) const SUBTABLE: u32 = 1 << 13;
/// End of block (with [`EXCEPTIONAL`]); with [`LITERAL`]: the literal
/// advances the output position (set in every real literal entry).
pub(crate) const END_OF_BLOCK: u32 = 1 << 12;
/// Bit position of the literal's "advance" bit (same bit as [`END_OF_BLOCK`]).
pub(crate) const LITERAL_ADVANCE_SHIFT: u32 = 12;
/// An entry that behaves as a literal consuming nothing and writing nothing
/// lasting (the output position does not advance).
pub(crate) const NOP_LITERAL: u32 = LITERAL;
/// Value of an entry that matches no codeword.
pub(crate) const NO_SYMBOL: u32 = 0xFFFF;

/// Main-table index bits of the literal/length table.
pub(crate) const LITLEN_BITS: u32 = 11;
/// Literal/length table size: main table plus the most subtable entries any
/// valid code of 288 symbols and maximum length 15 needs (zlib's `enough`
/// for 288 symbols, 11 root bits, 15 maximum bits).
pub(crate) const LITLEN_ENOUGH: usize = 2342;
/// Index of the extra slot after the literal/length code's entries that
/// holds [`NOP_LITERAL`], so a lane with a pending distance can look it up
/// instead of branching.
pub(crate) const LITLEN_NOP_INDEX: usize = LITLEN_ENOUGH;
/// Literal/length table array size: the code's entries plus the no-op slot.
pub(crate) const LITLEN_TABLE_LEN: usize = LITLEN_ENOUGH + 1;
/// Main-table index bits of the distance table.
pub(crate) const DIST_BITS: u32 = 8;
/// Distance table size (zlib's `enough` for 32 symbols, 8 root bits, 15 bits).
pub(crate) const DIST_ENOUGH: usize = 402;
/// The precode has at most 7-bit codewords, so one level suffices.
pub(crate) const PRECODE_BITS: u32 = 7;
/// Precode table size.
pub(crate) const PRECODE_ENOUGH: usize = 1 << PRECODE_BITS;

/// Number of literal/length symbols, including the invalid 286 and 287.
pub(crate) const NUM_LITLEN: usize = 288;
/// Number of distance symbols (30 and 31 are valid in GDeflate).
pub(crate) const NUM_DIST: usize = 32;
/// Number of precode symbols.
pub(crate) const NUM_PRECODE: usize = 19;
/// Longest codeword of the literal/length and distance codes.
pub(crate) const MAX_LEN: u32 = 15;
/// Longest codeword of the precode.
pub(crate) const MAX_PRECODE_LEN: u32 = 7;

/// Length base and extra bits per symbol 257..=285 (SPEC §5: 285 is 3 + 16 bits).
const LENGTHS: [(u32, u32); 29] = [
    (3, 0),
    (4, 0),
    (5, 0),
    (6, 0),
    (7, 0),
    (8, 0),
    (9, 0),
    (10, 0),
    (11, 1),
    (13, 1),
    (15, 1),
    (17, 1),
    (19, 2),
    (23, 2),
    (27, 2),
    (31, 2),
    (35, 3),
    (43, 3),
    (51, 3),
    (59, 3),
    (67, 4),
    (83, 4),
    (99, 4),
    (115, 4),
    (131, 5),
    (163, 5),
    (195, 5),
    (227, 5),
    (3, 16),
];

/// Distance base and extra bits per symbol 0..=31 (30 and 31 from Deflate64).
const DISTANCES: [(u32, u32); 32] = [
    (1, 0),
    (2, 0),
    (3, 0),
    (4, 0),
    (5, 1),
    (7, 1),
    (9, 2),
    (13, 2),
    (17, 3),
    (25, 3),
    (33, 4),
    (49, 4),
    (65, 5),
    (97, 5),
    (129, 6),
    (193, 6),
    (257, 7),
    (385, 7),
    (513, 8),
    (769, 8),
    (1025, 9),
    (1537, 9),
    (2049, 10),
    (3073, 10),
    (4097, 11),
    (6145, 11),
    (8193, 12),
    (12289, 12),
    (16385, 13),
    (24577, 13),
    (32769, 14),
    (49153, 14),
];

/// Entry templates (value, flags, extra-bit count in `total`) per
/// literal/length symbol; the builder adds the codeword length.
pub(crate) const LITLEN_TEMPLATES: [u32; NUM_LITLEN] = {
    let mut t = [0u32; NUM_LITLEN];
    let mut s = 0;
    while s < 256 {
        t[s] = ((s as u32) << 16) | LITERAL | (1 << LITERAL_ADVANCE_SHIFT);
        s += 1;
    }
    t[256] = EXCEPTIONAL | END_OF_BLOCK;
    let mut i = 0;
    while i < LENGTHS.len() {
        t[257 + i] = (LENGTHS[i].0 << 16) | LENGTHS[i].1;
        i += 1;
    }
    t[286] = (286 << 16) | EXCEPTIONAL;
    t[287] = (287 << 16) | EXCEPTIONAL;
    t
};

/// Entry templates per distance symbol.
pub(crate) const DIST_TEMPLATES: [u32; NUM_DIST] = {
    let mut t = [0u32; NUM_DIST];
    let mut i = 0;
    while i < NUM_DIST {
        t[i] = (DISTANCES[i].0 << 16) | DISTANCES[i].1;
        i += 1;
    }
    t
};

/// Entry templates per precode symbol: just the symbol.
pub(crate) const PRECODE_TEMPLATES: [u32; NUM_PRECODE] = {
    let mut t = [0u32; NUM_PRECODE];
    let mut i = 0;
    while i < NUM_PRECODE {
        t[i] = (i as u32) << 16;
        i += 1;
    }
    t
};

/// Why a set of code lengths does not form a usable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeProblem {
    /// More codewords than code space.
    OverSubscribed,
    /// Code space left over (and not one of the two allowed exceptions).
    Incomplete,
}

impl CodeProblem {
    /// The decoder error for this problem in code `kind`.
    pub(crate) fn corruption(self, kind: CodeKind) -> Corruption {
        match self {
            CodeProblem::OverSubscribed => Corruption::OverSubscribedCode(kind),
            CodeProblem::Incomplete => Corruption::IncompleteCode(kind),
        }
    }
}

/// `len` low bits of `code`, reversed (`1 <= len <= 15`).
const fn reverse(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}

/// Builds the decode table for `lens` (one length per symbol, 0 = unused)
/// into `table`, using `templates[symbol]` for each entry.
///
/// Accepts complete codes, the empty code (every entry then decodes to
/// "no symbol") and a code of exactly one 1-bit codeword (both bit values
/// decode to that symbol, as the reference does). Rejects over-subscribed
/// and other incomplete codes. `table` must hold `1 << main_bits` entries
/// plus room for subtables; running out of room (impossible for the
/// `*_ENOUGH` sizes above) is reported as over-subscription rather than
/// written out of bounds.
pub(crate) const fn build(
    lens: &[u8],
    templates: &[u32],
    table: &mut [u32],
    main_bits: u32,
    max_len: u32,
) -> Result<(), CodeProblem> {
    let mut count = [0u32; 16];
    let mut s = 0;
    while s < lens.len() {
        let l = lens[s] as usize;
        if l > max_len as usize {
            return Err(CodeProblem::OverSubscribed);
        }
        count[l] += 1;
        s += 1;
    }
    count[0] = 0;

    // Code space check: `left` is the unused space at depth `l`.
    let mut left: i64 = 1;
    let mut used = 0u32;
    let mut l = 1;
    while l <= max_len as usize {
        left = (left << 1) - count[l] as i64;
        if left < 0 {
            return Err(CodeProblem::OverSubscribed);
        }
        used += count[l];
        l += 1;
    }
    let main_size = 1usize << main_bits;
    if main_size > table.len() {
        return Err(CodeProblem::OverSubscribed);
    }
    if used == 0 {
        let mut i = 0;
        while i < main_size {
            table[i] = EXCEPTIONAL | (NO_SYMBOL << 16);
            i += 1;
        }
        return Ok(());
    }
    if left > 0 {
        if used == 1 && count[1] == 1 {
            let mut sym = 0;
            while lens[sym] != 1 {
                sym += 1;
            }
            let e = templates[sym] + (1 << 8) + 1;
            let mut i = 0;
            while i < main_size {
                table[i] = e;
                i += 1;
            }
            return Ok(());
        }
        return Err(CodeProblem::Incomplete);
    }

    // Symbols sorted by (length, symbol): canonical order.
    let mut offs = [0usize; 16];
    let mut l = 1;
    while l < 15 {
        offs[l + 1] = offs[l] + count[l] as usize;
        l += 1;
    }
    let mut sorted = [0u16; NUM_LITLEN];
    let mut s = 0;
    while s < lens.len() {
        let l = lens[s] as usize;
        if l != 0 {
            sorted[offs[l]] = s as u16;
            offs[l] += 1;
        }
        s += 1;
    }

    // Walk codewords in canonical order. The main table is filled by
    // doubling (as libdeflate does): while codewords of length `len` are
    // placed, only the first `2^len` entries are in use, each codeword at
    // its bit-reversed value; before longer codewords come, the used part
    // is copied after itself, which repeats every shorter codeword at all
    // the indices whose low bits match it. One store per codeword plus
    // plain copies, instead of a strided loop per codeword.
    let mut remaining = count;
    let mut code: u32 = 0;
    let mut cur_len: u32 = 0;
    let mut filled_bits: u32 = 0;
    let mut sub_prefix: u32 = u32::MAX;
    let mut sub_start: usize = 0;
    let mut sub_bits: u32 = 0;
    let mut next_free: usize = main_size;
    let mut i = 0;
    while i < used as usize {
        let sym = sorted[i] as usize;
        let len = lens[sym] as u32;
        code <<= len - cur_len;
        cur_len = len;
        let rev = reverse(code, len);
        if len <= main_bits {
            filled_bits = double_until(table, filled_bits, len);
            table[rev as usize] = templates[sym] + (len << 8) + len;
        } else {
            filled_bits = double_until(table, filled_bits, main_bits);
            let prefix = rev & (main_size as u32 - 1);
            if prefix != sub_prefix {
                // New subtable: as many index bits as the codewords under
                // this prefix need to fill its code space.
                sub_prefix = prefix;
                sub_bits = len - main_bits;
                let mut space = remaining[len as usize] as u64;
                while space < (1u64 << sub_bits) {
                    sub_bits += 1;
                    if main_bits + sub_bits > max_len {
                        return Err(CodeProblem::Incomplete);
                    }
                    space = (space << 1) + remaining[(main_bits + sub_bits) as usize] as u64;
                }
                sub_start = next_free;
                next_free += 1 << sub_bits;
                if next_free > table.len() {
                    return Err(CodeProblem::OverSubscribed);
                }
                table[prefix as usize] = ((sub_start as u32) << 16)
                    | EXCEPTIONAL
                    | SUBTABLE
                    | (sub_bits << 8)
                    | main_bits;
            }
            let rel = len - main_bits;
            let e = templates[sym] + (rel << 8) + rel;
            let mut j = (rev >> main_bits) as usize;
            while j < (1usize << sub_bits) {
                table[sub_start + j] = e;
                j += 1 << rel;
            }
        }
        remaining[len as usize] -= 1;
        code += 1;
        i += 1;
    }
    double_until(table, filled_bits, main_bits);
    Ok(())
}

/// Doubles the used part of a main table (its first `2^bits` entries)
/// until it is `2^want` entries long; returns the new `bits` (`want` if it
/// was larger). The caller guarantees `2^want <= table.len()`.
const fn double_until(table: &mut [u32], mut bits: u32, want: u32) -> u32 {
    while bits < want {
        let half = 1usize << bits;
        let mut j = 0;
        while j < half {
            table[half + j] = table[j];
            j += 1;
        }
        bits += 1;
    }
    bits
}

/// Builds a table at compile time; a failure is a compile error.
const fn build_const<const N: usize>(
    lens: &[u8],
    templates: &[u32],
    main_bits: u32,
    max_len: u32,
) -> [u32; N] {
    let mut t = [0u32; N];
    match build(lens, templates, &mut t, main_bits, max_len) {
        Ok(()) => t,
        Err(_) => panic!("fixed Huffman code does not build"),
    }
}

/// Code lengths of the fixed literal/length code (RFC 1951 §3.2.6, all 288).
const FIXED_LITLEN_LENS: [u8; NUM_LITLEN] = {
    let mut l = [0u8; NUM_LITLEN];
    let mut s = 0;
    while s < NUM_LITLEN {
        l[s] = if s < 144 {
            8
        } else if s < 256 {
            9
        } else if s < 280 {
            7
        } else {
            8
        };
        s += 1;
    }
    l
};

/// Decode table of the fixed literal/length code.
pub(crate) static FIXED_LITLEN: [u32; LITLEN_TABLE_LEN] = {
    let code: [u32; LITLEN_ENOUGH] =
        build_const(&FIXED_LITLEN_LENS, &LITLEN_TEMPLATES, LITLEN_BITS, MAX_LEN);
    let mut t = [NOP_LITERAL; LITLEN_TABLE_LEN];
    let mut i = 0;
    while i < LITLEN_ENOUGH {
        t[i] = code[i];
        i += 1;
    }
    t
};

/// Decode table of the fixed distance code (32 five-bit codes).
pub(crate) static FIXED_DIST: [u32; DIST_ENOUGH] =
    build_const(&[5u8; NUM_DIST], &DIST_TEMPLATES, DIST_BITS, MAX_LEN);

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(table: &[u32], main_bits: u32, bits: u32) -> u32 {
        let e = table[(bits & ((1 << main_bits) - 1)) as usize];
        if e & EXCEPTIONAL != 0 && e & SUBTABLE != 0 {
            let sub = (e >> 16) as usize;
            let sb = (e >> 8) & 0xF;
            table[sub + ((bits >> main_bits) & ((1 << sb) - 1)) as usize]
        } else {
            e
        }
    }

    #[test]
    fn fixed_literal_a_matches_spec_example_2() {
        // SPEC §9 example 2: bits 0x8E (LSB-first) decode to 'A'.
        let e = lookup(&FIXED_LITLEN, LITLEN_BITS, 0x8E);
        assert_eq!(e & LITERAL, LITERAL);
        assert_eq!(e >> 16, u32::from(b'A'));
        assert_eq!(e & 0x3F, 8);
    }

    #[test]
    fn fixed_285_has_16_extra_bits() {
        // SPEC §9 example 5: bits 0xA3 = symbol 285.
        let e = lookup(&FIXED_LITLEN, LITLEN_BITS, 0xA3);
        assert_eq!(e & (LITERAL | EXCEPTIONAL), 0);
        assert_eq!(e >> 16, 3);
        assert_eq!((e >> 8) & 0xF, 8);
        assert_eq!(e & 0x3F, 8 + 16);
    }

    #[test]
    fn over_subscribed_and_incomplete_are_rejected() {
        let mut t = [0u32; PRECODE_ENOUGH];
        assert_eq!(
            build(&[1, 1, 1], &PRECODE_TEMPLATES, &mut t, 7, 7),
            Err(CodeProblem::OverSubscribed)
        );
        assert_eq!(
            build(&[1, 2], &PRECODE_TEMPLATES, &mut t, 7, 7),
            Err(CodeProblem::Incomplete)
        );
        assert_eq!(
            build(&[2], &PRECODE_TEMPLATES, &mut t, 7, 7),
            Err(CodeProblem::Incomplete)
        );
    }

    #[test]
    fn empty_and_single_codes_are_accepted() {
        let mut t = [0u32; PRECODE_ENOUGH];
        assert_eq!(build(&[0, 0], &PRECODE_TEMPLATES, &mut t, 7, 7), Ok(()));
        assert!(t.iter().all(|&e| e == EXCEPTIONAL | (NO_SYMBOL << 16)));
        assert_eq!(build(&[0, 0, 1], &PRECODE_TEMPLATES, &mut t, 7, 7), Ok(()));
        assert!(t.iter().all(|&e| e >> 16 == 2 && e & 0x3F == 1));
    }
}
