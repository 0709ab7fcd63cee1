//! hyper's HTTP/1.1 hello-world server on coring against hyper on tokio,
//! over HTTP and over HTTPS, loaded by `wrk` (or a built-in generator).
//!
//! HTTP contenders: `coring` (native `HyperIo`, its defaults: small writes
//! through an io_uring send), `coring-ring` (native, receiving on a
//! provided-buffer ring), `coring-direct` (native, every write tried as a
//! direct `sendmsg` first: `direct_writes(true)`), `coring-compat`
//! (`Compat` + hyper-util's `TokioIo`), `tokio`
//! (current_thread runtime) and `tokio-mt1` (multi-thread runtime with one
//! worker). HTTPS contenders (tokio-rustls with rustls's ring provider, a
//! self-signed ECDSA P-256 certificate made at start, TLS 1.3):
//! `coring-https` (tokio-rustls over `Compat`, as `examples/https.rs`) and
//! `tokio-https` (tokio-rustls on tokio current_thread). Not run unless
//! named with `--only`: `coring-timer` and `tokio-timer`, `coring` and
//! `tokio` with hyper's `header_read_timeout` (30 s) on `HyperTimer` and
//! hyper-util's `TokioTimer`.
//!
//! ```text
//! cargo bench -p coring-bench --bench http        # 5 repeats x 3 s, 16, 64 and 256 connections
//! cargo bench -p coring-bench --bench http -- --repeats 9 --secs 3 --conns 64 --only coring,tokio
//! cargo bench -p coring-bench --bench http -- --docs     # also copy http.csv and http.svg to docs/
//! cargo bench -p coring-bench --bench http -- --callgrind    # user-space instructions per request
//! ```
//!
//! Each server runs in its own process (this binary with `--server KIND
//! ADDR`) pinned to CPU 0; `wrk -t1 -cN -dSs` runs pinned to CPU 1
//! (`taskset -c 1`; over `https://` for the HTTPS contenders). For each
//! connection count the contenders are interleaved, in an order rotated
//! each repeat; each run starts a fresh server, warms it with 1 s of load,
//! then measures one run of the load (its connections, and for HTTPS
//! their handshakes, are new). Server CPU per request is the server's run
//! time over the window (the sum of `/proc/PID/task/*/schedstat`) divided
//! by the requests. Reported: medians, spreads, and the median of the
//! per-repeat (paired) ratios to `tokio` (HTTP) or `tokio-https` (HTTPS).
//! Results: a table on stdout, `http.csv` and `http.svg` in the output
//! folder (`--out DIR`, default `target/bench-results`) and, with
//! `--docs`, in `docs/`.
//!
//! `--callgrind`: each server under `valgrind --tool=callgrind`; after a
//! warm-up, two windows (`callgrind_control -z`, a load run of S then of
//! 2S seconds, `callgrind_control -d`): a window's instruction total over
//! its requests is the server's user-space instructions per request
//! (noise-free; the kernel's share is not counted), which includes the
//! set-up of the load's new connections (for HTTPS, a TLS handshake each:
//! ~1.3M instructions); the difference of the two windows over the
//! difference of their requests leaves that out. Dumps stay in
//! /tmp/coring-http-callgrind; the first connection count of `--conns` is
//! used.
//!
//! Without `wrk` on PATH (or with `--load raw`), a raw load generator
//! takes its place: N keep-alive connections (over tokio-rustls, trusting
//! the server's certificate, for HTTPS) on a tokio current_thread runtime
//! pinned to CPU 1, each sending a GET and reading the whole response in a
//! loop. It wants `wrk` (`apt-get install wrk`; Debian's is built with
//! OpenSSL, so it speaks HTTPS) and, for `--callgrind`, valgrind.

mod common;

use bytes::Bytes;
use common::chart;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const KINDS: [&str; 8] = [
    "coring",
    "coring-ring",
    "coring-direct",
    "coring-compat",
    "tokio",
    "tokio-mt1",
    "coring-https",
    "tokio-https",
];

/// Whether `kind` serves HTTPS.
fn is_https(kind: &str) -> bool {
    kind.ends_with("-https")
}

/// The contender the paired ratios of `kind` are taken against.
fn base_of(kind: &str) -> &'static str {
    if is_https(kind) {
        "tokio-https"
    } else {
        "tokio"
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn pin_to_cpu(cpu: usize) {
    if let Err(e) = common::pin_to_cpu(cpu) {
        eprintln!("http bench: could not pin to CPU {cpu}: {e}");
    }
}

/// A new self-signed certificate for `localhost`: the TLS acceptor, and
/// the certificate for a client to trust.
fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let cert = made.cert.der().clone();
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("TLS config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), cert)
}

/// Prints `PORT n` (and `CERT hex` of the certificate's DER for HTTPS)
/// once listening.
fn announce(port: u16, cert: Option<&CertificateDer<'_>>) {
    println!("PORT {port}");
    if let Some(cert) = cert {
        let hex: String = cert.iter().map(|b| format!("{b:02x}")).collect();
        println!("CERT {hex}");
    }
    std::io::stdout().flush().expect("stdout");
}

/// The server process: serves hello-world on `addr` until killed.
fn serve(kind: &str, addr: &str) {
    pin_to_cpu(0);
    match kind {
        "coring" | "coring-ring" | "coring-direct" | "coring-compat" | "coring-timer"
        | "coring-https" => serve_coring(kind, addr),
        "tokio" | "tokio-timer" | "tokio-https" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio");
            rt.block_on(serve_tokio(kind, addr));
        }
        "tokio-mt1" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("tokio");
            rt.block_on(serve_tokio(kind, addr));
        }
        other => panic!("unknown server kind {other}"),
    }
}

fn serve_coring(kind: &str, addr: &str) {
    let tls = is_https(kind).then(tls_acceptor);
    coring::start(async move {
        let listener = coring::net::TcpListener::bind(addr).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        announce(port, tls.as_ref().map(|t| &t.1));
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
            let task = match (kind, &ring, &tls) {
                (_, _, Some((acceptor, _))) => {
                    let accept = acceptor.accept(stream.compat());
                    coring::spawn(async move {
                        let Ok(tls) = accept.await else { return };
                        let io = TokioIo::new(tls);
                        let _ = http.serve_connection(io, service_fn(hello)).await;
                    })
                }
                ("coring-compat", _, _) => {
                    let io = TokioIo::new(stream.compat());
                    coring::spawn(async move {
                        let _ = http.serve_connection(io, service_fn(hello)).await;
                    })
                }
                (_, Some(ring), _) => {
                    let io = coring::net::HyperIo::with_ring(stream, ring);
                    coring::spawn(async move {
                        let _ = http.serve_connection(io, service_fn(hello)).await;
                    })
                }
                _ => {
                    let mut io = coring::net::HyperIo::new(stream);
                    if kind == "coring-direct" {
                        io = io.direct_writes(true);
                    }
                    coring::spawn(async move {
                        let _ = http.serve_connection(io, service_fn(hello)).await;
                    })
                }
            };
            drop(task);
        }
    })
    .expect("coring runtime");
}

async fn serve_tokio(kind: &str, addr: &str) {
    let timer = kind == "tokio-timer";
    let tls = is_https(kind).then(tls_acceptor);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    announce(port, tls.as_ref().map(|t| &t.1));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = tls.as_ref().map(|t| t.0.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            if timer {
                http.timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(30));
            }
            let _ = match acceptor {
                Some(acceptor) => {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let io = TokioIo::new(tls);
                    http.serve_connection(io, service_fn(hello)).await
                }
                None => {
                    let io = TokioIo::new(stream);
                    http.serve_connection(io, service_fn(hello)).await
                }
            };
        });
    }
}

struct Server {
    child: Child,
    port: u16,
    /// The certificate's DER, for HTTPS.
    cert: Option<Vec<u8>>,
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
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = || {
            let mut l = String::new();
            out.read_line(&mut l).expect("server output");
            l
        };
        let first = line();
        let port = first
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{kind}: server did not start ({first:?})"));
        let cert = is_https(kind).then(|| {
            let l = line();
            let hex = l.trim().strip_prefix("CERT ").expect("the certificate");
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect()
        });
        Server { child, port, cert }
    }

    /// Run time of every thread of the server so far, in ns.
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

/// Whether the raw load generator replaces wrk.
static RAW_LOAD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs the load (wrk, or the raw generator when `RAW_LOAD` is set)
/// against `server`: the requests it completed, its seconds, and the CPU
/// time the load generator used (s).
fn load(server: &Server, conns: usize, secs: f64) -> (u64, f64, f64) {
    if RAW_LOAD.load(std::sync::atomic::Ordering::Relaxed) {
        raw_load(server.port, server.cert.clone(), conns, secs)
    } else {
        wrk(server.port, server.cert.is_some(), conns, secs)
    }
}

/// CPU time (user + system, s) of this process's children reaped so far.
fn children_cpu() -> f64 {
    common::rusage_cpu_ns(libc::RUSAGE_CHILDREN) as f64 / 1e9
}

/// wrk pinned to CPU 1 (it takes whole seconds).
fn wrk(port: u16, https: bool, conns: usize, secs: f64) -> (u64, f64, f64) {
    let scheme = if https { "https" } else { "http" };
    // wrk is the one child reaped meanwhile (servers are reaped when
    // dropped, after their load).
    let cpu0 = children_cpu();
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", secs.round().max(1.0) as u64))
        .arg(format!("{scheme}://127.0.0.1:{port}/"))
        .output()
        .expect("run wrk");
    let load_cpu = children_cpu() - cpu0;
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
            if text.contains("Socket errors") || text.contains("Non-2xx") {
                eprintln!("wrk reported errors:\n{text}");
            }
            return (n, secs, load_cpu);
        }
    }
    panic!(
        "could not parse wrk output:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The load generator when wrk is missing (or `--load raw`): `conns`
/// keep-alive connections (TLS trusting `cert` when given), each sending a
/// GET and reading the whole response in a loop, on a tokio
/// current_thread runtime in a thread pinned to CPU 1. The requests
/// completed and the seconds.
fn raw_load(port: u16, cert: Option<Vec<u8>>, conns: usize, secs: f64) -> (u64, f64, f64) {
    std::thread::spawn(move || {
        pin_to_cpu(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let tls = cert.map(|der| {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(der.into()).expect("trust the certificate");
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        });
        let cpu0 = common::rusage_cpu_ns(libc::RUSAGE_THREAD);
        let (n, secs) = rt.block_on(async move {
            let start = std::time::Instant::now();
            let end = start + std::time::Duration::from_secs_f64(secs);
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let tls = tls.clone();
                tasks.push(tokio::spawn(async move {
                    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .expect("connect");
                    tcp.set_nodelay(true).expect("nodelay");
                    match tls {
                        Some(tls) => {
                            let name =
                                rustls::pki_types::ServerName::try_from("localhost").expect("name");
                            let s = tls.connect(name, tcp).await.expect("TLS handshake");
                            get_loop(s, end).await
                        }
                        None => get_loop(tcp, end).await,
                    }
                }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await.expect("load task");
            }
            (total, start.elapsed().as_secs_f64())
        });
        (
            n,
            secs,
            common::rusage_cpu_ns(libc::RUSAGE_THREAD).saturating_sub(cpu0) as f64 / 1e9,
        )
    })
    .join()
    .expect("load thread")
}

/// GETs on `s` until `end`, reading each whole response; the count.
async fn get_loop<S>(mut s: S, end: std::time::Instant) -> u64
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    let mut done = 0u64;
    while std::time::Instant::now() < end {
        s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            .await
            .expect("send");
        s.flush().await.expect("flush");
        // Read one response: headers, then content-length.
        let mut have = 0;
        loop {
            let n = s.read(&mut buf[have..]).await.expect("recv");
            assert!(n > 0, "the server closed");
            have += n;
            let Some(h) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
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
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// One measured run.
struct Sample {
    repeat: usize,
    kind: String,
    conns: usize,
    secs: f64,
    requests: u64,
    server_cpu_ns: u64,
    /// The load generator's CPU time over the window (s).
    load_cpu: f64,
}

impl Sample {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    fn cpu_us_per_req(&self) -> f64 {
        self.server_cpu_ns as f64 / 1e3 / self.requests.max(1) as f64
    }
    /// The share of CPU 1 the load generator used (1.0: all of it).
    fn load_busy(&self) -> f64 {
        self.load_cpu / self.secs
    }
    /// The share of CPU 0 the server used.
    fn server_busy(&self) -> f64 {
        self.server_cpu_ns as f64 / 1e9 / self.secs
    }
}

fn wall_clock(kinds: &[String], repeats: usize, secs: f64, conns: &[usize]) -> Vec<Sample> {
    let mut samples = Vec::new();
    for r in 0..repeats {
        for &c in conns {
            for i in 0..kinds.len() {
                let kind = &kinds[(i + r) % kinds.len()];
                let server = Server::start(kind, &[]);
                load(&server, c, 1.0);
                let c0 = server.cpu_ns();
                let (requests, secs, load_cpu) = load(&server, c, secs);
                let c1 = server.cpu_ns();
                let s = Sample {
                    repeat: r,
                    kind: kind.clone(),
                    conns: c,
                    secs,
                    requests,
                    server_cpu_ns: c1.saturating_sub(c0),
                    load_cpu,
                };
                eprintln!(
                    "repeat {r} x{c:<3} {kind:>14}: {:>9.0} req/s, server CPU {:>6.2} us/req, busy: server {:>3.0}%, load {:>3.0}%",
                    s.rps(),
                    s.cpu_us_per_req(),
                    s.server_busy() * 100.0,
                    s.load_busy() * 100.0
                );
                samples.push(s);
            }
        }
    }
    samples
}

/// The samples of `kind` with `conns` connections, by repeat.
fn cell<'a>(samples: &'a [Sample], kind: &str, conns: usize) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.kind == kind && s.conns == conns)
        .collect()
}

/// The median over repeats of `f(kind) / f(base)`, as `0.987×` (`–`
/// where the base did not run).
fn paired(
    samples: &[Sample],
    kind: &str,
    base: &str,
    conns: usize,
    f: fn(&Sample) -> f64,
) -> String {
    let (a, b) = (cell(samples, kind, conns), cell(samples, base, conns));
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .filter_map(|x| Some((f(x), f(b.iter().find(|y| y.repeat == x.repeat)?))))
        .collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    common::paired_ratio(&xs, &ys).map_or("–".into(), |r| format!("{r:.3}×"))
}

/// The markdown table, the CSV and the chart.
fn report(samples: &[Sample], kinds: &[String], conns: &[usize], load: &str) -> [String; 3] {
    let mut table = format!(
        "{load}, {} repeats, server on CPU 0, load on CPU 1; ratios are paired, to tokio (HTTP) or tokio-https (HTTPS)\n",
        samples.iter().map(|s| s.repeat + 1).max().unwrap_or(0)
    );
    table.push_str("| server | conns | req/s (median) | spread | server CPU/req | req/s vs base | CPU/req vs base | server busy | load busy |\n");
    table.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for &c in conns {
        for k in kinds {
            let xs = cell(samples, k, c);
            let rps: Vec<f64> = xs.iter().map(|s| s.rps()).collect();
            let cpu: Vec<f64> = xs.iter().map(|s| s.cpu_us_per_req()).collect();
            let (Some(r), Some(u)) = (common::summarize(&rps), common::summarize(&cpu)) else {
                continue;
            };
            let base = base_of(k);
            let median = |f: fn(&Sample) -> f64| {
                let v: Vec<f64> = xs.iter().map(|s| f(s)).collect();
                common::summarize(&v).map_or(0.0, |m| m.median * 100.0)
            };
            let _ = writeln!(
                table,
                "| {k} | {c} | {:.0} | {:.0}% | {:.2} µs | {} | {} | {:.0}% | {:.0}% |",
                r.median,
                r.spread_pct(),
                u.median,
                paired(samples, k, base, c, Sample::rps),
                paired(samples, k, base, c, Sample::cpu_us_per_req),
                median(Sample::server_busy),
                median(Sample::load_busy),
            );
        }
    }
    let mut csv = String::from(
        "repeat,server,protocol,conns,secs,requests,req_per_s,server_cpu_us_per_req,server_busy,load_busy\n",
    );
    for s in samples {
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.3},{},{:.0},{:.3},{:.3},{:.3}",
            s.repeat,
            s.kind,
            if is_https(&s.kind) { "https" } else { "http" },
            s.conns,
            s.secs,
            s.requests,
            s.rps(),
            s.cpu_us_per_req(),
            s.server_busy(),
            s.load_busy()
        );
    }
    [table, csv, svg(samples, kinds, conns)]
}

/// Rows req/s and server CPU per request, columns HTTP and HTTPS, a line
/// per runtime (`coring-https` is `coring`'s line in the HTTPS column).
fn svg(samples: &[Sample], kinds: &[String], conns: &[usize]) -> String {
    let runtime = |k: &str| k.strip_suffix("-https").unwrap_or(k).to_string();
    let mut series: Vec<String> = Vec::new();
    for k in kinds {
        if !series.contains(&runtime(k)) {
            series.push(runtime(k));
        }
    }
    let names: Vec<&str> = series.iter().map(String::as_str).collect();
    let cols = ["HTTP".to_string(), "HTTPS".to_string()];
    let grid = chart::Grid {
        title: "hyper hello-world, 1 server core: coring vs tokio (medians)",
        rows: &["requests/s", "server CPU µs per request"],
        cols: &cols,
        xs: conns,
        x_label: "connections",
        series: &names,
        bold: "coring",
    };
    type Metric = fn(&Sample) -> f64;
    let metrics: [Metric; 2] = [Sample::rps, Sample::cpu_us_per_req];
    grid.svg(|row, col, k, c| {
        let kind = match col {
            0 => series[k].clone(),
            _ => format!("{}-https", series[k]),
        };
        let v: Vec<f64> = cell(samples, &kind, c)
            .into_iter()
            .map(metrics[row])
            .collect();
        common::summarize(&v).map(|s| s.median)
    })
}

/// The instruction total of a callgrind dump.
fn callgrind_total(dump: &str) -> u64 {
    let text = std::fs::read_to_string(dump).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
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
    println!(
        "\n{conns} connections; windows of {secs} s and {} s",
        2.0 * secs
    );
    println!("| server | requests (S, 2S) | instructions/request | without connection set-up |");
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
        load(&server, conns, 2.0);
        let quiet = |args: &[&str]| {
            Command::new("callgrind_control")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        // Two windows, each with its load's own connections (and TLS
        // handshakes): their difference is the steady cost per request.
        let mut windows = Vec::new();
        for (i, len) in [secs, 2.0 * secs].into_iter().enumerate() {
            assert!(quiet(&["-z", &pid]), "callgrind_control -z");
            let (n, _, _) = load(&server, conns, len);
            assert!(quiet(&["-d", &pid]), "callgrind_control -d");
            windows.push((n, callgrind_total(&format!("{dir}/{kind}.{pid}.{}", i + 1))));
        }
        drop(server);
        let [(n1, ir1), (n2, ir2)] = [windows[0], windows[1]];
        // The difference is only as good as the second window's extra
        // requests: flag it when the rate moved between the windows.
        let steady = ir2.saturating_sub(ir1) as f64 / n2.saturating_sub(n1).max(1) as f64;
        let doubtful = if 2 * n2 < 3 * n1 { " (rate moved)" } else { "" };
        println!(
            "| {kind} | {n1}, {n2} | {:.0} | {steady:.0}{doubtful} |",
            ir2 as f64 / n2.max(1) as f64,
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
    let conns: Vec<usize> = opt("--conns")
        .unwrap_or_else(|| "16,64,256".into())
        .split(',')
        .map(|c| c.trim().parse().expect("--conns: a list of numbers"))
        .collect();
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
        callgrind(&kinds, secs.max(5.0), conns[0]);
        return;
    }
    let samples = wall_clock(&kinds, repeats, secs, &conns);
    let load = match RAW_LOAD.load(std::sync::atomic::Ordering::Relaxed) {
        true => "raw load generator",
        false => "wrk -t1",
    };
    let [table, csv, svg] = report(&samples, &kinds, &conns, load);
    println!("\n{table}");
    let out = opt("--out").unwrap_or_else(chart::default_out);
    let docs = args.iter().any(|a| a == "--docs");
    let files = [
        ("http.csv", &*csv),
        ("http.svg", &*svg),
        ("http.txt", &*table),
    ];
    if let Err(e) = chart::write_outputs(&out, docs, &files) {
        eprintln!("http bench: {e}");
        std::process::exit(1);
    }
}
