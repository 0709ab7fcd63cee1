//! Unix domain sockets: streams, listeners and datagrams, on paths or
//! Linux abstract names.

mod datagram;
mod listener;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::{UnixIncoming, UnixListener};
pub use stream::UnixStream;

use coring_runtime::fd::SharedFd;
use coring_runtime::op::SockAddr;
use socket2::SockRef;
use std::io;
use std::os::unix::net::SocketAddr as UnixAddr;

/// The kernel-layout form of a std Unix address.
pub(crate) fn to_sockaddr(addr: &UnixAddr) -> io::Result<SockAddr> {
    use std::os::linux::net::SocketAddrExt;
    if let Some(p) = addr.as_pathname() {
        SockAddr::unix_path(p)
    } else if let Some(name) = addr.as_abstract_name() {
        SockAddr::unix_abstract(name)
    } else {
        Ok(SockAddr::unix_unnamed())
    }
}

pub(crate) fn not_unix() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the kernel gave an address that is not a Unix one",
    )
}

pub(crate) fn local_addr(fd: &SharedFd) -> io::Result<UnixAddr> {
    from_socket2(&SockRef::from(fd).local_addr()?)
}

pub(crate) fn peer_addr(fd: &SharedFd) -> io::Result<UnixAddr> {
    from_socket2(&SockRef::from(fd).peer_addr()?)
}

/// A std Unix address from socket2's: a path, an abstract name, or
/// unnamed.
fn from_socket2(a: &socket2::SockAddr) -> io::Result<UnixAddr> {
    use std::os::linux::net::SocketAddrExt;
    if !a.is_unix() {
        return Err(not_unix());
    }
    if let Some(p) = a.as_pathname() {
        UnixAddr::from_pathname(p)
    } else if let Some(name) = a.as_abstract_namespace() {
        UnixAddr::from_abstract_name(name)
    } else {
        unnamed()
    }
}

/// The unnamed Unix address (an unbound socket's).
pub(crate) fn unnamed() -> io::Result<UnixAddr> {
    UnixAddr::from_pathname("")
}

/// A sender's address from recvmsg: an unbound sender gives no name.
pub(crate) fn sender(a: &SockAddr) -> io::Result<UnixAddr> {
    if a.is_empty() || i32::from(a.family()) == libc::AF_UNSPEC {
        return unnamed();
    }
    a.as_unix().ok_or_else(not_unix)
}
