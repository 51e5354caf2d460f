//! The DTMF receiver over arbitrary samples in arbitrary chunks: no panic, events in time
//! order, Begin/End alternating per digit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_dsp::dtmf::{DtmfEvent, DtmfRx, DtmfRxConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let x: Vec<i16> = rest.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    let mut last_at = 0;
    let mut open: Option<char> = None;
    for c in x.chunks(usize::from(chunk).max(1)) {
        let mut done = 0;
        while done < c.len() {
            done += rx.process(&c[done..]);
            while let Some(e) = rx.poll_event() {
                let (at, begin, digit) = match e {
                    DtmfEvent::Begin { digit, at } => (at, true, digit),
                    DtmfEvent::End { digit, at, duration } => {
                        assert!(duration <= at);
                        (at, false, digit)
                    }
                };
                assert!(at >= last_at && at <= rx.position());
                last_at = at;
                if begin {
                    assert!(open.is_none());
                    open = Some(digit);
                } else {
                    assert_eq!(open.take(), Some(digit));
                }
            }
        }
    }
});
