//! The epoll backend: a userspace ring that turns SQEs into completions
//! where io_uring is not allowed.
//!
//! The driver pushes the same SQEs it would give the kernel; [`Emulator`]
//! queues them, and each enter:
//! 1. starts every new SQE: ops that never block run inline (NOP,
//!    SOCKET, SHUTDOWN, CLOSE, ASYNC_CANCEL, TIMEOUT goes on a timer
//!    list); readiness ops (reads, writes, sends, receives, accept,
//!    connect) are tried once without blocking, as io_uring's first
//!    attempt is; regular-file I/O is tried with RWF_NOWAIT; path and
//!    sync ops go to the blocking pool;
//! 2. an op that would block waits for its fd's readiness: each fd is
//!    registered once, edge-triggered, with a queue of waiting ops per
//!    direction, retried in order when epoll says the fd is ready;
//! 3. waits in `epoll_wait(2)` when asked to and no completion is ready,
//!    bounded by the caller's timeout and the next TIMEOUT op;
//! 4. posts completions `(user_data, res, flags)` to a userspace CQ that
//!    the driver reaps as it reaps the kernel's.
//!
//! Completions are never posted from `push`. The emulator touches only
//! the memory an SQE names, and only between its push and its final
//! completion, which the `OpCode` contract already guarantees valid.
//!
//! Rules:
//! 1. An op lives in exactly one place until its final CQE: the SQ, the
//!    waiting map (and its fd's queue), the timer list, or the pool.
//! 2. ASYNC_CANCEL takes an op out of the SQ's successors (waiting map,
//!    timers, pool queue) and posts -ECANCELED for it; an op the pool is
//!    running completes with its real result and the cancel gets
//!    -EALREADY, as io-wq does.
//! 3. An fd's registration is forgotten when coring closes it (a CLOSE op,
//!    or the last `SharedFd` dropped on a thread running an emulator), so
//!    a reused fd number is registered anew.

mod exec;
pub(crate) use exec::set_nonblocking;
mod pool;
pub(crate) mod sqe;

use exec::{Attempt, FdKind};
use io_uring::opcode;
use pool::{Cancel, Pool};
use sqe::*;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// One completion of the userspace CQ.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cqe {
    pub(crate) user_data: u64,
    pub(crate) res: i32,
    pub(crate) flags: u32,
}

/// An op waiting for its fd to be ready.
struct Waiter {
    sqe: RawSqe,
    fd: RawFd,
    /// A CONNECT that got EINPROGRESS: its retry reads SO_ERROR.
    connecting: bool,
    /// Bytes a SEND with MSG_WAITALL sent so far (its SQE then points
    /// past them).
    sent: u32,
}

#[derive(Default)]
struct FdState {
    kind: FdKind,
    registered: bool,
    readers: VecDeque<u64>,
    writers: VecDeque<u64>,
}

/// Per-fd state, indexed by fd number.
#[derive(Default)]
struct FdTable(Vec<FdState>);

impl FdTable {
    fn entry(&mut self, fd: RawFd) -> &mut FdState {
        let i = fd.max(0) as usize;
        if i >= self.0.len() {
            self.0.resize_with(i + 1, FdState::default);
        }
        &mut self.0[i]
    }

    fn get_mut(&mut self, fd: RawFd) -> Option<&mut FdState> {
        self.0.get_mut(usize::try_from(fd).ok()?)
    }
}

/// Hashes a user_data (generation << 32 | slot) by multiplying: the keys
/// are the op table's own, not an attacker's, and SipHash is slow here.
#[derive(Default, Clone, Copy)]
struct BuildUserData;

#[derive(Default)]
struct UserDataHasher(u64);

impl std::hash::BuildHasher for BuildUserData {
    type Hasher = UserDataHasher;
    fn build_hasher(&self) -> UserDataHasher {
        UserDataHasher(0)
    }
}

impl std::hash::Hasher for UserDataHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A provided-buffer ring (IORING_REGISTER_PBUF_RING) as the emulator
/// consumes it: it keeps the head the kernel would.
struct BufRingReg {
    addr: u64,
    entries: u16,
    head: u16,
}

thread_local! {
    /// Emulators alive on this thread.
    static ACTIVE: Cell<usize> = const { Cell::new(0) };
    /// fds closed on this thread since the emulators last looked.
    static CLOSED: RefCell<Vec<RawFd>> = const { RefCell::new(Vec::new()) };
}

/// Tells this thread's emulators that coring closes `fd` (rule 3). Costs
/// a thread-local read where no emulator runs.
#[inline]
pub(crate) fn note_closed(fd: RawFd) {
    if ACTIVE.with(Cell::get) > 0 {
        CLOSED.with(|c| c.borrow_mut().push(fd));
    }
}

/// The opcodes the emulator runs.
pub(crate) fn supports(op: u8) -> bool {
    exec::is_rw(op)
        || exec::is_pool_only(op)
        || is_socket_op(op)
        || matches!(
            op,
            opcode::Nop::CODE
                | opcode::AsyncCancel::CODE
                | opcode::Timeout::CODE
                | opcode::Close::CODE
                | opcode::Socket::CODE
                | opcode::Shutdown::CODE
        )
}

pub(crate) struct Emulator {
    epfd: OwnedFd,
    sq: Vec<RawSqe>,
    cq: VecDeque<Cqe>,
    waiting: HashMap<u64, Waiter, BuildUserData>,
    /// By fd number (small, dense integers).
    fds: FdTable,
    /// TIMEOUT ops: deadline and user_data.
    timers: Vec<(Instant, u64)>,
    pool: Pool,
    pool_done: Vec<(u64, i32)>,
    /// The registered-file table: slot -> a dup of the fd (the table
    /// holds its own reference, as the kernel's does).
    /// (RefCells: registration goes through `&Driver`.)
    files: RefCell<Vec<Option<OwnedFd>>>,
    buf_rings: RefCell<HashMap<u16, BufRingReg>>,
    /// A fixed-buffer table is registered (one per ring, as the kernel).
    buffers: Cell<bool>,
    events: Vec<libc::epoll_event>,
}

impl Emulator {
    pub(crate) fn new() -> io::Result<Emulator> {
        // SAFETY: epoll_create1(2) takes no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd owned by nobody else.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let pool = Pool::new()?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: pool.eventfd() as u64,
        };
        // SAFETY: reads one epoll_event, which outlives the call.
        if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, pool.eventfd(), &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        ACTIVE.with(|a| a.set(a.get() + 1));
        Ok(Emulator {
            epfd,
            sq: Vec::with_capacity(64),
            cq: VecDeque::with_capacity(64),
            waiting: HashMap::with_hasher(BuildUserData),
            fds: FdTable::default(),
            timers: Vec::new(),
            pool,
            pool_done: Vec::new(),
            files: RefCell::new(Vec::new()),
            buf_rings: RefCell::new(HashMap::new()),
            buffers: Cell::new(false),
            events: Vec::with_capacity(256),
        })
    }

    /// Queues an SQE; it starts at the next enter.
    #[inline]
    pub(crate) fn push(&mut self, sqe: &io_uring::squeue::Entry) {
        self.sq.push(RawSqe::of(sqe));
    }

    /// SQEs pushed and not started.
    pub(crate) fn pending(&self) -> usize {
        self.sq.len()
    }

    pub(crate) fn has_unsubmitted(&self) -> bool {
        !self.sq.is_empty()
    }

    pub(crate) fn has_cqes(&self) -> bool {
        !self.cq.is_empty()
    }

    /// The next completion, in the order posted.
    #[inline]
    pub(crate) fn pop_cqe(&mut self) -> Option<Cqe> {
        self.cq.pop_front()
    }

    /// Starts what was pushed; when `wait` and nothing is complete, waits
    /// for readiness, a pool result, a TIMEOUT op or `timeout`.
    pub(crate) fn enter(&mut self, wait: bool, timeout: Option<Duration>) -> io::Result<()> {
        self.forget_closed();
        let mut sq = std::mem::take(&mut self.sq);
        for sqe in sq.drain(..) {
            self.start(sqe);
        }
        if self.sq.is_empty() {
            self.sq = sq;
        }
        let busy = !self.waiting.is_empty() || self.pool.outstanding() > 0;
        if wait && self.cq.is_empty() {
            let deadline = self.timers.iter().map(|t| t.0).min();
            let now = Instant::now();
            let until_timer = deadline.map(|d| d.saturating_duration_since(now));
            let t = match (timeout, until_timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.poll_events(t)?;
        } else if busy {
            self.poll_events(Some(Duration::ZERO))?;
        }
        if !self.timers.is_empty() {
            self.fire_timers();
        }
        Ok(())
    }

    fn post(&mut self, sqe: &RawSqe, res: i32, flags: u32) {
        if res >= 0 && sqe.flags & IOSQE_CQE_SKIP_SUCCESS != 0 {
            return;
        }
        self.cq.push_back(Cqe {
            user_data: sqe.user_data,
            res,
            flags,
        });
    }

    fn post_ud(&mut self, user_data: u64, res: i32, flags: u32) {
        self.cq.push_back(Cqe {
            user_data,
            res,
            flags,
        });
    }

    /// The fd an SQE names: a registered-file slot with IOSQE_FIXED_FILE.
    fn resolve_fd(&self, sqe: &RawSqe) -> Result<RawFd, i32> {
        if sqe.flags & IOSQE_FIXED_FILE == 0 {
            return Ok(sqe.fd);
        }
        match self.files.borrow().get(sqe.fd as usize) {
            Some(Some(f)) => Ok(f.as_raw_fd()),
            _ => Err(libc::EBADF),
        }
    }

    fn start(&mut self, sqe: RawSqe) {
        if sqe.personality != 0 {
            // Registered credentials are io_uring's; none exist here (the
            // kernel says EINVAL for an unknown personality too).
            return self.post(&sqe, -libc::EINVAL, 0);
        }
        let fd = match self.resolve_fd(&sqe) {
            Ok(fd) => fd,
            Err(e) => return self.post(&sqe, -e, 0),
        };
        match sqe.opcode {
            opcode::AsyncCancel::CODE => self.cancel(&sqe),
            opcode::Timeout::CODE => self.start_timeout(&sqe),
            opcode::Close::CODE => {
                self.forget_fd(fd);
                let r = exec::run_inline(&sqe, fd).unwrap_or(-libc::EOPNOTSUPP);
                self.post(&sqe, r, 0);
            }
            op if exec::is_pool_only(op) => self.pool.submit(sqe.user_data, sqe, fd),
            op if exec::is_rw(op) && sqe.flags & IOSQE_ASYNC != 0 => {
                self.pool.submit(sqe.user_data, sqe, fd)
            }
            op if exec::is_rw(op) || is_socket_op(op) => {
                let w = Waiter {
                    sqe,
                    fd,
                    connecting: false,
                    sent: 0,
                };
                if let Some((w, out)) = self.drive(w) {
                    self.wait_on(w, out);
                }
            }
            _ => {
                let r = exec::run_inline(&sqe, fd).unwrap_or(-libc::EOPNOTSUPP);
                self.post(&sqe, r, 0);
            }
        }
    }

    /// Tries `w` until it completes (posting its CQEs) or would block;
    /// then gives it back with the direction to wait for (true: out).
    fn drive(&mut self, mut w: Waiter) -> Option<(Waiter, bool)> {
        let mut sqe = w.sqe;
        let multishot = match sqe.opcode {
            opcode::Accept::CODE => sqe.ioprio & ACCEPT_MULTISHOT != 0,
            opcode::Recv::CODE => sqe.ioprio & RECV_MULTISHOT != 0,
            opcode::PollAdd::CODE => sqe.len & POLL_ADD_MULTI != 0,
            _ => false,
        };
        loop {
            let mut flags = 0;
            let attempt = if exec::is_rw(sqe.opcode) {
                let st = self.fds.entry(w.fd);
                exec::try_rw(&sqe, w.fd, &mut st.kind)
            } else if sqe.opcode == opcode::PollAdd::CODE {
                exec::try_poll(&sqe, w.fd)
            } else if w.connecting {
                Attempt::Done(exec::connect_result(w.fd))
            } else if sqe.flags & IOSQE_BUFFER_SELECT != 0 {
                match self.peek_buffer(sqe.buf_index) {
                    None => Attempt::Done(-libc::ENOBUFS),
                    Some((addr, len, bid)) => {
                        let a = exec::try_socket(&sqe, w.fd, Some((addr, len)));
                        if let Attempt::Done(r) = a {
                            if r > 0 {
                                self.consume_buffer(sqe.buf_index);
                                flags = CQE_F_BUFFER | (u32::from(bid) << CQE_BUFFER_SHIFT);
                            }
                        }
                        a
                    }
                }
            } else {
                exec::try_socket(&sqe, w.fd, None)
            };
            match attempt {
                // A multishot poll reports each readiness once, then waits
                // for the next edge.
                Attempt::Done(r) if multishot && sqe.opcode == opcode::PollAdd::CODE && r > 0 => {
                    self.post(&sqe, r, CQE_F_MORE);
                    let out = r & i32::from(libc::POLLIN) == 0;
                    return Some((w, out));
                }
                Attempt::Done(r)
                    if multishot && r > 0
                        || multishot && sqe.opcode == opcode::Accept::CODE && r >= 0 =>
                {
                    self.post(&sqe, r, flags | CQE_F_MORE);
                }
                Attempt::Done(r) if sqe.opcode == opcode::SendZc::CODE => {
                    self.post(&sqe, r, CQE_F_MORE);
                    self.post(&sqe, 0, CQE_F_NOTIF);
                    return None;
                }
                // A short SEND with MSG_WAITALL on a stream socket goes on
                // from where it stopped, as io_uring's does (5.18).
                Attempt::Done(r)
                    if r > 0
                        && (r as u32) < sqe.len
                        && sqe.opcode == opcode::Send::CODE
                        && sqe.op_flags as i32 & libc::MSG_WAITALL != 0
                        && exec::is_stream(w.fd) =>
                {
                    w.sent += r as u32;
                    sqe.addr += r as u64;
                    sqe.len -= r as u32;
                    w.sqe = sqe;
                }
                Attempt::Done(r) => {
                    let r = match (r, w.sent) {
                        (_, 0) => r,
                        (r, sent) if r >= 0 => r + sent as i32,
                        // An error after some bytes went: the count, as
                        // io_uring gives.
                        (_, sent) => sent as i32,
                    };
                    self.post(&sqe, r, flags);
                    return None;
                }
                Attempt::WaitIn | Attempt::WaitOut => {
                    w.connecting = sqe.opcode == opcode::Connect::CODE;
                    return Some((w, attempt == Attempt::WaitOut));
                }
                Attempt::Pool => {
                    self.pool.submit(sqe.user_data, sqe, w.fd);
                    return None;
                }
            }
        }
    }

    /// Parks `w` until its fd is ready, last in line.
    fn wait_on(&mut self, w: Waiter, out: bool) {
        let ud = w.sqe.user_data;
        let fd = w.fd;
        let st = self.fds.entry(fd);
        if !st.registered {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
                u64: fd as u64,
            };
            // SAFETY: reads one epoll_event, which outlives the call.
            let r =
                unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
            let err = io::Error::last_os_error().raw_os_error().unwrap_or(0);
            if r < 0 && err != libc::EEXIST {
                // Not pollable after all (a file epoll refuses): the pool.
                self.pool.submit(ud, w.sqe, fd);
                return;
            }
            st.registered = true;
        }
        let q = if out {
            &mut st.writers
        } else {
            &mut st.readers
        };
        q.push_back(ud);
        self.waiting.insert(ud, w);
    }

    fn poll_events(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = match timeout {
            None => -1,
            // Round up, so a timer is never woken early.
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        };
        self.events.clear();
        let cap = self.events.capacity().max(1);
        // SAFETY: the kernel writes at most `cap` events into the
        // vector's spare capacity; `set_len` below covers what it wrote.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EINTR) => Ok(()),
                _ => Err(e),
            };
        }
        // SAFETY: epoll_wait initialized the first `n` entries.
        unsafe { self.events.set_len(n as usize) };
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            let fd = ev.u64 as RawFd;
            let bits = ev.events as i32;
            if fd == self.pool.eventfd() {
                self.collect_pool();
                continue;
            }
            let hup = bits & (libc::EPOLLERR | libc::EPOLLHUP) != 0;
            if hup || bits & (libc::EPOLLIN | libc::EPOLLRDHUP) != 0 {
                self.retry(fd, false);
            }
            if hup || bits & libc::EPOLLOUT != 0 {
                self.retry(fd, true);
            }
        }
        self.events = events;
        Ok(())
    }

    /// The fd is ready in one direction: its waiting ops are tried in
    /// order until one would block again (edge-triggered: the next edge
    /// wakes the rest).
    fn retry(&mut self, fd: RawFd, out: bool) {
        let Some(st) = self.fds.get_mut(fd) else {
            return;
        };
        let mut queue = std::mem::take(if out {
            &mut st.writers
        } else {
            &mut st.readers
        });
        let mut blocked = None;
        while let Some(ud) = queue.pop_front() {
            let Some(w) = self.waiting.remove(&ud) else {
                continue;
            };
            match self.drive(w) {
                None => {}
                // Would block again: it keeps its place, the rest wait.
                Some((w, dir)) if dir == out => {
                    blocked = Some(w);
                    break;
                }
                Some((w, dir)) => self.wait_on(w, dir),
            }
        }
        let st = self.fds.entry(fd);
        let q = if out {
            &mut st.writers
        } else {
            &mut st.readers
        };
        // Ops queued meanwhile go after the ones still waiting.
        let newer = std::mem::take(q);
        if let Some(w) = blocked {
            q.push_back(w.sqe.user_data);
            self.waiting.insert(w.sqe.user_data, w);
        }
        q.extend(queue);
        q.extend(newer);
    }

    fn collect_pool(&mut self) {
        let mut done = std::mem::take(&mut self.pool_done);
        self.pool.collect(&mut done);
        for (ud, res) in done.drain(..) {
            self.post_ud(ud, res, 0);
        }
        self.pool_done = done;
    }

    fn start_timeout(&mut self, sqe: &RawSqe) {
        // SAFETY: a TIMEOUT's addr is the op's own `__kernel_timespec`,
        // valid until its completion (module doc).
        let ts = unsafe { *(sqe.addr as *const [i64; 2]) };
        let dur = Duration::new(ts[0].max(0) as u64, ts[1].clamp(0, 999_999_999) as u32);
        let deadline = if sqe.op_flags & TIMEOUT_ABS != 0 {
            // CLOCK_MONOTONIC, as Instant.
            let now = monotonic_now();
            Instant::now() + dur.saturating_sub(now)
        } else {
            Instant::now() + dur
        };
        self.timers.push((deadline, sqe.user_data));
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.timers.len() {
            if self.timers[i].0 <= now {
                let (_, ud) = self.timers.swap_remove(i);
                self.post_ud(ud, -libc::ETIME, 0);
            } else {
                i += 1;
            }
        }
    }

    /// ASYNC_CANCEL of the op whose user_data the SQE's addr holds (rule 2).
    fn cancel(&mut self, sqe: &RawSqe) {
        let target = sqe.addr;
        if let Some(w) = self.waiting.remove(&target) {
            if let Some(st) = self.fds.get_mut(w.fd) {
                st.readers.retain(|&u| u != target);
                st.writers.retain(|&u| u != target);
            }
            self.post_ud(target, -libc::ECANCELED, 0);
            return self.post(sqe, 0, 0);
        }
        if let Some(i) = self.timers.iter().position(|t| t.1 == target) {
            self.timers.swap_remove(i);
            self.post_ud(target, -libc::ECANCELED, 0);
            return self.post(sqe, 0, 0);
        }
        match self.pool.cancel(target) {
            Cancel::Dequeued => {
                self.post_ud(target, -libc::ECANCELED, 0);
                self.post(sqe, 0, 0);
            }
            Cancel::Running => self.post(sqe, -libc::EALREADY, 0),
            Cancel::NotFound => self.post(sqe, -libc::ENOENT, 0),
        }
    }

    fn forget_fd(&mut self, fd: RawFd) {
        if let Some(st) = self.fds.get_mut(fd) {
            if st.readers.is_empty() && st.writers.is_empty() {
                *st = FdState::default();
            }
        }
    }

    fn forget_closed(&mut self) {
        CLOSED.with(|c| {
            let mut c = c.borrow_mut();
            for fd in c.drain(..) {
                self.forget_fd(fd);
            }
        });
    }

    // -- provided buffer rings ------------------------------------------

    pub(crate) fn register_buf_ring(&self, addr: u64, entries: u16, bgid: u16) -> io::Result<()> {
        let mut rings = self.buf_rings.borrow_mut();
        if rings.contains_key(&bgid) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        rings.insert(
            bgid,
            BufRingReg {
                addr,
                entries,
                head: 0,
            },
        );
        Ok(())
    }

    pub(crate) fn unregister_buf_ring(&self, bgid: u16) -> io::Result<()> {
        self.buf_rings
            .borrow_mut()
            .remove(&bgid)
            .map(drop)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }

    /// The buffer at the ring's head, if the ring has one: address, length,
    /// buffer id.
    fn peek_buffer(&self, bgid: u16) -> Option<(u64, u32, u16)> {
        let rings = self.buf_rings.borrow();
        let r = rings.get(&bgid)?;
        // SAFETY: the ring registered at `addr` holds `entries` 16-byte
        // `io_uring_buf`s and stays valid until unregistered (the
        // register_pbuf_ring contract); the tail is the u16 at byte 14 of
        // entry 0, which the owner publishes with a release store.
        let tail = unsafe { (*((r.addr + 14) as *const AtomicU16)).load(Ordering::Acquire) };
        if tail == r.head {
            return None;
        }
        let i = u64::from(r.head & (r.entries - 1));
        let e = (r.addr + i * 16) as *const u8;
        // SAFETY: entry `i` is inside the ring (masked), and the owner
        // wrote it before publishing the tail read above.
        unsafe {
            let addr = std::ptr::read_unaligned(e as *const u64);
            let len = std::ptr::read_unaligned(e.add(8) as *const u32);
            let bid = std::ptr::read_unaligned(e.add(12) as *const u16);
            Some((addr, len, bid))
        }
    }

    fn consume_buffer(&mut self, bgid: u16) {
        if let Some(r) = self.buf_rings.borrow_mut().get_mut(&bgid) {
            r.head = r.head.wrapping_add(1);
        }
    }

    // -- fixed buffers: plain buffers here, one table per ring -----------

    pub(crate) fn register_buffers(&self) -> io::Result<()> {
        if self.buffers.replace(true) {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        Ok(())
    }

    pub(crate) fn unregister_buffers(&self) -> io::Result<()> {
        if !self.buffers.replace(false) {
            return Err(io::Error::from_raw_os_error(libc::ENXIO));
        }
        Ok(())
    }

    // -- registered files -----------------------------------------------

    pub(crate) fn register_files(&self, slots: u32) -> io::Result<()> {
        let mut files = self.files.borrow_mut();
        if !files.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        *files = (0..slots).map(|_| None).collect();
        Ok(())
    }

    pub(crate) fn update_file(&self, slot: u32, fd: RawFd) -> io::Result<()> {
        let mut files = self.files.borrow_mut();
        let Some(entry) = files.get_mut(slot as usize) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        *entry = if fd < 0 {
            None
        } else {
            // SAFETY: F_DUPFD_CLOEXEC takes no pointer.
            let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if d < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a new fd owned by nobody else.
            Some(unsafe { OwnedFd::from_raw_fd(d) })
        };
        Ok(())
    }

    pub(crate) fn unregister_files(&self) -> io::Result<()> {
        let mut files = self.files.borrow_mut();
        if files.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENXIO));
        }
        files.clear();
        Ok(())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(a.get() - 1));
    }
}

fn is_socket_op(op: u8) -> bool {
    matches!(
        op,
        opcode::PollAdd::CODE
            | opcode::Recv::CODE
            | opcode::Send::CODE
            | opcode::SendZc::CODE
            | opcode::RecvMsg::CODE
            | opcode::SendMsg::CODE
            | opcode::Accept::CODE
            | opcode::Connect::CODE
    )
}

/// CLOCK_MONOTONIC now, for absolute TIMEOUT ops.
fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
