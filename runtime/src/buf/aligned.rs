//! `AlignedBuf`: a heap buffer with a chosen alignment, for O_DIRECT.
//!
//! O_DIRECT reads and writes go straight between the device and user
//! memory, so the kernel asks that the buffer address, the length and the
//! file offset be aligned (to the `stx_dio_mem_align` and
//! `stx_dio_offset_align` that `statx(2)` reports with STATX_DIOALIGN,
//! 6.1+; traditionally the logical block size, 512 or 4096). A `Vec<u8>`
//! is only byte-aligned; this is the buffer to use.

use super::{IoBuf, IoBufMut};
use std::alloc::{self, Layout};
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A zero-initialized heap buffer whose start is aligned to `align` bytes.
///
/// Its capacity is fixed; its length (the bytes a write sends, or that a
/// read filled) is between 0 and the capacity. Every byte is always
/// initialized (the block is zeroed when allocated), so
/// [`set_len`](AlignedBuf::set_len) is safe.
///
/// # Examples
///
/// ```
/// use coring_runtime::buf::{AlignedBuf, IoBuf};
/// let mut b = AlignedBuf::new(8192, 4096).expect("must succeed");
/// assert_eq!(b.stable_ptr() as usize % 4096, 0);
/// b.extend_from_slice(b"hello").expect("must succeed");
/// assert_eq!(&b[..], b"hello");
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
    len: usize,
}

// SAFETY: AlignedBuf owns its block exclusively, like a Box<[u8]>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads the block.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A buffer of `capacity` bytes aligned to `align`, with length 0.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `align` is not a power of two or the size
    /// overflows; `OutOfMemory` when the allocation fails.
    #[inline]
    pub fn new(capacity: usize, align: usize) -> io::Result<Self> {
        let layout = Layout::from_size_align(capacity.max(1), align).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "coring: AlignedBuf of {capacity} bytes aligned to {align}: the alignment \
                     must be a power of two and the size at most isize::MAX"
                ),
            )
        })?;
        // SAFETY: the layout's size is at least 1.
        let p = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(p).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("coring: could not allocate an AlignedBuf of {capacity} bytes"),
            )
        })?;
        Ok(AlignedBuf {
            ptr,
            layout,
            len: 0,
        })
    }

    /// The capacity in bytes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// The alignment of the start of the buffer.
    pub fn align(&self) -> usize {
        self.layout.align()
    }

    /// Sets the length. Every byte is initialized, so any `len` up to the
    /// capacity is fine; longer is clamped to the capacity.
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }

    /// Sets the length to 0.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `data`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `data` does not fit in the remaining capacity.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> io::Result<()> {
        let end = self
            .len
            .checked_add(data.len())
            .filter(|&e| e <= self.capacity());
        let Some(end) = end else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "coring: data does not fit in the AlignedBuf",
            ));
        };
        let len = self.len;
        self.set_len(end);
        self[len..].copy_from_slice(data);
        Ok(())
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed(self.layout)` and is freed
        // once, here.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the block holds `capacity >= len` initialized bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("align", &self.align())
            .finish()
    }
}

// SAFETY: the block is owned by the value, does not move with it, and is
// freed only on drop; all `capacity` bytes are initialized.
unsafe impl IoBuf for AlignedBuf {
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
unsafe impl IoBufMut for AlignedBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        for align in [512, 4096, 65536] {
            let mut b = AlignedBuf::new(4096, align).expect("must succeed");
            assert_eq!(b.stable_ptr() as usize % align, 0);
            b.set_len(usize::MAX);
            assert_eq!(b.len(), 4096);
            assert!(b.iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn bad_alignment_is_an_error() {
        let e = AlignedBuf::new(4096, 3).expect_err("must fail");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let mut b = AlignedBuf::new(4, 4).expect("must succeed");
        assert!(b.extend_from_slice(b"12345").is_err());
        b.extend_from_slice(b"1234").expect("must succeed");
        assert_eq!(&b[..], b"1234");
    }
}
