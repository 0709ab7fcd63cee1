//! IORING_OP_RECVMSG: receive one message into owned buffers, with the
//! sender's address. See recvmsg(2).

use super::sendmsg::zeroed_msghdr;
use super::{Completion, OpCode, SockAddr};
use crate::buf::{BufResult, IoBufMut};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};

/// A recvmsg into the buffers in order; the output has the count and the
/// sender's address (empty for a connected stream). The op owns the
/// buffers, the iovec array, the address storage and the msghdr (each
/// boxed) until its CQE. A datagram longer than the buffers is cut, as
/// recvmsg(2) does (`MSG_TRUNC` in the flags the kernel returns is not
/// reported).
pub struct RecvMsg<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Box<[libc::iovec]>,
    addr: SockAddr,
    msg: Box<libc::msghdr>,
    flags: u32,
}

impl<B: IoBufMut> RecvMsg<B> {
    /// Receives one message from `fd` into `bufs`.
    #[inline]
    pub fn new(fd: &SharedFd, bufs: Vec<B>) -> Self {
        RecvMsg {
            fd: fd.clone(),
            bufs,
            iovecs: Box::new([]),
            addr: SockAddr::empty(),
            msg: Box::new(zeroed_msghdr()),
            flags: 0,
        }
    }

    /// Adds `MSG_*` flags (`MSG_PEEK`, ...).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags as u32;
        self
    }
}

// SAFETY: the SQE points at the boxed msghdr, which points at the boxed
// iovec array (into the IoBufMut buffers, stable and writable by
// contract) and the boxed address storage; all owned by the op and
// untouched until its CQE.
unsafe impl<B: IoBufMut> OpCode for RecvMsg<B> {
    type Output = BufResult<(usize, SockAddr), Vec<B>>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr() as *mut libc::c_void,
                iov_len: b.bytes_total(),
            })
            .collect();
        let msg = &mut *self.msg;
        msg.msg_iov = self.iovecs.as_mut_ptr();
        msg.msg_iovlen = self.iovecs.len() as _;
        let st = self.addr.storage_mut();
        msg.msg_name = std::ptr::addr_of_mut!(st.addr).cast();
        msg.msg_namelen = st.len;
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), &mut *self.msg)
            .flags(self.flags)
            .build()
    }

    #[inline]
    fn complete(mut self, cqe: Completion) -> Self::Output {
        let n = match cqe.result() {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.bufs),
        };
        let mut left = n;
        for b in &mut self.bufs {
            let k = left.min(b.bytes_total());
            // SAFETY: the kernel filled the iovecs in order: this buffer's
            // first k bytes hold data.
            unsafe { b.set_init(k) };
            left -= k;
        }
        self.addr.storage_mut().len = self.msg.msg_namelen;
        (Ok((n, self.addr)), self.bufs)
    }
}

impl<B> std::fmt::Debug for RecvMsg<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvMsg")
            .field("fd", &self.fd)
            .field("bufs", &self.bufs.len())
            .finish()
    }
}
