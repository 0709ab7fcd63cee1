//! IORING_OP_SENDMSG: send owned buffers as one message, optionally to an
//! address (a datagram's destination). See sendmsg(2).

use super::{Completion, OpCode, SockAddr};
use crate::buf::{BufResult, IoBuf};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A sendmsg of each buffer's initialized bytes, in order, to `addr` when
/// given. The op owns the buffers, the iovec array, the address and the
/// msghdr (each boxed, so their addresses stay put) until its CQE.
/// `MSG_NOSIGNAL` is always set.
pub struct SendMsg<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Box<[libc::iovec]>,
    addr: Option<SockAddr>,
    msg: Box<libc::msghdr>,
    flags: u32,
}

impl<B: IoBuf> SendMsg<B> {
    /// Sends `bufs` on `fd`, to `addr` when given (unconnected datagram
    /// sockets need one).
    #[inline]
    pub fn new(fd: &SharedFd, bufs: Vec<B>, addr: Option<SockAddr>) -> Self {
        SendMsg {
            fd: fd.clone(),
            bufs,
            iovecs: Box::new([]),
            addr,
            msg: Box::new(zeroed_msghdr()),
            flags: 0,
        }
    }

    /// Adds `MSG_*` flags.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags as u32;
        self
    }
}

/// An all-zero msghdr (no name, no iovecs, no control data).
pub(crate) fn zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is plain old data; all zeroes (null pointers, zero
    // lengths) is a valid, empty value.
    unsafe { std::mem::zeroed() }
}

// SAFETY: the SQE points at the boxed msghdr, which points at the boxed
// iovec array (pointing into the IoBuf buffers, stable by contract) and
// the boxed address; all owned by the op and untouched until its CQE.
unsafe impl<B: IoBuf> OpCode for SendMsg<B> {
    type Output = BufResult<usize, Vec<B>>;

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
        let msg = &mut *self.msg;
        msg.msg_iov = self.iovecs.as_mut_ptr();
        msg.msg_iovlen = self.iovecs.len() as _;
        if let Some(a) = &self.addr {
            msg.msg_name = a.as_ptr() as *mut libc::c_void;
            msg.msg_namelen = a.len() as libc::socklen_t;
        }
        opcode::SendMsg::new(types::Fd(self.fd.raw()), &*self.msg)
            .flags(self.flags | libc::MSG_NOSIGNAL as u32)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> BufResult<usize, Vec<B>> {
        (cqe.result().map(|n| n as usize), self.bufs)
    }
}

impl<B> std::fmt::Debug for SendMsg<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendMsg")
            .field("fd", &self.fd)
            .field("bufs", &self.bufs.len())
            .field("addr", &self.addr)
            .finish()
    }
}
