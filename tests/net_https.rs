//! HTTPS on coring the way `examples/https.rs` serves it: tokio-rustls
//! over `Compat` (feature `compat`), hyper's HTTP/1.1 server through
//! hyper-util's `TokioIo`, a self-signed certificate from rcgen. Clients:
//! hyper's own client over tokio-rustls on a tokio runtime in the test
//! thread (trusting the certificate, checking the name), `curl -k` when
//! installed, and raw TCP for clients that are not TLS at all.
//!
//! Every test runs the server on its own thread and checks when it stops
//! that no connection task panicked, that every connection ended once its
//! client left, and that the process has as many open fds as before (the
//! tests of this binary take turns through `support::fd_exclusive`).
//!
//! Seen failing on purpose: a byte flipped in the echo handler (the echo,
//! keep-alive, 100-connection and curl tests), the listener leaked at the
//! server's end (the fd count), a handshake timeout 100 times longer (the
//! silent client is not closed in time).

mod support;

use bytes::Bytes;
use coring::net::compat::Compat;
use coring::net::{HyperTimer, TcpStream};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{curl, curl_installed, fd_exclusive, open_fd_count, with_watchdog};
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

type ReqBody = UnsyncBoxBody<Bytes, Infallible>;

const HELLO: &[u8] = b"hello over TLS";

/// How a connection task ended.
#[derive(Debug)]
enum Outcome {
    /// The handshake and every request went through, and the client closed.
    Ok,
    /// The handshake failed (not TLS, a cut-off hello).
    Handshake(String),
    /// The client did not finish its handshake in time.
    HandshakeTimeout,
    /// hyper's connection ended with an error after the handshake.
    Http(String),
}

impl Outcome {
    fn handshake_error(&self) -> Option<&str> {
        match self {
            Outcome::Handshake(e) => Some(e),
            _ => None,
        }
    }

    fn http_error(&self) -> Option<&str> {
        match self {
            Outcome::Http(e) => Some(e),
            _ => None,
        }
    }
}

/// `GET /` says hello; `POST /echo` collects the body and sends it back.
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut r = Response::new(Full::new(Bytes::new()));
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => *r.body_mut() = Full::new(Bytes::from_static(HELLO)),
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(b) => *r.body_mut() = Full::new(b.to_bytes()),
            Err(_) => *r.status_mut() = StatusCode::BAD_REQUEST,
        },
        _ => *r.status_mut() = StatusCode::NOT_FOUND,
    }
    Ok(r)
}

/// A new self-signed certificate for `localhost`: the server's TLS
/// configuration and the certificate for the client to trust.
fn certificate() -> (ServerConfig, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let cert = made.cert.der().clone();
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (config, cert)
}

/// Whether connections receive into their own buffer or on a shared
/// provided-buffer ring.
#[derive(Clone, Copy, Debug)]
enum Recv {
    Owned,
    Ring,
}

struct Server {
    addr: SocketAddr,
    cert: CertificateDer<'static>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Outcome>>,
}

impl Server {
    /// Serves on a coring runtime in a new thread; a client that has not
    /// finished its handshake after `handshake` is dropped.
    fn start(recv: Recv, handshake: Duration) -> Server {
        let (config, cert) = certificate();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = coring::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let listener = coring::net::TcpListener::from_std(listener);
                let ring = matches!(recv, Recv::Ring)
                    .then(|| coring::buf::BufRing::new(64, 4096).expect("buffer ring"));
                let mut tasks = Vec::new();
                loop {
                    let (stream, _) = listener.accept().await.expect("accept");
                    if stopped.load(SeqCst) {
                        break;
                    }
                    count.fetch_add(1, SeqCst);
                    let io = match &ring {
                        Some(ring) => stream.compat_with_ring(ring),
                        None => stream.compat(),
                    };
                    tasks.push(coring::spawn(connection(acceptor.clone(), io, handshake)));
                }
                drop(listener);
                collect(tasks).await
            })
        });
        Server {
            addr,
            cert,
            accepted,
            stop,
            thread,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(SeqCst)
    }

    /// Stops accepting and returns how each connection ended; fails if a
    /// connection task panicked or was still running 5 s after the stop.
    fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, SeqCst);
        drop(std::net::TcpStream::connect(self.addr).expect("wake the accept loop"));
        match self.thread.join() {
            Ok(outcomes) => outcomes,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

/// One connection as the example serves it: handshake, then HTTP/1.1.
async fn connection(acceptor: TlsAcceptor, io: Compat<TcpStream>, handshake: Duration) -> Outcome {
    let tls = match coring::time::timeout(handshake, acceptor.accept(io)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Outcome::Handshake(e.to_string()),
        Err(_) => return Outcome::HandshakeTimeout,
    };
    let served = hyper::server::conn::http1::Builder::new()
        .timer(HyperTimer)
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(tls), service_fn(handle))
        .await;
    match served {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Http(e.to_string()),
    }
}

/// Waits up to 5 s for the connection tasks; panics if one panicked or
/// is still running.
async fn collect(tasks: Vec<coring::JoinHandle<Outcome>>) -> Vec<Outcome> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut outcomes = Vec::new();
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        match coring::time::timeout(left, t).await {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(e)) => panic!("a connection task panicked: {e:?}"),
            Err(_) => panic!("a connection still runs 5 s after its client left"),
        }
    }
    outcomes
}

/// Runs `f` against a fresh server, stops it, checks that no fd leaked,
/// and returns how each connection ended.
fn with_server(
    what: &str,
    recv: Recv,
    handshake: Duration,
    f: impl FnOnce(&Server) + Send + 'static,
) -> Vec<Outcome> {
    let _fds = fd_exclusive();
    let what = format!("{what} ({recv:?})");
    with_watchdog(&what.clone(), Duration::from_secs(120), move || {
        let before = open_fd_count();
        let server = Server::start(recv, handshake);
        f(&server);
        let outcomes = server.stop();
        assert_eq!(open_fd_count(), before, "{what}: fds before and after");
        outcomes
    })
}

fn ok_count(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| matches!(o, Outcome::Ok)).count()
}

/// The errors of connections whose handshake failed.
fn handshake_errors(outcomes: &[Outcome]) -> Vec<&str> {
    outcomes
        .iter()
        .filter_map(Outcome::handshake_error)
        .collect()
}

/// The errors of connections that failed after their handshake.
fn http_errors(outcomes: &[Outcome]) -> Vec<&str> {
    outcomes.iter().filter_map(Outcome::http_error).collect()
}

/// hyper's HTTP/1.1 client over tokio-rustls, trusting `cert` only.
struct Client {
    tls: TlsConnector,
    addr: SocketAddr,
}

impl Client {
    fn new(server: &Server) -> Client {
        let mut roots = RootCertStore::empty();
        roots
            .add(server.cert.clone())
            .expect("trust the certificate");
        let mut config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            tls: TlsConnector::from(Arc::new(config)),
            addr: server.addr,
        }
    }

    /// A new connection: handshake (checking the name `localhost`), then
    /// hyper's client connection, driven by a tokio task.
    async fn connect(
        &self,
    ) -> (
        hyper::client::conn::http1::SendRequest<ReqBody>,
        tokio::task::JoinHandle<hyper::Result<()>>,
    ) {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = self.tls.connect(name, tcp).await.expect("TLS handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP handshake");
        (sender, tokio::spawn(conn))
    }
}

async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<ReqBody>,
    method: Method,
    path: &str,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let mut req = Request::new(Full::new(body).boxed_unsync());
    *req.method_mut() = method;
    *req.uri_mut() = path.parse().expect("a path");
    req.headers_mut()
        .insert(hyper::header::HOST, "localhost".parse().expect("a host"));
    sender.ready().await.expect("ready");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status();
    let b = res.into_body().collect().await.expect("body").to_bytes();
    (status, b)
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

/// `n` bytes of a pattern that differs per `seed`.
fn pattern(n: usize, seed: u8) -> Bytes {
    (0..n)
        .map(|i| (i % 253) as u8 ^ seed.wrapping_mul(37))
        .collect::<Vec<u8>>()
        .into()
}

/// Bodies around a TLS record (16 KiB) and a few MiB.
const SIZES: [usize; 7] = [0, 1, 16_383, 16_385, 200_000, 1 << 20, (4 << 20) + 7];

#[test]
fn get_and_post_bodies_up_to_4_mib_echo_intact_over_tls() {
    for recv in [Recv::Owned, Recv::Ring] {
        let outcomes = with_server("echo", recv, Duration::from_secs(10), |s| {
            let client = Client::new(s);
            tokio_rt().block_on(async move {
                let (mut tx, conn) = client.connect().await;
                let (st, b) = send(&mut tx, Method::GET, "/", Bytes::new()).await;
                assert_eq!((st, &b[..]), (StatusCode::OK, HELLO));
                for (i, n) in SIZES.into_iter().enumerate() {
                    let data = pattern(n, i as u8);
                    let (st, b) = send(&mut tx, Method::POST, "/echo", data.clone()).await;
                    assert_eq!(st, StatusCode::OK, "{n} bytes");
                    assert!(b == data, "a {n}-byte body came back changed");
                }
                let (st, _) = send(&mut tx, Method::GET, "/nope", Bytes::new()).await;
                assert_eq!(st, StatusCode::NOT_FOUND);
                drop(tx);
                conn.await.expect("conn task").expect("client connection");
            });
            assert_eq!(s.accepted(), 1, "one keep-alive connection");
        });
        assert_eq!(ok_count(&outcomes), 1, "{outcomes:?}");
    }
}

#[test]
fn keep_alive_across_500_requests_on_one_tls_connection() {
    let outcomes = with_server("keep-alive", Recv::Owned, Duration::from_secs(10), |s| {
        let client = Client::new(s);
        tokio_rt().block_on(async move {
            let (mut tx, conn) = client.connect().await;
            for i in 0..500u32 {
                if i % 2 == 0 {
                    let (st, b) = send(&mut tx, Method::GET, "/", Bytes::new()).await;
                    assert_eq!((st, &b[..]), (StatusCode::OK, HELLO), "request {i}");
                } else {
                    let d = pattern(i as usize * 37, i as u8);
                    let (st, b) = send(&mut tx, Method::POST, "/echo", d.clone()).await;
                    assert_eq!(st, StatusCode::OK);
                    assert!(b == d, "request {i}: body changed");
                }
            }
            drop(tx);
            conn.await.expect("conn task").expect("client connection");
        });
        assert_eq!(s.accepted(), 1, "all 500 requests on one connection");
    });
    assert_eq!(ok_count(&outcomes), 1, "{outcomes:?}");
}

#[test]
fn a_hundred_concurrent_tls_connections() {
    const N: usize = 100;
    for recv in [Recv::Owned, Recv::Ring] {
        let outcomes = with_server("100 connections", recv, Duration::from_secs(10), |s| {
            let client = Arc::new(Client::new(s));
            tokio_rt().block_on(async move {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..N {
                    let client = client.clone();
                    set.spawn(async move {
                        let (mut tx, conn) = client.connect().await;
                        for j in 0..5 {
                            let d = pattern(1000 * i + j, (i + j) as u8);
                            let (st, b) = send(&mut tx, Method::POST, "/echo", d.clone()).await;
                            assert_eq!(st, StatusCode::OK);
                            assert!(b == d, "connection {i}, request {j}: body changed");
                        }
                        drop(tx);
                        conn.await.expect("conn task").expect("client connection");
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.expect("client task");
                }
            });
            assert_eq!(s.accepted(), N);
        });
        assert_eq!(ok_count(&outcomes), N, "{outcomes:?}");
    }
}

/// Reads from `raw` until the server closes it (or 5 s pass).
fn read_until_closed(mut raw: std::net::TcpStream) -> Result<Vec<u8>, std::io::Error> {
    raw.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut got = Vec::new();
    raw.read_to_end(&mut got).map(|_| got)
}

#[test]
fn clients_that_are_not_tls_or_stall_are_closed_and_others_served() {
    const HANDSHAKE: Duration = Duration::from_millis(600);
    let outcomes = with_server("bad clients", Recv::Owned, HANDSHAKE, |s| {
        // Plain HTTP to the TLS port: an alert, then the server closes.
        let mut plain = std::net::TcpStream::connect(s.addr).expect("connect");
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let answer = read_until_closed(plain).expect("closed by the server");
        assert!(!answer.starts_with(b"HTTP"), "no HTTP over plain TCP");
        // Half a ClientHello, then a hang-up.
        let mut cut = std::net::TcpStream::connect(s.addr).expect("connect");
        cut.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
            .expect("write");
        drop(cut);
        // Connected and silent: closed by the handshake timeout.
        let silent = std::net::TcpStream::connect(s.addr).expect("connect");
        let t = Instant::now();
        let got = read_until_closed(silent).expect("closed by the server");
        let took = t.elapsed();
        assert!(got.is_empty(), "{got:?}");
        assert!(
            took >= HANDSHAKE - Duration::from_millis(100) && took < Duration::from_secs(4),
            "the silent client was closed after {took:?}"
        );
        // A real client is served throughout.
        let client = Client::new(s);
        tokio_rt().block_on(async move {
            let (mut tx, _conn) = client.connect().await;
            let (st, b) = send(&mut tx, Method::GET, "/", Bytes::new()).await;
            assert_eq!((st, &b[..]), (StatusCode::OK, HELLO));
        });
    });
    let timeouts = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::HandshakeTimeout))
        .count();
    println!("bad clients: {outcomes:?}");
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert_eq!(
        handshake_errors(&outcomes).len(),
        2,
        "not TLS, cut-off hello: {outcomes:?}"
    );
    assert_eq!(ok_count(&outcomes), 1, "the real client: {outcomes:?}");
    assert_eq!(timeouts, 1, "the silent client: {outcomes:?}");
}

#[test]
fn curl_k_get_post_keep_alive() {
    if !curl_installed() {
        println!("skipped: curl is not installed");
        return;
    }
    let outcomes = with_server("curl", Recv::Owned, Duration::from_secs(10), |s| {
        let base = format!("https://localhost:{}", s.addr.port());
        let resolve = format!("localhost:{}:127.0.0.1", s.addr.port());
        let out = curl(&["-k", "--resolve", &resolve, &format!("{base}/")]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, HELLO);

        let file = std::env::temp_dir().join(format!("coring-https-curl-{}", std::process::id()));
        let data = pattern((3 << 20) + 5, 11);
        std::fs::write(&file, &data).expect("write body file");
        let at = format!("@{}", file.display());
        let out = curl(&[
            "-k",
            "--resolve",
            &resolve,
            "--data-binary",
            &at,
            &format!("{base}/echo"),
        ]);
        std::fs::remove_file(&file).expect("remove body file");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == data[..], "curl: the body came back changed");

        // 30 requests in one curl: one keep-alive connection.
        let before = s.accepted();
        let out = curl(&["-k", "--resolve", &resolve, &format!("{base}/?n=[1-30]")]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, HELLO.repeat(30));
        assert_eq!(s.accepted() - before, 1, "curl reused its connection");
    });
    println!("curl: {outcomes:?}");
    assert_eq!(ok_count(&outcomes), 3, "{outcomes:?}");
    assert_eq!(handshake_errors(&outcomes), Vec::<&str>::new());
    assert_eq!(http_errors(&outcomes), Vec::<&str>::new());
}
