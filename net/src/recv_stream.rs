//! `RecvStream`: a stream's bytes as buffers from a provided buffer ring,
//! through one multishot receive kept in the ring.

use coring_runtime::buf::{BufRing, RingBuf};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{MultiOp, RecvMulti};
use futures_core::Stream;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Received data as [`RingBuf`]s, in order, from
/// [`TcpStream::recv_stream`](crate::TcpStream::recv_stream) (or the Unix
/// stream's). The connection holds no buffer while no data waits: the
/// kernel picks one from the ring when data arrives. Each buffer goes back
/// to the ring when dropped.
///
/// The stream ends (`None`) when the peer closes its side, and after
/// yielding an error. When the ring runs dry (`ENOBUFS`), the data stays
/// in the socket and the stream waits for a buffer to come back, then
/// re-arms: a slow consumer slows the sender (TCP flow control) instead of
/// failing. The kernel may also end a multishot receive by itself (a full
/// CQ); the stream re-arms then too.
pub struct RecvStream {
    fd: SharedFd,
    ring: BufRing,
    op: Option<MultiOp<RecvMulti>>,
    done: bool,
}

impl RecvStream {
    pub(crate) fn new(fd: SharedFd, ring: &BufRing) -> RecvStream {
        RecvStream {
            fd,
            ring: ring.clone(),
            op: None,
            done: false,
        }
    }

    /// The next buffer of data; `None` once the peer closed its side.
    ///
    /// # Errors
    ///
    /// The kernel's error (`ConnectionReset`, ...); the stream ends then.
    pub async fn next_buf(&mut self) -> Option<io::Result<RingBuf>> {
        poll_fn(|cx| self.poll_buf(cx)).await
    }

    /// Polls for the next buffer; see [`next_buf`](RecvStream::next_buf).
    pub fn poll_buf(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<RingBuf>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let op = match &mut self.op {
                Some(op) => op,
                None => {
                    if !self.ring.wait_available(cx.waker()) {
                        return Poll::Pending;
                    }
                    self.op
                        .insert(MultiOp::submit(RecvMulti::new(&self.fd, &self.ring)))
                }
            };
            let item = ready!(Pin::new(&mut *op).poll_next(cx));
            if op.is_terminated() {
                self.op = None;
            }
            match item {
                None => continue,
                Some(Ok(Some(buf))) => return Poll::Ready(Some(Ok(buf))),
                Some(Ok(None)) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                // The ring was empty: wait for a buffer, then re-arm.
                Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    /// The ring the buffers come from.
    pub fn ring(&self) -> &BufRing {
        &self.ring
    }
}

impl Stream for RecvStream {
    type Item = io::Result<RingBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_buf(cx)
    }
}

impl fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("fd", &self.fd.raw())
            .field("armed", &self.op.is_some())
            .field("done", &self.done)
            .finish()
    }
}
