//! Owned buffers for completion-based I/O.
//!
//! The kernel reads and writes a buffer after the call that handed it over
//! has returned, and possibly after the future that asked for it was
//! dropped. So an op takes ownership of its buffer and gives it back with
//! the result, as a [`BufResult`]. [`IoBuf`] and [`IoBufMut`] are unsafe
//! traits: an implementation promises that the memory stays put while the
//! value is moved.

mod aligned;
mod fixed;
mod ring;
mod slice;

pub use aligned::AlignedBuf;
pub use fixed::{FixedBuf, FixedBufPool, MAX_FIXED_BUFFERS};
pub use ring::{BufRing, RingBuf};
pub use slice::Slice;

use std::io;

/// The result of an owned-buffer op: the outcome and the buffer, back
/// whatever happened.
pub type BufResult<T, B> = (io::Result<T>, B);

/// A buffer the kernel may read from.
///
/// # Safety
///
/// 1. `stable_ptr()` points to `bytes_total()` bytes of memory owned by (or
///    `'static` for) this value, of which the first `bytes_init()` are
///    initialized.
/// 2. That pointer stays valid and unchanged when the value is moved, and
///    for as long as the value is not dropped or accessed mutably through
///    its own API (the runtime holds the value while the kernel works).
/// 3. `bytes_init() <= bytes_total()`.
///
/// So a `Vec<u8>` qualifies (its heap block does not move with the `Vec`),
/// an array `[u8; N]` does not.
pub unsafe trait IoBuf: 'static {
    /// Pointer to the start of the buffer.
    fn stable_ptr(&self) -> *const u8;
    /// Number of initialized bytes (what a write sends).
    fn bytes_init(&self) -> usize;
    /// Total capacity in bytes.
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer that owns it.
    ///
    /// # Panics
    ///
    /// Panics when the range is out of `0..=bytes_total()` or decreasing,
    /// like slicing does.
    fn slice(self, range: impl std::ops::RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        Slice::new(self, range)
    }
}

/// A buffer the kernel may write into.
///
/// # Safety
///
/// Everything [`IoBuf`] promises, and `stable_mut_ptr()` is the same
/// pointer as `stable_ptr()`, valid for writes of `bytes_total()` bytes.
/// `set_init(n)` may be called only once the first `n` bytes are
/// initialized.
pub unsafe trait IoBufMut: IoBuf {
    /// Mutable pointer to the start of the buffer.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// Marks the first `n` bytes initialized: the length becomes at least
    /// `n`, never smaller than it was.
    ///
    /// # Safety
    ///
    /// The first `n` bytes (`n <= bytes_total()`) must be initialized.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a Vec's heap block does not move when the Vec does; it is only
// reallocated through &mut methods, which the runtime never calls while the
// kernel holds the buffer.
unsafe impl IoBuf for Vec<u8> {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: same pointer as `stable_ptr`, writable for `capacity()` bytes.
unsafe impl IoBufMut for Vec<u8> {
    #[inline]
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    #[inline]
    unsafe fn set_init(&mut self, n: usize) {
        if self.len() < n {
            // SAFETY: the caller promises the first n bytes are initialized,
            // and n <= capacity.
            unsafe { self.set_len(n) };
        }
    }
}

// SAFETY: the boxed slice's heap block is fixed for its lifetime.
unsafe impl IoBuf for Box<[u8]> {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: same pointer, writable for len() bytes, always initialized.
unsafe impl IoBufMut for Box<[u8]> {
    #[inline]
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    #[inline]
    unsafe fn set_init(&mut self, _n: usize) {}
}

// SAFETY: a String is a Vec<u8>; its heap block does not move with it. It
// is only IoBuf (not IoBufMut): the kernel could write invalid UTF-8.
unsafe impl IoBuf for String {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: 'static memory never moves nor goes away.
unsafe impl IoBuf for &'static [u8] {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: 'static memory never moves nor goes away.
unsafe impl IoBuf for &'static str {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// The most one read or write moves: Linux's `MAX_RW_COUNT` (`INT_MAX`
/// rounded down to a 4 KiB page), as std clamps its reads and writes.
/// The kernel clamps a longer file read or write to it itself, but refuses
/// a socket receive or send of more than `INT_MAX` bytes with `EINVAL`.
pub(crate) const MAX_RW_COUNT: u32 = 0x7fff_f000;

/// The length an SQE carries for a buffer of `len` bytes: at most
/// [`MAX_RW_COUNT`]. Longer buffers are clamped, and the op reports how
/// much it moved, so a caller sees a short read or write (as with std),
/// never an error or silent truncation.
#[inline]
pub(crate) fn sqe_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX).min(MAX_RW_COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_set_init_never_shrinks() {
        let mut v = vec![1u8, 2, 3];
        v.reserve(10);
        // SAFETY: the first 2 bytes are initialized.
        unsafe { v.set_init(2) };
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn lengths_over_max_rw_count_are_clamped() {
        assert_eq!(sqe_len(5), 5);
        assert_eq!(sqe_len(MAX_RW_COUNT as usize), MAX_RW_COUNT);
        assert_eq!(sqe_len(MAX_RW_COUNT as usize + 1), MAX_RW_COUNT);
        assert_eq!(sqe_len(i32::MAX as usize + 1), MAX_RW_COUNT);
        assert_eq!(sqe_len(usize::MAX), MAX_RW_COUNT);
    }
}
