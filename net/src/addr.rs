//! Address helpers shared by the socket types.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr` and calls `f` on each address in turn until one works;
/// the last error otherwise.
///
/// A host name is resolved with the system resolver, which blocks the
/// core for the lookup: pass a `SocketAddr` (or resolve on a blocking
/// thread) where that matters.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

/// The async form of [`each_addr`], for connects.
pub(crate) async fn each_addr_async<A, T, F, Fut>(addr: A, mut f: F) -> io::Result<T>
where
    A: ToSocketAddrs,
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in resolve(addr)? {
        match f(a).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

/// The addresses `addr` resolves to (the system resolver blocks).
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let v: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if v.is_empty() {
        return Err(no_addresses());
    }
    Ok(v)
}

pub(crate) fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}

/// The error for an address of the wrong family from the kernel.
pub(crate) fn not_inet() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the kernel gave an address that is not IPv4 or IPv6",
    )
}
