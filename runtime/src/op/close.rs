//! IORING_OP_CLOSE: close an fd in the ring. See close(2).

use super::{Completion, OpCode};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

/// Closes an fd. The op owns the fd number from submission on: the kernel
/// closes it whether or not the future is still there.
#[derive(Debug)]
pub struct Close {
    fd: RawFd,
}

impl Close {
    /// Closes `fd`.
    #[inline]
    pub fn new(fd: OwnedFd) -> Self {
        Close {
            fd: fd.into_raw_fd(),
        }
    }
}

// SAFETY: the SQE carries only an fd number, no pointer.
unsafe impl OpCode for Close {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        self.close_if_cancelled(&cqe);
        cqe.result().map(drop)
    }

    fn abandoned(self, cqe: Completion) {
        self.close_if_cancelled(&cqe);
    }
}

impl Close {
    /// A close cancelled before it ran (it may wait in a kernel worker on
    /// NFS, FUSE or overlayfs) left the fd open: close it here, so it never
    /// leaks.
    fn close_if_cancelled(&self, cqe: &Completion) {
        if cqe.raw_result() == -libc::ECANCELED {
            // SAFETY: the op owns this fd number and the kernel did not
            // close it (the op was cancelled before it ran); nothing else
            // uses the number.
            drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(self.fd) });
        }
    }
}
