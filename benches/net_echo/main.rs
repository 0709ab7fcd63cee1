//! TCP echo, side by side: coring against tokio current_thread, monoio,
//! tokio-uring, glommio and a hand-written io_uring loop (the floor).
//!
//! Each server runs in its own child process pinned to CPU 0 (this binary
//! with `--serve KIND`); the same load generator, a raw io_uring loop on
//! one thread, runs here pinned to CPU 1. For each message size (64 B,
//! 4 KiB) and connection count (1, 16, 256, 1000) the contenders are
//! measured in turn, in a rotated order each repeat (interleaved, so drift
//! hits all alike). Per window: requests/s, and the server's CPU time per
//! request from `/proc/PID/task/*/schedstat` (honest when the load
//! generator is the bottleneck). See docs/BENCHMARKING.md.
//!
//! ```text
//! cargo bench -p coring-bench --bench net_echo -- [--repeats 5] [--secs 1.0] [--warmup 0.3]
//!     [--sizes 64,4096] [--conns 1,16,256,1000] [--only coring,raw]
//!     [--out DIR (default: target/bench-results)]
//! ```
//! Results: a table on stdout, `net_echo.csv` and `net_echo.svg` in the
//! output folder (and copies in `docs/` when `--docs` is given).
//!
//! Other modes (used by `benches/net_callgrind.sh`):
//! `--serve KIND` runs one server and prints `PORT n`;
//! `--load --port P [--conns C] [--size S] [--requests N] [--warm-requests W]
//! [--callgrind-pid PID]` drives a running server, zeroing and dumping
//! callgrind's counters around the N measured requests.

#[path = "../common/mod.rs"]
mod common;
mod load;
mod report;
mod servers;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The contenders, in the bench's order.
pub const KINDS: [&str; 7] = [
    "coring",
    "coring-epoll",
    "raw",
    "tokio",
    "monoio",
    "tokio-uring",
    "glommio",
];

/// The server's read buffer, the same for every contender.
pub const SERVER_BUF: usize = 8192;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = if let Some(kind) = flag(&args, "--serve") {
        servers::serve(&kind)
    } else if args.iter().any(|a| a == "--load") {
        load_mode(&args)
    } else {
        bench(&args)
    };
    if let Err(e) = res {
        eprintln!("net_echo: {e}");
        std::process::exit(1);
    }
}

/// The value after `name`, or in `name=value`.
fn flag(args: &[String], name: &str) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == name {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v.to_string());
        }
    }
    None
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match flag(args, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("{name}: not a number: {v}")),
    }
}

fn list(args: &[String], name: &str, default: &[usize]) -> Result<Vec<usize>, String> {
    match flag(args, name) {
        None => Ok(default.to_vec()),
        Some(v) => v
            .split(',')
            .map(|x| {
                x.trim()
                    .parse()
                    .map_err(|_| format!("{name}: bad list {v}"))
            })
            .collect(),
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is this thread; the kernel reads `set` for the call.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A server child process and its port.
struct Server {
    kind: &'static str,
    child: Child,
    port: u16,
}

impl Server {
    fn start(kind: &'static str) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--serve", kind])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {kind} server: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| format!("{kind} server: {e}"))?;
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{kind} server did not start: {line:?}"))?;
        Ok(Server { kind, child, port })
    }

    /// Nanoseconds of CPU the server's threads have run.
    fn cpu_ns(&self) -> u64 {
        common::process_cpu_ns(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured window.
#[derive(Debug, Clone)]
pub struct Sample {
    pub repeat: usize,
    pub kind: &'static str,
    pub size: usize,
    pub conns: usize,
    pub secs: f64,
    pub requests: u64,
    pub server_cpu_ns: u64,
    pub load_cpu_ns: u64,
}

impl Sample {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    pub fn cpu_us_per_req(&self) -> f64 {
        if self.requests == 0 {
            return f64::NAN;
        }
        self.server_cpu_ns as f64 / 1e3 / self.requests as f64
    }
    pub fn server_busy(&self) -> f64 {
        self.server_cpu_ns as f64 / 1e9 / self.secs * 100.0
    }
    pub fn load_busy(&self) -> f64 {
        self.load_cpu_ns as f64 / 1e9 / self.secs * 100.0
    }
}

fn bench(args: &[String]) -> Result<(), String> {
    let repeats: usize = num(args, "--repeats", 5)?;
    let secs: f64 = num(args, "--secs", 1.0)?;
    let warmup: f64 = num(args, "--warmup", 0.3)?;
    let sizes = list(args, "--sizes", &[64, 4096])?;
    let conns = list(args, "--conns", &[1, 16, 256, 1000])?;
    let out = flag(args, "--out").unwrap_or_else(common::chart::default_out);
    let kinds: Vec<&'static str> = match flag(args, "--only") {
        None => KINDS.to_vec(),
        Some(v) => {
            let want: Vec<&str> = v.split(',').collect();
            KINDS.iter().copied().filter(|k| want.contains(k)).collect()
        }
    };
    if kinds.is_empty()
        || repeats == 0
        || secs.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return Err("nothing to run (check --only, --repeats, --secs)".into());
    }
    if let Err(e) = pin_to(1) {
        eprintln!("warning: could not pin the load generator to CPU 1: {e}");
    }
    let servers: Vec<Server> = kinds
        .iter()
        .map(|k| Server::start(k))
        .collect::<Result<_, _>>()?;
    eprintln!(
        "net_echo: {} contenders, sizes {sizes:?}, conns {conns:?}, {repeats} repeats of {secs}s (+{warmup}s warm-up); servers on CPU 0, load on CPU 1",
        servers.len()
    );
    let t0 = Instant::now();
    let mut samples = Vec::new();
    for repeat in 0..repeats {
        for &size in &sizes {
            for &c in &conns {
                for i in 0..servers.len() {
                    let s = &servers[(i + repeat) % servers.len()];
                    let cfg = load::Config {
                        port: s.port,
                        conns: c,
                        size,
                        warm: load::Until::Time(Duration::from_secs_f64(warmup)),
                        measure: load::Until::Time(Duration::from_secs_f64(secs)),
                    };
                    let mut cpu0 = 0;
                    let mut cpu1 = 0;
                    let r = load::run(&cfg, || cpu0 = s.cpu_ns(), || cpu1 = s.cpu_ns())
                        .map_err(|e| format!("{} {size}B x{c}: {e}", s.kind))?;
                    let sample = Sample {
                        repeat,
                        kind: s.kind,
                        size,
                        conns: c,
                        secs: r.elapsed.as_secs_f64(),
                        requests: r.requests,
                        server_cpu_ns: cpu1.saturating_sub(cpu0),
                        load_cpu_ns: r.load_cpu_ns,
                    };
                    eprintln!(
                        "  r{repeat} {:<11} {size:>5}B x{c:<4} {:>9.0} req/s  {:>6.2} us/req  server {:>3.0}%  load {:>3.0}%",
                        s.kind,
                        sample.rps(),
                        sample.cpu_us_per_req(),
                        sample.server_busy(),
                        sample.load_busy()
                    );
                    samples.push(sample);
                }
            }
        }
    }
    eprintln!("net_echo: done in {:.0}s", t0.elapsed().as_secs_f64());
    drop(servers);
    report::report(
        &samples,
        &kinds,
        &sizes,
        &conns,
        &out,
        args.iter().any(|a| a == "--docs"),
    )
}

/// `--load`: drive a server that is already running (for callgrind).
fn load_mode(args: &[String]) -> Result<(), String> {
    let port: u16 = num(args, "--port", 0)?;
    if port == 0 {
        return Err("--load needs --port".into());
    }
    let conns: usize = num(args, "--conns", 16)?;
    let size: usize = num(args, "--size", 64)?;
    let n: u64 = num(args, "--requests", 20_000)?;
    let warm: u64 = num(args, "--warm-requests", 2_000)?;
    let pid = flag(args, "--callgrind-pid");
    let _ = pin_to(1);
    let callgrind = |what: &str| {
        if let Some(pid) = &pid {
            let st = Command::new("callgrind_control").args([what, pid]).output();
            if let Err(e) = st {
                eprintln!("callgrind_control {what}: {e}");
            }
        }
    };
    let cfg = load::Config {
        port,
        conns,
        size,
        warm: load::Until::Requests(warm),
        measure: load::Until::Requests(n),
    };
    let r = load::run(&cfg, || callgrind("-z"), || callgrind("-d"))?;
    println!(
        "requests {} secs {:.3} req/s {:.0}",
        r.requests,
        r.elapsed.as_secs_f64(),
        r.requests as f64 / r.elapsed.as_secs_f64()
    );
    Ok(())
}
