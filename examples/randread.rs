//! `randread`: random 4 KiB reads over a file with N in flight, like a
//! small fio: prints IOPS, CPU per IO (process utime+stime) and latency
//! percentiles. `--offload` sends every read to the kernel's io-wq
//! workers (`File::set_offload`): more IOPS at more CPU on some devices
//! with O_DIRECT. O_DIRECT reads go to the kernel in groups of 4 anyway
//! (`Builder::device_batch`); `--batch N` makes the runtime submit every N
//! ops of any kind instead of once a turn (`Builder::submit_batch`), e.g.
//! for buffered reads of a file bigger than memory on a device that
//! dislikes bursts.
//!
//! ```text
//! cargo run --release --example randread -- PATH [--qd N] [--secs S] [--direct] [--offload] [--batch N] [--bs BYTES]
//! ```
use coring::buf::AlignedBuf;
use coring::fs::OpenOptions;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn cpu_secs() -> f64 {
    // /proc/self/stat fields 14 and 15: utime and stime in clock ticks
    // (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn usage() -> ! {
    eprintln!(
        "usage: randread PATH [--qd N] [--secs S] [--direct] [--offload] [--batch N] [--bs BYTES]"
    );
    std::process::exit(2)
}

fn main() -> std::io::Result<()> {
    let mut path = None;
    let (mut qd, mut secs, mut direct, mut bs) = (32usize, 5.0f64, false, 4096usize);
    let (mut offload, mut batch) = (false, 0u32);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--qd" => qd = num() as usize,
            "--secs" => secs = num(),
            "--bs" => bs = num() as usize,
            "--direct" => direct = true,
            "--offload" => offload = true,
            "--batch" => batch = num() as u32,
            _ if path.is_none() && !a.starts_with("--") => path = Some(a),
            _ => usage(),
        }
    }
    let path = path.unwrap_or_else(|| usage());
    let qd = qd.max(1);
    let rt = coring::Builder::new().submit_batch(batch).build()?;
    eprintln!("coring backend: {}", rt.backend());
    rt.block_on(async move {
        let f = OpenOptions::new()
            .read(true)
            .direct(direct)
            .offload(offload)
            .open(&path)
            .await?;
        let blocks = f.metadata().await?.len() / bs as u64;
        if blocks == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{path} is smaller than one {bs}-byte block"),
            ));
        }
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let lat: Rc<RefCell<Vec<u32>>> = Rc::default();
        let (c0, t0) = (cpu_secs(), Instant::now());
        let tasks: Vec<_> = (0..qd)
            .map(|t| {
                let (f, lat) = (f.clone(), lat.clone());
                coring::spawn(async move {
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                    let mut buf = AlignedBuf::new(bs, 4096)?;
                    while Instant::now() < deadline {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let start = Instant::now();
                        let (r, b) = f.read_at(buf, x % blocks * bs as u64).await;
                        r?;
                        buf = b;
                        let ns = start.elapsed().as_nanos().min(u32::MAX as u128) as u32;
                        lat.borrow_mut().push(ns);
                    }
                    Ok::<_, std::io::Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_secs() - c0);
        let mut lat = lat.take();
        lat.sort_unstable();
        let n = lat.len().max(1);
        let pct = |p: f64| {
            lat.get(((n as f64 * p) as usize).min(n - 1))
                .copied()
                .unwrap_or(0) as f64
                / 1000.0
        };
        println!(
            "{path}: {} reads of {bs} B, QD {qd}{}{}, {wall:.2} s",
            lat.len(),
            if direct { ", O_DIRECT" } else { "" },
            if batch > 0 {
                format!(", submit batch {batch}")
            } else {
                String::new()
            }
        );
        println!(
            "IOPS {:.0}  ({:.1} MB/s)",
            lat.len() as f64 / wall,
            lat.len() as f64 * bs as f64 / wall / 1e6
        );
        println!(
            "CPU per IO {:.2} us  (utime+stime {cpu:.2} s)",
            cpu / n as f64 * 1e6
        );
        println!(
            "latency us: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(0.999),
            pct(1.0)
        );
        Ok(())
    })
}
