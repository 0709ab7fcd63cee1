//! Medians, ratios, the stdout table, the CSV and the SVG chart.

use crate::common::chart;
use crate::Sample;
use std::fmt::Write as _;

/// Median, min and max of `v` (NaNs dropped).
pub fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    let med = if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    };
    Some((med, s[0], s[s.len() - 1]))
}

fn cell<'a>(
    samples: &'a [Sample],
    kind: &'a str,
    size: usize,
    conns: usize,
) -> impl Iterator<Item = &'a Sample> + 'a {
    samples
        .iter()
        .filter(move |s| s.kind == kind && s.size == size && s.conns == conns)
}

/// Median over repeats of `f(a) / f(b)`, pairing the two contenders'
/// samples of the same repeat.
fn paired(
    samples: &[Sample],
    a: &str,
    b: &str,
    size: usize,
    conns: usize,
    f: fn(&Sample) -> f64,
) -> Option<f64> {
    let r: Vec<f64> = cell(samples, a, size, conns)
        .filter_map(|x| {
            let y = cell(samples, b, size, conns).find(|y| y.repeat == x.repeat)?;
            Some(f(x) / f(y))
        })
        .collect();
    stats(&r).map(|s| s.0)
}

pub fn report(
    samples: &[Sample],
    kinds: &[&'static str],
    sizes: &[usize],
    conns: &[usize],
    out: &str,
    docs: bool,
) -> Result<(), String> {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<11} {:>6} {:>5}  {:>10} {:>7}  {:>8} {:>7}  {:>7} {:>6}  {:>8} {:>8}",
        "runtime",
        "size",
        "conns",
        "req/s",
        "spread",
        "us/req",
        "spread",
        "srv%",
        "load%",
        "rps/c",
        "cpu/c"
    );
    for &size in sizes {
        for &c in conns {
            for &k in kinds {
                let xs: Vec<&Sample> = cell(samples, k, size, c).collect();
                let rps = stats(&xs.iter().map(|s| s.rps()).collect::<Vec<_>>());
                let cpu = stats(&xs.iter().map(|s| s.cpu_us_per_req()).collect::<Vec<_>>());
                let srv = stats(&xs.iter().map(|s| s.server_busy()).collect::<Vec<_>>());
                let load = stats(&xs.iter().map(|s| s.load_busy()).collect::<Vec<_>>());
                let (Some(rps), Some(cpu)) = (rps, cpu) else {
                    continue;
                };
                let spread = |s: (f64, f64, f64)| (s.2 - s.1) / s.0 * 100.0;
                let vs = |f: fn(&Sample) -> f64| {
                    if k == "coring" {
                        "-".to_string()
                    } else {
                        paired(samples, "coring", k, size, c, f)
                            .map_or("n/a".into(), |r| format!("{r:.2}x"))
                    }
                };
                let _ = writeln!(
                    table,
                    "{:<11} {:>6} {:>5}  {:>10.0} {:>6.0}%  {:>8.2} {:>6.0}%  {:>6.0}% {:>5.0}%  {:>8} {:>8}",
                    k,
                    size,
                    c,
                    rps.0,
                    spread(rps),
                    cpu.0,
                    spread(cpu),
                    srv.map_or(0.0, |s| s.0),
                    load.map_or(0.0, |s| s.0),
                    vs(Sample::rps),
                    vs(Sample::cpu_us_per_req),
                );
            }
            table.push('\n');
        }
    }
    println!(
        "TCP echo, medians; rps/c and cpu/c are coring/that runtime (median of per-repeat ratios)"
    );
    print!("{table}");

    let mut csv = String::from(
        "repeat,runtime,size,conns,secs,requests,req_per_s,server_cpu_us_per_req,server_busy_pct,load_busy_pct\n",
    );
    for s in samples {
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.3},{},{:.0},{:.3},{:.1},{:.1}",
            s.repeat,
            s.kind,
            s.size,
            s.conns,
            s.secs,
            s.requests,
            s.rps(),
            s.cpu_us_per_req(),
            s.server_busy(),
            s.load_busy()
        );
    }
    let svg = svg(samples, kinds, sizes, conns);
    chart::write_outputs(
        out,
        docs,
        &[
            ("net_echo.csv", &csv),
            ("net_echo.svg", &svg),
            ("net_echo.txt", &table),
        ],
    )
}

/// A 2×2 grid: rows req/s and server CPU µs per request, columns the
/// message sizes; x is the connection count, one line per runtime.
fn svg(samples: &[Sample], kinds: &[&str], sizes: &[usize], conns: &[usize]) -> String {
    type Metric = fn(&Sample) -> f64;
    let metrics: [Metric; 2] = [Sample::rps, Sample::cpu_us_per_req];
    let cols: Vec<String> = sizes.iter().map(|s| format!("{s} B messages")).collect();
    let grid = chart::Grid {
        title: "TCP echo, 1 server core: coring vs peers (medians)",
        rows: &["requests/s", "server CPU µs per request"],
        cols: &cols,
        xs: conns,
        x_label: "connections",
        series: kinds,
        bold: "coring",
    };
    grid.svg(|row, col, k, c| {
        let v: Vec<f64> = cell(samples, kinds[k], sizes[col], c)
            .map(metrics[row])
            .collect();
        stats(&v).map(|m| m.0)
    })
}
