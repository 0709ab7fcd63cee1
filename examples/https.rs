//! HTTPS/1.1 server: tokio-rustls over coring's `Compat` (feature
//! `compat`), hyper on top, and a self-signed certificate made at start.
//!
//! ```text
//! cargo run --release --features https-example --example https -- [ADDR] [--ring]
//!     # default 127.0.0.1:8443
//! curl -k https://127.0.0.1:8443/hello
//! ```
//!
//! The routes are those of the `http` example (`examples/common`): `GET /`
//! says hello, `POST /echo` sends the body back, anything else is a 404.
//! Each connection is a coring task: [`coring::net::TcpStream::compat`]
//! gives the stream tokio's `AsyncRead`/`AsyncWrite`,
//! `tokio_rustls::TlsAcceptor` runs the handshake on it (given up after
//! 10 s), and hyper-util's `TokioIo` hands the TLS stream to hyper, whose
//! header-read timeout (30 s) runs on [`coring::net::HyperTimer`]. Nothing here needs a tokio runtime. With
//! `--ring`, connections receive through a multishot receive on a shared
//! provided-buffer ring (`compat_with_ring`).
//!
//! The certificate is for `localhost` and `127.0.0.1`, new each run; its
//! PEM goes to stderr, so a client can trust it instead of using `-k`.

mod common;

use coring::net::compat::Compat;
use coring::net::{HyperTimer, TcpStream};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
async fn connection(acceptor: TlsAcceptor, io: Compat<TcpStream>) {
    let tls = match coring::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return eprintln!("https: handshake: {e}"),
        Err(_) => return eprintln!("https: handshake: no finish in {HANDSHAKE_TIMEOUT:?}"),
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(HyperTimer)
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(tls), service_fn(common::handle));
    if let Err(e) = conn.await {
        eprintln!("https: connection: {e}");
    }
}

fn main() -> io::Result<()> {
    let (addr, use_ring) = common::args("127.0.0.1:8443");
    let (config, pem) = tls_config()?;
    eprint!("https: self-signed certificate:\n{pem}");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    coring::start(async move {
        eprintln!("coring backend: {}", coring::backend());
        let listener = coring::net::TcpListener::bind(&addr)?;
        let ring = common::ring(use_ring.unwrap_or(false))?;
        println!("https: listening on https://{}", listener.local_addr()?);
        common::accept_loop("https", listener, |stream| {
            let io = match &ring {
                Some(ring) => stream.compat_with_ring(ring),
                None => stream.compat(),
            };
            let _detached = coring::spawn(connection(acceptor.clone(), io));
        })
        .await;
        Ok(())
    })?
}
