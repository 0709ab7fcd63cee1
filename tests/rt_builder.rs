//! Builder options: every ring configuration runs the same ops correctly,
//! and bad sizes are refused with a clear error.

mod support;

use coring::fd::SharedFd;
use coring::{Builder, Runtime};
use std::io;
use std::time::Duration;

/// 64 tasks × 200 ops (nops and /dev/zero reads) on `rt`: all succeed and
/// nothing is left in flight.
fn exercise(rt: &Runtime) {
    let zero = SharedFd::new(std::fs::File::open("/dev/zero").unwrap().into());
    let total = rt.block_on(async {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let zero = zero.clone();
                coring::spawn(async move {
                    let mut n = 0u32;
                    for j in 0..200 {
                        if (i + j) % 2 == 0 {
                            coring::io::nop().await.unwrap();
                        } else {
                            let (res, buf) = coring::io::read_at(&zero, vec![7u8; 8], 0).await;
                            assert_eq!(res.unwrap(), 8);
                            assert_eq!(buf, [0u8; 8]);
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(total, 64 * 200);
    let m = rt.metrics();
    assert_eq!(m.ops_in_flight, 0);
    assert!(m.cqes_reaped >= 12_800, "{m:?}");
}

#[test]
fn defaults_take_the_modern_flags_on_a_modern_kernel() {
    if support::skip_unless_default_ring("the defaults' setup flags")
        || support::skip_on_epoll("the defaults' setup flags")
    {
        return;
    }
    let rt = Runtime::new().unwrap();
    let f = rt.ring_flags();
    assert!(!f.sqpoll);
    // This project's CI kernel is 6.x, which has all three.
    assert!(
        f.single_issuer && f.defer_taskrun && f.coop_taskrun,
        "{f:?}"
    );
    exercise(&rt);
}

#[test]
fn sqpoll_ring_runs_ops() {
    if support::skip_on_epoll("SQPOLL") {
        return;
    }
    let rt = Builder::new()
        .sqpoll(Duration::from_millis(10))
        .build()
        .unwrap();
    let f = rt.ring_flags();
    assert!(f.sqpoll && !f.defer_taskrun, "{f:?}");
    exercise(&rt);
}

#[test]
fn plain_ring_without_optional_flags_runs_ops() {
    let rt = Builder::new()
        .single_issuer(false)
        .defer_taskrun(false)
        .coop_taskrun(false)
        .register_ring_fd(false)
        .build()
        .unwrap();
    let f = rt.ring_flags();
    assert!(!f.single_issuer && !f.defer_taskrun && !f.coop_taskrun);
    exercise(&rt);
}

#[test]
fn tiny_rings_and_budget_still_complete_everything() {
    let rt = Builder::new()
        .entries(1)
        .cq_entries(2)
        .task_budget(1)
        .build()
        .unwrap();
    exercise(&rt);
}

#[test]
fn bad_sizes_are_refused_clearly() {
    for (b, what) in [
        (Builder::new().entries(0), "SQ entries"),
        (Builder::new().entries(40_000), "SQ entries"),
        (Builder::new().entries(64).cq_entries(32), "CQ entries"),
        (Builder::new().entries(64).cq_entries(1 << 20), "CQ entries"),
    ] {
        let err = b.build().err().expect("must be refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

#[test]
fn spinning_ring_runs_ops_and_sees_remote_wakes() {
    let rt = Builder::new()
        .spin_before_park(Duration::from_millis(1))
        .build()
        .unwrap();
    exercise(&rt);
    // A wake from another thread while the ring spins (no eventfd write),
    // and one after it gave up spinning and parked.
    for delay in [Duration::from_micros(100), Duration::from_millis(20)] {
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let t = std::thread::spawn(move || {
            let w = rx.recv().unwrap();
            std::thread::sleep(delay);
            w.wake();
        });
        let mut sent = Some(tx);
        let mut polls = 0;
        rt.block_on(std::future::poll_fn(|cx| {
            polls += 1;
            match sent.take() {
                Some(tx) => {
                    tx.send(cx.waker().clone()).unwrap();
                    std::task::Poll::Pending
                }
                None => std::task::Poll::Ready(()),
            }
        }));
        assert_eq!(polls, 2, "woken exactly once");
        t.join().unwrap();
    }
}

/// `submit_batch(n)`: the n-th SQE of a turn goes to the kernel at once,
/// so a turn of 64 tasks makes about 64 / n extra enters, and every op
/// still completes.
#[test]
fn submit_batch_submits_mid_turn() {
    if support::skip_on_epoll("submit batching (an io_uring_enter per n SQEs)") {
        return;
    }
    fn enters_per_op(rt: &Runtime) -> f64 {
        let before = rt.metrics();
        exercise(rt);
        let after = rt.metrics();
        (after.enters - before.enters) as f64 / (64.0 * 200.0)
    }
    // An explicit SQ size: under CORING_RING=tiny a 4-entry SQ would
    // enter every 4 SQEs whatever the batch.
    let plain = Builder::new().entries(256).build().unwrap();
    let batched = Builder::new().entries(256).submit_batch(4).build().unwrap();
    let off = Builder::new().entries(256).submit_batch(0).build().unwrap();
    let (p, b, o) = (
        enters_per_op(&plain),
        enters_per_op(&batched),
        enters_per_op(&off),
    );
    // 64 tasks each push one SQE a turn: one enter per turn plainly, one
    // per 4 SQEs batched.
    assert!(p < 0.1, "plain: {p:.3} enters per op");
    assert!(b >= 0.2, "batch of 4: {b:.3} enters per op");
    assert!(o < 0.1, "submit_batch(0) is no limit: {o:.3} enters per op");
}

/// Device ops (`op::Device`, what coring::fs uses for O_DIRECT) go to the
/// kernel every 4 by default, other ops with the turn; `device_batch(0)`
/// turns that off.
#[test]
fn device_ops_are_submitted_in_small_groups() {
    use coring::op::{Device, Nop, Op};
    /// Enters per op for 64 tasks × 200 ops, `device` choosing the kind.
    fn enters_per_op(rt: &Runtime, device: bool) -> f64 {
        let before = rt.metrics();
        rt.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    coring::spawn(async move {
                        for _ in 0..200 {
                            if device {
                                Op::submit(Device(Nop)).await.unwrap();
                            } else {
                                Op::submit(Nop).await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let after = rt.metrics();
        assert_eq!(after.ops_in_flight, 0);
        (after.enters - before.enters) as f64 / (64.0 * 200.0)
    }
    let rt = Builder::new().entries(256).build().unwrap();
    let (plain, device) = (enters_per_op(&rt, false), enters_per_op(&rt, true));
    assert!(plain < 0.1, "plain ops: {plain:.3} enters per op");
    assert!(device >= 0.2, "device ops: {device:.3} enters per op");
    let off = Builder::new().entries(256).device_batch(0).build().unwrap();
    let device_off = enters_per_op(&off, true);
    assert!(
        device_off < 0.1,
        "device_batch(0): {device_off:.3} enters per op"
    );
}
