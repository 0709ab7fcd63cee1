//! The byte-stream loops shared by TCP and Unix streams: read exactly,
//! write all, each resubmitting after a short transfer.

use coring_runtime::buf::{BufResult, IoBuf, IoBufMut};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, Recv, Send};
use std::io;

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

/// Sends all of `buf`'s initialized bytes. `WriteZero` if the kernel
/// takes none.
pub(crate) async fn write_all<B: IoBuf>(fd: &SharedFd, buf: B) -> BufResult<(), B> {
    let total = buf.bytes_init();
    if total == 0 {
        return (Ok(()), buf);
    }
    // The common case first: one send takes it all (no slice to make and
    // take apart).
    let (res, mut buf) = Op::submit(Send::new(fd, buf)).await;
    let mut done = match sent(res) {
        Ok(n) => n,
        Err(e) => return (Err(e), buf),
    };
    while done < total {
        let (res, slice) = Op::submit(Send::new(fd, buf.slice(done..total))).await;
        buf = slice.into_inner();
        match sent(res) {
            Ok(n) => done += n,
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
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
