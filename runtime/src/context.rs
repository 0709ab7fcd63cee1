//! The thread-local current runtime, and the free functions that use it.

use crate::driver::unpark::Shared;
use crate::executor::{JoinHandle, Notified, TaskMeta, TaskQueue};
use crate::metrics::Metrics;
use crate::runtime::Core;
use std::cell::Cell;
use std::future::Future;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

/// The panic text of free functions called outside a runtime.
pub(crate) const NO_RUNTIME: &str =
    "coring: this must be called from inside a coring runtime (Runtime::block_on or coring::start)";

thread_local! {
    /// The runtime entered on this thread: set by [`Enter`] for the length
    /// of a `block_on` (or a drop), null otherwise.
    static CURRENT: Cell<*const Rc<Core>> = const { Cell::new(ptr::null()) };
}

/// Restores the previous context when dropped.
pub(crate) struct Enter {
    prev: *const Rc<Core>,
}

/// Makes `core` this thread's current runtime until the guard drops. The
/// caller keeps `core` borrowed (and so alive and in place) for that long.
pub(crate) fn enter(core: &Rc<Core>) -> Enter {
    let prev = CURRENT.with(|c| c.replace(core as *const Rc<Core>));
    Enter { prev }
}

/// Whether a runtime is entered on this thread.
pub(crate) fn is_entered() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Runs `f` with the current runtime, if there is one.
#[inline]
pub(crate) fn try_with_core_rc<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT was set by `enter` from a borrow of the
    // Rc that outlives the guard, and the guard restores the previous
    // value before that borrow ends.
    Some(f(unsafe { &*p }))
}

/// Runs `f` with the current runtime.
///
/// # Panics
///
/// Panics with [`NO_RUNTIME`] outside a runtime.
#[inline]
#[track_caller]
pub(crate) fn with_core_rc<R>(f: impl FnOnce(&Rc<Core>) -> R) -> R {
    match try_with_core_rc(f) {
        Some(r) => r,
        None => panic!("{}", NO_RUNTIME),
    }
}

/// A count of the current runtime, for whatever must keep it alive (an op
/// in flight, a timer). A plain return instead of a closure, so the
/// caller builds its value in place rather than through an `Option`.
///
/// # Panics
///
/// Panics with [`NO_RUNTIME`] outside a runtime.
#[inline]
#[track_caller]
pub(crate) fn core_rc() -> Rc<Core> {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        no_runtime();
    }
    // SAFETY: as in `try_with_core_rc`; the clone is taken while the
    // borrow is valid.
    unsafe { Rc::clone(&*p) }
}

#[cold]
#[inline(never)]
#[track_caller]
fn no_runtime() -> ! {
    panic!("{}", NO_RUNTIME)
}

#[inline]
pub(crate) fn try_with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    try_with_core_rc(|rc| f(rc))
}

#[inline]
#[track_caller]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> R {
    with_core_rc(|rc| f(rc))
}

/// Queues a woken task of the runtime `shared`: locally when this thread
/// runs that runtime, through its remote queue otherwise.
#[inline]
pub(crate) fn schedule(task: Notified, shared: &Arc<Shared>) {
    let p = CURRENT.with(Cell::get);
    if !p.is_null() {
        // SAFETY: as in `try_with_core_rc`.
        let core: &Core = unsafe { &*p };
        if Arc::ptr_eq(&core.shared, shared) {
            core.executor.schedule_local(task);
            return;
        }
    }
    // A clone: once pushed, the task (and the `shared` borrowed from it)
    // may be taken and dropped by the runtime's thread.
    let shared = shared.clone();
    shared.push_remote(task);
}

/// Wakes the ring `target_fd` of the runtime `target` with a MSG_RING
/// from this thread's runtime, if this thread runs another one that is not
/// busy with its driver or shutting down. Returns whether it did.
pub(crate) fn try_msg_ring(target: &Shared, target_fd: i32) -> bool {
    try_with_core(|core| {
        if ptr::eq(&*core.shared, target) || core.is_shutting_down() {
            return false;
        }
        match core.driver.try_borrow_mut() {
            Ok(mut d) => d.push_msg_ring(target_fd),
            Err(_) => false,
        }
    })
    .unwrap_or(false)
}

/// Spawns a task onto the current runtime. The future need not be `Send`:
/// it runs on this thread only.
///
/// # Panics
///
/// Panics outside a coring runtime.
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     let h = coring_runtime::spawn(async { "done" });
///     assert_eq!(h.await.unwrap(), "done");
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let meta = TaskMeta::here();
    with_core(|core| core.executor.spawn(&core.shared, None, future, meta))
}

/// Spawns a task onto the current runtime, into the task queue `queue`
/// (see [`TaskQueue`]).
///
/// # Panics
///
/// Panics outside a coring runtime, and when `queue` belongs to another
/// runtime (another core).
///
/// # Examples
///
/// ```
/// use coring_runtime::{Latency, Shares, TaskQueue};
///
/// coring_runtime::start(async {
///     let q = TaskQueue::new("background", Shares(10), Latency::NotImportant).unwrap();
///     let h = coring_runtime::spawn_into(&q, async { 7 });
///     assert_eq!(h.await.unwrap(), 7);
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn spawn_into<F>(queue: &TaskQueue, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let meta = TaskMeta::here();
    with_core(|core| core.executor.spawn(&core.shared, Some(queue), future, meta))
}

/// The current runtime's counters, or `None` outside a runtime.
pub fn try_current_metrics() -> Option<Metrics> {
    try_with_core(|core| core.metrics())
}
