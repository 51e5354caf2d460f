//! # tipring-dsp: Tipring's real-time signal processing
//!
//! Frames in, frames out. Every block here follows the same real-time contract:
//!
//! * all state is sized in `new(config)`; after construction nothing allocates, locks, does
//!   I/O or reads a clock. Time is counted in samples (8 kHz unless a block says otherwise).
//! * `process(&mut self, &[i16])` and `generate(&mut self, &mut [i16]) -> usize` accept any
//!   length and carry partial blocks across calls, so the caller's frame size (10 ms, 20 ms,
//!   a whole file) never changes a result.
//! * results come out as values (`poll_event()` style, fixed-capacity `heapless` queues), never
//!   callbacks that could do I/O on the real-time thread.
//!
//! Levels are in dBm0 per [`level`]: a full-scale 16-bit sine is +3.14 dBm0.
//!
//! Blocks: [`dtmf`] (receiver and generator), [`progress`] (tone plans, call-progress
//! generator and detector), [`cid`] (caller ID: FSK modem, SDMF/MDMF/ETSI, DTMF CLIP),
//! [`g711`], `opus` (feature `opus`, on by default), [`resample`] (8/16/48 kHz), [`level`]
//! (dBm0 meter) and [`vad`] (voice activity), [`synth`] (seeded test signals), [`osc`] and
//! [`goertzel`] (building blocks). Outside the real-time contract: [`wav`] (WAV files in
//! memory, read when a prompt is loaded).
#![deny(missing_docs)]
// `unsafe` in the crate: the AVX2 builds of the DTMF receiver, the call-progress analysis
// and the echo canceller, each behind run-time detection ([`simd_available`]).
#![deny(unsafe_code)]
// DSP loops index several parallel fixed arrays (lanes, coefficients, state) at once;
// iterator chains would hide that and can defeat vectorisation.
#![allow(clippy::needless_range_loop)]

pub mod cid;
pub mod dtmf;
pub mod echo;
pub mod g711;
pub mod goertzel;
pub mod level;
#[cfg(feature = "opus")]
pub mod opus;
pub mod osc;
pub mod plc;
pub mod progress;
pub mod resample;
pub mod synth;
pub mod vad;
pub mod wav;

/// Whether this CPU has AVX2 and FMA, which the vectorised builds of the DTMF receiver, the
/// call-progress analysis and the echo canceller need (checked once per block, at
/// construction).
#[cfg(target_arch = "x86_64")]
pub(crate) fn simd_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// No AVX2 off x86-64: the portable builds run.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn simd_available() -> bool {
    false
}
