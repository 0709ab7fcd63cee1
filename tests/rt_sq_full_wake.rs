//! A wake collected while the SQ was full must not wait behind a park.
//!
//! A push that finds the SQ full reaps first to make room (`make_room`);
//! the wakers of what it reaps go into the driver's `reaped` list, which
//! the turn dispatches only after its enter. When that reap took the last
//! CQE a task was waiting for and nothing else will complete, the turn
//! parks in the kernel with the woken task still in that list: it hangs
//! (or, with a timer pending, runs late).
//!
//! Ignored until the turn checks `reaped` before it parks (runtime.rs);
//! run with `cargo test --test rt_sq_full_wake -- --ignored`.

mod support;
use std::time::Duration;

#[test]
#[ignore = "bug: a wake reaped by a push into a full SQ waits behind the park (hangs)"]
fn a_wake_reaped_while_the_sq_was_full_is_not_left_behind_a_park() {
    support::with_watchdog("reaped wake", Duration::from_secs(10), || {
        let rt = coring::Builder::new().entries(4).build().expect("io_uring");
        rt.block_on(async {
            let (r, _w) = support::coring_pipe();
            // A waits for a NOP.
            let a = coring::spawn(async { coring::io::nop().await.expect("nop") });
            let b = coring::spawn(async move {
                // Eight reads that never complete, through a 4-entry SQ:
                // a push reaps A's CQE, and with it A's waker, to make
                // room. Then nothing else completes.
                let reads: Vec<_> = (0..8)
                    .map(|_| coring::io::read(&r, Vec::with_capacity(1)))
                    .collect();
                std::future::pending::<()>().await;
                drop(reads);
            });
            a.await.expect("A");
            b.abort();
        });
    });
}

/// The same with three reads (the SQ never fills): passes, which pins the
/// hang above on the full SQ.
#[test]
fn the_same_without_a_full_sq_completes() {
    support::with_watchdog("no full SQ", Duration::from_secs(10), || {
        let rt = coring::Builder::new().entries(4).build().expect("io_uring");
        rt.block_on(async {
            let (r, _w) = support::coring_pipe();
            let a = coring::spawn(async { coring::io::nop().await.expect("nop") });
            let b = coring::spawn(async move {
                let reads: Vec<_> = (0..3)
                    .map(|_| coring::io::read(&r, Vec::with_capacity(1)))
                    .collect();
                std::future::pending::<()>().await;
                drop(reads);
            });
            a.await.expect("A");
            b.abort();
        });
    });
}
