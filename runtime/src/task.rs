//! Task helpers under the path other runtimes use (`tokio::task`):
//! `coring::task::yield_now`, `coring::task::spawn`.

pub use crate::blocking::{spawn_blocking, BlockingHandle};
pub use crate::context::spawn;
pub use crate::executor::{yield_now, JoinError, JoinHandle, YieldNow};
