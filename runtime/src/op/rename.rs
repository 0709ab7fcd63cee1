//! IORING_OP_RENAMEAT: rename a file or directory. See renameat2(2).

use super::path::cstring;
use super::{Completion, OpCode};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::path::Path;

/// Renames `from` to `to`, replacing `to` if it exists (as `rename(2)`).
/// The op owns both paths until its CQE.
#[derive(Debug)]
pub struct RenameAt {
    from: CString,
    to: CString,
    flags: u32,
}

impl RenameAt {
    /// A rename with `renameat2(2)` flags (`libc::RENAME_*`, 0 for none).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a path contains a NUL byte.
    #[inline]
    pub fn new(from: &Path, to: &Path, flags: u32) -> io::Result<Self> {
        Ok(RenameAt {
            from: cstring(from)?,
            to: cstring(to)?,
            flags,
        })
    }
}

// SAFETY: the SQE points at two CStrings' heap blocks, which do not move
// with `self` and live until the CQE.
unsafe impl OpCode for RenameAt {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr())
            .flags(self.flags)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
