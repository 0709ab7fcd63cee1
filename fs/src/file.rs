//! `File`: an open file whose reads and writes go through the ring.

use crate::direct::{explain_einval, DioAlign};
use crate::metadata::{Metadata, STATX_MASK};
use crate::open_options::OpenOptions;
use coring_runtime::buf::{AlignedBuf, BufResult, FixedBuf, IoBuf, IoBufMut};
use coring_runtime::fd::SharedFd;
use coring_runtime::io as rio;
use coring_runtime::op::{
    ftruncate, Fallocate, Fsync, Op, OpCode, Read, ReadFixed, Readv, Statx, SyncFileRange, Write,
    WriteFixed, Writev,
};
use coring_runtime::registered::{FileRef, FileTable, RegisteredFd};
use std::cell::Cell;
use std::fmt;
use std::io;
use std::path::Path;
use std::rc::Rc;

/// An open file. Reads and writes take owned buffers and give them back
/// with the result ([`BufResult`]); the kernel op owns the buffer in
/// between, even if the future is dropped.
///
/// `File` is cheap to clone: clones share one fd (so many tasks can read
/// one file). The fd is closed when the last clone is dropped *and* every
/// op on it has completed — never under an op in flight — or explicitly
/// with [`close`](File::close).
///
/// # Examples
///
/// ```
/// use coring_fs::File;
/// coring_runtime::start(async {
///     let path = std::env::temp_dir().join(format!("coring-file-doc-{}", std::process::id()));
///     let f = File::options().read(true).write(true).create(true).open(&path).await?;
///     let (res, _buf) = f.write_all_at(b"hello world".to_vec(), 0).await;
///     res?;
///     let (res, buf) = f.read_at(Vec::with_capacity(5), 6).await;
///     assert_eq!(res?, 5);
///     assert_eq!(buf, b"world");
///     f.close().await?;
///     coring_fs::remove_file(&path).await
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct File {
    inner: Rc<Inner>,
}

/// What the clones of a `File` share. Ops hold clones of `fd` (not of
/// this), so the count of `Inner` is the count of `File` handles.
struct Inner {
    fd: SharedFd,
    /// Opened with O_DIRECT.
    direct: bool,
    /// The O_DIRECT alignment the kernel reported.
    dio: Option<DioAlign>,
    /// Reads and writes go as [`Offload`](coring_runtime::op::Offload) ops (see `set_offload`).
    offload: Cell<bool>,
}

impl File {
    pub(crate) fn from_parts(fd: SharedFd, dio: Option<Option<DioAlign>>) -> File {
        File {
            inner: Rc::new(Inner {
                fd,
                direct: dio.is_some(),
                dio: dio.flatten(),
                offload: Cell::new(false),
            }),
        }
    }

    /// Opens `path` read-only.
    ///
    /// # Errors
    ///
    /// See [`OpenOptions::open`].
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` write-only, creating it or truncating it.
    ///
    /// # Errors
    ///
    /// See [`OpenOptions::open`].
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// A fresh [`OpenOptions`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Takes a `std::fs::File`. O_DIRECT is not detected: a file opened
    /// with it this way gets no alignment pre-check (the kernel's `EINVAL`
    /// is still explained when it comes).
    pub fn from_std(file: std::fs::File) -> File {
        File::from_parts(SharedFd::new(file.into()), None)
    }

    /// Gives back a `std::fs::File`, when this is the only clone and no op
    /// is in flight; otherwise gives `self` back.
    ///
    /// # Errors
    ///
    /// `self`, when other clones or ops still hold the fd.
    pub fn into_std(self) -> Result<std::fs::File, File> {
        let inner = match Rc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(inner) => return Err(File { inner }),
        };
        let Inner {
            fd,
            direct,
            dio,
            offload,
        } = inner;
        match fd.try_unwrap() {
            Ok(owned) => Ok(std::fs::File::from(owned)),
            Err(fd) => Err(File {
                inner: Rc::new(Inner {
                    fd,
                    direct,
                    dio,
                    offload,
                }),
            }),
        }
    }

    /// The shared fd, for ops of the runtime (`coring_runtime::io`, or
    /// your own `OpCode`s).
    pub fn fd(&self) -> &SharedFd {
        &self.inner.fd
    }

    /// Whether the file was opened with O_DIRECT.
    pub fn is_direct(&self) -> bool {
        self.inner.direct
    }

    /// Sends this file's reads and writes (`read_at`, `write_at`, their
    /// exact/all, vectored and fixed-buffer forms) to the kernel's io-wq
    /// worker threads (IOSQE_ASYNC, [`Offload`](coring_runtime::op::Offload))
    /// instead of trying them inline first. Every clone of the `File`
    /// sees it. For O_DIRECT on a device that rewards parallel
    /// submission this trades CPU for IOPS (measurements:
    /// `docs/BENCHMARKS.md` in the repository). For page-cache I/O it
    /// only costs.
    pub fn set_offload(&self, on: bool) {
        self.inner.offload.set(on);
    }

    /// Whether [`set_offload`](File::set_offload) is on.
    pub fn offload(&self) -> bool {
        self.inner.offload.get()
    }

    /// How this file's reads and writes go: as [`Offload`](coring_runtime::op::Offload) when it asks
    /// for it, else as [`Device`](coring_runtime::op::Device) ops for O_DIRECT (submitted in small
    /// groups as they are pushed, `Builder::device_batch`), else plainly.
    #[inline]
    fn via(&self) -> rio::Via {
        if self.offload() {
            rio::Via::Offload
        } else if self.inner.direct {
            rio::Via::Device
        } else {
            rio::Via::Plain
        }
    }

    /// Submits `op` the way [`via`](File::via) says.
    async fn submit<T: OpCode>(&self, op: T) -> T::Output {
        rio::submit_via(op, self.via()).await
    }

    /// The O_DIRECT alignment the kernel reported (STATX_DIOALIGN, 6.1+),
    /// for a file opened with O_DIRECT.
    pub fn dio_align(&self) -> Option<DioAlign> {
        self.inner.dio
    }

    /// A zeroed buffer fit for O_DIRECT on this file: its address aligned
    /// to the kernel's `stx_dio_mem_align` (at least 4096, a page) and its
    /// capacity rounded up to a multiple of `stx_dio_offset_align` (4096
    /// where the kernel does not report them).
    ///
    /// # Errors
    ///
    /// `OutOfMemory` when the allocation fails; `InvalidInput` when the
    /// size overflows.
    pub fn aligned_buf(&self, capacity: usize) -> io::Result<AlignedBuf> {
        let (mem, off) = self
            .inner
            .dio
            .map_or((4096, 4096), |a| (a.mem as usize, a.offset as usize));
        let off = off.max(1);
        let capacity = capacity
            .checked_add(off - 1)
            .map(|c| c / off * off)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "coring: size overflows"))?;
        AlignedBuf::new(capacity, mem.max(4096))
    }

    pub(crate) fn check_direct(&self, addr: *const u8, len: usize, pos: u64) -> io::Result<()> {
        match self.inner.dio {
            Some(a) if self.inner.direct => a.check(addr as usize, len, pos),
            _ => Ok(()),
        }
    }

    pub(crate) fn explain<T>(&self, res: io::Result<T>) -> io::Result<T> {
        if self.inner.direct {
            res.map_err(explain_einval)
        } else {
            res
        }
    }

    /// Reads up to `buf.bytes_total()` bytes at `pos` into `buf`
    /// (IORING_OP_READ). `Ok(0)` is end of file; a read that crosses the
    /// end is short, not an error.
    ///
    /// # Errors
    ///
    /// The kernel's (`EBADF` for a file not open for reading, `EISDIR`...);
    /// for O_DIRECT, `InvalidInput` for a misaligned buffer or offset.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(e) = self.check_direct(buf.stable_ptr(), buf.bytes_total(), pos) {
            return (Err(e), buf);
        }
        let (res, buf) = self.submit(Read::new(&self.inner.fd, buf, pos)).await;
        (self.explain(res), buf)
    }

    /// Reads exactly `buf.bytes_total()` bytes at `pos`, resubmitting after
    /// short reads.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` when the file ends first (the buffer holds what
    /// was read); as [`read_at`](File::read_at) otherwise.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        if let Err(e) = self.check_direct(buf.stable_ptr(), buf.bytes_total(), pos) {
            return (Err(e), buf);
        }
        let (res, buf) = rio::read_exact_at_via(&self.inner.fd, buf, pos, self.via()).await;
        (self.explain(res), buf)
    }

    /// Writes `buf`'s initialized bytes at `pos` (IORING_OP_WRITE); may be
    /// short.
    ///
    /// # Errors
    ///
    /// The kernel's (`EBADF` for a file not open for writing, `ENOSPC`...);
    /// for O_DIRECT, `InvalidInput` for a misaligned buffer or offset.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(e) = self.check_direct(buf.stable_ptr(), buf.bytes_init(), pos) {
            return (Err(e), buf);
        }
        let (res, buf) = self.submit(Write::new(&self.inner.fd, buf, pos)).await;
        (self.explain(res), buf)
    }

    /// Writes all of `buf`'s initialized bytes at `pos`, resubmitting after
    /// short writes.
    ///
    /// # Errors
    ///
    /// `WriteZero` when the kernel takes nothing; as
    /// [`write_at`](File::write_at) otherwise.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        if let Err(e) = self.check_direct(buf.stable_ptr(), buf.bytes_init(), pos) {
            return (Err(e), buf);
        }
        let (res, buf) = rio::write_all_at_via(&self.inner.fd, buf, pos, self.via()).await;
        (self.explain(res), buf)
    }

    /// Vectored read at `pos` (IORING_OP_READV): fills the buffers in
    /// order.
    ///
    /// # Errors
    ///
    /// As [`read_at`](File::read_at); more than `IOV_MAX` buffers is
    /// `EINVAL`.
    pub async fn readv_at<B: IoBufMut>(&self, bufs: Vec<B>, pos: u64) -> BufResult<usize, Vec<B>> {
        for b in &bufs {
            if let Err(e) = self.check_direct(b.stable_ptr(), b.bytes_total(), pos) {
                return (Err(e), bufs);
            }
        }
        let (res, bufs) = self.submit(Readv::new(&self.inner.fd, bufs, pos)).await;
        (self.explain(res), bufs)
    }

    /// Vectored write at `pos` (IORING_OP_WRITEV) of each buffer's
    /// initialized bytes, in order; may be short.
    ///
    /// # Errors
    ///
    /// As [`write_at`](File::write_at).
    pub async fn writev_at<B: IoBuf>(&self, bufs: Vec<B>, pos: u64) -> BufResult<usize, Vec<B>> {
        for b in &bufs {
            if let Err(e) = self.check_direct(b.stable_ptr(), b.bytes_init(), pos) {
                return (Err(e), bufs);
            }
        }
        let (res, bufs) = self.submit(Writev::new(&self.inner.fd, bufs, pos)).await;
        (self.explain(res), bufs)
    }

    /// Reads up to `buf.capacity()` bytes at `pos` into a registered
    /// buffer (IORING_OP_READ_FIXED). Pass `Some(reg)` to name the file by
    /// its registered slot instead of its fd.
    ///
    /// # Errors
    ///
    /// As [`read_at`](File::read_at); `InvalidInput` for a buffer or slot
    /// registered with another runtime.
    pub async fn read_fixed_at(
        &self,
        buf: FixedBuf,
        pos: u64,
        reg: Option<&RegisteredFd>,
    ) -> BufResult<usize, FixedBuf> {
        if let Err(e) = self.check_direct(buf.stable_ptr(), buf.capacity(), pos) {
            return (Err(e), buf);
        }
        let file = match reg {
            Some(r) => FileRef::Registered(r.clone()),
            None => FileRef::Fd(self.inner.fd.clone()),
        };
        let (res, buf) = self.submit(ReadFixed::new(file, buf, pos)).await;
        (self.explain(res), buf)
    }

    /// Writes a registered buffer's `len()` bytes at `pos`
    /// (IORING_OP_WRITE_FIXED); may be short. `reg` as in
    /// [`read_fixed_at`](File::read_fixed_at).
    ///
    /// # Errors
    ///
    /// As [`write_at`](File::write_at); `InvalidInput` for a buffer or
    /// slot registered with another runtime.
    pub async fn write_fixed_at(
        &self,
        buf: FixedBuf,
        pos: u64,
        reg: Option<&RegisteredFd>,
    ) -> BufResult<usize, FixedBuf> {
        if let Err(e) = self.check_direct(buf.stable_ptr(), buf.len(), pos) {
            return (Err(e), buf);
        }
        let file = match reg {
            Some(r) => FileRef::Registered(r.clone()),
            None => FileRef::Fd(self.inner.fd.clone()),
        };
        let (res, buf) = self.submit(WriteFixed::new(file, buf, pos)).await;
        (self.explain(res), buf)
    }

    /// Puts this file in a slot of the runtime's [`FileTable`], for
    /// `read_fixed_at`/`write_fixed_at` and your own ops.
    ///
    /// # Errors
    ///
    /// See [`FileTable::insert`].
    pub fn register(&self, table: &FileTable) -> io::Result<RegisteredFd> {
        table.insert(&self.inner.fd)
    }

    /// Flushes data and metadata to the device (`fsync(2)`, IORING_OP_FSYNC).
    ///
    /// # Errors
    ///
    /// The kernel's (`EIO` for a failed writeback).
    pub async fn sync_all(&self) -> io::Result<()> {
        Op::submit(Fsync::new(&self.inner.fd, false)).await
    }

    /// Flushes data, and only the metadata needed to read it back
    /// (`fdatasync(2)`).
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub async fn sync_data(&self) -> io::Result<()> {
        Op::submit(Fsync::new(&self.inner.fd, true)).await
    }

    /// `sync_file_range(2)` of `len` bytes from `offset` (`len == 0`: to
    /// the end) with `libc::SYNC_FILE_RANGE_*` flags. Not a durability
    /// guarantee: it flushes neither metadata nor the device cache.
    ///
    /// # Errors
    ///
    /// The kernel's (`EINVAL` for bad flags).
    pub async fn sync_range(&self, offset: u64, len: u32, flags: u32) -> io::Result<()> {
        Op::submit(SyncFileRange::new(&self.inner.fd, offset, len, flags)).await
    }

    /// Allocates `len` bytes from `offset` (`fallocate(2)` mode 0),
    /// growing the file if needed, so later writes there cannot fail with
    /// `ENOSPC`.
    ///
    /// # Errors
    ///
    /// The kernel's (`EOPNOTSUPP` where the filesystem cannot).
    pub async fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.fallocate(offset, len, 0).await
    }

    /// Deallocates `len` bytes from `offset`: they read back as zeros and
    /// take no space; the size stays (`FALLOC_FL_PUNCH_HOLE |
    /// FALLOC_FL_KEEP_SIZE`).
    ///
    /// # Errors
    ///
    /// The kernel's (`EOPNOTSUPP` where the filesystem cannot).
    pub async fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        self.fallocate(offset, len, mode).await
    }

    /// `fallocate(2)` with any `libc::FALLOC_FL_*` mode.
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub async fn fallocate(&self, offset: u64, len: u64, mode: i32) -> io::Result<()> {
        Op::submit(Fallocate::new(&self.inner.fd, offset, len, mode)).await
    }

    /// Truncates or extends the file to `len` bytes: IORING_OP_FTRUNCATE on
    /// Linux 6.9+, else `ftruncate(2)` on the blocking pool.
    ///
    /// # Errors
    ///
    /// The kernel's (`EINVAL` for a file not open for writing or a length
    /// over `i64::MAX`).
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        ftruncate(&self.inner.fd, len).await
    }

    /// The file's metadata (IORING_OP_STATX on the fd).
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let mask = STATX_MASK | libc::STATX_DIOALIGN;
        let st = Op::submit(Statx::fd(&self.inner.fd, mask)).await?;
        Ok(Metadata::from_statx(st))
    }

    /// Closes the file. For the last `File` handle: waits for the ops
    /// still in flight on it, closes the fd through the ring
    /// (IORING_OP_CLOSE) and reports the result (which, on some
    /// filesystems, carries a deferred write error). While other clones
    /// (or a [`ReadMany`](crate::ReadMany), [`SeqReader`](crate::SeqReader)
    /// or [`SeqWriter`](crate::SeqWriter), which hold one) are alive, it
    /// only drops this handle and returns `Ok(())`: the last one closes.
    ///
    /// # Errors
    ///
    /// The kernel's close error.
    pub async fn close(self) -> io::Result<()> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => rio::close(inner.fd).await,
            Err(_) => Ok(()),
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("fd", &self.inner.fd)
            .field("direct", &self.inner.direct)
            .finish()
    }
}
