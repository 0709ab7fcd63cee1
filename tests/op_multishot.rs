//! Multishot ops through the core: a user-defined multishot POLL_ADD on a
//! pipe yields one item per readiness event, ends with the CQE without
//! F_MORE, and a dropped stream leaves nothing in flight.

mod support;

use coring::io_uring::{opcode, squeue, types};
use coring::op::{Completion, MultiOp, MultishotOpCode};
use futures_core::Stream;
use std::future::poll_fn;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;

/// IORING_OP_POLL_ADD with IORING_POLL_ADD_MULTI on an fd.
struct PollMulti {
    fd: OwnedFd,
    abandoned: std::rc::Rc<std::cell::Cell<u32>>,
}

// SAFETY: the SQE carries only an fd number (owned by the op) and flags.
unsafe impl MultishotOpCode for PollMulti {
    type Item = (std::io::Result<u32>, bool);

    fn build(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.as_raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
    }

    fn next(&mut self, cqe: Completion, more: bool) -> Self::Item {
        (cqe.result(), more)
    }

    fn abandoned(&mut self, _cqe: Completion) {
        self.abandoned.set(self.abandoned.get() + 1);
    }
}

fn next<S: Stream + Unpin>(s: &mut S) -> impl std::future::Future<Output = Option<S::Item>> + '_ {
    poll_fn(move |cx| Pin::new(&mut *s).poll_next(cx))
}

/// A pipe as two `File`s, for std reads and writes beside the ring's.
fn pipe() -> (std::fs::File, std::fs::File) {
    let (r, w) = support::pipe();
    (r.into(), w.into())
}

#[test]
fn multishot_poll_yields_per_event_and_ends_on_cancel() {
    let rt = coring::Runtime::new().unwrap();
    let (mut r, mut w) = pipe();
    let abandoned = std::rc::Rc::new(std::cell::Cell::new(0));
    rt.block_on(async {
        let mut s = MultiOp::submit(PollMulti {
            fd: r.try_clone().unwrap().into(),
            abandoned: abandoned.clone(),
        });
        for i in 0..5u8 {
            w.write_all(&[i]).unwrap();
            let (res, more) = next(&mut s).await.expect("an item per event");
            assert!(res.unwrap() & libc::POLLIN as u32 != 0);
            assert!(more, "multishot poll goes on");
            let mut b = [0u8; 1];
            r.read_exact(&mut b).unwrap();
            assert_eq!(b[0], i);
        }
        s.cancel();
        let (res, more) = next(&mut s).await.expect("the final CQE");
        assert!(!more);
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        assert!(next(&mut s).await.is_none(), "ended");
        assert!(s.is_terminated());
    });
    assert_eq!(rt.metrics().ops_in_flight, 0);
    assert_eq!(abandoned.get(), 0);
}

#[test]
fn dropped_multishot_stream_is_cancelled_and_drained() {
    let rt = coring::Runtime::new().unwrap();
    let (r, mut w) = pipe();
    let abandoned = std::rc::Rc::new(std::cell::Cell::new(0));
    rt.block_on(async {
        let mut s = MultiOp::submit(PollMulti {
            fd: r.try_clone().unwrap().into(),
            abandoned: abandoned.clone(),
        });
        w.write_all(b"x").unwrap();
        assert!(next(&mut s).await.is_some());
        drop(s);
        assert_eq!(
            coring::metrics().ops_in_flight,
            1,
            "kept until its final CQE"
        );
        for _ in 0..10 {
            coring::io::nop().await.unwrap();
            if coring::metrics().ops_in_flight == 0 {
                break;
            }
        }
        assert_eq!(coring::metrics().ops_in_flight, 0);
    });
    assert!(abandoned.get() >= 1, "the final CQE went to the orphan");
}
