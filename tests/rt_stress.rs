//! Stress: 100,000 ops through an 8-entry SQ and a 16-entry CQ; a storm of
//! 100,000 ops dropped at random points (no op, buffer or fd may leak); and
//! tens of thousands of wakes from other threads.
//!
//! The storm counts fds, so it holds the fd lock exclusively; every other
//! test here holds it shared (tests of one binary run in parallel).

mod support;

use coring::fd::SharedFd;
use coring::{io, Builder, Runtime};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{
    coring_pipe, dev_zero, fd_exclusive, fd_shared, ops_in_flight, poll_once, turn_until,
    with_watchdog, BufCounter, XorShift,
};

const OPS: u64 = 100_000;

#[test]
fn hundred_thousand_ops_through_an_8_entry_sq_and_16_entry_cq() {
    let _fds = fd_shared();
    const TASKS: u64 = 80;
    // Each task keeps this many ops in flight: 400 in all, far more than
    // the SQ (8) and the CQ (16) hold.
    const DEPTH: u64 = 5;
    const _: () = assert!(OPS % (TASKS * DEPTH) == 0);
    let t = Instant::now();
    let m = with_watchdog("100k ops, tiny ring", Duration::from_secs(120), || {
        let rt = Builder::new().entries(8).cq_entries(16).build().unwrap();
        let done = rt.block_on(async {
            let zero = dev_zero();
            let done = Rc::new(Cell::new(0u64));
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let (zero, done) = (zero.clone(), done.clone());
                    coring::spawn(async move {
                        for round in 0..OPS / TASKS / DEPTH {
                            let batch: Vec<_> = (0..DEPTH)
                                .map(|i| one_op(&zero, (t + round + i) % 2 == 0, i as usize))
                                .collect();
                            for op in batch {
                                op.await;
                                done.set(done.get() + 1);
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(ops_in_flight(), 0);
            done.get()
        });
        assert_eq!(done, OPS);
        rt.metrics()
    });
    println!("{OPS} ops through SQ 8 / CQ 16 in {:?}: {m:?}", t.elapsed());
    assert_eq!(m.ops_in_flight, 0);
    assert!(m.sqes_submitted >= OPS, "{m:?}");
    assert!(m.cqes_reaped >= OPS, "{m:?}");
}

#[test]
fn a_burst_of_completions_overflowing_the_cq_loses_none() {
    if support::skip_on_epoll("the kernel's CQ overflow") {
        return;
    }
    let _fds = fd_shared();
    const PIPES: usize = 8;
    const READS: usize = 64;
    let m = with_watchdog("CQ overflow burst", Duration::from_secs(60), || {
        let rt = Builder::new().entries(8).cq_entries(16).build().unwrap();
        rt.block_on(async {
            for round in 0..20u8 {
                let pipes: Vec<_> = (0..PIPES).map(|_| coring_pipe()).collect();
                // 512 one-byte reads pending, then all the data at once:
                // 512 CQEs for a 16-entry CQ in one go.
                let reads: Vec<_> = (0..PIPES * READS)
                    .map(|i| io::read(&pipes[i % PIPES].0, Vec::with_capacity(1)))
                    .collect();
                turn_until("the reads are in flight", || {
                    coring::metrics().sqes_submitted > 0
                })
                .await;
                for _ in 0..3 {
                    coring::yield_now().await;
                }
                for (p, (_, w)) in pipes.iter().enumerate() {
                    support::write_to(w, &[round.wrapping_add(p as u8); READS]);
                }
                let mut got = [0usize; PIPES];
                for (i, r) in reads.into_iter().enumerate() {
                    let (res, buf) = r.await;
                    assert_eq!(res.unwrap(), 1);
                    assert_eq!(buf, [round.wrapping_add((i % PIPES) as u8)]);
                    got[i % PIPES] += 1;
                }
                assert_eq!(got, [READS; PIPES]);
                assert_eq!(ops_in_flight(), 0);
            }
        });
        rt.metrics()
    });
    println!("CQ burst: {m:?}");
    assert!(
        m.cq_overflows > 0,
        "the bursts should have overflowed the 16-entry CQ: {m:?}"
    );
}

/// A NOP, or a read of /dev/zero into a buffer pre-filled with 0xAA whose
/// result is checked byte for byte.
fn one_op(zero: &SharedFd, nop: bool, salt: usize) -> Pin<Box<dyn Future<Output = ()>>> {
    if nop {
        let op = io::nop();
        return Box::pin(async move { op.await.unwrap() });
    }
    let len = 1 + salt * 37;
    let mut buf = vec![0xAA; len];
    buf.clear();
    let op = io::read_at(zero, buf, 0);
    Box::pin(async move {
        let (res, buf) = op.await;
        assert_eq!(res.unwrap(), len);
        assert_eq!(buf.len(), len);
        assert!(buf.iter().all(|&b| b == 0), "the kernel filled the buffer");
    })
}

/// What one storm op ended as.
#[derive(Debug, Default)]
struct Tally {
    completed: Cell<u64>,
    dropped: Cell<u64>,
    cancelled: Cell<u64>,
}

impl Tally {
    fn bump(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }
}

/// The storm's shared pieces, one per runtime.
struct Storm {
    /// Pipes nobody ever writes to: reads on them never complete.
    pipes: Vec<(SharedFd, std::fs::File)>,
    zero: SharedFd,
    bufs: Arc<BufCounter>,
    tally: Tally,
}

impl Storm {
    /// Submits one op of `kind`: 0 a read on a silent pipe, 1 a NOP, 2 a
    /// read of /dev/zero. Its future checks the result if it completes.
    fn op(&self, kind: u64, pipe: usize) -> Pin<Box<dyn Future<Output = ()>>> {
        match kind {
            0 => {
                let op = io::read(&self.pipes[pipe].0, self.bufs.buf(16));
                Box::pin(async move {
                    let (res, _) = op.await;
                    panic!("a read on a silent pipe completed: {res:?}");
                })
            }
            1 => {
                let op = io::nop();
                Box::pin(async move { op.await.unwrap() })
            }
            _ => {
                let op = io::read_at(&self.zero, self.bufs.buf(24), 0);
                Box::pin(async move {
                    let (res, buf) = op.await;
                    assert_eq!(res.unwrap(), 24);
                    assert_eq!(buf.bytes(), [0; 24]);
                })
            }
        }
    }

    /// Runs one op and ends it the way `rng` says.
    async fn one(self: &Rc<Self>, rng: &mut XorShift) {
        let kind = rng.below(3);
        let pipe = rng.below(self.pipes.len() as u64) as usize;
        let tally = &self.tally;
        match rng.below(6) {
            // Dropped before its first poll (maybe before submission).
            0 => {
                drop(self.op(kind, pipe));
                Tally::bump(&tally.dropped);
            }
            // Under a tiny or zero timeout.
            1 => {
                let d = Duration::from_micros(rng.below(4) * rng.below(40));
                match coring::time::timeout(d, self.op(kind, pipe)).await {
                    Ok(()) => Tally::bump(&tally.completed),
                    Err(_) => Tally::bump(&tally.dropped),
                }
            }
            // Dropped after a few polls, with turns in between.
            2 => {
                let mut fut = self.op(kind, pipe);
                let mut done = false;
                for _ in 0..rng.below(4) {
                    if poll_once(&mut fut).await.is_ready() {
                        done = true;
                        break;
                    }
                    coring::yield_now().await;
                }
                Tally::bump(if done {
                    &tally.completed
                } else {
                    &tally.dropped
                });
            }
            // In a task, aborted after a few turns.
            3 => {
                let task = coring::spawn(self.op(kind, pipe));
                for _ in 0..rng.below(3) {
                    coring::yield_now().await;
                }
                task.abort();
                match task.await {
                    Ok(()) => Tally::bump(&tally.completed),
                    Err(e) => {
                        assert!(e.is_cancelled(), "{e}");
                        Tally::bump(&tally.dropped);
                    }
                }
            }
            // Explicitly cancelled: the buffer comes back either way.
            4 if kind != 1 => {
                let bufs = &self.bufs;
                let (res, buf) = if kind == 0 {
                    io::read(&self.pipes[pipe].0, bufs.buf(8)).cancel().await
                } else {
                    io::read_at(&self.zero, bufs.buf(8), 0).cancel().await
                };
                match res {
                    Ok(n) => {
                        assert_eq!(kind, 2, "only /dev/zero reads can win");
                        assert_eq!(buf.bytes(), &[0; 8][..n]);
                        Tally::bump(&tally.completed);
                    }
                    Err(e) => {
                        assert!(
                            matches!(e.raw_os_error(), Some(libc::ECANCELED | libc::EINTR)),
                            "{e:?}"
                        );
                        Tally::bump(&tally.cancelled);
                    }
                }
            }
            // Run to completion (silent pipes are dropped instead).
            _ => {
                if kind == 0 {
                    drop(self.op(kind, pipe));
                    Tally::bump(&tally.dropped);
                } else {
                    self.op(kind, pipe).await;
                    Tally::bump(&tally.completed);
                }
            }
        }
    }
}

/// One storm of [`OPS`] ops from 100 workers on a runtime from `builder`.
/// With `finish`, the workers run to the end and the runtime settles (no
/// op in flight, every buffer back) before it is dropped; without, the
/// runtime is dropped half-way, with ops and tasks in every state.
/// Returns how many ops completed, were dropped, were cancelled.
fn storm_round(builder: Builder, seed: u64, bufs: &Arc<BufCounter>, finish: bool) -> [u64; 3] {
    const WORKERS: u64 = 100;
    let rt = builder.build().unwrap();
    let storm = Rc::new(Storm {
        pipes: (0..8).map(|_| coring_pipe()).collect(),
        zero: dev_zero(),
        bufs: bufs.clone(),
        tally: Tally::default(),
    });
    let s = storm.clone();
    let t = Instant::now();
    rt.block_on(async move {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let s = s.clone();
                let mut rng = XorShift::new(seed ^ (w + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                coring::spawn(async move {
                    for _ in 0..OPS / WORKERS {
                        s.one(&mut rng).await;
                    }
                })
            })
            .collect();
        if !finish {
            let t = &s.tally;
            turn_until("half the storm", || {
                t.completed.get() + t.dropped.get() + t.cancelled.get() >= OPS / 2
            })
            .await;
            assert!(ops_in_flight() > 0);
            return;
        }
        for w in workers {
            w.await.unwrap();
        }
        // Every abandoned op's final CQE comes, and frees its buffer,
        // without the runtime shutting down.
        turn_until("every op's final CQE", || {
            ops_in_flight() == 0 && s.bufs.created() == s.bufs.dropped()
        })
        .await;
    });
    let m = rt.metrics();
    if finish {
        assert_eq!(m.ops_in_flight, 0);
    } else {
        assert!(bufs.created() > bufs.dropped(), "ops were still in flight");
    }
    drop(rt);
    let Storm { tally, .. } = Rc::into_inner(storm).unwrap();
    let out = [
        tally.completed.get(),
        tally.dropped.get(),
        tally.cancelled.get(),
    ];
    println!(
        "storm (finish: {finish}) in {:?}: completed/dropped/cancelled {out:?}; {m:?}",
        t.elapsed()
    );
    out
}

#[test]
fn cancellation_storm_leaks_no_op_buffer_or_fd() {
    let _fds = fd_exclusive();
    let fds_before = support::open_fd_count();
    let bufs = BufCounter::new();
    let b = bufs.clone();
    let mut rng = XorShift::from_env("cancellation_storm");
    let seeds = [
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64(),
    ];
    with_watchdog("cancellation storm", Duration::from_secs(120), move || {
        // The default ring, a small one, a tiny one (the SQ is full all the
        // time, cancels included, and the CQ overflows), and a runtime
        // dropped in the middle of a storm.
        let rounds = [
            (Builder::new(), true),
            (Builder::new().entries(16).cq_entries(32), true),
            (Builder::new().entries(2).cq_entries(2), true),
            (Builder::new().entries(16).cq_entries(32), false),
        ];
        for ((builder, finish), seed) in rounds.into_iter().zip(seeds) {
            let before = b.created();
            let [completed, dropped, cancelled] = storm_round(builder, seed, &b, finish);
            assert_eq!(b.created(), b.dropped(), "no buffer leaked");
            if finish {
                assert_eq!(completed + dropped + cancelled, OPS);
                assert!(dropped > OPS / 3 && completed > OPS / 10 && cancelled > 0);
                assert!((b.created() - before) as u64 > OPS / 2);
            }
        }
    });
    assert_eq!(bufs.created(), bufs.dropped(), "no buffer leaked");
    assert_eq!(support::open_fd_count(), fds_before, "no fd leaked");
}

#[test]
fn many_remote_wakes_from_several_threads_are_all_delivered() {
    let _fds = fd_shared();
    const THREADS: u64 = 4;
    const SENDS: u64 = 10_000;
    let t = Instant::now();
    with_watchdog("remote wakes", Duration::from_secs(60), || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            // Channels: many values to one task per thread.
            let mut receivers = Vec::new();
            let mut senders = Vec::new();
            for th in 0..THREADS {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
                receivers.push(coring::spawn(async move {
                    let (mut n, mut sum) = (0, 0);
                    while let Some(v) = rx.recv().await {
                        n += 1;
                        sum += v;
                    }
                    (n, sum)
                }));
                senders.push(std::thread::spawn(move || {
                    for i in 0..SENDS {
                        tx.send(th * SENDS + i).unwrap();
                        if i % 64 == 0 {
                            std::thread::yield_now();
                        }
                    }
                }));
            }
            let mut total = 0;
            for r in receivers {
                let (n, sum) = r.await.unwrap();
                assert_eq!(n, SENDS);
                total += sum;
            }
            let all = THREADS * SENDS;
            assert_eq!(total, all * (all - 1) / 2);
            for s in senders {
                s.join().unwrap();
            }

            // Oneshots: one value to each of many parked tasks.
            let mut tasks = Vec::new();
            let mut txs: Vec<Vec<_>> = (0..THREADS).map(|_| Vec::new()).collect();
            for i in 0..2_000u64 {
                let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
                tasks.push(coring::spawn(async move { rx.await.unwrap() == i }));
                txs[(i % THREADS) as usize].push((i, tx));
            }
            coring::yield_now().await;
            let threads: Vec<_> = txs
                .into_iter()
                .map(|txs| {
                    std::thread::spawn(move || {
                        for (i, tx) in txs {
                            tx.send(i).unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                assert!(t.await.unwrap());
            }
            for t in threads {
                t.join().unwrap();
            }
        });
    });
    println!("remote wakes in {:?}", t.elapsed());
}

#[test]
fn ping_pong_between_runtimes_on_two_threads() {
    let _fds = fd_shared();
    const ROUNDS: u64 = 10_000;
    let t = Instant::now();
    with_watchdog(
        "ping-pong between runtimes",
        Duration::from_secs(60),
        || {
            let (to_b, mut b_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
            let (to_a, mut a_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
            // B echoes n + 1 on its own runtime, its ring parked in between,
            // until it echoes STOP. (The handshake keeps every wake inside
            // a turn: see wake_sent_in_another_runtime_s_last_poll_... in
            // rt_executor.rs for wakes sent by a runtime's last poll.)
            const STOP: u64 = u64::MAX;
            let b = std::thread::spawn(move || {
                let rt = Runtime::new().unwrap();
                rt.block_on(async move {
                    let echo = coring::spawn(async move {
                        while let Some(n) = b_rx.recv().await {
                            io::nop().await.unwrap();
                            to_a.send(n.wrapping_add(u64::from(n != STOP))).unwrap();
                            if n == STOP {
                                break;
                            }
                        }
                    });
                    echo.await.unwrap();
                });
                rt.metrics()
            });
            let rt = Runtime::new().unwrap();
            rt.block_on(async move {
                let mut n = 0;
                for _ in 0..ROUNDS {
                    to_b.send(n).unwrap();
                    n = a_rx.recv().await.unwrap();
                }
                assert_eq!(n, ROUNDS);
                to_b.send(STOP).unwrap();
                assert_eq!(a_rx.recv().await, Some(STOP));
            });
            let mb = b.join().unwrap();
            let ma = rt.metrics();
            println!("ping-pong: A {ma:?}\nB {mb:?}");
            assert!(ma.parks > 0 && mb.parks > 0, "both rings parked in between");
        },
    );
    println!("{ROUNDS} round trips in {:?}", t.elapsed());
}

#[test]
fn remote_wakes_race_the_ring_parking() {
    let _fds = fd_shared();
    // Each round the ring parks just as another thread wakes it: a lost
    // wake-up would hang a round (the watchdog catches it).
    with_watchdog("park/unpark race", Duration::from_secs(60), || {
        let rt = Runtime::new().unwrap();
        let mut rng = XorShift::from_env("remote_wakes_race_the_ring_parking");
        for round in 0..2_000u32 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let spin = rng.below(50);
            let sender = std::thread::spawn(move || {
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(spin) {
                    std::hint::spin_loop();
                }
                tx.send(round).unwrap();
            });
            let got = rt.block_on(async {
                let task = coring::spawn(rx);
                task.await.unwrap().unwrap()
            });
            assert_eq!(got, round);
            sender.join().unwrap();
        }
    });
}

#[test]
fn pending_ops_survive_poll_from_many_tasks_with_the_ring_full() {
    let _fds = fd_shared();
    // 64 reads pending on silent pipes fill an 8-entry SQ many times over;
    // NOPs must still get through, and dropping the reads frees them.
    let bufs = BufCounter::new();
    let b = bufs.clone();
    with_watchdog("full ring", Duration::from_secs(60), move || {
        let rt = Builder::new().entries(8).cq_entries(16).build().unwrap();
        rt.block_on(async move {
            let pipes: Vec<_> = (0..4).map(|_| coring_pipe()).collect();
            let reads: Vec<_> = (0..64)
                .map(|i| {
                    let op = io::read(&pipes[i % 4].0, b.buf(8));
                    coring::spawn(async move { op.await.0 })
                })
                .collect();
            for _ in 0..1_000 {
                io::nop().await.unwrap();
            }
            assert_eq!(ops_in_flight(), 64);
            for r in &reads {
                r.abort();
            }
            turn_until("the aborted reads' final CQEs", || b.dropped() == 64).await;
            assert_eq!(ops_in_flight(), 0);
            for r in reads {
                assert!(r.await.unwrap_err().is_cancelled());
            }
        });
        assert_eq!(rt.metrics().ops_in_flight, 0);
    });
    assert_eq!(bufs.created(), 64);
    assert_eq!(bufs.dropped(), 64);
}

/// Runs `n` NOPs from 50 tasks and returns the metrics.
fn nops_metrics(rt: &Runtime, n: u64) -> coring::Metrics {
    let before = rt.metrics();
    rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                coring::spawn(async move {
                    for _ in 0..n / 50 {
                        io::nop().await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let after = rt.metrics();
    let mut d = after;
    d.sqes_submitted -= before.sqes_submitted;
    d.cqes_reaped -= before.cqes_reaped;
    d
}

#[test]
fn metrics_count_every_sqe_and_cqe() {
    let _fds = fd_shared();
    let rt = Builder::new().entries(8).build().unwrap();
    let m = nops_metrics(&rt, 10_000);
    assert!(m.sqes_submitted >= 10_000, "{m:?}");
    assert!(m.cqes_reaped >= 10_000, "{m:?}");
    assert_eq!(m.ops_in_flight, 0);
}

#[test]
fn metrics_count_every_sqe_with_sqpoll() {
    let _fds = fd_shared();
    let rt = Builder::new()
        .entries(8)
        .sqpoll(Duration::from_millis(2))
        .build()
        .unwrap();
    let m = nops_metrics(&rt, 10_000);
    assert!(m.cqes_reaped >= 10_000, "{m:?}");
    assert!(
        m.sqes_submitted >= 10_000,
        "10,000 NOPs completed but only {} SQEs counted as submitted",
        m.sqes_submitted
    );
}
