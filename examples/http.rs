//! HTTP/1.1 server: hyper natively on coring (feature `hyper`), nothing
//! from tokio.
//!
//! ```text
//! cargo run --release --example http -- [ADDR] [--no-ring]   # default 127.0.0.1:8080
//! curl http://127.0.0.1:8080/hello
//! ```
//!
//! `GET /` says hello, `POST /echo` sends the body back, anything else is
//! a 404 (`examples/common`, shared with the `https` example). Each connection is a coring task; hyper reads and writes through
//! [`coring::net::HyperIo`] (hyper's own `Read`/`Write`, a copy per read
//! and write, writes sent behind), and times out a client that takes more
//! than 30 s to send its headers through [`coring::net::HyperTimer`].
//! Where the kernel has multishot receives (6.0) connections receive
//! through one multishot receive each on a provided-buffer ring the core's
//! connections share (1024 × 16 KiB): no receive SQE per request, and an
//! idle connection holds no receive buffer. It measured the lowest server
//! CPU per request of the variants (docs/HTTP.md); `--no-ring` receives
//! into each connection's own buffer instead.

mod common;

use coring::net::{HyperIo, HyperTimer};
use hyper::service::service_fn;
use std::io;
use std::time::Duration;

fn main() -> io::Result<()> {
    let (addr, use_ring) = common::args("127.0.0.1:8080");
    coring::start(async move {
        eprintln!("coring backend: {}", coring::backend());
        let listener = coring::net::TcpListener::bind(&addr)?;
        let use_ring =
            use_ring.unwrap_or_else(|| coring::op::Feature::RECV_MULTISHOT.is_supported());
        let ring = common::ring(use_ring)?;
        println!("http: listening on http://{}", listener.local_addr()?);
        common::accept_loop("http", listener, |stream| {
            let io = match &ring {
                Some(ring) => HyperIo::with_ring(stream, ring),
                None => HyperIo::new(stream),
            };
            let _detached = coring::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(io, service_fn(common::handle));
                if let Err(e) = conn.await {
                    eprintln!("http: connection: {e}");
                }
            });
        })
        .await;
        Ok(())
    })?
}
