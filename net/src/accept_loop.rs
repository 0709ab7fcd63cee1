//! The accept loop behind `TcpListener::incoming` and
//! `UnixListener::incoming`: one multishot accept kept in the ring,
//! re-armed when the kernel ends it, single accepts on kernels without it.

use coring_runtime::fd::SharedFd;
use coring_runtime::op::{self, Accept, AcceptMulti, MultiOp, Op};
use futures_core::Stream;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pub(crate) struct AcceptLoop {
    fd: SharedFd,
    op: Option<MultiOp<AcceptMulti>>,
    /// The single-shot fallback's op in flight, kept across polls.
    single: Option<Op<Accept>>,
    multishot: bool,
    /// Whether the current multishot op gave a connection yet.
    yielded: bool,
}

impl AcceptLoop {
    pub(crate) fn new(fd: SharedFd) -> AcceptLoop {
        AcceptLoop {
            fd,
            op: None,
            single: None,
            multishot: true,
            yielded: false,
        }
    }

    /// The next accepted socket, or the error that ended an accept.
    pub(crate) fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<SharedFd>> {
        loop {
            if !self.multishot {
                return self.poll_single(cx);
            }
            match ready!(self.poll_multishot(cx)) {
                Some(r) => return Poll::Ready(r),
                None => continue,
            }
        }
    }

    fn poll_single(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<SharedFd>> {
        let op = self
            .single
            .get_or_insert_with(|| Op::submit(Accept::new(&self.fd)));
        let res = ready!(Pin::new(op).poll(cx));
        self.single = None;
        Poll::Ready(res.map(|(fd, _)| SharedFd::new(fd)))
    }

    /// Polls the multishot op; `Ready(None)` asks to be polled again (the
    /// op was re-armed or the fallback chosen).
    fn poll_multishot(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<SharedFd>>> {
        let op = self.op.get_or_insert_with(|| {
            self.yielded = false;
            MultiOp::submit(AcceptMulti::new(&self.fd))
        });
        let item = ready!(Pin::new(&mut *op).poll_next(cx));
        if op.is_terminated() {
            // The kernel ended the op: re-arm on the next poll.
            self.op = None;
        }
        match item {
            None => Poll::Ready(None),
            Some(Err(e))
                if !self.yielded
                    && (op::is_unsupported(&e) || e.raw_os_error() == Some(libc::EINVAL)) =>
            {
                // No multishot accept in this kernel (before 5.19 the
                // ring's probe says so; EINVAL if the probe was refused):
                // go on one by one.
                self.multishot = false;
                Poll::Ready(None)
            }
            Some(res) => {
                self.yielded = true;
                Poll::Ready(Some(res.map(SharedFd::new)))
            }
        }
    }
}

impl fmt::Debug for AcceptLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptLoop")
            .field("fd", &self.fd.raw())
            .field("armed", &self.op.is_some())
            .field("multishot", &self.multishot)
            .finish()
    }
}
