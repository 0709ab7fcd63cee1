//! Task helpers under the path other runtimes use (`tokio::task`):
//! `coring::task::yield_now`, `coring::task::spawn`, the task queue
//! calls (`spawn_into`, `need_yield`, `yield_if_needed`), and [`Builder`]
//! for a task with a name or a queue.

pub use crate::blocking::{spawn_blocking, BlockingHandle};
pub use crate::context::{spawn, spawn_into};
pub use crate::executor::{
    need_yield, yield_if_needed, yield_now, JoinError, JoinHandle, YieldIfNeeded, YieldNow,
};

use crate::executor::{TaskMeta, TaskQueue};
use std::future::Future;
use std::panic::Location;

/// Spawns a task with options: a name, which the stall detector's
/// reports show (see [`Builder::stall_threshold`]), and the
/// [`TaskQueue`] it runs in. Every task, named or not, records where it
/// was spawned.
///
/// [`Builder::stall_threshold`]: crate::Builder::stall_threshold
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     let h = coring_runtime::task::Builder::new()
///         .name("answer")
///         .spawn(async { 42 });
///     assert_eq!(h.await.unwrap(), 42);
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until `spawn`"]
pub struct Builder<'a> {
    name: Option<&'a str>,
    queue: Option<&'a TaskQueue>,
}

impl<'a> Builder<'a> {
    /// A builder with no option set: `spawn` then does what
    /// [`spawn`] does.
    pub fn new() -> Self {
        Builder::default()
    }

    /// The task's name (copied at spawn).
    pub fn name(mut self, name: &'a str) -> Self {
        self.name = Some(name);
        self
    }

    /// The task queue the task runs in (default: the runtime's default
    /// queue), as with [`spawn_into`].
    pub fn queue(mut self, queue: &'a TaskQueue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Spawns `future` onto the current runtime, as [`spawn`] (or, with
    /// a queue, [`spawn_into`]) does.
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime, and when the queue belongs to
    /// another runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let location = Location::caller();
        let meta = match self.name {
            None => TaskMeta::unnamed(location),
            Some(name) => TaskMeta::named(name, location),
        };
        crate::context::with_core(|core| {
            core.executor.spawn(&core.shared, self.queue, future, meta)
        })
    }
}
