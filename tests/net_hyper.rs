//! hyper natively on coring (feature `hyper`: `HyperIo`, `HyperExecutor`,
//! `HyperTimer`), driven by real clients: hyper's own client on tokio in
//! the test thread, `curl` when installed, and raw TCP for what clients
//! don't do politely (pipelining, hanging up mid-body, slowloris).
//!
//! Every test runs a coring server on its own thread and checks, when the
//! server stops, that no connection task panicked, that every connection
//! ended once its client left, and that the process has the same open fds
//! as before (the tests of this binary take turns, so counts compare).
//!
//! Each check was seen failing once on purpose: a byte dropped from
//! staged writes or a short direct send reported whole (the echo, chunked,
//! curl and Compat tests fail), a `SendSleep` that never registers its
//! timer (the silent client of the slowloris test), a leaked listener (the
//! fd count), no end-of-stream wait for the send in flight (the
//! close-after-response test on a plain ring: 296–299 of 300 connections
//! ended with "connection closed before message completed").

mod support;

use bytes::Bytes;
use coring::net::{HyperExecutor, HyperIo, HyperTimer};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use support::{curl, with_watchdog};

type ResBody = UnsyncBoxBody<Bytes, hyper::Error>;
type ReqBody = UnsyncBoxBody<Bytes, Infallible>;

const HELLO: &[u8] = b"hello from coring";

/// The tests of this binary take turns: they count the process's fds.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The process's open fds, with what each is.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect();
    fds.sort();
    fds
}

fn full(b: impl Into<Bytes>) -> ResBody {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// `GET /` (any query) says hello; `POST /echo` collects the body and
/// sends it back with a length; `POST /stream` streams the request body
/// straight back (chunked); anything else is a 404.
async fn handle(req: Request<Incoming>) -> Result<Response<ResBody>, Infallible> {
    let mut r = Response::new(full(Bytes::new()));
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => *r.body_mut() = full(HELLO),
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(b) => *r.body_mut() = full(b.to_bytes()),
            Err(_) => *r.status_mut() = StatusCode::BAD_REQUEST,
        },
        (&Method::POST, "/stream") => *r.body_mut() = req.into_body().boxed_unsync(),
        _ => *r.status_mut() = StatusCode::NOT_FOUND,
    }
    Ok(r)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// `HyperIo::new`: a receive into the adapter's own buffer.
    Owned,
    /// `HyperIo::new(..).direct_writes(false)`: every write copied and
    /// written behind through an io_uring send.
    Queued,
    /// `HyperIo::with_ring`: a multishot receive on a small ring (256
    /// buffers of 4 KiB), so big bodies span many buffers and 1,000
    /// connections run it dry.
    Ring,
    /// HTTP/2 (`HyperExecutor`, `HyperTimer`), own buffers.
    H2,
    /// Like `Queued`, on a ring without DEFER_TASKRUN (completions in any
    /// order relative to the task's polls).
    PlainRing,
}

/// How a connection task ended.
#[derive(Debug)]
enum Outcome {
    Ok,
    /// hyper's header-read timeout.
    HeaderTimeout,
    Err(String),
}

struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Report>>,
}

#[derive(Debug)]
struct Report {
    outcomes: Vec<Outcome>,
    /// Connection tasks still running 5 s after the server stopped.
    unfinished: usize,
}

impl Server {
    fn start(mode: Mode, header_timeout: Duration) -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, st) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = match mode {
                // No DEFER_TASKRUN, COOP_TASKRUN or SINGLE_ISSUER: the
                // kernel may post a completion whenever it likes.
                Mode::PlainRing => coring::Builder::new()
                    .defer_taskrun(false)
                    .coop_taskrun(false)
                    .single_issuer(false)
                    .build(),
                _ => coring::Runtime::new(),
            }
            .expect("io_uring");
            rt.block_on(serve(mode, header_timeout, tx, acc, st))
        });
        let addr = rx.recv().expect("server address");
        Server {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(SeqCst)
    }

    /// Stops accepting, waits (up to 5 s) for the connection tasks, and
    /// checks none panicked (a panic in a task fails here).
    fn stop(mut self) -> Report {
        self.stop.store(true, SeqCst);
        drop(std::net::TcpStream::connect(self.addr).expect("wake the accept loop"));
        let t = self.thread.take().expect("running");
        match t.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

async fn serve(
    mode: Mode,
    header_timeout: Duration,
    tx: std::sync::mpsc::Sender<SocketAddr>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Report {
    let l = coring::net::TcpListener::builder()
        .backlog(2048)
        .bind("127.0.0.1:0")
        .expect("bind");
    tx.send(l.local_addr().expect("addr")).expect("send addr");
    let ring = (mode == Mode::Ring).then(|| coring::buf::BufRing::new(256, 4096).expect("ring"));
    let mut incoming = l.incoming();
    let mut tasks = Vec::new();
    loop {
        let s = incoming.accept().await.expect("accept");
        if stop.load(SeqCst) {
            break;
        }
        accepted.fetch_add(1, SeqCst);
        let io = match &ring {
            Some(ring) => HyperIo::with_ring(s, ring),
            None => HyperIo::new(s).direct_writes(!matches!(mode, Mode::Queued | Mode::PlainRing)),
        };
        tasks.push(coring::spawn(async move {
            let res = if mode == Mode::H2 {
                hyper::server::conn::http2::Builder::new(HyperExecutor)
                    .timer(HyperTimer)
                    .keep_alive_interval(Duration::from_secs(1))
                    .serve_connection(io, service_fn(handle))
                    .await
            } else {
                hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .header_read_timeout(header_timeout)
                    .serve_connection(io, service_fn(handle))
                    .await
            };
            match res {
                Ok(()) => Outcome::Ok,
                Err(e) if e.is_timeout() => Outcome::HeaderTimeout,
                Err(e) => Outcome::Err(e.to_string()),
            }
        }));
    }
    drop(incoming);
    drop(l);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut outcomes = Vec::new();
    let mut unfinished = 0;
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        match coring::time::timeout(left, t).await {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(e)) => panic!("a connection task panicked: {e:?}"),
            Err(_) => unfinished += 1,
        }
    }
    Report {
        outcomes,
        unfinished,
    }
}

/// Runs `f` against a fresh server, then stops it and checks: no task
/// panicked, every connection ended, no fd leaked. Returns the report.
fn with_server(
    what: &str,
    mode: Mode,
    header_timeout: Duration,
    f: impl FnOnce(&Server) + Send + 'static,
) -> Report {
    let _turn = serial();
    let what = what.to_string();
    with_watchdog(&what.clone(), Duration::from_secs(120), move || {
        let before = open_fds();
        let server = Server::start(mode, header_timeout);
        f(&server);
        let report = server.stop();
        assert_eq!(
            report.unfinished, 0,
            "{what}: connections still open after their clients left: {report:?}"
        );
        let after = open_fds();
        assert_eq!(
            before.len(),
            after.len(),
            "{what}: fds before and after the server: {before:?} {after:?}"
        );
        report
    })
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

/// A hyper HTTP/1 client connection on tokio.
async fn connect(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http1::SendRequest<ReqBody>,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    (sender, tokio::spawn(conn))
}

fn req(method: Method, path: &str, body: ReqBody) -> Request<ReqBody> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "coring.test")
        .body(body)
        .expect("request")
}

fn body(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).boxed_unsync()
}

/// A body of several chunks and no length: hyper's client sends it
/// chunked.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// `n` bytes of a pattern that differs per `seed`.
fn pattern(n: usize, seed: u8) -> Bytes {
    (0..n)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul(31))
        .collect::<Vec<u8>>()
        .into()
}

async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<ReqBody>,
    r: Request<ReqBody>,
) -> (StatusCode, hyper::HeaderMap, Bytes) {
    sender.ready().await.expect("ready");
    let res = sender.send_request(r).await.expect("response");
    let (parts, b) = res.into_parts();
    let b = b.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, b)
}

const SIZES: [usize; 9] = [
    0,
    1,
    100,
    4095,
    4096,
    65_537,
    1 << 20,
    (1 << 20) * 3 + 7,
    16 << 20,
];

fn get_and_echo(mode: Mode) {
    with_server("get and echo", mode, Duration::from_secs(30), |s| {
        let addr = s.addr;
        tokio_rt().block_on(async move {
            let (mut tx, conn) = connect(addr).await;
            let (st, _, b) = send(&mut tx, req(Method::GET, "/", body(""))).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(&b[..], HELLO);
            for (i, n) in SIZES.into_iter().enumerate() {
                let data = pattern(n, i as u8);
                let (st, h, b) =
                    send(&mut tx, req(Method::POST, "/echo", body(data.clone()))).await;
                assert_eq!(st, StatusCode::OK, "{n} bytes");
                assert_eq!(h["content-length"], n.to_string().as_str());
                assert!(b == data, "a {n}-byte body came back changed");
            }
            let (st, _, _) = send(&mut tx, req(Method::GET, "/nope", body(""))).await;
            assert_eq!(st, StatusCode::NOT_FOUND);
            drop(tx);
            conn.await.expect("conn task").expect("client connection");
        });
        assert_eq!(s.accepted(), 1, "one keep-alive connection");
    });
}

#[test]
fn get_and_post_bodies_0_b_to_16_mib_echo_intact() {
    get_and_echo(Mode::Owned);
}

#[test]
fn get_and_post_bodies_0_b_to_16_mib_echo_intact_on_a_buffer_ring() {
    get_and_echo(Mode::Ring);
}

#[test]
fn get_and_post_bodies_0_b_to_16_mib_echo_intact_written_behind() {
    get_and_echo(Mode::Queued);
}

#[test]
fn get_and_post_bodies_0_b_to_16_mib_echo_intact_written_behind_on_a_plain_ring() {
    get_and_echo(Mode::PlainRing);
}

#[test]
fn chunked_bodies_stream_back_chunked() {
    for mode in [Mode::Owned, Mode::Ring, Mode::Queued] {
        with_server("chunked", mode, Duration::from_secs(30), |s| {
            let addr = s.addr;
            tokio_rt().block_on(async move {
                let (mut tx, _conn) = connect(addr).await;
                for chunks in [vec![], vec![1], vec![5, 0, 70_000, 3], vec![4096; 100]] {
                    let parts: VecDeque<Bytes> = chunks
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| pattern(n, i as u8))
                        .collect();
                    let whole: Vec<u8> = parts.iter().flat_map(|b| b.to_vec()).collect();
                    let r = req(Method::POST, "/stream", Chunks(parts).boxed_unsync());
                    assert_eq!(r.body().size_hint().exact(), None, "sent chunked");
                    let (st, h, b) = send(&mut tx, r).await;
                    assert_eq!(st, StatusCode::OK);
                    assert_eq!(h["transfer-encoding"], "chunked", "{chunks:?}");
                    assert!(b == whole, "chunks {chunks:?} came back changed");
                }
            });
        });
    }
}

#[test]
fn keep_alive_across_1000_requests_on_one_connection() {
    with_server("keep-alive", Mode::Owned, Duration::from_secs(30), |s| {
        let addr = s.addr;
        tokio_rt().block_on(async move {
            let (mut tx, conn) = connect(addr).await;
            for i in 0..1000u32 {
                let (st, _, b) = if i % 2 == 0 {
                    send(&mut tx, req(Method::GET, "/", body(""))).await
                } else {
                    let d = Bytes::from(i.to_string());
                    let (st, h, b) =
                        send(&mut tx, req(Method::POST, "/echo", body(d.clone()))).await;
                    assert_eq!(b, d);
                    (st, h, Bytes::from_static(HELLO))
                };
                assert_eq!(st, StatusCode::OK);
                assert_eq!(&b[..], HELLO);
            }
            drop(tx);
            conn.await.expect("conn task").expect("client connection");
        });
        assert_eq!(s.accepted(), 1, "all 1000 requests on one connection");
    });
}

/// Reads HTTP/1.1 responses from `raw` until the peer closes.
fn read_all(mut raw: std::net::TcpStream) -> String {
    raw.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = Vec::new();
    raw.read_to_end(&mut out).expect("read responses");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn pipelined_requests_in_one_write_are_all_answered_in_order() {
    for mode in [Mode::Owned, Mode::Ring, Mode::Queued] {
        with_server("pipelined", mode, Duration::from_secs(30), |s| {
            let mut raw = std::net::TcpStream::connect(s.addr).expect("connect");
            let mut batch = String::new();
            for i in 0..20 {
                batch.push_str(&format!(
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\nbody-{i}",
                    format!("body-{i}").len()
                ));
                batch.push_str("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            }
            batch.push_str("GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            raw.write_all(batch.as_bytes())
                .expect("write all requests at once");
            let text = read_all(raw);
            assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 40, "{text}");
            assert_eq!(text.matches("HTTP/1.1 404 Not Found").count(), 1);
            // In order: each echo before the next.
            let mut at = 0;
            for i in 0..20 {
                let e = format!("body-{i}");
                let p = text[at..]
                    .find(&e)
                    .unwrap_or_else(|| panic!("{e} missing or out of order"));
                at += p + e.len();
                let h = text[at..]
                    .find("hello from coring")
                    .expect("hello after echo");
                at += h;
            }
        });
    }
}

#[test]
fn a_client_that_hangs_up_mid_body_ends_its_connection_only() {
    for mode in [Mode::Owned, Mode::Ring, Mode::Queued] {
        let report = with_server("mid-body", mode, Duration::from_secs(30), |s| {
            for reset in [false, true] {
                let mut raw = std::net::TcpStream::connect(s.addr).expect("connect");
                raw.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
                    .expect("head");
                raw.write_all(&vec![7u8; 100_000])
                    .expect("part of the body");
                std::thread::sleep(Duration::from_millis(50));
                if reset {
                    // RST instead of FIN.
                    socket2::SockRef::from(&raw)
                        .set_linger(Some(Duration::ZERO))
                        .expect("linger");
                }
                drop(raw);
            }
            // The server still serves.
            let addr = s.addr;
            tokio_rt().block_on(async move {
                let (mut tx, _conn) = connect(addr).await;
                let (st, _, b) = send(&mut tx, req(Method::GET, "/", body(""))).await;
                assert_eq!(st, StatusCode::OK);
                assert_eq!(&b[..], HELLO);
            });
        });
        let errors: Vec<&String> = report
            .outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Err(e) => Some(e),
                _ => None,
            })
            .collect();
        println!("{mode:?}: the cut-off uploads ended with {errors:?}");
        let errors = errors.len();
        assert_eq!(report.outcomes.len(), 3, "{report:?}");
        assert_eq!(
            errors, 2,
            "both cut-off uploads end their connection with an error: {report:?}"
        );
    }
}

#[test]
fn a_slowloris_client_is_timed_out_while_others_are_served() {
    const TIMEOUT: Duration = Duration::from_millis(700);
    for mode in [Mode::Owned, Mode::Ring] {
        let report = with_server("slowloris", mode, TIMEOUT, |s| {
            let addr = s.addr;
            // One header byte per 100 ms: 60 bytes would take 6 s.
            let slow = std::thread::spawn(move || {
                let mut raw = std::net::TcpStream::connect(addr).expect("connect");
                let head =
                    b"GET / HTTP/1.1\r\nHost: slow.example\r\nX-Slow: aaaaaaaaaaaaaa\r\n\r\n";
                let t = Instant::now();
                for b in head {
                    if raw.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    // Closed by the server? (A zero-length non-blocking peek.)
                    raw.set_nonblocking(true).expect("nonblocking");
                    let mut probe = [0u8; 1];
                    let closed = matches!(raw.peek(&mut probe), Ok(0));
                    raw.set_nonblocking(false).expect("blocking");
                    if closed {
                        break;
                    }
                }
                t.elapsed()
            });
            // And one that sends half a header and goes silent: only the
            // timer can end it.
            let silent = std::thread::spawn(move || {
                let mut raw = std::net::TcpStream::connect(addr).expect("connect");
                raw.write_all(b"GET / HTTP/1.1\r\nHo")
                    .expect("half a header");
                let t = Instant::now();
                raw.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let mut buf = [0u8; 64];
                let closed = matches!(raw.read(&mut buf), Ok(0) | Err(_));
                (closed, t.elapsed())
            });
            // Meanwhile, others are served at once.
            tokio_rt().block_on(async move {
                let (mut tx, _conn) = connect(addr).await;
                for _ in 0..50 {
                    let t = Instant::now();
                    let (st, _, b) = send(&mut tx, req(Method::GET, "/", body(""))).await;
                    assert_eq!(st, StatusCode::OK);
                    assert_eq!(&b[..], HELLO);
                    assert!(t.elapsed() < Duration::from_millis(500), "a slow answer");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            let (closed, after) = silent.join().expect("silent client");
            assert!(
                closed
                    && after >= TIMEOUT - Duration::from_millis(50)
                    && after < Duration::from_secs(3),
                "the silent connection: closed {closed} after {after:?}, timeout {TIMEOUT:?}"
            );
            let took = slow.join().expect("slow client");
            assert!(
                took >= TIMEOUT && took < Duration::from_secs(4),
                "the slowloris connection was closed after {took:?}, timeout {TIMEOUT:?}"
            );
        });
        let timeouts = report
            .outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::HeaderTimeout))
            .count();
        assert_eq!(timeouts, 2, "two header-read timeouts: {report:?}");
    }
}

/// Raises the soft fd limit to the hard one; the soft limit afterwards.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads one rlimit from `lim`.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

#[test]
fn a_thousand_concurrent_connections() {
    const N: usize = 1000;
    let limit = raise_fd_limit();
    if limit < (2 * N + 200) as u64 {
        println!(
            "skipped: the fd limit is {limit}, below the {} this needs",
            2 * N + 200
        );
        return;
    }
    for mode in [Mode::Owned, Mode::Ring] {
        with_server(
            "1000 connections",
            mode,
            Duration::from_secs(30),
            move |s| {
                let addr = s.addr;
                let accepted = s.accepted.clone();
                tokio_rt().block_on(async move {
                    // All open at once, then a request on each, all in flight.
                    let mut conns = Vec::new();
                    for _ in 0..N {
                        conns.push(connect(addr).await);
                    }
                    let mut reqs = tokio::task::JoinSet::new();
                    for (i, (mut tx, conn)) in conns.into_iter().enumerate() {
                        reqs.spawn(async move {
                            let d = pattern(100 + i, i as u8);
                            let (st, _, b) =
                                send(&mut tx, req(Method::POST, "/echo", body(d.clone()))).await;
                            assert_eq!(st, StatusCode::OK);
                            assert!(b == d, "connection {i}: body changed");
                            (tx, conn)
                        });
                    }
                    let mut open = Vec::new();
                    while let Some(r) = reqs.join_next().await {
                        open.push(r.expect("client task"));
                    }
                    assert_eq!(open.len(), N);
                    assert_eq!(accepted.load(SeqCst), N, "all open at the server at once");
                    for (tx, conn) in open {
                        drop(tx);
                        conn.await.expect("conn task").expect("client connection");
                    }
                });
            },
        );
    }
}

#[test]
fn http2_through_hyper_executor_and_timer() {
    with_server("http2", Mode::H2, Duration::from_secs(30), |s| {
        let addr = s.addr;
        tokio_rt().block_on(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (tx, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await
                    .expect("h2 handshake");
            let conn = tokio::spawn(conn);
            // Concurrent streams on one connection: each is a task spawned
            // by HyperExecutor on the server.
            let mut set = tokio::task::JoinSet::new();
            for i in 0..20usize {
                let mut tx = tx.clone();
                set.spawn(async move {
                    let d = pattern(i * 10_000, i as u8);
                    tx.ready().await.expect("ready");
                    let res = tx
                        .send_request(req(Method::POST, "/echo", body(d.clone())))
                        .await
                        .expect("response");
                    assert_eq!(res.status(), StatusCode::OK);
                    let b = res.into_body().collect().await.expect("body").to_bytes();
                    assert!(b == d, "stream {i}: body changed");
                });
            }
            while let Some(r) = set.join_next().await {
                r.expect("stream task");
            }
            // Idle past two keep-alive pings (HyperTimer); still usable.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let mut tx2 = tx.clone();
            tx2.ready().await.expect("ready after idle");
            let res = tx2
                .send_request(req(Method::GET, "/", body("")))
                .await
                .expect("response after idle");
            assert_eq!(res.status(), StatusCode::OK);
            drop((tx, tx2));
            conn.await.expect("conn task").expect("client connection");
        });
    });
}

#[test]
fn curl_get_post_chunked_keep_alive() {
    // Under the lock: the check's pipes are fds another test would count.
    let installed = {
        let _turn = serial();
        std::process::Command::new("curl")
            .arg("--version")
            .output()
            .is_ok()
    };
    if !installed {
        println!("skipped: curl is not installed");
        return;
    }
    for mode in [Mode::Owned, Mode::Ring] {
        with_server("curl", mode, Duration::from_secs(30), move |s| {
            let base = format!("http://{}", s.addr);
            let out = curl(&[&format!("{base}/")]);
            assert!(out.status.success(), "{out:?}");
            assert_eq!(out.stdout, HELLO);

            let dir = std::env::temp_dir();
            for (i, n) in [0usize, 1, 70_000, 16 << 20].into_iter().enumerate() {
                let data = pattern(n, 9 + i as u8);
                let file = dir.join(format!("coring-hyper-curl-{}-{n}", std::process::id()));
                std::fs::write(&file, &data).expect("write body file");
                let at = format!("@{}", file.display());
                // Plain, then chunked upload streamed back.
                let plain = curl(&["--data-binary", &at, &format!("{base}/echo")]);
                let chunked = curl(&[
                    "-H",
                    "Transfer-Encoding: chunked",
                    "--data-binary",
                    &at,
                    &format!("{base}/stream"),
                ]);
                std::fs::remove_file(&file).expect("remove body file");
                assert!(plain.status.success(), "{:?}", plain.stderr);
                assert!(
                    plain.stdout == data[..],
                    "curl: a {n}-byte body came back changed"
                );
                assert!(chunked.status.success(), "{:?}", chunked.stderr);
                assert!(
                    chunked.stdout == data[..],
                    "curl chunked: {n} bytes changed"
                );
            }

            // 50 requests in one curl: one keep-alive connection.
            let before = s.accepted();
            let out = curl(&[&format!("{base}/?n=[1-50]")]);
            assert!(out.status.success(), "{out:?}");
            assert_eq!(out.stdout, HELLO.repeat(50));
            assert_eq!(s.accepted() - before, 1, "curl reused its connection");
        });
    }
}

#[test]
fn hyper_client_and_server_both_on_coring_over_a_unix_stream() {
    let _turn = serial();
    with_watchdog("unix", Duration::from_secs(60), || {
        let before = open_fds();
        let rt = coring::Runtime::new().expect("io_uring");
        rt.block_on(async {
            let (a, b) = coring::net::UnixStream::pair().expect("pair");
            let server = coring::spawn(async move {
                hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .serve_connection(HyperIo::new(a), service_fn(handle))
                    .await
            });
            let (mut tx, conn) = hyper::client::conn::http1::handshake(HyperIo::new(b))
                .await
                .expect("handshake");
            let conn = coring::spawn(conn);
            for n in [0usize, 10, 300_000] {
                let d = pattern(n, 3);
                let (st, _, got) = send(&mut tx, req(Method::POST, "/echo", body(d.clone()))).await;
                assert_eq!(st, StatusCode::OK);
                assert!(got == d, "{n} bytes changed");
            }
            drop(tx);
            conn.await.expect("client task").expect("client connection");
            server
                .await
                .expect("server task")
                .expect("server connection");
        });
        drop(rt);
        assert_eq!(open_fds().len(), before.len(), "fds before and after");
    });
}

#[test]
fn a_client_closing_right_after_its_response_ends_the_connection_cleanly() {
    // The response is written behind (a send in flight); the client reads
    // it and closes at once, so the server may see the end of stream
    // before the send's completion. hyper must not take that for a close
    // in the middle of its response.
    for mode in [Mode::Queued, Mode::PlainRing, Mode::Owned, Mode::Ring] {
        let report = with_server("close after response", mode, Duration::from_secs(30), |s| {
            for _ in 0..300 {
                let mut raw = std::net::TcpStream::connect(s.addr).expect("connect");
                raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .expect("request");
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while !got.ends_with(HELLO) {
                    let n = raw.read(&mut buf).expect("response");
                    assert!(n > 0, "closed before the response: {got:?}");
                    got.extend_from_slice(&buf[..n]);
                }
            }
        });
        let errors: Vec<&Outcome> = report
            .outcomes
            .iter()
            .filter(|o| !matches!(o, Outcome::Ok))
            .collect();
        assert_eq!(report.outcomes.len(), 300);
        assert!(
            errors.is_empty(),
            "{mode:?}: {} of 300 ended with {errors:?}",
            errors.len()
        );
    }
}

#[test]
fn bytes_flushed_just_before_the_stream_is_dropped_all_arrive() {
    // hyper flushes a response, then may drop the connection at once (a
    // `Connection: close` error path, a server shutting down). A flush
    // returns while the last send is in flight; that send must still go
    // out in full, and the socket close after it.
    use hyper::rt::Write as _;
    let _turn = serial();
    with_watchdog("flush then drop", Duration::from_secs(60), || {
        const N: usize = 4 << 20;
        let data = pattern(N, 9);
        for ring in [false, true] {
            let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
            let reader = std::thread::spawn(move || {
                // Let the writer fill the socket buffer first.
                std::thread::sleep(Duration::from_millis(150));
                let mut got = Vec::new();
                theirs.read_to_end(&mut got).map(|_| got)
            });
            let rt = coring::Runtime::new().expect("runtime");
            rt.block_on(async {
                let stream = coring::net::UnixStream::from_std(ours);
                let ring = ring.then(|| coring::buf::BufRing::new(4, 4096).expect("ring"));
                let mut io = match &ring {
                    Some(r) if coring::op::Feature::RECV_MULTISHOT.is_supported() => {
                        HyperIo::with_ring(stream, r)
                    }
                    _ => HyperIo::new(stream),
                };
                let mut off = 0;
                while off < N {
                    off +=
                        std::future::poll_fn(|cx| Pin::new(&mut io).poll_write(cx, &data[off..]))
                            .await
                            .expect("write");
                }
                std::future::poll_fn(|cx| Pin::new(&mut io).poll_flush(cx))
                    .await
                    .expect("flush");
                drop(io);
                // The runtime keeps running: the send it was handed ends.
                while !reader.is_finished() {
                    coring::time::sleep(Duration::from_millis(5)).await;
                }
            });
            let got = reader.join().expect("reader").expect("read");
            assert_eq!(got.len(), N, "ring {ring}: every byte, then end of stream");
            assert!(got == data, "ring {ring}: intact");
        }
    });
}
