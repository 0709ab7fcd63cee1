//! The local run queue: a FIFO ring of tasks.
//!
//! A `VecDeque` would do, but its push is out of line and its pop checks
//! more than we need; this ring is a power-of-two `Vec` of slots indexed
//! with a mask, grown (rarely) by doubling. The queue is the hottest
//! structure of the executor: every CQE that wakes a task passes it.

use super::Notified;
use std::cell::UnsafeCell;

/// The run queue as the executor holds it: shared (`&self`) access with
/// no borrow flag to check. Sound because every method borrows the ring
/// only for its own length and runs no foreign code meanwhile: pushes and
/// pops move tasks without dropping one (a free slot holds `None`), and
/// `Notified` has no user code to run anyway. `!Sync` (`UnsafeCell`), so
/// only the runtime's thread touches it.
pub(crate) struct LocalQueue {
    ring: UnsafeCell<RunQueue>,
}

impl LocalQueue {
    pub(crate) fn with_capacity(cap: usize) -> Self {
        LocalQueue {
            ring: UnsafeCell::new(RunQueue::with_capacity(cap)),
        }
    }

    #[inline]
    pub(crate) fn push_back(&self, task: Notified) {
        // SAFETY: see the type's doc: no other borrow of the ring is live
        // (each method's borrow ends with it, none calls out).
        unsafe { &mut *self.ring.get() }.push_back(task);
    }

    #[inline]
    pub(crate) fn pop_front(&self) -> Option<Notified> {
        // SAFETY: as in `push_back`.
        unsafe { &mut *self.ring.get() }.pop_front()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: as in `push_back`.
        unsafe { &*self.ring.get() }.is_empty()
    }

    /// Takes every queued task, in order.
    pub(crate) fn drain(&self) -> Vec<Notified> {
        // SAFETY: as in `push_back`; the tasks are dropped by the caller,
        // after this borrow.
        unsafe { &mut *self.ring.get() }.drain()
    }
}

pub(crate) struct RunQueue {
    /// `slots.len()` is a power of two; the live tasks are the `len`
    /// slots from `head` on (wrapping), every other slot is `None`.
    slots: Vec<Option<Notified>>,
    head: usize,
    len: usize,
}

impl RunQueue {
    pub(crate) fn with_capacity(cap: usize) -> Self {
        let cap = cap.next_power_of_two().max(8);
        RunQueue {
            slots: (0..cap).map(|_| None).collect(),
            head: 0,
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline]
    pub(crate) fn push_back(&mut self, task: Notified) {
        if self.len == self.slots.len() {
            self.grow();
        }
        let i = (self.head + self.len) & self.mask();
        // SAFETY: `slots.len()` is a power of two (at least 8), so a
        // masked index is in bounds.
        let slot = unsafe { self.slots.get_unchecked_mut(i) };
        // The slot is free (`None`): nothing to drop.
        debug_assert!(slot.is_none());
        std::mem::forget(slot.replace(task));
        self.len += 1;
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Notified> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: `head` is always masked, so in bounds (see `push_back`).
        let task = unsafe { self.slots.get_unchecked_mut(self.head) }.take();
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        task
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Doubles the ring, moving the live tasks to the front in order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let mut slots: Vec<Option<Notified>> = Vec::with_capacity(cap);
        while let Some(t) = self.pop_front() {
            slots.push(Some(t));
        }
        self.len = slots.len();
        slots.resize_with(cap, || None);
        self.slots = slots;
        self.head = 0;
    }

    /// Takes every queued task, in order.
    pub(crate) fn drain(&mut self) -> Vec<Notified> {
        let mut v = Vec::with_capacity(self.len);
        while let Some(t) = self.pop_front() {
            v.push(t);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::unpark::Shared;
    use crate::executor::task::Task;
    use std::sync::Arc;

    #[test]
    fn fifo_across_wrap_and_growth() {
        let shared = Shared::new().expect("eventfd");
        let tasks: Vec<Arc<Task<std::future::Ready<()>>>> = (0..100)
            .map(|_| {
                Task::new(
                    std::future::ready(()),
                    shared.clone(),
                    0,
                    crate::executor::TaskMeta::here(),
                )
            })
            .collect();
        let id = |t: &Arc<Task<std::future::Ready<()>>>| Arc::as_ptr(t) as usize;
        let mut q = RunQueue::with_capacity(8);
        let mut expect = std::collections::VecDeque::new();
        let mut next = 0;
        // Interleave pushes and pops so the head wraps, then grow past 8.
        for round in 0..40 {
            for _ in 0..(round % 7 + 1) {
                if next < tasks.len() {
                    q.push_back(tasks[next].clone().into_notified());
                    expect.push_back(id(&tasks[next]));
                    next += 1;
                }
            }
            for _ in 0..(round % 3) {
                assert_eq!(q.pop_front().map(|t| t.addr()), expect.pop_front());
            }
            assert_eq!(q.len(), expect.len());
        }
        assert_eq!(next, tasks.len(), "every task went through the queue");
        let rest: Vec<usize> = q.drain().iter().map(Notified::addr).collect();
        assert_eq!(rest, Vec::from(expect));
        assert!(q.is_empty());
        assert!(q.pop_front().is_none());
        // Every count the queue held is given back.
        assert!(tasks.iter().all(|t| Arc::strong_count(t) == 1));
    }
}
