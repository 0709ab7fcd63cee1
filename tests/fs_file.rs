//! coring::fs files and directories: the happy paths and the bad input
//! the fs issue lists (ENOENT, EISDIR, EEXIST, EBADF, past EOF, read-only
//! files, NUL in paths, misaligned O_DIRECT).
// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod support;
use coring::buf::{AlignedBuf, IoBuf};
use coring::fs::{self, File, FileType, OpenOptions};
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A unique path under the temp dir (never the working directory).
fn tmp(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("coring-fs-{}-{tag}-{n}", std::process::id()))
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    coring::start(f).expect("io_uring runtime")
}

#[test]
fn write_then_read_whole_file() {
    let p = tmp("whole");
    run(async {
        fs::write(&p, "hello, ring").await.unwrap();
        assert_eq!(fs::read(&p).await.unwrap(), b"hello, ring");
        // Bigger than the size hint's first buffer.
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        fs::write(&p, big.clone()).await.unwrap();
        assert_eq!(fs::read(&p).await.unwrap(), big);
        assert_eq!(std::fs::read(&p).unwrap(), big);
        fs::remove_file(&p).await.unwrap();
    });
}

#[test]
fn positioned_io_short_reads_and_eof() {
    let p = tmp("pos");
    run(async {
        let f = support::create_rw(&p).await;
        let (r, _) = f.write_all_at(b"0123456789".to_vec(), 0).await;
        r.unwrap();
        let (r, b) = f.read_at(Vec::with_capacity(4), 3).await;
        assert_eq!(r.unwrap(), 4);
        assert_eq!(b, b"3456");
        // Crossing the end: short, not an error.
        let (r, b) = f.read_at(Vec::with_capacity(100), 8).await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(b, b"89");
        // At and past the end: 0.
        let (r, _) = f.read_at(Vec::with_capacity(100), 10).await;
        assert_eq!(r.unwrap(), 0);
        let (r, _) = f.read_at(Vec::with_capacity(100), 1 << 40).await;
        assert_eq!(r.unwrap(), 0);
        // read_exact past the end: UnexpectedEof, with what was read.
        let (r, b) = f.read_exact_at(Vec::with_capacity(8), 6).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(b, b"6789");
        // A zero-length buffer reads 0 bytes.
        let (r, _) = f.read_at(Vec::new(), 0).await;
        assert_eq!(r.unwrap(), 0);
        // Vectored.
        let (r, bufs) = f
            .readv_at(vec![Vec::with_capacity(3), Vec::with_capacity(3)], 1)
            .await;
        assert_eq!(r.unwrap(), 6);
        assert_eq!(bufs, [b"123".to_vec(), b"456".to_vec()]);
        let (r, _) = f.writev_at(vec![b"ab".to_vec(), b"cd".to_vec()], 10).await;
        assert_eq!(r.unwrap(), 4);
        f.sync_data().await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123456789abcd");
        f.close().await.unwrap();
        fs::remove_file(&p).await.unwrap();
    });
}

#[test]
fn open_errors() {
    let dir = tmp("errs");
    run(async {
        let e = File::open(dir.join("missing")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        fs::create_dir(&dir).await.unwrap();
        // EISDIR: a directory opened for writing.
        let e = OpenOptions::new().write(true).open(&dir).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        // EISDIR: reading a directory.
        let d = File::open(&dir).await.unwrap();
        let (r, _) = d.read_at(Vec::with_capacity(16), 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        // EEXIST with create_new.
        let p = dir.join("f");
        fs::write(&p, "x").await.unwrap();
        let e = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        // EBADF: writing a read-only file, reading a write-only one.
        let ro = File::open(&p).await.unwrap();
        let (r, _) = ro.write_at(b"y".to_vec(), 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        let wo = OpenOptions::new().write(true).open(&p).await.unwrap();
        let (r, _) = wo.read_at(Vec::with_capacity(1), 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        // Contradictory options and NUL bytes: InvalidInput, no syscall.
        let e = OpenOptions::new().open(&p).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = OpenOptions::new()
            .read(true)
            .create(true)
            .open(&p)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = File::open("bad\0path").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = fs::remove_file("bad\0path").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        fs::remove_dir_all(&dir).await.unwrap();
    });
}

#[test]
fn directories_links_metadata() {
    let root = tmp("dirs");
    run(async {
        let deep = root.join("a/b/c");
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(&deep).await.unwrap(); // exists: fine
        assert!(fs::metadata(&deep).await.unwrap().is_dir());
        let e = fs::create_dir(&deep).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);

        let f = root.join("a/file");
        fs::write(&f, vec![1u8; 1234]).await.unwrap();
        let m = fs::metadata(&f).await.unwrap();
        assert!(m.is_file());
        assert_eq!(m.len(), 1234);
        assert_eq!(m.file_type(), FileType::File);
        assert!(m.modified().is_ok());
        let std_m = std::fs::metadata(&f).unwrap();
        assert_eq!(m.modified().unwrap(), std_m.modified().unwrap());

        fs::hard_link(&f, root.join("a/hard")).await.unwrap();
        assert_eq!(fs::metadata(&f).await.unwrap().nlink(), 2);
        fs::symlink("file", root.join("a/soft")).await.unwrap();
        assert!(fs::symlink_metadata(root.join("a/soft"))
            .await
            .unwrap()
            .is_symlink());
        assert!(fs::metadata(root.join("a/soft")).await.unwrap().is_file());
        fs::symlink("nowhere", root.join("a/broken")).await.unwrap();
        assert!(!fs::try_exists(root.join("a/broken")).await.unwrap());
        assert!(fs::try_exists(root.join("a/soft")).await.unwrap());

        fs::rename(&f, root.join("a/renamed")).await.unwrap();
        assert!(!fs::try_exists(&f).await.unwrap());
        assert_eq!(fs::copy(root.join("a/renamed"), &f).await.unwrap(), 1234);

        let mut names: Vec<String> = fs::read_dir(root.join("a"))
            .await
            .unwrap()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["b", "broken", "file", "hard", "renamed", "soft"]);

        let e = fs::remove_dir(root.join("a")).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTEMPTY));
        let e = fs::remove_file(root.join("a/b")).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        fs::remove_dir(&deep).await.unwrap();
        fs::remove_file(root.join("a/hard")).await.unwrap();
        let e = fs::remove_file(root.join("a/hard")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        fs::remove_dir_all(&root).await.unwrap();
        assert!(!fs::try_exists(&root).await.unwrap());
    });
}

#[test]
fn set_len_allocate_punch_hole_sync_range() {
    let p = tmp("len");
    run(async {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&p)
            .await
            .unwrap();
        f.set_len(1 << 20).await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 1 << 20);
        f.set_len(100).await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 100);
        f.allocate(0, 1 << 20).await.unwrap();
        let m = f.metadata().await.unwrap();
        assert_eq!(m.len(), 1 << 20);
        let before = m.blocks();
        let (r, _) = f.write_all_at(vec![9u8; 1 << 20], 0).await;
        r.unwrap();
        f.sync_range(0, 0, libc::SYNC_FILE_RANGE_WRITE)
            .await
            .unwrap();
        match f.punch_hole(0, 512 << 10).await {
            Ok(()) => {
                let m = f.metadata().await.unwrap();
                assert_eq!(m.len(), 1 << 20);
                assert!(m.blocks() < before, "{} < {before}", m.blocks());
                let (r, b) = f.read_at(Vec::with_capacity(8), 4096).await;
                r.unwrap();
                assert_eq!(b, [0u8; 8]);
            }
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                eprintln!("skipping punch_hole check: the filesystem cannot punch holes")
            }
            Err(e) => panic!("punch_hole: {e}"),
        }
        f.sync_all().await.unwrap();
        // A read-only file cannot change length.
        let ro = File::open(&p).await.unwrap();
        assert!(ro.set_len(0).await.is_err());
        f.close().await.unwrap();
        fs::remove_file(&p).await.unwrap();
    });
}

#[test]
fn std_round_trip_and_clones() {
    let p = tmp("std");
    std::fs::write(&p, b"abc").unwrap();
    run(async {
        let f = File::from_std(std::fs::File::open(&p).unwrap());
        let g = f.clone();
        let (r, b) = g.read_at(Vec::with_capacity(3), 0).await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(b, b"abc");
        // Two clones: into_std refuses and gives the File back.
        let f = f.into_std().unwrap_err();
        drop(g);
        let std_file = f.into_std().unwrap();
        drop(std_file);
        fs::remove_file(&p).await.unwrap();
    });
}

#[test]
fn misaligned_o_direct_is_a_clear_error() {
    let p = tmp("dio-misaligned");
    std::fs::write(&p, vec![5u8; 16384]).unwrap();
    run(async {
        let f = match OpenOptions::new().read(true).direct(true).open(&p).await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipping: O_DIRECT unavailable on the temp dir: {e}");
                return;
            }
        };
        assert!(f.is_direct());
        let Some(align) = f.dio_align() else {
            eprintln!("skipping: the kernel reports no STATX_DIOALIGN");
            return;
        };
        // A buffer whose address is off by one from an aligned block.
        let mem = align.mem as usize;
        if mem > 1 {
            let buf = AlignedBuf::new(8192 + 4096, 4096).unwrap().slice(1..4097);
            let (r, _) = f.read_at(buf, 0).await;
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.to_string().contains("O_DIRECT"), "{e}");
        }
        let (r, _) = f.read_at(AlignedBuf::new(4096, 4096).unwrap(), 1).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("offset"), "{e}");
        let (r, b) = f.read_at(AlignedBuf::new(4096, 4096).unwrap(), 4096).await;
        assert_eq!(r.unwrap(), 4096);
        assert!(b.iter().all(|&x| x == 5));
        // The file's own aligned buffer: rounded up to the offset alignment.
        let b = f.aligned_buf(100).unwrap();
        assert_eq!(b.capacity() % align.offset as usize, 0);
        assert_eq!(b.stable_ptr() as usize % align.mem as usize, 0);
        let (r, b) = f.read_at(b, 0).await;
        assert_eq!(r.unwrap(), b.capacity().min(16384));
    });
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn o_direct_on_tmpfs_says_so() {
    // /dev/shm is tmpfs on Linux: O_DIRECT opens fail there.
    let p = std::path::Path::new("/dev/shm").join(format!("coring-dio-{}", std::process::id()));
    if std::fs::write(&p, b"x").is_err() {
        eprintln!("skipping: no /dev/shm");
        return;
    }
    run(async {
        match OpenOptions::new().read(true).direct(true).open(&p).await {
            Ok(_) => eprintln!("note: /dev/shm accepted O_DIRECT (newer tmpfs does)"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidInput);
                assert!(e.to_string().contains("direct I/O"), "{e}");
            }
        }
    });
    std::fs::remove_file(&p).unwrap();
}
