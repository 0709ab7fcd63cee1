//! IORING_OP_FSYNC: flush a file to its device. See fsync(2),
//! fdatasync(2).

use super::{Completion, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;

/// `fsync(2)`, or `fdatasync(2)` when `datasync`.
#[derive(Debug)]
pub struct Fsync {
    fd: SharedFd,
    datasync: bool,
}

impl Fsync {
    /// Flushes data and metadata (`datasync == false`), or data and only
    /// the metadata needed to read it back (`datasync == true`).
    #[inline]
    pub fn new(fd: &SharedFd, datasync: bool) -> Self {
        Fsync {
            fd: fd.clone(),
            datasync,
        }
    }
}

// SAFETY: the SQE carries an fd, held open by the SharedFd clone, and no
// pointer.
unsafe impl OpCode for Fsync {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let mut flags = types::FsyncFlags::empty();
        if self.datasync {
            flags |= types::FsyncFlags::DATASYNC;
        }
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
