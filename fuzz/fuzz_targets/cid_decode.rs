//! Caller-ID message decoding and DTMF CLIP parsing on arbitrary bytes: a message or an
//! error, never a panic; a decoded message re-encodes to a frame that decodes the same
//! (except the list of unknown parameters skipped, which the encoder has nothing to write).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_dsp::cid::{Message, decode, dtmf_clip, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode(data) {
        if let Ok(frame) = encode(&d.message, d.format) {
            let again = decode(&frame).expect("re-encoded frame decodes");
            let mut want = d.message.clone();
            if let Message::CallerId(id) = &mut want {
                id.skipped.clear();
            }
            assert_eq!(again.message, want);
        }
    }
    if let Ok(s) = core::str::from_utf8(data) {
        let _ = dtmf_clip::parse(s);
    }
});
