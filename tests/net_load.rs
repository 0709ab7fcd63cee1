//! Integrity under load: 1,000 connections echoing random-sized messages
//! with every byte checked, and a multishot accept of 5,000 connections
//! (both ends in this process). Each test first raises the soft fd limit
//! to the hard one; where even that is too low for both ends of every
//! connection, it runs fewer connections and says so.

mod support;

use coring::net::{TcpListener, TcpStream};
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// `want` connections (two fds each, both ends here), or as many as the
/// fd limit allows after raising it, with a printed reason. The guard
/// keeps the two tests of this file from running at once, so each has the
/// whole limit.
fn connections(want: u64) -> (std::sync::MutexGuard<'static, ()>, u64) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let limit = support::raise_fd_limit();
    let fit = limit.saturating_sub(100) / 2;
    if fit < want {
        println!("fd limit {limit}: {fit} connections instead of {want}");
    }
    assert!(fit >= 100, "fd limit {limit}: too low for a load test");
    (guard, want.min(fit))
}

fn run<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    let rt = coring::Runtime::builder()
        .entries(1024)
        .build()
        .expect("io_uring");
    rt.block_on(async {
        coring::time::timeout(Duration::from_secs(secs), f)
            .await
            .expect("test timed out")
    })
}

/// xorshift64*: a small seeded PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

async fn echo(s: TcpStream) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let (res, b) = s.read(buf).await;
        if !matches!(res, Ok(n) if n > 0) {
            return;
        }
        let (res, mut b) = s.write_all(b).await;
        if res.is_err() {
            return;
        }
        b.clear();
        buf = b;
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn thousand_connections_echo_random_sizes_intact() {
    let (_one, conns) = connections(1000);
    const MSGS: u64 = 3;
    run(120, async {
        let l = TcpListener::builder()
            .backlog(4096)
            .bind("127.0.0.1:0")
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let mut incoming = l.incoming();
        let server = coring::spawn(async move {
            for _ in 0..conns {
                let s = incoming.accept().await.expect("accept");
                let _task = coring::spawn(echo(s));
            }
        });
        let bytes = Rc::new(Cell::new(0u64));
        let clients: Vec<_> = (0..conns)
            .map(|i| {
                let bytes = bytes.clone();
                coring::spawn(async move {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i + 1));
                    let c = TcpStream::connect(addr).await.expect("connect");
                    for _ in 0..MSGS {
                        let len = 1 + (rng.next() % (64 * 1024)) as usize;
                        let msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                        let sum = fnv(&msg);
                        let (res, _) = c.write_all(msg).await;
                        res.expect("write");
                        let (res, back) = c.read_exact(vec![0u8; len]).await;
                        res.expect("read");
                        assert_eq!(fnv(&back), sum, "connection {i}: echo corrupted");
                        bytes.set(bytes.get() + len as u64);
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.expect("client");
        }
        server.await.expect("server");
        assert!(bytes.get() > conns * MSGS);
    });
}

#[test]
fn multishot_accept_of_5000_connections() {
    // Waves of 500; ids are u16.
    let (_one, n) = connections(5000);
    let n = n as usize / 500 * 500;
    run(120, async {
        let l = TcpListener::builder()
            .backlog(4096)
            .bind("127.0.0.1:0")
            .expect("bind");
        let addr: SocketAddr = l.local_addr().expect("addr");
        let mut incoming = l.incoming();
        let server = coring::spawn(async move {
            let mut held = Vec::with_capacity(n);
            let mut ids = vec![false; n];
            while held.len() < n {
                let s = incoming.accept().await.expect("accept");
                // Each client sends its id: every connection arrives once.
                let (res, b) = s.read_exact(vec![0u8; 2]).await;
                res.expect("id");
                let id = usize::from(u16::from_le_bytes([b[0], b[1]]));
                assert!(!ids[id], "connection {id} accepted twice");
                ids[id] = true;
                held.push(s);
            }
            held.len()
        });
        // Connect in waves so the backlog never overflows.
        let mut clients = Vec::with_capacity(n);
        for wave in 0..n / 500 {
            let tasks: Vec<_> = (0..500)
                .map(|j| {
                    let id = (wave * 500 + j) as u16;
                    coring::spawn(async move {
                        let c = TcpStream::connect(addr).await.expect("connect");
                        let (res, _) = c.write_all(id.to_le_bytes().to_vec()).await;
                        res.expect("write id");
                        c
                    })
                })
                .collect();
            for t in tasks {
                clients.push(t.await.expect("client"));
            }
        }
        assert_eq!(server.await.expect("server"), n);
        assert_eq!(clients.len(), n);
    });
}
