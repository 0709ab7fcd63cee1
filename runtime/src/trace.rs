//! The runtime's `tracing` events (feature `tracing`). Without the
//! feature every function here is empty and inlined away, and the
//! `tracing` crate is not a dependency.
//!
//! Events, all with target `coring`:
//! - `backend chosen` (info; warn after a fall back, with the reason);
//! - `runtime started` / `runtime stopped` (debug);
//! - `completion queue overflowed` (warn);
//! - `task panicked` (error, with the panic's message).

#[cfg(feature = "tracing")]
use crate::driver::backend::BackendInfo;

/// A backend was chosen for a new runtime.
#[cfg(feature = "tracing")]
pub(crate) fn backend_chosen(info: &BackendInfo) {
    match info.fallback_reason() {
        Some(e) => tracing::warn!(
            target: "coring",
            backend = %info.kind(),
            reason = %e,
            "backend chosen: io_uring unavailable, falling back to epoll"
        ),
        None => tracing::info!(target: "coring", backend = %info.kind(), "backend chosen: {info}"),
    }
}

/// A runtime was built.
#[cfg(feature = "tracing")]
pub(crate) fn runtime_started(info: &BackendInfo, entries: u32) {
    tracing::debug!(target: "coring", backend = %info.kind(), entries, "runtime started");
}

/// A runtime was shut down (dropped).
#[inline(always)]
pub(crate) fn runtime_stopped() {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "coring", "runtime stopped");
}

/// The completion queue overflowed (the kernel kept CQEs aside).
#[inline(always)]
pub(crate) fn cq_overflow() {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "coring", "completion queue overflowed: CQEs wait in the kernel's overflow list; a bigger cq_entries avoids it");
}

/// A task's poll panicked; the panic goes to its `JoinHandle`.
#[inline(always)]
pub(crate) fn task_panicked(payload: &(dyn std::any::Any + Send)) {
    #[cfg(feature = "tracing")]
    {
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(a non-string panic payload)");
        tracing::error!(target: "coring", panic = msg, "task panicked");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = payload;
}

/// No-op without the feature.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn backend_chosen<T>(_: &T) {}

/// No-op without the feature.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn runtime_started<T>(_: &T, _: u32) {}
