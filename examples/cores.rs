//! Thread-per-core: N cores, each with its own ring, doing independent
//! work (NOPs, or 4 KiB reads of /dev/zero) for a few seconds; then the
//! per-core metrics, read from the launcher, and the total rate.
//!
//! ```text
//! cargo run --release --example cores
//! cargo run --release --example cores -- --cores 2 --work read --secs 3 --depth 32
//! ```
//!
//! Options: `--cores N` (default: every CPU this process may use; more
//! than that runs unpinned), `--work nop|read` (default nop), `--secs S`
//! (default 2), `--depth D` ops in flight per core (default 32). Ctrl-C
//! stops the run early; the table is printed all the same.

use coring::fd::SharedFd;
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
enum Work {
    Nop,
    Read,
}

struct Args {
    cores: usize,
    work: Work,
    secs: f64,
    depth: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!("usage: cores [--cores N] [--work nop|read] [--secs S] [--depth D]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut args = Args {
        cores: cpus,
        work: Work::Nop,
        secs: 2.0,
        depth: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--cores" => {
                args.cores = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--cores: not a number"))
            }
            "--secs" => {
                args.secs = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--secs: not a number"))
            }
            "--depth" => {
                args.depth = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--depth: not a number"))
            }
            "--work" => {
                args.work = match value().as_str() {
                    "nop" => Work::Nop,
                    "read" => Work::Read,
                    other => usage(&format!("--work: nop or read, not {other}")),
                }
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.cores == 0 || args.depth == 0 || args.secs.is_nan() || args.secs <= 0.0 {
        usage("--cores, --depth and --secs must be positive");
    }
    args
}

/// One task's loop: `work` until `stop`; returns how many ops it did.
async fn worker(work: Work, stop: Rc<Cell<bool>>) -> std::io::Result<u64> {
    let mut done = 0;
    match work {
        Work::Nop => {
            while !stop.get() {
                coring::io::nop().await?;
                done += 1;
            }
        }
        Work::Read => {
            let zero = SharedFd::new(std::fs::File::open("/dev/zero")?.into());
            let mut buf = Vec::with_capacity(4096);
            while !stop.get() {
                let (res, b) = coring::io::read_at(&zero, buf, 0).await;
                if res? != 4096 {
                    return Err(std::io::Error::other("short read of /dev/zero"));
                }
                buf = b;
                buf.clear();
                done += 1;
            }
        }
    }
    Ok(done)
}

/// Waits until `a` or `b` finishes, whichever is first.
async fn first_of(a: impl Future<Output = ()>, b: impl Future<Output = ()>) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        b.as_mut().poll(cx)
    })
    .await
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = args.cores <= cpus;
    let (work, depth) = (args.work, args.depth);
    let secs = Duration::from_secs_f64(args.secs);
    println!(
        "{} cores ({}), {:?} x {depth} in flight per core, {:.1} s",
        args.cores,
        if pin { "pinned" } else { "unpinned" },
        work,
        args.secs
    );
    let handle = coring::cores(args.cores)
        .pin(pin)
        .launch(move |core| async move {
            if core.index() == 0 {
                eprintln!("coring backend: {}", coring::backend());
            }
            let stop = Rc::new(Cell::new(false));
            let start = Instant::now();
            let tasks: Vec<_> = (0..depth)
                .map(|_| coring::spawn(worker(work, stop.clone())))
                .collect();
            // Until the time is up, or Ctrl-C (a shutdown request).
            first_of(coring::time::sleep(secs), core.shutdown_requested()).await;
            // Read while the workers are still at it.
            let metrics = coring::metrics();
            stop.set(true);
            let mut ops = 0;
            for t in tasks {
                ops += t.await.map_err(std::io::Error::from)??;
            }
            Ok::<_, std::io::Error>((ops, start.elapsed(), metrics))
        })?;
    handle.shutdown_on_signals()?;
    let outs = handle.join()?;

    println!();
    println!(
        "{:<5} {:>12} {:>10} {:>12} {:>12} {:>10} {:>8} {:>12} {:>8}",
        "core", "ops", "ops/s", "sqes", "cqes", "enters", "parks", "tasks polled", "in flight"
    );
    let mut total_ops = 0;
    let mut total_rate = 0.0;
    for (i, out) in outs.into_iter().enumerate() {
        let (ops, took, m) = match out {
            Some(r) => {
                let (ops, took, m) = r?;
                (ops, took, Some(m))
            }
            None => (0, Duration::ZERO, None),
        };
        let rate = ops as f64 / took.as_secs_f64().max(1e-9);
        total_ops += ops;
        total_rate += rate;
        match m {
            Some(m) => println!(
                "{:<5} {:>12} {:>10.0} {:>12} {:>12} {:>10} {:>8} {:>12} {:>8}",
                i,
                ops,
                rate,
                m.sqes_submitted,
                m.cqes_reaped,
                m.enters,
                m.parks,
                m.tasks_polled,
                m.ops_in_flight
            ),
            None => {
                println!("{i:<5} {ops:>12} {rate:>10.0}   (no metrics: the core was shut down)")
            }
        }
    }
    println!();
    println!(
        "total: {total_ops} ops, {:.2} M ops/s ({:.2} M ops/s per core)",
        total_rate / 1e6,
        total_rate / 1e6 / args.cores as f64
    );
    println!("(metrics are a snapshot each core took just before it stopped)");
    Ok(())
}
