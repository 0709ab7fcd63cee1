//! IORING_OP_UNLINKAT: remove a file or an empty directory. See
//! unlinkat(2).

use super::path::cstring;
use super::{Completion, OpCode};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::path::Path;

/// Removes a file (`unlink(2)`) or, with `dir`, an empty directory
/// (`rmdir(2)`). The op owns the path until its CQE.
#[derive(Debug)]
pub struct UnlinkAt {
    path: CString,
    flags: i32,
}

impl UnlinkAt {
    /// Removes the file `path`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the path contains a NUL byte.
    pub fn file(path: &Path) -> io::Result<Self> {
        Ok(UnlinkAt {
            path: cstring(path)?,
            flags: 0,
        })
    }

    /// Removes the empty directory `path` (`AT_REMOVEDIR`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the path contains a NUL byte.
    pub fn dir(path: &Path) -> io::Result<Self> {
        Ok(UnlinkAt {
            path: cstring(path)?,
            flags: libc::AT_REMOVEDIR,
        })
    }
}

// SAFETY: the SQE points at `path`, a CString's heap block, which does not
// move with `self` and lives until the CQE.
unsafe impl OpCode for UnlinkAt {
    type Output = io::Result<()>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
