//! Caller-ID message decoding and DTMF CLIP parsing on arbitrary bytes: a message or an
//! error, never a panic; a decoded message re-encodes to a frame that decodes the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_dsp::cid::{decode, dtmf_clip, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode(data) {
        if let Ok(frame) = encode(&d.message, d.format) {
            let again = decode(&frame).expect("re-encoded frame decodes");
            assert_eq!(again.message, d.message);
        }
    }
    if let Ok(s) = core::str::from_utf8(data) {
        let _ = dtmf_clip::parse(s);
    }
});
