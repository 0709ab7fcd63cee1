//! IORING_OP_SYNC_FILE_RANGE: start or wait for writeback of a byte range.
//! See sync_file_range(2).

use super::{Completion, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;

/// `sync_file_range(2)` over `offset..offset + len` with
/// `SYNC_FILE_RANGE_*` flags. `len == 0` means "to the end of the file".
/// It does not flush metadata nor the device cache: it is not a
/// durability guarantee (use [`Fsync`](super::Fsync) for that).
#[derive(Debug)]
pub struct SyncFileRange {
    fd: SharedFd,
    offset: u64,
    len: u32,
    flags: u32,
}

impl SyncFileRange {
    /// The range and the `libc::SYNC_FILE_RANGE_*` flags.
    #[inline]
    pub fn new(fd: &SharedFd, offset: u64, len: u32, flags: u32) -> Self {
        SyncFileRange {
            fd: fd.clone(),
            offset,
            len,
            flags,
        }
    }
}

// SAFETY: the SQE carries an fd, held open by the SharedFd clone, and no
// pointer.
unsafe impl OpCode for SyncFileRange {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::SyncFileRange::new(types::Fd(self.fd.raw()), self.len)
            .offset(self.offset)
            .flags(self.flags)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
