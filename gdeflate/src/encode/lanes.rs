//! The 32-lane bit writer: turns a sequence of decoder *turns* into the
//! interleaved word layout of a GDeflate tile payload (SPEC §3.2, §3.10).
//!
//! The caller performs exactly the turns the decoder will perform: for each
//! turn it appends that turn's bits to one lane with [`LaneWriter::put`] and
//! then calls [`LaneWriter::end_turn`] ([`LaneWriter::turn`] does both). The
//! writer keeps, per lane, the bits not yet placed and a simulation of the
//! decoder's bit count for that lane. Whenever the simulated count drops
//! below 32 at the end of a turn, the decoder would refill, so the writer
//! allocates the lane's next word at the current end of the payload. Bits
//! are stored into a lane's allocated words in order; [`LaneWriter::finish`]
//! stores the partial last words. Words that receive no bits stay zero, as
//! in the reference encoder's output.
//!
//! Invariant (from the decoder's rule that a turn never reads past its
//! lane's loaded words): a lane's written bits never exceed 32 x its
//! allocated words, so a full 32-bit group always has a word to go to. The
//! number of allocated words still waiting for bits is
//! `(avail + nbits) / 32`, at most 2 (`avail` <= 63 and `nbits` < 32 after
//! every turn).

use alloc::vec::Vec;

/// Number of lanes.
pub(crate) const LANES: usize = 32;

/// State of one lane.
#[derive(Clone, Copy, Debug)]
struct Lane {
    /// Bits appended and not yet stored, LSB first.
    buf: u64,
    /// Number of valid bits in `buf` (< 32 between calls).
    nbits: u32,
    /// Simulated decoder bit count.
    avail: u32,
    /// Word indices of the allocated words waiting for bits, oldest first.
    slot: [u32; 2],
}

/// Serializes one tile payload, appended to a byte vector on
/// [`LaneWriter::finish`].
#[derive(Debug)]
pub(crate) struct LaneWriter<'a> {
    out: &'a mut Vec<u8>,
    /// The payload as little-endian words (converted to bytes at the end).
    words: Vec<u32>,
    lanes: [Lane; LANES],
}

impl<'a> LaneWriter<'a> {
    /// Starts a payload, to be appended to `out`, with the 32 initial words.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        let mut lanes = [Lane {
            buf: 0,
            nbits: 0,
            avail: 32,
            slot: [0; 2],
        }; LANES];
        for (i, l) in lanes.iter_mut().enumerate() {
            l.slot[0] = i as u32;
        }
        let mut words = Vec::with_capacity(1024);
        words.resize(LANES, 0);
        LaneWriter { out, words, lanes }
    }

    /// Appends the low `n` bits of `bits` (n <= 32) to `lane` within the
    /// current turn.
    #[inline]
    pub(crate) fn put(&mut self, lane: usize, bits: u32, n: u32) {
        let l = &mut self.lanes[lane & (LANES - 1)];
        debug_assert!(n <= 32 && (n == 32 || bits >> n == 0));
        debug_assert!(l.avail >= n, "a turn read past the lane's loaded words");
        l.buf |= u64::from(bits) << l.nbits;
        l.nbits += n;
        l.avail -= n;
        if l.nbits >= 32 {
            debug_assert!((l.avail + l.nbits) / 32 >= 1, "no word allocated");
            self.words[l.slot[0] as usize] = l.buf as u32;
            l.slot[0] = l.slot[1];
            l.buf >>= 32;
            l.nbits -= 32;
        }
    }

    /// Ends a turn on `lane`: the decoder refills when it holds fewer than
    /// 32 bits, so the lane's next word is allocated here.
    #[inline]
    pub(crate) fn end_turn(&mut self, lane: usize) {
        let l = &mut self.lanes[lane & (LANES - 1)];
        if l.avail < 32 {
            let waiting = ((l.avail + l.nbits) / 32) as usize;
            debug_assert!(waiting < 2);
            l.slot[waiting & 1] = self.words.len() as u32;
            self.words.push(0);
            l.avail += 32;
        }
    }

    /// One whole turn: `put` then `end_turn`.
    #[inline]
    pub(crate) fn turn(&mut self, lane: usize, bits: u32, n: u32) {
        self.put(lane, bits, n);
        self.end_turn(lane);
    }

    /// Stores every lane's partial word, appends the payload to the output
    /// and returns its length in bytes.
    pub(crate) fn finish(mut self) -> usize {
        for l in &mut self.lanes {
            if l.nbits > 0 {
                self.words[l.slot[0] as usize] = l.buf as u32;
            }
        }
        self.out.reserve(self.words.len() * 4);
        for w in &self.words {
            self.out.extend_from_slice(&w.to_le_bytes());
        }
        self.words.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §9 example 1: "A" as a final stored block.
    #[test]
    fn spec_example_one_byte_stored() {
        let mut out = Vec::new();
        let mut w = LaneWriter::new(&mut out);
        w.put(0, 1, 1);
        w.put(0, 0, 2);
        w.end_turn(0);
        w.put(0, 1, 16);
        w.turn(0, u32::from(b'A'), 8);
        assert_eq!(w.finish(), 132);
        assert_eq!(&out[0..4], &0x0208_0009u32.to_le_bytes());
        assert!(out[4..].iter().all(|&b| b == 0));
    }

    /// A lane that straddles words: SPEC §9 example 4, byte 32 on lane 0.
    #[test]
    fn straddling_bits_go_to_the_next_allocated_word() {
        let mut out = Vec::new();
        let mut w = LaneWriter::new(&mut out);
        w.turn(0, 1, 3); // lane 0: 29 left -> allocates word 32
        w.put(0, 40, 16);
        for j in 0..40u32 {
            w.turn((j % 32) as usize, j, 8);
        }
        assert_eq!(w.finish(), 260);
        let word = |i: usize| u32::from_le_bytes(out[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(word(0), 0x141);
        assert_eq!(word(1), 0x2101);
        assert_eq!(word(8), 0x08);
        assert_eq!(word(32), 0x01);
    }
}
