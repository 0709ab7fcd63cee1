//! `timeout`: bound a future by a duration.

use super::sleep::{sleep, Sleep};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs `future` for at most `dur`: `Err(Elapsed)` when the time ran out
/// first, in which case the future is dropped (and its ops cancelled).
///
/// # Panics
///
/// Panics outside a coring runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use coring_runtime::time::{sleep, timeout};
/// coring_runtime::start(async {
///     let slow = timeout(Duration::from_millis(1), sleep(Duration::from_secs(10))).await;
///     assert!(slow.is_err());
///     let fast = timeout(Duration::from_secs(10), async { 7 }).await;
///     assert_eq!(fast.unwrap(), 7);
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn timeout<F: Future>(dur: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(dur),
    }
}

/// The future of [`timeout`].
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // `self` and `Timeout` has no Drop impl that could move it; `sleep`
        // is Unpin and not pinned.
        let (future, sleep) = unsafe {
            let this = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut this.future), &mut this.sleep)
        };
        if let Poll::Ready(v) = future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a [`timeout`] whose time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::ErrorKind::TimedOut.into()
    }
}
