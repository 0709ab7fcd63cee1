//! What we ask the kernel: one file per op, and the [`Op`] future that
//! carries any of them.
//!
//! An op is a type that owns every resource its SQE points at (buffer,
//! iovecs, fd, timespec) and implements [`OpCode`]: build the SQE, turn the
//! CQE into the output. [`Op::submit`] pushes it; awaiting the `Op` gives
//! the output. Dropping the `Op` early keeps the resources in the op table,
//! cancels the op, and frees them when the final CQE arrives.
//!
//! The trait is public so that users can add ops (uring_cmd, say) without
//! forking coring.
//!
//! # Examples
//!
//! A user-defined op: a NOP that completes with a result chosen by the
//! caller (IORING_NOP_INJECT_RESULT is newer; a plain NOP gives 0).
//!
//! ```
//! use coring_runtime::op::{Completion, Op, OpCode};
//! use coring_runtime::io_uring::{opcode, squeue};
//!
//! struct MyNop;
//!
//! // SAFETY: a NOP's SQE points at no memory.
//! unsafe impl OpCode for MyNop {
//!     type Output = std::io::Result<u32>;
//!     fn build(&mut self) -> squeue::Entry {
//!         opcode::Nop::new().build()
//!     }
//!     fn complete(self, cqe: Completion) -> Self::Output {
//!         cqe.result()
//!     }
//! }
//!
//! coring_runtime::start(async {
//!     assert_eq!(Op::submit(MyNop).await.unwrap(), 0);
//! })
//! .unwrap();
//! ```

pub(crate) mod lifecycle;

mod cancel;
mod close;
mod device;
mod feature;
mod multishot;
pub(crate) mod nop;
mod offload;
mod read;
mod readv;
mod timeout;
mod write;
mod writev;

// Sockets (the net issue).
mod accept;
mod connect;
mod recv;
mod recv_multi;
mod recvmsg;
mod send;
mod send_zc;
mod sendmsg;
mod shutdown;
mod sockaddr;
mod socket;

// Files and directories (the fs issue).
mod fallocate;
mod fsync;
mod ftruncate;
mod link;
mod mkdir;
mod open;
mod path;
mod read_fixed;
mod rename;
mod statx;
mod sync_range;
mod unlink;
mod write_fixed;

pub use fallocate::Fallocate;
pub use fsync::Fsync;
pub use ftruncate::{ftruncate, Ftruncate};
pub use link::{LinkAt, SymlinkAt};
pub use mkdir::MkDirAt;
pub use open::OpenAt;
pub use read_fixed::ReadFixed;
pub use rename::RenameAt;
pub use statx::Statx;
pub use sync_range::SyncFileRange;
pub use unlink::UnlinkAt;
pub use write_fixed::WriteFixed;

pub use cancel::AsyncCancel;
pub use close::Close;
pub use device::Device;
pub use feature::{is_unsupported, Feature};
pub use multishot::{MultiOp, MultishotOpCode};
pub use nop::Nop;
pub use offload::Offload;
pub use read::Read;
pub use readv::Readv;
pub use timeout::Timeout;
pub use write::Write;
pub use writev::Writev;

pub use accept::{Accept, AcceptMulti};
pub use connect::Connect;
pub use recv::Recv;
pub use recv_multi::RecvMulti;
pub use recvmsg::RecvMsg;
pub use send::Send;
pub use send_zc::{SendZc, SendZcFuture, ZcEvent};
pub use sendmsg::SendMsg;
pub use shutdown::Shutdown;
pub use sockaddr::SockAddr;
pub use socket::Socket;

use crate::context;
use crate::runtime::Core;
use io_uring::squeue;
use std::future::Future;
use std::io;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A CQE's result and flags, as the kernel posted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    res: i32,
    flags: u32,
}

impl Completion {
    #[inline]
    pub(crate) fn new(res: i32, flags: u32) -> Self {
        Completion { res, flags }
    }

    /// The result as `io::Result`: a negative `res` is `-errno`. This is
    /// the one place a raw CQE result becomes an error. An op the kernel
    /// lacks ([`Feature`]) gives an [`io::ErrorKind::Unsupported`] error
    /// naming it.
    #[inline]
    pub fn result(&self) -> io::Result<u32> {
        if self.res < 0 {
            Err(self.error())
        } else {
            Ok(self.res as u32)
        }
    }

    #[cold]
    fn error(&self) -> io::Error {
        match feature::unsupported_id(self.res) {
            Some(id) => feature::unsupported_error(id),
            None => io::Error::from_raw_os_error(-self.res),
        }
    }

    /// The raw `res` field: the CQE's, or, for an op that never reached
    /// the kernel because it lacks the op's [`Feature`], a value below
    /// every errno (`i32::MIN` plus a small id).
    #[inline]
    pub fn raw_result(&self) -> i32 {
        self.res
    }

    /// The CQE's flags (IORING_CQE_F_*).
    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

/// A kernel operation: the resources its SQE points at, how to build the
/// SQE, and how to turn the CQE into the output.
///
/// # Safety
///
/// 1. Every pointer the SQE from [`build`](OpCode::build) carries points to
///    memory owned by `self` whose address does not change when `self` is
///    moved (heap memory: a `Box`, a `Vec`'s block, an [`IoBuf`]), or to
///    `'static` memory.
/// 2. That memory stays valid, and is not otherwise accessed, until
///    `complete` or `abandoned` is called (the runtime holds `self` until
///    the op's final CQE, whatever happens to the future).
/// 3. `build` does not set the SQE's user_data (the runtime does).
///
/// [`IoBuf`]: crate::buf::IoBuf
pub unsafe trait OpCode: 'static {
    /// What awaiting the op gives.
    type Output;

    /// Whether the op is I/O that goes to a storage device: such ops are
    /// submitted in small groups as they are pushed, not with the turn's
    /// one batch (see [`Device`]). Default false.
    const DEVICE: bool = false;

    /// The kernel feature the op needs, when a kernel coring supports
    /// (5.11+) may lack it. [`Op::submit`] then looks it up in the ring's
    /// opcode probe first and, on a kernel without it, completes the op at
    /// once with an [`io::ErrorKind::Unsupported`] error naming the op,
    /// pushing nothing. `None` (the default): no check.
    const PROBE: Option<Feature> = None;

    /// The op's raw result when it is known without the kernel: then
    /// [`Op::submit`] pushes nothing and the op completes with it at once.
    /// Reads and writes of zero bytes give 0 this way, as read(2) and
    /// write(2) would, without the wait some kernels add (a 0-byte READ on
    /// an empty blocking pipe waits for data on Linux 6.1). Called once,
    /// before [`build`](OpCode::build); the default is `None`.
    #[inline]
    fn known_result(&self) -> Option<i32> {
        None
    }

    /// Builds the SQE. Called once, just before the push.
    fn build(&mut self) -> squeue::Entry;

    /// Turns the final CQE into the output.
    fn complete(self, cqe: Completion) -> Self::Output;

    /// The final CQE of an op whose future was dropped. The default drops
    /// the resources; ops that return a new fd close it here, so a late
    /// open or accept never leaks one.
    fn abandoned(self, cqe: Completion)
    where
        Self: Sized,
    {
        let _ = cqe;
    }
}

/// The resources of an abandoned op, type-erased, waiting in the table.
pub(crate) trait Orphan {
    /// A CQE with IORING_CQE_F_MORE (multishot ops only). Runs while the
    /// driver is borrowed: it must not touch the runtime.
    fn more(&mut self, cqe: Completion) {
        let _ = cqe;
    }
    /// The final CQE; the resources may go.
    fn finish(self: Box<Self>, cqe: Completion);
}

impl<T: OpCode> Orphan for T {
    fn finish(self: Box<Self>, cqe: Completion) {
        (*self).abandoned(cqe)
    }
}

/// An op in flight: a future of its output.
///
/// `Op` is `!Send`: it belongs to the runtime of the thread that submitted
/// it, and it keeps that runtime's ring alive.
#[must_use = "an op does nothing useful unless awaited; dropping it cancels it"]
pub struct Op<T: OpCode> {
    core: Rc<Core>,
    user_data: u64,
    /// `None` once the output was taken or the op abandoned. Never
    /// dropped in place: `Drop` hands a `Some` to the table, so what is
    /// left is always `None`, and the drop glue of a completed op has
    /// nothing to test.
    data: ManuallyDrop<Option<T>>,
}

impl<T: OpCode> Op<T> {
    /// Pushes `op`'s SQE onto the current runtime's submission ring.
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    #[inline]
    #[track_caller]
    pub fn submit(mut op: T) -> Op<T> {
        let core = context::core_rc();
        let user_data = if let Some(res) = op.known_result() {
            settled(&core, Completion::new(res, 0))
        } else if let Some(feature) = T::PROBE {
            submit_probed(&core, &mut op, feature)
        } else {
            core.driver.borrow_mut().submit(&mut op)
        };
        Op {
            core,
            user_data,
            data: ManuallyDrop::new(Some(op)),
        }
    }

    /// Asks the kernel to cancel the op, and gives back the future, which
    /// resolves when the op's final CQE arrives. Its output says what
    /// happened: `ECANCELED` (or `EINTR`) when the cancel won, the op's
    /// real result when it completed anyway, so a read that raced its
    /// cancel loses no bytes and the buffer comes back either way.
    pub fn cancel(self) -> Op<T> {
        if self.data.is_some() {
            self.core
                .driver
                .borrow_mut()
                .cancel_in_flight(self.user_data);
        }
        self
    }

    /// Lets the op finish without its future: its resources go to the op
    /// table as when it is dropped, but no cancel is sent unless it is
    /// still in flight after `limit` (then it is cancelled as a dropped op
    /// is). They are freed at its final CQE, and at the latest when the
    /// runtime shuts down, which cancels every op in flight.
    ///
    /// For writes whose caller was told the bytes are on their way: a
    /// send handed to the kernel before the stream was dropped still goes
    /// out, as the kernel sends what a closed socket's buffer holds.
    pub fn linger(mut self, limit: Duration) {
        if let Some(data) = self.data.take() {
            let deadline = Instant::now().checked_add(limit);
            let done =
                self.core
                    .driver
                    .borrow_mut()
                    .detach(self.user_data, Box::new(data), deadline);
            if let Some((orphan, cqe)) = done {
                orphan.finish(cqe);
            }
        }
    }

    /// The output, if the op's final CQE already came; else `None`, and
    /// no waker is registered (a task that polled the op before is still
    /// woken by its completion). For a caller that wants an op's result
    /// when it is there without waiting for it. Like a poll that gives
    /// `Ready`, it may be taken once: polling (or trying) again after it
    /// gave `Some` panics.
    pub fn try_complete(&mut self) -> Option<T::Output> {
        let c = self
            .core
            .driver
            .borrow_mut()
            .ops
            .take_completed(self.user_data)?;
        match self.data.take() {
            Some(data) => Some(data.complete(c)),
            None => panic!("coring: Op polled after it completed"),
        }
    }

    /// The op's user_data, its key in the op table.
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    /// Dropped before its final CQE: the resources go to the table.
    #[cold]
    #[inline(never)]
    fn abandon_in_flight(&mut self) {
        if let Some(data) = self.data.take() {
            abandon(&self.core, self.user_data, Box::new(data));
        }
    }
}

impl<T: OpCode> Unpin for Op<T> {}

impl<T: OpCode> Future for Op<T> {
    type Output = T::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        let poll = this
            .core
            .driver
            .borrow_mut()
            .poll_op(this.user_data, cx.waker());
        match poll {
            Poll::Ready(cqe) => match this.data.take() {
                Some(data) => Poll::Ready(data.complete(cqe)),
                None => panic!("coring: Op polled after it completed"),
            },
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: OpCode> Drop for Op<T> {
    #[inline]
    fn drop(&mut self) {
        // Test before taking: the common case (the op completed) then
        // moves nothing.
        if self.data.is_some() {
            self.abandon_in_flight();
        }
    }
}

/// A table entry for an op that completed without reaching the kernel:
/// its future finds the completion on its first poll, as if the CQE had
/// come before it. Nothing is pushed, so there is nothing to cancel.
#[cold]
#[inline(never)]
fn settled(core: &Core, c: Completion) -> u64 {
    core.driver
        .borrow_mut()
        .ops
        .insert(lifecycle::Lifecycle::Completed(c))
}

/// Submits `op` if the kernel has `feature`, else settles it as
/// unsupported.
#[inline(never)]
fn submit_probed<T: OpCode>(core: &Core, op: &mut T, feature: Feature) -> u64 {
    let mut driver = core.driver.borrow_mut();
    if driver.has_opcode(feature.probe_opcode()) {
        driver.submit(op)
    } else {
        drop(driver);
        settled(core, feature.unsupported())
    }
}

/// An op's future is gone before its final CQE: its resources go into the
/// table and the op is cancelled, or, when the CQE already came, they are
/// finished here, outside the driver's borrow (finishing may drop user
/// types and fds).
pub(crate) fn abandon(core: &Core, user_data: u64, orphan: Box<dyn Orphan>) {
    let done = core.driver.borrow_mut().abandon(user_data, orphan);
    if let Some((orphan, cqe)) = done {
        orphan.finish(cqe);
    }
}
