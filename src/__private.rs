//! What `#[coring::main]` and `#[coring::test]` expand to call. Not a
//! public API: hidden, and free to change with the macros.

use crate::{Backend, BackendKind, Builder};
use std::fmt::Debug;
use std::future::Future;
use std::io;

/// Builds a runtime from `builder` and runs `fut` on it.
///
/// # Panics
///
/// When the runtime cannot be built, with the error.
pub fn block_on<F: Future>(builder: Builder, fut: F) -> F::Output {
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => panic!("coring: cannot start the runtime: {e}"),
    };
    rt.block_on(fut)
}

/// Runs `body` on `n` pinned cores built from `builder`, and combines
/// their outputs ([`CoresOutput`]).
///
/// # Panics
///
/// When the cores cannot start, or a core panicked (the panic's message is
/// printed by the core's thread).
pub fn run_cores<F, Fut>(n: usize, builder: Builder, body: F) -> Fut::Output
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: CoresOutput + Send + 'static,
{
    match crate::cores(n).builder(builder).run(move |_core| body()) {
        Ok(outs) => CoresOutput::combine(outs),
        Err(e) => panic!("coring: cores({n}): {e}"),
    }
}

/// `cores = "all"`: one core per CPU this process may run on (its
/// affinity mask, and a cgroup CPU quota where there is one).
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `run` with `builder` set to io_uring, then to epoll, and combines
/// the two outputs. The io_uring run is skipped, with a line on stderr,
/// where the host forbids io_uring or the kernel is too old (the errors
/// `Backend::Auto` falls back on); any other error panics.
pub fn each_backend<R: CoresOutput>(builder: Builder, mut run: impl FnMut(Builder) -> R) -> R {
    let mut outs = Vec::with_capacity(2);
    let uring = builder.clone().backend(Backend::IoUring);
    match uring.clone().build() {
        Ok(rt) => {
            debug_assert_eq!(rt.backend().kind(), BackendKind::IoUring);
            drop(rt);
            outs.push(run(uring));
        }
        // What `Backend::Auto` falls back on: the host forbids io_uring
        // or the kernel is too old.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::Unsupported
                    | io::ErrorKind::OutOfMemory
            ) =>
        {
            eprintln!("skipped on io_uring (backend = \"all\"): io_uring unavailable: {e}")
        }
        Err(e) => panic!("coring: cannot start the io_uring runtime: {e}"),
    }
    outs.push(run(builder.backend(Backend::Epoll)));
    R::combine(outs)
}

/// What a body run more than once (on several cores, or on each backend)
/// may return: `()`, or `Result<(), E>` (the first error wins).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a return type for a body that runs more than once",
    label = "with `cores = N` or `backend = \"all\"` the body returns `()` or `Result<(), E>`"
)]
pub trait CoresOutput: Sized {
    /// One output from several runs' outputs, in run order.
    fn combine(outs: Vec<Self>) -> Self;
}

impl CoresOutput for () {
    fn combine(_: Vec<()>) {}
}

impl<E: Debug> CoresOutput for Result<(), E> {
    fn combine(outs: Vec<Self>) -> Self {
        outs.into_iter().collect()
    }
}
