//! Accept under EMFILE: the error comes back, and the listener works again
//! once fds are freed — for single accepts and the multishot stream. Its
//! own test binary: it lowers the process's fd limit.

use coring::net::TcpListener;
use std::fs::File;
use std::time::Duration;

fn set_nofile(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let old = lim.rlim_cur;
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: setrlimit reads one rlimit from `lim`.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    old
}

/// Opens files until the fd table is full.
fn exhaust() -> Vec<File> {
    let mut v = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => v.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return v,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
}

#[test]
fn accept_under_emfile_recovers() {
    let rt = coring::Runtime::new().expect("io_uring");
    rt.block_on(async {
        coring::time::timeout(Duration::from_secs(20), async {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = l.local_addr().expect("addr");
            let clients: Vec<_> = (0..2)
                .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
                .collect();
            let open = std::fs::read_dir("/proc/self/fd").expect("fds").count();
            let old = set_nofile(open as u64 + 16);
            let fillers = exhaust();

            let err = l.accept().await.expect_err("no fd left");
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
            let mut incoming = l.incoming();
            let err = incoming.accept().await.expect_err("no fd left");
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

            drop(fillers);
            let (s, _) = l.accept().await.expect("works again");
            assert!(s.peer_addr().is_ok());
            let s2 = incoming.accept().await.expect("the stream re-armed");
            assert!(s2.peer_addr().is_ok());
            set_nofile(old);
            drop(clients);
        })
        .await
        .expect("test timed out")
    });
}
