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
    pub fn new(fd: OwnedFd) -> Self {
        Close {
            fd: fd.into_raw_fd(),
        }
    }
}

// SAFETY: the SQE carries only an fd number, no pointer.
unsafe impl OpCode for Close {
    type Output = io::Result<()>;

    fn build(&mut self) -> squeue::Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }

    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
