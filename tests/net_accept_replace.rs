//! A multishot accept cancelled and a new one armed on the same listener
//! in one submission, on a DEFER_TASKRUN ring: the new one stays armed in
//! the kernel (it is in the ring's fdinfo PollList) but is never woken,
//! so the next connection waits in the listen queue forever. Found by
//! `tests/rt_soak.rs` (with `CORING_SOAK_ACCEPT_REPLACE=1`).
//!
//! `replaced_incoming_accepts_the_next_connection` is what a coring user
//! sees (drop an `Incoming`, make another); `raw_ring_...` shows the same
//! with the io-uring crate and no coring: only with IORING_SETUP_DEFER_TASKRUN,
//! only when the ASYNC_CANCEL and the new ACCEPT (multishot) go in the same
//! io_uring_enter (seen on Linux 6.18.44). coring works around it: a
//! multishot op's cancel goes to the kernel in an enter of its own
//! (`Driver::cancel_multishot`), so the coring test runs; the raw-ring
//! test shows the kernel's behaviour and stays ignored (run it with
//! `cargo test --test net_accept_replace -- --ignored`).

use coring::net::{TcpListener, TcpStream};
use coring::Builder;
use io_uring::{opcode, types, IoUring};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[test]
fn replaced_incoming_accepts_the_next_connection() {
    let rt = Builder::new().build().expect("io_uring");
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let mut incoming = l.incoming();
        let mut keep = Vec::new();
        for round in 0..20 {
            let client = coring::spawn(async move { TcpStream::connect(addr).await });
            let accepted = coring::time::timeout(Duration::from_secs(2), incoming.accept()).await;
            let accepted = accepted
                .unwrap_or_else(|_| panic!("round {round}: the connection was never accepted"));
            keep.push(accepted.expect("accept"));
            keep.push(client.await.expect("client").expect("connect"));
            // A new Incoming: the old multishot accept is cancelled.
            incoming = l.incoming();
        }
    });
}

/// Reaps until `ud`'s CQE or `limit`; entering with GETEVENTS, as a
/// DEFER_TASKRUN ring needs to run its task work.
fn wait_for(ring: &mut IoUring, ud: u64, limit: Duration) -> Option<(i32, u32)> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let ts = types::Timespec::new().nsec(5_000_000);
        let args = types::SubmitArgs::new().timespec(&ts);
        let _ = ring.submitter().submit_with_args(1, &args);
        let found = ring
            .completion()
            .find(|c| c.user_data() == ud)
            .map(|c| (c.result(), c.flags()));
        if found.is_some() {
            return found;
        }
    }
    None
}

#[test]
#[ignore = "a kernel issue with DEFER_TASKRUN: a new multishot accept submitted with the old one's cancel is never woken"]
fn raw_ring_new_multishot_accept_submitted_with_the_old_ones_cancel_is_woken() {
    for defer in [false, true] {
        let mut b = IoUring::builder();
        if defer {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        let mut ring = b.build(8).expect("ring");
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let lfd = types::Fd(l.as_raw_fd());
        let first = opcode::AcceptMulti::new(lfd).build().user_data(1);
        // SAFETY: the SQE points at no memory; `l` outlives the ring's use
        // of its fd (the ring is dropped first, at the end of the loop).
        unsafe { ring.submission().push(&first).expect("room") };
        ring.submit().expect("submit");
        let _a = std::net::TcpStream::connect(addr).expect("connect");
        let got = wait_for(&mut ring, 1, Duration::from_secs(2));
        assert!(
            got.is_some_and(|(res, _)| res >= 0),
            "first accept: {got:?}"
        );
        // The cancel of the first and a second multishot accept, in one
        // submission.
        let cancel = opcode::AsyncCancel::new(1).build().user_data(99);
        let second = opcode::AcceptMulti::new(lfd).build().user_data(2);
        // SAFETY: as above: no memory is pointed at.
        unsafe {
            ring.submission().push(&cancel).expect("room");
            ring.submission().push(&second).expect("room");
        }
        ring.submit().expect("submit");
        let _b = std::net::TcpStream::connect(addr).expect("connect");
        let got = wait_for(&mut ring, 2, Duration::from_secs(2));
        assert!(
            got.is_some_and(|(res, _)| res >= 0),
            "DEFER_TASKRUN {defer}: the second multishot accept never fired: {got:?}"
        );
        drop(ring);
    }
}
