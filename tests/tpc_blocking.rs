//! `spawn_blocking` through the facade: a 10,000-call storm on a pool of 4,
//! panics, idle threads leaving after the keep-alive, and runtime drop with
//! jobs queued.
//!
//! The tests count the process's `coring-blocking` threads, so they run
//! one at a time (the `SERIAL` lock).

mod support;

use coring::Builder;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use support::tpc::{eventually, threads_named};
use support::with_watchdog;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The prefix of the pool's thread names as /proc shows them (comm keeps
/// 15 bytes of `coring-blocking-N`).
const POOL: &str = "coring-blocking";

/// How many jobs run at once, and the most there ever were.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Concurrency {
    fn enter(&self) {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
}

#[test]
fn storm_of_10k_calls_on_a_pool_of_4() {
    let _serial = serial();
    with_watchdog("storm", Duration::from_secs(60), || {
        const CALLS: u64 = 10_000;
        let rt = Builder::new()
            .max_blocking_threads(4)
            .build()
            .expect("runtime");
        let load = Arc::new(Concurrency::default());
        let threads = Arc::new(Mutex::new(HashSet::new()));
        let (sum, ok) = rt.block_on({
            let load = load.clone();
            let threads = threads.clone();
            async move {
                let handles: Vec<_> = (0..CALLS)
                    .map(|i| {
                        let load = load.clone();
                        let threads = threads.clone();
                        coring::spawn_blocking(move || {
                            load.enter();
                            threads.lock().unwrap().insert(std::thread::current().id());
                            if i % 500 == 0 {
                                // Some slow calls, so the pool fills up.
                                std::thread::sleep(Duration::from_millis(2));
                            }
                            load.leave();
                            i * 3 + 1
                        })
                    })
                    .collect();
                let mut sum = 0;
                let mut ok = 0;
                for (i, h) in handles.into_iter().enumerate() {
                    let v = h.await.expect("call");
                    assert_eq!(v, i as u64 * 3 + 1, "call {i}'s own result");
                    sum += v;
                    ok += 1;
                }
                (sum, ok)
            }
        });
        assert_eq!(ok, CALLS);
        assert_eq!(sum, 3 * CALLS * (CALLS - 1) / 2 + CALLS);
        let most = load.most.load(SeqCst);
        assert!(most <= 4, "at most 4 at once, saw {most}");
        assert!(most >= 2, "the pool did run calls side by side: {most}");
        let distinct = threads.lock().unwrap().len();
        assert!(
            (1..=4).contains(&distinct),
            "{distinct} threads ran the calls"
        );
        assert!(threads_named(POOL) <= 4);
        drop(rt);
        assert!(eventually(Duration::from_secs(2), || threads_named(POOL) == 0));
    });
}

#[test]
fn panics_are_reported_as_join_errors() {
    let _serial = serial();
    with_watchdog("panics", Duration::from_secs(20), || {
        let rt = Builder::new()
            .max_blocking_threads(2)
            .build()
            .expect("runtime");
        rt.block_on(async {
            let handles: Vec<_> = (0..100u32)
                .map(|i| {
                    coring::spawn_blocking(move || {
                        if i % 3 == 0 {
                            panic!("blocking call {i} failed");
                        }
                        i
                    })
                })
                .collect();
            for (i, h) in handles.into_iter().enumerate() {
                match h.await {
                    Ok(v) => {
                        assert_ne!(i % 3, 0);
                        assert_eq!(v as usize, i);
                    }
                    Err(e) => {
                        assert_eq!(i % 3, 0, "only the panicking calls fail: {e}");
                        assert!(e.is_panic() && !e.is_cancelled());
                        assert!(e.to_string().contains(&format!("blocking call {i} failed")));
                        let payload = e.try_into_panic().expect("a panic payload");
                        assert!(payload.downcast_ref::<String>().is_some());
                    }
                }
            }
            // The pool's threads survived their panics.
            let again = coring::spawn_blocking(|| 5).await.expect("pool alive");
            assert_eq!(again, 5);
        });
    });
}

#[test]
fn idle_threads_exit_after_keep_alive() {
    let _serial = serial();
    with_watchdog("keep-alive", Duration::from_secs(20), || {
        assert!(eventually(Duration::from_secs(2), || threads_named(POOL) == 0));
        const KEEP_ALIVE: Duration = Duration::from_millis(200);
        let rt = Builder::new()
            .max_blocking_threads(4)
            .blocking_keep_alive(KEEP_ALIVE)
            .build()
            .expect("runtime");
        rt.block_on(async {
            // Four calls that overlap: four threads.
            let barrier = Arc::new(std::sync::Barrier::new(4));
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let b = barrier.clone();
                    coring::spawn_blocking(move || {
                        b.wait();
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("call");
            }
            assert_eq!(threads_named(POOL), 4, "four threads, now idle");
            // Still there within the keep-alive.
            coring::time::sleep(KEEP_ALIVE / 4).await;
            assert_eq!(threads_named(POOL), 4, "idle, not yet gone");
            // Gone after it.
            let t = Instant::now();
            while threads_named(POOL) > 0 {
                assert!(
                    t.elapsed() < KEEP_ALIVE * 10,
                    "idle threads outlived the keep-alive"
                );
                coring::time::sleep(Duration::from_millis(10)).await;
            }
            // A new call starts a thread again.
            let v = coring::spawn_blocking(|| 9).await.expect("call");
            assert_eq!(v, 9);
        });
        drop(rt);
        assert!(eventually(Duration::from_secs(2), || threads_named(POOL) == 0));
    });
}

/// Sum of the sizes of this process's memory mappings, in KiB.
fn vm_size_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize")
}

/// Threads that leave after the keep-alive must not pile up: a runtime
/// whose calls come in bursts further apart than the keep-alive starts a
/// new thread per burst, forever. Each thread that exited without being
/// joined keeps its stack mapped until it is joined.
#[test]
fn threads_that_exit_idle_do_not_pile_up() {
    let _serial = serial();
    with_watchdog("pile-up", Duration::from_secs(30), || {
        const BURSTS: u64 = 40;
        let rt = Builder::new()
            .max_blocking_threads(1)
            .blocking_keep_alive(Duration::from_millis(5))
            .build()
            .expect("runtime");
        rt.block_on(async {
            // Warm up: allocator arenas and the like.
            coring::spawn_blocking(|| ()).await.expect("call");
            coring::time::sleep(Duration::from_millis(50)).await;
            let before = vm_size_kib();
            for i in 0..BURSTS {
                let v = coring::spawn_blocking(move || i).await.expect("call");
                assert_eq!(v, i);
                // Long enough for the thread to exit idle; a slow machine
                // (software emulation) may need longer to see it gone.
                coring::time::sleep(Duration::from_millis(30)).await;
                assert!(
                    eventually(Duration::from_secs(2), || threads_named(POOL) == 0),
                    "burst {i}: the idle thread did not leave"
                );
            }
            let grown = vm_size_kib().saturating_sub(before);
            // One 2 MiB stack per burst would be 80 MiB; allow a few.
            assert!(
                grown < 16 * 1024,
                "{BURSTS} bursts grew the mappings by {grown} KiB: \
                 exited pool threads are never joined until shutdown"
            );
        });
    });
}

#[test]
fn runtime_drop_with_jobs_queued_does_not_hang() {
    let _serial = serial();
    with_watchdog("drop-queued", Duration::from_secs(20), || {
        let rt = Builder::new()
            .max_blocking_threads(1)
            .build()
            .expect("runtime");
        let ran = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (running, queued) = rt.block_on({
            let ran = ran.clone();
            async move {
                let running = coring::spawn_blocking(move || {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(300));
                    "finished"
                });
                // The one thread is busy: these wait in the queue.
                let queued: Vec<_> = (0..50)
                    .map(|_| {
                        let ran = ran.clone();
                        coring::spawn_blocking(move || {
                            ran.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                (running, queued)
            }
        });
        started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the first job runs");
        let t = Instant::now();
        drop(rt);
        let took = t.elapsed();
        assert!(took < Duration::from_secs(2), "drop took {took:?}");
        assert_eq!(ran.load(SeqCst), 0, "queued jobs never ran");
        assert!(running.is_finished());
        assert!(queued.iter().all(|h| h.is_finished()));
        // The drop joined the pool thread; its /proc entry goes when the
        // kernel reaps it, a moment after the join returns (pthread_join
        // wakes at the thread's exit, before the task is released: a 6.1
        // guest in CI saw it still listed).
        assert!(
            eventually(Duration::from_secs(2), || threads_named(POOL) == 0),
            "the pool thread was joined"
        );
        // The handles are awaitable from anywhere: another runtime here.
        coring::start(async move {
            assert_eq!(running.await.expect("the running job finished"), "finished");
            for h in queued {
                assert!(h.await.expect_err("cancelled").is_cancelled());
            }
        })
        .expect("runtime");
    });
}

#[test]
fn spawn_blocking_from_every_core() {
    let _serial = serial();
    with_watchdog("cores", Duration::from_secs(20), || {
        let outs = coring::cores(2)
            .pin(false)
            .builder(Builder::new().max_blocking_threads(2))
            .run(|core| async move {
                let me = std::thread::current().id();
                let mut sum = 0;
                for i in 0..200u64 {
                    let (v, there) =
                        coring::spawn_blocking(move || (i, std::thread::current().id()))
                            .await
                            .expect("call");
                    assert_ne!(there, me, "ran off the core's thread");
                    sum += v;
                }
                sum + core.index() as u64
            })
            .expect("launch");
        assert_eq!(outs, vec![19_900, 19_901]);
    });
}

#[test]
fn blocking_handle_is_send() {
    // The result may be awaited on another thread or runtime.
    fn send<T: Send>() {}
    send::<coring::BlockingHandle<Vec<u8>>>();
}

/// Two calls sent back to back while one pool thread idles: the pool may
/// run 4, so both must run at once. Here the first waits for the second;
/// if the second sits in the queue behind it, the first times out.
#[test]
fn calls_sent_together_run_together_when_threads_are_free() {
    let _serial = serial();
    with_watchdog("idle-notify", Duration::from_secs(20), || {
        let rt = Builder::new()
            .max_blocking_threads(4)
            .build()
            .expect("runtime");
        rt.block_on(async {
            for round in 0..20 {
                // One thread, idle now.
                coring::spawn_blocking(|| ()).await.expect("warm-up");
                let (tx, rx) = mpsc::channel::<()>();
                let waits = coring::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(2)));
                let signals = coring::spawn_blocking(move || tx.send(()));
                let t = Instant::now();
                let got = waits.await.expect("call");
                assert!(
                    got.is_ok(),
                    "round {round}: the second call waited in the queue behind the first \
                     ({:?}) although the pool had room for it",
                    t.elapsed()
                );
                signals.await.expect("call").expect("the waiter is there");
            }
        });
    });
}
