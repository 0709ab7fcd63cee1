//! The engine behind the poll-style adapters ([`Compat`](crate::compat::Compat)
//! and [`HyperIo`](crate::HyperIo)): completion I/O with owned buffers
//! behind `poll_read`/`poll_write`, with one op of each kind kept in flight
//! across polls and no allocation per call.
//!
//! - Reads: one receive in flight into an owned buffer (or a multishot
//!   receive from a provided buffer ring); its bytes are copied out over
//!   as many reads as it takes.
//! - Writes: a write of [`DIRECT_MIN`] bytes or more, with nothing in
//!   flight or staged, first tries one non-blocking `sendmsg(2)` of all
//!   its slices straight from the caller's memory (MSG_DONTWAIT): no copy
//!   of what the socket takes. Smaller writes (a response, a TLS record),
//!   and what the socket did not take, are written behind: a write copies
//!   the bytes into the adapter's staging buffer and returns; while no
//!   send is in flight the staged bytes go out as one io_uring send,
//!   submitted with the turn's other SQEs in its one enter. A small
//!   write's copy is cheaper than the syscall it saves (see DIRECT_MIN). Two buffers take turns (the one the kernel is sending,
//!   the one being filled), so after warm-up no write allocates. An error
//!   of a send is reported by the next write, flush or shutdown.

use crate::recv_stream::RecvStream;
use coring_runtime::buf::{BufRing, IoBuf, RingBuf, Slice};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Feature, Op, Recv, Send, Shutdown};
use socket2::SockRef;
use std::future::Future;
use std::io;
use std::net::Shutdown as How;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// The smallest receive (bytes); a reader asking for less still gets a
/// receive this big, the rest kept for its next read.
pub(crate) const READ_MIN: usize = 8 * 1024;
/// The largest receive, however much room the reader offers.
pub(crate) const READ_MAX: usize = 256 * 1024;
/// How many bytes a writer may stage while a send is in flight; past it a
/// write waits for the send (back-pressure).
pub(crate) const WRITE_CAP: usize = 64 * 1024;
/// The smallest write that tries a direct `sendmsg(2)` first (unless the
/// adapter's `direct_writes` says always or never). Below it
/// a write is copied and sent through the ring: one io_uring send per
/// write, batched with the turn's other SQEs, where a direct send is a
/// syscall per write. Measured with hyper's hello-world (docs/HTTP.md),
/// the ring send used less server CPU per request in 13 of 16 paired
/// runs, despite ~900 more user-space instructions (the flush's second
/// poll); past a few KiB the copy outweighs the syscall.
pub(crate) const DIRECT_MIN: usize = 16 * 1024;

/// Where received bytes come from.
enum ReadSide {
    /// A receive into `buf`, one at a time; `buf[pos..]` not read yet.
    /// `drained`: the last receive took less than it had room for, so the
    /// socket is likely empty and the next one waits for readiness before
    /// it tries (where the kernel can: `poll_first`, probed once).
    Owned {
        op: Option<Op<Recv<Vec<u8>>>>,
        buf: Vec<u8>,
        pos: usize,
        drained: bool,
        poll_first: Option<bool>,
    },
    /// A multishot receive picking buffers from a ring; `cur[pos..]` not
    /// read yet.
    Ring {
        recv: RecvStream,
        cur: Option<RingBuf>,
        pos: usize,
    },
}

/// The shared state of an adapter: the stream's fd, the read side, the
/// write side, a shutdown in flight.
pub(crate) struct PollIo {
    fd: SharedFd,
    read: ReadSide,
    /// The send in flight, on a range of its buffer.
    send: Option<Op<Send<Slice<Vec<u8>>>>>,
    /// Bytes accepted by writes and not submitted yet: never empty while
    /// no send is in flight (they are submitted at once then).
    staged: Vec<u8>,
    /// The error of a send, reported by the next write/flush/shutdown.
    failed: Option<io::Error>,
    /// A send failed and that was reported: every later write fails.
    broken: bool,
    /// The peer closed its side (a receive gave 0 bytes, or the multishot
    /// receive ended).
    read_eof: bool,
    /// The smallest write (bytes) that, with nothing in flight, tries a
    /// direct non-blocking `sendmsg` first: [`DIRECT_MIN`], 0 (always) or
    /// `usize::MAX` (never: every write goes through an io_uring send).
    direct_min: usize,
    /// Sends carry MSG_WAITALL and the kernel finishes them
    /// ([`Feature::SEND_WAITALL`]); known on the first send.
    waitall: Option<bool>,
    /// A flush returns once every byte is in a send the kernel was handed
    /// (with `waitall`), instead of waiting for the send's completion.
    early_flush: bool,
    shutdown_op: Option<Op<Shutdown>>,
}

/// How long a send the kernel was handed may go on after its adapter is
/// dropped (see [`PollIo::set_early_flush`]) before it is cancelled.
pub(crate) const LINGER: Duration = Duration::from_secs(30);

impl PollIo {
    /// Receives into its own buffers (one plain receive at a time).
    pub(crate) fn new(fd: SharedFd) -> PollIo {
        PollIo::with_read(
            fd,
            ReadSide::Owned {
                op: None,
                buf: Vec::new(),
                pos: 0,
                drained: false,
                poll_first: None,
            },
        )
    }

    /// Receives through one multishot receive from `ring` (6.0).
    pub(crate) fn with_ring(fd: SharedFd, ring: &BufRing) -> PollIo {
        let recv = RecvStream::new(fd.clone(), ring);
        PollIo::with_read(
            fd,
            ReadSide::Ring {
                recv,
                cur: None,
                pos: 0,
            },
        )
    }

    fn with_read(fd: SharedFd, read: ReadSide) -> PollIo {
        PollIo {
            fd,
            read,
            send: None,
            staged: Vec::new(),
            failed: None,
            broken: false,
            read_eof: false,
            direct_min: DIRECT_MIN,
            waitall: None,
            early_flush: false,
            shutdown_op: None,
        }
    }

    /// With `on`, where the kernel finishes a send itself
    /// ([`Feature::SEND_WAITALL`]), a flush returns once every byte
    /// written is in a send handed to the kernel, without waiting for its
    /// completion (which would cost the task a wake and a poll per
    /// message); dropping the adapter then lets that send finish (for up
    /// to [`LINGER`]) instead of cancelling it. A send's error is still
    /// reported by the next write, flush or shutdown, and a shutdown still
    /// waits for every send to complete.
    pub(crate) fn set_early_flush(&mut self, on: bool) {
        self.early_flush = on;
    }

    /// Makes every write try a direct `sendmsg` first (`true`) or none
    /// (`false`); by default, writes of [`DIRECT_MIN`] bytes or more.
    pub(crate) fn set_direct_writes(&mut self, on: bool) {
        self.direct_min = if on { 0 } else { usize::MAX };
    }

    /// Received bytes not read yet.
    pub(crate) fn buffered(&self) -> usize {
        match &self.read {
            ReadSide::Owned { buf, pos, .. } => buf.len().saturating_sub(*pos),
            ReadSide::Ring { cur, pos, .. } => {
                cur.as_ref().map_or(0, |b| b.len().saturating_sub(*pos))
            }
        }
    }

    /// Whether a send is in flight or bytes wait to be sent.
    pub(crate) fn is_writing(&self) -> bool {
        self.send.is_some() || !self.staged.is_empty()
    }

    /// Waits until received bytes are buffered and gives them; empty at
    /// end of stream. `want` is how many the reader has room for (it sizes
    /// the receive). Take them with [`consume`](Self::consume).
    ///
    /// End of stream is given only once no send is in flight and the
    /// caller had a chance to see that (a flush): a peer that read our
    /// last bytes and closed must not look like a close in the middle of
    /// our write. hyper polls its read before its flush and would call
    /// that an incomplete message; with a blocking socket the write would
    /// have ended before the peer could see its bytes.
    pub(crate) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
    ) -> Poll<io::Result<&[u8]>> {
        if !self.staged.is_empty() {
            // Bytes written behind a send in flight go out when it
            // completes, even if the writer reads next without a flush
            // (an echo loop): the read also waits on that send.
            let _ = self.poll_sends_while(cx, |io| !io.staged.is_empty());
        }
        ready!(self.poll_receive(cx, want))?;
        if self.read_eof && self.buffered() == 0 && self.send.is_some() {
            ready!(self.poll_sends(cx));
            // Let the caller flush (and see the send end) before it reads
            // the end of stream.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Ok(match &self.read {
            ReadSide::Owned { buf, pos, .. } => buf.get(*pos..).unwrap_or(&[]),
            ReadSide::Ring { cur, pos, .. } => {
                cur.as_deref().and_then(|b| b.get(*pos..)).unwrap_or(&[])
            }
        }))
    }

    /// Receives until bytes are buffered or the stream ended (`read_eof`).
    fn poll_receive(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<()>> {
        if self.read_eof {
            return Poll::Ready(Ok(()));
        }
        match &mut self.read {
            ReadSide::Owned {
                op,
                buf,
                pos,
                drained,
                poll_first,
            } => {
                while *pos >= buf.len() {
                    let fd = &self.fd;
                    let recv = match op {
                        Some(recv) => recv,
                        None => {
                            let size = want.clamp(READ_MIN, READ_MAX);
                            let mut b = std::mem::take(buf);
                            b.clear();
                            // Don't keep a big buffer (from a big upload)
                            // for an idle connection's small reads.
                            if b.capacity() > 4 * size {
                                b = Vec::new();
                            }
                            b.reserve(size);
                            let first = *drained
                                && *poll_first.get_or_insert_with(|| {
                                    Feature::RECVSEND_POLL_FIRST.is_supported()
                                });
                            op.insert(Op::submit(Recv::new(fd, b).poll_first(first)))
                        }
                    };
                    let (res, b) = ready!(Pin::new(recv).poll(cx));
                    *op = None;
                    *drained = b.len() < b.capacity();
                    *buf = b;
                    *pos = 0;
                    match res {
                        Ok(0) => {
                            self.read_eof = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
            ReadSide::Ring { recv, cur, pos } => loop {
                if let Some(b) = cur {
                    if *pos < b.len() {
                        break;
                    }
                }
                // Give the spent buffer back to the ring first.
                *cur = None;
                *pos = 0;
                match ready!(recv.poll_buf(cx)) {
                    Some(Ok(b)) => *cur = Some(b),
                    None => {
                        self.read_eof = true;
                        break;
                    }
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                }
            },
        }
        Poll::Ready(Ok(()))
    }

    /// Marks `n` of the bytes [`poll_fill`](Self::poll_fill) gave as read.
    pub(crate) fn consume(&mut self, n: usize) {
        match &mut self.read {
            ReadSide::Owned { pos, .. } | ReadSide::Ring { pos, .. } => *pos += n,
        }
    }

    /// Hands up to `room` received bytes to `put` (nothing at end of
    /// stream) and returns how many: the read of every poll-style trait.
    pub(crate) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        room: usize,
        put: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        if room == 0 {
            return Poll::Ready(Ok(0));
        }
        let avail = ready!(self.poll_fill(cx, room))?;
        let n = avail.len().min(room);
        put(&avail[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Copies received bytes into `dst`; `Ready(Ok(0))` at end of stream.
    #[cfg(feature = "compat")]
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let room = dst.len();
        self.poll_read_with(cx, room, |b| dst[..b.len()].copy_from_slice(b))
    }

    /// Drives the send in flight: resubmits the rest of a short send, and
    /// once one is done submits what was staged meanwhile. `Ready` when
    /// nothing is in flight any more (all sent, or a send failed: see
    /// `failed`); `Pending` (the waker registered) otherwise.
    fn poll_sends(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_sends_while(cx, |io| io.send.is_some())
    }

    /// [`poll_sends`](Self::poll_sends) for as long as `busy` says.
    fn poll_sends_while(&mut self, cx: &mut Context<'_>, busy: fn(&PollIo) -> bool) -> Poll<()> {
        while busy(self) {
            let Some(op) = &mut self.send else { break };
            let (res, slice) = ready!(Pin::new(op).poll(cx));
            self.send = None;
            self.send_done(res, slice);
        }
        Poll::Ready(())
    }

    /// Takes the send's result if it completed, without waiting for it
    /// (no waker registered): a flush that does not wait still reports a
    /// send that failed before it.
    fn reap_send(&mut self) {
        if let Some((res, slice)) = self.send.as_mut().and_then(Op::try_complete) {
            self.send = None;
            self.send_done(res, slice);
        }
    }

    /// A send completed: resubmits the rest of a short one, else submits
    /// what was staged meanwhile (or records the error).
    fn send_done(&mut self, res: io::Result<usize>, slice: Slice<Vec<u8>>) {
        let (begin, end) = (slice.begin(), slice.end());
        let mut buf = slice.into_inner();
        match sent(res) {
            Ok(n) if begin + n < end => self.submit_range(buf, begin + n..end),
            Ok(_) => {
                buf.clear();
                if !self.staged.is_empty() {
                    // The staging buffer goes out; the spent one takes its
                    // place.
                    let next = std::mem::replace(&mut self.staged, buf);
                    self.submit(next);
                } else if self.staged.capacity() < buf.capacity() {
                    self.staged = buf;
                }
            }
            Err(e) => {
                self.staged.clear();
                self.failed = Some(e);
            }
        }
    }

    fn submit(&mut self, buf: Vec<u8>) {
        let len = buf.len();
        self.submit_range(buf, 0..len);
    }

    /// Submits the send of `buf[range]`, with MSG_WAITALL where the
    /// kernel finishes a short send itself.
    fn submit_range(&mut self, buf: Vec<u8>, range: std::ops::Range<usize>) {
        let waitall = *self
            .waitall
            .get_or_insert_with(|| Feature::SEND_WAITALL.is_supported());
        let flags = if waitall { libc::MSG_WAITALL } else { 0 };
        self.send = Some(Op::submit(
            Send::new(&self.fd, buf.slice(range)).flags(flags),
        ));
    }

    /// Whether a flush may return with a send in flight (see
    /// [`set_early_flush`](Self::set_early_flush)).
    fn flush_early(&self) -> bool {
        self.early_flush && self.waitall == Some(true)
    }

    /// A failed send's error, once; after it, every write fails.
    fn take_error(&mut self) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            self.broken = true;
            return Err(e);
        }
        if self.broken {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier write on this stream failed",
            ));
        }
        Ok(())
    }

    /// Sends what the socket takes at once (see `direct_min`), then takes as
    /// many of the other bytes of `bufs` as there is room for (see
    /// [`WRITE_CAP`]) and sends them behind: `Ready(Ok(n))` once they are
    /// sent or copied (and submitted when no send was in flight).
    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let _ = self.poll_sends(cx);
        self.take_error()?;
        let mut skip = 0;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total >= self.direct_min && self.send.is_none() {
            // Nothing in flight, so nothing staged: the bytes may go now,
            // in order, straight from the caller's slices.
            match SockRef::from(&self.fd)
                .send_vectored_with_flags(bufs, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
            {
                Ok(n) => {
                    if n >= total {
                        return Poll::Ready(Ok(n));
                    }
                    // Short: write the rest behind.
                    skip = n;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let taken = skip;
        let mut room = WRITE_CAP.saturating_sub(self.staged.len());
        if room == 0 {
            // A send is in flight (staged bytes imply one), and
            // `poll_sends` registered the waker with it.
            return Poll::Pending;
        }
        let mut n = 0;
        for b in bufs {
            if room == 0 {
                break;
            }
            // Skip what the direct send took.
            let b: &[u8] = if skip >= b.len() {
                skip -= b.len();
                continue;
            } else {
                let rest = &b[skip..];
                skip = 0;
                rest
            };
            let take = b.len().min(room);
            if self.staged.capacity() == 0 {
                self.staged.reserve(take.clamp(READ_MIN, WRITE_CAP));
            }
            self.staged.extend_from_slice(&b[..take]);
            n += take;
            room -= take;
        }
        if n > 0 && self.send.is_none() {
            let next = std::mem::take(&mut self.staged);
            self.submit(next);
        }
        Poll::Ready(Ok(taken + n))
    }

    /// [`poll_write_vectored`](Self::poll_write_vectored) of one buffer.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    /// Waits until every byte written so far left (was taken by the
    /// kernel, or, with [`set_early_flush`](Self::set_early_flush), is in
    /// a send the kernel was handed and will finish); the error of a
    /// send, if any.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.flush_early() {
            // Staged bytes wait for the send in flight; once they are
            // submitted, nothing waits on this side.
            ready!(self.poll_sends_while(cx, |io| !io.staged.is_empty()));
            self.reap_send();
        } else {
            ready!(self.poll_sends(cx));
        }
        Poll::Ready(self.take_error())
    }

    /// Waits until every send completed, then shuts the write side down.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_sends(cx));
        self.take_error()?;
        let fd = &self.fd;
        let op = self
            .shutdown_op
            .get_or_insert_with(|| Op::submit(Shutdown::new(fd, How::Write)));
        let res = ready!(Pin::new(op).poll(cx));
        self.shutdown_op = None;
        Poll::Ready(res)
    }
}

impl Drop for PollIo {
    fn drop(&mut self) {
        // A flush said these bytes are on their way: let them go.
        if let Some(send) = self.send.take() {
            if self.flush_early() {
                send.linger(LINGER);
            }
        }
    }
}

/// The bytes one send took: `WriteZero` for none, 0 when interrupted (to
/// send again).
fn sent(res: io::Result<usize>) -> io::Result<usize> {
    match res {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the socket took 0 bytes",
        )),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}
