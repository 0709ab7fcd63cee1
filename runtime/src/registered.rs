//! Registered files (direct descriptors): a per-ring file table
//! (IORING_REGISTER_FILES) whose slots ops can name instead of an fd, so
//! the kernel skips the fd-table lookup and reference count per op. Worth
//! it for hot files read at high rates.
//!
//! Rules:
//!
//! 1. A ring has at most one file table; [`FileTable::register`] on a
//!    runtime that has one is refused (`EBUSY`) until it is dropped.
//! 2. A [`RegisteredFd`] owns one slot. Every op on it holds a clone, so
//!    the slot is emptied (and can be reused) only after the last op's CQE.
//! 3. A slot names a file of one ring only: ops check that they run on
//!    the table's runtime, so a slot never reaches another ring's table.

use crate::context;
use crate::fd::SharedFd;
use crate::runtime::Core;
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;

/// The current runtime's table of registered files.
///
/// # Examples
///
/// ```
/// use coring_runtime::{fd::SharedFd, registered::FileTable};
/// coring_runtime::start(async {
///     let table = FileTable::register(8).unwrap();
///     let f = SharedFd::new(std::fs::File::open("/dev/zero").unwrap().into());
///     let reg = table.insert(&f).unwrap();
///     assert_eq!(table.available(), 7);
///     drop(reg);
///     assert_eq!(table.available(), 8);
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct FileTable {
    inner: Rc<TableInner>,
}

struct TableInner {
    core: Rc<Core>,
    slots: u32,
    free: RefCell<Vec<u32>>,
}

impl FileTable {
    /// Registers an empty table of `slots` files with the current
    /// runtime's ring.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for 0 slots; `ResourceBusy` when the runtime has a
    /// table already; the kernel's error otherwise (`EMFILE` when `slots`
    /// exceeds `RLIMIT_NOFILE`).
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    #[track_caller]
    pub fn register(slots: u32) -> io::Result<Self> {
        if slots == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "coring: a file table needs at least one slot",
            ));
        }
        let core = context::core_rc();
        let res = core.driver.borrow().register_files_sparse(slots);
        if let Err(e) = res {
            return Err(match e.raw_os_error() {
                Some(libc::EBUSY) => io::Error::new(
                    e.kind(),
                    "coring: this runtime already has a registered file table (a ring has \
                     one); share it, or drop it first",
                ),
                _ => io::Error::new(
                    e.kind(),
                    format!("coring: registering a file table of {slots} slots failed: {e}"),
                ),
            });
        }
        Ok(FileTable {
            inner: Rc::new(TableInner {
                core,
                slots,
                free: RefCell::new((0..slots).rev().collect()),
            }),
        })
    }

    /// Puts `fd` in a free slot. The table takes its own reference to the
    /// file: it stays open in the ring until the `RegisteredFd` (and every
    /// op on it) is gone, even if `fd` is closed first.
    ///
    /// # Errors
    ///
    /// `Other` ("no free slot") when the table is full; the kernel's error
    /// otherwise (`EBADF` for a closed fd).
    pub fn insert(&self, fd: &SharedFd) -> io::Result<RegisteredFd> {
        let Some(slot) = self.inner.free.borrow_mut().pop() else {
            return Err(io::Error::other(format!(
                "coring: the file table's {} slots are all in use",
                self.inner.slots
            )));
        };
        let res = self.inner.core.driver.borrow().update_file(slot, fd.raw());
        if let Err(e) = res {
            self.inner.free.borrow_mut().push(slot);
            return Err(e);
        }
        Ok(RegisteredFd {
            inner: Rc::new(SlotInner {
                table: self.inner.clone(),
                slot,
            }),
        })
    }

    /// Slots not in use.
    pub fn available(&self) -> usize {
        self.inner.free.borrow().len()
    }
}

impl fmt::Debug for FileTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTable")
            .field("slots", &self.inner.slots)
            .field("available", &self.available())
            .finish()
    }
}

impl Drop for TableInner {
    fn drop(&mut self) {
        // Every RegisteredFd is gone (they hold this), so no op names a slot.
        if let Ok(d) = self.core.driver.try_borrow() {
            d.release_files(self.slots);
        }
    }
}

/// A file in a [`FileTable`] slot: use it with ops that take a
/// [`FileRef`]. Clones share the slot; it is emptied when the last goes.
#[derive(Clone)]
pub struct RegisteredFd {
    inner: Rc<SlotInner>,
}

struct SlotInner {
    table: Rc<TableInner>,
    slot: u32,
}

impl RegisteredFd {
    /// The slot index in the ring's file table.
    #[inline]
    pub fn slot(&self) -> u32 {
        self.inner.slot
    }

    /// Whether the runtime on this thread is the table's (rule 3).
    #[inline]
    pub(crate) fn is_of_current_runtime(&self) -> bool {
        context::try_with_core_rc(|c| Rc::ptr_eq(c, &self.inner.table.core)).unwrap_or(false)
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        let emptied = match self.table.core.driver.try_borrow() {
            Ok(d) => d.update_file(self.slot, -1).is_ok(),
            Err(_) => false,
        };
        // A slot that could not be emptied stays taken rather than be
        // reused while it still names this file.
        if emptied {
            self.table.free.borrow_mut().push(self.slot);
        }
    }
}

impl fmt::Debug for RegisteredFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RegisteredFd")
            .field(&self.inner.slot)
            .finish()
    }
}

/// The file an op acts on: a plain fd, or a registered slot.
#[derive(Clone, Debug)]
pub enum FileRef {
    /// A plain file descriptor.
    Fd(SharedFd),
    /// A slot of the ring's file table.
    Registered(RegisteredFd),
}

impl FileRef {
    /// Checks that a registered slot belongs to the current runtime.
    #[inline]
    pub(crate) fn check_runtime(&self) -> io::Result<()> {
        match self {
            FileRef::Registered(r) if !r.is_of_current_runtime() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "coring: this registered file belongs to another runtime's ring",
            )),
            _ => Ok(()),
        }
    }
}

impl From<SharedFd> for FileRef {
    fn from(fd: SharedFd) -> Self {
        FileRef::Fd(fd)
    }
}

impl From<&SharedFd> for FileRef {
    fn from(fd: &SharedFd) -> Self {
        FileRef::Fd(fd.clone())
    }
}

impl From<RegisteredFd> for FileRef {
    fn from(fd: RegisteredFd) -> Self {
        FileRef::Registered(fd)
    }
}

impl From<&RegisteredFd> for FileRef {
    fn from(fd: &RegisteredFd) -> Self {
        FileRef::Registered(fd.clone())
    }
}
