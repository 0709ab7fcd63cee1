//! IORING_OP_SEND: send an owned buffer on a connected socket. See
//! send(2).

use super::{Completion, OpCode};
use crate::buf::{sqe_len, BufResult, IoBuf};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A send of `buf`'s initialized bytes. The output counts the bytes sent,
/// which may be fewer (a short send). `MSG_NOSIGNAL` is always set: a
/// closed peer gives `EPIPE`, never a SIGPIPE.
pub struct Send<B> {
    fd: SharedFd,
    buf: B,
    flags: i32,
}

impl<B: IoBuf> Send<B> {
    /// Sends `buf` on `fd`.
    #[inline]
    pub fn new(fd: &SharedFd, buf: B) -> Self {
        Send {
            fd: fd.clone(),
            buf,
            flags: 0,
        }
    }

    /// Adds `MSG_*` flags (`MSG_MORE`, `MSG_DONTWAIT`, ...). With
    /// `MSG_WAITALL` on a stream socket, where the kernel has
    /// [`Feature::SEND_WAITALL`](super::Feature::SEND_WAITALL), the send
    /// completes only once every byte is sent (or on an error): never
    /// short.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }
}

// SAFETY: the SQE points into `buf`, whose IoBuf contract keeps the memory
// in place and valid while `self` holds it; the fd is held open.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    type Output = BufResult<usize, B>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let len = sqe_len(self.buf.bytes_init());
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .flags(self.flags | libc::MSG_NOSIGNAL)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> BufResult<usize, B> {
        (cqe.result().map(|n| n as usize), self.buf)
    }
}
