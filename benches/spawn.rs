//! Spawn + join of many tiny tasks: coring vs tokio's current_thread
//! runtime, interleaved in one process run (see
//! docs/BENCHMARKING.md).
//!
//! Patterns:
//! - `all`: spawn every task, then await the JoinHandles in order;
//! - `batch1k`: spawn 1,000 tasks, await those 1,000, repeat.
//!
//! ```text
//! cargo bench -p coring-bench --bench spawn
//! cargo bench -p coring-bench --bench spawn -- --n 1000000 --repeats 7
//! ```

mod common;

use std::time::{Duration, Instant};

use common::{fmt_rate, paired_ratio, summarize};

/// Default tasks per measured run.
const DEFAULT_N: u64 = 1_000_000;
/// Default number of interleaved repeats.
const DEFAULT_REPEATS: usize = 7;
/// Tasks per batch in the `batch1k` pattern.
const BATCH: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    All,
    Batch,
}

impl Pattern {
    const ALL: [Pattern; 2] = [Pattern::All, Pattern::Batch];

    fn name(self) -> &'static str {
        match self {
            Pattern::All => "all",
            Pattern::Batch => "batch1k",
        }
    }
}

/// What task `i` returns: small, and not constant.
fn value(i: u64) -> u64 {
    i % 251
}

/// Sum of `value(i)` for `i` in `0..n`.
fn expected_sum(n: u64) -> u64 {
    let (q, r) = (n / 251, n % 251);
    q * (250 * 251 / 2) + r * r.saturating_sub(1) / 2
}

mod coring_side {
    use super::{value, Pattern, BATCH};
    use std::time::{Duration, Instant};

    pub struct Bench {
        rt: coring::Runtime,
    }

    impl Bench {
        pub fn new() -> std::io::Result<Self> {
            Ok(Bench {
                rt: coring::Runtime::new()?,
            })
        }

        pub fn run(&mut self, p: Pattern, n: u64) -> (Duration, u64) {
            self.rt.block_on(async move {
                let start = Instant::now();
                let step = match p {
                    Pattern::All => n,
                    Pattern::Batch => BATCH,
                };
                let mut sum = 0u64;
                let mut handles = Vec::with_capacity(step.min(n) as usize);
                let mut i = 0;
                while i < n {
                    let end = (i + step).min(n);
                    handles.extend((i..end).map(|j| coring::spawn(async move { value(j) })));
                    for h in handles.drain(..) {
                        sum += h.await.expect("coring task failed");
                    }
                    i = end;
                }
                (start.elapsed(), sum)
            })
        }
    }
}

mod tokio_side {
    use super::{value, Pattern, BATCH};
    use std::time::{Duration, Instant};

    pub struct Bench {
        rt: tokio::runtime::Runtime,
    }

    impl Bench {
        pub fn new() -> std::io::Result<Self> {
            Ok(Bench {
                rt: tokio::runtime::Builder::new_current_thread().build()?,
            })
        }

        pub fn run(&mut self, p: Pattern, n: u64) -> (Duration, u64) {
            self.rt.block_on(async move {
                let start = Instant::now();
                let step = match p {
                    Pattern::All => n,
                    Pattern::Batch => BATCH,
                };
                let mut sum = 0u64;
                let mut handles = Vec::with_capacity(step.min(n) as usize);
                let mut i = 0;
                while i < n {
                    let end = (i + step).min(n);
                    handles.extend((i..end).map(|j| tokio::spawn(async move { value(j) })));
                    for h in handles.drain(..) {
                        sum += h.await.expect("tokio task failed");
                    }
                    i = end;
                }
                (start.elapsed(), sum)
            })
        }
    }
}

const CONTENDERS: [&str; 2] = ["coring", "tokio"];

struct Contenders {
    coring: Option<coring_side::Bench>,
    tokio: tokio_side::Bench,
}

impl Contenders {
    fn run(&mut self, ci: usize, p: Pattern, n: u64) -> Option<Duration> {
        let (d, sum) = match ci {
            0 => self.coring.as_mut()?.run(p, n),
            _ => self.tokio.run(p, n),
        };
        assert_eq!(
            sum,
            expected_sum(n),
            "{} {}: wrong sum",
            CONTENDERS[ci],
            p.name()
        );
        Some(d)
    }
}

fn main() {
    let args = common::parse_args(DEFAULT_REPEATS);
    common::pin_or_warn();
    let n = args.n.unwrap_or(DEFAULT_N).max(1);
    let repeats = args.repeats;

    let coring = match coring_side::Bench::new() {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("warning: coring unavailable ({e}); its cells are skipped");
            None
        }
    };
    let tokio = tokio_side::Bench::new().expect("tokio current_thread runtime");
    let mut b = Contenders { coring, tokio };

    // Warm-up: each cell once with n/10 tasks.
    for p in Pattern::ALL {
        for ci in 0..CONTENDERS.len() {
            let _ = b.run(ci, p, (n / 10).max(1));
        }
    }

    println!("spawn bench: n={n} tasks per run, {repeats} interleaved repeats");
    // samples[p][c] = ns per task of each repeat.
    let mut samples = vec![vec![Vec::<f64>::new(); CONTENDERS.len()]; Pattern::ALL.len()];
    let t0 = Instant::now();
    for r in 0..repeats {
        for (pi, p) in Pattern::ALL.into_iter().enumerate() {
            for k in 0..CONTENDERS.len() {
                let ci = (k + r) % CONTENDERS.len(); // alternate who goes first
                if let Some(d) = b.run(ci, p, n) {
                    samples[pi][ci].push(d.as_nanos() as f64 / n as f64);
                }
            }
        }
        eprintln!("repeat {}/{repeats} done ({:.1?})", r + 1, t0.elapsed());
    }

    println!();
    println!(
        "{:<8} {:<8} {:>12} {:>10} {:>8} {:>10} {:>10}",
        "pattern", "runtime", "ns/task(med)", "tasks/s", "spread", "min ns", "max ns"
    );
    for (pi, p) in Pattern::ALL.into_iter().enumerate() {
        for (ci, c) in CONTENDERS.into_iter().enumerate() {
            match summarize(&samples[pi][ci]) {
                Some(s) => println!(
                    "{:<8} {:<8} {:>12.1} {:>10} {:>7.1}% {:>10.1} {:>10.1}",
                    p.name(),
                    c,
                    s.median,
                    fmt_rate(1e9 / s.median),
                    s.spread_pct(),
                    s.min,
                    s.max
                ),
                None => println!("{:<8} {:<8} {:>12}", p.name(), c, "n/a"),
            }
        }
    }
    println!();
    println!("ratio of time per task (>1 = coring slower); 'paired' = median of per-repeat ratios");
    println!("{:<8} {:>12} {:>9}", "pattern", "coring/tokio", "paired");
    let fmt = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.2}x"));
    for (pi, p) in Pattern::ALL.into_iter().enumerate() {
        let med = |ci: usize| summarize(&samples[pi][ci]).map(|s| s.median);
        let ratio = med(0).zip(med(1)).map(|(a, b)| a / b);
        println!(
            "{:<8} {:>12} {:>9}",
            p.name(),
            fmt(ratio),
            fmt(paired_ratio(&samples[pi][0], &samples[pi][1]))
        );
    }
}
