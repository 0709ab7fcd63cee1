//! Task queues (scheduling groups): shares, latency budgets, and the
//! scheduler that runs them.
//!
//! A runtime starts with one queue, the default, and runs it exactly as
//! a plain FIFO (`queue.rs`): no clock is read. The first
//! [`TaskQueue::new`](super::TaskQueue::new) on a runtime switches its executor to [`Groups`]
//! for good; from then on:
//!
//! 1. Wakes and spawns push onto the executor's one ring, as without
//!    queues (no check on the wake path). Each pick moves the ring's
//!    tasks into their queues (the default one included), stamped with
//!    the clock read the pick already has; a queue's queueing delay runs
//!    from that stamp to the poll. A task woken by a CQE is stamped at
//!    the start of the next turn's `run`; one woken during a poll, when
//!    the queue that polled it gives the core up.
//! 2. Each turn's `run` picks the queue with work and the least virtual
//!    runtime, runs its tasks in order, and moves to the next queue when
//!    that one is empty, until the turn's slice is over or the task
//!    budget is spent. The clock is read once at the start and once after
//!    each poll; the time between two queue switches is charged to the
//!    queue that ran: its virtual runtime grows by `ns / shares`.
//! 3. A queue that becomes runnable after idling has its virtual runtime
//!    raised to the scheduler's minimum (the least virtual runtime seen
//!    at the last pick), so it cannot hoard time by sleeping.
//! 4. The turn's slice is [`SLICE`], shortened to half the smallest
//!    budget of the `Latency::Matters` queues that have live tasks. The
//!    turn then reaps the ring, so an I/O completion for a latency queue
//!    is seen within that slice, and the queue (whose virtual runtime is
//!    at the minimum after rule 3) runs next.
//! 5. While a `Latency::Matters` queue has live tasks, another queue's
//!    slice also ends once it has run [`GRAIN`] and work waits outside
//!    the run queue: completions the kernel holds for the ring
//!    (IORING_SQ_TASKRUN, or CQEs in the ring), a remote wake, an expired
//!    timer (`Core::has_pending_work`, a few loads). `run` checks after
//!    each poll and `need_yield` on each call, so the turn reaps soon
//!    after the I/O a latency queue waits for arrives, not a slice later.
//!    On the epoll backend completions only show in an enter, so there
//!    only remote wakes and timers count. A turn also ends after a
//!    latency queue ran while other work is ready, so the SQEs its tasks
//!    pushed (a reply) go to the kernel before another queue's slice.
//! 6. [`need_yield`](crate::need_yield) compares the clock against the
//!    slice's end (and checks rule 5's waiting work): the turn's end
//!    while `run` polls grouped tasks, a slice of its own for each poll
//!    otherwise (the default-only runtime, the `block_on` future).

use super::task_queue::{Latency, QueueInfo, QueueMetrics, Shares};
use super::{Executor, Notified};
use crate::driver::unpark::Shared;
use crate::runtime::Core;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a task may run before [`need_yield`](crate::need_yield)
/// turns true, and how long one turn runs queues when several exist.
pub(crate) const SLICE: Duration = Duration::from_micros(500);

/// While a latency queue has live tasks, how long another queue runs at
/// least before pending I/O, a remote wake or an expired timer ends its
/// slice early (rule 5).
pub(crate) const GRAIN: Duration = Duration::from_micros(50);

/// The default queue's shares.
pub(crate) const DEFAULT_SHARES: u32 = 1000;

/// The index of the default queue; tasks spawned with `spawn` go there.
pub(crate) const DEFAULT_GROUP: u32 = 0;

#[derive(Default, Clone, Copy)]
struct Stats {
    runs: u64,
    run_ns: u64,
    delay_ns: u64,
    max_delay_ns: u64,
    wakes: u64,
    stalls: u64,
}

struct Group {
    info: Rc<QueueInfo>,
    ready: VecDeque<(Notified, Instant)>,
    /// Nanoseconds run, divided by shares (rule 2).
    vruntime: u64,
    /// Tasks spawned into the queue and not finished.
    live: usize,
    stats: Stats,
}

impl Group {
    /// Whether nothing refers to the queue any more: no handle (the group
    /// holds the only count) and no live task.
    fn is_unused(&self) -> bool {
        self.live == 0 && Rc::strong_count(&self.info) == 1
    }
}

/// The scheduler of a runtime that has task queues (the module doc).
#[derive(Default)]
pub(crate) struct Groups {
    inner: RefCell<Inner>,
    /// Tasks in all `ready` queues, readable without a borrow.
    ready: Cell<usize>,
}

#[derive(Default)]
struct Inner {
    groups: Slab<Group>,
    /// Rule 3.
    min_vruntime: u64,
    /// Polls counted by queues that were forgotten since.
    retired_runs: u64,
}

impl Groups {
    /// Registers a queue; the first one also makes the default group and
    /// switches the executor over.
    pub(super) fn add(
        &self,
        exec: &Executor,
        shared: &Arc<Shared>,
        name: String,
        shares: Shares,
        latency: Latency,
    ) -> Rc<QueueInfo> {
        let mut inner = self.inner.borrow_mut();
        if inner.groups.is_empty() {
            let info = Rc::new(QueueInfo {
                index: DEFAULT_GROUP,
                name: "default".to_string(),
                shares: Shares(DEFAULT_SHARES),
                latency: Latency::NotImportant,
                runtime: shared.clone(),
            });
            let i = inner.groups.insert(Group::new(info));
            debug_assert_eq!(i, DEFAULT_GROUP as usize);
            exec.grouped.set(true);
        }
        // Forget queues nobody uses any more (no handle, no task).
        let unused: Vec<usize> = inner
            .groups
            .iter()
            .filter(|(i, g)| *i != DEFAULT_GROUP as usize && g.is_unused())
            .map(|(i, _)| i)
            .collect();
        let mut leftovers = Vec::new();
        for i in unused {
            let g = inner.groups.remove(i);
            inner.retired_runs += g.stats.runs;
            leftovers.extend(g.ready.into_iter().map(|(t, _)| t));
        }
        let entry = inner.groups.vacant_entry();
        let info = Rc::new(QueueInfo {
            index: u32::try_from(entry.key()).unwrap_or(u32::MAX),
            name,
            shares,
            latency,
            runtime: shared.clone(),
        });
        let min = inner.min_vruntime;
        let mut g = Group::new(info.clone());
        g.vruntime = min;
        inner.groups.insert(g);
        self.ready.set(self.ready.get() - leftovers.len());
        drop(inner);
        // Completed tasks left queued: dropped with no borrow held.
        drop(leftovers);
        info
    }

    /// A task of group `index` was spawned.
    pub(crate) fn spawned(&self, index: u32) {
        if let Some(g) = self.inner.borrow_mut().groups.get_mut(index as usize) {
            g.live += 1;
        }
    }

    /// A poll of a task of group `index` stalled (the stall detector).
    #[cold]
    pub(crate) fn stalled(&self, index: u32) {
        if let Some(g) = self.inner.borrow_mut().groups.get_mut(index as usize) {
            g.stats.stalls += 1;
        }
    }

    /// Stalls counted in the live groups' stats.
    pub(crate) fn stalls(&self) -> u64 {
        let inner = self.inner.borrow();
        inner.groups.iter().map(|(_, g)| g.stats.stalls).sum()
    }

    /// A task of group `index` finished.
    pub(crate) fn finished(&self, index: u32) {
        if let Some(g) = self.inner.borrow_mut().groups.get_mut(index as usize) {
            g.live = g.live.saturating_sub(1);
        }
    }

    fn has_ready(&self) -> bool {
        self.ready.get() != 0
    }

    /// Moves the tasks on the executor's ring into their groups, stamped
    /// `now` (rule 1).
    fn sort_in(&self, exec: &Executor, now: Instant) {
        if exec.queue.is_empty() {
            return;
        }
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        while let Some(task) = exec.queue.pop_front() {
            let index = task.group() as usize;
            // A task's group lives while the task does (`live`); a
            // finished task left queued may outlive it.
            let g = match inner.groups.get_mut(index) {
                Some(g) => g,
                None => &mut inner.groups[DEFAULT_GROUP as usize],
            };
            if g.ready.is_empty() {
                g.vruntime = g.vruntime.max(inner.min_vruntime);
            }
            g.ready.push_back((task, now));
            self.ready.set(self.ready.get() + 1);
        }
    }

    /// The turn's slice (rule 4), and whether a latency queue has live
    /// tasks (rule 5).
    fn slice(&self) -> (Duration, bool) {
        let inner = self.inner.borrow();
        inner
            .groups
            .iter()
            .filter_map(|(_, g)| match g.info.latency {
                Latency::Matters(d) if g.live > 0 => Some(d / 2),
                _ => None,
            })
            .fold((SLICE, false), |(s, _), d| (s.min(d), true))
    }

    /// The group with work and the least virtual runtime (a latency queue
    /// first on a tie), which sets the minimum (rule 3); and whether it
    /// is a latency queue.
    fn pick(&self) -> Option<(usize, bool)> {
        let mut inner = self.inner.borrow_mut();
        let (i, v, latency) = inner
            .groups
            .iter()
            .filter(|(_, g)| !g.ready.is_empty())
            .min_by_key(|(_, g)| (g.vruntime, g.info.latency == Latency::NotImportant))
            .map(|(i, g)| (i, g.vruntime, g.info.latency != Latency::NotImportant))?;
        inner.min_vruntime = inner.min_vruntime.max(v);
        Some((i, latency))
    }

    fn pop(&self, index: usize) -> Option<(Notified, Instant)> {
        let mut inner = self.inner.borrow_mut();
        let t = inner.groups.get_mut(index)?.ready.pop_front()?;
        self.ready.set(self.ready.get() - 1);
        Some(t)
    }

    /// Charges one turn of group `index` (rule 2).
    fn charge(&self, index: usize, ran: Duration, s: Stats) {
        let mut inner = self.inner.borrow_mut();
        if let Some(g) = inner.groups.get_mut(index) {
            let ns = u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX);
            g.vruntime = g.vruntime.saturating_add(ns / u64::from(g.info.shares.0));
            g.stats.runs += s.runs;
            g.stats.run_ns += ns;
            g.stats.delay_ns += s.delay_ns;
            g.stats.wakes += s.wakes;
            g.stats.max_delay_ns = g.stats.max_delay_ns.max(s.max_delay_ns);
        }
    }

    /// Runs queues for one slice (the module doc); whether no task is
    /// ready now.
    pub(crate) fn run(&self, exec: &Executor, core: &Core, budget: u32) -> bool {
        let mut now = Instant::now();
        let (slice, latency_live) = self.slice();
        let end = now + slice;
        exec.turn_end.set(Some(end));
        let mut polls = 0;
        let done = 'turn: loop {
            self.sort_in(exec, now);
            let Some((index, latency)) = self.pick() else {
                break 'turn true;
            };
            let start = now;
            let preempt = (latency_live && !latency).then(|| start + GRAIN);
            exec.preempt_after.set(preempt);
            let mut s = Stats::default();
            let over = loop {
                let Some((task, queued)) = self.pop(index) else {
                    break false;
                };
                let waited = nanos(now.saturating_duration_since(queued));
                s.delay_ns += waited;
                s.max_delay_ns = s.max_delay_ns.max(waited);
                s.wakes += 1;
                exec.poll(task, core);
                s.runs += 1;
                polls += 1;
                now = Instant::now();
                if now >= end
                    || polls >= budget
                    || preempt.is_some_and(|p| now >= p && core.has_pending_work(now))
                {
                    break true;
                }
            };
            self.charge(index, now - start, s);
            // After a latency queue, end the turn: the SQEs its tasks
            // pushed (a reply's send) are submitted now, not after the
            // next queue's slice (rule 5).
            if over || (latency && (self.has_ready() || !exec.queue.is_empty())) {
                break 'turn !self.has_ready() && exec.queue.is_empty();
            }
        };
        exec.turn_end.set(None);
        exec.preempt_after.set(None);
        done
    }

    /// Every queued task, for shutdown.
    pub(crate) fn drain(&self) -> Vec<Notified> {
        let mut inner = self.inner.borrow_mut();
        let mut out = Vec::new();
        for (_, g) in inner.groups.iter_mut() {
            out.extend(g.ready.drain(..).map(|(t, _)| t));
        }
        self.ready.set(0);
        out
    }

    /// Each queue's counters; `default_runs` and `default_stalls` count
    /// the default queue's polls and stalls not in its stats (from before
    /// the runtime had task queues, and the `block_on` future's stalls).
    pub(crate) fn metrics(&self, default_runs: u64, default_stalls: u64) -> Vec<QueueMetrics> {
        let inner = self.inner.borrow();
        inner
            .groups
            .iter()
            .map(|(i, g)| {
                let s = g.stats;
                let (early, early_stalls) = if i == DEFAULT_GROUP as usize {
                    (default_runs, default_stalls)
                } else {
                    (0, 0)
                };
                QueueMetrics {
                    name: g.info.name.clone(),
                    shares: g.info.shares.0,
                    latency: match g.info.latency {
                        Latency::Matters(d) => Some(d),
                        Latency::NotImportant => None,
                    },
                    tasks_run: s.runs + early,
                    run_time: Duration::from_nanos(s.run_ns),
                    queue_delay: Duration::from_nanos(s.delay_ns),
                    max_queue_delay: Duration::from_nanos(s.max_delay_ns),
                    wakes: s.wakes,
                    stalls: s.stalls + early_stalls,
                }
            })
            .collect()
    }

    /// Polls of grouped tasks counted in the groups' stats, forgotten
    /// queues' included.
    pub(crate) fn runs(&self) -> u64 {
        let inner = self.inner.borrow();
        let live: u64 = inner.groups.iter().map(|(_, g)| g.stats.runs).sum();
        inner.retired_runs + live
    }
}

impl Group {
    fn new(info: Rc<QueueInfo>) -> Group {
        Group {
            info,
            ready: VecDeque::new(),
            vruntime: 0,
            live: 0,
            stats: Stats::default(),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
