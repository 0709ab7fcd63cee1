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
//! 2. Writes, as [`HyperIo`](crate::HyperIo)'s: a write (`poll_write`,
//!    or `poll_write_vectored` with all its slices at once) under 16 KiB
//!    is written behind: copied into the adapter's staging buffer,
//!    `Ready(n)` returned; with no send in flight it is submitted as one
//!    io_uring send (with the turn's other SQEs, in one enter), otherwise
//!    it goes when that send completes. A write of 16 KiB or more with no
//!    send in flight first makes one non-blocking `sendmsg(2)` straight
//!    from the caller's memory, and writes behind what the socket did not
//!    take ([`Compat::direct_writes`] changes the threshold to always or
//!    never). Up to 64 KiB may be staged while a send is in flight; past
//!    that a write waits for it. Staged bytes go out when that send
//!    completes and the adapter is next polled (a read, write, flush or
//!    shutdown: an echo loop that writes and then reads needs no flush),
//!    so a task that writes and then waits on something else should
//!    flush first, as tokio's `AsyncWrite` asks. Sends carry
//!    `MSG_WAITALL`, so the kernel finishes each however slowly the peer
//!    reads (5.18+).
//! 3. `poll_flush` returns once every byte written is in a send the
//!    kernel was handed; it does not wait for the send's completion
//!    (before 5.18 it does). Dropping the adapter lets such a send finish
//!    (for up to 30 s, while the runtime runs). A send's error is
//!    reported by the next `poll_write`, `poll_flush` or `poll_shutdown`
//!    after its completion, and every write after that fails.
//! 4. `poll_shutdown` waits for every send's completion (and reports a
//!    failed one), then shuts the write side down.
//!
//! A TLS layer above (tokio-rustls) flushes each response in the same
//! poll as it writes it, so a peer's close_notify read right after can
//! no longer find the response still being flushed.

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
/// writes work (writes are written behind: flush to know they left the
/// adapter, shut down to know they were sent).
pub struct Compat<S> {
    stream: S,
    io: PollIo,
}

impl<S> Compat<S> {
    /// With `true`, every write with nothing in flight is first tried as a
    /// direct `sendmsg`; with `false`, every write is copied and goes
    /// through an io_uring send (written behind). By default only writes
    /// of 16 KiB or more are tried directly: smaller ones are cheaper
    /// batched into the ring's one enter per turn than sent one syscall
    /// each.
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
        let io = engine(PollIo::new(self.shared_fd().clone()));
        Compat { stream: self, io }
    }

    /// [`compat`](TcpStream::compat), receiving through one multishot receive
    /// (6.0) on buffers of `ring` (shared by the core's connections): an
    /// idle stream holds no receive buffer.
    pub fn compat_with_ring(self, ring: &BufRing) -> Compat<TcpStream> {
        let io = engine(PollIo::with_ring(self.shared_fd().clone(), ring));
        Compat { stream: self, io }
    }
}

impl UnixStream {
    /// This stream with tokio's and futures-io's `AsyncRead`/`AsyncWrite`;
    /// see [`Compat`].
    pub fn compat(self) -> Compat<UnixStream> {
        let io = engine(PollIo::new(self.shared_fd().clone()));
        Compat { stream: self, io }
    }

    /// [`compat`](UnixStream::compat), receiving through one multishot receive
    /// (6.0) on buffers of `ring` (shared by the core's connections): an
    /// idle stream holds no receive buffer.
    pub fn compat_with_ring(self, ring: &BufRing) -> Compat<UnixStream> {
        let io = engine(PollIo::with_ring(self.shared_fd().clone(), ring));
        Compat { stream: self, io }
    }
}

/// `Compat`'s engine, as `HyperIo`'s: small writes batched into the
/// ring, and a flush that returns once every byte is in a send the kernel
/// was handed.
fn engine(mut io: PollIo) -> PollIo {
    io.set_early_flush(true);
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
