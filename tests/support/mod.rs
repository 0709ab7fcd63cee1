//! Helpers shared by the integration tests (`mod support;`): a buffer that
//! counts its drops, pipes, fd counting, a watchdog, a seeded PRNG, temp
//! files, small async helpers to let a runtime turn, and (in [`tpc`]) the
//! thread-per-core tests' thread and CPU helpers.
// Each test binary compiles this module and uses its own subset of it.
#![allow(dead_code)]

use coring::buf::{IoBuf, IoBufMut};
use coring::fd::SharedFd;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Drop-counting buffers

/// Counts the [`CountedBuf`]s made from it and how many were dropped, so a
/// test can see exactly when the runtime frees a buffer it held.
#[derive(Debug, Default)]
pub struct BufCounter {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

impl BufCounter {
    pub fn new() -> Arc<BufCounter> {
        Arc::new(BufCounter::default())
    }

    /// A new empty buffer of `capacity` bytes, counted.
    pub fn buf(self: &Arc<Self>, capacity: usize) -> CountedBuf {
        self.created.fetch_add(1, SeqCst);
        CountedBuf {
            vec: Vec::with_capacity(capacity),
            counter: self.clone(),
        }
    }

    /// `vec`, counted.
    pub fn buf_from(self: &Arc<Self>, vec: Vec<u8>) -> CountedBuf {
        self.created.fetch_add(1, SeqCst);
        CountedBuf {
            vec,
            counter: self.clone(),
        }
    }

    pub fn created(&self) -> usize {
        self.created.load(SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(SeqCst)
    }
}

/// A `Vec<u8>` that tells its [`BufCounter`] when it is dropped.
#[derive(Debug)]
pub struct CountedBuf {
    vec: Vec<u8>,
    counter: Arc<BufCounter>,
}

impl CountedBuf {
    /// The initialized bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.vec
    }
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        self.counter.dropped.fetch_add(1, SeqCst);
    }
}

// SAFETY: delegates to the inner Vec<u8>, whose heap block does not move
// when the CountedBuf moves, and which nothing reallocates while the
// runtime holds the buffer (CountedBuf has no &mut API that could).
unsafe impl IoBuf for CountedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.vec.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.vec.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.vec.bytes_total()
    }
}

// SAFETY: delegates to Vec<u8>'s IoBufMut: the same pointer as
// `stable_ptr`, writable for `bytes_total()` bytes.
unsafe impl IoBufMut for CountedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.vec.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the caller promises the first n bytes are initialized,
        // which is Vec's set_init contract too.
        unsafe { self.vec.set_init(n) }
    }
}

// ---------------------------------------------------------------------------
// Pipes and fds

/// A pipe (read end, write end), both CLOEXEC and blocking.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two fds into the 2-int array, which outlives
    // the call.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: on success both fds are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A pipe whose read end is ready for coring ops and whose write end is a
/// plain blocking `File`.
pub fn coring_pipe() -> (SharedFd, File) {
    let (r, w) = pipe();
    (SharedFd::new(r), File::from(w))
}

/// Bytes waiting in a pipe (FIONREAD).
pub fn pipe_pending(fd: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`, which outlives the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    usize::try_from(n).unwrap()
}

/// Reads everything waiting in a pipe right now, without blocking.
pub fn drain_pipe(fd: &impl AsRawFd) -> Vec<u8> {
    let n = pipe_pending(fd);
    let mut out = vec![0; n];
    // A borrowed File that must not close the fd: ManuallyDrop.
    // SAFETY: the fd is open for the whole call (borrowed from `fd`) and
    // the File is never dropped, so it does not close it.
    let mut f = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd.as_raw_fd()) });
    f.read_exact(&mut out).unwrap();
    out
}

/// Writes all of `data` to `w`.
pub fn write_to(mut w: &File, data: &[u8]) {
    w.write_all(data).unwrap();
}

/// `/dev/zero`, for reads that always complete at once.
pub fn dev_zero() -> SharedFd {
    SharedFd::new(File::open("/dev/zero").unwrap().into())
}

/// Open fds of this process. Only meaningful when no other thread of the
/// test binary opens or closes fds meanwhile: see [`fd_exclusive`].
pub fn open_fd_count() -> usize {
    // read_dir's own fd is counted every time, so counts compare.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Tests that count fds take this exclusively; every other test of the
/// same binary takes it shared, so no fd opens under a count.
static FD_LOCK: RwLock<()> = RwLock::new(());

/// Held by tests that open fds but do not count them.
pub fn fd_shared() -> RwLockReadGuard<'static, ()> {
    FD_LOCK.read().unwrap_or_else(|p| p.into_inner())
}

/// Held by tests that count fds.
pub fn fd_exclusive() -> RwLockWriteGuard<'static, ()> {
    FD_LOCK.write().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------
// Temp files

/// A file under `std::env::temp_dir()` with a unique name, removed on drop.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Creates the file with `contents`.
    pub fn new(tag: &str, contents: &[u8]) -> TempFile {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "coring-test-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, SeqCst)
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opened read-write, for coring ops.
    pub fn open_rw(&self) -> SharedFd {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap();
        SharedFd::new(f.into())
    }

    /// Opened read-only, for coring ops.
    pub fn open_ro(&self) -> SharedFd {
        SharedFd::new(File::open(&self.path).unwrap().into())
    }

    pub fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}

/// `path` created (or truncated) and opened read-write with coring.
pub async fn create_rw(path: impl AsRef<Path>) -> coring::fs::File {
    let path = path.as_ref();
    coring::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()))
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Threads and time

/// Runs `f` on a new thread and waits at most `limit` for it: a hang fails
/// the test (naming `what`) instead of hanging the suite. A panic in `f` is
/// resumed here.
pub fn with_watchdog<T, F>(what: &str, limit: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("watched: {what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(v) => {
            thread.join().unwrap();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it ends"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {limit:?} (hung?)")
        }
    }
}

/// CPU time (user + system) this thread has used, from
/// clock_gettime(CLOCK_THREAD_CPUTIME_ID): exact to the nanosecond, where
/// getrusage(RUSAGE_THREAD) only moves at the scheduler's ticks.
pub fn thread_cpu_time() -> Duration {
    // SAFETY: an all-zero timespec is a valid value of the plain C struct.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime writes one timespec into `ts`, which outlives
    // the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

// ---------------------------------------------------------------------------
// Async helpers

/// Polls `f` exactly once, from the calling task, and reports what it said.
pub async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

/// Lets the runtime turn (each `yield_now` is one turn: submit, reap,
/// dispatch) until `cond` holds. Fails the test after 5 s. Returns the
/// number of turns it took.
pub async fn turn_until(what: &str, mut cond: impl FnMut() -> bool) -> u32 {
    let start = Instant::now();
    let mut turns = 0;
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: not reached after {turns} turns"
        );
        coring::yield_now().await;
        turns += 1;
    }
    turns
}

/// Runs `f` on a fresh runtime; fails the test after `secs` seconds.
pub fn run<F: Future>(secs: u64, f: F) -> F::Output {
    let rt = coring::Runtime::new().expect("a runtime");
    rt.block_on(async {
        coring::time::timeout(Duration::from_secs(secs), f)
            .await
            .expect("test timed out")
    })
}

/// Ops in flight on the current runtime.
pub fn ops_in_flight() -> u64 {
    coring::metrics().ops_in_flight
}

// ---------------------------------------------------------------------------
// Randomness

/// xorshift64*: a small, seeded PRNG, so a failing run can be replayed.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    /// The seed from `CORING_TEST_SEED`, else from the clock; printed, so
    /// that a failing run can be replayed.
    pub fn from_env(test: &str) -> XorShift {
        let seed = match std::env::var("CORING_TEST_SEED") {
            Ok(s) => s.parse().expect("CORING_TEST_SEED is a u64"),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        println!("{test}: seed {seed} (replay with CORING_TEST_SEED={seed})");
        XorShift::new(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// A connected loopback TCP pair: the client and the server's side (the
/// listener is closed once it accepted).
pub async fn tcp_pair() -> (coring::net::TcpStream, coring::net::TcpStream) {
    let l = coring::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let c = coring::net::TcpStream::connect(l.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (s, _) = l.accept().await.expect("accept");
    (c, s)
}

// ---------------------------------------------------------------------------
// Thread-per-core helpers (`tpc_*.rs`)

pub mod tpc;

// ---------------------------------------------------------------------------
// Ring shapes (CORING_RING)

/// Whether the test runs with the default ring shape. When `CORING_RING`
/// picks another (`plain`, `tiny`), prints that `what` is skipped and why,
/// and returns true: the caller returns. For tests of the defaults
/// themselves, never for tests of behaviour.
pub fn skip_unless_default_ring(what: &str) -> bool {
    match std::env::var("CORING_RING") {
        Ok(v) if !v.is_empty() && v != "default" => {
            eprintln!("skipped: {what} is checked only with the default ring (CORING_RING={v})");
            true
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Backends (CORING_BACKEND)

/// Whether a default runtime here runs the epoll backend. When it does,
/// prints that `what` is skipped and why, and returns true: the caller
/// returns. Only for what exists on io_uring alone (SQPOLL, io-wq, the
/// kernel's CQ overflow, setup flags), never for behaviour.
pub fn skip_on_epoll(what: &str) -> bool {
    // No runtime is built (its fds would race tests that count fds); the
    // first call's probe ring, if any, and the skip log's fd are opened
    // under the shared lock: a count that saw the log open would miss it
    // at its end (a CI run failed so: "no fd leaked", 6 against 7).
    let _fds = fd_shared();
    let kind = coring::auto_backend().map(|b| b.kind());
    if matches!(kind, Ok(coring::BackendKind::Epoll)) {
        let line = format!("skipped on the epoll backend: {what} exists on io_uring only");
        eprintln!("{line}");
        // CI counts the skips: one line per skip in this file.
        if let Ok(log) = std::env::var("CORING_SKIP_LOG") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log)
            {
                let _ = writeln!(f, "{line}");
            }
        }
        return true;
    }
    false
}

// ---------------------------------------------------------------------------
// curl, the real client the HTTP tests use when it is installed

/// Whether `curl` runs here. Checked under [`fd_exclusive`]: its pipes are
/// fds a counting test would see.
pub fn curl_installed() -> bool {
    let _fds = fd_exclusive();
    std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok()
}

/// Runs `curl -sS --max-time 30 ARGS` and returns what it did.
pub fn curl(args: &[&str]) -> std::process::Output {
    std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl")
}

// ---------------------------------------------------------------------------
// The machine

/// Why timing bounds should be widened on this machine, or `None` on real
/// hardware: the environment says so (`CORING_TEST_EMULATED=1`, which
/// `ci/kernels.sh` sets in its QEMU guests), or a fixed piece of work took
/// over 8× what it takes on the project's 2-vCPU VM (software emulation
/// runs it 10-40× slower). Measured once per process; tests that use it
/// print the reason, so a widened bound is never silent.
pub fn emulated() -> Option<String> {
    static REASON: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    REASON
        .get_or_init(|| {
            if std::env::var_os("CORING_TEST_EMULATED").is_some_and(|v| v != "0") {
                return Some("CORING_TEST_EMULATED is set (a QEMU guest)".to_string());
            }
            let work = || {
                let t = Instant::now();
                let mut x = 0x9e37_79b9_7f4a_7c15u64;
                for _ in 0..2_000_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                std::hint::black_box(x);
                t.elapsed()
            };
            // The best of three, so a busy host is not taken for a slow one.
            let best = (0..3).map(|_| work()).min().unwrap_or_default();
            // ~2-3 ms on the project's VM.
            (best > Duration::from_millis(25))
                .then(|| format!("a calibration loop took {best:?} (~3 ms on real hardware)"))
        })
        .clone()
}

/// Raises this process's soft fd limit (RLIMIT_NOFILE) to its hard limit
/// and returns the soft limit now in force.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: an all-zero rlimit is a valid value of the plain C struct.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit writes one rlimit into `lim`, which outlives the call.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(r, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit from `want`, which outlives
        // the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    lim.rlim_cur
}
