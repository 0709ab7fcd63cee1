//! HTTP/1.1 server: hyper on coring, through the tokio-io compat adapter.
//!
//! ```text
//! cargo run --release --example http -- [ADDR]     # default 127.0.0.1:8080
//! curl http://127.0.0.1:8080/hello
//! ```
//!
//! `GET /` says hello, `POST /echo` sends the body back, anything else is
//! a 404. Each connection is a coring task; hyper reads and writes through
//! [`coring::net::compat::Compat`] (a copy per read and write).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;

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

/// Serves HTTP/1.1 on `listener` forever.
async fn serve(listener: coring::net::TcpListener) -> io::Result<()> {
    let mut incoming = listener.incoming();
    loop {
        let stream = match incoming.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("http: accept: {e}");
                coring::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream.compat());
        let _detached = coring::spawn(async move {
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(io, service_fn(handle));
            if let Err(e) = conn.await {
                eprintln!("http: connection: {e}");
            }
        });
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    coring::start(async move {
        eprintln!("coring backend: {}", coring::backend());
        let listener = coring::net::TcpListener::bind(&addr)?;
        println!("http: listening on http://{}", listener.local_addr()?);
        serve(listener).await
    })?
}
