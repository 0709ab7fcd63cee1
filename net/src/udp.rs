//! `UdpSocket`: datagrams over io_uring.

use crate::addr::{each_addr, not_inet, resolve};
use coring_runtime::buf::{BufResult, IoBuf, IoBufMut};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, Recv, RecvMsg, Send, SendMsg, SockAddr};
use socket2::{Domain, SockRef, Socket, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// A UDP socket. Sends and receives take owned buffers and give them back
/// with the result; each receive takes one datagram (cut to the buffer's
/// room, as recv(2) does).
///
/// ```
/// coring_runtime::start(async {
///     let a = coring_net::UdpSocket::bind("127.0.0.1:0")?;
///     let b = coring_net::UdpSocket::bind("127.0.0.1:0")?;
///     let (res, _) = a.send_to(b"hi".to_vec(), b.local_addr()?).await;
///     res?;
///     let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
///     let (n, from) = res?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct UdpSocket {
    fd: SharedFd,
}

impl UdpSocket {
    /// Binds a socket to `addr` (the first address it resolves to that
    /// works).
    ///
    /// # Errors
    ///
    /// The kernel's error: `AddrInUse`, `AddrNotAvailable`, ... .
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            let s = Socket::new(Domain::for_address(a), Type::DGRAM, None)?;
            s.bind(&a.into())?;
            Ok(UdpSocket {
                fd: SharedFd::new(OwnedFd::from(s)),
            })
        })
    }

    /// Wraps a std socket.
    pub fn from_std(socket: std::net::UdpSocket) -> UdpSocket {
        UdpSocket {
            fd: SharedFd::new(OwnedFd::from(socket)),
        }
    }

    /// Gives the socket back as a std socket.
    ///
    /// # Errors
    ///
    /// An `Other` error, with the socket back, while an op on it is in
    /// flight.
    pub fn into_std(self) -> Result<std::net::UdpSocket, (io::Error, UdpSocket)> {
        match self.fd.try_unwrap() {
            Ok(fd) => Ok(std::net::UdpSocket::from(fd)),
            Err(fd) => Err((crate::tcp::busy(), UdpSocket { fd })),
        }
    }

    /// Sets the default destination, and receives only from it. (A UDP
    /// connect sends nothing; it is a plain system call.)
    ///
    /// # Errors
    ///
    /// The kernel's error, or none of the addresses worked.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| SockRef::from(&self.fd).connect(&a.into()))
    }

    /// Sends `buf` to the connected peer (IORING_OP_SEND).
    #[inline]
    #[track_caller]
    pub fn send<B: IoBuf>(&self, buf: B) -> Op<Send<B>> {
        Op::submit(Send::new(&self.fd, buf))
    }

    /// Receives one datagram from the connected peer (IORING_OP_RECV).
    #[inline]
    #[track_caller]
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Op<Recv<B>> {
        Op::submit(Recv::new(&self.fd, buf))
    }

    /// Sends `buf` as one datagram to `addr` (IORING_OP_SENDMSG).
    ///
    /// # Errors
    ///
    /// The kernel's error; `InvalidInput` when `addr` resolves to nothing.
    pub async fn send_to<B: IoBuf, A: ToSocketAddrs>(
        &self,
        buf: B,
        addr: A,
    ) -> BufResult<usize, B> {
        let a = match resolve(addr) {
            Ok(v) => v[0],
            Err(e) => return (Err(e), buf),
        };
        let (res, mut bufs) = self.sendmsg(vec![buf], Some(a)).await;
        match bufs.pop() {
            Some(b) => (res, b),
            None => unreachable_buf(),
        }
    }

    /// Receives one datagram and its sender's address
    /// (IORING_OP_RECVMSG).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (res, mut bufs) = self.recvmsg(vec![buf]).await;
        let Some(b) = bufs.pop() else {
            unreachable_buf()
        };
        let res = res.and_then(|(n, a)| Ok((n, a.as_socket().ok_or_else(not_inet)?)));
        (res, b)
    }

    /// Sends the buffers as one datagram (gathered), to `addr` or to the
    /// connected peer.
    #[inline]
    #[track_caller]
    pub fn sendmsg<B: IoBuf>(&self, bufs: Vec<B>, addr: Option<SocketAddr>) -> Op<SendMsg<B>> {
        Op::submit(SendMsg::new(&self.fd, bufs, addr.map(SockAddr::from)))
    }

    /// Receives one datagram scattered over the buffers, with the sender's
    /// address (a [`SockAddr`]; [`SockAddr::as_socket`] gives the IP one).
    #[inline]
    #[track_caller]
    pub fn recvmsg<B: IoBufMut>(&self, bufs: Vec<B>) -> Op<RecvMsg<B>> {
        Op::submit(RecvMsg::new(&self.fd, bufs))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(not_inet)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.fd)
            .peer_addr()?
            .as_socket()
            .ok_or_else(not_inet)
    }

    /// Sets SO_BROADCAST.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        SockRef::from(&self.fd).set_broadcast(on)
    }

    /// The socket's shared fd, for ops of your own.
    pub fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

/// A one-element Vec came back empty: ops give their buffers back intact.
#[cold]
fn unreachable_buf() -> ! {
    panic!("coring: an op lost its buffer (a coring bug)")
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        d.field("fd", &self.fd.raw());
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.finish()
    }
}
