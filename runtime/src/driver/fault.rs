//! Fault injection for tests (feature `fault-injection`, never on in a
//! release build of a user's program): make the Nth io_uring_enter,
//! io_uring_register or SQ push on this thread fail.
//!
//! Each runtime lives on one thread, so the plan is thread-local: a test
//! arms faults, then drives its runtime, and the driver asks [`hit`] at
//! each fallible step. An enter that hits a fault returns `-errno` without
//! entering the kernel (as an enter the kernel refused before taking any
//! SQE would); a register returns the errno; a push sees a full SQ (the
//! only way a push can fail) and takes the make-room path.

use std::cell::RefCell;

/// A fallible step of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// `io_uring_enter(2)`: submit, wait, or both.
    Enter,
    /// `io_uring_register(2)`: probe, buffers, files, buffer rings.
    Register,
    /// Pushing an SQE onto the submission ring.
    Push,
}

#[derive(Default)]
struct Plan {
    /// Steps seen so far at each point (Enter, Register, Push).
    seen: [u64; 3],
    /// Armed faults: point, the step number (1-based, absolute) that
    /// fails, and the errno.
    armed: Vec<(Point, u64, i32)>,
    /// Faults that fired.
    fired: u64,
}

thread_local! {
    static PLAN: RefCell<Plan> = RefCell::new(Plan::default());
}

fn index(p: Point) -> usize {
    match p {
        Point::Enter => 0,
        Point::Register => 1,
        Point::Push => 2,
    }
}

/// Makes the `nth` next step at `point` on this thread (1 = the very next
/// one) fail with `errno` (for [`Point::Push`], the errno is ignored: the
/// push sees a full SQ).
pub fn fail_nth(point: Point, nth: u64, errno: i32) {
    PLAN.with(|p| {
        let mut p = p.borrow_mut();
        let at = p.seen[index(point)] + nth;
        p.armed.push((point, at, errno));
    });
}

/// Makes every one of the next `count` steps at `point` fail with `errno`.
pub fn fail_next(point: Point, count: u64, errno: i32) {
    for n in 1..=count {
        fail_nth(point, n, errno);
    }
}

/// Disarms every fault on this thread; returns how many fired.
pub fn clear() -> u64 {
    PLAN.with(|p| {
        let mut p = p.borrow_mut();
        p.armed.clear();
        std::mem::take(&mut p.fired)
    })
}

/// Steps seen at `point` on this thread so far.
pub fn seen(point: Point) -> u64 {
    PLAN.with(|p| p.borrow().seen[index(point)])
}

/// Counts a step at `point`; the errno when a fault is armed for it.
pub(crate) fn hit(point: Point) -> Option<i32> {
    PLAN.with(|p| {
        let mut p = p.borrow_mut();
        let i = index(point);
        p.seen[i] += 1;
        let now = p.seen[i];
        let pos = p
            .armed
            .iter()
            .position(|&(q, at, _)| q == point && at == now)?;
        let (_, _, errno) = p.armed.swap_remove(pos);
        p.fired += 1;
        Some(errno)
    })
}
