//! Free functions on paths: whole-file read and write, directories,
//! links, metadata. Each says how it reaches the kernel.

use crate::file::File;
use crate::metadata::{FileType, Metadata, STATX_MASK};
use coring_runtime::buf::IoBuf;
use coring_runtime::op::{Feature, LinkAt, MkDirAt, Op, RenameAt, Statx, SymlinkAt, UnlinkAt};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// Reads the whole file at `path` (OPENAT, STATX for a size hint, then
/// READs until end of file).
///
/// # Errors
///
/// `NotFound`, `PermissionDenied`, `IsADirectory`... from the kernel.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let f = File::open(path).await?;
    let hint = f.metadata().await.map_or(0, |m| m.len());
    let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).max(4096) + 1);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(4096));
        }
        let start = buf.len();
        let end = buf.capacity();
        let (res, slice) = f.read_at(buf.slice(start..end), start as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    f.close().await?;
    Ok(buf)
}

/// Writes `contents` as the whole file at `path`, creating or truncating
/// it (OPENAT, WRITEs, CLOSE). `contents` is an owned buffer (`Vec<u8>`,
/// `String`, `&'static str`...), as the kernel reads it after this call
/// starts.
///
/// # Errors
///
/// The kernel's.
pub async fn write<B: IoBuf>(path: impl AsRef<Path>, contents: B) -> io::Result<()> {
    let f = File::create(path).await?;
    let (res, _) = f.write_all_at(contents, 0).await;
    res?;
    f.close().await
}

/// Creates the directory `path` (IORING_OP_MKDIRAT, mode 0o777 less the
/// umask; before Linux 5.15, `mkdir(2)` in `spawn_blocking`).
///
/// # Errors
///
/// `AlreadyExists`, `NotFound` (a missing parent)... from the kernel.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    if !Feature::MKDIRAT.is_supported() {
        let path = path.as_ref().to_owned();
        return blocking(move || std::fs::create_dir(path)).await;
    }
    Op::submit(MkDirAt::new(path.as_ref(), 0o777)?).await
}

/// Creates `path` and any missing parents (MKDIRATs). An existing
/// directory is fine; an existing non-directory is `AlreadyExists`.
///
/// # Errors
///
/// The kernel's.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    // Walk up to the first ancestor that exists, then create downwards.
    let mut missing = Vec::new();
    let mut cur = path;
    loop {
        match create_dir(cur).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match cur.parent() {
                Some(p) if !p.as_os_str().is_empty() => {
                    missing.push(cur);
                    cur = p;
                }
                _ => return Err(e),
            },
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if metadata(cur).await?.is_dir() {
                    break;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    for dir in missing.into_iter().rev() {
        match create_dir(dir).await {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && metadata(dir).await?.is_dir() => {
            }
            r => r?,
        }
    }
    Ok(())
}

/// Removes the file `path` (IORING_OP_UNLINKAT).
///
/// # Errors
///
/// `NotFound`; `IsADirectory` (EISDIR) for a directory...
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    Op::submit(UnlinkAt::file(path.as_ref())?).await
}

/// Removes the empty directory `path` (IORING_OP_UNLINKAT, AT_REMOVEDIR).
///
/// # Errors
///
/// `NotFound`; `DirectoryNotEmpty`; `NotADirectory`...
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    Op::submit(UnlinkAt::dir(path.as_ref())?).await
}

/// Removes `path` and everything under it, through
/// [`spawn_blocking`](coring_runtime::spawn_blocking) running
/// `std::fs::remove_dir_all` (listing a directory has no io_uring op).
///
/// # Errors
///
/// As `std::fs::remove_dir_all`.
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    blocking(move || std::fs::remove_dir_all(path)).await
}

/// Renames `from` to `to`, replacing `to` (IORING_OP_RENAMEAT).
///
/// # Errors
///
/// The kernel's (`NotFound`, `CrossesDevices`...).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    Op::submit(RenameAt::new(from.as_ref(), to.as_ref(), 0)?).await
}

/// Makes `link` a hard link to `original` (IORING_OP_LINKAT; before
/// Linux 5.15, `link(2)` in `spawn_blocking`).
///
/// # Errors
///
/// The kernel's (`AlreadyExists` when `link` exists...).
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    if !Feature::LINKAT.is_supported() {
        let (from, to) = (original.as_ref().to_owned(), link.as_ref().to_owned());
        return blocking(move || std::fs::hard_link(from, to)).await;
    }
    Op::submit(LinkAt::new(original.as_ref(), link.as_ref())?).await
}

/// Makes `link` a symbolic link to `original` (IORING_OP_SYMLINKAT;
/// before Linux 5.15, `symlink(2)` in `spawn_blocking`).
///
/// # Errors
///
/// The kernel's (`AlreadyExists` when `link` exists...).
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    if !Feature::SYMLINKAT.is_supported() {
        let (from, to) = (original.as_ref().to_owned(), link.as_ref().to_owned());
        return blocking(move || std::os::unix::fs::symlink(from, to)).await;
    }
    Op::submit(SymlinkAt::new(original.as_ref(), link.as_ref())?).await
}

/// Metadata of `path`, following symlinks (IORING_OP_STATX).
///
/// # Errors
///
/// `NotFound`...
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let st = Op::submit(Statx::path(path.as_ref(), true, STATX_MASK)?).await?;
    Ok(Metadata::from_statx(st))
}

/// Metadata of `path` itself, a symlink not followed (IORING_OP_STATX,
/// AT_SYMLINK_NOFOLLOW).
///
/// # Errors
///
/// `NotFound`...
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let st = Op::submit(Statx::path(path.as_ref(), false, STATX_MASK)?).await?;
    Ok(Metadata::from_statx(st))
}

/// Whether `path` exists (IORING_OP_STATX). A broken symlink does not.
///
/// # Errors
///
/// Errors other than `NotFound` (`PermissionDenied` on a parent, say):
/// existence could not be told.
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    match metadata(path).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Copies the contents and permissions of `from` to `to`, returning the
/// bytes copied, through [`spawn_blocking`](coring_runtime::spawn_blocking)
/// running `std::fs::copy` (which uses `copy_file_range(2)`: in-kernel,
/// reflinks where the filesystem can; io_uring has no such op).
///
/// # Errors
///
/// As `std::fs::copy`.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    blocking(move || std::fs::copy(from, to)).await
}

/// The entries of the directory `path` (without `.` and `..`), listed in
/// one go through [`spawn_blocking`](coring_runtime::spawn_blocking)
/// (io_uring has no getdents op).
///
/// # Errors
///
/// `NotFound`, `NotADirectory`, `PermissionDenied`...
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_path_buf();
    let entries = blocking(move || {
        std::fs::read_dir(path)?
            .map(|e| {
                let e = e?;
                let file_type = e.file_type().map_or(FileType::Unknown, FileType::from_std);
                Ok(DirEntry {
                    path: e.path(),
                    name: e.file_name(),
                    file_type,
                })
            })
            .collect::<io::Result<Vec<_>>>()
    })
    .await?;
    Ok(ReadDir {
        entries: entries.into_iter(),
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    coring_runtime::spawn_blocking(f).await?
}

/// The entries of a directory, from [`read_dir`].
#[derive(Debug)]
pub struct ReadDir {
    entries: std::vec::IntoIter<DirEntry>,
}

impl Iterator for ReadDir {
    type Item = DirEntry;
    fn next(&mut self) -> Option<DirEntry> {
        self.entries.next()
    }
}

/// One entry of a directory.
#[derive(Debug, Clone)]
pub struct DirEntry {
    path: PathBuf,
    name: OsString,
    file_type: FileType,
}

impl DirEntry {
    /// The full path (the directory joined with the name).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name within the directory.
    pub fn file_name(&self) -> &OsString {
        &self.name
    }

    /// The type, as the directory listing reported it (a symlink is a
    /// symlink; `Unknown` where the filesystem did not say).
    pub fn file_type(&self) -> FileType {
        self.file_type
    }
}
