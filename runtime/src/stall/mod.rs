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
//! a reporter thread (one per process too) names its frames from the
//! binary's symbols and debug info and calls the handler, never on a
//! core. A poll is reported within
//! 1.25 thresholds of its start (plus scheduling delays); a poll shorter
//! than the threshold never is. A poll still running after
//! [`STUCK_AFTER`] (or ten thresholds, if longer) is reported then, with
//! [`Stall::ongoing`] set, and not again when it returns: a core stuck
//! for good still says where.
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
    AtomicU64, AtomicUsize,
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
/// the detector's reporter thread, one report at a time, for every
/// runtime that uses it.
pub type StallHandler = Arc<dyn Fn(&Stall) + Send + Sync + 'static>;

/// The low bit of `poll_started`: the watchdog marked this poll stalled
/// (rule 2).
const STALLED: u64 = 1;
/// The second bit: the watchdog reported this poll while it ran (rule 5).
const ONGOING: u64 = 2;
/// The bits of `poll_started` that are not time.
const MARKS: u64 = STALLED | ONGOING;

/// How long a stalled poll may run before it is reported without
/// waiting for it to return (at least ten thresholds).
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

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
///    With the addresses it records what the poll polls (`current`: a
///    task, of which it takes a count, or the `block_on` future's
///    location) into the sample's `who`, before the tag.
/// 4. The core thread's swap after the poll sees the mark; it reads the
///    sample if its tag is this poll's word, gives the handler's task
///    count back, and sends the watchdog the task's name and spawn
///    location, the duration and the addresses. The reporter thread
///    symbolizes them and calls the runtime's handler: one report per
///    stalled poll, never on the core thread nor the watchdog's.
/// 5. A marked poll whose sample is taken and that is still running
///    after the slot's `stuck_after_ns` is marked ongoing (the second
///    bit, again by compare-exchange) by the watchdog, which then owns
///    the sample and its `who` and reports the poll at once. The core's
///    swap sees that bit and only counts the stall.
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
    /// Rule 5: how old a marked poll is when it is reported unreturned.
    stuck_after_ns: u64,
    /// What the running timed poll polls: a task's header address (whose
    /// count the poll holds), or the `block_on` location's address with
    /// the low bit set; 0 between polls.
    current: AtomicUsize,
    /// What a report of this runtime's stalls says besides the poll.
    info: SlotInfo,
    /// The core's thread, for `pthread_kill(3)`. Valid while the slot is
    /// registered with the watchdog: the runtime deregisters it on its
    /// own thread before that thread can end.
    thread: libc::pthread_t,
    /// Rule 3.
    sample: signal::Sample,
    /// Reports of this slot's stalls the handler has returned from.
    reported: AtomicU64,
}

/// The runtime's side of a report.
struct SlotInfo {
    handler: StallHandler,
    core: Option<usize>,
    thread: Option<String>,
    threshold: Duration,
}

/// A stalled poll, as the core thread sends it to the watchdog (rule 4)
/// or the watchdog finds it (rule 5).
pub(crate) struct Ended {
    slot: Arc<Slot>,
    who: Who,
    duration: Duration,
    ongoing: bool,
    /// The interrupted pc and the return addresses, when the signal came
    /// during the poll.
    sample: Option<(usize, Vec<usize>)>,
}

/// What a sample's `who` holds (rule 3).
enum Polled {
    Task(HeldTask),
    Root(&'static Location<'static>),
}

impl Polled {
    /// Takes the slot's sample's `who`, and with it the handler's count.
    fn take(slot: &Slot) -> Option<Polled> {
        match slot.sample.take_who() {
            0 => None,
            // SAFETY: an odd `who` is a `&'static Location` address with
            // the low bit set (`TimedRoot::poll`).
            w if w & 1 == 1 => Some(Polled::Root(unsafe {
                &*((w & !1) as *const Location<'static>)
            })),
            // SAFETY: an even one is a task header the handler took a
            // count of (`retain_task`), given here once (`take_who`
            // swaps it out).
            w => Some(Polled::Task(unsafe { HeldTask::from_addr(w) })),
        }
    }

    fn who(&self) -> Who {
        match self {
            Polled::Task(held) => Who {
                name: held.meta().name().map(String::from),
                location: held.meta().location(),
                block_on: false,
            },
            Polled::Root(location) => Who {
                name: None,
                location,
                block_on: true,
            },
        }
    }
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
    events: mpsc::Sender<Box<Ended>>,
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
        let stuck_after = STUCK_AFTER.max(cfg.threshold.saturating_mul(10));
        let slot = Arc::new(Slot {
            poll_started: AtomicU64::new(0),
            mark_after_ns: threshold_ns.saturating_add(coarse.unwrap_or(0)),
            stuck_after_ns: u64::try_from(stuck_after.as_nanos()).unwrap_or(u64::MAX),
            current: AtomicUsize::new(0),
            info: SlotInfo {
                handler: cfg.handler.unwrap_or_else(|| Arc::new(report::print)),
                core: cfg.core,
                thread: std::thread::current().name().map(String::from),
                threshold: cfg.threshold,
            },
            // SAFETY: pthread_self(3) always succeeds.
            thread: unsafe { libc::pthread_self() },
            sample: signal::Sample::new(),
            reported: AtomicU64::new(0),
        });
        let events = watchdog::register(slot.clone())?;
        Ok(CoreStall {
            slot,
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
    pub(crate) fn poll_task(&self, core: &Core, task: Notified) -> bool {
        let held: HeldTask = task.hold();
        let started = self.begin(held.addr());
        task.run(core);
        self.end(started, || {
            let meta = held.meta();
            Who {
                name: meta.name().map(String::from),
                location: meta.location(),
                block_on: false,
            }
        })
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

    /// Rule 1, and lets the signal handler find the slot and what it
    /// polls (`Slot::current`).
    #[inline]
    fn begin(&self, polled: usize) -> u64 {
        signal::set_current(&self.slot);
        self.slot.current.store(polled, Relaxed);
        let now = now_ns(self.clock) & !MARKS;
        self.slot.poll_started.store(now, Relaxed);
        now
    }

    /// Whether the poll stalled.
    #[inline]
    fn end(&self, started: u64, who: impl FnOnce() -> Who) -> bool {
        let word = self.slot.poll_started.swap(0, Relaxed);
        self.slot.current.store(0, Relaxed);
        signal::clear_current();
        let stalled = word & STALLED != 0;
        if stalled {
            self.stalled(started, word, who());
        }
        stalled
    }

    /// Rule 4.
    #[cold]
    #[inline(never)]
    fn stalled(&self, started: u64, word: u64, who: Who) {
        self.stalls.set(self.stalls.get() + 1);
        if word & ONGOING != 0 {
            // Rule 5: reported already, by the watchdog, which took `who`.
            return;
        }
        let duration = Duration::from_nanos(now_ns(libc::CLOCK_MONOTONIC).saturating_sub(started));
        // The handler's count, if it took one.
        drop(Polled::take(&self.slot));
        let ended = Ended {
            slot: self.slot.clone(),
            who,
            duration,
            ongoing: false,
            sample: self.slot.sample.read(word),
        };
        // The watchdog lives as long as the process.
        let _ = self.events.send(Box::new(ended));
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
        let polled = this.location as *const Location<'static> as usize | 1;
        let _timer = RootTimer {
            watch: this.watch,
            started: this.watch.begin(polled),
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
