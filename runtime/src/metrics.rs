//! Per-runtime counters a user can read.

use crate::executor::QueueMetrics;
use std::time::Duration;

/// A snapshot of one runtime's counters, from [`Runtime::metrics`] or
/// [`metrics`](crate::metrics()).
///
/// [`Runtime::metrics`]: crate::Runtime::metrics
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// SQEs the kernel has taken from the submission ring.
    pub sqes_submitted: u64,
    /// CQEs reaped from the completion ring (including the runtime's own).
    pub cqes_reaped: u64,
    /// `io_uring_enter(2)` calls made.
    pub enters: u64,
    /// Enters that waited for completions (the runtime had nothing to run).
    pub parks: u64,
    /// Turns that found the kernel's CQ overflow flag set.
    pub cq_overflows: u64,
    /// Times the kernel said it dropped CQEs (EBADR from
    /// `io_uring_enter(2)`: it could not allocate room for overflowed
    /// completions). The ops whose CQEs were lost never complete; a
    /// non-zero count means the host ran out of kernel memory.
    pub cq_dropped: u64,
    /// The backend the runtime runs.
    pub backend: crate::BackendKind,
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Task polls (the `block_on` future counts too).
    pub tasks_polled: u64,
    /// Time tasks ran, summed over [`queues`](Metrics::queues) (measured
    /// once the runtime has a [`TaskQueue`](crate::TaskQueue)).
    pub task_run_time: Duration,
    /// Time tasks waited to run after a wake, summed over
    /// [`queues`](Metrics::queues) (measured likewise).
    pub queue_delay: Duration,
    /// Each task queue's counters, the default queue first.
    pub queues: Vec<QueueMetrics>,
    /// Entries in the op table: ops whose final CQE has not come
    /// (abandoned ones included), and completed ops whose future has not
    /// taken the result yet.
    pub ops_in_flight: u64,
    /// Polls the stall detector reported (0 when it is off; see
    /// [`Builder::stall_threshold`](crate::Builder::stall_threshold)).
    pub stalls: u64,
}
