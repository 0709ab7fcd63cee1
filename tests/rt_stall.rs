//! The stall detector: a task that blocks its core is reported once, with
//! its name, spawn location, core and a backtrace naming the blocking
//! call; polls under the threshold and runtimes without the detector are
//! not reported. The environment variable is tested in a child process
//! (setting it here would reach every other test's runtime).

mod support;

use coring::stall::Stall;
use coring::task;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;
use support::with_watchdog;

/// `builder` with a stall handler whose reports come out of the
/// returned receiver.
fn reporting(builder: coring::Builder) -> (coring::Builder, mpsc::Receiver<Stall>) {
    let (tx, rx) = mpsc::channel();
    let builder = builder.stall_handler(move |s: &Stall| {
        let _ = tx.send(s.clone());
    });
    (builder, rx)
}

/// A runtime with the detector on, whose reports come out of the
/// returned receiver.
fn detecting(threshold: Duration) -> (coring::Runtime, mpsc::Receiver<Stall>) {
    let (builder, rx) = reporting(coring::Builder::new().stall_threshold(threshold));
    (builder.build().expect("a runtime"), rx)
}

/// The functions a trace names, innermost first.
fn functions(s: &Stall) -> Vec<String> {
    s.trace
        .frames()
        .iter()
        .filter_map(|f| f.function.clone())
        .collect()
}

/// Whether the trace names the sleep the task blocked in.
fn names_sleep(s: &Stall) -> bool {
    functions(s)
        .iter()
        .any(|f| f.starts_with("std::thread::") && f.ends_with("sleep") || f.contains("nanosleep"))
}

/// Fails with the whole report when the trace is missing or unnamed.
fn assert_names_sleep(s: &Stall) {
    assert!(
        s.trace.missing().is_none(),
        "no backtrace in the report: {s}\n{}",
        s.trace
    );
    assert!(
        !s.trace.is_unsymbolized(),
        "the backtrace has no symbols (a stripped test binary?): {s}\n{}",
        s.trace
    );
    assert!(
        names_sleep(s),
        "the trace does not name the sleep: {s}\n{}",
        s.trace
    );
    assert!(
        !functions(s).iter().any(|f| f.contains("stall::signal")),
        "the signal handler's frames are in the trace:\n{}",
        s.trace
    );
}

#[test]
fn a_blocking_task_is_reported_with_name_location_and_backtrace() {
    with_watchdog("stall report", Duration::from_secs(60), || {
        let (rt, rx) = detecting(Duration::from_millis(50));
        let line = rt.block_on(async {
            let sleeper = task::Builder::new().name("sleeper");
            let blocks = async { std::thread::sleep(Duration::from_millis(300)) };
            let (line, h) = (line!(), sleeper.spawn(blocks));
            h.await.unwrap();
            line
        });
        let s = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a stall report");
        assert_eq!(s.task.as_deref(), Some("sleeper"), "{s}");
        assert!(!s.block_on);
        assert!(s.location.file().ends_with("rt_stall.rs"), "{s}");
        assert_eq!(s.location.line(), line, "{s}");
        assert_eq!(s.core, None);
        assert!(s.duration >= Duration::from_millis(300), "{s}");
        assert_eq!(s.threshold, Duration::from_millis(50));
        assert_names_sleep(&s);
        assert_eq!(rt.metrics().stalls, 1);
        // Once per stall.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    });
}

#[test]
fn an_unnamed_task_has_its_spawn_location() {
    with_watchdog("unnamed", Duration::from_secs(60), || {
        let (rt, rx) = detecting(Duration::from_millis(50));
        let line = rt.block_on(async {
            let blocks = async { std::thread::sleep(Duration::from_millis(200)) };
            let (line, h) = (line!(), coring::spawn(blocks));
            h.await.unwrap();
            line
        });
        let s = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a stall report");
        assert_eq!(s.task, None);
        assert_eq!((s.location.file(), s.location.line()), (file!(), line));
        assert_names_sleep(&s);
    });
}

#[test]
fn a_blocking_block_on_future_is_reported() {
    with_watchdog("block_on stall", Duration::from_secs(60), || {
        let (rt, rx) = detecting(Duration::from_millis(50));
        let line = line!() + 1;
        rt.block_on(async { std::thread::sleep(Duration::from_millis(200)) });
        let s = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a stall report");
        assert!(s.block_on, "{s}");
        assert_eq!((s.location.file(), s.location.line()), (file!(), line));
        assert_names_sleep(&s);
        assert_eq!(rt.metrics().stalls, 1);
    });
}

#[test]
fn polls_under_the_threshold_are_not_reported() {
    with_watchdog("under threshold", Duration::from_secs(60), || {
        let (rt, rx) = detecting(Duration::from_millis(400));
        rt.block_on(async {
            // 6 × 60 ms of blocking: far over the threshold in all, but
            // each poll well under it.
            let h = task::Builder::new().name("short").spawn(async {
                for _ in 0..6 {
                    std::thread::sleep(Duration::from_millis(60));
                    coring::yield_now().await;
                }
            });
            h.await.unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(600)).is_err(),
            "a poll under the threshold was reported"
        );
        assert_eq!(rt.metrics().stalls, 0);
    });
}

#[test]
fn nothing_is_reported_when_the_detector_is_off() {
    with_watchdog("off", Duration::from_secs(60), || {
        // A handler but no threshold: off.
        let (builder, rx) = reporting(coring::Builder::new());
        let rt = builder.build().expect("a runtime");
        rt.block_on(async {
            coring::spawn(async { std::thread::sleep(Duration::from_millis(200)) })
                .await
                .unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
        assert_eq!(rt.metrics().stalls, 0);
        // A threshold of zero is off too.
        let rt = coring::Builder::new()
            .stall_threshold(Duration::ZERO)
            .build()
            .expect("a runtime");
        rt.block_on(async { std::thread::sleep(Duration::from_millis(100)) });
        assert_eq!(rt.metrics().stalls, 0);
    });
}

#[test]
fn stalls_on_cores_name_their_core() {
    with_watchdog("cores", Duration::from_secs(60), || {
        // 20 ms: under 10× the coarse clock's usual 4 ms resolution, so
        // the precise clock times these polls.
        let (builder, rx) =
            reporting(coring::Builder::new().stall_threshold(Duration::from_millis(20)));
        let stalls = coring::cores(2)
            .pin(false)
            .builder(builder)
            .run(|core| async move {
                if core.index() == 1 {
                    task::Builder::new()
                        .name("on-core-1")
                        .spawn(async { std::thread::sleep(Duration::from_millis(200)) })
                        .await
                        .unwrap();
                }
                coring::metrics().stalls
            })
            .expect("cores");
        assert_eq!(stalls, vec![0, 1]);
        let s = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a stall report");
        assert_eq!(s.task.as_deref(), Some("on-core-1"));
        assert_eq!(s.core, Some(1), "{s}");
        assert_eq!(s.thread.as_deref(), Some("coring-core-1"));
        assert_names_sleep(&s);
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    });
}

/// Spawned by the next two tests with the environment set: runs a task
/// that blocks under the default handler (which prints to stderr).
#[test]
fn child_stall_env() {
    let Ok(expect) = std::env::var("CORING_STALL_TEST_CHILD") else {
        return;
    };
    match coring::Runtime::new() {
        Err(e) => {
            assert_eq!(expect, "error");
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
            eprintln!("child: {e}");
        }
        Ok(rt) => {
            assert_eq!(expect, "report");
            rt.block_on(async {
                task::Builder::new()
                    .name("env-sleeper")
                    .spawn(async { std::thread::sleep(Duration::from_millis(300)) })
                    .await
                    .unwrap();
            });
            assert_eq!(rt.metrics().stalls, 1);
            // Dropping the runtime waits for the watchdog's report.
        }
    }
}

/// Runs `child_stall_env` with `CORING_STALL_MS=ms`; its stderr.
fn child(ms: &str, expect: &str) -> String {
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_stall_env",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CORING_STALL_MS", ms)
        .env("CORING_STALL_TEST_CHILD", expect)
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stderr}");
    stderr
}

#[test]
fn the_environment_turns_it_on_with_the_default_handler() {
    let stderr = child("50", "report");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("coring: stall: "))
        .unwrap_or_else(|| panic!("no report on stderr:\n{stderr}"));
    assert!(line.contains("task \"env-sleeper\" (spawned at "), "{line}");
    assert!(line.contains("rt_stall.rs"), "{line}");
    assert!(line.contains("(threshold 50ms)"), "{line}");
    assert!(
        stderr.contains("std::thread::sleep") || stderr.contains("nanosleep"),
        "the printed backtrace does not name the sleep:\n{stderr}"
    );
}

#[test]
fn a_bad_environment_value_is_an_error() {
    let stderr = child("fifty", "error");
    assert!(stderr.contains("CORING_STALL_MS=\"fifty\""), "{stderr}");
}

#[test]
fn a_poll_that_does_not_return_is_reported_while_it_runs() {
    with_watchdog("stuck", Duration::from_secs(60), || {
        let (rt, rx) = detecting(Duration::from_millis(50));
        let (stuck_tx, stuck_rx) = mpsc::channel::<()>();
        let (report_tx, report_rx) = mpsc::channel::<Stall>();
        // Waits for the report, then lets the stuck task go.
        let releaser = std::thread::spawn(move || {
            let s = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("a report while stuck");
            let _ = report_tx.send(s);
            drop(stuck_tx);
            rx
        });
        let line = rt.block_on(async move {
            let stuck = task::Builder::new().name("stuck");
            // Blocks in a channel receive until the releaser has the report.
            let blocks = async move { while stuck_rx.recv().is_ok() {} };
            let (line, h) = (line!(), stuck.spawn(blocks));
            h.await.unwrap();
            line
        });
        let s = report_rx.recv().expect("the report");
        assert!(s.ongoing, "{s}");
        assert_eq!(s.task.as_deref(), Some("stuck"), "{s}");
        assert_eq!((s.location.file(), s.location.line()), (file!(), line));
        assert!(s.duration >= coring::stall::STUCK_AFTER, "{s}");
        assert!(s.to_string().contains("and not returned"), "{s}");
        assert!(s.trace.missing().is_none(), "{s}\n{}", s.trace);
        assert!(
            functions(&s).iter().any(|f| f.contains("recv")),
            "the trace does not name the receive:\n{}",
            s.trace
        );
        // Counted when it returned, not reported again.
        assert_eq!(rt.metrics().stalls, 1);
        let rx = releaser.join().unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    });
}

#[test]
fn a_named_task_in_a_queue_runs_there_and_is_reported_by_name() {
    with_watchdog("queue", Duration::from_secs(60), || {
        let (rt, rx) = detecting(Duration::from_millis(50));
        rt.block_on(async {
            let bulk =
                coring::TaskQueue::new("bulk", coring::Shares(10), coring::Latency::NotImportant)
                    .expect("a queue");
            task::Builder::new()
                .name("in-bulk")
                .queue(&bulk)
                .spawn(async { std::thread::sleep(Duration::from_millis(200)) })
                .await
                .unwrap();
            let queues = coring::metrics().queues;
            let bulk = queues
                .iter()
                .find(|q| q.name == "bulk")
                .expect("the bulk queue");
            assert_eq!(bulk.tasks_run, 1, "{queues:?}");
            // The stall is the bulk queue's, not the default queue's.
            assert_eq!(bulk.stalls, 1, "{queues:?}");
            let default = queues.iter().find(|q| q.name == "default").unwrap();
            assert_eq!(default.stalls, 0, "{queues:?}");
            assert_eq!(coring::metrics().stalls, 1);
        });
        let s = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a stall report");
        assert_eq!(s.task.as_deref(), Some("in-bulk"), "{s}");
        assert_names_sleep(&s);
    });
}
