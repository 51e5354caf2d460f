//! The Opus decoder on arbitrary packets: a frame or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_dsp::opus::OpusDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, packet)) = data.split_first() else { return };
    let rate = [8000, 16_000, 48_000][usize::from(sel % 3)];
    let ms = if sel & 4 == 0 { 10 } else { 20 };
    let mut dec = OpusDecoder::new(rate, ms).unwrap();
    let mut out = vec![0i16; rate as usize * 120 / 1000];
    let _ = dec.decode(packet, &mut out);
    let _ = dec.decode_fec(packet, &mut out);
    let _ = dec.conceal(&mut out);
});
