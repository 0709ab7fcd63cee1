//! The "not inside a runtime" panic points at the caller's line, not into
//! coring: every public function that needs the current runtime is
//! `#[track_caller]`. One test in this binary, since it swaps the
//! process's panic hook.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

/// The file and line of the last panic, as the hook saw it.
static LAST: Mutex<Option<(String, u32, String)>> = Mutex::new(None);

/// Runs `f`, which must panic outside a runtime, and returns the file and
/// line the panic reported.
fn panic_site(f: impl FnOnce()) -> (String, u32) {
    *LAST.lock().unwrap() = None;
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    assert!(r.is_err(), "no panic outside a runtime");
    let (file, line, msg) = LAST.lock().unwrap().take().expect("the hook ran");
    assert!(
        msg.contains("inside a coring runtime"),
        "not the no-runtime panic: {msg}"
    );
    (file, line)
}

/// The line of the call, and where its panic said it was.
macro_rules! site {
    ($call:expr) => {
        (
            line!(),
            panic_site(|| {
                let _dropped = $call;
            }),
        )
    };
}

#[test]
fn no_runtime_panics_point_at_the_callers_line() {
    panic::set_hook(Box::new(|info| {
        let loc = info.location().expect("a location");
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        // Printed too: a failed assertion of the test itself comes here.
        eprintln!("panicked at {loc}: {msg}");
        *LAST.lock().unwrap() = Some((loc.file().to_string(), loc.line(), msg));
    }));
    let this = file!();
    let check = |what: &str, (expected, (file, line)): (u32, (String, u32))| {
        assert_eq!(file, this, "{what}: the panic points into {file}:{line}");
        assert_eq!(line, expected, "{what}: the panic's line");
    };

    check("spawn", site!(coring::spawn(async {})));
    check("spawn_blocking", site!(coring::spawn_blocking(|| ())));
    check("io::nop", site!(coring::io::nop()));
    check("Op::submit", site!(coring::op::Op::submit(coring::op::Nop)));
    let fd = coring::fd::SharedFd::new(std::fs::File::open("/dev/zero").unwrap().into());
    check(
        "io::read_at",
        site!(coring::io::read_at(&fd, vec![0u8; 8], 0)),
    );
    check(
        "time::sleep",
        site!(coring::time::sleep(Duration::from_millis(1))),
    );
    check(
        "time::timeout",
        site!(coring::time::timeout(Duration::from_millis(1), async {})),
    );
    check(
        "time::interval",
        site!(coring::time::interval(Duration::from_millis(1))),
    );
    check("metrics", site!(coring::metrics()));
    check("spawner", site!(coring::spawner()));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let std_stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let stream = coring::net::TcpStream::from_std(std_stream);
    check("TcpStream::read", site!(stream.read(Vec::with_capacity(8))));
    check(
        "TcpStream::write_all",
        site!(stream.write_all(vec![1u8; 8])),
    );
    let _ = panic::take_hook();
}
