//! Model-based tests of the op table ([`OpTable`]) and the op lifecycle
//! ([`Lifecycle`]) against a plain model, with proptest.
//!
//! Random sequences of what happens to ops — submit (single-shot or
//! multishot), the kernel posting a CQE (with or without F_MORE), the
//! future polling (with one of two wakers), the future being dropped, a
//! cancel, and stale user_data (of ops long gone) hitting the table — run
//! against the real table and lifecycle, through the same calls, in the
//! same order, as `Driver` makes them (`submit`, `submit_multishot`,
//! `poll_op`, `poll_next_cqe`, `abandon`, `cancel_in_flight`,
//! `reap_with`; mirrored in [`Harness`], since the driver itself needs a
//! ring). A plain model says what must happen; after every step:
//!
//! - `in_flight()` is exactly the ops whose final CQE the kernel has not
//!   posted, and `len()` the ops still in the table;
//! - every outcome (stored, wake, orphaned; ready, pending) is the one the
//!   model expects, and the wake goes to the waker last given;
//! - the results and multishot items come out in the order posted;
//! - every orphan (an abandoned op's resources) is finished exactly once,
//!   never before the final CQE, and gets each F_MORE CQE nobody took;
//! - user_data of an op that is gone never reaches a newer op that reuses
//!   its slot, and no user_data is ever handed out twice.
//!
//! Then the kernel posts every final CQE and every future is dropped: the
//! table must be empty and every orphan finished once.

use super::{split, OpTable, MSG_RING_USER_DATA};
use crate::op::lifecycle::{Lifecycle, OnCqe, OnDrop};
use crate::op::{Completion, Orphan};
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};

/// IORING_CQE_F_MORE.
const F_MORE: u32 = 1 << 1;

/// A waker that counts its wakes.
struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// What one orphan went through.
#[derive(Default)]
struct OrphanLog {
    mores: Cell<u32>,
    finishes: Cell<u32>,
    /// The result of the final CQE it was finished with.
    final_res: Cell<Option<i32>>,
    /// Dropped (after `finish`, or by accident).
    dropped: Cell<u32>,
}

/// An abandoned op's resources, as the table sees them.
struct TestOrphan(Rc<OrphanLog>);

impl Orphan for TestOrphan {
    fn more(&mut self, cqe: Completion) {
        assert!(cqe.flags() & F_MORE != 0, "more() got a final CQE");
        self.0.mores.set(self.0.mores.get() + 1);
    }
    fn finish(self: Box<Self>, cqe: Completion) {
        assert!(cqe.flags() & F_MORE == 0, "finished with an F_MORE CQE");
        self.0.finishes.set(self.0.finishes.get() + 1);
        self.0.final_res.set(Some(cqe.raw_result()));
    }
}

impl Drop for TestOrphan {
    fn drop(&mut self) {
        self.0.dropped.set(self.0.dropped.get() + 1);
    }
}

/// One step of a run. `op` picks among the ops made so far (modulo).
#[derive(Debug, Clone)]
enum Step {
    Submit {
        multi: bool,
    },
    /// The kernel posts a CQE for a live op; `more` only for multishot ops
    /// (single-shot ops get one CQE).
    Cqe {
        op: usize,
        more: bool,
        res: i32,
    },
    /// The future (or stream) polls with waker 0 or 1.
    Poll {
        op: usize,
        waker: usize,
    },
    /// The future (or stream) is dropped.
    Drop {
        op: usize,
    },
    /// `Op::cancel` / `MultiOp::cancel`.
    Cancel {
        op: usize,
    },
    /// user_data of an op that is gone: a late CQE, a cancel, a lookup.
    Stale {
        op: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => any::<bool>().prop_map(|multi| Step::Submit { multi }),
        4 => (any::<usize>(), any::<bool>(), -5i32..100)
            .prop_map(|(op, more, res)| Step::Cqe { op, more, res }),
        3 => (any::<usize>(), 0usize..2).prop_map(|(op, waker)| Step::Poll { op, waker }),
        2 => any::<usize>().prop_map(|op| Step::Drop { op }),
        1 => any::<usize>().prop_map(|op| Step::Cancel { op }),
        1 => any::<usize>().prop_map(|op| Step::Stale { op }),
    ]
}

/// Where the op's future stands, in the model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Future {
    /// Alive; `waker` is the waker it last polled with (pending), if any.
    Live { waker: Option<usize> },
    /// Took its output (single-shot) or its final item (multishot): the
    /// entry is gone.
    Done,
    /// Dropped before that; the orphan holds the resources.
    Dropped,
}

/// One op in the model.
struct ModelOp {
    user_data: u64,
    multi: bool,
    /// The kernel has not posted the final CQE.
    kernel_live: bool,
    /// CQEs posted and not yet taken by the future (only while it lives).
    queued: VecDeque<Completion>,
    future: Future,
    /// F_MORE CQEs that went to the orphan.
    orphan_mores: u32,
    /// The final CQE's result, once posted.
    final_res: Option<i32>,
    log: Rc<OrphanLog>,
}

impl ModelOp {
    /// Still in the table: the kernel may post, or a live future has not
    /// taken its result.
    fn in_table(&self) -> bool {
        self.kernel_live || self.future_holds_entry()
    }
    fn future_holds_entry(&self) -> bool {
        matches!(self.future, Future::Live { .. })
    }
}

/// The driver's calls on the table, as `driver/mod.rs` makes them.
struct Harness {
    table: OpTable,
    /// user_data of ASYNC_CANCELs pushed.
    cancels_pushed: Vec<u64>,
}

impl Harness {
    fn submit(&mut self, multi: bool) -> u64 {
        if multi {
            self.table.insert(Lifecycle::Streaming(Box::default()))
        } else {
            self.table.insert(Lifecycle::Submitted)
        }
    }

    /// `Driver::reap_with` for one CQE: the waker to wake, or the orphan
    /// finished (as the runtime does once the driver's borrow ends).
    fn reap(&mut self, user_data: u64, c: Completion) -> Reaped {
        let Some(state) = self.table.get_mut(user_data) else {
            return Reaped::Missed;
        };
        match state.transition_to_completed(c) {
            OnCqe::Stored => Reaped::Stored,
            OnCqe::Wake(w) => Reaped::Wake(w),
            OnCqe::Orphaned(o) => {
                drop(self.table.remove(user_data));
                o.finish(c);
                Reaped::Orphaned
            }
        }
    }

    /// `Driver::poll_op`.
    fn poll_op(&mut self, user_data: u64, waker: &Waker) -> Poll<Completion> {
        match self.table.poll(user_data, waker) {
            Some(p) => p,
            None => panic!("poll_op: the entry of a live op is gone"),
        }
    }

    /// `Driver::poll_next_cqe`.
    fn poll_next_cqe(&mut self, user_data: u64, waker: &Waker) -> Poll<Completion> {
        let Some(state) = self.table.get_mut(user_data) else {
            panic!("poll_next_cqe: the entry of a live stream is gone");
        };
        let poll = state.transition_to_next(waker);
        if let Poll::Ready(c) = &poll {
            if c.flags() & F_MORE == 0 {
                drop(self.table.remove(user_data));
            }
        }
        poll
    }

    /// `Driver::abandon` followed by `op::abandon`'s finish.
    fn abandon(&mut self, user_data: u64, orphan: Box<dyn Orphan>) -> bool {
        let Some(state) = self.table.get_mut(user_data) else {
            panic!("abandon: the entry of a live op is gone");
        };
        match state.transition_to_abandoned(orphan) {
            OnDrop::Cancel => {
                self.cancels_pushed.push(user_data);
                false
            }
            OnDrop::Done(c, orphan) => {
                self.table.remove(user_data);
                orphan.finish(c);
                true
            }
        }
    }

    /// `Driver::cancel_in_flight`: whether a cancel was pushed.
    fn cancel_in_flight(&mut self, user_data: u64) -> bool {
        if matches!(self.table.get_mut(user_data), Some(s) if s.is_in_flight()) {
            self.cancels_pushed.push(user_data);
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
enum Reaped {
    Missed,
    Stored,
    Wake(Waker),
    Orphaned,
}

struct Run {
    h: Harness,
    ops: Vec<ModelOp>,
    wakers: [(Arc<CountWake>, Waker); 2],
    /// Wakes each waker is owed, by the model.
    expected_wakes: [usize; 2],
    issued: HashSet<u64>,
}

impl Run {
    fn new() -> Run {
        let mk = || {
            let c = Arc::new(CountWake(AtomicUsize::new(0)));
            (c.clone(), Waker::from(c))
        };
        Run {
            h: Harness {
                table: OpTable::new(),
                cancels_pushed: Vec::new(),
            },
            ops: Vec::new(),
            wakers: [mk(), mk()],
            expected_wakes: [0, 0],
            issued: HashSet::new(),
        }
    }

    fn pick(&self, op: usize) -> Option<usize> {
        (!self.ops.is_empty()).then(|| op % self.ops.len())
    }

    fn apply(&mut self, s: &Step) {
        match *s {
            Step::Submit { multi } => {
                let ud = self.h.submit(multi);
                assert!(ud < MSG_RING_USER_DATA, "key {ud:#x} hits a reserved value");
                assert!(self.issued.insert(ud), "user_data {ud:#x} handed out twice");
                self.ops.push(ModelOp {
                    user_data: ud,
                    multi,
                    kernel_live: true,
                    queued: VecDeque::new(),
                    future: Future::Live { waker: None },
                    orphan_mores: 0,
                    final_res: None,
                    log: Rc::default(),
                });
            }
            Step::Cqe { op, more, res } => {
                let Some(i) = self.pick(op) else { return };
                if !self.ops[i].kernel_live {
                    // The kernel posts nothing for an op that is over: that
                    // is the Stale step's job.
                    return;
                }
                let more = more && self.ops[i].multi;
                self.post(i, Completion::new(res, if more { F_MORE } else { 0 }));
            }
            Step::Poll { op, waker } => {
                let Some(i) = self.pick(op) else { return };
                self.poll(i, waker);
            }
            Step::Drop { op } => {
                let Some(i) = self.pick(op) else { return };
                self.drop_future(i);
            }
            Step::Cancel { op } => {
                let Some(i) = self.pick(op) else { return };
                if !self.ops[i].future_holds_entry() {
                    // `Op::cancel` consumes a live op; a finished stream's
                    // cancel does nothing (no data).
                    return;
                }
                let ud = self.ops[i].user_data;
                let pushed = self.h.cancel_in_flight(ud);
                assert_eq!(pushed, self.ops[i].kernel_live, "cancel of op {i}");
            }
            Step::Stale { op } => {
                let Some(i) = self.pick(op) else { return };
                if self.ops[i].in_table() {
                    return;
                }
                let ud = self.ops[i].user_data;
                let before = self.h.table.len();
                assert!(self.h.table.get_mut(ud).is_none(), "stale {ud:#x} found");
                assert!(!self.h.cancel_in_flight(ud), "stale cancel pushed");
                assert!(
                    matches!(self.h.reap(ud, Completion::new(-125, 0)), Reaped::Missed),
                    "a stale CQE hit an entry"
                );
                assert!(self.h.table.poll(ud, &self.wakers[0].1).is_none());
                assert!(self.h.table.remove(ud).is_none(), "stale remove");
                assert_eq!(self.h.table.len(), before);
            }
        }
        self.check();
    }

    /// The kernel posts `c` for op `i`, and the driver reaps it.
    fn post(&mut self, i: usize, c: Completion) {
        let more = c.flags() & F_MORE != 0;
        let ud = self.ops[i].user_data;
        let got = self.h.reap(ud, c);
        let o = &mut self.ops[i];
        if !more {
            o.kernel_live = false;
            o.final_res = Some(c.raw_result());
        }
        match o.future {
            Future::Live { waker } => {
                o.queued.push_back(c);
                match (got, waker) {
                    (Reaped::Stored, None) => {}
                    (Reaped::Wake(w), Some(k)) => {
                        assert!(w.will_wake(&self.wakers[k].1), "woke another waker");
                        self.expected_wakes[k] += 1;
                        w.wake();
                        // One wake per poll: the waker was handed out.
                        o.future = Future::Live { waker: None };
                    }
                    (got, waker) => panic!("CQE of live op {i}: {got:?}, waker {waker:?}"),
                }
            }
            Future::Dropped => {
                if more {
                    assert!(matches!(got, Reaped::Stored), "F_MORE to orphan: {got:?}");
                    o.orphan_mores += 1;
                } else {
                    assert!(matches!(got, Reaped::Orphaned), "final to orphan: {got:?}");
                }
            }
            Future::Done => panic!("the kernel posted for op {i} after it was done"),
        }
    }

    fn poll(&mut self, i: usize, k: usize) {
        let o = &mut self.ops[i];
        let Future::Live { .. } = o.future else {
            return;
        };
        let ud = o.user_data;
        let waker = &self.wakers[k].1;
        let p = if o.multi {
            self.h.poll_next_cqe(ud, waker)
        } else {
            self.h.poll_op(ud, waker)
        };
        // Single-shot: ready only with the final CQE; multishot: the next
        // queued CQE, in order.
        let expect = if o.multi || o.queued.iter().any(|c| c.flags() & F_MORE == 0) {
            o.queued.pop_front()
        } else {
            None
        };
        match (p, expect) {
            (Poll::Ready(c), Some(e)) => {
                assert_eq!(c, e, "op {i} got the wrong CQE");
                if c.flags() & F_MORE == 0 {
                    o.future = Future::Done;
                } else {
                    // The stream keeps its last waker registration.
                }
            }
            (Poll::Pending, None) => o.future = Future::Live { waker: Some(k) },
            (p, e) => panic!("poll of op {i}: got {p:?}, expected {e:?}"),
        }
    }

    fn drop_future(&mut self, i: usize) {
        let o = &mut self.ops[i];
        if !o.future_holds_entry() {
            return;
        }
        o.future = Future::Dropped;
        // CQEs the future never took: F_MORE ones go to the orphan now.
        o.orphan_mores += o.queued.iter().filter(|c| c.flags() & F_MORE != 0).count() as u32;
        o.queued.clear();
        let ud = o.user_data;
        let orphan = Box::new(TestOrphan(o.log.clone()));
        let finished_now = self.h.abandon(ud, orphan);
        let o = &self.ops[i];
        assert_eq!(
            finished_now, !o.kernel_live,
            "op {i}: abandoned after its final CQE must finish at once, before it must wait"
        );
        if !finished_now {
            assert_eq!(self.h.cancels_pushed.last(), Some(&ud), "no cancel pushed");
        }
    }

    fn check(&self) {
        let mut want: Vec<u64> = self
            .ops
            .iter()
            .filter(|o| o.kernel_live)
            .map(|o| o.user_data)
            .collect();
        let mut got = self.h.table.in_flight();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "in_flight() differs from the model");
        let in_table = self.ops.iter().filter(|o| o.in_table()).count();
        assert_eq!(self.h.table.len(), in_table, "len() differs from the model");
        for (i, o) in self.ops.iter().enumerate() {
            let l = &o.log;
            assert_eq!(
                l.mores.get(),
                o.orphan_mores,
                "op {i}: orphan's F_MORE CQEs"
            );
            let finished = o.future == Future::Dropped && !o.kernel_live;
            assert_eq!(l.finishes.get(), u32::from(finished), "op {i}: finishes");
            assert_eq!(l.dropped.get(), u32::from(finished), "op {i}: orphan drops");
            if finished {
                assert_eq!(l.final_res.get(), o.final_res, "op {i}: finished with");
            }
            // Live entries answer to their own user_data only.
            if o.in_table() {
                assert!(
                    self.h.table.slots_hold(o.user_data),
                    "op {i} lost its entry"
                );
            }
        }
        for (k, (c, _)) in self.wakers.iter().enumerate() {
            assert_eq!(
                c.0.load(SeqCst),
                self.expected_wakes[k],
                "wakes of waker {k}"
            );
        }
    }

    /// The kernel posts every final CQE; every future is dropped.
    fn finish(mut self) {
        for i in 0..self.ops.len() {
            if self.ops[i].kernel_live {
                self.post(i, Completion::new(-125, 0));
                self.check();
            }
        }
        for i in 0..self.ops.len() {
            self.drop_future(i);
            self.check();
        }
        assert_eq!(self.h.table.len(), 0, "entries left");
        assert!(self.h.table.in_flight().is_empty());
        for (i, o) in self.ops.iter().enumerate() {
            let abandoned = o.future == Future::Dropped;
            assert_eq!(o.log.finishes.get(), u32::from(abandoned), "op {i}");
        }
    }
}

impl OpTable {
    /// Whether `user_data`'s entry is there (for the model's check).
    fn slots_hold(&self, user_data: u64) -> bool {
        let (generation, index) = split(user_data);
        self.slots
            .get(index)
            .is_some_and(|s| s.generation == generation && s.state.is_some())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn op_table_and_lifecycle_match_the_model(steps in prop::collection::vec(step(), 1..120)) {
        let mut run = Run::new();
        for s in &steps {
            run.apply(s);
        }
        run.finish();
    }
}

/// The model's own sanity: a hand-written run that reuses one slot
/// through many generations, with a late CQE of every old generation.
#[test]
fn reused_slot_sees_no_stale_cqe() {
    let mut run = Run::new();
    for _ in 0..50 {
        run.apply(&Step::Submit { multi: false });
        let i = run.ops.len() - 1;
        run.apply(&Step::Poll { op: i, waker: 0 });
        run.apply(&Step::Drop { op: i });
        run.apply(&Step::Cqe {
            op: i,
            more: false,
            res: 1,
        });
        for j in 0..=i {
            run.apply(&Step::Stale { op: j });
        }
    }
    let slots: HashSet<u64> = run.ops.iter().map(|o| o.user_data & 0xffff_ffff).collect();
    assert_eq!(slots.len(), 1, "one slot, reused");
    run.finish();
}
