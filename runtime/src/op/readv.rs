//! IORING_OP_READV: a vectored read into owned buffers. See preadv(2).

use super::{Completion, OpCode};
use crate::buf::{sqe_len, BufResult, IoBufMut};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A read that fills `bufs` in order. The iovec array lives in a `Vec`
/// owned by the op, so its address is stable until the CQE.
pub struct Readv<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBufMut> Readv<B> {
    /// A read at `offset`; `u64::MAX` means the file's current position.
    #[inline]
    pub fn new(fd: &SharedFd, bufs: Vec<B>, offset: u64) -> Self {
        Readv {
            fd: fd.clone(),
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }
}

// SAFETY: the iovecs point into the IoBufMut buffers (stable by contract)
// and the iovec array is the op's own heap Vec, not touched until the CQE.
unsafe impl<B: IoBufMut> OpCode for Readv<B> {
    type Output = BufResult<usize, Vec<B>>;

    /// Zero bytes in all: 0, without asking the kernel.
    #[inline]
    fn known_result(&self) -> Option<i32> {
        self.bufs.iter().all(|b| b.bytes_total() == 0).then_some(0)
    }

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: b.bytes_total(),
            })
            .collect();
        opcode::Readv::new(
            types::Fd(self.fd.raw()),
            self.iovecs.as_ptr(),
            sqe_len(self.iovecs.len()),
        )
        .offset(self.offset)
        .build()
    }

    #[inline]
    fn complete(mut self, cqe: Completion) -> BufResult<usize, Vec<B>> {
        let res = cqe.result().map(|n| {
            let mut left = n as usize;
            for b in &mut self.bufs {
                let here = left.min(b.bytes_total());
                // SAFETY: the kernel filled the iovecs in order, so this
                // buffer's first `here` bytes were written.
                unsafe { b.set_init(here) };
                left -= here;
            }
            n as usize
        });
        (res, self.bufs)
    }
}
