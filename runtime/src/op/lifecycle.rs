//! The state of one op in the op table, and its transitions.
//!
//! Rules (the soundness core, see `DESIGN.md`):
//!
//! 1. An op enters the table when its SQE is pushed, as `Submitted`.
//! 2. Until its final CQE is reaped, the kernel may touch the op's
//!    resources; they live in the `Op` future or, once that is dropped, in
//!    the table as `Abandoned`. They are never freed before the final CQE.
//! 3. The CQE moves a live op to `Completed` (the future takes the result
//!    and removes the entry on its next poll) and hands back the waiting
//!    task's waker; it frees an `Abandoned` op's resources.
//! 4. Transitions return a `#[must_use]` outcome that says what the caller
//!    must do next; the waker is woken by the runtime, in one place,
//!    after the driver is no longer borrowed.

use crate::op::{Completion, Orphan};
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
                *self = Lifecycle::Waiting(waker.clone());
                Poll::Pending
            }
            // A live future never sees its own op abandoned.
            Lifecycle::Abandoned(_) => Poll::Pending,
        }
    }

    /// A CQE for this op was reaped.
    pub(crate) fn transition_to_completed(&mut self, c: Completion) -> OnCqe {
        match std::mem::replace(self, Lifecycle::Completed(c)) {
            Lifecycle::Submitted | Lifecycle::Completed(_) => OnCqe::Stored,
            Lifecycle::Waiting(w) => OnCqe::Wake(w),
            Lifecycle::Abandoned(orphan) => OnCqe::Orphaned(orphan),
        }
    }

    /// The future was dropped; `orphan` holds its resources.
    pub(crate) fn transition_to_abandoned(&mut self, orphan: Box<dyn Orphan>) -> OnDrop {
        match self {
            Lifecycle::Completed(c) => OnDrop::Done(*c, orphan),
            _ => {
                *self = Lifecycle::Abandoned(orphan);
                OnDrop::Cancel
            }
        }
    }

    /// Whether the final CQE has not come yet.
    pub(crate) fn is_in_flight(&self) -> bool {
        !matches!(self, Lifecycle::Completed(_))
    }
}
