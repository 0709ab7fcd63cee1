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
