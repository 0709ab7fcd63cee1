//! IORING_OP_SHUTDOWN (5.11): shut down part of a full-duplex connection.
//! See shutdown(2).

use super::{Completion, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;
use std::net::Shutdown as How;

/// Shuts down the read half, the write half or both of a socket.
pub struct Shutdown {
    fd: SharedFd,
    how: How,
}

impl Shutdown {
    /// Shuts down `how` of `fd`.
    #[inline]
    pub fn new(fd: &SharedFd, how: How) -> Self {
        Shutdown {
            fd: fd.clone(),
            how,
        }
    }
}

// SAFETY: the SQE carries only the fd (held open) and an integer.
unsafe impl OpCode for Shutdown {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let how = match self.how {
            How::Read => libc::SHUT_RD,
            How::Write => libc::SHUT_WR,
            How::Both => libc::SHUT_RDWR,
        };
        opcode::Shutdown::new(types::Fd(self.fd.raw()), how).build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
