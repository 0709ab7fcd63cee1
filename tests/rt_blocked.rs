//! Where io_uring is blocked, a runtime forced onto it (`Backend::IoUring`)
//! fails with an `io::Error` that names the cause and the fix, not a panic;
//! `Runtime::new()` (`Backend::Auto`) falls back to the epoll backend and
//! serves; and with `CORING_BACKEND=epoll` coring never calls
//! `io_uring_setup`, so even a filter that kills on it leaves the process
//! alive.
//!
//! io_uring is blocked for real: each parent test re-executes this test binary
//! to run only [`seccomp_child`], with [`CHILD_ENV`] set. That child installs a
//! seccomp filter making `io_uring_setup` fail with EPERM (what Docker's
//! default profile does) or ENOSYS (a kernel without io_uring), checks the
//! filter with a direct `io_uring_setup` call, then calls `Runtime::new()` and
//! prints what it got. The parent asserts on that report.

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

mod support;
use std::io::{self, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Environment variable that turns [`seccomp_child`] on: `eperm` or `enosys`.
const CHILD_ENV: &str = "CORING_SECCOMP_CHILD";
/// Exact libtest name of [`seccomp_child`].
const CHILD_TEST: &str = "seccomp_child";
/// How long the child may take before the parent kills it.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

// Markers of the child's report on its stdout.
const PROBE_MARK: &str = "CORING_SECCOMP_PROBE_ERRNO=";
const KIND_MARK: &str = "CORING_SECCOMP_ERROR_KIND=";
const RAW_MARK: &str = "CORING_SECCOMP_RAW_OS_ERROR=";
const MESSAGE_BEGIN: &str = "CORING_SECCOMP_MESSAGE_BEGIN\n";
const MESSAGE_END: &str = "\nCORING_SECCOMP_MESSAGE_END";
const AUTO_MARK: &str = "CORING_SECCOMP_AUTO_BACKEND=";
const FALLBACK_MARK: &str = "CORING_SECCOMP_FALLBACK=";
const SERVED_MARK: &str = "CORING_SECCOMP_SERVED";

#[test]
fn runtime_new_reports_eperm_when_seccomp_blocks_io_uring() {
    let report = run_child(Block::Eperm);
    report.assert_auto_fell_back("PermissionDenied");
    report.assert_kind(io::ErrorKind::PermissionDenied);
    report.assert_message_contains(&[
        "io_uring_setup",
        "EPERM",
        "kernel.io_uring_disabled",
        "seccomp",
    ]);
}

#[test]
fn runtime_new_reports_enosys_when_kernel_lacks_io_uring() {
    let report = run_child(Block::Enosys);
    report.assert_auto_fell_back("Unsupported");
    report.assert_kind(io::ErrorKind::Unsupported);
    report.assert_message_contains(&["io_uring_setup", "ENOSYS", "5.11"]);
}

/// A filter that kills the process on io_uring_setup: with
/// CORING_BACKEND=epoll the child lives and serves.
#[test]
fn epoll_backend_never_calls_io_uring_setup() {
    let report = run_child(Block::Kill);
    assert!(
        report.transcript.contains(SERVED_MARK),
        "the child did not serve on epoll\n{}",
        report.transcript
    );
}

/// The child half: does nothing unless [`CHILD_ENV`] is set.
#[test]
#[ignore = "child half of the rt_blocked tests; they run it in a child process"]
fn seccomp_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let block = Block::from_env(&mode);
    seccomp::block_io_uring_setup(block.errno()).expect("install the seccomp filter");
    if let Block::Kill = block {
        // CORING_BACKEND=epoll (set by the parent): no io_uring_setup.
        let rt = coring::Runtime::new().expect("an epoll runtime");
        assert_eq!(rt.backend().kind(), coring::BackendKind::Epoll);
        serve_smoke(&rt);
        println!("{SERVED_MARK}");
        return;
    }

    // Prove the filter works, independently of coring.
    let probe = seccomp::probe_io_uring_setup();
    println!("{PROBE_MARK}{}", probe.unwrap_or(0));
    assert_eq!(
        probe,
        Some(block.errno()),
        "direct io_uring_setup under the {mode} filter: expected errno {}, got {probe:?} \
         (None = the call succeeded)",
        block.errno(),
    );

    let forced = coring::Builder::new()
        .backend(coring::Backend::IoUring)
        .build();
    match forced {
        Ok(_) => panic!(
            "a Backend::IoUring runtime was built although seccomp makes io_uring_setup \
             fail with {}",
            block.name()
        ),
        Err(err) => {
            println!("{KIND_MARK}{:?}", err.kind());
            println!("{RAW_MARK}{:?}", err.raw_os_error());
            println!("{MESSAGE_BEGIN}{err}{MESSAGE_END}");
        }
    }
    // Backend::Auto (CORING_BACKEND unset by the parent) falls back.
    let rt = coring::Runtime::new().expect("Auto falls back to epoll");
    let info = rt.backend();
    println!("{AUTO_MARK}{}", info.kind());
    println!(
        "{FALLBACK_MARK}{:?}",
        info.fallback_reason().map(|e| e.kind())
    );
    serve_smoke(&rt);
    println!("{SERVED_MARK}");
}

/// Turns [`seccomp_all_child`] on.
const ALL_CHILD_ENV: &str = "CORING_SECCOMP_ALL_CHILD";
/// What [`all_backends_body`] prints, with the backend it ran on.
const ALL_RAN_MARK: &str = "CORING_ALL_RAN=";

/// `#[coring::test(backend = "all")]` where io_uring is blocked (EPERM):
/// the io_uring run is skipped with a line saying why, the epoll run
/// runs, and the test passes.
#[test]
fn backend_all_skips_io_uring_where_it_is_blocked() {
    let exe = std::env::current_exe().expect("path of the current test binary");
    let child = Command::new(&exe)
        .args(["seccomp_all_child", "--exact", "--nocapture", "--ignored"])
        .env(ALL_CHILD_ENV, "1")
        .env_remove("CORING_BACKEND")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    let (status, stdout, stderr) = wait_with_timeout(child, CHILD_TIMEOUT);
    let transcript = format!("--- {status}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}");
    assert!(status.success(), "the child failed\n{transcript}");
    assert!(
        stderr.contains("skipped on io_uring (backend = \"all\"): io_uring unavailable"),
        "no skip line\n{transcript}"
    );
    let ran: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once(ALL_RAN_MARK).map(|(_, k)| k))
        .collect();
    assert_eq!(ran, ["epoll"], "\n{transcript}");
}

/// The child half of [`backend_all_skips_io_uring_where_it_is_blocked`].
#[test]
#[ignore = "child half of backend_all_skips_io_uring_where_it_is_blocked"]
fn seccomp_all_child() {
    if std::env::var(ALL_CHILD_ENV).is_err() {
        return;
    }
    seccomp::block_io_uring_setup(libc::EPERM).expect("install the seccomp filter");
    all_backends_body();
}

/// Called by [`seccomp_all_child`] under the filter; as a test of its
/// own (ignored: it prints marks) it runs on both backends.
#[coring::test(backend = "all")]
#[ignore = "called by seccomp_all_child"]
async fn all_backends_body() {
    coring::time::sleep(Duration::from_millis(1)).await;
    println!("{ALL_RAN_MARK}{}", coring::backend().kind());
}

/// A TCP echo, a pipe read, a file write and read back, a timer: the
/// runtime serves.
fn serve_smoke(rt: &coring::Runtime) {
    rt.block_on(async {
        let l = coring::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = coring::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            let (res, buf) = s.read(Vec::with_capacity(64)).await;
            let n = res.expect("server read");
            let (res, _) = s.write_all(buf).await;
            res.expect("server write");
            n
        });
        let c = coring::net::TcpStream::connect(addr)
            .await
            .expect("connect");
        let (res, _) = c.write_all(b"through epoll".to_vec()).await;
        res.expect("client write");
        let (res, buf) = c.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.expect("client read")], b"through epoll");
        assert_eq!(server.await.expect("server task"), 13);
        let path = std::env::temp_dir().join(format!("coring-blocked-{}", std::process::id()));
        let f = support::create_rw(&path).await;
        let (res, _) = f.write_all_at(b"file bytes".to_vec(), 0).await;
        res.expect("file write");
        let (res, buf) = f.read_at(Vec::with_capacity(32), 0).await;
        assert_eq!(&buf[..res.expect("file read")], b"file bytes");
        std::fs::remove_file(&path).expect("remove");
        coring::time::sleep(Duration::from_millis(5)).await;
    });
}

/// How the child's filter makes `io_uring_setup` fail.
#[derive(Clone, Copy, Debug)]
enum Block {
    /// EPERM, as under Docker's default seccomp profile.
    Eperm,
    /// ENOSYS, as on a kernel built without io_uring (or older than 5.1).
    Enosys,
    /// The process is killed, as some sandboxes do.
    Kill,
}

impl Block {
    fn env_value(self) -> &'static str {
        match self {
            Block::Eperm => "eperm",
            Block::Enosys => "enosys",
            Block::Kill => "kill",
        }
    }

    fn from_env(value: &str) -> Block {
        match value {
            "eperm" => Block::Eperm,
            "enosys" => Block::Enosys,
            "kill" => Block::Kill,
            other => panic!("{CHILD_ENV}={other:?}: expected \"eperm\" or \"enosys\""),
        }
    }

    fn errno(self) -> i32 {
        match self {
            Block::Eperm => libc::EPERM,
            Block::Enosys => libc::ENOSYS,
            // Not an errno: block_io_uring_setup kills for 0.
            Block::Kill => 0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Block::Eperm => "EPERM",
            Block::Enosys => "ENOSYS",
            Block::Kill => "KILL",
        }
    }
}

/// What the child reported, plus everything it printed, for failure messages.
struct ChildReport {
    kind: String,
    message: String,
    transcript: String,
}

impl ChildReport {
    fn assert_kind(&self, expected: io::ErrorKind) {
        assert_eq!(
            self.kind,
            format!("{expected:?}"),
            "wrong io::ErrorKind from Runtime::new()\n{}",
            self.transcript
        );
    }

    /// Backend::Auto ran on epoll, gave the fallback's reason, and served.
    fn assert_auto_fell_back(&self, reason_kind: &str) {
        let t = &self.transcript;
        assert!(
            t.contains(&format!("{AUTO_MARK}epoll")),
            "Auto did not pick epoll\n{t}"
        );
        assert!(
            t.contains(&format!("{FALLBACK_MARK}Some({reason_kind})")),
            "Auto's fallback reason is not {reason_kind}\n{t}"
        );
        assert!(
            t.contains(SERVED_MARK),
            "the epoll runtime did not serve\n{t}"
        );
    }

    fn assert_message_contains(&self, needles: &[&str]) {
        for needle in needles {
            assert!(
                self.message.contains(needle),
                "Runtime::new() error message lacks {needle:?}\n{}",
                self.transcript
            );
        }
    }
}

/// Runs [`seccomp_child`] under `block` and parses its report; panics with
/// the child's full output if it failed or printed no report.
fn run_child(block: Block) -> ChildReport {
    let exe = std::env::current_exe().expect("path of the current test binary");
    let child = Command::new(&exe)
        .args([CHILD_TEST, "--exact", "--nocapture", "--ignored"])
        .env(CHILD_ENV, block.env_value())
        // Auto must decide by itself in the EPERM/ENOSYS children; the KILL
        // child must never try io_uring.
        .env(
            "CORING_BACKEND",
            if let Block::Kill = block {
                "epoll"
            } else {
                "auto"
            },
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    let (status, stdout, stderr) = wait_with_timeout(child, CHILD_TIMEOUT);
    let transcript = format!(
        "--- child: {} {CHILD_TEST} --exact --nocapture --ignored ({CHILD_ENV}={})\n\
         --- {status}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- end",
        exe.display(),
        block.env_value(),
    );

    assert!(
        status.success(),
        "child process failed (did Runtime::new() panic or succeed?)\n{transcript}"
    );
    if let Block::Kill = block {
        return ChildReport {
            kind: String::new(),
            message: String::new(),
            transcript,
        };
    }
    let probe = marked_value(&stdout, PROBE_MARK);
    let kind = marked_value(&stdout, KIND_MARK);
    let message = stdout
        .split_once(MESSAGE_BEGIN)
        .and_then(|(_, rest)| rest.split_once(MESSAGE_END))
        .map(|(message, _)| message.to_owned());
    let (Some(probe), Some(kind), Some(message)) = (probe, kind, message) else {
        panic!("child printed no recognisable report\n{transcript}");
    };
    assert_eq!(
        probe,
        block.errno().to_string(),
        "the seccomp filter did not make io_uring_setup fail with {}\n{transcript}",
        block.name()
    );
    ChildReport {
        kind,
        message,
        transcript,
    }
}

/// The rest of the line after the first occurrence of `mark` in `stdout`.
/// (libtest may print "test name ... " just before it, on the same line.)
fn marked_value(stdout: &str, mark: &str) -> Option<String> {
    let (_, rest) = stdout.split_once(mark)?;
    Some(rest.lines().next().unwrap_or_default().trim().to_owned())
}

/// Waits for `child`, collecting its stdout and stderr; kills it and panics
/// with what it printed so far if it runs longer than `timeout`.
fn wait_with_timeout(mut child: Child, timeout: Duration) -> (ExitStatus, String, String) {
    let stdout = read_in_background(child.stdout.take().expect("child stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("child stderr is piped"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child process") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().expect("kill the timed-out child process");
            child.wait().expect("reap the killed child process");
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout reader thread");
    let stderr = stderr.join().expect("stderr reader thread");
    match status {
        Some(status) => (status, stdout, stderr),
        None => panic!(
            "child process still running after {timeout:?}; killed it\n\
             --- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- end"
        ),
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Err(err) = pipe.read_to_end(&mut bytes) {
            bytes.extend_from_slice(format!("\n[reading the pipe failed: {err}]").as_bytes());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A minimal seccomp-BPF filter that makes `io_uring_setup` fail.
mod seccomp {
    use std::io;
    use std::mem::offset_of;

    /// `__AUDIT_ARCH_64BIT` from `linux/audit.h`.
    const AUDIT_ARCH_64BIT: u32 = 0x8000_0000;
    /// `__AUDIT_ARCH_LE` from `linux/audit.h`.
    const AUDIT_ARCH_LE: u32 = 0x4000_0000;

    /// `AUDIT_ARCH_X86_64`: `seccomp_data.arch` of a native x86-64 syscall.
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH_NATIVE: u32 = libc::EM_X86_64 as u32 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE;
    /// `AUDIT_ARCH_AARCH64`: `seccomp_data.arch` of a native AArch64 syscall.
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH_NATIVE: u32 = libc::EM_AARCH64 as u32 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE;

    /// Opcodes of the classic BPF instructions the filter uses.
    const LD_W_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    const JEQ_K: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    const RET_K: u32 = libc::BPF_RET | libc::BPF_K;

    /// `BPF_STMT` from `linux/filter.h`.
    const fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// `BPF_JUMP` from `linux/filter.h`.
    const fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        }
    }

    /// Installs, for every thread of this process (TSYNC), a seccomp filter
    /// under which `io_uring_setup` fails with `errno` and every other native
    /// syscall is allowed. A syscall through a foreign ABI (e.g. `int 0x80`)
    /// kills the process.
    pub fn block_io_uring_setup(errno: i32) -> io::Result<()> {
        let errno = u32::try_from(errno).map_err(io::Error::other)?;
        let nr = u32::try_from(libc::SYS_io_uring_setup).map_err(io::Error::other)?;
        let arch_offset = offset_of!(libc::seccomp_data, arch) as u32;
        let nr_offset = offset_of!(libc::seccomp_data, nr) as u32;
        // errno 0 means: kill the process.
        let fail = if errno == 0 {
            libc::SECCOMP_RET_KILL_PROCESS
        } else {
            libc::SECCOMP_RET_ERRNO | (errno & libc::SECCOMP_RET_DATA)
        };
        let mut program = [
            // Foreign ABI (seccomp_data.arch): kill.
            stmt(LD_W_ABS, arch_offset),
            jump(JEQ_K, AUDIT_ARCH_NATIVE, 1, 0),
            stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
            // io_uring_setup (seccomp_data.nr): fail with `errno`.
            stmt(LD_W_ABS, nr_offset),
            jump(JEQ_K, nr, 0, 1),
            stmt(RET_K, fail),
            // Anything else: allow.
            stmt(RET_K, libc::SECCOMP_RET_ALLOW),
        ];
        let prog = libc::sock_fprog {
            len: u16::try_from(program.len()).map_err(io::Error::other)?,
            filter: program.as_mut_ptr(),
        };

        // SAFETY: PR_SET_NO_NEW_PRIVS takes only integer arguments and
        // touches no memory of ours.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `prog` points at `program`, a valid filter of `prog.len`
        // instructions; both outlive the call, and the kernel copies the
        // filter before returning.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_TSYNC,
                &prog as *const libc::sock_fprog,
            )
        };
        match ret {
            0 => Ok(()),
            -1 => Err(io::Error::last_os_error()),
            tid => Err(io::Error::other(format!(
                "seccomp TSYNC: thread {tid} could not take the filter"
            ))),
        }
    }

    /// Calls `io_uring_setup(4, &params)` directly. Returns the errno it
    /// failed with, or `None` (after closing the ring) if it succeeded.
    pub fn probe_io_uring_setup() -> Option<i32> {
        // Zeroed storage of the size and alignment of `struct io_uring_params`.
        let mut params = [0u64; 15];
        // SAFETY: `params` is 120 writable bytes, as large as
        // `struct io_uring_params`: the only memory io_uring_setup touches.
        let ret = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
        if ret < 0 {
            return io::Error::last_os_error().raw_os_error();
        }
        if let Ok(fd) = libc::c_int::try_from(ret) {
            // SAFETY: `fd` is the ring io_uring_setup just returned; nothing
            // else owns it.
            unsafe { libc::close(fd) };
        }
        None
    }
}
