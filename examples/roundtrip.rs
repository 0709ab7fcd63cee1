//! The runtime core's demo: N tasks each keep one op in flight (a NOP or a
//! 1-byte read of /dev/zero) for a couple of seconds; prints the rate and
//! the runtime's counters.
//!
//! ```text
//! cargo run --release --example roundtrip -- [--tasks 32] [--secs 2] [--op read|nop]
//! ```

use coring::fd::SharedFd;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let mut tasks = 32usize;
    let mut secs = 2u64;
    let mut op = String::from("read");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--tasks" => tasks = value().parse().unwrap_or(tasks).max(1),
            "--secs" => secs = value().parse().unwrap_or(secs).max(1),
            "--op" => op = value(),
            _ => {
                eprintln!("usage: roundtrip [--tasks N] [--secs S] [--op read|nop]");
                std::process::exit(2);
            }
        }
    }
    if op != "read" && op != "nop" {
        eprintln!("--op must be read or nop");
        std::process::exit(2);
    }

    let rt = coring::Runtime::new()?;
    eprintln!("coring backend: {}", rt.backend());
    println!("ring flags: {:?}", rt.ring_flags());
    let zero = SharedFd::new(std::fs::File::open("/dev/zero")?.into());
    let done = Rc::new(Cell::new(0u64));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (zero, done, op) = (zero.clone(), done.clone(), op.clone());
                coring::spawn(async move {
                    let mut buf = Vec::with_capacity(1);
                    let mut n = 0u64;
                    while n % 1024 != 0 || Instant::now() < deadline {
                        if op == "nop" {
                            coring::io::nop().await?;
                        } else {
                            let (res, b) = coring::io::read_at(&zero, buf, 0).await;
                            res?;
                            buf = b;
                        }
                        n += 1;
                    }
                    done.set(done.get() + n);
                    Ok::<_, std::io::Error>(())
                })
            })
            .collect();
        for h in handles {
            h.await??;
        }
        Ok::<_, std::io::Error>(())
    })?;
    let elapsed = start.elapsed();
    let ops = done.get();
    println!(
        "{op}: {tasks} tasks, {ops} ops in {:.2} s = {:.0} ops/s ({:.0} ns/op)",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / ops as f64
    );
    println!("{:#?}", rt.metrics());
    Ok(())
}
