//! coring: a thread-per-core async runtime for Linux built on io_uring.
//!
//! Each core runs its own [`Runtime`]: tasks push reads, writes and the
//! rest onto the kernel's submission ring, the runtime parks on the
//! completion ring, and futures resolve from completion entries instead of
//! polling for readiness.
//!
//! This facade re-exports the runtime core (`coring-runtime`) at its
//! root, and the `coring-net` and `coring-fs` crates as the [`net`] and
//! [`fs`] modules.
//!
//! # Features
//!
//! - `compat`: tokio's and futures-io's `AsyncRead`/`AsyncWrite` for
//!   coring's streams, in `net::compat` (hyper runs on them).
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

// `net` and `fs` are modules of this crate holding the other crates'
// items, not `pub use coring_net as net`: rustc names an item reached
// through a re-exported crate by the crate's own name, and told users to
// `use coring::coring_fs::IoBuf`, a path that does not exist.

pub mod fs {
    //! Files and directories over io_uring: everything of the `coring-fs`
    //! crate.
    //!
    //! [`File`] reads and writes with owned buffers: `file.read_at(buf,
    //! pos)` takes the buffer and gives it back with the result. Opens,
    //! stats, fsyncs, renames and the other path calls are ops on the ring
    //! too; directory listing and [`copy`] run on the blocking pool.
    //! O_DIRECT files take an [`AlignedBuf`]. The crate's own page,
    //! [`coring_fs`], lists each call and the op behind it.
    //!
    //! ```
    //! coring::start(async {
    //!     let path = std::env::temp_dir().join(format!("coring-facade-fs-{}", std::process::id()));
    //!     coring::fs::write(&path, "hello").await?;
    //!     let file = coring::fs::File::open(&path).await?;
    //!     let (res, buf) = file.read_at(Vec::with_capacity(16), 0).await;
    //!     assert_eq!(&buf[..res?], b"hello");
    //!     coring::fs::remove_file(&path).await
    //! })
    //! .unwrap()
    //! .unwrap();
    //! ```
    #[doc(inline)]
    pub use coring_fs::*;
}

pub mod net {
    //! Sockets over io_uring: everything of the `coring-net` crate.
    //!
    //! TCP ([`TcpListener`], [`TcpStream`]), UDP ([`UdpSocket`]) and Unix
    //! sockets. Every read, write, accept and connect is an op on the
    //! current core's ring, with owned buffers: `stream.read(buf)` takes
    //! the buffer and gives it back with the result. With the `compat`
    //! feature, `compat` adapts streams to tokio's and futures-io's
    //! `AsyncRead`/`AsyncWrite`. The crate's own page,
    //! [`coring_net`], says more.
    #[doc(inline)]
    pub use coring_net::*;
}

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
