//! `UnixStream`: a connected Unix stream socket.

use super::{local_addr, peer_addr, to_sockaddr};
use crate::recv_stream::RecvStream;
use crate::stream_io::{self, ReadExact, WriteAll};
use coring_runtime::buf::{BufRing, IoBuf, IoBufMut};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Connect, Op, Recv, Send, Shutdown, SockAddr};
use socket2::{Domain, Socket, Type};
use std::fmt;
use std::io;
use std::net::Shutdown as How;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::Path;

/// A Unix stream connection; the same owned-buffer API as
/// [`TcpStream`](crate::TcpStream).
pub struct UnixStream {
    fd: SharedFd,
}

impl UnixStream {
    /// Connects to the socket at `path` (IORING_OP_CONNECT).
    ///
    /// # Errors
    ///
    /// `NotFound`, `ConnectionRefused`, or `InvalidInput` for a path over
    /// 107 bytes.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        Self::connect_sockaddr(SockAddr::unix_path(path)?).await
    }

    /// Connects to `addr`, a path or an abstract name.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub async fn connect_addr(addr: &UnixAddr) -> io::Result<UnixStream> {
        Self::connect_sockaddr(to_sockaddr(addr)?).await
    }

    async fn connect_sockaddr(addr: SockAddr) -> io::Result<UnixStream> {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        let fd = SharedFd::new(OwnedFd::from(s));
        Op::submit(Connect::new(&fd, addr)).await?;
        Ok(UnixStream { fd })
    }

    /// A connected pair (socketpair(2)).
    ///
    /// # Errors
    ///
    /// The kernel's error (`EMFILE`, ...).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        Ok((Self::from_owned(a.into()), Self::from_owned(b.into())))
    }

    pub(crate) fn from_shared(fd: SharedFd) -> UnixStream {
        UnixStream { fd }
    }

    fn from_owned(fd: OwnedFd) -> UnixStream {
        UnixStream {
            fd: SharedFd::new(fd),
        }
    }

    /// Wraps a connected std stream.
    pub fn from_std(s: std::os::unix::net::UnixStream) -> UnixStream {
        Self::from_owned(s.into())
    }

    /// Gives the socket back as a std stream.
    ///
    /// # Errors
    ///
    /// An `Other` error, with the stream back, while an op on it is in
    /// flight.
    pub fn into_std(self) -> Result<std::os::unix::net::UnixStream, (io::Error, UnixStream)> {
        match self.fd.try_unwrap() {
            Ok(fd) => Ok(fd.into()),
            Err(fd) => Err((crate::tcp::busy(), UnixStream { fd })),
        }
    }

    /// Receives into `buf`; `Ok(0)` at end of stream.
    #[inline]
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> Op<Recv<B>> {
        Op::submit(Recv::new(&self.fd, buf))
    }

    /// Sends `buf`'s initialized bytes; the count may be short.
    #[inline]
    #[track_caller]
    pub fn write<B: IoBuf>(&self, buf: B) -> Op<Send<B>> {
        Op::submit(Send::new(&self.fd, buf))
    }

    /// Receives until `buf` is full.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the peer closes first, or the kernel's error.
    #[inline]
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(&self, buf: B) -> ReadExact<'_, B> {
        stream_io::read_exact(&self.fd, buf)
    }

    /// Sends all of `buf`'s initialized bytes; see
    /// [`TcpStream::write_all`](crate::TcpStream::write_all).
    ///
    /// # Errors
    ///
    /// The kernel's error, or `WriteZero`.
    #[inline]
    #[track_caller]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> WriteAll<'_, B> {
        stream_io::write_all(&self.fd, buf)
    }

    /// Shuts down one side or both.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub async fn shutdown(&self, how: How) -> io::Result<()> {
        Op::submit(Shutdown::new(&self.fd, how)).await
    }

    /// The received bytes as buffers from `ring`; see
    /// [`TcpStream::recv_stream`](crate::TcpStream::recv_stream).
    pub fn recv_stream(&self, ring: &BufRing) -> RecvStream {
        RecvStream::new(self.fd.clone(), ring)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<UnixAddr> {
        local_addr(&self.fd)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixAddr> {
        peer_addr(&self.fd)
    }

    /// The socket's shared fd, for ops of your own.
    pub fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.fd.raw())
            .finish()
    }
}
