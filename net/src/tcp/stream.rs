//! `TcpStream`: a TCP connection whose reads and writes are io_uring ops.

use super::split::{OwnedReadHalf, OwnedWriteHalf};
use crate::addr::{each_addr_async, not_inet};
use crate::recv_stream::RecvStream;
use crate::stream_io::{self, ReadExact, WriteAll};
use coring_runtime::buf::{BufRing, IoBuf, IoBufMut};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{
    Connect, Op, Readv, Recv, Send, SendZc, SendZcFuture, Shutdown, SockAddr, Writev,
};
use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};
use std::fmt;
use std::io;
use std::net::{Shutdown as How, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

/// The offset for stream ops: sockets have no file position.
const NO_OFFSET: u64 = u64::MAX;

/// A TCP connection.
///
/// Reads and writes take owned buffers and give them back with the
/// result. They take `&self`, so one task may read and write at once
/// (`join` the two futures); [`into_split`](TcpStream::into_split) gives
/// halves for two tasks. Dropping the stream closes the socket once no op
/// on it is in flight.
///
/// # Examples
///
/// A buffer goes in with each call and comes back with its result, so one
/// buffer serves a whole exchange:
///
/// ```
/// use coring_net::{TcpListener, TcpStream};
///
/// coring_runtime::start(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _peer) = listener.accept().await?;
///     let (res, buf) = client.write_all(b"hello".to_vec()).await;
///     res?;
///     // `read` fills the buffer's spare capacity: give it room.
///     let (res, buf) = server.read(Vec::with_capacity(buf.len())).await;
///     assert_eq!(&buf[..res?], b"hello");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct TcpStream {
    fd: SharedFd,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn
    /// (IORING_OP_CONNECT). A host name is resolved with the system
    /// resolver, which blocks this core for the lookup; pass a
    /// `SocketAddr` to avoid that.
    ///
    /// # Errors
    ///
    /// The last address's error: `ConnectionRefused`, `TimedOut`, ... .
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr_async(addr, Self::connect_addr).await
    }

    /// Connects to one address.
    ///
    /// # Errors
    ///
    /// The kernel's error, e.g. `ConnectionRefused`.
    pub async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        let fd = SharedFd::new(OwnedFd::from(socket));
        Op::submit(Connect::new(&fd, SockAddr::from(addr))).await?;
        Ok(TcpStream { fd })
    }

    pub(crate) fn from_shared(fd: SharedFd) -> TcpStream {
        TcpStream { fd }
    }

    /// Wraps a connected std stream (blocking or not: io_uring works with
    /// either).
    pub fn from_std(stream: std::net::TcpStream) -> TcpStream {
        TcpStream {
            fd: SharedFd::new(OwnedFd::from(stream)),
        }
    }

    /// Gives the socket back as a std stream.
    ///
    /// # Errors
    ///
    /// An `Other` error, with the stream back, while an op
    /// on the socket is still in flight (a dropped read whose cancel has not
    /// completed, or a live half).
    pub fn into_std(self) -> Result<std::net::TcpStream, (io::Error, TcpStream)> {
        match self.fd.try_unwrap() {
            Ok(fd) => Ok(std::net::TcpStream::from(fd)),
            Err(fd) => Err((busy(), TcpStream { fd })),
        }
    }

    /// Receives into `buf` (IORING_OP_RECV), up to `buf.bytes_total()`
    /// bytes. Output: `(io::Result<usize>, buf)`; `Ok(0)` means the peer
    /// closed its side (or `buf` has no room).
    #[inline]
    #[track_caller]
    pub fn read<B: IoBufMut>(&self, buf: B) -> Op<Recv<B>> {
        Op::submit(Recv::new(&self.fd, buf))
    }

    /// Sends `buf`'s initialized bytes (IORING_OP_SEND); the count sent
    /// may be short. Output: `(io::Result<usize>, buf)`.
    #[inline]
    #[track_caller]
    pub fn write<B: IoBuf>(&self, buf: B) -> Op<Send<B>> {
        Op::submit(Send::new(&self.fd, buf))
    }

    /// Sends `buf` with IORING_OP_SEND_ZC (6.0): the kernel may send from
    /// the buffer's pages in place instead of copying them, and the
    /// future resolves only after the kernel's notification that it let go
    /// of the buffer — one more CQE per send. Worth it for large buffers
    /// to a real NIC; on loopback the kernel copies anyway, so it only
    /// costs there. The count may be short. `EINVAL` on kernels without it.
    pub fn write_zc<B: IoBuf>(&self, buf: B) -> SendZcFuture<B> {
        SendZc::new(&self.fd, buf).submit()
    }

    /// Receives until `buf` holds `buf.bytes_total()` bytes. The first
    /// receive is submitted now, like [`read`](Self::read)'s; the returned
    /// [`ReadExact`] finishes the job and gives the buffer back.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the peer closes first (the buffer's length shows
    /// what did arrive), or the kernel's error.
    #[inline]
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(&self, buf: B) -> ReadExact<'_, B> {
        stream_io::read_exact(&self.fd, buf)
    }

    /// Sends all of `buf`'s initialized bytes, however many sends it takes.
    /// The first send is submitted now, like [`write`](Self::write)'s; the
    /// returned [`WriteAll`] finishes the job and gives the buffer back.
    ///
    /// # Errors
    ///
    /// The kernel's error (`BrokenPipe`, `ConnectionReset`), or
    /// `WriteZero`.
    #[inline]
    #[track_caller]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> WriteAll<'_, B> {
        stream_io::write_all(&self.fd, buf)
    }

    /// Vectored receive (IORING_OP_READV): fills the buffers in order.
    #[inline]
    #[track_caller]
    pub fn readv<B: IoBufMut>(&self, bufs: Vec<B>) -> Op<Readv<B>> {
        Op::submit(Readv::new(&self.fd, bufs, NO_OFFSET))
    }

    /// Vectored send (IORING_OP_WRITEV) of each buffer's initialized
    /// bytes, in order; the count may be short.
    #[inline]
    #[track_caller]
    pub fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> Op<Writev<B>> {
        Op::submit(Writev::new(&self.fd, bufs, NO_OFFSET))
    }

    /// Shuts down the read side, the write side or both
    /// (IORING_OP_SHUTDOWN). After `Write`, the peer reads end-of-stream.
    ///
    /// # Errors
    ///
    /// `NotConnected` when the socket is not connected.
    pub async fn shutdown(&self, how: How) -> io::Result<()> {
        Op::submit(Shutdown::new(&self.fd, how)).await
    }

    /// Sets TCP_NODELAY: send small segments at once instead of
    /// coalescing them (Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock().set_nodelay(nodelay)
    }

    /// Whether TCP_NODELAY is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock().nodelay()
    }

    /// Turns TCP keepalive on, probing after `idle` without traffic, or
    /// off with `None`.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        let sock = self.sock();
        match idle {
            Some(t) => sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(t)),
            None => sock.set_keepalive(false),
        }
    }

    /// Whether SO_KEEPALIVE is on.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.sock().keepalive()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock().local_addr()?.as_socket().ok_or_else(not_inet)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock().peer_addr()?.as_socket().ok_or_else(not_inet)
    }

    /// The received bytes as a stream of buffers from `ring`, through one
    /// multishot receive (6.0): an idle connection holds no buffer. See
    /// [`RecvStream`]. Don't mix it with `read` on the same stream: the
    /// bytes would be split between them.
    pub fn recv_stream(&self, ring: &BufRing) -> RecvStream {
        RecvStream::new(self.fd.clone(), ring)
    }

    /// Splits into a read half and a write half, usable from two tasks of
    /// this core at once.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        super::split::split(self.fd)
    }

    /// The socket's shared fd, for ops of your own.
    pub fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }
}

pub(crate) fn busy() -> io::Error {
    io::Error::other(
        "the socket still has ops in flight (or another owner); try again after they complete",
    )
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        d.field("fd", &self.fd.raw());
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.finish()
    }
}
