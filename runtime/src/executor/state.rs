//! The task state word, apart from the rest of the task so that loom can
//! check it (`tests/loom_task.rs`, run with `RUSTFLAGS="--cfg loom"`).
//!
//! Two bits, touched from any thread (rule 1 of `task.rs`):
//!
//! - NOTIFIED: the task is in a run queue, or about to be pushed onto
//!   one. Only a [`notify`](TaskState::notify) that sets it queues the
//!   task, so a task is queued at most once; only
//!   [`start_run`](TaskState::start_run) clears it, before the poll, so a
//!   wake that comes during the poll queues the task again (no wake-up is
//!   lost).
//! - COMPLETE: the future is gone (finished, aborted, or shut down);
//!   wakes are ignored and a queued run returns at once.
//!
//! Orderings: `notify`'s RMW and `start_run`'s are AcqRel, so what a
//! waker published before waking is seen by the poll that follows, also
//! when the wake found NOTIFIED already set and queued nothing.

#[cfg(loom)]
use loom::sync::atomic::{
    AtomicU32,
    Ordering::{AcqRel, Acquire},
};
#[cfg(not(loom))]
use std::sync::atomic::{
    AtomicU32,
    Ordering::{AcqRel, Acquire},
};

// A 32-bit word, not a byte: x86 has `lock bts` for 16/32/64-bit
// operands only, so a byte's fetch_or becomes a compare-exchange loop.
const NOTIFIED: u32 = 1;
const COMPLETE: u32 = 2;

/// The atomic state of one task.
#[derive(Debug)]
pub struct TaskState(AtomicU32);

impl Default for TaskState {
    fn default() -> Self {
        TaskState::new()
    }
}

impl TaskState {
    /// A new task's state: NOTIFIED, as spawning queues it.
    pub fn new() -> TaskState {
        TaskState(AtomicU32::new(NOTIFIED))
    }

    /// A wake: sets NOTIFIED; whether the task must now be queued (it was
    /// neither queued nor complete).
    #[inline]
    pub fn notify(&self) -> bool {
        // COMPLETE first, with a load: the RMW then tests one bit, which
        // x86 does in one `lock bts` instead of a compare-exchange loop.
        // A task that completes in between is queued once more, and its
        // run sees COMPLETE and returns.
        if self.0.load(Acquire) & COMPLETE != 0 {
            return false;
        }
        self.0.fetch_or(NOTIFIED, AcqRel) & NOTIFIED == 0
    }

    /// A queued task is taken off its queue to run: clears NOTIFIED,
    /// before the poll, so a wake during the poll queues the task again.
    /// Whether to poll it (false: it completed while queued).
    #[inline]
    pub fn start_run(&self) -> bool {
        // A queued task always has NOTIFIED set (every push follows a
        // successful `notify`, or the spawn's initial state), so
        // subtracting it clears exactly that bit, in one `lock xadd`
        // instead of a compare-exchange loop.
        let prev = self.0.fetch_sub(NOTIFIED, AcqRel);
        debug_assert!(prev & NOTIFIED != 0, "a queued task without NOTIFIED");
        prev & COMPLETE == 0
    }

    /// The future is gone: later wakes are ignored.
    #[inline]
    pub fn complete(&self) {
        self.0.fetch_or(COMPLETE, AcqRel);
    }

    /// Whether the future is gone.
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.0.load(Acquire) & COMPLETE != 0
    }

    /// Whether the task is queued (or about to be), for the loom model.
    #[cfg(loom)]
    pub fn is_notified(&self) -> bool {
        self.0.load(Acquire) & NOTIFIED != 0
    }
}
