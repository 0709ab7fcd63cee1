//! IORING_OP_LINKAT and IORING_OP_SYMLINKAT: hard and symbolic links. See
//! linkat(2), symlinkat(2).

use super::path::cstring;
use super::{Completion, OpCode};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::path::Path;

/// Makes `link` a new name (hard link) for the existing file `original`.
/// A symlink `original` is not followed (as `link(2)` on Linux). The op
/// owns both paths until its CQE.
#[derive(Debug)]
pub struct LinkAt {
    original: CString,
    link: CString,
}

impl LinkAt {
    /// A `linkat(2)` from `original` to `link`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a path contains a NUL byte.
    #[inline]
    pub fn new(original: &Path, link: &Path) -> io::Result<Self> {
        Ok(LinkAt {
            original: cstring(original)?,
            link: cstring(link)?,
        })
    }
}

// SAFETY: the SQE points at two CStrings' heap blocks, which do not move
// with `self` and live until the CQE.
unsafe impl OpCode for LinkAt {
    type Output = io::Result<()>;
    const PROBE: Option<super::Feature> = Some(super::Feature::LINKAT);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::LinkAt::new(cwd, self.original.as_ptr(), cwd, self.link.as_ptr()).build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}

/// Makes `link` a symbolic link whose content is `target` (which need not
/// exist). The op owns both strings until its CQE.
#[derive(Debug)]
pub struct SymlinkAt {
    target: CString,
    link: CString,
}

impl SymlinkAt {
    /// A `symlinkat(2)`: `link` will point at `target`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a path contains a NUL byte.
    #[inline]
    pub fn new(target: &Path, link: &Path) -> io::Result<Self> {
        Ok(SymlinkAt {
            target: cstring(target)?,
            link: cstring(link)?,
        })
    }
}

// SAFETY: the SQE points at two CStrings' heap blocks, which do not move
// with `self` and live until the CQE.
unsafe impl OpCode for SymlinkAt {
    type Output = io::Result<()>;
    const PROBE: Option<super::Feature> = Some(super::Feature::SYMLINKAT);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::SymlinkAt::new(
            types::Fd(libc::AT_FDCWD),
            self.target.as_ptr(),
            self.link.as_ptr(),
        )
        .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}
