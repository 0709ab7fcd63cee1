//! `Offload<T>`: any op, submitted with IOSQE_ASYNC.
//!
//! The kernel then runs the op on its io-wq worker threads instead of
//! trying it inline first. For O_DIRECT on a device that rewards parallel
//! submission this trades CPU for IOPS (measurements: `docs/BENCHMARKS.md`
//! in the repository). For page-cache I/O and sockets it only costs.
//!
//! A wrapper rather than a flag on every op, so ops submitted the plain
//! way pay nothing for it.

use super::{Completion, OpCode};
use io_uring::squeue;

/// `T`, submitted with IOSQE_ASYNC.
///
/// # Examples
///
/// ```
/// use coring_runtime::op::{Nop, Offload, Op};
/// coring_runtime::start(async {
///     Op::submit(Offload(Nop)).await.unwrap();
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Offload<T>(pub T);

// SAFETY: the SQE is `T`'s, with one more flag that changes where the
// kernel runs it, not what memory it touches; `T` keeps that memory as its
// own contract says, and gets its CQE back the same way.
unsafe impl<T: OpCode> OpCode for Offload<T> {
    type Output = T::Output;

    const PROBE: Option<super::Feature> = T::PROBE;

    #[inline]
    fn known_result(&self) -> Option<i32> {
        self.0.known_result()
    }

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        self.0.build().flags(squeue::Flags::ASYNC)
    }

    #[inline]
    fn complete(self, cqe: Completion) -> T::Output {
        self.0.complete(cqe)
    }

    fn abandoned(self, cqe: Completion) {
        self.0.abandoned(cqe)
    }
}
