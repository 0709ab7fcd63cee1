//! IORING_OP_ACCEPT: take a connection from a listening socket, once or
//! as a multishot stream. See accept4(2).
//!
//! Both ops make the new socket close-on-exec. An accepted fd whose future
//! or stream is gone is closed when its CQE arrives, so a cancelled accept
//! never leaks a socket (the bug of tokio#7983).

use super::{Completion, MultishotOpCode, OpCode, SockAddr};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// One accept: the new connection's fd and the peer's address.
pub struct Accept {
    fd: SharedFd,
    addr: SockAddr,
}

impl Accept {
    /// Accepts one connection on the listening socket `fd`.
    #[inline]
    pub fn new(fd: &SharedFd) -> Self {
        Accept {
            fd: fd.clone(),
            addr: SockAddr::empty(),
        }
    }
}

// SAFETY: the SQE points at the op's boxed sockaddr storage and its length
// field, which stay put when the op moves; the listening fd is held open.
unsafe impl OpCode for Accept {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let st = self.addr.storage_mut();
        opcode::Accept::new(
            types::Fd(self.fd.raw()),
            std::ptr::addr_of_mut!(st.addr).cast(),
            std::ptr::addr_of_mut!(st.len),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> Self::Output {
        let fd = owned(cqe.result()?);
        Ok((fd, self.addr))
    }

    fn abandoned(self, cqe: Completion) {
        close_accepted(cqe);
    }
}

/// A multishot accept (5.19): one SQE, one CQE per connection, until an
/// error, a cancel or a full CQ ends it. Items are the new fds; ask the
/// socket for the peer's address (getpeername(2)) when needed.
pub struct AcceptMulti {
    fd: SharedFd,
}

impl AcceptMulti {
    /// Accepts connections on the listening socket `fd` until stopped.
    #[inline]
    pub fn new(fd: &SharedFd) -> Self {
        AcceptMulti { fd: fd.clone() }
    }
}

// SAFETY: the SQE carries only the listening fd (held open by the op) and
// flags; the kernel writes no address.
unsafe impl MultishotOpCode for AcceptMulti {
    type Item = io::Result<OwnedFd>;
    const PROBE: Option<super::Feature> = Some(super::Feature::ACCEPT_MULTISHOT);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn next(&mut self, cqe: Completion, _more: bool) -> Self::Item {
        cqe.result().map(owned)
    }

    fn abandoned(&mut self, cqe: Completion) {
        close_accepted(cqe);
    }
}

/// The fd of a successful accept, owned.
fn owned(res: u32) -> OwnedFd {
    // SAFETY: a non-negative accept result is a new fd that nobody else
    // owns; the CQE is handed to exactly one owner.
    unsafe { OwnedFd::from_raw_fd(res as RawFd) }
}

/// Closes the fd a successful accept made for nobody.
fn close_accepted(cqe: Completion) {
    if let Ok(fd) = cqe.result() {
        drop(owned(fd));
    }
}
