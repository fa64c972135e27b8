//! LZ77 match copy inside one tile's output buffer.
//!
//! Long-distance matches copy 8 bytes per step and may write up to
//! [`WILD_COPY_SLACK`] - 1 bytes past the match end (bytes that later turns
//! overwrite), so they take that path only when that much room is left in
//! the tile; everything else copies exactly.
#![allow(unsafe_code)]

/// Bytes that must remain after a match for the 8-byte-step copy.
pub(crate) const WILD_COPY_SLACK: usize = 8;

/// Copies `len` bytes from `pos - dist` to `pos` in `out`, byte by byte in
/// meaning (overlapping copies repeat the pattern).
///
/// The caller guarantees `1 <= dist <= pos` and `len <= out.len() - pos`.
#[inline(always)]
pub(crate) fn copy_match(out: &mut [u8], pos: usize, dist: usize, len: usize) {
    debug_assert!(dist >= 1 && dist <= pos && pos <= out.len() && len <= out.len() - pos);
    if dist >= 8 && out.len() - pos - len >= WILD_COPY_SLACK {
        let base = out.as_mut_ptr();
        let mut off = 0usize;
        while off < len {
            let from = base.wrapping_add(pos + off - dist).cast::<u64>();
            let to = base.wrapping_add(pos + off).cast::<u64>();
            // SAFETY: off < len and len + WILD_COPY_SLACK <= out.len() - pos,
            // so the 8 bytes at pos + off - dist (dist <= pos) lie inside
            // `out`; read_unaligned has no alignment requirement.
            let v = unsafe { from.read_unaligned() };
            // SAFETY: as above, the 8 bytes at pos + off end before
            // pos + len + 8 <= out.len(). dist >= 8 keeps this step's source
            // and destination disjoint, the source written by earlier steps.
            unsafe { to.write_unaligned(v) };
            off += 8;
        }
    } else if dist == 1 {
        let b = out[pos - 1];
        out[pos..pos + len].fill(b);
    } else if dist >= len {
        out.copy_within(pos - dist..pos - dist + len, pos);
    } else {
        for i in pos..pos + len {
            out[i] = out[i - dist];
        }
    }
}
