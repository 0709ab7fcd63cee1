//! The backend choice and the epoll backend in-process, so a plain
//! `cargo test --workspace` covers both backends (CI also runs the whole
//! suite with `CORING_BACKEND=epoll`).

mod support;

use coring::buf::BufRing;
use coring::net::{TcpListener, TcpStream};
use coring::op::{Op, OpenAt};
use coring::{Backend, BackendKind, Builder, Runtime};
use std::ffi::CString;
use std::time::{Duration, Instant};
use support::{coring_pipe, fd_exclusive, open_fd_count, with_watchdog, BufCounter, XorShift};

/// A new FIFO under the temp dir: opening it for reading blocks (on a
/// pool thread) until a writer comes.
fn fifo(tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("coring-fifo-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let c = CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path that outlives it.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    path
}

fn epoll() -> Runtime {
    Builder::new()
        .backend(Backend::Epoll)
        .build()
        .expect("epoll runtime")
}

#[test]
fn the_backend_is_reported() {
    let _fds = support::fd_shared();
    let rt = epoll();
    assert_eq!(rt.backend().kind(), BackendKind::Epoll);
    assert!(rt.backend().fallback_reason().is_none());
    assert!(
        rt.backend().to_string().starts_with("epoll"),
        "{}",
        rt.backend()
    );
    assert_eq!(rt.metrics().backend, BackendKind::Epoll);
    assert!(!rt.ring_flags().defer_taskrun);
    // On this machine io_uring is allowed: forced, it runs.
    if let Ok(rt) = Builder::new().backend(Backend::IoUring).build() {
        assert_eq!(rt.backend().kind(), BackendKind::IoUring);
        assert_eq!(rt.metrics().backend, BackendKind::IoUring);
    }
    // Bad sizes are refused the same on both backends.
    for b in [Backend::Epoll, Backend::IoUring] {
        let e = Builder::new().backend(b).entries(0).build().err().unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{b:?}: {e}");
    }
}

/// TCP echo with multishot accept, a buffer-ring receive stream, a
/// zero-copy send, timers, files and spawn_blocking, all on epoll.
#[test]
fn epoll_serves_net_fs_timers_and_the_pool() {
    let _fds = support::fd_shared();
    let rt = epoll();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = coring::spawn(async move {
            let mut incoming = l.incoming();
            let mut served = 0;
            for _ in 0..3 {
                let s = incoming.accept().await.unwrap();
                let ring = BufRing::new(8, 4096).unwrap();
                let mut rx = s.recv_stream(&ring);
                while let Some(chunk) = rx.next_buf().await {
                    let chunk = chunk.unwrap();
                    let (res, _) = s.write_all(chunk.to_vec()).await;
                    res.unwrap();
                    served += chunk.len();
                }
            }
            served
        });
        let mut total = 0;
        for i in 0..3u8 {
            let c = TcpStream::connect(addr).await.unwrap();
            let data: Vec<u8> = (0..100_000u32).map(|x| x as u8 ^ i).collect();
            let (res, _) = c.write_zc(data[..1000].to_vec()).await;
            assert_eq!(res.unwrap(), 1000);
            let (res, _) = c.write_all(data[1000..].to_vec()).await;
            res.unwrap();
            // Loopback buffers hold the 100 kB both ways: read it all back.
            let mut got = Vec::new();
            while got.len() < data.len() {
                let (res, buf) = c.read(Vec::with_capacity(65536)).await;
                let n = res.unwrap();
                assert!(n > 0, "early end of stream");
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got == data, "echo of connection {i}");
            c.shutdown(std::net::Shutdown::Write).await.unwrap();
            total += data.len();
        }
        assert_eq!(server.await.unwrap(), total);

        // A refused connect is the kernel's error.
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let e = TcpStream::connect(dead_addr).await.err().unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);

        // Files: page cache through RWF_NOWAIT, the rest on the pool.
        let path = std::env::temp_dir().join(format!("coring-epoll-{}", std::process::id()));
        let f = support::create_rw(&path).await;
        let data: Vec<u8> = (0..1 << 20).map(|x: u32| (x * 7) as u8).collect();
        let (res, _) = f.write_all_at(data.clone(), 0).await;
        res.unwrap();
        f.sync_all().await.unwrap();
        let (res, buf) = f.read_exact_at(Vec::with_capacity(1 << 20), 0).await;
        res.unwrap();
        assert!(buf == data);
        assert_eq!(f.metadata().await.unwrap().len(), 1 << 20);
        coring::fs::remove_file(&path).await.unwrap();

        // Timers and the blocking pool.
        let t0 = Instant::now();
        coring::time::sleep(Duration::from_millis(20)).await;
        assert!(t0.elapsed() >= Duration::from_millis(20));
        coring::io::timeout(Duration::from_millis(5)).await.unwrap();
        assert_eq!(coring::spawn_blocking(|| 6 * 7).await.unwrap(), 42);
    });
}

/// A pool job that is running when cancelled completes with its real
/// result (the cancel loses, as io-wq's does); one still queued or a
/// readiness op is cancelled.
#[test]
fn cancelling_a_running_pool_job_gives_its_real_result() {
    let _fds = fd_exclusive();
    with_watchdog("pool cancel", Duration::from_secs(20), || {
        let before = open_fd_count();
        let dir = fifo("pool-cancel");
        let rt = epoll();
        let fifo = dir.clone();
        rt.block_on(async move {
            // Opening a FIFO for reading blocks (on a pool thread) until a
            // writer comes.
            let op = Op::submit(OpenAt::new(&fifo, libc::O_RDONLY | libc::O_CLOEXEC, 0).unwrap());
            coring::time::sleep(Duration::from_millis(50)).await;
            let op = op.cancel();
            let w = fifo.clone();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                std::fs::OpenOptions::new().write(true).open(w).unwrap()
            });
            let fd = op.await.expect("a running open completes with its fd");
            drop(fd);
            drop(writer.join().unwrap());
            // A readiness op is cancelled at once.
            let (rd, _wr) = coring_pipe();
            let read = coring::io::read(&rd, Vec::with_capacity(8)).cancel();
            let (res, _) = read.await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        });
        drop(rt);
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(open_fd_count(), before, "fds leaked");
    });
}

/// Dropping the runtime while a pool job runs waits for the job: its
/// memory is not freed under it, and its late fd is closed.
#[test]
fn runtime_drop_waits_for_a_running_pool_job() {
    let _fds = fd_exclusive();
    with_watchdog("drop with a pool job", Duration::from_secs(20), || {
        let before = open_fd_count();
        let dir = fifo("pool-drop");
        let rt = epoll();
        let fifo = dir.clone();
        rt.block_on(async move {
            drop(coring::spawn(async move {
                let _ =
                    Op::submit(OpenAt::new(&fifo, libc::O_RDONLY | libc::O_CLOEXEC, 0).unwrap())
                        .await;
            }));
            coring::time::sleep(Duration::from_millis(30)).await;
        });
        let w = dir.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::OpenOptions::new().write(true).open(w).unwrap()
        });
        let t0 = Instant::now();
        drop(rt);
        assert!(
            t0.elapsed() >= Duration::from_millis(50),
            "the drop did not wait for the running open"
        );
        drop(writer.join().unwrap());
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(open_fd_count(), before, "the late fd leaked");
    });
}

/// Reads on pipes, dropped and cancelled at random while data comes:
/// every buffer comes back, no fd leaks, nothing in flight after.
#[test]
fn cancellation_storm_on_epoll_leaks_nothing() {
    let _fds = fd_exclusive();
    with_watchdog("epoll cancel storm", Duration::from_secs(30), || {
        let before = open_fd_count();
        let counter = BufCounter::new();
        let mut rng = XorShift::from_env("epoll_storm");
        for round in 0..20 {
            let rt = epoll();
            let pipes: Vec<_> = (0..8).map(|_| coring_pipe()).collect();
            let seeds: Vec<u64> = (0..200).map(|_| rng.next_u64()).collect();
            rt.block_on(async {
                let mut ops = Vec::new();
                for (i, s) in seeds.iter().enumerate() {
                    let (rd, wr) = &pipes[i % pipes.len()];
                    ops.push(coring::io::read(rd, counter.buf(16)));
                    match s % 4 {
                        0 => drop(ops.pop()),
                        1 => {
                            let op = ops.pop().unwrap().cancel();
                            let (res, _) = op.await;
                            assert!(
                                res.is_ok()
                                    || res.as_ref().unwrap_err().raw_os_error()
                                        == Some(libc::ECANCELED),
                                "{res:?}"
                            );
                        }
                        2 => support::write_to(wr, &[i as u8]),
                        _ => coring::yield_now().await,
                    }
                }
                if round % 2 == 0 {
                    // Half the rounds drop the runtime with reads in flight.
                    for op in ops.drain(..) {
                        drop(op);
                    }
                    coring::yield_now().await;
                    assert_eq!(support::ops_in_flight(), 0, "round {round}");
                }
                drop(ops);
            });
            drop(rt);
            drop(pipes);
            assert_eq!(
                counter.created(),
                counter.dropped(),
                "round {round}: buffers"
            );
            assert_eq!(open_fd_count(), before, "round {round}: fds");
        }
    });
}
