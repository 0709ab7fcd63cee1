//! Thread-per-core: one thread and one ring per core, and explicit work
//! between them.
//!
//! [`cores(n)`](cores) starts `n` threads, each pinned to its CPU (by
//! default) with its own [`Runtime`], and runs the same closure on each: it
//! receives the core's [`CoreContext`] and returns that core's root future.
//! A [`Spawner`] (`Send + Clone`) sends work to a core: a `Send` future, or
//! a closure that builds a `!Send` one there. When the sender is itself a
//! coring thread, the target ring is woken with IORING_OP_MSG_RING, riding
//! on the sender's next enter; from other threads, with an eventfd write.
//!
//! A core whose root future finished keeps serving cross-core work until
//! every core's root future has finished (or a shutdown is requested), so
//! that peers can still reach it; then all cores stop together.
//!
//! Shutdown ([`CoresHandle::shutdown`], or SIGINT/SIGTERM with
//! [`CoresHandle::shutdown_on_signals`]) reaches every core: each stops
//! taking cross-core work, lets its root future finish for up to the grace
//! period ([`Cores::grace`]), then drops its tasks, cancels and reaps its
//! in-flight ops, and its thread ends. A panic on one core shuts the others
//! down at once, with no grace period (their root futures are dropped), and
//! reaches the caller of [`CoresHandle::join`] without delay.
//!
//! # Examples
//!
//! ```
//! let sums = coring_runtime::cores(2)
//!     .pin(false)
//!     .run(|core| async move {
//!         // Ask the next core to do some work and await its answer.
//!         let peer = core.spawner((core.index() + 1) % core.count());
//!         // The closure runs there and builds a future that need not be Send.
//!         let answer = peer.spawn_with(|| async { coring_runtime::io::nop().await.is_ok() });
//!         assert!(answer.await.unwrap());
//!         core.index() * 10
//!     })
//!     .unwrap();
//! assert_eq!(sums, vec![0, 10]);
//! ```

use crate::builder::Builder;
use crate::context;
use crate::driver::unpark::{Job, Shared};
use crate::executor::{oneshot, JoinError, TaskMeta};
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::time::timeout;
use std::future::{poll_fn, Future};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{JoinHandle as ThreadHandle, Thread};
use std::time::{Duration, Instant};

/// A `Send + Clone` handle that sends work to one runtime.
#[derive(Clone)]
pub struct Spawner {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

/// A [`Spawner`] for the current runtime.
///
/// # Panics
///
/// Panics outside a coring runtime.
#[track_caller]
pub fn spawner() -> Spawner {
    context::with_core(|core| Spawner {
        shared: core.shared.clone(),
    })
}

impl Runtime {
    /// A [`Spawner`] that sends work to this runtime from any thread.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            shared: self.core_shared().clone(),
        }
    }
}

impl Spawner {
    /// Sends `future`, already built here, to the target runtime and runs
    /// it there as a task. The handle resolves to its output, or to a
    /// [`JoinError`] when it panicked or the target shut down first.
    ///
    /// The future crosses threads, so it must be `Send`: it may hold only
    /// `Send` values (an `Arc`, a `String`, a `Vec<u8>`), not a socket, a
    /// file, an `Rc` or a [`JoinHandle`](crate::JoinHandle), which belong
    /// to one core. When the work needs such things, build it on the
    /// target instead, with [`spawn_with`](Spawner::spawn_with).
    ///
    /// # Examples
    ///
    /// ```
    /// coring_runtime::cores(2)
    ///     .pin(false)
    ///     .run(|core| async move {
    ///         if core.index() == 0 {
    ///             // A Send future: it owns a String, built here on core 0.
    ///             let name = String::from("coring");
    ///             let len = core.spawner(1).spawn(async move { name.len() });
    ///             assert_eq!(len.await.unwrap(), 6);
    ///         }
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> RemoteHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(move || future)
    }

    /// Runs `make` on the target runtime's thread and spawns the future it
    /// returns there: only the closure crosses threads, so the future need
    /// not be `Send`. Use it for work that opens its own sockets or files,
    /// or holds `Rc`s, on the target core; [`spawn`](Spawner::spawn) is
    /// for a future already built. A panic in `make` or in the future comes
    /// back as the handle's [`JoinError`].
    ///
    /// # Examples
    ///
    /// ```
    /// coring_runtime::cores(2)
    ///     .pin(false)
    ///     .run(|core| async move {
    ///         if core.index() == 0 {
    ///             let peer = core.spawner(1);
    ///             // The closure is Send (it captures a u64); the future it
    ///             // builds on core 1 holds an Rc, so it is not.
    ///             let n = 21u64;
    ///             let doubled = peer.spawn_with(move || async move {
    ///                 let shared = std::rc::Rc::new(n);
    ///                 coring_runtime::io::nop().await.unwrap();
    ///                 *shared * 2
    ///             });
    ///             assert_eq!(doubled.await.unwrap(), 42);
    ///         }
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_with<C, Fut>(&self, make: C) -> RemoteHandle<Fut::Output>
    where
        C: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        // The task's spawn location is the caller's, not this closure's.
        let location = std::panic::Location::caller();
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || match catch_unwind(AssertUnwindSafe(make)) {
            Ok(fut) => {
                // A detached task; its output goes to the handle.
                let meta = TaskMeta::unnamed(location);
                let task = async move {
                    tx.send(CatchUnwind { inner: fut }.await);
                };
                drop(context::with_core(|core| {
                    core.executor.spawn(&core.shared, None, task, meta)
                }));
            }
            Err(panic) => tx.send(Err(JoinError::panic(panic))),
        });
        // A refused job is dropped here, which tells the handle.
        let _ = self.shared.push_job(job);
        RemoteHandle { rx }
    }

    /// Runs the closure `f` on the target runtime's thread.
    pub fn run<F, R>(&self, f: F) -> RemoteHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        // Run where the target takes its jobs, with no task of its own: a
        // closure needs no polling (half the cost of a spawned one).
        let job: Job = Box::new(move || {
            tx.send(catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::panic));
        });
        // A refused job is dropped here, which tells the handle.
        let _ = self.shared.push_job(job);
        RemoteHandle { rx }
    }

    /// Whether the target stopped taking work (it is shutting down or gone).
    pub fn is_closed(&self) -> bool {
        self.shared.jobs_closed()
    }

    /// Whether `self` and `other` send to the same runtime.
    pub fn same_runtime(&self, other: &Spawner) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// Polls a future, turning a panic into a [`JoinError`].
struct CatchUnwind<F> {
    inner: F,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: never moved out, and
        // CatchUnwind has no Drop impl.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(JoinError::panic(panic))),
        }
    }
}

/// The result of work sent with a [`Spawner`]: a `Send` future, awaitable
/// from any runtime, or [`wait`](RemoteHandle::wait)ed on from a plain
/// thread. Dropping it detaches the work.
#[must_use = "dropping the handle detaches the work"]
pub struct RemoteHandle<T> {
    rx: oneshot::Receiver<T>,
}

impl<T> std::fmt::Debug for RemoteHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteHandle").finish_non_exhaustive()
    }
}

impl<T> RemoteHandle<T> {
    /// Whether the result is there.
    pub fn is_finished(&self) -> bool {
        self.rx.is_done()
    }

    /// Blocks this thread until the result is there, for up to `limit`.
    /// Gives the handle back on time-out. Never call it on the thread of
    /// the runtime that runs the work: that runtime could not make
    /// progress.
    pub fn wait_timeout(mut self, limit: Duration) -> Result<Result<T, JoinError>, Self> {
        let deadline = Instant::now() + limit;
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = Pin::new(&mut self.rx).poll(&mut cx) {
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self);
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    /// Blocks this thread until the result is there (see
    /// [`wait_timeout`](RemoteHandle::wait_timeout)).
    pub fn wait(self) -> Result<T, JoinError> {
        let mut h = self;
        loop {
            match h.wait_timeout(Duration::from_secs(3600)) {
                Ok(out) => return out,
                Err(again) => h = again,
            }
        }
    }
}

impl<T> Future for RemoteHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx)
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The shutdown request shared by the cores of one launch.
pub(crate) struct ShutdownState {
    requested: AtomicBool,
    /// A core panicked: the others drop their root futures at once
    /// instead of waiting out the grace period.
    aborted: AtomicBool,
    /// Cores whose root future finished.
    finished: AtomicUsize,
    total: usize,
    wakers: Mutex<Vec<Waker>>,
    cores: Mutex<Vec<Arc<Shared>>>,
}

impl ShutdownState {
    fn new(total: usize) -> Arc<Self> {
        Arc::new(ShutdownState {
            requested: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
            total,
            wakers: Mutex::new(Vec::new()),
            cores: Mutex::new(Vec::new()),
        })
    }

    /// A core's root future finished; the last one releases them all.
    fn core_finished(&self) {
        if self.finished.fetch_add(1, SeqCst) + 1 == self.total {
            self.wake_all();
        }
    }

    fn all_finished(&self) -> bool {
        self.finished.load(SeqCst) >= self.total
    }

    fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers {
            w.wake();
        }
    }

    /// Asks every core to shut down (idempotent).
    pub(crate) fn request(&self) {
        if self.requested.swap(true, SeqCst) {
            return;
        }
        let cores = self.cores.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for c in cores {
            drop(c.close_jobs());
        }
        self.wake_all();
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(SeqCst)
    }

    /// A core panicked: asks every core to shut down with no grace period.
    fn abort(&self) {
        self.aborted.store(true, SeqCst);
        if self.requested.load(SeqCst) {
            // Already asked: wake the cores waiting out their grace.
            self.wake_all();
        }
        self.request();
    }

    fn is_aborted(&self) -> bool {
        self.aborted.load(SeqCst)
    }

    fn poll_requested(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_until(cx, Self::is_requested)
    }

    /// Ready once `cond` holds; registers the waker first, then re-checks,
    /// so a change that drains the list before the push is not missed.
    fn poll_until(&self, cx: &mut Context<'_>, cond: fn(&Self) -> bool) -> Poll<()> {
        if cond(self) {
            return Poll::Ready(());
        }
        {
            let mut ws = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
            if !ws.iter().any(|w| w.will_wake(cx.waker())) {
                ws.push(cx.waker().clone());
            }
        }
        if cond(self) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// What a core's closure receives: its index, handles to every core, and
/// the shutdown signal.
#[derive(Clone)]
pub struct CoreContext {
    index: usize,
    spawners: Arc<[Spawner]>,
    shutdown: Arc<ShutdownState>,
}

impl std::fmt::Debug for CoreContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreContext")
            .field("index", &self.index)
            .field("count", &self.spawners.len())
            .finish()
    }
}

impl CoreContext {
    /// This core's index, `0..count()`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many cores run.
    pub fn count(&self) -> usize {
        self.spawners.len()
    }

    /// The spawner of core `index`.
    ///
    /// # Panics
    ///
    /// Panics when `index >= count()`.
    #[track_caller]
    pub fn spawner(&self, index: usize) -> &Spawner {
        &self.spawners[index]
    }

    /// The spawners of all cores, by index.
    pub fn spawners(&self) -> &[Spawner] {
        &self.spawners
    }

    /// Whether a shutdown was requested.
    pub fn is_shutdown_requested(&self) -> bool {
        self.shutdown.is_requested()
    }

    /// Resolves when a shutdown is requested: a server's accept loop
    /// selects on it to stop taking connections.
    pub async fn shutdown_requested(&self) {
        poll_fn(|cx| self.shutdown.poll_requested(cx)).await
    }

    /// Asks every core to shut down.
    pub fn request_shutdown(&self) {
        self.shutdown.request();
    }
}

/// Configures a thread-per-core launch. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Cores {
    count: usize,
    cpus: Option<Vec<usize>>,
    pin: bool,
    builder: Builder,
    grace: Duration,
}

/// `n` cores, pinned, with the default [`Builder`] and a 5 s grace period.
///
/// # Examples
///
/// Each core runs the closure's future on its own runtime; `run` waits
/// for all of them and gives their outputs in core order:
///
/// ```
/// let ids = coring_runtime::cores(2)
///     .pin(false)
///     .run(|core| async move { core.index() })
///     .unwrap();
/// assert_eq!(ids, vec![0, 1]);
/// ```
pub fn cores(n: usize) -> Cores {
    Cores {
        count: n,
        cpus: None,
        pin: true,
        builder: Builder::new(),
        grace: Duration::from_secs(5),
    }
}

impl Cores {
    /// The CPUs to pin the cores to, in core order (default: the first
    /// `n` CPUs this process may run on).
    pub fn cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.cpus = Some(cpus.into_iter().collect());
        self
    }

    /// Whether to pin each core's thread to its CPU (default true).
    pub fn pin(mut self, on: bool) -> Self {
        self.pin = on;
        self
    }

    /// The ring options every core's runtime is built with.
    pub fn builder(mut self, builder: Builder) -> Self {
        self.builder = builder;
        self
    }

    /// How long a core's root future may go on after a shutdown request
    /// before it is dropped (default 5 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Starts the cores and returns at once.
    ///
    /// # Errors
    ///
    /// When a core cannot start (no such CPU, a ring that cannot be set
    /// up): every core already started is stopped, and the error names the
    /// core.
    pub fn launch<F, Fut>(self, f: F) -> io::Result<CoresHandle<Fut::Output>>
    where
        F: Fn(CoreContext) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        if self.count == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "coring: cores(0): at least one core is needed",
            ));
        }
        let cpus = self.cpu_plan()?;
        let shutdown = ShutdownState::new(self.count);
        let f = Arc::new(f);
        let (ready_tx, ready_rx) = mpsc::channel::<(usize, io::Result<Spawner>)>();
        let mut go = Vec::with_capacity(self.count);
        let mut threads = Vec::with_capacity(self.count);
        for (index, cpu) in cpus.into_iter().enumerate() {
            let (go_tx, go_rx) = mpsc::channel::<Arc<[Spawner]>>();
            go.push(go_tx);
            let start = CoreStart {
                index,
                cpu,
                builder: self.builder.clone(),
                grace: self.grace,
                shutdown: shutdown.clone(),
                ready: ready_tx.clone(),
                go: go_rx,
            };
            let f = f.clone();
            let t = std::thread::Builder::new()
                .name(format!("coring-core-{index}"))
                .spawn(move || start.run(&*f))?;
            threads.push(t);
        }
        drop(ready_tx);
        let mut spawners: Vec<Option<Spawner>> = vec![None; self.count];
        let mut failure = None;
        for _ in 0..self.count {
            match ready_rx.recv() {
                Ok((i, Ok(s))) => spawners[i] = Some(s),
                Ok((i, Err(e))) => {
                    failure.get_or_insert(io::Error::new(e.kind(), format!("core {i}: {e}")));
                }
                Err(_) => break,
            }
        }
        let spawners: Option<Vec<Spawner>> = spawners.into_iter().collect();
        match (failure, spawners) {
            (None, Some(spawners)) => {
                let spawners: Arc<[Spawner]> = spawners.into();
                {
                    let mut cores = shutdown.cores.lock().unwrap_or_else(|p| p.into_inner());
                    cores.extend(spawners.iter().map(|s| s.shared.clone()));
                }
                for g in go {
                    let _ = g.send(spawners.clone());
                }
                Ok(CoresHandle {
                    threads,
                    spawners,
                    shutdown,
                })
            }
            (failure, _) => {
                // Dropping `go` tells the started cores to stop.
                drop(go);
                for t in threads {
                    let _ = t.join();
                }
                Err(failure.unwrap_or_else(|| {
                    io::Error::other("coring: a core thread ended before it started")
                }))
            }
        }
    }

    /// Starts the cores, waits for every root future, and returns their
    /// outputs by core index.
    ///
    /// # Errors
    ///
    /// As [`launch`](Cores::launch), and when a core panicked or was shut
    /// down before its root future finished.
    pub fn run<F, Fut>(self, f: F) -> io::Result<Vec<Fut::Output>>
    where
        F: Fn(CoreContext) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let outs = self.launch(f)?.join()?;
        outs.into_iter()
            .enumerate()
            .map(|(i, o)| {
                o.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::Interrupted,
                        format!("coring: core {i} was shut down before its future finished"),
                    )
                })
            })
            .collect()
    }

    fn cpu_plan(&self) -> io::Result<Vec<Option<usize>>> {
        if !self.pin {
            return Ok(vec![None; self.count]);
        }
        let cpus = match &self.cpus {
            Some(c) => c.clone(),
            None => allowed_cpus()?,
        };
        if cpus.len() < self.count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "coring: {} cores asked for, but only {} CPUs to pin them to ({:?}); \
                     pass fewer cores, more CPUs, or pin(false)",
                    self.count,
                    cpus.len(),
                    cpus
                ),
            ));
        }
        Ok(cpus.into_iter().take(self.count).map(Some).collect())
    }
}

/// Everything a core thread starts with.
struct CoreStart {
    index: usize,
    cpu: Option<usize>,
    builder: Builder,
    grace: Duration,
    shutdown: Arc<ShutdownState>,
    ready: mpsc::Sender<(usize, io::Result<Spawner>)>,
    go: mpsc::Receiver<Arc<[Spawner]>>,
}

/// How one core ended.
enum CoreExit<T> {
    Done(T),
    ShutDown,
    Panicked(JoinError),
    NotStarted,
}

impl CoreStart {
    fn run<F, Fut>(self, f: &F) -> CoreExit<Fut::Output>
    where
        F: Fn(CoreContext) -> Fut,
        Fut: Future + 'static,
    {
        let rt = match self.setup() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = self.ready.send((self.index, Err(e)));
                return CoreExit::NotStarted;
            }
        };
        let _ = self.ready.send((self.index, Ok(rt.spawner())));
        let Ok(spawners) = self.go.recv() else {
            return CoreExit::NotStarted;
        };
        let ctx = CoreContext {
            index: self.index,
            spawners,
            shutdown: self.shutdown.clone(),
        };
        let shutdown = self.shutdown.clone();
        let grace = self.grace;
        let out = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                let mut root = pin!(f(ctx));
                let first = poll_fn(|cx| {
                    if let Poll::Ready(v) = root.as_mut().poll(cx) {
                        return Poll::Ready(Some(v));
                    }
                    shutdown.poll_requested(cx).map(|()| None)
                })
                .await;
                let out = match first {
                    Some(v) => Some(v),
                    None => {
                        // The grace period, cut short when a core panics.
                        let mut graceful = pin!(timeout(grace, root));
                        poll_fn(|cx| {
                            if let Poll::Ready(r) = graceful.as_mut().poll(cx) {
                                return Poll::Ready(r.ok());
                            }
                            shutdown
                                .poll_until(cx, ShutdownState::is_aborted)
                                .map(|()| None)
                        })
                        .await
                    }
                };
                // Serve peers until every core is done, or shut down.
                shutdown.core_finished();
                poll_fn(|cx| shutdown.poll_until(cx, |s| s.is_requested() || s.all_finished()))
                    .await;
                out
            })
        }));
        let exit = match out {
            Ok(Some(v)) => CoreExit::Done(v),
            Ok(None) => CoreExit::ShutDown,
            Err(panic) => {
                self.shutdown.abort();
                CoreExit::Panicked(JoinError::panic(panic))
            }
        };
        // Dropping the runtime cancels and reaps every op still in flight.
        drop(rt);
        exit
    }

    fn setup(&self) -> io::Result<Runtime> {
        if let Some(cpu) = self.cpu {
            pin_to_cpu(cpu)?;
        }
        self.builder.clone().core_index(self.index).build()
    }
}

/// Running cores: their spawners, shutdown, metrics and join.
pub struct CoresHandle<T> {
    threads: Vec<ThreadHandle<CoreExit<T>>>,
    spawners: Arc<[Spawner]>,
    shutdown: Arc<ShutdownState>,
}

impl<T> std::fmt::Debug for CoresHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoresHandle")
            .field("cores", &self.spawners.len())
            .finish()
    }
}

impl<T: Send + 'static> CoresHandle<T> {
    /// The spawners of all cores, by index.
    pub fn spawners(&self) -> &[Spawner] {
        &self.spawners
    }

    /// Asks every core to shut down; [`join`](CoresHandle::join) waits
    /// for them.
    pub fn shutdown(&self) {
        self.shutdown.request();
    }

    /// Shuts the cores down on SIGINT or SIGTERM (Ctrl-C). A signal that
    /// finds nothing left to stop gracefully (a second Ctrl-C while the
    /// cores shut down, or one after they are gone) ends the process, as
    /// it would without the handlers.
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed (every call says so,
    /// not only the first).
    pub fn shutdown_on_signals(&self) -> io::Result<()> {
        crate::signal::on_terminate(Arc::downgrade(&self.shutdown))
    }

    /// Each core's counters, by index (`None` for a core that did not
    /// answer within a second: it is gone, or blocked).
    pub fn metrics(&self) -> Vec<Option<Metrics>> {
        let handles: Vec<_> = self
            .spawners
            .iter()
            .map(|s| s.run(crate::metrics))
            .collect();
        handles
            .into_iter()
            .map(|h| h.wait_timeout(Duration::from_secs(1)).ok()?.ok())
            .collect()
    }

    /// Waits for every core's thread. Each output is `None` for a core
    /// that was shut down before its root future finished.
    ///
    /// # Errors
    ///
    /// When a core panicked (the error says which, with the message).
    pub fn join(mut self) -> io::Result<Vec<Option<T>>> {
        let threads = std::mem::take(&mut self.threads);
        let mut outs = Vec::with_capacity(threads.len());
        let mut failure = None;
        for (i, t) in threads.into_iter().enumerate() {
            match t.join() {
                Ok(CoreExit::Done(v)) => outs.push(Some(v)),
                Ok(CoreExit::ShutDown | CoreExit::NotStarted) => outs.push(None),
                Ok(CoreExit::Panicked(e)) => {
                    failure.get_or_insert(io::Error::other(format!("coring: core {i}: {e}")));
                    outs.push(None);
                }
                Err(_) => {
                    failure.get_or_insert(io::Error::other(format!(
                        "coring: core {i}: its thread panicked outside the runtime"
                    )));
                    outs.push(None);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(outs),
        }
    }
}

/// Dropping the handle without [`join`](CoresHandle::join) shuts the cores
/// down (grace period included) and waits for their threads, as dropping
/// a [`Runtime`] does: no core outlives its handle unnoticed. (Dropped on
/// one of its own cores, it only asks: a thread cannot wait for itself.)
impl<T> Drop for CoresHandle<T> {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.shutdown.request();
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            if t.thread().id() != me {
                // A core's panic was its output; with nobody to give it
                // to, it is dropped here.
                let _ = t.join();
            }
        }
    }
}

/// The CPUs this process may run on (sched_getaffinity(2)).
fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes
    // into `set`, which lives for the call.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads `set` for an index below its size in bits.
    Ok((0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pins the calling thread to `cpu` (sched_setaffinity(2)).
fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    if cpu >= max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("coring: CPU {cpu} is out of range"),
        ));
    }
    // SAFETY: all-zero is a valid empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the set's size in bits (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: sched_setaffinity reads `set` for the call.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("coring: cannot pin to CPU {cpu}: {e}"),
        ));
    }
    Ok(())
}
