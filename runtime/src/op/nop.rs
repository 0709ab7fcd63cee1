//! IORING_OP_NOP: a round trip through the ring that does nothing.

use super::{Completion, OpCode};
use io_uring::{opcode, squeue};
use std::io;

/// A no-op; completes with 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct Nop;

// SAFETY: a NOP's SQE points at no memory.
unsafe impl OpCode for Nop {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
