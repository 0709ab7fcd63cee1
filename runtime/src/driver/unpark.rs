//! Waking a ring that may be parked in `io_uring_enter(2)`, from any
//! thread.
//!
//! The handshake that makes sure no wake-up is lost is in
//! [`park`](super::park), checked with loom: a waker publishes its work,
//! then signals the ring if it is parked; the ring marks itself parked,
//! then looks for published work before it waits. The signal lands on an
//! eventfd read the ring keeps armed, or is a MSG_RING CQE.
//!
//! A waker on the ring's own thread never finds `parked` set (the ring is
//! running it), so local wakes cost no syscall.
//!
//! The wake itself: from a thread that runs another coring runtime, an
//! IORING_OP_MSG_RING SQE on that runtime's ring posts a CQE into ours
//! (submitted with the sender's next enter, so it costs no syscall of its
//! own); from any other thread, an eventfd write.
//!
//! Besides woken tasks, the remote queue carries jobs: closures another
//! thread sends to run here (cross-core spawns).

use super::park::ParkState;
use crate::context;
use crate::executor::Notified;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::{io, mem};

/// The part of a runtime other threads may touch.
pub(crate) struct Shared {
    park: ParkState,
    remote: Mutex<Remote>,
    eventfd: OwnedFd,
    /// The ring's fd, for MSG_RING wakes; -1 when the kernel has no
    /// MSG_RING or the ring is going away.
    ring_fd: AtomicI32,
}

/// A closure sent from another thread to run on this runtime's thread.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct Remote {
    tasks: Vec<Notified>,
    jobs: Vec<Job>,
    /// No more tasks: the runtime is gone.
    closed: bool,
    /// No more jobs: the runtime is shutting down.
    jobs_closed: bool,
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
            park: ParkState::new(),
            remote: Mutex::new(Remote::default()),
            eventfd,
            ring_fd: AtomicI32::new(-1),
        }))
    }

    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Rule 1, for the `block_on` future.
    #[inline]
    pub(crate) fn wake_main(&self) {
        self.park.publish_main();
        self.unpark();
    }

    /// Takes the `block_on` wake-up, if any.
    #[inline]
    pub(crate) fn take_main_woken(&self) -> bool {
        self.park.take_main()
    }

    /// Rule 1, for a task woken from another thread. After shutdown the
    /// task is dropped (outside the lock: its drop may wake others).
    pub(crate) fn push_remote(&self, task: Notified) {
        let rejected = {
            let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            if q.closed {
                Some(task)
            } else {
                q.tasks.push(task);
                self.park.publish_remote();
                None
            }
        };
        match rejected {
            Some(task) => drop(task),
            None => self.unpark(),
        }
    }

    /// Whether remote work or a `block_on` wake is published.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.park.has_remote() || self.park.has_main()
    }

    /// Whether remote tasks wait.
    #[inline]
    pub(crate) fn has_remote(&self) -> bool {
        self.park.has_remote()
    }

    /// Rule 1, for a job. Gives the job back once the runtime stopped
    /// taking them.
    pub(crate) fn push_job(&self, job: Job) -> Result<(), Job> {
        {
            let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            if q.jobs_closed {
                return Err(job);
            }
            q.jobs.push(job);
            self.park.publish_remote();
        }
        self.unpark();
        Ok(())
    }

    /// Whether jobs are refused (the runtime is shutting down or gone).
    pub(crate) fn jobs_closed(&self) -> bool {
        self.remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jobs_closed
    }

    /// Refuses further jobs; returns the queued ones (to drop: their
    /// handles then report a cancelled task).
    pub(crate) fn close_jobs(&self) -> Vec<Job> {
        let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        q.jobs_closed = true;
        mem::take(&mut q.jobs)
    }

    /// Moves the remote queue into `tasks` and `jobs`.
    pub(crate) fn drain_remote(&self, tasks: &mut Vec<Notified>, jobs: &mut Vec<Job>) {
        let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        self.park.clear_remote();
        mem::swap(&mut q.tasks, tasks);
        mem::swap(&mut q.jobs, jobs);
    }

    /// Refuses further remote tasks and jobs; hands back the queued ones.
    pub(crate) fn close(&self) -> (Vec<Notified>, Vec<Job>) {
        self.ring_fd.store(-1, SeqCst);
        let mut q = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        q.closed = true;
        q.jobs_closed = true;
        self.park.clear_remote();
        (mem::take(&mut q.tasks), mem::take(&mut q.jobs))
    }

    /// Enables MSG_RING wakes into the ring `fd`.
    pub(crate) fn set_ring_fd(&self, fd: RawFd) {
        self.ring_fd.store(fd, SeqCst);
    }

    /// Rule 2: returns whether the ring may wait. When it returns true the
    /// caller must call [`unparked`](Self::unparked) once it is back.
    #[inline]
    pub(crate) fn try_park(&self) -> bool {
        self.park.try_park()
    }

    #[inline]
    pub(crate) fn unparked(&self) {
        self.park.unparked();
    }

    fn unpark(&self) {
        if self.park.take_parked() {
            let fd = self.ring_fd.load(SeqCst);
            if fd >= 0 && context::try_msg_ring(self, fd) {
                return;
            }
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
