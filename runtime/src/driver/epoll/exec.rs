//! The syscalls behind each opcode the epoll backend emulates: one try
//! that never blocks (`try_nonblocking`), and the blocking form the pool
//! runs (`run_blocking`).
//!
//! Every pointer used here comes from an SQE, and the `OpCode` contract
//! (op/mod.rs, rules 1 and 2) makes it valid and unaliased from the push
//! until the op's final completion is posted; the emulator calls these
//! only in between.

use super::sqe::*;
use io_uring::opcode;
use std::os::fd::RawFd;

/// What one non-blocking try of an op came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The result, as a CQE's `res`.
    Done(i32),
    /// Would block: wait until the fd is ready for reading.
    WaitIn,
    /// Would block: wait until the fd is ready for writing.
    WaitOut,
    /// A regular file or a call with no non-blocking form: the pool runs
    /// it.
    Pool,
}

/// What the emulator knows of an fd, learned on its first EAGAIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FdKind {
    #[default]
    Unknown,
    /// A regular file or block device: readiness means nothing.
    File,
    /// A file opened with O_DIRECT: a read waits for the device even with
    /// RWF_NOWAIT, so every one goes to the pool.
    DirectFile,
    /// A socket, pipe, tty, eventfd...: epoll says when to try again.
    Pollable,
    /// Pollable, but without RWF_NOWAIT support and blocking: only the
    /// pool can read or write it without blocking the core.
    Blocking,
}

/// `-errno` of the last call.
#[inline]
fn neg_errno() -> i32 {
    -std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A syscall's return as a CQE `res`.
#[inline]
fn res(r: isize) -> i32 {
    if r < 0 {
        neg_errno()
    } else {
        r.min(i32::MAX as isize) as i32
    }
}

/// Whether `op` is one of the read/write family.
pub(crate) fn is_rw(op: u8) -> bool {
    matches!(
        op,
        opcode::Read::CODE
            | opcode::Write::CODE
            | opcode::Readv::CODE
            | opcode::Writev::CODE
            | opcode::ReadFixed::CODE
            | opcode::WriteFixed::CODE
    )
}

/// Whether `op` has no non-blocking form (files and paths).
pub(crate) fn is_pool_only(op: u8) -> bool {
    matches!(
        op,
        opcode::Fsync::CODE
            | opcode::Fallocate::CODE
            | opcode::Ftruncate::CODE
            | opcode::SyncFileRange::CODE
            | opcode::OpenAt::CODE
            | opcode::Statx::CODE
            | opcode::UnlinkAt::CODE
            | opcode::RenameAt::CODE
            | opcode::MkDirAt::CODE
            | opcode::SymlinkAt::CODE
            | opcode::LinkAt::CODE
    )
}

fn is_write(op: u8) -> bool {
    matches!(
        op,
        opcode::Write::CODE | opcode::Writev::CODE | opcode::WriteFixed::CODE
    )
}

/// The iovec array of a read/write SQE: its own for READV/WRITEV, one
/// made from addr/len otherwise.
fn iovecs(sqe: &RawSqe, one: &mut libc::iovec) -> (*const libc::iovec, i32) {
    match sqe.opcode {
        opcode::Readv::CODE | opcode::Writev::CODE => {
            (sqe.addr as *const libc::iovec, sqe.len as i32)
        }
        _ => {
            *one = libc::iovec {
                iov_base: sqe.addr as *mut libc::c_void,
                iov_len: sqe.len as usize,
            };
            (one as *const libc::iovec, 1)
        }
    }
}

/// The SQE's offset as preadv2(2) takes it: -1 for "the file position".
fn offset(sqe: &RawSqe) -> i64 {
    if sqe.off == u64::MAX {
        -1
    } else {
        sqe.off as i64
    }
}

/// preadv2/pwritev2 with `flags`; an offset on a stream (ESPIPE) is
/// retried at the file position, as io_uring ignores it there.
fn rw_call(sqe: &RawSqe, fd: RawFd, flags: i32) -> i32 {
    let mut one = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let (iov, cnt) = iovecs(sqe, &mut one);
    let mut off = offset(sqe);
    loop {
        // SAFETY: `iov` names `cnt` iovecs of the op's own buffers, valid
        // and unaliased until its completion (module doc).
        let r = unsafe {
            if is_write(sqe.opcode) {
                libc::pwritev2(fd, iov, cnt, off, flags)
            } else {
                libc::preadv2(fd, iov, cnt, off, flags)
            }
        };
        let r = res(r as isize);
        if r == -libc::ESPIPE && off != -1 {
            off = -1;
            continue;
        }
        return r;
    }
}

/// Regular file or block device, else pollable; the fd's O_NONBLOCK says
/// whether a plain read of it can block.
fn classify(fd: RawFd) -> FdKind {
    // SAFETY: fstat writes one `struct stat` into `st`, which outlives it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } == 0 {
        let t = st.st_mode & libc::S_IFMT;
        if t == libc::S_IFREG || t == libc::S_IFBLK {
            // SAFETY: F_GETFL takes no pointer.
            let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            if fl >= 0 && fl & libc::O_DIRECT != 0 {
                return FdKind::DirectFile;
            }
            return FdKind::File;
        }
    }
    FdKind::Pollable
}

fn is_nonblocking(fd: RawFd) -> bool {
    // SAFETY: F_GETFL takes no pointer.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    fl >= 0 && fl & libc::O_NONBLOCK != 0
}

/// Makes a socket non-blocking (accept4 and connect have no per-call
/// flag). Only sockets: a pipe or tty may share its file description.
pub(crate) fn set_nonblocking(fd: RawFd) {
    // SAFETY: F_GETFL/F_SETFL take no pointers.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 && fl & libc::O_NONBLOCK == 0 {
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
}

/// One try of a read or write that must not block.
pub(crate) fn try_rw(sqe: &RawSqe, fd: RawFd, kind: &mut FdKind) -> Attempt {
    let wait = if is_write(sqe.opcode) {
        Attempt::WaitOut
    } else {
        Attempt::WaitIn
    };
    if *kind == FdKind::Unknown {
        // Once per fd: an O_DIRECT file must not be tried inline.
        *kind = classify(fd);
    }
    if *kind == FdKind::Blocking {
        return bounded_read(sqe, fd).unwrap_or(Attempt::Pool);
    }
    if *kind == FdKind::DirectFile {
        return Attempt::Pool;
    }
    let r = rw_call(sqe, fd, libc::RWF_NOWAIT);
    if r != -libc::EAGAIN && r != -libc::EOPNOTSUPP {
        return Attempt::Done(r);
    }
    match (*kind, r) {
        (FdKind::File, _) => Attempt::Pool,
        (_, e) if e == -libc::EAGAIN => wait,
        // No RWF_NOWAIT for this file: a plain call is safe only when the
        // fd itself is non-blocking.
        _ if is_nonblocking(fd) => match rw_call(sqe, fd, 0) {
            e if e == -libc::EAGAIN => wait,
            r => Attempt::Done(r),
        },
        _ => {
            *kind = FdKind::Blocking;
            bounded_read(sqe, fd).unwrap_or(Attempt::Pool)
        }
    }
}

/// A READ of a blocking pipe or tty whose kernel lacks RWF_NOWAIT for it
/// (pipes before 6.x): read no more than FIONREAD says is there, so the
/// call cannot block, and wait for readiness while nothing is; at end of
/// stream (POLLHUP) the read returns 0 at once. A read on a pool thread
/// would block it until data comes, and could not be cancelled. `None`
/// for what this cannot bound (vectored reads, writes): the pool.
fn bounded_read(sqe: &RawSqe, fd: RawFd) -> Option<Attempt> {
    if sqe.opcode != opcode::Read::CODE && sqe.opcode != opcode::ReadFixed::CODE {
        return None;
    }
    let mut avail: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `avail`, which outlives it.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut avail) } < 0 {
        return None;
    }
    if avail <= 0 {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) reads and writes one pollfd, which outlives it.
        unsafe { libc::poll(&mut p, 1, 0) };
        if p.revents & libc::POLLHUP == 0 {
            return Some(Attempt::WaitIn);
        }
        // The writer is gone: what is in the pipe now is all there will
        // be (bytes written just before the close included).
        // SAFETY: as above.
        if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut avail) } < 0 {
            return None;
        }
    }
    let len = sqe.len.min(avail.max(0) as u32);
    // SAFETY: the op's own buffer, valid until its completion (module
    // doc), written for at most `len <= sqe.len` bytes.
    let r = unsafe { libc::read(fd, sqe.addr as *mut libc::c_void, len as usize) };
    Some(match res(r) {
        e if e == -libc::EAGAIN => Attempt::WaitIn,
        r => Attempt::Done(r),
    })
}

/// Whether `fd` is a stream socket (SOCK_STREAM or SOCK_SEQPACKET: the
/// sockets whose short sends io_uring retries under MSG_WAITALL).
pub(crate) fn is_stream(fd: RawFd) -> bool {
    matches!(
        socket_int(fd, libc::SO_TYPE),
        Ok(libc::SOCK_STREAM | libc::SOCK_SEQPACKET)
    )
}

/// An int socket option at SOL_SOCKET; the negated errno on failure.
fn socket_int(fd: RawFd, opt: libc::c_int) -> Result<libc::c_int, i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`; both outlive
    // the call.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        Err(neg_errno())
    } else {
        Ok(v)
    }
}

/// One try of a socket op with MSG_DONTWAIT (or a non-blocking socket).
/// `buf` is the provided buffer a RECV with IOSQE_BUFFER_SELECT reads
/// into.
pub(crate) fn try_socket(sqe: &RawSqe, fd: RawFd, buf: Option<(u64, u32)>) -> Attempt {
    let flags = sqe.op_flags as i32 | libc::MSG_DONTWAIT;
    // SAFETY: every call below gets pointers to the op's own buffer,
    // msghdr, sockaddr and length, valid until its completion (module
    // doc); the kernel checks the rest.
    let (r, wait) = unsafe {
        match sqe.opcode {
            opcode::Recv::CODE => {
                let (addr, len) = buf.unwrap_or((sqe.addr, sqe.len));
                let r = libc::recv(fd, addr as *mut libc::c_void, len as usize, flags);
                (res(r), Attempt::WaitIn)
            }
            opcode::Send::CODE | opcode::SendZc::CODE => {
                let r = libc::send(fd, sqe.addr as *const libc::c_void, sqe.len as usize, flags);
                (res(r), Attempt::WaitOut)
            }
            opcode::RecvMsg::CODE => {
                let r = libc::recvmsg(fd, sqe.addr as *mut libc::msghdr, flags);
                (res(r), Attempt::WaitIn)
            }
            opcode::SendMsg::CODE => {
                let r = libc::sendmsg(fd, sqe.addr as *const libc::msghdr, flags);
                (res(r), Attempt::WaitOut)
            }
            opcode::Accept::CODE => {
                set_nonblocking(fd);
                let r = libc::accept4(
                    fd,
                    sqe.addr as *mut libc::sockaddr,
                    sqe.off as *mut libc::socklen_t,
                    sqe.op_flags as i32 | libc::SOCK_NONBLOCK,
                );
                (res(r as isize), Attempt::WaitIn)
            }
            opcode::Connect::CODE => {
                set_nonblocking(fd);
                let r = libc::connect(
                    fd,
                    sqe.addr as *const libc::sockaddr,
                    sqe.off as libc::socklen_t,
                );
                match res(r as isize) {
                    e if e == -libc::EINPROGRESS || e == -libc::EALREADY => {
                        return Attempt::WaitOut
                    }
                    r => (r, Attempt::WaitOut),
                }
            }
            _ => (-libc::EOPNOTSUPP, Attempt::Done(0)),
        }
    };
    if r == -libc::EAGAIN || r == -libc::EWOULDBLOCK {
        wait
    } else {
        Attempt::Done(r)
    }
}

/// A POLL_ADD: the events ready now (poll(2) with no wait), else wait in
/// the direction the mask asks for.
pub(crate) fn try_poll(sqe: &RawSqe, fd: RawFd) -> Attempt {
    let mask = sqe.op_flags as i16;
    let mut p = libc::pollfd {
        fd,
        events: mask,
        revents: 0,
    };
    // SAFETY: poll(2) reads and writes one pollfd, which outlives it.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    if r < 0 {
        return Attempt::Done(neg_errno());
    }
    if p.revents != 0 {
        return Attempt::Done(i32::from(p.revents as u16));
    }
    if mask & libc::POLLIN != 0 {
        Attempt::WaitIn
    } else {
        Attempt::WaitOut
    }
}

/// A connect that waited for writability: its outcome (SO_ERROR).
pub(crate) fn connect_result(fd: RawFd) -> i32 {
    match socket_int(fd, libc::SO_ERROR) {
        Ok(err) => -err,
        Err(e) => e,
    }
}

/// Ops that never block: done at once.
pub(crate) fn run_inline(sqe: &RawSqe, fd: RawFd) -> Option<i32> {
    // SAFETY: every call gets plain fds and integers from the SQE.
    let r = unsafe {
        match sqe.opcode {
            opcode::Nop::CODE => 0,
            opcode::Shutdown::CODE => res(libc::shutdown(fd, sqe.len as i32) as isize),
            opcode::Close::CODE => res(libc::close(fd) as isize),
            opcode::Socket::CODE => res(libc::socket(
                sqe.fd,
                sqe.off as i32 | libc::SOCK_NONBLOCK,
                sqe.len as i32,
            ) as isize),
            _ => return None,
        }
    };
    Some(r)
}

/// The blocking form of an op, for the pool.
pub(crate) fn run_blocking(sqe: &RawSqe, fd: RawFd) -> i32 {
    if is_rw(sqe.opcode) {
        return rw_call(sqe, fd, 0);
    }
    let a = sqe.addr as *const libc::c_char;
    let a2 = sqe.off as *const libc::c_char;
    // SAFETY: every call gets the paths, statx buffer and fds of the op,
    // own, valid until its completion (module doc).
    let r = unsafe {
        match sqe.opcode {
            opcode::Fsync::CODE if sqe.op_flags & 1 != 0 => libc::fdatasync(fd) as isize,
            opcode::Fsync::CODE => libc::fsync(fd) as isize,
            opcode::Fallocate::CODE => {
                libc::fallocate(fd, sqe.len as i32, sqe.off as i64, sqe.addr as i64) as isize
            }
            opcode::Ftruncate::CODE => libc::ftruncate(fd, sqe.off as i64) as isize,
            opcode::SyncFileRange::CODE => {
                libc::sync_file_range(fd, sqe.off as i64, sqe.len as i64, sqe.op_flags) as isize
            }
            opcode::OpenAt::CODE => {
                libc::openat(fd, a, sqe.op_flags as i32, sqe.len as libc::c_uint) as isize
            }
            opcode::Statx::CODE => libc::statx(
                fd,
                a,
                sqe.op_flags as i32,
                sqe.len,
                sqe.off as *mut libc::statx,
            ) as isize,
            opcode::UnlinkAt::CODE => libc::unlinkat(fd, a, sqe.op_flags as i32) as isize,
            opcode::RenameAt::CODE => {
                libc::syscall(libc::SYS_renameat2, fd, a, sqe.len as i32, a2, sqe.op_flags) as isize
            }
            opcode::MkDirAt::CODE => libc::mkdirat(fd, a, sqe.len as libc::mode_t) as isize,
            opcode::SymlinkAt::CODE => libc::symlinkat(a, fd, a2) as isize,
            opcode::LinkAt::CODE => {
                libc::linkat(fd, a, sqe.len as i32, a2, sqe.op_flags as i32) as isize
            }
            _ => return -libc::EOPNOTSUPP,
        }
    };
    res(r)
}
