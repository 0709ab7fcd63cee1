//! Integrity: many concurrent writes at random offsets, `sync_all`, then
//! the file read back with std::fs, byte for byte against a model; the
//! same through O_DIRECT (skipped, with the reason printed, where the
//! filesystem refuses it), and through the bulk helpers.
// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod support;
use coring::buf::AlignedBuf;
use coring::fs::{self, File, OpenOptions, ReadMany, SeqReader, SeqWriter};
use futures_core::Stream;
use std::future::poll_fn;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;

fn tmp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("coring-fsint-{}-{tag}", std::process::id()))
}

/// A seeded xorshift64* generator (set CORING_SEED to replay a failure).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("CORING_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        eprintln!("seed {seed}");
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const BLOCK: usize = 4096;
const BLOCKS: usize = 1024; // 4 MiB

/// Random, non-overlapping writes (every block once, in random order, of
/// random length within the block), all in flight at once.
fn plan(rng: &mut Rng) -> Vec<(u64, Vec<u8>)> {
    let mut order: Vec<usize> = (0..BLOCKS).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    order
        .into_iter()
        .map(|b| {
            let start = rng.below(BLOCK as u64 / 2) as usize;
            let len = 1 + rng.below((BLOCK - start) as u64) as usize;
            let fill = rng.next() as u8;
            let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
            ((b * BLOCK + start) as u64, data)
        })
        .collect()
}

#[test]
fn concurrent_random_writes_sync_and_compare_with_std() {
    let p = tmp("random");
    let mut rng = Rng::new();
    let writes = plan(&mut rng);
    let mut model = vec![0u8; BLOCKS * BLOCK];
    for (off, d) in &writes {
        model[*off as usize..*off as usize + d.len()].copy_from_slice(d);
    }
    coring::start(async {
        let f = support::create_rw(&p).await;
        f.set_len((BLOCKS * BLOCK) as u64).await.unwrap();
        let tasks: Vec<_> = writes
            .into_iter()
            .map(|(off, d)| {
                let f = f.clone();
                coring::spawn(async move { f.write_all_at(d, off).await.0 })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        f.sync_all().await.unwrap();
        // Read back through coring too, with 64 reads in flight.
        let reqs = (0..BLOCKS).map(|b| ((b * BLOCK) as u64, Vec::with_capacity(BLOCK)));
        let mut s = ReadMany::new(&f, reqs, 64);
        let mut seen = 0;
        while let Some((off, (r, buf))) = poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
            assert_eq!(r.unwrap(), BLOCK);
            assert!(
                buf[..] == model[off as usize..off as usize + BLOCK],
                "block at {off}"
            );
            seen += 1;
        }
        assert_eq!(seen, BLOCKS);
        f.close().await.unwrap();
    })
    .unwrap();
    let on_disk = std::fs::read(&p).unwrap();
    assert_eq!(on_disk.len(), model.len());
    assert!(on_disk == model, "file differs from the model");
    std::fs::remove_file(&p).unwrap();
}

/// A disk-backed directory for O_DIRECT: the temp dir, else /var/tmp.
fn direct_dir() -> Option<PathBuf> {
    [std::env::temp_dir(), PathBuf::from("/var/tmp")]
        .into_iter()
        .find(|d| d.is_dir())
}

#[test]
fn o_direct_random_writes_sync_and_compare_with_std() {
    let Some(dir) = direct_dir() else {
        eprintln!("skipping: no directory for the O_DIRECT test");
        return;
    };
    let p = dir.join(format!("coring-fsint-{}-direct", std::process::id()));
    let mut rng = Rng::new();
    let mut model = vec![0u8; BLOCKS * BLOCK];
    let mut order: Vec<usize> = (0..BLOCKS).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let ok = coring::start(async {
        let f = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .direct(true)
            .open(&p)
            .await
        {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipping: {} refuses O_DIRECT: {e}", dir.display());
                return false;
            }
        };
        let align = f.dio_align().map_or(4096, |a| a.mem.max(a.offset) as usize);
        assert!(
            BLOCK % align == 0,
            "alignment {align} above the test's block"
        );
        let mut tasks = Vec::new();
        for &b in &order {
            let fill = rng.next() as u8;
            let mut buf = AlignedBuf::new(BLOCK, 4096).unwrap();
            buf.set_len(BLOCK);
            for (i, x) in buf.iter_mut().enumerate() {
                *x = fill ^ (i as u8);
            }
            model[b * BLOCK..(b + 1) * BLOCK].copy_from_slice(&buf);
            let f = f.clone();
            tasks.push(coring::spawn(async move {
                f.write_all_at(buf, (b * BLOCK) as u64).await.0
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        f.sync_all().await.unwrap();
        // Read back with O_DIRECT and read-ahead.
        let mut r = SeqReader::new(&f, 0, 8, || AlignedBuf::new(64 * 1024, 4096));
        let mut pos = 0usize;
        while let Some((n, buf)) = r.next().await.unwrap() {
            assert!(buf[..n] == model[pos..pos + n], "chunk at {pos}");
            pos += n;
            r.recycle(buf);
        }
        assert_eq!(pos, model.len());
        f.close().await.unwrap();
        true
    })
    .unwrap();
    if ok {
        let on_disk = std::fs::read(&p).unwrap();
        assert!(on_disk == model, "O_DIRECT file differs from the model");
    }
    let _ = std::fs::remove_file(&p);
}

#[test]
fn seq_writer_then_seq_reader_round_trip() {
    let p = tmp("seq");
    let data: Rc<Vec<u8>> = Rc::new((0..3_000_001u32).map(|i| (i * 7) as u8).collect());
    let d = data.clone();
    coring::start(async move {
        let f = File::create(&p).await.unwrap();
        let mut w = SeqWriter::new(&f, 0, 4);
        for chunk in d.chunks(100_000) {
            w.write(chunk.to_vec()).await.unwrap();
        }
        assert_eq!(w.finish().await.unwrap(), d.len() as u64);
        f.sync_all().await.unwrap();
        let f = File::open(&p).await.unwrap();
        let mut r = SeqReader::new(&f, 0, 4, || Ok(Vec::with_capacity(65536)));
        let mut got = Vec::new();
        while let Some((n, buf)) = r.next().await.unwrap() {
            got.extend_from_slice(&buf[..n]);
            r.recycle(buf);
        }
        assert!(got == *d);
        fs::remove_file(&p).await.unwrap();
    })
    .unwrap();
}
