//! TCP echo server on coring: a multishot accept, one task per connection
//! reading into a buffer and writing it back.
//!
//! ```text
//! cargo run --release --example echo -- [ADDR] [--per-core] [--buf BYTES]
//! ```
//!
//! `ADDR` defaults to 127.0.0.1:7000. `--per-core` starts one thread per
//! CPU with `coring::cores`, each pinned, with its own runtime and its own
//! SO_REUSEPORT listener on `ADDR`; the kernel spreads connections among
//! them. Ctrl-C stops the server at once: each core races its accept loop
//! against the shutdown request (`--per-core`), or the one core against
//! `coring::signal::ctrl_c()`.

use coring::net::{TcpListener, TcpStream};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;

fn main() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:7000");
    let mut per_core = false;
    let mut buf_size = 4096usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--per-core" => per_core = true,
            "--buf" => {
                buf_size = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage("--buf needs a positive byte count"))
            }
            "-h" | "--help" => usage(""),
            s if s.starts_with('-') => usage(&format!("unknown flag {s}")),
            s => addr = s.to_string(),
        }
    }
    if !per_core {
        println!("echo: listening on {addr} (one core)");
        return coring::start(async move {
            eprintln!("coring backend: {}", coring::backend());
            let ctrl_c = async {
                coring::signal::ctrl_c().await?;
                println!("echo: Ctrl-C, stopping");
                Ok(())
            };
            first_of(serve(addr, false, buf_size), ctrl_c).await
        })?;
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("echo: listening on {addr} ({n} cores, SO_REUSEPORT)");
    // One pinned thread and ring per core, each with its own listener.
    let cores = coring::cores(n).pin(true).launch(move |core| {
        let addr = addr.clone();
        async move {
            if core.index() == 0 {
                eprintln!("coring backend: {}", coring::backend());
            }
            // Without the race, a shutdown would wait out the grace
            // period (5 s) for a loop that never ends by itself.
            let shutdown = async {
                core.shutdown_requested().await;
                Ok(())
            };
            first_of(serve(addr, true, buf_size), shutdown).await
        }
    })?;
    cores.shutdown_on_signals()?;
    for res in cores.join()?.into_iter().flatten() {
        res?;
    }
    Ok(())
}

/// The output of whichever of `a` and `b` finishes first; the other is
/// dropped (for `serve`: the listener closes, the connections' tasks go
/// with the runtime).
async fn first_of<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        b.as_mut().poll(cx)
    })
    .await
}

async fn serve(addr: String, reuse_port: bool, buf_size: usize) -> io::Result<()> {
    let listener = TcpListener::builder().reuse_port(reuse_port).bind(&addr)?;
    let mut incoming = listener.incoming();
    loop {
        match incoming.accept().await {
            Ok(stream) => {
                let _detached = coring::spawn(echo(stream, buf_size));
            }
            // Out of fds and the like: the connection waits in the
            // backlog; back off a little instead of spinning.
            Err(e) => {
                eprintln!("echo: accept: {e}");
                coring::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn echo(stream: TcpStream, buf_size: usize) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(buf_size);
    loop {
        let (res, b) = stream.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, mut b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        b.clear();
        buf = b;
    }
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("echo: {err}");
    }
    eprintln!("usage: echo [ADDR (default 127.0.0.1:7000)] [--per-core] [--buf BYTES]");
    std::process::exit(2)
}
