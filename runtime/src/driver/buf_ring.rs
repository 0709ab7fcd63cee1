//! Registration of provided buffer rings (IORING_REGISTER_PBUF_RING, 5.19)
//! with the ring; the rings themselves live in `buf/ring.rs`.

use super::{register_fault, Driver, Kernel};
use std::io;

impl Driver {
    /// Registers the buffer ring at `addr` (`entries` entries, a power of
    /// two) as buffer group `bgid`.
    ///
    /// # Safety
    ///
    /// `addr` must point to `entries` page-aligned `io_uring_buf` entries
    /// that stay valid, and every buffer they name stay writable, until
    /// [`unregister_pbuf_ring`](Driver::unregister_pbuf_ring) returns or
    /// the ring is gone.
    pub(crate) unsafe fn register_pbuf_ring(
        &self,
        addr: u64,
        entries: u16,
        bgid: u16,
    ) -> io::Result<()> {
        register_fault()?;
        match &self.kernel {
            // SAFETY: forwarded from the caller.
            Kernel::Uring(ring) => unsafe {
                ring.submitter()
                    .register_buf_ring_with_flags(addr, entries, bgid, 0)
            },
            // The emulator reads the ring under the same contract.
            Kernel::Epoll(e) => e.register_buf_ring(addr, entries, bgid),
        }
    }

    /// Unregisters buffer group `bgid`: from its return on, the kernel
    /// touches neither the ring nor its buffers.
    pub(crate) fn unregister_pbuf_ring(&self, bgid: u16) -> io::Result<()> {
        match &self.kernel {
            Kernel::Uring(ring) => ring.submitter().unregister_buf_ring(bgid),
            Kernel::Epoll(e) => e.unregister_buf_ring(bgid),
        }
    }
}
