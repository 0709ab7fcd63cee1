//! What the `http` and `https` examples share: the routes, the command
//! line and the accept loop.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::io;
use std::time::Duration;

/// `GET /` (or `/hello`) says hello, `POST /echo` sends the body back,
/// anything else is a 404.
pub async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
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

/// The command line, `[ADDR] [--ring | --no-ring]`: the address
/// (`default` when none is given) and which of the two was given, if one.
pub fn args(default: &str) -> (String, Option<bool>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let use_ring = if args.iter().any(|a| a == "--no-ring") {
        Some(false)
    } else {
        args.iter().any(|a| a == "--ring").then_some(true)
    };
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| default.into());
    (addr, use_ring)
}

/// When `use_ring`, 1024 receive buffers of 16 KiB, shared by every
/// connection of this core.
pub fn ring(use_ring: bool) -> io::Result<Option<coring::buf::BufRing>> {
    match use_ring {
        true => coring::buf::BufRing::new(1024, 16 * 1024).map(Some),
        false => Ok(None),
    }
}

/// Accepts connections forever (TCP_NODELAY on) and hands each to
/// `serve`; an accept error is printed, and the loop waits 10 ms (e.g. out
/// of fds) before it goes on.
pub async fn accept_loop(
    name: &str,
    listener: coring::net::TcpListener,
    mut serve: impl FnMut(coring::net::TcpStream),
) {
    let mut incoming = listener.incoming();
    loop {
        match incoming.accept().await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                serve(stream);
            }
            Err(e) => {
                eprintln!("{name}: accept: {e}");
                coring::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
