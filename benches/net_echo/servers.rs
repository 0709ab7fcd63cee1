//! The echo servers (coring on each backend and five peers), each the plain way its runtime is used: accept,
//! one task per connection, read up to SERVER_BUF bytes, write them all
//! back. Each runs in a child process pinned to CPU 0 and prints its port.

use crate::common::echo;
use crate::SERVER_BUF;
use std::io::{self, Write};
use std::net::SocketAddr;

/// Runs the server `kind` forever (until killed).
pub fn serve(kind: &str) -> Result<(), String> {
    if let Err(e) = crate::pin_to(0) {
        eprintln!("warning: could not pin the {kind} server to CPU 0: {e}");
    }
    let res = match kind {
        "coring" => coring_server(coring::Backend::IoUring),
        "coring-epoll" => coring_server(coring::Backend::Epoll),
        "raw" => raw::server(),
        "tokio" => tokio_server(),
        "monoio" => monoio_server(),
        "tokio-uring" => tokio_uring_server(),
        "glommio" => glommio_server(),
        _ => return Err(format!("unknown server {kind}")),
    };
    res.map_err(|e| format!("{kind} server: {e}"))
}

fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "PORT {}", addr.port())?;
    out.flush()
}

const ADDR: &str = "127.0.0.1:0";

fn coring_server(backend: coring::Backend) -> io::Result<()> {
    use coring::net::TcpListener;
    let rt = coring::Builder::new().backend(backend).build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(ADDR)?;
        announce(listener.local_addr()?)?;
        let mut incoming = listener.incoming();
        loop {
            let stream = incoming.accept().await?;
            let _detached = coring::spawn(echo::coring(stream, SERVER_BUF));
        }
    })
}

fn tokio_server() -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(ADDR).await?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(echo::tokio(stream, SERVER_BUF));
        }
    })
}

fn monoio_server() -> io::Result<()> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build()?;
    rt.block_on(async {
        let listener = monoio::net::TcpListener::bind(ADDR)?;
        announce(listener.local_addr()?)?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            monoio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut buf = Vec::with_capacity(SERVER_BUF);
                loop {
                    let (res, b) = stream.read(buf).await;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    let (res, mut b) = stream.write_all(b).await;
                    if res.is_err() {
                        return;
                    }
                    b.clear();
                    buf = b;
                }
            });
        }
    })
}

fn glommio_server() -> io::Result<()> {
    // glommio's error holds a `dyn Any + Send` (not `Sync`): keep its text.
    fn gerr(e: impl std::fmt::Display) -> io::Error {
        io::Error::other(e.to_string())
    }
    let ex = glommio::LocalExecutorBuilder::default()
        .make()
        .map_err(gerr)?;
    ex.run(async {
        let listener = glommio::net::TcpListener::bind(ADDR).map_err(gerr)?;
        announce(listener.local_addr().map_err(gerr)?)?;
        loop {
            let stream = listener.accept().await.map_err(gerr)?;
            glommio::spawn_local(echo::glommio(stream, SERVER_BUF)).detach();
        }
    })
}

fn tokio_uring_server() -> io::Result<()> {
    tokio_uring::start(async {
        let listener =
            tokio_uring::net::TcpListener::bind(ADDR.parse().map_err(io::Error::other)?)?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio_uring::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut buf = Vec::with_capacity(SERVER_BUF);
                loop {
                    let (res, b) = stream.read(buf).await;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    let (res, mut b) = stream.write_all(b).await;
                    if res.is_err() {
                        return;
                    }
                    b.clear();
                    buf = b;
                }
            });
        }
    })
}

/// The floor: a hand-written io_uring echo loop. One multishot accept,
/// per connection a recv then a send (resubmitted while short), one
/// `io_uring_enter` per batch, the same ring flags as coring's defaults.
mod raw {
    use super::{announce, ADDR, SERVER_BUF};
    use io_uring::{cqueue, opcode, types, IoUring};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    const ACCEPT: u64 = 0;
    const RECV: u64 = 1;
    const SEND: u64 = 2;

    struct Conn {
        fd: OwnedFd,
        buf: Box<[u8]>,
        len: usize,
        sent: usize,
    }

    pub fn server() -> io::Result<()> {
        let listener = std::net::TcpListener::bind(ADDR)?;
        announce(listener.local_addr()?)?;
        let mut ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_coop_taskrun()
            .setup_cqsize(1024)
            .build(256)
            .or_else(|_| IoUring::new(256))?;
        let lfd = listener.as_raw_fd();
        let mut conns: Vec<Option<Conn>> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        push(&mut ring, &accept(lfd))?;
        let mut cqes = Vec::with_capacity(1024);
        loop {
            ring.submit_and_wait(1)?;
            cqes.clear();
            cqes.extend(
                ring.completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for &(ud, res, flags) in &cqes {
                let (i, kind) = ((ud >> 2) as usize, ud & 3);
                if kind == ACCEPT {
                    if !cqueue::more(flags) {
                        push(&mut ring, &accept(lfd))?;
                    }
                    if res < 0 {
                        continue;
                    }
                    // SAFETY: a non-negative accept result is a new fd.
                    let fd = unsafe { OwnedFd::from_raw_fd(res) };
                    set_nodelay(fd.as_raw_fd());
                    let c = Conn {
                        fd,
                        buf: vec![0; SERVER_BUF].into_boxed_slice(),
                        len: 0,
                        sent: 0,
                    };
                    let i = match free.pop() {
                        Some(i) => {
                            conns[i] = Some(c);
                            i
                        }
                        None => {
                            conns.push(Some(c));
                            conns.len() - 1
                        }
                    };
                    if let Some(c) = &mut conns[i] {
                        push(&mut ring, &recv(c, i))?;
                    }
                    continue;
                }
                let Some(c) = &mut conns[i] else { continue };
                if res <= 0 {
                    conns[i] = None; // closes the fd; no op of it is in flight
                    free.push(i);
                    continue;
                }
                if kind == RECV {
                    c.len = res as usize;
                    c.sent = 0;
                } else {
                    c.sent += res as usize;
                }
                let sqe = if c.sent < c.len {
                    send(c, i)
                } else {
                    recv(c, i)
                };
                push(&mut ring, &sqe)?;
            }
        }
    }

    fn accept(lfd: RawFd) -> io_uring::squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(lfd))
            .build()
            .user_data(ACCEPT)
    }

    fn recv(c: &mut Conn, i: usize) -> io_uring::squeue::Entry {
        opcode::Recv::new(
            types::Fd(c.fd.as_raw_fd()),
            c.buf.as_mut_ptr(),
            c.buf.len() as u32,
        )
        .build()
        .user_data((i as u64) << 2 | RECV)
    }

    fn send(c: &mut Conn, i: usize) -> io_uring::squeue::Entry {
        let rest = &c.buf[c.sent..c.len];
        opcode::Send::new(
            types::Fd(c.fd.as_raw_fd()),
            rest.as_ptr(),
            rest.len() as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data((i as u64) << 2 | SEND)
    }

    fn push(ring: &mut IoUring, sqe: &io_uring::squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the SQE points into a Conn's boxed buffer; a Conn is
            // dropped only after its op's final CQE (one op per conn).
            if unsafe { ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            ring.submit()?;
        }
    }

    fn set_nodelay(fd: RawFd) {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt reads one c_int from `one` for the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}
