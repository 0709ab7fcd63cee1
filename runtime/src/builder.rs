//! `Builder`: ring size and IORING_SETUP_* options for a [`Runtime`].

use crate::driver::backend::{self, Backend};
use crate::driver::{RingConfig, MAX_ENTRIES};
use crate::runtime::Runtime;
use crate::stall::{Stall, StallConfig, StallHandler, STALL_ENV};
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Configures a [`Runtime`]. Every option has a default; `build()` last.
///
/// SINGLE_ISSUER, DEFER_TASKRUN and COOP_TASKRUN are asked for by default;
/// a kernel that refuses one (EINVAL) gets a ring without it, so the same
/// binary runs on older kernels. See io_uring_setup(2).
///
/// # Examples
///
/// ```
/// let rt = coring_runtime::Builder::new()
///     .entries(64)
///     .cq_entries(256)
///     .build()
///     .expect("io_uring is available");
/// rt.block_on(async { coring_runtime::io::nop().await.unwrap() });
/// ```
#[derive(Clone)]
pub struct Builder {
    cfg: RingConfig,
    register_ring_fd: bool,
    task_budget: u32,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    spin_before_park: Option<Duration>,
    /// A `CORING_RING` value that is not one of the known shapes.
    bad_env: Option<String>,
    /// The default CQ size, as a multiple of the SQ's.
    cq_factor: u32,
    backend: Backend,
    /// The stall threshold; `None` leaves the detector off.
    stall_threshold: Option<Duration>,
    stall_handler: Option<StallHandler>,
    /// A `CORING_STALL_MS` value that is not a number of milliseconds.
    bad_stall_env: Option<String>,
    /// The core's index, set by `cores`.
    core_index: Option<usize>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("cfg", &self.cfg)
            .field("register_ring_fd", &self.register_ring_fd)
            .field("task_budget", &self.task_budget)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("blocking_keep_alive", &self.blocking_keep_alive)
            .field("spin_before_park", &self.spin_before_park)
            .field("backend", &self.backend)
            .field("stall_threshold", &self.stall_threshold)
            .field(
                "stall_handler",
                &self.stall_handler.as_ref().map(|_| "custom"),
            )
            .finish_non_exhaustive()
    }
}

/// The environment variable that picks the ring shape [`Builder::new`]
/// starts from (see there).
pub const RING_ENV: &str = "CORING_RING";

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: 256 SQ entries, a CQ of 4× that, SINGLE_ISSUER,
    /// DEFER_TASKRUN, COOP_TASKRUN, a registered ring fd, 128 task polls a
    /// turn, device ops submitted every 4, a blocking pool of up to 64
    /// threads kept 10 s when idle.
    ///
    /// The environment variable `CORING_RING` changes the ring defaults,
    /// to run a program (or the test suite) under the ring shapes other
    /// kernels give; setters called afterwards still win:
    /// - `plain`: no SINGLE_ISSUER, DEFER_TASKRUN or COOP_TASKRUN and no
    ///   registered ring fd, as kernels 5.11 to 5.18 give;
    /// - `tiny`: an SQ of 4 entries and a CQ of 8 (a CQ twice the SQ
    ///   where a program sets its own SQ size), so the SQ fills and the CQ
    ///   overflows all the time;
    /// - `default` or unset: the defaults above.
    ///
    /// Any other value makes [`build`](Builder::build) fail with
    /// `InvalidInput`.
    ///
    /// The environment variable `CORING_STALL_MS=N` turns the stall
    /// detector on with a threshold of `N` milliseconds (see
    /// [`stall_threshold`](Builder::stall_threshold); `0` leaves it off,
    /// anything but a number makes `build` fail with `InvalidInput`).
    pub fn new() -> Self {
        let b = Builder::plain_defaults();
        let b = match std::env::var(RING_ENV) {
            Err(_) => b,
            Ok(v) => b.ring_shape(&v),
        };
        match std::env::var(STALL_ENV) {
            Err(_) => b,
            Ok(v) => b.stall_env(&v),
        }
    }

    fn stall_env(mut self, v: &str) -> Self {
        match v.trim().parse::<u64>() {
            Ok(ms) => self.stall_threshold = (ms > 0).then(|| Duration::from_millis(ms)),
            Err(_) => self.bad_stall_env = Some(v.to_string()),
        }
        self
    }

    fn ring_shape(mut self, shape: &str) -> Self {
        match shape {
            "" | "default" => {}
            "plain" => {
                self.cfg.single_issuer = false;
                self.cfg.defer_taskrun = false;
                self.cfg.coop_taskrun = false;
                self.register_ring_fd = false;
            }
            "tiny" => {
                self.cfg.entries = 4;
                self.cq_factor = 2;
            }
            other => self.bad_env = Some(other.to_string()),
        }
        self
    }

    fn plain_defaults() -> Self {
        Builder {
            cfg: RingConfig {
                entries: 256,
                cq_entries: None,
                sqpoll_idle_ms: None,
                single_issuer: true,
                defer_taskrun: true,
                coop_taskrun: true,
                submit_batch: None,
                device_batch: Some(4),
            },
            register_ring_fd: true,
            task_budget: 128,
            max_blocking_threads: 64,
            blocking_keep_alive: Duration::from_secs(10),
            spin_before_park: None,
            bad_env: None,
            cq_factor: 4,
            backend: Backend::Auto,
            stall_threshold: None,
            stall_handler: None,
            bad_stall_env: None,
            core_index: None,
        }
    }

    /// SQ entries (1..=32768; the kernel rounds up to a power of two).
    pub fn entries(mut self, n: u32) -> Self {
        self.cfg.entries = n;
        self
    }

    /// CQ entries (IORING_SETUP_CQSIZE): at least the SQ's, at most 65536.
    /// Default: 4× the SQ, capped at 65536.
    pub fn cq_entries(mut self, n: u32) -> Self {
        self.cfg.cq_entries = Some(n);
        self
    }

    /// IORING_SETUP_SQPOLL: a kernel thread polls the SQ, and sleeps after
    /// `idle` without work. Excludes DEFER_TASKRUN.
    pub fn sqpoll(mut self, idle: Duration) -> Self {
        self.cfg.sqpoll_idle_ms = Some(u32::try_from(idle.as_millis()).unwrap_or(u32::MAX));
        self
    }

    /// IORING_SETUP_SINGLE_ISSUER (6.0): only this thread submits.
    pub fn single_issuer(mut self, on: bool) -> Self {
        self.cfg.single_issuer = on;
        self
    }

    /// IORING_SETUP_DEFER_TASKRUN (6.1): completion work runs only when
    /// the runtime enters the kernel. Needs SINGLE_ISSUER.
    pub fn defer_taskrun(mut self, on: bool) -> Self {
        self.cfg.defer_taskrun = on;
        self
    }

    /// IORING_SETUP_COOP_TASKRUN (5.19): no IPI to run completion work.
    pub fn coop_taskrun(mut self, on: bool) -> Self {
        self.cfg.coop_taskrun = on;
        self
    }

    /// Registers the ring fd (IORING_REGISTER_RING_FDS, 5.18) so each
    /// enter skips an fd lookup. Ignored where the kernel refuses.
    pub fn register_ring_fd(mut self, on: bool) -> Self {
        self.register_ring_fd = on;
        self
    }

    /// Which backend turns this runtime's SQEs into completions (default
    /// [`Backend::Auto`]: io_uring where the host allows it, else epoll;
    /// the environment variable `CORING_BACKEND=auto|io_uring|epoll`
    /// decides for `Auto`). [`Backend::IoUring`] fails where io_uring is
    /// blocked, with the error [`build`](Builder::build) describes;
    /// [`Backend::Epoll`] never calls `io_uring_setup(2)`.
    ///
    /// `Auto` probes io_uring once per process and every runtime of the
    /// process gets the same answer. See [`Runtime::backend`].
    ///
    /// [`Runtime::backend`]: crate::Runtime::backend
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Tasks polled per turn before the runtime reaps completions again
    /// (at least 1).
    pub fn task_budget(mut self, n: u32) -> Self {
        self.task_budget = n.max(1);
        self
    }

    /// Most threads the [`spawn_blocking`](crate::spawn_blocking) pool
    /// runs at once (default 64, at least 1).
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking-pool thread waits for work before it
    /// exits (default 10 s).
    pub fn blocking_keep_alive(mut self, idle: Duration) -> Self {
        self.blocking_keep_alive = idle;
        self
    }

    /// Busy-waits up to `spin` for work before parking in the kernel
    /// (default: park at once). Waking a parked core costs an IPI and, in a
    /// VM, tens of microseconds; a core that spins sees a cross-core job or
    /// remote wake within nanoseconds, and its senders skip the MSG_RING or
    /// eventfd. It burns CPU while it spins: for latency-bound
    /// thread-per-core servers with a core to spare.
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin_before_park = (!spin.is_zero()).then_some(spin);
        self
    }

    /// Submits SQEs as soon as `n` of them wait, instead of all at the end
    /// of the turn (default: no limit, one `io_uring_enter` per turn; 0
    /// means no limit too).
    ///
    /// A turn that runs many tasks otherwise hands the kernel one big
    /// batch, and the first SQE waits for the whole batch to be pushed;
    /// devices see bursts. Smaller batches reach a device sooner, which
    /// some devices reward with more IOPS at about the same CPU per read
    /// (measurements: `docs/BENCHMARKS.md` in the repository). Reads from
    /// the page cache pay one more syscall per `n` ops for nothing, so
    /// leave it off unless the ops go to a device.
    /// Ignored with [`sqpoll`](Builder::sqpoll) (the kernel thread
    /// submits).
    pub fn submit_batch(mut self, n: u32) -> Self {
        self.cfg.submit_batch = (n > 0).then_some(n);
        self
    }

    /// Submits device ops ([`op::Device`](crate::op::Device): coring's
    /// O_DIRECT file reads and writes) as soon as `n` of them wait, instead
    /// of with the turn's one batch (default 4; 0 turns it off). Unlike
    /// [`submit_batch`](Builder::submit_batch) it leaves other ops (page
    /// cache, sockets) alone. Ignored with [`sqpoll`](Builder::sqpoll).
    pub fn device_batch(mut self, n: u32) -> Self {
        self.cfg.device_batch = (n > 0).then_some(n);
        self
    }

    /// Turns the stall detector on: a poll of a task (or of the
    /// `block_on` future) that keeps the core longer than `threshold` is
    /// reported once, when it returns, with the task's name and spawn
    /// location, the core, how long it ran, and a backtrace of where the
    /// core's thread was while it was stuck (default: off; `Duration::ZERO`
    /// turns it off; the environment variable `CORING_STALL_MS` sets it
    /// for [`Builder::new`]).
    ///
    /// A watchdog thread (one per process) looks at every such runtime a
    /// quarter threshold apart, so a stall is noticed within 1.25×
    /// `threshold`; it interrupts the stuck thread with a real-time signal
    /// ([`stall::stall_signal`](crate::stall::stall_signal) names it) to
    /// record the stack. A poll costs one clock read more. The
    /// report goes to the [`stall_handler`](Builder::stall_handler), on
    /// the detector's reporter thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = coring_runtime::Builder::new()
    ///     .stall_threshold(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { coring_runtime::io::nop().await.unwrap() });
    /// assert_eq!(rt.metrics().stalls, 0);
    /// ```
    pub fn stall_threshold(mut self, threshold: Duration) -> Self {
        self.stall_threshold = (!threshold.is_zero()).then_some(threshold);
        self
    }

    /// What the stall detector calls for each stall (default: print the
    /// [`Stall`]'s line and its backtrace on stderr). It runs on the
    /// detector's reporter thread (one per process), never on the core. Setting a handler does not
    /// turn the detector on: see [`stall_threshold`](Builder::stall_threshold).
    pub fn stall_handler(mut self, handler: impl Fn(&Stall) + Send + Sync + 'static) -> Self {
        self.stall_handler = Some(Arc::new(handler));
        self
    }

    /// The index `cores` gives this runtime, for stall reports.
    pub(crate) fn core_index(mut self, index: usize) -> Self {
        self.core_index = Some(index);
        self
    }

    /// Sets up the ring and the runtime.
    ///
    /// # Errors
    ///
    /// When io_uring cannot be set up, the error names the cause and the
    /// fix: `PermissionDenied` when it is blocked (the sysctl
    /// `kernel.io_uring_disabled`, a container's seccomp profile),
    /// `Unsupported` on a kernel without it (coring needs 5.11),
    /// `OutOfMemory` for a memlock limit, `InvalidInput` for bad sizes.
    pub fn build(self) -> io::Result<Runtime> {
        if let Some(v) = &self.bad_env {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("coring: {RING_ENV}={v:?} is not a ring shape; use plain, tiny or default"),
            ));
        }
        if let Some(v) = &self.bad_stall_env {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("coring: {STALL_ENV}={v:?} is not a number of milliseconds"),
            ));
        }
        let backend = backend::choose(self.backend)?;
        let mut cfg = self.cfg;
        if cfg.cq_entries.is_none() && (1..=MAX_ENTRIES).contains(&cfg.entries) {
            cfg.cq_entries =
                Some((cfg.entries.next_power_of_two() * self.cq_factor).min(2 * MAX_ENTRIES));
        }
        Runtime::from_config(
            backend,
            &cfg,
            self.register_ring_fd,
            self.task_budget,
            (self.max_blocking_threads, self.blocking_keep_alive),
            self.spin_before_park,
            self.stall_threshold.map(|threshold| StallConfig {
                threshold,
                handler: self.stall_handler,
                core: self.core_index,
            }),
        )
    }
}
