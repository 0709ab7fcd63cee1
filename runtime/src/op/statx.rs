//! IORING_OP_STATX: file metadata, by path or by fd. See statx(2).

use super::path::cstring;
use super::{Completion, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::path::Path;

/// A `statx(2)` call. The op owns the path and the `statx` buffer (boxed,
/// so the address the kernel writes to does not move) until its CQE.
pub struct Statx {
    fd: Option<SharedFd>,
    path: CString,
    flags: i32,
    mask: u32,
    buf: Box<libc::statx>,
}

impl Statx {
    /// Metadata of `path`. With `follow_symlinks == false` a symlink
    /// itself is described (`AT_SYMLINK_NOFOLLOW`). `mask` is the
    /// `STATX_*` fields wanted; the kernel may fill more or fewer (see
    /// `stx_mask`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the path contains a NUL byte.
    pub fn path(path: &Path, follow_symlinks: bool, mask: u32) -> io::Result<Self> {
        let flags = if follow_symlinks {
            0
        } else {
            libc::AT_SYMLINK_NOFOLLOW
        };
        Ok(Statx::with(None, cstring(path)?, flags, mask))
    }

    /// Metadata of the open file `fd` (`AT_EMPTY_PATH`).
    pub fn fd(fd: &SharedFd, mask: u32) -> Self {
        Statx::with(
            Some(fd.clone()),
            CString::default(),
            libc::AT_EMPTY_PATH,
            mask,
        )
    }

    fn with(fd: Option<SharedFd>, path: CString, flags: i32, mask: u32) -> Self {
        Statx {
            fd,
            path,
            flags,
            mask,
            // SAFETY: `statx` is plain integers; all-zero bytes is a valid
            // value of it.
            buf: Box::new(unsafe { std::mem::zeroed() }),
        }
    }
}

// SAFETY: the SQE points at `path` (a CString's heap block) and at `buf`
// (a Box): neither moves with `self`, both live until the CQE; the fd is
// held open by the SharedFd clone.
unsafe impl OpCode for Statx {
    type Output = io::Result<libc::statx>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        let dirfd = self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw);
        let buf: *mut libc::statx = &mut *self.buf;
        opcode::Statx::new(types::Fd(dirfd), self.path.as_ptr(), buf.cast())
            .flags(self.flags)
            .mask(self.mask)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<libc::statx> {
        cqe.result()?;
        Ok(*self.buf)
    }
}
