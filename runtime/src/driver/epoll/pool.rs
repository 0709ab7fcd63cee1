//! The blocking pool of the epoll backend: threads that run the ops
//! readiness cannot help (regular files, paths), and post their results
//! back through an eventfd the emulator's epoll watches.

use super::exec::run_blocking;
use super::sqe::RawSqe;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Most threads one pool runs at once.
const MAX_THREADS: usize = 64;
/// An idle thread exits after this long.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

struct Job {
    user_data: u64,
    sqe: RawSqe,
    fd: RawFd,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// user_data of the jobs running now.
    running: Vec<u64>,
    /// Results not yet collected: (user_data, res).
    done: Vec<(u64, i32)>,
    threads: usize,
    idle: usize,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// Written when a result is posted; the emulator's epoll watches it.
    eventfd: OwnedFd,
}

/// What a cancel found.
pub(crate) enum Cancel {
    /// Taken off the queue before it ran.
    Dequeued,
    /// Running now: it completes with its real result.
    Running,
    /// Not in the pool.
    NotFound,
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
    /// Joined on drop, so the pool's eventfd closes with the runtime.
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Jobs submitted whose results were not collected yet.
    outstanding: usize,
}

impl Pool {
    pub(crate) fn new() -> std::io::Result<Pool> {
        // SAFETY: eventfd(2) takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                // SAFETY: a new fd owned by nobody else.
                eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
            }),
            outstanding: 0,
            threads: Vec::new(),
        })
    }

    pub(crate) fn eventfd(&self) -> RawFd {
        self.shared.eventfd.as_raw_fd()
    }

    /// Jobs submitted and not yet collected.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Runs `sqe` (on `fd`) on a pool thread.
    pub(crate) fn submit(&mut self, user_data: u64, sqe: RawSqe, fd: RawFd) {
        let mut st = lock(&self.shared.state);
        st.queue.push_back(Job { user_data, sqe, fd });
        self.outstanding += 1;
        if st.idle == 0 && st.threads < MAX_THREADS {
            st.threads += 1;
            drop(st);
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("coring-epoll-pool".into())
                .spawn(move || worker(&shared));
            if let Ok(handle) = spawned {
                self.threads.retain(|t| !t.is_finished());
                self.threads.push(handle);
            } else {
                // The jobs wait for a thread already running (if any); a
                // pool with none fails them rather than hang.
                let mut st = lock(&self.shared.state);
                st.threads -= 1;
                if st.threads == 0 {
                    while let Some(j) = st.queue.pop_front() {
                        st.done.push((j.user_data, -libc::EAGAIN));
                    }
                    drop(st);
                    notify(&self.shared);
                }
            }
            return;
        }
        drop(st);
        self.shared.work.notify_one();
    }

    /// Takes a queued job off the queue, or says it runs.
    pub(crate) fn cancel(&mut self, user_data: u64) -> Cancel {
        let mut st = lock(&self.shared.state);
        if let Some(i) = st.queue.iter().position(|j| j.user_data == user_data) {
            st.queue.remove(i);
            self.outstanding -= 1;
            return Cancel::Dequeued;
        }
        if st.running.contains(&user_data) {
            Cancel::Running
        } else {
            Cancel::NotFound
        }
    }

    /// Moves finished jobs' results into `out`.
    pub(crate) fn collect(&mut self, out: &mut Vec<(u64, i32)>) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `count`, which outlives it.
        unsafe { libc::read(self.eventfd(), count.as_mut_ptr().cast(), 8) };
        let mut st = lock(&self.shared.state);
        self.outstanding -= st.done.len();
        out.append(&mut st.done);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.work.notify_all();
        // Every op the pool ran has completed by now (the runtime waits
        // for the final CQE of each before it drops the driver), so the
        // threads are idle or finishing a post.
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn notify(shared: &Shared) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to our eventfd.
    unsafe { libc::write(shared.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

fn worker(shared: &Shared) {
    let mut st = lock(&shared.state);
    loop {
        if let Some(job) = st.queue.pop_front() {
            st.running.push(job.user_data);
            drop(st);
            let r = run_blocking(&job.sqe, job.fd);
            st = lock(&shared.state);
            st.running.retain(|&u| u != job.user_data);
            st.done.push((job.user_data, r));
            notify(shared);
            continue;
        }
        if st.closed {
            break;
        }
        st.idle += 1;
        let (guard, timeout) = shared
            .work
            .wait_timeout(st, KEEP_ALIVE)
            .unwrap_or_else(|p| p.into_inner());
        st = guard;
        st.idle -= 1;
        if timeout.timed_out() && st.queue.is_empty() {
            break;
        }
    }
    st.threads -= 1;
}
