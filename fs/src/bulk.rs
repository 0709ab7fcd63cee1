//! Bulk helpers for I/O-heavy programs: many reads in flight as a
//! `Stream` ([`ReadMany`]), and sequential reading with read-ahead
//! ([`SeqReader`]) and writing with write-behind ([`SeqWriter`]).

use crate::file::File;
use coring_runtime::buf::{BufResult, IoBuf, IoBufMut};
use coring_runtime::op::{Op, Read, Write};
use futures_core::Stream;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// Keeps up to `in_flight` reads of one file in flight, from a sequence
/// of `(offset, buffer)` requests, and yields each as it completes (in
/// completion order, not request order): `(offset, (result, buffer))`.
///
/// Each read is one IORING_OP_READ of `buf.bytes_total()` bytes at the
/// offset; a read past the end is short, and `Ok(0)` at or after it.
/// Dropping the stream cancels the reads still in flight (their buffers
/// are freed once the kernel is done with them).
///
/// # Examples
///
/// ```
/// use coring_fs::{File, ReadMany};
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// coring_runtime::start(async {
///     let f = File::open("/dev/zero").await?;
///     let reqs = (0..100u64).map(|i| (i * 512, Vec::with_capacity(512)));
///     let mut s = ReadMany::new(&f, reqs, 16);
///     let mut n = 0;
///     while let Some((_off, (res, _buf))) = poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
///         assert_eq!(res?, 512);
///         n += 1;
///     }
///     assert_eq!(n, 100);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct ReadMany<B: IoBufMut, I> {
    file: File,
    requests: I,
    exhausted: bool,
    limit: usize,
    slots: Vec<Option<(u64, Op<Read<B>>)>>,
    wakers: Vec<Waker>,
    free: Vec<usize>,
    in_flight: usize,
    /// Requests refused before submission (misaligned O_DIRECT).
    refused: VecDeque<(u64, BufResult<usize, B>)>,
    ready: Arc<Mutex<ReadyList>>,
}

// Nothing in the stream is pinned structurally: buffers and ops are
// moved freely, as `Op` is `Unpin`.
impl<B: IoBufMut, I> Unpin for ReadMany<B, I> {}

/// Slots whose op was woken, and the stream's own waker.
#[derive(Default)]
struct ReadyList {
    slots: Vec<usize>,
    parent: Option<Waker>,
}

fn lock(m: &Mutex<ReadyList>) -> MutexGuard<'_, ReadyList> {
    // Nothing panics while the lock is held.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The waker of one slot: marks the slot ready, wakes the stream.
struct SlotWaker {
    slot: usize,
    ready: Arc<Mutex<ReadyList>>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let parent = {
            let mut r = lock(&self.ready);
            r.slots.push(self.slot);
            r.parent.take()
        };
        if let Some(w) = parent {
            w.wake();
        }
    }
}

impl<B: IoBufMut, I: Iterator<Item = (u64, B)>> ReadMany<B, I> {
    /// Reads `requests` from `file`, at most `in_flight` at a time (at
    /// least 1).
    pub fn new(file: &File, requests: impl IntoIterator<IntoIter = I>, in_flight: usize) -> Self {
        let limit = in_flight.max(1);
        let ready = Arc::new(Mutex::new(ReadyList::default()));
        let wakers = (0..limit)
            .map(|slot| {
                Waker::from(Arc::new(SlotWaker {
                    slot,
                    ready: ready.clone(),
                }))
            })
            .collect();
        ReadMany {
            file: file.clone(),
            requests: requests.into_iter(),
            exhausted: false,
            limit,
            slots: (0..limit).map(|_| None).collect(),
            wakers,
            free: (0..limit).rev().collect(),
            in_flight: 0,
            refused: VecDeque::new(),
            ready,
        }
    }

    /// Reads currently in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Submits requests until `limit` are in flight or none are left.
    fn fill(&mut self, ready: &mut Vec<usize>) {
        while !self.exhausted && self.in_flight < self.limit {
            let Some((off, buf)) = self.requests.next() else {
                self.exhausted = true;
                break;
            };
            let check = self
                .file
                .check_direct(buf.stable_ptr(), buf.bytes_total(), off);
            if let Err(e) = check {
                self.refused.push_back((off, (Err(e), buf)));
                continue;
            }
            let Some(slot) = self.free.pop() else {
                break;
            };
            let op = Op::submit(Read::new(self.file.fd(), buf, off));
            self.slots[slot] = Some((off, op));
            self.in_flight += 1;
            // A new op is polled once, to register its waker.
            ready.push(slot);
        }
    }
}

impl<B: IoBufMut, I: Iterator<Item = (u64, B)> + Unpin> Stream for ReadMany<B, I> {
    type Item = (u64, BufResult<usize, B>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut todo = {
            let mut r = lock(&this.ready);
            r.parent = Some(cx.waker().clone());
            std::mem::take(&mut r.slots)
        };
        this.fill(&mut todo);
        if let Some(item) = this.refused.pop_front() {
            lock(&this.ready).slots.extend(todo);
            return Poll::Ready(Some(item));
        }
        while let Some(slot) = todo.pop() {
            let Some((off, op)) = &mut this.slots[slot] else {
                continue;
            };
            let off = *off;
            let mut scx = Context::from_waker(&this.wakers[slot]);
            if let Poll::Ready((res, buf)) = Pin::new(op).poll(&mut scx) {
                this.slots[slot] = None;
                this.free.push(slot);
                this.in_flight -= 1;
                // Slots not yet looked at wait for the next poll.
                let mut r = lock(&this.ready);
                r.slots.extend(todo);
                drop(r);
                let res = this.file.explain(res);
                // Keep the queue full: refill before handing out.
                let mut fresh = Vec::new();
                this.fill(&mut fresh);
                lock(&this.ready).slots.extend(fresh);
                return Poll::Ready(Some((off, (res, buf))));
            }
        }
        if this.in_flight == 0 && this.exhausted && this.refused.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// Reads a file from start to end in chunks, keeping `ahead` chunk reads
/// in flight (read-ahead), and hands the chunks out in order.
///
/// Buffers come from a closure (so an O_DIRECT file can get
/// [`AlignedBuf`](crate::AlignedBuf)s) and can be given back with
/// [`recycle`](SeqReader::recycle). Every buffer should have the same
/// capacity: the chunk size.
///
/// # Examples
///
/// ```
/// use coring_fs::{File, SeqReader};
/// coring_runtime::start(async {
///     let f = File::open("/dev/zero").await?;
///     let mut r = SeqReader::new(&f, 0, 4, || Ok(Vec::with_capacity(4096)));
///     let (n, buf) = r.next().await?.expect("a chunk");
///     assert_eq!(n, 4096);
///     r.recycle(buf);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct SeqReader<B: IoBufMut> {
    file: File,
    next_pos: u64,
    ahead: usize,
    queue: VecDeque<(u64, Op<Read<B>>)>,
    spare: Vec<B>,
    make: Box<dyn FnMut() -> io::Result<B>>,
    eof: bool,
}

impl<B: IoBufMut> SeqReader<B> {
    /// Reads `file` from `start`, `ahead` chunks in flight (at least 1),
    /// with buffers from `make_buf`.
    pub fn new(
        file: &File,
        start: u64,
        ahead: usize,
        make_buf: impl FnMut() -> io::Result<B> + 'static,
    ) -> Self {
        SeqReader {
            file: file.clone(),
            next_pos: start,
            ahead: ahead.max(1),
            queue: VecDeque::new(),
            spare: Vec::new(),
            make: Box::new(make_buf),
            eof: false,
        }
    }

    /// Gives a buffer back for the next reads.
    pub fn recycle(&mut self, buf: B) {
        self.spare.push(buf);
    }

    fn fill(&mut self) -> io::Result<()> {
        while !self.eof && self.queue.len() < self.ahead {
            let buf = match self.spare.pop() {
                Some(b) => b,
                None => (self.make)()?,
            };
            let len = buf.bytes_total();
            if len == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "coring: SeqReader buffers need a capacity above 0",
                ));
            }
            self.file
                .check_direct(buf.stable_ptr(), len, self.next_pos)?;
            let op = Op::submit(Read::new(self.file.fd(), buf, self.next_pos));
            self.queue.push_back((self.next_pos, op));
            self.next_pos += len as u64;
        }
        Ok(())
    }

    /// The next chunk: `(bytes, buffer)` where the first `bytes` bytes of
    /// the buffer are the file's next bytes (a full chunk except at the
    /// end), or `None` at end of file.
    ///
    /// # Errors
    ///
    /// The read's error, or the buffer closure's; reading stops there.
    pub async fn next(&mut self) -> io::Result<Option<(usize, B)>> {
        self.fill()?;
        let Some((pos, op)) = self.queue.pop_front() else {
            return Ok(None);
        };
        let (res, mut buf) = op.await;
        let mut got = match self.file.explain(res) {
            Ok(n) => n,
            Err(e) => {
                self.stop();
                return Err(e);
            }
        };
        let total = buf.bytes_total();
        if got == 0 {
            self.stop();
            return Ok(None);
        }
        // A short read: the end of the file (always so for O_DIRECT), or
        // rarely a partial one; read on to tell which.
        while got < total && !self.file.is_direct() {
            let (res, s) = self.file.read_at(buf.slice(got..), pos + got as u64).await;
            buf = s.into_inner();
            match res {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stop();
                    return Err(e);
                }
            }
        }
        if got < total {
            self.stop();
        }
        Ok(Some((got, buf)))
    }

    /// End of reading: drop the reads ahead (cancelled; their buffers
    /// freed once the kernel is done).
    fn stop(&mut self) {
        self.eof = true;
        self.queue.clear();
    }
}

/// Writes a file sequentially, keeping up to `ahead` chunk writes in
/// flight (write-behind). Call [`finish`](SeqWriter::finish) at the end to
/// wait for them and learn of any error.
///
/// # Examples
///
/// ```
/// use coring_fs::{File, SeqWriter};
/// coring_runtime::start(async {
///     let path = std::env::temp_dir().join(format!("coring-seqw-doc-{}", std::process::id()));
///     let f = File::create(&path).await?;
///     let mut w = SeqWriter::new(&f, 0, 4);
///     for _ in 0..8 {
///         w.write(vec![7u8; 1000]).await?;
///     }
///     assert_eq!(w.finish().await?, 8000);
///     assert_eq!(coring_fs::metadata(&path).await?.len(), 8000);
///     coring_fs::remove_file(&path).await
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct SeqWriter<B: IoBuf> {
    file: File,
    pos: u64,
    ahead: usize,
    queue: VecDeque<(u64, usize, Op<Write<B>>)>,
    spare: Vec<B>,
    written: u64,
}

impl<B: IoBuf> SeqWriter<B> {
    /// Writes `file` from `start`, with `ahead` writes in flight (at least
    /// 1).
    pub fn new(file: &File, start: u64, ahead: usize) -> Self {
        SeqWriter {
            file: file.clone(),
            pos: start,
            ahead: ahead.max(1),
            queue: VecDeque::new(),
            spare: Vec::new(),
            written: 0,
        }
    }

    /// Queues `buf`'s initialized bytes as the next chunk, waiting first
    /// for the oldest write when `ahead` are in flight.
    ///
    /// # Errors
    ///
    /// A failed earlier write (the error is reported once; writes after it
    /// may have landed), or a misaligned O_DIRECT chunk.
    pub async fn write(&mut self, buf: B) -> io::Result<()> {
        while self.queue.len() >= self.ahead {
            self.complete_one().await?;
        }
        let len = buf.bytes_init();
        self.file.check_direct(buf.stable_ptr(), len, self.pos)?;
        let op = Op::submit(Write::new(self.file.fd(), buf, self.pos));
        self.queue.push_back((self.pos, len, op));
        self.pos += len as u64;
        Ok(())
    }

    /// A buffer whose write completed, for reuse.
    pub fn take_buf(&mut self) -> Option<B> {
        self.spare.pop()
    }

    async fn complete_one(&mut self) -> io::Result<()> {
        let Some((pos, len, op)) = self.queue.pop_front() else {
            return Ok(());
        };
        let (res, mut buf) = op.await;
        let n = self.file.explain(res)?;
        if n < len {
            // A short write: finish the chunk before going on.
            let (res, s) = self
                .file
                .write_all_at(buf.slice(n..len), pos + n as u64)
                .await;
            buf = s.into_inner();
            res?;
        }
        self.written += len as u64;
        self.spare.push(buf);
        Ok(())
    }

    /// Waits for every write in flight; returns the bytes written in all.
    ///
    /// # Errors
    ///
    /// The first failed write.
    pub async fn finish(&mut self) -> io::Result<u64> {
        while !self.queue.is_empty() {
            self.complete_one().await?;
        }
        Ok(self.written)
    }
}
