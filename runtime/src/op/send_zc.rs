//! IORING_OP_SEND_ZC (6.0): a send whose pages the kernel may use in
//! place instead of copying. See io_uring_prep_send_zc(3).
//!
//! A zero-copy send posts two CQEs: the result (with IORING_CQE_F_MORE
//! when a notification will follow), then, once the kernel no longer
//! needs the buffer, a notification (IORING_CQE_F_NOTIF) without F_MORE.
//! So it runs as a multishot op: the buffer stays in the op until the
//! final CQE, and only then comes back ([`SendZcFuture`]). A failed send
//! posts one CQE and no notification.

use super::{Completion, MultiOp, MultishotOpCode};
use crate::buf::{sqe_len, BufResult, IoBuf};
use crate::fd::SharedFd;
use futures_core::Stream;
use io_uring::{cqueue, opcode, squeue, types};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A zero-copy send of `buf`'s initialized bytes (`MSG_NOSIGNAL` set).
/// Submit it with [`SendZc::submit`]; the future resolves, with the buffer,
/// only after the kernel's notification.
pub struct SendZc<B> {
    fd: SharedFd,
    buf: Option<B>,
    ptr: *const u8,
    len: u32,
}

/// One CQE of a zero-copy send: its completion, and the buffer when it
/// was the final CQE.
pub struct ZcEvent<B> {
    cqe: Completion,
    buf: Option<B>,
}

impl<B: IoBuf> SendZc<B> {
    /// A zero-copy send of `buf` on `fd`.
    #[inline]
    pub fn new(fd: &SharedFd, buf: B) -> Self {
        let ptr = buf.stable_ptr();
        let len = sqe_len(buf.bytes_init());
        SendZc {
            fd: fd.clone(),
            buf: Some(buf),
            ptr,
            len,
        }
    }

    /// Pushes the SQE; the future gives `(io::Result<usize>, buf)`.
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    pub fn submit(self) -> SendZcFuture<B> {
        SendZcFuture {
            op: MultiOp::submit(self),
            res: None,
        }
    }
}

// SAFETY: the SQE points into `buf` (stable by its IoBuf contract), which
// the op holds until the final CQE: `next` gives it away only with the
// CQE without F_MORE, after which the kernel no longer reads it.
unsafe impl<B: IoBuf> MultishotOpCode for SendZc<B> {
    type Item = ZcEvent<B>;
    const PROBE: Option<super::Feature> = Some(super::Feature::SEND_ZC);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::SendZc::new(types::Fd(self.fd.raw()), self.ptr, self.len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn next(&mut self, cqe: Completion, more: bool) -> ZcEvent<B> {
        let buf = if more { None } else { self.buf.take() };
        ZcEvent { cqe, buf }
    }
}

/// The future of a zero-copy send: the send's result and the buffer, once
/// the kernel has let go of it.
#[must_use = "futures do nothing unless awaited; dropping it cancels the send"]
pub struct SendZcFuture<B: IoBuf> {
    op: MultiOp<SendZc<B>>,
    res: Option<io::Result<usize>>,
}

impl<B: IoBuf> Future for SendZcFuture<B> {
    type Output = BufResult<usize, B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let Some(ev) = std::task::ready!(Pin::new(&mut this.op).poll_next(cx)) else {
                // Unreachable: the buffer comes with the final CQE, which
                // returns below.
                panic!("coring: SEND_ZC ended without its buffer (a coring bug)");
            };
            if !cqueue::notif(ev.cqe.flags()) {
                this.res = Some(ev.cqe.result().map(|n| n as usize));
            }
            if let Some(buf) = ev.buf {
                let res = this.res.take().unwrap_or(Ok(0));
                return Poll::Ready((res, buf));
            }
        }
    }
}
