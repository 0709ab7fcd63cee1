//! Ctrl-C: [`ctrl_c`], a future that resolves on SIGINT.
//!
//! ```no_run
//! coring_runtime::start(async {
//!     println!("press Ctrl-C");
//!     coring_runtime::signal::ctrl_c().await.expect("install the handler");
//!     println!("bye");
//! })
//! .unwrap();
//! ```
//!
//! The same handlers stop thread-per-core launches on SIGINT and SIGTERM
//! ([`CoresHandle::shutdown_on_signals`](crate::CoresHandle::shutdown_on_signals)).
//! They are installed once per process, by the first of the two calls.
//! The handler only writes to an eventfd (async-signal-safe); a watcher
//! thread reads it, wakes every [`ctrl_c`] future (for SIGINT) and asks
//! every registered launch to shut down.
//!
//! A signal that finds nobody to tell (no [`ctrl_c`] future alive for a
//! SIGINT, and no launch left to stop gracefully: they were all stopped
//! already, or a first Ctrl-C is still being served) gets the default
//! action back and is raised again, so the process ends as it would
//! without coring: a second Ctrl-C always works.

use crate::cores::ShutdownState;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Waker};

static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);
/// The last signal caught, for the watcher to re-raise.
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The outcome of installing the handlers (once per process), kept so a
/// failure is reported to every caller, not only the first.
static INSTALL: OnceLock<Result<(), (io::ErrorKind, String)>> = OnceLock::new();
static TARGETS: Mutex<Vec<Weak<ShutdownState>>> = Mutex::new(Vec::new());
/// SIGINTs caught and not yet handled by the watcher (an eventfd write
/// may stand for several signals).
static PENDING_SIGINT: AtomicUsize = AtomicUsize::new(0);
/// The live [`CtrlC`] futures and how many SIGINTs the watcher handled.
static CTRL_C: Mutex<Waiters> = Mutex::new(Waiters {
    sigints: 0,
    next_id: 0,
    live: Vec::new(),
});

/// The [`CtrlC`] futures alive: each by its id, with its waker once
/// polled.
struct Waiters {
    /// SIGINTs handled so far; a future resolves once this moves past
    /// the count it started from.
    sigints: u64,
    next_id: u64,
    live: Vec<(u64, Option<Waker>)>,
}

extern "C" fn on_signal(sig: libc::c_int) {
    LAST_SIGNAL.store(sig, SeqCst);
    if sig == libc::SIGINT {
        PENDING_SIGINT.fetch_add(1, SeqCst);
    }
    let fd = SIGNAL_FD.load(SeqCst);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: write(2) is async-signal-safe; it reads 8 bytes from a
        // live u64.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
}

/// Registers `target` to be shut down on SIGINT or SIGTERM, installing the
/// handlers and the watcher thread the first time.
pub(crate) fn on_terminate(target: Weak<ShutdownState>) -> io::Result<()> {
    TARGETS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(target);
    installed()
}

/// Installs the handlers and the watcher thread once per process; every
/// caller gets the outcome.
fn installed() -> io::Result<()> {
    match INSTALL.get_or_init(|| install().map_err(|e| (e.kind(), e.to_string()))) {
        Ok(()) => Ok(()),
        Err((kind, msg)) => Err(io::Error::new(
            *kind,
            format!("coring: cannot install the SIGINT/SIGTERM handlers: {msg}"),
        )),
    }
}

/// A future that resolves when the process gets SIGINT (Ctrl-C) after
/// this call.
///
/// Installs coring's SIGINT and SIGTERM handlers the first time (once per
/// process; they stay). Needs no runtime: the future is woken from
/// coring's signal thread, so it can be awaited on any executor, and any
/// number of them can wait at once: one SIGINT resolves them all.
///
/// While a `ctrl_c` future is alive, SIGINT no longer ends the process:
/// the future reports it and the program decides. A SIGINT that comes
/// when no `ctrl_c` future is alive (and no launch is left to stop with
/// [`shutdown_on_signals`](crate::CoresHandle::shutdown_on_signals)) ends
/// the process, as it would without coring. To stop on every Ctrl-C,
/// call `ctrl_c()` again as soon as one resolves.
///
/// # Errors
///
/// The future resolves to an error when the handlers cannot be installed.
///
/// # Examples
///
/// A server that stops taking connections on Ctrl-C: race the accept loop
/// against the signal.
///
/// ```no_run
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::Poll;
///
/// async fn serve() {
///     loop {
///         // accept and spawn ...
///         coring_runtime::time::sleep(std::time::Duration::from_secs(1)).await;
///     }
/// }
///
/// coring_runtime::start(async {
///     let mut ctrl_c = pin!(coring_runtime::signal::ctrl_c());
///     let mut server = pin!(serve());
///     std::future::poll_fn(|cx| {
///         if let Poll::Ready(r) = ctrl_c.as_mut().poll(cx) {
///             return Poll::Ready(r);
///         }
///         server.as_mut().poll(cx).map(Ok)
///     })
///     .await
///     .expect("the SIGINT handler");
///     println!("Ctrl-C: bye");
/// })
/// .unwrap();
/// ```
pub fn ctrl_c() -> CtrlC {
    let installed = installed();
    let mut w = CTRL_C.lock().unwrap_or_else(|p| p.into_inner());
    let id = w.next_id;
    w.next_id += 1;
    w.live.push((id, None));
    CtrlC {
        id,
        start: w.sigints,
        installed: Some(installed),
    }
}

/// The future of [`ctrl_c`]: resolves to `Ok(())` on the first SIGINT
/// after it was made.
#[must_use = "a future does nothing unless awaited"]
#[derive(Debug)]
pub struct CtrlC {
    id: u64,
    /// The SIGINT count when it was made.
    start: u64,
    /// Whether the handlers were installed; taken by the first poll.
    installed: Option<io::Result<()>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(Err(e)) = this.installed.take() {
            return Poll::Ready(Err(e));
        }
        let mut w = CTRL_C.lock().unwrap_or_else(|p| p.into_inner());
        if w.sigints != this.start {
            return Poll::Ready(Ok(()));
        }
        if let Some((_, waker)) = w.live.iter_mut().find(|(id, _)| *id == this.id) {
            match waker {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        let mut w = CTRL_C.lock().unwrap_or_else(|p| p.into_inner());
        w.live.retain(|(id, _)| *id != self.id);
    }
}

/// Handles SIGINTs: wakes every live [`CtrlC`]. Returns whether there was
/// one to tell.
fn fire_ctrl_c(count: usize) -> bool {
    let (told, wakers) = {
        let mut w = CTRL_C.lock().unwrap_or_else(|p| p.into_inner());
        w.sigints += count as u64;
        let wakers: Vec<Waker> = w
            .live
            .iter_mut()
            .filter_map(|(_, waker)| waker.take())
            .collect();
        (!w.live.is_empty(), wakers)
    };
    // Woken outside the lock: a waker may run anything.
    for waker in wakers {
        waker.wake();
    }
    told
}

fn install() -> io::Result<()> {
    // SAFETY: eventfd(2) takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    SIGNAL_FD.store(fd, SeqCst);
    std::thread::Builder::new()
        .name("coring-signals".into())
        .spawn(move || watch(fd))?;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero sigaction is valid; we set the handler, an
        // empty mask and SA_RESTART before passing it to sigaction(2).
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa.sa_mask` is a valid sigset_t to clear.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: installs a handler that only calls write(2).
        if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn watch(fd: libc::c_int) {
    loop {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our eventfd.
        let r = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let sigints = PENDING_SIGINT.swap(0, SeqCst);
        let told = sigints > 0 && fire_ctrl_c(sigints);
        let targets = std::mem::take(&mut *TARGETS.lock().unwrap_or_else(|p| p.into_inner()));
        let mut stopped = 0;
        for t in targets.iter().filter_map(Weak::upgrade) {
            if !t.is_requested() {
                t.request();
                stopped += 1;
            }
        }
        if stopped == 0 && !told {
            default_action(LAST_SIGNAL.load(SeqCst));
        }
    }
}

/// Nobody is left to stop gracefully: give `sig` its default action back
/// and raise it again, which ends the process.
fn default_action(sig: libc::c_int) {
    if sig <= 0 {
        return;
    }
    // SAFETY: signal(2) and raise(3) take no pointers; SIG_DFL for SIGINT
    // or SIGTERM terminates the process, as if coring had not been there.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}
