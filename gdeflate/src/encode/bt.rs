//! Binary-tree match finder for the near-optimal parser (levels 8-12).
//!
//! Every 4-byte hash bucket holds a binary search tree of the positions
//! with that hash, ordered by the bytes that follow them. Inserting the
//! current position walks down from the bucket's root (the most recent
//! position); each visited node is a match candidate, the walk reports every
//! match longer than the best so far (so lengths come out increasing), and
//! the current position becomes the new root with the visited nodes split
//! into its "less than" and "greater than" subtrees. The lengths already
//! known to match on each side (`lt_len`, `gt_len`) let comparisons start
//! past the common prefix. A two-entry table on 3-byte hashes supplies
//! length-3 matches. As in [`super::hc`], the whole tile is the window.

use alloc::vec;
use alloc::vec::Vec;

use super::hc::{hash3, hash4, load32, match_len, HASH3_BITS, HASH4_BITS};
use super::tables::{dist_slot, MAX_MATCH};

/// Table entries are position + 1 (inserted positions are at most 65532,
/// see [`super::hc`]); 0 means "none".
const NONE: u16 = 0;

/// A match found at some position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) len: u16,
    pub(crate) dist: u16,
    /// Distance slot of `dist` (the parser reads it on every pass).
    pub(crate) slot: u8,
}

impl Match {
    #[inline]
    fn new(len: usize, dist: usize) -> Self {
        Match {
            len: len as u16,
            dist: dist as u16,
            slot: dist_slot(dist) as u8,
        }
    }
}

/// Binary-tree state for one tile.
#[derive(Debug)]
pub(crate) struct BinaryTrees {
    /// The two most recent positions of each 3-byte hash.
    head3: Vec<[u16; 2]>,
    head4: Vec<u16>,
    /// `child[2p]`: subtree of strings less than position p's;
    /// `child[2p + 1]`: greater.
    child: Vec<u16>,
}

impl Default for BinaryTrees {
    fn default() -> Self {
        BinaryTrees {
            head3: vec![[NONE; 2]; 1 << HASH3_BITS],
            head4: vec![NONE; 1 << HASH4_BITS],
            child: vec![NONE; 2 << 16],
        }
    }
}

impl BinaryTrees {
    pub(crate) fn reset(&mut self) {
        self.head3.fill([NONE; 2]);
        self.head4.fill(NONE);
    }

    /// Inserts `pos` into its tree. With `out`, appends every match longer
    /// than the previous one found (at most `depth` nodes visited, stopping
    /// at `nice` bytes) and extends the match that reaches `nice` as far as
    /// it goes. Returns the longest length found (0 if none).
    pub(crate) fn advance(
        &mut self,
        data: &[u8],
        pos: usize,
        nice: usize,
        depth: u32,
        mut out: Option<&mut Vec<Match>>,
    ) -> usize {
        let mut max = (data.len() - pos).min(MAX_MATCH);
        if max < 4 {
            return 0;
        }
        if out.is_none() {
            // Only keeping the trees up to date: comparing past `nice` bytes
            // is never needed (the walk stops there), and without this limit
            // long runs would cost quadratic time.
            max = max.min(nice);
        }
        let nice = nice.min(max);
        let seq = load32(data, pos);
        let h3 = hash3(seq);
        let h4 = hash4(seq);
        let entry = pos as u16 + 1;
        let [c3a, c3b] = self.head3[h3];
        self.head3[h3] = [entry, c3a];
        let mut cur = self.head4[h4];
        self.head4[h4] = entry;

        // A length-3 match from the 3-byte hash's two most recent entries.
        let mut best = 2usize;
        for c3 in [c3a, c3b] {
            if c3 == NONE {
                break;
            }
            let c = c3 as usize - 1;
            if data[c] == data[pos] && data[c + 1] == data[pos + 1] && data[c + 2] == data[pos + 2]
            {
                best = 3;
                if let Some(o) = out.as_deref_mut() {
                    o.push(Match::new(3, pos - c));
                }
                break;
            }
        }

        let mut lt_slot = 2 * pos;
        let mut gt_slot = 2 * pos + 1;
        let (mut lt_len, mut gt_len) = (0usize, 0usize);
        let mut steps = depth;
        while cur != NONE && steps > 0 {
            steps -= 1;
            let c = cur as usize - 1;
            let mut len = lt_len.min(gt_len);
            if data[c + len] == data[pos + len] {
                len += 1 + match_len(data, c + len + 1, pos + len + 1, max - len - 1);
                if len > best {
                    best = len;
                    if let Some(o) = out.as_deref_mut() {
                        o.push(Match::new(len, pos - c));
                    }
                }
                if len >= nice {
                    // The new root replaces c entirely: c's subtrees become
                    // its own.
                    self.child[lt_slot] = self.child[2 * c];
                    self.child[gt_slot] = self.child[2 * c + 1];
                    return if best >= 3 { best } else { 0 };
                }
            }
            if data[c + len] < data[pos + len] {
                self.child[lt_slot] = cur;
                lt_slot = 2 * c + 1;
                cur = self.child[lt_slot];
                lt_len = len;
            } else {
                self.child[gt_slot] = cur;
                gt_slot = 2 * c;
                cur = self.child[gt_slot];
                gt_len = len;
            }
        }
        self.child[lt_slot] = NONE;
        self.child[gt_slot] = NONE;
        if best >= 3 {
            best
        } else {
            0
        }
    }
}
