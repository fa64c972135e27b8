//! An exact transfer over io_uring: all of `len` bytes between memory and a
//! file range, as one or more read/write SQEs. Like `exec::read_full_with`
//! for pread, short transfers are continued from where they stopped, and end
//! of file is reported with the bytes that were there; for O_DIRECT reads a
//! short transfer that stops inside an alignment block is end of file (the
//! next SQE would be misaligned). Pure logic: the caller queues the SQE
//! [`Xfer::next_op`] gives and feeds each completion to [`Xfer::on_result`].

use super::ring::{IoOp, Target, MAX_OP_LEN};

/// Retries of an SQE that completed with EAGAIN or EINTR before the
/// transfer fails with that errno.
const MAX_RETRIES: u32 = 16;

/// What to do after a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XferStep {
    /// Queue [`Xfer::next_op`] again.
    Continue,
    /// All bytes transferred.
    Done,
    /// A read hit end of file after `got` bytes.
    EndOfFile {
        /// Bytes read before it.
        got: usize,
    },
    /// A write made no progress after `put` bytes.
    NoProgress {
        /// Bytes written before it.
        put: usize,
    },
    /// The operation failed with `errno`.
    Failed {
        /// The errno.
        errno: i32,
    },
}

/// One exact transfer in progress.
#[derive(Clone, Copy, Debug)]
pub struct Xfer {
    file: Target,
    write: bool,
    mem: *mut u8,
    len: usize,
    offset: u64,
    done: usize,
    align: usize,
    retries: u32,
}

impl Xfer {
    /// Reads `len` bytes at `offset` of `file` into `mem`. `align` is the
    /// O_DIRECT block (1 for buffered I/O); `mem`, `offset` and `len` must
    /// be multiples of it.
    pub fn read(file: Target, mem: *mut u8, len: usize, offset: u64, align: usize) -> Xfer {
        debug_assert!(align.is_power_of_two());
        debug_assert!(
            (mem as usize).is_multiple_of(align)
                && offset.is_multiple_of(align as u64)
                && len.is_multiple_of(align)
        );
        Xfer {
            file,
            write: false,
            mem,
            len,
            offset,
            done: 0,
            align,
            retries: 0,
        }
    }

    /// Writes `len` bytes from `mem` at `offset` of `file` (buffered).
    pub fn write(file: Target, mem: *const u8, len: usize, offset: u64) -> Xfer {
        Xfer {
            file,
            write: true,
            mem: mem.cast_mut(),
            len,
            offset,
            done: 0,
            align: 1,
            retries: 0,
        }
    }

    /// Bytes transferred so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length transfer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SQE for the rest (at most [`MAX_OP_LEN`] bytes of it).
    pub fn next_op(&self) -> IoOp {
        let n = (self.len - self.done).min(MAX_OP_LEN) as u32;
        let buf = self.mem.wrapping_add(self.done);
        let offset = self.offset + self.done as u64;
        if self.write {
            IoOp::Write {
                file: self.file,
                buf,
                len: n,
                offset,
            }
        } else {
            IoOp::Read {
                file: self.file,
                buf,
                len: n,
                offset,
            }
        }
    }

    /// Accounts a completion's result (bytes, or a negated errno).
    pub fn on_result(&mut self, res: i32) -> XferStep {
        if res < 0 {
            let errno = -res;
            if (errno == libc::EAGAIN || errno == libc::EINTR) && self.retries < MAX_RETRIES {
                self.retries += 1;
                return XferStep::Continue;
            }
            return XferStep::Failed { errno };
        }
        let n = res as usize;
        if n == 0 {
            return if self.write {
                XferStep::NoProgress { put: self.done }
            } else {
                XferStep::EndOfFile { got: self.done }
            };
        }
        debug_assert!(n <= self.len - self.done);
        self.done = (self.done + n).min(self.len);
        if self.done == self.len {
            XferStep::Done
        } else if !self.done.is_multiple_of(self.align) {
            // O_DIRECT stopped inside a block: the file ends there.
            XferStep::EndOfFile { got: self.done }
        } else {
            XferStep::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_range(op: IoOp) -> (usize, u32, u64) {
        match op {
            IoOp::Read {
                buf, len, offset, ..
            } => (buf as usize, len, offset),
            IoOp::Write {
                buf, len, offset, ..
            } => (buf as usize, len, offset),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_reads_continue_where_they_stopped() {
        let mut mem = [0u8; 100];
        let base = mem.as_mut_ptr();
        let mut x = Xfer::read(Target::Fd(3), base, 100, 1000, 1);
        assert_eq!(op_range(x.next_op()), (base as usize, 100, 1000));
        assert_eq!(x.on_result(30), XferStep::Continue);
        assert_eq!(op_range(x.next_op()), (base as usize + 30, 70, 1030));
        assert_eq!(x.on_result(-libc::EAGAIN), XferStep::Continue);
        assert_eq!(op_range(x.next_op()), (base as usize + 30, 70, 1030));
        assert_eq!(x.on_result(70), XferStep::Done);
        assert_eq!(x.done(), 100);
    }

    #[test]
    fn end_of_file_and_errors() {
        let mut mem = [0u8; 64];
        let mut x = Xfer::read(Target::Fixed(2), mem.as_mut_ptr(), 64, 0, 1);
        assert_eq!(x.on_result(10), XferStep::Continue);
        assert_eq!(x.on_result(0), XferStep::EndOfFile { got: 10 });
        let mut y = Xfer::read(Target::Fd(3), mem.as_mut_ptr(), 64, 0, 1);
        assert_eq!(
            y.on_result(-libc::EIO),
            XferStep::Failed { errno: libc::EIO }
        );
        let mut z = Xfer::write(Target::Fd(3), mem.as_ptr(), 64, 0);
        assert_eq!(z.on_result(0), XferStep::NoProgress { put: 0 });
    }

    #[test]
    fn retries_are_bounded() {
        let mut mem = [0u8; 8];
        let mut x = Xfer::read(Target::Fd(3), mem.as_mut_ptr(), 8, 0, 1);
        for _ in 0..MAX_RETRIES {
            assert_eq!(x.on_result(-libc::EINTR), XferStep::Continue);
        }
        assert_eq!(
            x.on_result(-libc::EINTR),
            XferStep::Failed { errno: libc::EINTR }
        );
    }

    #[test]
    fn direct_reads_stop_at_a_partial_block() {
        let mut buf = crate::aligned::AlignedBuf::zeroed(3 * 4096, 4096).unwrap();
        let mut x = Xfer::read(Target::Fd(3), buf.as_mut_ptr(), 3 * 4096, 8192, 4096);
        assert_eq!(x.on_result(4096), XferStep::Continue);
        assert_eq!(x.on_result(100), XferStep::EndOfFile { got: 4196 });
    }

    #[test]
    fn huge_transfers_are_split() {
        let len = MAX_OP_LEN + 4096;
        // No memory is touched: only the SQE arithmetic is checked.
        let base = std::ptr::NonNull::<u8>::dangling().as_ptr();
        let mut x = Xfer::write(Target::Fd(3), base, len, 0);
        assert_eq!(op_range(x.next_op()).1 as usize, MAX_OP_LEN);
        assert_eq!(x.on_result(MAX_OP_LEN as i32), XferStep::Continue);
        let (p, n, off) = op_range(x.next_op());
        assert_eq!(
            (p - base as usize, n, off),
            (MAX_OP_LEN, 4096, MAX_OP_LEN as u64)
        );
        assert_eq!(x.on_result(4096), XferStep::Done);
    }
}
