//! `Metadata`: what `statx(2)` says about a file.

use crate::direct::DioAlign;
use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

/// The type of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only from [`symlink_metadata`](crate::symlink_metadata)).
    Symlink,
    /// A block device.
    BlockDevice,
    /// A character device.
    CharDevice,
    /// A FIFO (named pipe).
    Fifo,
    /// A Unix socket.
    Socket,
    /// A type the kernel did not report or coring does not know.
    Unknown,
}

impl FileType {
    pub(crate) fn from_mode(mode: u32) -> FileType {
        match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::File,
            libc::S_IFDIR => FileType::Dir,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => FileType::Unknown,
        }
    }

    pub(crate) fn from_std(t: std::fs::FileType) -> FileType {
        use std::os::unix::fs::FileTypeExt;
        if t.is_file() {
            FileType::File
        } else if t.is_dir() {
            FileType::Dir
        } else if t.is_symlink() {
            FileType::Symlink
        } else if t.is_block_device() {
            FileType::BlockDevice
        } else if t.is_char_device() {
            FileType::CharDevice
        } else if t.is_fifo() {
            FileType::Fifo
        } else if t.is_socket() {
            FileType::Socket
        } else {
            FileType::Unknown
        }
    }
}

/// Metadata of a file, from `statx(2)`.
#[derive(Clone)]
pub struct Metadata {
    st: libc::statx,
}

/// The `STATX_*` fields coring asks for.
pub(crate) const STATX_MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

impl Metadata {
    pub(crate) fn from_statx(st: libc::statx) -> Metadata {
        Metadata { st }
    }

    /// The file's type.
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(u32::from(self.st.stx_mode))
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == FileType::File
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Dir
    }

    /// Whether it is a symbolic link (only from `symlink_metadata`).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == FileType::Symlink
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.st.stx_size
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The permission bits.
    pub fn permissions(&self) -> Permissions {
        Permissions::from_mode(u32::from(self.st.stx_mode) & 0o7777)
    }

    /// The full `st_mode` (type and permission bits).
    pub fn mode(&self) -> u32 {
        u32::from(self.st.stx_mode)
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.st.stx_ino
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.st.stx_nlink
    }

    /// Owner's user id.
    pub fn uid(&self) -> u32 {
        self.st.stx_uid
    }

    /// Owner's group id.
    pub fn gid(&self) -> u32 {
        self.st.stx_gid
    }

    /// Preferred I/O block size.
    pub fn blksize(&self) -> u32 {
        self.st.stx_blksize
    }

    /// 512-byte blocks allocated (less than `len / 512` for sparse files).
    pub fn blocks(&self) -> u64 {
        self.st.stx_blocks
    }

    /// The O_DIRECT alignment, when asked for and reported (6.1+).
    pub fn dio_align(&self) -> Option<DioAlign> {
        DioAlign::from_statx(&self.st)
    }

    /// Last modification time.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the filesystem did not report it.
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_MTIME, self.st.stx_mtime, "modification")
    }

    /// Last access time.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the filesystem did not report it.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_ATIME, self.st.stx_atime, "access")
    }

    /// Creation (birth) time.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the filesystem did not report it.
    pub fn created(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_BTIME, self.st.stx_btime, "creation")
    }

    fn time(&self, bit: u32, t: libc::statx_timestamp, what: &str) -> io::Result<SystemTime> {
        if self.st.stx_mask & bit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("coring: the filesystem did not report the {what} time"),
            ));
        }
        let nanos = Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec.min(999_999_999));
        let at = if t.tv_sec >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(nanos)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(nanos)
        };
        at.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "coring: time out of range"))
    }

    /// The raw `statx` structure.
    pub fn as_raw(&self) -> &libc::statx {
        &self.st
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("len", &self.len())
            .field("mode", &format_args!("{:o}", self.mode()))
            .field("ino", &self.ino())
            .finish_non_exhaustive()
    }
}
