//! `OpenOptions`: how to open a file, as with `std::fs::OpenOptions`.

use crate::direct::DioAlign;
use crate::file::File;
use coring_runtime::fd::SharedFd;
use coring_runtime::op::{Op, OpenAt, Statx};
use std::io;
use std::path::Path;

/// Options for opening a file, then [`open`](OpenOptions::open) through
/// IORING_OP_OPENAT.
///
/// # Examples
///
/// ```
/// use coring_fs::OpenOptions;
/// coring_runtime::start(async {
///     let path = std::env::temp_dir().join(format!("coring-oo-doc-{}", std::process::id()));
///     let f = OpenOptions::new().write(true).create(true).truncate(true).open(&path).await?;
///     f.close().await?;
///     coring_fs::remove_file(&path).await
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
    offload: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off; mode 0o666 (less the umask) for new files.
    pub fn new() -> Self {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
            offload: false,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, yes: bool) -> &mut Self {
        self.read = yes;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, yes: bool) -> &mut Self {
        self.write = yes;
        self
    }

    /// Every write goes to the end of the file (`O_APPEND`); implies
    /// write. On Linux this includes positioned writes (`write_at`): see
    /// the BUGS section of pwrite(2).
    pub fn append(&mut self, yes: bool) -> &mut Self {
        self.append = yes;
        self
    }

    /// Truncate to 0 bytes on open (`O_TRUNC`); needs write.
    pub fn truncate(&mut self, yes: bool) -> &mut Self {
        self.truncate = yes;
        self
    }

    /// Create the file if missing (`O_CREAT`); needs write or append.
    pub fn create(&mut self, yes: bool) -> &mut Self {
        self.create = yes;
        self
    }

    /// Create the file, failing with `AlreadyExists` (EEXIST) if it exists
    /// (`O_CREAT | O_EXCL`); needs write or append.
    pub fn create_new(&mut self, yes: bool) -> &mut Self {
        self.create_new = yes;
        self
    }

    /// Permission bits for a created file (less the umask).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags (`libc::O_*`), or-ed in; the access mode bits
    /// are ignored. `O_CLOEXEC` is always set.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// O_DIRECT: bypass the page cache. Reads and writes then need
    /// aligned buffers, lengths and offsets; the opened file knows the
    /// alignment (see [`File::dio_align`]) and refuses misaligned
    /// requests with a clear error.
    pub fn direct(&mut self, yes: bool) -> &mut Self {
        if yes {
            self.custom_flags |= libc::O_DIRECT;
        } else {
            self.custom_flags &= !libc::O_DIRECT;
        }
        self
    }

    /// Sends this file's reads and writes to the kernel's io-wq worker
    /// threads instead of trying them inline first (IOSQE_ASYNC; see
    /// [`File::set_offload`]). Worth it for O_DIRECT on a device that
    /// rewards parallel submission; a cost for page-cache I/O.
    pub fn offload(&mut self, yes: bool) -> &mut Self {
        self.offload = yes;
        self
    }

    fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err(invalid("no access mode: set read, write or append"))
            }
        };
        let writable = self.write || self.append;
        if (self.truncate || self.create || self.create_new) && !writable {
            return Err(invalid(
                "truncate, create and create_new need write or append",
            ));
        }
        if self.truncate && self.append && !self.create_new {
            return Err(invalid("truncate and append together make no sense"));
        }
        let create = if self.create_new {
            libc::O_CREAT | libc::O_EXCL
        } else if self.create {
            libc::O_CREAT
        } else {
            0
        };
        let trunc = if self.truncate { libc::O_TRUNC } else { 0 };
        Ok(access | create | trunc | (self.custom_flags & !libc::O_ACCMODE))
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for contradictory options or a path with a NUL byte;
    /// the kernel's error otherwise: `NotFound` (ENOENT), `AlreadyExists`
    /// (EEXIST, with `create_new`), `PermissionDenied`, `IsADirectory`
    /// (EISDIR, opening a directory for writing). O_DIRECT on a filesystem
    /// without it (tmpfs, say) is an `InvalidInput` error that says so.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self.flags()?;
        let direct = flags & libc::O_DIRECT != 0;
        let fd = match Op::submit(OpenAt::new(path, flags, self.mode)?).await {
            Ok(fd) => SharedFd::new(fd),
            Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "coring: cannot open {} with O_DIRECT: its filesystem does not \
                         support direct I/O (tmpfs does not, for one)",
                        path.display()
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        let dio = if direct {
            let st = Op::submit(Statx::fd(&fd, libc::STATX_DIOALIGN)).await?;
            Some(DioAlign::from_statx(&st))
        } else {
            None
        };
        let file = File::from_parts(fd, dio);
        file.set_offload(self.offload);
        Ok(file)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("coring: {msg}"))
}
