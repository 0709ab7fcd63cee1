//! A bounded single-producer single-consumer channel between two cores.
//!
//! `tokio::sync::mpsc` and `async-channel` work on coring, within a core
//! and across cores (see the README); this channel exists because they pay
//! for their generality across cores: every message takes a semaphore
//! permit and gives it back, so each message moves the same cache lines
//! between the two CPUs. (The cross-core benchmark compares them:
//! `docs/BENCHMARKS.md` in the repository.)
//!
//! Here the sender and receiver each own one index (padded to its own
//! cache lines) and keep a cached copy of the other's, so a run of
//! messages costs the receiver one read of the sender's index, and the
//! slots travel whole cache lines at a time. Waking is a flag each side
//! sets only when it is about to wait (the Dekker pattern: store, SeqCst
//! fence, load, on both sides), so a sender never wakes a receiver that
//! is busy.
//!
//! It is for one producer and one consumer (`Sender` is not `Clone`);
//! for many producers into one core use `tokio::sync::mpsc`,
//! `async-channel`, or [`Spawner::run`](crate::Spawner::run). Both ends
//! are `Send` and work from any thread or runtime: a waiting coring task
//! on another core is woken through that core's ring (MSG_RING).
//!
//! ```
//! use std::sync::Mutex;
//! let (tx, rx) = coring_runtime::channel::bounded::<u64>(1024);
//! let (tx, rx) = (Mutex::new(Some(tx)), Mutex::new(Some(rx)));
//! let sums = coring_runtime::cores(2)
//!     .pin(false)
//!     .run(move |core| {
//!         let tx = if core.index() == 0 { tx.lock().unwrap().take() } else { None };
//!         let rx = if core.index() == 1 { rx.lock().unwrap().take() } else { None };
//!         async move {
//!             if let Some(mut tx) = tx {
//!                 for i in 0..10_000 {
//!                     tx.send(i).await.unwrap();
//!                 }
//!             }
//!             let mut sum = 0;
//!             if let Some(mut rx) = rx {
//!                 while let Some(v) = rx.recv().await {
//!                     sum += v;
//!                 }
//!             }
//!             sum
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(sums, vec![0, 10_000 * 9_999 / 2]);
//! ```

use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[cfg(loom)]
use loom::cell::UnsafeCell;
#[cfg(loom)]
use loom::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex,
};
#[cfg(not(loom))]
use std::cell::UnsafeCell;
#[cfg(not(loom))]
use std::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex,
};

use Ordering::{Acquire, Relaxed, Release, SeqCst};

/// The largest capacity [`bounded`] accepts.
pub const MAX_CAPACITY: usize = 1 << 24;

/// Creates a channel that holds up to `capacity` messages (rounded up to
/// a power of two).
///
/// # Panics
///
/// Panics if `capacity` is 0 or above [`MAX_CAPACITY`].
pub fn bounded<T: Send>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0 && capacity <= MAX_CAPACITY,
        "coring::channel::bounded: capacity must be in 1..={MAX_CAPACITY}, got {capacity}"
    );
    let cap = capacity.next_power_of_two();
    let slots = (0..cap).map(|_| Slot::new()).collect();
    let chan = Arc::new(Chan {
        tail: Padded(AtomicUsize::new(0)),
        head: Padded(AtomicUsize::new(0)),
        rx_wait: Padded(Waiter::new()),
        tx_wait: Padded(Waiter::new()),
        slots,
        mask: cap - 1,
    });
    (
        Sender {
            chan: chan.clone(),
            tail: 0,
            head_seen: 0,
        },
        Receiver {
            chan,
            head: 0,
            tail_seen: 0,
        },
    )
}

/// Two cache lines: x86 prefetches lines in pairs.
#[repr(align(128))]
struct Padded<T>(T);

/// One side's wait: a flag the other side checks after each move of its
/// index, the waker to call, and whether the *other* side is gone (set
/// under this side's waker lock, so a registration either sees it or is
/// woken by it).
struct Waiter {
    waiting: AtomicBool,
    peer_closed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Waiter {
    fn new() -> Self {
        Waiter {
            waiting: AtomicBool::new(false),
            peer_closed: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    /// This side is about to wait: remember the waker, then raise the
    /// flag (Release: whoever takes the flag sees the waker). The caller
    /// fences and re-checks the other side's index, then `peer_closed`.
    fn register(&self, waker: &Waker) {
        {
            let mut w = self.waker.lock().unwrap_or_else(|p| p.into_inner());
            match &mut *w {
                Some(old) if old.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
        self.waiting.store(true, Release);
    }

    /// The wait ended without a wake (the re-check found work).
    #[inline]
    fn unregister(&self) {
        self.waiting.store(false, Relaxed);
    }

    /// The other side moved its index and fenced: wake this side if it
    /// waits. The waker runs outside the lock.
    #[inline]
    fn wake_if_waiting(&self) {
        if self.waiting.load(Relaxed) {
            self.wake_slow();
        }
    }

    #[cold]
    fn wake_slow(&self) {
        if self.waiting.swap(false, Acquire) {
            let w = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// The other side is gone: mark it and wake this side, whether it
    /// waits or not.
    fn close_peer(&self) {
        let w = {
            let mut w = self.waker.lock().unwrap_or_else(|p| p.into_inner());
            self.peer_closed.store(true, SeqCst);
            w.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Whether the other side is gone.
    #[inline]
    fn peer_closed(&self) -> bool {
        self.peer_closed.load(SeqCst)
    }
}

/// A slot of the ring. Under loom the cell is loom's, so the model also
/// checks that the index hand-off orders the slot accesses.
struct Slot<T>(UnsafeCell<MaybeUninit<T>>);

impl<T> Slot<T> {
    fn new() -> Self {
        Slot(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// # Safety
    /// The caller has the slot to itself (the sender, for a slot the
    /// receiver is done with) and the slot holds no value.
    #[inline]
    unsafe fn write(&self, v: T) {
        #[cfg(not(loom))]
        // SAFETY: the caller has the slot to itself (see above).
        unsafe {
            (*self.0.get()).write(v);
        }
        #[cfg(loom)]
        // SAFETY: as above; loom checks it.
        self.0.with_mut(|p| unsafe {
            (*p).write(v);
        });
    }

    /// # Safety
    /// The caller has the slot to itself (the receiver, for a slot the
    /// sender published) and the slot holds a value, which it takes.
    #[inline]
    unsafe fn read(&self) -> T {
        #[cfg(not(loom))]
        // SAFETY: the caller has the slot to itself and it is initialised.
        unsafe {
            (*self.0.get()).assume_init_read()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom checks it.
        self.0.with_mut(|p| unsafe { (*p).assume_init_read() })
    }
}

struct Chan<T> {
    /// Messages written (the sender's index); wraps.
    tail: Padded<AtomicUsize>,
    /// Messages taken (the receiver's index); wraps.
    head: Padded<AtomicUsize>,
    rx_wait: Padded<Waiter>,
    tx_wait: Padded<Waiter>,
    slots: Box<[Slot<T>]>,
    mask: usize,
}

// SAFETY: the slots are handed between the two threads through the
// indices (Release store, Acquire load): a slot between head and tail
// belongs to the receiver, the others to the sender, so no slot is ever
// touched by both at once. Values move between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above; the two sides share only atomics and mutexes.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    fn cap(&self) -> usize {
        self.mask + 1
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        // Both sides are gone: drop what was sent and never received.
        let tail = self.tail.0.load(Acquire);
        let mut head = self.head.0.load(Acquire);
        while head != tail {
            // SAFETY: slots in head..tail hold values nobody took, and
            // with both ends gone we have them to ourselves.
            drop(unsafe { self.slots[head & self.mask].read() });
            head = head.wrapping_add(1);
        }
    }
}

/// The sending end of a [`bounded`] channel.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
    /// Our index (the atomic's value, kept here to skip the load).
    tail: usize,
    /// The receiver's index as last read: the slots before it are free.
    head_seen: usize,
}

/// The receiving end of a [`bounded`] channel.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    head: usize,
    /// The sender's index as last read: the slots before it are full.
    tail_seen: usize,
}

/// [`Sender::send`] failed: the receiver is gone. Holds the message.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// [`Sender::try_send`] failed.
#[derive(PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full; the message comes back.
    Full(T),
    /// The receiver is gone; the message comes back.
    Closed(T),
}

/// [`Receiver::try_recv`] found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued; the sender is still there.
    Empty,
    /// Nothing queued, and the sender is gone.
    Closed,
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel whose receiver is gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the channel is full"),
            TrySendError::Closed(_) => f.write_str("the receiver is gone"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("the channel is empty"),
            TryRecvError::Closed => f.write_str("the channel is empty and the sender is gone"),
        }
    }
}

impl std::error::Error for TryRecvError {}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Fails (giving
    /// the value back) once the receiver is gone.
    pub fn send(&mut self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            tx: self,
            value: Some(value),
        }
    }

    /// Sends `value` if there is room.
    pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
        if self.chan.tx_wait.0.peer_closed() {
            return Err(TrySendError::Closed(value));
        }
        if !self.has_room() {
            return Err(TrySendError::Full(value));
        }
        self.push(value);
        Ok(())
    }

    /// The most messages the channel holds.
    pub fn capacity(&self) -> usize {
        self.chan.cap()
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.tx_wait.0.peer_closed()
    }

    #[inline]
    fn has_room(&mut self) -> bool {
        if self.tail.wrapping_sub(self.head_seen) < self.chan.cap() {
            return true;
        }
        self.head_seen = self.chan.head.0.load(Acquire);
        self.tail.wrapping_sub(self.head_seen) < self.chan.cap()
    }

    /// Writes into a free slot (`has_room` said so) and publishes it.
    #[inline]
    fn push(&mut self, value: T) {
        let chan = &*self.chan;
        // SAFETY: has_room: the slot at tail is before head + cap, so the
        // receiver is done with it and holds no value there.
        unsafe { chan.slots[self.tail & chan.mask].write(value) };
        self.tail = self.tail.wrapping_add(1);
        chan.tail.0.store(self.tail, Release);
        // Dekker with Receiver::poll_recv: it raises its flag, fences and
        // reads tail; we wrote tail, fence and read its flag.
        fence(SeqCst);
        chan.rx_wait.0.wake_if_waiting();
    }

    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        value: &mut Option<T>,
    ) -> Poll<Result<(), SendError<T>>> {
        let Some(v) = value.take() else {
            return Poll::Ready(Ok(()));
        };
        if self.chan.tx_wait.0.peer_closed() {
            return Poll::Ready(Err(SendError(v)));
        }
        if !self.has_room() {
            self.chan.tx_wait.0.register(cx.waker());
            fence(SeqCst);
            if !self.has_room() {
                if self.chan.tx_wait.0.peer_closed() {
                    return Poll::Ready(Err(SendError(v)));
                }
                *value = Some(v);
                return Poll::Pending;
            }
            self.chan.tx_wait.0.unregister();
        }
        self.push(v);
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let chan = &*self.chan;
        chan.rx_wait.0.close_peer();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.chan.cap())
            .finish_non_exhaustive()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    tx: &'a mut Sender<T>,
    value: Option<T>,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.tx.poll_send(cx, &mut this.value)
    }
}

impl<T> Receiver<T> {
    /// Receives the next message, waiting while the channel is empty;
    /// `None` once it is empty and the sender is gone.
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture { rx: self }
    }

    /// Takes the next message if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if let Some(v) = self.pop() {
            return Ok(v);
        }
        if self.chan.rx_wait.0.peer_closed() {
            // The sender wrote its last tail before it closed.
            return self.pop().ok_or(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Polls for the next message (what [`recv`](Self::recv) and the
    /// `Stream` impl do).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(v) = self.pop() {
            return Poll::Ready(Some(v));
        }
        self.chan.rx_wait.0.register(cx.waker());
        fence(SeqCst);
        if let Some(v) = self.pop() {
            self.chan.rx_wait.0.unregister();
            return Poll::Ready(Some(v));
        }
        if self.chan.rx_wait.0.peer_closed() {
            self.chan.rx_wait.0.unregister();
            return Poll::Ready(self.pop());
        }
        Poll::Pending
    }

    /// The most messages the channel holds.
    pub fn capacity(&self) -> usize {
        self.chan.cap()
    }

    /// Messages queued now (a snapshot).
    pub fn len(&self) -> usize {
        self.chan.tail.0.load(Acquire).wrapping_sub(self.head)
    }

    /// Whether no message is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        let chan = &*self.chan;
        if self.head == self.tail_seen {
            self.tail_seen = chan.tail.0.load(Acquire);
            if self.head == self.tail_seen {
                return None;
            }
        }
        // SAFETY: head < tail_seen, a tail the sender published with
        // Release after writing the slot (Acquire above): the slot holds
        // a value and the sender will not touch it until head passes it.
        let v = unsafe { chan.slots[self.head & chan.mask].read() };
        self.head = self.head.wrapping_add(1);
        chan.head.0.store(self.head, Release);
        // Dekker with Sender::poll_send, as in `push`.
        fence(SeqCst);
        chan.tx_wait.0.wake_if_waiting();
        Some(v)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let chan = &*self.chan;
        chan.tx_wait.0.close_peer();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.chan.cap())
            .finish_non_exhaustive()
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a mut Receiver<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().rx.poll_recv(cx)
    }
}
