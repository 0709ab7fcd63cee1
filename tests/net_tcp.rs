//! TCP through coring: behaviour, bad input and faults. Loopback only;
//! every test is bounded by a timeout.

mod support;
use coring::net::{TcpListener, TcpStream};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;
use support::run;

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let accept = coring::spawn(async move { l.accept().await });
    let c = TcpStream::connect(addr).await.expect("connect");
    let (s, peer) = accept.await.expect("task").expect("accept");
    assert_eq!(peer, c.local_addr().expect("local"));
    (c, s)
}

#[test]
fn echo_round_trip_v4_and_v6() {
    run(10, async {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let l = match TcpListener::bind(bind) {
                Ok(l) => l,
                Err(e) if bind.starts_with('[') => {
                    eprintln!("no IPv6 loopback here: {e}");
                    continue;
                }
                Err(e) => panic!("bind {bind}: {e}"),
            };
            let addr = l.local_addr().expect("addr");
            let server = coring::spawn(async move {
                let (s, _) = l.accept().await.expect("accept");
                let (res, buf) = s.read(Vec::with_capacity(64)).await;
                let n = res.expect("read");
                let (res, _) = s.write_all(buf).await;
                res.expect("write");
                n
            });
            let c = TcpStream::connect(addr).await.expect("connect");
            assert_eq!(c.peer_addr().expect("peer"), addr);
            let (res, _) = c.write_all(b"ping".to_vec()).await;
            res.expect("write");
            let (res, buf) = c.read_exact(vec![0u8; 4]).await;
            res.expect("read");
            assert_eq!(buf, b"ping");
            assert_eq!(server.await.expect("task"), 4);
        }
    });
}

#[test]
fn options_and_addresses() {
    run(10, async {
        let (c, s) = pair().await;
        c.set_nodelay(true).expect("nodelay");
        assert!(c.nodelay().expect("nodelay"));
        c.set_nodelay(false).expect("nodelay");
        assert!(!c.nodelay().expect("nodelay"));
        c.set_keepalive(Some(Duration::from_secs(30)))
            .expect("keepalive");
        assert!(c.keepalive().expect("keepalive"));
        c.set_keepalive(None).expect("keepalive");
        assert!(!c.keepalive().expect("keepalive"));
        assert_eq!(c.local_addr().expect("a"), s.peer_addr().expect("b"));
        assert!(format!("{c:?}").contains("TcpStream"));
    });
}

#[test]
fn connection_refused_is_an_error() {
    run(10, async {
        // A port nobody listens on: bind one, learn it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let err = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect_err("nobody listens");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    });
}

#[test]
fn bind_errors_are_reported() {
    let _rt = coring::Runtime::new().expect("io_uring");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let err = TcpListener::builder()
        .reuse_addr(false)
        .bind(addr)
        .expect_err("in use");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    // SO_REUSEPORT on both lets two listeners share the port.
    let a = TcpListener::builder()
        .reuse_port(true)
        .bind("127.0.0.1:0")
        .expect("a");
    let b = TcpListener::builder()
        .reuse_port(true)
        .bind(a.local_addr().expect("addr"))
        .expect("b shares a's port");
    assert_eq!(a.local_addr().expect("a"), b.local_addr().expect("b"));
}

#[test]
fn read_after_peer_closed_gives_zero_every_time() {
    run(10, async {
        let (c, s) = pair().await;
        s.shutdown(Shutdown::Write).await.expect("shutdown");
        for _ in 0..3 {
            let (res, buf) = c.read(Vec::with_capacity(16)).await;
            assert_eq!(res.expect("eof is not an error"), 0);
            assert!(buf.is_empty());
        }
        let (res, buf) = c.read_exact(vec![0u8; 4]).await;
        assert_eq!(res.expect_err("eof").kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf.len(), 4, "the buffer comes back");
        drop(s);
    });
}

#[test]
fn read_exact_cut_short_keeps_what_arrived() {
    run(10, async {
        let (c, s) = pair().await;
        let (res, _) = s.write_all(b"abc".to_vec()).await;
        res.expect("write");
        s.shutdown(Shutdown::Write).await.expect("shutdown");
        let (res, buf) = c.read_exact(Vec::with_capacity(8)).await;
        assert_eq!(res.expect_err("eof").kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"abc", "the bytes that came are in the buffer");
        assert_eq!(buf.capacity(), 8);
    });
}

#[test]
fn zero_length_buffers() {
    run(10, async {
        let (c, s) = pair().await;
        let (res, buf) = c.write(Vec::new()).await;
        assert_eq!(res.expect("empty write"), 0);
        assert!(buf.is_empty());
        let (res, _) = c.write_all(Vec::new()).await;
        res.expect("empty write_all");
        let (res, _) = s.read(Vec::new()).await;
        assert_eq!(res.expect("empty read"), 0);
        let (res, _) = s.read_exact(Vec::new()).await;
        res.expect("empty read_exact");
        // The connection still works afterwards.
        let (res, _) = c.write_all(b"x".to_vec()).await;
        res.expect("write");
        let (res, b) = s.read_exact(vec![0u8; 1]).await;
        res.expect("read");
        assert_eq!(b, b"x");
    });
}

/// Makes `s` send RST on close (SO_LINGER 0).
fn reset(s: std::net::TcpStream) {
    let sock = socket2::Socket::from(s);
    sock.set_linger(Some(Duration::ZERO)).expect("linger");
    drop(sock);
}

#[test]
fn peer_reset_mid_read() {
    run(10, async {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let s = std::net::TcpStream::connect(addr).expect("connect");
            std::thread::sleep(Duration::from_millis(100));
            reset(s);
        });
        let (s, _) = l.accept().await.expect("accept");
        // The read is in flight when the RST comes.
        let (res, _) = s.read(Vec::with_capacity(64)).await;
        let err = res.expect_err("reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        peer.join().expect("peer");
    });
}

#[test]
fn peer_reset_mid_write() {
    run(20, async {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            let mut b = [0u8; 4096];
            s.read_exact(&mut b).expect("some data first");
            reset(s);
        });
        let (s, _) = l.accept().await.expect("accept");
        // Far more than the socket buffers hold: the write is in flight
        // (or the next one is) when the RST arrives.
        let (res, buf) = s.write_all(vec![7u8; 64 << 20]).await;
        let err = res.expect_err("reset");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err}"
        );
        assert_eq!(buf.len(), 64 << 20, "the buffer comes back");
        peer.join().expect("peer");
        // Writing again fails the same way, without a SIGPIPE.
        let (res, _) = s.write(b"more".to_vec()).await;
        assert!(res.is_err());
    });
}

#[test]
fn write_over_64_mib_is_sent_completely() {
    const LEN: usize = (64 << 20) + 12345;
    run(60, async {
        let (c, s) = pair().await;
        let data: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
        let expect = checksum(&data);
        let reader = coring::spawn(async move {
            let mut sum = Checksum::default();
            let mut buf = Vec::with_capacity(1 << 20);
            loop {
                let (res, b) = s.read(buf).await;
                let n = res.expect("read");
                if n == 0 {
                    return sum.finish();
                }
                sum.add(&b[..n]);
                buf = b;
                buf.clear();
            }
        });
        let (res, data) = c.write_all(data).await;
        res.expect("write_all");
        assert_eq!(data.len(), LEN);
        c.shutdown(Shutdown::Write).await.expect("shutdown");
        assert_eq!(reader.await.expect("reader"), expect);
    });
}

#[test]
fn vectored_io() {
    run(10, async {
        let (c, s) = pair().await;
        let (res, _) = c
            .writev(vec![b"ab".to_vec(), b"".to_vec(), b"cde".to_vec()])
            .await;
        assert_eq!(res.expect("writev"), 5);
        let (res, bufs) = s
            .readv(vec![Vec::with_capacity(1), Vec::with_capacity(8)])
            .await;
        let n = res.expect("readv");
        let got: Vec<u8> = bufs.concat();
        assert_eq!(&got[..], &b"abcde"[..n]);
    });
}

#[test]
fn owned_halves_from_two_tasks() {
    run(10, async {
        let (c, s) = pair().await;
        let (r, w) = s.into_split();
        // An echo server made of a reader task feeding a writer task.
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = coring::spawn(async move {
            let mut n = 0;
            loop {
                let (res, b) = r.read(Vec::with_capacity(1024)).await;
                match res.expect("read") {
                    0 => return (n, r),
                    k => n += k,
                }
                tx.send(b).expect("send");
            }
        });
        let writer = coring::spawn(async move {
            loop {
                match rx.try_recv() {
                    Ok(b) => {
                        let (res, _) = w.write_all(b).await;
                        res.expect("write");
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => coring::yield_now().await,
                    Err(_) => return w,
                }
            }
        });
        let msg: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let (res, _) = c.write_all(msg.clone()).await;
        res.expect("write");
        let (res, back) = c.read_exact(vec![0u8; msg.len()]).await;
        res.expect("read");
        assert_eq!(back, msg);
        c.shutdown(Shutdown::Write).await.expect("shutdown");
        let (n, r) = reader.await.expect("reader");
        assert_eq!(n, msg.len());
        let w = writer.await.expect("writer");
        let s = r.reunite(w).expect("same stream");
        assert!(s.peer_addr().is_ok());
    });
}

#[test]
fn reunite_rejects_halves_of_different_streams() {
    run(10, async {
        let (a, b) = pair().await;
        let (ar, _aw) = a.into_split();
        let (_br, bw) = b.into_split();
        assert!(ar.reunite(bw).is_err());
    });
}

#[test]
fn std_conversions() {
    run(10, async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let l = TcpListener::from_std(l);
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(b"std").expect("write");
            let mut b = [0u8; 3];
            s.read_exact(&mut b).expect("read");
            b
        });
        let (s, _) = l.accept().await.expect("accept");
        let (res, b) = s.read_exact(vec![0u8; 3]).await;
        res.expect("read");
        let mut std_s = s.into_std().expect("no op in flight");
        std_s.write_all(&b).expect("std write");
        assert_eq!(&client.join().expect("client"), b"std");
        let s = TcpStream::from_std(std_s);
        assert!(s.local_addr().is_ok());
        let l = l.into_std().expect("listener back");
        assert_eq!(l.local_addr().expect("addr"), addr);
    });
}

#[test]
fn incoming_streams_connections() {
    run(10, async {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr: SocketAddr = l.local_addr().expect("addr");
        let mut incoming = l.incoming();
        let clients = coring::spawn(async move {
            let mut v = Vec::new();
            for i in 0..20u8 {
                let c = TcpStream::connect(addr).await.expect("connect");
                let (res, _) = c.write_all(vec![i]).await;
                res.expect("write");
                v.push(c);
            }
            v
        });
        let mut seen = Vec::new();
        for _ in 0..20 {
            let s = incoming.accept().await.expect("accept");
            let (res, b) = s.read_exact(vec![0u8; 1]).await;
            res.expect("read");
            seen.push(b[0]);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<u8>>());
        drop(clients.await.expect("clients"));
    });
}

/// A running checksum (Fletcher-style, over 64-bit sums).
#[derive(Default)]
struct Checksum {
    a: u64,
    b: u64,
    n: u64,
}

impl Checksum {
    fn add(&mut self, data: &[u8]) {
        for &x in data {
            self.a = (self.a + u64::from(x)) % 0xffff_fffb;
            self.b = (self.b + self.a) % 0xffff_fffb;
        }
        self.n += data.len() as u64;
    }
    fn finish(&self) -> (u64, u64, u64) {
        (self.a, self.b, self.n)
    }
}

fn checksum(data: &[u8]) -> (u64, u64, u64) {
    let mut c = Checksum::default();
    c.add(data);
    c.finish()
}

/// More than a socket op can move at once (the kernel's MAX_RW_COUNT,
/// 2 GiB less a page): the length is clamped as std's is, and the op is a
/// short read or write, not EINVAL. The buffers are never touched: a
/// `Vec::with_capacity` reserves address space only, and `vec![0; n]`
/// maps the zero page until written.
#[test]
fn reads_and_writes_of_2_gib_or_more_are_short_not_einval() {
    const HUGE: usize = (2 << 30) + (1 << 20);
    run(20, async {
        let (c, s) = pair().await;
        let (res, _) = c.write_all(b"hello".to_vec()).await;
        res.expect("write");
        let (res, buf) = s.read(Vec::with_capacity(HUGE)).await;
        assert_eq!(res.expect("a read into a 2 GiB+ buffer"), 5);
        assert_eq!(buf, b"hello");
        assert!(buf.capacity() >= HUGE);
        drop(buf);

        let (res, buf) = c.write(vec![0u8; HUGE]).await;
        let n = res.expect("a write from a 2 GiB+ buffer");
        assert!(n > 0 && n < HUGE, "a short write: {n}");
        drop(buf);

        // And a zero-copy send, on a fresh pair whose peer reads (the
        // kernel lets go of the pages, and says so, once they are read).
        let (c, s) = pair().await;
        let reader = coring::spawn(async move {
            let mut total = 0;
            loop {
                let (res, _) = s.read(Vec::with_capacity(1 << 20)).await;
                match res.expect("read") {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        let (res, buf) = c.write_zc(vec![0u8; HUGE]).await;
        let n = res.expect("a zero-copy write from a 2 GiB+ buffer");
        assert!(n > 0 && n < HUGE, "a short zero-copy write: {n}");
        drop(buf);
        drop(c);
        assert_eq!(reader.await.expect("reader"), n);
    });
}
