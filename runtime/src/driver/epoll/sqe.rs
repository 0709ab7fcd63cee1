//! An SQE as the emulator reads it: the fields of `struct io_uring_sqe`
//! (io_uring_enter(2)) by their kernel names.

use io_uring::squeue;

/// `struct io_uring_sqe`, 64 bytes, the unions named by what coring's
/// opcodes put there.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawSqe {
    pub(crate) opcode: u8,
    pub(crate) flags: u8,
    pub(crate) ioprio: u16,
    pub(crate) fd: i32,
    /// `off` or `addr2`.
    pub(crate) off: u64,
    /// `addr` or `splice_off_in`.
    pub(crate) addr: u64,
    pub(crate) len: u32,
    /// `rw_flags`, `msg_flags`, `accept_flags`, `open_flags`, ...
    pub(crate) op_flags: u32,
    pub(crate) user_data: u64,
    /// `buf_index` or `buf_group`.
    pub(crate) buf_index: u16,
    pub(crate) personality: u16,
    /// `splice_fd_in`, `file_index`, or `addr_len`.
    pub(crate) file_index: i32,
    pub(crate) addr3: u64,
    pub(crate) pad: u64,
}

const _: () = assert!(std::mem::size_of::<RawSqe>() == 64);
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);

impl RawSqe {
    /// The fields of a built SQE.
    #[inline]
    pub(crate) fn of(sqe: &squeue::Entry) -> RawSqe {
        // SAFETY: squeue::Entry is `#[repr(C)]` around the kernel's
        // 64-byte `struct io_uring_sqe`, which RawSqe lays out field by
        // field (sizes asserted above); every bit pattern is a valid
        // RawSqe (plain integers).
        unsafe { std::mem::transmute_copy::<squeue::Entry, RawSqe>(sqe) }
    }
}

// IOSQE_* flags (<linux/io_uring.h>).
pub(crate) const IOSQE_FIXED_FILE: u8 = 1 << 0;
pub(crate) const IOSQE_ASYNC: u8 = 1 << 4;
pub(crate) const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
pub(crate) const IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

// IORING_CQE_F_* flags.
pub(crate) const CQE_F_BUFFER: u32 = 1 << 0;
pub(crate) const CQE_F_MORE: u32 = 1 << 1;
pub(crate) const CQE_F_NOTIF: u32 = 1 << 3;
pub(crate) const CQE_BUFFER_SHIFT: u32 = 16;

/// `ioprio` bits: IORING_ACCEPT_MULTISHOT, IORING_RECV_MULTISHOT.
pub(crate) const ACCEPT_MULTISHOT: u16 = 1 << 0;
pub(crate) const RECV_MULTISHOT: u16 = 1 << 1;

/// IORING_POLL_ADD_MULTI (in a POLL_ADD's `len`).
pub(crate) const POLL_ADD_MULTI: u32 = 1 << 0;

/// IORING_TIMEOUT_ABS.
pub(crate) const TIMEOUT_ABS: u32 = 1 << 0;
