//! Task helpers under the path other runtimes use (`tokio::task`):
//! `coring::task::yield_now`, `coring::task::spawn`, and
//! [`Builder`] for a task with a name.

pub use crate::blocking::{spawn_blocking, BlockingHandle};
pub use crate::context::spawn;
pub use crate::executor::{yield_now, JoinError, JoinHandle, YieldNow};

use crate::executor::TaskMeta;
use std::future::Future;
use std::panic::Location;

/// Spawns a task with options: a name, which the stall detector's
/// reports show (see [`Builder::stall_threshold`]). Every task, named or
/// not, records where it was spawned.
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
    /// Every option goes into the [`TaskMeta`] `spawn` builds.
    name: Option<&'a str>,
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

    /// Spawns `future` onto the current runtime, as
    /// [`spawn`] does.
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
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
        crate::context::spawn_meta(future, meta)
    }
}
