//! `Runtime`: one ring, one op table, one run queue, one timer set, and
//! the turn loop that drives them.
//!
//! ```text
//! loop {
//!     poll the block_on future if it was woken
//!     run ready tasks (at most `task_budget`, so completions are not starved)
//!     if tasks are still ready: submit and reap without waiting
//!     else: submit and wait in ONE io_uring_enter, bounded by the next
//!           timer deadline, or until a remote wake
//!     reap every CQE: results into the op table, wake their tasks
//!     fire expired timers
//! }
//! ```

use crate::blocking::BlockingPool;
use crate::builder::Builder;
use crate::context;
use crate::driver::backend::BackendInfo;
use crate::driver::unpark::{Job, Shared};
use crate::driver::{fatal, Driver, Reaped, RingConfig};
use crate::executor::{wake_local, Executor, JoinHandle, Notified, TaskMeta};
use crate::metrics::Metrics;
use crate::stall::{CoreStall, StallConfig};
use crate::time::Timers;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

/// A per-core io_uring runtime. It is `!Send`: it runs on the thread that
/// built it, with every task spawned on it.
///
/// Dropping it drops every task, cancels every op still in flight and
/// waits for their CQEs before the ring and the buffers go away.
///
/// # Examples
///
/// ```
/// use coring_runtime::Runtime;
///
/// let rt = Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let task = coring_runtime::spawn(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// println!("{} ops in flight", rt.metrics().ops_in_flight);
/// ```
pub struct Runtime {
    core: Rc<Core>,
}

/// The runtime's state, shared by the runtime, its ops and its timers.
pub(crate) struct Core {
    pub(crate) driver: RefCell<Driver>,
    pub(crate) executor: Executor,
    pub(crate) timers: RefCell<Timers>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) blocking: BlockingPool,
    /// Swapped with the driver's `reaped` when a reap outside the turn
    /// (a full SQ) left wakers or orphans there.
    scratch: RefCell<Reaped>,
    /// Wakers of the tasks whose CQEs a turn reaped.
    wakers: RefCell<Vec<Waker>>,
    remote_scratch: RefCell<(Vec<Notified>, Vec<Job>)>,
    /// The reaper saw this runtime's `block_on` waker (set without the
    /// atomics of a remote wake).
    main_woken: Cell<bool>,
    task_budget: u32,
    spin_before_park: Option<Duration>,
    shutting_down: Cell<bool>,
    backend: BackendInfo,
    /// The stall detector, when it is on.
    stall: Option<Box<CoreStall>>,
}

impl Runtime {
    /// A runtime with the [`Builder`]'s defaults.
    ///
    /// # Errors
    ///
    /// See [`Builder::build`]: a blocked or missing io_uring gives an
    /// error that names the cause and the fix.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure the ring.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_config(
        backend: BackendInfo,
        cfg: &RingConfig,
        register_ring_fd: bool,
        task_budget: u32,
        blocking: (usize, Duration),
        spin_before_park: Option<Duration>,
        stall: Option<StallConfig>,
    ) -> io::Result<Runtime> {
        let stall = stall.map(CoreStall::new).transpose()?.map(Box::new);
        let shared = Shared::new()?;
        let driver = Driver::new(cfg, register_ring_fd, shared.eventfd(), backend.kind())?;
        if let Some(fd) = driver.msg_ring_target() {
            shared.set_ring_fd(fd);
        }
        crate::trace::runtime_started(&backend, cfg.entries);
        Ok(Runtime {
            core: Rc::new(Core {
                driver: RefCell::new(driver),
                executor: Executor::new(),
                timers: RefCell::new(Timers::default()),
                shared,
                blocking: BlockingPool::new(blocking.0, blocking.1),
                scratch: RefCell::new(Reaped::default()),
                wakers: RefCell::new(Vec::with_capacity(64)),
                remote_scratch: RefCell::new((Vec::new(), Vec::new())),
                main_woken: Cell::new(false),
                task_budget,
                spin_before_park,
                shutting_down: Cell::new(false),
                backend,
                stall,
            }),
        })
    }

    /// Runs `future` to completion on this thread, driving the ring and
    /// every task spawned meanwhile. Tasks still pending when it returns
    /// stay in the runtime, and run again in the next `block_on`.
    ///
    /// # Panics
    ///
    /// Panics when called inside a running coring runtime (a nested
    /// `block_on` would block that runtime's thread).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            !context::is_entered(),
            "coring: block_on called inside a running runtime"
        );
        let _enter = context::enter(&self.core);
        // Without the stall detector the loop polls `future` itself, and
        // pays nothing for the detector; with it, a wrapper that times
        // each poll.
        match self.core.stall() {
            None => self.run_until(future),
            Some(w) => self.run_until(w.time_root(future, std::panic::Location::caller())),
        }
    }

    /// `block_on`'s loop.
    fn run_until<F: Future>(&self, future: F) -> F::Output {
        let core = &*self.core;
        let mut future = pin!(future);
        // SAFETY: the waker's data is a count of `core.shared` taken here
        // and given up by its drop (see MAIN_WAKER_VTABLE).
        let waker = unsafe { Waker::from_raw(main_raw_waker(&core.shared)) };
        let mut cx = Context::from_waker(&waker);
        let mut woken = true;
        loop {
            if woken || core.main_woken.replace(false) || core.shared.take_main_woken() {
                let polled = &core.executor.main_polled;
                polled.set(polled.get() + 1);
                if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    // SQEs pushed meanwhile (a MSG_RING waking another
                    // core, say) must not wait for the next block_on.
                    core.flush();
                    return out;
                }
            }
            woken = false;
            core.turn();
        }
    }

    /// Spawns a task onto this runtime; it runs during `block_on`.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let meta = TaskMeta::here();
        self.core
            .executor
            .spawn(&self.core.shared, None, future, meta)
    }

    pub(crate) fn core_shared(&self) -> &Arc<Shared> {
        &self.core.shared
    }

    /// This runtime's counters.
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// Which backend this runtime runs (io_uring or epoll) and, after an
    /// automatic fall back, why. Its `Display` is one line a program can
    /// print at start.
    ///
    /// ```
    /// let rt = coring_runtime::Runtime::new().unwrap();
    /// println!("coring backend: {}", rt.backend());
    /// ```
    pub fn backend(&self) -> &BackendInfo {
        &self.core.backend
    }

    /// Which optional ring setup flags the kernel accepted (all false on
    /// the epoll backend).
    pub fn ring_flags(&self) -> RingFlags {
        let f = self.core.driver.borrow().setup_flags();
        RingFlags {
            sqpoll: f.sqpoll,
            single_issuer: f.single_issuer,
            defer_taskrun: f.defer_taskrun,
            coop_taskrun: f.coop_taskrun,
        }
    }
}

/// The IORING_SETUP_* flags a runtime's ring got (see [`Builder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingFlags {
    /// IORING_SETUP_SQPOLL.
    pub sqpoll: bool,
    /// IORING_SETUP_SINGLE_ISSUER.
    pub single_issuer: bool,
    /// IORING_SETUP_DEFER_TASKRUN.
    pub defer_taskrun: bool,
    /// IORING_SETUP_COOP_TASKRUN.
    pub coop_taskrun: bool,
}

impl Core {
    /// One turn of the loop in the module doc.
    fn turn(&self) {
        if self.shared.has_remote() {
            self.pull_remote();
        }
        let idle = self.executor.run(self, self.task_budget);
        let mut wakers = self.wakers.borrow_mut();
        let orphans = {
            let mut driver = self.driver.borrow_mut();
            if driver.ops.has_missed_cancels() {
                driver.retry_missed_cancels(Instant::now());
            }
            // A push that found the SQ full reaped into `driver.reaped`:
            // the wakers there (this runtime's tasks, its block_on) must
            // run before anything waits, or the turn parks on a wake it
            // already has.
            let busy = !idle || !driver.reaped.is_empty();
            let res = if busy {
                driver.enter(false, None)
            } else {
                self.park(&mut driver)
            };
            if let Err(e) = res {
                fatal(e);
            }
            // This runtime's tasks go straight onto the run queue; other
            // wakers wait until the driver's borrow ends, since a foreign
            // waker may do anything.
            driver.reap_with(|w| {
                if let Some(w) = wake_local(w, &self.shared, &self.executor) {
                    if is_main_waker(&w, &self.shared) {
                        self.main_woken.set(true);
                    } else {
                        wakers.push(w);
                    }
                }
            });
            !driver.reaped.is_empty()
        };
        while let Some(w) = wakers.pop() {
            w.wake();
        }
        drop(wakers);
        if orphans {
            self.dispatch_reaped();
        }
        if !self.timers.borrow().is_empty() {
            self.fire_timers();
        }
    }

    /// Submits and waits until a CQE, the next timer or a remote wake.
    /// Inlined into its one caller, the turn.
    #[inline(always)]
    fn park(&self, driver: &mut Driver) -> io::Result<()> {
        let mut deadline = self.timers.borrow().next_deadline();
        if driver.ops.has_missed_cancels() {
            deadline = earliest(deadline, driver.ops.next_cancel_due());
        }
        let timeout = deadline.map(until);
        if timeout == Some(Duration::ZERO) {
            return driver.enter(false, None);
        }
        if let Some(spin) = self.spin_before_park {
            let limit = timeout.map_or(spin, |t| t.min(spin));
            if self.spin(driver, limit)? {
                return Ok(());
            }
        }
        driver.arm_wake();
        if !self.shared.try_park() {
            return driver.enter(false, None);
        }
        let r = driver.enter(true, timeout);
        self.shared.unparked();
        r
    }

    /// Busy-waits up to `limit` for work before parking: remote wakes and
    /// cross-core jobs show up in the shared flags at once (their senders
    /// skip the MSG_RING or eventfd, since the ring is not parked), and
    /// completions are polled with a non-waiting enter every ~2 us.
    /// Returns whether work came.
    #[cold]
    fn spin(&self, driver: &mut Driver, limit: Duration) -> io::Result<bool> {
        let start = Instant::now();
        driver.enter(false, None)?;
        let mut last_enter = start;
        loop {
            if self.shared.has_pending() || driver.has_cqes() {
                return Ok(true);
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
            let now = Instant::now();
            if now - start >= limit {
                return Ok(false);
            }
            if now - last_enter >= Duration::from_micros(2) {
                // With DEFER_TASKRUN completions appear only on an enter.
                driver.enter(false, None)?;
                last_enter = now;
            }
        }
    }

    /// Takes tasks woken and jobs sent from other threads; runs the jobs.
    #[cold]
    fn pull_remote(&self) {
        let mut jobs = {
            let mut remote = self.remote_scratch.borrow_mut();
            let (tasks, jobs) = &mut *remote;
            self.shared.drain_remote(tasks, jobs);
            self.executor.extend_queue(tasks);
            std::mem::take(jobs)
        };
        for job in jobs.drain(..) {
            job();
        }
        // Keep the allocation for the next time.
        let mut remote = self.remote_scratch.borrow_mut();
        if remote.1.is_empty() {
            remote.1 = jobs;
        }
    }

    /// Whether work waits outside the run queue: completions to reap, a
    /// remote wake or job, an expired timer. For the scheduler's early
    /// end of a slice (`executor/group.rs`); never blocks, never borrows
    /// what is borrowed.
    pub(crate) fn has_pending_work(&self, now: Instant) -> bool {
        if self.shared.has_pending() {
            return true;
        }
        if let Ok(mut d) = self.driver.try_borrow_mut() {
            if d.has_pending() || !d.reaped.is_empty() {
                return true;
            }
        }
        self.timers
            .try_borrow()
            .ok()
            .and_then(|t| t.next_deadline())
            .is_some_and(|d| d <= now)
    }

    pub(crate) fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    /// The stall detector, when it is on.
    #[inline]
    pub(crate) fn stall(&self) -> Option<&CoreStall> {
        self.stall.as_deref()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Wakes what a reap outside the turn collected (a full SQ), and frees
    /// abandoned ops' resources, with the driver not borrowed.
    #[cold]
    fn dispatch_reaped(&self) {
        let mut scratch = self.scratch.borrow_mut();
        std::mem::swap(&mut *scratch, &mut self.driver.borrow_mut().reaped);
        for w in scratch.wakers.drain(..) {
            w.wake();
        }
        for (orphan, cqe) in scratch.orphans.drain(..) {
            orphan.finish(cqe);
        }
    }

    #[cold]
    fn fire_timers(&self) {
        let expired = self.timers.borrow_mut().take_expired(Instant::now());
        for w in expired {
            w.wake();
        }
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let d = self.driver.borrow();
        let c = d.counters;
        let queues = self
            .executor
            .queue_metrics(self.stall().map_or(0, CoreStall::stalls));
        Metrics {
            task_run_time: queues.iter().map(|q| q.run_time).sum(),
            queue_delay: queues.iter().map(|q| q.queue_delay).sum(),
            queues,
            sqes_submitted: c.submitted,
            cqes_reaped: c.reaped,
            enters: c.enters,
            parks: c.parks,
            cq_overflows: c.overflows,
            cq_dropped: c.cq_dropped,
            backend: d.backend_kind(),
            tasks_spawned: self.executor.spawned.get(),
            tasks_polled: self.executor.polled.get() + self.executor.main_polled.get(),
            ops_in_flight: d.ops.len() as u64,
            stalls: self.stall().map_or(0, CoreStall::stalls),
        }
    }

    /// Submits whatever was pushed and not yet submitted.
    fn flush(&self) {
        let mut driver = self.driver.borrow_mut();
        if driver.has_unsubmitted() {
            if let Err(e) = driver.enter(false, None) {
                fatal(e);
            }
        }
    }

    /// Drops every task, cancels every op in flight, and waits for every
    /// outstanding CQE.
    ///
    /// Completions may already wait in the driver's `reaped` lists (a full
    /// SQ reaps outside the turn: while a task or `block_on` pushed, while
    /// tasks are dropped here, while the cancels are pushed). The loop
    /// finishes those first and ends only when nothing is in flight AND
    /// nothing waits there, so an abandoned open's late fd is closed and
    /// every abandoned buffer is freed before the runtime is gone.
    fn shutdown(&self) {
        self.flush();
        self.shutting_down.set(true);
        drop(self.shared.close_jobs());
        self.executor.shutdown();
        self.blocking.shutdown();
        drop(self.shared.close());
        self.timers.borrow_mut().clear();
        let mut cancelled = std::collections::HashSet::new();
        loop {
            self.finish_reaped();
            // Finishing an orphan may drop user code that spawns or wakes.
            self.executor.shutdown();
            let mut driver = self.driver.borrow_mut();
            if !driver.reaped.is_empty() {
                continue;
            }
            let in_flight = driver.in_flight();
            if in_flight.is_empty() {
                break;
            }
            for ud in in_flight {
                if cancelled.insert(ud) {
                    driver.push_cancel(ud);
                }
            }
            driver.retry_missed_cancels(Instant::now());
            let wait = driver
                .ops
                .next_cancel_due()
                .map_or(Duration::from_millis(100), |d| {
                    until(d).min(Duration::from_millis(100))
                });
            if let Err(e) = driver.enter(true, Some(wait)) {
                fatal(e);
            }
            driver.reap();
        }
    }

    /// Finishes the orphans the driver reaped; drops the wakers (their
    /// tasks are gone).
    fn finish_reaped(&self) {
        let mut scratch = self.scratch.borrow_mut();
        std::mem::swap(&mut *scratch, &mut self.driver.borrow_mut().reaped);
        scratch.wakers.clear();
        for (orphan, cqe) in scratch.orphans.drain(..) {
            orphan.finish(cqe);
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _enter = context::enter(&self.core);
        self.core.shutdown();
        crate::trace::runtime_stopped();
    }
}

/// Time from now until `deadline`, zero when it passed.
fn until(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs `future` on a new runtime with the default settings: the
/// one-call way to start.
///
/// # Errors
///
/// Fails when io_uring cannot be set up (see [`Builder::build`]).
///
/// # Examples
///
/// ```
/// let n = coring_runtime::start(async { 1 + 1 }).unwrap();
/// assert_eq!(n, 2);
/// ```
pub fn start<F: Future>(future: F) -> io::Result<F::Output> {
    Ok(Runtime::new()?.block_on(future))
}

// The block_on waker: a counted pointer to the runtime's `Shared`.
static MAIN_WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(main_clone, main_wake, main_wake_by_ref, main_drop);

/// Whether `w` is the `block_on` waker of the runtime `shared`.
#[inline]
fn is_main_waker(w: &Waker, shared: &Arc<Shared>) -> bool {
    std::ptr::eq(w.vtable(), &MAIN_WAKER_VTABLE)
        && std::ptr::eq(w.data(), Arc::as_ptr(shared).cast())
}

fn main_raw_waker(shared: &Arc<Shared>) -> RawWaker {
    RawWaker::new(
        Arc::into_raw(shared.clone()) as *const (),
        &MAIN_WAKER_VTABLE,
    )
}

unsafe fn main_clone(p: *const ()) -> RawWaker {
    // SAFETY: `p` is a counted Arc<Shared> pointer (main_raw_waker).
    unsafe { Arc::increment_strong_count(p as *const Shared) };
    RawWaker::new(p, &MAIN_WAKER_VTABLE)
}

unsafe fn main_wake(p: *const ()) {
    // SAFETY: the waker owns one count, which this consumes.
    let shared = unsafe { Arc::from_raw(p as *const Shared) };
    shared.wake_main();
}

unsafe fn main_wake_by_ref(p: *const ()) {
    // SAFETY: the waker owns one count; ManuallyDrop leaves it.
    let shared = ManuallyDrop::new(unsafe { Arc::from_raw(p as *const Shared) });
    shared.wake_main();
}

unsafe fn main_drop(p: *const ()) {
    // SAFETY: the waker owns one count, which this gives up.
    unsafe { Arc::decrement_strong_count(p as *const Shared) };
}
