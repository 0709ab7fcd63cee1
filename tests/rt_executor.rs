//! The executor: panics caught, abort, self-abort, detach, yield order,
//! many tiny tasks, spawning from tasks, tasks across `block_on` calls and
//! at runtime drop, the no-runtime panic, remote wakes of a parked ring,
//! and `Send`/`!Send` asserted at compile time.

mod support;

use coring::{JoinHandle, Runtime};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Compile-time assertions

/// Implemented twice for `Send` types, so naming `some_item` through it
/// is ambiguous (a compile error) exactly when `T: Send`.
trait AmbiguousIfSend<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

/// The same trick for `Sync`.
trait AmbiguousIfSync<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

// Per-core types stay on their thread; wakers and handles to other
// threads' runtimes must cross threads.
const _: fn() = || {
    let _ = <coring::Runtime as AmbiguousIfSend<_>>::some_item;
    let _ = <coring::JoinHandle<()> as AmbiguousIfSend<_>>::some_item;
    let _ = <coring::JoinHandle<()> as AmbiguousIfSync<_>>::some_item;
    let _ = <coring::fd::SharedFd as AmbiguousIfSend<_>>::some_item;
    let _ = <coring::op::Op<coring::op::Nop> as AmbiguousIfSend<_>>::some_item;
    let _ = <coring::time::Sleep as AmbiguousIfSend<_>>::some_item;
    assert_send_sync::<std::task::Waker>();
    assert_send_sync::<coring::Metrics>();
    assert_send::<coring::Builder>();
    // Send + Sync + 'static: `?` turns it into anyhow::Error or a
    // Box<dyn Error + Send + Sync>.
    assert_send_sync::<coring::JoinError>();
    assert_static::<coring::JoinError>();
};

fn assert_static<T: 'static>() {}

// ---------------------------------------------------------------------------
// Helpers

/// Sets its flag when dropped: shows when a task's future goes.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn flag() -> (Rc<Cell<bool>>, DropFlag) {
    let f = Rc::new(Cell::new(false));
    (f.clone(), DropFlag(f))
}

// ---------------------------------------------------------------------------
// Panics

#[test]
fn task_panic_is_caught_and_reported_through_the_join_handle() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let bystander = coring::spawn(async {
            for _ in 0..3 {
                coring::yield_now().await;
            }
            "still here"
        });
        let code = 42;
        let boom = coring::spawn(async move {
            coring::yield_now().await;
            panic!("boom: {code}");
        });
        let err = boom.await.unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(err.to_string(), "task panicked: boom: 42");
        assert!(format!("{err:?}").contains("boom: 42"));
        assert_eq!(err.panic_message(), Some("boom: 42"));
        let payload = err.try_into_panic().unwrap();
        assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom: 42");

        let err = coring::spawn(async { panic!("static str") })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "task panicked: static str");
        let err = coring::spawn(async { std::panic::panic_any(7u8) })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "task panicked");

        assert_eq!(bystander.await.unwrap(), "still here");
        coring::io::nop().await.unwrap();
    });
    // The runtime goes on after its tasks panicked.
    assert_eq!(
        rt.block_on(async { coring::spawn(async { 5 }).await.unwrap() }),
        5
    );
}

/// What an anyhow function does with `?`: the JoinError goes into a
/// `Box<dyn Error + Send + Sync>` and keeps its message and type.
async fn joined_with_question_mark(
    h: coring::JoinHandle<u32>,
) -> Result<u32, Box<dyn std::error::Error + Send + Sync + 'static>> {
    let v = h.await?;
    Ok(v)
}

#[test]
fn join_error_goes_through_question_mark_into_a_send_sync_error() {
    coring::start(async {
        let ok = joined_with_question_mark(coring::spawn(async { 5 })).await;
        assert_eq!(ok.unwrap(), 5);
        let err = joined_with_question_mark(coring::spawn(async { panic!("no luck") }))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "task panicked: no luck");
        let err = err.downcast::<coring::JoinError>().unwrap();
        // The payload is still there for resume_unwind.
        let payload = err.try_into_panic().unwrap();
        assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "no luck");
        // And it crosses threads.
        let err = coring::spawn(async { panic!("sent") }).await.unwrap_err();
        let msg = std::thread::spawn(move || err.to_string()).join().unwrap();
        assert_eq!(msg, "task panicked: sent");
    })
    .unwrap();
}

#[test]
fn panic_in_block_on_future_propagates_and_the_runtime_is_reusable() {
    let rt = Runtime::new().unwrap();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            coring::io::nop().await.unwrap();
            panic!("main future fails");
        })
    }));
    assert!(res.is_err());
    assert!(coring::try_current_metrics().is_none(), "context left");
    let out = rt.block_on(async {
        coring::io::nop().await.unwrap();
        coring::spawn(async { 3 }).await.unwrap()
    });
    assert_eq!(out, 3);

    // Unwinding out of block_on with a read in flight: the read is
    // abandoned (not freed), and the next block_on reaps and frees it.
    let bufs = support::BufCounter::new();
    let (r, _w) = support::coring_pipe();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let mut read = coring::io::read(&r, bufs.buf(8));
            assert!(support::poll_once(&mut read).await.is_pending());
            coring::yield_now().await;
            panic!("main future fails with a read in flight");
        })
    }));
    assert!(res.is_err());
    assert_eq!(bufs.dropped(), 0, "the kernel may still write into it");
    assert_eq!(rt.metrics().ops_in_flight, 1);
    rt.block_on(support::turn_until("the read's final CQE", || {
        bufs.dropped() == 1
    }));
    assert_eq!(rt.metrics().ops_in_flight, 0);
}

// ---------------------------------------------------------------------------
// Abort and detach

#[test]
fn abort_of_a_pending_task_drops_its_future_and_reports_cancelled() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        // Aborted after it ran and parked on something that never comes.
        let (dropped, guard) = flag();
        let polled = Rc::new(Cell::new(0));
        let p = polled.clone();
        let task = coring::spawn(async move {
            let _guard = guard;
            p.set(p.get() + 1);
            std::future::pending::<()>().await;
        });
        coring::yield_now().await;
        assert_eq!(polled.get(), 1);
        assert!(!task.is_finished());
        task.abort();
        assert!(dropped.get(), "abort drops the future at once");
        assert!(task.is_finished());
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.to_string(), "task was cancelled");

        // Aborted before its first poll: never polled.
        let (dropped, guard) = flag();
        let p = polled.clone();
        let task = coring::spawn(async move {
            let _guard = guard;
            p.set(100);
        });
        task.abort();
        assert!(dropped.get());
        assert!(task.await.unwrap_err().is_cancelled());
        coring::yield_now().await;
        assert_eq!(polled.get(), 1, "an aborted task never runs");

        // Abort of a finished task keeps its output.
        let task = coring::spawn(async { "done" });
        coring::yield_now().await;
        assert!(task.is_finished());
        task.abort();
        assert_eq!(task.await.unwrap(), "done");
    });
}

#[test]
fn task_aborting_itself_is_cancelled_at_its_next_await() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let (dropped, guard) = flag();
        let after = Rc::new(Cell::new(false));
        let (s, a) = (slot.clone(), after.clone());
        let task = coring::spawn(async move {
            let _guard = guard;
            coring::yield_now().await;
            s.borrow().as_ref().unwrap().abort();
            coring::yield_now().await;
            a.set(true);
        });
        *slot.borrow_mut() = Some(task);
        coring::yield_now().await;
        coring::yield_now().await;
        let task = slot.borrow_mut().take().unwrap();
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
        assert!(dropped.get());
        assert!(!after.get(), "the task never ran past its abort");
    });
}

#[test]
fn dropping_the_join_handle_detaches_the_task() {
    let rt = Runtime::new().unwrap();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    rt.block_on(async move {
        let d2 = d.clone();
        drop(coring::spawn(async move {
            coring::time::sleep(Duration::from_millis(5)).await;
            coring::io::nop().await.unwrap();
            d2.set(true);
        }));
        support::turn_until("the detached task finished", || d.get()).await;
    });
    assert!(done.get());
    // A detached task also runs in a later block_on.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    rt.block_on(async move {
        drop(coring::spawn(async move { r.set(true) }));
    });
    assert!(!ran.get(), "block_on returned before the task ran");
    rt.block_on(coring::yield_now());
    assert!(ran.get());
}

// ---------------------------------------------------------------------------
// Scheduling

#[test]
fn yield_now_lets_other_tasks_run() {
    let rt = Runtime::new().unwrap();
    let log = rt.block_on(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                coring::spawn(async move {
                    for i in 0..3 {
                        log.borrow_mut().push(format!("{name}{i}"));
                        coring::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        log.take()
    });
    assert_eq!(
        log,
        ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"],
        "each yield goes behind the tasks that are ready"
    );
}

#[test]
fn a_task_that_never_yields_to_the_kernel_does_not_starve_io() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        // Always ready: only the per-turn budget lets the ring turn.
        let spinner = coring::spawn(async move {
            let mut spins = 0u64;
            while !s.get() {
                coring::yield_now().await;
                spins += 1;
            }
            spins
        });
        for _ in 0..100 {
            coring::io::nop().await.unwrap();
        }
        coring::time::sleep(Duration::from_millis(5)).await;
        stop.set(true);
        assert!(spinner.await.unwrap() > 0);
    });
}

/// A million tiny tasks, spawned in batches and joined. Debug builds run
/// it in a few seconds; see the printed timing.
#[test]
fn a_million_tiny_tasks_spawn_and_join() {
    const TASKS: u64 = 1_000_000;
    const BATCH: u64 = 10_000;
    let rt = Runtime::new().unwrap();
    let t = Instant::now();
    let sum = rt.block_on(async {
        let mut sum = 0u64;
        let mut handles = Vec::with_capacity(BATCH as usize);
        for b in 0..TASKS / BATCH {
            handles.extend((0..BATCH).map(|i| coring::spawn(async move { b * BATCH + i })));
            for h in handles.drain(..) {
                sum += h.await.unwrap();
            }
        }
        sum
    });
    println!("{TASKS} tasks in {:?}", t.elapsed());
    assert_eq!(sum, TASKS * (TASKS - 1) / 2);
    let m = rt.metrics();
    assert_eq!(m.tasks_spawned, TASKS);
    assert!(m.tasks_polled >= TASKS);
}

#[test]
fn tasks_spawn_tasks() {
    let rt = Runtime::new().unwrap();
    // A chain: each task spawns the next and returns its result + 1.
    fn chain(depth: u32) -> JoinHandle<u32> {
        coring::spawn(async move {
            if depth == 0 {
                0
            } else {
                chain(depth - 1).await.unwrap() + 1
            }
        })
    }
    // A tree: 2^depth leaves.
    fn tree(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64>>> {
        Box::pin(async move {
            if depth == 0 {
                return 1;
            }
            let l = coring::spawn(tree(depth - 1));
            let r = coring::spawn(tree(depth - 1));
            l.await.unwrap() + r.await.unwrap()
        })
    }
    rt.block_on(async {
        assert_eq!(chain(500).await.unwrap(), 500);
        assert_eq!(tree(12).await, 4096);
        // Detached grandchildren still run.
        let hits = Rc::new(Cell::new(0));
        let h = hits.clone();
        coring::spawn(async move {
            for _ in 0..10 {
                let h = h.clone();
                drop(coring::spawn(async move {
                    coring::yield_now().await;
                    h.set(h.get() + 1);
                }));
            }
        })
        .await
        .unwrap();
        support::turn_until("the grandchildren ran", || hits.get() == 10).await;
    });
    // chain: 501 spawns; tree(12) awaited directly: 2 + 4 + ... + 4096; 11.
    assert_eq!(rt.metrics().tasks_spawned, 501 + 8190 + 11);
}

#[test]
fn join_handle_can_be_awaited_from_another_task() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let worker = coring::spawn(async move { rx.await.unwrap() * 2 });
        let waiter = coring::spawn(async move { worker.await.unwrap() + 1 });
        coring::yield_now().await;
        tx.send(20).unwrap();
        assert_eq!(waiter.await.unwrap(), 41);
    });
}

// ---------------------------------------------------------------------------
// Tasks and the runtime's life

#[test]
// Hands pending JoinHandles out of block_on on purpose.
#[allow(clippy::async_yields_async)]
fn pending_tasks_resume_in_the_next_block_on() {
    let rt = Runtime::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<&str>();
    let handle = rt.block_on(async {
        let h = coring::spawn(async move { rx.await.unwrap() });
        coring::yield_now().await;
        h
    });
    assert!(!handle.is_finished());
    // Sent with no runtime running on this thread.
    tx.send("resumed").unwrap();
    assert_eq!(rt.block_on(handle).unwrap(), "resumed");
}

#[test]
// Hands pending JoinHandles out of block_on on purpose.
#[allow(clippy::async_yields_async)]
fn runtime_drop_drops_pending_tasks_and_cancels_their_handles() {
    let rt = Runtime::new().unwrap();
    let (dropped, guard) = flag();
    let handle = rt.block_on(async move {
        let h = coring::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        coring::yield_now().await;
        h
    });
    assert!(!dropped.get());
    drop(rt);
    assert!(dropped.get(), "the runtime dropped the task's future");
    assert!(handle.is_finished());
    // The handle still answers, on another runtime.
    let other = Runtime::new().unwrap();
    assert!(other.block_on(handle).unwrap_err().is_cancelled());
}

#[test]
fn runtime_spawn_queues_a_task_for_the_next_block_on() {
    let rt = Runtime::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = rt.spawn(async move {
        coring::io::nop().await.unwrap();
        r.set(true);
        9
    });
    assert!(!ran.get(), "nothing runs outside block_on");
    assert_eq!(rt.block_on(h).unwrap(), 9);
    assert!(ran.get());
}

#[test]
// Hands pending JoinHandles out of block_on on purpose.
#[allow(clippy::async_yields_async)]
fn aborting_a_task_of_another_runtime_leaves_this_runtime_s_tasks_alone() {
    // A task of `a`, pending; its handle is aborted while `b` runs.
    let a = Runtime::new().unwrap();
    let (a_dropped, guard) = flag();
    let a_task = a.block_on(async move {
        let h = coring::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        coring::yield_now().await;
        h
    });
    let b = Runtime::new().unwrap();
    let (b_dropped, guard) = flag();
    let b_task = b.block_on(async move {
        // Same slot index in b's registry as a_task has in a's.
        let h = coring::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        coring::yield_now().await;
        a_task.abort();
        assert!(a_task.await.unwrap_err().is_cancelled());
        h
    });
    assert!(a_dropped.get());
    assert!(!b_dropped.get());
    // b's shutdown must still find its task and drop it.
    drop(b);
    assert!(b_dropped.get(), "b's task was lost from b's registry");
    assert!(b_task.is_finished());
    drop(a);
}

#[test]
fn a_panicking_drop_of_an_aborted_task_is_contained() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop panics");
        }
    }
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let task = coring::spawn(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
        });
        coring::yield_now().await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());

        // The runtime goes on.
        assert_eq!(coring::spawn(async { 8 }).await.unwrap(), 8);
        coring::io::nop().await.unwrap();
    });
}

#[test]
fn a_waker_outliving_its_task_and_runtime_is_harmless() {
    let rt = Runtime::new().unwrap();
    let waker = rt.block_on(async {
        let w = coring::spawn(std::future::poll_fn(|cx| {
            std::task::Poll::Ready(cx.waker().clone())
        }))
        .await
        .unwrap();
        w.wake_by_ref();
        w
    });
    drop(rt);
    // Woken and dropped on another thread after the runtime is gone.
    std::thread::spawn(move || {
        waker.wake_by_ref();
        waker.wake();
    })
    .join()
    .unwrap();
}

#[test]
fn nested_block_on_panics() {
    let rt = Runtime::new().unwrap();
    let inner = Runtime::new().unwrap();
    rt.block_on(async {
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inner.block_on(async {});
        }));
        let msg = res.unwrap_err();
        let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("inside a running runtime"), "{msg}");
        // The outer runtime is still current and works.
        coring::io::nop().await.unwrap();
    });
}

/// The message of a panic payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn free_functions_outside_a_runtime_panic_with_a_clear_message() {
    let checks: [(&str, fn()); 5] = [
        ("spawn", || drop(coring::spawn(async {}))),
        ("nop", || drop(coring::io::nop())),
        ("sleep", || drop(coring::time::sleep(Duration::ZERO))),
        ("metrics", || {
            let _ = coring::metrics();
        }),
        ("interval", || {
            drop(coring::time::interval(Duration::from_secs(1)));
        }),
    ];
    for (name, f) in checks {
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        let text = panic_text(&*p);
        assert!(text.contains("coring runtime"), "{name}: {text:?}");
    }
    assert!(coring::try_current_metrics().is_none());
    // After a runtime ran on this thread, too.
    Runtime::new().unwrap().block_on(async {});
    let p = std::panic::catch_unwind(|| drop(coring::spawn(async {}))).unwrap_err();
    assert!(panic_text(&*p).contains("coring runtime"));
}

// ---------------------------------------------------------------------------
// Remote wakes

#[test]
fn remote_wake_unparks_a_parked_ring() {
    support::with_watchdog(
        "remote wake of a parked ring",
        Duration::from_secs(10),
        || {
            let rt = Runtime::new().unwrap();
            // Settle the runtime's own start-up turns first.
            rt.block_on(coring::yield_now());
            let (tx, rx) = tokio::sync::oneshot::channel();
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                tx.send(7u32).unwrap();
            });
            let before = rt.metrics();
            let t = Instant::now();
            // No op, no timer: the ring waits in the kernel until the wake.
            assert_eq!(rt.block_on(rx).unwrap(), 7);
            let waited = t.elapsed();
            let after = rt.metrics();
            sender.join().unwrap();
            let parks = after.parks - before.parks;
            let enters = after.enters - before.enters;
            println!("remote wake after {waited:?}: {parks} parks, {enters} enters");
            assert!(waited >= Duration::from_millis(45));
            assert!(parks >= 1, "it parked in the kernel");
            assert!(enters <= 10, "no busy loop while parked: {enters} enters");
        },
    );
}

#[test]
fn remote_wake_of_a_spawned_task_unparks_the_ring() {
    support::with_watchdog("remote wake of a task", Duration::from_secs(10), || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            for round in 0..20u32 {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let task = coring::spawn(async move { rx.await.unwrap() + 1 });
                coring::yield_now().await;
                let sender = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(1));
                    tx.send(round).unwrap();
                });
                // The block_on future waits on the task: the wake goes
                // thread → task (remote queue) → task → block_on future.
                assert_eq!(task.await.unwrap(), round + 1);
                sender.join().unwrap();
            }
        });
    });
}

/// A wake sent from inside another runtime goes as a MSG_RING on the
/// sender's ring, submitted with the sender's next enter. When the wake is
/// the last thing the sender's `block_on` does (its final poll, or the drop
/// of its future), there may be no next enter: the sender's runtime is
/// dropped at once (`coring::start`), or stays alive but idle. The parked
/// ring must wake all the same.
#[test]
fn wake_sent_in_another_runtime_s_last_poll_reaches_a_parked_ring() {
    type Sender = fn(tokio::sync::oneshot::Sender<u32>) -> Option<Runtime>;
    let cases: [(&str, Sender, Option<u32>); 3] = [
        (
            "send, then the runtime is dropped",
            |tx| {
                coring::start(async move { tx.send(5).unwrap() }).unwrap();
                None
            },
            Some(5),
        ),
        (
            "send, the runtime stays alive",
            |tx| {
                let rt = Runtime::new().unwrap();
                rt.block_on(async move { tx.send(5).unwrap() });
                Some(rt)
            },
            Some(5),
        ),
        (
            "drop of the block_on future",
            |tx| {
                let rt = Runtime::new().unwrap();
                rt.block_on(async move { drop(tx) });
                Some(rt)
            },
            None,
        ),
    ];
    for (what, send, want) in cases {
        support::with_watchdog(what, Duration::from_secs(10), move || {
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            let (parking_tx, parking_rx) = std::sync::mpsc::channel();
            let parked = std::thread::spawn(move || {
                let rt = Runtime::new().unwrap();
                rt.block_on(async move {
                    parking_tx.send(()).unwrap();
                    rx.await.ok()
                })
            });
            parking_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let sender = send(tx);
            assert_eq!(parked.join().unwrap(), want, "{what}");
            drop(sender);
        });
    }
}
