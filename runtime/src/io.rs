//! The ops of the runtime core as plain functions on a [`SharedFd`].
//!
//! Each returns an [`Op`] future; buffers go in and come back with the
//! result ([`BufResult`]). An offset of `u64::MAX` (or the functions
//! without `_at`) means the file's current position, for files that have
//! one; pipes and sockets ignore the offset.
//!
//! # Examples
//!
//! ```
//! use coring_runtime::{fd::SharedFd, io};
//! coring_runtime::start(async {
//!     let f = SharedFd::new(std::fs::File::open("/dev/zero").unwrap().into());
//!     let (res, buf) = io::read_at(&f, Vec::with_capacity(4), 0).await;
//!     assert_eq!(res.unwrap(), 4);
//!     assert_eq!(buf, [0, 0, 0, 0]);
//! })
//! .unwrap();
//! ```

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::{
    AsyncCancel, Close, Device, Nop, Offload, Op, OpCode, Read, Readv, Timeout, Write, Writev,
};
use std::future::poll_fn;
use std::io;
use std::task::Poll;
use std::time::Duration;

/// The file's current position, as an offset.
pub const CURRENT_POSITION: u64 = u64::MAX;

/// A round trip through the ring (IORING_OP_NOP).
#[inline]
#[track_caller]
pub fn nop() -> Op<Nop> {
    Op::submit(Nop)
}

/// Reads into `buf` at `offset` (IORING_OP_READ). Output:
/// `BufResult<usize, B>`; 0 bytes means end of file, or a buffer with no
/// room: such a read completes with 0 at once and never reaches the
/// kernel (which might otherwise wait: Linux 6.1 waits for data on an
/// empty blocking pipe).
#[inline]
#[track_caller]
pub fn read_at<B: IoBufMut>(fd: &SharedFd, buf: B, offset: u64) -> Op<Read<B>> {
    Op::submit(Read::new(fd, buf, offset))
}

/// Reads into `buf` at the current position.
#[inline]
#[track_caller]
pub fn read<B: IoBufMut>(fd: &SharedFd, buf: B) -> Op<Read<B>> {
    read_at(fd, buf, CURRENT_POSITION)
}

/// Writes `buf`'s initialized bytes at `offset` (IORING_OP_WRITE). A
/// buffer with no bytes completes with 0 at once, without the kernel (so
/// a zero-length write sends no empty datagram: use `send` for that).
#[inline]
#[track_caller]
pub fn write_at<B: IoBuf>(fd: &SharedFd, buf: B, offset: u64) -> Op<Write<B>> {
    Op::submit(Write::new(fd, buf, offset))
}

/// Writes at the current position.
#[inline]
#[track_caller]
pub fn write<B: IoBuf>(fd: &SharedFd, buf: B) -> Op<Write<B>> {
    write_at(fd, buf, CURRENT_POSITION)
}

/// Vectored read at `offset` (IORING_OP_READV).
#[inline]
#[track_caller]
pub fn readv_at<B: IoBufMut>(fd: &SharedFd, bufs: Vec<B>, offset: u64) -> Op<Readv<B>> {
    Op::submit(Readv::new(fd, bufs, offset))
}

/// Vectored write at `offset` (IORING_OP_WRITEV).
#[inline]
#[track_caller]
pub fn writev_at<B: IoBuf>(fd: &SharedFd, bufs: Vec<B>, offset: u64) -> Op<Writev<B>> {
    Op::submit(Writev::new(fd, bufs, offset))
}

/// A kernel timer (IORING_OP_TIMEOUT): `Ok(())` when it fires.
#[inline]
#[track_caller]
pub fn timeout(dur: Duration) -> Op<Timeout> {
    Op::submit(Timeout::new(dur))
}

/// Cancels the op with `user_data` (IORING_OP_ASYNC_CANCEL).
#[inline]
#[track_caller]
pub fn cancel(user_data: u64) -> Op<AsyncCancel> {
    Op::submit(AsyncCancel::new(user_data))
}

/// Closes `fd` through the ring (IORING_OP_CLOSE) once no op holds it
/// any more: waits for the other clones (ops in flight) to go first, so
/// the fd number is never reused under a pending op.
pub async fn close(fd: SharedFd) -> io::Result<()> {
    poll_fn(|cx| {
        if fd.wait_sole_owner(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match fd.try_unwrap() {
        Ok(owned) => Op::submit(Close::new(owned)).await,
        // Unreachable: we are the sole owner and nothing can clone `fd`.
        Err(fd) => {
            drop(fd);
            Ok(())
        }
    }
}

/// Reads exactly `buf.bytes_total()` bytes at `offset`, resubmitting after
/// short reads. `UnexpectedEof` if the file ends first; the buffer comes
/// back either way with what was read.
pub async fn read_exact_at<B: IoBufMut>(fd: &SharedFd, buf: B, offset: u64) -> BufResult<(), B> {
    read_exact_at_via(fd, buf, offset, Via::Plain).await
}

/// [`read_exact_at`] with every read submitted as [`Offload`]
/// (IOSQE_ASYNC: run by the kernel's io-wq workers).
pub async fn read_exact_at_offloaded<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> BufResult<(), B> {
    read_exact_at_via(fd, buf, offset, Via::Offload).await
}

/// How [`read_exact_at_via`] and [`write_all_at_via`] submit their ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// As they are.
    #[default]
    Plain,
    /// As [`Offload`] (IOSQE_ASYNC, on the kernel's io-wq workers).
    Offload,
    /// As [`Device`] (submitted in small groups as pushed; for O_DIRECT).
    Device,
}

/// Submits `op` the way `via` says: as it is, as [`Offload`], or as
/// [`Device`].
#[inline]
pub async fn submit_via<T: OpCode>(op: T, via: Via) -> T::Output {
    match via {
        Via::Plain => Op::submit(op).await,
        Via::Offload => Op::submit(Offload(op)).await,
        Via::Device => Op::submit(Device(op)).await,
    }
}

/// [`read_exact_at`], each read submitted the way `via` says.
pub async fn read_exact_at_via<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
    via: Via,
) -> BufResult<(), B> {
    let total = buf.bytes_total();
    let mut slice = buf.slice(..);
    let mut done = 0usize;
    while done < total {
        let read = Read::new(fd, slice, advance(offset, done));
        let (res, s) = submit_via(read, via).await;
        let b = s.into_inner();
        match res {
            Ok(0) => {
                return (
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ended first",
                    )),
                    b,
                )
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), b),
        }
        slice = b.slice(done..);
    }
    (Ok(()), slice.into_inner())
}

/// Writes all of `buf`'s initialized bytes at `offset`, resubmitting after
/// short writes. `WriteZero` if the kernel accepts nothing.
pub async fn write_all_at<B: IoBuf>(fd: &SharedFd, buf: B, offset: u64) -> BufResult<(), B> {
    write_all_at_via(fd, buf, offset, Via::Plain).await
}

/// [`write_all_at`] with every write submitted as [`Offload`]
/// (IOSQE_ASYNC: run by the kernel's io-wq workers).
pub async fn write_all_at_offloaded<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> BufResult<(), B> {
    write_all_at_via(fd, buf, offset, Via::Offload).await
}

/// [`write_all_at`], each write submitted the way `via` says.
pub async fn write_all_at_via<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
    via: Via,
) -> BufResult<(), B> {
    let total = buf.bytes_init();
    let mut done = 0usize;
    let mut buf = buf;
    while done < total {
        let write = Write::new(fd, buf.slice(done..total), advance(offset, done));
        let (res, s) = submit_via(write, via).await;
        buf = s.into_inner();
        match res {
            Ok(0) => {
                return (
                    Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes")),
                    buf,
                )
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// The offset `done` bytes after `offset`; the current position stays the
/// current position (the kernel advances it).
fn advance(offset: u64, done: usize) -> u64 {
    if offset == CURRENT_POSITION {
        CURRENT_POSITION
    } else {
        offset.saturating_add(done as u64)
    }
}
