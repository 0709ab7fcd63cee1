//! The compat adapters: hyper's HTTP/1.1 server on coring, driven by
//! hyper's client on tokio in another thread; tokio's io-util helpers on a
//! coring stream.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut r = Response::new(Full::new(Bytes::new()));
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => *r.body_mut() = Full::new(Bytes::from_static(b"hello from coring")),
        (&Method::POST, "/echo") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            *r.body_mut() = Full::new(body.unwrap_or_default());
        }
        _ => *r.status_mut() = StatusCode::NOT_FOUND,
    }
    Ok(r)
}

/// A coring HTTP server on its own thread serving `conns` connections.
fn server(conns: usize) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let rt = coring::Runtime::new().expect("io_uring");
        rt.block_on(async move {
            let l = coring::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send addr");
            let mut incoming = l.incoming();
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let s = incoming.accept().await.expect("accept");
                let io = TokioIo::new(s.compat());
                tasks.push(coring::spawn(async move {
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service_fn(handle))
                        .await
                        .expect("serve_connection");
                }));
            }
            for t in tasks {
                t.await.expect("connection task");
            }
        });
    });
    (rx.recv().expect("server address"), t)
}

async fn request(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "coring.test")
        .body(Full::new(body))
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, body)
}

#[test]
fn hyper_server_on_coring_answers_a_hyper_client() {
    const CONNS: usize = 4;
    let (addr, server) = server(CONNS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            let mut clients = Vec::new();
            for c in 0..CONNS {
                clients.push(tokio::spawn(async move {
                    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    let (mut sender, conn) =
                        hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                            .await
                            .expect("handshake");
                    let conn = tokio::spawn(conn);
                    // Several requests on one keep-alive connection.
                    let (s, b) = request(&mut sender, Method::GET, "/", Bytes::new()).await;
                    assert_eq!(s, StatusCode::OK);
                    assert_eq!(&b[..], b"hello from coring");
                    let big: Bytes = (0..200_000u32).map(|i| (i % 251) as u8 + c as u8).collect();
                    let (s, b) = request(&mut sender, Method::POST, "/echo", big.clone()).await;
                    assert_eq!(s, StatusCode::OK);
                    assert_eq!(b, big, "echoed body");
                    let (s, _) = request(&mut sender, Method::GET, "/nope", Bytes::new()).await;
                    assert_eq!(s, StatusCode::NOT_FOUND);
                    drop(sender);
                    conn.await.expect("conn task").expect("client connection");
                }));
            }
            for c in clients {
                c.await.expect("client");
            }
        })
        .await
        .expect("timed out");
    });
    server.join().expect("server thread");
}

#[test]
fn tokio_io_util_over_a_coring_stream() {
    let rt = coring::Runtime::new().expect("io_uring");
    rt.block_on(async {
        let (a, b) = coring::net::UnixStream::pair().expect("pair");
        let (mut a, mut b) = (a.compat(), b.compat());
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let sent = data.clone();
        let writer = coring::spawn(async move {
            a.write_all(&sent).await.expect("write_all");
            a.shutdown().await.expect("shutdown");
            a
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.expect("read_to_end");
        assert!(got == data);
        drop(writer.await.expect("writer"));
    });
}

#[test]
fn futures_io_traits_are_implemented() {
    fn assert_futures_io<T: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin>() {}
    assert_futures_io::<coring::net::compat::Compat<coring::net::TcpStream>>();
}

#[test]
fn compat_vectored_writes_go_out_whole_and_in_order() {
    for direct in [Some(true), Some(false), None] {
        let rt = coring::Runtime::new().expect("io_uring");
        rt.block_on(async {
            let (a, b) = coring::net::UnixStream::pair().expect("pair");
            let a = match direct {
                Some(on) => a.compat().direct_writes(on),
                None => a.compat(),
            };
            let (mut a, mut b) = (a, b.compat());
            assert!(tokio::io::AsyncWrite::is_write_vectored(&a));
            let parts: [&[u8]; 3] = [b"head:", b"", b"tail"];
            let slices: Vec<std::io::IoSlice<'_>> =
                parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
            let n = a.write_vectored(&slices).await.expect("write_vectored");
            assert_eq!(n, 9, "every slice taken in one call");
            // More than the socket or the 64 KiB staging limit take in one
            // vectored call: taken in part, the rest by the next calls.
            let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
            let n = a
                .write_vectored(&[std::io::IoSlice::new(&big), std::io::IoSlice::new(b"x")])
                .await
                .expect("write_vectored");
            assert!(n > 0 && n < big.len(), "a bounded part taken: {n}");
            if direct == Some(false) {
                assert!(n <= 64 * 1024, "at most the staging limit: {n}");
            }
            let reader = coring::spawn(async move {
                let mut got = Vec::new();
                b.read_to_end(&mut got).await.expect("read_to_end");
                got
            });
            a.write_all(&big[n..]).await.expect("rest");
            a.write_all(b"x").await.expect("x");
            a.shutdown().await.expect("shutdown");
            let got = reader.await.expect("reader");
            let mut want = b"head:tail".to_vec();
            want.extend_from_slice(&big);
            want.push(b'x');
            assert!(got == want, "direct {direct:?}: bytes changed or reordered");
        });
    }
}

/// After a failed send every write fails.
async fn writes_fail<S>(a: &mut coring::net::compat::Compat<S>) {
    let again = a
        .write(b"more")
        .await
        .expect_err("writes after a failure fail");
    assert_eq!(again.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn compat_reports_a_write_error_on_a_later_call_and_stays_failed() {
    let rt = coring::Runtime::new().expect("io_uring");
    rt.block_on(async {
        // Written behind (small writes by default, or no direct send at
        // all): the first write is accepted; its send fails. The flush
        // does not wait for the send (it was handed to the kernel), so the
        // error comes from the first call after the send's completion:
        // the flush if it came already, else the shutdown, which waits.
        for never_direct in [false, true] {
            let (a, b) = coring::net::UnixStream::pair().expect("pair");
            let mut a = match never_direct {
                true => a.compat().direct_writes(false),
                false => a.compat(),
            };
            drop(b);
            let first = a.write(b"lost").await;
            assert_eq!(first.expect("accepted behind"), 4);
            let err = match a.flush().await {
                Err(e) => e,
                Ok(()) => a
                    .shutdown()
                    .await
                    .expect_err("the shutdown waits for the failed send"),
            };
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
            writes_fail(&mut a).await;
        }
        // Once the failed send completed, the next call reports it.
        let (a, b) = coring::net::UnixStream::pair().expect("pair");
        let mut a = a.compat();
        drop(b);
        assert_eq!(a.write(b"lost").await.expect("accepted behind"), 4);
        a.flush().await.expect("the send is handed over, not done");
        coring::time::sleep(std::time::Duration::from_millis(20)).await;
        let err = a.flush().await.expect_err("the send failed meanwhile");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        writes_fail(&mut a).await;

        // With the direct send forced, the first write fails itself,
        // however small.
        let (a, b) = coring::net::UnixStream::pair().expect("pair");
        let mut a = a.compat().direct_writes(true);
        drop(b);
        let err = a.write(b"lost").await.expect_err("a closed peer");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    });
}

#[test]
fn bytes_written_behind_a_send_in_flight_go_out_when_the_writer_reads_next() {
    // An echo-style loop writes and then reads, with no flush: bytes
    // staged behind a send still in flight must go out when that send
    // completes, though the task then polls only its read.
    use std::io::{Read, Write};
    const N: usize = 4 << 20;
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
    let peer = std::thread::spawn(move || {
        // Let the writer fill the socket buffer first.
        std::thread::sleep(Duration::from_millis(100));
        let mut got = vec![0u8; N + 4];
        theirs.read_exact(&mut got).expect("the bytes and the tail");
        theirs.write_all(b"ok").expect("reply");
        got
    });
    let rt = coring::Runtime::new().expect("runtime");
    let sent = rt.block_on(async {
        let mut a = coring::net::UnixStream::from_std(ours).compat();
        let big: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
        a.write_all(&big).await.expect("big");
        // A send is in flight (the peer has not read): staged behind it.
        a.write_all(b"tail").await.expect("tail");
        let mut reply = [0u8; 2];
        coring::time::timeout(Duration::from_secs(20), a.read_exact(&mut reply))
            .await
            .expect("the tail went out, so the peer replied")
            .expect("read");
        assert_eq!(&reply, b"ok");
        big
    });
    let mut want = sent;
    want.extend_from_slice(b"tail");
    assert!(peer.join().expect("peer") == want, "bytes changed");
}
