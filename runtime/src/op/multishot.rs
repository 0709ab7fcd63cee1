//! Multishot ops: one SQE, many CQEs, read as a `futures_core::Stream`.
//!
//! The op keeps one table entry; its CQEs queue there until the stream
//! takes them. The CQE without IORING_CQE_F_MORE is the last: the kernel
//! ends a multishot op on error, on cancel, and when the CQ overflowed, so
//! users that want it to go on (an accept loop) submit it again.

use super::{Completion, Feature, Orphan};
use crate::context;
use crate::op::lifecycle::{has_more, Lifecycle, StreamState};
use crate::runtime::Core;
use futures_core::Stream;
use io_uring::squeue;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A multishot kernel operation.
///
/// # Safety
///
/// As for [`OpCode`](super::OpCode): every pointer in the SQE points to
/// memory owned by `self` that stays put when `self` moves (or `'static`
/// memory), valid until the final CQE has been handed to `next` or
/// `abandoned`; `build` sets no user_data.
pub unsafe trait MultishotOpCode: 'static {
    /// What each CQE becomes.
    type Item;

    /// The kernel feature the op needs, as [`OpCode::PROBE`]: on a kernel
    /// without it the stream yields one item made from an
    /// [`io::ErrorKind::Unsupported`](std::io::ErrorKind::Unsupported)
    /// completion and ends; nothing is pushed.
    ///
    /// [`OpCode::PROBE`]: super::OpCode::PROBE
    const PROBE: Option<Feature> = None;

    /// Builds the SQE (with the op's multishot flag set).
    fn build(&mut self) -> squeue::Entry;

    /// Turns one CQE into an item. `more` is false for the final CQE.
    fn next(&mut self, cqe: Completion, more: bool) -> Self::Item;

    /// A CQE nobody will take because the stream was dropped: close the
    /// accepted fd, give the buffer back. Runs while the driver is
    /// borrowed, so it must not submit ops nor touch the runtime.
    fn abandoned(&mut self, cqe: Completion) {
        let _ = cqe;
    }
}

struct Abandoned<T>(T);

impl<T: MultishotOpCode> Orphan for Abandoned<T> {
    fn more(&mut self, cqe: Completion) {
        self.0.abandoned(cqe);
    }
    fn finish(mut self: Box<Self>, cqe: Completion) {
        self.0.abandoned(cqe);
    }
}

/// A multishot op in flight: a stream of its CQEs' items, ending after
/// the final one. Dropping it cancels the op; CQEs that arrive later go to
/// [`MultishotOpCode::abandoned`].
#[must_use = "streams do nothing unless polled; dropping it cancels the op"]
pub struct MultiOp<T: MultishotOpCode> {
    core: Rc<Core>,
    user_data: u64,
    data: Option<T>,
}

impl<T: MultishotOpCode> MultiOp<T> {
    /// Pushes `op`'s SQE onto the current runtime's submission ring.
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    #[track_caller]
    pub fn submit(mut op: T) -> MultiOp<T> {
        context::with_core_rc(|core| {
            let mut driver = core.driver.borrow_mut();
            let user_data = match T::PROBE {
                Some(f) if !driver.has_opcode(f.probe_opcode()) => {
                    // The stream's one, final CQE: the error.
                    let mut st = Box::<StreamState>::default();
                    st.cqes.push_back(f.unsupported());
                    st.ended = true;
                    driver.ops.insert(Lifecycle::Streaming(st))
                }
                _ => driver.submit_multishot(&mut op),
            };
            drop(driver);
            MultiOp {
                core: core.clone(),
                user_data,
                data: Some(op),
            }
        })
    }

    /// Whether the final CQE has been taken: the stream yields no more.
    pub fn is_terminated(&self) -> bool {
        self.data.is_none()
    }

    /// Asks the kernel to stop the op; the stream then ends after the
    /// CQEs already posted.
    pub fn cancel(&mut self) {
        if self.data.is_some() {
            self.core
                .driver
                .borrow_mut()
                .cancel_in_flight(self.user_data);
        }
    }
}

impl<T: MultishotOpCode> Unpin for MultiOp<T> {}

impl<T: MultishotOpCode> Stream for MultiOp<T> {
    type Item = T::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        let this = self.get_mut();
        if this.data.is_none() {
            return Poll::Ready(None);
        }
        let poll = this
            .core
            .driver
            .borrow_mut()
            .poll_next_cqe(this.user_data, cx.waker());
        let Poll::Ready(cqe) = poll else {
            return Poll::Pending;
        };
        let more = has_more(&cqe);
        let item = match &mut this.data {
            Some(op) => op.next(cqe, more),
            None => return Poll::Ready(None),
        };
        if !more {
            this.data = None;
        }
        Poll::Ready(Some(item))
    }
}

impl<T: MultishotOpCode> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            super::abandon(&self.core, self.user_data, Box::new(Abandoned(data)));
        }
    }
}
