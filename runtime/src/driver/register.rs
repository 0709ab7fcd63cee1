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
    /// The opcodes the backend runs, a bit each: the kernel's probe
    /// (IORING_REGISTER_PROBE, 5.6, so every kernel coring runs on has
    /// it), or the emulator's list on epoll. When the probe is refused
    /// anyway (a restricted ring), every bit is set: the kernel then
    /// answers for itself, op by op.
    pub(super) fn read_probe(&self) -> [u64; 4] {
        let ring = match &self.kernel {
            Kernel::Uring(ring) => Some(ring),
            Kernel::Epoll(_) => None,
        };
        let mut probe = Probe::new();
        if let Some(ring) = ring {
            if register_fault().is_err() || ring.submitter().register_probe(&mut probe).is_err() {
                return [u64::MAX; 4];
            }
        }
        let mut bits = [0u64; 4];
        for code in 0..=u8::MAX {
            let known = match ring {
                Some(_) => probe.is_supported(code),
                None => epoll::supports(code),
            };
            if known {
                bits[usize::from(code >> 6)] |= 1 << (code & 63);
            }
        }
        bits
    }

    /// Whether the kernel knows `opcode`: a lookup in the bitmap read
    /// when the ring was built.
    #[inline]
    pub(crate) fn has_opcode(&self, opcode: u8) -> bool {
        self.opcodes[usize::from(opcode >> 6)] & (1 << (opcode & 63)) != 0
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
