//! Registered resources: a fixed-buffer pool and a file table, used with
//! READ_FIXED / WRITE_FIXED; their misuse gives clear errors.
// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod support;
use coring::buf::FixedBufPool;
use coring::fs::FileTable;
use std::io::ErrorKind;

#[test]
fn fixed_buffers_and_registered_file_round_trip() {
    let p = std::env::temp_dir().join(format!("coring-fsreg-{}", std::process::id()));
    coring::start(async {
        let f = support::create_rw(&p).await;
        let pool = FixedBufPool::register(4, 8192).unwrap();
        // One buffer table per ring.
        let e = FixedBufPool::register(1, 4096).unwrap_err();
        assert_eq!(e.raw_os_error(), None);
        assert!(
            e.to_string().contains("already has a fixed-buffer pool"),
            "{e}"
        );
        assert_eq!(
            FixedBufPool::register(0, 4096).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let table = FileTable::register(4).unwrap();
        assert!(FileTable::register(4).is_err());
        let reg = f.register(&table).unwrap();
        assert_eq!(table.available(), 3);

        let mut b = pool.try_get().unwrap();
        b.set_len(8192);
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i % 251) as u8;
        }
        let (r, b) = f.write_fixed_at(b, 4096, Some(&reg)).await;
        assert_eq!(r.unwrap(), 8192);
        drop(b);
        assert_eq!(pool.available(), 4);
        // Read back by fd and by slot.
        for slot in [None, Some(&reg)] {
            let b = pool.get().await;
            let (r, b) = f.read_fixed_at(b, 4096, slot).await;
            assert_eq!(r.unwrap(), 8192);
            assert!(b.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8));
        }
        // Past the end: 0 bytes, the buffer comes back.
        let (r, b) = f
            .read_fixed_at(pool.try_get().unwrap(), 1 << 30, Some(&reg))
            .await;
        assert_eq!(r.unwrap(), 0);
        assert_eq!(b.len(), 0);
        drop(b);
        // All buffers out: try_get says so, get waits for one.
        let all: Vec<_> = (0..4).map(|_| pool.try_get().unwrap()).collect();
        assert!(pool.try_get().is_none());
        drop(all);
        drop(reg);
        assert_eq!(table.available(), 4);
        f.close().await.unwrap();
    })
    .unwrap();
    // Another runtime on this thread: the same pool's buffers and slots
    // are refused, not sent to the wrong ring.
    let rt1 = coring::Runtime::new().unwrap();
    let (pool, table, f) = rt1.block_on(async {
        let f = coring::fs::File::open(&p).await.unwrap();
        let table = FileTable::register(1).unwrap();
        (FixedBufPool::register(1, 4096).unwrap(), table, f)
    });
    let rt2 = coring::Runtime::new().unwrap();
    rt2.block_on(async {
        let reg = f.register(&table).unwrap();
        let (r, b) = f.read_fixed_at(pool.try_get().unwrap(), 0, None).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
        drop(b);
        let other = FixedBufPool::register(1, 4096).unwrap();
        let (r, _) = f
            .read_fixed_at(other.try_get().unwrap(), 0, Some(&reg))
            .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
    drop((pool, table, f));
    drop(rt2);
    drop(rt1);
    std::fs::remove_file(&p).unwrap();
}

/// Reads `fd` into a buffer of `pool` on an io-wq worker (IOSQE_ASYNC):
/// the worker posts the CQE, then leaves the request's last reference
/// (which holds the ring's resource node) to task work.
async fn read_fixed_in_a_worker(pool: &FixedBufPool, fd: &coring::fd::SharedFd) {
    use coring::op::{Offload, Op, ReadFixed};
    let buf = pool.try_get().expect("a free fixed buffer");
    let (res, buf) = Op::submit(Offload(ReadFixed::new(fd, buf, 0))).await;
    assert_eq!(res.unwrap(), 4);
    assert_eq!(&buf[..], b"data");
}

/// Pools dropped right after a fixed read an io-wq worker finished, and
/// registered again, on one runtime: none waits for the ring. On Linux 6.1
/// with DEFER_TASKRUN, IORING_UNREGISTER_BUFFERS waits until the worker's
/// request lets go of the table, which it does in task work only this
/// thread runs, and only when it enters the ring: when that work came
/// after the thread's last enter, the unregister waited for ever (the soak
/// hung there; docs/KERNELS.md). A race, so many rounds.
#[test]
fn pools_dropped_after_reads_in_a_worker_never_wait() {
    const ROUNDS: usize = 300;
    support::with_watchdog("pool drops", std::time::Duration::from_secs(60), || {
        let file = support::TempFile::new("fsreg-wq", b"data");
        let rt = coring::Runtime::new().unwrap();
        rt.block_on(async {
            let fd = file.open_ro();
            for i in 0..ROUNDS {
                // Sizes up and down: a smaller pool takes the table the
                // last one left, a bigger one replaces it.
                let pool = FixedBufPool::register(1 + i % 3, 4096).unwrap();
                read_fixed_in_a_worker(&pool, &fd).await;
                // A second pool waits for this one to go.
                let e = FixedBufPool::register(1, 4096).unwrap_err();
                assert!(e.to_string().contains("already has"), "{e}");
            }
        });
    });
}

/// A pool dropped while a zero-copy send waits for its notification (the
/// peer has not read the bytes yet) lets go of its buffers at once; the
/// send ends when the peer reads. On Linux 6.1 a SEND_ZC's notification
/// holds the ring's resource node until the bytes are consumed, and
/// IORING_UNREGISTER_BUFFERS waits for every such hold without running
/// the ring's task work: with the reader on the same thread it waited for
/// ever (the soak hung there; docs/KERNELS.md).
#[test]
fn a_pool_dropped_while_a_zero_copy_send_waits_lets_go_at_once() {
    support::with_watchdog("pool drop", std::time::Duration::from_secs(30), || {
        let rt = coring::Runtime::new().unwrap();
        rt.block_on(async {
            if !coring::op::Feature::SEND_ZC.is_supported() {
                println!("SKIP: no SEND_ZC in this kernel (6.0)");
                return;
            }
            let (c, s) = support::tcp_pair().await;
            let pool = FixedBufPool::register(1, 4096).unwrap();
            const LEN: usize = 64 * 1024;
            let send = coring::spawn(async move { c.write_zc(vec![7u8; LEN]).await.0 });
            // The bytes go out; the notification waits for the reader.
            coring::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(pool);
            let mut got = 0;
            while got < LEN {
                let (res, buf) = s.read(Vec::with_capacity(LEN)).await;
                let n = res.unwrap();
                assert!(n > 0 && buf.iter().all(|&b| b == 7));
                got += n;
            }
            assert_eq!(send.await.unwrap().unwrap(), LEN);
        });
    });
}
