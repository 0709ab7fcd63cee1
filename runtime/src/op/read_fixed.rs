//! IORING_OP_READ_FIXED: read into a registered buffer. See
//! io_uring_enter(2) and io_uring_register(2) (IORING_REGISTER_BUFFERS).

use super::{Completion, OpCode};
use crate::buf::{BufResult, FixedBuf, IoBufMut};
use crate::registered::FileRef;
use io_uring::{opcode, squeue, types};
use std::io;

/// A read of up to `buf.capacity()` bytes at `offset` into a [`FixedBuf`],
/// on a plain or a registered file. On success the buffer's length is the
/// count read.
///
/// A buffer or a registered file of another runtime is refused with
/// `InvalidInput` (a NOP goes through the ring instead; the buffer comes
/// back as always).
pub struct ReadFixed {
    file: FileRef,
    buf: FixedBuf,
    offset: u64,
    refused: Option<io::Error>,
}

impl ReadFixed {
    /// A read at `offset` (`u64::MAX`: the file's position).
    #[inline]
    pub fn new(file: impl Into<FileRef>, buf: FixedBuf, offset: u64) -> Self {
        let file = file.into();
        let refused = check(&file, &buf).err();
        ReadFixed {
            file,
            buf,
            offset,
            refused,
        }
    }
}

/// Fixed buffers and registered slots name entries of one ring's tables.
#[inline]
pub(crate) fn check(file: &FileRef, buf: &FixedBuf) -> io::Result<()> {
    file.check_runtime()?;
    if !buf.is_of_current_runtime() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "coring: this fixed buffer belongs to another runtime's ring",
        ));
    }
    Ok(())
}

// SAFETY: the SQE points into `buf`, a registered buffer whose memory is
// held by its pool while `self` holds it; the fd (or slot) is held open by
// the FileRef clone. A refused op builds a NOP, which points at nothing.
unsafe impl OpCode for ReadFixed {
    type Output = BufResult<usize, FixedBuf>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        if self.refused.is_some() {
            return opcode::Nop::new().build();
        }
        let index = self.buf.buf_index();
        let len = crate::buf::sqe_len(self.buf.capacity());
        let ptr = self.buf.stable_mut_ptr();
        match &self.file {
            FileRef::Fd(fd) => opcode::ReadFixed::new(types::Fd(fd.raw()), ptr, len, index)
                .offset(self.offset)
                .build(),
            FileRef::Registered(r) => {
                opcode::ReadFixed::new(types::Fixed(r.slot()), ptr, len, index)
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
        let res = cqe.result().map(|n| {
            let n = n as usize;
            self.buf.set_len(n);
            n
        });
        (res, self.buf)
    }
}
