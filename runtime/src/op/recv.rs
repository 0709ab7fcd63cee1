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
    ioprio: u16,
}

impl<B: IoBufMut> Recv<B> {
    /// Receives from `fd` into `buf`.
    #[inline]
    pub fn new(fd: &SharedFd, buf: B) -> Self {
        Recv {
            fd: fd.clone(),
            buf,
            flags: 0,
            ioprio: 0,
        }
    }

    /// Adds `MSG_*` flags (`MSG_PEEK`, `MSG_WAITALL`, ...).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    /// Skips the receive's first try and waits for the socket to be
    /// readable first (IORING_RECVSEND_POLL_FIRST, Linux 5.19), when
    /// `on` and the kernel has it ([`Feature::RECVSEND_POLL_FIRST`]:
    /// pass what `is_supported` said); else an ordinary receive. The
    /// result is the same either way; it saves the kernel a receive that
    /// would find nothing, for a caller that knows the socket is likely
    /// empty (it just read everything and answered a request).
    ///
    /// [`Feature::RECVSEND_POLL_FIRST`]: super::Feature::RECVSEND_POLL_FIRST
    #[inline]
    pub fn poll_first(mut self, on: bool) -> Self {
        self.ioprio = if on { POLL_FIRST } else { 0 };
        self
    }
}

/// IORING_RECVSEND_POLL_FIRST, in the SQE's `ioprio`.
const POLL_FIRST: u16 = 1 << 0;

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
            .ioprio(self.ioprio)
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
