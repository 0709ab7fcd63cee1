//! Loom model of the park/unpark handshake (`driver/park.rs`): whatever
//! the interleaving of a ring going to sleep and wakers on other threads,
//! a ring that parks with work published is always signalled.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p coring-runtime --test loom_park --release`
#![cfg(loom)]

use coring_runtime::__loom_park::ParkState;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// A remote waker: queue under the lock, publish, signal if parked.
fn remote_wake(st: &ParkState, queue: &Mutex<Vec<u32>>, signals: &AtomicUsize, item: u32) {
    {
        let mut q = queue.lock().unwrap();
        q.push(item);
        st.publish_remote();
    }
    if st.take_parked() {
        signals.fetch_add(1, SeqCst);
    }
}

#[test]
fn remote_wake_is_never_lost() {
    loom::model(|| {
        let st = Arc::new(ParkState::new());
        let queue = Arc::new(Mutex::new(Vec::new()));
        let signals = Arc::new(AtomicUsize::new(0));
        let waker = {
            let (st, queue, signals) = (st.clone(), queue.clone(), signals.clone());
            thread::spawn(move || remote_wake(&st, &queue, &signals, 1))
        };
        // The ring checks `parked`-then-work; if it parked, the work it
        // did not see must have come with a signal.
        let parked = st.try_park();
        let saw_work_before_sleeping = !parked;
        waker.join().unwrap();
        if parked {
            let queued = !queue.lock().unwrap().is_empty();
            assert!(
                !queued || signals.load(SeqCst) > 0,
                "lost wake-up: ring parked with a task queued and no signal"
            );
            st.unparked();
        } else {
            assert!(saw_work_before_sleeping);
        }
    });
}

#[test]
fn main_wake_is_never_lost() {
    loom::model(|| {
        let st = Arc::new(ParkState::new());
        let signals = Arc::new(AtomicUsize::new(0));
        let waker = {
            let (st, signals) = (st.clone(), signals.clone());
            thread::spawn(move || {
                st.publish_main();
                if st.take_parked() {
                    signals.fetch_add(1, SeqCst);
                }
            })
        };
        let parked = st.try_park();
        waker.join().unwrap();
        if parked {
            // Parked: the wake must have been signalled, or it came after
            // the ring's check (and then it is still published, to be
            // seen next turn).
            assert!(signals.load(SeqCst) > 0 || st.take_main());
            st.unparked();
        } else {
            assert!(st.take_main(), "the ring saw the wake");
        }
    });
}

#[test]
fn two_wakers_and_a_draining_ring() {
    // Three threads: bound preemptions to keep the search to seconds.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let st = Arc::new(ParkState::new());
        let queue = Arc::new(Mutex::new(Vec::new()));
        let signals = Arc::new(AtomicUsize::new(0));
        let wakers: Vec<_> = (0..2)
            .map(|i| {
                let (st, queue, signals) = (st.clone(), queue.clone(), signals.clone());
                thread::spawn(move || remote_wake(&st, &queue, &signals, i))
            })
            .collect();
        // The ring: drain what is there (clearing the flag under the lock),
        // then try to park.
        let mut taken = Vec::new();
        if st.has_remote() {
            let mut q = queue.lock().unwrap();
            st.clear_remote();
            taken.append(&mut q);
        }
        // Parked, the ring sleeps until signalled: it stays parked while
        // the wakers run.
        let parked = st.try_park();
        for w in wakers {
            w.join().unwrap();
        }
        let left = queue.lock().unwrap().len();
        if parked && left > 0 {
            assert!(signals.load(SeqCst) > 0, "lost wake-up with {left} queued");
        }
        if parked {
            st.unparked();
        }
        assert_eq!(taken.len() + left, 2, "every item is taken or queued");
    });
}
