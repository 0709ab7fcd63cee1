//! Echo latency beside bulk work on the same core: coring with task
//! queues, tokio's current_thread runtime, glommio with its task queues.
//!
//! ```text
//! cargo bench -p coring-bench --bench latency                   # 5 repeats, 3 s each
//! cargo bench -p coring-bench --bench latency -- --repeats 9 --secs 3 --conns 4
//! cargo bench -p coring-bench --bench latency -- --repeats 1 --secs 0.5   # a quick look
//! cargo bench -p coring-bench --bench latency -- --only coring,glommio
//! ```
//!
//! Each server runs in a child process (this binary with `--serve KIND
//! idle|bulk`) pinned to CPU 0: a TCP echo server, one task per
//! connection, 64-byte messages. With `bulk`, a second task hashes a
//! 16 KiB buffer over and over beside it and offers to yield after each
//! chunk:
//!
//! - coring: connections in `TaskQueue::new("echo", Shares(1000),
//!   Latency::Matters(1 ms))`, the hasher in `("bulk", Shares(100),
//!   NotImportant)`, yielding with `yield_if_needed().await`;
//! - glommio: the same two task queues (`create_task_queue`,
//!   `spawn_local_into`) and `glommio::yield_if_needed().await`, with
//!   its default preempt timer (100 ms: shorter ones, 500 µs or 1 ms,
//!   stalled glommio 0.9's server for over 10 s on the project's VM);
//! - tokio: no task queues; the hasher yields (`yield_now`) once 500 µs
//!   have passed since its last yield, coring's slice.
//!
//! The client (this process, pinned to CPU 1) keeps one 64-byte message
//! in flight on each of `--conns` blocking connections and times each
//! round trip, after a 0.5 s warm-up. Contenders and loads are
//! interleaved, in an order rotated each repeat, each run on a fresh
//! server. Reported per cell: the medians over repeats of p50, p99 and
//! p99.9, round trips per second (a server that answers sooner serves
//! more, and has less of the core left for the hasher), the hasher's
//! chunks per second (from the server's `CHUNKS n` lines), the runs that failed (a server that did not answer for 10 s),
//! and the paired ratios of p99s: each contender's bulk to its idle, and
//! coring's bulk to each peer's.

#[path = "common/mod.rs"]
mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KINDS: [&str; 3] = ["coring", "tokio", "glommio"];
const LOADS: [&str; 2] = ["idle", "bulk"];
const MSG: usize = 64;
const CHUNK: usize = 16 * 1024;
/// The echo queue's latency budget (coring and glommio).
const BUDGET: Duration = Duration::from_millis(1);
/// How often a server reports its hasher's progress.
const REPORT: Duration = Duration::from_millis(100);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let kind = args.get(i + 1).map(String::as_str).unwrap_or("");
        let bulk = args.get(i + 2).map(String::as_str) == Some("bulk");
        if let Err(e) = serve(kind, bulk) {
            eprintln!("latency bench: {kind} server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let opt = |name: &str, default: f64| -> f64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
            })
            .unwrap_or(default)
    };
    let repeats = opt("--repeats", 5.0) as usize;
    let secs = opt("--secs", 3.0);
    let conns = opt("--conns", 4.0) as usize;
    let only: Vec<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map_or_else(Vec::new, |v| v.split(',').map(str::to_string).collect());
    if let Err(e) = common::pin_to_cpu(1) {
        eprintln!("warning: could not pin the client to CPU 1: {e}");
    }
    // results[kind][load][repeat]: None for a run that failed.
    let mut results: Vec<Vec<Vec<Option<Run>>>> =
        vec![vec![vec![None; repeats]; LOADS.len()]; KINDS.len()];
    let mut failures = vec![vec![0usize; LOADS.len()]; KINDS.len()];
    let cells: Vec<(usize, usize)> = (0..KINDS.len())
        .filter(|&k| only.is_empty() || only.iter().any(|o| o == KINDS[k]))
        .flat_map(|k| (0..LOADS.len()).map(move |l| (k, l)))
        .collect();
    for r in 0..repeats {
        for j in 0..cells.len() {
            let (k, l) = cells[(j + r) % cells.len()];
            let run = match measure(KINDS[k], LOADS[l], secs, conns) {
                Ok(run) => run,
                Err(e) => {
                    // Counted and reported, not retried: a stall is a result.
                    eprintln!("repeat {r} {:<8} {:<5} FAILED: {e}", KINDS[k], LOADS[l]);
                    failures[k][l] += 1;
                    continue;
                }
            };
            eprintln!(
                "repeat {r} {:<8} {:<5} p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs  \
                 round trips/s {}  chunks/s {}",
                KINDS[k],
                LOADS[l],
                run.p50,
                run.p99,
                run.p999,
                common::fmt_rate(run.rtt_per_sec),
                common::fmt_rate(run.chunks_per_sec)
            );
            results[k][l][r] = Some(run);
        }
    }
    report(&results, &failures, repeats, secs, conns);
}

#[derive(Debug, Clone, Copy)]
struct Run {
    p50: f64,
    p99: f64,
    p999: f64,
    /// Round trips per second (the client keeps one in flight per
    /// connection, so a faster server serves more).
    rtt_per_sec: f64,
    chunks_per_sec: f64,
}

fn median(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    common::summarize(&v).map_or(f64::NAN, |s| s.median)
}

fn report(
    results: &[Vec<Vec<Option<Run>>>],
    failures: &[Vec<usize>],
    repeats: usize,
    secs: f64,
    conns: usize,
) {
    println!(
        "\necho latency, 64 B, {conns} connections, {secs} s per run, {repeats} repeats \
         (medians over repeats; µs)"
    );
    println!(
        "{:<8} {:<5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "server", "load", "p50", "p99", "p99.9", "rtt/s", "chunks/s", "failed"
    );
    for (k, kind) in KINDS.iter().enumerate() {
        for (l, load) in LOADS.iter().enumerate() {
            let runs: Vec<Run> = results[k][l].iter().flatten().copied().collect();
            if runs.is_empty() && failures[k][l] == 0 {
                continue;
            }
            println!(
                "{:<8} {:<5} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>9} {:>7}",
                kind,
                load,
                median(runs.iter().map(|r| r.p50)),
                median(runs.iter().map(|r| r.p99)),
                median(runs.iter().map(|r| r.p999)),
                common::fmt_rate(median(runs.iter().map(|r| r.rtt_per_sec))),
                common::fmt_rate(median(runs.iter().map(|r| r.chunks_per_sec))),
                failures[k][l],
            );
        }
    }
    println!("\npaired ratios (median over repeats)");
    // The repeats where both cells ran.
    let paired = |a: (usize, usize), b: (usize, usize)| {
        let (x, y): (Vec<f64>, Vec<f64>) = results[a.0][a.1]
            .iter()
            .zip(&results[b.0][b.1])
            .filter_map(|(x, y)| Some((x.as_ref()?.p99, y.as_ref()?.p99)))
            .unzip();
        common::paired_ratio(&x, &y).unwrap_or(f64::NAN)
    };
    for (k, kind) in KINDS.iter().enumerate() {
        let r = paired((k, 1), (k, 0));
        println!("{kind:<8} bulk p99 / idle p99: {r:.2}");
    }
    for (k, kind) in KINDS.iter().enumerate().skip(1) {
        let r = paired((0, 1), (k, 1));
        println!("coring bulk p99 / {kind} bulk p99: {r:.2}");
    }
}

// ---------------------------------------------------------------------------
// The client

/// One run: a fresh server, a warm-up, `secs` of round trips.
fn measure(kind: &str, load: &str, secs: f64, conns: usize) -> io::Result<Run> {
    let mut server = Server::start(kind, load)?;
    let res = (|| {
        let mut streams = (0..conns)
            .map(|_| {
                let s = TcpStream::connect(server.addr)?;
                s.set_nodelay(true)?;
                // A stuck server fails the run instead of hanging it.
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                Ok(s)
            })
            .collect::<io::Result<Vec<_>>>()?;
        round_trips(&mut streams, Duration::from_millis(500))?;
        let (c0, t0) = (server.chunks.load(Ordering::Relaxed), Instant::now());
        let mut rtts = round_trips(&mut streams, Duration::from_secs_f64(secs))?;
        let chunks = server.chunks.load(Ordering::Relaxed) - c0;
        let elapsed = t0.elapsed().as_secs_f64();
        let chunks_per_sec = chunks as f64 / elapsed;
        let rtt_per_sec = rtts.len() as f64 / elapsed;
        rtts.sort_unstable();
        let pct = |q: f64| {
            let i = ((rtts.len() as f64 * q) as usize).min(rtts.len() - 1);
            rtts[i] as f64 / 1e3
        };
        Ok(Run {
            p50: pct(0.50),
            p99: pct(0.99),
            p999: pct(0.999),
            rtt_per_sec,
            chunks_per_sec,
        })
    })();
    server.stop();
    res
}

/// Round trips on every stream for `dur`; each one's time in ns.
fn round_trips(streams: &mut [TcpStream], dur: Duration) -> io::Result<Vec<u64>> {
    let msg = [7u8; MSG];
    let mut back = [0u8; MSG];
    let mut sent = vec![Instant::now(); streams.len()];
    let mut rtts = Vec::new();
    let start = Instant::now();
    while start.elapsed() < dur {
        for (s, t) in streams.iter_mut().zip(sent.iter_mut()) {
            *t = Instant::now();
            s.write_all(&msg)?;
        }
        for (s, t) in streams.iter_mut().zip(&sent) {
            s.read_exact(&mut back)?;
            rtts.push(t.elapsed().as_nanos() as u64);
        }
    }
    Ok(rtts)
}

/// A server child process, its port, and its hasher's last chunk count.
struct Server {
    child: Child,
    addr: SocketAddr,
    chunks: Arc<AtomicU64>,
}

impl Server {
    fn start(kind: &str, load: &str) -> io::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--serve", kind, load])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let port: u16 = loop {
            let line = lines
                .next()
                .ok_or_else(|| io::Error::other("the server exited before listening"))??;
            if let Some(p) = line.strip_prefix("PORT ") {
                break p.trim().parse().map_err(io::Error::other)?;
            }
        };
        let chunks = Arc::new(AtomicU64::new(0));
        let c = chunks.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("CHUNKS ").and_then(|n| n.parse().ok()) {
                    c.store(n, Ordering::Relaxed);
                }
            }
        });
        Ok(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            chunks,
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The servers

fn serve(kind: &str, bulk: bool) -> io::Result<()> {
    if let Err(e) = common::pin_to_cpu(0) {
        eprintln!("warning: could not pin the {kind} server to CPU 0: {e}");
    }
    match kind {
        "coring" => coring_server(bulk),
        "tokio" => tokio_server(bulk),
        "glommio" => glommio_server(bulk),
        _ => Err(io::Error::other(format!("unknown server {kind}"))),
    }
}

fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "PORT {}", addr.port())?;
    out.flush()
}

/// The hasher's state: a buffer, a running FNV-1a hash, and the chunk
/// count it prints every [`REPORT`].
struct Hasher {
    data: Vec<u8>,
    hash: u64,
    chunks: u64,
    last_report: Instant,
}

impl Hasher {
    fn new() -> Hasher {
        Hasher {
            data: (0..CHUNK).map(|i| i as u8).collect(),
            hash: 0xcbf2_9ce4_8422_2325,
            chunks: 0,
            last_report: Instant::now(),
        }
    }

    /// Hashes one chunk.
    fn chunk(&mut self) {
        let mut h = self.hash;
        for &b in &self.data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.hash = common::black_box(h);
        self.data[0] = h as u8;
        self.chunks += 1;
        if self.chunks % 64 == 0 && self.last_report.elapsed() >= REPORT {
            self.last_report = Instant::now();
            println!("CHUNKS {}", self.chunks);
        }
    }
}

fn coring_server(bulk: bool) -> io::Result<()> {
    use coring::net::TcpListener;
    use coring::{Latency, Shares, TaskQueue};
    coring::start(async move {
        let echo = TaskQueue::new("echo", Shares(1000), Latency::Matters(BUDGET))?;
        let background = TaskQueue::new("bulk", Shares(100), Latency::NotImportant)?;
        if bulk {
            let _detached = coring::spawn_into(&background, async {
                let mut h = Hasher::new();
                loop {
                    h.chunk();
                    coring::yield_if_needed().await;
                }
            });
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        announce(listener.local_addr()?)?;
        let mut incoming = listener.incoming();
        loop {
            let stream = incoming.accept().await?;
            let _detached = coring::spawn_into(&echo, common::echo::coring(stream, MSG * 4));
        }
    })?
}

fn tokio_server(bulk: bool) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        if bulk {
            tokio::spawn(async {
                let mut h = Hasher::new();
                let mut last_yield = Instant::now();
                loop {
                    h.chunk();
                    if last_yield.elapsed() >= Duration::from_micros(500) {
                        tokio::task::yield_now().await;
                        last_yield = Instant::now();
                    }
                }
            });
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(common::echo::tokio(stream, MSG * 4));
        }
    })
}

fn glommio_server(bulk: bool) -> io::Result<()> {
    use glommio::{Latency, Shares};
    // glommio's error holds a `dyn Any + Send` (not `Sync`): keep its text.
    fn gerr(e: impl std::fmt::Display) -> io::Error {
        io::Error::other(e.to_string())
    }
    // The default preempt timer (100 ms): with `preempt_timer(500 µs)`
    // or `(1 ms)` glommio 0.9's server stalled for over 10 s here.
    let ex = glommio::LocalExecutorBuilder::default()
        .make()
        .map_err(gerr)?;
    ex.run(async move {
        let ex = glommio::executor();
        let echo = ex.create_task_queue(Shares::Static(1000), Latency::Matters(BUDGET), "echo");
        let background = ex.create_task_queue(Shares::Static(100), Latency::NotImportant, "bulk");
        if bulk {
            glommio::spawn_local_into(
                async {
                    let mut h = Hasher::new();
                    loop {
                        h.chunk();
                        glommio::yield_if_needed().await;
                    }
                },
                background,
            )
            .map_err(gerr)?
            .detach();
        }
        let listener = glommio::net::TcpListener::bind("127.0.0.1:0").map_err(gerr)?;
        announce(listener.local_addr().map_err(gerr)?)?;
        loop {
            let stream = listener.accept().await.map_err(gerr)?;
            glommio::spawn_local_into(common::echo::glommio(stream, MSG * 4), echo)
                .map_err(gerr)?
                .detach();
        }
    })
}
