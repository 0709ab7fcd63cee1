//! How we talk to the kernel: push SQEs, enter, reap CQEs.
//!
//! One `io_uring_enter(2)` per turn submits what was pushed and, when the
//! runtime has nothing to run, waits in the same call. A full SQ is
//! flushed and the push retried. With IORING_FEAT_NODROP an overflowed CQ
//! is never lost: the kernel keeps the extra CQEs and hands them over on
//! the next enter with GETEVENTS, which every enter here carries when the
//! overflow flag is set.

pub(crate) mod backend;
mod buf_ring;
pub(crate) mod epoll;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod park;
mod register;
mod setup;
pub(crate) mod table;
pub(crate) mod unpark;

pub(crate) use setup::{build_ring, RingConfig, SetupFlags, MAX_ENTRIES};
pub(crate) use table::{OpTable, CANCEL_TAG, IGNORE_USER_DATA, MSG_RING_USER_DATA, WAKE_USER_DATA};

use crate::op::lifecycle::{has_more, Lifecycle, OnDrop};
use crate::op::{Completion, MultishotOpCode, OpCode, Orphan};
use io_uring::{opcode, squeue, types, IoUring};
use std::os::fd::{AsRawFd, RawFd};
use std::task::{Poll, Waker};
use std::time::Duration;
use std::{io, ptr};

// From <linux/io_uring.h>.
const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
const IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
const IORING_ENTER_SQ_WAIT: u32 = 1 << 2;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
const IORING_REGISTER_RING_FDS: libc::c_uint = 20;

/// `struct io_uring_getevents_arg` (IORING_ENTER_EXT_ARG, 5.11).
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// What a reap produced that must be acted on once the driver is no
/// longer borrowed: wakers to wake, orphans to finish.
#[derive(Default)]
pub(crate) struct Reaped {
    pub(crate) wakers: Vec<Waker>,
    pub(crate) orphans: Vec<(Box<dyn Orphan>, Completion)>,
}

impl Reaped {
    pub(crate) fn is_empty(&self) -> bool {
        self.wakers.is_empty() && self.orphans.is_empty()
    }
}

/// Driver-side counters.
#[derive(Default, Clone, Copy)]
pub(crate) struct DriverCounters {
    pub(crate) submitted: u64,
    pub(crate) reaped: u64,
    pub(crate) enters: u64,
    pub(crate) parks: u64,
    pub(crate) overflows: u64,
    /// Enters that said EBADR: the kernel dropped CQEs (it could not
    /// allocate overflow entries).
    pub(crate) cq_dropped: u64,
}

/// What turns SQEs into completions.
// The ring stays inline (boxing it would add a load to every push and
// reap); the rarely used emulator is the boxed one.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kernel {
    /// The kernel's ring: first in every match.
    Uring(IoUring),
    /// The epoll emulator (boxed: the ring is the common case).
    Epoll(Box<epoll::Emulator>),
}

/// One ring and its op table.
pub(crate) struct Driver {
    kernel: Kernel,
    pub(crate) ops: OpTable,
    flags: SetupFlags,
    /// The fd (or registered ring index) passed to io_uring_enter.
    enter_fd: RawFd,
    enter_flags: u32,
    /// The eventfd remote wakes write; its read is kept armed.
    wake_fd: RawFd,
    /// Where the armed eventfd read lands (boxed: the kernel holds the
    /// address until the read's CQE).
    wake_buf: Box<u64>,
    wake_armed: bool,
    /// The kernel has IORING_OP_MSG_RING (5.18).
    has_msg_ring: bool,
    /// The opcodes the kernel has, a bit each (IORING_REGISTER_PROBE,
    /// read once here; see `register.rs`).
    opcodes: [u64; 4],
    pub(crate) reaped: Reaped,
    pub(crate) counters: DriverCounters,
    /// SQEs that may still be pushed before the turn submits early
    /// (`Builder::submit_batch`); reset to `submit_batch` by each enter.
    /// u32::MAX without a limit: the SQ fills (and is submitted) first.
    batch_left: u32,
    submit_batch: u32,
    /// The same for device ops (`OpCode::DEVICE`, `Builder::device_batch`).
    device_left: u32,
    device_batch: u32,
    /// The ring's fixed-buffer table and registered-file table (see
    /// `register.rs`).
    buf_table: std::cell::Cell<register::RingTable>,
    file_table: std::cell::Cell<register::RingTable>,
}

impl Driver {
    pub(crate) fn new(
        cfg: &RingConfig,
        register_ring_fd: bool,
        wake_fd: RawFd,
        backend: backend::BackendKind,
    ) -> io::Result<Self> {
        let (kernel, flags, enter_fd) = match backend {
            backend::BackendKind::IoUring => {
                let (ring, flags) = build_ring(cfg)?;
                let fd = ring.as_raw_fd();
                (Kernel::Uring(ring), flags, fd)
            }
            backend::BackendKind::Epoll => {
                // The same sizes are refused on both backends.
                setup::check_sizes(cfg)?;
                // The wake eventfd is read through the emulator, which
                // must never block on it.
                epoll::set_nonblocking(wake_fd);
                (
                    Kernel::Epoll(Box::new(epoll::Emulator::new()?)),
                    SetupFlags::default(),
                    -1,
                )
            }
        };
        let mut d = Driver {
            enter_fd,
            kernel,
            ops: OpTable::new(),
            flags,
            enter_flags: 0,
            wake_fd,
            wake_buf: Box::new(0),
            wake_armed: false,
            has_msg_ring: false,
            opcodes: [0; 4],
            reaped: Reaped::default(),
            counters: DriverCounters::default(),
            batch_left: u32::MAX,
            // With SQPOLL every push takes `batch_full`'s cold path, which
            // counts it (the kernel thread submits on its own time); so
            // the common push tests no SQPOLL flag.
            submit_batch: match cfg.submit_batch {
                _ if flags.sqpoll => 1,
                Some(n) => n,
                None => u32::MAX,
            },
            device_left: u32::MAX,
            device_batch: match cfg.device_batch {
                Some(n) if !flags.sqpoll => n,
                _ => u32::MAX,
            },
            buf_table: Default::default(),
            file_table: Default::default(),
        };
        d.batch_left = d.submit_batch;
        d.device_left = d.device_batch;
        d.opcodes = d.read_probe();
        let Kernel::Uring(_) = &d.kernel else {
            return Ok(d);
        };
        d.has_msg_ring = d.has_opcode(opcode::MsgRingData::CODE);
        if register_ring_fd {
            // Optional (5.18+): saves an fd lookup per enter; older kernels
            // say EINVAL and we go on with the plain fd.
            if let Ok(index) = d.register_ring_fd() {
                d.enter_fd = index;
                d.enter_flags = IORING_ENTER_REGISTERED_RING;
            }
        }
        Ok(d)
    }

    fn register_ring_fd(&self) -> io::Result<RawFd> {
        register_fault()?;
        let ring_fd = self.ring_fd();
        let mut up = RsrcUpdate {
            offset: u32::MAX,
            resv: 0,
            data: ring_fd as u64,
        };
        // SAFETY: io_uring_register(2) with IORING_REGISTER_RING_FDS reads
        // and writes one io_uring_rsrc_update, which `up` is, for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring_fd,
                IORING_REGISTER_RING_FDS,
                &mut up as *mut RsrcUpdate,
                1,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(up.offset as RawFd)
    }

    pub(crate) fn setup_flags(&self) -> SetupFlags {
        self.flags
    }

    /// The ring's fd (-1 on the epoll backend).
    fn ring_fd(&self) -> RawFd {
        match &self.kernel {
            Kernel::Uring(ring) => ring.as_raw_fd(),
            Kernel::Epoll(_) => -1,
        }
    }

    /// The backend this driver runs.
    pub(crate) fn backend_kind(&self) -> backend::BackendKind {
        match self.kernel {
            Kernel::Uring(_) => backend::BackendKind::IoUring,
            Kernel::Epoll(_) => backend::BackendKind::Epoll,
        }
    }

    /// Builds `op`'s SQE, enters it in the table and pushes it. Returns the
    /// op's user_data.
    #[inline]
    pub(crate) fn submit<T: OpCode>(&mut self, op: &mut T) -> u64 {
        let sqe = op.build();
        let user_data = self.ops.insert(Lifecycle::Submitted);
        self.push(&sqe.user_data(user_data));
        if T::DEVICE {
            self.device_left -= 1;
            if self.device_left == 0 {
                self.submit_batch_now();
            }
        }
        user_data
    }

    /// Pushes a multishot op's SQE; its entry queues CQEs for a stream.
    pub(crate) fn submit_multishot<T: MultishotOpCode>(&mut self, op: &mut T) -> u64 {
        let sqe = op.build();
        let user_data = self.ops.insert(Lifecycle::Streaming(Box::default()));
        self.push(&sqe.user_data(user_data));
        user_data
    }

    /// The stream's poll: its next CQE, if one came. The entry goes with
    /// the final CQE.
    pub(crate) fn poll_next_cqe(&mut self, user_data: u64, waker: &Waker) -> Poll<Completion> {
        let Some(state) = self.ops.get_mut(user_data) else {
            panic!("coring: multishot op polled after its table entry was removed (a coring bug)");
        };
        let poll = state.transition_to_next(waker);
        if let Poll::Ready(c) = &poll {
            if !has_more(c) {
                // An ended stream's state holds no waker nor CQE any more.
                drop(self.ops.remove(user_data));
            }
        }
        poll
    }

    /// Pushes one SQE; a full SQ is flushed first, never an error.
    #[inline]
    pub(crate) fn push(&mut self, sqe: &squeue::Entry) {
        loop {
            #[cfg(feature = "fault-injection")]
            if fault::hit(fault::Point::Push).is_some() {
                self.make_room();
                continue;
            }
            let ring = match &mut self.kernel {
                Kernel::Uring(ring) => ring,
                Kernel::Epoll(e) => return push_emulated(e, sqe, &mut self.counters),
            };
            // SAFETY: every pointer in `sqe` stays valid until its CQE: ops
            // guarantee it through the OpCode contract (their resources live
            // in the Op future or in the table until the final CQE); the
            // runtime's own SQEs point into `wake_buf`, kept until shutdown
            // has reaped the read's CQE.
            if unsafe { ring.submission().push(sqe) }.is_ok() {
                self.batch_left -= 1;
                if self.batch_left == 0 {
                    self.batch_full();
                }
                return;
            }
            self.make_room();
        }
    }

    /// `Builder::submit_batch` SQEs wait: submit them now. Under SQPOLL
    /// (a batch of 1) the kernel thread takes each on its own time: count
    /// it as submitted instead.
    #[cold]
    #[inline(never)]
    fn batch_full(&mut self) {
        if self.flags.sqpoll {
            self.counters.submitted += 1;
            self.batch_left = 1;
            return;
        }
        self.submit_batch_now();
    }

    /// `Builder::submit_batch` / `device_batch`: enough SQEs wait; submit
    /// them now.
    #[cold]
    #[inline(never)]
    fn submit_batch_now(&mut self) {
        if let Err(e) = self.enter_raw(false, None, 0) {
            fatal(e);
        }
    }

    fn make_room(&mut self) {
        // Reaping first frees CQ space, so the kernel can post and flush any
        // overflow while it takes our SQEs.
        self.reap();
        let extra = if self.flags.sqpoll {
            IORING_ENTER_SQ_WAIT
        } else {
            0
        };
        if let Err(e) = self.enter_raw(false, None, extra) {
            fatal(e);
        }
    }

    /// Cancels the op `user_data` if its final CQE has not come.
    pub(crate) fn cancel_in_flight(&mut self, user_data: u64) {
        if matches!(self.ops.get_mut(user_data), Some(s) if s.is_in_flight()) {
            self.push_cancel(user_data);
        }
    }

    /// Submits an ASYNC_CANCEL for `target`. An op's cancel carries
    /// `CANCEL_TAG | target`: its CQE goes to the table, which keeps a
    /// missed one to send again (`table.rs`); the wake read's is ignored.
    pub(crate) fn push_cancel(&mut self, target: u64) {
        let user_data = if target < CANCEL_TAG {
            CANCEL_TAG | target
        } else {
            IGNORE_USER_DATA
        };
        let sqe = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data);
        self.push(&sqe);
    }

    /// Sends again the cancels the kernel missed (ENOENT or EALREADY for
    /// an op still in flight) that are due by `now`.
    #[cold]
    #[inline(never)]
    pub(crate) fn retry_missed_cancels(&mut self, now: std::time::Instant) {
        for target in self.ops.take_due_cancels(now) {
            if matches!(self.ops.get_mut(target), Some(Lifecycle::Streaming(_))) {
                self.cancel_multishot(target);
            } else {
                self.push_cancel(target);
            }
        }
    }

    /// The ring's own fd, the target of other rings' MSG_RING wakes, when
    /// this kernel can send them.
    pub(crate) fn msg_ring_target(&self) -> Option<RawFd> {
        self.has_msg_ring.then(|| self.ring_fd())
    }

    /// Pushes a MSG_RING that posts a wake CQE into the ring `target`. It
    /// goes with this ring's next enter; its own CQE is skipped on success
    /// (and ignored on failure: a ring that is gone needs no wake).
    pub(crate) fn push_msg_ring(&mut self, target: RawFd) -> bool {
        if !self.has_msg_ring {
            return false;
        }
        let sqe = opcode::MsgRingData::new(types::Fd(target), 0, MSG_RING_USER_DATA, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(IGNORE_USER_DATA);
        self.push(&sqe);
        true
    }

    /// Keeps a read of the wake eventfd in the ring.
    #[inline]
    pub(crate) fn arm_wake(&mut self) {
        if !self.wake_armed {
            self.arm_wake_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn arm_wake_slow(&mut self) {
        let sqe = opcode::Read::new(
            types::Fd(self.wake_fd),
            ptr::addr_of_mut!(*self.wake_buf).cast(),
            8,
        )
        .build()
        .user_data(WAKE_USER_DATA);
        self.push(&sqe);
        self.wake_armed = true;
    }

    /// The op's poll: result if its CQE came, else remember the waker.
    #[inline]
    pub(crate) fn poll_op(&mut self, user_data: u64, waker: &Waker) -> Poll<Completion> {
        match self.ops.poll(user_data, waker) {
            Some(poll) => poll,
            // Unreachable by the table rules: an entry is removed only by
            // its own future, or when the future is gone.
            None => op_gone(),
        }
    }

    /// The op's future was dropped: keep its resources until the final
    /// CQE. Returns them with the completion when the CQE already came.
    pub(crate) fn abandon(
        &mut self,
        user_data: u64,
        orphan: Box<dyn Orphan>,
    ) -> Option<(Box<dyn Orphan>, Completion)> {
        let Some(state) = self.ops.get_mut(user_data) else {
            return Some((orphan, Completion::new(-libc::ECANCELED, 0)));
        };
        let multishot = matches!(state, Lifecycle::Streaming(_));
        match state.transition_to_abandoned(orphan) {
            OnDrop::Cancel if multishot => {
                self.cancel_multishot(user_data);
                None
            }
            OnDrop::Cancel => {
                self.push_cancel(user_data);
                None
            }
            OnDrop::Done(c, orphan) => {
                self.ops.remove(user_data);
                Some((orphan, c))
            }
        }
    }

    /// Like [`abandon`](Self::abandon), but the op is left to finish: it
    /// is cancelled only if it is still in flight at `deadline` (never
    /// when `None`). Multishot ops are cancelled at once, as abandoned.
    pub(crate) fn detach(
        &mut self,
        user_data: u64,
        orphan: Box<dyn Orphan>,
        deadline: Option<std::time::Instant>,
    ) -> Option<(Box<dyn Orphan>, Completion)> {
        let Some(state) = self.ops.get_mut(user_data) else {
            return Some((orphan, Completion::new(-libc::ECANCELED, 0)));
        };
        if matches!(state, Lifecycle::Streaming(_)) {
            return self.abandon(user_data, orphan);
        }
        match state.transition_to_abandoned(orphan) {
            OnDrop::Cancel => {
                if let Some(due) = deadline {
                    self.ops.cancel_at(user_data, due);
                }
                None
            }
            OnDrop::Done(c, orphan) => {
                self.ops.remove(user_data);
                Some((orphan, c))
            }
        }
    }

    /// A multishot op's cancel goes to the kernel in an enter of its own:
    /// on a DEFER_TASKRUN ring (seen on 6.18), a multishot accept armed in
    /// the same enter as the cancel of the previous one on the same
    /// listener is never woken (`tests/net_accept_replace.rs`). Dropping a
    /// stream is rare; the extra enters cost nothing on the op path.
    #[cold]
    fn cancel_multishot(&mut self, user_data: u64) {
        if let Err(e) = self.enter_raw(false, None, 0) {
            fatal(e);
        }
        self.push_cancel(user_data);
        if let Err(e) = self.enter_raw(false, None, 0) {
            fatal(e);
        }
    }

    /// Whether CQEs wait in the ring.
    pub(crate) fn has_cqes(&mut self) -> bool {
        match &mut self.kernel {
            Kernel::Uring(ring) => !ring.completion().is_empty(),
            Kernel::Epoll(e) => e.has_cqes(),
        }
    }

    /// Whether completions wait to be reaped: CQEs in the ring, or (with
    /// IORING_SETUP_TASKRUN_FLAG) completions the kernel holds until the
    /// ring's thread enters. Two loads from the shared rings; `false` on
    /// the epoll backend, whose completions only appear in an enter.
    pub(crate) fn has_pending(&mut self) -> bool {
        match &mut self.kernel {
            Kernel::Uring(ring) => ring.submission().taskrun() || !ring.completion().is_empty(),
            Kernel::Epoll(_) => false,
        }
    }

    /// Whether SQEs were pushed and not yet submitted.
    pub(crate) fn has_unsubmitted(&mut self) -> bool {
        match &mut self.kernel {
            Kernel::Uring(ring) => !ring.submission().is_empty(),
            Kernel::Epoll(e) => e.has_unsubmitted(),
        }
    }

    /// Submits pending SQEs; when `wait`, also waits for one CQE or for
    /// `timeout`. Transient errors (EINTR, EAGAIN, EBUSY, ETIME) are not
    /// errors: the caller reaps and goes round again.
    pub(crate) fn enter(&mut self, wait: bool, timeout: Option<Duration>) -> io::Result<()> {
        self.enter_raw(wait, timeout, 0)
    }

    fn enter_raw(&mut self, wait: bool, timeout: Option<Duration>, extra: u32) -> io::Result<()> {
        self.batch_left = self.submit_batch;
        self.device_left = self.device_batch;
        let ring = match &mut self.kernel {
            Kernel::Uring(ring) => ring,
            Kernel::Epoll(e) => return enter_emulated(e, wait, timeout, &mut self.counters),
        };
        let sq = ring.submission();
        let before = sq.len();
        let overflow = sq.cq_overflow();
        let taskrun = sq.taskrun();
        let need_wakeup = self.flags.sqpoll && {
            std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
            sq.need_wakeup()
        };
        drop(sq);
        if overflow {
            self.counters.overflows += 1;
            crate::trace::cq_overflow();
        }
        let mut flags = self.enter_flags | extra;
        if wait || self.flags.defer_taskrun || overflow || taskrun {
            flags |= IORING_ENTER_GETEVENTS;
        }
        let mut to_submit = before as u32;
        if self.flags.sqpoll {
            // The kernel thread takes SQEs itself; enter only to wake it, to
            // wait, or to flush completions.
            to_submit = 0;
            if need_wakeup {
                flags |= IORING_ENTER_SQ_WAKEUP;
            } else if flags & (IORING_ENTER_GETEVENTS | IORING_ENTER_SQ_WAIT) == 0 {
                return Ok(());
            }
        } else if to_submit == 0 && flags & IORING_ENTER_GETEVENTS == 0 {
            return Ok(());
        }
        let ts;
        let arg;
        let (arg_ptr, arg_size) = match timeout {
            Some(t) if wait => {
                ts = KernelTimespec {
                    tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: i64::from(t.subsec_nanos()),
                };
                arg = GeteventsArg {
                    sigmask: 0,
                    sigmask_sz: 0,
                    min_wait_usec: 0,
                    ts: ptr::addr_of!(ts) as u64,
                };
                flags |= IORING_ENTER_EXT_ARG;
                (
                    ptr::addr_of!(arg).cast::<libc::c_void>(),
                    std::mem::size_of::<GeteventsArg>(),
                )
            }
            _ => (ptr::null(), 0),
        };
        self.counters.enters += 1;
        if wait {
            self.counters.parks += 1;
        }
        #[cfg(feature = "fault-injection")]
        if let Some(errno) = fault::hit(fault::Point::Enter) {
            return self.enter_result(-(errno as isize));
        }
        // SAFETY: io_uring_enter(2) on our ring; `arg_ptr` is null or points
        // to a GeteventsArg (whose `ts` points to a live timespec) of
        // `arg_size` bytes that outlive the call.
        let r = unsafe {
            io_uring_enter(
                self.enter_fd,
                to_submit,
                u32::from(wait),
                flags,
                arg_ptr,
                arg_size,
            )
        };
        if !self.flags.sqpoll && r > 0 {
            self.counters.submitted += r as u64;
        }
        if r >= 0 {
            return Ok(());
        }
        self.enter_result(r)
    }

    /// What a failed enter means. EINTR, EAGAIN, EBUSY and ETIME are
    /// transient: the caller reaps and goes round again. EBADR says the
    /// kernel dropped CQEs it could not allocate room for (the condition
    /// clears with this report, see io_uring_enter(2)): counted, not an
    /// error. Anything else means the ring is broken.
    #[cold]
    fn enter_result(&mut self, r: isize) -> io::Result<()> {
        match -r as i32 {
            libc::EINTR | libc::EAGAIN | libc::EBUSY | libc::ETIME => Ok(()),
            libc::EBADR => {
                self.counters.cq_dropped += 1;
                Ok(())
            }
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// Reaps every CQE in the ring: results into the table, the wakers of
    /// tasks to wake to `wake`, abandoned ops' resources into
    /// `self.reaped.orphans`. `wake` must run no foreign code (it queues
    /// this runtime's tasks, and keeps other wakers for later); orphans
    /// are finished once the driver is no longer borrowed.
    #[inline]
    pub(crate) fn reap_with(&mut self, mut wake: impl FnMut(Waker)) {
        let ring = match &mut self.kernel {
            Kernel::Uring(ring) => ring,
            // Out of line, and `wake` not passed: its one call site stays
            // here, inlined into the ring's loop. The emulator's wakers go
            // to `reaped`, which the turn wakes next.
            Kernel::Epoll(_) => return self.reap_emulated(),
        };
        let mut n = 0u64;
        for cqe in &mut ring.completion() {
            n += 1;
            self.ops.on_cqe(
                &mut self.wake_armed,
                &mut self.reaped,
                cqe.user_data(),
                Completion::new(cqe.result(), cqe.flags()),
                &mut wake,
            );
        }
        self.counters.reaped += n;
    }

    /// The epoll backend's reap: the userspace CQ, in order.
    #[cold]
    #[inline(never)]
    fn reap_emulated(&mut self) {
        let Kernel::Epoll(e) = &mut self.kernel else {
            return;
        };
        let mut wakers = std::mem::take(&mut self.reaped.wakers);
        let mut n = 0u64;
        while let Some(cqe) = e.pop_cqe() {
            n += 1;
            self.ops.on_cqe(
                &mut self.wake_armed,
                &mut self.reaped,
                cqe.user_data,
                Completion::new(cqe.res, cqe.flags),
                &mut |w| wakers.push(w),
            );
        }
        self.reaped.wakers = wakers;
        self.counters.reaped += n;
    }

    /// Reaps into the driver's own lists (used where the caller holds no
    /// list: a full SQ, shutdown).
    pub(crate) fn reap(&mut self) {
        let mut wakers = std::mem::take(&mut self.reaped.wakers);
        self.reap_with(|w| wakers.push(w));
        self.reaped.wakers = wakers;
    }

    /// Ops (and the wake read) whose final CQE has not come.
    pub(crate) fn in_flight(&self) -> Vec<u64> {
        let mut v = self.ops.in_flight();
        if self.wake_armed {
            v.push(WAKE_USER_DATA);
        }
        v
    }
}

/// io_uring_enter(2): the result, or `-errno`.
///
/// On x86_64 the `syscall` instruction directly (the enter is on every
/// turn; glibc's variadic `syscall()` shuffles all six arguments and sets
/// errno, ~10 instructions we do not need); elsewhere `libc::syscall`.
///
/// # Safety
///
/// As io_uring_enter(2) requires: `arg` is null or points to `arg_size`
/// readable bytes of the structure `flags` says, valid for the call.
#[inline]
unsafe fn io_uring_enter(
    fd: RawFd,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    arg: *const libc::c_void,
    arg_size: usize,
) -> isize {
    #[cfg(target_arch = "x86_64")]
    {
        let ret: isize;
        // SAFETY: the x86_64 Linux syscall ABI: number in rax, arguments in
        // rdi, rsi, rdx, r10, r8, r9, result in rax; the kernel clobbers
        // rcx and r11 and does not touch the user stack. Memory the kernel
        // reads or writes (the rings, `arg`) is covered by asm!'s default
        // (no `nomem`/`readonly`): the compiler assumes any memory may
        // change.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") libc::SYS_io_uring_enter as isize => ret,
                in("rdi") fd as isize,
                in("rsi") to_submit as usize,
                in("rdx") min_complete as usize,
                in("r10") flags as usize,
                in("r8") arg,
                in("r9") arg_size,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: as the caller promises; libc::syscall passes the
        // arguments through.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit,
                min_complete,
                flags,
                arg,
                arg_size,
            )
        };
        if r < 0 {
            -(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as isize)
        } else {
            r as isize
        }
    }
}

/// The epoll backend's push: queued, started at the next enter.
#[cold]
#[inline(never)]
fn push_emulated(e: &mut epoll::Emulator, sqe: &squeue::Entry, _c: &mut DriverCounters) {
    e.push(sqe);
}

/// The epoll backend's enter: start what was pushed, wait if asked.
#[cold]
#[inline(never)]
fn enter_emulated(
    e: &mut epoll::Emulator,
    wait: bool,
    timeout: Option<Duration>,
    c: &mut DriverCounters,
) -> io::Result<()> {
    c.enters += 1;
    if wait {
        c.parks += 1;
    }
    let before = e.pending();
    let r = e.enter(wait, timeout);
    c.submitted += before as u64;
    r
}

/// A register step's injected fault (feature `fault-injection`).
#[inline]
pub(crate) fn register_fault() -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    if let Some(errno) = fault::hit(fault::Point::Register) {
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn op_gone() -> ! {
    panic!("coring: op polled after its table entry was removed (a coring bug)")
}

/// An enter error that is not transient means the ring itself is broken
/// (EBADF, EFAULT, EINVAL, ENXIO): a coring bug or a ring torn down under
/// us, not bad input.
///
/// It aborts rather than panics. SQEs in the ring may point into memory
/// whose owner is on the stack of the caller (an op being submitted) or
/// in the op table; an unwind would free that memory while the kernel may
/// still read or write it, and a runtime that goes on after a broken enter
/// cannot wait for the CQEs that would make it safe to free.
#[cold]
#[inline(never)]
pub(crate) fn fatal(e: io::Error) -> ! {
    eprintln!(
        "coring: io_uring_enter failed: {e}; the ring cannot go on and memory the kernel \
         may still use cannot be freed safely, so the process aborts (a coring bug or a \
         broken ring)"
    );
    std::process::abort()
}
