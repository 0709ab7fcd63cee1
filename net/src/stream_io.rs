//! The byte-stream loops shared by TCP and Unix streams: read exactly,
//! write all, each resubmitting after a short transfer.

use coring_runtime::buf::{BufResult, IoBuf, IoBufMut, Slice};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, OpCode, Recv, Send};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Where a `read_exact` or `write_all` stands: the first op, on the whole
/// buffer; a later one, on what is left; or an empty buffer, given back
/// without an op.
// An explicit tag: without it the variant is encoded in a niche of the
// ops' buffers, and every poll has to decode it.
#[repr(u8)]
enum Stage<B, W: OpCode, T: OpCode> {
    Whole(Op<W>),
    Tail(Op<T>),
    Empty(Option<B>),
}

impl<B: IoBuf, W, T> Stage<B, W, T>
where
    W: OpCode<Output = BufResult<usize, B>>,
    T: OpCode<Output = BufResult<usize, Slice<B>>>,
{
    /// Submits the first op on the whole buffer, unless there is nothing
    /// to move (`len == 0`).
    #[inline]
    #[track_caller]
    fn start(len: usize, buf: B, op: impl FnOnce(B) -> W) -> Self {
        if len == 0 {
            Stage::Empty(Some(buf))
        } else {
            Stage::Whole(Op::submit(op(buf)))
        }
    }

    /// The current op's result with the whole buffer; `Err(buf)` for an
    /// empty buffer, which is done at once.
    #[inline]
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<BufResult<usize, B>, B>> {
        Poll::Ready(Ok(match self {
            Stage::Whole(op) => ready!(Pin::new(op).poll(cx)),
            Stage::Tail(op) => {
                let (res, slice) = ready!(Pin::new(op).poll(cx));
                (res, slice.into_inner())
            }
            Stage::Empty(buf) => match buf.take() {
                Some(buf) => return Poll::Ready(Err(buf)),
                None => panic!("coring: read_exact/write_all polled after it completed"),
            },
        }))
    }
}

/// The future of `read_exact` on a stream: receives until the buffer is
/// full (`bytes_total()` bytes), however many receives it takes, and gives
/// the buffer back, its initialized length covering what arrived.
/// `UnexpectedEof` when the peer closes first.
///
/// Like [`WriteAll`], it starts when it is made (the first receive is
/// submitted by `read_exact` itself), and dropping it cancels the receive
/// in flight; bytes that already arrived are then lost with the future.
#[must_use = "dropping it cancels the read; await it to fill the buffer"]
pub struct ReadExact<'a, B: IoBufMut> {
    fd: &'a SharedFd,
    total: usize,
    done: usize,
    stage: Stage<B, Recv<B>, Recv<Slice<B>>>,
}

// Nothing in it is ever pinned in place: the ops are `Unpin`, and the
// buffer is only moved, never borrowed across polls.
impl<B: IoBufMut> Unpin for ReadExact<'_, B> {}

/// Starts receiving into all of `buf` on `fd`.
#[inline]
#[track_caller]
pub(crate) fn read_exact<B: IoBufMut>(fd: &SharedFd, buf: B) -> ReadExact<'_, B> {
    let total = buf.bytes_total();
    ReadExact {
        fd,
        total,
        done: 0,
        stage: Stage::start(total, buf, |buf| Recv::new(fd, buf)),
    }
}

impl<B: IoBufMut> Future for ReadExact<'_, B> {
    type Output = BufResult<(), B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let (res, buf) = match ready!(this.stage.poll(cx)) {
                Ok(step) => step,
                Err(buf) => return Poll::Ready((Ok(()), buf)),
            };
            match res {
                Ok(0) => return Poll::Ready((Err(unexpected_eof()), buf)),
                Ok(n) => this.done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready((Err(e), buf)),
            }
            if this.done >= this.total {
                return Poll::Ready((Ok(()), buf));
            }
            // A short receive: receive the rest (polled at the loop's top,
            // which registers the waker).
            let rest = buf.slice(this.done..);
            this.stage = Stage::Tail(Op::submit(Recv::new(this.fd, rest)));
        }
    }
}

#[cold]
fn unexpected_eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the peer closed the connection before the buffer was full",
    )
}

/// The future of `write_all` on a stream: sends all of a buffer's
/// initialized bytes, however many sends it takes, and gives the buffer
/// back. `WriteZero` if the kernel takes none.
///
/// Like [`write`](crate::TcpStream::write) (and every coring op), it
/// starts when it is made: the first send is submitted by `write_all`
/// itself, not by the first poll. Dropping the future cancels what is in
/// flight; as with any cancelled write, some or all of the bytes may have
/// been sent by then. The buffer stays with the runtime until the kernel
/// lets go of it.
///
/// Written by hand rather than as an `async fn`: the common case, one send
/// taking everything, then costs one op and no slice, and the buffer is
/// not moved through a generator's locals.
#[must_use = "dropping it cancels the write; await it to send everything"]
pub struct WriteAll<'a, B: IoBuf> {
    fd: &'a SharedFd,
    total: usize,
    done: usize,
    stage: Stage<B, Send<B>, Send<Slice<B>>>,
}

// As for `ReadExact`: nothing in it is pinned in place.
impl<B: IoBuf> Unpin for WriteAll<'_, B> {}

/// Starts sending all of `buf`'s initialized bytes on `fd`.
#[inline]
#[track_caller]
pub(crate) fn write_all<B: IoBuf>(fd: &SharedFd, buf: B) -> WriteAll<'_, B> {
    let total = buf.bytes_init();
    WriteAll {
        fd,
        total,
        done: 0,
        stage: Stage::start(total, buf, |buf| Send::new(fd, buf)),
    }
}

impl<B: IoBuf> Future for WriteAll<'_, B> {
    type Output = BufResult<(), B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let (res, buf) = match ready!(this.stage.poll(cx)) {
                Ok(step) => step,
                Err(buf) => return Poll::Ready((Ok(()), buf)),
            };
            match sent(res) {
                Ok(n) => this.done += n,
                Err(e) => return Poll::Ready((Err(e), buf)),
            }
            if this.done >= this.total {
                return Poll::Ready((Ok(()), buf));
            }
            // A short send: send the rest.
            let rest = buf.slice(this.done..this.total);
            this.stage = Stage::Tail(Op::submit(Send::new(this.fd, rest)));
        }
    }
}

/// The bytes one send took: `WriteZero` for none, 0 when interrupted (to
/// send again).
#[inline]
fn sent(res: io::Result<usize>) -> io::Result<usize> {
    match res {
        Ok(0) => Err(write_zero()),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

#[cold]
fn write_zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "the socket took 0 bytes")
}
