//! Medians, ratios, the stdout table, the CSV and the SVG chart.

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
    let mut dirs = vec![out.to_string()];
    if docs {
        dirs.push(workspace_root().join("docs").display().to_string());
    }
    for d in dirs {
        std::fs::create_dir_all(&d).map_err(|e| format!("{d}: {e}"))?;
        for (name, body) in [
            ("net_echo.csv", &csv),
            ("net_echo.svg", &svg),
            ("net_echo.txt", &table),
        ] {
            let p = format!("{d}/{name}");
            std::fs::write(&p, body).map_err(|e| format!("{p}: {e}"))?;
        }
        eprintln!("wrote {d}/net_echo.{{csv,svg,txt}}");
    }
    Ok(())
}

const COLORS: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// A 2×2 grid: rows req/s and server CPU µs per request, columns the
/// message sizes; x is the connection count, one line per runtime.
fn svg(samples: &[Sample], kinds: &[&str], sizes: &[usize], conns: &[usize]) -> String {
    let (pw, ph, ml, mt, gap) = (420.0, 260.0, 70.0, 50.0, 60.0);
    let cols = sizes.len().max(1) as f64;
    let width = ml + cols * (pw + gap) + 40.0;
    let height = mt + 2.0 * (ph + gap) + 60.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{ml}" y="24" font-size="16">TCP echo, 1 server core: coring vs peers (medians)</text>"#
    );
    type Metric = (&'static str, fn(&Sample) -> f64);
    let metrics: [Metric; 2] = [
        ("requests/s", Sample::rps),
        ("server CPU µs per request", Sample::cpu_us_per_req),
    ];
    for (row, (label, f)) in metrics.iter().enumerate() {
        for (col, &size) in sizes.iter().enumerate() {
            let x0 = ml + col as f64 * (pw + gap);
            let y0 = mt + row as f64 * (ph + gap);
            let med = |k: &str, c: usize| {
                stats(&cell(samples, k, size, c).map(f).collect::<Vec<_>>()).map(|m| m.0)
            };
            let ymax = kinds
                .iter()
                .flat_map(|k| conns.iter().filter_map(move |&c| med(k, c)))
                .fold(0.0f64, f64::max)
                * 1.1;
            let ymax = if ymax > 0.0 { ymax } else { 1.0 };
            let _ = writeln!(
                s,
                r##"<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{label}, {size} B messages</text>"#,
                x0 + pw / 2.0,
                y0 - 8.0
            );
            for t in 0..=4 {
                let v = ymax * t as f64 / 4.0;
                let y = y0 + ph - ph * t as f64 / 4.0;
                let txt = if ymax > 1000.0 {
                    format!("{:.0}k", v / 1e3)
                } else {
                    format!("{v:.1}")
                };
                let _ = writeln!(
                    s,
                    r##"<line x1="{x0}" x2="{}" y1="{y}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{txt}</text>"##,
                    x0 + pw,
                    x0 - 6.0,
                    y + 4.0
                );
            }
            let n = conns.len().max(2) as f64 - 1.0;
            let xat = |i: usize| x0 + 30.0 + (pw - 60.0) * i as f64 / n;
            for (i, c) in conns.iter().enumerate() {
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="middle">{c}</text>"#,
                    xat(i),
                    y0 + ph + 16.0
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">connections</text>"#,
                x0 + pw / 2.0,
                y0 + ph + 32.0
            );
            for (ki, k) in kinds.iter().enumerate() {
                let color = COLORS[ki % COLORS.len()];
                let pts: Vec<String> = conns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &c)| {
                        let v = med(k, c)?;
                        Some(format!("{:.1},{:.1}", xat(i), y0 + ph - ph * v / ymax))
                    })
                    .collect();
                let w = if *k == "coring" { 3 } else { 1.5 as i32 };
                let _ = writeln!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="{w}" points="{}"/>"#,
                    pts.join(" ")
                );
                for p in &pts {
                    let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                    let _ = writeln!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>"#);
                }
            }
        }
    }
    let ly = height - 24.0;
    for (ki, k) in kinds.iter().enumerate() {
        let x = ml + ki as f64 * 130.0;
        let color = COLORS[ki % COLORS.len()];
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{}" width="14" height="14" fill="{color}"/><text x="{}" y="{ly}">{k}</text>"#,
            ly - 11.0,
            x + 20.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The workspace's root folder: this bench package is its `benches/`.
/// (`cargo bench` runs a bench in its package's folder, not the root.)
fn workspace_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench package lives inside the workspace")
}

/// The default output folder: `bench-results` in the target directory.
pub fn default_out() -> String {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), Into::into)
        .join("bench-results")
        .display()
        .to_string()
}
