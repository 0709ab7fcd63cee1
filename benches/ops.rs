//! Op round trip: a hand-written io-uring loop (the floor) vs coring vs
//! monoio, for NOPs and 1-byte reads of /dev/zero with 1 and 32 ops in
//! flight. Contenders are interleaved in one process run; see
//! docs/BENCHMARKING.md for the method.
//!
//! ```text
//! cargo bench -p coring-bench --bench ops                          # full table
//! cargo bench -p coring-bench --bench ops -- --n 200000 --repeats 5
//! BENCH_N=50000 BENCH_REPEATS=5 cargo bench -p coring-bench --bench ops
//! cargo bench -p coring-bench --bench ops -- --only coring:read32 --n 100000   # one cell, once
//! ```
//!
//! `--only contender:workload` (contender: raw, coring, monoio; workload:
//! nop1, nop32, read1, read32) runs exactly N ops of one cell once, with no
//! warm-up, for `benches/callgrind.sh`.

mod common;

use std::fs::File;
use std::time::{Duration, Instant};

use common::{fmt_rate, paired_ratio, summarize};

/// Default ops per measured run (per cell, per repeat).
const DEFAULT_N: u64 = 500_000;
/// Default number of interleaved repeats.
const DEFAULT_REPEATS: usize = 9;
/// Ops in flight in the "32" workloads (also the number of tasks).
const DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Nop1,
    Nop32,
    Read1,
    Read32,
}

impl Workload {
    const ALL: [Workload; 4] = [
        Workload::Nop1,
        Workload::Nop32,
        Workload::Read1,
        Workload::Read32,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::Nop1 => "nop1",
            Workload::Nop32 => "nop32",
            Workload::Read1 => "read1",
            Workload::Read32 => "read32",
        }
    }

    fn depth(self) -> usize {
        match self {
            Workload::Nop1 | Workload::Read1 => 1,
            Workload::Nop32 | Workload::Read32 => DEPTH,
        }
    }

    fn is_read(self) -> bool {
        matches!(self, Workload::Read1 | Workload::Read32)
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Raw,
    Coring,
    Monoio,
}

impl Contender {
    const ALL: [Contender; 3] = [Contender::Raw, Contender::Coring, Contender::Monoio];

    fn name(self) -> &'static str {
        match self {
            Contender::Raw => "raw",
            Contender::Coring => "coring",
            Contender::Monoio => "monoio",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether this contender can run `w` at all (monoio has no public NOP).
    fn supports(self, w: Workload) -> bool {
        self != Contender::Monoio || w.is_read()
    }
}

/// Splits `n` ops over `parts` tasks as evenly as possible.
fn share(n: u64, parts: usize, i: usize) -> u64 {
    let parts = parts as u64;
    n / parts + u64::from((i as u64) < n % parts)
}

/// Prints and aborts (not unwinds): used where buffers may still be in the
/// kernel's hands, so they must not be freed by unwinding.
fn fatal(msg: &str) -> ! {
    eprintln!("fatal: {msg}");
    std::process::abort();
}

fn open_dev_zero() -> File {
    File::open("/dev/zero").unwrap_or_else(|e| fatal(&format!("open /dev/zero: {e}")))
}

// ---------------------------------------------------------------------------
// raw: hand-written io-uring loop
// ---------------------------------------------------------------------------

mod raw {
    use super::{fatal, File, Workload, DEPTH};
    use io_uring::{opcode, squeue, types, IoUring};
    use std::io;
    use std::os::fd::AsRawFd;

    // From <linux/io_uring.h>.
    const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
    const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
    const IORING_REGISTER_RING_FDS: libc::c_uint = 20;

    /// `struct io_uring_rsrc_update`.
    #[repr(C)]
    struct RsrcUpdate {
        offset: u32,
        resv: u32,
        data: u64,
    }

    pub struct Raw {
        ring: IoUring,
        /// What the ring was set up with, for the report.
        pub setup: String,
        /// The fd (or registered ring index) passed to io_uring_enter.
        enter_fd: i32,
        /// GETEVENTS, plus REGISTERED_RING when the ring fd is registered.
        enter_flags: u32,
        zero: File,
        /// One 1-byte buffer per in-flight read; owned here and never
        /// resized, so they outlive every op (each run reaps all it
        /// submitted before returning).
        bufs: Vec<[u8; 1]>,
    }

    impl Raw {
        /// Builds a 256-entry ring set up like coring's default one:
        /// SINGLE_ISSUER, DEFER_TASKRUN and COOP_TASKRUN, and its fd
        /// registered (IORING_REGISTER_RING_FDS), each dropped if the kernel
        /// refuses it. `RAW_PLAIN=1` in the environment asks for none of
        /// them.
        pub fn new(zero: File) -> io::Result<Self> {
            let plain = std::env::var_os("RAW_PLAIN").is_some_and(|v| v != "0");
            let flagged = if plain {
                None
            } else {
                IoUring::builder()
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_coop_taskrun()
                    .build(256)
                    .ok()
            };
            let (ring, mut setup) = match flagged {
                Some(ring) => (ring, "SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN".to_string()),
                None => (IoUring::new(256)?, "no setup flags".to_string()),
            };
            let mut enter_fd = ring.as_raw_fd();
            let mut enter_flags = IORING_ENTER_GETEVENTS;
            if !plain {
                if let Ok(index) = register_ring_fd(&ring) {
                    enter_fd = index;
                    enter_flags |= IORING_ENTER_REGISTERED_RING;
                    setup.push_str(", registered ring fd");
                }
            }
            Ok(Raw {
                ring,
                setup,
                enter_fd,
                enter_flags,
                zero,
                bufs: vec![[0xffu8; 1]; DEPTH],
            })
        }

        /// io_uring_enter(2): submit `to_submit` SQEs and wait for one CQE.
        fn enter(enter_fd: i32, enter_flags: u32, to_submit: u32) {
            loop {
                // SAFETY: io_uring_enter(2) on our ring with no argument
                // (NULL, size 0). The SQEs it submits were pushed under
                // their own SAFETY arguments.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_io_uring_enter,
                        enter_fd,
                        to_submit,
                        1u32,
                        enter_flags,
                        std::ptr::null::<libc::c_void>(),
                        0usize,
                    )
                };
                if r >= 0 {
                    if r as u32 != to_submit {
                        fatal(&format!("raw: submitted {r} of {to_submit} SQEs"));
                    }
                    return;
                }
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINTR) {
                    fatal(&format!("raw: io_uring_enter: {e}"));
                }
                // EINTR happens before submission: retry as is.
            }
        }

        fn sqe(&mut self, w: Workload, slot: usize) -> squeue::Entry {
            let e = if w.is_read() {
                let buf = self.bufs[slot].as_mut_ptr();
                opcode::Read::new(types::Fd(self.zero.as_raw_fd()), buf, 1)
                    .offset(0)
                    .build()
            } else {
                opcode::Nop::new().build()
            };
            e.user_data(slot as u64)
        }

        fn check(w: Workload, res: i32) {
            let want = i32::from(w.is_read());
            if res != want {
                fatal(&format!("raw {}: cqe result {res}, want {want}", w.name()));
            }
        }

        /// Runs `n` ops of `w` and returns the elapsed time.
        pub fn run(&mut self, w: Workload, n: u64) -> std::time::Duration {
            let start = std::time::Instant::now();
            if w.depth() == 1 {
                self.run_one(w, n);
            } else {
                self.run_many(w, n, w.depth());
            }
            start.elapsed()
        }

        /// One op in flight: push, enter (submit 1, wait 1), reap, repeat.
        fn run_one(&mut self, w: Workload, n: u64) {
            let sqe = self.sqe(w, 0);
            let (enter_fd, enter_flags) = (self.enter_fd, self.enter_flags);
            let (_, mut sq, mut cq) = self.ring.split();
            for _ in 0..n {
                // SAFETY: a NOP references no memory; a read targets
                // `self.bufs[0]`, which lives in `self` and is not touched
                // until the completion below is reaped (errors abort).
                if unsafe { sq.push(&sqe) }.is_err() {
                    fatal("raw: submission queue full");
                }
                sq.sync();
                Self::enter(enter_fd, enter_flags, 1);
                cq.sync();
                match cq.next() {
                    Some(cqe) => Self::check(w, cqe.result()),
                    None => fatal("raw: no completion after waiting for one"),
                }
            }
            cq.sync();
        }

        /// `depth` ops in flight: reap whatever completed and re-push as
        /// many, until `n` ops have completed.
        fn run_many(&mut self, w: Workload, n: u64, depth: usize) {
            let first = (depth as u64).min(n) as usize;
            let sqes: Vec<squeue::Entry> = (0..first).map(|slot| self.sqe(w, slot)).collect();
            let reads = w.is_read();
            let fd = types::Fd(self.zero.as_raw_fd());
            let buf_ptrs: Vec<*mut u8> = self.bufs.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let (enter_fd, enter_flags) = (self.enter_fd, self.enter_flags);
            let (_, mut sq, mut cq) = self.ring.split();
            for sqe in &sqes {
                // SAFETY: as in `run_one`; each slot's buffer is used by at
                // most one op at a time and lives in `self.bufs`.
                if unsafe { sq.push(sqe) }.is_err() {
                    fatal("raw: submission queue full");
                }
            }
            let mut pushed = first as u32;
            let mut issued = first as u64;
            let mut done = 0u64;
            while done < n {
                sq.sync();
                Self::enter(enter_fd, enter_flags, pushed);
                pushed = 0;
                cq.sync();
                for cqe in &mut cq {
                    Self::check(w, cqe.result());
                    done += 1;
                    if issued < n {
                        let slot = cqe.user_data() as usize;
                        let sqe = if reads {
                            opcode::Read::new(fd, buf_ptrs[slot], 1).offset(0).build()
                        } else {
                            opcode::Nop::new().build()
                        };
                        // SAFETY: `slot`'s previous op just completed, so its
                        // buffer (in `self.bufs`) is free for the next one.
                        if unsafe { sq.push(&sqe.user_data(slot as u64)) }.is_err() {
                            fatal("raw: submission queue full");
                        }
                        pushed += 1;
                        issued += 1;
                    }
                }
                cq.sync();
            }
        }
    }

    /// Registers the ring's fd (5.18+) and returns its index.
    fn register_ring_fd(ring: &IoUring) -> io::Result<i32> {
        let mut up = RsrcUpdate {
            offset: u32::MAX,
            resv: 0,
            data: ring.as_raw_fd() as u64,
        };
        // SAFETY: io_uring_register(2) with IORING_REGISTER_RING_FDS reads
        // and writes one io_uring_rsrc_update, which `up` is, for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring.as_raw_fd(),
                IORING_REGISTER_RING_FDS,
                std::ptr::addr_of_mut!(up),
                1u32,
            )
        };
        if r == 1 {
            Ok(up.offset as i32)
        } else if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Err(io::Error::other(
                "IORING_REGISTER_RING_FDS registered nothing",
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// coring
// ---------------------------------------------------------------------------

mod coring_cells {
    use super::{share, File, Workload};
    use coring::fd::SharedFd;
    use std::time::{Duration, Instant};

    pub struct Bench {
        rt: coring::Runtime,
        fd: SharedFd,
    }

    /// Counter deltas of one run, per op.
    pub struct PerOp {
        pub enters: f64,
        pub sqes: f64,
    }

    impl Bench {
        pub fn new(zero: File) -> std::io::Result<Self> {
            Ok(Bench {
                rt: coring::Runtime::new()?,
                fd: SharedFd::new(zero.into()),
            })
        }

        pub fn per_op(&self, before: &coring::Metrics, n: u64) -> PerOp {
            let after = self.rt.metrics();
            let n = n.max(1) as f64;
            PerOp {
                enters: (after.enters - before.enters) as f64 / n,
                sqes: (after.sqes_submitted - before.sqes_submitted) as f64 / n,
            }
        }

        /// The ring's setup flags, as text (the type is not re-exported).
        pub fn ring_flags(&self) -> String {
            format!("{:?}", self.rt.ring_flags())
        }

        pub fn metrics(&self) -> coring::Metrics {
            self.rt.metrics()
        }

        pub fn run(&mut self, w: Workload, n: u64) -> Duration {
            let fd = self.fd.clone();
            self.rt.block_on(async move {
                let start = Instant::now();
                match w {
                    Workload::Nop1 => nops(n).await,
                    Workload::Read1 => reads(fd, n).await,
                    Workload::Nop32 | Workload::Read32 => {
                        let handles: Vec<_> = (0..w.depth())
                            .map(|i| {
                                let k = share(n, w.depth(), i);
                                let fd = fd.clone();
                                coring::spawn(async move {
                                    if w.is_read() {
                                        reads(fd, k).await;
                                    } else {
                                        nops(k).await;
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            h.await.expect("coring task panicked");
                        }
                    }
                }
                start.elapsed()
            })
        }
    }

    async fn nops(n: u64) {
        for _ in 0..n {
            coring::io::nop().await.expect("coring nop");
        }
    }

    async fn reads(fd: SharedFd, n: u64) {
        let mut buf: Vec<u8> = Vec::with_capacity(1);
        for _ in 0..n {
            buf.clear();
            let (res, b) = coring::io::read_at(&fd, buf, 0).await;
            assert_eq!(res.expect("coring read_at"), 1);
            buf = b;
        }
    }
}

// ---------------------------------------------------------------------------
// monoio
// ---------------------------------------------------------------------------

mod monoio_cells {
    use super::{share, Workload};
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    pub struct Bench {
        rt: monoio::Runtime<monoio::IoUringDriver>,
        file: Rc<monoio::fs::File>,
    }

    impl Bench {
        pub fn new() -> std::io::Result<Self> {
            let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build()?;
            let file = rt.block_on(monoio::fs::File::open("/dev/zero"))?;
            Ok(Bench {
                rt,
                file: Rc::new(file),
            })
        }

        pub fn run(&mut self, w: Workload, n: u64) -> Duration {
            assert!(w.is_read(), "monoio has no public NOP");
            let file = self.file.clone();
            self.rt.block_on(async move {
                let start = Instant::now();
                if w.depth() == 1 {
                    reads(file, n).await;
                } else {
                    let handles: Vec<_> = (0..w.depth())
                        .map(|i| monoio::spawn(reads(file.clone(), share(n, w.depth(), i))))
                        .collect();
                    for h in handles {
                        h.await;
                    }
                }
                start.elapsed()
            })
        }
    }

    async fn reads(file: Rc<monoio::fs::File>, n: u64) {
        let mut buf: Vec<u8> = Vec::with_capacity(1);
        for _ in 0..n {
            buf.clear();
            let (res, b) = file.read_at(buf, 0).await;
            assert_eq!(res.expect("monoio read_at"), 1);
            buf = b;
        }
    }
}

// ---------------------------------------------------------------------------
// driver
// ---------------------------------------------------------------------------

struct Contenders {
    raw: raw::Raw,
    coring: Option<coring_cells::Bench>,
    monoio: monoio_cells::Bench,
}

impl Contenders {
    fn new() -> Self {
        let raw = raw::Raw::new(open_dev_zero())
            .unwrap_or_else(|e| fatal(&format!("raw io_uring setup: {e}")));
        let coring = match coring_cells::Bench::new(open_dev_zero()) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("warning: coring unavailable ({e}); its cells are skipped");
                None
            }
        };
        let monoio =
            monoio_cells::Bench::new().unwrap_or_else(|e| fatal(&format!("monoio setup: {e}")));
        Contenders {
            raw,
            coring,
            monoio,
        }
    }

    /// Runs one cell; `None` if the contender cannot run it.
    fn run(&mut self, c: Contender, w: Workload, n: u64) -> Option<Duration> {
        if !c.supports(w) {
            return None;
        }
        match c {
            Contender::Raw => Some(self.raw.run(w, n)),
            Contender::Coring => self.coring.as_mut().map(|b| b.run(w, n)),
            Contender::Monoio => Some(self.monoio.run(w, n)),
        }
    }
}

fn ns_per_op(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n.max(1) as f64
}

fn run_only(spec: &str, n: u64) {
    let (c, w) = spec
        .split_once(':')
        .and_then(|(c, w)| Some((Contender::parse(c)?, Workload::parse(w)?)))
        .unwrap_or_else(|| {
            eprintln!("error: --only wants contender:workload, e.g. coring:read32");
            std::process::exit(2);
        });
    if !c.supports(w) {
        println!("{}:{} n/a", c.name(), w.name());
        return;
    }
    let d = match c {
        Contender::Raw => raw::Raw::new(open_dev_zero())
            .unwrap_or_else(|e| fatal(&format!("raw io_uring setup: {e}")))
            .run(w, n),
        Contender::Coring => coring_cells::Bench::new(open_dev_zero())
            .unwrap_or_else(|e| fatal(&format!("coring setup: {e}")))
            .run(w, n),
        Contender::Monoio => monoio_cells::Bench::new()
            .unwrap_or_else(|e| fatal(&format!("monoio setup: {e}")))
            .run(w, n),
    };
    println!(
        "{}:{} n={n} {:.1} ns/op",
        c.name(),
        w.name(),
        ns_per_op(d, n)
    );
}

fn main() {
    let args = common::parse_args(DEFAULT_REPEATS);
    common::pin_or_warn();
    let n = args.n.unwrap_or(DEFAULT_N).max(1);
    if let Some(spec) = &args.only {
        run_only(spec, n);
        return;
    }
    let repeats = args.repeats;

    let mut b = Contenders::new();
    // samples[w][c] = ns/op of each repeat.
    let mut samples = vec![vec![Vec::<f64>::new(); Contender::ALL.len()]; Workload::ALL.len()];
    let mut coring_per_op: Vec<Vec<(f64, f64)>> = vec![Vec::new(); Workload::ALL.len()];

    // Warm-up: every cell once with n/10 ops (faults in rings, buffers, slabs).
    let warm = (n / 10).max(1000);
    for w in Workload::ALL {
        for c in Contender::ALL {
            let _ = b.run(c, w, warm);
        }
    }

    println!(
        "ops bench: n={n} ops per run, {repeats} interleaved repeats, {DEPTH} in flight for *32; \
         raw ring: {}",
        b.raw.setup
    );
    if let Some(cb) = &b.coring {
        println!("coring ring: {}", cb.ring_flags());
    }
    let t0 = Instant::now();
    for r in 0..repeats {
        for (wi, w) in Workload::ALL.into_iter().enumerate() {
            // Rotate the contender order each repeat so none always runs
            // right after the same neighbour.
            for k in 0..Contender::ALL.len() {
                let ci = (k + r) % Contender::ALL.len();
                let c = Contender::ALL[ci];
                let before = match (c, &b.coring) {
                    (Contender::Coring, Some(cb)) => Some(cb.metrics()),
                    _ => None,
                };
                if let Some(d) = b.run(c, w, n) {
                    samples[wi][ci].push(ns_per_op(d, n));
                }
                if let (Some(before), Some(cb)) = (before, &b.coring) {
                    let p = cb.per_op(&before, n);
                    coring_per_op[wi].push((p.enters, p.sqes));
                }
            }
        }
        eprintln!("repeat {}/{repeats} done ({:.1?})", r + 1, t0.elapsed());
    }

    print_table(&samples, &coring_per_op);
}

fn print_table(samples: &[Vec<Vec<f64>>], coring_per_op: &[Vec<(f64, f64)>]) {
    println!();
    println!(
        "{:<8} {:<8} {:>12} {:>10} {:>8} {:>11} {:>11}",
        "workload", "contndr", "ns/op(med)", "ops/s", "spread", "min ns", "max ns"
    );
    for (wi, w) in Workload::ALL.into_iter().enumerate() {
        for (ci, c) in Contender::ALL.into_iter().enumerate() {
            match summarize(&samples[wi][ci]) {
                Some(s) => println!(
                    "{:<8} {:<8} {:>12.1} {:>10} {:>7.1}% {:>11.1} {:>11.1}",
                    w.name(),
                    c.name(),
                    s.median,
                    fmt_rate(1e9 / s.median),
                    s.spread_pct(),
                    s.min,
                    s.max
                ),
                None => println!("{:<8} {:<8} {:>12}", w.name(), c.name(), "n/a"),
            }
        }
    }

    let idx = |c: Contender| Contender::ALL.iter().position(|&x| x == c).unwrap_or(0);
    let (raw, cor, mon) = (
        idx(Contender::Raw),
        idx(Contender::Coring),
        idx(Contender::Monoio),
    );
    println!();
    println!("ratios of time per op (>1 = coring slower); 'paired' = median of per-repeat ratios");
    println!(
        "{:<8} {:>11} {:>9} {:>14} {:>9} {:>12} {:>10}",
        "workload", "coring/raw", "paired", "coring/monoio", "paired", "enters/op", "sqes/op"
    );
    let fmt = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.2}x"));
    for (wi, w) in Workload::ALL.into_iter().enumerate() {
        let med = |ci: usize| summarize(&samples[wi][ci]).map(|s| s.median);
        let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        let enters: Vec<f64> = coring_per_op[wi].iter().map(|p| p.0).collect();
        let sqes: Vec<f64> = coring_per_op[wi].iter().map(|p| p.1).collect();
        let fmt2 =
            |v: &[f64]| summarize(v).map_or_else(|| "n/a".into(), |s| format!("{:.3}", s.median));
        println!(
            "{:<8} {:>11} {:>9} {:>14} {:>9} {:>12} {:>10}",
            w.name(),
            fmt(ratio(med(cor), med(raw))),
            fmt(paired_ratio(&samples[wi][cor], &samples[wi][raw])),
            fmt(ratio(med(cor), med(mon))),
            fmt(paired_ratio(&samples[wi][cor], &samples[wi][mon])),
            fmt2(&enters),
            fmt2(&sqes),
        );
    }
}
