//! LZ77 match copy inside one tile's output buffer.
//!
//! With at least [`WILD_COPY_SLACK`] bytes of room after the match, copies
//! run in 8-byte steps and may write up to that many bytes past the match
//! end (bytes that later items overwrite):
//! - distance >= 8: two unconditional 8-byte steps cover the common short
//!   match without a loop-exit branch, longer ones loop;
//! - distance 1: the byte broadcast into a u64, stored repeatedly;
//! - distance 2..7: load 8 bytes at `dst - dist`, store at `dst`, advance
//!   both by `dist`: each step adds `dist` correct bytes.
//!
//! Near the end of the tile only the last [`WILD_COPY_SLACK`] bytes of a
//! match are copied one by one.
#![allow(unsafe_code)]

/// Room needed after a match for the 8-byte-step copies: the unconditional
/// 16-byte start of a match of length >= 3 writes at most 13 bytes past its
/// end; every loop step ends less than 8 bytes past it.
pub(crate) const WILD_COPY_SLACK: usize = 16;

/// Loads 8 bytes at `at`. The caller guarantees `at + 8 <= out.len()`.
#[inline(always)]
fn load8(out: &[u8], at: usize) -> u64 {
    debug_assert!(at + 8 <= out.len());
    let from = out.as_ptr().wrapping_add(at).cast::<u64>();
    // SAFETY: the caller guarantees at + 8 <= out.len(), so the 8 bytes lie
    // inside `out`; read_unaligned has no alignment requirement.
    unsafe { from.read_unaligned() }
}

/// Stores 8 bytes at `at`. The caller guarantees `at + 8 <= out.len()`.
#[inline(always)]
pub(crate) fn store8(out: &mut [u8], at: usize, v: u64) {
    debug_assert!(at + 8 <= out.len());
    let to = out.as_mut_ptr().wrapping_add(at).cast::<u64>();
    // SAFETY: the caller guarantees at + 8 <= out.len(), so the 8 bytes lie
    // inside `out`; write_unaligned has no alignment requirement.
    unsafe { to.write_unaligned(v) }
}

/// Copies `len` bytes from `pos - dist` to `pos` in `out`, with LZ77
/// meaning (an overlapping copy repeats the pattern).
///
/// The caller guarantees `1 <= dist <= pos`, `3 <= len` and
/// `len <= out.len() - pos`.
#[inline(always)]
pub(crate) fn copy_match(out: &mut [u8], pos: usize, dist: usize, len: usize) {
    debug_assert!(dist >= 1 && dist <= pos && pos <= out.len() && len <= out.len() - pos);
    let end = pos + len;
    if out.len() - end >= WILD_COPY_SLACK {
        wild_copy(out, pos, dist, end);
    } else if dist >= len {
        out.copy_within(pos - dist..pos - dist + len, pos);
    } else {
        // Near the tile end, an overlapping match (a long run ending the
        // tile is common): all but its last WILD_COPY_SLACK bytes in
        // 8-byte steps, whose overrun lands in those bytes, then those
        // bytes one by one.
        let mut from = pos;
        if len > WILD_COPY_SLACK {
            from = end - WILD_COPY_SLACK;
            wild_copy(out, pos, dist, from);
        }
        for i in from..end {
            out[i] = out[i - dist];
        }
    }
}

/// The 8-byte-step copy of `pos..end` from `dist` bytes back (see the
/// module comment). The caller guarantees `1 <= dist <= pos < end` and
/// `end + WILD_COPY_SLACK <= out.len()`.
#[inline(always)]
fn wild_copy(out: &mut [u8], pos: usize, dist: usize, end: usize) {
    debug_assert!(dist >= 1 && dist <= pos && pos < end && end + WILD_COPY_SLACK <= out.len());
    // Every store below starts before `end` (or at pos + 8 < end + 8) and
    // so ends before end + 8 <= out.len(); loads start at least `dist`
    // bytes before their store.
    if dist >= 8 {
        store8(out, pos, load8(out, pos - dist));
        store8(out, pos + 8, load8(out, pos + 8 - dist));
        let mut at = pos + 16;
        while at < end {
            store8(out, at, load8(out, at - dist));
            at += 8;
        }
    } else if dist == 1 {
        let v = u64::from(out[pos - 1]) * 0x0101_0101_0101_0101;
        store8(out, pos, v);
        store8(out, pos + 8, v);
        let mut at = pos + 16;
        while at < end {
            store8(out, at, v);
            at += 8;
        }
    } else {
        let mut at = pos;
        while at < end {
            store8(out, at, load8(out, at - dist));
            at += dist;
        }
    }
}

/// The packed literal bytes of one round (at most 32), with room for
/// 32-byte reads past them, and a scratch buffer for empty runs.
pub(crate) struct Literals {
    bytes: [u8; 64],
    /// Where [`Literals::copy_run`] puts an empty run.
    scratch: [u8; 32],
}

impl Literals {
    pub(crate) fn new() -> Self {
        Literals {
            bytes: [0; 64],
            scratch: [0; 32],
        }
    }

    /// Stores 8 bytes at `at` (`at <= 24`, checked).
    #[inline(always)]
    pub(crate) fn store(&mut self, at: usize, v: u64) {
        if let Some(b) = self.bytes.get_mut(at..at + 8) {
            b.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Copies bytes `from..from + 32` to `out[at..at + 32]`: a run of `n`
    /// literals, the rest being overwritten by later items. An empty run
    /// goes to a scratch buffer instead of `out`, without a branch: its 32
    /// bytes of nothing would otherwise be a store in flight under the
    /// next match's source, and a load overlapping several stores has to
    /// wait for them. The caller guarantees `at + 32 <= out.len()`;
    /// `from <= 32` is checked.
    #[inline(always)]
    pub(crate) fn copy_run(&mut self, from: usize, n: usize, out: &mut [u8], at: usize) {
        debug_assert!(at + 32 <= out.len() && from <= 32);
        let Some(run) = self.bytes.get(from..from + 32) else {
            return;
        };
        let to = if n != 0 {
            out.as_mut_ptr().wrapping_add(at)
        } else {
            self.scratch.as_mut_ptr()
        };
        // SAFETY: `run` is 32 bytes of `self.bytes`; `to` is either 32
        // bytes inside `out` (the caller guarantees at + 32 <= out.len())
        // or the 32-byte `self.scratch`, distinct from `run` and `out`.
        unsafe { core::ptr::copy_nonoverlapping(run.as_ptr(), to, 32) }
    }
}

/// Stores one literal byte at `pos`; the caller guarantees
/// `pos < out.len()` (the fast loops' output margin).
#[inline(always)]
pub(crate) fn store_byte(out: &mut [u8], pos: usize, v: u8) {
    debug_assert!(pos < out.len());
    let to = out.as_mut_ptr().wrapping_add(pos);
    // SAFETY: the caller guarantees pos < out.len(), so `to` points into
    // `out`.
    unsafe { to.write(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every match (distance, length, position) in a 96-byte buffer, so
    /// every distance to the end: the same bytes as the byte-by-byte
    /// definition, and nothing written past the match but within the
    /// copy's slack (the bytes after `end + WILD_COPY_SLACK` are intact).
    #[test]
    fn copy_match_equals_bytewise_copy() {
        const N: usize = 96;
        let base: [u8; N] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5A);
        for pos in 1..N - 3 {
            for dist in 1..=pos {
                for len in 3..=N - pos {
                    let mut got = base;
                    let mut want = base;
                    copy_match(&mut got, pos, dist, len);
                    for i in pos..pos + len {
                        want[i] = want[i - dist];
                    }
                    assert_eq!(got[..pos + len], want[..pos + len], "{pos} {dist} {len}");
                    let tail = (pos + len + WILD_COPY_SLACK).min(N);
                    assert_eq!(got[tail..], base[tail..], "{pos} {dist} {len}");
                }
            }
        }
    }
}
