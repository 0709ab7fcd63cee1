//! `SendSleep`: a `Send + Sync` sleep, for code that demands one (hyper's
//! `Timer`).

use super::TimerKey;
use crate::context;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A sleep that is `Send + Sync`, unlike [`Sleep`](super::Sleep), which
/// holds its runtime: it holds only its deadline and, once polled, the key
/// of its timer in the runtime it was polled on.
///
/// - Made anywhere (no runtime needed); it registers a timer with the
///   runtime of the thread that polls it, the first time it is polled
///   before its deadline.
/// - Polled on another runtime's thread later, it registers there too; the
///   first timer stays in the first runtime until its deadline and then
///   only wakes the task spuriously.
/// - Dropped (or [`reset`](SendSleep::reset)) on the thread whose runtime
///   holds its timer, it removes the timer at once. Dropped on any other
///   thread, or after that runtime ended, the timer stays until its
///   deadline (or the runtime's end), holding a clone of the waker, then
///   goes.
///
/// Like every coring timer it costs no SQE, fires in deadline order and
/// never before its deadline.
///
/// # Panics
///
/// Polling it before its deadline outside a coring runtime panics.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// fn is_send_sync<T: Send + Sync>(_: &T) {}
/// coring_runtime::start(async {
///     let t = Instant::now();
///     let sleep = coring_runtime::time::SendSleep::after(Duration::from_millis(5));
///     is_send_sync(&sleep);
///     sleep.await;
///     assert!(t.elapsed() >= Duration::from_millis(5));
/// })
/// .unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct SendSleep {
    deadline: Instant,
    /// The timer set's id (see `Timers::id`) and the timer's key there.
    timer: Option<(u64, TimerKey)>,
}

impl SendSleep {
    /// A sleep that completes at `deadline`.
    pub fn until(deadline: Instant) -> SendSleep {
        SendSleep {
            deadline,
            timer: None,
        }
    }

    /// A sleep that completes once `dur` has passed from now (about 30
    /// years when `dur` is too long for an `Instant`).
    pub fn after(dur: Duration) -> SendSleep {
        SendSleep::until(super::deadline_after(dur))
    }

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

    /// Removes the timer, if this thread's runtime holds it.
    fn deregister(&mut self) {
        if let Some((id, key)) = self.timer.take() {
            context::try_with_core(|core| {
                if let Ok(mut timers) = core.timers.try_borrow_mut() {
                    if timers.id() == id {
                        timers.remove(&key);
                    }
                }
            });
        }
    }
}

impl Future for SendSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            this.deregister();
            return Poll::Ready(());
        }
        context::with_core(|core| {
            let mut timers = core.timers.borrow_mut();
            match &this.timer {
                Some((id, key)) if *id == timers.id() => timers.update(key, cx.waker()),
                // Not registered yet, or with another runtime (whose timer
                // can't be reached from here: it fires spuriously later).
                _ => {
                    let key = timers.insert(this.deadline, cx.waker().clone());
                    this.timer = Some((timers.id(), key));
                }
            }
        });
        Poll::Pending
    }
}

impl Drop for SendSleep {
    fn drop(&mut self) {
        self.deregister();
    }
}
