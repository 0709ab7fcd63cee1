//! Fixed buffers: a pool of buffers registered with the ring
//! (IORING_REGISTER_BUFFERS), for READ_FIXED and WRITE_FIXED.
//!
//! Registering pins the pages once, so the kernel skips mapping the user
//! buffer on every op. The pool belongs to one runtime (one ring): its
//! buffers can go through plain ops anywhere, but fixed ops only on that
//! ring, which [`ReadFixed`](crate::op::ReadFixed) checks.
//!
//! Rules:
//!
//! 1. A ring has at most one fixed-buffer table; a second pool on the same
//!    runtime is refused (`EBUSY`) until the first is dropped.
//! 2. Each buffer is handed out as one [`FixedBuf`] at a time; an op owns
//!    it until its CQE, and its drop gives the index back to the pool.
//! 3. Every `FixedBuf` and every op holds the pool's memory alive. The
//!    memory is freed only after the ring's table no longer names it: its
//!    slots emptied (IORING_REGISTER_BUFFERS_UPDATE, which never waits;
//!    the emptied table stays for the runtime's next pool) or, on kernels
//!    before 5.13, the table unregistered. If that fails the memory is
//!    leaked, never freed under the kernel.

use super::{IoBuf, IoBufMut};
use crate::context;
use crate::runtime::Core;
use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// The most buffers one ring can register (IORING_MAX_REG_BUFFERS).
pub const MAX_FIXED_BUFFERS: usize = 1 << 14;

/// Every buffer starts on a boundary of this many bytes, so fixed buffers
/// also suit O_DIRECT.
const FIXED_ALIGN: usize = 4096;

/// A pool of buffers registered with the current runtime's ring.
///
/// Cloning gives another handle to the same pool.
///
/// # Examples
///
/// ```
/// use coring_runtime::buf::FixedBufPool;
/// coring_runtime::start(async {
///     let pool = FixedBufPool::register(4, 4096).unwrap();
///     let buf = pool.try_get().unwrap();
///     assert_eq!(buf.capacity(), 4096);
///     assert_eq!(pool.available(), 3);
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct FixedBufPool {
    inner: Rc<PoolInner>,
}

struct PoolInner {
    core: Rc<Core>,
    base: NonNull<u8>,
    layout: Layout,
    buf_len: usize,
    count: usize,
    state: RefCell<PoolState>,
}

#[derive(Default)]
struct PoolState {
    free: Vec<u16>,
    waiters: VecDeque<Waker>,
}

impl FixedBufPool {
    /// Allocates `count` buffers of `buf_len` bytes each (each aligned to
    /// 4096 bytes) and registers them with the current runtime's ring.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: `count` is 0 or over [`MAX_FIXED_BUFFERS`], or
    ///   `buf_len` is 0 or over 1 GiB.
    /// - `ResourceBusy`: the runtime already has a fixed-buffer pool.
    /// - `OutOfMemory`: the memory or the kernel's pinning limit ran out;
    ///   registered buffers count against `RLIMIT_MEMLOCK` (raise it with
    ///   `ulimit -l`, or `LimitMEMLOCK=` in a systemd unit).
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    #[track_caller]
    pub fn register(count: usize, buf_len: usize) -> io::Result<Self> {
        if count == 0 || count > MAX_FIXED_BUFFERS || buf_len == 0 || buf_len > 1 << 30 {
            return Err(invalid(format!(
                "coring: a fixed-buffer pool needs 1..={MAX_FIXED_BUFFERS} buffers of \
                 1 byte..=1 GiB; got {count} of {buf_len} bytes"
            )));
        }
        let stride = buf_len.next_multiple_of(FIXED_ALIGN);
        let size = stride
            .checked_mul(count)
            .ok_or_else(|| invalid("coring: fixed-buffer pool size overflows".into()))?;
        let layout = Layout::from_size_align(size, FIXED_ALIGN)
            .map_err(|_| invalid("coring: fixed-buffer pool too large".into()))?;
        // SAFETY: `size` is at least 4096.
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(layout) }).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("coring: could not allocate {size} bytes for fixed buffers"),
            )
        })?;
        let iovecs: Vec<libc::iovec> = (0..count)
            .map(|i| libc::iovec {
                iov_base: base.as_ptr().wrapping_add(i * stride).cast(),
                iov_len: buf_len,
            })
            .collect();
        let core = context::core_rc();
        // SAFETY: the iovecs cover `base`'s block, which the PoolInner made
        // below frees only after releasing the slots (rule 3); only fixed ops
        // naming an index write to it, and they own that index's FixedBuf.
        let registered = unsafe { core.driver.borrow().register_buffers(&iovecs) };
        if let Err(e) = registered {
            // SAFETY: registration failed, so the kernel has no reference;
            // the block came from alloc_zeroed(layout).
            unsafe { alloc::dealloc(base.as_ptr(), layout) };
            return Err(explain_register(e, count, buf_len));
        }
        let state = PoolState {
            free: (0..count as u16).rev().collect(),
            waiters: VecDeque::new(),
        };
        Ok(FixedBufPool {
            inner: Rc::new(PoolInner {
                core,
                base,
                layout,
                buf_len,
                count,
                state: RefCell::new(state),
            }),
        })
    }

    /// A free buffer (length 0), or `None` when all are out.
    pub fn try_get(&self) -> Option<FixedBuf> {
        let index = self.inner.state.borrow_mut().free.pop()?;
        let stride = self.inner.layout.size() / self.inner.count;
        let ptr = self
            .inner
            .base
            .as_ptr()
            .wrapping_add(index as usize * stride);
        Some(FixedBuf {
            pool: self.inner.clone(),
            index,
            // The pointer is inside the block, which is non-null.
            ptr: NonNull::new(ptr).unwrap_or(self.inner.base),
            len: 0,
        })
    }

    /// A free buffer, waiting for one to be dropped when all are out.
    pub async fn get(&self) -> FixedBuf {
        poll_fn(|cx| match self.try_get() {
            Some(b) => Poll::Ready(b),
            None => {
                self.inner
                    .state
                    .borrow_mut()
                    .waiters
                    .push_back(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Buffers not handed out.
    pub fn available(&self) -> usize {
        self.inner.state.borrow().free.len()
    }

    /// Number of buffers.
    pub fn count(&self) -> usize {
        self.inner.count
    }

    /// Capacity of each buffer.
    pub fn buf_len(&self) -> usize {
        self.inner.buf_len
    }
}

impl fmt::Debug for FixedBufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBufPool")
            .field("count", &self.inner.count)
            .field("buf_len", &self.inner.buf_len)
            .field("available", &self.available())
            .finish()
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn explain_register(e: io::Error, count: usize, buf_len: usize) -> io::Error {
    match e.raw_os_error() {
        // `ErrorKind::ResourceBusy` is newer than the MSRV; take the kind
        // from the errno.
        Some(libc::EBUSY) => io::Error::new(
            e.kind(),
            "coring: this runtime already has a fixed-buffer pool (a ring has one buffer \
             table); share that pool, or drop it first",
        ),
        Some(libc::ENOMEM) => io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "coring: registering {count} fixed buffers of {buf_len} bytes failed with \
                 ENOMEM: pinned buffers count against RLIMIT_MEMLOCK. Fix: raise it \
                 (ulimit -l, or LimitMEMLOCK= for a systemd service), or register less"
            ),
        ),
        _ => io::Error::new(
            e.kind(),
            format!("coring: registering fixed buffers failed: {e}"),
        ),
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // Rule 3: no FixedBuf (and so no op) is left; release the slots,
        // then free.
        let released = match self.core.driver.try_borrow() {
            Ok(d) => d.release_buffers(self.count),
            Err(_) => false,
        };
        if released {
            // SAFETY: the ring's table no longer names the block; the
            // block came from alloc_zeroed(layout) and is freed once.
            unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) };
        }
    }
}

/// One buffer of a [`FixedBufPool`]. Dropping it gives it back to the
/// pool. It dereferences to its initialized bytes (the length a read set,
/// or [`set_len`](FixedBuf::set_len)).
pub struct FixedBuf {
    pool: Rc<PoolInner>,
    index: u16,
    ptr: NonNull<u8>,
    len: usize,
}

impl FixedBuf {
    /// The buffer's index in the ring's buffer table.
    #[inline]
    pub fn buf_index(&self) -> u16 {
        self.index
    }

    /// The capacity in bytes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.pool.buf_len
    }

    /// Sets the length (clamped to the capacity). Every byte is
    /// initialized, so this is safe; the bytes are whatever the buffer
    /// last held.
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }

    /// Sets the length to 0.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Whether the buffer belongs to the runtime running on this thread
    /// (fixed ops work only on the pool's own ring).
    #[inline]
    pub(crate) fn is_of_current_runtime(&self) -> bool {
        context::try_with_core_rc(|c| Rc::ptr_eq(c, &self.pool.core)).unwrap_or(false)
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.pool.state.borrow_mut();
            st.free.push(self.index);
            st.waiters.pop_front()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Deref for FixedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer's `capacity >= len` bytes are initialized
        // (zeroed at allocation) and owned by this FixedBuf alone.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

// SAFETY: the buffer's memory is held by the pool (kept alive by `pool`),
// does not move, and is used by this FixedBuf alone until its drop.
unsafe impl IoBuf for FixedBuf {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: same pointer, writable for `capacity` bytes.
unsafe impl IoBufMut for FixedBuf {
    #[inline]
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    #[inline]
    unsafe fn set_init(&mut self, n: usize) {
        if n > self.len {
            self.set_len(n);
        }
    }
}
