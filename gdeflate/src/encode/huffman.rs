//! Length-limited canonical Huffman codes for the encoder.
//!
//! Code lengths come from the package-merge algorithm (Larmore and
//! Hirschberg), which gives the optimal prefix code under a maximum codeword
//! length: 15 bits for the litlen and distance codes, 7 for the precode. The
//! codewords are then assigned canonically (RFC 1951 §3.2.2) and stored
//! bit-reversed, because GDeflate lanes are LSB-first while Huffman codes are
//! sent most significant bit first.
//!
//! Special cases follow the reference encoder so that every decoder accepts
//! the result: no used symbol gives an all-zero (empty) code, one used symbol
//! gives a complete two-codeword code (the used symbol plus symbol 0 or 1).

use alloc::vec::Vec;

/// Scratch space reused across code constructions.
#[derive(Debug, Default)]
pub(crate) struct CodeBuilder {
    /// Used symbols as `(frequency, symbol)`, sorted ascending.
    leaves: Vec<(u32, u16)>,
    /// Weights of the list of the level being built.
    cur: Vec<u64>,
    /// Weights of the previous (deeper) level.
    prev: Vec<u64>,
    /// For every level, from the deepest: 1 where the list item is a leaf.
    is_leaf: Vec<u8>,
    /// Start of each level's flags in `is_leaf`.
    level_start: Vec<usize>,
}

impl CodeBuilder {
    /// Computes code lengths (at most `max_len`) for `freqs` into `lens` and
    /// bit-reversed canonical codewords into `codes`.
    pub(crate) fn build(&mut self, freqs: &[u32], max_len: u8, lens: &mut [u8], codes: &mut [u16]) {
        debug_assert!(freqs.len() == lens.len() && freqs.len() == codes.len());
        self.lengths(freqs, max_len, lens);
        canonical_codes(lens, codes);
    }

    /// Computes optimal length-limited code lengths for `freqs`.
    pub(crate) fn lengths(&mut self, freqs: &[u32], max_len: u8, lens: &mut [u8]) {
        lens.fill(0);
        self.leaves.clear();
        self.leaves.extend(
            freqs
                .iter()
                .enumerate()
                .filter(|(_, &f)| f != 0)
                .map(|(s, &f)| (f, s as u16)),
        );
        let n = self.leaves.len();
        match n {
            0 => return,
            1 => {
                let sym = self.leaves[0].1 as usize;
                lens[sym] = 1;
                lens[if sym == 0 { 1 } else { 0 }] = 1;
                return;
            }
            _ => {}
        }
        debug_assert!(n <= 1usize << max_len);
        self.leaves.sort_unstable();

        // Build the lists from the deepest level (max_len) up to level 1.
        // Level max_len holds just the leaves; every shallower level merges
        // the leaves with packages (pairs) of the level below.
        self.is_leaf.clear();
        self.level_start.clear();
        self.prev.clear();
        self.prev
            .extend(self.leaves.iter().map(|&(f, _)| u64::from(f)));
        self.level_start.push(0);
        self.is_leaf.extend(core::iter::repeat_n(1u8, n));
        for _ in 1..max_len {
            self.cur.clear();
            let start = self.is_leaf.len();
            self.level_start.push(start);
            let packages = self.prev.len() / 2;
            let (mut li, mut pi) = (0usize, 0usize);
            loop {
                let pkg = (pi < packages).then(|| self.prev[2 * pi] + self.prev[2 * pi + 1]);
                let leaf = self.leaves.get(li).map(|&(f, _)| u64::from(f));
                // Merge in ascending order, leaves first on ties.
                let take_leaf = match (leaf, pkg) {
                    (Some(l), Some(p)) => l <= p,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                if let (true, Some(l)) = (take_leaf, leaf) {
                    self.cur.push(l);
                    self.is_leaf.push(1);
                    li += 1;
                } else if let Some(p) = pkg {
                    self.cur.push(p);
                    self.is_leaf.push(0);
                    pi += 1;
                }
            }
            core::mem::swap(&mut self.cur, &mut self.prev);
        }

        // Walk back from level 1: its first 2n-2 items are selected; every
        // selected leaf adds one bit to its symbol, every selected package
        // selects two items of the next deeper level.
        let mut need = 2 * n - 2;
        for level in (0..max_len as usize).rev() {
            let start = self.level_start[level];
            let end = if level + 1 < self.level_start.len() {
                self.level_start[level + 1]
            } else {
                self.is_leaf.len()
            };
            debug_assert!(need <= end - start);
            let taken = &self.is_leaf[start..start + need];
            let leaves = taken.iter().filter(|&&f| f == 1).count();
            for &(_, sym) in &self.leaves[..leaves] {
                lens[sym as usize] += 1;
            }
            need = 2 * (need - leaves);
            if need == 0 {
                break;
            }
        }
        debug_assert!(lens.iter().all(|&l| l <= max_len));
    }
}

/// Assigns canonical codewords to `lens`, bit-reversed for LSB-first output.
pub(crate) fn canonical_codes(lens: &[u8], codes: &mut [u16]) {
    let mut count = [0u16; 16];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for len in 1..16 {
        code = (code + count[len - 1]) << 1;
        next[len] = code;
    }
    for (sym, &l) in lens.iter().enumerate() {
        if l == 0 {
            codes[sym] = 0;
        } else {
            let c = next[l as usize];
            next[l as usize] += 1;
            codes[sym] = c.reverse_bits() >> (16 - l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kraft(lens: &[u8]) -> u64 {
        lens.iter()
            .filter(|&&l| l != 0)
            .map(|&l| 1u64 << (15 - l))
            .sum()
    }

    #[test]
    fn complete_and_limited() {
        let mut b = CodeBuilder::default();
        // Fibonacci frequencies force an unbounded Huffman code past 15 bits.
        let mut freqs = [0u32; 40];
        let (mut a, mut c) = (1u32, 1u32);
        for f in freqs.iter_mut() {
            *f = a;
            let t = a.saturating_add(c);
            a = c;
            c = t;
        }
        let mut lens = [0u8; 40];
        b.lengths(&freqs, 15, &mut lens);
        assert!(lens.iter().all(|&l| (1..=15).contains(&l)));
        assert_eq!(kraft(&lens), 1 << 15);
        // More frequent symbols never get longer codes.
        for w in lens.windows(2) {
            assert!(w[0] >= w[1], "{lens:?}");
        }
    }

    #[test]
    fn matches_plain_huffman_when_unconstrained() {
        let mut b = CodeBuilder::default();
        let freqs = [5u32, 9, 12, 13, 16, 45];
        let mut lens = [0u8; 6];
        b.lengths(&freqs, 15, &mut lens);
        // The classic textbook example: total cost 224.
        let cost: u32 = freqs
            .iter()
            .zip(&lens)
            .map(|(&f, &l)| f * u32::from(l))
            .sum();
        assert_eq!(cost, 224);
        assert_eq!(kraft(&lens), 1 << 15);
    }

    #[test]
    fn special_cases() {
        let mut b = CodeBuilder::default();
        let mut lens = [9u8; 4];
        b.lengths(&[0, 0, 0, 0], 7, &mut lens);
        assert_eq!(lens, [0, 0, 0, 0]);
        b.lengths(&[0, 0, 7, 0], 7, &mut lens);
        assert_eq!(lens, [1, 0, 1, 0]);
        b.lengths(&[3, 0, 0, 0], 7, &mut lens);
        assert_eq!(lens, [1, 1, 0, 0]);
        let mut codes = [0u16; 4];
        canonical_codes(&[2, 1, 3, 3], &mut codes);
        // Canonical: sym1 = 0, sym0 = 10, sym2 = 110, sym3 = 111 (reversed).
        assert_eq!(codes, [0b01, 0b0, 0b011, 0b111]);
    }
}
