//! IORING_OP_FALLOCATE: allocate or punch out file space. See
//! fallocate(2).

use super::{Completion, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;

/// `fallocate(2)` of `offset..offset + len` with a mode
/// (`libc::FALLOC_FL_*`; 0 allocates and extends the file).
#[derive(Debug)]
pub struct Fallocate {
    fd: SharedFd,
    offset: u64,
    len: u64,
    mode: i32,
}

impl Fallocate {
    /// The range and mode.
    #[inline]
    pub fn new(fd: &SharedFd, offset: u64, len: u64, mode: i32) -> Self {
        Fallocate {
            fd: fd.clone(),
            offset,
            len,
            mode,
        }
    }
}

// SAFETY: the SQE carries an fd, held open by the SharedFd clone, and no
// pointer.
unsafe impl OpCode for Fallocate {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::Fallocate::new(types::Fd(self.fd.raw()), self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
