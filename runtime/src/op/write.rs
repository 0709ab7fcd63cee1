//! IORING_OP_WRITE: write an owned buffer, at an offset or at the file's
//! position. See write(2) / pwrite(2).

use super::{Completion, OpCode};
use crate::buf::{sqe_len, BufResult, IoBuf};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A write of `buf`'s initialized bytes. The output counts the bytes
/// written, which may be fewer (a short write, as with write(2); buffers
/// over 2 GiB less a page, `MAX_RW_COUNT`, always are).
pub struct Write<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: IoBuf> Write<B> {
    /// A write at `offset`; `u64::MAX` means the file's current position.
    #[inline]
    pub fn new(fd: &SharedFd, buf: B, offset: u64) -> Self {
        Write {
            fd: fd.clone(),
            buf,
            offset,
        }
    }
}

// SAFETY: the SQE points into `buf`, whose IoBuf contract keeps the memory
// in place and valid while `self` holds it; the fd is held open.
unsafe impl<B: IoBuf> OpCode for Write<B> {
    type Output = BufResult<usize, B>;

    /// Zero bytes: 0, without asking the kernel.
    #[inline]
    fn known_result(&self) -> Option<i32> {
        (self.buf.bytes_init() == 0).then_some(0)
    }

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let len = sqe_len(self.buf.bytes_init());
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .offset(self.offset)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> BufResult<usize, B> {
        (cqe.result().map(|n| n as usize), self.buf)
    }
}
