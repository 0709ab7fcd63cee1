//! coring's cross-core channel (`coring::channel::bounded`): order and
//! exactly-once delivery across cores, both waits (empty, full), closing
//! from either side, and no leaked or doubly dropped messages.

mod support;

use coring::channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::with_watchdog;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `a` on core 0 and `b` on core 1 (unpinned), returns both outputs.
fn on_two_cores<A, B, FA, FB>(a: A, b: B) -> (FA::Output, FB::Output)
where
    A: FnOnce() -> FA + Send + 'static,
    B: FnOnce() -> FB + Send + 'static,
    FA: std::future::Future + 'static,
    FB: std::future::Future + 'static,
    FA::Output: Send + 'static,
    FB::Output: Send + 'static,
{
    enum Out<X, Y> {
        A(X),
        B(Y),
    }
    let a = Mutex::new(Some(a));
    let b = Mutex::new(Some(b));
    let outs = coring::cores(2)
        .pin(false)
        .run(move |core| {
            let fa = (core.index() == 0).then(|| (a.lock().unwrap().take().unwrap())());
            let fb = (core.index() == 1).then(|| (b.lock().unwrap().take().unwrap())());
            async move {
                match (fa, fb) {
                    (Some(fa), _) => Out::A(fa.await),
                    (_, Some(fb)) => Out::B(fb.await),
                    _ => unreachable!("two cores"),
                }
            }
        })
        .expect("two cores run");
    let mut it = outs.into_iter();
    match (it.next(), it.next()) {
        (Some(Out::A(x)), Some(Out::B(y))) => (x, y),
        _ => panic!("core 0 ran a, core 1 ran b"),
    }
}

#[test]
fn a_million_messages_cross_in_order() {
    with_watchdog("a million messages", LIMIT, || {
        const N: u64 = 1_000_000;
        // A small channel, so the sender waits for room often too.
        let (mut tx, mut rx) = bounded::<u64>(64);
        let (sent, (count, in_order)) = on_two_cores(
            move || async move {
                for i in 0..N {
                    tx.send(i).await.expect("receiver alive");
                }
                N
            },
            move || async move {
                let (mut count, mut in_order) = (0u64, true);
                while let Some(v) = rx.recv().await {
                    in_order &= v == count;
                    count += 1;
                }
                (count, in_order)
            },
        );
        assert_eq!(sent, N);
        assert_eq!(count, N, "every message arrives once");
        assert!(in_order, "messages arrive in the order sent");
    });
}

#[test]
fn ping_pong_between_two_cores() {
    with_watchdog("ping-pong", LIMIT, || {
        const N: u32 = 100_000;
        let (mut ping_tx, mut ping_rx) = bounded::<u32>(1);
        let (mut pong_tx, mut pong_rx) = bounded::<u32>(1);
        let (last, echoed) = on_two_cores(
            move || async move {
                let mut last = 0;
                for i in 0..N {
                    ping_tx.send(i).await.expect("echo alive");
                    last = pong_rx.recv().await.expect("echo alive");
                    assert_eq!(last, i + 1);
                }
                last
            },
            move || async move {
                let mut echoed = 0;
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v + 1).await.expect("pinger alive");
                    echoed += 1;
                }
                echoed
            },
        );
        assert_eq!((last, echoed), (N, N));
    });
}

#[test]
fn try_send_and_try_recv_report_full_empty_and_closed() {
    let (mut tx, mut rx) = bounded::<String>(3);
    assert_eq!(tx.capacity(), 4, "rounded up to a power of two");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    for i in 0..4 {
        tx.try_send(i.to_string()).expect("room");
    }
    match tx.try_send("x".into()) {
        Err(TrySendError::Full(v)) => assert_eq!(v, "x", "the message comes back"),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(rx.len(), 4);
    assert_eq!(rx.try_recv().as_deref(), Ok("0"));
    tx.try_send("4".into()).expect("room again");
    drop(tx);
    let rest: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(
        rest,
        ["1", "2", "3", "4"],
        "queued messages survive the sender"
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (mut tx, rx) = bounded::<u8>(2);
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    match tx.try_send(9) {
        Err(TrySendError::Closed(9)) => {}
        other => panic!("expected Closed(9), got {other:?}"),
    }
}

#[test]
fn closing_either_side_wakes_the_other() {
    with_watchdog("close wakes", LIMIT, || {
        // A receiver waiting on an empty channel gets None when the
        // sender goes, on another core.
        let (tx, mut rx) = bounded::<u8>(4);
        let (_, got) = on_two_cores(
            move || async move {
                coring::time::sleep(Duration::from_millis(20)).await;
                drop(tx);
            },
            move || async move { rx.recv().await },
        );
        assert_eq!(got, None);

        // A sender waiting on a full channel gets its message back when
        // the receiver goes.
        let (mut tx, rx) = bounded::<u8>(1);
        tx.try_send(1).expect("room");
        let (res, ()) = on_two_cores(
            move || async move { tx.send(2).await.map_err(|e| e.0) },
            move || async move {
                coring::time::sleep(Duration::from_millis(20)).await;
                drop(rx);
            },
        );
        assert_eq!(res, Err(2));
    });
}

/// Counts live instances, to check every message is dropped exactly once.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, SeqCst);
        Counted(live.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[test]
fn unreceived_messages_are_dropped_once() {
    let live = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx): (Sender<Counted>, Receiver<Counted>) = bounded(8);
    for _ in 0..8 {
        assert!(tx.try_send(Counted::new(&live)).is_ok());
    }
    // A full channel hands the message back instead of dropping it.
    let back = match tx.try_send(Counted::new(&live)) {
        Err(TrySendError::Full(v)) => v,
        _ => panic!("expected Full"),
    };
    assert_eq!(live.load(SeqCst), 9);
    drop(back);
    drop(rx.try_recv().expect("one queued"));
    assert_eq!(live.load(SeqCst), 7);
    // Wrap the ring around, then drop both ends with 7 queued.
    for _ in 0..5 {
        drop(rx.try_recv().expect("queued"));
        assert!(tx.try_send(Counted::new(&live)).is_ok());
    }
    assert_eq!(live.load(SeqCst), 7);
    drop(rx);
    assert_eq!(live.load(SeqCst), 7, "the sender still holds the channel");
    drop(tx);
    assert_eq!(
        live.load(SeqCst),
        0,
        "queued messages dropped with the channel"
    );
}

#[test]
fn works_between_a_tokio_thread_and_a_coring_core() {
    with_watchdog("tokio to coring", LIMIT, || {
        const N: u64 = 100_000;
        let (mut tx, mut rx) = bounded::<u64>(16);
        let sender = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("tokio runtime")
                .block_on(async move {
                    for i in 0..N {
                        tx.send(i).await.expect("receiver alive");
                    }
                })
        });
        let sum = coring::start(async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        })
        .expect("coring runtime");
        sender.join().expect("tokio thread");
        assert_eq!(sum, N * (N - 1) / 2);
    });
}

#[test]
#[should_panic(expected = "capacity must be in 1..=")]
fn zero_capacity_is_refused() {
    let _ = bounded::<u8>(0);
}
