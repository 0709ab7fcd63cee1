//! `Sleep`: a future that completes at a deadline.

use super::TimerKey;
use crate::context;
use crate::runtime::Core;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Completes once `dur` has passed.
///
/// # Panics
///
/// Panics outside a coring runtime.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// coring_runtime::start(async {
///     let t = Instant::now();
///     coring_runtime::time::sleep(Duration::from_millis(5)).await;
///     assert!(t.elapsed() >= Duration::from_millis(5));
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn sleep(dur: Duration) -> Sleep {
    sleep_until(super::deadline_after(dur))
}

/// Completes at `deadline`.
///
/// # Panics
///
/// Panics outside a coring runtime.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        core: context::core_rc(),
        deadline,
        key: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    core: Rc<Core>,
    deadline: Instant,
    key: Option<TimerKey>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline; the sleep may be polled again.
    pub fn reset(&mut self, deadline: Instant) {
        self.deregister();
        self.deadline = deadline;
    }

    fn deregister(&mut self) {
        if let Some(key) = self.key.take() {
            self.core.timers.borrow_mut().remove(&key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            this.deregister();
            return Poll::Ready(());
        }
        let mut timers = this.core.timers.borrow_mut();
        match &this.key {
            Some(key) => timers.update(key, cx.waker()),
            None => this.key = Some(timers.insert(this.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
