//! Paths as the kernel takes them: NUL-terminated C strings, owned by the
//! op that points at them.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `path` as a C string. A path with an interior NUL byte can name no
/// file: that is `InvalidInput`, not a panic.
pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("coring: path contains a NUL byte: {:?}", path),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_path_is_invalid_input() {
        let e = cstring(Path::new("a\0b")).expect_err("must fail");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            cstring(Path::new("/tmp")).expect("must succeed").as_bytes(),
            b"/tmp"
        );
    }
}
