//! `yield_now`: let the other ready tasks and the ring have a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once: the task is queued behind the tasks that are ready now.
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     coring_runtime::yield_now().await;
/// })
/// .unwrap();
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Whether the running task has used up its slice and should yield: a
/// clock read compared against the slice's end. A task that computes for
/// long calls it between steps (or awaits [`yield_if_needed`]) so the
/// core's I/O and its other tasks and [task queues](crate::TaskQueue)
/// get their turn. The slice is 500 µs, shorter while a queue with
/// `Latency::Matters` has tasks (half its budget); while such a queue has
/// tasks, a task of another queue is also told to yield once it has run
/// 50 µs and I/O completions, a remote wake or an expired timer wait.
///
/// `false` outside a runtime.
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     let mut sum = 0u64;
///     for i in 0..100_000u64 {
///         sum += i;
///         if coring_runtime::need_yield() {
///             coring_runtime::yield_now().await;
///         }
///     }
///     assert_eq!(sum, 4_999_950_000);
/// })
/// .unwrap();
/// ```
pub fn need_yield() -> bool {
    crate::context::try_with_core(|core| core.executor.need_yield(core)).unwrap_or(false)
}

/// Yields (as [`yield_now`]) if [`need_yield`] says so when first
/// polled; otherwise completes at once.
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     for _ in 0..1000 {
///         std::hint::black_box([0u8; 64]);
///         coring_runtime::yield_if_needed().await;
///     }
/// })
/// .unwrap();
/// ```
pub fn yield_if_needed() -> YieldIfNeeded {
    YieldIfNeeded { inner: None }
}

/// The future of [`yield_if_needed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldIfNeeded {
    /// `None` until the first poll has asked [`need_yield`].
    inner: Option<YieldNow>,
}

impl Future for YieldIfNeeded {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.inner.get_or_insert_with(|| YieldNow {
            yielded: !need_yield(),
        });
        Pin::new(inner).poll(cx)
    }
}
