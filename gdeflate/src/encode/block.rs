//! Blocks: LZ77 items, symbol statistics, the choice between stored, fixed
//! and dynamic Huffman coding, and serialization of a block's items onto the
//! 32 lanes in the decoder's turn order (SPEC §3.3-§3.7).
//!
//! Turn schedule used when writing (each numbered turn ends with a refill
//! check, [`LaneWriter::end_turn`]):
//! - block header (BFINAL, BTYPE): lane 0;
//! - dynamic: HLIT/HDIST/HCLEN on lane 0, precode length `j` on lane `j`,
//!   then code-length symbols (with their extra bits) round robin from
//!   lane 0;
//! - symbols round robin from lane 0; a match puts litlen code + length
//!   extra bits on lane `i` and its distance code + extra bits on lane `i`'s
//!   next turn, 32 turns later, which that lane then spends on nothing else;
//! - EOB on the next free turn, then 31 turns that only flush pending
//!   distances;
//! - stored: LEN and byte 0 on lane 0, byte `j` on lane `j mod 32`.
//!
//! Block type choice uses exact bit counts. The payload size is
//! `128 + 4 * sum over lanes of ceil(bits/32)` bytes, so total bits are the
//! right thing to minimise.

use alloc::vec::Vec;

use super::huffman::{canonical_codes, CodeBuilder};
use super::lanes::{LaneWriter, LANES};
use super::tables::{
    dist_slot, length_slot, DIST_BASE, DIST_EXTRA, EOB, FIXED_DIST_LENS, FIXED_LITLEN_LENS,
    LENGTH_BASE, LENGTH_EXTRA, LONG_MATCH, LONG_SLOT, MAX_CODEWORD_LEN, MAX_PRECODE_LEN, MIN_MATCH,
    NUM_DIST_SYMS, NUM_LITLEN_SYMS, NUM_PRECODE_SYMS, PRECODE_ORDER,
};

/// Largest stored block.
pub(crate) const MAX_STORED: usize = 65535;
/// Bits of a block header (BFINAL + BTYPE).
const BLOCK_HEADER_BITS: u32 = 3;

/// One LZ77 item: a literal byte or a match (length 3..=65535, distance
/// 1..=65535).
///
/// Layout: bits 16..32 hold the match length (0 for a literal); bits 0..16
/// hold the literal byte or the distance.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item(u32);

impl Item {
    #[inline]
    pub(crate) fn literal(byte: u8) -> Self {
        Item(u32::from(byte))
    }
    #[inline]
    pub(crate) fn matched(len: usize, dist: usize) -> Self {
        debug_assert!((3..=65535).contains(&len) && (1..=65535).contains(&dist));
        Item(((len as u32) << 16) | dist as u32)
    }
    /// Match length, or 0 for a literal.
    #[inline]
    pub(crate) fn len(self) -> usize {
        (self.0 >> 16) as usize
    }
    /// Literal byte or match distance.
    #[inline]
    pub(crate) fn low(self) -> usize {
        (self.0 & 0xFFFF) as usize
    }
    /// Input bytes covered.
    #[inline]
    pub(crate) fn span(self) -> usize {
        self.len().max(1)
    }
}

impl core::fmt::Debug for Item {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.len() == 0 {
            write!(f, "Lit({})", self.low())
        } else {
            write!(f, "Match({}, {})", self.len(), self.low())
        }
    }
}

/// Symbol frequencies of a block (EOB included by the encoder).
#[derive(Clone, Debug)]
pub(crate) struct Freqs {
    pub(crate) litlen: [u32; NUM_LITLEN_SYMS],
    pub(crate) dist: [u32; NUM_DIST_SYMS],
}

impl Default for Freqs {
    fn default() -> Self {
        Freqs {
            litlen: [0; NUM_LITLEN_SYMS],
            dist: [0; NUM_DIST_SYMS],
        }
    }
}

impl Freqs {
    /// Counts the symbols of `items` plus one EOB.
    pub(crate) fn of(items: &[Item]) -> Self {
        let mut f = Freqs::default();
        for &it in items {
            f.add(it);
        }
        f.litlen[EOB] += 1;
        f
    }

    #[inline]
    pub(crate) fn add(&mut self, it: Item) {
        if it.len() == 0 {
            self.litlen[it.low()] += 1;
        } else {
            self.litlen[257 + length_slot(it.len())] += 1;
            self.dist[dist_slot(it.low())] += 1;
        }
    }

    /// Bits of all length and distance extra fields.
    pub(crate) fn extra_bits(&self) -> u64 {
        let l: u64 = (0..29)
            .map(|s| u64::from(self.litlen[257 + s]) * u64::from(LENGTH_EXTRA[s]))
            .sum();
        let d: u64 = (0..NUM_DIST_SYMS)
            .map(|s| u64::from(self.dist[s]) * u64::from(DIST_EXTRA[s]))
            .sum();
        l + d
    }

    /// Bits of the Huffman-coded symbols under the given code lengths.
    pub(crate) fn coded_bits(&self, litlen: &[u8], dist: &[u8]) -> u64 {
        let l: u64 = self
            .litlen
            .iter()
            .zip(litlen)
            .map(|(&f, &n)| u64::from(f) * u64::from(n))
            .sum();
        let d: u64 = self
            .dist
            .iter()
            .zip(dist)
            .map(|(&f, &n)| u64::from(f) * u64::from(n))
            .sum();
        l + d
    }
}

/// Huffman codes of a block: lengths and bit-reversed codewords.
#[derive(Clone, Debug)]
pub(crate) struct Codes {
    pub(crate) litlen_lens: [u8; NUM_LITLEN_SYMS],
    pub(crate) litlen_codes: [u16; NUM_LITLEN_SYMS],
    pub(crate) dist_lens: [u8; NUM_DIST_SYMS],
    pub(crate) dist_codes: [u16; NUM_DIST_SYMS],
}

impl Default for Codes {
    fn default() -> Self {
        Codes {
            litlen_lens: [0; NUM_LITLEN_SYMS],
            litlen_codes: [0; NUM_LITLEN_SYMS],
            dist_lens: [0; NUM_DIST_SYMS],
            dist_codes: [0; NUM_DIST_SYMS],
        }
    }
}

impl Codes {
    /// The fixed Huffman codes of BTYPE 1.
    pub(crate) fn fixed() -> Self {
        let mut c = Codes {
            litlen_lens: FIXED_LITLEN_LENS,
            dist_lens: FIXED_DIST_LENS,
            ..Codes::default()
        };
        canonical_codes(&c.litlen_lens, &mut c.litlen_codes);
        canonical_codes(&c.dist_lens, &mut c.dist_codes);
        c
    }

    /// Optimal length-limited codes for `freqs`.
    pub(crate) fn build(&mut self, b: &mut CodeBuilder, freqs: &Freqs) {
        b.build(
            &freqs.litlen,
            MAX_CODEWORD_LEN,
            &mut self.litlen_lens,
            &mut self.litlen_codes,
        );
        b.build(
            &freqs.dist,
            MAX_CODEWORD_LEN,
            &mut self.dist_lens,
            &mut self.dist_codes,
        );
    }
}

/// The encoded code-length section of a dynamic block.
#[derive(Debug, Default)]
pub(crate) struct DynHeader {
    hlit: usize,
    hdist: usize,
    hclen: usize,
    precode_lens: [u8; NUM_PRECODE_SYMS],
    precode_codes: [u16; NUM_PRECODE_SYMS],
    /// Precode items: symbol in bits 0..5, extra bits value above.
    items: Vec<u16>,
    /// Scratch: the concatenated litlen and distance lengths.
    lens: Vec<u8>,
}

/// Extra bits of precode symbols 16, 17, 18.
fn precode_extra(sym: usize) -> u32 {
    match sym {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

impl DynHeader {
    /// Computes the header that transmits `codes`.
    pub(crate) fn prepare(&mut self, b: &mut CodeBuilder, codes: &Codes) {
        self.hlit = NUM_LITLEN_SYMS;
        while self.hlit > 257 && codes.litlen_lens[self.hlit - 1] == 0 {
            self.hlit -= 1;
        }
        self.hdist = NUM_DIST_SYMS;
        while self.hdist > 1 && codes.dist_lens[self.hdist - 1] == 0 {
            self.hdist -= 1;
        }
        self.lens.clear();
        self.lens.extend_from_slice(&codes.litlen_lens[..self.hlit]);
        self.lens.extend_from_slice(&codes.dist_lens[..self.hdist]);

        // Run-length code the lengths: zero runs with 17/18, runs of a
        // non-zero length as the length followed by 16s.
        self.items.clear();
        let mut freqs = [0u32; NUM_PRECODE_SYMS];
        let lens = &self.lens;
        let mut i = 0;
        while i < lens.len() {
            let len = lens[i];
            let mut end = i + 1;
            while end < lens.len() && lens[end] == len {
                end += 1;
            }
            let mut run = end - i;
            if len == 0 {
                while run >= 11 {
                    let n = run.min(138);
                    self.items.push(18 | (((n - 11) as u16) << 5));
                    freqs[18] += 1;
                    run -= n;
                }
                if run >= 3 {
                    self.items.push(17 | (((run - 3) as u16) << 5));
                    freqs[17] += 1;
                    run = 0;
                }
            } else if run >= 4 {
                self.items.push(u16::from(len));
                freqs[len as usize] += 1;
                run -= 1;
                while run >= 3 {
                    let n = run.min(6);
                    self.items.push(16 | (((n - 3) as u16) << 5));
                    freqs[16] += 1;
                    run -= n;
                }
            }
            for _ in 0..run {
                self.items.push(u16::from(len));
                freqs[len as usize] += 1;
            }
            i = end;
        }
        b.build(
            &freqs,
            MAX_PRECODE_LEN,
            &mut self.precode_lens,
            &mut self.precode_codes,
        );
        self.hclen = NUM_PRECODE_SYMS;
        while self.hclen > 4 && self.precode_lens[PRECODE_ORDER[self.hclen - 1] as usize] == 0 {
            self.hclen -= 1;
        }
    }

    /// Bits of the header after the 3-bit block header.
    pub(crate) fn bits(&self) -> u64 {
        let items: u64 = self
            .items
            .iter()
            .map(|&it| {
                let sym = (it & 31) as usize;
                u64::from(self.precode_lens[sym]) + u64::from(precode_extra(sym))
            })
            .sum();
        14 + 3 * self.hclen as u64 + items
    }

    /// Writes the header (after the block header) in turn order.
    fn write(&self, w: &mut LaneWriter<'_>) {
        let fields = (self.hlit - 257) as u32
            | (((self.hdist - 1) as u32) << 5)
            | (((self.hclen - 4) as u32) << 10);
        w.put(0, fields, 14);
        w.end_turn(0);
        for (lane, &sym) in PRECODE_ORDER[..self.hclen].iter().enumerate() {
            w.put(lane, u32::from(self.precode_lens[sym as usize]), 3);
            w.end_turn(lane);
        }
        for (k, &it) in self.items.iter().enumerate() {
            let lane = k % LANES;
            let sym = (it & 31) as usize;
            let n = u32::from(self.precode_lens[sym]);
            let extra = precode_extra(sym);
            let bits = u32::from(self.precode_codes[sym]) | (u32::from(it >> 5) << n);
            w.put(lane, bits, n + extra);
            w.end_turn(lane);
        }
    }
}

/// Bits of `len` bytes sent as stored blocks.
pub(crate) fn stored_bits(len: usize) -> u64 {
    let blocks = len.div_ceil(MAX_STORED).max(1) as u64;
    blocks * (u64::from(BLOCK_HEADER_BITS) + 16) + 8 * len as u64
}

/// Writes `data` as stored blocks; the last carries BFINAL if `last`.
pub(crate) fn write_stored(w: &mut LaneWriter<'_>, data: &[u8], last: bool) {
    let mut chunks = data.chunks(MAX_STORED).peekable();
    if data.is_empty() {
        write_stored_one(w, &[], last);
    }
    while let Some(c) = chunks.next() {
        write_stored_one(w, c, last && chunks.peek().is_none());
    }
}

fn write_stored_one(w: &mut LaneWriter<'_>, data: &[u8], last: bool) {
    w.put(0, u32::from(last), 3);
    w.end_turn(0);
    w.put(0, data.len() as u32, 16);
    if data.is_empty() {
        w.end_turn(0);
    }
    for (j, &b) in data.iter().enumerate() {
        let lane = j % LANES;
        w.put(lane, u32::from(b), 8);
        w.end_turn(lane);
    }
}

/// Writes the symbol section of a fixed or dynamic block, EOB and the
/// end-of-block pass included.
fn write_symbols(w: &mut LaneWriter<'_>, items: &[Item], codes: &Codes) {
    // Codeword and length of every match length below 258, extra bits
    // included (symbol 285 is handled inline).
    let mut len_bits = [0u32; LONG_MATCH];
    let mut len_n = [0u8; LONG_MATCH];
    for l in MIN_MATCH..LONG_MATCH {
        let s = length_slot(l);
        let n = codes.litlen_lens[257 + s];
        len_bits[l] =
            u32::from(codes.litlen_codes[257 + s]) | ((l as u32 - u32::from(LENGTH_BASE[s])) << n);
        len_n[l] = n + LENGTH_EXTRA[s];
    }
    // Pending distance of each lane: bits and bit count; `pending` has bit
    // `i` set while lane `i` owes its next turn to a distance.
    let mut pend_bits = [0u32; LANES];
    let mut pend_n = [0u32; LANES];
    let mut pending = 0u32;
    let mut lane = 0usize;
    for &it in items {
        while pending & (1 << lane) != 0 {
            w.turn(lane, pend_bits[lane], pend_n[lane]);
            pending &= !(1 << lane);
            lane = (lane + 1) % LANES;
        }
        let len = it.len();
        if len == 0 {
            let sym = it.low();
            w.turn(
                lane,
                u32::from(codes.litlen_codes[sym]),
                u32::from(codes.litlen_lens[sym]),
            );
        } else {
            if len < LONG_MATCH {
                w.turn(lane, len_bits[len], u32::from(len_n[len]));
            } else {
                let sym = 257 + LONG_SLOT;
                let n = u32::from(codes.litlen_lens[sym]);
                let bits = u32::from(codes.litlen_codes[sym]) | ((len as u32 - 3) << n);
                w.turn(lane, bits, n + 16);
            }
            let dist = it.low();
            let ds = dist_slot(dist);
            let dn = u32::from(codes.dist_lens[ds]);
            debug_assert!(dn > 0, "distance symbol {ds} has no code");
            pend_bits[lane] =
                u32::from(codes.dist_codes[ds]) | ((dist as u32 - DIST_BASE[ds]) << dn);
            pend_n[lane] = dn + u32::from(DIST_EXTRA[ds]);
            pending |= 1 << lane;
        }
        lane = (lane + 1) % LANES;
    }
    while pending & (1 << lane) != 0 {
        w.turn(lane, pend_bits[lane], pend_n[lane]);
        pending &= !(1 << lane);
        lane = (lane + 1) % LANES;
    }
    w.turn(
        lane,
        u32::from(codes.litlen_codes[EOB]),
        u32::from(codes.litlen_lens[EOB]),
    );
    // The 31 turns after EOB only settle pending distances.
    for _ in 0..LANES - 1 {
        lane = (lane + 1) % LANES;
        if pending & (1 << lane) != 0 {
            w.turn(lane, pend_bits[lane], pend_n[lane]);
            pending &= !(1 << lane);
        }
    }
    debug_assert_eq!(pending, 0);
}

/// How a block is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Stored,
    Fixed,
    Dynamic,
}

/// Chooses codes for blocks and writes them; holds reusable scratch state.
#[derive(Debug)]
pub(crate) struct BlockWriter {
    pub(crate) builder: CodeBuilder,
    fixed: Codes,
    codes: Codes,
    header: DynHeader,
}

impl Default for BlockWriter {
    fn default() -> Self {
        BlockWriter {
            builder: CodeBuilder::default(),
            fixed: Codes::fixed(),
            codes: Codes::default(),
            header: DynHeader::default(),
        }
    }
}

impl BlockWriter {
    /// Exact bits of the cheapest coding of a block and which one it is.
    /// Leaves the dynamic codes and header of `freqs` prepared.
    pub(crate) fn plan(&mut self, freqs: &Freqs, raw_len: usize) -> (u64, Kind) {
        self.codes.build(&mut self.builder, freqs);
        self.header.prepare(&mut self.builder, &self.codes);
        let extra = freqs.extra_bits();
        let dynamic = u64::from(BLOCK_HEADER_BITS)
            + self.header.bits()
            + freqs.coded_bits(&self.codes.litlen_lens, &self.codes.dist_lens)
            + extra;
        let fixed = u64::from(BLOCK_HEADER_BITS)
            + freqs.coded_bits(&self.fixed.litlen_lens, &self.fixed.dist_lens)
            + extra;
        let stored = stored_bits(raw_len);
        let mut best = (dynamic, Kind::Dynamic);
        if fixed <= best.0 {
            best = (fixed, Kind::Fixed);
        }
        if stored <= best.0 {
            best = (stored, Kind::Stored);
        }
        best
    }

    /// The dynamic codes prepared by the last [`BlockWriter::plan`].
    pub(crate) fn codes(&self) -> &Codes {
        &self.codes
    }

    /// Exact bits of the cheapest coding of a block with `freqs` covering
    /// `raw_len` bytes.
    pub(crate) fn cost(&mut self, freqs: &Freqs, raw_len: usize) -> u64 {
        self.plan(freqs, raw_len).0
    }

    /// Writes one block covering `data` with the given `items` (whose
    /// frequencies are `freqs`), coded the cheapest way.
    pub(crate) fn write(
        &mut self,
        w: &mut LaneWriter<'_>,
        data: &[u8],
        items: &[Item],
        freqs: &Freqs,
        last: bool,
    ) {
        let (_, kind) = self.plan(freqs, data.len());
        match kind {
            Kind::Stored => write_stored(w, data, last),
            Kind::Fixed => {
                w.put(0, u32::from(last) | (1 << 1), 3);
                w.end_turn(0);
                write_symbols(w, items, &self.fixed);
            }
            Kind::Dynamic => {
                w.put(0, u32::from(last) | (2 << 1), 3);
                w.end_turn(0);
                self.header.write(w);
                write_symbols(w, items, &self.codes);
            }
        }
    }
}
