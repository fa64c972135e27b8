//! Little-endian 32-bit word loads from a tile payload.
//!
//! The fast decode loops prove once per turn that a word is in bounds and
//! then load it here without a second check.
#![allow(unsafe_code)]

/// Loads the word at byte `p`, or `None` if `p + 4` exceeds the slice.
#[inline(always)]
pub(crate) fn load_checked(src: &[u8], p: usize) -> Option<u32> {
    let b = src.get(p..p.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Loads the word at byte `p`; the caller guarantees `p + 4 <= src.len()`.
#[inline(always)]
pub(crate) fn load_in_bounds(src: &[u8], p: usize) -> u32 {
    debug_assert!(p <= src.len() && src.len() - p >= 4);
    let at = src.as_ptr().wrapping_add(p).cast::<u32>();
    // SAFETY: the caller guarantees p + 4 <= src.len() (checked by the fast
    // loop's margin test), so the 4 bytes at `at` are inside `src`;
    // read_unaligned has no alignment requirement.
    let w = unsafe { at.read_unaligned() };
    u32::from_le(w)
}
