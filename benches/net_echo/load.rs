//! The load generator: one thread, one raw io_uring ring, `conns`
//! connections each sending a message and receiving its echo in full
//! before sending the next (a closed loop). Cheap per request, so the
//! server is what is measured.

use io_uring::{cqueue, opcode, types, IoUring};
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// When a phase ends.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    Time(Duration),
    Requests(u64),
}

/// One load run: connect, warm up, measure, drain, close.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub conns: usize,
    pub size: usize,
    pub warm: Until,
    pub measure: Until,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub requests: u64,
    pub elapsed: Duration,
    /// CPU time of this (load) thread in the window.
    pub load_cpu_ns: u64,
}

const SEND: u64 = 0;
const RECV: u64 = 1;

struct Conn {
    stream: TcpStream,
    out: Box<[u8]>,
    inp: Box<[u8]>,
    sent: usize,
    got: usize,
}

/// Runs the load; `on_start` and `on_end` run at the window's edges.
pub fn run(
    cfg: &Config,
    mut on_start: impl FnMut(),
    mut on_end: impl FnMut(),
) -> Result<Outcome, String> {
    let mut conns = connect(cfg).map_err(|e| format!("connect: {e}"))?;
    let entries = (2 * cfg.conns + 8).next_power_of_two().min(32768) as u32;
    let mut ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(entries)
        .or_else(|_| IoUring::new(entries))
        .map_err(|e| format!("io_uring: {e}"))?;
    for (i, c) in conns.iter_mut().enumerate() {
        push_send(&mut ring, c, i)?;
    }
    let mut phase = 0; // 0 warm, 1 measure, 2 drain
    let mut count = 0u64;
    let mut in_flight = conns.len();
    let mut t_start = Instant::now();
    let mut cpu_start = 0;
    let mut outcome = None;
    let mut phase_start = Instant::now();
    let mut cqes = Vec::with_capacity(entries as usize);
    let drain_deadline = Duration::from_secs(5);
    while in_flight > 0 {
        ring.submit_and_wait(1).map_err(|e| format!("enter: {e}"))?;
        cqes.clear();
        cqes.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(ud, res, flags) in &cqes {
            let _ = cqueue::more(flags);
            let (i, kind) = ((ud >> 1) as usize, ud & 1);
            let c = &mut conns[i];
            if res <= 0 {
                return Err(format!(
                    "connection {i}: {} returned {res} ({})",
                    if kind == SEND { "send" } else { "recv" },
                    io::Error::from_raw_os_error(-res.min(0))
                ));
            }
            let n = res as usize;
            if kind == SEND {
                c.sent += n;
                if c.sent < c.out.len() {
                    push_send(&mut ring, c, i)?;
                } else {
                    push_recv(&mut ring, c, i)?;
                }
                continue;
            }
            c.got += n;
            if c.got < c.out.len() {
                push_recv(&mut ring, c, i)?;
                continue;
            }
            if c.inp[0] != c.out[0] || c.inp[c.got - 1] != c.out[c.got - 1] {
                return Err(format!("connection {i}: echo differs from what was sent"));
            }
            count += 1;
            if phase == 2 {
                in_flight -= 1;
            } else {
                push_send(&mut ring, c, i)?;
            }
        }
        // Phase changes, checked once per batch of completions.
        let done = |until: Until, count: u64, since: Instant| match until {
            Until::Time(d) => since.elapsed() >= d,
            Until::Requests(n) => count >= n,
        };
        if phase == 0 && done(cfg.warm, count, phase_start) {
            phase = 1;
            on_start();
            count = 0;
            cpu_start = thread_cpu_ns();
            t_start = Instant::now();
            phase_start = t_start;
        } else if phase == 1 && done(cfg.measure, count, phase_start) {
            let elapsed = t_start.elapsed();
            on_end();
            outcome = Some(Outcome {
                requests: count,
                elapsed,
                load_cpu_ns: thread_cpu_ns().saturating_sub(cpu_start),
            });
            phase = 2;
            phase_start = Instant::now();
        } else if phase == 2 && phase_start.elapsed() > drain_deadline {
            // Buffers stay alive (leaked) for any op still in the ring.
            std::mem::forget(conns);
            return Err("echoes did not come back within 5 s".into());
        }
    }
    drop(ring);
    drop(conns);
    outcome.ok_or_else(|| "no measurement".into())
}

fn connect(cfg: &Config) -> io::Result<Vec<Conn>> {
    (0..cfg.conns)
        .map(|i| {
            let stream = TcpStream::connect(("127.0.0.1", cfg.port))?;
            stream.set_nodelay(true)?;
            let out: Box<[u8]> = (0..cfg.size).map(|j| (i + j) as u8).collect();
            Ok(Conn {
                stream,
                inp: vec![0; cfg.size].into_boxed_slice(),
                out,
                sent: 0,
                got: 0,
            })
        })
        .collect()
}

fn push(ring: &mut IoUring, sqe: &io_uring::squeue::Entry) -> Result<(), String> {
    loop {
        // SAFETY: the SQE points into a Conn's boxed buffers, which live
        // until every op is drained (or are leaked).
        if unsafe { ring.submission().push(sqe) }.is_ok() {
            return Ok(());
        }
        ring.submit().map_err(|e| format!("submit: {e}"))?;
    }
}

fn push_send(ring: &mut IoUring, c: &mut Conn, i: usize) -> Result<(), String> {
    if c.sent >= c.out.len() {
        c.sent = 0;
        c.got = 0;
    }
    let rest = &c.out[c.sent..];
    let sqe = opcode::Send::new(
        types::Fd(c.stream.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data((i as u64) << 1 | SEND);
    push(ring, &sqe)
}

fn push_recv(ring: &mut IoUring, c: &mut Conn, i: usize) -> Result<(), String> {
    let rest = &mut c.inp[c.got..];
    let sqe = opcode::Recv::new(
        types::Fd(c.stream.as_raw_fd()),
        rest.as_mut_ptr(),
        rest.len() as u32,
    )
    .build()
    .user_data((i as u64) << 1 | RECV);
    push(ring, &sqe)
}

/// CPU time of the calling thread (RUSAGE_THREAD), in nanoseconds.
fn thread_cpu_ns() -> u64 {
    crate::common::rusage_cpu_ns(libc::RUSAGE_THREAD)
}
