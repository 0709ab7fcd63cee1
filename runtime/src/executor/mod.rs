//! Tasks, their wakers, the run queue and the JoinHandle.
//!
//! Tasks are `!Send` futures polled only on their runtime's thread; their
//! wakers are `Send + Sync`. A waker used on the runtime's thread pushes
//! the task onto the local run queue; from another thread it goes through
//! the remote queue and unparks the ring (see `driver::unpark`).

mod join;
pub(crate) mod oneshot;
mod queue;
pub mod state;
mod task;
mod yield_now;

pub use join::{JoinError, JoinHandle};
pub(crate) use task::{clone_waker, retain_task, wake_local, HeldTask, Notified, TaskMeta};
pub use yield_now::{yield_now, YieldNow};

use crate::driver::unpark::Shared;
use crate::runtime::Core;
pub(crate) use queue::LocalQueue;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::Arc;

/// A type-erased task, as the queues and the registry hold it.
pub(crate) type TaskRef = Arc<dyn Runnable>;

/// What the executor needs of a task, whatever its future.
pub(crate) trait Runnable: Send + Sync {
    /// Polls the task once (owner thread only).
    fn run(self: Arc<Self>, core: &Core);
    /// Drops the future without polling it (owner thread, at shutdown).
    fn shutdown(&self);
}

/// The run queue and the registry of live tasks of one runtime.
pub(crate) struct Executor {
    queue: LocalQueue,
    /// Every task not yet finished, so shutdown can drop their futures on
    /// this thread.
    tasks: RefCell<Slab<TaskRef>>,
    pub(crate) spawned: Cell<u64>,
    pub(crate) polled: Cell<u64>,
}

impl Executor {
    pub(crate) fn new() -> Self {
        Executor {
            queue: LocalQueue::with_capacity(256),
            tasks: RefCell::new(Slab::with_capacity(256)),
            spawned: Cell::new(0),
            polled: Cell::new(0),
        }
    }

    pub(crate) fn spawn<F>(
        &self,
        shared: &Arc<Shared>,
        future: F,
        meta: TaskMeta,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = task::Task::new(future, shared.clone(), meta);
        let key = self.tasks.borrow_mut().insert(task.clone());
        task.set_key(key);
        self.queue.push_back(task.clone().into_notified());
        self.spawned.set(self.spawned.get() + 1);
        JoinHandle::new(task)
    }

    /// The run queue, for the reaper's direct wakes ([`wake_local`]).
    #[inline]
    pub(crate) fn queue(&self) -> &LocalQueue {
        &self.queue
    }

    /// Pushes a woken task onto the local run queue.
    #[inline]
    pub(crate) fn schedule_local(&self, task: Notified) {
        self.queue.push_back(task);
    }

    /// Runs up to `budget` tasks. Returns whether the queue is now empty.
    pub(crate) fn run(&self, core: &Core, budget: u32) -> bool {
        for _ in 0..budget {
            let Some(task) = self.queue.pop_front() else {
                return true;
            };
            self.poll_one(core, task);
        }
        self.queue.is_empty()
    }

    /// Polls one task: the one place a task poll happens, and where the
    /// stall detector, when it is on, times it.
    #[inline]
    fn poll_one(&self, core: &Core, task: Notified) {
        self.polled.set(self.polled.get() + 1);
        match core.stall() {
            None => task.run(core),
            Some(watch) => watch.poll_task(core, task),
        }
    }

    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.queue.is_empty()
    }

    pub(crate) fn extend_queue(&self, tasks: &mut Vec<Notified>) {
        for t in tasks.drain(..) {
            self.queue.push_back(t);
        }
    }

    /// Forgets a finished task.
    pub(crate) fn remove(&self, key: usize) {
        let task = self.tasks.borrow_mut().try_remove(key);
        drop(task);
    }

    /// Drops every live task's future, on this thread. Futures dropped
    /// here may spawn or wake others, so this repeats until none is left.
    pub(crate) fn shutdown(&self) {
        loop {
            let tasks: Vec<TaskRef> = self.tasks.borrow_mut().drain().collect();
            if tasks.is_empty() {
                break;
            }
            for t in &tasks {
                t.shutdown();
            }
        }
        let queued: Vec<Notified> = self.queue.drain();
        drop(queued);
    }
}
