//! The 32-lane bit writer: turns a sequence of decoder *turns* into the
//! interleaved word layout of a GDeflate tile payload (SPEC §3.2, §3.10).
//!
//! The caller performs exactly the turns the decoder will perform: for each
//! turn it appends that turn's bits to one lane with [`LaneWriter::put`] and
//! then calls [`LaneWriter::end_turn`]. The writer keeps, per lane, the bits
//! not yet placed and a simulation of the decoder's bit count for that lane.
//! Whenever the simulated count drops below 32 at the end of a turn, the
//! decoder would refill, so the writer allocates the lane's next word at the
//! current end of the payload. Bits are stored into a lane's allocated words
//! in order; [`LaneWriter::finish`] stores the partial last words. Words that
//! receive no bits stay zero, as in the reference encoder's output.
//!
//! Invariant (from the decoder's rule that a turn never reads past its
//! lane's loaded words): a lane's written bits never exceed 32 x its
//! allocated words, so a full 32-bit group always has a word to go to, and
//! at most two allocated words per lane are waiting for bits.

use alloc::vec::Vec;

/// Number of lanes.
pub(crate) const LANES: usize = 32;

/// Serializes one tile payload into a byte vector.
#[derive(Debug)]
pub(crate) struct LaneWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Offset of the payload's first byte in `out`.
    base: usize,
    /// Bits appended to each lane and not yet stored, LSB first.
    buf: [u64; LANES],
    /// Number of valid bits in `buf`.
    nbits: [u32; LANES],
    /// Simulated decoder bit count of each lane.
    avail: [u32; LANES],
    /// Allocated words waiting for bits (offsets into `out`), oldest first.
    slots: [[usize; 2]; LANES],
    /// Number of valid entries in `slots`.
    nslots: [u8; LANES],
}

impl<'a> LaneWriter<'a> {
    /// Starts a payload at the end of `out` with the 32 initial words.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        let base = out.len();
        out.resize(base + 4 * LANES, 0);
        let mut slots = [[0usize; 2]; LANES];
        for (i, s) in slots.iter_mut().enumerate() {
            s[0] = base + 4 * i;
        }
        LaneWriter {
            out,
            base,
            buf: [0; LANES],
            nbits: [0; LANES],
            avail: [32; LANES],
            slots,
            nslots: [1; LANES],
        }
    }

    /// Appends the low `n` bits of `bits` (n <= 32) to `lane` within the
    /// current turn.
    #[inline]
    pub(crate) fn put(&mut self, lane: usize, bits: u32, n: u32) {
        let lane = lane & (LANES - 1);
        debug_assert!(n <= 32 && (n == 32 || bits >> n == 0));
        debug_assert!(
            self.avail[lane] >= n,
            "a turn read past the lane's loaded words"
        );
        self.buf[lane] |= u64::from(bits) << self.nbits[lane];
        self.nbits[lane] += n;
        self.avail[lane] -= n;
        if self.nbits[lane] >= 32 {
            self.store(lane);
        }
    }

    /// Stores the low 32 pending bits of `lane` into its oldest waiting word.
    #[inline]
    fn store(&mut self, lane: usize) {
        debug_assert!(self.nslots[lane] > 0, "no word allocated for lane {lane}");
        let pos = self.slots[lane][0];
        self.slots[lane][0] = self.slots[lane][1];
        self.nslots[lane] -= 1;
        let word = self.buf[lane] as u32;
        self.out[pos..pos + 4].copy_from_slice(&word.to_le_bytes());
        self.buf[lane] >>= 32;
        self.nbits[lane] -= 32;
    }

    /// Ends a turn on `lane`: the decoder refills when it holds fewer than
    /// 32 bits, so the lane's next word is allocated here.
    #[inline]
    pub(crate) fn end_turn(&mut self, lane: usize) {
        let lane = lane & (LANES - 1);
        if self.avail[lane] < 32 {
            let pos = self.out.len();
            self.out.extend_from_slice(&[0; 4]);
            debug_assert!(self.nslots[lane] < 2);
            self.slots[lane][self.nslots[lane] as usize] = pos;
            self.nslots[lane] += 1;
            self.avail[lane] += 32;
        }
    }

    /// Stores every lane's partial word and returns the payload length.
    pub(crate) fn finish(mut self) -> usize {
        for lane in 0..LANES {
            if self.nbits[lane] > 0 {
                self.nbits[lane] = 32;
                self.store(lane);
            }
        }
        self.out.len() - self.base
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
        w.put(0, u32::from(b'A'), 8);
        w.end_turn(0);
        assert_eq!(w.finish(), 132);
        assert_eq!(&out[0..4], &0x0208_0009u32.to_le_bytes());
        assert!(out[4..].iter().all(|&b| b == 0));
    }

    /// A lane that straddles words: SPEC §9 example 4, byte 32 on lane 0.
    #[test]
    fn straddling_bits_go_to_the_next_allocated_word() {
        let mut out = Vec::new();
        let mut w = LaneWriter::new(&mut out);
        w.put(0, 1, 1);
        w.put(0, 0, 2);
        w.end_turn(0); // lane 0: 29 left -> allocates word 32
        w.put(0, 40, 16);
        for j in 0..40u32 {
            let lane = (j % 32) as usize;
            w.put(lane, j, 8);
            w.end_turn(lane);
        }
        assert_eq!(w.finish(), 260);
        let word = |i: usize| u32::from_le_bytes(out[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(word(0), 0x141);
        assert_eq!(word(1), 0x2101);
        assert_eq!(word(8), 0x08);
        assert_eq!(word(32), 0x01);
    }
}
