//! Adapters that give coring streams tokio's `AsyncRead`/`AsyncWrite` and
//! futures-io's `AsyncRead`/`AsyncWrite` (feature `compat`), so hyper,
//! tokio-rustls and codecs run on coring — at the cost of a copy.
//!
//! Completion I/O needs owned buffers, and poll-style traits lend a
//! borrowed one for the length of a call. So [`Compat`] keeps its own
//! buffers and **one op in flight across polls** (re-creating the op on
//! each poll would cancel it every time and never complete, the bug of
//! tokio-uring#318):
//!
//! 1. Reads: one receive into the adapter's buffer; its bytes are copied
//!    out over as many `poll_read`s as it takes before the next receive.
//! 2. Writes are written behind: `poll_write` copies the bytes, starts a
//!    send-all op and returns `Ready(n)` at once; the next `poll_write`,
//!    `poll_flush` or `poll_shutdown` first waits for it, and reports its
//!    error, if any. So an error may surface one call late, and `flush`
//!    is what makes sure the bytes left.
//! 3. `poll_shutdown` flushes, then shuts the write side down.

use crate::stream_io;
use crate::{TcpStream, UnixStream};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, Recv, Shutdown};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::Shutdown as How;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The read buffer's size (one receive).
const READ_BUF: usize = 16 * 1024;

type WriteOp = Pin<Box<dyn Future<Output = (io::Result<()>, Vec<u8>)>>>;

/// A coring stream with poll-based `AsyncRead`/`AsyncWrite` (tokio's and
/// futures-io's). Make one with [`TcpStream::compat`] or
/// [`UnixStream::compat`].
pub struct Compat<S> {
    stream: S,
    fd: SharedFd,
    read_op: Option<Op<Recv<Vec<u8>>>>,
    /// Received bytes not yet copied out, from `read_pos`.
    read_buf: Vec<u8>,
    read_pos: usize,
    /// The peer closed its side; reported once the write in flight ended.
    read_eof: bool,
    write_op: Option<WriteOp>,
    /// The result of a write that ended while a read waited to report end
    /// of stream; the next flush or write reports it.
    write_res: Option<io::Result<()>>,
    /// A spare buffer for the next write (the last one's, cleared).
    spare: Vec<u8>,
    shutdown_op: Option<Op<Shutdown>>,
}

impl<S> Compat<S> {
    fn new(stream: S, fd: SharedFd) -> Self {
        Compat {
            stream,
            fd,
            read_op: None,
            read_buf: Vec::new(),
            read_pos: 0,
            read_eof: false,
            write_op: None,
            write_res: None,
            spare: Vec::new(),
            shutdown_op: None,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Unwraps the stream. Bytes received but not read yet are lost, and
    /// an op in flight is cancelled (its buffers are kept until it ends).
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Copies buffered bytes into `dst`, receiving more first when none
    /// are left. `Ready(0)` at end of stream.
    fn poll_read_into(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.read_pos >= self.read_buf.len() && !self.read_eof {
            let fd = &self.fd;
            let buf = &mut self.read_buf;
            let op = self.read_op.get_or_insert_with(|| {
                let mut b = std::mem::take(buf);
                b.clear();
                b.reserve(READ_BUF);
                Op::submit(Recv::new(fd, b))
            });
            let (res, b) = ready!(Pin::new(op).poll(cx));
            self.read_op = None;
            self.read_buf = b;
            self.read_pos = 0;
            self.read_eof = res? == 0;
        }
        if self.read_eof && self.write_op.is_some() {
            // End of stream comes after the write in flight has ended and
            // the caller has seen it end: a peer that read our last bytes
            // and closed must not look like a close in the middle of our
            // write. hyper polls its read before its flush and calls that
            // an incomplete message; with a blocking socket the write
            // would have ended before the peer could see its bytes.
            let res = ready!(self.poll_write_op(cx));
            self.write_res = Some(res);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.read_eof {
            return Poll::Ready(Ok(0));
        }
        let avail = &self.read_buf[self.read_pos..];
        let n = avail.len().min(dst.len());
        dst[..n].copy_from_slice(&avail[..n]);
        self.read_pos += n;
        Poll::Ready(Ok(n))
    }

    /// Waits for the write in flight; its error, if any.
    fn poll_write_done(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(res) = self.write_res.take() {
            return Poll::Ready(res);
        }
        if self.write_op.is_some() {
            ready!(self.poll_write_op(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Polls the write in flight (there is one); keeps its buffer.
    fn poll_write_op(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(op) = &mut self.write_op else {
            return Poll::Ready(Ok(()));
        };
        let (res, mut b) = ready!(op.as_mut().poll(cx));
        self.write_op = None;
        b.clear();
        self.spare = b;
        Poll::Ready(res)
    }

    fn poll_write_from(&mut self, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_write_done(cx))?;
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut b = std::mem::take(&mut self.spare);
        b.extend_from_slice(src);
        let fd = self.fd.clone();
        let mut op: WriteOp = Box::pin(async move { stream_io::write_all(&fd, b).await });
        // Start it now, so the bytes go out without waiting for a flush.
        if let Poll::Ready((res, mut b)) = op.as_mut().poll(cx) {
            b.clear();
            self.spare = b;
            res?;
        } else {
            self.write_op = Some(op);
        }
        Poll::Ready(Ok(src.len()))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_done(cx))?;
        let fd = &self.fd;
        let op = self
            .shutdown_op
            .get_or_insert_with(|| Op::submit(Shutdown::new(fd, How::Write)));
        let res = ready!(Pin::new(op).poll(cx));
        self.shutdown_op = None;
        Poll::Ready(res)
    }
}

impl TcpStream {
    /// This stream with tokio's and futures-io's `AsyncRead`/`AsyncWrite`
    /// (a copy per read and write); see [`Compat`].
    pub fn compat(self) -> Compat<TcpStream> {
        let fd = self.shared_fd().clone();
        Compat::new(self, fd)
    }
}

impl UnixStream {
    /// This stream with tokio's and futures-io's `AsyncRead`/`AsyncWrite`;
    /// see [`Compat`].
    pub fn compat(self) -> Compat<UnixStream> {
        let fd = self.shared_fd().clone();
        Compat::new(self, fd)
    }
}

impl<S> Unpin for Compat<S> {}

impl<S> tokio::io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = ready!(this.poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S> tokio::io::AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_done(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close(cx)
    }
}

impl<S> futures_io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

impl<S> futures_io::AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_done(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close(cx)
    }
}

impl<S: fmt::Debug> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat")
            .field("stream", &self.stream)
            .field(
                "buffered",
                &(self.read_buf.len() - self.read_pos.min(self.read_buf.len())),
            )
            .field("writing", &self.write_op.is_some())
            .finish()
    }
}
