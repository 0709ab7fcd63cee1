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

/// Runs `async fn main` on a coring runtime: `#[coring::main]`, or
/// `#[coring::main(cores = 4, backend = "epoll", entries = 512)]`.
///
/// The body moves into an inner `async fn` and the generated `main`
/// builds a [`Runtime`] (from a [`Builder`] with the options) and
/// [`block_on`](Runtime::block_on)s it. Options, comma separated:
///
/// - `backend = "auto" | "io_uring" | "epoll"` ([`Builder::backend`]);
/// - `entries = N`: SQ entries ([`Builder::entries`]);
/// - `cores = N`, or `cores = "all"` for one per CPU this process may
///   run on: the body runs on `N` pinned cores ([`cores()`]), once on
///   each; it must then return `()` or `Result<(), E>` (`Send`), and
///   `main` returns the first error by core index.
///
/// A runtime that cannot start panics with the error.
///
/// ```no_run
/// #[coring::main]
/// async fn main() -> std::io::Result<()> {
///     coring::time::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
pub use coring_macros::main;

/// `#[test]` for an `async fn` on a coring runtime: `#[coring::test]`.
///
/// The options of [`macro@main`], and `backend = "all"`: the body runs
/// once on io_uring and once on epoll, in that order (the io_uring run is
/// skipped, saying why on stderr, where io_uring cannot be set up); it
/// must then return `()` or `Result<(), E>`. With the default
/// `backend = "auto"`, `CORING_BACKEND` decides, as for any runtime.
///
/// ```no_run
/// #[coring::test(backend = "all")]
/// async fn nop() {
///     coring::io::nop().await.unwrap();
/// }
/// ```
pub use coring_macros::test;

#[doc(hidden)]
pub mod __private;
