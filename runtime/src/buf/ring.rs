//! Provided buffer rings (IORING_REGISTER_PBUF_RING, 5.19): a pool of
//! equal buffers the kernel picks from when data arrives, so a receive
//! waiting on an idle connection holds no buffer at all.
//!
//! Rules:
//!
//! 1. The ring memory (a page-aligned array of `io_uring_buf`) and the
//!    buffers are allocated once, registered with the runtime's ring as a
//!    buffer group, and freed only after the group is unregistered.
//! 2. A buffer id is in exactly one place: in the ring (the kernel may
//!    fill it), or in a [`RingBuf`] given to the user (or held by an op's
//!    completion). So at most `entries` ids are ever in the ring.
//! 3. Dropping a [`RingBuf`] puts its id back: the entry is written at the
//!    local tail, then the tail is published with a release store, which
//!    the kernel reads with an acquire.
//! 4. Every op that names the group holds the ring (an `Rc`), so the
//!    group is unregistered only when no op can still pick from it.

use super::IoBuf;
use crate::context;
use crate::op::Feature;
use crate::runtime::Core;
use io_uring::types::BufRingEntry;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Waker;

/// The largest ring the kernel takes (2^15 entries).
pub const MAX_RING_ENTRIES: u16 = 1 << 15;

thread_local! {
    /// The next buffer group id to try on this thread's runtimes.
    static NEXT_BGID: Cell<u16> = const { Cell::new(0) };
}

/// A pool of `entries` buffers of `buf_len` bytes registered with the
/// current runtime's ring. Clones share the pool.
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     let ring = coring_runtime::buf::BufRing::new(64, 4096)?;
///     assert_eq!(ring.available(), 64);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct BufRing {
    inner: Rc<Inner>,
}

struct Inner {
    core: Rc<Core>,
    bgid: u16,
    entries: u16,
    buf_len: u32,
    ring: *mut BufRingEntry,
    ring_layout: Layout,
    bufs: *mut u8,
    bufs_layout: Layout,
    /// The tail as we know it (the kernel's copy is published from it).
    tail: Cell<u16>,
    /// Ids in the ring now.
    in_ring: Cell<u32>,
    /// Streams waiting for a buffer to come back (after ENOBUFS).
    waiters: RefCell<Vec<Waker>>,
    /// Whether `bgid` is registered (and must be unregistered on drop).
    registered: bool,
}

impl BufRing {
    /// Allocates `entries` buffers of `buf_len` bytes and registers them
    /// with the current runtime's ring as a new buffer group.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `entries` is not a power of two in
    /// 1..=32768 or `buf_len` is 0 or over `u32::MAX`; `OutOfMemory` when
    /// the allocation fails; the kernel's error (EINVAL before 5.19).
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    #[track_caller]
    pub fn new(entries: u16, buf_len: usize) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > MAX_RING_ENTRIES {
            return Err(invalid("ring entries must be a power of two up to 32768"));
        }
        let buf_len32 = u32::try_from(buf_len)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| invalid("buffer length must be in 1..=u32::MAX"))?;
        let ring_layout = Layout::from_size_align(
            usize::from(entries) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(|_| invalid("ring too large"))?;
        let bufs_layout = usize::from(entries)
            .checked_mul(buf_len)
            .and_then(|n| Layout::from_size_align(n, 64).ok())
            .ok_or_else(|| invalid("buffers too large"))?;
        // SAFETY: both layouts have a non-zero size (entries >= 1,
        // buf_len >= 1).
        let ring = unsafe { alloc_zeroed(ring_layout) } as *mut BufRingEntry;
        // SAFETY: as above.
        let bufs = unsafe { alloc_zeroed(bufs_layout) };
        let core = context::core_rc();
        let mut inner = Inner {
            core,
            bgid: 0,
            entries,
            buf_len: buf_len32,
            ring,
            ring_layout,
            bufs,
            bufs_layout,
            tail: Cell::new(0),
            in_ring: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
            registered: false,
        };
        if ring.is_null() || bufs.is_null() {
            // Inner's drop frees whichever was allocated.
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "could not allocate the buffer ring",
            ));
        }
        inner.bgid = inner.register()?;
        inner.registered = true;
        for bid in 0..entries {
            inner.push(bid);
        }
        inner.publish();
        Ok(BufRing {
            inner: Rc::new(inner),
        })
    }

    /// The buffer group id SQEs name (`IOSQE_BUFFER_SELECT`).
    pub fn bgid(&self) -> u16 {
        self.inner.bgid
    }

    /// The size of each buffer.
    pub fn buf_len(&self) -> usize {
        self.inner.buf_len as usize
    }

    /// How many buffers the kernel can pick from now.
    pub fn available(&self) -> usize {
        self.inner.in_ring.get() as usize
    }

    /// The number of buffers in the pool.
    pub fn entries(&self) -> usize {
        usize::from(self.inner.entries)
    }

    /// Takes the buffer the kernel picked, as a CQE said: id `bid`, `len`
    /// bytes filled.
    ///
    /// # Safety
    ///
    /// `bid` and `len` must come from a CQE of an op on this group with
    /// IORING_CQE_F_BUFFER set, each such CQE taken exactly once.
    pub(crate) unsafe fn take(&self, bid: u16, len: usize) -> RingBuf {
        let i = &self.inner;
        i.in_ring.set(i.in_ring.get().saturating_sub(1));
        RingBuf {
            ring: self.clone(),
            bid,
            len: len.min(i.buf_len as usize),
        }
    }

    /// Wakes `waker` when a buffer returns to the ring (or at once when
    /// one is there).
    pub fn wait_available(&self, waker: &Waker) -> bool {
        if self.available() > 0 {
            return true;
        }
        let mut w = self.inner.waiters.borrow_mut();
        if !w.iter().any(|x| x.will_wake(waker)) {
            w.push(waker.clone());
        }
        false
    }

    fn give_back(&self, bid: u16) {
        let i = &self.inner;
        i.push(bid);
        i.publish();
        let waiters = std::mem::take(&mut *i.waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }
}

impl Inner {
    fn register(&self) -> io::Result<u16> {
        let driver = self.core.driver.borrow();
        // Ids in use by other rings (or other code) answer EEXIST: try on.
        for _ in 0..=u16::MAX {
            let bgid = NEXT_BGID.with(|n| {
                let b = n.get();
                n.set(b.wrapping_add(1));
                b
            });
            // SAFETY: `ring` points to `entries` zeroed, page-aligned
            // entries and `bufs` to entries * buf_len bytes; both stay
            // allocated until Drop, which unregisters first (or leaks).
            let r = unsafe { driver.register_pbuf_ring(self.ring as u64, self.entries, bgid) };
            match r {
                Ok(()) => return Ok(bgid),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                Err(e)
                    if e.raw_os_error() == Some(libc::EINVAL)
                        && !driver.has_opcode(Feature::PBUF_RING.probe_opcode()) =>
                {
                    return Err(Feature::PBUF_RING.error())
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every buffer group id is in use",
        ))
    }

    /// Writes `bid` at the local tail (not yet visible to the kernel).
    fn push(&self, bid: u16) {
        let tail = self.tail.get();
        let idx = usize::from(tail & (self.entries - 1));
        // SAFETY: idx < entries, inside the ring allocation. The kernel only
        // reads entries between its head and the published tail, and this
        // one is past the published tail (rule 2: at most `entries` ids in
        // the ring, so the slot is free).
        let e = unsafe { &mut *self.ring.add(idx) };
        // SAFETY: bid < entries, so the buffer is inside `bufs`.
        let addr = unsafe { self.bufs.add(usize::from(bid) * self.buf_len as usize) };
        e.set_addr(addr as u64);
        e.set_len(self.buf_len);
        e.set_bid(bid);
        self.tail.set(tail.wrapping_add(1));
        self.in_ring.set(self.in_ring.get() + 1);
    }

    /// Makes the pushed entries visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved field,
        // inside the ring allocation, aligned for a u16; the kernel reads it
        // atomically.
        let tail = unsafe { &*(BufRingEntry::tail(self.ring) as *const AtomicU16) };
        tail.store(self.tail.get(), Ordering::Release);
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: bid < entries (ids come from the kernel's CQE for this
        // group, and it only hands out ids we pushed).
        unsafe { self.bufs.add(usize::from(bid) * self.buf_len as usize) }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.registered {
            // `new` failed before registering.
            free_raw(self.ring as *mut u8, self.ring_layout);
            free_raw(self.bufs, self.bufs_layout);
            return;
        }
        // No op holds the group any more (rule 4); unregister, then free.
        let unregistered = match self.core.driver.try_borrow() {
            Ok(d) => d.unregister_pbuf_ring(self.bgid).is_ok(),
            Err(_) => false,
        };
        if unregistered {
            free_raw(self.ring as *mut u8, self.ring_layout);
            free_raw(self.bufs, self.bufs_layout);
        }
        // Else leak: the kernel might still see the memory as ours.
    }
}

fn free_raw(p: *mut u8, layout: Layout) {
    if !p.is_null() {
        // SAFETY: `p` came from alloc_zeroed(layout) and is freed once.
        unsafe { dealloc(p, layout) };
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("bgid", &self.inner.bgid)
            .field("entries", &self.inner.entries)
            .field("buf_len", &self.inner.buf_len)
            .field("available", &self.inner.in_ring.get())
            .finish()
    }
}

/// A buffer from a [`BufRing`], filled by the kernel. It goes back to the
/// ring when dropped. Read it as a byte slice; send it with any write op
/// (it is an [`IoBuf`]).
pub struct RingBuf {
    ring: BufRing,
    bid: u16,
    len: usize,
}

impl RingBuf {
    /// The buffer id in its ring.
    pub fn bid(&self) -> u16 {
        self.bid
    }

    /// Copies the bytes out into a `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.deref().to_vec()
    }
}

impl Deref for RingBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the kernel filled `len` bytes of this buffer (len <=
        // buf_len), and while this RingBuf lives the id is not in the ring,
        // so nothing writes there.
        unsafe { std::slice::from_raw_parts(self.ring.inner.buf_ptr(self.bid), self.len) }
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        self.ring.give_back(self.bid);
    }
}

impl fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: the memory belongs to the ring's allocation, which the RingBuf
// keeps alive (it holds the ring); it is not in the ring while the RingBuf
// lives, so nothing else writes it; its address never changes.
unsafe impl IoBuf for RingBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ring.inner.buf_ptr(self.bid)
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}
