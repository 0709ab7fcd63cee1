//! The stall detector: finds polls that keep their core busy longer
//! than a threshold, and says where the core was stuck.
//!
//! Off by default; on with [`Builder::stall_threshold`] or the
//! environment variable `CORING_STALL_MS=N` ([`STALL_ENV`]). Each stalled
//! poll (of a task, or of a `block_on` future) is reported once, when it
//! returns, to the runtime's [`StallHandler`] as a [`Stall`]: the task's
//! name and spawn location, the core, how long the poll ran and a
//! [`StallTrace`] of where the core's thread was while it was stuck. The
//! default handler prints it on stderr.
//!
//! A watchdog thread (one per process) looks at the running polls a
//! quarter threshold apart and interrupts a stuck one's thread with a
//! real-time signal ([`stall_signal`]), whose handler records the stack;
//! the watchdog names its frames from the binary's symbols and debug
//! info and calls the handler, never on a core. A poll is reported within
//! 1.25 thresholds of its start (plus scheduling delays); a poll shorter
//! than the threshold never is, nor is one that never returns.
//!
//! [`Builder::stall_threshold`]: crate::Builder::stall_threshold

mod report;
mod signal;
mod watchdog;

pub use report::{Stall, StallFrame, StallTrace};
pub use signal::stall_signal;

use crate::executor::{HeldTask, Notified};
use crate::runtime::Core;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed},
};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

/// The environment variable that turns the stall detector on for every
/// runtime a [`Builder::new`](crate::Builder::new) makes: `CORING_STALL_MS=N`
/// reports polls longer than `N` milliseconds; `0` or unset leaves it off.
pub const STALL_ENV: &str = "CORING_STALL_MS";

/// What a runtime calls for each stall (see
/// [`Builder::stall_handler`](crate::Builder::stall_handler)). It runs on
/// the watchdog thread, one report at a time, for every runtime that
/// uses it.
pub type StallHandler = Arc<dyn Fn(&Stall) + Send + Sync + 'static>;

/// The low bit of `poll_started`: the watchdog marked this poll stalled
/// (rule 2).
const STALLED: u64 = 1;

/// What the core thread, the watchdog and the signal handler share.
///
/// Each runtime with the detector on has a `Slot` shared with the
/// process's one watchdog thread. The protocol, by the word
/// `poll_started`:
///
/// 1. The core thread stores the time a poll starts (nanoseconds of
///    `CLOCK_MONOTONIC`, the low bit clear) before the poll and swaps 0 in
///    after it. That timestamp and that swap are all a poll costs. With
///    a threshold of at least [`COARSE_FACTOR`] times the resolution of
///    `CLOCK_MONOTONIC_COARSE` (1 to 4 ms), the timestamp is read from
///    that clock instead (the same time base, a few times cheaper, up to
///    one resolution early).
/// 2. The watchdog, every quarter threshold, reads the word; a poll that
///    started more than a threshold ago (a threshold plus the coarse
///    clock's resolution, for a coarse timestamp) is marked stalled by
///    setting the low bit with a compare-exchange, which fails when the
///    poll ended meanwhile. Each stalled poll is marked once.
/// 3. Having marked it, the watchdog sends the core's thread the stall
///    signal (`signal.rs`). The handler, on the core thread, records the
///    return addresses of the stack it interrupted into the slot's
///    [`Sample`](signal::Sample), tagged with the marked word, if the word
///    is still marked and not yet sampled. It allocates nothing and takes
///    no lock of coring's.
/// 4. The core thread's swap after the poll sees the mark; it reads the
///    sample if its tag is this poll's word, and sends the watchdog the
///    task's name and spawn location, the duration and the addresses. The
///    watchdog symbolizes them and calls the runtime's handler: one report
///    per stalled poll, never on the core thread.
///
/// A poll is reported once it ran past the threshold and the watchdog's
/// next look saw it: within the threshold plus a quarter of it (plus
/// scheduling delays) of its start. Polls shorter than the threshold are
/// never reported.
pub(crate) struct Slot {
    /// Rule 1 and 2: when the running poll started, 0 between polls.
    poll_started: AtomicU64,
    /// How old a poll's timestamp is when the watchdog marks it: the
    /// threshold, plus the coarse clock's resolution when the core uses
    /// that clock.
    mark_after_ns: u64,
    /// The core's thread, for `pthread_kill(3)`. Valid while the slot is
    /// registered with the watchdog: the runtime deregisters it on its
    /// own thread before that thread can end.
    thread: libc::pthread_t,
    /// Rule 3.
    sample: signal::Sample,
    /// Reports of this slot's stalls the handler has returned from.
    reported: AtomicU64,
}

// SAFETY: `pthread_t` is an opaque thread id, used only for
// `pthread_kill(3)` while the thread lives (see `thread`); the rest is
// atomics.
unsafe impl Send for Slot {}
// SAFETY: as for Send.
unsafe impl Sync for Slot {}

/// A stalled poll, as the core thread sends it to the watchdog (rule 4).
pub(crate) struct Ended {
    slot: Arc<Slot>,
    handler: StallHandler,
    name: Option<String>,
    location: &'static Location<'static>,
    block_on: bool,
    core: Option<usize>,
    thread: Option<String>,
    duration: Duration,
    threshold: Duration,
    /// The interrupted pc and the return addresses, when the signal came
    /// during the poll.
    sample: Option<(usize, Vec<usize>)>,
}

/// What a stalled poll was polling.
struct Who {
    name: Option<String>,
    location: &'static Location<'static>,
    block_on: bool,
}

/// The stall detector's settings for one runtime.
#[derive(Clone)]
pub(crate) struct StallConfig {
    pub(crate) threshold: Duration,
    pub(crate) handler: Option<StallHandler>,
    pub(crate) core: Option<usize>,
}

/// One runtime's side of the detector (core thread only).
pub(crate) struct CoreStall {
    slot: Arc<Slot>,
    threshold: Duration,
    handler: StallHandler,
    core: Option<usize>,
    thread: Option<String>,
    events: mpsc::Sender<watchdog::Event>,
    stalls: Cell<u64>,
    /// The clock of the per-poll timestamp (rule 1).
    clock: libc::clockid_t,
}

impl CoreStall {
    /// Registers the calling thread's runtime with the watchdog, starting
    /// it and installing the signal handler the first time.
    pub(crate) fn new(cfg: StallConfig) -> io::Result<CoreStall> {
        signal::install()?;
        let threshold_ns = u64::try_from(cfg.threshold.as_nanos()).unwrap_or(u64::MAX);
        let coarse =
            coarse_resolution_ns().filter(|res| res.saturating_mul(COARSE_FACTOR) <= threshold_ns);
        let slot = Arc::new(Slot {
            poll_started: AtomicU64::new(0),
            mark_after_ns: threshold_ns.saturating_add(coarse.unwrap_or(0)),
            // SAFETY: pthread_self(3) always succeeds.
            thread: unsafe { libc::pthread_self() },
            sample: signal::Sample::new(),
            reported: AtomicU64::new(0),
        });
        let events = watchdog::register(slot.clone())?;
        Ok(CoreStall {
            slot,
            threshold: cfg.threshold,
            handler: cfg.handler.unwrap_or_else(|| Arc::new(report::print)),
            core: cfg.core,
            thread: std::thread::current().name().map(String::from),
            events,
            stalls: Cell::new(0),
            clock: if coarse.is_some() {
                libc::CLOCK_MONOTONIC_COARSE
            } else {
                libc::CLOCK_MONOTONIC
            },
        })
    }

    /// Stalls seen so far.
    pub(crate) fn stalls(&self) -> u64 {
        self.stalls.get()
    }

    /// Polls `task`, timed (rule 1). Out of line and cold, so the
    /// executor's loop without the detector stays as it is.
    #[cold]
    #[inline(never)]
    pub(crate) fn poll_task(&self, core: &Core, task: Notified) {
        let held: HeldTask = task.hold();
        let started = self.begin();
        task.run(core);
        self.end(started, || {
            let meta = held.meta();
            Who {
                name: meta.name().map(String::from),
                location: meta.location(),
                block_on: false,
            }
        });
    }

    /// `future`, the `block_on` future (`block_on` called at
    /// `location`), with each of its polls timed.
    pub(crate) fn time_root<F: Future>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> TimedRoot<'_, F> {
        TimedRoot {
            watch: self,
            location,
            future,
        }
    }

    /// Rule 1, and lets the signal handler find the slot.
    #[inline]
    fn begin(&self) -> u64 {
        signal::set_current(&self.slot);
        let now = now_ns(self.clock) & !STALLED;
        self.slot.poll_started.store(now, Relaxed);
        now
    }

    #[inline]
    fn end(&self, started: u64, who: impl FnOnce() -> Who) {
        let word = self.slot.poll_started.swap(0, Relaxed);
        signal::clear_current();
        if word & STALLED != 0 {
            self.stalled(started, word, who());
        }
    }

    /// Rule 4.
    #[cold]
    #[inline(never)]
    fn stalled(&self, started: u64, word: u64, who: Who) {
        let duration = Duration::from_nanos(now_ns(libc::CLOCK_MONOTONIC).saturating_sub(started));
        self.stalls.set(self.stalls.get() + 1);
        let ended = Ended {
            slot: self.slot.clone(),
            handler: self.handler.clone(),
            name: who.name,
            location: who.location,
            block_on: who.block_on,
            core: self.core,
            thread: self.thread.clone(),
            duration,
            threshold: self.threshold,
            sample: self.slot.sample.read(word),
        };
        // The watchdog lives as long as the process.
        let _ = self.events.send(watchdog::Event::Ended(Box::new(ended)));
    }
}

/// The `block_on` future, timed: [`CoreStall::time_root`].
pub(crate) struct TimedRoot<'a, F> {
    watch: &'a CoreStall,
    location: &'static Location<'static>,
    future: F,
}

impl<F: Future> Future for TimedRoot<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is pinned with `self` and never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let _timer = RootTimer {
            watch: this.watch,
            started: this.watch.begin(),
            location: this.location,
        };
        future.poll(cx)
    }
}

/// One poll of the `block_on` future being timed; a panic out of the
/// poll ends the timing too.
struct RootTimer<'a> {
    watch: &'a CoreStall,
    started: u64,
    location: &'static Location<'static>,
}

impl Drop for RootTimer<'_> {
    fn drop(&mut self) {
        let location = self.location;
        self.watch.end(self.started, || Who {
            name: None,
            location,
            block_on: true,
        });
    }
}

impl Drop for CoreStall {
    /// Deregisters, then waits (up to [`FLUSH_LIMIT`]) for the handler to
    /// have seen every stall of this runtime, so a program that stalls and
    /// ends gets its reports.
    fn drop(&mut self) {
        watchdog::deregister(&self.slot);
        let deadline = std::time::Instant::now() + FLUSH_LIMIT;
        while self.slot.reported.load(Acquire) < self.stalls.get()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// How long a runtime's drop waits for its last stall reports.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// How many times the coarse clock's resolution a threshold must be for
/// the per-poll timestamp to use it (rule 1): its error is then at most a
/// tenth of the threshold.
const COARSE_FACTOR: u64 = 10;

/// The resolution of `CLOCK_MONOTONIC_COARSE`, if the kernel has it.
fn coarse_resolution_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    let r = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (r == 0).then(|| (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64)
}

/// `clock` (`CLOCK_MONOTONIC` or `CLOCK_MONOTONIC_COARSE`, one time base)
/// in nanoseconds, never 0 once the system is up.
#[inline]
fn now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; both clocks exist on
    // every kernel coring runs on (2.6.32 and later), so the call cannot
    // fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}
