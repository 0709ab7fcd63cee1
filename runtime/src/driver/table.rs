//! The op table: a slab of [`Lifecycle`]s keyed by user_data.
//!
//! user_data = `generation << 32 | slab index`. The generation is bumped
//! for every op, so a cancel or CQE meant for an op that is gone can never
//! hit a newer op that reused the slot (the bug of libxev#233).
//! Generations stay below 2^31, so table keys never collide with the
//! reserved values below, whose high half is all ones.

use crate::op::lifecycle::Lifecycle;
use slab::Slab;

/// user_data of the eventfd read that remote wakes complete.
pub(crate) const WAKE_USER_DATA: u64 = u64::MAX;
/// user_data of SQEs whose CQE nobody needs (cancels the runtime sends).
pub(crate) const IGNORE_USER_DATA: u64 = u64::MAX - 1;

const GENERATION_LIMIT: u32 = 1 << 31;

struct Slot {
    generation: u32,
    state: Lifecycle,
}

/// Ops in flight, and ops completed but not yet polled.
pub(crate) struct OpTable {
    slots: Slab<Slot>,
    next_generation: u32,
}

impl OpTable {
    pub(crate) fn new() -> Self {
        OpTable {
            slots: Slab::with_capacity(64),
            next_generation: 1,
        }
    }

    /// Adds an entry in `state` and returns its user_data.
    pub(crate) fn insert(&mut self, state: Lifecycle) -> u64 {
        let generation = self.next_generation;
        self.next_generation = if generation + 1 >= GENERATION_LIMIT {
            1
        } else {
            generation + 1
        };
        let index = self.slots.insert(Slot { generation, state });
        debug_assert!(index < u32::MAX as usize);
        (u64::from(generation) << 32) | index as u64
    }

    /// The entry for `user_data`, if it is still there.
    pub(crate) fn get_mut(&mut self, user_data: u64) -> Option<&mut Lifecycle> {
        let (generation, index) = split(user_data);
        match self.slots.get_mut(index) {
            Some(slot) if slot.generation == generation => Some(&mut slot.state),
            _ => None,
        }
    }

    /// Removes the entry for `user_data`.
    pub(crate) fn remove(&mut self, user_data: u64) {
        let (generation, index) = split(user_data);
        if matches!(self.slots.get(index), Some(s) if s.generation == generation) {
            self.slots.remove(index);
        }
    }

    /// Entries in the table.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// user_data of every entry still waiting for its final CQE.
    pub(crate) fn in_flight(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| s.state.is_in_flight())
            .map(|(i, s)| (u64::from(s.generation) << 32) | i as u64)
            .collect()
    }
}

fn split(user_data: u64) -> (u32, usize) {
    ((user_data >> 32) as u32, (user_data & 0xffff_ffff) as usize)
}

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
        t.next_generation = GENERATION_LIMIT - 1;
        let a = t.insert(Lifecycle::Submitted);
        let b = t.insert(Lifecycle::Submitted);
        assert!(a < IGNORE_USER_DATA && b < IGNORE_USER_DATA);
        assert_eq!(b >> 32, 1, "generation wraps to 1");
    }
}
