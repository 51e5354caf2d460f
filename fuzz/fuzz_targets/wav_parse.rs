//! The WAV reader: any bytes give a WAV or an error, never a panic; a parsed file's sample
//! count matches its data.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = tipring_dsp::wav::parse(data) {
        assert!(w.samples.len() <= data.len());
    }
});
