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

    /// Registers `iovecs` as the ring's fixed buffers, in slots
    /// `0..iovecs.len()`: updates into the ring's table (made sparse, of
    /// every slot, by the first pool), or, where the kernel lacks that, a
    /// table of their own, replacing one a pool left (see
    /// [`release_buffers`]). On epoll fixed buffers are plain buffers:
    /// nothing to register.
    ///
    /// # Errors
    ///
    /// `EBUSY` while a pool holds the table; the kernel's error otherwise.
    ///
    /// # Safety
    ///
    /// Every iovec describes memory that stays valid, and is written only
    /// by ops that name its index, until [`release_buffers`] returns true.
    ///
    /// [`release_buffers`]: Driver::release_buffers
    pub(crate) unsafe fn register_buffers(&self, iovecs: &[libc::iovec]) -> io::Result<()> {
        register_fault()?;
        let ring = match &self.kernel {
            Kernel::Uring(ring) => ring,
            Kernel::Epoll(e) => return e.register_buffers(),
        };
        let mut table = self.buf_table.get();
        if table.held {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        let n = iovecs.len() as u32;
        if table.slots == 0 {
            // The first pool: a sparse table of every slot a ring can have
            // (5.19), so no later pool needs it replaced, which waits
            // (see release_buffers). Older kernels, or no memory for it:
            // a table of this pool's size.
            let max = crate::buf::MAX_FIXED_BUFFERS as u32;
            if ring.submitter().register_buffers_sparse(max).is_ok() {
                table.slots = max;
                self.buf_table.set(table);
            }
        }
        if table.slots >= n {
            // SAFETY: the caller keeps the memory valid until
            // release_buffers says the table no longer names it.
            match unsafe { self.update_buffers(0, iovecs) } {
                Ok(()) => {
                    self.buf_table.set(RingTable {
                        slots: table.slots,
                        held: true,
                    });
                    return Ok(());
                }
                // No IORING_REGISTER_BUFFERS_UPDATE: a table of the old
                // kind, replaced below.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        if table.slots > 0 {
            self.run_task_work();
            ring.submitter().unregister_buffers()?;
            self.buf_table.set(RingTable::default());
        }
        // SAFETY: the caller keeps the memory valid until release_buffers
        // says the table no longer names it.
        unsafe { ring.submitter().register_buffers(iovecs) }?;
        self.buf_table.set(RingTable {
            slots: n,
            held: true,
        });
        Ok(())
    }

    /// The pool that registered `count` buffers is gone (no op names them):
    /// the table stops naming its memory. Returns whether it did, so the
    /// memory may be freed; false leaves it to be leaked.
    ///
    /// The table itself stays registered, its slots emptied with
    /// IORING_REGISTER_BUFFERS_UPDATE (5.13), which never waits. An
    /// unregister waits until no request holds the ring's resource node;
    /// on 6.1 a SEND_ZC notification holds it until task work that, with
    /// DEFER_TASKRUN, only this thread runs, and the waiting unregister
    /// does not run it: it waits for ever (docs/KERNELS.md). Kernels
    /// without the update (before 5.13: no SEND_ZC, no DEFER_TASKRUN)
    /// unregister.
    pub(crate) fn release_buffers(&self, count: usize) -> bool {
        let ring = match &self.kernel {
            Kernel::Uring(ring) => ring,
            Kernel::Epoll(e) => return e.unregister_buffers().is_ok(),
        };
        let table = self.buf_table.get();
        // SAFETY: empty iovecs name no memory.
        if unsafe { self.update_buffers(0, &empty_iovecs(count)) }.is_ok() {
            self.buf_table.set(RingTable {
                slots: table.slots,
                held: false,
            });
            return true;
        }
        self.run_task_work();
        if ring.submitter().unregister_buffers().is_err() {
            return false;
        }
        self.buf_table.set(RingTable::default());
        true
    }

    /// Sets fixed-buffer slots `offset..offset + iovecs.len()` to
    /// `iovecs` (IORING_REGISTER_BUFFERS_UPDATE): all of them, or, when the
    /// kernel took only some, none (those are emptied again) and an error.
    ///
    /// # Safety
    ///
    /// As for [`register_buffers`](Driver::register_buffers).
    unsafe fn update_buffers(&self, offset: u32, iovecs: &[libc::iovec]) -> io::Result<()> {
        let up = RsrcUpdate2 {
            offset,
            resv: 0,
            data: iovecs.as_ptr() as u64,
            tags: 0,
            nr: iovecs.len() as u32,
            resv2: 0,
        };
        // SAFETY: io_uring_register(2) with IORING_REGISTER_BUFFERS_UPDATE
        // reads one io_uring_rsrc_update2, which `up` is, and the iovecs it
        // points to, for the call; the caller keeps their memory valid.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.ring_fd(),
                IORING_REGISTER_BUFFERS_UPDATE,
                &up as *const RsrcUpdate2,
                std::mem::size_of::<RsrcUpdate2>() as libc::c_uint,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let done = r as usize;
        if done == iovecs.len() {
            return Ok(());
        }
        // The slot after the `done` first failed: empty those again, and
        // report the kernel's error for that slot alone.
        // SAFETY: empty iovecs name no memory. A failure here leaves slots
        // naming memory the caller keeps: it frees only after a
        // release_buffers that succeeded.
        let _ = unsafe { self.update_buffers(offset, &empty_iovecs(done)) };
        let failed = offset + done as u32;
        // SAFETY: as for the whole update, for one of its iovecs.
        Err(
            match unsafe { self.update_buffers(failed, &iovecs[done..=done]) } {
                Err(e) => e,
                Ok(()) => {
                    // SAFETY: empty iovecs name no memory.
                    let _ = unsafe { self.update_buffers(failed, &empty_iovecs(1)) };
                    io::Error::other(format!(
                        "coring: the kernel took {done} of {} fixed buffers",
                        iovecs.len()
                    ))
                }
            },
        )
    }

    /// Runs the ring's deferred task work (DEFER_TASKRUN: only an enter
    /// with GETEVENTS runs it) before a table is unregistered, so the
    /// unregister does not wait on work this thread was meant to run.
    fn run_task_work(&self) {
        if !self.flags.defer_taskrun {
            return;
        }
        // SAFETY: io_uring_enter(2) on our ring: nothing to submit, no
        // wait, no argument.
        unsafe {
            super::io_uring_enter(
                self.enter_fd,
                0,
                0,
                super::IORING_ENTER_GETEVENTS | self.enter_flags,
                std::ptr::null(),
                0,
            )
        };
    }

    /// Registers an empty file table of `slots` entries (5.19; before that,
    /// a table of -1 entries, 5.13). A table a [`FileTable`] left (see
    /// [`release_files`]) is taken again when it has room (its slots are
    /// empty), else unregistered first.
    ///
    /// # Errors
    ///
    /// `EBUSY` while a `FileTable` holds the table; the kernel's error
    /// otherwise.
    ///
    /// [`FileTable`]: crate::registered::FileTable
    /// [`release_files`]: Driver::release_files
    pub(crate) fn register_files_sparse(&self, slots: u32) -> io::Result<()> {
        register_fault()?;
        let s = match &self.kernel {
            Kernel::Uring(ring) => ring.submitter(),
            Kernel::Epoll(e) => return e.register_files(slots),
        };
        let table = self.file_table.get();
        if table.held {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        if table.slots >= slots {
            self.file_table.set(RingTable {
                slots: table.slots,
                held: true,
            });
            return Ok(());
        }
        if table.slots > 0 {
            self.run_task_work();
            s.unregister_files()?;
            self.file_table.set(RingTable::default());
        }
        match s.register_files_sparse(slots) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let fds = vec![-1; slots as usize];
                s.register_files(&fds)
            }
            r => r,
        }?;
        self.file_table.set(RingTable { slots, held: true });
        Ok(())
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

    /// The `FileTable` of `slots` slots is gone (no op names a slot): its
    /// slots are emptied (IORING_REGISTER_FILES_UPDATE, which never
    /// waits) and the table stays registered for the next one. Not
    /// unregistered, for the reason [`release_buffers`] gives; if the
    /// update fails, unregistered.
    ///
    /// [`release_buffers`]: Driver::release_buffers
    pub(crate) fn release_files(&self, slots: u32) {
        let s = match &self.kernel {
            Kernel::Uring(ring) => ring.submitter(),
            Kernel::Epoll(e) => {
                let _ = e.unregister_files();
                return;
            }
        };
        let table = self.file_table.get();
        let fds = vec![-1; slots as usize];
        if s.register_files_update(0, &fds).ok() == Some(fds.len()) {
            self.file_table.set(RingTable {
                slots: table.slots,
                held: false,
            });
            return;
        }
        self.run_task_work();
        if s.unregister_files().is_ok() {
            self.file_table.set(RingTable::default());
        }
    }
}

/// A resource table of the ring (fixed buffers or files): how many slots
/// the kernel has (0: none registered), and whether a pool or
/// `FileTable` holds it. A table whose holder went stays registered with
/// every slot empty, for the next one.
#[derive(Clone, Copy, Default)]
pub(crate) struct RingTable {
    slots: u32,
    held: bool,
}

/// IORING_REGISTER_BUFFERS_UPDATE (5.13).
const IORING_REGISTER_BUFFERS_UPDATE: libc::c_uint = 16;

/// `struct io_uring_rsrc_update2`.
#[repr(C)]
struct RsrcUpdate2 {
    offset: u32,
    resv: u32,
    data: u64,
    tags: u64,
    nr: u32,
    resv2: u32,
}

/// `n` iovecs that name no memory: empty fixed-buffer slots.
fn empty_iovecs(n: usize) -> Vec<libc::iovec> {
    vec![
        libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        n
    ]
}
