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
    let mut done = 0usize;
    let mut buf = buf;
    while done < total {
        let (res, slice) = Op::submit(Send::new(fd, buf.slice(done..total))).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the socket took 0 bytes");
                return (Err(e), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
