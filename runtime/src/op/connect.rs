//! IORING_OP_CONNECT: connect a socket to an address. See connect(2).

use super::{Completion, OpCode, SockAddr};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;

/// A connect of the socket `fd` to `addr`; the op owns the boxed address
/// until its CQE.
pub struct Connect {
    fd: SharedFd,
    addr: SockAddr,
}

impl Connect {
    /// Connects `fd` to `addr`.
    #[inline]
    pub fn new(fd: &SharedFd, addr: SockAddr) -> Self {
        Connect {
            fd: fd.clone(),
            addr,
        }
    }
}

// SAFETY: the SQE points at the op's boxed sockaddr, which stays put when
// the op moves; the fd is held open.
unsafe impl OpCode for Connect {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr(),
            self.addr.len() as libc::socklen_t,
        )
        .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
