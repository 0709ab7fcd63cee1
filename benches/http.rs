//! hyper's HTTP/1.1 hello-world server on coring against hyper on tokio's
//! current_thread runtime (`tokio`), loaded by `wrk`. coring contenders:
//! `coring` (native `HyperIo`), `coring-ring` (native, receiving on a
//! provided-buffer ring), `coring-sq` (native, every write through an
//! io_uring send: `direct_writes(false)`), `coring-ring-sq` (both),
//! `coring-compat` (`Compat` + hyper-util's `TokioIo`). Not run unless
//! named with `--only`: `coring-timer` and `tokio-timer`, `coring` and
//! `tokio` with hyper's `header_read_timeout` (30 s) on `HyperTimer` and
//! hyper-util's `TokioTimer`.
//!
//! ```text
//! cargo bench --bench http                         # 5 repeats, wrk -t1 -c64 -d3s
//! cargo bench --bench http -- --repeats 9 --secs 3 --conns 64 --only coring,tokio
//! cargo bench --bench http -- --callgrind          # user-space instructions per request
//! ```
//!
//! Each server runs in its own process (this binary with `--server KIND
//! ADDR`) pinned to CPU 0; `wrk -t1 -cN -dSs` runs pinned to CPU 1
//! (`taskset -c 1`). Contenders are interleaved, in an order rotated each
//! repeat; each run starts a fresh server, warms it with 1 s of load,
//! then measures one wrk run. Server CPU per request is the server's run
//! time over the window (the sum of `/proc/PID/task/*/schedstat`) divided
//! by wrk's request count. Reported: medians, and the median of the
//! per-repeat (paired) ratios to tokio.
//!
//! `--callgrind`: each server under `valgrind --tool=callgrind`; after a
//! warm-up, `callgrind_control -z`, a wrk run, `callgrind_control -d`; the
//! dump's instruction total divided by wrk's requests is the server's
//! user-space instructions per request (noise-free; the kernel's share is
//! not counted). Dumps stay in /tmp/coring-http-callgrind.
//!
//! Without `wrk` on PATH (or with `--load raw`), a raw load generator
//! takes its place: N keep-alive connections on a tokio current_thread
//! runtime pinned to CPU 1, each sending a GET and reading the whole
//! response in a loop.
//!
//! Self-contained on purpose (no shared bench module): it wants `wrk`
//! (`apt-get install wrk`) and, for `--callgrind`, valgrind.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

const KINDS: [&str; 6] = [
    "coring",
    "coring-ring",
    "coring-sq",
    "coring-ring-sq",
    "coring-compat",
    "tokio",
];

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("http bench: could not pin to CPU {cpu}");
        }
    }
}

/// The server process: serves hello-world on `addr` until killed; prints
/// `PORT n` once listening.
fn serve(kind: &str, addr: &str) {
    pin_to_cpu(0);
    let announce = |port: u16| {
        println!("PORT {port}");
        std::io::stdout().flush().expect("stdout");
    };
    match kind {
        "coring" | "coring-ring" | "coring-sq" | "coring-ring-sq" | "coring-compat"
        | "coring-timer" => {
            coring::start(async move {
                let listener = coring::net::TcpListener::bind(addr).expect("bind");
                announce(listener.local_addr().expect("addr").port());
                let ring = kind
                    .starts_with("coring-ring")
                    .then(|| coring::buf::BufRing::new(1024, 16 * 1024).expect("buffer ring"));
                let mut incoming = listener.incoming();
                loop {
                    let Ok(stream) = incoming.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let mut http = hyper::server::conn::http1::Builder::new();
                    if kind == "coring-timer" {
                        http.timer(coring::net::HyperTimer)
                            .header_read_timeout(std::time::Duration::from_secs(30));
                    }
                    let task = match (kind, &ring) {
                        ("coring-compat", _) => {
                            let io = hyper_util::rt::TokioIo::new(stream.compat());
                            coring::spawn(async move {
                                let _ = http.serve_connection(io, service_fn(hello)).await;
                            })
                        }
                        (_, Some(ring)) => {
                            let io = coring::net::HyperIo::with_ring(stream, ring)
                                .direct_writes(!kind.ends_with("-sq"));
                            coring::spawn(async move {
                                let _ = http.serve_connection(io, service_fn(hello)).await;
                            })
                        }
                        _ => {
                            let io = coring::net::HyperIo::new(stream)
                                .direct_writes(!kind.ends_with("-sq"));
                            coring::spawn(async move {
                                let _ = http.serve_connection(io, service_fn(hello)).await;
                            })
                        }
                    };
                    drop(task);
                }
            })
            .expect("io_uring");
        }
        "tokio" | "tokio-timer" => {
            let timer = kind == "tokio-timer";
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                announce(listener.local_addr().expect("addr").port());
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let io = hyper_util::rt::TokioIo::new(stream);
                    tokio::spawn(async move {
                        let mut http = hyper::server::conn::http1::Builder::new();
                        if timer {
                            http.timer(hyper_util::rt::TokioTimer::new())
                                .header_read_timeout(std::time::Duration::from_secs(30));
                        }
                        let _ = http.serve_connection(io, service_fn(hello)).await;
                    });
                }
            });
        }
        other => panic!("unknown server kind {other}"),
    }
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `kind` (under `wrapper`, e.g. valgrind, when given).
    fn start(kind: &str, wrapper: &[String]) -> Server {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = cmd
            .args(["--server", kind, "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("server output");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{kind}: server did not start ({line:?})"));
        Server { child, port }
    }

    /// Run time of every thread of the server so far, in ns.
    fn cpu_ns(&self) -> u64 {
        let dir = format!("/proc/{}/task", self.child.id());
        let mut total = 0;
        for t in std::fs::read_dir(dir).expect("task dir").flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                total += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        total
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs wrk pinned to CPU 1; the requests it completed and its seconds.
/// Runs the load: wrk, or the raw generator when `RAW_LOAD` is set.
fn load(port: u16, conns: usize, secs: f64) -> (u64, f64) {
    if RAW_LOAD.load(std::sync::atomic::Ordering::Relaxed) {
        raw_load(port, conns, secs)
    } else {
        wrk(port, conns, secs)
    }
}

/// Whether the raw load generator replaces wrk.
static RAW_LOAD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// (wrk takes whole seconds.)
fn wrk(port: u16, conns: usize, secs: f64) -> (u64, f64) {
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", secs.round().max(1.0) as u64))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    // "  123456 requests in 3.00s, 10.99MB read"
    for line in text.lines() {
        let mut w = line.split_whitespace();
        if let (Some(n), Some("requests"), Some("in"), Some(t)) =
            (w.next(), w.next(), w.next(), w.next())
        {
            let n: u64 = n.parse().unwrap_or(0);
            let t = t.trim_end_matches(',');
            let secs = if let Some(ms) = t.strip_suffix("ms") {
                ms.parse::<f64>().unwrap_or(0.0) / 1e3
            } else if let Some(m) = t.strip_suffix('m') {
                m.parse::<f64>().unwrap_or(0.0) * 60.0
            } else {
                t.trim_end_matches('s').parse().unwrap_or(0.0)
            };
            let errors = text.contains("Socket errors") || text.contains("Non-2xx");
            if errors {
                eprintln!("wrk reported errors:\n{text}");
            }
            return (n, secs);
        }
    }
    panic!(
        "could not parse wrk output:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The load generator when wrk is missing (or `--load raw`): `conns`
/// keep-alive connections, each sending a GET and reading the whole
/// response in a loop, on a tokio current_thread runtime in a thread
/// pinned to CPU 1. The requests completed and the seconds.
fn raw_load(port: u16, conns: usize, secs: f64) -> (u64, f64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    std::thread::spawn(move || {
        pin_to_cpu(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        rt.block_on(async move {
            let start = std::time::Instant::now();
            let end = start + std::time::Duration::from_secs_f64(secs);
            let mut tasks = Vec::new();
            for _ in 0..conns {
                tasks.push(tokio::spawn(async move {
                    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .expect("connect");
                    s.set_nodelay(true).expect("nodelay");
                    let mut buf = vec![0u8; 4096];
                    let mut done = 0u64;
                    while std::time::Instant::now() < end {
                        s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                            .await
                            .expect("send");
                        // Read one response: headers, then content-length.
                        let mut have = 0;
                        loop {
                            let n = s.read(&mut buf[have..]).await.expect("recv");
                            assert!(n > 0, "the server closed");
                            have += n;
                            let Some(h) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n")
                            else {
                                continue;
                            };
                            let head = std::str::from_utf8(&buf[..h]).expect("utf-8");
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse().ok())?
                                })
                                .expect("content-length");
                            if have >= h + 4 + len {
                                break;
                            }
                        }
                        done += 1;
                    }
                    done
                }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await.expect("load task");
            }
            (total, start.elapsed().as_secs_f64())
        })
    })
    .join()
    .expect("load thread")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn wall_clock(kinds: &[String], repeats: usize, secs: f64, conns: usize) {
    // rps[kind][repeat], cpu_ns_per_req[kind][repeat]
    let mut rps = vec![Vec::new(); kinds.len()];
    let mut cpu = vec![Vec::new(); kinds.len()];
    for r in 0..repeats {
        for i in 0..kinds.len() {
            let k = (i + r) % kinds.len();
            let server = Server::start(&kinds[k], &[]);
            load(server.port, conns, 1.0);
            let c0 = server.cpu_ns();
            let (n, t) = load(server.port, conns, secs);
            let c1 = server.cpu_ns();
            let per = (c1 - c0) as f64 / n.max(1) as f64;
            eprintln!(
                "repeat {r} {:>14}: {:>9.0} req/s, server CPU {:>6.2} us/req",
                kinds[k],
                n as f64 / t,
                per / 1e3
            );
            rps[k].push(n as f64 / t);
            cpu[k].push(per);
        }
    }
    let base = kinds.iter().position(|k| k == "tokio");
    let gen = match RAW_LOAD.load(std::sync::atomic::Ordering::Relaxed) {
        true => "raw load generator",
        false => "wrk -t1",
    };
    println!("\n{gen} -c{conns} -d{secs}s, {repeats} repeats, server on CPU 0, load on CPU 1");
    println!("| server | req/s (median) | spread | server CPU/req | req/s vs tokio (paired) | CPU/req vs tokio (paired) |");
    println!("|---|---|---|---|---|---|");
    for k in 0..kinds.len() {
        let med = median(rps[k].clone());
        let lo = rps[k].iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = rps[k].iter().cloned().fold(0.0, f64::max);
        let (rr, cr) = match base {
            Some(b) => (
                median((0..repeats).map(|r| rps[k][r] / rps[b][r]).collect()),
                median((0..repeats).map(|r| cpu[k][r] / cpu[b][r]).collect()),
            ),
            None => (f64::NAN, f64::NAN),
        };
        println!(
            "| {} | {:.0} | {:.0}% | {:.2} us | {:.3}x | {:.3}x |",
            kinds[k],
            med,
            (hi - lo) / med * 100.0,
            median(cpu[k].clone()) / 1e3,
            rr,
            cr
        );
    }
}

fn callgrind(kinds: &[String], secs: f64, conns: usize) {
    if !has("valgrind") || !has("callgrind_control") {
        println!(
            "callgrind: valgrind/callgrind_control not found (apt-get install valgrind); skipped"
        );
        return;
    }
    let dir = "/tmp/coring-http-callgrind";
    std::fs::create_dir_all(dir).expect("out dir");
    println!("\n| server | requests | instructions | instructions/request |");
    println!("|---|---|---|---|");
    for kind in kinds {
        for f in std::fs::read_dir(dir).expect("dir").flatten() {
            if f.file_name()
                .to_string_lossy()
                .starts_with(&format!("{kind}."))
            {
                let _ = std::fs::remove_file(f.path());
            }
        }
        let wrapper = vec![
            "valgrind".to_string(),
            "--tool=callgrind".to_string(),
            format!("--callgrind-out-file={dir}/{kind}.%p"),
        ];
        let server = Server::start(kind, &wrapper);
        let pid = server.child.id().to_string();
        load(server.port, conns, 2.0);
        let ok =
            |s: std::io::Result<std::process::ExitStatus>| s.map(|s| s.success()).unwrap_or(false);
        let quiet = |args: &[&str]| {
            ok(Command::new("callgrind_control")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status())
        };
        assert!(quiet(&["-z", &pid]), "callgrind_control -z");
        let (n, _) = load(server.port, conns, secs);
        assert!(quiet(&["-d", &pid]), "callgrind_control -d");
        drop(server);
        let dump = format!("{dir}/{kind}.{pid}.1");
        let text = std::fs::read_to_string(&dump).unwrap_or_default();
        let ir: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary:")
                    .or_else(|| l.strip_prefix("totals:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0);
        println!(
            "| {kind} | {n} | {ir} | {:.0} |",
            ir as f64 / n.max(1) as f64
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--server") {
        serve(&args[i + 1], &args[i + 2]);
        return;
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let repeats: usize = opt("--repeats").and_then(|v| v.parse().ok()).unwrap_or(5);
    let secs: f64 = opt("--secs").and_then(|v| v.parse().ok()).unwrap_or(3.0);
    let conns: usize = opt("--conns").and_then(|v| v.parse().ok()).unwrap_or(64);
    let kinds: Vec<String> = match opt("--only") {
        Some(list) => list.split(',').map(String::from).collect(),
        None => KINDS.iter().map(|s| s.to_string()).collect(),
    };
    let raw = opt("--load").as_deref() == Some("raw");
    if raw || !has("wrk") || !has("taskset") {
        if !raw {
            println!(
                "http bench: wrk or taskset not on PATH (apt-get install wrk): raw load generator"
            );
        }
        RAW_LOAD.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    if args.iter().any(|a| a == "--callgrind") {
        callgrind(&kinds, secs.max(5.0), conns);
    } else {
        wall_clock(&kinds, repeats, secs, conns);
    }
}
