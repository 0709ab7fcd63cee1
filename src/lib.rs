//! coring: a thread-per-core async runtime for Linux built on io_uring.
//!
//! Each core runs its own [`Runtime`]: tasks push reads, writes and the
//! rest onto the kernel's submission ring, the runtime parks on the
//! completion ring, and futures resolve from completion entries instead of
//! polling for readiness.
//!
//! This facade re-exports the runtime core (`coring-runtime`), and the
//! [`net`] and [`fs`] crates.
//!
//! ```
//! coring::start(async {
//!     let h = coring::spawn(async { coring::io::nop().await });
//!     h.await.unwrap().unwrap();
//! })
//! .unwrap();
//! ```
#![warn(missing_docs)]

pub use coring_runtime::*;

/// Files and directories over io_uring.
pub use coring_fs as fs;
/// Sockets over io_uring.
pub use coring_net as net;
