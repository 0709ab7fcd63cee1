//! IORING_OP_FTRUNCATE: set a file's length. See ftruncate(2).
//!
//! The op is new in Linux 6.9. [`ftruncate`] probes the kernel once per
//! process and, on older kernels, runs `ftruncate(2)` on the runtime's
//! blocking pool instead.

use super::{Completion, Feature, Op, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::BorrowedFd;

/// `ftruncate(2)` through the ring (Linux 6.9+). On older kernels it
/// fails with [`Unsupported`](std::io::ErrorKind::Unsupported); use
/// [`ftruncate`] to get the fallback.
#[derive(Debug)]
pub struct Ftruncate {
    fd: SharedFd,
    len: u64,
}

impl Ftruncate {
    /// Sets the length of `fd` to `len`.
    #[inline]
    pub fn new(fd: &SharedFd, len: u64) -> Self {
        Ftruncate {
            fd: fd.clone(),
            len,
        }
    }

    /// Whether this kernel has IORING_OP_FTRUNCATE (the ring's opcode
    /// probe, read when the runtime was built).
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    pub fn is_supported() -> bool {
        Feature::FTRUNCATE.is_supported()
    }
}

// SAFETY: the SQE carries an fd, held open by the SharedFd clone, and no
// pointer.
unsafe impl OpCode for Ftruncate {
    type Output = io::Result<()>;
    const PROBE: Option<Feature> = Some(Feature::FTRUNCATE);

    #[inline]
    fn build(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.raw()), self.len).build()
    }

    #[inline]
    fn complete(self, cqe: Completion) -> io::Result<()> {
        cqe.result().map(drop)
    }
}

/// Sets the length of `fd` to `len`: IORING_OP_FTRUNCATE where the kernel
/// has it (6.9+), else `ftruncate(2)` on a duplicate of the fd in
/// [`spawn_blocking`](crate::spawn_blocking).
///
/// # Errors
///
/// The kernel's (`EINVAL` for a length over `i64::MAX`, `EBADF` or
/// `EINVAL` for a file not open for writing).
///
/// # Panics
///
/// Panics outside a coring runtime.
pub async fn ftruncate(fd: &SharedFd, len: u64) -> io::Result<()> {
    if Ftruncate::is_supported() {
        return Op::submit(Ftruncate::new(fd, len)).await;
    }
    // SAFETY: `fd` keeps the descriptor open for the whole borrow, which
    // ends before this statement does.
    let dup = unsafe { BorrowedFd::borrow_raw(fd.raw()) }.try_clone_to_owned()?;
    let job = crate::spawn_blocking(move || std::fs::File::from(dup).set_len(len));
    match job.await {
        Ok(r) => r,
        Err(e) => Err(io::Error::from(e)),
    }
}
