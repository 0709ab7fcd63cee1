//! IORING_OP_OPENAT: open a file by path. See openat(2).

use super::path::cstring;
use super::{Completion, OpCode};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// Opens `path` (relative paths from the current directory) with
/// `open(2)` flags and a creation mode. The op owns the path until its
/// CQE. `O_CLOEXEC` is always added.
///
/// If the future is dropped and the open completes anyway, the new fd is
/// closed, never leaked.
#[derive(Debug)]
pub struct OpenAt {
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpenAt {
    /// An open of `path` with `flags` (`libc::O_*`) and `mode` (used with
    /// `O_CREAT`/`O_TMPFILE`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the path contains a NUL byte.
    #[inline]
    pub fn new(path: &Path, flags: i32, mode: u32) -> io::Result<Self> {
        Ok(OpenAt {
            path: cstring(path)?,
            flags: flags | libc::O_CLOEXEC,
            mode,
        })
    }
}

/// The fd a successful open CQE carries.
fn owned_fd(cqe: Completion) -> io::Result<OwnedFd> {
    let fd = cqe.result()?;
    // SAFETY: a non-negative OPENAT result is a new fd that nothing else
    // owns; this is the only place that takes it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

// SAFETY: the SQE points at `path`, a CString whose heap block does not
// move with `self` and lives until the CQE.
unsafe impl OpCode for OpenAt {
    type Output = io::Result<OwnedFd>;

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<OwnedFd> {
        owned_fd(cqe)
    }

    fn abandoned(self, cqe: Completion) {
        // A late open whose future is gone: close the fd right here.
        drop(owned_fd(cqe));
    }
}
