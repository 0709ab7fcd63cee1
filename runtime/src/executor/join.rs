//! `JoinHandle`: await a task's output, abort it, or detach it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The JoinHandle's view of a task, whatever its future type.
pub(crate) trait Join<T> {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>>;
    fn abort(&self);
    fn detach(&self);
    fn is_finished(&self) -> bool;
}

/// An owned handle to a spawned task.
///
/// Awaiting it gives the task's output, or a [`JoinError`] if the task
/// panicked or was aborted. Dropping it detaches the task, which runs on.
/// It is `!Send`: it belongs to the runtime's thread.
#[must_use = "dropping a JoinHandle detaches the task; await it to get the output"]
pub struct JoinHandle<T> {
    task: Option<Arc<dyn Join<T>>>,
    _not_send: PhantomData<Rc<()>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: Arc<dyn Join<T>>) -> Self {
        JoinHandle {
            task: Some(task),
            _not_send: PhantomData,
        }
    }

    /// Cancels the task: its future is dropped without being polled again
    /// (at once, or when its current poll returns if it aborts itself),
    /// and awaiting this handle gives a cancelled [`JoinError`]. A task
    /// that already finished keeps its output.
    pub fn abort(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }

    /// Whether the task has finished (output ready, panicked or aborted).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(task) = &this.task else {
            panic!("coring: JoinHandle polled after it returned");
        };
        let poll = task.poll_join(cx);
        if poll.is_ready() {
            this.task = None;
        }
        poll
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task gave no output.
///
/// `Send + Sync + 'static`, so it converts into `anyhow::Error` and
/// `Box<dyn Error + Send + Sync>`: `handle.await?` works in a function
/// returning either.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic {
        /// The panic message, when the payload was a string.
        message: Option<String>,
        /// The payload, for `try_into_panic`. A `Box<dyn Any + Send>` is not
        /// `Sync`; behind a `Mutex` it is, and only `try_into_panic`
        /// (which owns the error) ever takes it out.
        payload: Mutex<Box<dyn Any + Send + 'static>>,
    },
}

impl JoinError {
    pub(crate) fn cancelled() -> Self {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        let message = payload
            .downcast_ref::<&'static str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        JoinError {
            repr: Repr::Panic {
                message,
                payload: Mutex::new(payload),
            },
        }
    }

    /// The task was aborted, or its runtime shut down first.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The panic's payload, to resume it with
    /// `std::panic::resume_unwind`.
    ///
    /// # Errors
    ///
    /// Gives `self` back when the task did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => {
                Ok(payload.into_inner().unwrap_or_else(|p| p.into_inner()))
            }
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic's message, when the task panicked with a string (as
    /// `panic!` and `unwrap` do).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic { message, .. } => message.as_deref(),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic { .. }, Some(m)) => write!(f, "task panicked: {m}"),
            (Repr::Panic { .. }, None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({self})")
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> Self {
        std::io::Error::other(e.to_string())
    }
}
