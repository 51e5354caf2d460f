//! The FSK caller-ID receiver over arbitrary samples in arbitrary chunks: no panic, events
//! in time order.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_dsp::cid::{CidEvent, CidReceiver, CidRxConfig, FskStandard};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let std = if sel & 1 == 0 { FskStandard::Bell202 } else { FskStandard::V23 };
    let x: Vec<i16> = rest.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let mut rx = CidReceiver::new(CidRxConfig::new(std));
    let mut last = 0;
    for c in x.chunks(usize::from(sel >> 1).max(1)) {
        let mut done = 0;
        while done < c.len() {
            done += rx.process(&c[done..]);
            while let Some(e) = rx.poll_event() {
                let at = match e {
                    CidEvent::Message { at, .. } | CidEvent::Error { at, .. } => at,
                };
                assert!(at >= last);
                last = at;
            }
        }
    }
});
