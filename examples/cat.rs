//! `cat`: prints files to stdout, reading with read-ahead through the ring.
//!
//! ```text
//! cargo run --release --example cat -- FILE...
//! ```
use coring::fs::{File, SeqReader};
use std::io::Write;

fn main() -> std::io::Result<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: cat FILE...");
        std::process::exit(2);
    }
    coring::start(async move {
        eprintln!("coring backend: {}", coring::backend());
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for p in &paths {
            let f = File::open(p)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("{p}: {e}")))?;
            let mut r = SeqReader::new(&f, 0, 4, || Ok(Vec::with_capacity(256 << 10)));
            while let Some((n, buf)) = r.next().await? {
                out.write_all(&buf[..n])?;
                r.recycle(buf);
            }
        }
        out.flush()
    })?
}
