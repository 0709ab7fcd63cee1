//! Task helpers under the path other runtimes use (`tokio::task`):
//! `coring::task::yield_now`, `coring::task::spawn`, and the task queue
//! calls (`spawn_into`, `need_yield`, `yield_if_needed`).

pub use crate::blocking::{spawn_blocking, BlockingHandle};
pub use crate::context::{spawn, spawn_into};
pub use crate::executor::{
    need_yield, yield_if_needed, yield_now, JoinError, JoinHandle, YieldIfNeeded, YieldNow,
};
