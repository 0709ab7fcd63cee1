//! A TCP stream's owned halves, for a reader task and a writer task.

use super::stream::TcpStream;
use crate::recv_stream::RecvStream;
use crate::stream_io::{self, ReadExact, WriteAll};
use coring_runtime::buf::{BufRing, IoBuf, IoBufMut};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, Recv, Send, Shutdown};
use std::fmt;
use std::io;
use std::net::{Shutdown as How, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

/// The read half of a [`TcpStream`], from [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    fd: SharedFd,
    pair: Rc<()>,
}

/// The write half of a [`TcpStream`], from [`TcpStream::into_split`].
/// Dropping it does not shut the connection down; call
/// [`shutdown`](OwnedWriteHalf::shutdown) to send end-of-stream.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    fd: SharedFd,
    pair: Rc<()>,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different
/// streams; they are given back.
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

pub(super) fn split(fd: SharedFd) -> (OwnedReadHalf, OwnedWriteHalf) {
    let pair = Rc::new(());
    let r = OwnedReadHalf {
        fd: fd.clone(),
        pair: pair.clone(),
    };
    (r, OwnedWriteHalf { fd, pair })
}

impl OwnedReadHalf {
    /// Receives into `buf`; see [`TcpStream::read`].
    #[inline]
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> Op<Recv<B>> {
        Op::submit(Recv::new(&self.fd, buf))
    }

    /// Receives until `buf` is full; see [`TcpStream::read_exact`].
    #[inline]
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(&self, buf: B) -> ReadExact<'_, B> {
        stream_io::read_exact(&self.fd, buf)
    }

    /// The received bytes as buffers from `ring`; see
    /// [`TcpStream::recv_stream`].
    pub fn recv_stream(&self, ring: &BufRing) -> RecvStream {
        RecvStream::new(self.fd.clone(), ring)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::from_shared(self.fd.clone()).peer_addr()
    }

    /// Puts the stream back together with its write half.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] when `w` belongs to another stream.
    pub fn reunite(self, w: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Rc::ptr_eq(&self.pair, &w.pair) {
            return Err(ReuniteError(self, w));
        }
        drop(w);
        Ok(TcpStream::from_shared(self.fd))
    }
}

impl OwnedWriteHalf {
    /// Sends `buf`; see [`TcpStream::write`].
    #[inline]
    #[track_caller]
    pub fn write<B: IoBuf>(&self, buf: B) -> Op<Send<B>> {
        Op::submit(Send::new(&self.fd, buf))
    }

    /// Sends all of `buf`; see [`TcpStream::write_all`].
    #[inline]
    #[track_caller]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> WriteAll<'_, B> {
        stream_io::write_all(&self.fd, buf)
    }

    /// Shuts the write side down: the peer reads end-of-stream.
    pub async fn shutdown(&self) -> io::Result<()> {
        Op::submit(Shutdown::new(&self.fd, How::Write)).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::from_shared(self.fd.clone()).local_addr()
    }
}

impl AsRawFd for OwnedReadHalf {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsRawFd for OwnedWriteHalf {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the two halves came from different streams")
    }
}

impl std::error::Error for ReuniteError {}
