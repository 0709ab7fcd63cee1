//! Cross-core messages and spawn_blocking: coring vs tokio, interleaved in
//! one process run (see docs/BENCHMARKING.md).
//!
//! Cross-core, between two threads pinned to CPUs 0 and 1:
//! - `coring-spawn`: two coring cores; core 0 sends `Spawner::run`
//!   closures to core 1 and awaits their `RemoteHandle`s (MSG_RING wakes
//!   both ways);
//! - `coring-mpsc`: the same two cores, tokio::sync::mpsc between them;
//! - `coring-chan`: the same two cores, coring's own SPSC channel
//!   (`coring::channel::bounded`) between them;
//! - `spin-spawn`, `spin-mpsc`, `spin-chan`: the same on two cores built with
//!   `Builder::spin_before_park(50 us)`: an idle core busy-waits that long
//!   before it parks, so a message finds it awake (costs CPU while idle);
//! - `tokio-mt`: tokio's multi-thread runtime with 2 workers (pinned to
//!   CPUs 0 and 1), tokio::sync::mpsc between two tasks. Tokio decides
//!   where the tasks run: the `cross` column says how many round trips
//!   really went between the two workers;
//! - `coring-local`: tokio::sync::mpsc between two tasks on one coring
//!   core, the shape tokio-mt's scheduler picks for itself (it ran both
//!   tasks on one worker): same-thread against same-thread;
//! - `tokio-mt-x`: tokio's multi-thread runtime with one worker pinned to
//!   CPU 1, the other task in `block_on` on a thread pinned to CPU 0, so
//!   that every message crosses (the same runtime as `tokio-mt`, made to
//!   do what the cross-core contenders do);
//! - `tokio-ct2`: two tokio current_thread runtimes, one per pinned thread,
//!   tokio::sync::mpsc between them (tokio's own thread-per-core shape).
//!
//! Workloads: `rtt`, one message there and one back at a time, each round
//! trip timed (median and p99); `oneway`, N messages sent as fast as the
//! sender can, timed until the receiver has them all (bounded channels of
//! 1,024; `coring-spawn` sends N closures and awaits the last).
//!
//! spawn_blocking round trips: coring vs tokio's current_thread runtime
//! with its blocking pool, one call at a time (`seq`) and 32 tasks each
//! calling in a loop (`par32`). The pools are warmed up before the
//! runtime thread is pinned to CPU 0, so their threads may use either CPU.
//!
//! CPU per message is the process's user+system time over the measured
//! window (getrusage), divided by the messages: it includes both sides.
//!
//! ```text
//! cargo bench -p coring-bench --bench cross_core
//! cargo bench -p coring-bench --bench cross_core -- --n 50000 --repeats 7
//! ```

mod common;

use common::{fmt_rate, paired_ratio, pin_to_cpu, summarize};
use std::time::{Duration, Instant};

/// Default messages (round trips, calls) per measured run.
const DEFAULT_N: u64 = 100_000;
/// Default number of interleaved repeats.
const DEFAULT_REPEATS: usize = 5;
/// Capacity of every bounded channel.
const CAP: usize = 1_024;
/// Concurrent callers in the `par32` spawn_blocking pattern.
const DEPTH: u64 = 32;

fn elapsed_ns(t: Instant) -> u32 {
    u32::try_from(t.elapsed().as_nanos()).unwrap_or(u32::MAX)
}

/// User + system CPU time of the whole process.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage(2) writes one rusage into `ru`, live for the call.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(r, 0, "getrusage: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

mod coring_side {
    use super::{elapsed_ns, CAP, DEPTH};
    use std::cell::Cell;
    use std::future::Future;
    use std::time::{Duration, Instant};
    use tokio::sync::{mpsc, oneshot};

    /// A bounded channel of `u64`s, as the cross-core workloads use it.
    pub trait Pipe: 'static {
        type Tx: Send + 'static;
        type Rx: Send + 'static;
        fn pair() -> (Self::Tx, Self::Rx);
        /// False once the receiver is gone.
        fn send(tx: &mut Self::Tx, v: u64) -> impl Future<Output = bool> + Send;
        fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send;
    }

    /// tokio::sync::mpsc.
    pub struct TokioMpsc;

    impl Pipe for TokioMpsc {
        type Tx = mpsc::Sender<u64>;
        type Rx = mpsc::Receiver<u64>;
        fn pair() -> (Self::Tx, Self::Rx) {
            mpsc::channel(CAP)
        }
        async fn send(tx: &mut Self::Tx, v: u64) -> bool {
            tx.send(v).await.is_ok()
        }
        async fn recv(rx: &mut Self::Rx) -> Option<u64> {
            rx.recv().await
        }
    }

    /// coring's SPSC channel.
    pub struct CoringChan;

    impl Pipe for CoringChan {
        type Tx = coring::channel::Sender<u64>;
        type Rx = coring::channel::Receiver<u64>;
        fn pair() -> (Self::Tx, Self::Rx) {
            coring::channel::bounded(CAP)
        }
        async fn send(tx: &mut Self::Tx, v: u64) -> bool {
            tx.send(v).await.is_ok()
        }
        async fn recv(rx: &mut Self::Rx) -> Option<u64> {
            rx.recv().await
        }
    }

    thread_local! {
        /// Messages core 1 got in the `oneway` spawn workload.
        static RECEIVED: Cell<u64> = const { Cell::new(0) };
    }

    fn bump() {
        RECEIVED.with(|r| r.set(r.get() + 1));
    }

    /// Two coring cores pinned to CPUs 0 and 1, idle between runs.
    pub struct Cores {
        handle: Option<coring::CoresHandle<()>>,
        s0: coring::Spawner,
        s1: coring::Spawner,
    }

    impl Cores {
        pub fn new(spin: Option<Duration>) -> std::io::Result<Self> {
            let mut builder = coring::Builder::new();
            if let Some(spin) = spin {
                builder = builder.spin_before_park(spin);
            }
            let handle = coring::cores(2)
                .cpus([0, 1])
                .builder(builder)
                .launch(|core| async move { core.shutdown_requested().await })?;
            let s0 = handle.spawners()[0].clone();
            let s1 = handle.spawners()[1].clone();
            Ok(Cores {
                handle: Some(handle),
                s0,
                s1,
            })
        }

        /// `Spawner::run` round trips from core 0 to core 1.
        pub fn spawn_rtt(&self, n: u64) -> Vec<u32> {
            let s1 = self.s1.clone();
            self.s0
                .spawn(async move {
                    let mut lat = Vec::with_capacity(n as usize);
                    for i in 0..n {
                        let t = Instant::now();
                        let v = s1.run(move || i + 1).await.expect("round trip");
                        lat.push(elapsed_ns(t));
                        assert_eq!(v, i + 1);
                    }
                    lat
                })
                .wait()
                .expect("core 0")
        }

        /// Round trips on two `P` channels from core 0 to an echo task on
        /// core 1 (on core 0 too with `local`).
        pub fn pipe_rtt<P: Pipe>(&self, n: u64, local: bool) -> Vec<u32> {
            let (mut ping_tx, mut ping_rx) = P::pair();
            let (mut pong_tx, mut pong_rx) = P::pair();
            let target = if local { &self.s0 } else { &self.s1 };
            drop(target.spawn(async move {
                while let Some(v) = P::recv(&mut ping_rx).await {
                    if !P::send(&mut pong_tx, v + 1).await {
                        break;
                    }
                }
            }));
            self.s0
                .spawn(async move {
                    let mut lat = Vec::with_capacity(n as usize);
                    for i in 0..n {
                        let t = Instant::now();
                        assert!(P::send(&mut ping_tx, i).await, "echo alive");
                        let v = P::recv(&mut pong_rx).await.expect("echo alive");
                        lat.push(elapsed_ns(t));
                        assert_eq!(v, i + 1);
                    }
                    lat
                })
                .wait()
                .expect("core 0")
        }

        /// `n` closures from core 0 to core 1, the handles dropped but the
        /// last's; done when core 1 ran them all.
        pub fn spawn_oneway(&self, n: u64) -> Duration {
            self.s1
                .run(|| RECEIVED.with(|r| r.set(0)))
                .wait()
                .expect("reset");
            let s1 = self.s1.clone();
            self.s0
                .spawn(async move {
                    let t = Instant::now();
                    for _ in 1..n {
                        drop(s1.run(bump));
                    }
                    s1.run(bump).await.expect("last");
                    // The closures run as tasks; make sure all did.
                    while s1.run(|| RECEIVED.with(Cell::get)).await.expect("count") < n {}
                    t.elapsed()
                })
                .wait()
                .expect("core 0")
        }

        /// `n` messages on a `P` channel from core 0 to core 1 (to another
        /// task on core 0 with `local`).
        pub fn pipe_oneway<P: Pipe>(&self, n: u64, local: bool) -> Duration {
            let (mut tx, mut rx) = P::pair();
            let (done_tx, done_rx) = oneshot::channel::<u64>();
            let target = if local { &self.s0 } else { &self.s1 };
            drop(target.spawn(async move {
                let mut sum = 0;
                for _ in 0..n {
                    sum += P::recv(&mut rx).await.expect("sender alive");
                }
                let _ = done_tx.send(sum);
            }));
            self.s0
                .spawn(async move {
                    let t = Instant::now();
                    for i in 0..n {
                        assert!(P::send(&mut tx, i).await, "receiver alive");
                    }
                    let sum = done_rx.await.expect("receiver done");
                    let took = t.elapsed();
                    assert_eq!(sum, n * (n - 1) / 2);
                    took
                })
                .wait()
                .expect("core 0")
        }
    }

    impl Drop for Cores {
        fn drop(&mut self) {
            if let Some(h) = self.handle.take() {
                h.shutdown();
                let _ = h.join();
            }
        }
    }

    /// A runtime on the calling thread and its blocking pool.
    pub struct Blocking {
        rt: coring::Runtime,
    }

    impl Blocking {
        pub fn new() -> std::io::Result<Self> {
            let rt = coring::Builder::new()
                .blocking_keep_alive(Duration::from_secs(3_600))
                .build()?;
            Ok(Blocking { rt })
        }

        /// `n` calls one after the other, or `DEPTH` tasks making `n` in
        /// all.
        pub fn run(&self, n: u64, par: bool) -> Duration {
            self.rt.block_on(async move {
                let t = Instant::now();
                let tasks = if par { DEPTH } else { 1 };
                let handles: Vec<_> = (0..tasks)
                    .map(|_| {
                        coring::spawn(async move {
                            for i in 0..n / tasks {
                                let v = coring::spawn_blocking(move || i + 1).await;
                                assert_eq!(v.expect("call"), i + 1);
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.expect("caller");
                }
                t.elapsed()
            })
        }
    }
}

mod tokio_side {
    use super::{elapsed_ns, CAP, DEPTH};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::sync::{mpsc, oneshot};

    /// Not one of the two workers.
    const NO_WORKER: u64 = 0xff;

    thread_local! {
        /// Which of the two pinned workers this thread is.
        static WORKER: Cell<u64> = const { Cell::new(NO_WORKER) };
    }

    fn worker() -> u64 {
        WORKER.with(Cell::get)
    }

    /// tokio's multi-thread runtime, its two workers pinned to CPUs 0, 1.
    pub struct Mt {
        rt: tokio::runtime::Runtime,
    }

    impl Mt {
        pub fn new() -> std::io::Result<Self> {
            let next = Arc::new(AtomicUsize::new(0));
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .on_thread_start(move || {
                    // The workers start first; later (blocking) threads
                    // stay unpinned.
                    let i = next.fetch_add(1, SeqCst);
                    if i < 2 {
                        if let Err(e) = super::pin_to_cpu(i) {
                            eprintln!("warning: tokio worker not pinned to CPU {i}: {e}");
                        }
                        WORKER.with(|w| w.set(i as u64));
                    }
                })
                .build()?;
            Ok(Mt { rt })
        }

        /// Round trips between two tasks; also the share of round trips
        /// whose two ends ran on different workers.
        pub fn rtt(&self, n: u64) -> (Vec<u32>, f64) {
            let (ping_tx, ping_rx) = mpsc::channel::<u64>(CAP);
            let (pong_tx, pong_rx) = mpsc::channel::<u64>(CAP);
            self.rt.spawn(echo(ping_rx, pong_tx));
            let ping = self.rt.spawn(ping(ping_tx, pong_rx, n));
            self.rt.block_on(ping).expect("ping task")
        }

        pub fn oneway(&self, n: u64) -> Duration {
            let (tx, rx) = mpsc::channel::<u64>(CAP);
            let (done_tx, done_rx) = oneshot::channel::<u64>();
            self.rt.spawn(consume(rx, done_tx, n));
            let produce = self.rt.spawn(produce(tx, done_rx, n));
            self.rt.block_on(produce).expect("producer task")
        }
    }

    /// tokio's multi-thread runtime with one worker, pinned to CPU 1, and
    /// the other task in `block_on` on a thread pinned to CPU 0: the same
    /// runtime, but every message really crosses between the two CPUs.
    pub struct MtCross {
        rt: Arc<tokio::runtime::Runtime>,
    }

    impl MtCross {
        pub fn new() -> std::io::Result<Self> {
            let started = Arc::new(AtomicUsize::new(0));
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .on_thread_start(move || {
                    if started.fetch_add(1, SeqCst) == 0 {
                        if let Err(e) = super::pin_to_cpu(1) {
                            eprintln!("warning: tokio worker not pinned to CPU 1: {e}");
                        }
                        WORKER.with(|w| w.set(1));
                    }
                })
                .build()?;
            Ok(MtCross { rt: Arc::new(rt) })
        }

        /// Runs `f` in `block_on` on a new thread pinned to CPU 0.
        fn on_cpu0<T: Send + 'static>(
            &self,
            f: impl std::future::Future<Output = T> + Send + 'static,
        ) -> T {
            let rt = self.rt.clone();
            std::thread::spawn(move || {
                if let Err(e) = super::pin_to_cpu(0) {
                    eprintln!("warning: not pinned to CPU 0: {e}");
                }
                WORKER.with(|w| w.set(0));
                rt.block_on(f)
            })
            .join()
            .expect("block_on thread")
        }

        pub fn rtt(&self, n: u64) -> (Vec<u32>, f64) {
            let (ping_tx, ping_rx) = mpsc::channel::<u64>(CAP);
            let (pong_tx, pong_rx) = mpsc::channel::<u64>(CAP);
            self.rt.spawn(echo(ping_rx, pong_tx));
            self.on_cpu0(ping(ping_tx, pong_rx, n))
        }

        pub fn oneway(&self, n: u64) -> Duration {
            let (tx, rx) = mpsc::channel::<u64>(CAP);
            let (done_tx, done_rx) = oneshot::channel::<u64>();
            self.rt.spawn(consume(rx, done_tx, n));
            self.on_cpu0(produce(tx, done_rx, n))
        }
    }

    async fn echo(mut rx: mpsc::Receiver<u64>, tx: mpsc::Sender<u64>) {
        while let Some(v) = rx.recv().await {
            // The answer says which worker echoed it.
            if tx.send((v + 1) << 8 | worker()).await.is_err() {
                break;
            }
        }
    }

    async fn ping(tx: mpsc::Sender<u64>, mut rx: mpsc::Receiver<u64>, n: u64) -> (Vec<u32>, f64) {
        let mut lat = Vec::with_capacity(n as usize);
        let mut cross = 0u64;
        for i in 0..n {
            let t = Instant::now();
            tx.send(i).await.expect("echo alive");
            let v = rx.recv().await.expect("echo alive");
            lat.push(elapsed_ns(t));
            assert_eq!(v >> 8, i + 1);
            let (there, here) = (v & 0xff, worker());
            if there != here && there != NO_WORKER && here != NO_WORKER {
                cross += 1;
            }
        }
        (lat, cross as f64 / n as f64)
    }

    async fn consume(mut rx: mpsc::Receiver<u64>, done: oneshot::Sender<u64>, n: u64) {
        let mut sum = 0;
        for _ in 0..n {
            sum += rx.recv().await.expect("sender alive");
        }
        let _ = done.send(sum);
    }

    async fn produce(tx: mpsc::Sender<u64>, done: oneshot::Receiver<u64>, n: u64) -> Duration {
        let t = Instant::now();
        for i in 0..n {
            tx.send(i).await.expect("receiver alive");
        }
        let sum = done.await.expect("consumer done");
        let took = t.elapsed();
        assert_eq!(sum, n * (n - 1) / 2);
        took
    }

    /// Runs `f` on a new current_thread runtime on a thread pinned to `cpu`.
    fn on_pinned<'s, T: Send + 's>(
        scope: &'s std::thread::Scope<'s, '_>,
        cpu: usize,
        f: impl std::future::Future<Output = T> + Send + 's,
    ) -> std::thread::ScopedJoinHandle<'s, T> {
        scope.spawn(move || {
            if let Err(e) = super::pin_to_cpu(cpu) {
                eprintln!("warning: not pinned to CPU {cpu}: {e}");
            }
            WORKER.with(|w| w.set(cpu as u64));
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("tokio current_thread runtime")
                .block_on(f)
        })
    }

    /// Two current_thread runtimes on threads pinned to CPUs 0 and 1.
    pub fn ct2_rtt(n: u64) -> Vec<u32> {
        let (ping_tx, ping_rx) = mpsc::channel::<u64>(CAP);
        let (pong_tx, pong_rx) = mpsc::channel::<u64>(CAP);
        std::thread::scope(|s| {
            let e = on_pinned(s, 1, echo(ping_rx, pong_tx));
            let p = on_pinned(s, 0, ping(ping_tx, pong_rx, n));
            let (lat, cross) = p.join().expect("ping thread");
            e.join().expect("echo thread");
            assert!(cross > 0.999, "two threads: every round trip crosses");
            lat
        })
    }

    pub fn ct2_oneway(n: u64) -> Duration {
        let (tx, rx) = mpsc::channel::<u64>(CAP);
        let (done_tx, done_rx) = oneshot::channel::<u64>();
        std::thread::scope(|s| {
            let c = on_pinned(s, 1, consume(rx, done_tx, n));
            let took = on_pinned(s, 0, produce(tx, done_rx, n))
                .join()
                .expect("producer thread");
            c.join().expect("consumer thread");
            took
        })
    }

    /// A current_thread runtime on the calling thread and its blocking
    /// pool.
    pub struct Blocking {
        rt: tokio::runtime::Runtime,
    }

    impl Blocking {
        pub fn new() -> std::io::Result<Self> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .thread_keep_alive(Duration::from_secs(3_600))
                .build()?;
            Ok(Blocking { rt })
        }

        pub fn run(&self, n: u64, par: bool) -> Duration {
            self.rt.block_on(async move {
                let t = Instant::now();
                let tasks = if par { DEPTH } else { 1 };
                let handles: Vec<_> = (0..tasks)
                    .map(|_| {
                        tokio::spawn(async move {
                            for i in 0..n / tasks {
                                let v = tokio::task::spawn_blocking(move || i + 1).await;
                                assert_eq!(v.expect("call"), i + 1);
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.expect("caller");
                }
                t.elapsed()
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cross {
    CoringSpawn,
    CoringMpsc,
    TokioMt,
    TokioCt2,
    SpinSpawn,
    SpinMpsc,
    CoringChan,
    SpinChan,
    TokioMtX,
    CoringLocal,
}

impl Cross {
    const ALL: [Cross; 10] = [
        Cross::CoringSpawn,
        Cross::CoringMpsc,
        Cross::TokioMt,
        Cross::TokioCt2,
        Cross::SpinSpawn,
        Cross::SpinMpsc,
        Cross::CoringChan,
        Cross::SpinChan,
        Cross::TokioMtX,
        Cross::CoringLocal,
    ];

    /// The ratio rows: (coring contender, tokio contender).
    const PAIRS: [(Cross, Cross); 16] = [
        (Cross::CoringLocal, Cross::TokioMt),
        (Cross::CoringChan, Cross::TokioMtX),
        (Cross::CoringMpsc, Cross::TokioMtX),
        (Cross::SpinChan, Cross::TokioMtX),
        (Cross::CoringChan, Cross::TokioMt),
        (Cross::CoringMpsc, Cross::TokioMt),
        (Cross::CoringSpawn, Cross::TokioMt),
        (Cross::CoringChan, Cross::TokioCt2),
        (Cross::CoringMpsc, Cross::TokioCt2),
        (Cross::CoringSpawn, Cross::TokioCt2),
        (Cross::SpinChan, Cross::TokioMt),
        (Cross::SpinMpsc, Cross::TokioMt),
        (Cross::SpinSpawn, Cross::TokioMt),
        (Cross::SpinChan, Cross::TokioCt2),
        (Cross::SpinMpsc, Cross::TokioCt2),
        (Cross::SpinSpawn, Cross::TokioCt2),
    ];

    fn index(self) -> usize {
        Cross::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every contender is in ALL")
    }

    fn name(self) -> &'static str {
        match self {
            Cross::CoringSpawn => "coring-spawn",
            Cross::CoringMpsc => "coring-mpsc",
            Cross::TokioMt => "tokio-mt",
            Cross::TokioCt2 => "tokio-ct2",
            Cross::SpinSpawn => "spin-spawn",
            Cross::SpinMpsc => "spin-mpsc",
            Cross::CoringChan => "coring-chan",
            Cross::SpinChan => "spin-chan",
            Cross::TokioMtX => "tokio-mt-x",
            Cross::CoringLocal => "coring-local",
        }
    }
}

struct CrossContenders {
    coring: coring_side::Cores,
    spin: coring_side::Cores,
    tokio: tokio_side::Mt,
    tokio_x: tokio_side::MtCross,
}

/// One run of `rtt`: median and p99 in ns, CPU ns per round trip, the
/// share of round trips that crossed threads (where it is measured).
#[derive(Debug, Clone, Copy)]
struct RttSample {
    median: f64,
    p99: f64,
    cpu: f64,
    cross: Option<f64>,
}

impl CrossContenders {
    fn rtt(&self, c: Cross, n: u64) -> RttSample {
        let cpu0 = process_cpu();
        let (mut lat, cross) = match c {
            Cross::CoringSpawn => (self.coring.spawn_rtt(n), None),
            Cross::CoringMpsc => (
                self.coring.pipe_rtt::<coring_side::TokioMpsc>(n, false),
                None,
            ),
            Cross::CoringLocal => (
                self.coring.pipe_rtt::<coring_side::TokioMpsc>(n, true),
                None,
            ),
            Cross::TokioMt => {
                let (lat, cross) = self.tokio.rtt(n);
                (lat, Some(cross))
            }
            Cross::TokioCt2 => (tokio_side::ct2_rtt(n), Some(1.0)),
            Cross::SpinSpawn => (self.spin.spawn_rtt(n), None),
            Cross::SpinMpsc => (self.spin.pipe_rtt::<coring_side::TokioMpsc>(n, false), None),
            Cross::CoringChan => (
                self.coring.pipe_rtt::<coring_side::CoringChan>(n, false),
                None,
            ),
            Cross::SpinChan => (
                self.spin.pipe_rtt::<coring_side::CoringChan>(n, false),
                None,
            ),
            Cross::TokioMtX => {
                let (lat, cross) = self.tokio_x.rtt(n);
                (lat, Some(cross))
            }
        };
        let cpu = (process_cpu() - cpu0).as_nanos() as f64 / n as f64;
        lat.sort_unstable();
        let at = |q: f64| f64::from(lat[((lat.len() - 1) as f64 * q) as usize]);
        RttSample {
            median: at(0.5),
            p99: at(0.99),
            cpu,
            cross,
        }
    }

    /// One run of `oneway`: wall ns and CPU ns per message.
    fn oneway(&self, c: Cross, n: u64) -> (f64, f64) {
        let cpu0 = process_cpu();
        let took = match c {
            Cross::CoringSpawn => self.coring.spawn_oneway(n),
            Cross::CoringMpsc => self.coring.pipe_oneway::<coring_side::TokioMpsc>(n, false),
            Cross::CoringLocal => self.coring.pipe_oneway::<coring_side::TokioMpsc>(n, true),
            Cross::TokioMt => self.tokio.oneway(n),
            Cross::TokioCt2 => tokio_side::ct2_oneway(n),
            Cross::SpinSpawn => self.spin.spawn_oneway(n),
            Cross::SpinMpsc => self.spin.pipe_oneway::<coring_side::TokioMpsc>(n, false),
            Cross::CoringChan => self.coring.pipe_oneway::<coring_side::CoringChan>(n, false),
            Cross::SpinChan => self.spin.pipe_oneway::<coring_side::CoringChan>(n, false),
            Cross::TokioMtX => self.tokio_x.oneway(n),
        };
        let cpu = (process_cpu() - cpu0).as_nanos() as f64 / n as f64;
        (took.as_nanos() as f64 / n as f64, cpu)
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.2}x"))
}

fn median(v: &[f64]) -> Option<f64> {
    summarize(v).map(|s| s.median)
}

fn cross_core(n: u64, repeats: usize) {
    let b = CrossContenders {
        coring: coring_side::Cores::new(None).expect("coring cores on CPUs 0 and 1"),
        spin: coring_side::Cores::new(Some(Duration::from_micros(50)))
            .expect("spinning coring cores on CPUs 0 and 1"),
        tokio: tokio_side::Mt::new().expect("tokio multi-thread runtime"),
        tokio_x: tokio_side::MtCross::new().expect("tokio multi-thread runtime, 1 worker"),
    };
    let warm = (n / 10).max(1);
    for c in Cross::ALL {
        let _ = b.rtt(c, warm);
        let _ = b.oneway(c, warm);
    }
    let k = Cross::ALL.len();
    let mut rtt: Vec<Vec<RttSample>> = vec![Vec::new(); k];
    let mut oneway: Vec<Vec<(f64, f64)>> = vec![Vec::new(); k];
    let t0 = Instant::now();
    for r in 0..repeats {
        for i in 0..k {
            // Rotate who goes first.
            let c = Cross::ALL[(i + r) % k];
            rtt[(i + r) % k].push(b.rtt(c, n));
        }
        for i in 0..k {
            let c = Cross::ALL[(i + r) % k];
            oneway[(i + r) % k].push(b.oneway(c, n));
        }
        eprintln!(
            "cross-core repeat {}/{repeats} done ({:.1?})",
            r + 1,
            t0.elapsed()
        );
    }
    drop(b);

    println!();
    println!(
        "cross-core round trip, CPU 0 <-> CPU 1: n={n} round trips per run, {repeats} repeats"
    );
    println!(
        "{:<13} {:>10} {:>8} {:>10} {:>8} {:>11} {:>7}",
        "contender", "median ns", "spread", "p99 ns", "spread", "cpu ns/rt", "cross"
    );
    let field =
        |s: &[RttSample], f: fn(&RttSample) -> f64| -> Vec<f64> { s.iter().map(f).collect() };
    for (i, c) in Cross::ALL.into_iter().enumerate() {
        let med = summarize(&field(&rtt[i], |s| s.median));
        let p99 = summarize(&field(&rtt[i], |s| s.p99));
        let cpu = median(&field(&rtt[i], |s| s.cpu));
        let cross: Vec<f64> = rtt[i].iter().filter_map(|s| s.cross).collect();
        let cross =
            median(&cross).map_or_else(|| "-".to_string(), |x| format!("{:.0}%", x * 100.0));
        if let (Some(m), Some(p), Some(cpu)) = (med, p99, cpu) {
            println!(
                "{:<13} {:>10.0} {:>7.1}% {:>10.0} {:>7.1}% {:>11.0} {:>7}",
                c.name(),
                m.median,
                m.spread_pct(),
                p.median,
                p.spread_pct(),
                cpu,
                cross
            );
        }
    }
    println!();
    println!("round trip ratios (<1 = coring faster); 'paired' = median of per-repeat ratios");
    println!(
        "{:<27} {:>10} {:>9} {:>10} {:>9}",
        "", "median", "paired", "p99", "paired"
    );
    for (a, bb) in Cross::PAIRS.map(|(a, b)| (a.index(), b.index())) {
        let meds = |i: usize| field(&rtt[i], |s| s.median);
        let p99s = |i: usize| field(&rtt[i], |s| s.p99);
        let ratio = |x: Vec<f64>, y: Vec<f64>| median(&x).zip(median(&y)).map(|(x, y)| x / y);
        println!(
            "{:<27} {:>10} {:>9} {:>10} {:>9}",
            format!("{}/{}", Cross::ALL[a].name(), Cross::ALL[bb].name()),
            fmt_ratio(ratio(meds(a), meds(bb))),
            fmt_ratio(paired_ratio(&meds(a), &meds(bb))),
            fmt_ratio(ratio(p99s(a), p99s(bb))),
            fmt_ratio(paired_ratio(&p99s(a), &p99s(bb))),
        );
    }

    println!();
    println!("cross-core one way, CPU 0 -> CPU 1: n={n} messages per run, {repeats} repeats");
    println!(
        "{:<13} {:>10} {:>10} {:>8} {:>12}",
        "contender", "msgs/s", "ns/msg", "spread", "cpu ns/msg"
    );
    for (i, c) in Cross::ALL.into_iter().enumerate() {
        let wall: Vec<f64> = oneway[i].iter().map(|s| s.0).collect();
        let cpu: Vec<f64> = oneway[i].iter().map(|s| s.1).collect();
        if let (Some(w), Some(cpu)) = (summarize(&wall), median(&cpu)) {
            println!(
                "{:<13} {:>10} {:>10.1} {:>7.1}% {:>12.1}",
                c.name(),
                fmt_rate(1e9 / w.median),
                w.median,
                w.spread_pct(),
                cpu
            );
        }
    }
    println!();
    println!("one-way ratios of time per message (<1 = coring faster)");
    println!("{:<27} {:>10} {:>9} {:>10}", "", "median", "paired", "cpu");
    for (a, bb) in Cross::PAIRS.map(|(a, b)| (a.index(), b.index())) {
        let wall = |i: usize| -> Vec<f64> { oneway[i].iter().map(|s| s.0).collect() };
        let cpu = |i: usize| -> Vec<f64> { oneway[i].iter().map(|s| s.1).collect() };
        let ratio = |x: Vec<f64>, y: Vec<f64>| median(&x).zip(median(&y)).map(|(x, y)| x / y);
        println!(
            "{:<27} {:>10} {:>9} {:>10}",
            format!("{}/{}", Cross::ALL[a].name(), Cross::ALL[bb].name()),
            fmt_ratio(ratio(wall(a), wall(bb))),
            fmt_ratio(paired_ratio(&wall(a), &wall(bb))),
            fmt_ratio(ratio(cpu(a), cpu(bb))),
        );
    }
}

fn blocking(n: u64, repeats: usize) {
    let coring = coring_side::Blocking::new().expect("coring runtime");
    let tokio = tokio_side::Blocking::new().expect("tokio current_thread runtime");
    let pats = [("seq", false), ("par32", true)];
    // Warm the pools up (their threads inherit this thread's affinity, so
    // before it is pinned).
    for (_, par) in pats {
        coring.run((n / 10).max(DEPTH), par);
        tokio.run((n / 10).max(DEPTH), par);
    }
    if let Err(e) = pin_to_cpu(0) {
        eprintln!("warning: not pinned to CPU 0: {e}");
    }
    // samples[pattern][contender] = (ns per call, cpu ns per call)
    let mut samples = vec![vec![Vec::<(f64, f64)>::new(); 2]; pats.len()];
    let calls = n / DEPTH * DEPTH;
    let t0 = Instant::now();
    for r in 0..repeats {
        for (pi, (_, par)) in pats.into_iter().enumerate() {
            for k in 0..2 {
                let ci = (k + r) % 2;
                let cpu0 = process_cpu();
                let took = if ci == 0 {
                    coring.run(calls, par)
                } else {
                    tokio.run(calls, par)
                };
                let cpu = (process_cpu() - cpu0).as_nanos() as f64 / calls as f64;
                samples[pi][ci].push((took.as_nanos() as f64 / calls as f64, cpu));
            }
        }
        eprintln!(
            "spawn_blocking repeat {}/{repeats} done ({:.1?})",
            r + 1,
            t0.elapsed()
        );
    }
    println!();
    println!("spawn_blocking round trip: n={calls} calls per run, {repeats} repeats");
    println!(
        "{:<7} {:<8} {:>10} {:>10} {:>8} {:>13}",
        "pattern", "runtime", "calls/s", "ns/call", "spread", "cpu ns/call"
    );
    for (pi, (pname, _)) in pats.into_iter().enumerate() {
        for (ci, cname) in ["coring", "tokio"].into_iter().enumerate() {
            let wall: Vec<f64> = samples[pi][ci].iter().map(|s| s.0).collect();
            let cpu: Vec<f64> = samples[pi][ci].iter().map(|s| s.1).collect();
            if let (Some(w), Some(cpu)) = (summarize(&wall), median(&cpu)) {
                println!(
                    "{:<7} {:<8} {:>10} {:>10.0} {:>7.1}% {:>13.0}",
                    pname,
                    cname,
                    fmt_rate(1e9 / w.median),
                    w.median,
                    w.spread_pct(),
                    cpu
                );
            }
        }
    }
    println!();
    println!("spawn_blocking ratios of time per call (<1 = coring faster)");
    println!(
        "{:<7} {:>12} {:>9} {:>10}",
        "pattern", "coring/tokio", "paired", "cpu"
    );
    for (pi, (pname, _)) in pats.into_iter().enumerate() {
        let wall = |ci: usize| -> Vec<f64> { samples[pi][ci].iter().map(|s| s.0).collect() };
        let cpu = |ci: usize| -> Vec<f64> { samples[pi][ci].iter().map(|s| s.1).collect() };
        let ratio = |x: Vec<f64>, y: Vec<f64>| median(&x).zip(median(&y)).map(|(x, y)| x / y);
        println!(
            "{:<7} {:>12} {:>9} {:>10}",
            pname,
            fmt_ratio(ratio(wall(0), wall(1))),
            fmt_ratio(paired_ratio(&wall(0), &wall(1))),
            fmt_ratio(ratio(cpu(0), cpu(1))),
        );
    }
}

fn main() {
    let args = common::parse_args(DEFAULT_REPEATS);
    if args.only.is_some() {
        eprintln!("warning: --only is not supported by this bench; running everything");
    }
    let n = args.n.unwrap_or(DEFAULT_N).max(DEPTH);
    println!(
        "cross_core bench: n={n}, {} interleaved repeats, {} CPUs",
        args.repeats,
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    cross_core(n, args.repeats);
    blocking(n, args.repeats);
}
