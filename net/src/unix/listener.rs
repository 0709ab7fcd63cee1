//! `UnixListener`: a listening Unix stream socket.

use super::{local_addr, not_unix, UnixStream};
use crate::accept_loop::AcceptLoop;
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Accept, Op};
use futures_core::Stream;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A Unix stream listener on a path or an abstract name.
///
/// ```
/// use std::os::linux::net::SocketAddrExt;
/// coring_runtime::start(async {
///     let name = std::os::unix::net::SocketAddr::from_abstract_name(b"coring-doc-listener")?;
///     let l = coring_net::UnixListener::bind_addr(&name)?;
///     let c = coring_net::UnixStream::connect_addr(&name).await?;
///     let (s, _) = l.accept().await?;
///     let (res, _) = c.write_all(b"hi".to_vec()).await;
///     res?;
///     let (res, buf) = s.read_exact(vec![0; 2]).await;
///     res?;
///     assert_eq!(buf, b"hi");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct UnixListener {
    fd: SharedFd,
}

impl UnixListener {
    /// Binds to `path` and listens. The file stays after the listener
    /// goes; remove it yourself.
    ///
    /// # Errors
    ///
    /// The kernel's error: `AddrInUse` when the file exists, ... .
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Ok(Self::from_std(std::os::unix::net::UnixListener::bind(
            path,
        )?))
    }

    /// Binds to `addr` (a path or an abstract name) and listens.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn bind_addr(addr: &UnixAddr) -> io::Result<UnixListener> {
        Ok(Self::from_std(std::os::unix::net::UnixListener::bind_addr(
            addr,
        )?))
    }

    /// Wraps a listening std socket.
    pub fn from_std(l: std::os::unix::net::UnixListener) -> UnixListener {
        UnixListener {
            fd: SharedFd::new(OwnedFd::from(l)),
        }
    }

    /// Accepts one connection (IORING_OP_ACCEPT); a cancelled accept never
    /// leaks the socket.
    ///
    /// # Errors
    ///
    /// The kernel's error (`EMFILE`, ...).
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixAddr)> {
        let (fd, addr) = Op::submit(Accept::new(&self.fd)).await?;
        let addr = addr.as_unix().ok_or_else(not_unix)?;
        Ok((UnixStream::from_shared(SharedFd::new(fd)), addr))
    }

    /// A never-ending stream of connections over one multishot accept; see
    /// [`TcpListener::incoming`](crate::TcpListener::incoming).
    pub fn incoming(&self) -> UnixIncoming {
        UnixIncoming {
            inner: AcceptLoop::new(self.fd.clone()),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<UnixAddr> {
        local_addr(&self.fd)
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.fd.raw())
            .finish()
    }
}

/// Connections from [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming {
    inner: AcceptLoop,
}

impl UnixIncoming {
    /// The next connection.
    ///
    /// # Errors
    ///
    /// The kernel's accept error; the next call accepts again.
    pub async fn accept(&mut self) -> io::Result<UnixStream> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        self.inner
            .poll_accept(cx)
            .map(|r| r.map(UnixStream::from_shared))
    }
}

impl Stream for UnixIncoming {
    type Item = io::Result<UnixStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_accept(cx).map(Some)
    }
}
