//! Block splitting: where a tile's item sequence should be cut into blocks
//! so that each block gets Huffman codes fitted to its own statistics.
//!
//! The tile is divided into chunks of about `chunk` input bytes (cut at item
//! boundaries). Prefix sums of the chunks' symbol histograms give the
//! histogram of any run of consecutive chunks in one subtraction. The cost of
//! a candidate block is its Shannon bound (sum of f * log2(N/f), the size of
//! an ideal entropy coder) plus an estimate of its dynamic header, and a
//! dynamic program over chunk boundaries picks the cheapest cut set. The
//! caller then checks each cut with exact code sizes and merges blocks where
//! a cut does not pay. Integer arithmetic only (no floating point in
//! `no_std`): log2 is a fixed-point table lookup.

use alloc::vec::Vec;

use super::block::{Freqs, Item};
use super::tables::{dist_slot, length_slot, EOB, NUM_DIST_SYMS, NUM_LITLEN_SYMS};

/// Fractional bits of the fixed-point log2 values.
const FRAC: u32 = 16;

/// `log2(1 + i/256)` in Q16 for i in 0..=256, computed at compile time by
/// repeated squaring.
const LOG2_MANT: [u32; 257] = {
    let mut t = [0u32; 257];
    let mut i = 0;
    while i <= 256 {
        // x in Q32, within [1, 2].
        let mut x: u128 = ((256 + i) as u128) << 24;
        let mut r = 0u32;
        let mut bit = FRAC;
        while bit > 0 {
            bit -= 1;
            x = (x * x) >> 32;
            if x >= 2u128 << 32 {
                x >>= 1;
                r |= 1 << bit;
            }
        }
        t[i] = r;
        i += 1;
    }
    t
};

/// `log2(x)` in Q16 (x >= 1), accurate to about 1/256 of a bit.
#[inline]
pub(crate) fn log2_q16(x: u32) -> u32 {
    debug_assert!(x > 0);
    let top = 31 - x.leading_zeros();
    // 8 mantissa bits below the leading one, rounded down.
    let mant = if top >= 8 {
        (x >> (top - 8)) & 0xFF
    } else {
        (x << (8 - top)) & 0xFF
    };
    (top << FRAC) + LOG2_MANT[mant as usize]
}

/// Shannon cost in Q16 bits of a histogram with `total` symbols and
/// `sum_flogf` = sum of f log2 f (Q16): `N log2 N - sum f log2 f`.
fn entropy_q16(total: u64, sum_flogf: u64) -> u64 {
    if total <= 1 {
        return 0;
    }
    (total * u64::from(log2_q16(total as u32))).saturating_sub(sum_flogf)
}

/// Histogram bins: the 288 litlen symbols, then the 32 distance symbols
/// (the layout of [`Freqs`], so a block's frequencies are a difference of
/// two prefix rows).
const BINS: usize = NUM_LITLEN_SYMS + NUM_DIST_SYMS;
/// Litlen bins that can occur in items (EOB is added per block).
const LIT_BINS: usize = 286;

/// Reusable state of the splitter.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    /// Prefix histograms, one row of `BINS` per chunk boundary.
    prefix: Vec<u32>,
    /// Item index of each chunk boundary.
    bounds: Vec<usize>,
    /// Input byte position of each chunk boundary.
    positions: Vec<usize>,
    used: Vec<usize>,
    best: Vec<u64>,
    from: Vec<usize>,
}

/// Estimated header bits of a dynamic block using `used` distinct symbols.
fn header_estimate(used: usize) -> u64 {
    (50 + 3 * used as u64) << FRAC
}

impl Splitter {
    /// Divides `items` into chunks of about `chunk` input bytes and returns
    /// the cheapest set of chunk boundaries to cut at, by boundary index
    /// (ascending, 0 and the last boundary included).
    pub(crate) fn cuts(&mut self, items: &[Item], chunk: usize, cuts: &mut Vec<usize>) {
        cuts.clear();
        self.bounds.clear();
        self.positions.clear();
        self.prefix.clear();
        self.bounds.push(0);
        self.positions.push(0);
        self.prefix.resize(BINS, 0);
        let mut row = [0u32; BINS];
        let mut pos = 0usize;
        let mut next = chunk;
        for (i, &it) in items.iter().enumerate() {
            if pos >= next {
                self.bounds.push(i);
                self.positions.push(pos);
                self.prefix.extend_from_slice(&row);
                while next <= pos {
                    next += chunk;
                }
            }
            if it.len() == 0 {
                row[it.low()] += 1;
                pos += 1;
            } else {
                row[257 + length_slot(it.len())] += 1;
                row[NUM_LITLEN_SYMS + dist_slot(it.low())] += 1;
                pos += it.len();
            }
        }
        self.bounds.push(items.len());
        self.positions.push(pos);
        self.prefix.extend_from_slice(&row);
        let k = self.bounds.len() - 1;
        cuts.push(0);
        if k >= 2 {
            self.search(k, &row, cuts);
        }
        cuts.push(k);
    }

    /// The dynamic program over `k` chunks; pushes the inner cuts.
    fn search(&mut self, k: usize, total: &[u32; BINS], cuts: &mut Vec<usize>) {
        // Only bins that occur at all need visiting.
        self.used.clear();
        self.used.extend(
            (0..BINS).filter(|&s| total[s] != 0 && !(LIT_BINS..NUM_LITLEN_SYMS).contains(&s)),
        );
        self.best.clear();
        self.best.resize(k + 1, u64::MAX);
        self.from.clear();
        self.from.resize(k + 1, 0);
        self.best[0] = 0;
        for j in 1..=k {
            for i in 0..j {
                let (lo, hi) = (i * BINS, j * BINS);
                // (count, sum of f log2 f) of the litlen and distance bins.
                let mut acc = [(0u64, 0u64); 2];
                let mut n_used = 0;
                for &s in &self.used {
                    let f = self.prefix[hi + s] - self.prefix[lo + s];
                    if f != 0 {
                        n_used += 1;
                        let a = &mut acc[usize::from(s >= NUM_LITLEN_SYMS)];
                        a.0 += u64::from(f);
                        if f > 1 {
                            a.1 += u64::from(f) * u64::from(log2_q16(f));
                        }
                    }
                }
                let cost = acc.iter().map(|&(n, fl)| entropy_q16(n, fl)).sum::<u64>()
                    + header_estimate(n_used);
                let total = self.best[i].saturating_add(cost);
                if total < self.best[j] {
                    self.best[j] = total;
                    self.from[j] = i;
                }
            }
        }
        let start = cuts.len();
        let mut j = self.from[k];
        while j > 0 {
            cuts.push(j);
            j = self.from[j];
        }
        cuts[start..].reverse();
    }

    /// Item index of chunk boundary `b`.
    pub(crate) fn item_at(&self, b: usize) -> usize {
        self.bounds[b]
    }

    /// Input byte position of chunk boundary `b`.
    pub(crate) fn byte_at(&self, b: usize) -> usize {
        self.positions[b]
    }

    /// Symbol frequencies of the items between boundaries `a` and `b`, EOB
    /// included.
    pub(crate) fn freqs(&self, a: usize, b: usize, f: &mut Freqs) {
        let (lo, hi) = (a * BINS, b * BINS);
        for (s, v) in f.litlen.iter_mut().enumerate() {
            *v = self.prefix[hi + s] - self.prefix[lo + s];
        }
        for (s, v) in f.dist.iter_mut().enumerate() {
            let s = NUM_LITLEN_SYMS + s;
            *v = self.prefix[hi + s] - self.prefix[lo + s];
        }
        f.litlen[EOB] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_is_close() {
        assert_eq!(log2_q16(1), 0);
        assert_eq!(log2_q16(2), 1 << 16);
        assert_eq!(log2_q16(1024), 10 << 16);
        // log2(3) = 1.58496...
        let l3 = log2_q16(3);
        assert!((l3 as i64 - 103_872).abs() < 300, "{l3}");
        // log2(1000) = 9.96578...
        let l = log2_q16(1000);
        assert!((l as i64 - 653_117).abs() < 300, "{l}");
    }

    #[test]
    fn splits_where_statistics_change() {
        // 16 KiB of one literal alphabet, then 16 KiB of a disjoint one.
        let mut items = Vec::new();
        for i in 0..16384usize {
            items.push(Item::literal(b'a' + (i * 7 % 13) as u8));
        }
        for i in 0..16384usize {
            items.push(Item::literal(128 + (i * 5 % 11) as u8));
        }
        let mut s = Splitter::default();
        let mut cuts = Vec::new();
        s.cuts(&items, 4096, &mut cuts);
        assert_eq!(cuts, [0, 4, 8]);
        assert_eq!((s.item_at(4), s.byte_at(4)), (16384, 16384));
        let mut f = Freqs::default();
        s.freqs(4, 8, &mut f);
        assert_eq!(f.litlen[..128].iter().sum::<u32>(), 0);
        assert_eq!(f.litlen[128..256].iter().sum::<u32>(), 16384);
        assert_eq!(f.litlen[EOB], 1);
        // Uniform statistics: no cut.
        s.cuts(&items[..16384], 4096, &mut cuts);
        assert_eq!(cuts, [0, 4]);
    }
}
