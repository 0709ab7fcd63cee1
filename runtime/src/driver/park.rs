//! The park/unpark handshake of one ring, apart from everything else so
//! that loom can check it (`tests/loom_park.rs`, run with
//! `RUSTFLAGS="--cfg loom"`).
//!
//! Rules (no lost wake-up):
//!
//! 1. A waker first publishes its work (`publish_remote` or `publish_main`,
//!    after queueing under the queue's lock), then calls `take_parked`:
//!    if that returns true, the ring was (about to be) parked and the
//!    waker must signal it (MSG_RING or eventfd).
//! 2. The ring calls `try_park` before it waits: it sets `parked`, then
//!    checks for published work; with work, it clears `parked` and does
//!    not wait. After the wait it calls `unparked`.
//! 3. Each side puts a SeqCst fence between its store and its load, so of
//!    "waker publishes, then reads parked" and "ring sets parked, then
//!    reads published work", at least one side sees the other's store.
//!    (SeqCst accesses alone would do in the C++ model, but loom checks
//!    them as AcqRel; the fences make the argument hold under both.)

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicBool, Ordering::SeqCst};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicBool, Ordering::SeqCst};

/// The flags of the handshake.
#[derive(Debug)]
pub struct ParkState {
    parked: AtomicBool,
    main_woken: AtomicBool,
    has_remote: AtomicBool,
}

impl Default for ParkState {
    fn default() -> Self {
        ParkState::new()
    }
}

impl ParkState {
    /// Nothing published, not parked.
    pub fn new() -> Self {
        ParkState {
            parked: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            has_remote: AtomicBool::new(false),
        }
    }

    /// Rule 1: remote tasks or jobs were queued.
    #[inline]
    pub fn publish_remote(&self) {
        self.has_remote.store(true, SeqCst);
    }

    /// Rule 1: the `block_on` future was woken.
    #[inline]
    pub fn publish_main(&self) {
        self.main_woken.store(true, SeqCst);
    }

    /// Rule 1: whether the caller must signal the ring.
    #[inline]
    pub fn take_parked(&self) -> bool {
        fence(SeqCst);
        self.parked.load(SeqCst) && self.parked.swap(false, SeqCst)
    }

    /// Whether remote work is published (the ring's cheap check).
    #[inline]
    pub fn has_remote(&self) -> bool {
        self.has_remote.load(SeqCst)
    }

    /// The ring took the remote queue (call under the queue's lock).
    #[inline]
    pub fn clear_remote(&self) {
        self.has_remote.store(false, SeqCst);
    }

    /// Whether a `block_on` wake-up is published.
    #[inline]
    pub fn has_main(&self) -> bool {
        self.main_woken.load(SeqCst)
    }

    /// Takes the `block_on` wake-up, if any.
    #[inline]
    pub fn take_main(&self) -> bool {
        self.main_woken.load(SeqCst) && self.main_woken.swap(false, SeqCst)
    }

    /// Rule 2: whether the ring may wait.
    #[inline]
    pub fn try_park(&self) -> bool {
        self.parked.store(true, SeqCst);
        fence(SeqCst);
        if self.has_remote.load(SeqCst) || self.main_woken.load(SeqCst) {
            self.parked.store(false, SeqCst);
            return false;
        }
        true
    }

    /// Rule 2: back from the wait.
    #[inline]
    pub fn unparked(&self) {
        self.parked.store(false, SeqCst);
    }
}
