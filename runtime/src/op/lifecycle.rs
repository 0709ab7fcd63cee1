//! The state of one op in the op table, and its transitions.
//!
//! Rules (the soundness core, see `docs/DESIGN.md`):
//!
//! 1. An op enters the table when its SQE is pushed, as `Submitted`.
//! 2. Until its final CQE is reaped, the kernel may touch the op's
//!    resources; they live in the `Op` future or, once that is dropped, in
//!    the table as `Abandoned`. They are never freed before the final CQE.
//! 3. The CQE moves a live op to `Completed` (the future takes the result
//!    and removes the entry on its next poll) and hands back the waiting
//!    task's waker; it frees an `Abandoned` op's resources.
//! 4. Transitions return a `#[must_use]` outcome that says what the caller
//!    must do next; the waker is woken by the turn, in one place: a waker
//!    of this runtime's own tasks (or of its `block_on`) is queued at
//!    once, running no foreign code; any other waker is woken after the
//!    driver is no longer borrowed, since it may do anything.
//! 5. A multishot op is `Streaming` from its push on: its CQEs queue up
//!    until the stream takes them, and the CQE without IORING_CQE_F_MORE
//!    is its final one. Abandoned, each further CQE goes to the orphan
//!    (which closes an accepted fd, or gives a buffer back), the final one
//!    frees it.

use crate::executor::clone_waker;
use crate::op::{Completion, Orphan};
use std::collections::VecDeque;
use std::task::{Poll, Waker};

/// Where one op stands.
pub(crate) enum Lifecycle {
    /// Pushed to the SQ; nobody has polled the future since.
    Submitted,
    /// A task waits for the CQE with this waker.
    Waiting(Waker),
    /// The CQE arrived first; its result waits for the next poll.
    Completed(Completion),
    /// The future was dropped before the CQE; the op's resources (buffer,
    /// iovecs, fd) wait here for the final CQE.
    Abandoned(Box<dyn Orphan>),
    /// A multishot op's CQEs, queued for its stream (boxed: it keeps the
    /// common single-shot entry small).
    Streaming(Box<StreamState>),
}

/// The queue of a multishot op.
#[derive(Default)]
pub(crate) struct StreamState {
    pub(crate) cqes: VecDeque<Completion>,
    pub(crate) waker: Option<Waker>,
    /// The final CQE is among `cqes`.
    pub(crate) ended: bool,
}

/// Whether a CQE says more will follow for the same op.
#[inline]
pub(crate) fn has_more(c: &Completion) -> bool {
    io_uring::cqueue::more(c.flags())
}

/// What the reaper must do after a CQE moved an op.
#[must_use]
pub(crate) enum OnCqe {
    /// Result stored; nobody waits yet.
    Stored,
    /// Result stored; wake this task.
    Wake(Waker),
    /// The future is gone: remove the entry and finish the orphan.
    Orphaned(Box<dyn Orphan>),
}

/// What the future's drop must do.
#[must_use]
pub(crate) enum OnDrop {
    /// The op is still in flight: its resources are now in the table;
    /// submit a cancel.
    Cancel,
    /// The CQE had come: remove the entry; the resources (given back)
    /// may go now.
    Done(Completion, Box<dyn Orphan>),
}

impl Lifecycle {
    /// The future polls: take the result if it came, else remember the
    /// waker (cloning it only when it changed).
    #[inline]
    pub(crate) fn transition_to_waiting(&mut self, waker: &Waker) -> Poll<Completion> {
        match self {
            Lifecycle::Completed(c) => Poll::Ready(*c),
            Lifecycle::Waiting(w) => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                Poll::Pending
            }
            Lifecycle::Submitted => {
                // `Submitted` owns nothing: skip its drop glue.
                std::mem::forget(std::mem::replace(
                    self,
                    Lifecycle::Waiting(clone_waker(waker)),
                ));
                Poll::Pending
            }
            // A live future never sees its own op abandoned, and a
            // single-shot future never polls a multishot entry.
            Lifecycle::Abandoned(_) | Lifecycle::Streaming(_) => Poll::Pending,
        }
    }

    /// The stream polls: the next queued CQE, else remember the waker.
    #[inline]
    pub(crate) fn transition_to_next(&mut self, w: &Waker) -> Poll<Completion> {
        let Lifecycle::Streaming(st) = self else {
            return Poll::Pending;
        };
        match st.cqes.pop_front() {
            Some(c) => Poll::Ready(c),
            None => {
                match &mut st.waker {
                    Some(old) if old.will_wake(w) => {}
                    _ => st.waker = Some(w.clone()),
                }
                Poll::Pending
            }
        }
    }

    /// A CQE for this op was reaped.
    #[inline]
    pub(crate) fn transition_to_completed(&mut self, c: Completion) -> OnCqe {
        // The common case first, without `mem::replace`'s copy of the
        // whole entry and its jump over every old state.
        if let Lifecycle::Waiting(w) = self {
            // SAFETY: the waker is moved out bitwise and the entry is
            // overwritten at once without dropping the old value, so the
            // waker is neither dropped twice nor leaked.
            let w = unsafe { std::ptr::read(w) };
            // SAFETY: as above; `self` is a valid place to write.
            unsafe { std::ptr::write(self, Lifecycle::Completed(c)) };
            return OnCqe::Wake(w);
        }
        match self {
            Lifecycle::Streaming(st) => {
                st.cqes.push_back(c);
                st.ended |= !has_more(&c);
                return match st.waker.take() {
                    Some(w) => OnCqe::Wake(w),
                    None => OnCqe::Stored,
                };
            }
            Lifecycle::Abandoned(orphan) if has_more(&c) => {
                orphan.more(c);
                return OnCqe::Stored;
            }
            _ => {}
        }
        match std::mem::replace(self, Lifecycle::Completed(c)) {
            Lifecycle::Submitted | Lifecycle::Completed(_) | Lifecycle::Streaming(_) => {
                OnCqe::Stored
            }
            Lifecycle::Waiting(w) => OnCqe::Wake(w),
            Lifecycle::Abandoned(orphan) => OnCqe::Orphaned(orphan),
        }
    }

    /// The future was dropped; `orphan` holds its resources.
    pub(crate) fn transition_to_abandoned(&mut self, mut orphan: Box<dyn Orphan>) -> OnDrop {
        match self {
            Lifecycle::Completed(c) => OnDrop::Done(*c, orphan),
            Lifecycle::Streaming(st) => {
                // CQEs the stream never took go to the orphan now.
                let ended = st.ended;
                let mut last = None;
                for c in st.cqes.drain(..) {
                    if has_more(&c) {
                        orphan.more(c);
                    } else {
                        last = Some(c);
                    }
                }
                match last {
                    Some(c) if ended => OnDrop::Done(c, orphan),
                    _ => {
                        *self = Lifecycle::Abandoned(orphan);
                        OnDrop::Cancel
                    }
                }
            }
            _ => {
                *self = Lifecycle::Abandoned(orphan);
                OnDrop::Cancel
            }
        }
    }

    /// Whether the final CQE has not come yet.
    pub(crate) fn is_in_flight(&self) -> bool {
        match self {
            Lifecycle::Completed(_) => false,
            Lifecycle::Streaming(st) => !st.ended,
            _ => true,
        }
    }
}
