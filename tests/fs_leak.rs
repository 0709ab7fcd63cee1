//! A File dropped with reads in flight leaks no fd and frees no buffer
//! before the kernel is done with it. One test in this binary, so nothing
//! else opens fds while it counts /proc/self/fd.
// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod support;

use coring::fs::File;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;
use support::{open_fd_count as open_fds, pipe, BufCounter};

#[test]
fn dropped_file_with_reads_in_flight_leaks_nothing() {
    let path = std::env::temp_dir().join(format!("coring-fsleak-{}", std::process::id()));
    std::fs::write(&path, vec![1u8; 1 << 20]).unwrap();
    coring::start(async {
        let base = open_fds();
        // 1. Reads that cannot complete (an empty pipe): the buffers must
        //    outlive the dropped futures and File until the cancel's CQE.
        let (rx, tx) = pipe();
        let file = File::from_std(std::fs::File::from(rx));
        let counter = BufCounter::new();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let f = file.clone();
            let buf = counter.buf(4096);
            tasks.push(coring::spawn(async move { f.read_at(buf, 0).await.0 }));
        }
        drop(file);
        coring::time::sleep(Duration::from_millis(20)).await; // the reads are in the kernel
        assert_eq!(coring::metrics().ops_in_flight, 16);
        for t in tasks {
            t.abort();
        }
        coring::yield_now().await;
        // The futures are gone, the kernel may still write: a buffer is
        // freed only once its op has left the table (its final CQE came).
        let freed_at_drop = counter.dropped();
        assert_eq!(freed_at_drop as u64 + coring::metrics().ops_in_flight, 16);
        coring::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(counter.dropped(), 16, "every buffer freed after its CQE");
        assert_eq!(coring::metrics().ops_in_flight, 0);
        drop(tx);
        assert_eq!(open_fds(), base, "the pipe's fds are closed");
        eprintln!("buffers freed at abort: {freed_at_drop} (0 or 16 depending on cancel timing)");

        // 2. Many reads of a real file, every future and the File dropped
        //    at once, before the runtime ran a turn.
        let file = File::open(&path).await.unwrap();
        assert_eq!(open_fds(), base + 1);
        let counter = BufCounter::new();
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let buf = counter.buf(4096);
            let f = file.clone();
            tasks.push(coring::spawn(
                async move { f.read_at(buf, i * 4096).await.0 },
            ));
        }
        coring::yield_now().await; // the tasks ran: their reads are submitted
        for t in tasks {
            t.abort();
        }
        drop(file);
        assert_eq!(
            counter.dropped() as u64 + coring::metrics().ops_in_flight,
            64
        );
        coring::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(counter.dropped(), 64);
        assert_eq!(coring::metrics().ops_in_flight, 0);
        assert_eq!(
            open_fds(),
            base,
            "the file's fd is closed after the last op"
        );

        // 3. Opens whose futures are dropped after submission: an open that
        //    completes anyway has its fd closed by the op, never leaked.
        for _ in 0..32 {
            let mut open = Box::pin(File::open(&path));
            let polled =
                std::future::poll_fn(|cx| Poll::Ready(open.as_mut().poll(cx).is_ready())).await;
            assert!(!polled, "the open is in the kernel, not done yet");
            drop(open);
        }
        coring::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(coring::metrics().ops_in_flight, 0);
        assert_eq!(open_fds(), base, "no fd from an abandoned open");
    })
    .unwrap();
    std::fs::remove_file(&path).unwrap();
}
