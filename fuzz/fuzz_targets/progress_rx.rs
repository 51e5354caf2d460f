//! The call-progress detector (each plan) over arbitrary samples in arbitrary chunks: no
//! panic, events in time order and never ahead of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_dsp::progress::plan::PLANS;
use tipring_dsp::progress::{ProgressConfig, ProgressDetector};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let plan = PLANS[usize::from(sel) % PLANS.len()];
    let x: Vec<i16> = rest.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let mut d = ProgressDetector::new(ProgressConfig::new(plan));
    let mut last = 0;
    for c in x.chunks(usize::from(sel >> 2).max(1)) {
        let mut done = 0;
        while done < c.len() {
            done += d.process(&c[done..]);
            while let Some(e) = d.poll_event() {
                assert!(e.at >= last && e.at <= d.position());
                last = e.at;
            }
        }
    }
});
