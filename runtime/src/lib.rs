//! coring-runtime: the per-core io_uring runtime behind `coring`.
//!
//! One [`Runtime`] is one ring, one op table, one run queue and one timer
//! set, all bound to the thread that made it. Tasks push submission entries
//! (SQEs) onto the ring; the runtime enters the kernel once per turn to
//! submit and to wait, reaps completion entries (CQEs) and wakes the tasks
//! whose ops completed. Nothing polls for readiness.
//!
//! This crate holds all of coring's unsafe code; `coring-net` and
//! `coring-fs` forbid it. [`op`] says what we ask the kernel (one file per
//! op), `driver` how we talk to it; `docs/DESIGN.md` in the repository
//! has the whole picture.
//!
//! # Examples
//!
//! ```
//! let out = coring_runtime::start(async {
//!     let task = coring_runtime::spawn(async { 40 + 2 });
//!     coring_runtime::io::nop().await.expect("nop");
//!     task.await.expect("task")
//! })
//! .expect("io_uring is available");
//! assert_eq!(out, 42);
//! ```
#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

mod blocking;
pub mod buf;
mod builder;
pub mod channel;
mod context;
pub mod cores;
mod driver;
mod executor;
pub mod fd;
pub mod io;
mod metrics;
pub mod op;
pub mod registered;
mod runtime;
pub mod signal;
pub mod stall;
pub mod task;
pub mod time;
mod trace;

pub use blocking::{spawn_blocking, BlockingHandle};
pub use builder::Builder;
pub use context::spawn_into;
pub use context::{spawn, try_current_metrics};
pub use cores::{cores, spawner, CoreContext, Cores, CoresHandle, RemoteHandle, Spawner};
pub use driver::backend::{auto_backend, Backend, BackendInfo, BackendKind, BACKEND_ENV};
pub use executor::{
    need_yield, yield_if_needed, yield_now, JoinError, JoinHandle, Latency, QueueMetrics, Shares,
    TaskQueue, YieldIfNeeded, YieldNow,
};
pub use metrics::Metrics;

/// Test-only fault injection (feature `fault-injection`): make the Nth
/// io_uring_enter, io_uring_register or SQ push on this thread fail.
#[cfg(feature = "fault-injection")]
pub use driver::fault;
pub use runtime::{start, RingFlags, Runtime};

/// The io-uring crate coring builds its SQEs with, for users who write
/// their own [`op::OpCode`]s.
pub use io_uring;

/// The park/unpark handshake, exported for the loom model only.
#[cfg(loom)]
#[doc(hidden)]
pub use driver::park as __loom_park;

/// The current runtime's backend (io_uring or epoll) and, after an
/// automatic fall back, why; its `Display` is one line to print at start.
///
/// # Panics
///
/// Panics when called outside a coring runtime.
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     eprintln!("coring backend: {}", coring_runtime::backend());
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn backend() -> BackendInfo {
    context::with_core(|core| core.backend().clone())
}

/// The task state word, exported for the loom model only.
#[cfg(loom)]
#[doc(hidden)]
pub use executor::state as __loom_task_state;

/// The runtime's counters, read from inside a runtime.
///
/// # Panics
///
/// Panics when called outside a coring runtime.
#[track_caller]
pub fn metrics() -> Metrics {
    context::with_core(|core| core.metrics())
}
