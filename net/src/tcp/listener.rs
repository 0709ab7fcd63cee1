//! `TcpListener`: a listening socket, its builder (SO_REUSEPORT, backlog),
//! single accepts, and the multishot accept stream.

use super::stream::TcpStream;
use crate::accept_loop::AcceptLoop;
use crate::addr::{each_addr, not_inet};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Accept, Op};
use futures_core::Stream;
use socket2::{Domain, SockRef, Socket, Type};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The listen backlog when none is set (the kernel caps it at
/// `net.core.somaxconn`).
pub const DEFAULT_BACKLOG: i32 = 1024;

/// A TCP listening socket.
///
/// [`accept`](TcpListener::accept) takes one connection per op;
/// [`incoming`](TcpListener::incoming) keeps one multishot accept in the
/// ring for a stream of connections, the cheaper way to serve many.
///
/// # Examples
///
/// An echo server that serves each connection in a task of its own:
///
/// ```
/// use coring_net::{TcpListener, TcpStream};
///
/// coring_runtime::start(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     coring_runtime::spawn(async move {
///         let mut incoming = listener.incoming();
///         while let Ok(stream) = incoming.accept().await {
///             coring_runtime::spawn(async move {
///                 let mut buf = Vec::with_capacity(4096);
///                 loop {
///                     let (res, b) = stream.read(buf).await;
///                     match res {
///                         Ok(n) if n > 0 => {}
///                         _ => return,
///                     }
///                     let (res, b) = stream.write_all(b).await;
///                     if res.is_err() {
///                         return;
///                     }
///                     buf = b;
///                     buf.clear();
///                 }
///             });
///         }
///     });
///     let client = TcpStream::connect(addr).await?;
///     let (res, _) = client.write_all(b"ping".to_vec()).await;
///     res?;
///     let (res, reply) = client.read_exact(vec![0; 4]).await;
///     res?;
///     assert_eq!(reply, b"ping");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct TcpListener {
    fd: SharedFd,
}

/// Options for a [`TcpListener`]: required address in `bind`, the rest
/// chained with defaults (SO_REUSEADDR on, SO_REUSEPORT off, backlog
/// [`DEFAULT_BACKLOG`]).
///
/// ```
/// coring_runtime::start(async {
///     let l = coring_net::TcpListener::builder()
///         .reuse_port(true)
///         .backlog(4096)
///         .bind("127.0.0.1:0")?;
///     assert!(l.local_addr()?.port() != 0);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct TcpListenerBuilder {
    reuse_addr: bool,
    reuse_port: bool,
    backlog: i32,
    only_v6: Option<bool>,
}

impl Default for TcpListenerBuilder {
    fn default() -> Self {
        TcpListenerBuilder {
            reuse_addr: true,
            reuse_port: false,
            backlog: DEFAULT_BACKLOG,
            only_v6: None,
        }
    }
}

impl TcpListenerBuilder {
    /// SO_REUSEADDR (default on): rebind a port still in TIME_WAIT.
    pub fn reuse_addr(mut self, on: bool) -> Self {
        self.reuse_addr = on;
        self
    }

    /// SO_REUSEPORT (default off): several sockets, typically one per
    /// core, bind the same address and the kernel spreads connections
    /// among them.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The listen(2) backlog (default [`DEFAULT_BACKLOG`]).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// IPV6_V6ONLY for an IPv6 address (default: the system's).
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }

    /// Creates, binds and listens, trying each address `addr` resolves to.
    ///
    /// # Errors
    ///
    /// The kernel's error: `AddrInUse`, `PermissionDenied`, ... .
    pub fn bind<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| self.bind_addr(a))
    }

    fn bind_addr(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(self.reuse_addr)?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if let (Some(v6), SocketAddr::V6(_)) = (self.only_v6, addr) {
            socket.set_only_v6(v6)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(self.backlog)?;
        Ok(TcpListener {
            fd: SharedFd::new(OwnedFd::from(socket)),
        })
    }
}

impl TcpListener {
    /// Binds with the default options (see [`TcpListenerBuilder`]).
    ///
    /// # Errors
    ///
    /// The kernel's error: `AddrInUse`, `PermissionDenied`, ... .
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListenerBuilder::default().bind(addr)
    }

    /// A builder for SO_REUSEPORT, the backlog and the rest.
    pub fn builder() -> TcpListenerBuilder {
        TcpListenerBuilder::default()
    }

    /// Wraps a listening std socket.
    pub fn from_std(listener: std::net::TcpListener) -> TcpListener {
        TcpListener {
            fd: SharedFd::new(OwnedFd::from(listener)),
        }
    }

    /// Gives the socket back as a std listener.
    ///
    /// # Errors
    ///
    /// An `Other` error, with the listener back, while an accept is in
    /// flight (an [`Incoming`] alive, or a dropped accept not yet done).
    pub fn into_std(self) -> Result<std::net::TcpListener, (io::Error, TcpListener)> {
        match self.fd.try_unwrap() {
            Ok(fd) => Ok(std::net::TcpListener::from(fd)),
            Err(fd) => Err((super::stream::busy(), TcpListener { fd })),
        }
    }

    /// Accepts one connection (IORING_OP_ACCEPT). Dropping the future
    /// cancels the accept; a connection the kernel accepted anyway is
    /// closed, never leaked.
    ///
    /// # Errors
    ///
    /// The kernel's error: `EMFILE` (out of fds) and `ENFILE` leave the
    /// connection queued, so accepting again later works.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = Op::submit(Accept::new(&self.fd)).await?;
        let stream = TcpStream::from_shared(SharedFd::new(fd));
        Ok((stream, addr.as_socket().ok_or_else(not_inet)?))
    }

    /// A stream of connections from one multishot accept kept in the ring
    /// (one SQE for many connections). The kernel ends a multishot accept
    /// on an error or a full CQ; the stream yields the error, if any, and
    /// re-arms on the next poll, so it never ends. It holds the socket,
    /// not the listener: it may outlive it.
    pub fn incoming(&self) -> Incoming {
        Incoming {
            inner: AcceptLoop::new(self.fd.clone()),
        }
    }

    /// The local address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(not_inet)
    }

    /// The socket's shared fd, for ops of your own.
    pub fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        d.field("fd", &self.fd.raw());
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.finish()
    }
}

/// Connections from a multishot accept, from [`TcpListener::incoming`]: a
/// `Stream` of `io::Result<TcpStream>` that never ends. Dropping it
/// cancels the accept; connections accepted meanwhile are closed.
///
/// Kernels without multishot accept (before 5.19) answer `EINVAL`; the
/// stream then goes on with one accept op per connection.
pub struct Incoming {
    inner: AcceptLoop,
}

impl Incoming {
    /// The next connection.
    ///
    /// # Errors
    ///
    /// The kernel's accept error (`EMFILE`, ...); the next call accepts
    /// again.
    pub async fn accept(&mut self) -> io::Result<TcpStream> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        self.inner
            .poll_accept(cx)
            .map(|r| r.map(TcpStream::from_shared))
    }
}

impl Stream for Incoming {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_accept(cx).map(Some)
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Incoming").field(&self.inner).finish()
    }
}
