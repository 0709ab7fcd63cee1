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

/// Pools of different sizes, one after another on one runtime: each
/// works, and a second pool is refused while one is alive. (A pool's drop
/// empties its slots; the next pool fills the same table.)
#[test]
fn pools_one_after_another_on_one_runtime() {
    use coring::op::{Op, ReadFixed};
    let file = support::TempFile::new("fsreg-seq", b"data");
    support::run(20, async {
        let fd = file.open_ro();
        for count in [2, 1, 5, 64, 3] {
            let pool = FixedBufPool::register(count, 4096).unwrap();
            let e = FixedBufPool::register(1, 4096).unwrap_err();
            assert!(e.to_string().contains("already has"), "{e}");
            let bufs: Vec<_> = (0..count).map(|_| pool.try_get().unwrap()).collect();
            for buf in bufs {
                let (res, buf) = Op::submit(ReadFixed::new(&fd, buf, 0)).await;
                assert_eq!(res.unwrap(), 4);
                assert_eq!(&buf[..], b"data");
            }
        }
    });
}

/// File tables one after another on one runtime, smaller and bigger: each
/// takes its slots, and a second is refused while one is alive.
#[test]
fn file_tables_one_after_another_on_one_runtime() {
    let file = support::TempFile::new("fsreg-tables", b"data");
    support::run(20, async {
        let fd = file.open_ro();
        for slots in [2u32, 1, 8, 3] {
            let table = FileTable::register(slots).unwrap();
            assert!(FileTable::register(1).is_err());
            let regs: Vec<_> = (0..slots).map(|_| table.insert(&fd).unwrap()).collect();
            assert_eq!(table.available(), 0);
            assert!(table.insert(&fd).is_err(), "every slot is taken");
            drop(regs);
            assert_eq!(table.available(), slots as usize);
        }
    });
}

/// Drops what `make` registered while a zero-copy send waits for its
/// notification: the drop must not wait for the ring, and the send ends
/// once the peer reads. The peer's receive buffer is kept small and
/// unread, so most of the bytes stay in the sender's queue and the
/// notification cannot come before the drop.
fn drop_while_a_zero_copy_send_waits(make: fn() -> Box<dyn std::any::Any>) {
    support::with_watchdog("the drop", std::time::Duration::from_secs(30), move || {
        let rt = coring::Runtime::new().unwrap();
        rt.block_on(async {
            if !coring::op::Feature::SEND_ZC.is_supported() {
                println!("SKIP: no SEND_ZC in this kernel (6.0)");
                return;
            }
            let (c, s) = support::tcp_pair().await;
            socket2::SockRef::from(&s)
                .set_recv_buffer_size(64 * 1024)
                .unwrap();
            let registered = make();
            let send = coring::spawn(async move {
                let (res, _) = c.write_zc(vec![7u8; 4 << 20]).await;
                // The peer reads to the end of the stream.
                drop(c);
                res
            });
            // The send goes out; its notification waits for the reader.
            coring::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(registered);
            let reader = coring::spawn(async move {
                let mut got = 0;
                loop {
                    let (res, buf) = s.read(Vec::with_capacity(64 * 1024)).await;
                    match res.unwrap() {
                        0 => return got,
                        n => {
                            assert!(buf.iter().all(|&b| b == 7));
                            got += n;
                        }
                    }
                }
            });
            let sent = send.await.unwrap().unwrap();
            assert!(sent > 0);
            assert_eq!(reader.await.unwrap(), sent);
        });
    });
}

/// A pool dropped while a zero-copy send waits lets go at once. On Linux
/// 6.1 a SEND_ZC's notification holds the ring's resource node until it
/// completes, in task work; IORING_UNREGISTER_BUFFERS waits for every
/// hold on the node and, with DEFER_TASKRUN, never runs that task work:
/// an unregister there waits for ever (docs/KERNELS.md).
#[test]
fn a_pool_dropped_while_a_zero_copy_send_waits_lets_go_at_once() {
    drop_while_a_zero_copy_send_waits(|| Box::new(FixedBufPool::register(1, 4096).unwrap()));
}

/// The same for a file table (IORING_UNREGISTER_FILES waits the same way).
#[test]
fn a_file_table_dropped_while_a_zero_copy_send_waits_lets_go_at_once() {
    drop_while_a_zero_copy_send_waits(|| Box::new(FileTable::register(2).unwrap()));
}
