//! A one-shot slot where a result made on one thread meets the task that
//! awaits it on another: `spawn_blocking` and cross-core spawns use it.

use super::JoinError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while a slot's lock is held, so poisoning carries no
    // broken invariant.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum State<T> {
    /// Not done; the receiver's waker, once polled.
    Pending(Option<Waker>),
    Done(Result<T, JoinError>),
    Taken,
}

/// The sending half: fill it once. Dropped unfilled, the receiver gets a
/// cancelled [`JoinError`].
pub(crate) struct Sender<T> {
    slot: Arc<Mutex<State<T>>>,
    filled: bool,
}

/// The receiving half: a future of the result.
pub(crate) struct Receiver<T> {
    slot: Arc<Mutex<State<T>>>,
}

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(State::Pending(None)));
    (
        Sender {
            slot: slot.clone(),
            filled: false,
        },
        Receiver { slot },
    )
}

impl<T> Sender<T> {
    pub(crate) fn send(mut self, out: Result<T, JoinError>) {
        self.filled = true;
        self.fill(out);
    }

    fn fill(&self, out: Result<T, JoinError>) {
        let waker = {
            let mut st = lock(&self.slot);
            match std::mem::replace(&mut *st, State::Done(out)) {
                State::Pending(w) => w,
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if !self.filled {
            self.fill(Err(JoinError::cancelled()));
        }
    }
}

impl<T> Receiver<T> {
    /// Whether the result is there.
    pub(crate) fn is_done(&self) -> bool {
        matches!(*lock(&self.slot), State::Done(_))
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = lock(&self.slot);
        match std::mem::replace(&mut *st, State::Taken) {
            State::Done(out) => Poll::Ready(out),
            State::Pending(w) => {
                let w = match w {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                };
                *st = State::Pending(Some(w));
                Poll::Pending
            }
            State::Taken => panic!("coring: result polled after it was returned"),
        }
    }
}
