//! Random 4 KiB reads over a 1 GiB file at queue depth 1, 32 and 128,
//! page-cache-hot and O_DIRECT, plus sequential 1 MiB reads: coring
//! (plain; with fixed buffers + a registered file; `coring-b4`, the
//! runtime submitting every 4 SQEs with `Builder::submit_batch(4)`; and
//! `coring-wq`, every read offloaded to io-wq with `File::set_offload`), a
//! hand-written
//! io-uring loop with the same reads in flight (the floor; `raw-eager` is
//! the same loop submitting each read by itself as fio does), tokio::fs,
//! monoio's fs, and fio's io_uring engine when `fio` is on PATH.
//!
//! Reports IOPS and CPU per IO (process utime+stime over the window),
//! medians of interleaved repeats with their spread, and ratios to the raw
//! loop. Writes `fs_randread.csv` (every run), `fs_randread_summary.csv`
//! and `fs_randread.svg` (IOPS against queue depth, a line per contender)
//! into the results dir.
//!
//! ```text
//! cargo bench -p coring-bench --bench fs_randread -- [--secs S] [--repeats R] [--qd 1,32,128]
//!     [--dir DIR] [--size-mib N] [--out DIR] [--only CONTENDER,...] [--modes cached,direct]
//!     [--no-seq] [--ios N]
//! ```
//!
//! `--ios N` stops every run after N IOs: run it under
//! `valgrind --tool=callgrind` with N and 2N and divide the difference in
//! instructions by N for user-space instructions per IO (see
//! `docs/BENCHMARKING.md`):
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p target/release/deps/fs_randread-* \
//!     --only coring --modes cached --qd 32 --repeats 1 --no-seq --size-mib 64 --ios 20000
//! ```
//!
//! The data file (`DIR/coring-randread-<N>m.dat`, default DIR /var/tmp)
//! is created once and reused; DIR must be disk-backed for O_DIRECT to
//! mean anything (the bench says when it is tmpfs).
#![allow(clippy::unwrap_used)] // A bench aborts on setup failure.

use coring::buf::{AlignedBuf, FixedBufPool};
use coring::fs::{File, FileTable, OpenOptions, SeqReader};
use std::cell::Cell;
use std::io::{Read as _, SeekFrom, Write as _};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

const BLOCK: usize = 4096;

/// `--ios N`: stop each run after N IOs (for callgrind's N vs 2N runs).
static MAX_IOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

fn stop_now(ios: u64, deadline: Instant) -> bool {
    ios >= MAX_IOS.load(std::sync::atomic::Ordering::Relaxed) || Instant::now() >= deadline
}
const SEQ_CHUNK: usize = 1 << 20;
const SEQ_QD: usize = 4;

struct Opts {
    secs: f64,
    repeats: usize,
    qds: Vec<usize>,
    dir: PathBuf,
    size_mib: u64,
    out: PathBuf,
    only: Option<String>,
    modes: Vec<Mode>,
    seq: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Cached,
    Direct,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Cached => "cached",
            Mode::Direct => "direct",
        }
    }
}

/// The workspace's root folder: this bench package is its `benches/`.
fn workspace_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench package lives inside the workspace")
}

fn parse() -> Opts {
    let mut o = Opts {
        secs: 2.0,
        repeats: 5,
        qds: vec![1, 32, 128],
        dir: PathBuf::from("/var/tmp"),
        size_mib: 1024,
        // `cargo bench` runs this in the bench package's folder
        // (`benches/`): the target directory is the workspace's.
        out: std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace_dir().join("target"), PathBuf::from)
            .join("bench-results"),
        only: None,
        modes: vec![Mode::Cached, Mode::Direct],
        seq: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut v = || {
            inline
                .clone()
                .or_else(|| it.next())
                .expect("flag needs a value")
        };
        match k.as_str() {
            "--secs" => o.secs = v().parse().expect("--secs: a number"),
            "--repeats" => o.repeats = v().parse().expect("--repeats: a number"),
            "--qd" => {
                o.qds = v()
                    .split(',')
                    .map(|s| s.parse().expect("--qd: numbers"))
                    .collect()
            }
            "--dir" => o.dir = PathBuf::from(v()),
            "--size-mib" => o.size_mib = v().parse().expect("--size-mib: a number"),
            "--out" => o.out = PathBuf::from(v()),
            "--only" => o.only = Some(v()),
            "--no-seq" => o.seq = false,
            "--ios" => MAX_IOS.store(
                v().parse().expect("--ios: a number"),
                std::sync::atomic::Ordering::Relaxed,
            ),
            "--modes" => {
                o.modes = v()
                    .split(',')
                    .map(|m| {
                        if m == "direct" {
                            Mode::Direct
                        } else {
                            Mode::Cached
                        }
                    })
                    .collect()
            }
            _ => {} // cargo's --bench and friends
        }
    }
    o
}

// ---------------------------------------------------------------- helpers

fn pin(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is this thread; the kernel only reads `set`.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// Process CPU time (user + system, all threads), in seconds.
fn cpu_now() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a live out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn is_tmpfs(dir: &Path) -> bool {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: an all-zero statfs is valid; statfs fills it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a live out-pointer.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    r == 0 && st.f_type == libc::TMPFS_MAGIC
}

fn data_file(o: &Opts) -> PathBuf {
    std::fs::create_dir_all(&o.dir).unwrap();
    if is_tmpfs(&o.dir) {
        eprintln!(
            "warning: {} is tmpfs: O_DIRECT numbers will not involve a disk; pass --dir on a disk",
            o.dir.display()
        );
    }
    let p = o.dir.join(format!("coring-randread-{}m.dat", o.size_mib));
    let want = o.size_mib << 20;
    if std::fs::metadata(&p)
        .map(|m| m.len() == want)
        .unwrap_or(false)
    {
        eprintln!("reusing {}", p.display());
        return p;
    }
    eprintln!("creating {} ({} MiB)...", p.display(), o.size_mib);
    let mut f = std::fs::File::create(&p).unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut chunk = vec![0u8; 8 << 20];
    for _ in 0..(want / chunk.len() as u64) {
        for w in chunk.chunks_mut(8) {
            w.copy_from_slice(&rng.next().to_le_bytes());
        }
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
    p
}

/// Reads the whole file through the page cache, so cached runs are hot.
fn warm(p: &Path) {
    let mut f = std::fs::File::open(p).unwrap();
    let mut buf = vec![0u8; 8 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
}

/// One measured run: IOs done and the window.
struct Run {
    ios: u64,
    secs: f64,
    cpu: f64,
}

fn measure(f: impl FnOnce() -> u64) -> Run {
    let c0 = cpu_now();
    let t0 = Instant::now();
    let ios = f();
    let secs = t0.elapsed().as_secs_f64();
    Run {
        ios,
        secs,
        cpu: cpu_now() - c0,
    }
}

/// Runs `f` on a fresh thread pinned to CPU 0 (or unpinned).
fn on_thread<T: Send + 'static>(pinned: bool, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        if pinned {
            pin(0);
        }
        f()
    })
    .join()
    .unwrap()
}

#[derive(Clone)]
struct Cell_ {
    path: PathBuf,
    mode: Mode,
    qd: usize,
    secs: f64,
    blocks: u64,
}

// ------------------------------------------------------------ contenders

/// The floor: one io_uring, `qd` reads in flight, resubmitted as they come:
/// every CQE the kernel posted is handled, then the new reads go in with
/// one `io_uring_enter` that also waits for the next CQE (what coring's
/// turn does). With `eager` (`raw-eager`), fio's pattern instead: one CQE
/// at a time, each new read submitted at once by its own enter (which
/// also posts the CQEs that came meanwhile).
fn raw(c: Cell_, seq: bool, eager: bool) -> Run {
    /// IORING_ENTER_GETEVENTS (io_uring.h).
    const ENTER_GETEVENTS: u32 = 1;
    on_thread(true, move || {
        use io_uring::{opcode, types, IoUring};
        let mut oo = std::fs::OpenOptions::new();
        oo.read(true);
        if c.mode == Mode::Direct {
            oo.custom_flags(libc::O_DIRECT);
        }
        let file = oo.open(&c.path).unwrap();
        let fd = types::Fd(std::os::fd::AsRawFd::as_raw_fd(&file));
        let mut ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build((c.qd * 2).next_power_of_two() as u32)
            .unwrap();
        let len = if seq { SEQ_CHUNK } else { BLOCK };
        let mut bufs: Vec<AlignedBuf> = (0..c.qd)
            .map(|_| AlignedBuf::new(len, 4096).unwrap())
            .collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let nchunks = c.blocks * BLOCK as u64 / len as u64;
        let mut next_seq = 0u64;
        let mut off = |rng: &mut Rng| {
            if seq {
                let o = next_seq % nchunks * len as u64;
                next_seq += 1;
                o
            } else {
                rng.next() % c.blocks * BLOCK as u64
            }
        };
        let deadline = Instant::now() + Duration::from_secs_f64(c.secs);
        measure(|| {
            // Pushes the read of slot `i` into its buffer at `offset`.
            let push = |ring: &mut IoUring, b: &mut AlignedBuf, i: u64, offset: u64| {
                let e = opcode::Read::new(fd, b.as_mut_ptr_for_bench(), len as u32)
                    .offset(offset)
                    .build()
                    .user_data(i);
                // SAFETY: the buffer lives in `bufs` until the ring is dropped
                // after every CQE is reaped below.
                unsafe { ring.submission().push(&e).unwrap() };
            };
            for (i, b) in bufs.iter_mut().enumerate() {
                push(&mut ring, b, i as u64, off(&mut rng));
            }
            let mut ios = 0u64;
            let mut inflight = c.qd;
            let mut stop = false;
            let mut done: Vec<(u64, i32)> = Vec::with_capacity(c.qd);
            while inflight > 0 {
                // Batched: submit what the last round pushed and wait for a
                // CQE, then handle all that came. Eager: one CQE at a time,
                // waiting only when none is there.
                if !eager || ring.completion().is_empty() {
                    ring.submit_and_wait(1).unwrap();
                }
                done.clear();
                let cqes = ring
                    .completion()
                    .map(|e: io_uring::cqueue::Entry| (e.user_data(), e.result()));
                if eager {
                    done.extend(cqes.take(1));
                } else {
                    done.extend(cqes);
                }
                for &(i, res) in &done {
                    assert_eq!(res, len as i32, "raw read failed: {res}");
                    ios += 1;
                    inflight -= 1;
                    if !stop && stop_now(ios, deadline) {
                        stop = true;
                    }
                    if stop {
                        continue;
                    }
                    push(&mut ring, &mut bufs[i as usize], i, off(&mut rng));
                    inflight += 1;
                    if eager {
                        // SAFETY: io_uring_enter(to_submit 1, min_complete 0,
                        // IORING_ENTER_GETEVENTS) with no argument pointer.
                        unsafe {
                            ring.submitter()
                                .enter::<libc::sigset_t>(1, 0, ENTER_GETEVENTS, None)
                                .unwrap()
                        };
                    }
                }
            }
            ios
        })
    })
}

trait BenchPtr {
    fn as_mut_ptr_for_bench(&mut self) -> *mut u8;
}
impl BenchPtr for AlignedBuf {
    fn as_mut_ptr_for_bench(&mut self) -> *mut u8 {
        coring::buf::IoBufMut::stable_mut_ptr(self)
    }
}

async fn open_coring(c: &Cell_) -> File {
    OpenOptions::new()
        .read(true)
        .direct(c.mode == Mode::Direct)
        .open(&c.path)
        .await
        .unwrap()
}

/// coring: `qd` tasks, each a loop of `File::read_at`.
/// coring: `qd` tasks looping on `File::read_at`; with `offload` every read
/// goes to io-wq (`coring-wq`); with `batch` the runtime submits every
/// `batch` SQEs instead of once a turn (`coring-b4`,
/// `Builder::submit_batch`).
fn coring_plain(c: Cell_, offload: bool, batch: u32) -> Run {
    coring_on(c, offload, batch, coring::Backend::IoUring)
}

/// coring's `qd` read_at loops on `backend` (`coring-epoll`: the epoll
/// backend, RWF_NOWAIT reads inline, the pool for the rest).
fn coring_on(c: Cell_, offload: bool, batch: u32, backend: coring::Backend) -> Run {
    on_thread(true, move || {
        let rt = coring::Runtime::builder()
            .backend(backend)
            .entries(256)
            .submit_batch(batch)
            .build()
            .unwrap();
        rt.block_on(async move {
            let f = open_coring(&c).await;
            // coring-wq: every read as IOSQE_ASYNC, on the kernel's io-wq
            // workers (File::set_offload).
            f.set_offload(offload);
            let deadline = Instant::now() + Duration::from_secs_f64(c.secs);
            let ios = Rc::new(Cell::new(0u64));
            measure_async(async {
                let tasks: Vec<_> = (0..c.qd)
                    .map(|t| {
                        let (f, ios) = (f.clone(), ios.clone());
                        let blocks = c.blocks;
                        coring::spawn(async move {
                            let mut rng =
                                Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x1000_0001));
                            let mut buf = AlignedBuf::new(BLOCK, 4096).unwrap();
                            loop {
                                let off = rng.next() % blocks * BLOCK as u64;
                                let (r, b) = f.read_at(buf, off).await;
                                assert_eq!(r.unwrap(), BLOCK);
                                buf = b;
                                ios.set(ios.get() + 1);
                                if stop_now(ios.get(), deadline) {
                                    break;
                                }
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                ios.get()
            })
            .await
        })
    })
}

/// coring with a registered file and fixed buffers (READ_FIXED).
fn coring_fixed(c: Cell_) -> Run {
    on_thread(true, move || {
        let rt = coring::Runtime::builder().entries(256).build().unwrap();
        rt.block_on(async move {
            let f = open_coring(&c).await;
            let pool = FixedBufPool::register(c.qd, BLOCK).unwrap();
            let table = FileTable::register(1).unwrap();
            let reg = f.register(&table).unwrap();
            let deadline = Instant::now() + Duration::from_secs_f64(c.secs);
            let ios = Rc::new(Cell::new(0u64));
            let r = measure_async(async {
                let tasks: Vec<_> = (0..c.qd)
                    .map(|t| {
                        let (f, ios, reg) = (f.clone(), ios.clone(), reg.clone());
                        let mut buf = pool.try_get().unwrap();
                        let blocks = c.blocks;
                        coring::spawn(async move {
                            let mut rng =
                                Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x1000_0001));
                            loop {
                                let off = rng.next() % blocks * BLOCK as u64;
                                let (r, b) = f.read_fixed_at(buf, off, Some(&reg)).await;
                                assert_eq!(r.unwrap(), BLOCK);
                                buf = b;
                                ios.set(ios.get() + 1);
                                if stop_now(ios.get(), deadline) {
                                    break;
                                }
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                ios.get()
            })
            .await;
            drop(reg);
            r
        })
    })
}

/// coring sequential: SeqReader with `SEQ_QD` 1 MiB reads ahead.
fn coring_seq(c: Cell_) -> Run {
    on_thread(true, move || {
        let rt = coring::Runtime::new().unwrap();
        rt.block_on(async move {
            let f = open_coring(&c).await;
            let deadline = Instant::now() + Duration::from_secs_f64(c.secs);
            // Buffers outlive each pass over the file.
            let spare: Rc<std::cell::RefCell<Vec<AlignedBuf>>> = Rc::default();
            measure_async(async {
                let mut ios = 0;
                'outer: loop {
                    let s2 = spare.clone();
                    let mut r = SeqReader::new(&f, 0, SEQ_QD, move || {
                        s2.borrow_mut()
                            .pop()
                            .map_or_else(|| AlignedBuf::new(SEQ_CHUNK, 4096), Ok)
                    });
                    while let Some((n, b)) = r.next().await.unwrap() {
                        assert!(n > 0);
                        ios += 1;
                        spare.borrow_mut().push(b);
                        if stop_now(ios, deadline) {
                            break 'outer;
                        }
                    }
                }
                ios
            })
            .await
        })
    })
}

async fn measure_async(f: impl std::future::Future<Output = u64>) -> Run {
    let c0 = cpu_now();
    let t0 = Instant::now();
    let ios = f.await;
    Run {
        ios,
        secs: t0.elapsed().as_secs_f64(),
        cpu: cpu_now() - c0,
    }
}

/// tokio: cached mode through tokio::fs::File (seek + read_exact, one
/// handle per worker); O_DIRECT through spawn_blocking(pread) with an
/// aligned buffer (tokio::fs's own buffer is not aligned for O_DIRECT).
fn tokio_fs(c: Cell_, seq: bool) -> Run {
    on_thread(false, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let deadline = Instant::now() + Duration::from_secs_f64(c.secs);
            let len = if seq { SEQ_CHUNK } else { BLOCK };
            let qd = if seq { 1 } else { c.qd };
            let c0 = cpu_now();
            let t0 = Instant::now();
            let mut tasks = Vec::new();
            for t in 0..qd {
                let c = c.clone();
                tasks.push(tokio::spawn(async move {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x1000_0001));
                    let mut ios = 0u64;
                    let nchunks = c.blocks * BLOCK as u64 / len as u64;
                    let mut pos = 0u64;
                    if c.mode == Mode::Cached {
                        use tokio::io::{AsyncReadExt, AsyncSeekExt};
                        let mut f = tokio::fs::File::open(&c.path).await.unwrap();
                        let mut buf = vec![0u8; len];
                        loop {
                            let off = if seq {
                                pos % nchunks * len as u64
                            } else {
                                rng.next() % c.blocks * BLOCK as u64
                            };
                            pos += 1;
                            f.seek(SeekFrom::Start(off)).await.unwrap();
                            f.read_exact(&mut buf).await.unwrap();
                            ios += 1;
                            if Instant::now() >= deadline {
                                break;
                            }
                        }
                    } else {
                        let f = std::sync::Arc::new(
                            std::fs::OpenOptions::new()
                                .read(true)
                                .custom_flags(libc::O_DIRECT)
                                .open(&c.path)
                                .unwrap(),
                        );
                        let mut buf = AlignedBuf::new(len, 4096).unwrap();
                        loop {
                            let off = if seq {
                                pos % nchunks * len as u64
                            } else {
                                rng.next() % c.blocks * BLOCK as u64
                            };
                            pos += 1;
                            let f2 = f.clone();
                            buf = tokio::task::spawn_blocking(move || {
                                buf.set_len(len);
                                f2.read_exact_at(&mut buf, off).unwrap();
                                buf
                            })
                            .await
                            .unwrap();
                            ios += 1;
                            if Instant::now() >= deadline {
                                break;
                            }
                        }
                    }
                    ios
                }));
            }
            let mut ios = 0;
            for t in tasks {
                ios += t.await.unwrap();
            }
            Run {
                ios,
                secs: t0.elapsed().as_secs_f64(),
                cpu: cpu_now() - c0,
            }
        })
    })
}

/// An AlignedBuf as a monoio buffer (for O_DIRECT).
struct MonoBuf(AlignedBuf);
// SAFETY: the AlignedBuf's block does not move with it and lives until drop.
unsafe impl monoio::buf::IoBuf for MonoBuf {
    fn read_ptr(&self) -> *const u8 {
        coring::buf::IoBuf::stable_ptr(&self.0)
    }
    fn bytes_init(&self) -> usize {
        self.0.len()
    }
}
// SAFETY: same pointer, writable for the capacity.
unsafe impl monoio::buf::IoBufMut for MonoBuf {
    fn write_ptr(&mut self) -> *mut u8 {
        coring::buf::IoBufMut::stable_mut_ptr(&mut self.0)
    }
    fn bytes_total(&mut self) -> usize {
        self.0.capacity()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.0.set_len(pos);
    }
}

/// monoio's fs on its io_uring driver: `qd` tasks of `File::read_at`.
fn monoio_fs(c: Cell_) -> Run {
    on_thread(true, move || {
        let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(256)
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut oo = monoio::fs::OpenOptions::new();
            oo.read(true);
            if c.mode == Mode::Direct {
                oo.custom_flags(libc::O_DIRECT);
            }
            let f = Rc::new(oo.open(&c.path).await.unwrap());
            let deadline = Instant::now() + Duration::from_secs_f64(c.secs);
            let ios = Rc::new(Cell::new(0u64));
            let c0 = cpu_now();
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..c.qd)
                .map(|t| {
                    let (f, ios) = (f.clone(), ios.clone());
                    let blocks = c.blocks;
                    monoio::spawn(async move {
                        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x1000_0001));
                        let mut buf = MonoBuf(AlignedBuf::new(BLOCK, 4096).unwrap());
                        loop {
                            let off = rng.next() % blocks * BLOCK as u64;
                            let (r, b) = f.read_at(buf, off).await;
                            assert_eq!(r.unwrap(), BLOCK);
                            buf = b;
                            ios.set(ios.get() + 1);
                            if stop_now(ios.get(), deadline) {
                                break;
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            Run {
                ios: ios.get(),
                secs: t0.elapsed().as_secs_f64(),
                cpu: cpu_now() - c0,
            }
        })
    })
}

/// fio's io_uring engine, as a child process; CPU from its own report.
fn fio(c: Cell_) -> Option<Run> {
    let out = std::process::Command::new("fio")
        .args([
            "--name=randread",
            "--ioengine=io_uring",
            "--rw=randread",
            "--bs=4k",
            "--thread",
            "--output-format=terse",
            "--terse-version=3",
            "--cpus_allowed=0",
            "--time_based",
            // fio drops the file's page cache before a job by default,
            // which would turn the cached cells (and every contender
            // after fio) into disk reads.
            "--invalidate=0",
            // Like the other contenders: uniform random offsets, no map
            // of blocks already read.
            "--norandommap",
            "--randrepeat=0",
        ])
        .arg(format!("--filename={}", c.path.display()))
        .arg(format!("--iodepth={}", c.qd))
        .arg(format!("--runtime={}ms", (c.secs * 1000.0) as u64))
        .arg(format!("--direct={}", u8::from(c.mode == Mode::Direct)))
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = s.lines().last()?.split(';').collect();
    // terse v3: 8 = read iops, 9 = runtime ms; 88/89 = usr/sys cpu %.
    let iops: f64 = f.get(7)?.parse().ok()?;
    let ms: f64 = f.get(8)?.parse().ok()?;
    let usr: f64 = f.get(87)?.trim_end_matches('%').parse().ok()?;
    let sys: f64 = f.get(88)?.trim_end_matches('%').parse().ok()?;
    let secs = ms / 1000.0;
    Some(Run {
        ios: (iops * secs) as u64,
        secs,
        cpu: (usr + sys) / 100.0 * secs,
    })
}

// ------------------------------------------------------------ reporting

struct Row {
    workload: &'static str,
    mode: Mode,
    qd: usize,
    who: &'static str,
    iops: Vec<f64>,
    cpu_us: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if s.is_empty() {
        return f64::NAN;
    }
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn spread(v: &[f64]) -> f64 {
    let mx = v.iter().cloned().fold(f64::MIN, f64::max);
    let mn = v.iter().cloned().fold(f64::MAX, f64::min);
    (mx - mn) / median(v) * 100.0
}

const CONTENDERS: [&str; 10] = [
    "raw",
    "raw-eager",
    "coring",
    "coring-epoll",
    "coring-fixed",
    "coring-b4",
    "coring-wq",
    "tokio",
    "monoio",
    "fio",
];
const COLORS: [&str; 10] = [
    "#222222", "#8c8c8c", "#d62728", "#bcbd22", "#ff7f0e", "#8c564b", "#e377c2", "#1f77b4",
    "#2ca02c", "#9467bd",
];

fn svg(rows: &[Row], qds: &[usize], modes: &[Mode]) -> String {
    let (w, h, pad) = (460.0, 320.0, 60.0);
    let total_w = w * modes.len() as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        h + 40.0
    );
    for (pi, mode) in modes.iter().enumerate() {
        let x0 = pi as f64 * w;
        let pts: Vec<&Row> = rows
            .iter()
            .filter(|r| r.workload == "rand4k" && r.mode == *mode)
            .collect();
        let ymax = pts.iter().map(|r| median(&r.iops)).fold(1.0, f64::max) * 1.1;
        let xpos = |qd: usize| {
            let i = qds.iter().position(|&q| q == qd).unwrap_or(0) as f64;
            x0 + pad + i * (w - 2.0 * pad) / (qds.len().max(2) - 1) as f64
        };
        let ypos = |v: f64| h - pad + 20.0 - v / ymax * (h - 2.0 * pad);
        s += &format!(
            "<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-weight=\"bold\">random 4 KiB reads, {}</text>\n",
            x0 + w / 2.0,
            if *mode == Mode::Cached { "page cache" } else { "O_DIRECT" }
        );
        s += &format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n",
            x0 + pad,
            ypos(0.0),
            x0 + w - pad
        );
        s += &format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n",
            x0 + pad,
            ypos(0.0),
            ypos(ymax)
        );
        for k in 0..=4 {
            let v = ymax * k as f64 / 4.0;
            s += &format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0}k</text><line x1=\"{}\" y1=\"{1}\" x2=\"{}\" y2=\"{1}\" stroke=\"#ddd\"/>\n",
                x0 + pad - 4.0, ypos(v) + 4.0, v / 1000.0, x0 + pad, x0 + w - pad
            );
        }
        for &qd in qds {
            s += &format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">QD {qd}</text>\n",
                xpos(qd),
                ypos(0.0) + 16.0
            );
        }
        for (ci, who) in CONTENDERS.iter().enumerate() {
            let mut line: Vec<(f64, f64)> = pts
                .iter()
                .filter(|r| r.who == *who && !r.iops.is_empty())
                .map(|r| (xpos(r.qd), ypos(median(&r.iops))))
                .collect();
            if line.is_empty() {
                continue;
            }
            line.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            let p: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            s += &format!(
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
                COLORS[ci],
                p.join(" ")
            );
            for (x, y) in &line {
                s += &format!(
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{}\"/>\n",
                    COLORS[ci]
                );
            }
            if pi == 0 {
                // Legend entries side by side, each as wide as its name.
                let lx = x0
                    + pad
                    + 10.0
                    + CONTENDERS[..ci]
                        .iter()
                        .map(|w| 26.0 + 7.0 * w.len() as f64)
                        .sum::<f64>();
                s += &format!(
                    "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{who}</text>\n",
                    h + 14.0, COLORS[ci], lx + 14.0, h + 23.0
                );
            }
        }
    }
    s + "</svg>\n"
}

fn main() {
    let o = parse();
    let path = data_file(&o);
    let blocks = (o.size_mib << 20) / BLOCK as u64;
    let has_fio = std::process::Command::new("fio")
        .arg("--version")
        .output()
        .is_ok();
    if !has_fio {
        eprintln!(
            "fio not found on PATH: its column is skipped (get it with `apt-get install fio`)"
        );
    }
    std::fs::create_dir_all(&o.out).unwrap();
    let mut runs_csv =
        String::from("workload,mode,qd,contender,repeat,ios,secs,iops,cpu_us_per_io\n");
    let mut rows: Vec<Row> = Vec::new();
    let want = |who: &str| {
        o.only
            .as_deref()
            .is_none_or(|x| x.split(',').any(|w| w == who))
    };
    for &mode in &o.modes {
        if mode == Mode::Cached {
            eprintln!("warming the page cache...");
            warm(&path);
        }
        let mut cells: Vec<(&'static str, usize)> = o.qds.iter().map(|&q| ("rand4k", q)).collect();
        if o.seq {
            cells.push(("seq1m", SEQ_QD));
        }
        for (workload, qd) in cells {
            let c = Cell_ {
                path: path.clone(),
                mode,
                qd,
                secs: o.secs,
                blocks,
            };
            let who: Vec<&'static str> = if workload == "seq1m" {
                vec!["raw", "coring", "tokio"]
            } else {
                CONTENDERS
                    .iter()
                    .copied()
                    .filter(|w| *w != "fio" || has_fio)
                    .collect()
            };
            let who: Vec<_> = who.into_iter().filter(|w| want(w)).collect();
            let mut got: Vec<Row> = who
                .iter()
                .map(|w| Row {
                    workload,
                    mode,
                    qd,
                    who: w,
                    iops: vec![],
                    cpu_us: vec![],
                })
                .collect();
            for rep in 0..o.repeats {
                // Interleaved: every contender once per repeat.
                for row in got.iter_mut() {
                    let c = c.clone();
                    let seq = workload == "seq1m";
                    let r = match (row.who, seq) {
                        ("raw", s) => Some(raw(c, s, false)),
                        ("raw-eager", false) => Some(raw(c, false, true)),
                        ("coring", false) => Some(coring_plain(c, false, 0)),
                        ("coring-b4", false) => Some(coring_plain(c, false, 4)),
                        ("coring-epoll", false) => {
                            Some(coring_on(c, false, 0, coring::Backend::Epoll))
                        }
                        ("coring-wq", false) => Some(coring_plain(c, true, 0)),
                        ("coring", true) => Some(coring_seq(c)),
                        ("coring-fixed", _) => Some(coring_fixed(c)),
                        ("tokio", s) => Some(tokio_fs(c, s)),
                        ("monoio", _) => Some(monoio_fs(c)),
                        ("fio", _) => fio(c),
                        _ => None,
                    };
                    let Some(r) = r else { continue };
                    let iops = r.ios as f64 / r.secs;
                    let cpu_us = r.cpu / r.ios.max(1) as f64 * 1e6;
                    runs_csv += &format!(
                        "{workload},{},{qd},{},{rep},{},{:.3},{iops:.0},{cpu_us:.3}\n",
                        mode.name(),
                        row.who,
                        r.ios,
                        r.secs
                    );
                    eprintln!("{workload} {} qd {qd} {:<12} rep {rep}: {iops:>9.0} IOPS {cpu_us:>7.2} us CPU/IO", mode.name(), row.who);
                    row.iops.push(iops);
                    row.cpu_us.push(cpu_us);
                }
            }
            rows.extend(got);
        }
    }
    // Summary with ratios to the raw loop of the same cell.
    let mut sum = String::from("workload,mode,qd,contender,runs,iops_median,iops_spread_pct,cpu_us_median,cpu_spread_pct,iops_vs_raw,cpu_vs_raw\n");
    println!("\n| workload | mode | QD | contender | IOPS (median) | spread | CPU µs/IO | × raw IOPS | × raw CPU |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        if r.iops.is_empty() {
            continue;
        }
        let raw = rows.iter().find(|x| {
            x.workload == r.workload && x.mode == r.mode && x.qd == r.qd && x.who == "raw"
        });
        let (ri, rc) = raw.map_or((f64::NAN, f64::NAN), |x| {
            (median(&x.iops), median(&x.cpu_us))
        });
        let (mi, mc) = (median(&r.iops), median(&r.cpu_us));
        sum += &format!(
            "{},{},{},{},{},{mi:.0},{:.1},{mc:.3},{:.1},{:.3},{:.3}\n",
            r.workload,
            r.mode.name(),
            r.qd,
            r.who,
            r.iops.len(),
            spread(&r.iops),
            spread(&r.cpu_us),
            mi / ri,
            mc / rc
        );
        println!(
            "| {} | {} | {} | {} | {mi:.0} | {:.0}% | {mc:.2} | {:.2} | {:.2} |",
            r.workload,
            r.mode.name(),
            r.qd,
            r.who,
            spread(&r.iops),
            mi / ri,
            mc / rc
        );
    }
    std::fs::write(o.out.join("fs_randread.csv"), runs_csv).unwrap();
    std::fs::write(o.out.join("fs_randread_summary.csv"), sum).unwrap();
    std::fs::write(o.out.join("fs_randread.svg"), svg(&rows, &o.qds, &o.modes)).unwrap();
    eprintln!(
        "wrote fs_randread.csv, fs_randread_summary.csv, fs_randread.svg to {}",
        o.out.display()
    );
}
