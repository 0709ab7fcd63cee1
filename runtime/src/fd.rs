//! `SharedFd`: a file descriptor kept open while ops on it are in flight.
//!
//! Every op that names an fd holds a clone of its `SharedFd`, so the fd
//! number cannot be closed and reused by another file while the kernel may
//! still act on it (the bug behind tokio-uring#2). The fd is closed when the
//! last clone goes: synchronously on drop, or as an io_uring CLOSE op with
//! [`close`](crate::io::close), which waits for the ops still in flight.

use std::cell::Cell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::Waker;

/// A reference-counted, thread-local owner of a file descriptor.
#[derive(Clone)]
pub struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    fd: OwnedFd,
    /// The task waiting in [`close`](crate::io::close) for the other
    /// clones to go.
    closer: Cell<Option<Waker>>,
    /// `closer` is set: the one thing a drop must look at (a test of a
    /// `Cell<Option<Waker>>` would take it out and put it back).
    closing: Cell<bool>,
}

impl SharedFd {
    /// Takes ownership of `fd`.
    pub fn new(fd: OwnedFd) -> Self {
        SharedFd {
            inner: Rc::new(Inner {
                fd,
                closer: Cell::new(None),
                closing: Cell::new(false),
            }),
        }
    }

    /// The raw fd number, for building SQEs.
    #[inline]
    pub fn raw(&self) -> RawFd {
        self.inner.fd.as_raw_fd()
    }

    /// Gives the fd back when this is the only clone; otherwise gives
    /// `self` back.
    pub fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we move the Rc out
        // of it exactly once.
        let rc = unsafe { std::ptr::read(&this.inner) };
        match Rc::try_unwrap(rc) {
            Ok(inner) => {
                // The fd leaves coring: an epoll backend forgets it.
                crate::driver::epoll::note_closed(inner.fd.as_raw_fd());
                let inner = std::mem::ManuallyDrop::new(inner);
                // SAFETY: `inner` is never dropped; each field is moved
                // out of it exactly once (the waker dropped, the fd
                // returned).
                unsafe {
                    drop(std::ptr::read(&inner.closer));
                    Ok(std::ptr::read(&inner.fd))
                }
            }
            Err(rc) => Err(SharedFd { inner: rc }),
        }
    }

    /// Registers `waker` to be woken when only one clone is left.
    pub(crate) fn wait_sole_owner(&self, waker: &Waker) -> bool {
        if Rc::strong_count(&self.inner) == 1 {
            return true;
        }
        self.inner.closer.set(Some(waker.clone()));
        self.inner.closing.set(true);
        false
    }
}

impl Drop for SharedFd {
    #[inline]
    fn drop(&mut self) {
        // The clone going away leaves one: wake a task waiting to close.
        // (An op's clone going away is the common case: test the flag
        // first.)
        if self.inner.closing.get() && Rc::strong_count(&self.inner) == 2 {
            self.wake_closer();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The fd is closed next (OwnedFd's drop): an epoll backend on this
        // thread forgets its registration, so a reused number is
        // registered anew.
        crate::driver::epoll::note_closed(self.fd.as_raw_fd());
    }
}

impl SharedFd {
    #[cold]
    #[inline(never)]
    fn wake_closer(&self) {
        self.inner.closing.set(false);
        if let Some(w) = self.inner.closer.take() {
            w.wake();
        }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

impl From<OwnedFd> for SharedFd {
    fn from(fd: OwnedFd) -> Self {
        SharedFd::new(fd)
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedFd").field(&self.raw()).finish()
    }
}
