//! `Interval`: ticks at a fixed period.

use super::sleep::{sleep_until, Sleep};
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Ticks every `period`, the first tick at once.
///
/// # Panics
///
/// Panics when `period` is zero, or outside a coring runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// coring_runtime::start(async {
///     let mut every = coring_runtime::time::interval(Duration::from_millis(2));
///     let a = every.tick().await;
///     let b = every.tick().await;
///     assert!(b - a >= Duration::from_millis(2));
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
///
/// Panics when `period` is zero, or outside a coring runtime.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "coring: interval period must be non-zero"
    );
    Interval {
        sleep: sleep_until(start),
        period,
    }
}

/// Ticks at `start + k * period`. A tick that is late by more than a
/// period skips the missed ones (the next tick is one period after the
/// late one), so a stalled task does not get a burst.
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick; returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let due = self.sleep.deadline();
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        let mut next = due + self.period;
        if next <= now {
            next = now + self.period;
        }
        self.sleep.reset(next);
        Poll::Ready(due)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

use std::future::Future;
