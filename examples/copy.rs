//! `copy`: copies a file with reads ahead and writes behind, through the
//! page cache or, with `--direct`, with O_DIRECT on both ends.
//!
//! ```text
//! cargo run --release --example copy -- [--direct] SRC DST
//! ```
use coring::buf::AlignedBuf;
use coring::fs::{OpenOptions, SeqReader, SeqWriter};
use std::time::Instant;

const CHUNK: usize = 1 << 20;

fn main() -> std::io::Result<()> {
    let mut direct = false;
    let mut paths = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--direct" => direct = true,
            _ => paths.push(a),
        }
    }
    let [src, dst] = <[String; 2]>::try_from(paths).unwrap_or_else(|_| {
        eprintln!("usage: copy [--direct] SRC DST");
        std::process::exit(2)
    });
    coring::start(async move {
        eprintln!("coring backend: {}", coring::backend());
        let t0 = Instant::now();
        let input = OpenOptions::new()
            .read(true)
            .direct(direct)
            .open(&src)
            .await?;
        let len = input.metadata().await?.len();
        let output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .direct(direct)
            .open(&dst)
            .await?;
        let mut r = SeqReader::new(&input, 0, 4, || AlignedBuf::new(CHUNK, 4096));
        let mut w = SeqWriter::new(&output, 0, 4);
        while let Some((n, mut buf)) = r.next().await? {
            if direct && n % 4096 != 0 {
                // O_DIRECT writes whole blocks: pad the tail, trim below.
                buf.set_len(n.next_multiple_of(4096));
                buf[n..].fill(0);
            } else {
                buf.set_len(n);
            }
            w.write(buf).await?;
            if let Some(b) = w.take_buf() {
                r.recycle(b);
            }
        }
        w.finish().await?;
        if output.metadata().await?.len() != len {
            output.set_len(len).await?;
        }
        output.sync_all().await?;
        let secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "copied {len} bytes in {secs:.3} s ({:.0} MB/s){}",
            len as f64 / secs / 1e6,
            if direct { ", O_DIRECT" } else { "" }
        );
        Ok::<_, std::io::Error>(())
    })?
}
