//! Provided buffer rings and the multishot receive stream: order and
//! integrity, a slow reader that empties the ring (ENOBUFS re-arms, no
//! failure), idle connections holding no buffer, buffers back on drop.

mod support;
use coring::buf::BufRing;
use coring::net::{TcpListener, TcpStream};
use std::io;
use std::net::Shutdown;
use std::time::Duration;
use support::{run, tcp_pair};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

#[test]
fn bad_ring_arguments_are_errors() {
    run(5, async {
        for (entries, len) in [(3u16, 64usize), (0, 64), (8, 0)] {
            let err = BufRing::new(entries, len).expect_err("invalid");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
        // Many rings made and dropped: each is unregistered and freed.
        for _ in 0..200 {
            let r = BufRing::new(16, 256).expect("ring");
            assert_eq!(r.available(), 16);
        }
    });
}

#[test]
fn recv_stream_yields_the_bytes_in_order() {
    run(20, async {
        let ring = BufRing::new(16, 4096).expect("ring");
        let (c, s) = tcp_pair().await;
        let data = pattern(1 << 20);
        let sent = data.clone();
        let writer = coring::spawn(async move {
            let (res, _) = c.write_all(sent).await;
            res.expect("write");
            c.shutdown(Shutdown::Write).await.expect("shutdown");
            c
        });
        let mut got = Vec::with_capacity(data.len());
        let mut stream = s.recv_stream(&ring);
        while let Some(buf) = stream.next_buf().await {
            let buf = buf.expect("recv");
            assert!(!buf.is_empty() && buf.len() <= 4096);
            got.extend_from_slice(&buf);
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes differ");
        assert!(stream.next_buf().await.is_none(), "ended at EOF");
        drop(writer.await.expect("writer"));
        assert_eq!(ring.available(), 16, "every buffer back in the ring");
    });
}

#[test]
fn slow_reader_empties_the_ring_and_the_stream_goes_on() {
    run(60, async {
        // 4 buffers of 1 KiB against 256 KiB of data, the reader holding
        // every buffer it gets for a while: the ring runs dry again and
        // again (ENOBUFS), and the stream must re-arm, not fail.
        let ring = BufRing::new(4, 1024).expect("ring");
        let (c, s) = tcp_pair().await;
        let data = pattern(256 * 1024);
        let sent = data.clone();
        let writer = coring::spawn(async move {
            let (res, _) = c.write_all(sent).await;
            res.expect("write");
            c.shutdown(Shutdown::Write).await.expect("shutdown");
            c
        });
        let mut stream = s.recv_stream(&ring);
        let mut got = Vec::with_capacity(data.len());
        let mut held = Vec::new();
        let mut dry = 0;
        while let Some(buf) = stream.next_buf().await {
            held.push(buf.expect("recv never fails on an empty ring"));
            if ring.available() == 0 {
                dry += 1;
                coring::time::sleep(Duration::from_millis(1)).await;
                for b in held.drain(..) {
                    got.extend_from_slice(&b);
                }
            }
        }
        for b in held.drain(..) {
            got.extend_from_slice(&b);
        }
        assert!(dry > 10, "the ring ran dry {dry} times");
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes differ");
        drop(writer.await.expect("writer"));
    });
}

#[test]
fn idle_connections_hold_no_buffer() {
    run(20, async {
        let ring = BufRing::new(8, 512).expect("ring");
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let mut clients = Vec::new();
        let mut streams = Vec::new();
        for _ in 0..100 {
            clients.push(TcpStream::connect(addr).await.expect("connect"));
            let (s, _) = l.accept().await.expect("accept");
            streams.push(s);
        }
        // 100 receives armed on 8 buffers.
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|s| {
                let ring = ring.clone();
                coring::spawn(async move {
                    let mut rs = s.recv_stream(&ring);
                    rs.next_buf().await.map(|b| b.map(|b| b.to_vec()))
                })
            })
            .collect();
        for _ in 0..5 {
            coring::yield_now().await;
        }
        coring::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(ring.available(), 8, "idle receives took no buffer");
        for (i, c) in clients.iter().enumerate() {
            let (res, _) = c.write_all(vec![i as u8; 3]).await;
            res.expect("write");
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let got = t.await.expect("task").expect("data").expect("recv");
            assert_eq!(got, vec![i as u8; 3]);
        }
        assert_eq!(ring.available(), 8);
    });
}

#[test]
fn dropped_stream_gives_its_buffers_back() {
    run(20, async {
        let ring = BufRing::new(8, 256).expect("ring");
        let (c, s) = tcp_pair().await;
        let mut rs = s.recv_stream(&ring);
        let (res, _) = c.write_all(pattern(600)).await;
        res.expect("write");
        let first = rs.next_buf().await.expect("data").expect("recv");
        assert!(!first.is_empty());
        // More data arrives into buffers nobody takes; then the stream
        // goes with its op still armed.
        let (res, _) = c.write_all(pattern(1500)).await;
        res.expect("write");
        coring::time::sleep(Duration::from_millis(20)).await;
        drop(rs);
        drop(first);
        coring::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(ring.available(), 8, "queued and late buffers returned");
    });
}
