//! One task: its future or output, its state, and its waker.
//!
//! State protocol:
//!
//! 1. `state` (atomic, any thread) has two bits. NOTIFIED: the task is in
//!    a run queue (local or remote) or about to be; a wake that finds it
//!    set does nothing, so a task is queued at most once. COMPLETE: the
//!    future is gone; wakes are ignored.
//! 2. Everything else (`flags`, `key`, `stage`, `join_waker`) is touched
//!    only on the runtime's thread: by `run`, by the `JoinHandle` (which
//!    is `!Send`), and by shutdown. That is why `Task` may be `Send + Sync`
//!    although its future is not.
//! 3. RUNNING is set while the future is polled. A `JoinHandle` used from
//!    inside its own task sees it and leaves `stage` alone (an abort is
//!    then carried out when the poll returns).
//! 4. The future and the output are dropped on the runtime's thread: when
//!    the task finishes, when its JoinHandle takes or drops the output,
//!    or at shutdown. A waker that outlives all that (and is dropped on
//!    another thread) frees only an empty `Stage::Consumed`.

use super::{JoinError, Runnable};
use crate::context;
use crate::driver::unpark::Shared;
use crate::runtime::Core;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering::AcqRel};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

const NOTIFIED: u8 = 1;
const COMPLETE: u8 = 2;

/// `flags` bits (owner thread only).
const RUNNING: u8 = 1;
const ABORT: u8 = 2;
const JOIN_INTEREST: u8 = 4;

pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

pub(crate) struct Task<F: Future> {
    state: AtomicU8,
    shared: Arc<Shared>,
    flags: Cell<u8>,
    key: Cell<usize>,
    stage: UnsafeCell<Stage<F>>,
    join_waker: Cell<Option<Waker>>,
}

// SAFETY: rule 2 above: only `state` (atomic) and `shared` (Send + Sync)
// are touched off the runtime's thread; rule 4: the future and output are
// dropped on it, so dropping the last Arc elsewhere drops no `F` value.
unsafe impl<F: Future> Send for Task<F> {}
// SAFETY: as for Send.
unsafe impl<F: Future> Sync for Task<F> {}

impl<F: Future + 'static> Task<F> {
    pub(crate) fn new(future: F, shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Task {
            state: AtomicU8::new(NOTIFIED),
            shared,
            flags: Cell::new(JOIN_INTEREST),
            key: Cell::new(usize::MAX),
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: Cell::new(None),
        })
    }

    pub(crate) fn set_key(&self, key: usize) {
        self.key.set(key);
    }

    fn set_flag(&self, f: u8, on: bool) {
        let v = self.flags.get();
        self.flags.set(if on { v | f } else { v & !f });
    }

    fn has_flag(&self, f: u8) -> bool {
        self.flags.get() & f != 0
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state.load(std::sync::atomic::Ordering::Acquire) & COMPLETE != 0
    }

    pub(crate) fn is_running(&self) -> bool {
        self.has_flag(RUNNING)
    }

    /// Rule 1: queue the task unless it is queued or finished.
    #[inline]
    fn wake_arc(self: Arc<Self>) {
        if self.state.fetch_or(NOTIFIED, AcqRel) & (NOTIFIED | COMPLETE) != 0 {
            return;
        }
        context::schedule(self);
    }

    #[inline]
    fn wake_ref(self: &Arc<Self>) {
        if self.state.fetch_or(NOTIFIED, AcqRel) & (NOTIFIED | COMPLETE) != 0 {
            return;
        }
        context::schedule(self.clone());
    }

    /// Stores the outcome, wakes the joiner, leaves the registry.
    /// Owner thread, `stage` not borrowed.
    fn finish(&self, out: Result<F::Output, JoinError>, core: Option<&Core>) {
        // SAFETY: rule 2 and 3: owner thread, not inside the future's poll,
        // so nothing else borrows `stage`. Assigning drops the old stage
        // (the future) in place, as Pin requires.
        let stage = unsafe { &mut *self.stage.get() };
        // RUNNING keeps a JoinHandle used from the future's own drop away
        // from `stage` (rule 3). A panicking drop is caught and ignored.
        self.set_flag(RUNNING, true);
        let _ = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
        self.set_flag(RUNNING, false);
        if self.has_flag(JOIN_INTEREST) {
            *stage = Stage::Finished(out);
        } else {
            drop(out);
        }
        self.state.fetch_or(COMPLETE, AcqRel);
        match core {
            Some(core) => core.executor.remove(self.key.get()),
            // An abort from outside `run`: leave the registry of our own
            // runtime only (a JoinHandle may outlive its runtime, or be used
            // while another runtime is entered). Otherwise the entry goes at
            // that runtime's shutdown.
            None => {
                context::try_with_core(|core| {
                    if Arc::ptr_eq(&core.shared, &self.shared) {
                        core.executor.remove(self.key.get());
                    }
                });
            }
        }
        if let Some(w) = self.join_waker.take() {
            w.wake();
        }
    }

    /// JoinHandle side (owner thread).
    pub(crate) fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        if !self.is_running() && self.is_complete() {
            // SAFETY: rule 2 and 3: owner thread, the future is not being
            // polled, so `stage` is not borrowed.
            let stage = unsafe { &mut *self.stage.get() };
            return match std::mem::replace(stage, Stage::Consumed) {
                Stage::Finished(out) => Poll::Ready(out),
                _ => panic!("coring: JoinHandle polled after it returned"),
            };
        }
        let mut w = self.join_waker.take();
        match &mut w {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => w = Some(cx.waker().clone()),
        }
        self.join_waker.set(w);
        Poll::Pending
    }

    /// JoinHandle::abort (owner thread).
    pub(crate) fn abort(&self) {
        if self.is_complete() {
            return;
        }
        if self.is_running() {
            // Rule 3: `run` finishes the task when its poll returns.
            self.set_flag(ABORT, true);
        } else {
            self.finish(Err(JoinError::cancelled()), None);
        }
    }

    /// JoinHandle dropped (owner thread).
    pub(crate) fn detach(&self) {
        self.set_flag(JOIN_INTEREST, false);
        drop(self.join_waker.take());
        if !self.is_running() && self.is_complete() {
            // SAFETY: rule 2 and 3: owner thread, not inside a poll.
            let stage = unsafe { &mut *self.stage.get() };
            *stage = Stage::Consumed;
        }
    }

    // The waker: a RawWaker over `Arc<Task<F>>`.
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::clone_raw,
        Self::wake_raw,
        Self::wake_by_ref_raw,
        Self::drop_raw,
    );

    unsafe fn clone_raw(p: *const ()) -> RawWaker {
        // SAFETY: `p` came from Arc::into_raw / Arc::as_ptr of a live
        // Arc<Task<F>> (the waker holds a count).
        unsafe { Arc::increment_strong_count(p as *const Self) };
        RawWaker::new(p, &Self::VTABLE)
    }

    unsafe fn wake_raw(p: *const ()) {
        // SAFETY: the waker owns one count, which this consumes.
        let task = unsafe { Arc::from_raw(p as *const Self) };
        task.wake_arc();
    }

    unsafe fn wake_by_ref_raw(p: *const ()) {
        // SAFETY: the waker owns one count; ManuallyDrop leaves it there.
        let task = ManuallyDrop::new(unsafe { Arc::from_raw(p as *const Self) });
        task.wake_ref();
    }

    unsafe fn drop_raw(p: *const ()) {
        // SAFETY: the waker owns one count, which this gives up.
        unsafe { Arc::decrement_strong_count(p as *const Self) };
    }
}

impl<F: Future + 'static> Runnable for Task<F> {
    fn run(self: Arc<Self>, core: &Core) {
        // Clear NOTIFIED before polling, so a wake during the poll queues
        // the task again (rule 1).
        let prev = self.state.fetch_and(!NOTIFIED, AcqRel);
        if prev & COMPLETE != 0 {
            return;
        }
        // A waker borrowed from our own count: no refcount traffic.
        // SAFETY: `self` keeps the Arc alive for the whole poll, and the
        // vtable's clone takes its own count.
        let waker = ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(
                Arc::as_ptr(&self) as *const (),
                &Self::VTABLE,
            ))
        });
        let mut cx = Context::from_waker(&waker);
        self.set_flag(RUNNING, true);
        let res = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: rule 2: owner thread; nothing else borrows `stage`
            // while RUNNING is set (rule 3).
            match unsafe { &mut *self.stage.get() } {
                // SAFETY: the future never moves: it stays in the Arc until
                // it is dropped in place.
                Stage::Running(f) => unsafe { Pin::new_unchecked(f) }.poll(&mut cx),
                _ => Poll::Pending,
            }
        }));
        self.set_flag(RUNNING, false);
        match res {
            Ok(Poll::Pending) => {
                if self.has_flag(ABORT) {
                    self.finish(Err(JoinError::cancelled()), Some(core));
                }
            }
            Ok(Poll::Ready(out)) => self.finish(Ok(out), Some(core)),
            Err(panic) => self.finish(Err(JoinError::panic(panic)), Some(core)),
        }
    }

    fn shutdown(&self) {
        if self.is_complete() {
            return;
        }
        // SAFETY: rule 2: owner thread, at shutdown, outside any poll.
        let stage = unsafe { &mut *self.stage.get() };
        self.set_flag(RUNNING, true);
        let _ = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
        self.set_flag(RUNNING, false);
        if self.has_flag(JOIN_INTEREST) {
            *stage = Stage::Finished(Err(JoinError::cancelled()));
        }
        self.state.fetch_or(COMPLETE, AcqRel);
        drop(self.join_waker.take());
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl<F: Future + 'static> super::join::Join<F::Output> for Task<F> {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        Task::poll_join(self, cx)
    }
    fn abort(&self) {
        Task::abort(self)
    }
    fn detach(&self) {
        Task::detach(self)
    }
    fn is_finished(&self) -> bool {
        self.is_complete()
    }
}
