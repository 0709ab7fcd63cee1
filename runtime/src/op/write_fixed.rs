//! IORING_OP_WRITE_FIXED: write from a registered buffer. See
//! io_uring_enter(2) and io_uring_register(2) (IORING_REGISTER_BUFFERS).

use super::read_fixed::check;
use super::{Completion, OpCode};
use crate::buf::{BufResult, FixedBuf, IoBuf};
use crate::registered::FileRef;
use io_uring::{opcode, squeue, types};
use std::io;

/// A write of the [`FixedBuf`]'s `len()` bytes at `offset`, on a plain or
/// a registered file. May be short; the count comes back.
///
/// A buffer or a registered file of another runtime is refused with
/// `InvalidInput` (a NOP goes through the ring instead; the buffer comes
/// back as always).
pub struct WriteFixed {
    file: FileRef,
    buf: FixedBuf,
    offset: u64,
    refused: Option<io::Error>,
}

impl WriteFixed {
    /// A write at `offset` (`u64::MAX`: the file's position).
    #[inline]
    pub fn new(file: impl Into<FileRef>, buf: FixedBuf, offset: u64) -> Self {
        let file = file.into();
        let refused = check(&file, &buf).err();
        WriteFixed {
            file,
            buf,
            offset,
            refused,
        }
    }
}

// SAFETY: the SQE points into `buf`, a registered buffer whose memory is
// held by its pool while `self` holds it; the fd (or slot) is held open by
// the FileRef clone. A refused op builds a NOP, which points at nothing.
unsafe impl OpCode for WriteFixed {
    type Output = BufResult<usize, FixedBuf>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        if self.refused.is_some() {
            return opcode::Nop::new().build();
        }
        let index = self.buf.buf_index();
        let len = crate::buf::sqe_len(self.buf.bytes_init());
        let ptr = self.buf.stable_ptr();
        match &self.file {
            FileRef::Fd(fd) => opcode::WriteFixed::new(types::Fd(fd.raw()), ptr, len, index)
                .offset(self.offset)
                .build(),
            FileRef::Registered(r) => {
                opcode::WriteFixed::new(types::Fixed(r.slot()), ptr, len, index)
                    .offset(self.offset)
                    .build()
            }
        }
    }

    #[inline]
    fn complete(mut self, cqe: Completion) -> BufResult<usize, FixedBuf> {
        if let Some(e) = self.refused.take() {
            return (Err(e), self.buf);
        }
        (cqe.result().map(|n| n as usize), self.buf)
    }
}
