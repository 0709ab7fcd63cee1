//! Loom model of the cross-core channel (`channel.rs`): whatever the
//! interleaving, a side that waits for room or for a message is woken, no
//! message is lost or seen twice, and closing wakes the other side.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p coring-runtime --test loom_channel --release`
#![cfg(loom)]

use coring_runtime::channel::{bounded, TryRecvError};
use loom::future::block_on;
use loom::thread;

/// Every interleaving with up to `LOOM_MAX_PREEMPTIONS` (default 4)
/// preemptions: unbounded, the channel's mutexes and fences make the
/// model too big to finish.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(4);
    }
    b.check(f);
}

/// Capacity 1, two messages: the sender must wait for room once, the
/// receiver for a message at least once; both waits need a wake.
#[test]
fn every_message_arrives_once_in_order() {
    model(|| {
        let (mut tx, mut rx) = bounded::<u32>(1);
        let sender = thread::spawn(move || {
            block_on(async {
                tx.send(1).await.expect("receiver alive");
                tx.send(2).await.expect("receiver alive");
            });
        });
        let got = block_on(async {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
            }
            got
        });
        sender.join().unwrap();
        assert_eq!(got, vec![1, 2]);
    });
}

/// A receiver that goes away wakes a sender waiting for room, which gets
/// its message back.
#[test]
fn dropped_receiver_wakes_a_full_sender() {
    model(|| {
        let (mut tx, rx) = bounded::<u32>(1);
        tx.try_send(1).expect("room for one");
        let receiver = thread::spawn(move || drop(rx));
        let r = block_on(tx.send(2));
        receiver.join().unwrap();
        assert_eq!(r.map_err(|e| e.0), Err(2));
    });
}

/// Messages sent before the sender went away are all received, then
/// `Closed`.
#[test]
fn dropped_sender_flushes_then_closes() {
    model(|| {
        let (mut tx, mut rx) = bounded::<u32>(2);
        let sender = thread::spawn(move || {
            tx.try_send(7).expect("room");
            drop(tx);
        });
        let first = block_on(rx.recv());
        sender.join().unwrap();
        assert_eq!(first, Some(7));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}
