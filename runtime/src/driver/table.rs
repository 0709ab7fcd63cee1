//! The op table: a slab of [`Lifecycle`]s keyed by user_data.
//!
//! user_data = `generation << 32 | slab index`. The generation is bumped
//! for every op, so a cancel or CQE meant for an op that is gone can never
//! hit a newer op that reused the slot (the bug of libxev#233).
//! Generations stay below 2^31, so table keys stay below [`CANCEL_TAG`]
//! and never collide with the reserved values below, whose high half is
//! all ones.
//!
//! Cancels the runtime sends carry `CANCEL_TAG | key`, so their CQEs say
//! which op they were for. A kernel answers ENOENT when it cannot see the
//! op at that moment although the op is still in flight (on 6.1, a read
//! of a blocking pipe between its poll firing and its hand-off to an
//! io-wq worker; on every kernel, an op linked behind a head that has not
//! completed), and EALREADY when the op is running in a worker. Either
//! answer for an op still in flight is a missed cancel: the table keeps
//! it, and the driver sends the cancel again once it is due
//! ([`OpTable::take_due_cancels`]), backing off from 1 ms to 1 s, until the
//! op's final CQE comes.

use crate::op::lifecycle::{Lifecycle, OnCqe};
use crate::op::Completion;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// user_data of the eventfd read that remote wakes complete.
pub(crate) const WAKE_USER_DATA: u64 = u64::MAX;
/// user_data of SQEs whose CQE nobody needs (cancels the runtime sends).
pub(crate) const IGNORE_USER_DATA: u64 = u64::MAX - 1;
/// user_data of the CQE another ring's MSG_RING posts to wake this one.
pub(crate) const MSG_RING_USER_DATA: u64 = u64::MAX - 2;

/// Set in the user_data of a cancel the runtime sends, over the key of
/// the op it cancels. Keys stay below it (generations below 2^31), and
/// `CANCEL_TAG | key` stays below the reserved values (no slab index
/// reaches 0xffff_fffd).
pub(crate) const CANCEL_TAG: u64 = 1 << 63;

/// Generations stay below 2^31, so no key's high half is all ones.
const GENERATION_MASK: u32 = (1 << 31) - 1;

/// The first wait before a missed cancel is sent again, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(1);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// A cancel the kernel answered ENOENT or EALREADY while its op stayed
/// in flight.
struct MissedCancel {
    /// The op's key.
    target: u64,
    /// Cancels of it that missed so far, less one.
    misses: u32,
    /// When to send it again; `None` while a cancel of it is in the ring.
    due: Option<Instant>,
}

struct Slot {
    /// Bumped each time the slot is freed, so user_data of an op that is
    /// gone never matches the slot's next occupant.
    generation: u32,
    /// While free: the next free slot (an intrusive free list).
    next_free: u32,
    /// `None` while the slot is free.
    state: Option<Lifecycle>,
}

/// No next free slot.
const NONE: u32 = u32::MAX;

/// Ops in flight, and ops completed but not yet polled: a generational
/// arena (a Vec of slots with an intrusive free list).
pub(crate) struct OpTable {
    slots: Vec<Slot>,
    free_head: u32,
    /// Missed cancels to send again (empty but on the kernel races in the
    /// module doc).
    missed: Vec<MissedCancel>,
}

impl OpTable {
    pub(crate) fn new() -> Self {
        OpTable {
            slots: Vec::with_capacity(64),
            free_head: NONE,
            missed: Vec::new(),
        }
    }

    /// Adds an entry in `state` and returns its user_data.
    #[inline]
    pub(crate) fn insert(&mut self, state: Lifecycle) -> u64 {
        let index = self.free_head;
        if let Some(slot) = self.slots.get_mut(index as usize) {
            self.free_head = slot.next_free;
            // A free slot's state is `None`: skip the drop glue.
            debug_assert!(slot.state.is_none());
            std::mem::forget(slot.state.replace(state));
            return (u64::from(slot.generation) << 32) | u64::from(index);
        }
        let index = self.slots.len();
        debug_assert!(index < NONE as usize);
        self.slots.push(Slot {
            generation: 0,
            next_free: NONE,
            state: Some(state),
        });
        index as u64
    }

    /// The entry for `user_data`, if it is still there.
    #[inline]
    pub(crate) fn get_mut(&mut self, user_data: u64) -> Option<&mut Lifecycle> {
        let (generation, index) = split(user_data);
        match self.slots.get_mut(index) {
            Some(slot) if slot.generation == generation => slot.state.as_mut(),
            _ => None,
        }
    }

    /// Removes the entry for `user_data` and returns its state.
    #[inline]
    pub(crate) fn remove(&mut self, user_data: u64) -> Option<Lifecycle> {
        let (generation, index) = split(user_data);
        let slot = match self.slots.get_mut(index) {
            Some(slot) if slot.generation == generation && slot.state.is_some() => slot,
            _ => return None,
        };
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        slot.next_free = self.free_head;
        self.free_head = index as u32;
        slot.state.take()
    }

    /// The future's poll in one lookup: the result if the CQE came (the
    /// entry goes), else the waker is remembered.
    #[inline]
    pub(crate) fn poll(&mut self, user_data: u64, waker: &Waker) -> Option<Poll<Completion>> {
        let (generation, index) = split(user_data);
        let slot = self.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let poll = slot.state.as_mut()?.transition_to_waiting(waker);
        if poll.is_ready() {
            slot.generation = (slot.generation + 1) & GENERATION_MASK;
            slot.next_free = self.free_head;
            self.free_head = index as u32;
            // The state is `Completed`, which owns nothing: skip its drop
            // glue.
            std::mem::forget(slot.state.take());
        }
        Some(poll)
    }

    /// The completion if the final CQE came (the entry goes), without
    /// remembering a waker otherwise.
    pub(crate) fn take_completed(&mut self, user_data: u64) -> Option<Completion> {
        let Lifecycle::Completed(c) = *self.get_mut(user_data)? else {
            return None;
        };
        self.remove(user_data);
        Some(c)
    }

    /// One CQE, of either backend: reserved user_data is the runtime's
    /// own (the wake read, ignored CQEs); an op's result goes into its
    /// entry, its waiting task's waker to `wake`, an abandoned op's
    /// resources to `reaped.orphans`.
    #[inline(always)]
    pub(crate) fn on_cqe(
        &mut self,
        wake_armed: &mut bool,
        reaped: &mut super::Reaped,
        user_data: u64,
        c: Completion,
        wake: &mut impl FnMut(Waker),
    ) {
        if user_data >= CANCEL_TAG {
            if user_data >= MSG_RING_USER_DATA {
                if user_data == WAKE_USER_DATA {
                    *wake_armed = false;
                }
                return;
            }
            return self.on_cancel_cqe(user_data & !CANCEL_TAG, c.raw_result());
        }
        let Some(state) = self.get_mut(user_data) else {
            return;
        };
        match state.transition_to_completed(c) {
            OnCqe::Stored => {}
            OnCqe::Wake(w) => wake(w),
            OnCqe::Orphaned(o) => {
                drop(self.remove(user_data));
                if !self.missed.is_empty() {
                    self.forget_cancel(user_data);
                }
                reaped.orphans.push((o, c));
            }
        }
    }

    /// `target` ended: no cancel of it is due any more (a lingering op's
    /// deadline would otherwise keep the runtime waking until then).
    #[cold]
    #[inline(never)]
    fn forget_cancel(&mut self, target: u64) {
        self.missed.retain(|m| m.target != target);
    }

    /// The CQE of a cancel the runtime sent for `target`: a miss (ENOENT,
    /// EALREADY) while the op is still in flight is kept to be sent again,
    /// later each time; any other answer, or the op's end, forgets it.
    #[cold]
    #[inline(never)]
    fn on_cancel_cqe(&mut self, target: u64, res: i32) {
        let in_flight = matches!(self.get_mut(target), Some(s) if s.is_in_flight());
        let missed = in_flight && (res == -libc::ENOENT || res == -libc::EALREADY);
        let known = self.missed.iter().position(|m| m.target == target);
        match (missed, known) {
            (false, Some(i)) => {
                self.missed.swap_remove(i);
            }
            (false, None) => {}
            (true, Some(i)) => {
                let m = &mut self.missed[i];
                m.misses = m.misses.saturating_add(1);
                m.due = Some(Instant::now() + retry_delay(m.misses));
            }
            (true, None) => self.missed.push(MissedCancel {
                target,
                misses: 0,
                due: Some(Instant::now() + retry_delay(0)),
            }),
        }
    }

    /// Sends a cancel of `target` at `due` if it is still in flight then
    /// (an op left to finish: `Op::linger`). Kept with the missed cancels,
    /// so it is sent, and sent again if missed, as they are.
    #[cold]
    pub(crate) fn cancel_at(&mut self, target: u64, due: Instant) {
        self.missed.push(MissedCancel {
            target,
            misses: 0,
            due: Some(due),
        });
    }

    /// Whether a missed cancel waits to be sent again.
    #[inline]
    pub(crate) fn has_missed_cancels(&self) -> bool {
        !self.missed.is_empty()
    }

    /// When the next missed cancel is due.
    pub(crate) fn next_cancel_due(&self) -> Option<Instant> {
        self.missed.iter().filter_map(|m| m.due).min()
    }

    /// The ops whose missed cancel is due by `now` and that are still in
    /// flight, to cancel again; forgets those that ended.
    pub(crate) fn take_due_cancels(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.missed.len() {
            let target = self.missed[i].target;
            if !matches!(self.get_mut(target), Some(s) if s.is_in_flight()) {
                self.missed.swap_remove(i);
                continue;
            }
            let m = &mut self.missed[i];
            if m.due.is_some_and(|d| d <= now) {
                m.due = None;
                due.push(target);
            }
            i += 1;
        }
        due
    }

    /// Entries in the table, counted (for metrics: the hot path keeps no
    /// count).
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.state.is_some()).count()
    }

    /// user_data of every entry still waiting for its final CQE.
    pub(crate) fn in_flight(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state.as_ref().is_some_and(Lifecycle::is_in_flight))
            .map(|(i, s)| (u64::from(s.generation) << 32) | i as u64)
            .collect()
    }
}

/// The wait before sending a cancel again after `misses + 1` misses:
/// 1 ms, doubling, at most 1 s.
fn retry_delay(misses: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1u32 << misses.min(10))
        .min(RETRY_MAX)
}

#[inline]
fn split(user_data: u64) -> (u32, usize) {
    ((user_data >> 32) as u32, (user_data & 0xffff_ffff) as usize)
}

#[cfg(test)]
#[path = "table_model_tests.rs"]
mod model_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_user_data_misses_reused_slot() {
        let mut t = OpTable::new();
        let a = t.insert(Lifecycle::Submitted);
        t.remove(a);
        let b = t.insert(Lifecycle::Submitted);
        assert_eq!(a & 0xffff_ffff, b & 0xffff_ffff, "slot reused");
        assert!(t.get_mut(a).is_none());
        assert!(t.get_mut(b).is_some());
        t.remove(a);
        assert_eq!(t.len(), 1, "a stale remove must not free the new op");
    }

    /// The CQE of the runtime's cancel of `target`, with `res`.
    fn cancel_cqe(t: &mut OpTable, target: u64, res: i32) {
        let mut reaped = super::super::Reaped::default();
        t.on_cqe(
            &mut false,
            &mut reaped,
            CANCEL_TAG | target,
            Completion::new(res, 0),
            &mut |_| panic!("a cancel's CQE woke a task"),
        );
        assert!(reaped.is_empty());
    }

    #[test]
    fn a_missed_cancel_is_due_again_until_its_op_ends() {
        let mut t = OpTable::new();
        let a = t.insert(Lifecycle::Submitted);
        // Answers that are not misses keep nothing.
        cancel_cqe(&mut t, a, 0);
        cancel_cqe(&mut t, a, -libc::EINVAL);
        assert!(!t.has_missed_cancels());
        // A miss is due 1 ms later, then 2 ms after the next miss.
        let before = Instant::now();
        cancel_cqe(&mut t, a, -libc::ENOENT);
        let due = t.next_cancel_due().expect("the miss is kept");
        assert!(due >= before + RETRY_FIRST && due <= Instant::now() + RETRY_FIRST);
        assert!(t.take_due_cancels(before).is_empty(), "not due yet");
        assert_eq!(t.take_due_cancels(due), [a]);
        assert_eq!(t.next_cancel_due(), None, "its cancel is in the ring");
        assert!(t.take_due_cancels(due + RETRY_MAX).is_empty(), "sent once");
        let before = Instant::now();
        cancel_cqe(&mut t, a, -libc::EALREADY);
        assert!(t.next_cancel_due().unwrap() >= before + 2 * RETRY_FIRST);
        // The op's end forgets it.
        assert!(t.remove(a).is_some());
        assert!(t.take_due_cancels(Instant::now() + RETRY_MAX).is_empty());
        assert!(!t.has_missed_cancels());
        // A miss for an op that is gone is no miss.
        cancel_cqe(&mut t, a, -libc::ENOENT);
        assert!(!t.has_missed_cancels());
    }

    #[test]
    fn the_retry_delay_doubles_up_to_a_second() {
        assert_eq!(retry_delay(0), RETRY_FIRST);
        assert_eq!(retry_delay(3), 8 * RETRY_FIRST);
        assert_eq!(retry_delay(10), RETRY_MAX);
        assert_eq!(retry_delay(u32::MAX), RETRY_MAX);
    }

    #[test]
    fn tagged_cancels_never_hit_reserved_values() {
        let key = (u64::from(GENERATION_MASK) << 32) | u64::from(NONE - 3);
        assert!(key < CANCEL_TAG);
        assert!(CANCEL_TAG | key < MSG_RING_USER_DATA);
    }

    #[test]
    fn keys_never_hit_reserved_values() {
        let mut t = OpTable::new();
        let a = t.insert(Lifecycle::Submitted);
        t.slots[0].generation = GENERATION_MASK;
        let a = (a & 0xffff_ffff) | (u64::from(GENERATION_MASK) << 32);
        assert!(a < MSG_RING_USER_DATA);
        t.remove(a);
        let b = t.insert(Lifecycle::Submitted);
        assert!(b < MSG_RING_USER_DATA);
        assert_eq!(b >> 32, 0, "generation wraps to 0");
    }
}
