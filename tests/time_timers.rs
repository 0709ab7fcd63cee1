//! Timers: deadline order, never early, `timeout` firing and not, interval
//! spacing, dropped timers forgotten, and an idle sleep that costs no CPU
//! (the runtime waits in the kernel, bounded by the next deadline).

mod support;

use coring::time::{interval, interval_at, sleep, sleep_until, timeout};
use coring::Runtime;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::{coring_pipe, write_to, XorShift};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn timers_fire_in_deadline_order() {
    let rt = Runtime::new().unwrap();
    let mut rng = XorShift::from_env("timers_fire_in_deadline_order");
    // 60 deadlines 1 ms apart, registered in a shuffled order.
    let mut offsets: Vec<u64> = (1..=60).collect();
    rng.shuffle(&mut offsets);
    let fired = rt.block_on(async move {
        let fired = Rc::new(RefCell::new(Vec::new()));
        let base = Instant::now() + ms(5);
        let tasks: Vec<_> = offsets
            .iter()
            .map(|&off| {
                let fired = fired.clone();
                coring::spawn(async move {
                    sleep_until(base + ms(off)).await;
                    fired.borrow_mut().push(off);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        fired.take()
    });
    let sorted: Vec<u64> = (1..=60).collect();
    assert_eq!(fired, sorted);
}

#[test]
fn same_deadline_fires_in_registration_order() {
    let rt = Runtime::new().unwrap();
    let fired = rt.block_on(async {
        let fired = Rc::new(RefCell::new(Vec::new()));
        let at = Instant::now() + ms(10);
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let fired = fired.clone();
                coring::spawn(async move {
                    sleep_until(at).await;
                    fired.borrow_mut().push(i);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        fired.take()
    });
    assert_eq!(fired, (0..20).collect::<Vec<_>>());
}

#[test]
fn sleeps_never_end_early() {
    let rt = Runtime::new().unwrap();
    let mut rng = XorShift::from_env("sleeps_never_end_early");
    let durations: Vec<Duration> = (0..200)
        .map(|_| Duration::from_micros(rng.below(30_000)))
        .chain([Duration::ZERO, Duration::from_nanos(1), ms(1), ms(20)])
        .collect();
    rt.block_on(async move {
        let tasks: Vec<_> = durations
            .into_iter()
            .map(|d| {
                coring::spawn(async move {
                    let t = Instant::now();
                    sleep(d).await;
                    (d, t.elapsed())
                })
            })
            .collect();
        for t in tasks {
            let (asked, took) = t.await.unwrap();
            assert!(took >= asked, "asked {asked:?}, woke after {took:?}");
        }
        // Sequential sleeps too (each one registered on a fresh turn).
        for d in [ms(1), ms(3), Duration::from_micros(500), ms(7)] {
            let t = Instant::now();
            sleep(d).await;
            assert!(t.elapsed() >= d);
        }
        // A deadline in the past is already due.
        let t = Instant::now();
        sleep_until(Instant::now() - ms(5)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn many_timers_all_fire() {
    let rt = Runtime::new().unwrap();
    let t = Instant::now();
    let n = rt.block_on(async {
        let tasks: Vec<_> = (0..10_000u64)
            .map(|i| {
                coring::spawn(async move {
                    sleep(Duration::from_micros(i % 2_000)).await;
                    1u64
                })
            })
            .collect();
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    });
    assert_eq!(n, 10_000);
    println!("10k timers in {:?}", t.elapsed());
}

#[test]
fn timeout_fires_when_the_future_is_late() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let t = Instant::now();
        let res = timeout(ms(20), sleep(Duration::from_secs(10))).await;
        let took = t.elapsed();
        assert!(res.is_err());
        assert_eq!(res.unwrap_err().to_string(), "deadline has elapsed");
        assert!(took >= ms(20), "fired early: {took:?}");
        assert!(took < Duration::from_secs(5), "fired late: {took:?}");

        // Around an op: the op is dropped (and cancelled) when it fires.
        let (r, _w) = coring_pipe();
        let res = timeout(ms(10), coring::io::read(&r, Vec::with_capacity(8))).await;
        assert!(res.is_err());
        support::turn_until("the timed-out read's final CQE", || {
            support::ops_in_flight() == 0
        })
        .await;

        // Zero: a pending future times out at once.
        let res = timeout(Duration::ZERO, std::future::pending::<()>()).await;
        assert!(res.is_err());
        let err: std::io::Error = res.unwrap_err().into();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn timeout_does_not_fire_when_the_future_is_on_time() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        assert_eq!(timeout(ms(50), async { 7 }).await.unwrap(), 7);
        // A ready future wins even against a zero timeout.
        assert_eq!(timeout(Duration::ZERO, async { 8 }).await.unwrap(), 8);
        let t = Instant::now();
        timeout(ms(500), sleep(ms(5))).await.unwrap();
        assert!(t.elapsed() >= ms(5));

        // An op that completes in time gives its output.
        let (r, w) = coring_pipe();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(ms(10));
            write_to(&w, b"on time");
        });
        let (res, buf) = timeout(
            Duration::from_secs(10),
            coring::io::read(&r, Vec::with_capacity(16)),
        )
        .await
        .unwrap();
        assert_eq!(res.unwrap(), 7);
        assert_eq!(buf, b"on time");
        writer.join().unwrap();

        // The inner timer of a finished timeout is forgotten: the runtime
        // does not wake for it later (an idle 30 ms sleep parks about once).
        for _ in 0..50 {
            timeout(ms(1), async {}).await.unwrap();
        }
        let before = coring::metrics().parks;
        sleep(ms(30)).await;
        let parks = coring::metrics().parks - before;
        assert!(parks <= 3, "{parks} parks: dropped timers woke the ring");
    });
}

#[test]
fn interval_ticks_are_spaced_by_at_least_the_period() {
    let rt = Runtime::new().unwrap();
    let period = ms(10);
    rt.block_on(async move {
        let start = Instant::now();
        let mut every = interval(period);
        assert_eq!(every.period(), period);
        let mut scheduled = Vec::new();
        let mut woke = Vec::new();
        for _ in 0..8 {
            scheduled.push(every.tick().await);
            woke.push(Instant::now());
        }
        assert!(
            woke[0] - start < Duration::from_secs(1),
            "the first tick is at once"
        );
        for i in 0..scheduled.len() {
            assert!(woke[i] >= scheduled[i], "tick {i} early");
            if i > 0 {
                let gap = scheduled[i] - scheduled[i - 1];
                assert!(gap >= period, "ticks {} and {i} only {gap:?} apart", i - 1);
            }
        }
        // From the first tick's deadline, not its wake-up: a slow first
        // wake-up (software emulation) would shorten the span from there.
        assert!(woke[7] - scheduled[0] >= period * 7);

        // A tick that is late by more than a period is not followed by a
        // burst: the next one is a period after it.
        let mut every = interval_at(Instant::now(), period);
        every.tick().await;
        std::thread::sleep(period * 3);
        let late = every.tick().await;
        let next = every.tick().await;
        assert!(next - late >= period);
        assert!(Instant::now() - late >= period);
    });
}

/// A 1 s idle sleep is one wait in the kernel: well under 1 ms of CPU for
/// the runtime's thread, and only a couple of parks.
#[test]
fn idle_sleep_costs_no_cpu() {
    let rt = Runtime::new().unwrap();
    // Warm up outside the measurement (first turns, allocations).
    rt.block_on(async { sleep(ms(1)).await });
    let m0 = rt.metrics();
    let cpu0 = support::thread_cpu_time();
    let t = Instant::now();
    rt.block_on(async { sleep(Duration::from_secs(1)).await });
    let cpu = support::thread_cpu_time() - cpu0;
    let wall = t.elapsed();
    let m1 = rt.metrics();
    let (parks, enters) = (m1.parks - m0.parks, m1.enters - m0.enters);
    println!("1 s idle sleep: {cpu:?} CPU, {wall:?} wall, {parks} parks, {enters} enters");
    assert!(wall >= Duration::from_secs(1));
    // Under software emulation a wake-up and its enter cost ~100× more
    // CPU; a busy wait would still cost the whole second.
    let bound = match support::emulated() {
        Some(why) => {
            println!("emulated: CPU bound 25 ms instead of 1 ms: {why}");
            ms(25)
        }
        None => ms(1),
    };
    assert!(cpu < bound, "an idle sleep burned {cpu:?} of CPU");
    assert!(
        parks <= 3,
        "{parks} parks: the runtime woke up without cause"
    );
    assert!(enters <= 5, "{enters} enters for one idle sleep");
}

#[test]
fn send_sleep_is_send_sync_fires_on_time_and_can_be_reset_or_dropped_elsewhere() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    use coring::time::SendSleep;
    coring::start(async {
        // Made outside the runtime's timers, polled here.
        let t = Instant::now();
        let s = SendSleep::after(Duration::from_millis(30));
        send_sync(&s);
        s.await;
        assert!(t.elapsed() >= Duration::from_millis(30));

        // Reset later, then earlier: completes at the last deadline.
        let t = Instant::now();
        let mut s = SendSleep::after(Duration::from_millis(10));
        assert!(poll_once(&mut s).await.is_pending());
        s.reset(t + Duration::from_millis(60));
        assert!(poll_once(&mut s).await.is_pending());
        s.reset(t + Duration::from_millis(40));
        (&mut s).await;
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(40), "{took:?}");
        assert!(
            took < Duration::from_millis(60) || took > Duration::from_millis(500),
            "{took:?}"
        );

        // Registered here, dropped on another thread: nothing breaks, and
        // a later timer still fires.
        let mut s = SendSleep::after(Duration::from_millis(20));
        assert!(poll_once(&mut s).await.is_pending());
        std::thread::spawn(move || drop(s))
            .join()
            .expect("drop elsewhere");
        coring::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(coring::metrics().ops_in_flight, 0);
    })
    .expect("io_uring");
}

/// Polls `f` once (with the task's waker).
async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx))).await
}

/// What the README's Getting started says: tokio's timers need tokio's
/// reactor, and inside coring there is none.
#[test]
fn tokio_timers_panic_inside_coring() {
    coring::start(async {
        let caught = std::panic::catch_unwind(|| {
            drop(tokio::time::sleep(Duration::from_millis(1)));
        });
        let payload = caught.expect_err("tokio::time::sleep without tokio's reactor");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(msg.contains("no reactor running"), "{msg}");
        // coring's own: fine.
        coring::time::sleep(Duration::from_millis(1)).await;
    })
    .unwrap();
}
