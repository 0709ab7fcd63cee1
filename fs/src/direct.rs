//! O_DIRECT alignment: what the kernel demands, and the check that turns
//! a misaligned request into a clear error instead of a bare `EINVAL`.

use std::io;

/// The alignment O_DIRECT I/O on a file needs, as `statx(2)` reports it
/// with STATX_DIOALIGN (Linux 6.1+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DioAlign {
    /// Required alignment of the buffer's address (`stx_dio_mem_align`).
    pub mem: u32,
    /// Required alignment of the file offset and of the length
    /// (`stx_dio_offset_align`).
    pub offset: u32,
}

impl DioAlign {
    /// From a statx result: `None` when the kernel did not report it.
    pub(crate) fn from_statx(st: &libc::statx) -> Option<DioAlign> {
        if st.stx_mask & libc::STATX_DIOALIGN == 0 || st.stx_dio_mem_align == 0 {
            return None;
        }
        Some(DioAlign {
            mem: st.stx_dio_mem_align,
            offset: st.stx_dio_offset_align.max(1),
        })
    }

    /// `Ok` when a request of `len` bytes at `offset` from `addr` meets
    /// this alignment; a clear `InvalidInput` otherwise.
    pub fn check(&self, addr: usize, len: usize, offset: u64) -> io::Result<()> {
        let mem = self.mem as usize;
        let off = u64::from(self.offset);
        let what = if addr % mem != 0 {
            format!("buffer address {addr:#x} is not a multiple of {mem}")
        } else if len as u64 % off != 0 {
            format!("length {len} is not a multiple of {off}")
        } else if offset % off != 0 {
            format!("file offset {offset} is not a multiple of {off}")
        } else {
            return Ok(());
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "coring: misaligned O_DIRECT request: {what} (use an AlignedBuf or a \
                 FixedBuf, and sizes and offsets in multiples of {off})"
            ),
        ))
    }
}

/// Explains an `EINVAL` from an O_DIRECT read or write, which the kernel
/// gives for misalignment when our check could not run (alignment not
/// reported by the kernel).
pub(crate) fn explain_einval(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::EINVAL) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "coring: EINVAL on an O_DIRECT file: the buffer address, length or offset is \
             probably not aligned to the device's logical block size (use an AlignedBuf \
             aligned to 4096 and sizes and offsets in multiples of 4096)",
        )
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_misalignment() {
        let a = DioAlign {
            mem: 512,
            offset: 4096,
        };
        assert!(a.check(4096, 8192, 4096).is_ok());
        let e = a.check(4097, 8192, 0).expect_err("misaligned address");
        assert!(e.to_string().contains("address"), "{e}");
        let e = a.check(4096, 100, 0).expect_err("misaligned length");
        assert!(e.to_string().contains("length"), "{e}");
        let e = a.check(4096, 4096, 512).expect_err("misaligned offset");
        assert!(e.to_string().contains("offset"), "{e}");
    }
}
