//! Registration of provided buffer rings (IORING_REGISTER_PBUF_RING, 5.19)
//! with the ring; the rings themselves live in `buf/ring.rs`.

use super::{register_fault, Driver};
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
        // SAFETY: forwarded from the caller.
        unsafe {
            self.ring
                .submitter()
                .register_buf_ring_with_flags(addr, entries, bgid, 0)
        }
    }

    /// Unregisters buffer group `bgid`: from its return on, the kernel
    /// touches neither the ring nor its buffers.
    pub(crate) fn unregister_pbuf_ring(&self, bgid: u16) -> io::Result<()> {
        self.ring.submitter().unregister_buf_ring(bgid)
    }
}
