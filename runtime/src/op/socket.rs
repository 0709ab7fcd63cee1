//! IORING_OP_SOCKET (5.19): create a socket in the ring. See socket(2).

use super::{Completion, OpCode};
use io_uring::{opcode, squeue};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Creates a socket; the new fd is close-on-exec. A socket made for a
/// future that is gone is closed, never leaked.
#[derive(Debug)]
pub struct Socket {
    domain: i32,
    ty: i32,
    protocol: i32,
}

impl Socket {
    /// A socket of `domain` (`AF_INET`, ...), `ty` (`SOCK_STREAM`, ...) and
    /// `protocol` (0 for the default).
    #[inline]
    pub fn new(domain: i32, ty: i32, protocol: i32) -> Self {
        Socket {
            domain,
            ty,
            protocol,
        }
    }
}

// SAFETY: the SQE carries only integers, no pointer.
unsafe impl OpCode for Socket {
    type Output = io::Result<OwnedFd>;
    const PROBE: Option<super::Feature> = Some(super::Feature::SOCKET);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::Socket::new(self.domain, self.ty | libc::SOCK_CLOEXEC, self.protocol).build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<OwnedFd> {
        let fd = cqe.result()?;
        // SAFETY: a non-negative result is a new fd owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }

    fn abandoned(self, cqe: Completion) {
        drop(self.complete(cqe));
    }
}
