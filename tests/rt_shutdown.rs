//! Runtime drop finishes every completion it holds: completions reaped
//! outside the turn (a full SQ) are finished too, so an abandoned open's
//! late fd is closed and every abandoned buffer is freed by the drop.

mod support;

use coring::op::{Op, OpCode, OpenAt};
use std::time::Duration;
use support::{coring_pipe, fd_exclusive, open_fd_count, with_watchdog, BufCounter};

/// Sixteen opens dropped at once, then more reads than the SQ holds
/// dropped too: the reads' cancels fill the SQ, so the opens' CQEs are
/// reaped outside the turn. Dropping the runtime must close their fds.
#[test]
fn drop_closes_fds_of_opens_reaped_while_the_sq_was_full() {
    let _fds = fd_exclusive();
    with_watchdog("shutdown with a tiny SQ", Duration::from_secs(20), || {
        let (rd, _wr) = coring_pipe();
        let before = open_fd_count();
        let counter = BufCounter::new();
        for round in 0..20 {
            let rt = coring::Builder::new().entries(4).build().unwrap();
            rt.block_on(async {
                let reads: Vec<_> = (0..9)
                    .map(|_| coring::io::read(&rd, counter.buf(64)))
                    .collect();
                if round % 2 == 0 {
                    drop(reads);
                    for _ in 0..16 {
                        drop(Op::submit(open_dev_null()));
                    }
                } else {
                    for _ in 0..16 {
                        drop(Op::submit(open_dev_null()));
                    }
                    drop(reads);
                }
            });
            drop(rt);
            assert_eq!(
                open_fd_count(),
                before,
                "round {round}: fds leaked by the runtime's drop"
            );
            assert_eq!(
                counter.created(),
                counter.dropped(),
                "round {round}: buffers outlived the runtime's drop"
            );
        }
    });
}

/// With no optional setup flags (what kernels before 6.1 give: no
/// DEFER_TASKRUN), many tasks wait on reads and `block_on` ends on a
/// wake from another thread: every buffer must be freed by the drop.
#[test]
fn drop_frees_buffers_of_waiting_tasks_on_a_plain_ring() {
    let _fds = fd_exclusive();
    with_watchdog("shutdown of a plain ring", Duration::from_secs(20), || {
        let (rd, _wr) = coring_pipe();
        let before = open_fd_count();
        let counter = BufCounter::new();
        for _ in 0..10 {
            let rt = coring::Builder::new()
                .single_issuer(false)
                .defer_taskrun(false)
                .coop_taskrun(false)
                .register_ring_fd(false)
                .entries(8)
                .build()
                .unwrap();
            rt.block_on(async {
                for _ in 0..64 {
                    let rd = rd.clone();
                    let buf = counter.buf(64);
                    drop(coring::spawn(async move {
                        let _ = coring::io::read(&rd, buf).await;
                    }));
                    drop(coring::spawn(async {
                        drop(Op::submit(open_dev_null()));
                    }));
                }
                let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
                let waker_thread = std::thread::spawn(move || {
                    if let Ok(w) = rx.recv() {
                        std::thread::sleep(Duration::from_millis(5));
                        w.wake();
                    }
                });
                let mut sent = Some(tx);
                std::future::poll_fn(|cx| {
                    if let Some(tx) = sent.take() {
                        tx.send(cx.waker().clone()).unwrap();
                        return std::task::Poll::Pending;
                    }
                    std::task::Poll::Ready(())
                })
                .await;
                waker_thread.join().unwrap();
            });
            drop(rt);
            assert_eq!(counter.created(), counter.dropped(), "buffers leaked");
            assert_eq!(open_fd_count(), before, "fds leaked");
        }
    });
}

fn open_dev_null() -> impl OpCode {
    OpenAt::new("/dev/null".as_ref(), libc::O_RDONLY | libc::O_CLOEXEC, 0).unwrap()
}
