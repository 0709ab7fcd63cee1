//! IORING_OP_WRITEV: a vectored write of owned buffers. See pwritev(2).

use super::{Completion, OpCode};
use crate::buf::{sqe_len, BufResult, IoBuf};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A write of each buffer's initialized bytes, in order. The output counts
/// the bytes written, which may be fewer (a short write).
pub struct Writev<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBuf> Writev<B> {
    /// A write at `offset`; `u64::MAX` means the file's current position.
    #[inline]
    pub fn new(fd: &SharedFd, bufs: Vec<B>, offset: u64) -> Self {
        Writev {
            fd: fd.clone(),
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }
}

// SAFETY: the iovecs point into the IoBuf buffers (stable by contract) and
// the iovec array is the op's own heap Vec, not touched until the CQE.
unsafe impl<B: IoBuf> OpCode for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;

    /// Zero bytes in all: 0, without asking the kernel.
    #[inline]
    fn known_result(&self) -> Option<i32> {
        self.bufs.iter().all(|b| b.bytes_init() == 0).then_some(0)
    }

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        self.iovecs = self
            .bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr() as *mut libc::c_void,
                iov_len: b.bytes_init(),
            })
            .collect();
        opcode::Writev::new(
            types::Fd(self.fd.raw()),
            self.iovecs.as_ptr(),
            sqe_len(self.iovecs.len()),
        )
        .offset(self.offset)
        .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> BufResult<usize, Vec<B>> {
        (cqe.result().map(|n| n as usize), self.bufs)
    }
}
