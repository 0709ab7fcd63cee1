//! Helpers of the thread-per-core tests (`tpc_*.rs`): waiting for a
//! condition, this process's threads by name, the CPUs it may use.

use std::time::{Duration, Instant};

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
