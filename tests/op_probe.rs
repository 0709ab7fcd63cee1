//! Per-op feature probing: an op whose opcode the running kernel lacks
//! (the ring's IORING_REGISTER_PROBE says so) fails at once with an
//! `Unsupported` error that names it, without reaching the kernel, and the
//! calls with a fallback take it. Run on several kernels by
//! `ci/kernels.sh`, where 6.1 lacks IORING_OP_FTRUNCATE (6.9).

use coring::io_uring::{opcode, squeue};
use coring::op::{self, Completion, Feature, MultiOp, MultishotOpCode, Op, OpCode};
use coring::Runtime;
use futures_core::Stream;
use std::future::poll_fn;
use std::io::ErrorKind;
use std::pin::Pin;

/// The running kernel's (major, minor).
fn kernel() -> (u32, u32) {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = rel
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// A NOP that claims to need an opcode no kernel has (yet).
struct FromTheFuture;

const NO_KERNEL_HAS: u8 = 250;

// SAFETY: a NOP's SQE points at no memory.
unsafe impl OpCode for FromTheFuture {
    type Output = std::io::Result<u32>;
    const PROBE: Option<Feature> = Some(Feature::opcode(NO_KERNEL_HAS));
    fn build(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }
    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result()
    }
}

// SAFETY: a NOP's SQE points at no memory.
unsafe impl MultishotOpCode for FromTheFuture {
    type Item = std::io::Result<u32>;
    const PROBE: Option<Feature> = Some(Feature::opcode(NO_KERNEL_HAS));
    fn build(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }
    fn next(&mut self, cqe: Completion, _more: bool) -> Self::Item {
        cqe.result()
    }
}

#[test]
fn an_op_the_kernel_lacks_is_unsupported_and_never_submitted() {
    Runtime::new().unwrap().block_on(async {
        coring::io::nop().await.unwrap();
        let submitted = coring::metrics().sqes_submitted;
        let e = Op::submit(FromTheFuture).await.unwrap_err();
        println!("{e}");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(op::is_unsupported(&e));
        assert!(e.to_string().contains("opcode 250"), "{e}");
        assert_eq!(e.raw_os_error(), None, "not the kernel's errno");

        // A multishot op: one error item, then the stream ends.
        let mut stream = MultiOp::submit(FromTheFuture);
        let first = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
        let e = first.expect("one item").unwrap_err();
        assert!(op::is_unsupported(&e), "{e}");
        assert!(stream.is_terminated());
        let next = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
        assert!(next.is_none());

        // Dropped before its first poll: nothing leaks, nothing waits.
        drop(Op::submit(FromTheFuture));
        drop(MultiOp::submit(FromTheFuture));
        assert_eq!(coring::metrics().ops_in_flight, 0);
        assert_eq!(coring::metrics().sqes_submitted, submitted);
    });
}

#[test]
fn the_probe_matches_the_kernel_version() {
    let k = kernel();
    Runtime::new().unwrap().block_on(async {
        let expect = [
            (Feature::MKDIRAT, (5, 15)),
            (Feature::LINKAT, (5, 15)),
            (Feature::SYMLINKAT, (5, 15)),
            (Feature::SOCKET, (5, 19)),
            (Feature::PBUF_RING, (5, 19)),
            (Feature::ACCEPT_MULTISHOT, (5, 19)),
            (Feature::RECVSEND_POLL_FIRST, (5, 19)),
            // Probed through IORING_OP_SOCKET (5.19); the flag came in 5.18.
            (Feature::SEND_WAITALL, (5, 19)),
            (Feature::SEND_ZC, (6, 0)),
            (Feature::RECV_MULTISHOT, (6, 0)),
            (Feature::FTRUNCATE, (6, 9)),
        ];
        for (f, since) in expect {
            println!("kernel {k:?}: {f:?} supported: {}", f.is_supported());
            assert_eq!(f.is_supported(), k >= since, "{f:?} on {k:?}");
        }
        assert!(!Feature::opcode(NO_KERNEL_HAS).is_supported());
    });
}

#[test]
fn ftruncate_without_the_op_falls_back_and_the_op_says_unsupported() {
    let dir = std::env::temp_dir().join(format!("coring-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    Runtime::new().unwrap().block_on(async {
        let fd = coring::fd::SharedFd::new(file.into());
        // The call with a fallback works on every kernel.
        op::ftruncate(&fd, 4096).await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        // The bare op: done by the kernel, or Unsupported naming it.
        match Op::submit(op::Ftruncate::new(&fd, 100)).await {
            Ok(()) => {
                assert!(kernel() >= (6, 9));
                assert_eq!(std::fs::metadata(&path).unwrap().len(), 100);
            }
            Err(e) => {
                println!("{e}");
                assert!(kernel() < (6, 9), "{e}");
                assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
                assert!(e.to_string().contains("IORING_OP_FTRUNCATE"), "{e}");
                assert!(e.to_string().contains("6.9"), "{e}");
            }
        }
        // The directory calls fall back too (before 5.15).
        coring::fs::create_dir(dir.join("d")).await.unwrap();
        coring::fs::symlink("d", dir.join("s")).await.unwrap();
        coring::fs::hard_link(&path, dir.join("h")).await.unwrap();
        assert!(dir.join("s").join(".").is_dir());
        assert!(dir.join("h").is_file());
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
