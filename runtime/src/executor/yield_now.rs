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
