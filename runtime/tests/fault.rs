//! Fault injection through every fallible step of the driver (feature
//! `fault-injection`): io_uring_enter in the turn, in a submit (device
//! and submit batches, a full SQ), in a cancel and in shutdown;
//! io_uring_register for the probe, the ring fd, fixed buffers, buffer
//! rings and registered files; the SQ push.
//!
//! Run with `cargo test -p coring-runtime --features fault-injection
//! --test fault`. What must hold, for each step and errno:
//! - transient errnos (EINTR, EAGAIN, EBUSY, ETIME) and EBADR: the
//!   runtime goes on, every op gives its real result, no buffer is freed
//!   before its op's final CQE, no fd leaks, nothing hangs;
//! - a register error comes back as the call's `io::Error` (or, for the
//!   optional probe and ring fd, the runtime does without);
//! - any other enter errno aborts the process with a message naming it
//!   (checked in a child process): the SQ may hold SQEs that point at
//!   memory an unwind would free.

use coring_runtime::buf::{BufRing, FixedBufPool, IoBuf, IoBufMut};
use coring_runtime::fault::{self, Point};
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, OpenAt};
use coring_runtime::registered::FileTable;
use coring_runtime::{Backend, Builder};
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Helpers

/// fd counts and the fault plan are per process / per thread: one test at
/// a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Counter {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

/// A buffer that counts its drops and checks, when dropped, that no byte
/// changed since the runtime gave it back or let it go: a pattern of
/// 0xA5 is written before each op, and the kernel writing after the drop
/// would be a use-after-free the allocator's poisoning shows at once.
struct Counted {
    vec: Vec<u8>,
    counter: Arc<Counter>,
}

impl Counter {
    fn buf(self: &Arc<Self>, cap: usize) -> Counted {
        self.made.fetch_add(1, SeqCst);
        Counted {
            vec: Vec::with_capacity(cap),
            counter: self.clone(),
        }
    }
    fn alive(&self) -> usize {
        self.made.load(SeqCst) - self.dropped.load(SeqCst)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counter.dropped.fetch_add(1, SeqCst);
    }
}

// SAFETY: delegates to the inner Vec, whose heap block does not move.
unsafe impl IoBuf for Counted {
    fn stable_ptr(&self) -> *const u8 {
        self.vec.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.vec.len()
    }
    fn bytes_total(&self) -> usize {
        self.vec.capacity()
    }
}

// SAFETY: delegates to Vec<u8>'s IoBufMut.
unsafe impl IoBufMut for Counted {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.vec.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.vec.set_init(n) }
    }
}

fn pipe() -> (SharedFd, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two fds into the array, which outlives it.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0);
    // SAFETY: both fds are new and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (SharedFd::new(r), File::from(w))
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn dev_zero() -> SharedFd {
    SharedFd::new(File::open("/dev/zero").unwrap().into())
}

const TRANSIENT: [(i32, &str); 5] = [
    (libc::EINTR, "EINTR"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::EBUSY, "EBUSY"),
    (libc::ETIME, "ETIME"),
    (libc::EBADR, "EBADR"),
];

const FATAL: [(i32, &str); 4] = [
    (libc::EBADF, "EBADF"),
    (libc::EFAULT, "EFAULT"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENXIO, "ENXIO"),
];

/// A builder for io_uring whatever `CORING_BACKEND` says: the faults are
/// injected into io_uring's enter, register and push.
fn uring() -> Builder {
    Builder::new().backend(Backend::IoUring)
}

/// The ring shapes a step behaves differently under.
fn rings() -> Vec<(&'static str, Builder)> {
    vec![
        ("default", uring()),
        ("tiny", uring().entries(4)),
        (
            "plain",
            uring()
                .single_issuer(false)
                .defer_taskrun(false)
                .coop_taskrun(false)
                .register_ring_fd(false)
                .entries(8),
        ),
        ("batch1", uring().submit_batch(1)),
    ]
}

/// A workload that touches every path of the turn: reads that complete at
/// once, reads that wait for a writer, reads dropped while in flight (a
/// cancel), opens dropped (a late fd to close), timers, and a runtime
/// drop with reads still in flight. Checks results, drops and fds.
/// Returns how many of the armed faults fired.
fn workload(name: &str, builder: Builder, faults: impl FnOnce()) -> u64 {
    let counter = Arc::new(Counter::default());
    let fds_before = fd_count();
    let zero = dev_zero();
    let (rd, mut wr) = pipe();
    let rt = builder.build().unwrap();
    faults();
    let start = Instant::now();
    rt.block_on(async {
        // Reads that complete at once.
        let mut handles = Vec::new();
        for _ in 0..24 {
            let zero = zero.clone();
            let c = counter.clone();
            handles.push(coring_runtime::spawn(async move {
                let (res, buf) = coring_runtime::io::read(&zero, c.buf(32)).await;
                assert_eq!(res.unwrap(), 32);
                assert!(buf.vec.iter().all(|&b| b == 0));
            }));
        }
        // Reads that wait for data written later.
        for i in 0..6u8 {
            let rd = rd.clone();
            let c = counter.clone();
            handles.push(coring_runtime::spawn(async move {
                let (res, buf) = coring_runtime::io::read(&rd, c.buf(1)).await;
                assert_eq!(res.unwrap(), 1);
                assert!(buf.vec[0] < 6, "read {i} got {:?}", buf.vec);
            }));
        }
        // Reads dropped in flight: cancelled; their buffers wait in the
        // table for the final CQE.
        let before = counter.alive();
        let dropped: Vec<_> = (0..8)
            .map(|_| coring_runtime::io::read(&rd, counter.buf(8)))
            .collect();
        drop(dropped);
        assert_eq!(
            counter.alive(),
            before + 8,
            "a dropped read's buffer was freed before its final CQE"
        );
        // Opens dropped: their late fds are closed.
        for _ in 0..8 {
            drop(Op::submit(
                OpenAt::new("/dev/null".as_ref(), libc::O_RDONLY | libc::O_CLOEXEC, 0).unwrap(),
            ));
        }
        coring_runtime::time::sleep(Duration::from_millis(2)).await;
        wr.write_all(&[0, 1, 2, 3, 4, 5]).unwrap();
        for h in handles {
            h.await.unwrap();
        }
        // Left in flight for the runtime's drop.
        for _ in 0..4 {
            let rd = rd.clone();
            let c = counter.clone();
            drop(coring_runtime::spawn(async move {
                let _ = coring_runtime::io::read(&rd, c.buf(8)).await;
            }));
        }
        coring_runtime::time::sleep(Duration::from_millis(1)).await;
    });
    let ops_left = rt.metrics().ops_in_flight;
    assert!(ops_left >= 4, "{name}: the last reads should be in flight");
    drop(rt);
    let fired = fault::clear();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{name}: took {:?}",
        start.elapsed()
    );
    assert_eq!(counter.alive(), 0, "{name}: buffers leaked");
    drop((zero, rd, wr));
    assert_eq!(fd_count(), fds_before, "{name}: fds leaked");
    fired
}

// ---------------------------------------------------------------------------
// Transient enter errors: the runtime goes on.

/// Every enter of a run, one at a time, fails with each transient errno.
#[test]
fn transient_enter_errors_lose_nothing() {
    let _s = serial();
    // How many enters one run takes, per ring shape.
    for (ring, builder) in rings() {
        let before = fault::seen(Point::Enter);
        workload(ring, builder.clone(), || {});
        let enters = fault::seen(Point::Enter) - before;
        assert!(enters > 3, "{ring}: only {enters} enters");
        for (errno, name) in TRANSIENT {
            let mut fired = 0;
            let mut armed = 0;
            for nth in (1..=enters).step_by(((enters / 12) as usize).max(1)) {
                armed += 1;
                fired += workload(
                    &format!("{ring} enter #{nth} {name}"),
                    builder.clone(),
                    || fault::fail_nth(Point::Enter, nth, errno),
                );
            }
            // A burst: eight enters in a row.
            armed += 8;
            fired += workload(&format!("{ring} 8 enters {name}"), builder.clone(), || {
                fault::fail_next(Point::Enter, 8, errno)
            });
            assert!(
                fired * 2 >= armed,
                "{ring} {name}: {fired} of {armed} fired"
            );
            println!("{ring:8} enter x {name:6}: {fired:3} of {armed:3} injected faults hit an enter; results, buffers, fds all right");
        }
    }
}

/// EBADR is counted in the metrics.
#[test]
fn ebadr_is_counted() {
    let _s = serial();
    let rt = uring().build().unwrap();
    fault::fail_next(Point::Enter, 3, libc::EBADR);
    rt.block_on(async {
        for _ in 0..5 {
            coring_runtime::io::nop().await.unwrap();
        }
    });
    assert_eq!(fault::clear(), 3);
    assert_eq!(rt.metrics().cq_dropped, 3);
}

/// A push that finds the SQ full flushes it (make room) and goes on.
#[test]
fn full_sq_on_push_loses_nothing() {
    let _s = serial();
    for (ring, builder) in rings() {
        let mut fired = 0;
        for nth in [1, 2, 5, 17, 40] {
            fired += workload(&format!("{ring} push #{nth} full"), builder.clone(), || {
                fault::fail_nth(Point::Push, nth, 0)
            });
        }
        fired += workload(&format!("{ring} 30 pushes full"), builder.clone(), || {
            fault::fail_next(Point::Push, 30, 0)
        });
        // A full SQ whose flush meets a transient error too.
        fired += workload(&format!("{ring} full + EBUSY"), builder.clone(), || {
            fault::fail_next(Point::Push, 10, 0);
            fault::fail_next(Point::Enter, 10, libc::EBUSY);
        });
        assert_eq!(fired, 5 + 30 + 20, "{ring}: every push fault fires");
        println!("{ring:8} push x full SQ: {fired} faults; results, buffers, fds all right");
    }
}

// ---------------------------------------------------------------------------
// Register errors come back as errors.

#[test]
fn register_errors_are_returned() {
    let _s = serial();
    let fds_before = fd_count();
    let rt = uring().build().unwrap();
    rt.block_on(async {
        fault::fail_nth(Point::Register, 1, libc::ENOMEM);
        let e = FixedBufPool::register(4, 4096).expect_err("fixed buffers");
        assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory, "{e}");
        fault::fail_nth(Point::Register, 1, libc::ENOMEM);
        let e = BufRing::new(8, 4096).expect_err("buffer ring");
        assert!(
            e.raw_os_error() == Some(libc::ENOMEM)
                || e.to_string().contains("ENOMEM")
                || e.kind() == std::io::ErrorKind::OutOfMemory,
            "{e}"
        );
        fault::fail_nth(Point::Register, 1, libc::EMFILE);
        let e = FileTable::register(8).expect_err("registered files");
        assert!(e.to_string().len() > 5, "{e}");
        assert_eq!(fault::clear(), 3);
        // Without faults, all three work on this runtime afterwards.
        let pool = FixedBufPool::register(4, 4096).unwrap();
        let ring = BufRing::new(8, 4096).unwrap();
        let files = FileTable::register(8).unwrap();
        drop((pool, ring, files));
    });
    drop(rt);
    assert_eq!(fd_count(), fds_before, "fds leaked");
}

/// The opcode probe and the ring fd registration are optional: a runtime
/// whose registers fail runs without them.
#[test]
fn optional_registers_failing_leave_a_working_runtime() {
    let _s = serial();
    for n in 1..=3 {
        fault::fail_next(Point::Register, n, libc::EINVAL);
        workload(&format!("first {n} registers fail"), uring(), || {});
        fault::clear();
    }
}

// ---------------------------------------------------------------------------
// Fatal enter errors abort, loudly, wherever they happen.

/// Where a fatal enter error is injected, in the child process.
const STEPS: [&str; 6] = [
    "turn",
    "submit_batch",
    "device_batch",
    "cancel_full_sq",
    "shutdown",
    "block_on_flush",
];

#[test]
fn fatal_enter_errors_abort_with_a_message() {
    if let Ok(step) = std::env::var("CORING_FAULT_CHILD") {
        let errno: i32 = std::env::var("CORING_FAULT_ERRNO")
            .unwrap()
            .parse()
            .unwrap();
        child(&step, errno);
        // The step must have aborted.
        std::process::exit(3);
    }
    let _s = serial();
    let exe = std::env::current_exe().unwrap();
    let mut matrix = Vec::new();
    for step in STEPS {
        for (errno, name) in FATAL {
            let out = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "fatal_enter_errors_abort_with_a_message",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("CORING_FAULT_CHILD", step)
                .env("CORING_FAULT_ERRNO", errno.to_string())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let want = std::io::Error::from_raw_os_error(errno).to_string();
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGABRT),
                "{step} {name}: not aborted ({:?}); stderr:\n{stderr}",
                out.status
            );
            assert!(
                stderr.contains("coring: io_uring_enter failed") && stderr.contains(&want),
                "{step} {name}: the abort does not say why; stderr:\n{stderr}"
            );
            matrix.push(format!("{step} x {name}: abort"));
        }
    }
    println!("fatal enter matrix:\n  {}", matrix.join("\n  "));
}

/// Runs up to the step, arms the fault on its enter, and goes on: the
/// process must abort there.
fn child(step: &str, errno: i32) {
    let (rd, _wr) = pipe();
    let counter = Arc::new(Counter::default());
    match step {
        "turn" => {
            let rt = uring().build().unwrap();
            rt.block_on(async {
                let _op = coring_runtime::io::read(&rd, counter.buf(8));
                fault::fail_nth(Point::Enter, 1, errno);
                coring_runtime::time::sleep(Duration::from_millis(1)).await;
            });
        }
        "submit_batch" => {
            let rt = uring().submit_batch(2).build().unwrap();
            rt.block_on(async {
                fault::fail_nth(Point::Enter, 1, errno);
                let a = coring_runtime::io::read(&rd, counter.buf(8));
                let b = coring_runtime::io::read(&rd, counter.buf(8));
                drop((a, b));
            });
        }
        "device_batch" => {
            let rt = uring().device_batch(2).build().unwrap();
            let dir = std::env::temp_dir().join(format!("coring-fault-{}", std::process::id()));
            std::fs::write(&dir, [7u8; 8192]).unwrap();
            let f = SharedFd::new(File::open(&dir).unwrap().into());
            std::fs::remove_file(&dir).unwrap();
            rt.block_on(async {
                fault::fail_nth(Point::Enter, 1, errno);
                let ops: Vec<_> = (0..4)
                    .map(|i| {
                        Op::submit(coring_runtime::op::Device(coring_runtime::op::Read::new(
                            &f,
                            counter.buf(512),
                            i * 512,
                        )))
                    })
                    .collect();
                drop(ops);
            });
        }
        "cancel_full_sq" => {
            let rt = uring().entries(4).build().unwrap();
            rt.block_on(async {
                let ops: Vec<_> = (0..4)
                    .map(|_| coring_runtime::io::read(&rd, counter.buf(8)))
                    .collect();
                fault::fail_nth(Point::Enter, 1, errno);
                drop(ops);
            });
        }
        "shutdown" => {
            let rt = uring().build().unwrap();
            rt.block_on(async {
                let c = counter.clone();
                let rd = rd.clone();
                drop(coring_runtime::spawn(async move {
                    let _ = coring_runtime::io::read(&rd, c.buf(8)).await;
                }));
                coring_runtime::time::sleep(Duration::from_millis(1)).await;
            });
            fault::fail_nth(Point::Enter, 1, errno);
            drop(rt);
        }
        "block_on_flush" => {
            let rt = uring().build().unwrap();
            // The op outlives block_on, whose end flushes the SQ.
            let (op,) = rt.block_on(async {
                fault::fail_nth(Point::Enter, 1, errno);
                (coring_runtime::io::read(&rd, counter.buf(8)),)
            });
            drop(op);
        }
        _ => panic!("unknown step {step}"),
    }
}
