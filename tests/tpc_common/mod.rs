//! Helpers shared by the thread-per-core tests (`tpc_*.rs`): a watchdog,
//! fd and thread counting, the CPUs this process may use, and pipes.
// Each test binary compiles this module and uses its own subset of it.
#![allow(dead_code)]

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Runs `f` on its own thread; fails the test (instead of hanging it) when
/// `f` takes longer than `limit`. A panic in `f` is resumed here.
pub fn within<T, F>(what: &str, limit: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let body = std::thread::Builder::new()
        .name(format!("tpc-{what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn the test body thread");
    match rx.recv_timeout(limit) {
        Ok(v) => {
            body.join().expect("test body thread");
            v
        }
        Err(RecvTimeoutError::Disconnected) => match body.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the body sends before it ends"),
        },
        // The body thread is left behind; the harness ends it with the
        // process.
        Err(RecvTimeoutError::Timeout) => panic!("{what}: no result within {limit:?} (a hang)"),
    }
}

/// Polls `cond` every millisecond until it holds or `limit` passes;
/// returns whether it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Names (comm) of this process's threads.
pub fn thread_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let path = e.ok()?.path().join("comm");
        // A thread may end between the listing and the read.
        let name = std::fs::read_to_string(path).ok()?;
        Some(name.trim_end().to_string())
    })
    .collect()
}

/// How many of this process's threads have a name starting with `prefix`.
/// (comm holds at most 15 bytes of the name.)
pub fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|n| n.starts_with(prefix))
        .count()
}

/// The CPUs this process may run on (sched_getaffinity(2)).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; all-zero is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most size_of::<cpu_set_t>() bytes into
    // `set`, which lives for the call.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(
        r,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    let bits = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads `set` at an index below its size in bits.
    (0..bits)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// A pipe: (read end, write end), both close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two fds into the live 2-element array.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}
