//! Test-only GDeflate bitstream writer, written from SPEC §3 for hand-built
//! streams (independent of the crate's encoder).
//!
//! [`LaneWriter`] mirrors the decoder's refill rule: it tracks how many bits
//! the decoder would hold in each lane, and whenever a turn ends with fewer
//! than 32, it gives that lane the next word of the payload. The test says
//! which lane each item goes on and where turns end, so the test itself
//! spells out the turn schedule it checks.
#![allow(dead_code)]

/// Number of lanes.
pub const LANES: usize = 32;

/// Builds one tile payload lane by lane.
pub struct LaneWriter {
    /// Per lane: completed 32-bit words of its bit stream.
    words: Vec<Vec<u32>>,
    /// Per lane: bits not yet forming a whole word.
    acc: [u64; LANES],
    acc_n: [u32; LANES],
    /// Per lane: payload word index of each of its words, in order.
    slots: Vec<Vec<usize>>,
    /// Per lane: bits the decoder would hold.
    held: [u32; LANES],
    next_slot: usize,
}

impl Default for LaneWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl LaneWriter {
    /// A writer whose 32 lanes hold their initial words (payload words 0..31).
    pub fn new() -> Self {
        LaneWriter {
            words: vec![Vec::new(); LANES],
            acc: [0; LANES],
            acc_n: [0; LANES],
            slots: (0..LANES).map(|i| vec![i]).collect(),
            held: [32; LANES],
            next_slot: LANES,
        }
    }

    /// Appends `n` bits (LSB-first, `n <= 32`) to a lane.
    pub fn put(&mut self, lane: usize, value: u32, n: u32) {
        assert!(
            n <= 32 && n <= self.held[lane],
            "lane {lane}: item does not fit"
        );
        let v = u64::from(value) & ((1u64 << n) - 1);
        self.acc[lane] |= v << self.acc_n[lane];
        self.acc_n[lane] += n;
        if self.acc_n[lane] >= 32 {
            self.words[lane].push(self.acc[lane] as u32);
            self.acc[lane] >>= 32;
            self.acc_n[lane] -= 32;
        }
        self.held[lane] -= n;
    }

    /// Appends a Huffman codeword given MSB-first (as RFC 1951 defines
    /// codes): its bits go out most significant first.
    pub fn put_code(&mut self, lane: usize, code: u32, len: u32) {
        let rev = code.reverse_bits() >> (32 - len);
        self.put(lane, rev, len);
    }

    /// Ends a turn of `lane`: the decoder's `refill(lane)`.
    pub fn end_turn(&mut self, lane: usize) {
        if self.held[lane] < 32 {
            self.slots[lane].push(self.next_slot);
            self.next_slot += 1;
            self.held[lane] += 32;
        }
    }

    /// The payload: every lane's words at the slots the decoder reads them from.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = vec![0u32; self.next_slot];
        for lane in 0..LANES {
            if self.acc_n[lane] > 0 {
                self.words[lane].push(self.acc[lane] as u32);
            }
            assert!(self.words[lane].len() <= self.slots[lane].len());
            for (w, &slot) in self.words[lane].iter().zip(&self.slots[lane]) {
                out[slot] = *w;
            }
        }
        out.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// Fixed-code codeword (MSB-first value, length) of a literal/length symbol.
pub fn fixed_litlen(sym: u32) -> (u32, u32) {
    match sym {
        0..=143 => (0x30 + sym, 8),
        144..=255 => (0x190 + sym - 144, 9),
        256..=279 => (sym - 256, 7),
        _ => (0xC0 + sym - 280, 8),
    }
}

/// Canonical codewords (MSB-first) for a set of lengths (RFC 1951 §3.2.2).
pub fn canonical(lens: &[u8]) -> Vec<u32> {
    let mut count = [0u32; 16];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u32; 16];
    let mut code = 0;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lens.iter()
        .map(|&l| {
            if l == 0 {
                0
            } else {
                let c = next[l as usize];
                next[l as usize] += 1;
                c
            }
        })
        .collect()
}

/// One item of a fixed block's symbol section.
pub enum Item {
    /// A literal byte.
    Lit(u8),
    /// Length symbol, its extra bits (value, count), distance symbol, its
    /// extra bits (value, count).
    Match(u32, (u32, u32), u32, (u32, u32)),
    /// Any literal/length symbol with no extra bits (for 286/287 tests).
    Raw(u32),
}

/// Writes the symbol section of a fixed block from lane 0 (SPEC §3.7, in
/// the deferred form: a distance goes on its lane's next turn), then EOB
/// and the 31 trailing turns. The caller wrote the block header.
pub fn fixed_symbols(w: &mut LaneWriter, items: &[Item]) {
    symbols(w, &fixed_litlen, &|d| (d, 5), items);
}

/// Writes a symbol section with the given codes (symbol -> MSB-first
/// codeword, length), as [`fixed_symbols`] does.
pub fn symbols(
    w: &mut LaneWriter,
    litlen: &dyn Fn(u32) -> (u32, u32),
    dist: &dyn Fn(u32) -> (u32, u32),
    items: &[Item],
) {
    type Pending = Option<(u32, (u32, u32))>;
    let mut lane = 0;
    let mut pending: [Pending; LANES] = [None; LANES];
    let turn = |w: &mut LaneWriter, lane: usize, pending: &mut [Pending]| {
        if let Some((dsym, (dx, dn))) = pending[lane].take() {
            let (c, l) = dist(dsym);
            w.put_code(lane, c, l);
            w.put(lane, dx, dn);
            w.end_turn(lane);
            true
        } else {
            false
        }
    };
    for item in items {
        while turn(w, lane, &mut pending) {
            lane = (lane + 1) % LANES;
        }
        match *item {
            Item::Lit(b) => {
                let (c, l) = litlen(u32::from(b));
                w.put_code(lane, c, l);
            }
            Item::Match(lsym, (lx, ln), dsym, dext) => {
                let (c, l) = litlen(lsym);
                w.put_code(lane, c, l);
                w.put(lane, lx, ln);
                pending[lane] = Some((dsym, dext));
            }
            Item::Raw(sym) => {
                let (c, l) = litlen(sym);
                w.put_code(lane, c, l);
            }
        }
        w.end_turn(lane);
        lane = (lane + 1) % LANES;
    }
    while turn(w, lane, &mut pending) {
        lane = (lane + 1) % LANES;
    }
    let (c, l) = litlen(256);
    w.put_code(lane, c, l);
    w.end_turn(lane);
    for j in 1..LANES {
        let k = (lane + j) % LANES;
        turn(w, k, &mut pending);
    }
}

/// Precode lengths that form a complete code over all 19 code-length
/// symbols: 4 bits for 0..=12, 5 bits for 13..=18.
pub const FULL_PRECODE: [u8; 19] = [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5];

/// Code-length symbol order (RFC 1951 §3.2.7).
pub const PRECODE_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// A dynamic block header (SPEC §3.6): HLIT/HDIST/HCLEN on lane 0,
/// precode length `j` on lane `j`, then `cl_items` (code-length symbol,
/// extra value, extra bit count) round robin from lane 0, coded with the
/// precode `prelens` (indexed by symbol; all 19 are sent).
pub fn dynamic_header(
    w: &mut LaneWriter,
    last: bool,
    hlit: usize,
    hdist: usize,
    prelens: &[u8; 19],
    cl_items: &[(u32, u32, u32)],
) {
    w.put(0, u32::from(last), 1);
    w.put(0, 2, 2);
    w.end_turn(0);
    w.put(0, (hlit - 257) as u32, 5);
    w.put(0, (hdist - 1) as u32, 5);
    w.put(0, 19 - 4, 4);
    w.end_turn(0);
    for (j, &sym) in PRECODE_ORDER.iter().enumerate() {
        w.put(j, u32::from(prelens[sym]), 3);
        w.end_turn(j);
    }
    let codes = canonical(prelens);
    for (i, &(sym, extra, n)) in cl_items.iter().enumerate() {
        let lane = i % LANES;
        w.put_code(lane, codes[sym as usize], u32::from(prelens[sym as usize]));
        w.put(lane, extra, n);
        w.end_turn(lane);
    }
}

/// Code-length items sending each length as its own symbol 0..=15.
pub fn plain_lengths(lens: &[u8]) -> Vec<(u32, u32, u32)> {
    lens.iter().map(|&l| (u32::from(l), 0, 0)).collect()
}

/// A whole dynamic block: header with plainly sent lengths, then `items`.
pub fn dynamic_block(w: &mut LaneWriter, last: bool, litlen: &[u8], dist: &[u8], items: &[Item]) {
    let mut all = litlen.to_vec();
    all.extend_from_slice(dist);
    dynamic_header(
        w,
        last,
        litlen.len(),
        dist.len(),
        &FULL_PRECODE,
        &plain_lengths(&all),
    );
    let lc = canonical(litlen);
    let dc = canonical(dist);
    symbols(
        w,
        &|s| (lc[s as usize], u32::from(litlen[s as usize])),
        &|s| (dc[s as usize], u32::from(dist[s as usize]).max(1)),
        items,
    );
}

/// A stored block (SPEC §3.4) with its header on lane 0.
pub fn stored_block(w: &mut LaneWriter, data: &[u8], last: bool) {
    assert!(data.len() <= 65535);
    w.put(0, u32::from(last), 1);
    w.put(0, 0, 2);
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

/// A fixed block header on lane 0.
pub fn fixed_header(w: &mut LaneWriter, last: bool) {
    w.put(0, u32::from(last), 1);
    w.put(0, 1, 2);
    w.end_turn(0);
}

/// Wraps tile payloads in a container (SPEC §2) for `size` uncompressed bytes.
pub fn container(tiles: &[Vec<u8>], size: u64) -> Vec<u8> {
    let n = tiles.len();
    let last = (size % 65536) as u32;
    let mut out = vec![4u8, 0xFB];
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&(1 | (last << 2)).to_le_bytes());
    let last_len = tiles.last().map_or(0, Vec::len) as u32;
    out.extend_from_slice(&last_len.to_le_bytes());
    let mut off = 0u32;
    for t in tiles.iter().take(n.saturating_sub(1)) {
        off += t.len() as u32;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for t in tiles {
        out.extend_from_slice(t);
    }
    out
}

/// A stream of stored tiles holding `data` (the last tile may be short).
pub fn stored_stream(data: &[u8]) -> Vec<u8> {
    let tiles: Vec<Vec<u8>> = data
        .chunks(65536)
        .map(|tile| {
            let mut w = LaneWriter::new();
            let mut blocks = tile.chunks(65535).peekable();
            while let Some(b) = blocks.next() {
                stored_block(&mut w, b, blocks.peek().is_none());
            }
            w.finish()
        })
        .collect();
    container(&tiles, data.len() as u64)
}

/// A stream of tiles holding `data` as literals only, in one fixed block
/// per tile (no matches: measures the bare per-turn cost).
pub fn fixed_literal_stream(data: &[u8]) -> Vec<u8> {
    let tiles: Vec<Vec<u8>> = data
        .chunks(65536)
        .map(|tile| {
            let mut w = LaneWriter::new();
            fixed_header(&mut w, true);
            let items: Vec<Item> = tile.iter().map(|&b| Item::Lit(b)).collect();
            fixed_symbols(&mut w, &items);
            w.finish()
        })
        .collect();
    container(&tiles, data.len() as u64)
}
