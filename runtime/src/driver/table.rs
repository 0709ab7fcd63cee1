//! The op table: a slab of [`Lifecycle`]s keyed by user_data.
//!
//! user_data = `generation << 32 | slab index`. The generation is bumped
//! for every op, so a cancel or CQE meant for an op that is gone can never
//! hit a newer op that reused the slot (the bug of libxev#233).
//! Generations stay below 2^31, so table keys never collide with the
//! reserved values below, whose high half is all ones.

use crate::op::lifecycle::{Lifecycle, OnCqe};
use crate::op::Completion;
use std::task::{Poll, Waker};

/// user_data of the eventfd read that remote wakes complete.
pub(crate) const WAKE_USER_DATA: u64 = u64::MAX;
/// user_data of SQEs whose CQE nobody needs (cancels the runtime sends).
pub(crate) const IGNORE_USER_DATA: u64 = u64::MAX - 1;
/// user_data of the CQE another ring's MSG_RING posts to wake this one.
pub(crate) const MSG_RING_USER_DATA: u64 = u64::MAX - 2;

/// Generations stay below 2^31, so no key's high half is all ones.
const GENERATION_MASK: u32 = (1 << 31) - 1;

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
}

impl OpTable {
    pub(crate) fn new() -> Self {
        OpTable {
            slots: Vec::with_capacity(64),
            free_head: NONE,
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
        if user_data >= MSG_RING_USER_DATA {
            if user_data == WAKE_USER_DATA {
                *wake_armed = false;
            }
            return;
        }
        let Some(state) = self.get_mut(user_data) else {
            return;
        };
        match state.transition_to_completed(c) {
            OnCqe::Stored => {}
            OnCqe::Wake(w) => wake(w),
            OnCqe::Orphaned(o) => {
                drop(self.remove(user_data));
                reaped.orphans.push((o, c));
            }
        }
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
