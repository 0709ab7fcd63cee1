//! HTTPS/1.1 server: tokio-rustls over coring's `Compat` (feature
//! `compat`), hyper on top, and a self-signed certificate made at start.
//!
//! ```text
//! cargo run --release --features https-example --example https -- [ADDR] [--ring]
//!     # default 127.0.0.1:8443
//! curl -k https://127.0.0.1:8443/hello
//! ```
//!
//! The routes are those of the `http` example: `GET /` says hello, `POST
//! /echo` sends the body back, anything else is a 404. Each connection is
//! a coring task: [`coring::net::TcpStream::compat`] gives the stream
//! tokio's `AsyncRead`/`AsyncWrite`, `tokio_rustls::TlsAcceptor` runs the
//! handshake on it (given up after 10 s), and hyper-util's `TokioIo` hands
//! the TLS stream to hyper, whose header-read timeout (30 s) runs on
//! [`coring::net::HyperTimer`]. Nothing here needs a tokio runtime. With
//! `--ring`, connections receive through a multishot receive on a shared
//! provided-buffer ring (`compat_with_ring`).
//!
//! The certificate is for `localhost` and `127.0.0.1`, new each run; its
//! PEM goes to stderr, so a client can trust it instead of using `-k`.

use bytes::Bytes;
use coring::net::HyperTimer;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r
    };
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") | (&Method::GET, "/hello") => reply(
            StatusCode::OK,
            Bytes::from_static(b"hello from coring over TLS\n"),
        ),
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(body) => reply(StatusCode::OK, body.to_bytes()),
            Err(_) => reply(StatusCode::BAD_REQUEST, Bytes::new()),
        },
        _ => reply(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    })
}

/// A TLS configuration with a new self-signed certificate for `localhost`
/// and `127.0.0.1`, offering HTTP/1.1 by ALPN; and the certificate's PEM.
fn tls_config() -> io::Result<(ServerConfig, String)> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let made = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, made.cert.pem()))
}

/// Serves one accepted connection: the handshake, then HTTP/1.1.
async fn connection(
    acceptor: TlsAcceptor,
    io: coring::net::compat::Compat<coring::net::TcpStream>,
) {
    let tls = match coring::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return eprintln!("https: handshake: {e}"),
        Err(_) => return eprintln!("https: handshake: no finish in {HANDSHAKE_TIMEOUT:?}"),
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(HyperTimer)
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(tls), service_fn(handle));
    if let Err(e) = conn.await {
        eprintln!("https: connection: {e}");
    }
}

/// Serves HTTPS on `listener` forever; receives on `ring` if given.
async fn serve(
    listener: coring::net::TcpListener,
    acceptor: TlsAcceptor,
    ring: Option<coring::buf::BufRing>,
) -> io::Result<()> {
    let mut incoming = listener.incoming();
    loop {
        let stream = match incoming.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("https: accept: {e}");
                coring::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = match &ring {
            Some(ring) => stream.compat_with_ring(ring),
            None => stream.compat(),
        };
        let _detached = coring::spawn(connection(acceptor.clone(), io));
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let use_ring = args.iter().any(|a| a == "--ring");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8443".into());
    let (config, pem) = tls_config()?;
    eprint!("https: self-signed certificate:\n{pem}");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    coring::start(async move {
        eprintln!("coring backend: {}", coring::backend());
        let listener = coring::net::TcpListener::bind(&addr)?;
        // 1024 buffers of 16 KiB, shared by every connection of this core.
        let ring = match use_ring {
            true => Some(coring::buf::BufRing::new(1024, 16 * 1024)?),
            false => None,
        };
        println!("https: listening on https://{}", listener.local_addr()?);
        serve(listener, acceptor, ring).await
    })?
}
