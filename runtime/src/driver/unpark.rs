//! Waking a ring that may be parked in `io_uring_enter(2)`, from any
//! thread.
//!
//! The protocol (no lost wake-up):
//!
//! 1. A waker on another thread first publishes its work (a task on the
//!    remote queue, or the `main_woken` flag), then, if `parked` is set,
//!    clears it and writes the eventfd.
//! 2. The ring sets `parked` before it waits, then checks for published
//!    work; if there is any it clears `parked` and does not wait.
//! 3. All four accesses are SeqCst, so at least one side sees the other's
//!    store: either the ring sees the work, or the waker sees `parked` and
//!    writes the eventfd, whose read the ring keeps armed.
//!
//! A waker on the ring's own thread never finds `parked` set (the ring is
//! running it), so local wakes cost no syscall.

use crate::executor::TaskRef;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::{io, mem};

/// The part of a runtime other threads may touch.
pub(crate) struct Shared {
    parked: AtomicBool,
    main_woken: AtomicBool,
    has_remote: AtomicBool,
    remote: Mutex<Remote>,
    eventfd: OwnedFd,
}

#[derive(Default)]
struct Remote {
    tasks: Vec<TaskRef>,
    closed: bool,
}

impl Shared {
    pub(crate) fn new() -> io::Result<Arc<Shared>> {
        // SAFETY: eventfd(2) takes no pointers; a non-negative result is a
        // new fd that we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid fd owned by nobody else.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Arc::new(Shared {
            parked: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            has_remote: AtomicBool::new(false),
            remote: Mutex::new(Remote::default()),
            eventfd,
        }))
    }

    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Rule 1, for the `block_on` future.
    #[inline]
    pub(crate) fn wake_main(&self) {
        self.main_woken.store(true, SeqCst);
        self.unpark();
    }

    /// Takes the `block_on` wake-up, if any.
    #[inline]
    pub(crate) fn take_main_woken(&self) -> bool {
        self.main_woken.load(SeqCst) && self.main_woken.swap(false, SeqCst)
    }

    /// Rule 1, for a task woken from another thread. After shutdown the
    /// task is dropped (outside the lock: its drop may wake others).
    pub(crate) fn push_remote(&self, task: TaskRef) {
        let rejected = {
            let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            if q.closed {
                Some(task)
            } else {
                q.tasks.push(task);
                self.has_remote.store(true, SeqCst);
                None
            }
        };
        match rejected {
            Some(task) => drop(task),
            None => self.unpark(),
        }
    }

    /// Whether remote tasks wait.
    #[inline]
    pub(crate) fn has_remote(&self) -> bool {
        self.has_remote.load(SeqCst)
    }

    /// Moves the remote queue into `out`.
    pub(crate) fn drain_remote(&self, out: &mut Vec<TaskRef>) {
        if !self.has_remote.load(SeqCst) {
            return;
        }
        let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        self.has_remote.store(false, SeqCst);
        mem::swap(&mut q.tasks, out);
    }

    /// Refuses further remote tasks and hands back the queued ones.
    pub(crate) fn close(&self) -> Vec<TaskRef> {
        let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        q.closed = true;
        self.has_remote.store(false, SeqCst);
        mem::take(&mut q.tasks)
    }

    /// Rule 2: returns whether the ring may wait. When it returns true the
    /// caller must call [`unparked`](Self::unparked) once it is back.
    #[inline]
    pub(crate) fn try_park(&self) -> bool {
        self.parked.store(true, SeqCst);
        if self.has_remote.load(SeqCst) || self.main_woken.load(SeqCst) {
            self.parked.store(false, SeqCst);
            return false;
        }
        true
    }

    #[inline]
    pub(crate) fn unparked(&self) {
        self.parked.store(false, SeqCst);
    }

    fn unpark(&self) {
        if self.parked.load(SeqCst) && self.parked.swap(false, SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd. A
            // failure (EAGAIN at a saturated counter) means a wake is
            // already pending, so it is ignored.
            unsafe {
                libc::write(
                    self.eventfd.as_raw_fd(),
                    (&one as *const u64).cast(),
                    mem::size_of::<u64>(),
                )
            };
        }
    }
}
