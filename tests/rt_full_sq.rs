//! A push that finds the SQ full reaps completions outside the turn; the
//! wakes it collects must run before the turn parks.

mod support;

use std::time::Duration;
use support::{coring_pipe, with_watchdog};

/// Eight tasks start reads on empty pipes through an SQ of four entries,
/// while `block_on` waits for a NOP. The NOP's CQE is reaped while a task
/// pushes into the full SQ; the turn must not then park forever on the
/// reads, which never complete.
#[test]
fn a_wake_reaped_by_a_full_sq_is_not_lost() {
    with_watchdog("full SQ wake", Duration::from_secs(10), || {
        for shape in 0..2 {
            let b = coring::Builder::new().entries(4);
            let b = if shape == 1 {
                b.defer_taskrun(false).single_issuer(false)
            } else {
                b
            };
            let rt = b.build().unwrap();
            let pipes: Vec<_> = (0..8).map(|_| coring_pipe()).collect();
            rt.block_on(async {
                for (rd, _) in &pipes {
                    let rd = rd.clone();
                    drop(coring::spawn(async move {
                        let _ = coring::io::read(&rd, Vec::with_capacity(8)).await;
                    }));
                }
                for _ in 0..4 {
                    coring::io::nop().await.unwrap();
                }
                assert!(coring::metrics().ops_in_flight >= 8);
            });
        }
    });
}
