//! Real-time tests on a shared virtual machine.
//!
//! Some tests run media in real time: the DAHDI model's clock is the card's, SIPp sends
//! RTP at its pace. When the hypervisor takes the CPU away from this machine (steal time,
//! seen at 40–50 % on the development VM while such tests failed), the media thread
//! misses its deadlines through no fault of Tipring's: play-out underruns, a digit lost,
//! a tone with gaps. Those tests run through [`retry_if_stolen`]: a failure while at
//! least [`STOLEN`] of the machine's CPU time was stolen is reported and tried once more;
//! a failure without it, or a second failure, fails the test. How late the media plane
//! runs is measured elsewhere (tick lateness, `tipring bench`), not judged here.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// The share of CPU time stolen during an attempt above which its failure is retried.
/// Averaged over an attempt, a stall that cost a test its tone or its caller ID can be a
/// small share: on an idle, uncontended machine steal stays near 0.
pub const STOLEN: f64 = 0.05;

/// (stolen, total) CPU ticks of the whole machine so far, from `/proc/stat`.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
    let total: u64 = v.iter().take(8).sum();
    Some((*v.get(7)?, total))
}

/// Runs `attempt`; if it panics while at least [`STOLEN`] of the machine's CPU time was
/// stolen by the hypervisor, says so and runs it once more (whose outcome stands).
pub fn retry_if_stolen<T>(attempt: impl Fn() -> T) -> T {
    let before = cpu_ticks();
    match catch_unwind(AssertUnwindSafe(&attempt)) {
        Ok(v) => v,
        Err(e) => {
            let stolen = match (before, cpu_ticks()) {
                (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => (s1 - s0) as f64 / (t1 - t0) as f64,
                _ => 0.0,
            };
            if stolen < STOLEN {
                resume_unwind(e);
            }
            eprintln!(
                "RETRY: the attempt above failed while the hypervisor stole {:.0} % of the \
                 CPU; trying once more",
                stolen * 100.0
            );
            attempt()
        }
    }
}
