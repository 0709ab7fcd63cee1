//! IORING_OP_RECV with IORING_RECV_MULTISHOT (6.0) and a provided buffer
//! ring: one SQE, one CQE per arrival, each naming the buffer the kernel
//! picked from the ring. An idle connection holds no buffer.

use super::{Completion, MultishotOpCode};
use crate::buf::{BufRing, RingBuf};
use crate::fd::SharedFd;
use io_uring::{cqueue, opcode, squeue, types};
use std::io;

/// A multishot receive into buffers of `ring`. Items: `Ok(Some(buf))` for
/// data, `Ok(None)` when the peer closed its side (the op's last CQE), or
/// the error that ended the op. `ENOBUFS` means the ring was empty when
/// data came: the data waits in the socket; submit again once buffers are
/// back ([`BufRing::wait_available`]).
pub struct RecvMulti {
    fd: SharedFd,
    ring: BufRing,
}

impl RecvMulti {
    /// Receives from `fd` into buffers picked from `ring`.
    #[inline]
    pub fn new(fd: &SharedFd, ring: &BufRing) -> Self {
        RecvMulti {
            fd: fd.clone(),
            ring: ring.clone(),
        }
    }

    /// The buffer a CQE carries, if it names one.
    fn take(&self, cqe: &Completion) -> Option<RingBuf> {
        let bid = cqueue::buffer_select(cqe.flags())?;
        let len = cqe.result().map_or(0, |n| n as usize);
        // SAFETY: the CQE is for this op, on this ring's group, with
        // IORING_CQE_F_BUFFER set; each CQE is handed over once.
        Some(unsafe { self.ring.take(bid, len) })
    }
}

// SAFETY: the SQE points at no memory of ours: the kernel picks buffers
// from the ring, which the op holds (and so keeps registered) until its
// final CQE; the fd is held open.
unsafe impl MultishotOpCode for RecvMulti {
    type Item = io::Result<Option<RingBuf>>;
    const PROBE: Option<super::Feature> = Some(super::Feature::RECV_MULTISHOT);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(types::Fd(self.fd.raw()), self.ring.bgid()).build()
    }

    fn next(&mut self, cqe: Completion, _more: bool) -> Self::Item {
        let buf = self.take(&cqe);
        match cqe.result()? {
            0 => Ok(None),
            _ => Ok(buf),
        }
    }

    fn abandoned(&mut self, cqe: Completion) {
        // The buffer goes straight back to the ring.
        drop(self.take(&cqe));
    }
}
