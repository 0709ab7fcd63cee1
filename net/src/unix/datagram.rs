//! `UnixDatagram`: Unix datagram sockets.

use super::{local_addr, peer_addr, sender, to_sockaddr};
use coring_runtime::buf::{BufResult, IoBuf, IoBufMut};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Connect, Op, Recv, RecvMsg, Send, SendMsg, SockAddr};
use socket2::{Domain, Socket, Type};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::Path;

/// A Unix datagram socket, bound to a path or an abstract name, or
/// unbound.
///
/// ```
/// coring_runtime::start(async {
///     let (a, b) = coring_net::UnixDatagram::pair()?;
///     let (res, _) = a.send(b"one".to_vec()).await;
///     res?;
///     let (res, buf) = b.recv(Vec::with_capacity(8)).await;
///     assert_eq!(&buf[..res?], b"one");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct UnixDatagram {
    fd: SharedFd,
}

impl UnixDatagram {
    /// A socket bound to `path`.
    ///
    /// # Errors
    ///
    /// The kernel's error (`AddrInUse` when the file exists).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        Ok(Self::from_std(std::os::unix::net::UnixDatagram::bind(
            path,
        )?))
    }

    /// A socket bound to `addr`, a path or an abstract name.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn bind_addr(addr: &UnixAddr) -> io::Result<UnixDatagram> {
        Ok(Self::from_std(std::os::unix::net::UnixDatagram::bind_addr(
            addr,
        )?))
    }

    /// An unbound socket (it can send, and receive once connected).
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn unbound() -> io::Result<UnixDatagram> {
        let s = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
        Ok(UnixDatagram {
            fd: SharedFd::new(s.into()),
        })
    }

    /// A connected pair (socketpair(2)).
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None)?;
        let wrap = |s: Socket| UnixDatagram {
            fd: SharedFd::new(OwnedFd::from(s)),
        };
        Ok((wrap(a), wrap(b)))
    }

    /// Wraps a std socket.
    pub fn from_std(s: std::os::unix::net::UnixDatagram) -> UnixDatagram {
        UnixDatagram {
            fd: SharedFd::new(s.into()),
        }
    }

    /// Sets the default destination (IORING_OP_CONNECT).
    ///
    /// # Errors
    ///
    /// The kernel's error (`NotFound`, `ConnectionRefused`).
    pub async fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        Op::submit(Connect::new(&self.fd, SockAddr::unix_path(path)?)).await
    }

    /// Sets the default destination to `addr`, a path or an abstract name.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub async fn connect_addr(&self, addr: &UnixAddr) -> io::Result<()> {
        Op::submit(Connect::new(&self.fd, to_sockaddr(addr)?)).await
    }

    /// Sends one datagram to the connected peer.
    #[inline]
    #[track_caller]
    pub fn send<B: IoBuf>(&self, buf: B) -> Op<Send<B>> {
        Op::submit(Send::new(&self.fd, buf))
    }

    /// Receives one datagram (cut to the buffer's room).
    #[inline]
    #[track_caller]
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Op<Recv<B>> {
        Op::submit(Recv::new(&self.fd, buf))
    }

    /// Sends one datagram to the socket at `path`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        match SockAddr::unix_path(path) {
            Ok(a) => self.send_to_sockaddr(buf, a).await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Sends one datagram to `addr`, a path or an abstract name.
    pub async fn send_to_addr<B: IoBuf>(&self, buf: B, addr: &UnixAddr) -> BufResult<usize, B> {
        match to_sockaddr(addr) {
            Ok(a) => self.send_to_sockaddr(buf, a).await,
            Err(e) => (Err(e), buf),
        }
    }

    async fn send_to_sockaddr<B: IoBuf>(&self, buf: B, a: SockAddr) -> BufResult<usize, B> {
        let (res, mut bufs) = Op::submit(SendMsg::new(&self.fd, vec![buf], Some(a))).await;
        match bufs.pop() {
            Some(b) => (res, b),
            None => lost_buffer(),
        }
    }

    /// Receives one datagram and the sender's address (unnamed when the
    /// sender is unbound).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, UnixAddr), B> {
        let (res, mut bufs) = Op::submit(RecvMsg::new(&self.fd, vec![buf])).await;
        let Some(b) = bufs.pop() else { lost_buffer() };
        let res = res.and_then(|(n, a)| Ok((n, sender(&a)?)));
        (res, b)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<UnixAddr> {
        local_addr(&self.fd)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixAddr> {
        peer_addr(&self.fd)
    }

    /// The socket's shared fd, for ops of your own.
    pub fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

/// A one-element Vec came back empty: ops give their buffers back intact.
#[cold]
fn lost_buffer() -> ! {
    panic!("coring: an op lost its buffer (a coring bug)")
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.fd.raw())
            .finish()
    }
}
