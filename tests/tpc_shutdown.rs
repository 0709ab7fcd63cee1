//! Shutdown of a thread-per-core launch leaks nothing: with reads pending
//! on every core, after a panic, after a failed start. The grace period is
//! honoured.
//!
//! These tests count the process's fds and threads, so they run one at a
//! time (the `SERIAL` lock) in a test binary of their own.

mod support;

use coring::cores;
use coring::fd::SharedFd;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use support::tpc::{allowed_cpus, eventually, threads_named};
use support::{open_fd_count, pipe, with_watchdog};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the process holds before a launch, to compare with after it.
struct Baseline {
    fds: usize,
}

impl Baseline {
    fn take() -> Baseline {
        assert!(
            eventually(Duration::from_secs(2), || threads_named("coring-") == 0),
            "no coring thread left from before"
        );
        Baseline {
            fds: open_fd_count(),
        }
    }

    /// Every fd and coring thread of the launch is gone.
    fn check(&self, what: &str) {
        assert_eq!(
            open_fd_count(),
            self.fds,
            "{what}: fds back to where they were"
        );
        assert!(
            eventually(Duration::from_secs(2), || threads_named("coring-") == 0),
            "{what}: coring threads left: {:?}",
            support::tpc::thread_names()
        );
    }
}

/// Counts how many of the reader tasks were dropped (by the shutdown).
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

const PIPES_PER_CORE: usize = 8;

/// Counters shared by the cores of one launch.
#[derive(Default)]
struct Readers {
    dropped: Arc<AtomicUsize>,
    completed: AtomicUsize,
}

/// Spawns a read of a pipe that never gets data (its write end lives in
/// the same task), and waits until the kernel has it.
async fn start_readers(readers: &Arc<Readers>) {
    for _ in 0..PIPES_PER_CORE {
        let (r, w) = pipe();
        let r = SharedFd::new(r);
        let readers2 = readers.clone();
        let guard = DropCount(readers.dropped.clone());
        drop(coring::spawn(async move {
            let _keep = (guard, w);
            let (res, _buf) = coring::io::read(&r, Vec::with_capacity(64)).await;
            readers2.completed.fetch_add(1, SeqCst);
            panic!("a read of an empty pipe completed: {res:?}");
        }));
    }
    // Let the tasks run and their SQEs go in.
    coring::io::nop().await.expect("nop");
    let m = coring::metrics();
    assert!(
        m.ops_in_flight >= PIPES_PER_CORE as u64,
        "reads in flight: {m:?}"
    );
}

/// `n` cores each with `PIPES_PER_CORE` reads pending; the root futures
/// either wait for the shutdown (`finish`) or never end.
fn shutdown_with_reads_pending(launch: coring::Cores, n: usize, finish: bool) {
    shutdown_with_reads_pending_by(launch, n, finish, false)
}

/// As above; with `drop_handle` the handle is dropped instead of joined.
fn shutdown_with_reads_pending_by(
    launch: coring::Cores,
    n: usize,
    finish: bool,
    drop_handle: bool,
) {
    let base = Baseline::take();
    let readers = Arc::new(Readers::default());
    let (ready_tx, ready_rx) = mpsc::channel::<usize>();
    let ready_tx = Mutex::new(ready_tx);
    let r = readers.clone();
    let handle = launch
        .grace(Duration::from_millis(100))
        .launch(move |core| {
            let ready = ready_tx.lock().unwrap().clone();
            let readers = r.clone();
            async move {
                start_readers(&readers).await;
                ready.send(core.index()).unwrap();
                if finish {
                    core.shutdown_requested().await;
                } else {
                    std::future::pending::<()>().await;
                }
                core.index()
            }
        })
        .expect("launch");
    for _ in 0..n {
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("every core started its reads");
    }
    assert!(
        open_fd_count() >= base.fds + 2 * PIPES_PER_CORE * n,
        "the pipes are open"
    );
    assert_eq!(threads_named("coring-core-"), n);
    let t = Instant::now();
    if drop_handle {
        // Dropping shuts down and waits: the roots never finish, so each
        // core sits out its 100 ms grace period, and every runtime has
        // dropped its tasks by the time `drop` returns.
        drop(handle);
        assert_eq!(
            readers.dropped.load(SeqCst),
            PIPES_PER_CORE * n,
            "the drop waited for every core's runtime to go"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(100),
            "the drop waited out the grace period"
        );
        assert!(
            eventually(Duration::from_secs(2), || threads_named("coring-core-")
                == 0),
            "no core outlives its handle"
        );
    } else {
        handle.shutdown();
        let outs = handle.join().expect("join");
        let expected: Vec<Option<usize>> = if finish {
            (0..n).map(Some).collect()
        } else {
            vec![None; n]
        };
        assert_eq!(outs, expected);
    }
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert_eq!(readers.completed.load(SeqCst), 0, "no read completed");
    assert_eq!(
        readers.dropped.load(SeqCst),
        PIPES_PER_CORE * n,
        "every reader task was dropped"
    );
    base.check("shutdown with reads pending");
}

#[test]
fn shutdown_with_reads_pending_on_two_pinned_cores() {
    let _serial = serial();
    with_watchdog("reads-2", Duration::from_secs(20), || {
        shutdown_with_reads_pending(cores(2), 2, true)
    });
}

#[test]
fn shutdown_with_reads_pending_on_four_cores() {
    let _serial = serial();
    with_watchdog("reads-4", Duration::from_secs(20), || {
        shutdown_with_reads_pending(cores(4).pin(false), 4, true)
    });
}

#[test]
fn shutdown_with_reads_pending_and_roots_that_never_finish() {
    let _serial = serial();
    with_watchdog("reads-forever", Duration::from_secs(20), || {
        shutdown_with_reads_pending(cores(2).pin(false), 2, false)
    });
}

#[test]
fn dropping_the_handle_shuts_the_cores_down() {
    let _serial = serial();
    with_watchdog("drop-handle", Duration::from_secs(30), || {
        shutdown_with_reads_pending_by(cores(2).pin(false), 2, false, true)
    });
}

#[test]
fn the_grace_period_is_honoured() {
    let _serial = serial();
    with_watchdog("grace", Duration::from_secs(20), || {
        let base = Baseline::take();
        const GRACE: Duration = Duration::from_millis(500);
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let ready_tx = Mutex::new(ready_tx);
        let handle = cores(3)
            .pin(false)
            .grace(GRACE)
            .launch(move |core| {
                let ready = ready_tx.lock().unwrap().clone();
                async move {
                    ready.send(()).unwrap();
                    core.shutdown_requested().await;
                    // Core 0 winds down within the grace period, core 1
                    // would need an hour, core 2 uses most of its grace.
                    let wind_down = match core.index() {
                        0 => Duration::from_millis(20),
                        1 => Duration::from_secs(3600),
                        _ => GRACE - Duration::from_millis(200),
                    };
                    coring::time::sleep(wind_down).await;
                    core.index() * 10
                }
            })
            .expect("launch");
        for _ in 0..3 {
            ready_rx.recv().unwrap();
        }
        let t = Instant::now();
        handle.shutdown();
        let outs = handle.join().expect("join");
        let took = t.elapsed();
        assert_eq!(outs, vec![Some(0), None, Some(20)]);
        assert!(took >= GRACE, "core 1 got its full grace: {took:?}");
        assert!(
            took < GRACE + Duration::from_secs(2),
            "and no more: {took:?}"
        );
        base.check("grace");
    });
}

#[test]
fn a_panicking_core_leaves_nothing_behind() {
    let _serial = serial();
    with_watchdog("panic-leaks", Duration::from_secs(20), || {
        let base = Baseline::take();
        let readers = Arc::new(Readers::default());
        let r = readers.clone();
        let err = cores(2)
            .pin(false)
            .grace(Duration::from_millis(100))
            .run(move |core| {
                let readers = r.clone();
                async move {
                    start_readers(&readers).await;
                    if core.index() == 1 {
                        coring::time::sleep(Duration::from_millis(20)).await;
                        panic!("core 1 fails with reads pending");
                    }
                    std::future::pending::<()>().await;
                }
            })
            .expect_err("core 1 panicked");
        assert!(err.to_string().contains("core 1 fails"), "{err}");
        assert_eq!(readers.dropped.load(SeqCst), 2 * PIPES_PER_CORE);
        base.check("panic");
    });
}

#[test]
fn a_failed_start_stops_the_cores_already_started() {
    let _serial = serial();
    with_watchdog("failed-start", Duration::from_secs(20), || {
        let base = Baseline::take();
        let cpu = allowed_cpus()[0];
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        // Core 0 gets a ring; core 1 cannot be pinned.
        let err = cores(2)
            .cpus([cpu, 999])
            .launch(move |_core| {
                s.fetch_add(1, SeqCst);
                async {}
            })
            .expect_err("CPU 999 does not exist");
        assert!(err.to_string().contains("core 1"), "{err}");
        assert!(err.to_string().contains("CPU 999"), "{err}");
        assert_eq!(started.load(SeqCst), 0, "no root future ran");
        base.check("failed start");
        // A ring that cannot be set up fails the same way.
        let err = cores(2)
            .pin(false)
            .builder(coring::Builder::new().entries(0))
            .launch(|_core| async {})
            .expect_err("a 0-entry ring");
        assert!(err.to_string().contains("core "), "names the core: {err}");
        base.check("bad ring");
    });
}

#[test]
fn blocking_threads_of_every_core_are_joined_at_shutdown() {
    let _serial = serial();
    with_watchdog("blocking-joined", Duration::from_secs(20), || {
        let base = Baseline::take();
        let handle = cores(2)
            .pin(false)
            .builder(coring::Builder::new().blocking_keep_alive(Duration::from_secs(3600)))
            .launch(|core| async move {
                let jobs: Vec<_> = (0..4u64)
                    .map(|i| {
                        coring::spawn_blocking(move || {
                            std::thread::sleep(Duration::from_millis(5));
                            i
                        })
                    })
                    .collect();
                let mut sum = 0;
                for j in jobs {
                    sum += j.await.expect("job");
                }
                core.shutdown_requested().await;
                sum
            })
            .expect("launch");
        // The pool threads idle (keep-alive of an hour) on both cores.
        assert!(
            eventually(Duration::from_secs(5), || threads_named("coring-blocking")
                >= 2),
            "{:?}",
            support::tpc::thread_names()
        );
        handle.shutdown();
        assert_eq!(handle.join().expect("join"), vec![Some(6), Some(6)]);
        base.check("blocking pool");
    });
}
