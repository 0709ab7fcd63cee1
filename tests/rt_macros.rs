//! `#[coring::test]` and `#[coring::main]` as users write them: the
//! expansions run, with each option. The compile errors of misuse are in
//! macros/tests/ui (trybuild).

mod support;

use coring::BackendKind;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;
use support::{coring_pipe, write_to};

#[coring::test]
async fn a_test_does_io() {
    let (r, w) = coring_pipe();
    write_to(&w, b"hello");
    let (res, buf) = coring::io::read(&r, Vec::with_capacity(16)).await;
    assert_eq!(res.unwrap(), 5);
    assert_eq!(buf, b"hello");
}

#[coring::test]
async fn a_test_may_return_a_result() -> std::io::Result<()> {
    coring::io::nop().await?;
    coring::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

#[coring::test]
#[should_panic(expected = "a panic in the body")]
async fn should_panic_sees_the_body_panic() {
    coring::io::nop().await.unwrap();
    panic!("a panic in the body");
}

thread_local! {
    /// Which backends the `backend = "all"` body ran on, on this thread
    /// (both runs are on the test's thread), in order.
    static ALL_RUNS: RefCell<Vec<BackendKind>> = const { RefCell::new(Vec::new()) };
}

#[coring::test(backend = "all")]
async fn backend_all_runs_on_each_backend() {
    let kind = coring::backend().kind();
    let before = ALL_RUNS.with(|r| r.borrow().clone());
    // The second run is on the other backend.
    assert!(!before.contains(&kind), "two runs on {kind}: {before:?}");
    let (r, w) = coring_pipe();
    write_to(&w, b"x");
    let (res, _buf) = coring::io::read(&r, Vec::with_capacity(1)).await;
    assert_eq!(res.unwrap(), 1);
    ALL_RUNS.with(|r| r.borrow_mut().push(kind));
}

#[test]
fn backend_all_runs_io_uring_then_epoll() {
    // The expansion is a plain fn: call it, then look at what it ran.
    backend_all_runs_on_each_backend();
    let runs = ALL_RUNS.with(|r| r.borrow().clone());
    let uring = coring::Builder::new()
        .backend(coring::Backend::IoUring)
        .build()
        .is_ok();
    if uring {
        assert_eq!(runs, [BackendKind::IoUring, BackendKind::Epoll]);
    } else {
        // No io_uring here: its run was skipped, with a line on stderr.
        assert_eq!(runs, [BackendKind::Epoll]);
    }
}

#[coring::test(backend = "epoll", entries = 8)]
async fn backend_and_entries_reach_the_builder() {
    assert_eq!(coring::backend().kind(), BackendKind::Epoll);
    let ops: Vec<_> = (0..32).map(|_| coring::io::nop()).collect();
    for op in ops {
        op.await.unwrap();
    }
}

static CORE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[coring::test(cores = 2)]
async fn cores_runs_the_body_on_every_core() {
    let first = CORE_RUNS.fetch_add(1, SeqCst);
    // Each core runs its own copy of the body, on its own runtime.
    coring::time::sleep(Duration::from_millis(5)).await;
    assert!(first < 2, "more than two runs: {first}");
    coring::io::nop().await.unwrap();
}

#[coring::test(cores = 2)]
async fn cores_bodies_may_return_results() -> Result<(), String> {
    coring::io::nop().await.map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn cores_runs_one_body_per_core_thread() {
    static THREADS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    #[coring::main(cores = 2)]
    async fn main() {
        coring::io::nop().await.unwrap();
        let name = std::thread::current().name().unwrap_or("?").to_string();
        THREADS.lock().unwrap().push(name);
    }
    main();
    let mut threads = THREADS.lock().unwrap().clone();
    threads.sort();
    assert_eq!(threads, ["coring-core-0", "coring-core-1"]);
}

#[test]
fn cores_returns_the_first_error() {
    #[coring::main(cores = 2)]
    async fn main() -> Result<(), String> {
        Err(format!("{}", coring::metrics().tasks_spawned))
    }
    assert!(main().is_err());
}

#[test]
fn main_builds_a_runtime_and_returns_the_body_output() {
    #[coring::main(backend = "auto")]
    async fn main() -> std::io::Result<u32> {
        coring::io::nop().await?;
        Ok(7)
    }
    assert_eq!(main().unwrap(), 7);
}

#[coring::test(backend = "all", cores = 2, entries = 16)]
async fn options_combine_all_backends_on_two_cores() -> Result<(), String> {
    // Two cores per backend: each core's own runtime, on the backend of
    // this run.
    let kind = coring::backend().kind();
    let name = std::thread::current().name().unwrap_or("?").to_string();
    if !name.starts_with("coring-core-") {
        return Err(format!("ran on {name}, not a core thread ({kind})"));
    }
    coring::io::nop().await.map_err(|e| e.to_string())
}

#[coring::test(cores = "all")]
async fn cores_all_runs_on_every_cpu() {
    let name = std::thread::current().name().unwrap_or("?").to_string();
    assert!(name.starts_with("coring-core-"), "{name}");
    coring::io::nop().await.unwrap();
}
