//! `Device<T>`: any op, marked as I/O that goes to a storage device.

use super::{Completion, OpCode};
use io_uring::squeue;

/// `T`, submitted as device I/O.
///
/// A turn runs every ready task and then hands the kernel all the SQEs
/// they pushed in one `io_uring_enter`. For reads from the page cache that
/// is the cheapest way. For O_DIRECT reads it means the device gets a
/// burst of, say, 32 requests, the first held back until the last is
/// pushed, and some devices serve such bursts worse than a steady stream
/// (measurements: `docs/BENCHMARKS.md` in the repository). Ops marked
/// `Device` are submitted in groups of
/// [`Builder::device_batch`](crate::Builder::device_batch) (default 4) as
/// they are pushed; other ops wait for the end of the turn.
///
/// `coring::fs` marks the reads and writes of files opened with O_DIRECT.
/// A wrapper (a const on the op type), so other ops pay nothing for it.
///
/// # Examples
///
/// ```
/// use coring_runtime::op::{Device, Nop, Op};
/// coring_runtime::start(async {
///     Op::submit(Device(Nop)).await.unwrap();
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Device<T>(pub T);

// SAFETY: the SQE is `T`'s unchanged; only when it is submitted differs.
// `T` keeps its memory as its own contract says.
unsafe impl<T: OpCode> OpCode for Device<T> {
    type Output = T::Output;
    const DEVICE: bool = true;

    const PROBE: Option<super::Feature> = T::PROBE;

    #[inline]
    fn known_result(&self) -> Option<i32> {
        self.0.known_result()
    }

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        self.0.build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> T::Output {
        self.0.complete(cqe)
    }

    fn abandoned(self, cqe: Completion) {
        self.0.abandoned(cqe)
    }
}
