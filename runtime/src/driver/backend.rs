//! Which backend turns SQEs into completions: the kernel's io_uring, or
//! the epoll emulator where io_uring is not allowed. Chosen once per
//! process for `Backend::Auto`.

use super::setup::{build_ring, RingConfig};
use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

/// The environment variable that picks the backend when the builder says
/// [`Backend::Auto`]: `auto`, `io_uring` or `epoll`.
pub const BACKEND_ENV: &str = "CORING_BACKEND";

/// Which backend a runtime asks for (see [`Builder::backend`]).
///
/// [`Builder::backend`]: crate::Builder::backend
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backend {
    /// io_uring where the host allows it, else epoll; the environment
    /// variable `CORING_BACKEND` (`auto`, `io_uring`, `epoll`) overrides.
    #[default]
    Auto,
    /// io_uring or an error that says why not.
    IoUring,
    /// The epoll backend; never calls `io_uring_setup(2)`.
    Epoll,
}

/// The backend a runtime runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// The kernel's io_uring.
    #[default]
    IoUring,
    /// coring's epoll emulation of io_uring.
    Epoll,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Epoll => "epoll",
        })
    }
}

/// Which backend a runtime runs, and why (see [`Runtime::backend`]).
///
/// [`Runtime::backend`]: crate::Runtime::backend
#[derive(Debug, Clone)]
pub struct BackendInfo {
    kind: BackendKind,
    fallback: Option<Arc<io::Error>>,
    forced: bool,
}

impl BackendInfo {
    /// The backend.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// After an automatic fall back to epoll: the error io_uring gave.
    pub fn fallback_reason(&self) -> Option<&io::Error> {
        self.fallback.as_deref()
    }
}

impl fmt::Display for BackendInfo {
    /// One line for a program to print at start: which backend, and why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.fallback, self.forced) {
            (Some(e), _) => write!(f, "{} (io_uring unavailable: {e})", self.kind),
            (None, true) => write!(f, "{} (chosen by the program or {BACKEND_ENV})", self.kind),
            (None, false) => write!(f, "{}", self.kind),
        }
    }
}

/// The backend a runtime built with [`Backend::Auto`] gets here (the
/// environment variable and the process-wide probe decide), without
/// building one.
///
/// # Errors
///
/// `InvalidInput` when `CORING_BACKEND` names no backend.
pub fn auto_backend() -> io::Result<BackendInfo> {
    choose(Backend::Auto)
}

/// The process-wide answer to "does io_uring work here?", asked once.
static AUTO: OnceLock<Option<Arc<io::Error>>> = OnceLock::new();

/// Resolves `wanted` (and the environment, for `Auto`) to a backend.
pub(crate) fn choose(wanted: Backend) -> io::Result<BackendInfo> {
    let wanted = match wanted {
        Backend::Auto => from_env()?,
        w => w,
    };
    let info = match wanted {
        Backend::IoUring => BackendInfo {
            kind: BackendKind::IoUring,
            fallback: None,
            forced: true,
        },
        Backend::Epoll => BackendInfo {
            kind: BackendKind::Epoll,
            fallback: None,
            forced: true,
        },
        _ => match AUTO.get_or_init(probe_io_uring) {
            None => BackendInfo {
                kind: BackendKind::IoUring,
                fallback: None,
                forced: false,
            },
            Some(e) => BackendInfo {
                kind: BackendKind::Epoll,
                fallback: Some(e.clone()),
                forced: false,
            },
        },
    };
    crate::trace::backend_chosen(&info);
    Ok(info)
}

fn from_env() -> io::Result<Backend> {
    match std::env::var(BACKEND_ENV) {
        Err(_) => Ok(Backend::Auto),
        Ok(v) => match v.as_str() {
            "" | "auto" => Ok(Backend::Auto),
            "io_uring" | "io-uring" | "iouring" => Ok(Backend::IoUring),
            "epoll" => Ok(Backend::Epoll),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "coring: {BACKEND_ENV}={other:?} is not a backend; use auto, io_uring or epoll"
                ),
            )),
        },
    }
}

/// A small ring with no optional flags: `None` when io_uring works, the
/// error when the host forbids it or the kernel is too old (the cases
/// `Auto` falls back on). Other errors are not the host's verdict, so
/// they leave io_uring chosen and the real build reports them.
fn probe_io_uring() -> Option<Arc<io::Error>> {
    let cfg = RingConfig {
        entries: 2,
        cq_entries: None,
        sqpoll_idle_ms: None,
        single_issuer: false,
        defer_taskrun: false,
        coop_taskrun: false,
        submit_batch: None,
        device_batch: None,
    };
    match build_ring(&cfg) {
        Ok((ring, _)) => missing_opcode(&ring).map(Arc::new),
        Err(e) => match e.kind() {
            io::ErrorKind::PermissionDenied
            | io::ErrorKind::Unsupported
            | io::ErrorKind::OutOfMemory => Some(Arc::new(e)),
            _ => None,
        },
    }
}

/// The first opcode coring relies on that the kernel lacks, as an error.
fn missing_opcode(ring: &io_uring::IoUring) -> Option<io::Error> {
    use io_uring::opcode::*;
    let mut probe = io_uring::Probe::new();
    if ring.submitter().register_probe(&mut probe).is_err() {
        // No probe (before 5.6) means an old kernel, which EXT_ARG
        // already caught; a filter that refuses only the probe is no
        // reason to give io_uring up.
        return None;
    }
    let needed = [
        ("READ", Read::CODE),
        ("WRITE", Write::CODE),
        ("READV", Readv::CODE),
        ("WRITEV", Writev::CODE),
        ("SEND", Send::CODE),
        ("RECV", Recv::CODE),
        ("ACCEPT", Accept::CODE),
        ("CONNECT", Connect::CODE),
        ("OPENAT", OpenAt::CODE),
        ("CLOSE", Close::CODE),
        ("ASYNC_CANCEL", AsyncCancel::CODE),
        ("TIMEOUT", Timeout::CODE),
    ];
    needed
        .iter()
        .find(|(_, op)| !probe.is_supported(*op))
        .map(|(name, _)| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("coring: this kernel's io_uring lacks IORING_OP_{name}"),
            )
        })
}
