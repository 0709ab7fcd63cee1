//! SIGINT / SIGTERM to a shutdown request.
//!
//! The handler only writes to an eventfd (async-signal-safe); a watcher
//! thread reads it and asks every registered launch to shut down.
//!
//! A signal that finds no launch left to stop gracefully (they were all
//! stopped already, or a first Ctrl-C is still being served) gets the
//! default action back and is raised again, so the process ends as it
//! would without coring: a second Ctrl-C always works.

use crate::cores::ShutdownState;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock, Weak};

static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);
/// The last signal caught, for the watcher to re-raise.
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The outcome of installing the handlers (once per process), kept so a
/// failure is reported to every caller, not only the first.
static INSTALL: OnceLock<Result<(), (io::ErrorKind, String)>> = OnceLock::new();
static TARGETS: Mutex<Vec<Weak<ShutdownState>>> = Mutex::new(Vec::new());

extern "C" fn on_signal(sig: libc::c_int) {
    LAST_SIGNAL.store(sig, SeqCst);
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
    match INSTALL.get_or_init(|| install().map_err(|e| (e.kind(), e.to_string()))) {
        Ok(()) => Ok(()),
        Err((kind, msg)) => Err(io::Error::new(
            *kind,
            format!("coring: cannot install the SIGINT/SIGTERM handlers: {msg}"),
        )),
    }
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
        let targets = std::mem::take(&mut *TARGETS.lock().unwrap_or_else(|p| p.into_inner()));
        let mut stopped = 0;
        for t in targets.iter().filter_map(Weak::upgrade) {
            if !t.is_requested() {
                t.request();
                stopped += 1;
            }
        }
        if stopped == 0 {
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
