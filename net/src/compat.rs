//! Adapters that give coring streams tokio's `AsyncRead`/`AsyncWrite` and
//! futures-io's `AsyncRead`/`AsyncWrite` (feature `compat`), so
//! tokio-rustls, codecs and other crates written for those traits run on
//! coring — at the cost of a copy. (For hyper, the `hyper` feature's
//! [`HyperIo`](crate::HyperIo) implements hyper's own traits, with no
//! tokio in between.)
//!
//! Completion I/O needs owned buffers, and poll-style traits lend a
//! borrowed one for the length of a call. So [`Compat`] keeps its own
//! buffers and **one op of each kind in flight across polls** (re-creating
//! the op on each poll would cancel it every time and never complete, the
//! bug of tokio-uring#318), with no allocation per read or write once warm:
//!
//! 1. Reads: one receive into the adapter's buffer (sized by the reader's
//!    room, 8–256 KiB); its bytes are copied out over as many `poll_read`s
//!    as it takes before the next receive.
//! 2. Writes: with no send in flight, `poll_write` (and
//!    `poll_write_vectored`, all its slices at once) first makes one
//!    non-blocking `sendmsg(2)` straight from the caller's memory; when
//!    the socket takes everything there is no copy and nothing to flush
//!    ([`Compat::direct_writes`]`(false)` turns this off). The rest is
//!    written behind: copied into the adapter's staging buffer, `Ready(n)`
//!    returned; with no send in flight it is submitted as one io_uring
//!    send, otherwise it goes when that send completes. Up to 64 KiB may be staged while a send is in flight;
//!    past that a write waits for it. A send's error is reported by the
//!    next `poll_write`, `poll_flush` or `poll_shutdown`, and every write
//!    after that fails. `poll_flush` waits until every byte left (was taken
//!    by the kernel).
//! 3. `poll_shutdown` flushes, then shuts the write side down.

use crate::poll_io::PollIo;
use crate::{TcpStream, UnixStream};
use coring_runtime::buf::BufRing;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A coring stream with poll-based `AsyncRead`/`AsyncWrite` (tokio's and
/// futures-io's). Make one with [`TcpStream::compat`] or
/// [`UnixStream::compat`]. See the [module docs](self) for how reads and
/// writes work (writes are written behind: flush to know they left).
pub struct Compat<S> {
    stream: S,
    io: PollIo,
}

impl<S> Compat<S> {
    /// With `false`, every write is copied and goes through an io_uring
    /// send (written behind), never a direct `sendmsg`; with `true` (the
    /// default), a write with nothing in flight is tried directly first.
    /// Turn it off only where nothing above reads the peer's close as
    /// data while a write may still be in flight (TLS does: its peer's
    /// close_notify may then arrive before our last write completed).
    pub fn direct_writes(mut self, on: bool) -> Self {
        self.io.set_direct_writes(on);
        self
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Unwraps the stream. Bytes received but not read yet are lost, and
    /// ops in flight are cancelled (their buffers are kept until they end),
    /// so bytes written but not flushed may not have been sent.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl TcpStream {
    /// This stream with tokio's and futures-io's `AsyncRead`/`AsyncWrite`
    /// (a copy per read and write); see [`Compat`].
    pub fn compat(self) -> Compat<TcpStream> {
        let io = direct(PollIo::new(self.shared_fd().clone()));
        Compat { stream: self, io }
    }

    /// [`compat`](TcpStream::compat), receiving through one multishot receive
    /// (6.0) on buffers of `ring` (shared by the core's connections): an
    /// idle stream holds no receive buffer.
    pub fn compat_with_ring(self, ring: &BufRing) -> Compat<TcpStream> {
        let io = direct(PollIo::with_ring(self.shared_fd().clone(), ring));
        Compat { stream: self, io }
    }
}

impl UnixStream {
    /// This stream with tokio's and futures-io's `AsyncRead`/`AsyncWrite`;
    /// see [`Compat`].
    pub fn compat(self) -> Compat<UnixStream> {
        let io = direct(PollIo::new(self.shared_fd().clone()));
        Compat { stream: self, io }
    }

    /// [`compat`](UnixStream::compat), receiving through one multishot receive
    /// (6.0) on buffers of `ring` (shared by the core's connections): an
    /// idle stream holds no receive buffer.
    pub fn compat_with_ring(self, ring: &BufRing) -> Compat<UnixStream> {
        let io = direct(PollIo::with_ring(self.shared_fd().clone(), ring));
        Compat { stream: self, io }
    }
}

/// `Compat`'s engine tries every write as a direct send first (unlike
/// `HyperIo`'s, which batches small writes into the ring): a layer over
/// it, such as TLS, may read the peer's close as data (a close_notify)
/// while our last write is still in flight, and hyper above it then calls
/// the connection incomplete. A direct send that the socket takes leaves
/// nothing in flight, as with a blocking socket.
fn direct(mut io: PollIo) -> PollIo {
    io.set_direct_writes(true);
    io
}

impl<S> Unpin for Compat<S> {}

impl<S> tokio::io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        let io = &mut self.get_mut().io;
        io.poll_read_with(cx, room, |b| buf.put_slice(b))
            .map_ok(drop)
    }
}

impl<S> tokio::io::AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.poll_shutdown(cx)
    }
}

impl<S> futures_io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.poll_read_into(cx, buf)
    }
}

impl<S> futures_io::AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.poll_shutdown(cx)
    }
}

impl<S: fmt::Debug> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat")
            .field("stream", &self.stream)
            .field("buffered", &self.io.buffered())
            .field("writing", &self.io.is_writing())
            .finish()
    }
}
