//! The stall signal: its one-time installation, and the handler that
//! records where a stalled core thread is (rule 3 of the module doc).
//!
//! The signal is a real-time one: the highest of `SIGRTMIN..=SIGRTMAX`
//! whose disposition is still the default when the first runtime with the
//! detector on is built ([`stall_signal`] says which). It is installed
//! once per process and never uninstalled; coring never touches another
//! signal's disposition. It is sent only to a core thread in the middle
//! of a poll that is over its threshold, with `pthread_kill(3)`, and
//! installed with `SA_RESTART`, so most interrupted system calls resume;
//! a few (`nanosleep(2)`, `poll(2)`, `epoll_wait(2)`; see signal(7))
//! return `EINTR` instead, once, which `std::thread::sleep` and
//! well-written blocking code retry.
//!
//! What the handler does is async-signal-safe except the unwinding: it
//! walks the interrupted stack with the unwinder the standard library's
//! panics use (libgcc's `_Unwind_Backtrace`, through the `backtrace`
//! crate's `trace_unsynchronized`), which allocates nothing once it has
//! run once (`install` runs it) and looks frames up with
//! `_dl_find_object` or under the dynamic loader's recursive lock. The
//! addresses go into atomics in the slot; nothing is symbolized here.

use super::{Slot, MARKS, STALLED};
use std::cell::Cell;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Return addresses kept per sample.
const MAX_FRAMES: usize = 96;

/// The signal, once chosen and installed: its number, or why none could
/// be.
static SIGNAL: OnceLock<Result<libc::c_int, String>> = OnceLock::new();

thread_local! {
    /// The slot of the runtime whose timed poll runs on this thread (null
    /// outside one). Const-initialised with no destructor, so the handler
    /// reads it with a plain TLS access.
    static CURRENT: Cell<*const Slot> = const { Cell::new(ptr::null()) };
}

/// The real-time signal the stall detector uses in this process, or
/// `None` before any runtime turned the detector on.
pub fn stall_signal() -> Option<i32> {
    SIGNAL.get().and_then(|r| r.as_ref().ok().copied())
}

/// Chooses and installs the signal, once per process.
pub(super) fn install() -> io::Result<libc::c_int> {
    match SIGNAL.get_or_init(choose_and_install) {
        Ok(sig) => Ok(*sig),
        Err(why) => Err(io::Error::other(why.clone())),
    }
}

fn choose_and_install() -> Result<libc::c_int, String> {
    // The unwinder's one-time set-up (which may allocate) runs here, not
    // in the handler.
    // SAFETY: nothing else this thread does is interrupted by this trace;
    // on Linux the unwinder is thread-safe.
    unsafe { backtrace::trace_unsynchronized(|_| false) };
    for sig in (libc::SIGRTMIN()..=libc::SIGRTMAX()).rev() {
        // SAFETY: an all-zero sigaction is a valid value to be written.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one into `old`.
        if unsafe { libc::sigaction(sig, ptr::null(), &mut old) } != 0 {
            continue;
        }
        if old.sa_sigaction != libc::SIG_DFL {
            continue;
        }
        // SAFETY: as above.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            on_signal;
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        // SAFETY: `sa_mask` is a valid sigset_t to clear; `action` is
        // complete and its handler is an `extern "C"` function of the
        // SA_SIGINFO signature that lives as long as the process.
        let r = unsafe {
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, ptr::null_mut())
        };
        if r == 0 {
            return Ok(sig);
        }
    }
    Err(
        "coring: the stall detector found no real-time signal with the default disposition \
         (SIGRTMIN..=SIGRTMAX all have handlers); leave one free or turn the detector off"
            .to_string(),
    )
}

/// Sends the stall signal to `thread`.
pub(super) fn send(thread: libc::pthread_t) {
    if let Some(sig) = stall_signal() {
        // SAFETY: the caller holds the watchdog's registry lock, under
        // which a registered slot's thread is alive (`Slot::thread`).
        unsafe { libc::pthread_kill(thread, sig) };
    }
}

/// Makes `slot` the one the handler samples, for the length of one
/// timed poll ([`clear_current`] ends it, before the poll's runtime can
/// drop the slot: polls do not nest).
#[inline]
pub(super) fn set_current(slot: &std::sync::Arc<Slot>) {
    CURRENT.with(|c| c.set(std::sync::Arc::as_ptr(slot)));
}

/// Ends [`set_current`].
#[inline]
pub(super) fn clear_current() {
    CURRENT.with(|c| c.set(ptr::null()));
}

/// Where one stalled poll was interrupted (rule 3). Written by the
/// handler on the core thread, read by the same thread after the poll.
pub(super) struct Sample {
    /// The `poll_started` word the sample belongs to, 0 for none.
    tag: AtomicU64,
    /// The slot's `current` when the sample was taken, with a count of
    /// the task (rule 3); taken by whoever reports the poll.
    who: AtomicUsize,
    /// The interrupted instruction.
    pc: AtomicUsize,
    len: AtomicUsize,
    ips: [AtomicUsize; MAX_FRAMES],
}

impl Sample {
    pub(super) fn new() -> Sample {
        Sample {
            tag: AtomicU64::new(0),
            who: AtomicUsize::new(0),
            pc: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
        }
    }

    /// Whether the sample is of the poll whose marked word is `word`.
    pub(super) fn is_for(&self, word: u64) -> bool {
        self.tag.load(Ordering::Acquire) == word
    }

    /// Takes `who` (0 for none), and the count it may hold.
    pub(super) fn take_who(&self) -> usize {
        self.who.swap(0, Ordering::Acquire)
    }

    /// The sample of the poll whose marked word is `word`, if the handler
    /// took one: the interrupted pc and every return address, innermost
    /// first (the handler's own frames included).
    pub(super) fn read(&self, word: u64) -> Option<(usize, Vec<usize>)> {
        if !self.is_for(word) {
            return None;
        }
        let len = self.len.load(Ordering::Relaxed);
        let ips = self.ips[..len]
            .iter()
            .map(|ip| ip.load(Ordering::Relaxed))
            .collect();
        Some((self.pc.load(Ordering::Relaxed), ips))
    }

    /// The handler's work: records the stack, and what the poll polls,
    /// if the running poll is marked stalled and not yet sampled.
    fn take(&self, slot: &Slot, pc: usize) {
        let word = slot.poll_started.load(Ordering::Relaxed);
        // Marked, not reported while running (its `who` is the watchdog's
        // then), not sampled yet.
        if word & MARKS != STALLED || self.tag.load(Ordering::Relaxed) == word {
            return;
        }
        let mut n = 0;
        // SAFETY: on Linux the unwinder is thread-safe; the closure does
        // not panic (it only stores into atomics, index checked).
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                let Some(slot) = self.ips.get(n) else {
                    return false;
                };
                slot.store(frame.ip() as usize, Ordering::Relaxed);
                n += 1;
                true
            });
        }
        self.pc.store(pc, Ordering::Relaxed);
        self.len.store(n, Ordering::Relaxed);
        // `who` is empty unless its taker has not come yet; only this
        // thread fills it, so the check cannot race with another fill.
        let current = slot.current.load(Ordering::Relaxed);
        if current != 0 && self.who.load(Ordering::Relaxed) == 0 {
            if current & 1 == 0 {
                // SAFETY: an even `current` is the header of the task this
                // thread is polling, which the poll keeps alive; the count
                // goes back through `Polled::take`.
                unsafe { crate::executor::retain_task(current) };
            }
            self.who.store(current, Ordering::Relaxed);
        }
        self.tag.store(word, Ordering::Release);
    }
}

/// The stall signal's handler (SA_SIGINFO).
extern "C" fn on_signal(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: __errno_location(3) gives this thread's errno, which the
    // handler must leave as it found it.
    let errno = unsafe { *libc::__errno_location() };
    let slot = CURRENT.with(Cell::get);
    if !slot.is_null() {
        // SAFETY: a non-null CURRENT points at the slot of the runtime
        // whose timed poll runs on this thread, which holds the slot's
        // Arc until after `clear_current`.
        let slot = unsafe { &*slot };
        slot.sample.take(slot, interrupted_pc(ctx));
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The instruction the signal interrupted, from the handler's context
/// argument (0 where coring does not know the layout).
fn interrupted_pc(ctx: *mut libc::c_void) -> usize {
    if ctx.is_null() {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: with SA_SIGINFO the third argument is the interrupted
        // context, a `ucontext_t`.
        let uc = unsafe { &*ctx.cast::<libc::ucontext_t>() };
        uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above.
        let uc = unsafe { &*ctx.cast::<libc::ucontext_t>() };
        uc.uc_mcontext.pc as usize
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        0
    }
}
