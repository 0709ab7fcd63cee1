//! io_uring_register(2) calls the optional per-ring resources need: the
//! opcode probe, the fixed-buffer table, the registered-file table. On
//! the epoll backend the emulator keeps the same tables itself.
//!
//! They run on the ring's own thread (the ring may be SINGLE_ISSUER) and
//! never touch the SQ or CQ.

use super::{epoll, register_fault, Driver, Kernel};
use io_uring::Probe;
use std::io;
use std::os::fd::RawFd;

impl Driver {
    /// Whether the backend runs `opcode` (IORING_REGISTER_PROBE, 5.6; on
    /// epoll, the emulator's list). A kernel without the probe answers
    /// "no" for everything.
    pub(crate) fn probe_opcode(&self, opcode: u8) -> bool {
        let ring = match &self.kernel {
            Kernel::Uring(ring) => ring,
            Kernel::Epoll(_) => return epoll::supports(opcode),
        };
        let mut probe = Probe::new();
        if register_fault().is_err() {
            return false;
        }
        match ring.submitter().register_probe(&mut probe) {
            Ok(()) => probe.is_supported(opcode),
            Err(_) => false,
        }
    }

    /// Registers `iovecs` as the ring's fixed buffers. On epoll fixed
    /// buffers are plain buffers: nothing to register.
    ///
    /// # Safety
    ///
    /// Every iovec describes memory that stays valid, and is written only
    /// by ops that name its index, until [`unregister_buffers`] returns.
    ///
    /// [`unregister_buffers`]: Driver::unregister_buffers
    pub(crate) unsafe fn register_buffers(&self, iovecs: &[libc::iovec]) -> io::Result<()> {
        register_fault()?;
        match &self.kernel {
            // SAFETY: the caller keeps the memory valid until unregistration.
            Kernel::Uring(ring) => unsafe { ring.submitter().register_buffers(iovecs) },
            Kernel::Epoll(e) => e.register_buffers(),
        }
    }

    /// Drops the ring's fixed-buffer table.
    pub(crate) fn unregister_buffers(&self) -> io::Result<()> {
        match &self.kernel {
            Kernel::Uring(ring) => ring.submitter().unregister_buffers(),
            Kernel::Epoll(e) => e.unregister_buffers(),
        }
    }

    /// Registers an empty file table of `slots` entries (5.19; before that,
    /// a table of -1 entries, 5.13).
    pub(crate) fn register_files_sparse(&self, slots: u32) -> io::Result<()> {
        register_fault()?;
        let s = match &self.kernel {
            Kernel::Uring(ring) => ring.submitter(),
            Kernel::Epoll(e) => return e.register_files(slots),
        };
        match s.register_files_sparse(slots) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let fds = vec![-1; slots as usize];
                s.register_files(&fds)
            }
            r => r,
        }
    }

    /// Puts `fd` (or -1, to empty it) in file-table slot `slot`. The
    /// table takes its own reference to the file.
    pub(crate) fn update_file(&self, slot: u32, fd: RawFd) -> io::Result<()> {
        register_fault()?;
        match &self.kernel {
            Kernel::Uring(ring) => ring
                .submitter()
                .register_files_update(slot, &[fd])
                .map(drop),
            Kernel::Epoll(e) => e.update_file(slot, fd),
        }
    }

    /// Drops the ring's file table.
    pub(crate) fn unregister_files(&self) -> io::Result<()> {
        match &self.kernel {
            Kernel::Uring(ring) => ring.submitter().unregister_files(),
            Kernel::Epoll(e) => e.unregister_files(),
        }
    }
}
