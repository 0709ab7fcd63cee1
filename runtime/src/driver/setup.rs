//! Ring setup: probe the IORING_SETUP_* flags the kernel accepts, and turn
//! a refused `io_uring_setup(2)` into an error that names cause and fix.

use io_uring::IoUring;
use std::io;

/// The options the builder asks for.
#[derive(Debug, Clone)]
pub(crate) struct RingConfig {
    pub(crate) entries: u32,
    pub(crate) cq_entries: Option<u32>,
    pub(crate) sqpoll_idle_ms: Option<u32>,
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
    /// Submit once this many SQEs wait, not only at the turn's end.
    pub(crate) submit_batch: Option<u32>,
    /// Submit once this many device ops (`OpCode::DEVICE`) wait.
    pub(crate) device_batch: Option<u32>,
}

/// The flags the kernel took.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SetupFlags {
    pub(crate) sqpoll: bool,
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
}

/// io_uring's largest SQ (IORING_MAX_ENTRIES).
pub(crate) const MAX_ENTRIES: u32 = 32768;

/// Builds the ring, dropping optional flags one at a time while the
/// kernel answers EINVAL (older kernels do not know them; DEFER_TASKRUN
/// also refuses SQPOLL).
pub(crate) fn build_ring(cfg: &RingConfig) -> io::Result<(IoUring, SetupFlags)> {
    check_sizes(cfg)?;
    let mut want = SetupFlags {
        sqpoll: cfg.sqpoll_idle_ms.is_some(),
        single_issuer: cfg.single_issuer,
        defer_taskrun: cfg.defer_taskrun && cfg.single_issuer && cfg.sqpoll_idle_ms.is_none(),
        coop_taskrun: cfg.coop_taskrun,
    };
    loop {
        match try_build(cfg, want) {
            Ok(ring) => {
                check_features(&ring)?;
                return Ok((ring, want));
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                if want.defer_taskrun {
                    want.defer_taskrun = false;
                } else if want.single_issuer {
                    want.single_issuer = false;
                } else if want.coop_taskrun {
                    want.coop_taskrun = false;
                } else {
                    return Err(explain(e, cfg));
                }
            }
            Err(e) => return Err(explain(e, cfg)),
        }
    }
}

fn try_build(cfg: &RingConfig, f: SetupFlags) -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    if let Some(cq) = cfg.cq_entries {
        b.setup_cqsize(cq);
    }
    if let Some(idle) = cfg.sqpoll_idle_ms {
        b.setup_sqpoll(idle);
    }
    if f.single_issuer {
        b.setup_single_issuer();
    }
    if f.defer_taskrun {
        b.setup_defer_taskrun();
    }
    if f.coop_taskrun {
        b.setup_coop_taskrun();
    }
    if f.coop_taskrun || f.defer_taskrun {
        // IORING_SQ_TASKRUN tells `Driver::has_pending` that completions
        // wait for the ring's thread (same kernels as COOP_TASKRUN).
        b.setup_taskrun_flag();
    }
    b.build(cfg.entries)
}

pub(crate) fn check_sizes(cfg: &RingConfig) -> io::Result<()> {
    if cfg.entries == 0 || cfg.entries > MAX_ENTRIES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "coring: SQ entries must be 1..={MAX_ENTRIES}, got {}",
                cfg.entries
            ),
        ));
    }
    if let Some(cq) = cfg.cq_entries {
        if cq < cfg.entries || cq > 2 * MAX_ENTRIES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "coring: CQ entries must be between the SQ size ({}) and {}, got {cq}",
                    cfg.entries,
                    2 * MAX_ENTRIES
                ),
            ));
        }
    }
    Ok(())
}

/// coring waits with a timeout through IORING_ENTER_EXT_ARG (5.11) and
/// relies on the kernel never dropping a CQE (IORING_FEAT_NODROP, 5.5).
fn check_features(ring: &IoUring) -> io::Result<()> {
    let p = ring.params();
    if !p.is_feature_ext_arg() || !p.is_feature_nodrop() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "coring: this kernel's io_uring lacks IORING_FEAT_EXT_ARG or \
             IORING_FEAT_NODROP; coring needs Linux 5.11 or newer",
        ));
    }
    Ok(())
}

/// Names the cause of a refused `io_uring_setup(2)` and what to do.
pub(crate) fn explain(e: io::Error, cfg: &RingConfig) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EPERM) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "coring: io_uring_setup failed with EPERM: io_uring is blocked on this host. \
                 {} Fix: set the sysctl kernel.io_uring_disabled to 0 (or, when it is 1, run \
                 as a member of kernel.io_uring_group); in a container, use a seccomp profile \
                 that allows io_uring_setup, io_uring_enter and io_uring_register (Docker and \
                 containerd's default profiles deny them: e.g. docker run \
                 --security-opt seccomp=unconfined)",
                disabled_sysctl()
            ),
        ),
        Some(libc::ENOSYS) => io::Error::new(
            io::ErrorKind::Unsupported,
            "coring: io_uring_setup failed with ENOSYS: this kernel has no io_uring, or a \
             seccomp filter hides it. coring needs Linux 5.11 or newer built with \
             CONFIG_IO_URING=y, and a seccomp profile that allows io_uring_setup, \
             io_uring_enter and io_uring_register",
        ),
        Some(libc::ENOMEM) => io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "coring: io_uring_setup failed with ENOMEM for a ring of {} entries: kernels \
                 before 5.12 charge ring memory against RLIMIT_MEMLOCK. Fix: raise it \
                 (ulimit -l, or LimitMEMLOCK= for a systemd service) or use fewer entries",
                cfg.entries
            ),
        ),
        Some(libc::EINVAL) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "coring: io_uring_setup refused the ring parameters (EINVAL) even without \
                 optional flags: {cfg:?}"
            ),
        ),
        _ => io::Error::new(e.kind(), format!("coring: io_uring_setup failed: {e}")),
    }
}

/// What the sysctl says, when it says io_uring is off.
fn disabled_sysctl() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        Ok(v) if v.trim() != "0" => {
            format!("The sysctl kernel.io_uring_disabled is {} here.", v.trim())
        }
        Ok(_) => "The sysctl kernel.io_uring_disabled is 0 here, so a seccomp filter \
                  (container runtime or sandbox) is the likely cause."
            .to_string(),
        Err(_) => "Either the sysctl kernel.io_uring_disabled or a seccomp filter is the \
                   cause."
            .to_string(),
    }
}
