//! Time: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! Timers cost no SQE: the runtime keeps them ordered by deadline and
//! bounds the wait of its one `io_uring_enter` per turn by the earliest
//! one (IORING_ENTER_EXT_ARG). A timer fires in deadline order, never
//! before its deadline (a sleep checks the clock when polled), and an idle
//! runtime sleeps in the kernel until then.

mod interval;
mod send_sleep;
mod sleep;
mod timeout;

pub use interval::{interval, interval_at, Interval};
pub use send_sleep::SendSleep;
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, Elapsed, Timeout};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::time::Instant;

/// Key of a registered timer: deadline, then registration order.
pub(crate) type TimerKey = (Instant, u64);

/// `dur` from now; a duration too long for `Instant` sleeps "forever":
/// about 30 years.
pub(crate) fn deadline_after(dur: std::time::Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(dur)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(86400 * 365 * 30))
}

/// The runtime's timers, by deadline.
pub(crate) struct Timers {
    entries: BTreeMap<TimerKey, Waker>,
    next_seq: u64,
    /// Unique among every runtime of the process: a [`SendSleep`] names
    /// the timer set it registered with by it.
    id: u64,
}

impl Default for Timers {
    fn default() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Timers {
            entries: BTreeMap::new(),
            next_seq: 0,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Timers {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let key = (deadline, self.next_seq);
        self.next_seq += 1;
        self.entries.insert(key, waker);
        key
    }

    pub(crate) fn update(&mut self, key: &TimerKey, waker: &Waker) {
        if let Some(w) = self.entries.get_mut(key) {
            if !w.will_wake(waker) {
                w.clone_from(waker);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &TimerKey) {
        self.entries.remove(key);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.first_key_value().map(|(k, _)| k.0)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes and returns the wakers of timers due at `now`, in deadline
    /// order.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Waker> {
        let mut out = Vec::new();
        while let Some(e) = self.entries.first_entry() {
            if e.key().0 > now {
                break;
            }
            out.push(e.remove());
        }
        out
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
