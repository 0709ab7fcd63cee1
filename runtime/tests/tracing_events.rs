//! Feature `tracing`: the runtime's events reach a subscriber. A tiny
//! hand-written `tracing::Subscriber` collects each event's target and
//! message (tracing-subscriber would be a heavy dependency for this).
#![cfg(feature = "tracing")]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!(
            "{} {}:",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn runtime_events_reach_a_subscriber() {
    let collect = Collect::default();
    tracing::subscriber::with_default(collect.clone(), || {
        let rt = coring_runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let h = coring_runtime::spawn(async { panic!("boom in a task") });
            assert!(h.await.unwrap_err().is_panic());
        });
        drop(rt);
    });
    let lines = collect.0.lock().unwrap().clone();
    let has = |what: &str| {
        lines
            .iter()
            .any(|l| l.contains("coring:") && l.contains(what))
    };
    for what in [
        "backend chosen",
        "runtime started",
        "task panicked",
        "boom in a task",
        "runtime stopped",
    ] {
        assert!(has(what), "no event with {what:?} in {lines:#?}");
    }
}

#[test]
fn cq_overflow_is_an_event() {
    // A CQ of 4 and 64 timeouts that expire together: the kernel
    // overflows the CQ (on epoll, the emulated CQ has no kernel overflow:
    // nothing to see).
    let collect = Collect::default();
    let epoll = tracing::subscriber::with_default(collect.clone(), || {
        let rt = coring_runtime::Builder::new()
            .entries(2)
            .cq_entries(4)
            .build()
            .expect("runtime");
        if rt.backend().kind() == coring_runtime::BackendKind::Epoll {
            return true;
        }
        rt.block_on(async {
            let ops: Vec<_> = (0..64)
                .map(|_| {
                    coring_runtime::spawn(coring_runtime::io::timeout(
                        std::time::Duration::from_millis(20),
                    ))
                })
                .collect();
            for op in ops {
                let _ = op.await.unwrap();
            }
        });
        let overflows = rt.metrics().cq_overflows;
        assert!(overflows > 0, "the test needs an overflow: {overflows}");
        false
    });
    if epoll {
        eprintln!("skipped on the epoll backend: CQ overflow exists on io_uring only");
        return;
    }
    let lines = collect.0.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("completion queue overflowed")),
        "no overflow event in {lines:#?}"
    );
}
