//! Files and directories over io_uring for coring.
//!
//! [`File`] reads and writes with owned buffers ([`BufResult`]): the
//! buffer goes in, comes back with the result, and is owned by the kernel
//! op in between, whatever happens to the future. Everything else a
//! program does with files is here too, each call saying how it reaches
//! the kernel:
//!
//! | call | how |
//! |---|---|
//! | `File::open`/`create`, [`OpenOptions`] | IORING_OP_OPENAT |
//! | `read_at`, `write_at`, `*_exact_at`/`*_all_at` | IORING_OP_READ / WRITE |
//! | `readv_at`, `writev_at` | IORING_OP_READV / WRITEV |
//! | `read_fixed_at`, `write_fixed_at` | IORING_OP_READ_FIXED / WRITE_FIXED |
//! | `sync_all`, `sync_data` | IORING_OP_FSYNC |
//! | `sync_range` | IORING_OP_SYNC_FILE_RANGE |
//! | `allocate`, `punch_hole` | IORING_OP_FALLOCATE |
//! | `set_len` | IORING_OP_FTRUNCATE (6.9+), else `ftruncate(2)` in `spawn_blocking` |
//! | `metadata`, [`metadata`], [`symlink_metadata`], [`try_exists`] | IORING_OP_STATX |
//! | `close`, drop | IORING_OP_CLOSE after the last op; drop closes synchronously after the last op |
//! | [`create_dir`], [`create_dir_all`] | IORING_OP_MKDIRAT (5.15+), else `mkdir(2)` in `spawn_blocking` |
//! | [`remove_file`], [`remove_dir`] | IORING_OP_UNLINKAT |
//! | [`rename`] | IORING_OP_RENAMEAT |
//! | [`hard_link`], [`symlink`] | IORING_OP_LINKAT / SYMLINKAT (5.15+), else `link(2)` / `symlink(2)` in `spawn_blocking` |
//! | [`read_dir`], [`remove_dir_all`] | `spawn_blocking` (io_uring has no getdents op) |
//! | [`copy`] | `spawn_blocking` running `std::fs::copy`, which uses `copy_file_range(2)` (io_uring has no such op) |
//!
//! O_DIRECT is a first-class path: open with
//! [`OpenOptions::direct`], use an [`AlignedBuf`] (or a [`FixedBuf`],
//! which is page-aligned), and misaligned buffers, lengths or offsets
//! give a clear `InvalidInput` error before anything reaches the kernel
//! (alignment from `statx(2)` STATX_DIOALIGN, Linux 6.1+).
//!
//! For I/O-heavy programs: [`ReadMany`] keeps N reads in flight as a
//! `Stream`, [`SeqReader`]/[`SeqWriter`] read ahead and write behind, and
//! registered buffers ([`FixedBufPool`]) and files ([`FileTable`]) shave
//! per-op kernel work.
//!
//! # Examples
//!
//! ```
//! coring_runtime::start(async {
//!     let dir = std::env::temp_dir().join(format!("coring-fs-doc-{}", std::process::id()));
//!     coring_fs::create_dir_all(&dir).await?;
//!     let path = dir.join("hello.txt");
//!     coring_fs::write(&path, "hello").await?;
//!     assert_eq!(coring_fs::read(&path).await?, b"hello");
//!     coring_fs::remove_file(&path).await?;
//!     coring_fs::remove_dir(&dir).await
//! })
//! .unwrap()
//! .unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bulk;
mod dir;
mod direct;
mod file;
mod metadata;
mod open_options;

pub use bulk::{ReadMany, SeqReader, SeqWriter};
pub use dir::{
    copy, create_dir, create_dir_all, hard_link, metadata, read, read_dir, remove_dir,
    remove_dir_all, remove_file, rename, symlink, symlink_metadata, try_exists, write, DirEntry,
    ReadDir,
};
pub use direct::DioAlign;
pub use file::File;
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;

pub use coring_runtime::buf::{AlignedBuf, BufResult, FixedBuf, FixedBufPool, IoBuf, IoBufMut};
pub use coring_runtime::registered::{FileRef, FileTable, RegisteredFd};
