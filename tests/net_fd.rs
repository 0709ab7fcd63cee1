//! No leaked fd, no leaked buffer: streams dropped with ops in flight,
//! cancelled accepts, a dropped multishot accept. Its own test binary,
//! and each test holds the fd lock exclusively (`support::fd_exclusive`),
//! because they count the process's fds.

mod support;
use coring::net::TcpListener;
use std::future::{poll_fn, Future};
use std::io::Read;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use support::{fd_exclusive, open_fd_count as open_fds, tcp_pair, BufCounter};

/// Polls `f` once (so its SQE is pushed), then drops it.
async fn poll_once_then_drop<F: Future>(f: F) {
    let mut f = pin!(f);
    poll_fn(|cx| {
        let _ = f.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

/// Lets the runtime turn until the ring is quiet.
async fn settle() {
    for _ in 0..5 {
        coring::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `f` on a fresh runtime, failing the test after 20 s.
fn run<F: std::future::Future>(f: F) -> F::Output {
    support::run(20, f)
}

#[test]
fn dropped_stream_with_ops_in_flight_leaks_nothing() {
    let _g = fd_exclusive();
    let counter = BufCounter::new();
    let before = open_fds();
    run(async {
        for _ in 0..20 {
            let (c, s) = tcp_pair().await;
            let buf = counter.buf(4096);
            // A read that cannot complete (no data comes), dropped while
            // in flight, together with its stream.
            poll_once_then_drop(s.read(buf)).await;
            drop(s);
            let t = coring::spawn(async move {
                let _ = c.read(Vec::with_capacity(16)).await;
            });
            coring::yield_now().await;
            t.abort();
        }
        settle().await;
    });
    assert_eq!(counter.dropped(), 20, "every buffer freed after its CQE");
    assert_eq!(open_fds(), before, "every socket closed");
}

#[test]
fn dropped_write_all_mid_send_leaks_nothing() {
    let _g = fd_exclusive();
    let counter = BufCounter::new();
    let before = open_fds();
    run(async {
        for i in 0..10 {
            let (c, s) = tcp_pair().await;
            // The previous rounds' buffers went while this one connected.
            assert_eq!(counter.dropped(), i, "an earlier buffer is still held");
            // More than the socket buffers hold while nobody reads: the
            // send stays in flight.
            let buf = counter.buf_from(vec![7u8; 64 << 20]);
            poll_once_then_drop(c.write_all(buf)).await;
            assert_eq!(counter.dropped(), i, "freed while the send was in flight");
            drop(c);
            drop(s);
        }
        settle().await;
    });
    assert_eq!(counter.dropped(), 10, "every buffer freed after its CQE");
    assert_eq!(open_fds(), before, "every socket closed");
}

#[test]
fn cancelled_accept_closes_the_accepted_socket() {
    let _g = fd_exclusive();
    let before = open_fds();
    run(async {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        for _ in 0..10 {
            // The connection waits in the backlog, so the kernel accepts it
            // as soon as it sees the SQE, before the cancel that follows.
            let mut client = std::net::TcpStream::connect(addr).expect("connect");
            poll_once_then_drop(l.accept()).await;
            settle().await;
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut b = [0u8; 1];
            let n = client.read(&mut b).expect("the server side was closed");
            assert_eq!(n, 0, "EOF: the orphaned accept closed its socket");
        }
    });
    assert_eq!(open_fds(), before);
}

#[test]
fn dropped_incoming_closes_what_it_accepted() {
    let _g = fd_exclusive();
    let before = open_fds();
    run(async {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let clients: Vec<_> = (0..8)
            .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
            .collect();
        {
            let mut incoming = l.incoming();
            // Take one, leave the rest to the kernel and the drop.
            let first = incoming.accept().await.expect("accept");
            drop(first);
            poll_once_then_drop(incoming.accept()).await;
        }
        settle().await;
        // Every client sees its connection closed: by the drop of what
        // was accepted, or by the listener's close for the backlog.
        drop(l);
        for mut c in clients {
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut b = [0u8; 1];
            match c.read(&mut b) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("expected EOF or reset, got {other:?}"),
            }
        }
        settle().await;
    });
    assert_eq!(open_fds(), before);
}
