//! Decoder of one tile payload: the 32-lane GDeflate bitstream (SPEC §3).
//!
//! # Why it is fast
//!
//! * **Sequential CPU form (SPEC §3.9).** Turns run in bitstream order; a
//!   length turn refills its lane and decodes the distance at once, then the
//!   match is copied immediately. Output is written strictly in token order,
//!   with no reservation or deferred-copy bookkeeping; the lane's next turn
//!   is only its refill (a bit in `pending`).
//! * **Independent lanes.** Consecutive turns use different lanes, so the
//!   table lookup of one turn does not wait for the bit-buffer shift of the
//!   previous turn as it does in plain DEFLATE; the only chain between turns
//!   is the word cursor `p` and the output position, both simple adds. The
//!   out-of-order core overlaps several turns.
//! * **Branch-free refill.** `refill` always loads the word at `p` and masks
//!   it in only when the lane holds fewer than 32 bits, so the
//!   hard-to-predict "does this lane need a word" question is no branch.
//! * **One table lookup per item** (see `huffman`): literal byte, length or
//!   distance base, codeword length and extra-bit count all come from one
//!   entry; subtables only for codewords over 11 (litlen) / 8 (distance) bits.
//! * **No per-symbol bounds checks in the fast loop.** The loop runs while
//!   [`FAST_INPUT_MARGIN`] payload bytes and [`FAST_OUTPUT_MARGIN`] output
//!   bytes remain, which covers every read and write one turn can make; a
//!   match checks its length once. A careful slow loop, with checked reads
//!   and writes, takes over for the tail.
//! * **Stored blocks copy 128 bytes per step** (see [`stored_groups`]): in a
//!   stored block every lane reads exactly one word per four rounds, in an
//!   order fixed for the whole block, so 32 words become 128 output bytes
//!   with a transpose instead of 128 single-byte turns. With AVX2 the whole
//!   group is a few vector instructions (`stored`).
//!
//! # Lane bit buffer
//!
//! ```text
//!   buf[lane] (u64), LSB = next bit of the lane
//!  63             n+1  n                             0
//! +-----------------+--+------------------------------+
//! |  zero           | 1|  n valid bits, n <= 62 ... 63 |
//! +-----------------+--+------------------------------+
//!   the 1 above the valid bits is a sentinel: n = 63 - leading_zeros,
//!   so consuming is a plain shift and no count is stored;
//!   "fewer than 32 bits" is buf < 2^32;
//!   refill: buf += (word + 0xFFFF_FFFF) << n   (inserts the word above
//!   the valid bits and moves the sentinel up by 32), p += 4
//! ```
//!
//! At the start of every turn a lane holds at least 32 bits (every turn ends
//! with that lane's refill), and no item is longer than 31 bits, so an item
//! never straddles a refill. The one exception is the distance in the
//! sequential form, read after the length turn's refill: it needs at most 29
//! bits, and the lane holds at least 32 then.
//!
//! Inside an unrolled round the refills of literal turns are deferred: a
//! lane that ends its turn under 32 bits sets its bit in a mask and counts
//! one claimed word; a length turn, which must refill at once, takes the
//! word after all those claimed so far. At the end of the round (or block)
//! the claimed words are handed out in lane order, which is turn order, so
//! every word lands where the turn-by-turn rule puts it, while most turns
//! no longer touch the input or the word cursor at all.

use crate::copy;
use crate::error::{CodeKind, Corruption};
use crate::huffman::{
    self, DIST_BITS, DIST_ENOUGH, DIST_TEMPLATES, END_OF_BLOCK, EXCEPTIONAL, FIXED_DIST,
    FIXED_LITLEN, LITERAL, LITERAL_ADVANCE_SHIFT, LITLEN_BITS, LITLEN_NOP_INDEX, LITLEN_TABLE_LEN,
    LITLEN_TEMPLATES, MAX_LEN, MAX_PRECODE_LEN, NOP_LITERAL, NO_SYMBOL, NUM_DIST, NUM_LITLEN,
    NUM_PRECODE, PRECODE_BITS, PRECODE_ENOUGH, PRECODE_TEMPLATES, SUBTABLE,
};
use crate::transpose;
use crate::words;

/// Number of lanes.
pub(crate) const LANES: usize = 32;
/// Uncompressed size of a full tile.
pub(crate) const TILE: usize = 65536;
/// Bytes of the 32 initial words.
pub(crate) const INITIAL_WORDS_BYTES: usize = LANES * 4;

/// The most payload bytes one symbol-section turn reads: one refill word
/// (a length turn refills once, then decodes its distance from the lane
/// without refilling).
pub(crate) const FAST_INPUT_MARGIN: usize = 4;
/// The most output bytes one turn writes without its own length check: a
/// literal. Matches check `length <= room` and copy in
/// [`copy::WILD_COPY_SLACK`]-byte steps only when that much room remains.
pub(crate) const FAST_OUTPUT_MARGIN: usize = 1;

/// Payload bytes a whole round of 32 turns may read.
pub(crate) const ROUND_INPUT_MARGIN: usize = LANES * FAST_INPUT_MARGIN;
/// Output room an unrolled round needs: 32 literals (matches check their
/// length and leave the round when less than this remains after them).
pub(crate) const ROUND_OUTPUT_MARGIN: usize = LANES;

/// Bytes after a dynamic header's code lengths that a run fill may touch.
const LENS_SLACK: usize = 16;

/// Code-length symbol order (RFC 1951 §3.2.7).
const PRECODE_ORDER: [usize; NUM_PRECODE] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Mask of the low `k` bits (`k <= 63`).
#[inline(always)]
fn mask(k: u32) -> u64 {
    (1u64 << k) - 1
}

/// A failure inside a tile: the read cursor and what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    /// Payload byte offset of the read cursor.
    pub(crate) offset: usize,
    /// What was wrong.
    pub(crate) kind: Corruption,
}

/// The 32 lanes' bit buffers and the shared word cursor (SPEC §3.2).
pub(crate) struct Lanes<'a> {
    pub(crate) src: &'a [u8],
    pub(crate) p: usize,
    /// Per lane: valid bits below a sentinel 1 (see the module comment).
    pub(crate) buf: [u64; LANES],
}

/// The refills of an unrolled round that have not moved the word cursor
/// yet. Words go to lanes in lane order (the round's turn order): a
/// literal turn that needs a word only sets its bit in `need` and is served
/// at the round's end; a length turn must refill at once, so it takes the
/// word `count` places past the cursor (the places of the deferred lanes
/// before it) and sets its bit in `taken`.
#[derive(Default)]
struct Deferred {
    /// Lanes whose word is still to be appended.
    need: u32,
    /// Lanes that took their word already (length turns).
    taken: u32,
    /// Words claimed this round: `(need | taken).count_ones()`.
    count: usize,
}

/// Number of valid bits in a sentinel-marked buffer.
#[inline(always)]
fn fill(b: u64) -> u32 {
    debug_assert!(b != 0);
    63 - b.leading_zeros()
}

/// `b` with word `w` appended above its valid bits (`fill(b) < 32`).
#[inline(always)]
fn append(b: u64, w: u32) -> u64 {
    debug_assert!(fill(b) < 32);
    b + ((u64::from(w) + 0xFFFF_FFFF) << fill(b))
}

/// Whether a lane holds fewer than 32 bits, i.e. needs a refill.
#[inline(always)]
fn needs_word(b: u64) -> bool {
    b >> 32 == 0
}

impl<'a> Lanes<'a> {
    /// Loads the 32 initial words.
    fn new(src: &'a [u8]) -> Result<Self, Fail> {
        if src.len() < INITIAL_WORDS_BYTES {
            return Err(Fail {
                offset: src.len() & !3,
                kind: Corruption::ReadPastEnd {
                    word_offset: src.len() & !3,
                },
            });
        }
        let mut buf = [0u64; LANES];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = u64::from(words::load_checked(src, 4 * i).unwrap_or(0)) | (1 << 32);
        }
        Ok(Lanes {
            src,
            p: INITIAL_WORDS_BYTES,
            buf,
        })
    }

    fn fail(&self, kind: Corruption) -> Fail {
        Fail {
            offset: self.p,
            kind,
        }
    }

    /// `refill(lane)` with a bounds check: errors only if a word is needed
    /// and the payload has none left.
    #[inline(always)]
    fn refill(&mut self, lane: usize) -> Result<(), Fail> {
        if needs_word(self.buf[lane]) {
            let Some(w) = words::load_checked(self.src, self.p) else {
                return Err(self.fail(Corruption::ReadPastEnd {
                    word_offset: self.p,
                }));
            };
            self.buf[lane] = append(self.buf[lane], w);
            self.p += 4;
        }
        Ok(())
    }

    /// Serves a round's refills (see [`Deferred`]): walks the lanes that
    /// took a word in lane order, appending the word to those whose refill
    /// was deferred. The caller guarantees `p + 4 * d.count <= src.len()`.
    #[inline(always)]
    fn serve(&mut self, d: &mut Deferred, p: &mut usize) {
        let mut all = d.need | d.taken;
        while all != 0 {
            let l = all.trailing_zeros() as usize % LANES;
            all &= all - 1;
            let b = self.buf[l];
            // Computed for every claiming lane and kept only for deferred
            // ones (a `taken` lane is full: its sum wraps and is dropped).
            let w = u64::from(words::load_in_bounds(self.src, *p));
            let appended = b.wrapping_add((w + 0xFFFF_FFFF) << fill(b));
            let keep = u64::from((d.need >> l) & 1).wrapping_sub(1);
            self.buf[l] = (appended & !keep) | (b & keep);
            *p += 4;
        }
        debug_assert_eq!(d.count, (d.need | d.taken).count_ones() as usize);
        *d = Deferred::default();
    }

    /// Takes `k` bits (`k <= fill`, `k <= 32`) from a lane.
    #[inline(always)]
    fn bits(&mut self, lane: usize, k: u32) -> u32 {
        debug_assert!(k <= fill(self.buf[lane]) && k <= 32);
        let v = (self.buf[lane] & mask(k)) as u32;
        self.consume(lane, k);
        v
    }

    /// Drops `k` bits (`k <= fill`) from a lane.
    #[inline(always)]
    fn consume(&mut self, lane: usize, k: u32) {
        debug_assert!(k <= fill(self.buf[lane]));
        self.buf[lane] >>= k;
    }
}

/// Reusable decoder state for tiles: the dynamic Huffman tables. About
/// 11 KiB; lives on the caller's stack (no allocation).
pub(crate) struct TileDecoder {
    litlen: [u32; LITLEN_TABLE_LEN],
    dist: [u32; DIST_ENOUGH],
    precode: [u32; PRECODE_ENOUGH],
    /// Code lengths of a dynamic header, with [`LENS_SLACK`] bytes after
    /// them for whole-chunk run fills.
    lens: [u8; NUM_LITLEN + NUM_DIST + LENS_SLACK],
    /// Rule 21: require every payload byte to be consumed.
    pub(crate) strict: bool,
}

/// Which tables a Huffman block uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tables {
    Fixed,
    Dynamic,
}

impl TileDecoder {
    pub(crate) fn new(strict: bool) -> Self {
        TileDecoder {
            litlen: [NOP_LITERAL; LITLEN_TABLE_LEN],
            dist: [0; DIST_ENOUGH],
            precode: [0; PRECODE_ENOUGH],
            lens: [0; NUM_LITLEN + NUM_DIST + LENS_SLACK],
            strict,
        }
    }

    /// Decodes one tile payload into `out`, whose length is the tile's
    /// expected uncompressed size (at most 64 KiB); the tile must produce
    /// exactly that many bytes.
    pub(crate) fn decode(&mut self, src: &[u8], out: &mut [u8]) -> Result<(), Fail> {
        crate::cpu::decode_tile(self, src, out)
    }

    /// The body of [`TileDecoder::decode`], inlined into each instruction-set
    /// variant (`cpu`); `r` decodes whole rounds of Huffman blocks where the
    /// CPU allows ([`Scalar`] leaves everything to the scalar turns).
    #[inline(always)]
    pub(crate) fn decode_impl<R: Rounds>(
        &mut self,
        src: &[u8],
        out: &mut [u8],
        r: R,
    ) -> Result<(), Fail> {
        debug_assert!(out.len() <= TILE);
        let mut lanes = Lanes::new(src)?;
        let mut pos = 0usize;
        loop {
            // Block header on lane 0 (SPEC §3.3); every lane holds >= 32 bits.
            let bfinal = lanes.bits(0, 1);
            let btype = lanes.bits(0, 2);
            lanes.refill(0)?;
            match btype {
                0 => pos = stored(&mut lanes, out, pos, r)?,
                1 => pos = self.symbols(&mut lanes, out, pos, Tables::Fixed, r)?,
                2 => {
                    self.dynamic_header(&mut lanes)?;
                    pos = self.symbols(&mut lanes, out, pos, Tables::Dynamic, r)?;
                }
                _ => return Err(lanes.fail(Corruption::ReservedBlockType)),
            }
            if bfinal == 1 {
                break;
            }
        }
        if pos != out.len() {
            return Err(lanes.fail(Corruption::ShortOutput {
                produced: pos,
                expected: out.len(),
            }));
        }
        if self.strict && lanes.p != src.len() {
            return Err(lanes.fail(Corruption::UnconsumedInput {
                consumed: lanes.p,
                size: src.len(),
            }));
        }
        Ok(())
    }

    /// Reads a dynamic block header (SPEC §3.6) and builds its tables.
    fn dynamic_header(&mut self, lanes: &mut Lanes<'_>) -> Result<(), Fail> {
        let hlit = lanes.bits(0, 5) as usize + 257;
        let hdist = lanes.bits(0, 5) as usize + 1;
        let hclen = lanes.bits(0, 4) as usize + 4;
        lanes.refill(0)?;

        let mut prelens = [0u8; NUM_PRECODE];
        for (j, &sym) in PRECODE_ORDER.iter().enumerate().take(hclen) {
            prelens[sym] = lanes.bits(j, 3) as u8;
            lanes.refill(j)?;
        }
        huffman::build(
            &prelens,
            &PRECODE_TEMPLATES,
            &mut self.precode,
            PRECODE_BITS,
            MAX_PRECODE_LEN,
        )
        .map_err(|e| lanes.fail(e.corruption(CodeKind::Precode)))?;

        let total = hlit + hdist;
        let mut i = 0usize;
        let mut lane = 0usize;
        while i < total {
            let e = self.precode[(lanes.buf[lane] & mask(PRECODE_BITS)) as usize];
            if e & EXCEPTIONAL != 0 {
                return Err(lanes.fail(Corruption::EmptyCodeUsed(CodeKind::Precode)));
            }
            lanes.consume(lane, e & 0x3F);
            let sym = e >> 16;
            let (value, count) = match sym {
                0..=15 => (sym as u8, 1),
                16 => {
                    if i == 0 {
                        return Err(lanes.fail(Corruption::RepeatWithoutPrevious));
                    }
                    (self.lens[i - 1], 3 + lanes.bits(lane, 2) as usize)
                }
                17 => (0, 3 + lanes.bits(lane, 3) as usize),
                _ => (0, 11 + lanes.bits(lane, 7) as usize),
            };
            if i + count > total {
                return Err(lanes.fail(Corruption::RepeatOverrun {
                    produced: i + count,
                    wanted: total,
                }));
            }
            // Whole 16-byte chunks: a run of 3..=138 is one to nine plain
            // stores instead of a `memset` call; bytes past `i + count`
            // are overwritten by later lengths or never read.
            let mut k = i;
            while k < i + count {
                if let Some(chunk) = self.lens.get_mut(k..k + LENS_SLACK) {
                    chunk.fill(value);
                }
                k += LENS_SLACK;
            }
            i += count;
            lanes.refill(lane)?;
            lane = (lane + 1) % LANES;
        }

        let mut ll = [0u8; NUM_LITLEN];
        ll[..hlit].copy_from_slice(&self.lens[..hlit]);
        if ll[256] == 0 {
            return Err(lanes.fail(Corruption::NoEndOfBlockCode));
        }
        huffman::build(
            &ll,
            &LITLEN_TEMPLATES,
            &mut self.litlen[..LITLEN_NOP_INDEX],
            LITLEN_BITS,
            MAX_LEN,
        )
        .map_err(|e| lanes.fail(e.corruption(CodeKind::LitLen)))?;
        let mut dl = [0u8; NUM_DIST];
        dl[..hdist].copy_from_slice(&self.lens[hlit..total]);
        huffman::build(&dl, &DIST_TEMPLATES, &mut self.dist, DIST_BITS, MAX_LEN)
            .map_err(|e| lanes.fail(e.corruption(CodeKind::Distance)))?;
        Ok(())
    }

    /// The symbol section of a Huffman block (SPEC §3.7), in the sequential
    /// form. Returns the new output position.
    ///
    /// At every round boundary `r` first decodes whole rounds as long as it
    /// can; then [`fast_turns`], which runs while the margins hold (with
    /// `r` enabled: one round, then back to `r`), and one careful
    /// [`slow_turn`] at a time for the tail.
    #[inline(always)]
    fn symbols<R: Rounds>(
        &self,
        lanes: &mut Lanes<'_>,
        out: &mut [u8],
        pos: usize,
        tables: Tables,
        r: R,
    ) -> Result<usize, Fail> {
        let (ll, dt): (&[u32; LITLEN_TABLE_LEN], &[u32; DIST_ENOUGH]) = match tables {
            Tables::Fixed => (&FIXED_LITLEN, &FIXED_DIST),
            Tables::Dynamic => (&self.litlen, &self.dist),
        };
        let mut t = Turns {
            lane: 0,
            pending: 0,
            pos,
        };
        loop {
            if R::ENABLED && t.lane.is_multiple_of(LANES) {
                r.rounds(lanes, out, &mut t, ll, dt);
            }
            let stop = if R::ENABLED {
                fast_turns::<true>(lanes, out, ll, dt, &mut t)?
            } else {
                fast_turns::<false>(lanes, out, ll, dt, &mut t)?
            };
            let eob = match stop {
                Stop::Eob => true,
                Stop::RoundEnd => false,
                Stop::Margin => slow_turn(lanes, out, ll, dt, &mut t)?,
            };
            if eob {
                // The EOB turn is done (code consumed, lane refilled); the
                // 31 turns after it only finish pending distances, which in
                // the sequential form means only their refills.
                let lane = t.lane % LANES;
                for j in 1..LANES {
                    lanes.refill((lane + j) % LANES)?;
                }
                return Ok(t.pos);
            }
        }
    }
}

/// Where the symbol section stands between turns.
pub(crate) struct Turns {
    /// Lane of the next turn (taken mod 32).
    pub(crate) lane: usize,
    /// Bit i set: lane i's distance was decoded already; its next turn only
    /// refills.
    pub(crate) pending: u32,
    /// Output position inside the tile.
    pub(crate) pos: usize,
}

/// Decoding of whole rounds of a symbol section, all lanes at once, where
/// the CPU allows it (SPEC §3.9's round-synchronous form).
pub(crate) trait Rounds: Copy {
    /// Whether [`Rounds::rounds`] decodes anything.
    const ENABLED: bool;

    /// At a round boundary (`t.lane` is 0 mod 32): decodes whole rounds
    /// while the margins hold and nothing needs the scalar turns (end of
    /// block, invalid data, the tile's tail), leaving `lanes` and `t` at a
    /// round boundary, exactly as the scalar turns would.
    fn rounds(
        self,
        lanes: &mut Lanes<'_>,
        out: &mut [u8],
        t: &mut Turns,
        ll: &[u32; LITLEN_TABLE_LEN],
        dt: &[u32; DIST_ENOUGH],
    );

    /// Copies whole 128-byte groups of a stored block, as
    /// [`stored_groups`] does (same arguments, result and lane state).
    fn stored_groups(
        self,
        lanes: &mut Lanes<'_>,
        dst: &mut [u8],
        slot: &[u32; LANES],
        shift: &[u32; LANES],
    ) -> usize;
}

/// No whole-round decoding: every turn is a scalar turn.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalar;

impl Rounds for Scalar {
    const ENABLED: bool = false;

    #[inline(always)]
    fn rounds(
        self,
        _: &mut Lanes<'_>,
        _: &mut [u8],
        _: &mut Turns,
        _: &[u32; LITLEN_TABLE_LEN],
        _: &[u32; DIST_ENOUGH],
    ) {
    }

    #[inline(always)]
    fn stored_groups(
        self,
        lanes: &mut Lanes<'_>,
        dst: &mut [u8],
        slot: &[u32; LANES],
        shift: &[u32; LANES],
    ) -> usize {
        stored_groups(lanes, dst, slot, shift)
    }
}

/// Resolves a literal/length subtable pointer: drops the main-table bits
/// from `bits` and returns the subtable entry. `e` must be a pointer entry
/// built by [`huffman::build`], so the index stays inside the table.
#[inline(always)]
fn litlen_sub(ll: &[u32; LITLEN_TABLE_LEN], e: u32, bits: u64) -> u32 {
    let idx = (e >> 16) as usize + ((bits >> LITLEN_BITS) & mask((e >> 8) & 0xF)) as usize;
    ll.get(idx)
        .copied()
        .unwrap_or(EXCEPTIONAL | (NO_SYMBOL << 16))
}

/// Decodes the distance item from `bits` (the lane's buffer, at least 32
/// bits valid). Returns (distance, bits consumed) or the corruption.
#[inline(always)]
fn distance(dt: &[u32; DIST_ENOUGH], bits: u64) -> Result<(usize, u32), Corruption> {
    let mut d = dt[(bits & mask(DIST_BITS)) as usize];
    let mut b = bits;
    let mut used = 0;
    if d & EXCEPTIONAL != 0 {
        if d & SUBTABLE == 0 {
            return Err(Corruption::EmptyCodeUsed(CodeKind::Distance));
        }
        b >>= DIST_BITS;
        used = DIST_BITS;
        let idx = (d >> 16) as usize + (b & mask((d >> 8) & 0xF)) as usize;
        d = dt.get(idx).copied().unwrap_or(EXCEPTIONAL);
        if d & EXCEPTIONAL != 0 {
            return Err(Corruption::EmptyCodeUsed(CodeKind::Distance));
        }
    }
    let total = d & 0x3F;
    let dist = (d >> 16) as usize + ((b & mask(total)) >> ((d >> 8) & 0xF)) as usize;
    Ok((dist, used + total))
}

/// Why [`fast_turns`] returned.
enum Stop {
    /// After an end-of-block turn.
    Eob,
    /// At a round boundary (only with `ONE_ROUND`).
    RoundEnd,
    /// A margin ran out: the next turn needs the careful [`slow_turn`].
    Margin,
}

/// What one fast turn asks of its caller.
enum Step {
    /// Turn done; go on.
    Next,
    /// Turn done, but a match left less output room than the caller's
    /// margin: leave the unchecked loop.
    Leave,
    /// End-of-block turn done (code consumed, lane refilled).
    Eob,
    /// Corrupt data.
    Bad(Corruption),
}

/// `refill` of a lane held in `b` without a branch on its fill level; the
/// caller guarantees `*p + 4 <= src.len()`.
#[inline(always)]
fn refill_now(src: &[u8], p: &mut usize, b: &mut u64) {
    let w = u64::from(words::load_in_bounds(src, *p));
    let need = u64::from(needs_word(*b));
    *b += ((w + 0xFFFF_FFFF) << fill(*b)) & need.wrapping_neg();
    *p += (need << 2) as usize;
}

/// Ends a literal or no-op turn of lane `l`: stores the lane and refills
/// it now (`DEFER = false`) or marks it in `d` for the round's deferred
/// refills (`DEFER = true`).
#[inline(always)]
fn end_turn<const DEFER: bool>(
    l: usize,
    mut b: u64,
    lanes: &mut Lanes<'_>,
    p: &mut usize,
    d: &mut Deferred,
) {
    if DEFER {
        let need = u32::from(needs_word(b));
        d.need |= need << l;
        d.count += need as usize;
    } else {
        refill_now(lanes.src, p, &mut b);
    }
    lanes.buf[l] = b;
}

/// One symbol-section turn of lane `l` (a constant after inlining into the
/// unrolled round) with no input or literal-output checks. The caller
/// guarantees `*p + 4 * (1 + d.count) <= src.len()` and
/// `*pos < out.len()`; `keep` is the output room the caller needs after a
/// match to stay in its loop.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fast_turn<const DEFER: bool>(
    l: usize,
    lanes: &mut Lanes<'_>,
    out: &mut [u8],
    ll: &[u32; LITLEN_TABLE_LEN],
    dt: &[u32; DIST_ENOUGH],
    p: &mut usize,
    pos: &mut usize,
    pending: &mut u32,
    d: &mut Deferred,
    keep: usize,
) -> Step {
    let mut b = lanes.buf[l];
    // A lane with a pending distance spends this turn on its refill only:
    // it looks up the no-op literal instead, without a branch.
    let m = (((*pending >> l) & 1) as usize).wrapping_neg();
    *pending &= !(1 << l);
    let idx = ((b & mask(LITLEN_BITS)) as usize & !m) | (LITLEN_NOP_INDEX & m);
    let mut e = ll[idx];
    if e & LITERAL != 0 {
        // The no-op writes a byte at `pos` that the next item overwrites.
        copy::store_byte(out, *pos, (e >> 16) as u8);
        *pos += ((e >> LITERAL_ADVANCE_SHIFT) & 1) as usize;
        b >>= e & 0x3F;
        end_turn::<DEFER>(l, b, lanes, p, d);
        return Step::Next;
    }
    if e & (EXCEPTIONAL | SUBTABLE) == EXCEPTIONAL | SUBTABLE {
        e = litlen_sub(ll, e, b);
        b >>= LITLEN_BITS;
        if e & LITERAL != 0 {
            copy::store_byte(out, *pos, (e >> 16) as u8);
            *pos += 1;
            b >>= e & 0x3F;
            end_turn::<DEFER>(l, b, lanes, p, d);
            return Step::Next;
        }
    }
    if e & EXCEPTIONAL != 0 {
        if e & END_OF_BLOCK != 0 {
            b >>= e & 0x3F;
            end_turn::<DEFER>(l, b, lanes, p, d);
            if DEFER {
                lanes.serve(d, p);
            }
            return Step::Eob;
        }
        lanes.buf[l] = b;
        return Step::Bad(invalid_litlen(e));
    }
    // Length: base + extra bits, then the turn's refill, now: in a round,
    // from the word after those the deferred lanes before it will take.
    let total = e & 0x3F;
    let len = (e >> 16) as usize + ((b & mask(total)) >> ((e >> 8) & 0xF)) as usize;
    b >>= total;
    if DEFER {
        let mut q = *p + 4 * d.count;
        let need = u32::from(needs_word(b));
        refill_now(lanes.src, &mut q, &mut b);
        d.taken |= need << l;
        d.count += need as usize;
    } else {
        refill_now(lanes.src, p, &mut b);
    }
    // Distance, from the same lane (>= 32 bits after the refill).
    let (dist, used) = match distance(dt, b) {
        Ok(d) => d,
        Err(k) => {
            lanes.buf[l] = b;
            return Step::Bad(k);
        }
    };
    lanes.buf[l] = b >> used;
    if let Err(k) = check_match(*pos, dist, len, out.len()) {
        return Step::Bad(k);
    }
    copy::copy_match(out, *pos, dist, len);
    *pos += len;
    *pending |= 1 << l;
    if out.len() - *pos < keep {
        Step::Leave
    } else {
        Step::Next
    }
}

/// Runs symbol-section turns while the margins make checks unnecessary:
/// whole unrolled rounds of 32 turns (lanes as constants, literal refills
/// deferred to the round's end) while [`ROUND_INPUT_MARGIN`] /
/// [`ROUND_OUTPUT_MARGIN`] hold, single turns while [`FAST_INPUT_MARGIN`] /
/// [`FAST_OUTPUT_MARGIN`] hold. Returns after an end-of-block turn
/// (`t.lane` on its lane), when a margin runs out, or, with `ONE_ROUND`,
/// when the next turn is lane 0's (after at least one turn).
#[inline(always)]
fn fast_turns<const ONE_ROUND: bool>(
    lanes: &mut Lanes<'_>,
    out: &mut [u8],
    ll: &[u32; LITLEN_TABLE_LEN],
    dt: &[u32; DIST_ENOUGH],
    t: &mut Turns,
) -> Result<Stop, Fail> {
    let src_len = lanes.src.len();
    let out_len = out.len();
    let mut p = lanes.p;
    let mut pos = t.pos;
    let mut lane = t.lane % LANES;
    let mut pending = t.pending;
    let result = 'outer: loop {
        if lane == 0 && src_len - p >= ROUND_INPUT_MARGIN && out_len - pos >= ROUND_OUTPUT_MARGIN {
            let mut d = Deferred::default();
            macro_rules! round {
                ($($l:literal)*) => {$(
                    match fast_turn::<true>(
                        $l, lanes, out, ll, dt, &mut p, &mut pos, &mut pending, &mut d,
                        ROUND_OUTPUT_MARGIN,
                    ) {
                        Step::Next => {}
                        Step::Leave => {
                            lanes.serve(&mut d, &mut p);
                            lane = ($l + 1) % LANES;
                            if ONE_ROUND && lane == 0 {
                                break 'outer Ok(Stop::RoundEnd);
                            }
                            continue 'outer;
                        }
                        Step::Eob => {
                            lane = $l;
                            break 'outer Ok(Stop::Eob);
                        }
                        Step::Bad(k) => {
                            lanes.serve(&mut d, &mut p);
                            lane = $l;
                            break 'outer Err(k);
                        }
                    }
                )*};
            }
            round!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
                   16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
            lanes.serve(&mut d, &mut p);
            if ONE_ROUND {
                break Ok(Stop::RoundEnd);
            }
            continue;
        }
        if src_len - p < FAST_INPUT_MARGIN || out_len - pos < FAST_OUTPUT_MARGIN {
            break Ok(Stop::Margin);
        }
        let mut d = Deferred::default();
        match fast_turn::<false>(
            lane,
            lanes,
            out,
            ll,
            dt,
            &mut p,
            &mut pos,
            &mut pending,
            &mut d,
            FAST_OUTPUT_MARGIN,
        ) {
            Step::Next | Step::Leave => {
                lane = (lane + 1) % LANES;
                if ONE_ROUND && lane == 0 {
                    break Ok(Stop::RoundEnd);
                }
            }
            Step::Eob => break Ok(Stop::Eob),
            Step::Bad(k) => break Err(k),
        }
    };
    lanes.p = p;
    t.pos = pos;
    t.lane = lane % LANES;
    t.pending = pending;
    result.map_err(|kind| lanes.fail(kind))
}

/// One symbol-section turn with every read and write checked. Returns
/// `true` after an end-of-block turn (code consumed, lane refilled,
/// `t.lane` on its lane), as [`fast_turns`] does.
fn slow_turn(
    lanes: &mut Lanes<'_>,
    out: &mut [u8],
    ll: &[u32; LITLEN_TABLE_LEN],
    dt: &[u32; DIST_ENOUGH],
    t: &mut Turns,
) -> Result<bool, Fail> {
    let l = t.lane % LANES;
    if t.pending & (1 << l) != 0 {
        t.pending &= !(1 << l);
        lanes.refill(l)?;
        t.lane = (l + 1) % LANES;
        return Ok(false);
    }
    let b = lanes.buf[l];
    let mut e = ll[(b & mask(LITLEN_BITS)) as usize];
    if e & (EXCEPTIONAL | SUBTABLE) == EXCEPTIONAL | SUBTABLE {
        e = litlen_sub(ll, e, b);
        lanes.consume(l, LITLEN_BITS);
    }
    let b = lanes.buf[l];
    if e & LITERAL != 0 {
        let Some(slot) = out.get_mut(t.pos) else {
            return Err(lanes.fail(Corruption::OutputOverrun {
                position: t.pos,
                wanted: 1,
                expected: out.len(),
            }));
        };
        *slot = (e >> 16) as u8;
        t.pos += 1;
        lanes.consume(l, e & 0x3F);
        lanes.refill(l)?;
        t.lane = (l + 1) % LANES;
        return Ok(false);
    }
    if e & EXCEPTIONAL != 0 {
        if e & END_OF_BLOCK != 0 {
            lanes.consume(l, e & 0x3F);
            lanes.refill(l)?;
            t.lane = l;
            return Ok(true);
        }
        return Err(lanes.fail(invalid_litlen(e)));
    }
    let total = e & 0x3F;
    let len = (e >> 16) as usize + ((b & mask(total)) >> ((e >> 8) & 0xF)) as usize;
    lanes.consume(l, total);
    lanes.refill(l)?;
    let (dist, used) = distance(dt, lanes.buf[l]).map_err(|k| lanes.fail(k))?;
    lanes.consume(l, used);
    check_match(t.pos, dist, len, out.len()).map_err(|k| lanes.fail(k))?;
    copy::copy_match(out, t.pos, dist, len);
    t.pos += len;
    t.pending |= 1 << l;
    t.lane = (l + 1) % LANES;
    Ok(false)
}

/// The error for a literal/length entry that is neither literal, length,
/// subtable pointer nor end of block.
fn invalid_litlen(e: u32) -> Corruption {
    let sym = e >> 16;
    if sym == NO_SYMBOL {
        Corruption::EmptyCodeUsed(CodeKind::LitLen)
    } else {
        Corruption::InvalidLengthSymbol(sym as u16)
    }
}

/// Rules 18 and 19 for a match at output position `pos`.
#[inline(always)]
fn check_match(pos: usize, dist: usize, len: usize, out_len: usize) -> Result<(), Corruption> {
    if dist > pos {
        return Err(Corruption::DistanceTooFar {
            distance: dist,
            position: pos,
        });
    }
    if len > out_len - pos {
        return Err(Corruption::OutputOverrun {
            position: pos,
            wanted: len,
            expected: out_len,
        });
    }
    Ok(())
}

/// A stored block (SPEC §3.4): `LEN` on lane 0, then byte `j` on lane
/// `j mod 32`, each followed by that lane's refill. Returns the new output
/// position.
#[inline(always)]
fn stored<R: Rounds>(
    lanes: &mut Lanes<'_>,
    out: &mut [u8],
    pos: usize,
    r: R,
) -> Result<usize, Fail> {
    let len = lanes.bits(0, 16) as usize;
    if len == 0 {
        lanes.refill(0)?;
        return Ok(pos);
    }
    if len > out.len() - pos {
        return Err(lanes.fail(Corruption::OutputOverrun {
            position: pos,
            wanted: len,
            expected: out.len(),
        }));
    }
    let dst = &mut out[pos..pos + len];
    // First round byte by byte: lane 0 may hold fewer than 32 bits after LEN.
    let first = len.min(LANES);
    for (j, b) in dst[..first].iter_mut().enumerate() {
        *b = lanes.bits(j, 8) as u8;
        lanes.refill(j)?;
    }
    let mut j = first;
    let (slot, shift) = stored_layout(&lanes.buf);
    j += r.stored_groups(lanes, &mut dst[first..], &slot, &shift);
    while j < len {
        let lane = j % LANES;
        dst[j] = lanes.bits(lane, 8) as u8;
        lanes.refill(lane)?;
        j += 1;
    }
    Ok(pos + len)
}

/// Each lane's word slot inside a 128-byte group of a stored block and its
/// `fill - 32`, for a stored block at lane 0 with every lane holding at
/// least 32 bits.
///
/// In four rounds lane `i` outputs exactly the low 32 bits of its buffer
/// and refills exactly once, in round `(n[i] - 32) / 8`; the buffer ends
/// with the same fill `n[i]`. So the order in which the 32 lanes take the
/// group's 32 words is the same for every group of the block: lanes
/// refilling in round 0 first (in lane order), then round 1, and so on.
pub(crate) fn stored_layout(buf: &[u64; LANES]) -> ([u32; LANES], [u32; LANES]) {
    let mut shift = [0u32; LANES];
    for (s, &b) in shift.iter_mut().zip(buf) {
        *s = fill(b).saturating_sub(32) % 32;
    }
    // (slot[lane] < 32 always: `next` counts the 32 lanes once each.)
    let mut slot = [0u32; LANES];
    let mut next = 0;
    for round in 0..4 {
        for (s, &r) in slot.iter_mut().zip(&shift) {
            if r / 8 == round {
                *s = next;
                next += 1;
            }
        }
    }
    debug_assert_eq!(next, LANES as u32);
    (slot, shift)
}

/// Copies whole 128-byte groups of a stored block (four rounds of 32
/// turns) with the layout of [`stored_layout`]. Returns the bytes written
/// (a multiple of 128), leaving the tail to the byte loop.
#[inline(always)]
pub(crate) fn stored_groups(
    lanes: &mut Lanes<'_>,
    dst: &mut [u8],
    slot: &[u32; LANES],
    shift: &[u32; LANES],
) -> usize {
    let groups = (dst.len() / (4 * LANES)).min((lanes.src.len() - lanes.p) / (4 * LANES));
    if groups == 0 {
        return 0;
    }
    let mut v = [0u32; LANES];
    for (g, chunk) in dst.chunks_exact_mut(4 * LANES).take(groups).enumerate() {
        let Some(words) = lanes.src.get(lanes.p + g * 4 * LANES..) else {
            break;
        };
        let Some(words) = words.first_chunk::<{ 4 * LANES }>() else {
            break;
        };
        for lane in 0..LANES {
            let b = lanes.buf[lane];
            v[lane] = b as u32;
            // (The mask keeps the index provably inside the 128 bytes.)
            let s = (4 * slot[lane] as usize) & (4 * LANES - 4);
            let w = u32::from_le_bytes([words[s], words[s + 1], words[s + 2], words[s + 3]]);
            // Drop the 32 bits written out, insert the word above the rest
            // (the sentinel moves back up to where it was).
            lanes.buf[lane] = (b >> 32) + ((u64::from(w) + 0xFFFF_FFFF) << shift[lane]);
        }
        if let Ok(rows) = <&mut [u8; 4 * LANES]>::try_from(chunk) {
            transpose::transpose(&v, rows);
        }
    }
    lanes.p += groups * 4 * LANES;
    groups * 4 * LANES
}
