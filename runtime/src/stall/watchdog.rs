//! The watchdog thread and the reporter thread: one of each per process,
//! started by the first runtime with the stall detector on. The watchdog
//! marks stalled polls and signals their threads (rules 2, 3 and 5 on
//! `Slot`); with no runtime registered it sleeps until one is. The
//! reporter turns stalled polls into [`Stall`]s for their handlers (rule
//! 4): symbolizing (slow the first time, while the debug info loads) and
//! a slow handler never delay the watchdog's next look.

use super::report::Stall;
use super::{now_ns, signal, Ended, Polled, Slot, MARKS, ONGOING, STALLED};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

struct Watchdog {
    /// The registered slots. The watchdog signals a slot's thread only
    /// while holding this lock, and a runtime deregisters (on its own
    /// thread, before that thread can end) under it too.
    slots: Arc<Slots>,
    /// Wakes the watchdog when a slot is registered.
    registered: mpsc::Sender<()>,
    /// To the reporter thread.
    reports: mpsc::Sender<Box<Ended>>,
}

type Slots = Mutex<Vec<Arc<Slot>>>;

static WATCHDOG: OnceLock<Result<Watchdog, String>> = OnceLock::new();

/// The shortest and longest time between two looks.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_millis(250);

fn watchdog() -> io::Result<&'static Watchdog> {
    WATCHDOG
        .get_or_init(start)
        .as_ref()
        .map_err(|why| io::Error::other(why.clone()))
}

fn start() -> Result<Watchdog, String> {
    let (registered, registrations) = mpsc::channel();
    let (reports, to_report) = mpsc::channel::<Box<Ended>>();
    let slots = Arc::new(Mutex::new(Vec::new()));
    let theirs = slots.clone();
    let ours = reports.clone();
    let failed = |e| format!("coring: cannot start the stall detector's threads: {e}");
    std::thread::Builder::new()
        .name("coring-stall-report".into())
        .spawn(move || {
            for ended in to_report {
                report(*ended);
            }
        })
        .map_err(failed)?;
    std::thread::Builder::new()
        .name("coring-stall-watchdog".into())
        .spawn(move || run(&theirs, &registrations, &ours))
        .map_err(failed)?;
    Ok(Watchdog {
        slots,
        registered,
        reports,
    })
}

fn lock_slots(slots: &Slots) -> MutexGuard<'_, Vec<Arc<Slot>>> {
    // The lock guards no invariant a panic could break.
    slots.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `slot`; returns the sender its runtime reports on.
pub(super) fn register(slot: Arc<Slot>) -> io::Result<mpsc::Sender<Box<Ended>>> {
    let w = watchdog()?;
    lock_slots(&w.slots).push(slot);
    let _ = w.registered.send(());
    Ok(w.reports.clone())
}

/// Forgets `slot`: its thread is signalled no more once this returns.
pub(super) fn deregister(slot: &Arc<Slot>) {
    if let Some(Ok(w)) = WATCHDOG.get() {
        lock_slots(&w.slots).retain(|s| !Arc::ptr_eq(s, slot));
    }
}

/// The watchdog's loop.
fn run(slots: &Slots, registrations: &mpsc::Receiver<()>, reports: &mpsc::Sender<Box<Ended>>) {
    loop {
        // `WATCHDOG` keeps a sender for the life of the process.
        let woke = match tick(slots) {
            None => registrations.recv().is_ok(),
            Some(t) => !matches!(
                registrations.recv_timeout(t),
                Err(mpsc::RecvTimeoutError::Disconnected)
            ),
        };
        if !woke {
            return;
        }
        for ended in look(slots) {
            let _ = reports.send(Box::new(ended));
        }
    }
}

/// A quarter of the smallest threshold registered, `None` with none.
fn tick(slots: &Slots) -> Option<Duration> {
    let slots = lock_slots(slots);
    let min = slots.iter().map(|s| s.mark_after_ns).min()?;
    Some(Duration::from_nanos(min / 4).clamp(MIN_TICK, MAX_TICK))
}

/// Rules 2, 3 and 5: marks and signals every poll over its threshold;
/// returns the reports of those stuck for good.
fn look(slots: &Slots) -> Vec<Ended> {
    let mut stuck = Vec::new();
    {
        let slots = lock_slots(slots);
        let now = now_ns(libc::CLOCK_MONOTONIC);
        for slot in slots.iter() {
            let word = slot.poll_started.load(Relaxed);
            let age = now.saturating_sub(word & !MARKS);
            if word == 0 || word & ONGOING != 0 {
                continue;
            }
            if word & STALLED == 0 {
                if age >= slot.mark_after_ns && mark(slot, word, word | STALLED) {
                    signal::send(slot.thread);
                }
            } else if age >= slot.stuck_after_ns
                && slot.sample.is_for(word)
                && mark(slot, word, word | ONGOING)
            {
                stuck.extend(ongoing(slot, word, age));
            }
        }
    }
    stuck
}

/// Moves the slot's word from `word` to `to`; fails when the poll ended.
fn mark(slot: &Slot, word: u64, to: u64) -> bool {
    slot.poll_started
        .compare_exchange(word, to, Relaxed, Relaxed)
        .is_ok()
}

/// Rule 5: the report of a poll marked ongoing, whose sample the
/// watchdog now owns.
fn ongoing(slot: &Arc<Slot>, word: u64, age: u64) -> Option<Ended> {
    let polled = Polled::take(slot)?;
    Some(Ended {
        slot: slot.clone(),
        who: polled.who(),
        duration: Duration::from_nanos(age),
        ongoing: true,
        sample: slot.sample.read(word),
    })
}

/// Symbolizes and hands one stall to its handler; a panicking handler
/// loses its report, not the watchdog.
fn report(ended: Ended) {
    let slot = ended.slot.clone();
    let handler = slot.info.handler.clone();
    let stall = Stall::from_ended(ended);
    let _ = catch_unwind(AssertUnwindSafe(|| handler(&stall)));
    slot.reported.fetch_add(1, Release);
}
