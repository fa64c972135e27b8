//! Compression of one tile (one raw GDeflate page of at most 64 KiB):
//! parse into LZ77 items with the level's strategy, cut the items into
//! blocks, choose each block's coding and serialize everything onto the 32
//! lanes.

use alloc::vec::Vec;

use super::block::{stored_bits, write_stored, BlockWriter, Freqs, Item};
use super::hc::{self, ChainParams, HashChains};
use super::lanes::LaneWriter;
use super::optimal::{OptParams, Optimal};
use super::split::Splitter;

/// How a level parses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Strategy {
    /// Stored blocks only (level 0).
    Stored,
    /// Hash chains, greedy or lazy (levels 1-7).
    Chains(ChainParams),
    /// Binary trees and near-optimal parsing (levels 8-12).
    Optimal(OptParams),
}

/// Parsing strategy and block-split chunk size of a level (0..=12).
pub(crate) fn strategy(level: u8) -> (Strategy, usize) {
    let chains =
        |depth, nice, lazy, chunk| (Strategy::Chains(ChainParams { depth, nice, lazy }), chunk);
    let optimal = |depth, nice, tile_passes, block_passes, chunk| {
        (
            Strategy::Optimal(OptParams {
                depth,
                nice,
                tile_passes,
                block_passes,
            }),
            chunk,
        )
    };
    match level {
        0 => (Strategy::Stored, 0),
        1 => chains(2, 8, false, 16384),
        2 => chains(6, 10, false, 16384),
        3 => chains(12, 14, false, 16384),
        4 => chains(24, 24, false, 8192),
        5 => chains(20, 30, true, 8192),
        6 => chains(40, 65, true, 8192),
        7 => chains(100, 130, true, 8192),
        8 => optimal(12, 20, 1, 0, 4096),
        9 => optimal(16, 26, 1, 1, 4096),
        10 => optimal(30, 50, 2, 1, 2048),
        11 => optimal(60, 80, 2, 2, 2048),
        _ => optimal(100, 133, 2, 3, 2048),
    }
}

/// Reusable per-thread tile compressor.
#[derive(Debug)]
pub(crate) struct TileEncoder {
    strategy: Strategy,
    chunk: usize,
    hc: Option<HashChains>,
    opt: Option<Optimal>,
    items: Vec<Item>,
    scratch: Vec<Item>,
    best: Vec<Item>,
    cuts: Vec<usize>,
    splitter: Splitter,
    writer: BlockWriter,
    stored: Vec<u8>,
}

/// A block: item range, input byte range and symbol frequencies.
#[derive(Clone, Debug)]
struct Span {
    items: (usize, usize),
    bytes: (usize, usize),
    freqs: Freqs,
}

impl TileEncoder {
    pub(crate) fn new(level: u8) -> Self {
        let (strategy, chunk) = strategy(level);
        TileEncoder {
            strategy,
            chunk,
            hc: None,
            opt: None,
            items: Vec::new(),
            scratch: Vec::new(),
            best: Vec::new(),
            cuts: Vec::new(),
            splitter: Splitter::default(),
            writer: BlockWriter::default(),
            stored: Vec::new(),
        }
    }

    /// Appends the payload of `tile` (at most 65536 bytes) to `out` and
    /// returns its length (a multiple of 4).
    pub(crate) fn encode(&mut self, tile: &[u8], out: &mut Vec<u8>) -> usize {
        debug_assert!(tile.len() <= 1 << 16);
        let start = out.len();
        match self.strategy {
            Strategy::Stored => {
                let mut w = LaneWriter::new(out);
                write_stored(&mut w, tile, true);
                return w.finish();
            }
            Strategy::Chains(p) => {
                let hc = self.hc.get_or_insert_with(HashChains::default);
                hc::parse(hc, tile, p, &mut self.items);
                let blocks = self.split(tile.len());
                let mut w = LaneWriter::new(out);
                for (k, b) in blocks.iter().enumerate() {
                    self.writer.write(
                        &mut w,
                        &tile[b.bytes.0..b.bytes.1],
                        &self.items[b.items.0..b.items.1],
                        &b.freqs,
                        k + 1 == blocks.len(),
                    );
                }
                w.finish();
            }
            Strategy::Optimal(p) => self.encode_optimal(tile, p, out),
        }
        // Never emit more than the all-stored encoding would take.
        let len = out.len() - start;
        // The stored payload takes at least 128 bytes of initial words plus
        // its bits.
        if len as u64 > stored_bits(tile.len()) / 8 + 128 {
            self.stored.clear();
            let mut w = LaneWriter::new(&mut self.stored);
            write_stored(&mut w, tile, true);
            let stored_len = w.finish();
            if stored_len < len {
                out.truncate(start);
                out.extend_from_slice(&self.stored);
            }
        }
        out.len() - start
    }

    fn encode_optimal(&mut self, tile: &[u8], p: OptParams, out: &mut Vec<u8>) {
        // Taken out of `self` for the duration, so that `split` can borrow
        // `self`; put back at the end.
        let mut opt = self.opt.take().unwrap_or_default();
        let n = tile.len();
        opt.find_matches(tile, p);
        // Seed statistics: a greedy walk over the matches under flat default
        // costs (as good a start as a first dynamic-program pass, and far
        // cheaper).
        opt.default_costs();
        self.items.clear();
        opt.greedy(tile, &mut self.items);
        let freqs = Freqs::of(&self.items);
        self.writer.plan(&freqs, n);
        for _ in 0..p.tile_passes {
            opt.costs_from(self.writer.codes());
            self.items.clear();
            opt.parse(tile, 0, n, &mut self.items);
            let freqs = Freqs::of(&self.items);
            self.writer.plan(&freqs, n);
        }
        let blocks = self.split(n);
        let mut w = LaneWriter::new(out);
        for (k, b) in blocks.iter().enumerate() {
            let (a, e) = b.bytes;
            self.best.clear();
            self.best
                .extend_from_slice(&self.items[b.items.0..b.items.1]);
            let mut best_freqs = b.freqs.clone();
            let mut best_cost = self.writer.cost(&best_freqs, e - a);
            for _ in 0..p.block_passes {
                // `writer` holds the codes of the last planned parse.
                opt.costs_from(self.writer.codes());
                self.scratch.clear();
                opt.parse(tile, a, e, &mut self.scratch);
                let freqs = Freqs::of(&self.scratch);
                let cost = self.writer.cost(&freqs, e - a);
                if cost < best_cost {
                    best_cost = cost;
                    best_freqs = freqs;
                    core::mem::swap(&mut self.best, &mut self.scratch);
                } else {
                    break;
                }
            }
            self.writer.write(
                &mut w,
                &tile[a..e],
                &self.best,
                &best_freqs,
                k + 1 == blocks.len(),
            );
        }
        w.finish();
        self.opt = Some(opt);
    }

    /// Cuts `self.items` (covering `n` bytes) into blocks: the splitter's
    /// estimate proposes cuts, and a cut is kept only where it pays with
    /// exact code sizes.
    fn split(&mut self, n: usize) -> Vec<Span> {
        self.splitter.cuts(&self.items, self.chunk, &mut self.cuts);
        let sp = &self.splitter;
        let span = |a: usize, b: usize| {
            let mut freqs = Freqs::default();
            sp.freqs(a, b, &mut freqs);
            (
                freqs,
                (sp.item_at(a), sp.item_at(b)),
                (sp.byte_at(a), sp.byte_at(b)),
            )
        };
        // (first boundary, last boundary, exact cost) of the kept blocks.
        let mut kept: Vec<(usize, usize, u64)> = Vec::with_capacity(self.cuts.len());
        for w in self.cuts.windows(2) {
            let (freqs, _, bytes) = span(w[0], w[1]);
            let cost = self.writer.cost(&freqs, bytes.1 - bytes.0);
            if let Some(last) = kept.last_mut() {
                let (joined, _, jbytes) = span(last.0, w[1]);
                let jcost = self.writer.cost(&joined, jbytes.1 - jbytes.0);
                if jcost <= last.2 + cost {
                    *last = (last.0, w[1], jcost);
                    continue;
                }
            }
            kept.push((w[0], w[1], cost));
        }
        let spans: Vec<Span> = kept
            .iter()
            .map(|&(a, b, _)| {
                let (freqs, items, bytes) = span(a, b);
                Span {
                    items,
                    bytes,
                    freqs,
                }
            })
            .collect();
        debug_assert_eq!(spans.last().map(|s| s.bytes.1), Some(n));
        spans
    }
}
