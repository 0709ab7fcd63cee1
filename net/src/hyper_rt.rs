//! hyper on coring, natively (feature `hyper`): coring streams with
//! hyper's own I/O traits, and hyper's executor and timer on coring's
//! runtime — no tokio, no `TokioIo`.
//!
//! - [`HyperIo`]: a TCP or Unix stream with `hyper::rt::Read` and
//!   `hyper::rt::Write` (vectored).
//! - [`HyperExecutor`]: `hyper::rt::Executor`, spawning on the current
//!   coring runtime (HTTP/2's stream tasks; the futures need not be
//!   `Send`).
//! - [`HyperTimer`]: `hyper::rt::Timer` on coring's timers (HTTP/1's
//!   `header_read_timeout`, HTTP/2's keep-alive).
//!
//! ```no_run
//! use coring_net::{HyperIo, HyperTimer, TcpListener};
//! use hyper::service::service_fn;
//! # async fn handle(
//! #     _: hyper::Request<hyper::body::Incoming>,
//! # ) -> Result<hyper::Response<String>, std::convert::Infallible> {
//! #     Ok(hyper::Response::new(String::from("hi")))
//! # }
//!
//! coring_runtime::start(async {
//!     let listener = TcpListener::bind("127.0.0.1:8080")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         coring_runtime::spawn(async move {
//!             let conn = hyper::server::conn::http1::Builder::new()
//!                 .timer(HyperTimer)
//!                 .serve_connection(HyperIo::new(stream), service_fn(handle));
//!             let _ = conn.await;
//!         });
//!     }
//!     #[allow(unreachable_code)]
//!     Ok::<_, std::io::Error>(())
//! })
//! .unwrap()
//! .unwrap();
//! ```

use crate::poll_io::PollIo;
use crate::{TcpStream, UnixStream};
use coring_runtime::buf::BufRing;
use coring_runtime::fd::SharedFd;
use coring_runtime::time::SendSleep;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A coring stream (`TcpStream` or `UnixStream`) with hyper's
/// `hyper::rt::Read` and `hyper::rt::Write`: give it to
/// `hyper::server::conn::http1::Builder::serve_connection` (or http2's, or
/// a client's `handshake`).
///
/// Completion I/O needs buffers the kernel owns until it is done, and
/// hyper lends borrowed ones for the length of a call, so:
///
/// - **Reads**: one receive is kept in flight across polls into the
///   adapter's own buffer (sized by hyper's room, 8–256 KiB), and its bytes
///   are copied into hyper's buffer. With [`with_ring`](HyperIo::with_ring)
///   the connection instead keeps one multishot receive armed on a
///   provided buffer ring shared by the core's connections: an idle
///   keep-alive connection then holds no receive buffer at all, and no
///   receive is submitted per request.
/// - **Small writes are batched into the ring**: a write (all of hyper's
///   slices at once) under 16 KiB — a response head and a small body —
///   is copied into the adapter's staging buffer and `Ready(n)` returned;
///   with no send in flight the staged bytes are submitted as **one
///   io_uring send**, which reaches the kernel with the turn's other SQEs
///   in one `io_uring_enter`, else as soon as the send in flight
///   completes. The flush then waits for the send's completion. Against
///   a `sendmsg(2)` per response this used less server CPU per request
///   (docs/HTTP.md).
/// - **Large writes go out at once when the socket has room**: a write
///   of 16 KiB or more with no send in flight first makes one
///   non-blocking `sendmsg(2)` of all the slices, straight from hyper's
///   memory (MSG_DONTWAIT | MSG_NOSIGNAL): what the socket takes needs no
///   copy; the rest is written behind as above.
///   [`direct_writes`](HyperIo::direct_writes) makes every write (`true`)
///   or none (`false`) try the direct send. Up to 64 KiB is
///   staged while a send is in flight; past that a write is `Pending`
///   until it completes. Two buffers take turns, so no write allocates
///   once the connection is warm.
/// - **Errors are reported one call late**: a send's error (say,
///   `BrokenPipe`) is returned by the next `poll_write`, `poll_flush` or
///   `poll_shutdown`, and every write after it fails.
/// - **`poll_flush` returns once every byte left the adapter**: each is
///   in a send the kernel was handed (`MSG_WAITALL`: the kernel finishes
///   it, however slowly the peer reads), so hyper moves on without
///   waiting for the send's completion, which would cost the connection's
///   task one more wake and poll per response. Where the kernel lacks
///   [`Feature::SEND_WAITALL`](coring_runtime::op::Feature::SEND_WAITALL)
///   (before 5.18) it waits for the completion instead. `poll_shutdown`
///   waits for every send to complete, then shuts the write side down.
///
/// Dropping it cancels the receive in flight, but a send that a flush
/// already reported lingers: it goes on while the runtime runs, for up to
/// 30 s, as the kernel sends what a closed socket's buffer holds, and the
/// socket closes after it (the runtime's shutdown cancels it). Bytes
/// written but not flushed may be lost. The kernel's buffers are kept
/// until it lets go of them.
pub struct HyperIo<S> {
    stream: S,
    io: PollIo,
}

impl<S: AsSharedFd> HyperIo<S> {
    /// Wraps `stream`, receiving into the adapter's own buffer.
    pub fn new(stream: S) -> HyperIo<S> {
        let mut io = PollIo::new(stream.shared().clone());
        io.set_early_flush(true);
        HyperIo { stream, io }
    }

    /// Wraps `stream`, receiving through one multishot receive (6.0) on
    /// buffers of `ring` (make one [`BufRing`] per core and share it by
    /// all its connections; its buffers go back to it as soon as hyper has
    /// copied their bytes). When the ring runs dry a connection waits for a
    /// buffer (TCP flow control slows its peer) instead of failing.
    ///
    /// Needs Linux 6.0 (multishot receive); on an older kernel the first
    /// read fails (`EINVAL`), so use [`new`](HyperIo::new) there.
    pub fn with_ring(stream: S, ring: &BufRing) -> HyperIo<S> {
        let mut io = PollIo::with_ring(stream.shared().clone(), ring);
        io.set_early_flush(true);
        HyperIo { stream, io }
    }
}

impl<S> HyperIo<S> {
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
    /// ops in flight are cancelled, so bytes written but not flushed may
    /// not have been sent.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

/// The streams [`HyperIo`] wraps: coring's TCP and Unix streams.
pub trait AsSharedFd: sealed::Sealed {
    /// The stream's fd.
    fn shared(&self) -> &SharedFd;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::TcpStream {}
    impl Sealed for crate::UnixStream {}
}

impl AsSharedFd for TcpStream {
    fn shared(&self) -> &SharedFd {
        self.shared_fd()
    }
}

impl AsSharedFd for UnixStream {
    fn shared(&self) -> &SharedFd {
        self.shared_fd()
    }
}

impl<S> Unpin for HyperIo<S> {}

impl<S> hyper::rt::Read for HyperIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        let io = &mut self.get_mut().io;
        io.poll_read_with(cx, room, |b| buf.put_slice(b))
            .map_ok(drop)
    }
}

impl<S> hyper::rt::Write for HyperIo<S> {
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

impl<S: fmt::Debug> fmt::Debug for HyperIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperIo")
            .field("stream", &self.stream)
            .field("buffered", &self.io.buffered())
            .field("writing", &self.io.is_writing())
            .finish()
    }
}

/// hyper's `Executor` on coring: runs each future as a task of the
/// current coring runtime (`coring_runtime::spawn`), detached. The futures
/// need not be `Send` (hyper's HTTP/2 tasks over a coring stream are not).
///
/// # Panics
///
/// `execute` panics outside a coring runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        drop(coring_runtime::spawn(fut));
    }
}

/// hyper's `Timer` on coring's timers. Its sleeps are [`HyperSleep`]s
/// (coring's [`SendSleep`]: hyper wants them `Send + Sync`); they cost no
/// SQE and register with the runtime of the thread that polls them.
///
/// # Panics
///
/// Polling one of its sleeps before its deadline outside a coring runtime
/// panics.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(SendSleep::after(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(SendSleep::until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mut s) => s.0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep of [`HyperTimer`]: a [`SendSleep`] with hyper's `Sleep`
/// trait.
#[derive(Debug)]
pub struct HyperSleep(pub SendSleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}
