//! `Slice<B>`: a sub-range of an owned buffer that still owns it.

use super::{IoBuf, IoBufMut};
use std::ops::{Bound, RangeBounds};

/// A range `begin..end` of an owned buffer. Ops on a slice read or write
/// only that range; [`into_inner`](Slice::into_inner) gives the buffer back.
///
/// Reading into a slice of a `Vec` writes from `begin`. The vector's
/// length grows to cover what was read when it already reached `begin`;
/// otherwise it stays (the bytes between would be uninitialized), and the
/// caller who knows better can `set_len`.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    #[inline]
    pub(crate) fn new(buf: B, range: impl RangeBounds<usize>) -> Self {
        let total = buf.bytes_total();
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("slice start overflows"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("slice end overflows"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => total,
        };
        assert!(
            begin <= end && end <= total,
            "slice {begin}..{end} out of a buffer of {total} bytes"
        );
        Slice { buf, begin, end }
    }

    /// Start of the range in the underlying buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// End of the range in the underlying buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The underlying buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// Gives the whole buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: the pointer is inside B's stable block (begin <= bytes_total),
// and the counts stay within B's.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: same pointer as stable_ptr, writable because B's block is.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    #[inline]
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    #[inline]
    unsafe fn set_init(&mut self, n: usize) {
        // B's initialized prefix can only be extended without a gap: when
        // it ends before `begin`, bytes in between are still uninitialized.
        if self.buf.bytes_init() >= self.begin {
            // SAFETY: bytes ..begin are initialized (checked), and the caller
            // initialized begin..begin+n, so B's first begin+n bytes are.
            unsafe { self.buf.set_init(self.begin + n) };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::buf::IoBuf;

    #[test]
    fn slice_counts() {
        let v = Vec::with_capacity(16);
        let s = v.slice(4..10);
        assert_eq!(s.bytes_total(), 6);
        assert_eq!(s.bytes_init(), 0);
        let v = vec![7u8; 8];
        let s = v.slice(2..);
        assert_eq!(s.bytes_init(), 6);
    }
}
