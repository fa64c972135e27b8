//! Near-optimal parsing (levels 8-12), in the style of libdeflate's
//! iterative cost-model approach.
//!
//! 1. The binary-tree match finder records, for every position of the tile,
//!    the matches of increasing length it saw (positions inside a match of
//!    `nice` bytes or more are inserted but get no matches, which keeps
//!    highly repetitive data linear).
//! 2. A backward dynamic program over a block finds the cheapest sequence
//!    of literals and matches under a cost model (bits per literal, per
//!    length and per distance slot, extra bits included). For each length
//!    only the nearest match that reaches it is considered.
//! 3. The chosen items' statistics give Huffman codes, whose code lengths
//!    become the next cost model; the program runs again. The cheapest
//!    parse seen (exact block size) is kept.
//!
//! Costs are in 1/16 bit so that the first pass's fractional default costs
//! are representable.

use alloc::vec::Vec;

use super::block::{Codes, Item};
use super::bt::{BinaryTrees, Match};
use super::tables::{
    length_slot, DIST_EXTRA, LENGTH_EXTRA, LONG_MATCH, LONG_SLOT, MAX_MATCH, MIN_MATCH,
    NUM_DIST_SYMS,
};

/// Cost units per bit.
const UNIT: u32 = 16;
/// Cost of a symbol that had no code in the previous pass, in bits.
const NOSTAT_LIT: u32 = 13;
const NOSTAT_LEN: u32 = 13;
const NOSTAT_DIST: u32 = 10;

/// Settings of a near-optimal level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OptParams {
    pub(crate) depth: u32,
    pub(crate) nice: usize,
    /// Dynamic-program passes over the whole tile (before splitting).
    pub(crate) tile_passes: u32,
    /// Further passes over each block with the block's own statistics.
    pub(crate) block_passes: u32,
}

/// Symbol costs of the dynamic program, in 1/16 bit.
#[derive(Clone, Debug)]
struct CostModel {
    lit: [u32; 256],
    /// Indexed by match length, for lengths below [`LONG_MATCH`].
    len: [u32; LONG_MATCH],
    /// Cost of any length >= [`LONG_MATCH`] (symbol 285 + 16 extra bits).
    long: u32,
    dist: [u32; NUM_DIST_SYMS],
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            lit: [0; 256],
            len: [0; LONG_MATCH],
            long: 0,
            dist: [0; NUM_DIST_SYMS],
        }
    }
}

impl CostModel {
    fn set(
        &mut self,
        lit: impl Fn(usize) -> u32,
        len_sym: impl Fn(usize) -> u32,
        dist_sym: impl Fn(usize) -> u32,
    ) {
        for (b, c) in self.lit.iter_mut().enumerate() {
            *c = lit(b);
        }
        for l in MIN_MATCH..LONG_MATCH {
            let s = length_slot(l);
            self.len[l] = len_sym(s) + UNIT * u32::from(LENGTH_EXTRA[s]);
        }
        self.long = len_sym(LONG_SLOT) + UNIT * u32::from(LENGTH_EXTRA[LONG_SLOT]);
        for (s, c) in self.dist.iter_mut().enumerate() {
            *c = dist_sym(s) + UNIT * u32::from(DIST_EXTRA[s]);
        }
    }

    /// First-pass costs: every symbol about equally likely, with matches
    /// slightly favoured over literals.
    fn defaults(&mut self) {
        self.set(|_| 132, |_| 120, |_| 78);
    }

    /// Costs from the code lengths of the previous pass.
    fn set_from_codes(&mut self, c: &Codes) {
        let pick = |len: u8, nostat: u32| UNIT * if len == 0 { nostat } else { u32::from(len) };
        self.set(
            |b| pick(c.litlen_lens[b], NOSTAT_LIT),
            |s| pick(c.litlen_lens[257 + s], NOSTAT_LEN),
            |s| pick(c.dist_lens[s], NOSTAT_DIST),
        );
    }
}

/// Near-optimal parser state, reused across tiles.
#[derive(Debug, Default)]
pub(crate) struct Optimal {
    bt: BinaryTrees,
    /// All recorded matches; those of position p are
    /// `matches[start[p]..start[p + 1]]`.
    matches: Vec<Match>,
    start: Vec<u32>,
    /// Cost from each position to the end of the block being parsed.
    cost: Vec<u32>,
    /// First item of the cheapest path from each position.
    choice: Vec<Item>,
    model: CostModel,
}

impl Optimal {
    /// Records the matches of every position of `data`.
    pub(crate) fn find_matches(&mut self, data: &[u8], p: OptParams) {
        let n = data.len();
        self.bt.reset();
        self.matches.clear();
        self.start.clear();
        let mut pos = 0;
        while pos < n {
            self.start.push(self.matches.len() as u32);
            let nice_here = p.nice.min(n - pos).min(MAX_MATCH);
            let best = self
                .bt
                .advance(data, pos, p.nice, p.depth, Some(&mut self.matches));
            pos += 1;
            if best >= MIN_MATCH && best >= nice_here {
                // A long match: its inner positions join the trees but get
                // no matches of their own.
                for _ in 1..best {
                    self.start.push(self.matches.len() as u32);
                    self.bt.advance(data, pos, p.nice, p.depth, None);
                    pos += 1;
                }
            }
        }
        self.start.push(self.matches.len() as u32);
        self.cost.resize(n + 1, 0);
        self.choice.resize(n, Item::literal(0));
    }

    /// Uses the first-pass default costs.
    pub(crate) fn default_costs(&mut self) {
        self.model.defaults();
    }

    /// Uses costs derived from `codes`.
    pub(crate) fn costs_from(&mut self, codes: &Codes) {
        self.model.set_from_codes(codes);
    }

    /// A quick greedy parse of the whole tile from the cached matches under
    /// the current costs: the longest match at each position when it costs
    /// less than its bytes as literals. Its statistics seed the first
    /// Huffman-based cost model.
    pub(crate) fn greedy(&self, data: &[u8], items: &mut Vec<Item>) {
        let m = &self.model;
        let mut pos = 0;
        while pos < data.len() {
            let ms = &self.matches[self.start[pos] as usize..self.start[pos + 1] as usize];
            if let Some(mt) = ms.last() {
                let len = mt.len as usize;
                let lcost = if len < LONG_MATCH { m.len[len] } else { m.long };
                let lits: u32 = data[pos..pos + len]
                    .iter()
                    .map(|&b| m.lit[b as usize])
                    .sum();
                if lcost + m.dist[mt.slot as usize] < lits {
                    items.push(Item::matched(len, mt.dist as usize));
                    pos += len;
                    continue;
                }
            }
            items.push(Item::literal(data[pos]));
            pos += 1;
        }
    }

    /// Finds the cheapest parse of `data[a..b]` under the current costs and
    /// appends its items to `items`.
    pub(crate) fn parse(&mut self, data: &[u8], a: usize, b: usize, items: &mut Vec<Item>) {
        let m = &self.model;
        self.cost[b] = 0;
        for i in (a..b).rev() {
            let lit = data[i];
            let mut best = m.lit[lit as usize] + self.cost[i + 1];
            let mut choice = Item::literal(lit);
            let limit = b - i;
            let ms = &self.matches[self.start[i] as usize..self.start[i + 1] as usize];
            let mut l = MIN_MATCH;
            for mt in ms {
                let dist = mt.dist as usize;
                let dcost = m.dist[mt.slot as usize];
                let end = (mt.len as usize).min(limit);
                if l > end {
                    continue;
                }
                // Cheapest length in l..=end for this distance (first one
                // on ties, so shorter matches win).
                let short_end = end.min(LONG_MATCH - 1);
                let (mut bl, mut bv) = (0usize, u32::MAX);
                if l <= short_end {
                    let lens = &m.len[l..=short_end];
                    let rest = &self.cost[i + l..=i + short_end];
                    for (k, (&lc, &rc)) in lens.iter().zip(rest).enumerate() {
                        if lc + rc < bv {
                            bv = lc + rc;
                            bl = l + k;
                        }
                    }
                    l = short_end + 1;
                }
                if l <= end {
                    for (k, &rc) in self.cost[i + l..=i + end].iter().enumerate() {
                        if m.long + rc < bv {
                            bv = m.long + rc;
                            bl = l + k;
                        }
                    }
                    l = end + 1;
                }
                if dcost + bv < best {
                    best = dcost + bv;
                    choice = Item::matched(bl, dist);
                }
                if end == limit {
                    break;
                }
            }
            self.cost[i] = best;
            self.choice[i] = choice;
        }
        let mut pos = a;
        while pos < b {
            let it = self.choice[pos];
            items.push(it);
            pos += it.span();
        }
    }
}
