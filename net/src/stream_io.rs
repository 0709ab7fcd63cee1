//! The byte-stream loops shared by TCP and Unix streams: read exactly,
//! write all, each resubmitting after a short transfer.

use coring_runtime::buf::{BufResult, IoBuf, IoBufMut, Slice};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, Recv, Send};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Receives until `buf` is full (`bytes_total()` bytes). `UnexpectedEof`
/// when the peer closes first; the buffer comes back either way, its
/// initialized length covering what arrived.
pub(crate) async fn read_exact<B: IoBufMut>(fd: &SharedFd, buf: B) -> BufResult<(), B> {
    let total = buf.bytes_total();
    let mut done = 0usize;
    let mut buf = buf;
    while done < total {
        let (res, slice) = Op::submit(Recv::new(fd, buf.slice(done..))).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let e = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection before the buffer was full",
                );
                return (Err(e), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
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
/// not moved through a generator's locals. (A lazy version, submitting on
/// the first poll, cost 35 more instructions per echoed request.)
#[must_use = "dropping it cancels the write; await it to send everything"]
pub struct WriteAll<'a, B: IoBuf> {
    fd: &'a SharedFd,
    total: usize,
    done: usize,
    state: WriteState<B>,
}

// An explicit tag: without it the variant is encoded in a niche of the
// ops' buffers, and every poll decodes it (13 instructions per echoed
// request in callgrind).
#[repr(u8)]
enum WriteState<B: IoBuf> {
    /// The first send, of the whole buffer.
    Whole(Op<Send<B>>),
    /// A send of what is left after a short one.
    Tail(Op<Send<Slice<B>>>),
    /// Nothing to send (an empty buffer), not yet given back.
    Empty(Option<B>),
}

// Nothing in it is ever pinned in place: the ops are `Unpin`, and the
// buffer is only moved, never borrowed across polls.
impl<B: IoBuf> Unpin for WriteAll<'_, B> {}

/// Starts sending all of `buf`'s initialized bytes on `fd`.
#[inline]
pub(crate) fn write_all<B: IoBuf>(fd: &SharedFd, buf: B) -> WriteAll<'_, B> {
    let total = buf.bytes_init();
    let state = if total == 0 {
        WriteState::Empty(Some(buf))
    } else {
        WriteState::Whole(Op::submit(Send::new(fd, buf)))
    };
    WriteAll {
        fd,
        total,
        done: 0,
        state,
    }
}

impl<B: IoBuf> Future for WriteAll<'_, B> {
    type Output = BufResult<(), B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let (res, buf) = match &mut this.state {
                WriteState::Whole(op) => ready!(Pin::new(op).poll(cx)),
                WriteState::Tail(op) => {
                    let (res, slice) = ready!(Pin::new(op).poll(cx));
                    (res, slice.into_inner())
                }
                WriteState::Empty(buf) => match buf.take() {
                    Some(buf) => return Poll::Ready((Ok(()), buf)),
                    None => panic!("coring: WriteAll polled after it completed"),
                },
            };
            match sent(res) {
                Ok(n) => this.done += n,
                Err(e) => return Poll::Ready((Err(e), buf)),
            }
            if this.done >= this.total {
                return Poll::Ready((Ok(()), buf));
            }
            // A short send: send the rest (polled at the loop's top, which
            // registers the waker).
            let rest = buf.slice(this.done..this.total);
            this.state = WriteState::Tail(Op::submit(Send::new(this.fd, rest)));
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
