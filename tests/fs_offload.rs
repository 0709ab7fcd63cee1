//! `OpenOptions::offload` / `File::set_offload`: reads and writes go to
//! the kernel's io-wq workers (IOSQE_ASYNC), with the same results.
//!
//! One test function, so that no other runtime of this process makes io-wq
//! workers meanwhile: the check is that page-cache reads create none
//! without the option and do with it.

mod support;

use coring::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

fn tmp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("coring-offload-{}-{tag}", std::process::id()))
}

/// How many io-wq worker threads (`iou-wrk-*`) this process has.
fn io_wq_workers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|n| n.starts_with("iou-wrk"))
        .count()
}

/// Opens `path` read-only (offloaded or not), reads it back in 1 KiB
/// blocks, checks the bytes, and returns the io-wq workers seen after.
fn read_back(path: &Path, data: &[u8], offload: bool) -> usize {
    let (path, data) = (path.to_path_buf(), data.to_vec());
    coring::start(async move {
        let f = OpenOptions::new()
            .read(true)
            .offload(offload)
            .open(&path)
            .await
            .expect("open");
        assert_eq!(f.offload(), offload, "the option reached the file");
        for i in 0..data.len() / 1024 {
            let (res, buf) = f.read_exact_at(vec![0u8; 1024], i as u64 * 1024).await;
            res.expect("read_exact_at");
            assert_eq!(buf[..], data[i * 1024..][..1024], "block {i}");
        }
        io_wq_workers()
    })
    .expect("runtime")
}

#[test]
fn offload_sends_file_io_to_io_wq_workers() {
    if support::skip_on_epoll("io-wq offload") {
        return;
    }
    let path = tmp("rw");
    let data: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &data).expect("write the file");

    // Page-cache reads complete inline: no worker.
    let plain = read_back(&path, &data, false);
    assert_eq!(plain, 0, "plain page-cache reads made io-wq workers");
    // With the option, the same reads run on workers.
    let offloaded = read_back(&path, &data, true);
    assert!(offloaded > 0, "offloaded reads made no io-wq worker");

    // Writes through an offloaded file land, and the switch works on an
    // open file and its clones.
    let p = path.clone();
    coring::start(async move {
        let f = OpenOptions::new()
            .write(true)
            .offload(true)
            .open(&p)
            .await
            .expect("open for writing");
        let (res, _) = f.write_all_at(b"offloaded write".to_vec(), 100).await;
        res.expect("write_all_at");
        let g: File = f.clone();
        f.set_offload(false);
        assert!(!g.offload(), "every clone sees the switch");
        f.close().await.expect("close");
    })
    .expect("runtime");
    let back = std::fs::read(&path).expect("read back");
    assert_eq!(&back[100..115], b"offloaded write");
    assert_eq!(back[..100], data[..100]);
    std::fs::remove_file(&path).expect("remove");
}
