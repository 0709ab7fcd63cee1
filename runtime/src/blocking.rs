//! `spawn_blocking`: a bounded thread pool for calls io_uring cannot make
//! (DNS lookups, directory listings, anything a user brings).
//!
//! Each runtime has its own pool, started lazily: a job goes to an idle
//! thread if there is one, else to a new thread while fewer than
//! `max_blocking_threads` run, else it waits in the queue. A thread that
//! found no job for `blocking_keep_alive` exits. A thread that just ran a
//! job first spins for up to [`SPIN`] watching for the next one before it
//! sleeps: a task calling `spawn_blocking` in a loop then finds a thread
//! awake instead of paying a futex wake-up per call. The result comes back
//! through a `Send` waker, which unparks the ring when it is asleep.
//!
//! At runtime shutdown queued jobs that have not started are dropped (their
//! handles give a cancelled [`JoinError`]); running ones finish, and every
//! pool thread is joined.

use crate::context;
use crate::executor::{oneshot, JoinError};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long a thread that just ran a job watches for the next one before
/// it sleeps on the condvar (a few futex wake-ups' worth; it costs CPU
/// only right after a job).
const SPIN: Duration = Duration::from_micros(25);

/// A runtime's blocking pool.
pub(crate) struct BlockingPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    state: Mutex<PoolState>,
    /// Jobs in `state.jobs`, readable without the lock by spinners.
    queued: AtomicUsize,
    job_ready: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    /// Threads waiting for work that no job has claimed yet.
    idle: usize,
    /// Threads spinning after a job (see [`SPIN`]) and not yet claimed:
    /// a new job claims one and is left in the queue for it, with no
    /// wake-up and no new thread.
    spinning: usize,
    /// Claims on spinners not yet taken: a spinner that stops takes one
    /// if there is one, else leaves `spinning` (like `wakeups`/`idle`).
    spin_claims: usize,
    /// Wake-ups sent to idle threads and not yet taken: each claims one
    /// idle thread for one queued job, so a second job that arrives before
    /// the first thread woke starts another thread instead of queueing
    /// behind the first job.
    wakeups: usize,
    threads: usize,
    next_id: usize,
    shutdown: bool,
    /// Threads to join at shutdown, by id. A thread that exits idle takes
    /// its own handle out (detaching itself), so exited threads do not
    /// pile up.
    handles: Vec<(usize, ThreadHandle<()>)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic never happens while a pool lock is held (jobs run unlocked
    // and catch their panics), so poisoning carries no broken invariant.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> Self {
        BlockingPool {
            inner: Arc::new(PoolInner {
                state: Mutex::new(PoolState::default()),
                queued: AtomicUsize::new(0),
                job_ready: Condvar::new(),
                max_threads: max_threads.max(1),
                keep_alive,
            }),
        }
    }

    pub(crate) fn spawn<F, T>(&self, f: F) -> BlockingHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            tx.send(catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::panic));
        });
        let mut st = lock(&self.inner.state);
        if st.shutdown {
            drop(st);
            drop(job);
            return BlockingHandle { rx };
        }
        st.jobs.push_back(job);
        self.inner.queued.store(st.jobs.len(), Ordering::Release);
        if st.spinning > 0 {
            // A spinner takes it: it sees `queued`, and re-checks the queue
            // under the lock before it could sleep.
            st.spinning -= 1;
            st.spin_claims += 1;
        } else if st.idle > 0 {
            st.idle -= 1;
            st.wakeups += 1;
            self.inner.job_ready.notify_one();
        } else if st.threads < self.inner.max_threads {
            st.threads += 1;
            st.next_id += 1;
            let inner = self.inner.clone();
            let id = st.next_id;
            let spawned = std::thread::Builder::new()
                .name(format!("coring-blocking-{id}"))
                .spawn(move || inner.worker(id));
            match spawned {
                Ok(h) => st.handles.push((id, h)),
                // No thread to be had: the job waits for a running one; with
                // none running it is failed below.
                Err(_) => st.threads -= 1,
            }
            if st.threads == 0 {
                let job = st.jobs.pop_back();
                self.inner.queued.store(st.jobs.len(), Ordering::Relaxed);
                drop(st);
                drop(job);
            }
        }
        BlockingHandle { rx }
    }

    /// Drops queued jobs, lets running ones finish, joins every thread.
    pub(crate) fn shutdown(&self) {
        let (jobs, handles) = {
            let mut st = lock(&self.inner.state);
            st.shutdown = true;
            self.inner.queued.store(0, Ordering::Relaxed);
            (
                std::mem::take(&mut st.jobs),
                std::mem::take(&mut st.handles),
            )
        };
        self.inner.job_ready.notify_all();
        drop(jobs);
        for (_, h) in handles {
            let _ = h.join();
        }
    }
}

impl PoolInner {
    /// Watches the queue for up to [`SPIN`] without the lock.
    fn spin(&self) {
        let start = Instant::now();
        loop {
            for _ in 0..64 {
                if self.queued.load(Ordering::Acquire) > 0 {
                    return;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= SPIN {
                return;
            }
        }
    }

    fn worker(self: Arc<Self>, id: usize) {
        let mut st = lock(&self.state);
        loop {
            if let Some(job) = st.jobs.pop_front() {
                self.queued.store(st.jobs.len(), Ordering::Relaxed);
                drop(st);
                job();
                st = lock(&self.state);
                if st.jobs.is_empty() && !st.shutdown {
                    st.spinning += 1;
                    drop(st);
                    self.spin();
                    st = lock(&self.state);
                    if st.spin_claims > 0 {
                        st.spin_claims -= 1;
                    } else {
                        st.spinning -= 1;
                    }
                }
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .job_ready
                .wait_timeout(st, self.keep_alive)
                .unwrap_or_else(|p| p.into_inner());
            st = guard;
            if st.wakeups > 0 {
                // Claimed by a job (the sender already took us off `idle`).
                st.wakeups -= 1;
                continue;
            }
            st.idle -= 1;
            if timeout.timed_out() && st.jobs.is_empty() {
                // Idle too long: leave, detached (nobody needs to join us).
                if let Some(i) = st.handles.iter().position(|(h, _)| *h == id) {
                    drop(st.handles.swap_remove(i));
                }
                break;
            }
        }
        st.threads -= 1;
    }
}

/// The handle of a [`spawn_blocking`] job: awaits its result. A panic in
/// the job comes back as a [`JoinError`]; so does a job dropped unstarted
/// at runtime shutdown. Dropping the handle does not stop the job.
#[must_use = "dropping the handle detaches the job"]
pub struct BlockingHandle<T> {
    rx: oneshot::Receiver<T>,
}

impl<T> BlockingHandle<T> {
    /// Whether the job has finished.
    pub fn is_finished(&self) -> bool {
        self.rx.is_done()
    }
}

impl<T> Future for BlockingHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx)
    }
}

impl<T> std::fmt::Debug for BlockingHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockingHandle")
    }
}

/// Runs `f` on the current runtime's blocking pool and returns a handle
/// that resolves to its result.
///
/// # Panics
///
/// Panics outside a coring runtime.
///
/// # Examples
///
/// ```
/// coring_runtime::start(async {
///     let n = coring_runtime::spawn_blocking(|| std::fs::read_dir("/").map(|d| d.count()));
///     assert!(n.await.unwrap().unwrap() > 0);
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> BlockingHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    context::with_core(|core| core.blocking.spawn(f))
}
