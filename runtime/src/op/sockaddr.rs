//! `SockAddr`: a socket address in the kernel's own layout, boxed so the
//! address an SQE carries stays put while the op is in flight.
//!
//! Ops that pass an address to the kernel (connect, sendmsg) or get one
//! back (accept, recvmsg) own a `SockAddr`. It converts from and to
//! `std::net::SocketAddr` and `std::os::unix::net::SocketAddr`, including
//! Linux abstract names. See socket(7), ip(7), ipv6(7), unix(7).

use std::fmt;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::Path;

/// The offset of `sun_path` in `sockaddr_un`.
const SUN_PATH_OFFSET: usize = std::mem::offset_of!(libc::sockaddr_un, sun_path);
/// The room in `sun_path`.
const SUN_PATH_LEN: usize = 108;

/// A socket address of any family the kernel knows, in a heap block whose
/// address does not change when the `SockAddr` moves.
pub struct SockAddr {
    storage: Box<Storage>,
}

/// The kernel-facing part: storage and its used length.
#[repr(C)]
pub(crate) struct Storage {
    pub(crate) addr: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl SockAddr {
    /// An empty address (family `AF_UNSPEC`) with the whole storage as
    /// room, for the kernel to fill in (accept, recvmsg).
    pub fn empty() -> SockAddr {
        // SAFETY: sockaddr_storage is plain old data: all zeroes is a valid
        // value (family AF_UNSPEC).
        let addr = unsafe { MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init() };
        SockAddr {
            storage: Box::new(Storage {
                addr,
                len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            }),
        }
    }

    /// A Unix socket address naming a path in the file system.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the path is longer than 107 bytes or holds a
    /// NUL byte.
    pub fn unix_path(path: impl AsRef<Path>) -> io::Result<SockAddr> {
        let bytes = path.as_ref().as_os_str().as_bytes();
        if bytes.contains(&0) {
            return Err(invalid("a Unix socket path must not contain NUL bytes"));
        }
        if bytes.len() >= SUN_PATH_LEN {
            return Err(invalid("a Unix socket path must be shorter than 108 bytes"));
        }
        Ok(Self::unix_raw(bytes, false))
    }

    /// A Unix socket address in Linux's abstract namespace (no file; the
    /// name is bytes, and may hold NULs). See unix(7).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the name is longer than 107 bytes.
    pub fn unix_abstract(name: &[u8]) -> io::Result<SockAddr> {
        if name.len() >= SUN_PATH_LEN {
            return Err(invalid(
                "an abstract Unix name must be shorter than 108 bytes",
            ));
        }
        Ok(Self::unix_raw(name, true))
    }

    /// The unnamed Unix address (what an unbound socket has).
    pub fn unix_unnamed() -> SockAddr {
        Self::unix_raw(&[], false)
    }

    fn unix_raw(bytes: &[u8], abstract_name: bool) -> SockAddr {
        let mut a = SockAddr::empty();
        // SAFETY: sockaddr_storage is larger than and aligned at least as
        // sockaddr_un, and the storage is ours.
        let un = unsafe { &mut *(&mut a.storage.addr as *mut _ as *mut libc::sockaddr_un) };
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let start = usize::from(abstract_name);
        for (dst, src) in un.sun_path[start..].iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let len = if bytes.is_empty() && !abstract_name {
            SUN_PATH_OFFSET
        } else if abstract_name {
            SUN_PATH_OFFSET + 1 + bytes.len()
        } else {
            // A path is sent with its terminating NUL.
            SUN_PATH_OFFSET + bytes.len() + 1
        };
        a.storage.len = len as libc::socklen_t;
        a
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`, ...).
    pub fn family(&self) -> libc::sa_family_t {
        self.storage.addr.ss_family
    }

    /// The length in bytes the kernel uses.
    #[inline]
    pub fn len(&self) -> usize {
        self.storage.len as usize
    }

    /// Whether the length is zero (nothing was filled in).
    pub fn is_empty(&self) -> bool {
        self.storage.len == 0
    }

    /// As an IP address, when the family is `AF_INET` or `AF_INET6`.
    pub fn as_socket(&self) -> Option<SocketAddr> {
        let len = self.len();
        match i32::from(self.family()) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family and length say the storage holds a
                // sockaddr_in, and storage is aligned for it.
                let a = unsafe { &*(&self.storage.addr as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let a = unsafe { &*(&self.storage.addr as *const _ as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// As a Unix address, when the family is `AF_UNIX`: a path, an abstract
    /// name, or unnamed.
    pub fn as_unix(&self) -> Option<UnixAddr> {
        if i32::from(self.family()) != libc::AF_UNIX {
            return None;
        }
        let len = self
            .len()
            .clamp(SUN_PATH_OFFSET, SUN_PATH_OFFSET + SUN_PATH_LEN);
        // SAFETY: the family says the storage holds a sockaddr_un.
        let un = unsafe { &*(&self.storage.addr as *const _ as *const libc::sockaddr_un) };
        let path: Vec<u8> = un.sun_path[..len - SUN_PATH_OFFSET]
            .iter()
            .map(|&c| c as u8)
            .collect();
        match path.split_first() {
            None => unnamed_unix(),
            Some((0, name)) => UnixAddr::from_abstract_name(name).ok(),
            Some(_) => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                UnixAddr::from_pathname(Path::new(std::ffi::OsStr::from_bytes(&path[..end]))).ok()
            }
        }
    }

    /// The kernel-facing storage.
    pub(crate) fn storage_mut(&mut self) -> &mut Storage {
        &mut self.storage
    }

    /// Pointer to the `sockaddr`, for SQEs; stable while `self` lives.
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage.addr as *const libc::sockaddr_storage as *const libc::sockaddr
    }
}

/// The unnamed Unix address, which std builds from an empty path.
fn unnamed_unix() -> Option<UnixAddr> {
    UnixAddr::from_pathname("").ok()
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl From<SocketAddr> for SockAddr {
    fn from(addr: SocketAddr) -> SockAddr {
        let mut a = SockAddr::empty();
        match addr {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is larger than and aligned at
                // least as sockaddr_in, and the storage is ours.
                let sin =
                    unsafe { &mut *(&mut a.storage.addr as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                a.storage.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(v6) => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 =
                    unsafe { &mut *(&mut a.storage.addr as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_scope_id = v6.scope_id();
                a.storage.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        a
    }
}

impl fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = self.as_socket() {
            return write!(f, "SockAddr({a})");
        }
        if let Some(a) = self.as_unix() {
            return write!(f, "SockAddr({a:?})");
        }
        write!(
            f,
            "SockAddr(family {}, {} bytes)",
            self.family(),
            self.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_round_trips() {
        for s in ["127.0.0.1:80", "[::1]:443", "[fe80::1%2]:9"] {
            let a: SocketAddr = s.parse().expect("valid");
            assert_eq!(SockAddr::from(a).as_socket(), Some(a));
        }
    }

    #[test]
    fn unix_names_round_trip() {
        let p = SockAddr::unix_path("/tmp/x.sock").expect("valid");
        assert_eq!(
            p.as_unix().expect("valid").as_pathname(),
            Some(Path::new("/tmp/x.sock"))
        );
        let a = SockAddr::unix_abstract(b"coring\0x").expect("valid");
        assert_eq!(
            a.as_unix().expect("valid").as_abstract_name(),
            Some(&b"coring\0x"[..])
        );
        assert!(SockAddr::unix_unnamed()
            .as_unix()
            .expect("valid")
            .is_unnamed());
        assert!(SockAddr::unix_path("a\0b").is_err());
        assert!(SockAddr::unix_path("x".repeat(108)).is_err());
        assert!(SockAddr::empty().as_socket().is_none());
    }
}
