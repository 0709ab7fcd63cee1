//! The op lifecycle matrix: an op that completes before its first poll, one
//! dropped in flight, one polled from another task, one pending when the
//! runtime is dropped, explicit cancels (also racing the data), and
//! user-defined ops, including one the kernel refuses at submission.
//!
//! Buffers count their drops, so each test sees exactly when the runtime
//! frees what the kernel may still write into.

mod support;

use coring::buf::IoBuf;
use coring::fd::SharedFd;
use coring::io;
use coring::io_uring::{opcode, squeue, types};
use coring::op::{Completion, Op, OpCode};
use coring::Runtime;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use support::{
    coring_pipe, drain_pipe, fd_exclusive, fd_shared, ops_in_flight, pipe_pending, poll_once,
    turn_until, write_to, BufCounter, CountedBuf,
};

fn is_cancelled(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ECANCELED | libc::EINTR))
}

// (a) complete before the first poll --------------------------------------

#[test]
fn nop_completed_before_first_poll_is_ready_on_that_poll() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let mut early = io::nop();
        // NOPs complete inline and in order: once the second is back, the
        // first one's CQE has been reaped too, with nobody polling it.
        io::nop().await.unwrap();
        assert_eq!(
            ops_in_flight(),
            1,
            "the reaped, unpolled op keeps its entry"
        );
        match poll_once(&mut early).await {
            Poll::Ready(res) => res.unwrap(),
            Poll::Pending => panic!("the CQE came before the first poll: must be Ready"),
        }
        assert_eq!(ops_in_flight(), 0);
    });
}

#[test]
fn read_completed_before_first_poll_gives_the_data() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let (r, w) = coring_pipe();
        write_to(&w, b"early bird");
        let reaped = coring::metrics().cqes_reaped;
        let mut read = io::read(&r, c.buf(64));
        // What every kernel guarantees is that the CQE comes, not when:
        // 6.18 reads a blocking pipe inline, 6.1 hands it to an io-wq
        // worker first. Turn (no op of ours but the read) until it is in.
        turn_until("the read's CQE", || coring::metrics().cqes_reaped > reaped).await;
        let Poll::Ready((res, buf)) = poll_once(&mut read).await else {
            panic!("the read's CQE came before its first poll: it must be Ready");
        };
        assert_eq!(res.unwrap(), 10);
        assert_eq!(buf.bytes(), b"early bird");
        assert_eq!(c.dropped(), 0, "the buffer came back, not freed");
    });
    assert_eq!(counter.dropped(), 1);
    assert_eq!(rt.metrics().ops_in_flight, 0);
}

#[test]
fn dropping_a_completed_unpolled_op_frees_its_buffer_at_once() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let zero = support::dev_zero();
        let read = io::read_at(&zero, c.buf(32), 0);
        io::nop().await.unwrap();
        assert_eq!(ops_in_flight(), 1);
        drop(read);
        // The final CQE was in: nothing left for the kernel to touch.
        assert_eq!(c.dropped(), 1, "freed by the drop itself");
        assert_eq!(ops_in_flight(), 0);
    });
    assert_eq!(counter.created(), counter.dropped());
}

#[test]
fn cancel_after_completion_gives_the_real_result() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let zero = support::dev_zero();
        let read = io::read_at(&zero, vec![0xAA; 8].slice(..), 0);
        io::nop().await.unwrap();
        let (res, buf) = read.cancel().await;
        assert_eq!(res.unwrap(), 8);
        assert_eq!(buf.into_inner(), [0; 8]);
        assert_eq!(ops_in_flight(), 0);
    });
}

// (b) dropped while in flight --------------------------------------------

/// Drops a read on an empty pipe after `polls` polls and `turns` turns,
/// and checks the buffer is kept until the cancel's CQE, then freed once.
fn drop_in_flight(polls: usize, turns: usize) {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    let (r, w) = coring_pipe();
    rt.block_on(async move {
        let mut read = io::read(&r, c.buf(64));
        for _ in 0..polls {
            assert!(poll_once(&mut read).await.is_pending(), "the pipe is empty");
        }
        for _ in 0..turns {
            coring::yield_now().await;
        }
        assert_eq!(ops_in_flight(), 1);
        drop(read);
        assert_eq!(
            c.dropped(),
            0,
            "the kernel may still write into the buffer: it must not be freed yet"
        );
        assert_eq!(ops_in_flight(), 1, "the abandoned op is still in flight");
        turn_until("the abandoned read's final CQE", || c.dropped() > 0).await;
        assert_eq!(c.dropped(), 1);
        assert_eq!(ops_in_flight(), 0);
        // The pipe still works, and no read is left to steal the bytes.
        write_to(&w, b"x");
        assert_eq!(pipe_pending(&r), 1);
    });
    assert_eq!(counter.dropped(), 1, "dropped exactly once");
    assert_eq!(rt.metrics().ops_in_flight, 0);
}

#[test]
fn dropped_before_first_poll_and_before_submission_frees_after_cancel() {
    drop_in_flight(0, 0);
}

#[test]
fn dropped_before_first_poll_after_submission_frees_after_cancel() {
    drop_in_flight(0, 2);
}

#[test]
fn dropped_while_waiting_frees_after_cancel() {
    drop_in_flight(1, 2);
    drop_in_flight(3, 0);
}

#[test]
fn task_holding_an_op_aborted_frees_the_buffer_after_cancel() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let (r, _w) = coring_pipe();
        let c2 = c.clone();
        let task = coring::spawn(async move {
            let _ = io::read(&r, c2.buf(16)).await;
            unreachable!("the pipe never gets data");
        });
        turn_until("the task's read is in flight", || ops_in_flight() == 1).await;
        task.abort();
        assert_eq!(c.dropped(), 0, "abort dropped the Op, not the buffer");
        assert!(task.await.unwrap_err().is_cancelled());
        turn_until("the aborted read's final CQE", || c.dropped() > 0).await;
        assert_eq!(ops_in_flight(), 0);
    });
    assert_eq!(counter.dropped(), 1);
}

#[test]
fn task_panicking_with_an_op_in_flight_frees_the_buffer_after_cancel() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let (r, _w) = coring_pipe();
        let c2 = c.clone();
        let task = coring::spawn(async move {
            let mut read = io::read(&r, c2.buf(16));
            assert!(poll_once(&mut read).await.is_pending());
            coring::yield_now().await;
            panic!("task dies with its read in flight");
        });
        let err = task.await.unwrap_err();
        assert!(err.is_panic());
        // The turn that ran the task may already have reaped the cancel.
        turn_until("the read's final CQE", || c.dropped() > 0).await;
        assert_eq!(ops_in_flight(), 0);
    });
    assert_eq!(counter.dropped(), 1);
}

// (c) polled from another task -------------------------------------------

#[test]
fn op_polled_first_by_one_task_then_awaited_by_another_wakes_the_second() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let (r, w) = coring_pipe();
        let mut read = io::read(&r, Vec::with_capacity(16));
        // The block_on task polls first: its waker is registered.
        assert!(poll_once(&mut read).await.is_pending());
        coring::yield_now().await;
        assert!(poll_once(&mut read).await.is_pending());
        // Another task takes the op over: its waker must replace ours.
        let polled = Rc::new(Cell::new(false));
        let p = polled.clone();
        let task = coring::spawn(async move {
            p.set(true);
            read.await
        });
        turn_until("the other task polled the op", || polled.get()).await;
        write_to(&w, b"hello");
        let joined = coring::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the CQE must wake the task that polls the op now");
        let (res, buf) = joined.unwrap();
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"hello");
    });
    assert_eq!(rt.metrics().ops_in_flight, 0);
}

#[test]
// Hands a pending op out of its task on purpose.
#[allow(clippy::async_yields_async)]
fn op_created_in_one_task_is_awaited_in_another() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let zero = support::dev_zero();
        // Task A submits the op and ends, handing the future over.
        let a = coring::spawn(async move { io::read_at(&zero, vec![1u8; 4].slice(..), 0) });
        let op = a.await.unwrap();
        // Task B awaits it.
        let b = coring::spawn(op);
        let (res, buf) = b.await.unwrap();
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf.into_inner(), [0; 4]);
        assert_eq!(ops_in_flight(), 0);
    });
}

// (d) runtime dropped with ops pending -----------------------------------

/// Counts fds, so it holds the fd lock exclusively (see `support::fd_exclusive`).
#[test]
// Hands pending ops out of block_on on purpose.
#[allow(clippy::async_yields_async)]
fn runtime_dropped_with_ops_pending_frees_everything_once() {
    let _fds = fd_exclusive();
    let before = support::open_fd_count();

    // A read in a task, a read held by the block_on future's return value
    // (outliving the runtime), an abandoned read, and many reads on many
    // pipes: all pending when the runtime is dropped.
    let counter = BufCounter::new();
    let c = counter.clone();
    support::with_watchdog(
        "runtime drop with reads pending",
        Duration::from_secs(10),
        move || {
            let rt = Runtime::new().unwrap();
            let pipes: Vec<_> = (0..50).map(|_| coring_pipe()).collect();
            let c2 = c.clone();
            let kept = rt.block_on(async {
                for (r, _) in &pipes {
                    let (r, c) = (r.clone(), c2.clone());
                    let _detached = coring::spawn(async move {
                        let _ = io::read(&r, c.buf(32)).await;
                        unreachable!("the pipe never gets data");
                    });
                }
                let mut kept = io::read(&pipes[0].0, c2.buf(8));
                assert!(poll_once(&mut kept).await.is_pending());
                let abandoned = io::read(&pipes[1].0, c2.buf(8));
                turn_until("every read in flight", || ops_in_flight() == 52).await;
                drop(abandoned);
                kept
            });
            assert_eq!(c.dropped(), 0, "nothing freed while the kernel holds it");
            assert_eq!(c.created(), 52);
            drop(rt);
            // Every task's read was cancelled and reaped: freed once each; the
            // op that outlives the runtime still holds its buffer.
            assert_eq!(c.dropped(), 51);
            drop(kept);
            assert_eq!(c.dropped(), 52);
            drop(pipes);
        },
    );
    assert_eq!(
        counter.created(),
        counter.dropped(),
        "each buffer freed exactly once"
    );
    assert_eq!(
        support::open_fd_count(),
        before,
        "ring, eventfd and pipes closed"
    );

    // An op that outlives its runtime resolves (cancelled) with its buffer,
    // even when awaited on another runtime.
    let c = counter.clone();
    support::with_watchdog(
        "op outliving its runtime",
        Duration::from_secs(10),
        move || {
            let (r, w) = coring_pipe();
            let rt = Runtime::new().unwrap();
            let read = rt.block_on(async {
                let mut read = io::read(&r, c.buf(8));
                assert!(poll_once(&mut read).await.is_pending());
                coring::yield_now().await;
                read
            });
            drop(rt);
            let other = Runtime::new().unwrap();
            let (res, buf) = other.block_on(read);
            assert!(is_cancelled(&res.unwrap_err()));
            assert_eq!(buf.bytes_init(), 0);
            drop(buf);
            drop((r, w));
        },
    );
    assert_eq!(counter.created(), counter.dropped());
    assert_eq!(support::open_fd_count(), before);
}

// (e) explicit cancel -----------------------------------------------------

#[test]
fn cancel_of_a_read_on_an_empty_pipe_gives_ecanceled_and_the_buffer() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let (r, w) = coring_pipe();
        // Cancelled right after submission, and after it waited a while.
        for turns in [0, 3] {
            let mut read = io::read(&r, c.buf(16));
            for _ in 0..turns {
                assert!(poll_once(&mut read).await.is_pending());
                coring::yield_now().await;
            }
            let (res, buf) = read.cancel().await;
            let err = res.unwrap_err();
            assert!(is_cancelled(&err), "got {err:?}");
            assert_eq!(buf.bytes_init(), 0);
            assert_eq!(c.dropped() + 1, c.created(), "the buffer came back alive");
            drop(buf);
        }
        assert_eq!(ops_in_flight(), 0);
        // No cancelled read lingers to eat later data.
        write_to(&w, b"after");
        let (res, buf) = io::read(&r, Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"after");
    });
    assert_eq!(counter.created(), counter.dropped());
}

#[test]
fn cancel_racing_the_data_loses_no_byte() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let mut rng = support::XorShift::from_env("cancel_racing_the_data_loses_no_byte");
    let (mut won, mut cancelled) = (0, 0);
    rt.block_on(async {
        for i in 0..300u32 {
            let (r, w) = coring_pipe();
            let data = format!("payload {i}");
            let delay_us = rng.below(300);
            let mode = rng.below(3);
            if mode == 0 {
                write_to(&w, data.as_bytes());
            }
            let writer = (mode == 1).then(|| {
                let (w, data) = (w.try_clone().unwrap(), data.clone());
                std::thread::spawn(move || {
                    let t = std::time::Instant::now();
                    while t.elapsed() < Duration::from_micros(delay_us) {
                        std::hint::spin_loop();
                    }
                    write_to(&w, data.as_bytes());
                })
            });
            let mut read = io::read(&r, Vec::with_capacity(64));
            // Cancel right after the push, or after some polls and turns.
            let mut out = None;
            for _ in 0..rng.below(3) {
                if let Poll::Ready(o) = poll_once(&mut read).await {
                    out = Some(o);
                    break;
                }
                coring::yield_now().await;
            }
            let (res, buf) = match out {
                Some(out) => out,
                None => read.cancel().await,
            };
            if let Some(t) = writer {
                t.join().unwrap();
            }
            if mode == 2 {
                write_to(&w, data.as_bytes());
            }
            let rest = drain_pipe(&r);
            match res {
                Ok(n) => {
                    won += 1;
                    assert_eq!(&buf[..n], &data.as_bytes()[..n]);
                    assert_eq!(rest, &data.as_bytes()[n..], "round {i}");
                }
                Err(e) => {
                    assert!(is_cancelled(&e), "round {i}: {e:?}");
                    cancelled += 1;
                    assert_eq!(rest, data.as_bytes(), "round {i}: cancelled, data stays");
                }
            }
        }
        assert_eq!(ops_in_flight(), 0);
    });
    println!("cancel race: read won {won}, cancel won {cancelled}");
    assert!(won > 0 && cancelled > 0, "both outcomes were exercised");
}

/// A one-byte read whose SQE carries IOSQE_IO_LINK: the SQE pushed after
/// it starts only once this read has its byte.
struct LinkHead {
    fd: SharedFd,
    buf: Box<[u8; 1]>,
}

// SAFETY: the SQE points into `buf`, a heap block owned by `self` that
// does not move with it and is not touched until `complete`/`abandoned`.
unsafe impl OpCode for LinkHead {
    type Output = std::io::Result<u32>;

    fn build(&mut self) -> squeue::Entry {
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.as_mut_ptr(), 1)
            .offset(u64::MAX)
            .build()
            .flags(squeue::Flags::IO_LINK)
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result()
    }
}

/// A kernel answers ASYNC_CANCEL with ENOENT when it cannot see the op at
/// that moment, though the op is still in flight: on 6.1 a read of a
/// blocking pipe between its poll firing and its hand-off to an io-wq
/// worker, where it then blocks until data comes (the soak hung there with
/// SQPOLL); on every kernel an op linked behind a head that has not
/// completed. The runtime sends such a cancel again, backing off, until
/// the op ends; a cancel sent once would leave these two reads armed on an
/// empty pipe for good.
#[test]
fn a_cancel_the_kernel_missed_is_sent_again_until_the_op_ends() {
    if support::skip_on_epoll("IOSQE_IO_LINK") {
        return;
    }
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let (head_r, head_w) = coring_pipe();
        let (r, _w) = coring_pipe();
        let link_head = |fd: &SharedFd| LinkHead {
            fd: fd.clone(),
            buf: Box::new([0]),
        };

        // Op::cancel: the first cancel reaches the kernel while the read
        // waits behind its head.
        let head = Op::submit(link_head(&head_r));
        let mut read = io::read(&r, c.buf(8));
        assert!(poll_once(&mut read).await.is_pending());
        let mut read = read.cancel();
        coring::time::sleep(Duration::from_millis(20)).await;
        assert!(
            poll_once(&mut read).await.is_pending(),
            "the kernel cancelled an op linked behind a running head"
        );
        write_to(&head_w, b"h");
        assert_eq!(head.await.unwrap(), 1);
        let (res, buf) = coring::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the read's cancel was not sent again once it missed");
        assert!(is_cancelled(&res.unwrap_err()));
        drop(buf);

        // Dropped: the orphan's cancel misses the same way; the buffer is
        // freed once a later cancel ends the read.
        let head = Op::submit(link_head(&head_r));
        let mut read = io::read(&r, c.buf(8));
        assert!(poll_once(&mut read).await.is_pending());
        drop(read);
        coring::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            c.dropped() + 1,
            c.created(),
            "the dropped read is in flight"
        );
        write_to(&head_w, b"h");
        assert_eq!(head.await.unwrap(), 1);
        turn_until("the dropped read's buffer freed", || {
            c.dropped() == c.created()
        })
        .await;
        assert_eq!(ops_in_flight(), 0);
    });
    assert_eq!(counter.created(), counter.dropped());
}

// (f) user-defined ops ----------------------------------------------------

/// A user-defined read: owns a boxed buffer, and reports how it ended
/// through shared cells (so the test sees `abandoned` run).
struct MyRead {
    fd: SharedFd,
    buf: Box<[u8]>,
    log: Rc<RefCell<Vec<String>>>,
}

// SAFETY: the SQE points into `buf`, a heap block owned by `self` that
// does not move with it and is not touched until `complete`/`abandoned`.
unsafe impl OpCode for MyRead {
    type Output = std::io::Result<Vec<u8>>;

    fn build(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.len()).unwrap();
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.as_mut_ptr(), len)
            .offset(u64::MAX)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        self.log
            .borrow_mut()
            .push(format!("complete {}", cqe.raw_result()));
        let n = cqe.result()? as usize;
        Ok(self.buf[..n].to_vec())
    }

    fn abandoned(self, cqe: Completion) {
        self.log
            .borrow_mut()
            .push(format!("abandoned {}", cqe.raw_result()));
    }
}

#[test]
fn custom_opcode_completes_and_its_abandoned_hook_runs() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let (r, w) = coring_pipe();
        let mk = || MyRead {
            fd: r.clone(),
            buf: vec![0; 16].into_boxed_slice(),
            log: log.clone(),
        };
        write_to(&w, b"custom");
        let out = Op::submit(mk()).await.unwrap();
        assert_eq!(out, b"custom");
        assert_eq!(*log.borrow(), ["complete 6"]);

        // Dropped in flight: the kernel's final CQE reaches `abandoned`.
        let mut op = Op::submit(mk());
        assert!(poll_once(&mut op).await.is_pending());
        let ud = op.user_data();
        assert!(
            ud < u64::MAX - 1,
            "user_data is a table key, not a reserved value"
        );
        drop(op);
        turn_until("the custom op's final CQE", || log.borrow().len() == 2).await;
        assert_eq!(log.borrow()[1], format!("abandoned {}", -libc::ECANCELED));
        assert_eq!(ops_in_flight(), 0);

        // The public ASYNC_CANCEL op, aimed by user_data.
        let op = Op::submit(mk());
        let cancel = io::cancel(op.user_data());
        let (res, out) = futures_join(cancel, op).await;
        res.unwrap();
        assert!(is_cancelled(&out.unwrap_err()));
        assert_eq!(log.borrow()[2], format!("complete {}", -libc::ECANCELED));
        // A cancel for an op that is gone finds nothing.
        let err = io::cancel(ud).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    });
}

/// Awaits two futures concurrently (no futures-util here).
async fn futures_join<A, B>(a: A, b: B) -> (A::Output, B::Output)
where
    A: std::future::Future + Unpin,
    B: std::future::Future + Unpin,
{
    let (mut a, mut b) = (Some(a), Some(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if let Some(f) = a.as_mut() {
            if let Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                ra = Some(v);
                a = None;
            }
        }
        if let Some(f) = b.as_mut() {
            if let Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                rb = Some(v);
                b = None;
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// An op the kernel refuses when it takes the SQE (an unregistered
/// personality): the "submit error after push" row of the matrix. It owns
/// a counted buffer to show the resources still go back, once.
struct Refused {
    buf: CountedBuf,
}

// SAFETY: the SQE (a NOP) points at no memory; the buffer is only carried
// to test that the runtime hands it back or frees it exactly once.
unsafe impl OpCode for Refused {
    type Output = (std::io::Result<u32>, CountedBuf);

    fn build(&mut self) -> squeue::Entry {
        opcode::Nop::new().build().personality(0xfff7)
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        (cqe.result(), self.buf)
    }
}

#[test]
fn op_refused_at_submission_completes_with_the_kernel_error() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let (res, buf) = Op::submit(Refused { buf: c.buf(8) }).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        drop(buf);
        assert_eq!(c.dropped(), 1);
        // Refused SQEs among good ones: the good ones still run.
        let bad = Op::submit(Refused { buf: c.buf(8) });
        let good = io::nop();
        drop(bad);
        good.await.unwrap();
        turn_until("the refused op's CQE", || c.dropped() == 2).await;
        assert_eq!(ops_in_flight(), 0);
    });
    assert_eq!(counter.created(), counter.dropped());
}

// (g) linger: an op left to finish without its future ---------------------

/// A stream pair whose coring end's send buffer fills after a few hundred
/// KiB: a 4 MiB send waits for the reader.
fn unix_pair() -> (SharedFd, std::os::unix::net::UnixStream) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    (SharedFd::new(std::os::fd::OwnedFd::from(ours)), theirs)
}

fn waitall_send(fd: &SharedFd, data: Vec<u8>) -> Op<coring::op::Send<Vec<u8>>> {
    Op::submit(coring::op::Send::new(fd, data).flags(libc::MSG_WAITALL))
}

/// The reader's side: everything until end of stream (or the error).
fn read_to_end(mut s: std::os::unix::net::UnixStream) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut got = Vec::new();
    s.read_to_end(&mut got).map(|_| got)
}

#[test]
fn a_lingering_send_finishes_after_its_future_is_gone() {
    let _fds = fd_shared();
    let rt = Runtime::new().expect("runtime");
    const N: usize = 4 << 20;
    let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    let (fd, theirs) = unix_pair();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        read_to_end(theirs)
    });
    rt.block_on(async {
        waitall_send(&fd, data.clone()).linger(Duration::from_secs(30));
        // The op holds the socket open until it ends.
        drop(fd);
        assert_eq!(ops_in_flight(), 1, "the send goes on");
        while !reader.is_finished() {
            coring::time::sleep(Duration::from_millis(5)).await;
        }
        turn_until("the send ends", || ops_in_flight() == 0).await;
    });
    let got = reader.join().expect("reader").expect("read");
    assert_eq!(got.len(), N, "every byte arrived, then end of stream");
    assert!(got == data, "the bytes arrived intact");
}

#[test]
fn a_lingering_send_is_cancelled_at_its_deadline() {
    let _fds = fd_shared();
    let rt = Runtime::new().expect("runtime");
    const N: usize = 4 << 20;
    let (fd, theirs) = unix_pair();
    let started = std::time::Instant::now();
    rt.block_on(async {
        waitall_send(&fd, vec![7u8; N]).linger(Duration::from_millis(50));
        drop(fd);
        // Nobody reads: the send waits for room until its deadline.
        turn_until("the send is cancelled", || ops_in_flight() == 0).await;
    });
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "cancelled at its deadline, not before: {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "cancelled: {waited:?}");
    // The socket closed when the op ended: what was sent, then the end.
    let got = read_to_end(theirs).expect("read");
    assert!(got.len() < N, "the send was cut short: {} bytes", got.len());
    drop(rt);
}

#[test]
fn a_lingering_send_is_cancelled_when_the_runtime_shuts_down() {
    let _fds = fd_shared();
    let rt = Runtime::new().expect("runtime");
    let (fd, theirs) = unix_pair();
    rt.block_on(async {
        waitall_send(&fd, vec![7u8; 4 << 20]).linger(Duration::from_secs(3600));
        drop(fd);
        coring::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(ops_in_flight(), 1);
    });
    let started = std::time::Instant::now();
    drop(rt);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited"
    );
    // Closed: the reader sees the end of stream.
    assert!(read_to_end(theirs).expect("read").len() < 4 << 20);
}

// (h) try_complete: the output if the CQE came, no waker otherwise ---------

#[test]
fn try_complete_takes_the_output_once_the_cqe_came_and_registers_no_waker() {
    let _fds = fd_shared();
    let rt = Runtime::new().unwrap();
    let counter = BufCounter::new();
    let c = counter.clone();
    rt.block_on(async move {
        let (r, w) = coring_pipe();
        let read = Rc::new(RefCell::new(io::read(&r, c.buf(64))));
        // A task that only tries, then waits for nothing: the read's
        // completion must not wake it.
        let polls = Rc::new(Cell::new(0u32));
        let (op, p) = (read.clone(), polls.clone());
        let _task = coring::spawn(std::future::poll_fn(move |_cx| {
            p.set(p.get() + 1);
            assert!(
                op.borrow_mut().try_complete().is_none(),
                "nothing to read yet"
            );
            Poll::<()>::Pending
        }));
        turn_until("the task's first poll", || polls.get() == 1).await;
        let reaped = coring::metrics().cqes_reaped;
        write_to(&w, b"late");
        turn_until("the read's CQE", || coring::metrics().cqes_reaped > reaped).await;
        for _ in 0..3 {
            coring::yield_now().await;
        }
        assert_eq!(polls.get(), 1, "the completion woke a task that only tried");
        let (res, buf) = read.borrow_mut().try_complete().expect("the CQE came");
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf.bytes(), b"late");
    });
    drop(rt);
    assert_eq!(counter.dropped(), 1, "the buffer came back once");
}
