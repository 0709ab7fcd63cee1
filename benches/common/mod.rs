//! Helpers shared by the benches: CPU pinning, argument parsing,
//! median/spread statistics (see docs/BENCHMARKING.md), the echo
//! servers' connection loops ([`echo`]), and in [`chart`] the SVG charts
//! and where results are written.
#![allow(dead_code)] // Each bench binary uses a different subset.

pub mod chart;
pub mod echo;

use std::io;

/// Pins the calling thread to `cpu` so the measured loop does not migrate.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is a plain bitmask struct for which all-zero bytes
    // is a valid (empty) value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed `cpu_set_t`; CPU_SET
    // only writes a bit inside it (it ignores out-of-range CPUs).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 means the calling thread; the pointer and size describe
    // the live `set` above, which the kernel only reads.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Nanoseconds of CPU every thread of process `pid` has run so far (the
/// first field of `/proc/PID/task/*/schedstat`), 0 once it is gone.
pub fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time (user + system, ns) of `who` (`libc::RUSAGE_THREAD`: the
/// calling thread; `RUSAGE_CHILDREN`: the children reaped so far); 0 if
/// getrusage fails.
pub fn rusage_cpu_ns(who: libc::c_int) -> u64 {
    // SAFETY: all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into `ru`, which outlives the call.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return 0;
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Pins to CPU 0 and reports (on stderr) whether that worked.
pub fn pin_or_warn() {
    match pin_to_cpu(0) {
        Ok(()) => eprintln!("pinned to CPU 0"),
        Err(e) => eprintln!("warning: could not pin to CPU 0: {e}"),
    }
}

/// Command-line / environment options common to the benches.
#[derive(Debug, Clone)]
pub struct Args {
    /// Ops (or tasks) per measured run; `None` means the bench's default.
    pub n: Option<u64>,
    /// Number of interleaved repeats per cell.
    pub repeats: usize,
    /// `--only contender:workload`: run one cell once and exit.
    pub only: Option<String>,
}

fn parse_num(flag: &str, v: Option<String>) -> u64 {
    let v = v.unwrap_or_else(|| die(&format!("{flag} needs a value")));
    v.replace('_', "")
        .parse()
        .unwrap_or_else(|_| die(&format!("{flag}: not a number: {v}")))
}

fn die(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2);
}

/// Parses `--n N`, `--repeats R`, `--only C:W` (also `--n=N` style) and the
/// environment variables `BENCH_N` / `BENCH_REPEATS`. Flags win over the
/// environment. Unknown arguments such as cargo's `--bench` are ignored.
pub fn parse_args(default_repeats: usize) -> Args {
    let mut args = Args {
        n: std::env::var("BENCH_N")
            .ok()
            .map(|v| parse_num("BENCH_N", Some(v))),
        repeats: std::env::var("BENCH_REPEATS")
            .ok()
            .map_or(default_repeats as u64, |v| {
                parse_num("BENCH_REPEATS", Some(v))
            }) as usize,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next());
        match flag.as_str() {
            "--n" | "-n" => args.n = Some(parse_num("--n", value())),
            "--repeats" | "-r" => args.repeats = parse_num("--repeats", value()) as usize,
            "--only" => {
                args.only = Some(value().unwrap_or_else(|| die("--only needs contender:workload")))
            }
            "-h" | "--help" => {
                eprintln!(
                    "options: --n N  --repeats R  --only contender:workload \
                     (env: BENCH_N, BENCH_REPEATS)"
                );
                std::process::exit(0);
            }
            _ => {} // e.g. `--bench` passed by `cargo bench`
        }
    }
    if args.repeats == 0 {
        die("--repeats must be >= 1");
    }
    args
}

/// Summary of repeated measurements of one cell.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Median of the samples.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// (max - min) / median, in percent.
    pub fn spread_pct(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median * 100.0
        } else {
            0.0
        }
    }
}

/// Median (mean of the two middle samples for an even count), min and max.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    let median = if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    };
    Some(Summary {
        median,
        min: s[0],
        max: s[s.len() - 1],
    })
}

/// Median of per-repeat ratios a[i] / b[i] (pairs measured back to back, so
/// slow drift of the machine cancels out better than in a ratio of medians).
pub fn paired_ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    let r: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, &y)| y > 0.0)
        .map(|(&x, &y)| x / y)
        .collect();
    summarize(&r).map(|s| s.median)
}

/// Formats a rate with a k/M suffix.
pub fn fmt_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}")
    }
}

/// Prevents the optimizer from discarding a value.
pub fn black_box<T>(v: T) -> T {
    std::hint::black_box(v)
}
