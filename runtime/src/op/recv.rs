//! IORING_OP_RECV: receive into an owned buffer from a socket. See
//! recv(2).

use super::{Completion, OpCode};
use crate::buf::{sqe_len, BufResult, IoBufMut};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A receive of up to `buf.bytes_total()` bytes into the start of `buf`.
/// 0 bytes means the peer shut its side down (or a 0-byte datagram). At
/// most 2 GiB less a page (`MAX_RW_COUNT`) is received at once.
///
/// A buffer with no room completes at once with 0, through a NOP: the
/// kernel's recv of 0 bytes on a stream would wait until data arrives.
pub struct Recv<B> {
    fd: SharedFd,
    buf: B,
    flags: i32,
}

impl<B: IoBufMut> Recv<B> {
    /// Receives from `fd` into `buf`.
    #[inline]
    pub fn new(fd: &SharedFd, buf: B) -> Self {
        Recv {
            fd: fd.clone(),
            buf,
            flags: 0,
        }
    }

    /// Adds `MSG_*` flags (`MSG_PEEK`, `MSG_WAITALL`, ...).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }
}

// SAFETY: the SQE points into `buf`, whose IoBufMut contract keeps the
// memory in place and writable while `self` holds it; the fd is held open.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    type Output = BufResult<usize, B>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let len = sqe_len(self.buf.bytes_total());
        if len == 0 {
            return opcode::Nop::new().build();
        }
        opcode::Recv::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .flags(self.flags)
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
