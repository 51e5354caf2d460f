//! The resampler with arbitrary rates, samples and buffer sizes: no panic, and never more
//! output than `max_output_len` promised.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_dsp::resample::Resampler;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let rates = [8000, 16_000, 48_000, 44_100];
    let from = rates[usize::from(data[0] % 4)];
    let to = rates[usize::from(data[1] % 4)];
    let Ok(mut r) = Resampler::new(from, to) else { return };
    let chunk = usize::from(data[2]).max(1);
    let x: Vec<i16> = data[3..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let mut out = vec![0i16; chunk * 7];
    for c in x.chunks(chunk) {
        let mut done = 0;
        while done < c.len() {
            let max = r.max_output_len(c.len() - done);
            let (used, made) = r.process(&c[done..], &mut out);
            assert!(made <= max.max(out.len()));
            if used == 0 && made == 0 {
                break;
            }
            done += used;
        }
    }
});
