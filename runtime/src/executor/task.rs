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
//! 5. Every task's waker has the same vtable and points at the task's
//!    non-generic [`Header`]. The reaper queues wakers of its own
//!    runtime's tasks directly ([`wake_local`]); only foreign wakers are
//!    woken through their vtable, after the driver's borrow ends.

use super::state::TaskState;
use super::{JoinError, Runnable};
use crate::context;
use crate::driver::unpark::Shared;
use crate::runtime::Core;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// `flags` bits (owner thread only).
const RUNNING: u8 = 1;
const ABORT: u8 = 2;
const JOIN_INTEREST: u8 = 4;

pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The part of a task that does not depend on its future, first in every
/// task so that a pointer to a `Task<F>` is a pointer to its `Header`.
/// Wakers point at it and share one vtable ([`WAKER_VTABLE`]), so the
/// reaper can tell this runtime's tasks from foreign wakers and queue them
/// without a virtual call (rule 5).
pub(crate) struct Header {
    /// Rule 1, in its own module (`state.rs`) for the loom model.
    state: TaskState,
    /// The task queue it runs in (`group.rs`); set at spawn, never changed.
    group: u32,
    shared: Arc<Shared>,
    vtable: &'static RefVtable,
    /// Set at spawn, never changed; readable through any count
    /// ([`HeldTask`]).
    meta: TaskMeta,
}

/// What a task is called and where it was spawned, for the stall
/// detector's reports, in one word (a task has no room for more without
/// moving to a bigger allocation): an unnamed task's is its
/// `&'static Location`; a named task's points at a boxed [`Named`], with
/// the low bit set (both are at least 2-aligned).
pub(crate) struct TaskMeta(NonNull<()>);

/// A named task's [`TaskMeta`].
struct Named {
    name: Box<str>,
    location: &'static Location<'static>,
}

// SAFETY: a TaskMeta is a `&'static Location` or a `Box<Named>`, both
// Send and Sync, and never written after it is made.
unsafe impl Send for TaskMeta {}
// SAFETY: as for Send.
unsafe impl Sync for TaskMeta {}

impl TaskMeta {
    /// No name, spawned by the caller.
    #[track_caller]
    #[inline]
    pub(crate) fn here() -> TaskMeta {
        TaskMeta::unnamed(Location::caller())
    }

    #[inline]
    pub(crate) fn unnamed(location: &'static Location<'static>) -> TaskMeta {
        TaskMeta(NonNull::from(location).cast())
    }

    pub(crate) fn named(name: &str, location: &'static Location<'static>) -> TaskMeta {
        let named = Box::into_raw(Box::new(Named {
            name: name.into(),
            location,
        }));
        // SAFETY: Box::into_raw is never null; the tag bit is free (Named
        // is 8-aligned) and stays inside the allocation's provenance.
        TaskMeta(unsafe { NonNull::new_unchecked(named.cast::<()>().wrapping_byte_add(1)) })
    }

    /// The boxed `Named`, for a named task.
    fn as_named(&self) -> Option<*mut Named> {
        let p = self.0.as_ptr();
        (p as usize & 1 == 1).then(|| p.wrapping_byte_sub(1).cast::<Named>())
    }

    /// The name given with `task::Builder::name`, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        // SAFETY: a tagged pointer is a live Box<Named> owned by `self`.
        self.as_named().map(|n| unsafe { &*(*n).name })
    }

    /// The caller of the spawn (`#[track_caller]`).
    pub(crate) fn location(&self) -> &'static Location<'static> {
        match self.as_named() {
            // SAFETY: as in `name`.
            Some(n) => unsafe { (*n).location },
            // SAFETY: an untagged pointer is the `&'static Location`
            // `unnamed` was given.
            None => unsafe { self.0.cast::<Location<'static>>().as_ref() },
        }
    }
}

impl Drop for TaskMeta {
    fn drop(&mut self) {
        if let Some(n) = self.as_named() {
            // SAFETY: the Box `named` leaked, given back once.
            drop(unsafe { Box::from_raw(n) });
        }
    }
}

/// The reference counting of one `Task<F>`, behind a `*const Header`.
struct RefVtable {
    /// Takes one more count.
    clone: unsafe fn(*const Header),
    /// Gives one count up.
    drop_ref: unsafe fn(*const Header),
    /// Polls the task once, consuming one count.
    run: unsafe fn(*const Header, &Core),
}

impl Header {
    /// Rule 1: sets NOTIFIED; whether the task must now be queued (it was
    /// neither queued nor finished).
    #[inline]
    fn notify(&self) -> bool {
        self.state.notify()
    }
}

#[repr(C)]
pub(crate) struct Task<F: Future> {
    /// First field of a `repr(C)` struct: at offset 0.
    header: Header,
    flags: Cell<u8>,
    /// The registry's key: a `u32` beside `flags`, so a small task keeps
    /// its size (a slab never holds 2^32 tasks: they are over 100 bytes
    /// each).
    key: Cell<u32>,
    stage: UnsafeCell<Stage<F>>,
    join_waker: Cell<Option<Waker>>,
}

// SAFETY: rule 2 above: only the header (`state` is atomic, `shared` is
// Send + Sync, `vtable` is immutable) is touched off the runtime's thread; rule 4: the future and output are
// dropped on it, so dropping the last Arc elsewhere drops no `F` value.
unsafe impl<F: Future> Send for Task<F> {}
// SAFETY: as for Send.
unsafe impl<F: Future> Sync for Task<F> {}

impl<F: Future + 'static> Task<F> {
    pub(crate) fn new(future: F, shared: Arc<Shared>, group: u32, meta: TaskMeta) -> Arc<Self> {
        Arc::new(Task {
            header: Header {
                state: TaskState::new(),
                group,
                shared,
                vtable: &Self::REF_VTABLE,
                meta,
            },
            flags: Cell::new(JOIN_INTEREST),
            key: Cell::new(u32::MAX),
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: Cell::new(None),
        })
    }

    pub(crate) fn set_key(&self, key: usize) {
        self.key.set(key as u32);
    }

    fn set_flag(&self, f: u8, on: bool) {
        let v = self.flags.get();
        self.flags.set(if on { v | f } else { v & !f });
    }

    fn has_flag(&self, f: u8) -> bool {
        self.flags.get() & f != 0
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.header.state.is_complete()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.has_flag(RUNNING)
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
        self.header.state.complete();
        match core {
            Some(core) => core
                .executor
                .remove(self.key.get() as usize, self.header.group),
            // An abort from outside `run`: leave the registry of our own
            // runtime only (a JoinHandle may outlive its runtime, or be used
            // while another runtime is entered). Otherwise the entry goes at
            // that runtime's shutdown.
            None => {
                context::try_with_core(|core| {
                    if Arc::ptr_eq(&core.shared, &self.header.shared) {
                        core.executor
                            .remove(self.key.get() as usize, self.header.group);
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

    const REF_VTABLE: RefVtable = RefVtable {
        clone: Self::clone_ref,
        drop_ref: Self::drop_ref,
        run: Self::run_raw,
    };

    unsafe fn clone_ref(p: *const Header) {
        // SAFETY: `p` points at the header of a live `Arc<Task<F>>` (the
        // caller holds a count), at offset 0 of the task (`repr(C)`).
        unsafe { Arc::increment_strong_count(p.cast::<Self>()) };
    }

    unsafe fn drop_ref(p: *const Header) {
        // SAFETY: as in `clone_ref`; the caller gives its count up.
        unsafe { Arc::decrement_strong_count(p.cast::<Self>()) };
    }

    unsafe fn run_raw(p: *const Header, core: &Core) {
        // SAFETY: as in `clone_ref`; the caller's count moves into the Arc,
        // which `run` drops when the poll is over.
        let task = unsafe { Arc::from_raw(p.cast::<Self>()) };
        task.run(core);
    }

    /// The task as a queue entry, carrying the caller's count.
    pub(crate) fn into_notified(self: Arc<Self>) -> Notified {
        let p = Arc::into_raw(self).cast::<Header>().cast_mut();
        // SAFETY: Arc::into_raw is never null.
        Notified(unsafe { NonNull::new_unchecked(p) })
    }
}

impl<F: Future + 'static> Runnable for Task<F> {
    fn run(self: Arc<Self>, core: &Core) {
        // Clear NOTIFIED before polling, so a wake during the poll queues
        // the task again (rule 1); a task that completed while queued is
        // not polled.
        if !self.header.state.start_run() {
            return;
        }
        // A waker borrowed from our own count: no refcount traffic.
        // SAFETY: `self` keeps the Arc alive for the whole poll, and the
        // vtable's clone takes its own count.
        let waker = ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(
                Arc::as_ptr(&self) as *const (),
                &WAKER_VTABLE,
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
            Err(panic) => {
                crate::trace::task_panicked(&*panic);
                self.finish(Err(JoinError::panic(panic)), Some(core))
            }
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
        self.header.state.complete();
        drop(self.join_waker.take());
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

/// The one vtable of every task's waker; its data is a `*const Header`
/// that owns one count of the task. A `static`, so its address is unique
/// and [`wake_local`] can recognise it.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

unsafe fn waker_clone(p: *const ()) -> RawWaker {
    let h = p.cast::<Header>();
    // SAFETY: the waker owns a count, so the header is live.
    unsafe { ((*h).vtable.clone)(h) };
    RawWaker::new(p, &WAKER_VTABLE)
}

unsafe fn waker_wake(p: *const ()) {
    let h = p.cast::<Header>();
    // SAFETY: the waker owns a count, which this consumes: it moves into
    // the queue, or is given up when the task needs no queueing.
    unsafe {
        if (*h).notify() {
            schedule(h);
        } else {
            ((*h).vtable.drop_ref)(h);
        }
    }
}

unsafe fn waker_wake_by_ref(p: *const ()) {
    let h = p.cast::<Header>();
    // SAFETY: the waker owns a count and keeps it; the queue gets its own.
    unsafe {
        if (*h).notify() {
            ((*h).vtable.clone)(h);
            schedule(h);
        }
    }
}

unsafe fn waker_drop(p: *const ()) {
    let h = p.cast::<Header>();
    // SAFETY: the waker owns a count, which this gives up.
    unsafe { ((*h).vtable.drop_ref)(h) };
}

/// Queues the task behind `h`, moving one count into the queue.
///
/// # Safety
///
/// `h` is a live task header and the caller owns one count, given here.
unsafe fn schedule(h: *const Header) {
    // SAFETY: the caller owns a count; it moves into `task`, which keeps
    // the header alive while `shared` is borrowed from it.
    let task = unsafe { Notified::from_raw(h) };
    // SAFETY: `task` holds the allocation `h` points into.
    let shared = unsafe { &(*h).shared };
    context::schedule(task, shared);
}

/// `w.clone()`, one call shorter for this runtime's task wakers: their
/// count is taken through the task's own vtable directly, not through the
/// waker vtable's clone, which would look the same vtable up again. Used
/// where every op's first poll stores its task's waker.
#[inline]
pub(crate) fn clone_waker(w: &Waker) -> Waker {
    if !std::ptr::eq(w.vtable(), &WAKER_VTABLE) {
        return w.clone();
    }
    let h = w.data().cast::<Header>();
    // SAFETY: a waker with our vtable points at a live task (it owns a
    // count, or borrows the running task's); the new waker owns the count
    // taken here.
    unsafe {
        ((*h).vtable.clone)(h);
        Waker::from_raw(RawWaker::new(w.data(), &WAKER_VTABLE))
    }
}

/// The reaper's wake (rule 5): a waker of a task of the runtime `shared`
/// is queued by `executor` directly, with no foreign code run and no
/// virtual call; any other waker is given back, to be woken once the
/// driver is no longer borrowed.
#[inline]
pub(crate) fn wake_local(
    w: Waker,
    shared: &Arc<Shared>,
    executor: &super::Executor,
) -> Option<Waker> {
    if !std::ptr::eq(w.vtable(), &WAKER_VTABLE) {
        return Some(w);
    }
    let h = w.data().cast::<Header>();
    // SAFETY: a waker with our vtable owns a count of the task at `h`.
    let header = unsafe { &*h };
    if !Arc::ptr_eq(&header.shared, shared) {
        return Some(w);
    }
    // The waker's count moves into the queue or is given up below.
    std::mem::forget(w);
    if header.notify() {
        // SAFETY: the waker's count, which `forget` kept, moves here.
        executor.push(unsafe { Notified::from_raw(h) });
    } else {
        // SAFETY: as above; the task is queued or finished already. This
        // may free the task, which then holds no future nor output (rule
        // 4), so no user code runs.
        unsafe { (header.vtable.drop_ref)(h) };
    }
    None
}

/// A queued task: a thin pointer to its header that owns one count. The
/// run queues hold these (8 bytes, no virtual call to make one from a
/// waker); running one consumes it.
pub(crate) struct Notified(NonNull<Header>);

// SAFETY: a count of a `Task<F>`, which is Send + Sync (see above); it is
// run only by the task's own runtime (the remote queue hands it over).
unsafe impl Send for Notified {}

impl Notified {
    /// # Safety
    ///
    /// `h` is the header of a live task and the caller gives one count.
    #[inline]
    unsafe fn from_raw(h: *const Header) -> Notified {
        // SAFETY: a live header's address is not null.
        Notified(unsafe { NonNull::new_unchecked(h.cast_mut()) })
    }

    /// Another count of the same task, to read its [`TaskMeta`] after a
    /// poll that may have finished it.
    pub(crate) fn hold(&self) -> HeldTask {
        let h = self.0.as_ptr().cast_const();
        // SAFETY: we own a count, so the task is live; the new count is
        // the HeldTask's.
        unsafe { ((*h).vtable.clone)(h) };
        HeldTask(self.0)
    }

    /// Polls the task once (owner thread).
    #[inline]
    pub(crate) fn run(self, core: &Core) {
        let h = self.0.as_ptr().cast_const();
        std::mem::forget(self);
        // SAFETY: our count moves into the task's `run`.
        unsafe { ((*h).vtable.run)(h, core) }
    }

    /// The task queue the task runs in.
    #[inline]
    pub(crate) fn group(&self) -> u32 {
        // SAFETY: we own a count, so the header is live.
        unsafe { (*self.0.as_ptr()).group }
    }

    /// The address of the task, as an identity (tests).
    #[cfg(test)]
    pub(crate) fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        let h = self.0.as_ptr().cast_const();
        // SAFETY: we own one count, given up here. Dropping the last count
        // frees the task; a queued task that is dropped unrun (shutdown)
        // still has its registry count, so no future is dropped here.
        unsafe { ((*h).vtable.drop_ref)(h) }
    }
}

/// A count of a task, taken by [`Notified::hold`] (or by the stall
/// signal's handler, [`retain_task`]) so its name and location can be
/// read whether or not the poll finished it.
pub(crate) struct HeldTask(NonNull<Header>);

// SAFETY: the header's `meta` is never written after spawn, and giving a
// count up on another thread frees at most an empty `Stage::Consumed`
// (rule 4), as a waker's drop there does.
unsafe impl Send for HeldTask {}

/// Takes one count of the task whose header is at `addr`, without
/// allocating or locking (the stall signal's handler calls it).
///
/// # Safety
///
/// `addr` is the header of a live task; the count must be given back
/// through [`HeldTask::from_addr`].
pub(crate) unsafe fn retain_task(addr: usize) {
    let h = addr as *const Header;
    // SAFETY: the caller's task is live.
    unsafe { ((*h).vtable.clone)(h) };
}

impl HeldTask {
    /// The task's header address, an identity [`retain_task`] takes.
    pub(crate) fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Adopts a count [`retain_task`] took.
    ///
    /// # Safety
    ///
    /// One count of the task at `addr` is given, once.
    pub(crate) unsafe fn from_addr(addr: usize) -> HeldTask {
        // SAFETY: a live header's address is not null.
        HeldTask(unsafe { NonNull::new_unchecked(addr as *mut Header) })
    }

    pub(crate) fn meta(&self) -> &TaskMeta {
        // SAFETY: we own a count, so the header is live; `meta` is never
        // written after spawn.
        unsafe { &(*self.0.as_ptr()).meta }
    }
}

impl Drop for HeldTask {
    fn drop(&mut self) {
        let h = self.0.as_ptr().cast_const();
        // SAFETY: we own one count, given up here; see the Send impl for
        // a last count given up on another thread.
        unsafe { ((*h).vtable.drop_ref)(h) }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::{Header, Task, TaskMeta};
    use std::mem::size_of;

    /// A task of a small future, with the Arc's two counts, is a 120-byte
    /// allocation: glibc's largest fast-bin chunk (128 bytes). One word
    /// more makes every spawn of the spawn bench's tasks slower; the name
    /// and spawn location fit in one word, beside the task queue's index
    /// in the header's padding and a `u32` registry key.
    #[test]
    fn a_small_task_stays_in_its_allocation_size() {
        fn size<F: std::future::Future>(_: &F) -> usize {
            size_of::<Task<F>>()
        }
        let value = 7u64;
        assert_eq!(size(&async move { value }), 104);
        assert_eq!(size_of::<Header>(), 32);
        assert_eq!(size_of::<TaskMeta>(), 8);
    }

    #[test]
    fn meta_gives_back_name_and_location() {
        let here = std::panic::Location::caller();
        let plain = TaskMeta::unnamed(here);
        assert_eq!((plain.name(), plain.location()), (None, here));
        let named = TaskMeta::named("worker", here);
        assert_eq!((named.name(), named.location()), (Some("worker"), here));
    }
}
