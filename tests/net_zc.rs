//! Zero-copy send (SEND_ZC): the bytes arrive intact, the buffer comes
//! back only after the kernel's notification, errors come back with it.

mod support;
use coring::buf::IoBuf;
use std::io;
use std::net::Shutdown;
use std::time::Duration;
use support::tcp_pair;

/// Runs `f` on a fresh runtime, failing the test after 30 s.
fn run<F: std::future::Future>(f: F) -> F::Output {
    support::run(30, f)
}

#[test]
fn zero_copy_sends_arrive_intact() {
    run(async {
        let (c, s) = tcp_pair().await;
        let data: Vec<u8> = (0..4usize << 20).map(|i| (i * 13 % 251) as u8).collect();
        let expect = data.clone();
        let reader = coring::spawn(async move {
            let mut got = Vec::with_capacity(4 << 20);
            loop {
                let (res, b) = s.read(Vec::with_capacity(256 * 1024)).await;
                match res.expect("read") {
                    0 => return got,
                    _ => got.extend_from_slice(&b),
                }
            }
        });
        let mut buf = data;
        let mut off = 0;
        while off < buf.len() {
            let (res, slice) = c.write_zc(buf.slice(off..)).await;
            buf = slice.into_inner();
            match res {
                Ok(n) => off += n,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    eprintln!("no SEND_ZC in this kernel: {e}");
                    return;
                }
                Err(e) => panic!("send_zc: {e}"),
            }
        }
        assert_eq!(buf.len(), 4 << 20, "the buffer came back whole");
        c.shutdown(Shutdown::Write).await.expect("shutdown");
        let got = reader.await.expect("reader");
        assert!(got == expect, "bytes differ");
    });
}

#[test]
fn zero_copy_send_to_a_closed_peer_fails_with_the_buffer() {
    run(async {
        let (c, s) = tcp_pair().await;
        drop(s);
        coring::time::sleep(Duration::from_millis(20)).await;
        let mut last = None;
        for _ in 0..50 {
            let (res, buf) = c.write_zc(vec![1u8; 64 * 1024]).await;
            assert_eq!(buf.len(), 64 * 1024);
            if let Err(e) = res {
                last = Some(e);
                break;
            }
        }
        let e = last.expect("the send fails once the peer is gone");
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::InvalidInput
            ),
            "{e}"
        );
    });
}
