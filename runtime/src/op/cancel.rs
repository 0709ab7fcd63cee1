//! IORING_OP_ASYNC_CANCEL: cancel an op by its user_data. The runtime
//! sends these itself when an op's future is dropped ([`Op::cancel`] is
//! the public way); this op is for users who track user_data themselves.
//!
//! [`Op::cancel`]: super::Op::cancel

use super::{Completion, OpCode};
use io_uring::{opcode, squeue};
use std::io;

/// Cancels the op with `user_data` (see [`Op::user_data`]). Completes with
/// `Ok(())` when it found and cancelled the op, `ENOENT` when no such op
/// was in flight, `EALREADY` when it was already running.
///
/// [`Op::user_data`]: super::Op::user_data
#[derive(Debug, Clone, Copy)]
pub struct AsyncCancel {
    target: u64,
}

impl AsyncCancel {
    /// Cancels the op with `user_data`.
    #[inline]
    pub fn new(user_data: u64) -> Self {
        AsyncCancel { target: user_data }
    }
}

// SAFETY: the SQE carries only the target's user_data, no pointer.
unsafe impl OpCode for AsyncCancel {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::AsyncCancel::new(self.target).build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
