//! What a stall report holds, how its addresses become names (on the
//! reporter thread), and the default handler.

use super::Ended;
use std::fmt;
use std::panic::Location;
use std::path::PathBuf;
use std::time::Duration;

/// One poll that ran longer than the stall threshold, as the runtime's
/// handler receives it.
///
/// Its `Display` is the default handler's one line;
/// [`trace`](Stall::trace) is where the core thread was while it was
/// stuck.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stall {
    /// The task's name, from [`task::Builder::name`](crate::task::Builder::name).
    pub task: Option<String>,
    /// Where the task was spawned, or for the `block_on` future, where
    /// `block_on` was called.
    pub location: &'static Location<'static>,
    /// Whether the poll was of the runtime's `block_on` future rather
    /// than of a spawned task.
    pub block_on: bool,
    /// The core's index under [`cores`](crate::cores()), `None` for a
    /// runtime built on its own.
    pub core: Option<usize>,
    /// The name of the core's thread.
    pub thread: Option<String>,
    /// How long the poll ran (when [`ongoing`](Stall::ongoing), how long
    /// it had run when it was reported).
    pub duration: Duration,
    /// Whether the poll had not returned when it was reported: it ran
    /// longer than [`STUCK_AFTER`](super::STUCK_AFTER) (or ten
    /// thresholds). It is not reported again when it returns.
    pub ongoing: bool,
    /// The threshold it went over.
    pub threshold: Duration,
    /// Where the core's thread was when the watchdog interrupted it.
    pub trace: StallTrace,
}

/// The stack of a stalled core thread, innermost frame first, from the
/// interrupted instruction up to the poll of the task; symbolized with
/// the binary's debug info.
#[derive(Debug, Clone, Default)]
pub struct StallTrace {
    frames: Vec<StallFrame>,
    missing: Option<&'static str>,
}

/// One frame of a [`StallTrace`]. An address inside inlined code gives
/// one frame per inlined function, innermost first, with the same `ip`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StallFrame {
    /// The instruction address.
    pub ip: usize,
    /// The demangled function name, if the binary has symbols for it.
    pub function: Option<String>,
    /// The source file, if the binary has line tables.
    pub file: Option<PathBuf>,
    /// The source line.
    pub line: Option<u32>,
}

impl StallTrace {
    /// The frames, innermost first (empty when none was captured).
    pub fn frames(&self) -> &[StallFrame] {
        &self.frames
    }

    /// Why there is no trace, when there is none: the poll returned
    /// before the signal reached its thread, or the thread blocks the
    /// stall signal.
    pub fn missing(&self) -> Option<&str> {
        self.missing
    }

    /// Whether frames were captured but none could be named (a binary
    /// stripped of its symbols).
    pub fn is_unsymbolized(&self) -> bool {
        !self.frames.is_empty() && self.frames.iter().all(|f| f.function.is_none())
    }

    fn capture(pc: usize, ips: &[usize]) -> StallTrace {
        // The handler's own frames come first: start at the interrupted
        // instruction when the unwinder went through it.
        let first = ips.iter().position(|&ip| ip == pc && pc != 0);
        let ips = &ips[first.unwrap_or(0)..];
        let mut frames = Vec::with_capacity(ips.len());
        for (i, &ip) in ips.iter().enumerate() {
            // A return address points after its call: look the call up.
            let lookup = if i == 0 && first.is_some() {
                ip
            } else {
                ip.saturating_sub(1)
            };
            let start = frames.len();
            let mut at_poll = false;
            backtrace::resolve(lookup as *mut std::ffi::c_void, |sym| {
                let function = sym.name().map(|n| format!("{n:#}"));
                // The runtime's own frames from the poll down say nothing.
                at_poll = at_poll || function.as_deref().is_some_and(is_poll);
                if !at_poll {
                    frames.push(StallFrame {
                        ip,
                        function,
                        file: sym.filename().map(PathBuf::from),
                        line: sym.lineno(),
                    });
                }
            });
            if at_poll {
                break;
            }
            if frames.len() == start {
                frames.push(StallFrame {
                    ip,
                    function: None,
                    file: None,
                    line: None,
                });
            }
        }
        StallTrace {
            frames,
            missing: None,
        }
    }
}

/// Whether `function` is where the runtime polls a task or a `block_on`
/// future: the last frame a trace shows is the one it called.
fn is_poll(function: &str) -> bool {
    const POLLS: [&str; 3] = [
        "<coring_runtime::executor::task::Task<",
        "coring_runtime::stall::CoreStall::poll_",
        "coring_runtime::runtime::Runtime::block_on",
    ];
    POLLS.iter().any(|p| function.starts_with(p))
}

impl Stall {
    pub(super) fn from_ended(e: Ended) -> Stall {
        let trace = match &e.sample {
            Some((pc, ips)) => StallTrace::capture(*pc, ips),
            None => StallTrace {
                frames: Vec::new(),
                missing: Some(
                    "the poll returned before the stall signal reached its thread \
                     (or the thread blocks that signal)",
                ),
            },
        };
        let info = &e.slot.info;
        Stall {
            task: e.who.name,
            location: e.who.location,
            block_on: e.who.block_on,
            core: info.core,
            thread: info.thread.clone(),
            duration: e.duration,
            ongoing: e.ongoing,
            threshold: info.threshold,
            trace,
        }
    }
}

impl fmt::Display for Stall {
    /// One line: what stalled, where it was spawned, for how long, on
    /// which core.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "coring: stall: ")?;
        match (&self.task, self.block_on) {
            (_, true) => write!(f, "the block_on future (block_on at {})", self.location)?,
            (Some(name), false) => write!(f, "task {name:?} (spawned at {})", self.location)?,
            (None, false) => write!(f, "a task spawned at {}", self.location)?,
        }
        if self.ongoing {
            write!(
                f,
                " has run {:.1?} in one poll and not returned (threshold {:?})",
                self.duration, self.threshold
            )?;
        } else {
            write!(
                f,
                " ran {:.1?} in one poll (threshold {:?})",
                self.duration, self.threshold
            )?;
        }
        if let Some(core) = self.core {
            write!(f, " on core {core}")?;
        }
        if let Some(thread) = &self.thread {
            write!(f, " (thread {thread})")?;
        }
        Ok(())
    }
}

impl fmt::Display for StallTrace {
    /// One frame a line, then its file and line, as `std::backtrace`
    /// prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = self.missing {
            return writeln!(f, "  no backtrace: {why}");
        }
        if self.is_unsymbolized() {
            writeln!(
                f,
                "  (no symbols: the binary was stripped; these are raw addresses)"
            )?;
        }
        for (i, frame) in self.frames.iter().enumerate() {
            match &frame.function {
                Some(name) => writeln!(f, "  {i:>3}: {name}")?,
                None => writeln!(f, "  {i:>3}: {:#x}", frame.ip)?,
            }
            if let (Some(file), Some(line)) = (&frame.file, frame.line) {
                writeln!(f, "             at {}:{line}", file.display())?;
            }
        }
        Ok(())
    }
}

/// The default handler: the one line and the trace, on stderr.
pub(super) fn print(stall: &Stall) {
    eprint!("{stall}; stuck in:\n{}", stall.trace);
}
