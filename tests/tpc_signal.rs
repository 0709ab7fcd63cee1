//! `CoresHandle::shutdown_on_signals`: SIGTERM and SIGINT sent to the
//! process stop the cores. Alone in its test binary, because the handlers
//! are process-wide (without them, the signal would end the process).

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};
use support::with_watchdog;

/// Launches two cores that wait for a shutdown, installs the handlers,
/// sends `sig` to this process, and checks both cores stopped.
fn cores_stop_on(sig: libc::c_int) {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let ready_tx = Mutex::new(ready_tx);
    let handle = coring::cores(2)
        .pin(false)
        .grace(Duration::from_millis(200))
        .launch(move |core| {
            let ready = ready_tx.lock().unwrap().clone();
            async move {
                ready.send(()).unwrap();
                core.shutdown_requested().await;
                assert!(core.is_shutdown_requested());
                core.index() + 1
            }
        })
        .expect("launch");
    for _ in 0..2 {
        ready_rx.recv().unwrap();
    }
    handle.shutdown_on_signals().expect("install the handlers");
    let spawner = handle.spawners()[0].clone();
    assert!(!spawner.is_closed());
    let t = Instant::now();
    // SAFETY: getpid(2) and kill(2) take no pointers; the handler for
    // `sig` is installed, so the process is not ended by it.
    let r = unsafe { libc::kill(libc::getpid(), sig) };
    assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    let outs = handle.join().expect("join");
    assert_eq!(outs, vec![Some(1), Some(2)], "both roots saw the request");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(spawner.is_closed());
}

#[test]
fn sigterm_then_sigint_shut_the_cores_down() {
    with_watchdog("signals", Duration::from_secs(20), || {
        cores_stop_on(libc::SIGTERM);
        // A second launch registers again; the handlers stay installed.
        cores_stop_on(libc::SIGINT);
    });
}

const CHILD_ENV: &str = "CORING_SIGNAL_CHILD";

/// After the handlers stopped every launch, a further SIGINT has nobody to
/// stop: it must end the process (not be swallowed). Run in a child
/// process, since it ends the process.
#[test]
fn a_signal_with_nothing_left_to_stop_ends_the_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        cores_stop_on(libc::SIGTERM);
        println!("first signal stopped the cores");
        // SAFETY: as in `cores_stop_on`; here the default action should
        // come back and end this (child) process.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
        std::thread::sleep(Duration::from_secs(10));
        println!("still alive after the second signal");
        std::process::exit(3);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([
            "--exact",
            "a_signal_with_nothing_left_to_stop_ends_the_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("first signal stopped the cores"),
        "the child's first launch did not stop on SIGTERM:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGINT),
        "the second signal did not end the child ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
}
