//! IORING_OP_MKDIRAT: create a directory. See mkdirat(2).

use super::path::cstring;
use super::{Completion, OpCode};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::path::Path;

/// Creates the directory `path` with `mode` (less the umask). The op owns
/// the path until its CQE.
#[derive(Debug)]
pub struct MkDirAt {
    path: CString,
    mode: u32,
}

impl MkDirAt {
    /// A `mkdir(2)` of `path`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the path contains a NUL byte.
    #[inline]
    pub fn new(path: &Path, mode: u32) -> io::Result<Self> {
        Ok(MkDirAt {
            path: cstring(path)?,
            mode,
        })
    }
}

// SAFETY: the SQE points at `path`, a CString's heap block, which does not
// move with `self` and lives until the CQE.
unsafe impl OpCode for MkDirAt {
    type Output = io::Result<()>;
    const PROBE: Option<super::Feature> = Some(super::Feature::MKDIRAT);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
