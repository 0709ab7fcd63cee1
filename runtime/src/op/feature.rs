//! Kernel features an op may need beyond coring's floor (Linux 5.11), and
//! the `Unsupported` error an op gets on a kernel without them.
//!
//! Each ring reads the kernel's opcode probe (IORING_REGISTER_PROBE) once,
//! when it is built, into a bitmap in the driver. An op type that needs a
//! newer opcode names it in [`OpCode::PROBE`](super::OpCode::PROBE) (or
//! [`MultishotOpCode::PROBE`](super::MultishotOpCode::PROBE)); ops of
//! every supported kernel leave it `None`, so their submit tests nothing.
//! On a kernel without the feature the op never reaches the ring: it
//! completes at once with an [`io::ErrorKind::Unsupported`] error that
//! names the op and the kernel that brought it, never the kernel's
//! `EINVAL` for an opcode it does not know.
//!
//! The unsupported result travels in the op's [`Completion`] as a `res`
//! below any errno (`i32::MIN + id`), so [`Completion::result`] turns it
//! into the error in its cold path and no op needs code of its own.

use super::Completion;
use io_uring::opcode;
use std::io;

/// A kernel feature an op needs, found in the ring's opcode probe.
///
/// Flags the probe cannot show (multishot accept, multishot receive) are
/// probed through an opcode that came in the same kernel release; the
/// error still names the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// The opcode looked up in the probe.
    probe: u8,
    /// What the error names: an opcode (< 256) or a flag (256 + index
    /// into `FLAGS`).
    id: u16,
}

/// Features that are flags, not opcodes: (name, kernel).
const FLAGS: [(&str, &str); 5] = [
    ("IORING_ACCEPT_MULTISHOT", "5.19"),
    ("IORING_RECV_MULTISHOT", "6.0"),
    ("IORING_REGISTER_PBUF_RING (provided buffer rings)", "5.19"),
    ("IORING_RECVSEND_POLL_FIRST", "5.19"),
    (
        "MSG_WAITALL on stream-socket sends (io_uring retries a short send)",
        "5.18",
    ),
];

impl Feature {
    /// An opcode, for ops of your own (IORING_OP_URING_CMD, ...).
    pub const fn opcode(code: u8) -> Feature {
        Feature {
            probe: code,
            id: code as u16,
        }
    }

    /// IORING_OP_MKDIRAT (5.15).
    pub const MKDIRAT: Feature = Feature::opcode(opcode::MkDirAt::CODE);
    /// IORING_OP_SYMLINKAT (5.15).
    pub const SYMLINKAT: Feature = Feature::opcode(opcode::SymlinkAt::CODE);
    /// IORING_OP_LINKAT (5.15).
    pub const LINKAT: Feature = Feature::opcode(opcode::LinkAt::CODE);
    /// IORING_OP_SOCKET (5.19).
    pub const SOCKET: Feature = Feature::opcode(opcode::Socket::CODE);
    /// IORING_OP_SEND_ZC (6.0).
    pub const SEND_ZC: Feature = Feature::opcode(opcode::SendZc::CODE);
    /// IORING_OP_FTRUNCATE (6.9).
    pub const FTRUNCATE: Feature = Feature::opcode(opcode::Ftruncate::CODE);
    /// Multishot accept (IORING_ACCEPT_MULTISHOT, 5.19; probed through
    /// IORING_OP_SOCKET, which came with it).
    pub const ACCEPT_MULTISHOT: Feature = Feature {
        probe: opcode::Socket::CODE,
        id: 256,
    };
    /// Multishot receive (IORING_RECV_MULTISHOT, 6.0; probed through
    /// IORING_OP_SEND_ZC, which came with it).
    pub const RECV_MULTISHOT: Feature = Feature {
        probe: opcode::SendZc::CODE,
        id: 257,
    };

    /// Provided buffer rings (IORING_REGISTER_PBUF_RING, 5.19; probed
    /// through IORING_OP_SOCKET, which came with it): `BufRing::new`
    /// fails with the `Unsupported` error before 5.19.
    pub const PBUF_RING: Feature = Feature {
        probe: opcode::Socket::CODE,
        id: 258,
    };

    /// IORING_RECVSEND_POLL_FIRST (5.19; probed through IORING_OP_SOCKET,
    /// which came with it): a receive or send that waits for readiness
    /// before its first try. See [`Recv::poll_first`](crate::op::Recv::poll_first).
    pub const RECVSEND_POLL_FIRST: Feature = Feature {
        probe: opcode::Socket::CODE,
        id: 259,
    };

    /// A send (IORING_OP_SEND, SENDMSG) with `MSG_WAITALL` on a stream
    /// socket completes only once all its bytes are sent, or on an error
    /// (giving the count sent before it, if any): the kernel retries a
    /// short send itself, waiting for room (5.18; probed through
    /// IORING_OP_SOCKET, 5.19). Without it the flag does nothing for a
    /// send, and a short send completes short. The epoll backend does the
    /// same for SEND. See [`Send::flags`](crate::op::Send::flags).
    pub const SEND_WAITALL: Feature = Feature {
        probe: opcode::Socket::CODE,
        id: 260,
    };

    /// The error an op needing this feature gets where it is missing.
    pub(crate) fn error(self) -> io::Error {
        unsupported_error(self.id)
    }

    /// The opcode the ring's probe is asked about.
    #[inline]
    pub(crate) fn probe_opcode(self) -> u8 {
        self.probe
    }

    /// The completion of an op whose feature the kernel lacks.
    pub(crate) fn unsupported(self) -> Completion {
        Completion::new(i32::MIN + i32::from(self.id), 0)
    }

    /// Whether the current runtime's kernel has this feature (a lookup in
    /// the ring's probe bitmap).
    ///
    /// # Panics
    ///
    /// Panics outside a coring runtime.
    pub fn is_supported(self) -> bool {
        crate::context::with_core(|core| core.driver.borrow().has_opcode(self.probe))
    }
}

/// The id an unsupported completion's `res` carries, if it is one.
#[inline]
pub(crate) fn unsupported_id(res: i32) -> Option<u16> {
    // Errnos are -1..=-4095; ids are 0..512.
    let id = i64::from(res) - i64::from(i32::MIN);
    (0..512).contains(&id).then_some(id as u16)
}

/// The error of an op whose feature this kernel lacks.
#[cold]
pub(crate) fn unsupported_error(id: u16) -> io::Error {
    let (name, since) = describe(id);
    io::Error::new(io::ErrorKind::Unsupported, Missing { name, since })
}

/// The payload of the `Unsupported` error: the feature and the kernel
/// that brought it.
#[derive(Debug)]
struct Missing {
    name: String,
    since: Option<&'static str>,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "coring: {} is not in this kernel's io_uring (",
            self.name
        )?;
        if let Some(since) = self.since {
            write!(f, "it came in Linux {since}; ")?;
        }
        write!(f, "the ring's opcode probe lacks it); see docs/KERNELS.md")
    }
}

impl std::error::Error for Missing {}

/// Whether `e` is the error of an op whose kernel feature is missing
/// (and so never reached the kernel).
pub fn is_unsupported(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|m| m.is::<Missing>())
}

/// The name and first kernel of feature `id`.
fn describe(id: u16) -> (String, Option<&'static str>) {
    if let Some(&(name, since)) = id.checked_sub(256).and_then(|i| FLAGS.get(usize::from(i))) {
        return (name.to_string(), Some(since));
    }
    let Ok(code) = u8::try_from(id) else {
        return (format!("feature #{id}"), None);
    };
    let known: &[(u8, &str, &str)] = &[
        (opcode::MkDirAt::CODE, "IORING_OP_MKDIRAT", "5.15"),
        (opcode::SymlinkAt::CODE, "IORING_OP_SYMLINKAT", "5.15"),
        (opcode::LinkAt::CODE, "IORING_OP_LINKAT", "5.15"),
        (opcode::MsgRingData::CODE, "IORING_OP_MSG_RING", "5.18"),
        (opcode::Socket::CODE, "IORING_OP_SOCKET", "5.19"),
        (opcode::UringCmd16::CODE, "IORING_OP_URING_CMD", "5.19"),
        (opcode::SendZc::CODE, "IORING_OP_SEND_ZC", "6.0"),
        (opcode::SendMsgZc::CODE, "IORING_OP_SENDMSG_ZC", "6.1"),
        (opcode::Ftruncate::CODE, "IORING_OP_FTRUNCATE", "6.9"),
    ];
    match known.iter().find(|k| k.0 == code) {
        Some(&(_, name, since)) => (name.to_string(), Some(since)),
        None => (format!("io_uring opcode {code}"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_completions_are_not_errnos() {
        for f in [
            Feature::MKDIRAT,
            Feature::RECV_MULTISHOT,
            Feature::opcode(255),
        ] {
            let c = f.unsupported();
            let e = c.result().expect_err("an unsupported op fails");
            assert_eq!(e.kind(), io::ErrorKind::Unsupported);
            assert!(is_unsupported(&e), "{e}");
        }
        let e = Feature::RECV_MULTISHOT.unsupported().result().unwrap_err();
        assert!(e.to_string().contains("IORING_RECV_MULTISHOT"), "{e}");
        assert!(e.to_string().contains("Linux 6.0"), "{e}");
        let e = Feature::MKDIRAT.unsupported().result().unwrap_err();
        assert!(e.to_string().contains("IORING_OP_MKDIRAT"), "{e}");
        let e = Feature::opcode(255).unsupported().result().unwrap_err();
        assert_eq!(
            e.to_string(),
            "coring: io_uring opcode 255 is not in this kernel's io_uring (the ring's \
             opcode probe lacks it); see docs/KERNELS.md"
        );
        let other = io::Error::new(io::ErrorKind::Unsupported, "something else");
        assert!(!is_unsupported(&other));
        for errno in [1, libc::EINVAL, 4095] {
            assert_eq!(unsupported_id(-errno), None);
            let e = Completion::new(-errno, 0).result().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(errno));
        }
    }
}
