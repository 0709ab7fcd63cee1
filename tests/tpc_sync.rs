//! Runtime-agnostic sync primitives on coring, within one core and across
//! cores: tokio::sync (mpsc, oneshot, Mutex, Notify, Semaphore) and
//! async-channel. coring has no channels or locks of its own: these work
//! because their wakers are plain `Waker`s, which coring turns into local
//! queue pushes or cross-core wakes (MSG_RING) as needed.

mod support;

use coring::{cores, yield_now};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::with_watchdog;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

/// Hands each core the value prepared for it before the launch.
struct PerCore<T>(Vec<Mutex<Option<T>>>);

impl<T> PerCore<T> {
    fn new(items: Vec<T>) -> Arc<Self> {
        Arc::new(PerCore(
            items.into_iter().map(|v| Mutex::new(Some(v))).collect(),
        ))
    }

    fn take(&self, core: usize) -> T {
        self.0[core]
            .lock()
            .unwrap()
            .take()
            .expect("taken once per core")
    }
}

/// Tracks how many hold something at once, and the most that ever did.
#[derive(Default)]
struct Holders {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Holders {
    fn enter(&self) {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
}

/// Runs the future `make` builds on one runtime, under a watchdog.
fn on_one_core<M, F>(what: &str, make: M) -> F::Output
where
    M: FnOnce() -> F + Send + 'static,
    F: std::future::Future,
    F::Output: Send + 'static,
{
    with_watchdog(what, Duration::from_secs(20), move || {
        coring::start(make()).expect("runtime")
    })
}

// ---------------------------------------------------------------------------
// Within one core

#[test]
fn mpsc_bounded_within_one_core_keeps_each_senders_order() {
    on_one_core("mpsc-local", || async {
        let (tx, mut rx) = mpsc::channel::<(usize, u32)>(4);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = tx.clone();
                coring::spawn(async move {
                    for i in 0..1_000 {
                        // Capacity 4: senders wait for the consumer.
                        tx.send((p, i)).await.expect("receiver alive");
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u32; 4];
        let mut total = 0;
        while let Some((p, i)) = rx.recv().await {
            assert_eq!(i, next[p], "producer {p} out of order");
            next[p] += 1;
            total += 1;
        }
        for p in producers {
            p.await.expect("producer");
        }
        assert_eq!(next, [1_000; 4]);
        assert_eq!(total, 4_000);
    });
}

#[test]
fn oneshot_within_one_core() {
    on_one_core("oneshot-local", || async {
        let (tx, rx) = oneshot::channel();
        let task = coring::spawn(async move {
            coring::io::nop().await.expect("nop");
            tx.send(42u32).expect("receiver alive");
        });
        assert_eq!(rx.await, Ok(42));
        task.await.expect("task");
        // A sender dropped unsent closes the channel.
        let (tx, rx) = oneshot::channel::<u32>();
        coring::spawn(async move {
            coring::time::sleep(Duration::from_millis(5)).await;
            drop(tx);
        })
        .await
        .expect("task");
        assert!(rx.await.is_err());
    });
}

#[test]
fn mutex_within_one_core_is_exclusive_across_awaits() {
    on_one_core("mutex-local", || async {
        let m = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let inside = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let (m, inside) = (m.clone(), inside.clone());
                coring::spawn(async move {
                    for i in 0..50 {
                        let mut g = m.lock().await;
                        assert!(!inside.swap(true, SeqCst), "two holders at once");
                        // Held across a real op and a yield.
                        coring::io::nop().await.expect("nop");
                        yield_now().await;
                        g.push((t, i));
                        inside.store(false, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let v = m.lock().await;
        assert_eq!(v.len(), 400);
        for t in 0..8 {
            let mine: Vec<_> = v.iter().filter(|(o, _)| *o == t).map(|(_, i)| *i).collect();
            assert_eq!(
                mine,
                (0..50).collect::<Vec<_>>(),
                "task {t}'s entries in order"
            );
        }
    });
}

#[test]
fn notify_within_one_core() {
    on_one_core("notify-local", || async {
        let n = Arc::new(Notify::new());
        // A stored permit: notify before anyone waits.
        n.notify_one();
        n.notified().await;
        // notify_waiters wakes every waiter registered at that moment.
        let woken = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let (n, woken) = (n.clone(), woken.clone());
                coring::spawn(async move {
                    n.notified().await;
                    woken.fetch_add(1, SeqCst);
                })
            })
            .collect();
        // Let them all register.
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(woken.load(SeqCst), 0, "nobody woken yet");
        n.notify_waiters();
        for w in waiters {
            w.await.expect("waiter");
        }
        assert_eq!(woken.load(SeqCst), 5);
        // notify_one wakes exactly one.
        let a = coring::spawn({
            let n = n.clone();
            async move { n.notified().await }
        });
        let b = coring::spawn({
            let n = n.clone();
            async move { n.notified().await }
        });
        yield_now().await;
        n.notify_one();
        coring::time::sleep(Duration::from_millis(10)).await;
        assert!(a.is_finished() != b.is_finished(), "exactly one woke");
        n.notify_one();
        a.await.expect("a");
        b.await.expect("b");
    });
}

#[test]
fn semaphore_within_one_core_bounds_holders() {
    on_one_core("semaphore-local", || async {
        let sem = Arc::new(Semaphore::new(3));
        let holders = Arc::new(Holders::default());
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (sem, holders) = (sem.clone(), holders.clone());
                coring::spawn(async move {
                    let _permit = sem.acquire().await.expect("open");
                    holders.enter();
                    coring::io::nop().await.expect("nop");
                    yield_now().await;
                    holders.leave();
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(
            holders.most.load(SeqCst),
            3,
            "three holders at most, and at once"
        );
        assert_eq!(sem.available_permits(), 3);
        sem.close();
        assert!(sem.acquire().await.is_err());
    });
}

#[test]
fn async_channel_mpmc_within_one_core() {
    on_one_core("async-channel-local", || async {
        let (tx, rx) = async_channel::bounded::<u32>(2);
        let producers: Vec<_> = (0..3u32)
            .map(|p| {
                let tx = tx.clone();
                coring::spawn(async move {
                    for i in 0..500 {
                        tx.send(p * 1_000 + i).await.expect("open");
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                coring::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        drop(rx);
        for p in producers {
            p.await.expect("producer");
        }
        let mut all = Vec::new();
        for c in consumers {
            let got = c.await.expect("consumer");
            // Each consumer sees each producer's items in order.
            for p in 0..3 {
                let mine: Vec<_> = got.iter().filter(|v| *v / 1_000 == p).collect();
                assert!(
                    mine.windows(2).all(|w| w[0] < w[1]),
                    "producer {p} out of order"
                );
            }
            all.extend(got);
        }
        all.sort_unstable();
        let expected: Vec<u32> = (0..3)
            .flat_map(|p| (0..500).map(move |i| p * 1_000 + i))
            .collect();
        assert_eq!(all, expected, "every item once");
    });
}

// ---------------------------------------------------------------------------
// Across cores

#[test]
fn mpsc_bounded_across_cores_in_order() {
    const N: u32 = 20_000;
    let chans = {
        let (tx, rx) = mpsc::channel::<u32>(8);
        PerCore::new(vec![(Some(tx), None), (None, Some(rx))])
    };
    let outs = with_watchdog("mpsc-cross", Duration::from_secs(30), move || {
        cores(2)
            .run(move |core| {
                let (tx, rx) = chans.take(core.index());
                async move {
                    if let Some(tx) = tx {
                        for i in 0..N {
                            tx.send(i).await.expect("receiver alive");
                        }
                        N
                    } else {
                        let mut rx = rx.expect("core 1 receives");
                        let mut next = 0;
                        while let Some(i) = rx.recv().await {
                            assert_eq!(i, next, "lost, repeated or reordered");
                            next += 1;
                        }
                        next
                    }
                }
            })
            .expect("launch")
    });
    assert_eq!(outs, vec![N, N]);
}

#[test]
fn oneshot_across_cores_both_ways() {
    let outs = with_watchdog("oneshot-cross", Duration::from_secs(20), || {
        cores(2)
            .run(|core| async move {
                let peer = core.spawner(1 - core.index());
                let mut sum = 0;
                for i in 0..1_000u64 {
                    // The peer answers through a oneshot made here.
                    let (tx, rx) = oneshot::channel();
                    drop(peer.spawn_with(move || async move {
                        coring::io::nop().await.expect("nop");
                        tx.send(i * 2).expect("receiver alive");
                    }));
                    sum += rx.await.expect("answer");
                }
                sum
            })
            .expect("launch")
    });
    assert_eq!(outs, vec![999_000, 999_000]);
}

#[test]
fn mutex_across_cores_is_exclusive() {
    let m = Arc::new(tokio::sync::Mutex::new(Vec::<(usize, u32)>::new()));
    let inside = Arc::new(AtomicBool::new(false));
    let m2 = m.clone();
    with_watchdog("mutex-cross", Duration::from_secs(30), move || {
        cores(4)
            .pin(false)
            .run(move |core| {
                let (m, inside) = (m2.clone(), inside.clone());
                async move {
                    for i in 0..300 {
                        let mut g = m.lock().await;
                        assert!(!inside.swap(true, SeqCst), "two cores inside");
                        coring::io::nop().await.expect("nop");
                        g.push((core.index(), i));
                        inside.store(false, SeqCst);
                    }
                }
            })
            .expect("launch");
    });
    let v = m.try_lock().expect("free after the run");
    assert_eq!(v.len(), 1_200);
    for c in 0..4 {
        let mine: Vec<u32> = v.iter().filter(|(o, _)| *o == c).map(|(_, i)| *i).collect();
        assert_eq!(
            mine,
            (0..300).collect::<Vec<_>>(),
            "core {c}'s entries in order"
        );
    }
}

#[test]
fn notify_ping_pong_across_cores() {
    const ROUNDS: usize = 5_000;
    let (ping, pong) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let outs = with_watchdog("notify-cross", Duration::from_secs(30), move || {
        cores(2)
            .run(move |core| {
                let (ping, pong, count) = (ping.clone(), pong.clone(), c2.clone());
                async move {
                    for r in 0..ROUNDS {
                        if core.index() == 0 {
                            assert_eq!(count.fetch_add(1, SeqCst), 2 * r, "turns alternate");
                            ping.notify_one();
                            pong.notified().await;
                        } else {
                            ping.notified().await;
                            assert_eq!(count.fetch_add(1, SeqCst), 2 * r + 1, "turns alternate");
                            pong.notify_one();
                        }
                    }
                    core.index()
                }
            })
            .expect("launch")
    });
    assert_eq!(outs, vec![0, 1]);
    assert_eq!(count.load(SeqCst), 2 * ROUNDS);
}

#[test]
fn semaphore_across_cores_bounds_holders() {
    let sem = Arc::new(Semaphore::new(2));
    let holders = Arc::new(Holders::default());
    let (s2, h2) = (sem.clone(), holders.clone());
    let outs = with_watchdog("semaphore-cross", Duration::from_secs(30), move || {
        cores(4)
            .pin(false)
            .run(move |_core| {
                let (sem, holders) = (s2.clone(), h2.clone());
                async move {
                    let mut held = 0;
                    for _ in 0..500 {
                        let permit = sem.acquire().await.expect("open");
                        holders.enter();
                        coring::io::nop().await.expect("nop");
                        holders.leave();
                        drop(permit);
                        held += 1;
                    }
                    held
                }
            })
            .expect("launch")
    });
    assert_eq!(outs, vec![500; 4]);
    let most = holders.most.load(SeqCst);
    assert!((1..=2).contains(&most), "two holders at most: {most}");
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn async_channel_mpmc_across_cores() {
    const PER_CORE: u32 = 5_000;
    const CORES: usize = 4;
    let (tx, rx) = async_channel::bounded::<u32>(16);
    let ends = PerCore::new((0..CORES).map(|_| (tx.clone(), rx.clone())).collect());
    drop((tx, rx));
    let outs = with_watchdog("async-channel-cross", Duration::from_secs(30), move || {
        cores(CORES)
            .pin(false)
            .run(move |core| {
                let (tx, rx) = ends.take(core.index());
                let me = core.index() as u32;
                async move {
                    // Every core produces and consumes at once.
                    let producer = coring::spawn(async move {
                        for i in 0..PER_CORE {
                            tx.send(me * 1_000_000 + i).await.expect("open");
                        }
                    });
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    producer.await.expect("producer");
                    got
                }
            })
            .expect("launch")
    });
    let mut all = Vec::new();
    for got in &outs {
        for p in 0..CORES as u32 {
            let mine: Vec<_> = got.iter().filter(|v| **v / 1_000_000 == p).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "core {p}'s items out of order"
            );
        }
        all.extend_from_slice(got);
    }
    all.sort_unstable();
    let expected: Vec<u32> = (0..CORES as u32)
        .flat_map(|p| (0..PER_CORE).map(move |i| p * 1_000_000 + i))
        .collect();
    assert_eq!(all.len(), expected.len());
    assert!(all == expected, "every item exactly once");
}
