//! A task that blocks its core on purpose, and the stall detector's
//! report naming the blocking call; then the same work done right, on
//! the blocking pool, with nothing reported.
//!
//! ```text
//! cargo run --example stall
//! CORING_STALL_MS=20 cargo run --example stall    # the threshold from the environment
//! ```
//!
//! The report goes to stderr (the default handler): one line with the
//! task's name, where it was spawned, how long its poll ran and on which
//! core, then the backtrace of where the core was stuck, which starts in
//! `clock_nanosleep` under `std::thread::sleep`. The example ends by
//! itself in well under a second.

use std::time::{Duration, Instant};

/// A synchronous call that takes a while (a `std::fs` read of a slow
/// disk, a DNS lookup, a big computation).
fn slow_lookup(key: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(150));
    key * 2
}

fn main() -> std::io::Result<()> {
    // Builder::new() reads CORING_STALL_MS; without it, 50 ms here.
    let builder = coring::Builder::new();
    let builder = match std::env::var_os(coring::stall::STALL_ENV) {
        Some(_) => builder,
        None => builder.stall_threshold(Duration::from_millis(50)),
    };
    let rt = builder.build()?;
    rt.block_on(async {
        let ticks = coring::task::Builder::new().name("ticker").spawn(async {
            let mut late = Duration::ZERO;
            for _ in 0..20 {
                let t = Instant::now();
                coring::time::sleep(Duration::from_millis(10)).await;
                late = late.max(t.elapsed().saturating_sub(Duration::from_millis(10)));
            }
            late
        });

        // Wrong: the lookup blocks the core, and every task on it waits.
        let wrong = coring::task::Builder::new()
            .name("lookup-inline")
            .spawn(async { slow_lookup(21) });
        println!("inline lookup: {}", wrong.await.expect("lookup"));

        // Right: the lookup runs on the blocking pool; the core stays free.
        let right = coring::task::Builder::new()
            .name("lookup-offloaded")
            .spawn(async { coring::spawn_blocking(|| slow_lookup(21)).await });
        println!(
            "offloaded lookup: {}",
            right.await.expect("task").expect("lookup")
        );

        let late = ticks.await.expect("ticker");
        println!("the ticker's worst lateness: {late:.1?} (the inline lookup's doing)");
    });
    println!("stalls seen: {}", rt.metrics().stalls);
    // Dropping the runtime waits for the watchdog to print its reports.
    drop(rt);
    Ok(())
}
