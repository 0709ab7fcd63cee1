//! Task queues as users see them: [`TaskQueue`], [`Shares`], [`Latency`]
//! and each queue's [`QueueMetrics`]. The scheduler that runs them is in
//! `group.rs`.

use crate::context;
use crate::driver::unpark::Shared;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// A queue's weight: queues with work share the core in proportion to
/// their shares. The default queue has `Shares(1000)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shares(pub u32);

/// Whether a queue's tasks must run soon after they are woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Latency {
    /// While the queue has live tasks, no other queue runs longer than
    /// half this budget before the runtime reaps the ring and gives the
    /// queue its turn (for as long as the queue uses no more than its
    /// shares).
    Matters(Duration),
    /// Only the shares count.
    #[default]
    NotImportant,
}

/// What a [`TaskQueue`] handle and the scheduler (`group.rs`) share.
pub(super) struct QueueInfo {
    pub(super) index: u32,
    pub(super) name: String,
    pub(super) shares: Shares,
    pub(super) latency: Latency,
    /// The runtime the queue belongs to (identity only).
    pub(super) runtime: Arc<Shared>,
}

/// A task queue (scheduling group) of the current runtime: tasks spawned
/// into it with [`spawn_into`](crate::spawn_into) share the core with the
/// other queues in proportion to its [`Shares`], and a queue whose
/// [`Latency`] matters gets the core within its budget.
///
/// A queue belongs to the runtime (the core) that made it, and the handle
/// is `!Send`. To have the same queue on every core of
/// [`cores`](crate::cores()), make it in each core's root future (see
/// the example): each core then schedules its own queue of that name.
/// A queue lives while a handle (or a clone) or one of its tasks does.
///
/// # Examples
///
/// ```
/// use coring_runtime::{Latency, Shares, TaskQueue};
/// use std::time::Duration;
///
/// coring_runtime::start(async {
///     let web = TaskQueue::new("web", Shares(300), Latency::Matters(Duration::from_millis(1)))?;
///     let bulk = TaskQueue::new("bulk", Shares(100), Latency::NotImportant)?;
///     let h = coring_runtime::spawn_into(&bulk, async {
///         let mut x = 0u64;
///         for i in 0..1_000_000u64 {
///             x = x.wrapping_mul(31).wrapping_add(i);
///             if i % 1024 == 0 {
///                 coring_runtime::yield_if_needed().await;
///             }
///         }
///         x
///     });
///     let r = coring_runtime::spawn_into(&web, async { "answer" });
///     assert_eq!(r.await.unwrap(), "answer");
///     h.await.unwrap();
///     std::io::Result::Ok(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct TaskQueue {
    pub(super) info: Rc<QueueInfo>,
}

impl std::fmt::Debug for TaskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskQueue")
            .field("name", &self.info.name)
            .field("shares", &self.info.shares)
            .field("latency", &self.info.latency)
            .finish()
    }
}

impl TaskQueue {
    /// A new queue on the current runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Shares(0)` or `Latency::Matters(Duration::ZERO)`;
    /// an error naming the cause outside a coring runtime.
    pub fn new(name: impl Into<String>, shares: Shares, latency: Latency) -> io::Result<TaskQueue> {
        if shares.0 == 0 {
            return Err(invalid("coring: a TaskQueue needs Shares of at least 1"));
        }
        if latency == Latency::Matters(Duration::ZERO) {
            return Err(invalid(
                "coring: Latency::Matters needs a budget above zero",
            ));
        }
        let name = name.into();
        context::try_with_core(|core| {
            let info =
                core.executor
                    .groups
                    .add(&core.executor, &core.shared, name, shares, latency);
            TaskQueue { info }
        })
        .ok_or_else(|| io::Error::other(context::NO_RUNTIME))
    }

    /// The queue's name, as [`QueueMetrics::name`] shows it.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The queue's shares.
    pub fn shares(&self) -> Shares {
        self.info.shares
    }

    /// The queue's latency class.
    pub fn latency(&self) -> Latency {
        self.info.latency
    }

    /// The group index, checked against the runtime `shared`.
    ///
    /// # Panics
    ///
    /// When the queue belongs to another runtime.
    #[track_caller]
    pub(crate) fn index_for(&self, shared: &Arc<Shared>) -> u32 {
        assert!(
            Arc::ptr_eq(&self.info.runtime, shared),
            "coring: TaskQueue {:?} belongs to another runtime; make one on each core",
            self.info.name
        );
        self.info.index
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// One queue's counters, in [`Metrics::queues`](crate::Metrics::queues).
///
/// Times are measured only once the runtime has a [`TaskQueue`] (a
/// runtime with the default queue alone reads no clock); `tasks_run` is
/// always counted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueMetrics {
    /// The queue's name (`"default"` for the default queue).
    pub name: String,
    /// Its shares.
    pub shares: u32,
    /// Its latency budget, `None` for `Latency::NotImportant`.
    pub latency: Option<Duration>,
    /// Polls of its tasks.
    pub tasks_run: u64,
    /// Time its tasks ran (from the start of each of its turns on the
    /// core to the end of its last poll there).
    pub run_time: Duration,
    /// Time its tasks waited in the queue, from being woken (or spawned)
    /// to being polled, summed over every wake.
    pub queue_delay: Duration,
    /// The longest one of those waits.
    pub max_queue_delay: Duration,
    /// Wakes counted in `queue_delay`.
    pub wakes: u64,
    /// Polls of its tasks that the stall detector reported (the default
    /// queue's count includes the `block_on` future's); 0 while the
    /// detector is off.
    pub stalls: u64,
}
