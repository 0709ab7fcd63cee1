//! HTTP/1.1 server: hyper natively on coring (feature `hyper`), nothing
//! from tokio.
//!
//! ```text
//! cargo run --release --example http -- [ADDR] [--ring]   # default 127.0.0.1:8080
//! curl http://127.0.0.1:8080/hello
//! ```
//!
//! `GET /` says hello, `POST /echo` sends the body back, anything else is
//! a 404. Each connection is a coring task; hyper reads and writes through
//! [`coring::net::HyperIo`] (hyper's own `Read`/`Write`, a copy per read
//! and write, writes sent behind), and times out a client that takes more
//! than 30 s to send its headers through [`coring::net::HyperTimer`]. With
//! `--ring`, connections receive through one multishot receive each on a
//! shared provided-buffer ring, so idle ones hold no receive buffer.

use bytes::Bytes;
use coring::net::{HyperIo, HyperTimer};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::io;
use std::time::Duration;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r
    };
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") | (&Method::GET, "/hello") => {
            reply(StatusCode::OK, Bytes::from_static(b"hello from coring\n"))
        }
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(body) => reply(StatusCode::OK, body.to_bytes()),
            Err(_) => reply(StatusCode::BAD_REQUEST, Bytes::new()),
        },
        _ => reply(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    })
}

/// Serves HTTP/1.1 on `listener` forever; receives on `ring` if given.
async fn serve(
    listener: coring::net::TcpListener,
    ring: Option<coring::buf::BufRing>,
) -> io::Result<()> {
    let mut incoming = listener.incoming();
    loop {
        let stream = match incoming.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("http: accept: {e}");
                coring::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = match &ring {
            Some(ring) => HyperIo::with_ring(stream, ring),
            None => HyperIo::new(stream),
        };
        let _detached = coring::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(io, service_fn(handle));
            if let Err(e) = conn.await {
                eprintln!("http: connection: {e}");
            }
        });
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let use_ring = args.iter().any(|a| a == "--ring");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    coring::start(async move {
        eprintln!("coring backend: {}", coring::backend());
        let listener = coring::net::TcpListener::bind(&addr)?;
        // 1024 buffers of 16 KiB, shared by every connection of this core.
        let ring = match use_ring {
            true => Some(coring::buf::BufRing::new(1024, 16 * 1024)?),
            false => None,
        };
        println!("http: listening on http://{}", listener.local_addr()?);
        serve(listener, ring).await
    })?
}
