//! Hash-chain match finder and the greedy and lazy parsers (levels 1-7).
//!
//! A tile is at most 64 KiB and the GDeflate window is 64 KiB, so the whole
//! tile so far is always in the window: no sliding. Only positions with 4
//! bytes ahead (at most 65532) are inserted, so a table entry is a `u16`
//! holding position + 1, with 0 meaning "none"; small entries keep the
//! tables (320 KiB) mostly in the L2 cache.
//!
//! Two hash tables: a single-entry table on the next 3 bytes, used only to
//! find length-3 matches, and a chained table on the next 4 bytes (`prev`
//! links each position to the previous one with the same hash) that the
//! search walks up to `depth` steps, stopping early at `nice` bytes.

use alloc::vec;
use alloc::vec::Vec;

use super::block::Item;
use super::tables::{MAX_MATCH, MIN_MATCH};

/// Width of the 3-byte hash (also used by [`super::bt`]).
pub(crate) const HASH3_BITS: u32 = 15;
/// Width of the 4-byte hash (also used by [`super::bt`]).
pub(crate) const HASH4_BITS: u32 = 16;

/// Reads 4 bytes little-endian at `pos` (caller guarantees `pos + 4 <= len`).
#[inline]
pub(crate) fn load32(data: &[u8], pos: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[pos..pos + 4]);
    u32::from_le_bytes(b)
}

#[inline]
fn load64(data: &[u8], pos: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[pos..pos + 8]);
    u64::from_le_bytes(b)
}

#[inline]
pub(crate) fn hash3(seq: u32) -> usize {
    (((seq & 0x00FF_FFFF).wrapping_mul(0x1E35_A7BD)) >> (32 - HASH3_BITS)) as usize
}

#[inline]
pub(crate) fn hash4(seq: u32) -> usize {
    (seq.wrapping_mul(0x1E35_A7BD) >> (32 - HASH4_BITS)) as usize
}

/// Number of equal bytes at `a` and `b` (a < b), at most `max`; the caller
/// guarantees `b + max <= data.len()`.
#[inline]
pub(crate) fn match_len(data: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut n = 0;
    while n + 8 <= max {
        let x = load64(data, a + n) ^ load64(data, b + n);
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && data[a + n] == data[b + n] {
        n += 1;
    }
    n
}

/// Hash-chain state for one tile.
#[derive(Debug)]
pub(crate) struct HashChains {
    head3: Vec<u16>,
    head4: Vec<u16>,
    prev: Vec<u16>,
}

impl Default for HashChains {
    fn default() -> Self {
        HashChains {
            head3: vec![0; 1 << HASH3_BITS],
            head4: vec![0; 1 << HASH4_BITS],
            prev: vec![0; 1 << 16],
        }
    }
}

impl HashChains {
    fn reset(&mut self) {
        self.head3.fill(0);
        self.head4.fill(0);
    }

    /// Inserts `pos` (which has at least 4 bytes left) and returns the
    /// previous heads of its 3- and 4-byte hash buckets.
    #[inline]
    fn insert(&mut self, data: &[u8], pos: usize) -> (u16, u16) {
        let seq = load32(data, pos);
        let h3 = hash3(seq);
        let h4 = hash4(seq);
        let c3 = self.head3[h3];
        let c4 = self.head4[h4];
        self.head3[h3] = pos as u16 + 1;
        self.head4[h4] = pos as u16 + 1;
        self.prev[pos] = c4;
        (c3, c4)
    }

    /// Inserts positions `from..to` without searching.
    #[inline]
    fn skip(&mut self, data: &[u8], from: usize, to: usize) {
        let end = to.min(data.len().saturating_sub(3));
        for pos in from..end {
            self.insert(data, pos);
        }
    }

    /// Inserts `pos` and returns the longest match longer than `best`
    /// (length, distance), or `(best, 0)` if none.
    #[inline]
    fn longest(
        &mut self,
        data: &[u8],
        pos: usize,
        best: usize,
        nice: usize,
        depth: u32,
    ) -> (usize, usize) {
        let max = (data.len() - pos).min(MAX_MATCH);
        if max < 4 {
            return (best, 0);
        }
        let nice = nice.min(max);
        let (c3, mut cand) = self.insert(data, pos);
        let mut best_len = best;
        let mut best_dist = 0;
        if best_len >= max {
            return (best_len, 0);
        }
        if best_len < 3 && c3 != 0 {
            let c = c3 as usize - 1;
            if data[c] == data[pos] && data[c + 1] == data[pos + 1] && data[c + 2] == data[pos + 2]
            {
                best_len = 3;
                best_dist = pos - c;
            }
        }
        let seq = load32(data, pos);
        // Once a match of 4+ bytes is known, a candidate must also agree on
        // the 4 bytes ending one past it (best_len < max keeps them in
        // bounds): one compare rejects most candidates.
        let mut tail = if best_len >= 4 {
            load32(data, pos + best_len - 3)
        } else {
            0
        };
        let mut steps = depth;
        while cand != 0 && steps > 0 {
            steps -= 1;
            let c = cand as usize - 1;
            cand = self.prev[c];
            if (best_len >= 4 && load32(data, c + best_len - 3) != tail) || load32(data, c) != seq {
                continue;
            }
            let len = 4 + match_len(data, c + 4, pos + 4, max - 4);
            if len > best_len {
                best_len = len;
                best_dist = pos - c;
                if len >= nice {
                    break;
                }
                tail = load32(data, pos + best_len - 3);
            }
        }
        (best_len, best_dist)
    }
}

/// Parser settings of one level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChainParams {
    pub(crate) depth: u32,
    pub(crate) nice: usize,
    /// Look one position ahead before taking a match.
    pub(crate) lazy: bool,
}

/// Whether a length-3 match at `dist` is likely worth more than 3 literals
/// (farther ones need 6+ distance extra bits; measured on the shared corpus).
#[inline]
fn worth(len: usize, dist: usize) -> bool {
    len > MIN_MATCH || dist <= 4096
}

/// Parses `data` into `items` with hash chains, greedily or lazily.
pub(crate) fn parse(hc: &mut HashChains, data: &[u8], p: ChainParams, items: &mut Vec<Item>) {
    hc.reset();
    items.clear();
    let n = data.len();
    let mut pos = 0;
    while pos < n {
        let (mut len, mut dist) = hc.longest(data, pos, 2, p.nice, p.depth);
        if len < MIN_MATCH || !worth(len, dist) {
            items.push(Item::literal(data[pos]));
            pos += 1;
            continue;
        }
        // `searched` is the first position not yet inserted.
        let mut searched = pos + 1;
        if p.lazy {
            while len < p.nice && pos + 1 < n {
                let (nlen, ndist) = hc.longest(data, pos + 1, len, p.nice, p.depth);
                searched = pos + 2;
                if ndist != 0 && nlen > len && worth(nlen, ndist) {
                    items.push(Item::literal(data[pos]));
                    pos += 1;
                    len = nlen;
                    dist = ndist;
                } else {
                    break;
                }
            }
        }
        items.push(Item::matched(len, dist));
        hc.skip(data, searched, pos + len);
        pos += len;
    }
}
