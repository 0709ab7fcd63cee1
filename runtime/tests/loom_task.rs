//! Loom model of the task state word (`executor/state.rs`, used by
//! `executor/task.rs`): whatever the interleaving of wakes on other
//! threads with the owner thread running, completing, aborting and joining
//! the task,
//!
//! - a task is in the run queue at most once;
//! - no wake-up is lost: what a waker published before waking is seen by
//!   a poll that comes after (the task ends up complete);
//! - a complete (finished or aborted) task is never polled again;
//! - every count of the task (the queue's, the wakers') is given back
//!   (loom fails a model that leaks a `loom::sync::Arc`).
//!
//! The queue, the wakers' counts and the run loop are the model's; the
//! transitions of the state word are the runtime's own `TaskState`.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p coring-runtime --test loom_task --release`
#![cfg(loom)]

use coring_runtime::__loom_task_state::TaskState;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::collections::VecDeque;

/// One task: its state word, and a future that is ready once it has seen
/// `target` events published by wakers.
struct Task {
    state: TaskState,
    /// Events published by wakers. Relaxed on both sides: only the state
    /// word's orderings may make a poll see them.
    events: AtomicUsize,
    target: usize,
    /// The future is gone (finished or aborted); owner thread only, an
    /// atomic only to be shareable.
    gone: AtomicBool,
    polls: AtomicUsize,
}

impl Task {
    fn new(target: usize) -> Arc<Task> {
        Arc::new(Task {
            state: TaskState::new(),
            events: AtomicUsize::new(0),
            target,
            gone: AtomicBool::new(false),
            polls: AtomicUsize::new(0),
        })
    }
}

/// The run queue; each entry owns one count of its task.
type Queue = Mutex<VecDeque<Arc<Task>>>;

/// `waker_wake`: the waker's count moves into the queue, or is given up.
fn wake(task: Arc<Task>, queue: &Queue) {
    if task.state.notify() {
        let mut q = queue.lock().unwrap();
        assert!(
            !q.iter().any(|t| Arc::ptr_eq(t, &task)),
            "a task queued twice"
        );
        q.push_back(task);
    }
}

/// `waker_wake_by_ref`: the queue gets a count of its own.
fn wake_by_ref(task: &Arc<Task>, queue: &Queue) {
    if task.state.notify() {
        let mut q = queue.lock().unwrap();
        assert!(
            !q.iter().any(|t| Arc::ptr_eq(t, task)),
            "a task queued twice"
        );
        q.push_back(task.clone());
    }
}

/// A waker on another thread: publish an event, then wake.
fn remote(task: Arc<Task>, queue: &Queue, by_ref: bool) {
    task.events.fetch_add(1, Relaxed);
    if by_ref {
        wake_by_ref(&task, queue);
        drop(task);
    } else {
        wake(task, queue);
    }
}

/// `Task::run` (owner thread), consuming the queue's count.
fn run(task: Arc<Task>) {
    if !task.state.start_run() {
        return;
    }
    assert!(!task.gone.load(Relaxed), "a complete task was polled");
    task.polls.fetch_add(1, Relaxed);
    if task.events.load(Relaxed) >= task.target {
        // `finish`: the future goes, then COMPLETE.
        task.gone.store(true, Relaxed);
        task.state.complete();
    }
}

/// `JoinHandle::abort` (owner thread, not inside the poll).
fn abort(task: &Task) {
    if task.state.is_complete() {
        return;
    }
    task.gone.store(true, Relaxed);
    task.state.complete();
}

/// Runs what is queued now.
fn run_queued(queue: &Queue) {
    loop {
        let next = queue.lock().unwrap().pop_front();
        match next {
            Some(t) => run(t),
            None => return,
        }
    }
}

/// Spawned (NOTIFIED, queued once), with a `JoinHandle`'s count.
fn spawn(target: usize, queue: &Queue) -> Arc<Task> {
    let task = Task::new(target);
    queue.lock().unwrap().push_back(task.clone());
    task
}

/// Every interleaving with up to `LOOM_MAX_PREEMPTIONS` (default 3)
/// preemptions.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// The owner's end: nothing left queued, the future saw every event and
/// is done, the state says complete and not queued.
fn check_done(task: &Task, queue: &Queue) {
    run_queued(queue);
    assert!(queue.lock().unwrap().is_empty());
    assert!(
        task.gone.load(Relaxed),
        "lost wake-up: the task never saw its events ({} of {}, {} polls)",
        task.events.load(Relaxed),
        task.target,
        task.polls.load(Relaxed)
    );
    assert!(task.state.is_complete());
    assert!(!task.state.is_notified(), "a complete task left NOTIFIED");
}

/// One wake from another thread racing the task's first run: the poll
/// that follows the wake sees its event.
#[test]
fn a_wake_racing_the_run_is_never_lost() {
    model(|| {
        let queue = Arc::new(Queue::default());
        let task = spawn(1, &queue);
        let waker = {
            let (task, queue) = (task.clone(), queue.clone());
            thread::spawn(move || remote(task, &queue, false))
        };
        run_queued(&queue);
        waker.join().unwrap();
        check_done(&task, &queue);
    });
}

/// Two wakers (by value and by reference) and the owner running the task
/// twice while they wake it.
#[test]
fn two_wakers_and_two_runs() {
    model(|| {
        let queue = Arc::new(Queue::default());
        let task = spawn(2, &queue);
        let wakers: Vec<_> = [false, true]
            .into_iter()
            .map(|by_ref| {
                let (task, queue) = (task.clone(), queue.clone());
                thread::spawn(move || remote(task, &queue, by_ref))
            })
            .collect();
        run_queued(&queue);
        run_queued(&queue);
        for w in wakers {
            w.join().unwrap();
        }
        check_done(&task, &queue);
        assert!(task.polls.load(Relaxed) <= 3, "polled more than woken");
    });
}

/// An abort (the owner drops the future, then sets COMPLETE) racing a
/// wake: the task is queued at most once more, and that run does not
/// poll; the JoinHandle sees it complete.
#[test]
fn abort_racing_a_wake_polls_nothing_after() {
    model(|| {
        let queue = Arc::new(Queue::default());
        // Never ready by itself: only the abort ends it.
        let task = spawn(usize::MAX, &queue);
        run_queued(&queue);
        let waker = {
            let (task, queue) = (task.clone(), queue.clone());
            thread::spawn(move || remote(task, &queue, false))
        };
        abort(&task);
        let polls = task.polls.load(Relaxed);
        // The join handle, polled by the owner: complete at once.
        assert!(task.state.is_complete(), "join: aborted task not complete");
        waker.join().unwrap();
        run_queued(&queue);
        assert_eq!(task.polls.load(Relaxed), polls, "polled after the abort");
        assert!(queue.lock().unwrap().is_empty());
    });
}

/// The task completes in its run while a waker, which loaded the state
/// before COMPLETE, queues it once more: that run sees COMPLETE and
/// returns, and the waker's count is given back.
#[test]
fn a_wake_racing_completion_runs_nothing() {
    model(|| {
        let queue = Arc::new(Queue::default());
        let task = spawn(0, &queue);
        let waker = {
            let (task, queue) = (task.clone(), queue.clone());
            thread::spawn(move || {
                // No event needed: the task is ready at once.
                wake(task, &queue);
            })
        };
        run_queued(&queue);
        waker.join().unwrap();
        run_queued(&queue);
        assert_eq!(task.polls.load(Relaxed), 1, "polled after it finished");
        check_done(&task, &queue);
    });
}
