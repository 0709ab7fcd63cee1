//! IORING_OP_READ: read into an owned buffer, at an offset or at the
//! file's position. See read(2) / pread(2).

use super::{Completion, OpCode};
use crate::buf::{sqe_len, BufResult, IoBufMut};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A read of up to `buf.bytes_total()` bytes into the start of `buf`.
/// On success the buffer's initialized length becomes at least the count
/// read. At most 2 GiB less a page (`MAX_RW_COUNT`) is read at once:
/// larger buffers get a short read.
pub struct Read<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: IoBufMut> Read<B> {
    /// A read at `offset`; `u64::MAX` means the file's current position.
    #[inline]
    pub fn new(fd: &SharedFd, buf: B, offset: u64) -> Self {
        Read {
            fd: fd.clone(),
            buf,
            offset,
        }
    }
}

// SAFETY: the SQE points into `buf`, whose IoBufMut contract keeps the
// memory in place and valid while `self` holds it; the fd is held open.
unsafe impl<B: IoBufMut> OpCode for Read<B> {
    type Output = BufResult<usize, B>;

    /// Zero bytes: 0, without asking the kernel.
    #[inline]
    fn known_result(&self) -> Option<i32> {
        (self.buf.bytes_total() == 0).then_some(0)
    }

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let len = sqe_len(self.buf.bytes_total());
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset)
            .build()
    }

    #[inline]
    fn complete(mut self, cqe: Completion) -> BufResult<usize, B> {
        let res = cqe.result().map(|n| {
            let n = n as usize;
            // SAFETY: the kernel wrote n bytes at the start of the buffer.
            unsafe { self.buf.set_init(n) };
            n
        });
        (res, self.buf)
    }
}
