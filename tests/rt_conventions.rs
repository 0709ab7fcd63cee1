//! What users bring from other runtimes works on coring: `futures::select!`
//! and `join!`, `tokio::select!` and `tokio::join!` (runtime-agnostic
//! macros), `coring::task::yield_now`. Each race is between real ops (a
//! timer and a pipe read), and the loser's op must be cancelled cleanly:
//! its buffer freed, no op left in flight, no fd left open, and the pipe's
//! data not eaten by the cancelled read.
//!
//! Each test is a plain `#[test]` holding the fd lock around a
//! `#[coring::main]` fn: a runtime opens fds (ring, eventfd) when it is
//! built, so the lock must cover the build, which `#[coring::test]` does
//! before the body runs.

mod support;

use coring::fd::SharedFd;
use futures::FutureExt as _;
use std::fs::File;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use support::{coring_pipe, fd_exclusive, open_fd_count, ops_in_flight, turn_until, write_to};
use support::{BufCounter, CountedBuf};

/// After a race the read lost: its buffer comes back to the allocator and
/// its op leaves the table within a few turns (the cancel's CQE), and the
/// pipe still delivers what is written next to a new read.
async fn check_loser_cancelled(counter: &BufCounter, r: &SharedFd, w: &File) {
    turn_until(
        "the lost read's op is cancelled and its buffer freed",
        || ops_in_flight() == 0 && counter.dropped() == counter.created(),
    )
    .await;
    write_to(w, b"after");
    let (res, buf) = coring::io::read(r, Vec::with_capacity(16)).await;
    assert_eq!(res.unwrap(), 5);
    assert_eq!(buf, b"after", "the cancelled read took no data");
}

fn read_loses(counter: &Arc<BufCounter>) -> (SharedFd, File, CountedBuf) {
    let (r, w) = coring_pipe();
    let buf = counter.buf(64);
    (r, w, buf)
}

#[test]
fn futures_select_a_timer_beats_a_pipe_read() {
    let _fds = fd_exclusive();
    let fds = open_fd_count();
    race();
    assert_eq!(open_fd_count(), fds, "an fd leaked");
}

#[coring::main]
async fn race() {
    let counter = BufCounter::new();
    let (r, w, buf) = read_loses(&counter);
    {
        let mut read = pin!(coring::io::read(&r, buf).fuse());
        let mut timer = pin!(coring::time::sleep(Duration::from_millis(10)).fuse());
        futures::select! {
            _ = timer => {}
            _ = read => panic!("nothing was written: the read cannot win"),
        }
        // `read` is dropped here, with its op in flight.
    }
    check_loser_cancelled(&counter, &r, &w).await;
}

#[test]
fn futures_join_runs_a_read_a_write_and_a_timer_together() {
    let _fds = support::fd_shared();
    join();
}

#[coring::main]
async fn join() {
    let (r, w) = coring_pipe();
    let w = SharedFd::new(w.into());
    let ((rres, got), (wres, _), ()) = futures::join!(
        coring::io::read(&r, Vec::with_capacity(16)),
        coring::io::write(&w, b"joined".to_vec()),
        coring::time::sleep(Duration::from_millis(1)),
    );
    assert_eq!(wres.unwrap(), 6);
    assert_eq!(rres.unwrap(), 6);
    assert_eq!(got, b"joined");
}

#[test]
fn tokio_select_a_timer_beats_a_pipe_read() {
    let _fds = fd_exclusive();
    let fds = open_fd_count();
    tokio_race();
    assert_eq!(open_fd_count(), fds, "an fd leaked");
}

#[coring::main]
async fn tokio_race() {
    let counter = BufCounter::new();
    let (r, w, buf) = read_loses(&counter);
    let won = tokio::select! {
        _ = coring::time::sleep(Duration::from_millis(10)) => "timer",
        _ = coring::io::read(&r, buf) => "read",
    };
    assert_eq!(won, "timer");
    check_loser_cancelled(&counter, &r, &w).await;
}

#[test]
fn tokio_join_and_task_yield_now() {
    let _fds = support::fd_shared();
    tokio_join();
}

#[coring::main]
async fn tokio_join() {
    let (r, w) = coring_pipe();
    let w = SharedFd::new(w.into());
    let (read, write, ()) = tokio::join!(
        coring::io::read(&r, Vec::with_capacity(16)),
        coring::io::write(&w, b"tokio".to_vec()),
        coring::task::yield_now(),
    );
    assert_eq!(write.0.unwrap(), 5);
    assert_eq!(read.0.unwrap(), 5);
    assert_eq!(read.1, b"tokio");
    let h = coring::task::spawn(async { 6 * 7 });
    assert_eq!(h.await.unwrap(), 42);
}
