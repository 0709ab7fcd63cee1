//! `coring::signal::ctrl_c()`: a SIGINT sent to the process resolves
//! every live `ctrl_c` future, and once none is alive a SIGINT ends the
//! process again. In a child process (this binary run again), since the
//! handlers are process-wide and the last signal ends the process.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{poll_once, with_watchdog};

const CHILD_ENV: &str = "CORING_CTRL_C_CHILD";

/// The child: two `ctrl_c` futures (one in a task, one in the root
/// future), both pending until the parent's SIGINT; then none, and the
/// next SIGINT must end the process.
fn child() -> ! {
    coring::start(async {
        let mut root = coring::signal::ctrl_c();
        let task = coring::spawn(coring::signal::ctrl_c());
        coring::yield_now().await;
        assert!(poll_once(&mut root).await.is_pending());
        assert!(!task.is_finished());
        println!("waiting");
        let r = coring::time::timeout(Duration::from_secs(10), root).await;
        r.expect("no SIGINT within 10 s").expect("ctrl_c");
        let r = coring::time::timeout(Duration::from_secs(10), task).await;
        r.expect("the task's ctrl_c did not resolve")
            .expect("task")
            .expect("ctrl_c");
        println!("both resolved");
    })
    .expect("runtime");
    // No ctrl_c future is alive now: a SIGINT ends the process.
    println!("none left");
    std::thread::sleep(Duration::from_secs(10));
    println!("still alive");
    std::process::exit(3);
}

#[test]
fn ctrl_c_resolves_on_sigint_and_lets_the_next_one_end_the_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
    }
    with_watchdog("ctrl_c", Duration::from_secs(30), || {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "ctrl_c_resolves_on_sigint_and_lets_the_next_one_end_the_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the child");
        let pid = child.id() as libc::pid_t;
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut seen = Vec::new();
        let mut wait_for = |what: &str| loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the child ended before {what:?}: {seen:?}"))
                .expect("read the child's output");
            seen.push(line.clone());
            // libtest prints "test NAME ... " first, on the same line.
            if line.ends_with(what) {
                return;
            }
        };
        let sigint = || {
            // SAFETY: kill(2) takes no pointers; `pid` is our child, which
            // has not been waited for, so the pid is still its own.
            let r = unsafe { libc::kill(pid, libc::SIGINT) };
            assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
        };
        wait_for("waiting");
        sigint();
        wait_for("both resolved");
        wait_for("none left");
        sigint();
        let status = child.wait().expect("wait");
        assert_eq!(
            status.signal(),
            Some(libc::SIGINT),
            "the SIGINT with no ctrl_c alive did not end the child ({status:?})"
        );
    });
}
