//! IORING_OP_TIMEOUT: a timer in the ring. See io_uring_prep_timeout(3).
//!
//! coring's own timers ([`crate::time`]) do not use this op: they bound
//! the wait of the runtime's one enter per turn, which costs no SQE. This
//! op is for code that wants the kernel to time out, e.g. to link it.

use super::{Completion, OpCode};
use io_uring::{opcode, squeue, types};
use std::io;
use std::time::Duration;

/// Completes after a relative duration. The timespec is boxed: the kernel
/// reads it from that address after the push.
#[derive(Debug)]
pub struct Timeout {
    ts: Box<types::Timespec>,
}

impl Timeout {
    /// A timeout of `dur`.
    #[inline]
    pub fn new(dur: Duration) -> Self {
        Timeout {
            ts: Box::new(
                types::Timespec::new()
                    .sec(dur.as_secs())
                    .nsec(dur.subsec_nanos()),
            ),
        }
    }
}

// SAFETY: the SQE points at the boxed timespec, owned by `self`, whose
// address does not change when `self` moves.
unsafe impl OpCode for Timeout {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::Timeout::new(&*self.ts).build()
    }

    /// `ETIME` is the timer firing: `Ok(())`. `ECANCELED` means it was
    /// cancelled.
    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        match cqe.result() {
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            other => other.map(drop),
        }
    }
}
