//! Tasks, their wakers, the run queues and the JoinHandle.
//!
//! Tasks are `!Send` futures polled only on their runtime's thread; their
//! wakers are `Send + Sync`. A waker used on the runtime's thread pushes
//! the task onto the local run queue; from another thread it goes through
//! the remote queue and unparks the ring (see `driver::unpark`).
//!
//! Every wake and spawn pushes onto one FIFO ring (`queue.rs`). A runtime
//! with the default queue only runs that ring in order and reads no
//! clock; once it has a [`TaskQueue`], each turn goes through the
//! scheduler in `group.rs`, which sorts the ring's tasks into their
//! queues.

mod group;
mod join;
pub(crate) mod oneshot;
mod queue;
pub mod state;
mod task;
mod task_queue;
mod yield_now;

pub use join::{JoinError, JoinHandle};
pub(crate) use task::{clone_waker, retain_task, wake_local, HeldTask, Notified, TaskMeta};
pub use task_queue::{Latency, QueueMetrics, Shares, TaskQueue};
pub use yield_now::{need_yield, yield_if_needed, yield_now, YieldIfNeeded, YieldNow};

use crate::driver::unpark::Shared;
use crate::runtime::Core;
pub(crate) use queue::LocalQueue;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// A type-erased task, as the queues and the registry hold it.
pub(crate) type TaskRef = Arc<dyn Runnable>;

/// What the executor needs of a task, whatever its future.
pub(crate) trait Runnable: Send + Sync {
    /// Polls the task once (owner thread only).
    fn run(self: Arc<Self>, core: &Core);
    /// Drops the future without polling it (owner thread, at shutdown).
    fn shutdown(&self);
}

/// The run queues and the registry of live tasks of one runtime.
pub(crate) struct Executor {
    /// The ready tasks: all of them while the runtime has no
    /// [`TaskQueue`], those woken since the last pick otherwise.
    queue: LocalQueue,
    /// Set by the first [`TaskQueue`]: turns go through `groups`.
    grouped: Cell<bool>,
    groups: group::Groups,
    /// Every task not yet finished, so shutdown can drop their futures on
    /// this thread.
    tasks: RefCell<Slab<TaskRef>>,
    pub(crate) spawned: Cell<u64>,
    /// Polls of tasks.
    pub(crate) polled: Cell<u64>,
    /// Polls of the `block_on` future.
    pub(crate) main_polled: Cell<u64>,
    /// The end of the turn's slice while grouped tasks run (group.rs rule 6).
    turn_end: Cell<Option<Instant>>,
    /// When the running queue's slice may end early for waiting work
    /// (group.rs rule 5).
    preempt_after: Cell<Option<Instant>>,
    /// The poll count when the current poll's own slice began, and its
    /// end (group.rs rule 6).
    slice: Cell<(u64, Option<Instant>)>,
}

impl Executor {
    pub(crate) fn new() -> Self {
        Executor {
            queue: LocalQueue::with_capacity(256),
            grouped: Cell::new(false),
            groups: group::Groups::default(),
            tasks: RefCell::new(Slab::with_capacity(256)),
            spawned: Cell::new(0),
            polled: Cell::new(0),
            main_polled: Cell::new(0),
            turn_end: Cell::new(None),
            preempt_after: Cell::new(None),
            slice: Cell::new((u64::MAX, None)),
        }
    }

    /// Spawns into task queue `queue` of this runtime, or the default
    /// queue.
    #[track_caller]
    pub(crate) fn spawn<F>(
        &self,
        shared: &Arc<Shared>,
        queue: Option<&TaskQueue>,
        future: F,
        meta: TaskMeta,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let Some(queue) = queue else {
            return self.spawn_in(shared, future, group::DEFAULT_GROUP, meta);
        };
        let index = queue.index_for(shared);
        self.groups.spawned(index);
        self.spawn_in(shared, future, index, meta)
    }

    #[inline]
    fn spawn_in<F>(
        &self,
        shared: &Arc<Shared>,
        future: F,
        group: u32,
        meta: TaskMeta,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = task::Task::new(future, shared.clone(), group, meta);
        let key = self.tasks.borrow_mut().insert(task.clone());
        task.set_key(key);
        self.push(task.clone().into_notified());
        self.spawned.set(self.spawned.get() + 1);
        JoinHandle::new(task)
    }

    /// Queues a ready task on the local ring. With task queues, `run`
    /// moves the ring's tasks into their groups (group.rs rule 1).
    #[inline]
    pub(crate) fn push(&self, task: Notified) {
        self.queue.push_back(task);
    }

    /// Pushes a woken task onto its local run queue.
    #[inline]
    pub(crate) fn schedule_local(&self, task: Notified) {
        self.push(task);
    }

    /// Runs up to `budget` tasks (one slice, when grouped). Returns
    /// whether no task is ready now.
    #[inline]
    pub(crate) fn run(&self, core: &Core, budget: u32) -> bool {
        if self.grouped.get() {
            return self.run_grouped(core, budget);
        }
        for _ in 0..budget {
            let Some(task) = self.queue.pop_front() else {
                return true;
            };
            self.poll(task, core);
        }
        self.queue.is_empty()
    }

    #[cold]
    #[inline(never)]
    fn run_grouped(&self, core: &Core, budget: u32) -> bool {
        self.groups.run(self, core, budget)
    }

    /// Polls one task: the one place the executor does, and where the
    /// stall detector, when it is on, times it.
    #[inline(always)]
    fn poll(&self, task: Notified, core: &Core) {
        self.polled.set(self.polled.get() + 1);
        match core.stall() {
            None => task.run(core),
            Some(watch) => {
                let group = task.group();
                if watch.poll_task(core, task) && self.grouped.get() {
                    self.groups.stalled(group);
                }
            }
        }
    }

    pub(crate) fn extend_queue(&self, tasks: &mut Vec<Notified>) {
        for t in tasks.drain(..) {
            self.push(t);
        }
    }

    /// Forgets a finished task of group `group`.
    pub(crate) fn remove(&self, key: usize, group: u32) {
        let task = self.tasks.borrow_mut().try_remove(key);
        if group != group::DEFAULT_GROUP {
            self.groups.finished(group);
        }
        drop(task);
    }

    /// Whether the running task should yield (group.rs rule 6).
    pub(crate) fn need_yield(&self, core: &Core) -> bool {
        let now = Instant::now();
        if let Some(end) = self.turn_end.get() {
            return now >= end
                || self
                    .preempt_after
                    .get()
                    .is_some_and(|p| now >= p && core.has_pending_work(now));
        }
        let key = self.polled.get().wrapping_add(self.main_polled.get());
        match self.slice.get() {
            (k, Some(end)) if k == key => now >= end,
            _ => {
                self.slice.set((key, Some(now + group::SLICE)));
                false
            }
        }
    }

    /// Each queue's counters, the default queue first; `stalls` is the
    /// core's count (the default queue takes the stalls of the `block_on`
    /// future and those from before the runtime had task queues).
    pub(crate) fn queue_metrics(&self, stalls: u64) -> Vec<QueueMetrics> {
        if !self.grouped.get() {
            return vec![QueueMetrics {
                name: "default".to_string(),
                shares: group::DEFAULT_SHARES,
                tasks_run: self.polled.get(),
                stalls,
                ..QueueMetrics::default()
            }];
        }
        let early = self.polled.get().saturating_sub(self.groups.runs());
        let early_stalls = stalls.saturating_sub(self.groups.stalls());
        self.groups.metrics(early, early_stalls)
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
        let queued: Vec<Notified> = self.groups.drain();
        drop(queued);
    }
}
