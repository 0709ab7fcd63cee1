//! The benches' SVG charts (a grid of line plots, one line per contender)
//! and where their CSV and SVG files go.

use std::fmt::Write as _;

/// A grid of panels: a row per metric, a column per workload; in each
/// panel x is `xs` (e.g. connection counts, evenly spaced) and there is one
/// line per series.
pub struct Grid<'a> {
    /// The chart's title, above the panels.
    pub title: &'a str,
    /// The metric of each row, e.g. "requests/s".
    pub rows: &'a [&'a str],
    /// The workload of each column, e.g. "64 B messages".
    pub cols: &'a [String],
    /// The x values, the same in every panel.
    pub xs: &'a [usize],
    /// What x is, e.g. "connections".
    pub x_label: &'a str,
    /// The lines, in legend order.
    pub series: &'a [&'a str],
    /// The series drawn thicker (coring).
    pub bold: &'a str,
}

const COLORS: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

impl Grid<'_> {
    /// The chart as SVG. `value(row, col, series, x)` is the point to
    /// draw (a median), `None` where there is none: a series with no point
    /// in a panel has no line there.
    pub fn svg(&self, value: impl Fn(usize, usize, usize, usize) -> Option<f64>) -> String {
        let (pw, ph, ml, mt, gap) = (420.0, 260.0, 70.0, 50.0, 60.0);
        let cols = self.cols.len().max(1) as f64;
        let width = ml + cols * (pw + gap) + 40.0;
        let height = mt + self.rows.len() as f64 * (ph + gap) + 60.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{ml}" y="24" font-size="16">{}</text>"#,
            self.title
        );
        for (row, label) in self.rows.iter().enumerate() {
            for (col, workload) in self.cols.iter().enumerate() {
                let x0 = ml + col as f64 * (pw + gap);
                let y0 = mt + row as f64 * (ph + gap);
                let at = |k: usize, i: usize| value(row, col, k, self.xs[i]);
                self.panel(
                    &mut s,
                    (x0, y0, pw, ph),
                    &format!("{label}, {workload}"),
                    at,
                );
            }
        }
        let ly = height - 24.0;
        for (k, name) in self.series.iter().enumerate() {
            let x = ml + k as f64 * 130.0;
            let color = COLORS[k % COLORS.len()];
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{}" width="14" height="14" fill="{color}"/><text x="{}" y="{ly}">{name}</text>"#,
                ly - 11.0,
                x + 20.0
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// One panel at `(x0, y0, width, height)`; `at(series, x index)`.
    fn panel(
        &self,
        s: &mut String,
        (x0, y0, pw, ph): (f64, f64, f64, f64),
        title: &str,
        at: impl Fn(usize, usize) -> Option<f64>,
    ) {
        let n = self.xs.len();
        let ymax = (0..self.series.len())
            .flat_map(|k| (0..n).map(move |i| (k, i)))
            .filter_map(|(k, i)| at(k, i))
            .fold(0.0f64, f64::max)
            * 1.1;
        let ymax = if ymax > 0.0 { ymax } else { 1.0 };
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{title}</text>"#,
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
        let steps = n.max(2) as f64 - 1.0;
        let xat = |i: usize| x0 + 30.0 + (pw - 60.0) * i as f64 / steps;
        for (i, x) in self.xs.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{x}</text>"#,
                xat(i),
                y0 + ph + 16.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x0 + pw / 2.0,
            y0 + ph + 32.0,
            self.x_label
        );
        for (k, name) in self.series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let pts: Vec<(f64, f64)> = (0..n)
                .filter_map(|i| Some((xat(i), y0 + ph - ph * at(k, i)? / ymax)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let w = if *name == self.bold { 3.0 } else { 1.5 };
            let line: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-width="{w}" points="{}"/>"#,
                line.join(" ")
            );
            for (x, y) in pts {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/>"#
                );
            }
        }
    }
}

/// The workspace's root folder: this bench package is its `benches/`.
/// (`cargo bench` runs a bench in its package's folder, not the root.)
pub fn workspace_root() -> &'static std::path::Path {
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

/// Writes each `(name, contents)` into `out`, and into the workspace's
/// `docs/` too when `docs` is set; says where on stderr.
pub fn write_outputs(out: &str, docs: bool, files: &[(&str, &str)]) -> Result<(), String> {
    let mut dirs = vec![out.to_string()];
    if docs {
        dirs.push(workspace_root().join("docs").display().to_string());
    }
    for d in dirs {
        std::fs::create_dir_all(&d).map_err(|e| format!("{d}: {e}"))?;
        for (name, body) in files {
            let p = format!("{d}/{name}");
            std::fs::write(&p, body).map_err(|e| format!("{p}: {e}"))?;
            eprintln!("wrote {p}");
        }
    }
    Ok(())
}
